/*
 * fuzz_npy.c — libFuzzer target for the .npy reader.
 *
 * Every input goes through bs_npy_read_mem; it is also written to a file
 * and read by the streaming bs_npy_read, bs_npy_load_matrix and
 * bs_npy_load_labels, which must agree with the memory reader (same status,
 * same array).  A disagreement or an inconsistent result aborts, which
 * libFuzzer reports as a crash.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchsampler.h"
#include "fuzz_check.h"

/* Touches every byte of the array so ASan sees a short allocation. */
static unsigned touch(const bs_array *a)
{
    size_t bytes = (size_t)bs_array_size(a) * bs_dtype_size(a->dtype);
    const unsigned char *p = a->data;
    unsigned sum = 0;
    for (size_t i = 0; i < bytes; i++)
        sum += p[i];
    return sum;
}

/* The loaders over the file must agree with what the memory reader found. */
static void check_loaders(const char *path, bs_status st, const bs_array *a)
{
    bs_error err;
    float *x;
    int64_t n, d, *y;
    bs_status sm = bs_npy_load_matrix(path, &x, &n, &d, &err);
    int matrix = st == BS_OK && a->ndim == 2 &&
                 (a->dtype == BS_DTYPE_F32 || a->dtype == BS_DTYPE_F64);
    if (sm == BS_OK) {
        CHECK(matrix && n == a->shape[0] && d == a->shape[1]);
        for (int64_t i = 0; i < n * d; i++) {
            double v = a->dtype == BS_DTYPE_F32 ? ((float *)a->data)[i]
                                                : ((double *)a->data)[i];
            CHECK(isnan(v) ? isnan(x[i]) : x[i] == (float)v);
        }
        free(x);
    } else {
        check_msg(&err);
        CHECK(x == NULL);
    }
    bs_status sl = bs_npy_load_labels(path, &y, &n, &err);
    int labels = st == BS_OK && a->ndim == 1 &&
                 (a->dtype == BS_DTYPE_I32 || a->dtype == BS_DTYPE_I64);
    CHECK((sl == BS_OK) == labels);
    if (sl == BS_OK) {
        CHECK(n == a->shape[0]);
        for (int64_t i = 0; i < n; i++)
            CHECK(y[i] == (a->dtype == BS_DTYPE_I32 ? ((int32_t *)a->data)[i]
                                                    : ((int64_t *)a->data)[i]));
        free(y);
    }
}

/* Reads the same bytes through a file (skipped if none can be made). */
static void differential(const uint8_t *data, size_t size, bs_status st,
                         const bs_array *a)
{
    char path[64];
    if (!write_scratch("fuzz_npy.npy", data, size, path, sizeof path))
        return;
    bs_array b;
    bs_error err;
    bs_status sf = bs_npy_read(path, &b, &err);
    CHECK(sf == st);
    if (sf == BS_OK) {
        CHECK(b.dtype == a->dtype && b.ndim == a->ndim);
        CHECK(memcmp(b.shape, a->shape, sizeof b.shape) == 0);
        CHECK(memcmp(b.data, a->data,
                     (size_t)bs_array_size(a) * bs_dtype_size(a->dtype)) == 0);
        bs_array_free(&b);
    }
    check_loaders(path, st, a);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bs_array a;
    bs_error err;
    bs_status st = bs_npy_read_mem(data, size, "fuzz", &a, &err);
    if (st == BS_OK) {
        CHECK(a.ndim >= 0 && a.ndim <= BS_NPY_MAX_NDIM && a.data != NULL);
        CHECK(bs_dtype_size(a.dtype) != 0);
        (void)touch(&a);
    } else {
        CHECK(st == BS_ERR_FORMAT || st == BS_ERR_NOMEM);
        CHECK(a.data == NULL);
        check_msg(&err);
    }
    differential(data, size, st, &a);
    bs_array_free(&a);
    return 0;
}
