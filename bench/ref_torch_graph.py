#!/usr/bin/env python3
"""PyTorch version of the reference proximity-graph build (independent mode):
every node draws its own M candidates with torch.randint, gathers them,
scores them with a batched matmul and keeps the top K.  This is what the
BatchSampler reference code does; bench_graph's independent mode is timed
against it.

    /usr/bin/python3 bench/ref_torch_graph.py --n 50000 [--d 128 --m 1000
        --k 100 --threads 2 --batch 256]

Prints one line: "torch_independent N seconds".
"""
import argparse
import time

import numpy as np
import torch


def clustered(n, d, clusters, seed):
    rng = np.random.default_rng(seed)
    cent = rng.standard_normal((clusters, d)).astype(np.float32) / np.sqrt(d)
    lab = rng.integers(0, clusters, n)
    x = cent[lab] + 0.5 * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    return torch.from_numpy(x.astype(np.float32))


def build(x, m, k, batch, gen):
    n = x.shape[0]
    xn = torch.nn.functional.normalize(x, dim=1)
    nbr = torch.empty((n, k), dtype=torch.int64)
    sim = torch.empty((n, k), dtype=torch.float32)
    for s in range(0, n, batch):
        e = min(n, s + batch)
        rows = torch.arange(s, e)
        # M candidates per node from the other n-1 (shift ids >= i by one)
        cand = torch.randint(0, n - 1, (e - s, m), generator=gen)
        cand += (cand >= rows[:, None]).long()
        c = xn[cand]                                   # (b, M, d)
        q = xn[s:e].unsqueeze(2)                       # (b, d, 1)
        sc = torch.bmm(c, q).squeeze(2)                # (b, M)
        v, j = sc.topk(k, dim=1)
        nbr[s:e] = cand.gather(1, j)
        sim[s:e] = v
    return nbr, sim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--m", type=int, default=1000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--clusters", type=int, default=100)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = clustered(a.n, a.d, a.clusters, 1)
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    build(x, a.m, a.k, a.batch, gen)
    t = time.perf_counter() - t0
    print(f"torch_independent {a.n} {t:.3f}")


if __name__ == "__main__":
    main()
