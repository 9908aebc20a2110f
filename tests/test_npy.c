/*
 * test_npy.c — .npy reading, writing and every rejection of bs_npy_*.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3)) with numpy 1.x,
   byte for byte: version 1.0, header padded to 64 bytes. */
static const char numpy_f4_2x3[] =
    "\x93NUMPY\x01\x00\x76\x00"
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    "                             "
    "                             "
    "\n"
    "\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x40"
    "\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40";
#define NUMPY_F4_2X3_LEN 152 /* 128 bytes of header, 24 of data */

/* ------------------------------------------------------------ helpers */

/* A .npy blob: version major.0, header text as given (no padding added),
   then `dlen` bytes of data.  malloc'ed; *len receives its size. */
static unsigned char *make_npy(int major, const char *dict, const void *data,
                               size_t dlen, size_t *len)
{
    size_t hl = strlen(dict), pre = major == 1 ? 10 : 12;
    unsigned char *b = malloc(pre + hl + dlen + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    b[8] = (unsigned char)hl;
    b[9] = (unsigned char)(hl >> 8);
    if (pre == 12) {
        b[10] = (unsigned char)(hl >> 16);
        b[11] = (unsigned char)(hl >> 24);
    }
    memcpy(b + pre, dict, hl);
    if (dlen)
        memcpy(b + pre + hl, data, dlen);
    *len = pre + hl + dlen;
    return b;
}

/* Asserts that both readers (file and memory) reject blob with `code` and a
   message containing `needle`, and leave the output empty. */
static void both_reject(const void *blob, size_t len, bs_status code,
                        const char *needle)
{
    char path[512];
    tu_tmp_path(path, sizeof path, "reject.npy");
    tu_write_bytes(path, blob, len);
    bs_error err;
    bs_array a;
    memset(&a, 0x5a, sizeof a);
    tu_assert_fails(bs_npy_read(path, &a, &err), code, &err, needle);
    assert_null(a.data);
    assert_non_null(strstr(err.msg, path)); /* names the source */
    memset(&a, 0x5a, sizeof a);
    tu_assert_fails(bs_npy_read_mem(blob, len, "blob", &a, &err), code, &err,
                    needle);
    assert_null(a.data);
    assert_non_null(strstr(err.msg, "blob:"));
    unlink(path);
}

/* A header dict with the given descr / shape, v1, with matching data. */
static void reject_dict(const char *dict, size_t dlen, bs_status code,
                        const char *needle)
{
    unsigned char *data = calloc(1, dlen + 1);
    size_t len;
    unsigned char *b = make_npy(1, dict, data, dlen, &len);
    both_reject(b, len, code, needle);
    free(b);
    free(data);
}

/* Fills n elements of dtype t with values that differ per element and use
   the whole width (negatives, fractions, large magnitudes). */
static void fill(bs_dtype t, void *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case BS_DTYPE_F32: ((float *)p)[i] = (float)(i * 1.25 - 3.0); break;
        case BS_DTYPE_F64: ((double *)p)[i] = i * 1e200 - 0.1; break;
        case BS_DTYPE_I32:
            ((int32_t *)p)[i] = (int32_t)(i * 7919 - 40000);
            break;
        case BS_DTYPE_I64: ((int64_t *)p)[i] = i * 4000000000LL - 5; break;
        }
    }
}

/* ------------------------------------------------------------ round trips */

static void roundtrip_one(bs_dtype t, int ndim)
{
    static const int64_t dims[3] = {3, 4, 5};
    bs_array a = {.dtype = t, .ndim = ndim};
    for (int i = 0; i < ndim; i++)
        a.shape[i] = dims[i];
    int64_t n = bs_array_size(&a);
    a.data = malloc((size_t)n * bs_dtype_size(t));
    assert_non_null(a.data);
    fill(t, a.data, n);
    char path[512];
    tu_tmp_path(path, sizeof path, "rt.npy");
    bs_error err;
    assert_int_equal(bs_npy_write(path, &a, &err), BS_OK);

    bs_array b;
    assert_int_equal(bs_npy_read(path, &b, &err), BS_OK);
    assert_int_equal(b.dtype, t);
    assert_int_equal(b.ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(b.shape[i], dims[i]);
    assert_int_equal(bs_array_size(&b), n);
    assert_memory_equal(a.data, b.data, (size_t)n * bs_dtype_size(t));

    /* the memory reader agrees with the file reader on the same bytes */
    void *buf;
    size_t len;
    assert_int_equal(bs__read_file(path, 1 << 20, &buf, &len, &err), BS_OK);
    /* data aligned like numpy's */
    assert_int_equal((len - (size_t)n * bs_dtype_size(t)) % 64, 0);
    bs_array c;
    assert_int_equal(bs_npy_read_mem(buf, len, "mem", &c, &err), BS_OK);
    assert_int_equal(c.ndim, ndim);
    assert_memory_equal(a.data, c.data, (size_t)n * bs_dtype_size(t));
    free(buf);
    bs_array_free(&c);
    bs_array_free(&b);
    assert_null(b.data);
    free(a.data);
    unlink(path);
}

static void test_roundtrip_all(void **state)
{
    (void)state;
    const bs_dtype all[] = {BS_DTYPE_F32, BS_DTYPE_F64, BS_DTYPE_I32,
                            BS_DTYPE_I64};
    for (int t = 0; t < 4; t++)
        for (int nd = 0; nd <= 3; nd++)
            roundtrip_one(all[t], nd);
}

static void test_roundtrip_empty_and_8d(void **state)
{
    (void)state;
    char path[512];
    tu_tmp_path(path, sizeof path, "empty.npy");
    bs_error err;
    bs_array a = {.dtype = BS_DTYPE_F32, .ndim = 2, .shape = {0, 7}};
    assert_int_equal(bs_npy_write(path, &a, &err), BS_OK); /* NULL data ok */
    bs_array b;
    assert_int_equal(bs_npy_read(path, &b, &err), BS_OK);
    assert_int_equal(b.ndim, 2);
    assert_int_equal(b.shape[0], 0);
    assert_int_equal(b.shape[1], 7);
    assert_int_equal(bs_array_size(&b), 0);
    bs_array_free(&b);

    int64_t v[2] = {-1, 1};
    bs_array e = {.dtype = BS_DTYPE_I64,
                  .ndim = 8,
                  .shape = {1, 1, 2, 1, 1, 1, 1, 1},
                  .data = v};
    assert_int_equal(bs_npy_write(path, &e, &err), BS_OK);
    assert_int_equal(bs_npy_read(path, &b, &err), BS_OK);
    assert_int_equal(b.ndim, 8);
    assert_int_equal(b.shape[2], 2);
    assert_memory_equal(b.data, v, sizeof v);
    bs_array_free(&b);
    unlink(path);
}

/* ------------------------------------------------------------ numpy files */

static void test_reads_numpy_bytes(void **state)
{
    (void)state;
    assert_int_equal(sizeof numpy_f4_2x3 - 1, NUMPY_F4_2X3_LEN);
    bs_error err;
    bs_array a;
    assert_int_equal(
        bs_npy_read_mem(numpy_f4_2x3, NUMPY_F4_2X3_LEN, "np", &a, &err), BS_OK);
    assert_int_equal(a.dtype, BS_DTYPE_F32);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 3);
    for (int i = 0; i < 6; i++)
        assert_true(((float *)a.data)[i] == (float)i);

    /* our writer produces numpy's bytes exactly */
    char path[512];
    tu_tmp_path(path, sizeof path, "same.npy");
    assert_int_equal(bs_npy_write(path, &a, &err), BS_OK);
    void *buf;
    size_t len;
    assert_int_equal(bs__read_file(path, 4096, &buf, &len, &err), BS_OK);
    assert_int_equal(len, NUMPY_F4_2X3_LEN);
    assert_int_equal(numpy_f4_2x3[127], '\n');
    assert_memory_equal(buf, numpy_f4_2x3, len);
    free(buf);
    bs_array_free(&a);
    unlink(path);
}

/* The same header under format 2.0 and 3.0 (u32 header length). */
static void test_reads_v2_v3(void **state)
{
    (void)state;
    const char *dict = "{'descr': '<i4', 'fortran_order': False, "
                       "'shape': (3,), }\n";
    int32_t v[3] = {-7, 0, 2147483647};
    for (int major = 2; major <= 3; major++) {
        size_t len;
        unsigned char *b = make_npy(major, dict, v, sizeof v, &len);
        bs_array a;
        bs_error err;
        assert_int_equal(bs_npy_read_mem(b, len, "v", &a, &err), BS_OK);
        assert_int_equal(a.ndim, 1);
        assert_int_equal(a.shape[0], 3);
        assert_memory_equal(a.data, v, sizeof v);
        bs_array_free(&a);
        free(b);
    }
}

/* Variants real writers produce: Python 2 longs, 16-byte padding, other key
   orders, double quotes, no trailing comma, odd spacing. */
static void test_header_variants(void **state)
{
    (void)state;
    static const char *const dicts[] = {
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 1L), }   \n",
        "{'shape': (2, 1), 'fortran_order': False, 'descr': '<i8'}\n",
        "{\"descr\":\"<i8\",\"fortran_order\":False,\"shape\":(2,1,)}",
        "  {  'fortran_order' : False ,'shape':( 2 , 1 ) , 'descr' : '<i8' , } "
        "\n",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }\t\r\n",
    };
    int64_t v[2] = {INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        size_t len;
        unsigned char *b = make_npy(1, dicts[i], v, sizeof v, &len);
        bs_array a;
        bs_error err;
        bs_status st = bs_npy_read_mem(b, len, "variant", &a, &err);
        if (st != BS_OK)
            print_error("dict %zu: %s\n", i, err.msg);
        assert_int_equal(st, BS_OK);
        assert_int_equal(a.dtype, BS_DTYPE_I64);
        assert_int_equal(a.ndim, 2);
        assert_int_equal(a.shape[0], 2);
        assert_int_equal(a.shape[1], 1);
        assert_memory_equal(a.data, v, sizeof v);
        bs_array_free(&a);
        free(b);
    }
}

static void test_scalar_shape(void **state)
{
    (void)state;
    double v = 2.5;
    size_t len;
    unsigned char *b =
        make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n",
                 &v, sizeof v, &len);
    bs_array a;
    bs_error err;
    assert_int_equal(bs_npy_read_mem(b, len, "s", &a, &err), BS_OK);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(bs_array_size(&a), 1);
    assert_true(*(double *)a.data == 2.5);
    bs_array_free(&a);
    free(b);
}

/* ------------------------------------------------------------ rejections */

static void test_reject_bad_magic(void **state)
{
    (void)state;
    unsigned char b[NUMPY_F4_2X3_LEN];
    memcpy(b, numpy_f4_2x3, sizeof b);
    b[1] = 'M';
    both_reject(b, sizeof b, BS_ERR_FORMAT, "bad magic");
    both_reject("PK\x03\x04", 4, BS_ERR_FORMAT, "bad magic");
}

static void test_reject_short_files(void **state)
{
    (void)state;
    both_reject("", 0, BS_ERR_FORMAT, "bad magic");
    both_reject("\x93NUMPY\x01", 7, BS_ERR_FORMAT, "truncated: 7 bytes");
    both_reject("\x93NUMPY\x02\x00\x10\x00", 10, BS_ERR_FORMAT,
                "truncated: 10 bytes, expected at least 12");
}

static void test_reject_version(void **state)
{
    (void)state;
    unsigned char b[NUMPY_F4_2X3_LEN];
    memcpy(b, numpy_f4_2x3, sizeof b);
    b[6] = 4;
    both_reject(b, sizeof b, BS_ERR_FORMAT,
                "version 4.0: expected 1.0, 2.0 or 3.0");
    b[6] = 1;
    b[7] = 1;
    both_reject(b, sizeof b, BS_ERR_FORMAT, "version 1.1");
    b[6] = 0;
    b[7] = 0;
    both_reject(b, sizeof b, BS_ERR_FORMAT, "version 0.0");
}

static void test_reject_header_beyond_file(void **state)
{
    (void)state;
    unsigned char b[NUMPY_F4_2X3_LEN];
    memcpy(b, numpy_f4_2x3, sizeof b);
    b[8] = 0xff; /* header length 0x00ff + ... > 118 bytes left */
    both_reject(b, sizeof b, BS_ERR_FORMAT, "header length 255 goes beyond");
}

static void test_reject_header_oversized(void **state)
{
    (void)state;
    /* version 2.0 with a 2 MB header length: refused before reading it */
    unsigned char b[16] = {0x93, 'N', 'U',  'M', 'P', 'Y', 2,   0,
                           0,    0,   0x20, 0,   '{', '}', ' ', '\n'};
    both_reject(b, sizeof b, BS_ERR_FORMAT,
                "header of 2097152 bytes is oversized");
}

static void test_reject_malformed_dict(void **state)
{
    (void)state;
    static const struct {
        const char *dict, *needle;
    } cases[] = {
        {"", "found end of header, expected '{'"},
        {"descr: '<f4'", "malformed header dict: found 'd'"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2,), }",
         "expected ':' after a key"},
        {"{'descr': '<f4", "found end of header, expected a closing quote"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x",
         "found 'x' at header offset 58, expected only padding"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ",
         "found end of header, expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }",
         "expected True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }",
         "found ')' at header offset 52, expected ',' before ')': a 1-D"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2], }",
         "expected '(' opening the shape tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 3), }",
         "expected a dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }",
         "expected ',' or ')' in the shape tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,), }",
         "found '.' at header offset 52, expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
         "unexpected key 'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': "
         "(2,)}",
         "key 'descr' appears twice"},
        {"{'descr': '<f4', 'shape': (2,), }", "header lacks 'fortran_order'"},
        {"{'fortran_order': False, 'shape': (2,), }", "header lacks 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False}", "header lacks 'shape'"},
        {"{'descr': 'a\\'b', 'fortran_order': False, 'shape': (2,)}",
         "expected a plain string"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\x01",
         "byte 0x01 at header offset 57"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        reject_dict(cases[i].dict, 8, BS_ERR_FORMAT, cases[i].needle);
}

static void test_reject_fortran_order(void **state)
{
    (void)state;
    reject_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                16, BS_ERR_FORMAT, "fortran_order is True: expected C order");
}

static void test_reject_big_endian(void **state)
{
    (void)state;
    reject_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8,
                BS_ERR_FORMAT,
                "dtype '>f4' is big-endian: expected little-endian '<f4', "
                "'<f8', '<i4' or '<i8'");
    reject_dict("{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", 8,
                BS_ERR_FORMAT, "dtype '>i8' is big-endian");
}

static void test_reject_other_dtypes(void **state)
{
    (void)state;
    static const char *const bad[] = {"<f2", "|u1", "|b1", "|O", "<U3",
                                      "<c8", "=f4", "<u4", "f4", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char dict[128], needle[64];
        snprintf(dict, sizeof dict,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }",
                 bad[i]);
        snprintf(needle, sizeof needle, "unsupported dtype '%s': expected",
                 bad[i]);
        reject_dict(dict, 8, BS_ERR_FORMAT, needle);
    }
    reject_dict("{'descr': [('a', '<f4')], 'fortran_order': False, "
                "'shape': (1,), }",
                4, BS_ERR_FORMAT, "structured dtype");
}

static void test_reject_ndim(void **state)
{
    (void)state;
    reject_dict("{'descr': '<f4', 'fortran_order': False, "
                "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
                4, BS_ERR_FORMAT, "more than 8 dimensions");
}

static void test_reject_negative_shape(void **state)
{
    (void)state;
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 0,
                BS_ERR_FORMAT, "negative dimension");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }",
                0, BS_ERR_FORMAT, "negative dimension");
}

static void test_reject_overflowing_shape(void **state)
{
    (void)state;
    reject_dict("{'descr': '<f4', 'fortran_order': False, "
                "'shape': (99999999999999999999,), }",
                0, BS_ERR_FORMAT, "overflows 64 bits");
    reject_dict("{'descr': '<f8', 'fortran_order': False, "
                "'shape': (4294967296, 4294967296), }",
                0, BS_ERR_FORMAT, "shape overflows: dimension 1");
    reject_dict("{'descr': '<i4', 'fortran_order': False, "
                "'shape': (9223372036854775807,), }",
                0, BS_ERR_FORMAT, "shape overflows");
}

static void test_reject_truncated_data(void **state)
{
    (void)state;
    both_reject(numpy_f4_2x3, NUMPY_F4_2X3_LEN - 1, BS_ERR_FORMAT,
                "truncated: data is 23 bytes, expected 24");
    both_reject(numpy_f4_2x3, NUMPY_F4_2X3_LEN - 24, BS_ERR_FORMAT,
                "truncated: data is 0 bytes, expected 24");
}

static void test_reject_oversized_data(void **state)
{
    (void)state;
    unsigned char b[NUMPY_F4_2X3_LEN + 3];
    memcpy(b, numpy_f4_2x3, NUMPY_F4_2X3_LEN);
    memset(b + NUMPY_F4_2X3_LEN, 0, 3);
    both_reject(b, sizeof b, BS_ERR_FORMAT,
                "oversized: 3 trailing bytes after the 24 bytes");
}

static void test_reject_bad_args(void **state)
{
    (void)state;
    bs_error err;
    bs_array a;
    tu_assert_fails(bs_npy_read(NULL, &a, &err), BS_ERR_INVALID_ARG, &err,
                    "path is NULL");
    tu_assert_fails(bs_npy_read("x.npy", NULL, &err), BS_ERR_INVALID_ARG, &err,
                    "output array is NULL");
    tu_assert_fails(bs_npy_read_mem(NULL, 5, NULL, &a, &err),
                    BS_ERR_INVALID_ARG, &err, "(buffer): buffer is NULL");
    tu_assert_fails(bs_npy_read_mem(NULL, 0, NULL, &a, &err), BS_ERR_FORMAT,
                    &err, "(buffer): bad magic");
    char path[512];
    tu_tmp_path(path, sizeof path, "args.npy");
    bs_array w = {.dtype = (bs_dtype)9, .ndim = 1, .shape = {1}};
    tu_assert_fails(bs_npy_write(path, &w, &err), BS_ERR_INVALID_ARG, &err,
                    "dtype 9");
    w.dtype = BS_DTYPE_F32;
    w.ndim = 9;
    tu_assert_fails(bs_npy_write(path, &w, &err), BS_ERR_INVALID_ARG, &err,
                    "ndim 9: expected 0..8");
    w.ndim = 1;
    w.shape[0] = -2;
    tu_assert_fails(bs_npy_write(path, &w, &err), BS_ERR_INVALID_ARG, &err,
                    "shape[0] = -2");
    w.shape[0] = 3;
    tu_assert_fails(bs_npy_write(path, &w, &err), BS_ERR_INVALID_ARG, &err,
                    "data is NULL");
    tu_assert_fails(bs_npy_write(path, NULL, &err), BS_ERR_INVALID_ARG, &err,
                    "array is NULL");
    tu_assert_fails(bs_npy_write(NULL, &w, &err), BS_ERR_INVALID_ARG, &err,
                    "path is NULL");
    assert_int_equal(access(path, F_OK), -1); /* nothing was created */
    /* a NULL err is allowed everywhere */
    assert_int_equal(bs_npy_read(NULL, &a, NULL), BS_ERR_INVALID_ARG);
    assert_int_equal(bs_array_size(NULL), 0);
    bs_array_free(NULL);
    assert_int_equal(bs_dtype_size((bs_dtype)9), 0);
}

/* ------------------------------------------------------------ loaders */

static void write_array(const char *path, bs_dtype t, int ndim,
                        const int64_t *shape, const void *data)
{
    bs_array a = {.dtype = t, .ndim = ndim, .data = (void *)data};
    for (int i = 0; i < ndim; i++)
        a.shape[i] = shape[i];
    bs_error err;
    assert_int_equal(bs_npy_write(path, &a, &err), BS_OK);
}

static void test_load_matrix(void **state)
{
    (void)state;
    char path[512];
    tu_tmp_path(path, sizeof path, "m.npy");
    bs_error err;
    float *x;
    int64_t n, d, shape[2] = {2, 3};

    float f4[6] = {1, -2, 3.5f, NAN, INFINITY, 0};
    write_array(path, BS_DTYPE_F32, 2, shape, f4);
    assert_int_equal(bs_npy_load_matrix(path, &x, &n, &d, &err), BS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d, 3);
    assert_memory_equal(x, f4, sizeof f4); /* NaN/Inf pass through */
    free(x);

    double f8[6] = {0.1, -1e30, 3.4028234e38, -INFINITY, NAN, 1e-50};
    write_array(path, BS_DTYPE_F64, 2, shape, f8);
    assert_int_equal(bs_npy_load_matrix(path, &x, &n, &d, &err), BS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d, 3);
    for (int i = 0; i < 6; i++) {
        if (isnan(f8[i]))
            assert_true(isnan(x[i]));
        else
            assert_true(x[i] == (float)f8[i]);
    }
    free(x);
    unlink(path);
}

static void test_load_matrix_f8_overflow(void **state)
{
    (void)state;
    char path[512];
    tu_tmp_path(path, sizeof path, "ovf.npy");
    double f8[6] = {0, 1, 2, 3, 4, -1e39};
    int64_t shape[2] = {2, 3};
    write_array(path, BS_DTYPE_F64, 2, shape, f8);
    bs_error err;
    float *x = (float *)&err;
    int64_t n = 7, d = 7;
    tu_assert_fails(bs_npy_load_matrix(path, &x, &n, &d, &err), BS_ERR_FORMAT,
                    &err,
                    "element [1, 2] = -1e+39 is outside the float32 range");
    assert_null(x);
    assert_int_equal(n, 0);
    f8[5] = 0;
    f8[1] = 1e300;
    write_array(path, BS_DTYPE_F64, 2, shape, f8);
    tu_assert_fails(bs_npy_load_matrix(path, &x, &n, &d, &err), BS_ERR_FORMAT,
                    &err, "element [0, 1] = 1e+300");
    unlink(path);
}

static void test_load_matrix_rejects(void **state)
{
    (void)state;
    char path[512];
    tu_tmp_path(path, sizeof path, "mr.npy");
    float v[8] = {0};
    int64_t s1[1] = {8}, s3[3] = {2, 2, 2}, s2[2] = {2, 4};
    bs_error err;
    float *x;
    int64_t n, d;
    write_array(path, BS_DTYPE_F32, 1, s1, v);
    tu_assert_fails(bs_npy_load_matrix(path, &x, &n, &d, &err), BS_ERR_FORMAT,
                    &err, "array of rank 1: expected a rank-2");
    write_array(path, BS_DTYPE_F32, 3, s3, v);
    tu_assert_fails(bs_npy_load_matrix(path, &x, &n, &d, &err), BS_ERR_FORMAT,
                    &err, "rank 3");
    write_array(path, BS_DTYPE_I32, 2, s2, v);
    tu_assert_fails(bs_npy_load_matrix(path, &x, &n, &d, &err), BS_ERR_FORMAT,
                    &err, "dtype '<i4': expected float");
    unlink(path);
    tu_assert_fails(bs_npy_load_matrix(path, &x, &n, &d, &err), BS_ERR_IO, &err,
                    "cannot open");
    tu_assert_fails(bs_npy_load_matrix(path, NULL, &n, &d, &err),
                    BS_ERR_INVALID_ARG, &err, "NULL");
}

static void test_load_labels(void **state)
{
    (void)state;
    char path[512];
    tu_tmp_path(path, sizeof path, "y.npy");
    bs_error err;
    int64_t *y, n, s1[1] = {4}, s2[2] = {2, 2};
    int32_t y4[4] = {3, -1, 0, INT32_MAX};
    write_array(path, BS_DTYPE_I32, 1, s1, y4);
    assert_int_equal(bs_npy_load_labels(path, &y, &n, &err), BS_OK);
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(y[i], y4[i]);
    free(y);
    int64_t y8[4] = {INT64_MAX, 5, -9, 0};
    write_array(path, BS_DTYPE_I64, 1, s1, y8);
    assert_int_equal(bs_npy_load_labels(path, &y, &n, &err), BS_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(y, y8, sizeof y8);
    free(y);
    write_array(path, BS_DTYPE_I64, 2, s2, y8);
    tu_assert_fails(bs_npy_load_labels(path, &y, &n, &err), BS_ERR_FORMAT, &err,
                    "array of rank 2: expected a rank-1");
    assert_null(y);
    float f[4] = {0};
    write_array(path, BS_DTYPE_F32, 1, s1, f);
    tu_assert_fails(bs_npy_load_labels(path, &y, &n, &err), BS_ERR_FORMAT, &err,
                    "dtype '<f4': expected integer");
    unlink(path);
}

/* ------------------------------------------------------------ I/O failures */

static void test_read_io_errors(void **state)
{
    (void)state;
    char dir[512], path[600];
    tu_tmp_path(dir, sizeof dir, "npydir");
    assert_int_equal(mkdir(dir, 0755), 0);
    bs_error err;
    bs_array a;
    tu_assert_fails(bs_npy_read(dir, &a, &err), BS_ERR_IO, &err,
                    "not a regular file");
    void *buf = (void *)&err;
    size_t len = 9;
    tu_assert_fails(bs__read_file(dir, 100, &buf, &len, &err), BS_ERR_IO, &err,
                    "not a regular file");
    assert_null(buf);
    assert_int_equal(len, 0);
    snprintf(path, sizeof path, "%s/missing.npy", dir);
    tu_assert_fails(bs_npy_read(path, &a, &err), BS_ERR_IO, &err,
                    "missing.npy: cannot open: No such file");
    tu_assert_fails(bs__read_file(path, 100, &buf, &len, &err), BS_ERR_IO, &err,
                    "cannot open");
    tu_write_bytes(path, numpy_f4_2x3, NUMPY_F4_2X3_LEN);
    tu_assert_fails(bs__read_file(path, 100, &buf, &len, &err), BS_ERR_FORMAT,
                    &err, "file is 152 bytes, more than the 100 allowed");
    unlink(path);
    rmdir(dir);
}

static void test_write_missing_dir(void **state)
{
    (void)state;
    char path[512];
    tu_tmp_path(path, sizeof path, "no/such/dir/x.npy");
    float v = 1;
    bs_array a = {.dtype = BS_DTYPE_F32, .ndim = 0, .data = &v};
    bs_error err;
    tu_assert_fails(bs_npy_write(path, &a, &err), BS_ERR_IO, &err,
                    "cannot use directory");
    /* a location where no temporary file can be made at all */
    tu_assert_fails(bs_npy_write("/proc/x.npy", &a, &err), BS_ERR_IO, &err,
                    "/proc/x.npy");
}

/* rename() onto a directory fails after the data was written: the
   temporary file must be removed and the directory left alone. */
static void test_write_rename_fails_no_temp(void **state)
{
    (void)state;
    char dir[512], target[600];
    tu_tmp_path(dir, sizeof dir, "renamedir");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(target, sizeof target, "%s/t.npy", dir);
    assert_int_equal(mkdir(target, 0755), 0);
    float v[4] = {1, 2, 3, 4};
    bs_array a = {.dtype = BS_DTYPE_F32, .ndim = 1, .shape = {4}, .data = v};
    bs_error err;
    tu_assert_fails(bs_npy_write(target, &a, &err), BS_ERR_IO, &err,
                    "is a directory, not a regular file");
    assert_int_equal(tu_count_prefix(dir, "t.npy.tmp."), 0);
    rmdir(target);
    rmdir(dir);
}

/* Fault injection: RLIMIT_FSIZE makes write() fail with EFBIG part-way, even
   for root.  The old file must survive intact and no temporary remain. */
static void write_with_fsize_limit(size_t limit, size_t elems)
{
    char dir[512], path[600];
    tu_tmp_path(dir, sizeof dir, "fsizedir");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/old.npy", dir);
    tu_write_bytes(path, numpy_f4_2x3, NUMPY_F4_2X3_LEN);

    float *v = calloc(elems, sizeof *v);
    assert_non_null(v);
    bs_array a = {
        .dtype = BS_DTYPE_F32, .ndim = 1, .shape = {(int64_t)elems}, .data = v};
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = limit;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    bs_error err;
    bs_status st = bs_npy_write(path, &a, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    tu_assert_fails(st, BS_ERR_IO, &err, "old.npy");

    bs_array b;
    assert_int_equal(bs_npy_read(path, &b, &err), BS_OK); /* still the old */
    assert_int_equal(b.shape[0], 2);
    assert_int_equal(b.shape[1], 3);
    bs_array_free(&b);
    assert_int_equal(tu_count_prefix(dir, "old.npy.tmp."), 0);
    free(v);
    unlink(path);
    rmdir(dir);
}

static void test_write_fault_large(void **state)
{
    (void)state;
    write_with_fsize_limit(65536, 1 << 18); /* fails inside fwrite */
}

static void test_write_fault_buffered(void **state)
{
    (void)state;
    write_with_fsize_limit(100, 64); /* 384 bytes, fails at the flush */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all),
        cmocka_unit_test(test_roundtrip_empty_and_8d),
        cmocka_unit_test(test_reads_numpy_bytes),
        cmocka_unit_test(test_reads_v2_v3),
        cmocka_unit_test(test_header_variants),
        cmocka_unit_test(test_scalar_shape),
        cmocka_unit_test(test_reject_bad_magic),
        cmocka_unit_test(test_reject_short_files),
        cmocka_unit_test(test_reject_version),
        cmocka_unit_test(test_reject_header_beyond_file),
        cmocka_unit_test(test_reject_header_oversized),
        cmocka_unit_test(test_reject_malformed_dict),
        cmocka_unit_test(test_reject_fortran_order),
        cmocka_unit_test(test_reject_big_endian),
        cmocka_unit_test(test_reject_other_dtypes),
        cmocka_unit_test(test_reject_ndim),
        cmocka_unit_test(test_reject_negative_shape),
        cmocka_unit_test(test_reject_overflowing_shape),
        cmocka_unit_test(test_reject_truncated_data),
        cmocka_unit_test(test_reject_oversized_data),
        cmocka_unit_test(test_reject_bad_args),
        cmocka_unit_test(test_load_matrix),
        cmocka_unit_test(test_load_matrix_f8_overflow),
        cmocka_unit_test(test_load_matrix_rejects),
        cmocka_unit_test(test_load_labels),
        cmocka_unit_test(test_read_io_errors),
        cmocka_unit_test(test_write_missing_dir),
        cmocka_unit_test(test_write_rename_fails_no_temp),
        cmocka_unit_test(test_write_fault_large),
        cmocka_unit_test(test_write_fault_buffered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
