"""Numbers where they enter: finite, in range, a sensible count.

One checker for every number a user gives — command-line options (argparse types made
by `option`), the server's form and REST fields (`parse`), and the library calls that
both reach (`check`). Each kind of number is a `Spec` below with its bounds and why;
a value outside them is one BadInputError naming the option or field, never an
OverflowError, a NaN carried into Caffe, or an allocation of terabytes.

Caffe keeps iteration counts, intervals and batch sizes in 32-bit fields, and seeds in
a 64-bit one: a number that does not fit would be a protobuf ValueError or a wrapped
count, so the bounds here follow those fields.
"""

import math
from dataclasses import dataclass

from ..errors import BadInputError

INT32_MAX = 2 ** 31 - 1      # Caffe's int32 fields: max_iter, test_interval, batch_size, ...
INT64_MAX = 2 ** 63 - 1      # Caffe's random_seed (int64)


@dataclass(frozen=True)
class Spec:
    """A kind of number: `kind` int or float, bounds (inclusive `minimum`/`maximum`, or
    exclusive `above`/`below`), and what it is, for messages."""

    kind: type
    minimum: float = None
    maximum: float = None
    above: float = None
    below: float = None

    def describe(self):
        """'a whole number from 1 to 65535', 'a finite number above 0', ..."""
        noun = "a whole number" if self.kind is int else "a finite number"
        low = (f"above {self.above:g}" if self.above is not None else
               f"from {_fmt(self.minimum)}" if self.minimum is not None else "")
        if self.maximum is None:
            high = ""
        else:
            high = f" to {_fmt(self.maximum)}" if self.minimum is not None else \
                f" and at most {_fmt(self.maximum)}" if low else f"at most {_fmt(self.maximum)}"
        if low.startswith("from") and not high:
            low = f"of at least {_fmt(self.minimum)}"
        if self.below is not None:
            high += f"{' and ' if low else ''}below {_fmt(self.below)}"
        return " ".join(filter(None, [noun, low + high]))


# The numbers of the package, each with the reason for its bounds.
PAIRS = Spec(int, 1, INT32_MAX)            # LMDB keys and Caffe's counts are 32-bit
BATCH = Spec(int, 1, 1 << 16)              # a batch is allocated whole by Caffe: 65,536 pairs at most
ITERATIONS = Spec(int, 1, INT32_MAX)       # --display and other iteration counts (Caffe int32)
SNAPSHOT = Spec(int, 0, INT32_MAX)         # a snapshot's iteration
EPOCHS = Spec(float, maximum=1e6, above=0)  # the run's length; max_iter must still fit int32
INTERVAL = Spec(float, maximum=1e6, above=0)  # epochs between validations / snapshots
LEARNING_RATE = Spec(float, maximum=1e6, above=0)
FRACTION = Spec(float, 0.0, 1.0)           # shares: positive pairs, held-out images
THRESHOLD = Spec(float, 0.0, 1e6)          # a distance between two feature vectors
SEED = Spec(int, 0, INT64_MAX)             # Caffe's random_seed is int64; numpy's any
LABEL = Spec(int, 0, INT32_MAX)            # class labels (Caffe's Datum label is int32)
NEIGHBOURS = Spec(int, 1, 100000)          # k of the k-NN vote
PORT = Spec(int, 0, 65535)                 # TCP ports (0: any free one)
THREADS = Spec(int, 1, 1024)               # request threads
NETS = Spec(int, 1, 1024)                  # nets kept loaded
ACCUMULATION = Spec(int, 1, 1024)          # batches whose gradients add up (Caffe iter_size)
CROP = Spec(int, 1, 1 << 16)               # crop side in pixels (checked against the images later)
MICRO_BATCH = Spec(int, 1, 1024)           # concurrent requests run as one forward pass
UPLOAD_MB = Spec(float, maximum=4096, above=0)   # the largest request body
# Solver and network values (checked in net/solver.py and net/netcheck.py, before Caffe):
DECAY = Spec(float, 0.0, below=1.0)        # momentum, momentum2, rms_decay: 1 never forgets, diverges
WEIGHT_DECAY = Spec(float, 0.0)            # a negative decay grows the weights
DELTA = Spec(float, above=0)               # AdaGrad/RMSProp/AdaDelta/Adam divide by it
GAMMA = Spec(float, above=0)               # step/multistep/exp: 0 stops learning after a step
POWER = Spec(float, 0.0)                   # inv/poly: a negative power grows the rate
MARGIN = Spec(float, maximum=1e6, above=0)  # ContrastiveLoss: at 0 every pair costs nothing


def check(value, spec, where, shown=None):
    """`value` (an int or float from code, a form or JSON) as spec.kind, within its
    bounds; BadInputError naming `where` otherwise (`shown`: the value as the user wrote it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and \
            not _is_numpy_number(value):
        raise BadInputError(f"must be {spec.describe()}, got {value!r}", where=where)
    if spec.kind is int:
        if isinstance(value, float) or getattr(value, "dtype", None) is not None and \
                value.dtype.kind == "f":
            if not (math.isfinite(value) and float(value).is_integer()):
                raise BadInputError(f"must be {spec.describe()}, got {value!r}", where=where)
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise BadInputError(f"must be {spec.describe()}, got {value!r}", where=where)
    if ((spec.minimum is not None and value < spec.minimum)
            or (spec.maximum is not None and value > spec.maximum)
            or (spec.above is not None and not value > spec.above)
            or (spec.below is not None and not value < spec.below)):
        raise BadInputError(f"must be {spec.describe()}, got {shown or _fmt(value)}",
                            where=where)
    return value


def parse(text, spec, where):
    """The number written in `text` (a command-line or form value), checked."""
    written = str(text).strip()
    try:
        value = int(written) if spec.kind is int else float(written)
    except ValueError:
        raise BadInputError(f"must be {spec.describe()}, got {_short(written)!r}",
                            where=where) from None
    return check(value, spec, where, shown=_short(written))


def option(spec):
    """An argparse `type=` function for `spec`: argparse reports its message as
    `argument --name: must be ...` (one line, see cli.py)."""
    import argparse

    def convert(text):
        try:
            return parse(text, spec, None)
        except BadInputError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    convert.__name__ = "int" if spec.kind is int else "float"
    return convert


def check_memory(nbytes, what, where):
    """BadInputError when holding `nbytes` (what: a description, e.g. "60,000 images of
    28x28") would take more memory than the machine has available now."""
    available = available_memory()
    if available is not None and nbytes > available:
        raise BadInputError(f"{what} need {nbytes / 1e9:.1f} GB of memory; the machine has "
                            f"{available / 1e9:.1f} GB available", where=where)


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _is_numpy_number(value):
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind in ("i", "u", "f") and getattr(value, "shape", None) == ()


def _fmt(value):
    if abs(value) >= 1e16 and not (isinstance(value, int) and abs(value) < 1e20):
        return f"{value:.3g}"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{int(value):,}" if abs(value) >= 10000 else str(int(value))
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    return f"{value:g}"


def _short(text, limit=40):
    return text if len(text) <= limit else text[:limit] + "..."
