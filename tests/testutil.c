#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"

const char *tu_tmp_path(char *buf, size_t cap, const char *name)
{
    const char *dir = getenv("BS_TEST_TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(buf, cap, "%s/%s.%ld", dir, name, (long)getpid());
    return buf;
}

static double gauss(bs_rng *r)
{
    double u1 = bs_rng_uniform(r), u2 = bs_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

float *tu_clustered(int64_t n, int64_t d, int clusters, double noise,
                    uint64_t seed, int64_t *labels)
{
    bs_rng r;
    bs_rng_seed(&r, seed);
    float *c = malloc(sizeof(float) * (size_t)(clusters * d));
    float *x = malloc(sizeof(float) * (size_t)(n * d));
    assert_non_null(c);
    assert_non_null(x);
    for (int k = 0; k < clusters; k++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double v = gauss(&r);
            c[k * d + j] = (float)v;
            s += v * v;
        }
        s = sqrt(s);
        for (int64_t j = 0; j < d; j++)
            c[k * d + j] = (float)(c[k * d + j] / s);
    }
    for (int64_t i = 0; i < n; i++) {
        int k = (int)(i % clusters);
        if (labels)
            labels[i] = k;
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] =
                (float)(c[k * d + j] + noise * gauss(&r) / sqrt((double)d));
    }
    free(c);
    return x;
}

void tu_write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

void tu_assert_fails_(bs_status st, bs_status want, const bs_error *err,
                      const char *needle, const char *file, int line)
{
    if (st != want || (err && err->code != want) ||
        (needle && err && !strstr(err->msg, needle))) {
        print_error("%s:%d: expected %s containing '%s', got %s: '%s'\n", file,
                    line, bs_status_name(want), needle ? needle : "",
                    bs_status_name(st), err ? err->msg : "");
        fail();
    }
}

int tu_count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}
