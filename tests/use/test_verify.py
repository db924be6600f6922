"""`verify` as a user runs it: two image files, a distance, a verdict against the job's
calibrated threshold, and where the distance falls among the validation pairs."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from siamese_caffe.infer import embedding


def pick(digit_pngs, label, nth=0):
    folder, _, entries = digit_pngs
    return os.path.join(folder, [name for name, lab in entries if lab == label][nth])


def test_without_an_evaluation_the_threshold_is_half_the_margin(cli, job_copy, digit_pngs):
    a, b = pick(digit_pngs, 3), pick(digit_pngs, 7)
    done = cli("verify", "--job", job_copy.path, a, b)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{a} vs {b}: distance ") and "threshold 0.5000" in lines[0]
    assert lines[1] == ("  threshold: half the margin: snapshot 40 has no evaluation (run "
                        "`siamese-caffe evaluate` to calibrate)")
    assert lines[2] == "  validation pairs: not measured for this snapshot"
    answer = json.loads(cli("verify", "--job", job_copy.path, "--json", a, b).stdout)
    assert answer["threshold"]["source"] == "half_margin" and answer["threshold"]["value"] == 0.5
    assert answer["validation_pairs"] is None and answer["snapshot"] == 40


def test_the_distance_is_the_branch_features_distance(cli, job_copy, digit_pngs):
    a, b = pick(digit_pngs, 1), pick(digit_pngs, 8)
    answer = json.loads(cli("verify", "--job", job_copy.path, "--snapshot", "20", "--json",
                            a, b).stdout)
    embedder = embedding.Embedder(job_copy, 20)
    features = np.stack([embedder.infer_file(path).left for path in (a, b)])
    assert np.allclose(answer["features"], features, atol=1e-5)
    assert answer["distance"] == pytest.approx(float(np.linalg.norm(features[0] - features[1])),
                                               abs=1e-5)
    assert answer["verdict"] == ("same" if answer["distance"] < 0.5 else "different")


def test_a_colour_file_is_read_as_its_gray_digit(cli, job_copy, digit_pngs, tmp_path):
    gray = pick(digit_pngs, 5)
    with Image.open(gray) as picture:
        picture.convert("RGB").save(tmp_path / "colour.png")
    answer = json.loads(cli("verify", "--job", job_copy.path, "--json", gray,
                            tmp_path / "colour.png").stdout)
    assert answer["distance"] < 1e-5 and answer["verdict"] == "same"


def test_after_evaluate_the_eer_threshold_is_used_and_the_distance_placed(cli, evaluated_job,
                                                                          digit_pngs):
    with open(os.path.join(evaluated_job.path, "evaluation_iter_40", "report.json")) as f:
        report = json.load(f)
    recorded = evaluated_job.evaluation(40)
    assert recorded["eer_threshold"] == report["pairs"]["eer_threshold"]
    assert recorded["pairs"] == 96 and len(recorded["same_class_percentiles"]) == 101
    a, b = pick(digit_pngs, 0), pick(digit_pngs, 0, 1)
    answer = json.loads(cli("verify", "--job", evaluated_job.path, "--json", a, b).stdout)
    threshold = answer["threshold"]
    assert threshold["source"] == "eer" and threshold["value"] == report["pairs"]["eer_threshold"]
    place = answer["validation_pairs"]
    same = np.asarray(recorded["same_class_percentiles"])
    assert 0 <= place["same_class_closer"] <= 1 and 0 <= place["different_class_closer"] <= 1
    # the share of same-class pairs closer agrees with the recorded percentiles
    assert place["same_class_closer"] == pytest.approx(
        np.interp(answer["distance"], same, np.linspace(0, 1, 101)), abs=1e-9)
    text = cli("verify", "--job", evaluated_job.path, a, b).stdout.splitlines()
    assert text[1] == ("  threshold: the EER threshold evaluate found on 96 validation pairs "
                       "of snapshot 40")
    assert text[2].startswith("  validation pairs: ") and "% of same-class pairs are closer" \
        in text[2] and text[2].endswith(("(confident)", "(borderline)"))
    # another snapshot was not evaluated: its threshold is half the margin again
    other = json.loads(cli("verify", "--job", evaluated_job.path, "--snapshot", "20", "--json",
                           a, b).stdout)
    assert other["threshold"]["source"] == "half_margin"


def test_bad_images_are_one_line(cli, job_copy, digit_pngs, tmp_path):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((28, 40), np.uint8)).save(wide)
    good = pick(digit_pngs, 2)
    line = cli("verify", "--job", job_copy.path, good, wide).error_line("verify")
    assert line.endswith(f"{wide}: image is 40x28 pixels but the job's network reads 28x28")
    line = cli("verify", "--job", job_copy.path, tmp_path / "gone.png", good).error_line("verify")
    assert line.endswith("gone.png: image not found")
