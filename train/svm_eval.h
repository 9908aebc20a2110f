/*
 * svm_eval.h — the graph papers' evaluation of frozen embeddings: an SVM
 * whose C is chosen in {0.001, 0.01, 0.1, 1, 10, 100, 1000} by an inner
 * stratified cross-validation on each training part of an outer stratified
 * cross-validation; the result is the outer folds' accuracy, mean and std
 * (GraphCL's unsupervised_TU/evaluate_embedding.py, svc_classify with
 * search=True).
 *
 * Kernels:
 *  - BST_SVM_RBF: libsvm C-SVC, RBF kernel, gamma = 1 / (d * var) with var
 *    the variance of every entry of the part being fitted (sklearn SVC()'s
 *    gamma='scale'; 1 when var is 0), tol 1e-3, shrinking, 200 MB cache,
 *    one-vs-one for more than two classes: sklearn's SVC() defaults.
 *  - BST_SVM_LINEAR: liblinear, L2-regularised squared hinge loss with a
 *    bias feature of 1 (LinearSVC()'s problem, one-vs-rest), solved in the
 *    primal (L2R_L2LOSS_SVC, eps 1e-4) rather than LinearSVC's dual: the
 *    dual solver draws its permutations from libc rand(), a global that is
 *    neither thread-safe nor seedable per call.
 *
 * Splits: a seeded stratified k-fold (each class's samples shuffled by
 * (seed, class), then dealt round-robin over the folds, classes one after
 * the other, so fold sizes differ by at most one); the inner splits are
 * seeded by (seed, outer fold).  sklearn shuffles the outer split with a
 * random seed and does not shuffle the inner one; here both are seeded, so a
 * result is a pure function of (x, y, config).
 *
 * No silent fallback to fewer folds: every class needs at least `folds`
 * samples, and at least `inner_folds` in every outer training part
 * (10 / 5 folds: 10 samples per class), else BST_ERR_INVAL.
 *
 * Speed (RBF): the squared distances are computed once (n x n doubles:
 * 135 MB for NCI1's 4110 graphs), and each training part's kernel matrix
 * once for the seven C, handed to libsvm as a PRECOMPUTED kernel whose
 * values are bit for bit those libsvm's RBF kernel computes (so the
 * models and results are libsvm's RBF ones; each task holds (ntr + nte) x
 * (ntr + 2) svm_nodes, up to 243 MB for NCI1).  Measured on a GraphCL
 * embedding of PROTEINS: see docs/graphs.md.
 *
 * Threads: OpenMP over the (outer fold, inner fold) pairs, then over the
 * outer folds' final fits (each problem is separate, which libsvm and
 * liblinear allow); the result is the same for any thread count.  libsvm's and liblinear's print functions are globals of those
 * libraries: bst_svm_eval silences both (svm_set_print_string_function,
 * set_print_string_function) on every call, so do not call it at the same
 * time as other code that uses libsvm / liblinear output.
 */
#ifndef BS_TRAIN_SVM_EVAL_H
#define BS_TRAIN_SVM_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define BST_SVM_MAX_FOLDS 20
#define BST_SVM_NUM_C 7

/* The C grid, in increasing order (ties in inner accuracy go to the
   smaller C, as GridSearchCV's first best). */
extern const double bst_svm_c_grid[BST_SVM_NUM_C];

typedef enum { BST_SVM_RBF = 0, BST_SVM_LINEAR = 1 } bst_svm_kernel;

typedef struct {
    bst_svm_kernel kernel;
    int folds;       /* outer folds, 2..BST_SVM_MAX_FOLDS (10) */
    int inner_folds; /* inner folds for choosing C, 2..BST_SVM_MAX_FOLDS (5) */
    uint64_t seed;   /* the splits */
} bst_svm_config;

typedef struct {
    double mean, std; /* accuracy over the outer folds, in [0, 1]; std is
                         the population std (np.std), as GraphCL reports */
    int folds;
    double acc[BST_SVM_MAX_FOLDS];    /* each outer fold's test accuracy */
    double best_c[BST_SVM_MAX_FOLDS]; /* the C each fold chose */
} bst_svm_result;

/* RBF, 10 outer folds, 5 inner, seed 0. */
void bst_svm_config_default(bst_svm_config *cfg);

/* x (n, d) row-major embeddings, y (n) class ids >= 0 (classes = max + 1,
   each present).  BST_OK; BST_ERR_INVAL (bad config, n or d < 1, a label
   < 0, a class with too few samples, a non-finite x) or BST_ERR_NOMEM, with
   a one-line message. */
int bst_svm_eval(const bst_svm_config *cfg, const float *x, int64_t n,
                 int64_t d, const int32_t *y, bst_svm_result *out, char *msg,
                 size_t cap);

#endif /* BS_TRAIN_SVM_EVAL_H */
