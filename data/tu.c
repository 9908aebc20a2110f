/*
 * tu.c — reader for the TU graph-classification benchmarks in the GIN/DGCNN
 * text format (see tu.h).  The whole NAME.txt is read into memory and
 * parsed line by line with a bounds-checked scanner (the text need not be
 * NUL-terminated: the fuzzer hands raw bytes).  Arrays grow by doubling as
 * graphs are read, so a huge declared count in a short file costs nothing
 * before the file runs out.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tu.h"

#define TU_FOLDS 10
#define TU_MAX_NODES_PER_GRAPH 0x7fffffffLL /* local ids are int32 */

#if defined(__GNUC__)
#define TU_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TU_PRINTF(a, b)
#endif

/* Where messages go and what they name. */
typedef struct {
    const char *what;
    char *msg;
    size_t cap;
} tu_ctx;

/* A position in the text: [p, end), and the 1-based line of p. */
typedef struct {
    const char *p, *end;
    long long line;
} tu_cur;

/* The arrays as they grow while parsing (moved into bst_tu at the end). */
typedef struct {
    int64_t *node_off, *adj_off, *raw_tag, *raw_label, *keys;
    int32_t *adj;
    int64_t cap_g, cap_l, cap_v, cap_t, cap_e, cap_k;
    int64_t graphs, nodes, edges;
    int64_t max_degree;
} tu_build;

static int tu_fail(const tu_ctx *c, int code, const char *fmt, ...)
    TU_PRINTF(3, 4);

static int tu_fail(const tu_ctx *c, int code, const char *fmt, ...)
{
    if (c->msg && c->cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, c->cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Makes *p hold at least need elements of size elt (doubling). */
static int grow(void **p, int64_t *cap, int64_t need, size_t elt)
{
    if (need <= *cap)
        return 0;
    int64_t n = *cap > 0 ? *cap : 16;
    while (n < need)
        n *= 2;
    if ((uint64_t)n > SIZE_MAX / elt)
        return -1;
    void *q = realloc(*p, (size_t)n * elt);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* ------------------------------------------------------------ scanning */

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The next line holding anything but blanks: [*ls, *le) without its
   newline; c->line is then one past its number (tu_line).  0 at the end of
   the text. */
static int next_line(tu_cur *c, const char **ls, const char **le)
{
    while (c->p < c->end) {
        const char *s = c->p, *e = memchr(s, '\n', (size_t)(c->end - s));
        if (!e)
            e = c->end;
        c->p = e < c->end ? e + 1 : e;
        c->line++;
        while (s < e && is_space(*s))
            s++;
        if (s < e) {
            *ls = s;
            *le = e;
            return 1;
        }
    }
    return 0;
}

/* Reads one whitespace-delimited integer from [*p, e) into *v.  1 on
   success, 0 when there is no token, -1 for a malformed or out-of-range one
   (a token must end at a blank or the line's end). */
static int scan_int(const char **p, const char *e, int64_t *v)
{
    const char *q = *p;
    while (q < e && is_space(*q))
        q++;
    if (q == e)
        return 0;
    int neg = *q == '-';
    if (*q == '-' || *q == '+')
        q++;
    uint64_t acc = 0;
    const char *digits = q;
    while (q < e && *q >= '0' && *q <= '9') {
        acc = acc * 10 + (uint64_t)(*q - '0');
        if (acc > (uint64_t)INT64_MAX)
            return -1;
        q++;
    }
    if (q == digits || (q < e && !is_space(*q)))
        return -1;
    *v = neg ? -(int64_t)acc : (int64_t)acc;
    *p = q;
    return 1;
}

/* 1 if [p, e) holds only blanks (a CRLF line keeps its '\r'). */
static int rest_blank(const char *p, const char *e)
{
    while (p < e && is_space(*p))
        p++;
    return p == e;
}

/* Checks that what is left of a node line is numbers (the continuous
   attributes, ignored). */
static int scan_attrs(const char *p, const char *e)
{
    for (;;) {
        while (p < e && is_space(*p))
            p++;
        if (p == e)
            return 1;
        const char *s = p;
        while (p < e && !is_space(*p))
            p++;
        char tok[64];
        size_t len = (size_t)(p - s);
        if (len >= sizeof tok)
            return 0;
        memcpy(tok, s, len);
        tok[len] = '\0';
        char *end;
        (void)strtod(tok, &end);
        if (end != tok + len)
            return 0;
    }
}

/* ------------------------------------------------------------- parsing */

/* The line number of the line next_line returned last. */
static long long tu_line(const tu_cur *c)
{
    return c->line - 1;
}

/* Reads the first line: the number of graphs. */
static int parse_count(const tu_ctx *x, tu_cur *c, int64_t *g)
{
    const char *s, *e;
    if (!next_line(c, &s, &e))
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: empty; expected the number of graphs", x->what);
    if (scan_int(&s, e, g) != 1 || *g < 1 || !rest_blank(s, e))
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: line %lld: expected the number of graphs (an "
                       "integer >= 1 alone on the line)",
                       x->what, tu_line(c));
    return BST_OK;
}

/* Reads a block header `n label`. */
static int parse_header(const tu_ctx *x, tu_cur *c, int64_t g, int64_t *n,
                        int64_t *label)
{
    const char *s, *e;
    if (!next_line(c, &s, &e))
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: ends before graph %lld; expected its `n label` "
                       "line",
                       x->what, (long long)g);
    if (scan_int(&s, e, n) != 1 || scan_int(&s, e, label) != 1 ||
        !rest_blank(s, e) || *n < 1 || *n > TU_MAX_NODES_PER_GRAPH)
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: line %lld: graph %lld: expected `n label` (n in "
                       "1..%lld nodes, an integer label)",
                       x->what, tu_line(c), (long long)g,
                       (long long)TU_MAX_NODES_PER_GRAPH);
    return BST_OK;
}

/* Reads node i's line `tag m nb_1 .. nb_m [attrs]` of graph g (n nodes)
   and appends its tag and neighbours. */
static int parse_node(const tu_ctx *x, tu_cur *c, tu_build *b, int64_t g,
                      int64_t n, int64_t i)
{
    const char *s, *e;
    int64_t tag, m;
    if (!next_line(c, &s, &e))
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: ends in graph %lld at node %lld of %lld", x->what,
                       (long long)g, (long long)i, (long long)n);
    long long line = tu_line(c);
    if (scan_int(&s, e, &tag) != 1 || scan_int(&s, e, &m) != 1 || m < 0 ||
        m > (e - s) / 2)
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: line %lld: graph %lld node %lld: expected `tag m "
                       "nb_1 .. nb_m` with m >= 0 neighbours on the line",
                       x->what, line, (long long)g, (long long)i);
    if (grow((void **)&b->adj, &b->cap_e, b->edges + m, sizeof *b->adj))
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", x->what);
    for (int64_t k = 0; k < m; k++) {
        int64_t u;
        if (scan_int(&s, e, &u) != 1 || u < 0 || u >= n || u == i)
            return tu_fail(x, BST_ERR_FORMAT,
                           "%s: line %lld: graph %lld node %lld: neighbour "
                           "%lld of %lld: expected a node id in [0, %lld) "
                           "other than %lld",
                           x->what, line, (long long)g, (long long)i,
                           (long long)k + 1, (long long)m, (long long)n,
                           (long long)i);
        b->adj[b->edges++] = (int32_t)u;
    }
    if (!scan_attrs(s, e))
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: line %lld: graph %lld node %lld: expected numbers "
                       "(attributes) after the %lld neighbours",
                       x->what, line, (long long)g, (long long)i, (long long)m);
    b->raw_tag[b->nodes] = tag;
    b->adj_off[++b->nodes] = b->edges;
    if (m > b->max_degree)
        b->max_degree = m;
    return BST_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Graph g's adjacency (nodes [v0, v0 + n)) has no repeated neighbour and is
   symmetric: the sorted keys v*n+u must hold u*n+v for each of them. */
static int check_graph(const tu_ctx *x, tu_build *b, int64_t g, int64_t v0,
                       int64_t n)
{
    int64_t e0 = b->adj_off[v0], ne = b->adj_off[v0 + n] - e0;
    if (ne == 0)
        return BST_OK; /* no edges (and qsort must not see a NULL array) */
    if (grow((void **)&b->keys, &b->cap_k, ne, sizeof *b->keys))
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", x->what);
    for (int64_t v = 0; v < n; v++)
        for (int64_t k = b->adj_off[v0 + v]; k < b->adj_off[v0 + v + 1]; k++)
            b->keys[k - e0] = v * n + b->adj[k];
    qsort(b->keys, (size_t)ne, sizeof *b->keys, cmp_i64);
    for (int64_t k = 0; k < ne; k++) {
        int64_t v = b->keys[k] / n, u = b->keys[k] % n, rev = u * n + v;
        if (k > 0 && b->keys[k] == b->keys[k - 1])
            return tu_fail(x, BST_ERR_FORMAT,
                           "%s: graph %lld node %lld: neighbour %lld listed "
                           "twice; expected distinct neighbours",
                           x->what, (long long)g, (long long)v, (long long)u);
        if (!bsearch(&rev, b->keys, (size_t)ne, sizeof rev, cmp_i64))
            return tu_fail(x, BST_ERR_FORMAT,
                           "%s: graph %lld: node %lld lists %lld but node "
                           "%lld does not list %lld; expected a symmetric "
                           "adjacency",
                           x->what, (long long)g, (long long)v, (long long)u,
                           (long long)u, (long long)v);
    }
    return BST_OK;
}

/* Reads graph g: its header, its n nodes, then checks its adjacency. */
static int parse_graph(const tu_ctx *x, tu_cur *c, tu_build *b, int64_t g)
{
    int64_t n, label;
    int rc = parse_header(x, c, g, &n, &label);
    if (rc)
        return rc;
    /* a node line takes at least 4 bytes ("0 0\n"): a larger n cannot be
       in the rest of the text, and must not be allocated */
    if (n > (c->end - c->p) / 4 + 1)
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: line %lld: graph %lld declares %lld nodes; the "
                       "rest of the file is too short for them",
                       x->what, tu_line(c), (long long)g, (long long)n);
    int64_t v0 = b->nodes;
    if (grow((void **)&b->node_off, &b->cap_g, g + 2, sizeof *b->node_off) ||
        grow((void **)&b->raw_label, &b->cap_l, g + 1, sizeof *b->raw_label))
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", x->what);
    if (grow((void **)&b->raw_tag, &b->cap_t, v0 + n, sizeof *b->raw_tag) ||
        grow((void **)&b->adj_off, &b->cap_v, v0 + n + 1, sizeof *b->adj_off))
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", x->what);
    b->raw_label[g] = label;
    for (int64_t i = 0; i < n; i++)
        if ((rc = parse_node(x, c, b, g, n, i)))
            return rc;
    b->node_off[g + 1] = b->nodes;
    b->graphs = g + 1;
    return check_graph(x, b, g, v0, n);
}

/* The sorted distinct values of v[0..n) (malloc'ed) and their count. */
static int64_t *distinct(const int64_t *v, int64_t n, int64_t *count)
{
    int64_t *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s)
        return NULL;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (k == 0 || s[i] != s[k - 1])
            s[k++] = s[i];
    *count = k;
    return s;
}

/* out[i] = the rank of v[i] among the distinct values; their count. */
static int64_t rank_values(const int64_t *v, int64_t n, int32_t *out)
{
    int64_t k;
    int64_t *s = distinct(v, n, &k);
    if (!s)
        return -1;
    for (int64_t i = 0; i < n; i++)
        out[i] = (int32_t)((int64_t *)bsearch(&v[i], s, (size_t)k, sizeof *s,
                                              cmp_i64) -
                           s);
    free(s);
    return k;
}

/* Labels to classes and tags (or capped degrees) to one-hot slots. */
static int make_features(const tu_ctx *x, tu_build *b, bst_tu *d)
{
    d->label = malloc((size_t)b->graphs * sizeof *d->label);
    d->feat_idx = malloc((size_t)b->nodes * sizeof *d->feat_idx);
    if (!d->label || !d->feat_idx)
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", x->what);
    int64_t classes = rank_values(b->raw_label, b->graphs, d->label);
    int64_t tags = rank_values(b->raw_tag, b->nodes, d->feat_idx);
    if (classes < 0 || tags < 0)
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", x->what);
    if (classes < 2)
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: every graph has label %lld; expected at least "
                       "two classes",
                       x->what, (long long)b->raw_label[0]);
    d->classes = (int)classes;
    d->feat = (int)tags;
    if (tags > 1)
        return BST_OK;
    /* one distinct tag carries no information: capped degrees instead */
    d->degree_features = 1;
    d->feat = (int)(b->max_degree < BST_TU_DEGREE_CAP ? b->max_degree
                                                      : BST_TU_DEGREE_CAP) +
              1;
    for (int64_t v = 0; v < b->nodes; v++) {
        int64_t m = b->adj_off[v + 1] - b->adj_off[v];
        d->feat_idx[v] =
            (int32_t)(m < BST_TU_DEGREE_CAP ? m : BST_TU_DEGREE_CAP);
    }
    return BST_OK;
}

static void build_free(tu_build *b)
{
    free(b->node_off);
    free(b->adj_off);
    free(b->raw_tag);
    free(b->raw_label);
    free(b->keys);
    free(b->adj);
}

/* Parses every graph, then checks that nothing but blanks follows. */
static int parse_all(const tu_ctx *x, tu_cur *c, tu_build *b)
{
    int64_t g;
    int rc = parse_count(x, c, &g);
    if (rc)
        return rc;
    if (grow((void **)&b->node_off, &b->cap_g, 2, sizeof *b->node_off) ||
        grow((void **)&b->adj_off, &b->cap_v, 1, sizeof *b->adj_off))
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", x->what);
    b->node_off[0] = 0;
    b->adj_off[0] = 0;
    for (int64_t i = 0; i < g; i++)
        if ((rc = parse_graph(x, c, b, i)))
            return rc;
    const char *s, *e;
    if (next_line(c, &s, &e))
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s: line %lld: text after the %lld graphs the first "
                       "line announced",
                       x->what, tu_line(c), (long long)g);
    return BST_OK;
}

int bst_tu_parse(const char *text, size_t len, const char *what, bst_tu *out,
                 char *msg, size_t cap)
{
    tu_ctx x = {what ? what : "tu", msg, cap};
    if (!out)
        return tu_fail(&x, BST_ERR_INVAL, "bst_tu_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!text && len > 0)
        return tu_fail(&x, BST_ERR_INVAL, "bst_tu_parse: text is NULL");
    tu_cur c = {text, text + len, 1};
    tu_build b = {0};
    bst_tu d = {0};
    int rc = parse_all(&x, &c, &b);
    if (!rc)
        rc = make_features(&x, &b, &d);
    if (rc) {
        build_free(&b);
        bst_tu_free(&d);
        return rc;
    }
    snprintf(d.name, sizeof d.name, "%s", x.what); /* truncated */
    d.graphs = b.graphs;
    d.nodes = b.nodes;
    d.edges = b.edges;
    d.node_off = b.node_off;
    d.adj_off = b.adj_off;
    d.adj = b.adj;
    b.node_off = b.adj_off = NULL;
    b.adj = NULL;
    build_free(&b);
    *out = d;
    return BST_OK;
}

/* ----------------------------------------------------------- the folder */

/* The whole file, malloc'ed, in *text / *len. */
static int read_file(const tu_ctx *x, const char *path, char **text,
                     size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tu_fail(x, BST_ERR_IO, "cannot open %s: %s", path,
                       strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf)
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", path);
    if (err) {
        free(buf);
        return tu_fail(x, BST_ERR_IO, "cannot read %s", path);
    }
    *text = buf;
    *len = n;
    return BST_OK;
}

/* Reads DIR/10fold_idx/test_idx-K.txt: its ids go to fold k. */
static int read_fold(const tu_ctx *x, const char *path, int k, bst_tu *d)
{
    char *text;
    size_t len;
    int rc = read_file(x, path, &text, &len);
    if (rc)
        return rc;
    tu_ctx fx = {path, x->msg, x->cap};
    tu_cur c = {text, text + len, 1};
    const char *s, *e;
    while (!rc && next_line(&c, &s, &e)) {
        int64_t g;
        int r;
        while (!rc && (r = scan_int(&s, e, &g)) != 0) {
            if (r < 0 || g < 0 || g >= d->graphs)
                rc = tu_fail(&fx, BST_ERR_FORMAT,
                             "%s: line %lld: expected graph ids in [0, %lld)",
                             path, tu_line(&c), (long long)d->graphs);
            else if (d->fold[g] >= 0)
                rc = tu_fail(&fx, BST_ERR_FORMAT,
                             "%s: line %lld: graph %lld is already in test "
                             "split %d; expected the 10 splits to be disjoint",
                             path, tu_line(&c), (long long)g, d->fold[g] + 1);
            else
                d->fold[g] = (int8_t)k;
        }
    }
    free(text);
    return rc;
}

/* The 10 test splits, if DIR/10fold_idx exists.  The DGCNN splits hold
   floor(G / 10) graphs each, so G mod 10 graphs are in no test split (always
   training): fold -1; more than 9 such graphs is an error. */
static int read_folds(const tu_ctx *x, const char *dir, bst_tu *d)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/10fold_idx", dir);
    if (stat(path, &st) != 0)
        return BST_OK; /* no splits: fold stays NULL */
    d->fold = malloc((size_t)d->graphs);
    if (!d->fold)
        return tu_fail(x, BST_ERR_NOMEM, "%s: out of memory", dir);
    memset(d->fold, -1, (size_t)d->graphs);
    for (int k = 0; k < TU_FOLDS; k++) {
        snprintf(path, sizeof path, "%s/10fold_idx/test_idx-%d.txt", dir,
                 k + 1);
        int rc = read_fold(x, path, k, d);
        if (rc)
            return rc;
    }
    int64_t none = 0, first = -1;
    for (int64_t g = 0; g < d->graphs; g++)
        if (d->fold[g] < 0 && none++ == 0)
            first = g;
    if (none >= TU_FOLDS)
        return tu_fail(x, BST_ERR_FORMAT,
                       "%s/10fold_idx: %lld graphs (the first: %lld) are in "
                       "no test split; expected test_idx-1..10.txt to cover "
                       "all but at most 9",
                       dir, (long long)none, (long long)first);
    return BST_OK;
}

/* DIR without trailing slashes in dir_out, its base name in name. */
static int split_dir(const tu_ctx *x, const char *dir, char *dir_out,
                     size_t dcap, char *name, size_t ncap)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0 || len >= dcap - 64)
        return tu_fail(x, BST_ERR_IO,
                       "data folder '%s': expected a folder "
                       "path of 1..%zu characters",
                       dir, dcap - 65);
    memcpy(dir_out, dir, len);
    dir_out[len] = '\0';
    const char *slash = strrchr(dir_out, '/');
    const char *base = slash ? slash + 1 : dir_out;
    if (strlen(base) == 0 || strlen(base) >= ncap)
        return tu_fail(x, BST_ERR_IO,
                       "data folder '%s': expected a base name of 1..%zu "
                       "characters (the data set's NAME)",
                       dir, ncap - 1);
    snprintf(name, ncap, "%s", base);
    return BST_OK;
}

int bst_tu_load(const char *dir, bst_tu *out, char *msg, size_t cap)
{
    tu_ctx x = {dir, msg, cap};
    if (!out || !dir)
        return tu_fail(&x, BST_ERR_INVAL, "bst_tu_load: %s is NULL",
                       out ? "dir" : "out");
    memset(out, 0, sizeof *out);
    char d[3900], name[sizeof out->name], path[4096];
    struct stat st;
    int rc = split_dir(&x, dir, d, sizeof d, name, sizeof name);
    if (rc)
        return rc;
    int missing = stat(d, &st) != 0;
    if (missing || !S_ISDIR(st.st_mode))
        return tu_fail(&x, BST_ERR_IO,
                       "cannot open data folder %s: %s; expected a folder "
                       "holding NAME.txt in the TU text format",
                       d, missing ? strerror(errno) : "not a folder");
    snprintf(path, sizeof path, "%s/%s.txt", d, name);
    char *text;
    size_t len;
    if ((rc = read_file(&x, path, &text, &len)))
        return rc;
    rc = bst_tu_parse(text, len, path, out, msg, cap);
    free(text);
    if (!rc)
        rc = read_folds(&x, d, out);
    if (rc) {
        bst_tu_free(out);
        return rc;
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    return BST_OK;
}

void bst_tu_free(bst_tu *d)
{
    if (!d)
        return;
    free(d->node_off);
    free(d->adj_off);
    free(d->adj);
    free(d->feat_idx);
    free(d->label);
    free(d->fold);
    memset(d, 0, sizeof *d);
}
