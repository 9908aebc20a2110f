/* eval.c — weighted kNN classifier and linear probe on frozen features
   (see eval.h). */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "eval.h"
#include "gemm.h"

#define KNN_BLOCK 256 /* test rows per similarity block */
#define LBFGS_M 10    /* L-BFGS history */

/* Index of the first label >= nclasses, or -1. */
static int64_t bad_label(const uint8_t *y, int64_t n, int nclasses)
{
    for (int64_t i = 0; i < n; i++)
        if ((int)y[i] >= nclasses)
            return i;
    return -1;
}

/* Index of the first non-finite value, or -1. */
static int64_t bad_value(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return (int64_t)i;
    return -1;
}

/* Common checks of features and labels; labels may be NULL (not checked). */
static int check_set(const char *what, const float *x, const uint8_t *y,
                     int64_t n, int d, int nclasses, char *msg, size_t cap)
{
    int64_t at = bad_value(x, (size_t)n * (size_t)d);
    if (at >= 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "%s feature (row %lld, column %lld) is not finite",
                        what, (long long)(at / d), (long long)(at % d));
    if (y && (at = bad_label(y, n, nclasses)) >= 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "%s label %d at row %lld is not below nclasses = %d",
                        what, (int)y[at], (long long)at, nclasses);
    return BST_OK;
}

/* y = x / max(|x|, 1e-12) row by row (norm in double). */
static void l2_rows(const float *x, float *y, int64_t n, int d)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double s = 0.0;
        for (int j = 0; j < d; j++)
            s += (double)xi[j] * xi[j];
        double nr = sqrt(s);
        double inv = 1.0 / (nr > 1e-12 ? nr : 1e-12);
        for (int j = 0; j < d; j++)
            yi[j] = (float)(xi[j] * inv);
    }
}

/* ------------------------------------------------------------ weighted kNN */

typedef struct {
    float s;   /* similarity */
    int64_t i; /* train row */
} knn_ent;

/* a ranks before b: larger similarity, then lower train index */
static inline int ent_before(knn_ent a, knn_ent b)
{
    return a.s > b.s || (a.s == b.s && a.i < b.i);
}

static int ent_cmp(const void *pa, const void *pb)
{
    knn_ent a = *(const knn_ent *)pa, b = *(const knn_ent *)pb;
    return ent_before(a, b) ? -1 : ent_before(b, a) ? 1 : 0;
}

/* Heap whose root is the entry that ranks last. */
static void sift_down(knn_ent *h, int n, int p)
{
    for (;;) {
        int w = p, l = 2 * p + 1, r = l + 1;
        if (l < n && ent_before(h[w], h[l]))
            w = l;
        if (r < n && ent_before(h[w], h[r]))
            w = r;
        if (w == p)
            return;
        knn_ent t = h[p];
        h[p] = h[w];
        h[w] = t;
        p = w;
    }
}

/* Top-kk of one similarity row (partial selection with a kk-heap), then the
   weighted vote; returns the predicted class. */
static int knn_row(const float *s, int64_t ntrain, const uint8_t *labels,
                   int kk, double T, int nclasses, knn_ent *h, double *votes)
{
    for (int t = 0; t < kk; t++) {
        h[t].s = s[t];
        h[t].i = t;
    }
    for (int p = kk / 2 - 1; p >= 0; p--)
        sift_down(h, kk, p);
    for (int64_t j = kk; j < ntrain; j++) {
        knn_ent e = {s[j], j};
        if (ent_before(e, h[0])) {
            h[0] = e;
            sift_down(h, kk, 0);
        }
    }
    /* fixed order (most similar first) for the vote sums */
    qsort(h, (size_t)kk, sizeof *h, ent_cmp);
    for (int c = 0; c < nclasses; c++)
        votes[c] = 0.0;
    double smax = h[0].s;
    for (int t = 0; t < kk; t++)
        votes[labels[h[t].i]] += exp(((double)h[t].s - smax) / T);
    int best = 0;
    for (int c = 1; c < nclasses; c++)
        if (votes[c] > votes[best])
            best = c;
    return best;
}

int bst_knn_classify(const float *train, const uint8_t *train_labels,
                     int64_t ntrain, const float *test, int64_t ntest, int d,
                     int nclasses, int k, double T, uint8_t *pred,
                     const uint8_t *test_labels, double *top1, char *msg,
                     size_t cap)
{
    if (!train || !train_labels || !test)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "knn: train, train_labels and test must not be NULL");
    if (ntrain < 1 || ntrain > INT_MAX || ntest < 1 || ntest > INT_MAX)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "knn: ntrain = %lld and ntest = %lld must be in 1..%d",
                        (long long)ntrain, (long long)ntest, INT_MAX);
    if (d < 1)
        return bst_fail(msg, cap, BST_ERR_INVAL, "knn: d = %d must be >= 1", d);
    if (nclasses < 1 || nclasses > 256)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "knn: nclasses = %d must be in 1..256", nclasses);
    if (k < 1)
        return bst_fail(msg, cap, BST_ERR_INVAL, "knn: k = %d must be >= 1", k);
    if (!(T > 0.0) || !isfinite(T))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "knn: temperature T = %g must be finite and > 0", T);
    if (top1 && !test_labels)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "knn: top1 needs test_labels (NULL given)");
    int rc = check_set("knn: train", train, train_labels, ntrain, d, nclasses,
                       msg, cap);
    if (rc == BST_OK)
        rc = check_set("knn: test", test, test_labels, ntest, d, nclasses, msg,
                       cap);
    if (rc != BST_OK)
        return rc;

    int kk = k < ntrain ? k : (int)ntrain;
    int nth = omp_get_max_threads();
    int64_t blk = ntest < KNN_BLOCK ? ntest : KNN_BLOCK;
    float *tr = malloc((size_t)ntrain * d * sizeof *tr);
    float *te = malloc((size_t)ntest * d * sizeof *te);
    float *sim = malloc((size_t)blk * ntrain * sizeof *sim);
    knn_ent *heaps = malloc((size_t)nth * kk * sizeof *heaps);
    double *votes = malloc((size_t)nth * nclasses * sizeof *votes);
    uint8_t *out = malloc((size_t)ntest);
    if (!tr || !te || !sim || !heaps || !votes || !out) {
        free(tr);
        free(te);
        free(sim);
        free(heaps);
        free(votes);
        free(out);
        return bst_fail(
            msg, cap, BST_ERR_NOMEM,
            "knn: out of memory (ntrain = %lld, ntest = %lld, d = %d)",
            (long long)ntrain, (long long)ntest, d);
    }
    l2_rows(train, tr, ntrain, d);
    l2_rows(test, te, ntest, d);

    for (int64_t b0 = 0; b0 < ntest; b0 += blk) {
        int nb = (int)(ntest - b0 < blk ? ntest - b0 : blk);
        /* sim (nb, ntrain) = te[b0 : b0 + nb] tr^T */
        bst_sgemm(CblasNoTrans, CblasTrans, nb, (int)ntrain, d, 1.0f,
                  te + (size_t)b0 * d, d, tr, d, 0.0f, sim, (int)ntrain);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < nb; r++) {
            int t = omp_get_thread_num();
            out[b0 + r] = (uint8_t)knn_row(
                sim + (size_t)r * ntrain, ntrain, train_labels, kk, T, nclasses,
                heaps + (size_t)t * kk, votes + (size_t)t * nclasses);
        }
    }

    if (top1) {
        int64_t ok = 0;
        for (int64_t i = 0; i < ntest; i++)
            ok += out[i] == test_labels[i];
        *top1 = (double)ok / (double)ntest;
    }
    if (pred)
        memcpy(pred, out, (size_t)ntest);
    free(tr);
    free(te);
    free(sim);
    free(heaps);
    free(votes);
    free(out);
    return BST_OK;
}

/* ------------------------------------------------------------ linear probe */

void bst_probe_cfg_default(bst_probe_cfg *c)
{
    c->l2 = 1e-4;
    c->max_iter = 200;
    c->tol = 1e-5;
}

typedef struct {
    const float *X;   /* (n, d) standardised train features */
    const uint8_t *y; /* (n) */
    int64_t n;
    int d, C;
    double l2;
    float *W;        /* (C, d) float copy of the weights */
    float *L;        /* (n, C) logits, then dloss/dlogits */
    float *dW;       /* (C, d) */
    double *rowloss; /* (n) */
} probe_ws;

/* f(theta) and its gradient g; theta = [W (C, d), b (C)] in double. */
static double probe_objective(probe_ws *w, const double *theta, double *g)
{
    const int C = w->C, d = w->d;
    const int64_t n = w->n;
    const double *b = theta + (size_t)C * d;
    for (size_t i = 0; i < (size_t)C * d; i++)
        w->W[i] = (float)theta[i];
    /* logits (n, C) = X W^T */
    bst_sgemm(CblasNoTrans, CblasTrans, (int)n, C, d, 1.0f, w->X, d, w->W, d,
              0.0f, w->L, C);
    const double inv_n = 1.0 / (double)n;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float *li = w->L + (size_t)i * C;
        double m = -INFINITY;
        for (int c = 0; c < C; c++) {
            double z = (double)li[c] + b[c];
            if (z > m)
                m = z;
        }
        double s = 0.0;
        for (int c = 0; c < C; c++)
            s += exp((double)li[c] + b[c] - m);
        int yi = w->y[i];
        w->rowloss[i] = m + log(s) - ((double)li[yi] + b[yi]);
        for (int c = 0; c < C; c++) {
            double p = exp((double)li[c] + b[c] - m) / s;
            li[c] = (float)((p - (c == yi)) * inv_n);
        }
    }
    double f = 0.0;
    for (int64_t i = 0; i < n; i++)
        f += w->rowloss[i];
    f *= inv_n;
    /* dW (C, d) = G^T X */
    bst_sgemm(CblasTrans, CblasNoTrans, C, d, (int)n, 1.0f, w->L, C, w->X, d,
              0.0f, w->dW, d);
    double reg = 0.0;
    for (size_t i = 0; i < (size_t)C * d; i++) {
        reg += theta[i] * theta[i];
        g[i] = (double)w->dW[i] + w->l2 * theta[i];
    }
    f += 0.5 * w->l2 * reg;
    double *gb = g + (size_t)C * d;
    for (int c = 0; c < C; c++)
        gb[c] = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++)
            gb[c] += w->L[(size_t)i * C + c];
    return f;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double max_abs(const double *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m)
            m = fabs(a[i]);
    return m;
}

int bst_probe_objective(const float *X, const uint8_t *y, int64_t n, int d,
                        int nclasses, double l2, const double *theta, double *f,
                        double *grad, char *msg, size_t cap)
{
    if (!X || !y || !theta || !f || !grad)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "probe objective: X, y, theta, f and grad must not be "
                        "NULL");
    if (n < 1 || n > INT_MAX || d < 1 || nclasses < 1 || nclasses > 256)
        return bst_fail(
            msg, cap, BST_ERR_INVAL,
            "probe objective: n = %lld, d = %d, nclasses = %d out of "
            "range",
            (long long)n, d, nclasses);
    if (!(l2 >= 0.0) || !isfinite(l2))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "probe objective: l2 = %g must be finite and >= 0", l2);
    int rc = check_set("probe objective:", X, y, n, d, nclasses, msg, cap);
    if (rc != BST_OK)
        return rc;
    const int C = nclasses;
    float *W = malloc((size_t)C * d * sizeof *W);
    float *dW = malloc((size_t)C * d * sizeof *dW);
    float *L = malloc((size_t)n * C * sizeof *L);
    double *rowloss = malloc((size_t)n * sizeof *rowloss);
    if (W && dW && L && rowloss) {
        probe_ws w = {X, y, n, d, C, l2, W, L, dW, rowloss};
        *f = probe_objective(&w, theta, grad);
    } else {
        rc =
            bst_fail(msg, cap, BST_ERR_NOMEM, "probe objective: out of memory");
    }
    free(W);
    free(dW);
    free(L);
    free(rowloss);
    return rc;
}

/* Full-batch L-BFGS from theta (updated in place). */
static void lbfgs(probe_ws *w, double *theta, size_t P, int max_iter,
                  double tol, double *S, double *Y, double *rho, double *g,
                  double *gn, double *p, double *xn, double *alpha)
{
    int hist = 0, head = 0; /* pairs stored, next slot */
    double f = probe_objective(w, theta, g);
    for (int it = 0; it < max_iter; it++) {
        if (max_abs(g, P) <= tol)
            return;
        /* two-loop recursion: p = -H g */
        for (size_t i = 0; i < P; i++)
            p[i] = -g[i];
        for (int j = 0; j < hist; j++) {
            int s = (head - 1 - j + LBFGS_M) % LBFGS_M;
            alpha[s] = rho[s] * dot(S + (size_t)s * P, p, P);
            const double *ys = Y + (size_t)s * P;
            for (size_t i = 0; i < P; i++)
                p[i] -= alpha[s] * ys[i];
        }
        if (hist > 0) {
            int s = (head - 1 + LBFGS_M) % LBFGS_M;
            const double *ys = Y + (size_t)s * P;
            double gamma = 1.0 / (rho[s] * dot(ys, ys, P));
            for (size_t i = 0; i < P; i++)
                p[i] *= gamma;
        }
        for (int j = hist - 1; j >= 0; j--) {
            int s = (head - 1 - j + LBFGS_M) % LBFGS_M;
            double beta = rho[s] * dot(Y + (size_t)s * P, p, P);
            const double *ss = S + (size_t)s * P;
            for (size_t i = 0; i < P; i++)
                p[i] += (alpha[s] - beta) * ss[i];
        }
        double gp = dot(g, p, P);
        if (!(gp < 0.0)) { /* not a descent direction: restart */
            hist = 0;
            for (size_t i = 0; i < P; i++)
                p[i] = -g[i];
            gp = dot(g, p, P);
        }
        double a = 1.0;
        if (hist == 0) {
            double gn2 = sqrt(-gp);
            a = gn2 > 1.0 ? 1.0 / gn2 : 1.0;
        }
        /* backtracking Armijo line search */
        double fn = f;
        int ok = 0;
        for (int ls = 0; ls < 40; ls++) {
            for (size_t i = 0; i < P; i++)
                xn[i] = theta[i] + a * p[i];
            fn = probe_objective(w, xn, gn);
            if (fn <= f + 1e-4 * a * gp) {
                ok = 1;
                break;
            }
            a *= 0.5;
        }
        if (!ok) {
            if (hist == 0)
                return; /* no decrease along -g: float precision reached */
            hist = 0;   /* retry from steepest descent */
            continue;
        }
        /* history pair s = xn - theta, y = gn - g */
        double *ss = S + (size_t)head * P, *ys = Y + (size_t)head * P;
        for (size_t i = 0; i < P; i++) {
            ss[i] = xn[i] - theta[i];
            ys[i] = gn[i] - g[i];
        }
        double sy = dot(ss, ys, P);
        if (sy > 1e-10 * dot(ys, ys, P) && sy > 0.0) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (hist < LBFGS_M)
                hist++;
        }
        memcpy(theta, xn, P * sizeof *theta);
        memcpy(g, gn, P * sizeof *g);
        f = fn;
    }
}

/* Fraction of rows whose argmax of X W^T + b (ties: lowest class) is y. */
static double probe_top1(const float *X, const uint8_t *y, int64_t n, int d,
                         int C, const float *W, const double *b, float *L)
{
    bst_sgemm(CblasNoTrans, CblasTrans, (int)n, C, d, 1.0f, X, d, W, d, 0.0f, L,
              C);
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *li = L + (size_t)i * C;
        int best = 0;
        double bz = (double)li[0] + b[0];
        for (int c = 1; c < C; c++) {
            double z = (double)li[c] + b[c];
            if (z > bz) {
                bz = z;
                best = c;
            }
        }
        ok += best == y[i];
    }
    return (double)ok / (double)n;
}

/* out = (x - mean) * inv per column */
static void standardise(const float *x, float *out, int64_t n, int d,
                        const double *mean, const double *inv)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            out[(size_t)i * d + j] =
                (float)(((double)x[(size_t)i * d + j] - mean[j]) * inv[j]);
}

int bst_linear_probe(const bst_probe_cfg *cfg, const float *train,
                     const uint8_t *train_labels, int64_t ntrain,
                     const float *test, const uint8_t *test_labels,
                     int64_t ntest, int d, int nclasses, double *train_top1,
                     double *test_top1, char *msg, size_t cap)
{
    bst_probe_cfg def;
    if (!cfg) {
        bst_probe_cfg_default(&def);
        cfg = &def;
    }
    if (!(cfg->l2 >= 0.0) || !isfinite(cfg->l2))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "probe: l2 = %g must be finite and >= 0", cfg->l2);
    if (cfg->max_iter < 1)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "probe: max_iter = %d must be >= 1", cfg->max_iter);
    if (!(cfg->tol >= 0.0) || !isfinite(cfg->tol))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "probe: tol = %g must be finite and >= 0", cfg->tol);
    if (!train || !train_labels || !test || !test_labels)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "probe: train, train_labels, test and test_labels must "
                        "not be NULL");
    if (ntrain < 1 || ntrain > INT_MAX || ntest < 1 || ntest > INT_MAX)
        return bst_fail(
            msg, cap, BST_ERR_INVAL,
            "probe: ntrain = %lld and ntest = %lld must be in 1..%d",
            (long long)ntrain, (long long)ntest, INT_MAX);
    if (d < 1)
        return bst_fail(msg, cap, BST_ERR_INVAL, "probe: d = %d must be >= 1",
                        d);
    if (nclasses < 1 || nclasses > 256)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "probe: nclasses = %d must be in 1..256", nclasses);
    int rc = check_set("probe: train", train, train_labels, ntrain, d, nclasses,
                       msg, cap);
    if (rc == BST_OK)
        rc = check_set("probe: test", test, test_labels, ntest, d, nclasses,
                       msg, cap);
    if (rc != BST_OK)
        return rc;

    const int C = nclasses;
    const size_t P = (size_t)C * d + C;
    int64_t nmax = ntrain > ntest ? ntrain : ntest;
    float *Xtr = malloc((size_t)ntrain * d * sizeof *Xtr);
    float *Xte = malloc((size_t)ntest * d * sizeof *Xte);
    float *L = malloc((size_t)nmax * C * sizeof *L);
    float *Wf = malloc((size_t)C * d * sizeof *Wf);
    float *dW = malloc((size_t)C * d * sizeof *dW);
    double *rowloss = malloc((size_t)ntrain * sizeof *rowloss);
    double *stat = malloc((size_t)2 * d * sizeof *stat);
    /* theta, g, gn, p, xn (P each), S, Y (M P each), rho, alpha (M each) */
    double *opt = calloc((5 + 2 * LBFGS_M) * P + 2 * LBFGS_M, sizeof *opt);
    if (!Xtr || !Xte || !L || !Wf || !dW || !rowloss || !stat || !opt) {
        free(Xtr);
        free(Xte);
        free(L);
        free(Wf);
        free(dW);
        free(rowloss);
        free(stat);
        free(opt);
        return bst_fail(msg, cap, BST_ERR_NOMEM,
                        "probe: out of memory (ntrain = %lld, ntest = %lld, "
                        "d = %d)",
                        (long long)ntrain, (long long)ntest, d);
    }

    /* train mean and biased std per column, in double, fixed order */
    double *mean = stat, *inv = stat + d;
    for (int j = 0; j < d; j++)
        mean[j] = inv[j] = 0.0;
    for (int64_t i = 0; i < ntrain; i++)
        for (int j = 0; j < d; j++)
            mean[j] += train[(size_t)i * d + j];
    for (int j = 0; j < d; j++)
        mean[j] /= (double)ntrain;
    for (int64_t i = 0; i < ntrain; i++)
        for (int j = 0; j < d; j++) {
            double v = train[(size_t)i * d + j] - mean[j];
            inv[j] += v * v;
        }
    for (int j = 0; j < d; j++) {
        double sd = sqrt(inv[j] / (double)ntrain);
        inv[j] = sd > 1e-6 ? 1.0 / sd : 1.0;
    }
    standardise(train, Xtr, ntrain, d, mean, inv);
    standardise(test, Xte, ntest, d, mean, inv);

    double *theta = opt, *g = theta + P, *gn = g + P, *p = gn + P, *xn = p + P,
           *S = xn + P, *Y = S + LBFGS_M * P, *rho = Y + LBFGS_M * P,
           *alpha = rho + LBFGS_M;
    probe_ws w = {Xtr, train_labels, ntrain, d, C, cfg->l2, Wf, L, dW, rowloss};
    lbfgs(&w, theta, P, cfg->max_iter, cfg->tol, S, Y, rho, g, gn, p, xn,
          alpha);

    for (size_t i = 0; i < (size_t)C * d; i++)
        Wf[i] = (float)theta[i];
    const double *b = theta + (size_t)C * d;
    double acc_tr = probe_top1(Xtr, train_labels, ntrain, d, C, Wf, b, L);
    double acc_te = probe_top1(Xte, test_labels, ntest, d, C, Wf, b, L);
    if (train_top1)
        *train_top1 = acc_tr;
    if (test_top1)
        *test_top1 = acc_te;
    free(Xtr);
    free(Xte);
    free(L);
    free(Wf);
    free(dW);
    free(rowloss);
    free(stat);
    free(opt);
    return BST_OK;
}
