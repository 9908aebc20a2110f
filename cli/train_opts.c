/* train_opts.c — the trainers' shared run options (train_opts.h). */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "train_opts.h"

static int threads(const char *cmd)
{
    int t = 0, rc = cli_parse_int(cmd, "--threads", optarg, 1, 1024, &t);
    if (!rc)
        omp_set_num_threads(t);
    return rc;
}

int cli_run_opt(const char *cmd, int c, bsg_run_cfg *r, int *quiet)
{
    switch (c) {
    case CLI_RO_EPOCHS:
        return cli_parse_i64(cmd, "--epochs", optarg, 1, 1 << 20, &r->epochs);
    case CLI_RO_THREADS: return threads(cmd);
    case CLI_RO_EVAL:
        return cli_parse_i64(cmd, "--eval-every", optarg, 0, 1 << 20,
                             &r->eval_every);
    case CLI_RO_NOSVM: r->svm = 0; return 0;
    case CLI_RO_LOG: r->log_path = optarg; return 0;
    case CLI_RO_CKPT: r->ckpt_path = optarg; return 0;
    case CLI_RO_CKPTE:
        return cli_parse_i64(cmd, "--ckpt-every", optarg, 1, 1 << 20,
                             &r->ckpt_every);
    case CLI_RO_RESUME: r->resume = 1; return 0;
    case CLI_RO_STOP:
        return cli_parse_i64(cmd, "--stop-after", optarg, 1, 1 << 20,
                             &r->stop_after);
    case CLI_RO_DATA: r->data_dir = optarg; return 0;
    case 'q': *quiet = 1; return 0;
    }
    return 1;
}

/* cli_parse_options' callback of cli_parse_graph_trainer: the batcher's,
   the model's, then the run's options */
static int parse_graph_opt(int c, void *ctx)
{
    const cli_graph_parser *p = ctx;
    int rc = cli_batcher_opt(p->cmd, c, &p->run->batcher, p->batch);
    if (rc != 1 || (rc = p->model_opt(c, p->model)) != 1 ||
        (rc = cli_run_opt(p->cmd, c, p->run, p->quiet)) != 1)
        return rc;
    return cli_usage(p->cmd, "unexpected option");
}

/* Either family's output checks: --resume and --stop-after with
   --checkpoint, writable distinct outputs. */
static int check_outputs(const char *cmd, int resume, int64_t stop_after,
                         const char *log_path, const char *ckpt_path)
{
    if (resume && !ckpt_path)
        return cli_usage(cmd, "--resume needs --checkpoint");
    if (stop_after && !ckpt_path)
        return cli_usage(cmd, "--stop-after needs --checkpoint");
    const cli_path out[] = {{"--log", log_path}, {"--checkpoint", ckpt_path}};
    return cli_check_paths(cmd, NULL, 0, out, 2);
}

int cli_run_check(const char *cmd, const bsg_run_cfg *r)
{
    if (!r->data_dir)
        return cli_usage(cmd, "--data DIR is required (a TU data set folder)");
    if (r->batcher.graph.m > 0 && r->batcher.graph.k > r->batcher.graph.m)
        return cli_usage(cmd, "-K %d is larger than -M %lld",
                         (int)r->batcher.graph.k,
                         (long long)r->batcher.graph.m);
    return check_outputs(cmd, r->resume, r->stop_after, r->log_path,
                         r->ckpt_path);
}

int cli_parse_graph_trainer(const cli_graph_parser *p, int argc, char **argv,
                            const struct option *longs, void (*help)(void))
{
    int rc = cli_parse_options(p->cmd, argc, argv, ":hB:M:K:q", longs, help,
                               parse_graph_opt, (void *)p);
    return rc != 0 ? rc : cli_run_check(p->cmd, p->run);
}

/* What the per-epoch line shows: either trainer family's row (graph:
   bsg_epoch_log, vision: bst_epoch_log) with its accuracy field. */
typedef struct {
    int64_t epoch;
    double loss, acc, mean_sim, fn_rate, coverage, sampler_s, total_s;
} epoch_line;
#define EPOCH_LINE(row, acc)                                                   \
    ((epoch_line){(row)->epoch, (row)->loss, (row)->acc, (row)->mean_sim,      \
                  (row)->fn_rate, (row)->coverage, (row)->sampler_s,           \
                  (row)->total_s})

/* The bar during an epoch (e NULL), one line per finished epoch: the
   accuracy named acc_name ("-" when < 0), sampler seconds with
   sampler_digits decimals.  A pending signal stops the run. */
static int report(cli_epoch_progress *tp, int64_t step, int64_t total,
                  const epoch_line *e, const char *acc_name, int sampler_digits)
{
    cli_progress *p = &tp->prog;
    int64_t epochs = tp->epochs;
    if (e && !p->quiet) {
        char acc[32] = "-";
        if (e->acc >= 0)
            snprintf(acc, sizeof acc, "%.2f%%", 100 * e->acc);
        if (p->shown && p->tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr,
                "epoch %lld/%lld  loss %.4f  %s %s  hardness %.3f  FN %.3f  "
                "coverage %.3f  sampler %.*fs  epoch %.1fs\n",
                (long long)e->epoch + 1, (long long)epochs, e->loss, acc_name,
                acc, e->mean_sim, e->fn_rate, e->coverage, sampler_digits,
                e->sampler_s, e->total_s);
        p->shown = 0;
        return cli_signals_pending();
    }
    cli_progress_update(p, step, total);
    return cli_signals_pending(); /* a signal stops the run between steps */
}

static int on_progress(void *ctx, int64_t step, int64_t total,
                       const bsg_epoch_log *last)
{
    epoch_line e = last ? EPOCH_LINE(last, svm_acc) : (epoch_line){0};
    return report(ctx, step, total, last ? &e : NULL, "SVM", 2);
}

int cli_vision_on_progress(void *ctx, int64_t step, int64_t total,
                           const bst_epoch_log *last)
{
    epoch_line e = last ? EPOCH_LINE(last, knn_top1) : (epoch_line){0};
    return report(ctx, step, total, last ? &e : NULL, "kNN", 1);
}

int cli_run_trainer(cli_epoch_progress *tp, int quiet, cli_trainer_fn fn,
                    void *arg)
{
    char msg[BS_ERROR_MSG_MAX];
    cli_progress_start(&tp->prog, "training", quiet);
    /* the log and checkpoints are written between epochs: a signal waits
       for the step in progress, then stops the run (the progress
       callback) */
    cli_signals_defer();
    int st = fn(arg, msg, sizeof msg);
    cli_progress_end(&tp->prog, st == BST_OK);
    cli_signals_resume();
    if (st == BST_OK)
        return CLI_EXIT_OK;
    fprintf(stderr, "batchsampler: %s\n", msg);
    return CLI_EXIT_DATA;
}

typedef struct {
    cli_graph_run_fn fn;
    const bsg_run_cfg *run;
    const void *model;
    bsg_run_result *res;
} graph_call;

static int call_graph(void *arg, char *msg, size_t cap)
{
    const graph_call *g = arg;
    return g->fn(g->run, g->model, g->res, msg, cap);
}

int cli_run_graph_trainer(bsg_run_cfg *run, int quiet, cli_graph_run_fn fn,
                          const void *model, bsg_run_result *res, int *finished)
{
    cli_epoch_progress tp = {.epochs = run->epochs};
    graph_call g = {fn, run, model, res};
    *finished = 0;
    run->progress = on_progress;
    run->progress_ctx = &tp;
    int rc = cli_run_trainer(&tp, quiet, call_graph, &g);
    run->progress = NULL; /* tp ends with this call */
    run->progress_ctx = NULL;
    if (rc != CLI_EXIT_OK)
        return rc;
    if (res->epochs_run > 0 && res->last.epoch + 1 < run->epochs) {
        printf("stopped after %lld epochs; resume with --resume\n",
               (long long)res->epochs_run);
        return CLI_EXIT_OK;
    }
    *finished = 1;
    return CLI_EXIT_OK;
}

void cli_warn_graph_use(const bst_graph_use *u)
{
    char why[400];
    if (bst_graph_use_warning(u, why, sizeof why))
        fprintf(stderr, "batchsampler: warning: %s\n", why);
}

void cli_run_summary_tail(const bsg_run_result *res)
{
    cli_warn_graph_use(&res->graph_use);
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

/* ------------------------------------------------------ vision trainers */

const char *cli_loss_name(bst_loss_kind k)
{
    return k == BST_LOSS_INFONCE ? "infonce"
           : k == BST_LOSS_DCL   ? "dcl"
                                 : "hcl";
}

static int parse_loss(const char *cmd, const char *s, bst_loss_kind *k)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, cli_loss_name((bst_loss_kind)i)) == 0) {
            *k = (bst_loss_kind)i;
            return 0;
        }
    return cli_usage(cmd, "--loss '%s': expected infonce, dcl or hcl", s);
}

static int parse_views(const char *cmd, const char *s, bst_store_views *v)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(s, bst_store_views_name((bst_store_views)i)) == 0) {
            *v = (bst_store_views)i;
            return 0;
        }
    return cli_usage(cmd, "--store-views '%s': expected mean or concat", s);
}

/* the model's share of the options; 1 when c is not one */
static int vision_model_opt(const char *cmd, int c, bst_simclr_cfg *m)
{
    switch (c) {
    case CLI_VO_LOSS: return parse_loss(cmd, optarg, &m->loss.kind);
    case CLI_VO_TAU:
        return cli_parse_f64(cmd, "--tau", optarg, 1e-3, 100, 0, &m->loss.tau);
    case CLI_VO_TAUP:
        return cli_parse_f64(cmd, "--tau-plus", optarg, 0, 1, 1,
                             &m->loss.tau_plus);
    case CLI_VO_BETA:
        return cli_parse_f64(cmd, "--beta", optarg, 0, 100, 0, &m->loss.beta);
    case CLI_VO_WD:
        return cli_parse_f64(cmd, "--wd", optarg, 0, 10, 0, &m->weight_decay);
    case CLI_VO_WIDTH:
        return cli_parse_int(cmd, "--width", optarg, 1, 256, &m->enc.width);
    case CLI_VO_SEED: return cli_parse_u64(cmd, "--seed", optarg, &m->seed);
    }
    return 1;
}

int cli_vision_opt(const char *cmd, int c, bst_run_cfg *r, int *quiet)
{
    int rc;
    if ((rc = cli_batcher_opt(cmd, c, &r->batcher, &r->model.batch)) != 1 ||
        (rc = vision_model_opt(cmd, c, &r->model)) != 1)
        return rc;
    switch (c) {
    case CLI_RO_EPOCHS:
    case CLI_RO_THREADS:
    case CLI_RO_EVAL:
    case CLI_RO_LOG:
    case CLI_RO_CKPT:
    case CLI_RO_CKPTE:
    case CLI_RO_RESUME:
    case CLI_RO_STOP:
    case 'q': {
        /* the graph trainers' parser, on a scratch bsg_run_cfg */
        bsg_run_cfg g = {.epochs = r->epochs,
                         .eval_every = r->eval_every,
                         .log_path = r->log_path,
                         .ckpt_path = r->ckpt_path,
                         .ckpt_every = r->ckpt_every,
                         .resume = r->resume,
                         .stop_after = r->stop_after};
        if ((rc = cli_run_opt(cmd, c, &g, quiet)))
            return rc;
        r->epochs = g.epochs, r->eval_every = g.eval_every;
        r->log_path = g.log_path, r->ckpt_path = g.ckpt_path;
        r->ckpt_every = g.ckpt_every, r->resume = g.resume;
        r->stop_after = g.stop_after;
        return 0;
    }
    case CLI_VO_N:
        return cli_parse_i64(cmd, "--n", optarg, 2, 1 << 30, &r->train_n);
    case CLI_VO_TESTN:
        return cli_parse_i64(cmd, "--test-n", optarg, 1, 1 << 30, &r->test_n);
    case CLI_VO_LR:
        return cli_parse_f64(cmd, "--lr", optarg, 1e-8, 10, 0, &r->lr);
    case CLI_VO_LRW:
        return cli_parse_i64(cmd, "--lr-warmup", optarg, 0, 1 << 30,
                             &r->lr_warmup_steps);
    case CLI_VO_NOPROBE: r->probe = 0; return 0;
    case CLI_VO_VIEWS: return parse_views(cmd, optarg, &r->store_views);
    case CLI_VO_DATADIR: r->data_dir = optarg; return 0;
    }
    return 1;
}

int cli_vision_check(const char *cmd, const bst_run_cfg *r)
{
    const bs_batcher_params *b = &r->batcher;
    if (b->sampler.kind == BS_SAMPLER_RWR && b->graph.k > b->graph.m)
        return cli_usage(cmd, "-K %d is larger than -M %lld", (int)b->graph.k,
                         (long long)b->graph.m);
    return check_outputs(cmd, r->resume, r->stop_after, r->log_path,
                         r->ckpt_path);
}

int cli_run_vision_trainer(bst_run_cfg *run, int quiet, int print,
                           cli_trainer_fn fn, void *arg,
                           const bst_run_result *res, int *finished)
{
    cli_epoch_progress tp = {.epochs = run->epochs};
    *finished = 0;
    run->progress = cli_vision_on_progress;
    run->progress_ctx = &tp;
    int rc = cli_run_trainer(&tp, quiet, fn, arg);
    run->progress = NULL; /* tp ends with this call */
    run->progress_ctx = NULL;
    if (rc != CLI_EXIT_OK || !print)
        return rc;
    if (res->knn_top1 < 0) /* stopped early (--stop-after) */
        printf("stopped after %lld epochs; resume with --resume\n",
               (long long)res->epochs_run);
    else
        *finished = 1;
    return CLI_EXIT_OK;
}

void cli_vision_summary_tail(const bst_run_result *res)
{
    cli_warn_graph_use(&res->graph_use);
    const bst_appearance *a = &res->appear;
    printf("kNN top-1 %.2f%%", 100 * res->knn_top1);
    if (res->probe_top1 >= 0)
        printf("  linear probe top-1 %.2f%%", 100 * res->probe_top1);
    printf("\nbatches: hardness %.4f  hardest negative %.4f  false negatives "
           "%.4f\n",
           res->mean_sim, res->hard_sim, res->fn_rate);
    printf("appearances per instance: mean %.2f  cv %.4f  min %lld  max %lld  "
           "never drawn %.4f\n",
           a->mean, a->cv, (long long)a->min, (long long)a->max, a->unseen);
    printf("time: %.1f s total, %.1f s graph + sampling (%.2f%%), %.1f s "
           "evaluation\n",
           res->total_s, res->sampler_s,
           res->total_s > 0 ? 100 * res->sampler_s / res->total_s : 0,
           res->eval_s);
}
