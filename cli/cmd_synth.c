/*
 * cmd_synth.c — `batchsampler synth`: a seeded Gaussian-mixture data set
 * (embeddings and cluster labels), for trying the tool without real data and
 * for the CLI tests, which must not need Python.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char cmd[] = "synth";

typedef struct {
    int64_t n, dim, clusters;
    double noise;
    uint64_t seed;
    const char *out, *labels;
} synth_opts;

static void help(void)
{
    printf(
        "usage: batchsampler synth --n N --dim d -o X.npy [options]\n"
        "\n"
        "Writes N points of a mixture of Gaussians: c centres drawn from\n"
        "N(0, I_d), each point its centre plus noise * N(0, I_d), cluster\n"
        "chosen uniformly.  X.npy is float32 (N, d); labels are int64 (N,).\n"
        "The same options give byte-identical files.\n"
        "\n"
        "  --n N            points (required, >= 2)\n"
        "  --dim d          dimensions (required, >= 1)\n"
        "  -o, --output F   embeddings file to write (required)\n"
        "  --labels F       also write the cluster of every point\n"
        "  --clusters c     number of clusters (default 10)\n"
        "  --noise s        spread around the centres (default 0.5)\n"
        "  --seed S         random seed (default 0)\n"
        "  -h, --help       this help\n");
}

static int parse_one(int c, void *ctx)
{
    synth_opts *o = ctx;
    switch (c) {
    case 'n': return cli_parse_i64(cmd, "--n", optarg, 2, 1 << 30, &o->n);
    case 'd': return cli_parse_i64(cmd, "--dim", optarg, 1, 1 << 16, &o->dim);
    case 'c':
        return cli_parse_i64(cmd, "--clusters", optarg, 1, 1 << 20,
                             &o->clusters);
    case 'z':
        return cli_parse_f64(cmd, "--noise", optarg, 0.0, 1e6, 0, &o->noise);
    case 's': return cli_parse_u64(cmd, "--seed", optarg, &o->seed);
    case 'o': o->out = optarg; return 0;
    case 'l': o->labels = optarg; return 0;
    default: return CLI_EXIT_USAGE;
    }
}

/* Returns 0 to go on, -1 after --help, or the usage exit code. */
static int parse(int argc, char **argv, synth_opts *o)
{
    static const struct option longs[] = {
        {"n", required_argument, NULL, 'n'},
        {"dim", required_argument, NULL, 'd'},
        {"clusters", required_argument, NULL, 'c'},
        {"noise", required_argument, NULL, 'z'},
        {"seed", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"labels", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    o->clusters = 10;
    o->noise = 0.5;
    int rc =
        cli_parse_options(cmd, argc, argv, ":ho:", longs, help, parse_one, o);
    if (rc != 0)
        return rc;
    if (!o->n || !o->dim)
        return cli_usage(cmd, "missing required option %s",
                         o->n ? "--dim" : "--n");
    if (!o->out)
        return cli_usage(cmd, "missing required option -o");
    if (o->clusters > o->n)
        return cli_usage(cmd, "--clusters %lld is more than --n %lld",
                         (long long)o->clusters, (long long)o->n);
    /* both outputs before writing either: a bad --labels must not leave a
       new -o behind */
    const cli_path out[] = {{"-o", o->out}, {"--labels", o->labels}};
    return cli_check_paths(cmd, NULL, 0, out, 2);
}

/* Fills x (n x d) and y (n); centres are drawn first so that changing n
   keeps the clusters. */
static bs_status generate(const synth_opts *o, float *x, int64_t *y,
                          bs_error *err)
{
    cli_rng rng;
    float *centres = malloc((size_t)(o->clusters * o->dim) * sizeof *centres);
    if (!centres)
        return cli_set_error(err, BS_ERR_NOMEM, "out of memory");
    cli_rng_seed(&rng, o->seed);
    for (int64_t i = 0; i < o->clusters * o->dim; i++)
        centres[i] = (float)cli_rng_normal(&rng);
    for (int64_t i = 0; i < o->n; i++) {
        int64_t c = (int64_t)(cli_rng_next(&rng) % (uint64_t)o->clusters);
        const float *mu = centres + c * o->dim;
        y[i] = c;
        for (int64_t j = 0; j < o->dim; j++)
            x[i * o->dim + j] =
                mu[j] + (float)(o->noise * cli_rng_normal(&rng));
    }
    free(centres);
    return BS_OK;
}

static bs_status write_all(const synth_opts *o, float *x, int64_t *y,
                           bs_error *err)
{
    bs_array a;
    bs_status st;
    memset(&a, 0, sizeof a);
    a.dtype = BS_DTYPE_F32;
    a.ndim = 2;
    a.shape[0] = o->n;
    a.shape[1] = o->dim;
    a.data = x;
    st = bs_npy_write(o->out, &a, err);
    if (st != BS_OK || !o->labels)
        return st;
    a.dtype = BS_DTYPE_I64;
    a.ndim = 1;
    a.shape[1] = 0;
    a.data = y;
    return bs_npy_write(o->labels, &a, err);
}

int cli_cmd_synth(int argc, char **argv)
{
    synth_opts o;
    bs_error err = {0};
    float *x;
    int64_t *y;
    bs_status st;
    int rc;
    memset(&o, 0, sizeof o);
    rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    x = malloc((size_t)(o.n * o.dim) * sizeof *x);
    y = malloc((size_t)o.n * sizeof *y);
    st = x && y ? generate(&o, x, y, &err)
                : cli_set_error(&err, BS_ERR_NOMEM, "out of memory");
    cli_signals_defer(); /* no temporary file left by a signal */
    if (st == BS_OK)
        st = write_all(&o, x, y, &err);
    cli_signals_resume();
    free(x);
    free(y);
    return st == BS_OK ? CLI_EXIT_OK : cli_fail(&err);
}
