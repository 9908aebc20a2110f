/*
 * image_augment.c — SimCLR views of 28 x 28 grayscale images: random resized
 * crop, horizontal flip, brightness/contrast jitter, Gaussian noise (the
 * parameters and order are documented in engine.h).
 *
 * Every random number for one view comes from its own stream, derived from
 * (seed, epoch, view, image index), and is drawn in a fixed order, so a view
 * does not depend on the batch it is in nor on the OpenMP thread layout.
 * Crop geometry is computed in double and pixels in float with the same
 * code path on every thread: results are bitwise reproducible.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "image_augment.h"
#include "rng.h"

#define S BST_AUG_SIDE
#define CROP_TRIES 10 /* torchvision.RandomResizedCrop */
#define TWO_PI 6.283185307179586

void bst_augment_params_default(bst_augment_params *p)
{
    p->scale_min = 0.2f; /* SimCLR's 0.08 leaves too little of a 28x28 image */
    p->scale_max = 1.0f;
    p->ratio_min = 3.0f / 4.0f;
    p->ratio_max = 4.0f / 3.0f;
    p->flip_p = 0.5f;
    p->jitter_p = 0.8f;
    p->brightness = 0.4f;
    p->contrast = 0.4f;
    p->noise_std = 0.05f;
}

/* lo <= x <= hi, false for NaN (every comparison with NaN is false). */
static int in_range(float x, float lo, float hi)
{
    return x >= lo && x <= hi;
}

int bst_augment_check(const bst_augment_params *p)
{
    if (!p)
        return BST_ERR_INVAL;
    if (!(p->scale_min > 0.0f) || !in_range(p->scale_max, p->scale_min, 1.0f))
        return BST_ERR_INVAL;
    if (!(p->ratio_min > 0.0f) || !isfinite(p->ratio_max) ||
        !(p->ratio_max >= p->ratio_min))
        return BST_ERR_INVAL;
    if (!in_range(p->flip_p, 0.0f, 1.0f) || !in_range(p->jitter_p, 0.0f, 1.0f))
        return BST_ERR_INVAL;
    if (!in_range(p->brightness, 0.0f, 1.0f) ||
        !in_range(p->contrast, 0.0f, 1.0f) ||
        !in_range(p->noise_std, 0.0f, 1.0f))
        return BST_ERR_INVAL;
    return BST_OK;
}

/* The stream of one view: (seed, epoch) and then view are folded into the
   seed, the image index is bs_rng_derive's index. */
static void view_stream(bs_rng *r, uint64_t seed, int64_t epoch, int view,
                        int64_t index)
{
    bs_rng t;
    bs_rng_derive(&t, seed, BST_STREAM_AUGMENT, (uint64_t)epoch);
    bs_rng_derive(&t, bs_rng_next(&t), BST_STREAM_AUGMENT, (uint64_t)view);
    bs_rng_derive(r, bs_rng_next(&t), BST_STREAM_AUGMENT, (uint64_t)index);
}

static double uniform_in(bs_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * bs_rng_uniform(r);
}

static int clamp_side(long v)
{
    return v < 1 ? 1 : v > S ? S : (int)v;
}

typedef struct {
    int top, left, h, w;
} crop_box;

/* The fallback of torchvision: the whole image if its aspect (1) is
   permitted, else the largest centred box of the nearest permitted aspect. */
static crop_box centre_box(const bst_augment_params *p)
{
    crop_box c = {0, 0, S, S};
    if (p->ratio_min > 1.0f)
        c.h = clamp_side(lround(S / (double)p->ratio_min));
    else if (p->ratio_max < 1.0f)
        c.w = clamp_side(lround(S * (double)p->ratio_max));
    c.top = (S - c.h) / 2;
    c.left = (S - c.w) / 2;
    return c;
}

/* torchvision.RandomResizedCrop.get_params on an S x S image. */
static crop_box random_box(bs_rng *r, const bst_augment_params *p)
{
    double lr0 = log((double)p->ratio_min), lr1 = log((double)p->ratio_max);
    for (int t = 0; t < CROP_TRIES; t++) {
        double area = S * S * uniform_in(r, p->scale_min, p->scale_max);
        double aspect = exp(uniform_in(r, lr0, lr1));
        long w = lround(sqrt(area * aspect)), h = lround(sqrt(area / aspect));
        if (w < 1 || w > S || h < 1 || h > S)
            continue;
        crop_box c = {0, 0, (int)h, (int)w};
        c.top = (int)bs_rng_below(r, (uint64_t)(S - h + 1));
        c.left = (int)bs_rng_below(r, (uint64_t)(S - w + 1));
        return c;
    }
    return centre_box(p);
}

/* Source coordinate of output pixel o along a side of n crop pixels
   (F.interpolate bilinear, align_corners=False): index i0, neighbour i1,
   weight f of i1. */
static void bilinear_src(int o, int n, int *i0, int *i1, float *f)
{
    float s = ((float)o + 0.5f) * ((float)n / (float)S) - 0.5f;
    if (s < 0.0f)
        s = 0.0f;
    *i0 = (int)s;
    if (*i0 > n - 1)
        *i0 = n - 1;
    *i1 = *i0 < n - 1 ? *i0 + 1 : *i0;
    *f = s - (float)*i0;
}

/* dst (S, S) = the box of src (S, S) resized bilinearly to S x S.  With
   the whole image as box every weight is 0 and dst == src exactly. */
static void resize_box(const float *src, crop_box c, float *dst)
{
    int x0[S], x1[S];
    float fx[S];
    for (int x = 0; x < S; x++)
        bilinear_src(x, c.w, &x0[x], &x1[x], &fx[x]);
    for (int y = 0; y < S; y++) {
        int y0, y1;
        float fy;
        bilinear_src(y, c.h, &y0, &y1, &fy);
        const float *a = src + (size_t)(c.top + y0) * S + c.left;
        const float *b = src + (size_t)(c.top + y1) * S + c.left;
        for (int x = 0; x < S; x++) {
            float top = (1.0f - fx[x]) * a[x0[x]] + fx[x] * a[x1[x]];
            float bot = (1.0f - fx[x]) * b[x0[x]] + fx[x] * b[x1[x]];
            dst[y * S + x] = (1.0f - fy) * top + fy * bot;
        }
    }
}

static void hflip(float *img)
{
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S / 2; x++) {
            float t = img[y * S + x];
            img[y * S + x] = img[y * S + S - 1 - x];
            img[y * S + S - 1 - x] = t;
        }
}

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

/* Brightness then contrast, as torchvision's adjust_brightness /
   adjust_contrast (contrast blends with the mean of the brightened image). */
static void jitter(float *img, float bf, float cf)
{
    double sum = 0.0;
    for (int i = 0; i < S * S; i++) {
        img[i] = clamp01(img[i] * bf);
        sum += img[i];
    }
    float mean = (float)(sum / (S * S));
    for (int i = 0; i < S * S; i++)
        img[i] = clamp01(cf * img[i] + (1.0f - cf) * mean);
}

/* img += N(0, sd^2) per pixel (Box-Muller, both outputs used), clamped. */
static void add_noise(bs_rng *r, float *img, float sd)
{
    for (int i = 0; i < S * S; i += 2) {
        double u1 = 1.0 - bs_rng_uniform(r); /* (0, 1]: log is finite */
        double u2 = bs_rng_uniform(r);
        double rad = sqrt(-2.0 * log(u1));
        img[i] = clamp01(img[i] + (float)(sd * rad * cos(TWO_PI * u2)));
        img[i + 1] = clamp01(img[i + 1] + (float)(sd * rad * sin(TWO_PI * u2)));
    }
}

/* One view of src (S, S) into dst (S, S).  The flip and jitter draws are
   taken whether or not they apply, so switching one transform off leaves
   the random choices of the others unchanged. */
static void augment_one(const bst_augment_params *p, bs_rng *r,
                        const float *src, float *dst)
{
    resize_box(src, random_box(r, p), dst);
    double u_flip = bs_rng_uniform(r), u_jit = bs_rng_uniform(r);
    double u_b = bs_rng_uniform(r), u_c = bs_rng_uniform(r);
    if (u_flip < p->flip_p)
        hflip(dst);
    if (u_jit < p->jitter_p) {
        float bf = (float)(1.0 - p->brightness + 2.0 * p->brightness * u_b);
        float cf = (float)(1.0 - p->contrast + 2.0 * p->contrast * u_c);
        jitter(dst, bf, cf);
    }
    if (p->noise_std > 0.0f)
        add_noise(r, dst, p->noise_std);
}

static int check_batch(const float *images, int64_t n, const int64_t *idx,
                       int64_t b, int64_t epoch, int view, const float *out)
{
    if (!images || !out || (b > 0 && !idx) || b < 0 || n < 1 || epoch < 0 ||
        view < 0)
        return BST_ERR_INVAL;
    for (int64_t k = 0; k < b; k++)
        if (idx[k] < 0 || idx[k] >= n)
            return BST_ERR_INVAL;
    return BST_OK;
}

int bst_augment_batch(const bst_augment_params *p, const float *images,
                      int64_t n, const int64_t *idx, int64_t b, uint64_t seed,
                      int64_t epoch, int view, float *out)
{
    if (bst_augment_check(p) != BST_OK ||
        check_batch(images, n, idx, b, epoch, view, out) != BST_OK)
        return BST_ERR_INVAL;
        /* each sample has its own stream and output: any schedule gives the
           same bytes */
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < b; k++) {
        bs_rng r;
        view_stream(&r, seed, epoch, view, idx[k]);
        augment_one(p, &r, images + (size_t)idx[k] * S * S,
                    out + (size_t)k * S * S);
    }
    return BST_OK;
}
