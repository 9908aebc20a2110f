/*
 * cmd_compare.c — `batchsampler compare`: the samplers side by side on
 * fixed embeddings, no training.  Loads Fashion-MNIST, embeds it, builds the
 * proximity graph and the exact kNN graph, samples the same number of batches
 * with uniform, kNN and RWR at a few restart probabilities, and prints how hard
 * the batches are and how many false negatives (same-class pairs) they hold.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "idx.h"

static const char cmd[] = "compare";

#define CMP_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define PATH_CAP 4096

typedef struct {
    int64_t n, dim, m, k, b, batches, max_steps;
    uint64_t seed;
    int quiet, threads;
    const char *data_dir;
} cmp_opts;

typedef struct {
    float *x; /* n x d embeddings */
    int64_t n, d;
    int64_t *y; /* n labels */
} cmp_data;

/* One row of the comparison. */
typedef struct {
    bs_sampler_kind kind;
    double alpha;
    int exact; /* walks the exact kNN graph rather than the proximity one */
} cmp_run;

static void help(void)
{
    printf(
        "usage: batchsampler compare [options]\n"
        "\n"
        "Compares the samplers on Fashion-MNIST (60000 training images, 10\n"
        "classes): embeds N images, builds the proximity graph (shared mode)\n"
        "and the exact kNN graph, samples the same number of batches with\n"
        "uniform, kNN and RWR (alpha 0.1, 0.5, 0.9), and prints the hardness\n"
        "(mean in-batch cosine, mean hardest-negative cosine) and the\n"
        "false-negative rate (in-batch pairs of the same class).\n"
        "\n"
        "  --n N            images used, the first N of the file (default "
        "20000)\n"
        "  --dim D          random Gaussian projection to D dims (default "
        "64);\n"
        "                   0 = the 784 centred pixels themselves\n"
        "  -M M             candidates per node (default 1000)\n"
        "  -K K             neighbours per node (default 100)\n"
        "  -B B             batch size (default 256)\n"
        "  --batches NB     batches per sampler (default N / B: one epoch's "
        "worth)\n"
        "  --max-steps S    RWR walk steps per start node before the batch "
        "goes on\n"
        "                   from another start (default 0 = 16*B/(1-alpha)^2)\n"
        "  --seed S         seed of the projection, graph and samplers "
        "(default 1)\n"
        "  --threads T      OpenMP threads (default 0 = all)\n"
        "  --data-dir DIR   folder with train-images-idx3-ubyte.gz and\n"
        "                   train-labels-idx1-ubyte.gz (default\n"
        "                   " CMP_DEFAULT_DIR ")\n"
        "  -q, --quiet      no progress on stderr\n"
        "  -h, --help       this help\n");
}

static int parse_one(int c, void *ctx)
{
    cmp_opts *o = ctx;
    switch (c) {
    case 'n': return cli_parse_i64(cmd, "--n", optarg, 2, 1 << 30, &o->n);
    case 'd': return cli_parse_i64(cmd, "--dim", optarg, 0, 4096, &o->dim);
    case 'M': return cli_parse_i64(cmd, "-M", optarg, 1, 1 << 30, &o->m);
    case 'K': return cli_parse_i64(cmd, "-K", optarg, 1, 1 << 30, &o->k);
    case 'B': return cli_parse_i64(cmd, "-B", optarg, 2, 1 << 30, &o->b);
    case 'N':
        return cli_parse_i64(cmd, "--batches", optarg, 1, 1 << 30, &o->batches);
    case 'x':
        return cli_parse_i64(cmd, "--max-steps", optarg, 0, INT64_MAX,
                             &o->max_steps);
    case 's': return cli_parse_u64(cmd, "--seed", optarg, &o->seed);
    case 't':
        return cli_parse_int(cmd, "--threads", optarg, 0, 4096, &o->threads);
    case 'D': o->data_dir = optarg; return 0;
    case 'q': o->quiet = 1; return 0;
    default: return CLI_EXIT_USAGE;
    }
}

/* Returns 0 to go on, -1 after --help, or the usage exit code. */
static int parse(int argc, char **argv, cmp_opts *o)
{
    static const struct option longs[] = {
        {"n", required_argument, NULL, 'n'},
        {"dim", required_argument, NULL, 'd'},
        {"batches", required_argument, NULL, 'N'},
        {"max-steps", required_argument, NULL, 'x'},
        {"seed", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},
        {"data-dir", required_argument, NULL, 'D'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    *o = (cmp_opts){.n = 20000,
                    .dim = 64,
                    .m = 1000,
                    .k = 100,
                    .b = 256,
                    .seed = 1,
                    .data_dir = CMP_DEFAULT_DIR};
    int rc = cli_parse_options(cmd, argc, argv, ":hM:K:B:q", longs, help,
                               parse_one, o);
    if (rc != 0)
        return rc;
    if (o->k > o->m)
        return cli_usage(cmd, "-K %lld is larger than -M %lld", (long long)o->k,
                         (long long)o->m);
    if (o->m >= o->n)
        return cli_usage(cmd,
                         "-M %lld must be below --n %lld (candidates are "
                         "drawn from the other images)",
                         (long long)o->m, (long long)o->n);
    if (o->b > o->n)
        return cli_usage(cmd, "-B %lld is larger than --n %lld",
                         (long long)o->b, (long long)o->n);
    if (o->batches == 0)
        o->batches = o->n / o->b;
    return 0;
}

/* ------------------------------------------------------------ data */

/* The engine's IDX reader speaks engine codes plus a message; the CLI
   reports a bs_status and a bs_error. */
static bs_status idx_status(int rc, const char *msg, bs_error *err)
{
    if (rc == BST_OK)
        return BS_OK;
    bs_status code = rc == BST_ERR_NOMEM   ? BS_ERR_NOMEM
                     : rc == BST_ERR_IO    ? BS_ERR_IO
                     : rc == BST_ERR_INVAL ? BS_ERR_INVALID_ARG
                                           : BS_ERR_FORMAT;
    return cli_set_error(err, code, "%s", msg);
}

static bs_status load_labels(const cmp_opts *o, cmp_data *dd, bs_error *err)
{
    char path[PATH_CAP];
    uint8_t *lab = NULL;
    int64_t count = 0;
    bs_status st;
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", o->data_dir);
    char msg[BS_ERROR_MSG_MAX];
    st = idx_status(
        bst_idx_read_labels(path, o->n, &lab, &count, msg, sizeof msg), msg,
        err);
    if (st != BS_OK)
        return st;
    dd->y = malloc((size_t)count * sizeof *dd->y);
    if (!dd->y)
        st = cli_set_error(err, BS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; st == BS_OK && i < count; i++)
        dd->y[i] = lab[i];
    free(lab);
    return st;
}

/*
 * Pixels scaled to [0, 1] and centred (the mean image subtracted) so that
 * cosine compares shapes rather than the shared dark background; the mean
 * is written to mean[p].  Returns 0, or -1 when out of memory.
 */
static int centre(const uint8_t *pix, int64_t n, int64_t p, float *mean)
{
    double *acc = calloc((size_t)p, sizeof *acc);
    if (!acc)
        return -1;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < p; j++)
            acc[j] += pix[i * p + j];
    for (int64_t j = 0; j < p; j++)
        mean[j] = (float)(acc[j] / (255.0 * (double)n));
    free(acc);
    return 0;
}

/*
 * The embedding.  Why a random projection (default 64 dims): the exact kNN
 * graph costs O(N^2 d), so 784 -> 64 dims makes it about 12x cheaper and
 * keeps the whole comparison well under a minute on 2 cores, while a Gaussian
 * projection preserves cosines up to a small distortion (Johnson-
 * Lindenstrauss), so neighbours, hardness and false negatives keep their
 * meaning.  --dim 0 uses the centred pixels themselves.
 */
static bs_status embed(const cmp_opts *o, const uint8_t *pix, int64_t p,
                       cmp_data *dd, bs_error *err)
{
    int64_t n = dd->n, d = o->dim ? o->dim : p;
    float *mean = malloc((size_t)p * sizeof *mean);
    float *r = o->dim ? malloc((size_t)(p * d) * sizeof *r) : NULL;
    float *row = malloc((size_t)p * sizeof *row);
    cli_rng rng;
    dd->x = calloc((size_t)(n * d), sizeof *dd->x);
    if (!mean || !row || !dd->x || (o->dim && !r) ||
        centre(pix, n, p, mean) != 0) {
        free(mean), free(r), free(row);
        return cli_set_error(err, BS_ERR_NOMEM, "out of memory");
    }
    cli_rng_seed(&rng, o->seed);
    for (int64_t i = 0; r && i < p * d; i++)
        r[i] = (float)cli_rng_normal(&rng);
    for (int64_t i = 0; i < n; i++) {
        float *out = dd->x + i * d;
        for (int64_t j = 0; j < p; j++)
            row[j] = (float)pix[i * p + j] / 255.0f - mean[j];
        if (!r) {
            memcpy(out, row, (size_t)p * sizeof *row);
            continue;
        }
        /* j outer, dims inner: the inner loop vectorises */
        for (int64_t j = 0; j < p; j++)
            for (int64_t k = 0; k < d; k++)
                out[k] += row[j] * r[j * d + k];
    }
    dd->d = d;
    free(mean), free(r), free(row);
    return BS_OK;
}

static bs_status load_data(const cmp_opts *o, cmp_data *dd, bs_error *err)
{
    char path[PATH_CAP];
    uint8_t *pix = NULL;
    int64_t rows = 0, cols = 0;
    bs_status st;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", o->data_dir);
    char msg[BS_ERROR_MSG_MAX];
    st = idx_status(bst_idx_read_images(path, o->n, &pix, &dd->n, &rows, &cols,
                                        msg, sizeof msg),
                    msg, err);
    if (st == BS_OK)
        st = load_labels(o, dd, err);
    if (st == BS_OK)
        st = embed(o, pix, rows * cols, dd, err);
    if (st == BS_OK) {
        printf("Fashion-MNIST: %lld training images of %lldx%lld from %s\n",
               (long long)dd->n, (long long)rows, (long long)cols, o->data_dir);
        printf("embedding: centred pixels, %lld dims%s\n", (long long)dd->d,
               o->dim ? " (seeded Gaussian projection)" : "");
    }
    free(pix);
    return st;
}

/* ----------------------------------------------------------- graphs */

static bs_status build_graph(const cmp_opts *o, const cmp_data *dd,
                             bs_graph_mode mode, bs_graph **g, double *secs,
                             bs_error *err)
{
    bs_graph_params p;
    cli_progress prog;
    bs_status st;
    double t0 = cli_now();
    bs_graph_params_default(&p);
    p.mode = mode;
    p.m = o->m;
    p.k = (int32_t)o->k;
    p.seed = o->seed;
    p.threads = o->threads;
    cli_progress_start(
        &prog, mode == BS_MODE_EXACT ? "exact kNN graph" : "proximity graph",
        o->quiet);
    p.progress = cli_progress_cb;
    p.progress_ctx = &prog;
    st = bs_graph_build(dd->x, dd->n, dd->d, &p, g, err);
    cli_progress_end(&prog, st == BS_OK);
    *secs = cli_now() - t0;
    return st;
}

/* ---------------------------------------------------------- samplers */

/* Samples o->batches batches into ids (batches x B); *secs is the time. */
static bs_status sample(const cmp_opts *o, const cmp_run *run, int64_t n,
                        const bs_graph *g, int64_t *ids, double *secs,
                        bs_error *err)
{
    bs_sampler_params p;
    bs_sampler *s = NULL;
    cli_progress prog;
    int64_t count = 0, got = 0;
    double t0 = cli_now();
    bs_status st;
    bs_sampler_params_default(&p);
    p.kind = run->kind;
    p.batch_size = o->b;
    p.alpha = run->alpha;
    p.seed = o->seed;
    /* a fixed epoch length gives every sampler the same number of steps */
    p.batches_per_epoch = o->batches;
    p.max_steps = o->max_steps;
    st = bs_sampler_create(&p, n, run->kind == BS_SAMPLER_UNIFORM ? NULL : g,
                           &s, err);
    cli_progress_start(&prog, bs_sampler_kind_name(run->kind), o->quiet);
    while (st == BS_OK && got < o->batches) {
        st = bs_sampler_next(s, ids + got * o->b, &count, err);
        if (st == BS_OK && count == 0)
            break;
        got++;
        cli_progress_update(&prog, got, o->batches);
    }
    cli_progress_end(&prog, st == BS_OK);
    if (st == BS_OK && got != o->batches)
        st = cli_set_error(err, BS_ERR_STATE,
                           "sampler %s stopped after %lld of %lld batches",
                           bs_sampler_kind_name(run->kind), (long long)got,
                           (long long)o->batches);
    *secs = cli_now() - t0;
    bs_sampler_free(s);
    return st;
}

static void print_header(void)
{
    printf("%-8s %-10s %5s %7s %9s %9s %8s %6s %8s\n", "sampler", "graph",
           "alpha", "batches", "mean-cos", "hard-cos", "FN-rate", "seen", "ms");
}

static void print_row(const cmp_run *run, const bs_run_stats *r, int64_t n,
                      double secs)
{
    char alpha[16] = "-";
    const char *graph = run->kind == BS_SAMPLER_UNIFORM ? "-"
                        : run->exact                    ? "exact-kNN"
                                                        : "proximity";
    if (run->kind == BS_SAMPLER_RWR)
        snprintf(alpha, sizeof alpha, "%.2f", run->alpha);
    printf("%-8s %-10s %5s %7lld %9.4f %9.4f %8.4f %5.1f%% %8.1f\n",
           bs_sampler_kind_name(run->kind), graph, alpha, (long long)r->batches,
           r->mean_sim, r->mean_max_sim, r->fn_rate,
           100.0 * (double)(n - r->never_seen) / (double)n, 1e3 * secs);
    fflush(stdout);
}

static bs_status compare(const cmp_opts *o, const cmp_data *dd,
                         const bs_graph *prox, const bs_graph *exact,
                         bs_error *err)
{
    static const cmp_run runs[] = {{BS_SAMPLER_UNIFORM, 0.0, 0},
                                   {BS_SAMPLER_KNN, 0.0, 1},
                                   {BS_SAMPLER_RWR, 0.1, 0},
                                   {BS_SAMPLER_RWR, 0.5, 0},
                                   {BS_SAMPLER_RWR, 0.9, 0}};
    int64_t *ids = malloc((size_t)(o->batches * o->b) * sizeof *ids);
    bs_status st =
        ids ? BS_OK : cli_set_error(err, BS_ERR_NOMEM, "out of memory");
    print_header();
    for (size_t i = 0; st == BS_OK && i < sizeof runs / sizeof runs[0]; i++) {
        bs_run_stats r;
        double secs = 0;
        st = sample(o, &runs[i], dd->n, runs[i].exact ? exact : prox, ids,
                    &secs, err);
        if (st == BS_OK)
            st = bs_run_stats_compute(dd->x, dd->n, dd->d, ids, o->batches,
                                      o->b, dd->y, o->threads, &r, err);
        if (st == BS_OK)
            print_row(&runs[i], &r, dd->n, secs);
    }
    free(ids);
    return st;
}

static void print_graphs(const cmp_opts *o, double t_prox, double t_exact)
{
    printf("proximity graph (shared, M = %lld, K = %lld): %.2f s\n"
           "exact kNN graph (K = %lld): %.2f s\n\n",
           (long long)o->m, (long long)o->k, t_prox, (long long)o->k, t_exact);
}

static void print_legend(void)
{
    printf("\nmean-cos: mean cosine over in-batch pairs; hard-cos: mean over "
           "anchors of\nthe hardest negative's cosine; FN-rate: share of "
           "in-batch pairs of the same\nclass (false negatives); seen: "
           "instances that appeared in some batch;\nms: sampling time.\n");
}

int cli_cmd_compare(int argc, char **argv)
{
    cmp_opts o;
    cmp_data dd = {NULL, 0, 0, NULL};
    bs_graph *prox = NULL, *exact = NULL;
    bs_error err = {0};
    double t_prox = 0, t_exact = 0;
    bs_status st;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    st = load_data(&o, &dd, &err);
    if (st == BS_OK)
        st = build_graph(&o, &dd, BS_MODE_SHARED, &prox, &t_prox, &err);
    if (st == BS_OK)
        st = build_graph(&o, &dd, BS_MODE_EXACT, &exact, &t_exact, &err);
    if (st == BS_OK) {
        print_graphs(&o, t_prox, t_exact);
        st = compare(&o, &dd, prox, exact, &err);
    }
    if (st == BS_OK)
        print_legend();
    bs_graph_free(prox);
    bs_graph_free(exact);
    free(dd.x);
    free(dd.y);
    return st == BS_OK ? CLI_EXIT_OK : cli_fail(&err);
}
