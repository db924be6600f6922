"""What Caffe's DataTransformer does to a pair before the net sees it: mean and crop.

`--mean` (DIGITS' `use_mean`) chooses what is subtracted:

- "image": the training mean image, pixel by pixel (`transform_param.mean_file`);
- "pixel": one value per channel, the mean image's average over H x W
  (`transform_param.mean_value`, three of them, in the B, G, R channel order);
- "none": nothing.

`--crop-size N` (DIGITS' `crop_size`) cuts an N x N square out of each H x W pair
(`transform_param.crop_size`): at a random place in TRAIN, at the centre in TEST —
Caffe picks the offset itself from the phase. The mean image is cut at the same place
(Caffe subtracts mean[c, h_off + y, w_off + x]). The deploy net then reads 3 x N x N,
and inference takes the centre crop as Caffe's TEST phase does (`centre_crop`).
"""

from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError

MEAN_MODES = ("image", "pixel", "none")


@dataclass(frozen=True)
class Transform:
    """A job's input transform.

    mean: one of MEAN_MODES. mean_values: (3,) floats, B, G, R, for "pixel"
    (None otherwise). crop_size: side of the square crop in pixels, or None for
    the whole image. image_shape: (3, H, W) of the dataset's pairs.
    """

    mean: str
    mean_values: tuple
    crop_size: int
    image_shape: tuple

    @property
    def input_shape(self):
        """(3, h, w) the net reads: the crop, or the whole pair."""
        if self.crop_size:
            return (self.image_shape[0], self.crop_size, self.crop_size)
        return tuple(self.image_shape)

    def as_dict(self):
        """job.json's "transform" section."""
        return {"mean": self.mean,
                "mean_values": list(self.mean_values) if self.mean_values else None,
                "crop_size": self.crop_size, "input_shape": list(self.input_shape)}

    @classmethod
    def from_dict(cls, facts, image_shape):
        """The Transform job.json recorded (a job made before the section existed
        subtracted the mean image and did not crop)."""
        facts = facts or {}
        values = facts.get("mean_values")
        return cls(facts.get("mean", "image"), tuple(values) if values else None,
                   facts.get("crop_size") or None, tuple(image_shape))

    def apply_to(self, transform_param, mean_file):
        """Fill a Data layer's caffe_pb2.TransformationParameter."""
        if self.mean == "image":
            transform_param.mean_file = mean_file
        elif self.mean == "pixel":
            transform_param.mean_value.extend(float(v) for v in self.mean_values)
        if self.crop_size:
            transform_param.crop_size = int(self.crop_size)

    def inference_mean(self, mean_image):
        """What inference subtracts from a whole (3, H, W) pair: (3, H, W) float32 — the
        mean image, its per-channel values spread over H x W, or zeros."""
        if self.mean == "image":
            return np.asarray(mean_image, np.float32)
        if self.mean == "pixel":
            values = np.asarray(self.mean_values, np.float32)[:, None, None]
            return np.broadcast_to(values, self.image_shape).astype(np.float32)
        return np.zeros(self.image_shape, np.float32)

    def centre_crop(self, inputs):
        """(N, 3, H, W) → (N, 3, c, c), the square Caffe's TEST phase takes (offsets
        (H - c) // 2 and (W - c) // 2); inputs unchanged without a crop."""
        if not self.crop_size:
            return inputs
        height, width = inputs.shape[-2:]
        top, left = (height - self.crop_size) // 2, (width - self.crop_size) // 2
        return inputs[..., top:top + self.crop_size, left:left + self.crop_size]


def make_transform(mean, crop_size, image_shape, mean_image=None):
    """The Transform of a new job (BadInputError naming --mean / --crop-size).

    mean: one of MEAN_MODES. crop_size: int ≥ 1 or None. image_shape: (3, H, W).
    mean_image: (3, H, W) float training mean (needed for "pixel").
    """
    mean = (mean or "image").strip().lower()
    if mean not in MEAN_MODES:
        raise BadInputError(f"expected one of {', '.join(MEAN_MODES)}, got {mean!r}",
                            where="--mean")
    height, width = int(image_shape[1]), int(image_shape[2])
    if crop_size is not None:
        if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size < 1:
            raise BadInputError(f"must be a whole number of pixels ≥ 1, got {crop_size!r}",
                                where="--crop-size")
        if crop_size > min(height, width):
            raise BadInputError(f"a {crop_size} x {crop_size} crop is larger than the "
                                f"dataset's {width} x {height} images", where="--crop-size")
    values = None
    if mean == "pixel":
        image = np.asarray(mean_image, np.float64)
        values = tuple(float(f"{v:.6g}") for v in image.reshape(image.shape[0], -1).mean(axis=1))
    return Transform(mean, values, crop_size or None, tuple(int(v) for v in image_shape))
