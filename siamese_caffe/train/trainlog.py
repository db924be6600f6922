"""train_log.csv: the numbers of a training run, one row per event.

Columns (header on the first line):

    iteration         iterations done when the row was written
    epoch             iteration / iterations per epoch (float)
    phase             "train": mean loss of the iterations since the previous train row;
                      "val": a full validation pass
    loss              ContrastiveLoss value (Caffe's, i.e. summed over the batch / 2N)
    learning_rate     train rows: the rate Caffe applied in the row's last update
                      (net.lr_schedule, the number Caffe's log prints as "lr = ")
    same_distance     val rows: mean Euclidean distance between the two features of
                      same-class pairs
    different_distance  val rows: the same for different-class pairs
    elapsed_s         seconds of training so far, all runs of the job together

Empty cells are written for values a row does not have. A resumed job first
drops the rows after the snapshot it resumes from, so the curve continues. A row
that does not parse (the half-written last line of a killed run, a damaged file)
is skipped by the readers and dropped on resume.
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
    parsed = []
    for row in _raw_rows(path)[1:]:
        values = _parse_row(row)
        if values is not None:
            parsed.append(values)
    return parsed


def _raw_rows(path):
    """The CSV rows of a log (header first); undecodable bytes replaced, NUL bytes dropped."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        text = f.read().replace("\0", "")
    try:
        return list(csv.reader(text.splitlines()))
    except csv.Error:
        return [list(COLUMNS)]


def truncate_after(path, iteration):
    """Drop the rows written after `iteration` (for resuming from that snapshot)."""
    if not os.path.exists(path):
        return
    rows = _raw_rows(path)
    kept = [list(COLUMNS)] + [row for row in rows[1:]
                              if (parsed := _parse_row(row)) is not None
                              and parsed["iteration"] <= iteration]
    with atomic_files.open_replacing(path, "w", newline="") as f:
        csv.writer(f).writerows(kept)


def learning_rates(path):
    """The rate over training, from the train rows that logged one:
    {"iteration": [int], "epoch": [float], "learning_rate": [float]} (empty lists when
    none did)."""
    rows = [r for r in read_rows(path)
            if r["phase"] == "train" and r["learning_rate"] is not None]
    return {"iteration": [r["iteration"] for r in rows],
            "epoch": [r["epoch"] for r in rows],
            "learning_rate": [r["learning_rate"] for r in rows]}


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
    """A list of cells in COLUMNS order as a dict, or None when it is not a whole row."""
    if len(row) != len(COLUMNS):
        return None
    parsed = {}
    try:
        for name, text in zip(COLUMNS, row):
            if name == "phase":
                if text not in ("train", "val"):
                    return None
                parsed[name] = text
            elif name == "iteration":
                parsed[name] = int(text)
            else:
                parsed[name] = float(text) if text != "" else None
    except ValueError:
        return None
    return parsed
