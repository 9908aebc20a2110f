/*
 * tokenize.c — tokenizer and vocabulary (tokenize.h).
 */
#include "tokenize.h"

#include <stdlib.h>
#include <string.h>

static const char *const special[BSL_FIRST_WORD] = {"[PAD]", "[CLS]", "[UNK]"};

/* ------------------------------------------------------------- tokens */

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* Length of the white space at s (0 if none): ASCII blanks and U+00A0. */
static int space_len(const unsigned char *s)
{
    if (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        return 1;
    return s[0] == 0xc2 && s[1] == 0xa0 ? 2 : 0;
}

/* Copies the character at s (n bytes) to tok, lower-cased in Latin-1. */
static size_t copy_char(const unsigned char *s, int n, char *tok)
{
    memcpy(tok, s, (size_t)n);
    /* U+00C0..U+00DE is C3 80..C3 9E; U+00D7 (x) is C3 97 */
    if (n == 2 && s[0] == 0xc3 && s[1] >= 0x80 && s[1] <= 0x9e && s[1] != 0x97)
        tok[1] = (char)(s[1] + 0x20);
    tok[n] = '\0';
    return (size_t)n;
}

size_t bsl_next_token(const char **p, char tok[BSL_TOKEN_MAX])
{
    const unsigned char *s = (const unsigned char *)*p;
    int k;
    while ((k = space_len(s)) > 0)
        s += k;
    size_t n = 0;
    if (!*s) {
        tok[0] = '\0';
    } else if (is_word_byte(*s)) {
        for (; is_word_byte(*s); s++)
            if (n < BSL_TOKEN_MAX - 1)
                tok[n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
        tok[n] = '\0';
    } else {
        size_t avail = 1;
        while (avail < 4 && s[avail])
            avail++;
        k = bst_utf8_len(s, avail);
        n = copy_char(s, k > 0 ? k : 1, tok);
        s += n;
    }
    *p = (const char *)s;
    return n;
}

int64_t bsl_count_tokens(const char *s)
{
    char tok[BSL_TOKEN_MAX];
    int64_t n = 0;
    while (bsl_next_token(&s, tok))
        n++;
    return n;
}

/* ------------------------------------------------------------- vocabulary */

/* The corpus's tokens outside GloVe, with their counts. */
typedef struct {
    bst_strtab tab;
    char **word;    /* (count) owned copies */
    int64_t *count; /* (count) */
    int64_t room;
} tally;

static void tally_free(tally *t)
{
    for (int64_t i = 0; i < t->tab.count; i++)
        free(t->word[i]);
    free(t->word);
    free(t->count);
    bst_strtab_free(&t->tab);
    memset(t, 0, sizeof *t);
}

static int tally_room(tally *t)
{
    if (t->tab.count < t->room)
        return BST_OK;
    int64_t room = t->room ? 2 * t->room : 1024;
    char **w = realloc(t->word, (size_t)room * sizeof *w);
    if (w)
        t->word = w;
    int64_t *c = w ? realloc(t->count, (size_t)room * sizeof *c) : NULL;
    if (!c)
        return BST_ERR_NOMEM;
    t->count = c;
    t->room = room;
    return BST_OK;
}

static int tally_add(tally *t, const char *tok, size_t len)
{
    int32_t r = bst_strtab_get(&t->tab, tok, len);
    if (r >= 0) {
        t->count[r]++;
        return BST_OK;
    }
    char *copy = tally_room(t) == BST_OK ? malloc(len + 1) : NULL;
    if (!copy)
        return BST_ERR_NOMEM;
    memcpy(copy, tok, len + 1);
    if (bst_strtab_add(&t->tab, copy, len) == INT32_MIN) {
        free(copy);
        return BST_ERR_NOMEM;
    }
    t->word[t->tab.count - 1] = copy;
    t->count[t->tab.count - 1] = 1;
    return BST_OK;
}

static int tally_corpus(tally *t, const bst_glove *g, const bst_corpus *c)
{
    char tok[BSL_TOKEN_MAX];
    if (bst_strtab_init(&t->tab, 1024) != BST_OK)
        return BST_ERR_NOMEM;
    for (int64_t i = 0; c && i < c->n; i++) {
        const char *p = c->sentence[i];
        size_t len;
        while ((len = bsl_next_token(&p, tok)) > 0)
            if (bst_strtab_get(&g->index, tok, len) < 0 &&
                tally_add(t, tok, len) != BST_OK)
                return BST_ERR_NOMEM;
    }
    return BST_OK;
}

typedef struct {
    int64_t count;
    const char *word;
} ranked;

static int by_count(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

/* The extra words, most frequent first; *n of them. */
static ranked *pick_extra(const tally *t, int64_t max_extra, int64_t min_count,
                          int64_t *n)
{
    ranked *r = malloc((size_t)(t->tab.count + 1) * sizeof *r);
    *n = 0;
    if (!r)
        return NULL;
    for (int64_t i = 0; i < t->tab.count; i++)
        if (t->count[i] >= min_count)
            r[(*n)++] = (ranked){t->count[i], t->word[i]};
    qsort(r, (size_t)*n, sizeof *r, by_count);
    if (*n > max_extra)
        *n = max_extra;
    return r;
}

/* Appends word as the next id of v (bytes copied at v->buf + *used). */
static int vocab_push(bsl_vocab *v, const char *word, size_t *used)
{
    size_t len = strlen(word);
    char *dst = v->buf + *used;
    memcpy(dst, word, len + 1);
    *used += len + 1;
    v->word[v->size++] = dst;
    return bst_strtab_add(&v->index, dst, len) == INT32_MIN ? BST_ERR_NOMEM
                                                            : BST_OK;
}

static int vocab_fill(bsl_vocab *v, const bst_glove *g, const ranked *extra,
                      int64_t n_extra)
{
    size_t bytes = 1, used = 0;
    for (int64_t i = 0; i < g->n; i++)
        bytes += strlen(g->word[i]) + 1;
    for (int64_t i = 0; i < n_extra; i++)
        bytes += strlen(extra[i].word) + 1;
    int64_t size = BSL_FIRST_WORD + g->n + n_extra;
    v->buf = malloc(bytes);
    v->word = malloc((size_t)size * sizeof *v->word);
    if (!v->buf || !v->word || bst_strtab_init(&v->index, size) != BST_OK)
        return BST_ERR_NOMEM;
    for (int i = 0; i < BSL_FIRST_WORD; i++)
        v->word[v->size++] = special[i];
    int rc = BST_OK;
    for (int64_t i = 0; i < g->n && rc == BST_OK; i++)
        rc = vocab_push(v, g->word[i], &used);
    for (int64_t i = 0; i < n_extra && rc == BST_OK; i++)
        rc = vocab_push(v, extra[i].word, &used);
    v->n_glove = g->n;
    return rc;
}

int bsl_vocab_build(const bst_glove *g, const bst_corpus *c, int64_t max_extra,
                    int64_t min_count, bsl_vocab *v, char *msg, size_t cap)
{
    if (!v || !g || g->n < 1 || max_extra < 0 || min_count < 1) {
        if (v)
            memset(v, 0, sizeof *v);
        return bst_text_fail(msg, cap, BST_ERR_INVAL,
                             "vocabulary: bad arguments (expected GloVe "
                             "vectors, max_extra >= 0, min_count >= 1)");
    }
    memset(v, 0, sizeof *v);
    tally t = {0};
    int64_t n_extra = 0;
    ranked *extra = NULL;
    int rc = tally_corpus(&t, g, c);
    if (rc == BST_OK)
        extra = pick_extra(&t, max_extra, min_count, &n_extra);
    rc = extra ? vocab_fill(v, g, extra, n_extra) : BST_ERR_NOMEM;
    free(extra);
    tally_free(&t);
    if (rc != BST_OK) {
        bsl_vocab_free(v);
        bst_text_fail(msg, cap, rc, "vocabulary: out of memory");
    }
    return rc;
}

void bsl_vocab_free(bsl_vocab *v)
{
    if (!v)
        return;
    free(v->word);
    free(v->buf);
    bst_strtab_free(&v->index);
    memset(v, 0, sizeof *v);
}

int32_t bsl_vocab_id(const bsl_vocab *v, const char *tok)
{
    int32_t r = bst_strtab_get(&v->index, tok, strlen(tok));
    return r >= 0 ? r + BSL_FIRST_WORD : BSL_UNK;
}

int bsl_encode(const bsl_vocab *v, const char *sentence, int32_t *ids,
               int max_len)
{
    char tok[BSL_TOKEN_MAX];
    int n = 0;
    if (max_len < 1)
        return 0;
    ids[n++] = BSL_CLS;
    while (n < max_len && bsl_next_token(&sentence, tok) > 0)
        ids[n++] = bsl_vocab_id(v, tok);
    for (int i = n; i < max_len; i++)
        ids[i] = BSL_PAD;
    return n;
}
