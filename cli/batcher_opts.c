/* batcher_opts.c — the trainers' shared batcher options (batcher_opts.h). */
#include <getopt.h>

#include "batcher_opts.h"
#include "cli.h"

int cli_batcher_opt(const char *cmd, int c, bs_batcher_params *b, int *B)
{
    bs_error err;
    int64_t v = 0;
    int rc;
    switch (c) {
    case CLI_BO_SAMPLER:
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
    case CLI_BO_ALPHA:
        return cli_parse_f64(cmd, "--alpha", optarg, 0, 1, 1,
                             &b->sampler.alpha);
    case CLI_BO_SCHED:
        return bs_alpha_schedule_parse(optarg, &b->sampler.schedule, &err) ==
                       BS_OK
                   ? 0
                   : cli_usage(cmd,
                               "--alpha-schedule '%s': expected "
                               "constant, step or reference",
                               optarg);
    case CLI_BO_EMODE:
        return bs_epoch_mode_parse(optarg, &b->sampler.epoch_mode, &err) ==
                       BS_OK
                   ? 0
                   : cli_usage(cmd,
                               "--epoch-mode '%s': expected fixed, "
                               "carry or exact",
                               optarg);
    case CLI_BO_GMODE:
        if (bs_graph_mode_parse(optarg, &b->graph.mode, &err) != BS_OK ||
            b->graph.mode == BS_MODE_EXACT)
            return cli_usage(cmd,
                             "--graph-mode '%s': expected shared or "
                             "independent",
                             optarg);
        return 0;
    case CLI_BO_REFRESH:
        return cli_parse_i64(cmd, "--refresh", optarg, 1, INT64_MAX / 2,
                             &b->refresh_every);
    case CLI_BO_LAG:
        return cli_parse_i64(cmd, "--refresh-lag", optarg, 0, 1 << 30,
                             &b->refresh_lag);
    case CLI_BO_WARM:
        return cli_parse_i64(cmd, "--warmup-epochs", optarg, 0, 1 << 20,
                             &b->warmup_epochs);
    case CLI_BO_SPE:
        return cli_parse_i64(cmd, "--steps-per-epoch", optarg, 1, 1 << 30,
                             &b->sampler.batches_per_epoch);
    }
    return 1; /* not a batcher option */
}
