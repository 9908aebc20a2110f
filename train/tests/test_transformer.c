/* test_transformer.c — the SimCSE encoder's layers (transformer.h) against
   central finite differences (layer norm, GELU, tanh, embedding with and
   without projection, the attention core with padding and dropout, the
   whole encoder with both poolings, head on and off, dropout on), and its
   properties: dropout masks are a pure function of (seed, step, site,
   row), 1 and 2 threads give the same bits, appending padding changes
   nothing, bad configs and inputs are rejected.

   Each check uses f = sum(out * r) for a fixed random r (in double), so
   backward with dout = r must give df/d(everything). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "rng.h"
#include "transformer.h"

#define EPS 1e-3f
#define ATOL 3e-3
#define RTOL 1e-2

static float *randu(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    bs_rng r;
    bs_rng_derive(&r, seed, 99, n);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)bs_rng_uniform(&r);
    return x;
}

static float *copyf(const float *x, size_t n)
{
    float *y = malloc(n * sizeof(float));
    assert_non_null(y);
    memcpy(y, x, n * sizeof(float));
    return y;
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* analytic g against central differences of f in x (n); x restored */
static void check_grad(const char *what, double (*f)(void *), void *ctx,
                       float *x, const float *g, size_t n)
{
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float orig = x[i];
        x[i] = orig + EPS;
        float xp = x[i];
        double fp = f(ctx);
        x[i] = orig - EPS;
        float xm = x[i];
        double fm = f(ctx);
        x[i] = orig;
        double num = (fp - fm) / ((double)xp - (double)xm);
        double err = fabs(num - g[i]);
        worst = err > worst ? err : worst;
        if (!(err <= ATOL + RTOL * fabs(num))) {
            if (bad < 5)
                print_message("%s[%zu]: analytic %.6g numeric %.6g\n", what, i,
                              (double)g[i], num);
            bad++;
        }
    }
    if (getenv("BST_VERBOSE"))
        print_message("%-14s n=%-4zu worst abs err %.3g\n", what, n, worst);
    assert_int_equal(bad, 0);
}

/* -------------------------------------------------------------- layernorm */
typedef struct {
    bst_layernorm *ln;
    float *x, *y, *mu, *rs, *r;
    int N;
} ln_ctx;

static double ln_f(void *p)
{
    ln_ctx *c = p;
    bst_layernorm_forward(c->ln, c->x, c->y, c->mu, c->rs, c->N);
    return dot(c->y, c->r, (size_t)c->N * c->ln->dim);
}

static void test_layernorm(void **state)
{
    (void)state;
    int N = 4, C = 6;
    size_t n = (size_t)N * C;
    bst_layernorm ln;
    assert_int_equal(bst_layernorm_init(&ln, C), BST_OK);
    assert_true(ln.eps == 1e-5f && ln.g[0] == 1.0f && ln.b[0] == 0.0f);
    float *g = randu((size_t)C, 5, 0.5f, 1.5f), *b = randu((size_t)C, 6, -1, 1);
    memcpy(ln.g, g, C * sizeof(float));
    memcpy(ln.b, b, C * sizeof(float));
    ln_ctx c = {&ln, randu(n, 1, -2, 2), malloc(n * sizeof(float)),
                malloc(N * sizeof(float)), malloc(N * sizeof(float)),
                randu(n, 2, -1, 1), N};
    /* row 0: mean 0, variance 1 before the affine */
    ln.g[0] = 1.0f;
    ln_f(&c);
    float *dx = malloc(n * sizeof(float));
    bst_layernorm_backward(&ln, c.x, c.mu, c.rs, c.r, dx, N);
    float *dg = copyf(ln.dg, C), *db = copyf(ln.db, C);
    check_grad("layernorm dx", ln_f, &c, c.x, dx, n);
    check_grad("layernorm dg", ln_f, &c, ln.g, dg, (size_t)C);
    check_grad("layernorm db", ln_f, &c, ln.b, db, (size_t)C);
    free(g);
    free(b);
    free(dg);
    free(db);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.mu);
    free(c.rs);
    free(c.r);
    bst_layernorm_free(&ln);
}

/* ------------------------------------------------------------ gelu / tanh */
typedef struct {
    int which; /* 0 gelu, 1 tanh */
    float *x, *y, *r;
    size_t n;
} act_ctx;

static double act_f(void *p)
{
    act_ctx *c = p;
    if (c->which == 0)
        bst_gelu_forward(c->x, c->y, c->n);
    else
        bst_tanh_forward(c->x, c->y, c->n);
    return dot(c->y, c->r, c->n);
}

static void test_gelu_tanh(void **state)
{
    (void)state;
    size_t n = 40;
    for (int which = 0; which < 2; which++) {
        act_ctx c = {which, randu(n, 3, -3, 3), malloc(n * sizeof(float)),
                     randu(n, 4, -1, 1), n};
        float *dx = malloc(n * sizeof(float));
        act_f(&c);
        if (which == 0)
            bst_gelu_backward(c.x, c.r, dx, n);
        else
            bst_tanh_backward(c.y, c.r, dx, n);
        check_grad(which ? "tanh" : "gelu", act_f, &c, c.x, dx, n);
        free(dx);
        free(c.x);
        free(c.y);
        free(c.r);
    }
    /* exact erf form: gelu(1) = 0.5 (1 + erf(1/sqrt 2)) = 0.841344746 */
    float one = 1.0f, y;
    bst_gelu_forward(&one, &y, 1);
    assert_true(fabs(y - 0.8413447460685429) < 1e-7);
}

/* ------------------------------------------------------------- embedding */
enum { EB = 3, ET = 5 };
static const int32_t E_IDS[EB * ET] = {1, 4, 2, 0, 3, 6, 6, 1, 9, 9,
                                       5, 9, 9, 9, 9}; /* 9: padding */
static const int E_LEN[EB] = {5, 3, 1};

typedef struct {
    bst_embedding *e;
    float *raw, *y, *r;
} emb_ctx;

static double emb_f(void *p)
{
    emb_ctx *c = p;
    bst_embedding_forward(c->e, E_IDS, E_LEN, c->raw, c->y, EB, ET);
    return dot(c->y, c->r, (size_t)EB * ET * c->e->dim);
}

static void check_embedding(int E, int C)
{
    bst_embedding e;
    assert_int_equal(bst_embedding_init(&e, 7, 6, E, C), BST_OK);
    bst_param ps[4];
    int np = bst_embedding_params(&e, ps);
    assert_int_equal(np, E == C ? 2 : 4);
    for (int i = 0; i < np; i++)
        for (size_t j = 0; j < ps[i].n; j++)
            ps[i].w[j] = 0.1f * (float)((j * 7 + (size_t)i * 3) % 11) - 0.5f;
    size_t ny = (size_t)EB * ET * C;
    emb_ctx c = {&e, malloc((size_t)EB * ET * E * sizeof(float)),
                 malloc(ny * sizeof(float)), randu(ny, 8, -1, 1)};
    emb_f(&c);
    for (int t = E_LEN[1]; t < ET; t++) /* padding rows are zero */
        for (int k = 0; k < C; k++)
            assert_true(c.y[((size_t)ET + t) * C + k] == 0.0f);
    float *dy = copyf(c.r, ny);
    float *draw = malloc((size_t)EB * ET * E * sizeof(float));
    bst_embedding_backward(&e, E_IDS, E_LEN, c.raw, E == C ? NULL : draw, dy,
                           EB, ET);
    for (int i = 0; i < np; i++) {
        float *g = copyf(ps[i].g, ps[i].n);
        check_grad("embedding", emb_f, &c, ps[i].w, g, ps[i].n);
        free(g);
    }
    free(dy);
    free(draw);
    free(c.raw);
    free(c.y);
    free(c.r);
    bst_embedding_free(&e);
}

static void test_embedding(void **state)
{
    (void)state;
    check_embedding(4, 4);
    check_embedding(3, 4);
}

/* ------------------------------------------------------------- attention */
enum { AB = 2, AT = 5, AC = 6, AH = 2 };
static const int A_LEN[AB] = {5, 3};

typedef struct {
    float *qkv, *att, *ctx, *r;
    uint8_t *keep;
    float p;
} att_ctx;

static double att_f(void *pp)
{
    att_ctx *c = pp;
    bst_attention_forward(c->qkv, A_LEN, c->att, c->keep, c->ctx, AB, AT, AC,
                          AH, c->p, 1234);
    return dot(c->ctx, c->r, (size_t)AB * AT * AC);
}

static void check_attention(float p)
{
    size_t nq = (size_t)AB * AT * 3 * AC, na = (size_t)AB * AH * AT * AT;
    size_t nc = (size_t)AB * AT * AC;
    att_ctx c = {randu(nq, 21, -1.5f, 1.5f), malloc(na * sizeof(float)),
                 malloc(nc * sizeof(float)), randu(nc, 22, -1, 1),
                 malloc(na), p};
    att_f(&c);
    /* padding: zero probabilities to padding keys, zero padding queries */
    for (int i = 0; i < AT; i++)
        for (int j = 0; j < AT; j++) {
            float v = c.att[((size_t)(1 * AH + 1) * AT + i) * AT + j];
            if (i >= A_LEN[1] || j >= A_LEN[1])
                assert_true(v == 0.0f);
        }
    for (int k = 0; k < AC; k++)
        assert_true(c.ctx[((size_t)AT + 4) * AC + k] == 0.0f);
    float *dqkv = malloc(nq * sizeof(float));
    float *sc = malloc((size_t)AB * AH * AT * sizeof(float));
    bst_attention_backward(c.qkv, A_LEN, c.att, c.keep, c.r, dqkv, sc, AB, AT,
                           AC, AH, p);
    check_grad(p > 0 ? "attention p" : "attention", att_f, &c, c.qkv, dqkv,
               nq);
    free(dqkv);
    free(sc);
    free(c.qkv);
    free(c.att);
    free(c.ctx);
    free(c.r);
    free(c.keep);
}

static void test_attention(void **state)
{
    (void)state;
    check_attention(0.0f);
    check_attention(0.3f);
}

/* --------------------------------------------------------- whole encoder */
static void tiny_cfg(bst_tf_cfg *c, int pool)
{
    *c = (bst_tf_cfg){.vocab = 7, .max_len = 6, .edim = 3, .dim = 4,
                      .heads = 2, .layers = 2, .mlp = 6, .dropout = 0.1f,
                      .pool = pool};
}

/* all parameters ~ U(-0.5, 0.5), LN gains 1 + U(-0.3, 0.3): signals large
   enough for finite differences to resolve */
static void scramble(bst_tf *m, uint64_t seed)
{
    for (int i = 0; i < m->nparams; i++) {
        float *v = randu(m->params[i].n, seed + (uint64_t)i, -0.5f, 0.5f);
        int is_gain = !m->params[i].decay && i + 1 < m->nparams &&
                      m->params[i + 1].n == m->params[i].n &&
                      m->params[i].w[0] == 1.0f;
        for (size_t j = 0; j < m->params[i].n; j++)
            m->params[i].w[j] = is_gain ? 1.0f + 0.6f * v[j] : v[j];
        free(v);
    }
}

typedef struct {
    bst_tf *m;
    bst_tf_acts *a;
    int train, head;
    const float *r;
} enc_ctx;

static double enc_f(void *p)
{
    enc_ctx *c = p;
    const float *out = bst_tf_forward(c->m, c->a, E_IDS, E_LEN, EB, ET,
                                      c->train, c->head, 42, 7);
    assert_non_null(out);
    return dot(out, c->r, (size_t)EB * c->m->cfg.dim);
}

static void check_encoder(int pool, int train, int head)
{
    bst_tf_cfg cfg;
    tiny_cfg(&cfg, pool);
    bst_tf m;
    bst_tf_acts a;
    assert_int_equal(bst_tf_init(&m, &cfg, 3), BST_OK);
    assert_int_equal(bst_tf_acts_init(&a, &m, EB, ET), BST_OK);
    scramble(&m, 100);
    float *r = randu((size_t)EB * cfg.dim, 31, -1, 1);
    enc_ctx c = {&m, &a, train, head, r};
    enc_f(&c);
    bst_zero_grads(m.params, m.nparams);
    bst_tf_backward(&m, &a, r);
    char name[32];
    for (int i = 0; i < m.nparams; i++) {
        float *g = copyf(m.params[i].g, m.params[i].n);
        snprintf(name, sizeof name, "encoder p%d", i);
        check_grad(name, enc_f, &c, m.params[i].w, g, m.params[i].n);
        free(g);
    }
    free(r);
    bst_tf_acts_free(&a);
    bst_tf_free(&m);
}

static void test_encoder_mean_head_dropout(void **state)
{
    (void)state;
    check_encoder(BST_TF_POOL_MEAN, 1, 1);
}

static void test_encoder_cls_eval(void **state)
{
    (void)state;
    check_encoder(BST_TF_POOL_CLS, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_gelu_tanh),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_encoder_mean_head_dropout),
        cmocka_unit_test(test_encoder_cls_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
