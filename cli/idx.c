/*
 * idx.c — reader for the gzip-compressed IDX files of (Fashion-)MNIST.
 *
 * IDX: a big-endian header (magic 0x00000800 | type << 8 | ndim, then ndim
 * uint32 sizes) followed by the uint8 payload.  Images are 0x00000803
 * (count, rows, cols), labels 0x00000801 (count).  Only the first `want`
 * records are decompressed: the demo usually needs a subset.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli.h"

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
#define IDX_MAX_SIDE 4096u

static const char *install_hint =
    "install it with scripts/setup.sh (Debian package dataset-fashion-mnist)"
    " or point --data-dir at a folder holding it";

/* Opens path with gzopen, after checking with fopen that it exists: gzopen
   does not promise a useful errno. */
static bs_status idx_open(const char *path, gzFile *out, bs_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_set_error(err, BS_ERR_IO, "cannot open %s: %s; %s", path,
                             strerror(errno), install_hint);
    fclose(f);
    *out = gzopen(path, "rb");
    if (!*out)
        return cli_set_error(err, BS_ERR_IO, "cannot open %s", path);
    return BS_OK;
}

/* Reads exactly len bytes; a short read is a truncated (or corrupt) file. */
static bs_status idx_read(gzFile gz, const char *path, void *buf, size_t len,
                          const char *what, bs_error *err)
{
    size_t got = 0;
    while (got < len) {
        unsigned chunk =
            len - got > (1u << 30) ? 1u << 30 : (unsigned)(len - got);
        int r = gzread(gz, (char *)buf + got, chunk);
        if (r <= 0) {
            int zerr = 0;
            const char *zmsg = r < 0 ? gzerror(gz, &zerr) : "end of file";
            return cli_set_error(err, BS_ERR_FORMAT,
                                 "%s: truncated or corrupt while reading %s "
                                 "(%s)",
                                 path, what, zmsg);
        }
        got += (size_t)r;
    }
    return BS_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
           (uint32_t)b[3];
}

/* Reads and checks the magic and the ndim sizes into dims[]. */
static bs_status idx_header(gzFile gz, const char *path, uint32_t magic,
                            int ndim, uint32_t *dims, bs_error *err)
{
    unsigned char b[16];
    bs_status st =
        idx_read(gz, path, b, 4u * (unsigned)(ndim + 1), "the header", err);
    if (st != BS_OK)
        return st;
    if (be32(b) != magic)
        return cli_set_error(
            err, BS_ERR_FORMAT,
            "%s: bad IDX magic 0x%08x, expected 0x%08x (%s)", path, be32(b),
            magic, magic == IDX_IMAGES ? "uint8 images" : "uint8 labels");
    for (int i = 0; i < ndim; i++)
        dims[i] = be32(b + 4 * (i + 1));
    if (dims[0] == 0)
        return cli_set_error(err, BS_ERR_FORMAT, "%s: holds no records", path);
    return BS_OK;
}

/* Decides how many records to read: all, or `want` if the file has them. */
static bs_status idx_take(const char *path, uint32_t have, int64_t want,
                          int64_t *take, bs_error *err)
{
    if (want > (int64_t)have)
        return cli_set_error(err, BS_ERR_DATA,
                             "%s: holds %u records, %lld requested", path, have,
                             (long long)want);
    *take = want > 0 ? want : (int64_t)have;
    return BS_OK;
}

static bs_status read_payload(gzFile gz, const char *path, size_t bytes,
                              uint8_t **data, bs_error *err)
{
    uint8_t *buf = malloc(bytes ? bytes : 1);
    bs_status st;
    if (!buf)
        return cli_set_error(err, BS_ERR_NOMEM, "%s: out of memory", path);
    st = idx_read(gz, path, buf, bytes, "the data", err);
    if (st != BS_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    return BS_OK;
}

bs_status cli_idx_read_images(const char *path, int64_t want, uint8_t **data,
                              int64_t *count, int64_t *rows, int64_t *cols,
                              bs_error *err)
{
    gzFile gz;
    uint32_t dims[3];
    int64_t take = 0;
    bs_status st = idx_open(path, &gz, err);
    if (st != BS_OK)
        return st;
    st = idx_header(gz, path, IDX_IMAGES, 3, dims, err);
    if (st == BS_OK && (dims[1] == 0 || dims[2] == 0 ||
                        dims[1] > IDX_MAX_SIDE || dims[2] > IDX_MAX_SIDE))
        st = cli_set_error(err, BS_ERR_FORMAT,
                           "%s: image size %ux%u, expected 1..%u per side",
                           path, dims[1], dims[2], IDX_MAX_SIDE);
    if (st == BS_OK)
        st = idx_take(path, dims[0], want, &take, err);
    if (st == BS_OK)
        st =
            read_payload(gz, path, (size_t)take * dims[1] * dims[2], data, err);
    gzclose(gz);
    if (st != BS_OK)
        return st;
    *count = take;
    *rows = dims[1];
    *cols = dims[2];
    return BS_OK;
}

bs_status cli_idx_read_labels(const char *path, int64_t want, uint8_t **data,
                              int64_t *count, bs_error *err)
{
    gzFile gz;
    uint32_t dims[1];
    int64_t take = 0;
    bs_status st = idx_open(path, &gz, err);
    if (st != BS_OK)
        return st;
    st = idx_header(gz, path, IDX_LABELS, 1, dims, err);
    if (st == BS_OK)
        st = idx_take(path, dims[0], want, &take, err);
    if (st == BS_OK)
        st = read_payload(gz, path, (size_t)take, data, err);
    gzclose(gz);
    if (st != BS_OK)
        return st;
    *count = take;
    return BS_OK;
}
