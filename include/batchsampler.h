/*
 * batchsampler.h — the whole public contract of libbatchsampler.
 *
 * BatchSampler (Yang et al., KDD 2023) chooses which instances share a
 * mini-batch so that in-batch contrastive learning sees hard but true
 * negatives:
 *
 *   1. a proximity graph links every instance to the K most cosine-similar of
 *      M random candidates (bs_graph_build);
 *   2. a random walk with restart on that graph collects a batch of B distinct
 *      instances (bs_sampler with BS_SAMPLER_RWR);
 *   3. the graph is rebuilt every t batches from the latest embeddings
 *      (bs_embstore + bs_graph_build + bs_sampler_set_graph).
 *
 * Conventions (they hold for every function below unless it says otherwise)
 *
 *   Errors.  A fallible function returns a bs_status; BS_OK (0) is success.
 *            Its last argument is a `bs_error *err` that may be NULL; when it
 *            is not NULL and the call fails, err->code and err->msg receive the
 *            code and one line saying what was wrong, where, and what was
 *            expected.  On failure every output argument is left untouched or
 *            set to an empty value (NULL pointer), never half-filled, and no
 *            file is left half-written.
 *   Memory.  An object returned through `**out` belongs to the caller, who
 *            frees it with the matching *_free function (NULL is accepted).
 *            Pointers passed in are borrowed for the duration of the call
 *            only, except where a function says it keeps a reference.
 *   Threads. The library has no global mutable state.  Distinct objects may
 *            be used from distinct threads concurrently.  One object must not
 *            be used from two threads at once, except through functions
 *            marked "const-safe", which only read it.  Parallel work inside a
 *            call uses OpenMP with the thread count given in its parameters
 *            (0 = the OpenMP default).  Results never depend on that count.
 *   Files.   Outputs are written atomically (temporary file, fsync, rename)
 *            and only over a new name or a regular file: an existing
 *            directory, device, FIFO or socket is refused, never replaced.
 *            A symbolic link is written through (its target is replaced,
 *            the link stays); a dangling link is refused.  Inputs must be
 *            regular files (a FIFO is refused, not waited on).
 *   Ids.     Instance ids are int64_t in [0, n).  Graph neighbour ids are
 *            int32_t (n < 2^31).
 *   Seeds.   The same seed, parameters and inputs give bit-identical outputs
 *            on the same machine and library build, for any thread count.
 */
#ifndef BATCHSAMPLER_H
#define BATCHSAMPLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is compiled with hidden visibility: what this header declares
   is exported from libbatchsampler.so, and nothing else.  BS_NO_EXPORT
   (the static library's build) leaves the declarations hidden too. */
#if defined(__GNUC__) && !defined(BS_NO_EXPORT)
#pragma GCC visibility push(default)
#endif

#define BS_VERSION_MAJOR 0
#define BS_VERSION_MINOR 1
#define BS_VERSION_PATCH 0
#define BS_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum {
    BS_OK = 0,
    BS_ERR_INVALID_ARG = 1, /* a parameter is out of range or inconsistent */
    BS_ERR_NOMEM = 2,       /* an allocation failed */
    BS_ERR_IO = 3,          /* open/read/write/rename failed (errno text) */
    BS_ERR_FORMAT = 4,      /* a file or blob is malformed, truncated,
                               oversized, of the wrong kind or corrupt */
    BS_ERR_DATA = 5,        /* input values are unusable: NaN/Inf, zero row */
    BS_ERR_STATE = 6,       /* object used out of order, or a saved state that
                               does not match the object it is restored to */
    BS_ERR_CANCELLED = 7,   /* a progress callback asked to stop */
    BS_ERR_UNSUPPORTED = 8  /* valid but not supported (e.g. dtype) */
} bs_status;

#define BS_ERROR_MSG_MAX 512

typedef struct {
    bs_status code;
    char msg[BS_ERROR_MSG_MAX]; /* NUL-terminated, one line, no newline */
} bs_error;

/* Name of a status code ("BS_ERR_FORMAT"); never NULL.  Const-safe. */
const char *bs_status_name(bs_status s);

/* Library version string, e.g. "0.1.0"; static storage.  Const-safe. */
const char *bs_version(void);

/*
 * Progress callback for long calls.  Called from the calling thread only,
 * with done <= total, at most a few hundred times per call.  Return 0 to go
 * on, non-zero to cancel: the call then fails with BS_ERR_CANCELLED.
 */
typedef int (*bs_progress_fn)(void *ctx, int64_t done, int64_t total);

/* ------------------------------------------------------------------------ */
/* Arrays and .npy files                                                     */
/* ------------------------------------------------------------------------ */

typedef enum {
    BS_DTYPE_F32 = 0, /* '<f4' */
    BS_DTYPE_F64 = 1, /* '<f8' */
    BS_DTYPE_I32 = 2, /* '<i4' */
    BS_DTYPE_I64 = 3  /* '<i8' */
} bs_dtype;

#define BS_NPY_MAX_NDIM 8

/*
 * A dense C-order array.  `data` is owned by whoever filled the struct:
 * arrays filled by bs_npy_read* are freed with bs_array_free.
 */
typedef struct {
    bs_dtype dtype;
    int ndim; /* 0..BS_NPY_MAX_NDIM */
    int64_t shape[BS_NPY_MAX_NDIM];
    void *data; /* prod(shape) elements */
} bs_array;

/* Number of elements (product of shape; 1 for ndim 0). Const-safe. */
int64_t bs_array_size(const bs_array *a);
/* Size of one element of a dtype in bytes. */
size_t bs_dtype_size(bs_dtype t);
/* Frees a->data and zeroes *a.  NULL is accepted. */
void bs_array_free(bs_array *a);

/*
 * Reads a .npy file (format 1.0, 2.0 or 3.0; little-endian f4, f8, i4, i8;
 * C order).  Rejects, with BS_ERR_FORMAT and a message naming what was found
 * and what was expected: a bad magic or version, a malformed or oversized
 * header, Fortran order, big-endian or other dtypes, more than
 * BS_NPY_MAX_NDIM dimensions, and data shorter or longer than the shape says.
 * On success *out owns freshly allocated data.
 */
bs_status bs_npy_read(const char *path, bs_array *out, bs_error *err);
/* The same from a buffer in memory (used by the fuzzer).  `what` names the
   source in messages (may be NULL). */
bs_status bs_npy_read_mem(const void *buf, size_t len, const char *what,
                          bs_array *out, bs_error *err);

/*
 * Writes a .npy file (format 1.0, or 2.0 when the header needs it).  Written
 * to a temporary file in the same directory, fsync'ed and renamed over
 * `path`, so `path` is either the old file or the complete new one.
 */
bs_status bs_npy_write(const char *path, const bs_array *a, bs_error *err);

/*
 * Loads an (n, d) float matrix: f4 as is, f8 converted to f4 (values out of
 * f4 range become an error).  Rank other than 2, or an integer dtype, is
 * BS_ERR_FORMAT.  *x is malloc'ed; free() it.
 */
bs_status bs_npy_load_matrix(const char *path, float **x, int64_t *n,
                             int64_t *d, bs_error *err);
/*
 * Loads a 1-D label vector of i4 or i8 into int64.  *y is malloc'ed; free().
 */
bs_status bs_npy_load_labels(const char *path, int64_t **y, int64_t *n,
                             bs_error *err);

/* ------------------------------------------------------------------------ */
/* Embedding checks and store                                                */
/* ------------------------------------------------------------------------ */

/*
 * Checks that an n x d row-major matrix is usable for cosine similarity:
 * n >= 1, d >= 1, every value finite, no all-zero row.  A row whose norm is
 * below FLT_MIN counts as all-zero: its float dot products and inverse norm
 * underflow, so its similarities would be wrong.  The error names the
 * first bad row (and column for NaN/Inf).  Const-safe.
 */
bs_status bs_check_embeddings(const float *x, int64_t n, int64_t d,
                              bs_error *err);

/*
 * The embedding store: the latest projection of every instance, kept for
 * graph refreshes.  A training step writes the rows it has just computed;
 * rows never written keep their initial (or last) value.
 */
typedef struct bs_embstore bs_embstore;

/* Creates an n x d store.  `init` (n*d floats, may be NULL) is copied; with
   NULL every row starts at zero and must be written before a graph build. */
bs_status bs_embstore_create(int64_t n, int64_t d, const float *init,
                             bs_embstore **out, bs_error *err);
void bs_embstore_free(bs_embstore *s);
/* Overwrites rows idx[0..count) with rows[i*d .. i*d+d).  Indices may repeat
   (the last write wins).  Ids out of range fail before anything is written. */
bs_status bs_embstore_update(bs_embstore *s, const int64_t *idx, int64_t count,
                             const float *rows, bs_error *err);
/* Read access (const-safe).  The pointer stays valid until the store is freed;
   its contents change with bs_embstore_update. */
const float *bs_embstore_data(const bs_embstore *s);
int64_t bs_embstore_n(const bs_embstore *s);
int64_t bs_embstore_d(const bs_embstore *s);
/* Rows written at least once (by init or an update: a store created with
   init counts every row as written).  Const-safe. */
int64_t bs_embstore_written(const bs_embstore *s);
/* Whether row i has been written (0 for i out of range).  Const-safe. */
int bs_embstore_row_written(const bs_embstore *s, int64_t i);
/* A counter bumped by every successful update with count > 0 (0 after
   create), so that a caller can tell whether the store changed.  Const-safe. */
uint64_t bs_embstore_version(const bs_embstore *s);

/* ------------------------------------------------------------------------ */
/* Proximity graph                                                           */
/* ------------------------------------------------------------------------ */

typedef enum {
    /* Every node draws its own M candidates (the paper's definition). */
    BS_MODE_INDEPENDENT = 0,
    /* Nodes in consecutive blocks of `block` ids share one draw, so a block's
       similarities are one GEMM.  Each node still sees M uniform candidates
       without replacement that never include itself; what changes is that
       the candidate sets of nodes in one block are identical rather than
       independent (see docs/graph.md). */
    BS_MODE_SHARED = 1,
    /* All n-1 other nodes: the exact kNN graph (kNN-sampler baseline). */
    BS_MODE_EXACT = 2
} bs_graph_mode;

/* The largest value any `threads` parameter accepts (bs_graph_params.threads,
   bs_run_stats_compute): more fail with BS_ERR_INVALID_ARG instead of
   asking OpenMP for threads it cannot create. */
#define BS_MAX_THREADS 4096

typedef struct {
    bs_graph_mode mode;      /* default BS_MODE_SHARED */
    int64_t m;               /* candidates per node, K <= M < n; ignored by
                                BS_MODE_EXACT. default 1000 */
    int32_t k;               /* neighbours kept, 1 <= K; default 100 */
    uint64_t seed;           /* default 0 */
    int32_t block;           /* BS_MODE_SHARED block size; 0 = default (256).
                                Part of the result: changing it changes the
                                graph. */
    int threads;             /* 0 = OpenMP default; at most BS_MAX_THREADS */
    bs_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} bs_graph_params;

/* Fills *p with the defaults above. */
void bs_graph_params_default(bs_graph_params *p);
/* Checks parameters against n (K <= M < n, M >= K, K <= n-1 for exact...). */
bs_status bs_graph_params_check(const bs_graph_params *p, int64_t n,
                                bs_error *err);
/* "independent" / "shared" / "exact"; NULL for an unknown value. */
const char *bs_graph_mode_name(bs_graph_mode m);
/* Parses a mode name; BS_ERR_INVALID_ARG for an unknown one. */
bs_status bs_graph_mode_parse(const char *s, bs_graph_mode *m, bs_error *err);

/*
 * A proximity graph: n nodes, each with exactly k out-neighbours sorted by
 * cosine similarity, descending (ties: smaller id first), never itself.
 */
typedef struct bs_graph bs_graph;

/*
 * Builds the graph of the n x d embeddings x (not necessarily normalised;
 * checked as bs_check_embeddings does).  Memory beyond the result: O(n) plus
 * per-thread O((block + M) * d) scratch; x is not copied.
 */
bs_status bs_graph_build(const float *x, int64_t n, int64_t d,
                         const bs_graph_params *p, bs_graph **out,
                         bs_error *err);

/*
 * Builds only rows [lo, hi) into caller buffers nbr[(hi-lo)*k], sim[(hi-lo)*k]
 * (sim may be NULL).  The result is bit-identical to those rows of
 * bs_graph_build with the same x and parameters (for multi-machine builds).
 * x must still hold all n rows.
 */
bs_status bs_graph_build_rows(const float *x, int64_t n, int64_t d,
                              const bs_graph_params *p, int64_t lo, int64_t hi,
                              int32_t *nbr, float *sim, bs_error *err);

/*
 * Wraps caller-computed rows (e.g. gathered from several machines) into a
 * graph.  Copies nbr and sim (sim may be NULL: zeros).  Validates every id:
 * 0 <= id < n and id != its row.
 */
bs_status bs_graph_from_arrays(int64_t n, int32_t k, const int32_t *nbr,
                               const float *sim, const bs_graph_params *p,
                               bs_graph **out, bs_error *err);

void bs_graph_free(bs_graph *g);

/* Accessors (const-safe). */
int64_t bs_graph_n(const bs_graph *g);
int32_t bs_graph_k(const bs_graph *g);
/* The parameters the graph was built with (progress fields are NULL). */
void bs_graph_get_params(const bs_graph *g, bs_graph_params *p);
/* Row i's k neighbour ids / similarities; NULL if i is out of range. */
const int32_t *bs_graph_neighbors(const bs_graph *g, int64_t i);
const float *bs_graph_similarities(const bs_graph *g, int64_t i);

/*
 * Graph file (.bsg), little-endian, a 48-byte header then the payload:
 * magic "BSGRAPH\0" (8 bytes), u32 version (1), u32 mode, i64 n, i32 k,
 * i32 block, i64 m, u64 seed; n*k int32 ids; n*k float32 similarities;
 * u32 CRC-32 (zlib) of every byte before it (layout table in
 * src/graph_io.c).  Written through a temporary file renamed into place.
 * Saving refuses a graph the loader would reject (BS_ERR_INVALID_ARG).
 * Loading checks the magic, version, mode, sizes (file length must match
 * exactly), the checksum, every id (< n, not its own row) and every
 * similarity (finite, in [-1.0001, 1.0001]); errors are BS_ERR_FORMAT
 * (BS_ERR_IO when the file cannot be read).
 */
bs_status bs_graph_save(const bs_graph *g, const char *path, bs_error *err);
bs_status bs_graph_load(const char *path, bs_graph **out, bs_error *err);
/* The same from a buffer in memory (used by the fuzzer). */
bs_status bs_graph_load_mem(const void *buf, size_t len, const char *what,
                            bs_graph **out, bs_error *err);

/* ------------------------------------------------------------------------ */
/* Samplers                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum {
    BS_SAMPLER_UNIFORM = 0, /* shuffled permutation cut into batches */
    BS_SAMPLER_RWR = 1,     /* random walk with restart (BatchSampler) */
    BS_SAMPLER_KNN = 2      /* seed + BFS over the (exact) kNN graph */
} bs_sampler_kind;

typedef enum {
    BS_ALPHA_CONSTANT = 0,
    /* "step": alpha_e = max(0.05, alpha_0 - 0.1 * floor(e / 5)) for epoch e
       (0-based): 0.1 less every 5 epochs. */
    BS_ALPHA_STEP = 1,
    /* "reference": the reference implementation's schedule exactly:
       restart_p = alpha_0 - ((e + 1) / 5) * 0.1 with true division and the
       epoch counted from 1 (warm-up epochs included), floor 0.05; i.e. 0.02
       less every epoch, starting at alpha_0 - 0.02 in epoch 0. */
    BS_ALPHA_REFERENCE = 2
} bs_alpha_schedule;
/* The former name of BS_ALPHA_STEP ("decay" is still parsed). */
#define BS_ALPHA_DECAY BS_ALPHA_STEP

/* "constant" / "step" / "reference"; NULL for an unknown value. */
const char *bs_alpha_schedule_name(bs_alpha_schedule s);
/* Parses a schedule name ("decay" is accepted for "step");
   BS_ERR_INVALID_ARG for an unknown one. */
bs_status bs_alpha_schedule_parse(const char *s, bs_alpha_schedule *out,
                                  bs_error *err);
/* alpha in force in epoch e (>= 0) under a schedule.  Const-safe. */
double bs_alpha_at_epoch(double alpha0, bs_alpha_schedule s, int64_t e);

/*
 * How a graph sampler's coverage (the instances that already appeared)
 * relates to epochs.  Start nodes are always drawn among the uncovered
 * instances; the modes differ in when coverage is cleared and in whether a
 * batch may hold covered instances.  Uniform samplers ignore the mode (a
 * permutation per pass is already `exact`).  See docs/samplers.md for the
 * coverage each mode gives, measured.
 */
typedef enum {
    /* Coverage is cleared at every epoch start (and, with
       batches_per_epoch > 0, whenever every instance has appeared).  Walks
       add any node they visit.  With fixed-length epochs an epoch covers
       only part of the data (about 60% at N/B batches), and low in-degree
       instances rarely appear. */
    BS_EPOCH_FIXED = 0,
    /* As fixed, but coverage is carried across epoch boundaries and cleared
       only once every instance has appeared: the reference implementation's
       coverage rule at an equal step budget.  Epoch e's batches then depend
       on the coverage left by epoch e - 1 (bs_sampler_set_epoch keeps the
       coverage instead of clearing it).  With batches_per_epoch = 0 it is
       the same as fixed. */
    BS_EPOCH_CARRY = 1,
    /* Every instance exactly once per pass: walks pass through covered
       instances without adding them and, when they stop finding uncovered
       ones, restart from an uncovered instance.  With batches_per_epoch = 0
       a pass is an epoch (its last batch is completed with covered
       instances); with batches_per_epoch > 0 passes follow each other
       across epochs (bs_sampler_set_epoch keeps the coverage, as under
       carry), and the batch in which a pass ends counts for both passes.  Beyond the paper: uniform's coverage with RWR's
       neighbourhoods. */
    BS_EPOCH_EXACT = 2
} bs_epoch_mode;

/* "fixed" / "carry" / "exact"; NULL for an unknown value. */
const char *bs_epoch_mode_name(bs_epoch_mode m);
bs_status bs_epoch_mode_parse(const char *s, bs_epoch_mode *out, bs_error *err);

typedef struct {
    bs_sampler_kind kind;       /* default BS_SAMPLER_RWR */
    int64_t batch_size;         /* B per rank, >= 1; default 256 */
    double alpha;               /* restart probability in [0, 1); 0.2 */
    bs_alpha_schedule schedule; /* default BS_ALPHA_CONSTANT */
    /* RWR transitions: 0 = uniform over the k neighbours (the paper);
       > 0 = probability proportional to exp(similarity / tau). */
    double tau;
    /* Walk steps allowed per start node before the walk continues from
       another uncovered node.  A step is one move to a neighbour, made from
       the start node with probability alpha (a restart) and from the
       current node otherwise: restarts that land on the start again visit
       nothing new, so they are folded into the next move, which keeps the
       cost per step independent of alpha.  Whatever this budget, a walk
       that has made 2K + 32 steps in a row without adding a node (a small
       component, a hub, alpha near 1, or exact epochs late in a pass)
       continues from a new start.  0 = default: 16 * W * B (16 global
       batches' worth, so that W ranks walk exactly as one rank with batch
       W*B). */
    int64_t max_steps;
    /* 0: the epoch ends once every instance has appeared (graph samplers) or
       the permutation is used up (uniform).  > 0: the epoch is exactly this
       many batches (see epoch_mode for coverage).  Use it to give every
       sampler the same number of steps. */
    int64_t batches_per_epoch;
    bs_epoch_mode epoch_mode; /* default BS_EPOCH_FIXED */
    int drop_last;            /* drop an epoch's incomplete last batch
                        instead of completing it; default 0 */
    int rank, world;          /* shard r of W; default 0 of 1 */
    uint64_t seed;            /* default 0 */
} bs_sampler_params;

void bs_sampler_params_default(bs_sampler_params *p);
const char *bs_sampler_kind_name(bs_sampler_kind k);
bs_status bs_sampler_kind_parse(const char *s, bs_sampler_kind *k,
                                bs_error *err);

/*
 * A sampler is an iterator over batches of one epoch after another.
 *
 * Every call of bs_sampler_next yields exactly B = batch_size distinct ids
 * (rank r's slice [r*B, (r+1)*B) of a global batch of W*B distinct ids that
 * every rank computes identically from the same seed and graph).  An epoch's
 * last global batch, when the epoch runs out of new instances before it is
 * full, is completed: uniform takes the first instances of that epoch's
 * permutation not already in the batch; the graph samplers keep walking
 * (over covered nodes).  With drop_last such a batch is dropped instead
 * (uniform only: a graph sampler's last batch is always complete).
 *
 * Start nodes (RWR, kNN) are drawn uniformly from the instances not yet
 * covered in the epoch.  Batches of epoch e depend only on (seed, e, params,
 * the graphs in force): bs_sampler_set_epoch(s, e) replays them.
 *
 * The sampler keeps a reference to the graph: it must stay alive and
 * unchanged until replaced by bs_sampler_set_graph or the sampler is freed.
 *
 * Details (docs/samplers.md): a graph batch lists its ids in the order the
 * walk (BFS) first reached them, its start first.  A new start needed when
 * every instance is already covered (inside an epoch's last batch) is
 * uniform among the instances not yet in the batch.  With
 * batches_per_epoch > 0, uniform uses each permutation as one pass (last
 * batch completed or dropped as above) and then draws a fresh one.  After
 * *count = 0, bs_sampler_epoch still names the epoch that ended.
 */
typedef struct bs_sampler bs_sampler;

/* n instances; g may be NULL for BS_SAMPLER_UNIFORM.  For graph samplers
   g must have n nodes.  Rejects W*B > n, alpha outside [0, 1), etc. */
bs_status bs_sampler_create(const bs_sampler_params *p, int64_t n,
                            const bs_graph *g, bs_sampler **out, bs_error *err);
void bs_sampler_free(bs_sampler *s);

/*
 * Writes the next batch (B ids) into out[0..B) and sets *count to B.  At the
 * end of an epoch sets *count to 0 and writes nothing; the call after that
 * starts the next epoch.
 */
bs_status bs_sampler_next(bs_sampler *s, int64_t *out, int64_t *count,
                          bs_error *err);

/* Restarts at the beginning of epoch e (>= 0). */
bs_status bs_sampler_set_epoch(bs_sampler *s, int64_t epoch, bs_error *err);

/* Replaces the graph (refresh).  The epoch's coverage, position and random
   state are kept.  g must have the sampler's n nodes. */
bs_status bs_sampler_set_graph(bs_sampler *s, const bs_graph *g, bs_error *err);

/* Epoch number, and batches already yielded in it (const-safe). */
int64_t bs_sampler_epoch(const bs_sampler *s);
int64_t bs_sampler_batch_index(const bs_sampler *s);
/* Number of batches of the current epoch if it is known in advance
   (uniform, or batches_per_epoch > 0); otherwise -1: a graph sampler's
   epoch ends when coverage is complete.  Const-safe. */
int64_t bs_sampler_epoch_length(const bs_sampler *s);
/* Instances covered so far in the current epoch (const-safe). */
int64_t bs_sampler_covered(const bs_sampler *s);
/* alpha in force for the current epoch (const-safe). */
double bs_sampler_alpha(const bs_sampler *s);
/* Walk steps taken since creation (RWR; 0 for others).  Const-safe. */
int64_t bs_sampler_steps(const bs_sampler *s);

/*
 * Saves the sampler's state (epoch, position, random state, coverage) to a
 * versioned, checksummed blob of about n/8 + 128 bytes.  With buf == NULL
 * (or cap too small) only sets *len to the size needed and returns BS_OK
 * (resp. BS_ERR_INVALID_ARG).  The graph is not part of the state: restore
 * with the same graph (or the same refreshed graph) to resume identically.
 */
bs_status bs_sampler_save_state(const bs_sampler *s, void *buf, size_t cap,
                                size_t *len, bs_error *err);
/* Restores a blob saved by a sampler with the same parameters and n;
   anything else is BS_ERR_STATE or BS_ERR_FORMAT, and leaves s unchanged.
   The rank is not part of the match: a state saved by any rank of the same
   world restores every rank (the state is the global position, the same on
   every rank), so a data-parallel job may keep rank 0's state only. */
bs_status bs_sampler_load_state(bs_sampler *s, const void *buf, size_t len,
                                bs_error *err);

/* ------------------------------------------------------------------------ */
/* Batcher: the whole BatchSampler policy in one object                      */
/* ------------------------------------------------------------------------ */

/*
 * A batcher is what a training loop uses: it owns the embedding store, the
 * samplers and the graph, and applies the reference implementation's policy
 * (docs/samplers.md, "The batcher"):
 *
 *   - Epochs have a fixed length for every sampler kind
 *     (sampler.batches_per_epoch, default ceil(n / (W*B)), floor with
 *     drop_last), so that samplers compare at an equal number of steps.
 *   - Epochs e < warmup_epochs use uniform batches; so does every batch
 *     before the first graph is in force.
 *   - The loop hands back each step's ids and projections
 *     (bs_batcher_update); they go into the store.
 *   - From the first graph epoch on, a rebuild starts at a batch when the
 *     store holds every row (written at least once), no rebuild is in
 *     flight, the store changed since the last rebuild started, and either
 *     no graph exists yet or refresh_every batches have been issued since
 *     the last rebuild started.  Rebuild r (0, 1, ...) builds from a copy
 *     of the store taken at that batch, with graph seed
 *     bs_batcher_graph_seed(sampler.seed, r).
 *   - refresh_lag = 0: the rebuild runs in the call that needs it and the
 *     graph is in force for that very batch.  refresh_lag = L > 0: the
 *     rebuild runs in a background thread while L more batches come from
 *     the graph in force (uniform before the first one), and it is
 *     installed before the batch L after the one that started it, waiting
 *     for the thread if it is not done.  Either way the batches depend only
 *     on the parameters and the updates, never on machine speed or thread
 *     count, and a saved state resumes exactly.
 *
 * Thread safety: one thread at a time per batcher (the background rebuild
 * is internal: it reads only its own copy of the store).  Memory: the store
 * (n*d floats), one graph in force (n*K ids and floats), while a rebuild is
 * in flight its copy of the store and its graph, and `history` sampler
 * states (about n/8 bytes each for graph samplers).
 */
typedef struct bs_batcher bs_batcher;

/*
 * A graph builder the batcher calls instead of bs_graph_build, e.g. one that
 * splits the rebuild across processes: each builds rows [lo, hi) with
 * bs_graph_build_rows, the rows are gathered, and bs_graph_from_arrays
 * wraps them (python/batchsampler does this over torch.distributed).
 * It gets the rebuild's copy of the store x (n x d, read-only, valid for the
 * call only) and the graph parameters with the rebuild's seed (progress
 * NULL; block resolved: 256 for 0 in shared mode, as bs_graph_build
 * records it), and must put in *out a graph of n nodes and p->k neighbours
 * equal to what bs_graph_build(x, n, d, p) gives: the batches, their
 * determinism and exact resume rely on it.  Ownership of *out passes to the batcher.
 * Errors: return a status other than BS_OK with err filled (the batcher
 * treats it as a failed bs_graph_build: bs_batcher_next reports it and may
 * be repeated); a graph of the wrong size is BS_ERR_INVALID_ARG.  Thread
 * safety: called from the thread that runs the rebuild, i.e. the caller of
 * bs_batcher_next / bs_batcher_set_epoch with refresh_lag = 0, a background
 * thread of the batcher with refresh_lag > 0; never twice at once for one
 * batcher, and in rebuild order.
 */
typedef bs_status (*bs_graph_builder)(void *ctx, const float *x, int64_t n,
                                      int64_t d, const bs_graph_params *p,
                                      bs_graph **out, bs_error *err);

typedef struct {
    /* kind, batch_size, alpha, schedule, tau, max_steps, epoch_mode,
       drop_last, rank, world, seed.  batches_per_epoch: 0 = the default
       above; > 0 = that many. */
    bs_sampler_params sampler;
    /* mode, m, k, block, threads.  seed is ignored (derived per rebuild).
       Unused for the uniform kind. */
    bs_graph_params graph;
    int64_t dim;           /* d of the rows given to update, >= 1 */
    int64_t warmup_epochs; /* >= 0; default 1 */
    int64_t refresh_every; /* t >= 1; default 100 */
    int64_t refresh_lag;   /* >= 0; default 0 (synchronous) */
    /* How many of the most recent batch positions bs_batcher_save_state
       can go back to (>= 0, default 0): a loader that prefetches has drawn
       batches the model has not trained on yet, and a checkpoint must
       resume at the first of those. */
    int64_t history;
    /* NULL (default): rebuilds call bs_graph_build; else this builder, with
       build_ctx as its first argument (see bs_graph_builder).  Not part of
       a saved state. */
    bs_graph_builder build;
    void *build_ctx;
} bs_batcher_params;

/* Defaults: the sampler's and graph's defaults, dim 128, warm-up 1, refresh
   every 100, lag 0, history 0, no builder. */
void bs_batcher_params_default(bs_batcher_params *p);

/* The graph seed of rebuild r under a batcher seed (documented so that a
   caller can rebuild a batcher's graph by hand).  Const-safe. */
uint64_t bs_batcher_graph_seed(uint64_t seed, int64_t r);

/*
 * Creates a batcher of n instances.  init (n*dim floats, may be NULL) seeds
 * the store and counts as every row written (a graph can then be built
 * before any update); with NULL the first graph waits until every row has
 * been written.  Checks every parameter against n, like
 * bs_sampler_create and bs_graph_params_check.
 */
bs_status bs_batcher_create(const bs_batcher_params *p, int64_t n,
                            const float *init, bs_batcher **out, bs_error *err);
/* Frees everything, waiting for a rebuild in flight.  NULL is accepted. */
void bs_batcher_free(bs_batcher *b);

/*
 * The next batch: B ids (this rank's slice) into ids[0..B).  *epoch (may be
 * NULL) receives the epoch it belongs to.  Never ends: epoch after epoch.
 * Errors: a failed rebuild (its message), out of memory.  After an error
 * the batcher is unchanged and the call may be repeated.
 */
bs_status bs_batcher_next(bs_batcher *b, int64_t *ids, int64_t *epoch,
                          bs_error *err);

/* Writes rows (count x dim, row-major) for ids into the store: the step's
   projections (with W > 1 ranks: every rank's rows, gathered).  Rows must
   be finite (BS_ERR_DATA otherwise); ids out of range fail; nothing is
   written on failure.  A no-op for the uniform kind (no store). */
bs_status bs_batcher_update(bs_batcher *b, const int64_t *ids, int64_t count,
                            const float *rows, bs_error *err);

/* Goes to the first batch of epoch e (>= 0), forwards or backwards: the
   position becomes e * L (L = batches per epoch); a no-op when it already
   is.  The store, the graph in force and the rebuild counters are kept; a
   rebuild in flight is waited for and installed now; the history is
   cleared.  The graph sampler starts epoch e (bs_sampler_set_epoch: under
   carry its coverage is kept). */
bs_status bs_batcher_set_epoch(bs_batcher *b, int64_t epoch, bs_error *err);

/* Accessors (const-safe). */
int64_t bs_batcher_position(const bs_batcher *b);     /* batches issued so far,
                                                     epoch * L + index */
int64_t bs_batcher_epoch(const bs_batcher *b);        /* of the next batch */
int64_t bs_batcher_batch_index(const bs_batcher *b);  /* in that epoch */
int64_t bs_batcher_epoch_length(const bs_batcher *b); /* L */
int64_t bs_batcher_builds(const bs_batcher *b);       /* rebuilds started */
/* 1 when the last batch came from the graph sampler, else 0. */
int bs_batcher_last_from_graph(const bs_batcher *b);
/* The graph in force (NULL before the first); owned by the batcher, valid
   until the next bs_batcher_next / load_state / free. */
const bs_graph *bs_batcher_graph(const bs_batcher *b);
/* The store (NULL for the uniform kind); owned by the batcher. */
const bs_embstore *bs_batcher_store(const bs_batcher *b);
/* The graph sampler (NULL before the first graph), for its counters. */
const bs_sampler *bs_batcher_graph_sampler(const bs_batcher *b);
/* Seconds spent building graphs (in the calling thread or waiting for the
   background one) and sampling.  Timing only: not part of the state. */
void bs_batcher_times(const bs_batcher *b, double *build_s, double *wait_s,
                      double *sample_s);

/*
 * Saves everything needed to resume exactly (parameters' fingerprint,
 * position, samplers, graph in force, a rebuild in flight (waited for) and
 * the store) as one checksummed blob: about 4*n*dim + 16*n*K + n/4 bytes.
 * `at` is the position to resume at: -1 = the current one, else one of
 * the last `history` positions (bs_batcher_position() - history .. the
 * current one): the batches from `at` on are then issued again after
 * loading, and the store is saved as it is now (it should hold the updates
 * of the batches before `at`).  The rebuilds this batcher started at
 * positions from `at` on are saved too and, after loading, start again at
 * the same positions with the same graphs (and no others start before the
 * current position): a loader that prefetches again after the resume then
 * gets exactly the batches of the uninterrupted run, although its early
 * batches are drawn with more updates in the store than the first time.
 * *buf is malloc'ed (free() it).
 */
bs_status bs_batcher_save_state(bs_batcher *b, int64_t at, void **buf,
                                size_t *len, bs_error *err);
/* Restores a blob saved by a batcher with the same parameters (threads
   and rank excepted) and n.  A state saved by any rank of the same world
   restores every rank, provided every rank's store was given the same rows
   (every rank's, gathered, as bs_batcher_update asks): then every rank's
   state is the same but for its rank, and a data-parallel job may keep
   rank 0's state only.  On failure (BS_ERR_FORMAT, BS_ERR_STATE naming the
   differing parameter, BS_ERR_NOMEM) the batcher is unchanged. */
bs_status bs_batcher_load_state(bs_batcher *b, const void *buf, size_t len,
                                bs_error *err);

/* ------------------------------------------------------------------------ */
/* Batch-quality metrics                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    int64_t pairs;       /* negative pairs counted: b*(b-1)/2 */
    double mean_sim;     /* mean cosine similarity over those pairs */
    double max_sim;      /* largest cosine similarity among them */
    double mean_max_sim; /* mean over anchors of its hardest negative */
    double fn_rate;      /* fraction of pairs with equal labels; -1 when no
                            labels were given */
} bs_batch_stats;

/*
 * Hardness and false-negative rate of one batch of b >= 2 distinct ids over
 * the n x d embeddings x (cosine).  labels (n values) may be NULL.
 * Const-safe on its inputs; uses no threads.
 */
bs_status bs_batch_stats_compute(const float *x, int64_t n, int64_t d,
                                 const int64_t *batch, int64_t b,
                                 const int64_t *labels, bs_batch_stats *out,
                                 bs_error *err);

typedef struct {
    int64_t batches; /* batches accumulated */
    double mean_sim; /* averages over batches of bs_batch_stats */
    double max_sim;  /* largest max_sim seen */
    double mean_max_sim;
    double fn_rate;    /* -1 without labels */
    int64_t count_min; /* appearances per instance: min / mean / max */
    double count_mean;
    int64_t count_max;
    int64_t never_seen; /* instances that never appeared */
} bs_run_stats;

/*
 * Statistics of nb batches of b ids each (batches[i*b + j]), e.g. one epoch
 * of a sampler: averages of the per-batch metrics and how often each
 * instance appeared.  Uses `threads` OpenMP threads (0 = default, at most
 * BS_MAX_THREADS); the result does not depend on it.
 */
bs_status bs_run_stats_compute(const float *x, int64_t n, int64_t d,
                               const int64_t *batches, int64_t nb, int64_t b,
                               const int64_t *labels, int threads,
                               bs_run_stats *out, bs_error *err);

#if defined(__GNUC__) && !defined(BS_NO_EXPORT)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* BATCHSAMPLER_H */
