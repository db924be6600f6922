"""evaluate on a tiny trained job: pair and neighbour numbers, and the report folder."""

import json
import os

import numpy as np
import pytest

from siamese_caffe.data import datasets
from siamese_caffe.evaluate import metrics, sets
from siamese_caffe.evaluate import report
from siamese_caffe.infer import embedding
from siamese_caffe.train import trainlog


@pytest.fixture(scope="module")
def evaluated(tiny_job, tmp_path_factory):
    embedder = embedding.Embedder(tiny_job)
    manifest = datasets.load_dataset(tiny_job.info["dataset"]["folder"]).manifest
    reference, queries = sets.dataset_image_sets(manifest, "dataset.json")
    evaluation, arrays = report.evaluate(embedder, reference, queries)
    folder = str(tmp_path_factory.mktemp("eval") / "report")
    report.write_report(folder, evaluation, arrays, loss_png=tiny_job.file("loss_plot"))
    return evaluation, arrays, folder, reference, queries


def test_validation_pairs_are_the_ones_training_validated_on(evaluated, tiny_job):
    evaluation, arrays, *_ = evaluated
    pairs = evaluation["pairs"]
    assert pairs["count"] == 96 and pairs["same_class"] == 48      # small_pair_db
    last = [r for r in trainlog.read_rows(tiny_job.file("train_log")) if r["phase"] == "val"][-1]
    # the training loop measured the same pairs through Caffe's Data layers
    assert pairs["mean_distance_same"] == pytest.approx(last["same_distance"], rel=1e-3)
    assert pairs["mean_distance_different"] == pytest.approx(last["different_distance"],
                                                             rel=1e-3)


def test_pair_numbers_follow_from_the_distances(evaluated):
    evaluation, arrays, *_ = evaluated
    pairs, d, same = evaluation["pairs"], arrays["distances"], arrays["same"]
    assert pairs["threshold"] == 0.5
    assert pairs["accuracy"] == metrics.accuracy_at(d, same, 0.5)
    assert pairs["best_accuracy"] >= pairs["accuracy"]
    assert pairs["best_accuracy"] == metrics.accuracy_at(d, same, pairs["best_threshold"])
    assert 0.6 < pairs["roc_auc"] <= 1.0            # 40 iterations already separate some
    assert 0 <= pairs["equal_error_rate"] < 0.5


def test_neighbour_numbers_use_the_training_digits_as_reference(evaluated):
    evaluation, arrays, _, reference, queries = evaluated
    images = evaluation["images"]
    assert images["reference_images"] == 4500 and images["query_images"] == 500
    assert images["k"] == 5 and images["images_also_in_reference"] == 0
    assert 0.2 < images["knn_accuracy"] <= 1.0      # chance is 0.1
    classes = images["classes"]
    assert sorted(classes, key=int) == [str(c) for c in range(10)]
    assert sum(c["count"] for c in classes.values()) == 500
    sevens = arrays["queries"][queries.labels == 7]
    np.testing.assert_allclose(classes["7"]["centroid"], sevens.mean(axis=0), rtol=1e-5)
    weighted = sum(c["knn_accuracy"] * c["count"] for c in classes.values()) / 500
    assert weighted == pytest.approx(images["knn_accuracy"])


def test_report_folder_holds_json_markdown_and_plots(evaluated):
    evaluation, _, folder, *_ = evaluated
    assert sorted(os.listdir(folder)) == [".siamese-caffe.json", "clusters.png",
                                          "distances.png", "loss.png", "report.json",
                                          "report.md", "roc.png"]
    with open(os.path.join(folder, "report.json")) as f:
        assert json.load(f)["pairs"]["roc_auc"] == evaluation["pairs"]["roc_auc"]
    with open(os.path.join(folder, "report.md")) as f:
        text = f.read()
    assert f"{100 * evaluation['images']['knn_accuracy']:.2f} %" in text
    assert f"{evaluation['pairs']['roc_auc']:.4f}" in text
    for picture in ("distances.png", "roc.png", "clusters.png", "loss.png"):
        assert f"]({picture})" in text


def test_existing_report_folder_needs_force(evaluated):
    from siamese_caffe.errors import BadInputError

    evaluation, arrays, folder, *_ = evaluated
    with pytest.raises(BadInputError, match="already exists"):
        report.write_report(folder, evaluation, arrays)
    report.write_report(folder, evaluation, arrays, force=True)
    assert "loss.png" not in os.listdir(folder)


def test_pairs_of_one_kind_give_no_roc_but_a_report(evaluated):
    from siamese_caffe.evaluate.report_markdown import report_markdown

    pairs = report.pair_metrics(np.array([0.1, 0.7]), np.array([True, True]), 0.5)
    assert pairs["roc_auc"] is None and pairs["mean_distance_different"] is None
    assert pairs["accuracy"] == 0.5 and pairs["best_accuracy"] == 1.0
    evaluation = dict(evaluated[0], pairs=pairs)
    assert "| ROC AUC | n/a |" in report_markdown(evaluation)
