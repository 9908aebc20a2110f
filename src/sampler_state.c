/*
 * sampler_state.c — save/restore of a sampler's state as a small blob.
 *
 * Layout (little-endian), version 2 (1 had no epoch_mode):
 *   "BSSAMPST"  magic, 8 bytes
 *   u32 version, u32 kind
 *   i64 n, i64 batch_size, i32 world, i32 rank, u64 seed
 *   f64 alpha, u32 schedule, u32 drop_last, f64 tau, i64 max_steps
 *   i64 batches_per_epoch, u32 epoch_mode, u32 0  (the parameter fingerprint)
 *   i64 epoch, i64 batch_index, u32 ended, u32 0
 *   u64 rng[4], i64 covered, i64 steps, i64 nwords
 *   nwords x u64 coverage bitmap (graph samplers; 0 words for uniform)
 *   u32 CRC-32 (zlib) of everything before it
 * Uniform keeps no bitmap: its position is `covered` (index into the
 * current permutation) and its permutation is redrawn from `rng`, which for
 * uniform is the stream as it was before the permutation was drawn.
 */
#include <string.h>

#include "bytes.h"
#include "sampler_impl.h"

#define STATE_MAGIC "BSSAMPST"
#define STATE_VERSION 2u
#define STATE_FIXED                                                            \
    (8 + 4 * 2 + 8 * 2 + 4 * 2 + 8 + 8 + 4 * 2 + 8 * 3 + 4 * 2 + 8 * 2 +       \
     4 * 2 + 8 * 4 + 8 * 3)

typedef bs__wr wr;
typedef bs__rd rd;
#define put32 bs__put32
#define put64 bs__put64
#define putf64 bs__putf64
#define get32 bs__get32
#define get64 bs__get64
#define getf64 bs__getf64

static size_t state_size(const bs_sampler *s)
{
    return STATE_FIXED + (size_t)s->nwords * 8 + 4;
}

bs_status bs_sampler_save_state(const bs_sampler *s, void *buf, size_t cap,
                                size_t *len, bs_error *err)
{
    if (!s || !len)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "sampler save_state: sampler and len must be non-NULL");
    size_t need = state_size(s);
    *len = need;
    if (!buf)
        return BS_OK;
    if (cap < need)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "sampler save_state: buffer of %zu bytes, %zu needed",
                        cap, need);
    const bs_sampler_params *p = &s->p;
    wr w = {buf};
    memcpy(w.p, STATE_MAGIC, 8);
    w.p += 8;
    put32(&w, STATE_VERSION);
    put32(&w, (uint32_t)p->kind);
    put64(&w, (uint64_t)s->n);
    put64(&w, (uint64_t)p->batch_size);
    put32(&w, (uint32_t)p->world);
    put32(&w, (uint32_t)p->rank);
    put64(&w, p->seed);
    putf64(&w, p->alpha);
    put32(&w, (uint32_t)p->schedule);
    put32(&w, (uint32_t)(p->drop_last != 0));
    putf64(&w, p->tau);
    put64(&w, (uint64_t)p->max_steps);
    put64(&w, (uint64_t)p->batches_per_epoch);
    put32(&w, (uint32_t)p->epoch_mode);
    put32(&w, 0);
    put64(&w, (uint64_t)s->epoch);
    put64(&w, (uint64_t)s->batch_index);
    put32(&w, (uint32_t)s->ended);
    put32(&w, 0);
    for (int i = 0; i < 4; i++)
        put64(&w, s->rng.s[i]);
    put64(&w, (uint64_t)s->covered);
    put64(&w, (uint64_t)s->steps);
    put64(&w, (uint64_t)s->nwords);
    for (int64_t i = 0; i < s->nwords; i++)
        put64(&w, s->bits[i]);
    put32(&w, (uint32_t)bs__crc32(0, buf, need - 4));
    bs__ok(err);
    return BS_OK;
}

/* The fingerprint as saved, to compare with the sampler's. */
typedef struct {
    uint32_t kind, schedule, drop_last, epoch_mode;
    int64_t n, b, max_steps, bpe;
    int32_t world, rank;
    uint64_t seed;
    double alpha, tau;
} fingerprint;

static void read_fingerprint(rd *r, fingerprint *f)
{
    f->kind = get32(r);
    f->n = (int64_t)get64(r);
    f->b = (int64_t)get64(r);
    f->world = (int32_t)get32(r);
    f->rank = (int32_t)get32(r);
    f->seed = get64(r);
    f->alpha = getf64(r);
    f->schedule = get32(r);
    f->drop_last = get32(r);
    f->tau = getf64(r);
    f->max_steps = (int64_t)get64(r);
    f->bpe = (int64_t)get64(r);
    f->epoch_mode = get32(r);
    (void)get32(r);
}

#define MISMATCH(name, fmt, saved, mine)                                       \
    bs__fail(err, BS_ERR_STATE,                                                \
             "sampler state: saved with " name " = " fmt                       \
             ", this sampler has " fmt,                                        \
             saved, mine)

static bs_status check_fingerprint(const bs_sampler *s, const fingerprint *f,
                                   bs_error *err)
{
    const bs_sampler_params *p = &s->p;
    if (f->kind != (uint32_t)p->kind)
        return MISMATCH("kind", "%u", f->kind, (unsigned)p->kind);
    if (f->n != s->n)
        return MISMATCH("n", "%lld", (long long)f->n, (long long)s->n);
    if (f->b != p->batch_size)
        return MISMATCH("batch_size", "%lld", (long long)f->b,
                        (long long)p->batch_size);
    /* the rank is not compared: the state is the position in the global
       batches, the same on every rank, so any rank's state resumes every
       rank of the same world (a data-parallel job keeps one rank's) */
    if (f->world != p->world)
        return bs__fail(err, BS_ERR_STATE,
                        "sampler state: saved by rank %d of a world of %d, "
                        "this sampler's world is %d",
                        f->rank, f->world, p->world);
    if (f->seed != p->seed)
        return MISMATCH("seed", "%llu", (unsigned long long)f->seed,
                        (unsigned long long)p->seed);
    if (f->alpha != p->alpha || f->schedule != (uint32_t)p->schedule)
        return bs__fail(err, BS_ERR_STATE,
                        "sampler state: saved with alpha = %g (schedule %u), "
                        "this sampler has %g (schedule %u)",
                        f->alpha, f->schedule, p->alpha, (unsigned)p->schedule);
    if (f->tau != p->tau)
        return MISMATCH("tau", "%g", f->tau, p->tau);
    if (f->max_steps != p->max_steps)
        return MISMATCH("max_steps", "%lld", (long long)f->max_steps,
                        (long long)p->max_steps);
    if (f->bpe != p->batches_per_epoch)
        return MISMATCH("batches_per_epoch", "%lld", (long long)f->bpe,
                        (long long)p->batches_per_epoch);
    if (f->epoch_mode != (uint32_t)p->epoch_mode)
        return MISMATCH("epoch_mode", "%u", f->epoch_mode,
                        (unsigned)p->epoch_mode);
    if (f->drop_last != (uint32_t)(p->drop_last != 0))
        return MISMATCH("drop_last", "%u", f->drop_last,
                        (unsigned)(p->drop_last != 0));
    return BS_OK;
}

/* Checks the envelope: size, magic, version, checksum. */
static bs_status check_envelope(const unsigned char *b, size_t len,
                                bs_error *err)
{
    if (len < STATE_FIXED + 4)
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: %zu bytes, shorter than the %d-byte "
                        "header",
                        len, STATE_FIXED + 4);
    if (memcmp(b, STATE_MAGIC, 8) != 0)
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: bad magic (expected \"%s\")",
                        STATE_MAGIC);
    rd r = {b + 8};
    uint32_t v = get32(&r);
    if (v != STATE_VERSION)
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: version %u, expected %u", v,
                        STATE_VERSION);
    rd t = {b + len - 4};
    uint32_t want = get32(&t), got = (uint32_t)bs__crc32(0, b, len - 4);
    if (want != got)
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: checksum mismatch (stored %08x, "
                        "computed %08x): corrupt or truncated",
                        want, got);
    return BS_OK;
}

/* Position fields read from a blob, validated before anything changes. */
typedef struct {
    int64_t epoch, batch_index, covered, steps, nwords;
    uint32_t ended;
    bs_rng rng;
    const unsigned char *bitmap;
} position;

static bs_status check_position(const bs_sampler *s, const position *q,
                                bs_error *err)
{
    int64_t len = bs_sampler_epoch_length(s);
    if (q->epoch < 0 || q->batch_index < 0 || q->ended > 1 || q->steps < 0 ||
        (len >= 0 && q->batch_index > len))
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: epoch %lld, batch %lld, ended %u are "
                        "inconsistent",
                        (long long)q->epoch, (long long)q->batch_index,
                        q->ended);
    if (!(q->rng.s[0] | q->rng.s[1] | q->rng.s[2] | q->rng.s[3]))
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: random state is all zero");
    if (q->covered < 0 || q->covered > s->n)
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: covered = %lld outside [0, %lld]",
                        (long long)q->covered, (long long)s->n);
    rd r = {q->bitmap};
    int64_t pop = 0;
    for (int64_t w = 0; w < s->nwords; w++) {
        uint64_t v = get64(&r);
        int64_t rest = s->n - w * 64;
        if (rest < 64 && (v >> rest))
            return bs__fail(err, BS_ERR_FORMAT,
                            "sampler state: coverage bit set past n = %lld",
                            (long long)s->n);
        pop += __builtin_popcountll(v);
    }
    if (s->nwords && pop != q->covered)
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: bitmap holds %lld instances, header "
                        "says %lld",
                        (long long)pop, (long long)q->covered);
    return BS_OK;
}

static void apply_position(bs_sampler *s, const position *q)
{
    s->epoch = q->epoch;
    s->batch_index = q->batch_index;
    s->ended = (int)q->ended;
    s->rng = q->rng;
    s->covered = q->covered;
    s->steps = q->steps;
    s->alpha = bs__alpha_for_epoch(&s->p, s->epoch);
    if (s->p.kind == BS_SAMPLER_UNIFORM) {
        bs__uniform_new_perm(s);
        return;
    }
    rd r = {q->bitmap};
    for (int64_t w = 0; w < s->nwords; w++)
        s->bits[w] = get64(&r);
    bs__cov_rebuild(s);
}

bs_status bs_sampler_load_state(bs_sampler *s, const void *buf, size_t len,
                                bs_error *err)
{
    if (!s || !buf)
        return bs__fail(err, BS_ERR_INVALID_ARG,
                        "sampler load_state: sampler and buffer must be "
                        "non-NULL");
    const unsigned char *b = buf;
    bs_status st = check_envelope(b, len, err);
    if (st != BS_OK)
        return st;
    rd r = {b + 12};
    fingerprint f;
    read_fingerprint(&r, &f);
    if ((st = check_fingerprint(s, &f, err)) != BS_OK)
        return st;
    position q;
    q.epoch = (int64_t)get64(&r);
    q.batch_index = (int64_t)get64(&r);
    q.ended = get32(&r);
    (void)get32(&r);
    for (int i = 0; i < 4; i++)
        q.rng.s[i] = get64(&r);
    q.covered = (int64_t)get64(&r);
    q.steps = (int64_t)get64(&r);
    q.nwords = (int64_t)get64(&r);
    q.bitmap = r.p;
    if (q.nwords != s->nwords || len != state_size(s))
        return bs__fail(err, BS_ERR_FORMAT,
                        "sampler state: %zu bytes with %lld bitmap words, "
                        "expected %zu bytes with %lld",
                        len, (long long)q.nwords, state_size(s),
                        (long long)s->nwords);
    if ((st = check_position(s, &q, err)) != BS_OK)
        return st;
    apply_position(s, &q);
    bs__ok(err);
    return BS_OK;
}
