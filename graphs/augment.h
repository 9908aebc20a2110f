/*
 * augment.h — GraphCL's views of a batch of TU graphs, as the RELEASED
 * reference does them (Shen-Lab/GraphCL, unsupervised_TU: aug.py's
 * TUDataset_aug.get and augmentations, then gsimclr.py's clean-up), quirks
 * included, so that our numbers can be compared with the published ones.
 *
 * Self loops.  As TUDataset_aug.get, every graph first gets loops (v, v)
 * for v in 0 .. max-1, max = the largest node id in its edges (the
 * reference's `range(edge_index.max())`: the node `max` itself, and any
 * isolated node above it, gets none).  The original view and the
 * evaluation embeddings keep them (GIN's sum then counts those nodes
 * twice).  Below, n = nodes, E = directed entries, loops included.
 *
 *   dnodes    draws floor(n / 10) nodes (uniform, without replacement;
 *             the reference's idx_drop), builds the dense adjacency and
 *             zeroes the rows and columns of the OTHER nodes (released:
 *             `adj[idx_nondrop, :] = 0`): the entries that survive are
 *             those among the DRAWN nodes, loops included — the view is
 *             the subgraph induced by the floor(n / 10) drawn nodes, not the
 *             graph without them.  n < 10 draws none: no entry survives.
 *   pedges    keeps a uniform subset of E - floor(E / 10) entries (without
 *             replacement; directed, so an edge's reverse entry may stay),
 *             in the order drawn; adds none (the released code computes
 *             random additions and discards them).
 *   subgraph  sub = floor(0.2 n); S = [s], s uniform; N = the targets of
 *             the entries leaving s (s itself when s < max, by its loop).
 *             Loop: count += 1; stop when count > n or N is empty; draw u
 *             uniformly from N; skip it if in S, else append it; stop once
 *             |S| > sub.  The released `idx_neigh.union(...)` discards its
 *             result, so N never grows: S is s and some of its neighbours.
 *             Then, as dnodes, the rows and columns of S are zeroed: the
 *             surviving entries are those among the nodes NOT in S — the
 *             view REMOVES s and its sampled neighbours.
 *   mask_nodes floor(n / 10) nodes (uniform, without replacement) get
 *             feature rows of N(0.5, 0.5^2) draws (every column).
 *   random2   per graph, uniformly one of (0 dnodes, 1 subgraph);
 *   random3   one of (0 dnodes, 1 pedges, 2 subgraph);
 *   random4   one of (0 dnodes, 1 pedges, 2 subgraph, 3 mask_nodes) — the
 *             reference's order.
 *
 * Clean-up.  gsimclr.py, keyed on the --aug ARGUMENT (dnodes, subgraph,
 * random2/3/4), not on the augmentation drawn, keeps only the nodes that
 * appear at either end of a remaining entry, renumbers them in increasing
 * order and removes the self loops.  So under random3/4 it also runs after
 * pedges or mask_nodes (a node that lost all its entries goes, the loops
 * go); pedges and mask_nodes as --aug keep every node and the loops.
 *
 * A graph left with no entry therefore has no node (dnodes for n < 10,
 * often for small graphs).  We keep it in the batch with zero nodes: its
 * pooled embedding is the zero vector, its cosine with anything 0 (the
 * loss clamps norms at 1e-12).  In the reference (PyG) such a graph is
 * absent from the batch vector: in the middle of a batch it also pools to
 * zeros; as the batch's last graph it shortens the pooled matrix and
 * loss_cal fails on the shape mismatch.
 *
 * Randomness: graph `id` at step `step` draws from bs_rng_derive(seed,
 * BSG_STREAM_AUGMENT, step * 2^32 + id): the view depends on (seed, step,
 * id) only, not on the batch position or thread count.  The draws are
 * ours (not numpy's): the same distribution, not the same samples.
 *
 * Features (bsg_features_apply): the reference REPLACES node features by a
 * constant 1 for every data set but MUTAG, PTC_MR, DD, PROTEINS, NCI1 and
 * NCI109 (so IMDB-B / IMDB-M train on constant features).  `auto` (tags
 * when the file has more than one distinct tag, else constant) gives that
 * on the six shipped sets.
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

/* Node features of a loaded data set. */
typedef enum {
    BSG_FEAT_AUTO = 0, /* tags if the file has > 1 distinct tag, else
                          constant (the reference on the six sets) */
    BSG_FEAT_TAGS,     /* one-hot tags; a file with one distinct tag: its
                          one-hot is the constant 1 */
    BSG_FEAT_DEGREE,   /* one-hot degree, capped as data/tu.h does */
    BSG_FEAT_CONSTANT, /* every node 1 (one slot) */
    BSG_FEAT_COUNT
} bsg_feat_kind;

/* "auto", "tags", "degree", "constant"; NULL for a bad kind. */
const char *bsg_feat_name(bsg_feat_kind k);
int bsg_feat_parse(const char *s, bsg_feat_kind *k); /* 0, or -1 */

/* Rewrites d->feat_idx, d->feat and d->degree_features (as the TU reader
   leaves them: tags when the file has > 1 distinct tag, else degrees) for
   kind k.  BST_OK, BST_ERR_INVAL (bad kind / NULL) or BST_ERR_NOMEM. */
int bsg_features_apply(bst_tu *d, bsg_feat_kind k, char *msg, size_t cap);

#endif /* BS_GRAPHS_AUGMENT_H */
