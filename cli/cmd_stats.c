/*
 * cmd_stats.c — `batchsampler stats`: hardness, false-negative rate and
 * coverage of a batches file, as a table or one JSON object.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char cmd[] = "stats";

typedef struct {
    const char *emb, *labels, *batches;
    int json, threads;
} stats_opts;

/* Everything loaded, and what the CLI itself checks about the batches. */
typedef struct {
    float *x;
    int64_t n, d;
    int64_t *y;   /* labels or NULL */
    int64_t *ids; /* nb x b */
    int64_t nb, b;
} stats_data;

static void help(void)
{
    printf(
        "usage: batchsampler stats --emb X.npy --batches batches.npy "
        "[options]\n"
        "\n"
        "Measures batches (rows of an int64/int32 .npy, e.g. from 'sample';\n"
        "every row must hold distinct ids in [0, N)):\n"
        "  hardness         mean cosine over in-batch pairs, the largest one, "
        "and\n"
        "                   the mean over anchors of the hardest negative's "
        "cosine\n"
        "  false negatives  fraction of in-batch pairs with equal labels "
        "(--labels)\n"
        "  coverage         appearances per instance (min/mean/max), never "
        "seen\n"
        "\n"
        "  --emb X.npy        (N, d) embeddings (required)\n"
        "  --batches F.npy    (num_batches, B) ids (required)\n"
        "  --labels y.npy     N int32/int64 class labels (optional)\n"
        "  --json             one JSON object on stdout instead of the "
        "table\n"
        "  --threads N        OpenMP threads (default 0 = all)\n"
        "  -h, --help         this help\n");
}

static int parse_one(int c, void *ctx)
{
    stats_opts *o = ctx;
    switch (c) {
    case 'e': o->emb = optarg; return 0;
    case 'l': o->labels = optarg; return 0;
    case 'b': o->batches = optarg; return 0;
    case 'j': o->json = 1; return 0;
    case 't':
        return cli_parse_int(cmd, "--threads", optarg, 0, 4096, &o->threads);
    default: return CLI_EXIT_USAGE;
    }
}

/* Returns 0 to go on, -1 after --help, or the usage exit code. */
static int parse(int argc, char **argv, stats_opts *o)
{
    static const struct option longs[] = {
        {"emb", required_argument, NULL, 'e'},
        {"labels", required_argument, NULL, 'l'},
        {"batches", required_argument, NULL, 'b'},
        {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int rc =
        cli_parse_options(cmd, argc, argv, ":h", longs, help, parse_one, o);
    if (rc != 0)
        return rc;
    if (!o->emb)
        return cli_usage(cmd, "missing required option --emb");
    if (!o->batches)
        return cli_usage(cmd, "missing required option --batches");
    const cli_path in[] = {
        {"--emb", o->emb}, {"--labels", o->labels}, {"--batches", o->batches}};
    return cli_check_paths(cmd, in, 3, NULL, 0);
}

/* Every id in range and distinct within its row, checked here so that the
   message names the file (a stamp per instance: O(n) memory). */
static bs_status check_ids(const char *path, const stats_data *s, bs_error *err)
{
    int64_t *stamp = calloc((size_t)s->n, sizeof *stamp);
    bs_status st = BS_OK;
    if (!stamp)
        return cli_set_error(err, BS_ERR_NOMEM, "out of memory");
    for (int64_t r = 0; st == BS_OK && r < s->nb; r++) {
        for (int64_t j = 0; st == BS_OK && j < s->b; j++) {
            int64_t id = s->ids[r * s->b + j];
            if (id < 0 || id >= s->n)
                st = cli_set_error(err, BS_ERR_DATA,
                                   "%s: id %lld (row %lld, column %lld) is "
                                   "out of range [0, %lld)",
                                   path, (long long)id, (long long)r,
                                   (long long)j, (long long)s->n);
            else if (stamp[id] == r + 1)
                st = cli_set_error(err, BS_ERR_DATA,
                                   "%s: row %lld holds id %lld twice: "
                                   "expected distinct ids in every batch",
                                   path, (long long)r, (long long)id);
            else
                stamp[id] = r + 1;
        }
    }
    free(stamp);
    return st;
}

static bs_status load_labels(const char *path, stats_data *s, bs_error *err)
{
    int64_t ny = 0;
    bs_status st = bs_npy_load_labels(path, &s->y, &ny, err);
    if (st == BS_OK && ny != s->n)
        st = cli_set_error(err, BS_ERR_DATA,
                           "%s: %lld labels for %lld embeddings", path,
                           (long long)ny, (long long)s->n);
    return st;
}

static bs_status load(const stats_opts *o, stats_data *s, bs_error *err)
{
    bs_status st = bs_npy_load_matrix(o->emb, &s->x, &s->n, &s->d, err);
    if (st == BS_OK && o->labels)
        st = load_labels(o->labels, s, err);
    if (st == BS_OK)
        st = cli_load_batches(o->batches, &s->ids, &s->nb, &s->b, err);
    if (st == BS_OK && s->nb == 0)
        st = cli_set_error(err, BS_ERR_DATA,
                           "%s: no batches (0 rows): expected at least one "
                           "batch",
                           o->batches);
    if (st == BS_OK && s->b < 2)
        st = cli_set_error(err, BS_ERR_DATA,
                           "%s: batches of %lld ids; pairs need at least 2",
                           o->batches, (long long)s->b);
    if (st == BS_OK)
        st = check_ids(o->batches, s, err);
    return st;
}

/* JSON has no NaN: print null for anything not finite. */
static void json_num(const char *key, double v, const char *sep)
{
    if (isfinite(v))
        printf("\"%s\":%.9g%s", key, v, sep);
    else
        printf("\"%s\":null%s", key, sep);
}

static void print_json(const stats_data *s, const bs_run_stats *r)
{
    printf("{\"n\":%lld,\"d\":%lld,\"batches\":%lld,\"batch_size\":%lld,",
           (long long)s->n, (long long)s->d, (long long)s->nb, (long long)s->b);
    json_num("mean_sim", r->mean_sim, ",");
    json_num("max_sim", r->max_sim, ",");
    json_num("mean_max_sim", r->mean_max_sim, ",");
    if (s->y)
        json_num("fn_rate", r->fn_rate, ",");
    else
        printf("\"fn_rate\":null,");
    printf("\"count_min\":%lld,", (long long)r->count_min);
    json_num("count_mean", r->count_mean, ",");
    printf("\"count_max\":%lld,\"never_seen\":%lld}\n", (long long)r->count_max,
           (long long)r->never_seen);
}

static void print_table(const stats_data *s, const bs_run_stats *r)
{
    printf("batches          %lld x %lld ids (N = %lld, d = %lld)\n",
           (long long)s->nb, (long long)s->b, (long long)s->n, (long long)s->d);
    printf("hardness         mean cos %.4f, max cos %.4f, mean hardest-"
           "negative cos %.4f\n",
           r->mean_sim, r->max_sim, r->mean_max_sim);
    if (s->y)
        printf("false negatives  %.4f of in-batch pairs share a label\n",
               r->fn_rate);
    else
        printf("false negatives  n/a (no --labels)\n");
    printf("coverage         appearances min %lld / mean %.3f / max %lld; "
           "never seen %lld of %lld\n",
           (long long)r->count_min, r->count_mean, (long long)r->count_max,
           (long long)r->never_seen, (long long)s->n);
}

int cli_cmd_stats(int argc, char **argv)
{
    stats_opts o;
    stats_data s;
    bs_run_stats r;
    bs_error err = {0};
    bs_status st;
    int rc;
    memset(&o, 0, sizeof o);
    memset(&s, 0, sizeof s);
    rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    st = load(&o, &s, &err);
    if (st == BS_OK)
        st = bs_run_stats_compute(s.x, s.n, s.d, s.ids, s.nb, s.b, s.y,
                                  o.threads, &r, &err);
    if (st == BS_OK) {
        if (o.json)
            print_json(&s, &r);
        else
            print_table(&s, &r);
    }
    free(s.x);
    free(s.y);
    free(s.ids);
    return st == BS_OK ? CLI_EXIT_OK : cli_fail(&err);
}
