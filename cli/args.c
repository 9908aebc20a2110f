/*
 * args.c — option-parsing helpers shared by the subcommands: strict number
 * parsing, the one-line usage and data error messages, getopt glue.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "batchsampler %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try 'batchsampler %s --help')\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_fail(const bs_error *err)
{
    const char *msg = err && err->msg[0] ? err->msg : "unknown error";
    fprintf(stderr, "batchsampler: %s\n", msg);
    return CLI_EXIT_DATA;
}

bs_status cli_set_error(bs_error *err, bs_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* the message is printed as one line whatever went into it */
    for (char *c = err->msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    err->code = code;
    return code;
}

int cli_getopt_error(const char *cmd, int c, char **argv)
{
    /* optind has moved past the offending word, which names the option
       best for long options; optopt names a short one exactly. */
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':') {
        if (optopt && optopt < 256 && strncmp(word, "--", 2) != 0)
            return cli_usage(cmd, "option -%c needs a value", optopt);
        return cli_usage(cmd, "option %s needs a value", word);
    }
    if (optopt && optopt < 256)
        return cli_usage(cmd, "unknown option -%c", optopt);
    return cli_usage(cmd, "unknown option %s", word);
}

int cli_no_operands(const char *cmd, int argc, char **argv)
{
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    return 0;
}

int cli_parse_options(const char *cmd, int argc, char **argv,
                      const char *shortopts, const struct option *longs,
                      void (*help)(void), cli_opt_fn on_opt, void *ctx)
{
    int c, rc;
    while ((c = getopt_long(argc, argv, shortopts, longs, NULL)) != -1) {
        if (c == 'h') {
            help();
            return -1;
        }
        if (c == '?' || c == ':')
            return cli_getopt_error(cmd, c, argv);
        if ((rc = on_opt(c, ctx)) != 0)
            return rc;
    }
    return cli_no_operands(cmd, argc, argv);
}

void cli_getopt_reset(void)
{
    /* glibc: optind = 0 re-initialises getopt completely */
    optind = 0;
    opterr = 0;
}

/* strto* accept leading blanks and signs where we do not want them. */
static int starts_badly(const char *s)
{
    return s[0] == '\0' || isspace((unsigned char)s[0]);
}

/* The one integer syntax of every option: decimal digits, with a leading
   '-' only where negatives are allowed; no '+', no blanks (so that -M +50
   and --seed +1 are both refused). */
static int integer_syntax(const char *s, int minus_ok)
{
    if (minus_ok && *s == '-')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int cli_parse_i64(const char *cmd, const char *opt, const char *s, int64_t lo,
                  int64_t hi, int64_t *out)
{
    char *end = NULL;
    long long v;
    if (!integer_syntax(s, 1))
        return cli_usage(cmd, "%s: '%s' is not an integer", opt, s);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return cli_usage(cmd, "%s: '%s' is not an integer", opt, s);
    if (errno == ERANGE || v < lo || v > hi)
        return cli_usage(cmd, "%s: %s is out of range [%lld, %lld]", opt, s,
                         (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo,
                  int hi, int *out)
{
    int64_t v = 0;
    int rc = cli_parse_i64(cmd, opt, s, lo, hi, &v);
    if (rc == 0)
        *out = (int)v;
    return rc;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s,
                  uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    /* strtoull would silently wrap "-1" to 2^64-1 */
    if (!integer_syntax(s, 0))
        return cli_usage(cmd, "%s: '%s' is not a non-negative integer", opt, s);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return cli_usage(cmd, "%s: '%s' is not a non-negative integer", opt, s);
    if (errno == ERANGE)
        return cli_usage(cmd, "%s: %s is out of range [0, %llu]", opt, s,
                         (unsigned long long)UINT64_MAX);
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_f64(const char *cmd, const char *opt, const char *s, double lo,
                  double hi, int hi_open, double *out)
{
    char *end = NULL;
    double v;
    if (starts_badly(s))
        return cli_usage(cmd, "%s: '%s' is not a number", opt, s);
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return cli_usage(cmd, "%s: '%s' is not a finite number", opt, s);
    if (v < lo || v > hi || (hi_open && v == hi))
        return cli_usage(cmd, "%s: %s is out of range [%g, %g%c", opt, s, lo,
                         hi, hi_open ? ')' : ']');
    *out = v;
    return 0;
}

/* Copies the ids into a buffer of our own: the library owns a.data and
   frees it with bs_array_free, so we never free() it ourselves. */
static bs_status copy_ids(const bs_array *a, int64_t **ids, bs_error *err)
{
    int64_t count = bs_array_size(a);
    int64_t *w = malloc((size_t)(count > 0 ? count : 1) * sizeof *w);
    if (!w)
        return cli_set_error(err, BS_ERR_NOMEM, "out of memory");
    if (a->dtype == BS_DTYPE_I64) {
        memcpy(w, a->data, (size_t)count * sizeof *w);
    } else {
        const int32_t *src = a->data;
        for (int64_t i = 0; i < count; i++)
            w[i] = src[i];
    }
    *ids = w;
    return BS_OK;
}

bs_status cli_load_batches(const char *path, int64_t **ids, int64_t *rows,
                           int64_t *cols, bs_error *err)
{
    bs_array a;
    bs_status st = bs_npy_read(path, &a, err);
    if (st != BS_OK)
        return st;
    if (a.ndim != 2 || (a.dtype != BS_DTYPE_I64 && a.dtype != BS_DTYPE_I32)) {
        bs_array_free(&a);
        return cli_set_error(err, BS_ERR_FORMAT,
                             "%s: expected a 2-D int64 or int32 array of "
                             "batches (one row per batch)",
                             path);
    }
    st = copy_ids(&a, ids, err);
    if (st == BS_OK) {
        *rows = a.shape[0];
        *cols = a.shape[1];
    }
    bs_array_free(&a);
    return st;
}
