/*
 * graphcl_run.h — a whole GraphCL run on a TU data set: data (data/tu.h),
 * batches from the BatchSampler core (train/batcher.h), training steps
 * (graphcl.h), per-epoch CSV log, checkpoints with exact resume, the
 * papers' SVM evaluation (train/svm_eval.h).  `batchsampler train graphcl`
 * is a thin front end over bsg_graphcl_run.
 *
 * Per epoch (steps_per_epoch optimiser steps, the same for every
 * sampler): the batcher yields B graph ids (uniform during the warm-up
 * epochs, then the chosen sampler over a graph rebuilt every t batches);
 * one GraphCL step; the original view's head outputs (B, 96) go back into
 * the embedding store; diagnostics of the batch from the same outputs:
 * mean in-batch cosine (hardness), mean hardest-negative cosine, the
 * same-label pair rate (graph labels: diagnostic only); the epoch's
 * coverage.  Every eval_every-th epoch (default 10: epochs 10 and 20, the
 * reference's log_interval; 0: none until the end) and after the last: the
 * encoder's 96-d embeddings of all graphs (eval-mode batch norm, original
 * view with its loops) -> SVM accuracy, 10-fold, mean +- std; each in the
 * log, the last one the result.
 *
 * Node features: cfg.features applied to the loaded set
 * (bsg_features_apply; default auto = the reference's choice).
 *
 * Default M, K, B from the data set's size N (when the caller leaves them
 * 0): B = min(128, N); M = min(1000, max(2, N / 4)); K = min(100,
 * max(1, M / 4)); see docs/graphs.md.
 *
 * Checkpoints (train/ckpt.h container) after every ckpt_every-th epoch:
 * config text, position, parameters, BN running statistics, AdamW moments,
 * the batcher's blob, the log so far.  Resuming needs the same settings and
 * gives bitwise the same run.
 *
 * Errors: BST_OK or BST_ERR_* with a one-line message.  No global state.
 */
#ifndef BS_GRAPHS_GRAPHCL_RUN_H
#define BS_GRAPHS_GRAPHCL_RUN_H

#include "batcher.h"
#include "graphcl.h"
#include "run.h"

typedef struct {
    int64_t epoch, steps;
    double loss;
    double svm_acc, svm_std; /* -1 when not evaluated this epoch */
    double mean_sim, hard_sim, fn_rate, coverage;
    double sampler_s, step_s, total_s;
} bsg_epoch_log;

typedef int (*bsg_progress_fn)(void *ctx, int64_t step, int64_t total,
                               const bsg_epoch_log *last);

typedef struct {
    bsg_graphcl_cfg model;     /* model.batch 0: the default for N */
    bs_batcher_params batcher; /* graph.m / graph.k 0: defaults for N */
    const char *data_dir;      /* a TU folder */
    int64_t epochs;            /* 20 */
    double lr;                 /* 0.01, constant */
    int64_t eval_every;        /* epochs; 0 = last only (10) */
    bsg_feat_kind features;    /* auto */
    int svm;                   /* evaluate at the end (1) */
    const char *log_path, *ckpt_path;
    int64_t ckpt_every; /* 1 */
    int resume;
    int64_t stop_after; /* testing: stop after this many epochs */
    bsg_progress_fn progress;
    void *progress_ctx;
} bsg_run_cfg;

typedef struct {
    bsg_epoch_log last;
    double svm_acc, svm_std;            /* final, -1 without */
    double mean_sim, hard_sim, fn_rate; /* mean over the epochs after warm-up */
    int64_t graphs, batch, m, k;        /* N and the B, M, K used */
    double sampler_s, eval_s, total_s;
    int64_t epochs_run;
    bst_graph_use graph_use; /* the whole run's (restored rebuilds too) */
} bsg_run_result;

void bsg_run_cfg_default(bsg_run_cfg *c);
/* The B, M, K used for n graphs from the caller's values (0 = default). */
void bsg_run_sizes(int64_t n, int64_t *B, int64_t *M, int64_t *K);

int bsg_graphcl_run(const bsg_run_cfg *cfg, bsg_run_result *res, char *msg,
                    size_t cap);

/* What the graph runs (this one and mvgrl_run.c) share besides the
   types: */
/* Batches of B out of data's graphs (bst_run_batches_init) and *labels,
   the graphs' labels as int64 (malloc'ed, the caller frees).  BST_OK or
   BST_ERR_NOMEM with a one-line message. */
int bsg_run_buffers(bst_run_batches *bat, int64_t **labels, const bst_tu *data,
                    int64_t B, char *msg, size_t cap);
/* Appends the per-epoch CSV's header line. */
int bsg_log_header(bst_csv_log *log);
/* The epoch's row from its batches: the means of b's sums over its steps
   (b->steps >= 1), the coverage of b->n graphs, svm_acc and svm_std -1.
   The times and the SVM are the caller's. */
void bsg_epoch_stats(bsg_epoch_log *row, const bst_run_batches *b);
/* The finished row: its diagnostics into g (bst_run_graph_add with the
   batcher's warm-up epochs), the row appended to log. */
int bsg_epoch_done(bst_csv_log *log, bst_run_graph *g, const bsg_epoch_log *row,
                   int64_t warmup);
/* After the epochs (rc: their outcome): when the run stands at its last
   epoch, the result's SVM accuracy (the last row's, or when this call ran
   no epoch, resumed after the end, evaluate(self) again if cfg->svm) and
   g's means; then the batcher's sampler seconds and the seconds since t0.
   Returns rc, or evaluate's error. */
typedef int (*bsg_eval_fn)(void *self, double *acc, double *sd, char *msg,
                           size_t cap);
int bsg_run_finish(int rc, const bsg_run_cfg *cfg, int64_t epoch,
                   const bst_run_graph *g, const bs_batcher *batcher, double t0,
                   bsg_eval_fn evaluate, void *self, bsg_run_result *res,
                   char *msg, size_t cap);

#endif /* BS_GRAPHS_GRAPHCL_RUN_H */
