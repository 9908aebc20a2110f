/* gelu.c — the transformer's pointwise activations: exact GELU (MLP) and
   tanh (SimCSE's head), see transformer.h. */
#include <math.h>

#include "transformer.h"

enum { PAR_MIN = 1 << 16 };

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

void bst_gelu_forward(const float *x, float *y, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(0.5 * v * (1.0 + erf(v * INV_SQRT2)));
    }
}

/* d/dx = Phi(x) + x phi(x) */
void bst_gelu_backward(const float *x, const float *dy, float *dx, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double cdf = 0.5 * (1.0 + erf(v * INV_SQRT2));
        double pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
        dx[i] = (float)(dy[i] * (cdf + v * pdf));
    }
}

void bst_tanh_forward(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

void bst_tanh_backward(const float *y, const float *dy, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
