/*
 * mvgrl_run.h — a whole MVGRL run on a TU data set, with the run settings,
 * log rows and results of GraphCL's runs (graphcl_run.h), so that
 * `batchsampler train mvgrl` and `train graphcl` share their options:
 * data and both views' operators (mvgrl.h), batches from the BatchSampler
 * core (train/batcher.h), Adam steps, per-epoch CSV log, checkpoints with
 * exact resume, the papers' SVM evaluation (train/svm_eval.h; MVGRL's
 * reference uses a linear SVM, so the linear kernel).
 *
 * Per step: the batcher yields B graph ids (uniform during the warm-up
 * epochs, then the chosen sampler over a graph rebuilt every t batches);
 * one MVGRL step, whose negatives are the batch's other graphs; the
 * batch's embeddings (global view 1 + global view 2, the representation
 * evaluated) go back into the embedding store; the batch's diagnostics
 * from the same embeddings (mean in-batch cosine, mean hardest negative,
 * same-label pair rate: labels for diagnostics and evaluation only); per
 * epoch the coverage.  Embeddings of all graphs -> SVM accuracy every
 * eval_every-th epoch and after the last.
 *
 * From run: batcher, data_dir, epochs, eval_every, svm,
 * log/ckpt paths, ckpt_every, resume, stop_after, progress.  run->model,
 * run->lr and run->features are GraphCL's and are ignored: the model, B,
 * lr, seed and node features (bsg_mvgrl_features; auto = the reference's
 * tags+degree, or degree for a set without node labels) are `model`'s.  M and K left 0 get bsg_run_sizes's defaults for N graphs.
 *
 * Checkpoints (train/ckpt.h): config text, position, parameters, Adam
 * moments, the batcher's blob, the log.  Resuming needs the same settings
 * and gives bitwise the same run.  Errors: BST_OK or BST_ERR_* with a
 * one-line message.  No global state.
 */
#ifndef BSG_GRAPHS_MVGRL_RUN_H
#define BSG_GRAPHS_MVGRL_RUN_H

#include "graphcl_run.h"
#include "mvgrl.h"

int bsg_mvgrl_run(const bsg_run_cfg *run, const bsg_mvgrl_cfg *model,
                  bsg_run_result *res, char *msg, size_t cap);

#endif /* BSG_GRAPHS_MVGRL_RUN_H */
