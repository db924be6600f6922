"""What a user chooses for a training run, with the defaults `train --help` shows.

No heavy imports here: the command line reads these defaults to build its parser.
"""

import os
from dataclasses import dataclass

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
