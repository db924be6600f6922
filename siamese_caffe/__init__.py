"""siamese-caffe: DIGITS' Siamese MNIST workflow on real (py)Caffe."""

__version__ = "0.1.0"
