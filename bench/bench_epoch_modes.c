/*
 * bench_epoch_modes.c — what the epoch modes do to coverage and to the
 * batches, and what alpha does to the walk's time (issue 8).
 *
 *   bench_epoch_modes coverage X.npy y.npy [epochs [B [M [K [seed]]]]]
 *       defaults 10 256 1000 100 1.  Builds the proximity graph (shared
 *       mode, M, K) and the exact K-NN graph of X, then runs `epochs`
 *       epochs of N/B batches with uniform, knn (exact graph), rwr
 *       (alpha 0.2, constant) in the fixed, carry and exact epoch modes,
 *       and rwr fixed with the reference alpha schedule.  Per sampler:
 *       appearances per instance over all epochs (min, 1%, median, 99%,
 *       max), instances never seen and seen at most twice, the batches'
 *       mean in-batch cosine (hardness), mean hardest-negative cosine,
 *       false-negative rate (same-label pairs) and the sampler's seconds.
 *
 *   bench_epoch_modes alpha X.npy [B [M]]
 *       defaults 256 1000.  Epochs (batches_per_epoch = 0: until every
 *       instance has appeared) of rwr at alpha 0.2 ... 0.999 on the
 *       proximity graphs of X with K = 10 and K = 100 (10 epochs each), and
 *       on a hub graph (N = 200,000, every node pointing at the same 10
 *       hubs; 1 epoch), in the fixed and exact epoch modes; per epoch:
 *       batches, walk moves and seconds (best of 3 runs), and moves and
 *       seconds against alpha = 0.2 measured in the same run.
 *
 * Seconds are wall seconds of the sampler alone (graph building and the
 * statistics are not timed); the sampler is single-threaded.  The CPU model
 * (/proc/cpuinfo) is printed first.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batchsampler.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_cpu(void)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            printf("cpu: %s", v ? v + 2 : line);
            break;
        }
    if (f)
        fclose(f);
}

static int fail(const char *what, const bs_error *e)
{
    fprintf(stderr, "bench_epoch_modes: %s: %s\n", what, e->msg);
    return 1;
}

static int64_t arg_i64(int argc, char **argv, int i, int64_t def)
{
    return argc > i ? strtoll(argv[i], NULL, 10) : def;
}

/* ------------------------------------------------------------ coverage */

typedef struct {
    const char *name;
    bs_sampler_kind kind;
    bs_epoch_mode mode;
    bs_alpha_schedule schedule;
    int exact_graph;
} row_spec;

typedef struct {
    const float *x;
    const int64_t *y;
    int64_t n, d, b, epochs;
    uint64_t seed;
    const bs_graph *prox, *exact;
} cov_ctx;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Runs one sampler for c->epochs epochs of N/B batches into ids. */
static int sample_all(const cov_ctx *c, const row_spec *r, int64_t *ids,
                      int64_t *nb, double *secs)
{
    bs_sampler_params p;
    bs_sampler_params_default(&p);
    p.kind = r->kind;
    p.batch_size = c->b;
    p.alpha = 0.2;
    p.schedule = r->schedule;
    p.epoch_mode = r->mode;
    p.batches_per_epoch = c->n / c->b;
    p.seed = c->seed;
    const bs_graph *g = r->kind == BS_SAMPLER_UNIFORM ? NULL
                        : r->exact_graph              ? c->exact
                                                      : c->prox;
    bs_sampler *s = NULL;
    bs_error e;
    double t0 = now();
    if (bs_sampler_create(&p, c->n, g, &s, &e) != BS_OK)
        return fail(r->name, &e);
    int64_t count, done = 0;
    *nb = 0;
    while (done < c->epochs) {
        if (bs_sampler_next(s, ids + *nb * c->b, &count, &e) != BS_OK) {
            bs_sampler_free(s);
            return fail(r->name, &e);
        }
        if (count == 0)
            done++;
        else
            (*nb)++;
    }
    *secs = now() - t0;
    bs_sampler_free(s);
    return 0;
}

static int64_t quantile(const int64_t *sorted, int64_t n, double q)
{
    return sorted[(int64_t)(q * (double)(n - 1))];
}

static int coverage_row(const cov_ctx *c, const row_spec *r, int64_t *ids,
                        int64_t *cnt)
{
    int64_t nb;
    double secs;
    bs_run_stats rs;
    bs_error e;
    if (sample_all(c, r, ids, &nb, &secs))
        return 1;
    if (bs_run_stats_compute(c->x, c->n, c->d, ids, nb, c->b, c->y, 0, &rs,
                             &e) != BS_OK)
        return fail(r->name, &e);
    memset(cnt, 0, (size_t)c->n * sizeof *cnt);
    for (int64_t i = 0; i < nb * c->b; i++)
        cnt[ids[i]]++;
    int64_t never = 0, le2 = 0;
    for (int64_t i = 0; i < c->n; i++) {
        never += cnt[i] == 0;
        le2 += cnt[i] <= 2;
    }
    qsort(cnt, (size_t)c->n, sizeof *cnt, cmp_i64);
    printf("%-16s %6lld %4lld %4lld %4lld %4lld %4lld %6lld %6.2f%% %8.4f "
           "%8.4f %7.4f %7.3f\n",
           r->name, (long long)nb, (long long)cnt[0],
           (long long)quantile(cnt, c->n, 0.01),
           (long long)quantile(cnt, c->n, 0.5),
           (long long)quantile(cnt, c->n, 0.99), (long long)cnt[c->n - 1],
           (long long)never, 100.0 * (double)le2 / (double)c->n, rs.mean_sim,
           rs.mean_max_sim, rs.fn_rate, secs);
    fflush(stdout);
    return 0;
}

static int build(const float *x, int64_t n, int64_t d, bs_graph_mode mode,
                 int64_t m, int32_t k, uint64_t seed, bs_graph **g)
{
    bs_graph_params gp;
    bs_error e;
    bs_graph_params_default(&gp);
    gp.mode = mode;
    gp.m = m;
    gp.k = k;
    gp.seed = seed;
    double t0 = now();
    if (bs_graph_build(x, n, d, &gp, g, &e) != BS_OK)
        return fail("graph", &e);
    double secs = now() - t0;
    /* instances no walk or BFS can reach: only a start covers them */
    char *hit = calloc((size_t)n, 1);
    int64_t orphans = 0;
    for (int64_t i = 0; hit && i < n; i++)
        for (int32_t j = 0; j < k; j++)
            hit[bs_graph_neighbors(*g, i)[j]] = 1;
    for (int64_t i = 0; hit && i < n; i++)
        orphans += !hit[i];
    free(hit);
    printf("graph %s: N = %lld, K = %d", bs_graph_mode_name(mode), (long long)n,
           k);
    if (mode != BS_MODE_EXACT)
        printf(", M = %lld", (long long)m);
    printf(", seed %llu: %.2f s; %lld nodes of in-degree 0\n",
           (unsigned long long)seed, secs, (long long)orphans);
    return 0;
}

static int cmd_coverage(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_epoch_modes coverage X.npy y.npy "
                        "[epochs [B [M [K [seed]]]]]\n");
        return 2;
    }
    cov_ctx c;
    float *x = NULL;
    int64_t *y = NULL, ny = 0;
    bs_error e;
    memset(&c, 0, sizeof c);
    if (bs_npy_load_matrix(argv[2], &x, &c.n, &c.d, &e) != BS_OK)
        return fail(argv[2], &e);
    if (bs_npy_load_labels(argv[3], &y, &ny, &e) != BS_OK)
        return fail(argv[3], &e);
    if (ny != c.n) {
        fprintf(stderr, "bench_epoch_modes: %lld labels for %lld rows\n",
                (long long)ny, (long long)c.n);
        return 1;
    }
    c.x = x;
    c.y = y;
    c.epochs = arg_i64(argc, argv, 4, 10);
    c.b = arg_i64(argc, argv, 5, 256);
    int64_t m = arg_i64(argc, argv, 6, 1000);
    int32_t k = (int32_t)arg_i64(argc, argv, 7, 100);
    c.seed = (uint64_t)arg_i64(argc, argv, 8, 1);
    print_cpu();
    printf("data: %s (N = %lld, d = %lld), labels %s; %lld epochs of N/B = "
           "%lld batches, B = %lld, seed %llu\n",
           argv[2], (long long)c.n, (long long)c.d, argv[3],
           (long long)c.epochs, (long long)(c.n / c.b), (long long)c.b,
           (unsigned long long)c.seed);
    bs_graph *prox = NULL, *exact = NULL;
    if (build(x, c.n, c.d, BS_MODE_SHARED, m, k, c.seed, &prox) ||
        build(x, c.n, c.d, BS_MODE_EXACT, m, k, c.seed, &exact))
        return 1;
    c.prox = prox;
    c.exact = exact;
    static const row_spec rows[] = {
        {"uniform", BS_SAMPLER_UNIFORM, BS_EPOCH_FIXED, BS_ALPHA_CONSTANT, 0},
        {"knn (exact)", BS_SAMPLER_KNN, BS_EPOCH_FIXED, BS_ALPHA_CONSTANT, 1},
        {"rwr fixed", BS_SAMPLER_RWR, BS_EPOCH_FIXED, BS_ALPHA_CONSTANT, 0},
        {"rwr carry", BS_SAMPLER_RWR, BS_EPOCH_CARRY, BS_ALPHA_CONSTANT, 0},
        {"rwr exact", BS_SAMPLER_RWR, BS_EPOCH_EXACT, BS_ALPHA_CONSTANT, 0},
        {"rwr fixed ref.", BS_SAMPLER_RWR, BS_EPOCH_FIXED, BS_ALPHA_REFERENCE,
         0},
    };
    int64_t *ids = malloc((size_t)(c.epochs * (c.n / c.b) * c.b) * sizeof *ids);
    int64_t *cnt = malloc((size_t)c.n * sizeof *cnt);
    if (!ids || !cnt) {
        fprintf(stderr, "bench_epoch_modes: out of memory\n");
        return 1;
    }
    printf("rwr: alpha 0.2 (constant; ref.: the reference schedule from "
           "0.2), tau 0\n");
    printf("%-16s %6s %4s %4s %4s %4s %4s %6s %7s %8s %8s %7s %7s\n", "sampler",
           "batch", "min", "1%", "med", "99%", "max", "never", "<=2",
           "mean_cos", "hardest", "fn_rate", "s");
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof rows / sizeof rows[0]; i++)
        rc = coverage_row(&c, &rows[i], ids, cnt);
    free(ids);
    free(cnt);
    bs_graph_free(prox);
    bs_graph_free(exact);
    free(x);
    free(y);
    return rc;
}

/* ------------------------------------------------------------ alpha */

/* `epochs` epochs until every instance has appeared; per epoch: the best
   wall time of 3 runs, batches and walk moves. */
static int time_epoch(const bs_graph *g, int64_t n, int64_t b, double alpha,
                      bs_epoch_mode mode, int64_t epochs, double *secs,
                      double *nb, double *moves)
{
    bs_sampler_params p;
    bs_sampler_params_default(&p);
    p.batch_size = b;
    p.alpha = alpha;
    p.epoch_mode = mode;
    p.seed = 1;
    int64_t *out = malloc((size_t)b * sizeof *out), count;
    bs_error e;
    *secs = 1e300;
    for (int rep = 0; rep < 3; rep++) {
        bs_sampler *s = NULL;
        double t0 = now();
        if (bs_sampler_create(&p, n, g, &s, &e) != BS_OK) {
            free(out);
            return fail("sampler", &e);
        }
        int64_t batches = 0, done = 0;
        while (done < epochs) {
            if (bs_sampler_next(s, out, &count, &e) != BS_OK) {
                bs_sampler_free(s);
                free(out);
                return fail("sampler", &e);
            }
            if (count > 0)
                batches++;
            else
                done++;
        }
        double dt = (now() - t0) / (double)epochs;
        *secs = dt < *secs ? dt : *secs;
        *nb = (double)batches / (double)epochs;
        *moves = (double)bs_sampler_steps(s) / (double)epochs;
        bs_sampler_free(s);
    }
    free(out);
    return 0;
}

static int alpha_rows(const char *name, const bs_graph *g, int64_t n, int64_t b,
                      int64_t epochs)
{
    static const double alphas[] = {0.2, 0.5, 0.9, 0.99, 0.999};
    static const bs_epoch_mode modes[] = {BS_EPOCH_FIXED, BS_EPOCH_EXACT};
    for (size_t m = 0; m < 2; m++) {
        double base = 0, base_moves = 0;
        for (size_t i = 0; i < sizeof alphas / sizeof alphas[0]; i++) {
            double secs, nb, moves;
            if (time_epoch(g, n, b, alphas[i], modes[m], epochs, &secs, &nb,
                           &moves))
                return 1;
            if (i == 0) {
                base = secs;
                base_moves = moves;
            }
            printf("%-20s %-5s %5.3f %8.1f %11.0f %6.2f %8.4f %6.2f\n", name,
                   bs_epoch_mode_name(modes[m]), alphas[i], nb, moves,
                   moves / base_moves, secs, secs / base);
            fflush(stdout);
        }
    }
    return 0;
}

/* Every node points at hubs 0..9; hub h at the other nine hubs and at
   node 10. */
static bs_graph *hub_graph(int64_t n)
{
    const int32_t k = 10;
    int32_t *nbr = malloc((size_t)n * (size_t)k * sizeof *nbr);
    bs_graph *g = NULL;
    bs_error e;
    if (!nbr)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        int32_t *row = nbr + i * k;
        for (int32_t j = 0; j < k; j++)
            row[j] = j;
        if (i < k)
            row[i] = k; /* a hub does not point at itself */
    }
    if (bs_graph_from_arrays(n, k, nbr, NULL, NULL, &g, &e) != BS_OK)
        fail("hub graph", &e);
    free(nbr);
    return g;
}

static int cmd_alpha(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_epoch_modes alpha X.npy [B [M]]\n");
        return 2;
    }
    float *x = NULL;
    int64_t n, d;
    bs_error e;
    if (bs_npy_load_matrix(argv[2], &x, &n, &d, &e) != BS_OK)
        return fail(argv[2], &e);
    int64_t b = arg_i64(argc, argv, 3, 256);
    int64_t m = arg_i64(argc, argv, 4, 1000);
    print_cpu();
    printf("epochs until every instance has appeared (batches_per_epoch 0), "
           "B = %lld, seed 1;\nper epoch: batches, walk moves, seconds (best "
           "of 3 runs of 10 epochs, 1 for the hub graph)\nand both against "
           "alpha = 0.2 in the same mode and run\n",
           (long long)b);
    printf("%-20s %-5s %5s %8s %11s %6s %8s %6s\n", "graph", "mode", "alpha",
           "batches", "moves", "x0.2", "s", "x0.2");
    int rc = 0;
    static const int32_t ks[] = {10, 100};
    for (size_t i = 0; !rc && i < 2; i++) {
        bs_graph *g = NULL;
        char name[48];
        if (build(x, n, d, BS_MODE_SHARED, m, ks[i], 1, &g))
            rc = 1;
        snprintf(name, sizeof name, "synth N=%lld K=%d", (long long)n, ks[i]);
        if (!rc)
            rc = alpha_rows(name, g, n, b, 10);
        bs_graph_free(g);
    }
    const int64_t hn = 200000;
    bs_graph *h = rc ? NULL : hub_graph(hn);
    if (!rc && !h)
        rc = 1;
    if (!rc)
        rc = alpha_rows("hub N=200000 K=10", h, hn, b, 1);
    bs_graph_free(h);
    free(x);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "coverage") == 0)
        return cmd_coverage(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "alpha") == 0)
        return cmd_alpha(argc, argv);
    fprintf(stderr, "usage: bench_epoch_modes coverage X.npy y.npy "
                    "[epochs [B [M [K [seed]]]]]\n"
                    "       bench_epoch_modes alpha X.npy [B [M]]\n");
    return 2;
}
