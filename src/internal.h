/*
 * internal.h — helpers shared by the library's sources; not installed.
 */
#ifndef BS_INTERNAL_H
#define BS_INTERNAL_H

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
 * Atomic file writing: bs__atomic_open creates "<path>.tmp.XXXXXX" next to
 * path; write through the FILE*, then bs__atomic_commit flushes, fsyncs,
 * closes and renames it over path (or removes it on any error).
 * bs__atomic_abort closes and removes the temporary file.
 */
typedef struct {
    FILE *f;
    char *tmp_path;
    const char *path;
} bs__atomic_file;

bs_status bs__atomic_open(bs__atomic_file *af, const char *path, bs_error *err);
bs_status bs__atomic_commit(bs__atomic_file *af, bs_error *err);
void bs__atomic_abort(bs__atomic_file *af);

/* Reads a whole regular file into a malloc'ed buffer (at most max_len bytes,
   else BS_ERR_FORMAT "larger than ..."). */
bs_status bs__read_file(const char *path, size_t max_len, void **buf,
                        size_t *len, bs_error *err);

#endif /* BS_INTERNAL_H */
