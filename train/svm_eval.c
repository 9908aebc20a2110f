/*
 * svm_eval.c — nested stratified cross-validation of an SVM on frozen
 * embeddings (svm_eval.h): libsvm for the RBF kernel, liblinear for the
 * linear one.  Each outer fold is one OpenMP task with its own problems
 * and models; the inputs (rows of nodes built once) are only read.
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
    struct svm_node *snodes, **srows;     /* RBF: d + 1 nodes a row */
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
static int strat_split(const svm_ctx *c, const int64_t *idx, int64_t m,
                       int k, uint64_t stream, int *fold)
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

/* Correct predictions on te after fitting tr with C (libsvm, RBF). */
static int64_t fit_rbf(const svm_ctx *c, const int64_t *tr, int64_t ntr,
                       const int64_t *te, int64_t nte, double C, double *ybuf,
                       void **rowbuf)
{
    struct svm_node **rows = (struct svm_node **)rowbuf;
    for (int64_t i = 0; i < ntr; i++) {
        rows[i] = c->srows[tr[i]];
        ybuf[i] = c->y[tr[i]];
    }
    struct svm_problem prob = {(int)ntr, ybuf, rows};
    struct svm_parameter par = {0};
    par.svm_type = C_SVC;
    par.kernel_type = RBF;
    par.degree = 3;
    par.gamma = rbf_gamma(c, tr, ntr);
    par.cache_size = 200;
    par.eps = 1e-3;
    par.C = C;
    par.nu = 0.5;
    par.p = 0.1;
    par.shrinking = 1;
    struct svm_model *model = svm_train(&prob, &par);
    if (!model)
        return -1;
    int64_t ok = 0;
    for (int64_t i = 0; i < nte; i++)
        ok += (int)svm_predict(model, c->srows[te[i]]) == c->y[te[i]];
    svm_free_and_destroy_model(&model);
    return ok;
}

/* The same with liblinear (primal squared hinge, bias feature). */
static int64_t fit_linear(const svm_ctx *c, const int64_t *tr, int64_t ntr,
                          const int64_t *te, int64_t nte, double C,
                          double *ybuf, void **rowbuf)
{
    struct feature_node **rows = (struct feature_node **)rowbuf;
    for (int64_t i = 0; i < ntr; i++) {
        rows[i] = c->lrows[tr[i]];
        ybuf[i] = c->y[tr[i]];
    }
    struct problem prob = {(int)ntr, (int)c->d + 1, ybuf, rows, 1.0};
    struct parameter par = {0};
    par.solver_type = L2R_L2LOSS_SVC;
    par.eps = 1e-4;
    par.C = C;
    struct model *model = train(&prob, &par);
    if (!model)
        return -1;
    int64_t ok = 0;
    for (int64_t i = 0; i < nte; i++)
        ok += (int)predict(model, c->lrows[te[i]]) == c->y[te[i]];
    free_and_destroy_model(&model);
    return ok;
}

/* Scratch of one outer fold. */
typedef struct {
    int64_t *tr, *te, *itr, *ite; /* outer and inner index lists */
    int *ifold;
    double *ybuf;
    void **rowbuf;
} fold_buf;

static int64_t fit(const svm_ctx *c, fold_buf *b, const int64_t *tr,
                   int64_t ntr, const int64_t *te, int64_t nte, double C)
{
    return c->cfg->kernel == BST_SVM_RBF
               ? fit_rbf(c, tr, ntr, te, nte, C, b->ybuf, b->rowbuf)
               : fit_linear(c, tr, ntr, te, nte, C, b->ybuf, b->rowbuf);
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

/* The C with the best mean inner-fold accuracy on tr (first best). */
static int choose_c(const svm_ctx *c, fold_buf *b, int64_t ntr, int f,
                    double *best_c)
{
    int k = c->cfg->inner_folds;
    if (strat_split(c, b->tr, ntr, k, (uint64_t)f + 1, b->ifold))
        return -1;
    double best = -1;
    for (int ci = 0; ci < BST_SVM_NUM_C; ci++) {
        double acc = 0;
        for (int g = 0; g < k; g++) {
            int64_t nitr, nite;
            split_by(b->tr, ntr, b->ifold, g, b->itr, &nitr, b->ite, &nite);
            int64_t ok = fit(c, b, b->itr, nitr, b->ite, nite,
                             bst_svm_c_grid[ci]);
            if (ok < 0)
                return -1;
            acc += (double)ok / (double)nite;
        }
        if (acc / k > best) {
            best = acc / k;
            *best_c = bst_svm_c_grid[ci];
        }
    }
    return 0;
}

/* Outer fold f: choose C on its training part, fit, test. */
static int run_fold(const svm_ctx *c, const int *ofold, int f, double *acc,
                    double *best_c)
{
    size_t n = (size_t)c->n;
    fold_buf b = {malloc(n * sizeof(int64_t)), malloc(n * sizeof(int64_t)),
                  malloc(n * sizeof(int64_t)), malloc(n * sizeof(int64_t)),
                  malloc(n * sizeof(int)),     malloc(n * sizeof(double)),
                  malloc(n * sizeof(void *))};
    int rc = -1;
    if (b.tr && b.te && b.itr && b.ite && b.ifold && b.ybuf && b.rowbuf) {
        int64_t all_n = c->n, ntr, nte;
        for (int64_t i = 0; i < all_n; i++)
            b.itr[i] = i;
        split_by(b.itr, all_n, ofold, f, b.tr, &ntr, b.te, &nte);
        if (!choose_c(c, &b, ntr, f, best_c)) {
            int64_t ok = fit(c, &b, b.tr, ntr, b.te, nte, *best_c);
            rc = ok < 0 ? -1 : 0;
            *acc = ok < 0 ? 0 : (double)ok / (double)nte;
        }
    }
    free(b.tr), free(b.te), free(b.itr), free(b.ite), free(b.ifold);
    free(b.ybuf), free(b.rowbuf);
    return rc;
}

/* ---------------------------------------------------------- the rows */

static int build_rows(svm_ctx *c)
{
    size_t n = (size_t)c->n, d = (size_t)c->d;
    if (c->cfg->kernel == BST_SVM_RBF) {
        c->snodes = malloc(n * (d + 1) * sizeof *c->snodes);
        c->srows = malloc(n * sizeof *c->srows);
        if (!c->snodes || !c->srows)
            return -1;
        for (size_t i = 0; i < n; i++) {
            struct svm_node *r = c->srows[i] = c->snodes + i * (d + 1);
            for (size_t j = 0; j < d; j++)
                r[j] = (struct svm_node){(int)j + 1, c->x[i * d + j]};
            r[d].index = -1;
        }
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
    free(c->snodes);
    free(c->srows);
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
static int check_labels(const bst_svm_config *cfg, const int32_t *y,
                        int64_t n, int *classes, char *msg, size_t cap)
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
                          k > cfg->inner_folds * k / (k - 1) ? k
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

/* Every outer fold, in parallel; 0 or -1 (no memory). */
static int run_folds(const svm_ctx *c, const int *ofold, bst_svm_result *out)
{
    int k = c->cfg->folds, bad = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad)
    for (int f = 0; f < k; f++)
        bad |= run_fold(c, ofold, f, &out->acc[f], &out->best_c[f]) != 0;
    return bad ? -1 : 0;
}

int bst_svm_eval(const bst_svm_config *cfg, const float *x, int64_t n,
                 int64_t d, const int32_t *y, bst_svm_result *out, char *msg,
                 size_t cap)
{
    if (!out)
        return bst_fail(msg, cap, BST_ERR_INVAL, "bst_svm_eval: out is NULL");
    memset(out, 0, sizeof *out);
    svm_ctx c = {cfg, y, n, d, 0, x, NULL, NULL, NULL, NULL};
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
