/*
 * svm_eval.c — nested stratified cross-validation of an SVM on frozen
 * embeddings (svm_eval.h): libsvm for the RBF kernel, liblinear for the
 * linear one.  Each (outer fold, inner fold) pair is one OpenMP task that
 * fits every C on its own problem (RBF: one precomputed kernel matrix for
 * the seven C), then each outer fold's final fit is one; the inputs (the
 * squared distances or liblinear's rows, built once) are only read.
 */
#include <libsvm/svm.h>
#include <linear.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "rng.h"
#include "svm_eval.h"

/* bs_rng_derive purpose of the splits (index: stream << 32 | class). */
#define SVM_STREAM_SPLIT 0x5356u

const double bst_svm_c_grid[BST_SVM_NUM_C] = {0.001, 0.01, 0.1, 1,
                                              10,    100,  1000};

typedef struct {
    const bst_svm_config *cfg;
    const int32_t *y;
    int64_t n, d;
    int classes;
    const float *x;
    double *sq; /* RBF: (n, n) |x_i|^2 + |x_j|^2 - 2 x_i.x_j, libsvm's */
    struct feature_node *lnodes, **lrows; /* linear: d + 2 (bias) a row */
} svm_ctx;

static void quiet(const char *s)
{
    (void)s;
}

void bst_svm_config_default(bst_svm_config *cfg)
{
    cfg->kernel = BST_SVM_RBF;
    cfg->folds = 10;
    cfg->inner_folds = 5;
    cfg->seed = 0;
}

/* ------------------------------------------------------------- splits */

/* fold[j] for the m samples idx[j]: each class's samples (in idx order)
   shuffled by (seed, stream, class), classes one after the other, dealt
   round-robin over k folds. */
static int strat_split(const svm_ctx *c, const int64_t *idx, int64_t m, int k,
                       uint64_t stream, int *fold)
{
    int64_t *order = malloc((size_t)(m > 0 ? m : 1) * sizeof *order);
    if (!order)
        return -1;
    int64_t at = 0;
    for (int cl = 0; cl < c->classes; cl++) {
        int64_t start = at;
        for (int64_t j = 0; j < m; j++)
            if (c->y[idx[j]] == cl)
                order[at++] = j;
        bs_rng r;
        bs_rng_derive(&r, c->cfg->seed, SVM_STREAM_SPLIT,
                      stream << 32 | (uint64_t)cl);
        for (int64_t i = at - start - 1; i > 0; i--) {
            int64_t j = (int64_t)bs_rng_below(&r, (uint64_t)i + 1);
            int64_t t = order[start + i];
            order[start + i] = order[start + j];
            order[start + j] = t;
        }
    }
    for (int64_t p = 0; p < m; p++)
        fold[order[p]] = (int)(p % k);
    free(order);
    return 0;
}

/* ------------------------------------------------------------ fitting */

/* sklearn's gamma='scale': 1 / (d * var of every entry of the part). */
static double rbf_gamma(const svm_ctx *c, const int64_t *tr, int64_t ntr)
{
    double sum = 0, sq = 0, cnt = (double)ntr * (double)c->d;
    for (int64_t i = 0; i < ntr; i++)
        for (int64_t j = 0; j < c->d; j++)
            sum += c->x[tr[i] * c->d + j];
    double mean = sum / cnt;
    for (int64_t i = 0; i < ntr; i++)
        for (int64_t j = 0; j < c->d; j++) {
            double v = c->x[tr[i] * c->d + j] - mean;
            sq += v * v;
        }
    double var = sq / cnt;
    return var > 0 ? 1.0 / ((double)c->d * var) : 1.0;
}

/* Scratch of one task (a training part, its test part, every C). */
typedef struct {
    int64_t *tr, *te, *itr, *ite; /* index lists */
    int *ifold;
    double *ybuf;
    void **rowbuf;
    struct svm_node *knodes; /* RBF: precomputed kernel rows */
    size_t knodes_cap;
} fold_buf;

/* libsvm's RBF kernel values, computed once per training part instead of
   once per C and per kernel-cache miss, and handed to libsvm as a
   PRECOMPUTED kernel: training row i holds (0: serial i + 1), then
   K(i, j) at index j + 1 for the ntr training rows j; test rows the same
   with K(test, j).  The values are the ones libsvm's RBF would compute,
   bit for bit: between training rows exp(-gamma * (|x_i|^2 + |x_j|^2 - 2
   x_i.x_j)) (Kernel::kernel_rbf, from c->sq), for a test row exp(-gamma *
   sum (x - y)^2) (Kernel::k_function), both summed in double in index
   order; so the models, predictions and the chosen C are libsvm's own. */
static int kernel_rows(const svm_ctx *c, fold_buf *b, const int64_t *tr,
                       int64_t ntr, const int64_t *te, int64_t nte,
                       double gamma)
{
    size_t w = (size_t)ntr + 2, need = w * (size_t)(ntr + nte);
    if (need > b->knodes_cap) {
        free(b->knodes);
        b->knodes = malloc(need * sizeof *b->knodes);
        b->knodes_cap = b->knodes ? need : 0;
        if (!b->knodes)
            return -1;
    }
    int64_t d = c->d;
    for (int64_t r = 0; r < ntr + nte; r++) {
        struct svm_node *row = b->knodes + (size_t)r * w;
        int64_t i = r < ntr ? tr[r] : te[r - ntr];
        const float *xi = c->x + i * d;
        row[0] = (struct svm_node){0, (double)(r + 1)};
        for (int64_t k = 0; k < ntr; k++) {
            int64_t j = tr[k];
            double v;
            if (r < ntr) {
                v = c->sq[i * c->n + j];
            } else {
                const float *xj = c->x + j * d;
                v = 0;
                for (int64_t t = 0; t < d; t++) {
                    double e = (double)xi[t] - (double)xj[t];
                    v += e * e;
                }
            }
            row[k + 1] = (struct svm_node){(int)k + 1, exp(-gamma * v)};
        }
        row[ntr + 1].index = -1;
    }
    return 0;
}

/* Correct predictions on te after fitting tr, for each of the nc values
   C[], into ok[] (libsvm, RBF through kernel_rows). */
static int fit_rbf(const svm_ctx *c, fold_buf *b, const int64_t *tr,
                   int64_t ntr, const int64_t *te, int64_t nte, const double *C,
                   int nc, int64_t *ok)
{
    if (kernel_rows(c, b, tr, ntr, te, nte, rbf_gamma(c, tr, ntr)))
        return -1;
    size_t w = (size_t)ntr + 2;
    struct svm_node **rows = (struct svm_node **)b->rowbuf;
    for (int64_t i = 0; i < ntr; i++) {
        rows[i] = b->knodes + (size_t)i * w;
        b->ybuf[i] = c->y[tr[i]];
    }
    struct svm_problem prob = {(int)ntr, b->ybuf, rows};
    struct svm_parameter par = {0};
    par.svm_type = C_SVC;
    par.kernel_type = PRECOMPUTED;
    par.degree = 3;
    par.cache_size = 200; /* MB, sklearn's default */
    par.eps = 1e-3;       /* sklearn's tol */
    par.nu = 0.5;
    par.p = 0.1;
    par.shrinking = 1;
    for (int ci = 0; ci < nc; ci++) {
        par.C = C[ci];
        struct svm_model *model = svm_train(&prob, &par);
        if (!model)
            return -1;
        ok[ci] = 0;
        for (int64_t i = 0; i < nte; i++)
            ok[ci] += (int)svm_predict(model, b->knodes + (size_t)(ntr + i) *
                                                              w) == c->y[te[i]];
        svm_free_and_destroy_model(&model);
    }
    return 0;
}

/* The same with liblinear (primal squared hinge, bias feature). */
static int fit_linear(const svm_ctx *c, fold_buf *b, const int64_t *tr,
                      int64_t ntr, const int64_t *te, int64_t nte,
                      const double *C, int nc, int64_t *ok)
{
    struct feature_node **rows = (struct feature_node **)b->rowbuf;
    for (int64_t i = 0; i < ntr; i++) {
        rows[i] = c->lrows[tr[i]];
        b->ybuf[i] = c->y[tr[i]];
    }
    struct problem prob = {(int)ntr, (int)c->d + 1, b->ybuf, rows, 1.0};
    struct parameter par = {0};
    par.solver_type = L2R_L2LOSS_SVC;
    par.eps = 1e-4;
    for (int ci = 0; ci < nc; ci++) {
        par.C = C[ci];
        struct model *model = train(&prob, &par);
        if (!model)
            return -1;
        ok[ci] = 0;
        for (int64_t i = 0; i < nte; i++)
            ok[ci] += (int)predict(model, c->lrows[te[i]]) == c->y[te[i]];
        free_and_destroy_model(&model);
    }
    return 0;
}

static int fit(const svm_ctx *c, fold_buf *b, const int64_t *tr, int64_t ntr,
               const int64_t *te, int64_t nte, const double *C, int nc,
               int64_t *ok)
{
    return c->cfg->kernel == BST_SVM_RBF
               ? fit_rbf(c, b, tr, ntr, te, nte, C, nc, ok)
               : fit_linear(c, b, tr, ntr, te, nte, C, nc, ok);
}

/* Splits the list a (m) by fold[] == f into out (not f) and in (f). */
static void split_by(const int64_t *a, int64_t m, const int *fold, int f,
                     int64_t *out, int64_t *nout, int64_t *in, int64_t *nin)
{
    *nout = *nin = 0;
    for (int64_t j = 0; j < m; j++) {
        if (fold[j] == f)
            in[(*nin)++] = a[j];
        else
            out[(*nout)++] = a[j];
    }
}

static int buf_init(fold_buf *b, size_t n)
{
    memset(b, 0, sizeof *b);
    b->tr = malloc(n * sizeof(int64_t));
    b->te = malloc(n * sizeof(int64_t));
    b->itr = malloc(n * sizeof(int64_t));
    b->ite = malloc(n * sizeof(int64_t));
    b->ifold = malloc(n * sizeof(int));
    b->ybuf = malloc(n * sizeof(double));
    b->rowbuf = malloc(n * sizeof(void *));
    return b->tr && b->te && b->itr && b->ite && b->ifold && b->ybuf &&
                   b->rowbuf
               ? 0
               : -1;
}

static void buf_free(fold_buf *b)
{
    free(b->tr), free(b->te), free(b->itr), free(b->ite), free(b->ifold);
    free(b->ybuf), free(b->rowbuf), free(b->knodes);
    memset(b, 0, sizeof *b);
}

/* Outer fold f's training part b->tr and test part b->te. */
static void outer_parts(const svm_ctx *c, fold_buf *b, const int *ofold, int f,
                        int64_t *ntr, int64_t *nte)
{
    for (int64_t i = 0; i < c->n; i++)
        b->itr[i] = i;
    split_by(b->itr, c->n, ofold, f, b->tr, ntr, b->te, nte);
}

/* Task (f, g): inner fold g of outer fold f, every C: ok[ci] correct of
   *nite. */
static int inner_task(const svm_ctx *c, fold_buf *b, const int *ofold, int f,
                      int g, int64_t *ok, int64_t *nite)
{
    int64_t ntr, nte, nitr;
    outer_parts(c, b, ofold, f, &ntr, &nte);
    if (strat_split(c, b->tr, ntr, c->cfg->inner_folds, (uint64_t)f + 1,
                    b->ifold))
        return -1;
    split_by(b->tr, ntr, b->ifold, g, b->itr, &nitr, b->ite, nite);
    return fit(c, b, b->itr, nitr, b->ite, *nite, bst_svm_c_grid, BST_SVM_NUM_C,
               ok);
}

/* ---------------------------------------------------------- the rows */

/* RBF: the squared distances as libsvm's kernel_rbf computes them
   (x_square[i] + x_square[j] - 2 dot(x_i, x_j), dot summed in double in
   index order over every coordinate); linear: liblinear's rows. */
static int build_rows(svm_ctx *c)
{
    size_t n = (size_t)c->n, d = (size_t)c->d;
    if (c->cfg->kernel == BST_SVM_RBF) {
        if (n > ((size_t)1 << 16)) /* n^2 doubles: 32 GB */
            return -1;
        double *xsq = malloc(n * sizeof *xsq);
        c->sq = malloc(n * n * sizeof *c->sq);
        if (!xsq || !c->sq) {
            free(xsq);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t t = 0; t < d; t++)
                s += (double)c->x[i * d + t] * (double)c->x[i * d + t];
            xsq[i] = s;
        }
#pragma omp parallel for schedule(dynamic, 16)
        for (size_t i = 0; i < n; i++)
            for (size_t j = i; j < n; j++) {
                double s = 0;
                for (size_t t = 0; t < d; t++)
                    s += (double)c->x[i * d + t] * (double)c->x[j * d + t];
                c->sq[i * n + j] = c->sq[j * n + i] = xsq[i] + xsq[j] - 2 * s;
            }
        free(xsq);
        return 0;
    }
    c->lnodes = malloc(n * (d + 2) * sizeof *c->lnodes);
    c->lrows = malloc(n * sizeof *c->lrows);
    if (!c->lnodes || !c->lrows)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct feature_node *r = c->lrows[i] = c->lnodes + i * (d + 2);
        for (size_t j = 0; j < d; j++)
            r[j] = (struct feature_node){(int)j + 1, c->x[i * d + j]};
        r[d] = (struct feature_node){(int)d + 1, 1.0}; /* the bias */
        r[d + 1].index = -1;
    }
    return 0;
}

static void free_rows(svm_ctx *c)
{
    free(c->sq);
    free(c->lnodes);
    free(c->lrows);
}

/* ----------------------------------------------------------- checks */

static int check_config(const bst_svm_config *cfg, const float *x, int64_t n,
                        int64_t d, const int32_t *y, char *msg, size_t cap)
{
    if (!cfg || !x || !y)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_svm_eval: cfg, x and y must not be NULL");
    if (cfg->kernel != BST_SVM_RBF && cfg->kernel != BST_SVM_LINEAR)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_svm_eval: kernel %d; expected rbf or linear",
                        (int)cfg->kernel);
    if (cfg->folds < 2 || cfg->folds > BST_SVM_MAX_FOLDS ||
        cfg->inner_folds < 2 || cfg->inner_folds > BST_SVM_MAX_FOLDS)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_svm_eval: %d outer / %d inner folds; expected "
                        "2..%d each",
                        cfg->folds, cfg->inner_folds, BST_SVM_MAX_FOLDS);
    if (n < 1 || d < 1 || n > INT32_MAX || d >= INT32_MAX ||
        (uint64_t)n > SIZE_MAX / 16 / (uint64_t)(d + 2))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_svm_eval: %lld x %lld embeddings; expected n "
                        "and d in 1..2^31-1",
                        (long long)n, (long long)d);
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return bst_fail(msg, cap, BST_ERR_INVAL,
                            "bst_svm_eval: x[%lld][%lld] is not finite",
                            (long long)(i / d), (long long)(i % d));
    return BST_OK;
}

/* Labels >= 0, every class 0..max with enough samples for the folds. */
static int check_labels(const bst_svm_config *cfg, const int32_t *y, int64_t n,
                        int *classes, char *msg, size_t cap)
{
    int32_t max = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= (1 << 20))
            return bst_fail(msg, cap, BST_ERR_INVAL,
                            "bst_svm_eval: y[%lld] = %d; expected a class id "
                            "in 0..2^20-1",
                            (long long)i, y[i]);
        max = y[i] > max ? y[i] : max;
    }
    int64_t *count = calloc((size_t)max + 1, sizeof *count);
    if (!count)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "bst_svm_eval: out of memory");
    for (int64_t i = 0; i < n; i++)
        count[y[i]]++;
    int k = cfg->folds, rc = BST_OK;
    for (int32_t c = 0; c <= max && rc == BST_OK; c++) {
        int64_t m = count[c], train = m - (m + k - 1) / k;
        if (m < k || train < cfg->inner_folds)
            rc = bst_fail(msg, cap, BST_ERR_INVAL,
                          "bst_svm_eval: class %d has %lld samples; expected "
                          "at least %d in every class for %d outer and %d "
                          "inner folds (no fewer folds are used)",
                          c, (long long)m,
                          k > cfg->inner_folds * k / (k - 1)
                              ? k
                              : cfg->inner_folds * k / (k - 1) + 1,
                          k, cfg->inner_folds);
    }
    free(count);
    if (rc == BST_OK && max < 1)
        rc = bst_fail(msg, cap, BST_ERR_INVAL,
                      "bst_svm_eval: one class; expected at least two");
    *classes = max + 1;
    return rc;
}

/* --------------------------------------------------------------- eval */

static void summarise(bst_svm_result *out, int k)
{
    double s = 0, sq = 0;
    for (int f = 0; f < k; f++)
        s += out->acc[f];
    out->mean = s / k;
    for (int f = 0; f < k; f++)
        sq += (out->acc[f] - out->mean) * (out->acc[f] - out->mean);
    out->std = sqrt(sq / k);
    out->folds = k;
}

/* Every (outer fold, inner fold) task in parallel (each fits all the
   C on one kernel matrix), then C per outer fold (best mean inner
   accuracy, the first of equals; sums in inner-fold order), then the
   outer folds' final fits in parallel.  Every task is a pure function of
   its indices, so the result does not depend on the thread count.  0, or
   -1 (no memory). */
static int run_folds(const svm_ctx *c, const int *ofold, bst_svm_result *out)
{
    int k = c->cfg->folds, ki = c->cfg->inner_folds, bad = 0;
    int64_t ok[BST_SVM_MAX_FOLDS][BST_SVM_MAX_FOLDS][BST_SVM_NUM_C];
    int64_t nite[BST_SVM_MAX_FOLDS][BST_SVM_MAX_FOLDS];
#pragma omp parallel
    {
        fold_buf b;
        int mine = buf_init(&b, (size_t)c->n) != 0, skip;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < k * ki; t++)
            if (!mine)
                mine =
                    inner_task(c, &b, ofold, t / ki, t % ki, ok[t / ki][t % ki],
                               &nite[t / ki][t % ki]) != 0;
        if (mine) {
#pragma omp atomic write
            bad = 1;
        }
#pragma omp barrier
#pragma omp atomic read
        skip = bad;
#pragma omp single
        for (int f = 0; f < k && !skip; f++) {
            double best = -1;
            for (int ci = 0; ci < BST_SVM_NUM_C; ci++) {
                double acc = 0;
                for (int g = 0; g < ki; g++)
                    acc += (double)ok[f][g][ci] / (double)nite[f][g];
                if (acc / ki > best) {
                    best = acc / ki;
                    out->best_c[f] = bst_svm_c_grid[ci];
                }
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int f = 0; f < k; f++) {
            int64_t ntr, nte, hit = 0;
            if (skip || mine)
                continue;
            outer_parts(c, &b, ofold, f, &ntr, &nte);
            mine =
                fit(c, &b, b.tr, ntr, b.te, nte, &out->best_c[f], 1, &hit) != 0;
            out->acc[f] = (double)hit / (double)nte;
        }
        if (mine) {
#pragma omp atomic write
            bad = 1;
        }
        buf_free(&b);
    }
    return bad ? -1 : 0;
}

int bst_svm_eval(const bst_svm_config *cfg, const float *x, int64_t n,
                 int64_t d, const int32_t *y, bst_svm_result *out, char *msg,
                 size_t cap)
{
    if (!out)
        return bst_fail(msg, cap, BST_ERR_INVAL, "bst_svm_eval: out is NULL");
    memset(out, 0, sizeof *out);
    svm_ctx c = {cfg, y, n, d, 0, x, NULL, NULL, NULL};
    int rc = check_config(cfg, x, n, d, y, msg, cap);
    if (!rc)
        rc = check_labels(cfg, y, n, &c.classes, msg, cap);
    if (rc)
        return rc;
    /* libraries' globals: silence their progress output */
    svm_set_print_string_function(quiet);
    set_print_string_function(quiet);
    int *ofold = malloc((size_t)n * sizeof *ofold);
    int64_t *all = malloc((size_t)n * sizeof *all);
    rc = !ofold || !all || build_rows(&c) ? -1 : 0;
    if (!rc) {
        for (int64_t i = 0; i < n; i++)
            all[i] = i;
        rc = strat_split(&c, all, n, cfg->folds, 0, ofold);
    }
    if (!rc)
        rc = run_folds(&c, ofold, out);
    free(ofold);
    free(all);
    free_rows(&c);
    if (rc) {
        memset(out, 0, sizeof *out);
        return bst_fail(msg, cap, BST_ERR_NOMEM, "bst_svm_eval: out of memory");
    }
    summarise(out, cfg->folds);
    return BST_OK;
}
