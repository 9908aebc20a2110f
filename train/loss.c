/* loss.c — contrastive losses over the 2B x 2B similarity matrix of two
   views: SimCLR's NT-Xent (infonce), the debiased estimator (dcl, Chuang et
   al. 2020) and the hard-negative estimator (hcl, Robinson et al. 2021), as
   in their reference code's easy / debias / hard branches.  Everything is
   computed in double: the exponentials reach e^{(1+beta)/tau}. */
#include <math.h>
#include <stdlib.h>

#include "gemm.h"

#include "engine.h"

/* Per-anchor quantities of row i of the similarity matrix.  Row i has M
   columns: its positive p, itself i (skipped; i < 0 when the row has no
   self column, as in the cross-view loss) and N = M - 2 (or M - 1)
   negatives. */
typedef struct {
    double pos;     /* exp(s_ip) */
    double ng;      /* the (clamped) negative term */
    int clamped;    /* the clamp at N e^{-1/tau} binds: no gradient via ng */
    double A, Cimp; /* hcl: sum e^{(1+beta)s}, sum e^{beta s} over negatives */
} anchor_t;

static anchor_t anchor_terms(const bst_loss_cfg *cfg, const double *Srow, int i,
                             int p, int M)
{
    anchor_t a = {.pos = exp(Srow[p])};
    double N = i >= 0 ? M - 2 : M - 1, tp = cfg->tau_plus, beta = cfg->beta;
    double sumneg = 0.0, A = 0.0, Cimp = 0.0;
    for (int j = 0; j < M; j++) {
        if (j == i || j == p)
            continue;
        sumneg += exp(Srow[j]);
        if (cfg->kind == BST_LOSS_HCL) {
            A += exp((1.0 + beta) * Srow[j]); /* imp * neg */
            Cimp += exp(beta * Srow[j]);      /* imp */
        }
    }
    if (cfg->kind == BST_LOSS_INFONCE) {
        a.ng = sumneg;
        return a;
    }
    /* hcl: sum(imp neg) / mean(imp) */
    double x = cfg->kind == BST_LOSS_HCL ? N * A / Cimp : sumneg;
    double ng = (-tp * N * a.pos + x) / (1.0 - tp);
    double floor_ = N * exp(-1.0 / cfg->tau);
    a.clamped = ng < floor_;
    a.ng = a.clamped ? floor_ : ng;
    a.A = A;
    a.Cimp = Cimp;
    return a;
}

/* Row i of G = dloss/dS given its anchor terms; w = 1/M from the mean. */
static void anchor_grad(const bst_loss_cfg *cfg, const double *Srow,
                        const anchor_t *a, int i, int p, int M, double w,
                        double *Grow)
{
    double N = i >= 0 ? M - 2 : M - 1, tp = cfg->tau_plus, beta = cfg->beta;
    double c = w / (a->pos + a->ng); /* dL_i/dng */
    for (int j = 0; j < M; j++)
        Grow[j] = 0.0;
    /* direct: L_i = log(pos + ng) - s_ip */
    Grow[p] = c * a->pos - w;
    if (cfg->kind == BST_LOSS_INFONCE) {
        for (int j = 0; j < M; j++)
            if (j != i && j != p)
                Grow[j] = c * exp(Srow[j]);
        return;
    }
    if (a->clamped)
        return;
    double k = c / (1.0 - tp); /* dL_i / d(sum term) */
    Grow[p] += -k * tp * N * a->pos;
    for (int j = 0; j < M; j++) {
        if (j == i || j == p)
            continue;
        if (cfg->kind == BST_LOSS_DCL) {
            Grow[j] = k * exp(Srow[j]);
        } else { /* d(N A / C)/ds_j */
            double eA = exp((1.0 + beta) * Srow[j]), eC = exp(beta * Srow[j]);
            Grow[j] = k * N *
                      ((1.0 + beta) * eA / a->Cimp -
                       a->A * beta * eC / (a->Cimp * a->Cimp));
        }
    }
}

static int loss_check(const bst_loss_cfg *cfg, int B, int d)
{
    if (!cfg || !(cfg->tau > 0) || B < 2 || d < 1 ||
        cfg->kind < BST_LOSS_INFONCE || cfg->kind > BST_LOSS_HCL)
        return BST_ERR_INVAL;
    if (cfg->kind != BST_LOSS_INFONCE &&
        !(cfg->tau_plus >= 0 && cfg->tau_plus < 1))
        return BST_ERR_INVAL;
    return BST_OK;
}

int bst_contrastive_loss(const bst_loss_cfg *cfg, const float *z1,
                         const float *z2, int B, int d, double *loss,
                         float *dz1, float *dz2)
{
    if (loss_check(cfg, B, d))
        return BST_ERR_INVAL;
    int M = 2 * B;
    double *out = malloc((size_t)M * d * sizeof(double));
    double *S = malloc((size_t)M * M * sizeof(double));
    double *G = malloc((size_t)M * M * sizeof(double));
    double *dout = malloc((size_t)M * d * sizeof(double));
    double *rowloss = malloc((size_t)M * sizeof(double));
    if (!out || !S || !G || !dout || !rowloss) {
        free(out);
        free(S);
        free(G);
        free(dout);
        free(rowloss);
        return BST_ERR_NOMEM;
    }
    /* out (M, d) = [z1; z2] */
    for (size_t q = 0; q < (size_t)B * d; q++) {
        out[q] = z1[q];
        out[(size_t)B * d + q] = z2[q];
    }
    /* S (M, M) = out out^T / tau */
    bst_dgemm(CblasNoTrans, CblasTrans, M, M, d, 1.0 / cfg->tau, out, d, out, d,
              0.0, S, M);
    /* rows are independent: OpenMP over anchors, per-row losses summed in
       order afterwards (deterministic for any thread count) */
    double w = 1.0 / M;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++) {
        int p = (i + B) % M; /* the other view of the same sample */
        const double *Srow = S + (size_t)i * M;
        anchor_t a = anchor_terms(cfg, Srow, i, p, M);
        rowloss[i] = log(a.pos + a.ng) - Srow[p]; /* -log(pos / (pos + ng)) */
        anchor_grad(cfg, Srow, &a, i, p, M, w, G + (size_t)i * M);
    }
    double total = 0.0;
    for (int i = 0; i < M; i++)
        total += rowloss[i];
    *loss = total / M;
    if (dz1 && dz2) {
        /* dS = G; S = out out^T / tau  =>  dout = (G + G^T) out / tau */
        for (int i = 0; i < M; i++)
            for (int j = i; j < M; j++) {
                double h = G[(size_t)i * M + j] + G[(size_t)j * M + i];
                G[(size_t)i * M + j] = h;
                G[(size_t)j * M + i] = h;
            }
        bst_dgemm(CblasNoTrans, CblasNoTrans, M, d, M, 1.0 / cfg->tau, G, M,
                  out, d, 0.0, dout, d);
        for (size_t q = 0; q < (size_t)B * d; q++) {
            dz1[q] = (float)dout[q];
            dz2[q] = (float)dout[(size_t)B * d + q];
        }
    }
    free(out);
    free(S);
    free(G);
    free(dout);
    free(rowloss);
    return BST_OK;
}

/* (B, d) floats -> doubles */
static void widen(const float *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i];
}

int bst_cross_contrastive_loss(const bst_loss_cfg *cfg, const float *q,
                               const float *k, int B, int d, double *loss,
                               float *dq)
{
    if (loss_check(cfg, B, d) || !q || !k || !loss)
        return BST_ERR_INVAL;
    size_t bd = (size_t)B * d, bb = (size_t)B * B;
    double *qd = malloc(bd * sizeof(double)), *kd = malloc(bd * sizeof(double));
    double *S = malloc(bb * sizeof(double)), *G = malloc(bb * sizeof(double));
    double *rowloss = malloc((size_t)B * sizeof(double));
    int rc = qd && kd && S && G && rowloss ? BST_OK : BST_ERR_NOMEM;
    if (!rc) {
        widen(q, qd, bd);
        widen(k, kd, bd);
        /* S (B, B) = q k^T / tau: row i holds anchor q_i against every key;
           its positive is column i, the other B - 1 columns negatives */
        bst_dgemm(CblasNoTrans, CblasTrans, B, B, d, 1.0 / cfg->tau, qd, d, kd,
                  d, 0.0, S, B);
        double w = 1.0 / B;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < B; i++) {
            const double *Srow = S + (size_t)i * B;
            anchor_t a = anchor_terms(cfg, Srow, -1, i, B);
            rowloss[i] = log(a.pos + a.ng) - Srow[i];
            anchor_grad(cfg, Srow, &a, -1, i, B, w, G + (size_t)i * B);
        }
        double total = 0.0;
        for (int i = 0; i < B; i++)
            total += rowloss[i];
        *loss = total / B;
        if (dq) { /* dq = G k / tau (k is a constant: no gradient) */
            bst_dgemm(CblasNoTrans, CblasNoTrans, B, d, B, 1.0 / cfg->tau, G, B,
                      kd, d, 0.0, qd, d);
            for (size_t t = 0; t < bd; t++)
                dq[t] = (float)qd[t];
        }
    }
    free(qd);
    free(kd);
    free(S);
    free(G);
    free(rowloss);
    return rc;
}
