/* attention.c — the multi-head self-attention core with a padding mask
   (transformer.h): softmax(q k^T / sqrt D) over the valid keys, dropout on
   the probabilities, times v.  Plain loops per (sequence, head): at
   T <= 33 the products are small next to the projections around them. */
#include <math.h>
#include <string.h>

#include "transformer.h"

/* one (b, h): the rows of its q, k, v and ctx start at these pointers and
   advance by 3C (qkv) or C (ctx) per position */
typedef struct {
    const float *q, *k, *v;
    int L, T, D, C3;
    float scale; /* 1 / sqrt(D) */
} head_view;

static head_view view_of(const float *qkv, const int *len, int b, int h, int T,
                         int C, int H)
{
    int D = C / H;
    const float *base = qkv + (size_t)b * T * 3 * C + (size_t)h * D;
    return (head_view){
        base, base + C, base + 2 * C, len[b],
        T,    D,        3 * C,        (float)(1.0 / sqrt((double)D))};
}

static float dotf(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* probabilities of query i over keys 0..L-1 into prow (T, zero-padded) */
static void softmax_row(const head_view *hv, int i, float *prow)
{
    const float *qi = hv->q + (size_t)i * hv->C3;
    float mx = -INFINITY;
    for (int j = 0; j < hv->L; j++) {
        prow[j] = dotf(qi, hv->k + (size_t)j * hv->C3, hv->D) * hv->scale;
        mx = prow[j] > mx ? prow[j] : mx;
    }
    float sum = 0.0f;
    for (int j = 0; j < hv->L; j++) {
        prow[j] = expf(prow[j] - mx);
        sum += prow[j];
    }
    for (int j = 0; j < hv->L; j++)
        prow[j] /= sum;
    for (int j = hv->L; j < hv->T; j++)
        prow[j] = 0.0f;
}

/* ctx_i = sum_j P_ij keep_ij / (1 - p) v_j */
static void mix_row(const head_view *hv, const float *prow, const uint8_t *krow,
                    float keepscale, float *ci)
{
    memset(ci, 0, (size_t)hv->D * sizeof(float));
    for (int j = 0; j < hv->L; j++) {
        float w = krow ? (krow[j] ? prow[j] * keepscale : 0.0f) : prow[j];
        const float *vj = hv->v + (size_t)j * hv->C3;
        for (int d = 0; d < hv->D; d++)
            ci[d] += w * vj[d];
    }
}

void bst_attention_forward(const float *qkv, const int *len, float *att,
                           uint8_t *keep, float *ctx, int B, int T, int C,
                           int H, float p, uint64_t key)
{
    float keepscale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    int D = C / H;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        head_view hv = view_of(qkv, len, b, h, T, C, H);
        for (int i = 0; i < T; i++) {
            float *prow = att + ((size_t)bh * T + i) * T;
            uint8_t *krow = p > 0.0f ? keep + ((size_t)bh * T + i) * T : NULL;
            float *ci = ctx + ((size_t)b * T + i) * C + (size_t)h * D;
            if (i >= hv.L) { /* padding query: zero output */
                memset(prow, 0, (size_t)T * sizeof(float));
                if (krow)
                    memset(krow, 0, (size_t)T);
                memset(ci, 0, (size_t)D * sizeof(float));
                continue;
            }
            softmax_row(&hv, i, prow);
            if (krow) {
                uint64_t row =
                    (uint64_t)b << 32 | (uint64_t)h << 16 | (uint64_t)i;
                bst_tf_dropout_row(krow, hv.L, p, key, row);
                memset(krow + hv.L, 0, (size_t)(T - hv.L));
            }
            mix_row(&hv, prow, krow, keepscale, ci);
        }
    }
}

/* the gradient pointers of one (b, h), laid out as head_view's */
typedef struct {
    float *dq, *dk, *dv;
} head_grad;

/* one valid query i: dv_j += Pd_ij dc_i, dP_ij = dc_i . v_j (through the
   dropout), dS = P (dP - sum P dP), dq_i = dS k / sqrt D, dk_j += dS_ij q_i
   / sqrt D */
static void back_row(const head_view *hv, const head_grad *hg, int i,
                     const float *prow, const uint8_t *krow, float keepscale,
                     const float *dci, float *dp)
{
    int D = hv->D;
    size_t s3 = (size_t)hv->C3;
    for (int j = 0; j < hv->L; j++) {
        float m = krow ? (krow[j] ? keepscale : 0.0f) : 1.0f;
        float *dvj = hg->dv + j * s3;
        float w = prow[j] * m;
        for (int d = 0; d < D; d++)
            dvj[d] += w * dci[d];
        dp[j] = dotf(dci, hv->v + j * s3, D) * m;
    }
    float s = 0.0f;
    for (int j = 0; j < hv->L; j++)
        s += prow[j] * dp[j];
    const float *qi = hv->q + i * s3;
    float *dqi = hg->dq + i * s3;
    for (int j = 0; j < hv->L; j++) {
        float ds = prow[j] * (dp[j] - s) * hv->scale;
        const float *kj = hv->k + j * s3;
        float *dkj = hg->dk + j * s3;
        for (int d = 0; d < D; d++) {
            dqi[d] += ds * kj[d];
            dkj[d] += ds * qi[d];
        }
    }
}

void bst_attention_backward(const float *qkv, const int *len, const float *att,
                            const uint8_t *keep, const float *dctx, float *dqkv,
                            float *scratch, int B, int T, int C, int H, float p)
{
    float keepscale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    int D = C / H;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        head_view hv = view_of(qkv, len, b, h, T, C, H);
        float *g0 = dqkv + (size_t)b * T * 3 * C + (size_t)h * D;
        head_grad hg = {g0, g0 + C, g0 + 2 * C};
        for (int t = 0; t < T; t++)
            for (int part = 0; part < 3; part++)
                memset(g0 + (size_t)t * 3 * C + (size_t)part * C, 0,
                       (size_t)D * sizeof(float));
        for (int i = 0; i < hv.L; i++) {
            const float *prow = att + ((size_t)bh * T + i) * T;
            const uint8_t *krow =
                p > 0.0f ? keep + ((size_t)bh * T + i) * T : NULL;
            const float *dci = dctx + ((size_t)b * T + i) * C + (size_t)h * D;
            back_row(&hv, &hg, i, prow, krow, keepscale, dci,
                     scratch + (size_t)bh * T);
        }
    }
}
