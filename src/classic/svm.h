/* svm.h — support vector machines as LIBLINEAR and LIBSVM define them (scikit-learn's
 * LinearSVC and SVC): a linear SVM fitted by dual coordinate descent (svm_linear.c) and a
 * kernel SVM fitted by SMO (svm_kernel.c). Both fit into flat structs of arrays (saved as
 * tensors by io/) and predict from them. classic.h's conventions hold: x (n, d) row-major
 * float32, labels int32 in [0, n_classes), sample weights w (n) or NULL, every bad
 * hyperparameter refused with KN_ERR_INVALID_ARGUMENT naming it, results independent of the
 * thread count (kn_ctx_threads(ctx)).
 *
 * Where kiln differs from the libraries on purpose: randomness comes from kn__rng_u64 (so the
 * permutations, hence the last digits of an unconverged fit, differ from scikit-learn's);
 * LIBSVM's kernel cache is kept as fixed-size rows in one block (see svm_kernel.c). */
#ifndef KN_CLASSIC_SVM_H
#define KN_CLASSIC_SVM_H

#include "classic/classic.h"

/* ------------------------------------------------------------------ linear SVM (LIBLINEAR) */

typedef enum {
    KN_SVM_SQUARED_HINGE = 0, /* L2-loss: max(0, 1 - y w.x)^2 (LinearSVC's default) */
    KN_SVM_HINGE = 1,         /* L1-loss: max(0, 1 - y w.x) */
    /* regression (LinearSVR): */
    KN_SVM_EPSILON_INSENSITIVE = 2,         /* max(0, |t - w.x| - epsilon) (LinearSVR's default) */
    KN_SVM_SQUARED_EPSILON_INSENSITIVE = 3, /* max(0, |t - w.x| - epsilon)^2 */
} kn_svm_loss;

/* Hyperparameters, named and defaulted as scikit-learn's LinearSVC(dual=True, penalty='l2',
 * multi_class='ovr') and LinearSVR(dual=True): start from kn__svm_linear_defaults() and change
 * fields (a regression fit needs an epsilon loss). */
typedef struct kn__svm_linear_opts {
    kn_svm_loss loss;         /* squared hinge (classification), an epsilon loss (regression) */
    double epsilon;           /* >= 0 (0): regression only, the tube within which errors cost nothing */
    double C;                 /* > 0 (1): each sample's bound is C * w_i */
    double tol;               /* > 0 (1e-4): stop when max - min projected gradient <= tol */
    int max_iter;             /* > 0 (1000): passes over the data per binary problem */
    bool fit_intercept;       /* (true): the bias is an extra feature of value intercept_scaling,
                                 regularized like the others, as LIBLINEAR does */
    double intercept_scaling; /* > 0 (1) */
    uint64_t seed;            /* (0) the per-pass random permutations (sklearn's random_state) */
} kn__svm_linear_opts;

kn__svm_linear_opts kn__svm_linear_defaults(void);

/* A fitted linear SVM: decision(x) = x . coef[c] + intercept[c]. Binary problems (n_classes
 * == 2) have k = 1 and a positive decision means class 1; otherwise k = n_classes, one
 * one-vs-rest classifier per class, and the largest decision wins. A regression fit
 * (regression = true) has k = 1 and its decision is the prediction. Arrays are kn__alloc'd
 * through the fitting context; free with kn__svm_linear_free. */
typedef struct kn__svm_linear {
    int64_t k, d;
    float *coef;      /* (k, d) */
    float *intercept; /* (k); 0 without fit_intercept */
    int n_iter;       /* passes of the binary problem that took the most (sklearn's n_iter_) */
    bool regression;
} kn__svm_linear;

/* Fits data (y and n_classes >= 2 required; w optional, >= 0: rows of weight 0 are left out).
 * Class weights are folded into w by the caller (classic.h): binary problems are then
 * LIBLINEAR's, but in a one-vs-rest fit each row keeps its class's weight in every problem,
 * where LIBLINEAR gives "the rest" plain C. Each class of a one-vs-rest fit is an independent
 * problem; one group of them per thread is solved in lockstep over a shared random order of
 * the rows each pass (drawn from (opts->seed, pass), so no result depends on the grouping).
 * Not converging within max_iter is not an error: a KN_LOG_WARN line says so and n_iter ==
 * max_iter. On failure *out is zeroed. */
kn_status kn__svm_linear_fit(kn_ctx *ctx, const kn__xy *data, const kn__svm_linear_opts *opts,
                             kn__svm_linear *out);
/* Regression data (t, n_classes 0, no y; w optional, >= 0, multiplying C): LIBLINEAR's
 * solve_l2r_l1l2_svr (dual coordinate descent with shrinking; Ho and Lin, 2012) for
 * opts->loss epsilon_insensitive (L1) or squared_epsilon_insensitive (L2), the bias an extra
 * regularized feature as in classification. kn__svm_linear_fit calls it for such data.
 * (svm_linear_svr.c) */
kn_status kn__svm_linear_fit_svr(kn_ctx *ctx, const kn__xy *data, const kn__svm_linear_opts *opts, kn__svm_linear *out);
/* Every hyperparameter checked for the task (the loss must be one of its own). */
kn_status kn__svm_linear_check_opts(kn_ctx *ctx, const kn__svm_linear_opts *o, bool regression);
/* Frees m's arrays and zeroes it (m may be zeroed or already freed). */
void kn__svm_linear_free(kn_ctx *ctx, kn__svm_linear *m);

/* dec (n, k) = x (n, d) . coef^T + intercept. Does not allocate; threads as the context's. */
void kn__svm_linear_decision(kn_ctx *ctx, const kn__svm_linear *m, const float *x, int64_t n, float *dec);
/* labels (n): argmax of the decisions (k = 1: class 1 when the decision is > 0). Does not
 * allocate. */
void kn__svm_linear_predict(kn_ctx *ctx, const kn__svm_linear *m, const float *x, int64_t n, int32_t *labels);

/* ------------------------------------------------------------------ kernel SVM (LIBSVM) */

typedef enum { /* LIBSVM's numbering */
    KN_SVM_KERNEL_LINEAR = 0,  /* x.z */
    KN_SVM_KERNEL_POLY = 1,    /* (gamma x.z + coef0)^degree */
    KN_SVM_KERNEL_RBF = 2,     /* exp(-gamma |x - z|^2) */
    KN_SVM_KERNEL_SIGMOID = 3, /* tanh(gamma x.z + coef0) */
} kn_svm_kernel;

/* gamma's named values (sklearn's strings) */
#define KN_SVM_GAMMA_SCALE (-1.0) /* 1 / (d * var(x)), var over every value of x; 1 if var is 0 */
#define KN_SVM_GAMMA_AUTO (-2.0)  /* 1 / d */

/* Hyperparameters, named and defaulted as scikit-learn's SVC and SVR: start from
 * kn__svm_defaults() and change fields. */
typedef struct kn__svm_opts {
    int kernel;                 /* a kn_svm_kernel (rbf) */
    double C;                   /* > 0 (1) */
    double gamma;               /* > 0, or KN_SVM_GAMMA_SCALE (scale) / KN_SVM_GAMMA_AUTO */
    int degree;                 /* >= 0 (3), poly only */
    double coef0;               /* (0) poly and sigmoid */
    double epsilon;             /* >= 0 (0.1) regression only: the tube within which errors cost nothing */
    double nu;                  /* 0 (0), or in (0, 1]: nu-SVC / nu-SVR (sklearn's NuSVC, NuSVR) in place of
                                   C-SVC / epsilon-SVR: a lower bound on the fraction of support vectors
                                   and an upper bound on the fraction of margin errors. NuSVC has no C
                                   (each row's bound is its weight); NuSVR keeps C, and nu sets the tube */
    double tol;                 /* > 0 (1e-3): stop when the maximal violating pair's gap < tol */
    int64_t max_iter;           /* -1 = no limit (-1), else > 0 SMO steps per pair */
    double cache_size;          /* > 0 MB of kernel rows per pair being solved (200) */
    bool shrinking;             /* (true) */
    bool probability;           /* (false) Platt scaling from LIBSVM's internal 5-fold CV */
    const double *class_weight; /* (n_classes) each class's C multiplier, > 0, or NULL (all 1) */
    uint64_t seed;              /* (0) the probability CV's folds (sklearn's random_state) */
} kn__svm_opts;

kn__svm_opts kn__svm_defaults(void);

/* A fitted kernel SVM, laid out as LIBSVM's model. Multiclass is one-vs-one: a classifier
 * for each pair (i, j), i < j, in the order (0,1), (0,2), ..., (1,2), ...; its decision
 *   f_ij(x) = sum over SVs s of classes i and j of coef_ij(s) K(sv_s, x) + intercept[pair]
 * votes for i when > 0, else for j (LIBSVM's sign: sklearn's binary dual_coef_, intercept_
 * and decision_function are the negatives); the most votes win, ties to the lower class.
 * coef_ij(s) = y_s alpha_s (y = +1 for class i, -1 for class j) is stored, as LIBSVM does, in
 * dual_coef[j - 1][s] for s of class i and dual_coef[i][s] for s of class j. Arrays are
 * kn__alloc'd through the fitting context; free with kn__svm_free. */
typedef struct kn__svm {
    int n_classes;
    int64_t n_sv, d;
    float *sv;             /* (n_sv, d) support vectors, grouped by class, in data order within one */
    int64_t *support;      /* (n_sv) the training row each came from */
    int32_t *n_sv_class;   /* (n_classes) */
    float *dual_coef;      /* (n_classes - 1, n_sv) */
    float *intercept;      /* (n_classes * (n_classes - 1) / 2) = -rho */
    int kernel;            /* kn_svm_kernel */
    double gamma;          /* the value used (scale/auto resolved) */
    int degree;
    double coef0;
    float *prob_a, *prob_b; /* (pairs) Platt's P(class i | f) = 1 / (1 + exp(a f + b)), or NULL */
    int64_t n_iter;        /* SMO steps, summed over the pairs */
    bool regression;       /* epsilon-SVR: see below */
} kn__svm;

/* A fitted epsilon-SVR (sklearn's SVR; regression data: n_classes 0 and targets t) is one
 * decision, f(x) = sum_s dual_coef[s] K(sv_s, x) + intercept[0], the prediction itself, with
 * dual_coef = alpha - alpha* (sklearn's dual_coef_) and support vectors in data order. It is
 * laid out as a binary model whose support vectors all belong to class 0's group
 * (regression = true, n_classes = 2, n_sv_class = {n_sv, 0}), so kn__svm_decision (n, 1)
 * gives the predictions; no probabilities, no votes. */

/* Fits data (y, n_classes >= 2, every class present among the rows of positive weight; w
 * optional, >= 0, multiplies each row's C as sklearn's sample_weight does; rows of weight 0 are
 * left out). Regression data (t, n_classes 0, no y) fits an epsilon-SVR: LIBSVM's
 * solve_epsilon_svr, one problem of 2l variables (probability and class_weight refused). The pairs are independent problems solved in parallel, each with its own kernel
 * cache of opts->cache_size MB. max_iter reached is a KN_LOG_WARN, not an error. On failure
 * *out is zeroed. */
kn_status kn__svm_fit(kn_ctx *ctx, const kn__xy *data, const kn__svm_opts *opts, kn__svm *out);
/* Frees m's arrays and zeroes it (m may be zeroed or already freed). */
void kn__svm_free(kn_ctx *ctx, kn__svm *m);

/* Scratch the prediction functions need for n rows (bytes). */
size_t kn__svm_workspace_size(const kn__svm *m, int64_t n, int threads);
/* dec (n, pairs): each pair's decision value for each row of x (n, d). workspace: at least
 * kn__svm_workspace_size(m, n, kn_ctx_threads(ctx)) bytes, 64-byte aligned, or NULL to have
 * it allocated (and freed) here. Rows are taken in blocks (one kernel block against all the
 * SVs a block: sgemm, then the kernel's map), blocks in parallel. */
kn_status kn__svm_decision(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, float *dec, void *workspace);
/* labels (n) by one-vs-one voting. workspace as kn__svm_decision's. */
kn_status kn__svm_predict(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, int32_t *labels, void *workspace);
/* proba (n, n_classes): pairwise Platt probabilities coupled as LIBSVM does (Wu, Lin and
 * Weng's method 2). KN_ERR_STATE when the model was fitted without probability. */
kn_status kn__svm_predict_proba(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, float *proba,
                                void *workspace);

#endif
