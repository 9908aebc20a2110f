/*
 * transformer.h — a small pre-LN transformer sentence encoder for
 * unsupervised SimCSE (issue 10), built from llm.c-style layers:
 * token embedding (+ optional projection) + learned positions, layer norm,
 * multi-head self-attention with a padding mask, exact-erf GELU, the
 * Linear-GELU-Linear MLP, dropout with per-row deterministic masks, masked
 * mean or CLS pooling, and SimCSE's training-only head Linear + tanh.
 * Conventions as engine.h: the caller owns activations (here gathered in
 * bst_tf_acts), backward accumulates parameter gradients and overwrites
 * input gradients, results are bitwise identical for any thread count.
 *
 * Shapes: B sequences, T positions (the padded length, T <= max_len),
 * C = dim, H heads of D = C / H, M = MLP width, E = embedding width.
 * Sequence b holds len[b] (1 <= len[b] <= T) real tokens at positions
 * 0 .. len[b]-1; positions len[b] .. T-1 are padding and their ids are
 * never read.  With CLS pooling position 0 is the caller's [CLS] token.
 *
 * Block (pre-LN, as GPT-2 / Xiong et al. 2020; nn.TransformerEncoderLayer
 * with norm_first=True):
 *     x = x + drop(Wo attn(LN1(x)))
 *     x = x + drop(W2 gelu(W1 LN2(x)))
 * and a final LN after the last block.  Padding: keys at padding positions
 * get -inf before the softmax; queries at padding positions get a zero
 * attention output.  Every other operation is row-wise, so the valid
 * positions, the pooled embedding and all gradients do not depend on T:
 * appending padding changes them only by rounding (the GEMMs cut the B T
 * rows into other chunks; ~1e-6 relative), dropout masks included.
 */
#ifndef BS_TRAIN_TRANSFORMER_H
#define BS_TRAIN_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* -------------------------------------------------------------- dropout */
/* Dropout masks of the transformer are drawn per row: the keep flags of
   row `row` (n of them, keep[i] = u_i >= p) come from the stream
   bs_rng_derive(key, BST_STREAM_DROPOUT, row), so a row's mask depends on
   (key, row) only: not on T, the thread count or the other rows.  The
   key of a dropout site is bst_tf_dropout_key(seed, step, site). */
uint64_t bst_tf_dropout_key(uint64_t seed, uint64_t step, int site);
void bst_tf_dropout_row(uint8_t *keep, int n, float p, uint64_t key,
                        uint64_t row);

/* ------------------------------------------------------------ layer norm */
/* torch.nn.LayerNorm(dim), eps 1e-5 (torch's default; BERT uses 1e-12). */
typedef struct {
    int dim;
    float eps;
    float *g, *dg; /* (dim) weight, init 1 */
    float *b, *db; /* (dim) bias, init 0 */
} bst_layernorm;

int bst_layernorm_init(bst_layernorm *ln, int dim);
void bst_layernorm_free(bst_layernorm *ln);
int bst_layernorm_params(bst_layernorm *ln, bst_param out[2]);
/* x (N, dim) -> y (N, dim); writes the row statistics mean, rstd (N) that
   the backward takes (computed in double, stored in float). */
void bst_layernorm_forward(const bst_layernorm *ln, const float *x, float *y,
                           float *mean, float *rstd, int N);
/* dg += sum dy xhat, db += sum dy (rows in order), dx = the input
   gradient.  dx (N, dim), may be NULL. */
void bst_layernorm_backward(bst_layernorm *ln, const float *x,
                            const float *mean, const float *rstd,
                            const float *dy, float *dx, int N);

/* ----------------------------------------------------------- activations */
/* GELU, exact form 0.5 x (1 + erf(x / sqrt 2)) (torch / BERT default).
   y may alias x.  The backward takes the forward input x; dx may alias dy. */
void bst_gelu_forward(const float *x, float *y, size_t n);
void bst_gelu_backward(const float *x, const float *dy, float *dx, size_t n);
/* tanh; the backward takes the output y = tanh(x); dx may alias dy. */
void bst_tanh_forward(const float *x, float *y, size_t n);
void bst_tanh_backward(const float *y, const float *dy, float *dx, size_t n);

/* ------------------------------------------------------------- embedding */
/* Token table (vocab, E), optional projection Linear(E, C) when E != C
   (so 50-d GloVe rows can be copied into `tok` under a wider encoder), and
   learned positions (max_len, C). */
typedef struct {
    int vocab, max_len, edim, dim;
    float *tok, *dtok; /* (vocab, edim): the caller may overwrite rows */
    float *pos, *dpos; /* (max_len, dim) */
    bst_linear proj;   /* edim -> dim with bias; unused (zeroed) if equal */
} bst_embedding;

int bst_embedding_init(bst_embedding *e, int vocab, int max_len, int edim,
                       int dim);
void bst_embedding_free(bst_embedding *e);
/* tok, [proj W, proj b,] pos; returns the count (2 or 4). */
int bst_embedding_params(bst_embedding *e, bst_param out[4]);
/* y[b, t] = proj(tok[ids[b, t]]) + pos[t] for t < len[b], 0 for padding.
   ids (B, T) in [0, vocab); raw (B, T, E) scratch (NULL when E == C);
   y (B, T, C). */
void bst_embedding_forward(const bst_embedding *e, const int32_t *ids,
                           const int *len, float *raw, float *y, int B, int T);
/* dtok, dpos (and proj) += the gradient of dy at the valid positions
   (in (b, t) order); raw as the forward left it; draw (B, T, E) scratch
   (NULL when E == C).  dy's padding rows are set to 0. */
void bst_embedding_backward(bst_embedding *e, const int32_t *ids,
                            const int *len, const float *raw, float *draw,
                            float *dy, int B, int T);

/* ------------------------------------------------------------- attention */
/* The attention core between the QKV and output projections.
   qkv (B, T, 3C): per position [q | k | v], head h at columns h D .. h D +
   D - 1 of each (the in_proj layout of torch.nn.MultiheadAttention).
   att (B, H, T, T): softmax(q k^T / sqrt D) over valid keys (padding keys
   and padding query rows 0); with p > 0 the probabilities are dropped out
   (keep (B, H, T, T), rows from key bst_tf_dropout_key(...) and row
   index (b << 32 | h << 16 | i); key ignored and keep may be NULL if
   p == 0).  ctx (B, T, C) = dropped probabilities . v, zero at padding
   queries.  OpenMP over (b, h). */
void bst_attention_forward(const float *qkv, const int *len, float *att,
                           uint8_t *keep, float *ctx, int B, int T, int C,
                           int H, float p, uint64_t key);
/* dqkv (B, T, 3C) = the gradient through the core; scratch (B, H, T). */
void bst_attention_backward(const float *qkv, const int *len, const float *att,
                            const uint8_t *keep, const float *dctx, float *dqkv,
                            float *scratch, int B, int T, int C, int H,
                            float p);

/* --------------------------------------------------------------- encoder */
enum { BST_TF_POOL_MEAN = 0, BST_TF_POOL_CLS = 1 };

typedef struct {
    int vocab;     /* token ids in [0, vocab) */
    int max_len;   /* positions, [CLS] included (33 for 32 tokens) */
    int edim;      /* token table width E (e.g. 50 for GloVe); 0: = dim */
    int dim;       /* C */
    int heads;     /* H, divides dim */
    int layers;    /* L */
    int mlp;       /* M; 0: 4 dim */
    float dropout; /* on embeddings, attention probabilities, both residual
                      branches (0.1) */
    int pool;      /* BST_TF_POOL_MEAN (default) or BST_TF_POOL_CLS */
} bst_tf_cfg;

/* vocab given; max_len 33, edim = dim = 128, 4 heads, 2 layers, mlp 512,
   dropout 0.1, mean pooling. */
void bst_tf_cfg_default(bst_tf_cfg *c, int vocab);
/* BST_OK or BST_ERR_INVAL (writes a one-line reason into msg). */
int bst_tf_cfg_check(const bst_tf_cfg *c, char *msg, size_t cap);

typedef struct {
    bst_layernorm ln1, ln2;
    bst_linear qkv;  /* C -> 3C */
    bst_linear proj; /* C -> C */
    bst_linear fc1;  /* C -> M */
    bst_linear fc2;  /* M -> C */
} bst_tf_block;

typedef struct {
    bst_tf_cfg cfg; /* edim and mlp resolved */
    bst_embedding emb;
    bst_tf_block *blocks; /* (layers) */
    bst_layernorm lnf;
    bst_linear head; /* SimCSE's MLP: C -> C, then tanh; training only */
    bst_param *params;
    int nparams;
    float *poolw; /* (vocab) mean-pooling weights, or NULL (plain mean) */
} bst_tf;

/* Allocates and initialises (BERT's: weights and embeddings N(0, 0.02),
   biases 0, LN 1 / 0) from stream (seed, parameter number).  Parameter
   order: emb (tok, [proj W, b,] pos), per block ln1 g b, qkv W b, proj W b,
   ln2 g b, fc1 W b, fc2 W b, then lnf g b, head W b.  Weight decay on
   matrices and the tables, not on biases and LN.  BST_OK, BST_ERR_INVAL
   or BST_ERR_NOMEM. */
int bst_tf_init(bst_tf *m, const bst_tf_cfg *cfg, uint64_t seed);
void bst_tf_free(bst_tf *m);
/* Number of parameters (floats). */
size_t bst_tf_size(const bst_tf *m);
/* Weighted mean pooling: with weights w (vocab entries, each finite and
   > 0; copied) the pooled output of sequence b is
   sum_t w[id_t] h_t / sum_t w[id_t] over its valid positions (e.g. SIF's
   a / (a + p(word))); w NULL restores the plain mean.  The weights are
   fixed (not parameters).  Ignored under CLS pooling.  BST_OK,
   BST_ERR_INVAL (a bad weight; the old weights stay) or BST_ERR_NOMEM. */
int bst_tf_set_pool_weights(bst_tf *m, const float *w);

typedef struct {
    float *x;              /* (B, T, C) block input (residual stream) */
    float *h1, *mu1, *rs1; /* LN1 out (B, T, C), stats (B, T) */
    float *qkv;            /* (B, T, 3C) */
    float *att;            /* (B, H, T, T) */
    uint8_t *katt;         /* (B, H, T, T) */
    float *ctx, *a;        /* (B, T, C) attention out, after Wo */
    uint8_t *k1;           /* (B, T, C) */
    float *x2;             /* (B, T, C) after the attention residual */
    float *h2, *mu2, *rs2; /* LN2 */
    float *f, *g;          /* (B, T, M) fc1 out, GELU out */
    float *mo;             /* (B, T, C) fc2 out */
    uint8_t *k2;           /* (B, T, C) */
} bst_tf_layer_acts;

/* One forward's activations, for up to Bmax sequences of Tmax positions
   (two of these hold SimCSE's two views). */
typedef struct {
    int Bmax, Tmax, layers;
    int B, T, train, head; /* of the last forward */
    float p;               /* dropout in effect (0 in eval) */
    int32_t *ids;          /* (B, T) copy */
    int *len;              /* (B) copy */
    float *raw;            /* (B, T, E) if E != C */
    uint8_t *k0;           /* (B, T, C) embedding dropout */
    bst_tf_layer_acts *l;  /* (layers) */
    float *xL;             /* (B, T, C) output of the last block */
    float *hf, *muf, *rsf; /* final LN */
    float *pooled;         /* (B, C): the sentence embedding */
    float *hpre, *z;       /* (B, C): head Linear out, tanh out */
    /* backward scratch */
    float *dres, *dC, *dC2, *d3C, *dM, *draw, *dsc;
} bst_tf_acts;

int bst_tf_acts_init(bst_tf_acts *a, const bst_tf *m, int Bmax, int Tmax);
void bst_tf_acts_free(bst_tf_acts *a);

/* ids (B, T), len (B).  train: dropout with masks from (seed, step) (site
   0 the embeddings, block l: 1 + 3l attention probabilities, 2 + 3l the
   attention branch, 3 + 3l the MLP branch; rows (b << 32 | t)); eval: no
   dropout.  head: apply the SimCSE head.  Returns the output, (B, C):
   a->z with the head, a->pooled without; NULL on bad arguments (B, T out
   of range, a length outside [1, T], an id outside the vocabulary). */
const float *bst_tf_forward(const bst_tf *m, bst_tf_acts *a, const int32_t *ids,
                            const int *len, int B, int T, int train, int head,
                            uint64_t seed, uint64_t step);
/* dout (B, C): the gradient of the output the last forward of `a`
   returned.  Accumulates every parameter gradient. */
void bst_tf_backward(bst_tf *m, bst_tf_acts *a, const float *dout);
/* The same with dpool (B, C) added to the gradient of the pooled output
   a->pooled (a second loss on the sentence embedding itself, next to one
   on the head's output); dpool NULL is bst_tf_backward. */
void bst_tf_backward_pool(bst_tf *m, bst_tf_acts *a, const float *dout,
                          const float *dpool);

#endif /* BS_TRAIN_TRANSFORMER_H */
