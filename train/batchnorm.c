/* batchnorm.c — batch normalisation over (N, C, S), per channel c:
   y = gamma (x - mean) / sqrt(var + eps) + beta (torch.nn.BatchNorm1d/2d).
   Statistics and the normalisation are computed in double; OpenMP over channels
   (each channel is independent, so results do not depend on the thread count).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int bst_batchnorm_init(bst_batchnorm *bn, int C)
{
    memset(bn, 0, sizeof *bn);
    if (C <= 0)
        return BST_ERR_INVAL;
    bn->C = C;
    bn->momentum = 0.1f;
    bn->eps = 1e-5f;
    float **arrs[] = {&bn->gamma, &bn->dgamma,       &bn->beta,
                      &bn->dbeta, &bn->running_mean, &bn->running_var};
    int ok = 1;
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        ok &= (*arrs[i] = calloc((size_t)C, sizeof(float))) != NULL;
    bn->mean = calloc((size_t)C, sizeof(double));
    bn->invstd = calloc((size_t)C, sizeof(double));
    if (!ok || !bn->mean || !bn->invstd) {
        bst_batchnorm_free(bn);
        return BST_ERR_NOMEM;
    }
    for (int c = 0; c < C; c++) {
        bn->gamma[c] = 1.0f;
        bn->running_var[c] = 1.0f;
    }
    return BST_OK;
}

void bst_batchnorm_free(bst_batchnorm *bn)
{
    free(bn->gamma);
    free(bn->dgamma);
    free(bn->beta);
    free(bn->dbeta);
    free(bn->running_mean);
    free(bn->running_var);
    free(bn->mean);
    free(bn->invstd);
    memset(bn, 0, sizeof *bn);
}

int bst_batchnorm_params(bst_batchnorm *bn, bst_param out[2])
{
    out[0] = (bst_param){bn->gamma, bn->dgamma, (size_t)bn->C, 0};
    out[1] = (bst_param){bn->beta, bn->dbeta, (size_t)bn->C, 0};
    return 2;
}

/* Sums over one (sample, channel) plane of S values in 16 float lanes (the
   compiler vectorises the lane loop; no reassociation needed), returned in
   double.  The planes' sums are then added in double, in order, so the
   result is the same for any thread count. */
enum { LANES = 16 };

static double plane_sum(const float *x, int S)
{
    float acc[LANES] = {0};
    int s = 0;
    for (; s + LANES <= S; s += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[s + l];
    double t = 0.0;
    for (; s < S; s++)
        t += x[s];
    for (int l = 0; l < LANES; l++)
        t += acc[l];
    return t;
}

/* sum (x - mu)^2 over a plane, as plane_sum */
static double plane_sqdev(const float *x, int S, float mu)
{
    float acc[LANES] = {0};
    int s = 0;
    double t = 0.0;
    for (; s + LANES <= S; s += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = x[s + l] - mu;
            acc[l] += d * d;
        }
    for (; s < S; s++)
        t += ((double)x[s] - mu) * ((double)x[s] - mu);
    for (int l = 0; l < LANES; l++)
        t += acc[l];
    return t;
}

/* sums of dy and of dy * (x - mean) over a plane */
static void plane_dsums(const float *x, const float *dy, int S, float mean,
                        double *sdy, double *sdyx)
{
    float a[LANES] = {0}, b[LANES] = {0};
    int s = 0;
    double ta = 0.0, tb = 0.0;
    for (; s + LANES <= S; s += LANES)
        for (int l = 0; l < LANES; l++) {
            a[l] += dy[s + l];
            b[l] += dy[s + l] * (x[s + l] - mean);
        }
    for (; s < S; s++) {
        ta += dy[s];
        tb += dy[s] * ((double)x[s] - mean);
    }
    for (int l = 0; l < LANES; l++)
        ta += a[l], tb += b[l];
    *sdy += ta;
    *sdyx += tb;
}

/* plane_dsums of the gradient behind a ReLU with output y: dy where
   y > 0, else 0 */
static void plane_dsums_relu(const float *x, const float *y, const float *dy,
                             int S, float mean, double *sdy, double *sdyx)
{
    float a[LANES] = {0}, b[LANES] = {0};
    int s = 0;
    double ta = 0.0, tb = 0.0;
    for (; s + LANES <= S; s += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = dy[s + l], g = y[s + l] > 0.0f ? d : 0.0f;
            a[l] += g;
            b[l] += g * (x[s + l] - mean);
        }
    for (; s < S; s++) {
        float d = dy[s], g = y[s] > 0.0f ? d : 0.0f;
        ta += g;
        tb += g * ((double)x[s] - mean);
    }
    for (int l = 0; l < LANES; l++)
        ta += a[l], tb += b[l];
    *sdy += ta;
    *sdyx += tb;
}

static void bn_forward(bst_batchnorm *bn, const float *x, float *y, int N,
                       int S, int train, int relu);
static void bn_backward(bst_batchnorm *bn, const float *x, const float *y,
                        const float *dy, float *dx, int N, int S, int train);

void bst_batchnorm_forward(bst_batchnorm *bn, const float *x, float *y, int N,
                           int S, int train)
{
    bn_forward(bn, x, y, N, S, train, 0);
}

void bst_batchnorm_relu_forward(bst_batchnorm *bn, const float *x, float *y,
                                int N, int S, int train)
{
    bn_forward(bn, x, y, N, S, train, 1);
}

void bst_batchnorm_backward(bst_batchnorm *bn, const float *x, const float *dy,
                            float *dx, int N, int S, int train)
{
    bn_backward(bn, x, NULL, dy, dx, N, S, train);
}

void bst_batchnorm_relu_backward(bst_batchnorm *bn, const float *x,
                                 const float *y, const float *dy, float *dx,
                                 int N, int S, int train)
{
    bn_backward(bn, x, y, dy, dx, N, S, train);
}

/* Channel c's normalisation: train mode computes the batch mean and
   biased variance (two passes: no cancellation), keeps them for the
   backward and updates the running statistics; eval mode reads the
   running ones. */
static void channel_stats(bst_batchnorm *bn, const float *x, int N, int S,
                          int train, int c, double *mean, double *invstd)
{
    int C = bn->C;
    double M = (double)N * S;
    if (!train) {
        *mean = bn->running_mean[c];
        *invstd = 1.0 / sqrt((double)bn->running_var[c] + bn->eps);
        return;
    }
    double sum = 0.0, sq = 0.0;
    for (int n = 0; n < N; n++)
        sum += plane_sum(x + ((size_t)n * C + c) * S, S);
    double mu = sum / M;
    for (int n = 0; n < N; n++)
        sq += plane_sqdev(x + ((size_t)n * C + c) * S, S, (float)mu);
    double var = sq / M; /* biased: used to normalise */
    *mean = mu;
    *invstd = 1.0 / sqrt(var + bn->eps);
    bn->mean[c] = *mean;
    bn->invstd[c] = *invstd;
    double unbiased = M > 1 ? sq / (M - 1) : var;
    float m = bn->momentum;
    bn->running_mean[c] = (1 - m) * bn->running_mean[c] + m * (float)mu;
    bn->running_var[c] = (1 - m) * bn->running_var[c] + m * (float)unbiased;
}

static void bn_forward(bst_batchnorm *bn, const float *x, float *y, int N,
                       int S, int train, int relu)
{
    int C = bn->C;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mean, invstd;
        channel_stats(bn, x, N, S, train, c, &mean, &invstd);
        /* y = a x + b' in float: one fused multiply-add per element */
        float a = (float)(bn->gamma[c] * invstd);
        float b = (float)(bn->beta[c] - bn->gamma[c] * invstd * mean);
        for (int n = 0; n < N; n++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            float *yc = y + ((size_t)n * C + c) * S;
            if (relu)
                for (int s = 0; s < S; s++) {
                    float v = a * xc[s] + b;
                    yc[s] = v > 0.0f ? v : 0.0f;
                }
            else
                for (int s = 0; s < S; s++)
                    yc[s] = a * xc[s] + b;
        }
    }
}

static void bn_backward(bst_batchnorm *bn, const float *x, const float *y,
                        const float *dy, float *dx, int N, int S, int train)
{
    int C = bn->C;
    double M = (double)N * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mean, invstd;
        if (train) {
            mean = bn->mean[c];
            invstd = bn->invstd[c];
        } else {
            mean = bn->running_mean[c];
            invstd = 1.0 / sqrt((double)bn->running_var[c] + bn->eps);
        }
        /* sums of dy and dy * xhat over the channel */
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * S;
            if (y)
                plane_dsums_relu(x + o, y + o, dy + o, S, (float)mean, &sdy,
                                 &sdyx);
            else
                plane_dsums(x + o, dy + o, S, (float)mean, &sdy, &sdyx);
        }
        sdyx *= invstd;
        bn->dgamma[c] += (float)sdyx;
        bn->dbeta[c] += (float)sdy;
        if (!dx)
            continue;
        double g = bn->gamma[c];
        /* train: dx = g invstd (dy - mean(dy) - xhat mean(dy xhat)), since
           mean and var depend on x; eval: statistics are constants. */
        double mdy = train ? sdy / M : 0.0;
        double mdyx = train ? sdyx / M : 0.0;
        /* dx = k (dy - mdy - (x - mean) invstd mdyx) = k dy + u x + v */
        float k = (float)(g * invstd);
        float u = (float)(-g * invstd * invstd * mdyx);
        float v = (float)(-g * invstd * (mdy - mean * invstd * mdyx));
        for (int n = 0; n < N; n++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            const float *dyc = dy + ((size_t)n * C + c) * S;
            float *dxc = dx + ((size_t)n * C + c) * S;
            if (y) {
                const float *yc = y + ((size_t)n * C + c) * S;
                for (int s = 0; s < S; s++) {
                    float d = dyc[s], g = yc[s] > 0.0f ? d : 0.0f;
                    dxc[s] = k * g + u * xc[s] + v;
                }
            } else
                for (int s = 0; s < S; s++)
                    dxc[s] = k * dyc[s] + u * xc[s] + v;
        }
    }
}

/* The stem's BN -> ReLU -> 2x2 max-pool.  The full-size BN/ReLU output
   is never stored: each window's four values are normalised, rectified
   and reduced on the fly, and the position of the first maximum (0..3 in
   the order (0,0), (0,1), (1,0), (1,1), strict >, as bst_maxpool_forward)
   is kept for the backward. */
void bst_batchnorm_relu_pool2_forward(bst_batchnorm *bn, const float *x,
                                      float *p, uint8_t *idx, int N, int H,
                                      int W, int train)
{
    int C = bn->C, S = H * W, Ho = H / 2, Wo = W / 2;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mean, invstd;
        channel_stats(bn, x, N, S, train, c, &mean, &invstd);
        float a = (float)(bn->gamma[c] * invstd);
        float b = (float)(bn->beta[c] - bn->gamma[c] * invstd * mean);
        for (int n = 0; n < N; n++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            size_t po = ((size_t)n * C + c) * Ho * Wo;
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    const float *w0 = xc + (size_t)(2 * i) * W + 2 * j;
                    float v[4] = {a * w0[0] + b, a * w0[1] + b, a * w0[W] + b,
                                  a * w0[W + 1] + b};
                    int best = 0;
                    for (int t = 1; t < 4; t++)
                        if (v[t] > v[best])
                            best = t;
                    float m = v[best];
                    p[po + i * Wo + j] = m > 0.0f ? m : 0.0f;
                    idx[po + i * Wo + j] = (uint8_t)best;
                }
        }
    }
}

/* Index in the (H, W) plane of window (i, j)'s maximum, position t. */
static size_t window_max(int i, int j, int t, int W)
{
    return (size_t)(2 * i + (t >> 1)) * W + 2 * j + (t & 1);
}

/* The gradient reaching the BN output is dp at each window's first
   maximum, where the ReLU passed it (p > 0), and zero elsewhere. */
void bst_batchnorm_relu_pool2_backward(bst_batchnorm *bn, const float *x,
                                       const float *p, const uint8_t *idx,
                                       const float *dp, float *dx, int N, int H,
                                       int W, int train)
{
    int C = bn->C, S = H * W, Ho = H / 2, Wo = W / 2;
    double M = (double)N * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mean = train ? bn->mean[c] : bn->running_mean[c];
        double invstd = train
                            ? bn->invstd[c]
                            : 1.0 / sqrt((double)bn->running_var[c] + bn->eps);
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < N; n++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            size_t po = ((size_t)n * C + c) * Ho * Wo;
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    size_t q = po + i * Wo + j;
                    if (!(p[q] > 0.0f))
                        continue;
                    size_t at = window_max(i, j, idx[q], W);
                    double g = dp[q];
                    sdy += g;
                    sdyx += g * ((double)xc[at] - mean);
                }
        }
        sdyx *= invstd;
        bn->dgamma[c] += (float)sdyx;
        bn->dbeta[c] += (float)sdy;
        if (!dx)
            continue;
        double g = bn->gamma[c];
        double mdy = train ? sdy / M : 0.0, mdyx = train ? sdyx / M : 0.0;
        float k = (float)(g * invstd);
        float u = (float)(-g * invstd * invstd * mdyx);
        float v = (float)(-g * invstd * (mdy - mean * invstd * mdyx));
        for (int n = 0; n < N; n++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            float *dxc = dx + ((size_t)n * C + c) * S;
            for (int s = 0; s < S; s++)
                dxc[s] = u * xc[s] + v;
            size_t po = ((size_t)n * C + c) * Ho * Wo;
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    size_t q = po + i * Wo + j;
                    if (!(p[q] > 0.0f))
                        continue;
                    dxc[window_max(i, j, idx[q], W)] += k * dp[q];
                }
        }
    }
}
