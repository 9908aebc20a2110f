/*
 * simclr_run.h — a whole SimCLR training run on Fashion-MNIST: data,
 * batches from the BatchSampler core (batcher.h), training steps
 * (simclr.h), per-epoch evaluation and CSV log, checkpoints, final linear
 * probe.  `batchsampler train simclr` and `batchsampler demo` are thin
 * front ends over bst_simclr_run.
 *
 * Per epoch (steps_per_epoch optimiser steps, the same for every sampler):
 *   - the batcher (the core's bs_batcher, with the trainer's choices of
 *     batcher.h) yields B ids: uniform during the warm-up epochs, then the
 *     chosen sampler over a graph rebuilt every t batches;
 *   - one SimCLR step; the two views' projections of the batch go back
 *     into the embedding store (no extra forward passes): their mean, or
 *     with store_views concat the two normalised rows side by side (the
 *     store is then 2D wide);
 *   - every instance's count of appearances in a batch goes up (whole
 *     run; checkpointed), for bst_appearance_stats;
 *   - diagnostics of the batch actually trained on, from the step's own
 *     view-0 projections: mean in-batch cosine, mean hardest-negative
 *     cosine, and the same-class pair rate (labels are used for this
 *     diagnostic and the evaluation only, never for training); and the
 *     epoch's coverage (instances in at least one of its batches / N).
 * At the end of every eval_every-th epoch (and the last): weighted kNN
 * top-1 of the test split against the training features (eval-mode batch
 * norm, no augmentation).  After the last epoch: the linear probe.
 *
 * Checkpoints (ckpt.h format) are written atomically after every
 * ckpt_every-th epoch; they hold the model, batch-norm statistics, AdamW
 * state, the batcher's state blob (bs_batcher_save_state: position,
 * samplers, graph in force, embedding store), the log so far and the
 * configuration.  Checkpoints of the format before the core batcher
 * (config "simclr v1") are refused with a message.  Resuming requires the same
 * configuration and gives bitwise the same result as an uninterrupted run.
 *
 * Thread safety: one run per process at a time is the expected use; the
 * function has no global state.  Errors: BST_OK or a BST_ERR_* code with a
 * one-line message in msg (cap bytes).
 */
#ifndef BS_TRAIN_SIMCLR_RUN_H
#define BS_TRAIN_SIMCLR_RUN_H

#include "batcher.h"
#include "fmnist.h"
#include "run.h"
#include "simclr.h"

/* One row of the per-epoch log. */
typedef struct {
    int64_t epoch;    /* 0-based */
    int64_t steps;    /* optimiser steps so far */
    double loss;      /* mean training loss of the epoch */
    double lr;        /* learning rate of the epoch's last step */
    double knn_top1;  /* -1 if not evaluated this epoch */
    double mean_sim;  /* hardness: mean in-batch cosine (view-0 z) */
    double hard_sim;  /* mean over anchors of the hardest negative */
    double fn_rate;   /* same-class in-batch pairs */
    double coverage;  /* instances in >= 1 batch of the epoch / N */
    double sampler_s; /* graph builds + sampling this epoch */
    double step_s;    /* training steps (augment, fwd, bwd, update) */
    double total_s;   /* the whole epoch incl. evaluation */
    double appear_cv; /* appearances per instance so far: std / mean */
    double unseen;    /* share of the instances in no batch so far */
} bst_epoch_log;

/* What the embedding store receives for a batch (--store-views): the mean
   of the two views' rows (D wide, the default) or the two views' L2-
   normalised rows side by side (2D wide: the BatchSampler reference's
   choice). */
typedef enum { BST_VIEWS_MEAN = 0, BST_VIEWS_CONCAT = 1 } bst_store_views;

/* "mean" / "concat"; NULL for another value. */
const char *bst_store_views_name(bst_store_views v);
/* The store's width for D-wide views: D or 2D. */
int bst_store_dim(bst_store_views v, int D);
/* out (n, bst_store_dim(v, D)) = the store rows of n instances whose two
   views' rows are v1[i], v2[i] (each (n, D)).  No allocation. */
void bst_store_rows(bst_store_views v, const float *v1, const float *v2,
                    int64_t n, int D, float *out);

/* How evenly the run has used the training set: the number of batches
   each instance has appeared in, over the whole run so far.  cv = std /
   mean of the counts (population std; 0 for a perfectly even use, scale-
   free so runs of different lengths compare), min and max, and the share
   of instances never drawn. */
typedef struct {
    double mean, cv, unseen;
    int64_t min, max;
} bst_appearance;

/* Stats of counts[0..n) (n >= 1) into *a.  Pure; no allocation. */
void bst_appearance_stats(const int32_t *counts, int64_t n, bst_appearance *a);

typedef int (*bst_run_progress_fn)(void *ctx, int64_t step, int64_t total,
                                   const bst_epoch_log *last);

typedef struct {
    bst_simclr_cfg model; /* model.batch is also the batcher's B, model.seed
                             its seed, model.enc.out_dim its dim */
    /* sampler.batches_per_epoch is the steps per epoch (0 = ceil(train_n /
       B)); batch_size, seed and dim are overridden (batcher.h) */
    bs_batcher_params batcher;
    const char *data_dir;    /* Fashion-MNIST .gz files */
    int64_t train_n, test_n; /* first N images of each split (0 = all) */
    int64_t epochs;
    double lr, min_lr;            /* AdamW, cosine from lr to min_lr */
    int64_t lr_warmup_steps;      /* linear warm-up */
    int knn_k;                    /* 200 */
    double knn_t;                 /* 0.5 */
    int64_t eval_every;           /* epochs; 0 = last epoch only */
    int probe;                    /* run the linear probe at the end */
    const char *log_path;         /* CSV, may be NULL */
    const char *ckpt_path;        /* may be NULL */
    int64_t ckpt_every;           /* epochs (>= 1) */
    int resume;                   /* start from ckpt_path if it exists */
    int64_t stop_after;           /* testing: stop after this many epochs of
                                     this invocation (0 = no), as if killed */
    bst_run_progress_fn progress; /* may be NULL; non-zero return stops */
    void *progress_ctx;
    /* Data-parallel over dist->world processes (simclr.h; NULL or world 1:
       one process).  model.batch is then the B of each process, the
       global batch W B; every process's batcher computes the same global
       batches (sampler rank and world from dist) and receives the
       projections of the whole global batch (all-gathered), so the graphs
       are the same everywhere.  Only rank 0 evaluates, writes the log and
       the checkpoints; with resume every process reads ckpt_path (it
       must be the same file for all: a shared file system; processes
       that restored different positions or parameters all fail), the
       batcher state being any rank's (bs_batcher_load_state).  The
       result equals a single
       process's with batch W B up to rounding (docs/scaling.md). */
    const bst_dist *dist;
    bst_store_views store_views; /* the store's rows (default mean) */
} bst_run_cfg;

typedef struct {
    bst_epoch_log last; /* the last epoch's row */
    double knn_top1;    /* final kNN top-1 */
    double probe_top1;  /* -1 without the probe */
    double probe_train_top1;
    double mean_sim, hard_sim, fn_rate;        /* averages over the epochs after
                                                  the warm-up (every sampler) */
    double sampler_s, step_s, eval_s, total_s; /* whole run */
    int64_t epochs_run;                        /* by this invocation */
    /* graph rebuilds of this invocation, and the rows this process built
       in them when they were split over W processes (data-parallel with
       refresh lag 0: bst_split_build; about n / W a rebuild; else 0) */
    int64_t graph_builds, graph_rows;
    bst_graph_use graph_use; /* the whole run's (restored rebuilds too) */
    bst_appearance appear;   /* per-instance appearances over the whole run */
} bst_run_result;

/* Fashion-MNIST in the Debian package's folder; 10 epochs of B = 256 over
   all 60000 images; lr 1e-3 with one epoch of warm-up; kNN k = 200,
   T = 0.5 every epoch; probe on. */
void bst_run_cfg_default(bst_run_cfg *cfg);

int bst_simclr_run(const bst_run_cfg *cfg, bst_run_result *res, char *msg,
                   size_t cap);

/* What the vision runs (this one and moco_run.c) share besides the
   types: */
/* The run settings' checks (epochs, learning rates, kNN, periods, resume,
   tau_plus, store views; not the model's nor the outputs').  BST_OK or
   BST_ERR_INVAL with a one-line message. */
int bst_run_cfg_check(const bst_run_cfg *c, char *msg, size_t cap);
/* The epoch's row from its batches: the means of b's sums over its steps
   (b->steps >= 1), the coverage of b->n instances, knn_top1 -1, and the
   appearance cv / unseen share of appear (b->n counts).  The times and
   the kNN are the caller's. */
void bst_run_epoch_stats(bst_epoch_log *row, const bst_run_batches *b,
                         const int32_t *appear);
/* Weighted kNN top-1 (c's k and T) of d's test split against its
   training split, from their F-wide features. */
int bst_run_knn(const bst_run_cfg *c, const bst_fmnist *d, const float *ftrain,
                const float *ftest, int F, double *top1, char *msg, size_t cap);
/* The linear probe on the same features into res->probe_train_top1 and
   res->probe_top1, its seconds added to res->eval_s. */
int bst_run_probe(const bst_fmnist *d, const float *ftrain, const float *ftest,
                  int F, bst_run_result *res, char *msg, size_t cap);

#endif /* BS_TRAIN_SIMCLR_RUN_H */
