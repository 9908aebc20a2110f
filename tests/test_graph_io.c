/*
 * test_graph_io.c — .bsg save/load round trips and every rejection.
 *
 * Graphs come from bs_graph_from_arrays, so these tests do not depend on the
 * graph builder.  Corruptions are made on the saved bytes; where a check
 * behind the checksum is the target, the CRC is recomputed so that the
 * intended check is the one that fires.
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
#include <zlib.h>

#include "internal.h"

#define HDR 48

/* A valid graph of n nodes, k neighbours: row i lists i+1, i+2, ... mod n,
   similarities decreasing within a row and varying across rows. */
static bs_graph *make_graph(int64_t n, int32_t k, bs_graph_mode mode)
{
    size_t cells = (size_t)n * (size_t)k;
    int32_t *nbr = malloc(cells * sizeof *nbr);
    float *sim = malloc(cells * sizeof *sim);
    assert_non_null(nbr);
    assert_non_null(sim);
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < k; j++) {
            nbr[i * k + j] = (int32_t)((i + 1 + j) % n);
            sim[i * k + j] = 1.0f - (float)j / (float)k - (float)(i % 7) / 100;
        }
    bs_graph_params p;
    bs_graph_params_default(&p);
    p.mode = mode;
    p.k = k;
    p.m = k + 3;
    p.seed = 0xfedcba9876543210ULL;
    p.block = 17;
    bs_graph *g;
    bs_error err;
    assert_int_equal(bs_graph_from_arrays(n, k, nbr, sim, &p, &g, &err), BS_OK);
    free(nbr);
    free(sim);
    return g;
}

static void assert_same_graph(const bs_graph *a, const bs_graph *b)
{
    assert_int_equal(bs_graph_n(a), bs_graph_n(b));
    assert_int_equal(bs_graph_k(a), bs_graph_k(b));
    bs_graph_params pa, pb;
    bs_graph_get_params(a, &pa);
    bs_graph_get_params(b, &pb);
    assert_int_equal(pa.mode, pb.mode);
    assert_int_equal(pa.m, pb.m);
    assert_int_equal(pa.k, pb.k);
    assert_true(pa.seed == pb.seed);
    assert_int_equal(pa.block, pb.block);
    int32_t k = bs_graph_k(a);
    for (int64_t i = 0; i < bs_graph_n(a); i++) {
        assert_memory_equal(bs_graph_neighbors(a, i), bs_graph_neighbors(b, i),
                            (size_t)k * sizeof(int32_t));
        assert_memory_equal(bs_graph_similarities(a, i),
                            bs_graph_similarities(b, i),
                            (size_t)k * sizeof(float));
    }
}

/* Saves g and returns the file's bytes. */
static unsigned char *saved_bytes(const bs_graph *g, const char *path,
                                  size_t *len)
{
    bs_error err;
    assert_int_equal(bs_graph_save(g, path, &err), BS_OK);
    void *buf;
    assert_int_equal(bs__read_file(path, 1 << 26, &buf, len, &err), BS_OK);
    return buf;
}

/* Rewrites the trailing CRC of a whole-file buffer. */
static void fix_crc(unsigned char *b, size_t len)
{
    uLong c = crc32(crc32(0L, Z_NULL, 0), b, (uInt)(len - 4));
    for (int i = 0; i < 4; i++)
        b[len - 4 + i] = (unsigned char)(c >> (8 * i));
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Both loaders must reject the bytes with `code` and `needle`, name the
   source, and leave *out NULL. */
static void both_reject(const void *b, size_t len, bs_status code,
                        const char *needle)
{
    char path[512];
    tu_tmp_path(path, sizeof path, "bad.bsg");
    tu_write_bytes(path, b, len);
    bs_error err;
    bs_graph *g = (bs_graph *)&err;
    tu_assert_fails(bs_graph_load(path, &g, &err), code, &err, needle);
    assert_null(g);
    assert_non_null(strstr(err.msg, path));
    g = (bs_graph *)&err;
    tu_assert_fails(bs_graph_load_mem(b, len, "blob", &g, &err), code, &err,
                    needle);
    assert_null(g);
    assert_non_null(strstr(err.msg, "blob:"));
    unlink(path);
}

/* ------------------------------------------------------------ round trips */

static void test_roundtrip(void **state)
{
    (void)state;
    const bs_graph_mode modes[] = {BS_MODE_INDEPENDENT, BS_MODE_SHARED,
                                   BS_MODE_EXACT};
    char path[512];
    tu_tmp_path(path, sizeof path, "rt.bsg");
    for (int m = 0; m < 3; m++) {
        bs_graph *g = make_graph(50, 6, modes[m]), *h, *h2;
        size_t len;
        unsigned char *b = saved_bytes(g, path, &len);
        assert_int_equal(len, HDR + 50 * 6 * 8 + 4);
        assert_memory_equal(b, "BSGRAPH\0", 8);
        bs_error err;
        assert_int_equal(bs_graph_load(path, &h, &err), BS_OK);
        assert_same_graph(g, h);
        assert_int_equal(bs_graph_load_mem(b, len, "mem", &h2, &err), BS_OK);
        assert_same_graph(g, h2);
        bs_graph_free(h);
        bs_graph_free(h2);
        bs_graph_free(g);
        free(b);
    }
    unlink(path);
}

/* Big enough for several streaming chunks per array (chunk = 1 MiB), and
   extreme shapes: k = n - 1, n = 2. */
static void test_roundtrip_chunks_and_edges(void **state)
{
    (void)state;
    char path[512];
    tu_tmp_path(path, sizeof path, "big.bsg");
    const int64_t ns[] = {300000, 9, 2};
    const int32_t ks[] = {2, 8, 1};
    for (int c = 0; c < 3; c++) {
        bs_graph *g = make_graph(ns[c], ks[c], BS_MODE_SHARED), *h;
        bs_error err;
        assert_int_equal(bs_graph_save(g, path, &err), BS_OK);
        assert_int_equal(bs_graph_load(path, &h, &err), BS_OK);
        assert_same_graph(g, h);
        bs_graph_free(h);
        bs_graph_free(g);
    }
    unlink(path);
}

/* ------------------------------------------------------------ corruption */

/* Fixture: the bytes of a saved 10 x 3 graph. */
typedef struct {
    unsigned char *b;
    size_t len;
} blob;

static int setup_blob(void **state)
{
    blob *s = malloc(sizeof *s);
    char path[512];
    tu_tmp_path(path, sizeof path, "fixture.bsg");
    bs_graph *g = make_graph(10, 3, BS_MODE_INDEPENDENT);
    s->b = saved_bytes(g, path, &s->len);
    bs_graph_free(g);
    unlink(path);
    *state = s;
    return 0;
}

static int teardown_blob(void **state)
{
    blob *s = *state;
    free(s->b);
    free(s);
    return 0;
}

#define IDS(s) ((s)->b + HDR)
#define SIMS(s) ((s)->b + HDR + 10 * 3 * 4)

static void test_flipped_payload_byte(void **state)
{
    blob *s = *state;
    IDS(s)[5] ^= 0x01;
    both_reject(s->b, s->len, BS_ERR_FORMAT, "checksum mismatch");
    IDS(s)[5] ^= 0x01;
    SIMS(s)[17] ^= 0x80;
    both_reject(s->b, s->len, BS_ERR_FORMAT, "checksum mismatch");
    SIMS(s)[17] ^= 0x80;
    s->b[s->len - 1] ^= 0x10; /* the stored CRC itself */
    both_reject(s->b, s->len, BS_ERR_FORMAT, "checksum mismatch");
}

static void test_truncated(void **state)
{
    blob *s = *state;
    char needle[128];
    snprintf(needle, sizeof needle, "truncated: %zu bytes, expected %zu",
             s->len - 1, s->len);
    both_reject(s->b, s->len - 1, BS_ERR_FORMAT, needle);
    both_reject(s->b, HDR, BS_ERR_FORMAT, "truncated: 48 bytes");
    both_reject(s->b, 20, BS_ERR_FORMAT,
                "truncated: 20 bytes, expected at least 52");
    both_reject(s->b, 0, BS_ERR_FORMAT, "truncated: 0 bytes");
}

static void test_trailing_bytes(void **state)
{
    blob *s = *state;
    unsigned char *b = malloc(s->len + 2);
    memcpy(b, s->b, s->len);
    b[s->len] = b[s->len + 1] = 0;
    char needle[128];
    snprintf(needle, sizeof needle, "trailing bytes: %zu bytes, expected %zu",
             s->len + 2, s->len);
    both_reject(b, s->len + 2, BS_ERR_FORMAT, needle);
    free(b);
}

static void test_bad_magic(void **state)
{
    blob *s = *state;
    s->b[3] = 'X';
    both_reject(s->b, s->len, BS_ERR_FORMAT, "bad magic");
    both_reject("not a graph at all", 18, BS_ERR_FORMAT, "bad magic");
    both_reject("BSG", 3, BS_ERR_FORMAT, "truncated: 3 bytes");
}

static void test_bad_version(void **state)
{
    blob *s = *state;
    put32(s->b + 8, 2);
    fix_crc(s->b, s->len);
    both_reject(s->b, s->len, BS_ERR_FORMAT,
                "graph file version 2: expected 1");
}

static void test_bad_mode(void **state)
{
    blob *s = *state;
    put32(s->b + 12, 3);
    fix_crc(s->b, s->len);
    both_reject(s->b, s->len, BS_ERR_FORMAT, "unknown graph mode 3");
}

static void test_bad_sizes(void **state)
{
    blob *s = *state;
    put32(s->b + 24, 10); /* k = n */
    fix_crc(s->b, s->len);
    both_reject(s->b, s->len, BS_ERR_FORMAT,
                "n = 10, K = 10: expected 2 <= n < 2^31 and 1 <= K <= n - 1");
    put32(s->b + 24, 0);
    both_reject(s->b, s->len, BS_ERR_FORMAT, "K = 0");
    put32(s->b + 24, 3);
    put32(s->b + 16, 1); /* n = 1 */
    both_reject(s->b, s->len, BS_ERR_FORMAT, "n = 1");
    put32(s->b + 16, 0);
    put32(s->b + 20, 1); /* n = 2^32: beyond int32 ids */
    both_reject(s->b, s->len, BS_ERR_FORMAT, "n = 4294967296");
    put32(s->b + 16, 0xffffffffu);
    put32(s->b + 20, 0xffffffffu); /* n = -1 */
    both_reject(s->b, s->len, BS_ERR_FORMAT, "n = -1");
    put32(s->b + 16, 11); /* n = 11 (a bit flip of 10): 8 cells short */
    put32(s->b + 20, 0);
    both_reject(s->b, s->len, BS_ERR_FORMAT,
                "header field n = 11 is inconsistent with the file size");
    put32(s->b + 16, 10);
    put32(s->b + 24, 7); /* K = 7 (a bit flip of 3) */
    both_reject(s->b, s->len, BS_ERR_FORMAT,
                "header field K = 7 is inconsistent with the file size");
    put32(s->b + 16, 13); /* n = 13: two bits away, not a bit flip */
    put32(s->b + 24, 3);
    both_reject(s->b, s->len, BS_ERR_FORMAT, "truncated");
    put32(s->b + 16, 10);
    both_reject(s->b, s->len - 1, BS_ERR_FORMAT, "truncated");
}

static void test_id_out_of_range(void **state)
{
    blob *s = *state;
    put32(IDS(s) + 4 * (3 * 4 + 1), 10); /* row 4, slot 1 = n */
    fix_crc(s->b, s->len);
    both_reject(s->b, s->len, BS_ERR_FORMAT,
                "row 4 neighbour 1 is id 10: expected 0 <= id < n = 10");
    put32(IDS(s) + 4 * (3 * 4 + 1), 0xffffffffu);
    fix_crc(s->b, s->len);
    both_reject(s->b, s->len, BS_ERR_FORMAT, "is id -1");
}

static void test_self_id(void **state)
{
    blob *s = *state;
    put32(IDS(s) + 4 * (3 * 7 + 2), 7);
    fix_crc(s->b, s->len);
    both_reject(s->b, s->len, BS_ERR_FORMAT,
                "row 7 lists itself as neighbour 2");
}

static void test_bad_similarity(void **state)
{
    blob *s = *state;
    const float bad[] = {NAN, INFINITY, -INFINITY, 1.5f, -1.001f};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float v = bad[i], keep;
        memcpy(&keep, SIMS(s) + 4 * 13, 4);
        memcpy(SIMS(s) + 4 * 13, &v, 4); /* row 4, slot 1 */
        fix_crc(s->b, s->len);
        both_reject(s->b, s->len, BS_ERR_FORMAT, "row 4 similarity 1 is");
        memcpy(SIMS(s) + 4 * 13, &keep, 4);
    }
    /* just past 1 by rounding is fine */
    float v = 1.00005f;
    memcpy(SIMS(s), &v, 4);
    fix_crc(s->b, s->len);
    bs_graph *g;
    bs_error err;
    assert_int_equal(bs_graph_load_mem(s->b, s->len, "ok", &g, &err), BS_OK);
    bs_graph_free(g);
}

/* ------------------------------------------------------------ I/O, args */

static void test_load_io_errors(void **state)
{
    (void)state;
    char dir[512], path[600];
    tu_tmp_path(dir, sizeof dir, "gdir");
    assert_int_equal(mkdir(dir, 0755), 0);
    bs_error err;
    bs_graph *g;
    tu_assert_fails(bs_graph_load(dir, &g, &err), BS_ERR_IO, &err,
                    "not a regular file");
    snprintf(path, sizeof path, "%s/missing.bsg", dir);
    tu_assert_fails(bs_graph_load(path, &g, &err), BS_ERR_IO, &err,
                    "missing.bsg: cannot open");
    assert_null(g);
    rmdir(dir);
    tu_assert_fails(bs_graph_load(NULL, &g, &err), BS_ERR_INVALID_ARG, &err,
                    "path is NULL");
    tu_assert_fails(bs_graph_load("x", NULL, &err), BS_ERR_INVALID_ARG, &err,
                    "NULL");
    tu_assert_fails(bs_graph_load_mem(NULL, 4, NULL, &g, &err),
                    BS_ERR_INVALID_ARG, &err, "(buffer): buffer is NULL");
    tu_assert_fails(bs_graph_save(NULL, "x", &err), BS_ERR_INVALID_ARG, &err,
                    "graph is NULL");
}

static void test_save_missing_dir(void **state)
{
    (void)state;
    bs_graph *g = make_graph(5, 2, BS_MODE_SHARED);
    char path[512];
    tu_tmp_path(path, sizeof path, "no/such/dir/g.bsg");
    bs_error err;
    tu_assert_fails(bs_graph_save(g, path, &err), BS_ERR_IO, &err,
                    "cannot use directory");
    tu_assert_fails(bs_graph_save(g, "/proc/g.bsg", &err), BS_ERR_IO, &err,
                    "/proc/g.bsg");
    tu_assert_fails(bs_graph_save(g, NULL, &err), BS_ERR_INVALID_ARG, &err,
                    "path is NULL");
    bs_graph_free(g);
}

/* A graph whose similarities no loader would accept is refused at save
   time, and nothing is written. */
static void test_save_rejects_bad_sims(void **state)
{
    (void)state;
    int32_t nbr[3] = {1, 2, 0};
    float sim[3] = {0.5f, 2.0f, 0.1f};
    bs_graph *g;
    bs_error err;
    assert_int_equal(bs_graph_from_arrays(3, 1, nbr, sim, NULL, &g, &err),
                     BS_OK);
    char path[512];
    tu_tmp_path(path, sizeof path, "badsim.bsg");
    tu_assert_fails(bs_graph_save(g, path, &err), BS_ERR_INVALID_ARG, &err,
                    "row 1 similarity 0 is 2: expected a finite cosine");
    assert_int_equal(access(path, F_OK), -1);
    bs_graph_free(g);
}

static void test_save_rename_fails_no_temp(void **state)
{
    (void)state;
    char dir[512], target[600];
    tu_tmp_path(dir, sizeof dir, "grename");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(target, sizeof target, "%s/g.bsg", dir);
    assert_int_equal(mkdir(target, 0755), 0);
    bs_graph *g = make_graph(5, 2, BS_MODE_SHARED);
    bs_error err;
    tu_assert_fails(bs_graph_save(g, target, &err), BS_ERR_IO, &err,
                    "is a directory, not a regular file");
    assert_int_equal(tu_count_prefix(dir, "g.bsg.tmp."), 0);
    bs_graph_free(g);
    rmdir(target);
    rmdir(dir);
}

/* A save that fails part-way (RLIMIT_FSIZE: EFBIG even for root) leaves the
   previous file intact and no temporary file. */
static void test_failed_save_keeps_old(void **state)
{
    (void)state;
    char dir[512], path[600];
    tu_tmp_path(dir, sizeof dir, "gfsize");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/g.bsg", dir);
    bs_graph *old = make_graph(6, 2, BS_MODE_EXACT), *big, *h;
    bs_error err;
    assert_int_equal(bs_graph_save(old, path, &err), BS_OK);
    big = make_graph(20000, 4, BS_MODE_SHARED); /* 640 KB */
    const size_t limits[] = {65536, 200};       /* fail in fwrite / at flush */
    for (int i = 0; i < 2; i++) {
        bs_graph *g = i == 0 ? big : make_graph(12, 3, BS_MODE_SHARED);
        struct rlimit was, lim;
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
        lim = was;
        lim.rlim_cur = limits[i];
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        bs_status st = bs_graph_save(g, path, &err);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
        signal(SIGXFSZ, prev);
        tu_assert_fails(st, BS_ERR_IO, &err, "g.bsg");
        assert_int_equal(bs_graph_load(path, &h, &err), BS_OK);
        assert_same_graph(old, h);
        bs_graph_free(h);
        assert_int_equal(tu_count_prefix(dir, "g.bsg.tmp."), 0);
        if (g != big)
            bs_graph_free(g);
    }
    bs_graph_free(big);
    bs_graph_free(old);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_roundtrip_chunks_and_edges),
        cmocka_unit_test_setup_teardown(test_flipped_payload_byte, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_truncated, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_trailing_bytes, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_bad_magic, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_bad_version, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_bad_mode, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_bad_sizes, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_id_out_of_range, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_self_id, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_bad_similarity, setup_blob,
                                        teardown_blob),
        cmocka_unit_test(test_load_io_errors),
        cmocka_unit_test(test_save_missing_dir),
        cmocka_unit_test(test_save_rejects_bad_sims),
        cmocka_unit_test(test_save_rename_fails_no_temp),
        cmocka_unit_test(test_failed_save_keeps_old),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
