/* test_gcn.c — the dense GCN layers of gcn.h: the adjacency normalisation
   and the PPR diffusion against their definitions, PReLU, the GCN layer,
   sum pooling and the MLP head against central finite differences of
   f = sum(y * r), and bitwise thread-count invariance. */
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
#include "gcn.h"

/* ------------------------------------------------------------ a batch */
/* Three graphs: a path 0-1-2, a single node, a 4-cycle with a chord. */
static const int64_t OFF[4] = {0, 3, 4, 8};
static const int64_t ADJ_OFF[9] = {0, 1, 3, 4, 4, 7, 9, 12, 14};
static const int32_t ADJ[14] = {1, 0, 2, 1, /* graph 0 */
                                1, 3, 2,    /* graph 2, node 0: 1 3 2 */
                                0, 2,       /* node 1 */
                                1, 3, 0,    /* node 2 */
                                0, 2};      /* node 3 */

typedef struct {
    float *ops[3];
    const float *cops[3];
    bst_gblock g;
} batch;

/* ppr: the diffusion operators, else the normalised adjacency; asym:
   random non-symmetric operators (exercise the transposed product). */
static void batch_init(batch *b, int ppr, int asym)
{
    for (int k = 0; k < 3; k++) {
        int n = (int)(OFF[k + 1] - OFF[k]);
        const int64_t *ao = ADJ_OFF + OFF[k];
        const int32_t *a = ADJ + ao[0];
        b->ops[k] = malloc(sizeof(float) * (size_t)n * n);
        assert_non_null(b->ops[k]);
        if (asym) {
            float *r = randu((size_t)n * n, 10 + (uint64_t)k, -1, 1);
            memcpy(b->ops[k], r, sizeof(float) * (size_t)n * n);
            free(r);
        } else if (ppr) {
            double *w = malloc(sizeof(double) * 2 * (size_t)n * n);
            assert_int_equal(bst_gcn_ppr(n, ao, a, 0.2, b->ops[k], w), BST_OK);
            free(w);
        } else {
            bst_gcn_norm_adj(n, ao, a, b->ops[k]);
        }
        b->cops[k] = b->ops[k];
    }
    b->g = (bst_gblock){3, OFF, b->cops};
}

static void batch_free(batch *b)
{
    for (int k = 0; k < 3; k++)
        free(b->ops[k]);
}

/* ----------------------------------------------------------- operators */

static void test_norm_adj(void **state)
{
    (void)state;
    float out[9];
    bst_gcn_norm_adj(3, ADJ_OFF, ADJ, out);
    /* degrees in A + I: 2, 3, 2 */
    double want[9] = {1.0 / 2, 1 / sqrt(6.0), 0, 1 / sqrt(6.0),
                      1.0 / 3, 1 / sqrt(6.0), 0, 1 / sqrt(6.0),
                      1.0 / 2};
    for (int i = 0; i < 9; i++)
        assert_true(fabs(out[i] - want[i]) < 1e-7);
    bst_gcn_norm_adj(1, ADJ_OFF + 3, ADJ + 4, out); /* isolated node */
    assert_true(out[0] == 1.0f);
}

/* S = alpha (I - (1 - alpha) A~)^-1: (I - (1 - alpha) A~) S = alpha I,
   S symmetric, for the 4-node graph and a larger random graph. */
static void check_ppr(int n, const int64_t *ao, const int32_t *a, double alpha)
{
    float *s = malloc(sizeof(float) * (size_t)n * n);
    float *t = malloc(sizeof(float) * (size_t)n * n);
    double *w = malloc(sizeof(double) * 2 * (size_t)n * n);
    assert_true(s && t && w);
    assert_int_equal(bst_gcn_ppr(n, ao, a, alpha, s, w), BST_OK);
    bst_gcn_norm_adj(n, ao, a, t);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double m = 0;
            for (int k = 0; k < n; k++)
                m += ((i == k) - (1 - alpha) * t[(size_t)i * n + k]) *
                     s[(size_t)k * n + j];
            assert_true(fabs(m - alpha * (i == j)) < 1e-5);
            assert_true(s[(size_t)i * n + j] == s[(size_t)j * n + i]);
            assert_true(s[(size_t)i * n + j] >= 0); /* a positive series */
        }
    free(s);
    free(t);
    free(w);
}

static void test_ppr(void **state)
{
    (void)state;
    check_ppr(4, ADJ_OFF + 4, ADJ + 4, 0.2);
    check_ppr(1, ADJ_OFF + 3, ADJ + 4, 0.2);
    check_ppr(3, ADJ_OFF, ADJ, 1.0); /* alpha 1: the identity */
    /* a ring of 60 nodes with chords i ~ i + 7 */
    enum { N = 60 };
    int64_t ao[N + 1];
    int32_t a[4 * N];
    ao[0] = 0;
    for (int i = 0; i < N; i++) {
        int32_t *p = a + 4 * i;
        p[0] = (i + 1) % N, p[1] = (i + N - 1) % N;
        p[2] = (i + 7) % N, p[3] = (i + N - 7) % N;
        ao[i + 1] = 4 * (i + 1);
    }
    check_ppr(N, ao, a, 0.2);
    float s[9];
    double w[18];
    assert_int_equal(bst_gcn_ppr(3, ADJ_OFF, ADJ, 0.0, s, w), BST_ERR_INVAL);
    assert_int_equal(bst_gcn_ppr(3, ADJ_OFF, ADJ, 1.5, s, w), BST_ERR_INVAL);
    assert_int_equal(bst_gcn_ppr(0, ADJ_OFF, ADJ, 0.2, s, w), BST_ERR_INVAL);
}

/* --------------------------------------------------------------- PReLU */

typedef struct {
    bst_prelu p;
    float *x, *y, *r;
    size_t n;
} prelu_ctx;

static double prelu_f(void *c)
{
    prelu_ctx *t = c;
    bst_prelu_forward(&t->p, t->x, t->y, t->n);
    return dot(t->y, t->r, t->n);
}

static void test_prelu(void **state)
{
    (void)state;
    enum { N = 40 };
    prelu_ctx t = {.n = N};
    bst_prelu_init(&t.p);
    assert_true(t.p.a == 0.25f);
    t.x = randu(N, 1, 0.1f, 1);
    float *sign = randu(N, 2, -1, 1);
    for (int i = 0; i < N; i++)
        t.x[i] *= sign[i] < 0 ? -1 : 1; /* |x| >= 0.1: away from the kink */
    t.y = randu(N, 3, 0, 0);
    t.r = randu(N, 4, -1, 1);
    float dx[N];
    bst_prelu_backward(&t.p, t.x, t.r, dx, N);
    check_grad("prelu dx", prelu_f, &t, t.x, dx, N);
    check_grad("prelu da", prelu_f, &t, &t.p.a, &t.p.da, 1);
    free(t.x);
    free(sign);
    free(t.y);
    free(t.r);
}

/* ----------------------------------------------------------------- GCN */

typedef struct {
    bst_gcn l;
    batch b;
    float *x, *xw, *z, *y, *r;
} gcn_ctx;

static double gcn_f(void *c)
{
    gcn_ctx *t = c;
    bst_gcn_forward(&t->l, &t->b.g, t->x, t->xw, t->z, t->y);
    return dot(t->y, t->r, 8 * (size_t)t->l.out);
}

static void gcn_ctx_init(gcn_ctx *t, int in, int out, int ppr, int asym)
{
    assert_int_equal(bst_gcn_init(&t->l, in, out), BST_OK);
    bst_gcn_reset(&t->l, 5, 0);
    for (int o = 0; o < out; o++)
        t->l.b[o] = 0.1f * (float)(o - 1);
    t->l.act.a = 0.3f;
    batch_init(&t->b, ppr, asym);
    t->x = randu(8 * (size_t)in, 10, -1, 1);
    t->xw = randu(8 * (size_t)out, 0, 0, 0);
    t->z = randu(8 * (size_t)out, 0, 0, 0);
    t->y = randu(8 * (size_t)out, 0, 0, 0);
    t->r = randu(8 * (size_t)out, 7, -1, 1);
}

static void gcn_ctx_free(gcn_ctx *t)
{
    bst_gcn_free(&t->l);
    batch_free(&t->b);
    free(t->x);
    free(t->xw);
    free(t->z);
    free(t->y);
    free(t->r);
}

static void check_gcn(int ppr, int asym)
{
    enum { IN = 5, OUT = 4 };
    gcn_ctx t;
    gcn_ctx_init(&t, IN, OUT, ppr, asym);
    float dx[8 * IN], work[2 * 8 * OUT];
    gcn_f(&t);
    /* central differences hold only away from PReLU's kink at 0: no
       pre-activation within 4 EPS of it (a step of EPS in one input moves
       a pre-activation by at most about 2 EPS here); x's seed is picked
       so that this holds in all three configurations */
    for (size_t i = 0; i < 8 * OUT; i++)
        assert_true(fabsf(t.z[i]) > 4 * EPS);
    bst_gcn_backward(&t.l, &t.b.g, t.x, t.z, t.r, dx, work);
    check_grad("gcn dx", gcn_f, &t, t.x, dx, 8 * IN);
    check_grad("gcn dW", gcn_f, &t, t.l.fc.W, t.l.fc.dW, IN * OUT);
    check_grad("gcn db", gcn_f, &t, t.l.b, t.l.db, OUT);
    check_grad("gcn da", gcn_f, &t, &t.l.act.a, &t.l.act.da, 1);
    gcn_ctx_free(&t);
}

static void test_gcn(void **state)
{
    (void)state;
    check_gcn(0, 0);
    check_gcn(1, 0);
    check_gcn(0, 1);
}

/* one forward + backward at 1 and at 3 threads: bitwise equal */
static void test_gcn_threads(void **state)
{
    (void)state;
    enum { IN = 70, OUT = 66 };
    float *res[2];
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k ? 3 : 1);
        gcn_ctx t;
        gcn_ctx_init(&t, IN, OUT, 1, 0);
        float *out = malloc(sizeof(float) * (8 * IN + IN * OUT + 8 * OUT));
        float work[2 * 8 * OUT];
        gcn_f(&t);
        bst_gcn_backward(&t.l, &t.b.g, t.x, t.z, t.r, out, work);
        memcpy(out + 8 * IN, t.l.fc.dW, sizeof(float) * IN * OUT);
        memcpy(out + 8 * IN + IN * OUT, t.y, sizeof(float) * 8 * OUT);
        res[k] = out;
        gcn_ctx_free(&t);
    }
    assert_memory_equal(res[0], res[1],
                        sizeof(float) * (8 * IN + IN * OUT + 8 * OUT));
    free(res[0]);
    free(res[1]);
}

/* --------------------------------------------------------- sum pooling */

typedef struct {
    batch b;
    float *x, *y, *r;
} pool_ctx;

static double pool_f(void *c)
{
    pool_ctx *t = c;
    /* columns 2..5 of rows of width 7: the layer-concatenation layout */
    bst_graph_sum_pool_forward(&t->b.g, t->x, 4, t->y + 2, 7);
    return dot(t->y, t->r, 3 * 7);
}

static void test_pool(void **state)
{
    (void)state;
    pool_ctx t;
    batch_init(&t.b, 0, 0);
    t.x = randu(8 * 4, 1, -1, 1);
    t.y = randu(3 * 7, 0, 0, 0);
    t.r = randu(3 * 7, 2, -1, 1);
    float dx[8 * 4];
    pool_f(&t);
    assert_true(fabs(t.y[7 + 2] - t.x[3 * 4]) < 1e-7); /* single node */
    bst_graph_sum_pool_backward(&t.b.g, t.r + 2, 7, 4, dx, 0);
    check_grad("pool dx", pool_f, &t, t.x, dx, 8 * 4);
    float acc[8 * 4];
    for (int i = 0; i < 32; i++)
        acc[i] = 1.0f;
    bst_graph_sum_pool_backward(&t.b.g, t.r + 2, 7, 4, acc, 1);
    for (int i = 0; i < 32; i++)
        assert_true(acc[i] == dx[i] + 1.0f);
    batch_free(&t.b);
    free(t.x);
    free(t.y);
    free(t.r);
}

/* ----------------------------------------------------------------- MLP */

typedef struct {
    bst_mlp m;
    float *x, *y, *act, *r;
    int B;
} mlp_ctx;

static double mlp_f(void *c)
{
    mlp_ctx *t = c;
    bst_mlp_forward(&t->m, t->x, t->y, t->act, t->B);
    return dot(t->y, t->r, (size_t)t->B * t->m.out);
}

static void check_mlp(int in, int out)
{
    mlp_ctx t = {.B = 5};
    assert_int_equal(bst_mlp_init(&t.m, in, out), BST_OK);
    bst_mlp_reset(&t.m, 3, 1);
    t.x = randu((size_t)t.B * in, 4, -1, 1);
    t.y = randu((size_t)t.B * out, 0, 0, 0);
    t.act = randu(bst_mlp_act_floats(&t.m, t.B), 0, 0, 0);
    t.r = randu((size_t)t.B * out, 5, -1, 1);
    int mx = in > out ? in : out;
    float *dx = randu((size_t)t.B * in, 0, 0, 0);
    float *work = randu(2 * (size_t)t.B * mx, 0, 0, 0);
    mlp_f(&t);
    bst_mlp_backward(&t.m, t.x, t.act, t.r, dx, work, t.B);
    check_grad("mlp dx", mlp_f, &t, t.x, dx, (size_t)t.B * in);
    bst_param ps[11];
    assert_int_equal(bst_mlp_params(&t.m, ps), bst_mlp_param_count());
    for (int i = 0; i < 11; i++) {
        char what[32];
        snprintf(what, sizeof what, "mlp param %d", i);
        check_grad(what, mlp_f, &t, ps[i].w, ps[i].g, ps[i].n);
    }
    bst_mlp_free(&t.m);
    free(t.x);
    free(t.y);
    free(t.act);
    free(t.r);
    free(dx);
    free(work);
}

static void test_mlp(void **state)
{
    (void)state;
    check_mlp(6, 4); /* in > out: the global head */
    check_mlp(3, 5);
}

static void test_init(void **state)
{
    (void)state;
    bst_gcn l;
    assert_int_equal(bst_gcn_init(&l, 0, 3), BST_ERR_INVAL);
    assert_int_equal(bst_gcn_init(&l, 30, 20), BST_OK);
    bst_gcn_reset(&l, 1, 0);
    float bound = sqrtf(6.0f / 50), mx = 0;
    for (int i = 0; i < 600; i++)
        mx = fmaxf(mx, fabsf(l.fc.W[i]));
    assert_true(mx <= bound && mx > 0.9f * bound);
    bst_gcn_free(&l);
    bst_mlp m;
    assert_int_equal(bst_mlp_init(&m, 4, -1), BST_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_adj),    cmocka_unit_test(test_ppr),
        cmocka_unit_test(test_prelu),       cmocka_unit_test(test_gcn),
        cmocka_unit_test(test_gcn_threads), cmocka_unit_test(test_pool),
        cmocka_unit_test(test_mlp),         cmocka_unit_test(test_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
