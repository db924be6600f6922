"""Running an exported ONNX model in onnxruntime, and comparing it with pycaffe.

    features = onnxruntime_features("model.onnx", digits)     # (N, H, W) uint8 in
    worst = max_difference("model.onnx", embedder, digits)   # vs Embedder.embed_digits

For a pair model (two inputs) both inputs get the digits, the second reversed, and its
three outputs (features of both, their distance) are compared.
"""

import numpy as np

from ..infer.embedding import distance

CHECK_DIGITS = 32     # images the export command compares (seeded random pixels)


def session(path):
    """An onnxruntime InferenceSession of the model at `path` (CPU)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3          # warnings about unused initializers are noise
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def as_pixels(images):
    """(N, H, W) uint8 digits → the model's input, (N, 1, H, W) float32 0..255."""
    return np.ascontiguousarray(np.asarray(images, np.float32)[:, None])


def onnxruntime_features(path, images, second=None):
    """The model's outputs for `images` (and `second` for a pair model), as a list of arrays."""
    run = session(path)
    names = [i.name for i in run.get_inputs()]
    feeds = {names[0]: as_pixels(images)}
    if len(names) > 1:
        feeds[names[1]] = as_pixels(images[::-1] if second is None else second)
    return run.run(None, feeds)


def max_difference(path, embedder, images):
    """The largest absolute difference between the model's outputs and pycaffe's for
    `images` (N, H, W) uint8 (float)."""
    outputs = onnxruntime_features(path, images)
    expected = embedder.embed_digits(images)
    if len(outputs) == 1:
        return float(np.abs(outputs[0] - expected).max())
    second = expected[::-1]
    wanted = [expected, second, distance(expected, second)]
    return max(float(np.abs(got - want).max()) for got, want in zip(outputs, wanted))


def check_digits(image_shape, count=CHECK_DIGITS, seed=0):
    """`count` seeded random (H, W) uint8 images of the job's size, for a quick check."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count,) + tuple(int(v) for v in image_shape[1:]),
                        dtype=np.uint8)
