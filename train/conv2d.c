/* conv2d.c — 2-D convolution (NCHW, square kernel, stride, zero padding)
   by im2col + sgemm, one sample at a time, OpenMP over the batch.

   Determinism: samples are independent in the forward and for dx; the
   weight gradient is summed per fixed-size chunk of samples (CONV_CHUNK,
   independent of the thread count) and the chunks are added in order, so
   the result does not depend on how many threads ran. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "engine.h"

enum { CONV_CHUNK = 4 }; /* samples per weight-gradient partial sum */

int bst_conv2d_init(bst_conv2d *c, int cin, int cout, int k, int stride,
                    int pad, int bias)
{
    memset(c, 0, sizeof *c);
    if (cin <= 0 || cout <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return BST_ERR_INVAL;
    *c = (bst_conv2d){
        .cin = cin, .cout = cout, .k = k, .stride = stride, .pad = pad};
    size_t nw = (size_t)cout * cin * k * k;
    c->W = calloc(nw, sizeof(float));
    c->dW = calloc(nw, sizeof(float));
    if (bias) {
        c->b = calloc((size_t)cout, sizeof(float));
        c->db = calloc((size_t)cout, sizeof(float));
    }
    if (!c->W || !c->dW || (bias && (!c->b || !c->db))) {
        bst_conv2d_free(c);
        return BST_ERR_NOMEM;
    }
    return BST_OK;
}

void bst_conv2d_free(bst_conv2d *c)
{
    free(c->W);
    free(c->dW);
    free(c->b);
    free(c->db);
    memset(c, 0, sizeof *c);
}

void bst_conv2d_reset(bst_conv2d *c, uint64_t seed, uint64_t index)
{
    int fan_in = c->cin * c->k * c->k;
    bst_kaiming_normal(c->W, (size_t)c->cout * fan_in, fan_in, seed, index);
    if (c->b)
        memset(c->b, 0, (size_t)c->cout * sizeof(float));
}

int bst_conv2d_params(bst_conv2d *c, bst_param out[2])
{
    out[0] =
        (bst_param){c->W, c->dW, (size_t)c->cout * c->cin * c->k * c->k, 1};
    if (!c->b)
        return 1;
    out[1] = (bst_param){c->b, c->db, (size_t)c->cout, 0};
    return 2;
}

int bst_conv2d_out(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* A 1x1, stride-1, unpadded convolution is a plain matrix product on the
   sample itself: no im2col copy needed. */
static int is_pointwise(const bst_conv2d *c)
{
    return c->k == 1 && c->stride == 1 && c->pad == 0;
}

/* col (cin k k, Ho Wo) from one sample x (cin, H, W); row (ci, ki, kj). */
static void im2col(const bst_conv2d *c, const float *x, float *col, int H,
                   int W, int Ho, int Wo)
{
    int k = c->k, s = c->stride, p = c->pad;
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * Ho * Wo;
                const float *xc = x + (size_t)ci * H * W;
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh * s - p + ki;
                    for (int ow = 0; ow < Wo; ow++) {
                        int iw = ow * s - p + kj;
                        int in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                        row[oh * Wo + ow] = in ? xc[ih * W + iw] : 0.0f;
                    }
                }
            }
}

/* dx (cin, H, W) = sum of col entries back at their source pixels. */
static void col2im(const bst_conv2d *c, const float *col, float *dx, int H,
                   int W, int Ho, int Wo)
{
    int k = c->k, s = c->stride, p = c->pad;
    memset(dx, 0, (size_t)c->cin * H * W * sizeof(float));
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                const float *row =
                    col + ((size_t)(ci * k + ki) * k + kj) * Ho * Wo;
                float *dxc = dx + (size_t)ci * H * W;
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh * s - p + ki;
                    if (ih < 0 || ih >= H)
                        continue;
                    for (int ow = 0; ow < Wo; ow++) {
                        int iw = ow * s - p + kj;
                        if (iw >= 0 && iw < W)
                            dxc[ih * W + iw] += row[oh * Wo + ow];
                    }
                }
            }
}

int bst_conv2d_forward(const bst_conv2d *c, const float *x, float *y, int N,
                       int H, int W)
{
    int Ho = bst_conv2d_out(H, c->k, c->stride, c->pad);
    int Wo = bst_conv2d_out(W, c->k, c->stride, c->pad);
    if (N <= 0 || Ho <= 0 || Wo <= 0)
        return BST_ERR_INVAL;
    size_t K = (size_t)c->cin * c->k * c->k, P = (size_t)Ho * Wo;
    int pw = is_pointwise(c), nt = omp_get_max_threads();
    float *cols = pw ? NULL : malloc((size_t)nt * K * P * sizeof(float));
    if (!pw && !cols)
        return BST_ERR_NOMEM;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * c->cin * H * W;
        float *yn = y + (size_t)n * c->cout * P;
        const float *col = xn;
        if (!pw) {
            float *mine = cols + (size_t)omp_get_thread_num() * K * P;
            im2col(c, xn, mine, H, W, Ho, Wo);
            col = mine;
        }
        /* yn (cout, P) = W (cout, K) . col (K, P) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, (int)P,
                    (int)K, 1.0f, c->W, (int)K, col, (int)P, 0.0f, yn, (int)P);
        if (c->b)
            for (int o = 0; o < c->cout; o++)
                for (size_t q = 0; q < P; q++)
                    yn[o * P + q] += c->b[o];
    }
    free(cols);
    return BST_OK;
}

int bst_conv2d_backward(bst_conv2d *c, const float *x, const float *dy,
                        float *dx, int N, int H, int W)
{
    int Ho = bst_conv2d_out(H, c->k, c->stride, c->pad);
    int Wo = bst_conv2d_out(W, c->k, c->stride, c->pad);
    if (N <= 0 || Ho <= 0 || Wo <= 0)
        return BST_ERR_INVAL;
    size_t K = (size_t)c->cin * c->k * c->k, P = (size_t)Ho * Wo;
    size_t nw = (size_t)c->cout * K;
    int pw = is_pointwise(c), nt = omp_get_max_threads();
    int nchunk = (N + CONV_CHUNK - 1) / CONV_CHUNK;
    /* per thread: col and dcol (K, P); per chunk: a dW partial (cout, K) */
    float *work = pw ? NULL : malloc((size_t)nt * 2 * K * P * sizeof(float));
    float *part = calloc((size_t)nchunk * nw, sizeof(float));
    if ((!pw && !work) || !part) {
        free(work);
        free(part);
        return BST_ERR_NOMEM;
    }
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < nchunk; ch++) {
        float *col = NULL, *dcol = NULL;
        if (!pw) {
            col = work + (size_t)omp_get_thread_num() * 2 * K * P;
            dcol = col + K * P;
        }
        int end = (ch + 1) * CONV_CHUNK < N ? (ch + 1) * CONV_CHUNK : N;
        for (int n = ch * CONV_CHUNK; n < end; n++) {
            const float *xn = x + (size_t)n * c->cin * H * W;
            const float *dyn = dy + (size_t)n * c->cout * P;
            float *dxn = dx ? dx + (size_t)n * c->cin * H * W : NULL;
            if (pw)
                col = (float *)xn; /* read only below */
            else
                im2col(c, xn, col, H, W, Ho, Wo);
            /* part (cout, K) += dyn (cout, P) . col^T (P, K) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->cout,
                        (int)K, (int)P, 1.0f, dyn, (int)P, col, (int)P, 1.0f,
                        part + (size_t)ch * nw, (int)K);
            if (!dxn)
                continue;
            /* dcol (K, P) = W^T (K, cout) . dyn (cout, P); pointwise: dcol
               is dxn itself */
            float *dst = pw ? dxn : dcol;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)P,
                        c->cout, 1.0f, c->W, (int)K, dyn, (int)P, 0.0f, dst,
                        (int)P);
            if (!pw)
                col2im(c, dcol, dxn, H, W, Ho, Wo);
        }
    }
    for (int ch = 0; ch < nchunk; ch++) /* in order: deterministic */
        for (size_t i = 0; i < nw; i++)
            c->dW[i] += part[(size_t)ch * nw + i];
    if (c->db)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < c->cout; o++) {
                const float *d = dy + ((size_t)n * c->cout + o) * P;
                float s = 0.0f;
                for (size_t q = 0; q < P; q++)
                    s += d[q];
                c->db[o] += s;
            }
    free(work);
    free(part);
    return BST_OK;
}
