#!/usr/bin/env python3
"""`siamese-caffe serve` under load, on loopback only: requests per second, latency, and no
request lost.

One workload — infer_one requests, alternately an uploaded digit and an image_path
under the data root, and with --many-every K every K'th request an infer_many of a
--list-size list — is run, side by side in one run:

  1. in-process   the same inferences through one embedding.Embedder, no HTTP
                  (what the server adds on top of the net is the difference);
  2. HTTP, 1      one client thread against the real server (waitress on 127.0.0.1);
  3. HTTP, N      --clients client threads at once.

The HTTP runs are made against one server per (--threads, --micro-batch) setting
(default "1,default" x "1,8": OMP_NUM_THREADS=1 and the environment as given, micro-
batching off and on), started side by side and taking turns, so that each figure has
its twins from the same minutes. Each client thread keeps one connection open
(HTTP/1.1 keep-alive, as a browser or a requests.Session does; --connection close
opens one per request) and sends requests built before the clock starts, so the
clients, which share the machine's cores with the server, take as little of them as
they can. Every answer is checked against the one its server gave first, one request
at a time through urllib; a request that fails, times out or comes back with other
numbers (with micro-batching: other than float rounding, rtol 1e-5) counts as lost,
and the script exits 1 when any is. Reported: the median of --rounds rounds in
requests/s, the infer_one latency percentiles (p50, p99, over all rounds, in ms), the
load average, and with --json all of it as JSON.

    python bench/serve.py                                  # a tiny job trained for the occasion
    python bench/serve.py --requests 2000 --clients 16 --server-threads 8 --json
    python bench/serve.py --many-every 10                  # one infer_many in ten
"""

import argparse
import concurrent.futures
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests"))

import serving  # noqa: E402  (tests/serving.py: start the server, multipart client)
from infer import tiny_job, write_images  # noqa: E402  (bench/infer.py)

from siamese_caffe.infer import embedding, predictions  # noqa: E402
from siamese_caffe.train import jobs  # noqa: E402

INFER_ONE = "/models/images/generic/infer_one.json"
INFER_MANY = "/models/images/generic/infer_many.json"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--job", help="a trained job folder (default: a tiny one trained in a "
                                 "temporary folder; speed does not depend on how well it learned)")
    p.add_argument("--requests", type=int, default=1000, help="requests per run")
    p.add_argument("--clients", type=int, default=8, help="client threads of the last run")
    p.add_argument("--server-threads", type=int, default=4, help="serve --threads")
    p.add_argument("--list-size", type=int, default=20, help="images per infer_many request")
    p.add_argument("--many-every", type=int, default=0,
                   help="every how many requests one is an infer_many (0: none)")
    p.add_argument("--threads", default="1,default",
                   help="comma-separated OMP_NUM_THREADS settings, one server each "
                        "('default': the environment as given)")
    p.add_argument("--micro-batch", default="1,8",
                   help="comma-separated serve --micro-batch settings, one server each (above "
                        "1, answers are checked to float rounding, rtol 1e-5, not bit for bit)")
    p.add_argument("--connection", choices=("keep-alive", "close"), default="keep-alive",
                   help="one connection per client thread, or a new one per request")
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    p.add_argument("--images", type=int, default=100, help="distinct digits drawn from")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timeout", type=float, default=60, help="seconds per request at most")
    return p.parse_args()


def workload(count, names, list_size, many_every=10):
    """[(kind, payload)]: kind "many" (a list text), "upload" or "path" (an image name)."""
    plan = []
    for k in range(count):
        if many_every and k % many_every == many_every - 1:
            chosen = [names[(k + j) % len(names)] for j in range(list_size)]
            plan.append(("many", "".join(f"{name}\n" for name in chosen)))
        else:
            plan.append(("upload" if k % 2 == 0 else "path", names[k % len(names)]))
    return plan


def request_parts(job_id, folder, item):
    """(route, form fields, files) of one planned request."""
    kind, payload = item
    fields, files = {"job_id": job_id}, None
    if kind == "many":
        return INFER_MANY, fields, {"image_list": ("list.txt", payload.encode())}
    if kind == "upload":
        with open(os.path.join(folder, payload), "rb") as f:
            return INFER_ONE, fields, {"image_file": (payload, f.read())}
    return INFER_ONE, {**fields, "image_path": payload}, files


def send(url, job_id, folder, item, timeout):
    """One request through urllib, on a connection of its own (the reference pass);
    (status, the numbers of its answer)."""
    route, fields, files = request_parts(job_id, folder, item)
    try:
        status, answer = serving.call(url + route, fields, files, timeout=timeout)
    except OSError as err:                     # refused, reset or timed out
        return None, repr(err)
    return status, outputs_of(answer)


def outputs_of(answer):
    return answer.get("outputs") if isinstance(answer, dict) else answer


def raw_request(url, job_id, folder, item, close=False):
    """The bytes of one HTTP/1.1 request (multipart POST), built before the clock starts."""
    route, fields, files = request_parts(job_id, folder, item)
    body, content_type = serving.multipart(fields, files)
    host = url.split("//", 1)[1]
    head = (f"POST {route} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "")
            + "\r\n")
    return head.encode("ascii") + body


class Connection:
    """One client's HTTP/1.1 connection to 127.0.0.1, kept open between requests (opened
    again when the server closed it); answers are read by their Content-Length."""

    def __init__(self, url, timeout):
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        self.address, self.timeout = (host, int(port)), timeout
        self.sock, self.pending = None, b""

    def exchange(self, request):
        """Send one request's bytes; (status, body bytes)."""
        if self.sock is None:
            self.sock = socket.create_connection(self.address, self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.pending = b""
        try:
            self.sock.sendall(request)
            status, headers, body = self._read_answer()
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def _read_answer(self):
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {name.strip().lower(): value.strip() for name, _, value in
                   (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(data) < length:
            data += self._recv()
        self.pending = data[length:]
        return status, headers, data[:length]

    def _recv(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        return chunk

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def in_process(embedder, folder, item):
    """The same inference without HTTP: infer_file, or infer_list for a list."""
    kind, payload = item
    if kind == "many":
        entries = [predictions.ListEntry(name, os.path.join(folder, name), None, name)
                   for name in payload.split()]
        predictions.infer_list(embedder, entries)
    else:
        embedder.infer_file(os.path.join(folder, payload))


def run_http(url, requests, clients, timeout, close=False):
    """(seconds, [(status, outputs)] in plan order, [seconds of each request]) with
    `clients` threads, each on its own connection (a new one per request when `close`)."""
    local = threading.local()
    connections = []

    def one(request):
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = Connection(url, timeout)
            connections.append(connection)
        began = time.perf_counter()
        try:
            status, body = connection.exchange(request)
        except (OSError, ValueError, KeyError, IndexError) as err:   # refused, reset, garbled
            return (None, repr(err)), time.perf_counter() - began
        took = time.perf_counter() - began
        if close:
            connection.close()
        return (status, body), took

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(one, requests))
    seconds = time.perf_counter() - began
    for connection in connections:
        connection.close()
    answers = [(status, outputs_of(_json(body)) if status is not None else body)
               for (status, body), _ in done]
    return seconds, answers, [t for _, t in done]


def _json(body):
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def percentile(values, fraction):
    """The nearest-rank percentile of `values` (fraction 0..1); None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


@contextlib.contextmanager
def omp_threads(setting):
    """os.environ with OMP_NUM_THREADS set to `setting` ('default': as given) meanwhile
    (serving.start_server passes os.environ to the server)."""
    saved = os.environ.get("OMP_NUM_THREADS")
    if setting != "default":
        os.environ["OMP_NUM_THREADS"] = setting
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def setting_label(setting):
    """'1 thread, micro-batch 8' for a (threads, micro-batch) setting."""
    threads, batch = setting
    if threads == "default":
        given = os.environ.get("OMP_NUM_THREADS")
        label = f"default ({given} thr)" if given else f"default ({os.cpu_count()} cores)"
    else:
        label = f"{threads} thread" + ("s" if threads != "1" else "")
    return label + (f", micro-batch {batch}" if batch > 1 else ", no micro-batch")


def lost(answers, reference, exact=True):
    """How many answers are not the reference's 200 with the very same numbers (exact) or
    the same numbers to float rounding."""
    return sum(1 for got, want in zip(answers, reference) if not same(got, want, exact))


def same(got, want, exact):
    if exact or got[0] != 200 or want[0] != 200:
        return got == want
    if not isinstance(got[1], dict) or set(got[1]) != set(want[1]):
        return False
    return all(np.allclose(np.asarray(got[1][k], float), np.asarray(want[1][k], float),
                           rtol=1e-5, atol=1e-6) for k in want[1])


def main():
    args = parse_args()
    settings = [(t.strip(), int(b)) for t in args.threads.split(",") if t.strip()
                for b in args.micro_batch.split(",") if b.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        job = jobs.Job.load(args.job) if args.job else tiny_job(tmp)
        folder = os.path.join(tmp, "data")
        os.makedirs(folder)
        write_images(folder, args.images)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
        plan = workload(args.requests, names, args.list_size, args.many_every)
        servers = {}
        try:
            for threads, batch in settings:
                with omp_threads(threads):
                    servers[(threads, batch)] = serving.start_server(
                        ["--jobs-dir", os.path.dirname(job.path), "--data-root", folder,
                         "--threads", args.server_threads, "--micro-batch", batch],
                        os.path.join(tmp, "logs", f"{threads}-{batch}"))
            load_before = os.getloadavg()
            result = measure(args, {s: server.url for s, server in servers.items()}, job,
                             folder, plan)
            load_after = os.getloadavg()
        finally:
            for server in servers.values():
                server.stop()
    report(args, job, plan, settings, (load_before[0], load_after[0]), *result)
    return 1 if result[2] else 0


def measure(args, urls, job, folder, plan):
    """({run name: [requests/s per round]}, {run name: [infer_one seconds]}, lost requests
    in all HTTP runs); HTTP run names are "(setting, clients)"."""
    # Each server's own reference (its thread count may split sums differently)
    references = {url: [send(url, job.job_id, folder, item, args.timeout) for item in plan]
                  for url in urls.values()}
    assert all(status == 200 for reference in references.values()
               for status, _ in reference), "the reference pass failed"
    close = args.connection == "close"
    requests = {url: [raw_request(url, job.job_id, folder, item, close) for item in plan]
                for url in urls.values()}
    embedder = embedding.Embedder(job)
    runs = {"in-process, no HTTP": None}
    for clients in (1, args.clients):
        for setting, url in urls.items():
            runs[(setting, clients)] = url
    rates = {name: [] for name in runs}
    latencies = {name: [] for name in runs if name != "in-process, no HTTP"}
    missing = 0
    for _ in range(args.rounds):
        for name, url in runs.items():
            if url is None:
                began = time.perf_counter()
                for item in plan:
                    in_process(embedder, folder, item)
                seconds = time.perf_counter() - began
            else:
                seconds, answers, took = run_http(url, requests[url], name[1], args.timeout,
                                                  close)
                missing += lost(answers, references[url], exact=name[0][1] == 1)
                latencies[name] += [t for item, t in zip(plan, took) if item[0] != "many"]
            rates[name].append(len(plan) / seconds)
    return rates, latencies, missing


def report(args, job, plan, settings, load, rates, latencies, missing):
    many = sum(1 for kind, _ in plan if kind == "many")
    sent = len(plan) * args.rounds * 2 * len(settings)
    print(f"job {job.job_id}; {len(plan)} requests per run ({len(plan) - many} infer_one, "
          f"{many} infer_many of {args.list_size} images); serve --threads "
          f"{args.server_threads}; {args.connection} connections; 127.0.0.1; median of "
          f"{args.rounds} rounds; load average {load[0]:.2f} before, {load[1]:.2f} after")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    base = medians["in-process, no HTTP"]
    width = 24 + max(len(setting_label(s)) for s in settings)
    print(f"{'run':{width}s} {'requests/s':>11s} {'vs in-process':>14s} "
          f"{'infer_one p50 ms':>17s} {'p99 ms':>8s}")
    rows = {}
    for name, rate in medians.items():
        label = name if isinstance(name, str) else \
            f"HTTP, {name[1]} client{'s' if name[1] > 1 else ''}, {setting_label(name[0])}"
        p50 = p99 = None
        if name in latencies:
            p50, p99 = (percentile(latencies[name], q) for q in (0.5, 0.99))
        rows[label] = {"requests_per_s": rate, "rounds": rates[name],
                       "infer_one_p50_ms": p50 and p50 * 1000,
                       "infer_one_p99_ms": p99 and p99 * 1000}
        tail = f" {p50 * 1000:17.2f} {p99 * 1000:8.2f}" if p50 is not None else ""
        print(f"{label:{width}s} {rate:11.1f} {rate / base:13.2f} x{tail}")
    print(f"lost requests: {missing} of {sent} sent over HTTP")
    if args.json:
        print(json.dumps({"job": job.job_id, "requests": len(plan), "infer_many": many,
                          "server_threads": args.server_threads, "clients": args.clients,
                          "micro_batch": args.micro_batch, "connection": args.connection,
                          "rounds": args.rounds, "cpu_count": os.cpu_count(),
                          "load_average": {"before": load[0], "after": load[1]},
                          "runs": rows, "lost": missing, "sent": sent}))


if __name__ == "__main__":
    sys.exit(main())
