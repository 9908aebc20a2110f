/*
 * embstore_impl.h — what the batcher's save/restore needs of the embedding
 * store beyond the public API.  Not installed.
 */
#ifndef BS_EMBSTORE_IMPL_H
#define BS_EMBSTORE_IMPL_H

#include "batchsampler.h"

/* The n written flags (0/1), owned by the store. */
const uint8_t *bs__embstore_written_flags(const bs_embstore *s);
/* Replaces data (n*d floats), flags (n bytes of 0/1) and version; flags
   other than 0/1 are BS_ERR_FORMAT and leave the store unchanged. */
bs_status bs__embstore_restore(bs_embstore *s, const float *x,
                               const uint8_t *written, uint64_t version,
                               bs_error *err);

#endif
