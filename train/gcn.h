/*
 * gcn.h — dense graph convolution for batches of small graphs, as MVGRL's
 * graph-classification reference (kavehhassani/mvgrl, graph/train.py and
 * utils.py) builds it:
 *
 *   GCNLayer(in, out):   y = PReLU(op @ (x W^T) + b)      (op per graph)
 *   op, adjacency view:  D^-1/2 (A + I) D^-1/2, D the degrees of A + I
 *   op, diffusion view:  S = alpha (I - (1 - alpha) D^-1/2 (A + I) D^-1/2)^-1
 *                        (personalized PageRank, alpha 0.2; compute_ppr
 *                        with self_loop=True, as the reference)
 *   MLP(in, out):        PReLU(L3 PReLU(L2 PReLU(L1 x))) + Ls x
 *
 * plus per-graph sum pooling (GCN.forward's torch.sum over the nodes).
 *
 * A batch is its graphs' nodes stacked (node_off, batch-local) and one
 * dense n_g x n_g operator per graph (bst_gblock), pointing into matrices
 * computed once per data set (bst_gcn_norm_adj, bst_gcn_ppr): no
 * N x N matrix is ever formed.  The reference pads every graph to the
 * largest one; here the padding nodes simply do not exist (see
 * docs/graphs.md, "MVGRL", for what that changes).
 *
 * Conventions are engine.h's: caller-owned activations, backward
 * accumulates parameter gradients and overwrites dx, results bitwise
 * identical for any thread count (GEMMs through bst_sgemm on fixed
 * chunks; per-graph products one graph per OpenMP iteration; parameter
 * gradient reductions in a fixed order).
 */
#ifndef BS_TRAIN_GCN_H
#define BS_TRAIN_GCN_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ------------------------------------------------------------ operators */
/* One graph's operators from its CSR adjacency: n nodes, neighbours of
   node v at adj[adj_off[v] - adj_off[0] ..] as local ids 0..n-1 (the
   TU reader's layout; entries must be in range, without self loops;
   symmetric for the PPR to be symmetric).  out (n, n) row-major. */
void bst_gcn_norm_adj(int n, const int64_t *adj_off, const int32_t *adj,
                      float *out);
/* alpha in (0, 1].  The system I - (1 - alpha) A~ is symmetric positive
   definite (A~'s eigenvalues lie in (-1, 1]), so it is inverted by a
   Cholesky factorisation in double (plain loops, O(n^3); no LAPACK:
   deterministic and dependency-free; 0.3 s for n = 620).  work: 2 n n
   doubles.  Returns BST_OK or BST_ERR_INVAL (not positive definite: an
   asymmetric adjacency). */
int bst_gcn_ppr(int n, const int64_t *adj_off, const int32_t *adj, double alpha,
                float *out, double *work);

/* A batch as the dense layers see it. */
typedef struct {
    int graphs;
    const int64_t *node_off; /* (graphs + 1), node_off[0] = 0 */
    const float *const *op;  /* (graphs): graph g's (n_g, n_g) operator */
} bst_gblock;

/* ---------------------------------------------------------------- PReLU */
/* nn.PReLU(): one slope a shared by every element, initialised to 0.25.
   y = x (x > 0), a x otherwise.  da accumulates sum over x <= 0 of dy x
   (in double, serially: a fixed order). */
typedef struct {
    float a, da;
} bst_prelu;

void bst_prelu_init(bst_prelu *p);
int bst_prelu_params(bst_prelu *p, bst_param out[1]); /* no decay */
void bst_prelu_forward(const bst_prelu *p, const float *x, float *y, size_t n);
/* dx may alias dy; x is the forward input. */
void bst_prelu_backward(bst_prelu *p, const float *x, const float *dy,
                        float *dx, size_t n);

/* ------------------------------------------------------------------ GCN */
typedef struct {
    int in, out;
    bst_linear fc; /* W (out, in), no bias: nn.Linear(in, out, bias=False) */
    float *b, *db; /* (out), added after the operator, initialised to 0 */
    bst_prelu act;
} bst_gcn;

int bst_gcn_init(bst_gcn *l, int in, int out);
void bst_gcn_free(bst_gcn *l);
/* W ~ Xavier uniform U(-sqrt(6 / (in + out)), +), b = 0, a = 0.25. */
void bst_gcn_reset(bst_gcn *l, uint64_t seed, uint64_t index);
int bst_gcn_params(bst_gcn *l, bst_param out[3]); /* W, b, a */
/* x (N, in) -> y (N, out), N = node_off[graphs].  Keeps z (N, out), the
   pre-activation op (x W^T) + b, for the backward; xw (N, out) is
   scratch. */
void bst_gcn_forward(const bst_gcn *l, const bst_gblock *g, const float *x,
                     float *xw, float *z, float *y);
/* dy (N, out) -> dx (N, in) (may be NULL).  z from the forward; work
   (2 N out floats) is scratch. */
void bst_gcn_backward(bst_gcn *l, const bst_gblock *g, const float *x,
                      const float *z, const float *dy, float *dx, float *work);

/* ---------------------------------------------------------- sum pooling */
/* y[g, 0..d) = sum of x's rows of graph g; y has row stride ldy (so the
   layers' pooled outputs can be concatenated: pass y + l d, ldy = L d). */
void bst_graph_sum_pool_forward(const bst_gblock *g, const float *x, int d,
                                float *y, int ldy);
/* dx[i] (+)= dy[graph of i]: accumulate = 1 adds to dx (the pooled layer
   output also feeds the next layer), 0 overwrites. */
void bst_graph_sum_pool_backward(const bst_gblock *g, const float *dy, int ldy,
                                 int d, float *dx, int accumulate);

/* ------------------------------------------------------------------ MLP */
/* The reference's MLP: Linear-PReLU x 3 plus a linear shortcut, every
   Linear with bias, torch's default init (U(-1/sqrt(in), +) for W and
   b). */
typedef struct {
    int in, out;
    bst_linear l[3], sc;
    bst_prelu a[3];
} bst_mlp;

int bst_mlp_init(bst_mlp *m, int in, int out);
void bst_mlp_free(bst_mlp *m);
void bst_mlp_reset(bst_mlp *m, uint64_t seed, uint64_t index);
int bst_mlp_param_count(void); /* 11 */
int bst_mlp_params(bst_mlp *m, bst_param out[11]);
/* Floats of the activation record one forward of B rows keeps for its
   backward: 5 B out. */
size_t bst_mlp_act_floats(const bst_mlp *m, int B);
/* x (B, in) -> y (B, out); act (bst_mlp_act_floats) keeps the
   intermediate tensors. */
void bst_mlp_forward(const bst_mlp *m, const float *x, float *y, float *act,
                     int B);
/* dy (B, out) -> dx (B, in) (may be NULL).  act from the forward of this x;
   work: 2 B max(in, out) floats. */
void bst_mlp_backward(bst_mlp *m, const float *x, const float *act,
                      const float *dy, float *dx, float *work, int B);

/* Fills w (n) with U(-bound, bound) from stream (seed, index). */
void bst_uniform_init(float *w, size_t n, float bound, uint64_t seed,
                      uint64_t index);

#endif /* BS_TRAIN_GCN_H */
