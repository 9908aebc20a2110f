/* test_gin.c — the graph layers (gin.h) against central finite
   differences: sum aggregation (with a directed edge and a self loop), sum
   pooling into strided columns, concatenation, the GIN layer in train and
   eval mode (input and all six parameters), GraphCL's loss (value against
   its formula, gradients); thread-count invariance; argument checks.

   Objective f = sum(y * r) for a fixed random r, so backward with dy = r
   gives df/dinput and df/dparams; f is accumulated in double. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "fdcheck.h"
#include "gin.h"

/* two graphs: 0-1-2 path plus a directed 2->0 entry and a self loop on 1;
   a 4-cycle 3-4-5-6 */
static int64_t node_off[] = {0, 3, 7};
static int64_t adj_off[] = {0, 1, 4, 6, 8, 10, 12, 14};
static int32_t adj[] = {1, 0, 1, 2, 1, 0, 4, 6, 3, 5, 4, 6, 5, 3};

static bst_gbatch toy(int feat)
{
    bst_gbatch g = {.graphs = 2,
                    .nodes = 7,
                    .edges = 14,
                    .feat = feat,
                    .node_off = node_off,
                    .adj_off = adj_off,
                    .adj = adj};
    return g;
}

/* ------------------------------------------------- aggregation, pooling */
typedef struct {
    bst_gbatch g;
    float *x, *y, *r;
    int d, ld, which; /* 0 aggregation, 1 pooling */
} lin_ctx;

static double lin_f(void *p)
{
    lin_ctx *c = p;
    if (c->which == 0) {
        bst_gsum_aggregate_forward(&c->g, c->x, c->y, c->d);
        return dot(c->y, c->r, (size_t)c->g.nodes * c->d);
    }
    bst_gsum_pool_forward(&c->g, c->x, c->d, c->y, c->ld);
    return dot(c->y, c->r, (size_t)c->g.graphs * c->ld);
}

static void test_aggregate_pool(void **state)
{
    (void)state;
    int d = 3, ld = 5;
    lin_ctx c = {.g = toy(d), .d = d, .ld = ld};
    c.x = randu(7 * (size_t)d, 1, -1, 1);
    c.y = calloc(7 * (size_t)ld, sizeof(float));
    c.r = randu(7 * (size_t)ld, 2, -1, 1);
    float *dx = malloc(sizeof(float) * 7 * (size_t)d);
    /* forward by hand: node 1 = x0 + x1 (self loop) + x1 + x2 */
    bst_gsum_aggregate_forward(&c.g, c.x, c.y, d);
    for (int k = 0; k < d; k++)
        assert_float_equal(c.y[d + k], c.x[k] + 2 * c.x[d + k] + c.x[2 * d + k],
                           1e-6);
    bst_gsum_aggregate_backward(&c.g, c.r, dx, d);
    check_grad_atol("aggregate", lin_f, &c, c.x, dx, 7 * (size_t)d, 1e-3);
    c.which = 1;
    bst_gsum_pool_forward(&c.g, c.x, d, c.y, ld);
    assert_float_equal(c.y[ld + 1],
                       c.x[3 * d + 1] + c.x[4 * d + 1] + c.x[5 * d + 1] +
                           c.x[6 * d + 1],
                       1e-6);
    bst_gsum_pool_backward(&c.g, c.r, ld, dx, d);
    check_grad_atol("pool", lin_f, &c, c.x, dx, 7 * (size_t)d, 1e-3);
    free(c.x), free(c.y), free(c.r), free(dx);
}

static void test_concat(void **state)
{
    (void)state;
    int w[3] = {2, 1, 3};
    float *a = randu(8, 3, -1, 1), *b = randu(4, 4, -1, 1),
          *c = randu(12, 5, -1, 1);
    const float *xs[3] = {a, b, c};
    float y[24], dy[24], da[8], db[4], dc[12];
    bst_concat_forward(xs, w, 3, 4, y);
    assert_float_equal(y[6 + 2], b[1], 0);
    assert_float_equal(y[6 + 3 + 2], c[3 + 2], 0);
    for (int i = 0; i < 24; i++)
        dy[i] = (float)i;
    float *dxs[3] = {da, db, dc};
    bst_concat_backward(dy, w, 3, 4, dxs);
    assert_float_equal(da[3], 7, 0);
    assert_float_equal(db[2], 14, 0);
    assert_float_equal(dc[11], 23, 0);
    free(a), free(b), free(c);
}

/* ------------------------------------------------------------ GIN layer */
typedef struct {
    bst_gin_layer l;
    bst_gin_acts a;
    bst_gbatch g;
    float *x, *r;
    int train;
} gin_ctx;

static double gin_f(void *p)
{
    gin_ctx *c = p;
    bst_gin_layer_forward(&c->l, &c->g, c->x, &c->a, c->train);
    return dot(c->a.y, c->r, (size_t)c->g.nodes * c->l.dim);
}

static void check_gin(int train)
{
    int in = 4, dim = 5;
    gin_ctx c = {.g = toy(in), .train = train};
    assert_int_equal(bst_gin_layer_init(&c.l, in, dim), BST_OK);
    bst_gin_layer_reset(&c.l, 3, 0);
    memset(&c.a, 0, sizeof c.a);
    assert_int_equal(bst_gin_acts_reserve(&c.a, &c.l, 7), BST_OK);
    bst_param ps[6];
    assert_int_equal(bst_gin_layer_params(&c.l, ps), 6);
    for (int i = 0; i < 6; i++) /* BN affine and biases away from 1 / 0 */
        for (size_t k = 0; k < ps[i].n; k++)
            ps[i].w[k] += 0.3f * sinf((float)(7 * k + i));
    for (int k = 0; k < dim; k++) /* eval mode: non-trivial statistics */
        c.l.bn.running_mean[k] = 0.1f * k, c.l.bn.running_var[k] = 1 + 0.2f * k;
    c.x = randu(7 * (size_t)in, 5, -1, 1);
    c.r = randu(7 * (size_t)dim, 6, -1, 1);
    float *dy = malloc(sizeof(float) * 7 * dim),
          *dx = malloc(sizeof(float) * 7 * in);
    bst_zero_grads(ps, 6);
    gin_f(&c);
    memcpy(dy, c.r, sizeof(float) * 7 * dim);
    bst_gin_layer_backward(&c.l, &c.g, c.x, &c.a, dy, dx, train);
    /* gradients are copied out: the finite differences re-run forwards */
    float *gs[6];
    for (int i = 0; i < 6; i++) {
        gs[i] = malloc(sizeof(float) * ps[i].n);
        memcpy(gs[i], ps[i].g, sizeof(float) * ps[i].n);
    }
    const double atol = 3e-3;
    check_grad_atol("gin dx", gin_f, &c, c.x, dx, 7 * (size_t)in, atol);
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof name, "gin p%d", i);
        check_grad_atol(name, gin_f, &c, ps[i].w, gs[i], ps[i].n, atol);
        free(gs[i]);
    }
    free(c.x), free(c.r), free(dy), free(dx);
    bst_gin_acts_free(&c.a);
    bst_gin_layer_free(&c.l);
}

static void test_gin_train(void **state)
{
    (void)state;
    check_gin(1);
}

static void test_gin_eval(void **state)
{
    (void)state;
    check_gin(0);
}

/* two forwards then two backwards (GraphCL's views) = forward+backward each */
static void test_gin_two_views(void **state)
{
    (void)state;
    int in = 3, dim = 4;
    bst_gbatch g = toy(in);
    bst_gin_layer l;
    bst_gin_acts a1 = {0}, a2 = {0};
    assert_int_equal(bst_gin_layer_init(&l, in, dim), BST_OK);
    bst_gin_layer_reset(&l, 9, 0);
    assert_int_equal(bst_gin_acts_reserve(&a1, &l, 7), BST_OK);
    assert_int_equal(bst_gin_acts_reserve(&a2, &l, 7), BST_OK);
    float *x1 = randu(7 * (size_t)in, 10, -1, 1),
          *x2 = randu(7 * (size_t)in, 11, 0, 2);
    float *r = randu(7 * (size_t)dim, 12, -1, 1), dy[28], dx1[21], dx2[21],
          ref[21];
    bst_gin_layer_forward(&l, &g, x1, &a1, 1);
    bst_gin_layer_forward(&l, &g, x2, &a2, 1);
    memcpy(dy, r, sizeof dy);
    bst_gin_layer_backward(&l, &g, x1, &a1, dy, dx1, 1);
    memcpy(dy, r, sizeof dy);
    bst_gin_layer_backward(&l, &g, x2, &a2, dy, dx2, 1);
    bst_gin_layer_forward(&l, &g, x1, &a1, 1);
    memcpy(dy, r, sizeof dy);
    bst_gin_layer_backward(&l, &g, x1, &a1, dy, ref, 1);
    assert_memory_equal(dx1, ref, sizeof ref);
    free(x1), free(x2), free(r);
    bst_gin_acts_free(&a1), bst_gin_acts_free(&a2);
    bst_gin_layer_free(&l);
}

/* ------------------------------------------------------- GraphCL loss */
typedef struct {
    float *x1, *x2;
    int B, d;
} loss_ctx;

static double loss_f(void *p)
{
    loss_ctx *c = p;
    double loss = 0;
    assert_int_equal(
        bst_graphcl_loss(c->x1, c->x2, c->B, c->d, 0.2, &loss, NULL, NULL),
        BST_OK);
    return loss;
}

static void test_graphcl_loss(void **state)
{
    (void)state;
    loss_ctx c = {.B = 4, .d = 3};
    c.x1 = randu(12, 20, -1, 1);
    c.x2 = randu(12, 21, -1, 1);
    /* the formula, naively */
    double ref = 0;
    for (int i = 0; i < c.B; i++) {
        double pos = 0, row = 0;
        for (int j = 0; j < c.B; j++) {
            const float *a = c.x1 + 3 * i, *b = c.x2 + 3 * j;
            double s = dot(a, b, 3) / sqrt(dot(a, a, 3) * dot(b, b, 3));
            row += exp(s / 0.2);
            if (i == j)
                pos = exp(s / 0.2);
        }
        ref -= log(pos / (row - pos)) / c.B;
    }
    assert_true(fabs(loss_f(&c) - ref) < 1e-9);
    float dx1[12], dx2[12];
    double loss;
    assert_int_equal(bst_graphcl_loss(c.x1, c.x2, 4, 3, 0.2, &loss, dx1, dx2),
                     BST_OK);
    check_grad_atol("graphcl dx1", loss_f, &c, c.x1, dx1, 12, 1e-3);
    check_grad_atol("graphcl dx2", loss_f, &c, c.x2, dx2, 12, 1e-3);
    assert_int_equal(bst_graphcl_loss(c.x1, c.x2, 1, 3, 0.2, &loss, NULL, NULL),
                     BST_ERR_INVAL);
    assert_int_equal(bst_graphcl_loss(c.x1, c.x2, 4, 3, 0, &loss, NULL, NULL),
                     BST_ERR_INVAL);
    free(c.x1), free(c.x2);
}

/* ------------------------------------------------------ thread counts */
static void run_gin(int threads, float *y, float *dx, float *dW)
{
    omp_set_num_threads(threads);
    int in = 6, dim = 32, G = 50;
    /* G rings of 3..9 nodes */
    bst_gbatch g = {.graphs = G, .feat = in};
    g.node_off = malloc(sizeof(int64_t) * (G + 1));
    g.node_off[0] = 0;
    for (int i = 0; i < G; i++)
        g.node_off[i + 1] = g.node_off[i] + 3 + i % 7;
    g.nodes = g.node_off[G];
    g.edges = 2 * g.nodes;
    g.adj_off = malloc(sizeof(int64_t) * (size_t)(g.nodes + 1));
    g.adj = malloc(sizeof(int32_t) * (size_t)g.edges);
    for (int i = 0; i < G; i++) {
        int64_t o = g.node_off[i], n = g.node_off[i + 1] - o;
        for (int64_t v = 0; v < n; v++) {
            g.adj_off[o + v] = 2 * (o + v);
            g.adj[2 * (o + v)] = (int32_t)(o + (v + 1) % n);
            g.adj[2 * (o + v) + 1] = (int32_t)(o + (v + n - 1) % n);
        }
    }
    g.adj_off[g.nodes] = g.edges;
    bst_gin_layer l;
    bst_gin_acts a = {0};
    assert_int_equal(bst_gin_layer_init(&l, in, dim), BST_OK);
    bst_gin_layer_reset(&l, 4, 0);
    assert_int_equal(bst_gin_acts_reserve(&a, &l, g.nodes), BST_OK);
    float *x = randu((size_t)g.nodes * in, 30, -1, 1);
    float *dy = randu((size_t)g.nodes * dim, 31, -1, 1);
    bst_gin_layer_forward(&l, &g, x, &a, 1);
    memcpy(y, a.y, sizeof(float) * (size_t)g.nodes * dim);
    bst_gin_layer_backward(&l, &g, x, &a, dy, dx, 1);
    memcpy(dW, l.l1.dW, sizeof(float) * (size_t)in * dim);
    free(x), free(dy), free(g.node_off), free(g.adj_off), free(g.adj);
    bst_gin_acts_free(&a);
    bst_gin_layer_free(&l);
}

static void test_gin_threads(void **state)
{
    (void)state;
    enum { NODES = 297, IN = 6, DIM = 32 };
    static float y1[NODES * DIM], y2[NODES * DIM], dx1[NODES * IN],
        dx2[NODES * IN], w1[IN * DIM], w2[IN * DIM];
    int t = omp_get_max_threads();
    run_gin(1, y1, dx1, w1);
    run_gin(2, y2, dx2, w2);
    omp_set_num_threads(t);
    assert_memory_equal(y1, y2, sizeof y1);
    assert_memory_equal(dx1, dx2, sizeof dx1);
    assert_memory_equal(w1, w2, sizeof w1);
}

static void test_rejections(void **state)
{
    (void)state;
    bst_gin_layer l;
    assert_int_equal(bst_gin_layer_init(&l, 0, 4), BST_ERR_INVAL);
    assert_int_equal(bst_gin_layer_init(&l, 4, 0), BST_ERR_INVAL);
    bst_gin_layer_free(&l); /* zeroed: safe */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aggregate_pool),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_gin_train),
        cmocka_unit_test(test_gin_eval),
        cmocka_unit_test(test_gin_two_views),
        cmocka_unit_test(test_graphcl_loss),
        cmocka_unit_test(test_gin_threads),
        cmocka_unit_test(test_rejections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
