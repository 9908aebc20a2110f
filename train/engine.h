/*
 * engine.h — a small training engine for the reference contrastive trainers
 * (llm.c style: every layer is a struct of parameters and gradients plus a
 * pair of plain-loop *_forward / *_backward functions).
 *
 * Conventions (they hold for every function below unless it says otherwise)
 *
 *  - Tensors are plain row-major float arrays; shapes are written in the
 *    comments as (N, C, H, W) etc.  Images are NCHW.
 *  - The caller owns and allocates every activation and activation-gradient
 *    array.  A layer struct owns its parameters, their gradients and the small
 *    per-channel caches it needs (batch norm); *_init allocates them (zeroed
 *    gradients) and *_free releases them (safe on a zeroed or freed struct).
 *  - Backward functions ACCUMULATE parameter gradients (dW += ...), so call
 *    bst_zero_grads once per step, and OVERWRITE the input gradient dx.  Where
 *    a tensor feeds two branches (residual), add the branch gradients with
 *    bst_add_inplace.  dx may be NULL where the input needs no gradient.
 *  - Backward takes the same forward input x (and sometimes output y) the
 *    forward saw; nothing else is cached.  The exception is batch norm in
 *    train mode, which keeps the last forward's batch statistics: run its
 *    backward before the next train forward of the same struct.
 *  - Functions returning int return BST_OK or BST_ERR_NOMEM (workspace
 *    allocation failed; outputs then undefined) / BST_ERR_INVAL (bad
 *    arguments); the file readers also return BST_ERR_IO / BST_ERR_FORMAT
 *    and can write a one-line message into a caller's buffer.  void
 *    functions cannot fail (arguments are the caller's contract, checked
 *    with assert in debug builds).
 *  - Thread safety: functions are reentrant (no global state); a layer struct
 *    may not be used from two threads at once.  Internally they parallelise
 *    with OpenMP and OpenBLAS; results are bitwise identical for any number
 *    of threads (no floating-point atomics; reductions run in a fixed order).
 *  - Randomness (initialisation, dropout, augmentation) is a pure function
 *    of (seed, index) through bs_rng_derive (src/rng.h).
 */
#ifndef BS_TRAIN_ENGINE_H
#define BS_TRAIN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* The return codes, shared with the data readers (data/status.h), and the
   Fashion-MNIST reader the SimCLR run loads its data with (data/idx.h). */
#include "idx.h"
#include "status.h"

/* bs_rng_derive purposes used by the engine (distinct from the library's). */
enum {
    BST_STREAM_INIT = 0x7401,
    BST_STREAM_DROPOUT = 0x7402,
    BST_STREAM_AUGMENT = 0x7403
};

/* Writes the printf-style one-line message into msg (at most cap bytes,
   NUL-terminated; nothing when msg is NULL or cap is 0) and returns code:
   how every engine function reports an error. */
int bst_fail(char *msg, size_t cap, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Seconds on a monotonic clock (for the trainers' timings). */
double bst_now(void);

/* One parameter tensor and its gradient, as seen by the optimiser. */
typedef struct {
    float *w; /* (n) values */
    float *g; /* (n) gradient */
    size_t n;
    int decay; /* 1: AdamW applies weight decay (weights); 0: not (bias, BN) */
} bst_param;

/* g = 0 for every parameter. */
void bst_zero_grads(const bst_param *ps, int np);

/* ------------------------------------------------------------------ linear */
/* y = x W^T + b, as torch.nn.Linear. */
typedef struct {
    int in, out;
    float *W, *dW; /* (out, in) */
    float *b, *db; /* (out), NULL without bias */
} bst_linear;

int bst_linear_init(bst_linear *l, int in, int out, int bias);
void bst_linear_free(bst_linear *l);
/* W ~ Kaiming normal (fan_in = in, ReLU gain), b = 0; stream (seed, index). */
void bst_linear_reset(bst_linear *l, uint64_t seed, uint64_t index);
int bst_linear_params(bst_linear *l, bst_param out[2]); /* returns count */
/* x (B, in) -> y (B, out) */
void bst_linear_forward(const bst_linear *l, const float *x, float *y, int B);
/* dW += dy^T x, db += sum_b dy, dx = dy W.  x (B, in), dy (B, out), dx (B, in)
 */
void bst_linear_backward(bst_linear *l, const float *x, const float *dy,
                         float *dx, int B);

/* ------------------------------------------------------------------ conv2d */
/* torch.nn.Conv2d with square kernel k, stride, zero padding; NCHW. */
typedef struct {
    int cin, cout, k, stride, pad;
    float *W, *dW; /* (cout, cin, k, k) */
    float *b, *db; /* (cout), NULL without bias */
    /* scratch kept between calls (grow-only): im2col columns and the
       weight-gradient partials; allocating them per call cost page faults
       and TLB shootdowns worth ~5% of a training step */
    float *ws;
    size_t ws_cap; /* floats */
    void *dnnl;    /* oneDNN primitives (conv2d_dnnl.h), or NULL */
} bst_conv2d;

int bst_conv2d_init(bst_conv2d *c, int cin, int cout, int k, int stride,
                    int pad, int bias);
void bst_conv2d_free(bst_conv2d *c);
/* W ~ Kaiming normal (fan_in = cin k k, ReLU gain), b = 0. */
void bst_conv2d_reset(bst_conv2d *c, uint64_t seed, uint64_t index);
int bst_conv2d_params(bst_conv2d *c, bst_param out[2]);
/* Output side: (in + 2 pad - k) / stride + 1 (floor, as torch). */
int bst_conv2d_out(int in, int k, int stride, int pad);
/* x (N, cin, H, W) -> y (N, cout, Ho, Wo).  im2col + sgemm per sample,
   OpenMP over the batch. */
int bst_conv2d_forward(bst_conv2d *c, const float *x, float *y, int N, int H,
                       int W);
/* dW += sum_n dy_n col(x_n)^T, db += sum dy, dx = col2im(W^T dy_n), on
   chunks of consecutive samples (one im2col matrix and two GEMMs a chunk;
   the chunk size from the layer's output size alone); dW summed per part
   of the batch (min(N, 8) parts fixed by N alone, chunk after chunk inside
   a part, parts in order), so the result does not depend on the thread
   count.  x, dx (N, cin, H, W); dy (N, cout, Ho, Wo). */
int bst_conv2d_backward(bst_conv2d *c, const float *x, const float *dy,
                        float *dx, int N, int H, int W);

/* --------------------------------------------------------------- batchnorm */
/* Sums buf[0..n) in place over the processes of a data-parallel run (an
   all-reduce), so that every process ends with the same totals. */
typedef void (*bst_sum_fn)(void *ctx, double *buf, size_t n);

/* torch.nn.BatchNorm1d/2d over x (N, C, S) with S = H*W (S = 1 for (N, C)).
   Train mode normalises with the batch mean and biased variance and updates
   running_mean/var (unbiased variance) with `momentum` (torch default 0.1);
   eval mode uses the running statistics.  Synchronised batch norm: with
   `sum` set (NULL after init), train mode passes the per-channel sums of
   the forward (count, sum x, sum (x - mean)^2) and backward (sum g,
   sum g xhat) through it, so that the statistics are those of the global
   batch over every process; dgamma and dbeta get this process's share only
   (the caller sums parameter gradients across processes).  The engine
   itself never communicates. */
typedef struct {
    int C;
    float momentum, eps;
    float *gamma, *dgamma, *beta, *dbeta; /* (C) */
    float *running_mean, *running_var;    /* (C), init 0 and 1 */
    /* (C) statistics of the last train forward, kept in double: with a
       small batch the variance can be tiny next to the mean, and a mean
       rounded to float would leave sum(x - mean) visibly nonzero */
    double *mean, *invstd;
    bst_sum_fn sum; /* NULL: this batch only (the default) */
    void *sum_ctx;
    double *red;  /* (4C) scratch of the channel sums */
    double count; /* N*S of the last train forward, over every process */
} bst_batchnorm;

int bst_batchnorm_init(bst_batchnorm *bn, int C); /* gamma 1, beta 0 */
void bst_batchnorm_free(bst_batchnorm *bn);
int bst_batchnorm_params(bst_batchnorm *bn, bst_param out[2]);
/* x (N, C, S) -> y (N, C, S).  y may alias x only if no backward follows
   (backward needs the input x). */
void bst_batchnorm_forward(bst_batchnorm *bn, const float *x, float *y, int N,
                           int S, int train);
/* Same mode as the forward just before.  dx (N, C, S). */
void bst_batchnorm_backward(bst_batchnorm *bn, const float *x, const float *dy,
                            float *dx, int N, int S, int train);

/* Batch norm followed by ReLU in one pass: y = max(BN(x), 0).  The
   backward takes that y (the ReLU's mask) and dy = dloss/dy, and gives
   dx as bst_relu_backward then bst_batchnorm_backward would, without the
   intermediate tensor; y may not alias x. */
void bst_batchnorm_relu_forward(bst_batchnorm *bn, const float *x, float *y,
                                int N, int S, int train);
void bst_batchnorm_relu_backward(bst_batchnorm *bn, const float *x,
                                 const float *y, const float *dy, float *dx,
                                 int N, int S, int train);

/* BN -> ReLU -> 2x2 max-pool (stride 2) in one pass each way, for a
   stem whose full-size normalised tensor is never needed: the forward
   writes the pooled p (N, C, H/2, W/2) and, per window, the position of
   its first maximum idx (0..3: (0,0), (0,1), (1,0), (1,1); strict >, as
   bst_maxpool_forward); the backward takes the pooled gradient dp and
   gives dx (N, C, H, W; may be NULL) as bst_maxpool_backward, ReLU and
   batch-norm backward would (up to rounding), without the full-size
   intermediate tensors (which cost ~15% of a training step in memory
   traffic).  H and W even. */
void bst_batchnorm_relu_pool2_forward(bst_batchnorm *bn, const float *x,
                                      float *p, uint8_t *idx, int N, int H,
                                      int W, int train);
void bst_batchnorm_relu_pool2_backward(bst_batchnorm *bn, const float *x,
                                       const float *p, const uint8_t *idx,
                                       const float *dp, float *dx, int N, int H,
                                       int W, int train);

/* -------------------------------------------------------------------- pool */
/* Max pooling, window k, stride s, no padding: x (N, C, H, W) ->
   y (N, C, (H-k)/s+1, (W-k)/s+1).  Ties go to the first maximum. */
void bst_maxpool_forward(const float *x, float *y, int N, int C, int H, int W,
                         int k, int s);
/* dx = dy routed to each window's argmax (recomputed from x). */
void bst_maxpool_backward(const float *x, const float *dy, float *dx, int N,
                          int C, int H, int W, int k, int s);
/* Global average pooling: x (N, C, S) -> y (N, C). */
void bst_gap_forward(const float *x, float *y, int N, int C, int S);
void bst_gap_backward(const float *dy, float *dx, int N, int C, int S);

/* ------------------------------------------------------------- activations */
/* y = max(x, 0); y may alias x.  x (n) */
void bst_relu_forward(const float *x, float *y, size_t n);
/* dx = dy where x > 0 else 0; `x` may be the forward input or its output
   (same sign); dx may alias dy. */
void bst_relu_backward(const float *x, const float *dy, float *dx, size_t n);

/* Inverted dropout: in train mode mask[i] = (u_i >= p) / (1 - p) with u_i
   from the stream (seed, step), y = x * mask; eval mode (or p == 0) copies.
   mask (n) is written in both modes (ones in eval). */
void bst_dropout_forward(const float *x, float *y, float *mask, size_t n,
                         float p, uint64_t seed, uint64_t step, int train);
void bst_dropout_backward(const float *mask, const float *dy, float *dx,
                          size_t n);

/* Residual add y = a + b (y may alias a or b).  Its backward is identity to
   both inputs: pass dy to both branches and join with bst_add_inplace. */
void bst_add(const float *a, const float *b, float *y, size_t n);
void bst_add_inplace(float *y, const float *x, size_t n); /* y += x */

/* Row-wise L2 normalisation y = x / max(||x||, 1e-12) (F.normalize).
   x, y (B, d); y may not alias x. */
void bst_l2norm_forward(const float *x, float *y, int B, int d);
/* dx = (dy - y (y . dy)) / ||x||. */
void bst_l2norm_backward(const float *x, const float *y, const float *dy,
                         float *dx, int B, int d);

/* ------------------------------------------------------------------- loss */
/* Contrastive losses over the 2B x 2B similarity matrix of two views
   (Chuang et al. 2020 / Robinson et al. 2021 estimators, computed in double):
   out = [z1; z2] (2B, d); anchor i's positive is its other view; the 2B - 2
   others are negatives, N = 2B - 2.
     infonce  Ng = sum neg
     dcl      Ng = max((-tau_plus N pos + sum neg) / (1 - tau_plus),
                       N e^{-1/tau})
     hcl      Ng as dcl with sum neg replaced by sum(imp neg) / mean(imp),
              imp = neg^beta
   loss = mean_i -log(pos_i / (pos_i + Ng_i)).  Gradients through the clamp
   are zero where it binds (as torch.clamp). */
typedef enum {
    BST_LOSS_INFONCE = 0,
    BST_LOSS_DCL = 1,
    BST_LOSS_HCL = 2
} bst_loss_kind;

typedef struct {
    bst_loss_kind kind;
    double tau;      /* temperature, > 0 */
    double tau_plus; /* class prior, [0, 1) (dcl, hcl) */
    double beta;     /* concentration (hcl) */
} bst_loss_cfg;

/* z1, z2 (B, d), normally L2-normalised, B >= 2.  Writes the loss to *loss;
   if dz1 and dz2 are non-NULL, writes dloss/dz1, dloss/dz2 (B, d).
   Returns BST_ERR_INVAL on bad config, BST_ERR_NOMEM on allocation failure. */
int bst_contrastive_loss(const bst_loss_cfg *cfg, const float *z1,
                         const float *z2, int B, int d, double *loss,
                         float *dz1, float *dz2);

/* The cross-view form (MoCo v3's ctr): anchors q (B, d) against keys
   k (B, d), similarities S = q k^T / tau (B x B); anchor i's positive is
   k_i and its N = B - 1 negatives the other keys (no in-view negatives);
   Ng as above with that N (infonce: cross-entropy over the row, labels
   0..B-1).  loss = mean_i -log(pos_i / (pos_i + Ng_i)); if dq is
   non-NULL, writes dloss/dq (B, d); k gets no gradient.  Rows run in
   parallel and are summed in order: bitwise the same for any thread
   count.  BST_ERR_INVAL on a bad config, B < 2, d < 1 or NULL inputs;
   BST_ERR_NOMEM. */
int bst_cross_contrastive_loss(const bst_loss_cfg *cfg, const float *q,
                               const float *k, int B, int d, double *loss,
                               float *dq);

/* ------------------------------------------------------------------ optim */
/* AdamW as torch.optim.AdamW (decoupled weight decay, bias-corrected):
   w -= lr wd w; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). */
typedef struct {
    double beta1, beta2, eps, weight_decay;
    long t;       /* steps taken */
    size_t n;     /* total parameter count */
    float *m, *v; /* (n) moments, parameters concatenated in list order */
} bst_adamw;

int bst_adamw_init(bst_adamw *o, const bst_param *ps, int np, double beta1,
                   double beta2, double eps, double weight_decay);
void bst_adamw_free(bst_adamw *o);
/* One step at learning rate lr over the same list given to init. */
void bst_adamw_step(bst_adamw *o, const bst_param *ps, int np, double lr);

/* Learning rate at 0-based `step`: linear warm-up base_lr (step+1)/warmup for
   step < warmup, then cosine from base_lr down to min_lr at step = total. */
double bst_lr_at(long step, long warmup, long total, double base_lr,
                 double min_lr);

/* Momentum (EMA) update of a copy: dst.w = m dst.w + (1 - m) src.w for
   every tensor of two lists of the same shapes (MoCo's momentum encoder;
   computed in double, rounded once).  Gradients are untouched. */
void bst_ema_update(const bst_param *dst, const bst_param *src, int np,
                    double m);

/* MoCo v3's momentum schedule at 0-based `step` of `total`: m = 1 - (1 -
   m0) (1 + cos(pi step / total)) / 2, from m0 at step 0 to 1 at total
   (1 when total <= 0 or step >= total). */
double bst_momentum_at(long step, long total, double m0);

/* w ~ N(0, 2 / fan_in) (Kaiming normal, ReLU gain) from stream (seed, index).
 */
void bst_kaiming_normal(float *w, size_t n, int fan_in, uint64_t seed,
                        uint64_t index);

#endif /* BS_TRAIN_ENGINE_H */
