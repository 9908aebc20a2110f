/*
 * cmd_sample.c — `batchsampler sample`: runs a sampler for some epochs and
 * writes every batch as one row of an int64 (num_batches, B) .npy.  Under
 * `mpirun -np W` rank r is shard r of W (the sampler's rank and world) and
 * writes its own file: "%r" in -o becomes the rank.  The ranks do not
 * communicate: each computes the same global batches from the same seed
 * and graph and keeps its slice.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpi_cli.h"

static const char cmd[] = "sample";

typedef struct {
    const char *graph, *out;
    char out_rank[4096];     /* out with "%r" replaced by the rank */
    int mpi_rank, mpi_world; /* from mpirun (0 of 1 without) */
    int64_t n;               /* -n, for uniform without a graph; 0 = unset */
    int64_t epochs;
    bs_sampler_params p;
    int quiet;
} sample_opts;

/* The batches collected so far: nb rows of b ids. */
typedef struct {
    int64_t *ids;
    int64_t nb, cap, b;
} batch_buf;

static void help(void)
{
    printf(
        "usage: batchsampler sample --graph G.bsg -o batches.npy [options]\n"
        "       batchsampler sample --sampler uniform -n N -o batches.npy "
        "[options]\n"
        "\n"
        "Writes an int64 .npy of shape (num_batches, B): one row per batch,\n"
        "all epochs concatenated.\n"
        "\n"
        "  --graph G.bsg          graph from 'batchsampler graph' (needed by "
        "rwr, knn;\n"
        "                         gives N for uniform)\n"
        "  -n, --n N              number of instances (uniform without "
        "--graph)\n"
        "  -o, --output F.npy     batches file to write (required; atomic)\n"
        "  --sampler KIND         rwr: random walk with restart "
        "(BatchSampler, default)\n"
        "                         knn: seed + BFS over the graph (use an "
        "exact graph)\n"
        "                         uniform: shuffled permutation\n"
        "  -B, --batch-size B     instances per batch and rank (default 256)\n"
        "  --alpha A              restart probability in [0, 1) (default "
        "0.2);\n"
        "                         near 1 ~ BFS (harder), near 0 ~ DFS (more "
        "random)\n"
        "  --alpha-schedule S     constant (default); step (formerly decay):\n"
        "                         alpha - 0.1 every 5 epochs; reference:\n"
        "                         alpha - 0.02 * (epoch + 1), the reference\n"
        "                         code's; both at least 0.05\n"
        "  --tau T                0: uniform walk steps (default); > 0: "
        "steps\n"
        "                         weighted by exp(similarity / T)\n"
        "  --epochs E             epochs to run (default 1)\n"
        "  --batches-per-epoch N  fixed epoch length (default 0: until every\n"
        "                         instance has appeared)\n"
        "  --epoch-mode M         coverage of rwr/knn epochs: fixed "
        "(default:\n"
        "                         cleared every epoch), carry (kept across "
        "epochs\n"
        "                         until every instance appeared), exact "
        "(every\n"
        "                         instance once per pass); uniform ignores "
        "it\n"
        "  --max-steps S          walk moves per start node (default 0 = "
        "16*W*B);\n"
        "                         2K+32 moves without a new node also "
        "restart\n"
        "  --rank R --world W     write shard R of W (default 0 of 1); every "
        "rank\n"
        "                         must use the same seed and graph.  Under\n"
        "                         mpirun -np W they come from MPI, and \"%%r\" "
        "in\n"
        "                         -o names each rank's file (shard-%%r.npy)\n"
        "  --drop-last            drop an epoch's incomplete last batch "
        "(uniform)\n"
        "  --seed S               random seed (default 0)\n"
        "  -q, --quiet            no progress or summary on stderr\n"
        "  -h, --help             this help\n");
}

static int parse_kind(const char *s, bs_sampler_params *p)
{
    if (bs_sampler_kind_parse(s, &p->kind, NULL) != BS_OK)
        return cli_usage(cmd, "--sampler: '%s' is not rwr, knn or uniform", s);
    return 0;
}

static int parse_schedule(const char *s, bs_sampler_params *p)
{
    if (bs_alpha_schedule_parse(s, &p->schedule, NULL) != BS_OK)
        return cli_usage(cmd,
                         "--alpha-schedule: '%s' is not constant, step or "
                         "reference",
                         s);
    return 0;
}

static int parse_epoch_mode(const char *s, bs_sampler_params *p)
{
    if (bs_epoch_mode_parse(s, &p->epoch_mode, NULL) != BS_OK)
        return cli_usage(cmd, "--epoch-mode: '%s' is not fixed, carry or exact",
                         s);
    return 0;
}

static int parse_one(int c, void *ctx)
{
    sample_opts *o = ctx;
    bs_sampler_params *p = &o->p;
    switch (c) {
    case 'g': o->graph = optarg; return 0;
    case 'o': o->out = optarg; return 0;
    case 'n': return cli_parse_i64(cmd, "-n", optarg, 1, INT64_MAX, &o->n);
    case 'k': return parse_kind(optarg, p);
    case 'B':
        return cli_parse_i64(cmd, "-B", optarg, 1, INT32_MAX, &p->batch_size);
    case 'a':
        return cli_parse_f64(cmd, "--alpha", optarg, 0.0, 1.0, 1, &p->alpha);
    case 'S': return parse_schedule(optarg, p);
    case 'e': return parse_epoch_mode(optarg, p);
    case 't':
        return cli_parse_f64(cmd, "--tau", optarg, 0.0, 1e300, 0, &p->tau);
    case 'E':
        return cli_parse_i64(cmd, "--epochs", optarg, 1, 1000000, &o->epochs);
    case 'P':
        return cli_parse_i64(cmd, "--batches-per-epoch", optarg, 0, INT64_MAX,
                             &p->batches_per_epoch);
    case 'x':
        return cli_parse_i64(cmd, "--max-steps", optarg, 0, INT64_MAX,
                             &p->max_steps);
    case 'r': return cli_parse_int(cmd, "--rank", optarg, 0, 1 << 20, &p->rank);
    case 'w':
        return cli_parse_int(cmd, "--world", optarg, 1, 1 << 20, &p->world);
    case 'd': p->drop_last = 1; return 0;
    case 's': return cli_parse_u64(cmd, "--seed", optarg, &p->seed);
    case 'q': o->quiet = 1; return 0;
    default: return CLI_EXIT_USAGE;
    }
}

/* Cross-option checks the library would also make, worded for the CLI. */
static int check(sample_opts *o)
{
    if (!o->out)
        return cli_usage(cmd, "missing required option -o");
    if (o->mpi_world > 1) {
        if (o->p.world != 1 || o->p.rank != 0)
            return cli_usage(cmd,
                             "--rank and --world come from mpirun (%d "
                             "ranks); leave them out",
                             o->mpi_world);
        if (!strstr(o->out, "%r"))
            return cli_usage(cmd,
                             "-o '%s' under mpirun: put %%r in the name "
                             "(every rank writes its own shard)",
                             o->out);
        o->p.rank = o->mpi_rank;
        o->p.world = o->mpi_world;
    }
    if (cli_mpi_rank_path(o->out, o->p.rank, o->out_rank, sizeof o->out_rank) !=
        0)
        return cli_usage(cmd, "-o: path too long");
    if (o->p.rank >= o->p.world)
        return cli_usage(cmd, "--rank %d must be below --world %d", o->p.rank,
                         o->p.world);
    if (o->p.kind != BS_SAMPLER_UNIFORM && !o->graph)
        return cli_usage(cmd, "--sampler %s needs --graph",
                         bs_sampler_kind_name(o->p.kind));
    if (o->p.kind == BS_SAMPLER_UNIFORM && !o->graph && o->n == 0)
        return cli_usage(cmd, "--sampler uniform needs --graph or -n");
    const cli_path in = {"--graph", o->graph}, out = {"-o", o->out_rank};
    return cli_check_paths(cmd, &in, 1, &out, 1);
}

/* Returns 0 to go on, -1 after --help, or the usage exit code. */
static int parse(int argc, char **argv, sample_opts *o)
{
    static const struct option longs[] = {
        {"graph", required_argument, NULL, 'g'},
        {"n", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"sampler", required_argument, NULL, 'k'},
        {"batch-size", required_argument, NULL, 'B'},
        {"alpha", required_argument, NULL, 'a'},
        {"alpha-schedule", required_argument, NULL, 'S'},
        {"epoch-mode", required_argument, NULL, 'e'},
        {"tau", required_argument, NULL, 't'},
        {"epochs", required_argument, NULL, 'E'},
        {"batches-per-epoch", required_argument, NULL, 'P'},
        {"max-steps", required_argument, NULL, 'x'},
        {"rank", required_argument, NULL, 'r'},
        {"world", required_argument, NULL, 'w'},
        {"drop-last", no_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    bs_sampler_params_default(&o->p);
    o->epochs = 1;
    int rc = cli_parse_options(cmd, argc, argv, ":hn:o:B:q", longs, help,
                               parse_one, o);
    if (rc != 0)
        return rc;
    return check(o);
}

static bs_status buf_push(batch_buf *bb, const int64_t *ids, bs_error *err)
{
    if (bb->nb == bb->cap) {
        int64_t cap = bb->cap ? 2 * bb->cap : 64;
        int64_t *p = realloc(bb->ids, (size_t)(cap * bb->b) * sizeof *p);
        if (!p)
            return cli_set_error(err, BS_ERR_NOMEM,
                                 "out of memory after %lld batches",
                                 (long long)bb->nb);
        bb->ids = p;
        bb->cap = cap;
    }
    memcpy(bb->ids + bb->nb * bb->b, ids, (size_t)bb->b * sizeof *ids);
    bb->nb++;
    return BS_OK;
}

/* Progress through the run in thousandths: an epoch's length is known for
   uniform and fixed-length epochs; otherwise coverage measures it. */
static void report(cli_progress *prog, const bs_sampler *s, int64_t n,
                   int64_t epochs_done, int64_t epochs)
{
    int64_t len = bs_sampler_epoch_length(s);
    double frac = len > 0 ? (double)bs_sampler_batch_index(s) / (double)len
                          : (double)bs_sampler_covered(s) / (double)n;
    if (frac > 1.0)
        frac = 1.0;
    cli_progress_update(prog, epochs_done * 1000 + (int64_t)(frac * 1000),
                        epochs * 1000);
}

/* Runs the sampler for o->epochs epochs into bb. */
static bs_status run_epochs(const sample_opts *o, bs_sampler *s, int64_t n,
                            batch_buf *bb, bs_error *err)
{
    int64_t done = 0, count = 0;
    int64_t *row = malloc((size_t)bb->b * sizeof *row);
    cli_progress prog;
    bs_status st =
        row ? BS_OK : cli_set_error(err, BS_ERR_NOMEM, "out of memory");
    cli_progress_start(&prog, "sample", o->quiet);
    while (st == BS_OK && done < o->epochs) {
        st = bs_sampler_next(s, row, &count, err);
        if (st != BS_OK)
            break;
        if (count == 0)
            done++;
        else
            st = buf_push(bb, row, err);
        report(&prog, s, n, done, o->epochs);
    }
    cli_progress_end(&prog, st == BS_OK);
    free(row);
    return st;
}

static bs_status write_batches(const char *path, const batch_buf *bb,
                               bs_error *err)
{
    bs_array a;
    memset(&a, 0, sizeof a);
    a.dtype = BS_DTYPE_I64;
    a.ndim = 2;
    a.shape[0] = bb->nb;
    a.shape[1] = bb->b;
    a.data = bb->ids;
    cli_signals_defer(); /* no temporary file left by a signal */
    bs_status st = bs_npy_write(path, &a, err);
    cli_signals_resume();
    return st;
}

/* Loads the graph (if any) and works out n. */
static bs_status load_graph(const sample_opts *o, bs_graph **g, int64_t *n,
                            bs_error *err)
{
    *n = o->n;
    if (!o->graph)
        return BS_OK;
    if (bs_graph_load(o->graph, g, err) != BS_OK)
        return err->code;
    if (o->n != 0 && o->n != bs_graph_n(*g)) {
        long long gn = (long long)bs_graph_n(*g);
        bs_graph_free(*g);
        *g = NULL;
        return cli_set_error(err, BS_ERR_INVALID_ARG,
                             "-n %lld does not match %s, which has %lld nodes",
                             (long long)o->n, o->graph, gn);
    }
    *n = bs_graph_n(*g);
    return BS_OK;
}

static int run(const sample_opts *o)
{
    bs_error err = {0};
    bs_graph *g = NULL;
    bs_sampler *s = NULL;
    batch_buf bb = {NULL, 0, 0, o->p.batch_size};
    int64_t n = 0;
    double t0 = cli_now();
    bs_status st = load_graph(o, &g, &n, &err);
    if (st == BS_OK)
        st = bs_sampler_create(&o->p, n, g, &s, &err);
    if (st == BS_OK)
        st = run_epochs(o, s, n, &bb, &err);
    if (st == BS_OK)
        st = write_batches(o->out_rank, &bb, &err);
    if (st == BS_OK && !o->quiet)
        fprintf(stderr,
                "sample: wrote %s (%lld batches of %lld, %lld epoch%s, %s) in "
                "%.2f s\n",
                o->out_rank, (long long)bb.nb, (long long)bb.b,
                (long long)o->epochs, o->epochs == 1 ? "" : "s",
                bs_sampler_kind_name(o->p.kind), cli_now() - t0);
    free(bb.ids);
    bs_sampler_free(s);
    bs_graph_free(g);
    return st == BS_OK ? CLI_EXIT_OK : cli_fail(&err);
}

int cli_cmd_sample(int argc, char **argv)
{
    sample_opts o;
    cli_mpi m;
    memset(&o, 0, sizeof o);
    int rc = cli_mpi_start(cmd, &m);
    if (rc != 0)
        return rc;
    o.mpi_rank = m.rank;
    o.mpi_world = m.world;
    rc = parse(argc, argv, &o);
    if (rc == 0)
        rc = run(&o);
    cli_mpi_stop(&m);
    return rc < 0 ? CLI_EXIT_OK : rc;
}
