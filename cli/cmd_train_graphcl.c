/*
 * cmd_train_graphcl.c — `batchsampler train graphcl`: GraphCL on a TU
 * data set (graphs/graphcl_run.h) with uniform, kNN or BatchSampler (rwr)
 * batches.  Parses options and prints the summary; cmd_train.c
 * dispatches here.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "batcher_opts.h"
#include "cli.h"
#include "graphcl_run.h"
#include "train_opts.h"

int cli_cmd_train_graphcl(int argc, char **argv);

static const char cmd[] = "train graphcl";

typedef struct {
    bsg_run_cfg run;
    int quiet;
} gcl_opts;

static void help(void)
{
    printf(
        "usage: batchsampler train graphcl --data DIR [options]\n"
        "\n"
        "Trains GraphCL (GIN encoder, 3 layers x 32 -> 96-d graph embedding,\n"
        "projection head) on a TU data set: DIR/NAME.txt in the GIN format\n"
        "(see docs/graphs.md).  Views: the original graph and one augmented\n"
        "graph.  Prints SVM accuracy (10-fold, C searched by inner 5-fold CV)\n"
        "of the frozen embeddings at the end.\n"
        "\n"
        "Batches:\n"
        "  --sampler KIND       rwr (BatchSampler, default), knn or uniform\n"
        "  -B, --batch-size B   graphs per batch (default min(128, N))\n"
        "  -M M                 rwr: candidates per node (default min(1000, "
        "N/4))\n"
        "  -K K                 neighbours per node (default min(100, M/4))\n"
        "  --alpha A            rwr restart probability (default 0.2)\n"
        "  --alpha-schedule S   constant (default), step or reference\n"
        "  --epoch-mode M       fixed (default), carry or exact\n"
        "  --graph-mode MODE    rwr graph: shared (default) or independent\n"
        "  --refresh T          rebuild every T batches (default: one "
        "epoch)\n"
        "  --refresh-lag L      background rebuild, in force L batches later\n"
        "  --warmup-epochs W    uniform epochs first (default 1)\n"
        "\n"
        "Training:\n"
        "  --epochs E           epochs (default 20)\n"
        "  --steps-per-epoch S  default ceil(N / B)\n"
        "  --aug A              random2 (default), random3, random4, dnodes,\n"
        "                       pedges, subgraph, mask_nodes or none (as the\n"
        "                       released reference; see graphs/augment.h)\n"
        "  --features F         auto (default: tags if the file has more than\n"
        "                       one, else constant 1, as the reference), "
        "tags,\n"
        "                       degree (one-hot, capped) or constant\n"
        "  --loss L             graphcl (default), infonce, dcl or hcl\n"
        "  --tau T              temperature (default 0.2)\n"
        "  --tau-plus P         dcl/hcl class prior (default 0.1)\n"
        "  --beta BETA          hcl concentration (default 1.0)\n"
        "  --lr LR              Adam learning rate (default 0.01, constant)\n"
        "  --hidden H           GIN width (default 32)\n"
        "  --layers L           GIN layers (default 3)\n"
        "  --seed S             seed of everything (default 0)\n"
        "  --threads T          OpenMP threads (default all)\n"
        "\n"
        "Evaluation and output:\n"
        "  --eval-every E       SVM every E epochs and after the last, 0 = "
        "last\n"
        "                       only (default 10: epochs 10 and 20)\n"
        "  --no-svm             skip the SVM evaluation\n"
        "  --log F.csv          per-epoch CSV (written atomically each "
        "epoch)\n"
        "  --checkpoint F       checkpoint every --ckpt-every epochs (1)\n"
        "  --ckpt-every E\n"
        "  --resume             continue from --checkpoint if it exists\n"
        "  --stop-after E       stop after E epochs of this invocation\n"
        "  -q, --quiet          no progress on stderr\n"
        "  -h, --help           this help\n");
}

enum {
    O_AUG = 256,
    O_LOSS,
    O_TAU,
    O_TAUP,
    O_BETA,
    O_LR,
    O_HIDDEN,
    O_LAYERS,
    O_SEED,
    O_FEAT
};

/* GraphCL's own options (cli_graph_parser's model_opt, on the run
   settings: --lr and --features are there) */
static int parse_model(int c, void *ctx)
{
    bsg_run_cfg *r = ctx;
    bsg_graphcl_cfg *m = &r->model;
    switch (c) {
    case O_AUG:
        return bsg_aug_parse(optarg, &m->aug) == 0
                   ? 0
                   : cli_usage(cmd,
                               "--aug '%s': expected dnodes, pedges, "
                               "subgraph, mask_nodes, random2, random3, "
                               "random4 or none",
                               optarg);
    case O_LOSS:
        return bsg_loss_parse(optarg, &m->loss) == 0
                   ? 0
                   : cli_usage(cmd,
                               "--loss '%s': expected graphcl, infonce, "
                               "dcl or hcl",
                               optarg);
    case O_TAU:
        return cli_parse_f64(cmd, "--tau", optarg, 1e-3, 100, 0, &m->tau);
    case O_TAUP:
        return cli_parse_f64(cmd, "--tau-plus", optarg, 0, 1, 1, &m->tau_plus);
    case O_BETA:
        return cli_parse_f64(cmd, "--beta", optarg, 0, 100, 0, &m->beta);
    case O_LR: return cli_parse_f64(cmd, "--lr", optarg, 1e-8, 10, 0, &r->lr);
    case O_FEAT:
        return bsg_feat_parse(optarg, &r->features) == 0
                   ? 0
                   : cli_usage(cmd,
                               "--features '%s': expected auto, tags, "
                               "degree or constant",
                               optarg);
    case O_HIDDEN:
        return cli_parse_int(cmd, "--hidden", optarg, 1, 1024, &m->hidden);
    case O_LAYERS:
        return cli_parse_int(cmd, "--layers", optarg, 1, BST_GIN_MAX_LAYERS,
                             &m->layers);
    case O_SEED: return cli_parse_u64(cmd, "--seed", optarg, &m->seed);
    }
    return 1;
}

static const struct option LONGS[] = {
    CLI_BATCHER_LONGOPTS,
    CLI_RUN_LONGOPTS,
    {"aug", required_argument, NULL, O_AUG},
    {"loss", required_argument, NULL, O_LOSS},
    {"features", required_argument, NULL, O_FEAT},
    {"tau", required_argument, NULL, O_TAU},
    {"tau-plus", required_argument, NULL, O_TAUP},
    {"beta", required_argument, NULL, O_BETA},
    {"lr", required_argument, NULL, O_LR},
    {"hidden", required_argument, NULL, O_HIDDEN},
    {"layers", required_argument, NULL, O_LAYERS},
    {"seed", required_argument, NULL, O_SEED},
    {NULL, 0, NULL, 0}};

static int parse(int argc, char **argv, gcl_opts *o)
{
    memset(o, 0, sizeof *o);
    bsg_run_cfg_default(&o->run);
    const cli_graph_parser p = {cmd,         &o->run, &o->run.model.batch,
                                parse_model, &o->run, &o->quiet};
    return cli_parse_graph_trainer(&p, argc, argv, LONGS, help);
}

static void summary(const gcl_opts *o, const bsg_run_result *res)
{
    const bsg_run_cfg *r = &o->run;
    printf("GraphCL on %lld graphs  sampler %s  loss %s  aug %s  features %s  "
           "epochs %lld  steps %lld  B %lld M %lld K %lld\n",
           (long long)res->graphs,
           bs_sampler_kind_name(r->batcher.sampler.kind),
           bsg_loss_name(r->model.loss), bsg_aug_name(r->model.aug),
           bsg_feat_name(r->features), (long long)r->epochs,
           (long long)res->last.steps, (long long)res->batch, (long long)res->m,
           (long long)res->k);
    cli_run_summary_tail(res);
}

static int run_graphcl(const bsg_run_cfg *run, const void *model,
                       bsg_run_result *res, char *msg, size_t cap)
{
    (void)model;
    return bsg_graphcl_run(run, res, msg, cap);
}

int cli_cmd_train_graphcl(int argc, char **argv)
{
    gcl_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    bsg_run_result res;
    int finished;
    rc = cli_run_graph_trainer(&o.run, o.quiet, run_graphcl, NULL, &res,
                               &finished);
    if (finished)
        summary(&o, &res);
    return rc;
}
