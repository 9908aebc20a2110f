#!/usr/bin/env python3
"""FAISS exact kNN graph (IndexFlatIP on normalised rows, search K+1 to
drop the node itself): the baseline for bench_graph's exact mode.

    /usr/bin/python3 bench/ref_faiss_exact.py --n 50000 [--d 128 --k 100
        --threads 2]

Prints one line: "faiss_exact N seconds" (normalise + add + search).
"""
import argparse
import time

import faiss
import numpy as np


def clustered(n, d, clusters, seed):
    rng = np.random.default_rng(seed)
    cent = rng.standard_normal((clusters, d)).astype(np.float32) / np.sqrt(d)
    lab = rng.integers(0, clusters, n)
    x = cent[lab] + 0.5 * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    return np.ascontiguousarray(x, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clusters", type=int, default=100)
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)
    x = clustered(a.n, a.d, a.clusters, 1)
    t0 = time.perf_counter()
    xn = x.copy()
    faiss.normalize_L2(xn)
    index = faiss.IndexFlatIP(a.d)
    index.add(xn)
    _, ids = index.search(xn, a.k + 1)
    t = time.perf_counter() - t0
    # drop self (normally column 0; exact duplicates may reorder it)
    n_self = int((ids == np.arange(a.n)[:, None]).any(axis=1).sum())
    print(f"faiss_exact {a.n} {t:.3f}  (self found in {n_self} rows)")


if __name__ == "__main__":
    main()
