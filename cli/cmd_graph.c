/*
 * cmd_graph.c — `batchsampler graph`: embeddings (.npy) -> proximity graph
 * (.bsg).
 */
#include <getopt.h>
#include <stdlib.h>

#include "cli.h"

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
        "  -h, --help         this help\n");
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

int cli_cmd_graph(int argc, char **argv)
{
    graph_opts o = {0};
    bs_error err = {0};
    float *x = NULL;
    int64_t n = 0, d = 0;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (bs_npy_load_matrix(o.emb, &x, &n, &d, &err) != BS_OK)
        return cli_fail(&err);
    if (bs_check_embeddings(x, n, d, &err) != BS_OK) {
        /* the library's message says which row; add which file */
        bs_error named = err;
        cli_set_error(&named, err.code, "%s: %s", o.emb, err.msg);
        rc = cli_fail(&named);
    } else {
        rc = build_and_save(&o, x, n, d);
    }
    free(x);
    return rc;
}
