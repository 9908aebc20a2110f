/*
 * rng.c — the CLI's own seeded generator (splitmix64), for synthetic data
 * and the demo's random projection.  Independent of the library's streams so
 * that library changes never change what `synth` writes.
 */
#include <math.h>

#include "cli.h"

void cli_rng_seed(cli_rng *r, uint64_t seed)
{
    r->s = seed ^ 0x9e3779b97f4a7c15ull;
}

uint64_t cli_rng_next(cli_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() below is finite. */
static double uniform01(cli_rng *r)
{
    return ((double)(cli_rng_next(r) >> 11) + 1.0) * 0x1.0p-53;
}

double cli_rng_normal(cli_rng *r)
{
    /* Box-Muller, one deviate per call: simpler than caching the pair and
       keeps the generator a single word of state. */
    double u = uniform01(r), v = uniform01(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
