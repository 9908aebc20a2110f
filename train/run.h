/*
 * run.h — the skeleton every trainer's run shares (graphs/graphcl_run.c,
 * graphs/mvgrl_run.c, vision/simclr_run.c, vision/moco_run.c,
 * language/simcse_run.c): the
 * per-epoch CSV log, the output checks, the checkpoint helpers and the
 * epoch loop with its log / checkpoint / progress cadence.  The trainer
 * keeps what is its own: the model, the step, the checkpoint's sections
 * and the settings text (fingerprint) that a resume must match.
 *
 * Errors: BST_OK or BST_ERR_* with a one-line message.  No global state.
 */
#ifndef BS_TRAIN_RUN_H
#define BS_TRAIN_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "batcher.h"
#include "ckpt.h"
#include "engine.h"

/* ------------------------------------------------------------- CSV log */

/* The whole CSV so far (header and rows), rewritten atomically (the
   library's writer: temporary file, fsync, rename) after every epoch and
   saved in the checkpoint, so that a resumed run continues it. */
typedef struct {
    char *text;
    size_t len, cap;
} bst_csv_log;

/* Appends one printf-formatted line (at most 511 characters). */
int bst_csv_append(bst_csv_log *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes the log to path (nothing when path is NULL). */
int bst_csv_write(const bst_csv_log *log, const char *path, char *msg,
                  size_t cap);
/* Replaces the log by the len bytes of text (a checkpoint's "log"). */
int bst_csv_restore(bst_csv_log *log, const void *text, size_t len, char *msg,
                    size_t cap);
void bst_csv_free(bst_csv_log *log);

/* ------------------------------------------------------------- outputs */

/* Before any work: each output can be written, the two are distinct
   files, and a resume's checkpoint is a regular file or absent. */
int bst_run_check_outputs(const char *log_path, const char *ckpt_path,
                          int resume, char *msg, size_t cap);

/* ---------------------------------------------------------- checkpoints */

/* *exists = 1 for a regular file, 0 when missing (ENOENT only: anything
   else would be overwritten by a fresh start, so it is an error). */
int bst_run_ckpt_exists(const char *path, int *exists, char *msg, size_t cap);

/* The saved settings text (section "config") must equal want; the
   message names the first setting that differs:
   "PATH: saved with other settings (setting KEY SAVED (now CURRENT)); ..." */
int bst_run_check_config(const char *path, const void *saved, size_t len,
                         const char *want, char *msg, size_t cap);

/* Loads the "batcher" section into b; the message names path. */
int bst_run_restore_batcher(const bst_ckpt_reader *rd, bs_batcher *b,
                            const char *path, char *msg, size_t cap);

/* The batch diagnostics summed over the epochs after the batcher's
   warm-up (every sampler, so that runs compare); a checkpoint keeps them
   in its position. */
typedef struct {
    int64_t epochs;       /* epochs summed */
    double sim, hard, fn; /* sums of the epochs' mean_sim, hard_sim,
                                fn_rate */
} bst_run_graph;

/* Adds an epoch's means when epoch >= warmup. */
void bst_run_graph_add(bst_run_graph *g, int64_t epoch, int64_t warmup,
                       double mean_sim, double hard_sim, double fn_rate);
/* The means over the epochs summed; the outputs are left alone when none
   was. */
void bst_run_graph_means(const bst_run_graph *g, double *mean_sim,
                         double *hard_sim, double *fn_rate);

/* The "position" section every trainer writes (host byte order): the
   next epoch, the optimiser steps, AdamW's t and the warm-up sums. */
typedef struct {
    int64_t epoch, step, adam_t;
    bst_run_graph graph;
} bst_run_position;

/* BST_ERR_FORMAT ("PATH: inconsistent position") unless 0 <= epoch <=
   epochs, step >= 0, adam_t == step, graph.epochs >= 0 and, when
   spe > 0, step == epoch * spe. */
int bst_run_check_position(const bst_run_position *pos, int64_t epochs,
                           int64_t spe, const char *path, char *msg,
                           size_t cap);

/* One named section of a checkpoint (referenced, not copied). */
typedef struct {
    const char *name;
    const void *data;
    size_t len;
} bst_run_section;

/* Writes the checkpoint path atomically: the nhead sections of head, then
   "batcher" (the batcher's state) and "log" (the CSV so far), then the
   ntail sections of tail (tail may be NULL when ntail is 0). */
int bst_run_ckpt_save(const char *path, const bst_run_section *head, int nhead,
                      bs_batcher *batcher, const bst_csv_log *log,
                      const bst_run_section *tail, int ntail, char *msg,
                      size_t cap);

/* Resumes from path: nothing when the file does not exist (a fresh
   start), else restore(self, reader, msg, cap) on the opened checkpoint,
   closed afterwards. */
typedef int (*bst_run_restore_fn)(void *self, const bst_ckpt_reader *rd,
                                  char *msg, size_t cap);
int bst_run_ckpt_load(const char *path, bst_run_restore_fn restore, void *self,
                      char *msg, size_t cap);

/* The sections every checkpoint ends with: "log" into log and "batcher"
   into b (bst_run_restore_batcher), which must stand at the start of
   epoch `epoch` (epoch * spe batches). */
int bst_run_restore_tail(const bst_ckpt_reader *rd, bs_batcher *b,
                         bst_csv_log *log, int64_t epoch, int64_t spe,
                         const char *path, char *msg, size_t cap);

/* Parameters <-> one flat array (the "params" section): to_flat 1 copies
   the n tensors' weights into flat, 0 back. */
void bst_run_flat_params(bst_param *ps, int n, float *flat, int to_flat);

/* Batch-norm running statistics (mean then var of each of the n) <-> one
   flat array of bst_run_bn_floats(bns, n) floats. */
size_t bst_run_bn_floats(bst_batchnorm *const *bns, int n);
void bst_run_flat_bn(bst_batchnorm *const *bns, int n, float *flat,
                     int to_flat);

/* ------------------------------------------------------------ batches */

/* What every trainer's epoch does around its step: draw the batch, note
   which instances the epoch has seen (coverage), hand the step's rows to
   the embedding store and sum the loss and the batch diagnostics
   (bs_batch_stats_compute on the rows the caller picks, with the
   instances' labels; labels are for diagnostics only).  Used by
   the vision and graph runs. */
typedef struct {
    int64_t B, n;
    int64_t *ids;   /* (B) the batch drawn by bst_run_batch_next */
    int64_t *local; /* (B) 0..B-1 */
    int64_t *blab;  /* (B) scratch: the batch's labels */
    uint8_t *seen;  /* (n) in a batch of this epoch */
    int64_t nseen;
    double loss, mean_sim, hard_sim, fn_rate; /* sums over the epoch */
    int64_t steps;                            /* steps summed */
} bst_run_batches;

/* Buffers for batches of B out of n instances; a one-line message on
   BST_ERR_NOMEM.  bst_run_batches_free is safe on a zeroed struct. */
int bst_run_batches_init(bst_run_batches *b, int64_t B, int64_t n, char *msg,
                         size_t cap);
void bst_run_batches_free(bst_run_batches *b);
/* The epoch's means of b's sums over its steps (b->steps >= 1) and its
   coverage of the b->n instances. */
void bst_run_batches_means(const bst_run_batches *b, double *loss,
                           double *mean_sim, double *hard_sim, double *fn_rate,
                           double *coverage);
/* Clears the epoch's coverage and sums. */
void bst_run_batches_epoch(bst_run_batches *b);
/* b->ids = the batcher's next batch, which must belong to epoch `epoch`;
   marks them seen. */
int bst_run_batch_next(bst_run_batches *b, bs_batcher *batcher, int64_t epoch,
                       char *msg, size_t cap);
/* After the step on b->ids: store (B, dim) rows into the embedding
   store, the diagnostics of diag (B, dim) with labels[ids] and the loss
   added to the sums. */
int bst_run_batch_done(bst_run_batches *b, bs_batcher *batcher,
                       const float *store, const float *diag, int64_t dim,
                       const int64_t *labels, double loss, char *msg,
                       size_t cap);

/* ------------------------------------------------------------ cadence */

/* Evaluation after epoch (0-based) when it is the last or every-th. */
int bst_run_eval_due(int64_t epoch, int64_t epochs, int64_t every);

/* The epoch loop: while *epoch < epochs: epoch(self) (runs epoch *epoch
   and appends its row to log), *epoch and *epochs_run + 1, the log
   written, a checkpoint (save) after every ckpt_every-th and the last
   epoch when ckpt_path is set, report(self) (progress; nonzero stops the
   run: "stopped by the caller"); stops after stop_after epochs of this
   call when > 0. */
typedef struct {
    int64_t epochs, ckpt_every, stop_after;
    const char *log_path, *ckpt_path;
    const bst_csv_log *log;
    void *self;
    int (*epoch)(void *self, char *msg, size_t cap);
    int (*save)(void *self, char *msg, size_t cap);
    int (*report)(void *self); /* may be NULL */
} bst_epoch_loop;

/* The loop of a run whose settings c have the fields epochs, ckpt_every,
   stop_after, log_path and ckpt_path (either trainer family's). */
#define BST_EPOCH_LOOP(c, log, self, epoch, save, report)                      \
    ((bst_epoch_loop){(c)->epochs, (c)->ckpt_every, (c)->stop_after,           \
                      (c)->log_path, (c)->ckpt_path, (log), (self), (epoch),   \
                      (save), (report)})

int bst_run_epochs(const bst_epoch_loop *l, int64_t *epoch, int64_t *epochs_run,
                   char *msg, size_t cap);
/* bst_run_epochs after, when resume, bst_run_ckpt_load(l->ckpt_path,
   restore, l->self). */
int bst_run_resume_epochs(const bst_epoch_loop *l, int resume,
                          bst_run_restore_fn restore, int64_t *epoch,
                          int64_t *epochs_run, char *msg, size_t cap);

#endif /* BS_TRAIN_RUN_H */
