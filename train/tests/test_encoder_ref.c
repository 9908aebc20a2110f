/* test_encoder_ref.c — the whole encoder + loss, forward and backward,
   against PyTorch (tests/ref_torch.py, run once; its output is the fixture
   tests/fixtures/encoder_ref.bin).  The encoder here mirrors the script's:

     x (N,3,8,8) -conv1 3x3-> (N,4,8,8) -bn1-relu-maxpool2-> p (N,4,4,4)
     p -conv2 3x3-> -bn2-relu-> r2;  s = p + r2            (N,4,4,4)
     s -conv3 1x1 s2-> (N,6,2,2) -relu-gap-> g             (N,6)
     g -fc1-> (N,8) -bn3-relu-> -fc2-> (N,4) -l2norm-> z   (N,4)
     z1 = z[:B], z2 = z[B:], N = 2B

   It doubles as the worked example of wiring layers together. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

enum { B = 2, N = 2 * B, IMG = 8 };
#define RTOL 1e-4

#include "fixture.h"

/* max |got - ref| <= RTOL max(max |ref|, scale) (+ a float-rounding
   floor).  `scale` is for gradients that are zero in exact arithmetic (a
   bias just before a train-mode batch norm): there the tolerance follows the
   size of the layer's other gradients instead. */
static void expect_close_s(const fixture *fx, const char *name,
                           const float *got, size_t n, double scale)
{
    float *ref = fx_get(fx, name, n);
    double maxref = scale, maxerr = 0.0;
    for (size_t i = 0; i < n; i++)
        maxref = fmax(maxref, fabs(ref[i]));
    double tol = RTOL * maxref + 1e-7;
    int bad = !isfinite(maxref); /* NaN-safe: count, don't fmax, errors */
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        bad += !(err <= tol);
        if (err > maxerr)
            maxerr = err;
    }
    if (getenv("BST_VERBOSE") || bad)
        print_message(
            "%s: max abs err %.3g, tol %.3g (max |ref| %.3g), %d bad\n", name,
            maxerr, tol, maxref, bad);
    assert_int_equal(bad, 0);
    free(ref);
}

static void expect_close(const fixture *fx, const char *name, const float *got,
                         size_t n)
{
    expect_close_s(fx, name, got, n, 0.0);
}

/* ---------------------------------------------------------------- encoder */
typedef struct {
    bst_conv2d conv1, conv2, conv3;
    bst_batchnorm bn1, bn2, bn3;
    bst_linear fc1, fc2;
} encoder;

/* Activations, named as in the diagram above. */
typedef struct {
    float a1[N * 4 * 64], r1[N * 4 * 64], p[N * 4 * 16];
    float a2[N * 4 * 16], r2[N * 4 * 16], s[N * 4 * 16];
    float a3[N * 6 * 4], r3[N * 6 * 4], g[N * 6];
    float f1[N * 8], r4[N * 8], f2[N * 4], z[N * 4];
} acts;

/* Gradient buffers (shape of the matching activation / input). */
typedef struct {
    float dx[N * 3 * 64], da1[N * 4 * 64], dr1[N * 4 * 64];
    float dp[N * 4 * 16], da2[N * 4 * 16], dr2[N * 4 * 16];
    float ds[N * 4 * 16], da3[N * 6 * 4], dr3[N * 6 * 4], dg[N * 6];
    float df1[N * 8], dr4[N * 8], df2[N * 4], dz[N * 4];
} grads;

static void load_param(const fixture *fx, const char *name, float *dst,
                       size_t n)
{
    float *v = fx_get(fx, name, n);
    memcpy(dst, v, n * sizeof(float));
    free(v);
}

static void encoder_init(encoder *e, const fixture *fx)
{
    assert_int_equal(bst_conv2d_init(&e->conv1, 3, 4, 3, 1, 1, 1), BST_OK);
    assert_int_equal(bst_conv2d_init(&e->conv2, 4, 4, 3, 1, 1, 0), BST_OK);
    assert_int_equal(bst_conv2d_init(&e->conv3, 4, 6, 1, 2, 0, 1), BST_OK);
    assert_int_equal(bst_batchnorm_init(&e->bn1, 4), BST_OK);
    assert_int_equal(bst_batchnorm_init(&e->bn2, 4), BST_OK);
    assert_int_equal(bst_batchnorm_init(&e->bn3, 8), BST_OK);
    assert_int_equal(bst_linear_init(&e->fc1, 6, 8, 1), BST_OK);
    assert_int_equal(bst_linear_init(&e->fc2, 8, 4, 1), BST_OK);
    load_param(fx, "conv1.W", e->conv1.W, 4 * 3 * 9);
    load_param(fx, "conv1.b", e->conv1.b, 4);
    load_param(fx, "bn1.gamma", e->bn1.gamma, 4);
    load_param(fx, "bn1.beta", e->bn1.beta, 4);
    load_param(fx, "conv2.W", e->conv2.W, 4 * 4 * 9);
    load_param(fx, "bn2.gamma", e->bn2.gamma, 4);
    load_param(fx, "bn2.beta", e->bn2.beta, 4);
    load_param(fx, "conv3.W", e->conv3.W, 6 * 4);
    load_param(fx, "conv3.b", e->conv3.b, 6);
    load_param(fx, "fc1.W", e->fc1.W, 8 * 6);
    load_param(fx, "fc1.b", e->fc1.b, 8);
    load_param(fx, "bn3.gamma", e->bn3.gamma, 8);
    load_param(fx, "bn3.beta", e->bn3.beta, 8);
    load_param(fx, "fc2.W", e->fc2.W, 4 * 8);
    load_param(fx, "fc2.b", e->fc2.b, 4);
}

static void encoder_free(encoder *e)
{
    bst_conv2d_free(&e->conv1);
    bst_conv2d_free(&e->conv2);
    bst_conv2d_free(&e->conv3);
    bst_batchnorm_free(&e->bn1);
    bst_batchnorm_free(&e->bn2);
    bst_batchnorm_free(&e->bn3);
    bst_linear_free(&e->fc1);
    bst_linear_free(&e->fc2);
}

static void encoder_forward(encoder *e, const float *x, acts *a)
{
    assert_int_equal(bst_conv2d_forward(&e->conv1, x, a->a1, N, 8, 8), BST_OK);
    bst_batchnorm_forward(&e->bn1, a->a1, a->r1, N, 64, 1);
    bst_relu_forward(a->r1, a->r1, sizeof a->r1 / sizeof(float));
    bst_maxpool_forward(a->r1, a->p, N, 4, 8, 8, 2, 2);
    assert_int_equal(bst_conv2d_forward(&e->conv2, a->p, a->a2, N, 4, 4),
                     BST_OK);
    bst_batchnorm_forward(&e->bn2, a->a2, a->r2, N, 16, 1);
    bst_relu_forward(a->r2, a->r2, sizeof a->r2 / sizeof(float));
    bst_add(a->p, a->r2, a->s, sizeof a->s / sizeof(float));
    assert_int_equal(bst_conv2d_forward(&e->conv3, a->s, a->a3, N, 4, 4),
                     BST_OK);
    bst_relu_forward(a->a3, a->r3, sizeof a->r3 / sizeof(float));
    bst_gap_forward(a->r3, a->g, N, 6, 4);
    bst_linear_forward(&e->fc1, a->g, a->f1, N);
    bst_batchnorm_forward(&e->bn3, a->f1, a->r4, N, 1, 1);
    bst_relu_forward(a->r4, a->r4, sizeof a->r4 / sizeof(float));
    bst_linear_forward(&e->fc2, a->r4, a->f2, N);
    bst_l2norm_forward(a->f2, a->z, N, 4);
}

/* Backward from d(loss)/dz in g->dz; parameter gradients accumulate. */
static void encoder_backward(encoder *e, const float *x, const acts *a,
                             grads *g)
{
    bst_l2norm_backward(a->f2, a->z, g->dz, g->df2, N, 4);
    bst_linear_backward(&e->fc2, a->r4, g->df2, g->dr4, N);
    bst_relu_backward(a->r4, g->dr4, g->dr4, sizeof g->dr4 / sizeof(float));
    bst_batchnorm_backward(&e->bn3, a->f1, g->dr4, g->df1, N, 1, 1);
    bst_linear_backward(&e->fc1, a->g, g->df1, g->dg, N);
    bst_gap_backward(g->dg, g->dr3, N, 6, 4);
    bst_relu_backward(a->r3, g->dr3, g->da3, sizeof g->da3 / sizeof(float));
    assert_int_equal(
        bst_conv2d_backward(&e->conv3, a->s, g->da3, g->ds, N, 4, 4), BST_OK);
    /* s = p + r2: ds flows to both branches */
    bst_relu_backward(a->r2, g->ds, g->dr2, sizeof g->dr2 / sizeof(float));
    bst_batchnorm_backward(&e->bn2, a->a2, g->dr2, g->da2, N, 16, 1);
    assert_int_equal(
        bst_conv2d_backward(&e->conv2, a->p, g->da2, g->dp, N, 4, 4), BST_OK);
    bst_add_inplace(g->dp, g->ds, sizeof g->dp / sizeof(float));
    bst_maxpool_backward(a->r1, g->dp, g->dr1, N, 4, 8, 8, 2, 2);
    bst_relu_backward(a->r1, g->dr1, g->dr1, sizeof g->dr1 / sizeof(float));
    bst_batchnorm_backward(&e->bn1, a->a1, g->dr1, g->da1, N, 64, 1);
    assert_int_equal(bst_conv2d_backward(&e->conv1, x, g->da1, g->dx, N, 8, 8),
                     BST_OK);
}

/* ------------------------------------------------------------------ tests */
static void run_loss(const char *lname, bst_loss_cfg cfg, int check_fwd)
{
    fixture *fx = malloc(sizeof *fx);
    assert_non_null(fx);
    fixture_load(fx, BST_FIXTURE);
    encoder e;
    encoder_init(&e, fx);
    float *x = fx_get(fx, "x", N * 3 * 64);
    acts *a = calloc(1, sizeof *a);
    grads *g = calloc(1, sizeof *g);
    assert_non_null(a);
    assert_non_null(g);
    encoder_forward(&e, x, a);
    if (check_fwd) {
        expect_close(fx, "z", a->z, N * 4);
        expect_close(fx, "bn1.running_mean", e.bn1.running_mean, 4);
        expect_close(fx, "bn1.running_var", e.bn1.running_var, 4);
        expect_close(fx, "bn2.running_mean", e.bn2.running_mean, 4);
        expect_close(fx, "bn2.running_var", e.bn2.running_var, 4);
        expect_close(fx, "bn3.running_mean", e.bn3.running_mean, 8);
        expect_close(fx, "bn3.running_var", e.bn3.running_var, 8);
    }
    double loss;
    assert_int_equal(bst_contrastive_loss(&cfg, a->z, a->z + B * 4, B, 4, &loss,
                                          g->dz, g->dz + B * 4),
                     BST_OK);
    char name[64];
    float lf = (float)loss;
    snprintf(name, sizeof name, "%s.loss", lname);
    expect_close(fx, name, &lf, 1);
    encoder_backward(&e, x, a, g);
    snprintf(name, sizeof name, "%s.dx", lname);
    expect_close(fx, name, g->dx, N * 3 * 64);
    /* conv1.b and fc1.b feed train-mode batch norms: their exact gradient
       is 0, so they are held to the scale of their layer's weight gradient */
    struct {
        const char *n;
        const float *g;
        size_t len;
        const char *scale_by;
    } checks[] = {
        {"conv1.W", e.conv1.dW, 108, NULL},
        {"conv1.b", e.conv1.db, 4, "conv1.W"},
        {"bn1.gamma", e.bn1.dgamma, 4, NULL},
        {"bn1.beta", e.bn1.dbeta, 4, NULL},
        {"conv2.W", e.conv2.dW, 144, NULL},
        {"bn2.gamma", e.bn2.dgamma, 4, NULL},
        {"bn2.beta", e.bn2.dbeta, 4, NULL},
        {"conv3.W", e.conv3.dW, 24, NULL},
        {"conv3.b", e.conv3.db, 6, NULL},
        {"fc1.W", e.fc1.dW, 48, NULL},
        {"fc1.b", e.fc1.db, 8, "fc1.W"},
        {"bn3.gamma", e.bn3.dgamma, 8, NULL},
        {"bn3.beta", e.bn3.dbeta, 8, NULL},
        {"fc2.W", e.fc2.dW, 32, NULL},
        {"fc2.b", e.fc2.db, 4, NULL},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        double scale = 0.0;
        if (checks[i].scale_by) {
            snprintf(name, sizeof name, "%s.d%s", lname, checks[i].scale_by);
            size_t len = strcmp(checks[i].scale_by, "conv1.W") == 0 ? 108 : 48;
            float *w = fx_get(fx, name, len);
            for (size_t q = 0; q < len; q++)
                scale = fmax(scale, fabs(w[q]));
            free(w);
        }
        snprintf(name, sizeof name, "%s.d%s", lname, checks[i].n);
        expect_close_s(fx, name, checks[i].g, checks[i].len, scale);
    }
    free(x);
    free(a);
    free(g);
    encoder_free(&e);
    free(fx->buf);
    free(fx);
}

static void test_infonce(void **state)
{
    (void)state;
    run_loss("infonce", (bst_loss_cfg){BST_LOSS_INFONCE, 0.5, 0.0, 0.0}, 1);
}

static void test_dcl(void **state)
{
    (void)state;
    run_loss("dcl", (bst_loss_cfg){BST_LOSS_DCL, 0.5, 0.1, 0.0}, 0);
}

static void test_hcl(void **state)
{
    (void)state;
    run_loss("hcl", (bst_loss_cfg){BST_LOSS_HCL, 0.5, 0.1, 1.0}, 0);
}

/* dcl and hcl on fixed vectors where the clamp at N e^{-1/tau} binds for
   some anchors only (ref_torch.py's clamp_case). */
static void test_clamp(void **state)
{
    (void)state;
    fixture *fx = malloc(sizeof *fx);
    assert_non_null(fx);
    fixture_load(fx, BST_FIXTURE);
    float *cfg = fx_get(fx, "clamp.cfg", 5);
    int lb = (int)cfg[0], ld = (int)cfg[1];
    size_t n = (size_t)lb * ld;
    float *z1 = fx_get(fx, "clamp.z1", n), *z2 = fx_get(fx, "clamp.z2", n);
    float *dz1 = malloc(n * sizeof(float)), *dz2 = malloc(n * sizeof(float));
    const char *names[2] = {"dcl", "hcl"};
    bst_loss_kind kinds[2] = {BST_LOSS_DCL, BST_LOSS_HCL};
    for (int k = 0; k < 2; k++) {
        bst_loss_cfg c = {kinds[k], cfg[2], cfg[3], cfg[4]};
        double loss;
        assert_int_equal(
            bst_contrastive_loss(&c, z1, z2, lb, ld, &loss, dz1, dz2), BST_OK);
        char name[64];
        float lf = (float)loss;
        snprintf(name, sizeof name, "clamp.%s.loss", names[k]);
        expect_close(fx, name, &lf, 1);
        snprintf(name, sizeof name, "clamp.%s.dz1", names[k]);
        expect_close(fx, name, dz1, n);
        snprintf(name, sizeof name, "clamp.%s.dz2", names[k]);
        expect_close(fx, name, dz2, n);
    }
    free(cfg);
    free(z1);
    free(z2);
    free(dz1);
    free(dz2);
    free(fx->buf);
    free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infonce),
        cmocka_unit_test(test_dcl),
        cmocka_unit_test(test_hcl),
        cmocka_unit_test(test_clamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
