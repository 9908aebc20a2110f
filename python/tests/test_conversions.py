"""float16 / bfloat16 embeddings are converted to float32 and non-contiguous
arrays copied, so that they give exactly what the float32 contiguous array
gives; the package and its extension agree on the version."""
import os
import re

import numpy as np
import pytest

import batchsampler as bs
from conftest import clustered, take

N, B = 400, 40
ARGS = dict(M=60, K=6, refresh_every=3, warmup_epochs=0, seed=2,
            embedding_dim=16)


def stream(convert, steps=12):
    """Batches of a sampler fed converted rows; also the rows as float32."""
    x, _ = clustered(N, 16, seed=4)
    s = bs.BatchSampler(N, B, **ARGS)
    s.update(np.arange(N), convert(x))
    out = []
    for _ in range(steps):
        b = take(s, 1)[0]
        out.append(b)
        s.update(b, convert(x[b]))
    return out, s.graph.to_arrays()


def half_np(x):
    return x.astype(np.float16)


def as_f32_of_half(x):
    return x.astype(np.float16).astype(np.float32)


def test_numpy_float16_is_float32_of_the_same_values():
    a, ga = stream(half_np)
    b, gb = stream(as_f32_of_half)
    assert a == b
    assert all((u == v).all() for u, v in zip(ga, gb))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_torch_half_types_are_converted(dtype):
    torch = pytest.importorskip("torch")
    dt = getattr(torch, dtype)
    a, ga = stream(lambda x: torch.from_numpy(x).to(dt))
    b, gb = stream(lambda x: torch.from_numpy(x).to(dt).float().numpy())
    assert a == b
    assert all((u == v).all() for u, v in zip(ga, gb))
    # a half-type graph build and batch_stats as well
    x, y = clustered(N, 16, seed=1)
    g1 = bs.ProximityGraph.build(torch.from_numpy(x).to(dt), M=60, K=6)
    g2 = bs.ProximityGraph.build(torch.from_numpy(x).to(dt).float(), M=60, K=6)
    assert all((u == v).all() for u, v in zip(g1.to_arrays(), g2.to_arrays()))


def test_non_contiguous_arrays_are_copied():
    torch = pytest.importorskip("torch")
    x, y = clustered(N, 16, seed=1)
    wide = np.repeat(x, 2, axis=1)[:, ::2]  # same values, strided
    assert not wide.flags["C_CONTIGUOUS"]
    g1 = bs.ProximityGraph.build(x, M=60, K=6)
    for v in (wide, np.asfortranarray(x), torch.from_numpy(x.T.copy()).t()):
        g2 = bs.ProximityGraph.build(v, M=60, K=6)
        assert all((u == w).all() for u, w in zip(g1.to_arrays(), g2.to_arrays()))
    a, _ = stream(lambda r: np.asfortranarray(r))
    b, _ = stream(lambda r: r)
    assert a == b
    ids = np.arange(20, dtype=np.int64)[::2]  # strided ids
    st = bs.batch_stats(x, ids, labels=y)
    assert st == bs.batch_stats(x, ids.copy(), labels=y)


def test_other_dtypes_still_refused():
    x, _ = clustered(N, 16, seed=1)
    s = bs.BatchSampler(N, B, **ARGS)
    with pytest.raises(TypeError, match="float64"):
        s.update(np.arange(10), x[:10].astype(np.float64))
    with pytest.raises(TypeError, match="int32"):
        s.update(np.arange(10), x[:10].astype(np.int32))


def test_version_of_package_and_extension_agree():
    header = os.path.join(os.path.dirname(__file__), "..", "..", "include",
                          "batchsampler.h")
    with open(header) as f:
        want = re.search(r'#define BS_VERSION_STRING "([^"]+)"', f.read()).group(1)
    assert bs.__version__ == want
    assert bs._batchsampler.__version__ == want
    assert bs._batchsampler.version() == want
