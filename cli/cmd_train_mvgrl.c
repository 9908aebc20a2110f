/*
 * cmd_train_mvgrl.c — `batchsampler train mvgrl`: MVGRL on a TU data set
 * (graphs/mvgrl_run.h) with uniform, kNN or BatchSampler (rwr) batches.
 * The batcher, run and output options are `train graphcl`'s (same names,
 * same checks); the model options are MVGRL's.  cmd_train.c dispatches
 * here.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "batcher_opts.h"
#include "cli.h"
#include "mvgrl_run.h"
#include "train_opts.h"

int cli_cmd_train_mvgrl(int argc, char **argv);

static const char cmd[] = "train mvgrl";

typedef struct {
    bsg_run_cfg run;
    bsg_mvgrl_cfg model;
    int quiet;
} gcl_opts;

static void help(void)
{
    printf(
        "usage: batchsampler train mvgrl --data DIR [options]\n"
        "\n"
        "Trains MVGRL (two GCN encoders, adjacency and PPR diffusion views,\n"
        "shared MLP heads, local-global JSD loss whose negatives are the\n"
        "batch's other graphs) on a TU data set: DIR/NAME.txt in the GIN\n"
        "format (see docs/graphs.md).  Prints linear-SVM accuracy (10-fold,\n"
        "C searched by inner 5-fold CV) of the frozen embeddings (sum of\n"
        "both views' graph representations) at the end.\n"
        "\n"
        "Batches:\n"
        "  --sampler KIND       rwr (BatchSampler, default), knn or uniform\n"
        "  -B, --batch-size B   graphs per batch (default min(64, N))\n"
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
        "  --lr LR              Adam learning rate (default 0.001, constant)\n"
        "  --hidden H           GCN and head width (default 128)\n"
        "  --layers L           GCN layers (default 4)\n"
        "  --ppr-alpha A        PPR diffusion teleport, (0, 1] (default 0.2)\n"
        "  --seed S             seed of everything (default 0)\n"
        "  --features F         node features: auto (default: the reference's\n"
        "                       one-hot node label then one-hot degree, or "
        "the\n"
        "                       degree alone for a set with one node label),\n"
        "                       tags (the label only; degree capped at 64 for\n"
        "                       a set with one label), degree or tags+degree\n"
        "  --threads T          OpenMP threads (default all)\n"
        "\n"
        "Evaluation and output:\n"
        "  --eval-every E       SVM every E epochs, 0 = last only (default 0)\n"
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

enum { O_PPR = 256, O_LR, O_HIDDEN, O_LAYERS, O_SEED, O_FEAT };

/* MVGRL's own options (cli_graph_parser's model_opt) */
static int parse_model(int c, void *ctx)
{
    bsg_mvgrl_cfg *m = ctx;
    switch (c) {
    case O_PPR:
        return cli_parse_f64(cmd, "--ppr-alpha", optarg, 1e-6, 1, 0, &m->alpha);
    case O_LR: return cli_parse_f64(cmd, "--lr", optarg, 1e-8, 10, 0, &m->lr);
    case O_HIDDEN:
        return cli_parse_int(cmd, "--hidden", optarg, 1, 1024, &m->hidden);
    case O_LAYERS:
        return cli_parse_int(cmd, "--layers", optarg, 1, 16, &m->layers);
    case O_SEED: return cli_parse_u64(cmd, "--seed", optarg, &m->seed);
    case O_FEAT:
        return bsg_mvgrl_feat_parse(optarg, &m->features) == 0
                   ? 0
                   : cli_usage(cmd,
                               "--features '%s': expected auto, tags, "
                               "degree or tags+degree",
                               optarg);
    }
    return 1;
}

static const struct option LONGS[] = {
    CLI_BATCHER_LONGOPTS,
    CLI_RUN_LONGOPTS,
    {"ppr-alpha", required_argument, NULL, O_PPR},
    {"lr", required_argument, NULL, O_LR},
    {"hidden", required_argument, NULL, O_HIDDEN},
    {"layers", required_argument, NULL, O_LAYERS},
    {"seed", required_argument, NULL, O_SEED},
    {"features", required_argument, NULL, O_FEAT},
    {NULL, 0, NULL, 0}};

static int parse(int argc, char **argv, gcl_opts *o)
{
    memset(o, 0, sizeof *o);
    bsg_run_cfg_default(&o->run);
    bsg_mvgrl_cfg_default(&o->model);
    const cli_graph_parser p = {cmd,         &o->run,   &o->model.batch,
                                parse_model, &o->model, &o->quiet};
    return cli_parse_graph_trainer(&p, argc, argv, LONGS, help);
}

static void summary(const gcl_opts *o, const bsg_run_result *res)
{
    const bsg_run_cfg *r = &o->run;
    printf("MVGRL on %lld graphs  sampler %s  features %s  hidden %d  layers "
           "%d  epochs %lld  steps %lld  B %lld M %lld K %lld\n",
           (long long)res->graphs,
           bs_sampler_kind_name(r->batcher.sampler.kind),
           bsg_mvgrl_feat_name(o->model.features), o->model.hidden,
           o->model.layers, (long long)r->epochs, (long long)res->last.steps,
           (long long)res->batch, (long long)res->m, (long long)res->k);
    cli_run_summary_tail(res);
}

static int run_mvgrl(const bsg_run_cfg *run, const void *model,
                     bsg_run_result *res, char *msg, size_t cap)
{
    return bsg_mvgrl_run(run, model, res, msg, cap);
}

int cli_cmd_train_mvgrl(int argc, char **argv)
{
    gcl_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    bsg_run_result res;
    int finished;
    rc = cli_run_graph_trainer(&o.run, o.quiet, run_mvgrl, &o.model, &res,
                               &finished);
    if (finished)
        summary(&o, &res);
    return rc;
}
