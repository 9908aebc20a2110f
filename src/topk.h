/*
 * topk.h — top-K selection of a similarity row (not installed): the sort
 * keys of (similarity, id) pairs and the selection's two paths, scalar
 * (topk.c) and AVX-512 (topk_simd.c), which give the same bytes.  Used by
 * the graph build (graph_build.c) and the tests.
 */
#ifndef BS_TOPK_H
#define BS_TOPK_H

#include <stdint.h>

/*
 * Sort key of a (similarity, id) pair: ascending keys = similarity
 * descending, then id ascending (the graph's row order).
 */
static inline uint64_t bs__sim_key(float s, int32_t id)
{
    union {
        float f;
        uint32_t u;
    } v = {s};
    /* monotone float -> uint32 map, then complemented for descending */
    uint32_t asc = (v.u & 0x80000000u) ? ~v.u : (v.u | 0x80000000u);
    return ((uint64_t)(~asc) << 32) | (uint32_t)id;
}

static inline float bs__key_sim(uint64_t key)
{
    uint32_t asc = ~(uint32_t)(key >> 32);
    union {
        uint32_t u;
        float f;
    } v;
    v.u = (asc & 0x80000000u) ? (asc & 0x7fffffffu) : ~asc;
    return v.f;
}

static inline int32_t bs__key_id(uint64_t key)
{
    return (int32_t)(uint32_t)key;
}

/*
 * Top-K of s[0..len) with ids ids[j] (or base + j when ids is NULL);
 * entries equal to -INFINITY are never chosen (used to mask the node itself).
 * At least k entries must be finite.  Writes k sorted keys to out[0..k);
 * scratch must hold len + k keys.
 */
void bs__topk_select(const float *s, int64_t len, const int32_t *ids,
                     int32_t base, int32_t k, uint64_t *scratch, uint64_t *out);

/*
 * The implementations behind bs__topk_select, which picks the AVX-512 one
 * when the CPU has it (checked on every call: cheap, and no global state)
 * and falls back to the scalar one whenever it declines.  Both give the
 * same bytes; tests force each path with bs__topk_select_path.
 */
#if defined(__GNUC__) && defined(__x86_64__)
#define BS_HAVE_AVX512_TOPK 1
#else
#define BS_HAVE_AVX512_TOPK 0
#endif

enum { BS_TOPK_AUTO = 0, BS_TOPK_SCALAR = 1, BS_TOPK_AVX512 = 2 };

/* 1 if this build has the AVX-512 path and the CPU runs it (F, BW, VL, DQ). */
int bs__cpu_has_avx512(void);

/* bs__topk_select on the given path (BS_TOPK_AVX512 on a CPU without it,
   or when the SIMD path declines, runs the scalar one). */
void bs__topk_select_path(int path, const float *s, int64_t len,
                          const int32_t *ids, int32_t base, int32_t k,
                          uint64_t *scratch, uint64_t *out);

/* topk_simd.c: the AVX-512 path.  Returns 0, with out untouched, when it
   declines (k > 240, no threshold with k..256 survivors found quickly,
   fewer than k finite entries); call only if bs__cpu_has_avx512(). */
int bs__topk_select_avx512(const float *s, int64_t len, const int32_t *ids,
                           int32_t base, int32_t k, uint64_t *out);

/*
 * Merges row values s[j] * scale[j] (ids base + j) into the running sorted
 * top-K best[0..*cnt) (exact mode).  scratch holds len + k keys.
 */
void bs__topk_merge(const float *s, const float *scale, int64_t len,
                    int32_t base, int32_t k, uint64_t *best, int32_t *cnt,
                    uint64_t *scratch);

#endif
