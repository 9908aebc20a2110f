/*
 * idx.c — reader for the gzip-compressed IDX files of (Fashion-)MNIST (the
 * format is described in idx.h).  Only the first `want` records are
 * decompressed: the CLI demo and the tests usually need a subset.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "idx.h"

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
#define IDX_MAX_SIDE 4096u

static const char *const install_hint =
    "install it with scripts/setup.sh (Debian package dataset-fashion-mnist)"
    " or point --data-dir at a folder holding it";

/* Where the message goes (msg may be NULL: the caller wants only codes). */
typedef struct {
    const char *path;
    char *msg;
    size_t cap;
} idx_ctx;

#if defined(__GNUC__)
#define IDX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IDX_PRINTF(a, b)
#endif

/* Writes the message (if wanted) and returns code. */
static int idx_fail(const idx_ctx *c, int code, const char *fmt, ...)
    IDX_PRINTF(3, 4);

static int idx_fail(const idx_ctx *c, int code, const char *fmt, ...)
{
    if (c->msg && c->cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, c->cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Opens the file with gzopen, after checking with fopen that it exists:
   gzopen does not promise a useful errno. */
static int idx_open(const idx_ctx *c, gzFile *out)
{
    FILE *f = fopen(c->path, "rb");
    if (!f)
        return idx_fail(c, BST_ERR_IO, "cannot open %s: %s; %s", c->path,
                        strerror(errno), install_hint);
    fclose(f);
    *out = gzopen(c->path, "rb");
    if (!*out)
        return idx_fail(c, BST_ERR_IO, "cannot open %s", c->path);
    return BST_OK;
}

/* Reads exactly len bytes; a short read is a truncated (or corrupt) file. */
static int idx_read(const idx_ctx *c, gzFile gz, void *buf, size_t len,
                    const char *what)
{
    size_t got = 0;
    while (got < len) {
        /* gzread takes an unsigned count: read in chunks of 1 GiB */
        unsigned chunk =
            len - got > (1u << 30) ? 1u << 30 : (unsigned)(len - got);
        int r = gzread(gz, (char *)buf + got, chunk);
        if (r <= 0) {
            int zerr = 0;
            const char *zmsg = r < 0 ? gzerror(gz, &zerr) : "end of file";
            return idx_fail(c, BST_ERR_FORMAT,
                            "%s: truncated or corrupt while reading %s (%s)",
                            c->path, what, zmsg);
        }
        got += (size_t)r;
    }
    return BST_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
           (uint32_t)b[3];
}

/* Reads and checks the magic and the ndim sizes into dims[]. */
static int idx_header(const idx_ctx *c, gzFile gz, uint32_t magic, int ndim,
                      uint32_t *dims)
{
    unsigned char b[16];
    int st = idx_read(c, gz, b, 4u * (unsigned)(ndim + 1), "the header");
    if (st != BST_OK)
        return st;
    if (be32(b) != magic)
        return idx_fail(c, BST_ERR_FORMAT,
                        "%s: bad IDX magic 0x%08x, expected 0x%08x (%s)",
                        c->path, be32(b), magic,
                        magic == IDX_IMAGES ? "uint8 images" : "uint8 labels");
    for (int i = 0; i < ndim; i++)
        dims[i] = be32(b + 4 * (i + 1));
    if (dims[0] == 0)
        return idx_fail(c, BST_ERR_FORMAT, "%s: holds no records", c->path);
    return BST_OK;
}

/* Decides how many records to read: all, or `want` if the file has them. */
static int idx_take(const idx_ctx *c, uint32_t have, int64_t want,
                    int64_t *take)
{
    if (want > (int64_t)have)
        return idx_fail(c, BST_ERR_FORMAT,
                        "%s: holds %u records, %lld requested", c->path, have,
                        (long long)want);
    *take = want > 0 ? want : (int64_t)have;
    return BST_OK;
}

static int read_payload(const idx_ctx *c, gzFile gz, size_t bytes,
                        uint8_t **data)
{
    uint8_t *buf = malloc(bytes ? bytes : 1);
    if (!buf)
        return idx_fail(c, BST_ERR_NOMEM, "%s: out of memory", c->path);
    int st = idx_read(c, gz, buf, bytes, "the data");
    if (st != BST_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    return BST_OK;
}

/* Checks the image sizes: a corrupt header must not drive a huge malloc. */
static int check_side(const idx_ctx *c, const uint32_t *dims)
{
    if (dims[1] == 0 || dims[2] == 0 || dims[1] > IDX_MAX_SIDE ||
        dims[2] > IDX_MAX_SIDE)
        return idx_fail(c, BST_ERR_FORMAT,
                        "%s: image size %ux%u, expected 1..%u per side",
                        c->path, dims[1], dims[2], IDX_MAX_SIDE);
    return BST_OK;
}

int bst_idx_read_images(const char *path, int64_t want, uint8_t **data,
                        int64_t *count, int64_t *rows, int64_t *cols, char *msg,
                        size_t cap)
{
    idx_ctx c = {path, msg, cap};
    gzFile gz;
    uint32_t dims[3];
    int64_t take = 0;
    if (!path || !data || !count || !rows || !cols)
        return idx_fail(&c, BST_ERR_INVAL,
                        "bst_idx_read_images: NULL argument");
    int st = idx_open(&c, &gz);
    if (st != BST_OK)
        return st;
    st = idx_header(&c, gz, IDX_IMAGES, 3, dims);
    if (st == BST_OK)
        st = check_side(&c, dims);
    if (st == BST_OK)
        st = idx_take(&c, dims[0], want, &take);
    if (st == BST_OK)
        st = read_payload(&c, gz, (size_t)take * dims[1] * dims[2], data);
    gzclose(gz);
    if (st != BST_OK)
        return st;
    *count = take;
    *rows = dims[1];
    *cols = dims[2];
    return BST_OK;
}

int bst_idx_read_labels(const char *path, int64_t want, uint8_t **data,
                        int64_t *count, char *msg, size_t cap)
{
    idx_ctx c = {path, msg, cap};
    gzFile gz;
    uint32_t dims[1];
    int64_t take = 0;
    if (!path || !data || !count)
        return idx_fail(&c, BST_ERR_INVAL,
                        "bst_idx_read_labels: NULL argument");
    int st = idx_open(&c, &gz);
    if (st != BST_OK)
        return st;
    st = idx_header(&c, gz, IDX_LABELS, 1, dims);
    if (st == BST_OK)
        st = idx_take(&c, dims[0], want, &take);
    if (st == BST_OK)
        st = read_payload(&c, gz, (size_t)take, data);
    gzclose(gz);
    if (st != BST_OK)
        return st;
    *count = take;
    return BST_OK;
}

void bst_u8_to_float(const uint8_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)in[i] / 255.0f;
}
