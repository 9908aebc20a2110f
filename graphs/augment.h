/*
 * augment.h — GraphCL's views of a batch of TU graphs (unsupervised_TU,
 * aug.py and gsimclr.py), written into a bst_gbatch for the GIN layers.
 *
 * As the reference's TUDataset_aug.get, every graph first gets self loops
 * on its nodes 0 .. max-1 (max = the largest node id in its edges; the
 * reference's `range(edge_index.max())`, so the last such node has none),
 * which makes GIN's sum count those nodes twice; the original view and
 * the evaluation embeddings keep them.  Then, per graph, with n nodes and
 * E directed entries (self loops included):
 *   dnodes    drop floor(n / 10) nodes (uniform, without replacement) and
 *             every entry touching them;
 *   pedges    remove floor(E / 10) entries (uniform, without replacement;
 *             directed: the reverse entry stays), add none;
 *   subgraph  the reference's subgraph(): start at a uniform node s; while
 *             the subgraph holds <= floor(0.2 n) nodes (at most n draws),
 *             draw a node uniformly from the neighbour set of s and add it
 *             if new.  The reference's `idx_neigh.union(...)` discards its
 *             result, so the set never grows past s's neighbours (s itself
 *             included through its loop): the subgraph is s and some of
 *             its neighbours.  We keep that behaviour and say so;
 *   mask      floor(n / 10) nodes' feature rows replaced by N(0.5, 0.5^2)
 *             draws (mask_nodes);
 *   randomK   per graph, uniformly one of the first K of (dnodes,
 *             subgraph, pedges, mask) — the reference's order.
 * For dnodes, subgraph and randomK the training loop of gsimclr.py then
 * keeps only the nodes that still appear in an entry and drops the self
 * loops; so do we (pedges and mask alone keep every node and the loops).
 * Where that would leave a graph with no node (only possible when s is the
 * loop-less last node and no neighbour was drawn), the augmentation's own
 * node set is kept instead, without edges.
 *
 * Randomness: graph `id` at step `step` draws from bs_rng_derive(seed,
 * BSG_STREAM_AUGMENT, step * 2^32 + id): the view depends on (seed, step,
 * id) only, not on the batch position or thread count.
 *
 * Thread safety: reentrant; one batch per thread.  Errors: BST_OK,
 * BST_ERR_INVAL (bad kind or ids, with a one-line message), BST_ERR_NOMEM.
 */
#ifndef BS_GRAPHS_AUGMENT_H
#define BS_GRAPHS_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "gbatch.h"
#include "tu.h"

enum { BSG_STREAM_AUGMENT = 0x6701 };

typedef enum {
    BSG_AUG_NONE = 0, /* the original view (with the reference's loops) */
    BSG_AUG_DNODES,
    BSG_AUG_PEDGES,
    BSG_AUG_SUBGRAPH,
    BSG_AUG_MASK,
    BSG_AUG_RANDOM2,
    BSG_AUG_RANDOM3,
    BSG_AUG_RANDOM4,
    BSG_AUG_COUNT
} bsg_aug_kind;

/* "none", "dnodes", "pedges", "subgraph", "mask_nodes", "random2",
   "random3", "random4"; NULL for a bad kind. */
const char *bsg_aug_name(bsg_aug_kind k);
/* 0 and *k set, or -1 for an unknown name. */
int bsg_aug_parse(const char *s, bsg_aug_kind *k);

/* The view `kind` of graphs ids[0..count) of d into b (features one-hot
   of d->feat_idx, mask noise where masked).  b is grown as needed. */
int bsg_view_build(bst_gbatch *b, const bst_tu *d, const int64_t *ids,
                   int64_t count, bsg_aug_kind kind, uint64_t seed,
                   int64_t step, char *msg, size_t cap);

#endif /* BS_GRAPHS_AUGMENT_H */
