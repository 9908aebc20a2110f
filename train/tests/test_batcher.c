/* test_batcher.c — the trainer's adapter over the core's bs_batcher
   (batcher.h): the trainer's choices (B, dim, seed, knn on the exact graph,
   equal epoch lengths, no graph before every row is written), determinism,
   and exact resume of a trainer-made batcher from its state blob at several
   cut points, epoch modes and refresh lags; a rebuild split over processes
   (bst_split_build) against a whole one.  The policy itself (schedule,
   epoch modes, alpha schedules, asynchronous rebuilds, blob checks) is
   tested in the core's tests/test_batcher.c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
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

/* rwr, SPE batches an epoch, 1 warm-up epoch, refresh every 3, M 50 K 5 */
static void params_rwr(bs_batcher_params *p)
{
    bs_batcher_params_default(p);
    p->sampler.kind = BS_SAMPLER_RWR;
    p->sampler.batches_per_epoch = SPE;
    p->warmup_epochs = 1;
    p->refresh_every = 3;
    p->graph.m = 50;
    p->graph.k = 5;
}

static bs_batcher *make(const bs_batcher_params *p, uint64_t seed)
{
    bs_batcher *b = NULL;
    bs_error err;
    assert_int_equal(bst_batcher_create(p, B, D, seed, N, &b, &err), BS_OK);
    assert_non_null(b);
    return b;
}

/* Runs `steps` batches from b, writing fake rows, ids into out (may be
   NULL); checks ids, distinctness and the epoch of each batch. */
static void drive(bs_batcher *b, int64_t steps, int64_t *out)
{
    int64_t ids[B], ep;
    float rows[B * D];
    bs_error err;
    int64_t L = bs_batcher_epoch_length(b);
    for (int64_t s = 0; s < steps; s++) {
        int64_t step = bs_batcher_position(b);
        assert_int_equal(bs_batcher_next(b, ids, &ep, &err), BS_OK);
        for (int i = 0; i < B; i++) {
            assert_true(ids[i] >= 0 && ids[i] < N);
            for (int j = 0; j < i; j++)
                assert_true(ids[i] != ids[j]); /* distinct */
        }
        assert_int_equal(ep, step / L);
        fake_rows(ids, step, rows);
        assert_int_equal(bs_batcher_update(b, ids, B, rows, &err), BS_OK);
        if (out)
            memcpy(out + s * B, ids, sizeof ids);
    }
}

/* B, dim and seed come from the trainer; the caller's params are kept;
   the epoch length is SPE, or ceil(N / B) by default. */
static void test_params(void **state)
{
    (void)state;
    bs_batcher_params p, keep;
    params_rwr(&p);
    p.sampler.batch_size = 999; /* overridden */
    p.dim = 999;
    keep = p;
    bs_batcher *b = make(&p, 42);
    assert_memory_equal(&p, &keep, sizeof p);
    assert_int_equal(bs_batcher_epoch_length(b), SPE);
    /* rows of D floats, batches of B; epochs of SPE < N / B batches write
       only part of the store: the graph waits (uniform batches) */
    drive(b, 2 * SPE, NULL);
    assert_true(bs_embstore_written(bs_batcher_store(b)) < N);
    assert_int_equal(bs_batcher_builds(b), 0);
    assert_false(bs_batcher_last_from_graph(b));
    assert_true(bst_batcher_seconds(b) > 0);
    bs_batcher_free(b);
    params_rwr(&p);
    p.sampler.batches_per_epoch = 0;
    b = make(&p, 42);
    assert_int_equal(bs_batcher_epoch_length(b), (N + B - 1) / B);
    bs_batcher_free(b);
    assert_true(bst_batcher_seconds(NULL) == 0);
}

/* knn walks the exact graph, whatever mode was asked for */
static void test_knn_uses_exact_graph(void **state)
{
    (void)state;
    bs_batcher_params p;
    params_rwr(&p);
    p.sampler.kind = BS_SAMPLER_KNN;
    p.graph.mode = BS_MODE_SHARED;
    p.sampler.batches_per_epoch = 0; /* the warm-up writes every row */
    bs_batcher *b = make(&p, 42);
    drive(b, bs_batcher_epoch_length(b) + 1, NULL);
    assert_non_null(bs_batcher_graph(b));
    assert_true(bs_batcher_last_from_graph(b));
    bs_graph_params gp;
    bs_graph_get_params(bs_batcher_graph(b), &gp);
    assert_int_equal(gp.mode, BS_MODE_EXACT);
    bs_batcher_free(b);
}

/* The store starts empty: no graph (uniform batches) until every row has
   been written, then the first graph at once; uniform never builds. */
static void test_waits_for_every_row(void **state)
{
    (void)state;
    bs_batcher_params p;
    params_rwr(&p);
    p.warmup_epochs = 0;
    p.sampler.batches_per_epoch = 0; /* ceil(N / B): a permutation */
    bs_batcher *b = make(&p, 42);
    int64_t L = bs_batcher_epoch_length(b);
    bst_graph_use u;
    char why[400] = "";
    for (int64_t s = 0; s < L; s++) {
        drive(b, 1, NULL);
        assert_int_equal(bs_batcher_builds(b), 0);
        assert_false(bs_batcher_last_from_graph(b));
        /* a run that ended here never had a graph: the summary says so */
        bst_batcher_graph_use(b, &u);
        assert_true(u.graph_kind);
        assert_int_equal(u.n, N);
        assert_int_equal(u.store_rows, s + 1 < L ? (s + 1) * B : N);
        assert_int_equal(bst_graph_use_warning(&u, why, sizeof why), 1);
        if (s + 1 < L) {
            char want[64];
            snprintf(want, sizeof want, "covered %lld of %d",
                     (long long)(s + 1) * B, N);
            assert_non_null(strstr(why, want));
        }
    }
    /* every row written, no rebuild yet: the run ended too early */
    assert_non_null(strstr(why, "ended before its first rebuild"));
    assert_int_equal(bs_embstore_written(bs_batcher_store(b)), N);
    drive(b, 1, NULL);
    assert_int_equal(bs_batcher_builds(b), 1);
    assert_true(bs_batcher_last_from_graph(b));
    bst_batcher_graph_use(b, &u);
    assert_int_equal(u.builds, 1);
    assert_int_equal(bst_graph_use_warning(&u, why, sizeof why), 0);
    bs_batcher_free(b);

    params_rwr(&p);
    p.sampler.kind = BS_SAMPLER_UNIFORM;
    b = make(&p, 42);
    drive(b, 4 * SPE, NULL);
    assert_int_equal(bs_batcher_builds(b), 0);
    assert_null(bs_batcher_graph(b));
    assert_null(bs_batcher_store(b));
    bst_batcher_graph_use(b, &u); /* uniform: nothing to warn about */
    assert_false(u.graph_kind);
    assert_int_equal(bst_graph_use_warning(&u, why, sizeof why), 0);
    bs_batcher_free(b);
}

static void test_deterministic(void **state)
{
    (void)state;
    enum { STEPS = 30 };
    int64_t *a = malloc(sizeof(int64_t) * STEPS * B);
    int64_t *z = malloc(sizeof(int64_t) * STEPS * B);
    bs_batcher_params p;
    params_rwr(&p);
    for (int t = 0; t < 2; t++) {
        bs_batcher *b = make(&p, 42);
        drive(b, STEPS, t ? z : a);
        bs_batcher_free(b);
    }
    assert_memory_equal(a, z, sizeof(int64_t) * STEPS * B);
    bs_batcher *b = make(&p, 43); /* another seed: other batches */
    drive(b, STEPS, z);
    assert_memory_not_equal(a, z, sizeof(int64_t) * STEPS * B);
    bs_batcher_free(b);
    free(a);
    free(z);
}

/* What a checkpoint does: save the blob after k batches (in the warm-up,
   at the first graph, between refreshes, mid-epoch), load it into a fresh
   trainer-made batcher: the rest is identical.  For each epoch mode, with
   a synchronous and an asynchronous rebuild, and the reference alpha
   schedule. */
static void test_resume(void **state)
{
    (void)state;
    enum { L = (N + B - 1) / B }; /* 19: the warm-up writes every row */
    const int64_t cuts[] = {0, 2, L, L + 1, L + 4, 2 * L + 2};
    const bs_epoch_mode modes[] = {BS_EPOCH_FIXED, BS_EPOCH_CARRY,
                                   BS_EPOCH_EXACT};
    enum { REST = 12 };
    for (int mi = 0; mi < 3; mi++)
        for (int lag = 0; lag <= 2; lag += 2)
            for (size_t ci = 0; ci < sizeof cuts / sizeof cuts[0]; ci++) {
                bs_batcher_params p;
                params_rwr(&p);
                p.sampler.batches_per_epoch = 0; /* L */
                p.sampler.epoch_mode = modes[mi];
                p.sampler.schedule = BS_ALPHA_REFERENCE;
                p.refresh_lag = lag;
                bs_batcher *a = make(&p, 42), *b = make(&p, 42);
                int64_t k = cuts[ci];
                drive(a, k, NULL);
                void *blob = NULL;
                size_t len = 0;
                bs_error err;
                assert_int_equal(
                    bs_batcher_save_state(a, -1, &blob, &len, &err), BS_OK);
                assert_int_equal(bs_batcher_load_state(b, blob, len, &err),
                                 BS_OK);
                assert_int_equal(bs_batcher_position(b), k);
                int64_t want[REST * B], got[REST * B];
                drive(a, REST, want);
                drive(b, REST, got);
                assert_memory_equal(want, got, sizeof want);
                assert_int_equal(bs_batcher_builds(a), bs_batcher_builds(b));
                free(blob);
                bs_batcher_free(a);
                bs_batcher_free(b);
            }
}

static void test_rejects(void **state)
{
    (void)state;
    bs_batcher_params p;
    bs_batcher *b = NULL;
    bs_error err;
    assert_int_not_equal(bst_batcher_create(NULL, B, D, 42, N, &b, &err),
                         BS_OK);
    assert_null(b);
    params_rwr(&p);
    assert_int_not_equal(bst_batcher_create(&p, N + 1, D, 42, N, &b, &err),
                         BS_OK);
    assert_int_not_equal(bst_batcher_create(&p, B, 0, 42, N, &b, &err), BS_OK);
    p.graph.k = 60; /* > M */
    assert_int_not_equal(bst_batcher_create(&p, B, D, 42, N, &b, &err), BS_OK);
    assert_true(strlen(err.msg) > 0);
    /* a NaN row from a diverged step is refused before it reaches a graph */
    params_rwr(&p);
    b = make(&p, 42);
    int64_t ids[B], ep;
    float rows[B * D] = {0};
    rows[3] = 0.0f / 0.0f;
    assert_int_equal(bs_batcher_next(b, ids, &ep, &err), BS_OK);
    assert_int_equal(bs_batcher_update(b, ids, B, rows, &err), BS_ERR_DATA);
    /* a blob resumed with another trainer setting names it */
    drive(b, SPE + 2, NULL);
    void *blob = NULL;
    size_t len = 0;
    assert_int_equal(bs_batcher_save_state(b, -1, &blob, &len, &err), BS_OK);
    bs_batcher *other = make(&p, 43);
    assert_int_not_equal(bs_batcher_load_state(other, blob, len, &err), BS_OK);
    assert_true(strlen(err.msg) > 0);
    assert_int_not_equal(bs_batcher_load_state(other, blob, len - 1, &err),
                         BS_OK);
    bs_batcher_free(other);
    free(blob);
    bs_batcher_free(b);
}

/* ------------------------------------------------- split rebuilds */
/* Three threads play three processes (n = 301: parts of 101, 101, 99
   rows) meeting at a barrier for each all-gather.  Every one must end with
   the graph of one whole bs_graph_build, bit for bit; when one process's
   part fails, all of them fail, the others naming it. */
enum { SW = 3, SN = 301 };

typedef struct {
    pthread_barrier_t bar;
    const void *slot[SW];
} split_comm;

typedef struct {
    split_comm *c;
    bst_split_builder b;
    const float *x;
    bs_graph_params p;
    bs_graph *g;
    bs_status st;
    bs_error err;
} split_proc;

static void split_allgather(void *ctx, const void *local, void *all,
                            size_t bytes)
{
    split_proc *w = ctx;
    w->c->slot[w->b.rank] = local;
    pthread_barrier_wait(&w->c->bar);
    for (int r = 0; r < SW; r++)
        memcpy((char *)all + (size_t)r * bytes, w->c->slot[r], bytes);
    pthread_barrier_wait(&w->c->bar);
}

static void *split_run(void *arg)
{
    split_proc *w = arg;
    w->st = bst_split_build(&w->b, w->x, SN, D, &w->p, &w->g, &w->err);
    return NULL;
}

/* the SW processes' builds over x[r] (per process) */
static void split_all(const float *const *x, const bs_graph_params *p,
                      split_proc *w)
{
    split_comm c;
    pthread_barrier_init(&c.bar, NULL, SW);
    pthread_t th[SW];
    for (int r = 0; r < SW; r++) {
        w[r] = (split_proc){
            &c, {r, SW, split_allgather, &w[r], 0}, x[r], *p, NULL, BS_OK, {0}};
        assert_int_equal(pthread_create(&th[r], NULL, split_run, &w[r]), 0);
    }
    for (int r = 0; r < SW; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&c.bar);
}

static void test_split_build(void **state)
{
    (void)state;
    float *x = malloc(sizeof(float) * SN * D),
          *bad = malloc(sizeof *bad * SN * D);
    assert_non_null(x);
    assert_non_null(bad);
    uint64_t seed = 7;
    for (int i = 0; i < SN * D; i++)
        x[i] = (float)(lcg(&seed) % 2001) / 1000.0f - 1.0f;
    bs_graph_params p;
    bs_graph_params_default(&p);
    p.m = 40;
    p.k = 6;
    p.seed = 3;
    p.threads = 1;
    for (int mode = 0; mode < 2; mode++) {
        p.mode = mode ? BS_MODE_EXACT : BS_MODE_SHARED;
        bs_graph *whole = NULL;
        assert_int_equal(bs_graph_build(x, SN, D, &p, &whole, NULL), BS_OK);
        bs_graph_get_params(whole, &p); /* block resolved, as the batcher */
        split_proc w[SW];
        const float *xs[SW] = {x, x, x};
        split_all(xs, &p, w);
        for (int r = 0; r < SW; r++) {
            assert_int_equal(w[r].st, BS_OK);
            assert_int_equal(w[r].b.rows, r < 2 ? 101 : 99);
            for (int64_t i = 0; i < SN; i++) {
                assert_memory_equal(bs_graph_neighbors(w[r].g, i),
                                    bs_graph_neighbors(whole, i),
                                    sizeof(int32_t) * p.k);
                assert_memory_equal(bs_graph_similarities(w[r].g, i),
                                    bs_graph_similarities(whole, i),
                                    sizeof(float) * p.k);
            }
            bs_graph_free(w[r].g);
        }
        bs_graph_free(whole);
    }
    /* process 1's part fails (a NaN in its copy of the store): all fail */
    memcpy(bad, x, sizeof(float) * SN * D);
    bad[5 * D + 2] = NAN;
    const float *xs[SW] = {x, bad, x};
    split_proc w[SW];
    split_all(xs, &p, w);
    for (int r = 0; r < SW; r++) {
        assert_int_equal(w[r].st, BS_ERR_DATA);
        assert_null(w[r].g);
        assert_int_equal(w[r].b.rows, 0);
        if (r != 1)
            assert_non_null(strstr(w[r].err.msg, "process 1 of 3"));
    }
    assert_non_null(strstr(w[1].err.msg, "NaN"));
    free(x);
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_knn_uses_exact_graph),
        cmocka_unit_test(test_waits_for_every_row),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_split_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
