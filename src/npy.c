/*
 * npy.c — reading and writing NumPy .npy files (format 1.0, 2.0, 3.0).
 *
 * A .npy file is: "\x93NUMPY", major, minor, a little-endian header length
 * (u16 for 1.0, u32 for 2.0/3.0), a Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a final '\n', then the raw C-order data.
 *
 * One parser (npy_preamble + npy_parse_dict + npy_check_data) serves both the
 * file and the in-memory reader, so the two cannot disagree on the format.
 * Files are streamed: the header is read first and the data is fread straight
 * into the array's final buffer, so a file is never held twice.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error                                                                         \
    "npy.c reads and writes little-endian data in place: big-endian hosts are not supported"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* A header beyond this is not something numpy writes for <= 8 dimensions:
   refuse it rather than allocate whatever a corrupt length asks for. */
#define NPY_MAX_HEADER (1u << 20)
/* numpy aligns the data to 64 bytes; we do the same when writing. */
#define NPY_ALIGN 64

/* What the header says about the data. */
typedef struct {
    bs_dtype dtype;
    int ndim;
    int64_t shape[BS_NPY_MAX_NDIM];
    size_t data_off;   /* offset of the data from the start of the file */
    size_t data_bytes; /* prod(shape) * dtype size */
} npy_info;

static const char *src_name(const char *what)
{
    return what ? what : "(buffer)";
}

/* ------------------------------------------------------------ basics */

size_t bs_dtype_size(bs_dtype t)
{
    switch (t) {
    case BS_DTYPE_F32: return 4;
    case BS_DTYPE_F64: return 8;
    case BS_DTYPE_I32: return 4;
    case BS_DTYPE_I64: return 8;
    }
    return 0;
}

static const char *dtype_descr(bs_dtype t)
{
    switch (t) {
    case BS_DTYPE_F32: return "<f4";
    case BS_DTYPE_F64: return "<f8";
    case BS_DTYPE_I32: return "<i4";
    case BS_DTYPE_I64: return "<i8";
    }
    return NULL;
}

int64_t bs_array_size(const bs_array *a)
{
    if (!a || a->ndim < 0 || a->ndim > BS_NPY_MAX_NDIM)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++)
        n *= a->shape[i];
    return n;
}

void bs_array_free(bs_array *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------ preamble */

/* Checks magic and version in the first `avail` bytes; on success sets the
   header text's offset and length.  Needs at most 12 bytes. */
static bs_status npy_preamble(const unsigned char *p, size_t avail,
                              const char *what, size_t *hdr_off,
                              size_t *hdr_len, bs_error *err)
{
    size_t cmp = avail < NPY_MAGIC_LEN ? avail : NPY_MAGIC_LEN;
    if (memcmp(p, NPY_MAGIC, cmp) != 0 || avail < NPY_MAGIC_LEN)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: bad magic: expected a .npy file starting with "
                        "\\x93NUMPY",
                        what);
    if (avail < 8)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: truncated: %zu bytes, expected at least 10 "
                        "(magic, version, header length)",
                        what, avail);
    unsigned major = p[6], minor = p[7];
    if (major < 1 || major > 3 || minor != 0)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: unknown .npy format version %u.%u: expected "
                        "1.0, 2.0 or 3.0",
                        what, major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    if (avail < 8 + lenbytes)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: truncated: %zu bytes, expected at least %zu "
                        "(magic, version, header length)",
                        what, avail, 8 + lenbytes);
    uint32_t len = (uint32_t)p[8] | (uint32_t)p[9] << 8;
    if (lenbytes == 4)
        len |= (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
    if (len > NPY_MAX_HEADER)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: header of %lu bytes is oversized: expected at "
                        "most %u",
                        what, (unsigned long)len, NPY_MAX_HEADER);
    *hdr_off = 8 + lenbytes;
    *hdr_len = len;
    return BS_OK;
}

/* ------------------------------------------------------------ dict parser */

/* A cursor over the header text; `what` names the source in messages. */
typedef struct {
    const char *start, *s, *end;
    const char *what;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->s < c->end &&
           (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
        c->s++;
}

static int peek(const cursor *c)
{
    return c->s < c->end ? *c->s : -1;
}

/* Describes the character at the cursor for messages. */
static void describe_here(const cursor *c, char *buf, size_t cap)
{
    int ch = peek(c);
    if (ch < 0)
        snprintf(buf, cap, "end of header");
    else if (ch >= 0x20 && ch < 0x7f)
        snprintf(buf, cap, "'%c' at header offset %td", ch, c->s - c->start);
    else
        snprintf(buf, cap, "byte 0x%02x at header offset %td",
                 (unsigned)(unsigned char)ch, c->s - c->start);
}

static bs_status malformed(const cursor *c, const char *expected, bs_error *err)
{
    char here[64];
    describe_here(c, here, sizeof here);
    return bs__fail(err, BS_ERR_FORMAT,
                    "%s: malformed header dict: found %s, expected %s", c->what,
                    here, expected);
}

static bs_status expect_char(cursor *c, char ch, const char *expected,
                             bs_error *err)
{
    skip_ws(c);
    if (peek(c) != ch)
        return malformed(c, expected, err);
    c->s++;
    return BS_OK;
}

/* A Python string literal in single or double quotes, without escapes
   (numpy never writes any); copied into buf (truncated to cap-1). */
static bs_status parse_string(cursor *c, char *buf, size_t cap, bs_error *err)
{
    skip_ws(c);
    int q = peek(c);
    if (q != '\'' && q != '"')
        return malformed(c, "a quoted string", err);
    const char *start = ++c->s;
    while (c->s < c->end && *c->s != q) {
        if (*c->s == '\\' || *c->s == '\n')
            return malformed(c, "a plain string (no escapes)", err);
        c->s++;
    }
    if (c->s >= c->end)
        return malformed(c, "a closing quote", err);
    size_t n = (size_t)(c->s - start);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, start, n);
    buf[n] = '\0';
    c->s++;
    return BS_OK;
}

/* Maps a descr string to a dtype, explaining any refusal.  Only explicit
   little-endian '<' is accepted: numpy always writes '<' or '>' for these
   types (dtype.str never has '='), so '=' or no order at all would mean a
   foreign writer whose byte order we cannot know. */
static bs_status parse_descr(const cursor *c, const char *d, bs_dtype *t,
                             bs_error *err)
{
    static const char *const names[] = {"f4", "f8", "i4", "i8"};
    static const bs_dtype types[] = {BS_DTYPE_F32, BS_DTYPE_F64, BS_DTYPE_I32,
                                     BS_DTYPE_I64};
    for (int i = 0; i < 4; i++) {
        if (d[0] == '<' && strcmp(d + 1, names[i]) == 0) {
            *t = types[i];
            return BS_OK;
        }
        if (d[0] == '>' && strcmp(d + 1, names[i]) == 0)
            return bs__fail(err, BS_ERR_FORMAT,
                            "%s: dtype '%s' is big-endian: expected "
                            "little-endian '<f4', '<f8', '<i4' or '<i8'",
                            c->what, d);
    }
    return bs__fail(err, BS_ERR_FORMAT,
                    "%s: unsupported dtype '%s': expected '<f4', '<f8', "
                    "'<i4' or '<i8'",
                    c->what, d);
}

static bs_status parse_bool(cursor *c, int *v, bs_error *err)
{
    skip_ws(c);
    size_t left = (size_t)(c->end - c->s);
    if (left >= 4 && memcmp(c->s, "True", 4) == 0) {
        *v = 1;
        c->s += 4;
    } else if (left >= 5 && memcmp(c->s, "False", 5) == 0) {
        *v = 0;
        c->s += 5;
    } else {
        return malformed(c, "True or False", err);
    }
    return BS_OK;
}

/* One non-negative dimension; Python 2 numpy wrote longs as "3L". */
static bs_status parse_dim(cursor *c, int64_t *v, bs_error *err)
{
    skip_ws(c);
    if (peek(c) == '-')
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: negative dimension in shape: expected sizes >= 0",
                        c->what);
    if (peek(c) < '0' || peek(c) > '9')
        return malformed(c, "a dimension (digits)", err);
    int64_t x = 0;
    while (peek(c) >= '0' && peek(c) <= '9') {
        int digit = *c->s++ - '0';
        if (x > (INT64_MAX - digit) / 10)
            return bs__fail(err, BS_ERR_FORMAT,
                            "%s: dimension in shape overflows 64 bits: "
                            "expected a size < 2^63",
                            c->what);
        x = x * 10 + digit;
    }
    if (peek(c) == 'L')
        c->s++;
    *v = x;
    return BS_OK;
}

/* A shape tuple: "()", "(3,)", "(2, 3)", "(2, 3,)".  "(3)" is the integer 3
   in Python, not a tuple, and numpy refuses it; so do we. */
static bs_status parse_shape(cursor *c, npy_info *h, bs_error *err)
{
    bs_status st = expect_char(c, '(', "'(' opening the shape tuple", err);
    if (st != BS_OK)
        return st;
    h->ndim = 0;
    skip_ws(c);
    while (peek(c) != ')') {
        if (h->ndim == BS_NPY_MAX_NDIM)
            return bs__fail(err, BS_ERR_FORMAT,
                            "%s: shape has more than %d dimensions: expected "
                            "at most %d",
                            c->what, BS_NPY_MAX_NDIM, BS_NPY_MAX_NDIM);
        if ((st = parse_dim(c, &h->shape[h->ndim++], err)) != BS_OK)
            return st;
        skip_ws(c);
        if (peek(c) == ',') {
            c->s++;
            skip_ws(c);
        } else if (peek(c) != ')') {
            return malformed(c, "',' or ')' in the shape tuple", err);
        } else if (h->ndim == 1) {
            return malformed(c,
                             "',' before ')': a 1-D shape is written "
                             "(n,)",
                             err);
        }
    }
    c->s++;
    return BS_OK;
}

/* Which of the three keys have been seen. */
enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

/* Parses one "key: value" entry into h. */
static bs_status parse_entry(cursor *c, npy_info *h, int *seen, bs_error *err)
{
    char key[32], descr[64];
    bs_status st = parse_string(c, key, sizeof key, err);
    if (st == BS_OK)
        st = expect_char(c, ':', "':' after a key", err);
    if (st != BS_OK)
        return st;
    int bit = strcmp(key, "descr") == 0           ? KEY_DESCR
              : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
              : strcmp(key, "shape") == 0         ? KEY_SHAPE
                                                  : 0;
    if (!bit)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: unexpected key '%s' in header: expected only "
                        "'descr', 'fortran_order' and 'shape'",
                        c->what, key);
    if (*seen & bit)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: key '%s' appears twice in header: expected once",
                        c->what, key);
    *seen |= bit;
    if (bit == KEY_SHAPE)
        return parse_shape(c, h, err);
    if (bit == KEY_FORTRAN) {
        int fortran = 0;
        if ((st = parse_bool(c, &fortran, err)) != BS_OK)
            return st;
        if (fortran)
            return bs__fail(err, BS_ERR_FORMAT,
                            "%s: fortran_order is True: expected C order "
                            "(fortran_order False)",
                            c->what);
        return BS_OK;
    }
    skip_ws(c);
    if (peek(c) == '[')
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: structured dtype (a list descr): expected '<f4', "
                        "'<f8', '<i4' or '<i8'",
                        c->what);
    if ((st = parse_string(c, descr, sizeof descr, err)) != BS_OK)
        return st;
    return parse_descr(c, descr, &h->dtype, err);
}

/* Parses the header dict: the three keys in any order, optional trailing
   comma, whitespace anywhere, nothing but whitespace after '}'. */
static bs_status npy_parse_dict(const char *text, size_t len, const char *what,
                                npy_info *h, bs_error *err)
{
    cursor c = {text, text, text + len, what};
    int seen = 0;
    bs_status st = expect_char(&c, '{', "'{' opening the header dict", err);
    while (st == BS_OK) {
        skip_ws(&c);
        if (peek(&c) == '}')
            break;
        if ((st = parse_entry(&c, h, &seen, err)) != BS_OK)
            return st;
        skip_ws(&c);
        if (peek(&c) == ',')
            c.s++;
        else if (peek(&c) != '}')
            return malformed(&c, "',' or '}' after a value", err);
    }
    if (st != BS_OK)
        return st;
    c.s++;
    skip_ws(&c);
    if (c.s != c.end)
        return malformed(&c, "only padding after '}'", err);
    if (seen != (KEY_DESCR | KEY_FORTRAN | KEY_SHAPE))
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: header lacks '%s': expected keys 'descr', "
                        "'fortran_order' and 'shape'",
                        what,
                        !(seen & KEY_DESCR)     ? "descr"
                        : !(seen & KEY_FORTRAN) ? "fortran_order"
                                                : "shape");
    return BS_OK;
}

/* Computes data_bytes from the shape (overflow-checked). */
static bs_status npy_data_bytes(npy_info *h, const char *what, bs_error *err)
{
    size_t bytes = bs_dtype_size(h->dtype);
    for (int i = 0; i < h->ndim; i++)
        if (!bs__mul_size(bytes, (size_t)h->shape[i], &bytes))
            return bs__fail(err, BS_ERR_FORMAT,
                            "%s: shape overflows: dimension %d is %lld: "
                            "expected a total size that fits in memory",
                            what, i, (long long)h->shape[i]);
    if (bytes > (size_t)INT64_MAX)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: shape overflows: expected a total size < 2^63",
                        what);
    h->data_bytes = bytes;
    return BS_OK;
}

/* Parses header text (the bytes after the preamble) into h. */
static bs_status npy_parse_header(const char *text, size_t len, size_t off,
                                  const char *what, npy_info *h, bs_error *err)
{
    memset(h, 0, sizeof *h);
    bs_status st = npy_parse_dict(text, len, what, h, err);
    if (st == BS_OK)
        st = npy_data_bytes(h, what, err);
    h->data_off = off + len;
    return st;
}

/* The data present after the header must be exactly what the shape says. */
static bs_status npy_check_data(const npy_info *h, uint64_t avail,
                                const char *what, bs_error *err)
{
    if (avail < h->data_bytes)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: truncated: data is %llu bytes, expected %zu for "
                        "the shape in the header",
                        what, (unsigned long long)avail, h->data_bytes);
    if (avail > h->data_bytes)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: oversized: %llu trailing bytes after the %zu "
                        "bytes of data the shape implies",
                        what, (unsigned long long)(avail - h->data_bytes),
                        h->data_bytes);
    return BS_OK;
}

/* Fills *out from a parsed header and its freshly allocated data. */
static void npy_fill(const npy_info *h, void *data, bs_array *out)
{
    memset(out, 0, sizeof *out);
    out->dtype = h->dtype;
    out->ndim = h->ndim;
    memcpy(out->shape, h->shape, sizeof h->shape);
    out->data = data;
}

/* ------------------------------------------------------------ reading */

bs_status bs_npy_read_mem(const void *buf, size_t len, const char *what,
                          bs_array *out, bs_error *err)
{
    what = src_name(what);
    if (!out)
        return bs__fail(err, BS_ERR_INVALID_ARG, "%s: output array is NULL",
                        what);
    memset(out, 0, sizeof *out);
    if (!buf && len)
        return bs__fail(err, BS_ERR_INVALID_ARG, "%s: buffer is NULL", what);
    const unsigned char *p = buf ? buf : (const unsigned char *)"";
    size_t off, hlen;
    npy_info h;
    bs_status st = npy_preamble(p, len, what, &off, &hlen, err);
    if (st != BS_OK)
        return st;
    if (hlen > len - off)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: header length %zu goes beyond the end of the "
                        "data (%zu bytes): expected at most %zu",
                        what, hlen, len, len - off);
    if ((st = npy_parse_header((const char *)p + off, hlen, off, what, &h,
                               err)) != BS_OK ||
        (st = npy_check_data(&h, len - h.data_off, what, err)) != BS_OK)
        return st;
    void *data = bs__malloc_array(h.data_bytes, 1);
    if (!data)
        return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory for %zu bytes",
                        what, h.data_bytes);
    if (h.data_bytes)
        memcpy(data, p + h.data_off, h.data_bytes);
    npy_fill(&h, data, out);
    return BS_OK;
}

/* Reads exactly n bytes at the current position (a short read is a
   truncation only if the file shrank under us; report it as I/O). */
static bs_status read_exact(FILE *f, void *dst, size_t n, const char *path,
                            bs_error *err)
{
    if (n && fread(dst, 1, n, f) != n)
        return bs__fail(
            err, BS_ERR_IO, "%s: short read of %zu bytes: %s", path, n,
            ferror(f) ? strerror(errno) : "file shrank while reading");
    return BS_OK;
}

/* Reads and parses preamble + header of an open file of `size` bytes. */
static bs_status npy_read_header(FILE *f, uint64_t size, const char *path,
                                 npy_info *h, bs_error *err)
{
    unsigned char pre[12];
    size_t want = size < sizeof pre ? (size_t)size : sizeof pre;
    size_t off, hlen;
    bs_status st = read_exact(f, pre, want, path, err);
    if (st == BS_OK)
        st = npy_preamble(pre, want, path, &off, &hlen, err);
    if (st != BS_OK)
        return st;
    if ((uint64_t)hlen > size - off)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: header length %zu goes beyond the end of the "
                        "file (%llu bytes): expected at most %llu",
                        path, hlen, (unsigned long long)size,
                        (unsigned long long)(size - off));
    char *text = malloc(hlen ? hlen : 1);
    if (!text)
        return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory", path);
    /* the preamble may have over-read into a short (version 1) header */
    size_t have = want - off < hlen ? want - off : hlen;
    memcpy(text, pre + off, have);
    st = read_exact(f, text + have, hlen - have, path, err);
    if (st == BS_OK)
        st = npy_parse_header(text, hlen, off, path, h, err);
    free(text);
    if (st == BS_OK && fseek(f, (long)h->data_off, SEEK_SET) != 0)
        st = bs__fail(err, BS_ERR_IO, "%s: seek failed: %s", path,
                      strerror(errno));
    return st;
}

bs_status bs_npy_read(const char *path, bs_array *out, bs_error *err)
{
    if (!path || !out)
        return bs__fail(err, BS_ERR_INVALID_ARG, "npy read: %s is NULL",
                        path ? "output array" : "path");
    memset(out, 0, sizeof *out);
    FILE *f = NULL;
    uint64_t size = 0;
    npy_info h;
    bs_status st = bs__open_read(path, &f, &size, err);
    if (st != BS_OK)
        return st;
    if ((st = npy_read_header(f, size, path, &h, err)) != BS_OK ||
        (st = npy_check_data(&h, size - h.data_off, path, err)) != BS_OK) {
        fclose(f);
        return st;
    }
    void *data = bs__malloc_array(h.data_bytes, 1);
    if (!data) {
        fclose(f);
        return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory for %zu bytes",
                        path, h.data_bytes);
    }
    st = read_exact(f, data, h.data_bytes, path, err);
    /* the file may have grown since fstat: trailing bytes are still wrong */
    if (st == BS_OK && fgetc(f) != EOF)
        st = bs__fail(err, BS_ERR_FORMAT,
                      "%s: oversized: trailing bytes after the %zu bytes of "
                      "data the shape implies",
                      path, h.data_bytes);
    fclose(f);
    if (st != BS_OK) {
        free(data);
        return st;
    }
    npy_fill(&h, data, out);
    return BS_OK;
}

/* ------------------------------------------------------------ writing */

/* Formats the header dict exactly as numpy does, padded with spaces and a
   '\n' so that the data starts on a 64-byte boundary.  Returns its length
   (without NUL; 0 if it does not fit in cap) and the preamble length
   through *pre. */
static size_t npy_format_header(const bs_array *a, char *buf, size_t cap,
                                size_t *pre)
{
    int n = snprintf(buf, cap,
                     "{'descr': '%s', 'fortran_order': False, "
                     "'shape': (",
                     dtype_descr(a->dtype));
    for (int i = 0; i < a->ndim; i++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%lld", i ? ", " : "",
                      (long long)a->shape[i]);
    n += snprintf(buf + n, cap - (size_t)n, "%s), }", a->ndim == 1 ? "," : "");
    if (n < 0 || (size_t)n + NPY_ALIGN + 1 > cap)
        return 0; /* cannot happen for <= 8 dims; the caller checks */
    size_t len = (size_t)n + 1; /* + '\n' */
    *pre = 10; /* version 1.0 unless the padded length needs 32 bits */
    size_t pad = (NPY_ALIGN - (*pre + len) % NPY_ALIGN) % NPY_ALIGN;
    if (len + pad > 65535) {
        *pre = 12;
        pad = (NPY_ALIGN - (*pre + len) % NPY_ALIGN) % NPY_ALIGN;
    }
    memset(buf + n, ' ', pad);
    buf[n + pad] = '\n';
    return len + pad;
}

/* Checks that a describes a writable array. */
static bs_status npy_check_array(const char *path, const bs_array *a,
                                 bs_error *err)
{
    if (!a)
        return bs__fail(err, BS_ERR_INVALID_ARG, "%s: array is NULL", path);
    if (!dtype_descr(a->dtype))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s: dtype %d: expected BS_DTYPE_F32, F64, I32 or I64",
                        path, (int)a->dtype);
    if (a->ndim < 0 || a->ndim > BS_NPY_MAX_NDIM)
        return bs__fail(err, BS_ERR_INVALID_ARG, "%s: ndim %d: expected 0..%d",
                        path, a->ndim, BS_NPY_MAX_NDIM);
    npy_info h = {.dtype = a->dtype, .ndim = a->ndim};
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0)
            return bs__fail(err, BS_ERR_INVALID_ARG,
                            "%s: shape[%d] = %lld: expected >= 0", path, i,
                            (long long)a->shape[i]);
        h.shape[i] = a->shape[i];
    }
    if (npy_data_bytes(&h, path, err) != BS_OK)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s: shape overflows: expected a total size < 2^63",
                        path);
    if (h.data_bytes && !a->data)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s: data is NULL for %zu bytes", path, h.data_bytes);
    return BS_OK;
}

bs_status bs_npy_write(const char *path, const bs_array *a, bs_error *err)
{
    if (!path)
        return bs__fail(err, BS_ERR_INVALID_ARG, "npy write: path is NULL");
    bs_status st = npy_check_array(path, a, err);
    if (st != BS_OK)
        return st;
    /* 8 dims of 19 digits stay far below the 1.0 limit, but size the
       buffer for any padding anyway */
    char hdr[512 + NPY_ALIGN];
    size_t pre, hlen = npy_format_header(a, hdr, sizeof hdr, &pre);
    if (hlen == 0)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s: header does not fit in %zu bytes", path,
                        sizeof hdr);
    unsigned char p[12] = {0x93,
                           'N',
                           'U',
                           'M',
                           'P',
                           'Y',
                           pre == 10 ? 1 : 2,
                           0,
                           (unsigned char)hlen,
                           (unsigned char)(hlen >> 8),
                           (unsigned char)(hlen >> 16),
                           (unsigned char)(hlen >> 24)};
    size_t bytes = (size_t)bs_array_size(a) * bs_dtype_size(a->dtype);
    bs__atomic_file af;
    if ((st = bs__atomic_open(&af, path, err)) != BS_OK)
        return st;
    if (fwrite(p, 1, pre, af.f) != pre || fwrite(hdr, 1, hlen, af.f) != hlen ||
        (bytes && fwrite(a->data, 1, bytes, af.f) != bytes)) {
        st = bs__fail(err, BS_ERR_IO, "%s: write failed: %s", path,
                      strerror(errno));
        bs__atomic_abort(&af);
        return st;
    }
    return bs__atomic_commit(&af, err);
}

/* ------------------------------------------------------------ loaders */

/* Converts n doubles to floats in place, front to back: float i occupies
   bytes [4i, 4i+4), inside doubles already consumed, so nothing unread is
   overwritten and the file is never held twice.  memcpy keeps the type
   punning well-defined.  Fails on the first finite value beyond f4 range. */
static bs_status f8_to_f4_inplace(void *data, int64_t n, int64_t d,
                                  const char *path, bs_error *err)
{
    unsigned char *b = data;
    for (int64_t i = 0; i < n * d; i++) {
        double v;
        memcpy(&v, b + 8 * i, sizeof v);
        float f = (float)v;
        if (isinf(f) && isfinite(v))
            return bs__fail(err, BS_ERR_FORMAT,
                            "%s: element [%lld, %lld] = %g is outside the "
                            "float32 range: expected |value| <= 3.4028235e38",
                            path, (long long)(d ? i / d : 0),
                            (long long)(d ? i % d : 0), v);
        memcpy(b + 4 * i, &f, sizeof f);
    }
    return BS_OK;
}

bs_status bs_npy_load_matrix(const char *path, float **x, int64_t *n,
                             int64_t *d, bs_error *err)
{
    if (!x || !n || !d)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s: load matrix: an output pointer is NULL",
                        path ? path : "(null)");
    *x = NULL;
    *n = *d = 0;
    bs_array a;
    bs_status st = bs_npy_read(path, &a, err);
    if (st != BS_OK)
        return st;
    if (a.ndim != 2)
        st = bs__fail(err, BS_ERR_FORMAT,
                      "%s: array of rank %d: expected a rank-2 (n, d) matrix",
                      path, a.ndim);
    else if (a.dtype != BS_DTYPE_F32 && a.dtype != BS_DTYPE_F64)
        st = bs__fail(err, BS_ERR_FORMAT,
                      "%s: dtype '%s': expected float '<f4' or '<f8'", path,
                      dtype_descr(a.dtype));
    else if (a.dtype == BS_DTYPE_F64)
        st = f8_to_f4_inplace(a.data, a.shape[0], a.shape[1], path, err);
    if (st != BS_OK) {
        bs_array_free(&a);
        return st;
    }
    if (a.dtype == BS_DTYPE_F64) {
        /* give back the upper half; keep the block if realloc cannot */
        size_t bytes = (size_t)bs_array_size(&a) * sizeof(float);
        void *shrunk = realloc(a.data, bytes ? bytes : 1);
        if (shrunk)
            a.data = shrunk;
    }
    *x = a.data;
    *n = a.shape[0];
    *d = a.shape[1];
    return BS_OK;
}

bs_status bs_npy_load_labels(const char *path, int64_t **y, int64_t *n,
                             bs_error *err)
{
    if (!y || !n)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s: load labels: an output pointer is NULL",
                        path ? path : "(null)");
    *y = NULL;
    *n = 0;
    bs_array a;
    bs_status st = bs_npy_read(path, &a, err);
    if (st != BS_OK)
        return st;
    if (a.ndim != 1)
        st = bs__fail(err, BS_ERR_FORMAT,
                      "%s: array of rank %d: expected a rank-1 label vector",
                      path, a.ndim);
    else if (a.dtype != BS_DTYPE_I32 && a.dtype != BS_DTYPE_I64)
        st = bs__fail(err, BS_ERR_FORMAT,
                      "%s: dtype '%s': expected integer '<i4' or '<i8'", path,
                      dtype_descr(a.dtype));
    if (st != BS_OK) {
        bs_array_free(&a);
        return st;
    }
    int64_t count = a.shape[0];
    if (a.dtype == BS_DTYPE_I32) {
        /* labels are small next to embeddings: a plain widening copy */
        int64_t *w = bs__malloc_array((size_t)count, sizeof *w);
        if (!w) {
            bs_array_free(&a);
            return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory", path);
        }
        const int32_t *s = a.data;
        for (int64_t i = 0; i < count; i++)
            w[i] = s[i];
        free(a.data);
        a.data = w;
    }
    *y = a.data;
    *n = count;
    return BS_OK;
}
