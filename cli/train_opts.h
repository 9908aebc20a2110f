/*
 * train_opts.h — what `train graphcl` and `train mvgrl` share besides the
 * batcher options (batcher_opts.h): the run and output options (--epochs,
 * --threads, --eval-every, --no-svm, --log, --checkpoint, --ckpt-every,
 * --resume, --stop-after, --data, -q, -h) into a bsg_run_cfg, their
 * checks, the per-epoch progress line, the run itself (signals deferred,
 * errors, "stopped after") and the summary's common lines.  A trainer puts
 * CLI_RUN_LONGOPTS in its getopt_long table ("q" in its short options) and
 * hands an option that is neither a batcher nor a model option to
 * cli_run_opt.  The vision trainers (train simclr, train moco) share the
 * second half (cli_vision_*).
 */
#ifndef BS_CLI_TRAIN_OPTS_H
#define BS_CLI_TRAIN_OPTS_H

#include "batcher_opts.h"
#include "cli.h"
#include "graphcl_run.h"
#include "simclr_run.h"

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

/* A graph trainer's parser: each option goes to cli_batcher_opt (the
   batch size into *batch), then model_opt(c, model) (the trainer's own
   options: 0, the usage exit code, or 1 when c is not one), then
   cli_run_opt; anything else is a usage error. */
typedef struct {
    const char *cmd;
    bsg_run_cfg *run; /* defaults set by the caller */
    int *batch;
    int (*model_opt)(int c, void *model);
    void *model;
    int *quiet;
} cli_graph_parser;
/* Parses argv (short options ":hB:M:K:q", longs) as p says, then
   cli_run_check: 0, -1 after --help, or the usage exit code. */
int cli_parse_graph_trainer(const cli_graph_parser *p, int argc, char **argv,
                            const struct option *longs, void (*help)(void));

/* The progress of a run (either family's progress callback takes one as
   its ctx): the bar during an epoch, one line per finished epoch; a
   pending signal stops the run between steps. */
typedef struct {
    cli_progress prog;
    int64_t epochs;
} cli_epoch_progress;

/* Runs fn(arg, msg, cap) (a trainer whose progress callback has tp as its
   ctx) with the progress bar of tp (none when quiet) and signals deferred
   to the end of the step.  CLI_EXIT_OK, or CLI_EXIT_DATA with fn's
   message printed on stderr. */
typedef int (*cli_trainer_fn)(void *arg, char *msg, size_t cap);
int cli_run_trainer(cli_epoch_progress *tp, int quiet, cli_trainer_fn fn,
                    void *arg);

/* Runs fn (bsg_graphcl_run or a wrapper) with a progress line per epoch
   on stderr, signals deferred to the end of the step.  Returns the exit
   code; *finished is 1 when the run reached its last epoch (print the
   summary), 0 after an error or --stop-after (already reported). */
typedef int (*cli_graph_run_fn)(const bsg_run_cfg *run, const void *model,
                                bsg_run_result *res, char *msg, size_t cap);
int cli_run_graph_trainer(bsg_run_cfg *run, int quiet, cli_graph_run_fn fn,
                          const void *model, bsg_run_result *res,
                          int *finished);

/* A warning on stderr when the run's graph sampler never had a graph
   (bst_graph_use_warning): its batches were all uniform. */
void cli_warn_graph_use(const bst_graph_use *u);
/* The summary's lines after the first: SVM accuracy, batches, time (and
   the warning above). */
void cli_run_summary_tail(const bsg_run_result *res);

/* ------------------------------------------------------ vision trainers */
/* What `train simclr` and `train moco` share (vision/simclr_run.h's
   bst_run_cfg): the batcher options, the run and output options above
   with --data-dir and --no-probe in place of --data and --no-svm, the
   data (--n, --test-n), the loss (--loss, --tau, --tau-plus, --beta), the
   optimiser and encoder (--lr, --lr-warmup, --wd, --width, --seed) and
   --store-views.  A trainer puts CLI_VISION_LONGOPTS in its table
   (":hB:M:K:q" short options), hands each option to cli_vision_opt
   first, and calls cli_vision_check after parsing. */
enum {
    CLI_VO_N = 0x4200,
    CLI_VO_TESTN,
    CLI_VO_LOSS,
    CLI_VO_TAU,
    CLI_VO_TAUP,
    CLI_VO_BETA,
    CLI_VO_LR,
    CLI_VO_LRW,
    CLI_VO_WD,
    CLI_VO_WIDTH,
    CLI_VO_SEED,
    CLI_VO_NOPROBE,
    CLI_VO_VIEWS,
    CLI_VO_DATADIR
};

#define CLI_VISION_LONGOPTS                                                    \
    CLI_BATCHER_LONGOPTS, {"epochs", required_argument, NULL, CLI_RO_EPOCHS},  \
        {"threads", required_argument, NULL, CLI_RO_THREADS},                  \
        {"eval-every", required_argument, NULL, CLI_RO_EVAL},                  \
        {"log", required_argument, NULL, CLI_RO_LOG},                          \
        {"checkpoint", required_argument, NULL, CLI_RO_CKPT},                  \
        {"ckpt-every", required_argument, NULL, CLI_RO_CKPTE},                 \
        {"resume", no_argument, NULL, CLI_RO_RESUME},                          \
        {"stop-after", required_argument, NULL, CLI_RO_STOP},                  \
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},   \
        {"n", required_argument, NULL, CLI_VO_N},                              \
        {"test-n", required_argument, NULL, CLI_VO_TESTN},                     \
        {"loss", required_argument, NULL, CLI_VO_LOSS},                        \
        {"tau", required_argument, NULL, CLI_VO_TAU},                          \
        {"tau-plus", required_argument, NULL, CLI_VO_TAUP},                    \
        {"beta", required_argument, NULL, CLI_VO_BETA},                        \
        {"lr", required_argument, NULL, CLI_VO_LR},                            \
        {"lr-warmup", required_argument, NULL, CLI_VO_LRW},                    \
        {"wd", required_argument, NULL, CLI_VO_WD},                            \
        {"width", required_argument, NULL, CLI_VO_WIDTH},                      \
        {"seed", required_argument, NULL, CLI_VO_SEED},                        \
        {"no-probe", no_argument, NULL, CLI_VO_NOPROBE},                       \
        {"store-views", required_argument, NULL, CLI_VO_VIEWS},                \
    {                                                                          \
        "data-dir", required_argument, NULL, CLI_VO_DATADIR                    \
    }

/* The help text of the shared options: the optimiser and encoder lines,
   and the "Evaluation and output" block. */
#define CLI_VISION_HELP_OPTIM                                                  \
    "  --lr LR              AdamW learning rate (default 1e-3), cosine to "    \
    "0\n"                                                                      \
    "  --lr-warmup STEPS    linear warm-up steps (default one epoch)\n"        \
    "  --wd WD              weight decay (default 1e-6)\n"                     \
    "  --width W            encoder width (default 16: 64-d feature)\n"        \
    "  --seed S             seed of everything (default 0)\n"                  \
    "  --threads T          OpenMP threads (default all)\n"
#define CLI_VISION_HELP_OUTPUT                                                 \
    "Evaluation and output:\n"                                                 \
    "  --eval-every E       kNN every E epochs, 0 = last only (default 1)\n"   \
    "  --no-probe           skip the final linear probe\n"                     \
    "  --store-views V      what the embedding store gets per image: mean\n"   \
    "                       (default: of the two views' rows) or concat\n"     \
    "                       (both normalised, side by side: 2D wide)\n"        \
    "  --log F.csv          per-epoch CSV (written atomically each epoch)\n"   \
    "  --checkpoint F       checkpoint written atomically every "              \
    "--ckpt-every\n"                                                           \
    "                       epochs (default 1)\n"                              \
    "  --ckpt-every E\n"                                                       \
    "  --resume             continue from --checkpoint if it exists\n"         \
    "  --stop-after E       stop after E epochs of this invocation (to\n"      \
    "                       test resuming)\n"                                  \
    "  --data-dir DIR       Fashion-MNIST .gz files (default\n"                \
    "                       /usr/share/datasets/fashion-mnist)\n"              \
    "  -q, --quiet          no progress on stderr\n"                           \
    "  -h, --help           this help\n"

/* Applies option c (argument optarg) to r (-q to *quiet): 0, the usage
   exit code (message printed, naming cmd), or 1 when c is not one. */
int cli_vision_opt(const char *cmd, int c, bst_run_cfg *r, int *quiet);

/* After parsing: -K <= -M for rwr, --resume and --stop-after with
   --checkpoint, writable distinct outputs.  0 or the usage exit code. */
int cli_vision_check(const char *cmd, const bst_run_cfg *r);

/* The progress of a vision run (bst_run_progress_fn with a
   cli_epoch_progress as ctx). */
int cli_vision_on_progress(void *ctx, int64_t step, int64_t total,
                           const bst_epoch_log *last);

/* Runs a vision trainer, fn(arg, msg, cap) writing *res, with run's
   progress on stderr (cli_run_trainer).  Returns the exit code; when
   print (the process that reports: rank 0), a run stopped early
   (--stop-after) says so on stdout, and *finished is 1 when it reached
   its last epoch (print the summary). */
int cli_run_vision_trainer(bst_run_cfg *run, int quiet, int print,
                           cli_trainer_fn fn, void *arg,
                           const bst_run_result *res, int *finished);

/* "infonce", "dcl" or "hcl". */
const char *cli_loss_name(bst_loss_kind k);

/* The summary's lines after the first: kNN top-1 (and the probe), the
   batch diagnostics, the appearances per instance, the time. */
void cli_vision_summary_tail(const bst_run_result *res);

#endif /* BS_CLI_TRAIN_OPTS_H */
