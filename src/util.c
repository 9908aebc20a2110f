/*
 * util.c — the internal toolkit shared by the library, the training engine
 * and the CLI (internal.h): errors, checked allocation, opening inputs,
 * checking and atomically writing outputs, CRC-32 and the clock.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <zlib.h>
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

/* ---------------------------------------------------------------- inputs */

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    return "a special file";
}

bs_status bs__open_read(const char *path, FILE **out, uint64_t *size,
                        bs_error *err)
{
    *out = NULL;
    if (!path || !*path)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "input path is empty: expected a file name");
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer
       forever; fstat below refuses it before anything is read */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return bs__fail(err, BS_ERR_IO, "%s: cannot open: %s", path,
                        strerror(errno));
    struct stat sb;
    bs_status st = BS_OK;
    if (fstat(fd, &sb) != 0)
        st = bs__fail(err, BS_ERR_IO, "%s: cannot stat: %s", path,
                      strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = bs__fail(err, BS_ERR_IO,
                      "%s: not a regular file (it is %s): expected a data "
                      "file",
                      path, file_kind(sb.st_mode));
    int fl = st == BS_OK ? fcntl(fd, F_GETFL) : -1;
    if (st == BS_OK && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
        st = bs__fail(err, BS_ERR_IO, "%s: fcntl failed: %s", path,
                      strerror(errno));
    FILE *f = st == BS_OK ? fdopen(fd, "rb") : NULL;
    if (st == BS_OK && !f)
        st = bs__fail(err, BS_ERR_IO, "%s: fdopen failed: %s", path,
                      strerror(errno));
    if (st != BS_OK) {
        close(fd);
        return st;
    }
    if (size)
        *size = (uint64_t)sb.st_size;
    *out = f;
    return BS_OK;
}

bs_status bs__read_file(const char *path, size_t max_len, void **buf,
                        size_t *len, bs_error *err)
{
    *buf = NULL;
    *len = 0;
    FILE *f;
    uint64_t size;
    bs_status st = bs__open_read(path, &f, &size, err);
    if (st != BS_OK)
        return st;
    if (size > (uint64_t)max_len) {
        fclose(f);
        return bs__fail(err, BS_ERR_FORMAT,
                        "%s: file is %llu bytes, more than the %zu allowed",
                        path, (unsigned long long)size, max_len);
    }
    size_t n = (size_t)size;
    unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        fclose(f);
        return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory for %zu bytes",
                        path, n);
    }
    size_t got = fread(p, 1, n, f);
    int rerr = ferror(f);
    /* a file that grows or shrinks meanwhile is reported, not half read */
    int grew = !rerr && got == n && fgetc(f) != EOF;
    fclose(f);
    if (got != n || rerr || grew) {
        free(p);
        return bs__fail(err, BS_ERR_IO,
                        "%s: its size changed while it was read (%zu bytes "
                        "expected, %s)",
                        path, n, rerr ? "read error" : "size differs");
    }
    *buf = p;
    *len = n;
    return BS_OK;
}

/* --------------------------------------------------------------- outputs */

/* The directory part of path ("." for a bare name), malloc'ed. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* The file an output path names: the target of a symbolic link (outputs are
   written through links, which stay links), else path itself; malloc'ed. */
static bs_status output_target(const char *path, char **target, bs_error *err)
{
    struct stat lsb;
    *target = NULL;
    if (lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
        *target = realpath(path, NULL);
        if (!*target)
            return bs__fail(err, BS_ERR_IO,
                            "%s: symbolic link to a missing or unreachable "
                            "file (%s): expected a link to a regular file",
                            path, strerror(errno));
        return BS_OK;
    }
    *target = strdup(path);
    return *target ? BS_OK
                   : bs__fail(err, BS_ERR_NOMEM, "%s: out of memory", path);
}

/* The directory that will hold target exists and takes new files. */
static bs_status check_dir(const char *path, const char *target, bs_error *err)
{
    char *dir = dir_of(target);
    if (!dir)
        return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory", path);
    struct stat sb;
    bs_status st = BS_OK;
    if (stat(dir, &sb) != 0)
        st = bs__fail(err, BS_ERR_IO, "%s: cannot use directory %s: %s", path,
                      dir, strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        st = bs__fail(err, BS_ERR_IO, "%s: %s is not a directory", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        st = bs__fail(err, BS_ERR_IO, "%s: directory %s is not writable: %s",
                      path, dir, strerror(errno));
    free(dir);
    return st;
}

bs_status bs__output_check(const char *path, bs_error *err)
{
    if (!path || !*path)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "output path is empty: expected a file name");
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return bs__fail(err, BS_ERR_IO,
                        "%s: exists and is %s, not a regular file: refusing "
                        "to replace it",
                        path, file_kind(sb.st_mode));
    if (stat(path, &sb) != 0 && errno != ENOENT)
        return bs__fail(err, BS_ERR_IO, "%s: cannot write there: %s", path,
                        strerror(errno));
    char *target;
    bs_status st = output_target(path, &target, err);
    if (st == BS_OK)
        st = check_dir(path, target, err);
    free(target);
    return st;
}

/* The name a file would have, for files that may not exist yet: the real
   path of its directory plus its own name. */
static char *canonical_name(const char *path)
{
    char *dir = dir_of(path), *real = dir ? realpath(dir, NULL) : NULL;
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    const char *d = real ? real : (dir ? dir : ".");
    char *out = malloc(strlen(d) + strlen(base) + 2);
    if (out)
        sprintf(out, "%s/%s", d, base);
    free(dir);
    free(real);
    return out;
}

int bs__same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *ca = canonical_name(a), *cb = canonical_name(b);
    /* out of memory: compare as given */
    int same = ca && cb ? strcmp(ca, cb) == 0 : strcmp(a, b) == 0;
    free(ca);
    free(cb);
    return same;
}

bs_status bs__atomic_open(bs__atomic_file *af, const char *path, bs_error *err)
{
    af->f = NULL;
    af->path = path;
    af->tmp_path = NULL;
    af->target = NULL;
    bs_status st = bs__output_check(path, err);
    if (st == BS_OK)
        st = output_target(path, &af->target, err);
    if (st != BS_OK)
        return st;
    size_t len = strlen(af->target);
    af->tmp_path = malloc(len + sizeof ".tmp.XXXXXX");
    if (!af->tmp_path) {
        bs__atomic_abort(af);
        return bs__fail(err, BS_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(af->tmp_path, af->target, len);
    memcpy(af->tmp_path + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        st = bs__fail(err, BS_ERR_IO, "%s: cannot create temporary file: %s",
                      path, strerror(errno));
        free(af->tmp_path); /* nothing to unlink */
        af->tmp_path = NULL;
        bs__atomic_abort(af);
        return st;
    }
    /* mkstemp makes 0600; output files are meant to be shared like any
       other data file.  (Reading the umask would mean changing it: process
       state that other threads may be using.) */
    (void)fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        st = bs__fail(err, BS_ERR_IO, "%s: fdopen failed: %s", path,
                      strerror(errno));
        close(fd);
        bs__atomic_abort(af);
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
    free(af->target);
    af->f = NULL;
    af->tmp_path = NULL;
    af->target = NULL;
}

/* fsyncs the directory holding path, so that the rename is durable (best
   effort: the new file is in place whatever happens here). */
static void sync_dir(const char *path)
{
    char *dir = dir_of(path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
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
    if (st == BS_OK && rename(af->tmp_path, af->target) != 0)
        st = bs__fail(err, BS_ERR_IO, "%s: rename from %s failed: %s", af->path,
                      af->tmp_path, strerror(errno));
    if (st == BS_OK) {
        sync_dir(af->target);
        free(af->tmp_path); /* renamed: nothing to remove */
        af->tmp_path = NULL;
    }
    bs__atomic_abort(af);
    return st;
}

bs_status bs__write_file(const char *path, const void *data, size_t len,
                         bs_error *err)
{
    bs__atomic_file af;
    bs_status st = bs__atomic_open(&af, path, err);
    if (st != BS_OK)
        return st;
    if (len && fwrite(data, 1, len, af.f) != len) {
        st = bs__fail(err, BS_ERR_IO, "%s: write failed: %s", path,
                      strerror(errno));
        bs__atomic_abort(&af);
        return st;
    }
    return bs__atomic_commit(&af, err);
}

/* ------------------------------------------------------ checksum, clock */

uint32_t bs__crc32(uint32_t crc, const void *data, size_t len)
{
    /* zlib's crc32 takes a uInt length: feed it at most 1 GiB at a time */
    const unsigned char *p = data;
    uLong c = crc;
    while (len > 0) {
        uInt k = len > ((size_t)1 << 30) ? (uInt)1 << 30 : (uInt)len;
        c = crc32(c, p, k);
        p += k;
        len -= k;
    }
    return (uint32_t)c;
}

double bs__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
