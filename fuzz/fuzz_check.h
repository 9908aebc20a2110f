/*
 * fuzz_check.h — what every fuzz target asserts: CHECK aborts (libFuzzer
 * reports it as a crash) and every error message is one NUL-terminated,
 * non-empty line.
 */
#ifndef BS_FUZZ_CHECK_H
#define BS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif
