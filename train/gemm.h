/*
 * gemm.h — the engine's matrix products, with results that do not depend
 * on the thread count (private to train/).
 *
 * OpenBLAS's OpenMP build threads a GEMM called outside a parallel region
 * with omp_get_max_threads() threads, and its partition (and for small
 * shapes its choice of kernel) depends on that count, which changed the
 * trainer's losses in the 6th digit between 1 and 2 threads.  These
 * wrappers instead cut C into fixed chunks of BST_GEMM_ROWS rows, run one
 * single-threaded GEMM per chunk, chunks spread over OpenMP threads.  The
 * chunks' shapes depend only on the matrix sizes, so every element is the
 * same computation whatever the thread count.  (Bit-identical per machine
 * and library build: another CPU may pick other SIMD kernels.)
 *
 * Arguments as cblas_?gemm with CblasRowMajor; the transposes are those of
 * A and B.  C's rows [r0, r1) need only A's rows (or, transposed, its
 * columns) [r0, r1), so K is never split.  Called inside a parallel region
 * they run serially on the calling thread.
 */
#ifndef BST_GEMM_H
#define BST_GEMM_H

#include <cblas.h>

/* Rows of C per chunk: a multiple of every SIMD kernel's row unroll. */
#define BST_GEMM_ROWS 64

void bst_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
               float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);
void bst_dgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
               double alpha, const double *A, int lda, const double *B, int ldb,
               double beta, double *C, int ldc);

#endif
