/*
 * rng.h — deterministic random numbers: splitmix64 to derive seeds,
 * xoshiro256** for streams, Lemire's unbiased bounded integers.
 *
 * Every random decision in the library comes from a stream derived from
 * (user seed, purpose, index) with bs_rng_derive, so results never depend on
 * the order in which threads run.
 */
#ifndef BS_RNG_H
#define BS_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} bs_rng;

static inline uint64_t bs_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void bs_rng_seed(bs_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = bs_splitmix64(&x);
}

/* A stream for (seed, purpose, index): independent-looking for distinct
   triples.  `purpose` is one of the BS_STREAM_* tags below. */
static inline void bs_rng_derive(bs_rng *r, uint64_t seed, uint64_t purpose,
                                 uint64_t index)
{
    uint64_t x = seed ^ 0x6a09e667f3bcc909ULL;
    uint64_t h = bs_splitmix64(&x);
    x = h ^ (purpose * 0xd1b54a32d192ed03ULL);
    h = bs_splitmix64(&x);
    x = h ^ (index * 0x9e3779b97f4a7c15ULL + 0x243f6a8885a308d3ULL);
    bs_rng_seed(r, bs_splitmix64(&x));
}

enum {
    BS_STREAM_GRAPH_NODE = 1,   /* independent mode: per node */
    BS_STREAM_GRAPH_BLOCK = 2,  /* shared mode: per block */
    BS_STREAM_SAMPLER_EPOCH = 3 /* sampler: per epoch */
};

static inline uint64_t bs_rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t bs_rng_next(bs_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = bs_rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = bs_rotl64(s[3], 45);
    return result;
}

/* Uniform integer in [0, bound), bound >= 1 (Lemire 2019, unbiased). */
static inline uint64_t bs_rng_below(bs_rng *r, uint64_t bound)
{
    uint64_t x = bs_rng_next(r);
    __uint128_t m = (__uint128_t)x * bound;
    uint64_t l = (uint64_t)m;
    if (l < bound) {
        uint64_t t = -bound % bound;
        while (l < t) {
            x = bs_rng_next(r);
            m = (__uint128_t)x * bound;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double bs_rng_uniform(bs_rng *r)
{
    return (double)(bs_rng_next(r) >> 11) * 0x1.0p-53;
}

#endif /* BS_RNG_H */
