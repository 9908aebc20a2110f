/*
 * sts_eval.c — Spearman of cosines against gold scores, the six standard
 * tasks, the GloVe-average encoder (sts_eval.h).
 */
#include "sts_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenize.h"

#define fail bst_text_fail /* the one-line message helper (text.h) */

/* ------------------------------------------------------------- statistics */

typedef struct {
    double v;
    int64_t i;
} keyed;

static int by_value(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int bsl_rank(const double *x, int64_t n, double *rank)
{
    keyed *k = malloc((size_t)(n > 0 ? n : 1) * sizeof *k);
    if (!k)
        return BST_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        k[i] = (keyed){x[i], i};
    qsort(k, (size_t)n, sizeof *k, by_value);
    for (int64_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && k[b].v == k[a].v; b++)
            ;
        double r = 0.5 * (double)(a + 1 + b); /* mean of a+1 .. b */
        for (int64_t j = a; j < b; j++)
            rank[k[j].i] = r;
    }
    free(k);
    return BST_OK;
}

double bsl_pearson(const double *x, const double *y, int64_t n)
{
    if (n < 2)
        return NAN;
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx <= 0 || syy <= 0)
        return NAN;
    return sxy / sqrt(sxx * syy);
}

double bsl_spearman(const double *x, const double *y, int64_t n)
{
    double *rx = malloc((size_t)(n > 0 ? n : 1) * sizeof *rx);
    double *ry = malloc((size_t)(n > 0 ? n : 1) * sizeof *ry);
    double r = NAN;
    if (rx && ry && bsl_rank(x, n, rx) == BST_OK &&
        bsl_rank(y, n, ry) == BST_OK)
        r = bsl_pearson(rx, ry, n);
    free(rx);
    free(ry);
    return r;
}

double bsl_cosine(const float *a, const float *b, int dim)
{
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < dim; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    /* sqrt(aa * bb), not sqrt(aa) * sqrt(bb): equal vectors give exactly
       1, so that sentences with equal embeddings tie */
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* ------------------------------------------------------------- scoring */

/* Embeds s (line `line` of set `what`) into out and checks it is finite. */
static int embed_one(const bsl_encoder *enc, const char *s, const char *what,
                     int64_t line, float *out, char *msg, size_t cap)
{
    char inner[256] = "";
    if (enc->embed(enc->ctx, s, out, inner, sizeof inner) != 0)
        return fail(msg, cap, BST_ERR_FORMAT, "%s:%lld: the encoder failed: %s",
                    what, (long long)line, inner[0] ? inner : "no message");
    for (int j = 0; j < enc->dim; j++)
        if (!isfinite(out[j]))
            return fail(msg, cap, BST_ERR_FORMAT,
                        "%s:%lld: embedding value %d is not finite "
                        "(expected finite embeddings)",
                        what, (long long)line, j);
    return BST_OK;
}

/* Cosines of set s's pairs into cos, gold into gold. */
static int score_set(const bst_sts *s, const bsl_encoder *enc, float *u,
                     float *v, double *cos, double *gold, char *msg, size_t cap)
{
    const char *what = s->sick ? "SICK file" : "STS file";
    for (int64_t i = 0; i < s->n; i++) {
        int64_t line = i + 1 + s->sick; /* SICK has a header */
        int rc = embed_one(enc, s->s1[i], what, line, u, msg, cap);
        if (rc == BST_OK)
            rc = embed_one(enc, s->s2[i], what, line, v, msg, cap);
        if (rc != BST_OK)
            return rc;
        cos[i] = bsl_cosine(u, v, enc->dim);
        gold[i] = s->score[i];
    }
    return BST_OK;
}

static int check_args(const bst_sts *sets, int nsets, const bsl_encoder *enc,
                      int64_t *n, char *msg, size_t cap)
{
    *n = 0;
    if (!enc || !enc->embed || enc->dim < 1 || (!sets && nsets) || nsets < 0)
        return fail(msg, cap, BST_ERR_INVAL,
                    "STS evaluation: bad arguments (expected an encoder "
                    "with dim >= 1 and sentence pairs)");
    for (int k = 0; k < nsets; k++)
        *n += sets[k].n;
    if (*n < 2)
        return fail(msg, cap, BST_ERR_INVAL,
                    "STS evaluation: %lld sentence pairs (expected at "
                    "least 2)",
                    (long long)*n);
    return BST_OK;
}

int bsl_sts_spearman(const bst_sts *sets, int nsets, const bsl_encoder *enc,
                     double *out, char *msg, size_t cap)
{
    int64_t n, at = 0;
    int rc = check_args(sets, nsets, enc, &n, msg, cap);
    if (rc != BST_OK)
        return rc;
    double *cos = malloc((size_t)n * sizeof *cos);
    double *gold = malloc((size_t)n * sizeof *gold);
    float *u = malloc((size_t)enc->dim * 2 * sizeof *u);
    rc = cos && gold && u ? BST_OK
                          : fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    for (int k = 0; k < nsets && rc == BST_OK; k++) {
        rc = score_set(&sets[k], enc, u, u + enc->dim, cos + at, gold + at, msg,
                       cap);
        at += sets[k].n;
    }
    double r = rc == BST_OK ? bsl_spearman(cos, gold, n) : 0;
    if (rc == BST_OK && isnan(r))
        rc =
            fail(msg, cap, BST_ERR_INVAL,
                 "STS evaluation: the %s are all equal (Spearman "
                 "undefined)",
                 isnan(bsl_pearson(gold, gold, n)) ? "gold scores" : "cosines");
    if (rc == BST_OK)
        *out = 100.0 * r;
    free(cos);
    free(gold);
    free(u);
    return rc;
}

/* ------------------------------------------------------------- the tasks */

static const char *const task_name[BSL_STS_TASKS] = {
    "STS12", "STS13", "STS14", "STS15", "STS16", "SICK-R"};

/* Each task's folder under sts/ and files, NULL-terminated. */
static const char *const task_files[BSL_STS_TASKS][8] = {
    {"sts12", "MSRpar.tsv", "MSRvid.tsv", "SMTeuroparl.tsv",
     "surprise.OnWN.tsv", "surprise.SMTnews.tsv", NULL},
    {"sts13", "FNWN.tsv", "headlines.tsv", "OnWN.tsv", NULL},
    {"sts14", "deft-forum.tsv", "deft-news.tsv", "headlines.tsv", "images.tsv",
     "OnWN.tsv", "tweet-news.tsv", NULL},
    {"sts15", "answers-forums.tsv", "answers-students.tsv", "belief.tsv",
     "headlines.tsv", "images.tsv", NULL},
    {"sts16", "answer-answer.tsv", "headlines.tsv", "plagiarism.tsv",
     "postediting.tsv", "question-question.tsv", NULL},
    {"sick", "SICK_test_annotated.txt", NULL},
};

const char *bsl_sts_task_name(int t)
{
    return t >= 0 && t < BSL_STS_TASKS ? task_name[t] : "?";
}

static void free_sets(bst_sts *sets, int n)
{
    for (int k = 0; k < n; k++)
        bst_sts_free(&sets[k]);
    free(sets);
}

int bsl_sts_load_task(const char *data_dir, int t, bst_sts **sets, int *nsets,
                      char *msg, size_t cap)
{
    if (!data_dir || !sets || !nsets || t < 0 || t >= BSL_STS_TASKS)
        return fail(msg, cap, BST_ERR_INVAL, "STS task: bad arguments");
    const char *const *f = task_files[t];
    int n = 0;
    while (f[n + 1])
        n++;
    *sets = calloc((size_t)n, sizeof **sets);
    *nsets = 0;
    if (!*sets)
        return fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/sts/%s/%s", data_dir, f[0], f[k + 1]);
        int rc = bst_sts_load(path, &(*sets)[k], msg, cap);
        if (rc != BST_OK) {
            free_sets(*sets, k);
            *sets = NULL;
            return rc;
        }
    }
    *nsets = n;
    return BST_OK;
}

int bsl_sts_standard(const char *data_dir, const bsl_encoder *enc,
                     bsl_sts_result *res, char *msg, size_t cap)
{
    if (!res)
        return fail(msg, cap, BST_ERR_INVAL, "STS tasks: bad arguments");
    memset(res, 0, sizeof *res);
    for (int t = 0; t < BSL_STS_TASKS; t++) {
        bst_sts *sets;
        int n;
        int rc = bsl_sts_load_task(data_dir, t, &sets, &n, msg, cap);
        if (rc != BST_OK)
            return rc;
        rc = bsl_sts_spearman(sets, n, enc, &res->spearman[t], msg, cap);
        for (int k = 0; k < n; k++)
            res->pairs[t] += sets[k].n;
        free_sets(sets, n);
        if (rc != BST_OK)
            return rc;
        res->average += res->spearman[t] / BSL_STS_TASKS;
    }
    return BST_OK;
}

/* ---------------------------------------------------- GloVe average */

int bsl_glove_avg_embed(void *ctx, const char *sentence, float *out, char *msg,
                        size_t cap)
{
    const bst_glove *g = ctx;
    double sum[BST_GLOVE_MAX_DIM] = {0};
    char tok[BSL_TOKEN_MAX];
    size_t len;
    int64_t known = 0;
    (void)msg;
    (void)cap;
    while ((len = bsl_next_token(&sentence, tok)) > 0) {
        int32_t r = bst_strtab_get(&g->index, tok, len);
        if (r < 0)
            continue;
        known++;
        for (int j = 0; j < g->dim; j++)
            sum[j] += g->vec[(int64_t)r * g->dim + j];
    }
    for (int j = 0; j < g->dim; j++)
        out[j] = known ? (float)(sum[j] / (double)known) : 0.0f;
    return 0;
}

bsl_encoder bsl_glove_avg_encoder(const bst_glove *g)
{
    /* the callback takes a void*; it never writes through it */
    bsl_encoder e = {bsl_glove_avg_embed, (void *)(uintptr_t)g, g->dim};
    return e;
}
