/* fdcheck.h — what the engine's finite-difference tests share
   (test_grad.c, test_transformer.c,
   test_gin.c, test_gcn.c): seeded random arrays and the check
   of an analytic gradient against central differences.  Header-only, for
   the cmocka tests (include after <cmocka.h>).

   A check uses an objective f = sum(y * r) for a fixed random r, so
   backward with dy = r must give df/d(input) and df/d(params).  The
   objective is accumulated in double; the perturbation actually applied
   is the float difference (x + EPS) - (x - EPS). */
#ifndef BST_TEST_FDCHECK_H
#define BST_TEST_FDCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define EPS 1e-3f
#define ATOL 3e-3
#define RTOL 1e-2

/* n uniform floats in [lo, hi) from seed (the caller frees; n may be 0) */
static inline float *randu(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(x);
    bs_rng r;
    bs_rng_derive(&r, seed, 99, n);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)bs_rng_uniform(&r);
    return x;
}

static inline float *copyf(const float *x, size_t n)
{
    float *y = malloc(n * sizeof(float));
    assert_non_null(y);
    memcpy(y, x, n * sizeof(float));
    return y;
}

/* sum a[i] b[i] in double */
static inline double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Compares the analytic gradient g of f with respect to x (n) with central
   differences (|err| <= atol + RTOL |numeric|; NaN fails); x is restored.
   The worst error is printed when BST_VERBOSE is set. */
static inline void check_grad_atol(const char *what, double (*f)(void *),
                                   void *ctx, float *x, const float *g,
                                   size_t n, double atol)
{
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float orig = x[i];
        x[i] = orig + EPS;
        float xp = x[i];
        double fp = f(ctx);
        x[i] = orig - EPS;
        float xm = x[i];
        double fm = f(ctx);
        x[i] = orig;
        double num = (fp - fm) / ((double)xp - (double)xm);
        double err = fabs(num - g[i]);
        if (err > worst)
            worst = err;
        if (!(err <= atol + RTOL * fabs(num))) { /* NaN fails too */
            if (bad < 5)
                print_message("%s[%zu]: analytic %.6g numeric %.6g\n", what, i,
                              (double)g[i], num);
            bad++;
        }
    }
    if (bad)
        print_message("%s: %d of %zu bad (worst abs err %.3g)\n", what, bad, n,
                      worst);
    else if (getenv("BST_VERBOSE"))
        print_message("%-14s n=%-4zu worst abs err %.3g\n", what, n, worst);
    assert_int_equal(bad, 0);
}

/* check_grad_atol with the default absolute tolerance ATOL */
static inline void check_grad(const char *what, double (*f)(void *), void *ctx,
                              float *x, const float *g, size_t n)
{
    check_grad_atol(what, f, ctx, x, g, n, ATOL);
}

#endif /* BST_TEST_FDCHECK_H */
