/* train_opts.c — the graph trainers' shared run options (train_opts.h). */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>

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

int cli_run_check(const char *cmd, const bsg_run_cfg *r)
{
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
} epoch_progress;

static int on_progress(void *ctx, int64_t step, int64_t total,
                       const bsg_epoch_log *last)
{
    epoch_progress *tp = ctx;
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

int cli_run_graph_trainer(bsg_run_cfg *run, int quiet, cli_graph_run_fn fn,
                          const void *model, bsg_run_result *res, int *finished)
{
    epoch_progress tp = {.epochs = run->epochs};
    *finished = 0;
    cli_progress_start(&tp.prog, "training", quiet);
    run->progress = on_progress;
    run->progress_ctx = &tp;
    char msg[BS_ERROR_MSG_MAX];
    cli_signals_defer();
    int st = fn(run, model, res, msg, sizeof msg);
    cli_progress_end(&tp.prog, st == BST_OK);
    cli_signals_resume();
    if (st != BST_OK) {
        fprintf(stderr, "batchsampler: %s\n", msg);
        return CLI_EXIT_DATA;
    }
    if (res->epochs_run > 0 && res->last.epoch + 1 < run->epochs) {
        printf("stopped after %lld epochs; resume with --resume\n",
               (long long)res->epochs_run);
        return CLI_EXIT_OK;
    }
    *finished = 1;
    return CLI_EXIT_OK;
}

void cli_run_summary_tail(const bsg_run_result *res)
{
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
