#!/usr/bin/env python3
"""Per-batch cost of iterating batchsampler.BatchSampler from Python, against
torch.utils.data.BatchSampler(RandomSampler(...)), and the cost of update().

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_python.py [--n 50000]
        [--batch-size 256] [--dim 128] [--M 1000] [--K 100] [--threads 2]

Rows (time per batch, or per call, median of --repeat runs):
  torch          torch BatchSampler(RandomSampler(range(n)), B)
  uniform        BatchSampler(sampler="uniform")
  rwr            BatchSampler(sampler="rwr") walking a fixed graph
  rwr+refresh    the same with a graph rebuild every --refresh-every batches
                 (the rebuild amortised over them)
  update(np)     update(idx, z) with numpy int64 / float32 (B, d)
  update(torch)  the same with torch tensors (detach + .numpy())
  graph build    one refresh: bs_graph_build over the (n, d) store
  stall lag=0    the longest next() in a training loop of --step-ms steps
                 with synchronous rebuilds (refresh_lag=0): the whole build
  stall lag=L    the same with refresh_lag=--lag: the rebuild runs in the
                 background during the next L steps, so next() only waits
                 when a build takes longer than L steps
"""
import argparse
import statistics
import sys
import time

import numpy as np

import batchsampler


def per_batch(it_factory, batches, repeat):
    """Median seconds per batch over `repeat` runs of `batches` batches."""
    times = []
    for _ in range(repeat):
        it = it_factory()
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)
        times.append((time.perf_counter() - t0) / batches)
    return statistics.median(times)


def cycle(sampler):
    """Endless batches (crossing epochs)."""
    while True:
        yield from sampler


def main():
    ap = argparse.ArgumentParser(description="Python-level sampler overhead")
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--M", type=int, default=1000)
    ap.add_argument("--K", type=int, default=100)
    ap.add_argument("--refresh-every", type=int, default=100)
    ap.add_argument("--batches", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lag", type=int, default=16)
    ap.add_argument("--step-ms", type=float, default=20.0,
                    help="simulated training step (sleeps: releases the GIL)")
    ap.add_argument("--stall-batches", type=int, default=250)
    args = ap.parse_args()
    n, B, d = args.n, args.batch_size, args.dim

    try:
        import torch
        from torch.utils.data import BatchSampler, RandomSampler

        torch.set_num_threads(args.threads)
    except ImportError:  # pragma: no cover
        torch = None

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    rows = []  # (name, seconds, unit)

    if torch is not None:
        tb = BatchSampler(RandomSampler(range(n)), B, drop_last=False)
        rows.append(("torch", per_batch(lambda: cycle(tb), args.batches, args.repeat), "batch"))

    uni = batchsampler.BatchSampler(n, B, sampler="uniform", seed=1)
    rows.append(("uniform", per_batch(lambda: cycle(uni), args.batches, args.repeat), "batch"))

    def graph_sampler(refresh_every, lag=0):
        s = batchsampler.BatchSampler(n, B, M=args.M, K=args.K, warmup_epochs=0,
                                      refresh_every=refresh_every, seed=1,
                                      threads=args.threads, refresh_lag=lag)
        for lo in range(0, n, 4096):
            idx = np.arange(lo, min(n, lo + 4096))
            s.update(idx, x[idx])
        return s

    # graph build (one refresh), timed through the public API
    t0 = time.perf_counter()
    batchsampler.ProximityGraph.build(x, M=args.M, K=args.K, seed=1, threads=args.threads)
    build_s = time.perf_counter() - t0

    rwr = graph_sampler(10 ** 9)
    next(iter(rwr))  # first build happens here
    rows.append(("rwr", per_batch(lambda: cycle(rwr), args.batches, args.repeat), "batch"))

    rr = graph_sampler(args.refresh_every)
    it = cycle(rr)
    next(it)
    ids = np.arange(B, dtype=np.int64)
    zb = x[:B].copy()

    def refreshing():
        # one update per batch so that every refresh point really rebuilds
        for b in it:
            rr.update(ids, zb)
            yield b

    nb = max(args.batches, 2 * args.refresh_every)
    rows.append(("rwr+refresh", per_batch(refreshing, nb, 1), "batch"))

    # update() cost
    s = graph_sampler(10 ** 9)
    idx = rng.integers(0, n, size=B).astype(np.int64)
    z = rng.standard_normal((B, d)).astype(np.float32)

    def time_calls(fn, calls=2000):
        best = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best.append((time.perf_counter() - t0) / calls)
        return statistics.median(best)

    rows.append(("update(np)", time_calls(lambda: s.update(idx, z)), "call"))
    if torch is not None:
        ti = torch.from_numpy(idx)
        tz = torch.from_numpy(z).requires_grad_(True) * 1.0  # a graph-attached tensor
        rows.append(("update(torch)", time_calls(lambda: s.update(ti, tz)), "call"))
    rows.append(("graph build", build_s, "refresh"))

    def stall(lag):
        """Longest next() over a loop that trains --step-ms per batch."""
        st = graph_sampler(args.refresh_every, lag)
        it = cycle(st)
        worst = 0.0
        for _ in range(args.stall_batches):
            t0 = time.perf_counter()
            b = next(it)
            worst = max(worst, time.perf_counter() - t0)
            st.update(b, x[b])
            time.sleep(args.step_ms / 1000.0)
        return worst

    rows.append(("stall lag=0", stall(0), "worst"))
    rows.append(("stall lag=%d" % args.lag, stall(args.lag), "worst"))

    base = rows[0][1] if rows[0][0] == "torch" else None
    print("batchsampler %s: n=%d B=%d d=%d M=%d K=%d refresh_every=%d threads=%d"
          % (batchsampler.__version__, n, B, d, args.M, args.K, args.refresh_every,
             args.threads))
    print("%-14s %12s %-8s %10s" % ("what", "time", "per", "vs torch"))
    for name, sec, unit in rows:
        if sec >= 1e-2:
            t = "%9.3f s " % sec
        else:
            t = "%9.2f us" % (sec * 1e6)
        ratio = "%9.2fx" % (sec / base) if base and unit == "batch" else "%10s" % "-"
        print("%-14s %12s %-8s %s" % (name, t, unit, ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
