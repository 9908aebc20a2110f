/* simclr_run.c — a whole SimCLR training run (simclr_run.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ckpt.h"
#include "eval.h"
#include "fmnist.h"
#include "run.h"
#include "simclr_run.h"
#include "toolkit.h"

void bst_run_cfg_default(bst_run_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    bst_simclr_cfg_default(&cfg->model);
    bs_batcher_params_default(&cfg->batcher); /* batches_per_epoch 0 */
    cfg->data_dir = BST_FMNIST_DIR;
    cfg->epochs = 10;
    cfg->lr = 1e-3;
    cfg->min_lr = 0.0;
    cfg->lr_warmup_steps = -1; /* one epoch */
    cfg->knn_k = 200;
    cfg->knn_t = 0.5;
    cfg->eval_every = 1;
    cfg->probe = 1;
    cfg->ckpt_every = 1;
}

/* ------------------------------------------- store rows, appearances */

const char *bst_store_views_name(bst_store_views v)
{
    return v == BST_VIEWS_MEAN     ? "mean"
           : v == BST_VIEWS_CONCAT ? "concat"
                                   : NULL;
}

int bst_store_dim(bst_store_views v, int D)
{
    return v == BST_VIEWS_CONCAT ? 2 * D : D;
}

static void unit_row(const float *x, int D, float *out)
{
    double ss = 0;
    for (int j = 0; j < D; j++)
        ss += (double)x[j] * x[j];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int j = 0; j < D; j++)
        out[j] = x[j] * inv;
}

void bst_store_rows(bst_store_views v, const float *v1, const float *v2,
                    int64_t n, int D, float *out)
{
    if (v != BST_VIEWS_CONCAT) {
        for (size_t i = 0; i < (size_t)n * (size_t)D; i++)
            out[i] = 0.5f * (v1[i] + v2[i]);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float *o = out + (size_t)i * 2 * (size_t)D;
        unit_row(v1 + (size_t)i * (size_t)D, D, o);
        unit_row(v2 + (size_t)i * (size_t)D, D, o + D);
    }
}

void bst_run_epoch_stats(bst_epoch_log *row, const bst_run_batches *b,
                         const int32_t *appear)
{
    bst_run_batches_means(b, &row->loss, &row->mean_sim, &row->hard_sim,
                          &row->fn_rate, &row->coverage);
    row->knn_top1 = -1;
    bst_appearance ap;
    bst_appearance_stats(appear, b->n, &ap);
    row->appear_cv = ap.cv;
    row->unseen = ap.unseen;
}

int bst_run_knn(const bst_run_cfg *c, const bst_fmnist *d, const float *ftrain,
                const float *ftest, int F, double *top1, char *msg, size_t cap)
{
    return bst_knn_classify(ftrain, d->ytrain, d->ntrain, ftest, d->ntest, F,
                            BST_FMNIST_CLASSES, c->knn_k, c->knn_t, NULL,
                            d->ytest, top1, msg, cap);
}

int bst_run_probe(const bst_fmnist *d, const float *ftrain, const float *ftest,
                  int F, bst_run_result *res, char *msg, size_t cap)
{
    double t0 = bst_now();
    bst_probe_cfg pc;
    bst_probe_cfg_default(&pc);
    int rc = bst_linear_probe(
        &pc, ftrain, d->ytrain, d->ntrain, ftest, d->ytest, d->ntest, F,
        BST_FMNIST_CLASSES, &res->probe_train_top1, &res->probe_top1, msg, cap);
    res->eval_s += bst_now() - t0;
    return rc;
}

void bst_appearance_stats(const int32_t *counts, int64_t n, bst_appearance *a)
{
    memset(a, 0, sizeof *a);
    if (n < 1)
        return;
    double sum = 0, ss = 0;
    int64_t never = 0;
    a->min = a->max = counts[0];
    for (int64_t i = 0; i < n; i++) {
        double c = counts[i];
        sum += c;
        ss += c * c;
        never += counts[i] == 0;
        if (counts[i] < a->min)
            a->min = counts[i];
        if (counts[i] > a->max)
            a->max = counts[i];
    }
    a->mean = sum / (double)n;
    double var = ss / (double)n - a->mean * a->mean;
    a->cv = a->mean > 0 && var > 0 ? sqrt(var) / a->mean : 0;
    a->unseen = (double)never / (double)n;
}

/* ------------------------------------------------------------- the run */

typedef struct {
    bst_run_cfg cfg;
    bst_fmnist data;
    bst_simclr model;
    bs_batcher *batcher;
    int64_t spe, total_steps, warmup_steps;
    int64_t epoch;           /* next epoch to run */
    bst_run_batches bat;     /* (G) the global batch, coverage, diagnostics */
    int64_t *lids;           /* (B) this process's ids (= bat.ids if W 1) */
    int rank, world;         /* of a data-parallel run (0 of 1) */
    const char *ckpt_in;     /* the checkpoint every process resumes from */
    bst_split_builder split; /* W > 1, lag 0: the rebuilds split */
    uint64_t resumed;        /* CRC of what it restored (the ranks compare) */
    float *mean_z;           /* (G, store dim) stored rows */
    int32_t *appear;         /* (ntrain) batches each was in, run */
    float *ftrain, *ftest;   /* features for evaluation */
    bst_csv_log csv;         /* CSV text so far (also in checkpoints) */
    bst_run_result *res;
    bst_run_graph graph; /* diagnostics over the epochs after warm-up */
    int feats_fresh;     /* ftrain / ftest hold the current model's features */
} run;

/* ----------------------------------------------------------- checkpoints */
/* Sections (ckpt.h container): "config" (text of every setting that
   changes the result; resuming with other settings is refused), "position"
   (counters and running sums), "params", "bn" (running statistics),
   "adam_m", "adam_v", "batcher" (bs_batcher_save_state's blob: position,
   samplers, graph in force, embedding store), "log" (the CSV so far).
   Payloads are in host byte order: a checkpoint is for resuming on the
   same kind of machine.  The config text starts with the format version
   (CONFIG_VERSION); v1 (separate store and snapshot sections, before the
   core batcher) is refused. */

#define CONFIG_VERSION "simclr v2\n"

static void config_text(const run *r, char *buf, size_t cap)
{
    const bst_run_cfg *c = &r->cfg;
    const bst_simclr_cfg *m = &c->model;
    const bst_augment_params *a = &m->aug;
    const bs_batcher_params *b = &c->batcher;
    snprintf(buf, cap,
             CONFIG_VERSION
             "width %d proj %d out %d\nloss %d tau %.17g "
             "tau_plus %.17g beta %.17g\naug %.9g %.9g %.9g %.9g %.9g %.9g "
             "%.9g %.9g %.9g\nbatch %d wd %.17g seed %llu\nsampler %d spe "
             "%lld warmup %lld refresh %lld lag %lld epoch_mode %s mode %d m "
             "%lld k %d block %d alpha %.17g schedule %s\nntrain %lld ntest "
             "%lld epochs %lld lr %.17g min_lr %.17g lr_warmup %lld knn %d "
             "%.17g eval %lld\n",
             m->enc.width, m->enc.proj_dim, m->enc.out_dim, (int)m->loss.kind,
             m->loss.tau, m->loss.tau_plus, m->loss.beta, a->scale_min,
             a->scale_max, a->ratio_min, a->ratio_max, a->flip_p, a->jitter_p,
             a->brightness, a->contrast, a->noise_std, m->batch,
             m->weight_decay, (unsigned long long)m->seed, (int)b->sampler.kind,
             (long long)r->spe, (long long)b->warmup_epochs,
             (long long)b->refresh_every, (long long)b->refresh_lag,
             bs_epoch_mode_name(b->sampler.epoch_mode)
                 ? bs_epoch_mode_name(b->sampler.epoch_mode)
                 : "?",
             (int)(b->sampler.kind == BS_SAMPLER_KNN ? BS_MODE_EXACT
                                                     : b->graph.mode),
             (long long)b->graph.m, (int)b->graph.k, (int)b->graph.block,
             b->sampler.alpha,
             bs_alpha_schedule_name(b->sampler.schedule)
                 ? bs_alpha_schedule_name(b->sampler.schedule)
                 : "?",
             (long long)r->data.ntrain, (long long)r->data.ntest,
             (long long)c->epochs, c->lr, c->min_lr, (long long)r->warmup_steps,
             c->knn_k, c->knn_t, (long long)c->eval_every);
    size_t len = strlen(buf);
    if (len < cap)
        snprintf(buf + len, cap - len, "store_views %s\n",
                 bst_store_views_name(c->store_views));
    len = strlen(buf);
    if (r->world > 1 && len < cap)
        snprintf(buf + len, cap - len, "world %d\n", r->world);
}

static int ckpt_save(void *self, char *msg, size_t cap)
{
    run *r = self;
    bst_encoder *e = &r->model.enc;
    size_t np = bst_encoder_param_count(e),
           nb = bst_run_bn_floats(e->bns, e->nbns);
    char config[2048];
    config_text(r, config, sizeof config);
    bst_run_position pos = {r->epoch, r->model.step, r->model.opt.t, r->graph};
    float *params = malloc(sizeof(float) * np);
    float *bns = malloc(sizeof(float) * (nb ? nb : 1));
    int rc = BST_OK;
    if (!params || !bns)
        rc =
            bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for a checkpoint");
    else {
        bst_run_flat_params(e->params, e->nparams, params, 1);
        bst_run_flat_bn(e->bns, e->nbns, bns, 1);
        const bst_run_section head[] = {
            {"config", config, strlen(config)},
            {"position", &pos, sizeof pos},
            {"params", params, np * sizeof(float)},
            {"bn", bns, nb * sizeof(float)},
            {"adam_m", r->model.opt.m, np * sizeof(float)},
            {"adam_v", r->model.opt.v, np * sizeof(float)}};
        const bst_run_section tail[] = {
            {"appear", r->appear, sizeof(int32_t) * (size_t)r->data.ntrain}};
        rc = bst_run_ckpt_save(r->cfg.ckpt_path, head, 6, r->batcher, &r->csv,
                               tail, 1, msg, cap);
    }
    free(params);
    free(bns);
    return rc;
}

/* Restores the run from the opened checkpoint (bst_run_ckpt_load). */
static int restore(void *self, const bst_ckpt_reader *rd, char *msg, size_t cap)
{
    run *r = self;
    bst_encoder *e = &r->model.enc;
    size_t np = bst_encoder_param_count(e),
           nb = bst_run_bn_floats(e->bns, e->nbns);
    const char *path = r->ckpt_in;
    float *params = NULL, *bns = NULL;
    int rc;
    char want[2048];
    config_text(r, want, sizeof want);
    const void *data = NULL;
    size_t len = 0;
    if ((rc = bst_ckpt_get(rd, "config", &data, &len, msg, cap)))
        goto done;
    size_t vlen = strlen(CONFIG_VERSION);
    if (len < vlen || memcmp(data, CONFIG_VERSION, vlen) != 0) {
        const char *text = data;
        size_t line = 0;
        while (line < len && line < 32 && text[line] >= ' ' &&
               text[line] <= '~')
            line++;
        rc = bst_fail(msg, cap, BST_ERR_FORMAT,
                      "%s: checkpoint format '%.*s' is not '%.*s' (written "
                      "before the trainer ran on the core batcher): it "
                      "cannot be resumed; remove it and start again",
                      path, (int)line, text, (int)vlen - 1, CONFIG_VERSION);
        goto done;
    }
    if ((rc = bst_run_check_config(path, data, len, want, msg, cap)))
        goto done;
    bst_run_position pos;
    params = malloc(sizeof(float) * np);
    bns = malloc(sizeof(float) * (nb ? nb : 1));
    if (!params || !bns) {
        rc = bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc =
             bst_ckpt_read_exact(rd, "position", &pos, sizeof pos, msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "params", params, np * sizeof(float), msg,
                                  cap)) ||
        (rc = bst_ckpt_read_exact(rd, "bn", bns, nb * sizeof(float), msg,
                                  cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_m", r->model.opt.m,
                                  np * sizeof(float), msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "adam_v", r->model.opt.v,
                                  np * sizeof(float), msg, cap)) ||
        (rc = bst_ckpt_read_exact(rd, "appear", r->appear,
                                  sizeof(int32_t) * (size_t)r->data.ntrain, msg,
                                  cap)))
        goto done;
    if ((rc = bst_run_check_position(&pos, r->cfg.epochs, 0, path, msg, cap)) ||
        (rc = bst_run_restore_tail(rd, r->batcher, &r->csv, pos.epoch, r->spe,
                                   path, msg, cap)))
        goto done;
    bst_run_flat_params(e->params, e->nparams, params, 0);
    bst_run_flat_bn(e->bns, e->nbns, bns, 0);
    r->resumed = crc32(crc32(0L, (const Bytef *)&pos, sizeof pos),
                       (const Bytef *)params, (uInt)(np * sizeof(float)));
    r->model.opt.t = pos.adam_t;
    r->model.step = pos.step;
    r->epoch = pos.epoch;
    r->graph = pos.graph;
done:
    free(params);
    free(bns);
    return rc;
}

static const char LOG_HEADER[] =
    "epoch,steps,loss,lr,knn_top1,mean_sim,hard_sim,fn_rate,coverage,"
    "sampler_s,step_s,total_s,appear_cv,unseen\n";

/* The outputs are usable before any work is done (not at the end of the
   first epoch): each one can be written, and they are distinct files. */
static int check_paths(const bst_run_cfg *c, char *msg, size_t cap)
{
    return bst_run_check_outputs(c->log_path, c->ckpt_path, c->resume, msg,
                                 cap);
}

int bst_run_cfg_check(const bst_run_cfg *c, char *msg, size_t cap)
{
    if (c->epochs < 1 || c->train_n < 0 || c->test_n < 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "epochs must be >= 1 and image counts >= 0");
    if (!(c->lr > 0) || !(c->min_lr >= 0) || c->min_lr > c->lr)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "learning rates: expected 0 <= min_lr <= lr, lr > 0");
    if (c->knn_k < 1 || !(c->knn_t > 0) || c->eval_every < 0 ||
        c->ckpt_every < 1 || c->stop_after < 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "kNN k >= 1, T > 0, eval/checkpoint periods >= 0 / 1");
    if (c->resume && !c->ckpt_path)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "resume needs a checkpoint path");
    if (c->model.loss.kind != BST_LOSS_INFONCE &&
        !(c->model.loss.tau_plus >= 0 && c->model.loss.tau_plus < 1))
        return bst_fail(msg, cap, BST_ERR_INVAL, "tau_plus must be in [0, 1)");
    if (!bst_store_views_name(c->store_views))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "store views %d: expected mean or concat",
                        (int)c->store_views);
    return BST_OK;
}

static int run_init(run *r, const bst_run_cfg *cfg, bst_run_result *res,
                    char *msg, size_t cap)
{
    int rc;
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->res = res;
    if ((rc = bst_run_cfg_check(cfg, msg, cap)) ||
        (rc = check_paths(cfg, msg, cap)) ||
        (rc = bst_fmnist_load(cfg->data_dir, cfg->train_n, cfg->test_n,
                              &r->data, msg, cap)))
        return rc;
    r->world = cfg->dist ? cfg->dist->world : 1;
    r->rank = cfg->dist ? cfg->dist->rank : 0;
    int64_t B = cfg->model.batch, n = r->data.ntrain, G = r->world * B;
    if (B < 2 || G > n)
        return r->world == 1
                   ? bst_fail(msg, cap, BST_ERR_INVAL,
                              "batch size %lld: expected 2 <= B <= %lld "
                              "images",
                              (long long)B, (long long)n)
                   : bst_fail(msg, cap, BST_ERR_INVAL,
                              "batch size %lld x %d processes: expected 2 <= "
                              "B and a global batch <= %lld images",
                              (long long)B, r->world, (long long)n);
    if ((rc = bst_simclr_init(&r->model, &cfg->model)))
        return bst_fail(msg, cap, rc, "bad model configuration");
    if (cfg->dist && (rc = bst_simclr_set_dist(&r->model, cfg->dist)))
        return bst_fail(msg, cap, rc, "bad data-parallel configuration");
    bs_error err = {0};
    bs_batcher_params bp = cfg->batcher;
    bp.sampler.rank = r->rank;
    bp.sampler.world = r->world;
    int SD = bst_store_dim(cfg->store_views, cfg->model.enc.out_dim);
    if (r->world > 1 && bp.refresh_lag == 0) {
        /* each process builds 1/W of every rebuild's rows; a background
           rebuild (lag > 0) would call the collectives off the main thread,
           so it stays whole on every process */
        r->split = (bst_split_builder){r->rank, r->world, cfg->dist->allgather,
                                       cfg->dist->ctx, 0};
        bp.build = bst_split_build;
        bp.build_ctx = &r->split;
    }
    bs_status st =
        bst_batcher_create(&bp, B, SD, cfg->model.seed, n, &r->batcher, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    r->spe = bs_batcher_epoch_length(r->batcher); /* the same for every kind */
    r->total_steps = r->spe * cfg->epochs;
    r->warmup_steps = cfg->lr_warmup_steps < 0 ? r->spe : cfg->lr_warmup_steps;
    int F = bst_encoder_feat_dim(&cfg->model.enc);
    if ((rc = bst_run_batches_init(&r->bat, G, n, msg, cap)))
        return rc;
    r->lids = r->world > 1 ? malloc(sizeof(int64_t) * (size_t)B) : r->bat.ids;
    r->mean_z = malloc(sizeof(float) * (size_t)G * SD);
    r->appear = calloc((size_t)n, sizeof(int32_t));
    r->ftrain = malloc(sizeof(float) * (size_t)n * F);
    r->ftest = malloc(sizeof(float) * (size_t)r->data.ntest * F);
    if (!r->lids || !r->mean_z || !r->appear || !r->ftrain || !r->ftest)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    r->ckpt_in = cfg->ckpt_path; /* every process reads it to resume */
    if (r->rank != 0) {          /* rank 0 writes the outputs */
        r->cfg.log_path = NULL;
        r->cfg.ckpt_path = NULL;
    }
    return bst_csv_append(&r->csv, "%s", LOG_HEADER);
}

static void run_free(run *r)
{
    bst_fmnist_free(&r->data);
    bst_simclr_free(&r->model);
    bs_batcher_free(r->batcher);
    if (r->lids != r->bat.ids)
        free(r->lids);
    bst_run_batches_free(&r->bat);
    free(r->mean_z);
    free(r->appear);
    free(r->ftrain);
    free(r->ftest);
    bst_csv_free(&r->csv);
    memset(r, 0, sizeof *r);
}

/* Weighted kNN top-1 of the test split against the training split. */
static int evaluate_knn(run *r, double *top1, char *msg, size_t cap)
{
    int F = bst_encoder_feat_dim(&r->cfg.model.enc), rc;
    if ((rc = bst_simclr_features(&r->model, r->data.train, r->data.ntrain,
                                  r->ftrain)) ||
        (rc = bst_simclr_features(&r->model, r->data.test, r->data.ntest,
                                  r->ftest)))
        return bst_fail(msg, cap, rc, "feature extraction failed");
    r->feats_fresh = 1;
    return bst_run_knn(&r->cfg, &r->data, r->ftrain, r->ftest, F, top1, msg,
                       cap);
}

/* The next global batch into r->bat.ids, marked seen: the batcher's next
   batch, or under W processes every process's slice of it. */
static int next_batch(run *r, char *msg, size_t cap)
{
    if (r->world == 1)
        return bst_run_batch_next(&r->bat, r->batcher, r->epoch, msg, cap);
    bs_error err = {0};
    int64_t ep = 0, B = r->cfg.model.batch;
    bs_status st = bs_batcher_next(r->batcher, r->lids, &ep, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    r->cfg.dist->allgather(r->cfg.dist->ctx, r->lids, r->bat.ids,
                           (size_t)B * sizeof(int64_t));
    if (ep != r->epoch)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "batcher: batch of epoch %lld in epoch %lld",
                        (long long)ep, (long long)r->epoch);
    for (int64_t i = 0; i < r->bat.B; i++) {
        r->bat.nseen += !r->bat.seen[r->bat.ids[i]];
        r->bat.seen[r->bat.ids[i]] = 1;
    }
    return BST_OK;
}

/* One training step on the next batch: the store gets the two views'
   projections (their mean or side by side) of the global batch, so every
   process's store stays the same; the diagnostics look at view 0. */
static int train_step(run *r, bst_epoch_log *row, char *msg, size_t cap)
{
    int64_t G = r->bat.B;
    int D = r->cfg.model.enc.out_dim, rc = next_batch(r, msg, cap);
    if (rc)
        return rc;
    for (int64_t i = 0; i < G; i++)
        r->appear[r->bat.ids[i]]++;
    double lr = bst_lr_at(r->model.step, (long)r->warmup_steps,
                          (long)r->total_steps, r->cfg.lr, r->cfg.min_lr);
    double loss = 0;
    if ((rc = bst_simclr_step(&r->model, r->data.train, r->data.ntrain, r->lids,
                              lr, &loss)))
        return bst_fail(msg, cap, rc,
                        "training step %ld failed (%s): try a lower learning "
                        "rate",
                        r->model.step,
                        rc == BST_ERR_NOMEM ? "out of memory"
                                            : "non-finite loss");
    const float *z1 = r->model.z, *z2 = z1 + (size_t)G * D;
    bst_store_rows(r->cfg.store_views, z1, z2, G, D, r->mean_z);
    row->lr = lr;
    return bst_run_batch_done(&r->bat, r->batcher, r->mean_z, z1, D,
                              r->data.ylong, loss, msg, cap);
}

static int run_epoch(void *self, char *msg, size_t cap)
{
    run *r = self;
    bst_epoch_log *row = &r->res->last;
    r->feats_fresh = 0;
    const bst_run_cfg *c = &r->cfg;
    double t0 = bst_now(), sampler0 = bst_batcher_seconds(r->batcher);
    int rc;
    memset(row, 0, sizeof *row);
    row->epoch = r->epoch;
    bst_run_batches_epoch(&r->bat);
    for (int64_t s = 0; s < r->spe; s++) {
        if ((rc = train_step(r, row, msg, cap)))
            return rc;
        row->steps = r->model.step;
        if (c->progress &&
            c->progress(c->progress_ctx, r->model.step, r->total_steps, NULL))
            return bst_fail(msg, cap, BST_ERR_INVAL, "stopped by the caller");
    }
    double t1 = bst_now();
    bst_run_epoch_stats(row, &r->bat, r->appear);
    row->sampler_s = bst_batcher_seconds(r->batcher) - sampler0;
    row->step_s = (t1 - t0) - row->sampler_s;
    if (r->rank == 0 && bst_run_eval_due(r->epoch, c->epochs, c->eval_every)) {
        if ((rc = evaluate_knn(r, &row->knn_top1, msg, cap)))
            return rc;
        r->res->eval_s += bst_now() - t1;
    }
    row->total_s = bst_now() - t0;
    /* the batch averages of the result cover the epochs after the warm-up,
       for every sampler (uniform too), so that they compare */
    bst_run_graph_add(&r->graph, r->epoch, c->batcher.warmup_epochs,
                      row->mean_sim, row->hard_sim, row->fn_rate);
    return bst_csv_append(&r->csv,
                          "%lld,%lld,%.6f,%.6g,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,"
                          "%.3f,%.3f,%.4f,%.4f\n",
                          (long long)row->epoch, (long long)row->steps,
                          row->loss, row->lr, row->knn_top1, row->mean_sim,
                          row->hard_sim, row->fn_rate, row->coverage,
                          row->sampler_s, row->step_s, row->total_s,
                          row->appear_cv, row->unseen);
}

static int report(void *self)
{
    run *r = self;
    const bst_run_cfg *c = &r->cfg;
    return c->progress && c->progress(c->progress_ctx, r->model.step,
                                      r->total_steps, &r->res->last);
}

/* Under W processes every one has read the checkpoint (its batcher state
   is any rank's: bs_batcher_load_state); they must have read the same one,
   or their models would part silently: a file system that is not shared,
   or a checkpoint replaced between two reads.  A CRC of the position and
   the parameters is compared across the processes (all of them fail). */
static int same_checkpoint(run *r, char *msg, size_t cap)
{
    if (r->world < 2)
        return BST_OK;
    uint64_t *all = malloc(sizeof(uint64_t) * (size_t)r->world);
    if (!all)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    r->cfg.dist->allgather(r->cfg.dist->ctx, &r->resumed, all,
                           sizeof r->resumed);
    int other = -1;
    for (int i = 1; i < r->world && other < 0; i++)
        if (all[i] != all[0])
            other = i;
    free(all);
    if (other >= 0)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "%s: process %d resumed from another checkpoint than "
                        "process 0 (its position or parameters differ): "
                        "every process must read the same file (a shared "
                        "file system)",
                        r->ckpt_in, other);
    return BST_OK;
}

int bst_simclr_run(const bst_run_cfg *cfg, bst_run_result *res, char *msg,
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
    /* the outputs: rank 0's only (r.cfg); every process resumes */
    bst_epoch_loop l =
        BST_EPOCH_LOOP(&r.cfg, &r.csv, &r, run_epoch, ckpt_save, report);
    if (!rc && cfg->resume &&
        !(rc = bst_run_ckpt_load(r.ckpt_in, restore, &r, msg, cap)))
        rc = same_checkpoint(&r, msg, cap);
    int64_t builds0 = r.batcher ? bs_batcher_builds(r.batcher) : 0;
    if (!rc)
        rc = bst_run_epochs(&l, &r.epoch, &res->epochs_run, msg, cap);
    res->last.steps = r.model.step;
    if (!rc && r.epoch == cfg->epochs) {
        res->knn_top1 = res->last.knn_top1;
        bst_run_graph_means(&r.graph, &res->mean_sim, &res->hard_sim,
                            &res->fn_rate);
        if (cfg->probe && !r.feats_fresh && r.rank == 0) /* resumed after
                                                            the last epoch */
            rc = evaluate_knn(&r, &res->knn_top1, msg, cap);
        if (!rc && cfg->probe && r.rank == 0)
            rc = bst_run_probe(&r.data, r.ftrain, r.ftest,
                               bst_encoder_feat_dim(&cfg->model.enc), res, msg,
                               cap);
    }
    if (r.appear)
        bst_appearance_stats(r.appear, r.data.ntrain, &res->appear);
    res->sampler_s = bst_batcher_seconds(r.batcher);
    res->graph_builds = r.batcher ? bs_batcher_builds(r.batcher) - builds0 : 0;
    bst_batcher_graph_use(r.batcher, &res->graph_use);
    res->graph_rows = r.split.rows;
    res->total_s = bst_now() - t0;
    res->step_s = res->total_s - res->sampler_s - res->eval_s;
    run_free(&r);
    return rc;
}
