/* test_moco_engine.c — what the engine gained for MoCo v3: the cross-view
   contrastive loss (bst_cross_contrastive_loss) against central finite
   differences and a direct cross-entropy, its dcl / hcl forms, clamp,
   thread invariance and rejections; the momentum (EMA) update and the
   momentum schedule. */
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

static void near(double a, double b, double tol, const char *what)
{
    if (!(fabs(a - b) <= tol)) {
        print_message("%s: %.12g != %.12g (tol %.3g)\n", what, a, b, tol);
        fail();
    }
}

/* (B, d) rows of unit length from stream (seed) */
static float *unit_rows(int B, int d, uint64_t seed)
{
    float *x = malloc((size_t)B * d * sizeof(float));
    float *y = malloc((size_t)B * d * sizeof(float));
    assert_true(x && y);
    bs_rng r;
    bs_rng_derive(&r, seed, 98, (uint64_t)B * d);
    for (int i = 0; i < B * d; i++)
        x[i] = (float)(2.0 * bs_rng_uniform(&r) - 1.0);
    bst_l2norm_forward(x, y, B, d);
    free(x);
    return y;
}

static double loss_of(const bst_loss_cfg *cfg, const float *q, const float *k,
                      int B, int d)
{
    double l = NAN;
    assert_int_equal(bst_cross_contrastive_loss(cfg, q, k, B, d, &l, NULL),
                     BST_OK);
    return l;
}

/* Analytic dq against central differences (eps 1e-3 in float); returns
   the loss. */
static double check_grad(bst_loss_cfg cfg, int B, int d, uint64_t seed)
{
    float *q = unit_rows(B, d, seed), *k = unit_rows(B, d, seed + 1);
    float *dq = malloc((size_t)B * d * sizeof(float));
    assert_non_null(dq);
    double l;
    assert_int_equal(bst_cross_contrastive_loss(&cfg, q, k, B, d, &l, dq),
                     BST_OK);
    for (int t = 0; t < B * d; t++) {
        float orig = q[t];
        q[t] = orig + 1e-3f;
        float xp = q[t];
        double fp = loss_of(&cfg, q, k, B, d);
        q[t] = orig - 1e-3f;
        float xm = q[t];
        double fm = loss_of(&cfg, q, k, B, d);
        q[t] = orig;
        double num = (fp - fm) / ((double)xp - (double)xm);
        near(dq[t], num, 2e-3 + 1e-2 * fabs(num), "dq");
    }
    free(q);
    free(k);
    free(dq);
    return l;
}

static void test_infonce_is_cross_entropy(void **state)
{
    (void)state;
    int B = 4, d = 5;
    double tau = 0.3;
    bst_loss_cfg cfg = {BST_LOSS_INFONCE, tau, 0, 0};
    double l = check_grad(cfg, B, d, 11);
    /* cross-entropy of the logits q k^T / tau with labels 0..B-1 */
    float *q = unit_rows(B, d, 11), *k = unit_rows(B, d, 12);
    double ref = 0.0;
    for (int i = 0; i < B; i++) {
        double den = 0.0, pos = 0.0;
        for (int j = 0; j < B; j++) {
            double s = 0.0;
            for (int c = 0; c < d; c++)
                s += (double)q[i * d + c] * k[j * d + c];
            s /= tau;
            den += exp(s);
            if (j == i)
                pos = s;
        }
        ref += log(den) - pos;
    }
    near(l, ref / B, 1e-9, "infonce vs cross-entropy");
    check_grad(cfg, 7, 3, 13);
    free(q);
    free(k);
}

static void test_dcl_hcl(void **state)
{
    (void)state;
    bst_loss_cfg dcl = {BST_LOSS_DCL, 0.5, 0.1, 0};
    bst_loss_cfg hcl = {BST_LOSS_HCL, 0.5, 0.1, 1.0};
    double ld = check_grad(dcl, 5, 4, 21), lh = check_grad(hcl, 5, 4, 21);
    double li =
        check_grad((bst_loss_cfg){BST_LOSS_INFONCE, 0.5, 0, 0}, 5, 4, 21);
    assert_true(isfinite(ld) && isfinite(lh));
    assert_true(ld != li && lh != li); /* the prior changes the loss */
    check_grad((bst_loss_cfg){BST_LOSS_HCL, 0.2, 0.05, 0.5}, 6, 3, 23);
}

/* tau_plus = 0 (dcl) and beta = 0 (hcl) reduce to infonce. */
static void test_reductions(void **state)
{
    (void)state;
    int B = 5, d = 4;
    float *q = unit_rows(B, d, 31), *k = unit_rows(B, d, 32);
    double a =
        loss_of(&(bst_loss_cfg){BST_LOSS_INFONCE, 0.5, 0, 0}, q, k, B, d);
    double b = loss_of(&(bst_loss_cfg){BST_LOSS_DCL, 0.5, 0, 0}, q, k, B, d);
    double c = loss_of(&(bst_loss_cfg){BST_LOSS_HCL, 0.5, 0, 0}, q, k, B, d);
    near(a, b, 1e-12, "dcl tau_plus 0");
    near(a, c, 1e-12, "hcl beta 0");
    free(q);
    free(k);
}

/* identical q and k with a large prior: every anchor's estimator is
   clamped at N e^{-1/tau}, N = B - 1 */
static void test_clamp(void **state)
{
    (void)state;
    int B = 4, d = 3;
    bst_loss_cfg cfg = {BST_LOSS_DCL, 1.0, 0.9, 0};
    float *z = unit_rows(B, d, 41);
    double l = loss_of(&cfg, z, z, B, d);
    near(l, log(exp(1.0) + (B - 1) * exp(-1.0)) - 1.0, 1e-6, "clamp");
    check_grad(cfg, B, d, 41);
    free(z);
}

static void test_threads(void **state)
{
    (void)state;
    int B = 11, d = 6, saved = omp_get_max_threads();
    float *q = unit_rows(B, d, 51), *k = unit_rows(B, d, 52);
    float *g[2];
    double l[2];
    bst_loss_cfg hcl = {BST_LOSS_HCL, 0.2, 0.1, 1.0};
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t ? 3 : 1);
        g[t] = malloc((size_t)B * d * sizeof(float));
        assert_int_equal(
            bst_cross_contrastive_loss(&hcl, q, k, B, d, &l[t], g[t]), BST_OK);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(&l[0], &l[1], sizeof l[0]);
    assert_memory_equal(g[0], g[1], (size_t)B * d * sizeof(float));
    free(g[0]);
    free(g[1]);
    free(q);
    free(k);
}

static void test_invalid(void **state)
{
    (void)state;
    float z[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    double l;
    bst_loss_cfg ok = {BST_LOSS_INFONCE, 0.5, 0, 0};
    bst_loss_cfg bad_tau = {BST_LOSS_INFONCE, 0, 0, 0};
    bst_loss_cfg bad_tp = {BST_LOSS_DCL, 0.5, 1.0, 0};
    assert_int_equal(bst_cross_contrastive_loss(&bad_tau, z, z, 2, 2, &l, NULL),
                     BST_ERR_INVAL);
    assert_int_equal(bst_cross_contrastive_loss(&bad_tp, z, z, 2, 2, &l, NULL),
                     BST_ERR_INVAL);
    assert_int_equal(bst_cross_contrastive_loss(&ok, z, z, 1, 2, &l, NULL),
                     BST_ERR_INVAL);
    assert_int_equal(bst_cross_contrastive_loss(&ok, z, NULL, 2, 2, &l, NULL),
                     BST_ERR_INVAL);
    assert_int_equal(bst_cross_contrastive_loss(NULL, z, z, 2, 2, &l, NULL),
                     BST_ERR_INVAL);
}

static void test_ema_and_schedule(void **state)
{
    (void)state;
    float a[3] = {1, 2, 3}, b[3] = {5, -2, 0}, ga[3] = {0}, gb[3] = {7, 7, 7};
    bst_param dst = {a, ga, 3, 1}, src = {b, gb, 3, 1};
    bst_ema_update(&dst, &src, 1, 0.75);
    near(a[0], 0.75 * 1 + 0.25 * 5, 1e-7, "ema 0");
    near(a[1], 0.75 * 2 - 0.25 * 2, 1e-7, "ema 1");
    near(a[2], 0.75 * 3, 1e-7, "ema 2");
    assert_true(b[0] == 5 && gb[0] == 7 && ga[0] == 0); /* src, grads kept */
    bst_ema_update(&dst, &src, 1, 1.0);                 /* m = 1: frozen */
    near(a[0], 2.0, 1e-7, "ema m=1");
    bst_ema_update(&dst, &src, 1, 0.0); /* m = 0: a copy */
    assert_memory_equal(a, b, sizeof a);
    /* schedule: m0 at 0, halfway (1 + m0) / 2, 1 at the end */
    near(bst_momentum_at(0, 100, 0.99), 0.99, 1e-15, "m(0)");
    near(bst_momentum_at(50, 100, 0.99), 0.995, 1e-12, "m(K/2)");
    near(bst_momentum_at(25, 100, 0.99),
         1 - 0.5 * (1 + cos(3.14159265358979323846 / 4)) * 0.01, 1e-12,
         "m(K/4)");
    near(bst_momentum_at(100, 100, 0.99), 1.0, 0, "m(K)");
    near(bst_momentum_at(3, 0, 0.99), 1.0, 0, "m(no steps)");
    assert_true(bst_momentum_at(10, 100, 0.99) <
                bst_momentum_at(11, 100, 0.99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infonce_is_cross_entropy),
        cmocka_unit_test(test_dcl_hcl),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_clamp),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_ema_and_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
