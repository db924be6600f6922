"""The server's defaults, importable without Flask or Caffe (the command line reads them)."""

DEFAULT_MAX_NETS = 8          # jobs x snapshots kept loaded; more are reloaded on demand
DEFAULT_MAX_UPLOAD_MB = 16    # a request's whole body; an MNIST train.txt of 60,000 lines is ~1.2 MB
