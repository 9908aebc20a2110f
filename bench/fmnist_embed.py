#!/usr/bin/env python3
"""fmnist_embed.py OUT_DIR [N] [DIM] — writes Fashion-MNIST training images as
an (N, DIM) float32 embedding (centred pixels times a fixed seeded Gaussian
projection, as `batchsampler demo` does) and int64 labels, for the benchmark
scripts.  Reads Debian's dataset-fashion-mnist; run with /usr/bin/python3."""
import gzip
import os
import sys

import numpy as np

SRC = "/usr/share/datasets/fashion-mnist"


def idx(path, magic):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        sys.exit(f"{path}: magic {got:#x}, expected {magic:#x}")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 60000
    dim = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    x = idx(f"{SRC}/train-images-idx3-ubyte.gz", 0x803)[:n].reshape(n, -1)
    y = idx(f"{SRC}/train-labels-idx1-ubyte.gz", 0x801)[:n].astype(np.int64)
    x = x.astype(np.float32) / 255.0
    x -= x.mean(axis=0, keepdims=True)
    if dim > 0:
        proj = np.random.default_rng(1).standard_normal((x.shape[1], dim))
        x = (x @ proj.astype(np.float32)) / np.sqrt(dim)
    os.makedirs(out, exist_ok=True)
    np.save(f"{out}/X.npy", np.ascontiguousarray(x, dtype=np.float32))
    np.save(f"{out}/y.npy", y)


if __name__ == "__main__":
    main()
