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

/* Parameters <-> one flat array (the "params" section): to_flat 1 copies
   the n tensors' weights into flat, 0 back. */
void bst_run_flat_params(bst_param *ps, int n, float *flat, int to_flat);

/* ------------------------------------------------------------ batches */

/* What every trainer's epoch does around its step: draw the batch, note
   which instances the epoch has seen (coverage), hand the step's rows to
   the embedding store and sum the loss and the batch diagnostics
   (bs_batch_stats_compute on the rows the caller picks, with the
   instances' labels; labels are for diagnostics only).  Used by
   vision/moco_run.c; the other runs have the same steps inline. */
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

int bst_run_epochs(const bst_epoch_loop *l, int64_t *epoch, int64_t *epochs_run,
                   char *msg, size_t cap);

#endif /* BS_TRAIN_RUN_H */
