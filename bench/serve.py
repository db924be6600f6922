#!/usr/bin/env python3
"""`siamese-caffe serve` under load, on loopback only: requests per second, and no request lost.

One workload — every --many-every'th request an infer_many of a --list-size list
(0: none), the others infer_one, alternately an uploaded digit and an image_path
under the data root — is run, side by side in one run:

  1. in-process   the same inferences through one embedding.Embedder, no HTTP
                  (what the server adds on top of the net is the difference);
  2. HTTP, 1      one client thread against the real server (waitress on 127.0.0.1);
  3. HTTP, N      --clients client threads at once.

The HTTP runs are made against one server per --threads setting (default
"1,default": OMP_NUM_THREADS=1 and the environment as given), started side by
side and taking turns, so that each figure has its 1-thread twin from the same
minutes. Every answer is checked against the one its server computed first, one request
at a time; a request that fails, times out or comes back with other numbers counts
as lost, and the script exits 1 when any is. Reported: the median of --rounds
rounds in requests/s, the infer_one latency percentiles (p50, p99, over all
rounds, in ms), the load average, and with --json all of it as JSON.

    python bench/serve.py                                  # a tiny job trained for the occasion
    python bench/serve.py --requests 600 --clients 16 --server-threads 8 --json
    python bench/serve.py --many-every 0                   # infer_one only
"""

import argparse
import concurrent.futures
import contextlib
import json
import os
import statistics
import sys
import tempfile
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
    p.add_argument("--requests", type=int, default=300, help="requests per run")
    p.add_argument("--clients", type=int, default=8, help="client threads of the last run")
    p.add_argument("--server-threads", type=int, default=4, help="serve --threads")
    p.add_argument("--list-size", type=int, default=20, help="images per infer_many request")
    p.add_argument("--many-every", type=int, default=10,
                   help="every how many requests one is an infer_many (0: none)")
    p.add_argument("--threads", default="1,default",
                   help="comma-separated OMP_NUM_THREADS settings, one server each "
                        "('default': the environment as given)")
    p.add_argument("--micro-batch", type=int, default=1,
                   help="serve --micro-batch (above 1, answers are checked to float rounding, "
                        "rtol 1e-5, instead of bit for bit)")
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


def send(url, job_id, folder, item, timeout):
    """One request over HTTP; (status, the numbers of its answer)."""
    kind, payload = item
    fields = {"job_id": job_id}
    files = None
    if kind == "many":
        route, files = INFER_MANY, {"image_list": ("list.txt", payload.encode())}
    elif kind == "upload":
        with open(os.path.join(folder, payload), "rb") as f:
            route, files = INFER_ONE, {"image_file": (payload, f.read())}
    else:
        route, fields["image_path"] = INFER_ONE, payload
    try:
        status, answer = serving.call(url + route, fields, files, timeout=timeout)
    except OSError as err:                     # refused, reset or timed out
        return None, repr(err)
    return status, answer.get("outputs") if isinstance(answer, dict) else answer


def timed_send(url, job_id, folder, item, timeout):
    """send() and its seconds."""
    began = time.perf_counter()
    answer = send(url, job_id, folder, item, timeout)
    return answer, time.perf_counter() - began


def in_process(embedder, folder, item):
    """The same inference without HTTP: infer_file, or infer_list for a list."""
    kind, payload = item
    if kind == "many":
        entries = [predictions.ListEntry(name, os.path.join(folder, name), None, name)
                   for name in payload.split()]
        predictions.infer_list(embedder, entries)
    else:
        embedder.infer_file(os.path.join(folder, payload))


def run_http(url, job_id, folder, plan, clients, timeout):
    """(seconds, [(status, outputs)] in plan order, [seconds of each request]) with
    `clients` threads."""
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(lambda item: timed_send(url, job_id, folder, item, timeout),
                             plan))
    return time.perf_counter() - began, [a for a, _ in done], [t for _, t in done]


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
    if setting == "default":
        given = os.environ.get("OMP_NUM_THREADS")
        return f"default ({given} thr)" if given else f"default ({os.cpu_count()} cores)"
    return f"{setting} thread" + ("s" if setting != "1" else "")


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
    settings = [t.strip() for t in args.threads.split(",") if t.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        job = jobs.Job.load(args.job) if args.job else tiny_job(tmp)
        folder = os.path.join(tmp, "data")
        os.makedirs(folder)
        write_images(folder, args.images)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
        plan = workload(args.requests, names, args.list_size, args.many_every)
        servers = {}
        try:
            for setting in settings:
                with omp_threads(setting):
                    servers[setting] = serving.start_server(
                        ["--jobs-dir", os.path.dirname(job.path), "--data-root", folder,
                         "--threads", args.server_threads,
                         "--micro-batch", args.micro_batch],
                        os.path.join(tmp, "logs", setting))
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
    embedder = embedding.Embedder(job)
    runs = {"in-process, no HTTP": None}
    for setting, url in urls.items():
        for clients in (1, args.clients):
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
                seconds, answers, took = run_http(url, job.job_id, folder, plan, name[1],
                                                  args.timeout)
                missing += lost(answers, references[url], exact=args.micro_batch == 1)
                latencies[name] += [t for item, t in zip(plan, took) if item[0] != "many"]
            rates[name].append(len(plan) / seconds)
    return rates, latencies, missing


def report(args, job, plan, settings, load, rates, latencies, missing):
    many = sum(1 for kind, _ in plan if kind == "many")
    sent = len(plan) * args.rounds * 2 * len(settings)
    print(f"job {job.job_id}; {len(plan)} requests per run ({len(plan) - many} infer_one, "
          f"{many} infer_many of {args.list_size} images); serve --threads "
          f"{args.server_threads} --micro-batch {args.micro_batch}; 127.0.0.1; median of {args.rounds} rounds; "
          f"load average {load[0]:.2f} before, {load[1]:.2f} after")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    base = medians["in-process, no HTTP"]
    print(f"{'run':34s} {'requests/s':>11s} {'vs in-process':>14s} "
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
        print(f"{label:34s} {rate:11.1f} {rate / base:13.2f} x{tail}")
    print(f"lost requests: {missing} of {sent} sent over HTTP")
    if args.json:
        print(json.dumps({"job": job.job_id, "requests": len(plan), "infer_many": many,
                          "server_threads": args.server_threads, "clients": args.clients,
                          "micro_batch": args.micro_batch,
                          "rounds": args.rounds, "cpu_count": os.cpu_count(),
                          "load_average": {"before": load[0], "after": load[1]},
                          "runs": rows, "lost": missing, "sent": sent}))


if __name__ == "__main__":
    sys.exit(main())
