"""ProximityGraph, batch_stats, run_stats."""
import os

import numpy as np
import pytest

import batchsampler as bs
from conftest import clustered


def test_version():
    assert bs.__version__.count(".") == 2


def test_build_neighbors_sorted_not_self(data):
    x, _ = data
    g = bs.ProximityGraph.build(x, M=100, K=10, mode="independent", seed=3)
    assert (g.n, g.k, len(g)) == (600, 10, 600)
    assert g.params["mode"] == "independent" and g.params["m"] == 100
    for i in (0, 17, 599):
        ids, sims = g.neighbors(i)
        assert ids.dtype == np.int32 and sims.dtype == np.float32
        assert ids.shape == sims.shape == (10,)
        assert i not in ids.tolist()
        assert len(set(ids.tolist())) == 10
        assert np.all(np.diff(sims) <= 0)
        # similarities are the cosines of the listed neighbours
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        np.testing.assert_allclose(sims, xn[ids] @ xn[i], atol=1e-4)
    with pytest.raises(IndexError):
        g.neighbors(600)


def test_exact_mode_is_knn(data):
    x, _ = data
    g = bs.ProximityGraph.build(x, K=5, mode="exact")
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = xn @ xn.T
    np.fill_diagonal(s, -np.inf)
    for i in (0, 100, 333):
        ids, _ = g.neighbors(i)
        top = np.sort(s[i])[::-1][:5]
        np.testing.assert_allclose(np.sort(s[i, ids])[::-1], top, atol=1e-5)


def test_build_deterministic_and_thread_count_independent(data):
    x, _ = data
    a = bs.ProximityGraph.build(x, M=50, K=8, seed=1, threads=1).to_arrays()
    b = bs.ProximityGraph.build(x, M=50, K=8, seed=1, threads=2).to_arrays()
    c = bs.ProximityGraph.build(x, M=50, K=8, seed=2).to_arrays()
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_save_load_roundtrip(data, tmp_path):
    x, _ = data
    g = bs.ProximityGraph.build(x, M=60, K=6, seed=5)
    p = tmp_path / "g.bsg"
    g.save(p)
    h = bs.ProximityGraph.load(str(p))
    assert (h.n, h.k) == (g.n, g.k)
    assert h.params == g.params
    for a, b in zip(g.to_arrays(), h.to_arrays()):
        assert np.array_equal(a, b)
    # from_arrays round trip
    nbr, sim = g.to_arrays()
    f = bs.ProximityGraph.from_arrays(nbr, sim, mode="shared", M=60, seed=5)
    assert np.array_equal(f.to_arrays()[0], nbr)


def test_load_errors(tmp_path):
    with pytest.raises(OSError):
        bs.ProximityGraph.load(tmp_path / "missing.bsg")
    bad = tmp_path / "bad.bsg"
    bad.write_bytes(b"not a graph at all" * 10)
    with pytest.raises(ValueError):
        bs.ProximityGraph.load(bad)
    with pytest.raises(OSError):
        g = bs.ProximityGraph.build(clustered(50, 4)[0], M=10, K=3)
        g.save(tmp_path / "no" / "such" / "dir" / "g.bsg")


def test_from_arrays_validates():
    nbr = np.array([[1], [0], [0]], dtype=np.int32)
    g = bs.ProximityGraph.from_arrays(nbr, M=1)
    assert g.n == 3 and g.k == 1
    with pytest.raises(ValueError):
        bs.ProximityGraph.from_arrays(np.array([[0], [0], [0]], dtype=np.int32))  # self loop
    with pytest.raises(ValueError):
        bs.ProximityGraph.from_arrays(np.array([[5], [0], [0]], dtype=np.int32))  # out of range
    with pytest.raises(TypeError):
        bs.ProximityGraph.from_arrays(nbr.astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1.5, -2.0])
def test_from_arrays_rejects_bad_similarities(bad, tmp_path):
    nbr = np.array([[1], [0], [0]], dtype=np.int32)
    sim = np.array([[0.5], [0.25], [0.0]], dtype=np.float32)
    bs.ProximityGraph.from_arrays(nbr, sim).save(tmp_path / "ok.bsg")
    sim[1, 0] = bad
    with pytest.raises(ValueError, match="row 1 similarity 0"):
        bs.ProximityGraph.from_arrays(nbr, sim)


def test_from_arrays_rejects_bad_parameters():
    nbr = np.array([[1], [0], [0]], dtype=np.int32)
    with pytest.raises(ValueError, match="M = -5"):
        bs.ProximityGraph.from_arrays(nbr, M=-5)
    with pytest.raises(ValueError, match="M = 3"):
        bs.ProximityGraph.from_arrays(nbr, M=3)  # M >= n
    with pytest.raises(ValueError, match="block = -1"):
        bs.ProximityGraph.from_arrays(nbr, block=-1)
    bs.ProximityGraph.from_arrays(nbr, M=0)  # 0: not known
    bs.ProximityGraph.from_arrays(nbr, mode="exact", M=0)


def test_dtype_names_in_messages(data):
    x, _ = data
    # numpy float16 is converted; a bare float16 buffer is refused by name
    with pytest.raises(TypeError, match="float16") as e:
        bs.ProximityGraph.build(memoryview(x.astype(np.float16)), M=50, K=5)
    assert "got e" not in str(e.value)
    with pytest.raises(TypeError, match="uint8"):
        bs.batch_stats(x, np.arange(5, dtype=np.uint8))


def test_m_at_least_n_names_the_python_argument(data):
    x, _ = data
    with pytest.raises(ValueError, match='mode="exact"') as e:
        bs.ProximityGraph.build(x, M=len(x), K=5)
    assert "--mode" not in str(e.value)


@pytest.mark.parametrize(
    "make, exc",
    [
        (lambda x: x.astype(np.float64), TypeError),
        (lambda x: x.astype(np.int32), TypeError),
        (lambda x: x.tolist(), TypeError),
        (lambda x: "embeddings", TypeError),
        (lambda x: memoryview(x[:, ::2]), ValueError),  # non-contiguous buffer
        (lambda x: memoryview(x.T), ValueError),  # Fortran order buffer
        (lambda x: x.ravel(), ValueError),  # 1-D
        (lambda x: x[None], ValueError),  # 3-D
        (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x).astype(np.float32), ValueError),
        (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 9, np.inf, x).astype(np.float32), ValueError),
        (lambda x: np.vstack([x[:5], np.zeros((1, x.shape[1]), np.float32), x[5:]]), ValueError),
    ],
)
def test_build_rejects(data, make, exc):
    x, _ = data
    with pytest.raises(exc):
        bs.ProximityGraph.build(make(x), M=50, K=5)


def test_build_messages(data):
    x, _ = data
    y = x.copy()
    y[3, 2] = np.nan
    with pytest.raises(ValueError, match="3"):  # names the bad row
        bs.ProximityGraph.build(y, M=50, K=5)
    with pytest.raises(ValueError, match="M"):
        bs.ProximityGraph.build(x, M=5, K=50)
    with pytest.raises(ValueError, match="M"):
        bs.ProximityGraph.build(x, M=600, K=5)
    with pytest.raises(ValueError, match="mode"):
        bs.ProximityGraph.build(x, M=50, K=5, mode="bogus")
    with pytest.raises(TypeError):
        bs.ProximityGraph.build(x, M=50, K=5, bogus=1)


def test_torch_tensor_input(data):
    torch = pytest.importorskip("torch")
    x, _ = data
    t = torch.from_numpy(x).requires_grad_(True)
    g = bs.ProximityGraph.build(t, M=50, K=5, seed=1)
    h = bs.ProximityGraph.build(x, M=50, K=5, seed=1)
    assert np.array_equal(g.to_arrays()[0], h.to_arrays()[0])
    with pytest.raises(ValueError):
        bs.ProximityGraph.build(torch.from_numpy(x).t(), M=50, K=5)
    with pytest.raises(TypeError):
        bs.ProximityGraph.build(torch.from_numpy(x).double(), M=50, K=5)


def test_batch_stats(data):
    x, y = data
    batch = list(range(0, 64))
    s = bs.batch_stats(x, batch)
    assert s["pairs"] == 64 * 63 // 2
    assert s["fn_rate"] is None
    assert -1.0 <= s["mean_sim"] <= s["mean_max_sim"] <= s["max_sim"] <= 1.0001
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = xn[batch] @ xn[batch].T
    iu = np.triu_indices(64, 1)
    assert s["mean_sim"] == pytest.approx(sims[iu].mean(), abs=1e-4)
    assert s["max_sim"] == pytest.approx(sims[iu].max(), abs=1e-4)
    t = bs.batch_stats(x, np.array(batch), labels=y)
    same = (y[batch][:, None] == y[batch][None, :])[iu].mean()
    assert t["fn_rate"] == pytest.approx(same, abs=1e-9)
    with pytest.raises(TypeError):
        bs.batch_stats(x, np.array(batch, dtype=np.float64))
    with pytest.raises(ValueError):
        bs.batch_stats(x, [1, 1, 2])  # not distinct
    with pytest.raises(ValueError):
        bs.batch_stats(x, [0, 600])  # out of range
    with pytest.raises(ValueError):
        bs.batch_stats(x, batch, labels=y[:10])


def test_run_stats(data):
    x, y = data
    batches = np.arange(600, dtype=np.int64).reshape(10, 60)
    r = bs.run_stats(x, batches, labels=y)
    assert r["batches"] == 10
    assert r["count_min"] == r["count_max"] == 1 and r["never_seen"] == 0
    assert 0.0 <= r["fn_rate"] <= 1.0
