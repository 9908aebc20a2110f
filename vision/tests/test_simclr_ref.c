/* test_simclr_ref.c — the SimCLR encoder of encoder.h (width 2) and the
   InfoNCE loss, forward and backward, against its PyTorch twin
   (tests/ref_torch_simclr.py, run once; fixture tests/fixtures/
   simclr_ref.bin): the projections z, the loss, all 32 parameter
   gradients and the 10 batch norms' running statistics.  This covers the
   wiring of the real network (residual joins, strided shortcuts, the fused
   BN-ReLU-pool stem) rather than a stand-in. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "encoder.h"
#include "fixture.h"

enum { B = 3, N = 2 * B, W = 2, P = 4, D = 3 };
#define TAU 0.5
#define RTOL 1e-4

/* max |got - ref| <= RTOL max |ref| (+ a float-rounding floor) */
static void expect_close(const fixture *fx, const char *name, const float *got,
                         size_t n)
{
    float *ref = fx_get(fx, name, n);
    double maxref = 0.0, maxerr = 0.0;
    for (size_t i = 0; i < n; i++) {
        maxref = fmax(maxref, fabs(ref[i]));
        maxerr = fmax(maxerr, fabs((double)got[i] - ref[i]));
    }
    if (getenv("BST_VERBOSE"))
        printf("%-6s n=%-5zu max|ref| %.3g  max err %.3g\n", name, n, maxref,
               maxerr);
    if (maxerr > RTOL * maxref + 1e-7)
        fail_msg("%s: max error %.3g > %.3g (max |ref| %.3g)", name, maxerr,
                 RTOL * maxref + 1e-7, maxref);
    free(ref);
}

static void test_against_torch(void **state)
{
    (void)state;
    fixture fx;
    char path[4096];
    snprintf(path, sizeof path, "%s/simclr_ref.bin", BST_FIXTURE_DIR);
    fixture_load(&fx, path);
    bst_encoder_cfg cfg = {.width = W, .proj_dim = P, .out_dim = D};
    bst_encoder e;
    bst_encoder_acts a;
    assert_int_equal(bst_encoder_init(&e, &cfg, 0), BST_OK);
    assert_int_equal(bst_encoder_acts_init(&a, &cfg, N), BST_OK);
    char name[32];
    for (int i = 0; i < e.nparams; i++) { /* torch's values, same order */
        snprintf(name, sizeof name, "p%d", i);
        float *v = fx_get(&fx, name, e.params[i].n);
        memcpy(e.params[i].w, v, e.params[i].n * sizeof(float));
        free(v);
    }
    float *x = fx_get(&fx, "x", (size_t)N * 28 * 28);
    assert_int_equal(bst_encoder_forward(&e, &a, x, N, 1, 1), BST_OK);
    expect_close(&fx, "z", a.z, (size_t)N * D);
    bst_loss_cfg lc = {.kind = BST_LOSS_INFONCE, .tau = TAU};
    double loss = 0;
    float dz[N * D];
    assert_int_equal(bst_contrastive_loss(&lc, a.z, a.z + B * D, B, D, &loss,
                                          dz, dz + B * D),
                     BST_OK);
    float lossf = (float)loss;
    expect_close(&fx, "loss", &lossf, 1);
    bst_zero_grads(e.params, e.nparams);
    assert_int_equal(bst_encoder_backward(&e, &a, x, dz, N), BST_OK);
    for (int i = 0; i < e.nparams; i++) {
        snprintf(name, sizeof name, "g%d", i);
        expect_close(&fx, name, e.params[i].g, e.params[i].n);
    }
    for (int j = 0; j < e.nbns; j++) {
        snprintf(name, sizeof name, "rm%d", j);
        expect_close(&fx, name, e.bns[j]->running_mean, (size_t)e.bns[j]->C);
        snprintf(name, sizeof name, "rv%d", j);
        expect_close(&fx, name, e.bns[j]->running_var, (size_t)e.bns[j]->C);
    }
    free(x);
    free(fx.buf);
    bst_encoder_acts_free(&a);
    bst_encoder_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
