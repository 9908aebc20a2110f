/*
 * topk_simd.c — AVX-512 top-K of one similarity row (shared and independent
 * modes), compiled for AVX-512 with a target attribute and chosen at run
 * time (bs__topk_select in topk.c), so the default build stays
 * portable.  The result is the same as the scalar path's, bit for bit: both
 * return the k smallest keys bs__sim_key(s[j], id_j) of the entries with
 * s[j] >= -FLT_MAX, sorted; keys are distinct, so that order is total.
 *
 * Steps, for a row of len values:
 *   1. a threshold t with k <= #{s[j] >= t} <= 128 (or 256), found by
 *      counting passes (16 compares per instruction): a first guess from
 *      the row's mean and deviation, then a Newton step and secant steps
 *      kept inside the brackets (~1.9 passes a row on clustered data);
 *   2. the survivors' values and ids, compressed into two short arrays;
 *   3. their u64 keys in 16 or 32 zmm registers, padded with ~0, sorted by
 *      a bitonic network (u64 min/max), and the first k stored.
 * Any t works as long as the count is >= k (every entry below t is worse
 * than every survivor), so the search only affects speed; when it fails
 * (heavy ties, k > 240, odd data) the function declines and the caller
 * runs the scalar path.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "topk.h"

#if BS_HAVE_AVX512_TOPK

#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define INL static inline __attribute__((always_inline))
/* the sorting network must be fully unrolled to live in registers; clang
   unrolls these constant-trip loops by itself (and warns on the pragma) */
#if defined(__clang__)
#define UNROLL8
#define UNROLL32
#else
#define UNROLL8 _Pragma("GCC unroll 8")
#define UNROLL32 _Pragma("GCC unroll 32")
#endif

int bs__cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}

/* ------------------------------------------------------------ sorting */

/* Compare-exchange of two vectors, lane by lane. */
#define CX(a, b)                                                               \
    do {                                                                       \
        __m512i mn_ = _mm512_min_epu64(a, b);                                  \
        b = _mm512_max_epu64(a, b);                                            \
        a = mn_;                                                               \
    } while (0)

/* Within each vector: lane l against lane l ^ s, the higher lane keeping
   the max (s = 4, 2, 1 through immediate shuffles). */
T512 INL __m512i half_clean4(__m512i v)
{
    __m512i p = _mm512_shuffle_i64x2(v, v, 0x4E);
    return _mm512_mask_max_epu64(_mm512_min_epu64(v, p), 0xF0, v, p);
}
T512 INL __m512i half_clean2(__m512i v)
{
    __m512i p = _mm512_permutex_epi64(v, 0x4E);
    return _mm512_mask_max_epu64(_mm512_min_epu64(v, p), 0xCC, v, p);
}
T512 INL __m512i half_clean1(__m512i v)
{
    __m512i p = _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)0x4E);
    return _mm512_mask_max_epu64(_mm512_min_epu64(v, p), 0xAA, v, p);
}

T512 INL __m512i rev8(__m512i v)
{
    return _mm512_permutexvar_epi64(_mm512_set_epi64(0, 1, 2, 3, 4, 5, 6, 7),
                                    v);
}

/* Sorts the 8 columns of r[0..8) (an 8-input network of 19 exchanges),
   then transposes so that each r[i] is an ascending run of 8. */
T512 INL void sort_cols8(__m512i *r)
{
    CX(r[0], r[2]);
    CX(r[1], r[3]);
    CX(r[4], r[6]);
    CX(r[5], r[7]);
    CX(r[0], r[4]);
    CX(r[1], r[5]);
    CX(r[2], r[6]);
    CX(r[3], r[7]);
    CX(r[0], r[1]);
    CX(r[2], r[3]);
    CX(r[4], r[5]);
    CX(r[6], r[7]);
    CX(r[2], r[4]);
    CX(r[3], r[5]);
    CX(r[1], r[4]);
    CX(r[3], r[6]);
    CX(r[1], r[2]);
    CX(r[3], r[4]);
    CX(r[5], r[6]);
    __m512i t[8], u[8];
    UNROLL8
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi64(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi64(r[i], r[i + 1]);
    }
    const __m512i lo2 = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i hi2 = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    UNROLL8
    for (int h = 0; h < 8; h += 4) {
        u[h + 0] = _mm512_permutex2var_epi64(t[h + 0], lo2, t[h + 2]);
        u[h + 1] = _mm512_permutex2var_epi64(t[h + 1], lo2, t[h + 3]);
        u[h + 2] = _mm512_permutex2var_epi64(t[h + 0], hi2, t[h + 2]);
        u[h + 3] = _mm512_permutex2var_epi64(t[h + 1], hi2, t[h + 3]);
    }
    const __m512i lo4 = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0);
    const __m512i hi4 = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
    UNROLL8
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_permutex2var_epi64(u[c], lo4, u[c + 4]);
        r[c + 4] = _mm512_permutex2var_epi64(u[c], hi4, u[c + 4]);
    }
}

/* Sorts the 8*V keys of r[0..V) ascending (V = 8, 16 or 32): column
   sorts + transposes give runs of 8, then bitonic merges double them. */
T512 INL void sort_regs(__m512i *r, int V)
{
    UNROLL32
    for (int g = 0; g < V; g += 8)
        sort_cols8(r + g);
    UNROLL32
    for (int R = 1; R < V; R *= 2) { /* runs of R vectors -> 2R */
        UNROLL32
        for (int a = 0; a < V; a += 2 * R) {
            __m512i *A = r + a, *B = r + a + R;
            UNROLL32
            for (int q = 0; q < R; q++) { /* A[q] vs reversed B[R-1-q] */
                __m512i b = rev8(B[R - 1 - q]);
                __m512i mn = _mm512_min_epu64(A[q], b);
                B[R - 1 - q] = rev8(_mm512_max_epu64(A[q], b));
                A[q] = mn;
            }
        }
        UNROLL32
        for (int h = R / 2; h >= 1; h /= 2) /* cross-vector strides */
            UNROLL32
        for (int a = 0; a < V; a += 2 * h)
            UNROLL32
        for (int q = a; q < a + h; q++)
            CX(r[q], r[q + h]);
        UNROLL32
        for (int i = 0; i < V; i++)
            r[i] = half_clean1(half_clean2(half_clean4(r[i])));
    }
}

/* ------------------------------------------------------------ counting */

/* Mask of the entries of s[j0 .. j0+16) that are < len. */
T512 INL __mmask16 tail_mask(int64_t j0, int64_t len)
{
    int64_t left = len - j0;
    return left >= 16 ? (__mmask16)0xFFFF
                      : (__mmask16)((1u << (unsigned)left) - 1u);
}

/* #{j < len : s[j] >= t} */
T512 static int64_t count_ge(const float *s, int64_t len, float t)
{
    __m512 tv = _mm512_set1_ps(t);
    int64_t c0 = 0, c1 = 0, j = 0;
    for (; j + 32 <= len; j += 32) {
        c0 += __builtin_popcount(
            _mm512_cmp_ps_mask(_mm512_loadu_ps(s + j), tv, _CMP_GE_OQ));
        c1 += __builtin_popcount(
            _mm512_cmp_ps_mask(_mm512_loadu_ps(s + j + 16), tv, _CMP_GE_OQ));
    }
    for (; j < len; j += 16) {
        __mmask16 m = tail_mask(j, len);
        c0 += __builtin_popcount(_mm512_mask_cmp_ps_mask(
            m, _mm512_maskz_loadu_ps(m, s + j), tv, _CMP_GE_OQ));
    }
    return c0 + c1;
}

/* Inverse of the standard normal's upper tail: z with P(Z > z) = p, for
   0 < p < 0.5 (Abramowitz & Stegun 26.2.23, |error| < 4.5e-4). */
static double upper_z(double p)
{
    double t = sqrt(-2.0 * log(p));
    return t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                   (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
}

/* A threshold with lo <= count_ge(s, len, t) <= hi, or 0 if none found
   quickly (then *t is unusable).  *c gets the count.  First guess: the
   normal quantile from the mean and deviation of (a quarter of) the row;
   then a Newton step with the normal density as slope, then secant steps
   kept inside the brackets. */
T512 static int find_threshold(const float *s, int64_t len, int64_t lo,
                               int64_t hi, float *t_out, int64_t *c_out)
{
    int64_t nf = len; /* entries, of which a few may be -inf */
    if (len <= 2 * hi) {
        nf = count_ge(s, len, -FLT_MAX); /* the finite ones */
        if (nf < lo)
            return 0;
        if (nf <= hi) { /* everything finite survives */
            *t_out = -FLT_MAX;
            *c_out = nf;
            return 1;
        }
    }
    /* mean and deviation of the finite entries of every 4th vector (all
       of them for short rows) */
    int64_t step = len >= 512 ? 64 : 16;
    __m512 sum = _mm512_setzero_ps(), sq = _mm512_setzero_ps();
    __m512 fmin = _mm512_set1_ps(-FLT_MAX);
    int64_t ns = 0;
    for (int64_t j = 0; j < len; j += step) {
        __mmask16 m = tail_mask(j, len);
        __m512 v = _mm512_maskz_loadu_ps(m, s + j);
        m = _mm512_mask_cmp_ps_mask(m, v, fmin, _CMP_GE_OQ);
        sum = _mm512_mask_add_ps(sum, m, sum, v);
        sq = _mm512_mask3_fmadd_ps(v, v, sq, m);
        ns += __builtin_popcount(m);
    }
    if (ns < 2)
        return 0;
    double mean = _mm512_reduce_add_ps(sum) / (double)ns;
    double var = _mm512_reduce_add_ps(sq) / (double)ns - mean * mean;
    double sd = var > 0 ? sqrt(var) : 0;
    if (!(sd > 0) || !isfinite(mean))
        return 0;
    double target = 0.5 * (double)(lo + hi);
    /* brackets: count(tl) > hi, count(th) < lo (infinite: not yet seen) */
    double tl = -INFINITY, th = INFINITY;
    /* cosine rows have lighter upper tails than a normal: aiming the
       first guess at 1.5x the target count hits the window most often
       (measured on clustered data: 1.9 counting passes a row, not 2.4) */
    double z = upper_z(
        (1.5 * target < 0.45 * (double)nf ? 1.5 * target : 0.45 * (double)nf) /
        (double)nf);
    double t = mean + sd * z, tp = 0;
    int64_t cp = 0;
    for (int it = 0; it < 10; it++) {
        float tf = (float)t;
        if (!isfinite(tf))
            return 0;
        t = tf;
        int64_t c = count_ge(s, len, tf);
        if (c >= lo && c <= hi) {
            *t_out = tf;
            *c_out = c;
            return 1;
        }
        if (c > hi)
            tl = t;
        else
            th = t;
        double nt;
        if (it == 0) { /* Newton, slope from the normal density */
            double zz = (t - mean) / sd;
            double slope =
                (double)nf * 0.3989422804014327 * exp(-0.5 * zz * zz) / sd;
            double dt = ((double)c - target) / slope;
            nt = t + (dt > sd ? sd : dt < -sd ? -sd : dt);
        } else if (c != cp) { /* secant */
            nt = t + (t - tp) * ((double)c - target) / (double)(c - cp);
        } else {
            nt = c > hi ? t + sd : t - sd;
        }
        if (!(nt > tl && nt < th)) { /* outside the brackets */
            if (isinf(tl))
                nt = th - sd;
            else if (isinf(th))
                nt = tl + sd;
            else
                nt = 0.5 * (tl + th);
        }
        if ((float)nt == (float)tl || (float)nt == (float)th)
            return 0; /* no float strictly between: ties */
        tp = t;
        cp = c;
        t = nt;
    }
    return 0;
}

/* ------------------------------------------------------------ top-K */

/* Keys of survivors v[q], id[q] for q < c, padded with ~0, into r[0..V). */
T512 INL void load_keys(const float *v, const int32_t *id, int64_t c,
                        __m512i *r, int V)
{
    const __m256i sgn = _mm256_set1_epi32(0x7fffffff);
    for (int i = 0; i < V; i++) {
        int64_t left = c - 8 * (int64_t)i;
        __mmask8 m = left >= 8  ? (__mmask8)0xFF
                     : left > 0 ? (__mmask8)((1u << (unsigned)left) - 1u)
                                : (__mmask8)0;
        __m256i u = _mm256_castps_si256(_mm256_maskz_loadu_ps(m, v + 8 * i));
        /* bs__sim_key's high word: u for negative values, u ^ 0x7fffffff
           for positive ones */
        __m256i flip = _mm256_andnot_si256(_mm256_srai_epi32(u, 31), sgn);
        __m256i hi = _mm256_xor_si256(u, flip);
        __m256i lo = _mm256_maskz_loadu_epi32(m, id + 8 * i);
        __m512i k =
            _mm512_or_si512(_mm512_slli_epi64(_mm512_cvtepu32_epi64(hi), 32),
                            _mm512_cvtepu32_epi64(lo));
        r[i] = _mm512_mask_mov_epi64(_mm512_set1_epi64(-1), m, k);
    }
}

T512 static void sort_store(const float *v, const int32_t *id, int64_t c,
                            int32_t k, uint64_t *out)
{
    __m512i r[32];
    if (c <= 64) {
        load_keys(v, id, c, r, 8);
        sort_regs(r, 8);
    } else if (c <= 128) {
        load_keys(v, id, c, r, 16);
        sort_regs(r, 16);
    } else {
        load_keys(v, id, c, r, 32);
        sort_regs(r, 32);
    }
    int i = 0;
    for (; 8 * i + 8 <= k; i++)
        _mm512_storeu_si512((void *)(out + 8 * i), r[i]);
    if (8 * i < k)
        _mm512_mask_storeu_epi64(
            out + 8 * i, (__mmask8)((1u << (unsigned)(k - 8 * i)) - 1u), r[i]);
}

T512 int bs__topk_select_avx512(const float *s, int64_t len, const int32_t *ids,
                                int32_t base, int32_t k, uint64_t *out)
{
    enum { CAP = 256 };
    if (k < 1 || k > CAP - 16)
        return 0;
    int64_t hi = k <= 112 ? 128 : CAP;
    float t;
    int64_t c;
    if (!find_threshold(s, len, k, hi, &t, &c) &&
        !find_threshold(s, len, k, CAP, &t, &c))
        return 0;
    float sv[CAP + 16];
    int32_t iv[CAP + 16];
    __m512 tv = _mm512_set1_ps(t);
    __m512i iota =
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    int64_t o = 0, j = 0;
    for (; j + 16 <= len && o <= CAP; j += 16) {
        __m512 x = _mm512_loadu_ps(s + j);
        __mmask16 m = _mm512_cmp_ps_mask(x, tv, _CMP_GE_OQ);
        __m512i idv =
            ids ? _mm512_maskz_loadu_epi32(m, ids + j)
                : _mm512_add_epi32(_mm512_set1_epi32(base + (int32_t)j), iota);
        _mm512_storeu_ps(sv + o, _mm512_maskz_compress_ps(m, x));
        _mm512_storeu_si512((void *)(iv + o),
                            _mm512_maskz_compress_epi32(m, idv));
        o += __builtin_popcount(m);
    }
    if (j < len && o <= CAP) { /* the last len % 16 entries */
        __mmask16 m = tail_mask(j, len);
        __m512 x = _mm512_maskz_loadu_ps(m, s + j);
        m = _mm512_mask_cmp_ps_mask(m, x, tv, _CMP_GE_OQ);
        __m512i idv =
            ids ? _mm512_maskz_loadu_epi32(m, ids + j)
                : _mm512_add_epi32(_mm512_set1_epi32(base + (int32_t)j), iota);
        _mm512_storeu_ps(sv + o, _mm512_maskz_compress_ps(m, x));
        _mm512_storeu_si512((void *)(iv + o),
                            _mm512_maskz_compress_epi32(m, idv));
        o += __builtin_popcount(m);
    }
    /* o > CAP cannot happen (the same compares as count_ge) but would
       stop the loop before a store could overrun sv or iv */
    if (o != c)
        return 0;
    sort_store(sv, iv, c, k, out);
    return 1;
}

#else /* no AVX-512 path in this build */

int bs__cpu_has_avx512(void)
{
    return 0;
}

int bs__topk_select_avx512(const float *s, int64_t len, const int32_t *ids,
                           int32_t base, int32_t k, uint64_t *out)
{
    (void)s;
    (void)len;
    (void)ids;
    (void)base;
    (void)k;
    (void)out;
    return 0;
}

#endif
