"""Loaded nets shared by a server's request threads: one per (job, snapshot), one user at a time.

A pycaffe Net is not thread-safe (a forward pass reshapes and overwrites its
blobs), so each loaded net carries a lock; `LoadedNet.running()` holds it and
puts the calling thread's Caffe in the server's mode (Caffe keeps its CPU/GPU
mode per thread). Different nets run in parallel.

Before a net is loaded into the server process, its files are checked as every
command checks them (train.jobfiles: the snapshot against the size and SHA-256
job.json recorded, a changed deploy.prototxt built in a child Caffe): Caffe
answers a broken deploy.prototxt or a truncated .caffemodel by aborting the
process, which must never take the server down. A failed load is not cached, so
the next request tries again.

The cache keeps the `max_nets` most recently used nets (LeNet-sized nets take a
few MB each); a snapshot file rewritten in place is loaded afresh.

With micro_batch N > 1, concurrent one-image requests for a net run as one forward
pass of up to N images (serve/batcher.py). Caffe's batched products round some
features differently from a forward pass of one image (in the last bit, about
1e-7 relative), so such answers are not byte-identical to unbatched ones; with the
default N = 1 every answer is exactly the one-image forward pass.
"""

import collections
import contextlib
import os
import threading

import numpy as np

from ..errors import BadInputError, SiameseCaffeError
from ..runtime import caffe_env, devices
from ..train import jobfiles
from ..infer import embedding
from .batcher import DEFAULT_MAX_WAIT, MicroBatcher
from .settings import DEFAULT_MAX_NETS



class JobNotLoadableError(SiameseCaffeError):
    """A job's files cannot be made into a net (a server-side fault: HTTP 500)."""


class LoadedNet:
    """An embedding.Embedder and the lock that serialises its use."""

    def __init__(self, embedder, device, micro_batch=1):
        self.embedder = embedder
        self.device = device
        self.caffe = caffe_env.import_caffe()
        self.lock = threading.Lock()
        self.batcher = MicroBatcher(self._embed_batch, micro_batch, DEFAULT_MAX_WAIT) \
            if micro_batch > 1 else None

    def embed_one(self, pair, grayscale=False):
        """One (3, H, W) float32 net input (`grayscale`: a replicated digit's): ({output
        blob: [[values]]}, left (1, D), right (1, D)), through the micro-batcher when there
        is one. When the net's outputs are its two features, a digit runs one branch
        (Embedder.embed_inputs)."""
        if self.batcher is None:
            return self._embed_batch([(pair, grayscale)])[0]
        return self.batcher.submit((pair, grayscale))

    def _embed_batch(self, items):
        """[(outputs, left, right)] of a list of (net input, grayscale), in one forward pass
        (a lone digit: half of one)."""
        inputs = np.stack([pair for pair, _ in items])
        flags = [grayscale for _, grayscale in items]
        with self.running() as embedder:
            names = embedder.net.outputs
            if embedder.single_branch_end is not None:      # outputs: the two features
                left, right = embedder.embed_inputs(inputs, flags)
                features = dict(zip(embedder.feature_blobs, (left, right)))
                return [({name: features[name][i:i + 1].tolist() for name in names},
                         left[i:i + 1], right[i:i + 1]) for i in range(len(items))]
            left, right = embedder.embed(inputs)
            blobs = {name: embedder.net.blobs[name].data for name in names}
            return [({name: data[i:i + 1].tolist() for name, data in blobs.items()},
                     left[i:i + 1], right[i:i + 1]) for i in range(len(items))]

    @contextlib.contextmanager
    def running(self):
        """Hold the net for one forward pass (or a batch of them); yields the Embedder."""
        with self.lock:
            devices.set_mode(self.caffe, self.device)
            yield self.embedder


class NetCache:
    """Thread-safe map (job, snapshot) -> LoadedNet.

    device: GPU id or None for the CPU (devices.choose_device). batch_size: pairs per
    forward pass. probe: build each net in a child Caffe before loading it here.
    """

    def __init__(self, device=None, max_nets=DEFAULT_MAX_NETS,
                 batch_size=embedding.DEFAULT_BATCH, probe=True, micro_batch=1):
        self.device = device
        self.micro_batch = max(1, int(micro_batch))
        self.max_nets = max(1, int(max_nets))
        self.batch_size = batch_size
        self.probe = probe
        self._lock = threading.Lock()
        self._slots = collections.OrderedDict()   # key -> _Slot, least recently used first

    def __len__(self):
        with self._lock:
            return sum(1 for slot in self._slots.values() if slot.net is not None)

    def get(self, job, snapshot):
        """The LoadedNet of `job` (jobs.Job) with `snapshot` (jobs.Snapshot), loading it
        on first use; JobNotLoadableError when the job's files cannot be loaded."""
        slot = self._slot(_key(job, snapshot))
        with slot.loading:
            if slot.net is None:
                slot.net = LoadedNet(self._load(job, snapshot), self.device,
                                     self.micro_batch)
            return slot.net

    def _slot(self, key):
        with self._lock:
            slot = self._slots.pop(key, None) or _Slot()
            self._slots[key] = slot
            while len(self._slots) > self.max_nets:
                self._slots.popitem(last=False)   # threads using it keep their reference
            return slot

    def _load(self, job, snapshot):
        gpu = "cpu" if self.device is None else str(self.device)
        try:
            if self.probe:
                jobfiles.check_inference_files(job, snapshot)
            return embedding.Embedder(job, snapshot.iteration, gpu=gpu,
                                      batch_size=self.batch_size)
        except (BadInputError, OSError, KeyError, ValueError) as err:
            self._forget(_key(job, snapshot))
            raise JobNotLoadableError(f"job {job.job_id}, snapshot {snapshot.iteration}: "
                                      f"cannot load its net ({err})") from None

    def _forget(self, key):
        with self._lock:
            self._slots.pop(key, None)


class _Slot:
    """One cache entry: its LoadedNet once loaded, and the lock held while loading it."""

    def __init__(self):
        self.loading = threading.Lock()
        self.net = None


def _key(job, snapshot):
    """Cache key: the weights file and its modification time (a rewritten file is new)."""
    try:
        stamp = os.stat(snapshot.caffemodel_path).st_mtime_ns
    except OSError:
        stamp = None
    return (job.path, snapshot.iteration, snapshot.caffemodel_path, stamp)
