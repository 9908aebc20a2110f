/*
 * main.c — `batchsampler`: dispatches to the subcommands (cmd_*.c).
 */
#include <string.h>

#include "cli.h"
#include "mpi_cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    int mpi; /* runs under mpirun (train: per trainer, in cmd_train.c) */
} cli_command;

static const cli_command commands[] = {
    {"graph", cli_cmd_graph, "build a proximity graph from embeddings", 1},
    {"sample", cli_cmd_sample, "sample mini-batches (rwr, knn, uniform)", 1},
    {"stats", cli_cmd_stats, "hardness, false negatives, coverage of batches",
     0},
    {"demo", cli_cmd_demo, "SimCLR with uniform vs BatchSampler batches", 0},
    {"compare", cli_cmd_compare, "compare the samplers on fixed embeddings", 0},
    {"synth", cli_cmd_synth, "write a synthetic clustered data set", 0},
    {"train", cli_cmd_train,
     "train a contrastive encoder (simclr, moco, simcse, graphcl, mvgrl)", 1},
    {"eval", cli_cmd_eval, "evaluate sentence embeddings on STS (eval sts)", 0},
};

static const size_t n_commands = sizeof commands / sizeof commands[0];

static void top_help(FILE *f)
{
    fprintf(f, "usage: batchsampler <command> [options]\n"
               "       batchsampler <command> --help\n"
               "       batchsampler --version\n"
               "\n"
               "Mini-batch sampling for in-batch contrastive learning "
               "(BatchSampler, KDD 2023).\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < n_commands; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "Exit status: 0 success, 1 data or I/O error, 2 usage error.\n"
               "A typical run:\n"
               "  batchsampler graph --emb X.npy -M 1000 -K 100 -o G.bsg\n"
               "  batchsampler sample --graph G.bsg -B 256 --alpha 0.2 "
               "-o batches.npy\n"
               "  batchsampler stats --emb X.npy --labels y.npy "
               "--batches batches.npy\n");
}

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* `batchsampler help [cmd]` is `batchsampler [cmd] --help`. */
static int run_help(int argc, char **argv)
{
    const cli_command *c;
    char help[] = "--help";
    char *sub[3];
    if (argc < 3) {
        top_help(stdout);
        return CLI_EXIT_OK;
    }
    c = find_command(argv[2]);
    if (!c) {
        fprintf(stderr,
                "batchsampler: unknown command '%s' (try "
                "'batchsampler --help')\n",
                argv[2]);
        return CLI_EXIT_USAGE;
    }
    sub[0] = argv[2];
    sub[1] = help;
    sub[2] = NULL;
    return c->run(2, sub);
}

int main(int argc, char **argv)
{
    const cli_command *c;
    if (argc < 2) {
        top_help(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        top_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("batchsampler %s (library %s)\n", BS_VERSION_STRING,
               bs_version());
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0)
        return run_help(argc, argv);
    c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr,
                "batchsampler: unknown command '%s' (try "
                "'batchsampler --help')\n",
                argv[1]);
        return CLI_EXIT_USAGE;
    }
    if (!c->mpi && cli_mpi_single(c->name))
        return CLI_EXIT_USAGE;
    cli_getopt_reset();
    cli_signals_init();
    return c->run(argc - 1, argv + 1);
}
