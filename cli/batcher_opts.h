/*
 * batcher_opts.h — the batcher options the trainers share (train graphcl,
 * train mvgrl, train simcse): --sampler, -B, -M, -K, --alpha,
 * --alpha-schedule, --epoch-mode, --graph-mode, --refresh, --refresh-lag,
 * --warmup-epochs, --steps-per-epoch.  A trainer puts CLI_BATCHER_LONGOPTS
 * in its getopt_long table ("B:M:K:" in its short options) and hands every
 * option to cli_batcher_opt first.
 */
#ifndef BS_CLI_BATCHER_OPTS_H
#define BS_CLI_BATCHER_OPTS_H

#include "batchsampler.h"

enum {
    CLI_BO_SAMPLER = 0x4000,
    CLI_BO_ALPHA,
    CLI_BO_SCHED,
    CLI_BO_EMODE,
    CLI_BO_GMODE,
    CLI_BO_REFRESH,
    CLI_BO_LAG,
    CLI_BO_WARM,
    CLI_BO_SPE
};

#define CLI_BATCHER_LONGOPTS                                                   \
    {"sampler", required_argument, NULL, CLI_BO_SAMPLER},                      \
        {"batch-size", required_argument, NULL, 'B'},                          \
        {"alpha", required_argument, NULL, CLI_BO_ALPHA},                      \
        {"alpha-schedule", required_argument, NULL, CLI_BO_SCHED},             \
        {"epoch-mode", required_argument, NULL, CLI_BO_EMODE},                 \
        {"graph-mode", required_argument, NULL, CLI_BO_GMODE},                 \
        {"refresh", required_argument, NULL, CLI_BO_REFRESH},                  \
        {"refresh-lag", required_argument, NULL, CLI_BO_LAG},                  \
        {"warmup-epochs", required_argument, NULL, CLI_BO_WARM},               \
    {                                                                          \
        "steps-per-epoch", required_argument, NULL, CLI_BO_SPE                 \
    }

/* Applies option c (argument optarg) to b, the batch size to *B: 0, the
   usage exit code (message printed, naming cmd), or 1 when c is not a
   batcher option. */
int cli_batcher_opt(const char *cmd, int c, bs_batcher_params *b, int *B);

#endif /* BS_CLI_BATCHER_OPTS_H */
