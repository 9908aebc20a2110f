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
(no copy for contiguous CPU tensors).  They must be C-contiguous.  Errors:
``TypeError`` for a wrong type or dtype; ``ValueError`` (carrying the
library's message) for shapes, layout, NaN/Inf, out-of-range parameters;
``OSError`` for I/O.

See docs/python.md for DataLoader, DistributedDataParallel and thread-safety
notes.
"""

from array import array as _array
import operator as _operator
import warnings as _warnings

from . import _batchsampler as _bs

__all__ = [
    "BatchSampler",
    "ProximityGraph",
    "batch_stats",
    "run_stats",
    "check_embeddings",
    "__version__",
]

__version__ = _bs.__version__

_STATE_VERSION = 1
_MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------
# array helpers


def _is_torch(x):
    mod = type(x).__module__
    return mod.startswith("torch") and hasattr(x, "numpy")


def _floats(x):
    """An object exporting a float buffer (float32 is checked in C)."""
    if _is_torch(x):
        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        return x.numpy()
    if isinstance(x, (list, tuple)):
        raise TypeError(
            "embeddings: expected a float32 array (numpy array or torch "
            "tensor), got %s" % type(x).__name__
        )
    return x


def _ids(x):
    """An object exporting an int64/int32 buffer, from arrays or sequences."""
    if _is_torch(x):
        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        return x.numpy()
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


def _mix_seed(seed, i):
    """Seed of the i-th graph build: splitmix64 of (seed, i)."""
    z = (seed + 0x9E3779B97F4A7C15 * (i + 1)) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


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

    Yields lists of ``batch_size`` distinct int indices (this rank's slice of
    a global batch of ``world_size * batch_size``).  Every epoch has exactly
    ``len(sampler)`` = ceil(N / (world_size * batch_size)) batches
    (floor with ``drop_last``) for every ``sampler`` kind: coverage wraps
    (starts afresh once every instance has appeared) instead of ending the
    epoch, so that all samplers run the same number of steps.

    * Epochs ``< warmup_epochs`` use uniform batches (as the paper's reference
      implementation), and so does any batch before a graph exists.
    * The training loop calls :meth:`update` with each step's indices and
      projections; they go into the embedding store.  After warm-up, once
      every row has been written at least once, the graph is built from the
      store and then rebuilt every ``refresh_every`` batches (when the store
      has changed since the last build).  Build ``i`` uses a seed derived
      from ``(seed, i)``.
    * ``sampler``: "rwr" (BatchSampler), "knn" (seed + BFS over the graph;
      use ``mode="exact"`` for the kNN-sampler baseline) or "uniform".
    * ``mode``: graph mode, "shared" (default), "independent" or "exact".
    * ``threads``: OpenMP threads for graph builds (0 = default); results do
      not depend on it.  ``block``: shared-mode block size (0 = 256).

    Epochs: the sampler advances to the next epoch by itself after the last
    batch of one.  ``set_epoch(e)`` jumps to the start of epoch ``e`` unless
    the sampler is already in epoch ``e`` (then it is a no-op, so that a
    sampler restored mid-epoch by :meth:`load_state_dict` continues where it
    stopped).  An iteration that is abandoned mid-epoch is continued by the
    next ``iter()``.

    Threads: one sampler must be used by one thread at a time (a second
    thread gets RuntimeError while the first is inside the library);
    different samplers may be used concurrently.  The GIL is released during
    graph builds and sampling.
    """

    def __init__(self, num_samples, batch_size, *, M=1000, K=100, alpha=0.2,
                 alpha_schedule="constant", refresh_every=100, warmup_epochs=1,
                 mode="shared", sampler="rwr", seed=0, rank=0, world_size=1,
                 drop_last=False, tau=0.0, embedding_dim=None, threads=0,
                 block=0):
        n = _int(num_samples, "num_samples")
        b = _int(batch_size, "batch_size")
        M = _int(M, "M")
        K = _int(K, "K")
        alpha = _float(alpha, "alpha")
        tau = _float(tau, "tau")
        refresh_every = _int(refresh_every, "refresh_every")
        warmup_epochs = _int(warmup_epochs, "warmup_epochs")
        seed = _seed(seed)
        rank = _int(rank, "rank")
        world_size = _int(world_size, "world_size")
        threads = _int(threads, "threads")
        block = _int(block, "block")
        for name, v in (("mode", mode), ("sampler", sampler),
                        ("alpha_schedule", alpha_schedule)):
            if not isinstance(v, str):
                raise TypeError("%s: expected a str, got %s" % (name, type(v).__name__))
        if not isinstance(drop_last, bool):
            raise TypeError("drop_last: expected a bool, got %s" % type(drop_last).__name__)
        if embedding_dim is not None:
            embedding_dim = _int(embedding_dim, "embedding_dim")
            if embedding_dim < 1:
                raise ValueError("embedding_dim = %d: expected >= 1" % embedding_dim)
        if n < 1:
            raise ValueError("num_samples = %d: expected >= 1" % n)
        if b < 1:
            raise ValueError("batch_size = %d: expected >= 1" % b)
        if world_size < 1:
            raise ValueError("world_size = %d: expected >= 1" % world_size)
        if not 0 <= rank < world_size:
            raise ValueError("rank = %d: expected 0 <= rank < world_size = %d"
                             % (rank, world_size))
        if refresh_every < 1:
            raise ValueError("refresh_every = %d: expected >= 1" % refresh_every)
        if warmup_epochs < 0:
            raise ValueError("warmup_epochs = %d: expected >= 0" % warmup_epochs)
        kind = _bs.parse_sampler_kind(sampler)  # ValueError if unknown
        mode = _bs.parse_graph_mode(mode)  # ValueError if unknown
        if alpha_schedule not in ("constant", "decay"):
            raise ValueError("alpha_schedule '%s': expected constant or decay"
                             % alpha_schedule)
        g = world_size * b
        if drop_last:
            bpe = n // g
        else:
            bpe = -(-n // g)
        common = dict(alpha=alpha, schedule=alpha_schedule, tau=tau,
                      batches_per_epoch=max(bpe, 1), drop_last=drop_last,
                      rank=rank, world=world_size, seed=seed)
        # The library checks B, W*B <= n, alpha, tau, rank/world.
        uniform = _bs.Sampler(n, b, kind="uniform", **common)
        if not 0.0 <= alpha < 1.0:
            raise ValueError("alpha = %g: expected 0 <= alpha < 1" % alpha)
        if not tau >= 0.0:
            raise ValueError("tau = %g: expected tau >= 0" % tau)
        if kind != "uniform":
            _bs.check_graph_params(n, M, K, mode, block)

        self._kw = dict(num_samples=n, batch_size=b, M=M, K=K, alpha=alpha,
                        alpha_schedule=alpha_schedule,
                        refresh_every=refresh_every,
                        warmup_epochs=warmup_epochs, mode=mode, sampler=kind,
                        seed=seed, rank=rank, world_size=world_size,
                        drop_last=drop_last, tau=tau,
                        embedding_dim=embedding_dim, threads=threads,
                        block=block)
        self._n = n
        self._b = b
        self._kind = kind
        self._bpe = bpe
        self._common = common
        self._uniform = uniform
        self._walker = None  # graph sampler, created with the first graph
        self._graph = None  # _bs.Graph in force
        self._store = None  # _bs.EmbStore, created by the first update
        if embedding_dim is not None and kind != "uniform":
            self._store = _bs.EmbStore(n, embedding_dim)
        self._epoch = 0
        self._pos = 0  # batches yielded in the current epoch
        self._since_build = 0  # batches yielded since the last graph build
        self._builds = 0  # graphs built so far
        self._built_version = None  # store version the graph was built from
        self._warned = False

    # ------------------------------------------------------------ protocol

    def __len__(self):
        """Batches per epoch: ceil(N / (world_size * batch_size)), floor with
        drop_last; the same for every sampler kind."""
        return self._bpe

    def __iter__(self):
        """Yields the remaining batches of the current epoch (all of them
        unless an earlier iteration stopped mid-epoch or the sampler was
        restored mid-epoch), then moves to the next epoch."""
        for _ in range(self._bpe - self._pos):
            yield self._next_batch()

    def set_epoch(self, epoch):
        """Go to the start of epoch ``epoch``; a no-op if the sampler is
        already in that epoch (see the class docstring)."""
        epoch = _int(epoch, "epoch")
        if epoch < 0:
            raise ValueError("epoch = %d: expected >= 0" % epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._pos = 0

    @property
    def epoch(self):
        """Current epoch."""
        return self._epoch

    @property
    def batch_index(self):
        """Batches already yielded in the current epoch."""
        return self._pos

    @property
    def num_graph_builds(self):
        """Number of graphs built so far."""
        return self._builds

    @property
    def graph(self):
        """The ProximityGraph in force, or None before the first build."""
        return None if self._graph is None else ProximityGraph(self._graph)

    @property
    def using_graph(self):
        """True when the next batch will come from the graph sampler."""
        return self._walker is not None and self._epoch >= self._kw["warmup_epochs"]

    def _next_batch(self):
        epoch = self._epoch
        if self._pos == 0:
            # batches of epoch e depend only on (seed, e, graphs)
            self._uniform.set_epoch(epoch)
            if self._walker is not None:
                self._walker.set_epoch(epoch)
        if self._kind != "uniform" and epoch >= self._kw["warmup_epochs"]:
            self._maybe_refresh()
        src = self._uniform
        if self._walker is not None and epoch >= self._kw["warmup_epochs"]:
            src = self._walker
        batch = src.next()
        if batch is None:  # the library ended its epoch early: wrap
            batch = src.next()
        self._pos += 1
        self._since_build += 1
        if self._pos >= self._bpe:
            self._epoch = epoch + 1
            self._pos = 0
        return batch

    def _maybe_refresh(self):
        if self._graph is not None and self._since_build < self._kw["refresh_every"]:
            return
        st = self._store
        if st is None or st.written < self._n:
            if not self._warned and self._epoch >= max(1, self._kw["warmup_epochs"]):
                self._warned = True
                _warnings.warn(
                    "BatchSampler: %s of %d embedding rows never written by "
                    "update(); batches stay uniform until every row has been "
                    "written (with DDP, all_gather indices and projections "
                    "before update)" % (self._n if st is None else self._n - st.written,
                                        self._n),
                    RuntimeWarning, stacklevel=4)
            return
        if st.version == self._built_version:
            return  # nothing new since the last build
        self.refresh()

    def refresh(self):
        """Build a graph from the embedding store now and put it in force
        (normally automatic).  ValueError if some row was never written."""
        if self._kind == "uniform":
            return
        st = self._store
        if st is None:
            raise ValueError("BatchSampler.refresh: no embeddings yet; call update() first")
        kw = self._kw
        g = st.build_graph(kw["M"], kw["K"], kw["mode"],
                           _mix_seed(kw["seed"], self._builds), block=kw["block"],
                           threads=kw["threads"])
        if self._walker is None:
            w = _bs.Sampler(self._n, self._b, kind=self._kind, graph=g, **self._common)
            w.set_epoch(self._epoch)
            self._walker = w
        else:
            self._walker.set_graph(g)
        self._graph = g
        self._builds += 1
        self._since_build = 0
        self._built_version = st.version

    # ------------------------------------------------------------ update

    def update(self, indices, embeddings):
        """Write the step's projections into the embedding store.

        ``indices``: b ids (list, numpy int64/int32 array or torch tensor);
        ``embeddings``: float32 (b, d) array or tensor (detached and moved to
        the CPU here).  With DDP pass all ranks' rows (all_gather first).  A
        no-op for ``sampler="uniform"``."""
        if self._kind == "uniform":
            return
        emb = _floats(embeddings)
        st = self._store
        if st is None:
            mv = memoryview(emb)
            if mv.ndim != 2:
                # let the extension raise the right error
                _bs.check_embeddings(emb)
            st = _bs.EmbStore(self._n, mv.shape[1])
            st.update(_ids(indices), emb)
            self._store = st  # only once a first update has succeeded
            return
        st.update(_ids(indices), emb)

    # ------------------------------------------------------------ state

    def state_dict(self):
        """Everything needed to resume exactly: constructor arguments, epoch
        and position, both samplers' state blobs, the graph in force (its
        n*k ids and similarities, 8*n*k bytes) and the embedding store
        (4*n*d bytes plus an n-byte written mask).  Values are ints, strs,
        bytes, dicts and None (torch.save / pickle friendly)."""
        graph = None
        if self._graph is not None:
            nbr, sim = self._graph.to_arrays()
            graph = dict(n=self._graph.n, k=self._graph.k, nbr=nbr, sim=sim,
                         params=self._graph.params)
        store = None
        if self._store is not None:
            data, written = self._store.get_state()
            store = dict(n=self._store.n, d=self._store.d, data=data,
                         written=written)
        return dict(
            version=_STATE_VERSION,
            params=dict(self._kw),
            epoch=self._epoch,
            pos=self._pos,
            since_build=self._since_build,
            builds=self._builds,
            store_dirty=(self._store is not None
                         and self._store.version != self._built_version),
            warned=self._warned,
            uniform=self._uniform.save_state(),
            walker=None if self._walker is None else self._walker.save_state(),
            graph=graph,
            store=store,
        )

    def load_state_dict(self, state):
        """Restore a state_dict() of a sampler built with the same arguments
        (``threads`` may differ).  ValueError on any mismatch; the sampler is
        unchanged on failure."""
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
            # build everything first, then commit
            uniform = _bs.Sampler(self._n, self._b, kind="uniform", **self._common)
            uniform.load_state(state["uniform"])
            store = None
            if state["store"] is not None:
                s = state["store"]
                store = _bs.EmbStore(s["n"], s["d"])
                store.set_state(s["data"], s["written"])
                if s["n"] != self._n:
                    raise ValueError("state: store of %d rows, expected %d"
                                     % (s["n"], self._n))
            graph = walker = None
            if state["graph"] is not None:
                gs = state["graph"]
                gp = gs["params"]
                graph = _bs.Graph.from_arrays(gs["n"], gs["k"],
                                              memoryview(gs["nbr"]).cast("B").cast("i"),
                                              memoryview(gs["sim"]).cast("B").cast("f"),
                                              mode=gp["mode"], m=gp["m"],
                                              seed=gp["seed"], block=gp["block"])
                walker = _bs.Sampler(self._n, self._b, kind=self._kind, graph=graph,
                                     **self._common)
                if state["walker"] is not None:
                    walker.load_state(state["walker"])
            epoch = _int(state["epoch"], "epoch")
            pos = _int(state["pos"], "pos")
            if epoch < 0 or not 0 <= pos < self._bpe:
                raise ValueError("state: epoch %d, position %d out of range" % (epoch, pos))
            since_build = _int(state["since_build"], "since_build")
            builds = _int(state["builds"], "builds")
        except KeyError as e:
            raise ValueError("state: missing entry %s" % e) from None
        self._uniform = uniform
        self._walker = walker
        self._graph = graph
        self._store = store
        self._epoch = epoch
        self._pos = pos
        self._since_build = since_build
        self._builds = builds
        self._built_version = None
        if store is not None and not state.get("store_dirty", True):
            self._built_version = store.version
        self._warned = bool(state.get("warned", False))

    def __getstate__(self):
        return {"kwargs": dict(self._kw), "state": self.state_dict()}

    def __setstate__(self, d):
        self.__init__(**d["kwargs"])
        self.load_state_dict(d["state"])

    def __repr__(self):
        kw = self._kw
        return ("BatchSampler(num_samples=%d, batch_size=%d, sampler=%r, M=%d, "
                "K=%d, alpha=%g, refresh_every=%d, rank=%d, world_size=%d, "
                "epoch=%d, batch_index=%d, graph_builds=%d)"
                % (kw["num_samples"], kw["batch_size"], kw["sampler"], kw["M"],
                   kw["K"], kw["alpha"], kw["refresh_every"], kw["rank"],
                   kw["world_size"], self._epoch, self._pos, self._builds))
