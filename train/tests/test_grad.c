/* test_grad.c — every layer and loss of the engine against central finite
   differences, plus AdamW, the learning-rate schedule, initialisation and
   thread-count determinism.

   Each layer check uses the objective f = sum(y * r) for a fixed random r,
   so backward with dy = r must give df/d(input) and df/d(params)
   (check_grad, fdcheck.h). */
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
#include "fdcheck.h"

/* |a - b| <= tol in double (cmocka's assert_float_equal rounds to float) */
#define assert_close(a, b, tol)                                                \
    assert_close_((a), (b), (tol), __FILE__, __LINE__)
static void assert_close_(double a, double b, double tol, const char *file,
                          int line)
{
    if (!(fabs(a - b) <= tol)) {
        print_message("%s:%d: %.12g != %.12g (tol %.3g)\n", file, line, a, b,
                      tol);
        fail();
    }
}

/* ------------------------------------------------------------------ linear */
typedef struct {
    bst_linear *l;
    float *x, *y, *r;
    int B;
} lin_ctx;

static double lin_f(void *p)
{
    lin_ctx *c = p;
    bst_linear_forward(c->l, c->x, c->y, c->B);
    return dot(c->y, c->r, (size_t)c->B * c->l->out);
}

static void test_linear(void **state)
{
    (void)state;
    int B = 3, in = 5, out = 4;
    bst_linear l;
    assert_int_equal(bst_linear_init(&l, in, out, 1), BST_OK);
    bst_linear_reset(&l, 1, 0);
    for (int o = 0; o < out; o++)
        l.b[o] = 0.1f * o;
    lin_ctx c = {&l, randu((size_t)B * in, 2, -1, 1),
                 malloc((size_t)B * out * sizeof(float)),
                 randu((size_t)B * out, 3, -1, 1), B};
    float *dx = malloc((size_t)B * in * sizeof(float));
    lin_f(&c);
    bst_linear_backward(&l, c.x, c.r, dx, B);
    float *dW = copyf(l.dW, (size_t)in * out), *db = copyf(l.db, (size_t)out);
    check_grad("linear dx", lin_f, &c, c.x, dx, (size_t)B * in);
    check_grad("linear dW", lin_f, &c, l.W, dW, (size_t)in * out);
    check_grad("linear db", lin_f, &c, l.b, db, (size_t)out);
    /* backward accumulates parameter gradients */
    bst_linear_backward(&l, c.x, c.r, NULL, B);
    for (int i = 0; i < in * out; i++)
        assert_close(l.dW[i], 2 * dW[i], 1e-5);
    free(dW);
    free(db);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.r);
    bst_linear_free(&l);
}

/* ------------------------------------------------------------------ conv2d */
typedef struct {
    bst_conv2d *cv;
    float *x, *y, *r;
    int N, H, W;
    size_t ny;
} conv_ctx;

static double conv_f(void *p)
{
    conv_ctx *c = p;
    assert_int_equal(bst_conv2d_forward(c->cv, c->x, c->y, c->N, c->H, c->W),
                     BST_OK);
    return dot(c->y, c->r, c->ny);
}

static void check_conv(int N, int cin, int cout, int k, int s, int pad, int H,
                       int W, int bias)
{
    bst_conv2d cv;
    assert_int_equal(bst_conv2d_init(&cv, cin, cout, k, s, pad, bias), BST_OK);
    bst_conv2d_reset(&cv, 7, (uint64_t)k * 10 + s);
    for (int o = 0; bias && o < cout; o++)
        cv.b[o] = 0.05f * o;
    int Ho = bst_conv2d_out(H, k, s, pad), Wo = bst_conv2d_out(W, k, s, pad);
    size_t nx = (size_t)N * cin * H * W, ny = (size_t)N * cout * Ho * Wo;
    size_t nw = (size_t)cout * cin * k * k;
    conv_ctx c = {&cv,
                  randu(nx, 11, -1, 1),
                  malloc(ny * sizeof(float)),
                  randu(ny, 12, -1, 1),
                  N,
                  H,
                  W,
                  ny};
    float *dx = malloc(nx * sizeof(float));
    conv_f(&c);
    assert_int_equal(bst_conv2d_backward(&cv, c.x, c.r, dx, N, H, W), BST_OK);
    float *dW = copyf(cv.dW, nw);
    check_grad("conv dx", conv_f, &c, c.x, dx, nx);
    check_grad("conv dW", conv_f, &c, cv.W, dW, nw);
    if (bias) {
        float *db = copyf(cv.db, (size_t)cout);
        check_grad("conv db", conv_f, &c, cv.b, db, (size_t)cout);
        free(db);
    }
    free(dW);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.r);
    bst_conv2d_free(&cv);
}

static void test_conv2d_3x3(void **state)
{
    (void)state;
    check_conv(5, 2, 3, 3, 1, 1, 5, 5, 1); /* 5 samples: two chunks */
    check_conv(2, 2, 2, 3, 2, 1, 6, 5, 0); /* stride 2, odd width */
    check_conv(1, 1, 2, 3, 1, 0, 4, 4, 1); /* no padding */
}

static void test_conv2d_1x1(void **state)
{
    (void)state;
    check_conv(3, 3, 2, 1, 1, 0, 3, 4, 1); /* pointwise fast path */
    check_conv(2, 2, 3, 1, 2, 0, 5, 5, 0); /* strided projection */
}

/* Same results, bit for bit, for 1 and 3 threads. */
static void test_conv2d_threads(void **state)
{
    (void)state;
    int N = 9, cin = 3, cout = 4, H = 6, W = 6;
    bst_conv2d cv;
    assert_int_equal(bst_conv2d_init(&cv, cin, cout, 3, 1, 1, 1), BST_OK);
    bst_conv2d_reset(&cv, 3, 0);
    size_t nx = (size_t)N * cin * H * W, ny = (size_t)N * cout * H * W;
    size_t nw = (size_t)cout * cin * 9;
    float *x = randu(nx, 1, -1, 1), *dy = randu(ny, 2, -1, 1);
    float *y[2], *dx[2], *dW[2];
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t ? 3 : 1);
        y[t] = malloc(ny * sizeof(float));
        dx[t] = malloc(nx * sizeof(float));
        memset(cv.dW, 0, nw * sizeof(float));
        assert_int_equal(bst_conv2d_forward(&cv, x, y[t], N, H, W), BST_OK);
        assert_int_equal(bst_conv2d_backward(&cv, x, dy, dx[t], N, H, W),
                         BST_OK);
        dW[t] = copyf(cv.dW, nw);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(y[0], y[1], ny * sizeof(float));
    assert_memory_equal(dx[0], dx[1], nx * sizeof(float));
    assert_memory_equal(dW[0], dW[1], nw * sizeof(float));
    for (int t = 0; t < 2; t++) {
        free(y[t]);
        free(dx[t]);
        free(dW[t]);
    }
    free(x);
    free(dy);
    bst_conv2d_free(&cv);
}

/* --------------------------------------------------------------- batchnorm */
typedef struct {
    bst_batchnorm *bn;
    float *x, *y, *r;
    int N, S, train;
} bn_ctx;

static double bn_f(void *p)
{
    bn_ctx *c = p;
    bst_batchnorm_forward(c->bn, c->x, c->y, c->N, c->S, c->train);
    return dot(c->y, c->r, (size_t)c->N * c->bn->C * c->S);
}

static void check_bn(int train, int N, int C, int S)
{
    bst_batchnorm bn;
    assert_int_equal(bst_batchnorm_init(&bn, C), BST_OK);
    for (int c = 0; c < C; c++) {
        bn.gamma[c] = 0.5f + 0.3f * c;
        bn.beta[c] = -0.2f + 0.1f * c;
        bn.running_mean[c] = 0.1f * c;
        bn.running_var[c] = 0.5f + c;
    }
    size_t n = (size_t)N * C * S;
    bn_ctx c = {&bn,
                randu(n, 21, -2, 2),
                malloc(n * sizeof(float)),
                randu(n, 22, -1, 1),
                N,
                S,
                train};
    float *dx = malloc(n * sizeof(float));
    bn_f(&c);
    bst_batchnorm_backward(&bn, c.x, c.r, dx, N, S, train);
    float *dg = copyf(bn.dgamma, (size_t)C), *db = copyf(bn.dbeta, (size_t)C);
    check_grad(train ? "bn(train) dx" : "bn(eval) dx", bn_f, &c, c.x, dx, n);
    check_grad("bn dgamma", bn_f, &c, bn.gamma, dg, (size_t)C);
    check_grad("bn dbeta", bn_f, &c, bn.beta, db, (size_t)C);
    free(dg);
    free(db);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.r);
    bst_batchnorm_free(&bn);
}

static void test_batchnorm_grad(void **state)
{
    (void)state;
    check_bn(1, 4, 3, 5); /* BatchNorm2d-like */
    check_bn(1, 6, 4, 1); /* BatchNorm1d-like */
    check_bn(0, 4, 3, 5);
}

/* Statistics: batch mean / biased variance to normalise, running update
   with the unbiased variance; eval uses the running values. */
static void test_batchnorm_stats(void **state)
{
    (void)state;
    bst_batchnorm bn;
    assert_int_equal(bst_batchnorm_init(&bn, 1), BST_OK);
    float x[4] = {1, 2, 3, 6}, y[4]; /* mean 3, biased var 3.5, unbiased 14/3 */
    bst_batchnorm_forward(&bn, x, y, 4, 1, 1);
    assert_close(y[0], -2 / sqrt(3.5 + 1e-5), 1e-5);
    assert_close(bn.running_mean[0], 0.3, 1e-6);
    assert_close(bn.running_var[0], 0.9 + 0.1 * 14.0 / 3.0, 1e-6);
    bst_batchnorm_forward(&bn, x, y, 4, 1, 0);
    float rm = bn.running_mean[0], rv = bn.running_var[0];
    for (int i = 0; i < 4; i++)
        assert_close(y[i], (x[i] - rm) / sqrt(rv + 1e-5), 1e-5);
    /* eval mode leaves the running statistics alone */
    assert_close(bn.running_mean[0], rm, 0);
    bst_batchnorm_free(&bn);
}

/* ------------------------------------------------------- pool, activations */
typedef struct {
    float *x, *y, *r, *aux;
    int N, C, H, W, k, s, kind;
    size_t ny;
} el_ctx;

enum { EL_MAXPOOL, EL_GAP, EL_RELU, EL_L2 };

static double el_f(void *p)
{
    el_ctx *c = p;
    switch (c->kind) {
    case EL_MAXPOOL:
        bst_maxpool_forward(c->x, c->y, c->N, c->C, c->H, c->W, c->k, c->s);
        break;
    case EL_GAP: bst_gap_forward(c->x, c->y, c->N, c->C, c->H * c->W); break;
    case EL_RELU:
        bst_relu_forward(c->x, c->y, (size_t)c->N * c->C * c->H * c->W);
        break;
    default: /* rows N, width C */ bst_l2norm_forward(c->x, c->y, c->N, c->C);
    }
    return dot(c->y, c->r, c->ny);
}

/* Distinct inputs 0.02 apart in shuffled order: no window holds two values
   closer than the finite-difference step. */
static float *shuffled(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof(float));
    bs_rng r;
    bs_rng_derive(&r, seed, 98, 0);
    for (size_t i = 0; i < n; i++)
        x[i] = -1.0f + 0.02f * (float)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = bs_rng_below(&r, i + 1);
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    return x;
}

static void check_maxpool(int k, int s)
{
    int N = 2, C = 2, H = 6, W = 5;
    int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * Ho * Wo;
    el_ctx c = {shuffled(nx, 5),
                malloc(ny * sizeof(float)),
                randu(ny, 6, -1, 1),
                NULL,
                N,
                C,
                H,
                W,
                k,
                s,
                EL_MAXPOOL,
                ny};
    float *dx = malloc(nx * sizeof(float));
    el_f(&c);
    bst_maxpool_backward(c.x, c.r, dx, N, C, H, W, k, s);
    check_grad("maxpool dx", el_f, &c, c.x, dx, nx);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.r);
}

static void test_pool(void **state)
{
    (void)state;
    check_maxpool(2, 2);
    check_maxpool(3, 2); /* overlapping windows */
    int N = 2, C = 3, H = 3, W = 4;
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C;
    el_ctx c = {randu(nx, 7, -1, 1),
                malloc(ny * sizeof(float)),
                randu(ny, 8, -1, 1),
                NULL,
                N,
                C,
                H,
                W,
                0,
                0,
                EL_GAP,
                ny};
    float *dx = malloc(nx * sizeof(float));
    el_f(&c);
    bst_gap_backward(c.r, dx, N, C, H * W);
    check_grad("gap dx", el_f, &c, c.x, dx, nx);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.r);
}

/* The fused BN -> ReLU -> 2x2 max-pool (forward and backward) equals
   the separate layers: BN then ReLU (the fused bst_batchnorm_relu_* too)
   then max-pool, and back, including max-pool ties among the ReLU's
   zeros and a negative gamma. */
static void test_bn_relu_pool_fused(void **state)
{
    (void)state;
    enum { N = 3, C = 4, H = 6, W = 8, S = H * W };
    size_t n = (size_t)N * C * S, np = n / 4;
    float *x = randu(n, 31, -1.0f, 1.0f);
    float *dp = randu(np, 32, -1.0f, 1.0f);
    float *y = malloc(n * sizeof(float)), *r = malloc(n * sizeof(float));
    float *dy = malloc(n * sizeof(float)), *dr = malloc(n * sizeof(float));
    float *dx1 = malloc(n * sizeof(float)), *dx2 = malloc(n * sizeof(float));
    float *dx3 = malloc(n * sizeof(float));
    float *p1 = malloc(np * sizeof(float)), *p2 = malloc(np * sizeof(float));
    uint8_t *idx = malloc(np);
    bst_batchnorm a, b, c3;
    assert_int_equal(bst_batchnorm_init(&a, C), BST_OK);
    assert_int_equal(bst_batchnorm_init(&b, C), BST_OK);
    assert_int_equal(bst_batchnorm_init(&c3, C), BST_OK);
    for (int c = 0; c < C; c++) { /* a negative gamma flips the order */
        float g = c == 1 ? -0.7f : 1.0f + 0.1f * c, be = 0.05f * c;
        a.gamma[c] = b.gamma[c] = c3.gamma[c] = g;
        a.beta[c] = b.beta[c] = c3.beta[c] = be;
    }
    /* forward: fused pool vs BN-ReLU (fused) + max-pool vs BN + ReLU */
    bst_batchnorm_relu_pool2_forward(&a, x, p1, idx, N, H, W, 1);
    bst_batchnorm_relu_forward(&b, x, r, N, S, 1);
    bst_maxpool_forward(r, p2, N, C, H, W, 2, 2);
    for (size_t i = 0; i < np; i++)
        assert_close(p1[i], p2[i], 1e-6);
    bst_batchnorm_forward(&c3, x, y, N, S, 1);
    bst_relu_forward(y, y, n);
    for (size_t i = 0; i < n; i++)
        assert_close(r[i], y[i], 1e-6);
    int zeros = 0;
    for (size_t i = 0; i < np; i++)
        zeros += p1[i] == 0.0f;
    assert_true(zeros > 0); /* all-zero windows: ties exercised */
    for (int c = 0; c < C; c++) {
        assert_close(a.running_mean[c], c3.running_mean[c], 1e-7);
        assert_close(a.running_var[c], c3.running_var[c], 1e-7);
    }
    /* backward: fused vs max-pool + fused BN-ReLU vs max-pool + ReLU + BN */
    bst_batchnorm_relu_pool2_backward(&a, x, p1, idx, dp, dx1, N, H, W, 1);
    bst_maxpool_backward(r, dp, dy, N, C, H, W, 2, 2);
    bst_batchnorm_relu_backward(&b, x, r, dy, dx2, N, S, 1);
    bst_relu_backward(r, dy, dr, n);
    bst_batchnorm_backward(&c3, x, dr, dx3, N, S, 1);
    for (size_t i = 0; i < n; i++) {
        assert_close(dx1[i], dx2[i], 1e-5);
        assert_close(dx2[i], dx3[i], 1e-5);
    }
    for (int c = 0; c < C; c++) {
        assert_close(a.dgamma[c], c3.dgamma[c], 1e-5);
        assert_close(a.dbeta[c], c3.dbeta[c], 1e-5);
        assert_close(b.dgamma[c], c3.dgamma[c], 1e-5);
    }
    bst_batchnorm_free(&a);
    bst_batchnorm_free(&b);
    bst_batchnorm_free(&c3);
    free(x), free(dp), free(y), free(r), free(dy), free(dr), free(dx1);
    free(dx2), free(dx3), free(p1), free(p2), free(idx);
}

static void test_relu(void **state)
{
    (void)state;
    size_t n = 40;
    el_ctx c = {shuffled(n, 9),
                malloc(n * sizeof(float)),
                randu(n, 10, -1, 1),
                NULL,
                1,
                1,
                1,
                (int)n,
                0,
                0,
                EL_RELU,
                n};
    c.x[0] = 0.01f; /* 0.01 away from the kink, as shuffled keeps them */
    float *dx = malloc(n * sizeof(float));
    el_f(&c);
    bst_relu_backward(c.x, c.r, dx, n);
    check_grad("relu dx", el_f, &c, c.x, dx, n);
    /* in place on the output, as the encoder uses it */
    float *y = copyf(c.x, n), *g = copyf(c.r, n);
    bst_relu_forward(y, y, n);
    bst_relu_backward(y, g, g, n);
    assert_memory_equal(g, dx, n * sizeof(float));
    free(y);
    free(g);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.r);
}

static void test_l2norm(void **state)
{
    (void)state;
    int B = 3, d = 5;
    size_t n = (size_t)B * d;
    el_ctx c = {randu(n, 13, -1, 1),
                malloc(n * sizeof(float)),
                randu(n, 14, -1, 1),
                NULL,
                B,
                d,
                1,
                1,
                0,
                0,
                EL_L2,
                n};
    float *dx = malloc(n * sizeof(float));
    el_f(&c);
    for (int b = 0; b < B; b++)
        assert_close(dot(c.y + b * d, c.y + b * d, (size_t)d), 1.0, 1e-6);
    bst_l2norm_backward(c.x, c.y, c.r, dx, B, d);
    check_grad("l2norm dx", el_f, &c, c.x, dx, n);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.r);
}

static void test_dropout_residual(void **state)
{
    (void)state;
    size_t n = 4000;
    float *x = randu(n, 15, -1, 1), *y = malloc(n * sizeof(float));
    float *m1 = malloc(n * sizeof(float)), *m2 = malloc(n * sizeof(float));
    float *dx = malloc(n * sizeof(float));
    bst_dropout_forward(x, y, m1, n, 0.25f, 42, 3, 1);
    bst_dropout_forward(x, y, m2, n, 0.25f, 42, 3, 1);
    assert_memory_equal(m1, m2, n * sizeof(float)); /* seeded */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(m1[i] == 0.0f || fabsf(m1[i] - 1.0f / 0.75f) < 1e-6f);
        assert_close(y[i], x[i] * m1[i], 0);
        kept += m1[i] != 0.0f;
    }
    assert_true(kept > 2850 && kept < 3150);           /* ~ 3000 */
    bst_dropout_forward(x, y, m2, n, 0.25f, 42, 4, 1); /* another step */
    assert_true(memcmp(m1, m2, n * sizeof(float)) != 0);
    bst_dropout_backward(m1, x, dx, n);
    for (size_t i = 0; i < n; i++)
        assert_close(dx[i], x[i] * m1[i], 0);
    bst_dropout_forward(x, y, m2, n, 0.25f, 42, 3, 0); /* eval: identity */
    assert_memory_equal(x, y, n * sizeof(float));
    /* residual: y = a + b, gradient joins add up */
    float a[3] = {1, 2, 3}, b[3] = {0.5f, -1, 2}, s[3];
    bst_add(a, b, s, 3);
    assert_close(s[2], 5.0, 0);
    bst_add_inplace(s, a, 3);
    assert_close(s[1], 3.0, 0);
    free(x);
    free(y);
    free(m1);
    free(m2);
    free(dx);
}

/* -------------------------------------------------------------------- loss */
typedef struct {
    bst_loss_cfg cfg;
    float *z1, *z2;
    int B, d;
} loss_ctx;

static double loss_f(void *p)
{
    loss_ctx *c = p;
    double l;
    assert_int_equal(
        bst_contrastive_loss(&c->cfg, c->z1, c->z2, c->B, c->d, &l, NULL, NULL),
        BST_OK);
    return l;
}

/* Unit rows: what the encoder hands the loss. */
static float *unit_rows(int B, int d, uint64_t seed)
{
    float *x = randu((size_t)B * d, seed, -1, 1);
    float *y = malloc((size_t)B * d * sizeof(float));
    bst_l2norm_forward(x, y, B, d);
    free(x);
    return y;
}

static double check_loss(bst_loss_cfg cfg, int B, int d, uint64_t seed)
{
    loss_ctx c = {cfg, unit_rows(B, d, seed), unit_rows(B, d, seed + 1), B, d};
    size_t n = (size_t)B * d;
    float *dz1 = malloc(n * sizeof(float)), *dz2 = malloc(n * sizeof(float));
    double l;
    assert_int_equal(bst_contrastive_loss(&cfg, c.z1, c.z2, B, d, &l, dz1, dz2),
                     BST_OK);
    check_grad("loss dz1", loss_f, &c, c.z1, dz1, n);
    check_grad("loss dz2", loss_f, &c, c.z2, dz2, n);
    free(dz1);
    free(dz2);
    free(c.z1);
    free(c.z2);
    return l;
}

static void test_loss_infonce(void **state)
{
    (void)state;
    int B = 3, d = 4;
    bst_loss_cfg cfg = {BST_LOSS_INFONCE, 0.5, 0, 0};
    double l = check_loss(cfg, B, d, 31);
    /* NT-Xent written as cross-entropy over the row without its diagonal */
    float *z1 = unit_rows(B, d, 31), *z2 = unit_rows(B, d, 32);
    double ref = 0.0;
    for (int i = 0; i < 2 * B; i++) {
        const float *zi = i < B ? z1 + i * d : z2 + (i - B) * d;
        double den = 0.0, pos = 0.0;
        for (int j = 0; j < 2 * B; j++) {
            const float *zj = j < B ? z1 + j * d : z2 + (j - B) * d;
            double s = dot(zi, zj, (size_t)d) / 0.5;
            if (j != i)
                den += exp(s);
            if (j == (i + B) % (2 * B))
                pos = s;
        }
        ref += log(den) - pos;
    }
    assert_close(l, ref / (2 * B), 1e-9);
    check_loss(cfg, 4, 3, 77);
    free(z1);
    free(z2);
}

static void test_loss_dcl_hcl(void **state)
{
    (void)state;
    bst_loss_cfg dcl = {BST_LOSS_DCL, 0.5, 0.1, 0};
    bst_loss_cfg hcl = {BST_LOSS_HCL, 0.5, 0.1, 1.0};
    double ld = check_loss(dcl, 3, 4, 41);
    double lh = check_loss(hcl, 3, 4, 41);
    assert_true(isfinite(ld) && isfinite(lh));
    check_loss((bst_loss_cfg){BST_LOSS_HCL, 0.2, 0.05, 0.5}, 4, 5, 43);
    /* tau_plus = 0 and beta = 0: both reduce to infonce */
    bst_loss_cfg inf = {BST_LOSS_INFONCE, 0.5, 0, 0};
    double a = check_loss(inf, 3, 4, 45);
    double b = check_loss((bst_loss_cfg){BST_LOSS_DCL, 0.5, 0, 0}, 3, 4, 45);
    double c = check_loss((bst_loss_cfg){BST_LOSS_HCL, 0.5, 0, 0}, 3, 4, 45);
    assert_close(a, b, 1e-12);
    assert_close(a, c, 1e-12);
    /* bitwise the same for 1 and 3 threads */
    int B = 9, d = 5, saved = omp_get_max_threads();
    float *z1 = unit_rows(B, d, 61), *z2 = unit_rows(B, d, 62);
    float *g[2][2];
    double l[2];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t ? 3 : 1);
        g[t][0] = malloc((size_t)B * d * sizeof(float));
        g[t][1] = malloc((size_t)B * d * sizeof(float));
        assert_int_equal(
            bst_contrastive_loss(&hcl, z1, z2, B, d, &l[t], g[t][0], g[t][1]),
            BST_OK);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(&l[0], &l[1], sizeof l[0]);
    assert_memory_equal(g[0][0], g[1][0], (size_t)B * d * sizeof(float));
    assert_memory_equal(g[0][1], g[1][1], (size_t)B * d * sizeof(float));
    for (int t = 0; t < 2; t++) {
        free(g[t][0]);
        free(g[t][1]);
    }
    free(z1);
    free(z2);
}

/* With a large class prior the estimator goes below N e^{-1/tau} and is
   clamped: the loss is then log(pos + floor) - s_p, gradient only via pos. */
static void test_loss_clamp(void **state)
{
    (void)state;
    int B = 3, d = 4;
    bst_loss_cfg cfg = {BST_LOSS_DCL, 1.0, 0.9, 0};
    float *z = unit_rows(B, d, 51);
    double l;
    assert_int_equal(bst_contrastive_loss(&cfg, z, z, B, d, &l, NULL, NULL),
                     BST_OK);
    /* identical views: pos = e^{1/tau}, every anchor clamped */
    double N = 2 * B - 2, pos = exp(1.0), fl = N * exp(-1.0);
    assert_close(l, log(pos + fl) - 1.0, 1e-6);
    check_loss(cfg, B, d, 51);
    cfg.kind = BST_LOSS_HCL;
    cfg.beta = 1.0;
    check_loss(cfg, B, d, 51);
    free(z);
}

static void test_loss_invalid(void **state)
{
    (void)state;
    float z[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    double l;
    bst_loss_cfg bad_tau = {BST_LOSS_INFONCE, 0, 0, 0};
    bst_loss_cfg bad_tp = {BST_LOSS_DCL, 0.5, 1.0, 0};
    assert_int_equal(bst_contrastive_loss(&bad_tau, z, z, 2, 2, &l, NULL, NULL),
                     BST_ERR_INVAL);
    assert_int_equal(bst_contrastive_loss(&bad_tp, z, z, 2, 2, &l, NULL, NULL),
                     BST_ERR_INVAL);
    bst_loss_cfg ok = {BST_LOSS_INFONCE, 0.5, 0, 0};
    assert_int_equal(bst_contrastive_loss(&ok, z, z, 1, 2, &l, NULL, NULL),
                     BST_ERR_INVAL);
}

/* ------------------------------------------------------------------- optim */
static void test_adamw(void **state)
{
    (void)state;
    float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, -0.1f};
    float b[1] = {0.3f}, gb[1] = {0.2f};
    bst_param ps[2] = {{w, g, 2, 1}, {b, gb, 1, 0}};
    bst_adamw o;
    assert_int_equal(bst_adamw_init(&o, ps, 2, 0.9, 0.999, 1e-8, 0.01), BST_OK);
    assert_int_equal((int)o.n, 3);
    /* constant gradients: bias correction makes mhat = g and vhat = g^2 at
       every step, so each step is w (1 - lr wd) - lr sign(g) */
    double lr = 0.1, ew0 = 1.0, ew1 = -2.0, eb = 0.3;
    for (int t = 0; t < 3; t++) {
        bst_adamw_step(&o, ps, 2, lr);
        ew0 = ew0 * (1 - lr * 0.01) - lr;
        ew1 = ew1 * (1 - lr * 0.01) + lr;
        eb = eb - lr; /* no decay on this one */
        assert_close(w[0], ew0, 2e-6);
        assert_close(w[1], ew1, 2e-6);
        assert_close(b[0], eb, 2e-6);
    }
    /* a hand-computed step with a changing gradient: t = 4, g = 1 after
       three steps of 0.5 on a fresh scalar */
    float x[1] = {0.0f}, gx[1] = {0.5f};
    bst_param px = {x, gx, 1, 0};
    bst_adamw o2;
    assert_int_equal(bst_adamw_init(&o2, &px, 1, 0.9, 0.999, 1e-8, 0), BST_OK);
    for (int t = 0; t < 3; t++)
        bst_adamw_step(&o2, &px, 1, 0.1);
    gx[0] = 1.0f;
    float before = x[0];
    bst_adamw_step(&o2, &px, 1, 0.1);
    double m = 0.5 * (1 - pow(0.9, 3)) * 0.9 + 0.1 * 1.0;
    double v = 0.25 * (1 - pow(0.999, 3)) * 0.999 + 0.001 * 1.0;
    double step =
        0.1 * (m / (1 - pow(0.9, 4))) / (sqrt(v / (1 - pow(0.999, 4))) + 1e-8);
    assert_close(x[0], before - step, 1e-6);
    bst_adamw_free(&o);
    bst_adamw_free(&o2);
}

static void test_lr_schedule(void **state)
{
    (void)state;
    assert_close(bst_lr_at(0, 10, 110, 1.0, 0.0), 0.1, 1e-12);
    assert_close(bst_lr_at(4, 10, 110, 1.0, 0.0), 0.5, 1e-12);
    assert_close(bst_lr_at(9, 10, 110, 1.0, 0.0), 1.0, 1e-12);
    assert_close(bst_lr_at(10, 10, 110, 1.0, 0.0), 1.0, 1e-12);
    assert_close(bst_lr_at(35, 10, 110, 1.0, 0.0),
                 0.5 * (1 + cos(3.14159265358979323846 / 4)), 1e-12);
    assert_close(bst_lr_at(60, 10, 110, 1.0, 0.0), 0.5, 1e-12);
    assert_close(bst_lr_at(60, 10, 110, 2.0, 0.2), 1.1, 1e-12);
    assert_close(bst_lr_at(110, 10, 110, 1.0, 0.01), 0.01, 1e-12);
    assert_close(bst_lr_at(500, 10, 110, 1.0, 0.01), 0.01, 1e-12);
    assert_close(bst_lr_at(0, 0, 100, 1.0, 0.0), 1.0, 1e-12); /* no warm-up */
}

static void test_init_determinism(void **state)
{
    (void)state;
    size_t n = 20000;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    bst_kaiming_normal(a, n, 50, 123, 4);
    bst_kaiming_normal(b, n, 50, 123, 4);
    assert_memory_equal(a, b, n * sizeof(float));
    bst_kaiming_normal(b, n, 50, 123, 5);
    assert_true(memcmp(a, b, n * sizeof(float)) != 0);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        s += a[i];
        s2 += (double)a[i] * a[i];
    }
    double mean = s / n, sd = sqrt(s2 / n - mean * mean);
    assert_true(fabs(mean) < 0.01);
    assert_true(fabs(sd / sqrt(2.0 / 50) - 1.0) < 0.03);
    /* layer resets are deterministic too */
    bst_conv2d c1, c2;
    assert_int_equal(bst_conv2d_init(&c1, 3, 4, 3, 1, 1, 1), BST_OK);
    assert_int_equal(bst_conv2d_init(&c2, 3, 4, 3, 1, 1, 1), BST_OK);
    bst_conv2d_reset(&c1, 9, 1);
    bst_conv2d_reset(&c2, 9, 1);
    assert_memory_equal(c1.W, c2.W, 108 * sizeof(float));
    bst_conv2d_free(&c1);
    bst_conv2d_free(&c2);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_conv2d_3x3),
        cmocka_unit_test(test_conv2d_1x1),
        cmocka_unit_test(test_conv2d_threads),
        cmocka_unit_test(test_batchnorm_grad),
        cmocka_unit_test(test_batchnorm_stats),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_bn_relu_pool_fused),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_l2norm),
        cmocka_unit_test(test_dropout_residual),
        cmocka_unit_test(test_loss_infonce),
        cmocka_unit_test(test_loss_dcl_hcl),
        cmocka_unit_test(test_loss_clamp),
        cmocka_unit_test(test_loss_invalid),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_init_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
