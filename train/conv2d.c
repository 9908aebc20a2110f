/* conv2d.c — 2-D convolution (NCHW, square kernel, stride, zero padding)
   by im2col + sgemm, one sample at a time, OpenMP over the batch.

   Determinism: samples are independent in the forward and for dx; the
   weight gradient is summed per part of the batch (min(N, CONV_PARTS)
   parts whose bounds depend on N only, not on the thread count) and the
   parts are added in order, so
   the result does not depend on how many threads ran. */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "engine.h"

enum { CONV_PARTS = 8 }; /* weight-gradient partial sums per call */

/* The layer's scratch, at least n floats (grown, never shrunk). */
static float *workspace(bst_conv2d *c, size_t n)
{
    if (c->ws_cap >= n)
        return c->ws;
    float *p = malloc(n * sizeof(float));
    if (!p)
        return NULL;
    free(c->ws);
    c->ws = p;
    c->ws_cap = n;
    return p;
}

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
    free(c->ws);
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

/* Output columns [*lo, *hi) whose input column ow*s - p + kj lies in
   [0, W): the rest of a col row is padding. */
static void valid_cols(int W, int Wo, int s, int p, int kj, int *lo, int *hi)
{
    int a = p - kj > 0 ? (p - kj + s - 1) / s : 0; /* first ow with iw >= 0 */
    int b = (W - 1 + p - kj) >= 0 ? (W - 1 + p - kj) / s + 1 : 0;
    *lo = a < Wo ? a : Wo;
    *hi = b < Wo ? b : Wo;
    if (*hi < *lo)
        *hi = *lo;
}

/* col (cin k k, Ho Wo) from one sample x (cin, H, W); row (ci, ki, kj).
   Padding is written as zeros; the valid span of each output row is a
   contiguous (stride 1) or strided copy without per-pixel branches. */
static void im2col(const bst_conv2d *c, const float *x, float *col, int H,
                   int W, int Ho, int Wo)
{
    int k = c->k, s = c->stride, p = c->pad;
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * Ho * Wo;
                const float *xc = x + (size_t)ci * H * W;
                int lo, hi;
                valid_cols(W, Wo, s, p, kj, &lo, &hi);
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh * s - p + ki;
                    float *r = row + oh * Wo;
                    if (ih < 0 || ih >= H) {
                        for (int ow = 0; ow < Wo; ow++)
                            r[ow] = 0.0f;
                        continue;
                    }
                    /* input index of output column ow: base + ow * s */
                    ptrdiff_t base = (ptrdiff_t)ih * W - p + kj;
                    for (int ow = 0; ow < lo; ow++)
                        r[ow] = 0.0f;
                    /* rows are short (4..28): a plain loop beats memcpy */
                    if (s == 1)
                        for (int ow = lo; ow < hi; ow++)
                            r[ow] = xc[base + ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            r[ow] = xc[base + (ptrdiff_t)ow * s];
                    for (int ow = hi; ow < Wo; ow++)
                        r[ow] = 0.0f;
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
                int lo, hi;
                valid_cols(W, Wo, s, p, kj, &lo, &hi);
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh * s - p + ki;
                    if (ih < 0 || ih >= H)
                        continue;
                    const float *r = row + oh * Wo;
                    ptrdiff_t base = (ptrdiff_t)ih * W - p + kj;
                    for (int ow = lo; ow < hi; ow++)
                        dxc[base + (ptrdiff_t)ow * s] += r[ow];
                }
            }
}

/* "Same" convolutions (stride 1, output as large as the input: the 3x3
   pad-1 layers) shift whole planes: col row (ci, ki, kj) is the input
   plane moved by (ki - p, kj - p), so it is one contiguous copy, then the
   columns that wrapped around a row edge and the rows outside the plane
   are zeroed.  Far fewer, longer copies than row by row (Wo is 4..28). */
static int is_same(const bst_conv2d *c, int H, int W, int Ho, int Wo)
{
    return c->stride == 1 && Ho == H && Wo == W;
}

/* The plane shifted by (dy, dx): output rows [*lo, *hi) have a source
   row; element i of the col row reads input element i + *off, and
   [*a, *b) is the part of [lo W, hi W) whose source lies inside the plane
   (what is clipped at either end is an edge column). */
static void shift_span(int H, int W, int dy, int dx, int *lo, int *hi,
                       ptrdiff_t *off, ptrdiff_t *a, ptrdiff_t *b)
{
    ptrdiff_t HW = (ptrdiff_t)H * W;
    *lo = dy < 0 ? -dy : 0;
    *hi = dy > 0 ? H - dy : H;
    if (*hi < *lo)
        *hi = *lo;
    *off = (ptrdiff_t)dy * W + dx;
    *a = (ptrdiff_t)*lo * W;
    *b = (ptrdiff_t)*hi * W;
    if (*a + *off < 0)
        *a = -*off;
    if (*b + *off > HW)
        *b = HW - *off;
}

static void im2col_same(const bst_conv2d *c, const float *x, float *col, int H,
                        int W)
{
    int k = c->k, p = c->pad;
    ptrdiff_t HW = (ptrdiff_t)H * W;
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * HW;
                const float *xc = x + (size_t)ci * HW;
                int dx = kj - p, lo, hi;
                ptrdiff_t off, a, b;
                shift_span(H, W, ki - p, dx, &lo, &hi, &off, &a, &b);
                for (ptrdiff_t i = 0; i < (ptrdiff_t)lo * W; i++)
                    row[i] = 0.0f;
                if (b > a)
                    memcpy(row + a, xc + (a + off),
                           (size_t)(b - a) * sizeof(float));
                for (ptrdiff_t i = (ptrdiff_t)hi * W; i < HW; i++)
                    row[i] = 0.0f;
                /* edge columns: a left shift (dx < 0) leaves columns
                   [0, -dx) empty, a right shift [W - dx, W) */
                for (int oh = lo; oh < hi; oh++) {
                    float *r = row + (size_t)oh * W;
                    for (int ow = 0; ow < -dx; ow++)
                        r[ow] = 0.0f;
                    for (int ow = W - dx; ow < W; ow++)
                        r[ow] = 0.0f;
                }
                if (lo * W > a) /* [lo W, a) was clipped */
                    for (ptrdiff_t i = (ptrdiff_t)lo * W; i < a; i++)
                        row[i] = 0.0f;
                if (b < (ptrdiff_t)hi * W)
                    for (ptrdiff_t i = b; i < (ptrdiff_t)hi * W; i++)
                        row[i] = 0.0f;
            }
}

/* The adjoint of im2col_same: the edge entries of dcol (padding) are
   zeroed in place first, then each shifted plane is added contiguously.
   Adds happen in the same order as col2im's, so results are identical. */
static void col2im_same(const bst_conv2d *c, float *col, float *dx, int H,
                        int W)
{
    int k = c->k, p = c->pad;
    ptrdiff_t HW = (ptrdiff_t)H * W;
    memset(dx, 0, (size_t)c->cin * HW * sizeof(float));
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * HW;
                float *dxc = dx + (size_t)ci * HW;
                int sx = kj - p, lo, hi;
                ptrdiff_t off, a, b;
                shift_span(H, W, ki - p, sx, &lo, &hi, &off, &a, &b);
                for (int oh = lo; oh < hi; oh++) {
                    float *r = row + (size_t)oh * W;
                    for (int ow = 0; ow < -sx; ow++)
                        r[ow] = 0.0f;
                    for (int ow = W - sx; ow < W; ow++)
                        r[ow] = 0.0f;
                }
                for (ptrdiff_t i = a; i < b; i++)
                    dxc[i + off] += row[i];
            }
}

int bst_conv2d_forward(bst_conv2d *c, const float *x, float *y, int N, int H,
                       int W)
{
    int Ho = bst_conv2d_out(H, c->k, c->stride, c->pad);
    int Wo = bst_conv2d_out(W, c->k, c->stride, c->pad);
    if (N <= 0 || Ho <= 0 || Wo <= 0)
        return BST_ERR_INVAL;
    size_t K = (size_t)c->cin * c->k * c->k, P = (size_t)Ho * Wo;
    int pw = is_pointwise(c), nt = omp_get_max_threads();
    int same = is_same(c, H, W, Ho, Wo);
    float *cols = pw ? NULL : workspace(c, (size_t)nt * K * P);
    if (!pw && !cols)
        return BST_ERR_NOMEM;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * c->cin * H * W;
        float *yn = y + (size_t)n * c->cout * P;
        const float *col = xn;
        if (!pw) {
            float *mine = cols + (size_t)omp_get_thread_num() * K * P;
            if (same)
                im2col_same(c, xn, mine, H, W);
            else
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
    int same = is_same(c, H, W, Ho, Wo);
    int nchunk = N < CONV_PARTS ? N : CONV_PARTS;
    /* per part: a dW partial (cout, K); per thread: col and dcol (K, P) */
    float *part =
        workspace(c, (size_t)nchunk * nw + (pw ? 0 : (size_t)nt * 2 * K * P));
    if (!part)
        return BST_ERR_NOMEM;
    float *work = part + (size_t)nchunk * nw;
    memset(part, 0, (size_t)nchunk * nw * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < nchunk; ch++) {
        float *col = NULL, *dcol = NULL;
        if (!pw) {
            col = work + (size_t)omp_get_thread_num() * 2 * K * P;
            dcol = col + K * P;
        }
        int beg = (int)((int64_t)ch * N / nchunk);
        int end = (int)((int64_t)(ch + 1) * N / nchunk);
        for (int n = beg; n < end; n++) {
            const float *xn = x + (size_t)n * c->cin * H * W;
            const float *dyn = dy + (size_t)n * c->cout * P;
            float *dxn = dx ? dx + (size_t)n * c->cin * H * W : NULL;
            if (pw)
                col = (float *)xn; /* read only below */
            else if (same)
                im2col_same(c, xn, col, H, W);
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
            if (pw)
                continue;
            if (same)
                col2im_same(c, dcol, dxn, H, W);
            else
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
    return BST_OK;
}
