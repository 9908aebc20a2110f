/*
 * batcher.c — the BatchSampler policy in one object (batchsampler.h,
 * "Batcher"): warm-up, embedding store, rebuilds every t batches (in the
 * calling thread or in a background one installed at a fixed batch),
 * fixed-length epochs, a history of recent positions, and save/restore.
 *
 * The state of a batch position is its "control" (counters), the two
 * samplers' states, the graph in force and the rebuild in flight.  Graphs
 * and rebuild jobs are reference counted so that the history ring can keep
 * the ones of recent positions alive after the live batcher moved on.
 * Blob layout and the install rule: docs/samplers.md, "The batcher".
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "embstore_impl.h"
#include "graph.h"
#include "internal.h"
#include "rng.h"

enum { STREAM_BATCHER_GRAPH = 4 };

/* ------------------------------------------------------------ objects */

typedef struct {
    bs_graph *g;
    int64_t index; /* rebuild number r */
    int refs;
} gref;

/* A rebuild: started at a batch, built from its own copy of the store. */
typedef struct {
    int refs;
    pthread_t thread;
    int running; /* a thread was started and not joined yet */
    float *snapshot;
    int64_t n, d;
    bs_graph_params gp;
    bs_graph_builder build; /* NULL: bs_graph_build */
    void *build_ctx;
    int64_t index, start_pos, install_at;
    uint64_t version; /* store version at its start */
    bs_status st;
    bs_error err;
    gref *out; /* the result once joined (st == BS_OK) */
} job;

/* The counters that say where the policy stands. */
typedef struct {
    int64_t pos;            /* batches issued */
    int64_t builds;         /* rebuilds started */
    int64_t last_start;     /* position of the last rebuild start (-1) */
    uint64_t built_version; /* store version at that start */
    int last_graph;         /* the last batch came from the graph sampler */
} control;

/* One history entry: the state before the batch at c.pos was issued. */
typedef struct {
    control c;
    gref *graph;
    job *pending;
    unsigned char *uni, *walk; /* sampler states (walk NULL: none) */
    size_t uni_len, walk_len;
} entry;

struct bs_batcher {
    bs_batcher_params p;
    int64_t n, d, L;
    bs_embstore *store; /* NULL for the uniform kind */
    bs_sampler *uni;
    bs_sampler *walk; /* NULL until the first graph */
    gref *graph;
    job *pending;
    control c;
    entry *ring;
    int64_t ring_count, ring_head; /* entries held, next slot */
    /* history > 0: rebuilds started in the last `history` positions, so
       that a save at an earlier position carries them (see replay) */
    job **recent;
    int64_t nrecent;
    /* after loading a state saved at an earlier position: the rebuilds the
       saving batcher started in [its position, replay_until), started
       again at the same positions with the same graphs, and no others */
    job **replay;
    int64_t nreplay, replay_until;
    double build_s, wait_s, sample_s;
};

static gref *gref_new(bs_graph *g, int64_t index)
{
    gref *r = malloc(sizeof *r);
    if (r) {
        r->g = g;
        r->index = index;
        r->refs = 1;
    }
    return r;
}

static gref *gref_get(gref *r)
{
    if (r)
        r->refs++;
    return r;
}

static void gref_put(gref *r)
{
    if (r && --r->refs == 0) {
        bs_graph_free(r->g);
        free(r);
    }
}

static void *job_main(void *arg)
{
    job *j = arg;
    bs_graph *g = NULL;
    /* a builder gets the block size bs_graph_build records (the header's
       default, 256, for 0 in shared mode), so that its graph can be equal */
    bs_graph_params gp = j->gp;
    if (gp.mode == BS_MODE_SHARED && gp.block == 0)
        gp.block = 256;
    if (!j->build)
        j->st = bs_graph_build(j->snapshot, j->n, j->d, &j->gp, &g, &j->err);
    else if ((j->st = j->build(j->build_ctx, j->snapshot, j->n, j->d, &gp, &g,
                               &j->err)) != BS_OK)
        bs_graph_free(g);
    else if (!g || bs_graph_n(g) != j->n || bs_graph_k(g) != j->gp.k) {
        j->st = bs__fail(&j->err, BS_ERR_INVALID_ARG,
                         "batcher: the graph builder of rebuild %lld gave %s "
                         "graph: expected n = %lld, K = %d",
                         (long long)j->index, g ? "a different-sized" : "no",
                         (long long)j->n, (int)j->gp.k);
        bs_graph_free(g);
        g = NULL;
    }
    if (j->st == BS_OK && !(j->out = gref_new(g, j->index))) {
        bs_graph_free(g);
        j->st = bs__fail(&j->err, BS_ERR_NOMEM, "batcher: out of memory");
    }
    return NULL;
}

/* Waits for the job's thread (if any) and frees its copy of the store. */
static void job_join(job *j)
{
    if (j->running) {
        pthread_join(j->thread, NULL);
        j->running = 0;
    }
    free(j->snapshot);
    j->snapshot = NULL;
}

static job *job_get(job *j)
{
    if (j)
        j->refs++;
    return j;
}

static void job_put(job *j)
{
    if (j && --j->refs == 0) {
        job_join(j);
        gref_put(j->out);
        free(j);
    }
}

static void entry_clear(entry *e)
{
    gref_put(e->graph);
    job_put(e->pending);
    free(e->uni);
    free(e->walk);
    memset(e, 0, sizeof *e);
}

static void jobs_clear(job **list, int64_t *count)
{
    for (int64_t i = 0; i < *count; i++)
        job_put(list[i]);
    *count = 0;
}

static void ring_clear(bs_batcher *b)
{
    for (int64_t i = 0; i < b->p.history; i++)
        entry_clear(&b->ring[i]);
    b->ring_count = b->ring_head = 0;
    jobs_clear(b->recent, &b->nrecent);
}

/* ------------------------------------------------------------ parameters */

void bs_batcher_params_default(bs_batcher_params *p)
{
    memset(p, 0, sizeof *p);
    bs_sampler_params_default(&p->sampler);
    bs_graph_params_default(&p->graph);
    p->dim = 128;
    p->warmup_epochs = 1;
    p->refresh_every = 100;
    p->refresh_lag = 0;
    p->history = 0;
}

uint64_t bs_batcher_graph_seed(uint64_t seed, int64_t r)
{
    bs_rng g;
    bs_rng_derive(&g, seed, STREAM_BATCHER_GRAPH, (uint64_t)r);
    return bs_rng_next(&g);
}

static int graph_kind(const bs_batcher *b)
{
    return b->p.sampler.kind != BS_SAMPLER_UNIFORM;
}

/* Epoch length: the given one, or ceil (floor with drop_last) of n / WB. */
static int64_t epoch_length(const bs_sampler_params *sp, int64_t n)
{
    if (sp->batches_per_epoch > 0)
        return sp->batches_per_epoch;
    int64_t g = sp->batch_size * sp->world;
    return sp->drop_last ? n / g : (n + g - 1) / g;
}

static bs_status check_params(const bs_batcher_params *p, int64_t n,
                              bs_error *err)
{
    if (!p)
        return bs__fail(err, BS_ERR_INVALID_ARG, "batcher: parameters NULL");
    if (p->dim < 1 || p->warmup_epochs < 0 || p->refresh_every < 1 ||
        p->refresh_lag < 0 || p->history < 0)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batcher: dim = %lld, warmup_epochs = %lld, "
                        "refresh_every = %lld, refresh_lag = %lld, history = "
                        "%lld: expected dim >= 1, refresh_every >= 1 and the "
                        "others >= 0",
                        (long long)p->dim, (long long)p->warmup_epochs,
                        (long long)p->refresh_every, (long long)p->refresh_lag,
                        (long long)p->history);
    if (p->history > 1000000)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batcher: history = %lld: expected at most 1000000",
                        (long long)p->history);
    if (!bs_sampler_kind_name(p->sampler.kind))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batcher: sampler kind %d: expected uniform, rwr or "
                        "knn",
                        (int)p->sampler.kind);
    if (p->sampler.kind != BS_SAMPLER_UNIFORM) {
        if (n > INT32_MAX)
            return bs__fail(err, BS_ERR_INVALID_ARG,
                            "batcher: n = %lld: graph samplers need n < 2^31",
                            (long long)n);
        return bs_graph_params_check(&p->graph, n, err);
    }
    return BS_OK;
}

static bs_status make_sampler(const bs_batcher *b, bs_sampler_kind kind,
                              const bs_graph *g, bs_sampler **out,
                              bs_error *err)
{
    bs_sampler_params sp = b->p.sampler;
    sp.kind = kind;
    sp.batches_per_epoch = b->L;
    return bs_sampler_create(&sp, b->n, g, out, err);
}

bs_status bs_batcher_create(const bs_batcher_params *p, int64_t n,
                            const float *init, bs_batcher **out, bs_error *err)
{
    if (!out)
        return bs__fail(err, BS_ERR_INVALID_ARG, "batcher: out is NULL");
    *out = NULL;
    bs_status st = check_params(p, n, err);
    if (st != BS_OK)
        return st;
    bs_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    b->p = *p;
    b->p.graph.progress = NULL; /* see the header: never called */
    b->p.graph.progress_ctx = NULL;
    b->n = n;
    b->d = p->dim;
    b->L = n >= 1 && p->sampler.batch_size >= 1 && p->sampler.world >= 1
               ? epoch_length(&p->sampler, n)
               : 1;
    b->c.last_start = -1;
    if ((st = make_sampler(b, BS_SAMPLER_UNIFORM, NULL, &b->uni, err)) ||
        (graph_kind(b) &&
         (st = bs_embstore_create(n, p->dim, init, &b->store, err)))) {
        bs_batcher_free(b);
        return st;
    }
    /* a rebuild starts at most once per batch: history + 1 slots */
    if (p->history > 0 &&
        (!(b->ring = calloc((size_t)p->history, sizeof *b->ring)) ||
         !(b->recent = calloc((size_t)p->history + 1, sizeof *b->recent)))) {
        bs_batcher_free(b);
        return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    }
    *out = b;
    bs__ok(err);
    return BS_OK;
}

void bs_batcher_free(bs_batcher *b)
{
    if (!b)
        return;
    if (b->ring)
        ring_clear(b);
    free(b->ring);
    free(b->recent);
    jobs_clear(b->replay, &b->nreplay);
    free(b->replay);
    job_put(b->pending);
    gref_put(b->graph);
    bs_sampler_free(b->walk);
    bs_sampler_free(b->uni);
    bs_embstore_free(b->store);
    free(b);
}

/* ------------------------------------------------------------ rebuilds */

static int64_t epoch_of(const bs_batcher *b, int64_t pos)
{
    return pos / b->L;
}

/* Whether a rebuild starts before the batch at the current position. */
static int rebuild_due(const bs_batcher *b)
{
    if (!graph_kind(b) || b->pending ||
        epoch_of(b, b->c.pos) < b->p.warmup_epochs ||
        bs_embstore_written(b->store) < b->n)
        return 0;
    if (b->c.last_start < 0)
        return 1;
    return b->c.pos - b->c.last_start >= b->p.refresh_every &&
           bs_embstore_version(b->store) != b->c.built_version;
}

/* Remembers a rebuild started at the current position for saves at
   earlier ones; drops those started before the history's reach. */
static void keep_recent(bs_batcher *b, job *j)
{
    if (!b->recent)
        return;
    int64_t keep = 0;
    for (int64_t i = 0; i < b->nrecent; i++)
        if (b->recent[i]->start_pos >= b->c.pos - b->p.history)
            b->recent[keep++] = b->recent[i];
        else
            job_put(b->recent[i]);
    b->nrecent = keep;
    b->recent[b->nrecent++] = job_get(j);
}

/* Makes j the rebuild in flight, started at the current position. */
static void adopt(bs_batcher *b, job *j)
{
    b->pending = j;
    b->c.builds = j->index + 1;
    b->c.last_start = b->c.pos;
    b->c.built_version = j->version;
    keep_recent(b, j);
}

static bs_status start_rebuild(bs_batcher *b, bs_error *err)
{
    size_t cells = (size_t)b->n * (size_t)b->d;
    job *j = calloc(1, sizeof *j);
    float *snap = j ? malloc(cells * sizeof *snap) : NULL;
    if (!snap) {
        free(j);
        return bs__fail(err, BS_ERR_NOMEM,
                        "batcher: out of memory for a copy of the store");
    }
    memcpy(snap, bs_embstore_data(b->store), cells * sizeof *snap);
    *j = (job){.refs = 1,
               .snapshot = snap,
               .n = b->n,
               .d = b->d,
               .gp = b->p.graph,
               .build = b->p.build,
               .build_ctx = b->p.build_ctx,
               .index = b->c.builds,
               .start_pos = b->c.pos,
               .install_at = b->c.pos + b->p.refresh_lag,
               .version = bs_embstore_version(b->store)};
    j->gp.seed = bs_batcher_graph_seed(b->p.sampler.seed, j->index);
    if (b->p.refresh_lag == 0 ||
        pthread_create(&j->thread, NULL, job_main, j) != 0)
        job_main(j); /* synchronous (or no thread to be had: same result) */
    else
        j->running = 1;
    adopt(b, j);
    return BS_OK;
}

/* Puts the finished rebuild in force; on its failure, forgets it as if it
   had never started and reports its error. */
static bs_status install(bs_batcher *b, const control *before, bs_error *err)
{
    job *j = b->pending;
    double t0 = bs__now();
    job_join(j);
    b->wait_s += bs__now() - t0;
    bs_status st = j->st;
    if (st == BS_OK) {
        if (b->walk)
            st = bs_sampler_set_graph(b->walk, j->out->g, err);
        else if ((st = make_sampler(b, b->p.sampler.kind, j->out->g, &b->walk,
                                    err)) == BS_OK)
            st = bs_sampler_set_epoch(b->walk, epoch_of(b, b->c.pos), err);
    } else if (err) {
        *err = j->err;
    }
    if (st != BS_OK) {
        b->c = *before;
        if (b->nrecent && b->recent[b->nrecent - 1] == j)
            job_put(b->recent[--b->nrecent]);
        job_put(j);
        b->pending = NULL;
        return st;
    }
    gref_put(b->graph);
    b->graph = gref_get(j->out);
    job_put(j);
    b->pending = NULL;
    return BS_OK;
}

/* Starts and installs rebuilds as the policy says for the current batch. */
static bs_status refresh(bs_batcher *b, bs_error *err)
{
    control before = b->c;
    if (b->pending && b->c.pos >= b->pending->install_at) {
        bs_status st = install(b, &before, err);
        if (st != BS_OK)
            return st;
        before = b->c;
    }
    double t0 = bs__now();
    bs_status st = BS_OK;
    if (b->c.pos < b->replay_until) { /* replaying the saver's rebuilds */
        if (b->nreplay == 0 || b->replay[0]->start_pos != b->c.pos)
            return BS_OK;
        adopt(b, b->replay[0]);
        memmove(b->replay, b->replay + 1,
                (size_t)--b->nreplay * sizeof *b->replay);
    } else if (!rebuild_due(b)) {
        return BS_OK;
    } else {
        st = start_rebuild(b, err);
    }
    if (st == BS_OK && b->p.refresh_lag == 0)
        st = install(b, &before, err);
    b->build_s += bs__now() - t0;
    return st;
}

/* ------------------------------------------------------------ history */

static bs_status save_samplers(const bs_batcher *b, entry *e, bs_error *err)
{
    bs_status st = BS_OK;
    const bs_sampler *s[2] = {b->uni, b->walk};
    unsigned char **buf[2] = {&e->uni, &e->walk};
    size_t *len[2] = {&e->uni_len, &e->walk_len};
    for (int i = 0; i < 2 && st == BS_OK; i++) {
        if (!s[i])
            continue;
        bs_sampler_save_state(s[i], NULL, 0, len[i], NULL);
        if (!(*buf[i] = malloc(*len[i])))
            return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
        st = bs_sampler_save_state(s[i], *buf[i], *len[i], len[i], err);
    }
    return st;
}

/* The current state as an entry (its own references and copies). */
static bs_status snapshot_entry(const bs_batcher *b, entry *e, bs_error *err)
{
    memset(e, 0, sizeof *e);
    e->c = b->c;
    e->graph = gref_get(b->graph);
    e->pending = job_get(b->pending);
    bs_status st = save_samplers(b, e, err);
    if (st != BS_OK)
        entry_clear(e);
    return st;
}

static bs_status remember(bs_batcher *b, bs_error *err)
{
    if (b->p.history == 0)
        return BS_OK;
    entry e;
    bs_status st = snapshot_entry(b, &e, err);
    if (st != BS_OK)
        return st;
    entry_clear(&b->ring[b->ring_head]);
    b->ring[b->ring_head] = e;
    b->ring_head = (b->ring_head + 1) % b->p.history;
    if (b->ring_count < b->p.history)
        b->ring_count++;
    return BS_OK;
}

/* Forgets the newest entry (the batch it was taken for failed). */
static void forget_newest(bs_batcher *b)
{
    if (b->p.history == 0 || b->ring_count == 0)
        return;
    b->ring_head = (b->ring_head + b->p.history - 1) % b->p.history;
    entry_clear(&b->ring[b->ring_head]);
    b->ring_count--;
}

/* ------------------------------------------------------------ batches */

static bs_status start_epoch(bs_batcher *b, int64_t e, bs_error *err)
{
    bs_status st = bs_sampler_set_epoch(b->uni, e, err);
    if (st == BS_OK && b->walk)
        st = bs_sampler_set_epoch(b->walk, e, err);
    return st;
}

static bs_status issue(bs_batcher *b, int64_t *ids, bs_error *err)
{
    int64_t e = epoch_of(b, b->c.pos);
    bs_status st;
    if (b->c.pos % b->L == 0 && (st = start_epoch(b, e, err)) != BS_OK)
        return st;
    if ((st = refresh(b, err)) != BS_OK)
        return st;
    int from_graph = b->walk && b->graph && e >= b->p.warmup_epochs;
    int64_t count = 0;
    double t0 = bs__now();
    st = bs_sampler_next(from_graph ? b->walk : b->uni, ids, &count, err);
    b->sample_s += bs__now() - t0;
    if (st == BS_OK && count != b->p.sampler.batch_size)
        st = bs__fail(err, BS_ERR_STATE,
                      "batcher: the sampler ended epoch %lld after %lld of "
                      "%lld batches",
                      (long long)e, (long long)(b->c.pos % b->L),
                      (long long)b->L);
    if (st == BS_OK) {
        b->c.last_graph = from_graph;
        b->c.pos++;
    }
    return st;
}

bs_status bs_batcher_next(bs_batcher *b, int64_t *ids, int64_t *epoch,
                          bs_error *err)
{
    if (!b || !ids)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batcher next: batcher and ids must be non-NULL");
    int64_t e = epoch_of(b, b->c.pos);
    bs_status st = remember(b, err);
    if (st == BS_OK && (st = issue(b, ids, err)) != BS_OK)
        forget_newest(b);
    if (st != BS_OK)
        return st;
    if (epoch)
        *epoch = e;
    bs__ok(err);
    return BS_OK;
}

bs_status bs_batcher_update(bs_batcher *b, const int64_t *ids, int64_t count,
                            const float *rows, bs_error *err)
{
    if (!b)
        return bs__fail(err, BS_ERR_INVALID_ARG, "batcher update: NULL");
    if (!b->store)
        return BS_OK;
    return bs_embstore_update(b->store, ids, count, rows, err);
}

bs_status bs_batcher_set_epoch(bs_batcher *b, int64_t epoch, bs_error *err)
{
    if (!b)
        return bs__fail(err, BS_ERR_INVALID_ARG, "batcher set_epoch: NULL");
    if (epoch < 0 || epoch > INT64_MAX / b->L)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batcher set_epoch: epoch = %lld: expected >= 0",
                        (long long)epoch);
    if (b->c.pos == epoch * b->L)
        return BS_OK;
    control before = b->c;
    if (b->pending) {
        bs_status st = install(b, &before, err);
        if (st != BS_OK)
            return st;
    }
    if (b->ring)
        ring_clear(b);
    b->c.pos = epoch * b->L; /* issue() starts the samplers' epoch */
    return BS_OK;
}

/* ------------------------------------------------------------ accessors */

int64_t bs_batcher_position(const bs_batcher *b)
{
    return b ? b->c.pos : 0;
}
int64_t bs_batcher_epoch(const bs_batcher *b)
{
    return b ? epoch_of(b, b->c.pos) : 0;
}
int64_t bs_batcher_batch_index(const bs_batcher *b)
{
    return b ? b->c.pos % b->L : 0;
}
int64_t bs_batcher_epoch_length(const bs_batcher *b)
{
    return b ? b->L : 0;
}
int64_t bs_batcher_builds(const bs_batcher *b)
{
    return b ? b->c.builds : 0;
}
int bs_batcher_last_from_graph(const bs_batcher *b)
{
    return b ? b->c.last_graph : 0;
}
const bs_graph *bs_batcher_graph(const bs_batcher *b)
{
    return b && b->graph ? b->graph->g : NULL;
}
const bs_embstore *bs_batcher_store(const bs_batcher *b)
{
    return b ? b->store : NULL;
}
const bs_sampler *bs_batcher_graph_sampler(const bs_batcher *b)
{
    return b ? b->walk : NULL;
}
void bs_batcher_times(const bs_batcher *b, double *build_s, double *wait_s,
                      double *sample_s)
{
    if (build_s)
        *build_s = b ? b->build_s : 0;
    if (wait_s)
        *wait_s = b ? b->wait_s : 0;
    if (sample_s)
        *sample_s = b ? b->sample_s : 0;
}

/* ------------------------------------------------------------ state blob */
/*
 * Layout (little-endian), version 1:
 *   "BSBATCH\0", u32 version, u32 0
 *   fingerprint: i64 n, d, L, warmup, refresh_every, refresh_lag;
 *     u32 kind, schedule, epoch_mode, drop_last; i64 B; i32 world, rank;
 *     u64 seed; f64 alpha, tau; i64 max_steps;
 *     u32 graph mode; i32 K; i64 M; i32 block; u32 0
 *   control: i64 pos, builds, last_start; u64 built_version;
 *     u32 last_graph, u32 0
 *   u64 len + uniform sampler state; u64 len (0: none) + graph sampler state
 *   u32 present + graph in force: i64 index, i32 k, u32 0, n*k i32, n*k f32
 *   u32 present + rebuild in flight: i64 install_at, control before it,
 *     then its graph as above
 *   u32 present + store: u64 version, n u8 written flags, n*d f32
 *   replay: i64 until, u32 count, u32 0, then per rebuild: i64 start_pos,
 *     i64 index, u64 version, i64 install_at, its graph as above
 *   u32 CRC-32 of everything before it
 */
#define BATCH_MAGIC "BSBATCH"
#define BATCH_VERSION 1u
#define FINGERPRINT_BYTES                                                      \
    (6 * 8 + 4 * 4 + 8 + 2 * 4 + 8 + 2 * 8 + 8 + 4 * 4 + 8)
#define CONTROL_BYTES (3 * 8 + 8 + 2 * 4)

static void put_fingerprint(bs__wr *w, const bs_batcher *b)
{
    const bs_sampler_params *s = &b->p.sampler;
    const bs_graph_params *g = &b->p.graph;
    int64_t v[6] = {b->n,
                    b->d,
                    b->L,
                    b->p.warmup_epochs,
                    b->p.refresh_every,
                    b->p.refresh_lag};
    for (int i = 0; i < 6; i++)
        bs__put64(w, (uint64_t)v[i]);
    bs__put32(w, (uint32_t)s->kind);
    bs__put32(w, (uint32_t)s->schedule);
    bs__put32(w, (uint32_t)s->epoch_mode);
    bs__put32(w, (uint32_t)(s->drop_last != 0));
    bs__put64(w, (uint64_t)s->batch_size);
    bs__put32(w, (uint32_t)s->world);
    bs__put32(w, (uint32_t)s->rank);
    bs__put64(w, s->seed);
    bs__putf64(w, s->alpha);
    bs__putf64(w, s->tau);
    bs__put64(w, (uint64_t)s->max_steps);
    bs__put32(w, (uint32_t)g->mode);
    bs__put32(w, (uint32_t)g->k);
    bs__put64(w, (uint64_t)g->m);
    bs__put32(w, (uint32_t)g->block);
    bs__put32(w, 0);
}

static void put_control(bs__wr *w, const control *c)
{
    bs__put64(w, (uint64_t)c->pos);
    bs__put64(w, (uint64_t)c->builds);
    bs__put64(w, (uint64_t)c->last_start);
    bs__put64(w, c->built_version);
    bs__put32(w, (uint32_t)c->last_graph);
    bs__put32(w, 0);
}

static size_t graph_bytes(const gref *r)
{
    return r ? 16 + (size_t)r->g->n * (size_t)r->g->k * 8 : 0;
}

static void put_graph(bs__wr *w, const gref *r)
{
    size_t cells = (size_t)r->g->n * (size_t)r->g->k;
    bs__put64(w, (uint64_t)r->index);
    bs__put32(w, (uint32_t)r->g->k);
    bs__put32(w, 0);
    for (size_t i = 0; i < cells; i++)
        bs__put32(w, (uint32_t)r->g->nbr[i]);
    for (size_t i = 0; i < cells; i++) {
        uint32_t v;
        memcpy(&v, &r->g->sim[i], 4);
        bs__put32(w, v);
    }
}

/* Waits for a rebuild to be saved; its failure fails the save. */
static bs_status finish(bs_batcher *b, job *j, bs_error *err)
{
    double t0 = bs__now();
    job_join(j);
    b->wait_s += bs__now() - t0;
    if (j->st != BS_OK)
        return bs__fail(err, j->st,
                        "batcher save_state: rebuild %lld failed: %s",
                        (long long)j->index, j->err.msg);
    return BS_OK;
}

/* The rebuilds a state saved at `at` must replay: those started since
   (and those the batcher itself still has to replay).  Returns the count
   written into out (room for nrecent + nreplay). */
static int64_t replay_list(const bs_batcher *b, int64_t at, job **out)
{
    int64_t c = 0;
    for (int64_t i = 0; i < b->nrecent; i++)
        if (b->recent[i]->start_pos >= at && b->recent[i]->start_pos < b->c.pos)
            out[c++] = b->recent[i];
    for (int64_t i = 0; i < b->nreplay; i++)
        out[c++] = b->replay[i];
    return c;
}

/* The blob of an entry (the store as it is now). */
static bs_status write_blob(bs_batcher *b, const entry *e, void **buf,
                            size_t *len, bs_error *err)
{
    job *j = e->pending;
    job **rl = malloc(sizeof *rl * (size_t)(b->nrecent + b->nreplay + 1));
    if (!rl)
        return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    int64_t nr = replay_list(b, e->c.pos, rl);
    bs_status st = j ? finish(b, j, err) : BS_OK;
    size_t replay_bytes = 16;
    for (int64_t i = 0; i < nr && st == BS_OK; i++)
        if ((st = finish(b, rl[i], err)) == BS_OK)
            replay_bytes += 32 + graph_bytes(rl[i]->out);
    if (st != BS_OK) {
        free(rl);
        return st;
    }
    size_t cells = (size_t)b->n * (size_t)b->d;
    size_t need = 16 + FINGERPRINT_BYTES + CONTROL_BYTES + 16 + e->uni_len +
                  e->walk_len + 4 + graph_bytes(e->graph) + 4 +
                  (j ? 8 + CONTROL_BYTES + graph_bytes(j->out) : 0) + 4 +
                  (b->store ? 8 + (size_t)b->n + 4 * cells : 0) + replay_bytes +
                  4;
    unsigned char *p = malloc(need);
    if (!p) {
        free(rl);
        return bs__fail(err, BS_ERR_NOMEM,
                        "batcher save_state: out of memory for %zu bytes",
                        need);
    }
    bs__wr w = {p};
    bs__put_bytes(&w, BATCH_MAGIC, 8);
    bs__put32(&w, BATCH_VERSION);
    bs__put32(&w, 0);
    put_fingerprint(&w, b);
    put_control(&w, &e->c);
    bs__put64(&w, e->uni_len);
    bs__put_bytes(&w, e->uni, e->uni_len);
    bs__put64(&w, e->walk_len);
    bs__put_bytes(&w, e->walk, e->walk_len);
    bs__put32(&w, e->graph != NULL);
    if (e->graph)
        put_graph(&w, e->graph);
    bs__put32(&w, j != NULL);
    if (j) {
        control before = e->c; /* the counters as if it had not started */
        before.builds = j->index;
        bs__put64(&w, (uint64_t)j->install_at);
        put_control(&w, &before);
        put_graph(&w, j->out);
    }
    bs__put32(&w, b->store != NULL);
    if (b->store) {
        bs__put64(&w, bs_embstore_version(b->store));
        bs__put_bytes(&w, bs__embstore_written_flags(b->store), (size_t)b->n);
        for (size_t i = 0; i < cells; i++) {
            uint32_t v;
            memcpy(&v, &bs_embstore_data(b->store)[i], 4);
            bs__put32(&w, v);
        }
    }
    int64_t until = b->replay_until > b->c.pos ? b->replay_until : b->c.pos;
    bs__put64(&w, (uint64_t)until);
    bs__put32(&w, (uint32_t)nr);
    bs__put32(&w, 0);
    for (int64_t i = 0; i < nr; i++) {
        bs__put64(&w, (uint64_t)rl[i]->start_pos);
        bs__put64(&w, (uint64_t)rl[i]->index);
        bs__put64(&w, rl[i]->version);
        bs__put64(&w, (uint64_t)rl[i]->install_at);
        put_graph(&w, rl[i]->out);
    }
    free(rl);
    bs__put32(&w, (uint32_t)bs__crc32(0, p, need - 4));
    *buf = p;
    *len = need;
    return BS_OK;
}

/* The entry of position `at` (-1: now), copied with its own references. */
static bs_status find_entry(const bs_batcher *b, int64_t at, entry *e,
                            bs_error *err)
{
    if (at == -1 || at == b->c.pos)
        return snapshot_entry(b, e, err);
    for (int64_t i = 0; i < b->ring_count; i++) {
        const entry *r = &b->ring[i];
        if (r->c.pos != at)
            continue;
        *e = *r;
        gref_get(e->graph);
        job_get(e->pending);
        e->uni = malloc(r->uni_len);
        e->walk = r->walk_len ? malloc(r->walk_len) : NULL;
        if (!e->uni || (r->walk_len && !e->walk)) {
            entry_clear(e);
            return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
        }
        memcpy(e->uni, r->uni, r->uni_len);
        if (r->walk_len)
            memcpy(e->walk, r->walk, r->walk_len);
        return BS_OK;
    }
    return bs__fail(err, BS_ERR_INVALID_ARG,
                    "batcher save_state: position %lld is not the current "
                    "one (%lld) nor among the last %lld kept (history = "
                    "%lld)",
                    (long long)at, (long long)b->c.pos,
                    (long long)b->ring_count, (long long)b->p.history);
}

bs_status bs_batcher_save_state(bs_batcher *b, int64_t at, void **buf,
                                size_t *len, bs_error *err)
{
    if (!b || !buf || !len)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batcher save_state: batcher, buf and len must be "
                        "non-NULL");
    *buf = NULL;
    *len = 0;
    entry e;
    bs_status st = find_entry(b, at, &e, err);
    if (st != BS_OK)
        return st;
    st = write_blob(b, &e, buf, len, err);
    entry_clear(&e);
    if (st == BS_OK)
        bs__ok(err);
    return st;
}

/* ------------------------------------------------------------ loading */

/* A reader that knows where the blob ends. */
typedef struct {
    bs__rd r;
    const unsigned char *end;
} cursor;

static int has(const cursor *c, size_t bytes)
{
    return (size_t)(c->end - c->r.p) >= bytes;
}

static bs_status truncated(bs_error *err, const char *what)
{
    return bs__fail(err, BS_ERR_FORMAT, "batcher state: truncated inside %s",
                    what);
}

static bs_status check_fingerprint(const bs_batcher *b, cursor *c,
                                   bs_error *err)
{
    unsigned char mine[FINGERPRINT_BYTES];
    bs__wr w = {mine};
    put_fingerprint(&w, b);
    static const struct {
        size_t at;
        const char *name;
    } fields[] = {{0, "n"},
                  {8, "dim"},
                  {16, "batches per epoch"},
                  {24, "warmup_epochs"},
                  {32, "refresh_every"},
                  {40, "refresh_lag"},
                  {48, "sampler kind"},
                  {52, "alpha schedule"},
                  {56, "epoch mode"},
                  {60, "drop_last"},
                  {64, "batch_size"},
                  {72, "world"},
                  {76, "rank"},
                  {80, "seed"},
                  {88, "alpha"},
                  {96, "tau"},
                  {104, "max_steps"},
                  {112, "graph mode"},
                  {116, "K"},
                  {120, "M"},
                  {128, "block"},
                  {132, "(padding)"},
                  {FINGERPRINT_BYTES, NULL}};
    const unsigned char *saved = c->r.p;
    c->r.p += FINGERPRINT_BYTES;
    for (int i = 0; fields[i].name; i++) {
        size_t a = fields[i].at, z = fields[i + 1].at;
        /* any rank of the same world: every rank's batcher holds the same
           global position, samplers, graphs and store (fed every rank's
           rows), so a data-parallel job saves one rank's state for all */
        if (strcmp(fields[i].name, "rank") == 0)
            continue;
        if (memcmp(saved + a, mine + a, z - a) != 0)
            return bs__fail(err, BS_ERR_STATE,
                            "batcher state: saved with another %s than this "
                            "batcher's",
                            fields[i].name);
    }
    return BS_OK;
}

static void get_control(cursor *c, control *k)
{
    k->pos = (int64_t)bs__get64(&c->r);
    k->builds = (int64_t)bs__get64(&c->r);
    k->last_start = (int64_t)bs__get64(&c->r);
    k->built_version = bs__get64(&c->r);
    k->last_graph = (int)bs__get32(&c->r);
    (void)bs__get32(&c->r);
}

static bs_status check_control(const bs_batcher *b, const control *k,
                               bs_error *err)
{
    if (k->pos < 0 || k->builds < 0 || k->last_start < -1 ||
        k->last_start >= k->pos + (k->pos == 0) || k->last_graph > 1 ||
        k->last_graph < 0 || (k->builds > 0) != (k->last_start >= 0) ||
        (!graph_kind(b) && k->builds > 0))
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: position %lld, %lld rebuilds, last "
                        "at %lld are inconsistent",
                        (long long)k->pos, (long long)k->builds,
                        (long long)k->last_start);
    return BS_OK;
}

/* A sampler state: length, then the blob, loaded into a new sampler. */
static bs_status get_sampler(const bs_batcher *b, cursor *c,
                             bs_sampler_kind kind, const bs_graph *g,
                             bs_sampler **out, bs_error *err)
{
    if (!has(c, 8))
        return truncated(err, "a sampler state");
    uint64_t len = bs__get64(&c->r);
    if (len == 0)
        return BS_OK;
    if (!has(c, len))
        return truncated(err, "a sampler state");
    bs_status st = make_sampler(b, kind, g, out, err);
    if (st == BS_OK)
        st = bs_sampler_load_state(*out, c->r.p, (size_t)len, err);
    c->r.p += len;
    return st;
}

static bs_status get_graph(const bs_batcher *b, cursor *c, gref **out,
                           bs_error *err)
{
    if (!has(c, 16))
        return truncated(err, "a graph");
    int64_t index = (int64_t)bs__get64(&c->r);
    int32_t k = (int32_t)bs__get32(&c->r);
    (void)bs__get32(&c->r);
    if (k != b->p.graph.k || index < 0)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: graph %lld with K = %d, expected "
                        "K = %d",
                        (long long)index, k, b->p.graph.k);
    size_t cells = (size_t)b->n * (size_t)k;
    if (!has(c, cells * 8))
        return truncated(err, "a graph");
    int32_t *nbr = malloc(cells * sizeof *nbr);
    float *sim = malloc(cells * sizeof *sim);
    bs_status st = BS_OK;
    if (!nbr || !sim)
        st = bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    for (size_t i = 0; st == BS_OK && i < cells; i++)
        nbr[i] = (int32_t)bs__get32(&c->r);
    for (size_t i = 0; st == BS_OK && i < cells; i++) {
        uint32_t v = bs__get32(&c->r);
        memcpy(&sim[i], &v, 4);
    }
    bs_graph_params gp = b->p.graph;
    gp.seed = bs_batcher_graph_seed(b->p.sampler.seed, index);
    bs_graph *g = NULL;
    if (st == BS_OK)
        st = bs_graph_from_arrays(b->n, k, nbr, sim, &gp, &g, err);
    free(nbr);
    free(sim);
    if (st == BS_OK && !(*out = gref_new(g, index))) {
        bs_graph_free(g);
        st = bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    }
    return st == BS_ERR_INVALID_ARG ? BS_ERR_FORMAT : st;
}

/* What a blob holds, parsed into new objects before anything changes. */
typedef struct {
    control c;
    bs_sampler *uni, *walk;
    gref *graph;
    job *pending;
    bs_embstore *store;
    job **replay;
    int64_t nreplay, replay_until;
} loaded;

static void loaded_free(loaded *l)
{
    jobs_clear(l->replay, &l->nreplay);
    free(l->replay);
    bs_sampler_free(l->uni);
    bs_sampler_free(l->walk);
    gref_put(l->graph);
    job_put(l->pending);
    bs_embstore_free(l->store);
}

static bs_status get_pending(const bs_batcher *b, cursor *c, loaded *l,
                             bs_error *err)
{
    if (!has(c, 8 + CONTROL_BYTES))
        return truncated(err, "the rebuild in flight");
    if (!(l->pending = calloc(1, sizeof *l->pending)))
        return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    job *j = l->pending;
    j->refs = 1;
    j->install_at = (int64_t)bs__get64(&c->r);
    control before;
    get_control(c, &before);
    j->index = before.builds;
    /* before.builds comes from the file: l->c.builds - 1 (>= -1, checked)
       cannot overflow where before.builds + 1 could */
    if (j->install_at < l->c.pos || before.builds != l->c.builds - 1)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: rebuild %lld to install at %lld is "
                        "inconsistent with position %lld",
                        (long long)j->index, (long long)j->install_at,
                        (long long)l->c.pos);
    return get_graph(b, c, &j->out, err);
}

/* One rebuild to replay; they come in the order they started. */
static bs_status get_replayed(const bs_batcher *b, cursor *c, loaded *l,
                              bs_error *err)
{
    if (!has(c, 32))
        return truncated(err, "a rebuild to replay");
    job *j = calloc(1, sizeof *j);
    if (!j)
        return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    l->replay[l->nreplay++] = j;
    j->refs = 1;
    j->start_pos = (int64_t)bs__get64(&c->r);
    j->index = (int64_t)bs__get64(&c->r);
    j->version = bs__get64(&c->r);
    j->install_at = (int64_t)bs__get64(&c->r);
    int64_t prev =
        l->nreplay > 1 ? l->replay[l->nreplay - 2]->start_pos : l->c.pos - 1;
    /* the index before this one (l->c.builds >= 0, checked); indices come
       from the file, so compare without overflowing */
    int64_t before =
        l->nreplay > 1 ? l->replay[l->nreplay - 2]->index : l->c.builds - 1;
    if (j->start_pos <= prev || j->start_pos >= l->replay_until ||
        j->index <= before || j->index - 1 != before ||
        j->install_at < j->start_pos)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: rebuild %lld to replay at %lld is "
                        "inconsistent with position %lld",
                        (long long)j->index, (long long)j->start_pos,
                        (long long)l->c.pos);
    return get_graph(b, c, &j->out, err);
}

static bs_status get_replay(const bs_batcher *b, cursor *c, loaded *l,
                            bs_error *err)
{
    if (!has(c, 16))
        return truncated(err, "the replay list");
    l->replay_until = (int64_t)bs__get64(&c->r);
    uint32_t count = bs__get32(&c->r);
    (void)bs__get32(&c->r);
    /* each rebuild takes 48 bytes and its graph: bound the count by the
       bytes left before allocating for it */
    if (l->replay_until < l->c.pos ||
        (uint64_t)count > (uint64_t)(l->replay_until - l->c.pos) ||
        (uint64_t)count > (uint64_t)(c->end - c->r.p) / 48)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: %u rebuilds to replay until %lld "
                        "from position %lld",
                        count, (long long)l->replay_until, (long long)l->c.pos);
    if (count && !(l->replay = calloc(count, sizeof *l->replay)))
        return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    bs_status st = BS_OK;
    for (uint32_t i = 0; i < count && st == BS_OK; i++)
        st = get_replayed(b, c, l, err);
    return st;
}

static bs_status get_store(const bs_batcher *b, cursor *c, loaded *l,
                           bs_error *err)
{
    size_t cells = (size_t)b->n * (size_t)b->d;
    if (!has(c, 8 + (size_t)b->n + 4 * cells))
        return truncated(err, "the store");
    uint64_t version = bs__get64(&c->r);
    const uint8_t *flags = c->r.p;
    c->r.p += b->n;
    float *x = malloc(cells * sizeof *x);
    if (!x)
        return bs__fail(err, BS_ERR_NOMEM, "batcher: out of memory");
    for (size_t i = 0; i < cells; i++) {
        uint32_t v = bs__get32(&c->r);
        memcpy(&x[i], &v, 4);
    }
    bs_status st = bs_embstore_create(b->n, b->d, NULL, &l->store, err);
    if (st == BS_OK)
        st = bs__embstore_restore(l->store, x, flags, version, err);
    free(x);
    return st;
}

static bs_status get_present(cursor *c, const char *what, int *present,
                             bs_error *err)
{
    if (!has(c, 4))
        return truncated(err, what);
    uint32_t v = bs__get32(&c->r);
    if (v > 1)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: %s flag is %u, expected 0 or 1", what,
                        v);
    *present = (int)v;
    return BS_OK;
}

bs_status bs_batcher_load_state(bs_batcher *b, const void *buf, size_t len,
                                bs_error *err)
{
    if (!b || !buf)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batcher load_state: batcher and buf must be "
                        "non-NULL");
    const unsigned char *p = buf;
    size_t head = 16 + FINGERPRINT_BYTES + CONTROL_BYTES;
    if (len < head + 4)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: %zu bytes, shorter than its %zu-byte "
                        "header",
                        len, head + 4);
    if (memcmp(p, BATCH_MAGIC, 8) != 0)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: bad magic (expected \"%s\")",
                        BATCH_MAGIC);
    bs__rd t = {p + len - 4};
    uint32_t want = bs__get32(&t), got = (uint32_t)bs__crc32(0, p, len - 4);
    if (want != got)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: checksum mismatch (stored %08x, "
                        "computed %08x): corrupt or truncated",
                        want, got);
    bs__rd v = {p + 8};
    uint32_t version = bs__get32(&v);
    if (version != BATCH_VERSION)
        return bs__fail(err, BS_ERR_FORMAT,
                        "batcher state: version %u, expected %u", version,
                        BATCH_VERSION);
    cursor c = {{p + 16}, p + len - 4};
    loaded l;
    memset(&l, 0, sizeof l);
    bs_status st = check_fingerprint(b, &c, err);
    if (st == BS_OK) {
        get_control(&c, &l.c);
        st = check_control(b, &l.c, err);
    }
    /* the samplers' states come before the graph they walk: keep the
       graph sampler's bytes and load them once the graph is read */
    const unsigned char *walk_blob = NULL;
    uint64_t walk_len = 0;
    if (st == BS_OK)
        st = get_sampler(b, &c, BS_SAMPLER_UNIFORM, NULL, &l.uni, err);
    if (st == BS_OK && !has(&c, 8))
        st = truncated(err, "a sampler state");
    if (st == BS_OK) {
        walk_len = bs__get64(&c.r);
        walk_blob = c.r.p;
        if (!has(&c, walk_len))
            st = truncated(err, "a sampler state");
        else
            c.r.p += walk_len;
    }
    int present = 0;
    if (st == BS_OK &&
        (st = get_present(&c, "graph", &present, err)) == BS_OK && present)
        st = get_graph(b, &c, &l.graph, err);
    if (st == BS_OK && (walk_len > 0) != (l.graph != NULL))
        st = bs__fail(err, BS_ERR_FORMAT,
                      "batcher state: a graph sampler state %s a graph",
                      walk_len ? "without" : "is missing beside");
    if (st == BS_OK && walk_len) {
        if ((st = make_sampler(b, b->p.sampler.kind, l.graph->g, &l.walk,
                               err)) == BS_OK)
            st =
                bs_sampler_load_state(l.walk, walk_blob, (size_t)walk_len, err);
    }
    if (st == BS_OK &&
        (st = get_present(&c, "rebuild", &present, err)) == BS_OK && present)
        st = get_pending(b, &c, &l, err);
    if (st == BS_OK &&
        (st = get_present(&c, "store", &present, err)) == BS_OK &&
        present != (b->store != NULL))
        st = bs__fail(err, BS_ERR_FORMAT, "batcher state: store %s",
                      present ? "unexpected" : "missing");
    if (st == BS_OK && present)
        st = get_store(b, &c, &l, err);
    if (st == BS_OK)
        st = get_replay(b, &c, &l, err);
    if (st == BS_OK && c.r.p != c.end)
        st = bs__fail(err, BS_ERR_FORMAT, "batcher state: %zu bytes left over",
                      (size_t)(c.end - c.r.p));
    if (st != BS_OK) {
        loaded_free(&l);
        return st;
    }
    /* commit */
    if (b->ring)
        ring_clear(b);
    job_put(b->pending);
    gref_put(b->graph);
    bs_sampler_free(b->walk);
    bs_sampler_free(b->uni);
    bs_embstore_free(b->store);
    b->c = l.c;
    b->uni = l.uni;
    b->walk = l.walk;
    b->graph = l.graph;
    b->pending = l.pending;
    b->store = l.store;
    jobs_clear(b->replay, &b->nreplay);
    free(b->replay);
    b->replay = l.replay;
    b->nreplay = l.nreplay;
    b->replay_until = l.replay_until;
    bs__ok(err);
    return BS_OK;
}
