/* conv2d_dnnl.c — the convolution (forward, backward data, weight
   gradient) through oneDNN where the build has it (BST_HAVE_DNNL: CMake option
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
   directions).  The weight gradient runs on conv2d.c's fixed parts of the
   batch, one thread each (make_wgrad says how), added in part order. */
#include "conv2d_dnnl.h"

#ifdef BST_HAVE_DNNL

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>
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

/* The weight gradient of one part of the batch (n images; conv2d.c fixes
   the parts), planned for one thread: the primitives are shared, the
   memories are per thread (struct wmem). */
struct wshape {
    int n;
    dnnl_primitive_t conv, rx, rdy, rdw; /* reorders: NULL when not needed */
    dnnl_memory_desc_t xu, dyu, dwu, xk, dyk, dwk, sp;
};

struct wmem {
    dnnl_memory_t xu, dyu, dwu, xk, dyk, dwk, sp;
    dnnl_memory_t dyv; /* a part of the dx pass's dy (layout dyk), or NULL */
};

struct wgrad {
    int N, H, W, nparts, nslots;
    struct wshape sh[2]; /* parts of N / nparts images and of one more */
    dnnl_stream_t *st;   /* per thread */
    struct wmem *mem;    /* [thread][shape] */
};

struct bst_conv2d_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    struct op fwd, bwd;
    struct wgrad wg;
};

/* A user memory *u and its kernel memory *k, which may be *u. */
static void drop_pair(dnnl_memory_t *u, dnnl_memory_t *k)
{
    if (*k && *k != *u)
        dnnl_memory_destroy(*k);
    if (*u)
        dnnl_memory_destroy(*u);
    *u = *k = NULL;
}

static void drop_op(struct op *o)
{
    dnnl_primitive_t *ps[] = {&o->prim, &o->rin, &o->rw, &o->rout};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (*ps[i]) {
            dnnl_primitive_destroy(*ps[i]);
            *ps[i] = NULL;
        }
    drop_pair(&o->inu, &o->ink);
    drop_pair(&o->wu, &o->wk);
    drop_pair(&o->outu, &o->outk);
    o->N = 0;
}

static void drop_wgrad(struct wgrad *g);

void bst_conv2d_dnnl_free(bst_conv2d *c)
{
    struct bst_conv2d_dnnl *d = c->dnnl;
    if (!d)
        return;
    drop_op(&d->fwd);
    drop_op(&d->bwd);
    drop_wgrad(&d->wg);
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

/* The layer's descriptors for n images of H x W: the user layouts (x
   and y NCHW, the weights OIHW), the kernel's to choose ("any"), and the
   forward's primitive descriptor *fpd (the forward itself, or the hint of
   a backward). */
struct descs {
    dnnl_dims_t strides, pad;
    dnnl_memory_desc_t x, w, y, xa, wa, ya;
};

static int make_descs(const bst_conv2d *c, struct bst_conv2d_dnnl *d, int n,
                      int H, int W, int Ho, int Wo, struct descs *m,
                      dnnl_primitive_desc_t *fpd)
{
    dnnl_dims_t xd = {n, c->cin, H, W}, wd = {c->cout, c->cin, c->k, c->k};
    dnnl_dims_t yd = {n, c->cout, Ho, Wo};
    m->strides[0] = m->strides[1] = c->stride;
    m->pad[0] = m->pad[1] = c->pad;
    dnnl_convolution_desc_t fd;
    if (dnnl_memory_desc_init_by_tag(&m->x, 4, xd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&m->w, 4, wd, dnnl_f32, dnnl_oihw) ||
        dnnl_memory_desc_init_by_tag(&m->y, 4, yd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&m->xa, 4, xd, dnnl_f32,
                                     dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&m->wa, 4, wd, dnnl_f32,
                                     dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&m->ya, 4, yd, dnnl_f32,
                                     dnnl_format_tag_any) ||
        dnnl_convolution_forward_desc_init(
            &fd, dnnl_forward_training, dnnl_convolution_direct, &m->xa, &m->wa,
            NULL, &m->ya, m->strides, m->pad, m->pad) != dnnl_success)
        return -1;
    return dnnl_primitive_desc_create(fpd, &fd, NULL, d->eng, NULL) !=
                   dnnl_success
               ? -1
               : 0;
}

/* The primitive o (backward data when bwd, else forward) and its reorders
   for input (N, cin, H, W). */
static int make_op(const bst_conv2d *c, struct bst_conv2d_dnnl *d, struct op *o,
                   int bwd, int N, int H, int W, int Ho, int Wo)
{
    struct descs m;
    dnnl_convolution_desc_t bd;
    dnnl_primitive_desc_t pd, fpd;
    if (make_descs(c, d, N, H, W, Ho, Wo, &m, &fpd))
        return -1;
    if (bwd) { /* the forward's descriptor is the backward's hint */
        dnnl_status_t s = dnnl_convolution_backward_data_desc_init(
            &bd, dnnl_convolution_direct, &m.xa, &m.wa, &m.ya, m.strides, m.pad,
            m.pad);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(&pd, &bd, NULL, d->eng, fpd);
        dnnl_primitive_desc_destroy(fpd);
        if (s != dnnl_success)
            return -1;
    } else
        pd = fpd;
    /* in and out: (x, y) forward, (dy, dx) backward */
    const dnnl_memory_desc_t *inmd = bwd ? &m.y : &m.x,
                             *outmd = bwd ? &m.x : &m.y;
    const dnnl_memory_desc_t *ink = dnnl_primitive_desc_query_md(
        pd, bwd ? dnnl_query_diff_dst_md : dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wk =
        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *outk = dnnl_primitive_desc_query_md(
        pd, bwd ? dnnl_query_diff_src_md : dnnl_query_dst_md, 0);
    int rc = layout(d, inmd, ink, &o->inu, &o->ink, &o->rin, 1) ||
             layout(d, &m.w, wk, &o->wu, &o->wk, &o->rw, 1) ||
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

/* c->dnnl, made on the first call; NULL where oneDNN is not to be used
   (a bias: the encoder's convolutions have none) or cannot start. */
static struct bst_conv2d_dnnl *state(bst_conv2d *c)
{
    if (c->b)
        return NULL;
    struct bst_conv2d_dnnl *d = c->dnnl;
    if (d)
        return d;
    d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    c->dnnl = d;
    if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&d->st, d->eng, dnnl_stream_default_flags) !=
            dnnl_success) {
        bst_conv2d_dnnl_free(c);
        return NULL;
    }
    return d;
}

/* out = the forward (bwd = 0) or backward data (bwd = 1) of in; the
   return value of bst_conv2d_dnnl_forward. */
static int run(bst_conv2d *c, int bwd, const float *in, float *out, int N,
               int H, int W, int Ho, int Wo)
{
    struct bst_conv2d_dnnl *d = state(c);
    if (!d)
        return 0;
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

/* ---------------------------------------------------- weight gradient */

/* A reorder from a to b with a user scratchpad (there must be none), or
   *r = NULL when the layouts are the same. */
static int wreorder(struct bst_conv2d_dnnl *d, const dnnl_memory_desc_t *a,
                    const dnnl_memory_desc_t *b, const_dnnl_primitive_attr_t at,
                    dnnl_primitive_t *r)
{
    *r = NULL;
    if (dnnl_memory_desc_equal(a, b))
        return 0;
    dnnl_primitive_desc_t pd;
    if (dnnl_reorder_primitive_desc_create(&pd, a, d->eng, b, d->eng, at) !=
        dnnl_success)
        return -1;
    const dnnl_memory_desc_t *sp =
        dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_status_t s = dnnl_memory_desc_get_size(sp)
                          ? dnnl_unimplemented
                          : dnnl_primitive_create(r, pd);
    dnnl_primitive_desc_destroy(pd);
    return s == dnnl_success ? 0 : -1;
}

/* The primitives of a part of n images (sh->n = n), planned for the one
   thread they run on (the caller sets that); declines oneDNN's reference
   implementation. */
static int make_wshape(const bst_conv2d *c, struct bst_conv2d_dnnl *d,
                       struct wshape *sh, int n, int H, int W, int Ho, int Wo)
{
    struct descs m;
    dnnl_convolution_desc_t bd;
    dnnl_primitive_desc_t fpd, pd;
    if (make_descs(c, d, n, H, W, Ho, Wo, &m, &fpd))
        return -1;
    sh->xu = m.x, sh->dyu = m.y, sh->dwu = m.w;
    dnnl_primitive_attr_t at = NULL;
    int rc = -1;
    if (dnnl_convolution_backward_weights_desc_init(
            &bd, dnnl_convolution_direct, &m.xa, &m.wa, NULL, &m.ya, m.strides,
            m.pad, m.pad) != dnnl_success ||
        dnnl_primitive_attr_create(&at) != dnnl_success ||
        dnnl_primitive_attr_set_scratchpad_mode(at,
                                                dnnl_scratchpad_mode_user) ||
        dnnl_primitive_desc_create(&pd, &bd, at, d->eng, fpd) != dnnl_success)
        goto out;
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    sh->xk = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    sh->dyk = *dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0);
    sh->dwk = *dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0);
    sh->sp = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    rc = !impl || strstr(impl, "ref") ||
         dnnl_primitive_create(&sh->conv, pd) != dnnl_success ||
         wreorder(d, &sh->xu, &sh->xk, at, &sh->rx) ||
         wreorder(d, &sh->dyu, &sh->dyk, at, &sh->rdy) ||
         wreorder(d, &sh->dwk, &sh->dwu, at, &sh->rdw);
    dnnl_primitive_desc_destroy(pd);
    sh->n = rc ? 0 : n;
out:
    if (at)
        dnnl_primitive_attr_destroy(at);
    dnnl_primitive_desc_destroy(fpd);
    return rc ? -1 : 0;
}

/* A thread's memories for shape sh: the user ones without data (set per
   call), the kernel ones allocated where their layout differs. */
static int make_wmem(struct bst_conv2d_dnnl *d, const struct wshape *sh,
                     struct wmem *m)
{
    const dnnl_memory_desc_t *u[3] = {&sh->xu, &sh->dyu, &sh->dwu},
                             *k[3] = {&sh->xk, &sh->dyk, &sh->dwk};
    dnnl_memory_t *mu[3] = {&m->xu, &m->dyu, &m->dwu},
                  *mk[3] = {&m->xk, &m->dyk, &m->dwk};
    for (int i = 0; i < 3; i++) {
        if (dnnl_memory_create(mu[i], u[i], d->eng, NULL) != dnnl_success)
            return -1;
        if (dnnl_memory_desc_equal(u[i], k[i]))
            *mk[i] = *mu[i];
        else if (dnnl_memory_create(mk[i], k[i], d->eng,
                                    DNNL_MEMORY_ALLOCATE) != dnnl_success)
            return -1;
    }
    if (*mk[1] != *mu[1] &&
        dnnl_memory_create(&m->dyv, &sh->dyk, d->eng, NULL) != dnnl_success)
        return -1;
    if (dnnl_memory_desc_get_size(&sh->sp) &&
        dnnl_memory_create(&m->sp, &sh->sp, d->eng, DNNL_MEMORY_ALLOCATE) !=
            dnnl_success)
        return -1;
    return 0;
}

static void drop_wmem(struct wmem *m)
{
    drop_pair(&m->xu, &m->xk);
    drop_pair(&m->dyu, &m->dyk);
    drop_pair(&m->dwu, &m->dwk);
    if (m->sp)
        dnnl_memory_destroy(m->sp);
    if (m->dyv)
        dnnl_memory_destroy(m->dyv);
    m->sp = m->dyv = NULL;
}

static void drop_wgrad(struct wgrad *g)
{
    for (int t = 0; t < g->nslots; t++) {
        for (int s = 0; s < 2; s++)
            drop_wmem(&g->mem[2 * t + s]);
        if (g->st[t])
            dnnl_stream_destroy(g->st[t]);
    }
    for (int s = 0; s < 2; s++) {
        struct wshape *sh = &g->sh[s];
        dnnl_primitive_t *ps[] = {&sh->conv, &sh->rx, &sh->rdy, &sh->rdw};
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
            if (*ps[i])
                dnnl_primitive_destroy(*ps[i]);
    }
    free(g->st);
    free(g->mem);
    memset(g, 0, sizeof *g);
}

/* The primitives for parts of N / nparts and N / nparts + 1 images (the
   latter only where N % nparts) and nslots threads' memories.  oneDNN
   plans a primitive for the thread count it sees when the primitive is
   made (its weight gradient then reduces over the batch across them), so
   this thread's count is 1 while they are made: one thread computes a
   part, always in the same order. */
static int make_wgrad(const bst_conv2d *c, struct bst_conv2d_dnnl *d,
                      struct wgrad *g, int N, int H, int W, int Ho, int Wo,
                      int nparts, int nslots)
{
    g->st = calloc((size_t)nslots, sizeof *g->st);
    g->mem = calloc(2 * (size_t)nslots, sizeof *g->mem);
    if (!g->st || !g->mem)
        return -1;
    g->nslots = nslots;
    int saved = omp_get_max_threads(), rc = 0;
    omp_set_num_threads(1);
    for (int s = 0; s < 2 && !rc; s++)
        if (s == 0 || N % nparts)
            rc = make_wshape(c, d, &g->sh[s], N / nparts + s, H, W, Ho, Wo);
    omp_set_num_threads(saved);
    for (int t = 0; t < nslots && !rc; t++) {
        rc = dnnl_stream_create(&g->st[t], d->eng, dnnl_stream_default_flags) !=
             dnnl_success;
        for (int s = 0; s < 2 && !rc; s++)
            if (g->sh[s].n)
                rc = make_wmem(d, &g->sh[s], &g->mem[2 * t + s]);
    }
    if (rc)
        return -1;
    g->N = N, g->H = H, g->W = W, g->nparts = nparts;
    return 0;
}

/* dw (cout, cin, k, k) = the weight gradient of the part x, dy; dyk,
   when not NULL, is that part of dy already in the kernel's layout (the
   dx pass's reorder), which then replaces the reorder of dy. */
static int run_wpart(const struct wshape *sh, const struct wmem *m,
                     dnnl_stream_t st, const float *x, const float *dy,
                     void *dyk, float *dw)
{
    dnnl_memory_t dym = dyk ? m->dyv : m->dyk;
    if (dnnl_memory_set_data_handle(m->xu, (void *)x) ||
        dnnl_memory_set_data_handle(m->dyu, (void *)dy) ||
        dnnl_memory_set_data_handle(m->dwu, dw) ||
        (dyk && dnnl_memory_set_data_handle(dym, dyk)))
        return -1;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, m->xk},
                               {DNNL_ARG_DIFF_DST, dym},
                               {DNNL_ARG_DIFF_WEIGHTS, m->dwk},
                               {DNNL_ARG_SCRATCHPAD, m->sp}};
    dnnl_exec_arg_t rx[2] = {{DNNL_ARG_FROM, m->xu}, {DNNL_ARG_TO, m->xk}};
    dnnl_exec_arg_t rdy[2] = {{DNNL_ARG_FROM, m->dyu}, {DNNL_ARG_TO, m->dyk}};
    dnnl_exec_arg_t rdw[2] = {{DNNL_ARG_FROM, m->dwk}, {DNNL_ARG_TO, m->dwu}};
    return (sh->rx && dnnl_primitive_execute(sh->rx, st, 2, rx)) ||
           (!dyk && sh->rdy && dnnl_primitive_execute(sh->rdy, st, 2, rdy)) ||
           dnnl_primitive_execute(sh->conv, st, m->sp ? 4 : 3, args) ||
           (sh->rdw && dnnl_primitive_execute(sh->rdw, st, 2, rdw)) ||
           dnnl_stream_wait(st);
}

/* The dx pass's dy in the kernel's layout (d->bwd's reorder output, N
   images) when the weight gradient's parts take that layout as it is, so
   that part p's dy is a slice of it: its address, with *stride the floats
   between two images; NULL otherwise (no reorder there, another layout). */
static char *shared_dy(struct bst_conv2d_dnnl *d, const struct wgrad *g, int N,
                       dnnl_dim_t *stride)
{
    const struct op *o = &d->bwd;
    if (!o->rin || o->N != N || o->H != g->H || o->W != g->W)
        return NULL;
    const dnnl_memory_desc_t *bmd = NULL;
    if (dnnl_memory_get_memory_desc(o->ink, &bmd) != dnnl_success || !bmd)
        return NULL;
    for (int s = 0; s < 2; s++) {
        if (!g->sh[s].n)
            continue;
        dnnl_memory_desc_t md = g->sh[s].dyk; /* the part's, as N images */
        if (md.format_kind != dnnl_blocked || md.offset0 != 0 ||
            md.dims[0] != md.padded_dims[0] || md.padded_offsets[0] != 0)
            return NULL;
        md.dims[0] = md.padded_dims[0] = N;
        if (!dnnl_memory_desc_equal(&md, bmd))
            return NULL;
        *stride = md.format_desc.blocking.strides[0];
    }
    void *p = NULL;
    if (dnnl_memory_get_data_handle(o->ink, &p) != dnnl_success)
        return NULL;
    return p;
}

int bst_conv2d_dnnl_weights(bst_conv2d *c, const float *x, const float *dy,
                            int N, int H, int W, int Ho, int Wo, int nparts,
                            int dy_ready, float *part)
{
    struct bst_conv2d_dnnl *d = state(c);
    if (!d)
        return 0;
    struct wgrad *g = &d->wg;
    int nt = omp_get_max_threads();
    if (g->N != N || g->H != H || g->W != W || g->nparts != nparts ||
        g->nslots < nt) {
        drop_wgrad(g);
        if (make_wgrad(c, d, g, N, H, W, Ho, Wo, nparts, nt)) {
            drop_wgrad(g);
            return 0;
        }
    }
    size_t xi = (size_t)c->cin * H * W, yi = (size_t)c->cout * Ho * Wo;
    size_t nw = (size_t)c->cout * c->cin * c->k * c->k;
    dnnl_dim_t ystride = 0;
    char *dyk = dy_ready ? shared_dy(d, g, N, &ystride) : NULL;
    int err = 0;
#pragma omp parallel for schedule(static) reduction(| : err)
    for (int pt = 0; pt < nparts; pt++) {
        int beg = (int)((int64_t)pt * N / nparts);
        int end = (int)((int64_t)(pt + 1) * N / nparts);
        int s = end - beg == g->sh[0].n ? 0 : 1, t = omp_get_thread_num();
        void *dyp = dyk ? dyk + (size_t)beg * ystride * sizeof(float) : NULL;
        err |= run_wpart(&g->sh[s], &g->mem[2 * t + s], g->st[t],
                         x + (size_t)beg * xi, dy + (size_t)beg * yi, dyp,
                         part + (size_t)pt * nw);
    }
    return err ? -1 : 1;
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

int bst_conv2d_dnnl_weights(bst_conv2d *c, const float *x, const float *dy,
                            int N, int H, int W, int Ho, int Wo, int nparts,
                            int dy_ready, float *part)
{
    (void)c, (void)x, (void)dy, (void)N, (void)H, (void)W, (void)Ho, (void)Wo;
    (void)nparts, (void)dy_ready, (void)part;
    return 0;
}

void bst_conv2d_dnnl_free(bst_conv2d *c)
{
    (void)c;
}

#endif
