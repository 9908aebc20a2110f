/*
 * moco_run.h — a whole MoCo v3 training run on Fashion-MNIST (moco.h for
 * the step), with SimCLR's run settings, log row and result types
 * (simclr_run.h), so that `batchsampler train moco` takes the options of
 * `train simclr` and their runs compare step for step.
 *
 * Per epoch (steps_per_epoch optimiser steps, the same for every sampler):
 *   - the batcher (batcher.h) yields B ids: uniform during the warm-up
 *     epochs, then the chosen sampler over a graph rebuilt every t
 *     batches.  As in SimCLR the negatives of an instance are the other
 *     instances of its batch (the other keys), so the sampler decides them;
 *   - one MoCo step at learning rate bst_lr_at (warm-up + cosine, AdamW)
 *     and momentum bst_momentum_at(step, total steps, m0) (from m0 to 1);
 *   - the embedding store gets the mean of the two views' normalised
 *     momentum keys of the batch (no extra forward passes).  The keys, not
 *     the queries: the negatives the loss sees are keys, and the keys come
 *     from the slowly moving momentum branch, so the rows a graph is built
 *     from go stale less between their updates;
 *   - diagnostics of the batch from the view-0 keys (mean in-batch cosine,
 *     hardest negative, same-class rate; labels only for diagnostics and
 *     evaluation) and the epoch's coverage.
 * Evaluation as SimCLR's: weighted kNN top-1 of the base trunk's features
 * (eval-mode batch norm) every eval_every-th and the last epoch, the
 * linear probe after the last.
 *
 * CSV log columns: epoch, steps, loss, lr, momentum (of the epoch's last
 * step), knn_top1, mean_sim, hard_sim, fn_rate, coverage, sampler_s,
 * step_s, total_s.
 *
 * Checkpoints (ckpt.h) after every ckpt_every-th and the last epoch,
 * written atomically: config (every setting that changes the result; a
 * resume with others is refused naming the first that differs),
 * position, params (trained), momentum (the momentum branch), bn (every
 * running statistic), adam_m, adam_v, batcher (its whole state), log.
 * Resuming gives bitwise the same result as an uninterrupted run, for
 * any thread count.
 *
 * Thread safety: no global state.  Errors: BST_OK or a BST_ERR_* code
 * with a one-line message in msg (cap bytes).
 */
#ifndef BS_VISION_MOCO_RUN_H
#define BS_VISION_MOCO_RUN_H

#include "moco.h"
#include "simclr_run.h"

typedef struct {
    /* every run setting as `train simclr` (simclr_run.h); run.model gives
       the MoCo model's encoder (proj_dim = the MLPs' hidden width P,
       out_dim = D), loss (on q k^T), augmentation, B, weight decay, seed */
    bst_run_cfg run;
    double m0; /* base momentum, [0, 1] */
} bst_moco_run_cfg;

/* SimCLR's run defaults (bst_run_cfg_default) with MoCo's model defaults
   (bst_moco_cfg_default: P 256, D 128, tau 0.2) and m0 0.99. */
void bst_moco_run_cfg_default(bst_moco_run_cfg *cfg);

/* The run; res as bst_simclr_run's (res->last.lr is the last step's). */
int bst_moco_run(const bst_moco_run_cfg *cfg, bst_run_result *res, char *msg,
                 size_t cap);

#endif /* BS_VISION_MOCO_RUN_H */
