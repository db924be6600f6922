"""train_log.csv: the numbers of a training run, one row per event.

Columns (header on the first line):

    iteration         iterations done when the row was written
    epoch             iteration / iterations per epoch (float)
    phase             "train": mean loss of the iterations since the previous train row;
                      "val": a full validation pass
    loss              ContrastiveLoss value (Caffe's, i.e. summed over the batch / 2N)
    learning_rate     the solver's rate at that iteration (train rows)
    same_distance     val rows: mean Euclidean distance between the two features of
                      same-class pairs
    different_distance  val rows: the same for different-class pairs
    elapsed_s         seconds of training so far, all runs of the job together

Empty cells are written for values a row does not have. A resumed job first
drops the rows after the snapshot it resumes from, so the curve continues.
"""

import csv
import math
import os

from ..runtime import atomic_files

COLUMNS = ("iteration", "epoch", "phase", "loss", "learning_rate", "same_distance",
           "different_distance", "elapsed_s")


class TrainLog:
    """Appends rows to a train_log.csv (creating it with its header)."""

    def __init__(self, path):
        self.path = path
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._file = open(path, "a", newline="")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(COLUMNS)
            self._file.flush()

    def write(self, **values):
        """Write one row; `values` keyed by COLUMNS (missing ones left empty)."""
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown train_log columns: {sorted(unknown)}")
        self._writer.writerow([_cell(values.get(name)) for name in COLUMNS])
        self._file.flush()

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_rows(path):
    """The rows of a train_log.csv as dicts of floats (None for empty cells), phase a str."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [_parse_row(row) for row in csv.DictReader(f)]


def truncate_after(path, iteration):
    """Drop the rows written after `iteration` (for resuming from that snapshot)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= iteration]
    with atomic_files.open_replacing(path, "w", newline="") as f:
        csv.writer(f).writerows(kept)


def last_elapsed(path):
    """elapsed_s of the last row (0.0 for a new log)."""
    rows = read_rows(path)
    return (rows[-1]["elapsed_s"] or 0.0) if rows else 0.0


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _parse_row(row):
    parsed = {}
    for name in COLUMNS:
        text = row.get(name, "")
        if name == "phase":
            parsed[name] = text
        elif name == "iteration":
            parsed[name] = int(text)
        else:
            parsed[name] = float(text) if text != "" else None
    return parsed
