/*
 * moco.h — one MoCo v3 training step (Chen, Xie and He 2021; the ResNet
 * recipe of facebookresearch/moco-v3) and feature extraction on 28 x 28
 * grayscale images, over the SimCLR encoder's trunk (encoder.h: stem and
 * three basic blocks, feature h of 4w), the cross-view contrastive loss
 * and AdamW (engine.h).
 *
 *   base      trunk -> projector -> predictor -> q   (trained by AdamW)
 *   momentum  trunk -> projector -> k                (no gradients: an EMA
 *             of the base trunk and projector, m <- m m + (1 - m) theta)
 *   projector Linear(4w, P) BN ReLU Linear(P, D) BN(affine off)
 *   predictor Linear(D, P) BN ReLU Linear(P, D)      (query branch only)
 * Linear layers without bias, as the reference's _build_mlp.
 *
 * A step takes B image ids, makes two augmented views of each (as SimCLR:
 * bst_augment_batch keyed by (seed, step, id, view)), normalises them,
 * and then, as the reference's forward: the momentum update with m given
 * by the caller (the schedule is bst_momentum_at), the keys k1, k2 of the
 * momentum branch (one forward per view, batch norm over that view's B
 * images), the queries q1, q2 of the base branch (one forward per view),
 * loss = 2 tau [ctr(q1, k2) + ctr(q2, k1)] where ctr is
 * bst_cross_contrastive_loss on the L2-normalised q and k (infonce: the
 * cross-entropy of q k^T / tau with labels 0..B-1: the other keys of the
 * batch are the negatives), backward, one AdamW update.  Each view's base
 * forward is followed by its backward before the other's forward (the
 * loss is a sum of one term per view), which gives the reference's
 * gradients and running statistics.
 *
 * After a step, `keys` holds the 2B normalised momentum keys (rows
 * [0, B) view 0, [B, 2B) view 1): the caller's embedding store and batch
 * diagnostics read them.  The features for evaluation are the base
 * trunk's h (eval-mode batch norm), as SimCLR's.
 *
 * Ownership: bst_moco owns both encoders, heads, the optimiser and its
 * buffers; images are the caller's.  Thread safety: one bst_moco per
 * thread; calls parallelise internally and are bitwise identical for any
 * thread count.  Errors: BST_OK, BST_ERR_INVAL, BST_ERR_NOMEM.
 */
#ifndef BS_VISION_MOCO_H
#define BS_VISION_MOCO_H

#include "encoder.h"
#include "image_augment.h"

typedef struct {
    bst_encoder_cfg enc; /* width; proj_dim = P (MLP hidden), out_dim = D */
    bst_loss_cfg loss;   /* on q k^T / tau; infonce, dcl or hcl */
    bst_augment_params aug;
    int batch;           /* B: images per step, >= 2 */
    double weight_decay; /* AdamW (decoupled); BN exempt */
    double m0;           /* base momentum in [0, 1] */
    uint64_t seed;       /* initialisation and augmentation */
} bst_moco_cfg;

/* A two-layer MLP head: Linear(in, P) BN ReLU Linear(P, D) [BN(D)]. */
typedef struct {
    bst_linear l1, l2;
    bst_batchnorm bn1, bn2; /* bn2 only with last_bn (affine fixed 1 / 0) */
    int last_bn;
} bst_moco_mlp;

typedef struct {
    float *f1, *r, *f2, *y; /* (N, P) (N, P) (N, D) (N, D); y = f2 without BN */
    float *dr, *df1, *df2, *dx;
} bst_moco_mlp_acts;

enum { BST_MOCO_MAX_PARAMS = 48, BST_MOCO_MAX_BNS = 32 };

typedef struct {
    bst_moco_cfg cfg;
    bst_encoder base, mom; /* trunks (their own heads are unused) */
    bst_encoder_acts acts, macts;
    bst_moco_mlp proj, pred, mproj;
    bst_moco_mlp_acts pa, qa, ma;
    /* trained tensors: base trunk, projector, predictor */
    bst_param params[BST_MOCO_MAX_PARAMS];
    int nparams;
    /* the momentum copy and what it follows: base trunk + projector,
       momentum trunk + projector, same order and shapes */
    bst_param src[BST_MOCO_MAX_PARAMS], dst[BST_MOCO_MAX_PARAMS];
    int nema;
    /* every batch norm (base, predictor, then momentum side) for
       checkpoints */
    bst_batchnorm *bns[BST_MOCO_MAX_BNS];
    int nbns;
    bst_adamw opt;
    float *views;  /* (2B, 1, 28, 28) */
    float *keys;   /* (2B, D) normalised momentum keys after a step */
    float *q, *dq; /* (B, D) normalised query and its gradient */
    long step;     /* optimiser steps taken */
} bst_moco;

/* Width 16, P 256, D 128, infonce tau 0.2 (the reference's ResNet value),
   default augmentation, B 256, weight decay 1e-6, m0 0.99, seed 0. */
void bst_moco_cfg_default(bst_moco_cfg *cfg);

/* BST_ERR_INVAL for a bad configuration (B < 2, m0 outside [0, 1], ...).
   The momentum branch starts as a copy of the base. */
int bst_moco_init(bst_moco *s, const bst_moco_cfg *cfg);
void bst_moco_free(bst_moco *s); /* safe on a zeroed struct */

/* The step without augmentation and optimiser: on normalised views x1, x2
   (B, 1, 28, 28 each), the momentum update with m, keys, queries, *loss
   and every trained gradient (zeroed first).  BST_ERR_INVAL for m outside
   [0, 1] or a non-finite loss. */
int bst_moco_forward_backward(bst_moco *s, const float *x1, const float *x2,
                              double m, double *loss);

/* One training step at learning rate lr and momentum m on images
   (n, 28, 28) in [0, 1] and ids idx (B), each in [0, n).  BST_ERR_INVAL
   for bad ids or a non-finite loss (the parameters are then not
   updated by AdamW). */
int bst_moco_step(bst_moco *s, const float *images, int64_t n,
                  const int64_t *idx, double lr, double m, double *loss);

/* Features h (n, 4w) of the base trunk without augmentation, batch norm
   in eval mode, in chunks of up to B images.  out is the caller's. */
int bst_moco_features(bst_moco *s, const float *images, int64_t n, float *out);

#endif /* BS_VISION_MOCO_H */
