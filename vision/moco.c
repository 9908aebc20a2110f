/* moco.c — the MoCo v3 training step and feature extraction (moco.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moco.h"
#include "simclr.h" /* the Fashion-MNIST mean and std */

enum { PIX = BST_AUG_SIDE * BST_AUG_SIDE };

/* bst_linear_reset stream indices of the heads (the trunk uses 0..15) */
enum { LAYER_PROJ = 64, LAYER_PRED = 66 };

void bst_moco_cfg_default(bst_moco_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    bst_encoder_cfg_default(&cfg->enc);
    cfg->enc.proj_dim = 256;
    cfg->loss = (bst_loss_cfg){
        .kind = BST_LOSS_INFONCE, .tau = 0.2, .tau_plus = 0.1, .beta = 1.0};
    bst_augment_params_default(&cfg->aug);
    cfg->batch = 256;
    cfg->weight_decay = 1e-6;
    cfg->m0 = 0.99;
    cfg->seed = 0;
}

/* ------------------------------------------------------------ MLP heads */

static int mlp_init(bst_moco_mlp *h, int in, int P, int D, int last_bn,
                    uint64_t seed, int layer)
{
    memset(h, 0, sizeof *h);
    h->last_bn = last_bn;
    int rc = bst_linear_init(&h->l1, in, P, 0);
    if (!rc)
        rc = bst_batchnorm_init(&h->bn1, P);
    if (!rc)
        rc = bst_linear_init(&h->l2, P, D, 0);
    if (!rc && last_bn)
        rc =
            bst_batchnorm_init(&h->bn2, D); /* gamma 1, beta 0, never trained */
    if (rc)
        return rc;
    bst_linear_reset(&h->l1, seed, (uint64_t)layer);
    bst_linear_reset(&h->l2, seed, (uint64_t)layer + 1);
    return BST_OK;
}

static void mlp_free(bst_moco_mlp *h)
{
    bst_linear_free(&h->l1);
    bst_linear_free(&h->l2);
    bst_batchnorm_free(&h->bn1);
    bst_batchnorm_free(&h->bn2);
    memset(h, 0, sizeof *h);
}

/* l1 W, bn1 gamma and beta, l2 W: the trained tensors (bn2 has none) */
static int mlp_params(bst_moco_mlp *h, bst_param *out)
{
    int n = bst_linear_params(&h->l1, out);
    n += bst_batchnorm_params(&h->bn1, out + n);
    return n + bst_linear_params(&h->l2, out + n);
}

static int mlp_acts_init(bst_moco_mlp_acts *a, int N, int in, int P, int D)
{
    size_t np = (size_t)N * P, nd = (size_t)N * D;
    a->f1 = malloc(np * sizeof(float));
    a->r = malloc(np * sizeof(float));
    a->dr = malloc(np * sizeof(float));
    a->df1 = malloc(np * sizeof(float));
    a->f2 = malloc(nd * sizeof(float));
    a->y = malloc(nd * sizeof(float));
    a->df2 = malloc(nd * sizeof(float));
    a->dx = malloc((size_t)N * in * sizeof(float));
    return a->f1 && a->r && a->dr && a->df1 && a->f2 && a->y && a->df2 && a->dx
               ? BST_OK
               : BST_ERR_NOMEM;
}

static void mlp_acts_free(bst_moco_mlp_acts *a)
{
    float *all[] = {a->f1, a->r, a->dr, a->df1, a->f2, a->y, a->df2, a->dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    memset(a, 0, sizeof *a);
}

/* x (N, in) -> a->y (N, D), train mode (batch statistics) */
static void mlp_forward(bst_moco_mlp *h, bst_moco_mlp_acts *a, const float *x,
                        int N, int train)
{
    bst_linear_forward(&h->l1, x, a->f1, N);
    bst_batchnorm_relu_forward(&h->bn1, a->f1, a->r, N, 1, train);
    bst_linear_forward(&h->l2, a->r, a->f2, N);
    if (h->last_bn)
        bst_batchnorm_forward(&h->bn2, a->f2, a->y, N, 1, train);
    else
        memcpy(a->y, a->f2, (size_t)N * h->l2.out * sizeof(float));
}

/* dy (N, D) -> a->dx (N, in); accumulates the trained gradients */
static void mlp_backward(bst_moco_mlp *h, bst_moco_mlp_acts *a, const float *x,
                         const float *dy, int N)
{
    const float *df2 = dy;
    if (h->last_bn) {
        bst_batchnorm_backward(&h->bn2, a->f2, dy, a->df2, N, 1, 1);
        df2 = a->df2;
    }
    bst_linear_backward(&h->l2, a->r, df2, a->dr, N);
    bst_batchnorm_relu_backward(&h->bn1, a->f1, a->r, a->dr, a->df1, N, 1, 1);
    bst_linear_backward(&h->l1, x, a->df1, a->dx, N);
}

/* ---------------------------------------------------------------- setup */

/* The trunk's tensors: the encoder's list without its (unused) head. */
static int trunk_params(bst_encoder *e, bst_param *out)
{
    int n = 0;
    for (int i = 0; i < e->nparams; i++) {
        const float *w = e->params[i].w;
        if (w != e->fc1.W && w != e->fc2.W && w != e->fc2.b &&
            w != e->head_bn.gamma && w != e->head_bn.beta)
            out[n++] = e->params[i];
    }
    return n;
}

static void add_bns(bst_moco *s, bst_encoder *e, bst_moco_mlp *h)
{
    if (e)
        for (int i = 0; i < e->nbns; i++)
            if (e->bns[i] != &e->head_bn)
                s->bns[s->nbns++] = e->bns[i];
    s->bns[s->nbns++] = &h->bn1;
    if (h->last_bn)
        s->bns[s->nbns++] = &h->bn2;
}

static int check_cfg(const bst_moco_cfg *c)
{
    if (!c || c->batch < 2 || c->batch > (1 << 20) || !(c->weight_decay >= 0) ||
        !(c->m0 >= 0 && c->m0 <= 1) || bst_augment_check(&c->aug) ||
        bst_encoder_cfg_check(&c->enc) || !(c->loss.tau > 0) ||
        c->loss.kind < BST_LOSS_INFONCE || c->loss.kind > BST_LOSS_HCL ||
        (c->loss.kind != BST_LOSS_INFONCE &&
         !(c->loss.tau_plus >= 0 && c->loss.tau_plus < 1)))
        return BST_ERR_INVAL;
    return BST_OK;
}

static int build(bst_moco *s)
{
    const bst_moco_cfg *c = &s->cfg;
    int B = c->batch, F = bst_encoder_feat_dim(&c->enc), P = c->enc.proj_dim,
        D = c->enc.out_dim, rc;
    /* the encoders' own heads are never run: keep them 1 wide */
    bst_encoder_cfg trunk = c->enc;
    trunk.proj_dim = trunk.out_dim = 1;
    if ((rc = bst_encoder_init(&s->base, &trunk, c->seed)) ||
        (rc = bst_encoder_init(&s->mom, &trunk, c->seed)) ||
        (rc = bst_encoder_acts_init(&s->acts, &trunk, B)) ||
        (rc = bst_encoder_acts_init(&s->macts, &trunk, B)) ||
        (rc = mlp_init(&s->proj, F, P, D, 1, c->seed, LAYER_PROJ)) ||
        (rc = mlp_init(&s->mproj, F, P, D, 1, c->seed, LAYER_PROJ)) ||
        (rc = mlp_init(&s->pred, D, P, D, 0, c->seed, LAYER_PRED)) ||
        (rc = mlp_acts_init(&s->pa, B, F, P, D)) ||
        (rc = mlp_acts_init(&s->ma, B, F, P, D)) ||
        (rc = mlp_acts_init(&s->qa, B, D, P, D)))
        return rc;
    int nt = trunk_params(&s->base, s->params);
    s->nparams = nt + mlp_params(&s->proj, s->params + nt);
    memcpy(s->src, s->params, (size_t)s->nparams * sizeof(bst_param));
    s->nema = s->nparams;
    int nm = trunk_params(&s->mom, s->dst);
    nm += mlp_params(&s->mproj, s->dst + nm);
    if (nm != s->nema)
        return BST_ERR_INVAL;
    s->nparams += mlp_params(&s->pred, s->params + s->nparams);
    add_bns(s, &s->base, &s->proj);
    add_bns(s, NULL, &s->pred);
    add_bns(s, &s->mom, &s->mproj);
    bst_ema_update(s->dst, s->src, s->nema, 0.0); /* the copy */
    if ((rc = bst_adamw_init(&s->opt, s->params, s->nparams, 0.9, 0.999, 1e-8,
                             c->weight_decay)))
        return rc;
    s->views = malloc((size_t)2 * B * PIX * sizeof(float));
    s->keys = malloc((size_t)2 * B * D * sizeof(float));
    s->q = malloc((size_t)B * D * sizeof(float));
    s->dq = malloc((size_t)B * D * sizeof(float));
    return s->views && s->keys && s->q && s->dq ? BST_OK : BST_ERR_NOMEM;
}

int bst_moco_init(bst_moco *s, const bst_moco_cfg *cfg)
{
    memset(s, 0, sizeof *s);
    if (check_cfg(cfg))
        return BST_ERR_INVAL;
    s->cfg = *cfg;
    int rc = build(s);
    if (rc)
        bst_moco_free(s);
    return rc;
}

void bst_moco_free(bst_moco *s)
{
    bst_encoder_free(&s->base);
    bst_encoder_free(&s->mom);
    bst_encoder_acts_free(&s->acts);
    bst_encoder_acts_free(&s->macts);
    mlp_free(&s->proj);
    mlp_free(&s->pred);
    mlp_free(&s->mproj);
    mlp_acts_free(&s->pa);
    mlp_acts_free(&s->qa);
    mlp_acts_free(&s->ma);
    bst_adamw_free(&s->opt);
    free(s->views);
    free(s->keys);
    free(s->q);
    free(s->dq);
    memset(s, 0, sizeof *s);
}

/* ----------------------------------------------------------------- step */

/* keys (B, D) of x on the momentum branch, normalised */
static int momentum_keys(bst_moco *s, const float *x, float *k)
{
    int B = s->cfg.batch,
        rc = bst_encoder_forward(&s->mom, &s->macts, x, B, 1, 0);
    if (rc)
        return rc;
    mlp_forward(&s->mproj, &s->ma, s->macts.h, B, 1);
    bst_l2norm_forward(s->ma.y, k, B, s->cfg.enc.out_dim);
    return BST_OK;
}

/* 2 tau ctr(q(x), k) for one view, its gradients accumulated */
static int query_term(bst_moco *s, const float *x, const float *k, double *loss)
{
    int B = s->cfg.batch, D = s->cfg.enc.out_dim, rc;
    if ((rc = bst_encoder_forward(&s->base, &s->acts, x, B, 1, 0)))
        return rc;
    mlp_forward(&s->proj, &s->pa, s->acts.h, B, 1);
    mlp_forward(&s->pred, &s->qa, s->pa.y, B, 1);
    bst_l2norm_forward(s->qa.y, s->q, B, D);
    double l = 0;
    if ((rc = bst_cross_contrastive_loss(&s->cfg.loss, s->q, k, B, D, &l,
                                         s->dq)))
        return rc;
    /* the reference's 2 tau factor on the loss and so on its gradient */
    double scale = 2.0 * s->cfg.loss.tau;
    *loss += scale * l;
    for (size_t i = 0; i < (size_t)B * D; i++)
        s->dq[i] = (float)(scale * s->dq[i]);
    /* back through the normalisation, predictor, projector, trunk */
    bst_l2norm_backward(s->qa.y, s->q, s->dq, s->qa.df2, B, D);
    mlp_backward(&s->pred, &s->qa, s->pa.y, s->qa.df2, B);
    mlp_backward(&s->proj, &s->pa, s->acts.h, s->qa.dx, B);
    return bst_encoder_backward_feat(&s->base, &s->acts, x, s->pa.dx, B);
}

int bst_moco_forward_backward(bst_moco *s, const float *x1, const float *x2,
                              double m, double *loss)
{
    if (!(m >= 0 && m <= 1) || !x1 || !x2 || !loss)
        return BST_ERR_INVAL;
    int B = s->cfg.batch, D = s->cfg.enc.out_dim, rc;
    float *k1 = s->keys, *k2 = s->keys + (size_t)B * D;
    /* the reference: momentum update, then keys, both without gradients */
    bst_ema_update(s->dst, s->src, s->nema, m);
    if ((rc = momentum_keys(s, x1, k1)) || (rc = momentum_keys(s, x2, k2)))
        return rc;
    bst_zero_grads(s->params, s->nparams);
    *loss = 0;
    if ((rc = query_term(s, x1, k2, loss)) ||
        (rc = query_term(s, x2, k1, loss)))
        return rc;
    return isfinite(*loss) ? BST_OK : BST_ERR_INVAL;
}

static void normalise(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - BST_FMNIST_MEAN) / BST_FMNIST_STD;
}

int bst_moco_step(bst_moco *s, const float *images, int64_t n,
                  const int64_t *idx, double lr, double m, double *loss)
{
    int B = s->cfg.batch, rc;
    for (int v = 0; v < 2; v++)
        if ((rc =
                 bst_augment_batch(&s->cfg.aug, images, n, idx, B, s->cfg.seed,
                                   s->step, v, s->views + (size_t)v * B * PIX)))
            return rc;
    normalise(s->views, (size_t)2 * B * PIX);
    if ((rc = bst_moco_forward_backward(s, s->views, s->views + (size_t)B * PIX,
                                        m, loss)))
        return rc;
    bst_adamw_step(&s->opt, s->params, s->nparams, lr);
    s->step++;
    return BST_OK;
}

int bst_moco_features(bst_moco *s, const float *images, int64_t n, float *out)
{
    int chunk = s->cfg.batch, F = bst_encoder_feat_dim(&s->cfg.enc), rc;
    for (int64_t lo = 0; lo < n; lo += chunk) {
        int cnt = (int)(n - lo < chunk ? n - lo : chunk);
        memcpy(s->views, images + lo * PIX, (size_t)cnt * PIX * sizeof(float));
        normalise(s->views, (size_t)cnt * PIX);
        if ((rc = bst_encoder_forward(&s->base, &s->acts, s->views, cnt, 0, 0)))
            return rc;
        memcpy(out + lo * F, s->acts.h, (size_t)cnt * F * sizeof(float));
    }
    return BST_OK;
}
