/*
 * cmd_eval.c — `batchsampler eval sts`: unsupervised STS evaluation
 * (language/sts_eval.h) of the GloVe-average sentence encoder, on the six
 * standard tasks or on any files in the STS (score<TAB>s1<TAB>s2) or SICK
 * format.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "simcse_run.h"
#include "sts_eval.h"
#include "text.h"

static const char cmd[] = "eval sts";

typedef struct {
    const char *glove, *data_dir, *model;
    char glove_default[4096];
    char **files;
    int nfiles;
} eval_opts;

static void help(void)
{
    printf(
        "usage: batchsampler eval sts [--glove FILE | --model CKPT] "
        "[--data-dir DIR] [FILE...]\n"
        "\n"
        "Scores a sentence encoder as SentEval's unsupervised STS does: the\n"
        "cosine of the two sentences' embeddings against the gold score,\n"
        "Spearman's rank correlation x 100 (ties get average ranks).  The\n"
        "encoder is the GloVe average: the mean of the vectors of the\n"
        "sentence's tokens found in --glove (docs/language.md).\n"
        "\n"
        "Without FILEs: the six standard tasks from DIR/sts: STS12..STS16 in\n"
        "the 'all' setting (one Spearman over all of a year's pairs) and\n"
        "SICK-R (sick/SICK_test_annotated.txt), and their average.\n"
        "With FILEs: each file's Spearman and their average.  A file is\n"
        "`score<TAB>s1<TAB>s2` lines (score in [0, 5]) or a SICK file\n"
        "(recognised by its header; relatedness in [1, 5]).\n"
        "\n"
        "  --glove FILE     word vectors, `word v1 ... vd` lines (default\n"
        "                   DIR/text/glove.6B.50d.10k.txt)\n"
        "  --model CKPT     instead: the encoder of a `train simcse`\n"
        "                   checkpoint (pooled output, no head)\n"
        "  --data-dir DIR   the benchmark data folder (default\n"
        "                   ../shared/data, relative to the working "
        "directory)\n"
        "  -h, --help       this help\n");
}

/* Returns 0 to go on, -1 after --help, or the usage exit code. */
static int parse(int argc, char **argv, eval_opts *o)
{
    static const struct option longs[] = {
        {"glove", required_argument, NULL, 'g'},
        {"data-dir", required_argument, NULL, 'd'},
        {"model", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    o->data_dir = "../shared/data";
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        if (c == 'h') {
            help();
            return -1;
        }
        if (c == '?' || c == ':')
            return cli_getopt_error(cmd, c, argv);
        if (c == 'g')
            o->glove = optarg;
        else if (c == 'm')
            o->model = optarg;
        else
            o->data_dir = optarg;
    }
    if (o->model && (!o->model[0] || o->glove))
        return cli_usage(cmd, o->glove ? "--model and --glove exclude each "
                                         "other"
                                       : "empty path for --model");
    if ((o->glove && !o->glove[0]) || !o->data_dir[0])
        return cli_usage(cmd, "empty path for %s",
                         o->glove && !o->glove[0] ? "--glove" : "--data-dir");
    o->files = argv + optind;
    o->nfiles = argc - optind;
    for (int i = 0; i < o->nfiles; i++)
        if (!o->files[i][0])
            return cli_usage(cmd, "empty file name (argument %d)", i + 1);
    return 0;
}

static int data_error(const char *msg)
{
    fprintf(stderr, "batchsampler: %s\n", msg);
    return CLI_EXIT_DATA;
}

/* Every file on its own, then the mean of their correlations. */
static int run_files(const eval_opts *o, const bsl_encoder *enc)
{
    char msg[BS_ERROR_MSG_MAX];
    double *r = calloc((size_t)o->nfiles, sizeof *r), sum = 0;
    int64_t *pairs = calloc((size_t)o->nfiles, sizeof *pairs);
    if (!r || !pairs) {
        free(r);
        free(pairs);
        return data_error("out of memory");
    }
    for (int i = 0; i < o->nfiles; i++) {
        bst_sts s;
        int st = bst_sts_load(o->files[i], &s, msg, sizeof msg);
        if (st == BST_OK)
            st = bsl_sts_spearman(&s, 1, enc, &r[i], msg, sizeof msg);
        pairs[i] = s.n;
        bst_sts_free(&s);
        if (st != BST_OK) {
            free(r);
            free(pairs);
            return data_error(msg);
        }
        sum += r[i];
    }
    printf("%-40s %7s %9s\n", "file", "pairs", "spearman");
    for (int i = 0; i < o->nfiles; i++)
        printf("%-40s %7lld %9.2f\n", o->files[i], (long long)pairs[i], r[i]);
    printf("%-40s %7s %9.2f\n", "average", "", sum / o->nfiles);
    free(r);
    free(pairs);
    return CLI_EXIT_OK;
}

static int run_standard(const eval_opts *o, const bsl_encoder *enc)
{
    char msg[BS_ERROR_MSG_MAX], dir[4096];
    struct stat sb;
    bsl_sts_result res;
    snprintf(dir, sizeof dir, "%s/sts", o->data_dir);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr,
                "batchsampler: no STS data: %s is not a folder (expected "
                "the benchmark data folder holding sts/sts12..sts16 and "
                "sts/sick; give --data-dir)\n",
                dir);
        return CLI_EXIT_DATA;
    }
    if (bsl_sts_standard(o->data_dir, enc, &res, msg, sizeof msg) != BST_OK)
        return data_error(msg);
    printf("%-8s %7s %9s\n", "task", "pairs", "spearman");
    for (int t = 0; t < BSL_STS_TASKS; t++)
        printf("%-8s %7lld %9.2f\n", bsl_sts_task_name(t),
               (long long)res.pairs[t], res.spearman[t]);
    printf("%-8s %7s %9.2f\n", "average", "", res.average);
    return CLI_EXIT_OK;
}

/* the encoder of a SimCSE checkpoint */
static int cmd_sts_model(const eval_opts *o)
{
    char msg[BS_ERROR_MSG_MAX];
    bsl_simcse m;
    if (bsl_simcse_load_model(o->model, &m, msg, sizeof msg) != BST_OK)
        return data_error(msg);
    bsl_encoder enc = bsl_simcse_encoder(&m);
    int rc = o->nfiles ? run_files(o, &enc) : run_standard(o, &enc);
    if (rc == CLI_EXIT_OK)
        printf("encoder: SimCSE checkpoint %s (%d dimensions, %lld-word "
               "vocabulary)\n",
               o->model, m.cfg.dim, (long long)m.vocab.size);
    bsl_simcse_free(&m);
    return rc;
}

static int cmd_sts(int argc, char **argv)
{
    eval_opts o;
    char msg[BS_ERROR_MSG_MAX];
    bst_glove g;
    memset(&o, 0, sizeof o);
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (o.model)
        return cmd_sts_model(&o);
    if (!o.glove) {
        snprintf(o.glove_default, sizeof o.glove_default,
                 "%s/text/glove.6B.50d.10k.txt", o.data_dir);
        o.glove = o.glove_default;
    }
    if (bst_glove_load(o.glove, &g, msg, sizeof msg) != BST_OK)
        return data_error(msg);
    bsl_encoder enc = bsl_glove_avg_encoder(&g);
    rc = o.nfiles ? run_files(&o, &enc) : run_standard(&o, &enc);
    if (rc == CLI_EXIT_OK)
        printf("encoder: GloVe average of %s (%lld words, %d dimensions)\n",
               o.glove, (long long)g.n, g.dim);
    bst_glove_free(&g);
    return rc;
}

int cli_cmd_eval(int argc, char **argv)
{
    if (argc >= 2 &&
        (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: batchsampler eval sts [options] [FILE...]\n"
               "\n"
               "Evaluations of sentence encoders; 'batchsampler eval sts "
               "--help' for the one there is.\n");
        return CLI_EXIT_OK;
    }
    if (argc < 2 || argv[1][0] == '-')
        return cli_usage("eval", "expected an evaluation: 'batchsampler eval "
                                 "sts [options] [FILE...]'");
    if (strcmp(argv[1], "sts") != 0)
        return cli_usage("eval", "unknown evaluation '%s': expected sts",
                         argv[1]);
    return cmd_sts(argc - 1, argv + 1);
}
