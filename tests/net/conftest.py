"""Fixtures of the net/ tests: the shipped network as a NetParameter, and the suite's small
pair dataset as datasets.load_dataset gives it."""

import pytest

from siamese_caffe.data import datasets
from siamese_caffe.runtime import prototxt


@pytest.fixture
def user_net(network_text):
    return prototxt.parse_text(network_text, prototxt.caffe_pb2().NetParameter(), "net")


@pytest.fixture
def dataset(small_pair_db):
    return datasets.load_dataset(small_pair_db)
