/* pool.c — max pooling (window k, stride s, no padding) and global average
   pooling.  OpenMP over (n, c) planes, which are independent. */
#include <string.h>

#include "engine.h"

/* Index in the (H, W) plane of window (oh, ow)'s first maximum. */
static int argmax_window(const float *xp, int W, int k, int s, int oh, int ow)
{
    int best = (oh * s) * W + ow * s;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            int idx = (oh * s + i) * W + ow * s + j;
            if (xp[idx] > xp[best])
                best = idx;
        }
    return best;
}

void bst_maxpool_forward(const float *x, float *y, int N, int C, int H, int W,
                         int k, int s)
{
    int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < N * C; p++) {
        const float *xp = x + (size_t)p * H * W;
        float *yp = y + (size_t)p * Ho * Wo;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                yp[oh * Wo + ow] = xp[argmax_window(xp, W, k, s, oh, ow)];
    }
}

void bst_maxpool_backward(const float *x, const float *dy, float *dx, int N,
                          int C, int H, int W, int k, int s)
{
    int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < N * C; p++) {
        const float *xp = x + (size_t)p * H * W;
        const float *dyp = dy + (size_t)p * Ho * Wo;
        float *dxp = dx + (size_t)p * H * W;
        memset(dxp, 0, (size_t)H * W * sizeof(float));
        /* += : overlapping windows (s < k) may share a maximum */
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                dxp[argmax_window(xp, W, k, s, oh, ow)] += dyp[oh * Wo + ow];
    }
}

void bst_gap_forward(const float *x, float *y, int N, int C, int S)
{
    for (int p = 0; p < N * C; p++) {
        const float *xp = x + (size_t)p * S;
        double sum = 0.0;
        for (int q = 0; q < S; q++)
            sum += xp[q];
        y[p] = (float)(sum / S);
    }
}

void bst_gap_backward(const float *dy, float *dx, int N, int C, int S)
{
    for (int p = 0; p < N * C; p++) {
        float g = dy[p] / (float)S;
        for (int q = 0; q < S; q++)
            dx[(size_t)p * S + q] = g;
    }
}
