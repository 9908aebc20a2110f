/*
 * bench_train.c — SimCLR training throughput of the C engine: images per
 * second for forward + backward + AdamW of the encoder (vision/encoder.h) on
 * two augmented views of B images (2B encoder images per step), the same
 * network and loss as bench/ref_torch_train.py runs in PyTorch.
 *
 *   bench_train [B [steps [width]]]    defaults 256 20 16
 *
 * Threads: OMP_NUM_THREADS (OpenBLAS runs single-threaded inside the
 * OpenMP loops).  Prints one line per phase and "images/s" counting both
 * views (2B per step), the unit ref_torch_train.py uses.  The first two
 * steps are warm-up and not timed.
 */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "simclr.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 256;
    int steps = argc > 2 ? atoi(argv[2]) : 20;
    int width = argc > 3 ? atoi(argv[3]) : 16;
    if (B < 2 || steps < 1 || width < 1) {
        fprintf(stderr, "usage: bench_train [B>=2 [steps>=1 [width>=1]]]\n");
        return 2;
    }
    int64_t n = 4096;
    float *img = malloc(sizeof(float) * (size_t)n * 784);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)B);
    if (!img || !idx)
        return 1;
    uint64_t x = 12345;
    for (int64_t i = 0; i < n * 784; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        img[i] = (float)(x >> 40) / (float)(1 << 24);
    }
    bst_simclr_cfg cfg;
    bst_simclr_cfg_default(&cfg);
    cfg.batch = B;
    cfg.enc.width = width;
    bst_simclr s;
    if (bst_simclr_init(&s, &cfg)) {
        fprintf(stderr, "init failed\n");
        return 1;
    }
    double t0 = 0, loss = 0;
    for (int it = 0; it < steps + 2; it++) {
        if (it == 2)
            t0 = now();
        for (int b = 0; b < B; b++)
            idx[b] = (it * B + b) % n;
        if (bst_simclr_step(&s, img, n, idx, 1e-3, &loss)) {
            fprintf(stderr, "step failed\n");
            return 1;
        }
    }
    double dt = now() - t0;
    printf("C engine: B=%d width=%d threads=%d params=%zu steps=%d: "
           "%.3f s/step, %.0f images/s (2B per step), loss %.4f\n",
           B, width, omp_get_max_threads(), bst_encoder_param_count(&s.enc),
           steps, dt / steps, 2.0 * B * steps / dt, loss);
    bst_simclr_free(&s);
    free(img);
    free(idx);
    return 0;
}
