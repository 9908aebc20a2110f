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

#include "fdcheck.h"
#include "transformer.h"

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
    ln_ctx c = {&ln,
                randu(n, 1, -2, 2),
                malloc(n * sizeof(float)),
                malloc(N * sizeof(float)),
                malloc(N * sizeof(float)),
                randu(n, 2, -1, 1),
                N};
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
static const int32_t E_IDS[EB * ET] = {1, 4, 2, 0, 3, 6, 6, 1,
                                       9, 9, 5, 9, 9, 9, 9}; /* 9: padding */
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
    att_ctx c = {randu(nq, 21, -1.5f, 1.5f),
                 malloc(na * sizeof(float)),
                 malloc(nc * sizeof(float)),
                 randu(nc, 22, -1, 1),
                 malloc(na),
                 p};
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
    check_grad(p > 0 ? "attention p" : "attention", att_f, &c, c.qkv, dqkv, nq);
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
    *c = (bst_tf_cfg){.vocab = 7,
                      .max_len = 6,
                      .edim = 3,
                      .dim = 4,
                      .heads = 2,
                      .layers = 2,
                      .mlp = 6,
                      .dropout = 0.1f,
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
    const float *r, *r2; /* r2: a second loss dot(pooled, r2), or NULL */
} enc_ctx;

static double enc_f(void *p)
{
    enc_ctx *c = p;
    const float *out = bst_tf_forward(c->m, c->a, E_IDS, E_LEN, EB, ET,
                                      c->train, c->head, 42, 7);
    assert_non_null(out);
    size_t n = (size_t)EB * c->m->cfg.dim;
    return dot(out, c->r, n) + (c->r2 ? dot(c->a->pooled, c->r2, n) : 0.0);
}

/* the tiny encoder with scrambled parameters and room for E_IDS */
static void tiny_model(bst_tf_cfg *cfg, bst_tf *m, bst_tf_acts *a, int pool)
{
    tiny_cfg(cfg, pool);
    assert_int_equal(bst_tf_init(m, cfg, 3), BST_OK);
    assert_int_equal(bst_tf_acts_init(a, m, EB, ET), BST_OK);
    scramble(m, 100);
}

static void check_encoder(int pool, int train, int head, int weighted)
{
    bst_tf_cfg cfg;
    bst_tf m;
    bst_tf_acts a;
    tiny_model(&cfg, &m, &a, pool);
    if (weighted) { /* pooling weights in [0.1, 2.1) */
        float *w = randu((size_t)cfg.vocab, 77, 0.1f, 2.1f);
        assert_int_equal(bst_tf_set_pool_weights(&m, w), BST_OK);
        free(w);
    }
    float *r = randu((size_t)EB * cfg.dim, 31, -1, 1);
    /* weighted: also a loss on the pooled output (bst_tf_backward_pool) */
    float *r2 = weighted ? randu((size_t)EB * cfg.dim, 32, -1, 1) : NULL;
    enc_ctx c = {&m, &a, train, head, r, r2};
    enc_f(&c);
    bst_zero_grads(m.params, m.nparams);
    bst_tf_backward_pool(&m, &a, r, r2);
    char name[32];
    for (int i = 0; i < m.nparams; i++) {
        float *g = copyf(m.params[i].g, m.params[i].n);
        snprintf(name, sizeof name, "encoder p%d", i);
        check_grad(name, enc_f, &c, m.params[i].w, g, m.params[i].n);
        free(g);
    }
    free(r);
    free(r2);
    bst_tf_acts_free(&a);
    bst_tf_free(&m);
}

static void test_encoder_mean_head_dropout(void **state)
{
    (void)state;
    check_encoder(BST_TF_POOL_MEAN, 1, 1, 0);
}

static void test_encoder_weighted_mean(void **state)
{
    (void)state;
    check_encoder(BST_TF_POOL_MEAN, 1, 1, 1);
}

/* weighted pooling: all-ones weights give the plain mean bitwise; other
   weights move the output; bad weights are rejected */
static void test_pool_weights(void **state)
{
    (void)state;
    bst_tf_cfg cfg;
    bst_tf m;
    bst_tf_acts a;
    tiny_model(&cfg, &m, &a, BST_TF_POOL_MEAN);
    size_t n = (size_t)EB * cfg.dim;
    float *plain =
        copyf(bst_tf_forward(&m, &a, E_IDS, E_LEN, EB, ET, 0, 0, 0, 0), n);
    float w[7] = {1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(bst_tf_set_pool_weights(&m, w), BST_OK);
    assert_memory_equal(
        bst_tf_forward(&m, &a, E_IDS, E_LEN, EB, ET, 0, 0, 0, 0), plain,
        n * sizeof(float));
    w[4] = 3.0f;
    assert_int_equal(bst_tf_set_pool_weights(&m, w), BST_OK);
    const float *o = bst_tf_forward(&m, &a, E_IDS, E_LEN, EB, ET, 0, 0, 0, 0);
    /* sequence 0 holds id 4, sequence 2 (just id 5) does not */
    assert_true(memcmp(o, plain, (size_t)cfg.dim * sizeof(float)) != 0);
    assert_memory_equal(o + 2 * cfg.dim, plain + 2 * cfg.dim,
                        (size_t)cfg.dim * sizeof(float));
    float bad[3] = {0.0f, -1.0f, NAN};
    for (int i = 0; i < 3; i++) {
        float v[7] = {1, 1, 1, 1, 1, 1, 1};
        v[5] = bad[i];
        assert_int_equal(bst_tf_set_pool_weights(&m, v), BST_ERR_INVAL);
    }
    assert_int_equal(bst_tf_set_pool_weights(&m, NULL), BST_OK);
    assert_memory_equal(
        bst_tf_forward(&m, &a, E_IDS, E_LEN, EB, ET, 0, 0, 0, 0), plain,
        n * sizeof(float));
    free(plain);
    bst_tf_acts_free(&a);
    bst_tf_free(&m);
}

static void test_encoder_cls_eval(void **state)
{
    (void)state;
    check_encoder(BST_TF_POOL_CLS, 0, 0, 0);
}

/* ------------------------------------------------------------ properties */
static void mid_cfg(bst_tf_cfg *c)
{
    *c = (bst_tf_cfg){.vocab = 50,
                      .max_len = 16,
                      .edim = 16,
                      .dim = 32,
                      .heads = 4,
                      .layers = 2,
                      .mlp = 256,
                      .dropout = 0.1f,
                      .pool = BST_TF_POOL_MEAN};
}

enum { PB = 24, PT = 12 };

/* PB sequences of lengths 1..PT padded to T >= PT; padding ids -1 (never
   read); sequence b's tokens do not depend on T */
static void make_batch(int32_t *ids, int *len, int T)
{
    for (int b = 0; b < PB; b++) {
        len[b] = 1 + (b * 5) % PT;
        for (int t = 0; t < T; t++)
            ids[b * T + t] = t < len[b] ? (b * 7 + t * 3) % 50 : -1;
    }
}

/* output (PB, C) and the concatenated gradients of one forward + backward */
typedef struct {
    float *out, *grad;
    size_t nout, ngrad;
} run_result;

static run_result run_once(int T, int train, uint64_t step)
{
    bst_tf_cfg cfg;
    mid_cfg(&cfg);
    bst_tf m;
    bst_tf_acts a;
    assert_int_equal(bst_tf_init(&m, &cfg, 5), BST_OK);
    scramble(&m, 200);
    assert_int_equal(bst_tf_acts_init(&a, &m, PB, T), BST_OK);
    int32_t *ids = malloc((size_t)PB * T * sizeof(int32_t));
    int len[PB];
    make_batch(ids, len, T);
    const float *out =
        bst_tf_forward(&m, &a, ids, len, PB, T, train, 1, 9, step);
    assert_non_null(out);
    run_result rr = {copyf(out, (size_t)PB * cfg.dim), NULL,
                     (size_t)PB * cfg.dim, bst_tf_size(&m)};
    float *r = randu(rr.nout, 77, -1, 1);
    bst_zero_grads(m.params, m.nparams);
    bst_tf_backward(&m, &a, r);
    rr.grad = malloc(rr.ngrad * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < m.nparams; i++, off += m.params[i - 1].n)
        memcpy(rr.grad + off, m.params[i].g, m.params[i].n * sizeof(float));
    free(r);
    free(ids);
    bst_tf_acts_free(&a);
    bst_tf_free(&m);
    return rr;
}

static void run_free(run_result *rr)
{
    free(rr->out);
    free(rr->grad);
}

static int same_bits(const run_result *x, const run_result *y)
{
    return x->nout == y->nout && x->ngrad == y->ngrad &&
           !memcmp(x->out, y->out, x->nout * sizeof(float)) &&
           !memcmp(x->grad, y->grad, x->ngrad * sizeof(float));
}

static void test_dropout_determinism(void **state)
{
    (void)state;
    run_result a = run_once(PT, 1, 3), b = run_once(PT, 1, 3);
    run_result c = run_once(PT, 1, 4), e1 = run_once(PT, 0, 3);
    run_result e2 = run_once(PT, 0, 4);
    assert_true(same_bits(&a, &b));   /* same (seed, step): same bits */
    assert_false(same_bits(&a, &c));  /* another step: another mask */
    assert_false(same_bits(&a, &e1)); /* dropout is on in train mode */
    assert_true(same_bits(&e1, &e2)); /* eval ignores the step */
    run_free(&a);
    run_free(&b);
    run_free(&c);
    run_free(&e1);
    run_free(&e2);
    /* a row's mask: keep rate 1 - p, prefix-stable, keyed by site */
    enum { N = 20000 };
    uint8_t *k1 = malloc(N), *k2 = malloc(N);
    bst_tf_dropout_row(k1, N, 0.1f, bst_tf_dropout_key(1, 2, 3), 5);
    bst_tf_dropout_row(k2, 100, 0.1f, bst_tf_dropout_key(1, 2, 3), 5);
    assert_memory_equal(k1, k2, 100);
    size_t kept = 0;
    for (int i = 0; i < N; i++)
        kept += k1[i];
    assert_true(fabs((double)kept / N - 0.9) < 0.01);
    bst_tf_dropout_row(k2, N, 0.1f, bst_tf_dropout_key(1, 2, 4), 5);
    assert_true(memcmp(k1, k2, N) != 0);
    free(k1);
    free(k2);
}

static void test_thread_invariance(void **state)
{
    (void)state;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    run_result one = run_once(PT, 1, 3);
    omp_set_num_threads(2);
    run_result two = run_once(PT, 1, 3);
    omp_set_num_threads(saved);
    assert_true(same_bits(&one, &two));
    run_free(&one);
    run_free(&two);
}

/* max |x - y| <= tol max |x| (and x not all zero) */
static void expect_near(const float *x, const float *y, size_t n, double tol)
{
    double worst = 0.0, top = 0.0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)x[i] - y[i]));
        top = fmax(top, fabs((double)x[i]));
    }
    if (getenv("BST_VERBOSE"))
        print_message("n=%zu max %.3g worst diff %.3g\n", n, top, worst);
    assert_true(top > 0.0 && worst <= tol * top);
}

/* appending padding (T = 12 -> 16) changes nothing but rounding: every
   row-wise step and the attention see the same values, only the GEMMs cut
   the B T rows into other chunks (another SIMD kernel for the remainder) */
static void test_padding_invariance(void **state)
{
    (void)state;
    for (int train = 0; train < 2; train++) {
        run_result s = run_once(PT, train, 3), l = run_once(16, train, 3);
        expect_near(s.out, l.out, s.nout, 1e-5);
        expect_near(s.grad, l.grad, s.ngrad, 1e-5);
        run_free(&s);
        run_free(&l);
    }
}

static void test_rejections(void **state)
{
    (void)state;
    bst_tf_cfg c, bad;
    char msg[160];
    mid_cfg(&c);
    assert_int_equal(bst_tf_cfg_check(&c, msg, sizeof msg), BST_OK);
    assert_int_equal(bst_tf_cfg_check(NULL, msg, sizeof msg), BST_ERR_INVAL);
    bst_tf_cfg bads[6];
    for (int i = 0; i < 6; i++)
        bads[i] = c;
    bads[0].heads = 5; /* does not divide 32 */
    bads[1].layers = 0;
    bads[2].dropout = 1.0f;
    bads[3].dropout = NAN;
    bads[4].pool = 7;
    bads[5].vocab = 0;
    bst_tf m;
    for (int i = 0; i < 6; i++) {
        msg[0] = 0;
        assert_int_equal(bst_tf_cfg_check(&bads[i], msg, sizeof msg),
                         BST_ERR_INVAL);
        assert_true(strncmp(msg, "transformer: ", 13) == 0);
        assert_int_equal(bst_tf_init(&m, &bads[i], 0), BST_ERR_INVAL);
    }
    bad = c;
    bst_tf_cfg_default(&bad, 100);
    assert_int_equal(bst_tf_cfg_check(&bad, NULL, 0), BST_OK);
    assert_int_equal(bst_tf_init(&m, &c, 0), BST_OK);
    bst_tf_acts a;
    assert_int_equal(bst_tf_acts_init(&a, &m, 2, 17), BST_ERR_INVAL);
    assert_int_equal(bst_tf_acts_init(&a, &m, 2, 4), BST_OK);
    int32_t ids[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int len[2] = {4, 2};
    assert_non_null(bst_tf_forward(&m, &a, ids, len, 2, 4, 1, 1, 0, 0));
    assert_null(bst_tf_forward(&m, &a, ids, len, 3, 4, 1, 1, 0, 0));
    assert_null(bst_tf_forward(&m, &a, ids, len, 2, 5, 1, 1, 0, 0));
    len[1] = 0;
    assert_null(bst_tf_forward(&m, &a, ids, len, 2, 4, 1, 1, 0, 0));
    len[1] = 5;
    assert_null(bst_tf_forward(&m, &a, ids, len, 2, 4, 1, 1, 0, 0));
    len[1] = 2;
    ids[5] = 50; /* outside the vocabulary */
    assert_null(bst_tf_forward(&m, &a, ids, len, 2, 4, 1, 1, 0, 0));
    ids[5] = 6;
    ids[6] = -5; /* padding: never read */
    assert_non_null(bst_tf_forward(&m, &a, ids, len, 2, 4, 1, 1, 0, 0));
    bst_tf_acts_free(&a);
    bst_tf_free(&m);
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
        cmocka_unit_test(test_encoder_weighted_mean),
        cmocka_unit_test(test_pool_weights),
        cmocka_unit_test(test_dropout_determinism),
        cmocka_unit_test(test_thread_invariance),
        cmocka_unit_test(test_padding_invariance),
        cmocka_unit_test(test_rejections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
