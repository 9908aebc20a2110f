/* simclr.c — the SimCLR training step and feature extraction (simclr.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simclr.h"

enum { PIX = BST_AUG_SIDE * BST_AUG_SIDE };

void bst_simclr_cfg_default(bst_simclr_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    bst_encoder_cfg_default(&cfg->enc);
    cfg->loss = (bst_loss_cfg){
        .kind = BST_LOSS_INFONCE, .tau = 0.2, .tau_plus = 0.1, .beta = 1.0};
    bst_augment_params_default(&cfg->aug);
    cfg->batch = 256;
    cfg->weight_decay = 1e-6;
    cfg->seed = 0;
}

int bst_simclr_init(bst_simclr *s, const bst_simclr_cfg *cfg)
{
    memset(s, 0, sizeof *s);
    if (!cfg || cfg->batch < 2 || cfg->batch > (1 << 20) ||
        !(cfg->weight_decay >= 0) || bst_augment_check(&cfg->aug) ||
        bst_encoder_cfg_check(&cfg->enc) || !(cfg->loss.tau > 0))
        return BST_ERR_INVAL;
    s->cfg = *cfg;
    int N = 2 * cfg->batch, rc;
    if ((rc = bst_encoder_init(&s->enc, &cfg->enc, cfg->seed)) ||
        (rc = bst_encoder_acts_init(&s->acts, &cfg->enc, N)) ||
        (rc = bst_adamw_init(&s->opt, s->enc.params, s->enc.nparams, 0.9, 0.999,
                             1e-8, cfg->weight_decay)))
        goto fail;
    s->views = malloc((size_t)N * PIX * sizeof(float));
    s->dz = malloc((size_t)N * cfg->enc.out_dim * sizeof(float));
    if (!s->views || !s->dz) {
        rc = BST_ERR_NOMEM;
        goto fail;
    }
    return BST_OK;
fail:
    bst_simclr_free(s);
    return rc;
}

void bst_simclr_free(bst_simclr *s)
{
    bst_encoder_free(&s->enc);
    bst_encoder_acts_free(&s->acts);
    bst_adamw_free(&s->opt);
    free(s->views);
    free(s->dz);
    free(s->zg);
    free(s->dzg);
    free(s->grads);
    memset(s, 0, sizeof *s);
}

int bst_simclr_set_dist(bst_simclr *s, const bst_dist *d)
{
    if (!d || d->world < 1 || d->rank < 0 || d->rank >= d->world ||
        (d->world > 1 && (!d->allgather || !d->sum_f32 || !d->sum_f64)) ||
        (int64_t)d->world * s->cfg.batch > (1 << 20))
        return BST_ERR_INVAL;
    s->dist = *d;
    if (d->world == 1)
        return BST_OK;
    size_t G = (size_t)d->world * s->cfg.batch, D = s->cfg.enc.out_dim;
    free(s->zg);
    free(s->dzg);
    free(s->grads);
    s->zg = malloc(2 * G * D * sizeof(float));
    s->dzg = malloc(2 * G * D * sizeof(float));
    s->grads = malloc(bst_encoder_param_count(&s->enc) * sizeof(float));
    if (!s->zg || !s->dzg || !s->grads)
        return BST_ERR_NOMEM;
    for (int i = 0; i < s->enc.nbns; i++) {
        s->enc.bns[i]->sum = d->sum_f64;
        s->enc.bns[i]->sum_ctx = d->ctx;
    }
    return BST_OK;
}

/* W > 1: the projections of every process gathered into zg (view 0 of the
   global batch, then view 1), the loss of the global batch, and this
   process's rows of its gradient into dz. */
static int global_loss(bst_simclr *s, double *loss)
{
    const bst_dist *d = &s->dist;
    size_t B = (size_t)s->cfg.batch, D = s->cfg.enc.out_dim;
    size_t G = (size_t)d->world * B, row = B * D * sizeof(float);
    for (int v = 0; v < 2; v++)
        d->allgather(d->ctx, s->acts.z + v * B * D, s->zg + v * G * D, row);
    int rc = bst_contrastive_loss(&s->cfg.loss, s->zg, s->zg + G * D, (int)G,
                                  (int)D, loss, s->dzg, s->dzg + G * D);
    for (int v = 0; rc == BST_OK && v < 2; v++)
        memcpy(s->dz + v * B * D, s->dzg + v * G * D + d->rank * B * D, row);
    return rc;
}

/* W > 1: the parameter gradients summed over the processes. */
static void sum_grads(bst_simclr *s)
{
    size_t off = 0;
    for (int i = 0; i < s->enc.nparams; i++) {
        memcpy(s->grads + off, s->enc.params[i].g,
               s->enc.params[i].n * sizeof(float));
        off += s->enc.params[i].n;
    }
    s->dist.sum_f32(s->dist.ctx, s->grads, off);
    off = 0;
    for (int i = 0; i < s->enc.nparams; i++) {
        memcpy(s->enc.params[i].g, s->grads + off,
               s->enc.params[i].n * sizeof(float));
        off += s->enc.params[i].n;
    }
}

static void normalise(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - BST_FMNIST_MEAN) / BST_FMNIST_STD;
}

int bst_simclr_step(bst_simclr *s, const float *images, int64_t n,
                    const int64_t *idx, double lr, double *loss)
{
    int B = s->cfg.batch, N = 2 * B, D = s->cfg.enc.out_dim, rc;
    /* views keyed by the step (the augmentation's "epoch" argument), so a
       repeated id gets new views every step */
    for (int v = 0; v < 2; v++)
        if ((rc =
                 bst_augment_batch(&s->cfg.aug, images, n, idx, B, s->cfg.seed,
                                   s->step, v, s->views + (size_t)v * B * PIX)))
            return rc;
    normalise(s->views, (size_t)N * PIX);
    if ((rc = bst_encoder_forward(&s->enc, &s->acts, s->views, N, 1, 1)))
        return rc;
    int dist = s->dist.world > 1;
    s->z = dist ? s->zg : s->acts.z;
    const float *z = s->acts.z;
    if (dist)
        rc = global_loss(s, loss);
    else
        rc = bst_contrastive_loss(&s->cfg.loss, z, z + (size_t)B * D, B, D,
                                  loss, s->dz, s->dz + (size_t)B * D);
    if (rc)
        return rc;
    if (!isfinite(*loss)) /* the same on every process */
        return BST_ERR_INVAL;
    bst_zero_grads(s->enc.params, s->enc.nparams);
    if ((rc = bst_encoder_backward(&s->enc, &s->acts, s->views, s->dz, N)))
        return rc;
    if (dist)
        sum_grads(s);
    bst_adamw_step(&s->opt, s->enc.params, s->enc.nparams, lr);
    s->step++;
    return BST_OK;
}

int bst_simclr_features(bst_simclr *s, const float *images, int64_t n,
                        float *out)
{
    int chunk = 2 * s->cfg.batch, F = bst_encoder_feat_dim(&s->cfg.enc), rc;
    for (int64_t lo = 0; lo < n; lo += chunk) {
        int m = (int)(n - lo < chunk ? n - lo : chunk);
        memcpy(s->views, images + lo * PIX, (size_t)m * PIX * sizeof(float));
        normalise(s->views, (size_t)m * PIX);
        if ((rc = bst_encoder_forward(&s->enc, &s->acts, s->views, m, 0, 0)))
            return rc;
        memcpy(out + lo * F, s->acts.h, (size_t)m * F * sizeof(float));
    }
    return BST_OK;
}
