/*
 * metrics.c — hardness and false-negative rate of batches.
 *
 * Cosines are computed in double from the float rows, each row normalised
 * once per batch, so results do not depend on the thread count: per-batch
 * results go into an array and are summed serially in batch order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "internal.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bs_status check_inputs(const float *x, int64_t n, int64_t d,
                              const int64_t *batch, int64_t b, bs_error *err)
{
    if (!x || !batch || n < 1 || d < 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batch stats: x = %p, batch = %p, n = %lld, d = %lld: "
                        "expected non-NULL arrays, n >= 1, d >= 1",
                        (const void *)x, (const void *)batch, (long long)n,
                        (long long)d);
    if (b < 2 || b > n)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batch of b = %lld ids over n = %lld: expected "
                        "2 <= b <= n",
                        (long long)b, (long long)n);
    for (int64_t i = 0; i < b; i++)
        if (batch[i] < 0 || batch[i] >= n)
            return bs__fail(err, BS_ERR_INVALID_ARG,
                            "batch position %lld holds id %lld: expected "
                            "0 <= id < n = %lld",
                            (long long)i, (long long)batch[i], (long long)n);
    return BS_OK;
}

static bs_status check_distinct(const int64_t *batch, int64_t b, bs_error *err)
{
    int64_t *c = bs__malloc_array((size_t)b, sizeof *c);
    if (!c)
        return bs__fail(err, BS_ERR_NOMEM, "batch stats: out of memory");
    memcpy(c, batch, (size_t)b * sizeof *c);
    qsort(c, (size_t)b, sizeof *c, cmp_i64);
    int64_t dup = -1;
    for (int64_t i = 1; i < b && dup < 0; i++)
        if (c[i] == c[i - 1])
            dup = c[i];
    free(c);
    if (dup >= 0)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batch holds id %lld more than once: expected "
                        "distinct ids",
                        (long long)dup);
    return BS_OK;
}

/* Copies the batch's rows into u (b x d doubles), scaled to unit norm. */
static bs_status normalise_rows(const float *x, int64_t d, const int64_t *batch,
                                int64_t b, double *u, bs_error *err)
{
    for (int64_t i = 0; i < b; i++) {
        const float *row = x + batch[i] * d;
        double *o = u + i * d, ss = 0;
        for (int64_t j = 0; j < d; j++) {
            if (!isfinite(row[j]))
                return bs__fail(err, BS_ERR_DATA,
                                "embeddings: row %lld column %lld is %g: "
                                "expected a finite value",
                                (long long)batch[i], (long long)j,
                                (double)row[j]);
            o[j] = row[j];
            ss += o[j] * o[j];
        }
        if (!(ss > 0) || !isfinite(ss))
            return bs__fail(err, BS_ERR_DATA,
                            "embeddings: row %lld has norm %g: cosine needs a "
                            "non-zero, finite row",
                            (long long)batch[i], sqrt(ss));
        double inv = 1.0 / sqrt(ss);
        for (int64_t j = 0; j < d; j++)
            o[j] *= inv;
    }
    return BS_OK;
}

static double dot(const double *a, const double *b, int64_t d)
{
    double s = 0;
    for (int64_t j = 0; j < d; j++)
        s += a[j] * b[j];
    return s;
}

/* The pairwise sums over unit rows u; hardest[i] tracks each anchor's max. */
static void pair_stats(const double *u, int64_t d, const int64_t *batch,
                       int64_t b, const int64_t *labels, double *hardest,
                       bs_batch_stats *out)
{
    double sum = 0, mx = -INFINITY;
    int64_t same = 0;
    for (int64_t i = 0; i < b; i++)
        hardest[i] = -INFINITY;
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = i + 1; j < b; j++) {
            double c = dot(u + i * d, u + j * d, d);
            sum += c;
            mx = c > mx ? c : mx;
            hardest[i] = c > hardest[i] ? c : hardest[i];
            hardest[j] = c > hardest[j] ? c : hardest[j];
            if (labels && labels[batch[i]] == labels[batch[j]])
                same++;
        }
    double hsum = 0;
    for (int64_t i = 0; i < b; i++)
        hsum += hardest[i];
    out->pairs = b * (b - 1) / 2;
    out->mean_sim = sum / (double)out->pairs;
    out->max_sim = mx;
    out->mean_max_sim = hsum / (double)b;
    out->fn_rate = labels ? (double)same / (double)out->pairs : -1.0;
}

bs_status bs_batch_stats_compute(const float *x, int64_t n, int64_t d,
                                 const int64_t *batch, int64_t b,
                                 const int64_t *labels, bs_batch_stats *out,
                                 bs_error *err)
{
    if (!out)
        return bs__fail(err, BS_ERR_INVALID_ARG, "batch stats: out is NULL");
    bs_status st = check_inputs(x, n, d, batch, b, err);
    if (st == BS_OK)
        st = check_distinct(batch, b, err);
    if (st != BS_OK)
        return st;
    size_t cells;
    double *u = NULL, *hardest = bs__malloc_array((size_t)b, sizeof *hardest);
    if (bs__mul_size((size_t)b, (size_t)d, &cells))
        u = bs__malloc_array(cells, sizeof *u);
    if (!u || !hardest) {
        st = bs__fail(err, BS_ERR_NOMEM,
                      "batch stats: out of memory for a "
                      "%lld x %lld batch",
                      (long long)b, (long long)d);
    } else if ((st = normalise_rows(x, d, batch, b, u, err)) == BS_OK) {
        pair_stats(u, d, batch, b, labels, hardest, out);
        bs__ok(err);
    }
    free(u);
    free(hardest);
    return st;
}

/* Appearance counts of every instance over all batches (ids validated). */
static bs_status count_appearances(int64_t n, const int64_t *batches,
                                   int64_t total, bs_run_stats *out,
                                   bs_error *err)
{
    int64_t *cnt = bs__calloc_array((size_t)n, sizeof *cnt);
    if (!cnt)
        return bs__fail(err, BS_ERR_NOMEM, "run stats: out of memory");
    for (int64_t i = 0; i < total; i++)
        cnt[batches[i]]++;
    out->count_min = INT64_MAX;
    out->count_max = 0;
    out->never_seen = 0;
    for (int64_t i = 0; i < n; i++) {
        out->count_min = cnt[i] < out->count_min ? cnt[i] : out->count_min;
        out->count_max = cnt[i] > out->count_max ? cnt[i] : out->count_max;
        out->never_seen += cnt[i] == 0;
    }
    out->count_mean = (double)total / (double)n;
    free(cnt);
    return BS_OK;
}

static void average(const bs_batch_stats *per, int64_t nb, int labelled,
                    bs_run_stats *out)
{
    double ms = 0, mm = 0, fn = 0, mx = -INFINITY;
    for (int64_t i = 0; i < nb; i++) { /* serial: fixed summation order */
        ms += per[i].mean_sim;
        mm += per[i].mean_max_sim;
        fn += per[i].fn_rate;
        mx = per[i].max_sim > mx ? per[i].max_sim : mx;
    }
    out->batches = nb;
    out->mean_sim = ms / (double)nb;
    out->max_sim = mx;
    out->mean_max_sim = mm / (double)nb;
    out->fn_rate = labelled ? fn / (double)nb : -1.0;
}

/* Per-batch stats in parallel; returns the index of the first failing batch
   (or -1).  A failing batch's message is recomputed serially by the caller,
   so the error reported never depends on thread timing. */
static int64_t per_batch(const float *x, int64_t n, int64_t d,
                         const int64_t *batches, int64_t nb, int64_t b,
                         const int64_t *labels, int threads,
                         bs_batch_stats *per)
{
    int64_t first_bad = nb;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)             \
    reduction(min                                                              \
              : first_bad)
    for (int64_t i = 0; i < nb; i++)
        if (bs_batch_stats_compute(x, n, d, batches + i * b, b, labels, &per[i],
                                   NULL) != BS_OK)
            first_bad = i < first_bad ? i : first_bad;
    return first_bad < nb ? first_bad : -1;
}

bs_status bs_run_stats_compute(const float *x, int64_t n, int64_t d,
                               const int64_t *batches, int64_t nb, int64_t b,
                               const int64_t *labels, int threads,
                               bs_run_stats *out, bs_error *err)
{
    if (!out || !batches || nb < 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "run stats: nb = %lld: expected non-NULL batches "
                        "and out, nb >= 1",
                        (long long)nb);
    if (threads < 0 || threads > BS_MAX_THREADS)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "run stats: threads = %d: expected 0 (OpenMP "
                        "default) to %d",
                        threads, BS_MAX_THREADS);
    size_t total;
    if (b < 1 || !bs__mul_size((size_t)nb, (size_t)b, &total))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "run stats: %lld batches of %lld ids: too many or "
                        "too few",
                        (long long)nb, (long long)b);
    bs_batch_stats *per = bs__malloc_array((size_t)nb, sizeof *per);
    if (!per)
        return bs__fail(err, BS_ERR_NOMEM, "run stats: out of memory");
    int64_t bad = per_batch(x, n, d, batches, nb, b, labels,
                            threads > 0 ? threads : omp_get_max_threads(), per);
    bs_status st = BS_OK;
    bs_run_stats r;
    if (bad >= 0) {
        bs_batch_stats tmp;
        bs_error e;
        st = bs_batch_stats_compute(x, n, d, batches + bad * b, b, labels, &tmp,
                                    &e);
        bs__fail(err, st, "run stats: batch %lld: %s", (long long)bad, e.msg);
    } else {
        average(per, nb, labels != NULL, &r);
        st = count_appearances(n, batches, (int64_t)total, &r, err);
    }
    free(per);
    if (st == BS_OK) {
        *out = r;
        bs__ok(err);
    }
    return st;
}
