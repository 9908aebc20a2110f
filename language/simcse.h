/*
 * simcse.h — unsupervised SimCSE (Gao et al. 2021) on the engine's
 * transformer encoder (train/transformer.h): the model, pre-tokenised
 * sentences, one training step and eval-mode sentence embeddings
 * (bs_language; docs/language.md).
 *
 * Model.  bst_tf encoder over the vocabulary of tokenize.h (ids 3 ..
 * 3 + n_glove - 1 are the GloVe words): the token table is E = GloVe's
 * width (50) wide, its GloVe rows are the GloVe vectors, the others are
 * drawn N(0, s^2) with s the standard deviation of the GloVe entries (so
 * that every row starts at the same scale); a Linear(E, C) projection,
 * learned positions, L pre-LN blocks, final LN, masked-mean pooling, and
 * during training only SimCSE's head Linear(C, C) + tanh.
 *
 * Step.  The batch's B sentences (pre-tokenised ids, padded to the
 * batch's longest sequence T <= 33) go twice through the encoder in train
 * mode; view v of step s draws its dropout masks from key (seed, 2 s + v),
 * so the two views differ only by their masks.  The head outputs are L2
 * normalised (z1, z2) and the loss at temperature tau is
 *   infonce  SimCSE's: mean_i CE(softmax_j(cos(z1_i, z2_j) / tau), i),
 *            the B x B matrix, anchors from view 1, in-batch negatives
 *            from view 2 (run.py's cl_forward, computed in double);
 *   dcl/hcl  the engine's bst_contrastive_loss (train/loss.c: the 2B x 2B
 *            matrix of both views, Chuang et al. / Robinson et al.
 *            estimators with tau_plus, beta).
 * Backward through both passes (the parameter gradients add up), one
 * AdamW step at the caller's learning rate.
 *
 * Sentence embedding for evaluation: the pooled encoder output (eval mode,
 * no dropout), without the head (SimCSE's cls_before_pooler for unsup).
 *
 * Ownership: the model owns everything it allocates.  Thread safety: one
 * model per thread; results are bitwise identical for any thread count.
 * Errors: BST_OK or BST_ERR_* with a one-line message.  No global state.
 */
#ifndef BS_LANGUAGE_SIMCSE_H
#define BS_LANGUAGE_SIMCSE_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "sts_eval.h"
#include "text.h"
#include "tokenize.h"
#include "transformer.h"

/* Sentences as ids: row i of ids (n, BSL_MAX_SEQ + 1) is [CLS] + the
   sentence's ids + [PAD]s, len[i] the count before the padding. */
typedef struct {
    int64_t n;
    int width; /* ids per row: BSL_MAX_SEQ + 1 */
    int32_t *ids;
    int *len;
} bsl_seqs;

/* Tokenises every sentence of c with v (cut at BSL_MAX_SEQ + 1 ids). */
int bsl_seqs_build(const bsl_vocab *v, const bst_corpus *c, bsl_seqs *out,
                   char *msg, size_t cap);
void bsl_seqs_free(bsl_seqs *s);

typedef struct {
    int dim, heads, layers, mlp; /* 128, 4, 2, 512 */
    float dropout;               /* 0.1 */
    int pool;                    /* BST_TF_POOL_MEAN */
    bst_loss_cfg loss;           /* infonce, tau 0.05, tau_plus 0.1, beta 1 */
    int batch;                   /* B = 64 */
    double weight_decay;         /* 0 (SimCSE: HF Trainer default) */
    uint64_t seed;               /* init and dropout */
    int64_t max_extra;           /* corpus tokens beyond GloVe: 10000 */
    int64_t min_count;           /* 2 */
    float tok_drop; /* 0.5: token deletion per view (bsl_token_drop) */
    float glove_lr; /* 1: scale of the GloVe rows' lr (0 freezes them) */
    double sif;     /* 0.01: SIF pooling weights of parameter a
                       (bsl_simcse_set_sif); 0: plain mean */
    double distill; /* 300: weight of the distillation term
                       (bsl_distill_loss) towards the teacher; 0: off */
    int teacher;    /* BSL_TEACHER_GLOVE (default): the pooling-weighted
                       average of the sentence's GloVe vectors;
                       BSL_TEACHER_ENCODER: the untrained encoder */
} bsl_simcse_cfg;

enum { BSL_TEACHER_ENCODER = 0, BSL_TEACHER_GLOVE = 1 };

typedef struct {
    bsl_simcse_cfg cfg;
    bsl_vocab vocab;
    bst_tf enc;
    bst_adamw opt;
    bst_tf_acts act[2];            /* the two views, B x (BSL_MAX_SEQ + 1) */
    bst_tf_acts eact;              /* evaluation, one sentence */
    float *zn[2], *dzn[2], *dz[2]; /* (B, C) */
    int32_t *ids;                  /* (B, width) the batch's ids */
    int *len;
    int32_t *vids; /* (B, width) a view's ids (tok_drop) */
    int *vlen;
    float *tok_save; /* GloVe rows before a step (glove_lr) */
    bst_tf teach;    /* distill, teacher encoder: a frozen copy of the
                        initial encoder */
    bst_tf_acts tact;
    float *tglove; /* distill, teacher glove: (n_glove, edim) the GloVe
                      rows as loaded */
    float *tn;     /* distill: (B, max(C, edim)) the teacher's unit rows */
    float *un, *du, *dp; /* distill: (B, C) buffers */
    long step;
} bsl_simcse;

void bsl_simcse_cfg_default(bsl_simcse_cfg *c);
const char *bsl_loss_name(bst_loss_kind k);          /* NULL if bad */
int bsl_loss_parse(const char *s, bst_loss_kind *k); /* 0, or -1 */

/* Builds the vocabulary from g and c (c may be NULL: GloVe words only;
   the same g and c give the same vocabulary), the encoder with GloVe rows,
   the optimiser.  BST_ERR_INVAL / BST_ERR_NOMEM. */
int bsl_simcse_init(bsl_simcse *m, const bsl_simcse_cfg *cfg,
                    const bst_glove *g, const bst_corpus *c, char *msg,
                    size_t cap);
/* The same over a given vocabulary (moved into the model: *vocab is
   zeroed, also on error) and token-table width edim; no GloVe rows (the
   caller loads the parameters: a checkpoint). */
int bsl_simcse_init_vocab(bsl_simcse *m, const bsl_simcse_cfg *cfg,
                          bsl_vocab *vocab, int edim, char *msg, size_t cap);
void bsl_simcse_free(bsl_simcse *m); /* safe on a zeroed struct */

/* The vocabulary's words (ids 0 .. size-1), each NUL-terminated, in one
   malloc'ed buffer, and back (n_glove as the packed vocabulary had it).
   unpack: BST_ERR_FORMAT for a bad list (not NUL-terminated, too few
   words, duplicates). */
int bsl_vocab_pack(const bsl_vocab *v, char **buf, size_t *len);
int bsl_vocab_unpack(const char *buf, size_t len, int64_t n_glove, bsl_vocab *v,
                     char *msg, size_t cap);

/* Token deletion (a harder view than dropout alone): row b of ids (B, T)
   holds len[b] ids, [CLS] first; out (B, T) / olen get the row with
   [CLS] kept and every other id deleted with probability p (the rest
   shift left, [PAD] after them), drawn from stream (seed,
   BST_STREAM_AUGMENT, key << 32 | sid[b]): key = 2 step + view in a step,
   sid[b] the sentence's id.  A row that would lose every word keeps its
   first one.  p == 0 copies. */
void bsl_token_drop(const int32_t *ids, const int *len, int B, int T, float p,
                    uint64_t seed, uint64_t key, const int64_t *sid,
                    int32_t *out, int *olen);

/* SIF pooling (Arora et al. 2017's weights, without the common-component
   removal): token id w gets the mean-pooling weight a / (a + p(w)), p(w)
   its share of all token occurrences of s (positions < len, [CLS]
   counted like any token, once a sentence); ids that never occur get 1.
   a = m->cfg.sif (> 0).  The same s gives the same weights.  BST_OK,
   BST_ERR_INVAL (a <= 0, no tokens) or BST_ERR_NOMEM. */
int bsl_simcse_set_sif(bsl_simcse *m, const bsl_seqs *s, char *msg, size_t cap);

/* Distillation term (a regulariser towards a teacher's geometry): u (B, d)
   and t (B, dt) unit (or zero) rows (the student's and the teacher's
   sentence embeddings; the widths may differ); loss = mean over the
   B (B - 1) ordered pairs i != j of (u_i . u_j - t_i . t_j)^2 and, if du
   is non-NULL, its gradient (B, d) with respect to u.  BST_OK or
   BST_ERR_INVAL (B < 2, d or dt < 1, a NULL pointer). */
int bsl_distill_loss(const float *u, int d, const float *t, int dt, int B,
                     double *loss, float *du);

/* One step on rows ids[0..B) of s at learning rate lr; *loss the batch's
   loss.  With cfg.tok_drop > 0 each view first deletes tokens
   (bsl_token_drop, key 2 step + view); with cfg.glove_lr != 1 the GloVe
   rows of the token table move by glove_lr times AdamW's update (0: they
   stay bitwise the same).  With cfg.distill = w > 0 the loss adds
   w * bsl_distill_loss of each view's normalised pooled output (train
   mode) against the teacher's embedding of the full sentences: with
   cfg.teacher BSL_TEACHER_ENCODER the eval-mode pooled output of the
   frozen copy of the initial encoder (m->teach, made by bsl_simcse_init),
   with BSL_TEACHER_GLOVE the average of the sentence's GloVe vectors (as
   loaded, m->tglove) weighted by the pooling weights (SIF, or 1 each;
   tokens without a GloVe vector skipped, none: the zero vector).  After it, m->act[0].pooled holds view 1's
   sentence embeddings (B, C) (train mode) and m->zn[0], m->zn[1] the
   normalised head outputs. */
int bsl_simcse_step(bsl_simcse *m, const bsl_seqs *s, const int64_t *ids,
                    double lr, double *loss, char *msg, size_t cap);

/* The loss (and its gradients dz1, dz2 if non-NULL) of normalised z1, z2
   (B, d) under cfg: SimCSE's B x B cross-entropy for infonce, the
   engine's bst_contrastive_loss for dcl and hcl. */
int bsl_simcse_loss(const bst_loss_cfg *cfg, const float *z1, const float *z2,
                    int B, int d, double *loss, float *dz1, float *dz2);

/* Eval-mode embeddings (dim C, no head) of rows [0, n) of s, in batches of
   cfg.batch, into out (n, C). */
int bsl_simcse_embed_seqs(bsl_simcse *m, const bsl_seqs *s, float *out,
                          char *msg, size_t cap);

/* The STS encoder callback (ctx a bsl_simcse *): tokenises the sentence
   with the model's vocabulary, eval-mode pooled output. */
int bsl_simcse_embed(void *ctx, const char *sentence, float *out, char *msg,
                     size_t cap);
bsl_encoder bsl_simcse_encoder(bsl_simcse *m);

/* Flat parameter count and copies between the encoder's parameters and
   one flat array (checkpoints). */
size_t bsl_simcse_param_count(const bsl_simcse *m);
void bsl_simcse_params_flat(bsl_simcse *m, float *flat, int to_flat);

#endif /* BS_LANGUAGE_SIMCSE_H */
