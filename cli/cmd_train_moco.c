/*
 * cmd_train_moco.c — `batchsampler train moco`: MoCo v3 on Fashion-MNIST
 * (vision/moco_run.h) with uniform, kNN or BatchSampler (rwr) batches and
 * the options of `train simclr`, plus the momentum and head widths.
 * Parses options and prints the summary; cmd_train.c dispatches here.
 */
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "batcher_opts.h"
#include "cli.h"
#include "moco_run.h"

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
        "  --dim D              key / query width (default 128)\n"
        "  --lr LR              AdamW learning rate (default 1e-3), cosine "
        "to 0\n"
        "  --lr-warmup STEPS    linear warm-up steps (default one epoch)\n"
        "  --wd WD              weight decay (default 1e-6)\n"
        "  --width W            encoder width (default 16: 64-d feature)\n"
        "  --seed S             seed of everything (default 0)\n"
        "  --threads T          OpenMP threads (default all)\n"
        "\n"
        "Evaluation and output (as train simclr):\n"
        "  --eval-every E       kNN every E epochs, 0 = last only (default "
        "1)\n"
        "  --no-probe           skip the final linear probe\n"
        "  --log F.csv          per-epoch CSV (written atomically each epoch)\n"
        "  --checkpoint F       checkpoint, atomically every --ckpt-every E\n"
        "  --ckpt-every E       epochs (default 1)\n"
        "  --resume             continue from --checkpoint if it exists\n"
        "  --stop-after E       stop after E epochs of this invocation\n"
        "  --data-dir DIR       Fashion-MNIST .gz files (default\n"
        "                       /usr/share/datasets/fashion-mnist)\n"
        "  -q, --quiet          no progress on stderr\n"
        "  -h, --help           this help\n");
}

enum {
    O_EPOCHS = 256,
    O_N,
    O_TESTN,
    O_LOSS,
    O_TAU,
    O_TAUP,
    O_BETA,
    O_M0,
    O_MLP,
    O_DIM,
    O_LR,
    O_LRW,
    O_WD,
    O_WIDTH,
    O_SEED,
    O_THREADS,
    O_EVAL,
    O_NOPROBE,
    O_LOG,
    O_CKPT,
    O_CKPTE,
    O_RESUME,
    O_STOP,
    O_DATA
};

/* the model's options; 1 when c is not one */
static int parse_model(int c, bst_moco_run_cfg *mc)
{
    bst_simclr_cfg *m = &mc->run.model;
    static const char *losses[] = {"infonce", "dcl", "hcl"};
    switch (c) {
    case O_LOSS:
        for (int i = 0; i < 3; i++)
            if (strcmp(optarg, losses[i]) == 0) {
                m->loss.kind = (bst_loss_kind)i;
                return 0;
            }
        return cli_usage(cmd, "--loss '%s': expected infonce, dcl or hcl",
                         optarg);
    case O_TAU:
        return cli_parse_f64(cmd, "--tau", optarg, 1e-3, 100, 0, &m->loss.tau);
    case O_TAUP:
        return cli_parse_f64(cmd, "--tau-plus", optarg, 0, 1, 1,
                             &m->loss.tau_plus);
    case O_BETA:
        return cli_parse_f64(cmd, "--beta", optarg, 0, 100, 0, &m->loss.beta);
    case O_M0:
        return cli_parse_f64(cmd, "--momentum", optarg, 0, 1, 0, &mc->m0);
    case O_MLP:
        return cli_parse_int(cmd, "--mlp-dim", optarg, 1, 4096,
                             &m->enc.proj_dim);
    case O_DIM:
        return cli_parse_int(cmd, "--dim", optarg, 1, 4096, &m->enc.out_dim);
    case O_WD:
        return cli_parse_f64(cmd, "--wd", optarg, 0, 10, 0, &m->weight_decay);
    case O_WIDTH:
        return cli_parse_int(cmd, "--width", optarg, 1, 256, &m->enc.width);
    case O_SEED: return cli_parse_u64(cmd, "--seed", optarg, &m->seed);
    }
    return 1;
}

static int parse_one(int c, void *ctx)
{
    moco_opts *o = ctx;
    bst_run_cfg *r = &o->mc.run;
    int rc, t = 0;
    if ((rc = cli_batcher_opt(cmd, c, &r->batcher, &r->model.batch)) != 1 ||
        (rc = parse_model(c, &o->mc)) != 1)
        return rc;
    switch (c) {
    case O_EPOCHS:
        return cli_parse_i64(cmd, "--epochs", optarg, 1, 1 << 20, &r->epochs);
    case O_N: return cli_parse_i64(cmd, "--n", optarg, 2, 1 << 30, &r->train_n);
    case O_TESTN:
        return cli_parse_i64(cmd, "--test-n", optarg, 1, 1 << 30, &r->test_n);
    case O_LR: return cli_parse_f64(cmd, "--lr", optarg, 1e-8, 10, 0, &r->lr);
    case O_LRW:
        return cli_parse_i64(cmd, "--lr-warmup", optarg, 0, 1 << 30,
                             &r->lr_warmup_steps);
    case O_THREADS:
        if ((rc = cli_parse_int(cmd, "--threads", optarg, 1, 1024, &t)))
            return rc;
        omp_set_num_threads(t);
        return 0;
    case O_EVAL:
        return cli_parse_i64(cmd, "--eval-every", optarg, 0, 1 << 20,
                             &r->eval_every);
    case O_NOPROBE: r->probe = 0; return 0;
    case O_LOG: r->log_path = optarg; return 0;
    case O_CKPT: r->ckpt_path = optarg; return 0;
    case O_CKPTE:
        return cli_parse_i64(cmd, "--ckpt-every", optarg, 1, 1 << 20,
                             &r->ckpt_every);
    case O_RESUME: r->resume = 1; return 0;
    case O_STOP:
        return cli_parse_i64(cmd, "--stop-after", optarg, 1, 1 << 20,
                             &r->stop_after);
    case O_DATA: r->data_dir = optarg; return 0;
    case 'q': o->quiet = 1; return 0;
    }
    return cli_usage(cmd, "unexpected option");
}

static int parse(int argc, char **argv, moco_opts *o)
{
    static const struct option longs[] = {
        CLI_BATCHER_LONGOPTS,
        {"epochs", required_argument, NULL, O_EPOCHS},
        {"n", required_argument, NULL, O_N},
        {"test-n", required_argument, NULL, O_TESTN},
        {"loss", required_argument, NULL, O_LOSS},
        {"tau", required_argument, NULL, O_TAU},
        {"tau-plus", required_argument, NULL, O_TAUP},
        {"beta", required_argument, NULL, O_BETA},
        {"momentum", required_argument, NULL, O_M0},
        {"mlp-dim", required_argument, NULL, O_MLP},
        {"dim", required_argument, NULL, O_DIM},
        {"lr", required_argument, NULL, O_LR},
        {"lr-warmup", required_argument, NULL, O_LRW},
        {"wd", required_argument, NULL, O_WD},
        {"width", required_argument, NULL, O_WIDTH},
        {"seed", required_argument, NULL, O_SEED},
        {"threads", required_argument, NULL, O_THREADS},
        {"eval-every", required_argument, NULL, O_EVAL},
        {"no-probe", no_argument, NULL, O_NOPROBE},
        {"log", required_argument, NULL, O_LOG},
        {"checkpoint", required_argument, NULL, O_CKPT},
        {"ckpt-every", required_argument, NULL, O_CKPTE},
        {"resume", no_argument, NULL, O_RESUME},
        {"stop-after", required_argument, NULL, O_STOP},
        {"data-dir", required_argument, NULL, O_DATA},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    bst_moco_run_cfg_default(&o->mc);
    int rc = cli_parse_options(cmd, argc, argv, ":hB:M:K:q", longs, help,
                               parse_one, o);
    if (rc != 0)
        return rc;
    const bst_run_cfg *r = &o->mc.run;
    const bs_batcher_params *b = &r->batcher;
    if (b->sampler.kind == BS_SAMPLER_RWR && b->graph.k > b->graph.m)
        return cli_usage(cmd, "-K %d is larger than -M %lld", (int)b->graph.k,
                         (long long)b->graph.m);
    if ((r->resume || r->stop_after) && !r->ckpt_path)
        return cli_usage(cmd, "%s needs --checkpoint",
                         r->resume ? "--resume" : "--stop-after");
    const cli_path out[] = {{"--log", r->log_path},
                            {"--checkpoint", r->ckpt_path}};
    return cli_check_paths(cmd, NULL, 0, out, 2);
}

typedef struct {
    cli_progress prog;
    int64_t epochs;
} moco_progress;

/* the bar between epochs, one line per finished epoch */
static int on_progress(void *ctx, int64_t step, int64_t total,
                       const bst_epoch_log *e)
{
    moco_progress *mp = ctx;
    if (!e) {
        cli_progress_update(&mp->prog, step, total);
        return cli_signals_pending();
    }
    if (!mp->prog.quiet) {
        if (mp->prog.shown && mp->prog.tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "epoch %lld/%lld  loss %.4f  kNN ",
                (long long)e->epoch + 1, (long long)mp->epochs, e->loss);
        if (e->knn_top1 >= 0)
            fprintf(stderr, "%.2f%%", 100 * e->knn_top1);
        else
            fputc('-', stderr);
        fprintf(stderr,
                "  hardness %.3f  FN %.3f  coverage %.3f  sampler %.1fs  "
                "epoch %.1fs\n",
                e->mean_sim, e->fn_rate, e->coverage, e->sampler_s, e->total_s);
        mp->prog.shown = 0;
    }
    return cli_signals_pending();
}

static void summary(const moco_opts *o, const bst_run_result *res)
{
    static const char *losses[] = {"infonce", "dcl", "hcl"};
    const bst_run_cfg *r = &o->mc.run;
    printf("moco  sampler %s  loss %s  epochs %lld  steps %lld  m0 %g\n",
           bs_sampler_kind_name(r->batcher.sampler.kind),
           losses[r->model.loss.kind], (long long)r->epochs,
           (long long)res->last.steps, o->mc.m0);
    printf("kNN top-1 %.2f%%", 100 * res->knn_top1);
    if (res->probe_top1 >= 0)
        printf("  linear probe top-1 %.2f%%", 100 * res->probe_top1);
    printf("\nbatches: hardness %.4f  hardest negative %.4f  false negatives "
           "%.4f\n",
           res->mean_sim, res->hard_sim, res->fn_rate);
    printf("time: %.1f s total, %.1f s graph + sampling, %.1f s evaluation\n",
           res->total_s, res->sampler_s, res->eval_s);
}

int cli_cmd_train_moco(int argc, char **argv)
{
    moco_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    moco_progress mp = {.epochs = o.mc.run.epochs};
    cli_progress_start(&mp.prog, "training", o.quiet);
    o.mc.run.progress = on_progress;
    o.mc.run.progress_ctx = &mp;
    bst_run_result res;
    char msg[BS_ERROR_MSG_MAX];
    /* a signal waits for the step in progress, then stops the run */
    cli_signals_defer();
    int st = bst_moco_run(&o.mc, &res, msg, sizeof msg);
    cli_progress_end(&mp.prog, st == BST_OK);
    cli_signals_resume();
    if (st != BST_OK) {
        fprintf(stderr, "batchsampler: %s\n", msg);
        return CLI_EXIT_DATA;
    }
    if (res.knn_top1 < 0) { /* --stop-after */
        printf("stopped after %lld epochs; resume with --resume\n",
               (long long)res.epochs_run);
        return CLI_EXIT_OK;
    }
    summary(&o, &res);
    return CLI_EXIT_OK;
}
