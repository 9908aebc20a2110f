/*
 * graph_build.c — the proximity graph build, the library's hot path.
 *
 * Three modes (docs/graph.md):
 *   independent  node i: M uniform candidates of its own, M dot products;
 *   shared       block of S consecutive nodes: one (M+1)-draw, one sgemm;
 *   exact        all n-1 others: tiled sgemm + running top-K per row.
 *
 * Determinism: every random draw comes from a stream derived from (seed,
 * purpose, node or block index), and every GEMM is computed with a shape
 * that depends only on the block/chunk index (never on which rows a call
 * happens to need or on the thread count), so results are bit-identical
 * for any thread count and for bs_graph_build_rows on any sub-range.
 *
 * Memory: x is never copied.  We keep n float inverse norms and per-thread
 * scratch of O((block + M) * d + block * (M + 1)) floats.
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "kernels.h"
#include "rng.h"
#include "topk.h"

#define BS_DEFAULT_BLOCK 256
#define EXACT_ROWS 256  /* exact mode: rows per GEMM (row block) */
#define EXACT_COLS 1024 /* exact mode: columns per GEMM (column chunk) */
#define PROGRESS_STEPS 100

/* ------------------------------------------------------------------------ */
/* Embedding check and inverse norms                                         */
/* ------------------------------------------------------------------------ */

/*
 * Squared norm of a row in double: every float squares exactly and finite
 * sums never overflow.  A row is usable for cosine similarity when its
 * norm is at least FLT_MIN.  Below that the float dot products the GEMMs
 * take with it are subnormal, i.e. have lost bits in proportion, and under
 * 1/FLT_MAX its float inverse norm overflows: its similarities would be
 * wrong.  So such rows count as all-zero rows.
 */
static double row_sumsq(const float *row, int64_t d)
{
    double s = 0.0;
    for (int64_t j = 0; j < d; j++)
        s += (double)row[j] * row[j];
    return s;
}

static int norm_usable(double sumsq)
{
    return isfinite(sumsq) && sumsq >= (double)FLT_MIN * FLT_MIN;
}

/* The first non-finite value of a row, or -1. */
static int64_t first_non_finite(const float *row, int64_t d)
{
    for (int64_t j = 0; j < d; j++)
        if (!isfinite(row[j]))
            return j;
    return -1;
}

static bs_status check_row(const float *row, int64_t i, int64_t d,
                           bs_error *err)
{
    int64_t j = first_non_finite(row, d);
    if (j >= 0)
        return bs__fail(err, BS_ERR_DATA,
                        "embeddings row %lld column %lld is %s: expected "
                        "finite values",
                        (long long)i, (long long)j,
                        isnan(row[j]) ? "NaN" : "Inf");
    double s = row_sumsq(row, d);
    if (!norm_usable(s))
        return bs__fail(err, BS_ERR_DATA,
                        "embeddings row %lld is all zeros%s (norm %.3g): "
                        "cosine similarity needs a norm >= FLT_MIN = %.3g",
                        (long long)i, s > 0 ? " to float precision" : "",
                        sqrt(s), (double)FLT_MIN);
    return BS_OK;
}

bs_status bs_check_embeddings(const float *x, int64_t n, int64_t d,
                              bs_error *err)
{
    if (!x)
        return bs__fail(err, BS_ERR_INVALID_ARG, "embeddings: NULL pointer");
    if (n < 1 || d < 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "embeddings of shape (%lld, %lld): expected n >= 1 "
                        "and d >= 1",
                        (long long)n, (long long)d);
    for (int64_t i = 0; i < n; i++) {
        bs_status st = check_row(x + i * d, i, d, err);
        if (st != BS_OK)
            return st;
    }
    bs__ok(err);
    return BS_OK;
}

/*
 * inv[i] = 1 / ||x_i|| for all n rows, in parallel.  Returns 0 if some row
 * is unusable (non-finite, zero or underflowing: see row_sumsq); the caller
 * then runs the serial check for the exact message.  Usable rows have
 * norms in [FLT_MIN, sqrt(d) FLT_MAX], so the float inverse is finite and
 * non-zero.
 */
static int inverse_norms(const float *x, int64_t n, int64_t d, int nt,
                         float *inv)
{
    int ok = 1;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(&& : ok)
    for (int64_t i = 0; i < n; i++) {
        double s = row_sumsq(x + i * d, d);
        ok = ok && norm_usable(s);
        inv[i] = (float)(1.0 / sqrt(s));
    }
    return ok;
}

static void emit_row(const uint64_t *keys, int32_t k, int32_t *nbr, float *sim)
{
    for (int32_t j = 0; j < k; j++) {
        nbr[j] = bs__key_id(keys[j]);
        if (sim)
            sim[j] = bs__key_sim(keys[j]);
    }
}

/* ------------------------------------------------------------------------ */
/* Candidate draws                                                           */
/* ------------------------------------------------------------------------ */

static int hash_bits(int64_t m)
{
    int b = 4;
    while (((int64_t)1 << b) < 2 * m)
        b++;
    return b;
}

/* Inserts v into the open-addressing set (slots hold value + 1; 0 = empty).
   Returns 1 if v was new. */
static int hash_insert(uint32_t *h, int bits, uint32_t v)
{
    uint32_t mask = (1u << bits) - 1;
    uint32_t pos = (uint32_t)((v * 0x9E3779B1u) >> (32 - bits)) & mask;
    while (h[pos]) {
        if (h[pos] == v + 1)
            return 0;
        pos = (pos + 1) & mask;
    }
    h[pos] = v + 1;
    return 1;
}

/* Floyd's algorithm: m distinct values uniformly from [0, u) into out. */
static void floyd(bs_rng *r, int64_t u, int64_t m, uint32_t *hash, int32_t *out)
{
    int bits = hash_bits(m);
    memset(hash, 0, sizeof *hash << bits);
    int64_t o = 0;
    for (int64_t j = u - m; j < u; j++) {
        uint32_t t = (uint32_t)bs_rng_below(r, (uint64_t)j + 1);
        /* t taken already: j is new (every value so far is < j) */
        uint32_t v = hash_insert(hash, bits, t) ? t : (uint32_t)j;
        if (v != t)
            hash_insert(hash, bits, v);
        out[o++] = (int32_t)v;
    }
}

/* Independent mode: node i's M candidates from [0, n) \ {i}. */
static void draw_independent(uint64_t seed, int64_t n, int64_t m, int64_t i,
                             uint32_t *hash, int32_t *out)
{
    bs_rng r;
    bs_rng_derive(&r, seed, BS_STREAM_GRAPH_NODE, (uint64_t)i);
    floyd(&r, n - 1, m, hash, out);
    for (int64_t j = 0; j < m; j++)
        out[j] += out[j] >= i;
}

/* Shared mode: block b's M+1 distinct ids of [0, n) in uniform order. */
static void draw_block(uint64_t seed, int64_t n, int64_t m, int64_t b,
                       uint32_t *hash, int32_t *out)
{
    bs_rng r;
    bs_rng_derive(&r, seed, BS_STREAM_GRAPH_BLOCK, (uint64_t)b);
    floyd(&r, n, m + 1, hash, out);
    for (int64_t j = m; j > 0; j--) {
        int64_t t = (int64_t)bs_rng_below(&r, (uint64_t)j + 1);
        int32_t v = out[j];
        out[j] = out[t];
        out[t] = v;
    }
}

static int32_t block_size(const bs_graph_params *p)
{
    return p->block > 0 ? p->block : BS_DEFAULT_BLOCK;
}

bs_status bs__graph_candidates(int64_t n, const bs_graph_params *p, int64_t i,
                               int32_t *out, bs_error *err)
{
    bs_status st = bs_graph_params_check(p, n, err);
    if (st != BS_OK)
        return st;
    if (p->mode == BS_MODE_EXACT || i < 0 || i >= n)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "candidates of node %lld: need a sampled mode and "
                        "0 <= i < n = %lld",
                        (long long)i, (long long)n);
    uint32_t *hash =
        bs__malloc_array((size_t)1 << hash_bits(p->m + 1), sizeof *hash);
    int32_t *all = bs__malloc_array((size_t)p->m + 1, sizeof *all);
    if (!hash || !all) {
        free(hash);
        free(all);
        return bs__fail(err, BS_ERR_NOMEM, "candidates: out of memory");
    }
    if (p->mode == BS_MODE_INDEPENDENT) {
        draw_independent(p->seed, n, p->m, i, hash, out);
    } else {
        draw_block(p->seed, n, p->m, i / block_size(p), hash, all);
        int64_t o = 0;
        for (int64_t j = 0; j <= p->m && o < p->m; j++)
            if (all[j] != i)
                out[o++] = all[j];
    }
    free(hash);
    free(all);
    return BS_OK;
}

/* ------------------------------------------------------------------------ */
/* Kernels                                                                   */
/* ------------------------------------------------------------------------ */

/* Dot product with 16 fixed lanes summed in a fixed order: gcc vectorises
   it, and the result depends only on the clone the CPU selects. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static float
dot_f32(const float *a, const float *b, int64_t d)
{
    float acc[16] = {0};
    int64_t j = 0;
    for (; j + 16 <= d; j += 16)
        for (int l = 0; l < 16; l++)
            acc[l] += a[j + l] * b[j + l];
    for (int l = 0; j < d; j++, l++)
        acc[l] += a[j] * b[j];
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++)
            acc[l] += acc[l + w];
    return acc[0];
}

/* Issues prefetches for all cache lines of row id of x. */
static void prefetch_row(const float *x, int64_t d, int64_t id)
{
    const char *p = (const char *)(x + id * d);
    for (int64_t off = 0; off < d * (int64_t)sizeof(float); off += 64)
        __builtin_prefetch(p + off);
}

/* dst[r*d ..] = x[ids[r]] / ||x[ids[r]]|| for r < rows (ids NULL: row0+r) */
static void gather_normalised(const float *x, int64_t d, const float *inv,
                              const int32_t *ids, int64_t row0, int64_t rows,
                              float *dst)
{
    enum { AHEAD = 8 };
    for (int64_t r = 0; r < rows; r++) {
        int64_t id = ids ? ids[r] : row0 + r;
        if (ids && r + AHEAD < rows) /* random rows: hide the latency */
            prefetch_row(x, d, ids[r + AHEAD]);
        const float *src = x + id * d;
        float s = inv[id];
        for (int64_t j = 0; j < d; j++)
            dst[r * d + j] = src[j] * s;
    }
}

/* Nodes per independent-mode group: up to 256, with at most 2^20 pairs
   (about 14 MB of scratch per thread). */
static int64_t indep_group(int64_t m)
{
    int64_t g = m > 0 ? ((int64_t)1 << 20) / m : 256;
    return g < 1 ? 1 : g > 256 ? 256 : g;
}

/* log2 of the rows per ~1 MB region of x (independent mode's sweep). */
static int region_shift(int64_t d)
{
    int sh = 0;
    while (sh < 30 && ((int64_t)2 << sh) * d * 4 <= ((int64_t)1 << 20))
        sh++;
    return sh;
}

/* ------------------------------------------------------------------------ */
/* Build state                                                               */
/* ------------------------------------------------------------------------ */

typedef struct {
    float *a;      /* rows x d: the block's normalised rows (or the query) */
    float *b;      /* (M+1) x d: gathered normalised candidates (shared) */
    float *c;      /* rows x cols GEMM output / similarities */
    int32_t *cand; /* M+1 candidate ids */
    int32_t *self; /* shared: position of row r's own id in cand */
    uint32_t *hash;
    uint64_t *keys;  /* collect scratch: cols + K */
    uint64_t *best;  /* exact: rows x K running top-K; else K */
    int32_t *cnt;    /* exact: rows */
    int64_t *hist;   /* independent: region histogram */
    int32_t *order;  /* independent: G*M pair slots, sorted by region */
    uint16_t *owner; /* independent: the group member of each pair */
} scratch;

typedef struct {
    const float *x;
    int64_t n, d, m;
    int32_t k, block;
    uint64_t seed;
    const float *inv;
    int64_t lo, hi; /* rows wanted */
    int32_t *nbr;   /* (hi-lo) x k */
    float *sim;     /* (hi-lo) x k or NULL */
} build_ctx;

static void emit_if_wanted(const build_ctx *bc, int64_t i, const uint64_t *keys)
{
    if (i < bc->lo || i >= bc->hi)
        return;
    int64_t o = (i - bc->lo) * bc->k;
    emit_row(keys, bc->k, bc->nbr + o, bc->sim ? bc->sim + o : NULL);
}

/* Counting sort of the group's g*M pairs by the region of their candidate:
   pair q of the sorted order is (owner[q], candidate slot order[q]). */
static void bucket_pairs(const build_ctx *bc, int64_t g, scratch *w)
{
    int64_t m = bc->m, pairs = g * m;
    int shift = region_shift(bc->d);
    int64_t nreg = (bc->n >> shift) + 1;
    memset(w->hist, 0, sizeof *w->hist * (size_t)(nreg + 1));
    for (int64_t q = 0; q < pairs; q++)
        w->hist[(w->cand[q] >> shift) + 1]++;
    for (int64_t r = 0; r < nreg; r++)
        w->hist[r + 1] += w->hist[r];
    for (int64_t t = 0; t < g; t++)
        for (int64_t j = 0; j < m; j++) {
            int64_t pos = w->hist[w->cand[t * m + j] >> shift]++;
            w->order[pos] = (int32_t)j;
            w->owner[pos] = (uint16_t)t;
        }
}

/* c[t*M + j] = cos(node t, its candidate j), in region order. */
static void score_pairs(const build_ctx *bc, int64_t g, scratch *w)
{
    int64_t d = bc->d, m = bc->m, pairs = g * m;
    enum { AHEAD = 8 };
    for (int64_t q = 0; q < pairs; q++) {
        if (q + AHEAD < pairs)
            prefetch_row(
                bc->x, d,
                w->cand[w->owner[q + AHEAD] * m + w->order[q + AHEAD]]);
        int64_t t = w->owner[q], j = w->order[q];
        int32_t c = w->cand[t * m + j];
        w->c[t * m + j] = dot_f32(w->a + t * d, bc->x + c * d, d) * bc->inv[c];
    }
}

/*
 * Independent mode, one group of indep_group(M) consecutive nodes.  Candidate
 * rows are random, so fetching them node by node costs ~8 cache misses per
 * dot product.  Instead the group's G*M (node, candidate) pairs are
 * bucketed by the region of x the candidate lies in (regions of ~1 MB), and
 * each region is swept while it sits in L2: every candidate row then serves
 * ~G*M*rows_per_region/n pairs.  Each similarity is still the same
 * single dot product, so the order of the sweep never changes a value.
 */
static void unit_independent(const build_ctx *bc, int64_t grp, scratch *w)
{
    int64_t d = bc->d, m = bc->m, G = indep_group(m);
    int64_t a = grp * G, b = a + G < bc->n ? a + G : bc->n;
    a = a > bc->lo ? a : bc->lo; /* only the rows wanted: values are */
    b = b < bc->hi ? b : bc->hi; /* per node, so this changes none */
    int64_t g = b - a;
    for (int64_t t = 0; t < g; t++) {
        draw_independent(bc->seed, bc->n, m, a + t, w->hash, w->cand + t * m);
        gather_normalised(bc->x, d, bc->inv, NULL, a + t, 1, w->a + t * d);
    }
    bucket_pairs(bc, g, w);
    score_pairs(bc, g, w);
    for (int64_t t = 0; t < g; t++) {
        bs__topk_select(w->c + t * m, m, w->cand + t * m, 0, bc->k, w->keys,
                        w->best);
        emit_if_wanted(bc, a + t, w->best);
    }
}

/* Shared mode, one block: a (rows x d) times b^T (d x (M+1)). */
static void unit_shared(const build_ctx *bc, int64_t blk, scratch *w)
{
    int64_t d = bc->d, m1 = bc->m + 1, S = bc->block;
    int64_t r0 = blk * S, r1 = r0 + S < bc->n ? r0 + S : bc->n;
    int64_t rows = r1 - r0;
    draw_block(bc->seed, bc->n, bc->m, blk, w->hash, w->cand);
    /* row r skips its own id, else drops the last of the M+1 */
    for (int64_t r = 0; r < rows; r++)
        w->self[r] = (int32_t)bc->m;
    for (int64_t j = 0; j < m1; j++)
        if (w->cand[j] >= r0 && w->cand[j] < r1)
            w->self[w->cand[j] - r0] = (int32_t)j;
    gather_normalised(bc->x, d, bc->inv, NULL, r0, rows, w->a);
    gather_normalised(bc->x, d, bc->inv, w->cand, 0, m1, w->b);
    /* c: rows x m1 */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)m1,
                (int)d, 1.0f, w->a, (int)d, w->b, (int)d, 0.0f, w->c, (int)m1);
    for (int64_t r = 0; r < rows; r++) {
        if (r0 + r < bc->lo || r0 + r >= bc->hi)
            continue;
        float *s = w->c + r * m1;
        s[w->self[r]] = -INFINITY;
        bs__topk_select(s, m1, w->cand, 0, bc->k, w->keys, w->best);
        emit_if_wanted(bc, r0 + r, w->best);
    }
}

/* Exact mode, one row block against every column chunk. */
static void unit_exact(const build_ctx *bc, int64_t blk, scratch *w)
{
    int64_t d = bc->d, n = bc->n, k = bc->k;
    int64_t r0 = blk * EXACT_ROWS;
    int64_t r1 = r0 + EXACT_ROWS < n ? r0 + EXACT_ROWS : n;
    int64_t rows = r1 - r0;
    gather_normalised(bc->x, d, bc->inv, NULL, r0, rows, w->a);
    for (int64_t r = 0; r < rows; r++)
        w->cnt[r] = 0;
    for (int64_t c0 = 0; c0 < n; c0 += EXACT_COLS) {
        int64_t cw = c0 + EXACT_COLS < n ? EXACT_COLS : n - c0;
        /* c: rows x cw = a (rows x d) times x[c0..c0+cw)^T, raw columns */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cw,
                    (int)d, 1.0f, w->a, (int)d, bc->x + c0 * d, (int)d, 0.0f,
                    w->c, (int)cw);
        for (int64_t r = 0; r < rows; r++) {
            if (r0 + r < bc->lo || r0 + r >= bc->hi)
                continue;
            float *s = w->c + r * cw;
            if (r0 + r >= c0 && r0 + r < c0 + cw)
                s[r0 + r - c0] = -INFINITY;
            bs__topk_merge(s, bc->inv + c0, cw, (int32_t)c0, (int32_t)k,
                           w->best + r * k, &w->cnt[r], w->keys);
        }
    }
    for (int64_t r = 0; r < rows; r++)
        emit_if_wanted(bc, r0 + r, w->best + r * k);
}

/* ------------------------------------------------------------------------ */
/* Scratch                                                                   */
/* ------------------------------------------------------------------------ */

static void scratch_free(scratch *w)
{
    free(w->a);
    free(w->b);
    free(w->c);
    free(w->cand);
    free(w->self);
    free(w->hash);
    free(w->keys);
    free(w->best);
    free(w->cnt);
    free(w->hist);
    free(w->order);
    free(w->owner);
    memset(w, 0, sizeof *w);
}

/* Allocates one thread's scratch for `mode` (sizes in the struct's
   comments); 0 on failure, with everything freed. */
static int scratch_alloc(scratch *w, const build_ctx *bc, bs_graph_mode mode)
{
    int64_t d = bc->d, m = bc->m, k = bc->k;
    /* element counts; exact mode ignores m, so it must not size anything */
    int64_t na = 0, nb = 0, nc = 0, ncand = 0, nself = 0, nhash = 0;
    int64_t nkeys = 0, nbest = k, ncnt = 0, nhist = 0, npairs = 0;
    if (mode == BS_MODE_INDEPENDENT) {
        int64_t g = indep_group(m);
        na = g * d;
        nc = ncand = npairs = g * m;
        nhash = (int64_t)1 << hash_bits(m);
        nkeys = m + k;
        nhist = (bc->n >> region_shift(d)) + 2;
    } else if (mode == BS_MODE_SHARED) {
        na = (int64_t)bc->block * d;
        nb = (m + 1) * d;
        nc = (int64_t)bc->block * (m + 1);
        ncand = m + 1;
        nself = bc->block;
        nhash = (int64_t)1 << hash_bits(m + 1);
        nkeys = m + 1 + k;
    } else {
        na = (int64_t)EXACT_ROWS * d;
        nc = (int64_t)EXACT_ROWS * EXACT_COLS;
        nkeys = EXACT_COLS + k;
        nbest = (int64_t)EXACT_ROWS * k;
        ncnt = EXACT_ROWS;
    }
    memset(w, 0, sizeof *w);
    w->a = bs__malloc_array((size_t)na, sizeof *w->a);
    w->b = bs__malloc_array((size_t)nb, sizeof *w->b);
    w->c = bs__malloc_array((size_t)nc, sizeof *w->c);
    w->cand = bs__malloc_array((size_t)ncand, sizeof *w->cand);
    w->self = bs__malloc_array((size_t)nself, sizeof *w->self);
    w->hash = bs__malloc_array((size_t)nhash, sizeof *w->hash);
    w->keys = bs__malloc_array((size_t)nkeys, sizeof *w->keys);
    w->best = bs__malloc_array((size_t)nbest, sizeof *w->best);
    w->cnt = bs__malloc_array((size_t)ncnt, sizeof *w->cnt);
    w->hist = bs__malloc_array((size_t)nhist, sizeof *w->hist);
    w->order = bs__malloc_array((size_t)npairs, sizeof *w->order);
    w->owner = bs__malloc_array((size_t)npairs, sizeof *w->owner);
    if (!w->a || !w->b || !w->c || !w->cand || !w->self || !w->hash ||
        !w->keys || !w->best || !w->cnt || !w->hist || !w->order || !w->owner) {
        scratch_free(w);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Driver                                                                    */
/* ------------------------------------------------------------------------ */

typedef void (*unit_fn)(const build_ctx *, int64_t, scratch *);

/* Runs units [u0, u1) in ~PROGRESS_STEPS chunks, a parallel loop in each,
   reporting progress between chunks from the calling thread. */
static bs_status run_units(const build_ctx *bc, const bs_graph_params *p,
                           unit_fn fn, int64_t u0, int64_t u1, int nt,
                           scratch *ws, bs_error *err)
{
    int64_t total = u1 - u0;
    int64_t step = (total + PROGRESS_STEPS - 1) / PROGRESS_STEPS;
    for (int64_t c0 = u0; c0 < u1; c0 += step) {
        int64_t c1 = c0 + step < u1 ? c0 + step : u1;
#pragma omp parallel num_threads(nt)
        {
            /* nested parallelism off for this thread: OpenBLAS's OpenMP
               build then runs each sgemm on the calling thread, also when
               nt == 1 (an inactive region) */
            omp_set_num_threads(1);
            scratch *w = &ws[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
            for (int64_t u = c0; u < c1; u++)
                fn(bc, u, w);
        }
        if (p->progress && p->progress(p->progress_ctx, c1 - u0, total))
            return bs__fail(err, BS_ERR_CANCELLED,
                            "graph build cancelled by the progress callback "
                            "after %lld of %lld work units",
                            (long long)(c1 - u0), (long long)total);
    }
    return BS_OK;
}

static bs_status build_range(const build_ctx *bc, const bs_graph_params *p,
                             int nt, bs_error *err)
{
    unit_fn fn;
    int64_t per; /* rows per work unit */
    if (p->mode == BS_MODE_INDEPENDENT) {
        fn = unit_independent;
        per = indep_group(bc->m);
    } else if (p->mode == BS_MODE_SHARED) {
        fn = unit_shared;
        per = bc->block;
    } else {
        fn = unit_exact;
        per = EXACT_ROWS;
    }
    int64_t u0 = bc->lo / per, u1 = (bc->hi + per - 1) / per;
    if (u1 - u0 < nt)
        nt = (int)(u1 - u0 > 0 ? u1 - u0 : 1);
    scratch *ws = calloc((size_t)nt, sizeof *ws);
    int ok = ws != NULL;
    for (int t = 0; ok && t < nt; t++)
        ok = scratch_alloc(&ws[t], bc, p->mode);
    bs_status st = ok ? run_units(bc, p, fn, u0, u1, nt, ws, err)
                      : bs__fail(err, BS_ERR_NOMEM,
                                 "graph build: out of memory for %d threads' "
                                 "scratch",
                                 nt);
    for (int t = 0; ws && t < nt; t++)
        scratch_free(&ws[t]);
    free(ws);
    return st;
}

/* Checks everything and computes the inverse norms; *inv is malloc'ed. */
static bs_status prepare(const float *x, int64_t n, int64_t d,
                         const bs_graph_params *p, int nt, float **inv,
                         bs_error *err)
{
    *inv = NULL;
    bs_status st = bs_graph_params_check(p, n, err);
    if (st != BS_OK)
        return st;
    if (!x)
        return bs__fail(err, BS_ERR_INVALID_ARG, "embeddings: NULL pointer");
    if (d < 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "embeddings of shape (%lld, %lld): expected d >= 1",
                        (long long)n, (long long)d);
    if (d > INT32_MAX / 4 || p->m > INT32_MAX - 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "d = %lld, M = %lld: too large for the GEMM",
                        (long long)d, (long long)p->m);
    *inv = bs__malloc_array((size_t)n, sizeof **inv);
    if (!*inv)
        return bs__fail(err, BS_ERR_NOMEM,
                        "graph build: out of memory for %lld norms",
                        (long long)n);
    if (!inverse_norms(x, n, d, nt, *inv)) {
        free(*inv);
        *inv = NULL;
        return bs_check_embeddings(x, n, d, err);
    }
    return BS_OK;
}

static int thread_count(const bs_graph_params *p)
{
    return p && p->threads > 0 ? p->threads : omp_get_max_threads();
}

bs_status bs_graph_build_rows(const float *x, int64_t n, int64_t d,
                              const bs_graph_params *p, int64_t lo, int64_t hi,
                              int32_t *nbr, float *sim, bs_error *err)
{
    int nt = thread_count(p);
    float *inv;
    bs_status st = prepare(x, n, d, p, nt, &inv, err);
    if (st != BS_OK)
        return st;
    if (lo < 0 || hi < lo || hi > n || (hi > lo && !nbr)) {
        free(inv);
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "rows [%lld, %lld) of n = %lld%s: expected "
                        "0 <= lo <= hi <= n and an output buffer",
                        (long long)lo, (long long)hi, (long long)n,
                        nbr ? "" : " with nbr NULL");
    }
    build_ctx bc = {x,       n,   d,  p->m, p->k, block_size(p),
                    p->seed, inv, lo, hi,   nbr,  sim};
    st = hi > lo ? build_range(&bc, p, nt, err) : BS_OK;
    free(inv);
    if (st == BS_OK)
        bs__ok(err);
    return st;
}

bs_status bs_graph_build(const float *x, int64_t n, int64_t d,
                         const bs_graph_params *p, bs_graph **out,
                         bs_error *err)
{
    if (!out)
        return bs__fail(err, BS_ERR_INVALID_ARG, "graph build: out is NULL");
    *out = NULL;
    bs_status st = bs_graph_params_check(p, n, err);
    if (st != BS_OK)
        return st;
    bs_graph *g;
    if ((st = bs__graph_alloc(n, p->k, p, &g, err)) != BS_OK)
        return st;
    st = bs_graph_build_rows(x, n, d, p, 0, n, g->nbr, g->sim, err);
    if (st != BS_OK) {
        bs_graph_free(g);
        return st;
    }
    if (g->params.block == 0 && p->mode == BS_MODE_SHARED)
        g->params.block = BS_DEFAULT_BLOCK;
    *out = g;
    return BS_OK;
}
