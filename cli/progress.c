/*
 * progress.c — progress with ETA on stderr.
 *
 * Short work stays silent: nothing is printed before a second has passed, so
 * scripts and tests see clean stderr.  On a terminal one line is rewritten
 * in place with \r (about ten times a second at most); when stderr is a
 * file or pipe a plain line goes out every few seconds instead, so logs do
 * not fill up with carriage returns.
 */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "cli.h"
#include "../src/internal.h"

enum { SILENT_S = 1, PIPE_EVERY_S = 5 };

/* the toolkit's clock (src/internal.h), so that there is one */
double cli_now(void)
{
    return bs__now();
}

void cli_progress_start(cli_progress *p, const char *label, int quiet)
{
    p->label = label;
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = cli_now();
    p->last = p->t0;
    p->shown = 0;
}

/* "12s" below two minutes, "3m05s" above: ETAs need no more precision. */
static void fmt_secs(char *buf, size_t cap, double s)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t < 120)
        snprintf(buf, cap, "%lds", t);
    else
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

static void print_line(cli_progress *p, double now, int64_t done, int64_t total)
{
    char el[32], eta[32];
    double elapsed = now - p->t0;
    fmt_secs(el, sizeof el, elapsed);
    if (total > 0 && done > 0) {
        double frac = (double)done / (double)total;
        fmt_secs(eta, sizeof eta, elapsed / frac - elapsed);
        fprintf(stderr, "%s%s: %3.0f%%  elapsed %s  ETA %s%s",
                p->tty ? "\r" : "", p->label, 100.0 * frac, el, eta,
                p->tty ? "\033[K" : "\n");
    } else {
        fprintf(stderr, "%s%s: elapsed %s%s", p->tty ? "\r" : "", p->label, el,
                p->tty ? "\033[K" : "\n");
    }
    fflush(stderr);
    p->last = now;
    p->shown = 1;
}

void cli_progress_update(cli_progress *p, int64_t done, int64_t total)
{
    double now;
    if (p->quiet)
        return;
    now = cli_now();
    if (now - p->t0 < SILENT_S)
        return;
    if (p->shown && now - p->last < (p->tty ? 0.1 : PIPE_EVERY_S))
        return;
    print_line(p, now, done, total);
}

void cli_progress_end(cli_progress *p, int ok)
{
    char el[32];
    if (p->quiet || !p->shown)
        return;
    if (!ok) {
        /* the error message that follows must start on a clean line */
        if (p->tty)
            fputs("\r\033[K", stderr);
        return;
    }
    fmt_secs(el, sizeof el, cli_now() - p->t0);
    fprintf(stderr, "%s%s: done in %s%s\n", p->tty ? "\r" : "", p->label, el,
            p->tty ? "\033[K" : "");
    fflush(stderr);
}

int cli_progress_cb(void *ctx, int64_t done, int64_t total)
{
    cli_progress_update(ctx, done, total);
    return 0;
}
