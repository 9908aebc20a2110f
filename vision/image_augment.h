/*
 * image_augment.h — SimCLR's views of Fashion-MNIST images (the vision
 * modality's augmentation; randomness through the engine's
 * BST_STREAM_AUGMENT stream).
 */
#ifndef BS_VISION_IMAGE_AUGMENT_H
#define BS_VISION_IMAGE_AUGMENT_H

#include <stdint.h>

#include "engine.h"

/* SimCLR views of 28 x 28 grayscale images (Fashion-MNIST), values in
   [0, 1].  Per view, in this order:
     1. random resized crop: area fraction ~ U(scale_min, scale_max) of the
        image, aspect w/h log-uniform in (ratio_min, ratio_max), integer box
        placed uniformly; 10 tries, then the largest centred box of a
        permitted aspect (torchvision.RandomResizedCrop); the box is resized
        back to 28 x 28 by bilinear sampling (align_corners=False, no
        antialias);
     2. horizontal flip with probability flip_p;
     3. with probability jitter_p: brightness x *= U(1 - brightness,
        1 + brightness), then contrast x = c x + (1 - c) mean(x) with
        c ~ U(1 - contrast, 1 + contrast), each clamped to [0, 1]
        (torchvision ColorJitter on one channel, fixed order);
     4. additive Gaussian noise N(0, noise_std^2) per pixel, clamped to
        [0, 1].
   Identity: scale (1, 1), flip_p = 0, jitter_p = 0 (or brightness =
   contrast = 0), noise_std = 0. */
enum { BST_AUG_SIDE = 28 };

typedef struct {
    float scale_min, scale_max; /* 0 < min <= max <= 1 */
    float ratio_min, ratio_max; /* 0 < min <= max, finite */
    float flip_p;               /* [0, 1] */
    float jitter_p;             /* [0, 1] */
    float brightness, contrast; /* [0, 1] */
    float noise_std;            /* [0, 1] */
} bst_augment_params;

/* SimCLR's recipe adapted to 28 x 28 grayscale: scale (0.2, 1), ratio
   (3/4, 4/3), flip 0.5, jitter p 0.8 with brightness = contrast = 0.4,
   noise_std 0.05. */
void bst_augment_params_default(bst_augment_params *p);
/* BST_OK, or BST_ERR_INVAL for NULL or any field out of range (NaN
   included). */
int bst_augment_check(const bst_augment_params *p);

/* images (n, 28, 28): the source set.  idx (b): rows of it, each in
   [0, n).  out (b, 1, 28, 28).  View k of the batch is a pure function of
   (seed, epoch, idx[k], view) through stream BST_STREAM_AUGMENT: the same
   for any batch position or OpenMP thread count (OpenMP over the batch).
   epoch >= 0, view >= 0 (normally 0 and 1 for SimCLR's two views).
   Returns BST_OK, or BST_ERR_INVAL for bad params, NULL arrays, b < 0,
   n < 1, a negative epoch or view, or an index out of range (then nothing
   is written). */
int bst_augment_batch(const bst_augment_params *p, const float *images,
                      int64_t n, const int64_t *idx, int64_t b, uint64_t seed,
                      int64_t epoch, int view, float *out);

#endif /* BS_VISION_IMAGE_AUGMENT_H */
