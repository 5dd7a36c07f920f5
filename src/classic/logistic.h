/* logistic.h — internal to logistic regression (logistic*.c; linear.h is its API): the
 * problem over the rows and the objective (logistic_loss.c), the minimizers' state
 * (logistic_lbfgs.c), as the fit (logistic.c) sets them up. */
#ifndef KN_CLASSIC_LOGISTIC_H
#define KN_CLASSIC_LOGISTIC_H

#include "classic/linear.h"

#define WHO "logistic_regression"

typedef enum { PEN_L2, PEN_L1, PEN_NONE } penalty_kind;

enum {
    BLOCK_ROWS = 64,     /* rows whose logits and residuals are computed together (x_b: 200 KB at d = 784) */
    MEMORY = 10,         /* L-BFGS corrections (scipy's maxcor) */
};

/* ------------------------------------------------------------------ loss and gradient (logistic_loss.c) */

typedef struct kn__logreg_problem {
    const float *x;      // (n, d)
    const int32_t *y;    // (n) labels
    const float *w;      // (n) or NULL
    int64_t n, d, k;     // k: 1 (binary: the target is y == pos), else classes (softmax)
    int32_t pos;
    int threads;
    int64_t chunk_rows, n_chunks;
    /* logits, block-major: block b's (k, rows) at b * k * BLOCK_ROWS, row-contiguous */
    double *z0;          // at the current point
    double *z1;          // at the trial point: z0 + alpha * zd
    float *zd;           // X step (+ the step's intercept)
    /* one evaluation's request */
    bool compute_step;   // zd = X step from step_coef, step_icpt (else zd is reused)
    double alpha;
    bool need_grad;
    float *step_coef;    // (k, d)
    float *step_icpt;    // (k)
    /* per chunk */
    float *part_g;       // (n_chunks, k, d) gradient of sum w loss
    double *part_gi;     // (n_chunks, k) its intercept part
    double *part_f;      // (n_chunks) sum w loss
    float *resid;        // (n_chunks, k, BLOCK_ROWS) residuals, float for the GEMM
    double *work;        // (n_chunks, k + 2, BLOCK_ROWS)
} kn__logreg_problem;

double kn__logreg_loss_grad(kn__logreg_problem *pb, const double *step, double alpha, bool intercept, double *grad);
void kn__logreg_accept_trial(kn__logreg_problem *pb);
void kn__logreg_problem_free(kn_ctx *ctx, kn__logreg_problem *pb);
kn_status kn__logreg_problem_init(kn_ctx *ctx, kn__logreg_problem *pb, const kn__xy *xy, int64_t k, int threads);

/* ------------------------------------------------------------------ the objective (logistic_loss.c) */

typedef struct kn__logreg_objective_fn {
    kn__logreg_problem *pb;
    penalty_kind penalty;
    double lambda;        /* 1 / C (0 for none) */
    bool intercept;
    int64_t n_penalized;  /* the coef part of theta: k * d */
    int64_t size;         /* theta's length */
} kn__logreg_objective_fn;

double kn__logreg_evaluate(kn__logreg_objective_fn *ob, const double *theta, const double *step, double alpha,
                           double *grad);
double kn__logreg_l1_norm(const double *theta, int64_t n);
double kn__logreg_max_abs(const double *v, int64_t n);
double kn__logreg_dot(const double *a, const double *b, int64_t n);

/* ------------------------------------------------------------------ L-BFGS and OWL-QN (logistic_lbfgs.c) */

typedef struct kn__logreg_memory {
    int64_t size;
    double *s, *y;        // (MEMORY, size) each, a ring
    double rho[MEMORY], alpha[MEMORY];
    int count, head;      // pairs held; the slot the next pair goes to
    double gamma;         // H0 = gamma I: s'y / y'y of the newest pair
} kn__logreg_memory;

typedef struct kn__logreg_work {
    double *g, *x0, *g0, *d, *s, *y, *pg; // (size) each
    kn__logreg_memory mem;
} kn__logreg_work;

/* Result of a solve: iterations and whether the stopping rule (not max_iter) ended it. */
typedef struct kn__logreg_solve_result {
    int iterations;
    bool converged;
} kn__logreg_solve_result;

kn__logreg_solve_result kn__logreg_lbfgs(kn__logreg_objective_fn *ob, kn__logreg_work *wk, double *theta, int max_iter,
                                         double tol);
kn__logreg_solve_result kn__logreg_owlqn(kn__logreg_objective_fn *ob, kn__logreg_work *wk, double *theta, int max_iter,
                                         double tol);
void kn__logreg_work_free(kn_ctx *ctx, kn__logreg_work *wk);
kn_status kn__logreg_work_init(kn_ctx *ctx, kn__logreg_work *wk, int64_t n);

#endif
