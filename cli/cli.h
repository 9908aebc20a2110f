/*
 * cli.h — declarations shared by the `batchsampler` command-line tool's
 * sources.  The tool uses the public header batchsampler.h, and the
 * training engine's engine.h for the demo's Fashion-MNIST reader.
 *
 * Exit codes (every subcommand):
 *   0  success
 *   1  data or I/O error: one line "batchsampler: <message>" on stderr
 *   2  usage error: one line "batchsampler <cmd>: <what> (try 'batchsampler
 *      <cmd> --help')" on stderr
 */
#ifndef BS_CLI_H
#define BS_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "batchsampler.h"

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

enum { CLI_EXIT_OK = 0, CLI_EXIT_DATA = 1, CLI_EXIT_USAGE = 2 };

/* ---------------------------------------------------------------- args.c */

/* Prints the one-line usage error for subcommand `cmd` and returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Prints "batchsampler: <err->msg>" and returns 1. */
int cli_fail(const bs_error *err);

/* Fills *err with code and a formatted message (for errors the CLI itself
   detects, or reports for the training engine's IDX reader); returns code. */
bs_status cli_set_error(bs_error *err, bs_status code, const char *fmt, ...)
    CLI_PRINTF(3, 4);

/* Turns a getopt_long '?' or ':' result into the usage error; returns 2. */
int cli_getopt_error(const char *cmd, int c, char **argv);

/* Rejects positional arguments left after the options; 0 or 2. */
int cli_no_operands(const char *cmd, int argc, char **argv);

/* One option of a subcommand (c from getopt_long, its argument in optarg)
   applied to the subcommand's options ctx: 0, or the usage exit code. */
typedef int (*cli_opt_fn)(int c, void *ctx);

/*
 * The option loop every subcommand shares: -h/--help prints help() and
 * returns -1; an unknown option or a missing argument is the usage error;
 * every other option goes to on_opt; positional operands are rejected.
 * Returns 0 to go on, -1 after --help, or the usage exit code.
 */
int cli_parse_options(const char *cmd, int argc, char **argv,
                      const char *shortopts, const struct option *longs,
                      void (*help)(void), cli_opt_fn on_opt, void *ctx);

/* Resets getopt for a fresh parse (a subcommand parses its own argv). */
void cli_getopt_reset(void);

/*
 * Strict number parsing: the whole string must be a number (no blanks, no
 * trailing junk, no overflow) within [lo, hi].  They return 0, or print the
 * usage error naming `opt` and return 2.
 */
int cli_parse_i64(const char *cmd, const char *opt, const char *s, int64_t lo,
                  int64_t hi, int64_t *out);
int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo,
                  int hi, int *out);
int cli_parse_u64(const char *cmd, const char *opt, const char *s,
                  uint64_t *out);
/* Finite double in [lo, hi] (hi_open: [lo, hi)). */
int cli_parse_f64(const char *cmd, const char *opt, const char *s, double lo,
                  double hi, int hi_open, double *out);

/* Loads a 2-D integer .npy (i4 or i8) as int64 rows x cols. */
bs_status cli_load_batches(const char *path, int64_t **ids, int64_t *rows,
                           int64_t *cols, bs_error *err);

/* ------------------------------------------------------------- outputs.c */

/* An option naming a file, and its value (NULL: not given). */
typedef struct {
    const char *opt;
    const char *path;
} cli_path;

/*
 * Before any work: no path is empty (usage error), no output is the same
 * file as an input or as another output (usage error: it would destroy
 * it), and every output can be written (bs__output_check: not a directory,
 * device or FIFO, its directory exists and is writable; data error).
 * Returns 0 or the exit code, the message printed.
 */
int cli_check_paths(const char *cmd, const cli_path *in, int nin,
                    const cli_path *out, int nout);

/*
 * Signals (see outputs.c for the design): cli_signals_init (main, once)
 * ignores SIGXFSZ and installs the SIGINT/SIGTERM/SIGHUP handler.
 * cli_signals_defer opens a window in which those signals are only
 * recorded; cli_signals_resume closes it and dies of a recorded signal.
 * cli_signals_pending: 1 if one was recorded (for progress callbacks,
 * which then stop the work).  Environment BS_CLI_TEST_SIGNAL_IN_WINDOW=TERM
 * raises SIGTERM as a window opens (for the tests).
 */
void cli_signals_init(void);
void cli_signals_defer(void);
void cli_signals_resume(void);
int cli_signals_pending(void);

/* ------------------------------------------------------------ progress.c */

/* Seconds on a monotonic clock. */
double cli_now(void);

/*
 * Progress with ETA on stderr.  Nothing is shown for work that finishes
 * within a second.  On a terminal one line is rewritten in place with \r;
 * otherwise a plain line is printed every few seconds.  quiet silences it.
 */
typedef struct {
    const char *label;
    int quiet;
    int tty;
    double t0;   /* start */
    double last; /* last time a line was printed */
    int shown;   /* a line has been printed */
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, int quiet);
/* done out of total (total <= 0: unknown, only elapsed time is shown). */
void cli_progress_update(cli_progress *p, int64_t done, int64_t total);
/* Ends the line (if one was shown) with the elapsed time; with ok == 0
   (the work failed) erases it instead. */
void cli_progress_end(cli_progress *p, int ok);
/* A bs_progress_fn whose ctx is a cli_progress*; never cancels. */
int cli_progress_cb(void *ctx, int64_t done, int64_t total);

/* ----------------------------------------------------------------- rng.c */

/* A small seeded generator for the CLI's own data (synth, projections). */
typedef struct {
    uint64_t s;
} cli_rng;

void cli_rng_seed(cli_rng *r, uint64_t seed);
uint64_t cli_rng_next(cli_rng *r);
/* Standard normal deviate. */
double cli_rng_normal(cli_rng *r);

/* ------------------------------------------------------------ subcommands */

int cli_cmd_graph(int argc, char **argv);
int cli_cmd_sample(int argc, char **argv);
int cli_cmd_stats(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_compare(int argc, char **argv);
int cli_cmd_synth(int argc, char **argv);
int cli_cmd_train(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);

#endif /* BS_CLI_H */
