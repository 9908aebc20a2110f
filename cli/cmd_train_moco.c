/*
 * cmd_train_moco.c — `batchsampler train moco`: MoCo v3 on Fashion-MNIST
 * (vision/moco_run.h) with uniform, kNN or BatchSampler (rwr) batches and
 * the options of `train simclr`, plus the momentum and head widths.
 * Parses options and prints the summary; cmd_train.c dispatches here.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "moco_run.h"
#include "train_opts.h"

int cli_cmd_train_moco(int argc, char **argv);

static const char cmd[] = "train moco";

typedef struct {
    bst_moco_run_cfg mc;
    int quiet;
} moco_opts;

static void help(void)
{
    printf(
        "usage: batchsampler train moco [options]\n"
        "\n"
        "Trains MoCo v3 (ResNet recipe of facebookresearch/moco-v3) on\n"
        "Fashion-MNIST: the SimCLR trunk (small ResNet, 28x28 -> 4w-d\n"
        "feature), projector Linear-BN-ReLU-Linear-BN, predictor on the\n"
        "query branch, a momentum copy of trunk + projector (EMA, momentum\n"
        "from m0 to 1 on a cosine), loss 2T [ctr(q1,k2) + ctr(q2,k1)] with\n"
        "the other keys of the batch as negatives, so the sampler picks\n"
        "them.  Prints kNN top-1 of the test split per epoch and a linear\n"
        "probe at the end (docs/vision.md).\n"
        "\n"
        "Batches (as train simclr):\n"
        "  --sampler KIND       rwr (BatchSampler, default), knn or uniform\n"
        "  -B, --batch-size B   images per batch (default 256; 2B views)\n"
        "  -M M, -K K           rwr candidates (1000) / neighbours (100)\n"
        "  --alpha A            rwr restart probability (default 0.2)\n"
        "  --alpha-schedule S   constant (default), step or reference\n"
        "  --epoch-mode M       fixed (default), carry or exact\n"
        "  --graph-mode MODE    rwr graph: shared (default) or independent\n"
        "  --refresh T          rebuild the graph every T batches (100)\n"
        "  --refresh-lag L      background rebuild, in force L batches later\n"
        "  --warmup-epochs W    uniform epochs first (default 1)\n"
        "  --steps-per-epoch S  default ceil(N / B)\n"
        "\n"
        "Training:\n"
        "  --epochs E           epochs (default 10)\n"
        "  --n N, --test-n N    first N training / test images (default all)\n"
        "  --loss L             infonce (default), dcl or hcl, on the q k^T "
        "logits\n"
        "  --tau T              temperature (default 0.2)\n"
        "  --tau-plus P         dcl/hcl class prior (default 0.1)\n"
        "  --beta BETA          hcl concentration (default 1.0)\n"
        "  --momentum M0        base momentum m0 (default 0.99)\n"
        "  --mlp-dim P          projector / predictor hidden width (256)\n"
        "  --dim D              key / query width (default "
        "128)\n" CLI_VISION_HELP_OPTIM "\n" CLI_VISION_HELP_OUTPUT);
}

enum { O_M0 = 0x4300, O_MLP, O_DIM };

/* MoCo's own options after the shared ones (train_opts.h) */
static int parse_one(int c, void *ctx)
{
    moco_opts *o = ctx;
    bst_simclr_cfg *m = &o->mc.run.model;
    int rc = cli_vision_opt(cmd, c, &o->mc.run, &o->quiet);
    if (rc != 1)
        return rc;
    switch (c) {
    case O_M0:
        return cli_parse_f64(cmd, "--momentum", optarg, 0, 1, 0, &o->mc.m0);
    case O_MLP:
        return cli_parse_int(cmd, "--mlp-dim", optarg, 1, 4096,
                             &m->enc.proj_dim);
    case O_DIM:
        return cli_parse_int(cmd, "--dim", optarg, 1, 4096, &m->enc.out_dim);
    }
    return cli_usage(cmd, "unexpected option");
}

static int parse(int argc, char **argv, moco_opts *o)
{
    static const struct option longs[] = {
        CLI_VISION_LONGOPTS,
        {"momentum", required_argument, NULL, O_M0},
        {"mlp-dim", required_argument, NULL, O_MLP},
        {"dim", required_argument, NULL, O_DIM},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    bst_moco_run_cfg_default(&o->mc);
    int rc = cli_parse_options(cmd, argc, argv, ":hB:M:K:q", longs, help,
                               parse_one, o);
    return rc != 0 ? rc : cli_vision_check(cmd, &o->mc.run);
}

static void summary(const moco_opts *o, const bst_run_result *res)
{
    const bst_run_cfg *r = &o->mc.run;
    printf("moco  sampler %s  loss %s  epochs %lld  steps %lld  m0 %g\n",
           bs_sampler_kind_name(r->batcher.sampler.kind),
           cli_loss_name(r->model.loss.kind), (long long)r->epochs,
           (long long)res->last.steps, o->mc.m0);
    cli_vision_summary_tail(res);
}

typedef struct {
    const bst_moco_run_cfg *cfg;
    bst_run_result *res;
} moco_call;

static int run_moco(void *arg, char *msg, size_t cap)
{
    const moco_call *c = arg;
    return bst_moco_run(c->cfg, c->res, msg, cap);
}

int cli_cmd_train_moco(int argc, char **argv)
{
    moco_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    bst_run_result res;
    moco_call call = {&o.mc, &res};
    int finished;
    rc = cli_run_vision_trainer(&o.mc.run, o.quiet, 1, run_moco, &call, &res,
                                &finished);
    if (finished)
        summary(&o, &res);
    return rc;
}
