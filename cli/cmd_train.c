/*
 * cmd_train.c — `batchsampler train simclr`: the reference SimCLR trainer on
 * Fashion-MNIST (vision/simclr_run.h) with uniform, kNN or BatchSampler
 * (rwr) batches.  This file only parses options and prints the summary.
 */
#include <getopt.h>

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpi_cli.h"
#include "simclr_run.h"
#include "train_opts.h"

static const char cmd[] = "train";

int cli_cmd_train_graphcl(int argc, char **argv); /* cmd_train_graphcl.c */
int cli_cmd_train_mvgrl(int argc, char **argv);   /* cmd_train_mvgrl.c */
int cli_cmd_train_simcse(int argc, char **argv);  /* cmd_train_simcse.c */
int cli_cmd_train_moco(int argc, char **argv);    /* cmd_train_moco.c */

typedef struct {
    bst_run_cfg run;
    int quiet;
} train_opts;

static void help(void)
{
    printf(
        "usage: batchsampler train simclr [options]\n"
        "\n"
        "Trains a SimCLR encoder (small ResNet, 28x28 -> 4w-d feature ->\n"
        "projection -> D-d) on Fashion-MNIST with in-batch negatives, the\n"
        "batches coming from the chosen sampler.  Every sampler runs the same\n"
        "number of steps.  Prints kNN top-1 (k = 200, weights exp(sim/0.5)) "
        "of\n"
        "the test split every epoch and a linear probe at the end.\n"
        "\n"
        "Batches:\n"
        "  --sampler KIND       rwr (BatchSampler, default), knn (exact kNN\n"
        "                       graph + BFS) or uniform\n"
        "  -B, --batch-size B   images per batch (default 256; 2B views)\n"
        "  -M M                 rwr: candidates per node (default 1000)\n"
        "  -K K                 neighbours per node (default 100)\n"
        "  --alpha A            rwr restart probability in [0, 1) (default "
        "0.2)\n"
        "  --alpha-schedule S   constant (default), step (0.1 less every 5\n"
        "                       epochs; 'decay' is its old name) or "
        "reference\n"
        "                       (the reference code's: 0.02 less every "
        "epoch)\n"
        "  --epoch-mode M       fixed (default: coverage cleared every "
        "epoch),\n"
        "                       carry (kept until every image has appeared) "
        "or\n"
        "                       exact (every image once per pass)\n"
        "  --graph-mode MODE    rwr graph: shared (default) or independent\n"
        "  --refresh T          rebuild the graph every T batches (default "
        "100)\n"
        "  --refresh-lag L      build in the background, in force L batches "
        "after\n"
        "                       it starts (default 0: at once)\n"
        "  --warmup-epochs W    uniform epochs before the graph sampler "
        "(default 1)\n"
        "\n"
        "Training:\n"
        "  --epochs E           epochs (default 10)\n"
        "  --steps-per-epoch S  default ceil(N / B)\n"
        "  --n N                training images used, the first N (default "
        "all 60000)\n"
        "  --test-n N           test images used (default all 10000)\n"
        "  --loss L             infonce (default), dcl or hcl\n"
        "  --tau T              temperature (default 0.2)\n"
        "  --tau-plus P         dcl/hcl class prior (default 0.1)\n"
        "  --beta BETA          hcl concentration (default "
        "1.0)\n" CLI_VISION_HELP_OPTIM "\n" CLI_VISION_HELP_OUTPUT "\n"
        "Under mpirun -np W: data-parallel, B images per rank of a global "
        "batch\n"
        "of W x B (the loss sees the whole global batch; synchronised batch\n"
        "norm); rank 0 evaluates and writes the log and checkpoints; equal "
        "to a\n"
        "single run with -B W*B up to rounding (docs/scaling.md).\n");
}

static int parse_one(int c, void *ctx)
{
    train_opts *o = ctx;
    int rc = cli_vision_opt(cmd, c, &o->run, &o->quiet);
    return rc != 1 ? rc : cli_usage(cmd, "unexpected option");
}

static int parse(int argc, char **argv, train_opts *o)
{
    static const struct option longs[] = {CLI_VISION_LONGOPTS,
                                          {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    bst_run_cfg_default(&o->run);
    int rc = cli_parse_options(cmd, argc, argv, ":hB:M:K:q", longs, help,
                               parse_one, o);
    return rc != 0 ? rc : cli_vision_check(cmd, &o->run);
}

static int train_simclr(int argc, char **argv, cli_mpi *m);

int cli_cmd_train(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 &&
            (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
            help();
            return CLI_EXIT_OK;
        }
        return cli_usage(cmd, "expected a trainer: 'batchsampler train "
                              "simclr [options]'");
    }
    /* the trainers that run on one process refuse W copies of themselves */
    static const struct {
        const char *name, *cmd;
        int (*run)(int, char **);
    } single[] = {{"graphcl", "train graphcl", cli_cmd_train_graphcl},
                  {"mvgrl", "train mvgrl", cli_cmd_train_mvgrl},
                  {"simcse", "train simcse", cli_cmd_train_simcse},
                  {"moco", "train moco", cli_cmd_train_moco}};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (strcmp(argv[1], single[i].name) == 0)
            return cli_mpi_single(single[i].cmd)
                       ? CLI_EXIT_USAGE
                       : single[i].run(argc - 1, argv + 1);
    if (strcmp(argv[1], "simclr") != 0)
        return cli_usage(cmd,
                         "unknown trainer '%s': expected simclr, moco, "
                         "graphcl, mvgrl or simcse",
                         argv[1]);
    cli_mpi m;
    int rc = cli_mpi_start(cmd, &m);
    if (rc == 0)
        rc = train_simclr(argc - 1, argv + 1, &m);
    cli_mpi_stop(&m);
    return rc;
}

typedef struct {
    const bst_run_cfg *cfg;
    bst_run_result *res;
} simclr_call;

static int run_simclr(void *arg, char *msg, size_t cap)
{
    const simclr_call *c = arg;
    return bst_simclr_run(c->cfg, c->res, msg, cap);
}

/* `train simclr` on this rank (m: rank 0 of 1 without mpirun). */
static int train_simclr(int argc, char **argv, cli_mpi *m)
{
    train_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    bst_dist dist = {m->rank,         m->world,        cli_mpi_allgather,
                     cli_mpi_sum_f32, cli_mpi_sum_f64, m};
    if (m->world > 1)
        o.run.dist = &dist;
    if (m->rank != 0)
        o.quiet = 1;
    bst_run_result res;
    simclr_call call = {&o.run, &res};
    int finished;
    rc = cli_run_vision_trainer(&o.run, o.quiet, m->rank == 0, run_simclr,
                                &call, &res, &finished);
    if (rc != CLI_EXIT_OK) /* the other ranks may be waiting in a collective */
        return cli_mpi_abort(m, rc);
    if (!finished)
        return CLI_EXIT_OK;
    printf("sampler %s  loss %s  epochs %lld  steps %lld\n",
           bs_sampler_kind_name(o.run.batcher.sampler.kind),
           cli_loss_name(o.run.model.loss.kind), (long long)o.run.epochs,
           (long long)res.last.steps);
    cli_vision_summary_tail(&res);
    if (m->world > 1 && res.graph_builds > 0 && res.graph_rows > 0)
        printf("graph: %lld rebuilds, each split over the processes (rank 0 "
               "built %lld rows)\n",
               (long long)res.graph_builds, (long long)res.graph_rows);
    else if (m->world > 1 && res.graph_builds > 0)
        printf("graph: %lld rebuilds, each built whole by every process "
               "(refresh lag > 0)\n",
               (long long)res.graph_builds);
    return CLI_EXIT_OK;
}
