/*
 * kernels.h — internals of graph_build.c exposed to the tests (not
 * installed): the candidate rule of the sampled modes, and (through
 * topk.h) the top-K selection, so tests can re-check them independently
 * of the GEMM path.
 */
#ifndef BS_KERNELS_H
#define BS_KERNELS_H

#include <stdint.h>

#include "internal.h"
#include "topk.h"

/*
 * The M candidate ids that row i of a BS_MODE_INDEPENDENT or BS_MODE_SHARED
 * build compares itself with, in the order the build uses them, into
 * out[0..M).  Follows the documented rule exactly (docs/graph.md):
 *   independent: Floyd's M-subset of [0, n-1) from stream (seed, NODE, i),
 *                values v >= i mapped to v + 1;
 *   shared:      Floyd's (M+1)-subset of [0, n) from stream (seed, BLOCK, b)
 *                with b = i / block, Fisher-Yates shuffled; the first M
 *                entries that are not i.
 * p must pass bs_graph_params_check(p, n); exact mode is INVALID_ARG.
 */
bs_status bs__graph_candidates(int64_t n, const bs_graph_params *p, int64_t i,
                               int32_t *out, bs_error *err);

#endif
