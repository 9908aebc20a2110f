/* test_mvgrl.c — MVGRL (graphs/mvgrl.h) against finite differences:
   the local-global JSD against the reference's masked definition
   (local_global_loss_ with measure 'JSD', written out here over the whole
   N x G score matrix) and its gradients w.r.t. both of its inputs; the
   whole model's loss (two GCN encoders on the adjacency and PPR views,
   every layer's sum pooling, the shared heads, both JSD directions)
   against central differences in every parameter on a tiny batch of
   graphs; embeddings independent of the batch they are computed in; the
   loss and gradients bitwise the same for 1 and 2 threads; bad input; the
   node features (the reference's label one-hot then degree one-hot) on
   the tiny data set, and the model's gradients with them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "mvgrl.h"

/* n floats drawn from U(-bound, bound), stream (seed, 91): gcn.h's
   initialiser */
static float *rnd(size_t n, uint64_t seed, float bound)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(x);
    bst_uniform_init(x, n, bound, seed, 91);
    return x;
}

/* |analytic - numeric| <= abs + rel |numeric|, else print and fail */
static void close_or_fail(const char *what, size_t i, double a, double num,
                          double abs_tol, double rel_tol)
{
    if (!(fabs(a - num) <= abs_tol + rel_tol * fabs(num))) {
        print_message("%s[%zu]: analytic %.6g, numeric %.6g\n", what, i, a,
                      num);
        fail();
    }
}

/* ------------------------------------------------------------------ JSD */
/* Three graphs of 3, 1 and 4 nodes (the single node: one positive, two
   negatives), d = 5. */
enum { JN = 8, JG = 3, JD = 5 };
static const int64_t JOFF[JG + 1] = {0, 3, 4, 8};

static double softplus_ref(double x)
{
    return log(1.0 + exp(x));
}

/* The reference's loss: res = l g^T; E_pos = sum over res * pos_mask of
   log 2 - softplus(-r), / N; E_neg = sum over res * neg_mask of
   softplus(-r) + r - log 2, / (N (G - 1)); loss = E_neg - E_pos.  The
   masked-out zeros contribute 0 to either sum, as in the reference. */
static double jsd_ref(const float *l, const float *g)
{
    double ep = 0, en = 0;
    for (int k = 0; k < JG; k++)
        for (int64_t i = JOFF[k]; i < JOFF[k + 1]; i++)
            for (int j = 0; j < JG; j++) {
                double r = 0;
                for (int c = 0; c < JD; c++)
                    r += (double)l[i * JD + c] * g[j * JD + c];
                double pos = j == k ? r : 0, neg = j == k ? 0 : r;
                ep += log(2.0) - softplus_ref(-pos);
                en += softplus_ref(-neg) + neg - log(2.0);
            }
    return en / (JN * (JG - 1.0)) - ep / JN;
}

static void test_jsd_value(void **state)
{
    (void)state;
    float *l = rnd(JN * JD, 1, 1), *g = rnd(JG * JD, 2, 1);
    float work[JN * JG];
    for (int scale = 1; scale <= 4; scale *= 2) { /* larger scores too */
        for (int i = 0; i < JG * JD; i++)
            g[i] *= (float)scale;
        double loss;
        bsg_mvgrl_jsd(l, g, JOFF, JG, JD, &loss, NULL, NULL, work);
        double want = jsd_ref(l, g);
        assert_true(fabs(loss - want) <= 1e-6 * (1 + fabs(want)));
    }
    free(l);
    free(g);
}

typedef struct {
    float *l, *g;
    float work[JN * JG];
} jsd_ctx;

static double jsd_f(jsd_ctx *t)
{
    double loss;
    bsg_mvgrl_jsd(t->l, t->g, JOFF, JG, JD, &loss, NULL, NULL, t->work);
    return loss;
}

/* central differences in every entry of x against g */
static void jsd_fd(const char *what, jsd_ctx *t, float *x, const float *ga,
                   size_t n)
{
    const float eps = 1e-2f;
    for (size_t i = 0; i < n; i++) {
        float orig = x[i];
        x[i] = orig + eps;
        double fp = jsd_f(t), xp = x[i];
        x[i] = orig - eps;
        double fm = jsd_f(t), num = (fp - fm) / (xp - x[i]);
        x[i] = orig;
        close_or_fail(what, i, ga[i], num, 1e-5, 1e-3);
    }
}

static void test_jsd_grad(void **state)
{
    (void)state;
    jsd_ctx t;
    t.l = rnd(JN * JD, 3, 1);
    t.g = rnd(JG * JD, 4, 1.5f);
    float dl[JN * JD], dg[JG * JD];
    double loss;
    bsg_mvgrl_jsd(t.l, t.g, JOFF, JG, JD, &loss, dl, dg, t.work);
    assert_true(fabs(loss - jsd_f(&t)) == 0); /* the gradient changes nothing */
    jsd_fd("jsd dl", &t, t.l, dl, JN * JD);
    jsd_fd("jsd dg", &t, t.g, dg, JG * JD);
    free(t.l);
    free(t.g);
}

/* ---------------------------------------------------------------- model */
/* Five graphs in the TU text format (tag, degree, neighbours): a triangle
   with a tail, a single node, a 4-cycle with a chord, an edge, a star of
   5.  Tags 0..2, so 3 one-hot features. */
static const char *TEXT = "5\n"
                          "4 0\n0 2 1 2\n1 2 0 2\n2 3 0 1 3\n1 1 2\n"
                          "1 1\n2 0\n"
                          "4 0\n0 3 1 3 2\n1 2 0 2\n2 3 1 3 0\n0 2 0 2\n"
                          "2 1\n1 1 1\n0 1 0\n"
                          "5 1\n2 4 1 2 3 4\n0 1 0\n1 1 0\n0 1 0\n1 1 0\n";

typedef struct {
    bst_tu d;
    bsg_mvgrl_ops ops;
    bsg_mvgrl *m;
    bst_param *ps;
    int np;
} fixture;

static void fixture_init_feat(fixture *f, int hidden, int layers,
                              bsg_mvgrl_feat feat)
{
    char msg[256];
    assert_int_equal(
        bst_tu_parse(TEXT, strlen(TEXT), "mvgrl", &f->d, msg, sizeof msg),
        BST_OK);
    assert_int_equal(f->d.graphs, 5);
    assert_int_equal(f->d.feat, 3);
    assert_int_equal(bsg_mvgrl_ops_build(&f->ops, &f->d, 0.2, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(bsg_mvgrl_features(&f->d, &f->ops, feat, msg, sizeof msg),
                     BST_OK);
    bsg_mvgrl_cfg c;
    bsg_mvgrl_cfg_default(&c);
    c.hidden = hidden, c.layers = layers, c.seed = 3;
    assert_int_equal(bsg_mvgrl_new(&c, f->d.feat, &f->m), BST_OK);
    f->np = bsg_mvgrl_params(f->m, &f->ps);
    /* 2 L GCN layers (W, b, a) and two heads of 11 tensors */
    assert_int_equal(f->np, 2 * layers * 3 + 2 * 11);
    /* away from the initial values (biases 0, slopes 0.25): a bias or a
       slope that the backward ignores or confuses shows */
    for (int p = 0; p < f->np; p++) {
        float *r = rnd(f->ps[p].n, 100 + (uint64_t)p, 0.15f);
        for (size_t i = 0; i < f->ps[p].n; i++)
            f->ps[p].w[i] += r[i];
        free(r);
    }
}

static void fixture_init(fixture *f, int hidden, int layers)
{
    fixture_init_feat(f, hidden, layers, BSG_MVGRL_FEAT_TAGS);
}

static void fixture_free(fixture *f)
{
    bsg_mvgrl_free(f->m);
    bsg_mvgrl_ops_free(&f->ops);
    bst_tu_free(&f->d);
}

static double model_loss(fixture *f, const int64_t *ids, int64_t count,
                         int grad)
{
    char msg[256];
    double loss = 0;
    assert_int_equal(bsg_mvgrl_loss(f->m, &f->d, &f->ops, ids, count, grad,
                                    &loss, msg, sizeof msg),
                     BST_OK);
    return loss;
}

/* Every parameter entry against central differences of the loss on the
   batch ids (count graphs), step 1e-3.  PReLU has a kink at 0, and one
   bias or weight moves many pre-activations: where a kink falls inside
   [w - eps, w + eps] the central difference mixes the two slopes.  There
   (the one-sided differences disagree) the analytic value must lie
   between the two one-sided slopes instead, and such entries must stay a
   small minority. */
static void check_model_feat(int hidden, int layers, const int64_t *ids,
                             int64_t count, bsg_mvgrl_feat feat)
{
    /* one thread: hundreds of tiny forwards, where OpenMP's fork and join
       would dominate on a loaded machine (test_threads covers 2) */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    fixture f;
    fixture_init_feat(&f, hidden, layers, feat);
    double loss = model_loss(&f, ids, count, 1);
    assert_true(isfinite(loss));
    size_t total = bsg_mvgrl_param_floats(f.m), at = 0, nonzero = 0, kinks = 0;
    float *ga = malloc(sizeof(float) * total);
    assert_non_null(ga);
    for (int p = 0; p < f.np; p++) {
        memcpy(ga + at, f.ps[p].g, sizeof(float) * f.ps[p].n);
        at += f.ps[p].n;
    }
    assert_int_equal(at, total);
    const float eps = 1e-3f;
    at = 0;
    for (int p = 0; p < f.np; p++) {
        char what[32];
        snprintf(what, sizeof what, "param %d", p);
        for (size_t i = 0; i < f.ps[p].n; i++, at++) {
            float *w = f.ps[p].w + i, orig = *w;
            *w = orig + eps;
            double xp = *w, fp = model_loss(&f, ids, count, 0);
            *w = orig - eps;
            double xm = *w, fm = model_loss(&f, ids, count, 0);
            *w = orig;
            double num = (fp - fm) / (xp - xm), a = ga[at];
            double tol = 2e-4 + 2e-2 * fabs(num);
            nonzero += fabs(num) > 1e-4;
            if (fabs(a - num) <= tol)
                continue;
            double up = (fp - loss) / (xp - orig),
                   dn = (loss - fm) / (orig - xm);
            if (fabs(up - dn) > tol && a >= fmin(up, dn) - tol &&
                a <= fmax(up, dn) + tol) {
                kinks++;
                continue;
            }
            close_or_fail(what, i, a, num, 2e-4, 2e-2);
        }
    }
    /* the check means something only if the loss moves with the
       parameters, and if kinks are the exception */
    assert_true(nonzero > total / 2);
    assert_true(kinks <= total / 50);
    /* the loss without the gradient is the same number */
    assert_true(model_loss(&f, ids, count, 0) == loss);
    free(ga);
    fixture_free(&f);
    omp_set_num_threads(threads);
}

static void check_model(int hidden, int layers, const int64_t *ids,
                        int64_t count)
{
    check_model_feat(hidden, layers, ids, count, BSG_MVGRL_FEAT_TAGS);
}

static void test_model_grad(void **state)
{
    (void)state;
    const int64_t ids[4] = {2, 0, 4, 1}; /* not in data set order */
    check_model(4, 2, ids, 4);
}

/* three layers (the middle one's pooled sum and the layer after it both
   feed back into it), two graphs, one of them a single node */
static void test_model_grad_deeper(void **state)
{
    (void)state;
    const int64_t ids[2] = {1, 3};
    check_model(3, 3, ids, 2);
}

/* An embedding depends on its graph only (no batch statistics): every
   graph's row is the same whatever the chunk, and the step's emb of a
   batch equals the rows of bsg_mvgrl_embed before the step. */
static void test_embed(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 6, 2);
    char msg[256];
    size_t n = 5 * 6;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    float *e = malloc(sizeof(float) * 3 * 6);
    assert_true(a && b && e);
    assert_int_equal(bsg_mvgrl_embed(f.m, &f.d, &f.ops, 5, a, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(bsg_mvgrl_embed(f.m, &f.d, &f.ops, 2, b, msg, sizeof msg),
                     BST_OK);
    double norm = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(fabs(a[i] - b[i]) <= 1e-5 * (1 + fabs(a[i])));
        norm += fabs(a[i]);
    }
    assert_true(norm > 0);
    const int64_t ids[3] = {4, 1, 2};
    double loss;
    assert_int_equal(bsg_mvgrl_step(f.m, &f.d, &f.ops, ids, 3, 1e-3, &loss, e,
                                    msg, sizeof msg),
                     BST_OK);
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 6; c++) {
            float want = a[ids[k] * 6 + c];
            assert_true(fabs(e[k * 6 + c] - want) <= 1e-5 * (1 + fabs(want)));
        }
    /* and the step moved the parameters */
    assert_int_equal(bsg_mvgrl_embed(f.m, &f.d, &f.ops, 5, b, msg, sizeof msg),
                     BST_OK);
    assert_true(memcmp(a, b, sizeof(float) * n) != 0);
    free(a);
    free(b);
    free(e);
    fixture_free(&f);
}

/* loss and every gradient bitwise the same for 1 and 2 threads */
static void test_threads(void **state)
{
    (void)state;
    const int64_t ids[5] = {0, 1, 2, 3, 4};
    double loss[2];
    float *g[2] = {NULL, NULL};
    size_t total = 0;
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        fixture f;
        fixture_init(&f, 8, 3);
        loss[t] = model_loss(&f, ids, 5, 1);
        total = bsg_mvgrl_param_floats(f.m);
        g[t] = malloc(sizeof(float) * total);
        assert_non_null(g[t]);
        size_t at = 0;
        for (int p = 0; p < f.np; p++) {
            memcpy(g[t] + at, f.ps[p].g, sizeof(float) * f.ps[p].n);
            at += f.ps[p].n;
        }
        fixture_free(&f);
    }
    omp_set_num_threads(2);
    assert_true(loss[0] == loss[1]);
    assert_memory_equal(g[0], g[1], sizeof(float) * total);
    free(g[0]);
    free(g[1]);
}

static void test_invalid(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 4, 2);
    char msg[256] = "";
    double loss;
    const int64_t one[1] = {0}, bad[2] = {0, 5};
    assert_int_equal(
        bsg_mvgrl_loss(f.m, &f.d, &f.ops, one, 1, 1, &loss, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_non_null(strstr(msg, ">= 2"));
    msg[0] = 0;
    assert_int_equal(
        bsg_mvgrl_loss(f.m, &f.d, &f.ops, bad, 2, 1, &loss, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_true(msg[0] != 0);
    bsg_mvgrl_ops o;
    assert_int_equal(bsg_mvgrl_ops_build(&o, &f.d, 0.0, msg, sizeof msg),
                     BST_ERR_INVAL);
    bsg_mvgrl_cfg c;
    bsg_mvgrl_cfg_default(&c);
    bsg_mvgrl *m = NULL;
    c.hidden = 0;
    assert_int_equal(bsg_mvgrl_new(&c, 3, &m), BST_ERR_INVAL);
    bsg_mvgrl_cfg_default(&c);
    assert_int_equal(bsg_mvgrl_new(&c, 0, &m), BST_ERR_INVAL);
    /* a model built for another feature width */
    assert_int_equal(bsg_mvgrl_new(&c, 4, &m), BST_OK);
    msg[0] = 0;
    assert_int_equal(
        bsg_mvgrl_loss(m, &f.d, &f.ops, bad, 2, 1, &loss, msg, sizeof msg),
        BST_ERR_INVAL);
    const int64_t ok[2] = {0, 1};
    assert_int_equal(
        bsg_mvgrl_loss(m, &f.d, &f.ops, ok, 2, 1, &loss, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_non_null(strstr(msg, "features"));
    bsg_mvgrl_free(m);
    fixture_free(&f);
}

/* The features on TEXT, node by node: tags 0..2 (3 slots), degrees 0..4
   (5 slots). */
#define NODES 16
static const int32_t TAG[NODES] = {0, 1, 2, 1, 2, 0, 1, 2,
                                   0, 1, 0, 2, 0, 1, 0, 1};
static const int32_t DEG[NODES] = {2, 2, 3, 1, 0, 3, 2, 3,
                                   2, 1, 1, 4, 1, 1, 1, 1};

static void load_feat(bst_tu *d, bsg_mvgrl_ops *o, const char *text,
                      bsg_mvgrl_feat k)
{
    char msg[256];
    assert_int_equal(bst_tu_parse(text, strlen(text), "f", d, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(bsg_mvgrl_ops_build(o, d, 0.2, msg, sizeof msg), BST_OK);
    assert_int_equal(bsg_mvgrl_features(d, o, k, msg, sizeof msg), BST_OK);
}

/* Loads text with features k and checks them: width feat, every node's
   first slot first[v], and its second slot off + second[v] (second NULL:
   no second slot). */
static void check_features(const char *text, bsg_mvgrl_feat k, int nodes,
                           int feat, const int32_t *first,
                           const int32_t *second, int off)
{
    bst_tu d;
    bsg_mvgrl_ops o;
    load_feat(&d, &o, text, k);
    assert_int_equal(d.nodes, nodes);
    assert_int_equal(d.feat, feat);
    assert_true(!second == !o.feat2);
    for (int v = 0; v < nodes; v++) {
        assert_int_equal(d.feat_idx[v], first[v]);
        if (second)
            assert_int_equal(o.feat2[v], off + second[v]);
    }
    bsg_mvgrl_ops_free(&o);
    bst_tu_free(&d);
}

static void test_features(void **state)
{
    (void)state;
    /* tags+degree, and auto on a file with several tags: the label
       one-hot (3), then the degree one-hot (max degree 4 + 1) */
    check_features(TEXT, BSG_MVGRL_FEAT_TAGS_DEGREE, NODES, 3 + 5, TAG, DEG, 3);
    check_features(TEXT, BSG_MVGRL_FEAT_AUTO, NODES, 3 + 5, TAG, DEG, 3);
    /* degree alone: one hot slot, no cap; tags: as loaded */
    check_features(TEXT, BSG_MVGRL_FEAT_DEGREE, NODES, 5, DEG, NULL, 0);
    check_features(TEXT, BSG_MVGRL_FEAT_TAGS, NODES, 3, TAG, NULL, 0);
    /* one distinct tag (a path of 3 and a node of degree 0): auto is the
       degree; tags+degree puts the constant label first */
    static const char *ONE = "2\n3 0\n5 1 1\n5 2 0 2\n5 1 1\n1 1\n5 0\n";
    static const int32_t ONE_DEG[4] = {1, 2, 1, 0}, ZERO[4] = {0};
    assert_int_equal(bsg_mvgrl_feat_resolve(&(bst_tu){.degree_features = 1},
                                            BSG_MVGRL_FEAT_AUTO),
                     BSG_MVGRL_FEAT_DEGREE);
    check_features(ONE, BSG_MVGRL_FEAT_AUTO, 4, 3, ONE_DEG, NULL, 0);
    check_features(ONE, BSG_MVGRL_FEAT_TAGS_DEGREE, 4, 1 + 3, ZERO, ONE_DEG, 1);
    /* names and bad kinds */
    bsg_mvgrl_feat k;
    assert_int_equal(bsg_mvgrl_feat_parse("tags+degree", &k), 0);
    assert_int_equal(k, BSG_MVGRL_FEAT_TAGS_DEGREE);
    assert_int_equal(bsg_mvgrl_feat_parse("constant", &k), -1);
    assert_null(bsg_mvgrl_feat_name(BSG_MVGRL_FEAT_COUNT));
    char msg[256];
    bst_tu d;
    bsg_mvgrl_ops o;
    load_feat(&d, &o, TEXT, BSG_MVGRL_FEAT_TAGS);
    assert_int_equal(
        bsg_mvgrl_features(&d, &o, BSG_MVGRL_FEAT_COUNT, msg, sizeof msg),
        BST_ERR_INVAL);
    bsg_mvgrl_ops_free(&o);
    bst_tu_free(&d);
}

/* The model with two-hot features: the gradients against central
   differences, and the second 1 of each row reaches the loss (dropping
   o.feat2 changes it). */
static void test_model_grad_tags_degree(void **state)
{
    (void)state;
    const int64_t ids[3] = {4, 0, 2};
    check_model_feat(4, 2, ids, 3, BSG_MVGRL_FEAT_TAGS_DEGREE);
    fixture f;
    fixture_init_feat(&f, 4, 2, BSG_MVGRL_FEAT_TAGS_DEGREE);
    double with = model_loss(&f, ids, 3, 0);
    int32_t *keep = f.ops.feat2;
    f.ops.feat2 = NULL;
    double without = model_loss(&f, ids, 3, 0);
    f.ops.feat2 = keep;
    assert_true(fabs(with - without) > 1e-6);
    assert_true(model_loss(&f, ids, 3, 0) == with);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsd_value),
        cmocka_unit_test(test_jsd_grad),
        cmocka_unit_test(test_model_grad),
        cmocka_unit_test(test_model_grad_deeper),
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_model_grad_tags_degree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
