/*
 * gin.h — graph layers of the engine over a batch of graphs (gbatch.h):
 * sparse sum aggregation, the GIN layer, per-graph sum pooling, column
 * concatenation, Xavier initialisation, and GraphCL's one-directional
 * contrastive loss.  Conventions as engine.h: the caller allocates
 * activations, backward accumulates parameter gradients and overwrites
 * input gradients, results are bitwise identical for any thread count.
 *
 * The GIN layer is GraphCL's (unsupervised_TU/gin.py, Encoder):
 *     agg = x_v + sum_{u in N(v)} x_u         (GINConv, eps = 0)
 *     y   = BN(ReLU(Linear2(ReLU(Linear1(agg)))))
 * N(v) is the batch's CSR row v (adj[adj_off[v] .. adj_off[v+1])); it need
 * not be symmetric (edge removal drops directed entries) and may hold v
 * itself (a self loop counts x_v once more, as PyG does).
 */
#ifndef BS_TRAIN_GIN_H
#define BS_TRAIN_GIN_H

#include "engine.h"
#include "gbatch.h"

/* ------------------------------------------------------- sum aggregation */
/* y_v = x_v + sum_{u in N(v)} x_u.  x, y (nodes, d); y may not alias x. */
void bst_gsum_aggregate_forward(const bst_gbatch *g, const float *x, float *y,
                                int d);
/* dx_u = dy_u + sum_{v : u in N(v)} dy_v (the transpose; per graph, edges
   in CSR order).  dy, dx (nodes, d); dx may not alias dy. */
void bst_gsum_aggregate_backward(const bst_gbatch *g, const float *dy,
                                 float *dx, int d);

/* ----------------------------------------------------- global add pool */
/* y[g * ldy + c] = sum_{v in graph g} x[v, c], c < d.  x (nodes, d), y
   (graphs, ldy) with ldy >= d (so pooled layers can land side by side). */
void bst_gsum_pool_forward(const bst_gbatch *g, const float *x, int d, float *y,
                           int ldy);
/* dx[v, c] = dy[graph(v) * ldy + c]. */
void bst_gsum_pool_backward(const bst_gbatch *g, const float *dy, int ldy,
                            float *dx, int d);

/* ------------------------------------------------------------- concat */
/* y (rows, sum w) = [x_0 | x_1 | ...], x_i (rows, w[i]). */
void bst_concat_forward(const float *const *xs, const int *w, int k,
                        int64_t rows, float *y);
/* dx_i = the columns of dy that x_i filled. */
void bst_concat_backward(const float *dy, const int *w, int k, int64_t rows,
                         float *const *dxs);

/* ------------------------------------------------------------ GIN layer */
typedef struct {
    int in, dim;
    bst_linear l1, l2; /* (in -> dim), (dim -> dim), with bias */
    bst_batchnorm bn;  /* BatchNorm1d(dim) */
} bst_gin_layer;

/* One layer's activations for a batch of `cap` nodes (grow-only). */
typedef struct {
    int64_t cap;
    float *agg;     /* (nodes, in) */
    float *h1, *h2; /* (nodes, dim): Linear1 out (ReLU in place), Linear2 out */
    float *r;       /* (nodes, dim): ReLU(h2), the BN's input */
    float *y;       /* (nodes, dim): the layer's output */
    float *dh, *dagg; /* backward scratch: (nodes, dim), (nodes, in) */
    double *bn_mean, *bn_invstd; /* (dim): this forward's BN statistics */
} bst_gin_acts;

int bst_gin_layer_init(bst_gin_layer *l, int in, int dim);
void bst_gin_layer_free(bst_gin_layer *l);
/* Xavier-uniform weights (as GraphCL's init_emb), zero biases, BN 1 / 0. */
void bst_gin_layer_reset(bst_gin_layer *l, uint64_t seed, uint64_t index);
/* l1 W, b, l2 W, b, BN gamma, beta; returns 6. */
int bst_gin_layer_params(bst_gin_layer *l, bst_param out[6]);

/* Makes room for `nodes` nodes.  BST_OK or BST_ERR_NOMEM. */
int bst_gin_acts_reserve(bst_gin_acts *a, const bst_gin_layer *l,
                         int64_t nodes);
void bst_gin_acts_free(bst_gin_acts *a);

/* x (nodes, in) -> a->y (nodes, dim).  The BN statistics of this forward
   are kept in `a`, so several forwards (views) may precede their
   backwards. */
void bst_gin_layer_forward(bst_gin_layer *l, const bst_gbatch *g,
                           const float *x, bst_gin_acts *a, int train);
/* dy (nodes, dim) -> dx (nodes, in; NULL: not wanted); parameter
   gradients accumulate.  dy is overwritten (scratch).  Same mode as the
   forward that filled a. */
void bst_gin_layer_backward(bst_gin_layer *l, const bst_gbatch *g,
                            const float *x, bst_gin_acts *a, float *dy,
                            float *dx, int train);

/* ------------------------------------------------------- GIN encoder */
/* GraphCL's Encoder: `layers` GIN layers (in -> dim, then dim -> dim);
   every layer's output summed per graph, concatenated: emb (graphs,
   layers * dim). */
enum { BST_GIN_MAX_LAYERS = 8 };

typedef struct {
    int in, dim, layers;
    bst_gin_layer l[BST_GIN_MAX_LAYERS];
} bst_gin_encoder;

/* One forward's activations (one per view); grow-only. */
typedef struct {
    bst_gin_acts a[BST_GIN_MAX_LAYERS];
    float *emb;          /* (graphs, layers * dim) */
    float *dcur, *dnext; /* backward scratch (nodes, dim) */
    int64_t graphs_cap, nodes_cap;
} bst_gin_enc_acts;

int bst_gin_encoder_init(bst_gin_encoder *e, int in, int dim, int layers);
void bst_gin_encoder_free(bst_gin_encoder *e);
/* Layer i: bst_gin_layer_reset(seed, index + i). */
void bst_gin_encoder_reset(bst_gin_encoder *e, uint64_t seed, uint64_t index);
/* 6 per layer, layer order; out holds 6 * layers.  Returns the count. */
int bst_gin_encoder_params(bst_gin_encoder *e, bst_param *out);
int bst_gin_encoder_emb_dim(const bst_gin_encoder *e);
void bst_gin_enc_acts_free(bst_gin_enc_acts *a);
/* x (nodes, in) -> a->emb.  BST_OK or BST_ERR_NOMEM (growing a). */
int bst_gin_encoder_forward(bst_gin_encoder *e, const bst_gbatch *g,
                            const float *x, bst_gin_enc_acts *a, int train);
/* demb (graphs, layers * dim) -> parameter gradients (accumulated); no
   input gradient.  After the forward that filled a, same mode. */
void bst_gin_encoder_backward(bst_gin_encoder *e, const bst_gbatch *g,
                              const float *x, bst_gin_enc_acts *a,
                              const float *demb, int train);

/* W ~ U(-b, b), b = sqrt(6 / (in + out)) (torch xavier_uniform_), bias 0. */
void bst_linear_xavier(bst_linear *l, uint64_t seed, uint64_t index);

/* ------------------------------------------------------- GraphCL loss */
/* GraphCL's loss_cal (unsupervised_TU/gsimclr.py): with
   s_ij = cos(x1_i, x2_j) / tau,
     loss = -mean_i log(e^{s_ii} / (sum_j e^{s_ij} - e^{s_ii})),
   the positive excluded from the denominator, anchors in view 1 only.
   x1, x2 (B, d) unnormalised, B >= 2.  dx1, dx2 (B, d) or NULL.  In
   double; BST_ERR_INVAL (tau <= 0, B < 2) or BST_ERR_NOMEM. */
int bst_graphcl_loss(const float *x1, const float *x2, int B, int d, double tau,
                     double *loss, float *dx1, float *dx2);

#endif /* BS_TRAIN_GIN_H */
