/* fixture.h — the reference fixtures written by the PyTorch scripts
   (tests/ref_torch.py, tests/ref_torch_simclr.py): magic "BSTREF1\0",
   then records (uint32 name length, name, uint32 count, float32[count]),
   little-endian.  Header-only, for the cmocka tests that use them. */
#ifndef BST_TEST_FIXTURE_H
#define BST_TEST_FIXTURE_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    char name[64];
    uint32_t count;
    const unsigned char *data; /* little-endian float32, maybe unaligned */
} record;

typedef struct {
    unsigned char *buf;
    record rec[128];
    int n;
} fixture;

static inline uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Loads and indexes the fixture; records point into fx->buf (this test
   assumes a little-endian host). */
static inline void fixture_load(fixture *fx, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    fx->buf = malloc((size_t)len);
    assert_non_null(fx->buf);
    assert_int_equal(fread(fx->buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    assert_memory_equal(fx->buf, "BSTREF1\0", 8);
    size_t off = 8;
    fx->n = 0;
    while (off + 4 <= (size_t)len) {
        assert_true(fx->n < 128);
        record *r = &fx->rec[fx->n++];
        uint32_t nl = rd_u32(fx->buf + off);
        assert_true(nl < sizeof r->name && off + 8 + nl <= (size_t)len);
        memcpy(r->name, fx->buf + off + 4, nl);
        r->name[nl] = 0;
        r->count = rd_u32(fx->buf + off + 4 + nl);
        off += 8 + nl;
        assert_true(off + 4 * (size_t)r->count <= (size_t)len);
        r->data = fx->buf + off;
        off += 4 * (size_t)r->count;
    }
    assert_int_equal(off, (size_t)len);
}

/* The record `name`, which must hold `count` floats, copied out (records
   are not necessarily 4-byte aligned in the buffer). */
static inline float *fx_get(const fixture *fx, const char *name, size_t count)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->rec[i].name, name) == 0) {
            if (fx->rec[i].count != count)
                fail_msg("%s: %u values, expected %zu", name, fx->rec[i].count,
                         count);
            float *out = malloc(count * sizeof(float));
            assert_non_null(out);
            memcpy(out, fx->rec[i].data, count * sizeof(float));
            return out;
        }
    fail_msg("fixture has no record %s", name);
    return NULL;
}

#endif
