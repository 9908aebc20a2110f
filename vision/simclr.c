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
    memset(s, 0, sizeof *s);
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
    s->z = s->acts.z;
    const float *z = s->acts.z;
    if ((rc = bst_contrastive_loss(&s->cfg.loss, z, z + (size_t)B * D, B, D,
                                   loss, s->dz, s->dz + (size_t)B * D)))
        return rc;
    if (!isfinite(*loss))
        return BST_ERR_INVAL;
    bst_zero_grads(s->enc.params, s->enc.nparams);
    if ((rc = bst_encoder_backward(&s->enc, &s->acts, s->views, s->dz, N)))
        return rc;
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
