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

typedef struct {
    bst_simclr_cfg cfg;
    bst_encoder enc;
    bst_encoder_acts acts; /* sized for 2B images */
    bst_adamw opt;
    float *views;   /* (2B, 1, 28, 28) */
    float *dz;      /* (2B, D) */
    const float *z; /* = acts.z after a step: (2B, D) */
    long step;      /* optimiser steps taken */
} bst_simclr;

/* Width 16 encoder, infonce with tau 0.2, default augmentation, B = 256,
   weight decay 1e-6, seed 0. */
void bst_simclr_cfg_default(bst_simclr_cfg *cfg);

int bst_simclr_init(bst_simclr *s, const bst_simclr_cfg *cfg);
void bst_simclr_free(bst_simclr *s); /* safe on a zeroed struct */

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
