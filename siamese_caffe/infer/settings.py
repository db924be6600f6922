"""Inference defaults, importable without NumPy or Caffe (the command line reads them)."""

DEFAULT_BATCH = 256   # pairs per forward pass; LeNet-sized nets gain little beyond this on a CPU
