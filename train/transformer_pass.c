/* transformer_pass.c — activations, forward and backward of the whole
   SimCSE encoder (transformer.h). */
#include <stdlib.h>
#include <string.h>

#include "transformer.h"

/* ----------------------------------------------------------- activations */
/* calloc of n elements of size sz, counting failures in *bad */
static void *alloc(size_t n, size_t sz, int *bad)
{
    void *p = calloc(n ? n : 1, sz);
    *bad |= p == NULL;
    return p;
}

static void layer_acts_init(bst_tf_layer_acts *l, size_t N, size_t C, size_t M,
                            size_t NHT, int *bad)
{
    l->x = alloc(N * C, sizeof(float), bad);
    l->h1 = alloc(N * C, sizeof(float), bad);
    l->mu1 = alloc(N, sizeof(float), bad);
    l->rs1 = alloc(N, sizeof(float), bad);
    l->qkv = alloc(N * 3 * C, sizeof(float), bad);
    l->att = alloc(NHT, sizeof(float), bad);
    l->katt = alloc(NHT, 1, bad);
    l->ctx = alloc(N * C, sizeof(float), bad);
    l->a = alloc(N * C, sizeof(float), bad);
    l->k1 = alloc(N * C, 1, bad);
    l->x2 = alloc(N * C, sizeof(float), bad);
    l->h2 = alloc(N * C, sizeof(float), bad);
    l->mu2 = alloc(N, sizeof(float), bad);
    l->rs2 = alloc(N, sizeof(float), bad);
    l->f = alloc(N * M, sizeof(float), bad);
    l->g = alloc(N * M, sizeof(float), bad);
    l->mo = alloc(N * C, sizeof(float), bad);
    l->k2 = alloc(N * C, 1, bad);
}

static void layer_acts_free(bst_tf_layer_acts *l)
{
    void *ps[] = {l->x,    l->h1,  l->mu1, l->rs1, l->qkv, l->att,
                  l->katt, l->ctx, l->a,   l->k1,  l->x2,  l->h2,
                  l->mu2,  l->rs2, l->f,   l->g,   l->mo,  l->k2};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        free(ps[i]);
}

static void top_acts_init(bst_tf_acts *a, const bst_tf_cfg *c, size_t N,
                          int *bad)
{
    size_t B = (size_t)a->Bmax, C = (size_t)c->dim, M = (size_t)c->mlp;
    size_t E = c->edim != c->dim ? (size_t)c->edim : 0;
    a->ids = alloc(N, sizeof(int32_t), bad);
    a->len = alloc(B, sizeof(int), bad);
    a->raw = E ? alloc(N * E, sizeof(float), bad) : NULL;
    a->draw = E ? alloc(N * E, sizeof(float), bad) : NULL;
    a->k0 = alloc(N * C, 1, bad);
    a->xL = alloc(N * C, sizeof(float), bad);
    a->hf = alloc(N * C, sizeof(float), bad);
    a->muf = alloc(N, sizeof(float), bad);
    a->rsf = alloc(N, sizeof(float), bad);
    a->pooled = alloc(B * C, sizeof(float), bad);
    a->hpre = alloc(B * C, sizeof(float), bad);
    a->z = alloc(B * C, sizeof(float), bad);
    a->dres = alloc(N * C, sizeof(float), bad);
    a->dC = alloc(N * C, sizeof(float), bad);
    a->dC2 = alloc(N * C, sizeof(float), bad);
    a->d3C = alloc(N * 3 * C, sizeof(float), bad);
    a->dM = alloc(N * M, sizeof(float), bad);
    a->dsc = alloc(B * (size_t)c->heads * (size_t)a->Tmax, sizeof(float), bad);
}

int bst_tf_acts_init(bst_tf_acts *a, const bst_tf *m, int Bmax, int Tmax)
{
    memset(a, 0, sizeof *a);
    const bst_tf_cfg *c = &m->cfg;
    if (Bmax < 1 || Tmax < 1 || Tmax > c->max_len)
        return BST_ERR_INVAL;
    a->Bmax = Bmax;
    a->Tmax = Tmax;
    size_t N = (size_t)Bmax * Tmax;
    size_t NHT = N * (size_t)c->heads * Tmax;
    int bad = 0;
    a->l = alloc((size_t)c->layers, sizeof *a->l, &bad);
    a->layers = bad ? 0 : c->layers;
    for (int l = 0; !bad && l < c->layers; l++)
        layer_acts_init(&a->l[l], N, (size_t)c->dim, (size_t)c->mlp, NHT, &bad);
    if (!bad)
        top_acts_init(a, c, N, &bad);
    if (bad) {
        bst_tf_acts_free(a);
        return BST_ERR_NOMEM;
    }
    return BST_OK;
}

void bst_tf_acts_free(bst_tf_acts *a)
{
    /* untouched entries of the calloc'ed a->l hold NULLs */
    for (int l = 0; a->l && l < a->layers; l++)
        layer_acts_free(&a->l[l]);
    free(a->l);
    void *ps[] = {a->ids,  a->len, a->raw, a->draw,   a->k0,   a->xL,
                  a->hf,   a->muf, a->rsf, a->pooled, a->hpre, a->z,
                  a->dres, a->dC,  a->dC2, a->d3C,    a->dM,   a->dsc};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        free(ps[i]);
    memset(a, 0, sizeof *a);
}

/* -------------------------------------------------------------- forward */
/* dropout of hidden states: x (B, T, C) in place, rows (b << 32 | t) */
static void drop_rows(float *x, uint8_t *keep, int B, int T, int C, float p,
                      uint64_t key)
{
    float s = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (B * T >= 256)
    for (int r = 0; r < B * T; r++) {
        size_t o = (size_t)r * C;
        bst_tf_dropout_row(keep + o, C, p, key,
                           (uint64_t)(r / T) << 32 | (uint64_t)(r % T));
        for (int c = 0; c < C; c++)
            x[o + c] = keep[o + c] ? x[o + c] * s : 0.0f;
    }
}

/* dx = dy keep / (1 - p); a copy when p == 0 */
static void drop_back(const uint8_t *keep, const float *dy, float *dx, size_t n,
                      float p)
{
    if (p <= 0.0f) {
        memcpy(dx, dy, n * sizeof(float));
        return;
    }
    float s = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        dx[i] = keep[i] ? dy[i] * s : 0.0f;
}

typedef struct {
    uint64_t seed, step;
} drop_src;

static uint64_t site_key(drop_src d, int site)
{
    return bst_tf_dropout_key(d.seed, d.step, site);
}

/* x (B, T, C) -> y: both pre-LN residual branches of block l */
static void block_forward(const bst_tf *m, bst_tf_acts *a, int l, float *y,
                          drop_src d)
{
    const bst_tf_block *k = &m->blocks[l];
    bst_tf_layer_acts *s = &a->l[l];
    int B = a->B, T = a->T, N = B * T, C = m->cfg.dim, H = m->cfg.heads;
    size_t n = (size_t)N * C;
    float p = a->p;
    bst_layernorm_forward(&k->ln1, s->x, s->h1, s->mu1, s->rs1, N);
    bst_linear_forward(&k->qkv, s->h1, s->qkv, N);
    bst_attention_forward(s->qkv, a->len, s->att, s->katt, s->ctx, B, T, C, H,
                          p, p > 0.0f ? site_key(d, 1 + 3 * l) : 0);
    bst_linear_forward(&k->proj, s->ctx, s->a, N);
    if (p > 0.0f)
        drop_rows(s->a, s->k1, B, T, C, p, site_key(d, 2 + 3 * l));
    bst_add(s->x, s->a, s->x2, n);
    bst_layernorm_forward(&k->ln2, s->x2, s->h2, s->mu2, s->rs2, N);
    bst_linear_forward(&k->fc1, s->h2, s->f, N);
    bst_gelu_forward(s->f, s->g, (size_t)N * m->cfg.mlp);
    bst_linear_forward(&k->fc2, s->g, s->mo, N);
    if (p > 0.0f)
        drop_rows(s->mo, s->k2, B, T, C, p, site_key(d, 3 + 3 * l));
    bst_add(s->x2, s->mo, y, n);
}

/* the pooling weight of position t of sequence b: 1, or poolw[id] */
static float pool_w(const bst_tf *m, const bst_tf_acts *a, int b, int t)
{
    return m->poolw ? m->poolw[a->ids[(size_t)b * a->T + t]] : 1.0f;
}

/* sum of the pooling weights of sequence b (its length for the mean) */
static float pool_wsum(const bst_tf *m, const bst_tf_acts *a, int b)
{
    float ws = 0.0f;
    for (int t = 0; t < a->len[b]; t++)
        ws += pool_w(m, a, b, t);
    return ws;
}

/* hf (B, T, C) -> pooled (B, C): masked (weighted) mean over 0..len-1, or
   row 0 */
static void pool_forward(const bst_tf *m, bst_tf_acts *a)
{
    int C = m->cfg.dim, T = a->T;
    for (int b = 0; b < a->B; b++) {
        float *o = a->pooled + (size_t)b * C;
        const float *h = a->hf + (size_t)b * T * C;
        if (m->cfg.pool == BST_TF_POOL_CLS) {
            memcpy(o, h, (size_t)C * sizeof(float));
            continue;
        }
        memset(o, 0, (size_t)C * sizeof(float));
        float ws = 0.0f;
        for (int t = 0; t < a->len[b]; t++) {
            float w = pool_w(m, a, b, t);
            ws += w;
            for (int c = 0; c < C; c++)
                o[c] += w * h[(size_t)t * C + c];
        }
        for (int c = 0; c < C; c++)
            o[c] /= ws;
    }
}

static int inputs_ok(const bst_tf *m, const bst_tf_acts *a, const int32_t *ids,
                     const int *len, int B, int T)
{
    if (!ids || !len || B < 1 || B > a->Bmax || T < 1 || T > a->Tmax)
        return 0;
    for (int b = 0; b < B; b++) {
        if (len[b] < 1 || len[b] > T)
            return 0;
        for (int t = 0; t < len[b]; t++) {
            int32_t id = ids[(size_t)b * T + t];
            if (id < 0 || id >= m->cfg.vocab)
                return 0;
        }
    }
    return 1;
}

const float *bst_tf_forward(const bst_tf *m, bst_tf_acts *a, const int32_t *ids,
                            const int *len, int B, int T, int train, int head,
                            uint64_t seed, uint64_t step)
{
    if (!inputs_ok(m, a, ids, len, B, T))
        return NULL;
    a->B = B;
    a->T = T;
    a->train = train;
    a->head = head;
    a->p = train ? m->cfg.dropout : 0.0f;
    memcpy(a->ids, ids, (size_t)B * T * sizeof(int32_t));
    memcpy(a->len, len, (size_t)B * sizeof(int));
    drop_src d = {seed, step};
    int C = m->cfg.dim, N = B * T, L = m->cfg.layers;
    bst_embedding_forward(&m->emb, a->ids, a->len, a->raw, a->l[0].x, B, T);
    if (a->p > 0.0f)
        drop_rows(a->l[0].x, a->k0, B, T, C, a->p, site_key(d, 0));
    for (int l = 0; l < L; l++)
        block_forward(m, a, l, l + 1 < L ? a->l[l + 1].x : a->xL, d);
    bst_layernorm_forward(&m->lnf, a->xL, a->hf, a->muf, a->rsf, N);
    pool_forward(m, a);
    if (!head)
        return a->pooled;
    bst_linear_forward(&m->head, a->pooled, a->hpre, B);
    bst_tanh_forward(a->hpre, a->z, (size_t)B * C);
    return a->z;
}

/* ------------------------------------------------------------- backward */
/* a->dres holds dL/d(block output); leaves dL/d(block input) there */
static void block_backward(bst_tf *m, bst_tf_acts *a, int l)
{
    bst_tf_block *k = &m->blocks[l];
    bst_tf_layer_acts *s = &a->l[l];
    int B = a->B, T = a->T, N = B * T, C = m->cfg.dim, H = m->cfg.heads;
    size_t n = (size_t)N * C;
    /* MLP branch */
    drop_back(s->k2, a->dres, a->dC, n, a->p);
    bst_linear_backward(&k->fc2, s->g, a->dC, a->dM, N);
    bst_gelu_backward(s->f, a->dM, a->dM, (size_t)N * m->cfg.mlp);
    bst_linear_backward(&k->fc1, s->h2, a->dM, a->dC2, N);
    bst_layernorm_backward(&k->ln2, s->x2, s->mu2, s->rs2, a->dC2, a->dC, N);
    bst_add_inplace(a->dres, a->dC, n);
    /* attention branch */
    drop_back(s->k1, a->dres, a->dC, n, a->p);
    bst_linear_backward(&k->proj, s->ctx, a->dC, a->dC2, N);
    bst_attention_backward(s->qkv, a->len, s->att, s->katt, a->dC2, a->d3C,
                           a->dsc, B, T, C, H, a->p);
    bst_linear_backward(&k->qkv, s->h1, a->d3C, a->dC, N);
    bst_layernorm_backward(&k->ln1, s->x, s->mu1, s->rs1, a->dC, a->dC2, N);
    bst_add_inplace(a->dres, a->dC2, n);
}

/* dpooled (B, C) -> dhf (B, T, C), zero at padding */
static void pool_backward(const bst_tf *m, const bst_tf_acts *a,
                          const float *dp, float *dh)
{
    int C = m->cfg.dim, T = a->T;
    memset(dh, 0, (size_t)a->B * T * C * sizeof(float));
    for (int b = 0; b < a->B; b++) {
        const float *g = dp + (size_t)b * C;
        float *h = dh + (size_t)b * T * C;
        if (m->cfg.pool == BST_TF_POOL_CLS) {
            memcpy(h, g, (size_t)C * sizeof(float));
            continue;
        }
        float ws = pool_wsum(m, a, b);
        for (int t = 0; t < a->len[b]; t++) {
            float w = pool_w(m, a, b, t);
            for (int c = 0; c < C; c++)
                h[(size_t)t * C + c] = w * g[c] / ws;
        }
    }
}

void bst_tf_backward(bst_tf *m, bst_tf_acts *a, const float *dout)
{
    bst_tf_backward_pool(m, a, dout, NULL);
}

void bst_tf_backward_pool(bst_tf *m, bst_tf_acts *a, const float *dout,
                          const float *dpool)
{
    int B = a->B, T = a->T, N = B * T, C = m->cfg.dim;
    size_t n = (size_t)N * C;
    const float *dp = dout;
    if (a->head) { /* dC2 (B, C): through tanh; dC (B, C): into pooled */
        bst_tanh_backward(a->z, dout, a->dC2, (size_t)B * C);
        bst_linear_backward(&m->head, a->pooled, a->dC2, a->dC, B);
        dp = a->dC;
    }
    if (dpool) { /* dC (B, C) = the pooled output's whole gradient */
        if (dp != a->dC)
            memcpy(a->dC, dp, (size_t)B * C * sizeof(float));
        bst_add_inplace(a->dC, dpool, (size_t)B * C);
        dp = a->dC;
    }
    pool_backward(m, a, dp, a->d3C); /* d3C as (B, T, C) scratch */
    bst_layernorm_backward(&m->lnf, a->xL, a->muf, a->rsf, a->d3C, a->dres, N);
    for (int l = m->cfg.layers - 1; l >= 0; l--)
        block_backward(m, a, l);
    drop_back(a->k0, a->dres, a->dC, n, a->p);
    bst_embedding_backward(&m->emb, a->ids, a->len, a->raw, a->draw, a->dC, B,
                           T);
}
