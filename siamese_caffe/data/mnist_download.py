"""Fetching the four MNIST idx files from the usual mirrors, checked by MD5.

Only `siamese-caffe prepare-mnist --download` uses this; tests and the default
job use the built-in digits. A file whose checksum differs from the published
one is discarded and the next mirror tried.
"""

import hashlib
import os
import urllib.error
import urllib.request

from ..errors import SiameseCaffeError
from ..runtime import atomic_files

# The published MD5 sums of the gzip files (the same on every mirror).
FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Tried in order; LeCun's own page has been rate-limited since 2021, so it comes last.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
TIMEOUT_S = 60


class DownloadError(SiameseCaffeError):
    """No mirror delivered a file with the right checksum."""


def md5_of(path):
    """Hex MD5 of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_mnist(folder, mirrors=MIRRORS, log=print):
    """Put the four MNIST .gz files into `folder` (kept when already there and correct).

    Returns {file name: path}. Raises DownloadError naming the file and what each
    mirror answered when none gives the published checksum.
    """
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for name, md5 in FILES.items():
        path = os.path.join(folder, name)
        if not (os.path.isfile(path) and md5_of(path) == md5):
            _fetch_checked(name, md5, path, mirrors, log)
        paths[name] = path
    return paths


class _ChecksumMismatch(Exception):
    """A mirror served a file whose MD5 is not the published one."""


def _download(url, path):
    """Copy `url`'s body into the file `path`, 1 MiB at a time."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(path, "wb") as out:
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)


def _fetch_checked(name, md5, path, mirrors, log):
    """Download `name` from the first mirror that serves it with the right MD5."""
    failures = []
    for mirror in mirrors:
        url = mirror + name
        log(f"downloading {url}")
        try:
            with atomic_files.replacing(path) as partial:
                _download(url, partial)
                got = md5_of(partial)
                if got != md5:
                    raise _ChecksumMismatch(f"MD5 {got}, expected {md5}")
            return
        except _ChecksumMismatch as err:
            failures.append(f"{mirror}: {err}")
        except (urllib.error.URLError, OSError) as err:
            failures.append(f"{mirror}: {getattr(err, 'reason', err)}")
    raise DownloadError(f"could not download {name} with the published checksum ("
                        + "; ".join(failures) + ")")
