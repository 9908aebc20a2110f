/*
 * mpi_cli.h — the command-line tool's optional MPI layer (Open MPI).  Only the
 * CLI links MPI (CMake option BS_MPI, define BS_HAVE_MPI); the library and
 * the training engine never communicate: they take plain function hooks
 * (bst_sum_fn, bst_dist) that these functions implement.
 *
 * MPI starts only when the process was launched by an MPI launcher
 * (OMPI_COMM_WORLD_SIZE or PMI_SIZE in the environment), so that a plain
 * run, and the ASan and valgrind runs of the tests, never initialise MPI.
 * Without MPI in the build a launch of W > 1 processes is refused with a
 * message (each would otherwise run alone and write the same files).
 *
 * Ownership: a cli_mpi is the caller's; buffers are the caller's.  Thread
 * safety: call from the main thread only (MPI_THREAD_FUNNELED).  Errors:
 * MPI's default handler aborts every rank on a communication failure, so
 * the collectives return nothing.
 */
#ifndef BS_CLI_MPI_CLI_H
#define BS_CLI_MPI_CLI_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, world;
    int started; /* MPI_Init was called (cli_mpi_stop finalises) */
} cli_mpi;

/* Starts MPI when launched by mpirun; otherwise rank 0 of 1.  Returns 0, or
   prints the one-line error for subcommand cmd and returns 1 (launched as
   several processes by a build without MPI). */
int cli_mpi_start(const char *cmd, cli_mpi *m);
/* For the subcommands that run on one process (all but graph, sample and
   train simclr): a usage error (one line on stderr, returns CLI_EXIT_USAGE)
   when an MPI launcher started this process as one of several, since every
   copy would do the whole job and write the same files; 0 when launched
   alone or not by a launcher.  Reads the environment only (no MPI). */
int cli_mpi_single(const char *cmd);
/* Finalises MPI if it was started; safe on a rank 0 of 1. */
void cli_mpi_stop(cli_mpi *m);
/* Stops every rank with exit code `code` after an error the other ranks
   cannot see (they would wait forever in the next collective).  Returns
   `code` only when there is one rank. */
int cli_mpi_abort(const cli_mpi *m, int code);
/* 1 on every rank if `flag` is non-zero on any rank (the ranks agree on
   failing before they start a collective). */
int cli_mpi_any(const cli_mpi *m, int flag);

/* In-place sums over the ranks (all-reduce); ctx is the cli_mpi. */
void cli_mpi_sum_f64(void *ctx, double *buf, size_t n);
void cli_mpi_sum_f32(void *ctx, float *buf, size_t n);
/* Every rank gives `bytes` bytes; all (world * bytes) receives them in rank
   order on every rank.  ctx is the cli_mpi. */
void cli_mpi_allgather(void *ctx, const void *local, void *all, size_t bytes);
/* Gathers rows of row_bytes bytes to rank 0: rank r gives rows[r] rows;
   all (rank 0 only; the sum of rows[] rows) receives them in rank order. */
void cli_mpi_gather_rows(const cli_mpi *m, const void *local, void *all,
                         const int64_t *rows, size_t row_bytes);

/* Replaces every "%r" in path by the rank into out (cap bytes).  Returns 0,
   or -1 when the result does not fit. */
int cli_mpi_rank_path(const char *path, int rank, char *out, size_t cap);

#endif /* BS_CLI_MPI_CLI_H */
