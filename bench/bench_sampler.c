/*
 * bench_sampler.c — time one epoch of the uniform, kNN and RWR samplers on
 * a synthetic random graph (every node gets K uniformly random neighbours;
 * no embeddings needed), and report walk steps/s and batches per epoch
 * against N/B (the coverage tail makes graph-sampler epochs longer).
 *
 *   bench_sampler [N [K [B [alpha]]]]     defaults 1000000 100 256 0.2
 *
 * "wall s" includes time the machine gave to other processes; "cpu s" is
 * this process's CPU time (the sampler is single-threaded).
 * Always also runs N = 50,000 (the size at which the paper's quadratic
 * reference sampler takes ~26 s per epoch).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "batchsampler.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* K random neighbours per node, never the node itself (repeats within a
   row are possible but rare and harmless here). */
static bs_graph *random_graph(int64_t n, int32_t k)
{
    int32_t *nbr = malloc(sizeof *nbr * (size_t)n * (size_t)k);
    if (!nbr)
        return NULL;
    uint64_t x = 12345;
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < k; j++) {
            int64_t v = (int64_t)((mix(&x) >> 32) * (uint64_t)(n - 1) >> 32);
            nbr[i * k + j] = (int32_t)(v >= i ? v + 1 : v);
        }
    bs_graph *g = NULL;
    bs_error e;
    if (bs_graph_from_arrays(n, k, nbr, NULL, NULL, &g, &e) != BS_OK)
        fprintf(stderr, "graph: %s\n", e.msg);
    free(nbr);
    return g;
}

static int run(bs_sampler_kind kind, int64_t n, const bs_graph *g, int64_t b,
               double alpha, double tau)
{
    bs_sampler_params p;
    bs_sampler_params_default(&p);
    p.kind = kind;
    p.batch_size = b;
    p.alpha = alpha;
    p.tau = tau;
    bs_sampler *s = NULL;
    bs_error e;
    /* timed from creation: uniform draws its permutation there */
    double t0 = now();
    clock_t c0 = clock();
    if (bs_sampler_create(&p, n, g, &s, &e) != BS_OK) {
        fprintf(stderr, "create: %s\n", e.msg);
        return 1;
    }
    int64_t *out = malloc(sizeof *out * (size_t)b), count, nb = 0;
    while (bs_sampler_next(s, out, &count, &e) == BS_OK && count > 0)
        nb++;
    double dt = now() - t0;
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    double ideal = (double)n / (double)b;
    int64_t steps = bs_sampler_steps(s);
    char name[32];
    snprintf(name, sizeof name, "%s%s", bs_sampler_kind_name(kind),
             tau > 0 ? " tau" : "");
    printf("%-9s %9lld %8lld %8.0f %6.2f %11lld %8.3f %8.3f %10.1f\n", name,
           (long long)n, (long long)nb, ideal, (double)nb / ideal,
           (long long)steps, dt, cpu, dt > 0 ? (double)steps / dt / 1e6 : 0.0);
    free(out);
    bs_sampler_free(s);
    return 0;
}

static int bench_size(int64_t n, int32_t k, int64_t b, double alpha)
{
    double t0 = now();
    bs_graph *g = random_graph(n, k);
    if (!g)
        return 1;
    fprintf(stderr, "N = %lld, K = %d: random graph in %.2f s\n", (long long)n,
            (int)k, now() - t0);
    int rc = run(BS_SAMPLER_UNIFORM, n, NULL, b, alpha, 0) ||
             run(BS_SAMPLER_KNN, n, g, b, alpha, 0) ||
             run(BS_SAMPLER_RWR, n, g, b, alpha, 0) ||
             run(BS_SAMPLER_RWR, n, g, b, alpha, 0.1);
    bs_graph_free(g);
    return rc;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 1000000;
    int32_t k = argc > 2 ? atoi(argv[2]) : 100;
    int64_t b = argc > 3 ? atoll(argv[3]) : 256;
    double alpha = argc > 4 ? atof(argv[4]) : 0.2;
    printf("one epoch each; K = %d, B = %lld, alpha = %g "
           "(rwr tau: tau = 0.1 softmax transitions)\n",
           (int)k, (long long)b, alpha);
    printf("%-9s %9s %8s %8s %6s %11s %8s %8s %10s\n", "sampler", "N",
           "batches", "N/B", "ratio", "steps", "wall s", "cpu s", "Msteps/s");
    if (bench_size(n, k, b, alpha))
        return 1;
    if (n != 50000 && bench_size(50000, k, b, alpha))
        return 1;
    return 0;
}
