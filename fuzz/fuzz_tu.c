/*
 * fuzz_tu.c — libFuzzer target for the TU text reader (data/tu.h).
 *
 * Every input goes through bst_tu_parse (raw bytes, not NUL-terminated).
 * An accepted data set must satisfy everything the reader promises (offsets
 * monotone, neighbours local and in range, no self loops, symmetric, slots
 * and classes in range); it is then gathered into a graph batch
 * (train/gbatch.h) in reverse order, whose ids must be batch-local.  A
 * rejection must leave *out zeroed with a one-line message.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "gbatch.h"
#include "tu.h"

/* 1 if node v (of graph g) lists u. */
static int lists(const bst_tu *d, int64_t v, int32_t u)
{
    for (int64_t k = d->adj_off[v]; k < d->adj_off[v + 1]; k++)
        if (d->adj[k] == u)
            return 1;
    return 0;
}

static void check_graph(const bst_tu *d, int64_t g)
{
    int64_t v0 = d->node_off[g], n = d->node_off[g + 1] - v0;
    CHECK(n >= 1);
    CHECK(d->label[g] >= 0 && d->label[g] < d->classes);
    for (int64_t v = v0; v < v0 + n; v++) {
        CHECK(d->adj_off[v + 1] >= d->adj_off[v]);
        CHECK(d->feat_idx[v] >= 0 && d->feat_idx[v] < d->feat);
        for (int64_t k = d->adj_off[v]; k < d->adj_off[v + 1]; k++) {
            int32_t u = d->adj[k];
            CHECK(u >= 0 && u < n && u != v - v0);
            CHECK(lists(d, v0 + u, (int32_t)(v - v0)));
        }
    }
}

static void check_batch(const bst_tu *d)
{
    int64_t *ids = malloc((size_t)d->graphs * sizeof *ids);
    CHECK(ids != NULL);
    for (int64_t i = 0; i < d->graphs; i++)
        ids[i] = d->graphs - 1 - i;
    bst_gbatch b = {0};
    char msg[256] = "";
    int rc = bst_gbatch_gather(&b, d, ids, d->graphs, msg, sizeof msg);
    CHECK(rc == BST_OK || rc == BST_ERR_NOMEM);
    if (rc == BST_OK) {
        CHECK(b.graphs == d->graphs && b.nodes == d->nodes &&
              b.edges == d->edges && b.feat == d->feat);
        for (int64_t k = 0; k < b.edges; k++)
            CHECK(b.adj[k] >= 0 && b.adj[k] < b.nodes);
        float sum = 0;
        for (int64_t i = 0; i < b.nodes * b.feat; i++)
            sum += b.x[i];
        CHECK(sum == (float)b.nodes || b.nodes > (1 << 24));
    }
    bst_gbatch_free(&b);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bst_tu d;
    char msg[512];
    memset(msg, 'x', sizeof msg);
    msg[sizeof msg - 1] = '\0';
    int rc =
        bst_tu_parse((const char *)data, size, "fuzz", &d, msg, sizeof msg);
    if (rc == BST_OK) {
        CHECK(d.graphs >= 1 && d.classes >= 2 && d.feat >= 1);
        CHECK(d.node_off[0] == 0 && d.node_off[d.graphs] == d.nodes);
        CHECK(d.adj_off[d.nodes] == d.edges && d.fold == NULL);
        for (int64_t g = 0; g < d.graphs; g++)
            check_graph(&d, g);
        check_batch(&d);
    } else {
        CHECK(rc == BST_ERR_FORMAT || rc == BST_ERR_NOMEM);
        CHECK(d.node_off == NULL && d.adj == NULL && d.graphs == 0);
        CHECK(strchr(msg, '\n') == NULL && msg[0] != '\0' && msg[0] != 'x');
    }
    bst_tu_free(&d);
    return 0;
}
