/* graphcl_run.c — a whole GraphCL run on a TU data set (graphcl_run.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "graphcl_run.h"
#include "run.h"
#include "toolkit.h"

#if defined(__has_include)
#if __has_include("svm_eval.h")
#include "svm_eval.h"
#define BSG_HAVE_SVM 1
#endif
#endif

void bsg_run_cfg_default(bsg_run_cfg *c)
{
    memset(c, 0, sizeof *c);
    bsg_graphcl_cfg_default(&c->model);
    c->model.batch = 0; /* from N */
    bs_batcher_params_default(&c->batcher);
    c->batcher.graph.m = 0;       /* from N */
    c->batcher.graph.k = 0;       /* from N */
    c->batcher.refresh_every = 0; /* one epoch */
    c->epochs = 20;
    c->lr = 0.01;
    c->eval_every = 10;
    c->features = BSG_FEAT_AUTO;
    c->svm = 1;
    c->ckpt_every = 1;
}

void bsg_run_sizes(int64_t n, int64_t *B, int64_t *M, int64_t *K)
{
    if (*B <= 0)
        *B = n < 128 ? n : 128;
    if (*M <= 0) {
        *M = n / 4 < 2 ? 2 : n / 4;
        *M = *M > 1000 ? 1000 : *M;
    }
    if (*K <= 0) {
        *K = *M / 4 < 1 ? 1 : *M / 4;
        *K = *K > 100 ? 100 : *K;
    }
}

/* ------------------------------------------------------------- the run */

typedef struct {
    bsg_run_cfg cfg;
    bst_tu data;
    bsg_graphcl model;
    bs_batcher *batcher;
    int64_t B, spe, total_steps;
    int64_t epoch;               /* next epoch to run */
    int64_t *ids, *local, *blab; /* (B) */
    int64_t *labels;             /* (N) graph labels as int64 */
    uint8_t *seen;               /* (N) */
    int64_t nseen;
    float *emb; /* (N, 96) evaluation embeddings */
    bst_csv_log log;
    bsg_run_result *res;
    double sums[3]; /* hardness, hardest, FN over epochs after warm-up */
    int64_t graph_epochs;
} run;

static const char LOG_HEADER[] =
    "epoch,steps,loss,svm_acc,svm_std,mean_sim,hard_sim,fn_rate,coverage,"
    "sampler_s,step_s,total_s\n";

/* ----------------------------------------------------------- checkpoints */
/* Sections: config (text of every setting that changes the result),
   position, params, bn (running mean and var per GIN layer), adam_m,
   adam_v, batcher (bs_batcher_save_state's blob), log.  Host byte order. */

#define CONFIG_VERSION "graphcl v2\n"

static void config_text(const run *r, char *buf, size_t cap)
{
    const bsg_run_cfg *c = &r->cfg;
    const bsg_graphcl_cfg *m = &r->model.cfg;
    const bs_batcher_params *b = &c->batcher;
    snprintf(
        buf, cap,
        CONFIG_VERSION "data %s graphs %lld feat %d %s\nhidden %d layers %d "
                       "loss %d tau %.17g tau_plus %.17g beta %.17g aug "
                       "%d\nbatch %d wd %.17g seed %llu\nsampler %d spe "
                       "%lld warmup %lld refresh %lld lag %lld "
                       "epoch_mode %d mode %d m %lld k %d alpha %.17g "
                       "schedule %d\nepochs %lld lr %.17g eval %lld\n",
        r->data.name, (long long)r->data.graphs, r->data.feat,
        bsg_feat_name(c->features), m->hidden, m->layers, (int)m->loss, m->tau,
        m->tau_plus, m->beta, (int)m->aug, m->batch, m->weight_decay,
        (unsigned long long)m->seed, (int)b->sampler.kind, (long long)r->spe,
        (long long)b->warmup_epochs, (long long)b->refresh_every,
        (long long)b->refresh_lag, (int)b->sampler.epoch_mode,
        (int)b->graph.mode, (long long)b->graph.m, (int)b->graph.k,
        b->sampler.alpha, (int)b->sampler.schedule, (long long)c->epochs, c->lr,
        (long long)c->eval_every);
}

typedef struct {
    int64_t epoch, step, adam_t, graph_epochs;
    double sums[3];
} position;

/* BN running statistics of every layer <-> one flat array */
static void flat_bn(bsg_graphcl *m, float *flat, int to_flat)
{
    size_t C = (size_t)m->cfg.hidden, off = 0;
    for (int i = 0; i < m->enc.layers; i++) {
        float *arr[2] = {m->enc.l[i].bn.running_mean,
                         m->enc.l[i].bn.running_var};
        for (int k = 0; k < 2; k++, off += C)
            memcpy(to_flat ? flat + off : arr[k], to_flat ? arr[k] : flat + off,
                   C * sizeof(float));
    }
}

static void flat_params(bsg_graphcl *m, float *flat, int to_flat)
{
    bst_run_flat_params(m->params, m->nparams, flat, to_flat);
}

static int ckpt_save(run *r, char *msg, size_t cap)
{
    bsg_graphcl *m = &r->model;
    size_t np = bsg_graphcl_param_count(m);
    size_t nb = 2 * (size_t)m->cfg.hidden * (size_t)m->enc.layers;
    char config[2048];
    config_text(r, config, sizeof config);
    position pos = {r->epoch,
                    m->step,
                    m->opt.t,
                    r->graph_epochs,
                    {r->sums[0], r->sums[1], r->sums[2]}};
    float *params = malloc(sizeof(float) * np),
          *bns = malloc(sizeof(float) * nb);
    void *blob = NULL;
    size_t blob_len = 0;
    bs_error err = {0};
    bst_ckpt_writer *w = NULL;
    int rc = BST_OK;
    bs_status st;
    if (!params || !bns || bst_ckpt_writer_new(&w))
        rc =
            bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for a checkpoint");
    else if ((st = bs_batcher_save_state(r->batcher, -1, &blob, &blob_len,
                                         &err)))
        rc = bst_core_fail(st, &err, msg, cap);
    if (!rc) {
        flat_params(m, params, 1);
        flat_bn(m, bns, 1);
        bst_ckpt_add_ref(w, "config", config, strlen(config));
        bst_ckpt_add_ref(w, "position", &pos, sizeof pos);
        bst_ckpt_add_ref(w, "params", params, np * sizeof(float));
        bst_ckpt_add_ref(w, "bn", bns, nb * sizeof(float));
        bst_ckpt_add_ref(w, "adam_m", m->opt.m, np * sizeof(float));
        bst_ckpt_add_ref(w, "adam_v", m->opt.v, np * sizeof(float));
        bst_ckpt_add_ref(w, "batcher", blob, blob_len);
        bst_ckpt_add_ref(w, "log", r->log.text, r->log.len);
        rc = bst_ckpt_commit(w, r->cfg.ckpt_path, msg, cap);
    }
    bst_ckpt_writer_free(w);
    free(params), free(bns), free(blob);
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
        (rc = bst_run_restore_batcher(rd, r->batcher, path, msg, cap)))
        return rc;
    if (bs_batcher_position(r->batcher) != pos->epoch * r->spe)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: the batcher is not at the start of epoch %lld",
                        path, (long long)pos->epoch);
    if ((rc = bst_csv_restore(&r->log, log, log_len, msg, cap)))
        return rc;
    r->model.opt.t = pos->adam_t;
    r->model.step = pos->step;
    r->epoch = pos->epoch;
    r->graph_epochs = pos->graph_epochs;
    memcpy(r->sums, pos->sums, sizeof r->sums);
    return BST_OK;
}

static int ckpt_load(run *r, char *msg, size_t cap)
{
    int exists, rc = bst_run_ckpt_exists(r->cfg.ckpt_path, &exists, msg, cap);
    if (rc || !exists)
        return rc;
    bsg_graphcl *m = &r->model;
    size_t np = bsg_graphcl_param_count(m);
    size_t nb = 2 * (size_t)m->cfg.hidden * (size_t)m->enc.layers;
    const char *path = r->cfg.ckpt_path;
    bst_ckpt_reader *rd = NULL;
    float *params = malloc(sizeof(float) * np),
          *bns = malloc(sizeof(float) * nb);
    char want[2048];
    config_text(r, want, sizeof want);
    const void *data = NULL;
    size_t len = 0;
    position pos;
    if (!params || !bns) {
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = bst_ckpt_open(path, &rd, msg, cap)) ||
        (rc = bst_ckpt_get(rd, "config", &data, &len, msg, cap)))
        goto done;
    if ((rc = bst_run_check_config(path, data, len, want, msg, cap)))
        goto done;
    if ((rc =
             bst_ckpt_read_exact(rd, "position", &pos, sizeof pos, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "params", params, np * sizeof(float), msg,
                                  cap)) ||
        (rc = bst_ckpt_read_exact(rd, "bn", bns, nb * sizeof(float), msg,
                                  cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_m", m->opt.m, np * sizeof(float),
                                  msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_v", m->opt.v, np * sizeof(float),
                                  msg, cap)))
        goto done;
    if (pos.epoch < 0 || pos.epoch > r->cfg.epochs || pos.step < 0 ||
        pos.adam_t != pos.step || pos.graph_epochs < 0) {
        rc = bst_fail(msg, cap, BST_ERR_FORMAT, "%s: inconsistent position",
                      path);
        goto done;
    }
    if (!(rc = restore(r, rd, &pos, msg, cap))) {
        flat_params(m, params, 0);
        flat_bn(m, bns, 0);
    }
done:
    bst_ckpt_close(rd);
    free(params), free(bns);
    return rc;
}

/* ------------------------------------------------------------ set-up */

static int check_cfg(const bsg_run_cfg *c, char *msg, size_t cap)
{
    if (!c->data_dir)
        return bst_fail(msg, cap, BST_ERR_INVAL, "no data folder given");
    if (c->epochs < 1 || !(c->lr > 0) || c->eval_every < 0 ||
        c->ckpt_every < 1 || c->stop_after < 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "epochs >= 1, lr > 0, eval/checkpoint periods >= 0 / "
                        "1 expected");
    if (c->resume && !c->ckpt_path)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "resume needs a checkpoint path");
    return BST_OK;
}

/* B, M, K from N; the batcher over N graphs */
static int make_batcher(run *r, char *msg, size_t cap)
{
    int64_t n = r->data.graphs, B = r->cfg.model.batch;
    int64_t M = r->cfg.batcher.graph.m, K = r->cfg.batcher.graph.k;
    bsg_run_sizes(n, &B, &M, &K);
    if (B < 2 || B > n)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "batch size %lld: expected 2 <= B <= %lld graphs",
                        (long long)B, (long long)n);
    r->B = B;
    r->cfg.model.batch = (int)B;
    r->cfg.batcher.graph.m = M;
    r->cfg.batcher.graph.k = (int32_t)K;
    if (r->cfg.batcher.refresh_every <= 0) /* one epoch */
        r->cfg.batcher.refresh_every = (n + B - 1) / B;
    bs_error err = {0};
    bs_status st = bst_batcher_create(
        &r->cfg.batcher, B, (int64_t)r->cfg.model.hidden * r->cfg.model.layers,
        r->cfg.model.seed, n, &r->batcher, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    r->spe = bs_batcher_epoch_length(r->batcher);
    r->total_steps = r->spe * r->cfg.epochs;
    return BST_OK;
}

static int run_init(run *r, const bsg_run_cfg *cfg, bsg_run_result *res,
                    char *msg, size_t cap)
{
    int rc;
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->res = res;
    if ((rc = check_cfg(cfg, msg, cap)) ||
        (rc = bst_run_check_outputs(cfg->log_path, cfg->ckpt_path, cfg->resume,
                                    msg, cap)) ||
        (rc = bst_tu_load(cfg->data_dir, &r->data, msg, cap)) ||
        (rc = bsg_features_apply(&r->data, cfg->features, msg, cap)) ||
        (rc = make_batcher(r, msg, cap)) ||
        (rc = bsg_graphcl_init(&r->model, &r->cfg.model, r->data.feat, msg,
                               cap)))
        return rc;
    int64_t n = r->data.graphs, B = r->B;
    r->ids = malloc(sizeof(int64_t) * (size_t)B);
    r->local = malloc(sizeof(int64_t) * (size_t)B);
    r->blab = malloc(sizeof(int64_t) * (size_t)B);
    r->labels = malloc(sizeof(int64_t) * (size_t)n);
    r->seen = calloc((size_t)n, 1);
    r->emb = malloc(sizeof(float) * (size_t)n * (size_t)r->model.emb);
    if (!r->ids || !r->local || !r->blab || !r->labels || !r->seen || !r->emb)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < B; i++)
        r->local[i] = i;
    for (int64_t i = 0; i < n; i++)
        r->labels[i] = r->data.label[i];
    res->graphs = n, res->batch = B;
    res->m = r->cfg.batcher.graph.m, res->k = r->cfg.batcher.graph.k;
    return bst_csv_append(&r->log, "%s", LOG_HEADER);
}

static void run_free(run *r)
{
    bst_tu_free(&r->data);
    bsg_graphcl_free(&r->model);
    bs_batcher_free(r->batcher);
    free(r->ids), free(r->local), free(r->blab), free(r->labels);
    free(r->seen), free(r->emb);
    bst_csv_free(&r->log);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------- epochs */

#ifdef BSG_HAVE_SVM
static int svm(run *r, double *acc, double *sd, char *msg, size_t cap)
{
    bst_svm_config sc;
    bst_svm_result out;
    bst_svm_config_default(&sc); /* RBF, 10 outer / 5 inner folds, C grid */
    sc.seed = r->cfg.model.seed;
    int rc = bst_svm_eval(&sc, r->emb, r->data.graphs, r->model.emb,
                          r->data.label, &out, msg, cap);
    *acc = rc ? -1 : out.mean;
    *sd = rc ? -1 : out.std;
    return rc;
}
#endif

/* SVM accuracy (mean, std over the 10 folds) of the encoder's embeddings */
static int evaluate(run *r, double *acc, double *sd, char *msg, size_t cap)
{
    double t0 = bst_now();
    int rc = bsg_graphcl_embed(&r->model, &r->data, r->emb, msg, cap);
#ifdef BSG_HAVE_SVM
    if (!rc)
        rc = svm(r, acc, sd, msg, cap);
#else
    *acc = *sd = -1;
#endif
    r->res->eval_s += bst_now() - t0;
    return rc;
}

static int train_step(run *r, double *sums, char *msg, size_t cap)
{
    bs_error err = {0};
    int64_t B = r->B, ep = 0;
    int E = r->model.emb, rc;
    bs_status st = bs_batcher_next(r->batcher, r->ids, &ep, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    for (int64_t i = 0; i < B; i++) {
        r->nseen += !r->seen[r->ids[i]];
        r->seen[r->ids[i]] = 1;
        r->blab[i] = r->labels[r->ids[i]];
    }
    double loss = 0;
    if ((rc = bsg_graphcl_step(&r->model, &r->data, r->ids, r->cfg.lr, &loss,
                               msg, cap)))
        return rc;
    const float *z = r->model.view[0].z; /* the original view's projections */
    if ((st = bs_batcher_update(r->batcher, r->ids, B, z, &err)))
        return bst_core_fail(st, &err, msg, cap);
    bs_batch_stats bsx;
    if ((st =
             bs_batch_stats_compute(z, B, E, r->local, B, r->blab, &bsx, &err)))
        return bst_core_fail(st, &err, msg, cap);
    sums[0] += loss;
    sums[1] += bsx.mean_sim;
    sums[2] += bsx.mean_max_sim;
    sums[3] += bsx.fn_rate;
    return BST_OK;
}

static int run_epoch(run *r, bsg_epoch_log *row, char *msg, size_t cap)
{
    const bsg_run_cfg *c = &r->cfg;
    double t0 = bst_now(), s0 = bst_batcher_seconds(r->batcher);
    double sums[4] = {0, 0, 0, 0}, eval0 = r->res->eval_s;
    int rc;
    memset(row, 0, sizeof *row);
    row->epoch = r->epoch;
    memset(r->seen, 0, (size_t)r->data.graphs);
    r->nseen = 0;
    for (int64_t s = 0; s < r->spe; s++) {
        if ((rc = train_step(r, sums, msg, cap)))
            return rc;
        if (c->progress &&
            c->progress(c->progress_ctx, r->model.step, r->total_steps, NULL))
            return bst_fail(msg, cap, BST_ERR_INVAL, "stopped by the caller");
    }
    row->steps = r->model.step;
    row->loss = sums[0] / (double)r->spe;
    row->mean_sim = sums[1] / (double)r->spe;
    row->hard_sim = sums[2] / (double)r->spe;
    row->fn_rate = sums[3] / (double)r->spe;
    row->coverage = (double)r->nseen / (double)r->data.graphs;
    row->sampler_s = bst_batcher_seconds(r->batcher) - s0;
    row->svm_acc = row->svm_std = -1;
    if (c->svm && bst_run_eval_due(r->epoch, c->epochs, c->eval_every) &&
        (rc = evaluate(r, &row->svm_acc, &row->svm_std, msg, cap)))
        return rc;
    row->total_s = bst_now() - t0;
    row->step_s = row->total_s - row->sampler_s - (r->res->eval_s - eval0);
    if (r->epoch >= c->batcher.warmup_epochs) {
        for (int k = 0; k < 3; k++)
            r->sums[k] += sums[k + 1] / (double)r->spe;
        r->graph_epochs++;
    }
    return bst_csv_append(
        &r->log,
        "%lld,%lld,%.6f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,%.3f,"
        "%.3f\n",
        (long long)row->epoch, (long long)row->steps, row->loss, row->svm_acc,
        row->svm_std, row->mean_sim, row->hard_sim, row->fn_rate, row->coverage,
        row->sampler_s, row->step_s, row->total_s);
}

static int epoch_cb(void *self, char *msg, size_t cap)
{
    run *r = self;
    return run_epoch(r, &r->res->last, msg, cap);
}

static int save_cb(void *self, char *msg, size_t cap)
{
    return ckpt_save(self, msg, cap);
}

static int report_cb(void *self)
{
    run *r = self;
    const bsg_run_cfg *c = &r->cfg;
    return c->progress && c->progress(c->progress_ctx, r->model.step,
                                      r->total_steps, &r->res->last);
}

static int run_epochs(run *r, bsg_run_result *res, char *msg, size_t cap)
{
    const bsg_run_cfg *c = &r->cfg;
    bst_epoch_loop l = {c->epochs,   c->ckpt_every, c->stop_after,
                        c->log_path, c->ckpt_path,  &r->log,
                        r,           epoch_cb,      save_cb,
                        report_cb};
    return bst_run_epochs(&l, &r->epoch, &res->epochs_run, msg, cap);
}

int bsg_graphcl_run(const bsg_run_cfg *cfg, bsg_run_result *res, char *msg,
                    size_t cap)
{
    if (!cfg || !res)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "NULL configuration or result");
    memset(res, 0, sizeof *res);
    res->svm_acc = res->svm_std = -1;
    double t0 = bst_now();
    run r;
    int rc = run_init(&r, cfg, res, msg, cap);
    if (!rc && cfg->resume)
        rc = ckpt_load(&r, msg, cap);
    if (!rc)
        rc = run_epochs(&r, res, msg, cap);
    if (!rc && r.epoch == cfg->epochs) {
        res->svm_acc = res->last.svm_acc, res->svm_std = res->last.svm_std;
        if (cfg->svm && res->epochs_run == 0) /* resumed after the end */
            rc = evaluate(&r, &res->svm_acc, &res->svm_std, msg, cap);
        double ge = r.graph_epochs ? (double)r.graph_epochs : 1;
        res->mean_sim = r.sums[0] / ge;
        res->hard_sim = r.sums[1] / ge;
        res->fn_rate = r.sums[2] / ge;
    }
    res->sampler_s = bst_batcher_seconds(r.batcher);
    res->total_s = bst_now() - t0;
    run_free(&r);
    return rc;
}
