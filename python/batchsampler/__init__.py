"""batchsampler — mini-batch sampling for in-batch contrastive learning.

Python binding of libbatchsampler (BatchSampler, Yang et al., KDD 2023).  A
proximity graph links every instance to the K most cosine-similar of M random
candidates; a batch is the distinct nodes visited by a random walk with
restart; the graph is rebuilt every ``refresh_every`` batches from the latest
embeddings that the training loop hands back through :meth:`BatchSampler.update`.

Public API:

* :class:`BatchSampler` — a batch sampler for ``torch.utils.data.DataLoader``
  (``batch_sampler=``), yielding lists of int indices.
* :class:`ProximityGraph` — build / save / load / inspect proximity graphs.
* :func:`batch_stats`, :func:`run_stats` — batch-hardness metrics.

Arrays are passed through the buffer protocol: numpy arrays, ``memoryview``,
``array.array``; torch tensors are converted with ``.detach().cpu().numpy()``
(no copy for contiguous CPU tensors).  Non-contiguous numpy arrays and
tensors are copied, float16 and bfloat16 ones converted to float32 (a bare
buffer must be C-contiguous and of the right dtype).  Errors:
``TypeError`` for a wrong type or dtype; ``ValueError`` (carrying the
library's message) for shapes, layout, NaN/Inf, out-of-range parameters;
``OSError`` for I/O.

See docs/python.md for DataLoader, DistributedDataParallel and thread-safety
notes.
"""

from array import array as _array
from collections import deque as _deque
import operator as _operator
import threading as _threading
import warnings as _warnings

from . import _batchsampler as _bs
from . import _dist
from ._version import __version__

__all__ = [
    "BatchSampler",
    "ProximityGraph",
    "batch_stats",
    "run_stats",
    "check_embeddings",
    "__version__",
]

if _bs.__version__ != __version__:
    raise ImportError(
        "batchsampler %s: its extension module %s is version %s; rebuild or "
        "reinstall the package (pip install ./python, or cmake --build)"
        % (__version__, _bs.__file__, _bs.__version__))

_STATE_VERSION = 2
_MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------
# array helpers


def _is_torch(x):
    mod = type(x).__module__
    return mod.startswith("torch") and hasattr(x, "numpy")


def _is_numpy(x):
    return type(x).__module__ == "numpy" and hasattr(x, "flags")


def _torch_cpu(x, half):
    """A C-contiguous CPU numpy view (or copy) of a torch tensor; float16
    and bfloat16 become float32 when `half`."""
    x = x.detach()
    if half and str(x.dtype) in ("torch.float16", "torch.bfloat16"):
        x = x.float()
    if x.device.type != "cpu":
        x = x.cpu()
    return x.contiguous().numpy()


def _floats(x):
    """An object exporting a float buffer (float32 is checked in C):
    float16 / bfloat16 arrays converted to float32, non-contiguous ones
    copied."""
    if _is_torch(x):
        return _torch_cpu(x, True)
    if _is_numpy(x):
        if x.dtype.char == "e":  # float16
            x = x.astype("float32")
        if not x.flags["C_CONTIGUOUS"]:
            import numpy as np

            x = np.ascontiguousarray(x)
        return x
    if isinstance(x, (list, tuple)):
        raise TypeError(
            "embeddings: expected a float32 array (numpy array or torch "
            "tensor), got %s" % type(x).__name__
        )
    return x


def _ids(x):
    """An object exporting an int64/int32 buffer, from arrays or sequences
    (non-contiguous arrays copied)."""
    if _is_torch(x):
        return _torch_cpu(x, False)
    if _is_numpy(x):
        if not x.flags["C_CONTIGUOUS"]:
            import numpy as np

            x = np.ascontiguousarray(x)
        return x
    if isinstance(x, (list, tuple, range)):
        try:
            return _array("q", x)
        except TypeError:
            raise TypeError(
                "indices: expected integers, got %s"
                % ", ".join(sorted({type(v).__name__ for v in x}))
            ) from None
    return x


def _int(v, name):
    if isinstance(v, bool):
        raise TypeError("%s: expected an int, got bool" % name)
    try:
        return _operator.index(v)
    except TypeError:
        raise TypeError(
            "%s: expected an int, got %s" % (name, type(v).__name__)
        ) from None


def _float(v, name):
    if isinstance(v, (bool, str, bytes)) or not isinstance(
        v, (int, float)
    ) and not hasattr(v, "__float__"):
        raise TypeError("%s: expected a number, got %s" % (name, type(v).__name__))
    return float(v)


def _seed(v):
    v = _int(v, "seed")
    if not 0 <= v <= _MASK64:
        raise ValueError("seed = %d: expected 0 <= seed < 2**64" % v)
    return v


def check_embeddings(embeddings):
    """Raise ValueError (library message) if embeddings are unusable for
    cosine similarity (NaN/Inf, all-zero row, empty); TypeError if they are
    not float32."""
    _bs.check_embeddings(_floats(embeddings))


# --------------------------------------------------------------------------
# ProximityGraph


class ProximityGraph:
    """A proximity graph: every node's k most similar candidates, sorted by
    cosine similarity (descending), never itself.  Immutable.

    Build with :meth:`build`, read with :meth:`load`, or wrap arrays with
    :meth:`from_arrays`.
    """

    __slots__ = ("_g",)

    def __init__(self, graph):
        if not isinstance(graph, _bs.Graph):
            raise TypeError(
                "use ProximityGraph.build, .load or .from_arrays to create a graph"
            )
        self._g = graph

    @classmethod
    def build(cls, embeddings, M=1000, K=100, mode="shared", seed=0, threads=0,
              block=0):
        """Build the graph of float32 (n, d) embeddings (not necessarily
        normalised).  ``mode``: "independent" (paper), "shared" (blocks of
        ``block`` nodes share a candidate draw; faster) or "exact" (kNN over
        all n-1 others; M ignored).  ``threads``: OpenMP threads, 0 =
        default; the result does not depend on it.  The GIL is released
        during the build; Ctrl-C interrupts it."""
        return cls(
            _bs.Graph.build(
                _floats(embeddings),
                m=_int(M, "M"),
                k=_int(K, "K"),
                mode=mode,
                seed=_seed(seed),
                block=_int(block, "block"),
                threads=_int(threads, "threads"),
            )
        )

    @classmethod
    def load(cls, path):
        """Read a .bsg file (OSError if unreadable, ValueError if malformed)."""
        return cls(_bs.Graph.load(path))

    @classmethod
    def from_arrays(cls, nbr, sim=None, *, mode="shared", M=0, seed=0, block=0):
        """Wrap an (n, k) int32 neighbour array (and optional float32 (n, k)
        similarities) into a graph; every id is validated."""
        nbr = _ids(nbr)
        shape = memoryview(nbr).shape
        if len(shape) != 2:
            raise ValueError("nbr: expected a 2-D (n, k) array, got %d-D" % len(shape))
        n, k = shape
        return cls(
            _bs.Graph.from_arrays(
                n, k, nbr, None if sim is None else _floats(sim), mode=mode,
                m=_int(M, "M"), seed=_seed(seed), block=_int(block, "block"),
            )
        )

    def save(self, path):
        """Write the graph to a .bsg file (atomically)."""
        self._g.save(path)

    @property
    def n(self):
        """Number of nodes."""
        return self._g.n

    @property
    def k(self):
        """Neighbours per node."""
        return self._g.k

    @property
    def params(self):
        """Build parameters: dict(mode, m, k, seed, block)."""
        return self._g.params

    def neighbors(self, i):
        """(ids, sims) of node i: numpy int32 and float32 arrays of k values,
        most similar first."""
        import numpy as np

        ids, sims = self._g.neighbors(_int(i, "i"))
        return np.frombuffer(ids, dtype=np.int32).copy(), np.frombuffer(
            sims, dtype=np.float32
        ).copy()

    def to_arrays(self):
        """(nbr, sim): numpy (n, k) int32 and float32 copies of the graph."""
        import numpy as np

        ids, sims = self._g.to_arrays()
        shape = (self.n, self.k)
        return (
            np.frombuffer(ids, dtype=np.int32).reshape(shape).copy(),
            np.frombuffer(sims, dtype=np.float32).reshape(shape).copy(),
        )

    def __len__(self):
        return self.n

    def __repr__(self):
        p = self.params
        return "ProximityGraph(n=%d, k=%d, mode=%r, M=%d, seed=%d)" % (
            self.n, self.k, p["mode"], p["m"], p["seed"])


# --------------------------------------------------------------------------
# metrics


def batch_stats(embeddings, batch, labels=None):
    """Hardness of one batch of b >= 2 distinct ids over (n, d) float32
    embeddings (cosine): dict(pairs, mean_sim, max_sim, mean_max_sim,
    fn_rate) where fn_rate (fraction of pairs with equal labels) is None
    without labels."""
    return _bs.batch_stats(
        _floats(embeddings), _ids(batch), None if labels is None else _ids(labels)
    )


def run_stats(embeddings, batches, labels=None, threads=0):
    """Statistics of nb batches given as an (nb, b) integer array (e.g. one
    epoch of a sampler): averages of batch_stats plus per-instance
    appearance counts."""
    if isinstance(batches, (list, tuple)):
        import numpy as np

        batches = np.asarray(batches, dtype=np.int64)
    return _bs.run_stats(
        _floats(embeddings), _ids(batches),
        None if labels is None else _ids(labels), _int(threads, "threads"),
    )


# --------------------------------------------------------------------------
# BatchSampler



class BatchSampler:
    """Batch sampler for ``torch.utils.data.DataLoader(batch_sampler=...)``.

    A thin wrapper over the library's batcher (``bs_batcher``): the same
    arguments give the same batches as the C API and the C trainer, given
    the same :meth:`update` calls.

    Yields lists of ``batch_size`` distinct int indices (this rank's slice of
    a global batch of ``world_size * batch_size``).  ``rank`` and
    ``world_size`` default to torch.distributed's when a process group is
    initialised (a different explicit value is a ValueError), else to 0 and
    1; under torch.distributed with W > 1, :meth:`update` all-gathers every
    rank's rows and graph rebuilds are split across the ranks (the
    constructor then creates a process group of its own for them: build
    the samplers at the same point on every rank).  Every epoch has exactly
    ``len(sampler)`` batches: ``batches_per_epoch`` if given, else
    ceil(N / (world_size * batch_size)) (floor with ``drop_last``), for every
    ``sampler`` kind, so that all samplers run the same number of steps.

    * Epochs ``< warmup_epochs`` use uniform batches (as the paper's reference
      implementation), and so does any batch before a graph exists.
    * The training loop calls :meth:`update` with each step's indices and
      projections; they go into the batcher's embedding store.  From the
      first graph epoch on, once every row has been written at least once,
      a graph is built from the store, then rebuilt every ``refresh_every``
      batches (when the store has changed).  Rebuild ``r`` uses the seed
      ``bs_batcher_graph_seed(seed, r)``.  ``refresh_lag = L > 0`` builds in
      a background thread while ``L`` more batches come from the graph in
      force, and installs the new graph at exactly the ``L``-th batch after
      the one that started it: the DataLoader does not stall on rebuilds and
      the batches do not depend on machine speed.
    * ``sampler``: "rwr" (BatchSampler), "knn" (seed + BFS over the graph;
      use ``mode="exact"`` for the kNN-sampler baseline) or "uniform".
    * ``epoch_mode``: "fixed" (coverage cleared every epoch), "carry"
      (coverage carried across epochs until every instance has appeared) or
      "exact" (every instance exactly once per epoch); see docs/samplers.md.
    * ``alpha_schedule``: "constant", "step" (0.1 less every 5 epochs;
      "decay" is its former name) or "reference" (the reference
      implementation's 0.02 less every epoch); floor 0.05.
    * ``mode``: graph mode, "shared" (default), "independent" or "exact".
    * ``threads``: OpenMP threads for graph builds (0 = default); results do
      not depend on it.  ``block``: shared-mode block size (0 = 256).
    * ``history``: how many batches back :meth:`state_dict` can resume
      (default 32: a DataLoader with up to 8 workers and the default
      ``prefetch_factor=2`` has at most 16 batches drawn but not trained).
    * ``embedding_dim``: the width d of the rows given to :meth:`update`;
      with None the first update fixes it (until then the batches are the
      uniform ones the batcher would give anyway: nothing is built before
      every row has been written).

    Epochs: the sampler advances to the next epoch by itself after the last
    batch of one.  ``set_epoch(e)`` jumps to the start of epoch ``e`` unless
    the sampler is already in epoch ``e`` (then it is a no-op, so that a
    sampler restored mid-epoch by :meth:`load_state_dict` continues where it
    stopped).  An iteration that is abandoned mid-epoch is continued by the
    next ``iter()``.

    Resume: :meth:`state_dict` saves the position after the last batch whose
    indices were passed to :meth:`update`, not after the batches a
    prefetching DataLoader has drawn ahead of training, so that a restored
    sampler issues exactly the batches the model has not trained on.

    Threads: one sampler must be used by one thread at a time (a second
    thread gets RuntimeError); different samplers may be used concurrently.
    The GIL is released during graph builds, waits and sampling.
    """

    def __init__(self, num_samples, batch_size, *, M=1000, K=100, alpha=0.2,
                 alpha_schedule="constant", refresh_every=100, warmup_epochs=1,
                 mode="shared", sampler="rwr", seed=0, rank=None,
                 world_size=None, drop_last=False, tau=0.0,
                 embedding_dim=None, threads=0, block=0, epoch_mode="fixed",
                 refresh_lag=0, history=32, batches_per_epoch=None):
        n = _int(num_samples, "num_samples")
        b = _int(batch_size, "batch_size")
        M = _int(M, "M")
        K = _int(K, "K")
        alpha = _float(alpha, "alpha")
        tau = _float(tau, "tau")
        refresh_every = _int(refresh_every, "refresh_every")
        warmup_epochs = _int(warmup_epochs, "warmup_epochs")
        refresh_lag = _int(refresh_lag, "refresh_lag")
        history = _int(history, "history")
        seed = _seed(seed)
        rank = None if rank is None else _int(rank, "rank")
        world_size = None if world_size is None else _int(world_size, "world_size")
        rank, world_size, dist = _dist.resolve(rank, world_size)
        threads = _int(threads, "threads")
        block = _int(block, "block")
        for name, v in (("mode", mode), ("sampler", sampler),
                        ("alpha_schedule", alpha_schedule),
                        ("epoch_mode", epoch_mode)):
            if not isinstance(v, str):
                raise TypeError("%s: expected a str, got %s" % (name, type(v).__name__))
        if not isinstance(drop_last, bool):
            raise TypeError("drop_last: expected a bool, got %s" % type(drop_last).__name__)
        if embedding_dim is not None:
            embedding_dim = _int(embedding_dim, "embedding_dim")
            if embedding_dim < 1:
                raise ValueError("embedding_dim = %d: expected >= 1" % embedding_dim)
        if batches_per_epoch is not None:
            batches_per_epoch = _int(batches_per_epoch, "batches_per_epoch")
            if batches_per_epoch < 1:
                raise ValueError("batches_per_epoch = %d: expected >= 1 (or None)"
                                 % batches_per_epoch)
        if n < 1:
            raise ValueError("num_samples = %d: expected >= 1" % n)
        # canonical names (ValueError with the library's message if unknown)
        kind = _bs.canonical_name("sampler", sampler)
        mode = _bs.canonical_name("mode", mode)
        alpha_schedule = _bs.canonical_name("schedule", alpha_schedule)
        epoch_mode = _bs.canonical_name("epoch_mode", epoch_mode)

        self._kw = dict(num_samples=n, batch_size=b, M=M, K=K, alpha=alpha,
                        alpha_schedule=alpha_schedule,
                        refresh_every=refresh_every,
                        warmup_epochs=warmup_epochs, mode=mode, sampler=kind,
                        seed=seed, rank=rank, world_size=world_size,
                        drop_last=drop_last, tau=tau,
                        embedding_dim=embedding_dim, threads=threads,
                        block=block, epoch_mode=epoch_mode,
                        refresh_lag=refresh_lag, history=history,
                        batches_per_epoch=batches_per_epoch)
        self._n = n
        self._kind = kind
        # under torch.distributed with W > 1 ranks: update() gathers, and
        # rebuilds are split across the ranks
        self._comm = None
        self._updates = 0  # update() calls: the step every rank must agree on
        if dist is not None and world_size > 1 and kind != "uniform":
            self._comm = _dist.Comm(dist, rank, world_size, graph_group=True)
        # The core batcher needs d.  Without embedding_dim it starts as a
        # batcher of d = 1 that no update reaches: with rows never written
        # it builds nothing, so its batches are exactly those of the real
        # one, which the first update creates and brings to this position.
        self._dim = embedding_dim if kind != "uniform" else 1
        # the library checks every parameter (ValueError with its message)
        self._core = self._make_core(self._dim or 1)
        self._L = self._core.epoch_length
        # rows still unwritten after warm-up and one uniform pass over the
        # data (which writes every row if each step's rows are handed back)
        # are worth a warning
        wb = world_size * b
        self._warn_from = max(self._L * max(1, warmup_epochs), -(-n // wb))
        self._history = history
        # (position, first ids) of issued batches, beyond the history too so
        # that a stale update() is told apart from none
        self._pending = _deque(maxlen=2 * history + 16)
        self._trained = None  # position after the last batch seen by update
        self._warned = False
        self._lock = _threading.Lock()

    def _make_core(self, dim):
        kw = self._kw
        return _bs.Batcher(
            kw["num_samples"], kw["batch_size"], kind=kw["sampler"],
            alpha=kw["alpha"], schedule=kw["alpha_schedule"], tau=kw["tau"],
            epoch_mode=kw["epoch_mode"],
            batches_per_epoch=kw["batches_per_epoch"] or 0,
            drop_last=kw["drop_last"], rank=kw["rank"], world=kw["world_size"],
            seed=kw["seed"], mode=kw["mode"], m=kw["M"], k=kw["K"],
            block=kw["block"], threads=kw["threads"], dim=dim,
            warmup_epochs=kw["warmup_epochs"],
            refresh_every=kw["refresh_every"], refresh_lag=kw["refresh_lag"],
            history=kw["history"],
            builder=None if self._comm is None else self._comm.builder())

    def _enter(self):
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(
                "BatchSampler is in use by another thread: use one sampler "
                "per thread")

    # ------------------------------------------------------------ protocol

    def __len__(self):
        """Batches per epoch: ``batches_per_epoch``, or ceil(N / (world_size
        * batch_size)) (floor with drop_last); the same for every kind."""
        return self._L

    def __iter__(self):
        """Yields the remaining batches of the current epoch (all of them
        unless an earlier iteration stopped mid-epoch or the sampler was
        restored mid-epoch), then moves to the next epoch."""
        for _ in range(self._L - self._core.batch_index):
            yield self._next_batch()

    def _next_batch(self):
        self._enter()
        try:
            core = self._core
            pos = core.position
            batch = core.next()
            self._pending.append((pos, tuple(batch[:4])))
            if (not self._warned and self._kind != "uniform"
                    and pos >= self._warn_from
                    and (self._dim is None or core.written < self._n)):
                self._warned = True
                missing = self._n if self._dim is None else self._n - core.written
                _warnings.warn(
                    "BatchSampler: %d of %d embedding rows never written by "
                    "update(); batches stay uniform until every row has been "
                    "written (with DDP, all_gather indices and projections "
                    "before update)" % (missing, self._n),
                    RuntimeWarning, stacklevel=3)
            return batch
        finally:
            self._lock.release()

    def set_epoch(self, epoch):
        """Go to the start of epoch ``epoch``; a no-op if the sampler is
        already in that epoch (see the class docstring)."""
        epoch = _int(epoch, "epoch")
        if epoch < 0:
            raise ValueError("epoch = %d: expected >= 0" % epoch)
        self._enter()
        try:
            if epoch != self._core.epoch:
                self._core.set_epoch(epoch)
                self._pending.clear()
                self._trained = None
        finally:
            self._lock.release()

    @property
    def epoch(self):
        """Epoch of the next batch."""
        return self._core.epoch

    @property
    def batch_index(self):
        """Batches already yielded in the current epoch."""
        return self._core.batch_index

    @property
    def position(self):
        """Batches yielded so far: epoch * len(self) + batch_index."""
        return self._core.position

    @property
    def num_graph_builds(self):
        """Graph rebuilds started so far."""
        return self._core.builds

    @property
    def graph(self):
        """The ProximityGraph in force (a copy), or None before the first."""
        g = self._core.graph
        return None if g is None else ProximityGraph(g)

    @property
    def using_graph(self):
        """True when a graph is in force and the epoch is past warm-up."""
        core = self._core
        return core.graph is not None and core.epoch >= self._kw["warmup_epochs"]

    @property
    def last_from_graph(self):
        """True when the last batch came from the graph sampler."""
        return self._core.last_from_graph

    @property
    def rows_written(self):
        """Embedding rows written at least once by update()."""
        return 0 if self._dim is None else self._core.written

    @property
    def times(self):
        """Seconds spent building graphs, waiting for background rebuilds
        and sampling (dict build_s, wait_s, sample_s)."""
        return self._core.times

    def refresh(self):
        """Removed: the batcher rebuilds the graph itself, every
        ``refresh_every`` batches, at batch positions fixed in advance (so
        that C and Python, and a resumed run, give the same batches)."""
        raise NotImplementedError(
            "BatchSampler.refresh() was removed: the graph is rebuilt every "
            "refresh_every batches by the library's batcher; use a smaller "
            "refresh_every (1 rebuilds at every batch whose store changed)")

    # ------------------------------------------------------------ update

    def update(self, indices, embeddings, *, gathered=None):
        """Write the step's projections into the embedding store.

        ``indices``: b ids (list, numpy int64/int32 array or torch tensor);
        ``embeddings``: (b, d) float32 array or tensor (float16 / bfloat16
        are converted; detached and moved to the CPU here).

        With ``world_size > 1`` every rank's store must receive every rank's
        rows.  Under torch.distributed, update() all-gathers the indices and
        embeddings of all ranks itself (any backend), after checking with a
        small collective that every rank is at the same update step (a rank
        that skipped an update() raises RuntimeError on every rank).  Pass
        ``gathered=True`` if the caller already gathered them (the step is
        still checked).  Without torch.distributed, gather them yourself and
        pass ``gathered=True`` (else ValueError).

        The store is not used by ``sampler="uniform"``; every kind records
        which issued batch the indices belong to (see :meth:`state_dict`)."""
        ids = _ids(indices)
        self._enter()
        try:
            if self._kind != "uniform":
                ids, emb = self._all_rows(ids, embeddings, gathered)
                if self._dim is None:
                    self._first_update(ids, emb)
                else:
                    self._core.update(ids, emb)
            self._match(ids)
        finally:
            self._lock.release()

    def _all_rows(self, ids, embeddings, gathered):
        """(ids, embeddings) of every rank for update()."""
        world = self._kw["world_size"]
        comm = self._comm
        if world == 1:
            return ids, _floats(embeddings)
        if comm is None:
            if not gathered:
                raise ValueError(
                    "update: world_size = %d and torch.distributed is not "
                    "initialised, so update() cannot gather the other ranks' "
                    "rows: gather every rank's indices and embeddings yourself "
                    "and pass gathered=True" % world)
            return ids, _floats(embeddings)
        import numpy as np

        # the step: the position of the batch these rows belong to (-1 if
        # not one of the batches issued) and the count of update() calls
        step = (self._find(ids)[1], self._updates)
        if gathered:
            emb = _floats(embeddings)
            shape = memoryview(emb).shape
            comm.check_step(step, len(memoryview(ids)),
                            shape[1] if len(shape) == 2 else -1)
        else:
            ids = np.asarray(ids)
            if ids.dtype.kind not in "iu":
                raise TypeError("indices: expected an integer array (int64 or "
                                "int32), got %s" % ids.dtype)
            ids = ids.astype(np.int64, copy=False)
            if ids.ndim != 1:
                raise ValueError("indices: expected a 1-D array, got %d-D" % ids.ndim)
            emb = embeddings
            if not _is_torch(emb):
                emb = _floats(emb)
                if type(emb).__module__ != "numpy":
                    emb = np.asarray(emb)
                if emb.dtype != np.float32:
                    raise TypeError("embeddings: expected dtype float32, got %s"
                                    % emb.dtype)
            ids, emb = comm.gather_rows(ids, emb, step)
        self._updates += 1
        return ids, emb

    def _first_update(self, ids, emb):
        mv = memoryview(emb)
        if mv.ndim != 2:
            # let the extension raise the right error
            _bs.check_embeddings(emb)
        core = self._widened(self._core, mv.shape[1])
        core.update(ids, emb)  # d is fixed only once an update succeeds
        self._core = core
        self._dim = mv.shape[1]

    def _widened(self, old, d):
        """A batcher of width d at the position of `old`, a batcher of width
        1 that no update reached: it replays the uniform batches (no row was
        ever written), from far enough back to fill the history ring."""
        core = self._make_core(d)
        start = max(0, old.position - self._history)
        core.set_epoch(start // self._L)
        while core.position < old.position:
            core.next()
        return core

    def _find(self, ids):
        """(j, position) of the oldest pending batch whose first ids all are
        in `ids`, or (-1, -1)."""
        if not self._pending:
            return -1, -1
        try:
            seen = set(memoryview(ids).tolist())
        except TypeError:
            return -1, -1
        for j, (pos, head) in enumerate(self._pending):
            if all(i in seen for i in head):
                return j, pos
        return -1, -1

    def _match(self, ids):
        """Marks the oldest pending batch whose first ids all are in `ids`
        (and the older ones) as trained."""
        j, pos = self._find(ids)
        if j >= 0:
            self._trained = pos + 1
            for _ in range(j + 1):
                self._pending.popleft()

    # ------------------------------------------------------------ state

    def _resume_position(self):
        """Where state_dict() resumes: after the last batch passed to
        update(), if it is within the history; else the current position."""
        cur = self._core.position
        if self._trained is None or self._trained == cur:
            return cur
        oldest = cur - self._history
        if self._trained < oldest:
            _warnings.warn(
                "BatchSampler.state_dict: update() last saw the batch at "
                "position %d, more than history = %d batches ago (position %d):"
                " saving the current position instead; batches drawn but not "
                "trained on will be skipped on resume (raise history)"
                % (self._trained - 1, self._history, cur),
                RuntimeWarning, stacklevel=3)
            return cur
        return self._trained

    def state_dict(self, position=None):
        """Everything needed to resume exactly, as one library blob (the
        batcher's state: position, samplers, graph in force, embedding store;
        about 4*N*d + 16*N*K bytes) plus the constructor arguments.  Values
        are ints, strs, bytes, dicts and None (torch.save / pickle friendly).

        The saved position is ``position`` if given (one of the last
        ``history`` positions), else the position after the last batch whose
        indices were passed to :meth:`update`: batches a DataLoader drew
        ahead of training are issued again after :meth:`load_state_dict`.
        The store is saved as it is now."""
        self._enter()
        try:
            if position is None:
                at = self._resume_position()
            else:
                at = _int(position, "position")
            blob = self._core.save_state(at=at)
        finally:
            self._lock.release()
        return dict(
            version=_STATE_VERSION,
            params=dict(self._kw),
            dim=self._dim,
            position=at,
            epoch=at // self._L,
            batch_index=at % self._L,
            warned=self._warned,
            updates=self._updates,
            batcher=blob,
        )

    def load_state_dict(self, state):
        """Restore a state_dict() of a sampler built with the same arguments
        (``threads`` and ``rank`` may differ).  ValueError on any mismatch;
        the sampler is unchanged on failure.

        Under data parallelism every rank's state is the same but for its
        rank, so rank 0's state_dict (saved in the usual rank-0 checkpoint)
        resumes every rank of the same ``world_size``: each keeps its own
        rank and continues with its own slices."""
        if not isinstance(state, dict):
            raise TypeError("state: expected a dict, got %s" % type(state).__name__)
        try:
            if state["version"] != _STATE_VERSION:
                raise ValueError("state version %r: expected %d"
                                 % (state["version"], _STATE_VERSION))
            saved = dict(state["params"])
            mine = dict(self._kw)
            for p in (saved, mine):
                p.pop("threads", None)
                # any rank's state resumes every rank of the same world:
                # the state is the global position, the same on every rank
                p.pop("rank", None)
            if saved.get("embedding_dim") is None or mine.get("embedding_dim") is None:
                saved.pop("embedding_dim", None)
                mine.pop("embedding_dim", None)
            if saved != mine:
                diff = sorted(k for k in set(saved) | set(mine)
                              if saved.get(k) != mine.get(k))
                raise ValueError(
                    "state was saved by a sampler with different parameters: "
                    + ", ".join("%s=%r (here %r)" % (k, saved.get(k), mine.get(k))
                                for k in diff))
            dim = state["dim"]
            if dim is not None:
                dim = _int(dim, "dim")
            core = self._make_core(1 if dim is None else dim)
            core.load_state(state["batcher"])  # ValueError on mismatch
            if dim is None and self._dim is not None:
                # saved before the first update, restored with embedding_dim
                dim = self._dim
                core = self._widened(core, dim)
            warned = bool(state.get("warned", False))
            updates = _int(state.get("updates", 0), "updates")
        except KeyError as e:
            raise ValueError("state: missing entry %s" % e) from None
        self._enter()
        try:
            self._core = core
            self._dim = dim
            self._pending.clear()
            self._trained = None
            self._warned = warned
            self._updates = updates
        finally:
            self._lock.release()

    def __getstate__(self):
        # a pickled sampler is a clone: its exact current position
        return {"kwargs": dict(self._kw),
                "state": self.state_dict(position=self._core.position)}

    def __setstate__(self, d):
        self.__init__(**d["kwargs"])
        self.load_state_dict(d["state"])

    def __repr__(self):
        kw = self._kw
        return ("BatchSampler(num_samples=%d, batch_size=%d, sampler=%r, M=%d, "
                "K=%d, alpha=%g, refresh_every=%d, epoch_mode=%r, rank=%d, "
                "world_size=%d, epoch=%d, batch_index=%d, graph_builds=%d)"
                % (kw["num_samples"], kw["batch_size"], kw["sampler"], kw["M"],
                   kw["K"], kw["alpha"], kw["refresh_every"], kw["epoch_mode"],
                   kw["rank"], kw["world_size"], self.epoch, self.batch_index,
                   self.num_graph_builds))
