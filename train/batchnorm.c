/* batchnorm.c — batch normalisation over (N, C, S), per channel c:
   y = gamma (x - mean) / sqrt(var + eps) + beta (torch.nn.BatchNorm1d/2d).
   Statistics and the normalisation are computed in double; OpenMP over channels
   (each channel is independent, so results do not depend on the thread count).
 */
#include <math.h>
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

void bst_batchnorm_forward(bst_batchnorm *bn, const float *x, float *y, int N,
                           int S, int train)
{
    int C = bn->C;
    double M = (double)N * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mean, invstd;
        if (train) {
            double sum = 0.0, sq = 0.0;
            for (int n = 0; n < N; n++) {
                const float *xc = x + ((size_t)n * C + c) * S;
                for (int s = 0; s < S; s++)
                    sum += xc[s];
            }
            double mu = sum / M;
            for (int n = 0; n < N; n++) { /* two passes: no cancellation */
                const float *xc = x + ((size_t)n * C + c) * S;
                for (int s = 0; s < S; s++)
                    sq += (xc[s] - mu) * (xc[s] - mu);
            }
            double var = sq / M; /* biased: used to normalise */
            mean = mu;
            invstd = 1.0 / sqrt(var + bn->eps);
            bn->mean[c] = mean;
            bn->invstd[c] = invstd;
            double unbiased = M > 1 ? sq / (M - 1) : var;
            float m = bn->momentum;
            bn->running_mean[c] = (1 - m) * bn->running_mean[c] + m * (float)mu;
            bn->running_var[c] =
                (1 - m) * bn->running_var[c] + m * (float)unbiased;
        } else {
            mean = bn->running_mean[c];
            invstd = 1.0 / sqrt((double)bn->running_var[c] + bn->eps);
        }
        double g = bn->gamma[c], b = bn->beta[c];
        for (int n = 0; n < N; n++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            float *yc = y + ((size_t)n * C + c) * S;
            for (int s = 0; s < S; s++)
                yc[s] = (float)(g * (xc[s] - mean) * invstd + b);
        }
    }
}

void bst_batchnorm_backward(bst_batchnorm *bn, const float *x, const float *dy,
                            float *dx, int N, int S, int train)
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
            const float *xc = x + ((size_t)n * C + c) * S;
            const float *dyc = dy + ((size_t)n * C + c) * S;
            for (int s = 0; s < S; s++) {
                sdy += dyc[s];
                sdyx += dyc[s] * (xc[s] - mean) * invstd;
            }
        }
        bn->dgamma[c] += (float)sdyx;
        bn->dbeta[c] += (float)sdy;
        if (!dx)
            continue;
        double g = bn->gamma[c];
        /* train: dx = g invstd (dy - mean(dy) - xhat mean(dy xhat)), since
           mean and var depend on x; eval: statistics are constants. */
        double mdy = train ? sdy / M : 0.0;
        double mdyx = train ? sdyx / M : 0.0;
        for (int n = 0; n < N; n++) {
            const float *xc = x + ((size_t)n * C + c) * S;
            const float *dyc = dy + ((size_t)n * C + c) * S;
            float *dxc = dx + ((size_t)n * C + c) * S;
            for (int s = 0; s < S; s++) {
                double xhat = (xc[s] - mean) * invstd;
                dxc[s] = (float)(g * invstd * (dyc[s] - mdy - xhat * mdyx));
            }
        }
    }
}
