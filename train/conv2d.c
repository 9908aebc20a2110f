/* conv2d.c — 2-D convolution (NCHW, square kernel, stride, zero padding)
   by im2col + sgemm over chunks of samples, OpenMP over the chunks.

   A chunk is S consecutive samples (S from the output size alone,
   chunk_samples): their im2col columns sit side by side in one (K, S P)
   matrix, so each layer runs a few large GEMMs instead of one small GEMM
   per sample (per-sample products were 16-64 rows by 16-196 columns and
   spent most of their time in call overhead and packing).

   Determinism: chunks depend on N and the layer's shape only, never on
   the thread count, and each chunk is one single-threaded GEMM; the weight
   gradient is summed per part of the batch (min(N, CONV_PARTS) parts
   whose bounds depend on N only), chunk after chunk inside a part, and
   the parts are added in order, so the result does not depend on how
   many threads ran.

   Built with oneDNN (conv2d_dnnl.h), the forward and the backward data
   pass (dx) run through it instead, when it accepts the layer; the weight
   gradient always runs here. */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "conv2d_dnnl.h"
#include "engine.h"

enum {
    CONV_PARTS = 8,  /* weight-gradient partial sums per call */
    CONV_COLS = 512, /* at least this many GEMM columns per chunk */
};

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
    bst_conv2d_dnnl_free(c);
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
static void im2col(const bst_conv2d *c, const float *x, float *col, size_t ld,
                   int H, int W, int Ho, int Wo)
{
    int k = c->k, s = c->stride, p = c->pad;
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * ld;
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
static void col2im(const bst_conv2d *c, const float *col, size_t ld, float *dx,
                   int H, int W, int Ho, int Wo)
{
    int k = c->k, s = c->stride, p = c->pad;
    memset(dx, 0, (size_t)c->cin * H * W * sizeof(float));
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                const float *row = col + ((size_t)(ci * k + ki) * k + kj) * ld;
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

static void im2col_same(const bst_conv2d *c, const float *x, float *col,
                        size_t ld, int H, int W)
{
    int k = c->k, p = c->pad;
    ptrdiff_t HW = (ptrdiff_t)H * W;
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * ld;
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
   The centre tap (shift 0, every pixel) is copied first, so dx needs no
   zeroing; the other taps follow in col2im's order. */
static void col2im_same(const bst_conv2d *c, float *col, size_t ld, float *dx,
                        int H, int W)
{
    int k = c->k, p = c->pad;
    ptrdiff_t HW = (ptrdiff_t)H * W;
    size_t centre = (size_t)p * k + p; /* 2p + 1 = k: "same" */
    for (int ci = 0; ci < c->cin; ci++) {
        float *dxc = dx + (size_t)ci * HW;
        const float *rows = col + (size_t)ci * k * k * ld;
        memcpy(dxc, rows + centre * ld, (size_t)HW * sizeof(float));
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                if ((size_t)ki * k + kj == centre)
                    continue;
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * ld;
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
}

/* Samples per chunk of the backward: enough columns (S P >= CONV_COLS)
   for one large, efficient GEMM instead of many small ones.  Depends on P
   only, never on the thread count. */
static int chunk_samples(size_t P)
{
    return (int)((CONV_COLS + P - 1) / P);
}

/* The columns of samples [n0, n0 + cnt) side by side: col (K, ld), sample
   j's block at column j P. */
static void im2col_chunk(const bst_conv2d *c, const float *x, float *col,
                         size_t ld, int n0, int cnt, int H, int W, int Ho,
                         int Wo)
{
    size_t P = (size_t)Ho * Wo;
    int same = is_same(c, H, W, Ho, Wo);
    for (int j = 0; j < cnt; j++) {
        const float *xn = x + (size_t)(n0 + j) * c->cin * H * W;
        if (same)
            im2col_same(c, xn, col + (size_t)j * P, ld, H, W);
        else
            im2col(c, xn, col + (size_t)j * P, ld, H, W, Ho, Wo);
    }
}

int bst_conv2d_forward(bst_conv2d *c, const float *x, float *y, int N, int H,
                       int W)
{
    int Ho = bst_conv2d_out(H, c->k, c->stride, c->pad);
    int Wo = bst_conv2d_out(W, c->k, c->stride, c->pad);
    if (N <= 0 || Ho <= 0 || Wo <= 0)
        return BST_ERR_INVAL;
    int rc = bst_conv2d_dnnl_forward(c, x, y, N, H, W, Ho, Wo);
    if (rc)
        return rc > 0 ? BST_OK : BST_ERR_NOMEM;
    size_t K = (size_t)c->cin * c->k * c->k, P = (size_t)Ho * Wo;
    int nt = omp_get_max_threads();
    float *cols = workspace(c, (size_t)nt * K * P);
    if (!cols)
        return BST_ERR_NOMEM;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *col = cols + (size_t)omp_get_thread_num() * K * P;
        float *yn = y + (size_t)n * c->cout * P;
        im2col_chunk(c, x, col, P, n, 1, H, W, Ho, Wo);
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
    /* dx through oneDNN where built with it (each image from its own dy);
       then the loop below computes dW (and db) only */
    int rc = dx ? bst_conv2d_dnnl_backward_data(c, dy, dx, N, H, W, Ho, Wo) : 0;
    if (rc < 0)
        return BST_ERR_NOMEM;
    int dy_ready = rc > 0; /* oneDNN holds dy in its layout */
    if (rc > 0)
        dx = NULL;
    size_t K = (size_t)c->cin * c->k * c->k, P = (size_t)Ho * Wo;
    size_t nw = (size_t)c->cout * K;
    int S = chunk_samples(P), nt = omp_get_max_threads();
    int same = is_same(c, H, W, Ho, Wo);
    int nparts = N < CONV_PARTS ? N : CONV_PARTS;
    /* per part: a dW partial (cout, K); per thread: col and, for dx, dcol
       (K, S P), and dy regrouped as (cout, S P) */
    size_t per = ((dx ? 2 : 1) * K + (size_t)c->cout) * S * P;
    float *part = workspace(c, (size_t)nparts * nw);
    if (!part)
        return BST_ERR_NOMEM;
    /* the parts through oneDNN where it takes them and dx is done */
    rc = dx ? 0
            : bst_conv2d_dnnl_weights(c, x, dy, N, H, W, Ho, Wo, nparts,
                                      dy_ready, part);
    if (rc < 0)
        return BST_ERR_NOMEM;
    if (!rc && !(part = workspace(c, (size_t)nparts * nw + (size_t)nt * per)))
        return BST_ERR_NOMEM;
    float *work = part + (size_t)nparts * nw;
    int own = rc ? 0 : nparts; /* parts the loop computes */
#pragma omp parallel for schedule(static)
    for (int pt = 0; pt < own; pt++) {
        float *col = work + (size_t)omp_get_thread_num() * per;
        float *dcol = col + K * S * P, *dyg = dx ? dcol + K * S * P : dcol;
        int beg = (int)((int64_t)pt * N / nparts);
        int end = (int)((int64_t)(pt + 1) * N / nparts);
        for (int n0 = beg; n0 < end; n0 += S) {
            int cnt = end - n0 < S ? end - n0 : S;
            size_t ld = (size_t)cnt * P;
            im2col_chunk(c, x, col, ld, n0, cnt, H, W, Ho, Wo);
            /* dyc (cout, cnt P): one sample's dy as it is, else regrouped */
            const float *dyc = dy + (size_t)n0 * c->cout * P;
            if (cnt > 1) {
                for (int j = 0; j < cnt; j++)
                    for (int o = 0; o < c->cout; o++)
                        memcpy(dyg + (size_t)o * ld + (size_t)j * P,
                               dy + ((size_t)(n0 + j) * c->cout + o) * P,
                               P * sizeof(float));
                dyc = dyg;
            }
            /* part (cout, K) (+)= dyc (cout, cnt P) . col^T (cnt P, K) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->cout,
                        (int)K, (int)ld, 1.0f, dyc, (int)ld, col, (int)ld,
                        n0 == beg ? 0.0f : 1.0f, part + (size_t)pt * nw,
                        (int)K);
            if (!dx)
                continue;
            /* dcol (K, cnt P) = W^T (K, cout) . dyc (cout, cnt P) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K,
                        (int)ld, c->cout, 1.0f, c->W, (int)K, dyc, (int)ld,
                        0.0f, dcol, (int)ld);
            for (int j = 0; j < cnt; j++) {
                float *dxn = dx + (size_t)(n0 + j) * c->cin * H * W;
                if (same)
                    col2im_same(c, dcol + (size_t)j * P, ld, dxn, H, W);
                else
                    col2im(c, dcol + (size_t)j * P, ld, dxn, H, W, Ho, Wo);
            }
        }
    }
    for (int pt = 0; pt < nparts; pt++) /* in order: deterministic */
        for (size_t i = 0; i < nw; i++)
            c->dW[i] += part[(size_t)pt * nw + i];
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
