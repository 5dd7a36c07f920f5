/* svm_kernel_svr.c — epsilon-support vector regression (LIBSVM's EPSILON_SVR, scikit-learn's
 * SVR) on the kernel SVM's solver:
 *   min 0.5 (a - a*)' K (a - a*) + epsilon sum (a + a*) - t'(a - a*),
 *   sum (a - a*) = 0, 0 <= a_i, a*_i <= C_i,
 * written as LIBSVM's solve_epsilon_svr writes it: one problem of 2l variables, row i twice
 * (y = +1 with linear term epsilon - t_i, y = -1 with epsilon + t_i), solved by the same SMO
 * (svm_kernel_smo.c) with the kernel held as LIBSVM's SVR_Q holds it: whole rows over the l
 * rows, cached by row, gathered into each variable's signed row. The prediction is
 * sum_i (a_i - a*_i) K(x_i, x) - rho over the rows with a_i != a*_i. With opts->nu > 0 it is
 * nu-SVR (LIBSVM's NU_SVR, scikit-learn's NuSVR): Solver_NU from LIBSVM's starting point, the
 * tube's width found by the fit. */
#include "classic/svm_kernel.h"

#include <math.h>
#include <string.h>

kn_status kn__svm_fit_svr(kn_ctx *ctx, const kn__xy *data, const kn__svm_opts *opts, kn__svm *out) {
    const int64_t n = data->n, d = data->d;
    kn_status st = kn__svm_check_opts(ctx, opts, 0);
    if (st != KN_OK) return st;
    if (opts->probability)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.probability: regression (SVR) gives values, not probabilities");
    if (opts->class_weight) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.class_weight: regression has no classes");
    if (!data->x || !data->t || n <= 0 || d <= 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: needs x and targets t (n %lld, d %lld)", (long long)n, (long long)d);
    size_t nd;
    if (!kn__mul_size((size_t)n, (size_t)d, &nd))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: %lld x %lld is too large", (long long)n, (long long)d);
    if (!kn__all_finite(data->x, nd)) return kn__error(ctx, KN_ERR_NUMERIC, "svm: x has NaN or infinity");
    int64_t l = 0;
    for (int64_t r = 0; r < n; r++) {
        if (!isfinite(data->t[r]))
            return kn__error(ctx, KN_ERR_NUMERIC, "svm: target %g of row %lld is not finite", (double)data->t[r], (long long)r);
        if (data->w && (!(data->w[r] >= 0) || !isfinite(data->w[r])))
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: sample weight %g of row %lld must be >= 0", (double)data->w[r],
                             (long long)r);
        if (!data->w || data->w[r] > 0) l++;
    }
    if (l == 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: no rows of positive weight");
    if (2 * l > INT32_MAX)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: %lld rows; regression takes at most 2^30 - 1", (long long)l);

    const int64_t l2 = 2 * l;
    int64_t *rows = kn__alloc(ctx, (size_t)l * sizeof *rows);
    double *C = kn__alloc(ctx, (size_t)l2 * sizeof *C), *p = kn__alloc(ctx, (size_t)l2 * sizeof *p);
    double *alpha = kn__alloc(ctx, (size_t)l2 * sizeof *alpha), *alpha0 = kn__alloc(ctx, (size_t)l2 * sizeof *alpha0);
    kn__svm_shared sh;
    bool sh_lock = false;
    if (!rows || !C || !p || !alpha || !alpha0) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for %lld rows", (long long)n);
        goto done;
    }
    /* nu-SVR (LIBSVM's solve_nu_svr): no epsilon in the linear term; both alphas of a row
     * start at min(C_i, what is left of nu sum(C) / 2), filled greedily, and Solver_NU keeps
     * each sign's sum, so the tube's width comes out of the fit (-r) */
    const bool nu = opts->nu > 0;
    double c_sum = 0;
    for (int64_t r = 0, i = 0; r < n; r++) {
        if (data->w && !(data->w[r] > 0)) continue;
        const double c = opts->C * (data->w ? (double)data->w[r] : 1.0), t = data->t[r];
        rows[i] = r;
        C[i] = C[i + l] = c;
        p[i] = (nu ? 0 : opts->epsilon) - t;
        p[i + l] = (nu ? 0 : opts->epsilon) + t;
        c_sum += c;
        i++;
    }
    double left = opts->nu * c_sum / 2;
    for (int64_t i = 0; i < l; i++) {
        alpha0[i] = alpha0[i + l] = nu ? fmin(left, C[i]) : 0;
        left -= alpha0[i];
    }
    double gamma;
    if ((st = kn__svm_shared_init(&sh, ctx, opts, data->x, nd, d, &gamma)) != KN_OK) goto done;
    sh_lock = true;
    sh.gemm_threads = kn_ctx_threads(ctx); /* one problem: its kernel rows may use every thread */
    kn__svm_solution sol;
    const kn__svm_problem pb = {.rows = rows, .n_rows = (int32_t)l, .svr = true, .C = C, .p = p, .alpha0 = nu ? alpha0 : NULL, .nu = nu};
    if (!kn__svm_solve(&sh, &pb, alpha, &sol)) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory to solve %lld rows (cache %g MB)", (long long)l,
                       opts->cache_size);
        goto done;
    }
    /* alpha holds y alpha: a_i in [0, l), -a*_i in [l, 2l); the coefficient is their sum */
    int64_t n_sv = 0;
    for (int64_t i = 0; i < l; i++) n_sv += alpha[i] + alpha[i + l] != 0;
    out->n_sv_class = kn__calloc(ctx, 2, sizeof *out->n_sv_class);
    out->intercept = kn__alloc(ctx, sizeof *out->intercept);
    out->sv = kn__alloc(ctx, (size_t)(n_sv > 0 ? n_sv : 1) * (size_t)d * sizeof *out->sv);
    out->support = kn__alloc(ctx, (size_t)(n_sv > 0 ? n_sv : 1) * sizeof *out->support);
    out->dual_coef = kn__calloc(ctx, (size_t)(n_sv > 0 ? n_sv : 1), sizeof *out->dual_coef);
    if (!out->n_sv_class || !out->intercept || !out->sv || !out->support || !out->dual_coef) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for the model");
        goto done;
    }
    for (int64_t i = 0, q = 0; i < l; i++) {
        const double coef = alpha[i] + alpha[i + l];
        if (coef == 0) continue;
        memcpy(out->sv + q * d, data->x + rows[i] * d, (size_t)d * sizeof *out->sv);
        out->support[q] = rows[i];
        out->dual_coef[q++] = (float)coef;
    }
    out->n_sv_class[0] = (int32_t)n_sv;
    out->intercept[0] = (float)-sol.rho;
    out->n_classes = 2;
    out->regression = true;
    out->n_sv = n_sv;
    out->d = d;
    kn__svm_set_kernel(out, opts, gamma);
    out->n_iter = sol.iters;
    if (opts->max_iter != -1 && sol.iters >= opts->max_iter)
        kn__log(ctx, KN_LOG_WARN, "svm: stopped at max_iter %lld before tol %g", (long long)opts->max_iter, opts->tol);
done:
    if (sh_lock) kn__svm_shared_done(&sh);
    kn__free(ctx, rows);
    kn__free(ctx, alpha0);
    kn__free(ctx, C);
    kn__free(ctx, p);
    kn__free(ctx, alpha);
    if (st != KN_OK) kn__svm_free(ctx, out);
    return st;
}
