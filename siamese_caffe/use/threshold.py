"""The distance below which two images are called the same class, and how sure that is.

`calibrated(job, snapshot)` gives the threshold `evaluate` found on the job's validation
pairs for that snapshot — the equal-error-rate threshold, where as many different-class
pairs fall below it as same-class pairs above it — recorded in job.json (see
evaluate.report.calibration). A snapshot never evaluated (or whose weights have changed
since) falls back to half the loss's margin, and says so.

`Threshold.place(distance)` tells where a distance falls among the validation pairs: the
share of same-class and of different-class pairs that are closer. A "same" verdict is
borderline when more than BORDERLINE_SHARE of different-class pairs are that close, a
"different" verdict when more than BORDERLINE_SHARE of same-class pairs are farther.
"""

from dataclasses import dataclass

import numpy as np

EER = "eer"                 # the source of a calibrated threshold
HALF_MARGIN = "half_margin"  # the fallback
BORDERLINE_SHARE = 0.05     # a verdict the other kind of pair reaches this often is borderline


@dataclass(frozen=True)
class Threshold:
    """value: the distance threshold. source: EER or HALF_MARGIN. iteration: the snapshot.
    evaluation: job.json's record (None for HALF_MARGIN)."""

    value: float
    source: str
    iteration: int
    evaluation: dict = None

    def describe(self):
        """A short sentence naming where the threshold came from."""
        if self.source == EER:
            return (f"the EER threshold evaluate found on {self.evaluation['pairs']} validation "
                    f"pairs of snapshot {self.iteration}")
        return (f"half the margin: snapshot {self.iteration} has no evaluation (run "
                "`siamese-caffe evaluate` to calibrate)")

    def place(self, distance):
        """Where `distance` falls among the validation pairs: {"same_class_closer",
        "different_class_closer" (shares in [0, 1]), "borderline" (bool)}, or None without
        an evaluation."""
        if not self.evaluation:
            return None
        same = _share_below(self.evaluation.get("same_class_percentiles"), distance)
        different = _share_below(self.evaluation.get("different_class_percentiles"), distance)
        if distance < self.value:
            borderline = different is not None and different > BORDERLINE_SHARE
        else:
            borderline = same is not None and 1 - same > BORDERLINE_SHARE
        return {"same_class_closer": same, "different_class_closer": different,
                "borderline": bool(borderline)}

    def as_dict(self):
        return {"value": self.value, "source": self.source, "snapshot": self.iteration,
                "description": self.describe()}


def calibrated(job, snapshot, margin):
    """The Threshold for `snapshot` (jobs.Snapshot) of `job`; margin: the loss's margin."""
    record = job.evaluation(snapshot.iteration)
    digest = snapshot.digest(snapshot.caffemodel_path)
    if record and record.get("caffemodel") and digest \
            and record["caffemodel"] != digest.get("sha256"):
        record = None                     # the snapshot was written again since
    if record and isinstance(record.get("eer_threshold"), (int, float)):
        return Threshold(float(record["eer_threshold"]), EER, snapshot.iteration, record)
    return Threshold(margin / 2, HALF_MARGIN, snapshot.iteration)


def _share_below(percentiles, distance):
    """The share of pairs closer than `distance`, read off their 0..100th percentiles
    (linear between them); None when there were no such pairs."""
    if not percentiles:
        return None
    values = np.asarray(percentiles, np.float64)
    return float(np.interp(distance, values, np.linspace(0, 1, len(values)),
                           left=0.0, right=1.0))
