"""infer-many's list reading, batched inference, skipping and output files."""

import csv
import json
import os

import numpy as np
import pytest

from siamese_caffe.infer import embedding, predictions
from siamese_caffe.errors import BadInputError


@pytest.fixture(scope="module")
def embedder(tiny_job):
    return embedding.Embedder(tiny_job, batch_size=8)   # 20 digits: batches of 8, 8 and 4


def test_list_lines_with_and_without_labels(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a.png 3\n\n  b c.png  \n/abs/d.png 12\ne.png x7\n")
    entries = predictions.read_image_list(str(listing))
    assert [(e.written, e.label) for e in entries] == \
        [("a.png", 3), ("b c.png", None), ("/abs/d.png", 12), ("e.png x7", None)]
    assert entries[0].resolved == os.path.join(str(tmp_path), "a.png")
    assert entries[2].resolved == "/abs/d.png" and entries[3].where == f"{listing}:5"
    assert predictions.read_image_list(str(listing), "/img")[0].resolved == "/img/a.png"


def test_empty_list_is_refused(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("\n  \n")
    with pytest.raises(BadInputError, match="the image list is empty"):
        predictions.read_image_list(str(listing))


def test_batched_results_equal_one_image_at_a_time(embedder, digit_pngs):
    folder, list_path, entries = digit_pngs
    result = predictions.infer_list(embedder, predictions.read_image_list(list_path))
    assert result.paths == [name for name, _ in entries]
    assert result.labels.tolist() == [label for _, label in entries] and result.labelled
    assert result.grayscale.all() and result.left.shape == (20, 2)
    for k in (0, 9, 19):
        single = embedder.infer_file(os.path.join(folder, entries[k][0]))
        np.testing.assert_allclose(result.left[k], single.left, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(result.left, result.right)


def test_missing_and_unreadable_images_are_skipped_with_a_warning_and_counted(
        embedder, digit_pngs, tmp_path):
    folder, list_path, entries = digit_pngs
    (tmp_path / "junk.png").write_bytes(b"junk")
    listing = tmp_path / "list.txt"
    lines = [f"{os.path.join(folder, name)} {label}" for name, label in entries[:3]]
    listing.write_text("\n".join([lines[0], "missing.png 1", lines[1], "junk.png 2",
                                  lines[2]]) + "\n")
    warnings = []
    result = predictions.infer_list(embedder, predictions.read_image_list(str(listing)),
                                    warn=warnings.append)
    assert len(result.paths) == 3 and result.labels.tolist() == [e[1] for e in entries[:3]]
    assert [where for where, _ in result.skipped] == [f"{listing}:2", f"{listing}:4"]
    assert len(warnings) == 2 and "image not found" in warnings[0]
    assert "cannot read image" in warnings[1]
    with pytest.raises(BadInputError) as err:
        predictions.infer_list(embedder, predictions.read_image_list(str(listing)), strict=True)
    assert str(err.value).startswith(f"{listing}:2: ") and "image not found" in str(err.value)


def test_csv_and_digits_json_round_trip(embedder, digit_pngs, tmp_path):
    _, list_path, entries = digit_pngs
    result = predictions.infer_list(embedder, predictions.read_image_list(list_path))
    csv_path, json_path = str(tmp_path / "p.csv"), str(tmp_path / "p.json")
    predictions.write_csv(result, csv_path)
    predictions.write_json(result, json_path)
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "label", "grayscale", "distance", "left_0", "left_1",
                       "right_0", "right_1"]
    assert rows[1][:4] == [entries[0][0], str(entries[0][1]), "1", "0"]
    with open(json_path) as f:
        answer = json.load(f)
    assert list(answer) == ["outputs"] and list(answer["outputs"]) == result.paths
    first = answer["outputs"][entries[0][0]]
    assert sorted(first) == ["feat_left", "feat_right"]
    np.testing.assert_allclose(first["feat_left"], result.left[0])
    back = predictions.read_predictions(csv_path)
    assert back.paths == result.paths and back.labels.tolist() == result.labels.tolist()
    np.testing.assert_allclose(back.left, result.left, rtol=1e-6)
    from_json = predictions.read_predictions(json_path)
    assert from_json.feature_blobs == ("feat_left", "feat_right")
    assert not from_json.labelled
    np.testing.assert_allclose(from_json.right, result.right)
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


def test_unreadable_predictions_file_is_one_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(BadInputError, match="not an infer-many predictions CSV"):
        predictions.read_predictions(str(path))
    path = tmp_path / "p.json"
    path.write_text('{"something": 1}')
    with pytest.raises(BadInputError, match="not a DIGITS infer-many JSON"):
        predictions.read_predictions(str(path))
