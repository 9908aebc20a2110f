"""The same settings give the same batches from C (bs_batcher, through
tests/batcher_stream.c) and from the Python BatchSampler, fed the same
updates; and the low-level Batcher type."""
import os
import pathlib
import subprocess
import warnings

import numpy as np
import pytest

import batchsampler as bs
from batchsampler import _batchsampler as _bs
from conftest import fake_rows


def stream_binary():
    exe = os.environ.get("BS_BATCHER_STREAM")
    if exe:
        return exe
    # a build tree: <build>/python/batchsampler/__init__.py -> <build>/tests
    guess = pathlib.Path(bs.__file__).resolve().parents[2] / "tests" / "batcher_stream"
    if guess.exists():
        return str(guess)
    pytest.skip("tests/batcher_stream not built (set BS_BATCHER_STREAM)")


def run_c(tmp_path, steps, n, b, dim, **kw):
    out, meta = tmp_path / "s.npy", tmp_path / "m.npy"
    args = [stream_binary(), "out=%s" % out, "meta=%s" % meta,
            "steps=%d" % steps, "n=%d" % n, "b=%d" % b, "dim=%d" % dim]
    args += ["%s=%s" % (k, v) for k, v in kw.items()]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return np.load(out), np.load(meta)


def run_py(steps, n, b, dim, embedding_dim, *, kind="rwr", alpha=0.2,
           schedule="constant", epoch_mode="fixed", bpe=0, seed=0, mode="shared",
           m=1000, k=100, warmup=1, refresh_every=100, lag=0):
    s = bs.BatchSampler(n, b, sampler=kind, alpha=alpha, alpha_schedule=schedule,
                        epoch_mode=epoch_mode, batches_per_epoch=bpe or None,
                        seed=seed, mode=mode, M=m, K=k, warmup_epochs=warmup,
                        refresh_every=refresh_every, refresh_lag=lag,
                        embedding_dim=embedding_dim)
    batches, meta = [], []
    # with batches_per_epoch < N / B some rows are still unwritten after
    # warm-up: the sampler says so (the C batcher waits the same way)
    warnings.simplefilter("ignore", RuntimeWarning)
    for epoch in range(10 ** 6):
        s.set_epoch(epoch)  # the usual loop: a no-op here
        for batch in s:
            step = len(batches)
            meta.append((epoch, int(s.last_from_graph), s.num_graph_builds))
            batches.append(batch)
            s.update(np.asarray(batch, dtype=np.int64), fake_rows(batch, step, dim))
            if len(batches) == steps:
                return np.array(batches, dtype=np.int64), np.array(meta), s


CASES = {
    # rwr, warm-up 1, small t, each epoch mode, lag 0 and 2
    "fixed-lag0": dict(epoch_mode="fixed", lag=0),
    "fixed-lag2": dict(epoch_mode="fixed", lag=2),
    "carry-lag0": dict(epoch_mode="carry", lag=0, bpe=7),
    "carry-lag2": dict(epoch_mode="carry", lag=2, bpe=7),
    "exact-lag0": dict(epoch_mode="exact", lag=0),
    "exact-lag2": dict(epoch_mode="exact", lag=2, bpe=9),
    "knn-exact-graph": dict(kind="knn", mode="exact", k=6, lag=1),
    "rwr-independent-reference": dict(mode="independent", schedule="reference",
                                      alpha=0.3, warmup=0, lag=3),
    "uniform": dict(kind="uniform"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dim_known", [True, False])
def test_c_and_python_give_the_same_batches(tmp_path, case, dim_known):
    n, b, dim, steps = 300, 32, 8, 70  # 10 batches per epoch: 7 epochs
    kw = dict(seed=5, m=60, k=8, refresh_every=3, warmup=1)
    kw.update(CASES[case])
    c_batches, c_meta = run_c(tmp_path, steps, n, b, dim, **kw)
    p_batches, p_meta, s = run_py(steps, n, b, dim, dim if dim_known else None, **kw)
    assert c_batches.shape == (steps, b)
    assert np.array_equal(c_batches, p_batches)
    assert np.array_equal(c_meta, p_meta)
    if kw.get("kind", "rwr") != "uniform":
        # graphs were built, used and refreshed
        assert c_meta[-1, 2] >= 3 and c_meta[:, 1].sum() > steps // 2


def test_lag_changes_when_graphs_arrive_not_what_they_are(tmp_path):
    n, b, dim, steps = 300, 32, 8, 40
    kw = dict(seed=5, m=60, k=8, refresh_every=4, warmup=1)
    _, m0 = run_c(tmp_path, steps, n, b, dim, lag=0, **kw)
    _, m2 = run_c(tmp_path, steps, n, b, dim, lag=2, **kw)
    # lag 0: the first graph batch is the first batch of epoch 1; lag 2: two
    # more uniform batches while the first graph is being built
    first0 = int(np.argmax(m0[:, 1]))
    first2 = int(np.argmax(m2[:, 1]))
    assert first0 == 10 and first2 == 12


# ---------------------------------------------------------------- Batcher


def batcher(**kw):
    args = dict(kind="rwr", m=60, k=8, dim=8, refresh_every=3, seed=1)
    args.update(kw)
    return _bs.Batcher(300, 32, **args)


def test_batcher_type_basics():
    b = batcher(warmup_epochs=0, history=4)
    assert (b.n, b.batch_size, b.dim, b.epoch_length) == (300, 32, 8, 10)
    assert b.graph is None and b.written == 0 and b.alpha is None
    ids = list(range(300))
    b.update(np.arange(300), fake_rows(ids, 0, 8))
    assert b.written == 300 and b.store_version == 1
    batch = b.next()
    assert len(set(batch)) == 32 and b.last_from_graph and b.builds == 1
    g = b.graph
    assert g is b.graph  # cached while the graph in force is the same
    assert (g.n, g.k) == (300, 8) and g.params["seed"] == _bs.graph_seed(1, 0)
    assert b.alpha == pytest.approx(0.2)
    assert (b.position, b.epoch, b.batch_index) == (1, 0, 1)
    for _ in range(12):
        b.next()
    assert (b.position, b.epoch, b.batch_index) == (13, 1, 3)
    assert set(b.times) == {"build_s", "wait_s", "sample_s"}
    blob = b.save_state(at=10)
    c = batcher(warmup_epochs=0, history=4)
    c.load_state(blob)
    assert c.position == 10
    b.set_epoch(1)  # back to position 10, same graph, same sampler state
    assert [c.next() for _ in range(5)] == [b.next() for _ in range(5)]
    with pytest.raises(ValueError):
        b.save_state(at=0)  # beyond the history
    with pytest.raises(ValueError):
        batcher(warmup_epochs=0, history=4, seed=2).load_state(blob)
    with pytest.raises(ValueError):
        c.load_state(b"garbage")


BAD_BATCHER = [
    dict(epoch_mode="bogus"),
    dict(schedule="bogus"),
    dict(kind="bogus"),
    dict(mode="bogus"),
    dict(refresh_lag=-1),
    dict(history=-1),
    dict(refresh_every=0),
    dict(warmup_epochs=-1),
    dict(dim=0),
    dict(alpha=1.0),
    dict(m=300),
    dict(threads=100000),
]


@pytest.mark.parametrize("kw", BAD_BATCHER, ids=[str(k) for k in BAD_BATCHER])
def test_batcher_rejects(kw):
    with pytest.raises(ValueError):
        batcher(**kw)


def test_batcher_update_rejects():
    b = batcher()
    with pytest.raises(ValueError, match="expected \\(2, 8\\)"):
        b.update(np.array([0, 1]), np.ones((2, 4), dtype=np.float32))
    y = np.ones((2, 8), dtype=np.float32)
    y[1, 3] = np.inf
    with pytest.raises(ValueError):
        b.update(np.array([0, 1]), y)
    with pytest.raises(ValueError):
        b.update(np.array([0, 300]), np.ones((2, 8), dtype=np.float32))
    with pytest.raises(TypeError):
        b.update(np.array([0, 1]), np.ones((2, 8), dtype=np.float64))
    assert b.written == 0 and b.store_version == 0


def test_gil_released_while_next_builds_a_graph():
    import threading
    import time

    from conftest import clustered

    x, _ = clustered(20000, 64, clusters=50, seed=4)
    b = _bs.Batcher(20000, 256, m=1000, k=50, dim=64, warmup_epochs=0,
                    threads=1, seed=1)
    b.update(np.arange(20000), x)
    state = {"in": False, "done": False, "dur": 0.0}

    def first_batch():  # builds the first graph inside next()
        state["in"] = True
        t0 = time.perf_counter()
        b.next()
        state["dur"] = time.perf_counter() - t0
        state["done"] = True

    t = threading.Thread(target=first_batch)
    t.start()
    first = last = None
    while not state["done"]:
        if state["in"]:
            now = time.perf_counter()
            first = now if first is None else first
            last = now
    t.join()
    assert b.builds == 1 and b.last_from_graph
    assert state["dur"] > 0.02, "build too fast to tell"
    assert first is not None and last - first > 0.5 * state["dur"]
