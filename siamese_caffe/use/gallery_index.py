"""The FAISS index of a gallery: exact by default, approximate for large galleries.

Kinds (`make_index`):

    exact   IndexFlatL2: every reference compared, the true nearest neighbours
    hnsw    IndexHNSWFlat (M = HNSW_M links per node): a navigable graph, no training,
            grows by add(); efSearch = HNSW_EF_SEARCH candidates kept while searching
    ivf     IndexIVFFlat over a flat quantizer: the references bucketed into
            nlist ≈ IVF_LISTS_PER_SQRT·√N k-means cells (trained on the first build),
            NPROBE cells visited per query; later add()s go into the trained cells

Vectors are (N, D) float32; FAISS measures squared L2 distances. `search` returns
candidates; gallery.py re-ranks them by exact float64 distance.
"""

import math

import numpy as np

KINDS = ("exact", "hnsw", "ivf")
HNSW_M = 32                 # graph links per node: FAISS's usual 32 (recall ~1 on 2-D points)
HNSW_EF_SEARCH = 64         # candidates kept while searching: above k, cheap for small D
IVF_LISTS_PER_SQRT = 4      # nlist = 4·√N, FAISS's guideline (between 4√N and 16√N)
IVF_MIN_TRAIN_PER_LIST = 39  # FAISS warns below 39 training points per cell
NPROBE = 8                  # cells visited per query


def make_index(kind, vectors):
    """A FAISS index of `kind` holding `vectors` ((N, D) float32); ValueError for a kind
    that cannot be built on so few vectors (the caller names the option)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, np.float32)
    dim = vectors.shape[1]
    if kind == "exact":
        index = faiss.IndexFlatL2(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M)
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "ivf":
        lists = max(1, int(IVF_LISTS_PER_SQRT * math.sqrt(len(vectors))))
        if len(vectors) < lists * IVF_MIN_TRAIN_PER_LIST:
            lists = max(1, len(vectors) // IVF_MIN_TRAIN_PER_LIST)
        if len(vectors) < IVF_MIN_TRAIN_PER_LIST:
            raise ValueError(f"an ivf index needs at least {IVF_MIN_TRAIN_PER_LIST} references "
                             f"to train on, got {len(vectors)}")
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, lists)
        index.train(vectors)
        index.nprobe = min(NPROBE, lists)
    else:
        raise ValueError(f"unknown index kind {kind!r} (known: {', '.join(KINDS)})")
    index.add(vectors)
    return index


def describe(index, kind):
    """gallery.json's "index" entry: the kind and its parameters."""
    entry = {"kind": kind, "faiss_class": type(index).__name__}
    if kind == "hnsw":
        entry.update(M=HNSW_M, ef_search=HNSW_EF_SEARCH)
    if kind == "ivf":
        entry.update(nlist=int(index.nlist), nprobe=int(index.nprobe))
    return entry


def search(index, queries, count):
    """The `count` nearest candidates of each query: ((M, count) squared distances,
    (M, count) int64 positions, -1 where the index found fewer)."""
    queries = np.ascontiguousarray(queries, np.float32)
    return index.search(queries, int(count))


def write(index, path):
    """Save an index to `path` (into a staged folder)."""
    import faiss

    faiss.write_index(index, path)


def read(path, kind):
    """Load an index written by `write`, its search settings restored."""
    import faiss

    index = faiss.read_index(path)
    if kind == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = HNSW_EF_SEARCH
    return index
