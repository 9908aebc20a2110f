/* test_simclr_dist.c — data-parallel SimCLR steps (simclr.h bst_dist,
   synchronised batch norm through bst_batchnorm.sum) without MPI: two
   threads play two processes, their all-gather and sums going through
   shared memory in rank order.  Three steps of 2 x B must equal three
   steps of one process with batch 2B up to rounding (loss and parameters
   within 1e-4 relative; measured ~1e-7), while a run whose batch norm is
   not synchronised must not (the check can fail).  Whole runs resume
   only when every process read the same checkpoint.  Runs under ASan and
   valgrind, which the mpirun tests (tests/cli/mpi*.sh) do not. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "simclr.h"
#include "fmnist.h"
#include "simclr_run.h"

enum { PIX = 28 * 28, W = 2, STEPS = 3, NIMG = 40 };

/* Two "processes" meeting at a barrier: each puts its buffer in its slot,
   then every one reads the slots in rank order. */
typedef struct {
    pthread_barrier_t bar;
    const void *slot[W];
} comm;

typedef struct {
    comm *c;
    int rank;
} endpoint;

static void ep_allgather(void *ctx, const void *local, void *all, size_t bytes)
{
    endpoint *e = ctx;
    e->c->slot[e->rank] = local;
    pthread_barrier_wait(&e->c->bar);
    for (int r = 0; r < W; r++)
        memcpy((char *)all + r * bytes, e->c->slot[r], bytes);
    pthread_barrier_wait(&e->c->bar);
}

/* In-place sum over the ranks, in rank order, of n doubles or floats. */
static void ep_sum(void *ctx, void *buf, size_t n, int is_double)
{
    endpoint *e = ctx;
    size_t size = is_double ? sizeof(double) : sizeof(float);
    void *copy = malloc(n * size);
    assert_non_null(copy);
    memcpy(copy, buf, n * size);
    e->c->slot[e->rank] = copy;
    pthread_barrier_wait(&e->c->bar);
    for (size_t i = 0; i < n; i++) {
        double t = 0;
        for (int r = 0; r < W; r++)
            t = is_double ? t + ((const double *)e->c->slot[r])[i]
                          : (float)(t + ((const float *)e->c->slot[r])[i]);
        if (is_double)
            ((double *)buf)[i] = t;
        else
            ((float *)buf)[i] = (float)t;
    }
    pthread_barrier_wait(&e->c->bar);
    free(copy);
}

static void ep_sum_f64(void *ctx, double *buf, size_t n)
{
    ep_sum(ctx, buf, n, 1);
}

static void ep_sum_f32(void *ctx, float *buf, size_t n)
{
    ep_sum(ctx, buf, n, 0);
}

static void cfg_of(bst_simclr_cfg *c, int batch)
{
    bst_simclr_cfg_default(c);
    c->enc.width = 4;
    c->enc.proj_dim = 16;
    c->enc.out_dim = 8;
    c->batch = batch;
    c->seed = 3;
}

static const float *g_img;
static int64_t g_ids[STEPS][W * 4]; /* the global batches, B = 4 */

/* n images of random blobs in [0, 1] */
static float *make_images(void)
{
    float *x = malloc(sizeof(float) * NIMG * PIX);
    assert_non_null(x);
    uint64_t s = 11;
    for (int i = 0; i < NIMG * PIX; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) % 1000) / 1000.0f;
    }
    return x;
}

typedef struct {
    endpoint ep;
    int sync_bn; /* 0: the test's negative control */
    double loss[STEPS];
    float *params; /* flat, after the steps */
} worker;

static float *flat_params(const bst_simclr *s)
{
    size_t np = bst_encoder_param_count(&s->enc), off = 0;
    float *p = malloc(np * sizeof *p);
    assert_non_null(p);
    for (int i = 0; i < s->enc.nparams; i++) {
        memcpy(p + off, s->enc.params[i].w, s->enc.params[i].n * sizeof *p);
        off += s->enc.params[i].n;
    }
    return p;
}

static void *run_rank(void *arg)
{
    worker *w = arg;
    omp_set_num_threads(1);
    bst_simclr_cfg c;
    cfg_of(&c, 4);
    bst_simclr s;
    assert_int_equal(bst_simclr_init(&s, &c), BST_OK);
    bst_dist d = {w->ep.rank, W, ep_allgather, ep_sum_f32, ep_sum_f64, &w->ep};
    assert_int_equal(bst_simclr_set_dist(&s, &d), BST_OK);
    if (!w->sync_bn)
        for (int i = 0; i < s.enc.nbns; i++)
            s.enc.bns[i]->sum = NULL;
    for (int t = 0; t < STEPS; t++)
        assert_int_equal(bst_simclr_step(&s, g_img, NIMG,
                                         g_ids[t] + 4 * w->ep.rank, 1e-2,
                                         &w->loss[t]),
                         BST_OK);
    w->params = flat_params(&s);
    bst_simclr_free(&s);
    return NULL;
}

/* Largest |a - b| / (max |a| over the array) */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double m = 0, amax = 1e-30;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        amax = fmax(amax, fabs((double)a[i]));
    }
    return m / amax;
}

static void compare(int sync_bn, double *loss_rel, double *param_rel)
{
    /* one process, batch W B */
    bst_simclr_cfg c;
    cfg_of(&c, W * 4);
    bst_simclr one;
    assert_int_equal(bst_simclr_init(&one, &c), BST_OK);
    double loss[STEPS];
    for (int t = 0; t < STEPS; t++)
        assert_int_equal(
            bst_simclr_step(&one, g_img, NIMG, g_ids[t], 1e-2, &loss[t]),
            BST_OK);
    float *ref = flat_params(&one);
    size_t np = bst_encoder_param_count(&one.enc);
    bst_simclr_free(&one);

    comm cm;
    pthread_barrier_init(&cm.bar, NULL, W);
    worker w[W];
    pthread_t th[W];
    for (int r = 0; r < W; r++) {
        memset(&w[r], 0, sizeof w[r]);
        w[r].ep = (endpoint){&cm, r};
        w[r].sync_bn = sync_bn;
        assert_int_equal(pthread_create(&th[r], NULL, run_rank, &w[r]), 0);
    }
    for (int r = 0; r < W; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&cm.bar);
    *loss_rel = 0;
    for (int t = 0; t < STEPS; t++) {
        /* every rank sees the loss of the whole global batch */
        assert_true(w[0].loss[t] == w[1].loss[t]);
        *loss_rel = fmax(*loss_rel, fabs(w[0].loss[t] - loss[t]) / loss[t]);
    }
    /* the ranks keep the same parameters */
    assert_memory_equal(w[0].params, w[1].params, np * sizeof(float));
    *param_rel = rel_diff(ref, w[0].params, np);
    print_message("sync_bn %d: loss rel. diff %.2e, params %.2e\n", sync_bn,
                  *loss_rel, *param_rel);
    free(ref);
    for (int r = 0; r < W; r++)
        free(w[r].params);
}

static void test_dist_equals_global_batch(void **state)
{
    (void)state;
    float *img = make_images();
    g_img = img;
    uint64_t s = 5;
    for (int t = 0; t < STEPS; t++) /* W B distinct ids per step */
        for (int i = 0; i < W * 4; i++) {
            int64_t id;
            int dup;
            do {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                id = (int64_t)((s >> 33) % NIMG);
                dup = 0;
                for (int j = 0; j < i; j++)
                    dup |= g_ids[t][j] == id;
            } while (dup);
            g_ids[t][i] = id;
        }
    double lr, pr;
    compare(1, &lr, &pr);
    assert_true(lr < 1e-4);
    assert_true(pr < 1e-4);
    /* batch norm per half: visibly another model (the comparison can
       fail); left out under valgrind, whose run of it adds minutes and
       no memory check the first one lacks */
    if (!getenv("BS_UNDER_VALGRIND")) {
        compare(0, &lr, &pr);
        assert_true(lr > 1e-3 || pr > 1e-3);
    }
    free(img);
}

static void test_set_dist_checks(void **state)
{
    (void)state;
    bst_simclr_cfg c;
    cfg_of(&c, 4);
    bst_simclr s;
    assert_int_equal(bst_simclr_init(&s, &c), BST_OK);
    bst_dist d = {2, 2, ep_allgather, ep_sum_f32, ep_sum_f64, NULL};
    assert_int_equal(bst_simclr_set_dist(&s, &d), BST_ERR_INVAL); /* rank */
    d.rank = 0;
    d.allgather = NULL;
    assert_int_equal(bst_simclr_set_dist(&s, &d), BST_ERR_INVAL); /* hook */
    assert_int_equal(bst_simclr_set_dist(&s, NULL), BST_ERR_INVAL);
    bst_dist one = {0, 1, NULL, NULL, NULL, NULL}; /* W = 1: no hooks */
    assert_int_equal(bst_simclr_set_dist(&s, &one), BST_OK);
    bst_simclr_free(&s);
}

/* ------------------------------------------------ resume, whole runs */
/* bst_simclr_run on two threads as two processes (Fashion-MNIST, 600
   images, uniform batches).  Every process reads the checkpoint to resume;
   two that read different ones (here: rank 0 the one of epoch 1, rank 1
   the one of epoch 2, as after a checkpoint was replaced between their
   reads, or on file systems that are not shared) must both fail, naming
   the file, instead of training on with different models. */
typedef struct {
    endpoint ep;
    const char *ckpt;
    int resume;
    int64_t stop_after;
    int rc;
    char msg[512];
} runner;

static void *run_whole(void *arg)
{
    runner *w = arg;
    omp_set_num_threads(1);
    bst_run_cfg c;
    bst_run_cfg_default(&c);
    cfg_of(&c.model, 16);
    c.train_n = 600;
    c.test_n = 100;
    c.epochs = 3;
    c.batcher.sampler.kind = BS_SAMPLER_UNIFORM;
    c.batcher.sampler.batches_per_epoch = 2;
    c.probe = 0;
    c.eval_every = 0;
    c.ckpt_path = w->ckpt;
    c.resume = w->resume;
    c.stop_after = w->stop_after;
    bst_dist d = {w->ep.rank, W, ep_allgather, ep_sum_f32, ep_sum_f64, &w->ep};
    c.dist = &d;
    bst_run_result res;
    w->rc = bst_simclr_run(&c, &res, w->msg, sizeof w->msg);
    return NULL;
}

/* both ranks: run with checkpoints[rank] (resume, stop after) */
static void run_both(const char *ck0, const char *ck1, int resume,
                     int64_t stop_after, runner *w)
{
    comm cm;
    pthread_barrier_init(&cm.bar, NULL, W);
    pthread_t th[W];
    for (int r = 0; r < W; r++) {
        w[r] = (runner){{&cm, r}, r ? ck1 : ck0, resume, stop_after, -1, ""};
        assert_int_equal(pthread_create(&th[r], NULL, run_whole, &w[r]), 0);
    }
    for (int r = 0; r < W; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&cm.bar);
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    assert_int_equal(fclose(b), 0);
}

static void test_resume_needs_one_checkpoint(void **state)
{
    (void)state;
    char probe[512];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz",
             BST_FMNIST_DIR);
    FILE *f = fopen(probe, "rb");
    if (!f) {
        print_message("skipped: no Fashion-MNIST in %s\n", BST_FMNIST_DIR);
        skip();
    }
    fclose(f);
    const char *tmp = getenv("BS_TEST_TMPDIR");
    char dir[512], ck[600], ck1[600];
    snprintf(dir, sizeof dir, "%s/simclr_dist_XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(ck, sizeof ck, "%s/run.ckpt", dir);
    snprintf(ck1, sizeof ck1, "%s/epoch1.ckpt", dir);
    runner w[W];
    run_both(ck, ck, 0, 1, w); /* epoch 0; rank 0 writes ck */
    for (int r = 0; r < W; r++)
        assert_int_equal(w[r].rc, BST_OK);
    copy_file(ck, ck1);
    run_both(ck, ck, 1, 1, w); /* both resume: epoch 1 */
    for (int r = 0; r < W; r++) {
        if (w[r].rc)
            print_message("rank %d: %s\n", r, w[r].msg);
        assert_int_equal(w[r].rc, BST_OK);
    }
    run_both(ck1, ck, 1, 1, w); /* rank 0 at epoch 1, rank 1 at epoch 2 */
    for (int r = 0; r < W; r++) {
        assert_int_equal(w[r].rc, BST_ERR_INVAL);
        assert_non_null(strstr(w[r].msg, "another checkpoint"));
        assert_non_null(strstr(w[r].msg, r ? ck : ck1)); /* its own file */
    }
    run_both(ck, ck, 1, 0, w); /* the same file: runs to the end */
    for (int r = 0; r < W; r++)
        assert_int_equal(w[r].rc, BST_OK);
    remove(ck);
    remove(ck1);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dist_equals_global_batch),
        cmocka_unit_test(test_set_dist_checks),
        cmocka_unit_test(test_resume_needs_one_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
