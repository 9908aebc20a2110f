/*
 * train_opts.h — what `train graphcl` and `train mvgrl` share besides the
 * batcher options (batcher_opts.h): the run and output options (--epochs,
 * --threads, --eval-every, --no-svm, --log, --checkpoint, --ckpt-every,
 * --resume, --stop-after, --data, -q, -h) into a bsg_run_cfg, their
 * checks, the per-epoch progress line, the run itself (signals deferred,
 * errors, "stopped after") and the summary's common lines.  A trainer puts
 * CLI_RUN_LONGOPTS in its getopt_long table ("q" in its short options) and
 * hands an option that is neither a batcher nor a model option to
 * cli_run_opt.
 */
#ifndef BS_CLI_TRAIN_OPTS_H
#define BS_CLI_TRAIN_OPTS_H

#include "graphcl_run.h"

enum {
    CLI_RO_EPOCHS = 0x4100,
    CLI_RO_THREADS,
    CLI_RO_EVAL,
    CLI_RO_NOSVM,
    CLI_RO_LOG,
    CLI_RO_CKPT,
    CLI_RO_CKPTE,
    CLI_RO_RESUME,
    CLI_RO_STOP,
    CLI_RO_DATA
};

#define CLI_RUN_LONGOPTS                                                       \
    {"epochs", required_argument, NULL, CLI_RO_EPOCHS},                        \
        {"threads", required_argument, NULL, CLI_RO_THREADS},                  \
        {"eval-every", required_argument, NULL, CLI_RO_EVAL},                  \
        {"no-svm", no_argument, NULL, CLI_RO_NOSVM},                           \
        {"log", required_argument, NULL, CLI_RO_LOG},                          \
        {"checkpoint", required_argument, NULL, CLI_RO_CKPT},                  \
        {"ckpt-every", required_argument, NULL, CLI_RO_CKPTE},                 \
        {"resume", no_argument, NULL, CLI_RO_RESUME},                          \
        {"stop-after", required_argument, NULL, CLI_RO_STOP},                  \
        {"data", required_argument, NULL, CLI_RO_DATA},                        \
        {"quiet", no_argument, NULL, 'q'},                                     \
    {                                                                          \
        "help", no_argument, NULL, 'h'                                         \
    }

/* Applies option c (argument optarg) to r (-q to *quiet): 0, the usage
   exit code (message printed, naming cmd), or 1 when c is not one. */
int cli_run_opt(const char *cmd, int c, bsg_run_cfg *r, int *quiet);

/* After parsing: --data given, -K <= -M, --resume and --stop-after with
   --checkpoint, writable distinct outputs.  0 or the usage exit code. */
int cli_run_check(const char *cmd, const bsg_run_cfg *r);

/* Runs fn (bsg_graphcl_run or a wrapper) with a progress line per epoch
   on stderr, signals deferred to the end of the step.  Returns the exit
   code; *finished is 1 when the run reached its last epoch (print the
   summary), 0 after an error or --stop-after (already reported). */
typedef int (*cli_graph_run_fn)(const bsg_run_cfg *run, const void *model,
                                bsg_run_result *res, char *msg, size_t cap);
int cli_run_graph_trainer(bsg_run_cfg *run, int quiet, cli_graph_run_fn fn,
                          const void *model, bsg_run_result *res,
                          int *finished);

/* The summary's lines after the first: SVM accuracy, batches, time. */
void cli_run_summary_tail(const bsg_run_result *res);

#endif /* BS_CLI_TRAIN_OPTS_H */
