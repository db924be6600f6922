"""evaluate's defaults, importable without NumPy or Caffe (the command line reads them)."""

DEFAULT_K = 5   # neighbours voting in the k-NN accuracy: odd, and robust to one stray digit
