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

/* ------------------------------------------- what the graph runs share */

int bsg_run_buffers(bst_run_batches *bat, int64_t **labels, const bst_tu *data,
                    int64_t B, char *msg, size_t cap)
{
    int64_t n = data->graphs;
    int rc = bst_run_batches_init(bat, B, n, msg, cap);
    if (rc)
        return rc;
    if (!(*labels = malloc(sizeof(int64_t) * (size_t)n)))
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        (*labels)[i] = data->label[i];
    return BST_OK;
}

int bsg_log_header(bst_csv_log *log)
{
    return bst_csv_append(
        log, "%s",
        "epoch,steps,loss,svm_acc,svm_std,mean_sim,hard_sim,fn_rate,coverage,"
        "sampler_s,step_s,total_s\n");
}

void bsg_epoch_stats(bsg_epoch_log *row, const bst_run_batches *b)
{
    bst_run_batches_means(b, &row->loss, &row->mean_sim, &row->hard_sim,
                          &row->fn_rate, &row->coverage);
    row->svm_acc = row->svm_std = -1;
}

int bsg_epoch_done(bst_csv_log *log, bst_run_graph *g, const bsg_epoch_log *row,
                   int64_t warmup)
{
    bst_run_graph_add(g, row->epoch, warmup, row->mean_sim, row->hard_sim,
                      row->fn_rate);
    return bst_csv_append(
        log,
        "%lld,%lld,%.6f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,%.3f,"
        "%.3f\n",
        (long long)row->epoch, (long long)row->steps, row->loss, row->svm_acc,
        row->svm_std, row->mean_sim, row->hard_sim, row->fn_rate, row->coverage,
        row->sampler_s, row->step_s, row->total_s);
}

int bsg_run_finish(int rc, const bsg_run_cfg *cfg, int64_t epoch,
                   const bst_run_graph *g, const bs_batcher *batcher, double t0,
                   bsg_eval_fn evaluate, void *self, bsg_run_result *res,
                   char *msg, size_t cap)
{
    if (!rc && epoch == cfg->epochs) {
        res->svm_acc = res->last.svm_acc, res->svm_std = res->last.svm_std;
        if (cfg->svm && res->epochs_run == 0) /* resumed after the end */
            rc = evaluate(self, &res->svm_acc, &res->svm_std, msg, cap);
        bst_run_graph_means(g, &res->mean_sim, &res->hard_sim, &res->fn_rate);
    }
    res->sampler_s = bst_batcher_seconds(batcher);
    bst_batcher_graph_use(batcher, &res->graph_use);
    res->total_s = bst_now() - t0;
    return rc;
}

/* ------------------------------------------------------------- the run */

typedef struct {
    bsg_run_cfg cfg;
    bst_tu data;
    bsg_graphcl model;
    bs_batcher *batcher;
    int64_t B, spe, total_steps;
    int64_t epoch;       /* next epoch to run */
    bst_run_batches bat; /* ids, coverage, diagnostics */
    int64_t *labels;     /* (N) graph labels as int64 */
    float *emb;          /* (N, 96) evaluation embeddings */
    bst_csv_log log;
    bsg_run_result *res;
    bst_run_graph graph; /* diagnostics over the epochs after warm-up */
} run;

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

static int ckpt_save(void *self, char *msg, size_t cap)
{
    run *r = self;
    bsg_graphcl *m = &r->model;
    size_t np = bsg_graphcl_param_count(m);
    size_t nb = 2 * (size_t)m->cfg.hidden * (size_t)m->enc.layers;
    char config[2048];
    config_text(r, config, sizeof config);
    bst_run_position pos = {r->epoch, m->step, m->opt.t, r->graph};
    float *params = malloc(sizeof(float) * np),
          *bns = malloc(sizeof(float) * nb);
    int rc = BST_OK;
    if (!params || !bns)
        rc =
            bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for a checkpoint");
    else {
        flat_params(m, params, 1);
        flat_bn(m, bns, 1);
        const bst_run_section sec[] = {
            {"config", config, strlen(config)},
            {"position", &pos, sizeof pos},
            {"params", params, np * sizeof(float)},
            {"bn", bns, nb * sizeof(float)},
            {"adam_m", m->opt.m, np * sizeof(float)},
            {"adam_v", m->opt.v, np * sizeof(float)}};
        rc = bst_run_ckpt_save(r->cfg.ckpt_path, sec, 6, r->batcher, &r->log,
                               NULL, 0, msg, cap);
    }
    free(params), free(bns);
    return rc;
}

static int restore_tail(run *r, const bst_ckpt_reader *rd,
                        const bst_run_position *pos, char *msg, size_t cap)
{
    int rc = bst_run_restore_tail(rd, r->batcher, &r->log, pos->epoch, r->spe,
                                  r->cfg.ckpt_path, msg, cap);
    if (rc)
        return rc;
    r->model.opt.t = pos->adam_t;
    r->model.step = pos->step;
    r->epoch = pos->epoch;
    r->graph = pos->graph;
    return BST_OK;
}

static int restore(void *self, const bst_ckpt_reader *rd, char *msg, size_t cap)
{
    run *r = self;
    bsg_graphcl *m = &r->model;
    size_t np = bsg_graphcl_param_count(m);
    size_t nb = 2 * (size_t)m->cfg.hidden * (size_t)m->enc.layers;
    const char *path = r->cfg.ckpt_path;
    float *params = malloc(sizeof(float) * np),
          *bns = malloc(sizeof(float) * nb);
    char want[2048];
    config_text(r, want, sizeof want);
    const void *data = NULL;
    size_t len = 0;
    bst_run_position pos;
    int rc;
    if (!params || !bns) {
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = bst_ckpt_get(rd, "config", &data, &len, msg, cap)))
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
    if ((rc = bst_run_check_position(&pos, r->cfg.epochs, 0, path, msg, cap)))
        goto done;
    if (!(rc = restore_tail(r, rd, &pos, msg, cap))) {
        flat_params(m, params, 0);
        flat_bn(m, bns, 0);
    }
done:
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
    if ((rc = bsg_run_buffers(&r->bat, &r->labels, &r->data, B, msg, cap)))
        return rc;
    r->emb = malloc(sizeof(float) * (size_t)n * (size_t)r->model.emb);
    if (!r->emb)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    res->graphs = n, res->batch = B;
    res->m = r->cfg.batcher.graph.m, res->k = r->cfg.batcher.graph.k;
    return bsg_log_header(&r->log);
}

static void run_free(run *r)
{
    bst_tu_free(&r->data);
    bsg_graphcl_free(&r->model);
    bs_batcher_free(r->batcher);
    bst_run_batches_free(&r->bat);
    free(r->labels), free(r->emb);
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
static int evaluate(void *self, double *acc, double *sd, char *msg, size_t cap)
{
    run *r = self;
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

static int train_step(run *r, char *msg, size_t cap)
{
    int rc = bst_run_batch_next(&r->bat, r->batcher, r->epoch, msg, cap);
    double loss = 0;
    if (rc || (rc = bsg_graphcl_step(&r->model, &r->data, r->bat.ids, r->cfg.lr,
                                     &loss, msg, cap)))
        return rc;
    const float *z = r->model.view[0].z; /* the original view's projections */
    return bst_run_batch_done(&r->bat, r->batcher, z, z, r->model.emb,
                              r->labels, loss, msg, cap);
}

static int run_epoch(void *self, char *msg, size_t cap)
{
    run *r = self;
    const bsg_run_cfg *c = &r->cfg;
    bsg_epoch_log *row = &r->res->last;
    double t0 = bst_now(), s0 = bst_batcher_seconds(r->batcher);
    double eval0 = r->res->eval_s;
    int rc;
    memset(row, 0, sizeof *row);
    row->epoch = r->epoch;
    bst_run_batches_epoch(&r->bat);
    for (int64_t s = 0; s < r->spe; s++) {
        if ((rc = train_step(r, msg, cap)))
            return rc;
        if (c->progress &&
            c->progress(c->progress_ctx, r->model.step, r->total_steps, NULL))
            return bst_fail(msg, cap, BST_ERR_INVAL, "stopped by the caller");
    }
    row->steps = r->model.step;
    bsg_epoch_stats(row, &r->bat);
    row->sampler_s = bst_batcher_seconds(r->batcher) - s0;
    if (c->svm && bst_run_eval_due(r->epoch, c->epochs, c->eval_every) &&
        (rc = evaluate(r, &row->svm_acc, &row->svm_std, msg, cap)))
        return rc;
    row->total_s = bst_now() - t0;
    row->step_s = row->total_s - row->sampler_s - (r->res->eval_s - eval0);
    return bsg_epoch_done(&r->log, &r->graph, row, c->batcher.warmup_epochs);
}

static int report(void *self)
{
    run *r = self;
    const bsg_run_cfg *c = &r->cfg;
    return c->progress && c->progress(c->progress_ctx, r->model.step,
                                      r->total_steps, &r->res->last);
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
    bst_epoch_loop l =
        BST_EPOCH_LOOP(&r.cfg, &r.log, &r, run_epoch, ckpt_save, report);
    if (!rc)
        rc = bst_run_resume_epochs(&l, r.cfg.resume, restore, &r.epoch,
                                   &res->epochs_run, msg, cap);
    rc = bsg_run_finish(rc, cfg, r.epoch, &r.graph, r.batcher, t0, evaluate, &r,
                        res, msg, cap);
    run_free(&r);
    return rc;
}
