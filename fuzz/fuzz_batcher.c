/*
 * fuzz_batcher.c — libFuzzer target for the batcher's state blob
 * (bs_batcher_load_state).
 *
 * Each input is loaded into a fresh small batcher, as it is and with its
 * last four bytes replaced by the right CRC-32 (so that the fuzzer gets
 * past the checksum to the fields behind it).  A refused blob must leave
 * the batcher at position 0 with a one-line message; an accepted one must
 * give batches of distinct ids in range and save again into a blob that
 * loads.  The seed (corpus/batcher/) is a real state, mid-run with a
 * rebuild in flight.
 */
#include <zlib.h>

#include "fuzz_check.h"

enum { N = 40, B = 4, D = 2 };

static bs_batcher *small_batcher(void)
{
    bs_batcher_params p;
    bs_batcher_params_default(&p);
    p.sampler.batch_size = B;
    p.sampler.epoch_mode = BS_EPOCH_CARRY;
    p.graph.m = 8;
    p.graph.k = 3;
    p.graph.threads = 1;
    p.dim = D;
    p.refresh_every = 3;
    p.refresh_lag = 1;
    p.history = 2;
    bs_batcher *b = NULL;
    CHECK(bs_batcher_create(&p, N, NULL, &b, NULL) == BS_OK);
    return b;
}

static void check_batches(bs_batcher *b)
{
    for (int t = 0; t < 6; t++) {
        int64_t ids[B];
        bs_error err;
        if (bs_batcher_next(b, ids, NULL, &err) != BS_OK) {
            check_msg(&err); /* e.g. a graph the store's rows cannot build */
            return;
        }
        for (int i = 0; i < B; i++) {
            CHECK(ids[i] >= 0 && ids[i] < N);
            for (int j = 0; j < i; j++)
                CHECK(ids[i] != ids[j]);
        }
    }
}

static void load_checked(const uint8_t *data, size_t size)
{
    bs_batcher *b = small_batcher();
    bs_error err;
    if (bs_batcher_load_state(b, data, size, &err) != BS_OK) {
        check_msg(&err);
        CHECK(bs_batcher_position(b) == 0);
    } else {
        void *again;
        size_t len;
        CHECK(bs_batcher_save_state(b, -1, &again, &len, &err) == BS_OK);
        bs_batcher *c = small_batcher();
        CHECK(bs_batcher_load_state(c, again, len, &err) == BS_OK);
        free(again);
        bs_batcher_free(c);
        check_batches(b);
    }
    bs_batcher_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_checked(data, size);
    if (size < 8)
        return 0;
    uint8_t *f = malloc(size);
    CHECK(f != NULL);
    memcpy(f, data, size);
    uLong c = crc32(0L, f, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        f[size - 4 + i] = (uint8_t)(c >> (8 * i));
    load_checked(f, size);
    free(f);
    return 0;
}
