/*
 * embstore.c — the embedding store: the latest n x d projections, updated
 * row by row during training and read back for graph refreshes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embstore_impl.h"
#include "internal.h"

struct bs_embstore {
    int64_t n, d;
    float *x;          /* n*d, row-major */
    uint8_t *written;  /* n flags: row written at least once */
    int64_t n_written; /* flags set */
    uint64_t version;  /* successful non-empty updates */
};

bs_status bs_embstore_create(int64_t n, int64_t d, const float *init,
                             bs_embstore **out, bs_error *err)
{
    if (!out)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "embedding store: output pointer is NULL");
    *out = NULL;
    size_t cells;
    if (n < 1 || d < 1 || !bs__mul_size((size_t)n, (size_t)d, &cells) ||
        cells > SIZE_MAX / sizeof(float))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "embedding store of %lld x %lld: expected n >= 1, "
                        "d >= 1 and n*d floats addressable",
                        (long long)n, (long long)d);
    bs_embstore *s = calloc(1, sizeof *s);
    if (s) {
        s->x = init ? bs__malloc_array(cells, sizeof(float))
                    : bs__calloc_array(cells, sizeof(float));
        s->written = calloc((size_t)n, 1);
    }
    if (!s || !s->x || !s->written) {
        bs_embstore_free(s);
        return bs__fail(err, BS_ERR_NOMEM,
                        "embedding store of %lld x %lld: out of memory",
                        (long long)n, (long long)d);
    }
    if (init) {
        memcpy(s->x, init, cells * sizeof(float));
        memset(s->written, 1, (size_t)n);
        s->n_written = n;
    }
    s->n = n;
    s->d = d;
    *out = s;
    return BS_OK;
}

void bs_embstore_free(bs_embstore *s)
{
    if (!s)
        return;
    free(s->x);
    free(s->written);
    free(s);
}

bs_status bs_embstore_update(bs_embstore *s, const int64_t *idx, int64_t count,
                             const float *rows, bs_error *err)
{
    if (!s)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "embedding store update: store is NULL");
    if (count < 0)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "embedding store update: count = %lld: expected >= 0",
                        (long long)count);
    if (count > 0 && (!idx || !rows))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "embedding store update: %s is NULL with count = %lld",
                        idx ? "rows" : "idx", (long long)count);
    /* all ids first, so a bad one leaves the store exactly as it was */
    for (int64_t i = 0; i < count; i++)
        if (idx[i] < 0 || idx[i] >= s->n)
            return bs__fail(err, BS_ERR_INVALID_ARG,
                            "embedding store update: idx[%lld] = %lld: "
                            "expected 0 <= id < n = %lld",
                            (long long)i, (long long)idx[i], (long long)s->n);
    for (int64_t i = 0; i < count * s->d; i++)
        if (!isfinite(rows[i]))
            return bs__fail(err, BS_ERR_DATA,
                            "embedding store update: row %lld (id %lld) "
                            "column %lld is %s: expected finite values",
                            (long long)(i / s->d), (long long)idx[i / s->d],
                            (long long)(i % s->d),
                            isnan(rows[i]) ? "NaN" : "infinite");
    size_t row = (size_t)s->d * sizeof(float);
    for (int64_t i = 0; i < count; i++) {
        memcpy(s->x + idx[i] * s->d, rows + i * s->d, row);
        s->n_written += !s->written[idx[i]];
        s->written[idx[i]] = 1;
    }
    s->version += count > 0;
    return BS_OK;
}

int64_t bs_embstore_written(const bs_embstore *s)
{
    return s ? s->n_written : 0;
}

int bs_embstore_row_written(const bs_embstore *s, int64_t i)
{
    return s && i >= 0 && i < s->n && s->written[i];
}

uint64_t bs_embstore_version(const bs_embstore *s)
{
    return s ? s->version : 0;
}

const uint8_t *bs__embstore_written_flags(const bs_embstore *s)
{
    return s->written;
}

bs_status bs__embstore_restore(bs_embstore *s, const float *x,
                               const uint8_t *written, uint64_t version,
                               bs_error *err)
{
    int64_t count = 0;
    for (int64_t i = 0; i < s->n; i++) {
        if (written[i] > 1)
            return bs__fail(err, BS_ERR_FORMAT,
                            "embedding store state: written flag of row "
                            "%lld is %u, expected 0 or 1",
                            (long long)i, (unsigned)written[i]);
        count += written[i];
    }
    memcpy(s->x, x, sizeof(float) * (size_t)s->n * (size_t)s->d);
    memcpy(s->written, written, (size_t)s->n);
    s->n_written = count;
    s->version = version;
    return BS_OK;
}

const float *bs_embstore_data(const bs_embstore *s)
{
    return s ? s->x : NULL;
}
int64_t bs_embstore_n(const bs_embstore *s)
{
    return s ? s->n : 0;
}
int64_t bs_embstore_d(const bs_embstore *s)
{
    return s ? s->d : 0;
}
