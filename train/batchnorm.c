/* batchnorm.c — batch normalisation over (N, C, S), per channel c:
   y = gamma (x - mean) / sqrt(var + eps) + beta (torch.nn.BatchNorm1d/2d).
   Statistics and the normalisation are computed in double; OpenMP over channels
   (each channel is independent, so results do not depend on the thread count).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

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
    bn->red = calloc(4 * (size_t)C + 1, sizeof(double));
    if (!ok || !bn->mean || !bn->invstd || !bn->red) {
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
    free(bn->red);
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

/* The channel kernels of the blocks' batch norm (HOT) are compiled for
   AVX2 and for the baseline, picked at load time (the default build has
   no -march).  Their float arithmetic is written lane by lane and is not
   contracted (-std=c11), so both versions give the same bits.  The
   stem's pooled kernels stay baseline only: with AVX2 their stride-2
   and indexed loads become gathers, about 40% slower here (AMD EPYC);
   AVX-512 versions were no faster than AVX2 ones. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define HOT __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef HOT
#define HOT
#endif
/* the helpers of the kernels, inlined into each version */
#if defined(__GNUC__)
#define LEAF static inline __attribute__((always_inline))
#else
#define LEAF static inline
#endif

/* The sum of the 16 lanes in double, pairwise in a fixed order (lanes l
   and l + 8, then l + 4, ...): the same bits whatever the vector width,
   and vectorised, where a sequential sum of 16 doubles is a chain of 16
   dependent additions per plane (most of a small plane's time). */
LEAF double lanes_sum(const float *a)
{
    double t[LANES / 2];
    for (int l = 0; l < LANES / 2; l++)
        t[l] = (double)a[l] + (double)a[l + LANES / 2];
    for (int w = LANES / 4; w > 0; w /= 2)
        for (int l = 0; l < w; l++)
            t[l] += t[l + w];
    return t[0];
}

LEAF double plane_sum(const float *x, int S)
{
    float acc[LANES] = {0};
    int s = 0;
    for (; s + LANES <= S; s += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[s + l];
    double t = 0.0;
    for (; s < S; s++)
        t += x[s];
    return t + lanes_sum(acc);
}

/* sums of d = x - mu and of d^2 over a plane, as plane_sum */
LEAF void plane_dev(const float *x, int S, float mu, double *sd, double *sq)
{
    float a[LANES] = {0}, b[LANES] = {0};
    int s = 0;
    for (; s + LANES <= S; s += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = x[s + l] - mu;
            a[l] += d;
            b[l] += d * d;
        }
    double ta = 0.0, tb = 0.0;
    for (; s < S; s++) {
        double d = (double)x[s] - mu;
        ta += d;
        tb += d * d;
    }
    ta += lanes_sum(a), tb += lanes_sum(b);
    *sd = ta;
    *sq = tb;
}

/* sums of dy and of dy * (x - mean) over a plane */
LEAF void plane_dsums(const float *x, const float *dy, int S, float mean,
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
    ta += lanes_sum(a), tb += lanes_sum(b);
    *sdy += ta;
    *sdyx += tb;
}

/* The gradient behind a ReLU with output y: dy where y > 0, else 0 (a
   select, so that the loops around it vectorise). */
LEAF float relu_grad(float y, float dy)
{
    return y > 0.0f ? dy : 0.0f;
}

/* plane_dsums of the gradient behind a ReLU with output y */
LEAF void plane_dsums_relu(const float *restrict x, const float *restrict y,
                           const float *restrict dy, int S, float mean,
                           double *sdy, double *sdyx)
{
    float a[LANES] = {0}, b[LANES] = {0};
    int s = 0;
    for (; s + LANES <= S; s += LANES)
#pragma omp simd
        for (int l = 0; l < LANES; l++) {
            float g = relu_grad(y[s + l], dy[s + l]);
            a[l] += g;
            b[l] += g * (x[s + l] - mean);
        }
    double ta = 0.0, tb = 0.0;
    for (; s < S; s++) {
        double g = relu_grad(y[s], dy[s]);
        ta += g;
        tb += g * ((double)x[s] - mean);
    }
    ta += lanes_sum(a), tb += lanes_sum(b);
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

/* Channel c's statistics as the backward sees them: those of the last
   train forward, or the running ones in eval mode. */
static void saved_stats(const bst_batchnorm *bn, int c, int train, double *mean,
                        double *invstd)
{
    if (train) {
        *mean = bn->mean[c];
        *invstd = bn->invstd[c];
    } else {
        *mean = bn->running_mean[c];
        *invstd = 1.0 / sqrt((double)bn->running_var[c] + bn->eps);
    }
}

/* y = a x + b: the channel's normalisation and affine folded into one
   multiply-add in float. */
static void affine(const bst_batchnorm *bn, int c, double mean, double invstd,
                   float *a, float *b)
{
    *a = (float)(bn->gamma[c] * invstd);
    *b = (float)(bn->beta[c] - bn->gamma[c] * invstd * mean);
}

/* Adds the channel's parameter gradients from this batch's sdy = sum g
   and sdyx = sum g xhat (g: the gradient at the BN output; red[c] and
   red[C + c], sdyx before the factor invstd), and gives dx = k g + u x + v
   from the sums over the global batch of M values (red[2C + c], red[3C +
   c]; the same as the local ones without bn->sum): train mode dx = gamma
   invstd (g - mean(g) - xhat mean(g xhat)), since mean and variance depend
   on x; eval mode the statistics are constants (u = v = 0 but for the mean
   shift). */
static void finish_channel(bst_batchnorm *bn, int c, int train, double M,
                           float *k, float *u, float *v)
{
    int C = bn->C;
    double mean, invstd;
    saved_stats(bn, c, train, &mean, &invstd);
    const double *red = bn->red;
    bn->dgamma[c] += (float)(red[C + c] * invstd);
    bn->dbeta[c] += (float)red[c];
    double sdy = red[2 * C + c], sdyx = red[3 * C + c] * invstd;
    double g = bn->gamma[c];
    double mdy = train ? sdy / M : 0.0, mdyx = train ? sdyx / M : 0.0;
    *k = (float)(g * invstd);
    *u = (float)(-g * invstd * invstd * mdyx);
    *v = (float)(-g * invstd * (mdy - mean * invstd * mdyx));
}

/* Merges a plane of S values with mean mp and sum of squared deviations
   m2p into a channel's running count *n, mean *mu and *m2 (Chan, Golub
   and LeVeque's pairwise update, in double). */
LEAF void merge_plane(double *n, double *mu, double *m2, double S, double mp,
                      double m2p)
{
    double tot = *n + S, d = mp - *mu;
    *mu += d * (S / tot);
    *m2 += m2p + d * d * (*n * (S / tot));
    *n = tot;
}

/* This thread's channels [*c0, *c1) of C: a fixed share by thread number.
   The kernels below walk their channels sample by sample (sample outer,
   channel inner), so that a thread reads one contiguous run of memory per
   sample instead of N planes C S floats apart (which the hardware
   prefetchers follow badly: a new page every plane); each channel still
   sees its planes in sample order, so the bits are those of a loop over
   channels and do not depend on the thread count. */
static void my_channels(int C, int *c0, int *c1)
{
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    *c0 = (int)((int64_t)C * t / nt);
    *c1 = (int)((int64_t)C * (t + 1) / nt);
}

/* Channels [c0, c1)'s sums sum[c], squared deviations sq[c] and means
   lmu[c] over the N planes of x (N, C, S). */
static void range_stats(const float *x, int N, int C, int S, double *sum,
                        double *sq, double *lmu)
{
    int c0, c1;
    my_channels(C, &c0, &c1);
    for (int c = c0; c < c1; c++)
        sum[c] = sq[c] = lmu[c] = 0.0;
    for (int i = 0; i < N; i++)
        for (int c = c0; c < c1; c++) {
            const float *xp = x + ((size_t)i * C + c) * S;
            /* the plane's mean to float precision, then its deviations
               from it (the plane is in cache): the exact mean and sum of
               squared deviations without cancellation */
            float mf = (float)(plane_sum(xp, S) / S);
            double sd, sq2;
            plane_dev(xp, S, mf, &sd, &sq2);
            double mp = mf + sd / S, m2p = sq2 - sd * (sd / S);
            double n = (double)i * S; /* the count merged so far */
            sum[c] += (double)S * mf + sd;
            merge_plane(&n, &lmu[c], &sq[c], S, mp, m2p > 0.0 ? m2p : 0.0);
        }
}

/* Train mode: every channel's batch mean and biased variance into
   bn->mean / bn->invstd for the normalisation and the backward, and the
   running statistics updated.  One pass over x: each (sample, channel)
   plane is summed and then its squared deviations from its own mean are
   summed while it is in cache (no cancellation), and the planes are merged
   in sample order (merge_plane), so a channel's result does not depend on
   the thread count.  Channels run in parallel.  With bn->sum the count
   and the sums go through it (synchronised batch norm): first the sums,
   then each process's squared deviations about the global mean,
   m2 + n (local mean - global mean)^2. */
static void batch_stats(bst_batchnorm *bn, const float *x, int N, int S)
{
    int C = bn->C;
    /* red: sums [0, C], squared deviations [C + 1, 2C + 1), local means
       [2C + 1, 3C + 1) */
    double *sum = bn->red, *sq = bn->red + C + 1, *lmu = sq + C;
#pragma omp parallel
    range_stats(x, N, C, S, sum, sq, lmu);
    sum[C] = (double)N * S;
    if (bn->sum) {
        bn->sum(bn->sum_ctx, sum, (size_t)C + 1);
        for (int c = 0; c < C; c++) {
            double d = lmu[c] - sum[c] / sum[C];
            sq[c] += (double)N * S * d * d;
        }
        bn->sum(bn->sum_ctx, sq, (size_t)C);
    }
    double M = sum[C];
    bn->count = M;
    float m = bn->momentum;
    for (int c = 0; c < C; c++) {
        double mu = sum[c] / M, var = sq[c] / M; /* biased: normalises */
        double unbiased = M > 1 ? sq[c] / (M - 1) : var;
        bn->mean[c] = mu;
        bn->invstd[c] = 1.0 / sqrt(var + bn->eps);
        bn->running_mean[c] = (1 - m) * bn->running_mean[c] + m * (float)mu;
        bn->running_var[c] = (1 - m) * bn->running_var[c] + m * (float)unbiased;
    }
}

/* The backward's channel sums (red[c], red[C + c]) of this batch, copied
   to red[2C..4C) and summed there over the processes with bn->sum; the
   count M of the global batch. */
static double reduce_dsums(bst_batchnorm *bn, int N, int S, int train)
{
    size_t C = (size_t)bn->C;
    memcpy(bn->red + 2 * C, bn->red, 2 * C * sizeof(double));
    if (train && bn->sum) {
        bn->sum(bn->sum_ctx, bn->red + 2 * C, 2 * C);
        return bn->count;
    }
    return (double)N * S;
}

/* The statistics of x (N, C, S) in train mode (batch_stats), then every
   channel's forward coefficients y = a x + b (affine) into bn->red: a at
   [c], b at [C + c] (floats, held exactly in double). */
static const double *forward_coefs(bst_batchnorm *bn, const float *x, int N,
                                   int S, int train)
{
    int C = bn->C;
    if (train)
        batch_stats(bn, x, N, S);
    for (int c = 0; c < C; c++) {
        double mean, invstd;
        saved_stats(bn, c, train, &mean, &invstd);
        float a, b;
        affine(bn, c, mean, invstd, &a, &b);
        bn->red[c] = a;
        bn->red[C + c] = b;
    }
    return bn->red;
}

/* Every channel's mean as the backward sees it, in float, into red[2C +
   c] (free until reduce_dsums). */
static const double *backward_means(bst_batchnorm *bn, int train)
{
    int C = bn->C;
    for (int c = 0; c < C; c++) {
        double mean, invstd;
        saved_stats(bn, c, train, &mean, &invstd);
        bn->red[2 * C + c] = (float)mean;
    }
    return bn->red + 2 * C;
}

/* The backward's sums over the processes (reduce_dsums), then
   finish_channel for every channel, in order, its k, u, v into red[c],
   red[C + c], red[2C + c]: each slot is written after channel c has read
   it, and no later channel reads it. */
static const double *backward_coefs(bst_batchnorm *bn, int N, int S, int train)
{
    int C = bn->C;
    double M = reduce_dsums(bn, N, S, train);
    for (int c = 0; c < C; c++) {
        float k, u, v;
        finish_channel(bn, c, train, M, &k, &u, &v);
        bn->red[c] = k;
        bn->red[C + c] = u;
        bn->red[2 * C + c] = v;
    }
    return bn->red;
}

/* y = a x + b over channels [c0, c1) of x (N, C, S), rectified when
   relu; ab as forward_coefs. */
HOT static void range_forward(const float *restrict x, float *restrict y, int N,
                              int C, int S, const double *ab, int relu)
{
    int c0, c1;
    my_channels(C, &c0, &c1);
    for (int n = 0; n < N; n++)
        for (int c = c0; c < c1; c++) {
            size_t o = ((size_t)n * C + c) * S;
            const float *xc = x + o;
            float *yc = y + o;
            float a = (float)ab[c], b = (float)ab[C + c];
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

static void bn_forward(bst_batchnorm *bn, const float *x, float *y, int N,
                       int S, int train, int relu)
{
    int C = bn->C;
    const double *ab = forward_coefs(bn, x, N, S, train);
#pragma omp parallel
    range_forward(x, y, N, C, S, ab, relu);
}

/* Channels [c0, c1)'s sums of g and g (x - mean) (red[c], red[C + c]),
   g = dy, or dy behind the ReLU of output y where y is not NULL; mean[c]
   as backward_means. */
HOT static void range_dsums(const float *x, const float *y, const float *dy,
                            int N, int C, int S, const double *mean,
                            double *red)
{
    int c0, c1;
    my_channels(C, &c0, &c1);
    for (int c = c0; c < c1; c++)
        red[c] = red[C + c] = 0.0;
    for (int n = 0; n < N; n++)
        for (int c = c0; c < c1; c++) {
            size_t o = ((size_t)n * C + c) * S;
            if (y)
                plane_dsums_relu(x + o, y + o, dy + o, S, (float)mean[c],
                                 &red[c], &red[C + c]);
            else
                plane_dsums(x + o, dy + o, S, (float)mean[c], &red[c],
                            &red[C + c]);
        }
}

/* dx = k g + u x + v over channels [c0, c1) (g as range_dsums; k, u, v
   as backward_coefs). */
HOT static void range_dx(const float *restrict x, const float *restrict y,
                         const float *restrict dy, float *restrict dx, int N,
                         int C, int S, const double *kuv)
{
    int c0, c1;
    my_channels(C, &c0, &c1);
    for (int n = 0; n < N; n++)
        for (int c = c0; c < c1; c++) {
            size_t o = ((size_t)n * C + c) * S;
            const float *xc = x + o, *dyc = dy + o;
            float *dxc = dx + o;
            float k = (float)kuv[c], u = (float)kuv[C + c],
                  v = (float)kuv[2 * C + c];
            if (y) {
                const float *yc = y + o;
                for (int s = 0; s < S; s++) {
                    float d = dyc[s], g = yc[s] > 0.0f ? d : 0.0f;
                    dxc[s] = k * g + u * xc[s] + v;
                }
            } else
                for (int s = 0; s < S; s++)
                    dxc[s] = k * dyc[s] + u * xc[s] + v;
        }
}

static void bn_backward(bst_batchnorm *bn, const float *x, const float *y,
                        const float *dy, float *dx, int N, int S, int train)
{
    int C = bn->C;
    const double *mean = backward_means(bn, train);
#pragma omp parallel
    range_dsums(x, y, dy, N, C, S, mean, bn->red);
    const double *kuv = backward_coefs(bn, N, S, train);
    if (!dx)
        return;
#pragma omp parallel
    range_dx(x, y, dy, dx, N, C, S, kuv);
}

/* The stem's BN -> ReLU -> 2x2 max-pool.  The full-size BN/ReLU output
   is never stored: each window's four values are normalised, rectified
   and reduced on the fly, and the position of the first maximum (0..3 in
   the order (0,0), (0,1), (1,0), (1,1), strict >, as bst_maxpool_forward)
   is kept for the backward.  One output row from input rows r0, r1, the
   selects written so that the row vectorises. */
LEAF void pool_row(const float *restrict r0, const float *restrict r1, float a,
                   float b, float *restrict p, uint8_t *restrict idx, int Wo)
{
#pragma omp simd
    for (int j = 0; j < Wo; j++) {
        float v0 = a * r0[2 * j] + b, v1 = a * r0[2 * j + 1] + b;
        float v2 = a * r1[2 * j] + b, v3 = a * r1[2 * j + 1] + b;
        float m = v0, best = 0.0f; /* float: the selects stay one width */
        best = v1 > m ? 1.0f : best;
        m = v1 > m ? v1 : m;
        best = v2 > m ? 2.0f : best;
        m = v2 > m ? v2 : m;
        best = v3 > m ? 3.0f : best;
        m = v3 > m ? v3 : m;
        p[j] = m > 0.0f ? m : 0.0f;
        idx[j] = (uint8_t)(int)best;
    }
}

/* The stem's forward over this thread's channels (ab as forward_coefs). */
LEAF void range_pool(const float *x, float *p, uint8_t *idx, int N, int C,
                     int H, int W, const double *ab)
{
    int c0, c1, S = H * W, Ho = H / 2, Wo = W / 2;
    my_channels(C, &c0, &c1);
    for (int n = 0; n < N; n++)
        for (int c = c0; c < c1; c++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            size_t po = ((size_t)n * C + c) * Ho * Wo;
            float a = (float)ab[c], b = (float)ab[C + c];
            for (int i = 0; i < Ho; i++) {
                const float *r0 = xc + (size_t)(2 * i) * W;
                pool_row(r0, r0 + W, a, b, p + po + (size_t)i * Wo,
                         idx + po + (size_t)i * Wo, Wo);
            }
        }
}

void bst_batchnorm_relu_pool2_forward(bst_batchnorm *bn, const float *x,
                                      float *p, uint8_t *idx, int N, int H,
                                      int W, int train)
{
    const double *ab = forward_coefs(bn, x, N, H * W, train);
#pragma omp parallel
    range_pool(x, p, idx, N, bn->C, H, W, ab);
}

/* The input under window j's maximum (position t of pool_row). */
LEAF float at_max(const float *r0, const float *r1, int j, int t)
{
    const float *r = t & 2 ? r1 : r0;
    return r[2 * j + (t & 1)];
}

/* The backward's channel sums over one output row: g = dp where the ReLU
   passed it (p > 0), at the window's maximum. */
LEAF void pool_row_dsums(const float *restrict r0, const float *restrict r1,
                         const float *restrict p, const uint8_t *restrict idx,
                         const float *restrict dp, int Wo, float mean,
                         double *sdy, double *sdyx)
{
    float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
    for (int j = 0; j < Wo; j++) {
        float g = relu_grad(p[j], dp[j]);
        a += g;
        b += g * (at_max(r0, r1, j, idx[j]) - mean);
    }
    *sdy += a;
    *sdyx += b;
}

/* dx over one output row's windows: u x + v everywhere (the statistics'
   part), plus k g at each window's maximum. */
LEAF void pool_row_dx(const float *restrict r0, const float *restrict r1,
                      const float *restrict p, const uint8_t *restrict idx,
                      const float *restrict dp, float k, float u, float v,
                      float *restrict d0, float *restrict d1, int Wo)
{
#pragma omp simd
    for (int j = 0; j < Wo; j++) {
        float g = k * relu_grad(p[j], dp[j]);
        int t = idx[j];
        float g0 = t == 0 ? g : 0.0f, g1 = t == 1 ? g : 0.0f;
        float g2 = t == 2 ? g : 0.0f, g3 = t == 3 ? g : 0.0f;
        d0[2 * j] = u * r0[2 * j] + v + g0;
        d0[2 * j + 1] = u * r0[2 * j + 1] + v + g1;
        d1[2 * j] = u * r1[2 * j] + v + g2;
        d1[2 * j + 1] = u * r1[2 * j + 1] + v + g3;
    }
}

/* The stem backward's sums over this thread's channels (as range_dsums). */
LEAF void range_pool_dsums(const float *x, const float *p, const uint8_t *idx,
                           const float *dp, int N, int C, int H, int W,
                           const double *mean, double *red)
{
    int c0, c1, S = H * W, Ho = H / 2, Wo = W / 2;
    my_channels(C, &c0, &c1);
    for (int c = c0; c < c1; c++)
        red[c] = red[C + c] = 0.0;
    for (int n = 0; n < N; n++)
        for (int c = c0; c < c1; c++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            size_t po = ((size_t)n * C + c) * Ho * Wo;
            for (int i = 0; i < Ho; i++) {
                const float *r0 = xc + (size_t)(2 * i) * W;
                size_t q = po + (size_t)i * Wo;
                pool_row_dsums(r0, r0 + W, p + q, idx + q, dp + q, Wo,
                               (float)mean[c], &red[c], &red[C + c]);
            }
        }
}

/* The stem's dx over this thread's channels (kuv as backward_coefs). */
LEAF void range_pool_dx(const float *x, const float *p, const uint8_t *idx,
                        const float *dp, float *dx, int N, int C, int H, int W,
                        const double *kuv)
{
    int c0, c1, S = H * W, Ho = H / 2, Wo = W / 2;
    my_channels(C, &c0, &c1);
    for (int n = 0; n < N; n++)
        for (int c = c0; c < c1; c++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            float *dxc = dx + ((size_t)n * C + c) * S;
            size_t po = ((size_t)n * C + c) * Ho * Wo;
            float k = (float)kuv[c], u = (float)kuv[C + c],
                  v = (float)kuv[2 * C + c];
            for (int i = 0; i < Ho; i++) {
                size_t o = (size_t)(2 * i) * W, q = po + (size_t)i * Wo;
                pool_row_dx(xc + o, xc + o + W, p + q, idx + q, dp + q, k, u, v,
                            dxc + o, dxc + o + W, Wo);
                for (int j = 2 * Wo; j < W; j++) /* odd W: outside windows */
                    dxc[o + j] = u * xc[o + j] + v,
                            dxc[o + W + j] = u * xc[o + W + j] + v;
            }
            for (size_t s = (size_t)(2 * Ho) * W; s < (size_t)S; s++)
                dxc[s] = u * xc[s] + v; /* odd H: the last row */
        }
}

/* The gradient reaching the BN output is dp at each window's first
   maximum, where the ReLU passed it (p > 0), and zero elsewhere. */
void bst_batchnorm_relu_pool2_backward(bst_batchnorm *bn, const float *x,
                                       const float *p, const uint8_t *idx,
                                       const float *dp, float *dx, int N, int H,
                                       int W, int train)
{
    const double *mean = backward_means(bn, train);
#pragma omp parallel
    range_pool_dsums(x, p, idx, dp, N, bn->C, H, W, mean, bn->red);
    const double *kuv = backward_coefs(bn, N, H * W, train);
    if (!dx)
        return;
#pragma omp parallel
    range_pool_dx(x, p, idx, dp, dx, N, bn->C, H, W, kuv);
}
