/*
 * mvgrl.h — MVGRL for graph classification (Hassani & Khasahmadi 2020), as
 * its reference (kavehhassani/mvgrl, graph/train.py) builds it, on the
 * engine's dense GCN layers (train/gcn.h):
 *
 *   two GCN encoders of L layers (hidden h): gnn1 on the normalised
 *   adjacency D^-1/2 (A + I) D^-1/2, gnn2 on the PPR diffusion
 *   S = alpha (I - (1 - alpha) A~)^-1 (alpha 0.2);
 *   node (local) representation: the last layer's output through the shared
 *   head mlp1 (MLP(h, h)); graph (global) representation: every layer's
 *   per-graph sum, concatenated (L h), through the shared head mlp2
 *   (MLP(L h, h));
 *   loss = JSD(local of view 1, global of view 2) + JSD(local of view 2,
 *   global of view 1), the reference's local_global_loss_ with measure
 *   'JSD': the positive pair is a node with its own graph's summary, the
 *   negatives are the node with every OTHER graph of the batch (so the
 *   batch is what decides the negatives);
 *   Adam (no weight decay);
 *   embedding for evaluation: global(view 1) + global(view 2), the
 *   reference's embed() (after the heads).
 *
 * Differences from the reference (docs/graphs.md, "MVGRL"): graphs are not
 * padded to the largest one, so padding nodes neither enter the sums nor
 * act as negatives, and the JSD averages over real nodes only.
 *
 * Thread safety: one thread at a time per model; results are bitwise the
 * same for any OpenMP thread count.  Errors: BST_ERR_* with a one-line
 * message where a msg buffer is taken.
 */
#ifndef BSG_GRAPHS_MVGRL_H
#define BSG_GRAPHS_MVGRL_H

#include <stddef.h>
#include <stdint.h>

#include "gbatch.h"
#include "gcn.h"
#include "tu.h"

/* Node features.  The reference (graph/dataset.py, process()) gives a
   node its continuous attributes when the data set has them (TU's
   PROTEINS, ENZYMES: our GIN-format copies carry none), else the one-hot
   of its node label (width max label + 1) followed by the one-hot of its
   degree (width max degree over the data set + 1, no cap), or the degree
   one-hot alone for a set without node labels (IMDB-B, IMDB-M). */
typedef enum {
    BSG_MVGRL_FEAT_AUTO = 0,    /* the reference's choice: tags+degree when the
                                file has > 1 distinct tag, else degree */
    BSG_MVGRL_FEAT_TAGS,        /* as data/tu.h loads them: one-hot tags, or
                                for a file with one distinct tag the capped
                                degree (the default before issue 9) */
    BSG_MVGRL_FEAT_DEGREE,      /* one-hot degree, max degree + 1 slots */
    BSG_MVGRL_FEAT_TAGS_DEGREE, /* one-hot tag (T slots) then one-hot
                                   degree (max degree + 1 slots): two ones
                                   per row */
    BSG_MVGRL_FEAT_COUNT
} bsg_mvgrl_feat;

/* "auto", "tags", "degree", "tags+degree"; NULL for a bad kind. */
const char *bsg_mvgrl_feat_name(bsg_mvgrl_feat k);
/* 0 and *k set, or -1 for an unknown name. */
int bsg_mvgrl_feat_parse(const char *s, bsg_mvgrl_feat *k);
/* What k means on d as loaded (auto resolved; never AUTO). */
bsg_mvgrl_feat bsg_mvgrl_feat_resolve(const bst_tu *d, bsg_mvgrl_feat k);

typedef struct {
    int hidden;   /* h (reference 512) */
    int layers;   /* L (reference 4) */
    double alpha; /* PPR teleport (0.2) */
    int batch;    /* B >= 2 graphs a step; 0: min(64, N), the reference's 64 */
    double lr;    /* Adam, constant (reference 0.001) */
    uint64_t seed;
    bsg_mvgrl_feat features; /* auto */
} bsg_mvgrl_cfg;

/* h 128, L 4, alpha 0.2, B 0 (min(64, N)), lr 0.001, seed 0, features
   auto (docs/graphs.md, "MVGRL", says why h is 128 and not 512) */
void bsg_mvgrl_cfg_default(bsg_mvgrl_cfg *c);

/* Both views' operators for every graph of a data set, computed once, and
   the second hot slot of two-hot node features. */
typedef struct {
    int64_t graphs;
    int64_t *mat_off; /* (graphs + 1): graph g's n_g x n_g matrices start
                         at adj + mat_off[g] and ppr + mat_off[g] */
    float *adj, *ppr;
    int32_t *feat2; /* (nodes) or NULL: node v's row of the feature matrix
                       has a second 1 at feat2[v] (bsg_mvgrl_features) */
} bsg_mvgrl_ops;

/* OpenMP over graphs.  BST_ERR_NOMEM, or BST_ERR_INVAL for an alpha
   outside (0, 1] or a graph whose diffusion system is not positive
   definite (an asymmetric adjacency). */
int bsg_mvgrl_ops_build(bsg_mvgrl_ops *o, const bst_tu *d, double alpha,
                        char *msg, size_t cap);
void bsg_mvgrl_ops_free(bsg_mvgrl_ops *o);

/* Node features of kind k for d, whose operators o were built by
   bsg_mvgrl_ops_build: rewrites d->feat_idx, d->feat and
   d->degree_features, and for tags+degree sets o->feat2 (owned by o): the
   model's input is then the one-hot of d->feat_idx plus, where o->feat2
   is set, a 1 at o->feat2.  Call once, on d as loaded.  BST_OK,
   BST_ERR_INVAL (bad kind, NULL, or a degree one-hot wider than 2^30) or
   BST_ERR_NOMEM. */
int bsg_mvgrl_features(bst_tu *d, bsg_mvgrl_ops *o, bsg_mvgrl_feat k, char *msg,
                       size_t cap);

/* The local-global JSD of one direction: l (N, d) node representations,
   g (G, d) graph representations, node_off (G + 1) which nodes are whose.
   res = l g^T; loss = mean over the N (G - 1) negatives of
   softplus(-r) + r - log 2 minus mean over the N positives of
   log 2 - softplus(-r).  G >= 2.  dl (N, d), dg (G, d) written when
   non-NULL (both or neither); work: N G floats. */
void bsg_mvgrl_jsd(const float *l, const float *g, const int64_t *node_off,
                   int G, int d, double *loss, float *dl, float *dg,
                   float *work);

typedef struct bsg_mvgrl bsg_mvgrl;

/* in: the data set's feature width. */
int bsg_mvgrl_new(const bsg_mvgrl_cfg *cfg, int in, bsg_mvgrl **out);
void bsg_mvgrl_free(bsg_mvgrl *m);
/* The parameter list (values, gradients), in a fixed order. */
int bsg_mvgrl_params(bsg_mvgrl *m, bst_param **ps);
/* Total parameter floats. */
size_t bsg_mvgrl_param_floats(bsg_mvgrl *m);
/* The Adam optimiser's state (m, v, t) for checkpoints. */
bst_adamw *bsg_mvgrl_opt(bsg_mvgrl *m);

/* One Adam step at learning rate lr on graphs ids[0..count) of d (count >=
   2).  Writes the loss, and when emb is non-NULL the batch's embeddings
   (count, h) (global view 1 + global view 2 of this forward, before the
   update).  BST_ERR_INVAL for a non-finite loss or bad ids. */
int bsg_mvgrl_step(bsg_mvgrl *m, const bst_tu *d, const bsg_mvgrl_ops *ops,
                   const int64_t *ids, int64_t count, double lr, double *loss,
                   float *emb, char *msg, size_t cap);
/* Embeddings (d->graphs, h) of every graph, in chunks of `chunk`
   graphs. */
int bsg_mvgrl_embed(bsg_mvgrl *m, const bst_tu *d, const bsg_mvgrl_ops *ops,
                    int64_t chunk, float *out, char *msg, size_t cap);
/* The loss of the current parameters on a batch, without a step; with grad
   the parameter list's gradients are zeroed and then hold dloss/dparam
   (tests). */
int bsg_mvgrl_loss(bsg_mvgrl *m, const bst_tu *d, const bsg_mvgrl_ops *ops,
                   const int64_t *ids, int64_t count, int grad, double *loss,
                   char *msg, size_t cap);

#endif /* BSG_GRAPHS_MVGRL_H */
