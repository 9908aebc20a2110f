/* test_tu.c — the TU reader (data/tu.h) on hand-written texts and folders
   written here: every field of a small data set, tag and capped-degree
   features, label mapping, attributes, every rejection with its one-line
   message; the 10-fold split files; the six shipped data sets when
   ../shared/data/tu is there (counts, load time).  Then the graph batch
   (train/gbatch.h): gather, one-hot rows, reuse, rejections. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "gbatch.h"
#include "tu.h"

/* Two graphs: a triangle with tags 3,3,7 and label 5; a path 0-1 with tags
   7,9 and label -1 (classes: -1 -> 0, 5 -> 1; tags 3,7,9 -> 0,1,2). */
static const char small[] = "2\n"
                            "3 5\n"
                            "3 2 1 2\n"
                            "3 2 0 2\n"
                            "7 2 0 1\n"
                            "2 -1\n"
                            "7 1 1\n"
                            "9 1 0\n";

static int parse(const char *text, bst_tu *d, char *msg, size_t cap)
{
    return bst_tu_parse(text, strlen(text), "t.txt", d, msg, cap);
}

static void test_small(void **state)
{
    (void)state;
    bst_tu d;
    char msg[256] = "";
    assert_int_equal(parse(small, &d, msg, sizeof msg), BST_OK);
    assert_string_equal(d.name, "t.txt");
    assert_int_equal(d.graphs, 2);
    assert_int_equal(d.nodes, 5);
    assert_int_equal(d.edges, 8);
    const int64_t node_off[] = {0, 3, 5}, adj_off[] = {0, 2, 4, 6, 7, 8};
    const int32_t adj[] = {1, 2, 0, 2, 0, 1, 1, 0}, feat[] = {0, 0, 1, 1, 2};
    assert_memory_equal(d.node_off, node_off, sizeof node_off);
    assert_memory_equal(d.adj_off, adj_off, sizeof adj_off);
    assert_memory_equal(d.adj, adj, sizeof adj);
    assert_memory_equal(d.feat_idx, feat, sizeof feat);
    assert_int_equal(d.feat, 3);
    assert_int_equal(d.degree_features, 0);
    assert_int_equal(d.classes, 2);
    assert_int_equal(d.label[0], 1);
    assert_int_equal(d.label[1], 0);
    assert_null(d.fold);
    bst_tu_free(&d);
    assert_null(d.adj);
    bst_tu_free(&d); /* twice is safe */
}

/* One tag everywhere: degrees; CRLF, blank lines, attributes accepted. */
static void test_degree_features(void **state)
{
    (void)state;
    const char *text = "2\r\n\r\n3 0\r\n0 1 1 0.5 -2e3\r\n0 2 0 2\r\n0 1 1\r\n"
                       "1 1\n0 0\n\n";
    bst_tu d;
    char msg[256] = "";
    assert_int_equal(parse(text, &d, msg, sizeof msg), BST_OK);
    assert_int_equal(d.degree_features, 1);
    assert_int_equal(d.feat, 3); /* degrees 0..2 */
    const int32_t feat[] = {1, 2, 1, 0};
    assert_memory_equal(d.feat_idx, feat, sizeof feat);
    bst_tu_free(&d);
}

/* A star with 70 leaves: the centre's degree shares the capped slot. */
static void test_degree_cap(void **state)
{
    (void)state;
    enum { LEAVES = 70 };
    char *text = malloc(16384);
    assert_non_null(text);
    int at = sprintf(text, "2\n%d 0\n0 %d", LEAVES + 1, LEAVES);
    for (int i = 1; i <= LEAVES; i++)
        at += sprintf(text + at, " %d", i);
    at += sprintf(text + at, "\n");
    for (int i = 1; i <= LEAVES; i++)
        at += sprintf(text + at, "0 1 0\n");
    sprintf(text + at, "1 1\n0 0\n");
    bst_tu d;
    assert_int_equal(parse(text, &d, NULL, 0), BST_OK);
    assert_int_equal(d.feat, BST_TU_DEGREE_CAP + 1);
    assert_int_equal(d.feat_idx[0], BST_TU_DEGREE_CAP);
    assert_int_equal(d.feat_idx[1], 1);
    assert_int_equal(d.feat_idx[LEAVES + 1], 0);
    bst_tu_free(&d);
    free(text);
}

/* Every malformed text is BST_ERR_FORMAT with a one-line message holding
   `want`, and leaves *out zeroed. */
static void expect_reject(const char *text, size_t len, const char *want)
{
    bst_tu d;
    char msg[512] = "";
    memset(&d, 0x5a, sizeof d);
    int rc = bst_tu_parse(text, len, "t.txt", &d, msg, sizeof msg);
    if (rc != BST_ERR_FORMAT || !strstr(msg, want))
        fail_msg("text %.40s: rc %d, message '%s', expected '%s'", text, rc,
                 msg, want);
    assert_null(strchr(msg, '\n'));
    assert_null(d.node_off);
    assert_null(d.label);
    assert_int_equal(d.graphs, 0);
}

static void test_rejections(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "empty"},
        {"  \n\n", "empty"},
        {"0\n", "number of graphs"},
        {"-3\n", "number of graphs"},
        {"x\n", "number of graphs"},
        {"2 3\n", "number of graphs"},
        {"99999999999999999999\n", "number of graphs"},
        {"1\n", "ends before graph 0"},
        {"2\n1 0\n0 0\n", "ends before graph 1"},
        {"1\n0 0\n", "n in 1.."},
        {"1\n1\n0 0\n", "expected `n label`"},
        {"1\n1 0 7\n0 0\n", "expected `n label`"},
        {"1\n1 a\n0 0\n", "expected `n label`"},
        {"1\n3000000000 0\n0 0\n", "n in 1.."},
        {"1\n50 0\n0 0\n", "too short"},
        {"1\n2 0\n0 1 1\n", "ends in graph 0 at node 1"},
        {"1\n2 0\n0 -1\n0 0\n", "tag m"},
        {"1\n2 0\n0\n0 0\n", "tag m"},
        {"1\n2 0\n0 2 1\n0 1 0\n", "tag m"},
        {"1\n2 0\n0 1 2\n0 0\n", "in [0, 2)"},
        {"1\n2 0\n0 1 -1\n0 0\n", "in [0, 2)"},
        {"1\n2 0\n0 1 0\n0 0\n", "other than 0"},
        {"1\n2 0\n0 1 1x\n0 1 0\n", "neighbour 1 of 1"},
        {"1\n2 0\n0 1 1 abc\n0 1 0\n", "attributes"},
        {"1\n3 0\n0 2 1 1\n0 1 0\n0 0\n", "listed twice"},
        {"1\n3 0\n0 1 1\n0 1 2\n0 1 1\n", "symmetric"},
        {"1\n2 0\n0 1 1\n0 0\n", "symmetric"},
        {"2\n1 4\n0 0\n1 4\n1 0\n", "two classes"},
        {"2\n1 0\n0 0\n1 1\n0 0\n1 1\n0 0\n", "text after the 2 graphs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_reject(cases[i].text, strlen(cases[i].text), cases[i].want);
    /* not NUL-terminated: the scanner stops at len */
    expect_reject("1\n1 0\n0 0\n", 4, "expected `n label`");
    expect_reject("1\n1 0\n0 0\n", 2, "ends before graph 0");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    bst_tu d;
    char msg[128] = "";
    assert_int_equal(
        bst_tu_parse(small, sizeof small, "t", NULL, msg, sizeof msg),
        BST_ERR_INVAL);
    assert_int_equal(bst_tu_parse(NULL, 5, "t", &d, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_int_equal(bst_tu_load(NULL, &d, msg, sizeof msg), BST_ERR_INVAL);
    assert_int_equal(bst_tu_load("x", NULL, msg, sizeof msg), BST_ERR_INVAL);
    /* no message buffer: codes only */
    assert_int_equal(bst_tu_parse("0", 1, "t", &d, NULL, 0), BST_ERR_FORMAT);
}

/* ------------------------------------------------------------- folders */

typedef struct {
    char root[256], dir[300]; /* root/SET */
} tmp_set;

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup_set(void **state)
{
    tmp_set *t = calloc(1, sizeof *t);
    const char *base = getenv("BS_TEST_TMPDIR");
    if (!t)
        return -1;
    snprintf(t->root, sizeof t->root, "%s/bst_tu_XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(t->root)) {
        free(t);
        return -1;
    }
    snprintf(t->dir, sizeof t->dir, "%s/SET", t->root);
    if (mkdir(t->dir, 0700) != 0) {
        rmdir(t->root);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown_set(void **state)
{
    tmp_set *t = *state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->root);
    int rc = system(cmd);
    free(t);
    return rc == 0 ? 0 : -1;
}

static void write_folds(const tmp_set *t, int empty);

/* 12 graphs of one node (tag = label = g % 2) and the 10 test splits:
   split k holds graph k, split 0 also 10 and split 1 also 11. */
static void write_set(const tmp_set *t)
{
    char path[400], text[512];
    int at = sprintf(text, "12\n");
    for (int g = 0; g < 12; g++)
        at += sprintf(text + at, "1 %d\n%d 0\n", g % 2, g % 2);
    snprintf(path, sizeof path, "%s/SET.txt", t->dir);
    put(path, text);
    snprintf(path, sizeof path, "%s/10fold_idx", t->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    write_folds(t, 0);
}

/* The split files of write_set, or all empty. */
static void write_folds(const tmp_set *t, int empty)
{
    char path[400], text[64];
    for (int k = 0; k < 10; k++) {
        snprintf(path, sizeof path, "%s/10fold_idx/test_idx-%d.txt", t->dir,
                 k + 1);
        if (empty)
            snprintf(text, sizeof text, "\n");
        else if (k < 2)
            snprintf(text, sizeof text, "%d\n%d\n", k, k + 10);
        else
            snprintf(text, sizeof text, "%d\n", k);
        put(path, text);
    }
}

static void test_load_folds(void **state)
{
    tmp_set *t = *state;
    write_set(t);
    bst_tu d;
    char msg[512] = "", dir[320];
    snprintf(dir, sizeof dir, "%s//", t->dir); /* trailing slashes */
    assert_int_equal(bst_tu_load(dir, &d, msg, sizeof msg), BST_OK);
    assert_string_equal(d.name, "SET");
    assert_int_equal(d.graphs, 12);
    assert_non_null(d.fold);
    for (int g = 0; g < 12; g++)
        assert_int_equal(d.fold[g], g < 10 ? g : g - 10);
    assert_int_equal(d.degree_features, 0);
    bst_tu_free(&d);
}

/* Loading t->dir fails with code and a message holding want. */
static void expect_load_fail(const tmp_set *t, int code, const char *want)
{
    bst_tu d;
    char msg[1024] = "";
    int rc = bst_tu_load(t->dir, &d, msg, sizeof msg);
    if (rc != code || !strstr(msg, want))
        fail_msg("rc %d, message '%s', expected %d '%s'", rc, msg, code, want);
    assert_null(strchr(msg, '\n'));
    assert_null(d.node_off);
    assert_null(d.fold);
}

static void test_load_rejections(void **state)
{
    tmp_set *t = *state;
    char path[400];
    expect_load_fail(t, BST_ERR_IO, "SET.txt"); /* no NAME.txt */
    write_set(t);
    snprintf(path, sizeof path, "%s/10fold_idx/test_idx-3.txt", t->dir);
    put(path, "2\n2\n");
    expect_load_fail(t, BST_ERR_FORMAT, "already in test split 3");
    put(path, "12\n");
    expect_load_fail(t, BST_ERR_FORMAT, "in [0, 12)");
    put(path, "two\n");
    expect_load_fail(t, BST_ERR_FORMAT, "in [0, 12)");
    put(path, "\n"); /* one graph in no split: allowed (fold -1) */
    bst_tu ok;
    char okmsg[512];
    assert_int_equal(bst_tu_load(t->dir, &ok, okmsg, sizeof okmsg), BST_OK);
    assert_int_equal(ok.fold[2], -1);
    bst_tu_free(&ok);
    write_folds(t, 1);
    expect_load_fail(t, BST_ERR_FORMAT, "12 graphs (the first: 0) are in no");
    write_folds(t, 0);
    unlink(path);
    expect_load_fail(t, BST_ERR_IO, "test_idx-3.txt");
    put(path, "2\n");
    snprintf(path, sizeof path, "%s/SET.txt", t->dir);
    put(path, "1\n1 0\n0 0\n");
    expect_load_fail(t, BST_ERR_FORMAT, "two classes");
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nope", t->root);
    bst_tu d;
    char msg[1024] = "";
    assert_int_equal(bst_tu_load(missing, &d, msg, sizeof msg), BST_ERR_IO);
    assert_non_null(strstr(msg, "nope"));
    assert_int_equal(bst_tu_load(path, &d, msg, sizeof msg), BST_ERR_IO);
    assert_non_null(strstr(msg, "not a folder"));
    assert_int_equal(bst_tu_load("", &d, msg, sizeof msg), BST_ERR_IO);
}

/* ------------------------------------------------ the shipped data sets */

#ifndef BST_TU_DATA
#define BST_TU_DATA BST_FIXTURE_DIR "/../../../../shared/data/tu"
#endif

static void test_shipped(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t graphs;
        int classes, degree;
    } sets[] = {{"MUTAG", 188, 2, 0},       {"PTC", 344, 2, 0},
                {"PROTEINS", 1113, 2, 0},   {"NCI1", 4110, 2, 0},
                {"IMDBBINARY", 1000, 2, 1}, {"IMDBMULTI", 1500, 3, 1}};
    struct stat st;
    if (stat(BST_TU_DATA, &st) != 0)
        skip();
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        char dir[1024], msg[512] = "";
        snprintf(dir, sizeof dir, "%s/%s", BST_TU_DATA, sets[i].name);
        bst_tu d;
        double t0 = bst_now();
        int rc = bst_tu_load(dir, &d, msg, sizeof msg);
        double dt = bst_now() - t0;
        if (rc != BST_OK)
            fail_msg("%s: %s", sets[i].name, msg);
        printf("%-10s %5lld graphs %7lld nodes %8lld adj %d classes feat %3d"
               " (%s) %.3f s\n",
               d.name, (long long)d.graphs, (long long)d.nodes,
               (long long)d.edges, d.classes, d.feat,
               d.degree_features ? "degree" : "tags", dt);
        assert_int_equal(d.graphs, sets[i].graphs);
        assert_int_equal(d.classes, sets[i].classes);
        assert_int_equal(d.degree_features, sets[i].degree);
        assert_non_null(d.fold);
        int64_t none = 0;
        for (int64_t g = 0; g < d.graphs; g++)
            none += d.fold[g] < 0;
        assert_int_equal(none, d.graphs % 10); /* DGCNN: floor(G/10) each */
        assert_true(dt < 3.0); /* ~0.07 s; slack for valgrind / ASan */
        bst_tu_free(&d);
    }
}

/* ------------------------------------------------------------ the batch */

static void test_gather(void **state)
{
    (void)state;
    bst_tu d;
    assert_int_equal(parse(small, &d, NULL, 0), BST_OK);
    bst_gbatch b = {0};
    const int64_t ids[] = {1, 0, 1};
    assert_int_equal(bst_gbatch_gather(&b, &d, ids, 3, NULL, 0), BST_OK);
    assert_int_equal(b.graphs, 3);
    assert_int_equal(b.nodes, 7);
    assert_int_equal(b.edges, 10);
    assert_int_equal(b.feat, 3);
    const int64_t node_off[] = {0, 2, 5, 7};
    const int64_t adj_off[] = {0, 1, 2, 4, 6, 8, 9, 10};
    const int32_t adj[] = {1, 0, 3, 4, 2, 4, 2, 3, 6, 5};
    const int32_t hot[] = {1, 2, 0, 0, 1, 1, 2};
    assert_memory_equal(b.node_off, node_off, sizeof node_off);
    assert_memory_equal(b.adj_off, adj_off, sizeof adj_off);
    assert_memory_equal(b.adj, adj, sizeof adj);
    for (int v = 0; v < 7; v++)
        for (int f = 0; f < 3; f++)
            assert_true(b.x[v * 3 + f] == (f == hot[v] ? 1.0f : 0.0f));
    /* a smaller refill reuses the arrays */
    float *x = b.x;
    int32_t *a = b.adj;
    assert_int_equal(bst_gbatch_gather(&b, &d, ids + 1, 1, NULL, 0), BST_OK);
    assert_ptr_equal(b.x, x);
    assert_ptr_equal(b.adj, a);
    assert_int_equal(b.nodes, 3);
    assert_int_equal(b.adj[0], 1);
    assert_true(b.x[0] == 1.0f && b.x[1] == 0.0f);
    /* an empty batch */
    assert_int_equal(bst_gbatch_gather(&b, &d, NULL, 0, NULL, 0), BST_OK);
    assert_int_equal(b.graphs, 0);
    assert_int_equal(b.nodes, 0);
    assert_int_equal(b.node_off[0], 0);
    bst_gbatch_free(&b);
    assert_null(b.x);
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

static void test_reserve(void **state)
{
    (void)state;
    bst_gbatch b = {0};
    assert_int_equal(bst_gbatch_reserve(&b, 2, 3, 4, 5), BST_OK);
    assert_true(b.cap_graphs >= 2 && b.cap_nodes >= 3 && b.cap_edges >= 4);
    assert_int_equal(b.feat, 5);
    for (int i = 0; i < 15; i++)
        b.x[i] = (float)i;
    b.adj[3] = 42;
    b.node_off[2] = 7;
    b.adj_off[3] = 9;
    assert_int_equal(bst_gbatch_reserve(&b, 200, 300, 400, 5), BST_OK);
    assert_true(b.cap_graphs >= 200 && b.cap_nodes >= 300 &&
                b.cap_edges >= 400);
    for (int i = 0; i < 15; i++)
        assert_true(b.x[i] == (float)i);
    assert_int_equal(b.adj[3], 42);
    assert_int_equal(b.node_off[2], 7);
    assert_int_equal(b.adj_off[3], 9);
    b.x[300 * 5 - 1] = 1.0f; /* the whole (nodes, feat) is there (ASan) */
    assert_int_equal(bst_gbatch_reserve(&b, 1, 1, 1, 9), BST_OK);
    b.x[b.cap_nodes * 9 - 1] = 1.0f;
    assert_int_equal(bst_gbatch_reserve(&b, -1, 1, 1, 1), BST_ERR_INVAL);
    assert_int_equal(bst_gbatch_reserve(NULL, 1, 1, 1, 1), BST_ERR_INVAL);
    assert_int_equal(bst_gbatch_reserve(&b, 1, INT64_MAX / 2, 1, 1 << 20),
                     BST_ERR_NOMEM);
    bst_gbatch_free(&b);
}

static void test_gather_rejections(void **state)
{
    (void)state;
    bst_tu d;
    assert_int_equal(parse(small, &d, NULL, 0), BST_OK);
    bst_gbatch b = {0};
    char msg[256] = "";
    const int64_t bad[] = {0, 2}, neg[] = {-1};
    assert_int_equal(bst_gbatch_gather(&b, &d, bad, 2, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_non_null(strstr(msg, "ids[1] = 2; expected a graph id in [0, 2)"));
    assert_int_equal(bst_gbatch_gather(&b, &d, neg, 1, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_int_equal(bst_gbatch_gather(&b, &d, NULL, 1, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_int_equal(bst_gbatch_gather(&b, NULL, bad, 1, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_int_equal(bst_gbatch_gather(&b, &d, bad, -1, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_int_equal(bst_gbatch_gather(NULL, &d, bad, 1, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_null(strchr(msg, '\n'));
    bst_gbatch_free(&b);
    bst_tu_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_degree_features),
        cmocka_unit_test(test_degree_cap),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test_setup_teardown(test_load_folds, setup_set,
                                        teardown_set),
        cmocka_unit_test_setup_teardown(test_load_rejections, setup_set,
                                        teardown_set),
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_gather_rejections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
