/*
 * status.h — the return codes of the data readers (data/) and of the
 * training engine (train/engine.h), which shares them: a function returns
 * BST_OK or a negative BST_ERR_* code and can write a one-line message into
 * a caller's buffer.  Here, below both, so that a reader needs nothing from
 * the engine.
 */
#ifndef BS_DATA_STATUS_H
#define BS_DATA_STATUS_H

enum {
    BST_OK = 0,
    BST_ERR_NOMEM = -1,
    BST_ERR_INVAL = -2,
    BST_ERR_IO = -3,    /* a file could not be opened (errno text) */
    BST_ERR_FORMAT = -4 /* a file is malformed, truncated or too short */
};

#endif /* BS_DATA_STATUS_H */
