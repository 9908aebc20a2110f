/*
 * test_bn_kernels.c — the batch-norm kernels of train/batchnorm.c beyond
 * the gradient checks of test_grad.c: the one-pass statistics against a
 * two-pass reference in double (a large mean over a small spread, plane
 * sizes that are not a multiple of the vector lanes, one value per
 * plane), the fused stem BN-ReLU-pool on odd sides against the separate
 * layers, and bitwise equal results for 1 and 2 threads.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "engine.h"
#include "fdcheck.h"

static float *alloc_f(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    return p;
}

/* |a - b| <= tol |b| */
static void assert_rel(double a, double b, double tol)
{
    if (!(fabs(a - b) <= tol * fabs(b))) {
        print_message("%.15g != %.15g (rel tol %.3g)\n", a, b, tol);
        fail();
    }
}

/* bn's batch mean and biased variance against two passes in double */
static void check_stats(int N, int C, int S, float centre, float spread)
{
    size_t n = (size_t)N * C * S;
    float *x = randu(n, (uint64_t)S, centre - spread, centre + spread);
    float *y = alloc_f(n);
    bst_batchnorm bn;
    assert_int_equal(bst_batchnorm_init(&bn, C), BST_OK);
    bst_batchnorm_forward(&bn, x, y, N, S, 1);
    for (int c = 0; c < C; c++) {
        double m = 0.0, v = 0.0, M = (double)N * S;
        for (int i = 0; i < N; i++)
            for (int s = 0; s < S; s++)
                m += x[((size_t)i * C + c) * S + s];
        m /= M;
        for (int i = 0; i < N; i++)
            for (int s = 0; s < S; s++) {
                double d = x[((size_t)i * C + c) * S + s] - m;
                v += d * d;
            }
        v /= M;
        assert_float_equal(bn.mean[c], m, 1e-5 * spread);
        double var = 1.0 / (bn.invstd[c] * bn.invstd[c]) - bn.eps;
        assert_rel(var, v, 1e-5);
    }
    bst_batchnorm_free(&bn);
    free(x);
    free(y);
}

static void test_stats(void **state)
{
    (void)state;
    check_stats(5, 3, 37, 0.0f, 1.0f);     /* a tail after the lanes */
    check_stats(4, 2, 784, 0.5f, 0.5f);    /* the stem's planes */
    check_stats(300, 2, 1, -3.0f, 2.0f);   /* one value per plane */
    check_stats(6, 2, 49, 1000.0f, 0.01f); /* large mean, small spread */
    check_stats(3, 1, 16, 100.0f, 1e-3f);  /* exactly one lane block */
}

/* fused pool (odd sides) = BN + ReLU + max-pool and back: the row and
   column outside every window get the statistics' part of dx only */
static void test_pool_odd(void **state)
{
    (void)state;
    enum { N = 3, C = 3, H = 7, W = 9, S = H * W, Ho = H / 2, Wo = W / 2 };
    size_t n = (size_t)N * C * S, np = (size_t)N * C * Ho * Wo;
    float *x = randu(n, 1, -1.0f, 1.0f), *dp = randu(np, 2, -1.0f, 1.0f);
    float *r = alloc_f(n), *dy = alloc_f(n), *dx1 = alloc_f(n);
    float *dx2 = alloc_f(n), *p1 = alloc_f(np), *p2 = alloc_f(np);
    uint8_t *idx = malloc(np);
    assert_non_null(idx);
    bst_batchnorm a, b;
    assert_int_equal(bst_batchnorm_init(&a, C), BST_OK);
    assert_int_equal(bst_batchnorm_init(&b, C), BST_OK);
    a.gamma[1] = b.gamma[1] = -0.5f;
    bst_batchnorm_relu_pool2_forward(&a, x, p1, idx, N, H, W, 1);
    bst_batchnorm_relu_forward(&b, x, r, N, S, 1);
    bst_maxpool_forward(r, p2, N, C, H, W, 2, 2);
    for (size_t i = 0; i < np; i++)
        assert_float_equal(p1[i], p2[i], 1e-6);
    bst_batchnorm_relu_pool2_backward(&a, x, p1, idx, dp, dx1, N, H, W, 1);
    bst_maxpool_backward(r, dp, dy, N, C, H, W, 2, 2);
    bst_batchnorm_relu_backward(&b, x, r, dy, dx2, N, S, 1);
    for (size_t i = 0; i < n; i++)
        assert_float_equal(dx1[i], dx2[i], 1e-5);
    for (int c = 0; c < C; c++) {
        assert_float_equal(a.dgamma[c], b.dgamma[c], 1e-5);
        assert_float_equal(a.dbeta[c], b.dbeta[c], 1e-5);
    }
    bst_batchnorm_free(&a);
    bst_batchnorm_free(&b);
    free(x), free(dp), free(r), free(dy), free(dx1), free(dx2), free(p1);
    free(p2), free(idx);
}

/* Every output of the three train-mode kernels at a thread count. */
typedef struct {
    float *y, *dx, *p, *dxp, *g; /* g: dgamma, dbeta, running stats */
    uint8_t *idx;
} outs;

enum { TN = 5, TC = 6, TH = 8, TW = 10, TS = TH * TW };

static void run_kernels(int threads, const float *x, const float *dy, outs *o)
{
    size_t n = (size_t)TN * TC * TS, np = n / 4;
    omp_set_num_threads(threads);
    o->y = alloc_f(n), o->dx = alloc_f(n), o->p = alloc_f(np);
    o->dxp = alloc_f(n), o->g = alloc_f(8 * TC);
    o->idx = malloc(np);
    assert_non_null(o->idx);
    bst_batchnorm a, b;
    assert_int_equal(bst_batchnorm_init(&a, TC), BST_OK);
    assert_int_equal(bst_batchnorm_init(&b, TC), BST_OK);
    bst_batchnorm_relu_forward(&a, x, o->y, TN, TS, 1);
    bst_batchnorm_relu_backward(&a, x, o->y, dy, o->dx, TN, TS, 1);
    bst_batchnorm_relu_pool2_forward(&b, x, o->p, o->idx, TN, TH, TW, 1);
    bst_batchnorm_relu_pool2_backward(&b, x, o->p, o->idx, dy, o->dxp, TN, TH,
                                      TW, 1);
    const bst_batchnorm *bns[2] = {&a, &b};
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < TC; c++) {
            float *g = o->g + k * 4 * TC;
            g[c] = bns[k]->dgamma[c];
            g[TC + c] = bns[k]->dbeta[c];
            g[2 * TC + c] = bns[k]->running_mean[c];
            g[3 * TC + c] = bns[k]->running_var[c];
        }
    bst_batchnorm_free(&a);
    bst_batchnorm_free(&b);
}

static void free_outs(outs *o)
{
    free(o->y), free(o->dx), free(o->p), free(o->dxp), free(o->g);
    free(o->idx);
}

static void test_threads(void **state)
{
    (void)state;
    size_t n = (size_t)TN * TC * TS, np = n / 4;
    float *x = randu(n, 3, -2.0f, 3.0f), *dy = randu(n, 4, -1.0f, 1.0f);
    int saved = omp_get_max_threads();
    outs one, two;
    run_kernels(1, x, dy, &one);
    run_kernels(2, x, dy, &two);
    omp_set_num_threads(saved);
    assert_memory_equal(one.y, two.y, n * sizeof(float));
    assert_memory_equal(one.dx, two.dx, n * sizeof(float));
    assert_memory_equal(one.p, two.p, np * sizeof(float));
    assert_memory_equal(one.idx, two.idx, np);
    assert_memory_equal(one.dxp, two.dxp, n * sizeof(float));
    assert_memory_equal(one.g, two.g, 8 * TC * sizeof(float));
    free_outs(&one);
    free_outs(&two);
    free(x);
    free(dy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_pool_odd),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
