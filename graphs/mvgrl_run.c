/* mvgrl_run.c — a whole MVGRL run (mvgrl_run.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "mvgrl_run.h"
#include "run.h"
#include "svm_eval.h"
#include "toolkit.h"

#define CONFIG_VERSION "mvgrl v2\n"

typedef struct {
    bsg_run_cfg cfg;
    bsg_mvgrl_cfg mc;
    bst_tu data;
    bsg_mvgrl_ops ops;
    bsg_mvgrl_feat feat; /* mc.features resolved on the loaded set */
    bsg_mvgrl *model;
    bs_batcher *batcher;
    int64_t B, spe, total_steps, epoch, step;
    bst_run_batches bat; /* ids, coverage, diagnostics */
    int64_t *labels;     /* (G) */
    float *emb, *all;    /* (B, h) the batch's, (G, h) every graph's */
    bst_csv_log log;
    bsg_run_result *res;
    bst_run_graph graph; /* diagnostics over the epochs after warm-up */
} run;

static void config_text(const run *r, char *buf, size_t cap)
{
    const bsg_mvgrl_cfg *m = &r->mc;
    const bs_batcher_params *b = &r->cfg.batcher;
    const char *em = bs_epoch_mode_name(b->sampler.epoch_mode);
    const char *sc = bs_alpha_schedule_name(b->sampler.schedule);
    snprintf(buf, cap,
             CONFIG_VERSION
             "data %s graphs %lld feat %d %s\nhidden %d layers %d ppr "
             "%.17g batch %lld lr %.17g seed %llu\nsampler %d "
             "spe %lld warmup %lld refresh %lld lag %lld "
             "epoch_mode %s mode %d m %lld k %d block %d alpha "
             "%.17g schedule %s\nepochs %lld\n",
             r->data.name, (long long)r->data.graphs, r->data.feat,
             bsg_mvgrl_feat_name(r->feat), m->hidden, m->layers, m->alpha,
             (long long)r->B, m->lr, (unsigned long long)m->seed,
             (int)b->sampler.kind, (long long)r->spe,
             (long long)b->warmup_epochs, (long long)b->refresh_every,
             (long long)b->refresh_lag, em ? em : "?",
             (int)(b->sampler.kind == BS_SAMPLER_KNN ? BS_MODE_EXACT
                                                     : b->graph.mode),
             (long long)b->graph.m, (int)b->graph.k, (int)b->graph.block,
             b->sampler.alpha, sc ? sc : "?", (long long)r->cfg.epochs);
}

/* ----------------------------------------------------------- checkpoints */

static int ckpt_save(void *self, char *msg, size_t cap)
{
    run *r = self;
    bst_param *ps;
    int np = bsg_mvgrl_params(r->model, &ps);
    bst_adamw *opt = bsg_mvgrl_opt(r->model);
    size_t nb = bsg_mvgrl_param_floats(r->model) * sizeof(float);
    char config[1024];
    config_text(r, config, sizeof config);
    bst_run_position pos = {r->epoch, r->step, opt->t, r->graph};
    float *flat = malloc(nb);
    if (!flat)
        return bst_fail(msg, cap, BST_ERR_NOMEM,
                        "out of memory for a checkpoint");
    bst_run_flat_params(ps, np, flat, 1);
    const bst_run_section sec[] = {{"config", config, strlen(config)},
                                   {"position", &pos, sizeof pos},
                                   {"params", flat, nb},
                                   {"adam_m", opt->m, nb},
                                   {"adam_v", opt->v, nb}};
    int rc = bst_run_ckpt_save(r->cfg.ckpt_path, sec, 5, r->batcher, &r->log,
                               NULL, 0, msg, cap);
    free(flat);
    return rc;
}

/* The sections after "config": position, params, Adam moments, batcher,
   log; the position must fit the settings. */
static int restore_sections(run *r, const bst_ckpt_reader *rd, float *flat,
                            bst_run_position *pos, char *msg, size_t cap)
{
    bst_adamw *opt = bsg_mvgrl_opt(r->model);
    size_t nb = bsg_mvgrl_param_floats(r->model) * sizeof(float);
    const char *path = r->cfg.ckpt_path;
    int rc;
    if ((rc =
             bst_ckpt_read_exact(rd, "position", pos, sizeof *pos, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "params", flat, nb, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_m", opt->m, nb, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_v", opt->v, nb, msg, cap)) ||
        (rc = bst_run_check_position(pos, r->cfg.epochs, r->spe, path, msg,
                                     cap)))
        return rc;
    return bst_run_restore_tail(rd, r->batcher, &r->log, pos->epoch, r->spe,
                                path, msg, cap);
}

static int restore(void *self, const bst_ckpt_reader *rd, char *msg, size_t cap)
{
    run *r = self;
    bst_param *ps;
    int np = bsg_mvgrl_params(r->model, &ps), rc;
    const void *data;
    size_t len;
    char want[1024];
    config_text(r, want, sizeof want);
    if ((rc = bst_ckpt_get(rd, "config", &data, &len, msg, cap)) ||
        (rc =
             bst_run_check_config(r->cfg.ckpt_path, data, len, want, msg, cap)))
        return rc;
    bst_run_position pos;
    float *flat = malloc(sizeof(float) * bsg_mvgrl_param_floats(r->model));
    if (!flat)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    if (!(rc = restore_sections(r, rd, flat, &pos, msg, cap))) {
        bst_run_flat_params(ps, np, flat, 0);
        bsg_mvgrl_opt(r->model)->t = pos.adam_t;
        r->step = pos.step;
        r->epoch = pos.epoch;
        r->graph = pos.graph;
    }
    free(flat);
    return rc;
}

/* ----------------------------------------------------------------- setup */

static int check_cfg(const bsg_run_cfg *c, const bsg_mvgrl_cfg *m, char *msg,
                     size_t cap)
{
    if (c->epochs < 1 || c->ckpt_every < 1 || c->stop_after < 0 ||
        c->eval_every < 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "epochs and checkpoint period must be >= 1, "
                        "stop-after and eval period >= 0");
    if (!(m->lr > 0) || !isfinite(m->lr) || m->hidden < 1 || m->layers < 1 ||
        m->layers > 16 || !(m->alpha > 0 && m->alpha <= 1) ||
        !bsg_mvgrl_feat_name(m->features))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "MVGRL: expected lr > 0, hidden >= 1, 1 <= layers <= "
                        "16, 0 < PPR alpha <= 1, features auto, tags, degree "
                        "or tags+degree");
    if (c->resume && !c->ckpt_path)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "resume needs a checkpoint path");
    return bst_run_check_outputs(c->log_path, c->ckpt_path, c->resume, msg,
                                 cap);
}

static int make_batcher(run *r, char *msg, size_t cap)
{
    int64_t n = r->data.graphs, B = r->mc.batch, M = r->cfg.batcher.graph.m,
            K = r->cfg.batcher.graph.k, Bdef = 0;
    if (B <= 0)
        B = n < 64 ? n : 64;
    if (B < 2 || B > n)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "batch size %lld: expected 2 <= B <= %lld graphs",
                        (long long)B, (long long)n);
    bsg_run_sizes(n, &Bdef, &M, &K);
    bs_batcher_params p = r->cfg.batcher;
    if (p.refresh_every <= 0) /* one epoch */
        p.refresh_every = p.sampler.batches_per_epoch > 0
                              ? p.sampler.batches_per_epoch
                              : (n + B - 1) / B;
    p.graph.m = M;
    p.graph.k = (int)K;
    r->B = B;
    r->res->graphs = n, r->res->batch = B, r->res->m = M, r->res->k = K;
    bs_error err = {0};
    bs_status st = bst_batcher_create(&p, B, r->mc.hidden, r->mc.seed, n,
                                      &r->batcher, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    r->cfg.batcher = p; /* the config text shows the M and K used */
    r->spe = bs_batcher_epoch_length(r->batcher);
    r->total_steps = r->spe * r->cfg.epochs;
    return BST_OK;
}

static int alloc_buffers(run *r, char *msg, size_t cap)
{
    int64_t B = r->B, n = r->data.graphs, H = r->mc.hidden;
    int rc = bsg_run_buffers(&r->bat, &r->labels, &r->data, B, msg, cap);
    if (rc)
        return rc;
    r->emb = malloc(sizeof(float) * (size_t)(B * H));
    r->all = malloc(sizeof(float) * (size_t)(n * H));
    if (!r->emb || !r->all)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    return BST_OK;
}

static int run_init(run *r, const bsg_run_cfg *cfg, const bsg_mvgrl_cfg *mc,
                    bsg_run_result *res, char *msg, size_t cap)
{
    int rc;
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->mc = *mc;
    r->res = res;
    if ((rc = check_cfg(cfg, mc, msg, cap)) ||
        (rc = bst_tu_load(cfg->data_dir, &r->data, msg, cap)) ||
        (rc = make_batcher(r, msg, cap)) ||
        (rc = bsg_mvgrl_ops_build(&r->ops, &r->data, mc->alpha, msg, cap)))
        return rc;
    r->feat = bsg_mvgrl_feat_resolve(&r->data, mc->features);
    if ((rc = bsg_mvgrl_features(&r->data, &r->ops, r->feat, msg, cap)) ||
        (rc = alloc_buffers(r, msg, cap)))
        return rc;
    if ((rc = bsg_mvgrl_new(mc, r->data.feat, &r->model)))
        return bst_fail(msg, cap, rc, "cannot build the MVGRL model");
    return bsg_log_header(&r->log);
}

static void run_free(run *r)
{
    bst_tu_free(&r->data);
    bsg_mvgrl_ops_free(&r->ops);
    bsg_mvgrl_free(r->model);
    bs_batcher_free(r->batcher);
    bst_run_batches_free(&r->bat);
    free(r->labels);
    free(r->emb);
    free(r->all);
    bst_csv_free(&r->log);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- epochs */

/* Linear-SVM accuracy (mean, std over the 10 folds) of every graph's
   embedding, as the reference's LinearSVC evaluation. */
static int evaluate(void *self, double *acc, double *sd, char *msg, size_t cap)
{
    run *r = self;
    double t0 = bst_now();
    int rc =
        bsg_mvgrl_embed(r->model, &r->data, &r->ops, r->B, r->all, msg, cap);
    bst_svm_config sc;
    bst_svm_config_default(&sc);
    sc.kernel = BST_SVM_LINEAR;
    sc.seed = r->mc.seed;
    bst_svm_result out;
    if (!rc && !(rc = bst_svm_eval(&sc, r->all, r->data.graphs, r->mc.hidden,
                                   r->data.label, &out, msg, cap)))
        *acc = out.mean, *sd = out.std;
    r->res->eval_s += bst_now() - t0;
    return rc;
}

static int train_step(run *r, char *msg, size_t cap)
{
    int rc = bst_run_batch_next(&r->bat, r->batcher, r->epoch, msg, cap);
    double loss = 0;
    if (rc || (rc = bsg_mvgrl_step(r->model, &r->data, &r->ops, r->bat.ids,
                                   r->B, r->mc.lr, &loss, r->emb, msg, cap)))
        return rc;
    r->step++;
    return bst_run_batch_done(&r->bat, r->batcher, r->emb, r->emb, r->mc.hidden,
                              r->labels, loss, msg, cap);
}

static int run_epoch(void *self, char *msg, size_t cap)
{
    run *r = self;
    const bsg_run_cfg *c = &r->cfg;
    bsg_epoch_log *row = &r->res->last;
    double t0 = bst_now(), s0 = bst_batcher_seconds(r->batcher);
    int rc;
    memset(row, 0, sizeof *row);
    row->epoch = r->epoch;
    bst_run_batches_epoch(&r->bat);
    for (int64_t s = 0; s < r->spe; s++) {
        if ((rc = train_step(r, msg, cap)))
            return rc;
        if (c->progress &&
            c->progress(c->progress_ctx, r->step, r->total_steps, NULL))
            return bst_fail(msg, cap, BST_ERR_INVAL, "stopped by the caller");
    }
    double t1 = bst_now();
    row->steps = r->step;
    bsg_epoch_stats(row, &r->bat);
    row->sampler_s = bst_batcher_seconds(r->batcher) - s0;
    row->step_s = (t1 - t0) - row->sampler_s;
    if (c->svm && bst_run_eval_due(r->epoch, c->epochs, c->eval_every) &&
        (rc = evaluate(r, &row->svm_acc, &row->svm_std, msg, cap)))
        return rc;
    row->total_s = bst_now() - t0;
    return bsg_epoch_done(&r->log, &r->graph, row, c->batcher.warmup_epochs);
}

static int report(void *self)
{
    run *r = self;
    const bsg_run_cfg *c = &r->cfg;
    return c->progress &&
           c->progress(c->progress_ctx, r->step, r->total_steps, &r->res->last);
}

int bsg_mvgrl_run(const bsg_run_cfg *cfg, const bsg_mvgrl_cfg *model,
                  bsg_run_result *res, char *msg, size_t cap)
{
    if (!cfg || !model || !res)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "NULL configuration or result");
    memset(res, 0, sizeof *res);
    res->svm_acc = res->svm_std = -1;
    double t0 = bst_now();
    run r;
    int rc = run_init(&r, cfg, model, res, msg, cap);
    bst_epoch_loop l =
        BST_EPOCH_LOOP(&r.cfg, &r.log, &r, run_epoch, ckpt_save, report);
    if (!rc)
        rc = bst_run_resume_epochs(&l, r.cfg.resume, restore, &r.epoch,
                                   &res->epochs_run, msg, cap);
    res->last.steps = r.step;
    rc = bsg_run_finish(rc, cfg, r.epoch, &r.graph, r.batcher, t0, evaluate, &r,
                        res, msg, cap);
    run_free(&r);
    return rc;
}
