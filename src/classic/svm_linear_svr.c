/* svm_linear_svr.c — linear support vector regression (LIBLINEAR's L2R_L1LOSS_SVR_DUAL and
 * L2R_L2LOSS_SVR_DUAL, scikit-learn's LinearSVR): dual coordinate descent with shrinking
 * (Ho and Lin, "Large-scale linear support vector regression", JMLR 2012; LIBLINEAR's
 * solve_l2r_l1l2_svr, with scikit-learn's per-sample C). The dual of
 *   min_w 0.5 |w|^2 + sum_i C_i loss(t_i - w.x_i)
 * in one variable beta_i per row, -U_i <= beta_i <= U_i, w = sum_i beta_i x_i:
 *   epsilon_insensitive:         lambda_i = 0,          U_i = C_i
 *   squared_epsilon_insensitive: lambda_i = 1 / (2 C_i), U_i = inf
 * Each pass visits the active rows in a random order (from kn__rng_u64, as the classifier's
 * passes), takes the one-variable Newton step of the piecewise quadratic, and shrinks rows
 * whose beta sits at 0 or a bound and whose gradient says it will stay; it stops when the
 * pass's summed violation falls to tol times the first pass's (then checks every row once
 * more). The bias is an extra feature of value intercept_scaling, regularized, as LIBLINEAR
 * does. w in double, x read in float32. */
#include "classic/svm.h"

#include <math.h>
#include <string.h>

/* x (d, float) . w (d, double) with four running sums (the same order on every machine) */
static double dot_fd(const float *restrict x, const double *restrict w, int64_t d) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    for (; j + 4 <= d; j += 4) {
        s0 += (double)x[j] * w[j];
        s1 += (double)x[j + 1] * w[j + 1];
        s2 += (double)x[j + 2] * w[j + 2];
        s3 += (double)x[j + 3] * w[j + 3];
    }
    for (; j < d; j++) s0 += (double)x[j] * w[j];
    return (s0 + s1) + (s2 + s3);
}

static void axpy_fd(double a, const float *restrict x, double *restrict w, int64_t d) {
    for (int64_t j = 0; j < d; j++) w[j] += a * (double)x[j];
}

/* a splitmix64 step: the pass's permutation draws (seeded per pass from kn__rng_u64) */
static uint64_t next_draw(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

kn_status kn__svm_linear_fit_svr(kn_ctx *ctx, const kn__xy *data, const kn__svm_linear_opts *opts, kn__svm_linear *out) {
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: out is NULL");
    memset(out, 0, sizeof *out);
    if (!data || !opts) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: data or opts is NULL");
    kn_status st = kn__svm_linear_check_opts(ctx, opts, true);
    if (st != KN_OK) return st;
    const int64_t n = data->n, d = data->d;
    if (!data->x || !data->t || n <= 0 || d <= 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: needs x and targets t (n %lld, d %lld)", (long long)n,
                         (long long)d);
    if (n > INT32_MAX) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: %lld rows, at most 2^31-1", (long long)n);
    size_t nd;
    if (!kn__mul_size((size_t)n, (size_t)d, &nd))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: %lld x %lld is too large", (long long)n, (long long)d);
    if (!kn__all_finite(data->x, nd)) return kn__error(ctx, KN_ERR_NUMERIC, "linear_svm: x has NaN or infinity");
    for (int64_t r = 0; r < n; r++) {
        if (!isfinite(data->t[r]))
            return kn__error(ctx, KN_ERR_NUMERIC, "linear_svm: target %g of row %lld is not finite", (double)data->t[r],
                             (long long)r);
        if (data->w && (!(data->w[r] >= 0) || !isfinite(data->w[r])))
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: sample weight %g of row %lld must be >= 0",
                             (double)data->w[r], (long long)r);
    }
    const bool l1 = opts->loss == KN_SVM_EPSILON_INSENSITIVE;
    const double bias = opts->fit_intercept ? opts->intercept_scaling : 0, eps = opts->epsilon;

    /* rows of positive weight, each with what a step needs */
    int32_t *index = kn__alloc(ctx, (size_t)n * sizeof *index);
    double *beta = kn__calloc(ctx, (size_t)n, sizeof *beta);
    double *qd = kn__alloc(ctx, (size_t)n * sizeof *qd), *lambda = kn__alloc(ctx, (size_t)n * sizeof *lambda);
    double *ub = kn__alloc(ctx, (size_t)n * sizeof *ub);
    int64_t *row = kn__alloc(ctx, (size_t)n * sizeof *row);
    double *w = kn__calloc(ctx, (size_t)(d + 1), sizeof *w);
    out->coef = kn__alloc(ctx, (size_t)d * sizeof *out->coef);
    out->intercept = kn__calloc(ctx, 1, sizeof *out->intercept);
    if (!index || !beta || !qd || !lambda || !ub || !row || !w || !out->coef || !out->intercept) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "linear_svm: no memory for %lld rows", (long long)n);
        goto done;
    }
    int64_t l = 0;
    for (int64_t r = 0; r < n; r++) {
        if (data->w && !(data->w[r] > 0)) continue;
        const double c = opts->C * (data->w ? (double)data->w[r] : 1.0);
        const float *xi = data->x + r * d;
        double sq = 0;
        for (int64_t q = 0; q < d; q++) sq += (double)xi[q] * xi[q];
        row[l] = r;
        qd[l] = sq + bias * bias;
        lambda[l] = l1 ? 0 : 0.5 / c;
        ub[l] = l1 ? c : INFINITY;
        index[l] = (int32_t)l;
        l++;
    }
    if (l == 0) {
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "linear_svm: no rows of positive weight");
        goto done;
    }

    int64_t active = l;
    double gmax_old = INFINITY, gnorm1_init = -1;
    int iter = 0;
    while (iter < opts->max_iter) {
        double gmax_new = 0, gnorm1_new = 0;
        uint64_t state = kn__rng_u64(opts->seed, KN_STREAM_SVM, (uint64_t)iter);
        for (int64_t i = 0; i + 1 < active; i++) {
            int64_t k = i + (int64_t)(((unsigned __int128)next_draw(&state) * (uint64_t)(active - i)) >> 64);
            int32_t t = index[i];
            index[i] = index[k], index[k] = t;
        }
        for (int64_t s = 0; s < active; s++) {
            const int32_t i = index[s];
            const float *xi = data->x + row[i] * d;
            const double b = beta[i], H = qd[i] + lambda[i];
            const double G = -(double)data->t[row[i]] + lambda[i] * b + dot_fd(xi, w, d) + w[d] * bias;
            const double gp = G + eps, gn = G - eps;
            double violation = 0;
            bool shrink = false;
            if (b == 0) {
                if (gp < 0) violation = -gp;
                else if (gn > 0) violation = gn;
                else shrink = gp > gmax_old && gn < -gmax_old;
            } else if (b >= ub[i]) {
                if (gp > 0) violation = gp;
                else shrink = gp < -gmax_old;
            } else if (b <= -ub[i]) {
                if (gn < 0) violation = -gn;
                else shrink = gn > gmax_old;
            } else
                violation = b > 0 ? fabs(gp) : fabs(gn);
            if (shrink) { /* at 0 or a bound and likely to stay: out of the active set */
                active--;
                index[s] = index[active], index[active] = i;
                s--;
                continue;
            }
            if (violation > gmax_new) gmax_new = violation;
            gnorm1_new += violation;
            /* the Newton step of the piecewise quadratic in beta_i */
            double step = gp < H * b ? -gp / H : gn > H * b ? -gn / H : -b;
            if (fabs(step) < 1.0e-12) continue;
            double nb = b + step;
            nb = nb < -ub[i] ? -ub[i] : nb > ub[i] ? ub[i] : nb;
            beta[i] = nb;
            if (nb != b) {
                axpy_fd(nb - b, xi, w, d);
                w[d] += (nb - b) * bias;
            }
        }
        if (iter == 0) gnorm1_init = gnorm1_new;
        iter++;
        if (gnorm1_new <= opts->tol * gnorm1_init) {
            if (active == l) break;
            active = l; /* converged on the shrunk set: check every row once more */
            gmax_old = INFINITY;
            continue;
        }
        gmax_old = gmax_new;
    }
    for (int64_t q = 0; q < d; q++) out->coef[q] = (float)w[q];
    out->intercept[0] = (float)(w[d] * bias);
    out->k = 1;
    out->d = d;
    out->n_iter = iter;
    out->regression = true;
    if (iter >= opts->max_iter)
        kn__log(ctx, KN_LOG_WARN, "linear_svm: did not converge in max_iter %d passes (tol %g); raise max_iter", opts->max_iter,
                opts->tol);
done:
    kn__free(ctx, index);
    kn__free(ctx, beta);
    kn__free(ctx, qd);
    kn__free(ctx, lambda);
    kn__free(ctx, ub);
    kn__free(ctx, row);
    kn__free(ctx, w);
    if (st != KN_OK) kn__svm_linear_free(ctx, out);
    return st;
}
