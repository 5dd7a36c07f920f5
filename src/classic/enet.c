/* enet.c — the elastic net and the lasso fitted as scikit-learn 1.2's ElasticNet and Lasso fit
 * them (dense cyclic or random coordinate descent, cd_fast.enet_coordinate_descent), see
 * linear.h. In double throughout: x is centred (weighted means, when fitting an intercept),
 * rows are scaled by sqrt(w * n / sum w) as scikit-learn rescales weighted data, and each
 * sweep updates every coefficient by soft-thresholding against the residual; when the sweep's
 * largest change is below tol times the largest coefficient (or at the last sweep), the
 * duality gap decides whether to stop, against tol times |y|^2. */
#include "classic/linear.h"

#include <math.h>
#include <string.h>

kn__enet_opts kn__enet_defaults(void) {
    return (kn__enet_opts){.alpha = 1.0, .l1_ratio = 0.5, .fit_intercept = true, .max_iter = 1000, .tol = 1e-4};
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy(double a, const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* The duality gap of the current w (scikit-learn's formula; l1, l2 are the scaled penalties). */
static double duality_gap(const double *X, const double *y, const double *R, const double *w, int64_t n, int64_t d, double l1,
                          double l2, bool positive) {
    double dual_norm = 0, w_norm2 = 0, l1_norm = 0;
    for (int64_t j = 0; j < d; j++) {
        const double xta = dot(X + j * n, R, n) - l2 * w[j];
        dual_norm = positive ? fmax(dual_norm, xta) : fmax(dual_norm, fabs(xta));
        w_norm2 += w[j] * w[j];
        l1_norm += fabs(w[j]);
    }
    const double r_norm2 = dot(R, R, n);
    double c = 1, gap = r_norm2;
    if (dual_norm > l1) {
        c = l1 / dual_norm;
        gap = 0.5 * (r_norm2 + r_norm2 * c * c);
    }
    return gap + l1 * l1_norm - c * dot(R, y, n) + 0.5 * l2 * (1 + c * c) * w_norm2;
}

kn_status kn__enet_fit(kn_ctx *ctx, const kn__xy *xy, const kn__enet_opts *o, const char *who, kn__linear *out) {
    memset(out, 0, sizeof *out);
    if (!xy || !xy->x || !xy->t || xy->n < 1 || xy->d < 1) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: no training data", who);
    if (!(o->alpha >= 0) || !isfinite(o->alpha)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s.alpha: %g must be >= 0", who, o->alpha);
    if (!(o->l1_ratio >= 0 && o->l1_ratio <= 1))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s.l1_ratio: %g must be in [0, 1]", who, o->l1_ratio);
    if (o->max_iter < 1 || !(o->tol >= 0)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: max_iter >= 1 and tol >= 0", who);
    const int64_t n = xy->n, d = xy->d;
    double wsum = 0;
    for (int64_t i = 0; i < n; i++) {
        const double w = xy->w ? xy->w[i] : 1.0;
        if (!(w >= 0) || !isfinite(w)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: row %lld has weight %g", who, (long long)i, w);
        if (!isfinite(xy->t[i])) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: target of row %lld is not finite", who, (long long)i);
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(xy->x[i * d + j]))
                return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: row %lld, feature %lld is not finite", who, (long long)i, (long long)j);
        wsum += w;
    }
    if (!(wsum > 0)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: the rows' weights sum to 0", who);
    size_t size;
    double *X = NULL, *y = NULL, *R = NULL, *coef = NULL, *norm2 = NULL, *mean = NULL, *sw = NULL;
    if (kn__mul_size((size_t)n, (size_t)d, &size) && kn__mul_size(size, sizeof(double), &size)) X = kn__alloc(ctx, size);
    y = kn__alloc(ctx, (size_t)n * sizeof *y), R = kn__alloc(ctx, (size_t)n * sizeof *R), sw = kn__alloc(ctx, (size_t)n * sizeof *sw);
    coef = kn__calloc(ctx, (size_t)d, sizeof *coef), norm2 = kn__alloc(ctx, (size_t)d * sizeof *norm2);
    mean = kn__calloc(ctx, (size_t)d + 1, sizeof *mean); /* x means, then the target's */
    kn_status st = X && y && R && sw && coef && norm2 && mean ? kn__linear_alloc(ctx, 1, d, out)
                                                             : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld x %lld doubles", who,
                                                                         (long long)n, (long long)d);
    if (!st) {
        /* weights rescaled to sum to n; centred columns, each row times sqrt(its weight) */
        for (int64_t i = 0; i < n; i++) sw[i] = (xy->w ? xy->w[i] : 1.0) * ((double)n / wsum);
        if (o->fit_intercept) {
            for (int64_t i = 0; i < n; i++) {
                for (int64_t j = 0; j < d; j++) mean[j] += sw[i] * xy->x[i * d + j];
                mean[d] += sw[i] * xy->t[i];
            }
            for (int64_t j = 0; j <= d; j++) mean[j] /= (double)n;
        }
        for (int64_t i = 0; i < n; i++) {
            const double s = sqrt(sw[i]);
            for (int64_t j = 0; j < d; j++) X[j * n + i] = ((double)xy->x[i * d + j] - mean[j]) * s; /* column-major */
            y[i] = R[i] = ((double)xy->t[i] - mean[d]) * s;
        }
        for (int64_t j = 0; j < d; j++) norm2[j] = dot(X + j * n, X + j * n, n);
        const double l1 = o->alpha * o->l1_ratio * (double)n, l2 = o->alpha * (1 - o->l1_ratio) * (double)n;
        const double tol = o->tol * dot(y, y, n);
        int iter = 0;
        bool converged = false;
        for (; iter < o->max_iter && !converged; iter++) {
            double w_max = 0, dw_max = 0;
            for (int64_t f = 0; f < d; f++) {
                const int64_t j = o->random_selection ? (int64_t)(kn__rng_u64(o->seed, KN_STREAM_LINEAR + 1, (uint64_t)(iter * d + f)) % (uint64_t)d) : f;
                if (norm2[j] == 0) continue;
                const double old = coef[j], *xj = X + j * n;
                if (old != 0) axpy(old, xj, R, n);
                const double tmp = dot(xj, R, n);
                coef[j] = o->positive && tmp < 0 ? 0 : copysign(fmax(fabs(tmp) - l1, 0), tmp) / (norm2[j] + l2);
                if (coef[j] != 0) axpy(-coef[j], xj, R, n);
                dw_max = fmax(dw_max, fabs(coef[j] - old));
                w_max = fmax(w_max, fabs(coef[j]));
            }
            if (w_max == 0 || dw_max / w_max < o->tol || iter == o->max_iter - 1)
                converged = duality_gap(X, y, R, coef, n, d, l1, l2, o->positive) < tol;
        }
        if (!converged)
            kn__log(ctx, KN_LOG_WARN, "%s: the duality gap is above tol %g after max_iter %d sweeps; raise max_iter or tol", who, o->tol,
                    o->max_iter);
        double b = mean[d];
        for (int64_t j = 0; j < d; j++) out->coef[j] = (float)coef[j], b -= mean[j] * coef[j];
        out->intercept[0] = o->fit_intercept ? (float)b : 0.0f;
        out->n_iter = iter;
    }
    kn__free(ctx, X), kn__free(ctx, y), kn__free(ctx, R), kn__free(ctx, sw);
    kn__free(ctx, coef), kn__free(ctx, norm2), kn__free(ctx, mean);
    if (st) kn__linear_free(ctx, out);
    return st;
}
