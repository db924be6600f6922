"""Shared fixtures: the real pycaffe, and nets built from prototxt text."""

import pytest

from siamese_caffe import caffe_env


@pytest.fixture(scope="session")
def caffe():
    """The project's real pycaffe, in CPU mode."""
    module = caffe_env.import_caffe()
    module.set_mode_cpu()
    return module


@pytest.fixture
def net_from_text(caffe, tmp_path):
    """Build a caffe.Net (TEST phase unless told) from prototxt text."""
    def build(text, phase=None):
        path = tmp_path / "net.prototxt"
        path.write_text(text)
        return caffe.Net(str(path), caffe.TEST if phase is None else phase)
    return build


@pytest.fixture(scope="session")
def small_pair_db(tmp_path_factory):
    """A create-db folder from the built-in digits: 320 training and 96 validation pairs,
    half of them same-class (so a few dozen iterations visibly learn), seed 0."""
    from siamese_caffe import create_db, image_sources

    folder = tmp_path_factory.mktemp("pairs") / "siamesedb"
    create_db.create_db(str(folder), image_sources.builtin_mnist(), count=320, val_count=96,
                        positive_fraction=0.5, seed=0)
    return str(folder)


@pytest.fixture(scope="session")
def network_text():
    """The shipped siamese network's prototxt text."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "prototxt", "mnist_siamese_train_test.prototxt")) as f:
        return f.read()
