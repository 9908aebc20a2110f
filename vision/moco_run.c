/* moco_run.c — a whole MoCo v3 run (moco_run.h), on the shared run
   skeleton (train/run.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "eval.h"
#include "fmnist.h"
#include "moco_run.h"
#include "run.h"
#include "toolkit.h"

#define CONFIG_VERSION "moco v1\n"

void bst_moco_run_cfg_default(bst_moco_run_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    bst_run_cfg_default(&cfg->run);
    bst_moco_cfg m;
    bst_moco_cfg_default(&m);
    cfg->run.model.enc = m.enc;
    cfg->run.model.loss = m.loss;
    cfg->run.model.aug = m.aug;
    cfg->run.model.batch = m.batch;
    cfg->run.model.weight_decay = m.weight_decay;
    cfg->run.model.seed = m.seed;
    cfg->m0 = m.m0;
}

typedef struct {
    bst_run_cfg cfg;
    bst_moco_cfg mc;
    bst_fmnist data;
    bst_moco model;
    bs_batcher *batcher;
    int64_t B, spe, total_steps, warmup_steps, epoch;
    bst_run_batches bat;   /* ids, coverage, diagnostics */
    float *store_rows;     /* (B, store dim) from the two views' keys */
    int32_t *appear;       /* (ntrain) batches each was in, whole run */
    float *ftrain, *ftest; /* evaluation features */
    bst_csv_log log;
    bst_run_result *res;
    double momentum;     /* of the last step */
    bst_run_graph graph; /* diagnostics over the epochs after warm-up */
    int feats_fresh;
} run;

/* ------------------------------------------------------------ settings */

static void config_text(const run *r, char *buf, size_t cap)
{
    const bst_moco_cfg *m = &r->mc;
    const bst_augment_params *a = &m->aug;
    const bs_batcher_params *b = &r->cfg.batcher;
    const char *em = bs_epoch_mode_name(b->sampler.epoch_mode);
    const char *sc = bs_alpha_schedule_name(b->sampler.schedule);
    snprintf(
        buf, cap,
        CONFIG_VERSION
        "width %d mlp %d dim %d m0 %.17g\nloss %d tau %.17g tau_plus %.17g "
        "beta %.17g\naug %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g\nbatch "
        "%d wd %.17g seed %llu\nsampler %d spe %lld warmup %lld refresh %lld "
        "lag %lld epoch_mode %s mode %d m %lld k %d block %d alpha %.17g "
        "schedule %s\nntrain %lld ntest %lld epochs %lld lr %.17g min_lr "
        "%.17g lr_warmup %lld knn %d %.17g eval %lld\n",
        m->enc.width, m->enc.proj_dim, m->enc.out_dim, m->m0, (int)m->loss.kind,
        m->loss.tau, m->loss.tau_plus, m->loss.beta, a->scale_min, a->scale_max,
        a->ratio_min, a->ratio_max, a->flip_p, a->jitter_p, a->brightness,
        a->contrast, a->noise_std, m->batch, m->weight_decay,
        (unsigned long long)m->seed, (int)b->sampler.kind, (long long)r->spe,
        (long long)b->warmup_epochs, (long long)b->refresh_every,
        (long long)b->refresh_lag, em ? em : "?",
        (int)(b->sampler.kind == BS_SAMPLER_KNN ? BS_MODE_EXACT
                                                : b->graph.mode),
        (long long)b->graph.m, (int)b->graph.k, (int)b->graph.block,
        b->sampler.alpha, sc ? sc : "?", (long long)r->data.ntrain,
        (long long)r->data.ntest, (long long)r->cfg.epochs, r->cfg.lr,
        r->cfg.min_lr, (long long)r->warmup_steps, r->cfg.knn_k, r->cfg.knn_t,
        (long long)r->cfg.eval_every);
    size_t len = strlen(buf);
    if (len < cap)
        snprintf(buf + len, cap - len, "store_views %s\n",
                 bst_store_views_name(r->cfg.store_views));
}

/* ---------------------------------------------------------- checkpoints */

static size_t param_floats(const bst_param *ps, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += ps[i].n;
    return t;
}

/* the three flat arrays of a checkpoint: params, momentum, bn */
typedef struct {
    float *p, *mp, *bn;
    size_t np, nmp, nbn;
} flats;

static int flats_alloc(bst_moco *s, flats *f)
{
    f->np = param_floats(s->params, s->nparams);
    f->nmp = param_floats(s->dst, s->nema);
    f->nbn = bst_run_bn_floats(s->bns, s->nbns);
    f->p = malloc(sizeof(float) * f->np);
    f->mp = malloc(sizeof(float) * f->nmp);
    f->bn = malloc(sizeof(float) * f->nbn);
    return f->p && f->mp && f->bn ? BST_OK : BST_ERR_NOMEM;
}

static void flats_free(flats *f)
{
    free(f->p);
    free(f->mp);
    free(f->bn);
}

static int ckpt_save(void *self, char *msg, size_t cap)
{
    run *r = self;
    bst_moco *s = &r->model;
    char config[2048];
    config_text(r, config, sizeof config);
    bst_run_position pos = {r->epoch, r->model.step, s->opt.t, r->graph};
    flats f;
    int rc = flats_alloc(s, &f);
    if (rc)
        rc = bst_fail(msg, cap, rc, "out of memory for a checkpoint");
    else {
        bst_run_flat_params(s->params, s->nparams, f.p, 1);
        bst_run_flat_params(s->dst, s->nema, f.mp, 1);
        bst_run_flat_bn(s->bns, s->nbns, f.bn, 1);
        size_t nb = f.np * sizeof(float);
        const bst_run_section head[] = {
            {"config", config, strlen(config)},
            {"position", &pos, sizeof pos},
            {"params", f.p, nb},
            {"momentum", f.mp, f.nmp * sizeof(float)},
            {"bn", f.bn, f.nbn * sizeof(float)},
            {"adam_m", s->opt.m, nb},
            {"adam_v", s->opt.v, nb}};
        const bst_run_section tail[] = {
            {"appear", r->appear, sizeof(int32_t) * (size_t)r->data.ntrain}};
        rc = bst_run_ckpt_save(r->cfg.ckpt_path, head, 7, r->batcher, &r->log,
                               tail, 1, msg, cap);
    }
    flats_free(&f);
    return rc;
}

/* The sections after "config" into f, the optimiser, the batcher and the
   log; the position must fit the settings. */
static int restore_sections(run *r, const bst_ckpt_reader *rd, flats *f,
                            bst_run_position *pos, char *msg, size_t cap)
{
    bst_adamw *opt = &r->model.opt;
    const char *path = r->cfg.ckpt_path;
    size_t nb = f->np * sizeof(float);
    int rc;
    if ((rc =
             bst_ckpt_read_exact(rd, "position", pos, sizeof *pos, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "params", f->p, nb, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "momentum", f->mp, f->nmp * sizeof(float),
                                  msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "bn", f->bn, f->nbn * sizeof(float), msg,
                                  cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_m", opt->m, nb, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_v", opt->v, nb, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "appear", r->appear,
                                  sizeof(int32_t) * (size_t)r->data.ntrain, msg,
                                  cap)) ||
        (rc = bst_run_check_position(pos, r->cfg.epochs, r->spe, path, msg,
                                     cap)))
        return rc;
    return bst_run_restore_tail(rd, r->batcher, &r->log, pos->epoch, r->spe,
                                path, msg, cap);
}

static int restore(void *self, const bst_ckpt_reader *rd, char *msg, size_t cap)
{
    run *r = self;
    bst_moco *s = &r->model;
    const void *data;
    size_t len;
    char want[2048];
    config_text(r, want, sizeof want);
    int rc = bst_ckpt_get(rd, "config", &data, &len, msg, cap);
    if (rc || (rc = bst_run_check_config(r->cfg.ckpt_path, data, len, want, msg,
                                         cap)))
        return rc;
    bst_run_position pos;
    flats f;
    if (flats_alloc(s, &f))
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    else if (!(rc = restore_sections(r, rd, &f, &pos, msg, cap))) {
        bst_run_flat_params(s->params, s->nparams, f.p, 0);
        bst_run_flat_params(s->dst, s->nema, f.mp, 0);
        bst_run_flat_bn(s->bns, s->nbns, f.bn, 0);
        s->opt.t = pos.adam_t;
        s->step = pos.step;
        r->epoch = pos.epoch;
        r->graph = pos.graph;
    }
    flats_free(&f);
    return rc;
}

/* ---------------------------------------------------------------- setup */

static int check_cfg(const bst_moco_run_cfg *mc, char *msg, size_t cap)
{
    const bst_run_cfg *c = &mc->run;
    int rc = bst_run_cfg_check(c, msg, cap);
    if (rc)
        return rc;
    if (!(mc->m0 >= 0 && mc->m0 <= 1))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "momentum %g: expected 0 <= m0 <= 1", mc->m0);
    return bst_run_check_outputs(c->log_path, c->ckpt_path, c->resume, msg,
                                 cap);
}

static const char LOG_HEADER[] =
    "epoch,steps,loss,lr,momentum,knn_top1,mean_sim,hard_sim,fn_rate,"
    "coverage,sampler_s,step_s,total_s,appear_cv,unseen\n";

static int alloc_buffers(run *r, char *msg, size_t cap)
{
    size_t n = (size_t)r->data.ntrain, D = (size_t)r->mc.enc.out_dim,
           F = (size_t)bst_encoder_feat_dim(&r->mc.enc);
    int rc = bst_run_batches_init(&r->bat, r->B, r->data.ntrain, msg, cap);
    if (rc)
        return rc;
    r->store_rows = malloc(sizeof(float) * (size_t)r->B * 2 * D);
    r->appear = calloc(n, sizeof(int32_t));
    r->ftrain = malloc(sizeof(float) * n * F);
    r->ftest = malloc(sizeof(float) * (size_t)r->data.ntest * F);
    if (!r->store_rows || !r->appear || !r->ftrain || !r->ftest)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    return BST_OK;
}

static int run_init(run *r, const bst_moco_run_cfg *cfg, bst_run_result *res,
                    char *msg, size_t cap)
{
    int rc;
    memset(r, 0, sizeof *r);
    r->cfg = cfg->run;
    r->res = res;
    const bst_simclr_cfg *m = &cfg->run.model;
    r->mc = (bst_moco_cfg){.enc = m->enc,
                           .loss = m->loss,
                           .aug = m->aug,
                           .batch = m->batch,
                           .weight_decay = m->weight_decay,
                           .m0 = cfg->m0,
                           .seed = m->seed};
    if ((rc = check_cfg(cfg, msg, cap)) ||
        (rc = bst_fmnist_load(r->cfg.data_dir, r->cfg.train_n, r->cfg.test_n,
                              &r->data, msg, cap)))
        return rc;
    r->B = r->mc.batch;
    if (r->B < 2 || r->B > r->data.ntrain)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "batch size %lld: expected 2 <= B <= %lld images",
                        (long long)r->B, (long long)r->data.ntrain);
    if ((rc = bst_moco_init(&r->model, &r->mc)))
        return bst_fail(msg, cap, rc, "bad MoCo model configuration");
    bs_error err = {0};
    bs_status st =
        bst_batcher_create(&r->cfg.batcher, r->B,
                           bst_store_dim(r->cfg.store_views, r->mc.enc.out_dim),
                           r->mc.seed, r->data.ntrain, &r->batcher, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    r->spe = bs_batcher_epoch_length(r->batcher);
    r->total_steps = r->spe * r->cfg.epochs;
    r->warmup_steps =
        r->cfg.lr_warmup_steps < 0 ? r->spe : r->cfg.lr_warmup_steps;
    if ((rc = alloc_buffers(r, msg, cap)))
        return rc;
    return bst_csv_append(&r->log, "%s", LOG_HEADER);
}

static void run_free(run *r)
{
    bst_fmnist_free(&r->data);
    bst_moco_free(&r->model);
    bs_batcher_free(r->batcher);
    bst_run_batches_free(&r->bat);
    free(r->store_rows);
    free(r->appear);
    free(r->ftrain);
    free(r->ftest);
    bst_csv_free(&r->log);
    memset(r, 0, sizeof *r);
}

/* --------------------------------------------------------------- epochs */

static int evaluate_knn(run *r, double *top1, char *msg, size_t cap)
{
    int F = bst_encoder_feat_dim(&r->mc.enc), rc;
    double t0 = bst_now();
    if ((rc = bst_moco_features(&r->model, r->data.train, r->data.ntrain,
                                r->ftrain)) ||
        (rc = bst_moco_features(&r->model, r->data.test, r->data.ntest,
                                r->ftest)))
        return bst_fail(msg, cap, rc, "feature extraction failed");
    r->feats_fresh = 1;
    rc = bst_run_knn(&r->cfg, &r->data, r->ftrain, r->ftest, F, top1, msg, cap);
    r->res->eval_s += bst_now() - t0;
    return rc;
}

/* One step on the batcher's next batch: the store gets the two views'
   keys (their mean or side by side), the diagnostics look at the view-0
   keys. */
static int train_step(run *r, bst_epoch_log *row, char *msg, size_t cap)
{
    int64_t B = r->B, D = r->mc.enc.out_dim;
    int rc = bst_run_batch_next(&r->bat, r->batcher, r->epoch, msg, cap);
    if (rc)
        return rc;
    for (int64_t i = 0; i < B; i++)
        r->appear[r->bat.ids[i]]++;
    long step = r->model.step;
    double lr = bst_lr_at(step, (long)r->warmup_steps, (long)r->total_steps,
                          r->cfg.lr, r->cfg.min_lr);
    double m = bst_momentum_at(step, (long)r->total_steps, r->mc.m0), loss = 0;
    if ((rc = bst_moco_step(&r->model, r->data.train, r->data.ntrain,
                            r->bat.ids, lr, m, &loss)))
        return bst_fail(
            msg, cap, rc,
            "MoCo step %ld failed (%s): try a lower learning rate", step,
            rc == BST_ERR_NOMEM ? "out of memory" : "non-finite loss");
    const float *k1 = r->model.keys, *k2 = k1 + (size_t)B * D;
    bst_store_rows(r->cfg.store_views, k1, k2, B, (int)D, r->store_rows);
    row->lr = lr;
    r->momentum = m;
    /* the rows are the store's width; dim D is the diagnostics' (keys) */
    return bst_run_batch_done(&r->bat, r->batcher, r->store_rows, k1, D,
                              r->data.ylong, loss, msg, cap);
}

static int run_epoch(void *self, char *msg, size_t cap)
{
    run *r = self;
    const bst_run_cfg *c = &r->cfg;
    bst_epoch_log *row = &r->res->last;
    double t0 = bst_now(), s0 = bst_batcher_seconds(r->batcher);
    int rc;
    r->feats_fresh = 0;
    memset(row, 0, sizeof *row);
    row->epoch = r->epoch;
    bst_run_batches_epoch(&r->bat);
    for (int64_t s = 0; s < r->spe; s++) {
        if ((rc = train_step(r, row, msg, cap)))
            return rc;
        if (c->progress &&
            c->progress(c->progress_ctx, r->model.step, r->total_steps, NULL))
            return bst_fail(msg, cap, BST_ERR_INVAL, "stopped by the caller");
    }
    double t1 = bst_now();
    row->steps = r->model.step;
    bst_run_epoch_stats(row, &r->bat, r->appear);
    row->sampler_s = bst_batcher_seconds(r->batcher) - s0;
    row->step_s = (t1 - t0) - row->sampler_s;
    if (bst_run_eval_due(r->epoch, c->epochs, c->eval_every) &&
        (rc = evaluate_knn(r, &row->knn_top1, msg, cap)))
        return rc;
    row->total_s = bst_now() - t0;
    bst_run_graph_add(&r->graph, r->epoch, c->batcher.warmup_epochs,
                      row->mean_sim, row->hard_sim, row->fn_rate);
    return bst_csv_append(
        &r->log,
        "%lld,%lld,%.6f,%.6g,%.9f,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,%.3f,%.3f,%.4f,"
        "%.4f\n",
        (long long)row->epoch, (long long)row->steps, row->loss, row->lr,
        r->momentum, row->knn_top1, row->mean_sim, row->hard_sim, row->fn_rate,
        row->coverage, row->sampler_s, row->step_s, row->total_s,
        row->appear_cv, row->unseen);
}

static int report(void *self)
{
    run *r = self;
    const bst_run_cfg *c = &r->cfg;
    return c->progress && c->progress(c->progress_ctx, r->model.step,
                                      r->total_steps, &r->res->last);
}

/* After the last epoch: kNN (again when resumed after the end: nothing
   ran), the linear probe and the batch averages over the epochs after
   the warm-up. */
static int finish(run *r, bst_run_result *res, char *msg, size_t cap)
{
    int rc = BST_OK;
    res->knn_top1 = res->last.knn_top1;
    bst_run_graph_means(&r->graph, &res->mean_sim, &res->hard_sim,
                        &res->fn_rate);
    if (!r->feats_fresh) /* resumed after the last epoch */
        rc = evaluate_knn(r, &res->knn_top1, msg, cap);
    if (!rc && r->cfg.probe)
        rc = bst_run_probe(&r->data, r->ftrain, r->ftest,
                           bst_encoder_feat_dim(&r->mc.enc), res, msg, cap);
    return rc;
}

int bst_moco_run(const bst_moco_run_cfg *cfg, bst_run_result *res, char *msg,
                 size_t cap)
{
    if (!cfg || !res)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "NULL configuration or result");
    memset(res, 0, sizeof *res);
    res->knn_top1 = res->probe_top1 = res->probe_train_top1 = -1;
    double t0 = bst_now();
    run r;
    int rc = run_init(&r, cfg, res, msg, cap);
    bst_epoch_loop l =
        BST_EPOCH_LOOP(&r.cfg, &r.log, &r, run_epoch, ckpt_save, report);
    if (!rc)
        rc = bst_run_resume_epochs(&l, r.cfg.resume, restore, &r.epoch,
                                   &res->epochs_run, msg, cap);
    res->last.steps = r.model.step;
    if (!rc && r.epoch == cfg->run.epochs)
        rc = finish(&r, res, msg, cap);
    if (r.appear)
        bst_appearance_stats(r.appear, r.data.ntrain, &res->appear);
    res->sampler_s = bst_batcher_seconds(r.batcher);
    bst_batcher_graph_use(r.batcher, &res->graph_use);
    res->total_s = bst_now() - t0;
    res->step_s = res->total_s - res->sampler_s - res->eval_s;
    run_free(&r);
    return rc;
}
