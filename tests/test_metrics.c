/* test_metrics.c — batch and run statistics against hand-computed values. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-6

/* 2-d rows: 0 = (1,0), 1 = (0,1), 2 = (1,1), 3 = (2,0) (the direction of
   0), 4 = (0,0) (unusable); labels 0,1,0,0,1. */
static const float X2[] = {1, 0, 0, 1, 1, 1, 2, 0, 0, 0};
static const int64_t Y2[] = {0, 1, 0, 0, 1};

static void test_batch_2d(void **state)
{
    (void)state;
    bs_batch_stats s;
    bs_error e;
    const int64_t b1[] = {0, 1, 2};
    assert_int_equal(bs_batch_stats_compute(X2, 5, 2, b1, 3, Y2, &s, &e),
                     BS_OK);
    /* cos(0,1) = 0, cos(0,2) = cos(1,2) = 1/sqrt2 */
    assert_int_equal(s.pairs, 3);
    assert_true(fabs(s.mean_sim - sqrt(2.0) / 3) < EPS);
    assert_true(fabs(s.max_sim - 1 / sqrt(2.0)) < EPS);
    assert_true(fabs(s.mean_max_sim - 1 / sqrt(2.0)) < EPS);
    assert_true(fabs(s.fn_rate - 1.0 / 3) < EPS); /* only (0,2) agree */

    const int64_t b2[] = {0, 3, 1};
    assert_int_equal(bs_batch_stats_compute(X2, 5, 2, b2, 3, NULL, &s, &e),
                     BS_OK);
    /* cos(0,3) = 1, the others 0; hardest: 1, 1, 0 */
    assert_true(fabs(s.mean_sim - 1.0 / 3) < EPS);
    assert_true(fabs(s.max_sim - 1.0) < EPS);
    assert_true(fabs(s.mean_max_sim - 2.0 / 3) < EPS);
    assert_true(s.fn_rate == -1.0);
}

static void test_batch_3d(void **state)
{
    (void)state;
    /* three axes and the diagonal (scaled: cosine ignores the norm) */
    const float x[] = {3, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1};
    const int64_t labels[] = {5, 5, 5, 5};
    const int64_t b[] = {3, 0, 1, 2};
    bs_batch_stats s;
    assert_int_equal(bs_batch_stats_compute(x, 4, 3, b, 4, labels, &s, NULL),
                     BS_OK);
    double r = 1 / sqrt(3.0);
    assert_int_equal(s.pairs, 6);
    assert_true(fabs(s.mean_sim - 3 * r / 6) < EPS);
    assert_true(fabs(s.max_sim - r) < EPS);
    assert_true(fabs(s.mean_max_sim - r) < EPS);
    assert_true(fabs(s.fn_rate - 1.0) < EPS);
}

static void test_run_stats(void **state)
{
    (void)state;
    const int64_t batches[] = {0, 1, 2, 0, 3, 1};
    bs_run_stats r;
    bs_error e;
    assert_int_equal(
        bs_run_stats_compute(X2, 5, 2, batches, 2, 3, Y2, 2, &r, &e), BS_OK);
    assert_int_equal(r.batches, 2);
    assert_true(fabs(r.mean_sim - (sqrt(2.0) / 3 + 1.0 / 3) / 2) < EPS);
    assert_true(fabs(r.max_sim - 1.0) < EPS);
    assert_true(fabs(r.mean_max_sim - (1 / sqrt(2.0) + 2.0 / 3) / 2) < EPS);
    assert_true(fabs(r.fn_rate - 1.0 / 3) < EPS);
    assert_int_equal(r.count_min, 0);
    assert_int_equal(r.count_max, 2);
    assert_true(fabs(r.count_mean - 6.0 / 5) < EPS);
    assert_int_equal(r.never_seen, 1);
    assert_int_equal(
        bs_run_stats_compute(X2, 5, 2, batches, 2, 3, NULL, 0, &r, &e), BS_OK);
    assert_true(r.fn_rate == -1.0);
}

static void test_run_stats_threads(void **state)
{
    (void)state;
    const int64_t n = 400, d = 16, b = 20, nb = 40;
    int64_t *labels = malloc(sizeof *labels * (size_t)n);
    float *x = tu_clustered(n, d, 5, 0.5, 3, labels);
    int64_t *ids = malloc(sizeof *ids * (size_t)(nb * b));
    for (int64_t i = 0; i < nb; i++)
        for (int64_t j = 0; j < b; j++)
            ids[i * b + j] = (i * 7 + j * 19) % n;
    bs_run_stats r1, r3;
    assert_int_equal(
        bs_run_stats_compute(x, n, d, ids, nb, b, labels, 1, &r1, NULL), BS_OK);
    assert_int_equal(
        bs_run_stats_compute(x, n, d, ids, nb, b, labels, 3, &r3, NULL), BS_OK);
    assert_memory_equal(&r1, &r3, sizeof r1);
    free(labels);
    free(x);
    free(ids);
}

/* Metrics normalise in double, where floats of any size square exactly:
   a row of subnormal values (which the graph build rejects, its float
   GEMMs would underflow) gets exactly the cosines of the same row scaled
   up by 2^140. */
static void test_subnormal_rows(void **state)
{
    (void)state;
    float tiny[10], big[10];
    memcpy(tiny, X2, sizeof tiny);
    tiny[4] = ldexpf(1.0f, -140); /* row 2 = (1, 1) * 2^-140, subnormal */
    tiny[5] = ldexpf(1.0f, -140);
    memcpy(big, X2, sizeof big);
    const int64_t b[] = {0, 1, 2};
    bs_batch_stats st, sb;
    assert_int_equal(bs_batch_stats_compute(tiny, 5, 2, b, 3, Y2, &st, NULL),
                     BS_OK);
    assert_int_equal(bs_batch_stats_compute(big, 5, 2, b, 3, Y2, &sb, NULL),
                     BS_OK);
    assert_memory_equal(&st, &sb, sizeof st);
}

static void test_rejections(void **state)
{
    (void)state;
    bs_batch_stats s;
    bs_run_stats r;
    bs_error e;
    const int64_t one[] = {0}, dup[] = {0, 2, 0}, far[] = {0, 5},
                  neg[] = {-1, 0}, zero[] = {0, 4};
    tu_assert_fails(bs_batch_stats_compute(X2, 5, 2, one, 1, NULL, &s, &e),
                    BS_ERR_INVALID_ARG, &e, "b = 1");
    tu_assert_fails(bs_batch_stats_compute(X2, 5, 2, dup, 3, NULL, &s, &e),
                    BS_ERR_INVALID_ARG, &e, "more than once");
    tu_assert_fails(bs_batch_stats_compute(X2, 5, 2, far, 2, NULL, &s, &e),
                    BS_ERR_INVALID_ARG, &e, "id 5");
    tu_assert_fails(bs_batch_stats_compute(X2, 5, 2, neg, 2, NULL, &s, &e),
                    BS_ERR_INVALID_ARG, &e, "id -1");
    tu_assert_fails(bs_batch_stats_compute(X2, 5, 2, zero, 2, NULL, &s, &e),
                    BS_ERR_DATA, &e, "row 4");
    float bad[10];
    memcpy(bad, X2, sizeof bad);
    bad[3] = NAN;
    tu_assert_fails(bs_batch_stats_compute(bad, 5, 2, far, 2, NULL, &s, &e),
                    BS_ERR_INVALID_ARG, &e, NULL);
    const int64_t ok[] = {0, 1};
    tu_assert_fails(bs_batch_stats_compute(bad, 5, 2, ok, 2, NULL, &s, &e),
                    BS_ERR_DATA, &e, "row 1 column 1");
    bad[3] = INFINITY;
    tu_assert_fails(bs_batch_stats_compute(bad, 5, 2, ok, 2, NULL, &s, &e),
                    BS_ERR_DATA, &e, "finite");
    tu_assert_fails(bs_batch_stats_compute(NULL, 5, 2, ok, 2, NULL, &s, &e),
                    BS_ERR_INVALID_ARG, &e, NULL);
    tu_assert_fails(bs_batch_stats_compute(X2, 5, 2, ok, 2, NULL, NULL, &e),
                    BS_ERR_INVALID_ARG, &e, NULL);
    tu_assert_fails(bs_batch_stats_compute(X2, 5, 0, ok, 2, NULL, &s, &e),
                    BS_ERR_INVALID_ARG, &e, "d = 0");

    const int64_t bb[] = {0, 1, 2, 0, 4, 1};
    tu_assert_fails(bs_run_stats_compute(X2, 5, 2, bb, 2, 3, NULL, 2, &r, &e),
                    BS_ERR_DATA, &e, "batch 1");
    const int64_t bd[] = {0, 1, 2, 0, 1, 1};
    tu_assert_fails(bs_run_stats_compute(X2, 5, 2, bd, 2, 3, NULL, 2, &r, &e),
                    BS_ERR_INVALID_ARG, &e, "batch 1");
    tu_assert_fails(bs_run_stats_compute(X2, 5, 2, bb, 0, 3, NULL, 2, &r, &e),
                    BS_ERR_INVALID_ARG, &e, "nb = 0");
    tu_assert_fails(bs_run_stats_compute(X2, 5, 2, bb, 2, 3, NULL, -1, &r, &e),
                    BS_ERR_INVALID_ARG, &e, "threads = -1");
    /* these reached OpenMP, which crashed creating 100000 threads */
    const int many[] = {BS_MAX_THREADS + 1, 100000, INT32_MAX};
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "threads = %d: expected 0", many[i]);
        tu_assert_fails(
            bs_run_stats_compute(X2, 5, 2, bb, 2, 3, NULL, many[i], &r, &e),
            BS_ERR_INVALID_ARG, &e, needle);
    }
    tu_assert_fails(bs_run_stats_compute(X2, 5, 2, bb, 3, 1, NULL, 1, &r, &e),
                    BS_ERR_INVALID_ARG, &e, "b = 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_2d),
        cmocka_unit_test(test_batch_3d),
        cmocka_unit_test(test_run_stats),
        cmocka_unit_test(test_run_stats_threads),
        cmocka_unit_test(test_subnormal_rows),
        cmocka_unit_test(test_rejections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
