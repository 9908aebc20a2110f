/*
 * topk.c — top-K selection of one similarity row, the scalar path: keys
 * (topk.h) above a threshold estimated from a sample are collected, then
 * selected and sorted by branch-free quickselect / quicksort.  The AVX-512
 * path is in topk_simd.c; bs__topk_select picks between them.  The graph
 * build (graph_build.c) calls bs__topk_select for the sampled modes and
 * bs__topk_merge for the exact mode's column chunks.
 */
#include <float.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "topk.h"

/* ------------------------------------------------------------------------ */
/* Sorting and selection of 64-bit keys                                      */
/* ------------------------------------------------------------------------ */

static void swap_u64(uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

/* Insertion sort without data-dependent branches: each new key sinks
   through all earlier slots by compare-exchange (n^2/2 of them, cheap for
   the n <= SMALL_SORT leaves it is used on, and never mispredicted). */
static void insertion_u64(uint64_t *a, int64_t n)
{
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = i; j > 0; j--) {
            uint64_t lo = a[j - 1], hi = a[j];
            uint64_t mn = lo < hi ? lo : hi, mx = lo < hi ? hi : lo;
            a[j - 1] = mn;
            a[j] = mx;
        }
}

/*
 * Lomuto partition around the median of three, without data-dependent
 * branches (the keys are random, so a branchy loop mispredicts half the
 * time): returns p with a[0..p) < a[p] < a(p..n).  Keys are distinct.
 */
static int64_t partition_u64(uint64_t *a, int64_t n)
{
    int64_t mid = n / 2;
    if (a[mid] < a[0])
        swap_u64(&a[mid], &a[0]);
    if (a[n - 1] < a[0])
        swap_u64(&a[n - 1], &a[0]);
    if (a[n - 1] < a[mid])
        swap_u64(&a[n - 1], &a[mid]);
    swap_u64(&a[mid], &a[n - 1]);
    uint64_t pivot = a[n - 1];
    int64_t i = 0;
    /* invariant: a[0..i) < pivot <= a[i..j) */
    for (int64_t j = 0; j < n - 1; j++) {
        uint64_t v = a[j];
        a[j] = a[i];
        a[i] = v;
        i += v < pivot;
    }
    a[n - 1] = a[i];
    a[i] = pivot;
    return i;
}

#define SMALL_SORT 12 /* leaves sorted by compare-exchange */

/* Sorts a[0..n) ascending. */
static void sort_u64(uint64_t *a, int64_t n)
{
    while (n > SMALL_SORT) {
        int64_t p = partition_u64(a, n);
        if (p < n - 1 - p) { /* recurse on the smaller side */
            sort_u64(a, p);
            a += p + 1;
            n -= p + 1;
        } else {
            sort_u64(a + p + 1, n - p - 1);
            n = p;
        }
    }
    insertion_u64(a, n);
}

/* Rearranges a[0..n) so that a[0..k) hold the k smallest keys (unsorted). */
static void select_u64(uint64_t *a, int64_t n, int64_t k)
{
    while (n > SMALL_SORT) {
        int64_t p = partition_u64(a, n);
        if (k <= p) {
            n = p;
        } else if (k == p + 1) {
            return;
        } else {
            a += p + 1;
            n -= p + 1;
            k -= p + 1;
        }
    }
    insertion_u64(a, n);
}

/* ------------------------------------------------------------------------ */
/* Top-K                                                                     */
/* ------------------------------------------------------------------------ */

/* Value j of a row: s[j], or s[j] * scale[j] when the GEMM ran on raw
   (unnormalised) columns (exact mode).  One float multiply, so the mask
   pass and the key agree bit for bit. */
static inline float row_value(const float *s, const float *scale, int64_t j)
{
    return scale ? s[j] * scale[j] : s[j];
}

/* A float t such that roughly 1.25k + 24 of s[0..len) are >= t, estimated
   from a strided sample of 128, so the collect pass keeps few entries.
   -FLT_MAX (keep everything finite) when that would be most of them. */
static float topk_threshold(const float *s, const float *scale, int64_t len,
                            int32_t k)
{
    enum { NS = 128 };
    int64_t want = (int64_t)k + k / 4 + 24;
    if (len < 4 * NS || want * 2 >= len)
        return -FLT_MAX;
    uint64_t sample[NS];
    int64_t stride = len / NS;
    for (int j = 0; j < NS; j++)
        sample[j] = bs__sim_key(row_value(s, scale, j * stride), j);
    int r = (int)(want * NS / len);
    select_u64(sample, NS, r + 1);
    uint64_t kth = sample[0]; /* largest key among the r+1 smallest */
    for (int j = 1; j <= r; j++)
        kth = sample[j] > kth ? sample[j] : kth;
    float t = bs__key_sim(kth);
    return t > -FLT_MAX ? t : -FLT_MAX;
}

/* Bit l of the result: row_value(l) >= t, for l < len <= 64. */
static uint64_t ge_mask(const float *s, const float *scale, int64_t len,
                        float t)
{
    uint64_t mk = 0;
#if defined(__SSE2__)
    if (len == 64) {
        __m128 tv = _mm_set1_ps(t);
        for (int q = 0; q < 16; q++) {
            __m128 v = _mm_loadu_ps(s + 4 * q);
            if (scale)
                v = _mm_mul_ps(v, _mm_loadu_ps(scale + 4 * q));
            mk |= (uint64_t)_mm_movemask_ps(_mm_cmpge_ps(v, tv)) << (4 * q);
        }
        return mk;
    }
#endif
    for (int64_t l = 0; l < len; l++)
        mk |= (uint64_t)(row_value(s, scale, l) >= t) << l;
    return mk;
}

/* Appends the keys of entries with row_value >= t to out; returns how many.
   A mask per 64 entries first, then only the set bits: cost is ~one compare
   per entry plus a little per survivor, with few mispredicted branches. */
static int64_t topk_collect(const float *s, const float *scale, int64_t len,
                            float t, const int32_t *ids, int32_t base,
                            uint64_t *out)
{
    int64_t c = 0;
    for (int64_t j0 = 0; j0 < len; j0 += 64) {
        const float *sc = scale ? scale + j0 : NULL;
        uint64_t mk = ge_mask(s + j0, sc, len - j0 < 64 ? len - j0 : 64, t);
        while (mk) {
            int64_t j = j0 + __builtin_ctzll(mk);
            out[c++] = bs__sim_key(row_value(s, scale, j),
                                   ids ? ids[j] : base + (int32_t)j);
            mk &= mk - 1;
        }
    }
    return c;
}

void bs__topk_select_path(int path, const float *s, int64_t len,
                          const int32_t *ids, int32_t base, int32_t k,
                          uint64_t *scratch, uint64_t *out)
{
    if (path != BS_TOPK_SCALAR && bs__cpu_has_avx512() &&
        bs__topk_select_avx512(s, len, ids, base, k, out))
        return;
    float t = topk_threshold(s, NULL, len, k);
    int64_t c = topk_collect(s, NULL, len, t, ids, base, scratch);
    if (c < k) /* the sample overestimated the threshold */
        c = topk_collect(s, NULL, len, -FLT_MAX, ids, base, scratch);
    if (c > k)
        select_u64(scratch, c, k);
    sort_u64(scratch, k);
    memcpy(out, scratch, sizeof *out * (size_t)k);
}

void bs__topk_select(const float *s, int64_t len, const int32_t *ids,
                     int32_t base, int32_t k, uint64_t *scratch, uint64_t *out)
{
    bs__topk_select_path(BS_TOPK_AUTO, s, len, ids, base, k, scratch, out);
}

void bs__topk_merge(const float *s, const float *scale, int64_t len,
                    int32_t base, int32_t k, uint64_t *best, int32_t *cnt,
                    uint64_t *scratch)
{
    float t =
        *cnt == k ? bs__key_sim(best[k - 1]) : topk_threshold(s, scale, len, k);
    int64_t c = topk_collect(s, scale, len, t, NULL, base, scratch);
    /* the estimate is only safe if this chunk alone has k entries >= t */
    if (*cnt < k && c < k)
        c = topk_collect(s, scale, len, -FLT_MAX, NULL, base, scratch);
    uint64_t *merged = scratch + len;
    if (c > k) {
        select_u64(scratch, c, k);
        c = k;
    }
    sort_u64(scratch, c);
    int64_t i = 0, j = 0, o = 0;
    while (o < k && (i < *cnt || j < c)) {
        if (j >= c || (i < *cnt && best[i] < scratch[j]))
            merged[o++] = best[i++];
        else
            merged[o++] = scratch[j++];
    }
    memcpy(best, merged, sizeof *best * (size_t)o);
    *cnt = (int32_t)o;
}
