/* run.c — the trainers' shared run skeleton (run.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run.h"
#include "toolkit.h"

/* ------------------------------------------------------------- CSV log */

int bst_csv_append(bst_csv_log *log, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof line)
        return BST_ERR_INVAL;
    if (log->len + (size_t)len + 1 > log->cap) {
        size_t cap = 2 * log->cap + (size_t)len + 1024;
        char *p = realloc(log->text, cap);
        if (!p)
            return BST_ERR_NOMEM;
        log->text = p, log->cap = cap;
    }
    memcpy(log->text + log->len, line, (size_t)len + 1);
    log->len += (size_t)len;
    return BST_OK;
}

int bst_csv_write(const bst_csv_log *log, const char *path, char *msg,
                  size_t cap)
{
    if (!path)
        return BST_OK;
    bs_error err = {0};
    bs_status st = bs__write_file(path, log->text, log->len, &err);
    return st == BS_OK ? BST_OK : bst_core_fail(st, &err, msg, cap);
}

int bst_csv_restore(bst_csv_log *log, const void *text, size_t len, char *msg,
                    size_t cap)
{
    char *p = realloc(log->text, len + 1);
    if (!p)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory");
    memcpy(p, text, len);
    p[len] = 0;
    log->text = p, log->len = len, log->cap = len + 1;
    return BST_OK;
}

void bst_csv_free(bst_csv_log *log)
{
    free(log->text);
    memset(log, 0, sizeof *log);
}

/* ------------------------------------------------------------- outputs */

int bst_run_check_outputs(const char *log_path, const char *ckpt_path,
                          int resume, char *msg, size_t cap)
{
    bs_error err = {0};
    bs_status st;
    int exists;
    if (log_path && (st = bs__output_check(log_path, &err)) != BS_OK)
        return bst_core_fail(st, &err, msg, cap);
    if (ckpt_path && (st = bs__output_check(ckpt_path, &err)) != BS_OK)
        return bst_core_fail(st, &err, msg, cap);
    if (log_path && ckpt_path && bs__same_file(log_path, ckpt_path))
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "the log %s and the checkpoint %s are the same file: "
                        "expected two different files",
                        log_path, ckpt_path);
    if (resume && ckpt_path)
        return bst_run_ckpt_exists(ckpt_path, &exists, msg, cap);
    return BST_OK;
}

/* ---------------------------------------------------------- checkpoints */

int bst_run_ckpt_exists(const char *path, int *exists, char *msg, size_t cap)
{
    struct stat sb;
    *exists = 0;
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? BST_OK
                               : bst_fail(msg, cap, BST_ERR_IO,
                                          "cannot resume from checkpoint %s: "
                                          "%s",
                                          path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return bst_fail(msg, cap, BST_ERR_IO,
                        "cannot resume from checkpoint %s: not a regular file",
                        path);
    *exists = 1;
    return BST_OK;
}

/* Names the first setting where saved and now differ: "KEY SAVED (now
   CURRENT)".  The texts are "key value [value ...]" words; a differing
   word's key is the last word before it that starts with a letter.  When
   one text has a setting more (a line only some runs write, such as a
   data-parallel run's "world W"): "KEY VALUE (not set now)" or "(not in
   the checkpoint)". */
static void config_diff(const char *saved, size_t len, const char *now,
                        char *out, size_t cap)
{
    char a[2048], b[2048], *sa, *sb;
    snprintf(a, sizeof a, "%.*s", (int)(len < sizeof a ? len : sizeof a - 1),
             saved);
    snprintf(b, sizeof b, "%s", now);
    const char *key = "?";
    char *wa = strtok_r(a, " \n", &sa), *wb = strtok_r(b, " \n", &sb);
    while (wa && wb && strcmp(wa, wb) == 0) {
        if ((*wa >= 'a' && *wa <= 'z') || (*wa >= 'A' && *wa <= 'Z'))
            key = wa;
        wa = strtok_r(NULL, " \n", &sa);
        wb = strtok_r(NULL, " \n", &sb);
    }
    if (wa && wb)
        snprintf(out, cap, "%s %s (now %s)", key, wa, wb);
    else if (wa || wb) { /* one side has a setting more: name it */
        const char *v = strtok_r(NULL, " \n", wa ? &sa : &sb);
        snprintf(out, cap, "%s %s %s", wa ? wa : wb, v ? v : "",
                 wa ? "(not set now)" : "(not in the checkpoint)");
    } else
        snprintf(out, cap, "?");
}

int bst_run_check_config(const char *path, const void *saved, size_t len,
                         const char *want, char *msg, size_t cap)
{
    if (len == strlen(want) && memcmp(saved, want, len) == 0)
        return BST_OK;
    char what[160];
    config_diff(saved, len, want, what, sizeof what);
    return bst_fail(msg, cap, BST_ERR_FORMAT,
                    "%s: saved with other settings (setting %s); resume "
                    "with the same options or remove the checkpoint",
                    path, what);
}

int bst_run_restore_batcher(const bst_ckpt_reader *rd, bs_batcher *b,
                            const char *path, char *msg, size_t cap)
{
    const void *blob;
    size_t len;
    int rc = bst_ckpt_get(rd, "batcher", &blob, &len, msg, cap);
    if (rc)
        return rc;
    bs_error err = {0};
    bs_status st = bs_batcher_load_state(b, blob, len, &err);
    if (st == BS_OK)
        return BST_OK;
    /* a bad blob or other batcher settings: name the file */
    return st == BS_ERR_NOMEM
               ? bst_core_fail(st, &err, msg, cap)
               : bst_fail(msg, cap, BST_ERR_FORMAT, "%s: %s", path, err.msg);
}

int bst_run_restore_tail(const bst_ckpt_reader *rd, bs_batcher *b,
                         bst_csv_log *log, int64_t epoch, int64_t spe,
                         const char *path, char *msg, size_t cap)
{
    const void *text;
    size_t len;
    int rc;
    if ((rc = bst_ckpt_get(rd, "log", &text, &len, msg, cap)) ||
        (rc = bst_run_restore_batcher(rd, b, path, msg, cap)))
        return rc;
    if (bs_batcher_position(b) != epoch * spe)
        return bst_fail(msg, cap, BST_ERR_FORMAT,
                        "%s: the batcher is at batch %lld, expected the start "
                        "of epoch %lld",
                        path, (long long)bs_batcher_position(b),
                        (long long)epoch);
    return bst_csv_restore(log, text, len, msg, cap);
}

void bst_run_graph_add(bst_run_graph *g, int64_t epoch, int64_t warmup,
                       double mean_sim, double hard_sim, double fn_rate)
{
    if (epoch < warmup)
        return;
    g->sim += mean_sim;
    g->hard += hard_sim;
    g->fn += fn_rate;
    g->epochs++;
}

void bst_run_graph_means(const bst_run_graph *g, double *mean_sim,
                         double *hard_sim, double *fn_rate)
{
    if (!g->epochs)
        return;
    *mean_sim = g->sim / (double)g->epochs;
    *hard_sim = g->hard / (double)g->epochs;
    *fn_rate = g->fn / (double)g->epochs;
}

int bst_run_check_position(const bst_run_position *pos, int64_t epochs,
                           int64_t spe, const char *path, char *msg, size_t cap)
{
    if (pos->epoch < 0 || pos->epoch > epochs || pos->step < 0 ||
        pos->adam_t != pos->step || pos->graph.epochs < 0 ||
        (spe > 0 && pos->step != pos->epoch * spe))
        return bst_fail(msg, cap, BST_ERR_FORMAT, "%s: inconsistent position",
                        path);
    return BST_OK;
}

int bst_run_ckpt_save(const char *path, const bst_run_section *head, int nhead,
                      bs_batcher *batcher, const bst_csv_log *log,
                      const bst_run_section *tail, int ntail, char *msg,
                      size_t cap)
{
    void *blob = NULL;
    size_t blob_len = 0;
    bs_error err = {0};
    bst_ckpt_writer *w = NULL;
    int rc = BST_OK;
    bs_status st = bs_batcher_save_state(batcher, -1, &blob, &blob_len, &err);
    if (st)
        rc = bst_core_fail(st, &err, msg, cap);
    else if ((rc = bst_ckpt_writer_new(&w)))
        rc = bst_fail(msg, cap, rc, "out of memory for a checkpoint");
    if (!rc) {
        /* referenced, not copied: everything stays alive until the commit;
           a failed add makes the commit fail with its message */
        for (int i = 0; i < nhead; i++)
            bst_ckpt_add_ref(w, head[i].name, head[i].data, head[i].len);
        bst_ckpt_add_ref(w, "batcher", blob, blob_len);
        bst_ckpt_add_ref(w, "log", log->text, log->len);
        for (int i = 0; i < ntail; i++)
            bst_ckpt_add_ref(w, tail[i].name, tail[i].data, tail[i].len);
        rc = bst_ckpt_commit(w, path, msg, cap);
    }
    bst_ckpt_writer_free(w);
    free(blob);
    return rc;
}

int bst_run_ckpt_load(const char *path, bst_run_restore_fn restore, void *self,
                      char *msg, size_t cap)
{
    int exists, rc = bst_run_ckpt_exists(path, &exists, msg, cap);
    if (rc || !exists)
        return rc; /* an error, or nothing to resume: a fresh start */
    bst_ckpt_reader *rd = NULL;
    if ((rc = bst_ckpt_open(path, &rd, msg, cap)))
        return rc;
    rc = restore(self, rd, msg, cap);
    bst_ckpt_close(rd);
    return rc;
}

void bst_run_flat_params(bst_param *ps, int n, float *flat, int to_flat)
{
    size_t off = 0;
    for (int i = 0; i < n; off += ps[i].n, i++)
        memcpy(to_flat ? flat + off : ps[i].w, to_flat ? ps[i].w : flat + off,
               ps[i].n * sizeof(float));
}

size_t bst_run_bn_floats(bst_batchnorm *const *bns, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += 2 * (size_t)bns[i]->C;
    return t;
}

void bst_run_flat_bn(bst_batchnorm *const *bns, int n, float *flat, int to_flat)
{
    for (int i = 0; i < n; i++) {
        size_t C = (size_t)bns[i]->C;
        float *stat[2] = {bns[i]->running_mean, bns[i]->running_var};
        for (int k = 0; k < 2; k++, flat += C)
            memcpy(to_flat ? flat : stat[k], to_flat ? stat[k] : flat,
                   C * sizeof(float));
    }
}

/* ------------------------------------------------------------ cadence */

int bst_run_eval_due(int64_t epoch, int64_t epochs, int64_t every)
{
    return epoch + 1 == epochs || (every > 0 && (epoch + 1) % every == 0);
}

int bst_run_epochs(const bst_epoch_loop *l, int64_t *epoch, int64_t *epochs_run,
                   char *msg, size_t cap)
{
    int rc = BST_OK;
    while (!rc && *epoch < l->epochs) {
        rc = l->epoch(l->self, msg, cap);
        ++*epoch;
        ++*epochs_run;
        if (!rc)
            rc = bst_csv_write(l->log, l->log_path, msg, cap);
        if (!rc && l->ckpt_path &&
            (*epoch % l->ckpt_every == 0 || *epoch == l->epochs))
            rc = l->save(l->self, msg, cap);
        if (!rc && l->report && l->report(l->self))
            rc = bst_fail(msg, cap, BST_ERR_INVAL, "stopped by the caller");
        if (l->stop_after && *epochs_run == l->stop_after)
            break;
    }
    return rc;
}

int bst_run_resume_epochs(const bst_epoch_loop *l, int resume,
                          bst_run_restore_fn restore, int64_t *epoch,
                          int64_t *epochs_run, char *msg, size_t cap)
{
    int rc = resume
                 ? bst_run_ckpt_load(l->ckpt_path, restore, l->self, msg, cap)
                 : BST_OK;
    return rc ? rc : bst_run_epochs(l, epoch, epochs_run, msg, cap);
}

/* ------------------------------------------------------------- batches */

int bst_run_batches_init(bst_run_batches *b, int64_t B, int64_t n, char *msg,
                         size_t cap)
{
    memset(b, 0, sizeof *b);
    b->B = B, b->n = n;
    b->ids = malloc(sizeof(int64_t) * (size_t)B);
    b->local = malloc(sizeof(int64_t) * (size_t)B);
    b->blab = malloc(sizeof(int64_t) * (size_t)B);
    b->seen = calloc((size_t)n, 1);
    if (!b->ids || !b->local || !b->blab || !b->seen)
        return bst_fail(msg, cap, BST_ERR_NOMEM, "out of memory for batches");
    for (int64_t i = 0; i < B; i++)
        b->local[i] = i;
    return BST_OK;
}

void bst_run_batches_free(bst_run_batches *b)
{
    free(b->ids);
    free(b->local);
    free(b->blab);
    free(b->seen);
    memset(b, 0, sizeof *b);
}

void bst_run_batches_means(const bst_run_batches *b, double *loss,
                           double *mean_sim, double *hard_sim, double *fn_rate,
                           double *coverage)
{
    double n = (double)b->steps;
    *loss = b->loss / n;
    *mean_sim = b->mean_sim / n;
    *hard_sim = b->hard_sim / n;
    *fn_rate = b->fn_rate / n;
    *coverage = (double)b->nseen / (double)b->n;
}

void bst_run_batches_epoch(bst_run_batches *b)
{
    memset(b->seen, 0, (size_t)b->n);
    b->nseen = b->steps = 0;
    b->loss = b->mean_sim = b->hard_sim = b->fn_rate = 0;
}

int bst_run_batch_next(bst_run_batches *b, bs_batcher *batcher, int64_t epoch,
                       char *msg, size_t cap)
{
    bs_error err = {0};
    int64_t ep = 0;
    bs_status st = bs_batcher_next(batcher, b->ids, &ep, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    if (ep != epoch)
        return bst_fail(msg, cap, BST_ERR_INVAL,
                        "batcher: batch of epoch %lld in epoch %lld",
                        (long long)ep, (long long)epoch);
    for (int64_t i = 0; i < b->B; i++)
        if (!b->seen[b->ids[i]]) {
            b->seen[b->ids[i]] = 1;
            b->nseen++;
        }
    return BST_OK;
}

int bst_run_batch_done(bst_run_batches *b, bs_batcher *batcher,
                       const float *store, const float *diag, int64_t dim,
                       const int64_t *labels, double loss, char *msg,
                       size_t cap)
{
    bs_error err = {0};
    bs_batch_stats bsx;
    bs_status st = bs_batcher_update(batcher, b->ids, b->B, store, &err);
    for (int64_t i = 0; !st && i < b->B; i++)
        b->blab[i] = labels[b->ids[i]];
    if (!st)
        st = bs_batch_stats_compute(diag, b->B, dim, b->local, b->B, b->blab,
                                    &bsx, &err);
    if (st)
        return bst_core_fail(st, &err, msg, cap);
    b->loss += loss;
    b->mean_sim += bsx.mean_sim;
    b->hard_sim += bsx.mean_max_sim;
    b->fn_rate += bsx.fn_rate;
    b->steps++;
    return BST_OK;
}
