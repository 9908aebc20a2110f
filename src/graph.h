/*
 * graph.h — the proximity graph's representation, shared by graph_core.c
 * (life cycle, accessors), graph_build.c (construction) and graph_io.c
 * (.bsg files).  Not installed.
 */
#ifndef BS_GRAPH_H
#define BS_GRAPH_H

#include "internal.h"

struct bs_graph {
    int64_t n;
    int32_t k;
    bs_graph_params params; /* as built; progress fields NULL */
    int32_t *nbr;           /* n*k ids, row-major, row i sorted by sim desc */
    float *sim;             /* n*k cosine similarities */
};

/* Allocates a graph with uninitialised nbr/sim of n*k entries. */
bs_status bs__graph_alloc(int64_t n, int32_t k, const bs_graph_params *p,
                          bs_graph **out, bs_error *err);

/* Validates rows [0, n) of nbr: every id in [0, n) and not its own row.
   `what` names the source in the message (e.g. a file name); a bad id
   fails with `code` (BS_ERR_FORMAT for files, BS_ERR_INVALID_ARG for
   arrays passed in). */
bs_status bs__graph_check_ids(int64_t n, int32_t k, const int32_t *nbr,
                              int64_t row0, int64_t rows, const char *what,
                              bs_status code, bs_error *err);

#endif
