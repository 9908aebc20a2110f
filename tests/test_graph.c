/* test_graph.c — proximity graph build: exactness against a double-precision
   brute force, the candidate rule, determinism, sub-range builds, input
   rejection and cancellation.  Sizes are small so valgrind stays quick. */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "kernels.h"

/* ------------------------------------------------------------------ utils */

static bs_graph_params params(bs_graph_mode mode, int64_t m, int32_t k,
                              uint64_t seed, int32_t block, int threads)
{
    bs_graph_params p;
    bs_graph_params_default(&p);
    p.mode = mode;
    p.m = m;
    p.k = k;
    p.seed = seed;
    p.block = block;
    p.threads = threads;
    return p;
}

static double cos_ref(const float *x, int64_t d, int64_t a, int64_t b)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t j = 0; j < d; j++) {
        double u = x[a * d + j], v = x[b * d + j];
        ab += u * v;
        aa += u * u;
        bb += v * v;
    }
    return ab / sqrt(aa * bb);
}

/* Sorted by similarity descending (ties: smaller id), never self, ids in
   range, similarities consistent with a double-precision recomputation. */
static void check_rows(const float *x, int64_t n, int64_t d, int32_t k,
                       int64_t lo, int64_t hi, const int32_t *nbr,
                       const float *sim)
{
    for (int64_t i = lo; i < hi; i++) {
        const int32_t *r = nbr + (i - lo) * k;
        const float *s = sim + (i - lo) * k;
        for (int32_t j = 0; j < k; j++) {
            assert_true(r[j] >= 0 && r[j] < n);
            assert_true(r[j] != i);
            assert_true(fabs(s[j] - cos_ref(x, d, i, r[j])) < 1e-5);
            if (j > 0) {
                assert_true(s[j - 1] >= s[j]);
                if (s[j - 1] == s[j])
                    assert_true(r[j - 1] < r[j]);
                assert_true(r[j - 1] != r[j]);
            }
        }
    }
}

typedef struct {
    double s;
    int32_t id;
} pair;

static int pair_cmp(const void *a, const void *b)
{
    const pair *p = a, *q = b;
    if (p->s != q->s)
        return p->s > q->s ? -1 : 1;
    return (p->id > q->id) - (p->id < q->id);
}

/* Row i must be the top k of `cand` (len ids) by double similarity: ids
   must agree except where the reference has near-ties. */
static void check_topk_of(const float *x, int64_t d, int64_t i,
                          const int32_t *cand, int64_t len, int32_t k,
                          const int32_t *row, const float *sim)
{
    pair *ps = malloc(sizeof *ps * (size_t)len);
    assert_non_null(ps);
    for (int64_t j = 0; j < len; j++) {
        ps[j].id = cand[j];
        ps[j].s = cos_ref(x, d, i, cand[j]);
    }
    qsort(ps, (size_t)len, sizeof *ps, pair_cmp);
    for (int32_t j = 0; j < k; j++) {
        assert_true(fabs(sim[j] - ps[j].s) < 1e-5);
        double gap_prev = j > 0 ? ps[j - 1].s - ps[j].s : 1.0;
        double gap_next = j + 1 < len ? ps[j].s - ps[j + 1].s : 1.0;
        if (gap_prev > 1e-5 && gap_next > 1e-5)
            assert_int_equal(row[j], ps[j].id);
    }
    free(ps);
}

static bs_graph *build_ok(const float *x, int64_t n, int64_t d,
                          const bs_graph_params *p)
{
    bs_graph *g = NULL;
    bs_error err;
    bs_status st = bs_graph_build(x, n, d, p, &g, &err);
    if (st != BS_OK)
        print_error("build failed: %s\n", err.msg);
    assert_int_equal(st, BS_OK);
    assert_non_null(g);
    assert_int_equal(bs_graph_n(g), n);
    assert_int_equal(bs_graph_k(g), p->k);
    return g;
}

static int graphs_equal(const bs_graph *a, const bs_graph *b)
{
    int64_t cells = bs_graph_n(a) * bs_graph_k(a);
    return bs_graph_n(a) == bs_graph_n(b) && bs_graph_k(a) == bs_graph_k(b) &&
           memcmp(bs_graph_neighbors(a, 0), bs_graph_neighbors(b, 0),
                  sizeof(int32_t) * (size_t)cells) == 0 &&
           memcmp(bs_graph_similarities(a, 0), bs_graph_similarities(b, 0),
                  sizeof(float) * (size_t)cells) == 0;
}

/* ------------------------------------------------------------------ tests */

static void test_key_order(void **state)
{
    (void)state;
    float v[] = {-INFINITY, -1.0f, -1e-30f, -0.0f, 0.0f, 1e-30f, 0.5f, 1.0f};
    for (int a = 0; a < 8; a++) {
        assert_true(bs__key_sim(bs__sim_key(v[a], 7)) == v[a]);
        assert_int_equal(bs__key_id(bs__sim_key(v[a], 7)), 7);
        for (int b = a + 1; b < 8; b++)
            assert_true(bs__sim_key(v[a], 0) > bs__sim_key(v[b], 0));
    }
    assert_true(bs__sim_key(0.5f, 3) < bs__sim_key(0.5f, 4));
}

/* The selection alone, on long rows with many ties and a masked entry. */
static void test_topk_select(void **state)
{
    (void)state;
    enum { LEN = 3001, K = 97 };
    float *s = malloc(sizeof(float) * LEN);
    int32_t *ids = malloc(sizeof(int32_t) * LEN);
    uint64_t *scratch = malloc(sizeof(uint64_t) * (LEN + K));
    uint64_t out[K], ref[LEN];
    for (int trial = 0; trial < 4; trial++) {
        for (int j = 0; j < LEN; j++) {
            ids[j] = (j * 7919 + trial) % LEN;
            /* trial 1 and 3: heavy ties */
            s[j] = (trial & 1) ? (float)((j * 31) % 17) / 17.0f
                               : sinf((float)(j * 13 + trial));
        }
        s[5] = -INFINITY;
        int64_t len = trial < 2 ? LEN : 200;
        bs__topk_select(s, len, ids, 0, K, scratch, out);
        int64_t c = 0;
        for (int64_t j = 0; j < len; j++)
            if (s[j] != -INFINITY)
                ref[c++] = bs__sim_key(s[j], ids[j]);
        for (int64_t a = 0; a < K; a++) /* selection sort of the top K */
            for (int64_t b = a + 1; b < c; b++)
                if (ref[b] < ref[a]) {
                    uint64_t t = ref[a];
                    ref[a] = ref[b];
                    ref[b] = t;
                }
        assert_memory_equal(out, ref, sizeof out);
    }
    free(s);
    free(ids);
    free(scratch);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t mix64(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The scalar and the AVX-512 top-K (where the CPU has it) against a qsort
   reference: many lengths and k, Gaussian-like and heavily tied values,
   +-0, masked (-inf) entries, explicit ids or base + j. */
static void test_topk_paths(void **state)
{
    (void)state;
    enum { MAXLEN = 3001 };
    float *s = malloc(sizeof(float) * MAXLEN);
    int32_t *ids = malloc(sizeof(int32_t) * MAXLEN);
    uint64_t *scratch = malloc(sizeof(uint64_t) * (MAXLEN + 300));
    uint64_t *ref = malloc(sizeof(uint64_t) * MAXLEN);
    uint64_t out[300];
    const int64_t lens[] = {1,   2,   7,   16,   17,   63,   64,   65,  100,
                            128, 129, 200, 255,  256,  257,  300,  511, 512,
                            513, 700, 999, 1001, 1024, 1500, 2048, 3001};
    const int32_t ks[] = {1,   5,   8,   31,  64,  65, 100,
                          112, 113, 128, 200, 240, 250};
    int simd = bs__cpu_has_avx512(), simd_used = 0;
    uint64_t st = 42;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (int kind = 0; kind < 5; kind++) {
                int64_t len = lens[li];
                int32_t k = ks[ki];
                for (int64_t j = 0; j < len; j++) {
                    double u = (double)(mix64(&st) >> 11) / 9007199254740992.0;
                    double g =
                        u + (double)(mix64(&st) >> 11) / 9007199254740992.0 +
                        (double)(mix64(&st) >> 11) / 9007199254740992.0 - 1.5;
                    ids[j] = (int32_t)(mix64(&st) % 1000000);
                    switch (kind) {
                    case 0: s[j] = (float)(0.3 * g); break; /* smooth */
                    case 1:
                        s[j] = (float)((int)(u * 9) - 4) / 4.0f;
                        break; /* ties */
                    case 2: s[j] = (mix64(&st) & 1) ? 0.0f : -0.0f; break;
                    case 3:
                        s[j] = (float)(u < 0.9 ? 0.1 * g : 0.9 + 0.01 * g);
                        break;
                    default: s[j] = (float)(u * u * u); break; /* skewed */
                    }
                }
                int64_t nfin = len;
                for (int64_t j = 3; j < len; j += 97) { /* masked entries */
                    s[j] = -INFINITY;
                    nfin--;
                }
                if (nfin < k)
                    continue;
                const int32_t *idp = (kind & 1) ? ids : NULL;
                int32_t base = (kind & 1) ? 0 : 1000 + (int32_t)len;
                int64_t c = 0;
                for (int64_t j = 0; j < len; j++)
                    if (s[j] != -INFINITY)
                        ref[c++] =
                            bs__sim_key(s[j], idp ? idp[j] : base + (int32_t)j);
                qsort(ref, (size_t)c, sizeof *ref, u64_cmp);
                for (int path = BS_TOPK_AUTO; path <= BS_TOPK_AVX512; path++) {
                    memset(out, 0xA5, sizeof out);
                    bs__topk_select_path(path, s, len, idp, base, k, scratch,
                                         out);
                    assert_memory_equal(out, ref, sizeof *out * (size_t)k);
                }
                if (simd) {
                    memset(out, 0xA5, sizeof out);
                    if (bs__topk_select_avx512(s, len, idp, base, k, out)) {
                        simd_used++;
                        assert_memory_equal(out, ref, sizeof *out * (size_t)k);
                        assert_true(out[k] == 0xA5A5A5A5A5A5A5A5ULL);
                    }
                }
            }
    if (simd) /* the SIMD path must not decline the common cases */
        assert_true(simd_used > 800);
    free(s);
    free(ids);
    free(scratch);
    free(ref);
}

static void test_exact_bruteforce(void **state)
{
    (void)state;
    /* 1100 rows cross both the 256-row blocks and the 1024-column chunks */
    int64_t n = 1100, d = 8;
    float *x = tu_clustered(n, d, 7, 0.6, 11, NULL);
    bs_graph_params p = params(BS_MODE_EXACT, 0, 12, 0, 0, 2);
    bs_graph *g = build_ok(x, n, d, &p);
    check_rows(x, n, d, p.k, 0, n, bs_graph_neighbors(g, 0),
               bs_graph_similarities(g, 0));
    int32_t *all = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i += 7) {
        int64_t c = 0;
        for (int64_t j = 0; j < n; j++)
            if (j != i)
                all[c++] = (int32_t)j;
        check_topk_of(x, d, i, all, c, p.k, bs_graph_neighbors(g, i),
                      bs_graph_similarities(g, i));
    }
    free(all);
    bs_graph_free(g);
    free(x);
}

/* K = n - 1: every other node, in order. */
static void test_exact_full(void **state)
{
    (void)state;
    int64_t n = 9, d = 3;
    float *x = tu_clustered(n, d, 2, 1.0, 5, NULL);
    bs_graph_params p = params(BS_MODE_EXACT, 0, 8, 0, 0, 1);
    bs_graph *g = build_ok(x, n, d, &p);
    check_rows(x, n, d, p.k, 0, n, bs_graph_neighbors(g, 0),
               bs_graph_similarities(g, 0));
    bs_graph_free(g);
    free(x);
}

/* M = n - 1: the sampled modes see every other node, like exact mode. */
static void test_all_candidates(void **state)
{
    (void)state;
    int64_t n = 70, d = 5;
    float *x = tu_clustered(n, d, 3, 1.0, 6, NULL);
    int32_t all[70];
    for (int mode = 0; mode < 3; mode++) {
        bs_graph_params p =
            params((bs_graph_mode)mode, n - 1, 6, 4, 16, mode + 1);
        bs_graph *g = build_ok(x, n, d, &p);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = 0;
            for (int64_t j = 0; j < n; j++)
                if (j != i)
                    all[c++] = (int32_t)j;
            check_topk_of(x, d, i, all, c, p.k, bs_graph_neighbors(g, i),
                          bs_graph_similarities(g, i));
        }
        bs_graph_free(g);
    }
    free(x);
}

static void check_candidates(int64_t n, const bs_graph_params *p, int64_t i,
                             int32_t *cand)
{
    bs_error err;
    assert_int_equal(bs__graph_candidates(n, p, i, cand, &err), BS_OK);
    char *seen = calloc((size_t)n, 1);
    for (int64_t j = 0; j < p->m; j++) {
        assert_true(cand[j] >= 0 && cand[j] < n);
        assert_true(cand[j] != i);
        assert_false(seen[cand[j]]);
        seen[cand[j]] = 1;
    }
    free(seen);
}

/* No self, no duplicates, and each other node is a candidate with
   probability M / (n-1): counts over many draws within 5 sigma. */
static void test_candidate_distribution(void **state)
{
    (void)state;
    int64_t n = 40, m = 9, draws = 0;
    int32_t cand[9];
    for (int mode = 0; mode < 2; mode++) {
        int64_t count[40] = {0};
        draws = 0;
        for (uint64_t seed = 0; seed < 150; seed++) {
            bs_graph_params p = params(
                mode ? BS_MODE_SHARED : BS_MODE_INDEPENDENT, m, 3, seed, 4, 1);
            for (int64_t i = 0; i < n; i += 3) {
                check_candidates(n, &p, i, cand);
                if (i == 3)
                    for (int64_t j = 0; j < m; j++)
                        count[cand[j]]++;
            }
            draws++;
        }
        double pr = (double)m / (double)(n - 1);
        double mean = draws * pr, sd = sqrt(draws * pr * (1 - pr));
        for (int64_t v = 0; v < n; v++)
            if (v != 3)
                assert_true(fabs((double)count[v] - mean) < 5 * sd);
        assert_int_equal(count[3], 0);
    }
    /* shared: rows of one block draw from one list, so their candidate sets
       differ by at most the row itself and the spare (M+1)-th id */
    bs_graph_params p = params(BS_MODE_SHARED, 30, 3, 9, 16, 1);
    int32_t a[30], b[30];
    check_candidates(200, &p, 33, a);
    check_candidates(200, &p, 40, b);
    int common = 0;
    for (int j = 0; j < 30; j++)
        for (int l = 0; l < 30; l++)
            common += a[j] == b[l];
    assert_true(common >= 29);
}

/* Sampled modes: each row is the top K of its documented candidates. */
static void test_sampled_topk(void **state)
{
    (void)state;
    int64_t n = 700, d = 8, m = 60;
    float *x = tu_clustered(n, d, 5, 0.8, 21, NULL);
    int32_t *cand = malloc(sizeof(int32_t) * (size_t)m);
    for (int mode = 0; mode < 2; mode++) {
        bs_graph_params p = params(mode ? BS_MODE_SHARED : BS_MODE_INDEPENDENT,
                                   m, 10, 3, 64, 2);
        bs_graph *g = build_ok(x, n, d, &p);
        check_rows(x, n, d, p.k, 0, n, bs_graph_neighbors(g, 0),
                   bs_graph_similarities(g, 0));
        for (int64_t i = 0; i < n; i++) {
            check_candidates(n, &p, i, cand);
            check_topk_of(x, d, i, cand, m, p.k, bs_graph_neighbors(g, i),
                          bs_graph_similarities(g, i));
        }
        bs_graph_free(g);
    }
    free(cand);
    free(x);
}

/* Default M and block on a larger n so the sampled threshold path runs. */
static void test_shared_defaults(void **state)
{
    (void)state;
    int64_t n = 1500, d = 16;
    float *x = tu_clustered(n, d, 10, 0.5, 4, NULL);
    bs_graph_params p;
    bs_graph_params_default(&p);
    p.threads = 2;
    bs_graph *g = build_ok(x, n, d, &p);
    int32_t *cand = malloc(sizeof(int32_t) * (size_t)p.m);
    for (int64_t i = 0; i < n; i += 97) {
        check_candidates(n, &p, i, cand);
        check_topk_of(x, d, i, cand, p.m, p.k, bs_graph_neighbors(g, i),
                      bs_graph_similarities(g, i));
    }
    bs_graph_params q;
    bs_graph_get_params(g, &q);
    assert_int_equal(q.mode, BS_MODE_SHARED);
    assert_int_equal(q.m, 1000);
    free(cand);
    bs_graph_free(g);
    free(x);
}

static void test_thread_invariance(void **state)
{
    (void)state;
    int64_t n = 1300, d = 12;
    float *x = tu_clustered(n, d, 6, 0.7, 8, NULL);
    for (int mode = 0; mode < 3; mode++) {
        bs_graph_params p = params((bs_graph_mode)mode, 200, 20, 77, 48, 1);
        bs_graph *g1 = build_ok(x, n, d, &p);
        p.threads = 2;
        bs_graph *g2 = build_ok(x, n, d, &p);
        p.threads = 3;
        bs_graph *g3 = build_ok(x, n, d, &p);
        assert_true(graphs_equal(g1, g2));
        assert_true(graphs_equal(g1, g3));
        bs_graph_free(g1);
        bs_graph_free(g2);
        bs_graph_free(g3);
    }
    free(x);
}

static void test_build_rows(void **state)
{
    (void)state;
    int64_t n = 1100, d = 6;
    float *x = tu_clustered(n, d, 4, 0.9, 12, NULL);
    int64_t ranges[][2] = {{0, 1100},  {5, 77},      {47, 49},     {255, 257},
                           {300, 301}, {1023, 1100}, {1097, 1100}, {9, 9}};
    for (int mode = 0; mode < 3; mode++) {
        bs_graph_params p = params((bs_graph_mode)mode, 100, 9, 5, 48, 2);
        bs_graph *g = build_ok(x, n, d, &p);
        for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
            int64_t lo = ranges[r][0], hi = ranges[r][1];
            size_t cells = (size_t)((hi - lo) * p.k) + 1;
            int32_t *nbr = malloc(sizeof(int32_t) * cells);
            float *sim = malloc(sizeof(float) * cells);
            bs_error err;
            p.threads = (int)r % 3 + 1;
            assert_int_equal(
                bs_graph_build_rows(x, n, d, &p, lo, hi, nbr, sim, &err),
                BS_OK);
            assert_memory_equal(nbr, bs_graph_neighbors(g, 0) + lo * p.k,
                                sizeof(int32_t) * (cells - 1));
            assert_memory_equal(sim, bs_graph_similarities(g, 0) + lo * p.k,
                                sizeof(float) * (cells - 1));
            /* sim may be NULL */
            assert_int_equal(
                bs_graph_build_rows(x, n, d, &p, lo, hi, nbr, NULL, &err),
                BS_OK);
            assert_memory_equal(nbr, bs_graph_neighbors(g, 0) + lo * p.k,
                                sizeof(int32_t) * (cells - 1));
            free(nbr);
            free(sim);
        }
        bs_graph_free(g);
    }
    free(x);
}

static void test_seeds(void **state)
{
    (void)state;
    int64_t n = 400, d = 5;
    float *x = tu_clustered(n, d, 3, 1.0, 2, NULL);
    for (int mode = 0; mode < 2; mode++) {
        bs_graph_params p = params((bs_graph_mode)mode, 30, 5, 1, 32, 2);
        bs_graph *a = build_ok(x, n, d, &p);
        bs_graph *b = build_ok(x, n, d, &p);
        p.seed = 2;
        bs_graph *c = build_ok(x, n, d, &p);
        assert_true(graphs_equal(a, b));
        assert_false(graphs_equal(a, c));
        bs_graph_free(a);
        bs_graph_free(b);
        bs_graph_free(c);
    }
    free(x);
}

static void expect_build_fails(const float *x, int64_t n, int64_t d,
                               const bs_graph_params *p, bs_status want,
                               const char *needle)
{
    bs_graph *g = (bs_graph *)(uintptr_t)1;
    bs_error err;
    bs_status st = bs_graph_build(x, n, d, p, &g, &err);
    tu_assert_fails(st, want, &err, needle);
    assert_null(g);
    int32_t nbr[64];
    st = bs_graph_build_rows(x, n, d, p, 0, 1, nbr, NULL, &err);
    tu_assert_fails(st, want, &err, needle);
}

static void test_rejections(void **state)
{
    (void)state;
    int64_t n = 50, d = 4;
    float *x = tu_clustered(n, d, 2, 0.5, 1, NULL);
    bs_graph_params p = params(BS_MODE_SHARED, 10, 3, 0, 0, 1);
    bs_error err;

    x[7 * d + 2] = NAN;
    expect_build_fails(x, n, d, &p, BS_ERR_DATA, "row 7 column 2");
    tu_assert_fails(bs_check_embeddings(x, n, d, &err), BS_ERR_DATA, &err,
                    "NaN");
    x[7 * d + 2] = -INFINITY;
    expect_build_fails(x, n, d, &p, BS_ERR_DATA, "row 7 column 2 is Inf");
    x[7 * d + 2] = 1.0f;
    memset(x + 31 * d, 0, sizeof(float) * (size_t)d);
    expect_build_fails(x, n, d, &p, BS_ERR_DATA, "row 31 is all zeros");
    x[31 * d] = 1e-3f;
    assert_int_equal(bs_check_embeddings(x, n, d, &err), BS_OK);

    expect_build_fails(x, n, 0, &p, BS_ERR_INVALID_ARG, "d >= 1");
    tu_assert_fails(bs_check_embeddings(x, n, 0, &err), BS_ERR_INVALID_ARG,
                    &err, "d >= 1");
    tu_assert_fails(bs_check_embeddings(NULL, n, d, &err), BS_ERR_INVALID_ARG,
                    &err, "NULL");
    expect_build_fails(NULL, n, d, &p, BS_ERR_INVALID_ARG, "NULL");
    p.m = 1;
    expect_build_fails(x, 1, d, &p, BS_ERR_INVALID_ARG, "2 <= n");
    p.m = 2;
    expect_build_fails(x, n, d, &p, BS_ERR_INVALID_ARG, "K = 3 > M = 2");
    p.m = 50;
    expect_build_fails(x, n, d, &p, BS_ERR_INVALID_ARG, "M < n");
    p.mode = BS_MODE_INDEPENDENT;
    expect_build_fails(x, n, d, &p, BS_ERR_INVALID_ARG, "M < n");
    p.mode = BS_MODE_EXACT;
    p.k = 50;
    expect_build_fails(x, n, d, &p, BS_ERR_INVALID_ARG, "K <= n - 1");
    p.k = 3;
    p.mode = (bs_graph_mode)7;
    expect_build_fails(x, n, d, &p, BS_ERR_INVALID_ARG, "graph mode 7");
    p.mode = BS_MODE_SHARED;
    p.m = 10;
    p.block = -1;
    expect_build_fails(x, n, d, &p, BS_ERR_INVALID_ARG, "block");
    p.block = 0;

    int32_t nbr[16];
    tu_assert_fails(bs_graph_build_rows(x, n, d, &p, 3, 2, nbr, NULL, &err),
                    BS_ERR_INVALID_ARG, &err, "rows [3, 2)");
    tu_assert_fails(bs_graph_build_rows(x, n, d, &p, 0, 51, nbr, NULL, &err),
                    BS_ERR_INVALID_ARG, &err, "rows [0, 51)");
    tu_assert_fails(bs_graph_build_rows(x, n, d, &p, 0, 2, NULL, NULL, &err),
                    BS_ERR_INVALID_ARG, &err, "nbr NULL");
    free(x);
}

/* Thread counts beyond BS_MAX_THREADS used to reach OpenMP, which crashed
   creating 100000 threads; every entry point must refuse them. */
static void test_threads_limit(void **state)
{
    (void)state;
    int64_t n = 50, d = 4;
    float *x = tu_clustered(n, d, 2, 0.5, 1, NULL);
    bs_error err;
    const int bad[] = {-1, BS_MAX_THREADS + 1, 100000, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bs_graph_params p = params(BS_MODE_SHARED, 10, 3, 0, 0, bad[i]);
        char needle[64];
        snprintf(needle, sizeof needle, "threads = %d: expected 0", bad[i]);
        tu_assert_fails(bs_graph_params_check(&p, n, &err), BS_ERR_INVALID_ARG,
                        &err, needle);
        expect_build_fails(x, n, d, &p, BS_ERR_INVALID_ARG, needle);
    }
    bs_graph_params p = params(BS_MODE_SHARED, 10, 3, 0, 0, BS_MAX_THREADS);
    assert_int_equal(bs_graph_params_check(&p, n, &err), BS_OK);
    free(x);
}

/* A row whose norm is below FLT_MIN (here: only subnormal values) is
   rejected as an all-zero row; it used to pass and get wrong similarities. */
static void test_underflow_rows(void **state)
{
    (void)state;
    int64_t n = 50, d = 4;
    float *x = tu_clustered(n, d, 2, 0.5, 1, NULL);
    bs_error err;
    for (int mode = 0; mode < 3; mode++) {
        bs_graph_params p = params((bs_graph_mode)mode, 10, 3, 0, 0, 2);
        for (int64_t j = 0; j < d; j++)
            x[17 * d + j] = 1e-40f * (float)(j + 1); /* subnormal */
        expect_build_fails(x, n, d, &p, BS_ERR_DATA,
                           "row 17 is all zeros to float precision");
        /* normal values but a norm just below FLT_MIN */
        for (int64_t j = 0; j < d; j++)
            x[17 * d + j] = j == 0 ? FLT_MIN * 0.99f : 0.0f;
        expect_build_fails(x, n, d, &p, BS_ERR_DATA, "row 17 is all zeros");
    }
    tu_assert_fails(bs_check_embeddings(x, n, d, &err), BS_ERR_DATA, &err,
                    "norm >= FLT_MIN");
    x[17 * d + 1] = FLT_MIN; /* norm now above FLT_MIN */
    assert_int_equal(bs_check_embeddings(x, n, d, &err), BS_OK);
    free(x);
}

/* A row just above the limit, mostly subnormal values, is accepted and
   gets the similarities of the same row scaled up by 2^125 (exactly). */
static void test_tiny_rows_accepted(void **state)
{
    (void)state;
    int64_t n = 60, d = 8, r = 23;
    float *x = tu_clustered(n, d, 3, 0.5, 4, NULL);
    float *big = malloc(sizeof *big * (size_t)(n * d));
    for (int64_t j = 0; j < d; j++)
        x[r * d + j] = ldexpf(x[r * d + j], -125);
    memcpy(big, x, sizeof *big * (size_t)(n * d));
    for (int64_t j = 0; j < d; j++)
        big[r * d + j] = ldexpf(x[r * d + j], 125);
    bs_graph_params p = params(BS_MODE_EXACT, 0, 5, 0, 0, 2);
    bs_graph *g = build_ok(x, n, d, &p), *h = build_ok(big, n, d, &p);
    const float *sg = bs_graph_similarities(g, 0),
                *sh = bs_graph_similarities(h, 0);
    for (int64_t i = 0; i < n * 5; i++)
        assert_true(fabsf(sg[i] - sh[i]) < 1e-5f);
    bs_graph_free(g);
    bs_graph_free(h);
    free(big);
    free(x);
}

typedef struct {
    int calls, cancel_at;
    int64_t last_done, total;
    int bad;
} prog;

static int on_progress(void *ctx, int64_t done, int64_t total)
{
    prog *pr = ctx;
    pr->calls++;
    if (done > total || done < pr->last_done ||
        (pr->total && total != pr->total))
        pr->bad = 1;
    pr->last_done = done;
    pr->total = total;
    return pr->calls == pr->cancel_at;
}

static void test_progress_cancel(void **state)
{
    (void)state;
    int64_t n = 3000, d = 4;
    float *x = tu_clustered(n, d, 3, 1.0, 3, NULL);
    for (int mode = 0; mode < 3; mode++) {
        bs_graph_params p = params((bs_graph_mode)mode, 40, 4, 0, 8, 2);
        prog pr = {0, 0, 0, 0, 0};
        p.progress = on_progress;
        p.progress_ctx = &pr;
        bs_graph *g = build_ok(x, n, d, &p);
        assert_true(pr.calls >= 2 && pr.calls <= 200);
        assert_false(pr.bad);
        assert_int_equal(pr.last_done, pr.total);
        bs_graph_params q;
        bs_graph_get_params(g, &q);
        assert_null(q.progress);
        bs_graph_free(g);

        prog stop = {0, 2, 0, 0, 0};
        p.progress_ctx = &stop;
        g = (bs_graph *)(uintptr_t)1;
        bs_error err;
        tu_assert_fails(bs_graph_build(x, n, d, &p, &g, &err), BS_ERR_CANCELLED,
                        &err, "cancelled");
        assert_null(g);
        assert_int_equal(stop.calls, 2);
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_topk_select),
        cmocka_unit_test(test_topk_paths),
        cmocka_unit_test(test_exact_bruteforce),
        cmocka_unit_test(test_exact_full),
        cmocka_unit_test(test_all_candidates),
        cmocka_unit_test(test_candidate_distribution),
        cmocka_unit_test(test_sampled_topk),
        cmocka_unit_test(test_shared_defaults),
        cmocka_unit_test(test_thread_invariance),
        cmocka_unit_test(test_build_rows),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_threads_limit),
        cmocka_unit_test(test_underflow_rows),
        cmocka_unit_test(test_tiny_rows_accepted),
        cmocka_unit_test(test_progress_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
