"""BatchSampler: protocol, determinism, refresh, sharding, resume, errors."""
import io
import math
import pickle

import numpy as np
import pytest

import batchsampler as bs
from conftest import clustered, feed_all, take

N = 600


def make(num_samples=N, batch_size=32, **kw):
    args = dict(M=60, K=8, refresh_every=5, warmup_epochs=0, seed=7)
    args.update(kw)
    return bs.BatchSampler(num_samples, batch_size, **args)


@pytest.mark.parametrize("sampler", ["uniform", "rwr", "knn"])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("world", [1, 3])
def test_len_exact_and_batches_valid(data, sampler, drop_last, world):
    x, _ = data
    B = 50
    s = make(batch_size=B, sampler=sampler, drop_last=drop_last, world_size=world,
             mode="exact" if sampler == "knn" else "shared")
    expect = (N // (world * B)) if drop_last else math.ceil(N / (world * B))
    assert len(s) == expect
    feed_all(s, x)
    for epoch in range(2):
        batches = list(s)
        assert len(batches) == expect
        for b in batches:
            assert isinstance(b, list) and len(b) == B
            assert all(type(i) is int and 0 <= i < N for i in b)
            assert len(set(b)) == B
        assert s.epoch == epoch + 1
    if sampler != "uniform":
        assert s.num_graph_builds >= 1 and s.using_graph


def test_uniform_epoch_covers_everything():
    s = make(sampler="uniform", batch_size=50)
    seen = [i for b in s for i in b]
    assert sorted(seen) == list(range(N))


def test_rwr_epoch_has_fixed_length(data):
    x, _ = data
    s = make(batch_size=64)  # ceil(600/64) = 10 batches = 640 slots
    feed_all(s, x)
    seen = [i for b in s for i in b]
    assert len(seen) == 640 and s.using_graph
    # a walk revisits covered nodes, so coverage after len() batches is
    # partial: the epoch ends on the count, not on coverage
    assert len(set(seen)) > 64


def test_determinism_under_seed(data):
    x, _ = data

    def run(seed):
        s = make(seed=seed, batch_size=40)
        out = []
        for epoch in range(3):
            s.set_epoch(epoch)
            for b in s:
                out.append(b)
                s.update(b, x[b] * (1.0 + 0.01 * epoch))
        return out, s.num_graph_builds

    a, na = run(7)
    b, nb = run(7)
    c, _ = run(8)
    assert a == b and na == nb and na >= 2
    assert a != c


def test_warmup_is_uniform(data):
    x, _ = data
    s = make(warmup_epochs=1, batch_size=40)
    u = make(sampler="uniform", batch_size=40)
    feed_all(s, x)
    assert list(s) == list(u)  # epoch 0: uniform, even with embeddings
    assert s.num_graph_builds == 0 and s.graph is None
    e1 = list(s)
    assert s.num_graph_builds >= 1
    assert e1 != list(u)


def test_no_update_falls_back_to_uniform():
    s = make(batch_size=40, warmup_epochs=0)
    u = make(sampler="uniform", batch_size=40)
    assert list(s) == list(u)
    with pytest.warns(RuntimeWarning, match="never written"):
        b1 = list(s)
    assert b1 == list(u)
    assert s.graph is None


def test_refresh_changes_graph(data):
    x, _ = data
    s = make(batch_size=40, refresh_every=3, mode="exact", K=5)
    feed_all(s, x)
    next(iter(s))
    assert s.num_graph_builds == 1
    g1 = s.graph
    # the graph is the exact kNN graph of x
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    ids, _ = g1.neighbors(0)
    assert set(ids.tolist()) == set(np.argsort(-(xn @ xn[0]))[1:6].tolist())
    # new embeddings: a random permutation of the rows
    perm = np.random.default_rng(1).permutation(N)
    y = np.ascontiguousarray(x[perm])
    feed_all(s, y)
    take(s, 2)
    assert s.num_graph_builds == 1  # refresh_every = 3 batches not reached
    take(s, 1)
    assert s.num_graph_builds == 2
    g2 = s.graph
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    changed = 0
    for i in range(0, N, 50):
        a, _ = g1.neighbors(i)
        b, _ = g2.neighbors(i)
        assert set(b.tolist()) == set(np.argsort(-(yn @ yn[i]))[1:6].tolist())
        changed += set(a.tolist()) != set(b.tolist())
    assert changed >= 10
    # no new embeddings: no rebuild
    take(s, 10)
    assert s.num_graph_builds == 2
    s.update([0], y[:1])
    take(s, 1)
    assert s.num_graph_builds == 3


def test_rwr_batches_are_harder_than_uniform():
    x, y = clustered(N, 16, clusters=20, noise=0.2, seed=3)
    s = make(batch_size=30, alpha=0.1, K=10, M=100)
    u = make(sampler="uniform", batch_size=30)
    feed_all(s, x)
    rs = bs.run_stats(x, np.array(list(s)), labels=y)
    ru = bs.run_stats(x, np.array(list(u)), labels=y)
    assert rs["mean_sim"] > ru["mean_sim"] + 0.05
    assert rs["fn_rate"] > ru["fn_rate"]


@pytest.mark.parametrize("sampler", ["uniform", "rwr"])
def test_sharding_disjoint_union_is_global_batch(data, sampler):
    x, _ = data
    W, B = 3, 20
    ranks = [make(sampler=sampler, rank=r, world_size=W, batch_size=B) for r in range(W)]
    whole = make(sampler=sampler, world_size=1, batch_size=W * B)
    for s in ranks + [whole]:
        feed_all(s, x)  # every rank gets all ranks' projections
    assert all(len(s) == len(whole) for s in ranks)
    for epoch in range(2):
        per_rank = [list(s) for s in ranks]
        glob = list(whole)
        for t, g in enumerate(glob):
            slices = [per_rank[r][t] for r in range(W)]
            for r in range(W):
                for q in range(r + 1, W):
                    assert not set(slices[r]) & set(slices[q])
            assert sum(slices, []) == g  # rank r has slice [r*B, (r+1)*B)
    if sampler == "rwr":
        assert all(s.num_graph_builds == whole.num_graph_builds >= 1 for s in ranks)


@pytest.mark.parametrize("sampler", ["uniform", "rwr"])
def test_rank0_state_resumes_every_rank(data, sampler):
    """A data-parallel checkpoint holds rank 0's state_dict: it resumes
    every rank of the same world with that rank's own slices."""
    x, _ = data
    W, B = 3, 20
    ranks = [make(sampler=sampler, rank=r, world_size=W, batch_size=B,
                  refresh_every=4) for r in range(W)]
    for s in ranks:
        feed_all(s, x)
        take(s, 9)  # mid-epoch, after rebuilds
    st = pickle.loads(pickle.dumps(ranks[0].state_dict()))
    for r in range(W):
        t = make(sampler=sampler, rank=r, world_size=W, batch_size=B,
                 refresh_every=4)
        t.load_state_dict(st)
        assert take(t, 12) == take(ranks[r], 12)
    with pytest.raises(ValueError, match="world_size"):
        make(sampler=sampler, rank=0, world_size=2, batch_size=B,
             refresh_every=4).load_state_dict(st)


@pytest.mark.parametrize("warmup", [0, 1])
def test_resume_identical_batches(data, warmup):
    x, _ = data
    a = make(batch_size=40, warmup_epochs=warmup, refresh_every=4)

    def step(s, b, k):
        s.update(b, x[b] * (1.0 + 0.001 * k))

    k = 0
    while k < 25:  # into epoch 1 of 15 batches, mid-epoch, some refreshes
        step(a, take(a, 1)[0], k)
        k += 1
    st = a.state_dict()
    # through pickle / torch.save-like serialisation
    st = pickle.loads(pickle.dumps(st))
    b_ = make(batch_size=40, warmup_epochs=warmup, refresh_every=4)
    b_.load_state_dict(st)
    assert (b_.epoch, b_.batch_index) == (a.epoch, a.batch_index) == (1, 10)
    out_a, out_b = [], []
    for s, out in ((a, out_a), (b_, out_b)):
        kk = k
        for ep in range(2):
            s.set_epoch(1 + ep)  # no-op for the current epoch: continues
            for bb in s:
                out.append(bb)
                step(s, bb, kk)
                kk += 1
    assert out_a == out_b
    assert len(out_a) == 5 + 15
    assert a.num_graph_builds == b_.num_graph_builds


def test_resume_torch_save(data):
    torch = pytest.importorskip("torch")
    x, _ = data
    a = make(batch_size=40)
    feed_all(a, x)
    take(a, 7)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = make(batch_size=40)
    b.load_state_dict(torch.load(buf))
    assert take(a, 20) == take(b, 20)
    # pickle of the sampler itself
    c = pickle.loads(pickle.dumps(a))
    assert take(a, 5) == take(c, 5)


def test_load_state_mismatch(data):
    x, _ = data
    a = make(batch_size=40)
    feed_all(a, x)
    take(a, 3)
    st = a.state_dict()
    with pytest.raises(ValueError, match="batch_size"):
        make(batch_size=20).load_state_dict(st)
    with pytest.raises(ValueError, match="seed"):
        make(batch_size=40, seed=1).load_state_dict(st)
    bad = dict(st)
    bad["batcher"] = b"garbage"
    c = make(batch_size=40)
    before = take(make(batch_size=40), 2)
    with pytest.raises(ValueError):
        c.load_state_dict(bad)
    assert take(c, 2) == before  # unchanged on failure
    with pytest.raises(TypeError):
        c.load_state_dict([1, 2])


def test_set_epoch_replays(data):
    a = make(sampler="uniform", batch_size=40)
    epochs = [list(a) for _ in range(3)]
    b = make(sampler="uniform", batch_size=40)
    b.set_epoch(2)
    assert list(b) == epochs[2]
    b.set_epoch(0)
    assert list(b) == epochs[0]
    assert epochs[0] != epochs[1]


def test_update_accepts_lists_numpy_torch(data):
    x, _ = data
    s = make(batch_size=40)
    s.update(list(range(10)), x[:10])
    s.update(np.arange(10, 20, dtype=np.int32), x[10:20])
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(x[20:30].copy()).requires_grad_(True) * 2
    s.update(torch.arange(20, 30), t)
    s.update(range(30, 40), x[30:40])


BAD_CTOR = [
    (dict(alpha=1.0), ValueError),
    (dict(alpha=-0.1), ValueError),
    (dict(K=100, M=50), ValueError),
    (dict(M=600), ValueError),
    (dict(batch_size=601), ValueError),
    (dict(batch_size=300, world_size=3), ValueError),
    (dict(batch_size=0), ValueError),
    (dict(mode="bogus"), ValueError),
    (dict(sampler="bogus"), ValueError),
    (dict(alpha_schedule="bogus"), ValueError),
    (dict(epoch_mode="bogus"), ValueError),
    (dict(epoch_mode=1), TypeError),
    (dict(refresh_lag=-1), ValueError),
    (dict(history=-1), ValueError),
    (dict(warmup_epochs=-1), ValueError),
    (dict(batches_per_epoch=0), ValueError),
    (dict(threads=100000), ValueError),
    (dict(rank=2, world_size=2), ValueError),
    (dict(refresh_every=0), ValueError),
    (dict(tau=-1.0), ValueError),
    (dict(seed=-1), ValueError),
    (dict(bogus=1), TypeError),
    (dict(batch_size=32.5), TypeError),
    (dict(mode=3), TypeError),
]


@pytest.mark.parametrize("kw, exc", BAD_CTOR, ids=[str(k) for k, _ in BAD_CTOR])
def test_constructor_rejects(kw, exc):
    with pytest.raises(exc):
        make(**kw)


def test_constructor_messages_are_the_library_s():
    with pytest.raises(ValueError, match="epoch mode 'bogus'|bogus.*fixed"):
        make(epoch_mode="bogus")
    with pytest.raises(ValueError, match="bogus.*reference|reference.*bogus"):
        make(alpha_schedule="bogus")
    with pytest.raises(ValueError, match="refresh_lag = -1"):
        make(refresh_lag=-1)
    with pytest.raises(ValueError, match="history = -1"):
        make(history=-1)
    # the library's "--mode exact" hint, said the Python way
    with pytest.raises(ValueError, match='mode="exact"') as e:
        make(M=600)
    assert "--mode" not in str(e.value)


def test_alpha_schedules(data):
    x, _ = data
    for name in ("constant", "step", "decay", "reference"):
        s = make(alpha_schedule=name, alpha=0.3, warmup_epochs=0)
        assert s.state_dict()["params"]["alpha_schedule"] == (
            "step" if name == "decay" else name)
    # "decay" is the old name of "step": the same batches
    runs = []
    for name in ("decay", "step", "reference"):
        s = make(alpha_schedule=name, alpha=0.3, warmup_epochs=0, batch_size=60)
        feed_all(s, x)
        runs.append(take(s, 60))  # 6 epochs: step lowers alpha at epoch 5
    assert runs[0] == runs[1] != runs[2]


def test_refresh_is_removed_with_a_clear_error():
    with pytest.raises(NotImplementedError, match="refresh_every"):
        make().refresh()


def test_constructor_messages():
    with pytest.raises(ValueError, match="alpha"):
        make(alpha=1.0)
    with pytest.raises(ValueError, match="M"):
        make(K=100, M=50)
    with pytest.raises(ValueError, match="mode"):
        make(mode="bogus")
    with pytest.raises(TypeError, match="bogus"):
        make(bogus=1)
    with pytest.raises(TypeError):
        bs.BatchSampler(N, 32, 60)  # keyword-only options


def test_update_rejects(data):
    x, _ = data
    s = make(batch_size=40)
    idx = np.arange(10)
    with pytest.raises(ValueError):
        # (10, 8) with a NaN: a failed first update must not fix d = 8
        bad = np.ascontiguousarray(x[:10, :8])
        bad[2, 3] = np.nan
        s.update(idx, bad)
    with pytest.raises(TypeError):
        s.update(idx, x[:10].astype(np.float64))  # wrong dtype
    with pytest.raises(TypeError):
        s.update(idx.astype(np.float32), x[:10])  # float indices
    with pytest.raises(TypeError):
        s.update(idx, x[:10].tolist())
    with pytest.raises(TypeError):
        s.update([0.5, 1.5], x[:2])
    s.update(idx, x[:10])  # fixes d = 16
    s.update(idx, np.asfortranarray(x[:10]))  # non-contiguous: copied
    with pytest.raises(ValueError):
        s.update(idx, x[:10, :8])  # non-contiguous and wrong d
    with pytest.raises(ValueError):
        s.update(idx, np.ascontiguousarray(x[:10, :8]))  # wrong d
    with pytest.raises(ValueError):
        s.update(idx[:5], x[:10])  # count mismatch
    with pytest.raises(ValueError):
        s.update(idx, x[:10].ravel())  # 1-D
    with pytest.raises(ValueError):
        s.update(idx.reshape(2, 5), x[:10])
    y = x[:10].copy()
    y[4, 3] = np.nan
    with pytest.raises(ValueError, match="4"):
        s.update(idx, y)
    with pytest.raises(ValueError):
        s.update([0, 600], x[:2])  # id out of range
    with pytest.raises(ValueError):
        s.update([-1], x[:1])
    s2 = make(batch_size=40, embedding_dim=8)
    with pytest.raises(ValueError):
        s2.update(idx, x[:10])  # d = 16 != embedding_dim
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="float64"):
        s.update(torch.arange(10), torch.from_numpy(x[:10]).double())


def test_set_epoch_rejects():
    s = make()
    with pytest.raises(ValueError):
        s.set_epoch(-1)
    with pytest.raises(TypeError):
        s.set_epoch(1.5)


@pytest.mark.filterwarnings("ignore:BatchSampler.*never written")
def test_embedding_dim_unknown_until_the_first_update(data):
    """embedding_dim=None gives the same batches as embedding_dim given, also
    through a state saved before the first update."""
    x, _ = data
    kw = dict(batch_size=40, warmup_epochs=1, refresh_every=4)
    a = make(embedding_dim=None, **kw)
    c = make(embedding_dim=16, **kw)
    head_a, head_c = take(a, 3), take(c, 3)
    assert head_a == head_c and a.rows_written == 0
    st = a.state_dict()
    assert st["dim"] is None
    b = make(embedding_dim=16, **kw)
    b.load_state_dict(st)
    d = make(embedding_dim=None, **kw)
    d.load_state_dict(st)
    outs = []
    for s in (a, b, c, d):
        out = []
        for k in range(40):  # into epoch 2, graphs refreshed
            batch = take(s, 1)[0]
            s.update(batch, x[batch] * (1.0 + 0.001 * k))
            out.append(batch)
        outs.append(out)
        assert s.num_graph_builds >= 3 and s.rows_written == N
    assert outs[0] == outs[1] == outs[2] == outs[3]
