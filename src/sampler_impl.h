/*
 * sampler_impl.h — the sampler's representation, shared by sampler.c
 * (parameters, life cycle, the iterator), sampler_walk.c (coverage and the
 * three batch generators) and sampler_state.c (save/restore).  Not
 * installed.
 */
#ifndef BS_SAMPLER_IMPL_H
#define BS_SAMPLER_IMPL_H

#include "graph.h"
#include "rng.h"

/* Bits per coverage superblock: a rank-select scans n/4096 counts, then at
   most 64 words, then one word's bits. */
#define BS_SB_BITS 4096
#define BS_SB_WORDS (BS_SB_BITS / 64)

struct bs_sampler {
    bs_sampler_params p; /* as given, with max_steps resolved */
    int64_t n;
    int64_t g_size;    /* W * B: the global batch every rank computes */
    const bs_graph *g; /* borrowed; NULL allowed for uniform */

    /* ---- the state a save/restore carries ---- */
    int64_t epoch;
    int64_t batch_index; /* batches yielded in this epoch */
    int ended;           /* the epoch's end (count 0) has been reported */
    bs_rng rng;          /* graph samplers: the live epoch stream;
                            uniform: the stream before the current
                            permutation was drawn (it is redrawn on load) */
    int64_t covered;     /* graph: bits set; uniform: position in perm */
    int64_t steps;       /* walk steps since creation (RWR) */
    uint64_t *bits;      /* coverage bitmap, nwords words (graph only) */

    /* ---- derived from the state (rebuilt on load) ---- */
    double alpha;       /* alpha in force for this epoch */
    uint32_t *sb_count; /* covered bits per superblock */
    int64_t nwords, nsb;
    int64_t *perm;         /* uniform: the current permutation of [0, n) */
    bs_rng perm_rng_after; /* uniform: stream after drawing perm */

    /* ---- scratch ---- */
    uint32_t *stamp; /* stamp[i] == cur_stamp: i is in the batch */
    uint32_t cur_stamp;
    int64_t *gbuf; /* the global batch, g_size ids */
    double *wbuf;  /* tau > 0: K transition weights */
};

/* Coverage (sampler_walk.c). */
void bs__cov_clear(bs_sampler *s);
/* Rebuilds sb_count from bits; returns the popcount, or -1 if a padding
   bit past n is set. */
int64_t bs__cov_rebuild(bs_sampler *s);

/* Starts epoch e: stream, alpha, coverage, position. */
void bs__epoch_start(bs_sampler *s, int64_t e);
/* alpha for epoch e under the sampler's schedule. */
double bs__alpha_for_epoch(const bs_sampler_params *p, int64_t e);
/* Uniform: draws a fresh permutation from s->rng into s->perm. */
void bs__uniform_new_perm(bs_sampler *s);

/* Fills s->gbuf with the next global batch. */
void bs__batch_uniform(bs_sampler *s);
void bs__batch_rwr(bs_sampler *s);
void bs__batch_knn(bs_sampler *s);

#endif
