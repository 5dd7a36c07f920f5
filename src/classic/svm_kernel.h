/* svm_kernel.h — internal to the kernel SVM (svm_kernel*.c; svm.h is its API): what its files
 * share, the kernel functions and row cache (svm_kernel_cache.c), one binary problem's solver
 * (svm_kernel_smo.c) and Platt's probabilities (svm_kernel_platt.c). svm_kernel.c describes
 * the whole. */
#ifndef KN_CLASSIC_SVM_KERNEL_H
#define KN_CLASSIC_SVM_KERNEL_H

#include <pthread.h>

#include "classic/svm.h"

#define SWAP(type, a, b) \
    do {                 \
        type t_ = (a);   \
        (a) = (b);       \
        (b) = t_;        \
    } while (0)

/* ------------------------------------------------------------------ kernel values (svm_kernel_cache.c) */

typedef struct {
    int kernel, degree;
    float gamma, coef0;
} kn__svm_kparams;

void kn__svm_kernel_map(const kn__svm_kparams *kp, float *v, int64_t n, float sa, const float *sb);
double kn__svm_kernel_self(const kn__svm_kparams *kp, double sq);
float kn__svm_sqnorm(const float *x, int64_t d);
double kn__svm_dot_ff(const float *restrict a, const float *restrict b, int64_t n);

/* ------------------------------------------------------------------ kernel row cache (svm_kernel_cache.c) */

/* LIBSVM's Cache over fixed slots: head i holds row i's slot and the length [0, len) filled;
 * rows with len > 0 are on a circular LRU list (sentinel: head l), oldest first. */
typedef struct {
    int32_t prev, next, slot, len;
} kn__svm_cache_head;

typedef struct {
    int32_t l, n_slots, n_free;
    kn__svm_cache_head *h; /* (l + 1) */
    int32_t *free;         /* (n_slots) free slot numbers */
    float *slab;           /* (n_slots, l) */
} kn__svm_cache;

void kn__svm_lru_insert(kn__svm_cache *c, int32_t i, bool newest);
void kn__svm_cache_init(kn__svm_cache *c);
float *kn__svm_cache_get(kn__svm_cache *c, int32_t i, int32_t len, int32_t *start);
/* Swapping positions i and j (LIBSVM's Cache::swap_index) in two halves: the heads at once
 * (kn__svm_cache_swap_heads), the cached rows' columns for a whole batch of swaps later
 * (kn__svm_cache_swap_columns, pairs (2 n) in the order they were made). Each cached row takes
 * all of the batch's swaps while it is in cache, where one swap at a time walked every row once
 * per swap (on Friedman #1 as classes, 10,000 rows of 10 features, 57% of an SVC fit); a row
 * holding the lower position of a swap but not the higher is dropped, as LIBSVM drops it. The
 * rows' contents come out the same; only the order of least recent use may differ. */
void kn__svm_cache_swap_heads(kn__svm_cache *c, int32_t i, int32_t j);
void kn__svm_cache_swap_columns(kn__svm_cache *c, const int32_t *pairs, int32_t n);

static inline float *kn__svm_slot_data(const kn__svm_cache *c, int32_t i) {
    return c->slab + (int64_t)c->h[i].slot * c->l;
}

/* ------------------------------------------------------------------ binary problems (svm_kernel_smo.c) */

/* What every binary problem of one fit shares. Rows are indices into data->x. */
typedef struct {
    kn_ctx *ctx;
    const float *x; /* (n, d) the caller's rows */
    int64_t d;
    kn__svm_kparams kp;
    const kn__svm_opts *o;
    size_t cache_bytes;
    int gemm_threads;     /* threads a kernel-row product may use: the context's when one problem
                             is solved at a time (a binary SVC, an SVR), else 1 (each pair on a thread) */
    pthread_mutex_t lock; /* allocation from the pool's threads goes through ctx one at a time */
} kn__svm_shared;

void *kn__svm_shared_alloc(kn__svm_shared *sh, size_t size);
void kn__svm_shared_free(kn__svm_shared *sh, void *p);
/* One problem of LIBSVM's form on rows[0..l) of sh->x (a row may appear twice): labels y
 * (+1/-1), bounds C, linear term p (NULL: -1 everywhere, C-SVC's). alpha_out (l) gets
 * y_i alpha_i in the caller's order. False when out of memory. */
bool kn__svm_solve_binary(kn__svm_shared *sh, const int64_t *rows, const int8_t *y, const double *C, const double *p,
                          int32_t l, double *alpha_out, double *rho, double *obj, int64_t *iters);

/* A problem of LIBSVM's form in general: variables over rows of sh->x, a starting point, and
 * which solver (Solver or Solver_NU). */
typedef struct {
    const int64_t *rows;  /* (n_rows) rows of sh->x (a row once; the SVR's variables share them) */
    int32_t n_rows;
    bool svr;             /* 2 n_rows variables: v < n_rows is row v with y = +1, v >= n_rows row
                             v - n_rows with y = -1 (the kernel cached by row: LIBSVM's SVR_Q);
                             else n_rows variables, v is row v (SVC_Q) */
    const int8_t *y;      /* (variables) +1/-1; unused with svr */
    const double *C;      /* (variables) upper bounds */
    const double *p;      /* (variables) the linear term, or NULL: -1 everywhere */
    const double *alpha0; /* (variables) the starting point in [0, C], or NULL: 0 */
    bool nu;              /* Solver_NU (nu-SVC, nu-SVR): both y'a and each sign's sum fixed by alpha0 */
} kn__svm_problem;

typedef struct {
    double rho, obj;
    double r;             /* Solver_NU's r ((r1 + r2) / 2), else 0 */
    int64_t iters;
} kn__svm_solution;

/* Solves pb: alpha_out (variables) gets y_v alpha_v. False when out of memory. */
bool kn__svm_solve(kn__svm_shared *sh, const kn__svm_problem *pb, double *alpha_out, kn__svm_solution *sol);
/* One binary classification problem as sh->o says: C-SVC (C the rows' bounds, C times their
 * weights), or nu-SVC when sh->o->nu > 0 (C the rows' weights; LIBSVM's solve_nu_svc, the
 * result scaled by 1 / r as LIBSVM scales it). alpha_out (l) gets y_i alpha_i. */
bool kn__svm_solve_svc(kn__svm_shared *sh, const int64_t *rows, const int8_t *y, const double *C, int32_t l, double *alpha_out,
                       double *rho, double *obj, int64_t *iters);

/* ------------------------------------------------------------------ shared by the fits (svm_kernel.c) */

kn_status kn__svm_check_opts(kn_ctx *ctx, const kn__svm_opts *o, int k);
/* sh's kernel (gamma resolved over x (nd values, d features), into *gamma too), cache size and
 * lock, for a fit of ctx over x; kn__svm_shared_done undoes it. An error (no mutex) leaves
 * nothing to undo. */
kn_status kn__svm_shared_init(kn__svm_shared *sh, kn_ctx *ctx, const kn__svm_opts *o, const float *x, size_t nd, int64_t d,
                              double *gamma);
void kn__svm_shared_done(kn__svm_shared *sh);
/* A fitted model's kernel: the options' with gamma resolved. */
void kn__svm_set_kernel(kn__svm *m, const kn__svm_opts *o, double gamma);
/* gamma as the fit uses it: 'scale' is 1 / (d var(x)) over every value of x (1 when var is 0),
 * 'auto' 1 / d. */
double kn__svm_resolve_gamma(const kn__svm_opts *o, const float *x, size_t nd, int64_t d);

/* ------------------------------------------------------------------ epsilon-SVR (svm_kernel_svr.c) */

/* kn__svm_fit for regression data (data->t; n_classes 0). */
kn_status kn__svm_fit_svr(kn_ctx *ctx, const kn__xy *data, const kn__svm_opts *opts, kn__svm *out);

/* ------------------------------------------------------------------ Platt scaling (svm_kernel_platt.c) */

double kn__svm_sigmoid_predict(double f, double A, double B);
bool kn__svm_binary_probability(kn__svm_shared *sh, const int64_t *rows, const int8_t *y, const double *C, int32_t l,
                                int64_t pair, double *prob_a, double *prob_b);
void kn__svm_multiclass_probability(int k, const double *r, double *p, double *Q, double *qp);

#endif
