/* linear.h — linear models: least squares / ridge regression (linear.c) and logistic
 * regression (logistic.c), fitted as scikit-learn's LinearRegression, Ridge and
 * LogisticRegression (lbfgs) fit them, into one struct of flat arrays (saved as tensors).
 * Limits: one regression target; the data must fit in memory as float32 (classic.h). */
#ifndef KN_CLASSIC_LINEAR_H
#define KN_CLASSIC_LINEAR_H

#include "classic/classic.h"

/* A fitted linear model: decision = x . coef[k]^T + intercept[k]. Owns its arrays (allocated
 * through the fitting call's ctx; free with kn__linear_free on the same ctx). */
typedef struct kn__linear {
    int64_t k, d;     /* rows of coef: 1 for regression and binary classification, else classes */
    float *coef;      /* (k, d) */
    float *intercept; /* (k); zeros without fit_intercept */
    int n_iter;       /* iterations the solver ran (0 for the direct solvers; the largest over
                         the classes for one-vs-rest) */
} kn__linear;

/* Frees m's arrays and zeroes it; m may be NULL, zeroed or already freed. */
void kn__linear_free(kn_ctx *ctx, kn__linear *m);

/* out (n, k) = x (n, d) . coef^T (d, k) + intercept: kiln's blocked sgemm on the calling
 * thread. Never allocates. */
void kn__linear_decision(const kn__linear *m, const float *x, int64_t n, float *out);

/* ------------------------------------------------------------------ linear regression */

/* Least squares (alpha = 0) or ridge: minimizes sum_i w_i (t_i - x_i.b - b0)^2 + alpha ||b||^2
 * (the intercept b0 is not penalized), as LinearRegression / Ridge(alpha) do. */
typedef struct kn__linreg_opts {
    double alpha;         /* >= 0: 0 = ordinary least squares, > 0 = ridge (sklearn Ridge's alpha). Default 0 */
    bool fit_intercept;   /* default true: x and t are centered (weighted by w) before solving */
    const char *solver;   /* NULL or "auto": Cholesky on the normal equations (in double) when
                             ridge or well conditioned, else the minimum-norm least-squares
                             solution by SVD (LAPACK dgelsd, as sklearn's lstsq);
                             "cholesky", "svd": that one only (cholesky fails with KN_ERR_NUMERIC
                             on a singular OLS problem); "sgd": minibatch SGD (or Adam) on the
                             mean squared error through kiln's graph engine (the settings below) */
    /* "sgd" only: */
    int max_iter;         /* epochs, >= 1. Default 100 */
    double learning_rate; /* > 0. Default 0.01 */
    int batch_size;       /* >= 1. Default 32 */
    bool adam;            /* Adam instead of plain SGD. Default false */
    uint64_t seed;        /* shuffling and nothing else (the weights start at zero) */
} kn__linreg_opts;

/* The defaults above. */
kn__linreg_opts kn__linreg_defaults(void);

/* Fits xy->t (xy->y ignored) into *out (opts NULL: defaults), the Gram matrix on
 * kn_ctx_threads(ctx) threads (the result does not depend on them). On failure *out is zeroed and
 * kn_last_error(ctx) says why: KN_ERR_INVALID_ARGUMENT naming the bad field
 * ("linear_regression.alpha: -1 must be >= 0", a NaN in x), KN_ERR_UNSUPPORTED when the
 * solver needs LAPACK and none can be loaded, KN_ERR_NUMERIC, KN_ERR_OUT_OF_MEMORY. */
kn_status kn__linreg_fit(kn_ctx *ctx, const kn__xy *xy, const kn__linreg_opts *opts, kn__linear *out);

/* ------------------------------------------------------------------ elastic net and lasso (enet.c) */

/* Minimizes 1/(2 sum w) sum_i w_i (t_i - x_i.b - b0)^2 + alpha l1_ratio |b|_1
 * + alpha (1 - l1_ratio) / 2 |b|^2, as scikit-learn's ElasticNet (Lasso: l1_ratio 1), by its
 * coordinate descent and duality-gap stopping rule: the same iterates and iteration count
 * (n_iter) with cyclic selection. */
typedef struct kn__enet_opts {
    double alpha;          /* >= 0 (1.0) */
    double l1_ratio;       /* [0, 1] (0.5; the lasso's 1) */
    bool fit_intercept;    /* (true) */
    bool positive;         /* (false) coefficients kept >= 0 */
    bool random_selection; /* (false: cyclic) a random coordinate each step, from seed */
    int max_iter;          /* sweeps, >= 1 (1000) */
    double tol;            /* >= 0 (1e-4) */
    uint64_t seed;
} kn__enet_opts;

kn__enet_opts kn__enet_defaults(void);

/* Fits xy->t into *out (k = 1); who names the model in messages ("lasso"). Not converging is a
 * warning, not an error. Errors: KN_ERR_INVALID_ARGUMENT (options, non-finite data, weights),
 * KN_ERR_OUT_OF_MEMORY (it keeps x as n x d doubles). */
kn_status kn__enet_fit(kn_ctx *ctx, const kn__xy *xy, const kn__enet_opts *opts, const char *who, kn__linear *out);

/* The coefficient of determination 1 - sum w (t - p)^2 / sum w (t - mean_w t)^2 (w may be
 * NULL), as sklearn's r2_score: when t is constant, 1 if the predictions are exact, else 0. */
double kn__r2_score(const float *t, const float *pred, const float *w, int64_t n);

/* ------------------------------------------------------------------ logistic regression */

/* scikit-learn's LogisticRegression objective, minimized:
 *   l2:   C * sum_i w_i * logloss_i + 0.5 * ||coef||^2
 *   l1:   C * sum_i w_i * logloss_i + ||coef||_1
 *   none: sum_i w_i * logloss_i
 * (the intercept is never penalized). Two classes: one row of coef, the sigmoid of its
 * decision is the probability of class 1. More: one row per class, the softmax
 * (multinomial), or one binary model per class (ovr). */
typedef struct kn__logreg_opts {
    double C;                /* > 0: inverse regularization strength. Default 1 */
    const char *penalty;     /* NULL or "l2" (default), "l1", "none" */
    int max_iter;            /* >= 0: solver iterations. Default 100 */
    double tol;              /* >= 0: stop when the largest |(pseudo-)gradient| of
                                objective / C is <= tol (scipy L-BFGS-B's pgtol, as sklearn
                                passes it), or when the objective stops falling (relative
                                change <= 2.2e-9, scipy's default ftol). Default 1e-4 */
    bool fit_intercept;      /* default true */
    const char *multi_class; /* more than 2 classes: NULL or "auto" = "multinomial", "ovr".
                                Two classes are always the binomial model (sklearn's "auto";
                                its explicit "multinomial" on 2 classes is not offered) */
    int threads;             /* 0: kn_ctx_threads(ctx). The result never depends on it */
} kn__logreg_opts;

/* The defaults above. */
kn__logreg_opts kn__logreg_defaults(void);

/* Fits xy->y (xy->n_classes >= 2; xy->t ignored) into *out (opts NULL: defaults): L-BFGS with
 * a Moré-Thuente line search (as scipy's L-BFGS-B without bounds) for l2 and none, OWL-QN for
 * l1. Not converging within max_iter is not an error (a WARN line is logged, as sklearn
 * warns); out->n_iter says how many ran. Errors as kn__linreg_fit's. */
kn_status kn__logreg_fit(kn_ctx *ctx, const kn__xy *xy, const kn__logreg_opts *opts, kn__linear *out);

/* Class probabilities out (n, classes): classes = 2 when m->k == 1, else m->k. Never allocates. */
void kn__logreg_proba(const kn__linear *m, const float *x, int64_t n, float *out);

/* Predicted classes (the largest decision; decision > 0 for class 1 when m->k == 1), using
 * scores (n, k) as scratch. Never allocates. */
void kn__logreg_predict(const kn__linear *m, const float *x, int64_t n, float *scores, int32_t *out);

/* The objective above (for opts' penalty and C) of model m on xy, in double; threads as in
 * the fit. For tests and reports. */
kn_status kn__logreg_objective(kn_ctx *ctx, const kn__xy *xy, const kn__logreg_opts *opts,
                               const kn__linear *m, double *out);

/* Mean log-loss (weighted by xy->w when given) of m on xy, as sklearn's log_loss. */
double kn__logreg_log_loss(const kn__linear *m, const kn__xy *xy);

/* ------------------------------------------------------------------ shared by linear.c and logistic.c */

/* Allocates m's coef (k, d) and intercept (k), zeroed (m is zeroed first). */
kn_status kn__linear_alloc(kn_ctx *ctx, int64_t k, int64_t d, kn__linear *m);
/* kn__linear_decision into rows of stride ldo >= k: out[i*ldo + c]. */
void kn__linear_decision_ld(const kn__linear *m, const float *x, int64_t n, float *out, int64_t ldo);
/* x present and finite, n, d >= 1; w (when given) finite, >= 0 and not all 0. who prefixes
 * the messages ("logistic_regression.sample_weight: ..."). */
kn_status kn__linear_check_data(kn_ctx *ctx, const kn__xy *xy, const char *who);

#endif
