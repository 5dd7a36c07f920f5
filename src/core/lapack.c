/* lapack.c — LAPACK loaded with dlopen on first use (lapack.h says why and how).
 *
 * Fortran ABI (gfortran, LP64 as Debian's liblapack3 and libopenblas0 are built): every
 * argument by pointer, INTEGER is a 32-bit int, and each CHARACTER argument adds a hidden
 * length argument (size_t since gfortran 8) after all the others, in order. */
#include "core/lapack.h"

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef void dsyevd_fn(const char *jobz, const char *uplo, const int *n, double *a,
                       const int *lda, double *w, double *work, const int *lwork, int *iwork,
                       const int *liwork, int *info, size_t jobz_len, size_t uplo_len);
typedef void dgelsd_fn(const int *m, const int *n, const int *nrhs, double *a, const int *lda,
                       double *b, const int *ldb, double *s, const double *rcond, int *rank,
                       double *work, const int *lwork, int *iwork, int *info);
typedef void dpotrf_fn(const char *uplo, const int *n, double *a, const int *lda, int *info,
                       size_t uplo_len);
typedef void dpotrs_fn(const char *uplo, const int *n, const int *nrhs, const double *a,
                       const int *lda, double *b, const int *ldb, int *info, size_t uplo_len);

static const char *const default_names[] = {"liblapack.so.3", "libopenblas.so.0", "liblapack.so"};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *lib;              /* written once under load_once, read-only after */
static char lib_name[256];     /* the name that loaded (or was tried last) */
static char load_error[256];   /* dlerror() of the last failed attempt */
static bool from_env;          /* $KILN_LAPACK named the library */

static void load(void) {
    const char *env = getenv("KILN_LAPACK");
    if (env && *env) {
        from_env = true;
        snprintf(lib_name, sizeof lib_name, "%s", env);
        lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
    } else {
        for (size_t i = 0; i < sizeof default_names / sizeof default_names[0] && !lib; i++) {
            snprintf(lib_name, sizeof lib_name, "%s", default_names[i]);
            lib = dlopen(default_names[i], RTLD_NOW | RTLD_LOCAL);
        }
    }
    if (!lib) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "%s", e ? e : "not found");
    }
}

bool kn__lapack_available(void) {
    pthread_once(&load_once, load);
    return lib != NULL;
}

kn_status kn__lapack_require(kn_ctx *ctx, const char *who) {
    if (kn__lapack_available()) return KN_OK;
    if (from_env)
        return kn__error(ctx, KN_ERR_UNSUPPORTED, "%s needs LAPACK: KILN_LAPACK=%s could not be loaded (%s)",
                         who, lib_name, load_error);
    return kn__error(ctx, KN_ERR_UNSUPPORTED,
                     "%s needs LAPACK: install liblapack3 or libopenblas0 (scripts/deps.sh does)", who);
}

/* The routines, each looked up on first use. A race between two first uses is harmless:
 * both store the same address. */
enum { SYM_DSYEVD, SYM_DGELSD, SYM_DPOTRF, SYM_DPOTRS, SYM_COUNT };
static const char *const sym_names[SYM_COUNT] = {"dsyevd_", "dgelsd_", "dpotrf_", "dpotrs_"};
static _Atomic(void *) syms[SYM_COUNT];

/* The address of routine id, or NULL with the context's error set. who names the caller's
 * job in the message ("eigendecomposition"). */
static void *sym(kn_ctx *ctx, int id, const char *who) {
    void *p = atomic_load_explicit(&syms[id], memory_order_acquire);
    if (p) return p;
    if (kn__lapack_require(ctx, who) != KN_OK) return NULL;
    p = dlsym(lib, sym_names[id]);
    if (!p) {
        kn__error(ctx, KN_ERR_UNSUPPORTED, "%s needs LAPACK's %s, which %s does not have", who,
                  sym_names[id], lib_name);
        return NULL;
    }
    atomic_store_explicit(&syms[id], p, memory_order_release);
    return p;
}

/* A workspace size LAPACK returned as a double, as an int; false when it does not fit. */
static bool work_size(double q, int *out) {
    if (!(q >= 1.0)) q = 1.0;
    q = ceil(q);
    if (q > (double)INT_MAX) return false;
    *out = (int)q;
    return true;
}

/* No NaN or infinity in the m x n column-major block of a (leading dimension ld). */
static bool block_finite(const double *a, int m, int n, int ld) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++)
            if (!isfinite(a[(size_t)j * (size_t)ld + (size_t)i])) return false;
    return true;
}

/* Upper triangle of an n x n column-major matrix is finite. */
static bool upper_finite(const double *a, int n) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i <= j; i++)
            if (!isfinite(a[(size_t)j * (size_t)n + (size_t)i])) return false;
    return true;
}

kn_status kn__lapack_syevd(kn_ctx *ctx, int n, double *a, double *w) {
    static const char *who = "eigendecomposition (LAPACK dsyevd)";
    if (n < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: n = %d", who, n);
    dsyevd_fn *f = (dsyevd_fn *)sym(ctx, SYM_DSYEVD, who);
    if (!f) return KN_ERR_UNSUPPORTED;
    if (n == 0) return KN_OK;
    if (!upper_finite(a, n)) return kn__error(ctx, KN_ERR_NUMERIC, "%s: the matrix has NaN or infinity", who);

    int lwork = -1, liwork = -1, info = 0, iq = 0;
    double q = 0;
    f("V", "U", &n, a, &n, w, &q, &lwork, &iq, &liwork, &info, 1, 1);
    if (info != 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: workspace query failed (info %d)", who, info);
    if (!work_size(q, &lwork) || !work_size((double)iq, &liwork))
        return kn__error(ctx, KN_ERR_UNSUPPORTED, "%s: a %d x %d matrix needs more workspace than LAPACK can index", who, n, n);
    double *work = kn__calloc(ctx, (size_t)lwork, sizeof *work);
    int *iwork = kn__calloc(ctx, (size_t)liwork, sizeof *iwork);
    if (!work || !iwork) {
        kn__free(ctx, work);
        kn__free(ctx, iwork);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: no memory for the workspace of a %d x %d matrix", who, n, n);
    }
    f("V", "U", &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    kn__free(ctx, work);
    kn__free(ctx, iwork);
    if (info < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: argument %d is invalid", who, -info);
    if (info > 0) return kn__error(ctx, KN_ERR_NUMERIC, "%s did not converge (info %d)", who, info);
    return KN_OK;
}

kn_status kn__lapack_gelsd(kn_ctx *ctx, int m, int n, int nrhs, double *a, int lda, double *b,
                           int ldb, double rcond, int *rank) {
    static const char *who = "least squares (LAPACK dgelsd)";
    int mn = m < n ? m : n, mx = m > n ? m : n;
    if (m < 0 || n < 0 || nrhs < 0 || lda < (m > 1 ? m : 1) || ldb < (mx > 1 ? mx : 1))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: bad sizes m %d n %d nrhs %d lda %d ldb %d",
                         who, m, n, nrhs, lda, ldb);
    dgelsd_fn *f = (dgelsd_fn *)sym(ctx, SYM_DGELSD, who);
    if (!f) return KN_ERR_UNSUPPORTED;
    if (rank) *rank = 0;
    if (m == 0 || n == 0 || nrhs == 0) {
        /* the minimum-norm solution of an empty system is zero */
        for (int j = 0; j < nrhs; j++)
            for (int i = 0; i < n; i++) b[(size_t)j * (size_t)ldb + (size_t)i] = 0;
        return KN_OK;
    }
    if (!block_finite(a, m, n, lda) || !block_finite(b, m, nrhs, ldb))
        return kn__error(ctx, KN_ERR_NUMERIC, "%s: the system has NaN or infinity", who);

    int lwork = -1, info = 0, rk = 0, iq = 0;
    double q = 0, sq = 0;
    f(&m, &n, &nrhs, a, &lda, b, &ldb, &sq, &rcond, &rk, &q, &lwork, &iq, &info);
    if (info != 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: workspace query failed (info %d)", who, info);
    int liwork = 0;
    if (!work_size(q, &lwork) || !work_size((double)iq, &liwork))
        return kn__error(ctx, KN_ERR_UNSUPPORTED, "%s: a %d x %d system needs more workspace than LAPACK can index", who, m, n);
    double *work = kn__calloc(ctx, (size_t)lwork, sizeof *work);
    int *iwork = kn__calloc(ctx, (size_t)liwork, sizeof *iwork);
    double *s = kn__calloc(ctx, (size_t)mn, sizeof *s);
    if (!work || !iwork || !s) {
        kn__free(ctx, work);
        kn__free(ctx, iwork);
        kn__free(ctx, s);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: no memory for the workspace of a %d x %d system", who, m, n);
    }
    f(&m, &n, &nrhs, a, &lda, b, &ldb, s, &rcond, &rk, work, &lwork, iwork, &info);
    kn__free(ctx, work);
    kn__free(ctx, iwork);
    kn__free(ctx, s);
    if (info < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: argument %d is invalid", who, -info);
    if (info > 0) return kn__error(ctx, KN_ERR_NUMERIC, "%s: the SVD did not converge (info %d)", who, info);
    if (rank) *rank = rk;
    return KN_OK;
}

kn_status kn__lapack_posv(kn_ctx *ctx, int n, int nrhs, double *a, double *b) {
    static const char *who = "Cholesky solve (LAPACK dpotrf/dpotrs)";
    if (n < 0 || nrhs < 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: bad sizes n %d nrhs %d", who, n, nrhs);
    dpotrf_fn *factor = (dpotrf_fn *)sym(ctx, SYM_DPOTRF, who);
    if (!factor) return KN_ERR_UNSUPPORTED;
    dpotrs_fn *solve = (dpotrs_fn *)sym(ctx, SYM_DPOTRS, who);
    if (!solve) return KN_ERR_UNSUPPORTED;
    if (n == 0 || nrhs == 0) return KN_OK;
    if (!upper_finite(a, n) || !block_finite(b, n, nrhs, n))
        return kn__error(ctx, KN_ERR_NUMERIC, "%s: the system has NaN or infinity", who);

    int info = 0;
    factor("U", &n, a, &n, &info, 1);
    if (info < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: argument %d is invalid", who, -info);
    if (info > 0)
        return kn__error(ctx, KN_ERR_NUMERIC, "%s: the %d x %d matrix is not positive definite (leading minor of order %d)",
                         who, n, n, info);
    solve("U", &n, &nrhs, a, &n, b, &n, &info, 1);
    if (info != 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: argument %d is invalid", who, -info);
    return KN_OK;
}
