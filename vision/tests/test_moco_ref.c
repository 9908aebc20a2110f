/* test_moco_ref.c — one MoCo v3 step (moco.h, width 2, B 4) against its
   PyTorch twin (tests/ref_torch_moco.py, run once; fixture
   tests/fixtures/moco_ref.bin): the momentum update from a momentum
   branch away from the base, the normalised keys, the symmetric loss with
   its 2T factor, every trained gradient (trunk, projector, predictor) and
   a running statistic of the projector.  Then the same step again with
   1 and 2 threads: bitwise equal. */
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

#include "fixture.h"
#include "moco.h"
#include "run.h"

enum { B = 4, W = 2, P = 5, D = 3, IMG = 28 * 28 };
#define TAU 0.5
#define M0 0.9
#define TOL 1e-4 /* relative to the tensor's largest reference value */
/* ... plus a floor relative to the largest value of the whole set: a
   tensor whose values are small because large terms cancel (a
   BatchNorm shift of a batch of 4) carries the absolute rounding error
   of the terms, not of its result.  With the oneDNN forward one such
   tensor (scale 0.06) is off by 8.8e-6, 1.1e-6 of the set's scale 7.8;
   a wrong term is off by its own size. */
#define TOL_SET 1e-5

static size_t floats(const bst_param *ps, int np)
{
    size_t n = 0;
    for (int i = 0; i < np; i++)
        n += ps[i].n;
    return n;
}

/* Each tensor of ps (concatenated in ref) within TOL of its own scale
   plus TOL_SET of the largest scale in the set. */
static void expect_tensors(const char *what, const bst_param *ps, int np,
                           int grads, const float *ref)
{
    double set = 0;
    for (size_t j = 0, total = floats(ps, np); j < total; j++)
        set = fmax(set, fabs(ref[j]));
    size_t off = 0;
    for (int i = 0; i < np; i++) {
        const float *got = grads ? ps[i].g : ps[i].w;
        double scale = 0, err = 0;
        for (size_t j = 0; j < ps[i].n; j++) {
            scale = fmax(scale, fabs(ref[off + j]));
            err = fmax(err, fabs((double)got[j] - ref[off + j]));
        }
        if (getenv("BST_VERBOSE"))
            printf("%s[%d] n=%zu scale %.3g err %.3g\n", what, i, ps[i].n,
                   scale, err);
        if (err > TOL * scale + TOL_SET * set + 1e-7)
            fail_msg("%s tensor %d: max error %.3g (scale %.3g)", what, i, err,
                     scale);
        off += ps[i].n;
    }
}

static void expect_array(const char *what, const float *got, const float *ref,
                         size_t n)
{
    bst_param p = {(float *)got, NULL, n, 0};
    expect_tensors(what, &p, 1, 0, ref);
}

static void setup_model(bst_moco *s, const fixture *fx)
{
    bst_moco_cfg cfg;
    bst_moco_cfg_default(&cfg);
    cfg.enc = (bst_encoder_cfg){.width = W, .proj_dim = P, .out_dim = D};
    cfg.loss.tau = TAU;
    cfg.batch = B;
    cfg.m0 = M0;
    assert_int_equal(bst_moco_init(s, &cfg), BST_OK);
    assert_int_equal(s->nema, 31);    /* 27 trunk tensors + 4 projector */
    assert_int_equal(s->nparams, 35); /* + 4 predictor */
    float *p = fx_get(fx, "p", floats(s->params, s->nparams));
    float *mp = fx_get(fx, "mp", floats(s->dst, s->nema));
    bst_run_flat_params(s->params, s->nparams, p, 0);
    bst_run_flat_params(s->dst, s->nema, mp, 0);
    free(p);
    free(mp);
}

/* The step of the fixture: loss, keys, gradients, momentum parameters */
static double run_step(bst_moco *s, const fixture *fx)
{
    float *x1 = fx_get(fx, "x1", (size_t)B * IMG);
    float *x2 = fx_get(fx, "x2", (size_t)B * IMG);
    double m = bst_momentum_at(3, 10, M0), loss = 0;
    assert_int_equal(bst_moco_forward_backward(s, x1, x2, m, &loss), BST_OK);
    free(x1);
    free(x2);
    return loss;
}

static void test_against_torch(void **state)
{
    (void)state;
    fixture fx;
    char path[4096];
    snprintf(path, sizeof path, "%s/moco_ref.bin", BST_FIXTURE_DIR);
    fixture_load(&fx, path);
    bst_moco s;
    setup_model(&s, &fx);
    double loss = run_step(&s, &fx);
    float *ref = fx_get(&fx, "loss", 1);
    float lossf = (float)loss;
    expect_array("loss", &lossf, ref, 1);
    free(ref);
    const char *keys[2] = {"k1", "k2"};
    for (int v = 0; v < 2; v++) {
        ref = fx_get(&fx, keys[v], (size_t)B * D);
        expect_array(keys[v], s.keys + (size_t)v * B * D, ref, (size_t)B * D);
        free(ref);
    }
    ref = fx_get(&fx, "g", floats(s.params, s.nparams));
    expect_tensors("grad", s.params, s.nparams, 1, ref);
    free(ref);
    ref = fx_get(&fx, "mu", floats(s.dst, s.nema));
    expect_tensors("momentum", s.dst, s.nema, 0, ref);
    free(ref);
    const char *stats[2] = {"rm", "rv"};
    const float *mine[2] = {s.proj.bn1.running_mean, s.proj.bn1.running_var};
    for (int j = 0; j < 2; j++) {
        ref = fx_get(&fx, stats[j], P);
        expect_array(stats[j], mine[j], ref, P);
        free(ref);
    }
    bst_moco_free(&s);
    free(fx.buf);
}

/* the same step on 1 and 2 threads: bitwise the same loss and gradients */
static void test_threads(void **state)
{
    (void)state;
    fixture fx;
    char path[4096];
    snprintf(path, sizeof path, "%s/moco_ref.bin", BST_FIXTURE_DIR);
    fixture_load(&fx, path);
    int saved = omp_get_max_threads();
    double loss[2];
    float *g[2];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        bst_moco s;
        setup_model(&s, &fx);
        loss[t] = run_step(&s, &fx);
        size_t n = floats(s.params, s.nparams);
        g[t] = malloc(n * sizeof(float));
        assert_non_null(g[t]);
        size_t off = 0;
        for (int i = 0; i < s.nparams; off += s.params[i].n, i++)
            memcpy(g[t] + off, s.params[i].g, s.params[i].n * sizeof(float));
        if (t)
            assert_memory_equal(g[0], g[1], n * sizeof(float));
        bst_moco_free(&s);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);
    free(g[0]);
    free(g[1]);
    free(fx.buf);
}

static void test_rejects(void **state)
{
    (void)state;
    bst_moco s;
    bst_moco_cfg cfg;
    bst_moco_cfg_default(&cfg);
    cfg.enc = (bst_encoder_cfg){.width = W, .proj_dim = P, .out_dim = D};
    cfg.batch = B;
    bst_moco_cfg bad = cfg;
    bad.m0 = 1.5;
    assert_int_equal(bst_moco_init(&s, &bad), BST_ERR_INVAL);
    bad = cfg;
    bad.batch = 1;
    assert_int_equal(bst_moco_init(&s, &bad), BST_ERR_INVAL);
    bad = cfg;
    bad.loss.kind = BST_LOSS_DCL;
    bad.loss.tau_plus = 1.0;
    assert_int_equal(bst_moco_init(&s, &bad), BST_ERR_INVAL);
    assert_int_equal(bst_moco_init(&s, NULL), BST_ERR_INVAL);
    /* a fresh model: the momentum branch is a copy of the base */
    assert_int_equal(bst_moco_init(&s, &cfg), BST_OK);
    for (int i = 0; i < s.nema; i++)
        assert_memory_equal(s.src[i].w, s.dst[i].w, s.src[i].n * sizeof(float));
    float x[2 * B * IMG];
    for (int i = 0; i < 2 * B * IMG; i++)
        x[i] = (float)((i * 37) % 101) / 101.0f;
    double loss;
    assert_int_equal(bst_moco_forward_backward(&s, x, x + B * IMG, 1.5, &loss),
                     BST_ERR_INVAL);
    int64_t ids[B] = {0, 1, 2, 7};
    assert_int_equal(bst_moco_step(&s, x, 2 * B, ids, 1e-3, 0.99, &loss),
                     BST_OK);
    ids[3] = 2 * B; /* out of range */
    assert_int_equal(bst_moco_step(&s, x, 2 * B, ids, 1e-3, 0.99, &loss),
                     BST_ERR_INVAL);
    bst_moco_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torch),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
