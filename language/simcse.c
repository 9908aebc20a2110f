/* simcse.c — unsupervised SimCSE on the engine's transformer (simcse.h). */
#define _DEFAULT_SOURCE /* M_PI */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "run.h"
#include "simcse.h"

enum { WIDTH = BSL_MAX_SEQ + 1 };

/* ------------------------------------------------------------ sequences */

int bsl_seqs_build(const bsl_vocab *v, const bst_corpus *c, bsl_seqs *out,
                   char *msg, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (!v || !c || c->n < 1)
        return bst_fail(msg, cap, BST_ERR_INVAL, "sequences: no sentences");
    out->n = c->n;
    out->width = WIDTH;
    out->ids = malloc(sizeof(int32_t) * (size_t)c->n * WIDTH);
    out->len = malloc(sizeof(int) * (size_t)c->n);
    if (!out->ids || !out->len) {
        bsl_seqs_free(out);
        return bst_fail(msg, cap, BST_ERR_NOMEM,
                        "sequences: out of memory for %lld sentences",
                        (long long)c->n);
    }
    for (int64_t i = 0; i < c->n; i++)
        out->len[i] =
            bsl_encode(v, c->sentence[i], out->ids + (size_t)i * WIDTH, WIDTH);
    return BST_OK;
}

void bsl_seqs_free(bsl_seqs *s)
{
    if (!s)
        return;
    free(s->ids);
    free(s->len);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- config */

void bsl_simcse_cfg_default(bsl_simcse_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->dim = 128;
    c->heads = 4;
    c->layers = 2;
    c->mlp = 512;
    c->dropout = 0.1f;
    c->pool = BST_TF_POOL_MEAN;
    c->loss.kind = BST_LOSS_INFONCE;
    c->loss.tau = 0.05;
    c->loss.tau_plus = 0.1;
    c->loss.beta = 1.0;
    c->batch = 64;
    c->weight_decay = 0.0;
    c->seed = 0;
    c->max_extra = 10000;
    c->min_count = 2;
    /* the recipe chosen on the dev set (docs/language.md: dev-set search) */
    c->tok_drop = 0.5f;
    c->glove_lr = 1.0f;
    c->sif = 0.01;
    c->distill = 300.0;
    c->teacher = BSL_TEACHER_GLOVE;
}

static const char *LOSS_NAMES[] = {"infonce", "dcl", "hcl"};

const char *bsl_loss_name(bst_loss_kind k)
{
    return k >= BST_LOSS_INFONCE && k <= BST_LOSS_HCL ? LOSS_NAMES[k] : NULL;
}

int bsl_loss_parse(const char *s, bst_loss_kind *k)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, LOSS_NAMES[i]) == 0) {
            *k = (bst_loss_kind)i;
            return 0;
        }
    return -1;
}

/* ----------------------------------------------------------------- model */

/* GloVe rows into the token table; the other rows N(0, s^2), s the
   standard deviation of the GloVe entries, from stream (seed, row). */
static void glove_rows(bsl_simcse *m, const bst_glove *g)
{
    bst_embedding *e = &m->enc.emb;
    int E = e->edim;
    double s1 = 0, s2 = 0, cnt = (double)g->n * E;
    for (size_t i = 0; i < (size_t)g->n * (size_t)E; i++)
        s1 += g->vec[i], s2 += (double)g->vec[i] * g->vec[i];
    double mean = s1 / cnt, sd = sqrt(fmax(s2 / cnt - mean * mean, 1e-12));
    for (int64_t r = 0; r < m->vocab.size; r++) {
        float *row = e->tok + (size_t)r * E;
        int64_t gi = r - BSL_FIRST_WORD;
        if (gi >= 0 && gi < m->vocab.n_glove) {
            memcpy(row, g->vec + (size_t)gi * E, sizeof(float) * (size_t)E);
            continue;
        }
        bs_rng rng;
        bs_rng_derive(&rng, m->cfg.seed, BST_STREAM_INIT,
                      0x51c5e000000ull + (uint64_t)r);
        for (int j = 0; j < E; j += 2) { /* Box-Muller, two at a time */
            double u1 = bs_rng_uniform(&rng), u2 = bs_rng_uniform(&rng);
            double rad = sqrt(-2.0 * log(1.0 - u1)), th = 2.0 * M_PI * u2;
            row[j] = (float)(sd * rad * cos(th));
            if (j + 1 < E)
                row[j + 1] = (float)(sd * rad * sin(th));
        }
    }
}

static int alloc_bufs(bsl_simcse *m)
{
    size_t BC = (size_t)m->cfg.batch * (size_t)m->cfg.dim;
    for (int v = 0; v < 2; v++) {
        m->zn[v] = malloc(sizeof(float) * BC);
        m->dzn[v] = malloc(sizeof(float) * BC);
        m->dz[v] = malloc(sizeof(float) * BC);
        if (!m->zn[v] || !m->dzn[v] || !m->dz[v])
            return BST_ERR_NOMEM;
    }
    m->ids = malloc(sizeof(int32_t) * (size_t)m->cfg.batch * WIDTH);
    m->len = malloc(sizeof(int) * (size_t)m->cfg.batch);
    m->vids = malloc(sizeof(int32_t) * (size_t)m->cfg.batch * WIDTH);
    m->vlen = malloc(sizeof(int) * (size_t)m->cfg.batch);
    if (!m->ids || !m->len || !m->vids || !m->vlen)
        return BST_ERR_NOMEM;
    if (m->cfg.glove_lr != 1.0f && m->vocab.n_glove > 0 &&
        !(m->tok_save = malloc(sizeof(float) * (size_t)m->vocab.n_glove *
                               (size_t)m->enc.emb.edim)))
        return BST_ERR_NOMEM;
    int rc = bst_tf_acts_init(&m->act[0], &m->enc, m->cfg.batch, WIDTH);
    rc = rc ? rc : bst_tf_acts_init(&m->act[1], &m->enc, m->cfg.batch, WIDTH);
    rc = rc ? rc : bst_tf_acts_init(&m->eact, &m->enc, m->cfg.batch, WIDTH);
    return rc;
}

int bsl_simcse_init_vocab(bsl_simcse *m, const bsl_simcse_cfg *cfg,
                          bsl_vocab *vocab, int edim, char *msg, size_t cap)
{
    memset(m, 0, sizeof *m);
    if (!cfg || !vocab || vocab->size < BSL_FIRST_WORD ||
        vocab->size > INT32_MAX || edim < 1) {
        bsl_vocab_free(vocab);
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "simcse: no config, vocabulary or embedding width");
    }
    m->cfg = *cfg;
    m->vocab = *vocab;
    memset(vocab, 0, sizeof *vocab);
    if (!(cfg->tok_drop >= 0 && cfg->tok_drop < 1) ||
        !(cfg->glove_lr >= 0 && cfg->glove_lr <= 1) ||
        !(cfg->sif >= 0 && cfg->sif <= 1) ||
        !(cfg->distill >= 0 && cfg->distill <= 1000) ||
        (cfg->teacher != BSL_TEACHER_ENCODER &&
         cfg->teacher != BSL_TEACHER_GLOVE)) {
        bsl_simcse_free(m);
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "simcse: tok_drop %g (in [0, 1)), glove_lr %g (in "
                        "[0, 1]), sif %g (in [0, 1]), distill %g (in [0, "
                        "1000]) or teacher %d (0 or 1) out of range",
                        (double)cfg->tok_drop, (double)cfg->glove_lr, cfg->sif,
                        cfg->distill, cfg->teacher);
    }
    if (cfg->batch < 2 || !(cfg->loss.tau > 0)) {
        bsl_simcse_free(m);
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "simcse: batch %d (>= 2) or tau %g (> 0) out of range",
                        cfg->batch, cfg->loss.tau);
    }
    bst_tf_cfg tc;
    bst_tf_cfg_default(&tc, (int)m->vocab.size);
    tc.max_len = WIDTH;
    tc.edim = edim;
    tc.dim = cfg->dim;
    tc.heads = cfg->heads;
    tc.layers = cfg->layers;
    tc.mlp = cfg->mlp;
    tc.dropout = cfg->dropout;
    tc.pool = cfg->pool;
    int rc = bst_tf_cfg_check(&tc, msg, cap);
    if (rc) {
        bsl_simcse_free(m);
        return rc;
    }
    if ((rc = bst_tf_init(&m->enc, &tc, cfg->seed)) ||
        (rc = bst_adamw_init(&m->opt, m->enc.params, m->enc.nparams, 0.9, 0.999,
                             1e-8, cfg->weight_decay)) ||
        (rc = alloc_bufs(m))) {
        bsl_simcse_free(m);
        return bst_fail(msg, cap, rc, "simcse: out of memory for the model");
    }
    return BST_OK;
}

/* the GloVe teacher's widest vectors (its sums are on the stack) */
#define BSL_TEACHER_MAX_EDIM 1024

/* the distillation teacher: a copy of the encoder as it is now, or of its
   GloVe rows (made before any step, so they are the loaded vectors) */
static int teacher_init(bsl_simcse *m)
{
    int C = m->cfg.dim, E = m->enc.emb.edim;
    size_t BC = (size_t)m->cfg.batch * (size_t)C;
    int rc = BST_OK;
    if (m->cfg.teacher == BSL_TEACHER_GLOVE) {
        if (E > BSL_TEACHER_MAX_EDIM)
            return BST_ERR_INVAL;
        size_t gn = (size_t)m->vocab.n_glove * (size_t)E;
        m->tglove = malloc(sizeof(float) * (gn ? gn : 1));
        if (!m->tglove)
            return BST_ERR_NOMEM;
        memcpy(m->tglove, m->enc.emb.tok + (size_t)BSL_FIRST_WORD * E,
               sizeof(float) * gn);
    } else {
        rc = bst_tf_init(&m->teach, &m->enc.cfg, m->cfg.seed);
        rc = rc ? rc
                : bst_tf_acts_init(&m->tact, &m->teach, m->cfg.batch,
                                   m->enc.cfg.max_len);
        if (rc)
            return rc;
        for (int i = 0; i < m->enc.nparams; i++)
            memcpy(m->teach.params[i].w, m->enc.params[i].w,
                   sizeof(float) * m->enc.params[i].n);
    }
    m->tn =
        malloc(sizeof(float) * (size_t)m->cfg.batch * (size_t)(C > E ? C : E));
    m->un = malloc(sizeof(float) * BC);
    m->du = malloc(sizeof(float) * BC);
    m->dp = malloc(sizeof(float) * BC);
    return m->tn && m->un && m->du && m->dp ? BST_OK : BST_ERR_NOMEM;
}

int bsl_simcse_init(bsl_simcse *m, const bsl_simcse_cfg *cfg,
                    const bst_glove *g, const bst_corpus *c, char *msg,
                    size_t cap)
{
    memset(m, 0, sizeof *m);
    if (!cfg || !g)
        return bst_fail(msg, cap, BST_ERR_INVAL, "simcse: no config or GloVe");
    bsl_vocab v;
    int rc =
        bsl_vocab_build(g, c, cfg->max_extra, cfg->min_count, &v, msg, cap);
    if (rc || (rc = bsl_simcse_init_vocab(m, cfg, &v, g->dim, msg, cap)))
        return rc;
    glove_rows(m, g);
    if (cfg->distill > 0 && (rc = teacher_init(m))) {
        bsl_simcse_free(m);
        return rc == BST_ERR_INVAL
                   ? bst_fail(msg, cap, rc,
                              "simcse: GloVe vectors of %d dimensions for the "
                              "GloVe teacher (expected at most %d)",
                              g->dim, BSL_TEACHER_MAX_EDIM)
                   : bst_fail(msg, cap, rc,
                              "simcse: out of memory for the teacher");
    }
    return BST_OK;
}

/* ------------------------------------------------------------ vocabulary */

int bsl_vocab_pack(const bsl_vocab *v, char **buf, size_t *len)
{
    size_t n = 0;
    for (int64_t i = 0; i < v->size; i++)
        n += strlen(v->word[i]) + 1;
    char *p = malloc(n ? n : 1);
    if (!p)
        return BST_ERR_NOMEM;
    size_t off = 0;
    for (int64_t i = 0; i < v->size; i++) {
        size_t l = strlen(v->word[i]) + 1;
        memcpy(p + off, v->word[i], l);
        off += l;
    }
    *buf = p, *len = n;
    return BST_OK;
}

int bsl_vocab_unpack(const char *buf, size_t len, int64_t n_glove, bsl_vocab *v,
                     char *msg, size_t cap)
{
    memset(v, 0, sizeof *v);
    if (!buf || len == 0 || buf[len - 1] != 0 || n_glove < 0)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "vocabulary: not a list of NUL-terminated words");
    int64_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == 0;
    if (n < BSL_FIRST_WORD + n_glove || n > INT32_MAX)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "vocabulary: %lld words for %lld GloVe rows",
                        (long long)n, (long long)n_glove);
    v->buf = malloc(len);
    v->word = malloc(sizeof(char *) * (size_t)n);
    int rc = v->buf && v->word ? bst_strtab_init(&v->index, n) : BST_ERR_NOMEM;
    if (rc) {
        bsl_vocab_free(v);
        return bst_fail(msg, cap, BST_ERR_NOMEM, "vocabulary: out of memory");
    }
    memcpy(v->buf, buf, len);
    v->size = n, v->n_glove = n_glove;
    size_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        v->word[i] = v->buf + off;
        size_t l = strlen(v->buf + off);
        if (i >= BSL_FIRST_WORD) {
            int32_t r = bst_strtab_add(&v->index, v->buf + off, l);
            if (r != (int32_t)(i - BSL_FIRST_WORD)) {
                bsl_vocab_free(v);
                return bst_fail(msg, cap, BST_ERR_FORMAT,
                                "vocabulary: word %lld is a duplicate or "
                                "memory ran out",
                                (long long)i);
            }
        }
        off += l + 1;
    }
    return BST_OK;
}

void bsl_simcse_free(bsl_simcse *m)
{
    if (!m)
        return;
    bsl_vocab_free(&m->vocab);
    bst_tf_acts_free(&m->act[0]);
    bst_tf_acts_free(&m->act[1]);
    bst_tf_acts_free(&m->eact);
    bst_adamw_free(&m->opt);
    bst_tf_free(&m->enc);
    for (int v = 0; v < 2; v++)
        free(m->zn[v]), free(m->dzn[v]), free(m->dz[v]);
    free(m->ids);
    free(m->len);
    free(m->vids);
    free(m->vlen);
    free(m->tok_save);
    bst_tf_acts_free(&m->tact);
    bst_tf_free(&m->teach);
    free(m->tglove);
    free(m->tn), free(m->un), free(m->du), free(m->dp);
    memset(m, 0, sizeof *m);
}

size_t bsl_simcse_param_count(const bsl_simcse *m)
{
    return bst_tf_size(&m->enc);
}

void bsl_simcse_params_flat(bsl_simcse *m, float *flat, int to_flat)
{
    bst_run_flat_params(m->enc.params, m->enc.nparams, flat, to_flat);
}

/* ------------------------------------------------------------------ loss */

/* SimCSE's loss: S_ij = z1_i . z2_j / tau (unit rows: cosines), loss =
   mean_i (logsumexp_j S_ij - S_ii).  dS_ij = (softmax_ij - [i == j]) / B;
   dz1_i = sum_j dS_ij z2_j / tau, dz2_j = sum_i dS_ij z1_i / tau. */
static int simcse_ce(double tau, const float *z1, const float *z2, int B, int d,
                     double *loss, float *dz1, float *dz2)
{
    double *S = malloc(sizeof(double) * (size_t)B * B);
    if (!S)
        return BST_ERR_NOMEM;
    double total = 0;
    for (int i = 0; i < B; i++) {
        double *row = S + (size_t)i * B, mx = -INFINITY;
        for (int j = 0; j < B; j++) {
            double s = 0;
            for (int k = 0; k < d; k++)
                s += (double)z1[(size_t)i * d + k] * z2[(size_t)j * d + k];
            row[j] = s / tau;
            mx = row[j] > mx ? row[j] : mx;
        }
        double se = 0;
        for (int j = 0; j < B; j++)
            se += exp(row[j] - mx);
        total += mx + log(se) - row[i];
        for (int j = 0; j < B; j++) /* row becomes dS_ij */
            row[j] = (exp(row[j] - mx) / se - (i == j)) / B;
    }
    *loss = total / B;
    if (dz1 && dz2) {
        for (int i = 0; i < B; i++)
            for (int k = 0; k < d; k++) {
                double a = 0, b = 0;
                for (int j = 0; j < B; j++) {
                    a += S[(size_t)i * B + j] * z2[(size_t)j * d + k];
                    b += S[(size_t)j * B + i] * z1[(size_t)j * d + k];
                }
                dz1[(size_t)i * d + k] = (float)(a / tau);
                dz2[(size_t)i * d + k] = (float)(b / tau);
            }
    }
    free(S);
    return BST_OK;
}

int bsl_simcse_loss(const bst_loss_cfg *cfg, const float *z1, const float *z2,
                    int B, int d, double *loss, float *dz1, float *dz2)
{
    if (!cfg || !z1 || !z2 || !loss || B < 2 || d < 1 || !(cfg->tau > 0))
        return BST_ERR_INVAL;
    if (cfg->kind == BST_LOSS_INFONCE)
        return simcse_ce(cfg->tau, z1, z2, B, d, loss, dz1, dz2);
    return bst_contrastive_loss(cfg, z1, z2, B, d, loss, dz1, dz2);
}

/* ------------------------------------------------------------------ SIF */

int bsl_simcse_set_sif(bsl_simcse *m, const bsl_seqs *s, char *msg, size_t cap)
{
    double a = m->cfg.sif;
    int64_t V = m->vocab.size;
    if (!(a > 0) || !s || s->n < 1)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "simcse: SIF needs a > 0 (got %g) and sentences", a);
    int64_t *cnt = calloc((size_t)V, sizeof *cnt);
    float *w = malloc(sizeof(float) * (size_t)V);
    if (!cnt || !w) {
        free(cnt), free(w);
        return bst_fail(msg, cap, BST_ERR_NOMEM, "simcse: out of memory");
    }
    int64_t total = 0;
    for (int64_t i = 0; i < s->n; i++)
        for (int t = 0; t < s->len[i]; t++) {
            int32_t id = s->ids[(size_t)i * s->width + t];
            if (id >= 0 && id < V)
                cnt[id]++, total++;
        }
    for (int64_t v = 0; v < V; v++)
        w[v] = total > 0 ? (float)(a / (a + (double)cnt[v] / (double)total))
                         : 1.0f;
    int rc = bst_tf_set_pool_weights(&m->enc, w);
    if (!rc && m->teach.params)
        rc = bst_tf_set_pool_weights(&m->teach, w);
    free(cnt), free(w);
    return rc ? bst_fail(msg, cap, rc, "simcse: SIF weights rejected (%d)", rc)
              : BST_OK;
}

/* --------------------------------------------------------------- distill */

int bsl_distill_loss(const float *u, int d, const float *t, int dt, int B,
                     double *loss, float *du)
{
    if (!u || !t || !loss || B < 2 || d < 1 || dt < 1)
        return BST_ERR_INVAL;
    double total = 0, scale = 1.0 / ((double)B * (B - 1));
    if (du)
        memset(du, 0, sizeof(float) * (size_t)B * (size_t)d);
    for (int i = 0; i < B; i++) {
        const float *ui = u + (size_t)i * d, *ti = t + (size_t)i * dt;
        for (int j = 0; j < B; j++) {
            if (j == i)
                continue;
            const float *uj = u + (size_t)j * d, *tj = t + (size_t)j * dt;
            double su = 0, st = 0;
            for (int k = 0; k < d; k++)
                su += (double)ui[k] * uj[k];
            for (int k = 0; k < dt; k++)
                st += (double)ti[k] * tj[k];
            double e = su - st;
            total += e * e;
            if (du) /* S_ij and S_ji both hold u_i: 4 e u_j / (B (B - 1)) */
                for (int k = 0; k < d; k++)
                    du[(size_t)i * d + k] += (float)(4.0 * scale * e * uj[k]);
        }
    }
    *loss = total * scale;
    return BST_OK;
}

/* the GloVe teacher: row b of out (B, E) the pooling-weighted average of
   the GloVe vectors of sentence b's tokens (the full sentence), unit
   length (zero when it has no GloVe word) */
static void teacher_glove(const bsl_simcse *m, int B, int T, float *out)
{
    int E = m->enc.emb.edim;
    const float *w = m->enc.poolw;
    int64_t ng = m->vocab.n_glove;
    for (int b = 0; b < B; b++) {
        double acc[BSL_TEACHER_MAX_EDIM] = {0}, nn = 0;
        const int32_t *ids = m->ids + (size_t)b * T;
        for (int t = 0; t < m->len[b]; t++) {
            int64_t g = (int64_t)ids[t] - BSL_FIRST_WORD;
            if (g < 0 || g >= ng)
                continue;
            double a = w ? w[ids[t]] : 1.0;
            const float *v = m->tglove + (size_t)g * E;
            for (int k = 0; k < E; k++)
                acc[k] += a * v[k];
        }
        for (int k = 0; k < E; k++)
            nn += acc[k] * acc[k];
        double inv = nn > 0 ? 1.0 / sqrt(nn) : 0.0;
        for (int k = 0; k < E; k++)
            out[(size_t)b * E + k] = (float)(acc[k] * inv);
    }
}

/* the teacher's unit rows of the batch's full sentences into m->tn:
   returns their width, or 0 if the teacher encoder rejected the batch */
static int teacher_rows(bsl_simcse *m, int B, int T)
{
    if (m->tglove) {
        teacher_glove(m, B, T, m->tn);
        return m->enc.emb.edim;
    }
    const float *tp =
        bst_tf_forward(&m->teach, &m->tact, m->ids, m->len, B, T, 0, 0, 0, 0);
    if (!tp)
        return 0;
    bst_l2norm_forward(tp, m->tn, B, m->cfg.dim);
    return m->cfg.dim;
}

/* the distillation term of view v's pooled output against the teacher's
   rows (width dt): adds w times it to *loss, leaves the gradient of the
   pooled output in m->dp */
static void distill_view(bsl_simcse *m, int v, int B, int dt, double *loss)
{
    int C = m->cfg.dim;
    double w = m->cfg.distill, l = 0;
    const float *p = m->act[v].pooled;
    bst_l2norm_forward(p, m->un, B, C);
    bsl_distill_loss(m->un, C, m->tn, dt, B, &l, m->du);
    for (size_t i = 0; i < (size_t)B * C; i++)
        m->du[i] = (float)(w * m->du[i]);
    bst_l2norm_backward(p, m->un, m->du, m->dp, B, C);
    *loss += w * l;
}

/* ------------------------------------------------------------------ step */

/* rows ids of s into m->ids, padded to the batch's longest: returns T */
static int gather(bsl_simcse *m, const bsl_seqs *s, const int64_t *ids, int B)
{
    int T = 1;
    for (int b = 0; b < B; b++)
        T = s->len[ids[b]] > T ? s->len[ids[b]] : T;
    for (int b = 0; b < B; b++) {
        memcpy(m->ids + (size_t)b * T, s->ids + (size_t)ids[b] * s->width,
               sizeof(int32_t) * (size_t)T);
        m->len[b] = s->len[ids[b]];
    }
    return T;
}

void bsl_token_drop(const int32_t *ids, const int *len, int B, int T, float p,
                    uint64_t seed, uint64_t key, const int64_t *sid,
                    int32_t *out, int *olen)
{
    for (int b = 0; b < B; b++) {
        const int32_t *in = ids + (size_t)b * T;
        int32_t *o = out + (size_t)b * T;
        int n = 1;
        o[0] = in[0];
        if (p > 0) {
            bs_rng rng;
            bs_rng_derive(&rng, seed, BST_STREAM_AUGMENT,
                          key << 32 | (uint32_t)sid[b]);
            for (int t = 1; t < len[b]; t++)
                if (!(bs_rng_uniform(&rng) < p))
                    o[n++] = in[t];
            if (n == 1 && len[b] > 1)
                o[n++] = in[1];
        } else
            for (; n < len[b]; n++)
                o[n] = in[n];
        olen[b] = n;
        for (int t = n; t < T; t++)
            o[t] = BSL_PAD;
    }
}

int bsl_simcse_step(bsl_simcse *m, const bsl_seqs *s, const int64_t *ids,
                    double lr, double *loss, char *msg, size_t cap)
{
    int B = m->cfg.batch, C = m->cfg.dim;
    for (int b = 0; b < B; b++)
        if (ids[b] < 0 || ids[b] >= s->n)
            return bst_fail(msg, cap, BST_ERR_INVAL,
                            "simcse: sentence id %lld outside [0, %lld)",
                            (long long)ids[b], (long long)s->n);
    int T = gather(m, s, ids, B);
    bst_zero_grads(m->enc.params, m->enc.nparams);
    const float *z[2];
    for (int v = 0; v < 2; v++) {
        const int32_t *vi = m->ids;
        const int *vl = m->len;
        if (m->cfg.tok_drop > 0) {
            bsl_token_drop(m->ids, m->len, B, T, m->cfg.tok_drop, m->cfg.seed,
                           2 * (uint64_t)m->step + (uint64_t)v, ids, m->vids,
                           m->vlen);
            vi = m->vids, vl = m->vlen;
        }
        z[v] = bst_tf_forward(&m->enc, &m->act[v], vi, vl, B, T, 1, 1,
                              m->cfg.seed, 2 * (uint64_t)m->step + (uint64_t)v);
        if (!z[v])
            return bst_fail(msg, cap, BST_ERR_INVAL,
                            "simcse: the encoder rejected the batch");
        bst_l2norm_forward(z[v], m->zn[v], B, C);
    }
    int rc = bsl_simcse_loss(&m->cfg.loss, m->zn[0], m->zn[1], B, C, loss,
                             m->dzn[0], m->dzn[1]);
    if (rc)
        return bst_fail(msg, cap, rc, "simcse: loss failed (%d)", rc);
    int dt = 0; /* the teacher's width; 0: no distillation */
    if (m->cfg.distill > 0 && (m->teach.params || m->tglove) &&
        !(dt = teacher_rows(m, B, T)))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "simcse: the teacher rejected the batch");
    if (!isfinite(*loss))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "simcse: the loss is not finite at step %ld (lower "
                        "--lr)",
                        m->step);
    for (int v = 0; v < 2; v++) {
        bst_l2norm_backward(z[v], m->zn[v], m->dzn[v], m->dz[v], B, C);
        if (dt)
            distill_view(m, v, B, dt, loss);
        bst_tf_backward_pool(&m->enc, &m->act[v], m->dz[v], dt ? m->dp : NULL);
    }
    /* the GloVe rows: glove_lr times the update (0: restored bitwise) */
    float *grow = m->enc.emb.tok + (size_t)BSL_FIRST_WORD * m->enc.emb.edim;
    size_t gn = (size_t)m->vocab.n_glove * (size_t)m->enc.emb.edim;
    if (m->tok_save)
        memcpy(m->tok_save, grow, sizeof(float) * gn);
    bst_adamw_step(&m->opt, m->enc.params, m->enc.nparams, lr);
    if (m->tok_save) {
        float a = m->cfg.glove_lr;
        if (a == 0.0f)
            memcpy(grow, m->tok_save, sizeof(float) * gn);
        else
            for (size_t i = 0; i < gn; i++)
                grow[i] = m->tok_save[i] + a * (grow[i] - m->tok_save[i]);
    }
    m->step++;
    return BST_OK;
}

/* ------------------------------------------------------------ embeddings */

int bsl_simcse_embed_seqs(bsl_simcse *m, const bsl_seqs *s, float *out,
                          char *msg, size_t cap)
{
    int C = m->cfg.dim, Bm = m->cfg.batch;
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)Bm);
    if (!ids)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    for (int64_t i0 = 0; i0 < s->n; i0 += Bm) {
        int B = s->n - i0 < Bm ? (int)(s->n - i0) : Bm;
        for (int b = 0; b < B; b++)
            ids[b] = i0 + b;
        int T = gather(m, s, ids, B);
        const float *p =
            bst_tf_forward(&m->enc, &m->eact, m->ids, m->len, B, T, 0, 0, 0, 0);
        if (!p) {
            free(ids);
            return bst_fail(msg, cap, BST_ERR_INVAL,
                            "simcse: the encoder rejected a batch");
        }
        memcpy(out + (size_t)i0 * C, p, sizeof(float) * (size_t)B * C);
    }
    free(ids);
    return BST_OK;
}

int bsl_simcse_embed(void *ctx, const char *sentence, float *out, char *msg,
                     size_t cap)
{
    bsl_simcse *m = ctx;
    int32_t ids[WIDTH];
    int len = bsl_encode(&m->vocab, sentence, ids, WIDTH);
    const float *p =
        bst_tf_forward(&m->enc, &m->eact, ids, &len, 1, len, 0, 0, 0, 0);
    if (!p)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "simcse: the encoder rejected a sentence");
    memcpy(out, p, sizeof(float) * (size_t)m->cfg.dim);
    return 0;
}

bsl_encoder bsl_simcse_encoder(bsl_simcse *m)
{
    bsl_encoder e = {bsl_simcse_embed, m, m->cfg.dim};
    return e;
}
