/* test_transformer_ref.c — the SimCSE encoder of transformer.h against
   torch's own modules (nn.TransformerEncoderLayer, norm_first, GELU, key
   padding mask; tests/ref_torch_transformer.py, run once; fixture
   tests/fixtures/transformer_ref.bin), dropout off: the outputs and all
   32 parameter gradients for masked-mean pooling + head and for CLS
   pooling without it, on 4 sequences of lengths 7, 4, 1, 6. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "transformer.h"

#define RTOL 1e-5

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

typedef struct {
    fixture fx;
    bst_tf m;
    bst_tf_acts a;
    int B, T, C;
    int32_t *ids;
    int *len;
} ref_case;

static void load(ref_case *rc)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/transformer_ref.bin", BST_FIXTURE_DIR);
    fixture_load(&rc->fx, path);
    float *c = fx_get(&rc->fx, "cfg", 9);
    bst_tf_cfg cfg = {.vocab = (int)c[0],
                      .max_len = (int)c[1],
                      .edim = (int)c[2],
                      .dim = (int)c[3],
                      .heads = (int)c[4],
                      .layers = (int)c[5],
                      .mlp = (int)c[6],
                      .dropout = 0.1f};
    rc->B = (int)c[7];
    rc->T = (int)c[8];
    rc->C = cfg.dim;
    free(c);
    assert_int_equal(bst_tf_init(&rc->m, &cfg, 0), BST_OK);
    assert_int_equal(rc->m.nparams, 32);
    assert_int_equal(bst_tf_acts_init(&rc->a, &rc->m, rc->B, rc->T), BST_OK);
    char name[32];
    for (int i = 0; i < rc->m.nparams; i++) { /* torch's values */
        snprintf(name, sizeof name, "p%d", i);
        float *v = fx_get(&rc->fx, name, rc->m.params[i].n);
        memcpy(rc->m.params[i].w, v, rc->m.params[i].n * sizeof(float));
        free(v);
    }
    size_t n = (size_t)rc->B * rc->T;
    float *ids = fx_get(&rc->fx, "ids", n),
          *len = fx_get(&rc->fx, "len", rc->B);
    rc->ids = malloc(n * sizeof(int32_t));
    rc->len = malloc((size_t)rc->B * sizeof(int));
    for (size_t i = 0; i < n; i++)
        rc->ids[i] = (int32_t)ids[i];
    for (int b = 0; b < rc->B; b++)
        rc->len[b] = (int)len[b];
    free(ids);
    free(len);
}

static void unload(ref_case *rc)
{
    free(rc->ids);
    free(rc->len);
    bst_tf_acts_free(&rc->a);
    bst_tf_free(&rc->m);
    free(rc->fx.buf);
}

/* case "A" (mean + head) or "B" (cls, no head); eval mode: no dropout */
static void check_case(ref_case *rc, const char *cs, int pool, int head)
{
    char name[32];
    rc->m.cfg.pool = pool;
    const float *out = bst_tf_forward(&rc->m, &rc->a, rc->ids, rc->len, rc->B,
                                      rc->T, 0, head, 0, 0);
    assert_non_null(out);
    snprintf(name, sizeof name, "out%s", cs);
    expect_close(&rc->fx, name, out, (size_t)rc->B * rc->C);
    snprintf(name, sizeof name, "r%s", cs);
    float *r = fx_get(&rc->fx, name, (size_t)rc->B * rc->C);
    bst_zero_grads(rc->m.params, rc->m.nparams);
    bst_tf_backward(&rc->m, &rc->a, r);
    free(r);
    for (int i = 0; i < rc->m.nparams; i++) {
        snprintf(name, sizeof name, "g%s%d", cs, i);
        expect_close(&rc->fx, name, rc->m.params[i].g, rc->m.params[i].n);
    }
}

static void test_against_torch(void **state)
{
    (void)state;
    ref_case rc;
    load(&rc);
    check_case(&rc, "A", BST_TF_POOL_MEAN, 1);
    check_case(&rc, "B", BST_TF_POOL_CLS, 0);
    unload(&rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
