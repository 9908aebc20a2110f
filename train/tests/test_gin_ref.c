/* test_gin_ref.c — GraphCL's model (3-layer GIN encoder of gin.h + the
   Linear-ReLU-Linear head) and loss_cal, two views forward and backward,
   against its PyTorch twin (tests/ref_torch_gin.py, run once; fixture
   tests/fixtures/gin_ref.bin): pooled embeddings, head outputs, the loss,
   all 22 parameter gradients, the batch norms' running statistics after
   both views. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "gin.h"

enum { IN = 4, DIM = 5, L = 3, E = DIM * L, NP = 6 * L + 4 };
#define RTOL 1e-5

static void expect_close(const fixture *fx, const char *name, const float *got,
                         size_t n)
{
    float *ref = fx_get(fx, name, n);
    double maxref = 0.0, maxerr = 0.0;
    for (size_t i = 0; i < n; i++) {
        maxref = fmax(maxref, fabs(ref[i]));
        maxerr = fmax(maxerr, fabs((double)got[i] - ref[i]));
    }
    if (getenv("BST_VERBOSE"))
        printf("%-6s n=%-4zu max|ref| %.3g  max err %.3g\n", name, n, maxref,
               maxerr);
    if (maxerr > RTOL * maxref + 1e-7)
        fail_msg("%s: max error %.3g > %.3g (max |ref| %.3g)", name, maxerr,
                 RTOL * maxref + 1e-7, maxref);
    free(ref);
}

/* the fixture's record count for `name` */
static uint32_t fx_count(const fixture *fx, const char *name)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->rec[i].name, name) == 0)
            return fx->rec[i].count;
    fail_msg("fixture has no record %s", name);
    return 0;
}

typedef struct {
    bst_gbatch g;
    float *x;
    bst_gin_enc_acts a;
    float h[8 * E], z[8 * E], dz[8 * E], dh[8 * E], demb[8 * E];
} view;

static void load_view(const fixture *fx, int v, view *w)
{
    char name[16];
    memset(w, 0, sizeof *w);
    snprintf(name, sizeof name, "off%d", v);
    uint32_t no = fx_count(fx, name);
    float *off = fx_get(fx, name, no);
    w->g.graphs = no - 1;
    w->g.node_off = malloc(sizeof(int64_t) * no);
    for (uint32_t i = 0; i < no; i++)
        w->g.node_off[i] = (int64_t)off[i];
    w->g.nodes = w->g.node_off[no - 1];
    snprintf(name, sizeof name, "aoff%d", v);
    float *aoff = fx_get(fx, name, (size_t)w->g.nodes + 1);
    w->g.adj_off = malloc(sizeof(int64_t) * ((size_t)w->g.nodes + 1));
    for (int64_t i = 0; i <= w->g.nodes; i++)
        w->g.adj_off[i] = (int64_t)aoff[i];
    w->g.edges = w->g.adj_off[w->g.nodes];
    snprintf(name, sizeof name, "adj%d", v);
    float *adj = fx_get(fx, name, (size_t)w->g.edges);
    w->g.adj = malloc(sizeof(int32_t) * (size_t)w->g.edges);
    for (int64_t i = 0; i < w->g.edges; i++)
        w->g.adj[i] = (int32_t)adj[i];
    w->g.feat = IN;
    snprintf(name, sizeof name, "x%d", v);
    w->x = fx_get(fx, name, (size_t)w->g.nodes * IN);
    assert_true(w->g.graphs <= 8);
    free(off), free(aoff), free(adj);
}

static void free_view(view *w)
{
    free(w->g.node_off), free(w->g.adj_off), free(w->g.adj), free(w->x);
    bst_gin_enc_acts_free(&w->a);
}

static void forward(bst_gin_encoder *e, bst_linear *h1, bst_linear *h2, view *w)
{
    int G = (int)w->g.graphs;
    assert_int_equal(bst_gin_encoder_forward(e, &w->g, w->x, &w->a, 1), BST_OK);
    bst_linear_forward(h1, w->a.emb, w->h, G);
    bst_relu_forward(w->h, w->h, (size_t)G * E);
    bst_linear_forward(h2, w->h, w->z, G);
}

static void backward(bst_gin_encoder *e, bst_linear *h1, bst_linear *h2,
                     view *w)
{
    int G = (int)w->g.graphs;
    bst_linear_backward(h2, w->h, w->dz, w->dh, G);
    bst_relu_backward(w->h, w->dh, w->dh, (size_t)G * E);
    bst_linear_backward(h1, w->a.emb, w->dh, w->demb, G);
    bst_gin_encoder_backward(e, &w->g, w->x, &w->a, w->demb, 1);
}

static void test_against_torch(void **state)
{
    (void)state;
    fixture fx;
    char path[4096], name[16];
    snprintf(path, sizeof path, "%s/gin_ref.bin", BST_FIXTURE_DIR);
    fixture_load(&fx, path);
    bst_gin_encoder e;
    bst_linear h1, h2;
    assert_int_equal(bst_gin_encoder_init(&e, IN, DIM, L), BST_OK);
    assert_int_equal(bst_linear_init(&h1, E, E, 1), BST_OK);
    assert_int_equal(bst_linear_init(&h2, E, E, 1), BST_OK);
    bst_param ps[NP];
    int np = bst_gin_encoder_params(&e, ps);
    np += bst_linear_params(&h1, ps + np);
    np += bst_linear_params(&h2, ps + np);
    assert_int_equal(np, NP);
    for (int i = 0; i < NP; i++) {
        snprintf(name, sizeof name, "p%d", i);
        float *v = fx_get(&fx, name, ps[i].n);
        memcpy(ps[i].w, v, sizeof(float) * ps[i].n);
        free(v);
    }
    bst_zero_grads(ps, NP);
    view *v1 = malloc(sizeof *v1), *v2 = malloc(sizeof *v2);
    load_view(&fx, 1, v1);
    load_view(&fx, 2, v2);
    assert_int_equal(v1->g.graphs, v2->g.graphs);
    int G = (int)v1->g.graphs;
    forward(&e, &h1, &h2, v1);
    forward(&e, &h1, &h2, v2);
    double loss;
    assert_int_equal(
        bst_graphcl_loss(v1->z, v2->z, G, E, 0.2, &loss, v1->dz, v2->dz),
        BST_OK);
    backward(&e, &h1, &h2, v1);
    backward(&e, &h1, &h2, v2);
    expect_close(&fx, "emb1", v1->a.emb, (size_t)G * E);
    expect_close(&fx, "emb2", v2->a.emb, (size_t)G * E);
    expect_close(&fx, "z1", v1->z, (size_t)G * E);
    expect_close(&fx, "z2", v2->z, (size_t)G * E);
    float lf = (float)loss;
    expect_close(&fx, "loss", &lf, 1);
    for (int i = 0; i < NP; i++) {
        snprintf(name, sizeof name, "g%d", i);
        expect_close(&fx, name, ps[i].g, ps[i].n);
    }
    for (int j = 0; j < L; j++) {
        snprintf(name, sizeof name, "rm%d", j);
        expect_close(&fx, name, e.l[j].bn.running_mean, DIM);
        snprintf(name, sizeof name, "rv%d", j);
        expect_close(&fx, name, e.l[j].bn.running_var, DIM);
    }
    free_view(v1), free_view(v2);
    free(v1), free(v2);
    bst_linear_free(&h1), bst_linear_free(&h2);
    bst_gin_encoder_free(&e);
    free(fx.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
