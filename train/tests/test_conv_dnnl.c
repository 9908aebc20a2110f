/*
 * test_conv_dnnl.c — the forward convolution as the build runs it (through
 * oneDNN when built with BS_DNNL, else the own im2col + GEMM path) on the
 * encoder's layer shapes: the same values as a direct loop in double, the
 * same bits for 1 and 2 threads, the same bits for an image whatever the
 * other images of its batch (the eval features rely on it), and the same
 * result again after the layer ran another batch size.
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

static void check_layer(const int *p)
{
    enum { N = 9 };
    bst_conv2d c;
    assert_int_equal(bst_conv2d_init(&c, p[0], p[1], p[2], p[3], p[4], 0),
                     BST_OK);
    bst_conv2d_reset(&c, 3, (uint64_t)p[1]);
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

static void test_encoder_layers(void **state)
{
    (void)state;
    for (size_t l = 0; l < sizeof LAYERS / sizeof LAYERS[0]; l++)
        check_layer(LAYERS[l]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
