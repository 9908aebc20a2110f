/*
 * test_conv_dnnl.c — the forward convolution and the backward data pass
 * (dx) as the build runs them (through oneDNN when built with BS_DNNL,
 * else the own im2col + GEMM path) on the encoder's layer shapes: the
 * same values as a direct loop in double, the same bits for 1 and 2
 * threads, the same bits for an image whatever the other images of its
 * batch (the eval features rely on it), and the same result again after
 * the layer ran another batch size (dx: on the oneDNN path only).  The
 * weight gradient: the same bits for 1 and 2 threads.
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

#include "conv2d_dnnl.h"
#include "engine.h"
#include "fdcheck.h"

/* y of image n, channel o, position (i, j) by the definition */
static double direct(const bst_conv2d *c, const float *x, int n, int o, int i,
                     int j, int H, int W)
{
    double s = 0.0;
    for (int ci = 0; ci < c->cin; ci++)
        for (int ki = 0; ki < c->k; ki++)
            for (int kj = 0; kj < c->k; kj++) {
                int ih = i * c->stride - c->pad + ki;
                int iw = j * c->stride - c->pad + kj;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                    continue;
                s += (double)c->W[((o * c->cin + ci) * c->k + ki) * c->k + kj] *
                     x[(((size_t)n * c->cin + ci) * H + ih) * W + iw];
            }
    return s;
}

/* cin cout k stride pad H: the encoder's convolutions (width 16) */
static const int LAYERS[][6] = {
    {1, 16, 3, 1, 1, 28}, {16, 16, 3, 1, 1, 14}, {16, 32, 3, 2, 1, 14},
    {32, 32, 3, 1, 1, 7}, {16, 32, 1, 2, 0, 14}, {32, 64, 3, 2, 1, 7},
    {64, 64, 3, 1, 1, 4}, {32, 64, 1, 2, 0, 7},
};

/* layer p (a row of LAYERS) with Kaiming weights from seed */
static void make_layer(bst_conv2d *c, const int *p, uint64_t seed)
{
    assert_int_equal(bst_conv2d_init(c, p[0], p[1], p[2], p[3], p[4], 0),
                     BST_OK);
    bst_conv2d_reset(c, seed, (uint64_t)p[1]);
}

static void check_layer(const int *p)
{
    enum { N = 9 };
    bst_conv2d c;
    make_layer(&c, p, 3);
    int H = p[5], Ho = bst_conv2d_out(H, p[2], p[3], p[4]);
    size_t xi = (size_t)p[0] * H * H, yi = (size_t)p[1] * Ho * Ho;
    float *x = randu(N * xi, (uint64_t)p[0] * 100 + p[1], -0.5f, 0.5f);
    float *y1 = malloc(N * yi * sizeof(float)),
          *y2 = malloc(N * yi * sizeof(float));
    float *y3 = malloc(N * yi * sizeof(float));
    assert_non_null(y1), assert_non_null(y2), assert_non_null(y3);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(bst_conv2d_forward(&c, x, y1, N, H, H), BST_OK);
    omp_set_num_threads(2);
    assert_int_equal(bst_conv2d_forward(&c, x, y2, N, H, H), BST_OK);
    assert_memory_equal(y1, y2, N * yi * sizeof(float));
    /* images 4..6 as a batch of their own, then image 8 alone */
    assert_int_equal(bst_conv2d_forward(&c, x + 4 * xi, y3, 3, H, H), BST_OK);
    assert_memory_equal(y3, y1 + 4 * yi, 3 * yi * sizeof(float));
    assert_int_equal(bst_conv2d_forward(&c, x + 8 * xi, y3, 1, H, H), BST_OK);
    assert_memory_equal(y3, y1 + 8 * yi, yi * sizeof(float));
    /* back to the full batch: the same again */
    assert_int_equal(bst_conv2d_forward(&c, x, y3, N, H, H), BST_OK);
    assert_memory_equal(y3, y1, N * yi * sizeof(float));
    omp_set_num_threads(saved);
    for (int n = 0; n < N; n += 4)
        for (int o = 0; o < p[1]; o += 5)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Ho; j++) {
                    double want = direct(&c, x, n, o, i, j, H, H);
                    double got =
                        y1[(size_t)n * yi + ((size_t)o * Ho + i) * Ho + j];
                    assert_true(fabs(got - want) <= 1e-4 * (1.0 + fabs(want)));
                }
    free(x), free(y1), free(y2), free(y3);
    bst_conv2d_free(&c);
}

/* dx (N, cin, H, H) of dy (N, cout, Ho, Ho) by the definition (the
   adjoint of direct), in double */
static double *direct_dx(const bst_conv2d *c, const float *dy, int N, int H,
                         int Ho)
{
    size_t xi = (size_t)c->cin * H * H;
    double *dx = calloc(N * xi, sizeof(double));
    assert_non_null(dx);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < c->cout; o++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Ho; j++) {
                    double g =
                        dy[(((size_t)n * c->cout + o) * Ho + i) * Ho + j];
                    for (int ci = 0; ci < c->cin; ci++)
                        for (int ki = 0; ki < c->k; ki++)
                            for (int kj = 0; kj < c->k; kj++) {
                                int ih = i * c->stride - c->pad + ki;
                                int iw = j * c->stride - c->pad + kj;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= H)
                                    continue;
                                dx[n * xi + ((size_t)ci * H + ih) * H + iw] +=
                                    g * c->W[((o * c->cin + ci) * c->k + ki) *
                                                 c->k +
                                             kj];
                            }
                }
    return dx;
}

/* dx of the backward as check_layer checks y, and dW for 1 vs 2 threads */
static void check_backward(const int *p)
{
    enum { N = 9 };
    bst_conv2d c;
    make_layer(&c, p, 5);
    int H = p[5], Ho = bst_conv2d_out(H, p[2], p[3], p[4]);
    size_t xi = (size_t)p[0] * H * H, yi = (size_t)p[1] * Ho * Ho;
    size_t nw = (size_t)p[1] * p[0] * p[2] * p[2];
    float *x = randu(N * xi, (uint64_t)p[0] * 100 + p[1] + 7, -0.5f, 0.5f);
    float *dy = randu(N * yi, (uint64_t)p[0] * 100 + p[1] + 8, -1.0f, 1.0f);
    float *dx1 = malloc(N * xi * sizeof(float)),
          *dx2 = malloc(N * xi * sizeof(float));
    float *dx3 = malloc(N * xi * sizeof(float)),
          *dw1 = malloc(nw * sizeof(float));
    assert_non_null(dx1), assert_non_null(dx2), assert_non_null(dx3);
    assert_non_null(dw1);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(bst_conv2d_backward(&c, x, dy, dx1, N, H, H), BST_OK);
    memcpy(dw1, c.dW, nw * sizeof(float));
    memset(c.dW, 0, nw * sizeof(float));
    omp_set_num_threads(2);
    assert_int_equal(bst_conv2d_backward(&c, x, dy, dx2, N, H, H), BST_OK);
    assert_memory_equal(dx1, dx2, N * xi * sizeof(float));
    assert_memory_equal(dw1, c.dW, nw * sizeof(float));
    /* dW without dx: oneDNN then converts dy for the weight gradient
       itself instead of reading the dx pass's conversion */
    memset(c.dW, 0, nw * sizeof(float));
    assert_int_equal(bst_conv2d_backward(&c, x, dy, NULL, N, H, H), BST_OK);
    assert_memory_equal(dw1, c.dW, nw * sizeof(float));
    /* oneDNN's dx (where it runs: the own path's GEMM over chunks of
       samples is thread-invariant but not batch-invariant): images 4..6
       as a batch of their own, then image 8 alone, then the full batch */
    if (bst_conv2d_dnnl_backward_data(&c, dy, dx3, N, H, H, Ho, Ho) > 0) {
        assert_memory_equal(dx3, dx1, N * xi * sizeof(float));
        assert_int_equal(
            bst_conv2d_backward(&c, x + 4 * xi, dy + 4 * yi, dx3, 3, H, H),
            BST_OK);
        assert_memory_equal(dx3, dx1 + 4 * xi, 3 * xi * sizeof(float));
        assert_int_equal(
            bst_conv2d_backward(&c, x + 8 * xi, dy + 8 * yi, dx3, 1, H, H),
            BST_OK);
        assert_memory_equal(dx3, dx1 + 8 * xi, xi * sizeof(float));
        assert_int_equal(bst_conv2d_backward(&c, x, dy, dx3, N, H, H), BST_OK);
        assert_memory_equal(dx3, dx1, N * xi * sizeof(float));
    }
    omp_set_num_threads(saved);
    double *want = direct_dx(&c, dy, N, H, Ho);
    for (size_t i = 0; i < N * xi; i++)
        assert_true(fabs(dx1[i] - want[i]) <= 1e-4 * (1.0 + fabs(want[i])));
    free(want);
    free(x), free(dy), free(dx1), free(dx2), free(dx3), free(dw1);
    bst_conv2d_free(&c);
}

static void test_encoder_layers(void **state)
{
    (void)state;
    for (size_t l = 0; l < sizeof LAYERS / sizeof LAYERS[0]; l++)
        check_layer(LAYERS[l]);
}

static void test_encoder_layers_backward(void **state)
{
    (void)state;
    for (size_t l = 0; l < sizeof LAYERS / sizeof LAYERS[0]; l++)
        check_backward(LAYERS[l]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_layers),
        cmocka_unit_test(test_encoder_layers_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
