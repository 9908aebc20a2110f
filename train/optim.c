/* optim.c — AdamW (torch.optim.AdamW semantics), warm-up + cosine learning
   rate schedule, Kaiming initialisation, gradient zeroing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "rng.h"

#define BST_PI 3.14159265358979323846

void bst_zero_grads(const bst_param *ps, int np)
{
    for (int i = 0; i < np; i++)
        memset(ps[i].g, 0, ps[i].n * sizeof(float));
}

int bst_adamw_init(bst_adamw *o, const bst_param *ps, int np, double beta1,
                   double beta2, double eps, double weight_decay)
{
    memset(o, 0, sizeof *o);
    if (np < 0 || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) ||
        !(eps > 0) || weight_decay < 0)
        return BST_ERR_INVAL;
    size_t n = 0;
    for (int i = 0; i < np; i++)
        n += ps[i].n;
    *o = (bst_adamw){.beta1 = beta1,
                     .beta2 = beta2,
                     .eps = eps,
                     .weight_decay = weight_decay,
                     .n = n};
    o->m = calloc(n ? n : 1, sizeof(float));
    o->v = calloc(n ? n : 1, sizeof(float));
    if (!o->m || !o->v) {
        bst_adamw_free(o);
        return BST_ERR_NOMEM;
    }
    return BST_OK;
}

void bst_adamw_free(bst_adamw *o)
{
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void bst_adamw_step(bst_adamw *o, const bst_param *ps, int np, double lr)
{
    o->t++;
    double b1 = o->beta1, b2 = o->beta2;
    double c1 = 1.0 - pow(b1, (double)o->t), c2 = 1.0 - pow(b2, (double)o->t);
    size_t off = 0;
    for (int i = 0; i < np; i++) {
        double decay = ps[i].decay ? 1.0 - lr * o->weight_decay : 1.0;
        float *m = o->m + off, *v = o->v + off;
        for (size_t q = 0; q < ps[i].n; q++) {
            double g = ps[i].g[q];
            m[q] = (float)(b1 * m[q] + (1.0 - b1) * g);
            v[q] = (float)(b2 * v[q] + (1.0 - b2) * g * g);
            double mhat = m[q] / c1, vhat = v[q] / c2;
            double w = ps[i].w[q] * decay; /* decoupled decay first */
            ps[i].w[q] = (float)(w - lr * mhat / (sqrt(vhat) + o->eps));
        }
        off += ps[i].n;
    }
}

double bst_lr_at(long step, long warmup, long total, double base_lr,
                 double min_lr)
{
    if (step < warmup)
        return base_lr * (double)(step + 1) / (double)warmup;
    if (step >= total || total <= warmup)
        return min_lr;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + cos(BST_PI * progress));
}

void bst_ema_update(const bst_param *dst, const bst_param *src, int np,
                    double m)
{
    for (int i = 0; i < np; i++) {
        float *d = dst[i].w;
        const float *s = src[i].w;
        for (size_t q = 0; q < dst[i].n; q++)
            d[q] = (float)(m * d[q] + (1.0 - m) * s[q]);
    }
}

double bst_momentum_at(long step, long total, double m0)
{
    if (total <= 0 || step >= total)
        return 1.0;
    double progress = (double)step / (double)total;
    return 1.0 - 0.5 * (1.0 + cos(BST_PI * progress)) * (1.0 - m0);
}

void bst_kaiming_normal(float *w, size_t n, int fan_in, uint64_t seed,
                        uint64_t index)
{
    bs_rng r;
    bs_rng_derive(&r, seed, BST_STREAM_INIT, index);
    double std = sqrt(2.0 / fan_in);
    /* Box-Muller, both outputs used */
    for (size_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - bs_rng_uniform(&r); /* (0, 1]: log is finite */
        double u2 = bs_rng_uniform(&r);
        double rad = sqrt(-2.0 * log(u1));
        w[i] = (float)(std * rad * cos(2.0 * BST_PI * u2));
        if (i + 1 < n)
            w[i + 1] = (float)(std * rad * sin(2.0 * BST_PI * u2));
    }
}
