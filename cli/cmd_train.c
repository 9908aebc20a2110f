/*
 * cmd_train.c — `batchsampler train simclr`: the reference SimCLR trainer on
 * Fashion-MNIST (vision/simclr_run.h) with uniform, kNN or BatchSampler
 * (rwr) batches.  This file only parses options and prints the summary.
 */
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "batcher_opts.h"
#include "cli.h"
#include "mpi_cli.h"
#include "simclr_run.h"

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
        "  --beta BETA          hcl concentration (default 1.0)\n"
        "  --lr LR              AdamW learning rate (default 1e-3), cosine to "
        "0\n"
        "  --lr-warmup STEPS    linear warm-up steps (default one epoch)\n"
        "  --wd WD              weight decay (default 1e-6)\n"
        "  --width W            encoder width (default 16: 64-d feature)\n"
        "  --seed S             seed of everything (default 0)\n"
        "  --threads T          OpenMP threads (default all)\n"
        "\n"
        "Evaluation and output:\n"
        "  --eval-every E       kNN every E epochs, 0 = last only (default "
        "1)\n"
        "  --no-probe           skip the final linear probe\n"
        "  --log F.csv          per-epoch CSV (written atomically each "
        "epoch)\n"
        "  --checkpoint F       checkpoint written atomically every "
        "--ckpt-every\n"
        "                       epochs (default 1)\n"
        "  --ckpt-every E\n"
        "  --resume             continue from --checkpoint if it exists\n"
        "  --stop-after E       stop after E epochs of this invocation (to\n"
        "                       test resuming)\n"
        "  --data-dir DIR       Fashion-MNIST .gz files (default\n"
        "                       /usr/share/datasets/fashion-mnist)\n"
        "  -q, --quiet          no progress on stderr\n"
        "  -h, --help           this help\n"
        "\n"
        "Under mpirun -np W: data-parallel, B images per rank of a global "
        "batch\n"
        "of W x B (the loss sees the whole global batch; synchronised batch\n"
        "norm); rank 0 evaluates and writes the log and checkpoints; equal "
        "to a\n"
        "single run with -B W*B up to rounding (docs/scaling.md).\n");
}

enum {
    O_EPOCHS = 256,
    O_N,
    O_TESTN,
    O_LOSS,
    O_TAU,
    O_TAUP,
    O_BETA,
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

static int parse_loss(const char *s, bst_loss_kind *k)
{
    static const char *names[] = {"infonce", "dcl", "hcl"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *k = (bst_loss_kind)i;
            return 0;
        }
    return cli_usage(cmd, "--loss '%s': expected infonce, dcl or hcl", s);
}

static int parse_one(int c, void *ctx)
{
    train_opts *o = ctx;
    bst_run_cfg *r = &o->run;
    int rc;
    if ((rc = cli_batcher_opt(cmd, c, &r->batcher, &r->model.batch)) != 1)
        return rc;
    switch (c) {
    case O_EPOCHS:
        return cli_parse_i64(cmd, "--epochs", optarg, 1, 1 << 20, &r->epochs);
    case O_N: return cli_parse_i64(cmd, "--n", optarg, 2, 1 << 30, &r->train_n);
    case O_TESTN:
        return cli_parse_i64(cmd, "--test-n", optarg, 1, 1 << 30, &r->test_n);
    case O_LOSS: return parse_loss(optarg, &r->model.loss.kind);
    case O_TAU:
        if ((rc = cli_parse_f64(cmd, "--tau", optarg, 1e-3, 100, 0,
                                &r->model.loss.tau)))
            return rc;
        return 0;
    case O_TAUP:
        return cli_parse_f64(cmd, "--tau-plus", optarg, 0, 1, 1,
                             &r->model.loss.tau_plus);
    case O_BETA:
        return cli_parse_f64(cmd, "--beta", optarg, 0, 100, 0,
                             &r->model.loss.beta);
    case O_LR: return cli_parse_f64(cmd, "--lr", optarg, 1e-8, 10, 0, &r->lr);
    case O_LRW:
        return cli_parse_i64(cmd, "--lr-warmup", optarg, 0, 1 << 30,
                             &r->lr_warmup_steps);
    case O_WD:
        return cli_parse_f64(cmd, "--wd", optarg, 0, 10, 0,
                             &r->model.weight_decay);
    case O_WIDTH:
        return cli_parse_int(cmd, "--width", optarg, 1, 256,
                             &r->model.enc.width);
    case O_SEED: return cli_parse_u64(cmd, "--seed", optarg, &r->model.seed);
    case O_THREADS: {
        int t = 0;
        if ((rc = cli_parse_int(cmd, "--threads", optarg, 1, 1024, &t)))
            return rc;
        omp_set_num_threads(t);
        return 0;
    }
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

static int parse(int argc, char **argv, train_opts *o)
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
    bst_run_cfg_default(&o->run);
    int rc = cli_parse_options(cmd, argc, argv, ":hB:M:K:q", longs, help,
                               parse_one, o);
    if (rc != 0)
        return rc;
    bst_run_cfg *r = &o->run;
    if (r->batcher.sampler.kind == BS_SAMPLER_RWR &&
        r->batcher.graph.k > r->batcher.graph.m)
        return cli_usage(cmd, "-K %d is larger than -M %lld",
                         (int)r->batcher.graph.k,
                         (long long)r->batcher.graph.m);
    if (r->resume && !r->ckpt_path)
        return cli_usage(cmd, "--resume needs --checkpoint");
    if (r->stop_after && !r->ckpt_path)
        return cli_usage(cmd, "--stop-after needs --checkpoint");
    const cli_path out[] = {{"--log", r->log_path},
                            {"--checkpoint", r->ckpt_path}};
    return cli_check_paths(cmd, NULL, 0, out, 2);
}

typedef struct {
    cli_progress prog;
    int64_t epochs;
} train_progress;

static int on_progress(void *ctx, int64_t step, int64_t total,
                       const bst_epoch_log *last)
{
    train_progress *tp = ctx;
    if (last && !tp->prog.quiet) {
        char knn[32] = "-";
        if (last->knn_top1 >= 0)
            snprintf(knn, sizeof knn, "%.2f%%", 100 * last->knn_top1);
        if (tp->prog.shown && tp->prog.tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr,
                "epoch %lld/%lld  loss %.4f  kNN %s  hardness %.3f  FN "
                "%.3f  coverage %.3f  sampler %.1fs  epoch %.1fs\n",
                (long long)last->epoch + 1, (long long)tp->epochs, last->loss,
                knn, last->mean_sim, last->fn_rate, last->coverage,
                last->sampler_s, last->total_s);
        tp->prog.shown = 0;
        return cli_signals_pending();
    }
    cli_progress_update(&tp->prog, step, total);
    return cli_signals_pending(); /* a signal stops the run between steps */
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
    if (strcmp(argv[1], "graphcl") == 0)
        return cli_cmd_train_graphcl(argc - 1, argv + 1);
    if (strcmp(argv[1], "mvgrl") == 0)
        return cli_cmd_train_mvgrl(argc - 1, argv + 1);
    if (strcmp(argv[1], "simcse") == 0)
        return cli_cmd_train_simcse(argc - 1, argv + 1);
    if (strcmp(argv[1], "moco") == 0)
        return cli_cmd_train_moco(argc - 1, argv + 1);
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
    train_progress tp = {.epochs = o.run.epochs};
    cli_progress_start(&tp.prog, "training", o.quiet);
    o.run.progress = on_progress;
    o.run.progress_ctx = &tp;
    bst_run_result res;
    char msg[BS_ERROR_MSG_MAX];
    /* the log and checkpoints are written between epochs: a signal waits
       for the step in progress, then stops the run (on_progress) */
    cli_signals_defer();
    int st = bst_simclr_run(&o.run, &res, msg, sizeof msg);
    cli_progress_end(&tp.prog, st == BST_OK);
    cli_signals_resume();
    if (st != BST_OK) {
        fprintf(stderr, "batchsampler: %s\n", msg);
        /* the other ranks may be waiting in a collective */
        return cli_mpi_abort(m, CLI_EXIT_DATA);
    }
    if (m->rank != 0)
        return CLI_EXIT_OK;
    if (res.knn_top1 < 0) { /* stopped early (--stop-after) */
        printf("stopped after %lld epochs; resume with --resume\n",
               (long long)res.epochs_run);
        return CLI_EXIT_OK;
    }
    printf("sampler %s  loss %s  epochs %lld  steps %lld\n",
           bs_sampler_kind_name(o.run.batcher.sampler.kind),
           o.run.model.loss.kind == BST_LOSS_INFONCE ? "infonce"
           : o.run.model.loss.kind == BST_LOSS_DCL   ? "dcl"
                                                     : "hcl",
           (long long)o.run.epochs, (long long)res.last.steps);
    printf("kNN top-1 %.2f%%", 100 * res.knn_top1);
    if (res.probe_top1 >= 0)
        printf("  linear probe top-1 %.2f%%", 100 * res.probe_top1);
    printf("\nbatches: hardness %.4f  hardest negative %.4f  false negatives "
           "%.4f\n",
           res.mean_sim, res.hard_sim, res.fn_rate);
    printf("time: %.1f s total, %.1f s graph + sampling (%.2f%%), %.1f s "
           "evaluation\n",
           res.total_s, res.sampler_s,
           res.total_s > 0 ? 100 * res.sampler_s / res.total_s : 0, res.eval_s);
    return CLI_EXIT_OK;
}
