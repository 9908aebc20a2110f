/* test_eval.c — the weighted kNN classifier against a plain brute-force
   reference (full sort), clustered data, scale and thread-count invariance,
   ties; the linear probe on separable clusters, random labels, column
   scaling, thread-count invariance; every rejected argument of both. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "eval.h"

/* ------------------------------------------------------------- test data */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unif(uint64_t *s)
{
    return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_gauss(uint64_t *s)
{
    double u = rng_unif(s), v = rng_unif(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static float *gauss_rows(int64_t n, int d, uint64_t seed)
{
    float *x = malloc((size_t)n * d * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < (size_t)n * d; i++)
        x[i] = (float)rng_gauss(&seed);
    return x;
}

static uint8_t *rand_labels(int64_t n, int C, uint64_t seed)
{
    uint8_t *y = malloc((size_t)n);
    assert_non_null(y);
    for (int64_t i = 0; i < n; i++)
        y[i] = (uint8_t)(rng_next(&seed) % (uint64_t)C);
    return y;
}

/* n rows around C centres (entries N(0, sep^2)), noise N(0, 1); label of
   row i is i % C unless only_class >= 0. */
static void clusters(int64_t n, int d, int C, double sep, uint64_t seed,
                     int only_class, float **x, uint8_t **y)
{
    uint64_t cs = 12345; /* the centres are the same for every call */
    double *cen = malloc((size_t)C * d * sizeof *cen);
    assert_non_null(cen);
    for (int i = 0; i < C * d; i++)
        cen[i] = sep * rng_gauss(&cs);
    *x = malloc((size_t)n * d * sizeof **x);
    *y = malloc((size_t)n);
    assert_non_null(*x);
    assert_non_null(*y);
    for (int64_t i = 0; i < n; i++) {
        int c = only_class >= 0 ? only_class : (int)(i % C);
        (*y)[i] = (uint8_t)c;
        for (int j = 0; j < d; j++)
            (*x)[(size_t)i * d + j] =
                (float)(cen[c * d + j] + rng_gauss(&seed));
    }
    free(cen);
}

/* ------------------------------------------------ brute-force kNN (plain) */

typedef struct {
    double s;
    int64_t i;
} ref_ent;

static int ref_cmp(const void *pa, const void *pb)
{
    const ref_ent *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static void ref_knn(const float *tr, const uint8_t *ytr, int64_t ntr,
                    const float *te, int64_t nte, int d, int C, int k, double T,
                    uint8_t *pred)
{
    ref_ent *e = malloc((size_t)ntr * sizeof *e);
    double *v = malloc((size_t)C * sizeof *v);
    assert_non_null(e);
    assert_non_null(v);
    int kk = k < ntr ? k : (int)ntr;
    for (int64_t q = 0; q < nte; q++) {
        const float *a = te + (size_t)q * d;
        double na = 0.0;
        for (int j = 0; j < d; j++)
            na += (double)a[j] * a[j];
        for (int64_t i = 0; i < ntr; i++) {
            const float *b = tr + (size_t)i * d;
            double nb = 0.0, ab = 0.0;
            for (int j = 0; j < d; j++) {
                nb += (double)b[j] * b[j];
                ab += (double)a[j] * b[j];
            }
            e[i].s = ab / (sqrt(na) * sqrt(nb));
            e[i].i = i;
        }
        qsort(e, (size_t)ntr, sizeof *e, ref_cmp);
        for (int c = 0; c < C; c++)
            v[c] = 0.0;
        for (int t = 0; t < kk; t++)
            v[ytr[e[t].i]] += exp(e[t].s / T);
        int best = 0;
        for (int c = 1; c < C; c++)
            if (v[c] > v[best])
                best = c;
        pred[q] = (uint8_t)best;
    }
    free(e);
    free(v);
}

/* ------------------------------------------------------------------- kNN */

static void test_knn_matches_reference(void **state)
{
    (void)state;
    const int64_t ntr = 500, nte = 300; /* two blocks of test rows */
    const int d = 16, C = 5;
    float *tr = gauss_rows(ntr, d, 1), *te = gauss_rows(nte, d, 2);
    uint8_t *ytr = rand_labels(ntr, C, 3), *yte = rand_labels(nte, C, 4);
    uint8_t *p = malloc((size_t)nte), *r = malloc((size_t)nte);
    uint8_t *p_cold = malloc((size_t)nte);
    const int ks[] = {1, 5, 37, 200, 500, 501, 100000};
    const double Ts[] = {0.07, 0.5, 2.0};
    int differ_T = 0;
    for (size_t a = 0; a < sizeof ks / sizeof *ks; a++)
        for (size_t b = 0; b < sizeof Ts / sizeof *Ts; b++) {
            double top1 = -1.0;
            char msg[128] = "";
            assert_int_equal(bst_knn_classify(tr, ytr, ntr, te, nte, d, C,
                                              ks[a], Ts[b], p, yte, &top1, msg,
                                              sizeof msg),
                             BST_OK);
            assert_string_equal(msg, "");
            ref_knn(tr, ytr, ntr, te, nte, d, C, ks[a], Ts[b], r);
            assert_memory_equal(p, r, (size_t)nte);
            int64_t ok = 0;
            for (int64_t i = 0; i < nte; i++)
                ok += r[i] == yte[i];
            assert_true(top1 == (double)ok / (double)nte);
            if (ks[a] == 200) {
                if (b == 0)
                    memcpy(p_cold, p, (size_t)nte);
                else
                    differ_T |= memcmp(p_cold, p, (size_t)nte) != 0;
            }
        }
    assert_true(differ_T); /* T matters: the comparison has power */
    /* pred, test_labels, top1 all optional */
    double top1 = -1.0;
    assert_int_equal(bst_knn_classify(tr, ytr, ntr, te, nte, d, C, 5, 0.5, NULL,
                                      yte, &top1, NULL, 0),
                     BST_OK);
    assert_true(top1 >= 0.0 && top1 <= 1.0);
    assert_int_equal(bst_knn_classify(tr, ytr, ntr, te, nte, d, C, 5, 0.5, p,
                                      NULL, NULL, NULL, 0),
                     BST_OK);
    ref_knn(tr, ytr, ntr, te, nte, d, C, 5, 0.5, r);
    assert_memory_equal(p, r, (size_t)nte);
    free(tr);
    free(te);
    free(ytr);
    free(yte);
    free(p);
    free(r);
    free(p_cold);
}

static void test_knn_clusters(void **state)
{
    (void)state;
    float *tr, *te;
    uint8_t *ytr, *yte;
    clusters(2000, 32, 10, 3.0, 11, -1, &tr, &ytr);
    clusters(400, 32, 10, 3.0, 12, -1, &te, &yte);
    const int ks[] = {1, 20, 200};
    for (size_t a = 0; a < 3; a++) {
        double top1 = 0.0;
        assert_int_equal(bst_knn_classify(tr, ytr, 2000, te, 400, 32, 10, ks[a],
                                          0.5, NULL, yte, &top1, NULL, 0),
                         BST_OK);
        assert_true(top1 == 1.0);
    }
    free(tr);
    free(te);
    free(ytr);
    free(yte);
}

static void test_knn_scale_invariance(void **state)
{
    (void)state;
    const int64_t ntr = 700, nte = 200;
    const int d = 24, C = 7;
    float *tr = gauss_rows(ntr, d, 21), *te = gauss_rows(nte, d, 22);
    uint8_t *ytr = rand_labels(ntr, C, 23);
    float *tr2 = malloc((size_t)ntr * d * sizeof *tr2);
    float *te2 = malloc((size_t)nte * d * sizeof *te2);
    uint8_t *p = malloc((size_t)nte), *p2 = malloc((size_t)nte);
    uint64_t s = 24;
    for (int64_t i = 0; i < ntr; i++) {
        double c = exp(8.0 * rng_unif(&s) - 4.0); /* 0.018 .. 55 */
        for (int j = 0; j < d; j++)
            tr2[i * d + j] = (float)(c * tr[i * d + j]);
    }
    for (int64_t i = 0; i < nte; i++) {
        double c = exp(8.0 * rng_unif(&s) - 4.0);
        for (int j = 0; j < d; j++)
            te2[i * d + j] = (float)(c * te[i * d + j]);
    }
    const int ks[] = {1, 10, 200};
    for (size_t a = 0; a < 3; a++) {
        assert_int_equal(bst_knn_classify(tr, ytr, ntr, te, nte, d, C, ks[a],
                                          0.1, p, NULL, NULL, NULL, 0),
                         BST_OK);
        assert_int_equal(bst_knn_classify(tr2, ytr, ntr, te2, nte, d, C, ks[a],
                                          0.1, p2, NULL, NULL, NULL, 0),
                         BST_OK);
        assert_memory_equal(p, p2, (size_t)nte);
    }
    free(tr);
    free(te);
    free(tr2);
    free(te2);
    free(ytr);
    free(p);
    free(p2);
}

static void test_knn_threads(void **state)
{
    (void)state;
    const int64_t ntr = 3000, nte = 600; /* blocks of 256, 256, 88 */
    const int d = 32, C = 10;
    float *tr = gauss_rows(ntr, d, 31), *te = gauss_rows(nte, d, 32);
    uint8_t *ytr = rand_labels(ntr, C, 33);
    uint8_t *p1 = malloc((size_t)nte), *p = malloc((size_t)nte);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(bst_knn_classify(tr, ytr, ntr, te, nte, d, C, 200, 0.5, p1,
                                      NULL, NULL, NULL, 0),
                     BST_OK);
    for (int t = 2; t <= 3; t++) {
        omp_set_num_threads(t);
        memset(p, 0xEE, (size_t)nte);
        assert_int_equal(bst_knn_classify(tr, ytr, ntr, te, nte, d, C, 200, 0.5,
                                          p, NULL, NULL, NULL, 0),
                         BST_OK);
        assert_memory_equal(p1, p, (size_t)nte);
    }
    omp_set_num_threads(saved);
    free(tr);
    free(te);
    free(ytr);
    free(p1);
    free(p);
}

static void test_knn_ties(void **state)
{
    (void)state;
    /* four identical train rows: equal similarity and equal weights */
    const float tr[4 * 2] = {1, 2, 1, 2, 1, 2, 1, 2};
    const uint8_t ytr[4] = {3, 2, 1, 2};
    const float te[2] = {2, 4};
    uint8_t p = 0xEE;
    /* k = 1: lowest train index (class 3); k = 2: classes 3, 2 tie -> 2;
       k = 3: 3, 2, 1 tie -> 1; k = 4: class 2 has two votes */
    const int want[5] = {0, 3, 2, 1, 2};
    for (int k = 1; k <= 4; k++) {
        assert_int_equal(bst_knn_classify(tr, ytr, 4, te, 1, 2, 4, k, 0.5, &p,
                                          NULL, NULL, NULL, 0),
                         BST_OK);
        assert_int_equal(p, want[k]);
    }
    /* a tie at the k-th place goes to the lower train index, whatever its
       class: rows 1 and 2 equal the test row, row 0 is orthogonal */
    const float tr2[3 * 2] = {0, 1, 1, 0, 1, 0};
    const uint8_t ytr2[3] = {0, 2, 1};
    const float te2[2] = {3, 0};
    assert_int_equal(bst_knn_classify(tr2, ytr2, 3, te2, 1, 2, 3, 1, 0.5, &p,
                                      NULL, NULL, NULL, 0),
                     BST_OK);
    assert_int_equal(p, 2);
    /* a zero row has similarity 0 to everything (no NaN) */
    const float tr3[3 * 2] = {0, 0, -1, 0, 0, 1};
    const uint8_t ytr3[3] = {1, 2, 0};
    const float te3[2] = {1, 0};
    assert_int_equal(bst_knn_classify(tr3, ytr3, 3, te3, 1, 2, 3, 1, 0.5, &p,
                                      NULL, NULL, NULL, 0),
                     BST_OK);
    assert_int_equal(p, 1); /* rows 0 and 2 tie at 0: row 0 */
    assert_int_equal(bst_knn_classify(tr3, ytr3, 3, te3, 1, 2, 3, 3, 0.5, &p,
                                      NULL, NULL, NULL, 0),
                     BST_OK);
    assert_int_equal(p, 0); /* classes 1 and 0 both e^0: lowest, 0 */
    /* nclasses = 256 with label 255; a tiny T does not overflow: two
       votes of e^(1/T) beat one (without the shift both sums are inf) */
    const float tr5[3 * 2] = {1, 0, 2, 0, 3, 0};
    const uint8_t y255[3] = {0, 255, 255};
    const float te5[2] = {1, 0};
    assert_int_equal(bst_knn_classify(tr5, y255, 3, te5, 1, 2, 256, 3, 1e-6, &p,
                                      NULL, NULL, NULL, 0),
                     BST_OK);
    assert_int_equal(p, 255);
}

static void expect_knn_inval(const float *tr, const uint8_t *ytr, int64_t ntr,
                             const float *te, int64_t nte, int d, int C, int k,
                             double T, const uint8_t *yte, double *top1,
                             const char *words)
{
    char msg[200] = "";
    uint8_t p[4];
    memset(p, 0xEE, sizeof p);
    double t1 = -7.0;
    (void)top1;
    assert_int_equal(bst_knn_classify(tr, ytr, ntr, te, nte, d, C, k, T, p, yte,
                                      top1 ? &t1 : NULL, msg, sizeof msg),
                     BST_ERR_INVAL);
    if (!strstr(msg, words))
        fail_msg("message \"%s\" lacks \"%s\"", msg, words);
    assert_null(strchr(msg, '\n'));
    for (int i = 0; i < 4; i++)
        assert_int_equal(p[i], 0xEE);
    assert_true(t1 == -7.0);
    /* no message buffer: same code */
    assert_int_equal(bst_knn_classify(tr, ytr, ntr, te, nte, d, C, k, T, NULL,
                                      yte, top1 ? &t1 : NULL, NULL, 0),
                     BST_ERR_INVAL);
}

static void test_knn_rejects(void **state)
{
    (void)state;
    float tr[4 * 2] = {1, 0, 0, 1, -1, 0, 0, -1};
    float te[4 * 2] = {1, 1, -1, 1, 1, -1, -1, -1};
    uint8_t ytr[4] = {0, 1, 2, 1}, yte[4] = {0, 1, 2, 2};
    double t1;
    assert_int_equal(bst_knn_classify(tr, ytr, 4, te, 4, 2, 3, 2, 0.5, NULL,
                                      yte, &t1, NULL, 0),
                     BST_OK);
    expect_knn_inval(NULL, ytr, 4, te, 4, 2, 3, 2, 0.5, yte, &t1, "NULL");
    expect_knn_inval(tr, NULL, 4, te, 4, 2, 3, 2, 0.5, yte, &t1, "NULL");
    expect_knn_inval(tr, ytr, 4, NULL, 4, 2, 3, 2, 0.5, yte, &t1, "NULL");
    expect_knn_inval(tr, ytr, 0, te, 4, 2, 3, 2, 0.5, yte, &t1, "ntrain = 0");
    expect_knn_inval(tr, ytr, -1, te, 4, 2, 3, 2, 0.5, yte, &t1, "ntrain");
    expect_knn_inval(tr, ytr, 4, te, 0, 2, 3, 2, 0.5, yte, &t1, "ntest = 0");
    expect_knn_inval(tr, ytr, (int64_t)1 << 31, te, 4, 2, 3, 2, 0.5, yte, &t1,
                     "ntrain");
    expect_knn_inval(tr, ytr, 4, te, 4, 0, 3, 2, 0.5, yte, &t1, "d = 0");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 0, 2, 0.5, yte, &t1, "nclasses = 0");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 257, 2, 0.5, yte, &t1,
                     "nclasses = 257");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 0, 0.5, yte, &t1, "k = 0");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, -3, 0.5, yte, &t1, "k = -3");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 2, 0.0, yte, &t1, "T = 0");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 2, -0.5, yte, &t1, "T = -0.5");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 2, NAN, yte, &t1, "T = ");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 2, INFINITY, yte, &t1, "T = ");
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 2, 0.5, NULL, &t1,
                     "top1 needs test_labels");
    /* labels: 2 classes given, labels 2 present */
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 2, 2, 0.5, NULL, NULL,
                     "train label 2 at row 2");
    uint8_t yte_bad[4] = {0, 1, 1, 3};
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 2, 0.5, yte_bad, &t1,
                     "test label 3 at row 3");
    /* non-finite features */
    tr[5] = NAN;
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 2, 0.5, yte, &t1,
                     "train feature (row 2, column 1)");
    tr[5] = 0.0f;
    te[6] = -INFINITY;
    expect_knn_inval(tr, ytr, 4, te, 4, 2, 3, 2, 0.5, yte, &t1,
                     "test feature (row 3, column 0)");
}

/* ---------------------------------------------------------- linear probe */

static void test_probe_separable(void **state)
{
    (void)state;
    float *tr, *te, *te0;
    uint8_t *ytr, *yte, *yte0;
    const int d = 32, C = 10;
    clusters(3000, d, C, 1.0, 41, -1, &tr, &ytr);
    clusters(1000, d, C, 1.0, 42, -1, &te, &yte);
    /* a test set of class 0 only: standardised with the train statistics
       it stays put; with its own it would be moved to the origin */
    clusters(300, d, C, 1.0, 43, 0, &te0, &yte0);
    /* shift and scale the raw features: standardisation undoes it */
    for (size_t i = 0; i < (size_t)3000 * d; i++)
        tr[i] = 50.0f + 0.01f * tr[i];
    for (size_t i = 0; i < (size_t)1000 * d; i++)
        te[i] = 50.0f + 0.01f * te[i];
    for (size_t i = 0; i < (size_t)300 * d; i++)
        te0[i] = 50.0f + 0.01f * te0[i];
    double a_tr = -1, a_te = -1;
    char msg[100] = "";
    assert_int_equal(bst_linear_probe(NULL, tr, ytr, 3000, te, yte, 1000, d, C,
                                      &a_tr, &a_te, msg, sizeof msg),
                     BST_OK);
    assert_string_equal(msg, "");
    if (a_tr < 0.995 || a_te < 0.99)
        fail_msg("separable: train %.4f test %.4f", a_tr, a_te);
    assert_int_equal(bst_linear_probe(NULL, tr, ytr, 3000, te0, yte0, 300, d, C,
                                      NULL, &a_te, NULL, 0),
                     BST_OK);
    if (a_te < 0.99)
        fail_msg("class-0 test set: %.4f", a_te);
    free(tr);
    free(te);
    free(te0);
    free(ytr);
    free(yte);
    free(yte0);
}

static void test_probe_random_labels(void **state)
{
    (void)state;
    const int64_t n = 2000;
    const int d = 32, C = 10;
    float *tr = gauss_rows(n, d, 51), *te = gauss_rows(n, d, 52);
    uint8_t *ytr = rand_labels(n, C, 53), *yte = rand_labels(n, C, 54);
    double a_tr = -1, a_te = -1;
    assert_int_equal(bst_linear_probe(NULL, tr, ytr, n, te, yte, n, d, C, &a_tr,
                                      &a_te, NULL, 0),
                     BST_OK);
    /* chance is 0.1 (sd 0.007); the train set is fitted a little */
    if (fabs(a_te - 0.1) > 0.035 || a_tr < 0.13)
        fail_msg("random labels: train %.4f test %.4f", a_tr, a_te);
    free(tr);
    free(te);
    free(ytr);
    free(yte);
}

static void test_probe_invariances(void **state)
{
    (void)state;
    const int64_t n = 1500;
    const int d = 24, C = 6;
    float *tr = gauss_rows(n, d, 61), *te = gauss_rows(n, d, 62);
    uint8_t *ytr = rand_labels(n, C, 63), *yte = rand_labels(n, C, 64);
    bst_probe_cfg cfg;
    bst_probe_cfg_default(&cfg);
    cfg.max_iter = 60;
    double r_tr, r_te, a_tr, a_te;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(bst_linear_probe(&cfg, tr, ytr, n, te, yte, n, d, C, &r_tr,
                                      &r_te, NULL, 0),
                     BST_OK);
    for (int t = 2; t <= 3; t++) {
        omp_set_num_threads(t);
        assert_int_equal(bst_linear_probe(&cfg, tr, ytr, n, te, yte, n, d, C,
                                          &a_tr, &a_te, NULL, 0),
                         BST_OK);
        assert_true(a_tr == r_tr && a_te == r_te);
    }
    omp_set_num_threads(saved);
    /* columns scaled by powers of two: standardised features are the same
       bits, so are the results */
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            float c = ldexpf(1.0f, (j % 7) - 3);
            tr[i * d + j] *= c;
            te[i * d + j] *= c;
        }
    assert_int_equal(bst_linear_probe(&cfg, tr, ytr, n, te, yte, n, d, C, &a_tr,
                                      &a_te, NULL, 0),
                     BST_OK);
    assert_true(a_tr == r_tr && a_te == r_te);
    free(tr);
    free(te);
    free(ytr);
    free(yte);
}

static void test_probe_small_cases(void **state)
{
    (void)state;
    /* d = 1 threshold; a constant second column is harmless */
    float tr[8 * 2], te[4 * 2];
    uint8_t ytr[8], yte[4];
    for (int i = 0; i < 8; i++) {
        tr[2 * i] = (float)i;
        tr[2 * i + 1] = 3.0f;
        ytr[i] = i >= 4;
    }
    for (int i = 0; i < 4; i++) {
        te[2 * i] = (float)(3 * i) - 1.0f; /* -1, 2, 5, 8 */
        te[2 * i + 1] = 3.0f;
        yte[i] = i >= 2;
    }
    double a_tr = -1, a_te = -1;
    assert_int_equal(bst_linear_probe(NULL, tr, ytr, 8, te, yte, 4, 2, 2, &a_tr,
                                      &a_te, NULL, 0),
                     BST_OK);
    assert_true(a_tr == 1.0 && a_te == 1.0);
    /* one class: always right */
    uint8_t z8[8] = {0}, z4[4] = {0};
    assert_int_equal(bst_linear_probe(NULL, tr, z8, 8, te, z4, 4, 2, 1, &a_tr,
                                      &a_te, NULL, 0),
                     BST_OK);
    assert_true(a_tr == 1.0 && a_te == 1.0);
    /* max_iter = 1, l2 = 0, tol = 0 are valid */
    bst_probe_cfg c = {0.0, 1, 0.0};
    assert_int_equal(
        bst_linear_probe(&c, tr, ytr, 8, te, yte, 4, 2, 2, NULL, NULL, NULL, 0),
        BST_OK);
}

/* the label is in the small difference of two strongly correlated
   columns (ill-conditioned after standardisation): two iterations are far
   from the fit, the default finds it */
static void test_probe_converges(void **state)
{
    (void)state;
    const int64_t n = 2000;
    const int d = 4;
    float *x = malloc((size_t)n * d * sizeof *x);
    uint8_t *y = rand_labels(n, 2, 91);
    assert_non_null(x);
    uint64_t s = 92;
    for (int64_t i = 0; i < n; i++) {
        double t = rng_gauss(&s), u = (y[i] ? 1.0 : -1.0) + 0.3 * rng_gauss(&s);
        x[i * d + 0] = (float)(t + 0.1 * u);
        x[i * d + 1] = (float)(t - 0.1 * u);
        x[i * d + 2] = (float)rng_gauss(&s);
        x[i * d + 3] = (float)rng_gauss(&s);
    }
    bst_probe_cfg c;
    bst_probe_cfg_default(&c);
    double a_def = -1, a_2 = -1;
    assert_int_equal(
        bst_linear_probe(&c, x, y, n, x, y, n, d, 2, &a_def, NULL, NULL, 0),
        BST_OK);
    c.max_iter = 2;
    assert_int_equal(
        bst_linear_probe(&c, x, y, n, x, y, n, d, 2, &a_2, NULL, NULL, 0),
        BST_OK);
    if (a_def < 0.99 || a_2 > 0.9)
        fail_msg("correlated columns: default %.4f, 2 iterations %.4f", a_def,
                 a_2);
    free(x);
    free(y);
}

/* unbalanced classes and uninformative features: only the bias can fit
   them, predicting the majority class */
static void test_probe_bias(void **state)
{
    (void)state;
    const int64_t n = 1000;
    const int d = 3;
    float *tr = gauss_rows(n, d, 71), *te = gauss_rows(n, d, 72);
    uint8_t *y = malloc((size_t)n);
    assert_non_null(y);
    for (int64_t i = 0; i < n; i++)
        y[i] = i % 10 < 7 ? 2 : i % 10 < 9 ? 1 : 0;
    double a_tr = -1, a_te = -1;
    assert_int_equal(
        bst_linear_probe(NULL, tr, y, n, te, y, n, d, 3, &a_tr, &a_te, NULL, 0),
        BST_OK);
    if (a_tr < 0.69 || a_te < 0.67)
        fail_msg("majority class: train %.4f test %.4f", a_tr, a_te);
    free(tr);
    free(te);
    free(y);
}

/* the objective's gradient against central differences */
static void test_probe_gradient(void **state)
{
    (void)state;
    const int64_t n = 60;
    const int d = 5, C = 4;
    const size_t P = (size_t)C * d + C;
    float *X = gauss_rows(n, d, 81);
    uint8_t *y = rand_labels(n, C, 82);
    double theta[5 * 4 + 4], g[5 * 4 + 4], g2[5 * 4 + 4];
    uint64_t s = 83;
    for (size_t i = 0; i < P; i++)
        theta[i] = 0.5 * rng_gauss(&s);
    double f = 0, fp = 0, fm = 0, worst = 0;
    const double l2 = 0.3, h = 1e-2;
    assert_int_equal(
        bst_probe_objective(X, y, n, d, C, l2, theta, &f, g, NULL, 0), BST_OK);
    /* f by hand at theta: mean cross-entropy + l2/2 |W|^2 */
    double ref = 0;
    for (int64_t i = 0; i < n; i++) {
        double z[4], m = -1e300, se = 0;
        for (int c = 0; c < C; c++) {
            z[c] = theta[C * d + c];
            for (int j = 0; j < d; j++)
                z[c] += theta[c * d + j] * X[i * d + j];
            m = z[c] > m ? z[c] : m;
        }
        for (int c = 0; c < C; c++)
            se += exp(z[c] - m);
        ref += (m + log(se) - z[y[i]]) / (double)n;
    }
    for (int i = 0; i < C * d; i++)
        ref += 0.5 * l2 * theta[i] * theta[i];
    if (fabs(f - ref) > 1e-5 * fabs(ref))
        fail_msg("objective %.9g, by hand %.9g", f, ref);
    for (size_t i = 0; i < P; i++) {
        double t = theta[i];
        theta[i] = t + h;
        assert_int_equal(
            bst_probe_objective(X, y, n, d, C, l2, theta, &fp, g2, NULL, 0),
            BST_OK);
        theta[i] = t - h;
        assert_int_equal(
            bst_probe_objective(X, y, n, d, C, l2, theta, &fm, g2, NULL, 0),
            BST_OK);
        theta[i] = t;
        double e = fabs((fp - fm) / (2 * h) - g[i]) / (1e-3 + fabs(g[i]));
        worst = e > worst ? e : worst;
    }
    if (worst > 2e-3)
        fail_msg("gradient: worst relative error %.3g", worst);
    /* rejections */
    char msg[160] = "";
    assert_int_equal(bst_probe_objective(NULL, y, n, d, C, l2, theta, &f, g,
                                         msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_non_null(strstr(msg, "NULL"));
    assert_int_equal(
        bst_probe_objective(X, y, n, d, C, l2, theta, NULL, g, NULL, 0),
        BST_ERR_INVAL);
    assert_int_equal(
        bst_probe_objective(X, y, n, d, C, l2, theta, &f, NULL, NULL, 0),
        BST_ERR_INVAL);
    assert_int_equal(
        bst_probe_objective(X, y, 0, d, C, l2, theta, &f, g, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_non_null(strstr(msg, "n = 0"));
    assert_int_equal(
        bst_probe_objective(X, y, n, d, 0, l2, theta, &f, g, NULL, 0),
        BST_ERR_INVAL);
    assert_int_equal(
        bst_probe_objective(X, y, n, 0, C, l2, theta, &f, g, NULL, 0),
        BST_ERR_INVAL);
    assert_int_equal(
        bst_probe_objective(X, y, n, d, C, -1.0, theta, &f, g, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_non_null(strstr(msg, "l2 = -1"));
    assert_int_equal(
        bst_probe_objective(X, y, n, d, 2, l2, theta, &f, g, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_non_null(strstr(msg, "label"));
    X[7] = NAN;
    assert_int_equal(
        bst_probe_objective(X, y, n, d, C, l2, theta, &f, g, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_non_null(strstr(msg, "row 1, column 2"));
    free(X);
    free(y);
}

static void expect_probe_inval(const bst_probe_cfg *cfg, const float *tr,
                               const uint8_t *ytr, int64_t ntr, const float *te,
                               const uint8_t *yte, int64_t nte, int d, int C,
                               const char *words)
{
    char msg[200] = "";
    double a = -7.0, b = -7.0;
    assert_int_equal(bst_linear_probe(cfg, tr, ytr, ntr, te, yte, nte, d, C, &a,
                                      &b, msg, sizeof msg),
                     BST_ERR_INVAL);
    if (!strstr(msg, words))
        fail_msg("message \"%s\" lacks \"%s\"", msg, words);
    assert_null(strchr(msg, '\n'));
    assert_true(a == -7.0 && b == -7.0);
    assert_int_equal(bst_linear_probe(cfg, tr, ytr, ntr, te, yte, nte, d, C, &a,
                                      &b, NULL, 0),
                     BST_ERR_INVAL);
}

static void test_probe_rejects(void **state)
{
    (void)state;
    float tr[4 * 2] = {1, 0, 0, 1, -1, 0, 0, -1};
    float te[4 * 2] = {1, 1, -1, 1, 1, -1, -1, -1};
    uint8_t ytr[4] = {0, 1, 2, 1}, yte[4] = {0, 1, 2, 2};
    bst_probe_cfg c;
    bst_probe_cfg_default(&c);
    assert_true(c.l2 == 1e-4 && c.max_iter == 200 && c.tol == 1e-5);
    assert_int_equal(
        bst_linear_probe(&c, tr, ytr, 4, te, yte, 4, 2, 3, NULL, NULL, NULL, 0),
        BST_OK);
    const double bad_d[] = {-1e-9, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        bst_probe_cfg b = c;
        b.l2 = bad_d[i];
        expect_probe_inval(&b, tr, ytr, 4, te, yte, 4, 2, 3, "l2 = ");
        b = c;
        b.tol = bad_d[i];
        expect_probe_inval(&b, tr, ytr, 4, te, yte, 4, 2, 3, "tol = ");
    }
    bst_probe_cfg b = c;
    b.max_iter = 0;
    expect_probe_inval(&b, tr, ytr, 4, te, yte, 4, 2, 3, "max_iter = 0");
    expect_probe_inval(&c, NULL, ytr, 4, te, yte, 4, 2, 3, "NULL");
    expect_probe_inval(&c, tr, NULL, 4, te, yte, 4, 2, 3, "NULL");
    expect_probe_inval(&c, tr, ytr, 4, NULL, yte, 4, 2, 3, "NULL");
    expect_probe_inval(&c, tr, ytr, 4, te, NULL, 4, 2, 3, "NULL");
    expect_probe_inval(&c, tr, ytr, 0, te, yte, 4, 2, 3, "ntrain = 0");
    expect_probe_inval(&c, tr, ytr, 4, te, yte, -2, 2, 3, "ntest = -2");
    expect_probe_inval(&c, tr, ytr, 4, te, yte, (int64_t)1 << 31, 2, 3,
                       "ntest");
    expect_probe_inval(&c, tr, ytr, 4, te, yte, 4, 0, 3, "d = 0");
    expect_probe_inval(&c, tr, ytr, 4, te, yte, 4, 2, 0, "nclasses = 0");
    expect_probe_inval(&c, tr, ytr, 4, te, yte, 4, 2, 300, "nclasses = 300");
    expect_probe_inval(&c, tr, ytr, 4, te, yte, 4, 2, 2,
                       "train label 2 at row 2");
    uint8_t yte_bad[4] = {0, 1, 9, 2};
    expect_probe_inval(&c, tr, ytr, 4, te, yte_bad, 4, 2, 3,
                       "test label 9 at row 2");
    tr[1] = INFINITY;
    expect_probe_inval(&c, tr, ytr, 4, te, yte, 4, 2, 3,
                       "train feature (row 0, column 1)");
    tr[1] = 0.0f;
    te[7] = NAN;
    expect_probe_inval(&c, tr, ytr, 4, te, yte, 4, 2, 3,
                       "test feature (row 3, column 1)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knn_matches_reference),
        cmocka_unit_test(test_knn_clusters),
        cmocka_unit_test(test_knn_scale_invariance),
        cmocka_unit_test(test_knn_threads),
        cmocka_unit_test(test_knn_ties),
        cmocka_unit_test(test_knn_rejects),
        cmocka_unit_test(test_probe_separable),
        cmocka_unit_test(test_probe_random_labels),
        cmocka_unit_test(test_probe_invariances),
        cmocka_unit_test(test_probe_small_cases),
        cmocka_unit_test(test_probe_bias),
        cmocka_unit_test(test_probe_converges),
        cmocka_unit_test(test_probe_gradient),
        cmocka_unit_test(test_probe_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
