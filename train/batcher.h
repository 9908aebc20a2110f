/*
 * batcher.h — where a trainer's batches come from: the BatchSampler core
 * (include/batchsampler.h, used through its public API only) wrapped the
 * way the reference implementation drives it, for any modality.
 *
 *   - The first `warmup_epochs` epochs use uniform batches (a fresh
 *     encoder's embeddings say nothing yet).
 *   - After each step the trainer hands back the projections it has just
 *     computed (bst_batcher_update); they go into the core's embedding
 *     store, so the graph costs no extra forward passes.
 *   - The proximity graph (rwr: M candidates, K neighbours; knn: the exact
 *     K-nearest-neighbour graph) is built from the store at the first
 *     graph epoch and rebuilt every `refresh_every` batches after that.
 *   - Every epoch has exactly `steps_per_epoch` batches whatever the
 *     sampler, so runs compare at an equal number of optimiser steps.
 *
 * Rebuild r uses graph seed derive(seed, r), so the whole sequence of
 * batches is a function of (cfg, the stored embeddings), for any thread
 * count.  To resume exactly, a checkpoint holds the counters, the sampler
 * state, the store and the snapshot of the store the graph in force was
 * built from (bst_batcher_state_*).
 *
 * Ownership: the batcher owns its sampler, graph and store.  Thread safety:
 * one thread at a time.  Errors: the core's bs_status with its bs_error
 * message.
 */
#ifndef BS_TRAIN_BATCHER_H
#define BS_TRAIN_BATCHER_H

#include <stdint.h>

#include "batchsampler.h"

typedef struct {
    bs_sampler_kind kind; /* uniform, knn or rwr */
    int64_t batch;        /* B */
    int64_t steps_per_epoch;
    int64_t warmup_epochs; /* uniform epochs before the graph sampler */
    int64_t refresh_every; /* t: batches between graph rebuilds, >= 1 */
    bs_graph_params graph; /* rwr: mode, m, k; knn: k (mode is exact) */
    double alpha;          /* rwr restart probability */
    bs_alpha_schedule schedule;
    uint64_t seed;
} bst_batcher_cfg;

/* rwr, B 256, 235 steps per epoch (60000 / 256), 1 warm-up epoch, refresh
   every 100 batches, shared mode M 1000 K 100, alpha 0.2, seed 0. */
void bst_batcher_cfg_default(bst_batcher_cfg *cfg);

typedef struct {
    bst_batcher_cfg cfg;
    int64_t n, d;
    bs_embstore *store;
    float *snapshot;      /* (n, d): what the graph in force was built from */
    bs_graph *graph;      /* NULL until the first graph epoch */
    bs_sampler *sampler;  /* the sampler of the current phase */
    int graph_phase;      /* sampler is the graph sampler */
    int64_t epoch, batch; /* position: next batch is (epoch, batch) */
    int64_t since_build;  /* batches since the last (re)build */
    int64_t builds;       /* graphs built so far */
    double build_s, sample_s; /* seconds spent building and sampling */
} bst_batcher;

/* n instances with d-dim projections.  The store starts as init (n, d),
   or, with init NULL, as random rows (uniform in [-0.5, 0.5)^d from the
   seed): an instance no step has written yet then gets random neighbours,
   which is what an untrained encoder would give it too; with the default
   steps per epoch the warm-up epoch writes every row. */
bs_status bst_batcher_init(bst_batcher *b, const bst_batcher_cfg *cfg,
                           int64_t n, int64_t d, const float *init,
                           bs_error *err);
void bst_batcher_free(bst_batcher *b); /* safe on a zeroed struct */

/* The next batch: B ids into ids[0..B); *epoch gets the epoch it belongs
   to.  Starts the graph phase, rebuilds and re-seeds as described above. */
bs_status bst_batcher_next(bst_batcher *b, int64_t *ids, int64_t *epoch,
                           bs_error *err);

/* Writes rows (count, d) of the ids just trained on into the store. */
bs_status bst_batcher_update(bst_batcher *b, const int64_t *ids, int64_t count,
                             const float *rows, bs_error *err);

/* Serialises the position (counters, timings excluded) and the current
   sampler's state into a malloc'ed blob (*buf, *len); the store and the
   snapshot are saved separately (bs_embstore_data, b->snapshot). */
bs_status bst_batcher_state_save(const bst_batcher *b, void **buf, size_t *len,
                                 bs_error *err);
/* Restores a freshly initialised batcher (same cfg, n, d) from a blob and
   the store / snapshot contents (n*d floats each): rebuilds the graph in
   force from the snapshot (deterministic) and restores the sampler. */
bs_status bst_batcher_state_load(bst_batcher *b, const void *buf, size_t len,
                                 const float *store, const float *snapshot,
                                 bs_error *err);

#endif /* BS_TRAIN_BATCHER_H */
