/*
 * graphcl.h — GraphCL (You et al. 2020; Shen-Lab/GraphCL, unsupervised_TU)
 * on the engine: the model (gsimclr.py's simclr: GIN encoder, 3 layers of
 * hidden 32 -> 96-d graph embedding, projection head Linear(96, 96)-ReLU-
 * Linear(96, 96), Xavier-uniform Linear weights, zero biases), one
 * training step and eval-mode embeddings.
 *
 * A step takes B graph ids, builds the original view and one augmented
 * view (augment.h, keyed by (seed, step, id)), runs each through the model
 * separately in train mode (so batch norm normalises each view by its own
 * statistics and updates the running ones twice, as the reference's two
 * forward calls do), the loss, backward, and one AdamW step (weight decay
 * 0 by default: Adam, as the reference).  Losses:
 *   graphcl   loss_cal: cosine / tau, positive excluded from the
 *             denominator, anchors from the original view (gin.h);
 *   infonce / dcl / hcl
 *             the engine's bst_contrastive_loss on the L2-normalised head
 *             outputs of the two views (2B anchors).
 * After a step, z[0] holds the original view's head outputs (B, 96).
 * A view whose graphs all lost every node (augment.h) skips the encoder:
 * its graphs pool to zeros, batch norm is not run (nor updated).
 *
 * Ownership: the model owns everything but the data set.  Thread safety:
 * one model per thread; results are bitwise identical for any thread
 * count.  Errors: BST_OK or BST_ERR_* with a one-line message.
 */
#ifndef BS_GRAPHS_GRAPHCL_H
#define BS_GRAPHS_GRAPHCL_H

#include "augment.h"
#include "engine.h"
#include "gin.h"

typedef enum {
    BSG_LOSS_GRAPHCL = 0,
    BSG_LOSS_INFONCE,
    BSG_LOSS_DCL,
    BSG_LOSS_HCL
} bsg_loss_kind;

typedef struct {
    int hidden, layers;    /* 32, 3 */
    bsg_loss_kind loss;    /* graphcl */
    double tau;            /* 0.2 */
    double tau_plus, beta; /* dcl / hcl: 0.1, 1.0 */
    bsg_aug_kind aug;      /* the second view: random2 */
    int batch;             /* B >= 2: 128 */
    double weight_decay;   /* 0 */
    uint64_t seed;         /* initialisation and augmentation */
} bsg_graphcl_cfg;

typedef struct {
    bst_gbatch v;         /* the view's graphs */
    bst_gin_enc_acts a;   /* encoder activations */
    float *h, *z;         /* (B, E): head hidden (after ReLU), output */
    float *zn, *dzn, *dz; /* (B, E): unit rows, their gradient, dz */
    float *dh, *demb;     /* (B, E) */
} bsg_view;

typedef struct {
    bsg_graphcl_cfg cfg;
    int in, emb; /* input features, embedding width (96) */
    bst_gin_encoder enc;
    bst_linear h1, h2;
    bst_param params[6 * BST_GIN_MAX_LAYERS + 4];
    int nparams;
    bst_adamw opt;
    bsg_view view[2]; /* 0 original, 1 augmented */
    long step;
} bsg_graphcl;

/* hidden 32, 3 layers, graphcl loss at tau 0.2, random2, B 128, wd 0. */
void bsg_graphcl_cfg_default(bsg_graphcl_cfg *c);
const char *bsg_loss_name(bsg_loss_kind k);          /* NULL for a bad kind */
int bsg_loss_parse(const char *s, bsg_loss_kind *k); /* 0, or -1 */

/* A model for in-feature graphs.  BST_ERR_INVAL / BST_ERR_NOMEM. */
int bsg_graphcl_init(bsg_graphcl *m, const bsg_graphcl_cfg *cfg, int in,
                     char *msg, size_t cap);
void bsg_graphcl_free(bsg_graphcl *m); /* safe on a zeroed struct */
/* Parameter floats and batch-norm running statistics (2 per channel). */
size_t bsg_graphcl_param_count(const bsg_graphcl *m);

/* One step on graphs ids (cfg.batch of them) of d at learning rate lr. */
int bsg_graphcl_step(bsg_graphcl *m, const bst_tu *d, const int64_t *ids,
                     double lr, double *loss, char *msg, size_t cap);

/* The encoder's embeddings (d->graphs, emb) of every graph of d, original
   view, eval-mode batch norm, in chunks of cfg.batch graphs. */
int bsg_graphcl_embed(bsg_graphcl *m, const bst_tu *d, float *out, char *msg,
                      size_t cap);

#endif /* BS_GRAPHS_GRAPHCL_H */
