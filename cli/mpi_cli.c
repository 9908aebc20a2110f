/* mpi_cli.c — the command-line tool's optional MPI layer (mpi_cli.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpi_cli.h"

#ifdef BS_HAVE_MPI
#include <mpi.h>
#endif

/* The launcher's world size from the environment; 0 when not launched by
   one. */
static int launched_size(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v) > 0 ? atoi(v) : 1;
    }
    return 0;
}

int cli_mpi_single(const char *cmd)
{
    int size = launched_size();
    if (size <= 1)
        return 0;
    return cli_usage(cmd,
                     "launched as %d processes by an MPI launcher, but it "
                     "runs on one process (data-parallel under mpirun: "
                     "graph, sample, train simclr)",
                     size);
}

int cli_mpi_start(const char *cmd, cli_mpi *m)
{
    memset(m, 0, sizeof *m);
    m->world = 1;
    int size = launched_size();
#ifdef BS_HAVE_MPI
    if (size > 0) {
        int provided = 0;
        MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &m->world);
        m->started = 1;
    }
#else
    if (size > 1) {
        fprintf(stderr,
                "batchsampler %s: launched as %d processes, but this build "
                "has no MPI (install libopenmpi-dev and rebuild with "
                "-DBS_MPI=ON)\n",
                cmd, size);
        return CLI_EXIT_DATA;
    }
#endif
    (void)cmd;
    return 0;
}

void cli_mpi_stop(cli_mpi *m)
{
#ifdef BS_HAVE_MPI
    if (m->started)
        MPI_Finalize();
#endif
    m->started = 0;
}

int cli_mpi_abort(const cli_mpi *m, int code)
{
#ifdef BS_HAVE_MPI
    if (m->started && m->world > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    (void)m;
    return code;
}

int cli_mpi_any(const cli_mpi *m, int flag)
{
    int any = flag != 0;
#ifdef BS_HAVE_MPI
    if (m->started)
        MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
#endif
    (void)m;
    return any;
}

#ifdef BS_HAVE_MPI
/* Counts above INT_MAX go in pieces. */
static void sum_pieces(void *buf, size_t n, size_t size, MPI_Datatype t)
{
    char *p = buf;
    while (n > 0) {
        int c = n > INT_MAX ? INT_MAX : (int)n;
        MPI_Allreduce(MPI_IN_PLACE, p, c, t, MPI_SUM, MPI_COMM_WORLD);
        p += (size_t)c * size;
        n -= (size_t)c;
    }
}

/* A contiguous type of `bytes` bytes, so that counts stay small. */
static MPI_Datatype bytes_type(size_t bytes)
{
    MPI_Datatype t;
    MPI_Type_contiguous((int)bytes, MPI_BYTE, &t);
    MPI_Type_commit(&t);
    return t;
}
#endif

/* In-place sum of n elements of `size` bytes (MPI type t) when there are
   several ranks. */
static void sum_if_many(const cli_mpi *m, void *buf, size_t n, size_t size,
                        int is_double)
{
#ifdef BS_HAVE_MPI
    if (m->started && m->world > 1)
        sum_pieces(buf, n, size, is_double ? MPI_DOUBLE : MPI_FLOAT);
#endif
    (void)m, (void)buf, (void)n, (void)size, (void)is_double;
}

void cli_mpi_sum_f64(void *ctx, double *buf, size_t n)
{
    sum_if_many(ctx, buf, n, sizeof *buf, 1);
}

void cli_mpi_sum_f32(void *ctx, float *buf, size_t n)
{
    sum_if_many(ctx, buf, n, sizeof *buf, 0);
}

void cli_mpi_allgather(void *ctx, const void *local, void *all, size_t bytes)
{
    const cli_mpi *m = ctx;
#ifdef BS_HAVE_MPI
    if (m->started && m->world > 1) {
        if (bytes == 0)
            return;
        MPI_Datatype t = bytes_type(bytes);
        MPI_Allgather(local, 1, t, all, 1, t, MPI_COMM_WORLD);
        MPI_Type_free(&t);
        return;
    }
#endif
    (void)m;
    if (all != local)
        memcpy(all, local, bytes);
}

void cli_mpi_gather_rows(const cli_mpi *m, const void *local, void *all,
                         const int64_t *rows, size_t row_bytes)
{
#ifdef BS_HAVE_MPI
    if (m->started && m->world > 1) {
        int *counts = NULL, *displs = NULL;
        if (m->rank == 0) {
            counts = malloc(sizeof(int) * (size_t)m->world);
            displs = malloc(sizeof(int) * (size_t)m->world);
            if (!counts || !displs) {
                fprintf(stderr, "batchsampler: out of memory\n");
                MPI_Abort(MPI_COMM_WORLD, CLI_EXIT_DATA);
            }
            int64_t at = 0;
            for (int r = 0; r < m->world; r++) {
                counts[r] = (int)rows[r];
                displs[r] = (int)at;
                at += rows[r];
            }
        }
        MPI_Datatype t = bytes_type(row_bytes);
        MPI_Gatherv(local, (int)rows[m->rank], t, all, counts, displs, t, 0,
                    MPI_COMM_WORLD);
        MPI_Type_free(&t);
        free(counts);
        free(displs);
        return;
    }
#endif
    (void)m;
    if (all != local)
        memcpy(all, local, (size_t)rows[0] * row_bytes);
}

int cli_mpi_rank_path(const char *path, int rank, char *out, size_t cap)
{
    size_t len = 0;
    for (const char *p = path; *p; p++) {
        char piece[16];
        const char *add = piece;
        if (p[0] == '%' && p[1] == 'r') {
            snprintf(piece, sizeof piece, "%d", rank);
            p++;
        } else {
            piece[0] = *p;
            piece[1] = '\0';
        }
        size_t n = strlen(add);
        if (len + n + 1 > cap)
            return -1;
        memcpy(out + len, add, n);
        len += n;
    }
    out[len] = '\0';
    return 0;
}
