"""Resume with prefetching loaders: state_dict() saves the position after the
last batch passed to update(), not after the batches a DataLoader drew ahead
of training, so that a restored sampler with a new DataLoader continues with
exactly the batches the uninterrupted run trained on next."""
import pickle
import warnings

import numpy as np
import pytest

import batchsampler as bs
from conftest import fake_rows

N, B, D = 400, 32, 8  # 13 batches per epoch
L = 13
EPOCHS = 4
ARGS = dict(M=50, K=5, refresh_every=4, warmup_epochs=1, seed=3, refresh_lag=2)


class IndexedDataset:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def train(sampler, loader, start_epoch, first_step, stop_after=None):
    """The usual loop.  Returns the batches trained on, in order, and the
    state_dict taken after `stop_after` steps (with the epoch it was in)."""
    stream, saved = [], None
    for epoch in range(start_epoch, EPOCHS):
        sampler.set_epoch(epoch)
        for idx in loader:
            step = first_step + len(stream)
            stream.append(idx.tolist())
            sampler.update(idx, fake_rows(idx.numpy(), step, D))
            if stop_after is not None and step + 1 == stop_after:
                saved = (pickle.loads(pickle.dumps(sampler.state_dict())), epoch)
    return stream, saved


@pytest.mark.parametrize("stop_after", [
    L + 5,       # mid-epoch 1: the loader has drawn 4 batches ahead
    2 * L - 1,   # one batch before the end of epoch 1: the loader has
                 # already drawn the last one, the sampler is in epoch 2
    2 * L,       # the last batch of epoch 1 trained
    2 * L + 1,   # the first batch of epoch 2 trained
])
def test_resume_with_dataloader_workers(stop_after):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    def loader_for(s):
        return DataLoader(IndexedDataset(N), batch_sampler=s, num_workers=2)

    a = bs.BatchSampler(N, B, **ARGS)
    assert len(a) == L
    stream_a, (state, epoch_at_stop) = train(a, loader_for(a), 0, 0, stop_after)
    assert len(stream_a) == EPOCHS * L
    assert a.num_graph_builds >= 3
    # the checkpoint names the epoch the training loop was in (or the next
    # one once that epoch's last batch was trained)
    assert state["position"] == stop_after
    expect_epoch = stop_after // L
    assert state["epoch"] == expect_epoch
    assert epoch_at_stop == (stop_after - 1) // L

    b = bs.BatchSampler(N, B, **ARGS)
    b.load_state_dict(state)
    assert (b.epoch, b.batch_index) == (stop_after // L, stop_after % L)
    stream_b, _ = train(b, loader_for(b), b.epoch, stop_after)
    assert stream_b == stream_a[stop_after:]
    assert b.num_graph_builds == a.num_graph_builds


class PrefetchingLoader:
    """What a DataLoader with workers does to the batch sampler: iterates it
    in the main process, `ahead` batches before the training loop."""

    def __init__(self, sampler, ahead):
        self.sampler, self.ahead = sampler, ahead

    def __iter__(self):
        import torch

        queue = []
        for batch in self.sampler:
            queue.append(batch)
            if len(queue) > self.ahead:
                yield torch.tensor(queue.pop(0))
        while queue:
            yield torch.tensor(queue.pop(0))


@pytest.mark.parametrize("stop_after", [L + 1, 2 * L - 2, 3 * L - 1])
def test_resume_loop_with_its_own_epoch_counter(stop_after):
    """A loop that saves its own epoch next to the sampler's state resumes
    with set_epoch(that epoch): a no-op, the batches continue."""
    pytest.importorskip("torch")
    a = bs.BatchSampler(N, B, **ARGS)
    stream_a, (state, epoch_at_stop) = train(a, PrefetchingLoader(a, 6), 0, 0,
                                             stop_after)
    b = bs.BatchSampler(N, B, **ARGS)
    b.load_state_dict(state)
    assert b.epoch == epoch_at_stop
    stream_b, _ = train(b, PrefetchingLoader(b, 6), epoch_at_stop, stop_after)
    assert stream_b == stream_a[stop_after:]


def test_state_dict_explicit_position_and_history():
    a = bs.BatchSampler(N, B, history=3, **ARGS)
    batches = [next(iter(a)) for _ in range(6)]
    # no update: the current position
    assert a.state_dict()["position"] == 6
    st = a.state_dict(position=4)
    b = bs.BatchSampler(N, B, history=3, **ARGS)
    b.load_state_dict(st)
    assert [next(iter(b)) for _ in range(2)] == batches[4:]
    with pytest.raises(ValueError):
        a.state_dict(position=2)  # more than history = 3 back
    # update() saw batch 1 only: beyond the history, so the current position
    # is saved, with a warning
    a.update(batches[1], fake_rows(batches[1], 1, D))
    with pytest.warns(RuntimeWarning, match="history"):
        assert a.state_dict()["position"] == 6
    a.update(batches[4], fake_rows(batches[4], 4, D))
    assert a.state_dict()["position"] == 5


def test_update_matches_gathered_ranks():
    """With DDP every rank updates with all ranks' ids: its own slice is
    found in them."""
    W = 2
    ranks = [bs.BatchSampler(N, 16, rank=r, world_size=W, **ARGS) for r in range(W)]
    its = [iter(s) for s in ranks]
    drawn = [[next(it) for _ in range(3)] for it in its]
    gathered = drawn[0][0] + drawn[1][0]
    for s in ranks:
        s.update(gathered, fake_rows(gathered, 0, D), gathered=True)
        assert s.state_dict()["position"] == 1


def test_pickle_is_a_clone_at_the_current_position():
    a = bs.BatchSampler(N, B, **ARGS)
    it = iter(a)
    first = [next(it) for _ in range(3)]
    a.update(first[0], fake_rows(first[0], 0, D))
    c = pickle.loads(pickle.dumps(a))
    assert c.position == a.position == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert next(iter(c)) == next(iter(a))
