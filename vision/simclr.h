/*
 * simclr.h — one SimCLR training step and feature extraction on 28 x 28
 * grayscale images, over the encoder (encoder.h), the contrastive losses
 * and AdamW (engine.h).
 *
 * A step takes a batch of B image ids, makes two augmented views of each
 * (bst_augment_batch, keyed by (seed, step, id, view) so every step sees
 * fresh views even when a sampler repeats an id), normalises them with the
 * Fashion-MNIST mean and std, runs the encoder on the 2B views as one batch
 * (batch norm over both views, as SimCLR), the loss on z = [z1; z2],
 * backward, and one AdamW update.  After the step, `z` holds the 2B
 * projections (rows [0, B) view 0, [B, 2B) view 1) for the caller's
 * embedding store and batch diagnostics.
 *
 * Ownership: bst_simclr owns its encoder, optimiser and buffers; images
 * are the caller's.  Thread safety: one bst_simclr per thread; calls
 * parallelise internally and are bitwise identical for any thread count.
 * Errors: BST_OK, BST_ERR_INVAL, BST_ERR_NOMEM.
 */
#ifndef BS_TRAIN_SIMCLR_H
#define BS_TRAIN_SIMCLR_H

#include "encoder.h"
#include "image_augment.h"

/* Fashion-MNIST pixel mean and std (of the training set, in [0, 1]). */
#define BST_FMNIST_MEAN 0.2860f
#define BST_FMNIST_STD 0.3530f

typedef struct {
    bst_encoder_cfg enc;
    bst_loss_cfg loss;
    bst_augment_params aug;
    int batch;           /* B: pairs per step, >= 2 */
    double weight_decay; /* AdamW (decoupled); biases and BN are exempt */
    uint64_t seed;       /* initialisation and augmentation */
} bst_simclr_cfg;

/*
 * Data-parallel training over W processes (the hooks are the caller's,
 * e.g. the CLI's MPI layer; the engine never communicates).  Process r
 * trains on its B ids, slice r of a global batch of W B ids; a step then
 * equals one step of a single process with batch W B up to rounding:
 *   - batch norm over the global 2 W B views (synchronised: its channel
 *     sums go through sum_f64, bst_batchnorm.sum);
 *   - the projections of every process all-gathered, the loss computed on
 *     the whole global batch (the same on every process), each process
 *     back-propagating its own rows of dloss/dz;
 *   - the parameter gradients summed (sum_f32) before the AdamW update,
 *     so every process keeps the same parameters.
 * Views are keyed by (seed, step, id, view), not by the position in the
 * batch, so every instance gets the views it gets in the single run.
 */
typedef struct {
    int rank, world;
    /* every process gives `bytes` bytes; all receives world * bytes in
       rank order */
    void (*allgather)(void *ctx, const void *local, void *all, size_t bytes);
    void (*sum_f32)(void *ctx, float *buf, size_t n); /* in place */
    bst_sum_fn sum_f64;                               /* in place */
    void *ctx;
} bst_dist;

typedef struct {
    bst_simclr_cfg cfg;
    bst_dist dist;   /* world 1 (no hooks) unless bst_simclr_set_dist */
    float *zg, *dzg; /* (2 W B, D) gathered projections and their gradient */
    float *grads;    /* (nparams total) flat gradients for the sum */
    bst_encoder enc;
    bst_encoder_acts acts; /* sized for 2B images */
    bst_adamw opt;
    float *views; /* (2B, 1, 28, 28) */
    float *dz;    /* (2B, D) */
    /* after a step: the projections of the global batch, (2 W B, D), rows
       [0, WB) view 0 and [WB, 2WB) view 1, in rank order (acts.z itself
       when W = 1) */
    const float *z;
    long step; /* optimiser steps taken */
} bst_simclr;

/* Width 16 encoder, infonce with tau 0.2, default augmentation, B = 256,
   weight decay 1e-6, seed 0. */
void bst_simclr_cfg_default(bst_simclr_cfg *cfg);

int bst_simclr_init(bst_simclr *s, const bst_simclr_cfg *cfg);
void bst_simclr_free(bst_simclr *s); /* safe on a zeroed struct */

/* Makes the following steps data-parallel over d->world processes (every
   process must call it with the same world and its own rank, before its
   first step, with identical parameters: the same seed).  d is copied; its
   ctx must outlive s.  BST_ERR_INVAL for a bad rank / world or missing
   hooks, BST_ERR_NOMEM. */
int bst_simclr_set_dist(bst_simclr *s, const bst_dist *d);

/* One step at learning rate lr on images (n, 28, 28) in [0, 1] and ids
   idx (B), each in [0, n).  *loss gets the batch loss.  BST_ERR_INVAL for
   bad ids or a non-finite loss (the parameters are then not updated). */
int bst_simclr_step(bst_simclr *s, const float *images, int64_t n,
                    const int64_t *idx, double lr, double *loss);

/* Features h (n, 4w) of images (n, 28, 28) without augmentation, batch norm
   in eval mode, in chunks of up to 2B images.  out is the caller's. */
int bst_simclr_features(bst_simclr *s, const float *images, int64_t n,
                        float *out);

#endif /* BS_TRAIN_SIMCLR_H */
