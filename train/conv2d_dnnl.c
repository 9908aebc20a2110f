/* conv2d_dnnl.c — the forward convolution and the backward data pass
   through oneDNN where the build has it (BST_HAVE_DNNL: CMake option
   BS_DNNL, Debian libdnnl-dev); see conv2d_dnnl.h.  Inputs and outputs
   stay in the engine's NCHW layout: they are reordered to and from the
   layouts oneDNN's kernel picks, the weights to theirs on every call
   (they change every step).

   Determinism: oneDNN's direct forward computes each output from its own
   image alone, and its backward data each dx image from its own dy image
   alone, with a reduction order fixed by the kernel and the layer shape;
   checked bitwise for the encoder's layers: 1 vs 2 threads, and images in
   a batch of 3 vs the same images in a batch of 9, and after the layer
   ran other batch sizes (train/tests/test_conv_dnnl.c tests both
   directions). */
#include "conv2d_dnnl.h"

#ifdef BST_HAVE_DNNL

#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

/* One primitive (the forward or the backward data) for one input shape,
   remade when N, H or W change: it reads "in" (x, or dy) and the weights
   and writes "out" (y, or dx). */
struct op {
    int N, H, W;
    int arg_in, arg_out; /* DNNL_ARG_* of in and out */
    dnnl_primitive_t prim;
    /* reorders user -> kernel layout (in, W) and back (out); NULL when the
       kernel takes the user layout as it is */
    dnnl_primitive_t rin, rw, rout;
    /* user memories (our pointers, set per call) and the kernel's */
    dnnl_memory_t inu, wu, outu, ink, wk, outk;
};

struct bst_conv2d_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    struct op fwd, bwd;
};

static void drop_op(struct op *o)
{
    dnnl_primitive_t *ps[] = {&o->prim, &o->rin, &o->rw, &o->rout};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (*ps[i]) {
            dnnl_primitive_destroy(*ps[i]);
            *ps[i] = NULL;
        }
    /* pairs (user, kernel); the kernel memory may be the user one */
    dnnl_memory_t *ms[][2] = {
        {&o->inu, &o->ink}, {&o->wu, &o->wk}, {&o->outu, &o->outk}};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        if (*ms[i][1] && *ms[i][1] != *ms[i][0])
            dnnl_memory_destroy(*ms[i][1]);
        if (*ms[i][0])
            dnnl_memory_destroy(*ms[i][0]);
        *ms[i][0] = *ms[i][1] = NULL;
    }
    o->N = 0;
}

void bst_conv2d_dnnl_free(bst_conv2d *c)
{
    struct bst_conv2d_dnnl *d = c->dnnl;
    if (!d)
        return;
    drop_op(&d->fwd);
    drop_op(&d->bwd);
    if (d->st)
        dnnl_stream_destroy(d->st);
    if (d->eng)
        dnnl_engine_destroy(d->eng);
    free(d);
    c->dnnl = NULL;
}

/* The user memory u (layout md) and, when the kernel wants layout want,
   a kernel memory *k and the reorder *r from u to k (to_kernel) or from k
   to u; otherwise *k = u and *r = NULL. */
static int layout(struct bst_conv2d_dnnl *d, const dnnl_memory_desc_t *md,
                  const dnnl_memory_desc_t *want, dnnl_memory_t *u,
                  dnnl_memory_t *k, dnnl_primitive_t *r, int to_kernel)
{
    if (dnnl_memory_create(u, md, d->eng, NULL) != dnnl_success)
        return -1;
    if (dnnl_memory_desc_equal(md, want)) {
        *k = *u;
        return 0;
    }
    if (dnnl_memory_create(k, want, d->eng, DNNL_MEMORY_ALLOCATE) !=
        dnnl_success) {
        *k = NULL;
        return -1;
    }
    dnnl_primitive_desc_t pd;
    const dnnl_memory_desc_t *a = to_kernel ? md : want;
    const dnnl_memory_desc_t *b = to_kernel ? want : md;
    if (dnnl_reorder_primitive_desc_create(&pd, a, d->eng, b, d->eng, NULL) !=
        dnnl_success)
        return -1;
    dnnl_status_t s = dnnl_primitive_create(r, pd);
    dnnl_primitive_desc_destroy(pd);
    return s == dnnl_success ? 0 : -1;
}

/* The primitive o (backward data when bwd, else forward) and its reorders
   for input (N, cin, H, W). */
static int make_op(const bst_conv2d *c, struct bst_conv2d_dnnl *d, struct op *o,
                   int bwd, int N, int H, int W, int Ho, int Wo)
{
    dnnl_dims_t xd = {N, c->cin, H, W}, wd = {c->cout, c->cin, c->k, c->k};
    dnnl_dims_t yd = {N, c->cout, Ho, Wo};
    dnnl_dims_t strides = {c->stride, c->stride}, pad = {c->pad, c->pad};
    dnnl_memory_desc_t xmd, wmd, ymd, xa, wa, ya;
    if (dnnl_memory_desc_init_by_tag(&xmd, 4, xd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_oihw) ||
        dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&xa, 4, xd, dnnl_f32,
                                     dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&wa, 4, wd, dnnl_f32,
                                     dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&ya, 4, yd, dnnl_f32, dnnl_format_tag_any))
        return -1;
    dnnl_convolution_desc_t cd, bd;
    dnnl_primitive_desc_t pd, fpd;
    if (dnnl_convolution_forward_desc_init(
            &cd, dnnl_forward_training, dnnl_convolution_direct, &xa, &wa, NULL,
            &ya, strides, pad, pad) != dnnl_success ||
        dnnl_primitive_desc_create(&fpd, &cd, NULL, d->eng, NULL) !=
            dnnl_success)
        return -1;
    if (bwd) { /* the forward's descriptor is the backward's hint */
        dnnl_status_t s = dnnl_convolution_backward_data_desc_init(
            &bd, dnnl_convolution_direct, &xa, &wa, &ya, strides, pad, pad);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(&pd, &bd, NULL, d->eng, fpd);
        dnnl_primitive_desc_destroy(fpd);
        if (s != dnnl_success)
            return -1;
    } else
        pd = fpd;
    /* in and out: (x, y) forward, (dy, dx) backward */
    const dnnl_memory_desc_t *inmd = bwd ? &ymd : &xmd,
                             *outmd = bwd ? &xmd : &ymd;
    const dnnl_memory_desc_t *ink = dnnl_primitive_desc_query_md(
        pd, bwd ? dnnl_query_diff_dst_md : dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wk =
        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *outk = dnnl_primitive_desc_query_md(
        pd, bwd ? dnnl_query_diff_src_md : dnnl_query_dst_md, 0);
    int rc = layout(d, inmd, ink, &o->inu, &o->ink, &o->rin, 1) ||
             layout(d, &wmd, wk, &o->wu, &o->wk, &o->rw, 1) ||
             layout(d, outmd, outk, &o->outu, &o->outk, &o->rout, 0) ||
             dnnl_primitive_create(&o->prim, pd) != dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    if (rc)
        return -1;
    o->arg_in = bwd ? DNNL_ARG_DIFF_DST : DNNL_ARG_SRC;
    o->arg_out = bwd ? DNNL_ARG_DIFF_SRC : DNNL_ARG_DST;
    o->N = N, o->H = H, o->W = W;
    return 0;
}

/* Runs primitive p from a to b (a reorder), or nothing without one. */
static int reorder(struct bst_conv2d_dnnl *d, dnnl_primitive_t p,
                   dnnl_memory_t a, dnnl_memory_t b)
{
    if (!p)
        return 0;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
    return dnnl_primitive_execute(p, d->st, 2, args) != dnnl_success;
}

/* out = the forward (bwd = 0) or backward data (bwd = 1) of in; the
   return value of bst_conv2d_dnnl_forward. */
static int run(bst_conv2d *c, int bwd, const float *in, float *out, int N,
               int H, int W, int Ho, int Wo)
{
    if (c->b) /* the encoder's convolutions have no bias */
        return 0;
    struct bst_conv2d_dnnl *d = c->dnnl;
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d)
            return 0;
        c->dnnl = d;
        if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success ||
            dnnl_stream_create(&d->st, d->eng, dnnl_stream_default_flags) !=
                dnnl_success) {
            bst_conv2d_dnnl_free(c);
            return 0;
        }
    }
    struct op *o = bwd ? &d->bwd : &d->fwd;
    if (o->N != N || o->H != H || o->W != W) {
        drop_op(o);
        if (make_op(c, d, o, bwd, N, H, W, Ho, Wo)) {
            drop_op(o);
            return 0;
        }
    }
    if (dnnl_memory_set_data_handle(o->inu, (void *)in) ||
        dnnl_memory_set_data_handle(o->wu, c->W) ||
        dnnl_memory_set_data_handle(o->outu, out))
        return -1;
    dnnl_exec_arg_t args[3] = {
        {o->arg_in, o->ink}, {DNNL_ARG_WEIGHTS, o->wk}, {o->arg_out, o->outk}};
    if (reorder(d, o->rin, o->inu, o->ink) || reorder(d, o->rw, o->wu, o->wk) ||
        dnnl_primitive_execute(o->prim, d->st, 3, args) != dnnl_success ||
        reorder(d, o->rout, o->outk, o->outu) || dnnl_stream_wait(d->st))
        return -1;
    return 1;
}

int bst_conv2d_dnnl_forward(bst_conv2d *c, const float *x, float *y, int N,
                            int H, int W, int Ho, int Wo)
{
    return run(c, 0, x, y, N, H, W, Ho, Wo);
}

int bst_conv2d_dnnl_backward_data(bst_conv2d *c, const float *dy, float *dx,
                                  int N, int H, int W, int Ho, int Wo)
{
    return run(c, 1, dy, dx, N, H, W, Ho, Wo);
}

#else /* no oneDNN: the caller's own path */

int bst_conv2d_dnnl_forward(bst_conv2d *c, const float *x, float *y, int N,
                            int H, int W, int Ho, int Wo)
{
    (void)c, (void)x, (void)y, (void)N, (void)H, (void)W, (void)Ho, (void)Wo;
    return 0;
}

int bst_conv2d_dnnl_backward_data(bst_conv2d *c, const float *dy, float *dx,
                                  int N, int H, int W, int Ho, int Wo)
{
    (void)c, (void)dy, (void)dx, (void)N, (void)H, (void)W, (void)Ho, (void)Wo;
    return 0;
}

void bst_conv2d_dnnl_free(bst_conv2d *c)
{
    (void)c;
}

#endif
