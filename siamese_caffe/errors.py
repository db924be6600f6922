"""Error types the command line turns into one clear line and a non-zero exit.

Every error a user can cause (a bad file, a bad option, a missing piece) is
raised as a subclass of `SiameseCaffeError`; anything else is a bug.
"""


class SiameseCaffeError(Exception):
    """Base of all errors reported to the user as a single line."""

    exit_code = 2


class BadInputError(SiameseCaffeError):
    """A user-supplied file, line or field is wrong.

    `where` names the file (and line, when known), e.g. ``train.txt:12``.
    """

    def __init__(self, message, where=None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class OutputError(SiameseCaffeError):
    """Writing an output failed (a full disk, a read-only file system); `where` names it.
    The output was being built aside, and is removed."""

    def __init__(self, message, where=None):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class CaffeNotFoundError(SiameseCaffeError):
    """pycaffe cannot be imported; the message says what to run."""

    exit_code = 3


class CaffeBuiltForOtherCpuError(CaffeNotFoundError):
    """The Caffe found was compiled for instructions this CPU lacks (runtime.caffe_env)."""
