/*
 * idx.h — reader for the IDX files of (Fashion-)MNIST, the data the SimCLR
 * trainer and the CLI's `compare` load.  Part of bs_data (data/), which
 * the engine and the CLI link; it needs zlib and nothing of the engine.
 */
#ifndef BS_DATA_IDX_H
#define BS_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Reader for the gzip-compressed IDX files of (Fashion-)MNIST: a big-endian
   header (magic 0x00000800 | type << 8 | ndim, then ndim uint32 sizes) and
   the uint8 payload.  Images: magic 0x00000803, (count, rows, cols); labels:
   magic 0x00000801, (count).

   Reads the first `want` records (want <= 0: all).  *data (count x rows x
   cols, resp. count bytes) is malloc'ed; free() it.  Returns BST_OK,
   BST_ERR_IO (missing or unreadable file; the message says how to install
   the data set), BST_ERR_FORMAT (bad magic, bad sizes, no records,
   truncated or corrupt, or fewer than `want` records), BST_ERR_NOMEM or
   BST_ERR_INVAL (NULL arguments).  On error nothing is allocated and, if
   msg is non-NULL, a one-line message naming the file is written to msg
   (at most cap bytes, NUL-terminated). */
int bst_idx_read_images(const char *path, int64_t want, uint8_t **data,
                        int64_t *count, int64_t *rows, int64_t *cols, char *msg,
                        size_t cap);
int bst_idx_read_labels(const char *path, int64_t want, uint8_t **data,
                        int64_t *count, char *msg, size_t cap);
/* out[i] = in[i] / 255 (uint8 pixels to floats in [0, 1]). */
void bst_u8_to_float(const uint8_t *in, float *out, size_t n);

#endif /* BS_DATA_IDX_H */
