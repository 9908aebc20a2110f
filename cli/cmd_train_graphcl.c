/*
 * cmd_train_graphcl.c — `batchsampler train graphcl`: GraphCL on a TU
 * data set (graphs/graphcl_run.h) with uniform, kNN or BatchSampler (rwr)
 * batches.  Parses options and prints the summary; cmd_train.c
 * dispatches here.
 */
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graphcl_run.h"

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
        "                       one, else constant 1, as the reference), tags,\n"
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
        "  --eval-every E       SVM every E epochs and after the last, 0 = last\n"
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
    O_SAMPLER = 256,
    O_ALPHA,
    O_SCHED,
    O_EMODE,
    O_GMODE,
    O_REFRESH,
    O_LAG,
    O_WARM,
    O_EPOCHS,
    O_SPE,
    O_AUG,
    O_LOSS,
    O_TAU,
    O_TAUP,
    O_BETA,
    O_LR,
    O_HIDDEN,
    O_LAYERS,
    O_SEED,
    O_THREADS,
    O_EVAL,
    O_NOSVM,
    O_LOG,
    O_CKPT,
    O_CKPTE,
    O_RESUME,
    O_STOP,
    O_DATA,
    O_FEAT
};

/* the batcher's options (shared names with train simclr) */
static int parse_batcher(int c, bs_batcher_params *b, int *B)
{
    bs_error err;
    int64_t v = 0;
    int rc;
    switch (c) {
    case O_SAMPLER:
        return bs_sampler_kind_parse(optarg, &b->sampler.kind, &err) == BS_OK
                   ? 0
                   : cli_usage(cmd,
                               "--sampler '%s': expected rwr, knn or "
                               "uniform",
                               optarg);
    case 'B':
        if ((rc = cli_parse_i64(cmd, "--batch-size", optarg, 2, 1 << 16, &v)))
            return rc;
        *B = (int)v;
        return 0;
    case 'M': return cli_parse_i64(cmd, "-M", optarg, 1, 1 << 30, &b->graph.m);
    case 'K':
        if ((rc = cli_parse_i64(cmd, "-K", optarg, 1, 1 << 20, &v)))
            return rc;
        b->graph.k = (int32_t)v;
        return 0;
    case O_ALPHA:
        return cli_parse_f64(cmd, "--alpha", optarg, 0, 1, 1,
                             &b->sampler.alpha);
    case O_SCHED:
        return bs_alpha_schedule_parse(optarg, &b->sampler.schedule, &err) ==
                       BS_OK
                   ? 0
                   : cli_usage(cmd,
                               "--alpha-schedule '%s': expected "
                               "constant, step or reference",
                               optarg);
    case O_EMODE:
        return bs_epoch_mode_parse(optarg, &b->sampler.epoch_mode, &err) ==
                       BS_OK
                   ? 0
                   : cli_usage(cmd,
                               "--epoch-mode '%s': expected fixed, "
                               "carry or exact",
                               optarg);
    case O_GMODE:
        if (bs_graph_mode_parse(optarg, &b->graph.mode, &err) != BS_OK ||
            b->graph.mode == BS_MODE_EXACT)
            return cli_usage(cmd,
                             "--graph-mode '%s': expected shared or "
                             "independent",
                             optarg);
        return 0;
    case O_REFRESH:
        return cli_parse_i64(cmd, "--refresh", optarg, 1, INT64_MAX / 2,
                             &b->refresh_every);
    case O_LAG:
        return cli_parse_i64(cmd, "--refresh-lag", optarg, 0, 1 << 30,
                             &b->refresh_lag);
    case O_WARM:
        return cli_parse_i64(cmd, "--warmup-epochs", optarg, 0, 1 << 20,
                             &b->warmup_epochs);
    case O_SPE:
        return cli_parse_i64(cmd, "--steps-per-epoch", optarg, 1, 1 << 30,
                             &b->sampler.batches_per_epoch);
    }
    return 1; /* not a batcher option */
}

static int parse_model(int c, bsg_run_cfg *r)
{
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
    case O_EPOCHS:
        return cli_parse_i64(cmd, "--epochs", optarg, 1, 1 << 20, &r->epochs);
    }
    return 1;
}

static int parse_one(int c, void *ctx)
{
    gcl_opts *o = ctx;
    bsg_run_cfg *r = &o->run;
    int rc = parse_batcher(c, &r->batcher, &r->model.batch);
    if (rc != 1 || (rc = parse_model(c, r)) != 1)
        return rc;
    switch (c) {
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
    case O_NOSVM: r->svm = 0; return 0;
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

static const struct option LONGS[] = {
    {"sampler", required_argument, NULL, O_SAMPLER},
    {"batch-size", required_argument, NULL, 'B'},
    {"alpha", required_argument, NULL, O_ALPHA},
    {"alpha-schedule", required_argument, NULL, O_SCHED},
    {"epoch-mode", required_argument, NULL, O_EMODE},
    {"graph-mode", required_argument, NULL, O_GMODE},
    {"refresh", required_argument, NULL, O_REFRESH},
    {"refresh-lag", required_argument, NULL, O_LAG},
    {"warmup-epochs", required_argument, NULL, O_WARM},
    {"epochs", required_argument, NULL, O_EPOCHS},
    {"steps-per-epoch", required_argument, NULL, O_SPE},
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
    {"threads", required_argument, NULL, O_THREADS},
    {"eval-every", required_argument, NULL, O_EVAL},
    {"no-svm", no_argument, NULL, O_NOSVM},
    {"log", required_argument, NULL, O_LOG},
    {"checkpoint", required_argument, NULL, O_CKPT},
    {"ckpt-every", required_argument, NULL, O_CKPTE},
    {"resume", no_argument, NULL, O_RESUME},
    {"stop-after", required_argument, NULL, O_STOP},
    {"data", required_argument, NULL, O_DATA},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int parse(int argc, char **argv, gcl_opts *o)
{
    memset(o, 0, sizeof *o);
    bsg_run_cfg_default(&o->run);
    int rc = cli_parse_options(cmd, argc, argv, ":hB:M:K:q", LONGS, help,
                               parse_one, o);
    if (rc != 0)
        return rc;
    bsg_run_cfg *r = &o->run;
    if (!r->data_dir)
        return cli_usage(cmd, "--data DIR is required (a TU data set folder)");
    if (r->batcher.graph.m > 0 && r->batcher.graph.k > r->batcher.graph.m)
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
} gcl_progress;

static int on_progress(void *ctx, int64_t step, int64_t total,
                       const bsg_epoch_log *last)
{
    gcl_progress *tp = ctx;
    if (last && !tp->prog.quiet) {
        char acc[32] = "-";
        if (last->svm_acc >= 0)
            snprintf(acc, sizeof acc, "%.2f%%", 100 * last->svm_acc);
        if (tp->prog.shown && tp->prog.tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr,
                "epoch %lld/%lld  loss %.4f  SVM %s  hardness %.3f  FN %.3f  "
                "coverage %.3f  sampler %.2fs  epoch %.1fs\n",
                (long long)last->epoch + 1, (long long)tp->epochs, last->loss,
                acc, last->mean_sim, last->fn_rate, last->coverage,
                last->sampler_s, last->total_s);
        tp->prog.shown = 0;
        return cli_signals_pending();
    }
    cli_progress_update(&tp->prog, step, total);
    return cli_signals_pending();
}

static void summary(const gcl_opts *o, const bsg_run_result *res)
{
    const bsg_run_cfg *r = &o->run;
    printf("GraphCL on %lld graphs  sampler %s  loss %s  aug %s  features %s  "
           "epochs %lld  steps %lld  B %lld M %lld K %lld\n",
           (long long)res->graphs,
           bs_sampler_kind_name(r->batcher.sampler.kind),
           bsg_loss_name(r->model.loss), bsg_aug_name(r->model.aug),
           bsg_feat_name(r->features),
           (long long)r->epochs, (long long)res->last.steps,
           (long long)res->batch, (long long)res->m, (long long)res->k);
    if (res->svm_acc >= 0)
        printf("SVM accuracy %.2f +- %.2f%% (10-fold)\n", 100 * res->svm_acc,
               100 * res->svm_std);
    printf("batches: hardness %.4f  hardest negative %.4f  false negatives "
           "%.4f\n",
           res->mean_sim, res->hard_sim, res->fn_rate);
    printf("time: %.1f s total, %.2f s graph + sampling (%.2f%%), %.1f s "
           "evaluation\n",
           res->total_s, res->sampler_s,
           res->total_s > 0 ? 100 * res->sampler_s / res->total_s : 0,
           res->eval_s);
}

int cli_cmd_train_graphcl(int argc, char **argv)
{
    gcl_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    gcl_progress tp = {.epochs = o.run.epochs};
    cli_progress_start(&tp.prog, "training", o.quiet);
    o.run.progress = on_progress;
    o.run.progress_ctx = &tp;
    bsg_run_result res;
    char msg[BS_ERROR_MSG_MAX];
    cli_signals_defer();
    int st = bsg_graphcl_run(&o.run, &res, msg, sizeof msg);
    cli_progress_end(&tp.prog, st == BST_OK);
    cli_signals_resume();
    if (st != BST_OK) {
        fprintf(stderr, "batchsampler: %s\n", msg);
        return CLI_EXIT_DATA;
    }
    if (res.epochs_run > 0 && res.last.epoch + 1 < o.run.epochs) {
        printf("stopped after %lld epochs; resume with --resume\n",
               (long long)res.epochs_run);
        return CLI_EXIT_OK;
    }
    summary(&o, &res);
    return CLI_EXIT_OK;
}
