/* encoder.c — the SimCLR ResNet encoder and projection head (encoder.h):
   layer wiring, buffer planning, one forward and one backward. */
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "image_augment.h"

enum { IMG = BST_AUG_SIDE }; /* 28 */

/* Spatial sides of each stage: 28 (stem conv), 14 (after the pool), 7, 4. */
static const int SIDE_IN[3] = {14, 14, 7};
static const int SIDE_OUT[3] = {14, 7, 4};

void bst_encoder_cfg_default(bst_encoder_cfg *cfg)
{
    *cfg = (bst_encoder_cfg){.width = 16, .proj_dim = 64, .out_dim = 128};
}

int bst_encoder_cfg_check(const bst_encoder_cfg *cfg)
{
    if (!cfg || cfg->width < 1 || cfg->width > 4096 || cfg->proj_dim < 1 ||
        cfg->proj_dim > 4096 || cfg->out_dim < 1 || cfg->out_dim > 4096)
        return BST_ERR_INVAL;
    return BST_OK;
}

int bst_encoder_feat_dim(const bst_encoder_cfg *cfg)
{
    return 4 * cfg->width;
}

/* ------------------------------------------------------------------ setup */

static void add_params(bst_encoder *e, bst_param *ps, int n)
{
    for (int i = 0; i < n; i++)
        e->params[e->nparams++] = ps[i];
}

static void add_bn(bst_encoder *e, bst_batchnorm *bn)
{
    bst_param ps[2];
    add_params(e, ps, bst_batchnorm_params(bn, ps));
    e->bns[e->nbns++] = bn;
}

static void add_conv(bst_encoder *e, bst_conv2d *c, uint64_t seed, int *layer)
{
    bst_param ps[2];
    bst_conv2d_reset(c, seed, (uint64_t)(*layer)++);
    add_params(e, ps, bst_conv2d_params(c, ps));
}

static int block_init(bst_encoder *e, bst_block *b, int cin, int cout,
                      int stride, uint64_t seed, int *layer)
{
    b->cin = cin, b->cout = cout, b->stride = stride;
    b->down = stride != 1 || cin != cout;
    int rc = bst_conv2d_init(&b->c1, cin, cout, 3, stride, 1, 0);
    if (!rc)
        rc = bst_batchnorm_init(&b->b1, cout);
    if (!rc)
        rc = bst_conv2d_init(&b->c2, cout, cout, 3, 1, 1, 0);
    if (!rc)
        rc = bst_batchnorm_init(&b->b2, cout);
    if (!rc && b->down)
        rc = bst_conv2d_init(&b->cs, cin, cout, 1, stride, 0, 0);
    if (!rc && b->down)
        rc = bst_batchnorm_init(&b->bs, cout);
    if (rc)
        return rc;
    add_conv(e, &b->c1, seed, layer);
    add_bn(e, &b->b1);
    add_conv(e, &b->c2, seed, layer);
    add_bn(e, &b->b2);
    if (b->down) {
        add_conv(e, &b->cs, seed, layer);
        add_bn(e, &b->bs);
    }
    return BST_OK;
}

int bst_encoder_init(bst_encoder *e, const bst_encoder_cfg *cfg, uint64_t seed)
{
    memset(e, 0, sizeof *e);
    if (bst_encoder_cfg_check(cfg))
        return BST_ERR_INVAL;
    e->cfg = *cfg;
    int w = cfg->width, layer = 0, rc;
    rc = bst_conv2d_init(&e->stem, 1, w, 3, 1, 1, 0);
    if (!rc)
        rc = bst_batchnorm_init(&e->stem_bn, w);
    if (!rc) {
        add_conv(e, &e->stem, seed, &layer);
        add_bn(e, &e->stem_bn);
    }
    int chans[4] = {w, w, 2 * w, 4 * w};
    for (int i = 0; i < 3 && !rc; i++)
        rc = block_init(e, &e->blk[i], chans[i], chans[i + 1], i ? 2 : 1, seed,
                        &layer);
    if (!rc)
        rc = bst_linear_init(&e->fc1, 4 * w, cfg->proj_dim, 0);
    if (!rc)
        rc = bst_batchnorm_init(&e->head_bn, cfg->proj_dim);
    if (!rc)
        rc = bst_linear_init(&e->fc2, cfg->proj_dim, cfg->out_dim, 1);
    if (rc) {
        bst_encoder_free(e);
        return rc;
    }
    bst_param ps[2];
    bst_linear_reset(&e->fc1, seed, (uint64_t)layer++);
    add_params(e, ps, bst_linear_params(&e->fc1, ps));
    add_bn(e, &e->head_bn);
    bst_linear_reset(&e->fc2, seed, (uint64_t)layer++);
    add_params(e, ps, bst_linear_params(&e->fc2, ps));
    return BST_OK;
}

void bst_encoder_free(bst_encoder *e)
{
    bst_conv2d_free(&e->stem);
    bst_batchnorm_free(&e->stem_bn);
    for (int i = 0; i < 3; i++) {
        bst_block *b = &e->blk[i];
        bst_conv2d_free(&b->c1);
        bst_conv2d_free(&b->c2);
        bst_conv2d_free(&b->cs);
        bst_batchnorm_free(&b->b1);
        bst_batchnorm_free(&b->b2);
        bst_batchnorm_free(&b->bs);
    }
    bst_linear_free(&e->fc1);
    bst_linear_free(&e->fc2);
    bst_batchnorm_free(&e->head_bn);
    memset(e, 0, sizeof *e);
}

size_t bst_encoder_param_count(const bst_encoder *e)
{
    size_t n = 0;
    for (int i = 0; i < e->nparams; i++)
        n += e->params[i].n;
    return n;
}

/* ---------------------------------------------------------------- buffers */

static float *buf(size_t n, int *ok)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    *ok &= p != NULL;
    return p;
}

int bst_encoder_acts_init(bst_encoder_acts *a, const bst_encoder_cfg *cfg,
                          int max_n)
{
    memset(a, 0, sizeof *a);
    if (bst_encoder_cfg_check(cfg) || max_n < 1)
        return BST_ERR_INVAL;
    size_t N = (size_t)max_n, w = (size_t)cfg->width;
    size_t P = (size_t)cfg->proj_dim, D = (size_t)cfg->out_dim;
    int ok = 1;
    a->max_n = max_n;
    size_t stem = N * w * IMG * IMG, pooled = N * w * 14 * 14;
    a->c0 = buf(stem, &ok);
    a->arg0 = malloc(pooled ? pooled : 1);
    ok &= a->arg0 != NULL;
    a->dc0 = buf(stem, &ok);
    a->p0 = buf(pooled, &ok), a->dp0 = buf(pooled, &ok);
    size_t chans[4] = {w, w, 2 * w, 4 * w};
    for (int i = 0; i < 3; i++) {
        bst_block_acts *b = &a->blk[i];
        size_t in = N * chans[i] * SIDE_IN[i] * SIDE_IN[i];
        size_t out = N * chans[i + 1] * SIDE_OUT[i] * SIDE_OUT[i];
        float **outs[] = {&b->c1, &b->r1, &b->c2,  &b->b2,  &b->cs,  &b->bs,
                          &b->y,  &b->dy, &b->dc2, &b->dr1, &b->dc1, &b->dcs};
        for (size_t j = 0; j < sizeof outs / sizeof outs[0]; j++)
            *outs[j] = buf(out, &ok);
        b->dx2 = buf(in, &ok);
    }
    a->h = buf(N * 4 * w, &ok), a->dh = buf(N * 4 * w, &ok);
    a->f1 = buf(N * P, &ok), a->r = buf(N * P, &ok);
    a->df1 = buf(N * P, &ok), a->dr = buf(N * P, &ok);
    a->f2 = buf(N * D, &ok), a->z = buf(N * D, &ok), a->df2 = buf(N * D, &ok);
    if (!ok) {
        bst_encoder_acts_free(a);
        return BST_ERR_NOMEM;
    }
    return BST_OK;
}

void bst_encoder_acts_free(bst_encoder_acts *a)
{
    free(a->arg0);
    float **all[] = {&a->c0, &a->p0, &a->h,   &a->f1,  &a->r,   &a->f2, &a->z,
                     &a->dh, &a->dr, &a->df1, &a->df2, &a->dp0, &a->dc0};
    for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
        free(*all[j]);
    for (int i = 0; i < 3; i++) {
        bst_block_acts *b = &a->blk[i];
        float **outs[] = {&b->c1,  &b->r1,  &b->c2, &b->b2,  &b->cs,
                          &b->bs,  &b->y,   &b->dy, &b->dc2, &b->dr1,
                          &b->dc1, &b->dcs, &b->dx2};
        for (size_t j = 0; j < sizeof outs / sizeof outs[0]; j++)
            free(*outs[j]);
    }
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- forward */

/* y = max(a + b, 0): the residual join, one pass */
static void add_relu(const float *a, const float *b, float *y, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
    for (size_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

/* x (N, cin, H, H) -> b->y (N, cout, Ho, Ho) */
static int block_forward(bst_block *b, bst_block_acts *a, const float *x, int N,
                         int H, int train)
{
    int Ho = bst_conv2d_out(H, 3, b->stride, 1), S = Ho * Ho;
    size_t out = (size_t)N * b->cout * S;
    int rc = bst_conv2d_forward(&b->c1, x, a->c1, N, H, H);
    if (rc)
        return rc;
    bst_batchnorm_relu_forward(&b->b1, a->c1, a->r1, N, S, train);
    if ((rc = bst_conv2d_forward(&b->c2, a->r1, a->c2, N, Ho, Ho)))
        return rc;
    bst_batchnorm_forward(&b->b2, a->c2, a->b2, N, S, train);
    const float *skip = x;
    if (b->down) {
        if ((rc = bst_conv2d_forward(&b->cs, x, a->cs, N, H, H)))
            return rc;
        bst_batchnorm_forward(&b->bs, a->cs, a->bs, N, S, train);
        skip = a->bs;
    }
    add_relu(a->b2, skip, a->y, out);
    return BST_OK;
}

int bst_encoder_forward(bst_encoder *e, bst_encoder_acts *a, const float *x,
                        int N, int train, int head)
{
    if (N < 1 || N > a->max_n || (train && N < 2))
        return BST_ERR_INVAL;
    int w = e->cfg.width, rc;
    if ((rc = bst_conv2d_forward(&e->stem, x, a->c0, N, IMG, IMG)))
        return rc;
    bst_batchnorm_relu_pool2_forward(&e->stem_bn, a->c0, a->p0, a->arg0, N, IMG,
                                     IMG, train);
    const float *in = a->p0;
    for (int i = 0; i < 3; i++) {
        if ((rc = block_forward(&e->blk[i], &a->blk[i], in, N, SIDE_IN[i],
                                train)))
            return rc;
        in = a->blk[i].y;
    }
    bst_gap_forward(in, a->h, N, 4 * w, 16);
    if (!head)
        return BST_OK;
    bst_linear_forward(&e->fc1, a->h, a->f1, N);
    bst_batchnorm_relu_forward(&e->head_bn, a->f1, a->r, N, 1, train);
    bst_linear_forward(&e->fc2, a->r, a->f2, N);
    bst_l2norm_forward(a->f2, a->z, N, e->cfg.out_dim);
    return BST_OK;
}

/* --------------------------------------------------------------- backward */

/* a->dy (N, cout, Ho, Ho) holds dloss/dy; writes dx (N, cin, H, H).  a->dy
   is overwritten (it becomes the gradient at the pre-ReLU sum). */
static int block_backward(bst_block *b, bst_block_acts *a, const float *x,
                          float *dx, int N, int H)
{
    int Ho = bst_conv2d_out(H, 3, b->stride, 1), S = Ho * Ho, rc;
    size_t out = (size_t)N * b->cout * S;
    bst_relu_backward(a->y, a->dy, a->dy, out);
    bst_batchnorm_backward(&b->b2, a->c2, a->dy, a->dc2, N, S, 1);
    if ((rc = bst_conv2d_backward(&b->c2, a->r1, a->dc2, a->dr1, N, Ho, Ho)))
        return rc;
    bst_batchnorm_relu_backward(&b->b1, a->c1, a->r1, a->dr1, a->dc1, N, S, 1);
    if ((rc = bst_conv2d_backward(&b->c1, x, a->dc1, dx, N, H, H)))
        return rc;
    if (!b->down) {
        bst_add_inplace(dx, a->dy, out);
        return BST_OK;
    }
    bst_batchnorm_backward(&b->bs, a->cs, a->dy, a->dcs, N, S, 1);
    if ((rc = bst_conv2d_backward(&b->cs, x, a->dcs, a->dx2, N, H, H)))
        return rc;
    bst_add_inplace(dx, a->dx2, (size_t)N * b->cin * H * H);
    return BST_OK;
}

int bst_encoder_backward(bst_encoder *e, bst_encoder_acts *a, const float *x,
                         const float *dz, int N)
{
    if (N < 2 || N > a->max_n)
        return BST_ERR_INVAL;
    bst_l2norm_backward(a->f2, a->z, dz, a->df2, N, e->cfg.out_dim);
    bst_linear_backward(&e->fc2, a->r, a->df2, a->dr, N);
    bst_batchnorm_relu_backward(&e->head_bn, a->f1, a->r, a->dr, a->df1, N, 1,
                                1);
    bst_linear_backward(&e->fc1, a->h, a->df1, a->dh, N);
    return bst_encoder_backward_feat(e, a, x, a->dh, N);
}

int bst_encoder_backward_feat(bst_encoder *e, bst_encoder_acts *a,
                              const float *x, const float *dh, int N)
{
    if (N < 2 || N > a->max_n || !dh)
        return BST_ERR_INVAL;
    int w = e->cfg.width, rc;
    bst_gap_backward(dh, a->blk[2].dy, N, 4 * w, 16);
    for (int i = 2; i >= 0; i--) {
        const float *in = i ? a->blk[i - 1].y : a->p0;
        float *din = i ? a->blk[i - 1].dy : a->dp0;
        if ((rc = block_backward(&e->blk[i], &a->blk[i], in, din, N,
                                 SIDE_IN[i])))
            return rc;
    }
    bst_batchnorm_relu_pool2_backward(&e->stem_bn, a->c0, a->p0, a->arg0,
                                      a->dp0, a->dc0, N, IMG, IMG, 1);
    return bst_conv2d_backward(&e->stem, x, a->dc0, NULL, N, IMG, IMG);
}
