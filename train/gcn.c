/* gcn.c — dense GCN layers, PPR diffusion, PReLU, sum pooling and the
   MVGRL MLP head (gcn.h). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gcn.h"
#include "gemm.h"
#include "rng.h"

/* ------------------------------------------------------------ operators */

/* 1 / sqrt(degree of v in A + I) */
static double dinv(const int64_t *adj_off, int v)
{
    return 1.0 / sqrt((double)(adj_off[v + 1] - adj_off[v]) + 1.0);
}

/* scale * D^-1/2 (A + I) D^-1/2 into n x n doubles (outd) or floats
   (outf, when outd is NULL). */
static void norm_adj(int n, const int64_t *adj_off, const int32_t *adj,
                     double scale, double *outd, float *outf)
{
    for (size_t i = 0; i < (size_t)n * n; i++)
        if (outd)
            outd[i] = 0;
        else
            outf[i] = 0;
    for (int i = 0; i < n; i++) {
        const int32_t *nb = adj + (adj_off[i] - adj_off[0]);
        int64_t m = adj_off[i + 1] - adj_off[i];
        for (int64_t k = -1; k < m; k++) {
            int j = k < 0 ? i : nb[k];
            double v = scale * dinv(adj_off, i) * dinv(adj_off, j);
            if (outd)
                outd[(size_t)i * n + j] = v;
            else
                outf[(size_t)i * n + j] = (float)v;
        }
    }
}

void bst_gcn_norm_adj(int n, const int64_t *adj_off, const int32_t *adj,
                      float *out)
{
    norm_adj(n, adj_off, adj, 1.0, NULL, out);
}

/* In-place Cholesky of the symmetric a (n, n): its lower triangle becomes
   L with L L^T = a.  0, or -1 if a is not positive definite. */
static int cholesky(double *a, int n)
{
    for (int j = 0; j < n; j++) {
        double *rj = a + (size_t)j * n;
        double s = rj[j];
        for (int k = 0; k < j; k++)
            s -= rj[k] * rj[k];
        if (!(s > 0))
            return -1;
        double d = sqrt(s);
        rj[j] = d;
        for (int i = j + 1; i < n; i++) {
            double *ri = a + (size_t)i * n, t = ri[j];
            for (int k = 0; k < j; k++)
                t -= ri[k] * rj[k];
            ri[j] = t / d;
        }
    }
    return 0;
}

/* x = L^-1 (lower triangular), from L's lower triangle. */
static void lower_inverse(const double *L, double *x, int n)
{
    memset(x, 0, sizeof(double) * (size_t)n * n);
    for (int i = 0; i < n; i++) {
        const double *li = L + (size_t)i * n;
        double *xi = x + (size_t)i * n;
        xi[i] = 1.0 / li[i];
        for (int j = 0; j < i; j++) {
            double s = 0;
            for (int k = j; k < i; k++)
                s += li[k] * x[(size_t)k * n + j];
            xi[j] = -s / li[i];
        }
    }
}

int bst_gcn_ppr(int n, const int64_t *adj_off, const int32_t *adj, double alpha,
                float *out, double *work)
{
    if (n < 1 || !(alpha > 0 && alpha <= 1))
        return BST_ERR_INVAL;
    double *m = work, *x = work + (size_t)n * n;
    /* m = I - (1 - alpha) A~ */
    norm_adj(n, adj_off, adj, -(1.0 - alpha), m, NULL);
    for (int i = 0; i < n; i++)
        m[(size_t)i * n + i] += 1.0;
    if (cholesky(m, n))
        return BST_ERR_INVAL;
    lower_inverse(m, x, n);
    /* m^-1 = L^-T L^-1: [i][j] = sum_{k >= max(i, j)} x[k][i] x[k][j] */
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int k = i; k < n; k++)
                s += x[(size_t)k * n + i] * x[(size_t)k * n + j];
            out[(size_t)i * n + j] = out[(size_t)j * n + i] =
                (float)(alpha * s);
        }
    return BST_OK;
}

/* ---------------------------------------------------------------- PReLU */

void bst_prelu_init(bst_prelu *p)
{
    p->a = 0.25f;
    p->da = 0.0f;
}

int bst_prelu_params(bst_prelu *p, bst_param out[1])
{
    out[0] = (bst_param){&p->a, &p->da, 1, 0};
    return 1;
}

void bst_prelu_forward(const bst_prelu *p, const float *x, float *y, size_t n)
{
    float a = p->a;
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : a * x[i];
}

void bst_prelu_backward(bst_prelu *p, const float *x, const float *dy,
                        float *dx, size_t n)
{
    float a = p->a;
    double da = 0;
    for (size_t i = 0; i < n; i++) {
        float g = dy[i];
        if (x[i] > 0) {
            dx[i] = g;
        } else {
            da += (double)g * x[i];
            dx[i] = a * g;
        }
    }
    p->da += (float)da;
}

/* ------------------------------------------------------------------ GCN */

void bst_uniform_init(float *w, size_t n, float bound, uint64_t seed,
                      uint64_t index)
{
    bs_rng r;
    bs_rng_derive(&r, seed, BST_STREAM_INIT, index);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * bs_rng_uniform(&r) - 1.0) * bound);
}

int bst_gcn_init(bst_gcn *l, int in, int out)
{
    memset(l, 0, sizeof *l);
    int rc = bst_linear_init(&l->fc, in, out, 0);
    if (rc)
        return rc;
    l->in = in;
    l->out = out;
    l->b = calloc((size_t)out, sizeof(float));
    l->db = calloc((size_t)out, sizeof(float));
    bst_prelu_init(&l->act);
    if (!l->b || !l->db) {
        bst_gcn_free(l);
        return BST_ERR_NOMEM;
    }
    return BST_OK;
}

void bst_gcn_free(bst_gcn *l)
{
    bst_linear_free(&l->fc);
    free(l->b);
    free(l->db);
    memset(l, 0, sizeof *l);
}

void bst_gcn_reset(bst_gcn *l, uint64_t seed, uint64_t index)
{
    float bound = (float)sqrt(6.0 / (l->in + l->out));
    bst_uniform_init(l->fc.W, (size_t)l->in * l->out, bound, seed, index);
    memset(l->b, 0, sizeof(float) * (size_t)l->out);
    bst_prelu_init(&l->act);
}

int bst_gcn_params(bst_gcn *l, bst_param out[3])
{
    bst_linear_params(&l->fc, out);
    out[1] = (bst_param){l->b, l->db, (size_t)l->out, 0};
    bst_prelu_params(&l->act, out + 2);
    return 3;
}

/* y_g = op_g^(T) x_g for every graph (rows of d floats), one graph per
   OpenMP iteration; bst_sgemm runs serially inside the region. */
static void apply_op(const bst_gblock *g, const float *x, float *y, int d,
                     int trans)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < g->graphs; k++) {
        int64_t o = g->node_off[k];
        int n = (int)(g->node_off[k + 1] - o);
        if (n > 0)
            bst_sgemm(trans ? CblasTrans : CblasNoTrans, CblasNoTrans, n, d, n,
                      1.0f, g->op[k], n, x + (size_t)o * d, d, 0.0f,
                      y + (size_t)o * d, d);
    }
}

void bst_gcn_forward(const bst_gcn *l, const bst_gblock *g, const float *x,
                     float *xw, float *z, float *y)
{
    int N = (int)g->node_off[g->graphs], out = l->out;
    if (N == 0)
        return;
    bst_linear_forward(&l->fc, x, xw, N);
    apply_op(g, xw, z, out, 0);
    for (int i = 0; i < N; i++)
        for (int o = 0; o < out; o++)
            z[(size_t)i * out + o] += l->b[o];
    bst_prelu_forward(&l->act, z, y, (size_t)N * out);
}

void bst_gcn_backward(bst_gcn *l, const bst_gblock *g, const float *x,
                      const float *z, const float *dy, float *dx, float *work)
{
    int N = (int)g->node_off[g->graphs], out = l->out;
    if (N == 0)
        return;
    float *dz = work, *dxw = work + (size_t)N * out;
    bst_prelu_backward(&l->act, z, dy, dz, (size_t)N * out);
    for (int i = 0; i < N; i++) /* fixed order */
        for (int o = 0; o < out; o++)
            l->db[o] += dz[(size_t)i * out + o];
    apply_op(g, dz, dxw, out, 1);
    bst_linear_backward(&l->fc, x, dxw, dx, N);
}

/* ---------------------------------------------------------- sum pooling */

void bst_graph_sum_pool_forward(const bst_gblock *g, const float *x, int d,
                                float *y, int ldy)
{
    for (int k = 0; k < g->graphs; k++) {
        float *yk = y + (size_t)k * ldy;
        memset(yk, 0, sizeof(float) * (size_t)d);
        for (int64_t i = g->node_off[k]; i < g->node_off[k + 1]; i++)
            for (int c = 0; c < d; c++)
                yk[c] += x[(size_t)i * d + c];
    }
}

void bst_graph_sum_pool_backward(const bst_gblock *g, const float *dy, int ldy,
                                 int d, float *dx, int accumulate)
{
    for (int k = 0; k < g->graphs; k++) {
        const float *dk = dy + (size_t)k * ldy;
        for (int64_t i = g->node_off[k]; i < g->node_off[k + 1]; i++)
            for (int c = 0; c < d; c++)
                dx[(size_t)i * d + c] =
                    (accumulate ? dx[(size_t)i * d + c] : 0.0f) + dk[c];
    }
}

/* ------------------------------------------------------------------ MLP */

int bst_mlp_init(bst_mlp *m, int in, int out)
{
    memset(m, 0, sizeof *m);
    if (in <= 0 || out <= 0)
        return BST_ERR_INVAL;
    m->in = in;
    m->out = out;
    int rc = bst_linear_init(&m->sc, in, out, 1);
    for (int i = 0; i < 3 && !rc; i++) {
        rc = bst_linear_init(&m->l[i], i ? out : in, out, 1);
        bst_prelu_init(&m->a[i]);
    }
    if (rc)
        bst_mlp_free(m);
    return rc;
}

void bst_mlp_free(bst_mlp *m)
{
    for (int i = 0; i < 3; i++)
        bst_linear_free(&m->l[i]);
    bst_linear_free(&m->sc);
    memset(m, 0, sizeof *m);
}

static void torch_linear_init(bst_linear *l, uint64_t seed, uint64_t index)
{
    float bound = (float)(1.0 / sqrt((double)l->in));
    bst_uniform_init(l->W, (size_t)l->in * l->out, bound, seed, 2 * index);
    bst_uniform_init(l->b, (size_t)l->out, bound, seed, 2 * index + 1);
}

void bst_mlp_reset(bst_mlp *m, uint64_t seed, uint64_t index)
{
    for (int i = 0; i < 3; i++) {
        torch_linear_init(&m->l[i], seed, 4 * index + (uint64_t)i);
        bst_prelu_init(&m->a[i]);
    }
    torch_linear_init(&m->sc, seed, 4 * index + 3);
}

int bst_mlp_param_count(void)
{
    return 11;
}

int bst_mlp_params(bst_mlp *m, bst_param out[11])
{
    int k = 0;
    for (int i = 0; i < 3; i++) {
        k += bst_linear_params(&m->l[i], out + k);
        k += bst_prelu_params(&m->a[i], out + k);
    }
    k += bst_linear_params(&m->sc, out + k);
    return k;
}

size_t bst_mlp_act_floats(const bst_mlp *m, int B)
{
    return 5 * (size_t)B * m->out;
}

/* act = [h1 a1 h2 a2 h3], each (B, out); h pre-, a post-activation; the
   third activation goes straight to y, which then gets the shortcut */
void bst_mlp_forward(const bst_mlp *m, const float *x, float *y, float *act,
                     int B)
{
    size_t s = (size_t)B * m->out;
    const float *in = x;
    for (int i = 0; i < 3; i++) {
        float *h = act + 2 * i * s;
        float *a = i < 2 ? h + s : y;
        bst_linear_forward(&m->l[i], in, h, B);
        bst_prelu_forward(&m->a[i], h, a, s);
        in = a;
    }
    bst_sgemm(CblasNoTrans, CblasTrans, B, m->out, m->in, 1.0f, x, m->in,
              m->sc.W, m->in, 1.0f, y, m->out);
    for (int i = 0; i < B; i++)
        for (int o = 0; o < m->out; o++)
            y[(size_t)i * m->out + o] += m->sc.b[o];
}

void bst_mlp_backward(bst_mlp *m, const float *x, const float *act,
                      const float *dy, float *dx, float *work, int B)
{
    size_t s = (size_t)B * m->out;
    int mx = m->in > m->out ? m->in : m->out;
    float *t[2] = {work, work + (size_t)B * mx};
    /* layer i's pre-activation gradient alternates between t[0] and t[1]:
       dh3 -> t0, da2 -> t1 (dh2 in place), da1 -> t0 (dh1 in place) */
    bst_prelu_backward(&m->a[2], act + 4 * s, dy, t[0], s);
    for (int i = 2; i > 0; i--) {
        float *dh = t[i % 2 == 0 ? 0 : 1], *dprev = t[i % 2 == 0 ? 1 : 0];
        bst_linear_backward(&m->l[i], act + (2 * i - 1) * s, dh, dprev, B);
        bst_prelu_backward(&m->a[i - 1], act + 2 * (i - 1) * s, dprev, dprev,
                           s);
    }
    bst_linear_backward(&m->l[0], x, t[0], dx, B);
    bst_linear_backward(&m->sc, x, dy, dx ? t[1] : NULL, B);
    if (dx)
        bst_add_inplace(dx, t[1], (size_t)B * m->in);
}
