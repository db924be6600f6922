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


def run_reported(label, call):
    """call() under `label` (e.g. "siamese-caffe train"): its exit status (None counts as 0),
    or, for an error a user can cause, one line `LABEL: error: ...` on stderr and that
    error's status. The command line and the training child (train/trainer_process) both
    run through here. SIGTERM acts as Ctrl-C, so `finally` blocks run."""
    import os
    import sys

    from .runtime import interrupts

    try:
        with interrupts.sigterm_as_interrupt():
            return call() or 0
    except SiameseCaffeError as err:
        print(f"{label}: error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, as Unix tools do
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as err:
        # the machine refused (disk full, permission denied, read-only file system): one
        # line naming the file; whatever was being written was built aside and removed
        if err.filename is None and err.errno is None:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"{label}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        how = " by SIGTERM" if isinstance(err, interrupts.Terminated) else ""
        print(f"{label}: interrupted{how}", file=sys.stderr)
        return 130
