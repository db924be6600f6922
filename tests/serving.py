"""`siamese-caffe serve` as a real process on a loopback port, and a small HTTP client for it.

Used by tests/test_server.py and bench/serve.py. Traffic goes to 127.0.0.1 only,
never through a proxy.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from project_paths import ROOT

LISTENING = re.compile(r"serving on http://127\.0\.0\.1:(\d+)/")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                   "ALL_PROXY")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def clean_env(**extra):
    """os.environ without proxy settings (loopback must be reached directly), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env.update(PYTHONPATH=ROOT, **extra)
    return env


class Server:
    """A running `siamese-caffe serve` process; `url` is http://127.0.0.1:PORT."""

    def __init__(self, process, url, out_path, err_path):
        self.process = process
        self.url = url
        self.out_path = out_path
        self.err_path = err_path

    def alive(self):
        return self.process.poll() is None

    def log(self):
        """What the server wrote to stdout and stderr so far."""
        with open(self.out_path) as out, open(self.err_path) as err:
            return out.read() + err.read()

    def stop(self, timeout=30):
        """SIGTERM, then wait; the exit status."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def start_server(args, log_dir, tmpdir=None, timeout=120):
    """Start `siamese-caffe serve --host 127.0.0.1 --port 0 ARGS`; the Server once it listens.

    log_dir: where its stdout / stderr files go. tmpdir: its TMPDIR.
    """
    os.makedirs(log_dir, exist_ok=True)
    out_path, err_path = (os.path.join(log_dir, name) for name in ("serve.out", "serve.err"))
    env = clean_env(**({"TMPDIR": str(tmpdir)} if tmpdir else {}))
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "siamese_caffe.cli", "serve", "--host", "127.0.0.1",
             "--port", "0", *map(str, args)], cwd=ROOT, env=env, stdout=out, stderr=err)
    server = Server(process, None, out_path, err_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.alive():
        match = LISTENING.search(server.log())
        if match:
            server.url = f"http://127.0.0.1:{match.group(1)}"
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"serve did not start:\n{server.log()}")


def multipart(fields=None, files=None):
    """(body bytes, content type) of a multipart/form-data form.

    fields: {name: str}. files: {name: (filename, bytes)}.
    """
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (fields or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + str(value).encode() + b"\r\n")
    for name, (filename, data) in (files or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def call(url, fields=None, files=None, method=None, timeout=120, headers=None):
    """One request (a multipart POST when fields or files are given, else GET), with extra
    `headers`; (status, JSON answer or the raw text when it is not JSON)."""
    body, headers = None, dict(headers or {})
    if fields is not None or files is not None:
        body, headers["Content-Type"] = multipart(fields, files)
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def write_digit_lists(folder, train=240, val=60):
    """PNGs of built-in digits in DIGITS' layout with train.txt / val.txt (paths relative)."""
    from PIL import Image

    from siamese_caffe.data import image_sources

    digits = image_sources.builtin_mnist()
    lines = {"train": [], "val": []}
    for phase, start, count in (("train", 0, train), ("val", 1, val)):
        for k in range(start, 5000, 5000 // count)[:count]:    # every class, train != val
            name = f"{phase}/{digits.labels[k]}/{k:05d}.png"
            os.makedirs(os.path.join(folder, os.path.dirname(name)), exist_ok=True)
            Image.fromarray(digits.images[k], "L").save(os.path.join(folder, name))
            lines[phase].append(f"{name} {digits.labels[k]}\n")
    for phase, found in lines.items():
        with open(os.path.join(folder, f"{phase}.txt"), "w") as f:
            f.writelines(found)
    return folder


def start_job_site(job, base):
    """A server (start_server) whose jobs folder under `base` holds a copy of the trained
    `job` and whose data root holds the digit lists and a copy of the job's create-db
    folder as `siamesedb/` (so its LMDBs may be named by path): (Server, data root)."""
    import shutil

    data = write_digit_lists(str(base / "mnist"))
    shutil.copytree(job.info["dataset"]["folder"], os.path.join(data, "siamesedb"))
    jobs_dir = base / "jobs"
    jobs_dir.mkdir()
    shutil.copytree(job.path, jobs_dir / job.job_id)
    return start_server(["--jobs-dir", jobs_dir, "--data-root", data], base / "logs"), data
