/* batcher.c — the trainer's choices on top of the core's bs_batcher
   (batcher.h).  Uses only the public batchsampler.h API. */
#include "batcher.h"

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
