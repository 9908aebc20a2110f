/*
 * cmd_train_simcse.c — `batchsampler train simcse`: unsupervised SimCSE
 * on the sentence corpus (language/simcse_run.h) with uniform, kNN or
 * BatchSampler (rwr) batches.  Parses options and prints the summary;
 * cmd_train.c dispatches here.
 */
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "batcher_opts.h"
#include "cli.h"
#include "simcse_run.h"

int cli_cmd_train_simcse(int argc, char **argv);

static const char cmd[] = "train simcse";

typedef struct {
    bsl_run_cfg run;
    int quiet;
} sc_opts;

static void help(void)
{
    printf(
        "usage: batchsampler train simcse [options]\n"
        "\n"
        "Trains unsupervised SimCSE: a small transformer encoder (GloVe word\n"
        "vectors in its token table, 2 pre-LN layers x 128, 4 heads, SIF-\n"
        "weighted mean pooling) whose two views of a sentence are two dropout\n"
        "masks and token deletions, on DIR/text/corpus.txt, with a\n"
        "distillation term towards the SIF-weighted GloVe average; in-batch\n"
        "negatives from the chosen sampler.\n"
        "Logs the STS dev Spearman (DIR/sts/sts12-train) per interval and\n"
        "prints STS12-16 + SICK-R at the end (docs/language.md).\n"
        "\n"
        "Batches:\n"
        "  --sampler KIND       rwr (BatchSampler, default), knn or uniform\n"
        "  -B, --batch-size B   sentences per batch (default 64)\n"
        "  -M M                 rwr: candidates per node (default 1000)\n"
        "  -K K                 neighbours per node (default 100)\n"
        "  --alpha A            rwr restart probability (default 0.2)\n"
        "  --alpha-schedule S   constant (default), step or reference\n"
        "  --epoch-mode M       fixed (default), carry or exact\n"
        "  --graph-mode MODE    rwr graph: shared (default) or independent\n"
        "  --refresh T          rebuild every T batches (default a quarter "
        "epoch)\n"
        "  --refresh-lag L      background rebuild, in force L batches later\n"
        "  --warmup-epochs W    uniform epochs first (default 0: the store\n"
        "                       starts from the untrained encoder)\n"
        "  --steps-per-epoch S  default ceil(N / B)\n"
        "\n"
        "Training:\n"
        "  --epochs E           passes over the corpus (default 1)\n"
        "  --steps S            step budget (overrides --epochs)\n"
        "  --loss L             infonce (default), dcl or hcl\n"
        "  --tau T              temperature (default 0.05)\n"
        "  --tau-plus P         dcl/hcl class prior (default 0.1)\n"
        "  --beta BETA          hcl concentration (default 1.0)\n"
        "  --lr LR              AdamW peak learning rate (default 1e-4)\n"
        "  --lr-warmup STEPS    linear warm-up (default 5%% of the steps), "
        "then\n"
        "                       linear decay to 0\n"
        "  --wd WD              weight decay (default 0)\n"
        "  --dim C              encoder width (default 128)\n"
        "  --heads H            attention heads (default 4)\n"
        "  --layers L           blocks (default 2)\n"
        "  --pool P             mean (default) or cls\n"
        "  --dropout P          dropout (default 0.1)\n"
        "  --tok-drop P         also delete each word of each view with\n"
        "                       probability P < 0.9 (default 0.5; 0: dropout\n"
        "                       only)\n"
        "  --glove-lr S         scale of the GloVe rows' learning rate, in\n"
        "                       [0, 1] (default 1; 0 freezes them)\n"
        "  --sif A              SIF-weighted mean pooling: token weights\n"
        "                       A / (A + p(token)), p from corpus counts,\n"
        "                       A in [0, 1] (default 0.01; 0: plain mean)\n"
        "  --distill W          add W x the squared gap between the in-batch\n"
        "                       cosines of the pooled output and of the\n"
        "                       teacher's (default 300; 0: off)\n"
        "  --teacher T          glove (default: the sentence's GloVe vectors\n"
        "                       averaged with the pooling weights) or encoder\n"
        "                       (the untrained encoder)\n"
        "  --seed S             seed of everything (default 0)\n"
        "  --threads T          OpenMP threads (default all)\n"
        "\n"
        "Data, evaluation and output:\n"
        "  --data-dir DIR       benchmark data (default ../shared/data)\n"
        "  --corpus FILE        sentences (default DIR/text/corpus.txt)\n"
        "  --vectors FILE       GloVe vectors (default\n"
        "                       DIR/text/glove.6B.50d.10k.txt)\n"
        "  --eval-every S       a log row (and dev score) every S steps\n"
        "                       (default a quarter epoch)\n"
        "  --no-dev             no dev score in the log\n"
        "  --no-final-eval      skip STS12-16 + SICK-R at the end\n"
        "  --log F.csv          CSV log (written atomically every row)\n"
        "  --checkpoint F       checkpoint every row\n"
        "  --resume             continue from --checkpoint if it exists\n"
        "  --stop-after R       stop after R rows of this invocation\n"
        "  -q, --quiet          no progress on stderr\n"
        "  -h, --help           this help\n");
}

enum {
    O_EPOCHS = 256,
    O_STEPS,
    O_LOSS,
    O_TAU,
    O_TAUP,
    O_BETA,
    O_LR,
    O_LRW,
    O_WD,
    O_DIM,
    O_HEADS,
    O_LAYERS,
    O_POOL,
    O_DROP,
    O_SEED,
    O_THREADS,
    O_DATA,
    O_CORPUS,
    O_VECTORS,
    O_EVAL,
    O_NODEV,
    O_NOFINAL,
    O_LOG,
    O_CKPT,
    O_RESUME,
    O_STOP,
    O_TOKDROP,
    O_GLOVELR,
    O_SIF,
    O_DISTILL,
    O_TEACHER
};

static int parse_model(int c, bsl_run_cfg *r)
{
    bsl_simcse_cfg *m = &r->model;
    double d = 0;
    int rc;
    switch (c) {
    case O_LOSS:
        return bsl_loss_parse(optarg, &m->loss.kind) == 0
                   ? 0
                   : cli_usage(cmd, "--loss '%s': expected infonce, dcl or hcl",
                               optarg);
    case O_TAU:
        return cli_parse_f64(cmd, "--tau", optarg, 1e-3, 100, 0, &m->loss.tau);
    case O_TAUP:
        return cli_parse_f64(cmd, "--tau-plus", optarg, 0, 1, 1,
                             &m->loss.tau_plus);
    case O_BETA:
        return cli_parse_f64(cmd, "--beta", optarg, 0, 100, 0, &m->loss.beta);
    case O_WD:
        return cli_parse_f64(cmd, "--wd", optarg, 0, 10, 0, &m->weight_decay);
    case O_DIM: return cli_parse_int(cmd, "--dim", optarg, 1, 4096, &m->dim);
    case O_HEADS:
        return cli_parse_int(cmd, "--heads", optarg, 1, 256, &m->heads);
    case O_LAYERS:
        return cli_parse_int(cmd, "--layers", optarg, 1, 16, &m->layers);
    case O_POOL:
        if (strcmp(optarg, "mean") == 0)
            m->pool = BST_TF_POOL_MEAN;
        else if (strcmp(optarg, "cls") == 0)
            m->pool = BST_TF_POOL_CLS;
        else
            return cli_usage(cmd, "--pool '%s': expected mean or cls", optarg);
        return 0;
    case O_DROP:
        if ((rc = cli_parse_f64(cmd, "--dropout", optarg, 0, 1, 1, &d)))
            return rc;
        m->dropout = (float)d;
        return 0;
    case O_SEED: return cli_parse_u64(cmd, "--seed", optarg, &m->seed);
    case O_TOKDROP:
        if ((rc = cli_parse_f64(cmd, "--tok-drop", optarg, 0, 0.9, 1, &d)))
            return rc;
        m->tok_drop = (float)d;
        return 0;
    case O_GLOVELR:
        if ((rc = cli_parse_f64(cmd, "--glove-lr", optarg, 0, 1, 1, &d)))
            return rc;
        m->glove_lr = (float)d;
        return 0;
    case O_SIF:
        if ((rc = cli_parse_f64(cmd, "--sif", optarg, 0, 1, 0, &d)))
            return rc;
        m->sif = d;
        return 0;
    case O_DISTILL:
        return cli_parse_f64(cmd, "--distill", optarg, 0, 1000, 0, &m->distill);
    case O_TEACHER:
        if (strcmp(optarg, "encoder") == 0)
            m->teacher = BSL_TEACHER_ENCODER;
        else if (strcmp(optarg, "glove") == 0)
            m->teacher = BSL_TEACHER_GLOVE;
        else
            return cli_usage(cmd, "--teacher '%s': expected encoder or glove",
                             optarg);
        return 0;
    }
    return 1;
}

static int parse_one(int c, void *ctx)
{
    sc_opts *o = ctx;
    bsl_run_cfg *r = &o->run;
    int rc = cli_batcher_opt(cmd, c, &r->batcher, &r->model.batch);
    if (rc != 1 || (rc = parse_model(c, r)) != 1)
        return rc;
    switch (c) {
    case O_EPOCHS:
        return cli_parse_i64(cmd, "--epochs", optarg, 1, 1 << 20, &r->epochs);
    case O_STEPS:
        return cli_parse_i64(cmd, "--steps", optarg, 1, INT64_MAX / 4,
                             &r->steps);
    case O_LR: return cli_parse_f64(cmd, "--lr", optarg, 1e-8, 10, 0, &r->lr);
    case O_LRW:
        return cli_parse_i64(cmd, "--lr-warmup", optarg, 0, INT64_MAX / 4,
                             &r->lr_warmup);
    case O_THREADS: {
        int t = 0;
        if ((rc = cli_parse_int(cmd, "--threads", optarg, 1, 1024, &t)))
            return rc;
        omp_set_num_threads(t);
        return 0;
    }
    case O_DATA: r->data_dir = optarg; return 0;
    case O_CORPUS: r->corpus_path = optarg; return 0;
    case O_VECTORS: r->vectors_path = optarg; return 0;
    case O_EVAL:
        return cli_parse_i64(cmd, "--eval-every", optarg, 1, INT64_MAX / 4,
                             &r->eval_every);
    case O_NODEV: r->dev = 0; return 0;
    case O_NOFINAL: r->final_eval = 0; return 0;
    case O_LOG: r->log_path = optarg; return 0;
    case O_CKPT: r->ckpt_path = optarg; return 0;
    case O_RESUME: r->resume = 1; return 0;
    case O_STOP:
        return cli_parse_i64(cmd, "--stop-after", optarg, 1, 1 << 20,
                             &r->stop_after);
    case 'q': o->quiet = 1; return 0;
    }
    return cli_usage(cmd, "unexpected option");
}

static const struct option LONGS[] = {
    CLI_BATCHER_LONGOPTS,
    {"epochs", required_argument, NULL, O_EPOCHS},
    {"steps", required_argument, NULL, O_STEPS},
    {"loss", required_argument, NULL, O_LOSS},
    {"tau", required_argument, NULL, O_TAU},
    {"tau-plus", required_argument, NULL, O_TAUP},
    {"beta", required_argument, NULL, O_BETA},
    {"lr", required_argument, NULL, O_LR},
    {"lr-warmup", required_argument, NULL, O_LRW},
    {"wd", required_argument, NULL, O_WD},
    {"dim", required_argument, NULL, O_DIM},
    {"heads", required_argument, NULL, O_HEADS},
    {"layers", required_argument, NULL, O_LAYERS},
    {"pool", required_argument, NULL, O_POOL},
    {"dropout", required_argument, NULL, O_DROP},
    {"seed", required_argument, NULL, O_SEED},
    {"tok-drop", required_argument, NULL, O_TOKDROP},
    {"glove-lr", required_argument, NULL, O_GLOVELR},
    {"sif", required_argument, NULL, O_SIF},
    {"distill", required_argument, NULL, O_DISTILL},
    {"teacher", required_argument, NULL, O_TEACHER},
    {"threads", required_argument, NULL, O_THREADS},
    {"data-dir", required_argument, NULL, O_DATA},
    {"corpus", required_argument, NULL, O_CORPUS},
    {"vectors", required_argument, NULL, O_VECTORS},
    {"eval-every", required_argument, NULL, O_EVAL},
    {"no-dev", no_argument, NULL, O_NODEV},
    {"no-final-eval", no_argument, NULL, O_NOFINAL},
    {"log", required_argument, NULL, O_LOG},
    {"checkpoint", required_argument, NULL, O_CKPT},
    {"resume", no_argument, NULL, O_RESUME},
    {"stop-after", required_argument, NULL, O_STOP},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int parse(int argc, char **argv, sc_opts *o)
{
    memset(o, 0, sizeof *o);
    bsl_run_cfg_default(&o->run);
    int rc = cli_parse_options(cmd, argc, argv, ":hB:M:K:q", LONGS, help,
                               parse_one, o);
    if (rc != 0)
        return rc;
    bsl_run_cfg *r = &o->run;
    if (r->model.dim % r->model.heads != 0)
        return cli_usage(cmd, "--heads %d does not divide --dim %d",
                         r->model.heads, r->model.dim);
    if (r->batcher.graph.m > 0 && r->batcher.graph.k > r->batcher.graph.m)
        return cli_usage(cmd, "-K %d is larger than -M %lld",
                         (int)r->batcher.graph.k,
                         (long long)r->batcher.graph.m);
    if (r->resume && !r->ckpt_path)
        return cli_usage(cmd, "--resume needs --checkpoint");
    if (r->stop_after && !r->ckpt_path)
        return cli_usage(cmd, "--stop-after needs --checkpoint");
    if (!r->data_dir[0])
        return cli_usage(cmd, "empty path for --data-dir");
    const cli_path in[] = {{"--corpus", r->corpus_path},
                           {"--vectors", r->vectors_path}};
    const cli_path out[] = {{"--log", r->log_path},
                            {"--checkpoint", r->ckpt_path}};
    return cli_check_paths(cmd, in, 2, out, 2);
}

typedef struct {
    cli_progress prog;
} sc_progress;

static int on_progress(void *ctx, int64_t step, int64_t total,
                       const bsl_log_row *last)
{
    sc_progress *tp = ctx;
    if (last && !tp->prog.quiet) {
        char dev[32] = "-";
        if (last->dev > -1)
            snprintf(dev, sizeof dev, "%.2f", last->dev);
        if (tp->prog.shown && tp->prog.tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr,
                "step %lld/%lld  loss %.4f  dev %s  hardness %.3f  near-dup "
                "%.4f  coverage %.3f  sampler %.1fs  steps %.1fs\n",
                (long long)step, (long long)total, last->loss, dev,
                last->mean_sim, last->neardup, last->coverage, last->sampler_s,
                last->step_s);
        tp->prog.shown = 0;
        return cli_signals_pending();
    }
    cli_progress_update(&tp->prog, step, total);
    return cli_signals_pending();
}

static void summary(const sc_opts *o, const bsl_run_result *res)
{
    const bsl_run_cfg *r = &o->run;
    printf("SimCSE on %lld sentences  sampler %s  loss %s  tau %g  steps %lld"
           "  B %lld M %lld K %lld t %lld  lr %g  seed %llu\n",
           (long long)res->sentences,
           bs_sampler_kind_name(r->batcher.sampler.kind),
           bsl_loss_name(r->model.loss.kind), r->model.loss.tau,
           (long long)res->total_steps, (long long)res->batch,
           (long long)res->m, (long long)res->k, (long long)res->refresh, r->lr,
           (unsigned long long)r->model.seed);
    if (r->model.tok_drop != 0.0f || r->model.glove_lr != 1.0f ||
        r->model.dropout != 0.1f || r->model.sif != 0.0 ||
        r->model.distill != 0.0)
        printf("views: dropout %g  tok-drop %g  glove-lr %g  sif %g  distill "
               "%g  teacher %s\n",
               (double)r->model.dropout, (double)r->model.tok_drop,
               (double)r->model.glove_lr, r->model.sif, r->model.distill,
               r->model.teacher == BSL_TEACHER_GLOVE ? "glove" : "encoder");
    if (res->have_sts) {
        printf("%-8s %7s %9s\n", "task", "pairs", "spearman");
        for (int t = 0; t < BSL_STS_TASKS; t++)
            printf("%-8s %7lld %9.2f\n", bsl_sts_task_name(t),
                   (long long)res->sts.pairs[t], res->sts.spearman[t]);
        printf("%-8s %7s %9.2f\n", "average", "", res->sts.average);
    }
    if (res->last.dev > -1)
        printf("dev (sts12-train) %.2f\n", res->last.dev);
    printf("batches: hardness %.4f  hardest negative %.4f  near-duplicates "
           "%.5f\n",
           res->mean_sim, res->hard_sim, res->neardup);
    printf("time: %.1f s total, %.1f s steps (%.1f sentences/s), %.2f s "
           "graph + sampling (%.2f%%), %.1f s evaluation\n",
           res->total_s, res->step_s, res->sents_per_s, res->sampler_s,
           res->total_s > 0 ? 100 * res->sampler_s / res->total_s : 0,
           res->eval_s);
}

int cli_cmd_train_simcse(int argc, char **argv)
{
    sc_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    sc_progress tp;
    memset(&tp, 0, sizeof tp);
    cli_progress_start(&tp.prog, "training", o.quiet);
    o.run.progress = on_progress;
    o.run.progress_ctx = &tp;
    bsl_run_result res;
    char msg[BS_ERROR_MSG_MAX];
    cli_signals_defer();
    int st = bsl_simcse_run(&o.run, &res, msg, sizeof msg);
    cli_progress_end(&tp.prog, st == BST_OK);
    cli_signals_resume();
    if (st != BST_OK) {
        fprintf(stderr, "batchsampler: %s\n", msg);
        return CLI_EXIT_DATA;
    }
    if (res.last.step < res.total_steps && res.rows_run > 0) {
        printf("stopped after %lld rows (step %lld of %lld); resume with "
               "--resume\n",
               (long long)res.rows_run, (long long)res.last.step,
               (long long)res.total_steps);
        return CLI_EXIT_OK;
    }
    summary(&o, &res);
    return CLI_EXIT_OK;
}
