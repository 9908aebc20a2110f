/* linear.c — fully connected layer y = x W^T + b (torch.nn.Linear). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

#include "engine.h"

int bst_linear_init(bst_linear *l, int in, int out, int bias)
{
    memset(l, 0, sizeof *l);
    if (in <= 0 || out <= 0)
        return BST_ERR_INVAL;
    l->in = in;
    l->out = out;
    size_t nw = (size_t)in * out;
    l->W = calloc(nw, sizeof(float));
    l->dW = calloc(nw, sizeof(float));
    if (bias) {
        l->b = calloc((size_t)out, sizeof(float));
        l->db = calloc((size_t)out, sizeof(float));
    }
    if (!l->W || !l->dW || (bias && (!l->b || !l->db))) {
        bst_linear_free(l);
        return BST_ERR_NOMEM;
    }
    return BST_OK;
}

void bst_linear_free(bst_linear *l)
{
    free(l->W);
    free(l->dW);
    free(l->b);
    free(l->db);
    memset(l, 0, sizeof *l);
}

void bst_linear_reset(bst_linear *l, uint64_t seed, uint64_t index)
{
    bst_kaiming_normal(l->W, (size_t)l->in * l->out, l->in, seed, index);
    if (l->b)
        memset(l->b, 0, (size_t)l->out * sizeof(float));
}

int bst_linear_params(bst_linear *l, bst_param out[2])
{
    out[0] = (bst_param){l->W, l->dW, (size_t)l->in * l->out, 1};
    if (!l->b)
        return 1;
    out[1] = (bst_param){l->b, l->db, (size_t)l->out, 0};
    return 2;
}

void bst_linear_forward(const bst_linear *l, const float *x, float *y, int B)
{
    /* y (B, out) = x (B, in) . W^T (in, out) */
    int in = l->in, out = l->out;
    assert(B > 0);
    bst_sgemm(CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, l->W, in, 0.0f,
              y, out);
    if (l->b)
        for (int i = 0; i < B; i++)
            for (int o = 0; o < out; o++)
                y[(size_t)i * out + o] += l->b[o];
}

void bst_linear_backward(bst_linear *l, const float *x, const float *dy,
                         float *dx, int B)
{
    int in = l->in, out = l->out;
    /* dW (out, in) += dy^T (out, B) . x (B, in) */
    bst_sgemm(CblasTrans, CblasNoTrans, out, in, B, 1.0f, dy, out, x, in, 1.0f,
              l->dW, in);
    if (l->db)
        for (int i = 0; i < B; i++) /* fixed order: deterministic */
            for (int o = 0; o < out; o++)
                l->db[o] += dy[(size_t)i * out + o];
    /* dx (B, in) = dy (B, out) . W (out, in) */
    if (dx)
        bst_sgemm(CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, dy, out, l->W,
                  in, 0.0f, dx, in);
}
