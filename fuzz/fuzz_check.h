/*
 * fuzz_check.h — what every fuzz target asserts: CHECK aborts (libFuzzer
 * reports it as a crash) and every error message is one NUL-terminated,
 * non-empty line.
 */
#ifndef BS_FUZZ_CHECK_H
#define BS_FUZZ_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchsampler.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s: check failed: %s (line %d)\n", __FILE__, #c,  \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

static inline void check_msg(const bs_error *err)
{
    CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL);
    CHECK(strchr(err->msg, '\n') == NULL && err->msg[0] != '\0');
}

/* Writes the input to /tmp/<name>.<pid> so the file readers can be
   compared with the memory readers; 0 if no file can be made (the
   comparison is then skipped). */
static inline int write_scratch(const char *name, const uint8_t *data,
                                size_t size, char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/%s.%ld", name, (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

#endif
