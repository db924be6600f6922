"""Finding a dataset's training and validation digits again for evaluate."""

import os

import numpy as np
import pytest

from siamese_caffe.evaluate import sets
from siamese_caffe.data import image_sources
from siamese_caffe.errors import BadInputError


def test_separate_validation_list(digit_pngs, tmp_path):
    folder, list_path, entries = digit_pngs
    val = tmp_path / "val.txt"
    val.write_text("".join(f"{os.path.join(folder, n)} {l}\n" for n, l in entries[:4]))
    manifest = {"source": {"train": f"list: {list_path}", "validation": "separate set",
                           "val": f"list: {val}"}}
    reference, queries = sets.dataset_image_sets(manifest, "dataset.json")
    assert len(reference) == 20 and len(queries) == 4
    assert queries.labels.tolist() == [l for _, l in entries[:4]]


def test_held_out_paths_are_taken_out_of_the_training_list(digit_pngs):
    folder, list_path, entries = digit_pngs
    held = [os.path.join(folder, entries[k][0]) for k in (1, 7)]
    manifest = {"source": {"train": f"list: {list_path}", "validation": "held-out split",
                           "held_out": {"fraction": 0.1, "count": 2, "paths": held}}}
    reference, queries = sets.dataset_image_sets(manifest, "dataset.json")
    assert queries.paths == held and len(reference) == 18
    assert not set(held) & set(reference.paths)


def test_held_out_indices_of_the_built_in_digits():
    manifest = {"source": {"train": "built-in: 5000 MNIST digits", "validation": "held-out split",
                           "held_out": {"indices": [0, 5, 4999]}}}
    reference, queries = sets.dataset_image_sets(manifest, "dataset.json")
    digits = image_sources.builtin_mnist()
    assert len(reference) == 4997
    np.testing.assert_array_equal(queries.images, digits.images[[0, 5, 4999]])
    np.testing.assert_array_equal(queries.labels, digits.labels[[0, 5, 4999]])


@pytest.mark.parametrize("source, message", [
    ({"train": "somewhere else", "validation": "separate set"}, "unknown image source"),
    ({"train": "list: /no/such/train.txt", "validation": "separate set"}, "is gone"),
    ({"train": "built-in", "validation": "held-out split", "held_out": {"indices": [7000]}},
     "do not fit"),
    ({"train": "built-in"}, "does not say where its validation images came from"),
])
def test_sources_that_cannot_be_found_again_ask_for_lists(source, message):
    with pytest.raises(BadInputError) as err:
        sets.dataset_image_sets({"source": source}, "db/dataset.json")
    assert message in str(err.value) and "db/dataset.json" in str(err.value)
