/* logistic.c — logistic regression as scikit-learn's LogisticRegression(solver="lbfgs") fits
 * it: the same objective (sum_i w_i logloss_i + penalty / C, intercept unpenalized), the same
 * optimizer (L-BFGS, 10 corrections, Moré-Thuente line search: scipy's L-BFGS-B without
 * bounds, step for step) and the same stopping rule (max |gradient| <= tol, or the objective's
 * relative fall <= 2.2e-9), so iteration counts and unconverged fits compare. l1 runs OWL-QN
 * (L-BFGS on the orthant, backtracking line search) to the same rule on the pseudo-gradient.
 *
 * Loss and gradient: rows in fixed chunks (run by kn__pool_run), each chunk in blocks of 64
 * rows, x_b (64, d) read once per evaluation: the change of the logits along the step,
 * step (k, d) x_b^T by kiln's sgemm, then softmax / sigmoid in double, then the chunk's
 * gradient (k, d) += residuals (k, 64) x_b (64, d) while x_b is still in cache. Chunk
 * partials are summed in double in chunk order: nothing depends on the thread count.
 *
 * Precision: the logits are kept in double and moved by each accepted step, z = z0 + X step,
 * with only X step in float32. The objective is then smooth to double rounding along a line
 * (the line search and the 2.2e-9 stall test see real differences, as scipy's do in double),
 * where logits recomputed in float32 at each trial point would be noisy at 1e-7 of the
 * objective. Along a line search's direction d the product X d is computed once (in the first
 * trial's pass) and reused: later trials cost one GEMM instead of two.
 *
 * Limits: the fit reads x once per evaluation, so it runs at memory speed (Fashion-MNIST:
 * ~25 ms a pass on one core here); chunk partials are capped at 64 MB, so a model of more than
 * ~16M coefficients gets fewer chunks than threads. */
#include "classic/linear.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "core/pool.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#define WHO "logistic_regression"

typedef enum { PEN_L2, PEN_L1, PEN_NONE } penalty_kind;

enum {
    BLOCK_ROWS = 64,     /* rows whose logits and residuals are computed together (x_b: 200 KB at d = 784) */
    CHUNK_BLOCKS = 8,    /* blocks in a chunk of the pool (512 rows) */
    MAX_CHUNKS = 256,    /* at most this many partial gradients ... */
    MEMORY = 10,         /* L-BFGS corrections (scipy's maxcor) */
    MAX_LINE_SEARCH = 20 /* evaluations in one line search (scipy's maxls) */
};
#define PARTIAL_BYTES ((size_t)64 << 20) /* ... and at most 64 MB of them */
#define FTOL 2.220446049250313e-09       /* scipy minimize(method="L-BFGS-B")'s default ftol */

/* ------------------------------------------------------------------ exp in double */

/* y = exp(x) for x <= 0 (x < -708 gives 0): x = n ln2 + r, |r| <= ln2/2, a degree-12 Taylor
 * polynomial (truncation 2e-16 relative), 2^n into the exponent. A smooth function to double
 * rounding, 4 lanes at a time, as libm's exp is one call per value. */
#if defined(__AVX2__) && defined(__FMA__)
static void exp_nonpositive(const double *x, double *y, int64_t n) {
    const __m256d log2e = _mm256_set1_pd(1.4426950408889634), ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01),
                  ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10), lo = _mm256_set1_pd(-708.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_loadu_pd(x + i);
        __m256d under = _mm256_cmp_pd(v, lo, _CMP_LT_OQ);
        v = _mm256_min_pd(_mm256_max_pd(v, lo), _mm256_setzero_pd());
        __m256d k = _mm256_round_pd(_mm256_mul_pd(v, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256d r = _mm256_fnmadd_pd(k, ln2_hi, v);
        r = _mm256_fnmadd_pd(k, ln2_lo, r);
        __m256d p = _mm256_set1_pd(1.0 / 479001600.0);
        static const double c[12] = {1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
                                     1.0 / 720.0,      1.0 / 120.0,     1.0 / 24.0,     1.0 / 6.0,     0.5,
                                     1.0,              1.0};
        for (int q = 0; q < 12; q++) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c[q]));
        __m256i e = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(k)); /* k in [-1022, 0] */
        __m256d scale = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(e, _mm256_set1_epi64x(1023)), 52));
        _mm256_storeu_pd(y + i, _mm256_andnot_pd(under, _mm256_mul_pd(p, scale)));
    }
    for (; i < n; i++) y[i] = x[i] < -708.0 ? 0.0 : exp(x[i]);
}
#else
static void exp_nonpositive(const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < -708.0 ? 0.0 : exp(x[i]);
}
#endif

/* ------------------------------------------------------------------ loss and gradient */

typedef struct problem {
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
} problem;

/* One chunk: its rows' trial logits, sum w loss and gradient. Logits are stored transposed,
 * (k, rows) per block, so the softmax runs along rows: vectorized whatever k is. */
static void chunk_loss(void *p, int64_t chunk) {
    const problem *pb = p;
    int64_t d = pb->d, k = pb->k, r_lo = chunk * pb->chunk_rows;
    int64_t r_hi = r_lo + pb->chunk_rows < pb->n ? r_lo + pb->chunk_rows : pb->n;
    float *rt = pb->resid + chunk * k * BLOCK_ROWS;                 // (k, rb)
    double *e = pb->work + chunk * (k + 2) * BLOCK_ROWS;            // (k, rb)
    double *mx = e + k * BLOCK_ROWS, *sum = mx + BLOCK_ROWS;        // (rb) each
    float *g = pb->part_g + chunk * k * d;                          // (k, d)
    double *gi = pb->part_gi + chunk * k, f = 0;
    for (int64_t c = 0; c < k; c++) gi[c] = 0;
    for (int64_t r0 = r_lo; r0 < r_hi; r0 += BLOCK_ROWS) {
        int64_t rb = r_hi - r0 < BLOCK_ROWS ? r_hi - r0 : BLOCK_ROWS, off = r0 / BLOCK_ROWS * k * BLOCK_ROWS;
        const float *xb = pb->x + r0 * d; // (rb, d)
        float *zd = pb->zd + off;         // (k, rb)
        const double *z0 = pb->z0 + off;
        double *z = pb->z1 + off;
        if (pb->compute_step) {
            kn__sgemm(false, true, k, rb, d, 1.0f, pb->step_coef, d, xb, d, 0.0f, zd, rb, 1); // (k,d)x(d,rb)
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) zd[c * rb + i] += pb->step_icpt[c];
        }
        for (int64_t j = 0; j < k * rb; j++) z[j] = z0[j] + pb->alpha * zd[j];
        if (k == 1) {
            /* loss = log(1 + e^z) - t z = max(z, 0) + log1p(e^-|z|) - t z; residual sigmoid(z) - t */
            for (int64_t i = 0; i < rb; i++) mx[i] = -fabs(z[i]);
            exp_nonpositive(mx, sum, rb);
            for (int64_t i = 0; i < rb; i++) {
                double zi = z[i], ei = sum[i], t = pb->y[r0 + i] == pb->pos, wi = pb->w ? pb->w[r0 + i] : 1.0;
                f += wi * ((zi > 0 ? zi : 0) + log1p(ei) - t * zi);
                double sig = zi >= 0 ? 1.0 / (1.0 + ei) : ei / (1.0 + ei);
                rt[i] = (float)(wi * (sig - t));
            }
        } else {
            /* loss = logsumexp(z) - z_y; residual softmax(z) - onehot(y) */
            for (int64_t i = 0; i < rb; i++) mx[i] = z[i];
            for (int64_t c = 1; c < k; c++)
                for (int64_t i = 0; i < rb; i++) mx[i] = z[c * rb + i] > mx[i] ? z[c * rb + i] : mx[i];
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) e[c * rb + i] = z[c * rb + i] - mx[i];
            exp_nonpositive(e, e, k * rb);
            for (int64_t i = 0; i < rb; i++) sum[i] = 0;
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) sum[i] += e[c * rb + i];
            for (int64_t i = 0; i < rb; i++) {
                double wi = pb->w ? pb->w[r0 + i] : 1.0;
                f += wi * (mx[i] + log(sum[i]) - z[pb->y[r0 + i] * rb + i]);
                sum[i] = 1.0 / sum[i];
                mx[i] = wi;
            }
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) e[c * rb + i] *= sum[i]; // softmax
            for (int64_t i = 0; i < rb; i++) e[pb->y[r0 + i] * rb + i] -= 1.0;
            for (int64_t c = 0; c < k; c++)
                for (int64_t i = 0; i < rb; i++) rt[c * rb + i] = (float)(mx[i] * e[c * rb + i]);
        }
        if (!pb->need_grad) continue;
        for (int64_t c = 0; c < k; c++) {
            double s = 0;
            for (int64_t i = 0; i < rb; i++) s += rt[c * rb + i];
            gi[c] += s;
        }
        kn__sgemm(false, false, k, d, rb, 1.0f, rt, rb, xb, d, r0 == r_lo ? 0.0f : 1.0f, g, d, 1); // (k,rb)x(rb,d)
    }
    pb->part_f[chunk] = f;
}

/* Evaluates the trial point z1 = z0 + alpha * X step: sum_i w_i loss_i, and its gradient
 * (when need_grad) into grad = [coef (k, d), intercept (k) when fitted]. step (same layout,
 * may be NULL to reuse the last one) is rounded to float for the GEMM. */
static double loss_grad(problem *pb, const double *step, double alpha, bool intercept, double *grad) {
    int64_t kd = pb->k * pb->d;
    pb->compute_step = step != NULL;
    pb->alpha = alpha;
    if (step) {
        for (int64_t j = 0; j < kd; j++) pb->step_coef[j] = (float)step[j];
        for (int64_t c = 0; c < pb->k; c++) pb->step_icpt[c] = intercept ? (float)step[kd + c] : 0.0f;
    }
    kn__pool_run(pb->threads, pb->n_chunks, chunk_loss, pb);
    double f = 0;
    for (int64_t ch = 0; ch < pb->n_chunks; ch++) f += pb->part_f[ch];
    if (!pb->need_grad) return f;
    for (int64_t j = 0; j < kd; j++) grad[j] = 0;
    for (int64_t ch = 0; ch < pb->n_chunks; ch++) {
        const float *gc = pb->part_g + ch * kd;
        for (int64_t j = 0; j < kd; j++) grad[j] += gc[j];
    }
    if (intercept)
        for (int64_t c = 0; c < pb->k; c++) {
            double s = 0;
            for (int64_t ch = 0; ch < pb->n_chunks; ch++) s += pb->part_gi[ch * pb->k + c];
            grad[kd + c] = s;
        }
    return f;
}

/* The trial point becomes the current one. */
static void accept_trial(problem *pb) {
    double *t = pb->z0;
    pb->z0 = pb->z1;
    pb->z1 = t;
}

static void problem_free(kn_ctx *ctx, problem *pb) {
    kn__free(ctx, pb->z0);
    kn__free(ctx, pb->z1);
    kn__free(ctx, pb->zd);
    kn__free(ctx, pb->step_coef);
    kn__free(ctx, pb->step_icpt);
    kn__free(ctx, pb->part_g);
    kn__free(ctx, pb->part_gi);
    kn__free(ctx, pb->part_f);
    kn__free(ctx, pb->resid);
    kn__free(ctx, pb->work);
    memset(pb, 0, sizeof *pb);
}

/* The chunking depends on n, k and d only (never on threads), so the sums do not either.
 * The logits start at zero (theta = 0). */
static kn_status problem_init(kn_ctx *ctx, problem *pb, const kn__xy *xy, int64_t k, int threads) {
    *pb = (problem){.x = xy->x, .y = xy->y, .w = xy->w, .n = xy->n, .d = xy->d, .k = k, .pos = 1,
                    .threads = threads, .need_grad = true};
    size_t kd = (size_t)k * (size_t)xy->d, per_chunk = kd * sizeof(float);
    int64_t max_chunks = (int64_t)(PARTIAL_BYTES / (per_chunk ? per_chunk : 1));
    if (max_chunks > MAX_CHUNKS) max_chunks = MAX_CHUNKS;
    if (max_chunks < 1) max_chunks = 1;
    int64_t blocks = (xy->n + BLOCK_ROWS - 1) / BLOCK_ROWS;
    int64_t chunk_blocks = CHUNK_BLOCKS;
    if ((blocks + chunk_blocks - 1) / chunk_blocks > max_chunks) chunk_blocks = (blocks + max_chunks - 1) / max_chunks;
    pb->chunk_rows = chunk_blocks * BLOCK_ROWS;
    pb->n_chunks = (xy->n + pb->chunk_rows - 1) / pb->chunk_rows;
    size_t nc = (size_t)pb->n_chunks, zn = (size_t)blocks * (size_t)k * BLOCK_ROWS;
    pb->z0 = kn__calloc(ctx, zn, sizeof(double));
    pb->z1 = kn__alloc(ctx, zn * sizeof(double));
    pb->zd = kn__alloc(ctx, zn * sizeof(float));
    pb->step_coef = kn__alloc(ctx, per_chunk);
    pb->step_icpt = kn__alloc(ctx, (size_t)k * sizeof(float));
    pb->part_g = kn__alloc(ctx, nc * per_chunk);
    pb->part_gi = kn__alloc(ctx, nc * (size_t)k * sizeof(double));
    pb->part_f = kn__alloc(ctx, nc * sizeof(double));
    pb->resid = kn__alloc(ctx, nc * (size_t)k * BLOCK_ROWS * sizeof(float));
    pb->work = kn__alloc(ctx, nc * (size_t)(k + 2) * BLOCK_ROWS * sizeof(double));
    if (!pb->z0 || !pb->z1 || !pb->zd || !pb->step_coef || !pb->step_icpt || !pb->part_g || !pb->part_gi ||
        !pb->part_f || !pb->resid || !pb->work) {
        problem_free(ctx, pb);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory for %lld rows and %lld x %lld coefficients",
                         (long long)xy->n, (long long)k, (long long)xy->d);
    }
    return KN_OK;
}

/* ------------------------------------------------------------------ the objective */

typedef struct objective {
    problem *pb;
    penalty_kind penalty;
    double lambda;        /* 1 / C (0 for none) */
    bool intercept;
    int64_t n_penalized;  /* the coef part of theta: k * d */
    int64_t size;         /* theta's length */
} objective;

/* f at the trial point theta = theta0 + alpha * step (z1 = z0 + alpha * X step; step NULL:
 * the last step again): sum w loss + lambda/2 ||coef||^2 (l2) with its gradient; for l1 the
 * smooth part only. */
static double evaluate(objective *ob, const double *theta, const double *step, double alpha, double *grad) {
    double f = loss_grad(ob->pb, step, alpha, ob->intercept, grad);
    if (ob->penalty == PEN_L2) {
        double sq = 0;
        for (int64_t j = 0; j < ob->n_penalized; j++) {
            sq += theta[j] * theta[j];
            grad[j] += ob->lambda * theta[j];
        }
        f += 0.5 * ob->lambda * sq;
    }
    return f;
}

static double l1_norm(const double *theta, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += fabs(theta[j]);
    return s;
}

static double max_abs(const double *v, int64_t n) {
    double m = 0;
    for (int64_t j = 0; j < n; j++) m = fabs(v[j]) > m ? fabs(v[j]) : m;
    return m;
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

/* ------------------------------------------------------------------ Moré-Thuente line search */

/* MINPACK-2's dcsrch / dcstep (Moré and Thuente 1994), as scipy's L-BFGS-B calls them, in
 * reverse communication: start with ls_start, then after each evaluation at *stp call
 * ls_next, which returns LS_EVAL with the next step in *stp, or LS_DONE (sufficient decrease
 * and curvature, or a rounding / interval warning that L-BFGS-B also accepts). */
typedef struct line_search {
    double ftol, gtol, xtol, stpmin, stpmax;
    double finit, ginit, gtest, width, width1;
    double stx, fx, gx, sty, fy, gy, stmin, stmax;
    bool brackt;
    int stage;
} line_search;

enum { LS_EVAL, LS_DONE, LS_ERROR };

static void dcstep(double *stx, double *fx, double *dx, double *sty, double *fy, double *dy, double *stp,
                   double fp, double dp, bool *brackt, double stpmin, double stpmax) {
    double sgnd = dp * (*dx / fabs(*dx)), stpf, stpc, stpq, theta, s, gamma, p, q, r;
    if (fp > *fx) { /* higher function value: the minimum is bracketed */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
        if (*stp < *stx) gamma = -gamma;
        p = (gamma - *dx) + theta;
        q = ((gamma - *dx) + gamma) + dp;
        r = p / q;
        stpc = *stx + r * (*stp - *stx);
        stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        if (fabs(stpc - *stx) < fabs(stpq - *stx)) stpf = stpc;
        else stpf = stpc + (stpq - stpc) / 2.0;
        *brackt = true;
    } else if (sgnd < 0) { /* derivatives of opposite sign: bracketed */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
        if (*stp > *stx) gamma = -gamma;
        p = (gamma - dp) + theta;
        q = ((gamma - dp) + gamma) + *dx;
        r = p / q;
        stpc = *stp + r * (*stx - *stp);
        stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
        *brackt = true;
    } else if (fabs(dp) < fabs(*dx)) { /* same sign, the derivative's magnitude falls */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt(fmax(0.0, (theta / s) * (theta / s) - (*dx / s) * (dp / s)));
        if (*stp > *stx) gamma = -gamma;
        p = (gamma - dp) + theta;
        q = (gamma + (*dx - dp)) + gamma;
        r = p / q;
        if (r < 0 && gamma != 0) stpc = *stp + r * (*stx - *stp);
        else if (*stp > *stx) stpc = stpmax;
        else stpc = stpmin;
        stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if (*brackt) {
            stpf = fabs(stpc - *stp) < fabs(stpq - *stp) ? stpc : stpq;
            if (*stp > *stx) stpf = fmin(*stp + 0.66 * (*sty - *stp), stpf);
            else stpf = fmax(*stp + 0.66 * (*sty - *stp), stpf);
        } else {
            stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
            stpf = fmin(stpmax, stpf);
            stpf = fmax(stpmin, stpf);
        }
    } else { /* same sign, the derivative does not fall */
        if (*brackt) {
            theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
            s = fmax(fabs(theta), fmax(fabs(*dy), fabs(dp)));
            gamma = s * sqrt((theta / s) * (theta / s) - (*dy / s) * (dp / s));
            if (*stp > *sty) gamma = -gamma;
            p = (gamma - dp) + theta;
            q = ((gamma - dp) + gamma) + *dy;
            r = p / q;
            stpc = *stp + r * (*sty - *stp);
            stpf = stpc;
        } else if (*stp > *stx) {
            stpf = stpmax;
        } else {
            stpf = stpmin;
        }
    }
    if (fp > *fx) {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if (sgnd < 0) {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

static int ls_start(line_search *ls, double f, double g, double stp) {
    if (stp < ls->stpmin || stp > ls->stpmax || g >= 0) return LS_ERROR;
    ls->brackt = false;
    ls->stage = 1;
    ls->finit = f;
    ls->ginit = g;
    ls->gtest = ls->ftol * g;
    ls->width = ls->stpmax - ls->stpmin;
    ls->width1 = ls->width / 0.5;
    ls->stx = 0;
    ls->fx = f;
    ls->gx = g;
    ls->sty = 0;
    ls->fy = f;
    ls->gy = g;
    ls->stmin = 0;
    ls->stmax = stp + 4.0 * stp;
    return LS_EVAL;
}

static int ls_next(line_search *ls, double f, double g, double *stp) {
    const double xtrapl = 1.1, xtrapu = 4.0;
    double ftest = ls->finit + *stp * ls->gtest;
    if (ls->stage == 1 && f <= ftest && g >= 0) ls->stage = 2;
    /* warnings: L-BFGS-B takes the step as it is */
    if (ls->brackt && (*stp <= ls->stmin || *stp >= ls->stmax)) return LS_DONE;
    if (ls->brackt && ls->stmax - ls->stmin <= ls->xtol * ls->stmax) return LS_DONE;
    if (*stp == ls->stpmax && f <= ftest && g <= ls->gtest) return LS_DONE;
    if (*stp == ls->stpmin && (f > ftest || g >= ls->gtest)) return LS_DONE;
    if (f <= ftest && fabs(g) <= ls->gtol * (-ls->ginit)) return LS_DONE; /* converged */
    if (ls->stage == 1 && f <= ls->fx && f > ftest) {
        /* the modified function psi(stp) = f(stp) - f(0) - ftest*stp until a step has both */
        double fm = f - *stp * ls->gtest, fxm = ls->fx - ls->stx * ls->gtest, fym = ls->fy - ls->sty * ls->gtest;
        double gm = g - ls->gtest, gxm = ls->gx - ls->gtest, gym = ls->gy - ls->gtest;
        dcstep(&ls->stx, &fxm, &gxm, &ls->sty, &fym, &gym, stp, fm, gm, &ls->brackt, ls->stmin, ls->stmax);
        ls->fx = fxm + ls->stx * ls->gtest;
        ls->fy = fym + ls->sty * ls->gtest;
        ls->gx = gxm + ls->gtest;
        ls->gy = gym + ls->gtest;
    } else {
        dcstep(&ls->stx, &ls->fx, &ls->gx, &ls->sty, &ls->fy, &ls->gy, stp, f, g, &ls->brackt, ls->stmin, ls->stmax);
    }
    if (ls->brackt) {
        if (fabs(ls->sty - ls->stx) >= 0.66 * ls->width1) *stp = ls->stx + 0.5 * (ls->sty - ls->stx);
        ls->width1 = ls->width;
        ls->width = fabs(ls->sty - ls->stx);
        ls->stmin = fmin(ls->stx, ls->sty);
        ls->stmax = fmax(ls->stx, ls->sty);
    } else {
        ls->stmin = *stp + xtrapl * (*stp - ls->stx);
        ls->stmax = *stp + xtrapu * (*stp - ls->stx);
    }
    *stp = fmax(*stp, ls->stpmin);
    *stp = fmin(*stp, ls->stpmax);
    if ((ls->brackt && (*stp <= ls->stmin || *stp >= ls->stmax)) ||
        (ls->brackt && ls->stmax - ls->stmin <= ls->xtol * ls->stmax))
        *stp = ls->stx;
    return LS_EVAL;
}

/* ------------------------------------------------------------------ L-BFGS memory */

typedef struct memory {
    int64_t size;
    double *s, *y;        // (MEMORY, size) each, a ring
    double rho[MEMORY], alpha[MEMORY];
    int count, head;      // pairs held; the slot the next pair goes to
    double gamma;         // H0 = gamma I: s'y / y'y of the newest pair
} memory;

static void memory_push(memory *m, const double *s, const double *y, double sy, double yy) {
    memcpy(m->s + m->head * m->size, s, (size_t)m->size * sizeof *s);
    memcpy(m->y + m->head * m->size, y, (size_t)m->size * sizeof *y);
    m->rho[m->head] = 1.0 / sy;
    m->gamma = sy / yy;
    m->head = (m->head + 1) % MEMORY;
    if (m->count < MEMORY) m->count++;
}

/* d = -H g by the two-loop recursion (d = -g with no pairs, as L-BFGS-B's theta = 1). */
static void memory_direction(memory *m, const double *g, double *d) {
    int64_t n = m->size;
    for (int64_t j = 0; j < n; j++) d[j] = -g[j];
    if (m->count == 0) return;
    for (int q = 0; q < m->count; q++) {
        int slot = (m->head - 1 - q + 2 * MEMORY) % MEMORY;
        m->alpha[slot] = m->rho[slot] * dot(m->s + slot * n, d, n);
        const double *y = m->y + slot * n;
        for (int64_t j = 0; j < n; j++) d[j] -= m->alpha[slot] * y[j];
    }
    for (int64_t j = 0; j < n; j++) d[j] *= m->gamma;
    for (int q = m->count - 1; q >= 0; q--) {
        int slot = (m->head - 1 - q + 2 * MEMORY) % MEMORY;
        double beta = m->rho[slot] * dot(m->y + slot * n, d, n);
        const double *s = m->s + slot * n;
        for (int64_t j = 0; j < n; j++) d[j] += (m->alpha[slot] - beta) * s[j];
    }
}

/* ------------------------------------------------------------------ L-BFGS (l2, none) and OWL-QN (l1) */

typedef struct work {
    double *g, *x0, *g0, *d, *s, *y, *pg; // (size) each
    memory mem;
} work;

/* Result of a solve: iterations and whether the stopping rule (not max_iter) ended it. */
typedef struct solve_result {
    int iterations;
    bool converged;
} solve_result;

/* scipy's L-BFGS-B on an unbounded problem: the first step is 1/||d|| along -g, later ones
 * start at 1; a failed line search (20 evaluations, or an ascent direction) restarts from
 * the steepest descent with an empty memory, and stops the solve when the memory was
 * already empty. Corrections with s'y <= eps * (-g0'd) are skipped. */
static solve_result lbfgs(objective *ob, work *wk, double *theta, int max_iter, double tol) {
    int64_t n = ob->size;
    solve_result res = {0, false};
    double f = evaluate(ob, theta, theta, 1.0, wk->g); /* z0 = 0 at the start: z = X theta */
    accept_trial(ob->pb);
    if (max_abs(wk->g, n) <= tol) return (solve_result){0, true};
    wk->mem.count = wk->mem.head = 0;
    while (res.iterations < max_iter) {
        memory_direction(&wk->mem, wk->g, wk->d);
        double gd = dot(wk->g, wk->d, n);
        if (!(gd < 0)) {
            if (wk->mem.count == 0) break; /* not even -g descends: rounding has taken over */
            wk->mem.count = wk->mem.head = 0;
            continue;
        }
        double stp = res.iterations == 0 ? fmin(1.0 / sqrt(dot(wk->d, wk->d, n)), 1e10) : 1.0;
        double f0 = f, gd0 = gd;
        memcpy(wk->x0, theta, (size_t)n * sizeof *theta);
        memcpy(wk->g0, wk->g, (size_t)n * sizeof *theta);
        line_search ls = {.ftol = 1e-3, .gtol = 0.9, .xtol = 0.1, .stpmin = 0, .stpmax = 1e10};
        int state = ls_start(&ls, f, gd, stp), evals = 0;
        while (state == LS_EVAL && evals < MAX_LINE_SEARCH) {
            for (int64_t j = 0; j < n; j++) theta[j] = wk->x0[j] + stp * wk->d[j];
            f = evaluate(ob, theta, evals == 0 ? wk->d : NULL, stp, wk->g); /* X d once a line */
            evals++;
            gd = dot(wk->g, wk->d, n);
            state = ls_next(&ls, f, gd, &stp);
        }
        if (state != LS_DONE || !isfinite(f)) { /* back to x0; restart, or stop if just restarted */
            memcpy(theta, wk->x0, (size_t)n * sizeof *theta);
            memcpy(wk->g, wk->g0, (size_t)n * sizeof *theta);
            f = f0;
            if (wk->mem.count == 0) break;
            wk->mem.count = wk->mem.head = 0;
            continue;
        }
        accept_trial(ob->pb);
        res.iterations++;
        if (max_abs(wk->g, n) <= tol) {
            res.converged = true;
            break;
        }
        if (f0 - f <= FTOL * fmax(fmax(fabs(f0), fabs(f)), 1.0)) {
            res.converged = true;
            break;
        }
        for (int64_t j = 0; j < n; j++) {
            wk->s[j] = theta[j] - wk->x0[j];
            wk->y[j] = wk->g[j] - wk->g0[j];
        }
        double sy = dot(wk->s, wk->y, n), yy = dot(wk->y, wk->y, n);
        if (sy > DBL_EPSILON * (-gd0 * stp)) memory_push(&wk->mem, wk->s, wk->y, sy, yy);
    }
    return res;
}

/* The pseudo-gradient of f + lambda ||theta[0..np)||_1 (the steepest-descent direction's
 * negative): for a zero coefficient, the side whose one-sided derivative falls, or 0. */
static void pseudo_gradient(const double *theta, const double *g, double lambda, int64_t np, int64_t n, double *pg) {
    for (int64_t j = 0; j < n; j++) {
        if (j >= np) pg[j] = g[j];
        else if (theta[j] > 0) pg[j] = g[j] + lambda;
        else if (theta[j] < 0) pg[j] = g[j] - lambda;
        else if (g[j] + lambda < 0) pg[j] = g[j] + lambda;
        else if (g[j] - lambda > 0) pg[j] = g[j] - lambda;
        else pg[j] = 0;
    }
}

/* OWL-QN (Andrew and Gao 2007): L-BFGS on the smooth part, the direction from the
 * pseudo-gradient kept to its orthant, steps projected onto the orthant (coefficients that
 * would cross zero stop at zero), backtracking until f falls by 1e-4 of the pseudo-gradient's
 * prediction. Same stopping rule as lbfgs on the pseudo-gradient. */
static solve_result owlqn(objective *ob, work *wk, double *theta, int max_iter, double tol) {
    int64_t n = ob->size, np = ob->n_penalized;
    double lam = ob->lambda;
    solve_result res = {0, false};
    double f = evaluate(ob, theta, theta, 1.0, wk->g) + lam * l1_norm(theta, np);
    accept_trial(ob->pb);
    pseudo_gradient(theta, wk->g, lam, np, n, wk->pg);
    if (max_abs(wk->pg, n) <= tol) return (solve_result){0, true};
    wk->mem.count = wk->mem.head = 0;
    while (res.iterations < max_iter) {
        memory_direction(&wk->mem, wk->pg, wk->d);
        for (int64_t j = 0; j < np; j++)
            if (wk->d[j] * wk->pg[j] >= 0) wk->d[j] = 0;
        double pgd = dot(wk->pg, wk->d, n);
        if (!(pgd < 0)) {
            if (wk->mem.count == 0) break;
            wk->mem.count = wk->mem.head = 0;
            continue;
        }
        double stp = res.iterations == 0 && wk->mem.count == 0 ? fmin(1.0 / sqrt(dot(wk->d, wk->d, n)), 1e10) : 1.0;
        double f0 = f;
        memcpy(wk->x0, theta, (size_t)n * sizeof *theta);
        memcpy(wk->g0, wk->g, (size_t)n * sizeof *theta);
        bool accepted = false;
        for (int evals = 0; evals < MAX_LINE_SEARCH; evals++, stp *= 0.5) {
            double pred = 0;
            for (int64_t j = 0; j < n; j++) {
                double x = wk->x0[j] + stp * wk->d[j];
                if (j < np) { /* the orthant: x0's sign, or the descent side for a zero */
                    double orth = wk->x0[j] != 0 ? wk->x0[j] : -wk->pg[j];
                    if (x * orth <= 0) x = 0;
                }
                theta[j] = x;
                wk->s[j] = x - wk->x0[j];
                pred += wk->pg[j] * wk->s[j];
            }
            f = evaluate(ob, theta, wk->s, 1.0, wk->g) + lam * l1_norm(theta, np);
            if (isfinite(f) && f <= f0 + 1e-4 * pred) {
                accepted = true;
                break;
            }
        }
        if (!accepted) {
            memcpy(theta, wk->x0, (size_t)n * sizeof *theta);
            memcpy(wk->g, wk->g0, (size_t)n * sizeof *theta);
            f = f0;
            if (wk->mem.count == 0) break;
            wk->mem.count = wk->mem.head = 0;
            pseudo_gradient(theta, wk->g, lam, np, n, wk->pg);
            continue;
        }
        accept_trial(ob->pb);
        res.iterations++;
        pseudo_gradient(theta, wk->g, lam, np, n, wk->pg);
        if (max_abs(wk->pg, n) <= tol || f0 - f <= FTOL * fmax(fmax(fabs(f0), fabs(f)), 1.0)) {
            res.converged = true;
            break;
        }
        for (int64_t j = 0; j < n; j++) {
            wk->s[j] = theta[j] - wk->x0[j];
            wk->y[j] = wk->g[j] - wk->g0[j];
        }
        double sy = dot(wk->s, wk->y, n), yy = dot(wk->y, wk->y, n);
        if (sy > DBL_EPSILON * yy) memory_push(&wk->mem, wk->s, wk->y, sy, yy);
    }
    return res;
}

static void work_free(kn_ctx *ctx, work *wk) {
    kn__free(ctx, wk->g);
    kn__free(ctx, wk->x0);
    kn__free(ctx, wk->g0);
    kn__free(ctx, wk->d);
    kn__free(ctx, wk->s);
    kn__free(ctx, wk->y);
    kn__free(ctx, wk->pg);
    kn__free(ctx, wk->mem.s);
    kn__free(ctx, wk->mem.y);
    memset(wk, 0, sizeof *wk);
}

static kn_status work_init(kn_ctx *ctx, work *wk, int64_t n) {
    memset(wk, 0, sizeof *wk);
    size_t b = (size_t)n * sizeof(double);
    wk->g = kn__alloc(ctx, b);
    wk->x0 = kn__alloc(ctx, b);
    wk->g0 = kn__alloc(ctx, b);
    wk->d = kn__alloc(ctx, b);
    wk->s = kn__alloc(ctx, b);
    wk->y = kn__alloc(ctx, b);
    wk->pg = kn__alloc(ctx, b);
    wk->mem.s = kn__alloc(ctx, MEMORY * b);
    wk->mem.y = kn__alloc(ctx, MEMORY * b);
    wk->mem.size = n;
    if (!wk->g || !wk->x0 || !wk->g0 || !wk->d || !wk->s || !wk->y || !wk->pg || !wk->mem.s || !wk->mem.y) {
        work_free(ctx, wk);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory for the optimizer (%lld parameters)", (long long)n);
    }
    return KN_OK;
}

/* ------------------------------------------------------------------ options and the fit */

kn__logreg_opts kn__logreg_defaults(void) {
    return (kn__logreg_opts){.C = 1.0, .penalty = "l2", .max_iter = 100, .tol = 1e-4, .fit_intercept = true,
                             .multi_class = "auto", .threads = 0};
}

static kn_status check_opts(kn_ctx *ctx, const kn__logreg_opts *o, penalty_kind *pen, bool *ovr) {
    if (!(o->C > 0) || !isfinite(o->C))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".C: %g must be finite and > 0", o->C);
    const char *p = o->penalty ? o->penalty : "l2";
    if (strcmp(p, "l2") == 0) *pen = PEN_L2;
    else if (strcmp(p, "l1") == 0) *pen = PEN_L1;
    else if (strcmp(p, "none") == 0) *pen = PEN_NONE;
    else return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".penalty: '%s' is not one of l2, l1, none", p);
    if (o->max_iter < 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".max_iter: %d must be >= 0", o->max_iter);
    if (!(o->tol >= 0) || !isfinite(o->tol))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".tol: %g must be finite and >= 0", o->tol);
    const char *mc = o->multi_class ? o->multi_class : "auto";
    if (strcmp(mc, "auto") == 0 || strcmp(mc, "multinomial") == 0) *ovr = false;
    else if (strcmp(mc, "ovr") == 0) *ovr = true;
    else return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".multi_class: '%s' is not one of auto, multinomial, ovr", mc);
    if (o->threads < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".threads: %d must be >= 0", o->threads);
    return KN_OK;
}

static kn_status check_labels(kn_ctx *ctx, const kn__xy *xy) {
    if (!xy->y) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ": no labels (y is NULL)");
    if (xy->n_classes < 2)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ": n_classes %d, needs at least 2", xy->n_classes);
    int seen = -1;
    bool two = false;
    for (int64_t i = 0; i < xy->n; i++) {
        int32_t c = xy->y[i];
        if (c < 0 || c >= xy->n_classes)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ": label y[%lld] = %d is outside [0, %d)", (long long)i,
                             c, xy->n_classes);
        if (xy->w && xy->w[i] == 0) continue;
        if (seen < 0) seen = c;
        else if (c != seen) two = true;
    }
    if (!two) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ": the (weighted) data hold one class only, needs 2");
    return KN_OK;
}

kn_status kn__logreg_fit(kn_ctx *ctx, const kn__xy *xy, const kn__logreg_opts *opts, kn__linear *out) {
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ": out is NULL");
    memset(out, 0, sizeof *out);
    kn__logreg_opts o = opts ? *opts : kn__logreg_defaults();
    penalty_kind pen;
    bool ovr;
    kn_status st = check_opts(ctx, &o, &pen, &ovr);
    if (st != KN_OK) return st;
    if ((st = kn__linear_check_data(ctx, xy, WHO)) != KN_OK) return st;
    if ((st = check_labels(ctx, xy)) != KN_OK) return st;
    int threads = o.threads ? o.threads : kn_ctx_threads(ctx);
    int64_t classes = xy->n_classes, d = xy->d;
    bool binary = classes == 2;
    int64_t k = binary || ovr ? 1 : classes;       /* rows of each solve */
    int64_t fits = binary || !ovr ? 1 : classes;    /* solves */
    int64_t size = k * d + (o.fit_intercept ? k : 0);
    problem pb;
    work wk;
    double *theta = NULL;
    if ((st = problem_init(ctx, &pb, xy, k, threads)) != KN_OK) return st;
    if ((st = work_init(ctx, &wk, size)) != KN_OK) goto done;
    if (!(theta = kn__alloc(ctx, (size_t)size * sizeof *theta))) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory");
        goto done;
    }
    if ((st = kn__linear_alloc(ctx, binary ? 1 : classes, d, out)) != KN_OK) goto done;
    objective ob = {.pb = &pb, .penalty = pen, .lambda = pen == PEN_NONE ? 0.0 : 1.0 / o.C,
                    .intercept = o.fit_intercept, .n_penalized = k * d, .size = size};
    bool all_converged = true;
    for (int64_t c = 0; c < fits; c++) {
        pb.pos = binary ? 1 : (int32_t)c;
        memset(theta, 0, (size_t)size * sizeof *theta);
        memset(pb.z0, 0, (size_t)((pb.n + BLOCK_ROWS - 1) / BLOCK_ROWS * k * BLOCK_ROWS) * sizeof *pb.z0);
        solve_result r = pen == PEN_L1 ? owlqn(&ob, &wk, theta, o.max_iter, o.tol)
                                       : lbfgs(&ob, &wk, theta, o.max_iter, o.tol);
        if (r.iterations > out->n_iter) out->n_iter = r.iterations;
        all_converged = all_converged && r.converged;
        for (int64_t q = 0; q < k; q++) {
            for (int64_t j = 0; j < d; j++) out->coef[(c + q) * d + j] = (float)theta[q * d + j];
            out->intercept[c + q] = o.fit_intercept ? (float)theta[k * d + q] : 0.0f;
        }
    }
    if (!kn__all_finite(out->coef, (size_t)(out->k * d)) || !kn__all_finite(out->intercept, (size_t)out->k)) {
        kn__linear_free(ctx, out);
        st = kn__error(ctx, KN_ERR_NUMERIC, WHO ": the fit diverged (coefficients are not finite)");
        goto done;
    }
    if (!all_converged && o.max_iter > 0)
        kn__log(ctx, KN_LOG_WARN, WHO ": stopped after max_iter = %d iterations without converging (tol %g); "
                                  "raise max_iter or scale the data", o.max_iter, o.tol);
done:
    problem_free(ctx, &pb);
    work_free(ctx, &wk);
    kn__free(ctx, theta);
    return st;
}

/* ------------------------------------------------------------------ prediction and metrics */

void kn__logreg_proba(const kn__linear *m, const float *x, int64_t n, float *out) {
    if (m->k == 1) {
        kn__linear_decision_ld(m, x, n, out + 1, 2); // z in column 1
        for (int64_t i = 0; i < n; i++) {
            double z = out[2 * i + 1], p = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
            out[2 * i] = (float)(1.0 - p);
            out[2 * i + 1] = (float)p;
        }
        return;
    }
    int64_t k = m->k;
    kn__linear_decision(m, x, n, out);
    for (int64_t i = 0; i < n; i++) {
        float *z = out + i * k, mx = z[0];
        for (int64_t c = 1; c < k; c++) mx = z[c] > mx ? z[c] : mx;
        double s = 0;
        for (int64_t c = 0; c < k; c++) s += (z[c] = expf(z[c] - mx));
        for (int64_t c = 0; c < k; c++) z[c] = (float)(z[c] / s);
    }
}

void kn__logreg_predict(const kn__linear *m, const float *x, int64_t n, float *scores, int32_t *out) {
    kn__linear_decision(m, x, n, scores);
    for (int64_t i = 0; i < n; i++) {
        const float *z = scores + i * m->k;
        if (m->k == 1) {
            out[i] = z[0] > 0;
            continue;
        }
        int32_t best = 0;
        for (int64_t c = 1; c < m->k; c++)
            if (z[c] > z[best]) best = (int32_t)c;
        out[i] = best;
    }
}

kn_status kn__logreg_objective(kn_ctx *ctx, const kn__xy *xy, const kn__logreg_opts *opts, const kn__linear *m,
                               double *out) {
    kn__logreg_opts o = opts ? *opts : kn__logreg_defaults();
    penalty_kind pen;
    bool ovr;
    kn_status st = check_opts(ctx, &o, &pen, &ovr);
    if (st != KN_OK) return st;
    if ((st = kn__linear_check_data(ctx, xy, WHO)) != KN_OK) return st;
    if ((st = check_labels(ctx, xy)) != KN_OK) return st;
    if (m->d != xy->d || m->k != (xy->n_classes == 2 ? 1 : xy->n_classes))
        return kn__error(ctx, KN_ERR_SHAPE, WHO ": model of %lld x %lld coefficients for %lld features and %d classes",
                         (long long)m->k, (long long)m->d, (long long)xy->d, xy->n_classes);
    problem pb;
    if ((st = problem_init(ctx, &pb, xy, m->k, o.threads ? o.threads : kn_ctx_threads(ctx))) != KN_OK) return st;
    int64_t kd = m->k * m->d;
    double *theta = kn__alloc(ctx, (size_t)(kd + m->k) * sizeof *theta);
    if (!theta) {
        problem_free(ctx, &pb);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory");
    }
    for (int64_t j = 0; j < kd; j++) theta[j] = m->coef[j];
    for (int64_t c = 0; c < m->k; c++) theta[kd + c] = m->intercept[c];
    pb.need_grad = false;
    double loss = loss_grad(&pb, theta, 1.0, true, NULL), sq = dot(theta, theta, kd);
    *out = pen == PEN_NONE ? loss : o.C * loss + (pen == PEN_L2 ? 0.5 * sq : l1_norm(theta, kd));
    kn__free(ctx, theta);
    problem_free(ctx, &pb);
    return KN_OK;
}

double kn__logreg_log_loss(const kn__linear *m, const kn__xy *xy) {
    double total = 0, sw = 0;
    int64_t d = m->d, k = m->k;
    for (int64_t i = 0; i < xy->n; i++) {
        const float *xi = xy->x + i * d;
        double wi = xy->w ? xy->w[i] : 1.0, p, mx = -INFINITY, s = 0, zy = 0;
        int32_t y = xy->y[i];
        if (k == 1) {
            double z = m->intercept[0];
            for (int64_t j = 0; j < d; j++) z += (double)xi[j] * m->coef[j];
            p = 1.0 / (1.0 + exp(-z));
            p = y == 1 ? p : 1.0 - p;
        } else {
            for (int pass = 0; pass < 2; pass++)
                for (int64_t c = 0; c < k; c++) {
                    double z = m->intercept[c];
                    for (int64_t j = 0; j < d; j++) z += (double)xi[j] * m->coef[c * d + j];
                    if (pass == 0) mx = z > mx ? z : mx;
                    else s += exp(z - mx);
                    if (c == y) zy = z;
                }
            p = exp(zy - mx) / s;
        }
        p = p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p; // sklearn's log_loss clips to eps
        total += wi * -log(p);
        sw += wi;
    }
    return total / sw;
}
