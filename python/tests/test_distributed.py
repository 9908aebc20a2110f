"""BatchSampler under torch.distributed: 2 processes started with
torch.multiprocessing.spawn, gloo on 127.0.0.1.

One spawn runs every scenario (each rank writes what it saw to a file) and
the tests below check the files against single-process runs:

* rank and world come from torch.distributed; a different explicit value
  is a ValueError;
* update() gathers every rank's rows; the slices are disjoint and their
  union is the batch stream of one sampler of batch W*B given the same
  updates, with refresh_lag 0 and 2;
* the graph rebuild is split across the ranks and equals a one-process
  build byte for byte (ProximityGraph.build and the single-process
  sampler's graphs);
* every rank resumes from its own state_dict, and from rank 0's, with the
  batches of the uninterrupted run;
* a rank that skips an update() makes update() raise on every rank.
"""
import os
import pickle
import socket
import time

import numpy as np
import pytest

import batchsampler as bs
from conftest import clustered, fake_rows

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

W, N, B, D = 2, 600, 20, 8
ARGS = dict(M=60, K=6, refresh_every=4, warmup_epochs=1, seed=3, threads=1,
            alpha=0.3, history=8)
STEPS, CUT = 45, 31  # epoch length 15: warm-up epoch, then 2 graph epochs
LAGS = (0, 2)
SPLIT_N, SPLIT_MODES = 601, (("shared", 64), ("independent", 0))


def _rows(ids, step):
    return fake_rows(ids, step, D)


def _run(sampler, steps, start=0, as_torch=True):
    """Draws `steps` batches; each is trained on (updated) right away."""
    out, it = [], None
    for step in range(start, start + steps):
        if it is None or sampler.batch_index == 0:
            it = iter(sampler)
        b = next(it)
        out.append(b)
        z = _rows(b, step)
        if as_torch:
            sampler.update(torch.tensor(b), torch.from_numpy(z))
        else:
            sampler.update(b, z)
    return out


def _graph(sampler):
    g = sampler.graph
    return None if g is None else (g.params, *g.to_arrays())


def _worker(rank, port, outdir):
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port,
                            rank=rank, world_size=W)
    res = {}
    try:
        s = bs.BatchSampler(N, B, **ARGS)
        res["rank_world"] = (s._kw["rank"], s._kw["world_size"])
        for bad in (dict(world_size=3), dict(rank=1 - rank)):
            try:
                bs.BatchSampler(N, B, **bad, **ARGS)
            except ValueError as e:
                res.setdefault("mismatch", []).append(str(e))
        try:  # refused before any collective, on every rank
            s.update(np.array([0.5, 1.5]), np.ones((2, D), np.float32))
        except TypeError as e:
            res["float_ids"] = str(e)
        res["explicit_ok"] = bs.BatchSampler(
            N, B, rank=rank, world_size=W, sampler="uniform")._kw["rank"]

        for lag in LAGS:
            s = bs.BatchSampler(N, B, refresh_lag=lag, **ARGS)
            first = _run(s, CUT)
            state = pickle.loads(pickle.dumps(s.state_dict()))
            rest = _run(s, STEPS - CUT, start=CUT)
            r = bs.BatchSampler(N, B, refresh_lag=lag, **ARGS)
            r.load_state_dict(state)
            again = _run(r, STEPS - CUT, start=CUT, as_torch=False)
            # rank 0's state_dict, as a rank-0 checkpoint holds, on every rank
            box = [state]
            dist.broadcast_object_list(box, src=0)
            r0 = bs.BatchSampler(N, B, refresh_lag=lag, **ARGS)
            r0.load_state_dict(box[0])
            from_rank0 = _run(r0, STEPS - CUT, start=CUT, as_torch=False)
            res[lag] = dict(batches=first + rest, resumed=again,
                            from_rank0=from_rank0,
                            builds=s.num_graph_builds, graph=_graph(s),
                            resumed_graph=_graph(r), from_graph=s.last_from_graph)

        # the split build on its own, against ProximityGraph.build
        x, _ = clustered(SPLIT_N, D, seed=5)
        s = bs.BatchSampler(SPLIT_N, B, **ARGS)
        build = s._comm.builder()
        for mode, block in SPLIT_MODES:
            p = dict(mode=mode, m=60, k=6, seed=11, block=block, threads=1)
            res["split", mode] = build(x.tobytes(), SPLIT_N, D, p)

        # rank 1 skips the update of one batch
        s = bs.BatchSampler(N, B, **ARGS)
        it = iter(s)
        batches = [next(it) for _ in range(3)]
        errors = []
        for t in ([0, 1] if rank == 0 else [0, 2]):
            try:
                s.update(batches[t], _rows(batches[t], t))
            except RuntimeError as e:
                errors.append(str(e))
        res["skip"] = errors
    finally:
        with open(os.path.join(outdir, "rank%d.pkl" % rank), "wb") as f:
            pickle.dump(res, f)
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the 2 ranks saw (a list of dicts)."""
    import torch.multiprocessing as mp

    outdir = str(tmp_path_factory.mktemp("ddp"))
    ctx = mp.spawn(_worker, args=(_free_port(), outdir), nprocs=W, join=False)
    deadline = time.monotonic() + 240
    while not ctx.join(timeout=5):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the 2 spawned ranks did not finish within 240 s")
    out = []
    for r in range(W):
        with open(os.path.join(outdir, "rank%d.pkl" % r), "rb") as f:
            out.append(pickle.load(f))
    return out


def test_rank_and_world_come_from_torch_distributed(ranks):
    for r, res in enumerate(ranks):
        assert res["rank_world"] == (r, W)
        assert res["explicit_ok"] == r
        assert len(res["mismatch"]) == 2
        assert "world_size = 3" in res["mismatch"][0]
        assert "torch.distributed says world_size = 2" in res["mismatch"][0]
        assert "rank = %d" % (1 - r) in res["mismatch"][1]
        assert "integer" in res["float_ids"]


def _single(lag):
    """One process, batch W*B, the same updates (the gathered rows)."""
    s = bs.BatchSampler(N, W * B, refresh_lag=lag, **ARGS)
    return _run(s, STEPS, as_torch=False), s


@pytest.mark.parametrize("lag", LAGS)
def test_slices_disjoint_and_equal_to_one_sampler(ranks, lag):
    want, single = _single(lag)
    got = [res[lag]["batches"] for res in ranks]
    for t in range(STEPS):
        a, b = got[0][t], got[1][t]
        assert len(a) == len(b) == B
        assert not set(a) & set(b)
        assert a + b == want[t]
    assert ranks[0][lag]["builds"] == ranks[1][lag]["builds"] == single.num_graph_builds
    assert single.num_graph_builds >= 5 and ranks[0][lag]["from_graph"]


@pytest.mark.parametrize("lag", LAGS)
def test_identical_graphs_on_every_rank_and_one_process(ranks, lag):
    _, single = _single(lag)
    want = _graph(single)
    for res in ranks:
        params, nbr, sim = res[lag]["graph"]
        assert params == want[0]
        assert nbr.tobytes() == want[1].tobytes()
        assert sim.tobytes() == want[2].tobytes()


@pytest.mark.parametrize("mode, block", SPLIT_MODES)
def test_split_build_is_byte_identical(ranks, mode, block):
    x, _ = clustered(SPLIT_N, D, seed=5)
    g = bs.ProximityGraph.build(x, M=60, K=6, mode=mode, seed=11, block=block,
                                threads=1)
    nbr, sim = g.to_arrays()
    for res in ranks:
        got_nbr, got_sim = res["split", mode]
        assert got_nbr.tobytes() == nbr.tobytes()
        assert got_sim.tobytes() == sim.tobytes()


@pytest.mark.parametrize("lag", LAGS)
def test_every_rank_resumes_from_its_state_dict(ranks, lag):
    for res in ranks:
        assert res[lag]["resumed"] == res[lag]["batches"][CUT:]
        assert res[lag]["from_rank0"] == res[lag]["batches"][CUT:]
        assert res[lag]["resumed_graph"][0] == res[lag]["graph"][0]
        assert res[lag]["resumed_graph"][1].tobytes() == res[lag]["graph"][1].tobytes()


def test_a_skipped_update_raises_on_every_rank(ranks):
    for res in ranks:
        assert len(res["skip"]) == 1
        msg = res["skip"][0]
        assert "rank 0: batch 1" in msg and "rank 1: batch 2" in msg
        assert "skipped update()" in msg


def test_update_without_a_process_group_needs_gathered(data):
    x, _ = data
    s = bs.BatchSampler(N, B, rank=0, world_size=2, **ARGS)
    b = next(iter(s))
    with pytest.raises(ValueError, match="gathered=True"):
        s.update(b, x[b])
    s.update(b, x[b], gathered=True)
    assert s.rows_written == len(b)
