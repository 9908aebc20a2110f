/* embedding.c — token lookup (+ projection) + learned positions
   (transformer.h).  Padding positions are zero and get no gradient. */
#include <stdlib.h>
#include <string.h>

#include "transformer.h"

int bst_embedding_init(bst_embedding *e, int vocab, int max_len, int edim,
                       int dim)
{
    memset(e, 0, sizeof *e);
    if (vocab <= 0 || max_len <= 0 || edim <= 0 || dim <= 0)
        return BST_ERR_INVAL;
    e->vocab = vocab;
    e->max_len = max_len;
    e->edim = edim;
    e->dim = dim;
    size_t nt = (size_t)vocab * edim, np = (size_t)max_len * dim;
    e->tok = calloc(nt, sizeof(float));
    e->dtok = calloc(nt, sizeof(float));
    e->pos = calloc(np, sizeof(float));
    e->dpos = calloc(np, sizeof(float));
    int rc = BST_OK;
    if (edim != dim)
        rc = bst_linear_init(&e->proj, edim, dim, 1);
    if (rc != BST_OK || !e->tok || !e->dtok || !e->pos || !e->dpos) {
        bst_embedding_free(e);
        return BST_ERR_NOMEM;
    }
    return BST_OK;
}

void bst_embedding_free(bst_embedding *e)
{
    free(e->tok);
    free(e->dtok);
    free(e->pos);
    free(e->dpos);
    bst_linear_free(&e->proj);
    memset(e, 0, sizeof *e);
}

int bst_embedding_params(bst_embedding *e, bst_param out[4])
{
    int k = 0;
    out[k++] = (bst_param){e->tok, e->dtok, (size_t)e->vocab * e->edim, 1};
    if (e->edim != e->dim)
        k += bst_linear_params(&e->proj, out + k);
    out[k++] = (bst_param){e->pos, e->dpos, (size_t)e->max_len * e->dim, 1};
    return k;
}

/* dst[b, t] = tab[ids[b, t]] (width w) at valid positions, 0 at padding */
static void lookup(const float *tab, int w, const int32_t *ids, const int *len,
                   float *dst, int B, int T)
{
#pragma omp parallel for schedule(static) if (B * T >= 512)
    for (int r = 0; r < B * T; r++) {
        int b = r / T, t = r % T;
        float *d = dst + (size_t)r * w;
        if (t < len[b])
            memcpy(d, tab + (size_t)ids[r] * w, (size_t)w * sizeof(float));
        else
            memset(d, 0, (size_t)w * sizeof(float));
    }
}

void bst_embedding_forward(const bst_embedding *e, const int32_t *ids,
                           const int *len, float *raw, float *y, int B, int T)
{
    int C = e->dim;
    if (e->edim == C) {
        lookup(e->tok, C, ids, len, y, B, T);
    } else {
        lookup(e->tok, e->edim, ids, len, raw, B, T);
        bst_linear_forward(&e->proj, raw, y, B * T);
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *yr = y + ((size_t)b * T + t) * C;
            if (t >= len[b]) {
                memset(yr, 0, (size_t)C * sizeof(float));
                continue;
            }
            const float *p = e->pos + (size_t)t * C;
            for (int c = 0; c < C; c++)
                yr[c] += p[c];
        }
}

/* table[ids] += src at valid positions, in (b, t) order */
static void scatter(float *tab, int w, const int32_t *ids, const int *len,
                    const float *src, int B, int T)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < len[b]; t++) {
            size_t r = (size_t)b * T + t;
            float *d = tab + (size_t)ids[r] * w;
            const float *s = src + r * w;
            for (int c = 0; c < w; c++)
                d[c] += s[c];
        }
}

void bst_embedding_backward(bst_embedding *e, const int32_t *ids,
                            const int *len, const float *raw, float *draw,
                            float *dy, int B, int T)
{
    int C = e->dim;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < len[b]; t++) {
            float *d = e->dpos + (size_t)t * C;
            const float *s = dy + ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++)
                d[c] += s[c];
        }
    if (e->edim == C) {
        scatter(e->dtok, C, ids, len, dy, B, T);
        return;
    }
    /* the forward zeroed the padding rows: their dy reaches nothing (not
       the projection's bias either) */
    for (int b = 0; b < B; b++)
        memset(dy + ((size_t)b * T + len[b]) * C, 0,
               (size_t)(T - len[b]) * C * sizeof(float));
    bst_linear_backward(&e->proj, raw, dy, draw, B * T);
    scatter(e->dtok, e->edim, ids, len, draw, B, T);
}
