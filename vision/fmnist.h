/*
 * fmnist.h — Fashion-MNIST for the vision trainers: the first N images of
 * the train and test splits as floats in [0, 1] with their labels, from
 * the IDX .gz files of a folder (data/idx.h reads them).  Used by
 * simclr_run.c and moco_run.c.
 *
 * Ownership: bst_fmnist owns its arrays; bst_fmnist_free releases them
 * (safe on a zeroed struct).  Thread safety: no shared state.  Errors:
 * BST_ERR_IO, BST_ERR_FORMAT (not 28x28, a label outside 0..9, a
 * truncated file), BST_ERR_NOMEM, each with a one-line message naming the
 * file.
 */
#ifndef BS_VISION_FMNIST_H
#define BS_VISION_FMNIST_H

#include <stdint.h>

#include "engine.h"

/* The Debian package's folder (dataset-fashion-mnist). */
#define BST_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
enum { BST_FMNIST_CLASSES = 10 };

typedef struct {
    float *train, *test;     /* (n, 28, 28) in [0, 1] */
    uint8_t *ytrain, *ytest; /* labels 0..9 */
    int64_t *ylong;          /* ytrain as int64 (the core's metrics) */
    int64_t ntrain, ntest;
} bst_fmnist;

/* Reads DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, the first
   train_n / test_n records of each (0 = all). */
int bst_fmnist_load(const char *dir, int64_t train_n, int64_t test_n,
                    bst_fmnist *d, char *msg, size_t cap);
void bst_fmnist_free(bst_fmnist *d);

#endif /* BS_VISION_FMNIST_H */
