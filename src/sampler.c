/*
 * sampler.c — sampler parameters, life cycle and the batch iterator.
 *
 * Decisions on points the header leaves open (also in docs/samplers.md):
 *  - A walk step is a move (restarts fold into the next move, see the
 *    header), so max_steps = 0 means 16 * W * B moves: a multiple of the
 *    *global* batch, so that W ranks and one rank with batch W*B walk
 *    identically.  The former budget counted restart steps too and had to
 *    grow as 1/(1-alpha)^2, which made alpha = 0.999 take minutes per epoch
 *    and hub graphs hang; now the stall rule (2K + 32 moves without a new
 *    node: a new start) bounds the work per node added for any alpha.
 *  - A batch's first node is its start; ids come in the order the walk
 *    (or BFS) first reached them, and rank r gets [r*B, (r+1)*B) of that.
 *  - When every instance is already covered and a walk needs a new start
 *    (only inside an epoch's last batch), the start is uniform among the
 *    instances not yet in the batch.
 *  - drop_last only affects uniform; graph samplers' batches are complete.
 *  - batches_per_epoch > 0 with uniform: the permutation is used as one
 *    "pass" exactly as an epoch with batches_per_epoch = 0 would use it
 *    (last batch completed or dropped), then a fresh permutation is drawn
 *    from the same epoch stream for the next pass.
 *  - The alpha schedules follow their formulas literally: alpha_0 < 0.05
 *    gives 0.05 from epoch 0 on.
 *  - After *count = 0, bs_sampler_epoch() still reports the epoch that
 *    ended; the next call of bs_sampler_next moves to epoch + 1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_impl.h"

void bs_sampler_params_default(bs_sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->kind = BS_SAMPLER_RWR;
    p->batch_size = 256;
    p->alpha = 0.2;
    p->schedule = BS_ALPHA_CONSTANT;
    p->tau = 0.0;
    p->max_steps = 0;
    p->batches_per_epoch = 0;
    p->epoch_mode = BS_EPOCH_FIXED;
    p->drop_last = 0;
    p->rank = 0;
    p->world = 1;
    p->seed = 0;
}

const char *bs_sampler_kind_name(bs_sampler_kind k)
{
    switch (k) {
    case BS_SAMPLER_UNIFORM: return "uniform";
    case BS_SAMPLER_RWR: return "rwr";
    case BS_SAMPLER_KNN: return "knn";
    }
    return NULL;
}

bs_status bs_sampler_kind_parse(const char *s, bs_sampler_kind *k,
                                bs_error *err)
{
    static const bs_sampler_kind all[] = {BS_SAMPLER_UNIFORM, BS_SAMPLER_RWR,
                                          BS_SAMPLER_KNN};
    for (size_t i = 0; s && k && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, bs_sampler_kind_name(all[i])) == 0) {
            *k = all[i];
            return BS_OK;
        }
    return bs__fail(err, BS_ERR_INVALID_ARG,
                    "sampler kind '%s': expected uniform, rwr or knn",
                    s ? s : "(null)");
}

const char *bs_alpha_schedule_name(bs_alpha_schedule s)
{
    switch (s) {
    case BS_ALPHA_CONSTANT: return "constant";
    case BS_ALPHA_STEP: return "step";
    case BS_ALPHA_REFERENCE: return "reference";
    }
    return NULL;
}

bs_status bs_alpha_schedule_parse(const char *s, bs_alpha_schedule *out,
                                  bs_error *err)
{
    static const bs_alpha_schedule all[] = {BS_ALPHA_CONSTANT, BS_ALPHA_STEP,
                                            BS_ALPHA_REFERENCE};
    for (size_t i = 0; s && out && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, bs_alpha_schedule_name(all[i])) == 0) {
            *out = all[i];
            return BS_OK;
        }
    if (s && out && strcmp(s, "decay") == 0) { /* the former name of step */
        *out = BS_ALPHA_STEP;
        return BS_OK;
    }
    return bs__fail(err, BS_ERR_INVALID_ARG,
                    "alpha schedule '%s': expected constant, step or "
                    "reference",
                    s ? s : "(null)");
}

const char *bs_epoch_mode_name(bs_epoch_mode m)
{
    switch (m) {
    case BS_EPOCH_FIXED: return "fixed";
    case BS_EPOCH_CARRY: return "carry";
    case BS_EPOCH_EXACT: return "exact";
    }
    return NULL;
}

bs_status bs_epoch_mode_parse(const char *s, bs_epoch_mode *out, bs_error *err)
{
    static const bs_epoch_mode all[] = {BS_EPOCH_FIXED, BS_EPOCH_CARRY,
                                        BS_EPOCH_EXACT};
    for (size_t i = 0; s && out && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, bs_epoch_mode_name(all[i])) == 0) {
            *out = all[i];
            return BS_OK;
        }
    return bs__fail(err, BS_ERR_INVALID_ARG,
                    "epoch mode '%s': expected fixed, carry or exact",
                    s ? s : "(null)");
}

static bs_status check_graph(const bs_sampler_params *p, int64_t n,
                             const bs_graph *g, bs_error *err)
{
    if (!g) {
        if (p->kind == BS_SAMPLER_UNIFORM)
            return BS_OK;
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "%s sampler: graph is NULL (only uniform needs none)",
                        bs_sampler_kind_name(p->kind));
    }
    if (g->n != n)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "sampler of n = %lld: graph has %lld nodes",
                        (long long)n, (long long)g->n);
    return BS_OK;
}

static bs_status check_sizes(const bs_sampler_params *p, int64_t n,
                             bs_error *err)
{
    if (n < 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "sampler of n = %lld instances: expected n >= 1",
                        (long long)n);
    if (p->batch_size < 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "batch_size = %lld: expected >= 1",
                        (long long)p->batch_size);
    if (p->world < 1 || p->rank < 0 || p->rank >= p->world)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "rank %d of world %d: expected world >= 1 and "
                        "0 <= rank < world",
                        p->rank, p->world);
    if (p->batch_size > n / p->world)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "world * batch_size = %d * %lld exceeds n = %lld: a "
                        "global batch holds distinct instances",
                        p->world, (long long)p->batch_size, (long long)n);
    if (p->max_steps < 0 || p->batches_per_epoch < 0)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "max_steps = %lld, batches_per_epoch = %lld: expected "
                        ">= 0 (0 = default)",
                        (long long)p->max_steps,
                        (long long)p->batches_per_epoch);
    return BS_OK;
}

static bs_status check_params(const bs_sampler_params *p, int64_t n,
                              const bs_graph *g, bs_error *err)
{
    if (!p)
        return bs__fail(err, BS_ERR_INVALID_ARG, "sampler parameters: NULL");
    if (!bs_sampler_kind_name(p->kind))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "sampler kind %d: expected uniform, rwr or knn",
                        (int)p->kind);
    bs_status st = check_sizes(p, n, err);
    if (st != BS_OK)
        return st;
    if (p->alpha == 1.0)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "alpha = 1: the walk would never leave its start "
                        "node; expected 0 <= alpha < 1");
    if (!(p->alpha >= 0.0 && p->alpha < 1.0))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "alpha = %g: expected a restart probability in [0, 1)",
                        p->alpha);
    if (!bs_alpha_schedule_name(p->schedule))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "alpha schedule %d: expected constant (0), step (1) "
                        "or reference (2)",
                        (int)p->schedule);
    if (!bs_epoch_mode_name(p->epoch_mode))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "epoch mode %d: expected fixed (0), carry (1) or "
                        "exact (2)",
                        (int)p->epoch_mode);
    if (!(p->tau >= 0.0))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "tau = %g: expected >= 0 (0 = uniform transitions)",
                        p->tau);
    if (n > INT32_MAX && p->kind != BS_SAMPLER_UNIFORM)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "n = %lld: graph samplers need n < 2^31", (long long)n);
    return check_graph(p, n, g, err);
}

/* Transition-weight scratch for tau > 0, sized for graph g. */
static bs_status ensure_wbuf(bs_sampler *s, const bs_graph *g, bs_error *err)
{
    if (s->p.tau <= 0 || !g)
        return BS_OK;
    double *w = realloc(s->wbuf, (size_t)g->k * sizeof *w);
    if (!w)
        return bs__fail(err, BS_ERR_NOMEM, "sampler: out of memory");
    s->wbuf = w;
    return BS_OK;
}

static bs_status alloc_state(bs_sampler *s, bs_error *err)
{
    int64_t n = s->n;
    s->gbuf = bs__malloc_array((size_t)s->g_size, sizeof *s->gbuf);
    int ok = s->gbuf != NULL;
    if (s->p.kind == BS_SAMPLER_UNIFORM) {
        s->perm = bs__malloc_array((size_t)n, sizeof *s->perm);
        ok = ok && s->perm;
    } else {
        s->nwords = (n + 63) / 64;
        s->nsb = (n + BS_SB_BITS - 1) / BS_SB_BITS;
        s->bits = bs__calloc_array((size_t)s->nwords, sizeof *s->bits);
        s->sb_count = bs__calloc_array((size_t)s->nsb, sizeof *s->sb_count);
        s->stamp = bs__calloc_array((size_t)n, sizeof *s->stamp);
        ok = ok && s->bits && s->sb_count && s->stamp;
    }
    if (!ok)
        return bs__fail(err, BS_ERR_NOMEM, "sampler of n = %lld: out of memory",
                        (long long)n);
    return ensure_wbuf(s, s->g, err);
}

/* See the decisions above; capped so that huge batches (uniform over a
   big n) cannot overflow. */
static int64_t default_max_steps(int64_t global_batch)
{
    return global_batch >= INT64_MAX / 32 ? INT64_MAX / 2 : 16 * global_batch;
}

bs_status bs_sampler_create(const bs_sampler_params *p, int64_t n,
                            const bs_graph *g, bs_sampler **out, bs_error *err)
{
    if (!out)
        return bs__fail(err, BS_ERR_INVALID_ARG, "sampler create: out is NULL");
    *out = NULL;
    bs_status st = check_params(p, n, g, err);
    if (st != BS_OK)
        return st;
    bs_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return bs__fail(err, BS_ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n = n;
    s->g = g;
    s->g_size = p->batch_size * p->world;
    if (s->p.max_steps == 0)
        s->p.max_steps = default_max_steps(s->g_size);
    if ((st = alloc_state(s, err)) != BS_OK) {
        bs_sampler_free(s);
        return st;
    }
    bs__epoch_start(s, 0);
    *out = s;
    bs__ok(err);
    return BS_OK;
}

void bs_sampler_free(bs_sampler *s)
{
    if (!s)
        return;
    free(s->gbuf);
    free(s->perm);
    free(s->bits);
    free(s->sb_count);
    free(s->stamp);
    free(s->wbuf);
    free(s);
}

int64_t bs_sampler_epoch_length(const bs_sampler *s)
{
    if (!s)
        return -1;
    if (s->p.batches_per_epoch > 0)
        return s->p.batches_per_epoch;
    if (s->p.kind != BS_SAMPLER_UNIFORM)
        return -1;
    int64_t full = s->n / s->g_size;
    return full + (s->n % s->g_size != 0 && !s->p.drop_last);
}

static int epoch_done(const bs_sampler *s)
{
    if (s->p.batches_per_epoch > 0 || s->p.kind == BS_SAMPLER_UNIFORM)
        return s->batch_index >= bs_sampler_epoch_length(s);
    return s->covered >= s->n; /* coverage complete, checked between batches */
}

bs_status bs_sampler_next(bs_sampler *s, int64_t *out, int64_t *count,
                          bs_error *err)
{
    if (count)
        *count = 0;
    if (!s || !out || !count)
        return bs__fail(
            err, BS_ERR_INVALID_ARG,
            "sampler next: sampler, out and count must be non-NULL");
    if (s->ended)
        bs__epoch_start(s, s->epoch + 1);
    if (epoch_done(s)) {
        s->ended = 1;
        return BS_OK;
    }
    switch (s->p.kind) {
    case BS_SAMPLER_UNIFORM: bs__batch_uniform(s); break;
    case BS_SAMPLER_RWR: bs__batch_rwr(s); break;
    case BS_SAMPLER_KNN: bs__batch_knn(s); break;
    }
    s->batch_index++;
    /* fixed-length epochs: coverage starts afresh once complete (exact
       epochs start their next pass inside the batch, sampler_walk.c) */
    if (s->p.kind != BS_SAMPLER_UNIFORM && s->p.batches_per_epoch > 0 &&
        s->covered >= s->n)
        bs__cov_clear(s);
    int64_t b = s->p.batch_size;
    memcpy(out, s->gbuf + (int64_t)s->p.rank * b, (size_t)b * sizeof *out);
    *count = b;
    return BS_OK;
}

bs_status bs_sampler_set_epoch(bs_sampler *s, int64_t epoch, bs_error *err)
{
    if (!s)
        return bs__fail(err, BS_ERR_INVALID_ARG, "sampler set_epoch: NULL");
    if (epoch < 0)
        return bs__fail(err, BS_ERR_INVALID_ARG, "epoch = %lld: expected >= 0",
                        (long long)epoch);
    bs__epoch_start(s, epoch);
    return BS_OK;
}

bs_status bs_sampler_set_graph(bs_sampler *s, const bs_graph *g, bs_error *err)
{
    if (!s)
        return bs__fail(err, BS_ERR_INVALID_ARG, "sampler set_graph: NULL");
    bs_status st = check_graph(&s->p, s->n, g, err);
    if (st == BS_OK)
        st = ensure_wbuf(s, g, err);
    if (st == BS_OK)
        s->g = g;
    return st;
}

int64_t bs_sampler_epoch(const bs_sampler *s)
{
    return s ? s->epoch : 0;
}
int64_t bs_sampler_batch_index(const bs_sampler *s)
{
    return s ? s->batch_index : 0;
}
int64_t bs_sampler_covered(const bs_sampler *s)
{
    return s ? s->covered : 0;
}
double bs_sampler_alpha(const bs_sampler *s)
{
    return s ? s->alpha : 0.0;
}
int64_t bs_sampler_steps(const bs_sampler *s)
{
    return s ? s->steps : 0;
}
