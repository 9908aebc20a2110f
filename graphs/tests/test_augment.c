/* test_augment.c — GraphCL's views (graphs/augment.h) against the rules of
   the released reference on small hand-built graphs whose node tags are
   their ids (so a view's one-hot rows say which original nodes survived):
   the reference's self loops, dnodes (the induced subgraph on the
   floor(n/10) drawn nodes), subgraph (s and sampled neighbours REMOVED;
   the neighbour set never grows), pedges (E - floor(E/10) entries kept,
   loops kept, no node removed), mask_nodes (floor(n/10) noise rows),
   random2/3/4 (which augmentations they draw, the clean-up keyed on the
   argument), renumbering, empty graphs; determinism by (seed, step, id);
   the --features kinds. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "augment.h"
#include "engine.h"

enum { G_K25, G_P20, G_K10, G_STAR10, G_K5, G_K6, G_P9, G_COUNT };
static const int NODES[G_COUNT] = {25, 20, 10, 10, 5, 6, 9};

static int linked(int g, int u, int v)
{
    if (u == v)
        return 0;
    switch (g) {
    case G_P20:
    case G_P9: return abs(u - v) == 1;
    case G_STAR10: return u == 0 || v == 0;
    default: return 1; /* complete graphs */
    }
}

/* the data set: graph g with tags = node ids (K25 first: tags 0..24) */
static bst_tu load(void)
{
    char *text = malloc(1 << 16);
    size_t at = 0;
    at += (size_t)sprintf(text + at, "%d\n", G_COUNT);
    for (int g = 0; g < G_COUNT; g++) {
        at += (size_t)sprintf(text + at, "%d %d\n", NODES[g], g % 2);
        for (int v = 0; v < NODES[g]; v++) {
            int deg = 0;
            for (int u = 0; u < NODES[g]; u++)
                deg += linked(g, u, v);
            at += (size_t)sprintf(text + at, "%d %d", v, deg);
            for (int u = 0; u < NODES[g]; u++)
                if (linked(g, u, v))
                    at += (size_t)sprintf(text + at, " %d", u);
            text[at++] = '\n';
        }
    }
    bst_tu d;
    char msg[256];
    assert_int_equal(bst_tu_parse(text, at, "aug", &d, msg, sizeof msg), 0);
    assert_int_equal(d.feat, 25);
    free(text);
    return d;
}

/* One graph of a view in original ids: nodes (< 0: a noise row), entries
   src -> dst. */
typedef struct {
    int n, e, masked;
    int id[32];
    int src[700], dst[700];
} gview;

static gview decode(const bst_gbatch *b, int i)
{
    gview o;
    memset(&o, 0, sizeof o);
    int64_t v0 = b->node_off[i], v1 = b->node_off[i + 1];
    o.n = (int)(v1 - v0);
    for (int64_t v = v0; v < v1; v++) {
        const float *x = b->x + (size_t)v * b->feat;
        int hot = -1, ones = 0, zeros = 0;
        for (int c = 0; c < b->feat; c++) {
            if (x[c] == 1)
                ones++, hot = c;
            else if (x[c] == 0)
                zeros++;
        }
        int onehot = ones == 1 && zeros == b->feat - 1;
        o.id[v - v0] = onehot ? hot : -100 - (int)(v - v0); /* distinct */
        o.masked += !onehot;
    }
    for (int64_t v = v0; v < v1; v++)
        for (int64_t k = b->adj_off[v]; k < b->adj_off[v + 1]; k++) {
            assert_true(b->adj[k] >= v0 && b->adj[k] < v1);
            o.src[o.e] = o.id[b->adj[k] - v0];
            o.dst[o.e++] = o.id[v - v0];
        }
    return o;
}

static int loops(const gview *o)
{
    int c = 0;
    for (int k = 0; k < o->e; k++)
        c += o->src[k] == o->dst[k];
    return c;
}

/* graph g alone, kind, (seed 7, step) */
static gview one(const bst_tu *d, bst_gbatch *b, int g, bsg_aug_kind kind,
                 int64_t step)
{
    int64_t id = g;
    char msg[256];
    assert_int_equal(
        bsg_view_build(b, d, &id, 1, kind, 7, step, msg, sizeof msg), BST_OK);
    assert_int_equal(b->graphs, 1);
    return decode(b, 0);
}

/* nodes ascending (renumbering keeps the order), every entry an edge of
   the graph between listed nodes */
static void check_sub(int g, const gview *o, int loops_ok)
{
    for (int v = 1; v < o->n; v++)
        if (o->id[v] >= 0 && o->id[v - 1] >= 0)
            assert_true(o->id[v - 1] < o->id[v]);
    for (int k = 0; k < o->e; k++) {
        int u = o->src[k], v = o->dst[k];
        if (u == v)
            assert_true(loops_ok && u < NODES[g] - 1); /* noise rows too */
        else if (u >= 0 && v >= 0)
            assert_true(linked(g, u, v));
    }
}

static void test_none(void **state)
{
    (void)state;
    bst_tu d = load();
    bst_gbatch b = {0};
    for (int g = 0; g < G_COUNT; g++) {
        gview o = one(&d, &b, g, BSG_AUG_NONE, 0);
        int n = NODES[g], und = 0;
        for (int u = 0; u < n; u++)
            for (int v = 0; v < n; v++)
                und += linked(g, u, v);
        assert_int_equal(o.n, n);
        assert_int_equal(o.masked, 0);
        /* loops on 0 .. max-1: the last node (max = n-1 here) has none */
        assert_int_equal(o.e, und + n - 1);
        assert_int_equal(loops(&o), n - 1);
        for (int k = 0; k < o.e; k++)
            assert_false(o.src[k] == n - 1 && o.dst[k] == n - 1);
        check_sub(g, &o, 1);
    }
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

static void test_dnodes(void **state)
{
    (void)state;
    bst_tu d = load();
    bst_gbatch b = {0};
    int k10_empty = 0, p20_adjacent = 0, p20_one = 0;
    for (int64_t s = 0; s < 300; s++) {
        /* K25: the 2 drawn nodes, linked both ways, loops removed */
        gview o = one(&d, &b, G_K25, BSG_AUG_DNODES, s);
        assert_int_equal(o.n, 2);
        assert_int_equal(o.e, 2);
        assert_int_equal(loops(&o), 0);
        check_sub(G_K25, &o, 0);
        /* K10: 1 drawn node, only its loop survives -> kept, loop gone;
           node 9 has no loop -> nothing left */
        o = one(&d, &b, G_K10, BSG_AUG_DNODES, s);
        assert_int_equal(o.e, 0);
        assert_true(o.n <= 1);
        if (o.n == 1)
            assert_int_not_equal(o.id[0], 9);
        k10_empty += o.n == 0;
        /* P20: 2 drawn nodes; an edge survives only between neighbours */
        o = one(&d, &b, G_P20, BSG_AUG_DNODES, s);
        check_sub(G_P20, &o, 0);
        assert_true(o.n <= 2);
        if (o.n == 2 && abs(o.id[0] - o.id[1]) == 1) {
            assert_int_equal(o.e, 2);
            p20_adjacent++;
        } else {
            assert_int_equal(o.e, 0);
            for (int v = 0; v < o.n; v++)
                assert_int_not_equal(o.id[v], 19); /* no loop, no edge */
        }
        p20_one += o.n == 1;
        /* n < 10: nothing drawn, no entry, no node */
        o = one(&d, &b, G_P9, BSG_AUG_DNODES, s);
        assert_int_equal(o.n, 0);
        assert_int_equal(o.e, 0);
    }
    assert_true(k10_empty > 10 && k10_empty < 60);      /* ~ 1/10 of 300 */
    assert_true(p20_adjacent > 5 && p20_adjacent < 80); /* ~ 1/10 */
    assert_true(p20_one > 0);
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

static void test_subgraph(void **state)
{
    (void)state;
    bst_tu d = load();
    bst_gbatch b = {0};
    int k10_seven = 0;
    for (int64_t s = 0; s < 300; s++) {
        /* K10: sub = 2, S = s + 2 neighbours removed: K7 without loops */
        gview o = one(&d, &b, G_K10, BSG_AUG_SUBGRAPH, s);
        assert_true(o.n >= 7 && o.n <= 9);
        assert_int_equal(o.e, o.n * (o.n - 1));
        assert_int_equal(loops(&o), 0);
        check_sub(G_K10, &o, 0);
        k10_seven += o.n == 7;
        /* K5: sub = 1, S = 2 nodes: K3 */
        o = one(&d, &b, G_K5, BSG_AUG_SUBGRAPH, s);
        assert_true(o.n == 3 || o.n == 4);
        assert_int_equal(o.e, o.n * (o.n - 1));
        /* star: the centre is in S or a neighbour of every s, so it never
           survives; the leaves left are isolated (their loops removed),
           leaf 9 (no loop) never */
        o = one(&d, &b, G_STAR10, BSG_AUG_SUBGRAPH, s);
        assert_int_equal(o.e, 0);
        assert_true(o.n >= 6 && o.n <= 8);
        for (int v = 0; v < o.n; v++)
            assert_true(o.id[v] != 0 && o.id[v] != 9);
        /* P20: sub = 4, but S holds s and at most its 2 path neighbours
           (the neighbour set never grows): the ids missing, 19 aside, are
           at most 3 consecutive ones */
        o = one(&d, &b, G_P20, BSG_AUG_SUBGRAPH, s);
        check_sub(G_P20, &o, 0);
        assert_int_equal(loops(&o), 0);
        int present[20] = {0}, lo = 99, hi = -1, gone = 0;
        for (int v = 0; v < o.n; v++)
            present[o.id[v]] = 1;
        for (int v = 0; v < 19; v++)
            if (!present[v]) {
                gone++;
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        assert_true(gone >= 1 && gone <= 3);
        assert_int_equal(hi - lo + 1, gone);
        /* 19 survives exactly when 18 does (its only entry) */
        assert_int_equal(present[19], present[18]);
    }
    assert_true(k10_seven > 280);
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

static void test_pedges(void **state)
{
    (void)state;
    bst_tu d = load();
    bst_gbatch b = {0};
    int loops_seen = 0;
    for (int64_t s = 0; s < 100; s++) {
        /* K6: E = 30 + 5 loops = 35, floor(35/10) = 3 removed */
        gview o = one(&d, &b, G_K6, BSG_AUG_PEDGES, s);
        assert_int_equal(o.n, 6); /* no clean-up: every node stays */
        assert_int_equal(o.e, 32);
        check_sub(G_K6, &o, 1);
        loops_seen += loops(&o);
        for (int i = 0; i < o.e; i++) /* no entry twice, none added */
            for (int j = i + 1; j < o.e; j++)
                assert_false(o.src[i] == o.src[j] && o.dst[i] == o.dst[j]);
        /* P20: E = 38 + 19 = 57, 5 removed */
        o = one(&d, &b, G_P20, BSG_AUG_PEDGES, s);
        assert_int_equal(o.n, 20);
        assert_int_equal(o.e, 52);
        check_sub(G_P20, &o, 1);
    }
    assert_true(loops_seen > 400); /* loops stay (~4.6 of 5 per view) */
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

static void test_mask(void **state)
{
    (void)state;
    bst_tu d = load();
    bst_gbatch b = {0};
    double sum = 0, sq = 0;
    int cnt = 0;
    for (int64_t s = 0; s < 200; s++) {
        gview o = one(&d, &b, G_P20, BSG_AUG_MASK, s);
        assert_int_equal(o.n, 20);
        assert_int_equal(o.masked, 2); /* floor(20/10) */
        assert_int_equal(o.e, 57);     /* entries and loops untouched */
        assert_int_equal(loops(&o), 19);
        for (int v = 0; v < o.n; v++)
            if (o.id[v] < 0)
                for (int c = 0; c < b.feat; c++) {
                    double x = b.x[(size_t)v * b.feat + c];
                    sum += x, sq += x * x, cnt++;
                }
        o = one(&d, &b, G_P9, BSG_AUG_MASK, s);
        assert_int_equal(o.masked, 0); /* floor(9/10) */
    }
    double mean = sum / cnt, sd = sqrt(sq / cnt - mean * mean);
    assert_true(fabs(mean - 0.5) < 0.02 && fabs(sd - 0.5) < 0.02);
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

/* K25 under randomK: dnodes -> 2 nodes; subgraph (sub 5, S 6) -> 19
   nodes; pedges -> 25 nodes, < 600 entries; mask -> 25 nodes, 600
   entries, 2 noise rows; the clean-up (no loops) after every one */
static void random_counts(bsg_aug_kind kind, int steps, int count[4])
{
    bst_tu d = load();
    bst_gbatch b = {0};
    memset(count, 0, 4 * sizeof(int));
    for (int64_t s = 0; s < steps; s++) {
        gview o = one(&d, &b, G_K25, kind, s);
        assert_int_equal(loops(&o), 0);
        if (o.n == 2)
            count[0]++;
        else if (o.n == 19 && o.e == 19 * 18)
            count[2]++;
        else if (o.n == 25 && o.masked == 0 && o.e < 600)
            count[1]++;
        else if (o.n == 25 && o.masked == 2 && o.e == 600)
            count[3]++;
        else
            fail_msg("unexpected view: %d nodes, %d entries", o.n, o.e);
    }
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

static void test_random(void **state)
{
    (void)state;
    int c[4];
    random_counts(BSG_AUG_RANDOM2, 400, c); /* dnodes, subgraph */
    assert_true(c[0] > 150 && c[2] > 150 && c[1] == 0 && c[3] == 0);
    random_counts(BSG_AUG_RANDOM3, 600, c); /* + pedges */
    for (int i = 0; i < 3; i++)
        assert_true(c[i] > 150);
    assert_int_equal(c[3], 0);
    random_counts(BSG_AUG_RANDOM4, 800, c); /* + mask_nodes */
    for (int i = 0; i < 4; i++)
        assert_true(c[i] > 150);
}

/* a graph's view depends on (seed, step, id) only */
static void test_determinism(void **state)
{
    (void)state;
    bst_tu d = load();
    bst_gbatch a = {0}, b = {0};
    char msg[256];
    const int64_t ids1[] = {G_K25, G_P20, G_K10, G_P9}, ids2[] = {G_K10, G_K25};
    for (int kind = BSG_AUG_DNODES; kind < BSG_AUG_COUNT; kind++) {
        assert_int_equal(
            bsg_view_build(&a, &d, ids1, 4, kind, 3, 5, msg, sizeof msg), 0);
        assert_int_equal(
            bsg_view_build(&b, &d, ids2, 2, kind, 3, 5, msg, sizeof msg), 0);
        gview x = decode(&a, 0), y = decode(&b, 1), z;
        assert_memory_equal(&x, &y, sizeof x);
        x = decode(&a, 2), y = decode(&b, 0);
        assert_memory_equal(&x, &y, sizeof x);
        /* another step or seed: another view (K25, some of 20 steps) */
        int differ = 0;
        for (int64_t s = 6; s < 26; s++) {
            z = one(&d, &b, G_K25, kind, s);
            x = decode(&a, 0);
            differ += memcmp(&x, &z, sizeof x) != 0;
        }
        assert_true(differ > 0);
    }
    assert_int_equal(
        bsg_view_build(&a, &d, ids1, 4, BSG_AUG_NONE, 0, 0, msg, sizeof msg),
        0);
    /* the empty graph keeps its slot */
    assert_int_equal(
        bsg_view_build(&a, &d, ids1, 4, BSG_AUG_DNODES, 1, 1, msg, sizeof msg),
        0);
    assert_int_equal(a.graphs, 4);
    assert_int_equal(a.node_off[4] - a.node_off[3], 0);
    assert_int_equal(a.adj_off[a.nodes], a.edges);
    /* errors */
    const int64_t bad = G_COUNT;
    assert_int_equal(
        bsg_view_build(&a, &d, &bad, 1, BSG_AUG_NONE, 0, 0, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_non_null(strstr(msg, "outside"));
    assert_int_equal(
        bsg_view_build(&a, &d, ids1, 1, BSG_AUG_COUNT, 0, 0, msg, sizeof msg),
        BST_ERR_INVAL);
    bsg_aug_kind k;
    assert_int_equal(bsg_aug_parse("random3", &k), 0);
    assert_int_equal(k, BSG_AUG_RANDOM3);
    assert_int_equal(bsg_aug_parse("rotate", &k), -1);
    bst_gbatch_free(&a);
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

static void test_features(void **state)
{
    (void)state;
    char msg[256];
    bsg_feat_kind k;
    assert_int_equal(bsg_feat_parse("constant", &k), 0);
    assert_int_equal(k, BSG_FEAT_CONSTANT);
    assert_int_equal(bsg_feat_parse("onehot", &k), -1);
    assert_string_equal(bsg_feat_name(BSG_FEAT_AUTO), "auto");
    /* tagged: auto and tags keep the tags; degree; constant */
    bst_tu d = load();
    assert_int_equal(bsg_features_apply(&d, BSG_FEAT_AUTO, msg, sizeof msg), 0);
    assert_int_equal(d.feat, 25);
    assert_int_equal(d.feat_idx[3], 3);
    assert_int_equal(bsg_features_apply(&d, BSG_FEAT_TAGS, msg, sizeof msg), 0);
    assert_int_equal(d.feat, 25);
    assert_int_equal(bsg_features_apply(&d, BSG_FEAT_DEGREE, msg, sizeof msg),
                     0);
    assert_int_equal(d.feat, 25); /* K25: degree 24 */
    assert_int_equal(d.degree_features, 1);
    assert_int_equal(d.feat_idx[0], 24);
    assert_int_equal(d.feat_idx[d.node_off[G_P20]], 1);
    assert_int_equal(d.feat_idx[d.node_off[G_P20] + 1], 2);
    assert_int_equal(bsg_features_apply(&d, BSG_FEAT_CONSTANT, msg, sizeof msg),
                     0);
    assert_int_equal(d.feat, 1);
    for (int64_t v = 0; v < d.nodes; v++)
        assert_int_equal(d.feat_idx[v], 0);
    bst_tu_free(&d);
    /* tag-less (one tag): the reader gives degrees; auto -> constant */
    static const char one_tag[] = "2\n3 0\n5 2 1 2\n5 2 0 2\n5 2 0 1\n"
                                  "2 1\n5 1 1\n5 1 0\n";
    assert_int_equal(
        bst_tu_parse(one_tag, strlen(one_tag), "t", &d, msg, sizeof msg), 0);
    assert_int_equal(d.degree_features, 1);
    assert_int_equal(bsg_features_apply(&d, BSG_FEAT_DEGREE, msg, sizeof msg),
                     0);
    assert_int_equal(d.feat, 3);
    assert_int_equal(bsg_features_apply(&d, BSG_FEAT_AUTO, msg, sizeof msg), 0);
    assert_int_equal(d.feat, 1);
    assert_int_equal(d.degree_features, 0);
    bst_gbatch b = {0};
    int64_t id = 0;
    assert_int_equal(
        bsg_view_build(&b, &d, &id, 1, BSG_AUG_NONE, 0, 0, msg, sizeof msg), 0);
    for (int v = 0; v < 3; v++)
        assert_true(b.x[v] == 1.0f);
    assert_int_equal(bsg_features_apply(&d, BSG_FEAT_COUNT, msg, sizeof msg),
                     BST_ERR_INVAL);
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none),        cmocka_unit_test(test_dnodes),
        cmocka_unit_test(test_subgraph),    cmocka_unit_test(test_pedges),
        cmocka_unit_test(test_mask),        cmocka_unit_test(test_random),
        cmocka_unit_test(test_determinism), cmocka_unit_test(test_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
