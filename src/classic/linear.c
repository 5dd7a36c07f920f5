/* linear.c — least squares and ridge regression as scikit-learn's LinearRegression and Ridge
 * fit them: x and t centered (weighted by w) when there is an intercept, rows scaled by
 * sqrt(w), then the normal equations solved by Cholesky in double (ridge, or well-conditioned
 * least squares), else the minimum-norm least-squares solution by SVD (dgelsd) as sklearn's
 * lstsq gives it. Optionally minibatch SGD through kiln's graph engine (linear_sgd below).
 * Also the decision function shared with logistic regression, and R². */
#include "classic/linear.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "core/lapack.h"
#include "core/pool.h"

#define WHO "linear_regression"

/* ------------------------------------------------------------------ the model */

void kn__linear_free(kn_ctx *ctx, kn__linear *m) {
    if (!m) return;
    kn__free(ctx, m->coef);
    kn__free(ctx, m->intercept);
    memset(m, 0, sizeof *m);
}

kn_status kn__linear_alloc(kn_ctx *ctx, int64_t k, int64_t d, kn__linear *m) {
    memset(m, 0, sizeof *m);
    size_t kd;
    if (!kn__mul_size((size_t)k, (size_t)d, &kd) || !kn__mul_size(kd, sizeof(float), &kd))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear model: %lld x %lld coefficients overflow",
                         (long long)k, (long long)d);
    m->coef = kn__calloc(ctx, 1, kd ? kd : 1);
    m->intercept = kn__calloc(ctx, (size_t)k, sizeof(float));
    if (!m->coef || !m->intercept) {
        kn__linear_free(ctx, m);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "linear model: out of memory for %lld x %lld coefficients",
                         (long long)k, (long long)d);
    }
    m->k = k;
    m->d = d;
    return KN_OK;
}

/* With one row of coef and ldo 1 the product runs transposed, (1, d) x (d, n): sgemm's GEMV. */
void kn__linear_decision_ld(const kn__linear *m, const float *x, int64_t n, float *out, int64_t ldo) {
    if (n <= 0) return;
    if (m->k == 1 && ldo == 1)
        kn__sgemm(false, true, 1, n, m->d, 1.0f, m->coef, m->d, x, m->d, 0.0f, out, n, 1); // (1,d)x(d,n)
    else
        kn__sgemm(false, true, n, m->k, m->d, 1.0f, x, m->d, m->coef, m->d, 0.0f, out, ldo, 1); // (n,d)x(d,k)
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < m->k; c++) out[i * ldo + c] += m->intercept[c];
}

void kn__linear_decision(const kn__linear *m, const float *x, int64_t n, float *out) {
    kn__linear_decision_ld(m, x, n, out, m->k);
}

double kn__r2_score(const float *t, const float *pred, const float *w, int64_t n) {
    double sw = 0, st = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sw += wi;
        st += wi * t[i];
    }
    double mean = sw > 0 ? st / sw : 0, ss_res = 0, ss_tot = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0, r = (double)t[i] - pred[i], c = (double)t[i] - mean;
        ss_res += wi * r * r;
        ss_tot += wi * c * c;
    }
    if (ss_tot == 0) return ss_res == 0 ? 1.0 : 0.0; // sklearn's force_finite
    return 1.0 - ss_res / ss_tot;
}

/* ------------------------------------------------------------------ checks shared with logistic.c */

kn_status kn__linear_check_data(kn_ctx *ctx, const kn__xy *xy, const char *who) {
    if (!xy || !xy->x) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: no training data (x is NULL)", who);
    if (xy->n < 1 || xy->d < 1)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: x is %lld x %lld, needs at least one row and one column",
                         who, (long long)xy->n, (long long)xy->d);
    size_t nd;
    if (!kn__mul_size((size_t)xy->n, (size_t)xy->d, &nd) || nd > (size_t)INT64_MAX / 8)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: x is %lld x %lld, too large", who,
                         (long long)xy->n, (long long)xy->d);
    if (!kn__all_finite(xy->x, nd))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: x holds NaN or infinity (impute or drop it first)", who);
    if (xy->w) {
        double sum = 0;
        for (int64_t i = 0; i < xy->n; i++) {
            if (!(xy->w[i] >= 0) || !isfinite(xy->w[i]))
                return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s.sample_weight: w[%lld] = %g must be finite and >= 0",
                                 who, (long long)i, (double)xy->w[i]);
            sum += xy->w[i];
        }
        if (!(sum > 0)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s.sample_weight: all weights are 0", who);
    }
    return KN_OK;
}

/* ------------------------------------------------------------------ options */

kn__linreg_opts kn__linreg_defaults(void) {
    return (kn__linreg_opts){.alpha = 0.0, .fit_intercept = true, .solver = "auto", .max_iter = 100,
                             .learning_rate = 0.01, .batch_size = 32, .adam = false, .seed = 0};
}

typedef enum { SOLVE_AUTO, SOLVE_CHOLESKY, SOLVE_SVD, SOLVE_SGD } solver_kind;

static kn_status check_opts(kn_ctx *ctx, const kn__linreg_opts *o, solver_kind *solver) {
    if (!(o->alpha >= 0) || !isfinite(o->alpha))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".alpha: %g must be finite and >= 0", o->alpha);
    const char *s = o->solver ? o->solver : "auto";
    if (strcmp(s, "auto") == 0) *solver = SOLVE_AUTO;
    else if (strcmp(s, "cholesky") == 0) *solver = SOLVE_CHOLESKY;
    else if (strcmp(s, "svd") == 0) *solver = SOLVE_SVD;
    else if (strcmp(s, "sgd") == 0) *solver = SOLVE_SGD;
    else
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".solver: '%s' is not one of auto, cholesky, svd, sgd", s);
    if (*solver == SOLVE_SGD) {
        if (o->max_iter < 1)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".max_iter: %d must be >= 1", o->max_iter);
        if (!(o->learning_rate > 0) || !isfinite(o->learning_rate))
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".learning_rate: %g must be finite and > 0",
                             o->learning_rate);
        if (o->batch_size < 1)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".batch_size: %d must be >= 1", o->batch_size);
    }
    return KN_OK;
}

/* ------------------------------------------------------------------ centering and the Gram matrix */

/* Weighted column means of x (d), and of t. */
static void weighted_means(const kn__xy *xy, bool center, double *mean, double *tmean) {
    int64_t n = xy->n, d = xy->d;
    memset(mean, 0, (size_t)d * sizeof *mean);
    *tmean = 0;
    if (!center) return;
    double sw = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = xy->w ? xy->w[i] : 1.0;
        const float *xi = xy->x + i * d; // (d)
        for (int64_t j = 0; j < d; j++) mean[j] += wi * xi[j];
        *tmean += wi * xy->t[i];
        sw += wi;
    }
    for (int64_t j = 0; j < d; j++) mean[j] /= sw;
    *tmean /= sw;
}

enum { GRAM_ROWS = 32 }; /* rows of x converted to double at a time */

/* G (d, d) = B^T B and c (d) = B^T u with B = sqrt(w) (x - mean), u = sqrt(w) (t - tmean):
 * stripe s fills rows [lo[s], lo[s+1]) of G's upper triangle and those entries of c, summing
 * over the rows of x in order, so the result does not depend on how many threads run. */
typedef struct gram_args {
    const kn__xy *xy;
    const double *mean; // (d)
    double tmean;
    const int64_t *lo;  // (stripes + 1)
    double *buf;        // (stripes, GRAM_ROWS, d)
    double *g, *c;      // (d, d), (d)
} gram_args;

static void gram_stripe(void *p, int64_t s) {
    const gram_args *a = p;
    int64_t n = a->xy->n, d = a->xy->d, lo = a->lo[s], hi = a->lo[s + 1];
    double *b = a->buf + s * GRAM_ROWS * d; // (GRAM_ROWS, d): columns [lo, d) used
    double u[GRAM_ROWS];
    for (int64_t r0 = 0; r0 < n; r0 += GRAM_ROWS) {
        int64_t rows = n - r0 < GRAM_ROWS ? n - r0 : GRAM_ROWS;
        for (int64_t r = 0; r < rows; r++) {
            int64_t i = r0 + r;
            double sw = a->xy->w ? sqrt((double)a->xy->w[i]) : 1.0;
            const float *xi = a->xy->x + i * d; // (d)
            double *br = b + r * d;
            for (int64_t j = lo; j < d; j++) br[j] = sw * ((double)xi[j] - a->mean[j]);
            u[r] = sw * ((double)a->xy->t[i] - a->tmean);
        }
        for (int64_t i = lo; i < hi; i++) {
            double *restrict gi = a->g + i * d; // (d): entries [i, d)
            double ci = 0;
            for (int64_t r = 0; r < rows; r++) {
                const double *restrict br = b + r * d;
                double v = br[i];
                for (int64_t j = i; j < d; j++) gi[j] += v * br[j];
                ci += v * u[r];
            }
            a->c[i] += ci;
        }
    }
}

static kn_status gram(kn_ctx *ctx, const kn__xy *xy, const double *mean, double tmean, int threads,
                      double *g, double *c) {
    int64_t d = xy->d;
    int64_t stripes = 4 * (int64_t)threads;
    if (stripes > d) stripes = d;
    int64_t *lo = kn__alloc(ctx, (size_t)(stripes + 1) * sizeof *lo);
    double *buf = kn__alloc(ctx, (size_t)stripes * GRAM_ROWS * (size_t)d * sizeof *buf);
    if (!lo || !buf) {
        kn__free(ctx, lo);
        kn__free(ctx, buf);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory for the Gram matrix (%lld features)", (long long)d);
    }
    /* equal shares of the triangle's d (d + 1) / 2 entries */
    double total = 0.5 * (double)d * (double)(d + 1), acc = 0;
    lo[0] = 0;
    int64_t s = 1;
    for (int64_t i = 0; i < d && s < stripes; i++) {
        acc += (double)(d - i);
        if (acc >= total * (double)s / (double)stripes) lo[s++] = i + 1;
    }
    while (s <= stripes) lo[s++] = d;
    memset(g, 0, (size_t)d * (size_t)d * sizeof *g);
    memset(c, 0, (size_t)d * sizeof *c);
    gram_args a = {.xy = xy, .mean = mean, .tmean = tmean, .lo = lo, .buf = buf, .g = g, .c = c};
    kn__pool_run(threads, stripes, gram_stripe, &a);
    for (int64_t i = 0; i < d; i++) // mirror the upper triangle: G is then valid in either major order
        for (int64_t j = 0; j < i; j++) g[i * d + j] = g[j * d + i];
    kn__free(ctx, lo);
    kn__free(ctx, buf);
    return KN_OK;
}

/* ------------------------------------------------------------------ solvers */

/* An upper bound (within a factor d) of the 2-norm condition number of a = U^T U from its
 * Cholesky factor U (upper triangle of u, column-major (n, n)): ||a||_F ||U^-1||_F^2.
 * O(n^3 / 6): U^-1 column by column by back substitution. */
static double cholesky_condition(kn_ctx *ctx, int64_t n, const double *a, const double *u, bool *ok) {
    double *col = kn__alloc(ctx, (size_t)n * sizeof *col);
    *ok = col != NULL;
    if (!col) return INFINITY;
    double anorm = 0, inorm = 0;
    for (int64_t i = 0; i < n * n; i++) anorm += a[i] * a[i];
    for (int64_t j = 0; j < n; j++) { // column j of U^-1: solve U v = e_j (v is zero below j)
        for (int64_t i = j; i >= 0; i--) {
            double s = i == j ? 1.0 : 0.0;
            for (int64_t q = i + 1; q <= j; q++) s -= u[q * n + i] * col[q]; // U(i, q), column-major
            col[i] = s / u[i * n + i];
            inorm += col[i] * col[i];
        }
    }
    kn__free(ctx, col);
    return sqrt(anorm) * inorm;
}

/* Normal equations (g + alpha I) b = c by Cholesky, Jacobi-scaled so the test below sees the
 * conditioning of the problem rather than of the features' units. check_condition (least
 * squares): return KN_ERR_NUMERIC (no message) when the scaled matrix is near singular
 * (condition > 1e10: double then keeps at most 6 digits of the solution; rounding can let
 * the factorization of an exactly singular one succeed), for the caller to try SVD. */
static kn_status solve_cholesky(kn_ctx *ctx, int64_t d, const double *g, const double *c, double alpha,
                                bool check_condition, double *b) {
    size_t dd = (size_t)d * (size_t)d;
    double *a = kn__alloc(ctx, dd * sizeof *a), *a0 = kn__alloc(ctx, dd * sizeof *a0),
           *scale = kn__alloc(ctx, (size_t)d * sizeof *scale);
    if (!a || !a0 || !scale) {
        kn__free(ctx, a);
        kn__free(ctx, a0);
        kn__free(ctx, scale);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory for the normal equations");
    }
    for (int64_t i = 0; i < d; i++) {
        double diag = g[i * d + i] + alpha;
        scale[i] = diag > 0 ? 1.0 / sqrt(diag) : 1.0;
    }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) a[i * d + j] = scale[i] * (g[i * d + j] + (i == j ? alpha : 0)) * scale[j];
    for (int64_t i = 0; i < d; i++) b[i] = scale[i] * c[i];
    memcpy(a0, a, dd * sizeof *a);
    kn_status st = kn__lapack_posv(ctx, (int)d, 1, a, b);
    if (st == KN_OK && check_condition) {
        bool ok;
        double cond = cholesky_condition(ctx, d, a0, a, &ok);
        if (!ok) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory");
        else if (!(cond <= 1e10)) st = KN_ERR_NUMERIC;
    }
    if (st == KN_OK)
        for (int64_t i = 0; i < d; i++) b[i] *= scale[i];
    kn__free(ctx, a);
    kn__free(ctx, a0);
    kn__free(ctx, scale);
    return st;
}

/* Minimum-norm least squares on B = sqrt(w) (x - mean), u = sqrt(w) (t - tmean) by dgelsd.
 * Singular values below max(n, d) * eps * the largest count as zero (numpy lstsq's default:
 * scipy's eps alone can keep the rounding-level singular value of an exactly duplicated
 * column on tall data). */
static kn_status solve_svd(kn_ctx *ctx, const kn__xy *xy, const double *mean, double tmean, double *b) {
    int64_t n = xy->n, d = xy->d, ld = n > d ? n : d;
    if (n > INT32_MAX || ld > INT32_MAX)
        return kn__error(ctx, KN_ERR_UNSUPPORTED, WHO ": %lld x %lld is too large for LAPACK's SVD", (long long)n, (long long)d);
    size_t nd;
    if (!kn__mul_size((size_t)n, (size_t)d, &nd) || !kn__mul_size(nd, sizeof(double), &nd))
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": x too large for the SVD solver");
    double *a = kn__alloc(ctx, nd), *u = kn__alloc(ctx, (size_t)ld * sizeof *u); // (n, d) column-major, (ld)
    if (!a || !u) {
        kn__free(ctx, a);
        kn__free(ctx, u);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory for the SVD solver (%lld x %lld doubles)",
                         (long long)n, (long long)d);
    }
    memset(u, 0, (size_t)ld * sizeof *u);
    for (int64_t i = 0; i < n; i++) {
        double sw = xy->w ? sqrt((double)xy->w[i]) : 1.0;
        const float *xi = xy->x + i * d;
        for (int64_t j = 0; j < d; j++) a[j * n + i] = sw * ((double)xi[j] - mean[j]);
        u[i] = sw * ((double)xy->t[i] - tmean);
    }
    int rank = 0;
    kn_status st = kn__lapack_gelsd(ctx, (int)n, (int)d, 1, a, (int)n, u, (int)ld, (double)ld * DBL_EPSILON, &rank);
    if (st == KN_OK) memcpy(b, u, (size_t)d * sizeof *b);
    kn__free(ctx, a);
    kn__free(ctx, u);
    return st;
}

static kn_status linear_sgd(kn_ctx *ctx, const kn__xy *xy, const kn__linreg_opts *o, const double *mean, double tmean,
                           double *b);

kn_status kn__linreg_fit(kn_ctx *ctx, const kn__xy *xy, const kn__linreg_opts *opts, kn__linear *out) {
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ": out is NULL");
    memset(out, 0, sizeof *out);
    kn__linreg_opts o = opts ? *opts : kn__linreg_defaults();
    solver_kind solver;
    kn_status st = check_opts(ctx, &o, &solver);
    if (st != KN_OK) return st;
    if ((st = kn__linear_check_data(ctx, xy, WHO)) != KN_OK) return st;
    if (!xy->t) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ": no targets (t is NULL)");
    if (!kn__all_finite(xy->t, (size_t)xy->n))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ": the targets t hold NaN or infinity");
    int64_t d = xy->d;
    if (solver != SOLVE_SGD && d > INT32_MAX / 2)
        return kn__error(ctx, KN_ERR_UNSUPPORTED, WHO ": %lld features is too many for the direct solvers", (long long)d);
    if (solver != SOLVE_SGD && (st = kn__lapack_require(ctx, WHO)) != KN_OK) return st;

    double *mean = kn__alloc(ctx, (size_t)d * sizeof *mean), *b = kn__alloc(ctx, (size_t)d * sizeof *b);
    double *g = NULL, *c = NULL, tmean;
    if (!mean || !b) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory");
        goto done;
    }
    weighted_means(xy, o.fit_intercept, mean, &tmean);
    if (solver == SOLVE_SGD) {
        st = linear_sgd(ctx, xy, &o, mean, tmean, b);
    } else if (solver == SOLVE_SVD || (solver == SOLVE_AUTO && o.alpha == 0 && d > 8192)) {
        /* (least squares past 8192 features: the Gram matrix alone is 512 MB, and its cost
         * n d^2 / 2 is the SVD's order anyway) */
        if (o.alpha > 0 && solver == SOLVE_SVD) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, WHO ".solver: svd solves least squares only (alpha = 0), not ridge");
            goto done;
        }
        st = solve_svd(ctx, xy, mean, tmean, b);
    } else {
        size_t dd = (size_t)d * (size_t)d;
        g = kn__alloc(ctx, dd * sizeof *g);
        c = kn__alloc(ctx, (size_t)d * sizeof *c);
        if (!g || !c) {
            st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory for the %lld x %lld Gram matrix", (long long)d,
                           (long long)d);
            goto done;
        }
        if ((st = gram(ctx, xy, mean, tmean, kn_ctx_threads(ctx), g, c)) != KN_OK) goto done;
        bool fallback = solver == SOLVE_AUTO && o.alpha == 0;
        st = solve_cholesky(ctx, d, g, c, o.alpha, o.alpha == 0, b);
        if (st == KN_ERR_NUMERIC && fallback) {
            kn__log(ctx, KN_LOG_DEBUG, WHO ": x is (near) rank-deficient, solving by SVD");
            st = solve_svd(ctx, xy, mean, tmean, b);
        } else if (st == KN_ERR_NUMERIC) {
            st = kn__error(ctx, KN_ERR_NUMERIC, WHO ": the normal equations are singular (a constant or duplicated "
                                                "feature?): use alpha > 0 or solver svd");
        }
    }
    if (st != KN_OK) goto done;
    if ((st = kn__linear_alloc(ctx, 1, d, out)) != KN_OK) goto done;
    double b0 = tmean;
    for (int64_t j = 0; j < d; j++) {
        out->coef[j] = (float)b[j];
        b0 -= mean[j] * b[j];
    }
    out->intercept[0] = o.fit_intercept ? (float)b0 : 0.0f;
    if (solver == SOLVE_SGD) out->n_iter = o.max_iter;
done:
    kn__free(ctx, mean);
    kn__free(ctx, b);
    kn__free(ctx, g);
    kn__free(ctx, c);
    return st;
}

/* ------------------------------------------------------------------ SGD through the graph engine */

/* Minibatch SGD (or Adam) on one dense layer without bias, pred = x_s v, over standardized
 * features x_s = (x - mean) / sx and target u = (t - tmean) / st (the centering makes the
 * intercept come out of the means, as in the direct solvers; the scaling makes one learning
 * rate fit every data set). The loss is the batch mean of w (u - pred)^2 plus, for ridge,
 * alpha / n * sum_j (v_j / sx_j)^2: the ridge objective / (n st^2) in these units.
 * Weights start at zero; rows are shuffled each epoch by (seed, KN_STREAM_LINEAR + epoch).
 * Out: b (d) in x's units. */
static kn_status linear_sgd(kn_ctx *ctx, const kn__xy *xy, const kn__linreg_opts *o, const double *mean, double tmean,
                           double *b) {
    int64_t n = xy->n, d = xy->d, batch = o->batch_size < n ? o->batch_size : n;
    double *sx = kn__calloc(ctx, (size_t)d, sizeof *sx);
    int64_t *idx = kn__alloc(ctx, (size_t)n * sizeof *idx);
    kn_graph *g = NULL;
    kn_status st = KN_OK;
    if (!sx || !idx) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory");
        goto done;
    }
    double sw = 0, stt = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = xy->w ? xy->w[i] : 1.0, u = xy->t[i] - tmean;
        const float *xi = xy->x + i * d;
        for (int64_t j = 0; j < d; j++) sx[j] += wi * ((double)xi[j] - mean[j]) * ((double)xi[j] - mean[j]);
        stt += wi * u * u;
        sw += wi;
    }
    for (int64_t j = 0; j < d; j++) sx[j] = sx[j] > 0 ? sqrt(sx[j] / sw) : 1.0;
    stt = stt > 0 ? sqrt(stt / sw) : 1.0;

    if ((st = kn_graph_new(ctx, &g)) != KN_OK) goto done;
    kn_graph_set_device(g, KN_DEVICE_CPU); /* a small solve whose results are read on the host */
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){-1, d}, 2, "x");
    kn_tensor *u = kn_input(g, KN_F32, (int64_t[]){-1, 1}, 2, "t");
    kn_tensor *w = xy->w ? kn_input(g, KN_F32, (int64_t[]){-1}, 1, "sample_weight") : NULL;
    kn_tensor *v = kn_param(g, (int64_t[]){d, 1}, 2, KN_INIT_ZEROS, "coef");
    kn_tensor *loss = kn_loss_op_weighted(g, KN_LOSS_MSE, kn_matmul(g, x, v), u, w, false);
    kn_tensor *inv_sx = NULL;
    if (o->alpha > 0) {
        inv_sx = kn_input(g, KN_F32, (int64_t[]){d, 1}, 2, "inv_scale");
        kn_tensor *pen = kn_sum_squares(g, kn_mul(g, v, inv_sx));
        loss = kn_add(g, loss, kn_scale(g, pen, (float)(o->alpha / (double)n)));
    }
    kn_optimizer opt = o->adam ? kn_adam((float)o->learning_rate) : kn_sgd((float)o->learning_rate);
    if ((st = kn_graph_backward(g, loss)) != KN_OK) goto done;
    if ((st = kn_graph_add_optimizer(g, &opt)) != KN_OK) goto done;
    if ((st = kn_graph_compile(g, batch, true)) != KN_OK) goto done;
    if (inv_sx) {
        float *p = kn_tensor_data(inv_sx);
        for (int64_t j = 0; j < d; j++) p[j] = (float)(1.0 / sx[j]);
    }
    for (int epoch = 0; epoch < o->max_iter; epoch++) {
        for (int64_t i = 0; i < n; i++) idx[i] = i;
        kn__rng_shuffle(idx, n, o->seed, KN_STREAM_LINEAR + (uint64_t)epoch);
        for (int64_t r0 = 0; r0 < n; r0 += batch) {
            int64_t rows = n - r0 < batch ? n - r0 : batch;
            if ((st = kn_graph_set_batch(g, rows)) != KN_OK) goto done;
            float *px = kn_tensor_data(x), *pu = kn_tensor_data(u), *pw = w ? kn_tensor_data(w) : NULL;
            for (int64_t r = 0; r < rows; r++) {
                int64_t i = idx[r0 + r];
                const float *xi = xy->x + i * d;
                for (int64_t j = 0; j < d; j++) px[r * d + j] = (float)(((double)xi[j] - mean[j]) / sx[j]);
                pu[r] = (float)(((double)xy->t[i] - tmean) / stt);
                if (pw) pw[r] = xy->w[i];
            }
            if ((st = kn_graph_run(g)) != KN_OK) goto done;
        }
    }
    const float *pv = kn_tensor_data(v);
    for (int64_t j = 0; j < d; j++) b[j] = stt * (double)pv[j] / sx[j];
    if (!kn__all_finite(pv, (size_t)d))
        st = kn__error(ctx, KN_ERR_NUMERIC, WHO ": SGD diverged (learning_rate %g is too large)", o->learning_rate);
done:
    kn_graph_free(g);
    kn__free(ctx, sx);
    kn__free(ctx, idx);
    return st;
}
