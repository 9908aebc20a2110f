/* graphcl.c — GraphCL's model, training step and embeddings (graphcl.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graphcl.h"

static const char *const LOSS_NAMES[] = {"graphcl", "infonce", "dcl", "hcl"};

const char *bsg_loss_name(bsg_loss_kind k)
{
    return (unsigned)k < 4 ? LOSS_NAMES[k] : NULL;
}

int bsg_loss_parse(const char *s, bsg_loss_kind *k)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, LOSS_NAMES[i]) == 0) {
            *k = (bsg_loss_kind)i;
            return 0;
        }
    return -1;
}

void bsg_graphcl_cfg_default(bsg_graphcl_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->hidden = 32;
    c->layers = 3;
    c->loss = BSG_LOSS_GRAPHCL;
    c->tau = 0.2;
    c->tau_plus = 0.1;
    c->beta = 1.0;
    c->aug = BSG_AUG_RANDOM2;
    c->batch = 128;
}

static void view_free(bsg_view *v)
{
    bst_gbatch_free(&v->v);
    bst_gin_enc_acts_free(&v->a);
    free(v->h), free(v->z), free(v->zn), free(v->dzn), free(v->dz);
    free(v->dh), free(v->demb);
    memset(v, 0, sizeof *v);
}

static int view_init(bsg_view *v, int B, int E)
{
    memset(v, 0, sizeof *v);
    float **bufs[7] = {&v->h, &v->z, &v->zn, &v->dzn, &v->dz, &v->dh, &v->demb};
    for (int i = 0; i < 7; i++)
        if (!(*bufs[i] = malloc(sizeof(float) * (size_t)B * (size_t)E)))
            return BST_ERR_NOMEM;
    return BST_OK;
}

void bsg_graphcl_free(bsg_graphcl *m)
{
    bst_gin_encoder_free(&m->enc);
    bst_linear_free(&m->h1);
    bst_linear_free(&m->h2);
    bst_adamw_free(&m->opt);
    view_free(&m->view[0]);
    view_free(&m->view[1]);
    memset(m, 0, sizeof *m);
}

static int check_cfg(const bsg_graphcl_cfg *c, int in, char *msg, size_t cap)
{
    if (c->hidden < 1 || c->layers < 1 || c->layers > BST_GIN_MAX_LAYERS ||
        in < 1)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "GraphCL: hidden >= 1, 1..%d layers and >= 1 input "
                        "features expected",
                        BST_GIN_MAX_LAYERS);
    if (c->batch < 2 || !(c->tau > 0) || !bsg_loss_name(c->loss) ||
        !bsg_aug_name(c->aug) || !(c->weight_decay >= 0))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "GraphCL: B >= 2, tau > 0, a known loss and "
                        "augmentation, weight decay >= 0 expected");
    if (c->loss != BSG_LOSS_GRAPHCL && c->loss != BSG_LOSS_INFONCE &&
        !(c->tau_plus >= 0 && c->tau_plus < 1))
        return bst_fail(msg, cap, BST_ERR_INVAL, "tau_plus must be in [0, 1)");
    return BST_OK;
}

int bsg_graphcl_init(bsg_graphcl *m, const bsg_graphcl_cfg *cfg, int in,
                     char *msg, size_t cap)
{
    memset(m, 0, sizeof *m);
    int rc = check_cfg(cfg, in, msg, cap);
    if (rc)
        return rc;
    m->cfg = *cfg;
    m->in = in;
    m->emb = cfg->hidden * cfg->layers;
    int E = m->emb;
    if ((rc = bst_gin_encoder_init(&m->enc, in, cfg->hidden, cfg->layers)) ||
        (rc = bst_linear_init(&m->h1, E, E, 1)) ||
        (rc = bst_linear_init(&m->h2, E, E, 1)) ||
        (rc = view_init(&m->view[0], cfg->batch, E)) ||
        (rc = view_init(&m->view[1], cfg->batch, E)))
        goto fail;
    /* init_emb: every Linear Xavier-uniform, biases 0 */
    bst_gin_encoder_reset(&m->enc, cfg->seed, 0);
    bst_linear_xavier(&m->h1, cfg->seed, 1000);
    bst_linear_xavier(&m->h2, cfg->seed, 1001);
    m->nparams = bst_gin_encoder_params(&m->enc, m->params);
    m->nparams += bst_linear_params(&m->h1, m->params + m->nparams);
    m->nparams += bst_linear_params(&m->h2, m->params + m->nparams);
    if ((rc = bst_adamw_init(&m->opt, m->params, m->nparams, 0.9, 0.999, 1e-8,
                             cfg->weight_decay)))
        goto fail;
    return BST_OK;
fail:
    bsg_graphcl_free(m);
    return bst_fail(msg, cap, rc, "GraphCL: %s",
                    rc == BST_ERR_NOMEM ? "out of memory"
                                        : "bad configuration");
}

size_t bsg_graphcl_param_count(const bsg_graphcl *m)
{
    size_t n = 0;
    for (int i = 0; i < m->nparams; i++)
        n += m->params[i].n;
    return n;
}

/* encoder + head on view v's graphs (B of them) */
static int model_forward(bsg_graphcl *m, bsg_view *v, int train)
{
    int G = (int)v->v.graphs, E = m->emb;
    if (v->v.nodes == 0) {
        /* every graph of the view lost all its nodes (augment.h): each
           pools to zeros; the encoder (and its batch norm, whose
           statistics over no node are undefined) is skipped */
        if (G > v->a.graphs_cap) {
            float *p = realloc(v->a.emb, sizeof(float) * (size_t)G * E);
            if (!p)
                return BST_ERR_NOMEM;
            v->a.emb = p, v->a.graphs_cap = G;
        }
        memset(v->a.emb, 0, sizeof(float) * (size_t)G * E);
    } else if (bst_gin_encoder_forward(&m->enc, &v->v, v->v.x, &v->a, train))
        return BST_ERR_NOMEM;
    bst_linear_forward(&m->h1, v->a.emb, v->h, G);
    bst_relu_forward(v->h, v->h, (size_t)G * E);
    bst_linear_forward(&m->h2, v->h, v->z, G);
    return BST_OK;
}

static void model_backward(bsg_graphcl *m, bsg_view *v)
{
    int G = (int)v->v.graphs, E = m->emb;
    bst_linear_backward(&m->h2, v->h, v->dz, v->dh, G);
    bst_relu_backward(v->h, v->dh, v->dh, (size_t)G * E);
    bst_linear_backward(&m->h1, v->a.emb, v->dh, v->demb, G);
    if (v->v.nodes > 0)
        bst_gin_encoder_backward(&m->enc, &v->v, v->v.x, &v->a, v->demb, 1);
}

/* the loss of the two views' z and its gradients dz */
static int loss_and_grad(bsg_graphcl *m, double *loss)
{
    bsg_view *a = &m->view[0], *b = &m->view[1];
    int B = m->cfg.batch, E = m->emb;
    if (m->cfg.loss == BSG_LOSS_GRAPHCL)
        return bst_graphcl_loss(a->z, b->z, B, E, m->cfg.tau, loss, a->dz,
                                b->dz);
    bst_loss_cfg lc = {.kind = (bst_loss_kind)(m->cfg.loss - 1),
                       .tau = m->cfg.tau,
                       .tau_plus = m->cfg.tau_plus,
                       .beta = m->cfg.beta};
    bst_l2norm_forward(a->z, a->zn, B, E);
    bst_l2norm_forward(b->z, b->zn, B, E);
    int rc =
        bst_contrastive_loss(&lc, a->zn, b->zn, B, E, loss, a->dzn, b->dzn);
    if (rc)
        return rc;
    bst_l2norm_backward(a->z, a->zn, a->dzn, a->dz, B, E);
    bst_l2norm_backward(b->z, b->zn, b->dzn, b->dz, B, E);
    return isfinite(*loss) ? BST_OK : BST_ERR_INVAL;
}

int bsg_graphcl_step(bsg_graphcl *m, const bst_tu *d, const int64_t *ids,
                     double lr, double *loss, char *msg, size_t cap)
{
    int B = m->cfg.batch, rc;
    for (int k = 0; k < 2; k++) {
        bsg_aug_kind kind = k ? m->cfg.aug : BSG_AUG_NONE;
        if ((rc = bsg_view_build(&m->view[k].v, d, ids, B, kind, m->cfg.seed,
                                 m->step, msg, cap)))
            return rc;
        if (m->view[k].v.feat != m->in)
            return bst_fail(msg, cap, BST_ERR_INVAL,
                            "GraphCL: %d input features, the model has %d",
                            m->view[k].v.feat, m->in);
        if (model_forward(m, &m->view[k], 1))
            return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    }
    if ((rc = loss_and_grad(m, loss)))
        return bst_fail(msg, cap, rc, "GraphCL step %ld: %s", m->step,
                        rc == BST_ERR_NOMEM ? "out of memory"
                                            : "non-finite loss");
    bst_zero_grads(m->params, m->nparams);
    model_backward(m, &m->view[0]);
    model_backward(m, &m->view[1]);
    bst_adamw_step(&m->opt, m->params, m->nparams, lr);
    m->step++;
    return BST_OK;
}

int bsg_graphcl_embed(bsg_graphcl *m, const bst_tu *d, float *out, char *msg,
                      size_t cap)
{
    int64_t B = m->cfg.batch;
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)B);
    bsg_view *v = &m->view[0];
    int rc = ids ? BST_OK : bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    for (int64_t g0 = 0; !rc && g0 < d->graphs; g0 += B) {
        int64_t n = d->graphs - g0 < B ? d->graphs - g0 : B;
        for (int64_t i = 0; i < n; i++)
            ids[i] = g0 + i;
        if ((rc = bsg_view_build(&v->v, d, ids, n, BSG_AUG_NONE, 0, 0, msg,
                                 cap)))
            break;
        if (bst_gin_encoder_forward(&m->enc, &v->v, v->v.x, &v->a, 0))
            rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
        else
            memcpy(out + (size_t)g0 * m->emb, v->a.emb,
                   sizeof(float) * (size_t)n * m->emb);
    }
    free(ids);
    return rc;
}
