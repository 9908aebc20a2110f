/* gemm.c — row-chunked GEMMs, identical for any thread count (gemm.h). */
#include "gemm.h"

#include <omp.h>
#include <stddef.h>

/* One product, float or double: the arguments of cblas_?gemm. */
typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    int M, N, K, lda, ldb, ldc, dbl;
    double alpha, beta;
    const void *A, *B;
    void *C;
} gemm_args;

/* Offset of op(A)'s row r in A: a row of A, or transposed, a column. */
static size_t a_row(const gemm_args *g, int r)
{
    return g->ta == CblasNoTrans ? (size_t)r * g->lda : (size_t)r;
}

/* C's rows [r0, r0 + rows), single-threaded. */
static void chunk(const gemm_args *g, int r0, int rows)
{
    size_t a = a_row(g, r0), c = (size_t)r0 * g->ldc;
    if (g->dbl)
        cblas_dgemm(CblasRowMajor, g->ta, g->tb, rows, g->N, g->K, g->alpha,
                    (const double *)g->A + a, g->lda, g->B, g->ldb, g->beta,
                    (double *)g->C + c, g->ldc);
    else
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, rows, g->N, g->K,
                    (float)g->alpha, (const float *)g->A + a, g->lda, g->B,
                    g->ldb, (float)g->beta, (float *)g->C + c, g->ldc);
}

/* Inside the region every thread sets its own thread budget to 1, so that
   OpenBLAS never threads a chunk, also when the region is inactive (one
   thread) and omp_in_parallel() is false. */
static void run(const gemm_args *g)
{
    int chunks = (g->M + BST_GEMM_ROWS - 1) / BST_GEMM_ROWS;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < chunks; i++) {
        omp_set_num_threads(1);
        int r0 = i * BST_GEMM_ROWS;
        chunk(g, r0, g->M - r0 < BST_GEMM_ROWS ? g->M - r0 : BST_GEMM_ROWS);
    }
}

void bst_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
               float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc)
{
    run(&(gemm_args){ta, tb, M, N, K, lda, ldb, ldc, 0, alpha, beta, A, B, C});
}

void bst_dgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
               double alpha, const double *A, int lda, const double *B, int ldb,
               double beta, double *C, int ldc)
{
    run(&(gemm_args){ta, tb, M, N, K, lda, ldb, ldc, 1, alpha, beta, A, B, C});
}
