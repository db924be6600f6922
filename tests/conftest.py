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
