/*
 * eval.h — evaluation of frozen features (the SimCLR trainer's kNN monitor
 * and linear probe).
 *
 * Conventions (as engine.h)
 *
 *  - Features are row-major float arrays (n, d); labels are uint8_t class
 *    indices in [0, nclasses), nclasses <= 256.  The caller owns every
 *    array; inputs are const and never modified (normalisation and
 *    standardisation work on internal copies), outputs are written only on
 *    BST_OK.  All workspace is malloc'ed per call and freed before return.
 *  - Errors: BST_OK, BST_ERR_INVAL (bad arguments: NULL arrays, n < 1,
 *    d < 1, nclasses outside 1..256, a label >= nclasses, a non-finite
 *    feature, bad k / T / config) or BST_ERR_NOMEM (workspace allocation
 *    failed).  On error a one-line message is written into msg (if msg is
 *    not NULL and cap > 0) and the outputs are untouched.
 *  - Thread safety: reentrant, no global state; the input arrays may be
 *    shared between concurrent calls.  Internally OpenMP (over test rows,
 *    resp. training rows) and OpenBLAS (cblas_sgemm); results are bitwise
 *    identical for any number of OpenMP threads (no floating-point atomics;
 *    every reduction runs in a fixed order).
 */
#ifndef BS_TRAIN_EVAL_H
#define BS_TRAIN_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ------------------------------------------------------------ weighted kNN */
/* Weighted kNN classifier of Wu et al. 2018 (instance discrimination), as
   in the SimCLR / BatchSampler reference code.  Rows of train (ntrain, d)
   and test (ntest, d) are L2-normalised (x / max(|x|, 1e-12), on copies);
   for each test row the cosine similarity to every train row is computed
   (cblas_sgemm over blocks of 256 test rows), the k most similar train rows
   are kept (min(k, ntrain); equal similarities: lower train index first),
   each votes for its label with weight exp(sim / T), and the class with the
   largest summed weight is predicted (equal sums: lowest class index).
   Trainer defaults: k = 200, T = 0.5.  Weights are computed as
   exp((sim - max sim) / T), the same ranking without overflow for small T.
   Memory: about 4 (ntrain d + ntest d + 256 ntrain) + ntest bytes plus
   16 min(k, ntrain) per thread.  ntrain is limited to INT_MAX (BLAS).

   pred (ntest) may be NULL.  test_labels (ntest) may be NULL unless top1 is
   given; top1 (may be NULL) receives the fraction of test rows whose
   prediction equals test_label.  Returns BST_OK, BST_ERR_NOMEM, or
   BST_ERR_INVAL for NULL train / train_labels / test, ntrain < 1,
   ntest < 1, d < 1, nclasses outside 1..256, k < 1, T not > 0 (NaN, inf),
   top1 without test_labels, a label >= nclasses, or a NaN / inf feature. */
int bst_knn_classify(const float *train, const uint8_t *train_labels,
                     int64_t ntrain, const float *test, int64_t ntest, int d,
                     int nclasses, int k, double T, uint8_t *pred,
                     const uint8_t *test_labels, double *top1, char *msg,
                     size_t cap);

/* ------------------------------------------------------------ linear probe */
/* Multinomial logistic regression on frozen features.  Each feature
   dimension is standardised with the train mean and (biased) standard
   deviation (a dimension with std < 1e-6 is centred only); the same
   transform is applied to test.  The model logits = x W^T + b, W (C, d),
   b (C), starts at zero and minimises
       f = mean over train rows of cross-entropy(softmax(logits), label)
           + l2 / 2 * |W|^2          (no penalty on b)
   by full-batch L-BFGS (history 10, backtracking Armijo line search; loss
   and the direction arithmetic in double, the two products per evaluation
   in float sgemm).  It stops after max_iter iterations, when the gradient's
   max-norm falls below tol, or when the line search cannot decrease f
   (converged to float precision); none of these is an error. */
typedef struct {
    double l2;    /* >= 0, finite; default 1e-4 */
    int max_iter; /* >= 1; default 200 */
    double tol;   /* >= 0, finite; default 1e-5 (gradient max-norm) */
} bst_probe_cfg;

void bst_probe_cfg_default(bst_probe_cfg *c);

/* Train on (train, train_labels) (ntrain, d) and report top-1 accuracy
   (fraction correct, argmax ties to the lowest class) on train and on
   (test, test_labels) (ntest, d); either output may be NULL.  cfg NULL means
   the defaults.  Returns BST_OK, BST_ERR_NOMEM, or BST_ERR_INVAL for a bad
   cfg field, NULL arrays, ntrain < 1 or > INT_MAX, ntest < 1 or > INT_MAX,
   d < 1, nclasses outside 1..256, a label >= nclasses, or a NaN / inf feature.
 */
int bst_linear_probe(const bst_probe_cfg *cfg, const float *train,
                     const uint8_t *train_labels, int64_t ntrain,
                     const float *test, const uint8_t *test_labels,
                     int64_t ntest, int d, int nclasses, double *train_top1,
                     double *test_top1, char *msg, size_t cap);

/* The probe's objective, exposed for tests (gradient check): f(theta) as
   above for features X (n, d) used as given (already standardised),
   theta = [W (C, d) row-major, b (C)] in double; writes the gradient into
   grad (C d + C) and f into *f.  Same checks as bst_linear_probe (except
   the config; l2 >= 0, finite).  Returns BST_OK, BST_ERR_INVAL or
   BST_ERR_NOMEM. */
int bst_probe_objective(const float *X, const uint8_t *y, int64_t n, int d,
                        int nclasses, double l2, const double *theta, double *f,
                        double *grad, char *msg, size_t cap);

#endif /* BS_TRAIN_EVAL_H */
