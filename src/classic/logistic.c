/* logistic.c — logistic regression as scikit-learn's LogisticRegression(solver="lbfgs") fits
 * it: the same objective (sum_i w_i logloss_i + penalty / C, intercept unpenalized), the same
 * optimizer (L-BFGS, 10 corrections, Moré-Thuente line search: scipy's L-BFGS-B without
 * bounds, step for step) and the same stopping rule (max |gradient| <= tol, or the objective's
 * relative fall <= 2.2e-9), so iteration counts and unconverged fits compare. l1 runs OWL-QN
 * (L-BFGS on the orthant, backtracking line search) to the same rule on the pseudo-gradient.
 * *
 * Files: logistic.c (this one: options, the fit, prediction and metrics), logistic_loss.c
 * (the objective: loss and gradient over the rows), logistic_lbfgs.c (L-BFGS and OWL-QN);
 * logistic.h declares what they share. */
#include "classic/logistic.h"

#include <math.h>
#include <string.h>

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
    kn__logreg_problem pb;
    kn__logreg_work wk;
    double *theta = NULL;
    if ((st = kn__logreg_problem_init(ctx, &pb, xy, k, threads)) != KN_OK) return st;
    if ((st = kn__logreg_work_init(ctx, &wk, size)) != KN_OK) goto done;
    if (!(theta = kn__alloc(ctx, (size_t)size * sizeof *theta))) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory");
        goto done;
    }
    if ((st = kn__linear_alloc(ctx, binary ? 1 : classes, d, out)) != KN_OK) goto done;
    kn__logreg_objective_fn ob = {.pb = &pb, .penalty = pen, .lambda = pen == PEN_NONE ? 0.0 : 1.0 / o.C,
                    .intercept = o.fit_intercept, .n_penalized = k * d, .size = size};
    bool all_converged = true;
    for (int64_t c = 0; c < fits; c++) {
        pb.pos = binary ? 1 : (int32_t)c;
        memset(theta, 0, (size_t)size * sizeof *theta);
        memset(pb.z0, 0, (size_t)((pb.n + BLOCK_ROWS - 1) / BLOCK_ROWS * k * BLOCK_ROWS) * sizeof *pb.z0);
        kn__logreg_solve_result r = pen == PEN_L1 ? kn__logreg_owlqn(&ob, &wk, theta, o.max_iter, o.tol)
                                                  : kn__logreg_lbfgs(&ob, &wk, theta, o.max_iter, o.tol);
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
    kn__logreg_problem_free(ctx, &pb);
    kn__logreg_work_free(ctx, &wk);
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
    kn__logreg_problem pb;
    if ((st = kn__logreg_problem_init(ctx, &pb, xy, m->k, o.threads ? o.threads : kn_ctx_threads(ctx))) != KN_OK)
        return st;
    int64_t kd = m->k * m->d;
    double *theta = kn__alloc(ctx, (size_t)(kd + m->k) * sizeof *theta);
    if (!theta) {
        kn__logreg_problem_free(ctx, &pb);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, WHO ": out of memory");
    }
    for (int64_t j = 0; j < kd; j++) theta[j] = m->coef[j];
    for (int64_t c = 0; c < m->k; c++) theta[kd + c] = m->intercept[c];
    pb.need_grad = false;
    double loss = kn__logreg_loss_grad(&pb, theta, 1.0, true, NULL), sq = kn__logreg_dot(theta, theta, kd);
    *out = pen == PEN_NONE ? loss : o.C * loss + (pen == PEN_L2 ? 0.5 * sq : kn__logreg_l1_norm(theta, kd));
    kn__free(ctx, theta);
    kn__logreg_problem_free(ctx, &pb);
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
