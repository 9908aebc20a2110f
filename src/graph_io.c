/*
 * graph_io.c — the .bsg graph file.
 *
 * Layout (little-endian, 48-byte header, naturally aligned fields):
 *
 *   offset  size  field
 *        0     8  magic "BSGRAPH\0"
 *        8     4  u32 version (1)
 *       12     4  u32 mode (bs_graph_mode)
 *       16     8  i64 n         2 <= n < 2^31
 *       24     4  i32 k         1 <= k <= n - 1
 *       28     4  i32 block     as built (informational)
 *       32     8  i64 m         as built (informational)
 *       40     8  u64 seed      as built (informational)
 *       48  4n*k  int32 neighbour ids, row-major
 *          4n*k  float32 similarities, row-major
 *             4  u32 CRC-32 (zlib) of every byte before it
 *
 * The format is defined once: graph_parse_header validates a header against
 * the total length, graph_check_payload validates the arrays; both the
 * streaming file reader and the in-memory reader go through them.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error                                                                         \
    "graph_io.c reads and writes the payload in place: big-endian hosts are not supported"
#endif

#define BSG_MAGIC "BSGRAPH\0"
#define BSG_MAGIC_LEN 8
#define BSG_VERSION 1u
#define BSG_HEADER 48
#define BSG_CRC 4
/* Similarities are cosines; allow float rounding just past +-1. */
#define BSG_SIM_LIMIT 1.0001f
/* Streaming chunk: large enough to amortise fread, small enough to stay in
   cache for the CRC that follows it. */
#define BSG_CHUNK ((size_t)1 << 20)

typedef struct {
    uint32_t version, mode;
    int64_t n;
    int32_t k, block;
    int64_t m;
    uint64_t seed;
    uint64_t total; /* the exact file length this header implies */
} bsg_header;

/* ------------------------------------------------------------ byte order */

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* ------------------------------------------------------------ validation */

/* 1 if a and b differ in exactly one bit. */
static int one_bit_apart(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ b;
    return x && !(x & (x - 1));
}

/* The file size disagrees with n and K.  If the size fits a value of n (or
   K) one bit away from the header's, that field is the damage (a bit flip),
   not the length of the file: say so.  Otherwise BS_OK, and the caller
   reports truncation or trailing bytes. */
static bs_status graph_size_mismatch(const bsg_header *h, uint64_t len,
                                     const char *what, bs_error *err)
{
    uint64_t cells = len - BSG_HEADER - BSG_CRC;
    uint64_t row_n = 8 * (uint64_t)h->k, row_k = 8 * (uint64_t)h->n;
    if (cells % row_n == 0 && one_bit_apart(cells / row_n, (uint64_t)h->n))
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: header field n = %lld is inconsistent with the "
                        "file size (%llu bytes hold n = %llu for K = %d): "
                        "header corrupt",
                        what, (long long)h->n, (unsigned long long)len,
                        (unsigned long long)(cells / row_n), (int)h->k);
    if (cells % row_k == 0 && one_bit_apart(cells / row_k, (uint64_t)h->k))
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: header field K = %d is inconsistent with the "
                        "file size (%llu bytes hold K = %llu for n = %lld): "
                        "header corrupt",
                        what, (int)h->k, (unsigned long long)len,
                        (unsigned long long)(cells / row_k), (long long)h->n);
    return BS_OK;
}

/* Parses and validates the header given the first `avail` bytes and the
   total length `len` of the file or buffer. */
static bs_status graph_parse_header(const unsigned char *p, size_t avail,
                                    uint64_t len, const char *what,
                                    bsg_header *h, bs_error *err)
{
    size_t cmp = avail < BSG_MAGIC_LEN ? avail : BSG_MAGIC_LEN;
    if (memcmp(p, BSG_MAGIC, cmp) != 0)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: bad magic: expected a graph file starting with "
                        "\"BSGRAPH\\0\"",
                        what);
    if (avail < BSG_HEADER)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: truncated: %llu bytes, expected at least %d "
                        "(header and checksum)",
                        what, (unsigned long long)len, BSG_HEADER + BSG_CRC);
    h->version = (uint32_t)get_le(p + 8, 4);
    h->mode = (uint32_t)get_le(p + 12, 4);
    h->n = (int64_t)get_le(p + 16, 8);
    h->k = (int32_t)(uint32_t)get_le(p + 24, 4);
    h->block = (int32_t)(uint32_t)get_le(p + 28, 4);
    h->m = (int64_t)get_le(p + 32, 8);
    h->seed = get_le(p + 40, 8);
    if (h->version != BSG_VERSION)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: graph file version %lu: expected %u", what,
                        (unsigned long)h->version, BSG_VERSION);
    if (!bs_graph_mode_name((bs_graph_mode)h->mode))
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: unknown graph mode %lu: expected 0 (independent), "
                        "1 (shared) or 2 (exact)",
                        what, (unsigned long)h->mode);
    if (h->n < 2 || h->n > INT32_MAX || h->k < 1 || (int64_t)h->k > h->n - 1)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: n = %lld, K = %d: expected 2 <= n < 2^31 and "
                        "1 <= K <= n - 1",
                        what, (long long)h->n, (int)h->k);
    /* n < 2^31 and k < n: 8*n*k < 2^65 would overflow only in theory; it
       fits u64 since n*k < 2^62 */
    h->total = BSG_HEADER + 8 * (uint64_t)h->n * (uint64_t)h->k + BSG_CRC;
    bs_status st = len != h->total && len >= BSG_HEADER + BSG_CRC
                       ? graph_size_mismatch(h, len, what, err)
                       : BS_OK;
    if (st != BS_OK)
        return st;
    if (len < h->total)
        return bs__fail(
            err, BS_ERR_FORMAT,
            "%s: truncated: %llu bytes, expected %llu for n = %lld, "
            "K = %d",
            what, (unsigned long long)len, (unsigned long long)h->total,
            (long long)h->n, (int)h->k);
    if (len > h->total)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: trailing bytes: %llu bytes, expected %llu for "
                        "n = %lld, K = %d",
                        what, (unsigned long long)len,
                        (unsigned long long)h->total, (long long)h->n,
                        (int)h->k);
    if (h->total - BSG_CRC > SIZE_MAX)
        return bs__fail(err, BS_ERR_NOMEM,
                        "%s: graph of %llu bytes does not fit in memory", what,
                        (unsigned long long)h->total);
    return BS_OK;
}

static bs_status graph_check_crc(uint32_t stored, uint32_t computed,
                                 const char *what, bs_error *err)
{
    if (stored != computed)
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: checksum mismatch: stored CRC-32 0x%08lx, "
                        "computed 0x%08lx: expected equal (file corrupt)",
                        what, (unsigned long)stored, (unsigned long)computed);
    return BS_OK;
}

/* Every similarity must be a finite cosine; `code` is BS_ERR_FORMAT for a
   file read, BS_ERR_INVALID_ARG for a graph about to be saved. */
static bs_status graph_check_sims(const bs_graph *g, const char *what,
                                  bs_status code, bs_error *err)
{
    int64_t cells = g->n * (int64_t)g->k;
    for (int64_t i = 0; i < cells; i++) {
        float s = g->sim[i];
        /* written so that NaN fails too */
        if (!(s >= -BSG_SIM_LIMIT && s <= BSG_SIM_LIMIT))
            return bs__fail(err, code,
                            "%s: row %lld similarity %lld is %g: expected a "
                            "finite cosine in [-1.0001, 1.0001]",
                            what, (long long)(i / g->k), (long long)(i % g->k),
                            (double)s);
    }
    return BS_OK;
}

/* Validates the arrays of a graph just read: ids, then similarities. */
static bs_status graph_check_payload(const bs_graph *g, const char *what,
                                     bs_error *err)
{
    bs_status st = bs__graph_check_ids(g->n, g->k, g->nbr, 0, g->n, what,
                                       BS_ERR_FORMAT, err);
    if (st != BS_OK)
        return st;
    return graph_check_sims(g, what, BS_ERR_FORMAT, err);
}

/* Allocates the graph a validated header describes. */
static bs_status graph_from_header(const bsg_header *h, bs_graph **out,
                                   bs_error *err)
{
    bs_graph_params p;
    bs_graph_params_default(&p);
    p.mode = (bs_graph_mode)h->mode;
    p.k = h->k;
    p.m = h->m;
    p.block = h->block;
    p.seed = h->seed;
    return bs__graph_alloc(h->n, h->k, &p, out, err);
}

/* ------------------------------------------------------------ loading */

bs_status bs_graph_load_mem(const void *buf, size_t len, const char *what,
                            bs_graph **out, bs_error *err)
{
    what = what ? what : "(buffer)";
    if (!out)
        return bs__fail(err, BS_ERR_INVALID_ARG, "%s: output graph is NULL",
                        what);
    *out = NULL;
    if (!buf && len)
        return bs__fail(err, BS_ERR_INVALID_ARG, "%s: buffer is NULL", what);
    const unsigned char *p = buf ? buf : (const unsigned char *)"";
    bsg_header h;
    bs_status st = graph_parse_header(p, len, len, what, &h, err);
    if (st != BS_OK)
        return st;
    size_t body = (size_t)h.total - BSG_CRC;
    uint32_t crc = bs__crc32(0, p, body);
    if ((st = graph_check_crc((uint32_t)get_le(p + body, 4), crc, what, err)) !=
        BS_OK)
        return st;
    bs_graph *g;
    if ((st = graph_from_header(&h, &g, err)) != BS_OK)
        return st;
    size_t cells = (size_t)h.n * (size_t)h.k;
    memcpy(g->nbr, p + BSG_HEADER, cells * sizeof *g->nbr);
    memcpy(g->sim, p + BSG_HEADER + cells * sizeof *g->nbr,
           cells * sizeof *g->sim);
    if ((st = graph_check_payload(g, what, err)) != BS_OK) {
        bs_graph_free(g);
        return st;
    }
    *out = g;
    return BS_OK;
}

/* Reads `bytes` into dst in chunks, folding each into the CRC while it is
   still in cache. */
static bs_status read_crc(FILE *f, void *dst, size_t bytes, uint32_t *crc,
                          const char *path, bs_error *err)
{
    unsigned char *p = dst;
    while (bytes) {
        size_t part = bytes < BSG_CHUNK ? bytes : BSG_CHUNK;
        if (fread(p, 1, part, f) != part)
            return bs__fail(err, BS_ERR_IO, "%s: short read: %s", path,
                            ferror(f) ? strerror(errno)
                                      : "file shrank while reading");
        *crc = bs__crc32(*crc, p, part);
        p += part;
        bytes -= part;
    }
    return BS_OK;
}

/* Opens path, checks it is a regular file, reads and validates the header. */
static bs_status open_graph(const char *path, FILE **fp, bsg_header *h,
                            unsigned char *hdr, bs_error *err)
{
    FILE *f;
    uint64_t size;
    bs_status st = bs__open_read(path, &f, &size, err);
    if (st != BS_OK)
        return st;
    size_t got = fread(hdr, 1, BSG_HEADER, f);
    if (ferror(f))
        st = bs__fail(err, BS_ERR_IO, "%s: read failed: %s", path,
                      strerror(errno));
    else
        st = graph_parse_header(hdr, got, size, path, h, err);
    if (st != BS_OK) {
        fclose(f);
        return st;
    }
    *fp = f;
    return BS_OK;
}

/* Streams ids, sims and the CRC of an open file into g and checks them. */
static bs_status read_payload(FILE *f, const unsigned char *hdr, bs_graph *g,
                              const char *path, bs_error *err)
{
    size_t cells = (size_t)g->n * (size_t)g->k;
    uint32_t crc = bs__crc32(0, hdr, BSG_HEADER);
    unsigned char tail[BSG_CRC];
    bs_status st = read_crc(f, g->nbr, cells * sizeof *g->nbr, &crc, path, err);
    if (st == BS_OK)
        st = read_crc(f, g->sim, cells * sizeof *g->sim, &crc, path, err);
    if (st == BS_OK && fread(tail, 1, BSG_CRC, f) != BSG_CRC)
        st = bs__fail(err, BS_ERR_IO, "%s: short read of the checksum", path);
    /* the file may have grown since fstat */
    if (st == BS_OK && fgetc(f) != EOF)
        st = bs__fail(err, BS_ERR_FORMAT,
                      "%s: trailing bytes after the checksum", path);
    if (st == BS_OK)
        st = graph_check_crc((uint32_t)get_le(tail, 4), crc, path, err);
    if (st == BS_OK)
        st = graph_check_payload(g, path, err);
    return st;
}

bs_status bs_graph_load(const char *path, bs_graph **out, bs_error *err)
{
    if (!path || !out)
        return bs__fail(err, BS_ERR_INVALID_ARG, "graph load: %s is NULL",
                        path ? "output graph" : "path");
    *out = NULL;
    FILE *f = NULL;
    bsg_header h;
    unsigned char hdr[BSG_HEADER];
    bs_status st = open_graph(path, &f, &h, hdr, err);
    if (st != BS_OK)
        return st;
    bs_graph *g;
    if ((st = graph_from_header(&h, &g, err)) == BS_OK) {
        st = read_payload(f, hdr, g, path, err);
        if (st != BS_OK)
            bs_graph_free(g);
    }
    fclose(f);
    if (st == BS_OK)
        *out = g;
    return st;
}

/* ------------------------------------------------------------ saving */

/* Encodes g's header; fails for a graph no loader would accept. */
static bs_status graph_encode_header(const bs_graph *g, const char *path,
                                     unsigned char *hdr, bs_error *err)
{
    if (g->n < 2 || g->n > INT32_MAX || g->k < 1 || (int64_t)g->k > g->n - 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s: cannot save a graph of n = %lld, K = %d: "
                        "expected 2 <= n < 2^31 and 1 <= K <= n - 1",
                        path, (long long)g->n, (int)g->k);
    if (!bs_graph_mode_name(g->params.mode))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s: cannot save a graph of mode %d: expected "
                        "independent, shared or exact",
                        path, (int)g->params.mode);
    memcpy(hdr, BSG_MAGIC, BSG_MAGIC_LEN);
    put_le(hdr + 8, BSG_VERSION, 4);
    put_le(hdr + 12, (uint32_t)g->params.mode, 4);
    put_le(hdr + 16, (uint64_t)g->n, 8);
    put_le(hdr + 24, (uint32_t)g->k, 4);
    put_le(hdr + 28, (uint32_t)g->params.block, 4);
    put_le(hdr + 32, (uint64_t)g->params.m, 8);
    put_le(hdr + 40, g->params.seed, 8);
    return BS_OK;
}

bs_status bs_graph_save(const bs_graph *g, const char *path, bs_error *err)
{
    if (!g || !path)
        return bs__fail(err, BS_ERR_INVALID_ARG, "graph save: %s is NULL",
                        g ? "path" : "graph");
    unsigned char hdr[BSG_HEADER], tail[BSG_CRC];
    bs_status st = graph_encode_header(g, path, hdr, err);
    /* refuse now what bs_graph_load would refuse later (from_arrays takes
       similarities as given) */
    if (st == BS_OK)
        st = graph_check_sims(g, path, BS_ERR_INVALID_ARG, err);
    if (st != BS_OK)
        return st;
    size_t bytes = (size_t)g->n * (size_t)g->k * sizeof *g->nbr;
    uint32_t crc = bs__crc32(0, hdr, BSG_HEADER);
    crc = bs__crc32(bs__crc32(crc, g->nbr, bytes), g->sim, bytes);
    put_le(tail, crc, 4);
    bs__atomic_file af;
    if ((st = bs__atomic_open(&af, path, err)) != BS_OK)
        return st;
    if (fwrite(hdr, 1, BSG_HEADER, af.f) != BSG_HEADER ||
        fwrite(g->nbr, 1, bytes, af.f) != bytes ||
        fwrite(g->sim, 1, bytes, af.f) != bytes ||
        fwrite(tail, 1, BSG_CRC, af.f) != BSG_CRC) {
        st = bs__fail(err, BS_ERR_IO, "%s: write failed: %s", path,
                      strerror(errno));
        bs__atomic_abort(&af);
        return st;
    }
    return bs__atomic_commit(&af, err);
}
