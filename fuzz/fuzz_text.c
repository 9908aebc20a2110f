/*
 * fuzz_text.c — libFuzzer target for the language modality's readers
 * (data/text.h) and tokenizer (language/tokenize.h).
 *
 * The first byte picks the reader (corpus, GloVe, STS/SICK), the rest is
 * the file.  An accepted file must satisfy what the reader promises
 * (counts, lines without line ends, valid UTF-8, finite vectors, scores in
 * range, non-empty sentences); its sentences are tokenized (tokens
 * non-empty, no more bytes than the sentence) and an accepted STS file is
 * scored with a two-word GloVe average.  A rejection leaves the struct
 * zeroed with a one-line message.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "sts_eval.h"
#include "text.h"
#include "tokenize.h"

static void check_sentence(const char *s)
{
    size_t len = strlen(s), total = 0, n;
    char tok[BSL_TOKEN_MAX];
    CHECK(len <= BST_TEXT_MAX_LINE && !strchr(s, '\n'));
    for (size_t i = 0; i < len;
         i += (size_t)bst_utf8_len((const unsigned char *)s + i, len - i))
        CHECK(bst_utf8_len((const unsigned char *)s + i, len - i) > 0);
    while ((n = bsl_next_token(&s, tok)) > 0) {
        CHECK(n == strlen(tok) && n < BSL_TOKEN_MAX);
        total += n;
    }
    CHECK(total <= len);
}

static void check_rejection(int rc, const char *msg)
{
    CHECK(rc == BST_ERR_FORMAT || rc == BST_ERR_NOMEM);
    CHECK(strchr(msg, '\n') == NULL && msg[0] != '\0' && msg[0] != 'x');
}

static void fuzz_corpus(const char *text, size_t len, char *msg, size_t cap)
{
    bst_corpus c;
    int rc = bst_corpus_parse(text, len, "fuzz", &c, msg, cap);
    if (rc != BST_OK) {
        check_rejection(rc, msg);
        CHECK(c.n == 0 && c.sentence == NULL && c.buf == NULL);
        return;
    }
    CHECK(c.n >= 1);
    for (int64_t i = 0; i < c.n; i++)
        check_sentence(c.sentence[i]);
    bst_corpus_free(&c);
}

static void fuzz_glove(const char *text, size_t len, char *msg, size_t cap)
{
    bst_glove g;
    int rc = bst_glove_parse(text, len, "fuzz", &g, msg, cap);
    if (rc != BST_OK) {
        check_rejection(rc, msg);
        CHECK(g.n == 0 && g.vec == NULL && g.word == NULL);
        return;
    }
    CHECK(g.n >= 1 && g.dim >= 1 && g.dim <= BST_GLOVE_MAX_DIM);
    for (int64_t i = 0; i < g.n; i++) {
        CHECK(g.word[i][0] != '\0');
        CHECK(bst_strtab_get(&g.index, g.word[i], strlen(g.word[i])) == i);
        for (int j = 0; j < g.dim; j++)
            CHECK(isfinite(g.vec[i * g.dim + j]));
    }
    bst_glove_free(&g);
}

static void score(const bst_sts *s)
{
    static const char vectors[] = "a 1 0\nb 0 1\n";
    bst_glove g;
    char msg[256];
    double r;
    CHECK(bst_glove_parse(vectors, sizeof vectors - 1, "v", &g, msg, 256) ==
          BST_OK);
    bsl_encoder enc = bsl_glove_avg_encoder(&g);
    int rc = bsl_sts_spearman(s, 1, &enc, &r, msg, sizeof msg);
    CHECK(rc == BST_OK || rc == BST_ERR_INVAL);
    CHECK(rc != BST_OK || (r >= -100.000001 && r <= 100.000001));
    bst_glove_free(&g);
}

static void fuzz_sts(const char *text, size_t len, char *msg, size_t cap)
{
    bst_sts s;
    int rc = bst_sts_parse(text, len, "fuzz", &s, msg, cap);
    if (rc != BST_OK) {
        check_rejection(rc, msg);
        CHECK(s.n == 0 && s.score == NULL && s.buf == NULL);
        return;
    }
    CHECK(s.n >= 1);
    for (int64_t i = 0; i < s.n; i++) {
        CHECK(s.score[i] >= (s.sick ? 1 : 0) && s.score[i] <= 5);
        CHECK(s.s1[i][0] && s.s2[i][0] && !strchr(s.s1[i], '\t'));
        check_sentence(s.s1[i]);
        check_sentence(s.s2[i]);
    }
    score(&s);
    bst_sts_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[512];
    if (size < 1)
        return 0;
    memset(msg, 'x', sizeof msg);
    msg[sizeof msg - 1] = '\0';
    const char *text = (const char *)data + 1;
    switch (data[0] % 3) {
    case 0: fuzz_corpus(text, size - 1, msg, sizeof msg); break;
    case 1: fuzz_glove(text, size - 1, msg, sizeof msg); break;
    default: fuzz_sts(text, size - 1, msg, sizeof msg); break;
    }
    return 0;
}
