"""torch.distributed support of BatchSampler (docs/python.md,
"DistributedDataParallel").

Nothing here imports torch: a process group can only be initialised in a
process that imported torch.distributed, so ``active()`` looks it up in
``sys.modules``.  Every collective runs on the process group the sampler
was built under (the default one); graph rebuilds use a group of their
own, created with the sampler, so that a rebuild running in the batcher's
background thread (``refresh_lag > 0``) never interleaves its collectives
with the training loop's.
"""

import sys as _sys

from . import _batchsampler as _bs


def active():
    """torch.distributed if a process group is initialised, else None."""
    dist = _sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def resolve(rank, world_size):
    """(rank, world_size, dist): the given values, else torch.distributed's
    when a process group is initialised, else (0, 1); a value given that
    differs from the process group's is a ValueError."""
    dist = active()
    if dist is None:
        return (0 if rank is None else rank,
                1 if world_size is None else world_size, None)
    r, w = dist.get_rank(), dist.get_world_size()
    for name, given, real in (("rank", rank, r), ("world_size", world_size, w)):
        if given is not None and given != real:
            raise ValueError(
                "%s = %d, but torch.distributed says %s = %d: leave it out "
                "(it is taken from torch.distributed) or pass the process "
                "group's value" % (name, given, name, real))
    return r, w, dist


def _device(dist):
    """Where collectives' tensors live: the current CUDA device for NCCL,
    the CPU for the other backends."""
    torch = _sys.modules["torch"]
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class Comm:
    """The collectives of one sampler under torch.distributed."""

    def __init__(self, dist, rank, world, graph_group):
        self.dist = dist
        self.rank = rank
        self.world = world
        self.device = _device(dist)
        # graph rebuilds get a group of their own (a collective call: every
        # rank builds its sampler at the same point of its program)
        self.graph_group = dist.new_group() if graph_group else None

    def _gather(self, t, group=None):
        torch = _sys.modules["torch"]
        out = [torch.empty_like(t) for _ in range(self.world)]
        self.dist.all_gather(out, t, group=group)
        return out

    def check_step(self, step, b, d):
        """All-gathers (step, b, d), step = (position of the batch updated,
        or -1; count of update() calls), and raises RuntimeError on every
        rank if the ranks are at different steps, ValueError if their rows
        differ in width.  Returns the list of every rank's b."""
        torch = _sys.modules["torch"]
        meta = torch.tensor([step[0], step[1], b, d], dtype=torch.int64,
                            device=self.device)
        rows = [m.cpu().tolist() for m in self._gather(meta)]
        if len({(r[0], r[1]) for r in rows}) > 1:
            raise RuntimeError(
                "BatchSampler.update: the ranks are at different steps (%s): "
                "a rank skipped update() or called it twice; every rank must "
                "call update() once per training step, with the batch it "
                "trained on" % "; ".join(
                    "rank %d: batch %s, update #%d"
                    % (q, r[0] if r[0] >= 0 else "?", r[1])
                    for q, r in enumerate(rows)))
        widths = [r[3] for r in rows]
        if len(set(widths)) > 1:
            raise ValueError(
                "BatchSampler.update: embeddings of different widths per rank "
                "(%s)" % ", ".join("%d: %d" % (r, w) for r, w in enumerate(widths)))
        return [r[2] for r in rows]

    def gather_rows(self, ids, emb, step):
        """Every rank's (ids, emb), in rank order: numpy int64 (c,) and
        float32 (c, d) on the CPU.  ids: numpy int64; emb: a float32 torch
        tensor (any device) or numpy array."""
        import numpy as np

        torch = _sys.modules["torch"]
        dev = self.device
        if not isinstance(emb, torch.Tensor):
            emb = torch.from_numpy(emb)
        if emb.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise TypeError("embeddings: expected dtype float32 (or float16, "
                            "bfloat16), got %s" % str(emb.dtype).replace("torch.", ""))
        emb = emb.detach().to(device=dev, dtype=torch.float32)
        if emb.dim() != 2:
            raise ValueError("embeddings: expected a 2-D array (b, d), got %d-D"
                             % emb.dim())
        b, d = len(ids), emb.shape[1]
        if emb.shape[0] != b:
            raise ValueError("update: embeddings of shape (%d, %d) for %d indices"
                             % (emb.shape[0], d, b))
        sizes = self.check_step(step, b, d)
        top = max(sizes)
        pad_ids = torch.full((top,), -1, dtype=torch.int64, device=dev)
        pad_ids[:b] = torch.from_numpy(ids).to(dev)
        pad_emb = torch.zeros((top, d), dtype=torch.float32, device=dev)
        pad_emb[:b] = emb
        all_ids = self._gather(pad_ids)
        all_emb = self._gather(pad_emb)
        out_ids = np.concatenate([t[:c].cpu().numpy() for t, c in zip(all_ids, sizes)])
        out_emb = np.concatenate([t[:c].cpu().numpy() for t, c in zip(all_emb, sizes)])
        return np.ascontiguousarray(out_ids), np.ascontiguousarray(out_emb)

    def builder(self):
        """A graph builder for the core batcher (bs_graph_builder): rank r
        builds rows [n*r/W, n*(r+1)/W) with build_rows, and the rows are
        all-gathered on the graph group.  Bit-identical to a one-process
        build (bs_graph_build_rows' guarantee)."""
        import numpy as np

        torch = _sys.modules["torch"]
        W, r, dev, group = self.world, self.rank, self.device, self.graph_group
        dist = self.dist

        def build(x, n, d, params):
            xs = np.frombuffer(x, dtype=np.float32).reshape(n, d)
            k = params["k"]
            bounds = [n * s // W for s in range(W + 1)]
            top = max(bounds[s + 1] - bounds[s] for s in range(W))
            lo, hi = bounds[r], bounds[r + 1]
            nbr = np.zeros((top, k), dtype=np.int32)
            sim = np.zeros((top, k), dtype=np.float32)
            _bs.build_rows(xs, lo, hi, nbr[: hi - lo], sim[: hi - lo],
                           m=params["m"], k=k, mode=params["mode"],
                           seed=params["seed"], block=params["block"],
                           threads=params["threads"])
            parts = []
            for a in (nbr, sim):
                t = torch.from_numpy(a).to(dev)
                out = [torch.empty_like(t) for _ in range(W)]
                dist.all_gather(out, t, group=group)
                parts.append(np.concatenate(
                    [o[: bounds[s + 1] - bounds[s]].cpu().numpy()
                     for s, o in enumerate(out)]))
            return parts[0], parts[1]

        return build
