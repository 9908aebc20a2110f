/*
 * simcse_run.h — a whole unsupervised SimCSE run (simcse.h) on the
 * sentence corpus with uniform, kNN or BatchSampler (rwr) batches from the
 * core's bs_batcher; `batchsampler train simcse` is a thin front end over
 * bsl_simcse_run.  See docs/language.md.
 *
 * Data (data_dir as ../shared/data): text/corpus.txt (or corpus_path),
 * text/glove.6B.50d.10k.txt (or vectors_path), sts/sts12-train/ (the
 * dev set: SemEval-2012 training pairs, never the test sets), and for the
 * final evaluation sts/sts12..16 and sts/sick (sts_eval.h).  Every
 * sentence is tokenised once at load.
 *
 * Batches.  The batcher's B is the model's batch, its seed the model's
 * seed, its dim the encoder width C; knn walks the exact kNN graph.
 * Epochs have ceil(N / B) batches for every sampler.  For knn and rwr the
 * store starts from the untrained encoder's eval-mode embeddings of every
 * sentence (one forward pass over the corpus, counted as sampler time), so
 * that the graph sampler acts from the first batch (warm-up 0 epochs by
 * default): with the engine's usual empty store the first graph would wait
 * for a whole uniform epoch, which is the whole budget here.  After each
 * step view 1's pooled sentence embeddings (B, C) go into the store; the
 * graph is rebuilt every refresh_every batches (0: ceil(N / B) / 4).
 * Defaults M = 1000, K = 100 (graph.m / graph.k 0).
 *
 * Learning rate: linear warm-up over lr_warmup steps, then linear decay to
 * 0 at the last step (AdamW).
 *
 * Log: one CSV row every eval_every steps (0: ceil(N / B) / 4) and at the
 * end: loss (mean over the row's steps), lr, STS dev Spearman
 * (sts12-train, "all"), batch hardness (mean in-batch cosine of the stored
 * embeddings, mean hardest negative), the near-duplicate proxy (share of
 * in-batch pairs whose GloVe-average cosine exceeds 0.9), coverage
 * (sentences of the current epoch seen so far / N), seconds (sampler,
 * steps, evaluation, total).
 *
 * Checkpoints (train/ckpt.h) after every row: settings, position, model
 * parameters, AdamW moments, the batcher's blob, the epoch's coverage
 * flags, the log, the vocabulary and the model's shape (so that
 * `eval sts --model` needs nothing else).  Resuming needs the same settings
 * and gives bitwise the same run.
 *
 * Errors: BST_OK or BST_ERR_* with a one-line message.  No global state.
 */
#ifndef BS_LANGUAGE_SIMCSE_RUN_H
#define BS_LANGUAGE_SIMCSE_RUN_H

#include "batcher.h"
#include "simcse.h"
#include "sts_eval.h"

typedef struct {
    int64_t row, step, epoch; /* step: optimiser steps so far */
    double loss, lr, dev;     /* dev -1 when not evaluated */
    double mean_sim, hard_sim, neardup, coverage;
    double sampler_s, step_s, eval_s, total_s;
} bsl_log_row;

typedef int (*bsl_progress_fn)(void *ctx, int64_t step, int64_t total,
                               const bsl_log_row *last);

typedef struct {
    bsl_simcse_cfg model;
    bs_batcher_params batcher; /* graph.m, graph.k, refresh_every 0: default */
    const char *data_dir;      /* ../shared/data */
    const char *corpus_path;   /* NULL: DATA_DIR/text/corpus.txt */
    const char *vectors_path;  /* NULL: DATA_DIR/text/glove.6B.50d.10k.txt */
    int64_t epochs;            /* 1 */
    int64_t steps;             /* budget; 0: epochs * ceil(N / B) */
    double lr;                 /* 1e-4 (chosen on sts12-train) */
    int64_t lr_warmup;         /* steps; -1: 5% of the budget */
    int64_t eval_every;        /* steps; 0: ceil(N / B) / 4 */
    int dev;                   /* evaluate on sts12-train per row (1) */
    int final_eval;            /* STS12-16 + SICK-R at the end (1) */
    const char *log_path, *ckpt_path;
    int resume;
    int64_t stop_after; /* testing: stop after this many rows */
    bsl_progress_fn progress;
    void *progress_ctx;
} bsl_run_cfg;

typedef struct {
    bsl_log_row last;
    bsl_sts_result sts; /* final; valid when have_sts */
    int have_sts;
    double mean_sim, hard_sim, neardup; /* means over all steps */
    int64_t sentences, batch, m, k, refresh, total_steps, rows_run;
    double init_s; /* the store's initial embeddings */
    double sampler_s, step_s, eval_s, total_s; /* this invocation */
    double sents_per_s; /* training sentences / step seconds */
} bsl_run_result;

void bsl_run_cfg_default(bsl_run_cfg *c);

int bsl_simcse_run(const bsl_run_cfg *cfg, bsl_run_result *res, char *msg,
                   size_t cap);

/* The encoder of a checkpoint written by bsl_simcse_run (vocabulary and
   parameters), ready for bsl_simcse_encoder.  BST_ERR_IO / FORMAT /
   NOMEM. */
int bsl_simcse_load_model(const char *path, bsl_simcse *m, char *msg,
                          size_t cap);

#endif /* BS_LANGUAGE_SIMCSE_RUN_H */
