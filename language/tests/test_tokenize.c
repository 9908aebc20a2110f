/* test_tokenize.c — the tokenizer's rule case by case, the vocabulary's
   ids (specials, GloVe order, corpus words by count then bytes, caps),
   encoding with [CLS], cut and padding; on the shipped corpus (when
   ../shared/data is there) determinism and the [UNK] share of STS tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sts_eval.h"
#include "tokenize.h"

/* The tokens of s joined by '|' into out (1024 bytes). */
static const char *joined(char *out, const char *s)
{
    char tok[BSL_TOKEN_MAX];
    out[0] = '\0';
    while (bsl_next_token(&s, tok) > 0) {
        if (out[0])
            strcat(out, "|");
        strcat(out, tok);
    }
    return out;
}

static void test_rule(void **state)
{
    (void)state;
    char buf[1024];
    assert_string_equal(joined(buf, "Don't stop, U.S.A.!"),
                        "don|'|t|stop|,|u|.|s|.|a|.|!");
    assert_string_equal(joined(buf, "  3.5% of 1,000 x2\tB-52\n"),
                        "3|.|5|%|of|1|,|000|x2|b|-|52");
    assert_string_equal(joined(buf, "Caf\xc3\xa9 NA\xc3\x8fVE \xc3\x97"),
                        "caf|\xc3\xa9|na|\xc3\xaf|ve|\xc3\x97");
    assert_string_equal(joined(buf, "x\xc2\xa0y"), "x|y"); /* no-break space */
    assert_string_equal(
        joined(buf, "\xe2\x80\x9cHi\xe2\x80\x9d \xf0\x9f\x98\xa2"),
        "\xe2\x80\x9c|hi|\xe2\x80\x9d|\xf0\x9f\x98\xa2");
    assert_string_equal(joined(buf, "a\xff"
                                    "b\xe2\x82"),
                        "a|\xff|b|\xe2|\x82");
    assert_string_equal(joined(buf, "snake_case"), "snake|_|case");
    assert_string_equal(joined(buf, ""), "");
    assert_int_equal(bsl_count_tokens(" \t\r\n"), 0);
    assert_int_equal(bsl_count_tokens("A man is playing a guitar ."), 7);
    char big[200], tok[BSL_TOKEN_MAX];
    memset(big, 'Q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *p = big;
    assert_int_equal(bsl_next_token(&p, tok), BSL_TOKEN_MAX - 1);
    assert_int_equal(tok[0], 'q');
    assert_int_equal(bsl_next_token(&p, tok), 0); /* one word, cut */
}

static const char vectors[] = "the 1 0\n, 0 1\ncat 1 1\n";
static const char sentences[] = "The dog ran .\nA dog sat .\nthe dog";

static void load(bst_glove *g, bst_corpus *c)
{
    char msg[256];
    assert_int_equal(
        bst_glove_parse(vectors, strlen(vectors), "g", g, msg, sizeof msg),
        BST_OK);
    assert_int_equal(
        bst_corpus_parse(sentences, strlen(sentences), "c", c, msg, sizeof msg),
        BST_OK);
}

static void test_vocab(void **state)
{
    (void)state;
    bst_glove g;
    bst_corpus c;
    bsl_vocab v;
    char msg[256];
    load(&g, &c);
    /* extras: dog 3, . 2, then a / ran / sat once each (byte order) */
    assert_int_equal(bsl_vocab_build(&g, &c, 3, 1, &v, msg, sizeof msg),
                     BST_OK);
    bst_glove_free(&g); /* the vocabulary keeps its own copies */
    const char *want[] = {"[PAD]", "[CLS]", "[UNK]", "the", ",",
                          "cat",   "dog",   ".",     "a"};
    assert_int_equal(v.size, 9);
    assert_int_equal(v.n_glove, 3);
    for (int i = 0; i < 9; i++)
        assert_string_equal(v.word[i], want[i]);
    assert_int_equal(bsl_vocab_id(&v, "dog"), 6);
    assert_int_equal(bsl_vocab_id(&v, "sat"), BSL_UNK);
    assert_int_equal(bsl_vocab_id(&v, "[PAD]"), BSL_UNK);
    int32_t ids[32];
    assert_int_equal(bsl_encode(&v, "The cat, the DOG zebra", ids, 32), 7);
    const int32_t e[] = {BSL_CLS, 3, 5, 4, 3, 6, BSL_UNK, BSL_PAD, BSL_PAD};
    assert_memory_equal(ids, e, sizeof e);
    assert_int_equal(ids[31], BSL_PAD);
    assert_int_equal(bsl_encode(&v, "the cat the cat", ids, 3), 3);
    assert_int_equal(ids[2], 5);
    assert_int_equal(bsl_encode(&v, "", ids, 2), 1);
    assert_int_equal(ids[1], BSL_PAD);
    bsl_vocab_free(&v);
    bst_corpus_free(&c);
}

static void test_vocab_caps(void **state)
{
    (void)state;
    bst_glove g;
    bst_corpus c;
    bsl_vocab v;
    char msg[256];
    load(&g, &c);
    assert_int_equal(bsl_vocab_build(&g, &c, 100, 2, &v, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(v.size, 8); /* dog and . only */
    bsl_vocab_free(&v);
    assert_int_equal(bsl_vocab_build(&g, NULL, 100, 1, &v, msg, sizeof msg),
                     BST_OK);
    assert_int_equal(v.size, 6);
    bsl_vocab_free(&v);
    assert_int_equal(bsl_vocab_build(&g, &c, 100, 0, &v, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_non_null(strstr(msg, "min_count >= 1"));
    assert_null(v.word);
    assert_int_equal(bsl_vocab_build(&g, &c, -1, 1, &v, msg, sizeof msg),
                     BST_ERR_INVAL);
    assert_int_equal(bsl_vocab_build(NULL, &c, 1, 1, &v, msg, sizeof msg),
                     BST_ERR_INVAL);
    bst_glove_free(&g);
    bst_corpus_free(&c);
}

/* Share of the STS12-16 + SICK-R tokens that are [UNK] under v. */
static double unk_share(const bsl_vocab *v, const char *dir)
{
    int64_t unk = 0, all = 0;
    for (int t = 0; t < BSL_STS_TASKS; t++) {
        bst_sts *sets;
        int n;
        char msg[256], tok[BSL_TOKEN_MAX];
        assert_int_equal(bsl_sts_load_task(dir, t, &sets, &n, msg, 256),
                         BST_OK);
        for (int k = 0; k < n; k++) {
            for (int64_t i = 0; i < 2 * sets[k].n; i++) {
                const char *p = i % 2 ? sets[k].s2[i / 2] : sets[k].s1[i / 2];
                for (; bsl_next_token(&p, tok) > 0; all++)
                    unk += bsl_vocab_id(v, tok) == BSL_UNK;
            }
            bst_sts_free(&sets[k]);
        }
        free(sets);
    }
    return (double)unk / (double)all;
}

static void test_shipped(void **state)
{
    (void)state;
    const char *dir = BSL_DATA_DIR;
    char path[1024], msg[256];
    bst_glove g;
    bst_corpus c;
    bsl_vocab v, w;
    snprintf(path, sizeof path, "%s/text/corpus.txt", dir);
    if (access(path, R_OK) != 0) {
        printf("skipped: no %s\n", path);
        skip();
    }
    assert_int_equal(bst_corpus_load(path, &c, msg, sizeof msg), BST_OK);
    snprintf(path, sizeof path, "%s/text/glove.6B.50d.10k.txt", dir);
    assert_int_equal(bst_glove_load(path, &g, msg, sizeof msg), BST_OK);
    assert_int_equal(bsl_vocab_build(&g, NULL, 0, 1, &v, msg, 256), BST_OK);
    double glove_only = unk_share(&v, dir);
    bsl_vocab_free(&v);
    assert_int_equal(bsl_vocab_build(&g, &c, 10000, 2, &v, msg, 256), BST_OK);
    assert_int_equal(bsl_vocab_build(&g, &c, 10000, 2, &w, msg, 256), BST_OK);
    assert_int_equal(v.size, w.size);
    for (int64_t i = 0; i < v.size; i++)
        assert_string_equal(v.word[i], w.word[i]);
    double with_corpus = unk_share(&v, dir);
    printf("vocabulary %lld ids (%lld GloVe, %lld from the corpus); [UNK] "
           "share of STS tokens: %.2f%% GloVe only, %.2f%% with them\n",
           (long long)v.size, (long long)v.n_glove,
           (long long)(v.size - 3 - v.n_glove), 100 * glove_only,
           100 * with_corpus);
    assert_true(glove_only > 0.05 && glove_only < 0.11); /* README: ~8% */
    assert_true(with_corpus < glove_only);
    bsl_vocab_free(&v);
    bsl_vocab_free(&w);
    bst_glove_free(&g);
    bst_corpus_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule),
        cmocka_unit_test(test_vocab),
        cmocka_unit_test(test_vocab_caps),
        cmocka_unit_test(test_shipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
