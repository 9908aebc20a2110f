/* util.c — the engine's small shared helpers (engine.h, toolkit.h): the
   error message, the clock, and the translation of library errors. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>

#include "toolkit.h"

int bst_fail(char *msg, size_t cap, int code, const char *fmt, ...)
{
    if (msg && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

int bst_core_fail(bs_status st, const bs_error *err, char *msg, size_t cap)
{
    int code = st == BS_ERR_NOMEM    ? BST_ERR_NOMEM
               : st == BS_ERR_IO     ? BST_ERR_IO
               : st == BS_ERR_FORMAT ? BST_ERR_FORMAT
                                     : BST_ERR_INVAL;
    return bst_fail(msg, cap, code, "%s",
                    err && err->msg[0] ? err->msg : bs_status_name(st));
}

/* The library's clock under the engine's name (engine.h). */
double bst_now(void)
{
    return bs__now();
}
