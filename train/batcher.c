/* batcher.c — warm-up, graph builds and refreshes around the core's
   samplers (batcher.h).  Uses only the public batchsampler.h API, plus the
   engine's seed derivation. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "engine.h"
#include "rng.h"

enum { BST_STREAM_GRAPH = 0x7404, BST_STREAM_STORE = 0x7405 };

static const char STATE_MAGIC[8] = "BSTBAT1";

static bs_status fail(bs_error *err, bs_status code, const char *msg)
{
    if (err) {
        err->code = code;
        snprintf(err->msg, sizeof err->msg, "batcher: %s", msg);
    }
    return code;
}

void bst_batcher_cfg_default(bst_batcher_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = BS_SAMPLER_RWR;
    cfg->batch = 256;
    cfg->steps_per_epoch = (60000 + 255) / 256;
    cfg->warmup_epochs = 1;
    cfg->refresh_every = 100;
    bs_graph_params_default(&cfg->graph);
    cfg->graph.m = 1000;
    cfg->graph.k = 100;
    cfg->alpha = 0.2;
    cfg->schedule = BS_ALPHA_CONSTANT;
}

bs_status bst_batcher_init(bst_batcher *b, const bst_batcher_cfg *cfg,
                           int64_t n, int64_t d, const float *init,
                           bs_error *err)
{
    memset(b, 0, sizeof *b);
    if (!cfg || n < 2 || d < 1 || cfg->batch < 1 || cfg->batch > n ||
        cfg->steps_per_epoch < 1 || cfg->warmup_epochs < 0 ||
        cfg->refresh_every < 1)
        return fail(err, BS_ERR_INVALID_ARG,
                    "bad configuration: expected 1 <= B <= n, steps per "
                    "epoch >= 1, warm-up epochs >= 0, refresh period >= 1");
    if (cfg->kind != BS_SAMPLER_UNIFORM) {
        bs_graph_params gp = cfg->graph;
        if (cfg->kind == BS_SAMPLER_KNN)
            gp.mode = BS_MODE_EXACT;
        bs_status st = bs_graph_params_check(&gp, n, err);
        if (st)
            return st;
    }
    b->cfg = *cfg;
    if (cfg->kind == BS_SAMPLER_KNN)
        b->cfg.graph.mode = BS_MODE_EXACT;
    b->n = n, b->d = d;
    b->snapshot = malloc(sizeof(float) * (size_t)n * (size_t)d);
    if (!b->snapshot)
        return fail(err, BS_ERR_NOMEM, "out of memory for the snapshot");
    if (!init) { /* random rows until training writes them (see header) */
        bs_rng r;
        bs_rng_derive(&r, cfg->seed, BST_STREAM_STORE, 0);
        for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
            b->snapshot[i] = (float)(bs_rng_uniform(&r) - 0.5);
        init = b->snapshot;
    }
    bs_status st = bs_embstore_create(n, d, init, &b->store, err);
    if (st) {
        bst_batcher_free(b);
        return st;
    }
    return BS_OK;
}

void bst_batcher_free(bst_batcher *b)
{
    bs_sampler_free(b->sampler);
    bs_graph_free(b->graph);
    bs_embstore_free(b->store);
    free(b->snapshot);
    memset(b, 0, sizeof *b);
}

/* Builds graph number `index` from the snapshot. */
static bs_status build_graph(bst_batcher *b, int64_t index, bs_graph **out,
                             bs_error *err)
{
    bs_graph_params gp = b->cfg.graph;
    bs_rng r;
    bs_rng_derive(&r, b->cfg.seed, BST_STREAM_GRAPH, (uint64_t)index);
    gp.seed = bs_rng_next(&r);
    double t0 = bst_now();
    bs_status st = bs_graph_build(b->snapshot, b->n, b->d, &gp, out, err);
    b->build_s += bst_now() - t0;
    return st;
}

static bs_status make_sampler(bst_batcher *b, int graph, bs_error *err)
{
    bs_sampler_params sp;
    bs_sampler_params_default(&sp);
    sp.kind = graph ? b->cfg.kind : BS_SAMPLER_UNIFORM;
    sp.batch_size = b->cfg.batch;
    sp.alpha = b->cfg.alpha;
    sp.schedule = b->cfg.schedule;
    sp.batches_per_epoch = b->cfg.steps_per_epoch;
    sp.seed = b->cfg.seed;
    bs_sampler *s = NULL;
    bs_status st =
        bs_sampler_create(&sp, b->n, graph ? b->graph : NULL, &s, err);
    if (st)
        return st;
    bs_sampler_free(b->sampler);
    b->sampler = s;
    b->graph_phase = graph;
    return BS_OK;
}

/* Copies the store into the snapshot and builds the next graph. */
static bs_status rebuild(bst_batcher *b, bs_error *err)
{
    memcpy(b->snapshot, bs_embstore_data(b->store),
           sizeof(float) * (size_t)b->n * (size_t)b->d);
    bs_graph *g = NULL;
    bs_status st = build_graph(b, b->builds, &g, err);
    if (st)
        return st;
    if (b->sampler && b->graph_phase &&
        (st = bs_sampler_set_graph(b->sampler, g, err))) {
        bs_graph_free(g);
        return st;
    }
    bs_graph_free(b->graph);
    b->graph = g;
    b->builds++;
    b->since_build = 0;
    return BS_OK;
}

bs_status bst_batcher_next(bst_batcher *b, int64_t *ids, int64_t *epoch,
                           bs_error *err)
{
    if (!b || !b->store || !ids || !epoch)
        return fail(err, BS_ERR_INVALID_ARG, "next: NULL argument");
    bs_status st;
    if (b->batch == b->cfg.steps_per_epoch) {
        b->epoch++;
        b->batch = 0;
    }
    int want_graph =
        b->cfg.kind != BS_SAMPLER_UNIFORM && b->epoch >= b->cfg.warmup_epochs;
    if (want_graph && !b->graph_phase) {
        if ((st = rebuild(b, err)) || (st = make_sampler(b, 1, err)) ||
            (st = bs_sampler_set_epoch(b->sampler, b->epoch, err)))
            return st;
    } else if (!b->sampler) {
        if ((st = make_sampler(b, 0, err)) ||
            (st = bs_sampler_set_epoch(b->sampler, b->epoch, err)))
            return st;
    } else if (b->batch == 0) {
        if ((st = bs_sampler_set_epoch(b->sampler, b->epoch, err)))
            return st;
    }
    if (b->graph_phase && b->since_build >= b->cfg.refresh_every &&
        (st = rebuild(b, err)))
        return st;
    double t0 = bst_now();
    int64_t count = 0;
    st = bs_sampler_next(b->sampler, ids, &count, err);
    b->sample_s += bst_now() - t0;
    if (st)
        return st;
    if (count != b->cfg.batch)
        return fail(err, BS_ERR_STATE, "sampler ended an epoch early");
    *epoch = b->epoch;
    b->batch++;
    b->since_build++;
    return BS_OK;
}

bs_status bst_batcher_update(bst_batcher *b, const int64_t *ids, int64_t count,
                             const float *rows, bs_error *err)
{
    if (!b || !b->store)
        return fail(err, BS_ERR_INVALID_ARG, "update: NULL batcher");
    return bs_embstore_update(b->store, ids, count, rows, err);
}

/* ------------------------------------------------------------ state blob */
/* magic[8], then int64 epoch, batch, since_build, builds, graph_phase,
   sampler-state length, then the sampler state (host byte order: the blob
   lives inside a checkpoint written and read by the same build). */
enum { HDR = 8 + 6 * 8 };

bs_status bst_batcher_state_save(const bst_batcher *b, void **buf, size_t *len,
                                 bs_error *err)
{
    size_t sl = 0;
    bs_status st = BS_OK;
    if (!b || !buf || !len)
        return fail(err, BS_ERR_INVALID_ARG, "state_save: NULL argument");
    if (b->sampler &&
        (st = bs_sampler_save_state(b->sampler, NULL, 0, &sl, err)))
        return st;
    unsigned char *p = malloc(HDR + sl);
    if (!p)
        return fail(err, BS_ERR_NOMEM, "out of memory for the state");
    int64_t h[6] = {b->epoch,  b->batch,       b->since_build,
                    b->builds, b->graph_phase, (int64_t)sl};
    memcpy(p, STATE_MAGIC, 8);
    memcpy(p + 8, h, sizeof h);
    if (b->sampler &&
        (st = bs_sampler_save_state(b->sampler, p + HDR, sl, &sl, err))) {
        free(p);
        return st;
    }
    *buf = p;
    *len = HDR + sl;
    return BS_OK;
}

bs_status bst_batcher_state_load(bst_batcher *b, const void *buf, size_t len,
                                 const float *store, const float *snapshot,
                                 bs_error *err)
{
    if (!b || !b->store || !buf || !store || !snapshot)
        return fail(err, BS_ERR_INVALID_ARG, "state_load: NULL argument");
    if (b->sampler || b->builds)
        return fail(err, BS_ERR_STATE, "state_load: batcher already used");
    const unsigned char *p = buf;
    int64_t h[6];
    if (len < HDR || memcmp(p, STATE_MAGIC, 8) != 0)
        return fail(err, BS_ERR_FORMAT, "state: bad magic or too short");
    memcpy(h, p + 8, sizeof h);
    if (h[0] < 0 || h[1] < 0 || h[1] > b->cfg.steps_per_epoch || h[2] < 0 ||
        h[3] < 0 || (h[4] != 0 && h[4] != 1) || h[5] < 0 ||
        (uint64_t)h[5] != len - HDR || (h[4] && h[3] < 1) ||
        (h[4] && b->cfg.kind == BS_SAMPLER_UNIFORM))
        return fail(err, BS_ERR_FORMAT, "state: inconsistent counters");
    int64_t *all = malloc(sizeof(int64_t) * (size_t)b->n);
    if (!all)
        return fail(err, BS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < b->n; i++)
        all[i] = i;
    bs_status st = bs_embstore_update(b->store, all, b->n, store, err);
    free(all);
    if (st)
        return st;
    memcpy(b->snapshot, snapshot, sizeof(float) * (size_t)b->n * (size_t)b->d);
    b->epoch = h[0], b->batch = h[1], b->since_build = h[2];
    b->builds = h[3];
    if (h[4]) {
        bs_graph *g = NULL;
        if ((st = build_graph(b, b->builds - 1, &g, err)))
            return st;
        b->graph = g;
    }
    if (h[5] == 0) /* saved before the first batch */
        return BS_OK;
    if ((st = make_sampler(b, (int)h[4], err)) ||
        (st = bs_sampler_load_state(b->sampler, p + HDR, (size_t)h[5], err))) {
        bs_sampler_free(b->sampler);
        b->sampler = NULL;
        b->graph_phase = 0;
        return st;
    }
    return BS_OK;
}
