/* simcse_run.c — a whole unsupervised SimCSE run (simcse_run.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "run.h"
#include "simcse_run.h"
#include "toolkit.h"

void bsl_run_cfg_default(bsl_run_cfg *c)
{
    memset(c, 0, sizeof *c);
    bsl_simcse_cfg_default(&c->model);
    bs_batcher_params_default(&c->batcher);
    c->batcher.graph.m = 0;
    c->batcher.graph.k = 0;
    c->batcher.refresh_every = 0;
    c->batcher.warmup_epochs = 0;
    c->data_dir = "../shared/data";
    c->epochs = 1;
    c->lr = 1e-4;
    c->lr_warmup = -1;
    c->dev = 1;
    c->final_eval = 1;
}

/* ------------------------------------------------------------- the run */

static const char *DEV_FILES[] = {"MSRpar", "MSRvid", "SMTeuroparl"};
enum { NDEV = 3 };

typedef struct {
    bsl_run_cfg cfg;
    char corpus_path[4096], vectors_path[4096];
    bst_corpus corpus;
    bst_glove glove;
    bst_sts dev[NDEV];
    int ndev;
    bsl_seqs seqs;
    bsl_simcse model;
    float *gavg; /* (N, G) unit GloVe averages (zero rows stay zero) */
    bs_batcher *batcher;
    int64_t N, B, spe, total, warm, every;
    int64_t step, rows, epoch; /* position */
    int64_t *ids, *local;
    uint8_t *seen;
    int64_t nseen;
    double sums[3]; /* hardness, hardest, near-dup over all steps */
    bst_csv_log log;
    bsl_run_result *res;
} run;

static const char LOG_HEADER[] =
    "row,step,epoch,loss,lr,dev_spearman,hardness,hardest,neardup,coverage,"
    "sampler_s,step_s,eval_s,total_s\n";

/* ----------------------------------------------------------- checkpoints */

#define CONFIG_VERSION "simcse v1\n"
#define MODEL_VERSION "simcse-model v1"

static void config_text(const run *r, char *buf, size_t cap)
{
    const bsl_run_cfg *c = &r->cfg;
    const bsl_simcse_cfg *m = &c->model;
    const bs_batcher_params *b = &c->batcher;
    snprintf(buf, cap,
             CONFIG_VERSION
             "sentences %lld vocab %lld\ndim %d heads %d layers %d mlp %d "
             "dropout %.9g pool %d\nloss %d tau %.17g tau_plus %.17g beta "
             "%.17g batch %d wd %.17g seed %llu extra %lld min %lld\n"
             "sampler %d warmup %lld refresh %lld lag %lld epoch_mode %d mode "
             "%d m %lld k %d alpha %.17g schedule %d\ntotal %lld lr %.17g "
             "lr_warmup %lld every %lld dev %d\n",
             (long long)r->N, (long long)r->model.vocab.size, m->dim, m->heads,
             m->layers, m->mlp, (double)m->dropout, m->pool, (int)m->loss.kind,
             m->loss.tau, m->loss.tau_plus, m->loss.beta, m->batch,
             m->weight_decay, (unsigned long long)m->seed,
             (long long)m->max_extra, (long long)m->min_count,
             (int)b->sampler.kind, (long long)b->warmup_epochs,
             (long long)b->refresh_every, (long long)b->refresh_lag,
             (int)b->sampler.epoch_mode, (int)b->graph.mode,
             (long long)b->graph.m, (int)b->graph.k, b->sampler.alpha,
             (int)b->sampler.schedule, (long long)r->total, c->lr,
             (long long)r->warm, (long long)r->every, c->dev);
    /* the recipe options, only when set (older checkpoints stay valid) */
    size_t n = strlen(buf);
    if ((m->tok_drop != 0.0f || m->glove_lr != 1.0f) && n < cap)
        snprintf(buf + n, cap - n, "tok_drop %.9g glove_lr %.9g\n",
                 (double)m->tok_drop, (double)m->glove_lr);
    n = strlen(buf);
    if ((m->sif != 0.0 || m->distill != 0.0) && n < cap)
        snprintf(buf + n, cap - n, "sif %.17g distill %.17g\n", m->sif,
                 m->distill);
    n = strlen(buf);
    if (m->teacher != BSL_TEACHER_ENCODER && n < cap)
        snprintf(buf + n, cap - n, "teacher %d\n", m->teacher);
}

static void model_text(const bsl_simcse *m, int edim, char *buf, size_t cap)
{
    const bsl_simcse_cfg *c = &m->cfg;
    snprintf(buf, cap,
             MODEL_VERSION " dim %d heads %d layers %d mlp %d pool %d edim %d "
                           "n_glove %lld batch %d\n",
             c->dim, c->heads, c->layers, c->mlp, c->pool, edim,
             (long long)m->vocab.n_glove, c->batch);
}

typedef struct {
    int64_t step, rows, epoch, nseen, adam_t;
    double sums[3];
} position;

static int ckpt_save(run *r, char *msg, size_t cap)
{
    bsl_simcse *m = &r->model;
    size_t np = bsl_simcse_param_count(m);
    char config[2048], mtext[256];
    config_text(r, config, sizeof config);
    model_text(m, m->enc.cfg.edim, mtext, sizeof mtext);
    position pos = {r->step,  r->rows,  r->epoch,
                    r->nseen, m->opt.t, {r->sums[0], r->sums[1], r->sums[2]}};
    float *params = malloc(sizeof(float) * np);
    char *vocab = NULL;
    size_t vlen = 0;
    void *blob = NULL;
    size_t blob_len = 0;
    bs_error err = {0};
    bst_ckpt_writer *w = NULL;
    int rc = BST_OK;
    bs_status st;
    if (!params || bst_ckpt_writer_new(&w) ||
        bsl_vocab_pack(&m->vocab, &vocab, &vlen))
        rc =
            bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for a checkpoint");
    else if ((st = bs_batcher_save_state(r->batcher, -1, &blob, &blob_len,
                                         &err)))
        rc = bst_core_fail(st, &err, msg, cap);
    if (!rc) {
        bsl_simcse_params_flat(m, params, 1);
        bst_ckpt_add_ref(w, "config", config, strlen(config));
        bst_ckpt_add_ref(w, "model", mtext, strlen(mtext));
        bst_ckpt_add_ref(w, "vocab", vocab, vlen);
        bst_ckpt_add_ref(w, "position", &pos, sizeof pos);
        bst_ckpt_add_ref(w, "params", params, np * sizeof(float));
        bst_ckpt_add_ref(w, "adam_m", m->opt.m, np * sizeof(float));
        bst_ckpt_add_ref(w, "adam_v", m->opt.v, np * sizeof(float));
        bst_ckpt_add_ref(w, "batcher", blob, blob_len);
        bst_ckpt_add_ref(w, "seen", r->seen, (size_t)r->N);
        bst_ckpt_add_ref(w, "log", r->log.text, r->log.len);
        if (m->enc.poolw)
            bst_ckpt_add_ref(w, "poolw", m->enc.poolw,
                             sizeof(float) * (size_t)m->vocab.size);
        rc = bst_ckpt_commit(w, r->cfg.ckpt_path, msg, cap);
    }
    bst_ckpt_writer_free(w);
    free(params), free(vocab), free(blob);
    return rc;
}

static int restore(run *r, const bst_ckpt_reader *rd, const position *pos,
                   char *msg, size_t cap)
{
    const char *path = r->cfg.ckpt_path;
    const void *log;
    size_t log_len;
    int rc;
    if ((rc = bst_ckpt_get(rd, "log", &log, &log_len, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "seen", r->seen, (size_t)r->N, msg,
                                  cap)) ||
        (rc = bst_run_restore_batcher(rd, r->batcher, path, msg, cap)) ||
        (rc = bst_csv_restore(&r->log, log, log_len, msg, cap)))
        return rc;
    if (bs_batcher_position(r->batcher) != pos->step)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: the batcher is not at step %lld", path,
                        (long long)pos->step);
    r->model.opt.t = pos->adam_t;
    r->model.step = (long)pos->step;
    r->step = pos->step, r->rows = pos->rows, r->epoch = pos->epoch;
    r->nseen = pos->nseen;
    memcpy(r->sums, pos->sums, sizeof r->sums);
    return BST_OK;
}

static int ckpt_load(run *r, char *msg, size_t cap)
{
    int exists, rc = bst_run_ckpt_exists(r->cfg.ckpt_path, &exists, msg, cap);
    if (rc || !exists)
        return rc;
    bsl_simcse *m = &r->model;
    size_t np = bsl_simcse_param_count(m);
    const char *path = r->cfg.ckpt_path;
    bst_ckpt_reader *rd = NULL;
    float *params = malloc(sizeof(float) * np);
    char want[2048];
    config_text(r, want, sizeof want);
    const void *data = NULL;
    size_t len = 0;
    position pos;
    if (!params) {
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = bst_ckpt_open(path, &rd, msg, cap)) ||
        (rc = bst_ckpt_get(rd, "config", &data, &len, msg, cap)))
        goto done;
    if ((rc = bst_run_check_config(path, data, len, want, msg, cap)) ||
        (rc =
             bst_ckpt_read_exact(rd, "position", &pos, sizeof pos, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "params", params, np * sizeof(float), msg,
                                  cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_m", m->opt.m, np * sizeof(float),
                                  msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_v", m->opt.v, np * sizeof(float),
                                  msg, cap)))
        goto done;
    if (pos.step < 0 || pos.step > r->total || pos.adam_t != pos.step ||
        pos.rows < 0 || pos.nseen < 0 || pos.nseen > r->N) {
        rc = bst_fail(msg, cap, BST_ERR_FORMAT, "%s: inconsistent position",
                      path);
        goto done;
    }
    if (!(rc = restore(r, rd, &pos, msg, cap)))
        bsl_simcse_params_flat(m, params, 0);
done:
    bst_ckpt_close(rd);
    free(params);
    return rc;
}

/* the SIF pooling weights of a checkpoint (section "poolw") */
static int load_poolw(const bst_ckpt_reader *rd, const char *path,
                      bsl_simcse *m, char *msg, size_t cap)
{
    size_t n = (size_t)m->vocab.size;
    float *w = malloc(sizeof(float) * n);
    if (!w)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    int rc = bst_ckpt_read_exact(rd, "poolw", w, n * sizeof(float), msg, cap);
    if (!rc && bst_tf_set_pool_weights(&m->enc, w))
        rc = bst_fail(msg, cap, BST_ERR_FORMAT,
                      "%s: pooling weights not all finite and > 0", path);
    free(w);
    return rc;
}

int bsl_simcse_load_model(const char *path, bsl_simcse *m, char *msg,
                          size_t cap)
{
    memset(m, 0, sizeof *m);
    bst_ckpt_reader *rd = NULL;
    const void *mt = NULL, *voc = NULL;
    size_t mlen = 0, vlen = 0;
    int rc;
    if ((rc = bst_ckpt_open(path, &rd, msg, cap)))
        return rc;
    if ((rc = bst_ckpt_get(rd, "model", &mt, &mlen, msg, cap)) ||
        (rc = bst_ckpt_get(rd, "vocab", &voc, &vlen, msg, cap))) {
        bst_ckpt_close(rd);
        return rc;
    }
    char text[256];
    bsl_simcse_cfg c;
    bsl_simcse_cfg_default(&c);
    int edim = 0;
    long long n_glove = -1;
    if (mlen >= sizeof text) {
        bst_ckpt_close(rd);
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: not a SimCSE model (section 'model')", path);
    }
    memcpy(text, mt, mlen);
    text[mlen] = 0;
    if (sscanf(text,
               MODEL_VERSION " dim %d heads %d layers %d mlp %d pool %d edim "
                             "%d n_glove %lld batch %d",
               &c.dim, &c.heads, &c.layers, &c.mlp, &c.pool, &edim, &n_glove,
               &c.batch) != 8) {
        bst_ckpt_close(rd);
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: not a SimCSE model (section 'model': %.60s)", path,
                        text);
    }
    bsl_vocab v;
    if ((rc = bsl_vocab_unpack(voc, vlen, n_glove, &v, msg, cap)) ||
        (rc = bsl_simcse_init_vocab(m, &c, &v, edim, msg, cap))) {
        bst_ckpt_close(rd);
        return rc == BST_ERR_NOMEM ? rc : BST_ERR_FORMAT;
    }
    size_t np = bsl_simcse_param_count(m);
    float *params = malloc(sizeof(float) * np);
    if (!params)
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    else if (!(rc = bst_ckpt_read_exact(rd, "params", params,
                                        np * sizeof(float), msg, cap)))
        bsl_simcse_params_flat(m, params, 0);
    free(params);
    if (!rc && bst_ckpt_has(rd, "poolw"))
        rc = load_poolw(rd, path, m, msg, cap);
    bst_ckpt_close(rd);
    if (rc)
        bsl_simcse_free(m);
    return rc;
}

/* ------------------------------------------------------------ set-up */

static int check_cfg(const bsl_run_cfg *c, char *msg, size_t cap)
{
    if (!c->data_dir || !c->data_dir[0])
        return bst_fail(msg, cap, BST_ERR_INVAL, "no data folder given");
    if (c->epochs < 1 || c->steps < 0 || !(c->lr > 0) || c->eval_every < 0 ||
        c->lr_warmup < -1 || c->stop_after < 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "epochs >= 1, steps >= 0, lr > 0, eval period >= 0, "
                        "lr warm-up >= -1 expected");
    if (c->resume && !c->ckpt_path)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "resume needs a checkpoint path");
    return bst_run_check_outputs(c->log_path, c->ckpt_path, c->resume, msg,
                                 cap);
}

static int load_data(run *r, char *msg, size_t cap)
{
    const bsl_run_cfg *c = &r->cfg;
    struct stat sb;
    char dir[4200];
    if (stat(c->data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return bst_fail(msg, cap, BST_ERR_IO,
                        "data folder %s: %s (expected the folder of "
                        "../shared/data/README.md: text/, sts/)",
                        c->data_dir,
                        stat(c->data_dir, &sb) ? strerror(errno)
                                               : "not a folder");
    snprintf(r->corpus_path, sizeof r->corpus_path, "%s/text/corpus.txt",
             c->data_dir);
    snprintf(r->vectors_path, sizeof r->vectors_path,
             "%s/text/glove.6B.50d.10k.txt", c->data_dir);
    const char *cp = c->corpus_path ? c->corpus_path : r->corpus_path;
    const char *vp = c->vectors_path ? c->vectors_path : r->vectors_path;
    int rc;
    if ((rc = bst_corpus_load(cp, &r->corpus, msg, cap)) ||
        (rc = bst_glove_load(vp, &r->glove, msg, cap)))
        return rc;
    if (c->dev)
        for (int i = 0; i < NDEV; i++, r->ndev++) {
            snprintf(dir, sizeof dir, "%s/sts/sts12-train/%s.tsv", c->data_dir,
                     DEV_FILES[i]);
            if ((rc = bst_sts_load(dir, &r->dev[i], msg, cap)))
                return rc;
        }
    r->N = r->corpus.n;
    return BST_OK;
}

/* unit GloVe averages of every sentence (the near-duplicate proxy) */
static int glove_avgs(run *r, char *msg, size_t cap)
{
    int G = r->glove.dim;
    r->gavg = malloc(sizeof(float) * (size_t)r->N * (size_t)G);
    if (!r->gavg)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < r->N; i++) {
        float *row = r->gavg + (size_t)i * G;
        bsl_glove_avg_embed(&r->glove, r->corpus.sentence[i], row, NULL, 0);
        double s = 0;
        for (int k = 0; k < G; k++)
            s += (double)row[k] * row[k];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (int k = 0; k < G; k++)
            row[k] *= inv;
    }
    return BST_OK;
}

static int make_batcher(run *r, char *msg, size_t cap)
{
    bs_batcher_params q = r->cfg.batcher;
    int64_t B = r->cfg.model.batch, N = r->N;
    if (B < 2 || B > N)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "batch size %lld: expected 2 <= B <= %lld sentences",
                        (long long)B, (long long)N);
    r->B = B;
    r->spe = q.sampler.batches_per_epoch > 0 ? q.sampler.batches_per_epoch
                                             : (N + B - 1) / B;
    int64_t quarter = r->spe / 4 > 0 ? r->spe / 4 : 1;
    if (q.graph.m <= 0)
        q.graph.m = N - 1 < 1000 ? N - 1 : 1000;
    if (q.graph.k <= 0)
        q.graph.k = (int32_t)(q.graph.m < 100 ? q.graph.m : 100);
    if (q.refresh_every <= 0)
        q.refresh_every = quarter;
    q.sampler.batch_size = B;
    q.sampler.seed = r->cfg.model.seed;
    q.sampler.batches_per_epoch = r->spe;
    q.dim = r->cfg.model.dim;
    if (q.sampler.kind == BS_SAMPLER_KNN)
        q.graph.mode = BS_MODE_EXACT;
    r->cfg.batcher = q;
    r->total = r->cfg.steps > 0 ? r->cfg.steps : r->cfg.epochs * r->spe;
    r->every = r->cfg.eval_every > 0 ? r->cfg.eval_every : quarter;
    r->warm = r->cfg.lr_warmup >= 0 ? r->cfg.lr_warmup : r->total / 20;
    r->res->batch = B, r->res->m = q.graph.m, r->res->k = q.graph.k;
    r->res->refresh = q.refresh_every, r->res->total_steps = r->total;
    return BST_OK;
}

/* the batcher; graph samplers start from the untrained encoder's
   embeddings of every sentence (not needed when resuming: the blob holds
   the store) */
static int start_batcher(run *r, int resuming, char *msg, size_t cap)
{
    float *init = NULL;
    int rc;
    double t0 = bst_now();
    if (r->cfg.batcher.sampler.kind != BS_SAMPLER_UNIFORM && !resuming) {
        init = malloc(sizeof(float) * (size_t)r->N * (size_t)r->cfg.model.dim);
        if (!init)
            return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
        if ((rc = bsl_simcse_embed_seqs(&r->model, &r->seqs, init, msg, cap))) {
            free(init);
            return rc;
        }
    }
    bs_error err = {0};
    bs_status st =
        bs_batcher_create(&r->cfg.batcher, r->N, init, &r->batcher, &err);
    free(init);
    r->res->init_s = init ? bst_now() - t0 : 0;
    return st ? bst_core_fail(st, &err, msg, cap) : BST_OK;
}

static int run_init(run *r, const bsl_run_cfg *cfg, bsl_run_result *res,
                    char *msg, size_t cap)
{
    int rc, exists = 0;
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->res = res;
    if ((rc = check_cfg(cfg, msg, cap)) || (rc = load_data(r, msg, cap)) ||
        (rc = make_batcher(r, msg, cap)) ||
        (rc = bsl_simcse_init(&r->model, &r->cfg.model, &r->glove, &r->corpus,
                              msg, cap)) ||
        (rc =
             bsl_seqs_build(&r->model.vocab, &r->corpus, &r->seqs, msg, cap)) ||
        (cfg->model.sif > 0 &&
         (rc = bsl_simcse_set_sif(&r->model, &r->seqs, msg, cap))) ||
        (rc = glove_avgs(r, msg, cap)))
        return rc;
    if (cfg->resume &&
        (rc = bst_run_ckpt_exists(cfg->ckpt_path, &exists, msg, cap)))
        return rc;
    if ((rc = start_batcher(r, exists, msg, cap)))
        return rc;
    r->ids = malloc(sizeof(int64_t) * (size_t)r->B);
    r->local = malloc(sizeof(int64_t) * (size_t)r->B);
    r->seen = calloc((size_t)r->N, 1);
    if (!r->ids || !r->local || !r->seen)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < r->B; i++)
        r->local[i] = i;
    res->sentences = r->N;
    return bst_csv_append(&r->log, "%s", LOG_HEADER);
}

static void run_free(run *r)
{
    bst_corpus_free(&r->corpus);
    bst_glove_free(&r->glove);
    for (int i = 0; i < r->ndev; i++)
        bst_sts_free(&r->dev[i]);
    bsl_seqs_free(&r->seqs);
    bsl_simcse_free(&r->model);
    bs_batcher_free(r->batcher);
    free(r->gavg), free(r->ids), free(r->local), free(r->seen);
    bst_csv_free(&r->log);
    memset(r, 0, sizeof *r);
}

/* --------------------------------------------------------------- steps */

/* linear warm-up to lr over warm steps, then linear decay to 0 at total */
static double lr_at(const run *r, int64_t s)
{
    double lr = r->cfg.lr;
    if (s < r->warm)
        return lr * (double)(s + 1) / (double)r->warm;
    int64_t rest = r->total - r->warm;
    return rest > 0 ? lr * (double)(r->total - s) / (double)rest : lr;
}

/* share of the batch's pairs whose GloVe-average cosine exceeds 0.9 */
static double neardup(const run *r, const int64_t *ids)
{
    int G = r->glove.dim;
    int64_t hit = 0, pairs = 0;
    for (int64_t a = 0; a < r->B; a++) {
        const float *x = r->gavg + (size_t)ids[a] * G;
        for (int64_t b = a + 1; b < r->B; b++, pairs++) {
            const float *y = r->gavg + (size_t)ids[b] * G;
            double s = 0;
            for (int k = 0; k < G; k++)
                s += (double)x[k] * y[k];
            hit += s > 0.9;
        }
    }
    return pairs ? (double)hit / (double)pairs : 0;
}

static int train_step(run *r, double *sums, char *msg, size_t cap)
{
    bs_error err = {0};
    int64_t ep = 0;
    int rc;
    double t0 = bst_now();
    bs_status st = bs_batcher_next(r->batcher, r->ids, &ep, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    if (ep != r->epoch) {
        memset(r->seen, 0, (size_t)r->N);
        r->nseen = 0;
        r->epoch = ep;
    }
    for (int64_t i = 0; i < r->B; i++) {
        r->nseen += !r->seen[r->ids[i]];
        r->seen[r->ids[i]] = 1;
    }
    double loss = 0, lr = lr_at(r, r->step);
    if ((rc =
             bsl_simcse_step(&r->model, &r->seqs, r->ids, lr, &loss, msg, cap)))
        return rc;
    const float *e = r->model.act[0].pooled;
    if ((st = bs_batcher_update(r->batcher, r->ids, r->B, e, &err)))
        return bst_core_fail(st, &err, msg, cap);
    bs_batch_stats bsx;
    if ((st = bs_batch_stats_compute(e, r->B, r->cfg.model.dim, r->local, r->B,
                                     NULL, &bsx, &err)))
        return bst_core_fail(st, &err, msg, cap);
    double nd = neardup(r, r->ids);
    sums[0] += loss;
    sums[1] += bsx.mean_sim;
    sums[2] += bsx.mean_max_sim;
    sums[3] += nd;
    sums[4] = lr;
    sums[5] += bst_now() - t0;
    r->sums[0] += bsx.mean_sim, r->sums[1] += bsx.mean_max_sim;
    r->sums[2] += nd;
    r->step++;
    return BST_OK;
}

static int dev_eval(run *r, double *out, char *msg, size_t cap)
{
    bsl_encoder enc = bsl_simcse_encoder(&r->model);
    return bsl_sts_spearman(r->dev, r->ndev, &enc, out, msg, cap);
}

static int run_row(run *r, bsl_log_row *row, char *msg, size_t cap)
{
    const bsl_run_cfg *c = &r->cfg;
    double t0 = bst_now(), s0 = bst_batcher_seconds(r->batcher);
    double sums[6] = {0, 0, 0, 0, 0, 0};
    int rc;
    int64_t end = (r->step / r->every + 1) * r->every;
    end = end < r->total ? end : r->total;
    int64_t n = end - r->step;
    memset(row, 0, sizeof *row);
    row->row = r->rows;
    while (r->step < end) {
        if ((rc = train_step(r, sums, msg, cap)))
            return rc;
        if (c->progress &&
            c->progress(c->progress_ctx, r->step, r->total, NULL))
            return bst_fail(msg, cap, BST_ERR_INVAL, "stopped by the caller");
    }
    row->step = r->step;
    row->epoch = r->epoch;
    row->loss = sums[0] / (double)n;
    row->mean_sim = sums[1] / (double)n;
    row->hard_sim = sums[2] / (double)n;
    row->neardup = sums[3] / (double)n;
    row->lr = sums[4];
    row->coverage = (double)r->nseen / (double)r->N;
    row->sampler_s = bst_batcher_seconds(r->batcher) - s0;
    if (r->rows == 0 && r->step == n) /* the store's first embeddings */
        row->sampler_s += r->res->init_s;
    row->step_s = sums[5] - (bst_batcher_seconds(r->batcher) - s0);
    row->dev = -1;
    double e0 = bst_now();
    if (c->dev && (rc = dev_eval(r, &row->dev, msg, cap)))
        return rc;
    row->eval_s = bst_now() - e0;
    row->total_s = bst_now() - t0;
    r->res->step_s += row->step_s;
    r->res->eval_s += row->eval_s;
    r->rows++;
    return bst_csv_append(
        &r->log,
        "%lld,%lld,%lld,%.6f,%.6g,%.4f,%.4f,%.4f,%.5f,%.4f,%.3f,"
        "%.3f,%.3f,%.3f\n",
        (long long)row->row, (long long)row->step, (long long)row->epoch,
        row->loss, row->lr, row->dev, row->mean_sim, row->hard_sim,
        row->neardup, row->coverage, row->sampler_s, row->step_s, row->eval_s,
        row->total_s);
}

int bsl_simcse_run(const bsl_run_cfg *cfg, bsl_run_result *res, char *msg,
                   size_t cap)
{
    if (!cfg || !res)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "NULL configuration or result");
    memset(res, 0, sizeof *res);
    double t0 = bst_now();
    run r;
    int rc = run_init(&r, cfg, res, msg, cap);
    if (!rc && cfg->resume)
        rc = ckpt_load(&r, msg, cap);
    int64_t step0 = r.step;
    while (!rc && r.step < r.total) {
        rc = run_row(&r, &res->last, msg, cap);
        res->rows_run++;
        if (!rc)
            rc = bst_csv_write(&r.log, cfg->log_path, msg, cap);
        if (!rc && cfg->ckpt_path)
            rc = ckpt_save(&r, msg, cap);
        if (!rc && cfg->progress &&
            cfg->progress(cfg->progress_ctx, r.step, r.total, &res->last))
            rc = bst_fail(msg, cap, BST_ERR_INVAL, "stopped by the caller");
        if (cfg->stop_after && res->rows_run == cfg->stop_after)
            break;
    }
    if (!rc && r.step == r.total) {
        double n = r.step > 0 ? (double)r.step : 1;
        res->mean_sim = r.sums[0] / n;
        res->hard_sim = r.sums[1] / n;
        res->neardup = r.sums[2] / n;
        if (cfg->final_eval) {
            double e0 = bst_now();
            bsl_encoder enc = bsl_simcse_encoder(&r.model);
            rc = bsl_sts_standard(cfg->data_dir, &enc, &res->sts, msg, cap);
            res->have_sts = rc == BST_OK;
            res->eval_s += bst_now() - e0;
        }
    }
    res->sampler_s = bst_batcher_seconds(r.batcher) + res->init_s;
    if (res->step_s > 0)
        res->sents_per_s = (double)(r.step - step0) * (double)r.B / res->step_s;
    res->total_s = bst_now() - t0;
    run_free(&r);
    return rc;
}
