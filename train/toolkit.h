/*
 * toolkit.h — the engine's side of the internal toolkit (src/internal.h):
 * the engine writes every file with the library's atomic writer, checks
 * paths, CRCs and clocks with the library's helpers, and reports a failed
 * library call through bst_core_fail, the one translator from a bs_error
 * to the engine's (code, message) convention (engine.h).
 */
#ifndef BS_TRAIN_TOOLKIT_H
#define BS_TRAIN_TOOLKIT_H

#include <stddef.h>

#include "batchsampler.h"
#include "engine.h"
#include "internal.h"

/* The bs_status st of a library call -> the BST_ERR_* code, with err's
   message copied into msg (cap bytes).  Returns the code. */
int bst_core_fail(bs_status st, const bs_error *err, char *msg, size_t cap);

#endif /* BS_TRAIN_TOOLKIT_H */
