"""A trained job's deploy net, loaded once, turning pairs into embeddings in batches.

    embedder = Embedder(jobs.Job.load("jobs/<id>"))       # last snapshot, CPU
    result = embedder.infer_file("val_test_same_class_0.png")
    left, right = embedder.embed(inputs)                   # (N, 3, H, W) float32 in

`Embedder` reads deploy.prototxt, the snapshot's weights and the training mean
once; `embed` reshapes the net's input to each batch and runs forward passes.
Before Caffe sees them, the snapshot's weights and the deploy net are checked
(train.jobfiles: a damaged file is one BadInputError, never a Caffe abort).
Inputs are whole pairs with the job's mean subtracted (job.json transform: the mean
image, per-channel values or none; pair_input.subtract_mean); `forward` takes their
centre crop when the job crops, as Caffe's TEST phase did in validation. The two feature
blobs (job.json network.feature_blobs, e.g. feat_left / feat_right) give the
left and right embeddings; their L2 distance is compared with a threshold
(default half the loss's margin) for the same / different verdict.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError
from ..runtime import caffe_env, devices
from ..train import jobfiles
from . import pair_input
from .settings import DEFAULT_BATCH



@dataclass
class Inference:
    """One image's result: left and right features (D,) float32, their L2 distance,
    the threshold used and whether the image was a replicated grayscale digit."""

    path: str
    left: np.ndarray
    right: np.ndarray
    distance: float
    threshold: float
    grayscale: bool

    @property
    def same(self):
        """The verdict: the two digits are of the same class (distance below the threshold)."""
        return self.distance < self.threshold

    def as_dict(self):
        """JSON-ready dict (features as lists)."""
        return {"image": self.path, "left": self.left.tolist(), "right": self.right.tolist(),
                "distance": self.distance, "threshold": self.threshold,
                "verdict": "same" if self.same else "different", "grayscale": self.grayscale}


class Embedder:
    """A job's deploy net with one snapshot's weights and the job's transform (mean, crop),
    ready for batches.

    job: jobs.Job. iteration: the snapshot to load (None: the last one; BadInputError
    when the job has none). gpu: a --gpu value ("cpu", "auto" or a number).
    batch_size: pairs per forward pass.
    """

    def __init__(self, job, iteration=None, gpu="cpu", batch_size=DEFAULT_BATCH):
        self.job = job
        self.snapshot = job.snapshot(iteration)
        self.batch_size = int(batch_size)
        self.image_shape = tuple(job.image_shape)
        self.transform = job.transform
        mean_image = None
        if self.transform.mean == "image":
            mean_image = pair_input.read_mean(job.mean_file)
            if mean_image.shape != self.image_shape:
                raise BadInputError(f"the mean is {'x'.join(map(str, mean_image.shape))} but "
                                    f"the job's pairs are {'x'.join(map(str, self.image_shape))}"
                                    " (was the dataset replaced?)", where=job.mean_file)
        self.mean = self.transform.inference_mean(mean_image)   # (3, H, W) float32
        self.gray_mean = pair_input.grayscale_mean(self.mean)   # a lone digit's, made once
        self.input_blob = job.input_blob
        self.feature_blobs = job.feature_blobs
        self.margin = job.margin
        jobfiles.check_inference_files(job, self.snapshot)   # Caffe would abort on damage
        caffe = caffe_env.import_caffe()
        devices.set_mode(caffe, devices.choose_device(gpu))
        self.net = caffe.Net(job.deploy_path, caffe.TEST,
                             weights=self.snapshot.caffemodel_path)
        self._branches_alike = None
        self._single_end = False           # not looked for yet (see single_branch_end)
        self._lone_digits = 0              # digits embed_one was given

    @property
    def default_threshold(self):
        """Half the contrastive loss's margin (0.5 for margin 1)."""
        return self.margin / 2

    def read(self, path, where=None):
        """One image file (or binary file object, or an image image_io.read decoded, named
        `where` in errors) as ((3, H, W) uint8 pair, is_grayscale); see
        pair_input.load_pair."""
        return pair_input.load_pair(path, self.image_shape, where)

    def load(self, path, where=None):
        """One image file (or binary file object, or decoded image) as (net input (3, H, W)
        float32, is_grayscale)."""
        pair, grayscale = self.read(path, where)
        return self.subtract_mean(pair, grayscale), grayscale

    def subtract_mean(self, pair, grayscale):
        """(3, H, W) uint8 pair → (3, H, W) float32 net input: pair − the mean (the
        grayscale mean, made once, for a replicated digit)."""
        return pair_input.subtract_mean(pair, self.mean, grayscale, self.gray_mean)

    def forward(self, inputs, end=None):
        """One forward pass over (N, 3, H, W) float32 mean-subtracted inputs (N ≤ any size;
        centre-cropped here when the job crops); the net after it. end: the index of the
        last layer to run (None: all of them)."""
        if inputs.shape[1:] == self.image_shape:
            inputs = self.transform.centre_crop(inputs)
        blob = self.net.blobs[self.input_blob]
        data = blob.data
        if data.shape != inputs.shape:
            blob.reshape(*inputs.shape)
            self.net.reshape()
            data = blob.data
        data[...] = inputs
        self.net._forward(0, len(self.net.layers) - 1 if end is None else end)
        return self.net

    def embed_one(self, inputs, grayscale):
        """Features of one (3, H, W) float32 net input: (left (1, D), right (1, D)) float32.

        A replicated grayscale digit (`grayscale`) gives both branches the same input, so
        when they compute one function (`single_branch_end`) only the branch whose
        feature comes first in the net is run, and its feature is both: the numbers the
        two-branch pass gives, in about half the time (from the second digit on).
        """
        end = None
        if grayscale:
            # the check behind single_branch_end costs a pass of two pairs: a net loaded for
            # one image (`infer IMAGE`) runs both branches instead of paying it
            self._lone_digits += 1
            end = self.single_branch_end if self._lone_digits > 1 else None
        if end is None:
            return self.embed(inputs[None])
        index, name = end
        net = self.forward(inputs[None], index)
        feature = net.blobs[name].data.reshape(1, -1).copy()
        return feature, feature.copy()

    def embed_inputs(self, inputs, grayscale):
        """Features of (N, 3, H, W) float32 net inputs with (N,) grayscale flags (a micro-batch
        of requests): (left, right) (N, D) float32. A lone input goes through embed_one;
        replicated digits go two to a pair when the branches are alike (as embed_digits),
        the others as they are."""
        if len(inputs) == 1:
            return self.embed_one(inputs[0], bool(grayscale[0]))
        grayscale = np.asarray(grayscale, bool)
        if not grayscale.any() or not self.branches_alike:
            return self.embed(inputs)
        left = np.empty((len(inputs), self.job.feature_dim), np.float32)
        right = np.empty_like(left)
        digits = inputs[grayscale]
        count = len(digits)
        packed = digits[0::2].copy()                 # channel 0 (left branch): even digits
        packed[:count // 2, 1] = digits[1::2, 1]     # channel 1 (right branch): odd digits
        left[grayscale] = right[grayscale] = _interleave(*self.embed(packed), count)
        if (~grayscale).any():
            left[~grayscale], right[~grayscale] = self.embed(inputs[~grayscale])
        return left, right

    @property
    def single_branch_end(self):
        """(index of the last layer that writes it, name) of the feature blob computed
        first by the deploy net, when running the net that far and no further gives a
        digit's feature: the two branches are alike and the net's outputs are the two
        features only (other outputs would be left unrun). None otherwise; found once."""
        if self._single_end is False:
            self._single_end = None
            outputs = set(self.net.outputs)
            if outputs <= set(self.feature_blobs) and self.branches_alike:
                names = list(self.net._layer_names)
                last = {blob: max((k for k, layer in enumerate(names)
                                   if blob in self.net.top_names[layer]), default=None)
                        for blob in self.feature_blobs}
                if None not in last.values():
                    name = min(self.feature_blobs, key=last.get)
                    self._single_end = (last[name], name)
        return self._single_end

    def embed(self, inputs):
        """Features of (N, 3, H, W) float32 inputs: (left (N, D), right (N, D)) float32,
        computed batch_size pairs at a time."""
        lefts, rights = [], []
        for start in range(0, len(inputs), self.batch_size):
            net = self.forward(inputs[start:start + self.batch_size])
            left, right = (net.blobs[name].data for name in self.feature_blobs)
            lefts.append(left.reshape(len(left), -1).copy())
            rights.append(right.reshape(len(right), -1).copy())
        if not lefts:
            dim = self.job.feature_dim
            return np.zeros((0, dim), np.float32), np.zeros((0, dim), np.float32)
        return np.concatenate(lefts), np.concatenate(rights)

    def embed_pairs(self, pairs):
        """Features of (N, 3, H, W) uint8 BGR pairs (e.g. LMDB records): (left, right) (N, D)
        float32; the pair mean is subtracted batch by batch."""
        return self._embed_chunks(pairs, lambda chunk: chunk.astype(np.float32) - self.mean)

    def embed_digits(self, images):
        """Features of (N, H, W) uint8 grayscale digits: (N, D) float32, what the net gives a
        digit replicated into both branches (whose two features are then identical).

        When the two branches compute one function (checked once, `branches_alike`), the
        digits go two to a pair — one per branch — which halves the forward passes.
        """
        mean = self.gray_mean
        if len(images) == 1:
            return self.embed_one(self.subtract_mean(images[0], True), True)[0]
        if not self.branches_alike:
            left, _ = self._embed_chunks(
                images, lambda chunk: chunk[:, None].astype(np.float32) - mean)
            return left
        count = len(images)
        pairs = np.empty(((count + 1) // 2,) + self.image_shape, np.uint8)
        pairs[:, 0] = images[0::2]
        pairs[:count // 2, 1] = images[1::2]
        pairs[count // 2:, 1] = images[-1]
        pairs[:, 2] = pairs[:, 0]                    # unused by the branches
        left, right = self._embed_chunks(pairs, lambda chunk: chunk.astype(np.float32) - mean)
        return _interleave(left, right, count)

    def embed_loaded(self, pairs, grayscale):
        """Features of images as read by `read`: (N, 3, H, W) uint8 pairs and (N,) bool
        grayscale flags → (left, right) (N, D) float32; a grayscale digit's two are equal."""
        grayscale = np.asarray(grayscale, bool)
        dim = self.job.feature_dim
        left = np.empty((len(pairs), dim), np.float32)
        right = np.empty_like(left)
        if grayscale.any():
            left[grayscale] = right[grayscale] = self.embed_digits(pairs[grayscale, 0])
        if (~grayscale).any():
            left[~grayscale], right[~grayscale] = self.embed_pairs(pairs[~grayscale])
        return left, right

    @property
    def branches_alike(self):
        """Whether the right branch computes what the left one does (checked once on two
        random digits): then a digit may go through either."""
        if self._branches_alike is None:
            rng = np.random.default_rng(0)
            a, b = rng.integers(0, 256, (2,) + self.image_shape[1:], dtype=np.uint8)
            inputs = np.stack([pair_input.gray_to_pair(a), np.stack([b, a, b])])
            left, right = self.embed(inputs.astype(np.float32) - self.gray_mean)
            self._branches_alike = bool(np.allclose(left[0], right[1], rtol=1e-4, atol=1e-5)
                                        and not np.allclose(left[0], left[1], atol=1e-6))
        return self._branches_alike

    def _embed_chunks(self, items, to_inputs):
        """embed() over `items` batch_size at a time, each chunk made into inputs first."""
        lefts, rights = [], []
        for start in range(0, len(items), self.batch_size):
            left, right = self.embed(to_inputs(items[start:start + self.batch_size]))
            lefts.append(left)
            rights.append(right)
        if not lefts:
            return self.embed(np.zeros((0,) + self.image_shape, np.float32))
        return np.concatenate(lefts), np.concatenate(rights)

    def infer_file(self, path, threshold=None):
        """Run one image file through the net; its Inference."""
        inputs, grayscale = self.load(path)
        left, right = self.embed_one(inputs, grayscale)
        threshold = self.default_threshold if threshold is None else float(threshold)
        return Inference(path, left[0], right[0], float(distance(left, right)[0]), threshold,
                         grayscale)


def _interleave(first, second, count):
    """Features of `count` digits that went two to a pair (even ones through the left
    branch, odd ones through the right): (count, D) float32 from the pairs' (P, D) features."""
    features = np.empty((count, first.shape[1]), np.float32)
    features[0::2] = first
    features[1::2] = second[:count // 2]
    return features


def distance(left, right):
    """Row-wise L2 distances of (N, D) features: (N,) float64."""
    diff = np.asarray(left, np.float64) - np.asarray(right, np.float64)
    return np.sqrt((diff * diff).sum(axis=1))
