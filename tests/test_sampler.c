/* test_sampler.c — the uniform, RWR and kNN samplers. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "rng.h"

/* ------------------------------------------------------------ helpers */

/* n nodes, k distinct random neighbours each (never itself), similarities
   descending from 1 in steps of 0.01. */
static bs_graph *random_graph(int64_t n, int32_t k, uint64_t seed)
{
    int32_t *nbr = malloc(sizeof *nbr * (size_t)(n * k));
    float *sim = malloc(sizeof *sim * (size_t)(n * k));
    assert_non_null(nbr);
    assert_non_null(sim);
    bs_rng r;
    bs_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < k; j++) {
            int32_t v;
            int dup;
            do {
                v = (int32_t)bs_rng_below(&r, (uint64_t)n);
                dup = v == i;
                for (int32_t t = 0; t < j && !dup; t++)
                    dup = nbr[i * k + t] == v;
            } while (dup);
            nbr[i * k + j] = v;
            sim[i * k + j] = 1.0f - 0.01f * (float)j;
        }
    bs_graph *g = NULL;
    bs_error e;
    assert_int_equal(bs_graph_from_arrays(n, k, nbr, sim, NULL, &g, &e), BS_OK);
    free(nbr);
    free(sim);
    return g;
}

static bs_sampler_params params(bs_sampler_kind kind, int64_t b, uint64_t seed)
{
    bs_sampler_params p;
    bs_sampler_params_default(&p);
    p.kind = kind;
    p.batch_size = b;
    p.seed = seed;
    return p;
}

static bs_sampler *make(const bs_sampler_params *p, int64_t n,
                        const bs_graph *g)
{
    bs_sampler *s = NULL;
    bs_error e;
    bs_status st = bs_sampler_create(p, n, g, &s, &e);
    if (st != BS_OK)
        print_error("create: %s\n", e.msg);
    assert_int_equal(st, BS_OK);
    return s;
}

/* Next batch; returns its count (B or 0). */
static int64_t next(bs_sampler *s, int64_t *out)
{
    int64_t c = -1;
    bs_error e;
    assert_int_equal(bs_sampler_next(s, out, &c, &e), BS_OK);
    return c;
}

/* Runs one epoch into a malloc'ed array (cap batches); returns batches. */
static int64_t run_epoch(bs_sampler *s, int64_t b, int64_t **ids, int64_t cap)
{
    *ids = malloc(sizeof **ids * (size_t)(cap * b));
    assert_non_null(*ids);
    int64_t nb = 0;
    for (;;) {
        assert_true(nb < cap);
        int64_t c = next(s, *ids + nb * b);
        if (c == 0)
            return nb;
        assert_int_equal(c, b);
        nb++;
    }
}

static void assert_distinct_in_range(const int64_t *ids, int64_t b, int64_t n)
{
    for (int64_t i = 0; i < b; i++) {
        assert_true(ids[i] >= 0 && ids[i] < n);
        for (int64_t j = 0; j < i; j++)
            assert_true(ids[i] != ids[j]);
    }
}

static const bs_sampler_kind kinds[] = {BS_SAMPLER_UNIFORM, BS_SAMPLER_RWR,
                                        BS_SAMPLER_KNN};

/* ------------------------------------------------------------ reference */

/* The documented RWR walk written out step by step, independently of the
   library's windowed implementation: both must give identical batches. */
typedef struct {
    const bs_graph *g;
    int64_t n, G, max_steps;
    double alpha, tau;
    bs_rng rng;
    char *cov, *in;
    int64_t ncov;
    int exact; /* BS_EPOCH_EXACT with batches_per_epoch = 0 */
} ref_walk;

static int64_t ref_start(ref_walk *w)
{
    if (w->ncov < w->n) {
        uint64_t r = bs_rng_below(&w->rng, (uint64_t)(w->n - w->ncov));
        for (int64_t i = 0;; i++)
            if (!w->cov[i] && r-- == 0)
                return i;
    }
    for (int tries = 0; tries < 64; tries++) {
        int64_t i = (int64_t)bs_rng_below(&w->rng, (uint64_t)w->n);
        if (!w->in[i])
            return i;
    }
    int64_t i = (int64_t)bs_rng_below(&w->rng, (uint64_t)w->n);
    while (w->in[i])
        i = (i + 1) % w->n;
    return i;
}

static int ref_add(ref_walk *w, int64_t i, int64_t *out, int64_t *count)
{
    if (w->in[i] || (w->exact && w->ncov < w->n && w->cov[i]))
        return 0;
    w->in[i] = 1;
    out[(*count)++] = i;
    if (!w->cov[i]) {
        w->cov[i] = 1;
        w->ncov++;
    }
    return 1;
}

static int64_t ref_move(ref_walk *w, int64_t u)
{
    int32_t k = bs_graph_k(w->g);
    const int32_t *nb = bs_graph_neighbors(w->g, u);
    if (w->tau == 0)
        return nb[bs_rng_below(&w->rng, (uint64_t)k)];
    const float *sm = bs_graph_similarities(w->g, u);
    double mx = sm[0], tot = 0, c[64];
    for (int32_t j = 1; j < k; j++)
        mx = sm[j] > mx ? sm[j] : mx;
    for (int32_t j = 0; j < k; j++)
        c[j] = tot += exp(((double)sm[j] - mx) / w->tau);
    double x = bs_rng_uniform(&w->rng) * tot;
    int32_t j = 0;
    while (j < k - 1 && c[j] <= x)
        j++;
    return nb[j];
}

static void ref_batch(ref_walk *w, int64_t *out)
{
    int64_t count = 0;
    memset(w->in, 0, (size_t)w->n);
    int64_t start = ref_start(w), cur = start, budget = w->max_steps;
    int64_t idle = 0, stall = 2 * (int64_t)bs_graph_k(w->g) + 32;
    ref_add(w, start, out, &count);
    while (count < w->G) {
        if (budget == 0 || idle == stall) {
            start = cur = ref_start(w);
            ref_add(w, start, out, &count);
            budget = w->max_steps;
            idle = 0;
            continue;
        }
        budget--;
        /* a step: restart or not, then one move (header: max_steps) */
        int restart = bs_rng_uniform(&w->rng) < w->alpha;
        cur = ref_move(w, restart ? start : cur);
        idle = ref_add(w, cur, out, &count) ? 0 : idle + 1;
    }
}

static void check_against_reference_mode(const bs_graph *g, int64_t b,
                                         double alpha, double tau,
                                         int64_t steps, bs_epoch_mode mode)
{
    const int64_t n = bs_graph_n(g);
    bs_sampler_params p = params(BS_SAMPLER_RWR, b, 77);
    p.alpha = alpha;
    p.tau = tau;
    p.max_steps = steps;
    p.epoch_mode = mode;
    bs_sampler *s = make(&p, n, g);
    /* the documented default budget: 16 * B moves */
    ref_walk w = {g,
                  n,
                  b,
                  steps ? steps : 16 * b,
                  alpha,
                  tau,
                  {{0}},
                  calloc((size_t)n, 1),
                  calloc((size_t)n, 1),
                  0,
                  mode == BS_EPOCH_EXACT};
    int64_t *a = malloc(sizeof *a * (size_t)b),
            *r = malloc(sizeof *r * (size_t)b);
    for (int64_t ep = 0; ep < 3; ep++) {
        bs_rng_derive(&w.rng, 77, BS_STREAM_SAMPLER_EPOCH, (uint64_t)ep);
        memset(w.cov, 0, (size_t)n);
        w.ncov = 0;
        while (w.ncov < n) {
            assert_int_equal(next(s, a), b);
            ref_batch(&w, r);
            assert_memory_equal(a, r, (size_t)b * sizeof *a);
        }
        assert_int_equal(next(s, a), 0);
    }
    free(a);
    free(r);
    free(w.cov);
    free(w.in);
    bs_sampler_free(s);
}

static void check_against_reference(const bs_graph *g, int64_t b, double alpha,
                                    double tau, int64_t steps)
{
    check_against_reference_mode(g, b, alpha, tau, steps, BS_EPOCH_FIXED);
    check_against_reference_mode(g, b, alpha, tau, steps, BS_EPOCH_EXACT);
}

static void test_rwr_reference(void **state)
{
    (void)state;
    bs_graph *g = random_graph(300, 6, 19);
    check_against_reference(g, 10, 0.2, 0.0, 0);
    check_against_reference(g, 10, 0.0, 0.0, 0);
    check_against_reference(g, 100, 0.5, 0.0, 0);
    check_against_reference(g, 20, 0.3, 0.02, 0);
    check_against_reference(g, 20, 0.3, 0.0, 3);   /* frequent fresh starts */
    check_against_reference(g, 300, 0.1, 0.0, 7);  /* batch = whole graph */
    check_against_reference(g, 50, 0.999, 0.0, 0); /* stall-driven starts */
    bs_graph_free(g);
    /* two components of 10 nodes, batch 16: budget-driven new starts */
    int32_t nbr[60];
    for (int64_t i = 0; i < 20; i++)
        for (int j = 0; j < 3; j++)
            nbr[i * 3 + j] = (int32_t)((i / 10) * 10 + (i % 10 + 1 + j) % 10);
    assert_int_equal(bs_graph_from_arrays(20, 3, nbr, NULL, NULL, &g, NULL),
                     BS_OK);
    check_against_reference(g, 16, 0.2, 0.0, 0);
    bs_graph_free(g);
}

/* ------------------------------------------------------------ tests */

static void test_batches_distinct_and_cover(void **state)
{
    (void)state;
    const int64_t n = 500, b = 16;
    bs_graph *g = random_graph(n, 8, 1);
    for (int k = 0; k < 3; k++) {
        bs_sampler_params p = params(kinds[k], b, 7);
        bs_sampler *s = make(&p, n, g);
        int64_t *ids;
        int64_t nb = run_epoch(s, b, &ids, 10000);
        char *seen = calloc((size_t)n, 1);
        for (int64_t i = 0; i < nb; i++) {
            assert_distinct_in_range(ids + i * b, b, n);
            for (int64_t j = 0; j < b; j++)
                seen[ids[i * b + j]] = 1;
        }
        for (int64_t i = 0; i < n; i++)
            assert_int_equal(seen[i], 1);
        if (kinds[k] != BS_SAMPLER_UNIFORM)
            assert_int_equal(bs_sampler_covered(s), n);
        assert_int_equal(bs_sampler_epoch(s), 0);
        assert_int_equal(bs_sampler_batch_index(s), nb);
        int64_t buf[16];
        assert_int_equal(next(s, buf), b); /* the next epoch starts */
        assert_int_equal(bs_sampler_epoch(s), 1);
        assert_int_equal(bs_sampler_batch_index(s), 1);
        assert_int_equal(bs_sampler_steps(s) > 0, kinds[k] == BS_SAMPLER_RWR);
        free(seen);
        free(ids);
        bs_sampler_free(s);
    }
    bs_graph_free(g);
}

static void test_seeds(void **state)
{
    (void)state;
    const int64_t n = 300, b = 10;
    bs_graph *g = random_graph(n, 6, 2);
    for (int k = 0; k < 3; k++) {
        bs_sampler_params p = params(kinds[k], b, 11);
        bs_sampler *s1 = make(&p, n, g), *s2 = make(&p, n, g);
        p.seed = 12;
        bs_sampler *s3 = make(&p, n, g);
        int64_t *a, *c, *d;
        int64_t na = run_epoch(s1, b, &a, 10000);
        int64_t nc = run_epoch(s2, b, &c, 10000);
        int64_t nd = run_epoch(s3, b, &d, 10000);
        assert_int_equal(na, nc);
        assert_memory_equal(a, c, (size_t)(na * b) * sizeof *a);
        int64_t m = na < nd ? na : nd;
        assert_true(memcmp(a, d, (size_t)(m * b) * sizeof *a) != 0);
        /* epoch 1 differs from epoch 0, and set_epoch replays it */
        int64_t *e1, *r1;
        int64_t n1 = run_epoch(s1, b, &e1, 10000);
        assert_true(memcmp(a, e1, (size_t)b * sizeof *a) != 0);
        bs_error e;
        assert_int_equal(bs_sampler_set_epoch(s2, 1, &e), BS_OK);
        assert_int_equal(run_epoch(s2, b, &r1, 10000), n1);
        assert_memory_equal(e1, r1, (size_t)(n1 * b) * sizeof *a);
        free(a);
        free(c);
        free(d);
        free(e1);
        free(r1);
        bs_sampler_free(s1);
        bs_sampler_free(s2);
        bs_sampler_free(s3);
    }
    bs_graph_free(g);
}

static void test_uniform_permutation(void **state)
{
    (void)state;
    bs_sampler_params p = params(BS_SAMPLER_UNIFORM, 10, 3);
    bs_sampler *s = make(&p, 120, NULL);
    assert_int_equal(bs_sampler_epoch_length(s), 12);
    int64_t *ids;
    assert_int_equal(run_epoch(s, 10, &ids, 100), 12);
    int64_t sorted[120];
    memcpy(sorted, ids, sizeof sorted);
    for (int64_t i = 0; i < 120; i++) { /* counting check: a permutation */
        int hits = 0;
        for (int64_t j = 0; j < 120; j++)
            hits += sorted[j] == i;
        assert_int_equal(hits, 1);
    }
    free(ids);
    bs_sampler_free(s);

    /* n = 125: the 13th batch is the 5-id tail + the permutation's first 5 */
    s = make(&p, 125, NULL);
    assert_int_equal(bs_sampler_epoch_length(s), 13);
    assert_int_equal(run_epoch(s, 10, &ids, 100), 13);
    assert_memory_equal(ids + 125, ids, 5 * sizeof *ids);
    assert_distinct_in_range(ids + 120, 10, 125);
    int64_t all[130];
    memcpy(all, ids, sizeof all);
    for (int64_t i = 0; i < 125; i++) {
        int hits = 0;
        for (int64_t j = 0; j < 125; j++)
            hits += all[j] == i;
        assert_int_equal(hits, 1);
    }
    free(ids);
    bs_sampler_free(s);

    p.drop_last = 1;
    s = make(&p, 125, NULL);
    assert_int_equal(bs_sampler_epoch_length(s), 12);
    assert_int_equal(run_epoch(s, 10, &ids, 100), 12);
    free(ids);
    bs_sampler_free(s);
}

/* Mean fraction of batch ids that are the start (batch[0]) or one of its
   direct neighbours. */
static double direct_fraction(const bs_graph *g, double alpha)
{
    const int64_t n = 1000, b = 9;
    bs_sampler_params p = params(BS_SAMPLER_RWR, b, 5);
    p.alpha = alpha;
    p.max_steps = 1000000;
    p.batches_per_epoch = 200;
    bs_sampler *s = make(&p, n, g);
    int64_t ids[9], hit = 0, total = 0;
    while (next(s, ids) == b) {
        const int32_t *nb = bs_graph_neighbors(g, ids[0]);
        for (int64_t j = 0; j < b; j++) {
            int near = j == 0;
            for (int32_t t = 0; t < bs_graph_k(g); t++)
                near |= nb[t] == ids[j];
            hit += near;
            total++;
        }
    }
    bs_sampler_free(s);
    return (double)hit / (double)total;
}

static void test_alpha_concentrates(void **state)
{
    (void)state;
    bs_graph *g = random_graph(1000, 8, 4);
    double hi = direct_fraction(g, 0.99), lo = direct_fraction(g, 0.0);
    /* start + its 8 neighbours fill B = 9 with alpha near 1; a plain walk
       leaves the neighbourhood at once */
    assert_true(hi > 0.9);
    assert_true(lo < 0.5);
    bs_graph_free(g);
}

static void test_tau_prefers_similar(void **state)
{
    (void)state;
    const int64_t n = 400;
    const int32_t k = 10;
    bs_graph *g0 = random_graph(n, k, 6);
    float *sim = malloc(sizeof *sim * (size_t)(n * k));
    for (int64_t i = 0; i < n * k; i++)
        sim[i] = (i % k == 0) ? 0.9f : 0.1f;
    bs_graph *g = NULL;
    assert_int_equal(bs_graph_from_arrays(n, k, bs_graph_neighbors(g0, 0), sim,
                                          NULL, &g, NULL),
                     BS_OK);
    int64_t top[2];
    for (int soft = 0; soft < 2; soft++) {
        /* B = 2, alpha = 0: the batch is the start and its first move */
        bs_sampler_params p = params(BS_SAMPLER_RWR, 2, 9);
        p.alpha = 0.0;
        p.tau = soft ? 0.05 : 0.0;
        p.batches_per_epoch = 300;
        bs_sampler *s = make(&p, n, g);
        int64_t ids[2];
        top[soft] = 0;
        while (next(s, ids) == 2)
            top[soft] += ids[1] == bs_graph_neighbors(g, ids[0])[0];
        bs_sampler_free(s);
    }
    /* uniform: about 30 of 300; tau = 0.05: exp(16) odds, all 300 */
    assert_true(top[0] < 100);
    assert_true(top[1] > 290);
    free(sim);
    bs_graph_free(g);
    bs_graph_free(g0);
}

static unsigned char *save(const bs_sampler *s, size_t *len);

/* W ranks' slices are a one-rank sampler's global batches; rank 0's
   state resumes rank 3 (the state is the same on every rank) */
static void test_shards(void **state)
{
    (void)state;
    const int64_t n = 400, b = 8, w = 4;
    bs_graph *g = random_graph(n, 6, 8);
    for (int k = 0; k < 3; k++) {
        bs_sampler_params p = params(kinds[k], b * w, 21);
        bs_sampler *whole = make(&p, n, g), *rank[4];
        p.batch_size = b;
        p.world = (int)w;
        for (int r = 0; r < w; r++) {
            p.rank = r;
            rank[r] = make(&p, n, g);
        }
        int64_t glob[32], part[8];
        bs_sampler *resumed = NULL;        /* rank 3 from rank 0's state */
        for (int it = 0; it < 200; it++) { /* crosses epoch boundaries */
            if (it == 90) {
                size_t len;
                unsigned char *blob = save(rank[0], &len);
                resumed = make(&p, n, g); /* p.rank is 3 */
                bs_error e;
                assert_int_equal(bs_sampler_load_state(resumed, blob, len, &e),
                                 BS_OK);
                bs_sampler_params q = p; /* another world: refused */
                q.rank = 0;
                q.world = 2;
                bs_sampler *o = make(&q, n, g);
                tu_assert_fails(bs_sampler_load_state(o, blob, len, &e),
                                BS_ERR_STATE, &e, "world");
                bs_sampler_free(o);
                free(blob);
            }
            int64_t c = next(whole, glob);
            for (int r = 0; r < w; r++) {
                int64_t cr = next(rank[r], part);
                assert_int_equal(cr, c ? b : 0);
                if (c)
                    assert_memory_equal(part, glob + r * b, sizeof part);
            }
            if (resumed) {
                assert_int_equal(next(resumed, part), c ? b : 0);
                if (c)
                    assert_memory_equal(part, glob + 3 * b, sizeof part);
            }
        }
        bs_sampler_free(resumed);
        bs_sampler_free(whole);
        for (int r = 0; r < w; r++)
            bs_sampler_free(rank[r]);
    }
    bs_graph_free(g);
}

static unsigned char *save(const bs_sampler *s, size_t *len)
{
    bs_error e;
    assert_int_equal(bs_sampler_save_state(s, NULL, 0, len, &e), BS_OK);
    unsigned char *buf = malloc(*len);
    size_t got = 0;
    assert_int_equal(bs_sampler_save_state(s, buf, *len, &got, &e), BS_OK);
    assert_int_equal(got, *len);
    return buf;
}

/* Saves s after `skip` calls, runs `more` calls on s, restores the blob
   into a fresh sampler and checks it yields the same `more` results. */
static void check_resume(const bs_sampler_params *p, int64_t n,
                         const bs_graph *g, int skip, int more)
{
    bs_sampler *s = make(p, n, g);
    int64_t b = p->batch_size, *buf = malloc(sizeof *buf * (size_t)b);
    int64_t *want = malloc(sizeof *want * (size_t)(b * more) + 1);
    int64_t *cnt = malloc(sizeof *cnt * (size_t)more);
    for (int i = 0; i < skip; i++)
        next(s, buf);
    size_t len;
    unsigned char *blob = save(s, &len);
    assert_true(len <= (size_t)n / 8 + 200);
    for (int i = 0; i < more; i++)
        cnt[i] = next(s, want + i * b);
    bs_sampler *t = make(p, n, g);
    bs_error e;
    assert_int_equal(bs_sampler_load_state(t, blob, len, &e), BS_OK);
    for (int i = 0; i < more; i++) {
        assert_int_equal(next(t, buf), cnt[i]);
        if (cnt[i])
            assert_memory_equal(buf, want + i * b, (size_t)b * sizeof *buf);
    }
    assert_int_equal(bs_sampler_epoch(t), bs_sampler_epoch(s));
    assert_int_equal(bs_sampler_covered(t), bs_sampler_covered(s));
    assert_int_equal(bs_sampler_steps(t), bs_sampler_steps(s));
    free(blob);
    free(buf);
    free(want);
    free(cnt);
    bs_sampler_free(s);
    bs_sampler_free(t);
}

static void test_save_restore(void **state)
{
    (void)state;
    const int64_t n = 300;
    bs_graph *g = random_graph(n, 6, 10);
    for (int k = 0; k < 3; k++) {
        bs_sampler_params p = params(kinds[k], 7, 31);
        p.tau = kinds[k] == BS_SAMPLER_RWR ? 0.5 : 0.0;
        check_resume(&p, n, g, 0, 5);
        check_resume(&p, n, g, 13, 150); /* mid-epoch, across the end */
        /* just after the end was reported, and on a later epoch */
        bs_sampler *s = make(&p, n, g);
        int64_t *ids;
        int64_t nb = run_epoch(s, 7, &ids, 10000);
        free(ids);
        bs_sampler_free(s);
        check_resume(&p, n, g, (int)nb + 1, 30);
        check_resume(&p, n, g, (int)nb, 30);
        p.batches_per_epoch = 9;
        p.drop_last = 1;
        check_resume(&p, n, g, 17, 60);
    }
    bs_graph_free(g);
}

static void test_restore_rejects(void **state)
{
    (void)state;
    const int64_t n = 200;
    bs_graph *g = random_graph(n, 5, 12);
    bs_sampler_params p = params(BS_SAMPLER_RWR, 8, 41);
    bs_sampler *s = make(&p, n, g), *ref = make(&p, n, g);
    int64_t a[8], c[8];
    for (int i = 0; i < 3; i++) {
        next(s, a);
        next(ref, a);
    }
    size_t len;
    unsigned char *blob = save(s, &len);
    bs_error e;
    bs_sampler_params q = params(BS_SAMPLER_RWR, 8, 42);
    bs_sampler *other = make(&q, n, g);
    for (int i = 0; i < 5; i++)
        next(other, a);
    size_t olen;
    unsigned char *oblob = save(other, &olen);
    bs_sampler *t = make(&p, n, g);
    for (int i = 0; i < 3; i++)
        next(t, a); /* t now equals ref; failed loads must keep it so */

    tu_assert_fails(bs_sampler_load_state(t, blob, len - 1, &e), BS_ERR_FORMAT,
                    &e, "checksum");
    tu_assert_fails(bs_sampler_load_state(t, blob, 10, &e), BS_ERR_FORMAT, &e,
                    "shorter");
    for (size_t at = 0; at < len; at += 7) {
        blob[at] ^= 0x10;
        assert_int_not_equal(bs_sampler_load_state(t, blob, len, &e), BS_OK);
        assert_int_equal(e.code, BS_ERR_FORMAT);
        blob[at] ^= 0x10;
    }
    /* well-formed envelope (checksum fixed up) but inconsistent content */
    unsigned char *bad = malloc(len);
    const size_t covered_at = 152, ended_at = 112, bits_at = 176;
    for (int v = 0; v < 3; v++) {
        memcpy(bad, blob, len);
        if (v == 0)
            bad[covered_at] ^= 1;
        else if (v == 1)
            bad[ended_at] = 2;
        else
            bad[len - 5] |= 0x80; /* a bit past n = 200 */
        uint32_t crc = (uint32_t)crc32(0L, bad, (uInt)(len - 4));
        for (int i = 0; i < 4; i++)
            bad[len - 4 + (size_t)i] = (unsigned char)(crc >> (8 * i));
        tu_assert_fails(bs_sampler_load_state(t, bad, len, &e), BS_ERR_FORMAT,
                        &e,
                        v == 0   ? "bitmap holds"
                        : v == 1 ? "ended"
                                 : "past n");
    }
    assert_int_equal(len, bits_at + 4 * 8 + 4); /* 200 bits = 4 words */
    free(bad);
    tu_assert_fails(bs_sampler_load_state(t, oblob, olen, &e), BS_ERR_STATE, &e,
                    "seed");
    bs_sampler_params r = params(BS_SAMPLER_RWR, 4, 41);
    bs_sampler *small = make(&r, n, g);
    tu_assert_fails(bs_sampler_load_state(small, blob, len, &e), BS_ERR_STATE,
                    &e, "batch_size");
    bs_graph *ug = random_graph(300, 5, 1);
    bs_sampler *u = make(&p, 300, ug);
    tu_assert_fails(bs_sampler_load_state(u, blob, len, &e), BS_ERR_STATE, &e,
                    "n = 200");
    bs_sampler_free(u);
    bs_graph_free(ug);
    tu_assert_fails(bs_sampler_load_state(t, NULL, len, &e), BS_ERR_INVALID_ARG,
                    &e, NULL);
    /* t was left exactly as it was */
    assert_int_equal(bs_sampler_batch_index(t), 3);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(next(t, a), next(ref, c));
        assert_memory_equal(a, c, sizeof a);
    }
    size_t need;
    tu_assert_fails(bs_sampler_save_state(s, blob, 3, &need, &e),
                    BS_ERR_INVALID_ARG, &e, "needed");
    free(blob);
    free(oblob);
    bs_sampler_free(s);
    bs_sampler_free(ref);
    bs_sampler_free(other);
    bs_sampler_free(t);
    bs_sampler_free(small);
    bs_graph_free(g);
}

static void test_disconnected(void **state)
{
    (void)state;
    /* two components of 10 nodes (ring-like, K = 3), batch 16 */
    const int64_t n = 20;
    int32_t nbr[60];
    for (int64_t i = 0; i < n; i++) {
        int64_t base = i < 10 ? 0 : 10, o = i - base;
        for (int j = 0; j < 3; j++)
            nbr[i * 3 + j] = (int32_t)(base + (o + 1 + j) % 10);
    }
    bs_graph *g = NULL;
    assert_int_equal(bs_graph_from_arrays(n, 3, nbr, NULL, NULL, &g, NULL),
                     BS_OK);
    for (int k = 1; k < 3; k++) {
        bs_sampler_params p = params(kinds[k], 16, 3);
        bs_sampler *s = make(&p, n, g);
        int64_t ids[16];
        for (int it = 0; it < 30; it++) {
            int64_t c = next(s, ids);
            if (c)
                assert_distinct_in_range(ids, 16, n);
        }
        assert_true(bs_sampler_epoch(s) >= 5); /* 2 batches + end each */
        bs_sampler_free(s);
    }
    bs_graph_free(g);
}

static void test_set_graph(void **state)
{
    (void)state;
    const int64_t n = 300, b = 10;
    bs_graph *g1 = random_graph(n, 6, 13), *g2 = random_graph(n, 6, 14);
    bs_graph *gbad = random_graph(n + 1, 6, 15);
    bs_sampler_params p = params(BS_SAMPLER_RWR, b, 51);
    bs_sampler *s = make(&p, n, g1), *same = make(&p, n, g1);
    int64_t a[10], c[10];
    for (int i = 0; i < 5; i++) {
        next(s, a);
        next(same, a);
    }
    int64_t cov = bs_sampler_covered(s);
    bs_error e;
    /* the same graph again changes nothing */
    assert_int_equal(bs_sampler_set_graph(same, g1, &e), BS_OK);
    tu_assert_fails(bs_sampler_set_graph(s, gbad, &e), BS_ERR_INVALID_ARG, &e,
                    "nodes");
    tu_assert_fails(bs_sampler_set_graph(s, NULL, &e), BS_ERR_INVALID_ARG, &e,
                    "NULL");
    assert_int_equal(bs_sampler_set_graph(s, g2, &e), BS_OK);
    assert_int_equal(bs_sampler_covered(s), cov);
    assert_int_equal(bs_sampler_batch_index(s), 5);
    assert_int_equal(bs_sampler_epoch(s), 0);
    /* the epoch goes on with the new graph: the rest covers the rest */
    char *seen = calloc((size_t)n, 1);
    int64_t rest = 0;
    while (next(s, a) == b) {
        rest++;
        for (int j = 0; j < b; j++)
            seen[a[j]] = 1;
    }
    assert_int_equal(bs_sampler_covered(s), n);
    assert_true(rest > 0 && rest < 1000);
    next(same, a);
    bs_sampler *fresh = make(&p, n, g1);
    for (int i = 0; i < 6; i++)
        next(fresh, c);
    assert_memory_equal(a, c, sizeof a);
    free(seen);
    bs_sampler_free(s);
    bs_sampler_free(same);
    bs_sampler_free(fresh);
    bs_graph_free(g1);
    bs_graph_free(g2);
    bs_graph_free(gbad);
}

static void test_batches_per_epoch(void **state)
{
    (void)state;
    const int64_t n = 50, b = 10;
    bs_graph *g = random_graph(n, 5, 16);
    for (int k = 0; k < 3; k++) {
        bs_sampler_params p = params(kinds[k], b, 61);
        p.batches_per_epoch = 23;
        bs_sampler *s = make(&p, n, g);
        assert_int_equal(bs_sampler_epoch_length(s), 23);
        for (int ep = 0; ep < 2; ep++) {
            int64_t *ids;
            assert_int_equal(run_epoch(s, b, &ids, 100), 23);
            for (int i = 0; i < 23; i++)
                assert_distinct_in_range(ids + i * b, b, n);
            if (kinds[k] == BS_SAMPLER_UNIFORM) {
                /* every 5 batches are one full pass */
                for (int pass = 0; pass < 4; pass++)
                    for (int64_t v = 0; v < n; v++) {
                        int hits = 0;
                        for (int j = 0; j < 50; j++)
                            hits += ids[pass * 50 + j] == v;
                        assert_int_equal(hits, 1);
                    }
            } else {
                assert_true(bs_sampler_covered(s) < n); /* restarted */
            }
            free(ids);
        }
        assert_int_equal(bs_sampler_epoch(s), 1);
        bs_sampler_free(s);
    }
    bs_graph_free(g);
}

static void test_alpha_decay(void **state)
{
    (void)state;
    bs_sampler_params p = params(BS_SAMPLER_UNIFORM, 4, 1);
    p.alpha = 0.5;
    p.schedule = BS_ALPHA_DECAY;
    bs_sampler *s = make(&p, 100, NULL);
    const int64_t ep[] = {0, 4, 5, 9, 10, 20, 24, 25, 30, 1000};
    const double want[] = {0.5, 0.5, 0.4, 0.4, 0.3, 0.1, 0.1, 0.05, 0.05, 0.05};
    for (size_t i = 0; i < sizeof ep / sizeof ep[0]; i++) {
        assert_int_equal(bs_sampler_set_epoch(s, ep[i], NULL), BS_OK);
        assert_true(fabs(bs_sampler_alpha(s) - want[i]) < 1e-12);
    }
    bs_sampler_free(s);
    p.schedule = BS_ALPHA_CONSTANT;
    s = make(&p, 100, NULL);
    assert_int_equal(bs_sampler_set_epoch(s, 50, NULL), BS_OK);
    assert_true(bs_sampler_alpha(s) == 0.5);
    bs_sampler_free(s);
}

static void test_alpha_reference(void **state)
{
    (void)state;
    /* the reference: alpha - (epoch / 5) * 0.1, epoch counted from 1 */
    const int64_t ep[] = {0, 1, 4, 6, 7, 100};
    const double want[] = {0.18, 0.16, 0.10, 0.06, 0.05, 0.05};
    for (size_t i = 0; i < sizeof ep / sizeof ep[0]; i++)
        assert_true(fabs(bs_alpha_at_epoch(0.2, BS_ALPHA_REFERENCE, ep[i]) -
                         want[i]) < 1e-12);
    bs_sampler_params p = params(BS_SAMPLER_UNIFORM, 4, 1);
    p.alpha = 0.9;
    p.schedule = BS_ALPHA_REFERENCE;
    bs_sampler *s = make(&p, 100, NULL);
    assert_int_equal(bs_sampler_set_epoch(s, 9, NULL), BS_OK);
    assert_true(bs_sampler_alpha(s) == 0.9 - (10.0 / 5.0) * 0.1);
    bs_sampler_free(s);
    bs_alpha_schedule sc;
    bs_error e;
    assert_int_equal(bs_alpha_schedule_parse("reference", &sc, &e), BS_OK);
    assert_int_equal(sc, BS_ALPHA_REFERENCE);
    assert_int_equal(bs_alpha_schedule_parse("decay", &sc, &e), BS_OK);
    assert_int_equal(sc, BS_ALPHA_STEP);
    tu_assert_fails(bs_alpha_schedule_parse("linear", &sc, &e),
                    BS_ERR_INVALID_ARG, &e, "constant, step or reference");
    bs_epoch_mode m;
    assert_int_equal(bs_epoch_mode_parse("carry", &m, &e), BS_OK);
    assert_int_equal(m, BS_EPOCH_CARRY);
    tu_assert_fails(bs_epoch_mode_parse("all", &m, &e), BS_ERR_INVALID_ARG, &e,
                    "fixed, carry or exact");
}

/* A graph whose edges mostly point into the first `hubs` nodes: the others
   have low in-degree and are reached almost only as start nodes. */
static bs_graph *skewed_graph(int64_t n, int32_t k, int64_t hubs, uint64_t seed)
{
    int32_t *nbr = malloc(sizeof *nbr * (size_t)(n * k));
    assert_non_null(nbr);
    bs_rng r;
    bs_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < k; j++) {
            int64_t v;
            do
                v = (int64_t)bs_rng_below(&r, bs_rng_uniform(&r) < 0.9
                                                  ? (uint64_t)hubs
                                                  : (uint64_t)n);
            while (v == i);
            nbr[i * k + j] = (int32_t)v; /* repeats are fine here */
        }
    bs_graph *g = NULL;
    assert_int_equal(bs_graph_from_arrays(n, k, nbr, NULL, NULL, &g, NULL),
                     BS_OK);
    free(nbr);
    return g;
}

/* Appearances of every instance over `epochs` epochs of a sampler. */
static int64_t *appearances(bs_sampler *s, int64_t n, int64_t b, int epochs)
{
    int64_t *cnt = calloc((size_t)n, sizeof *cnt), *ids;
    assert_non_null(cnt);
    for (int ep = 0; ep < epochs; ep++) {
        int64_t nb = run_epoch(s, b, &ids, 10000);
        for (int64_t i = 0; i < nb * b; i++)
            cnt[ids[i]]++;
        free(ids);
    }
    return cnt;
}

static int64_t count_zero(const int64_t *cnt, int64_t n)
{
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++)
        z += cnt[i] == 0;
    return z;
}

/* Coverage by epoch mode on a graph with skewed in-degree.  A batch of a
   graph sampler holds at least one uncovered instance (its start), so under
   carry every instance has appeared after at most n batches; exact gives
   each instance exactly one appearance per pass; fixed, whose coverage is
   cleared every epoch, leaves low in-degree instances out for many epochs. */
static void test_epoch_modes(void **state)
{
    (void)state;
    const int64_t n = 500, b = 25, bpe = n / b, epochs = n / bpe;
    bs_graph *g = skewed_graph(n, 10, 40, 5);
    int64_t never[3];
    for (int k = 1; k < 3; k++) { /* rwr, knn */
        for (int m = 0; m < 3; m++) {
            bs_sampler_params p = params(kinds[k], b, 9);
            p.batches_per_epoch = bpe;
            p.epoch_mode = (bs_epoch_mode)m;
            bs_sampler *s = make(&p, n, g);
            if (m == BS_EPOCH_EXACT)
                for (int ep = 0; ep < 3; ep++) { /* a pass per epoch */
                    int64_t *cnt = appearances(s, n, b, 1);
                    for (int64_t i = 0; i < n; i++)
                        assert_int_equal(cnt[i], 1);
                    free(cnt);
                }
            int64_t *cnt = appearances(s, n, b, (int)epochs);
            never[m] = count_zero(cnt, n);
            free(cnt);
            bs_sampler_free(s);
        }
        assert_true(never[BS_EPOCH_FIXED] > 0);
        assert_int_equal(never[BS_EPOCH_CARRY], 0);
        assert_int_equal(never[BS_EPOCH_EXACT], 0);
    }
    bs_graph_free(g);
}

/* Exact passes run on across fixed-length epochs that do not divide n:
   nobody is left out at epoch ends, so after 10 epochs of 20 batches of 25
   over n = 503 (9.9 passes) everyone has appeared at least 8 times (the
   batch that ends a pass counts for the next one too). */
static void test_epoch_exact_across_epochs(void **state)
{
    (void)state;
    const int64_t n = 503, b = 25;
    bs_graph *g = skewed_graph(n, 8, 40, 7);
    bs_sampler_params p = params(BS_SAMPLER_RWR, b, 3);
    p.batches_per_epoch = 20;
    p.epoch_mode = BS_EPOCH_EXACT;
    bs_sampler *s = make(&p, n, g);
    int64_t *cnt = appearances(s, n, b, 10), lo = cnt[0];
    for (int64_t i = 1; i < n; i++)
        lo = cnt[i] < lo ? cnt[i] : lo;
    assert_true(lo >= 8);
    free(cnt);
    bs_sampler_free(s);
    bs_graph_free(g);
}

static void test_epoch_carry_keeps_coverage(void **state)
{
    (void)state;
    const int64_t n = 500, b = 10;
    bs_graph *g = random_graph(n, 5, 3);
    bs_sampler_params p = params(BS_SAMPLER_RWR, b, 4);
    p.batches_per_epoch = 7;
    for (int m = 0; m < 2; m++) {
        p.epoch_mode = m ? BS_EPOCH_CARRY : BS_EPOCH_FIXED;
        bs_sampler *s = make(&p, n, g);
        int64_t *ids;
        assert_int_equal(run_epoch(s, b, &ids, 100), 7);
        free(ids);
        int64_t before = bs_sampler_covered(s);
        assert_true(before > 0 && before < n);
        assert_int_equal(bs_sampler_set_epoch(s, 1, NULL), BS_OK);
        assert_int_equal(bs_sampler_covered(s), m ? before : 0);
        bs_sampler_free(s);
    }
    bs_graph_free(g);
}

/* exact epochs without a fixed length: one pass each, every instance
   once except in the last batch, which is completed with covered ones */
static void test_epoch_exact_pass(void **state)
{
    (void)state;
    const int64_t n = 1003, b = 20;
    bs_graph *g = skewed_graph(n, 8, 50, 6);
    for (int k = 1; k < 3; k++) {
        bs_sampler_params p = params(kinds[k], b, 12);
        p.epoch_mode = BS_EPOCH_EXACT;
        bs_sampler *s = make(&p, n, g);
        for (int ep = 0; ep < 2; ep++) {
            int64_t *ids, nb = run_epoch(s, b, &ids, 1000);
            assert_int_equal(nb, (n + b - 1) / b);
            int64_t *cnt = calloc((size_t)n, sizeof *cnt);
            for (int64_t i = 0; i < (nb - 1) * b; i++)
                cnt[ids[i]]++;
            for (int64_t i = 0; i < n; i++)
                assert_true(cnt[i] <= 1);
            assert_distinct_in_range(ids + (nb - 1) * b, b, n);
            for (int64_t i = (nb - 1) * b; i < nb * b; i++)
                cnt[ids[i]]++;
            assert_int_equal(count_zero(cnt, n), 0);
            free(cnt);
            free(ids);
        }
        bs_sampler_free(s);
    }
    bs_graph_free(g);
}

/* The work of a walk is bounded for any alpha and any graph: at most
   (2K + 32) moves per node added (the stall rule), so alpha near 1 and a
   graph where every node points at the same hubs end in bounded time. */
static void test_walk_work_bounded(void **state)
{
    (void)state;
    const int64_t n = 3000, b = 100;
    const int32_t k = 10;
    bs_graph *rnd = random_graph(n, k, 8);
    int32_t *nbr = malloc(sizeof *nbr * (size_t)(n * k));
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < k; j++) /* all point at nodes 0..10 */
            nbr[i * k + j] = (int32_t)(j + (i <= j));
    bs_graph *hub = NULL;
    assert_int_equal(bs_graph_from_arrays(n, k, nbr, NULL, NULL, &hub, NULL),
                     BS_OK);
    free(nbr);
    const double alphas[] = {0.0, 0.2, 0.5, 0.9, 0.999, 0.999999};
    for (int gi = 0; gi < 2; gi++)
        for (size_t a = 0; a < sizeof alphas / sizeof alphas[0]; a++) {
            bs_sampler_params p = params(BS_SAMPLER_RWR, b, 2);
            p.alpha = alphas[a];
            bs_sampler *s = make(&p, n, gi ? hub : rnd);
            int64_t *ids, nb = run_epoch(s, b, &ids, 1000);
            free(ids);
            assert_true(nb * b >= n);
            assert_true(bs_sampler_steps(s) <= (2 * k + 33) * nb * b);
            bs_sampler_free(s);
        }
    bs_graph_free(rnd);
    bs_graph_free(hub);
}

static void test_knn_bfs_order(void **state)
{
    (void)state;
    /* node i's neighbours: i+1, i+2 (mod 10) -> BFS from s: s, s+1, s+2, s+3 */
    int32_t nbr[20];
    for (int i = 0; i < 10; i++) {
        nbr[2 * i] = (i + 1) % 10;
        nbr[2 * i + 1] = (i + 2) % 10;
    }
    bs_graph *g = NULL;
    assert_int_equal(bs_graph_from_arrays(10, 2, nbr, NULL, NULL, &g, NULL),
                     BS_OK);
    bs_sampler_params p = params(BS_SAMPLER_KNN, 4, 1);
    bs_sampler *s = make(&p, 10, g);
    int64_t ids[4];
    next(s, ids);
    for (int j = 1; j < 4; j++)
        assert_int_equal(ids[j], (ids[0] + j) % 10);
    bs_sampler_free(s);
    bs_graph_free(g);
}

static void test_rejections(void **state)
{
    (void)state;
    bs_graph *g = random_graph(100, 4, 17);
    bs_sampler *s = NULL;
    bs_error e;
    bs_sampler_params p = params(BS_SAMPLER_RWR, 10, 0);
#define REJECT(expr, n_, g_, needle)                                           \
    do {                                                                       \
        bs_sampler_params q = p;                                               \
        expr;                                                                  \
        tu_assert_fails(bs_sampler_create(&q, n_, g_, &s, &e),                 \
                        BS_ERR_INVALID_ARG, &e, needle);                       \
        assert_null(s);                                                        \
    } while (0)
    REJECT(q.batch_size = 0, 100, g, "batch_size");
    REJECT(q.batch_size = 101, 100, g, "exceeds n");
    REJECT((q.world = 11, q.rank = 0), 100, g, "exceeds n");
    REJECT((q.world = 2, q.rank = 2), 100, g, "rank");
    REJECT((q.world = 2, q.rank = -1), 100, g, "rank");
    REJECT(q.world = 0, 100, g, "world");
    REJECT(q.alpha = 1.0, 100, g, "never leave");
    REJECT(q.alpha = -0.1, 100, g, "alpha");
    REJECT(q.alpha = NAN, 100, g, "alpha");
    REJECT(q.tau = -1, 100, g, "tau");
    REJECT(q.tau = NAN, 100, g, "tau");
    REJECT(q.max_steps = -1, 100, g, "max_steps");
    REJECT(q.batches_per_epoch = -1, 100, g, "batches_per_epoch");
    REJECT(q.kind = (bs_sampler_kind)7, 100, g, "kind");
    REJECT(q.schedule = (bs_alpha_schedule)5, 100, g, "schedule");
    REJECT((void)0, 100, NULL, "NULL");
    REJECT(q.kind = BS_SAMPLER_KNN, 100, NULL, "NULL");
    REJECT((void)0, 99, g, "graph has 100");
    REJECT(q.kind = BS_SAMPLER_UNIFORM, 0, NULL, "n >= 1");
    tu_assert_fails(bs_sampler_create(NULL, 100, g, &s, &e), BS_ERR_INVALID_ARG,
                    &e, "NULL");
    s = make(&p, 100, g);
    int64_t c = 5, out[10];
    tu_assert_fails(bs_sampler_next(s, NULL, &c, &e), BS_ERR_INVALID_ARG, &e,
                    NULL);
    assert_int_equal(c, 0);
    tu_assert_fails(bs_sampler_set_epoch(s, -1, &e), BS_ERR_INVALID_ARG, &e,
                    "epoch");
    assert_int_equal(next(s, out), 10);
    bs_sampler_free(s);
    bs_sampler_kind k;
    assert_int_equal(bs_sampler_kind_parse("knn", &k, NULL), BS_OK);
    assert_int_equal(k, BS_SAMPLER_KNN);
    tu_assert_fails(bs_sampler_kind_parse("walk", &k, &e), BS_ERR_INVALID_ARG,
                    &e, "walk");
    assert_string_equal(bs_sampler_kind_name(BS_SAMPLER_RWR), "rwr");
    assert_null(bs_sampler_kind_name((bs_sampler_kind)9));
    bs_sampler_free(NULL);
    bs_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_distinct_and_cover),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_uniform_permutation),
        cmocka_unit_test(test_alpha_concentrates),
        cmocka_unit_test(test_tau_prefers_similar),
        cmocka_unit_test(test_shards),
        cmocka_unit_test(test_save_restore),
        cmocka_unit_test(test_restore_rejects),
        cmocka_unit_test(test_disconnected),
        cmocka_unit_test(test_set_graph),
        cmocka_unit_test(test_batches_per_epoch),
        cmocka_unit_test(test_alpha_decay),
        cmocka_unit_test(test_alpha_reference),
        cmocka_unit_test(test_epoch_modes),
        cmocka_unit_test(test_epoch_carry_keeps_coverage),
        cmocka_unit_test(test_epoch_exact_across_epochs),
        cmocka_unit_test(test_epoch_exact_pass),
        cmocka_unit_test(test_walk_work_bounded),
        cmocka_unit_test(test_knn_bfs_order),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_rwr_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
