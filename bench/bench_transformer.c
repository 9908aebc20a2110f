/*
 * bench_transformer.c — throughput of the SimCSE transformer encoder
 * (train/transformer.h): sentences per second for a train-mode forward
 * (dropout 0.1, SimCSE head) + backward, and for an eval-mode forward
 * (what embedding the corpus and STS need), at B sequences of T positions
 * (all full: the worst case; 32 tokens + [CLS] = 33 by default).
 *
 *   bench_transformer [B [T [seconds]]]    defaults 64 33 3
 *
 * Rows: the default config (dim 128, 4 heads, 2 layers, MLP 512) and the
 * other ends of issue 10's range.  A SimCSE step is two such forward +
 * backward passes (two views) of B sentences plus the loss and AdamW,
 * so steps/s ~ (sentences/s) / 2B.  Threads: OMP_NUM_THREADS.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "transformer.h"

enum { VOCAB = 10000 };

typedef struct {
    bst_tf m;
    bst_tf_acts a;
    int32_t *ids;
    int *len;
    float *dout;
    int B, T;
} bench;

static int setup(bench *b, const bst_tf_cfg *cfg, int B, int T)
{
    b->B = B;
    b->T = T;
    if (bst_tf_init(&b->m, cfg, 1) != BST_OK ||
        bst_tf_acts_init(&b->a, &b->m, B, T) != BST_OK)
        return -1;
    b->ids = malloc((size_t)B * T * sizeof(int32_t));
    b->len = malloc((size_t)B * sizeof(int));
    b->dout = malloc((size_t)B * cfg->dim * sizeof(float));
    if (!b->ids || !b->len || !b->dout)
        return -1;
    for (int i = 0; i < B * T; i++)
        b->ids[i] = (int32_t)((i * 7919L) % VOCAB);
    for (int i = 0; i < B; i++)
        b->len[i] = T;
    for (int i = 0; i < B * cfg->dim; i++)
        b->dout[i] = 1e-3f * (float)(i % 17);
    return 0;
}

static void teardown(bench *b)
{
    free(b->ids);
    free(b->len);
    free(b->dout);
    bst_tf_acts_free(&b->a);
    bst_tf_free(&b->m);
}

/* sentences per second of `train` passes (forward + backward) or eval
   forwards, repeated for at least `secs` after one warm-up pass */
static double rate(bench *b, int train, double secs)
{
    int reps = 0;
    double t0 = 0.0;
    for (;;) {
        bst_tf_forward(&b->m, &b->a, b->ids, b->len, b->B, b->T, train, train,
                       7, (uint64_t)reps);
        if (train)
            bst_tf_backward(&b->m, &b->a, b->dout);
        if (reps == 0)
            t0 = bst_now();
        double el = bst_now() - t0;
        if (reps > 0 && el >= secs)
            return (double)reps * b->B / el;
        reps++;
    }
}

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 64;
    int T = argc > 2 ? atoi(argv[2]) : 33;
    double secs = argc > 3 ? atof(argv[3]) : 3.0;
    if (B < 1 || T < 1 || T > 33 || !(secs > 0)) {
        fprintf(stderr, "usage: bench_transformer [B>=1 [1<=T<=33 [secs]]]\n");
        return 2;
    }
    static const int rows[][4] = {/* dim, heads, layers, mlp */
                                  {128, 4, 2, 512},
                                  {128, 4, 4, 512},
                                  {256, 4, 2, 1024},
                                  {256, 4, 4, 1024}};
    printf("B %d, T %d, %d threads\n", B, T, omp_get_max_threads());
    printf("%-26s %10s %16s %14s %14s\n", "config", "params", "train sent/s",
           "eval sent/s", "SimCSE step s");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bst_tf_cfg c;
        bst_tf_cfg_default(&c, VOCAB);
        c.dim = c.edim = rows[i][0];
        c.heads = rows[i][1];
        c.layers = rows[i][2];
        c.mlp = rows[i][3];
        bench b;
        if (setup(&b, &c, B, T) != 0) {
            fprintf(stderr, "bench_transformer: out of memory\n");
            return 1;
        }
        double tr = rate(&b, 1, secs), ev = rate(&b, 0, secs);
        char name[64];
        snprintf(name, sizeof name, "dim %d, %d heads, %d layers%s", c.dim,
                 c.heads, c.layers, i == 0 ? " *" : "");
        printf("%-26s %10zu %16.1f %14.1f %14.3f\n", name, bst_tf_size(&b.m),
               tr, ev, 2.0 * B / tr);
        teardown(&b);
    }
    printf("* the default config; params include a %d-word table\n", VOCAB);
    return 0;
}
