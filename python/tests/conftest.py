"""Shared fixtures of the batchsampler Python tests.

Run with the built package first on the path:
    PYTHONPATH=build-py/python /usr/bin/python3 -m pytest -q python/tests
"""
import numpy as np
import pytest


def clustered(n=600, d=16, clusters=10, seed=0, noise=0.3):
    """float32 (n, d) embeddings in `clusters` tight groups, and labels."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d)).astype(np.float32)
    labels = rng.integers(0, clusters, size=n).astype(np.int64)
    x = centers[labels] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32), labels


@pytest.fixture
def data():
    return clustered()


def feed_all(sampler, x, chunk=64):
    """update() every row of x, in chunks, as a training loop would (with
    W > 1 simulated ranks in one process: rows of all ranks, gathered)."""
    n = x.shape[0]
    for lo in range(0, n, chunk):
        idx = np.arange(lo, min(n, lo + chunk), dtype=np.int64)
        sampler.update(idx, x[idx], gathered=True)


def take(sampler, count):
    """The next `count` batches, crossing epochs."""
    out = []
    while len(out) < count:
        for b in sampler:
            out.append(b)
            if len(out) == count:
                break
    return out


def fake_rows(ids, s, d):
    """Row(i, s)[j] of tests/batcher_stream.c: deterministic projections of
    ids at step s, exact in float32, never a zero row, moving with s."""
    i = np.asarray(ids, dtype=np.int64)[:, None]
    j = np.arange(d, dtype=np.int64)[None, :]
    center = (13 * (i % 10) + 7 * j) % 17 - 8
    noise = (37 * i + 11 * j + 5 * s) % 29 - 14
    return (2 * (4 * center + noise) + 1).astype(np.float32) / np.float32(16)
