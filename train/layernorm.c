/* layernorm.c — torch.nn.LayerNorm over the last dimension (transformer.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "transformer.h"

/* Row-wise and cheap: threads pay off only on many rows. */
enum { PAR_ROWS = 256 };

int bst_layernorm_init(bst_layernorm *ln, int dim)
{
    memset(ln, 0, sizeof *ln);
    if (dim <= 0)
        return BST_ERR_INVAL;
    ln->dim = dim;
    ln->eps = 1e-5f;
    ln->g = malloc((size_t)dim * sizeof(float));
    ln->dg = calloc((size_t)dim, sizeof(float));
    ln->b = calloc((size_t)dim, sizeof(float));
    ln->db = calloc((size_t)dim, sizeof(float));
    if (!ln->g || !ln->dg || !ln->b || !ln->db) {
        bst_layernorm_free(ln);
        return BST_ERR_NOMEM;
    }
    for (int i = 0; i < dim; i++)
        ln->g[i] = 1.0f;
    return BST_OK;
}

void bst_layernorm_free(bst_layernorm *ln)
{
    free(ln->g);
    free(ln->dg);
    free(ln->b);
    free(ln->db);
    memset(ln, 0, sizeof *ln);
}

int bst_layernorm_params(bst_layernorm *ln, bst_param out[2])
{
    out[0] = (bst_param){ln->g, ln->dg, (size_t)ln->dim, 0};
    out[1] = (bst_param){ln->b, ln->db, (size_t)ln->dim, 0};
    return 2;
}

/* one row: y = (x - mean) rstd g + b, biased variance as torch */
static void ln_row(const bst_layernorm *ln, const float *x, float *y,
                   float *mean, float *rstd)
{
    int C = ln->dim;
    double s = 0.0;
    for (int i = 0; i < C; i++)
        s += x[i];
    double mu = s / C, v = 0.0;
    for (int i = 0; i < C; i++)
        v += ((double)x[i] - mu) * ((double)x[i] - mu);
    double rs = 1.0 / sqrt(v / C + ln->eps);
    for (int i = 0; i < C; i++)
        y[i] = (float)(((double)x[i] - mu) * rs) * ln->g[i] + ln->b[i];
    *mean = (float)mu;
    *rstd = (float)rs;
}

void bst_layernorm_forward(const bst_layernorm *ln, const float *x, float *y,
                           float *mean, float *rstd, int N)
{
    size_t C = (size_t)ln->dim;
#pragma omp parallel for schedule(static) if (N >= PAR_ROWS)
    for (int r = 0; r < N; r++)
        ln_row(ln, x + r * C, y + r * C, mean + r, rstd + r);
}

/* dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy g */
static void ln_row_dx(const bst_layernorm *ln, const float *x, float mean,
                      float rstd, const float *dy, float *dx)
{
    int C = ln->dim;
    double m1 = 0.0, m2 = 0.0;
    for (int i = 0; i < C; i++) {
        double xh = ((double)x[i] - mean) * rstd;
        double d = (double)dy[i] * ln->g[i];
        m1 += d;
        m2 += d * xh;
    }
    m1 /= C;
    m2 /= C;
    for (int i = 0; i < C; i++) {
        double xh = ((double)x[i] - mean) * rstd;
        double d = (double)dy[i] * ln->g[i];
        dx[i] = (float)(rstd * (d - m1 - xh * m2));
    }
}

void bst_layernorm_backward(bst_layernorm *ln, const float *x,
                            const float *mean, const float *rstd,
                            const float *dy, float *dx, int N)
{
    size_t C = (size_t)ln->dim;
    for (int r = 0; r < N; r++) { /* rows in order: deterministic */
        const float *xr = x + r * C, *dyr = dy + r * C;
        for (size_t i = 0; i < C; i++) {
            ln->dg[i] += dyr[i] * ((xr[i] - mean[r]) * rstd[r]);
            ln->db[i] += dyr[i];
        }
    }
    if (!dx)
        return;
#pragma omp parallel for schedule(static) if (N >= PAR_ROWS)
    for (int r = 0; r < N; r++)
        ln_row_dx(ln, x + r * C, mean[r], rstd[r], dy + r * C, dx + r * C);
}
