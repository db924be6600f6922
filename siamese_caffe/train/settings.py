"""What a user chooses for a training run, with the defaults `train --help` shows.

No heavy imports here: the command line reads these defaults to build its parser.
"""

import itertools
import os
from dataclasses import dataclass, replace

from .. import PROJECT_ROOT

DEFAULT_NETWORK = os.path.join("prototxt", "mnist_siamese_train_test.prototxt")
DEFAULT_SOLVER = os.path.join("prototxt", "solver.prototxt")


@dataclass
class TrainSettings:
    """What a user chooses for a run (the command's options)."""

    epochs: float = 30.0              # DIGITS' default training length
    batch_size: int = 64              # Caffe's siamese MNIST example's batch
    val_batch_size: int = None        # None: the batch size, capped at the validation set
    val_interval: float = 1.0         # one validation pass per epoch (DIGITS' default)
    snapshot_interval: float = 1.0    # one snapshot per epoch (DIGITS' default)
    display: int = None               # iterations per train-loss row; None: 10 rows per epoch
    base_lr: float = None             # None: the solver template's
    lr_policy: str = None             # None: the solver template's
    solver_type: str = None           # None: the solver template's
    lr_steps: tuple = None            # percents of the run for step policies; None: defaults
    seed: int = None                  # None: drawn, and recorded in job.json
    gpu: str = "auto"                 # auto | cpu | GPU number
    allow_unshared: bool = False      # accept branches that do not share params
    mean: str = "image"               # DIGITS' default use_mean: subtract the mean image
    crop_size: int = None             # None: the whole image (DIGITS' default: no crop)
    batch_accumulation: int = 1       # Caffe's iter_size; 1: update after every batch
    weights: tuple = None             # .caffemodel files to start from (None: from scratch)


def default_file(relative):
    """`relative` under the current folder if it exists there, else in this checkout."""
    return relative if os.path.exists(relative) else os.path.join(PROJECT_ROOT, relative)


def sweep(settings, base_lrs, batch_sizes, name=None):
    """One (job name, TrainSettings) per (learning rate, batch size) combination, as
    DIGITS swept comma lists: the name gets ` learning_rate:X` / ` batch_size:N` for each
    field given several values (`name` alone, possibly None, when nothing is swept).

    settings: the TrainSettings the others copy. base_lrs / batch_sizes: tuples (a None
    rate keeps the solver template's)."""
    made = []
    for rate, batch in itertools.product(base_lrs, batch_sizes):
        parts = [name or "sweep"] if len(base_lrs) * len(batch_sizes) > 1 else [name]
        if len(base_lrs) > 1:
            parts.append(f"learning_rate:{rate:g}")
        if len(batch_sizes) > 1:
            parts.append(f"batch_size:{batch}")
        made.append((" ".join(parts) if parts != [None] else None,
                     replace(settings, base_lr=rate, batch_size=batch)))
    return made
