"""Verify: are two separate images of the same class?

Both images go through the shared branch as grayscale digits (digits.read_digit,
Embedder.embed_digits); the L2 distance of their two features is compared with the
job's calibrated threshold (threshold.calibrated) and placed among the validation pairs'
distances, so a confident verdict can be told from a borderline one.

    embedder = Embedder(job)
    result = verify(embedder, "a.png", "b.png")     # a Verification
"""

from dataclasses import dataclass

import numpy as np

from ..infer.embedding import distance as pair_distance
from . import digits, threshold as thresholds


@dataclass
class Verification:
    """first / second: the images (as named); features: (2, D) float32; distance: float;
    threshold: thresholds.Threshold; placement: Threshold.place's dict, or None."""

    first: str
    second: str
    features: np.ndarray
    distance: float
    threshold: thresholds.Threshold
    placement: dict

    @property
    def same(self):
        return self.distance < self.threshold.value

    def as_dict(self):
        return {"images": [self.first, self.second],
                "features": self.features.tolist(), "distance": self.distance,
                "verdict": "same" if self.same else "different",
                "threshold": self.threshold.as_dict(),
                "validation_pairs": self.placement}


def job_threshold(embedder):
    """The calibrated Threshold of `embedder`'s job and snapshot."""
    return thresholds.calibrated(embedder.job, embedder.snapshot, embedder.margin)


def verify(embedder, first, second, first_name=None, second_name=None, threshold=None):
    """Embed two image files (paths or binary file objects, named first_name / second_name
    in errors and in the result) and compare them: a Verification. threshold: a
    thresholds.Threshold (default: the job's calibrated one)."""
    first_name = first if first_name is None else first_name
    second_name = second if second_name is None else second_name
    images = np.stack([digits.read_digit(first, embedder.image_shape, first_name),
                       digits.read_digit(second, embedder.image_shape, second_name)])
    features = embedder.embed_digits(images)
    threshold = threshold or job_threshold(embedder)
    gap = float(pair_distance(features[:1], features[1:])[0])
    return Verification(first_name, second_name, features, gap, threshold,
                        threshold.place(gap))
