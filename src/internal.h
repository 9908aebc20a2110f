/*
 * internal.h — the internal toolkit: helpers shared by the library's
 * sources, the training engine (train/) and the CLI (cli/); not installed.
 */
#ifndef BS_INTERNAL_H
#define BS_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "batchsampler.h"

#if defined(__GNUC__)
#define BS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BS_PRINTF(a, b)
#endif

/* Records code and a formatted one-line message in *err (if non-NULL) and
   returns code, so that callers can write `return bs__fail(err, ...)`. */
bs_status bs__fail(bs_error *err, bs_status code, const char *fmt, ...)
    BS_PRINTF(3, 4);

/* Clears *err (if non-NULL) to BS_OK / "". */
void bs__ok(bs_error *err);

/* Overflow-checked size arithmetic: return 0 on overflow. */
int bs__mul_size(size_t a, size_t b, size_t *out);

/* malloc/calloc of a*b bytes with overflow check; NULL on failure. */
void *bs__malloc_array(size_t count, size_t size);
void *bs__calloc_array(size_t count, size_t size);

/*
 * Inputs.  bs__open_read opens a file for reading without blocking on a
 * FIFO and refuses anything but a regular file (directory, device, FIFO,
 * socket) with a message naming the path and what it is; *size (may be
 * NULL) gets its length.  bs__read_file reads a whole regular file into a
 * malloc'ed buffer (at most max_len bytes, else BS_ERR_FORMAT "more than
 * ... allowed"; a file that changes size meanwhile is BS_ERR_IO).
 */
bs_status bs__open_read(const char *path, FILE **out, uint64_t *size,
                        bs_error *err);
bs_status bs__read_file(const char *path, size_t max_len, void **buf,
                        size_t *len, bs_error *err);

/*
 * Outputs.  Every file the library, the engine or the CLI writes goes
 * through the atomic writer: bs__atomic_open checks the path
 * (bs__output_check) and creates "<target>.tmp.XXXXXX" next to the target;
 * write through the FILE*, then bs__atomic_commit flushes, fsyncs, closes,
 * renames it over the target and fsyncs the directory (or removes it on any
 * error).  bs__atomic_abort closes and removes the temporary file.
 * A symbolic link is written through: the target is the file the link
 * points to, and the link stays a link.
 *
 * bs__output_check refuses, with a one-line message: an empty path; an
 * existing target that is not a regular file (directory, device, FIFO,
 * socket: never replaced); a dangling link; a directory that does not
 * exist, is not a directory or is not writable.  The CLI and the trainer
 * call it before doing any work.  bs__same_file: 1 if a and b name the
 * same file (same st_dev/st_ino when both exist, else the same real
 * directory and name).
 */
typedef struct {
    FILE *f;
    char *tmp_path;
    const char *path; /* as given, for messages */
    char *target;     /* the file renamed over (a link's target) */
} bs__atomic_file;

bs_status bs__output_check(const char *path, bs_error *err);
int bs__same_file(const char *a, const char *b);
bs_status bs__atomic_open(bs__atomic_file *af, const char *path, bs_error *err);
bs_status bs__atomic_commit(bs__atomic_file *af, bs_error *err);
void bs__atomic_abort(bs__atomic_file *af);
/* The whole of data[0..len) written atomically to path. */
bs_status bs__write_file(const char *path, const void *data, size_t len,
                         bs_error *err);

/* zlib's CRC-32 of data[0..len) continued from crc (0 to start), for any
   length (zlib itself takes a uInt). */
uint32_t bs__crc32(uint32_t crc, const void *data, size_t len);

/* Seconds on a monotonic clock, for timings. */
double bs__now(void);

#endif /* BS_INTERNAL_H */
