/* msg.c — the engine's one error-message helper (engine.h: bst_fail). */
#include <stdarg.h>
#include <stdio.h>

#include "engine.h"

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
