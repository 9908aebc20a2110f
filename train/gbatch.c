/*
 * gbatch.c — a mini-batch of graphs (gbatch.h): the arrays grow
 * geometrically and are never shrunk, so refilling one batch every step
 * allocates only in the first few steps.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gbatch.h"

/* Grows *p to hold need elements of size elt (at least 1.5x the old
   capacity, so batches of slowly varying size do not realloc each step);
   *cap is updated.  0 or -1 (no memory: *p is unchanged). */
static int grow(void **p, int64_t *cap, int64_t need, size_t elt)
{
    if (need <= *cap && *p)
        return 0;
    int64_t n = *cap + *cap / 2;
    if (n < need)
        n = need;
    if (n < 1)
        n = 1;
    if ((uint64_t)n > SIZE_MAX / elt)
        return -1;
    void *q = realloc(*p, (size_t)n * elt);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* x holds exactly cap_nodes * feat floats: it follows the node capacity
   and the feature width of the last reserve. */
static int reserve_x(bst_gbatch *b, int64_t old_nodes, int feat)
{
    if (b->x && old_nodes == b->cap_nodes && feat == b->feat)
        return 0;
    if (b->cap_nodes > 0 &&
        (uint64_t)feat > SIZE_MAX / sizeof(float) / (uint64_t)b->cap_nodes)
        return -1;
    size_t n = (size_t)b->cap_nodes * (size_t)feat;
    float *q = realloc(b->x, (n > 0 ? n : 1) * sizeof *q);
    if (!q)
        return -1;
    b->x = q;
    b->feat = feat;
    return 0;
}

int bst_gbatch_reserve(bst_gbatch *b, int64_t graphs, int64_t nodes,
                       int64_t edges, int feat)
{
    if (!b || graphs < 0 || nodes < 0 || edges < 0 || feat < 0)
        return BST_ERR_INVAL;
    int64_t cap_g = b->cap_graphs, cap_n = b->cap_nodes;
    /* node_off and adj_off hold one more entry than graphs / nodes */
    int64_t cg = cap_g > 0 ? cap_g + 1 : 0, cn = cap_n > 0 ? cap_n + 1 : 0;
    if (grow((void **)&b->node_off, &cg, graphs + 1, sizeof *b->node_off) ||
        grow((void **)&b->adj_off, &cn, nodes + 1, sizeof *b->adj_off) ||
        grow((void **)&b->adj, &b->cap_edges, edges, sizeof *b->adj))
        return BST_ERR_NOMEM;
    b->cap_graphs = cg - 1;
    b->cap_nodes = cn - 1;
    return reserve_x(b, cap_n, feat) ? BST_ERR_NOMEM : BST_OK;
}

/* Checks the arguments and sums the nodes and edges of the chosen graphs. */
static int gather_sizes(const bst_tu *d, const int64_t *ids, int64_t count,
                        int64_t *nodes, int64_t *edges, char *msg, size_t cap)
{
    if (!d || count < 0 || (count > 0 && !ids))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_gbatch_gather: expected a data set and count "
                        ">= 0 ids (got %s, count %lld)",
                        d ? "ids NULL" : "d NULL", (long long)count);
    *nodes = *edges = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t g = ids[i];
        if (g < 0 || g >= d->graphs)
            return bst_fail(msg, cap, BST_ERR_INVAL,
                            "bst_gbatch_gather: ids[%lld] = %lld; expected a "
                            "graph id in [0, %lld)",
                            (long long)i, (long long)g, (long long)d->graphs);
        int64_t v0 = d->node_off[g], v1 = d->node_off[g + 1];
        *nodes += v1 - v0;
        *edges += d->adj_off[v1] - d->adj_off[v0];
    }
    return BST_OK;
}

/* Writes graph g of d at batch node `at`, adjacency entry `eat`: offsets
   rebased, neighbour ids shifted to batch-local, one-hot rows (x is zeroed
   by the caller). */
static void copy_graph(bst_gbatch *b, const bst_tu *d, int64_t g, int64_t at,
                       int64_t eat)
{
    int64_t v0 = d->node_off[g], n = d->node_off[g + 1] - v0;
    int64_t e0 = d->adj_off[v0], ne = d->adj_off[v0 + n] - e0;
    for (int64_t v = 0; v < n; v++) {
        b->adj_off[at + v + 1] = eat + d->adj_off[v0 + v + 1] - e0;
        b->x[(size_t)(at + v) * (size_t)d->feat + (size_t)d->feat_idx[v0 + v]] =
            1.0f;
    }
    for (int64_t k = 0; k < ne; k++)
        b->adj[eat + k] = (int32_t)(at + d->adj[e0 + k]);
}

int bst_gbatch_gather(bst_gbatch *b, const bst_tu *d, const int64_t *ids,
                      int64_t count, char *msg, size_t cap)
{
    int64_t nodes = 0, edges = 0;
    if (!b)
        return bst_fail(msg, cap, BST_ERR_INVAL, "bst_gbatch_gather: b NULL");
    int rc = gather_sizes(d, ids, count, &nodes, &edges, msg, cap);
    if (rc)
        return rc;
    /* batch-local ids are int32 (the graph layers' CSR) */
    if (nodes > INT32_MAX)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "bst_gbatch_gather: %lld nodes; expected at most %d",
                        (long long)nodes, INT32_MAX);
    if (bst_gbatch_reserve(b, count, nodes, edges, d->feat))
        return bst_fail(msg, cap, BST_ERR_NOMEM,
                        "bst_gbatch_gather: out of memory (%lld graphs, %lld "
                        "nodes, %lld edges)",
                        (long long)count, (long long)nodes, (long long)edges);
    memset(b->x, 0, (size_t)nodes * (size_t)d->feat * sizeof *b->x);
    b->node_off[0] = 0;
    b->adj_off[0] = 0;
    int64_t at = 0, eat = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t g = ids[i];
        copy_graph(b, d, g, at, eat);
        at += d->node_off[g + 1] - d->node_off[g];
        eat = b->adj_off[at];
        b->node_off[i + 1] = at;
    }
    b->graphs = count;
    b->nodes = nodes;
    b->edges = edges;
    b->feat = d->feat;
    return BST_OK;
}

void bst_gbatch_free(bst_gbatch *b)
{
    if (!b)
        return;
    free(b->node_off);
    free(b->adj_off);
    free(b->adj);
    free(b->x);
    memset(b, 0, sizeof *b);
}
