/* gin.c — graph layers over a batch of graphs and GraphCL's loss (gin.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gin.h"
#include "rng.h"

/* ------------------------------------------------------- sum aggregation */

void bst_gsum_aggregate_forward(const bst_gbatch *g, const float *x, float *y,
                                int d)
{
    int64_t n = g->nodes;
#pragma omp parallel for schedule(static)
    for (int64_t v = 0; v < n; v++) {
        float *yv = y + (size_t)v * d;
        memcpy(yv, x + (size_t)v * d, sizeof(float) * (size_t)d);
        for (int64_t e = g->adj_off[v]; e < g->adj_off[v + 1]; e++) {
            const float *xu = x + (size_t)g->adj[e] * d;
            for (int c = 0; c < d; c++)
                yv[c] += xu[c];
        }
    }
}

void bst_gsum_aggregate_backward(const bst_gbatch *g, const float *dy,
                                 float *dx, int d)
{
    memcpy(dx, dy, sizeof(float) * (size_t)g->nodes * d);
    /* edges stay inside a graph: graphs scatter independently, each in
       CSR order, so the sums do not depend on the thread count */
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t gi = 0; gi < g->graphs; gi++)
        for (int64_t v = g->node_off[gi]; v < g->node_off[gi + 1]; v++) {
            const float *dyv = dy + (size_t)v * d;
            for (int64_t e = g->adj_off[v]; e < g->adj_off[v + 1]; e++) {
                float *dxu = dx + (size_t)g->adj[e] * d;
                for (int c = 0; c < d; c++)
                    dxu[c] += dyv[c];
            }
        }
}

/* ----------------------------------------------------- global add pool */

void bst_gsum_pool_forward(const bst_gbatch *g, const float *x, int d, float *y,
                           int ldy)
{
#pragma omp parallel for schedule(static)
    for (int64_t gi = 0; gi < g->graphs; gi++) {
        float *yg = y + (size_t)gi * ldy;
        memset(yg, 0, sizeof(float) * (size_t)d);
        for (int64_t v = g->node_off[gi]; v < g->node_off[gi + 1]; v++)
            for (int c = 0; c < d; c++)
                yg[c] += x[(size_t)v * d + c];
    }
}

void bst_gsum_pool_backward(const bst_gbatch *g, const float *dy, int ldy,
                            float *dx, int d)
{
#pragma omp parallel for schedule(static)
    for (int64_t gi = 0; gi < g->graphs; gi++)
        for (int64_t v = g->node_off[gi]; v < g->node_off[gi + 1]; v++)
            memcpy(dx + (size_t)v * d, dy + (size_t)gi * ldy,
                   sizeof(float) * (size_t)d);
}

/* ------------------------------------------------------------- concat */

static void concat_copy(float *const *parts, const int *w, int k, int64_t rows,
                        float *whole, int to_whole)
{
    int total = 0;
    for (int i = 0; i < k; i++)
        total += w[i];
    for (int64_t r = 0; r < rows; r++)
        for (int i = 0, off = 0; i < k; off += w[i], i++) {
            float *a = whole + (size_t)r * total + off;
            float *b = parts[i] + (size_t)r * w[i];
            memcpy(to_whole ? a : b, to_whole ? b : a,
                   sizeof(float) * (size_t)w[i]);
        }
}

void bst_concat_forward(const float *const *xs, const int *w, int k,
                        int64_t rows, float *y)
{
    /* the parts are only read when to_whole is set */
    concat_copy((float *const *)(uintptr_t)xs, w, k, rows, y, 1);
}

void bst_concat_backward(const float *dy, const int *w, int k, int64_t rows,
                         float *const *dxs)
{
    concat_copy(dxs, w, k, rows, (float *)(uintptr_t)dy, 0);
}

/* ------------------------------------------------------------ GIN layer */

void bst_linear_xavier(bst_linear *l, uint64_t seed, uint64_t index)
{
    bs_rng r;
    bs_rng_derive(&r, seed, BST_STREAM_INIT, index);
    double b = sqrt(6.0 / (l->in + l->out));
    size_t n = (size_t)l->in * l->out;
    for (size_t i = 0; i < n; i++)
        l->W[i] = (float)(b * (2.0 * bs_rng_uniform(&r) - 1.0));
    if (l->b)
        memset(l->b, 0, sizeof(float) * (size_t)l->out);
}

int bst_gin_layer_init(bst_gin_layer *l, int in, int dim)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || dim < 1)
        return BST_ERR_INVAL;
    l->in = in;
    l->dim = dim;
    int rc = bst_linear_init(&l->l1, in, dim, 1);
    if (!rc)
        rc = bst_linear_init(&l->l2, dim, dim, 1);
    if (!rc)
        rc = bst_batchnorm_init(&l->bn, dim);
    if (rc)
        bst_gin_layer_free(l);
    return rc;
}

void bst_gin_layer_free(bst_gin_layer *l)
{
    bst_linear_free(&l->l1);
    bst_linear_free(&l->l2);
    bst_batchnorm_free(&l->bn);
    memset(l, 0, sizeof *l);
}

void bst_gin_layer_reset(bst_gin_layer *l, uint64_t seed, uint64_t index)
{
    bst_linear_xavier(&l->l1, seed, 2 * index);
    bst_linear_xavier(&l->l2, seed, 2 * index + 1);
    for (int c = 0; c < l->dim; c++) {
        l->bn.gamma[c] = 1, l->bn.beta[c] = 0;
        l->bn.running_mean[c] = 0, l->bn.running_var[c] = 1;
    }
}

int bst_gin_layer_params(bst_gin_layer *l, bst_param out[6])
{
    int n = bst_linear_params(&l->l1, out);
    n += bst_linear_params(&l->l2, out + n);
    n += bst_batchnorm_params(&l->bn, out + n);
    return n;
}

void bst_gin_acts_free(bst_gin_acts *a)
{
    free(a->agg);
    free(a->h1);
    free(a->h2);
    free(a->r);
    free(a->y);
    free(a->dh);
    free(a->dagg);
    free(a->bn_mean);
    free(a->bn_invstd);
    memset(a, 0, sizeof *a);
}

int bst_gin_acts_reserve(bst_gin_acts *a, const bst_gin_layer *l, int64_t nodes)
{
    if (!a->bn_mean) {
        a->bn_mean = malloc(sizeof(double) * (size_t)l->dim);
        a->bn_invstd = malloc(sizeof(double) * (size_t)l->dim);
        if (!a->bn_mean || !a->bn_invstd)
            return BST_ERR_NOMEM;
    }
    if (nodes <= a->cap)
        return BST_OK;
    int64_t cap = nodes > 2 * a->cap ? nodes : 2 * a->cap;
    float **bufs[7] = {&a->agg, &a->dagg, &a->h1, &a->h2, &a->r, &a->y, &a->dh};
    for (int i = 0; i < 7; i++) {
        size_t w = (size_t)(i < 2 ? l->in : l->dim);
        float *p = realloc(*bufs[i], sizeof(float) * (size_t)cap * w);
        if (!p)
            return BST_ERR_NOMEM;
        *bufs[i] = p;
    }
    a->cap = cap;
    return BST_OK;
}

void bst_gin_layer_forward(bst_gin_layer *l, const bst_gbatch *g,
                           const float *x, bst_gin_acts *a, int train)
{
    int n = (int)g->nodes;
    size_t nd = (size_t)n * l->dim;
    bst_gsum_aggregate_forward(g, x, a->agg, l->in);
    bst_linear_forward(&l->l1, a->agg, a->h1, n);
    bst_relu_forward(a->h1, a->h1, nd);
    bst_linear_forward(&l->l2, a->h1, a->h2, n);
    bst_relu_forward(a->h2, a->r, nd);
    bst_batchnorm_forward(&l->bn, a->r, a->y, n, 1, train);
    if (train) {
        memcpy(a->bn_mean, l->bn.mean, sizeof(double) * (size_t)l->dim);
        memcpy(a->bn_invstd, l->bn.invstd, sizeof(double) * (size_t)l->dim);
    }
}

void bst_gin_layer_backward(bst_gin_layer *l, const bst_gbatch *g,
                            const float *x, bst_gin_acts *a, float *dy,
                            float *dx, int train)
{
    (void)x; /* the layer's input enters the backward through a->agg */
    int n = (int)g->nodes;
    size_t nd = (size_t)n * l->dim;
    float *dh = a->dh, *dagg = dx ? a->dagg : NULL;
    if (train) {
        memcpy(l->bn.mean, a->bn_mean, sizeof(double) * (size_t)l->dim);
        memcpy(l->bn.invstd, a->bn_invstd, sizeof(double) * (size_t)l->dim);
    }
    /* dy -> d r (BN) -> d h2 (ReLU mask of r) -> d h1 -> d agg -> dx */
    bst_batchnorm_backward(&l->bn, a->r, dy, dh, n, 1, train);
    bst_relu_backward(a->r, dh, dh, nd);
    bst_linear_backward(&l->l2, a->h1, dh, dy, n);
    bst_relu_backward(a->h1, dy, dy, nd);
    bst_linear_backward(&l->l1, a->agg, dy, dagg, n);
    if (dx)
        bst_gsum_aggregate_backward(g, dagg, dx, l->in);
}

/* ------------------------------------------------------- GraphCL loss */

/* unit rows and norms of x (B, d) in double */
static void unit_rows(const float *x, int B, int d, double *u, double *norm)
{
    for (int i = 0; i < B; i++) {
        double s = 0;
        for (int c = 0; c < d; c++)
            s += (double)x[(size_t)i * d + c] * x[(size_t)i * d + c];
        norm[i] = fmax(sqrt(s), 1e-12);
        for (int c = 0; c < d; c++)
            u[(size_t)i * d + c] = x[(size_t)i * d + c] / norm[i];
    }
}

/* dx_i = (du_i - u_i (u_i . du_i)) / |x_i| */
static void unit_rows_backward(const double *u, const double *norm,
                               const double *du, int B, int d, float *dx)
{
    for (int i = 0; i < B; i++) {
        const double *ui = u + (size_t)i * d, *dui = du + (size_t)i * d;
        double dot = 0;
        for (int c = 0; c < d; c++)
            dot += ui[c] * dui[c];
        for (int c = 0; c < d; c++)
            dx[(size_t)i * d + c] = (float)((dui[c] - ui[c] * dot) / norm[i]);
    }
}

/* S (B, B) = u1 u2^T / tau; rows -> G = dloss/dS; returns the loss */
static double loss_rows(double *S, int B, double tau)
{
    double total = 0;
    for (int i = 0; i < B; i++) {
        double *row = S + (size_t)i * B, mx = -INFINITY, den = 0;
        for (int j = 0; j < B; j++)
            if (j != i && row[j] > mx)
                mx = row[j];
        for (int j = 0; j < B; j++)
            den += j == i ? 0 : exp(row[j] - mx);
        total += -(row[i] - mx - log(den));
        for (int j = 0; j < B; j++)
            row[j] = (j == i ? -1.0 : exp(row[j] - mx) / den) / B / tau;
    }
    return total / B;
}

int bst_graphcl_loss(const float *x1, const float *x2, int B, int d, double tau,
                     double *loss, float *dx1, float *dx2)
{
    if (!(tau > 0) || B < 2 || d < 1)
        return BST_ERR_INVAL;
    size_t bd = (size_t)B * d;
    double *buf = malloc(sizeof(double) * (4 * bd + (size_t)B * B + 2 * B));
    if (!buf)
        return BST_ERR_NOMEM;
    double *u1 = buf, *u2 = u1 + bd, *du1 = u2 + bd, *du2 = du1 + bd;
    double *S = du2 + bd, *n1 = S + (size_t)B * B, *n2 = n1 + B;
    unit_rows(x1, B, d, u1, n1);
    unit_rows(x2, B, d, u2, n2);
    /* small (B <= a few hundred): plain double loops in a fixed order */
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double s = 0;
            for (int c = 0; c < d; c++)
                s += u1[(size_t)i * d + c] * u2[(size_t)j * d + c];
            S[(size_t)i * B + j] = s / tau;
        }
    *loss = loss_rows(S, B, tau); /* S now holds dloss/d(u1 u2^T) */
    if (dx1 && dx2) {
        memset(du1, 0, sizeof(double) * 2 * bd);
        for (int i = 0; i < B; i++)
            for (int j = 0; j < B; j++) {
                double gij = S[(size_t)i * B + j];
                for (int c = 0; c < d; c++) {
                    du1[(size_t)i * d + c] += gij * u2[(size_t)j * d + c];
                    du2[(size_t)j * d + c] += gij * u1[(size_t)i * d + c];
                }
            }
        unit_rows_backward(u1, n1, du1, B, d, dx1);
        unit_rows_backward(u2, n2, du2, B, d, dx2);
    }
    free(buf);
    return isfinite(*loss) ? BST_OK : BST_ERR_INVAL;
}

/* ------------------------------------------------------- GIN encoder */

int bst_gin_encoder_init(bst_gin_encoder *e, int in, int dim, int layers)
{
    memset(e, 0, sizeof *e);
    if (layers < 1 || layers > BST_GIN_MAX_LAYERS)
        return BST_ERR_INVAL;
    e->in = in, e->dim = dim;
    for (int i = 0; i < layers; i++) {
        int rc = bst_gin_layer_init(&e->l[i], i ? dim : in, dim);
        e->layers = i + 1;
        if (rc) {
            bst_gin_encoder_free(e);
            return rc;
        }
    }
    return BST_OK;
}

void bst_gin_encoder_free(bst_gin_encoder *e)
{
    for (int i = 0; i < e->layers; i++)
        bst_gin_layer_free(&e->l[i]);
    memset(e, 0, sizeof *e);
}

void bst_gin_encoder_reset(bst_gin_encoder *e, uint64_t seed, uint64_t index)
{
    for (int i = 0; i < e->layers; i++)
        bst_gin_layer_reset(&e->l[i], seed, index + (uint64_t)i);
}

int bst_gin_encoder_params(bst_gin_encoder *e, bst_param *out)
{
    int n = 0;
    for (int i = 0; i < e->layers; i++)
        n += bst_gin_layer_params(&e->l[i], out + n);
    return n;
}

int bst_gin_encoder_emb_dim(const bst_gin_encoder *e)
{
    return e->layers * e->dim;
}

void bst_gin_enc_acts_free(bst_gin_enc_acts *a)
{
    for (int i = 0; i < BST_GIN_MAX_LAYERS; i++)
        bst_gin_acts_free(&a->a[i]);
    free(a->emb);
    free(a->dcur);
    free(a->dnext);
    memset(a, 0, sizeof *a);
}

static int enc_reserve(bst_gin_encoder *e, const bst_gbatch *g,
                       bst_gin_enc_acts *a)
{
    for (int i = 0; i < e->layers; i++)
        if (bst_gin_acts_reserve(&a->a[i], &e->l[i], g->nodes))
            return BST_ERR_NOMEM;
    if (g->graphs > a->graphs_cap) {
        float *p = realloc(a->emb, sizeof(float) * (size_t)g->graphs *
                                       (size_t)bst_gin_encoder_emb_dim(e));
        if (!p)
            return BST_ERR_NOMEM;
        a->emb = p, a->graphs_cap = g->graphs;
    }
    if (g->nodes > a->nodes_cap) {
        size_t n = sizeof(float) * (size_t)g->nodes * (size_t)e->dim;
        float *p = realloc(a->dcur, n), *q = p ? realloc(a->dnext, n) : NULL;
        if (p)
            a->dcur = p;
        if (!p || !q)
            return BST_ERR_NOMEM;
        a->dnext = q, a->nodes_cap = g->nodes;
    }
    return BST_OK;
}

int bst_gin_encoder_forward(bst_gin_encoder *e, const bst_gbatch *g,
                            const float *x, bst_gin_enc_acts *a, int train)
{
    if (enc_reserve(e, g, a))
        return BST_ERR_NOMEM;
    int E = bst_gin_encoder_emb_dim(e);
    for (int i = 0; i < e->layers; i++) {
        bst_gin_layer_forward(&e->l[i], g, i ? a->a[i - 1].y : x, &a->a[i],
                              train);
        bst_gsum_pool_forward(g, a->a[i].y, e->dim, a->emb + i * e->dim, E);
    }
    return BST_OK;
}

void bst_gin_encoder_backward(bst_gin_encoder *e, const bst_gbatch *g,
                              const float *x, bst_gin_enc_acts *a,
                              const float *demb, int train)
{
    int E = bst_gin_encoder_emb_dim(e);
    size_t nd = (size_t)g->nodes * (size_t)e->dim;
    for (int i = e->layers - 1; i >= 0; i--) {
        /* d out_i = pooled gradient + what layer i+1 sent back */
        bst_gsum_pool_backward(g, demb + i * e->dim, E, a->dcur, e->dim);
        if (i + 1 < e->layers)
            bst_add_inplace(a->dcur, a->dnext, nd);
        bst_gin_layer_backward(&e->l[i], g, i ? a->a[i - 1].y : x, &a->a[i],
                               a->dcur, i ? a->dnext : NULL, train);
    }
}
