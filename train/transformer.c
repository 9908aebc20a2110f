/* transformer.c — the SimCSE sentence encoder (transformer.h): config,
   initialisation, activations, dropout masks, forward and backward of the
   whole pre-LN encoder, pooling and the training head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "transformer.h"

/* N(0, 0.02): bst_kaiming_normal draws N(0, 2 / fan_in) */
enum { INIT_FAN_IN = 5000 };
/* dropout sites per step: 1 + 3 layers (layers <= 16) */
enum { MAX_LAYERS = 16, SITES = 64 };

uint64_t bst_tf_dropout_key(uint64_t seed, uint64_t step, int site)
{
    bs_rng r;
    bs_rng_derive(&r, seed, BST_STREAM_DROPOUT, step * SITES + (uint64_t)site);
    return bs_rng_next(&r);
}

void bst_tf_dropout_row(uint8_t *keep, int n, float p, uint64_t key,
                        uint64_t row)
{
    bs_rng r;
    bs_rng_derive(&r, key, BST_STREAM_DROPOUT, row);
    for (int i = 0; i < n; i++)
        keep[i] = bs_rng_uniform(&r) >= p;
}

/* ------------------------------------------------------------- config */
void bst_tf_cfg_default(bst_tf_cfg *c, int vocab)
{
    *c = (bst_tf_cfg){.vocab = vocab,
                      .max_len = 33,
                      .edim = 128,
                      .dim = 128,
                      .heads = 4,
                      .layers = 2,
                      .mlp = 512,
                      .dropout = 0.1f,
                      .pool = BST_TF_POOL_MEAN};
}

int bst_tf_cfg_check(const bst_tf_cfg *c, char *msg, size_t cap)
{
    if (!c)
        return bst_fail(msg, cap, BST_ERR_INVAL, "transformer: no config");
    if (c->vocab < 1 || c->max_len < 1 || c->max_len > 65535 || c->dim < 1 ||
        c->edim < 0 || c->mlp < 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "transformer: vocab %d, max_len %d (1..65535), dim "
                        "%d, edim %d, mlp %d out of range",
                        c->vocab, c->max_len, c->dim, c->edim, c->mlp);
    if (c->heads < 1 || c->heads > 65535 || c->dim % c->heads != 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "transformer: %d heads do not divide dim %d", c->heads,
                        c->dim);
    if (c->layers < 1 || c->layers > MAX_LAYERS)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "transformer: layers %d outside 1..%d", c->layers,
                        MAX_LAYERS);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "transformer: dropout %g outside [0, 1)",
                        (double)c->dropout);
    if (c->pool != BST_TF_POOL_MEAN && c->pool != BST_TF_POOL_CLS)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "transformer: pooling %d is neither mean nor cls",
                        c->pool);
    return BST_OK;
}

/* ---------------------------------------------------------- parameters */
static int block_init(bst_tf_block *k, int C, int M)
{
    int rc = bst_layernorm_init(&k->ln1, C);
    rc = rc ? rc : bst_layernorm_init(&k->ln2, C);
    rc = rc ? rc : bst_linear_init(&k->qkv, C, 3 * C, 1);
    rc = rc ? rc : bst_linear_init(&k->proj, C, C, 1);
    rc = rc ? rc : bst_linear_init(&k->fc1, C, M, 1);
    rc = rc ? rc : bst_linear_init(&k->fc2, M, C, 1);
    return rc;
}

static void block_free(bst_tf_block *k)
{
    bst_layernorm_free(&k->ln1);
    bst_layernorm_free(&k->ln2);
    bst_linear_free(&k->qkv);
    bst_linear_free(&k->proj);
    bst_linear_free(&k->fc1);
    bst_linear_free(&k->fc2);
}

static int block_params(bst_tf_block *k, bst_param *out)
{
    int n = bst_layernorm_params(&k->ln1, out);
    n += bst_linear_params(&k->qkv, out + n);
    n += bst_linear_params(&k->proj, out + n);
    n += bst_layernorm_params(&k->ln2, out + n);
    n += bst_linear_params(&k->fc1, out + n);
    n += bst_linear_params(&k->fc2, out + n);
    return n;
}

static void collect_params(bst_tf *m)
{
    int n = bst_embedding_params(&m->emb, m->params);
    for (int l = 0; l < m->cfg.layers; l++)
        n += block_params(&m->blocks[l], m->params + n);
    n += bst_layernorm_params(&m->lnf, m->params + n);
    n += bst_linear_params(&m->head, m->params + n);
    m->nparams = n;
}

/* decayed tensors (matrices, tables) ~ N(0, 0.02), the rest stay as init
   left them (biases 0, LN 1 / 0) */
static void reset_params(bst_tf *m, uint64_t seed)
{
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].decay)
            bst_kaiming_normal(m->params[i].w, m->params[i].n, INIT_FAN_IN,
                               seed, (uint64_t)i);
}

int bst_tf_init(bst_tf *m, const bst_tf_cfg *cfg, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    if (bst_tf_cfg_check(cfg, NULL, 0) != BST_OK)
        return BST_ERR_INVAL;
    m->cfg = *cfg;
    bst_tf_cfg *c = &m->cfg;
    c->edim = c->edim ? c->edim : c->dim;
    c->mlp = c->mlp ? c->mlp : 4 * c->dim;
    m->blocks = calloc((size_t)c->layers, sizeof *m->blocks);
    m->params = calloc((size_t)(4 + 12 * c->layers + 4), sizeof *m->params);
    int rc = m->blocks && m->params ? BST_OK : BST_ERR_NOMEM;
    rc =
        rc ? rc
           : bst_embedding_init(&m->emb, c->vocab, c->max_len, c->edim, c->dim);
    for (int l = 0; l < c->layers && rc == BST_OK; l++)
        rc = block_init(&m->blocks[l], c->dim, c->mlp);
    rc = rc ? rc : bst_layernorm_init(&m->lnf, c->dim);
    rc = rc ? rc : bst_linear_init(&m->head, c->dim, c->dim, 1);
    if (rc != BST_OK) {
        bst_tf_free(m);
        return rc;
    }
    collect_params(m);
    reset_params(m, seed);
    return BST_OK;
}

void bst_tf_free(bst_tf *m)
{
    bst_embedding_free(&m->emb);
    for (int l = 0; m->blocks && l < m->cfg.layers; l++)
        block_free(&m->blocks[l]);
    free(m->blocks);
    bst_layernorm_free(&m->lnf);
    bst_linear_free(&m->head);
    free(m->params);
    free(m->poolw);
    memset(m, 0, sizeof *m);
}

int bst_tf_set_pool_weights(bst_tf *m, const float *w)
{
    if (!m)
        return BST_ERR_INVAL;
    if (!w) {
        free(m->poolw);
        m->poolw = NULL;
        return BST_OK;
    }
    for (int i = 0; i < m->cfg.vocab; i++)
        if (!(w[i] > 0.0f) || !(w[i] < INFINITY))
            return BST_ERR_INVAL;
    float *c =
        m->poolw ? m->poolw : malloc(sizeof(float) * (size_t)m->cfg.vocab);
    if (!c)
        return BST_ERR_NOMEM;
    memcpy(c, w, sizeof(float) * (size_t)m->cfg.vocab);
    m->poolw = c;
    return BST_OK;
}

size_t bst_tf_size(const bst_tf *m)
{
    size_t n = 0;
    for (int i = 0; i < m->nparams; i++)
        n += m->params[i].n;
    return n;
}
