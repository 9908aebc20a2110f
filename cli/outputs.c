/*
 * outputs.c — what the CLI does so that no command destroys a file or
 * leaves one half-written: the paths of every command are checked before
 * any work (cli_check_paths), and signals are kept from landing between a
 * temporary file's creation and its rename (cli_signals_*).
 *
 * Signals, and why this design: the library writes through its atomic
 * writer (temporary file, fsync, rename) and must stay free of global
 * state, so it cannot keep a registry of temporary files for a handler to
 * remove.  Instead:
 *   - SIGXFSZ (ulimit -f) is ignored: write() then fails with EFBIG, and the
 *     writer's own error path removes its temporary file and the command
 *     reports it (exit 1).
 *   - SIGINT, SIGTERM and SIGHUP keep their usual effect (the process dies
 *     of the signal) except inside a "deferral window" that the commands
 *     open around their writes (and the trainer around its whole run, whose
 *     progress callback then stops it between steps).  A signal that
 *     arrives inside the window is recorded; closing the window re-raises
 *     it with the default action.  Outside a window no temporary file
 *     exists, so dying at once is safe.
 * The handler touches only two sig_atomic_t flags and calls signal() and
 * raise(), which are async-signal-safe; it works whichever thread (OpenMP
 * workers included) receives the signal.  This is the CLI's only process
 * state.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../src/internal.h" /* the toolkit shared with the library */

static volatile sig_atomic_t deferring; /* inside a deferral window */
static volatile sig_atomic_t pending;   /* signal received meanwhile, or 0 */

static void on_signal(int sig)
{
    if (deferring) {
        pending = sig;
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_signals_init(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* writes go on where they were */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

void cli_signals_defer(void)
{
    deferring = 1;
    /* testing: a signal that arrives inside the window, deterministically */
    const char *t = getenv("BS_CLI_TEST_SIGNAL_IN_WINDOW");
    if (t && strcmp(t, "TERM") == 0)
        raise(SIGTERM);
}

int cli_signals_pending(void)
{
    return pending != 0;
}

void cli_signals_resume(void)
{
    deferring = 0;
    int sig = pending;
    if (sig) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

/* ----------------------------------------------------------------- paths */

static int check_given(const char *cmd, const cli_path *p)
{
    if (p->path && !p->path[0])
        return cli_usage(cmd, "%s: empty path: expected a file name", p->opt);
    return 0;
}

/* A usage error if out names the same file as one of the n paths in ps
   (other than itself). */
static int check_distinct(const char *cmd, const cli_path *out,
                          const cli_path *ps, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (&ps[i] != out && ps[i].path && bs__same_file(out->path, ps[i].path))
            return cli_usage(cmd,
                             "%s %s is the same file as %s %s: expected a "
                             "different %s file",
                             out->opt, out->path, what, ps[i].opt, "output");
    return 0;
}

int cli_check_paths(const char *cmd, const cli_path *in, int nin,
                    const cli_path *out, int nout)
{
    int rc;
    for (int i = 0; i < nin; i++)
        if ((rc = check_given(cmd, &in[i])))
            return rc;
    for (int i = 0; i < nout; i++) {
        if (!out[i].path)
            continue;
        if ((rc = check_given(cmd, &out[i])) ||
            (rc = check_distinct(cmd, &out[i], in, nin, "the input")) ||
            (rc = check_distinct(cmd, &out[i], out, i, "the output")))
            return rc;
    }
    for (int i = 0; i < nout; i++) {
        bs_error err = {0};
        if (out[i].path && bs__output_check(out[i].path, &err) != BS_OK)
            return cli_fail(&err);
    }
    return 0;
}
