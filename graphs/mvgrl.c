/* mvgrl.c — MVGRL's model, loss and step (mvgrl.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "mvgrl.h"

void bsg_mvgrl_cfg_default(bsg_mvgrl_cfg *c)
{
    c->hidden = 128;
    c->layers = 4;
    c->alpha = 0.2;
    c->batch = 0;
    c->lr = 1e-3;
    c->seed = 0;
    c->features = BSG_MVGRL_FEAT_AUTO;
}

/* ------------------------------------------------------------- features */

static const char *const FEAT_NAMES[BSG_MVGRL_FEAT_COUNT] = {
    "auto", "tags", "degree", "tags+degree"};

const char *bsg_mvgrl_feat_name(bsg_mvgrl_feat k)
{
    return (unsigned)k < BSG_MVGRL_FEAT_COUNT ? FEAT_NAMES[k] : NULL;
}

int bsg_mvgrl_feat_parse(const char *s, bsg_mvgrl_feat *k)
{
    for (int i = 0; s && i < BSG_MVGRL_FEAT_COUNT; i++)
        if (strcmp(s, FEAT_NAMES[i]) == 0) {
            *k = (bsg_mvgrl_feat)i;
            return 0;
        }
    return -1;
}

bsg_mvgrl_feat bsg_mvgrl_feat_resolve(const bst_tu *d, bsg_mvgrl_feat k)
{
    if (k != BSG_MVGRL_FEAT_AUTO)
        return k;
    /* the reader gives degrees exactly when the file has one distinct tag,
       i.e. no node labels to speak of */
    return d->degree_features ? BSG_MVGRL_FEAT_DEGREE
                              : BSG_MVGRL_FEAT_TAGS_DEGREE;
}

int bsg_mvgrl_features(bst_tu *d, bsg_mvgrl_ops *o, bsg_mvgrl_feat k, char *msg,
                       size_t cap)
{
    if (!d || !o || (unsigned)k >= BSG_MVGRL_FEAT_COUNT)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "node features: expected a data set, its operators "
                        "and auto, tags, degree or tags+degree");
    k = bsg_mvgrl_feat_resolve(d, k);
    if (k == BSG_MVGRL_FEAT_TAGS)
        return BST_OK; /* as loaded */
    int64_t top = 0;
    for (int64_t v = 0; v < d->nodes; v++) {
        int64_t deg = d->adj_off[v + 1] - d->adj_off[v];
        top = deg > top ? deg : top;
    }
    /* the label slots; one distinct tag: its one-hot is the constant 1 */
    int tags = k != BSG_MVGRL_FEAT_TAGS_DEGREE ? 0
               : d->degree_features            ? 1
                                               : d->feat;
    if (top + 1 > (1 << 30) - tags)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "%s: degree %lld: the degree one-hot would be too "
                        "wide",
                        d->name, (long long)top);
    int32_t *slot = d->feat_idx;
    if (tags) {
        free(o->feat2);
        o->feat2 = malloc(sizeof(int32_t) * (size_t)(d->nodes ? d->nodes : 1));
        if (!o->feat2)
            return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
        slot = o->feat2;
        if (d->degree_features)
            memset(d->feat_idx, 0, sizeof(int32_t) * (size_t)d->nodes);
    }
    for (int64_t v = 0; v < d->nodes; v++)
        slot[v] = (int32_t)(tags + d->adj_off[v + 1] - d->adj_off[v]);
    d->feat = tags + (int)top + 1;
    d->degree_features = !tags;
    return BST_OK;
}

/* ------------------------------------------------------------ operators */

void bsg_mvgrl_ops_free(bsg_mvgrl_ops *o)
{
    free(o->mat_off);
    free(o->adj);
    free(o->ppr);
    free(o->feat2);
    memset(o, 0, sizeof *o);
}

/* graph g's nodes' CSR as the gcn.h operator builders take it */
static int graph_csr(const bst_tu *d, int64_t g, const int64_t **ao,
                     const int32_t **a)
{
    int64_t v0 = d->node_off[g];
    *ao = d->adj_off + v0;
    *a = d->adj + d->adj_off[v0];
    return (int)(d->node_off[g + 1] - v0);
}

/* Both operators of every graph; 0, or 1 + the first graph whose PPR
   failed. */
static int ppr_all(bsg_mvgrl_ops *o, const bst_tu *d, double alpha,
                   int64_t nmax)
{
    int64_t bad = -1;
#pragma omp parallel
    {
        double *w = malloc(sizeof(double) * 2 * (size_t)(nmax * nmax));
#pragma omp for schedule(dynamic, 4)
        for (int64_t g = 0; g < d->graphs; g++) {
            const int64_t *ao;
            const int32_t *a;
            int n = graph_csr(d, g, &ao, &a);
            float *dst = o->ppr + o->mat_off[g];
            bst_gcn_norm_adj(n, ao, a, o->adj + o->mat_off[g]);
            if (!w || bst_gcn_ppr(n, ao, a, alpha, dst, w) != BST_OK) {
#pragma omp critical
                if (bad < 0 || g < bad)
                    bad = g;
            }
        }
        free(w);
    }
    return bad < 0 ? 0 : (int)bad + 1; /* 1 + the first failing graph */
}

int bsg_mvgrl_ops_build(bsg_mvgrl_ops *o, const bst_tu *d, double alpha,
                        char *msg, size_t cap)
{
    memset(o, 0, sizeof *o);
    if (!(alpha > 0 && alpha <= 1))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "PPR alpha %g: expected 0 < alpha <= 1", alpha);
    o->graphs = d->graphs;
    o->mat_off = malloc(sizeof(int64_t) * (size_t)(d->graphs + 1));
    if (!o->mat_off)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    int64_t nmax = 1;
    o->mat_off[0] = 0;
    for (int64_t g = 0; g < d->graphs; g++) {
        int64_t n = d->node_off[g + 1] - d->node_off[g];
        nmax = n > nmax ? n : nmax;
        o->mat_off[g + 1] = o->mat_off[g] + n * n;
    }
    size_t total = (size_t)o->mat_off[d->graphs];
    o->adj = malloc(sizeof(float) * (total ? total : 1));
    o->ppr = malloc(sizeof(float) * (total ? total : 1));
    if (!o->adj || !o->ppr) {
        bsg_mvgrl_ops_free(o);
        return bst_fail(msg, cap, BST_ERR_NOMEM,
                        "out of memory for %zu operator floats", 2 * total);
    }
    int bad = ppr_all(o, d, alpha, nmax);
    if (bad) {
        bsg_mvgrl_ops_free(o);
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "%s: graph %d: PPR diffusion failed (out of memory "
                        "or an asymmetric adjacency)",
                        d->name, bad - 1);
    }
    return BST_OK;
}

/* ----------------------------------------------------------------- loss */

static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

void bsg_mvgrl_jsd(const float *l, const float *g, const int64_t *node_off,
                   int G, int d, double *loss, float *dl, float *dg,
                   float *work)
{
    int N = (int)node_off[G];
    const double log2 = log(2.0);
    double npos = (double)N, nneg = (double)N * (G - 1), sp = 0, sn = 0;
    float *res = work;
    bst_sgemm(CblasNoTrans, CblasTrans, N, G, d, 1.0f, l, d, g, d, 0.0f, res,
              G);
    for (int k = 0; k < G; k++)
        for (int64_t i = node_off[k]; i < node_off[k + 1]; i++)
            for (int j = 0; j < G; j++) {
                float *r = res + (size_t)i * G + j;
                double x = *r;
                if (j == k) {
                    sp += log2 - softplus(-x);
                    *r = (float)(-sigmoid(-x) / npos);
                } else {
                    sn += softplus(-x) + x - log2;
                    *r = (float)(sigmoid(x) / nneg);
                }
            }
    *loss = sn / nneg - sp / npos;
    if (!dl)
        return;
    /* dl = dres g (N, d); dg = dres^T l (G, d) */
    bst_sgemm(CblasNoTrans, CblasNoTrans, N, d, G, 1.0f, res, G, g, d, 0.0f, dl,
              d);
    bst_sgemm(CblasTrans, CblasNoTrans, G, d, N, 1.0f, res, G, l, d, 0.0f, dg,
              d);
}

/* ---------------------------------------------------------------- model */

typedef struct {
    float *z, *h;       /* (L, N, H): pre- and post-activation per layer */
    float *pool;        /* (G, L H): every layer's per-graph sums */
    float *actl, *actg; /* the heads' activation records */
    float *lv, *gv;     /* (N, H) local, (G, H) global representations */
    const float **op;   /* (G) the view's operator of each graph */
} view_buf;

struct bsg_mvgrl {
    bsg_mvgrl_cfg cfg;
    int in, L, H;
    bst_gcn *enc; /* (2 L): view v's layer l at v L + l */
    bst_mlp local, global;
    bst_param *ps;
    int np;
    bst_adamw opt;
    bst_gbatch batch;
    view_buf v[2];
    float *arena;
    int64_t cap_n, cap_g;
    float *xw, *dl[2], *dg[2], *dpool, *dh[2], *gwork, *mwork, *jwork;
};

static int make_params(bsg_mvgrl *m)
{
    int n = 2 * m->L * 3 + 2 * bst_mlp_param_count();
    m->ps = malloc(sizeof(bst_param) * (size_t)n);
    if (!m->ps)
        return BST_ERR_NOMEM;
    for (int i = 0; i < 2 * m->L; i++)
        m->np += bst_gcn_params(&m->enc[i], m->ps + m->np);
    m->np += bst_mlp_params(&m->local, m->ps + m->np);
    m->np += bst_mlp_params(&m->global, m->ps + m->np);
    return BST_OK;
}

int bsg_mvgrl_new(const bsg_mvgrl_cfg *cfg, int in, bsg_mvgrl **out)
{
    *out = NULL;
    if (!cfg || in < 1 || cfg->hidden < 1 || cfg->layers < 1 ||
        cfg->layers > 64 || !(cfg->alpha > 0 && cfg->alpha <= 1))
        return BST_ERR_INVAL;
    bsg_mvgrl *m = calloc(1, sizeof *m);
    if (!m)
        return BST_ERR_NOMEM;
    m->cfg = *cfg;
    m->in = in, m->L = cfg->layers, m->H = cfg->hidden;
    m->enc = calloc((size_t)(2 * m->L), sizeof *m->enc);
    int rc = m->enc ? BST_OK : BST_ERR_NOMEM;
    for (int i = 0; !rc && i < 2 * m->L; i++) {
        rc = bst_gcn_init(&m->enc[i], i % m->L ? m->H : in, m->H);
        if (!rc)
            bst_gcn_reset(&m->enc[i], cfg->seed, (uint64_t)i);
    }
    if (!rc && !(rc = bst_mlp_init(&m->local, m->H, m->H)))
        bst_mlp_reset(&m->local, cfg->seed, 1000);
    if (!rc && !(rc = bst_mlp_init(&m->global, m->L * m->H, m->H)))
        bst_mlp_reset(&m->global, cfg->seed, 1001);
    if (!rc)
        rc = make_params(m);
    if (!rc)
        rc = bst_adamw_init(&m->opt, m->ps, m->np, 0.9, 0.999, 1e-8, 0.0);
    if (rc) {
        bsg_mvgrl_free(m);
        return rc;
    }
    *out = m;
    return BST_OK;
}

void bsg_mvgrl_free(bsg_mvgrl *m)
{
    if (!m)
        return;
    for (int i = 0; m->enc && i < 2 * m->L; i++)
        bst_gcn_free(&m->enc[i]);
    free(m->enc);
    bst_mlp_free(&m->local);
    bst_mlp_free(&m->global);
    free(m->ps);
    bst_adamw_free(&m->opt);
    bst_gbatch_free(&m->batch);
    free(m->arena);
    free(m->v[0].op);
    free(m->v[1].op);
    free(m);
}

int bsg_mvgrl_params(bsg_mvgrl *m, bst_param **ps)
{
    *ps = m->ps;
    return m->np;
}

size_t bsg_mvgrl_param_floats(bsg_mvgrl *m)
{
    return m->opt.n;
}

bst_adamw *bsg_mvgrl_opt(bsg_mvgrl *m)
{
    return &m->opt;
}

/* Carves the arena for batches of up to N nodes and G graphs. */
static void carve(bsg_mvgrl *m, int64_t N, int64_t G, float *p)
{
    size_t nh = (size_t)N * m->H, gh = (size_t)G * m->H, L = (size_t)m->L;
    size_t mw = nh > gh * L ? nh : gh * L;
#define TAKE(dst, n) (dst = p, p += (n))
    for (int v = 0; v < 2; v++) {
        view_buf *b = &m->v[v];
        TAKE(b->z, L * nh);
        TAKE(b->h, L * nh);
        TAKE(b->pool, L * gh);
        TAKE(b->actl, 5 * nh);
        TAKE(b->actg, 5 * gh);
        TAKE(b->lv, nh);
        TAKE(b->gv, gh);
        TAKE(m->dl[v], nh);
        TAKE(m->dg[v], gh);
        TAKE(m->dh[v], nh);
    }
    TAKE(m->xw, nh);
    TAKE(m->dpool, L * gh);
    TAKE(m->gwork, 2 * nh);
    TAKE(m->mwork, 2 * mw);
    TAKE(m->jwork, (size_t)N * G);
#undef TAKE
}

static size_t arena_floats(const bsg_mvgrl *m, int64_t N, int64_t G)
{
    size_t nh = (size_t)N * m->H, gh = (size_t)G * m->H, L = (size_t)m->L;
    size_t mw = nh > gh * L ? nh : gh * L;
    return 2 * (2 * L * nh + L * gh + 5 * nh + 5 * gh + 3 * nh + 2 * gh) + nh +
           L * gh + 2 * nh + 2 * mw + (size_t)N * G;
}

static int ensure(bsg_mvgrl *m, int64_t N, int64_t G)
{
    if (N <= m->cap_n && G <= m->cap_g)
        return BST_OK;
    N = N > m->cap_n ? N + N / 4 : m->cap_n;
    G = G > m->cap_g ? G : m->cap_g;
    float *a = malloc(sizeof(float) * arena_floats(m, N, G));
    const float **o0 = malloc(sizeof(float *) * (size_t)G);
    const float **o1 = malloc(sizeof(float *) * (size_t)G);
    if (!a || !o0 || !o1) {
        free(a);
        free(o0);
        free(o1);
        return BST_ERR_NOMEM;
    }
    free(m->arena);
    free(m->v[0].op);
    free(m->v[1].op);
    m->arena = a, m->v[0].op = o0, m->v[1].op = o1;
    m->cap_n = N, m->cap_g = G;
    carve(m, N, G, a);
    return BST_OK;
}

/* ------------------------------------------------------ forward/backward */

static void view_forward(bsg_mvgrl *m, int v, const bst_gblock *gb,
                         const float *x)
{
    view_buf *b = &m->v[v];
    int64_t N = gb->node_off[gb->graphs];
    size_t nh = (size_t)N * m->H;
    const float *in = x;
    for (int l = 0; l < m->L; l++) {
        bst_gcn_forward(&m->enc[v * m->L + l], gb, in, m->xw, b->z + l * nh,
                        b->h + l * nh);
        in = b->h + l * nh;
        bst_graph_sum_pool_forward(gb, in, m->H, b->pool + l * m->H,
                                   m->L * m->H);
    }
    bst_mlp_forward(&m->local, in, b->lv, b->actl, (int)N);
    bst_mlp_forward(&m->global, b->pool, b->gv, b->actg, gb->graphs);
}

static void view_backward(bsg_mvgrl *m, int v, const bst_gblock *gb,
                          const float *x)
{
    view_buf *b = &m->v[v];
    int64_t N = gb->node_off[gb->graphs];
    size_t nh = (size_t)N * m->H;
    int L = m->L, H = m->H;
    bst_mlp_backward(&m->global, b->pool, b->actg, m->dg[v], m->dpool, m->mwork,
                     gb->graphs);
    float *dh = m->dh[0], *dprev = m->dh[1];
    bst_mlp_backward(&m->local, b->h + (L - 1) * nh, b->actl, m->dl[v], dh,
                     m->mwork, (int)N);
    for (int l = L - 1; l >= 0; l--) {
        bst_graph_sum_pool_backward(gb, m->dpool + l * H, L * H, H, dh, 1);
        const float *in = l ? b->h + (l - 1) * nh : x;
        bst_gcn_backward(&m->enc[v * L + l], gb, in, b->z + l * nh, dh,
                         l ? dprev : NULL, m->gwork);
        float *t = dh;
        dh = dprev, dprev = t;
    }
}

/* Gathers the batch and runs both views forward; with loss, the JSD and
   (grad) every gradient. */
static int compute(bsg_mvgrl *m, const bst_tu *d, const bsg_mvgrl_ops *ops,
                   const int64_t *ids, int64_t count, double *loss, int grad,
                   char *msg, size_t cap)
{
    int rc = bst_gbatch_gather(&m->batch, d, ids, count, msg, cap);
    if (rc)
        return rc;
    if (m->batch.feat != m->in)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "%s: %d features, the model was built for %d", d->name,
                        m->batch.feat, m->in);
    if (ops->feat2) /* two-hot features: the second 1 of each row */
        for (int64_t k = 0; k < count; k++) {
            int64_t base = d->node_off[ids[k]], b0 = m->batch.node_off[k];
            for (int64_t j = 0; j < m->batch.node_off[k + 1] - b0; j++)
                m->batch.x[(size_t)(b0 + j) * (size_t)m->in +
                           (size_t)ops->feat2[base + j]] = 1.0f;
        }
    if (ensure(m, m->batch.nodes, count))
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for a batch");
    for (int64_t k = 0; k < count; k++) {
        m->v[0].op[k] = ops->adj + ops->mat_off[ids[k]];
        m->v[1].op[k] = ops->ppr + ops->mat_off[ids[k]];
    }
    int G = (int)count;
    bst_gblock gb[2] = {{G, m->batch.node_off, m->v[0].op},
                        {G, m->batch.node_off, m->v[1].op}};
    for (int v = 0; v < 2; v++)
        view_forward(m, v, &gb[v], m->batch.x);
    if (!loss)
        return BST_OK;
    double l1, l2;
    bsg_mvgrl_jsd(m->v[0].lv, m->v[1].gv, m->batch.node_off, G, m->H, &l1,
                  grad ? m->dl[0] : NULL, m->dg[1], m->jwork);
    bsg_mvgrl_jsd(m->v[1].lv, m->v[0].gv, m->batch.node_off, G, m->H, &l2,
                  grad ? m->dl[1] : NULL, m->dg[0], m->jwork);
    *loss = l1 + l2;
    if (!isfinite(*loss))
        return bst_fail(msg, cap, BST_ERR_INVAL, "non-finite loss");
    if (grad) {
        bst_zero_grads(m->ps, m->np);
        for (int v = 0; v < 2; v++)
            view_backward(m, v, &gb[v], m->batch.x);
    }
    return BST_OK;
}

static void batch_embedding(const bsg_mvgrl *m, int64_t count, float *emb)
{
    for (size_t i = 0; i < (size_t)count * m->H; i++)
        emb[i] = m->v[0].gv[i] + m->v[1].gv[i];
}

int bsg_mvgrl_loss(bsg_mvgrl *m, const bst_tu *d, const bsg_mvgrl_ops *ops,
                   const int64_t *ids, int64_t count, int grad, double *loss,
                   char *msg, size_t cap)
{
    if (count < 2)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "MVGRL batch of %lld graphs: expected >= 2 (the "
                        "negatives are the other graphs)",
                        (long long)count);
    return compute(m, d, ops, ids, count, loss, grad, msg, cap);
}

int bsg_mvgrl_step(bsg_mvgrl *m, const bst_tu *d, const bsg_mvgrl_ops *ops,
                   const int64_t *ids, int64_t count, double lr, double *loss,
                   float *emb, char *msg, size_t cap)
{
    int rc = bsg_mvgrl_loss(m, d, ops, ids, count, 1, loss, msg, cap);
    if (rc)
        return rc;
    if (emb)
        batch_embedding(m, count, emb);
    bst_adamw_step(&m->opt, m->ps, m->np, lr);
    return BST_OK;
}

int bsg_mvgrl_embed(bsg_mvgrl *m, const bst_tu *d, const bsg_mvgrl_ops *ops,
                    int64_t chunk, float *out, char *msg, size_t cap)
{
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(chunk > 0 ? chunk : 1));
    if (!ids || chunk < 1) {
        free(ids);
        return bst_fail(msg, cap, chunk < 1 ? BST_ERR_INVAL : BST_ERR_NOMEM,
                        "embedding chunk %lld", (long long)chunk);
    }
    int rc = BST_OK;
    for (int64_t s = 0; !rc && s < d->graphs; s += chunk) {
        int64_t c = d->graphs - s < chunk ? d->graphs - s : chunk;
        for (int64_t k = 0; k < c; k++)
            ids[k] = s + k;
        rc = compute(m, d, ops, ids, c, NULL, 0, msg, cap);
        if (!rc)
            batch_embedding(m, c, out + (size_t)s * m->H);
    }
    free(ids);
    return rc;
}
