/* batcher.c — the trainer's choices on top of the core's bs_batcher
   (batcher.h).  Uses only the public batchsampler.h API. */
#include "batcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bs_status bst_batcher_create(const bs_batcher_params *p, int64_t batch,
                             int64_t dim, uint64_t seed, int64_t n,
                             bs_batcher **out, bs_error *err)
{
    if (!p)
        return bs_batcher_create(NULL, n, NULL, out, err); /* its message */
    bs_batcher_params q = *p;
    q.sampler.batch_size = batch;
    q.sampler.seed = seed;
    q.dim = dim;
    if (q.sampler.kind == BS_SAMPLER_KNN)
        q.graph.mode = BS_MODE_EXACT;
    return bs_batcher_create(&q, n, NULL, out, err);
}

double bst_batcher_seconds(const bs_batcher *b)
{
    if (!b)
        return 0;
    double build = 0, wait = 0, sample = 0;
    bs_batcher_times(b, &build, &wait, &sample);
    return build + wait + sample;
}

void bst_batcher_graph_use(const bs_batcher *b, bst_graph_use *u)
{
    memset(u, 0, sizeof *u);
    const bs_embstore *s = b ? bs_batcher_store(b) : NULL;
    if (!s)
        return;
    u->graph_kind = 1;
    u->builds = bs_batcher_builds(b);
    u->store_rows = bs_embstore_written(s);
    u->n = bs_embstore_n(s);
}

int bst_graph_use_warning(const bst_graph_use *u, char *out, size_t cap)
{
    if (!u->graph_kind || u->builds > 0)
        return 0;
    if (u->store_rows < u->n)
        snprintf(out, cap,
                 "the graph sampler never had a graph, so every batch was "
                 "uniform: the first graph is built once every instance has "
                 "been in a batch, and this run's batches covered %lld of "
                 "%lld (run more or longer epochs)",
                 (long long)u->store_rows, (long long)u->n);
    else
        snprintf(out, cap,
                 "the graph sampler never had a graph, so every batch was "
                 "uniform: the run ended before its first rebuild (the "
                 "uniform warm-up epochs come first; run more epochs)");
    return 1;
}

static bs_status split_fail(bs_error *err, bs_status st, const char *what,
                            int who, int world)
{
    if (err) {
        err->code = st;
        snprintf(err->msg, sizeof err->msg,
                 "split rebuild: %s (process %d of %d)", what, who, world);
    }
    return st;
}

bs_status bst_split_build(void *ctx, const float *x, int64_t n, int64_t d,
                          const bs_graph_params *p, bs_graph **out,
                          bs_error *err)
{
    bst_split_builder *s = ctx;
    int W = s->world;
    int64_t P = (n + W - 1) / W;
    int64_t lo = s->rank * P < n ? s->rank * P : n,
            hi = lo + P < n ? lo + P : n;
    size_t part = (size_t)P * (size_t)p->k;
    int32_t *status = malloc(sizeof(int32_t) * (size_t)W);
    if (!status) /* cannot take part: fails alone, and the run's error path
                    stops the others (the CLI: MPI_Abort) */
        return split_fail(err, BS_ERR_NOMEM, "out of memory", s->rank, W);
    /* this process's part (P rows, zeros past hi: every process gives the
       same bytes), then the W gathered parts */
    int32_t *nbr = calloc(part * (size_t)(W + 1), sizeof(int32_t));
    float *sim = calloc(part * (size_t)(W + 1), sizeof(float));
    bs_status st =
        !nbr || !sim
            ? split_fail(err, BS_ERR_NOMEM, "out of memory", s->rank, W)
        : hi > lo ? bs_graph_build_rows(x, n, d, p, lo, hi, nbr, sim, err)
                  : BS_OK;
    int32_t mine = (int32_t)st;
    s->allgather(s->ctx, &mine, status, sizeof mine);
    int failed = -1;
    for (int r = 0; r < W && failed < 0; r++)
        if (status[r] != BS_OK)
            failed = r;
    if (failed >= 0 && failed != s->rank)
        st = split_fail(err, (bs_status)status[failed],
                        "another process failed to build its rows", failed, W);
    else if (failed < 0) {
        s->allgather(s->ctx, nbr, nbr + part, sizeof(int32_t) * part);
        s->allgather(s->ctx, sim, sim + part, sizeof(float) * part);
        st = bs_graph_from_arrays(n, p->k, nbr + part, sim + part, p, out, err);
        s->rows += hi - lo;
    }
    free(nbr);
    free(sim);
    free(status);
    return st;
}
