/*
 * fuzz_graph.c — libFuzzer target for the .bsg graph reader.
 *
 * Every input goes through bs_graph_load_mem and, via a file, through the
 * streaming bs_graph_load; both must agree (same status, same graph), and a
 * loaded graph must satisfy everything the format promises.  Random bytes
 * almost never carry a valid CRC-32, so each input is also tried with its
 * last four bytes replaced by the right checksum: that lets the fuzzer reach
 * the id and similarity checks behind it.  Any violation aborts, which
 * libFuzzer reports as a crash.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "batchsampler.h"
#include "fuzz_check.h"

/* Everything a loaded graph promises: ids in range and not self, finite
   similarities near [-1, 1], known mode. */
static void check_graph(const bs_graph *g)
{
    int64_t n = bs_graph_n(g);
    int32_t k = bs_graph_k(g);
    CHECK(n >= 2 && k >= 1 && k <= n - 1);
    bs_graph_params p;
    bs_graph_get_params(g, &p);
    CHECK(bs_graph_mode_name(p.mode) != NULL && p.k == k);
    for (int64_t i = 0; i < n; i++) {
        const int32_t *nb = bs_graph_neighbors(g, i);
        const float *s = bs_graph_similarities(g, i);
        for (int32_t j = 0; j < k; j++) {
            CHECK(nb[j] >= 0 && nb[j] < n && nb[j] != i);
            CHECK(isfinite(s[j]) && fabsf(s[j]) <= 1.0001f);
        }
    }
    CHECK(bs_graph_neighbors(g, n) == NULL);
}

static void same_graph(const bs_graph *a, const bs_graph *b)
{
    int64_t n = bs_graph_n(a);
    int32_t k = bs_graph_k(a);
    CHECK(n == bs_graph_n(b) && k == bs_graph_k(b));
    bs_graph_params pa, pb;
    bs_graph_get_params(a, &pa);
    bs_graph_get_params(b, &pb);
    CHECK(pa.mode == pb.mode && pa.m == pb.m && pa.seed == pb.seed &&
          pa.block == pb.block);
    for (int64_t i = 0; i < n; i++) {
        CHECK(!memcmp(bs_graph_neighbors(a, i), bs_graph_neighbors(b, i),
                      (size_t)k * 4));
        CHECK(!memcmp(bs_graph_similarities(a, i), bs_graph_similarities(b, i),
                      (size_t)k * 4));
    }
}

/* The streaming file reader must agree with the memory reader. */
static void differential(const uint8_t *data, size_t size, bs_status st,
                         const bs_graph *g)
{
    char path[64];
    if (!write_scratch("fuzz_graph.bsg", data, size, path, sizeof path))
        return;
    bs_graph *h;
    bs_error err;
    bs_status sf = bs_graph_load(path, &h, &err);
    CHECK(sf == st);
    if (sf == BS_OK) {
        same_graph(g, h);
        bs_graph_free(h);
    } else {
        CHECK(h == NULL);
    }
    unlink(path);
}

/* Loads from memory and checks the result; returns the status. */
static bs_status load_checked(const uint8_t *data, size_t size, bs_graph **g)
{
    bs_error err;
    bs_status st = bs_graph_load_mem(data, size, "fuzz", g, &err);
    if (st == BS_OK) {
        check_graph(*g);
    } else {
        CHECK(*g == NULL);
        CHECK(st == BS_ERR_FORMAT || st == BS_ERR_NOMEM);
        check_msg(&err);
    }
    return st;
}

/* The input with a correct trailing CRC-32. */
static void with_fixed_crc(const uint8_t *data, size_t size)
{
    if (size < 52)
        return;
    uint8_t *b = malloc(size);
    CHECK(b != NULL);
    memcpy(b, data, size);
    uLong c = crc32(crc32(0L, Z_NULL, 0), b, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        b[size - 4 + i] = (uint8_t)(c >> (8 * i));
    bs_graph *g;
    if (load_checked(b, size, &g) == BS_OK)
        bs_graph_free(g);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bs_graph *g;
    bs_status st = load_checked(data, size, &g);
    differential(data, size, st, g);
    bs_graph_free(g);
    with_fixed_crc(data, size);
    return 0;
}
