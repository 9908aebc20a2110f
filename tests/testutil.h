/* testutil.h — small helpers shared by the cmocka tests. */
#ifndef BS_TESTUTIL_H
#define BS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "batchsampler.h"

/* A path "<BS_TEST_TMPDIR or /tmp>/<name>.<pid>" in a static buffer of the
   caller's (cap bytes). */
const char *tu_tmp_path(char *buf, size_t cap, const char *name);

/* n x d float32 rows drawn around `clusters` random unit centres with
   Gaussian noise `noise`; labels[i] (may be NULL) gets the cluster.  Rows
   are assigned to clusters round-robin.  Deterministic in seed.  malloc'ed. */
float *tu_clustered(int64_t n, int64_t d, int clusters, double noise,
                    uint64_t seed, int64_t *labels);

/* Writes len bytes to path (no atomicity; for crafting bad inputs). */
void tu_write_bytes(const char *path, const void *buf, size_t len);

/* Number of entries of dir whose name starts with prefix (e.g. leftover
   temporary files of an atomic write). */
int tu_count_prefix(const char *dir, const char *prefix);

/* Asserts that st == want and that err.msg contains `needle` (if non-NULL);
   prints the message on failure. */
#define tu_assert_fails(st, want, err, needle)                                 \
    tu_assert_fails_(st, want, err, needle, __FILE__, __LINE__)
void tu_assert_fails_(bs_status st, bs_status want, const bs_error *err,
                      const char *needle, const char *file, int line);

#endif
