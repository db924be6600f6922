"""The server's defaults, importable without Flask or Caffe (the command line reads them)."""

DEFAULT_MAX_NETS = 8          # jobs x snapshots kept loaded; more are reloaded on demand
DEFAULT_MAX_UPLOAD_MB = 16    # a request's whole body; an MNIST train.txt of 60,000 lines is ~1.2 MB
# Idle sockets must not starve the server: waitress's default of 100 connections was
# filled by 100 idle clients. Many more are accepted (file descriptors are raised to
# match), an idle one is closed after CHANNEL_TIMEOUT_S, checked every CLEANUP_S.
CONNECTION_LIMIT = 1000       # open client connections; more wait in the listen backlog
CHANNEL_TIMEOUT_S = 30        # a connection that sends nothing for this long is closed
CLEANUP_S = 5                 # how often idle connections are looked for
MAX_HEADER_BYTES = 64 << 10   # a request's headers; waitress's default is 256 KB
# Request threads take requests one at a time (serve/dispatch.py); another thread joins
# when the request taken last has run this long and more are waiting.
HELP_AFTER_S = 0.02
