/* lapack.h — LAPACK on demand. libkiln does not link OpenBLAS/LAPACK (its thread pool would
 * start in every process that links kiln); the first call that needs LAPACK dlopens it:
 * $KILN_LAPACK when set (a path or a soname; then nothing else is tried), else
 * "liblapack.so.3", "libopenblas.so.0", "liblapack.so" in that order. Each routine is looked
 * up the first time it is used. Loading is thread-safe and happens once per process.
 *
 * The wrappers take column-major arrays (as LAPACK does), run the workspace query, allocate
 * the workspace through ctx, and turn LAPACK's info into a kn_status with a message:
 * KN_ERR_UNSUPPORTED when LAPACK (or the routine) cannot be loaded or a size does not fit
 * LAPACK's 32-bit integers, KN_ERR_NUMERIC when the algorithm fails on the data,
 * KN_ERR_INVALID_ARGUMENT for bad sizes, KN_ERR_OUT_OF_MEMORY for the workspace. */
#ifndef KN_CORE_LAPACK_H
#define KN_CORE_LAPACK_H

#include "core/core.h"

/* True when a LAPACK library can be loaded (loads it on the first call). */
bool kn__lapack_available(void);

/* KN_OK when LAPACK can be loaded, else KN_ERR_UNSUPPORTED with
 * "<who> needs LAPACK: install liblapack3 or libopenblas0 (scripts/deps.sh does)". */
kn_status kn__lapack_require(kn_ctx *ctx, const char *who);

/* Symmetric eigendecomposition (dsyevd, divide and conquer). a: (n, n) column-major, the
 * upper triangle read; out: the orthonormal eigenvectors as columns (column j belongs to
 * w[j]). w: (n) eigenvalues, ascending. */
kn_status kn__lapack_syevd(kn_ctx *ctx, int n, double *a, double *w);

/* Minimum-norm least squares min ||a x - b|| (dgelsd, SVD based; works for rank-deficient
 * and under-determined systems). a: (m, n) column-major with leading dimension lda >= m,
 * destroyed. b: (max(m, n), nrhs) column-major with ldb >= max(m, n); in: the right-hand
 * sides in rows 0..m-1; out: the solutions in rows 0..n-1. Singular values below
 * rcond * the largest count as zero (rcond < 0: machine precision). rank (may be NULL): the
 * effective rank. */
kn_status kn__lapack_gelsd(kn_ctx *ctx, int m, int n, int nrhs, double *a, int lda, double *b,
                           int ldb, double rcond, int *rank);

/* Solves a x = b for symmetric positive definite a by Cholesky (dpotrf + dpotrs).
 * a: (n, n) column-major, upper triangle read; out: its Cholesky factor U (a = U^T U) in the
 * upper triangle. b: (n, nrhs) column-major; out: x. KN_ERR_NUMERIC ("not positive
 * definite") when the factorization fails. */
kn_status kn__lapack_posv(kn_ctx *ctx, int n, int nrhs, double *a, double *b);

#endif
