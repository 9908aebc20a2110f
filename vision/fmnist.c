/* fmnist.c — Fashion-MNIST for the vision trainers (fmnist.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmnist.h"

enum { SIDE = 28 };

/* One split: images as floats, labels checked against the class count. */
static int read_split(const char *dir, const char *name, int64_t want,
                      float **x, uint8_t **y, int64_t *n, char *msg, size_t cap)
{
    char file[4096];
    uint8_t *raw = NULL;
    int64_t count = 0, h = 0, w = 0, nlab = 0;
    snprintf(file, sizeof file, "%s/%s-images-idx3-ubyte.gz", dir, name);
    int rc = bst_idx_read_images(file, want, &raw, &count, &h, &w, msg, cap);
    if (!rc && (h != SIDE || w != SIDE))
        rc = bst_fail(msg, cap, BST_ERR_FORMAT,
                      "%s: %lldx%lld images, expected 28x28", file,
                      (long long)h, (long long)w);
    if (!rc) {
        snprintf(file, sizeof file, "%s/%s-labels-idx1-ubyte.gz", dir, name);
        rc = bst_idx_read_labels(file, count, y, &nlab, msg, cap);
    }
    for (int64_t i = 0; !rc && i < nlab; i++)
        if ((*y)[i] >= BST_FMNIST_CLASSES)
            rc = bst_fail(msg, cap, BST_ERR_FORMAT,
                          "%s: record %lld has label %d, expected 0..9", file,
                          (long long)i, (*y)[i]);
    if (!rc && !(*x = malloc(sizeof(float) * (size_t)count * SIDE * SIDE)))
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for %s images",
                      name);
    if (!rc) {
        bst_u8_to_float(raw, *x, (size_t)count * SIDE * SIDE);
        *n = count;
    }
    free(raw);
    return rc;
}

void bst_fmnist_free(bst_fmnist *d)
{
    free(d->train);
    free(d->test);
    free(d->ytrain);
    free(d->ytest);
    free(d->ylong);
    memset(d, 0, sizeof *d);
}

int bst_fmnist_load(const char *dir, int64_t train_n, int64_t test_n,
                    bst_fmnist *d, char *msg, size_t cap)
{
    memset(d, 0, sizeof *d);
    int rc = read_split(dir, "train", train_n, &d->train, &d->ytrain,
                        &d->ntrain, msg, cap);
    if (!rc)
        rc = read_split(dir, "t10k", test_n, &d->test, &d->ytest, &d->ntest,
                        msg, cap);
    if (!rc && !(d->ylong = malloc(sizeof(int64_t) * (size_t)d->ntrain)))
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for labels");
    if (rc) {
        bst_fmnist_free(d);
        return rc;
    }
    for (int64_t i = 0; i < d->ntrain; i++)
        d->ylong[i] = d->ytrain[i];
    return BST_OK;
}
