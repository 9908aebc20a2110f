/*
 * ckpt.h — a checkpoint container for the trainer: a file of named binary
 * sections (model parameters, batch-norm running statistics, AdamW moments
 * and step, RNG / epoch position, the BatchSampler sampler-state blob, the
 * embedding store, the run config ...), written atomically and checked on
 * reading.  The container does not interpret the payloads.
 *
 * File format (every integer little-endian, whatever the host)
 *
 *     magic      8 bytes  "BSCKPT\0\0"
 *     version    u32      1 (BST_CKPT_VERSION)
 *     count      u32      number of sections, 0 .. BST_CKPT_MAX_SECTIONS
 *     count times, in the order they were added:
 *       name_len u32      1 .. BST_CKPT_MAX_NAME
 *       name     name_len bytes, visible ASCII 0x21..0x7e (no space, no
 *                         NUL); names are unique within a file
 *       len      u64      payload length in bytes
 *       crc      u32      zlib crc32 of the payload
 *       payload  len bytes
 *     file_crc   u32      zlib crc32 of every byte before it
 *
 *   Nothing may follow file_crc.  The format has no slack (no padding, no
 *   optional fields), so a valid file is exactly what the writer produces
 *   for the same sections in the same order.  The empty checkpoint (count
 *   0) is 20 bytes and valid.  Payloads are opaque bytes; the scalar
 *   helpers below store u64 and f64 (IEEE-754 bits) little-endian.  Raw
 *   float arrays are stored in host byte order (every supported host is
 *   little-endian).
 *
 * Conventions (as in engine.h)
 *
 *  - Functions returning int return BST_OK or a negative BST_ERR_*:
 *    BST_ERR_NOMEM (allocation failed), BST_ERR_INVAL (bad arguments: NULL
 *    pointers, a bad or duplicate section name), BST_ERR_IO (a file could
 *    not be opened, read, written, synced or renamed; the message carries
 *    the path and strerror), BST_ERR_FORMAT (the file is not a valid
 *    checkpoint, or a section is missing or has the wrong size).
 *  - msg / cap: if msg is non-NULL and cap > 0, a failing call writes one
 *    line (no newline, NUL-terminated, cut to cap bytes) naming the file
 *    and what was expected into msg; on success msg is left alone.
 *  - Thread safety: reentrant, no global or static mutable state.  Distinct
 *    writers and readers may be used from different threads at once.  A
 *    reader is not modified after bst_ckpt_open, so several threads may
 *    query one reader at once; a writer may not be used from two threads at
 *    once.  Two writers committing to the same path at once are safe (each
 *    uses its own temporary file; the last rename wins).
 *  - Memory: the writer's and reader's memory is owned by them and freed by
 *    bst_ckpt_writer_free / bst_ckpt_close (both accept NULL).
 */
#ifndef BS_TRAIN_CKPT_H
#define BS_TRAIN_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

enum {
    BST_CKPT_VERSION = 1,
    BST_CKPT_MAX_NAME = 64,           /* bytes in a section name */
    BST_CKPT_MAX_SECTIONS = 1 << 16,  /* sections in one file */
    BST_CKPT_MIN_SIZE = 8 + 4 + 4 + 4 /* the empty checkpoint */
};

/* ------------------------------------------------------------------ writer */
/* Collects sections in memory; bst_ckpt_commit writes them to a file.
   The writer keeps the first error of any bst_ckpt_add* call, and every
   later commit fails with that error (message "... not written: ..."), so
   a checkpoint with a section missing is never written even if the caller
   ignores an add's return value.  Aborting = bst_ckpt_writer_free without
   a commit. */
typedef struct bst_ckpt_writer bst_ckpt_writer;

/* *out = a new, empty writer.  BST_OK, BST_ERR_INVAL (out NULL) or
   BST_ERR_NOMEM. */
int bst_ckpt_writer_new(bst_ckpt_writer **out);
/* Frees the writer and every copy it made; referenced data is not touched.
   NULL is a no-op. */
void bst_ckpt_writer_free(bst_ckpt_writer *w);

/* Appends section `name` (NUL-terminated, 1..64 visible ASCII characters,
   not already in the writer) with payload data[0..len).
   bst_ckpt_add COPIES the payload: the caller may change or free data as
   soon as it returns.  bst_ckpt_add_ref only REFERENCES it: data must stay
   alive and unchanged until the last bst_ckpt_commit / bst_ckpt_to_mem of
   this writer (no copy; meant for large parameter and moment arrays).
   data may be NULL only when len == 0.  Returns BST_OK, BST_ERR_INVAL (w
   or name NULL, bad or duplicate name, data NULL with len > 0, more than
   BST_CKPT_MAX_SECTIONS sections) or BST_ERR_NOMEM; on error the writer
   is unchanged except that it remembers the error (see above).  The
   duplicate check is a linear scan (meant for up to a few thousand
   sections). */
int bst_ckpt_add(bst_ckpt_writer *w, const char *name, const void *data,
                 size_t len);
int bst_ckpt_add_ref(bst_ckpt_writer *w, const char *name, const void *data,
                     size_t len);
/* An 8-byte section holding v little-endian (f64: its IEEE-754 bits);
   read back with bst_ckpt_read_u64 / bst_ckpt_read_f64.  Errors as
   bst_ckpt_add. */
int bst_ckpt_add_u64(bst_ckpt_writer *w, const char *name, uint64_t v);
int bst_ckpt_add_f64(bst_ckpt_writer *w, const char *name, double v);

/* Writes the checkpoint to `path` atomically with the library's writer
   (src/internal.h): the bytes go to a new temporary file in the same
   directory (path + ".tmp.XXXXXX", mode 0644), which is fsync'ed, closed
   and renamed over path; the directory is then fsync'ed.  Readers of path
   see either the old file or the complete new one (a crash during commit
   can leave a stale temporary file, never a partial target).  An existing
   path that is not a regular file (directory, device, FIFO) is refused,
   not replaced; a symbolic link is written through (the link stays).
   On any error the temporary file is removed and an existing file at path
   is left untouched.  The writer stays valid: the same checkpoint may be
   committed again (to retry, or to a second path).  Returns BST_OK,
   BST_ERR_INVAL (w or path NULL, path empty, and the library's
   invalid-argument errors), the code of an earlier failed add (nothing is
   written; the message says which add failed), BST_ERR_IO (refused
   target, or creating, writing, syncing, closing or renaming failed:
   ENOSPC, EFBIG ...; the message names path and gives strerror) or
   BST_ERR_NOMEM. */
int bst_ckpt_commit(const bst_ckpt_writer *w, const char *path, char *msg,
                    size_t cap);
/* The bytes bst_ckpt_commit would write, in one malloc'ed buffer (*out,
   *len; free() it).  On error *out = NULL.  Errors as bst_ckpt_commit
   without the I/O ones. */
int bst_ckpt_to_mem(const bst_ckpt_writer *w, void **out, size_t *len,
                    char *msg, size_t cap);

/* ------------------------------------------------------------------ reader */
/* A validated checkpoint held in memory. */
typedef struct bst_ckpt_reader bst_ckpt_reader;

/* Reads the whole file (a regular file) and validates it once: magic,
   version, section count and every length against the bytes actually
   present, names (length, characters, uniqueness), each section's CRC, the
   file CRC, and no trailing bytes.  No allocation is sized from a header
   field before it has been checked against the file size.  *out is the
   reader (NULL on error).  Returns BST_OK, BST_ERR_INVAL (NULL arguments),
   BST_ERR_IO (cannot open or read, not a regular file, or the file changed
   size while being read), BST_ERR_FORMAT (not a valid checkpoint: the
   message says what was wrong and where) or BST_ERR_NOMEM. */
int bst_ckpt_open(const char *path, bst_ckpt_reader **out, char *msg,
                  size_t cap);
/* The same over len bytes in memory, which are copied (data may be freed
   afterwards); `name` (may be NULL: "<memory>") stands for the path in
   messages. */
int bst_ckpt_open_mem(const void *data, size_t len, const char *name,
                      bst_ckpt_reader **out, char *msg, size_t cap);
/* Frees the reader and every pointer it handed out.  NULL is a no-op. */
void bst_ckpt_close(bst_ckpt_reader *r);

/* Number of sections, and section i (0-based, file order): *name
   (NUL-terminated), *data, *len, each optional (NULL: not wanted); the
   pointers are owned by the reader and valid until bst_ckpt_close.
   bst_ckpt_section returns BST_OK or BST_ERR_INVAL (r NULL or i out of
   range). */
size_t bst_ckpt_count(const bst_ckpt_reader *r);
int bst_ckpt_section(const bst_ckpt_reader *r, size_t i, const char **name,
                     const void **data, size_t *len);

/* 1 if the checkpoint has section `name`, else 0 (also for NULL). */
int bst_ckpt_has(const bst_ckpt_reader *r, const char *name);
/* Section `name`: *data (owned by the reader, valid until bst_ckpt_close;
   NULL for an empty payload) and *len.  BST_OK, BST_ERR_INVAL (NULL
   arguments) or BST_ERR_FORMAT (no such section; the message names the
   file and the section). */
int bst_ckpt_get(const bst_ckpt_reader *r, const char *name, const void **data,
                 size_t *len, char *msg, size_t cap);
/* Copies section `name` into dst, which holds exactly `len` bytes.
   BST_ERR_FORMAT if the section is missing or its payload is not exactly
   len bytes (the message names the file, the section, the expected and
   the actual size; dst is then not written); BST_ERR_INVAL for NULL
   arguments (dst may be NULL when len == 0). */
int bst_ckpt_read_exact(const bst_ckpt_reader *r, const char *name, void *dst,
                        size_t len, char *msg, size_t cap);
/* An 8-byte little-endian scalar as written by bst_ckpt_add_u64 / _f64.
   Errors as bst_ckpt_read_exact (size 8). */
int bst_ckpt_read_u64(const bst_ckpt_reader *r, const char *name, uint64_t *v,
                      char *msg, size_t cap);
int bst_ckpt_read_f64(const bst_ckpt_reader *r, const char *name, double *v,
                      char *msg, size_t cap);

#endif /* BS_TRAIN_CKPT_H */
