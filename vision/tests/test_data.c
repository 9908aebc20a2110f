/* test_data.c — the IDX reader (on small gzip files written here with zlib)
   and the SimCLR augmentation: determinism, thread-count invariance, the
   identity and mirror cases, value ranges, and every rejected argument. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <omp.h>
#include <zlib.h>

#include "engine.h"
#include "image_augment.h"
#include "rng.h"

#define S BST_AUG_SIDE
#define PIX (S * S)

/* ------------------------------------------------------------------ IDX */

typedef struct {
    char dir[256];
    char path[300];
} tmp_file;

static int setup_tmp(void **state)
{
    tmp_file *t = calloc(1, sizeof *t);
    /* the project's scripts point BS_TEST_TMPDIR into the build folder */
    const char *base = getenv("BS_TEST_TMPDIR");
    if (!base)
        base = getenv("TMPDIR");
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "%s/bst_idx_XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/f.gz", t->dir);
    *state = t;
    return 0;
}

static int teardown_tmp(void **state)
{
    tmp_file *t = *state;
    unlink(t->path);
    rmdir(t->dir);
    free(t);
    return 0;
}

static void put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* Writes a gzip file: header words hdr[0..nh) big-endian, then len bytes. */
static void write_idx(const char *path, const uint32_t *hdr, int nh,
                      const unsigned char *payload, size_t len)
{
    unsigned char b[16];
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    for (int i = 0; i < nh; i++)
        put_be32(b + 4 * i, hdr[i]);
    assert_int_equal(gzwrite(gz, b, 4u * (unsigned)nh), 4 * nh);
    if (len)
        assert_int_equal(gzwrite(gz, payload, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

/* 3 images of 2 x 3 pixels, values 0..17 */
static const unsigned char pix18[18] = {0, 1,  2,  3,  4,  5,  6,  7,  8,
                                        9, 10, 11, 12, 13, 14, 15, 16, 17};

static void test_idx_good(void **state)
{
    tmp_file *t = *state;
    uint32_t hdr[4] = {0x803, 3, 2, 3};
    uint8_t *data = NULL;
    int64_t n = 0, rows = 0, cols = 0;
    char msg[256] = "";
    write_idx(t->path, hdr, 4, pix18, 18);
    assert_int_equal(bst_idx_read_images(t->path, 0, &data, &n, &rows, &cols,
                                         msg, sizeof msg),
                     BST_OK);
    assert_int_equal(n, 3);
    assert_int_equal(rows, 2);
    assert_int_equal(cols, 3);
    assert_memory_equal(data, pix18, 18);
    free(data);
    /* a prefix: only `want` records */
    assert_int_equal(
        bst_idx_read_images(t->path, 2, &data, &n, &rows, &cols, NULL, 0),
        BST_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(data, pix18, 12);
    free(data);
    uint32_t lh[2] = {0x801, 5};
    write_idx(t->path, lh, 2, pix18, 5);
    assert_int_equal(
        bst_idx_read_labels(t->path, 0, &data, &n, msg, sizeof msg), BST_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(data, pix18, 5);
    free(data);
}

/* Expects code and a message containing `want`; nothing is allocated. */
static void expect_images_error(const char *path, int64_t want_n, int code,
                                const char *want)
{
    uint8_t *data = NULL;
    int64_t n = 0, rows = 0, cols = 0;
    char msg[512] = "";
    assert_int_equal(bst_idx_read_images(path, want_n, &data, &n, &rows, &cols,
                                         msg, sizeof msg),
                     code);
    assert_null(data);
    if (!strstr(msg, want)) {
        print_message("message '%s' lacks '%s'\n", msg, want);
        fail();
    }
    /* without a message buffer: same code, no crash */
    assert_int_equal(
        bst_idx_read_images(path, want_n, &data, &n, &rows, &cols, NULL, 0),
        code);
}

static void test_idx_bad_magic(void **state)
{
    tmp_file *t = *state;
    uint32_t hdr[4] = {0x801, 3, 2, 3};
    write_idx(t->path, hdr, 4, pix18, 18);
    expect_images_error(t->path, 0, BST_ERR_FORMAT,
                        "bad IDX magic 0x00000801, expected 0x00000803");
    /* an images file read as labels */
    uint32_t ih[4] = {0x803, 3, 2, 3};
    uint8_t *data = NULL;
    int64_t n = 0;
    char msg[256] = "";
    write_idx(t->path, ih, 4, pix18, 18);
    assert_int_equal(
        bst_idx_read_labels(t->path, 0, &data, &n, msg, sizeof msg),
        BST_ERR_FORMAT);
    assert_non_null(strstr(msg, "bad IDX magic"));
}

static void test_idx_truncated(void **state)
{
    tmp_file *t = *state;
    uint32_t hdr[4] = {0x803, 3, 2, 3};
    write_idx(t->path, hdr, 4, pix18, 10); /* 18 bytes announced */
    expect_images_error(t->path, 0, BST_ERR_FORMAT,
                        "truncated or corrupt while reading the data");
    write_idx(t->path, hdr, 2, NULL, 0); /* header cut short */
    expect_images_error(t->path, 0, BST_ERR_FORMAT,
                        "truncated or corrupt while reading the header");
    /* a gzip stream cut in the middle */
    uint32_t big[4] = {0x803, 3, 2, 3};
    write_idx(t->path, big, 4, pix18, 18);
    FILE *f = fopen(t->path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(t->path, size - 12), 0);
    expect_images_error(t->path, 0, BST_ERR_FORMAT, "truncated or corrupt");
}

static void test_idx_counts(void **state)
{
    tmp_file *t = *state;
    uint32_t hdr[4] = {0x803, 3, 2, 3};
    write_idx(t->path, hdr, 4, pix18, 18);
    expect_images_error(t->path, 5, BST_ERR_FORMAT,
                        "holds 3 records, 5 requested");
    uint32_t none[4] = {0x803, 0, 2, 3};
    write_idx(t->path, none, 4, NULL, 0);
    expect_images_error(t->path, 0, BST_ERR_FORMAT, "holds no records");
    uint32_t flat[4] = {0x803, 3, 0, 3};
    write_idx(t->path, flat, 4, NULL, 0);
    expect_images_error(t->path, 0, BST_ERR_FORMAT, "image size 0x3");
    uint32_t huge[4] = {0x803, 3, 5000, 3};
    write_idx(t->path, huge, 4, NULL, 0);
    expect_images_error(t->path, 0, BST_ERR_FORMAT, "image size 5000x3");
    uint32_t lh[2] = {0x801, 4};
    uint8_t *data = NULL;
    int64_t n = 0;
    char msg[256] = "";
    write_idx(t->path, lh, 2, pix18, 4);
    assert_int_equal(
        bst_idx_read_labels(t->path, 9, &data, &n, msg, sizeof msg),
        BST_ERR_FORMAT);
    assert_non_null(strstr(msg, "holds 4 records, 9 requested"));
}

static void test_idx_missing(void **state)
{
    tmp_file *t = *state;
    char path[400];
    uint8_t *data = NULL;
    int64_t n = 0, r = 0, c = 0;
    snprintf(path, sizeof path, "%s/none-idx3-ubyte.gz", t->dir);
    expect_images_error(path, 0, BST_ERR_IO,
                        "install it with scripts/setup.sh");
    char msg[512] = "";
    assert_int_equal(bst_idx_read_labels(path, 0, &data, &n, msg, sizeof msg),
                     BST_ERR_IO);
    assert_non_null(strstr(msg, "none-idx3-ubyte.gz"));
    /* a tiny buffer is truncated, still NUL-terminated */
    char tiny[8];
    assert_int_equal(bst_idx_read_labels(path, 0, &data, &n, tiny, sizeof tiny),
                     BST_ERR_IO);
    assert_true(strlen(tiny) == sizeof tiny - 1);
    assert_int_equal(bst_idx_read_images(NULL, 0, &data, &n, &r, &c, NULL, 0),
                     BST_ERR_INVAL);
    assert_int_equal(bst_idx_read_images(path, 0, NULL, &n, &r, &c, NULL, 0),
                     BST_ERR_INVAL);
    assert_int_equal(bst_idx_read_labels(path, 0, &data, NULL, NULL, 0),
                     BST_ERR_INVAL);
}

static void test_u8_to_float(void **state)
{
    (void)state;
    const uint8_t in[3] = {0, 51, 255};
    float out[3];
    bst_u8_to_float(in, out, 3);
    assert_true(out[0] == 0.0f && out[2] == 1.0f);
    assert_true(fabsf(out[1] - 0.2f) < 1e-7f);
}

/* -------------------------------------------------------------- augment */

#define NSRC 7

/* NSRC random images in [0, 1]. */
static float *source_set(void)
{
    float *x = malloc((size_t)NSRC * PIX * sizeof *x);
    bs_rng r;
    assert_non_null(x);
    bs_rng_derive(&r, 5, 99, 0);
    for (int i = 0; i < NSRC * PIX; i++)
        x[i] = (float)bs_rng_uniform(&r);
    return x;
}

/* No augmentation at all: whole-image crop, nothing else. */
static bst_augment_params identity_params(void)
{
    bst_augment_params p;
    bst_augment_params_default(&p);
    p.scale_min = p.scale_max = 1.0f;
    p.flip_p = 0.0f;
    p.jitter_p = 0.0f;
    p.noise_std = 0.0f;
    return p;
}

static void test_aug_determinism(void **state)
{
    (void)state;
    float *src = source_set();
    bst_augment_params p;
    bst_augment_params_default(&p);
    const int64_t idx[4] = {3, 1, 6, 3}, swapped[2] = {1, 3};
    float a[4 * PIX], b[4 * PIX], c[2 * PIX];
    size_t sz = sizeof a;
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, 4, 42, 2, 0, a), 0);
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, 4, 42, 2, 0, b), 0);
    assert_memory_equal(a, b, sz);
    /* the same image twice in a batch, same view: the same pixels */
    assert_memory_equal(a, a + 3 * PIX, PIX * sizeof(float));
    /* batch position does not matter, only (seed, epoch, index, view) */
    assert_int_equal(bst_augment_batch(&p, src, NSRC, swapped, 2, 42, 2, 0, c),
                     0);
    assert_memory_equal(c, a + PIX, PIX * sizeof(float));
    assert_memory_equal(c + PIX, a, PIX * sizeof(float));
    /* another view, epoch or seed: other pixels */
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, 4, 42, 2, 1, b), 0);
    assert_memory_not_equal(a, b, PIX * sizeof(float));
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, 4, 42, 3, 0, b), 0);
    assert_memory_not_equal(a, b, PIX * sizeof(float));
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, 4, 43, 2, 0, b), 0);
    assert_memory_not_equal(a, b, PIX * sizeof(float));
    free(src);
}

static void test_aug_threads(void **state)
{
    (void)state;
    enum { B = 23 };
    float *src = source_set();
    float *a = malloc(B * PIX * sizeof *a), *b = malloc(B * PIX * sizeof *b);
    int64_t idx[B];
    bst_augment_params p;
    int saved = omp_get_max_threads();
    assert_non_null(a);
    assert_non_null(b);
    bst_augment_params_default(&p);
    for (int k = 0; k < B; k++)
        idx[k] = (k * 5) % NSRC;
    omp_set_num_threads(1);
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, B, 9, 0, 1, a), 0);
    omp_set_num_threads(3);
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, B, 9, 0, 1, b), 0);
    omp_set_num_threads(saved);
    assert_memory_equal(a, b, B * PIX * sizeof *a);
    free(a);
    free(b);
    free(src);
}

static void test_aug_identity(void **state)
{
    (void)state;
    float *src = source_set();
    const int64_t idx[NSRC] = {0, 1, 2, 3, 4, 5, 6};
    float out[NSRC * PIX];
    bst_augment_params p = identity_params();
    /* scale (1, 1) gives the whole image for any aspect range holding 1 */
    for (int r = 0; r < 2; r++) {
        if (r == 1)
            p.ratio_min = p.ratio_max = 1.0f;
        for (int e = 0; e < 3; e++) {
            assert_int_equal(
                bst_augment_batch(&p, src, NSRC, idx, NSRC, 1, e, e & 1, out),
                0);
            for (int i = 0; i < NSRC * PIX; i++)
                assert_true(fabsf(out[i] - src[i]) <= 1e-6f);
        }
    }
    free(src);
}

static void test_aug_flip(void **state)
{
    (void)state;
    float *src = source_set();
    const int64_t idx[3] = {2, 0, 5};
    float out[3 * PIX];
    bst_augment_params p = identity_params();
    p.flip_p = 1.0f;
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, 3, 8, 0, 0, out), 0);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                assert_true(out[k * PIX + y * S + x] ==
                            src[idx[k] * PIX + y * S + (S - 1 - x)]);
    free(src);
}

/* Default augmentation: finite, in [0, 1], and not the source. */
static void test_aug_range(void **state)
{
    (void)state;
    enum { B = 40 };
    float *src = source_set();
    float *out = malloc(B * PIX * sizeof *out);
    int64_t idx[B];
    bst_augment_params p;
    assert_non_null(out);
    bst_augment_params_default(&p);
    for (int k = 0; k < B; k++)
        idx[k] = k % NSRC;
    assert_int_equal(bst_augment_batch(&p, src, NSRC, idx, B, 3, 1, 0, out), 0);
    for (int i = 0; i < B * PIX; i++)
        assert_true(isfinite(out[i]) && out[i] >= 0.0f && out[i] <= 1.0f);
    for (int k = 0; k < B; k++)
        assert_memory_not_equal(out + k * PIX, src + idx[k] * PIX,
                                PIX * sizeof(float));
    free(out);
    free(src);
}

/* Crops of a constant image stay constant; brightness alone scales every
   pixel by one factor; noise alone has the asked standard deviation. */
static void test_aug_transforms(void **state)
{
    (void)state;
    float grey[PIX], out[PIX];
    const int64_t zero = 0;
    for (int i = 0; i < PIX; i++)
        grey[i] = 0.5f;
    bst_augment_params p = identity_params();
    p.scale_min = 0.1f;
    p.scale_max = 0.3f;
    p.ratio_min = 0.5f;
    p.ratio_max = 2.0f;
    assert_int_equal(bst_augment_batch(&p, grey, 1, &zero, 1, 4, 0, 0, out), 0);
    for (int i = 0; i < PIX; i++)
        assert_true(fabsf(out[i] - 0.5f) <= 1e-6f);

    float *src = source_set();
    p = identity_params();
    p.jitter_p = 1.0f;
    p.brightness = 0.3f;
    p.contrast = 0.0f;
    assert_int_equal(bst_augment_batch(&p, src, NSRC, &zero, 1, 4, 0, 0, out),
                     0);
    /* the factor from a pixel neither dark nor clipped */
    int j = 0;
    while (j < PIX - 1 && !(src[j] > 0.1f && out[j] < 1.0f))
        j++;
    float f = out[j] / src[j];
    assert_true(f >= 0.7f - 1e-6f && f <= 1.3f + 1e-6f);
    for (int i = 0; i < PIX; i++)
        if (out[i] < 1.0f)
            assert_true(fabsf(out[i] - fminf(src[i] * f, 1.0f)) <= 1e-5f);
    free(src);

    p = identity_params();
    p.noise_std = 0.05f;
    assert_int_equal(bst_augment_batch(&p, grey, 1, &zero, 1, 4, 0, 0, out), 0);
    double s1 = 0.0, s2 = 0.0;
    for (int i = 0; i < PIX; i++) {
        s1 += out[i] - 0.5;
        s2 += (out[i] - 0.5) * (out[i] - 0.5);
    }
    double sd = sqrt(s2 / PIX - (s1 / PIX) * (s1 / PIX));
    assert_true(fabs(s1 / PIX) < 0.01 && sd > 0.04 && sd < 0.06);
}

/* Expects bst_augment_check and bst_augment_batch to reject p. */
static void expect_bad_params(const bst_augment_params *p, const char *what)
{
    float src[PIX] = {0}, out[PIX];
    const int64_t zero = 0;
    if (bst_augment_check(p) != BST_ERR_INVAL ||
        bst_augment_batch(p, src, 1, &zero, 1, 0, 0, 0, out) != BST_ERR_INVAL) {
        print_message("accepted: %s\n", what);
        fail();
    }
}

#define BAD(field, value)                                                      \
    do {                                                                       \
        bst_augment_params q = p;                                              \
        q.field = (value);                                                     \
        expect_bad_params(&q, #field " = " #value);                            \
    } while (0)

static void test_aug_bad_params(void **state)
{
    (void)state;
    bst_augment_params p;
    bst_augment_params_default(&p);
    assert_int_equal(bst_augment_check(&p), BST_OK);
    assert_int_equal(bst_augment_check(NULL), BST_ERR_INVAL);
    expect_bad_params(NULL, "NULL");
    BAD(scale_min, 0.0f);
    BAD(scale_min, -0.5f);
    BAD(scale_min, NAN);
    BAD(scale_max, 0.1f); /* below scale_min */
    BAD(scale_max, 1.5f);
    BAD(scale_max, NAN);
    BAD(ratio_min, 0.0f);
    BAD(ratio_min, -1.0f);
    BAD(ratio_min, NAN);
    BAD(ratio_max, 0.5f); /* below ratio_min */
    BAD(ratio_max, INFINITY);
    BAD(ratio_max, NAN);
    BAD(flip_p, -0.1f);
    BAD(flip_p, 1.1f);
    BAD(flip_p, NAN);
    BAD(jitter_p, -0.1f);
    BAD(jitter_p, 1.1f);
    BAD(jitter_p, NAN);
    BAD(brightness, -0.1f);
    BAD(brightness, 1.1f);
    BAD(brightness, NAN);
    BAD(contrast, -0.1f);
    BAD(contrast, 1.1f);
    BAD(contrast, NAN);
    BAD(noise_std, -0.1f);
    BAD(noise_std, 1.1f);
    BAD(noise_std, NAN);
}

static void test_aug_bad_batch(void **state)
{
    (void)state;
    float src[2 * PIX] = {0}, out[PIX];
    const int64_t ok = 1, neg = -1, high = 2;
    bst_augment_params p;
    bst_augment_params_default(&p);
    for (int i = 0; i < PIX; i++)
        out[i] = -7.0f;
    assert_int_equal(bst_augment_batch(&p, NULL, 2, &ok, 1, 0, 0, 0, out),
                     BST_ERR_INVAL);
    assert_int_equal(bst_augment_batch(&p, src, 2, &ok, 1, 0, 0, 0, NULL),
                     BST_ERR_INVAL);
    assert_int_equal(bst_augment_batch(&p, src, 2, NULL, 1, 0, 0, 0, out),
                     BST_ERR_INVAL);
    assert_int_equal(bst_augment_batch(&p, src, 2, &ok, -1, 0, 0, 0, out),
                     BST_ERR_INVAL);
    assert_int_equal(bst_augment_batch(&p, src, 0, &ok, 1, 0, 0, 0, out),
                     BST_ERR_INVAL);
    assert_int_equal(bst_augment_batch(&p, src, 2, &ok, 1, 0, -1, 0, out),
                     BST_ERR_INVAL);
    assert_int_equal(bst_augment_batch(&p, src, 2, &ok, 1, 0, 0, -1, out),
                     BST_ERR_INVAL);
    assert_int_equal(bst_augment_batch(&p, src, 2, &neg, 1, 0, 0, 0, out),
                     BST_ERR_INVAL);
    assert_int_equal(bst_augment_batch(&p, src, 2, &high, 1, 0, 0, 0, out),
                     BST_ERR_INVAL);
    /* rejected calls write nothing */
    for (int i = 0; i < PIX; i++)
        assert_true(out[i] == -7.0f);
    /* an empty batch is fine, idx may then be NULL */
    assert_int_equal(bst_augment_batch(&p, src, 2, NULL, 0, 0, 0, 0, out),
                     BST_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idx_good, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_idx_bad_magic, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_idx_truncated, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_idx_counts, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_idx_missing, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test(test_u8_to_float),
        cmocka_unit_test(test_aug_determinism),
        cmocka_unit_test(test_aug_threads),
        cmocka_unit_test(test_aug_identity),
        cmocka_unit_test(test_aug_flip),
        cmocka_unit_test(test_aug_range),
        cmocka_unit_test(test_aug_transforms),
        cmocka_unit_test(test_aug_bad_params),
        cmocka_unit_test(test_aug_bad_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
