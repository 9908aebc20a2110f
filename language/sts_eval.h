/*
 * sts_eval.h — unsupervised STS evaluation as SentEval does it (bs_language;
 * docs/language.md): the cosine of the two sentences' embeddings against
 * the gold score, Spearman's rank correlation x 100.
 *
 * The standard benchmark is six tasks: STS12, STS13, STS14, STS15, STS16
 * in the "all" setting — ONE Spearman over the concatenation of the year's
 * subsets (SimCSE's reported numbers; SentEval's own 'all' entry is the
 * mean or pair-weighted mean of per-subset correlations, which this does
 * not compute) — and SICK-R on its test split (SICK_test_annotated.txt,
 * relatedness).  Their average is the headline number.
 *
 * The encoder is a callback, so the GloVe average (below) and a trained
 * model plug in the same way.
 */
#ifndef BS_LANGUAGE_STS_EVAL_H
#define BS_LANGUAGE_STS_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "text.h"

/* Writes the embedding of sentence (dim floats) to out; returns 0, or
   non-zero with a one-line message in msg to stop the evaluation. */
typedef int (*bsl_embed_fn)(void *ctx, const char *sentence, float *out,
                            char *msg, size_t cap);

typedef struct {
    bsl_embed_fn embed;
    void *ctx;
    int dim; /* >= 1 */
} bsl_encoder;

/* Ranks 1..n of x, ties given the mean of their ranks.  rank (n) is
   written; NaNs are not allowed. */
int bsl_rank(const double *x, int64_t n, double *rank);
/* Pearson's r of x and y (NaN if n < 2 or either is constant). */
double bsl_pearson(const double *x, const double *y, int64_t n);
/* Spearman's rho: Pearson's r of the average ranks (NaN as above, or out
   of memory). */
double bsl_spearman(const double *x, const double *y, int64_t n);
/* Cosine in double; 0 when either vector is zero (SentEval's
   nan_to_num). */
double bsl_cosine(const float *a, const float *b, int dim);

/* Spearman x 100 of the cosines against the gold scores over all the
   pairs of sets[0..nsets) together.  BST_OK, BST_ERR_INVAL (no pairs, bad
   encoder, constant scores or cosines: message says which), BST_ERR_FORMAT
   (the encoder failed or gave a non-finite value: its message, with the
   sentence's set and line), BST_ERR_NOMEM. */
int bsl_sts_spearman(const bst_sts *sets, int nsets, const bsl_encoder *enc,
                     double *out, char *msg, size_t cap);

enum { BSL_STS_TASKS = 6 };

/* "STS12" .. "STS16", "SICK-R" for t = 0..5. */
const char *bsl_sts_task_name(int t);

/* Loads task t's files from DATA_DIR/sts/ (DATA_DIR is the data folder of
   ../shared/data/README.md): sts12..sts16/<subset>.tsv with SentEval's
   subsets (STS13 without SMT, which is absent), sick/SICK_test_annotated.txt.
   *sets (*nsets) is malloc'ed; free each with bst_sts_free, then it. */
int bsl_sts_load_task(const char *data_dir, int t, bst_sts **sets, int *nsets,
                      char *msg, size_t cap);

typedef struct {
    double spearman[BSL_STS_TASKS]; /* x 100 */
    int64_t pairs[BSL_STS_TASKS];
    double average;
} bsl_sts_result;

/* The six tasks and their average. */
int bsl_sts_standard(const char *data_dir, const bsl_encoder *enc,
                     bsl_sts_result *res, char *msg, size_t cap);

/* ---------------------------------------------------- GloVe average */

/* The baseline encoder: the mean of the GloVe vectors of the sentence's
   tokens (tokenize.h) that are GloVe words, summed in double in token
   order, then rounded to float; the zero vector when there is none.
   ctx is a const bst_glove*.  Never fails. */
int bsl_glove_avg_embed(void *ctx, const char *sentence, float *out, char *msg,
                        size_t cap);
/* An encoder over g (dim = g->dim). */
bsl_encoder bsl_glove_avg_encoder(const bst_glove *g);

#endif /* BS_LANGUAGE_STS_EVAL_H */
