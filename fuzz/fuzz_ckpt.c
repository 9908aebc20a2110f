/*
 * fuzz_ckpt.c — libFuzzer target for the checkpoint reader (train/ckpt.h).
 *
 * Every input goes through bst_ckpt_open_mem.  A rejected input must give
 * BST_ERR_FORMAT (or BST_ERR_NOMEM), no reader and a one-line message.  An
 * accepted one must be self-consistent (every section found by name at the
 * same place, every payload readable, sizes checked by the exact-size
 * helper) and canonical: writing its sections again in the same order
 * gives back the input byte for byte (the format has no slack).  The input
 * is also written to a file and read by bst_ckpt_open, which must agree.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "fuzz_check.h"

static void check_line(const char *msg, size_t cap)
{
    CHECK(memchr(msg, '\0', cap) != NULL);
    CHECK(msg[0] != '\0' && strchr(msg, '\n') == NULL);
}

/* Touches every payload byte so ASan sees a short buffer. */
static unsigned touch(const void *p, size_t n)
{
    const unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

static void check_reader(const bst_ckpt_reader *r, const uint8_t *data,
                         size_t size)
{
    size_t n = bst_ckpt_count(r);
    char msg[256];
    bst_ckpt_writer *w;
    CHECK(bst_ckpt_writer_new(&w) == BST_OK);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *p, *q;
        size_t len, len2;
        CHECK(bst_ckpt_section(r, i, &name, &p, &len) == BST_OK);
        size_t nl = strlen(name);
        CHECK(nl >= 1 && nl <= BST_CKPT_MAX_NAME);
        (void)touch(p, len);
        CHECK(bst_ckpt_has(r, name));
        CHECK(bst_ckpt_get(r, name, &q, &len2, msg, sizeof msg) == BST_OK);
        CHECK(q == p && len2 == len);
        unsigned char b;
        if (len != 1) {
            msg[0] = '\0';
            CHECK(bst_ckpt_read_exact(r, name, &b, 1, msg, sizeof msg) ==
                  BST_ERR_FORMAT);
            check_line(msg, sizeof msg);
        }
        CHECK(bst_ckpt_add_ref(w, name, p, len) == BST_OK);
    }
    CHECK(bst_ckpt_section(r, n, NULL, NULL, NULL) == BST_ERR_INVAL);
    void *out;
    size_t nout;
    CHECK(bst_ckpt_to_mem(w, &out, &nout, msg, sizeof msg) == BST_OK);
    CHECK(nout == size && memcmp(out, data, size) == 0);
    free(out);
    bst_ckpt_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bst_ckpt_reader *r = (bst_ckpt_reader *)1;
    char msg[256] = "";
    int st = bst_ckpt_open_mem(data, size, "fuzz", &r, msg, sizeof msg);
    size_t n = 0;
    if (st == BST_OK) {
        CHECK(r != NULL);
        n = bst_ckpt_count(r);
        check_reader(r, data, size);
        bst_ckpt_close(r);
    } else {
        CHECK(st == BST_ERR_FORMAT || st == BST_ERR_NOMEM);
        CHECK(r == NULL);
        check_line(msg, sizeof msg);
    }

    char path[64];
    if (!write_scratch("fuzz_ckpt.ckpt", data, size, path, sizeof path))
        return 0;
    bst_ckpt_reader *f;
    msg[0] = '\0';
    int sf = bst_ckpt_open(path, &f, msg, sizeof msg);
    CHECK(sf == st);
    if (sf == BST_OK) {
        CHECK(bst_ckpt_count(f) == n);
        bst_ckpt_close(f);
    } else {
        CHECK(f == NULL);
        check_line(msg, sizeof msg);
    }
    unlink(path);
    return 0;
}
