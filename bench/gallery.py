#!/usr/bin/env python3
"""Galleries at scale, side by side in one run:

  1. build     a gallery of --references digits (default 60,000): embedding them with
               pycaffe (Embedder.embed_digits) and building each FAISS index kind;
  2. search    --queries digits (default 10,000) looked up, k = 5, in each index kind
               (exact IndexFlatL2, approximate HNSW and IVF) through Gallery.search (the
               FAISS candidates re-ranked exactly, as `gallery search` does): queries per
               second and recall@5 against the exact index's neighbours;
  3. embed     the same digits through pycaffe and through the exported ONNX model in
               onnxruntime: images per second (and the largest feature difference).

The digits are the built-in 5,000 MNIST digits repeated, each copy with seeded pixel
noise (±NOISE grey levels) so that every reference is a distinct real embedding; queries
are drawn the same way with another seed. Ratios are against the exact index / pycaffe.

    python bench/gallery.py                            # a tiny job trained for the occasion
    python bench/gallery.py --job demo-output/jobs/<id>
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from siamese_caffe.data import image_sources  # noqa: E402
from siamese_caffe.infer import embedding  # noqa: E402
from siamese_caffe.train import jobs  # noqa: E402
from siamese_caffe.use import gallery, gallery_index, onnx_check, onnx_export  # noqa: E402

NOISE = 24    # grey levels of uniform noise added to each repeated digit


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--job", help="a trained job (default: a tiny one trained in a temporary "
                                 "folder; the speeds do not depend on how well it learned, "
                                 "recall a little)")
    p.add_argument("--references", type=int, default=60000)
    p.add_argument("--queries", type=int, default=10000)
    p.add_argument("--embed-images", type=int, default=10000,
                   help="digits for the pycaffe / onnxruntime comparison")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--json", metavar="FILE", help="also write the figures here")
    return p.parse_args()


def noisy_digits(count, seed):
    """(count, 28, 28) uint8: the built-in digits repeated with seeded noise, and labels."""
    digits = image_sources.builtin_mnist()
    rng = np.random.default_rng(seed)
    pick = np.arange(count) % len(digits)
    noise = rng.integers(-NOISE, NOISE + 1, (count,) + digits.images.shape[1:])
    images = np.clip(digits.images[pick].astype(np.int64) + noise, 0, 255).astype(np.uint8)
    return images, digits.labels[pick]


def timed(function, *args):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main():
    args = parse_args()
    work = tempfile.mkdtemp(prefix="bench-gallery-")
    if args.job:
        job = jobs.Job.load(args.job)
    else:
        from infer import tiny_job               # bench/infer.py's ten-iteration job
        job = tiny_job(work)
    embedder = embedding.Embedder(job)
    figures = {"job": job.path, "snapshot": embedder.snapshot.iteration,
               "references": args.references, "queries": args.queries, "k": args.k,
               "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "cpus": os.cpu_count()}

    reference_images, reference_labels = noisy_digits(args.references, seed=1)
    query_images, _ = noisy_digits(args.queries, seed=2)
    reference_features, embed_seconds = timed(embedder.embed_digits, reference_images)
    query_features, query_embed_seconds = timed(embedder.embed_digits, query_images)
    figures["embed_references_s"] = round(embed_seconds, 2)
    figures["embed_queries_s"] = round(query_embed_seconds, 2)
    print(f"embedding with pycaffe: {args.references} references {embed_seconds:.1f} s, "
          f"{args.queries} queries {query_embed_seconds:.1f} s")

    kinds = {}
    truth = None
    for kind in gallery_index.KINDS:
        index, build_seconds = timed(gallery_index.make_index, kind, reference_features)
        found = gallery.Gallery(work, {"index": {"kind": kind}}, reference_features,
                                reference_labels, [str(i) for i in range(args.references)],
                                index)
        _, raw_seconds = timed(gallery_index.search, index, query_features, args.k)
        neighbours, search_seconds = timed(found.search, query_features, args.k)
        positions = np.array([[n.position for n in row] for row in neighbours])
        if truth is None:
            truth = positions
        recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(positions, truth)])
        kinds[kind] = {"index_build_s": round(build_seconds, 3),
                       "gallery_build_s": round(embed_seconds + build_seconds, 2),
                       "search_s": round(search_seconds, 3),
                       "queries_per_s": round(args.queries / search_seconds),
                       "index_only_queries_per_s": round(args.queries / raw_seconds),
                       "recall_at_k": round(float(recall), 4)}
        print(f"{kind:6s} index: built in {build_seconds:.3f} s (gallery {embed_seconds + build_seconds:.1f} s "
              f"with embedding); {args.queries} searches in {search_seconds:.2f} s = "
              f"{args.queries / search_seconds:,.0f} queries/s (the index alone "
              f"{args.queries / raw_seconds:,.0f}/s); recall@{args.k} {recall:.4f}")
    for kind, entry in kinds.items():
        entry["speed_vs_exact"] = round(entry["queries_per_s"] / kinds["exact"]["queries_per_s"], 2)
        entry["index_only_speed_vs_exact"] = round(
            entry["index_only_queries_per_s"] / kinds["exact"]["index_only_queries_per_s"], 2)
    figures["indexes"] = kinds

    model = os.path.join(work, "model.onnx")
    onnx_export.export_job(embedder, model)
    images = query_images[:args.embed_images]
    caffe_features, caffe_seconds = timed(embedder.embed_digits, images)
    onnx_check.onnxruntime_features(model, images[:64])            # warm the session up
    (runtime_features,), runtime_seconds = timed(onnx_check.onnxruntime_features, model, images)
    figures["embedding"] = {
        "images": len(images), "pycaffe_images_per_s": round(len(images) / caffe_seconds),
        "onnxruntime_images_per_s": round(len(images) / runtime_seconds),
        "onnxruntime_vs_pycaffe": round(caffe_seconds / runtime_seconds, 2),
        "max_abs_difference": float(np.abs(runtime_features - caffe_features).max())}
    e = figures["embedding"]
    print(f"embedding {len(images)} digits: pycaffe {e['pycaffe_images_per_s']:,} images/s, "
          f"onnxruntime {e['onnxruntime_images_per_s']:,} images/s "
          f"({e['onnxruntime_vs_pycaffe']}x; max abs difference {e['max_abs_difference']:.1e})")
    for kind, entry in kinds.items():
        print(f"  {kind}: {entry['speed_vs_exact']}x the exact index's queries/s "
              f"({entry['index_only_speed_vs_exact']}x for the index alone), "
              f"recall@{args.k} {entry['recall_at_k']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
