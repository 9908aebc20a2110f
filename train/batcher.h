/*
 * batcher.h — where a trainer's batches come from: the core's bs_batcher
 * (include/batchsampler.h, "Batcher"), used through the public API only,
 * with the choices that are the trainer's, for any modality.
 *
 * The core's batcher owns the whole BatchSampler policy: the embedding
 * store, the uniform warm-up epochs, a rebuild every refresh_every batches
 * (graph seeds bs_batcher_graph_seed(seed, r)), fixed-length epochs, the
 * epoch mode (fixed / carry / exact), the alpha schedule, asynchronous
 * rebuilds installed at a fixed batch (refresh_lag) and its whole state as
 * one blob (bs_batcher_save_state / load_state).  After each step the
 * trainer hands back the projections it has just computed
 * (bs_batcher_update), so the graph costs no extra forward passes.
 *
 * What this adapter adds (bst_batcher_create):
 *   - B is the model's batch size, the seed the run's seed, dim the
 *     projection's dimension;
 *   - the knn sampler walks the exact K-nearest-neighbour graph (the graph
 *     mode is forced to exact; M is then unused);
 *   - every epoch has sampler.batches_per_epoch batches whatever the
 *     sampler (0 = ceil(n / B)), so runs compare at an equal number of
 *     optimiser steps;
 *   - the store starts empty (init NULL): the first graph is built once a
 *     training step has written every row.  With epochs of at least
 *     ceil(n / B) batches the uniform warm-up epoch writes every row (a
 *     permutation); otherwise the batches stay uniform until every row has
 *     been written.  Nothing random stands in for a missing row, so the
 *     graphs come from the encoder only.
 * Everything else (warm-up, refresh period, lag, epoch mode, alpha and its
 * schedule, M, K, graph mode, block) is the caller's bs_batcher_params.
 *
 * Ownership: the caller frees the batcher with bs_batcher_free.  Thread
 * safety and errors: the core's (one thread at a time per batcher;
 * bs_status with a bs_error message).
 */
#ifndef BS_TRAIN_BATCHER_H
#define BS_TRAIN_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "batchsampler.h"

/* Creates the batcher of n instances for a trainer with batch size
   `batch`, projections of `dim` floats and seed `seed`, from the caller's
   parameters p (bs_batcher_params_default gives the trainer's defaults:
   rwr, shared graph M 1000 K 100, alpha 0.2 constant, fixed epochs,
   warm-up 1, refresh every 100, lag 0).  p is not modified. */
bs_status bst_batcher_create(const bs_batcher_params *p, int64_t batch,
                             int64_t dim, uint64_t seed, int64_t n,
                             bs_batcher **out, bs_error *err);

/* Seconds the batcher has spent building graphs (or waiting for a
   background build) and sampling; 0 for NULL.  Timing only. */
double bst_batcher_seconds(const bs_batcher *b);

/* How a run's sampler used its graphs, for the run's summary: a graph
   kind (rwr, knn: the batcher has a store), its rebuilds (restored ones
   included) and the rows of the store written, of n. */
typedef struct {
    int graph_kind;
    int64_t builds, store_rows, n;
} bst_graph_use;

/* Fills u from b (zeros for NULL or the uniform kind). */
void bst_batcher_graph_use(const bs_batcher *b, bst_graph_use *u);

/* 1 and a one-line explanation into out when a graph sampler never had a
   graph, so that every batch was uniform: the first graph waits until
   every instance's row is in the store (see bst_batcher_create), which
   short epochs (few steps of B) may never reach, and the run may end
   before its first rebuild (the warm-up epochs only).  Else 0 (out
   untouched). */
int bst_graph_use_warning(const bst_graph_use *u, char *out, size_t cap);

/*
 * A graph rebuild split over the W processes of a data-parallel run (a
 * bs_graph_builder: set bs_batcher_params.build = bst_split_build and
 * build_ctx = a bst_split_builder).  Process r builds rows
 * [r P, min(n, (r + 1) P)), P = ceil(n / W), with bs_graph_build_rows,
 * which gives those rows of bs_graph_build bit for bit; the rows are
 * all-gathered, so every process holds the graph one whole build gives,
 * for 1/W of its work.  The processes first all-gather whether their part
 * succeeded, so they fail together (each naming the first failed process)
 * instead of one waiting in a collective the other never reaches.
 *
 * allgather is called from the thread that runs the rebuild: with
 * refresh_lag 0 the caller of bs_batcher_next, so the rebuild's
 * collectives come in the same order as the step's on every process; a
 * transport whose collectives belong to the main thread (MPI with
 * MPI_THREAD_FUNNELED) must not use it with refresh_lag > 0.  The
 * builder's memory: 2 P K (int32 + float) here and 2 W P K gathered, for
 * the call.  `rows` counts the rows this process has built (all rebuilds).
 */
typedef struct {
    int rank, world;
    /* every process gives `bytes` bytes; all receives world * bytes in
       rank order on every process */
    void (*allgather)(void *ctx, const void *local, void *all, size_t bytes);
    void *ctx;
    int64_t rows; /* out: rows built by this process, summed over rebuilds */
} bst_split_builder;

bs_status bst_split_build(void *ctx, const float *x, int64_t n, int64_t d,
                          const bs_graph_params *p, bs_graph **out,
                          bs_error *err);

#endif /* BS_TRAIN_BATCHER_H */
