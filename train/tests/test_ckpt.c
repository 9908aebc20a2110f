/* test_ckpt.c — the checkpoint container (ckpt.h): round trips (empty,
   scalar and multi-megabyte sections, copy vs reference), the exact bytes
   of a small file, every truncation and every single-bit flip of a small
   file rejected, each malformed header field rejected on its own (the
   file CRC recomputed so that only the field under test is wrong), lookups
   and size mismatches with their messages, and commits that fail (missing
   directory, a directory in the way, a write failing with EFBIG under
   RLIMIT_FSIZE) leaving the old file untouched and no temporary behind. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "ckpt.h"

/* ------------------------------------------------------------- helpers */

typedef struct {
    char dir[256];
    char path[320]; /* dir/ck.bin */
} tmp_dir;

static int setup_dir(void **state)
{
    tmp_dir *t = calloc(1, sizeof *t);
    /* the project's scripts point BS_TEST_TMPDIR into the build folder */
    const char *base = getenv("BS_TEST_TMPDIR");
    if (!base)
        base = getenv("TMPDIR");
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "%s/bst_ckpt_XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/ck.bin", t->dir);
    *state = t;
    return 0;
}

/* Removes everything in dir (files and empty subfolders), then dir. */
static int teardown_dir(void **state)
{
    tmp_dir *t = *state;
    DIR *d = opendir(t->dir);
    if (d) {
        struct dirent *e;
        char p[600];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
            if (unlink(p) != 0)
                rmdir(p);
        }
        closedir(d);
    }
    rmdir(t->dir);
    free(t);
    return 0;
}

/* Entries in dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* A message is one non-empty line. */
static void check_msg(const char *msg)
{
    assert_true(msg[0] != '\0');
    assert_null(strchr(msg, '\n'));
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_file(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* open_mem on an exact-size heap copy (so an over-read is an ASan /
   valgrind error) expecting BST_ERR_FORMAT and a message containing
   `want` (NULL: any); returns nothing, asserts. */
static void expect_format(const unsigned char *b, size_t n, const char *want)
{
    unsigned char *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, b, n);
    bst_ckpt_reader *r = (bst_ckpt_reader *)1;
    char msg[256] = "";
    int rc = bst_ckpt_open_mem(c, n, "t.ckpt", &r, msg, sizeof msg);
    free(c);
    if (rc != BST_ERR_FORMAT)
        fail_msg("expected BST_ERR_FORMAT, got %d (len %zu)", rc, n);
    assert_null(r);
    check_msg(msg);
    assert_non_null(strstr(msg, "t.ckpt"));
    if (want && !strstr(msg, want))
        fail_msg("message \"%s\" lacks \"%s\"", msg, want);
}

/* A byte builder for hand-made (possibly malformed) files. */
typedef struct {
    unsigned char b[4096];
    size_t n;
} bytes;

static void b_raw(bytes *x, const void *p, size_t n)
{
    assert_true(x->n + n <= sizeof x->b);
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

static void b_u32(bytes *x, uint32_t v)
{
    unsigned char t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (unsigned char)(v >> 8 * i);
    b_raw(x, t, 4);
}

static void b_u64(bytes *x, uint64_t v)
{
    unsigned char t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (unsigned char)(v >> 8 * i);
    b_raw(x, t, 8);
}

static void b_head(bytes *x, uint32_t version, uint32_t count)
{
    x->n = 0;
    b_raw(x, "BSCKPT\0\0", 8);
    b_u32(x, version);
    b_u32(x, count);
}

/* A section with a correct CRC; name_len and declared len as given. */
static void b_sec(bytes *x, const char *name, uint32_t name_len, const void *p,
                  size_t len, uint64_t declared)
{
    b_u32(x, name_len);
    b_raw(x, name, name_len);
    b_u64(x, declared);
    b_u32(x, (uint32_t)crc32(0, p, (uInt)len));
    b_raw(x, p, len);
}

static void b_end(bytes *x)
{
    b_u32(x, (uint32_t)crc32(0, x->b, (uInt)x->n));
}

/* The small valid file used by the exhaustive tests: 85 bytes. */
static unsigned char *small_file(size_t *n)
{
    bst_ckpt_writer *w;
    assert_int_equal(bst_ckpt_writer_new(&w), BST_OK);
    const unsigned char a[3] = {1, 2, 3};
    assert_int_equal(bst_ckpt_add(w, "a", a, 3), BST_OK);
    assert_int_equal(bst_ckpt_add_u64(w, "step", 12345), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "e", NULL, 0), BST_OK);
    void *out;
    assert_int_equal(bst_ckpt_to_mem(w, &out, n, NULL, 0), BST_OK);
    bst_ckpt_writer_free(w);
    assert_int_equal(*n, 85);
    return out;
}

/* ---------------------------------------------------------------- tests */

static void test_round_trip(void **state)
{
    tmp_dir *t = *state;
    size_t nf = 1000, nbig = 3u << 20, nref = 2u << 20;
    float *params = malloc(nf * sizeof *params);
    unsigned char *big = malloc(nbig), *ref = malloc(nref);
    assert_non_null(params);
    assert_non_null(big);
    assert_non_null(ref);
    for (size_t i = 0; i < nf; i++)
        params[i] = (float)i * 0.25f - 7.0f;
    for (size_t i = 0; i < nbig; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 13);
    for (size_t i = 0; i < nref; i++)
        ref[i] = (unsigned char)(i * 40503u >> 7);
    const char *cfg = "loss=dcl tau=0.5 batch=256";
    char name64[65];
    memset(name64, 'x', 64);
    name64[64] = '\0';

    bst_ckpt_writer *w;
    assert_int_equal(bst_ckpt_writer_new(&w), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "model.params", params, nf * 4), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "empty", NULL, 0), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "big", big, nbig), BST_OK);
    assert_int_equal(bst_ckpt_add_ref(w, "adamw.m", ref, nref), BST_OK);
    assert_int_equal(bst_ckpt_add_u64(w, "adamw.t", UINT64_MAX - 5), BST_OK);
    assert_int_equal(bst_ckpt_add_f64(w, "lr", 0.1), BST_OK);
    assert_int_equal(bst_ckpt_add_f64(w, "neg0", -0.0), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "config", cfg, strlen(cfg)), BST_OK);
    assert_int_equal(bst_ckpt_add(w, name64, "!", 1), BST_OK);
    /* ~!: the whole visible range is allowed */
    assert_int_equal(bst_ckpt_add(w, "~!\"#/:@[`{", "", 0), BST_OK);
    char msg[256] = "";
    assert_int_equal(bst_ckpt_commit(w, t->path, msg, sizeof msg), BST_OK);
    assert_string_equal(msg, ""); /* untouched on success */
    assert_int_equal(count_entries(t->dir), 1);

    /* the memory image is the file */
    void *mem;
    size_t nmem, nfile;
    assert_int_equal(bst_ckpt_to_mem(w, &mem, &nmem, msg, sizeof msg), BST_OK);
    unsigned char *file = read_file(t->path, &nfile);
    assert_int_equal(nmem, nfile);
    assert_memory_equal(mem, file, nfile);
    free(mem);
    free(file);
    bst_ckpt_writer_free(w);

    bst_ckpt_reader *r;
    assert_int_equal(bst_ckpt_open(t->path, &r, msg, sizeof msg), BST_OK);
    assert_int_equal(bst_ckpt_count(r), 10);
    const char *order[10] = {"model.params", "empty",      "big",  "adamw.m",
                             "adamw.t",      "lr",         "neg0", "config",
                             name64,         "~!\"#/:@[`{"};
    for (size_t i = 0; i < 10; i++) {
        const char *name;
        assert_int_equal(bst_ckpt_section(r, i, &name, NULL, NULL), BST_OK);
        assert_string_equal(name, order[i]);
        assert_true(bst_ckpt_has(r, order[i]));
    }
    assert_int_equal(bst_ckpt_section(r, 10, NULL, NULL, NULL), BST_ERR_INVAL);

    float *back = malloc(nf * sizeof *back);
    assert_non_null(back);
    assert_int_equal(
        bst_ckpt_read_exact(r, "model.params", back, nf * 4, msg, sizeof msg),
        BST_OK);
    assert_memory_equal(back, params, nf * 4);
    free(back);

    const void *p;
    size_t len;
    assert_int_equal(bst_ckpt_get(r, "empty", &p, &len, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(len, 0);
    assert_int_equal(bst_ckpt_read_exact(r, "empty", NULL, 0, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(bst_ckpt_get(r, "big", &p, &len, msg, sizeof msg), BST_OK);
    assert_int_equal(len, nbig);
    assert_memory_equal(p, big, nbig);
    assert_int_equal(bst_ckpt_get(r, "adamw.m", &p, &len, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(len, nref);
    assert_memory_equal(p, ref, nref);
    assert_int_equal(bst_ckpt_get(r, "config", &p, &len, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(len, strlen(cfg));
    assert_memory_equal(p, cfg, len);

    uint64_t u;
    double d;
    assert_int_equal(bst_ckpt_read_u64(r, "adamw.t", &u, msg, sizeof msg),
                     BST_OK);
    assert_true(u == UINT64_MAX - 5);
    assert_int_equal(bst_ckpt_read_f64(r, "lr", &d, msg, sizeof msg), BST_OK);
    assert_true(d == 0.1);
    assert_int_equal(bst_ckpt_read_f64(r, "neg0", &d, msg, sizeof msg), BST_OK);
    assert_true(d == 0.0 && 1.0 / d < 0); /* the sign survives */
    /* u64 scalars are little-endian on disk whatever the host */
    assert_int_equal(bst_ckpt_get(r, "adamw.t", &p, &len, msg, sizeof msg),
                     BST_OK);
    const unsigned char *ub = p;
    assert_int_equal(ub[0], 0xfa);
    assert_int_equal(ub[7], 0xff);
    bst_ckpt_close(r);
    free(params);
    free(big);
    free(ref);
}

/* The exact bytes of a two-section file (written independently with
   Python's struct and zlib.crc32): pins the format. */
static void test_golden_bytes(void **state)
{
    (void)state;
    static const unsigned char golden[58] = {
        0x42, 0x53, 0x43, 0x4b, 0x50, 0x54, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x61, 0x03, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x1d, 0x80, 0xbc, 0x55, 0x01, 0x02, 0x03,
        0x02, 0x00, 0x00, 0x00, 0x62, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x90, 0xe4};
    static const unsigned char empty[20] = {
        0x42, 0x53, 0x43, 0x4b, 0x50, 0x54, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x91, 0x1e, 0xab, 0x85};
    bst_ckpt_writer *w;
    assert_int_equal(bst_ckpt_writer_new(&w), BST_OK);
    void *out;
    size_t n;
    assert_int_equal(bst_ckpt_to_mem(w, &out, &n, NULL, 0), BST_OK);
    assert_int_equal(n, sizeof empty);
    assert_memory_equal(out, empty, n);
    free(out);
    const unsigned char a[3] = {1, 2, 3};
    assert_int_equal(bst_ckpt_add(w, "a", a, 3), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "bc", a, 0), BST_OK);
    assert_int_equal(bst_ckpt_to_mem(w, &out, &n, NULL, 0), BST_OK);
    assert_int_equal(n, sizeof golden);
    assert_memory_equal(out, golden, n);
    free(out);
    bst_ckpt_writer_free(w);

    bst_ckpt_reader *r;
    assert_int_equal(bst_ckpt_open_mem(empty, sizeof empty, NULL, &r, NULL, 0),
                     BST_OK);
    assert_int_equal(bst_ckpt_count(r), 0);
    assert_false(bst_ckpt_has(r, "a"));
    bst_ckpt_close(r);
    assert_int_equal(
        bst_ckpt_open_mem(golden, sizeof golden, NULL, &r, NULL, 0), BST_OK);
    assert_int_equal(bst_ckpt_count(r), 2);
    unsigned char back[3];
    assert_int_equal(bst_ckpt_read_exact(r, "a", back, 3, NULL, 0), BST_OK);
    assert_memory_equal(back, a, 3);
    bst_ckpt_close(r);
}

static void test_copy_vs_reference(void **state)
{
    (void)state;
    unsigned char c[4] = {1, 2, 3, 4}, rf[4] = {5, 6, 7, 8};
    bst_ckpt_writer *w;
    assert_int_equal(bst_ckpt_writer_new(&w), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "copied", c, 4), BST_OK);
    assert_int_equal(bst_ckpt_add_ref(w, "referenced", rf, 4), BST_OK);
    c[0] = 100;  /* not seen: copied at add */
    rf[0] = 200; /* seen: referenced until commit */
    void *out;
    size_t n;
    assert_int_equal(bst_ckpt_to_mem(w, &out, &n, NULL, 0), BST_OK);
    bst_ckpt_writer_free(w);
    bst_ckpt_reader *r;
    assert_int_equal(bst_ckpt_open_mem(out, n, NULL, &r, NULL, 0), BST_OK);
    free(out); /* the reader holds its own copy */
    unsigned char b[4];
    assert_int_equal(bst_ckpt_read_exact(r, "copied", b, 4, NULL, 0), BST_OK);
    assert_int_equal(b[0], 1);
    assert_int_equal(bst_ckpt_read_exact(r, "referenced", b, 4, NULL, 0),
                     BST_OK);
    assert_int_equal(b[0], 200);
    bst_ckpt_close(r);
}

/* Every prefix of a valid file is rejected, from memory and from a file. */
static void test_every_truncation(void **state)
{
    tmp_dir *t = *state;
    size_t n;
    unsigned char *f = small_file(&n);
    for (size_t k = 0; k < n; k++) {
        expect_format(f, k, "truncated");
        write_file(t->path, f, k);
        bst_ckpt_reader *r;
        char msg[256] = "";
        assert_int_equal(bst_ckpt_open(t->path, &r, msg, sizeof msg),
                         BST_ERR_FORMAT);
        assert_null(r);
        check_msg(msg);
        assert_non_null(strstr(msg, t->path));
    }
    /* and the whole file is fine */
    bst_ckpt_reader *r;
    assert_int_equal(bst_ckpt_open_mem(f, n, NULL, &r, NULL, 0), BST_OK);
    bst_ckpt_close(r);
    free(f);
}

/* Every single-bit flip of a valid file is rejected. */
static void test_every_bit_flip(void **state)
{
    (void)state;
    size_t n;
    unsigned char *f = small_file(&n);
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            f[i] ^= (unsigned char)(1u << bit);
            expect_format(f, n, NULL);
            f[i] ^= (unsigned char)(1u << bit);
        }
    free(f);
}

/* Each header field wrong on its own: the section and file CRCs are
   correct, so only the check under test can reject the file. */
static void test_bad_magic_version(void **state)
{
    (void)state;
    bytes x;
    b_head(&x, 1, 0);
    b_end(&x);
    bst_ckpt_reader *r;
    assert_int_equal(bst_ckpt_open_mem(x.b, x.n, NULL, &r, NULL, 0), BST_OK);
    bst_ckpt_close(r);

    x.b[0] = 'b';
    x.n -= 4;
    b_end(&x);
    expect_format(x.b, x.n, "magic");
    b_head(&x, 1, 0);
    x.b[7] = 1; /* the two NULs are part of the magic */
    b_end(&x);
    expect_format(x.b, x.n, "magic");
    expect_format((const unsigned char *)"BSCKPX", 6, "magic");
    expect_format((const unsigned char *)"BSCKPT", 6, "truncated");
    expect_format((const unsigned char *)"", 0, "truncated");

    uint32_t versions[4] = {0, 2, 256, 0xffffffffu};
    for (int i = 0; i < 4; i++) {
        b_head(&x, versions[i], 0);
        b_end(&x);
        expect_format(x.b, x.n, "version");
    }
}

static void test_bad_names(void **state)
{
    (void)state;
    const char *bad[] = {"has space", "tab\t", "del\x7f", "nul\0x", "hi\x80"};
    const uint32_t bad_len[] = {9, 4, 4, 5, 3};
    bytes x;
    for (int i = 0; i < 5; i++) {
        b_head(&x, 1, 1);
        b_sec(&x, bad[i], bad_len[i], "v", 1, 1);
        b_end(&x);
        expect_format(x.b, x.n, "visible ASCII");
    }
    char n65[66];
    memset(n65, 'n', 65);
    uint32_t lens[3] = {0, 65, 0xffffffffu};
    for (int i = 0; i < 3; i++) {
        b_head(&x, 1, 1);
        b_u32(&x, lens[i]);
        b_raw(&x, n65, 65); /* bytes enough for any in-range length */
        b_u64(&x, 0);
        b_u32(&x, 0);
        b_end(&x);
        expect_format(x.b, x.n, "name length");
    }
    /* 64 is the limit */
    b_head(&x, 1, 1);
    b_sec(&x, n65, 64, "", 0, 0);
    b_end(&x);
    bst_ckpt_reader *r;
    assert_int_equal(bst_ckpt_open_mem(x.b, x.n, NULL, &r, NULL, 0), BST_OK);
    bst_ckpt_close(r);
}

static void test_duplicate_name(void **state)
{
    (void)state;
    bytes x;
    b_head(&x, 1, 3);
    b_sec(&x, "w", 1, "1", 1, 1);
    b_sec(&x, "b", 1, "2", 1, 1);
    b_sec(&x, "w", 1, "3", 1, 1);
    b_end(&x);
    expect_format(x.b, x.n, "duplicate section name \"w\"");
    /* a name that is a prefix of another is not a duplicate */
    b_head(&x, 1, 2);
    b_sec(&x, "w", 1, "1", 1, 1);
    b_sec(&x, "w2", 2, "2", 1, 1);
    b_end(&x);
    bst_ckpt_reader *r;
    assert_int_equal(bst_ckpt_open_mem(x.b, x.n, NULL, &r, NULL, 0), BST_OK);
    assert_true(bst_ckpt_has(r, "w") && bst_ckpt_has(r, "w2"));
    assert_false(bst_ckpt_has(r, "w3"));
    bst_ckpt_close(r);
}

static void test_oversize_lengths(void **state)
{
    (void)state;
    bytes x;
    /* payload lengths past the end, including ones that overflow a
       size_t sum and one a single byte too long */
    uint64_t lens[5] = {UINT64_MAX, UINT64_MAX - 3, (uint64_t)1 << 63, 1u << 30,
                        5};
    for (int i = 0; i < 5; i++) {
        b_head(&x, 1, 1);
        b_sec(&x, "p", 1, "1234", 4, lens[i]);
        b_end(&x);
        expect_format(x.b, x.n, "truncated");
    }
    /* section counts: over the limit, more than can fit, one too many */
    b_head(&x, 1, 0xffffffffu);
    b_end(&x);
    expect_format(x.b, x.n, "sections");
    b_head(&x, 1, BST_CKPT_MAX_SECTIONS + 1);
    b_end(&x);
    expect_format(x.b, x.n, "expected at most");
    b_head(&x, 1, 1000);
    b_sec(&x, "p", 1, "1234", 4, 4);
    b_end(&x);
    expect_format(x.b, x.n, "cannot fit");
    b_head(&x, 1, 2);
    b_sec(&x, "p", 1, "1234", 4, 4);
    b_sec(&x, "q", 1, "1234", 4, 4);
    x.b[12] = 3; /* count 3, two present, the third cannot fit */
    b_end(&x);
    expect_format(x.b, x.n, "truncated");
    /* a payload length one byte short leaves bytes over */
    b_head(&x, 1, 1);
    b_sec(&x, "p", 1, "1234", 4, 3);
    b_end(&x);
    expect_format(x.b, x.n, NULL);
}

static void test_section_crc(void **state)
{
    (void)state;
    bytes x;
    b_head(&x, 1, 1);
    b_sec(&x, "p", 1, "1234", 4, 4);
    x.b[x.n - 1] = '5'; /* payload changed, file CRC made to match */
    b_end(&x);
    expect_format(x.b, x.n, "section \"p\" fails its CRC");
    b_head(&x, 1, 1);
    b_sec(&x, "p", 1, "1234", 4, 4);
    b_u32(&x, 0); /* wrong file CRC */
    expect_format(x.b, x.n, "file CRC");
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    size_t n;
    unsigned char *f = small_file(&n);
    unsigned char *g = malloc(n + 16);
    assert_non_null(g);
    memcpy(g, f, n);
    /* junk after the file CRC */
    memset(g + n, 0, 16);
    for (size_t extra = 1; extra <= 16; extra++)
        expect_format(g, n + extra, NULL);
    /* junk before a correct file CRC: only the trailing bytes are wrong */
    bytes x;
    memcpy(x.b, f, n - 4);
    x.n = n - 4;
    b_raw(&x, "junk", 4);
    b_end(&x);
    expect_format(x.b, x.n, "4 unexpected bytes");
    /* a section count one short leaves the last section as trailing */
    memcpy(x.b, f, n - 4);
    x.n = n - 4;
    x.b[12] = 2;
    b_end(&x);
    expect_format(x.b, x.n, "unexpected bytes");
    free(g);
    free(f);
}

static void test_missing_and_size_mismatch(void **state)
{
    (void)state;
    size_t n;
    unsigned char *f = small_file(&n);
    bst_ckpt_reader *r;
    assert_int_equal(bst_ckpt_open_mem(f, n, "run7.ckpt", &r, NULL, 0), BST_OK);
    free(f);
    char msg[256] = "";
    const void *p = (const void *)1;
    size_t len = 99;
    assert_int_equal(bst_ckpt_get(r, "adamw.v", &p, &len, msg, sizeof msg),
                     BST_ERR_FORMAT);
    assert_null(p);
    assert_int_equal(len, 0);
    check_msg(msg);
    assert_non_null(strstr(msg, "run7.ckpt"));
    assert_non_null(strstr(msg, "no section \"adamw.v\""));
    assert_false(bst_ckpt_has(r, "adamw.v"));
    assert_false(bst_ckpt_has(r, NULL));
    assert_false(bst_ckpt_has(NULL, "a"));

    unsigned char dst[16];
    memset(dst, 0xab, sizeof dst);
    msg[0] = '\0';
    assert_int_equal(bst_ckpt_read_exact(r, "step", dst, 16, msg, sizeof msg),
                     BST_ERR_FORMAT);
    check_msg(msg);
    assert_non_null(strstr(msg, "run7.ckpt"));
    assert_non_null(strstr(msg, "section \"step\" has 8 bytes, expected 16"));
    for (int i = 0; i < 16; i++)
        assert_int_equal(dst[i], 0xab); /* not written */
    assert_int_equal(bst_ckpt_read_exact(r, "a", dst, 2, msg, sizeof msg),
                     BST_ERR_FORMAT);
    assert_non_null(strstr(msg, "has 3 bytes, expected 2"));
    assert_int_equal(bst_ckpt_read_exact(r, "nope", dst, 2, msg, sizeof msg),
                     BST_ERR_FORMAT);
    assert_non_null(strstr(msg, "no section \"nope\""));
    uint64_t u;
    double d;
    assert_int_equal(bst_ckpt_read_u64(r, "a", &u, msg, sizeof msg),
                     BST_ERR_FORMAT);
    assert_non_null(strstr(msg, "has 3 bytes, expected 8"));
    assert_int_equal(bst_ckpt_read_f64(r, "e", &d, msg, sizeof msg),
                     BST_ERR_FORMAT);
    assert_non_null(strstr(msg, "has 0 bytes, expected 8"));
    assert_int_equal(bst_ckpt_read_u64(r, "step", &u, msg, sizeof msg), BST_OK);
    assert_true(u == 12345);

    /* a short buffer truncates the message but keeps it terminated */
    char small[12];
    assert_int_equal(bst_ckpt_get(r, "zz", &p, &len, small, sizeof small),
                     BST_ERR_FORMAT);
    assert_int_equal(strlen(small), sizeof small - 1);
    /* NULL arguments */
    assert_int_equal(bst_ckpt_get(r, NULL, &p, &len, NULL, 0), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_get(NULL, "a", &p, &len, NULL, 0), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_get(r, "a", NULL, &len, NULL, 0), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_read_exact(r, "a", NULL, 3, NULL, 0),
                     BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_read_u64(r, "step", NULL, NULL, 0),
                     BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_section(NULL, 0, NULL, NULL, NULL),
                     BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_count(NULL), 0);
    bst_ckpt_close(r);
    bst_ckpt_close(NULL);
}

static void test_open_errors(void **state)
{
    tmp_dir *t = *state;
    bst_ckpt_reader *r;
    char msg[512] = "";
    assert_int_equal(bst_ckpt_open(t->path, &r, msg, sizeof msg), BST_ERR_IO);
    assert_null(r);
    check_msg(msg);
    assert_non_null(strstr(msg, t->path));
    assert_non_null(strstr(msg, strerror(ENOENT)));
    assert_int_equal(bst_ckpt_open(t->dir, &r, msg, sizeof msg), BST_ERR_IO);
    assert_non_null(strstr(msg, "not a regular file"));
    write_file(t->path, "", 0);
    assert_int_equal(bst_ckpt_open(t->path, &r, msg, sizeof msg),
                     BST_ERR_FORMAT);
    assert_int_equal(bst_ckpt_open(NULL, &r, msg, sizeof msg), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_open(t->path, NULL, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_open_mem(NULL, 3, NULL, &r, msg, sizeof msg),
                     BST_ERR_INVAL);
}

static void test_add_errors_are_sticky(void **state)
{
    tmp_dir *t = *state;
    bst_ckpt_writer *w;
    assert_int_equal(bst_ckpt_writer_new(&w), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "w", "1", 1), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "w", "2", 1), BST_ERR_INVAL);
    char n65[66];
    memset(n65, 'n', 65);
    n65[65] = '\0';
    const char *bad[] = {"", "a b", "tab\t", "\x7f", "\xc3\xa9", n65};
    for (int i = 0; i < 6; i++)
        assert_int_equal(bst_ckpt_add(w, bad[i], "x", 1), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_add(w, NULL, "x", 1), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_add(w, "nodata", NULL, 4), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_add(NULL, "x", "x", 1), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_add(w, "fine", "x", 1), BST_OK);

    /* the first error (the duplicate) stops every commit */
    char msg[512] = "";
    assert_int_equal(bst_ckpt_commit(w, t->path, msg, sizeof msg),
                     BST_ERR_INVAL);
    check_msg(msg);
    assert_non_null(strstr(msg, t->path));
    assert_non_null(strstr(msg, "not written"));
    assert_non_null(strstr(msg, "duplicate section name \"w\""));
    assert_int_equal(count_entries(t->dir), 0);
    void *out = (void *)1;
    size_t n = 1;
    assert_int_equal(bst_ckpt_to_mem(w, &out, &n, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_null(out);
    assert_int_equal(n, 0);
    bst_ckpt_writer_free(w);

    /* the first of several different errors is the one kept */
    assert_int_equal(bst_ckpt_writer_new(&w), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "a b", "x", 1), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_add(w, "nodata", NULL, 4), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_commit(w, t->path, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_non_null(strstr(msg, "bad section name"));
    assert_int_equal(bst_ckpt_commit(w, NULL, msg, sizeof msg), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_commit(w, "", msg, sizeof msg), BST_ERR_INVAL);
    assert_int_equal(bst_ckpt_commit(NULL, t->path, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_int_equal(count_entries(t->dir), 0);
    bst_ckpt_writer_free(w);
    bst_ckpt_writer_free(NULL);
    assert_int_equal(bst_ckpt_writer_new(NULL), BST_ERR_INVAL);
}

/* A checkpoint writer with one section; the caller frees it. */
static bst_ckpt_writer *one_section(const char *payload)
{
    bst_ckpt_writer *w;
    assert_int_equal(bst_ckpt_writer_new(&w), BST_OK);
    assert_int_equal(bst_ckpt_add(w, "v", payload, strlen(payload)), BST_OK);
    return w;
}

/* path holds a checkpoint whose "v" is payload. */
static void expect_payload(const char *path, const char *payload)
{
    bst_ckpt_reader *r;
    char msg[512] = "";
    if (bst_ckpt_open(path, &r, msg, sizeof msg) != BST_OK)
        fail_msg("%s", msg);
    const void *p;
    size_t len;
    assert_int_equal(bst_ckpt_get(r, "v", &p, &len, msg, sizeof msg), BST_OK);
    assert_int_equal(len, strlen(payload));
    assert_memory_equal(p, payload, len);
    bst_ckpt_close(r);
}

static void test_overwrite_is_atomic(void **state)
{
    tmp_dir *t = *state;
    bst_ckpt_writer *a = one_section("old checkpoint"),
                    *b = one_section("the new one, longer");
    char msg[512] = "";
    assert_int_equal(bst_ckpt_commit(a, t->path, msg, sizeof msg), BST_OK);
    expect_payload(t->path, "old checkpoint");
    /* a reader that opened the old file keeps seeing the old bytes: the
       new file replaces it by rename, it is not written in place */
    FILE *old = fopen(t->path, "rb");
    assert_non_null(old);
    struct stat s1, s2;
    assert_int_equal(stat(t->path, &s1), 0);
    assert_int_equal(bst_ckpt_commit(b, t->path, msg, sizeof msg), BST_OK);
    assert_int_equal(stat(t->path, &s2), 0);
    assert_true(s1.st_ino != s2.st_ino);
    expect_payload(t->path, "the new one, longer");
    assert_int_equal(count_entries(t->dir), 1);
    unsigned char head[64];
    size_t got = fread(head, 1, sizeof head, old);
    fclose(old);
    assert_true(got > 20);
    int found = 0;
    for (size_t i = 0; i + 14 <= got; i++)
        found |= memcmp(head + i, "old checkpoint", 14) == 0;
    assert_true(found);
    /* committing the same writer again (a retry) and to a second path */
    char second[400];
    snprintf(second, sizeof second, "%s/second.ckpt", t->dir);
    assert_int_equal(bst_ckpt_commit(a, t->path, msg, sizeof msg), BST_OK);
    assert_int_equal(bst_ckpt_commit(a, second, msg, sizeof msg), BST_OK);
    expect_payload(t->path, "old checkpoint");
    expect_payload(second, "old checkpoint");
    assert_int_equal(count_entries(t->dir), 2);
    bst_ckpt_writer_free(a);
    bst_ckpt_writer_free(b);
}

static void test_commit_missing_dir(void **state)
{
    tmp_dir *t = *state;
    char path[400];
    snprintf(path, sizeof path, "%s/no/such/dir/ck.bin", t->dir);
    bst_ckpt_writer *w = one_section("x");
    char msg[512] = "";
    assert_int_equal(bst_ckpt_commit(w, path, msg, sizeof msg), BST_ERR_IO);
    check_msg(msg);
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, strerror(ENOENT)));
    assert_int_equal(count_entries(t->dir), 0);
    bst_ckpt_writer_free(w);
}

/* The target is a directory: refused before anything is written (it is
   never replaced), and nothing is left behind. */
static void test_commit_rename_fails(void **state)
{
    tmp_dir *t = *state;
    assert_int_equal(mkdir(t->path, 0755), 0);
    bst_ckpt_writer *w = one_section("x");
    char msg[512] = "";
    assert_int_equal(bst_ckpt_commit(w, t->path, msg, sizeof msg), BST_ERR_IO);
    check_msg(msg);
    assert_non_null(strstr(msg, t->path));
    assert_non_null(strstr(msg, "exists and is a directory"));
    assert_int_equal(count_entries(t->dir), 1); /* the directory only */
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    bst_ckpt_writer_free(w);
}

/* A write that fails half-way (EFBIG under RLIMIT_FSIZE, as ENOSPC would)
   in a child process: the old checkpoint is untouched and no temporary
   file is left. */
static void test_commit_write_fails(void **state)
{
    tmp_dir *t = *state;
    bst_ckpt_writer *old = one_section("the old checkpoint");
    char msg[512] = "";
    assert_int_equal(bst_ckpt_commit(old, t->path, msg, sizeof msg), BST_OK);
    bst_ckpt_writer_free(old);
    size_t nbefore;
    unsigned char *before = read_file(t->path, &nbefore);

    size_t nbig = 1u << 20;
    unsigned char *big = calloc(1, nbig);
    assert_non_null(big);
    bst_ckpt_writer *w;
    assert_int_equal(bst_ckpt_writer_new(&w), BST_OK);
    assert_int_equal(bst_ckpt_add_ref(w, "v", big, nbig), BST_OK);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {100000, 100000};
        int rc = setrlimit(RLIMIT_FSIZE, &rl) == 0
                     ? bst_ckpt_commit(w, t->path, msg, sizeof msg)
                     : 99;
        ssize_t k = write(fds[1], &rc, sizeof rc);
        k += write(fds[1], msg, sizeof msg);
        _exit(k == (ssize_t)(sizeof rc + sizeof msg) ? 0 : 1);
    }
    close(fds[1]);
    int rc = 0;
    size_t got = 0;
    char buf[sizeof rc + sizeof msg];
    for (;;) {
        ssize_t k = read(fds[0], buf + got, sizeof buf - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(got, sizeof buf);
    memcpy(&rc, buf, sizeof rc);
    memcpy(msg, buf + sizeof rc, sizeof msg);
    msg[sizeof msg - 1] = '\0';
    if (rc != BST_ERR_IO)
        fail_msg("commit in the child returned %d: %s", rc, msg);
    check_msg(msg);
    assert_non_null(strstr(msg, t->path));
    assert_non_null(strstr(msg, "write failed"));
    assert_non_null(strstr(msg, strerror(EFBIG)));

    assert_int_equal(count_entries(t->dir), 1);
    size_t nafter;
    unsigned char *after = read_file(t->path, &nafter);
    assert_int_equal(nafter, nbefore);
    assert_memory_equal(after, before, nbefore);
    expect_payload(t->path, "the old checkpoint");
    /* the same writer succeeds without the limit */
    assert_int_equal(bst_ckpt_commit(w, t->path, msg, sizeof msg), BST_OK);
    assert_int_equal(count_entries(t->dir), 1);
    bst_ckpt_writer_free(w);
    free(big);
    free(before);
    free(after);
}

/* A FIFO at the path: open fails at once (no wait for a writer), commit
   refuses to replace it.  A link is written through and stays a link. */
static void test_fifo_and_link(void **state)
{
    tmp_dir *t = *state;
    char msg[512] = "", link[400];
    assert_int_equal(mkfifo(t->path, 0644), 0);
    bst_ckpt_reader *r = NULL;
    assert_int_equal(bst_ckpt_open(t->path, &r, msg, sizeof msg), BST_ERR_IO);
    assert_non_null(strstr(msg, "it is a FIFO"));
    bst_ckpt_writer *w = one_section("x");
    assert_int_equal(bst_ckpt_commit(w, t->path, msg, sizeof msg), BST_ERR_IO);
    assert_non_null(strstr(msg, "exists and is a FIFO"));
    struct stat st;
    assert_int_equal(lstat(t->path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(unlink(t->path), 0);
    snprintf(link, sizeof link, "%s/link", t->dir);
    assert_int_equal(symlink("ck.bin", link), 0);
    assert_int_equal(bst_ckpt_commit(w, link, msg, sizeof msg), BST_ERR_IO);
    assert_non_null(strstr(msg, "symbolic link to a missing")); /* dangling */
    assert_int_equal(bst_ckpt_commit(w, t->path, msg, sizeof msg), BST_OK);
    assert_int_equal(bst_ckpt_commit(w, link, msg, sizeof msg), BST_OK);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(bst_ckpt_open(t->path, &r, msg, sizeof msg), BST_OK);
    assert_int_equal(bst_ckpt_count(r), 1);
    bst_ckpt_close(r);
    bst_ckpt_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_copy_vs_reference),
        cmocka_unit_test_setup_teardown(test_every_truncation, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_bad_magic_version),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_duplicate_name),
        cmocka_unit_test(test_oversize_lengths),
        cmocka_unit_test(test_section_crc),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_missing_and_size_mismatch),
        cmocka_unit_test_setup_teardown(test_open_errors, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_add_errors_are_sticky, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_overwrite_is_atomic, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_commit_missing_dir, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_commit_rename_fails, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_commit_write_fails, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_fifo_and_link, setup_dir,
                                        teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
