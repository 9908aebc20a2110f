/*
 * bench_graph.c — speed and memory of bs_graph_build on synthetic clustered
 * data, beside OpenBLAS sgemm on the shapes shared mode uses.
 *
 *   bench_graph [--n 50000[,1000000]] [--d 128] [--m 1000] [--k 100]
 *               [--modes shared,independent,exact] [--threads 2]
 *               [--block 256] [--clusters 100] [--seed 0] [--indeg]
 *
 * Columns: mode, N, wall seconds, CPU seconds (all threads), effective GFLOPS
 * (2*N*(M+1)*d/s for shared, 2*N*M*d/s for independent, 2*N*N*d/s for exact),
 * sgemm GFLOPS measured in the same run on the same shapes (shared: N/block
 * calls of block x d times d x (M+1); exact: its 256 x 1024 tiles; one sgemm
 * per thread at a time, like the build), their ratio, and the build's peak
 * extra memory (VmHWM growth after the embeddings exist) vs the budget graph +
 * 64 MB.  --indeg adds in-degree max/std per graph.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "batchsampler.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* User + system CPU seconds of the whole process so far: on a loaded
   machine wall time inflates, CPU time much less. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* VmHWM / VmRSS of this process in MB (field "VmHWM:" or "VmRSS:"). */
static double proc_mb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0)
            kb = atof(line + strlen(field));
    if (f)
        fclose(f);
    return kb / 1024.0;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0); 0 on failure. */
static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static uint64_t xs(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double gauss(uint64_t *s)
{
    double u1 = ((xs(s) >> 11) + 1) * 0x1.0p-53, u2 = (xs(s) >> 11) * 0x1.0p-53;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

/* n x d rows around `c` random unit centres (random assignment), noise 0.5:
   similar to the clustered projections seen in training. */
static float *clustered(int64_t n, int64_t d, int c, uint64_t seed)
{
    float *cent = malloc(sizeof(float) * (size_t)(c * d));
    float *x = malloc(sizeof(float) * (size_t)(n * d));
    if (!cent || !x)
        exit(2);
    uint64_t s = seed;
    for (int64_t i = 0; i < c * d; i++)
        cent[i] = (float)(gauss(&s) / sqrt((double)d));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint64_t r =
            seed ^ (0x1234567ULL + (uint64_t)i * 0x9e3779b97f4a7c15ULL);
        int64_t k = (int64_t)(xs(&r) % (uint64_t)c);
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] =
                cent[k * d + j] + (float)(0.5 * gauss(&r) / sqrt((double)d));
    }
    free(cent);
    return x;
}

/* sgemm throughput on the build's shapes: `calls` products of
   (block x d) x (d x m1), single-threaded sgemm per OpenMP thread. */
static double sgemm_gflops(int64_t calls, int block, int64_t m1, int64_t d,
                           int nt)
{
    double t0 = now();
#pragma omp parallel num_threads(nt)
    {
        omp_set_num_threads(1);
        float *a = calloc((size_t)(block * d), sizeof(float));
        float *b = calloc((size_t)(m1 * d), sizeof(float));
        float *c = malloc(sizeof(float) * (size_t)(block * m1));
        for (int64_t i = 0; i < block * d; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (int64_t i = 0; i < m1 * d; i++)
            b[i] = (float)(i % 5) * 0.1f;
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < calls; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, block, (int)m1,
                        (int)d, 1.0f, a, (int)d, b, (int)d, 0.0f, c, (int)m1);
        free(a);
        free(b);
        free(c);
    }
    double t = now() - t0;
    return 2.0 * (double)calls * block * (double)m1 * d / t / 1e9;
}

static void indegree(const bs_graph *g, int64_t *mx, double *sd)
{
    int64_t n = bs_graph_n(g), k = bs_graph_k(g);
    int64_t *deg = calloc((size_t)n, sizeof *deg);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++)
            deg[bs_graph_neighbors(g, i)[j]]++;
    double s2 = 0;
    *mx = 0;
    for (int64_t i = 0; i < n; i++) {
        if (deg[i] > *mx)
            *mx = deg[i];
        s2 += (double)(deg[i] - k) * (double)(deg[i] - k);
    }
    *sd = sqrt(s2 / n);
    free(deg);
}

typedef struct {
    int64_t ns[8];
    int nn;
    int64_t d, m;
    int k, threads, block, clusters, indeg;
    uint64_t seed;
    char modes[64];
} opts;

static void parse(int argc, char **argv, opts *o)
{
    *o = (opts){{50000},
                1,
                128,
                1000,
                100,
                2,
                256,
                100,
                0,
                0,
                "shared,independent,exact"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--indeg")) {
            o->indeg = 1;
            continue;
        }
        if (!strcmp(a, "--n")) {
            o->nn = 0;
            for (char *s = (char *)v; *s && o->nn < 8; s += *s == ',')
                o->ns[o->nn++] = strtoll(s, &s, 10);
        } else if (!strcmp(a, "--d"))
            o->d = atoll(v);
        else if (!strcmp(a, "--m"))
            o->m = atoll(v);
        else if (!strcmp(a, "--k"))
            o->k = atoi(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--block"))
            o->block = atoi(v);
        else if (!strcmp(a, "--clusters"))
            o->clusters = atoi(v);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--modes"))
            snprintf(o->modes, sizeof o->modes, "%s", v);
        else {
            fprintf(stderr,
                    "usage: see the comment at the top of bench_graph.c\n");
            exit(2);
        }
        i++;
    }
}

static void run_one(const opts *o, const float *x, int64_t n,
                    bs_graph_mode mode)
{
    bs_graph_params p;
    bs_graph_params_default(&p);
    p.mode = mode;
    p.m = o->m;
    p.k = o->k;
    p.threads = o->threads;
    p.block = o->block;
    p.seed = o->seed;
    double graph_mb = (double)n * o->k * 8 / 1048576.0;
    int peak_ok = reset_peak();
    double rss0 = proc_mb("VmRSS:");
    bs_graph *g = NULL;
    bs_error err;
    double c0 = cpu_seconds(), t0 = now();
    bs_status st = bs_graph_build(x, n, o->d, &p, &g, &err);
    double t = now() - t0, cpu = cpu_seconds() - c0;
    if (st != BS_OK) {
        printf("%-11s %9lld  failed: %s\n", bs_graph_mode_name(mode),
               (long long)n, err.msg);
        return;
    }
    double peak = proc_mb("VmHWM:") - rss0;
    double cols = mode == BS_MODE_EXACT    ? (double)n
                  : mode == BS_MODE_SHARED ? (double)(o->m + 1)
                                           : (double)o->m;
    double gf = 2.0 * n * cols * o->d / t / 1e9;
    char ref[64] = "-", ratio[32] = "-";
    if (mode != BS_MODE_INDEPENDENT) {
        /* the build's GEMM shapes: shared S x (M+1) per block; exact
           256 x 1024 tiles (src/graph_build.c EXACT_ROWS, EXACT_COLS) */
        int rows = mode == BS_MODE_SHARED ? o->block : 256;
        int64_t cw = mode == BS_MODE_SHARED ? o->m + 1 : 1024;
        int64_t calls = (n + rows - 1) / rows;
        if (mode == BS_MODE_EXACT)
            calls *= (n + cw - 1) / cw;
        double sg = sgemm_gflops(calls, rows, cw, o->d, o->threads);
        snprintf(ref, sizeof ref, "%.1f", sg);
        snprintf(ratio, sizeof ratio, "%.0f%%", 100.0 * gf / sg);
    }
    printf("%-11s %9lld %8.3f %7.2f %8.1f %8s %6s %8.1f%s %8.1f",
           bs_graph_mode_name(mode), (long long)n, t, cpu, gf, ref, ratio, peak,
           peak_ok ? "" : "?", graph_mb + 64);
    if (o->indeg) {
        int64_t mx;
        double sd;
        indegree(g, &mx, &sd);
        printf("   indeg max %lld std %.1f", (long long)mx, sd);
    }
    printf("\n");
    fflush(stdout);
    bs_graph_free(g);
}

int main(int argc, char **argv)
{
    opts o;
    parse(argc, argv, &o);
    printf("d=%lld M=%lld K=%d threads=%d block=%d clusters=%d (%s)\n",
           (long long)o.d, (long long)o.m, o.k, o.threads, o.block, o.clusters,
           bs_version());
    printf("%-11s %9s %8s %7s %8s %8s %6s %8s %8s\n", "mode", "N", "seconds",
           "cpu_s", "GFLOPS", "sgemmGF", "ratio", "peakMB", "budgetMB");
    for (int i = 0; i < o.nn; i++) {
        int64_t n = o.ns[i];
        float *x = clustered(n, o.d, o.clusters, o.seed + 1);
        const char *names[] = {"shared", "independent", "exact"};
        bs_graph_mode modes[] = {BS_MODE_SHARED, BS_MODE_INDEPENDENT,
                                 BS_MODE_EXACT};
        for (int j = 0; j < 3; j++)
            if (strstr(o.modes, names[j]))
                run_one(&o, x, n, modes[j]);
        free(x);
    }
    return 0;
}
