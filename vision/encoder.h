/*
 * encoder.h — the SimCLR encoder for 28 x 28 grayscale images: a small
 * ResNet (CIFAR-style stem, three basic blocks) and the projection head,
 * built from the engine's layers (engine.h), with one forward and one
 * backward over the whole network.
 *
 *   x (N,1,28,28)
 *   stem    conv3x3 1->w, BN, ReLU, maxpool 2          -> (N, w,14,14)
 *           (BN-ReLU-pool fused: the 28x28 BN output is never stored)
 *   block1  basic block w->w, stride 1                 -> (N, w,14,14)
 *   block2  basic block w->2w, stride 2 (1x1 s2 + BN)  -> (N,2w, 7, 7)
 *   block3  basic block 2w->4w, stride 2               -> (N,4w, 4, 4)
 *   GAP                                                -> h (N, 4w)  feature
 *   head    linear 4w->P (no bias), BN1d, ReLU, linear P->D, L2 norm
 *                                                      -> z (N, D)
 *
 * A basic block is conv3x3(s)-BN-ReLU-conv3x3-BN, plus the input (or
 * conv1x1(s)-BN of it when the shape changes), then ReLU.  Convolutions have
 * no bias (BN follows each).  The feature h is what the evaluation uses (as
 * in SimCLR); z is what the loss and the BatchSampler proximity graph see.
 *
 * Ownership: bst_encoder owns its layers; bst_encoder_acts owns activation
 * and gradient buffers sized for up to max_n images.  Thread safety: an
 * encoder or an acts may not be used from two threads at once; the calls
 * parallelise internally (OpenMP, OpenBLAS) and are bitwise identical for
 * any thread count.  Errors: BST_OK, BST_ERR_INVAL (bad config or N out of
 * range), BST_ERR_NOMEM.
 */
#ifndef BS_TRAIN_ENCODER_H
#define BS_TRAIN_ENCODER_H

#include "engine.h"

typedef struct {
    int width;    /* w: channels of the first stage (>= 1) */
    int proj_dim; /* P: projection hidden width (>= 1) */
    int out_dim;  /* D: embedding width (>= 1) */
} bst_encoder_cfg;

/* w = 16 (64-d feature), P = 64, D = 128. */
void bst_encoder_cfg_default(bst_encoder_cfg *cfg);
/* BST_OK or BST_ERR_INVAL (NULL, a width < 1 or > 4096). */
int bst_encoder_cfg_check(const bst_encoder_cfg *cfg);

typedef struct {
    int cin, cout, stride, down; /* down: 1x1 conv + BN shortcut */
    bst_conv2d c1, c2, cs;
    bst_batchnorm b1, b2, bs;
} bst_block;

enum { BST_ENCODER_MAX_PARAMS = 32, BST_ENCODER_BNS = 10 };

typedef struct {
    bst_encoder_cfg cfg;
    bst_conv2d stem;
    bst_batchnorm stem_bn;
    bst_block blk[3];
    bst_linear fc1, fc2;
    bst_batchnorm head_bn;
    /* the parameter list for the optimiser, in a fixed order */
    bst_param params[BST_ENCODER_MAX_PARAMS];
    int nparams;
    /* every batch norm, in a fixed order (checkpoints save their running
       statistics) */
    bst_batchnorm *bns[BST_ENCODER_BNS];
    int nbns;
} bst_encoder;

/* Per-block activations (forward) and gradient scratch (backward). */
typedef struct {
    float *c1, *r1, *c2, *b2, *cs, *bs, *y;  /* forward */
    float *dy, *dc2, *dr1, *dc1, *dcs, *dx2; /* backward */
} bst_block_acts;

typedef struct {
    int max_n;
    float *c0, *p0; /* stem: conv out (N,w,28,28), BN-ReLU-pooled (N,w,14,14) */
    uint8_t *arg0;  /* (N,w,14,14) each pool window's argmax (0..3) */
    bst_block_acts blk[3];
    float *h;      /* (N, 4w) feature */
    float *f1, *r; /* (N, P) head hidden before / after BN+ReLU */
    float *f2, *z; /* (N, D) before / after L2 norm */
    float *dh, *dr, *df1, *df2, *dp0, *dc0; /* backward scratch */
} bst_encoder_acts;

/* Builds the encoder with Kaiming-normal weights from (seed, layer index);
   BN gamma 1, beta 0.  On error the struct is left zeroed. */
int bst_encoder_init(bst_encoder *e, const bst_encoder_cfg *cfg, uint64_t seed);
void bst_encoder_free(bst_encoder *e); /* safe on a zeroed struct */
/* Total number of trainable floats. */
size_t bst_encoder_param_count(const bst_encoder *e);
/* Feature width 4w. */
int bst_encoder_feat_dim(const bst_encoder_cfg *cfg);

int bst_encoder_acts_init(bst_encoder_acts *a, const bst_encoder_cfg *cfg,
                          int max_n);
void bst_encoder_acts_free(bst_encoder_acts *a); /* safe on zeroed */

/* x (N,1,28,28), 1 <= N <= max_n (N >= 2 in train mode: batch norm).
   Fills a->h (N, 4w) and, if head != 0, a->z (N, D).  train: batch norm
   uses batch statistics and updates the running ones; otherwise the
   running statistics. */
int bst_encoder_forward(bst_encoder *e, bst_encoder_acts *a, const float *x,
                        int N, int train, int head);
/* After a train forward with the head on the same x and N: accumulates every
   parameter gradient from dz (N, D) = dloss/dz.  No input gradient. */
int bst_encoder_backward(bst_encoder *e, bst_encoder_acts *a, const float *x,
                         const float *dz, int N);
/* The trunk's part of bst_encoder_backward: after a train forward on the
   same x and N (head or not), accumulates the gradients of the stem and
   blocks from dh (N, 4w) = dloss/dh, for a caller with its own head
   (MoCo's projector).  dh may be a->dh.  BST_ERR_INVAL for N out of
   range or dh NULL. */
int bst_encoder_backward_feat(bst_encoder *e, bst_encoder_acts *a,
                              const float *x, const float *dh, int N);

#endif /* BS_TRAIN_ENCODER_H */
