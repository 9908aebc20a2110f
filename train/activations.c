/* activations.c — elementwise layers: ReLU, dropout, residual add, and the
   row-wise L2 normalisation that precedes the contrastive loss. */
#include <math.h>
#include <string.h>

#include "engine.h"
#include "rng.h"

/* Elementwise and memory-bound: threads pay off only on large tensors. */
enum { PAR_MIN = 1 << 16 };

void bst_relu_forward(const float *x, float *y, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void bst_relu_backward(const float *x, const float *dy, float *dx, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float d = dy[i]; /* loaded unconditionally: the select vectorises */
        dx[i] = x[i] > 0.0f ? d : 0.0f;
    }
}

void bst_dropout_forward(const float *x, float *y, float *mask, size_t n,
                         float p, uint64_t seed, uint64_t step, int train)
{
    if (!train || p <= 0.0f) {
        for (size_t i = 0; i < n; i++) {
            mask[i] = 1.0f;
            y[i] = x[i];
        }
        return;
    }
    /* one sequential stream per (seed, step): the mask is a pure function
       of them, whatever the thread layout of the caller */
    bs_rng r;
    bs_rng_derive(&r, seed, BST_STREAM_DROPOUT, step);
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = bs_rng_uniform(&r) >= p ? keep : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

void bst_dropout_backward(const float *mask, const float *dy, float *dx,
                          size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * mask[i];
}

void bst_add(const float *a, const float *b, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void bst_add_inplace(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* ||x_b|| clamped at 1e-12 as F.normalize does */
static double row_norm(const float *x, int d)
{
    double s = 0.0;
    for (int j = 0; j < d; j++)
        s += (double)x[j] * x[j];
    s = sqrt(s);
    return s > 1e-12 ? s : 1e-12;
}

void bst_l2norm_forward(const float *x, float *y, int B, int d)
{
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * d;
        float *yb = y + (size_t)b * d;
        double nrm = row_norm(xb, d);
        for (int j = 0; j < d; j++)
            yb[j] = (float)(xb[j] / nrm);
    }
}

void bst_l2norm_backward(const float *x, const float *y, const float *dy,
                         float *dx, int B, int d)
{
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * d, *yb = y + (size_t)b * d;
        const float *dyb = dy + (size_t)b * d;
        float *dxb = dx + (size_t)b * d;
        double s = 0.0;
        for (int j = 0; j < d; j++)
            s += (double)yb[j] * dyb[j];
        double nrm = row_norm(xb, d);
        if (nrm <= 1e-12) { /* clamped: y = x / 1e-12 is linear in x */
            for (int j = 0; j < d; j++)
                dxb[j] = (float)(dyb[j] / nrm);
            continue;
        }
        for (int j = 0; j < d; j++)
            dxb[j] = (float)((dyb[j] - yb[j] * s) / nrm);
    }
}
