/*
 * cmd_graph.c — `batchsampler graph`: embeddings (.npy) -> proximity graph
 * (.bsg).  Under `mpirun -np W` every rank reads the embeddings itself (a
 * row needs candidates from all N rows, so every rank needs the whole
 * matrix anyway, and W reads of a shared file cost less than rank 0
 * reading and then sending N d floats to each of the others), builds its
 * share of the rows (bs_graph_build_rows: whole blocks, bit-identical to
 * those rows of a single build), and rank 0 gathers the rows and writes
 * the file, byte-identical to a single process's.
 */
#include <getopt.h>
#include <stdlib.h>

#include "cli.h"
#include "mpi_cli.h"

static const char cmd[] = "graph";

typedef struct {
    const char *emb, *out;
    bs_graph_params p;
    int quiet;
} graph_opts;

static void help(void)
{
    printf(
        "usage: batchsampler graph --emb X.npy -o G.bsg [options]\n"
        "\n"
        "Builds the proximity graph: every instance is linked to the K most\n"
        "cosine-similar of M random candidates (M << N keeps false negatives\n"
        "rare).  X.npy is an (N, d) float32/float64 array.\n"
        "\n"
        "  --emb X.npy        embeddings (required)\n"
        "  -o, --output G.bsg graph file to write (required; written "
        "atomically)\n"
        "  -M, --candidates M random candidates per node, K <= M < N "
        "(default 1000)\n"
        "  -K, --neighbors K  neighbours kept per node (default 100)\n"
        "  --mode MODE        independent: own M candidates per node (the "
        "paper);\n"
        "                     shared: one draw per block of nodes, one GEMM "
        "(default);\n"
        "                     exact: all N-1 others, the exact kNN graph\n"
        "  --seed S           random seed (default 0)\n"
        "  --block S          shared mode's block size (default 0 = 256); "
        "part of\n"
        "                     the result\n"
        "  --threads N        OpenMP threads (default 0 = all); the result "
        "does not\n"
        "                     depend on it\n"
        "  -q, --quiet        no progress or summary on stderr\n"
        "  -h, --help         this help\n"
        "\n"
        "Under mpirun -np W each rank builds 1/W of the rows and rank 0 "
        "writes\n"
        "the file (the same bytes as one process writes).\n");
}

static int parse_one(int c, void *ctx)
{
    graph_opts *o = ctx;
    int64_t v = 0;
    int rc = 0;
    switch (c) {
    case 'e': o->emb = optarg; break;
    case 'o': o->out = optarg; break;
    case 'M':
        rc = cli_parse_i64(cmd, "-M", optarg, 1, INT64_MAX, &o->p.m);
        break;
    case 'K':
        if ((rc = cli_parse_i64(cmd, "-K", optarg, 1, INT32_MAX, &v)) == 0)
            o->p.k = (int32_t)v;
        break;
    case 'm':
        if (bs_graph_mode_parse(optarg, &o->p.mode, NULL) != BS_OK)
            rc = cli_usage(cmd,
                           "--mode: '%s' is not independent, shared or "
                           "exact",
                           optarg);
        break;
    case 's': rc = cli_parse_u64(cmd, "--seed", optarg, &o->p.seed); break;
    case 'b':
        if ((rc = cli_parse_i64(cmd, "--block", optarg, 0, INT32_MAX, &v)) == 0)
            o->p.block = (int32_t)v;
        break;
    case 't':
        rc = cli_parse_int(cmd, "--threads", optarg, 0, 4096, &o->p.threads);
        break;
    case 'q': o->quiet = 1; break;
    default: rc = CLI_EXIT_USAGE; break;
    }
    return rc;
}

/* Returns 0 to go on, -1 after --help, or the usage exit code. */
static int parse(int argc, char **argv, graph_opts *o)
{
    static const struct option longs[] = {
        {"emb", required_argument, NULL, 'e'},
        {"output", required_argument, NULL, 'o'},
        {"candidates", required_argument, NULL, 'M'},
        {"neighbors", required_argument, NULL, 'K'},
        {"mode", required_argument, NULL, 'm'},
        {"seed", required_argument, NULL, 's'},
        {"block", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    bs_graph_params_default(&o->p);
    int rc = cli_parse_options(cmd, argc, argv, ":ho:M:K:q", longs, help,
                               parse_one, o);
    if (rc != 0)
        return rc;
    if (!o->emb)
        return cli_usage(cmd, "missing required option --emb");
    if (!o->out)
        return cli_usage(cmd, "missing required option -o");
    if (o->p.mode != BS_MODE_EXACT && o->p.k > o->p.m)
        return cli_usage(cmd, "-K %d is larger than -M %lld", (int)o->p.k,
                         (long long)o->p.m);
    const cli_path in = {"--emb", o->emb}, out = {"-o", o->out};
    return cli_check_paths(cmd, &in, 1, &out, 1);
}

static int build_and_save(const graph_opts *o, const float *x, int64_t n,
                          int64_t d)
{
    bs_error err = {0};
    bs_graph *g = NULL;
    bs_graph_params p = o->p;
    cli_progress prog;
    double t0 = cli_now();
    if (bs_graph_params_check(&p, n, &err) != BS_OK)
        return cli_fail(&err);
    cli_progress_start(&prog, "graph", o->quiet);
    p.progress = cli_progress_cb;
    p.progress_ctx = &prog;
    if (bs_graph_build(x, n, d, &p, &g, &err) != BS_OK) {
        cli_progress_end(&prog, 0);
        return cli_fail(&err);
    }
    cli_progress_end(&prog, 1);
    cli_signals_defer(); /* no temporary file left by a signal */
    bs_status st = bs_graph_save(g, o->out, &err);
    cli_signals_resume();
    if (st != BS_OK) {
        bs_graph_free(g);
        return cli_fail(&err);
    }
    if (!o->quiet)
        fprintf(stderr, "graph: wrote %s (N=%lld, K=%d, mode=%s) in %.2f s\n",
                o->out, (long long)n, (int)p.k, bs_graph_mode_name(p.mode),
                cli_now() - t0);
    bs_graph_free(g);
    return CLI_EXIT_OK;
}

/* Rank r's rows [lo, hi): whole blocks of the shared mode (any split is
   bit-identical; whole blocks keep each block's GEMM on one rank). */
static void rank_rows(int64_t n, int32_t block, int r, int world, int64_t *lo,
                      int64_t *hi)
{
    int64_t blk = block > 0 ? block : 256, nb = (n + blk - 1) / blk;
    *lo = nb * r / world * blk;
    *hi = nb * (r + 1) / world * blk;
    *lo = *lo < n ? *lo : n;
    *hi = *hi < n ? *hi : n;
}

/* Rank 0: the gathered rows into a graph, saved. */
static int save_rows(const graph_opts *o, const bs_graph_params *p, int64_t n,
                     const int32_t *nbr, const float *sim, double t0)
{
    bs_error err = {0};
    bs_graph *g = NULL;
    bs_graph_params q = *p; /* the file names the block in force, as a
                               single build's does */
    if (q.mode == BS_MODE_SHARED && q.block == 0)
        q.block = 256;
    if (bs_graph_from_arrays(n, q.k, nbr, sim, &q, &g, &err) != BS_OK)
        return cli_fail(&err);
    cli_signals_defer(); /* no temporary file left by a signal */
    bs_status st = bs_graph_save(g, o->out, &err);
    cli_signals_resume();
    bs_graph_free(g);
    if (st != BS_OK)
        return cli_fail(&err);
    if (!o->quiet)
        fprintf(stderr, "graph: wrote %s (N=%lld, K=%d, mode=%s) in %.2f s\n",
                o->out, (long long)n, (int)p->k, bs_graph_mode_name(p->mode),
                cli_now() - t0);
    return CLI_EXIT_OK;
}

/* The MPI build: this rank's rows, gathered to rank 0, which writes the
   file.  Every rank returns the same exit code but for rank 0's writing. */
static int build_distributed(const graph_opts *o, const cli_mpi *m,
                             const float *x, int64_t n, int64_t d)
{
    bs_error err = {0};
    bs_graph_params p = o->p;
    double t0 = cli_now();
    if (bs_graph_params_check(&p, n, &err) != BS_OK)
        return cli_fail(&err); /* the same on every rank */
    int64_t lo, hi, *rows = malloc(sizeof(int64_t) * (size_t)m->world);
    int32_t *nbr = NULL, *all_nbr = NULL;
    float *sim = NULL, *all_sim = NULL;
    size_t k = (size_t)p.k;
    rank_rows(n, p.block, m->rank, m->world, &lo, &hi);
    nbr = malloc(sizeof(int32_t) * k * (size_t)(hi - lo + 1));
    sim = malloc(sizeof(float) * k * (size_t)(hi - lo + 1));
    if (m->rank == 0) {
        all_nbr = malloc(sizeof(int32_t) * k * (size_t)n);
        all_sim = malloc(sizeof(float) * k * (size_t)n);
    }
    bs_status st = BS_OK;
    if (!rows || !nbr || !sim || (m->rank == 0 && (!all_nbr || !all_sim)))
        st = cli_set_error(&err, BS_ERR_NOMEM, "out of memory for %lld rows",
                           (long long)(hi - lo));
    cli_progress prog;
    cli_progress_start(&prog, "graph", o->quiet || m->rank != 0);
    p.progress = cli_progress_cb;
    p.progress_ctx = &prog;
    if (st == BS_OK)
        st = bs_graph_build_rows(x, n, d, &p, lo, hi, nbr, sim, &err);
    cli_progress_end(&prog, st == BS_OK);
    double built = cli_now() - t0;
    int rc = CLI_EXIT_OK;
    if (cli_mpi_any(m, st != BS_OK)) {
        rc = st != BS_OK ? cli_fail(&err) : CLI_EXIT_DATA;
    } else {
        for (int r = 0; r < m->world; r++) {
            int64_t a, b;
            rank_rows(n, p.block, r, m->world, &a, &b);
            rows[r] = b - a;
        }
        double t1 = cli_now();
        cli_mpi_gather_rows(m, nbr, all_nbr, rows, k * sizeof(int32_t));
        cli_mpi_gather_rows(m, sim, all_sim, rows, k * sizeof(float));
        /* the ranks met in cli_mpi_any: no waiting for a slow one */
        double gathered = cli_now() - t1;
        if (m->rank == 0 && !o->quiet)
            fprintf(stderr,
                    "graph: %d ranks: rank 0 built %lld rows in %.2f s; "
                    "gathering %.1f MB to rank 0 took %.2f s\n",
                    m->world, (long long)rows[0], built,
                    (double)n * (double)k * 8 / 1e6, gathered);
        if (m->rank == 0)
            rc = save_rows(o, &p, n, all_nbr, all_sim, t0);
    }
    free(rows);
    free(nbr);
    free(sim);
    free(all_nbr);
    free(all_sim);
    return rc;
}

static int load_checked(const graph_opts *o, float **x, int64_t *n, int64_t *d)
{
    bs_error err = {0};
    if (bs_npy_load_matrix(o->emb, x, n, d, &err) != BS_OK)
        return cli_fail(&err);
    if (bs_check_embeddings(*x, *n, *d, &err) != BS_OK) {
        /* the library's message says which row; add which file */
        bs_error named = err;
        cli_set_error(&named, err.code, "%s: %s", o->emb, err.msg);
        return cli_fail(&named);
    }
    return CLI_EXIT_OK;
}

int cli_cmd_graph(int argc, char **argv)
{
    graph_opts o = {0};
    float *x = NULL;
    int64_t n = 0, d = 0;
    cli_mpi m;
    int rc = cli_mpi_start(cmd, &m);
    if (rc == 0)
        rc = parse(argc, argv, &o);
    if (rc == 0 && m.world > 1 && cli_mpi_any(&m, load_checked(&o, &x, &n, &d)))
        rc = CLI_EXIT_DATA; /* the failing rank(s) said why */
    else if (rc == 0 && m.world > 1)
        rc = build_distributed(&o, &m, x, n, d);
    else if (rc == 0 && (rc = load_checked(&o, &x, &n, &d)) == 0)
        rc = build_and_save(&o, x, n, d);
    free(x);
    cli_mpi_stop(&m);
    return rc < 0 ? CLI_EXIT_OK : rc;
}
