/*
 * graph_core.c — proximity graph parameters, life cycle and accessors.
 * Construction lives in graph_build.c, files in graph_io.c.
 */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "graph.h"

/*
 * Graph arrays are read at random by every walk step (one cache miss and,
 * with 4 KB pages, one TLB miss per step on a 400 MB array).  Large arrays
 * are therefore 2 MB-aligned and advised to use transparent huge pages,
 * which made RWR walks about 1.7x faster on a 1M-node graph where THP is
 * in "madvise" mode.  The advice is a hint: failure changes nothing.
 */
enum { BS_HUGE_ALIGN = 2 << 20 };

static void *alloc_walked(size_t count, size_t size)
{
    size_t bytes;
    if (!bs__mul_size(count, size, &bytes))
        return NULL;
    if (bytes < 2 * (size_t)BS_HUGE_ALIGN)
        return malloc(bytes ? bytes : 1);
    void *p = NULL;
    size_t rounded =
        (bytes + BS_HUGE_ALIGN - 1) / BS_HUGE_ALIGN * BS_HUGE_ALIGN;
    if (posix_memalign(&p, BS_HUGE_ALIGN, rounded) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

void bs_graph_params_default(bs_graph_params *p)
{
    memset(p, 0, sizeof *p);
    p->mode = BS_MODE_SHARED;
    p->m = 1000;
    p->k = 100;
    p->seed = 0;
    p->block = 0;
    p->threads = 0;
}

const char *bs_graph_mode_name(bs_graph_mode m)
{
    switch (m) {
    case BS_MODE_INDEPENDENT: return "independent";
    case BS_MODE_SHARED: return "shared";
    case BS_MODE_EXACT: return "exact";
    }
    return NULL;
}

bs_status bs_graph_mode_parse(const char *s, bs_graph_mode *m, bs_error *err)
{
    static const bs_graph_mode all[] = {BS_MODE_INDEPENDENT, BS_MODE_SHARED,
                                        BS_MODE_EXACT};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, bs_graph_mode_name(all[i])) == 0) {
            *m = all[i];
            return BS_OK;
        }
    return bs__fail(err, BS_ERR_INVALID_ARG,
                    "graph mode '%s': expected independent, shared or exact",
                    s ? s : "(null)");
}

bs_status bs_graph_params_check(const bs_graph_params *p, int64_t n,
                                bs_error *err)
{
    if (!p)
        return bs__fail(err, BS_ERR_INVALID_ARG, "graph parameters: NULL");
    if (!bs_graph_mode_name(p->mode))
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "graph mode %d: expected independent, shared or exact",
                        (int)p->mode);
    if (n < 2 || n > INT32_MAX)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "graph of n = %lld nodes: expected 2 <= n <= %d",
                        (long long)n, INT32_MAX);
    if (p->k < 1)
        return bs__fail(err, BS_ERR_INVALID_ARG, "K = %d: expected K >= 1",
                        (int)p->k);
    if (p->threads < 0 || p->threads > BS_MAX_THREADS)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "graph threads = %d: expected 0 (OpenMP default) to "
                        "%d",
                        p->threads, BS_MAX_THREADS);
    if (p->mode == BS_MODE_EXACT) {
        if ((int64_t)p->k > n - 1)
            return bs__fail(err, BS_ERR_INVALID_ARG,
                            "K = %d with n = %lld: exact mode needs K <= n - 1",
                            (int)p->k, (long long)n);
        return BS_OK;
    }
    if (p->m < p->k)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "K = %d > M = %lld: expected K <= M < n", (int)p->k,
                        (long long)p->m);
    if (p->m >= n)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "M = %lld with n = %lld: expected M < n "
                        "(use --mode exact for all n-1 others)",
                        (long long)p->m, (long long)n);
    if (p->block < 0)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "block = %d: expected >= 0 (0 = default)",
                        (int)p->block);
    return BS_OK;
}

bs_status bs__graph_alloc(int64_t n, int32_t k, const bs_graph_params *p,
                          bs_graph **out, bs_error *err)
{
    *out = NULL;
    if (n < 1 || k < 1 || n > INT32_MAX)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "graph of n = %lld, K = %d: expected n >= 1, K >= 1",
                        (long long)n, (int)k);
    bs_graph *g = calloc(1, sizeof *g);
    size_t cells;
    if (!g || !bs__mul_size((size_t)n, (size_t)k, &cells)) {
        free(g);
        return bs__fail(err, BS_ERR_NOMEM, "graph of %lld x %d: out of memory",
                        (long long)n, (int)k);
    }
    g->nbr = alloc_walked(cells, sizeof *g->nbr);
    g->sim = alloc_walked(cells, sizeof *g->sim);
    if (!g->nbr || !g->sim) {
        bs_graph_free(g);
        return bs__fail(err, BS_ERR_NOMEM,
                        "graph of %lld x %d: out of memory (%zu MB)",
                        (long long)n, (int)k, cells * 8 >> 20);
    }
    g->n = n;
    g->k = k;
    if (p)
        g->params = *p;
    else
        bs_graph_params_default(&g->params);
    g->params.k = k;
    g->params.progress = NULL;
    g->params.progress_ctx = NULL;
    *out = g;
    return BS_OK;
}

bs_status bs__graph_check_ids(int64_t n, int32_t k, const int32_t *nbr,
                              int64_t row0, int64_t rows, const char *what,
                              bs_status code, bs_error *err)
{
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *row = nbr + r * (int64_t)k;
        for (int32_t j = 0; j < k; j++) {
            if (row[j] < 0 || (int64_t)row[j] >= n)
                return bs__fail(err, code,
                                "%s: row %lld neighbour %d is id %d: expected "
                                "0 <= id < n = %lld",
                                what, (long long)(row0 + r), (int)j,
                                (int)row[j], (long long)n);
            if ((int64_t)row[j] == row0 + r)
                return bs__fail(err, code,
                                "%s: row %lld lists itself as neighbour %d",
                                what, (long long)(row0 + r), (int)j);
        }
    }
    return BS_OK;
}

bs_status bs_graph_from_arrays(int64_t n, int32_t k, const int32_t *nbr,
                               const float *sim, const bs_graph_params *p,
                               bs_graph **out, bs_error *err)
{
    *out = NULL;
    if (!nbr)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "graph from arrays: nbr is NULL");
    if (n < 2 || n > INT32_MAX || k < 1 || (int64_t)k > n - 1)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "graph from arrays: n = %lld, K = %d: expected "
                        "2 <= n < 2^31 and 1 <= K <= n - 1",
                        (long long)n, (int)k);
    bs_status st = bs__graph_check_ids(n, k, nbr, 0, n, "graph from arrays",
                                       BS_ERR_INVALID_ARG, err);
    if (st != BS_OK)
        return st;
    bs_graph *g;
    if ((st = bs__graph_alloc(n, k, p, &g, err)) != BS_OK)
        return st;
    size_t cells = (size_t)n * (size_t)k;
    memcpy(g->nbr, nbr, cells * sizeof *nbr);
    if (sim)
        memcpy(g->sim, sim, cells * sizeof *sim);
    else
        memset(g->sim, 0, cells * sizeof *sim);
    *out = g;
    return BS_OK;
}

void bs_graph_free(bs_graph *g)
{
    if (!g)
        return;
    free(g->nbr);
    free(g->sim);
    free(g);
}

int64_t bs_graph_n(const bs_graph *g)
{
    return g ? g->n : 0;
}
int32_t bs_graph_k(const bs_graph *g)
{
    return g ? g->k : 0;
}

void bs_graph_get_params(const bs_graph *g, bs_graph_params *p)
{
    *p = g->params;
}

const int32_t *bs_graph_neighbors(const bs_graph *g, int64_t i)
{
    if (!g || i < 0 || i >= g->n)
        return NULL;
    return g->nbr + i * (int64_t)g->k;
}

const float *bs_graph_similarities(const bs_graph *g, int64_t i)
{
    if (!g || i < 0 || i >= g->n)
        return NULL;
    return g->sim + i * (int64_t)g->k;
}
