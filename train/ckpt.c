/*
 * ckpt.c — the checkpoint container (format and API in ckpt.h).
 *
 * Writer: sections are kept in memory (copied or referenced) and encoded at
 * commit through a small "sink" (the library's atomic writer, or a memory
 * buffer for bst_ckpt_to_mem), so the file and the memory image are the
 * same bytes by construction.
 *
 * Reader: the whole file is read into one buffer, then parsed with every
 * length compared against the bytes left before it is used; the section
 * tables are allocated only once the section count has been checked
 * against the file size (every section takes at least 17 bytes).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "toolkit.h"

static const unsigned char ck_magic[8] = {'B', 'S', 'C', 'K', 'P', 'T', 0, 0};

enum {
    CK_HEAD = 16,               /* magic, version, count */
    CK_SEC_MIN = 4 + 1 + 8 + 4, /* smallest section: 1-byte name, empty */
    CK_ERRMSG = 200
};

#if defined(__GNUC__)
#define CK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CK_PRINTF(a, b)
#endif

/* strerror is not thread-safe for every errno value; strerror_r (the XSI
   version under _POSIX_C_SOURCE) writes into the caller's buffer. */
static const char *ck_errstr(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

/* ------------------------------------------------------------ byte order */

static void put_u32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static uint64_t get_u64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* 1 if name (n bytes) is a valid section name. */
static int name_ok(const char *name, size_t n)
{
    if (n < 1 || n > BST_CKPT_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ writer */

typedef struct {
    char name[BST_CKPT_MAX_NAME + 1];
    uint32_t name_len;
    const unsigned char *data; /* the copy or the caller's bytes */
    unsigned char *owned;      /* malloc'ed copy, NULL if referenced */
    size_t len;
} ck_wsec;

struct bst_ckpt_writer {
    ck_wsec *secs;
    size_t n, cap;
    int err;                /* first add error, BST_OK if none */
    char errmsg[CK_ERRMSG]; /* its description */
};

int bst_ckpt_writer_new(bst_ckpt_writer **out)
{
    if (!out)
        return BST_ERR_INVAL;
    *out = calloc(1, sizeof **out);
    return *out ? BST_OK : BST_ERR_NOMEM;
}

void bst_ckpt_writer_free(bst_ckpt_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->secs[i].owned);
    free(w->secs);
    free(w);
}

/* Remembers the first add error; returns code. */
static int add_fail(bst_ckpt_writer *w, int code, const char *fmt, ...)
    CK_PRINTF(3, 4);

static int add_fail(bst_ckpt_writer *w, int code, const char *fmt, ...)
{
    if (w->err == BST_OK) {
        w->err = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int add_section(bst_ckpt_writer *w, const char *name, const void *data,
                       size_t len, int copy)
{
    if (!w)
        return BST_ERR_INVAL;
    if (!name)
        return add_fail(w, BST_ERR_INVAL, "section name is NULL");
    size_t nl = strnlen(name, BST_CKPT_MAX_NAME + 1);
    if (!name_ok(name, nl))
        return add_fail(w, BST_ERR_INVAL,
                        "bad section name (expected 1..%d visible ASCII "
                        "characters, no spaces)",
                        BST_CKPT_MAX_NAME);
    if (!data && len > 0)
        return add_fail(w, BST_ERR_INVAL,
                        "section \"%s\": NULL data with length %zu", name, len);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->secs[i].name, name) == 0)
            return add_fail(w, BST_ERR_INVAL, "duplicate section name \"%s\"",
                            name);
    if (w->n >= BST_CKPT_MAX_SECTIONS)
        return add_fail(w, BST_ERR_INVAL,
                        "section \"%s\": more than %d sections", name,
                        BST_CKPT_MAX_SECTIONS);
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        ck_wsec *s = realloc(w->secs, nc * sizeof *s);
        if (!s)
            return add_fail(w, BST_ERR_NOMEM, "out of memory adding \"%s\"",
                            name);
        w->secs = s;
        w->cap = nc;
    }
    ck_wsec *s = &w->secs[w->n];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, nl);
    s->name_len = (uint32_t)nl;
    s->len = len;
    if (copy && len > 0) {
        s->owned = malloc(len);
        if (!s->owned)
            return add_fail(w, BST_ERR_NOMEM,
                            "out of memory copying section \"%s\" (%zu bytes)",
                            name, len);
        memcpy(s->owned, data, len);
        s->data = s->owned;
    } else {
        s->data = len > 0 ? data : NULL;
    }
    w->n++;
    return BST_OK;
}

int bst_ckpt_add(bst_ckpt_writer *w, const char *name, const void *data,
                 size_t len)
{
    return add_section(w, name, data, len, 1);
}

int bst_ckpt_add_ref(bst_ckpt_writer *w, const char *name, const void *data,
                     size_t len)
{
    return add_section(w, name, data, len, 0);
}

int bst_ckpt_add_u64(bst_ckpt_writer *w, const char *name, uint64_t v)
{
    unsigned char b[8];
    put_u64(b, v);
    return add_section(w, name, b, sizeof b, 1);
}

int bst_ckpt_add_f64(bst_ckpt_writer *w, const char *name, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bst_ckpt_add_u64(w, name, bits);
}

/* Where the encoded bytes go: put returns 0 or an errno value. */
typedef struct {
    int (*put)(void *ctx, const unsigned char *p, size_t n);
    void *ctx;
} ck_sink;

/* Encodes the writer's sections into the sink; 0 or the sink's error. */
static int encode(const bst_ckpt_writer *w, const ck_sink *s)
{
    unsigned char h[4 + BST_CKPT_MAX_NAME + 8 + 4];
    memcpy(h, ck_magic, 8);
    put_u32(h + 8, BST_CKPT_VERSION);
    put_u32(h + 12, (uint32_t)w->n);
    uint32_t all = bs__crc32(0, h, CK_HEAD);
    int e = s->put(s->ctx, h, CK_HEAD);
    for (size_t i = 0; i < w->n && !e; i++) {
        const ck_wsec *c = &w->secs[i];
        size_t nl = c->name_len;
        put_u32(h, (uint32_t)nl);
        memcpy(h + 4, c->name, nl);
        put_u64(h + 4 + nl, (uint64_t)c->len);
        put_u32(h + 12 + nl, bs__crc32(0, c->data, c->len));
        all = bs__crc32(all, h, 16 + nl);
        all = bs__crc32(all, c->data, c->len);
        e = s->put(s->ctx, h, 16 + nl);
        if (!e && c->len > 0)
            e = s->put(s->ctx, c->data, c->len);
    }
    if (!e) {
        put_u32(h, all);
        e = s->put(s->ctx, h, 4);
    }
    return e;
}

/* Total encoded size; 0 on size_t overflow (never a valid size). */
static size_t encoded_size(const bst_ckpt_writer *w)
{
    size_t total = BST_CKPT_MIN_SIZE;
    for (size_t i = 0; i < w->n; i++) {
        size_t part = 16 + (size_t)w->secs[i].name_len;
        if (w->secs[i].len > SIZE_MAX - part ||
            total > SIZE_MAX - part - w->secs[i].len)
            return 0;
        total += part + w->secs[i].len;
    }
    return total;
}

typedef struct {
    unsigned char *p;
    size_t pos;
} mem_sink;

static int mem_put(void *ctx, const unsigned char *p, size_t n)
{
    mem_sink *m = ctx;
    memcpy(m->p + m->pos, p, n);
    m->pos += n;
    return 0;
}

/* Checks the arguments and the sticky error common to both outputs. */
static int out_check(const bst_ckpt_writer *w, const char *what, char *msg,
                     size_t cap)
{
    if (!w)
        return bst_fail(msg, cap, BST_ERR_INVAL, "%s: no writer", what);
    if (w->err != BST_OK)
        return bst_fail(msg, cap, w->err, "checkpoint %s not written: %s", what,
                        w->errmsg);
    return BST_OK;
}

int bst_ckpt_to_mem(const bst_ckpt_writer *w, void **out, size_t *len,
                    char *msg, size_t cap)
{
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!out || !len)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_ckpt_to_mem: NULL output pointer");
    int rc = out_check(w, "<memory>", msg, cap);
    if (rc != BST_OK)
        return rc;
    size_t total = encoded_size(w);
    mem_sink m = {total ? malloc(total) : NULL, 0};
    if (!m.p)
        return bst_fail(msg, cap, BST_ERR_NOMEM,
                        "out of memory encoding a checkpoint of %zu bytes",
                        total);
    ck_sink s = {mem_put, &m};
    (void)encode(w, &s); /* memory puts cannot fail */
    *out = m.p;
    *len = total;
    return BST_OK;
}

static int file_put(void *ctx, const unsigned char *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : (errno ? errno : EIO);
}

/* The library's atomic writer (temporary file, fsync, rename, directory
   fsync; non-regular targets refused, links written through), so that
   checkpoints behave like every other output. */
int bst_ckpt_commit(const bst_ckpt_writer *w, const char *path, char *msg,
                    size_t cap)
{
    if (!path || !*path)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_ckpt_commit: no checkpoint path given");
    int rc = out_check(w, path, msg, cap);
    if (rc != BST_OK)
        return rc;
    bs_error err = {0};
    bs__atomic_file af;
    bs_status st = bs__atomic_open(&af, path, &err);
    if (st != BS_OK)
        return bst_core_fail(st, &err, msg, cap);
    ck_sink s = {file_put, af.f};
    int e = encode(w, &s);
    if (e) {
        char eb[128];
        bs__atomic_abort(&af);
        return bst_fail(msg, cap, BST_ERR_IO,
                        "cannot write checkpoint %s: write failed: %s", path,
                        ck_errstr(e, eb, sizeof eb));
    }
    st = bs__atomic_commit(&af, &err);
    return st == BS_OK ? BST_OK : bst_core_fail(st, &err, msg, cap);
}

/* ------------------------------------------------------------------ reader */

typedef struct {
    const char *name; /* NUL-terminated, in the reader's name arena */
    const unsigned char *data;
    size_t len;
} ck_rsec;

struct bst_ckpt_reader {
    unsigned char *buf; /* the whole file */
    size_t size;
    char *names;     /* arena of NUL-terminated names */
    ck_rsec *secs;   /* file order */
    ck_rsec *sorted; /* by name, for lookups */
    size_t n;
    char *path; /* for messages */
};

void bst_ckpt_close(bst_ckpt_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->names);
    free(r->secs);
    free(r->sorted);
    free(r->path);
    free(r);
}

static int sec_cmp(const void *a, const void *b)
{
    return strcmp(((const ck_rsec *)a)->name, ((const ck_rsec *)b)->name);
}

/* Validates r->buf (r->size bytes) and builds the section tables. */
static int parse(bst_ckpt_reader *r, char *msg, size_t cap)
{
    const unsigned char *b = r->buf;
    const char *p = r->path;
    size_t size = r->size;
    if (size < 8 && memcmp(b, ck_magic, size) == 0)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: truncated (%zu bytes, a checkpoint has at least "
                        "%d)",
                        p, size, BST_CKPT_MIN_SIZE);
    if (size < 8 || memcmp(b, ck_magic, 8) != 0)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: not a checkpoint (expected the magic "
                        "\"BSCKPT\\0\\0\" at the start)",
                        p);
    if (size < BST_CKPT_MIN_SIZE)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: truncated (%zu bytes, a checkpoint has at least "
                        "%d)",
                        p, size, BST_CKPT_MIN_SIZE);
    uint32_t version = get_u32(b + 8);
    if (version != BST_CKPT_VERSION)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: unsupported checkpoint version %u (expected %d)",
                        p, version, BST_CKPT_VERSION);
    uint32_t count = get_u32(b + 12);
    size_t limit = size - 4; /* where the file CRC starts */
    if (count > BST_CKPT_MAX_SECTIONS)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: %u sections (expected at most %d)", p, count,
                        BST_CKPT_MAX_SECTIONS);
    if (count > (limit - CK_HEAD) / CK_SEC_MIN)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: truncated (%u sections cannot fit in %zu bytes)",
                        p, count, size);

    /* count is now bounded by the file size: the tables are at most a
       small multiple of it */
    r->secs = calloc(count ? count : 1, sizeof *r->secs);
    r->sorted = calloc(count ? count : 1, sizeof *r->sorted);
    r->names = malloc((size_t)count * (BST_CKPT_MAX_NAME + 1) < size
                          ? (size_t)count * (BST_CKPT_MAX_NAME + 1) + 1
                          : size + count + 1);
    if (!r->secs || !r->sorted || !r->names)
        return bst_fail(msg, cap, BST_ERR_NOMEM,
                        "%s: out of memory for %u sections", p, count);

    size_t pos = CK_HEAD, npos = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (limit - pos < 4)
            return bst_fail(msg, cap, BST_ERR_FORMAT,
                            "%s: truncated in the header of section %u of %u",
                            p, i + 1, count);
        uint32_t nl = get_u32(b + pos);
        pos += 4;
        if (nl < 1 || nl > BST_CKPT_MAX_NAME)
            return bst_fail(msg, cap, BST_ERR_FORMAT,
                            "%s: section %u has a name length of %u (expected "
                            "1..%d)",
                            p, i + 1, nl, BST_CKPT_MAX_NAME);
        if (limit - pos < (size_t)nl + 12)
            return bst_fail(msg, cap, BST_ERR_FORMAT,
                            "%s: truncated in the header of section %u of %u",
                            p, i + 1, count);
        if (!name_ok((const char *)b + pos, nl))
            return bst_fail(msg, cap, BST_ERR_FORMAT,
                            "%s: section %u has a name with bytes outside "
                            "visible ASCII 0x21..0x7e",
                            p, i + 1);
        char *name = r->names + npos;
        memcpy(name, b + pos, nl);
        name[nl] = '\0';
        npos += (size_t)nl + 1;
        pos += nl;
        uint64_t len = get_u64(b + pos);
        uint32_t crc = get_u32(b + pos + 8);
        pos += 12;
        if (len > (uint64_t)(limit - pos))
            return bst_fail(msg, cap, BST_ERR_FORMAT,
                            "%s: truncated: section \"%s\" declares %llu "
                            "payload bytes but only %zu remain before the "
                            "file checksum",
                            p, name, (unsigned long long)len, limit - pos);
        ck_rsec *s = &r->secs[i];
        s->name = name;
        s->data = len > 0 ? b + pos : NULL;
        s->len = (size_t)len;
        if (bs__crc32(0, s->data, s->len) != crc)
            return bst_fail(msg, cap, BST_ERR_FORMAT,
                            "%s: section \"%s\" fails its CRC check (payload "
                            "corrupt)",
                            p, name);
        pos += (size_t)len;
    }
    if (pos != limit)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: %zu unexpected bytes after the last of %u "
                        "sections (trailing data or a wrong section count)",
                        p, limit - pos, count);
    uint32_t stored = get_u32(b + limit), actual = bs__crc32(0, b, limit);
    if (stored != actual)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: file CRC mismatch (stored %08x, computed %08x): "
                        "the file is corrupt",
                        p, stored, actual);
    r->n = count;
    if (count > 0)
        memcpy(r->sorted, r->secs, count * sizeof *r->sorted);
    qsort(r->sorted, count, sizeof *r->sorted, sec_cmp);
    for (size_t i = 1; i < count; i++)
        if (strcmp(r->sorted[i - 1].name, r->sorted[i].name) == 0)
            return bst_fail(msg, cap, BST_ERR_FORMAT,
                            "%s: duplicate section name \"%s\"", p,
                            r->sorted[i].name);
    return BST_OK;
}

/* Takes ownership of buf (size bytes): validates it and returns the
   reader in *out, or frees everything. */
static int make_reader(unsigned char *buf, size_t size, const char *name,
                       bst_ckpt_reader **out, char *msg, size_t cap)
{
    bst_ckpt_reader *r = calloc(1, sizeof *r);
    char *path = strdup(name);
    if (!r || !path) {
        free(r);
        free(path);
        free(buf);
        return bst_fail(msg, cap, BST_ERR_NOMEM, "%s: out of memory", name);
    }
    r->buf = buf;
    r->size = size;
    r->path = path;
    int rc = parse(r, msg, cap);
    if (rc != BST_OK) {
        bst_ckpt_close(r);
        return rc;
    }
    *out = r;
    return BST_OK;
}

int bst_ckpt_open_mem(const void *data, size_t len, const char *name,
                      bst_ckpt_reader **out, char *msg, size_t cap)
{
    if (!name)
        name = "<memory>";
    if (out)
        *out = NULL;
    if (!out || (!data && len > 0))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "%s: bst_ckpt_open_mem: NULL argument", name);
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return bst_fail(msg, cap, BST_ERR_NOMEM,
                        "%s: out of memory for %zu bytes", name, len);
    if (len > 0)
        memcpy(buf, data, len);
    return make_reader(buf, len, name, out, msg, cap);
}

int bst_ckpt_open(const char *path, bst_ckpt_reader **out, char *msg,
                  size_t cap)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_ckpt_open: NULL argument");
    /* the library's reader: regular files only, never blocks on a FIFO,
       reports a file that changes size while it is read */
    void *buf;
    size_t size;
    bs_error err = {0};
    bs_status st = bs__read_file(path, SIZE_MAX - 1, &buf, &size, &err);
    if (st != BS_OK)
        return bst_core_fail(st, &err, msg, cap);
    return make_reader(buf, size, path, out, msg, cap);
}

size_t bst_ckpt_count(const bst_ckpt_reader *r)
{
    return r ? r->n : 0;
}

int bst_ckpt_section(const bst_ckpt_reader *r, size_t i, const char **name,
                     const void **data, size_t *len)
{
    if (!r || i >= r->n)
        return BST_ERR_INVAL;
    if (name)
        *name = r->secs[i].name;
    if (data)
        *data = r->secs[i].data;
    if (len)
        *len = r->secs[i].len;
    return BST_OK;
}

static const ck_rsec *find(const bst_ckpt_reader *r, const char *name)
{
    if (!r || !name || r->n == 0)
        return NULL;
    ck_rsec key = {name, NULL, 0};
    return bsearch(&key, r->sorted, r->n, sizeof *r->sorted, sec_cmp);
}

int bst_ckpt_has(const bst_ckpt_reader *r, const char *name)
{
    return find(r, name) != NULL;
}

/* The section, or a BST_ERR_FORMAT / BST_ERR_INVAL message. */
static int lookup(const bst_ckpt_reader *r, const char *name,
                  const ck_rsec **out, char *msg, size_t cap)
{
    if (!r || !name)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "checkpoint lookup: NULL reader or section name");
    *out = find(r, name);
    if (!*out)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: no section \"%.*s\" in the checkpoint", r->path,
                        BST_CKPT_MAX_NAME + 1, name);
    return BST_OK;
}

int bst_ckpt_get(const bst_ckpt_reader *r, const char *name, const void **data,
                 size_t *len, char *msg, size_t cap)
{
    if (!data || !len)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_ckpt_get: NULL output pointer");
    *data = NULL;
    *len = 0;
    const ck_rsec *s;
    int rc = lookup(r, name, &s, msg, cap);
    if (rc != BST_OK)
        return rc;
    *data = s->data;
    *len = s->len;
    return BST_OK;
}

int bst_ckpt_read_exact(const bst_ckpt_reader *r, const char *name, void *dst,
                        size_t len, char *msg, size_t cap)
{
    if (!dst && len > 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_ckpt_read_exact: NULL destination");
    const ck_rsec *s;
    int rc = lookup(r, name, &s, msg, cap);
    if (rc != BST_OK)
        return rc;
    if (s->len != len)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: section \"%s\" has %zu bytes, expected %zu",
                        r->path, s->name, s->len, len);
    if (len > 0)
        memcpy(dst, s->data, len);
    return BST_OK;
}

int bst_ckpt_read_u64(const bst_ckpt_reader *r, const char *name, uint64_t *v,
                      char *msg, size_t cap)
{
    unsigned char b[8];
    if (!v)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_ckpt_read_u64: NULL output pointer");
    int rc = bst_ckpt_read_exact(r, name, b, sizeof b, msg, cap);
    if (rc == BST_OK)
        *v = get_u64(b);
    return rc;
}

int bst_ckpt_read_f64(const bst_ckpt_reader *r, const char *name, double *v,
                      char *msg, size_t cap)
{
    uint64_t bits;
    if (!v)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_ckpt_read_f64: NULL output pointer");
    int rc = bst_ckpt_read_u64(r, name, &bits, msg, cap);
    if (rc == BST_OK)
        memcpy(v, &bits, sizeof *v);
    return rc;
}
