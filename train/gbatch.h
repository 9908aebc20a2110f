/*
 * gbatch.h — a mini-batch of graphs as the graph layers see it: the graphs'
 * nodes stacked, one CSR adjacency over the batch-local node ids, dense
 * node features.  Built from a data set (bst_gbatch_gather) and rewritten
 * by augmentations (graphs/), which may drop nodes and edges.
 *
 * Memory: the struct owns its arrays and grows them as needed
 * (bst_gbatch_reserve), so one batch can be refilled every step without
 * allocating.  Thread safety: one thread at a time per batch.
 */
#ifndef BS_TRAIN_GBATCH_H
#define BS_TRAIN_GBATCH_H

#include <stddef.h>
#include <stdint.h>

#include "tu.h"

typedef struct {
    int64_t graphs; /* graphs in the batch */
    int64_t nodes;  /* nodes over all of them */
    int64_t edges;  /* adjacency entries */
    int feat;       /* feature width */
    int64_t *
        node_off; /* (graphs+1): graph g's nodes [node_off[g], node_off[g+1]) */
    int64_t *adj_off; /* (nodes+1) */
    int32_t *adj;     /* (edges): batch-local node ids (node_off added) */
    float *x;         /* (nodes, feat) */
    int64_t cap_graphs, cap_nodes, cap_edges; /* allocated sizes */
} bst_gbatch;

/* Makes room for the given sizes (keeps contents; x's only while feat is
   unchanged) and sets b->feat = feat: x then holds cap_nodes * feat floats.
   Capacities grow at least 1.5x and never shrink.  BST_OK, BST_ERR_NOMEM,
   or BST_ERR_INVAL (b NULL or a negative size). */
int bst_gbatch_reserve(bst_gbatch *b, int64_t graphs, int64_t nodes,
                       int64_t edges, int feat);
/* The graphs ids[0..count) of d, in that order (repeats allowed), with
   their one-hot features (x zeroed, x[v * d->feat + feat_idx] = 1); feat =
   d->feat.  count 0 gives an empty batch (ids may then be NULL).  BST_OK,
   BST_ERR_NOMEM or BST_ERR_INVAL (an id out of range, NULL arguments, more
   than INT32_MAX nodes), with a one-line message in msg. */
int bst_gbatch_gather(bst_gbatch *b, const bst_tu *d, const int64_t *ids,
                      int64_t count, char *msg, size_t cap);
/* Frees the arrays and zeroes *b (safe on a zeroed struct). */
void bst_gbatch_free(bst_gbatch *b);

#endif /* BS_TRAIN_GBATCH_H */
