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
void kn__svm_cache_swap(kn__svm_cache *c, int32_t i, int32_t j);

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
    pthread_mutex_t lock; /* allocation from the pool's threads goes through ctx one at a time */
} kn__svm_shared;

void *kn__svm_shared_alloc(kn__svm_shared *sh, size_t size);
void kn__svm_shared_free(kn__svm_shared *sh, void *p);
/* One problem of LIBSVM's form on rows[0..l) of sh->x (a row may appear twice): labels y
 * (+1/-1), bounds C, linear term p (NULL: -1 everywhere, C-SVC's). alpha_out (l) gets
 * y_i alpha_i in the caller's order. False when out of memory. */
bool kn__svm_solve_binary(kn__svm_shared *sh, const int64_t *rows, const int8_t *y, const double *C, const double *p,
                          int32_t l, double *alpha_out, double *rho, double *obj, int64_t *iters);

/* epsilon-SVR's problem over rows[0..n) of sh->x: 2n variables, variable v < n row v with
 * y = +1, v >= n row v - n with y = -1; bounds C (2n) and linear term p (2n). alpha_out (2n)
 * gets y_v alpha_v. Kernel rows are cached by row, as LIBSVM's SVR_Q does. */
bool kn__svm_solve_svr(kn__svm_shared *sh, const int64_t *rows, int32_t n, const double *C, const double *p, double *alpha_out,
                       double *rho, double *obj, int64_t *iters);

/* ------------------------------------------------------------------ shared by the fits (svm_kernel.c) */

kn_status kn__svm_check_opts(kn_ctx *ctx, const kn__svm_opts *o, int k);
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
