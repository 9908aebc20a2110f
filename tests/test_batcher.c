/* test_batcher.c — the batcher: warm-up, rebuild policy, asynchronous
   refresh at a fixed batch, determinism, exact resume (also from a
   position in the history, as a prefetching loader needs; one rank's
   state resuming another rank), rejections. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

enum { N = 600, D = 8, B = 20 };

static bs_batcher_params defaults(bs_sampler_kind kind)
{
    bs_batcher_params p;
    bs_batcher_params_default(&p);
    p.sampler.kind = kind;
    p.sampler.batch_size = B;
    p.sampler.seed = 5;
    p.graph.m = 60;
    p.graph.k = 6;
    p.dim = D;
    p.warmup_epochs = 1;
    p.refresh_every = 7;
    return p;
}

static bs_batcher *make(const bs_batcher_params *p, const float *init)
{
    bs_batcher *b = NULL;
    bs_error e;
    bs_status st = bs_batcher_create(p, N, init, &b, &e);
    if (st != BS_OK)
        print_error("create: %s\n", e.msg);
    assert_int_equal(st, BS_OK);
    return b;
}

/* The "model": the projection of instance i after `step` updates drifts
   so that graphs change from one rebuild to the next. */
static void project(const int64_t *ids, int64_t count, int64_t step,
                    const float *base, float *rows)
{
    for (int64_t r = 0; r < count; r++)
        for (int64_t j = 0; j < D; j++)
            rows[r * D + j] =
                base[ids[r] * D + j] +
                0.3f * (float)sin(0.05 * (double)step + (double)j);
}

typedef struct {
    int64_t *ids; /* nb * B */
    int *graph;   /* nb: from the graph sampler */
} stream;

/* Issues nb batches, updating each right after it is issued (lag = 0) or
   `prefetch` batches later, as a loader that prefetches does. */
static void run(bs_batcher *b, int64_t nb, int64_t prefetch, const float *base,
                int64_t *ids)
{
    float rows[B * D];
    bs_error e;
    int64_t first = bs_batcher_position(b);
    for (int64_t i = 0; i < nb + prefetch; i++) {
        if (i < nb) {
            int64_t ep;
            bs_status st = bs_batcher_next(b, ids + i * B, &ep, &e);
            if (st != BS_OK)
                print_error("next: %s\n", e.msg);
            assert_int_equal(st, BS_OK);
            assert_int_equal(ep, (first + i) / bs_batcher_epoch_length(b));
        }
        int64_t u = i - prefetch; /* the batch trained on now */
        if (u >= 0 && u < nb) {
            project(ids + u * B, B, first + u, base, rows);
            assert_int_equal(bs_batcher_update(b, ids + u * B, B, rows, &e),
                             BS_OK);
        }
    }
}

static float *base_rows(void)
{
    return tu_clustered(N, D, 6, 0.2, 3, NULL);
}

static void test_warmup_then_graph(void **state)
{
    (void)state;
    float *base = base_rows();
    bs_batcher_params p = defaults(BS_SAMPLER_RWR);
    bs_batcher *b = make(&p, NULL);
    int64_t L = bs_batcher_epoch_length(b);
    assert_int_equal(L, (N + B - 1) / B);
    /* epoch 0 is uniform and equals a uniform sampler of the same seed */
    bs_sampler_params sp = p.sampler;
    sp.kind = BS_SAMPLER_UNIFORM;
    sp.batches_per_epoch = L;
    bs_sampler *u = NULL;
    assert_int_equal(bs_sampler_create(&sp, N, NULL, &u, NULL), BS_OK);
    int64_t *ids = malloc(sizeof *ids * (size_t)(3 * L * B)), want[B], c;
    run(b, L, 0, base, ids);
    for (int64_t i = 0; i < L; i++) {
        assert_int_equal(bs_sampler_next(u, want, &c, NULL), BS_OK);
        assert_memory_equal(ids + i * B, want, sizeof want);
    }
    assert_int_equal(bs_batcher_builds(b), 0);
    assert_null(bs_batcher_graph(b));
    /* epoch 1: the first batch builds, then every 7 batches */
    run(b, 1, 0, base, ids);
    assert_int_equal(bs_batcher_builds(b), 1);
    assert_true(bs_batcher_last_from_graph(b));
    assert_non_null(bs_batcher_graph(b));
    run(b, 6, 0, base, ids);
    assert_int_equal(bs_batcher_builds(b), 1);
    run(b, 1, 0, base, ids);
    assert_int_equal(bs_batcher_builds(b), 2);
    /* without updates the store stops changing: one more rebuild (the
       update after rebuild 2 started), then none */
    for (int i = 0; i < 30; i++)
        assert_int_equal(bs_batcher_next(b, ids, NULL, NULL), BS_OK);
    assert_int_equal(bs_batcher_builds(b), 3);
    bs_sampler_free(u);
    bs_batcher_free(b);
    free(ids);
    free(base);
}

/* Without init the first graph waits until every row has been written. */
static void test_waits_for_every_row(void **state)
{
    (void)state;
    bs_batcher_params p = defaults(BS_SAMPLER_RWR);
    p.warmup_epochs = 0;
    bs_batcher *b = make(&p, NULL);
    int64_t ids[B];
    float rows[B * D];
    for (int i = 0; i < B * D; i++)
        rows[i] = 1.0f + (float)(i % 7);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(bs_batcher_next(b, ids, NULL, NULL), BS_OK);
        assert_int_equal(bs_batcher_update(b, ids, B, rows, NULL), BS_OK);
        assert_false(bs_batcher_last_from_graph(b));
    }
    assert_int_equal(bs_batcher_builds(b), 0);
    bs_batcher_free(b);
    /* with init every row counts as written: graph from the first batch */
    float *base = base_rows();
    b = make(&p, base);
    assert_int_equal(bs_batcher_next(b, ids, NULL, NULL), BS_OK);
    assert_true(bs_batcher_last_from_graph(b));
    bs_batcher_free(b);
    free(base);
}

static void stream_of(const bs_batcher_params *p, int64_t nb, int64_t prefetch,
                      int64_t *ids)
{
    float *base = base_rows();
    bs_batcher *b = make(p, NULL);
    run(b, nb, prefetch, base, ids);
    bs_batcher_free(b);
    free(base);
}

/* Asserts that p and q give the same nb batches (same updates). */
static void same_streams(const bs_batcher_params *p, const bs_batcher_params *q,
                         int64_t nb)
{
    int64_t *a = malloc(sizeof *a * nb * B), *c = malloc(sizeof *c * nb * B);
    stream_of(p, nb, 0, a);
    stream_of(q, nb, 0, c);
    assert_memory_equal(a, c, sizeof *a * nb * B);
    free(a);
    free(c);
}

/* Same parameters and updates: same batches, for any thread count and for
   a rebuild in the calling thread or in a background one. */
static void test_deterministic(void **state)
{
    (void)state;
    for (int lag = 0; lag < 3; lag += 2) {
        bs_batcher_params p = defaults(BS_SAMPLER_RWR), q;
        p.refresh_lag = lag;
        p.graph.threads = 1;
        q = p;
        q.graph.threads = 2;
        same_streams(&p, &q, 120);
    }
}

/* With refresh_lag L, the graph of rebuild r is installed L batches after
   it started: the batches before that come from the previous graph. */
static void test_lag_installs_later(void **state)
{
    (void)state;
    float *base = base_rows();
    bs_batcher_params p = defaults(BS_SAMPLER_RWR);
    p.refresh_lag = 3;
    bs_batcher *b = make(&p, NULL);
    int64_t L = bs_batcher_epoch_length(b);
    int64_t *ids = malloc(sizeof *ids * (size_t)(L + 8) * B);
    run(b, L, 0, base, ids);
    for (int i = 0; i < 3; i++) { /* rebuild started, not in force yet */
        run(b, 1, 0, base, ids);
        assert_int_equal(bs_batcher_builds(b), 1);
        assert_null(bs_batcher_graph(b));
        assert_false(bs_batcher_last_from_graph(b));
    }
    run(b, 1, 0, base, ids);
    assert_non_null(bs_batcher_graph(b));
    assert_true(bs_batcher_last_from_graph(b));
    bs_batcher_free(b);
    free(ids);
    free(base);
}

/* Saves at `cut`, loads into a fresh batcher, and checks that both go on
   with the same batches. */
static void check_resume(const bs_batcher_params *p, int64_t cut, int64_t more)
{
    float *base = base_rows();
    bs_batcher *b = make(p, NULL);
    int64_t *x = malloc(sizeof *x * (size_t)(cut + more) * B),
            *y = malloc(sizeof *y * (size_t)more * B);
    run(b, cut, 0, base, x);
    void *blob;
    size_t len;
    bs_error e;
    assert_int_equal(bs_batcher_save_state(b, -1, &blob, &len, &e), BS_OK);
    run(b, more, 0, base, x + cut * B);
    bs_batcher *r = make(p, NULL);
    bs_status st = bs_batcher_load_state(r, blob, len, &e);
    if (st != BS_OK)
        print_error("load: %s\n", e.msg);
    assert_int_equal(st, BS_OK);
    assert_int_equal(bs_batcher_position(r), cut);
    run(r, more, 0, base, y);
    assert_memory_equal(x + cut * B, y, sizeof *y * (size_t)more * B);
    assert_int_equal(bs_batcher_builds(r), bs_batcher_builds(b));
    free(blob);
    free(x);
    free(y);
    bs_batcher_free(b);
    bs_batcher_free(r);
    free(base);
}

static void test_resume(void **state)
{
    (void)state;
    const bs_sampler_kind kinds[] = {BS_SAMPLER_UNIFORM, BS_SAMPLER_RWR,
                                     BS_SAMPLER_KNN};
    const int64_t cuts[] = {0, 5, 30, 31, 33, 37, 64};
    for (int k = 0; k < 3; k++)
        for (int m = 0; m < 3; m++)
            for (int lag = 0; lag < 5; lag += 4)
                for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
                    bs_batcher_params p = defaults(kinds[k]);
                    p.sampler.epoch_mode = (bs_epoch_mode)m;
                    p.refresh_lag = lag;
                    check_resume(&p, cuts[c], 25);
                }
}

/* A loader that prefetches P batches: iteration i issues batch first + i
   and then trains on (updates) batch first + i - P.  With save_at >= 0,
   the state is saved right after batch save_at - 1 was trained on, at
   position save_at (the first batch the model has not trained on), while
   batches up to save_at + P - 1 have already been issued. */
static void loader(bs_batcher *b, int64_t T, int64_t P, const float *base,
                   int64_t *ids, int64_t save_at, void **blob, size_t *len)
{
    float rows[B * D];
    bs_error e;
    int64_t first = bs_batcher_position(b);
    for (int64_t i = 0; i < T; i++) {
        assert_int_equal(bs_batcher_next(b, ids + i * B, NULL, &e), BS_OK);
        int64_t u = i - P;
        if (u < 0)
            continue;
        project(ids + u * B, B, first + u, base, rows);
        assert_int_equal(bs_batcher_update(b, ids + u * B, B, rows, &e), BS_OK);
        if (first + u + 1 == save_at) {
            bs_status st = bs_batcher_save_state(b, save_at, blob, len, &e);
            if (st != BS_OK)
                print_error("save at %lld: %s\n", (long long)save_at, e.msg);
            assert_int_equal(st, BS_OK);
        }
    }
}

/* A checkpoint taken while a loader had prefetched P batches resumes at
   the first batch not trained on, and the resumed run (whose new loader
   prefetches again) gives exactly the uninterrupted run's batches, also
   when rebuilds started inside the prefetched window. */
static void test_resume_with_prefetch(void **state)
{
    (void)state;
    const int64_t P = 4, T = 110;
    float *base = base_rows();
    int64_t *x = malloc(sizeof *x * T * B), *y = malloc(sizeof *y * T * B);
    for (int lag = 0; lag < 3; lag += 2)
        for (int64_t at = 30; at < 50; at += 3) {
            bs_batcher_params p = defaults(BS_SAMPLER_RWR);
            p.refresh_lag = lag;
            p.history = 6;
            bs_batcher *b = make(&p, NULL);
            void *blob = NULL;
            size_t len = 0;
            loader(b, T, P, base, x, at, &blob, &len);
            assert_non_null(blob);
            bs_batcher *r = make(&p, NULL);
            bs_error e;
            bs_status st = bs_batcher_load_state(r, blob, len, &e);
            if (st != BS_OK)
                print_error("load: %s\n", e.msg);
            assert_int_equal(st, BS_OK);
            assert_int_equal(bs_batcher_position(r), at);
            loader(r, T - at, P, base, y, -1, NULL, NULL);
            assert_memory_equal(x + at * B, y,
                                sizeof *y * (size_t)(T - at) * B);
            assert_int_equal(bs_batcher_builds(r), bs_batcher_builds(b));
            free(blob);
            bs_batcher_free(b);
            bs_batcher_free(r);
        }
    /* positions older than the history are refused */
    bs_batcher_params p = defaults(BS_SAMPLER_RWR);
    p.history = 2;
    bs_batcher *b = make(&p, NULL);
    loader(b, 10, 0, base, x, -1, NULL, NULL);
    void *blob;
    size_t len;
    bs_error e;
    assert_int_equal(bs_batcher_save_state(b, 8, &blob, &len, &e), BS_OK);
    free(blob);
    tu_assert_fails(bs_batcher_save_state(b, 7, &blob, &len, &e),
                    BS_ERR_INVALID_ARG, &e, "history = 2");
    bs_batcher_free(b);
    free(x);
    free(y);
    free(base);
}

/* Every kind of bad blob is refused and leaves the batcher as it was. */
static void test_load_rejects(void **state)
{
    (void)state;
    float *base = base_rows();
    bs_batcher_params p = defaults(BS_SAMPLER_RWR);
    p.refresh_lag = 2;
    bs_batcher *b = make(&p, NULL);
    int64_t *ids = malloc(sizeof *ids * 40 * B);
    run(b, 32, 0, base, ids);
    void *blob;
    size_t len;
    bs_error e;
    assert_int_equal(bs_batcher_save_state(b, -1, &blob, &len, &e), BS_OK);
    bs_batcher *t = make(&p, NULL);
    unsigned char *bad = malloc(len);
    tu_assert_fails(bs_batcher_load_state(t, blob, len - 1, &e), BS_ERR_FORMAT,
                    &e, "checksum");
    tu_assert_fails(bs_batcher_load_state(t, blob, 12, &e), BS_ERR_FORMAT, &e,
                    "shorter");
    for (size_t at = 0; at < len; at += len / 97 + 1) {
        memcpy(bad, blob, len);
        bad[at] ^= 0x04;
        assert_int_not_equal(bs_batcher_load_state(t, bad, len, &e), BS_OK);
    }
    /* a well-formed blob of another batcher names the parameter */
    bs_batcher_params q = p;
    q.refresh_every = 8;
    bs_batcher *o = make(&q, NULL);
    tu_assert_fails(bs_batcher_load_state(o, blob, len, &e), BS_ERR_STATE, &e,
                    "refresh_every");
    bs_batcher_free(o);
    q = p;
    q.sampler.epoch_mode = BS_EPOCH_EXACT;
    o = make(&q, NULL);
    tu_assert_fails(bs_batcher_load_state(o, blob, len, &e), BS_ERR_STATE, &e,
                    "epoch mode");
    bs_batcher_free(o);
    /* t was left untouched: it still starts from the beginning */
    assert_int_equal(bs_batcher_position(t), 0);
    int64_t first[B];
    assert_int_equal(bs_batcher_next(t, first, NULL, NULL), BS_OK);
    assert_memory_equal(first, ids, sizeof first);
    free(bad);
    free(blob);
    free(ids);
    bs_batcher_free(t);
    bs_batcher_free(b);
    free(base);
}

static void test_rejections(void **state)
{
    (void)state;
    bs_batcher *b = NULL;
    bs_error e;
    bs_batcher_params p = defaults(BS_SAMPLER_RWR);
#define REJECT(field, value, needle)                                           \
    do {                                                                       \
        bs_batcher_params q = p;                                               \
        q.field = value;                                                       \
        tu_assert_fails(bs_batcher_create(&q, N, NULL, &b, &e),                \
                        BS_ERR_INVALID_ARG, &e, needle);                       \
        assert_null(b);                                                        \
    } while (0)
    REJECT(dim, 0, "dim");
    REJECT(refresh_every, 0, "refresh_every");
    REJECT(refresh_lag, -1, "refresh_lag");
    REJECT(history, -2, "history");
    REJECT(warmup_epochs, -1, "warmup_epochs");
    REJECT(graph.k, 0, "");
    REJECT(graph.m, N, "");
    REJECT(sampler.batch_size, N + 1, "exceeds n");
    REJECT(sampler.alpha, 1.0, "alpha");
    REJECT(sampler.epoch_mode, (bs_epoch_mode)7, "epoch mode");
    REJECT(sampler.kind, (bs_sampler_kind)9, "kind");
    tu_assert_fails(bs_batcher_create(NULL, N, NULL, &b, &e),
                    BS_ERR_INVALID_ARG, &e, "NULL");
    b = make(&p, NULL);
    int64_t ids[B] = {0}, bad_ids[1] = {N};
    float rows[B * D] = {0}, nan_row[D];
    for (int j = 0; j < D; j++)
        nan_row[j] = j == 3 ? NAN : 1.0f;
    tu_assert_fails(bs_batcher_update(b, bad_ids, 1, rows, &e),
                    BS_ERR_INVALID_ARG, &e, "expected 0 <= id");
    tu_assert_fails(bs_batcher_update(b, ids, 1, nan_row, &e), BS_ERR_DATA, &e,
                    "column 3 is NaN");
    assert_int_equal(bs_embstore_written(bs_batcher_store(b)), 0);
    tu_assert_fails(bs_batcher_set_epoch(b, -1, &e), BS_ERR_INVALID_ARG, &e,
                    "epoch");
    void *blob;
    size_t len;
    tu_assert_fails(bs_batcher_save_state(b, 3, &blob, &len, &e),
                    BS_ERR_INVALID_ARG, &e, "history");
    tu_assert_fails(bs_batcher_next(b, NULL, NULL, &e), BS_ERR_INVALID_ARG, &e,
                    "non-NULL");
    bs_batcher_free(b);
    bs_batcher_free(NULL);
}

static void test_set_epoch(void **state)
{
    (void)state;
    bs_batcher_params p = defaults(BS_SAMPLER_UNIFORM);
    bs_batcher *b = make(&p, NULL);
    int64_t L = bs_batcher_epoch_length(b);
    int64_t *x = malloc(sizeof *x * (size_t)(2 * L) * B), y[B];
    for (int64_t i = 0; i < 2 * L; i++)
        assert_int_equal(bs_batcher_next(b, x + i * B, NULL, NULL), BS_OK);
    assert_int_equal(bs_batcher_set_epoch(b, 1, NULL), BS_OK);
    assert_int_equal(bs_batcher_position(b), L);
    assert_int_equal(bs_batcher_next(b, y, NULL, NULL), BS_OK);
    assert_memory_equal(y, x + L * B, sizeof y);
    assert_int_equal(bs_batcher_set_epoch(b, 0, NULL), BS_OK);
    assert_int_equal(bs_batcher_next(b, y, NULL, NULL), BS_OK);
    assert_memory_equal(y, x, sizeof y);
    free(x);
    bs_batcher_free(b);
}

/* Two ranks of a world of 2, stepped together: each issues its slice,
   then both stores get both slices' rows (gathered, as bs_batcher_update
   asks); the slices go to x0 and x1 (nb * B each).  r0 may be NULL: the
   rows of rank 0's slices are then taken from x0 as given. */
static void run_ranks(bs_batcher *r0, bs_batcher *r1, int64_t nb,
                      const float *base, int64_t *x0, int64_t *x1)
{
    int64_t g[2 * B];
    float rows[2 * B * D];
    bs_error e;
    int64_t first = bs_batcher_position(r1);
    for (int64_t i = 0; i < nb; i++) {
        if (r0)
            assert_int_equal(bs_batcher_next(r0, x0 + i * B, NULL, &e), BS_OK);
        assert_int_equal(bs_batcher_next(r1, x1 + i * B, NULL, &e), BS_OK);
        memcpy(g, x0 + i * B, sizeof(int64_t) * B);
        memcpy(g + B, x1 + i * B, sizeof(int64_t) * B);
        project(g, 2 * B, first + i, base, rows);
        if (r0)
            assert_int_equal(bs_batcher_update(r0, g, 2 * B, rows, &e), BS_OK);
        assert_int_equal(bs_batcher_update(r1, g, 2 * B, rows, &e), BS_OK);
    }
}

/* A data-parallel job keeps one rank's state: rank 0's blob resumes rank
   1 exactly (its own slices, rebuilds in flight included), because every
   rank's state is the same but for the rank; another world is refused. */
static void test_resume_any_rank(void **state)
{
    (void)state;
    const bs_sampler_kind kinds[] = {BS_SAMPLER_UNIFORM, BS_SAMPLER_RWR,
                                     BS_SAMPLER_KNN};
    enum { CUT = 37, MORE = 25 }; /* 37: a rebuild is in flight (lag 2) */
    float *base = base_rows();
    for (int k = 0; k < 3; k++) {
        bs_batcher_params p = defaults(kinds[k]);
        p.refresh_lag = 2;
        p.sampler.world = 2;
        bs_batcher_params p1 = p;
        p1.sampler.rank = 1;
        bs_batcher *r0 = make(&p, NULL), *r1 = make(&p1, NULL);
        int64_t *x0 = malloc(sizeof(int64_t) * (CUT + MORE) * B),
                *x1 = malloc(sizeof(int64_t) * (CUT + MORE) * B),
                *y1 = malloc(sizeof(int64_t) * MORE * B);
        run_ranks(r0, r1, CUT, base, x0, x1);
        void *b0, *b1;
        size_t l0, l1;
        bs_error e;
        assert_int_equal(bs_batcher_save_state(r0, -1, &b0, &l0, &e), BS_OK);
        assert_int_equal(bs_batcher_save_state(r1, -1, &b1, &l1, &e), BS_OK);
        /* the two states are the same but for the rank: rank 1's, loaded
           by a rank-0 batcher and saved again, is rank 0's byte for byte */
        bs_batcher *z = make(&p, NULL);
        assert_int_equal(bs_batcher_load_state(z, b1, l1, &e), BS_OK);
        void *bz;
        size_t lz;
        assert_int_equal(bs_batcher_save_state(z, -1, &bz, &lz, &e), BS_OK);
        assert_int_equal(lz, l0);
        assert_memory_equal(bz, b0, l0);
        assert_int_equal(l0, l1);
        assert_memory_not_equal(b1, b0, l0); /* the rank is in the blob */
        free(bz);
        bs_batcher_free(z);
        run_ranks(r0, r1, MORE, base, x0 + CUT * B, x1 + CUT * B);
        bs_batcher *t = make(&p1, NULL);
        bs_status st = bs_batcher_load_state(t, b0, l0, &e);
        if (st != BS_OK)
            print_error("load: %s\n", e.msg);
        assert_int_equal(st, BS_OK);
        run_ranks(NULL, t, MORE, base, x0 + CUT * B, y1);
        assert_memory_equal(x1 + CUT * B, y1, sizeof(int64_t) * MORE * B);
        assert_int_equal(bs_batcher_builds(t), bs_batcher_builds(r1));
        bs_batcher_params q = p;
        q.sampler.world = 3; /* with the same epoch length */
        q.sampler.batches_per_epoch = bs_batcher_epoch_length(r0);
        bs_batcher *o = make(&q, NULL);
        tu_assert_fails(bs_batcher_load_state(o, b0, l0, &e), BS_ERR_STATE, &e,
                        "world");
        bs_batcher_free(o);
        bs_batcher_free(t);
        bs_batcher_free(r0);
        bs_batcher_free(r1);
        free(b0);
        free(b1);
        free(x0);
        free(x1);
        free(y1);
    }
    free(base);
}

/* A builder as a multi-process rebuild does it: `parts` row ranges built
   with bs_graph_build_rows, then wrapped with bs_graph_from_arrays.  It
   counts its calls and fails the call numbered fail_at (from 1). */
typedef struct {
    int parts, calls, fail_at, wrong_k;
} split_ctx;

static bs_status split_build(void *ctx, const float *x, int64_t n, int64_t d,
                             const bs_graph_params *p, bs_graph **out,
                             bs_error *err)
{
    split_ctx *c = ctx;
    if (++c->calls == c->fail_at) {
        err->code = BS_ERR_IO;
        snprintf(err->msg, sizeof err->msg, "rank 1 is gone");
        return BS_ERR_IO;
    }
    int32_t *nbr = malloc(sizeof *nbr * (size_t)(n * p->k));
    float *sim = malloc(sizeof *sim * (size_t)(n * p->k));
    bs_status st = BS_OK;
    for (int r = 0; r < c->parts && st == BS_OK; r++) {
        int64_t lo = n * r / c->parts, hi = n * (r + 1) / c->parts;
        st = bs_graph_build_rows(x, n, d, p, lo, hi, nbr + lo * p->k,
                                 sim + lo * p->k, err);
    }
    bs_graph_params q = *p; /* wrong_k: a graph of K - 1 neighbours */
    q.k -= c->wrong_k;
    if (st == BS_OK && c->wrong_k)
        st = bs_graph_build(x, n, d, &q, out, err);
    else if (st == BS_OK)
        st = bs_graph_from_arrays(n, p->k, nbr, sim, p, out, err);
    free(nbr);
    free(sim);
    return st;
}

/* A graph builder (a rebuild split in row ranges) gives the batches of
   bs_graph_build, synchronously and in the background; its failure is
   reported by next() and a repeated call goes on. */
static void test_builder(void **state)
{
    (void)state;
    for (int lag = 0; lag < 3; lag += 2) {
        bs_batcher_params p = defaults(BS_SAMPLER_RWR), q;
        p.refresh_lag = lag;
        split_ctx ctx = {.parts = 3};
        q = p;
        q.build = split_build;
        q.build_ctx = &ctx;
        same_streams(&p, &q, 90);
        assert_true(ctx.calls >= 3);
    }
    const int64_t nb = 90;
    int64_t *a = malloc(sizeof *a * nb * B), *c = malloc(sizeof *c * nb * B);
    float *base = base_rows();
    { /* the graph in force is bs_graph_build's, parameters included */
        bs_batcher_params p = defaults(BS_SAMPLER_RWR);
        bs_batcher *ref = make(&p, NULL);
        split_ctx ctx = {.parts = 2};
        p.build = split_build;
        p.build_ctx = &ctx;
        bs_batcher *b = make(&p, NULL);
        int64_t L = bs_batcher_epoch_length(b);
        run(ref, L + 1, 0, base, a);
        run(b, L + 1, 0, base, c);
        const bs_graph *g1 = bs_batcher_graph(ref), *g2 = bs_batcher_graph(b);
        assert_non_null(g1);
        assert_non_null(g2);
        bs_graph_params q1, q2;
        bs_graph_get_params(g1, &q1);
        bs_graph_get_params(g2, &q2);
        assert_int_equal(q2.block, 256);
        assert_int_equal(q1.block, q2.block);
        assert_int_equal(q1.seed, q2.seed);
        assert_int_equal(q1.m, q2.m);
        assert_int_equal(q1.mode, q2.mode);
        for (int64_t i = 0; i < N; i++) {
            assert_memory_equal(bs_graph_neighbors(g1, i),
                                bs_graph_neighbors(g2, i), 6 * sizeof(int32_t));
            assert_memory_equal(bs_graph_similarities(g1, i),
                                bs_graph_similarities(g2, i),
                                6 * sizeof(float));
        }
        bs_batcher_free(ref);
        bs_batcher_free(b);
    }
    for (int wrong_k = 0; wrong_k < 2; wrong_k++) {
        bs_batcher_params p = defaults(BS_SAMPLER_RWR);
        split_ctx ctx = {
            .parts = 2, .fail_at = wrong_k ? 0 : 1, .wrong_k = wrong_k};
        p.build = split_build;
        p.build_ctx = &ctx;
        bs_batcher *b = make(&p, NULL);
        int64_t L = bs_batcher_epoch_length(b), ids[B];
        run(b, L, 0, base, a);
        bs_error e;
        tu_assert_fails(bs_batcher_next(b, ids, NULL, &e),
                        wrong_k ? BS_ERR_INVALID_ARG : BS_ERR_IO, &e,
                        wrong_k ? "different-sized graph" : "rank 1 is gone");
        assert_int_equal(bs_batcher_position(b), L);
        assert_int_equal(bs_batcher_builds(b), 0);
        ctx.wrong_k = 0;
        assert_int_equal(bs_batcher_next(b, ids, NULL, &e), BS_OK);
        assert_int_equal(bs_batcher_builds(b), 1);
        assert_true(bs_batcher_last_from_graph(b));
        bs_batcher_free(b);
    }
    free(base);
    free(a);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warmup_then_graph),
        cmocka_unit_test(test_waits_for_every_row),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_lag_installs_later),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_resume_with_prefetch),
        cmocka_unit_test(test_load_rejects),
        cmocka_unit_test(test_resume_any_rank),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_set_epoch),
        cmocka_unit_test(test_builder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
