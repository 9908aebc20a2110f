/* augment.c — GraphCL's views of TU graphs (augment.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "engine.h"
#include "rng.h"

#define BSG_PI 3.14159265358979323846

static const char *const NAMES[BSG_AUG_COUNT] = {
    "none",       "dnodes",  "pedges",  "subgraph",
    "mask_nodes", "random2", "random3", "random4"};

const char *bsg_aug_name(bsg_aug_kind k)
{
    return (unsigned)k < BSG_AUG_COUNT ? NAMES[k] : NULL;
}

/* the index of s in names[0..count), or -1 */
static int name_index(const char *const *names, int count, const char *s)
{
    for (int i = 0; s && i < count; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int bsg_aug_parse(const char *s, bsg_aug_kind *k)
{
    int i = name_index(NAMES, BSG_AUG_COUNT, s);
    if (i >= 0)
        *k = (bsg_aug_kind)i;
    return i >= 0 ? 0 : -1;
}

/* One graph being augmented: directed entries src -> dst (local ids),
   node flags, scratch. */
typedef struct {
    int64_t n, e;         /* nodes, live entries */
    int32_t *src, *dst;   /* (cap) entries */
    int32_t *src2, *dst2; /* (cap) scratch entries */
    uint8_t *keep;        /* (n) node survives the augmentation */
    uint8_t *masked;      /* (n) features replaced by noise */
    int32_t *perm;        /* (max(n, E)) scratch */
    int32_t *newid;       /* (n) */
    bs_rng rng;
} work;

/* the graph's entries u -> v (v's row lists u) plus loops 0..max-1 */
static void load_graph(work *w, const bst_tu *d, int64_t g)
{
    int64_t v0 = d->node_off[g];
    w->n = d->node_off[g + 1] - v0;
    w->e = 0;
    int32_t mx = -1;
    for (int64_t v = 0; v < w->n; v++)
        for (int64_t k = d->adj_off[v0 + v]; k < d->adj_off[v0 + v + 1]; k++) {
            w->src[w->e] = d->adj[k];
            w->dst[w->e++] = (int32_t)v;
            if (d->adj[k] > mx)
                mx = d->adj[k];
            if (v > mx)
                mx = (int32_t)v;
        }
    for (int32_t v = 0; v < mx; v++) {
        w->src[w->e] = v;
        w->dst[w->e++] = v;
    }
    memset(w->keep, 1, (size_t)w->n);
    memset(w->masked, 0, (size_t)w->n);
}

/* the first k of a uniform permutation of 0..n-1 in w->perm (a uniform
   draw of k without replacement, in the order drawn) */
static void choose(work *w, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < n; i++)
        w->perm[i] = (int32_t)i;
    for (int64_t i = 0; i < k; i++) {
        int64_t j = i + (int64_t)bs_rng_below(&w->rng, (uint64_t)(n - i));
        int32_t t = w->perm[i];
        w->perm[i] = w->perm[j];
        w->perm[j] = t;
    }
}

/* removes the entries touching a node with keep == 0 (the reference's
   zeroed rows and columns of the dense adjacency) */
static void drop_dead_entries(work *w)
{
    int64_t o = 0;
    for (int64_t k = 0; k < w->e; k++)
        if (w->keep[w->src[k]] && w->keep[w->dst[k]]) {
            w->src[o] = w->src[k];
            w->dst[o++] = w->dst[k];
        }
    w->e = o;
}

/* released drop_nodes: only the entries among the floor(n/10) DRAWN
   nodes survive */
static void aug_dnodes(work *w)
{
    int64_t drawn = w->n / 10;
    choose(w, w->n, drawn);
    memset(w->keep, 0, (size_t)w->n);
    for (int64_t i = 0; i < drawn; i++)
        w->keep[w->perm[i]] = 1;
    drop_dead_entries(w);
    memset(w->keep, 1, (size_t)w->n); /* nodes: the clean-up decides */
}

/* E - floor(E/10) entries, uniform without replacement, in drawn order */
static void aug_pedges(work *w)
{
    int64_t kept = w->e - w->e / 10;
    choose(w, w->e, kept);
    for (int64_t i = 0; i < kept; i++) {
        w->src2[i] = w->src[w->perm[i]];
        w->dst2[i] = w->dst[w->perm[i]];
    }
    memcpy(w->src, w->src2, sizeof(int32_t) * (size_t)kept);
    memcpy(w->dst, w->dst2, sizeof(int32_t) * (size_t)kept);
    w->e = kept;
}

/* released subgraph: S = s + sampled neighbours of s (the neighbour set
   never grows); the entries among the nodes NOT in S survive */
static void aug_subgraph(work *w)
{
    size_t nbytes = (size_t)(uint32_t)w->n; /* graphs have < 2^31 nodes */
    int64_t sub = (int64_t)((double)w->n * 0.2);
    int32_t s = (int32_t)bs_rng_below(&w->rng, (uint64_t)w->n);
    /* the neighbour set of s: targets of entries leaving s, in id order */
    int32_t *nb = w->perm, nn = 0;
    uint8_t *in_s = w->keep; /* borrowed: first as the neighbour set */
    memset(in_s, 0, nbytes);
    for (int64_t k = 0; k < w->e; k++)
        if (w->src[k] == s)
            in_s[w->dst[k]] = 1;
    for (int32_t v = 0; v < w->n; v++)
        if (in_s[v])
            nb[nn++] = v;
    memset(in_s, 0, nbytes);
    in_s[s] = 1;
    int64_t have = 1;
    for (int64_t count = 1; have <= sub && count <= w->n && nn > 0; count++) {
        int32_t v = nb[bs_rng_below(&w->rng, (uint64_t)nn)];
        if (!in_s[v])
            in_s[v] = 1, have++;
    }
    for (int64_t v = 0; v < w->n; v++)
        w->keep[v] = !in_s[v];
    drop_dead_entries(w);
    memset(w->keep, 1, nbytes); /* nodes: the clean-up decides */
}

static void aug_mask(work *w)
{
    int64_t m = w->n / 10;
    choose(w, w->n, m);
    for (int64_t i = 0; i < m; i++)
        w->masked[w->perm[i]] = 1;
}

/* gsimclr.py's clean-up: the nodes in no entry go (possibly all of
   them), the loops go */
static void postprocess(work *w)
{
    memset(w->keep, 0, (size_t)w->n);
    for (int64_t k = 0; k < w->e; k++)
        w->keep[w->src[k]] = w->keep[w->dst[k]] = 1;
    int64_t o = 0;
    for (int64_t k = 0; k < w->e; k++)
        if (w->src[k] != w->dst[k]) {
            w->src[o] = w->src[k];
            w->dst[o++] = w->dst[k];
        }
    w->e = o;
}

static void augment(work *w, bsg_aug_kind kind)
{
    static const bsg_aug_kind pool2[2] = {BSG_AUG_DNODES, BSG_AUG_SUBGRAPH};
    static const bsg_aug_kind pool4[4] = {BSG_AUG_DNODES, BSG_AUG_PEDGES,
                                          BSG_AUG_SUBGRAPH, BSG_AUG_MASK};
    /* keyed on the requested kind, as gsimclr.py on args.aug */
    int post = kind == BSG_AUG_DNODES || kind == BSG_AUG_SUBGRAPH ||
               kind >= BSG_AUG_RANDOM2;
    if (kind == BSG_AUG_RANDOM2)
        kind = pool2[bs_rng_below(&w->rng, 2)];
    else if (kind == BSG_AUG_RANDOM3 || kind == BSG_AUG_RANDOM4)
        kind = pool4[bs_rng_below(&w->rng, kind == BSG_AUG_RANDOM3 ? 3 : 4)];
    switch (kind) {
    case BSG_AUG_DNODES: aug_dnodes(w); break;
    case BSG_AUG_PEDGES: aug_pedges(w); break;
    case BSG_AUG_SUBGRAPH: aug_subgraph(w); break;
    case BSG_AUG_MASK: aug_mask(w); break;
    default: break;
    }
    if (post)
        postprocess(w);
}

/* appends the kept nodes (features) and entries of w to b */
static void emit(bst_gbatch *b, const bst_tu *d, int64_t g, work *w)
{
    int64_t base = b->nodes, v0 = d->node_off[g], m = 0;
    int F = d->feat;
    for (int64_t v = 0; v < w->n; v++) {
        w->newid[v] = w->keep[v] ? (int32_t)(base + m++) : -1;
        if (!w->keep[v])
            continue;
        float *x = b->x + (size_t)w->newid[v] * F;
        if (w->masked[v]) {
            for (int c = 0; c < F; c += 2) { /* Box-Muller, N(0.5, 0.5^2) */
                double u1 = 1.0 - bs_rng_uniform(&w->rng);
                double u2 = bs_rng_uniform(&w->rng), r = sqrt(-2 * log(u1));
                x[c] = (float)(0.5 + 0.5 * r * cos(2 * BSG_PI * u2));
                if (c + 1 < F)
                    x[c + 1] = (float)(0.5 + 0.5 * r * sin(2 * BSG_PI * u2));
            }
        } else {
            memset(x, 0, sizeof(float) * (size_t)F);
            x[d->feat_idx[v0 + v]] = 1;
        }
    }
    /* CSR rows of the new nodes: counting sort of the entries by target */
    int64_t *off = b->adj_off + base;
    for (int64_t i = 0; i <= m; i++)
        off[i] = b->edges;
    for (int64_t k = 0; k < w->e; k++)
        off[w->newid[w->dst[k]] - base + 1]++;
    for (int64_t i = 1; i <= m; i++)
        off[i] += off[i - 1] - b->edges;
    int64_t *fill = (int64_t *)w->perm; /* not needed any more */
    for (int64_t i = 0; i < m; i++)
        fill[i] = off[i];
    for (int64_t k = 0; k < w->e; k++) {
        int64_t t = w->newid[w->dst[k]] - base;
        b->adj[fill[t]++] = w->newid[w->src[k]];
    }
    b->nodes += m;
    b->edges = off[m];
    b->node_off[++b->graphs] = b->nodes;
}

static int check_ids(const bst_tu *d, const int64_t *ids, int64_t count,
                     bsg_aug_kind kind, int64_t *nodes, int64_t *entries,
                     int64_t *maxn, char *msg, size_t cap)
{
    *nodes = *entries = *maxn = 0;
    if (!d || !ids || count < 1 || (unsigned)kind >= BSG_AUG_COUNT)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "graph view: expected a data set, >= 1 ids and a "
                        "known augmentation");
    *nodes = *entries = *maxn = 0;
    for (int64_t i = 0; i < count; i++) {
        if (ids[i] < 0 || ids[i] >= d->graphs)
            return bst_fail(msg, cap, BST_ERR_INVAL,
                            "graph view: id %lld outside 0..%lld",
                            (long long)ids[i], (long long)d->graphs - 1);
        int64_t v0 = d->node_off[ids[i]], n = d->node_off[ids[i] + 1] - v0;
        int64_t e = d->adj_off[v0 + n] - d->adj_off[v0] + n;
        *nodes += n;
        *entries += e;
        if (n > *maxn)
            *maxn = n;
        if (e > *maxn)
            *maxn = e;
    }
    return BST_OK;
}

int bsg_view_build(bst_gbatch *b, const bst_tu *d, const int64_t *ids,
                   int64_t count, bsg_aug_kind kind, uint64_t seed,
                   int64_t step, char *msg, size_t cap)
{
    int64_t nodes, entries, maxn;
    int rc = check_ids(d, ids, count, kind, &nodes, &entries, &maxn, msg, cap);
    if (rc)
        return rc;
    if (bst_gbatch_reserve(b, count, nodes, entries, d->feat))
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for a view");
    work w = {0};
    size_t m = (size_t)maxn + 1;
    w.src = malloc(sizeof(int32_t) * m);
    w.dst = malloc(sizeof(int32_t) * m);
    w.src2 = malloc(sizeof(int32_t) * m);
    w.dst2 = malloc(sizeof(int32_t) * m);
    w.perm = malloc(sizeof(int64_t) * m); /* also the int64 fill cursors */
    w.newid = malloc(sizeof(int32_t) * m);
    w.keep = malloc(m);
    w.masked = malloc(m);
    if (!w.src || !w.dst || !w.src2 || !w.dst2 || !w.perm || !w.newid ||
        !w.keep || !w.masked)
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for a view");
    b->graphs = b->nodes = b->edges = 0;
    b->feat = d->feat;
    b->node_off[0] = 0;
    for (int64_t i = 0; !rc && i < count; i++) {
        load_graph(&w, d, ids[i]);
        bs_rng_derive(&w.rng, seed, BSG_STREAM_AUGMENT,
                      ((uint64_t)step << 32) + (uint64_t)ids[i]);
        augment(&w, kind);
        emit(b, d, ids[i], &w);
    }
    if (!rc)
        b->adj_off[b->nodes] = b->edges;
    free(w.src), free(w.dst), free(w.src2), free(w.dst2);
    free(w.perm), free(w.newid);
    free(w.keep), free(w.masked);
    return rc;
}

/* ------------------------------------------------------------ features */

static const char *const FEAT_NAMES[BSG_FEAT_COUNT] = {"auto", "tags", "degree",
                                                       "constant"};

const char *bsg_feat_name(bsg_feat_kind k)
{
    return (unsigned)k < BSG_FEAT_COUNT ? FEAT_NAMES[k] : NULL;
}

int bsg_feat_parse(const char *s, bsg_feat_kind *k)
{
    int i = name_index(FEAT_NAMES, BSG_FEAT_COUNT, s);
    if (i >= 0)
        *k = (bsg_feat_kind)i;
    return i >= 0 ? 0 : -1;
}

int bsg_features_apply(bst_tu *d, bsg_feat_kind k, char *msg, size_t cap)
{
    if (!d || (unsigned)k >= BSG_FEAT_COUNT)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "node features: expected a data set and auto, tags, "
                        "degree or constant");
    /* the reader gives degrees exactly when the file has one distinct
       tag, whose one-hot is the constant 1 */
    int constant =
        k == BSG_FEAT_CONSTANT || (k != BSG_FEAT_DEGREE && d->degree_features);
    if (constant) {
        memset(d->feat_idx, 0, sizeof(int32_t) * (size_t)d->nodes);
        d->feat = 1;
        d->degree_features = 0;
        return BST_OK;
    }
    if (k != BSG_FEAT_DEGREE || d->degree_features)
        return BST_OK; /* as loaded */
    int32_t top = 0;
    for (int64_t v = 0; v < d->nodes; v++) {
        int64_t deg = d->adj_off[v + 1] - d->adj_off[v];
        d->feat_idx[v] =
            (int32_t)(deg < BST_TU_DEGREE_CAP ? deg : BST_TU_DEGREE_CAP);
        top = d->feat_idx[v] > top ? d->feat_idx[v] : top;
    }
    d->feat = (int)top + 1;
    d->degree_features = 1;
    return BST_OK;
}
