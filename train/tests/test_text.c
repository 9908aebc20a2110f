/* test_text.c — the language modality's readers (data/text.h) on texts
   written here: the string table, UTF-8 validation, the corpus, GloVe and
   STS / SICK formats, every rejection with its one-line "what:line:"
   message; the shipped files when ../shared/data is there. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "text.h"

/* rc must be BST_ERR_FORMAT with a one-line message containing want. */
static void expect_reject(int rc, const char *msg, const char *want)
{
    if (rc != BST_ERR_FORMAT || !strstr(msg, want) || strchr(msg, '\n'))
        fail_msg("rc %d, message '%s', wanted '%s'", rc, msg, want);
}

static int corpus(const char *text, bst_corpus *c, char *msg)
{
    return bst_corpus_parse(text, strlen(text), "c.txt", c, msg, 256);
}

static int glove(const char *text, bst_glove *g, char *msg)
{
    return bst_glove_parse(text, strlen(text), "g.txt", g, msg, 256);
}

static int sts(const char *text, bst_sts *s, char *msg)
{
    return bst_sts_parse(text, strlen(text), "s.tsv", s, msg, 256);
}

static void test_strtab(void **state)
{
    (void)state;
    bst_strtab t;
    char words[2000][16];
    assert_int_equal(bst_strtab_init(&t, 0), BST_OK);
    for (int i = 0; i < 2000; i++) { /* grows from 16 slots */
        snprintf(words[i], sizeof words[i], "w%d", i);
        assert_int_equal(bst_strtab_add(&t, words[i], strlen(words[i])), i);
    }
    assert_int_equal(bst_strtab_add(&t, "w7", 2), -1 - 7);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(bst_strtab_get(&t, words[i], strlen(words[i])), i);
    assert_int_equal(bst_strtab_get(&t, "w", 1), -1);
    assert_int_equal(bst_strtab_get(&t, "w12", 2), 1); /* a prefix: "w1" */
    assert_int_equal(t.count, 2000);
    bst_strtab_free(&t);
    assert_int_equal(bst_strtab_init(&t, -1), BST_ERR_INVAL);
}

static void test_utf8(void **state)
{
    (void)state;
    const struct {
        const char *s;
        int len;
    } cases[] = {
        {"a", 1},
        {"\xc3\xa9", 2},
        {"\xe2\x80\x99", 3},
        {"\xf0\x9f\x98\xa2", 4},
        {"\xc0\xaf", 0}, /* overlong '/' */
        {"\xe0\x80\xaf", 0},
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 0}, /* > U+10FFFF */
        {"\xff", 0},
        {"\x80", 0},
        {"\xe2\x82", 0}, /* cut */
        {"\xc3(", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(
            bst_utf8_len((const unsigned char *)cases[i].s, strlen(cases[i].s)),
            cases[i].len);
    assert_int_equal(bst_utf8_len((const unsigned char *)"", 0), 0);
}

static void test_corpus(void **state)
{
    (void)state;
    bst_corpus c;
    char msg[256] = "";
    assert_int_equal(
        corpus("One sentence .\r\nCaf\xc3\xa9 two\nthree", &c, msg), BST_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.sentence[0], "One sentence .");
    assert_string_equal(c.sentence[1], "Caf\xc3\xa9 two");
    assert_string_equal(c.sentence[2], "three");
    bst_corpus_free(&c);
    assert_int_equal(corpus("a\nb\n", &c, msg), BST_OK);
    assert_int_equal(c.n, 2);
    bst_corpus_free(&c);
}

static void test_corpus_rejects(void **state)
{
    (void)state;
    bst_corpus c;
    char msg[256], big[BST_TEXT_MAX_LINE + 8];
    expect_reject(corpus("a\n\nb\n", &c, msg), msg, "c.txt:2: empty line");
    expect_reject(corpus("a\n \t\n", &c, msg), msg, "c.txt:2: empty line");
    expect_reject(corpus("a\nb\n\n", &c, msg), msg, "c.txt:3: empty line");
    expect_reject(corpus("", &c, msg), msg, "c.txt: no sentences");
    expect_reject(corpus("ok\nbad \xff byte\n", &c, msg), msg,
                  "c.txt:2: invalid UTF-8 at byte 5");
    expect_reject(corpus("\xc0\xaf\n", &c, msg), msg, "c.txt:1: invalid UTF-8");
    expect_reject(corpus("\xed\xa0\x80\n", &c, msg), msg, "invalid UTF-8");
    expect_reject(bst_corpus_parse("a\0b", 3, "c.txt", &c, msg, sizeof msg),
                  msg, "c.txt:1: NUL byte at byte 2");
    memset(big, 'x', sizeof big);
    big[BST_TEXT_MAX_LINE + 1] = '\0';
    expect_reject(corpus(big, &c, msg), msg, "c.txt:1: line of 4097 bytes");
    big[BST_TEXT_MAX_LINE] = '\0'; /* exactly the maximum */
    assert_int_equal(corpus(big, &c, msg), BST_OK);
    bst_corpus_free(&c);
    assert_int_equal(bst_corpus_load("/nonexistent/c.txt", &c, msg, 256),
                     BST_ERR_IO);
    assert_non_null(strstr(msg, "/nonexistent/c.txt"));
    assert_null(c.sentence);
    assert_int_equal(bst_corpus_parse(NULL, 1, "c", &c, msg, 256),
                     BST_ERR_INVAL);
}

static void test_glove(void **state)
{
    (void)state;
    bst_glove g;
    char msg[256] = "";
    assert_int_equal(
        glove("the 0.5 -1 2e-1\n, 1 2 3\r\nwho -0 1e3 4\n", &g, msg), BST_OK);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.dim, 3);
    assert_string_equal(g.word[1], ",");
    const float want[] = {0.5f, -1, 0.2f, 1, 2, 3, -0.0f, 1000, 4};
    assert_memory_equal(g.vec, want, sizeof want);
    assert_int_equal(bst_strtab_get(&g.index, "who", 3), 2);
    bst_glove_free(&g);
    assert_null(g.vec);
}

static void test_glove_rejects(void **state)
{
    (void)state;
    bst_glove g;
    char msg[256];
    expect_reject(glove("a 1 2\nb 1 2 3\n", &g, msg), msg,
                  "g.txt:2: 4 fields (expected a word and 2 numbers");
    expect_reject(glove("a 1 2\nb 1\n", &g, msg), msg, "g.txt:2: 2 fields");
    expect_reject(glove("a 1 2\nb 1 nan\n", &g, msg), msg,
                  "g.txt:2: value 2 'nan' (expected a finite float)");
    expect_reject(glove("a 1 2\nb inf 1\n", &g, msg), msg, "g.txt:2: value 1");
    expect_reject(glove("a 1 1e39\n", &g, msg), msg, "g.txt:1: value 2");
    expect_reject(glove("a 1 x2\n", &g, msg), msg, "'x2'");
    expect_reject(glove("a 1 2x\n", &g, msg), msg, "'2x'");
    expect_reject(glove("a 1  2\n", &g, msg), msg, "g.txt:1: value 2 ''");
    expect_reject(glove("a 1 2\nb 3 4\na 5 6\n", &g, msg), msg,
                  "g.txt:3: word 'a' already on line 1");
    expect_reject(glove(" 1 2\n", &g, msg), msg, "g.txt:1: empty word");
    expect_reject(glove("a\n", &g, msg), msg, "g.txt:1: 1 fields");
    expect_reject(glove("", &g, msg), msg, "g.txt: empty");
    expect_reject(glove("a 1 2\n\n", &g, msg), msg, "g.txt:2: 1 fields");
    expect_reject(glove("\xe9t\xe9 1 2\n", &g, msg), msg, "invalid UTF-8");
    assert_null(g.word);
    assert_int_equal(g.n, 0);
}

static void test_sts(void **state)
{
    (void)state;
    bst_sts s;
    char msg[256] = "";
    assert_int_equal(
        sts("4.4\tA man .\tA person .\n0\tx\ty\r\n5.000\ta\tb", &s, msg),
        BST_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.sick, 0);
    assert_true(s.score[0] == 4.4 && s.score[1] == 0 && s.score[2] == 5);
    assert_string_equal(s.s1[0], "A man .");
    assert_string_equal(s.s2[1], "y");
    bst_sts_free(&s);
    assert_int_equal(sts("pair_ID\tsentence_A\tsentence_B\trelatedness_score\t"
                         "entailment_judgment\r\n6\tA b\tC d\t3.3\tNEUTRAL\r\n"
                         "7\te\tf\t1\tCONTRADICTION\r\n",
                         &s, msg),
                     BST_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.sick, 1);
    assert_true(s.score[0] == 3.3 && s.score[1] == 1);
    assert_string_equal(s.s2[0], "C d");
    bst_sts_free(&s);
}

static const char hdr[] = "pair_ID\tsentence_A\tsentence_B\t"
                          "relatedness_score\tentailment_judgment\n";

static int sick(const char *rows, bst_sts *s, char *msg)
{
    char text[512];
    snprintf(text, sizeof text, "%s%s", hdr, rows);
    return sts(text, s, msg);
}

static void test_sts_rejects(void **state)
{
    (void)state;
    bst_sts s;
    char msg[256];
    expect_reject(sts("1\ta\tb\n5.5\ta\tb\n", &s, msg), msg,
                  "s.tsv:2: score '5.5' (expected a number in [0, 5])");
    expect_reject(sts("-0.1\ta\tb\n", &s, msg), msg, "s.tsv:1: score '-0.1'");
    expect_reject(sts("nan\ta\tb\n", &s, msg), msg, "s.tsv:1: score 'nan'");
    expect_reject(sts("high\ta\tb\n", &s, msg), msg, "score 'high'");
    expect_reject(sts(" 1\ta\tb\n", &s, msg), msg, "score ' 1'");
    expect_reject(sts("1\ta b\n", &s, msg), msg,
                  "s.tsv:1: 2 tab-separated fields (expected "
                  "score<TAB>sentence1<TAB>sentence2)");
    expect_reject(sts("1\ta\tb\tc\n", &s, msg), msg, "4 tab-separated");
    expect_reject(sts("1\ta\t \n", &s, msg), msg, "s.tsv:1: empty sentence 2");
    expect_reject(sts("1\t\tb\n", &s, msg), msg, "empty sentence 1");
    expect_reject(sts("", &s, msg), msg, "s.tsv: no sentence pairs");
    expect_reject(sts("1\ta\t\xe2\x82\n", &s, msg), msg,
                  "s.tsv:1: invalid UTF-8");
    expect_reject(sts("pair_ID\tsentence_A\tsentence_B\tscore\n", &s, msg), msg,
                  "s.tsv:1: SICK header with other columns");
    expect_reject(sick("", &s, msg), msg, "no sentence pairs");
    expect_reject(sick("1\ta\tb\t0.5\tNEUTRAL\n", &s, msg), msg,
                  "s.tsv:2: relatedness_score '0.5' (expected a number in "
                  "[1, 5])");
    expect_reject(sick("1\ta\tb\t3\tneutral\n", &s, msg), msg,
                  "s.tsv:2: entailment_judgment 'neutral'");
    expect_reject(sick("x1\ta\tb\t3\tNEUTRAL\n", &s, msg), msg,
                  "s.tsv:2: pair_ID 'x1'");
    expect_reject(sick("1\ta\tb\t3\n", &s, msg), msg,
                  "s.tsv:2: 4 tab-separated fields (expected pair_ID");
    assert_null(s.score);
    assert_int_equal(s.n, 0);
}

/* The shipped files load (skipped without ../shared/data). */
static void test_shipped(void **state)
{
    (void)state;
    const char *dir = BST_FIXTURE_DIR "/../../../../shared/data";
    char path[1024], msg[256] = "";
    snprintf(path, sizeof path, "%s/text/glove.6B.50d.10k.txt", dir);
    if (access(path, R_OK) != 0) {
        printf("skipped: no %s\n", path);
        skip();
    }
    bst_glove g;
    assert_int_equal(bst_glove_load(path, &g, msg, sizeof msg), BST_OK);
    assert_int_equal(g.n, 10000);
    assert_int_equal(g.dim, 50);
    assert_string_equal(g.word[0], "the");
    bst_glove_free(&g);
    bst_corpus c;
    snprintf(path, sizeof path, "%s/text/corpus.txt", dir);
    assert_int_equal(bst_corpus_load(path, &c, msg, sizeof msg), BST_OK);
    assert_int_equal(c.n, 118592);
    bst_corpus_free(&c);
    bst_sts s;
    snprintf(path, sizeof path, "%s/sts/sick/SICK_test_annotated.txt", dir);
    assert_int_equal(bst_sts_load(path, &s, msg, sizeof msg), BST_OK);
    assert_int_equal(s.n, 4927);
    assert_int_equal(s.sick, 1);
    bst_sts_free(&s);
    snprintf(path, sizeof path, "%s/sts/sts12/MSRpar.tsv", dir);
    assert_int_equal(bst_sts_load(path, &s, msg, sizeof msg), BST_OK);
    assert_int_equal(s.n, 750);
    bst_sts_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strtab),  cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_corpus),  cmocka_unit_test(test_corpus_rejects),
        cmocka_unit_test(test_glove),   cmocka_unit_test(test_glove_rejects),
        cmocka_unit_test(test_sts),     cmocka_unit_test(test_sts_rejects),
        cmocka_unit_test(test_shipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
