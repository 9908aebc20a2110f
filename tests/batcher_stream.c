/*
 * batcher_stream — runs a bs_batcher the way a training loop does, with
 * deterministic fake projections, and writes the batches it issued, so that
 * python/tests/test_batcher_stream.py can check that the Python
 * BatchSampler gives the same batches from the same settings.
 *
 *   batcher_stream out=S.npy meta=M.npy steps=T n=N b=B dim=D [key=value...]
 *
 * keys: kind, alpha, schedule, tau, epoch_mode, bpe, drop_last, seed, mode,
 * m, k, block, warmup, refresh_every, lag, steps, n, b, dim.  Step s
 * (0-based) takes the next batch and hands back row(i, s) for each id i:
 *
 *   c = i % 10, center = (13c + 7j) % 17 - 8, noise = (37i + 11j + 5s) % 29 - 14
 *   row(i, s)[j] = (2 (4 center + noise) + 1) / 16
 *
 * (exact in float32 and never a zero row; the noise moves with s so that
 * every rebuild sees other embeddings).  S.npy: int64 (T, B) batches;
 * M.npy: int64 (T, 3) per step: epoch, last_from_graph, builds, read after
 * the batch was issued and before its update.  Exit 1 with the library's
 * message on an error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchsampler.h"

static float fake_row_value(int64_t i, int64_t j, int64_t s)
{
    int64_t center = (13 * (i % 10) + 7 * j) % 17 - 8;
    int64_t noise = (37 * i + 11 * j + 5 * s) % 29 - 14;
    return (float)(2 * (4 * center + noise) + 1) / 16.0f;
}

static int fail(const char *what, const bs_error *e)
{
    fprintf(stderr, "batcher_stream: %s: %s\n", what, e->msg);
    return 1;
}

int main(int argc, char **argv)
{
    bs_batcher_params p;
    bs_batcher_params_default(&p);
    const char *out = NULL, *meta = NULL;
    int64_t steps = 0, n = 0;
    bs_error e = {0};
    for (int a = 1; a < argc; a++) {
        const char *eq = strchr(argv[a], '=');
        if (!eq) {
            fprintf(stderr, "batcher_stream: '%s': expected key=value\n",
                    argv[a]);
            return 2;
        }
        size_t kl = (size_t)(eq - argv[a]);
        const char *v = eq + 1;
#define KEY(s) (kl == sizeof(s) - 1 && strncmp(argv[a], s, kl) == 0)
        if (KEY("out"))
            out = v;
        else if (KEY("meta"))
            meta = v;
        else if (KEY("steps"))
            steps = strtoll(v, NULL, 10);
        else if (KEY("n"))
            n = strtoll(v, NULL, 10);
        else if (KEY("b"))
            p.sampler.batch_size = strtoll(v, NULL, 10);
        else if (KEY("dim"))
            p.dim = strtoll(v, NULL, 10);
        else if (KEY("kind")) {
            if (bs_sampler_kind_parse(v, &p.sampler.kind, &e) != BS_OK)
                return fail("kind", &e);
        } else if (KEY("schedule")) {
            if (bs_alpha_schedule_parse(v, &p.sampler.schedule, &e) != BS_OK)
                return fail("schedule", &e);
        } else if (KEY("epoch_mode")) {
            if (bs_epoch_mode_parse(v, &p.sampler.epoch_mode, &e) != BS_OK)
                return fail("epoch_mode", &e);
        } else if (KEY("mode")) {
            if (bs_graph_mode_parse(v, &p.graph.mode, &e) != BS_OK)
                return fail("mode", &e);
        } else if (KEY("alpha"))
            p.sampler.alpha = strtod(v, NULL);
        else if (KEY("tau"))
            p.sampler.tau = strtod(v, NULL);
        else if (KEY("bpe"))
            p.sampler.batches_per_epoch = strtoll(v, NULL, 10);
        else if (KEY("drop_last"))
            p.sampler.drop_last = atoi(v);
        else if (KEY("seed"))
            p.sampler.seed = strtoull(v, NULL, 10);
        else if (KEY("m"))
            p.graph.m = strtoll(v, NULL, 10);
        else if (KEY("k"))
            p.graph.k = (int32_t)atoi(v);
        else if (KEY("block"))
            p.graph.block = (int32_t)atoi(v);
        else if (KEY("warmup"))
            p.warmup_epochs = strtoll(v, NULL, 10);
        else if (KEY("refresh_every"))
            p.refresh_every = strtoll(v, NULL, 10);
        else if (KEY("lag"))
            p.refresh_lag = strtoll(v, NULL, 10);
        else {
            fprintf(stderr, "batcher_stream: unknown key '%.*s'\n", (int)kl,
                    argv[a]);
            return 2;
        }
#undef KEY
    }
    if (!out || !meta || steps < 1 || n < 1 || p.sampler.batch_size < 1 ||
        p.dim < 1) {
        fprintf(stderr, "batcher_stream: out=, meta=, steps >= 1, n >= 1, "
                        "b >= 1 and dim >= 1 are required\n");
        return 2;
    }
    bs_batcher *b;
    if (bs_batcher_create(&p, n, NULL, &b, &e) != BS_OK)
        return fail("create", &e);
    int64_t B = p.sampler.batch_size, d = p.dim;
    int64_t *batches = malloc((size_t)(steps * B) * sizeof *batches);
    int64_t *info = malloc((size_t)(steps * 3) * sizeof *info);
    float *rows = malloc((size_t)(B * d) * sizeof *rows);
    int rc = 0;
    if (!batches || !info || !rows) {
        fprintf(stderr, "batcher_stream: out of memory\n");
        rc = 1;
    }
    for (int64_t s = 0; rc == 0 && s < steps; s++) {
        int64_t *ids = batches + s * B, epoch;
        if (bs_batcher_next(b, ids, &epoch, &e) != BS_OK) {
            rc = fail("next", &e);
            break;
        }
        info[s * 3] = epoch;
        info[s * 3 + 1] = bs_batcher_last_from_graph(b);
        info[s * 3 + 2] = bs_batcher_builds(b);
        for (int64_t r = 0; r < B; r++)
            for (int64_t j = 0; j < d; j++)
                rows[r * d + j] = fake_row_value(ids[r], j, s);
        if (bs_batcher_update(b, ids, B, rows, &e) != BS_OK)
            rc = fail("update", &e);
    }
    if (rc == 0) {
        bs_array a = {.dtype = BS_DTYPE_I64,
                      .ndim = 2,
                      .shape = {steps, B},
                      .data = batches};
        bs_array m = {.dtype = BS_DTYPE_I64,
                      .ndim = 2,
                      .shape = {steps, 3},
                      .data = info};
        if (bs_npy_write(out, &a, &e) != BS_OK ||
            bs_npy_write(meta, &m, &e) != BS_OK)
            rc = fail("write", &e);
    }
    free(batches);
    free(info);
    free(rows);
    bs_batcher_free(b);
    return rc;
}
