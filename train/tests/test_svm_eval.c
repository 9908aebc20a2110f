/* test_svm_eval.c — the nested cross-validated SVM (train/svm_eval.h):
   separable blobs give 100% with both kernels; XOR needs the RBF kernel
   (and a C above the smallest); results identical across runs and thread
   counts and changed by the seed; every rejection. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "engine.h"
#include "rng.h"
#include "svm_eval.h"

/* n points per class around centre (class c: c * sep, 0 ...) in d dims,
   uniform noise in [-1, 1]; xor: the classes are two diagonal pairs of
   corners of a square of side sep. */
static void blobs(float *x, int32_t *y, int per, int classes, int d, float sep,
                  int xor, uint64_t seed)
{
    bs_rng r;
    bs_rng_seed(&r, seed);
    for (int i = 0; i < per * classes; i++) {
        int c = i % classes, corner = (i / classes) % 2;
        y[i] = c;
        for (int j = 0; j < d; j++) {
            float centre = j == 0 ? (float)c * sep : 0.0f;
            if (xor&&j < 2)
                centre =
                    j == 0 ? (float)corner * sep : (float)(corner ^ c) * sep;
            x[i * d + j] = centre + (float)(2 * bs_rng_uniform(&r) - 1);
        }
    }
}

static void eval_ok(bst_svm_kernel k, uint64_t seed, const float *x,
                    const int32_t *y, int64_t n, int d, bst_svm_result *res)
{
    bst_svm_config cfg;
    bst_svm_config_default(&cfg);
    cfg.kernel = k;
    cfg.seed = seed;
    char msg[256] = "";
    int rc = bst_svm_eval(&cfg, x, n, d, y, res, msg, sizeof msg);
    if (rc != BST_OK)
        fail_msg("%s", msg);
}

static void test_separable(void **state)
{
    (void)state;
    enum { PER = 20, D = 3, N = 3 * PER };
    float x[N * D];
    int32_t y[N];
    blobs(x, y, PER, 3, D, 10.0f, 0, 1);
    for (int k = 0; k < 2; k++) {
        bst_svm_result res;
        eval_ok(k ? BST_SVM_LINEAR : BST_SVM_RBF, 0, x, y, N, D, &res);
        assert_int_equal(res.folds, 10);
        assert_true(res.mean == 1.0 && res.std == 0.0);
        for (int f = 0; f < 10; f++) /* a grid value */
            assert_true(res.best_c[f] >= 0.001 && res.best_c[f] <= 1000);
        printf("separable, %s: %.2f%% +- %.2f, C of fold 0: %g\n",
               k ? "linear" : "rbf", 100 * res.mean, 100 * res.std,
               res.best_c[0]);
    }
}

static void test_xor(void **state)
{
    (void)state;
    enum { PER = 40, D = 2, N = 2 * PER };
    float x[N * D];
    int32_t y[N];
    blobs(x, y, PER, 2, D, 6.0f, 1, 2);
    bst_svm_result rbf, lin;
    eval_ok(BST_SVM_RBF, 0, x, y, N, D, &rbf);
    eval_ok(BST_SVM_LINEAR, 0, x, y, N, D, &lin);
    printf("xor: rbf %.2f%% +- %.2f (C %g), linear %.2f%% +- %.2f\n",
           100 * rbf.mean, 100 * rbf.std, rbf.best_c[0], 100 * lin.mean,
           100 * lin.std);
    assert_true(rbf.mean == 1.0);
    assert_true(lin.mean < 0.8);
    /* a larger C is needed here: not every fold can take the smallest */
    assert_true(rbf.best_c[0] > 0.001);
}

static void test_determinism(void **state)
{
    (void)state;
    enum { PER = 30, D = 4, N = 2 * PER };
    float x[N * D];
    int32_t y[N];
    blobs(x, y, PER, 2, D, 1.0f, 0, 3); /* overlapping: not 100% */
    for (int k = 0; k < 2; k++) {
        bst_svm_kernel kern = k ? BST_SVM_LINEAR : BST_SVM_RBF;
        bst_svm_result a, b, c, s;
        omp_set_num_threads(1);
        eval_ok(kern, 7, x, y, N, D, &a);
        omp_set_num_threads(2);
        eval_ok(kern, 7, x, y, N, D, &b);
        omp_set_num_threads(4);
        eval_ok(kern, 7, x, y, N, D, &c);
        eval_ok(kern, 8, x, y, N, D, &s);
        assert_memory_equal(&a, &b, sizeof a);
        assert_memory_equal(&a, &c, sizeof a);
        assert_true(a.mean > 0.5 && a.mean < 1.0);
        assert_true(memcmp(a.acc, s.acc, sizeof a.acc) != 0);
        printf("overlap, %s: seed 7 %.2f%% +- %.2f, seed 8 %.2f%%\n",
               k ? "linear" : "rbf", 100 * a.mean, 100 * a.std, 100 * s.mean);
    }
    omp_set_num_threads(2);
}

static void expect_inval(const bst_svm_config *cfg, const float *x, int64_t n,
                         int64_t d, const int32_t *y, const char *want)
{
    bst_svm_result res;
    char msg[512] = "";
    int rc = bst_svm_eval(cfg, x, n, d, y, &res, msg, sizeof msg);
    if (rc != BST_ERR_INVAL || !strstr(msg, want))
        fail_msg("rc %d, message '%s', expected '%s'", rc, msg, want);
    assert_null(strchr(msg, '\n'));
    assert_int_equal(res.folds, 0);
}

static void test_rejections(void **state)
{
    (void)state;
    enum { PER = 10, D = 2, N = 2 * PER };
    float x[N * D];
    int32_t y[N];
    blobs(x, y, PER, 2, D, 10.0f, 0, 4);
    bst_svm_config cfg;
    bst_svm_config_default(&cfg);
    bst_svm_result res;
    /* 10 per class is the least for 10 / 5 folds: accepted */
    assert_int_equal(bst_svm_eval(&cfg, x, N, D, y, &res, NULL, 0), BST_OK);
    y[0] = 1; /* class 0 now has 9 */
    expect_inval(&cfg, x, N, D, y,
                 "class 0 has 9 samples; expected at least 10");
    y[0] = 0;
    cfg.folds = 2; /* 5 train per class for 5 inner folds: fine */
    assert_int_equal(bst_svm_eval(&cfg, x, N, D, y, &res, NULL, 0), BST_OK);
    cfg.inner_folds = 6; /* 5 per class in a training half < 6 */
    expect_inval(&cfg, x, N, D, y, "class 0 has 10 samples");
    bst_svm_config_default(&cfg);
    cfg.folds = 1;
    expect_inval(&cfg, x, N, D, y, "expected 2..20");
    cfg.folds = 10;
    cfg.inner_folds = 21;
    expect_inval(&cfg, x, N, D, y, "expected 2..20");
    cfg.inner_folds = 5;
    cfg.kernel = (bst_svm_kernel)5;
    expect_inval(&cfg, x, N, D, y, "expected rbf or linear");
    cfg.kernel = BST_SVM_RBF;
    expect_inval(&cfg, x, 0, D, y, "expected n and d");
    expect_inval(&cfg, x, N, 0, y, "expected n and d");
    expect_inval(NULL, x, N, D, y, "NULL");
    expect_inval(&cfg, NULL, N, D, y, "NULL");
    expect_inval(&cfg, x, N, D, NULL, "NULL");
    x[5] = NAN;
    expect_inval(&cfg, x, N, D, y, "x[2][1] is not finite");
    x[5] = 0;
    y[3] = -1;
    expect_inval(&cfg, x, N, D, y, "y[3] = -1");
    for (int i = 0; i < N; i++)
        y[i] = 0;
    /* one class: its count passes, the class count does not */
    expect_inval(&cfg, x, N, D, y, "one class");
    for (int i = 0; i < N; i++)
        y[i] = i % 2 ? 2 : 0; /* class 1 absent */
    expect_inval(&cfg, x, N, D, y, "class 1 has 0 samples");
    assert_int_equal(bst_svm_eval(&cfg, x, N, D, y, NULL, NULL, 0),
                     BST_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_separable),
        cmocka_unit_test(test_xor),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_rejections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
