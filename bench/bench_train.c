/*
 * bench_train.c — training throughput of the C engine: images per second
 * for forward + backward + AdamW on two augmented views of B images (2B
 * encoder images per step), the same network and loss as
 * bench/ref_torch_train.py runs in PyTorch.  Mode simclr: the encoder
 * (vision/encoder.h) with NT-Xent; mode moco: a MoCo v3 step
 * (vision/moco.h: base trunk + projector + predictor, momentum trunk +
 * projector, m = 0.99).
 *
 *   bench_train [B [steps [width [simclr|moco]]]]    defaults 256 20 16 simclr
 *
 * Threads: OMP_NUM_THREADS (OpenBLAS runs single-threaded inside the
 * OpenMP loops).  Prints one line: wall seconds per step, "images/s"
 * counting both views (2B per step), the unit ref_torch_train.py uses,
 * and the process's CPU seconds per step (all threads).  The first two
 * steps are warm-up and not timed.
 */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moco.h"
#include "simclr.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of every thread of the process */
static double cpu_now(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* The engine under test: one of the two trainers. */
typedef struct {
    int moco;
    bst_simclr s;
    bst_moco m;
} trainer;

static int trainer_init(trainer *t, int moco, int B, int width)
{
    t->moco = moco;
    if (moco) {
        bst_moco_cfg cfg;
        bst_moco_cfg_default(&cfg);
        cfg.batch = B;
        cfg.enc.width = width;
        return bst_moco_init(&t->m, &cfg);
    }
    bst_simclr_cfg cfg;
    bst_simclr_cfg_default(&cfg);
    cfg.batch = B;
    cfg.enc.width = width;
    return bst_simclr_init(&t->s, &cfg);
}

static int trainer_step(trainer *t, const float *img, int64_t n,
                        const int64_t *idx, double *loss)
{
    return t->moco ? bst_moco_step(&t->m, img, n, idx, 1e-3, 0.99, loss)
                   : bst_simclr_step(&t->s, img, n, idx, 1e-3, loss);
}

/* Trained parameters: the base side (MoCo's momentum copy is not). */
static size_t trainer_params(const trainer *t)
{
    if (!t->moco)
        return bst_encoder_param_count(&t->s.enc);
    size_t n = 0;
    for (int i = 0; i < t->m.nparams; i++)
        n += t->m.params[i].n;
    return n;
}

static void trainer_free(trainer *t)
{
    if (t->moco)
        bst_moco_free(&t->m);
    else
        bst_simclr_free(&t->s);
}

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 256;
    int steps = argc > 2 ? atoi(argv[2]) : 20;
    int width = argc > 3 ? atoi(argv[3]) : 16;
    const char *mode = argc > 4 ? argv[4] : "simclr";
    int moco = strcmp(mode, "moco") == 0;
    if (B < 2 || steps < 1 || width < 1 ||
        (!moco && strcmp(mode, "simclr") != 0)) {
        fprintf(stderr, "usage: bench_train [B>=2 [steps>=1 [width>=1 "
                        "[simclr|moco]]]]\n");
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
    trainer t;
    if (trainer_init(&t, moco, B, width)) {
        fprintf(stderr, "init failed\n");
        return 1;
    }
    double t0 = 0, c0 = 0, loss = 0;
    for (int it = 0; it < steps + 2; it++) {
        if (it == 2)
            t0 = now(), c0 = cpu_now();
        for (int b = 0; b < B; b++)
            idx[b] = (it * B + b) % n;
        if (trainer_step(&t, img, n, idx, &loss)) {
            fprintf(stderr, "step failed\n");
            return 1;
        }
    }
    double dt = now() - t0, dc = cpu_now() - c0;
    printf("C engine %s: B=%d width=%d threads=%d params=%zu steps=%d: "
           "%.3f s/step, %.0f images/s (2B per step), loss %.4f, "
           "cpu %.3f s/step\n",
           mode, B, width, omp_get_max_threads(), trainer_params(&t), steps,
           dt / steps, 2.0 * B * steps / dt, loss, dc / steps);
    trainer_free(&t);
    free(img);
    free(idx);
    return 0;
}
