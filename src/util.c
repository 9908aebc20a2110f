/*
 * util.c — errors, checked allocation and atomic file writes.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

const char *bs_status_name(bs_status s)
{
    switch (s) {
    case BS_OK: return "BS_OK";
    case BS_ERR_INVALID_ARG: return "BS_ERR_INVALID_ARG";
    case BS_ERR_NOMEM: return "BS_ERR_NOMEM";
    case BS_ERR_IO: return "BS_ERR_IO";
    case BS_ERR_FORMAT: return "BS_ERR_FORMAT";
    case BS_ERR_DATA: return "BS_ERR_DATA";
    case BS_ERR_STATE: return "BS_ERR_STATE";
    case BS_ERR_CANCELLED: return "BS_ERR_CANCELLED";
    case BS_ERR_UNSUPPORTED: return "BS_ERR_UNSUPPORTED";
    }
    return "BS_ERR_UNKNOWN";
}

const char *bs_version(void)
{
    return BS_VERSION_STRING;
}

bs_status bs__fail(bs_error *err, bs_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* one line: a message must never carry a newline from file data */
        for (char *c = err->msg; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        err->code = code;
    }
    return code;
}

void bs__ok(bs_error *err)
{
    if (err) {
        err->code = BS_OK;
        err->msg[0] = '\0';
    }
}

int bs__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

void *bs__malloc_array(size_t count, size_t size)
{
    size_t bytes;
    if (!bs__mul_size(count, size, &bytes))
        return NULL;
    return malloc(bytes ? bytes : 1);
}

void *bs__calloc_array(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

bs_status bs__atomic_open(bs__atomic_file *af, const char *path, bs_error *err)
{
    af->f = NULL;
    af->path = path;
    size_t len = strlen(path);
    af->tmp_path = malloc(len + sizeof ".tmp.XXXXXX");
    if (!af->tmp_path)
        return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory", path);
    memcpy(af->tmp_path, path, len);
    memcpy(af->tmp_path + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        bs_status st =
            bs__fail(err, BS_ERR_IO, "%s: cannot create temporary file: %s",
                     path, strerror(errno));
        free(af->tmp_path);
        af->tmp_path = NULL;
        return st;
    }
    /* mkstemp makes 0600; output files are meant to be shared like any
       other data file.  (Reading the umask would mean changing it: process
       state that other threads may be using.) */
    (void)fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        bs_status st = bs__fail(err, BS_ERR_IO, "%s: fdopen failed: %s", path,
                                strerror(errno));
        close(fd);
        unlink(af->tmp_path);
        free(af->tmp_path);
        af->tmp_path = NULL;
        return st;
    }
    return BS_OK;
}

void bs__atomic_abort(bs__atomic_file *af)
{
    if (af->f)
        fclose(af->f);
    if (af->tmp_path) {
        unlink(af->tmp_path);
        free(af->tmp_path);
    }
    af->f = NULL;
    af->tmp_path = NULL;
}

bs_status bs__atomic_commit(bs__atomic_file *af, bs_error *err)
{
    bs_status st = BS_OK;
    int bad = ferror(af->f) || fflush(af->f) != 0;
    if (bad) {
        st = bs__fail(err, BS_ERR_IO, "%s: write failed: %s", af->path,
                      strerror(errno));
    } else if (fsync(fileno(af->f)) != 0 && errno != EINVAL) {
        st = bs__fail(err, BS_ERR_IO, "%s: fsync failed: %s", af->path,
                      strerror(errno));
    }
    if (fclose(af->f) != 0 && st == BS_OK)
        st = bs__fail(err, BS_ERR_IO, "%s: close failed: %s", af->path,
                      strerror(errno));
    af->f = NULL;
    if (st == BS_OK && rename(af->tmp_path, af->path) != 0)
        st = bs__fail(err, BS_ERR_IO, "%s: rename from %s failed: %s", af->path,
                      af->tmp_path, strerror(errno));
    if (st != BS_OK)
        unlink(af->tmp_path);
    free(af->tmp_path);
    af->tmp_path = NULL;
    return st;
}

bs_status bs__read_file(const char *path, size_t max_len, void **buf,
                        size_t *len, bs_error *err)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return bs__fail(err, BS_ERR_IO, "%s: cannot open: %s", path,
                        strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return bs__fail(err, BS_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > (uint64_t)max_len) {
        fclose(f);
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: file is %lld bytes, more than the %zu allowed",
                        path, (long long)sb.st_size, max_len);
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        fclose(f);
        return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory for %zu bytes",
                        path, n);
    }
    size_t got = fread(p, 1, n, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != n || rerr) {
        free(p);
        return bs__fail(err, BS_ERR_IO, "%s: short read (%zu of %zu bytes)",
                        path, got, n);
    }
    *buf = p;
    *len = n;
    return BS_OK;
}
