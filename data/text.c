/*
 * text.c — the corpus, GloVe and STS / SICK readers (text.h).
 *
 * Every reader copies the bytes into one buffer, cuts it into lines
 * (split_lines: line ends become NULs, each line checked for length,
 * NUL bytes and UTF-8), then reads the fields of each line in place.
 */
#define _POSIX_C_SOURCE 200809L
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- messages */

int bst_text_fail(char *msg, size_t cap, int code, const char *fmt, ...)
{
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
        for (char *c = msg; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
    }
    return code;
}

#define fail bst_text_fail /* the one-line message helper (text.h) */

/* ------------------------------------------------------------- strings */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int bst_strtab_init(bst_strtab *t, int64_t n)
{
    if (!t || n < 0 || n > (int64_t)1 << 30)
        return BST_ERR_INVAL;
    memset(t, 0, sizeof *t);
    int64_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    t->key = calloc((size_t)cap, sizeof *t->key);
    t->klen = calloc((size_t)cap, sizeof *t->klen);
    t->val = calloc((size_t)cap, sizeof *t->val);
    if (!t->key || !t->klen || !t->val) {
        bst_strtab_free(t);
        return BST_ERR_NOMEM;
    }
    t->cap = cap;
    return BST_OK;
}

/* The slot holding s, or the empty slot where it would go. */
static int64_t slot_of(const bst_strtab *t, const char *s, size_t len)
{
    uint64_t mask = (uint64_t)t->cap - 1;
    uint64_t i = hash_bytes(s, len) & mask;
    while (t->key[i] && (t->klen[i] != len || memcmp(t->key[i], s, len) != 0))
        i = (i + 1) & mask;
    return (int64_t)i;
}

/* Doubles the table (count kept). */
static int strtab_grow(bst_strtab *t)
{
    bst_strtab g;
    if (t->cap >= (int64_t)1 << 31 || bst_strtab_init(&g, t->cap) != BST_OK)
        return BST_ERR_NOMEM;
    for (int64_t i = 0; i < t->cap; i++)
        if (t->key[i]) {
            int64_t j = slot_of(&g, t->key[i], t->klen[i]);
            g.key[j] = t->key[i];
            g.klen[j] = t->klen[i];
            g.val[j] = t->val[i];
        }
    g.count = t->count;
    bst_strtab_free(t);
    *t = g;
    return BST_OK;
}

int32_t bst_strtab_add(bst_strtab *t, const char *s, size_t len)
{
    if (!t->cap || len > UINT32_MAX)
        return INT32_MIN;
    int64_t i = slot_of(t, s, len);
    if (t->key[i])
        return -1 - t->val[i];
    if (2 * (t->count + 1) > t->cap) {
        if (strtab_grow(t) != BST_OK)
            return INT32_MIN;
        i = slot_of(t, s, len);
    }
    t->key[i] = s;
    t->klen[i] = (uint32_t)len;
    t->val[i] = (int32_t)t->count++;
    return t->val[i];
}

int32_t bst_strtab_get(const bst_strtab *t, const char *s, size_t len)
{
    if (!t->cap || len > UINT32_MAX)
        return -1;
    int64_t i = slot_of(t, s, len);
    return t->key[i] ? t->val[i] : -1;
}

void bst_strtab_free(bst_strtab *t)
{
    if (!t)
        return;
    free(t->key);
    free(t->klen);
    free(t->val);
    memset(t, 0, sizeof *t);
}

int bst_utf8_len(const unsigned char *s, size_t len)
{
    if (len == 0)
        return 0;
    unsigned c = s[0];
    int n = c < 0x80                 ? 1
            : c >= 0xc2 && c <= 0xdf ? 2
            : c >= 0xe0 && c <= 0xef ? 3
            : c >= 0xf0 && c <= 0xf4 ? 4
                                     : 0;
    if (n <= 1 || (size_t)n > len)
        return n == 1 ? 1 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* overlong 3- and 4-byte forms, surrogates, above U+10FFFF */
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

/* ------------------------------------------------------------- lines */

typedef struct {
    char *buf;   /* the text's copy, line ends replaced by NULs */
    char **line; /* (n) */
    int64_t n;
    const char *what;
} lines;

static void lines_free(lines *L)
{
    free(L->buf);
    free(L->line);
    memset(L, 0, sizeof *L);
}

/* Checks line s[0..len) (number no): length, NUL bytes, UTF-8. */
static int check_line(const char *s, size_t len, const char *what, int64_t no,
                      char *msg, size_t cap)
{
    if (len > BST_TEXT_MAX_LINE)
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: line of %zu bytes (expected at most %d)", what,
                    (long long)no, len, BST_TEXT_MAX_LINE);
    for (size_t i = 0; i < len;) {
        int k = bst_utf8_len((const unsigned char *)s + i, len - i);
        if (k == 0 || s[i] == '\0')
            return fail(msg, cap, BST_ERR_FORMAT,
                        "%s:%lld: %s at byte %zu (expected UTF-8 text)", what,
                        (long long)no, k ? "NUL byte" : "invalid UTF-8", i + 1);
        i += (size_t)k;
    }
    return BST_OK;
}

/* Cuts text into lines (LF or CRLF; a final line end is optional). */
static int split_lines(const char *text, size_t len, const char *what, lines *L,
                       char *msg, size_t cap)
{
    int64_t n = 0;
    memset(L, 0, sizeof *L);
    L->what = what;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    n += len > 0 && text[len - 1] != '\n';
    L->buf = malloc(len + 1);
    L->line = malloc((size_t)(n > 0 ? n : 1) * sizeof *L->line);
    if (!L->buf || !L->line) {
        lines_free(L);
        return fail(msg, cap, BST_ERR_NOMEM, "%s: out of memory", what);
    }
    if (len)
        memcpy(L->buf, text, len);
    L->buf[len] = '\0';
    for (size_t start = 0; (int64_t)L->n < n;) {
        char *nl = memchr(L->buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - L->buf) : len, e = end;
        if (e > start && L->buf[e - 1] == '\r')
            e--;
        int rc =
            check_line(L->buf + start, e - start, what, L->n + 1, msg, cap);
        if (rc != BST_OK) {
            lines_free(L);
            return rc;
        }
        L->buf[e] = '\0';
        L->line[L->n++] = L->buf + start;
        start = end + 1;
    }
    return BST_OK;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\v' && *s != '\f')
            return 0;
    return 1;
}

/* Reads a whole file into memory. */
static int read_file(const char *path, char **text, size_t *len, char *msg,
                     size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = 0, room = 1 << 16;
    char *b = NULL;
    *text = NULL;
    if (!f)
        return fail(msg, cap, BST_ERR_IO, "cannot open %s: %s", path,
                    strerror(errno));
    for (;;) {
        char *nb = n + 1 >= room || !b ? realloc(b, room *= 2) : b;
        if (!nb) {
            free(b);
            fclose(f);
            return fail(msg, cap, BST_ERR_NOMEM, "%s: out of memory", path);
        }
        b = nb;
        size_t got = fread(b + n, 1, room - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return fail(msg, cap, BST_ERR_IO, "cannot read %s", path);
    }
    *text = b;
    *len = n;
    return BST_OK;
}

typedef int (*parse_fn)(const char *text, size_t len, const char *what,
                        void *out, char *msg, size_t cap);

static int parse_with(const char *text, size_t len, const char *what,
                      parse_fn parse, void *out, size_t out_size, char *msg,
                      size_t cap)
{
    if (!out || (!text && len) || !what)
        return fail(msg, cap, BST_ERR_INVAL, "NULL argument");
    memset(out, 0, out_size);
    return parse(text, len, what, out, msg, cap);
}

static int load_with(const char *path, parse_fn parse, void *out,
                     size_t out_size, char *msg, size_t cap)
{
    char *text;
    size_t len = 0;
    if (!path || !out)
        return fail(msg, cap, BST_ERR_INVAL, "NULL argument");
    memset(out, 0, out_size);
    int rc = read_file(path, &text, &len, msg, cap);
    if (rc != BST_OK)
        return rc;
    rc = parse(text, len, path, out, msg, cap);
    free(text);
    return rc;
}

/* ------------------------------------------------------------- corpus */

static int corpus_parse(const char *text, size_t len, const char *what,
                        void *vout, char *msg, size_t cap)
{
    bst_corpus *out = vout;
    lines L;
    int rc = split_lines(text, len, what, &L, msg, cap);
    if (rc != BST_OK)
        return rc;
    for (int64_t i = 0; i < L.n; i++)
        if (blank(L.line[i])) {
            lines_free(&L);
            return fail(msg, cap, BST_ERR_FORMAT,
                        "%s:%lld: empty line (expected one sentence a line)",
                        what, (long long)i + 1);
        }
    if (L.n == 0) {
        lines_free(&L);
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s: no sentences (expected one sentence a line)", what);
    }
    out->n = L.n;
    out->sentence = L.line;
    out->buf = L.buf;
    return BST_OK;
}

int bst_corpus_parse(const char *text, size_t len, const char *what,
                     bst_corpus *out, char *msg, size_t cap)
{
    return parse_with(text, len, what, corpus_parse, out, sizeof *out, msg,
                      cap);
}

int bst_corpus_load(const char *path, bst_corpus *out, char *msg, size_t cap)
{
    return load_with(path, corpus_parse, out, sizeof *out, msg, cap);
}

void bst_corpus_free(bst_corpus *c)
{
    if (!c)
        return;
    free(c->sentence);
    free(c->buf);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------- GloVe */

/* The number of sep-separated fields of s. */
static int count_fields(const char *s, char sep)
{
    int n = 1;
    for (; *s; s++)
        n += *s == sep;
    return n;
}

/* Cuts s in place into its first n sep-separated fields. */
static void split_fields(char *s, char sep, char **field, int n)
{
    for (int j = 0; j < n; j++) {
        field[j] = s;
        char *e = strchr(s, sep);
        if (!e)
            return;
        *e = '\0';
        s = e + 1;
    }
}

/* A whole field as a finite float; 0 or BST_ERR_FORMAT. */
static int parse_float(const char *s, double *out)
{
    char *end = NULL;
    if (!*s || isspace((unsigned char)*s))
        return BST_ERR_FORMAT;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || fabs(v) > 3.4028234663852886e38)
        return BST_ERR_FORMAT;
    *out = v;
    return BST_OK;
}

static int glove_dim(const lines *L, char *msg, size_t cap)
{
    int64_t n = count_fields(L->line[0], ' ');
    if (n < 2 || n - 1 > BST_GLOVE_MAX_DIM)
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:1: %lld fields (expected a word and 1 to %d numbers "
                    "separated by single spaces)",
                    L->what, (long long)n, BST_GLOVE_MAX_DIM);
    return (int)(n - 1);
}

static int glove_line(bst_glove *g, const lines *L, int64_t i, char **field,
                      char *msg, size_t cap)
{
    int nf = count_fields(L->line[i], ' ');
    long long no = (long long)i + 1;
    if (nf != g->dim + 1)
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: %d fields (expected a word and %d numbers "
                    "separated by single spaces, as on line 1)",
                    L->what, no, nf, g->dim);
    split_fields(L->line[i], ' ', field, nf);
    if (!field[0][0])
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: empty word (expected `word v1 ... v%d`)", L->what,
                    no, g->dim);
    for (int j = 0; j < g->dim; j++) {
        double v;
        if (parse_float(field[j + 1], &v) != BST_OK)
            return fail(msg, cap, BST_ERR_FORMAT,
                        "%s:%lld: value %d '%.40s' (expected a finite "
                        "float)",
                        L->what, no, j + 1, field[j + 1]);
        g->vec[i * g->dim + j] = (float)v;
    }
    int32_t r = bst_strtab_add(&g->index, field[0], strlen(field[0]));
    if (r == INT32_MIN)
        return fail(msg, cap, BST_ERR_NOMEM, "%s: out of memory", L->what);
    if (r < 0)
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: word '%.60s' already on line %lld (expected "
                    "distinct words)",
                    L->what, no, field[0], (long long)-r);
    g->word[i] = field[0];
    return BST_OK;
}

static int glove_fill(bst_glove *g, const lines *L, char *msg, size_t cap)
{
    char **field = malloc((size_t)(g->dim + 1) * sizeof *field);
    g->word = malloc((size_t)L->n * sizeof *g->word);
    g->vec = malloc((size_t)(L->n * g->dim) * sizeof *g->vec);
    int rc = bst_strtab_init(&g->index, L->n);
    if (!field || !g->word || !g->vec || rc != BST_OK) {
        free(field);
        return fail(msg, cap, BST_ERR_NOMEM, "%s: out of memory", L->what);
    }
    for (int64_t i = 0; i < L->n && rc == BST_OK; i++)
        rc = glove_line(g, L, i, field, msg, cap);
    free(field);
    return rc;
}

static int glove_parse(const char *text, size_t len, const char *what,
                       void *vout, char *msg, size_t cap)
{
    bst_glove *g = vout;
    lines L;
    int rc = split_lines(text, len, what, &L, msg, cap);
    if (rc != BST_OK)
        return rc;
    if (L.n == 0)
        rc = fail(msg, cap, BST_ERR_FORMAT,
                  "%s: empty (expected `word v1 ... vd` lines)", what);
    else if ((g->dim = glove_dim(&L, msg, cap)) < 0)
        rc = g->dim;
    else
        rc = glove_fill(g, &L, msg, cap);
    if (rc != BST_OK) {
        bst_glove_free(g);
        lines_free(&L);
        return rc;
    }
    g->n = L.n;
    g->buf = L.buf;
    free(L.line);
    return BST_OK;
}

int bst_glove_parse(const char *text, size_t len, const char *what,
                    bst_glove *out, char *msg, size_t cap)
{
    return parse_with(text, len, what, glove_parse, out, sizeof *out, msg, cap);
}

int bst_glove_load(const char *path, bst_glove *out, char *msg, size_t cap)
{
    return load_with(path, glove_parse, out, sizeof *out, msg, cap);
}

void bst_glove_free(bst_glove *g)
{
    if (!g)
        return;
    free(g->word);
    free(g->vec);
    bst_strtab_free(&g->index);
    free(g->buf);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------- STS */

static const char sick_header[] =
    "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment";

/* Score field f of line no in [lo, hi]. */
static int sts_score(const char *f, double lo, double hi, const char *what,
                     long long no, const char *name, double *out, char *msg,
                     size_t cap)
{
    double v;
    if (parse_float(f, &v) != BST_OK || v < lo || v > hi)
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: %s '%.40s' (expected a number in [%g, %g])", what,
                    no, name, f, lo, hi);
    *out = v;
    return BST_OK;
}

static int sick_fields(char **f, const char *what, long long no, char *msg,
                       size_t cap)
{
    const char *id = f[0];
    if (!*id || strspn(id, "0123456789") != strlen(id) || strlen(id) > 18)
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: pair_ID '%.40s' (expected a non-negative "
                    "integer)",
                    what, no, id);
    if (strcmp(f[4], "NEUTRAL") && strcmp(f[4], "ENTAILMENT") &&
        strcmp(f[4], "CONTRADICTION"))
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: entailment_judgment '%.40s' (expected "
                    "NEUTRAL, ENTAILMENT or CONTRADICTION)",
                    what, no, f[4]);
    return BST_OK;
}

/* Line i of L into pair k. */
static int sts_line(bst_sts *s, const lines *L, int64_t i, int64_t k, char *msg,
                    size_t cap)
{
    char *f[5];
    int want = s->sick ? 5 : 3;
    long long no = (long long)i + 1;
    int nf = count_fields(L->line[i], '\t');
    if (nf != want)
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: %d tab-separated fields (expected %s)", L->what,
                    no, nf,
                    s->sick ? "pair_ID, sentence_A, sentence_B, "
                              "relatedness_score, entailment_judgment"
                            : "score<TAB>sentence1<TAB>sentence2");
    split_fields(L->line[i], '\t', f, nf);
    int rc = s->sick ? sick_fields(f, L->what, no, msg, cap) : BST_OK;
    if (rc == BST_OK)
        rc = s->sick ? sts_score(f[3], 1, 5, L->what, no, "relatedness_score",
                                 &s->score[k], msg, cap)
                     : sts_score(f[0], 0, 5, L->what, no, "score", &s->score[k],
                                 msg, cap);
    if (rc != BST_OK)
        return rc;
    s->s1[k] = f[1]; /* the sentences are fields 2 and 3 in both formats */
    s->s2[k] = f[2];
    if (blank(s->s1[k]) || blank(s->s2[k]))
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s:%lld: empty sentence %d (expected two non-empty "
                    "sentences)",
                    L->what, no, blank(s->s1[k]) ? 1 : 2);
    return BST_OK;
}

static int sts_fill(bst_sts *s, const lines *L, char *msg, size_t cap)
{
    int64_t first = s->sick ? 1 : 0, n = L->n - first;
    if (n <= 0)
        return fail(msg, cap, BST_ERR_FORMAT,
                    "%s: no sentence pairs (expected %s lines)", L->what,
                    s->sick ? "SICK" : "score<TAB>s1<TAB>s2");
    s->score = malloc((size_t)n * sizeof *s->score);
    s->s1 = malloc((size_t)n * sizeof *s->s1);
    s->s2 = malloc((size_t)n * sizeof *s->s2);
    if (!s->score || !s->s1 || !s->s2)
        return fail(msg, cap, BST_ERR_NOMEM, "%s: out of memory", L->what);
    for (int64_t k = 0; k < n; k++) {
        int rc = sts_line(s, L, first + k, k, msg, cap);
        if (rc != BST_OK)
            return rc;
    }
    s->n = n;
    return BST_OK;
}

static int sts_parse(const char *text, size_t len, const char *what, void *vout,
                     char *msg, size_t cap)
{
    bst_sts *s = vout;
    lines L;
    int rc = split_lines(text, len, what, &L, msg, cap);
    if (rc != BST_OK)
        return rc;
    s->sick = L.n > 0 && strncmp(L.line[0], "pair_ID\t", 8) == 0;
    if (s->sick && strcmp(L.line[0], sick_header) != 0)
        rc = fail(msg, cap, BST_ERR_FORMAT,
                  "%s:1: SICK header with other columns (expected pair_ID, "
                  "sentence_A, sentence_B, relatedness_score, "
                  "entailment_judgment, tab-separated)",
                  what);
    else
        rc = sts_fill(s, &L, msg, cap);
    free(L.line);
    if (rc != BST_OK) {
        free(L.buf);
        bst_sts_free(s);
        return rc;
    }
    s->buf = L.buf;
    return BST_OK;
}

int bst_sts_parse(const char *text, size_t len, const char *what, bst_sts *out,
                  char *msg, size_t cap)
{
    return parse_with(text, len, what, sts_parse, out, sizeof *out, msg, cap);
}

int bst_sts_load(const char *path, bst_sts *out, char *msg, size_t cap)
{
    return load_with(path, sts_parse, out, sizeof *out, msg, cap);
}

void bst_sts_free(bst_sts *s)
{
    if (!s)
        return;
    free(s->score);
    free(s->s1);
    free(s->s2);
    free(s->buf);
    memset(s, 0, sizeof *s);
}
