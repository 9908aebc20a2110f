/*
 * sampler_walk.c — coverage bookkeeping and the three batch generators
 * (uniform permutation, random walk with restart, kNN BFS).
 *
 * Coverage is a bitmap plus a count per 4096-bit superblock, so that
 * "a start node uniform among the uncovered instances" is a rank-select
 * (O(n/4096 + 64 + 64)) and the bitmap alone is the whole coverage state.
 */
#include <math.h>
#include <string.h>

#include "sampler_impl.h"

/* ------------------------------------------------------------ coverage */

void bs__cov_clear(bs_sampler *s)
{
    memset(s->bits, 0, (size_t)s->nwords * sizeof *s->bits);
    memset(s->sb_count, 0, (size_t)s->nsb * sizeof *s->sb_count);
    s->covered = 0;
}

/* Mask of the valid bits of word w (the last word may be partial). */
static uint64_t word_mask(const bs_sampler *s, int64_t w)
{
    int64_t rest = s->n - w * 64;
    return rest >= 64 ? ~0ULL : (1ULL << rest) - 1;
}

int64_t bs__cov_rebuild(bs_sampler *s)
{
    int64_t total = 0;
    memset(s->sb_count, 0, (size_t)s->nsb * sizeof *s->sb_count);
    for (int64_t w = 0; w < s->nwords; w++) {
        if (s->bits[w] & ~word_mask(s, w))
            return -1;
        int c = __builtin_popcountll(s->bits[w]);
        s->sb_count[w / BS_SB_WORDS] += (uint32_t)c;
        total += c;
    }
    return total;
}

/* Marks i covered; returns whether it was not covered before. */
static int cov_set(bs_sampler *s, int64_t i)
{
    uint64_t bit = 1ULL << (i & 63);
    uint64_t *w = &s->bits[i >> 6];
    if (*w & bit)
        return 0;
    *w |= bit;
    s->sb_count[i / BS_SB_BITS]++;
    s->covered++;
    return 1;
}

/* Position of the r-th (0-based) zero among the valid bits of word w. */
static int select_zero(uint64_t zeros, uint64_t r)
{
    while (r--)
        zeros &= zeros - 1;
    return __builtin_ctzll(zeros);
}

/* The r-th uncovered instance in id order, r < n - covered. */
static int64_t select_uncovered(const bs_sampler *s, uint64_t r)
{
    int64_t sb = 0;
    for (;; sb++) {
        int64_t size = s->n - sb * BS_SB_BITS;
        if (size > BS_SB_BITS)
            size = BS_SB_BITS;
        uint64_t free_here = (uint64_t)size - s->sb_count[sb];
        if (r < free_here)
            break;
        r -= free_here;
    }
    for (int64_t w = sb * BS_SB_WORDS;; w++) {
        uint64_t zeros = ~s->bits[w] & word_mask(s, w);
        uint64_t c = (uint64_t)__builtin_popcountll(zeros);
        if (r < c)
            return w * 64 + select_zero(zeros, r);
        r -= c;
    }
}

/* ------------------------------------------------------------ batches */

static void stamp_next(bs_sampler *s)
{
    if (++s->cur_stamp == 0) { /* wrapped after 2^32 batches: clear */
        memset(s->stamp, 0, (size_t)s->n * sizeof *s->stamp);
        s->cur_stamp = 1;
    }
}

/* Exact epochs skip instances the pass has already covered, as long as
   some remain uncovered (an epoch's last batch then completes with covered
   ones). */
static inline int skip_covered(const bs_sampler *s, int64_t i)
{
    return s->p.epoch_mode == BS_EPOCH_EXACT && s->covered < s->n &&
           ((s->bits[i >> 6] >> (i & 63)) & 1);
}

/* Exact epochs of fixed length: a pass that ends inside a batch starts the
   next one at once; the nodes already in the batch count as covered by the
   new pass too, so that no instance appears twice in a pass. */
static void new_pass(bs_sampler *s, int64_t count)
{
    bs__cov_clear(s);
    for (int64_t j = 0; j < count; j++)
        cov_set(s, s->gbuf[j]);
}

/* Adds i to the global batch if it is not there yet (and not skipped);
   marks it covered.  Returns whether it was added. */
static inline int batch_add(bs_sampler *s, int64_t i, int64_t *count)
{
    if (s->stamp[i] == s->cur_stamp || skip_covered(s, i))
        return 0;
    s->stamp[i] = s->cur_stamp;
    s->gbuf[(*count)++] = i;
    /* a pass that ends with the batch starts afresh after it (sampler.c) */
    if (cov_set(s, i) && s->covered == s->n && *count < s->g_size &&
        s->p.epoch_mode == BS_EPOCH_EXACT && s->p.batches_per_epoch > 0)
        new_pass(s, *count);
    return 1;
}

/*
 * A start (seed) node: uniform among the uncovered instances; when every
 * instance is covered (only possible in the middle of an epoch's last
 * batch), uniform among the instances not yet in the batch, so that every
 * new start adds a node and the batch always completes.
 */
static int64_t pick_start(bs_sampler *s)
{
    if (s->covered < s->n)
        return select_uncovered(
            s, bs_rng_below(&s->rng, (uint64_t)(s->n - s->covered)));
    /* the batch is not full and g_size <= n: a node outside it exists */
    for (int tries = 0; tries < 64; tries++) {
        int64_t i = (int64_t)bs_rng_below(&s->rng, (uint64_t)s->n);
        if (s->stamp[i] != s->cur_stamp)
            return i;
    }
    /* batch nearly the whole graph: take the first free id after a random
       point rather than rejecting for ever */
    int64_t i = (int64_t)bs_rng_below(&s->rng, (uint64_t)s->n);
    while (s->stamp[i] == s->cur_stamp)
        i = (i + 1 == s->n) ? 0 : i + 1;
    return i;
}

/* tau > 0: a neighbour of u with probability proportional to
   exp(sim / tau), the row maximum subtracted so exp never overflows; x is
   the step's uniform draw in [0, 1). */
static int64_t softmax_neighbour(bs_sampler *s, int64_t u, double x)
{
    const bs_graph *g = s->g;
    int32_t k = g->k;
    const float *sim = g->sim + u * (int64_t)k;
    const int32_t *nbr = g->nbr + u * (int64_t)k;
    float mx = sim[0];
    for (int32_t j = 1; j < k; j++)
        mx = sim[j] > mx ? sim[j] : mx;
    double total = 0;
    for (int32_t j = 0; j < k; j++) {
        total += exp(((double)sim[j] - mx) / s->p.tau);
        s->wbuf[j] = total;
    }
    x *= total;
    int32_t j = 0;
    while (j < k - 1 && s->wbuf[j] <= x)
        j++;
    return nbr[j];
}

/*
 * The walk, a window of steps at a time.  The walk is defined step by step
 * (per step: one uniform draw decides whether the move starts from the
 * start node (a restart) or from the current node; one more draw picks the
 * neighbour: bs_rng_below(k) for tau = 0, a uniform for tau > 0).  A
 * restart that only lands on the start visits nothing new, so it is folded
 * into the move that follows it: the nodes visited are distributed as in
 * the paper's walk, and every step costs the same at any alpha.  The draws
 * never depend on the graph, so a window's draws are taken first and its
 * restart-separated segments are then followed side by side: their memory
 * loads overlap instead of forming one chain of cache misses.  The nodes
 * are then added in step order, and the stream is rewound to just after
 * the step that ended the window's work (the batch is full, or the walk
 * stalled), so the result is exactly that of the step-by-step walk.
 */
#define WALK_WINDOW 64

typedef struct {
    int64_t node[WALK_WINDOW];
    uint64_t pick[WALK_WINDOW]; /* tau = 0: neighbour index */
    double u[WALK_WINDOW];      /* tau > 0: the transition draw */
    bs_rng after[WALK_WINDOW];  /* stream after each step's draws */
    int restart[WALK_WINDOW];
} walk_window;

static void draw_window(bs_sampler *s, walk_window *w, int len)
{
    const uint64_t k = (uint64_t)s->g->k;
    const int soft = s->p.tau > 0;
    for (int t = 0; t < len; t++) {
        w->restart[t] = bs_rng_uniform(&s->rng) < s->alpha;
        if (soft)
            w->u[t] = bs_rng_uniform(&s->rng);
        else
            w->pick[t] = bs_rng_below(&s->rng, k);
        w->after[t] = s->rng;
    }
}

static inline int64_t step_from(bs_sampler *s, const walk_window *w,
                                int64_t prev, int t)
{
    if (s->p.tau > 0)
        return softmax_neighbour(s, prev, w->u[t]);
    return s->g->nbr[prev * (int64_t)s->g->k + (int64_t)w->pick[t]];
}

/* Fills w->node[0..len) for a walk at cur with restart node start. */
static void follow_window(bs_sampler *s, walk_window *w, int len, int64_t cur,
                          int64_t start)
{
    int pos[WALK_WINDOW], nseg = 0;
    for (int t = 0; t < len; t++) /* segment heads: t = 0 and restarts */
        if (t == 0 || w->restart[t]) {
            w->node[t] = step_from(s, w, w->restart[t] ? start : cur, t);
            pos[nseg++] = t + 1;
        }
    for (int busy = 1; busy;) { /* one step of every segment per round */
        busy = 0;
        for (int i = 0; i < nseg; i++) {
            int t = pos[i];
            if (t < len && !w->restart[t]) {
                w->node[t] = step_from(s, w, w->node[t - 1], t);
                pos[i] = t + 1;
                busy = 1;
            }
        }
    }
}

/* Moves in a row that add no node before the walk is taken as stalled
   (it circles in a small component or around a hub, alpha is near 1, or
   an exact epoch has covered its neighbourhood): 2K + 32 lets a walk at
   alpha near 1 collect most of its start's K neighbours (the last of them
   takes about K moves to find) and bounds the work per node added. */
static int64_t stall_limit(const bs_sampler *s)
{
    return 2 * (int64_t)s->g->k + 32;
}

void bs__batch_rwr(bs_sampler *s)
{
    const int64_t G = s->g_size, stall = stall_limit(s);
    walk_window w;
    int64_t count = 0;
    stamp_next(s);
    int64_t start = pick_start(s);
    batch_add(s, start, &count);
    int64_t cur = start, budget = s->p.max_steps, idle = 0;
    while (count < G) {
        if (budget == 0 || idle >= stall) { /* stuck: a fresh start */
            start = cur = pick_start(s);
            batch_add(s, start, &count);
            budget = s->p.max_steps;
            idle = 0;
            continue;
        }
        /* at least G - count more steps are needed; a few more are drawn
           near the end, where steps often add nothing */
        int64_t len = G - count < 8 ? 8 : G - count;
        len = len < budget ? len : budget;
        len = len < WALK_WINDOW ? len : WALK_WINDOW;
        draw_window(s, &w, (int)len);
        follow_window(s, &w, (int)len, cur, start);
        int t = 0;
        while (t < len && count < G && idle < stall)
            idle = batch_add(s, w.node[t++], &count) ? 0 : idle + 1;
        s->rng = w.after[t - 1];
        s->steps += t;
        budget -= t;
        cur = w.node[t - 1];
    }
}

void bs__batch_knn(bs_sampler *s)
{
    const int32_t *nbr = s->g->nbr;
    const int64_t k = s->g->k;
    const int64_t G = s->g_size;
    int64_t count = 0, head = 0; /* gbuf doubles as the BFS queue */
    stamp_next(s);
    while (count < G) {
        if (head == count) { /* queue exhausted: a new seed */
            batch_add(s, pick_start(s), &count);
            continue;
        }
        const int32_t *row = nbr + s->gbuf[head++] * k;
        for (int64_t j = 0; j < k && count < G; j++)
            batch_add(s, row[j], &count);
    }
}

void bs__uniform_new_perm(bs_sampler *s)
{
    bs_rng r = s->rng;
    int64_t n = s->n;
    for (int64_t i = 0; i < n; i++)
        s->perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)bs_rng_below(&r, (uint64_t)i + 1);
        int64_t t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
    s->perm_rng_after = r;
}

/* Next pass over the data (batches_per_epoch > 0 only). */
static void uniform_next_pass(bs_sampler *s)
{
    s->rng = s->perm_rng_after;
    bs__uniform_new_perm(s);
    s->covered = 0;
}

void bs__batch_uniform(bs_sampler *s)
{
    const int64_t G = s->g_size, n = s->n;
    size_t sz = sizeof *s->gbuf;
    if (s->covered >= n)
        uniform_next_pass(s);
    int64_t pos = s->covered, rem = n - pos;
    if (rem >= G) {
        memcpy(s->gbuf, s->perm + pos, (size_t)G * sz);
        s->covered = pos + G;
    } else if (s->p.drop_last) {
        uniform_next_pass(s);
        memcpy(s->gbuf, s->perm, (size_t)G * sz);
        s->covered = G;
    } else {
        /* the pass's tail, completed with the pass's first ids: they are
           distinct from the tail because perm is a permutation */
        memcpy(s->gbuf, s->perm + pos, (size_t)rem * sz);
        memcpy(s->gbuf + rem, s->perm, (size_t)(G - rem) * sz);
        s->covered = n;
    }
}

/* ------------------------------------------------------------ epochs */

double bs_alpha_at_epoch(double alpha0, bs_alpha_schedule sched, int64_t e)
{
    double a;
    switch (sched) {
    case BS_ALPHA_STEP: a = alpha0 - 0.1 * (double)(e / 5); break;
    case BS_ALPHA_REFERENCE: /* the reference's `alpha - (epoch / 5) * 0.1`
                                with epochs counted from 1 */
        a = alpha0 - ((double)(e + 1) / 5.0) * 0.1;
        break;
    default: return alpha0;
    }
    return a > 0.05 ? a : 0.05;
}

double bs__alpha_for_epoch(const bs_sampler_params *p, int64_t e)
{
    return bs_alpha_at_epoch(p->alpha, p->schedule, e);
}

void bs__epoch_start(bs_sampler *s, int64_t e)
{
    s->epoch = e;
    s->batch_index = 0;
    s->ended = 0;
    bs_rng_derive(&s->rng, s->p.seed, BS_STREAM_SAMPLER_EPOCH, (uint64_t)e);
    s->alpha = bs__alpha_for_epoch(&s->p, e);
    if (s->p.kind == BS_SAMPLER_UNIFORM) {
        s->covered = 0;
        bs__uniform_new_perm(s);
    } else if (s->p.epoch_mode == BS_EPOCH_FIXED ||
               s->p.batches_per_epoch == 0) {
        /* carry keeps coverage until every instance appeared; exact passes
           run on across epochs of a fixed length */
        bs__cov_clear(s);
    }
}
