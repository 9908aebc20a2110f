/* test_batcher.c — the trainer's batch source (batcher.h): warm-up, graph
   builds and refreshes on schedule, equal epoch lengths, determinism,
   exact resume from a saved state, and rejections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batcher.h"

enum { N = 300, D = 8, B = 16, SPE = 5 };

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* rows that a "training step" would write: a fixed function of (id,
   step) so two runs that see the same batches write the same rows */
static void fake_rows(const int64_t *ids, int64_t step, float *rows)
{
    for (int i = 0; i < B; i++) {
        uint64_t s = (uint64_t)ids[i] * 977 + (uint64_t)step * 131 + 1;
        for (int j = 0; j < D; j++)
            rows[i * D + j] = (float)((double)lcg(&s) / 2147483648.0 - 0.5) +
                              (float)(ids[i] % 4 == j % 4);
    }
}

static void cfg_rwr(bst_batcher_cfg *c)
{
    bst_batcher_cfg_default(c);
    c->kind = BS_SAMPLER_RWR;
    c->batch = B;
    c->steps_per_epoch = SPE;
    c->warmup_epochs = 1;
    c->refresh_every = 3;
    c->graph.m = 50;
    c->graph.k = 5;
    c->seed = 42;
}

/* Runs `steps` batches from b, writing fake rows, ids into out (may be
   NULL); returns the step count reached. */
static int64_t drive(bst_batcher *b, int64_t step0, int64_t steps, int64_t *out)
{
    int64_t ids[B], ep;
    float rows[B * D];
    bs_error err;
    for (int64_t s = 0; s < steps; s++) {
        assert_int_equal(bst_batcher_next(b, ids, &ep, &err), BS_OK);
        for (int i = 0; i < B; i++) {
            assert_true(ids[i] >= 0 && ids[i] < N);
            for (int j = 0; j < i; j++)
                assert_true(ids[i] != ids[j]); /* distinct */
        }
        assert_int_equal(ep, (step0 + s) / SPE);
        fake_rows(ids, step0 + s, rows);
        assert_int_equal(bst_batcher_update(b, ids, B, rows, &err), BS_OK);
        if (out)
            memcpy(out + s * B, ids, sizeof ids);
    }
    return step0 + steps;
}

static void test_schedule(void **state)
{
    (void)state;
    bst_batcher_cfg c;
    cfg_rwr(&c);
    bst_batcher b;
    bs_error err;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
    drive(&b, 0, SPE, NULL); /* warm-up epoch: uniform, no graph */
    assert_int_equal(b.builds, 0);
    assert_false(b.graph_phase);
    drive(&b, SPE, 1, NULL); /* first graph batch builds */
    assert_int_equal(b.builds, 1);
    assert_true(b.graph_phase);
    drive(&b, SPE + 1, 2, NULL); /* batches 2, 3 of the graph phase */
    assert_int_equal(b.builds, 1);
    drive(&b, SPE + 3, 1, NULL); /* the 4th: refresh after 3 */
    assert_int_equal(b.builds, 2);
    drive(&b, SPE + 4, 6, NULL);
    assert_int_equal(b.builds, 4);
    assert_true(b.build_s >= 0 && b.sample_s > 0);
    bst_batcher_free(&b);
}

static void test_uniform_never_builds(void **state)
{
    (void)state;
    bst_batcher_cfg c;
    cfg_rwr(&c);
    c.kind = BS_SAMPLER_UNIFORM;
    bst_batcher b;
    bs_error err;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
    drive(&b, 0, 4 * SPE, NULL);
    assert_int_equal(b.builds, 0);
    assert_null(b.graph);
    bst_batcher_free(&b);
}

static void test_knn_uses_exact_graph(void **state)
{
    (void)state;
    bst_batcher_cfg c;
    cfg_rwr(&c);
    c.kind = BS_SAMPLER_KNN;
    c.graph.mode = BS_MODE_SHARED; /* overridden: knn walks the exact graph */
    bst_batcher b;
    bs_error err;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
    drive(&b, 0, SPE + 1, NULL);
    bs_graph_params gp;
    bs_graph_get_params(b.graph, &gp);
    assert_int_equal(gp.mode, BS_MODE_EXACT);
    bst_batcher_free(&b);
}

static void test_deterministic(void **state)
{
    (void)state;
    int64_t *a = malloc(sizeof(int64_t) * 20 * B);
    int64_t *z = malloc(sizeof(int64_t) * 20 * B);
    for (int t = 0; t < 2; t++) {
        bst_batcher_cfg c;
        cfg_rwr(&c);
        bst_batcher b;
        bs_error err;
        assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
        drive(&b, 0, 20, t ? z : a);
        bst_batcher_free(&b);
    }
    assert_memory_equal(a, z, sizeof(int64_t) * 20 * B);
    /* another seed gives other batches */
    bst_batcher_cfg c;
    cfg_rwr(&c);
    c.seed = 43;
    bst_batcher b;
    bs_error err;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
    drive(&b, 0, 20, z);
    assert_memory_not_equal(a, z, sizeof(int64_t) * 20 * B);
    bst_batcher_free(&b);
    free(a);
    free(z);
}

/* Save after k batches (k in the warm-up, at the phase switch, between
   refreshes), restore into a fresh batcher: the rest is identical. */
static void test_resume(void **state)
{
    (void)state;
    const int64_t cuts[] = {0, 2, SPE, SPE + 1, SPE + 4, 2 * SPE + 2};
    enum { REST = 9 };
    for (size_t ci = 0; ci < sizeof cuts / sizeof cuts[0]; ci++) {
        int64_t k = cuts[ci];
        bst_batcher_cfg c;
        cfg_rwr(&c);
        bst_batcher a, b;
        bs_error err;
        assert_int_equal(bst_batcher_init(&a, &c, N, D, NULL, &err), BS_OK);
        drive(&a, 0, k, NULL);
        void *blob = NULL;
        size_t len = 0;
        assert_int_equal(bst_batcher_state_save(&a, &blob, &len, &err), BS_OK);
        int64_t want[REST * B], got[REST * B];
        assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
        assert_int_equal(bst_batcher_state_load(&b, blob, len,
                                                bs_embstore_data(a.store),
                                                a.snapshot, &err),
                         BS_OK);
        drive(&a, k, REST, want);
        drive(&b, k, REST, got);
        assert_memory_equal(want, got, sizeof want);
        assert_int_equal(a.builds, b.builds);
        free(blob);
        bst_batcher_free(&a);
        bst_batcher_free(&b);
    }
}

/* next() until it fails (within 10 batches) */
static void drive_until_error(bst_batcher *b, bs_error *err)
{
    int64_t ids[B], ep;
    for (int i = 0; i < 10; i++)
        if (bst_batcher_next(b, ids, &ep, err) != BS_OK)
            return;
    fail_msg("expected a failure within 10 batches");
}

/* warm-up 0: the first graph comes from the random initial rows */
static void test_no_warmup(void **state)
{
    (void)state;
    bst_batcher_cfg c;
    cfg_rwr(&c);
    c.warmup_epochs = 0;
    bst_batcher b;
    bs_error err;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
    drive(&b, 0, 2, NULL);
    assert_int_equal(b.builds, 1);
    bst_batcher_free(&b);
}

static void test_rejects(void **state)
{
    (void)state;
    bst_batcher_cfg c;
    bst_batcher b;
    bs_error err;
    cfg_rwr(&c);
    c.batch = N + 1;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err),
                     BS_ERR_INVALID_ARG);
    cfg_rwr(&c);
    c.refresh_every = 0;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err),
                     BS_ERR_INVALID_ARG);
    cfg_rwr(&c);
    c.graph.k = 60; /* > M */
    assert_int_not_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
    cfg_rwr(&c);
    c.steps_per_epoch = 0;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err),
                     BS_ERR_INVALID_ARG);
    assert_int_equal(bst_batcher_init(&b, NULL, N, D, NULL, &err),
                     BS_ERR_INVALID_ARG);
    /* a NaN row written by a diverged step reaches the graph build, which
       refuses it with a message */
    cfg_rwr(&c);
    c.warmup_epochs = 0;
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
    int64_t ids[B], ep;
    assert_int_equal(bst_batcher_next(&b, ids, &ep, &err), BS_OK);
    float rows[B * D] = {0};
    rows[3] = 0.0f / 0.0f;
    assert_int_equal(bst_batcher_update(&b, ids, B, rows, &err), BS_OK);
    drive_until_error(&b, &err);
    assert_true(strlen(err.msg) > 0);
    bst_batcher_free(&b);
    /* bad state blobs */
    cfg_rwr(&c);
    assert_int_equal(bst_batcher_init(&b, &c, N, D, NULL, &err), BS_OK);
    drive(&b, 0, SPE + 2, NULL);
    void *blob = NULL;
    size_t len = 0;
    assert_int_equal(bst_batcher_state_save(&b, &blob, &len, &err), BS_OK);
    float *store = malloc(sizeof(float) * N * D);
    memcpy(store, bs_embstore_data(b.store), sizeof(float) * N * D);
    bst_batcher fresh;
    assert_int_equal(bst_batcher_init(&fresh, &c, N, D, NULL, &err), BS_OK);
    assert_int_equal(
        bst_batcher_state_load(&fresh, blob, 10, store, b.snapshot, &err),
        BS_ERR_FORMAT);
    unsigned char *bad = malloc(len);
    memcpy(bad, blob, len);
    bad[0] ^= 1;
    assert_int_equal(
        bst_batcher_state_load(&fresh, bad, len, store, b.snapshot, &err),
        BS_ERR_FORMAT);
    assert_int_equal(
        bst_batcher_state_load(&fresh, blob, len - 1, store, b.snapshot, &err),
        BS_ERR_FORMAT);
    /* a used batcher refuses a load */
    assert_int_equal(
        bst_batcher_state_load(&b, blob, len, store, b.snapshot, &err),
        BS_ERR_STATE);
    free(bad);
    free(store);
    free(blob);
    bst_batcher_free(&fresh);
    bst_batcher_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_uniform_never_builds),
        cmocka_unit_test(test_knn_uses_exact_graph),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_no_warmup),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
