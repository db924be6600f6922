#!/usr/bin/env python3
"""`siamese-caffe serve` under load, on loopback only: requests per second, and no request lost.

One workload — every 10th request an infer_many of a --list-size list, the others
infer_one, alternately an uploaded digit and an image_path under the data root —
is run, side by side in one run:

  1. in-process   the same inferences through one embedding.Embedder, no HTTP
                  (what the server adds on top of the net is the difference);
  2. HTTP, 1      one client thread against the real server (waitress on 127.0.0.1);
  3. HTTP, N      --clients client threads at once.

Every answer is checked against the one computed first, one request at a time; a
request that fails, times out or comes back with other numbers counts as lost, and
the script exits 1 when any is. The median of --rounds rounds is reported.

    python bench/serve.py                                  # a tiny job trained for the occasion
    python bench/serve.py --requests 600 --clients 16 --server-threads 8
"""

import argparse
import concurrent.futures
import os
import statistics
import sys
import tempfile
import time

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
    p.add_argument("--images", type=int, default=100, help="distinct digits drawn from")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timeout", type=float, default=60, help="seconds per request at most")
    return p.parse_args()


def workload(count, names, list_size):
    """[(kind, payload)]: kind "many" (a list text), "upload" or "path" (an image name)."""
    plan = []
    for k in range(count):
        if k % 10 == 9:
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
    """(seconds, [(status, outputs)] in plan order) with `clients` threads."""
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(lambda item: send(url, job_id, folder, item, timeout), plan))
    return time.perf_counter() - began, answers


def lost(answers, reference):
    """How many answers are not the reference's 200 with the very same numbers."""
    return sum(1 for got, want in zip(answers, reference) if got != want)


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        job = jobs.Job.load(args.job) if args.job else tiny_job(tmp)
        folder = os.path.join(tmp, "data")
        os.makedirs(folder)
        write_images(folder, args.images)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
        plan = workload(args.requests, names, args.list_size)
        server = serving.start_server(
            ["--jobs-dir", os.path.dirname(job.path), "--data-root", folder,
             "--threads", args.server_threads], os.path.join(tmp, "logs"))
        try:
            result = measure(args, server.url, job, folder, plan)
        finally:
            server.stop()
    report(args, job, plan, *result)
    return 1 if result[1] else 0


def measure(args, url, job, folder, plan):
    """({run name: [requests/s per round]}, lost requests in all HTTP runs)."""
    reference = [send(url, job.job_id, folder, item, args.timeout) for item in plan]
    assert all(status == 200 for status, _ in reference), "the reference pass failed"
    embedder = embedding.Embedder(job)
    runs = {"in-process, no HTTP": None, "HTTP, 1 client": 1,
            f"HTTP, {args.clients} clients": args.clients}
    rates, missing = {name: [] for name in runs}, 0
    for _ in range(args.rounds):
        for name, clients in runs.items():
            if clients is None:
                began = time.perf_counter()
                for item in plan:
                    in_process(embedder, folder, item)
                seconds = time.perf_counter() - began
            else:
                seconds, answers = run_http(url, job.job_id, folder, plan, clients,
                                            args.timeout)
                missing += lost(answers, reference)
            rates[name].append(len(plan) / seconds)
    return rates, missing


def report(args, job, plan, rates, missing):
    many = sum(1 for kind, _ in plan if kind == "many")
    sent = len(plan) * args.rounds * 2
    print(f"job {job.job_id}; {len(plan)} requests per run ({len(plan) - many} infer_one, "
          f"{many} infer_many of {args.list_size} images); serve --threads "
          f"{args.server_threads}; 127.0.0.1; median of {args.rounds} rounds")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    base = medians["in-process, no HTTP"]
    print(f"{'run':24s} {'requests/s':>11s} {'vs in-process':>14s}")
    for name, rate in medians.items():
        print(f"{name:24s} {rate:11.1f} {rate / base:13.2f} x")
    print(f"lost requests: {missing} of {sent} sent over HTTP")


if __name__ == "__main__":
    sys.exit(main())
