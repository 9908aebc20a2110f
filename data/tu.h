/*
 * tu.h — reader for the TU graph-classification benchmarks in the GIN/DGCNN
 * text format (MUTAG, PTC, PROTEINS, NCI1, IMDBBINARY, IMDBMULTI; the
 * format is described in ../shared/data/README.md), with their 10-fold
 * splits.  Part of bs_data: it needs nothing of the engine.
 *
 * A data set is a folder DIR holding DIR/NAME.txt, NAME = the folder's
 * base name, and optionally DIR/10fold_idx/test_idx-K.txt (K = 1..10,
 * 0-based graph indices).  NAME.txt: the number of graphs G, then G blocks;
 * a block is a line `n label`, then n lines `tag m nb_1 .. nb_m [attrs]`
 * for node i = 0..n-1 (neighbours 0-based within the graph).
 *
 * Node features are one-hot: of the node tag (tags mapped to 0..T-1 in
 * increasing order) when the file has more than one distinct tag, else of
 * the degree, capped (GIN and GraphCL do this for the IMDB sets, which
 * carry no tags).  Continuous attributes are read and ignored.
 *
 * Details the reader decides: blank lines and CRLF line ends are accepted;
 * attributes must be numbers (strtod); the degree one-hot has
 * min(max degree, BST_TU_DEGREE_CAP) + 1 slots (degree 0 included), so
 * IMDB-B / IMDB-M get 65 (their largest degrees are 135 and 88; GraphCL's
 * OneHotDegree uses max degree + 1 slots).  NCI1 loads in about 0.07 s.
 */
#ifndef BS_DATA_TU_H
#define BS_DATA_TU_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Degrees above this share the last one-hot slot (degree features). */
#define BST_TU_DEGREE_CAP 64

typedef struct {
    char name[64];  /* NAME */
    int64_t graphs; /* G >= 1 */
    int64_t nodes;  /* total nodes over all graphs */
    int64_t edges;  /* total adjacency entries (an undirected edge: 2) */
    int64_t
        *node_off; /* (G+1): graph g owns nodes [node_off[g], node_off[g+1]) */
    int64_t *adj_off;    /* (nodes+1): node v's neighbours are
                            adj[adj_off[v] .. adj_off[v+1]) */
    int32_t *adj;        /* (edges): neighbours as node indices LOCAL to the
                            graph (0 .. n_g - 1), as in the file */
    int32_t *feat_idx;   /* (nodes): the one-hot slot of each node */
    int feat;            /* one-hot width */
    int degree_features; /* 1: features are capped degrees, 0: tags */
    int32_t *label;      /* (G): class in 0 .. classes-1 (the file's labels
                            mapped in increasing order) */
    int classes;         /* >= 2 */
    int8_t *fold;        /* (G): the fold 0..9 whose test split holds graph
                            g (from 10fold_idx), -1 for a graph in no test
                            split (the DGCNN splits hold floor(G/10) graphs
                            each: G mod 10 graphs are always training, e.g.
                            8 of MUTAG's); NULL without a 10fold_idx folder */
} bst_tu;

/* Loads DIR.  Checks (BST_ERR_FORMAT with a one-line message naming the
   file, the graph / node / line and what was expected): counts (G >= 1,
   n >= 1, degree m matching the neighbours listed), numbers well formed,
   neighbour ids in [0, n), no self loops or repeated neighbours, symmetric
   adjacency, at least two classes, nothing after the G-th graph; fold
   files (if 10fold_idx exists, all ten test_idx-K.txt must) holding ids in
   [0, G), disjoint, at most 9 graphs in none.  train_idx-K.txt are not read
   (they are the complements).  BST_ERR_IO for a missing folder or file
   (message says which), BST_ERR_INVAL for NULL arguments.  out->name is
   the folder's base name.  On error nothing is allocated and *out is
   zeroed. */
int bst_tu_load(const char *dir, bst_tu *out, char *msg, size_t cap);
/* The same from NAME.txt's text in memory (no fold files); `what` names
   the source in messages and becomes out->name (truncated to 63 bytes).
   text need not be NUL-terminated.  For the fuzzer and tests. */
int bst_tu_parse(const char *text, size_t len, const char *what, bst_tu *out,
                 char *msg, size_t cap);
/* Frees everything and zeroes *d (safe on a zeroed struct). */
void bst_tu_free(bst_tu *d);

#endif /* BS_DATA_TU_H */
