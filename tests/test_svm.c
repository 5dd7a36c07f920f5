/* test_svm.c — the linear SVM (classic/svm_linear.c) and the kernel SVM (classic/svm_kernel.c)
 * against scikit-learn 1.2.1's LinearSVC and SVC on iris, wine and breast_cancer
 * (tests/golden/svm.txt, made by tests/golden/make_svm.py from tests/data/ (iris, wine, breast_cancer) standardized
 * the same way here), the KKT conditions at kiln's own solutions, one-vs-one voting, Platt
 * probabilities, determinism across thread counts and the refusal of bad hyperparameters.
 * Run from the repository root. */
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "classic/svm.h"
#include "svm_ref.h"
#include "data/csv.h"

/* ------------------------------------------------------------------ golden file */

#include "golden.h"

static int getf(double *out, int max, const char *fmt, const char *tag) {
    char key[128];
    snprintf(key, sizeof key, fmt, tag);
    return get(key, out, max);
}

/* ------------------------------------------------------------------ data */

typedef struct {
    const char *name;
    int64_t n, d;
    int k;
    float *x;
    int32_t *y;
} dataset;

/* tests/data/NAME.csv, last column the label: labels numbered in the sorted order of their
 * text, features standardized with the population std in double and rounded to float, as
 * make_svm.py does. */
static int load(kn_ctx *ctx, const char *name, dataset *ds) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s.csv", name);
    kn__csv csv;
    if (kn__csv_read(ctx, path, &(kn__csv_opts){.keep_text = true}, &csv) != KN_OK) {
        printf("FAIL %s: %s\n", path, kn_last_error(ctx));
        failures++;
        return 0;
    }
    ds->name = name;
    ds->n = csv.rows;
    ds->d = csv.cols - 1;
    ds->x = malloc(sizeof(float) * (size_t)(ds->n * ds->d));
    ds->y = malloc(sizeof(int32_t) * (size_t)ds->n);
    const char *labels[16];
    int k = 0;
    for (int64_t r = 0; r < ds->n; r++) {
        const char *s = csv.cells[r * csv.cols + ds->d];
        int c = 0;
        while (c < k && strcmp(labels[c], s) != 0) c++;
        if (c == k && k < 16) labels[k++] = s;
    }
    for (int a = 1; a < k; a++) /* sort the label texts */
        for (int b = a; b > 0 && strcmp(labels[b - 1], labels[b]) > 0; b--) {
            const char *t = labels[b];
            labels[b] = labels[b - 1], labels[b - 1] = t;
        }
    for (int64_t r = 0; r < ds->n; r++) {
        const char *s = csv.cells[r * csv.cols + ds->d];
        for (int c = 0; c < k; c++)
            if (strcmp(labels[c], s) == 0) ds->y[r] = c;
    }
    ds->k = k;
    for (int64_t j = 0; j < ds->d; j++) {
        double mean = 0, var = 0;
        for (int64_t r = 0; r < ds->n; r++) mean += csv.values[r * csv.cols + j];
        mean /= (double)ds->n;
        for (int64_t r = 0; r < ds->n; r++) {
            double v = csv.values[r * csv.cols + j] - mean;
            var += v * v;
        }
        double sd = sqrt(var / (double)ds->n);
        if (sd == 0) sd = 1;
        for (int64_t r = 0; r < ds->n; r++) ds->x[r * ds->d + j] = (float)((csv.values[r * csv.cols + j] - mean) / sd);
    }
    kn__csv_free(ctx, &csv);
    double shape[2] = {0}, *yref = malloc(sizeof(double) * (size_t)ds->n);
    CHECK(getf(shape, 2, "%s_shape", name) == 2 && shape[0] == ds->n && shape[1] == ds->d, "%s: shape", name);
    int ny = getf(yref, (int)ds->n, "%s_y", name), bad = 0;
    for (int64_t r = 0; r < ds->n && ny == ds->n; r++) bad += yref[r] != ds->y[r];
    CHECK(ny == ds->n && bad == 0, "%s: labels differ from make_svm.py's (%d)", name, bad);
    free(yref);
    return 1;
}

static kn__xy xy_of(const dataset *ds) {
    return (kn__xy){.x = ds->x, .n = ds->n, .d = ds->d, .y = ds->y, .n_classes = ds->k};
}

static double *dalloc(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

/* ------------------------------------------------------------------ linear SVM */

/* Fits one LinearSVC case and compares coef, intercept (relative to the largest |coef| of
 * each classifier, rel), predictions (at most max_diff differ) and n_iter when tight. */
static void linear_case(kn_ctx *ctx, const char *tag, const dataset *ds, kn__svm_linear_opts o, const float *w,
                        double rel, int max_diff) {
    kn__xy xy = xy_of(ds);
    xy.w = w;
    kn__svm_linear m;
    kn_status st = kn__svm_linear_fit(ctx, &xy, &o, &m);
    CHECK(st == KN_OK, "%s: fit: %s", tag, kn_last_error(ctx));
    if (st != KN_OK) return;
    const int64_t k = ds->k == 2 ? 1 : ds->k, d = ds->d;
    CHECK(m.k == k && m.d == d, "%s: k %lld d %lld", tag, (long long)m.k, (long long)m.d);
    double *coef = dalloc(k * d), *icpt = dalloc(k), *pred = dalloc(ds->n);
    CHECK(getf(coef, (int)(k * d), "%s_coef", tag) == k * d && getf(icpt, (int)k, "%s_intercept", tag) == k &&
              getf(pred, (int)ds->n, "%s_pred", tag) == ds->n,
          "%s: golden records missing", tag);
    double worst = 0;
    for (int64_t c = 0; c < k; c++) {
        double scale = 0;
        for (int64_t j = 0; j < d; j++) scale = fmax(scale, fabs(coef[c * d + j]));
        for (int64_t j = 0; j < d; j++) worst = fmax(worst, fabs(m.coef[c * d + j] - coef[c * d + j]) / scale);
        worst = fmax(worst, fabs(m.intercept[c] - icpt[c]) / scale);
    }
    CHECK(worst <= rel, "%s: coef/intercept differ from LinearSVC's by %.3g of the largest (allowed %.3g)", tag, worst,
          rel);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)ds->n);
    float *dec = malloc(sizeof(float) * (size_t)(ds->n * k));
    kn__svm_linear_predict(ctx, &m, ds->x, ds->n, labels);
    kn__svm_linear_decision(ctx, &m, ds->x, ds->n, dec);
    int diff = 0, right = 0, right_ref = 0, inconsistent = 0;
    for (int64_t r = 0; r < ds->n; r++) {
        diff += labels[r] != (int32_t)pred[r];
        right += labels[r] == ds->y[r];
        right_ref += (int32_t)pred[r] == ds->y[r];
        int32_t best = 0; /* the label must be the argmax of the decisions */
        for (int64_t c = 1; c < k; c++)
            if (dec[r * k + c] > dec[r * k + best]) best = (int32_t)c;
        if (k == 1) best = dec[r] > 0;
        inconsistent += best != labels[r];
    }
    CHECK(diff <= max_diff, "%s: %d predictions differ from LinearSVC's (allowed %d)", tag, diff, max_diff);
    CHECK(abs(right - right_ref) <= max_diff, "%s: accuracy %d vs LinearSVC's %d of %lld", tag, right, right_ref,
          (long long)ds->n);
    CHECK(inconsistent == 0, "%s: %d labels are not the argmax of the decisions", tag, inconsistent);
    printf("  %-28s coef max rel diff %.2e, %d/%lld predictions differ, accuracy %.4f (sklearn %.4f), n_iter %d\n",
           tag, worst, diff, (long long)ds->n, right / (double)ds->n, right_ref / (double)ds->n, m.n_iter);
    free(labels);
    free(dec);
    free(coef);
    free(icpt);
    free(pred);
    kn__svm_linear_free(ctx, &m);
}

static void linear_tests(kn_ctx *ctx, dataset *sets) {
    for (int s = 0; s < 3; s++) {
        const dataset *ds = &sets[s];
        char tag[64];
        kn__svm_linear_opts o = kn__svm_linear_defaults();
        /* defaults: both stop at tol 1e-4 from different permutations; sklearn's own fits
         * over 8 random_states spread up to 5.5e-4 of the largest coefficient (iris, hinge),
         * so 3e-3 is ~5x that */
        snprintf(tag, sizeof tag, "lin_%s", ds->name);
        linear_case(ctx, tag, ds, o, NULL, 3e-3, 2);
        o.loss = KN_SVM_HINGE, o.C = 0.5, o.max_iter = 20000;
        snprintf(tag, sizeof tag, "linhinge_%s", ds->name);
        linear_case(ctx, tag, ds, o, NULL, 3e-3, 2);
        /* tightly converged, both to tol 1e-9: the same optimum to ~1e-5 */
        o = kn__svm_linear_defaults();
        o.tol = 1e-9, o.max_iter = 100000;
        snprintf(tag, sizeof tag, "lintight_%s", ds->name);
        linear_case(ctx, tag, ds, o, NULL, 1e-4, 0);
    }
    const dataset *bc = &sets[2];
    float *w = malloc(sizeof(float) * (size_t)bc->n);
    for (int64_t r = 0; r < bc->n; r++) w[r] = r % 3 == 0 ? 2.0f : 0.5f;
    kn__svm_linear_opts o = kn__svm_linear_defaults();
    o.tol = 1e-9, o.max_iter = 100000;
    linear_case(ctx, "linweighted_breast_cancer", bc, o, w, 1e-4, 0);
    /* class_weight {0: 1, 1: 3} folded into w (binary: the same problem as LIBLINEAR's) */
    for (int64_t r = 0; r < bc->n; r++) w[r] = bc->y[r] == 1 ? 3.0f : 1.0f;
    o.loss = KN_SVM_HINGE;
    linear_case(ctx, "lincw_breast_cancer", bc, o, w, 1e-4, 0);
    o.loss = KN_SVM_SQUARED_HINGE;
    free(w);
    o.fit_intercept = false;
    linear_case(ctx, "linnoint_iris", &sets[0], o, NULL, 1e-4, 0);
}

/* ------------------------------------------------------------------ kernel SVM */


/* Each pair's problem rebuilt from the model: alpha_i of every training row of classes a and
 * b (0 for non-SVs), f_i = sum_s coef_s K(s, x_i) + intercept in double. Checks the box
 * 0 <= alpha <= C_i and the KKT conditions within kkt; returns the dual objectives. */
static double kkt_and_objective(const kn__svm *m, const dataset *ds, const double *c_of_class, int a, int b, int64_t p,
                                double kkt, double *worst_violation) {
    const int64_t n_sv = m->n_sv;
    int64_t sa = 0, sb = 0;
    for (int c = 0; c < a; c++) sa += m->n_sv_class[c];
    for (int c = 0; c < b; c++) sb += m->n_sv_class[c];
    /* coefficients of this pair's SVs: y alpha */
    int64_t cnt = m->n_sv_class[a] + m->n_sv_class[b];
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)cnt);
    double *coef = dalloc(cnt);
    for (int64_t t = 0; t < m->n_sv_class[a]; t++) idx[t] = sa + t, coef[t] = m->dual_coef[(b - 1) * n_sv + sa + t];
    for (int64_t t = 0; t < m->n_sv_class[b]; t++)
        idx[m->n_sv_class[a] + t] = sb + t, coef[m->n_sv_class[a] + t] = m->dual_coef[a * n_sv + sb + t];
    double quad = 0, lin = 0, viol = 0;
    int box = 0;
    for (int64_t u = 0; u < cnt; u++) {
        lin += fabs(coef[u]);
        for (int64_t v = 0; v < cnt; v++)
            quad += coef[u] * coef[v] * kernel_d(m, m->sv + idx[u] * m->d, m->sv + idx[v] * m->d);
    }
    for (int64_t r = 0; r < ds->n; r++) {
        if (ds->y[r] != a && ds->y[r] != b) continue;
        double y = ds->y[r] == a ? 1 : -1, alpha = 0, f = m->intercept[p];
        for (int64_t u = 0; u < cnt; u++) {
            f += coef[u] * kernel_d(m, m->sv + idx[u] * m->d, ds->x + r * m->d);
            if (m->support[idx[u]] == r) alpha = fabs(coef[u]);
        }
        const double C = c_of_class[ds->y[r]];
        if (alpha < 0 || alpha > C * (1 + 1e-6)) box++;
        double yf = y * f, v = 0;
        if (alpha <= 0) v = 1 - yf;                     /* y f >= 1 */
        else if (alpha >= C * (1 - 1e-6)) v = yf - 1;  /* y f <= 1 */
        else v = fabs(yf - 1);                          /* y f = 1 */
        viol = fmax(viol, v);
    }
    CHECK(box == 0, "pair %d-%d: %d alphas outside [0, C]", a, b, box);
    CHECK(viol <= kkt, "pair %d-%d: KKT violated by %.3g (allowed %.3g)", a, b, viol, kkt);
    *worst_violation = fmax(*worst_violation, viol);
    free(idx);
    free(coef);
    return 0.5 * quad - lin;
}

typedef struct {
    double dec_abs;     /* decision values within this (absolute; they are O(1)) */
    double obj_rel;     /* dual objectives within this (relative) */
    int sv_slack;       /* support vectors per class within this */
    int pred_diff;      /* predictions differing from sklearn's at most this many */
} svc_tols;

static void svc_case(kn_ctx *ctx, const char *tag, const dataset *ds, kn__svm_opts o, svc_tols t) {
    kn__xy xy = xy_of(ds);
    kn__svm m;
    kn_status st = kn__svm_fit(ctx, &xy, &o, &m);
    CHECK(st == KN_OK, "%s: fit: %s", tag, kn_last_error(ctx));
    if (st != KN_OK) return;
    const int k = ds->k;
    const int64_t pairs = (int64_t)k * (k - 1) / 2, n = ds->n;
    double nsv_ref[16], gamma = 0, *obj_ref = dalloc(pairs), *dec_ref = dalloc(n * pairs), *pred_ref = dalloc(n);
    CHECK(getf(nsv_ref, k, "%s_n_support", tag) == k && getf(&gamma, 1, "%s_gamma", tag) == 1 &&
              getf(obj_ref, (int)pairs, "%s_dual_obj", tag) == pairs &&
              getf(dec_ref, (int)(n * pairs), "%s_dec", tag) == n * pairs && getf(pred_ref, (int)n, "%s_pred", tag) == n,
          "%s: golden records missing", tag);
    CHECK(fabs(m.gamma - gamma) <= 1e-9 * gamma, "%s: gamma %.12g, sklearn %.12g", tag, m.gamma, gamma);
    int sv_worst = 0;
    for (int c = 0; c < k; c++) sv_worst = abs(m.n_sv_class[c] - (int)nsv_ref[c]) > sv_worst ? abs(m.n_sv_class[c] - (int)nsv_ref[c]) : sv_worst;
    CHECK(sv_worst <= t.sv_slack, "%s: support vectors per class differ from sklearn's by %d (allowed %d)", tag,
          sv_worst, t.sv_slack);
    /* the solution itself: box, KKT within twice tol (LIBSVM stops when the largest
     * violating pair's gap is below tol; float kernels add ~1e-5), objective */
    double c_of_class[16], worst_violation = 0, obj_worst = 0;
    for (int c = 0; c < k; c++) c_of_class[c] = o.C * (o.class_weight ? o.class_weight[c] : 1);
    int64_t p = 0;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++, p++) {
            double obj = kkt_and_objective(&m, ds, c_of_class, a, b, p, 2 * o.tol + 1e-4, &worst_violation);
            obj_worst = fmax(obj_worst, fabs(obj - obj_ref[p]) / fabs(obj_ref[p]));
        }
    CHECK(obj_worst <= t.obj_rel, "%s: dual objective differs from sklearn's by %.3g relative (allowed %.3g)", tag,
          obj_worst, t.obj_rel);
    float *dec = malloc(sizeof(float) * (size_t)(n * pairs));
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    CHECK(kn__svm_decision(ctx, &m, ds->x, n, dec, NULL) == KN_OK, "%s: decision: %s", tag, kn_last_error(ctx));
    size_t ws_bytes = (kn__svm_workspace_size(&m, n, kn_ctx_threads(ctx)) + 63) / 64 * 64;
    void *ws = aligned_alloc(64, ws_bytes); /* the caller's workspace path */
    CHECK(kn__svm_predict(ctx, &m, ds->x, n, labels, ws) == KN_OK, "%s: predict: %s", tag, kn_last_error(ctx));
    free(ws);
    double dec_worst = 0;
    int diff = 0, right = 0, right_ref = 0, vote_bad = 0;
    for (int64_t r = 0; r < n; r++) {
        int votes[16] = {0};
        p = 0;
        for (int a = 0; a < k; a++)
            for (int b = a + 1; b < k; b++, p++) {
                dec_worst = fmax(dec_worst, fabs(dec[r * pairs + p] - dec_ref[r * pairs + p]));
                votes[dec_ref[r * pairs + p] > 0 ? a : b]++;
            }
        int best = 0; /* sklearn's own decisions voted as LIBSVM votes give sklearn's label */
        for (int c = 1; c < k; c++)
            if (votes[c] > votes[best]) best = c;
        vote_bad += best != (int)pred_ref[r];
        diff += labels[r] != (int32_t)pred_ref[r];
        right += labels[r] == ds->y[r];
        right_ref += (int32_t)pred_ref[r] == ds->y[r];
    }
    CHECK(vote_bad == 0, "%s: voting over sklearn's decisions gives %d labels other than sklearn's", tag, vote_bad);
    CHECK(dec_worst <= t.dec_abs, "%s: decision values differ from sklearn's by %.3g (allowed %.3g)", tag, dec_worst,
          t.dec_abs);
    CHECK(diff <= t.pred_diff, "%s: %d predictions differ from sklearn's (allowed %d)", tag, diff, t.pred_diff);
    CHECK(right == right_ref || abs(right - right_ref) <= t.pred_diff, "%s: accuracy %d vs sklearn's %d", tag, right,
          right_ref);
    printf("  %-28s n_sv %lld (max class diff %d), obj rel %.1e, dec max diff %.1e, KKT %.1e, %d preds differ, "
           "acc %.4f (sklearn %.4f)\n",
           tag, (long long)m.n_sv, sv_worst, obj_worst, dec_worst, worst_violation, diff, right / (double)n,
           right_ref / (double)n);
    if (o.probability) {
        float *proba = malloc(sizeof(float) * (size_t)(n * k));
        double *proba_ref = dalloc(n * k);
        CHECK(getf(proba_ref, (int)(n * k), "%s_proba", tag) == n * k, "%s: golden proba missing", tag);
        CHECK(kn__svm_predict_proba(ctx, &m, ds->x, n, proba, NULL) == KN_OK, "%s: proba: %s", tag, kn_last_error(ctx));
        double mean_abs = 0, sum_err = 0;
        int argmax_diff = 0;
        for (int64_t r = 0; r < n; r++) {
            double s = 0;
            int b1 = 0, b2 = 0;
            for (int c = 0; c < k; c++) {
                s += proba[r * k + c];
                mean_abs += fabs(proba[r * k + c] - proba_ref[r * k + c]);
                if (proba[r * k + c] > proba[r * k + b1]) b1 = c;
                if (proba_ref[r * k + c] > proba_ref[r * k + b2]) b2 = c;
            }
            sum_err = fmax(sum_err, fabs(s - 1));
            argmax_diff += b1 != b2;
        }
        mean_abs /= (double)(n * k);
        /* the CV folds come from different generators: the sigmoids differ a little */
        CHECK(sum_err < 1e-5, "%s: probabilities sum to 1 within %.3g", tag, sum_err);
        CHECK(mean_abs < 0.03, "%s: probabilities differ from sklearn's by %.3g on average (allowed 0.03)", tag, mean_abs);
        CHECK(argmax_diff <= 2, "%s: %d most probable classes differ from sklearn's", tag, argmax_diff);
        printf("  %-28s proba mean |diff| %.4f, %d argmax differ, prob_a[0] %.3f (sklearn's run: see svm.txt)\n", tag,
               mean_abs, argmax_diff, m.prob_a[0]);
        free(proba);
        free(proba_ref);
    }
    free(dec);
    free(labels);
    free(obj_ref);
    free(dec_ref);
    free(pred_ref);
    kn__svm_free(ctx, &m);
}

/* ------------------------------------------------------------------ nu-SVC */

/* One NuSVC case against sklearn's: support vectors per class and row, dual coefficients
 * (LIBSVM's layout, scaled by 1 / r) within coef_rel of the largest, intercepts and decision
 * values within dec_abs, predictions. */
static void nusvc_case(kn_ctx *ctx, const char *tag, const dataset *ds, kn__svm_opts o, double coef_rel, double dec_abs) {
    kn__xy xy = xy_of(ds);
    kn__svm m;
    kn_status st = kn__svm_fit(ctx, &xy, &o, &m);
    CHECK(st == KN_OK, "%s: fit: %s", tag, kn_last_error(ctx));
    if (st != KN_OK) return;
    const int k = ds->k;
    const int64_t pairs = (int64_t)k * (k - 1) / 2, n = ds->n;
    double nsv_ref[16], *sup = dalloc(n), *coef = dalloc((k - 1) * n), *icpt = dalloc(pairs), *dec_ref = dalloc(n * pairs),
                        *pred_ref = dalloc(n);
    int nsv = getf(sup, (int)n, "%s_support", tag);
    CHECK(getf(nsv_ref, k, "%s_n_support", tag) == k && nsv > 0 && getf(coef, (int)((k - 1) * nsv), "%s_dual_coef", tag) == (k - 1) * nsv &&
              getf(icpt, (int)pairs, "%s_intercept", tag) == pairs && getf(dec_ref, (int)(n * pairs), "%s_dec", tag) == n * pairs &&
              getf(pred_ref, (int)n, "%s_pred", tag) == n,
          "%s: golden records missing", tag);
    bool same_sv = m.n_sv == nsv;
    for (int c = 0; c < k; c++) same_sv = same_sv && m.n_sv_class[c] == (int)nsv_ref[c];
    for (int64_t s = 0; same_sv && s < nsv; s++) same_sv = m.support[s] == (int64_t)sup[s];
    CHECK(same_sv, "%s: support vectors differ from NuSVC's (%lld, sklearn %d)", tag, (long long)m.n_sv, nsv);
    double scale = 0, coef_worst = 0, dec_worst = 0;
    for (int64_t t = 0; same_sv && t < (k - 1) * nsv; t++) scale = fmax(scale, fabs(coef[t]));
    for (int64_t t = 0; same_sv && t < (k - 1) * nsv; t++) coef_worst = fmax(coef_worst, fabs(m.dual_coef[t] - coef[t]) / scale);
    for (int64_t p = 0; p < pairs; p++) dec_worst = fmax(dec_worst, fabs(m.intercept[p] - icpt[p]));
    CHECK(coef_worst <= coef_rel, "%s: dual coefficients differ from NuSVC's by %.3g of the largest (allowed %.3g)", tag, coef_worst,
          coef_rel);
    float *dec = malloc(sizeof(float) * (size_t)(n * pairs));
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    CHECK(kn__svm_decision(ctx, &m, ds->x, n, dec, NULL) == KN_OK && kn__svm_predict(ctx, &m, ds->x, n, labels, NULL) == KN_OK,
          "%s: predict: %s", tag, kn_last_error(ctx));
    int diff = 0;
    for (int64_t t = 0; t < n * pairs; t++) dec_worst = fmax(dec_worst, fabs(dec[t] - dec_ref[t]));
    for (int64_t r = 0; r < n; r++) diff += labels[r] != (int32_t)pred_ref[r];
    CHECK(dec_worst <= dec_abs, "%s: intercepts or decision values differ from NuSVC's by %.3g (allowed %.3g)", tag, dec_worst, dec_abs);
    CHECK(diff == 0, "%s: %d predictions differ from NuSVC's", tag, diff);
    printf("  %-28s n_sv %lld (sklearn %d), coef max rel diff %.1e, dec max diff %.1e, %d preds differ\n", tag, (long long)m.n_sv, nsv,
           coef_worst, dec_worst, diff);
    free(dec);
    free(labels);
    free(sup);
    free(coef);
    free(icpt);
    free(dec_ref);
    free(pred_ref);
    kn__svm_free(ctx, &m);
}

static void nusvc_tests(kn_ctx *ctx, dataset *sets) {
    /* the same solver as LIBSVM's Solver_NU from the same starting point: the same support
     * vectors; coefficients and decisions within where each stops at tol 1e-3 */
    kn__svm_opts o = kn__svm_defaults();
    o.nu = 0.3;
    nusvc_case(ctx, "nu_iris", &sets[0], o, 1e-2, 2e-3);
    o.nu = 0.5, o.kernel = KN_SVM_KERNEL_POLY, o.degree = 2, o.coef0 = 1;
    nusvc_case(ctx, "nupoly_iris", &sets[0], o, 1e-2, 2e-3);
    o = kn__svm_defaults();
    o.nu = 0.2, o.tol = 1e-6;
    nusvc_case(ctx, "nu_wine", &sets[1], o, 1e-4, 1e-5);
    o = kn__svm_defaults();
    o.nu = 0.5;
    nusvc_case(ctx, "nu_breast_cancer", &sets[2], o, 1e-2, 2e-3);
    o.nu = 0.1, o.kernel = KN_SVM_KERNEL_LINEAR;
    nusvc_case(ctx, "nulinear_breast_cancer", &sets[2], o, 1e-1, 2e-3);
    /* an infeasible nu: breast_cancer's 212 and 357 rows allow at most 2 * 212 / 569 */
    o = kn__svm_defaults();
    o.nu = 0.8;
    kn__svm m;
    kn__xy xy = xy_of(&sets[2]);
    CHECK(kn__svm_fit(ctx, &xy, &o, &m) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "svm.nu: 0.8 is infeasible") &&
              strstr(kn_last_error(ctx), "at most 0.7452"),
          "nu 0.8 on breast_cancer: %s", kn_last_error(ctx));
    o.nu = 1.5;
    CHECK(kn__svm_fit(ctx, &xy, &o, &m) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "svm.nu"), "nu 1.5: %s",
          kn_last_error(ctx));
    o.nu = 0.3, o.class_weight = (const double[]){1, 3};
    CHECK(kn__svm_fit(ctx, &xy, &o, &m) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "svm.class_weight"),
          "nu with class weights: %s", kn_last_error(ctx));
    o.class_weight = NULL;
    /* probabilities over nu-SVC sub-problems: they sum to 1 and mostly agree with the votes */
    o = kn__svm_defaults();
    o.nu = 0.3, o.probability = true;
    xy = xy_of(&sets[0]);
    if (kn__svm_fit(ctx, &xy, &o, &m) == KN_OK) {
        float *proba = malloc(sizeof(float) * (size_t)(sets[0].n * 3));
        int32_t *labels = malloc(sizeof(int32_t) * (size_t)sets[0].n);
        kn__svm_predict_proba(ctx, &m, sets[0].x, sets[0].n, proba, NULL);
        kn__svm_predict(ctx, &m, sets[0].x, sets[0].n, labels, NULL);
        int agree = 0, bad_sum = 0;
        for (int64_t r = 0; r < sets[0].n; r++) {
            const float *p = proba + r * 3;
            int best = p[1] > p[0] ? 1 : 0;
            best = p[2] > p[best] ? 2 : best;
            agree += best == labels[r];
            bad_sum += fabsf(p[0] + p[1] + p[2] - 1) > 1e-5f;
        }
        CHECK(bad_sum == 0 && agree >= 140, "nu probabilities: %d rows not summing to 1, %d of 150 agreeing with the votes", bad_sum, agree);
        free(proba);
        free(labels);
        kn__svm_free(ctx, &m);
    } else {
        CHECK(0, "nu probability fit: %s", kn_last_error(ctx));
    }
}

static void svc_tests(kn_ctx *ctx, dataset *sets) {
    for (int s = 0; s < 3; s++) {
        const dataset *ds = &sets[s];
        char tag[64];
        /* defaults (rbf, C 1, tol 1e-3): LIBSVM's steps, but float rounding of the kernel
         * values (sgemm's dot products, LIBSVM's double ones) parts the two paths now and then,
         * and each stops within tol of the optimum: decisions agree to a few tol */
        kn__svm_opts o = kn__svm_defaults();
        snprintf(tag, sizeof tag, "rbf_%s", ds->name);
        svc_case(ctx, tag, ds, o, (svc_tols){5e-3, 1e-3, 3, 1});
        o.C = 10, o.tol = 1e-7;
        snprintf(tag, sizeof tag, "rbftight_%s", ds->name); /* tol 1e-7: the same optimum */
        svc_case(ctx, tag, ds, o, (svc_tols){1e-4, 1e-6, 2, 0});
        o = kn__svm_defaults();
        o.kernel = KN_SVM_KERNEL_POLY, o.degree = 3, o.coef0 = 1, o.C = 0.5;
        snprintf(tag, sizeof tag, "poly_%s", ds->name);
        svc_case(ctx, tag, ds, o, (svc_tols){5e-3, 1e-3, 3, 1});
        o = kn__svm_defaults();
        o.kernel = KN_SVM_KERNEL_LINEAR, o.C = 0.1;
        snprintf(tag, sizeof tag, "linear_%s", ds->name);
        svc_case(ctx, tag, ds, o, (svc_tols){5e-3, 1e-3, 3, 1});
    }
    const dataset *bc = &sets[2];
    kn__svm_opts o = kn__svm_defaults();
    o.kernel = KN_SVM_KERNEL_SIGMOID, o.gamma = 0.01, o.coef0 = 0, o.C = 2;
    svc_case(ctx, "sigmoid_breast_cancer", bc, o, (svc_tols){5e-3, 1e-3, 3, 1});
    const double cw[2] = {1.0, 3.0};
    o = kn__svm_defaults();
    o.class_weight = cw;
    svc_case(ctx, "weighted_breast_cancer", bc, o, (svc_tols){5e-3, 1e-3, 3, 1});
    o = kn__svm_defaults();
    o.probability = true;
    svc_case(ctx, "prob_iris", &sets[0], o, (svc_tols){5e-3, 1e-3, 3, 1});
    svc_case(ctx, "prob_breast_cancer", bc, o, (svc_tols){5e-3, 1e-3, 3, 1});
}

/* ------------------------------------------------------------------ determinism */

static void determinism(kn_ctx *ctx1, kn_ctx *ctx3, dataset *sets) {
    const dataset *wine = &sets[1];
    kn__xy xy = xy_of(wine);
    kn__svm_opts o = kn__svm_defaults();
    o.probability = true;
    o.cache_size = 0.01; /* 2-3 rows: the LRU path, evictions and shrinking's row swaps */
    kn__svm a, b;
    CHECK(kn__svm_fit(ctx1, &xy, &o, &a) == KN_OK, "determinism: %s", kn_last_error(ctx1));
    CHECK(kn__svm_fit(ctx3, &xy, &o, &b) == KN_OK, "determinism: %s", kn_last_error(ctx3));
    const int64_t pairs = 3;
    bool same = a.n_sv == b.n_sv && memcmp(a.sv, b.sv, sizeof(float) * (size_t)(a.n_sv * a.d)) == 0 &&
                memcmp(a.dual_coef, b.dual_coef, sizeof(float) * (size_t)(2 * a.n_sv)) == 0 &&
                memcmp(a.intercept, b.intercept, sizeof(float) * pairs) == 0 &&
                memcmp(a.prob_a, b.prob_a, sizeof(float) * pairs) == 0 && a.n_iter == b.n_iter;
    CHECK(same, "svm: 1 and 3 threads give different models");
    /* a binary problem runs alone, its kernel rows' products on every thread: the same bits */
    {
        kn__xy bxy = xy_of(&sets[2]);
        kn__svm_opts bo = kn__svm_defaults();
        kn__svm ba, bb;
        CHECK(kn__svm_fit(ctx1, &bxy, &bo, &ba) == KN_OK && kn__svm_fit(ctx3, &bxy, &bo, &bb) == KN_OK, "determinism (binary): %s",
              kn_last_error(ctx3));
        CHECK(ba.n_sv == bb.n_sv && memcmp(ba.dual_coef, bb.dual_coef, sizeof(float) * (size_t)ba.n_sv) == 0 &&
                  ba.intercept[0] == bb.intercept[0] && ba.n_iter == bb.n_iter,
              "svm: a binary problem on 1 and 3 threads gives different models");
        kn__svm_free(ctx1, &ba);
        kn__svm_free(ctx3, &bb);
    }
    /* a tiny cache must reach the same solution as the default one (to tol) */
    kn__svm c;
    o.cache_size = 200;
    CHECK(kn__svm_fit(ctx3, &xy, &o, &c) == KN_OK, "determinism: %s", kn_last_error(ctx3));
    float *da = malloc(sizeof(float) * (size_t)(wine->n * pairs)), *dc = malloc(sizeof(float) * (size_t)(wine->n * pairs));
    kn__svm_decision(ctx1, &a, wine->x, wine->n, da, NULL);
    kn__svm_decision(ctx3, &c, wine->x, wine->n, dc, NULL);
    double worst = 0;
    for (int64_t t = 0; t < wine->n * pairs; t++) worst = fmax(worst, fabs(da[t] - dc[t]));
    CHECK(worst < 2e-3, "svm: a 0.01 MB cache and a 200 MB one give decisions %.3g apart", worst);
    /* prediction threads: 1 and 3 give the same decisions */
    kn__svm_decision(ctx3, &a, wine->x, wine->n, dc, NULL);
    CHECK(memcmp(da, dc, sizeof(float) * (size_t)(wine->n * pairs)) == 0, "svm: decisions depend on threads");
    free(da);
    free(dc);
    kn__svm_free(ctx1, &a);
    kn__svm_free(ctx3, &b);
    kn__svm_free(ctx3, &c);

    kn__xy iris = xy_of(&sets[0]);
    kn__svm_linear_opts lo = kn__svm_linear_defaults();
    lo.seed = 7;
    kn__svm_linear la, lb;
    CHECK(kn__svm_linear_fit(ctx1, &iris, &lo, &la) == KN_OK, "determinism: %s", kn_last_error(ctx1));
    CHECK(kn__svm_linear_fit(ctx3, &iris, &lo, &lb) == KN_OK, "determinism: %s", kn_last_error(ctx3));
    CHECK(memcmp(la.coef, lb.coef, sizeof(float) * (size_t)(la.k * la.d)) == 0 && la.n_iter == lb.n_iter,
          "linear_svm: 1 and 3 threads give different models");
    kn__svm_linear_free(ctx1, &la);
    kn__svm_linear_free(ctx3, &lb);
}

/* ------------------------------------------------------------------ errors */

static void expect_error(kn_ctx *ctx, kn_status st, const char *field) {
    CHECK(st == KN_ERR_INVALID_ARGUMENT, "%s: status %s", field, kn_status_name(st));
    CHECK(strstr(kn_last_error(ctx), field) != NULL, "%s: message '%s' does not name it", field, kn_last_error(ctx));
}

static void errors(kn_ctx *ctx, dataset *sets) {
    kn__xy xy = xy_of(&sets[0]);
    kn__svm m;
    kn__svm_opts o = kn__svm_defaults();
    o.C = 0;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.C");
    o = kn__svm_defaults();
    o.C = -1;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.C");
    o = kn__svm_defaults();
    o.kernel = 7;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.kernel");
    o = kn__svm_defaults();
    o.degree = -1;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.degree");
    o = kn__svm_defaults();
    o.gamma = -0.5;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.gamma");
    o = kn__svm_defaults();
    o.tol = 0;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.tol");
    o = kn__svm_defaults();
    o.max_iter = 0;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.max_iter");
    o = kn__svm_defaults();
    o.cache_size = 0;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.cache_size");
    const double cw[3] = {1, 0, 1};
    o = kn__svm_defaults();
    o.class_weight = cw;
    expect_error(ctx, kn__svm_fit(ctx, &xy, &o, &m), "svm.class_weight[1]");
    CHECK(m.sv == NULL && m.n_sv == 0, "svm: a failed fit leaves the model zeroed");
    /* data: a label out of range, a negative weight, a class with no rows */
    int32_t *y = malloc(sizeof(int32_t) * (size_t)xy.n);
    memcpy(y, xy.y, sizeof(int32_t) * (size_t)xy.n);
    kn__xy bad = xy;
    bad.y = y;
    y[5] = 3;
    CHECK(kn__svm_fit(ctx, &bad, &o, &m) == KN_ERR_INVALID_ARGUMENT, "svm: label out of range accepted");
    for (int64_t r = 0; r < xy.n; r++) y[r] = xy.y[r] == 1 ? 0 : xy.y[r];
    o = kn__svm_defaults();
    CHECK(kn__svm_fit(ctx, &bad, &o, &m) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "class 1"),
          "svm: an empty class accepted (%s)", kn_last_error(ctx));
    free(y);
    float *w = malloc(sizeof(float) * (size_t)xy.n);
    for (int64_t r = 0; r < xy.n; r++) w[r] = 1;
    w[3] = -1;
    bad = xy;
    bad.w = w;
    CHECK(kn__svm_fit(ctx, &bad, &o, &m) == KN_ERR_INVALID_ARGUMENT, "svm: a negative weight accepted");
    kn__svm_linear lm;
    kn__svm_linear_opts few = kn__svm_linear_defaults();
    few.max_iter = 10;
    CHECK(kn__svm_linear_fit(ctx, &bad, &few, &lm) == KN_ERR_INVALID_ARGUMENT,
          "linear_svm: a negative weight accepted");
    free(w);
    CHECK(kn__svm_predict_proba(ctx, &(kn__svm){0}, xy.x, 1, (float[3]){0}, NULL) == KN_ERR_STATE,
          "svm: proba without a fitted model");

    kn__svm_linear_opts lo = kn__svm_linear_defaults();
    lo.C = 0;
    expect_error(ctx, kn__svm_linear_fit(ctx, &xy, &lo, &lm), "linear_svm.C");
    lo = kn__svm_linear_defaults();
    lo.tol = -1;
    expect_error(ctx, kn__svm_linear_fit(ctx, &xy, &lo, &lm), "linear_svm.tol");
    lo = kn__svm_linear_defaults();
    lo.max_iter = 0;
    expect_error(ctx, kn__svm_linear_fit(ctx, &xy, &lo, &lm), "linear_svm.max_iter");
    lo = kn__svm_linear_defaults();
    lo.intercept_scaling = 0;
    expect_error(ctx, kn__svm_linear_fit(ctx, &xy, &lo, &lm), "linear_svm.intercept_scaling");
    lo = kn__svm_linear_defaults();
    lo.loss = (kn_svm_loss)5;
    expect_error(ctx, kn__svm_linear_fit(ctx, &xy, &lo, &lm), "linear_svm.loss");
    CHECK(lm.coef == NULL, "linear_svm: a failed fit leaves the model zeroed");
}

/* Not converging is a warning, not an error: max_iter 2 stops both solvers early. */
static int warnings;
static void count_warn(void *user, kn_log_level level, const char *msg) {
    (void)user, (void)msg;
    warnings += level == KN_LOG_WARN;
}

static void max_iter_stop(dataset *sets) {
    kn_ctx *ctx;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .log = count_warn}, &ctx) != KN_OK) return;
    kn__xy xy = xy_of(&sets[2]);
    kn__svm_linear_opts lo = kn__svm_linear_defaults();
    lo.max_iter = 2;
    kn__svm_linear lm;
    CHECK(kn__svm_linear_fit(ctx, &xy, &lo, &lm) == KN_OK && lm.n_iter == 2 && warnings == 1,
          "linear_svm: max_iter 2 gives n_iter %d, %d warnings", lm.n_iter, warnings);
    kn__svm_linear_free(ctx, &lm);
    kn__svm_opts o = kn__svm_defaults();
    o.max_iter = 5;
    kn__svm m;
    CHECK(kn__svm_fit(ctx, &xy, &o, &m) == KN_OK && m.n_iter == 5 && warnings == 2,
          "svm: max_iter 5 gives n_iter %lld, %d warnings", (long long)m.n_iter, warnings);
    kn__svm_free(ctx, &m);
    kn_ctx_free(ctx);
}

int main(void) {
    kn_ctx *ctx, *ctx1, *ctx3;
    /* warnings off: LinearSVC's defaults stop at max_iter on breast_cancer, as sklearn nearly does */
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 2, .log_level = KN_LOG_ERROR}, &ctx) != KN_OK || kn_ctx_new(&(kn_ctx_opts){.threads = 1}, &ctx1) != KN_OK ||
        kn_ctx_new(&(kn_ctx_opts){.threads = 3}, &ctx3) != KN_OK)
        return 1;
    golden = read_all("tests/golden/svm.txt");
    CHECK(golden != NULL, "tests/golden/svm.txt missing (run from the repository root)");
    dataset sets[3];
    const char *names[3] = {"iris", "wine", "breast_cancer"};
    int loaded = golden != NULL;
    for (int s = 0; s < 3; s++) loaded = load(ctx, names[s], &sets[s]) && loaded;
    if (loaded) {
        linear_tests(ctx, sets);
        svc_tests(ctx, sets);
        nusvc_tests(ctx, sets);
        determinism(ctx1, ctx3, sets);
        errors(ctx, sets);
        max_iter_stop(sets);
        for (int s = 0; s < 3; s++) free(sets[s].x), free(sets[s].y);
    }
    free(golden);
    kn_ctx_free(ctx);
    kn_ctx_free(ctx1);
    kn_ctx_free(ctx3);
    printf(failures ? "test_svm: %d FAILED\n" : "test_svm: ok\n", failures);
    return failures != 0;
}
