/* test_linear.c — linear and logistic regression (classic/linear.c, logistic.c) against
 * scikit-learn 1.2.1 (tests/golden/linear.txt, made by tests/golden/make_linear.py from
 * the CSVs of tests/data): least squares, ridge, weighted, without intercept and rank-deficient fits
 * on diabetes; L2 logistic regression (binary on breast_cancer, multinomial on iris and wine,
 * one-vs-rest, weighted), L1 on breast_cancer; sample weights against duplicated rows, thread
 * counts against each other, the SGD solver, predictions, and every refused hyperparameter.
 * The regression cases need LAPACK and are skipped (with a note) without it. Run from the
 * repository root. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "classic/linear.h"
#include "core/lapack.h"
#include "data/csv.h"

/* ------------------------------------------------------------------ golden file */

#include "golden.h"

/* get() that must find exactly n values. */
static bool need(const char *name, double *out, int n) {
    int got = get(name, out, n);
    CHECK(got == n, "golden %s: %d values, expected %d", name, got, n);
    return got == n;
}

/* |a - ref| <= rel * max(|ref|, floor). */
static bool close_to(double a, double ref, double rel, double floor) {
    double scale = fabs(ref) > floor ? fabs(ref) : floor;
    return fabs(a - ref) <= rel * scale;
}

/* Compares n floats with the golden record; returns the largest |error| / max(|ref|, floor). */
static double check_floats(const char *what, const float *got, const char *record, int n, double rel, double floor) {
    double ref[512], worst = 0;
    if (n > 512 || !need(record, ref, n)) return INFINITY;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double scale = fabs(ref[i]) > floor ? fabs(ref[i]) : floor, e = fabs(got[i] - ref[i]) / scale;
        worst = e > worst ? e : worst;
        if (!close_to(got[i], ref[i], rel, floor) && bad++ < 3)
            CHECK(0, "%s[%d] = %.9g, scikit-learn %.9g", what, i, got[i], ref[i]);
    }
    if (bad > 3) CHECK(0, "%s: %d more differ", what, bad - 3);
    return worst;
}

/* ------------------------------------------------------------------ data */

typedef struct table {
    float *x;        /* (n, d) */
    float *t;        /* (n) the last column as a number (regression) */
    int32_t *y;      /* (n) the last column's text as a class: index among the sorted names */
    int64_t n, d;
    int classes;
} table;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Reads tests/data/<name>: every column but the last as features, the last as target/label. */
static bool load(kn_ctx *ctx, const char *name, table *tb) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s", name);
    kn__csv csv;
    kn_status st = kn__csv_read(ctx, path, &(kn__csv_opts){.keep_text = true}, &csv);
    CHECK(st == KN_OK, "%s: %s", path, kn_last_error(ctx));
    if (st != KN_OK) return false;
    int64_t n = csv.rows, d = csv.cols - 1;
    *tb = (table){.n = n, .d = d};
    tb->x = malloc(sizeof(float) * (size_t)(n * d));
    tb->t = malloc(sizeof(float) * (size_t)n);
    tb->y = malloc(sizeof(int32_t) * (size_t)n);
    char **names = malloc(sizeof(char *) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) tb->x[i * d + j] = csv.values[i * csv.cols + j];
        tb->t[i] = csv.values[i * csv.cols + d];
        names[i] = csv.cells[i * csv.cols + d];
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int classes = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[classes - 1]) != 0) names[classes++] = names[i];
    for (int64_t i = 0; i < n; i++) {
        const char *cell = csv.cells[i * csv.cols + d];
        for (int c = 0; c < classes; c++)
            if (strcmp(cell, names[c]) == 0) tb->y[i] = c;
    }
    tb->classes = classes;
    free(names);
    kn__csv_free(ctx, &csv);
    return true;
}

/* (x - mean) / std per column, mean and population std in double, rounded to float (as
 * make_linear.py does). */
static void standardize(table *tb) {
    for (int64_t j = 0; j < tb->d; j++) {
        double s = 0, ss = 0;
        for (int64_t i = 0; i < tb->n; i++) s += tb->x[i * tb->d + j];
        double mean = s / (double)tb->n;
        for (int64_t i = 0; i < tb->n; i++) ss += (tb->x[i * tb->d + j] - mean) * (tb->x[i * tb->d + j] - mean);
        double sd = sqrt(ss / (double)tb->n);
        for (int64_t i = 0; i < tb->n; i++) tb->x[i * tb->d + j] = (float)((tb->x[i * tb->d + j] - mean) / sd);
    }
}

static void table_free(table *tb) {
    free(tb->x);
    free(tb->t);
    free(tb->y);
    memset(tb, 0, sizeof *tb);
}

static float *weights(int64_t n) { /* w_i = 1 + (i % 3), as make_linear.py */
    float *w = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(1 + i % 3);
    return w;
}

/* The rows of x (and t, y) repeated w_i times: a weighted fit must equal the plain fit of this. */
static table duplicate(const table *tb, const float *w) {
    int64_t n = 0;
    for (int64_t i = 0; i < tb->n; i++) n += (int64_t)w[i];
    table o = {.n = n, .d = tb->d, .classes = tb->classes};
    o.x = malloc(sizeof(float) * (size_t)(n * tb->d));
    o.t = malloc(sizeof(float) * (size_t)n);
    o.y = malloc(sizeof(int32_t) * (size_t)n);
    int64_t r = 0;
    for (int64_t i = 0; i < tb->n; i++)
        for (int q = 0; q < (int)w[i]; q++, r++) {
            memcpy(o.x + r * tb->d, tb->x + i * tb->d, sizeof(float) * (size_t)tb->d);
            o.t[r] = tb->t[i];
            o.y[r] = tb->y[i];
        }
    return o;
}

static double r2_of(const kn__linear *m, const table *tb) {
    float *pred = malloc(sizeof(float) * (size_t)tb->n);
    kn__linear_decision(m, tb->x, tb->n, pred);
    double r2 = kn__r2_score(tb->t, pred, NULL, tb->n);
    free(pred);
    return r2;
}

static bool same_model(const kn__linear *a, const kn__linear *b, double rel) {
    if (a->k != b->k || a->d != b->d) return false;
    for (int64_t j = 0; j < a->k * a->d; j++)
        if (!close_to(a->coef[j], b->coef[j], rel, 1e-3)) return false;
    for (int64_t c = 0; c < a->k; c++)
        if (!close_to(a->intercept[c], b->intercept[c], rel, 1e-3)) return false;
    return true;
}

/* ------------------------------------------------------------------ linear regression */

/* Fits and compares coef and intercept with records <tag>_coef, <tag>_intercept (and R² with
 * <tag>_r2 when it exists). 1e-4 relative: both solve in double from the same float32 data;
 * the float32 coefficients and the conditioning of diabetes (about 1e5 for the Gram matrix)
 * leave about 1e-7. */
static void regression_case(kn_ctx *ctx, const char *tag, const table *tb, const float *w, kn__linreg_opts o) {
    kn__xy xy = {.x = tb->x, .n = tb->n, .d = tb->d, .t = tb->t, .w = w};
    kn__linear m;
    kn_status st = kn__linreg_fit(ctx, &xy, &o, &m);
    CHECK(st == KN_OK, "%s: fit: %s", tag, kn_last_error(ctx));
    if (st != KN_OK) return;
    char rec[64], what[64];
    snprintf(rec, sizeof rec, "%s_coef", tag);
    snprintf(what, sizeof what, "%s coef", tag);
    double e = check_floats(what, m.coef, rec, (int)tb->d, 1e-4, 1e-6);
    if (o.fit_intercept) {
        snprintf(rec, sizeof rec, "%s_intercept", tag);
        snprintf(what, sizeof what, "%s intercept", tag);
        double e2 = check_floats(what, m.intercept, rec, 1, 1e-4, 1e-6);
        e = e2 > e ? e2 : e;
    } else {
        CHECK(m.intercept[0] == 0, "%s: intercept %g without fit_intercept", tag, m.intercept[0]);
    }
    double r2 = r2_of(&m, tb), ref;
    snprintf(rec, sizeof rec, "%s_r2", tag);
    if (get(rec, &ref, 1) == 1) CHECK(close_to(r2, ref, 1e-4, 0), "%s: R2 %.9f, scikit-learn %.9f", tag, r2, ref);
    printf("%-10s %-9s coef/intercept within %.1e of scikit-learn; R2 %.6f\n", tag, o.solver ? o.solver : "auto", e, r2);
    kn__linear_free(ctx, &m);
}

static void regression(kn_ctx *ctx) {
    table tb;
    if (!load(ctx, "diabetes.csv", &tb)) return;
    kn__linreg_opts o = kn__linreg_defaults();
    regression_case(ctx, "ols", &tb, NULL, o);
    o.solver = "svd";
    regression_case(ctx, "ols", &tb, NULL, o);
    o.solver = "cholesky";
    regression_case(ctx, "ols", &tb, NULL, o);
    o.solver = NULL;
    o.alpha = 1.0;
    regression_case(ctx, "ridge1", &tb, NULL, o);
    o.alpha = 10.0;
    regression_case(ctx, "ridge10", &tb, NULL, o);
    float *w = weights(tb.n);
    o.alpha = 0;
    regression_case(ctx, "olsw", &tb, w, o);
    o.alpha = 1.0;
    regression_case(ctx, "ridgew", &tb, w, o);
    o = kn__linreg_defaults();
    o.fit_intercept = false;
    regression_case(ctx, "ols_noint", &tb, NULL, o);

    /* weights = duplicated rows (ridge too: its penalty does not scale with n) */
    table dup = duplicate(&tb, w);
    for (int ridge = 0; ridge < 2; ridge++) {
        o = kn__linreg_defaults();
        o.alpha = ridge ? 1.0 : 0.0;
        kn__linear a, b;
        kn__linreg_fit(ctx, &(kn__xy){.x = tb.x, .n = tb.n, .d = tb.d, .t = tb.t, .w = w}, &o, &a);
        kn__linreg_fit(ctx, &(kn__xy){.x = dup.x, .n = dup.n, .d = dup.d, .t = dup.t}, &o, &b);
        CHECK(same_model(&a, &b, 1e-5), "%s: weights differ from duplicated rows", ridge ? "ridge" : "ols");
        kn__linear_free(ctx, &a);
        kn__linear_free(ctx, &b);
    }
    table_free(&dup);
    free(w);

    /* rank-deficient: bmi again as an 11th column; auto falls back to SVD (lstsq's minimum
     * norm: bmi's coefficient split in halves); cholesky alone refuses */
    table rk = {.n = tb.n, .d = tb.d + 1, .t = tb.t};
    rk.x = malloc(sizeof(float) * (size_t)(rk.n * rk.d));
    for (int64_t i = 0; i < tb.n; i++) {
        memcpy(rk.x + i * rk.d, tb.x + i * tb.d, sizeof(float) * (size_t)tb.d);
        rk.x[i * rk.d + tb.d] = tb.x[i * tb.d + 2];
    }
    regression_case(ctx, "rank", &rk, NULL, kn__linreg_defaults());
    o = kn__linreg_defaults();
    o.solver = "cholesky";
    kn__linear m;
    kn_status st = kn__linreg_fit(ctx, &(kn__xy){.x = rk.x, .n = rk.n, .d = rk.d, .t = rk.t}, &o, &m);
    CHECK(st == KN_ERR_NUMERIC, "rank-deficient cholesky: %s", kn_status_name(st));
    CHECK(m.coef == NULL, "a failed fit leaves the model zeroed");
    free(rk.x);

    /* the thread count changes nothing (each Gram entry sums the rows in order) */
    kn_ctx *ctx3;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 3, .log_level = KN_LOG_ERROR}, &ctx3) == KN_OK) {
        kn__linear a = {0}, b = {0};
        kn__xy xw = {.x = tb.x, .n = tb.n, .d = tb.d, .t = tb.t};
        o = kn__linreg_defaults();
        o.alpha = 0.5;
        CHECK(kn__linreg_fit(ctx, &xw, &o, &a) == KN_OK && kn__linreg_fit(ctx3, &xw, &o, &b) == KN_OK &&
                  memcmp(a.coef, b.coef, sizeof(float) * (size_t)tb.d) == 0 && a.intercept[0] == b.intercept[0],
              "ridge: 2 and 3 threads differ");
        kn__linear_free(ctx, &a);
        kn__linear_free(ctx3, &b);
        kn_ctx_free(ctx3);
    }

    /* SGD through the graph engine: close to least squares, the same twice */
    o = kn__linreg_defaults();
    o.solver = "sgd";
    o.max_iter = 30;
    o.seed = 7;
    kn__linear s1, s2;
    kn__xy xy = {.x = tb.x, .n = tb.n, .d = tb.d, .t = tb.t};
    st = kn__linreg_fit(ctx, &xy, &o, &s1);
    CHECK(st == KN_OK, "sgd: %s", kn_last_error(ctx));
    if (st == KN_OK && kn__linreg_fit(ctx, &xy, &o, &s2) == KN_OK) {
        double ref = 0, r2 = r2_of(&s1, &tb);
        get("ols_r2", &ref, 1);
        /* constant-rate SGD wanders around the optimum: within 0.01 of its R2 */
        CHECK(r2 > ref - 0.01 && r2 <= ref + 1e-9, "sgd: R2 %.4f, least squares %.4f", r2, ref);
        CHECK(memcmp(s1.coef, s2.coef, sizeof(float) * (size_t)tb.d) == 0, "sgd: two runs differ");
        printf("sgd        R2 %.4f after %d epochs (least squares %.4f)\n", r2, s1.n_iter, ref);
        kn__linear_free(ctx, &s2);
    }
    kn__linear_free(ctx, &s1);
    o.alpha = 1.0;
    o.adam = true;
    o.max_iter = 60;
    st = kn__linreg_fit(ctx, &xy, &o, &s1);
    CHECK(st == KN_OK, "sgd ridge adam: %s", kn_last_error(ctx));
    if (st == KN_OK) {
        double ref = 0, r2 = r2_of(&s1, &tb);
        get("ridge1_r2", &ref, 1);
        CHECK(fabs(r2 - ref) < 0.01, "sgd ridge adam: R2 %.4f, ridge %.4f", r2, ref);
        printf("sgd ridge  R2 %.4f (adam; ridge %.4f)\n", r2, ref);
    }
    kn__linear_free(ctx, &s1);
    table_free(&tb);
}

/* ------------------------------------------------------------------ logistic regression */

static kn__linear fit_logistic(kn_ctx *ctx, const table *tb, const float *w, kn__logreg_opts o, const char *what) {
    kn__linear m;
    kn__xy xy = {.x = tb->x, .n = tb->n, .d = tb->d, .y = tb->y, .n_classes = tb->classes, .w = w};
    kn_status st = kn__logreg_fit(ctx, &xy, &o, &m);
    CHECK(st == KN_OK, "%s: fit: %s", what, kn_last_error(ctx));
    return m;
}

/* One data set at one C with the defaults, against sklearn's default fit: the same L-BFGS
 * (iterations reported), so coefficients within 1e-3 (relative, or absolute below 1) of
 * sklearn's and of the optimum (lbfgs stops at |gradient| <= 1e-4 or when f stalls, both
 * ~1e-4 from it); training predictions and accuracy identical; log-loss within 1e-4. */
static void logistic_case(kn_ctx *ctx, const char *set, const table *tb, double C, const char *ctag) {
    char rec[64], what[64];
    int k = tb->classes == 2 ? 1 : tb->classes, d = (int)tb->d;
    kn__logreg_opts o = kn__logreg_defaults();
    o.C = C;
    snprintf(what, sizeof what, "%s C=%g", set, C);
    kn__linear m = fit_logistic(ctx, tb, NULL, o, what);
    if (!m.coef) return;
    kn__xy xy = {.x = tb->x, .n = tb->n, .d = tb->d, .y = tb->y, .n_classes = tb->classes};
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)tb->n);
    float *scores = malloc(sizeof(float) * (size_t)(tb->n * k));
    double ref[1024];
    snprintf(rec, sizeof rec, "%s_%s_coef", set, ctag);
    double e_sk = check_floats(what, m.coef, rec, k * d, 1e-3, 1.0);
    snprintf(rec, sizeof rec, "%s_%s_intercept", set, ctag);
    double e = check_floats(what, m.intercept, rec, k, 1e-3, 1.0);
    e_sk = e > e_sk ? e : e_sk;
    snprintf(rec, sizeof rec, "%s_%s_tight_coef", set, ctag);
    double e_opt = check_floats(what, m.coef, rec, k * d, 1e-3, 1.0);
    snprintf(rec, sizeof rec, "%s_%s_tight_intercept", set, ctag);
    e = check_floats(what, m.intercept, rec, k, 1e-3, 1.0);
    e_opt = e > e_opt ? e : e_opt;

    kn__logreg_predict(&m, tb->x, tb->n, scores, pred);
    snprintf(rec, sizeof rec, "%s_%s_pred", set, ctag);
    int same = 0, correct = 0;
    if (need(rec, ref, (int)tb->n))
        for (int64_t i = 0; i < tb->n; i++) {
            same += pred[i] == (int32_t)ref[i];
            correct += pred[i] == tb->y[i];
        }
    CHECK(same == tb->n, "%s: %d of %lld training predictions differ from scikit-learn's", what, (int)tb->n - same,
          (long long)tb->n);
    double acc = (double)correct / (double)tb->n, ref_acc = 0, ref_ll = 0, ref_iter = 0, ref_obj = 0, obj = 0;
    snprintf(rec, sizeof rec, "%s_%s_accuracy", set, ctag);
    need(rec, &ref_acc, 1);
    CHECK(fabs(acc - ref_acc) < 1e-12, "%s: accuracy %.6f, scikit-learn %.6f", what, acc, ref_acc);
    double ll = kn__logreg_log_loss(&m, &xy);
    snprintf(rec, sizeof rec, "%s_%s_log_loss", set, ctag);
    need(rec, &ref_ll, 1);
    CHECK(close_to(ll, ref_ll, 1e-4, 0), "%s: log-loss %.9f, scikit-learn %.9f", what, ll, ref_ll);
    snprintf(rec, sizeof rec, "%s_%s_n_iter", set, ctag);
    need(rec, &ref_iter, 1);
    snprintf(rec, sizeof rec, "%s_%s_tight_objective", set, ctag);
    need(rec, &ref_obj, 1);
    kn__logreg_objective(ctx, &xy, &o, &m, &obj);
    /* ~1e-4 from the optimum in coefficients is ~1e-8 in the objective; evaluating it from
     * float32 coefficients and float32 logits adds ~1e-9 either way */
    CHECK(close_to(obj, ref_obj, 1e-6, 0), "%s: objective %.10f, optimum %.10f", what, obj, ref_obj);
    printf("%-13s %d iterations (scikit-learn %d), coefficients within %.1e of scikit-learn's, %.1e of the optimum; "
           "accuracy %.4f, log-loss %.6f (%.6f), objective %.8f (optimum %.8f)\n",
           what, m.n_iter, (int)ref_iter, e_sk, e_opt, acc, ll, ref_ll, obj, ref_obj);
    kn__linear_free(ctx, &m);
    free(pred);
    free(scores);
}

/* Two fits must be the same to the bit. */
static bool identical(const kn__linear *a, const kn__linear *b) {
    return a->k == b->k && a->d == b->d && a->n_iter == b->n_iter &&
           memcmp(a->coef, b->coef, sizeof(float) * (size_t)(a->k * a->d)) == 0 &&
           memcmp(a->intercept, b->intercept, sizeof(float) * (size_t)a->k) == 0;
}

static void logistic(kn_ctx *ctx) {
    table bc, iris, wine;
    if (!load(ctx, "breast_cancer.csv", &bc) || !load(ctx, "iris.csv", &iris) || !load(ctx, "wine.csv", &wine)) return;
    standardize(&bc);
    standardize(&iris);
    standardize(&wine);
    CHECK(bc.classes == 2 && iris.classes == 3 && wine.classes == 3, "classes %d %d %d", bc.classes, iris.classes,
          wine.classes);
    const table *sets[3] = {&bc, &iris, &wine};
    const char *names[3] = {"bc", "iris", "wine"};
    for (int s = 0; s < 3; s++) {
        logistic_case(ctx, names[s], sets[s], 1.0, "c1");
        logistic_case(ctx, names[s], sets[s], 0.1, "c01");
    }

    /* one-vs-rest and weighted fits against the optimum */
    kn__logreg_opts o = kn__logreg_defaults();
    o.tol = 1e-7;
    o.max_iter = 1000;
    o.multi_class = "ovr";
    kn__linear m = fit_logistic(ctx, &iris, NULL, o, "iris ovr");
    if (m.coef) {
        CHECK(m.k == 3, "ovr: k %lld", (long long)m.k);
        double e = check_floats("iris ovr coef", m.coef, "iris_ovr_coef", 12, 1e-3, 1.0);
        check_floats("iris ovr intercept", m.intercept, "iris_ovr_intercept", 3, 1e-3, 1.0);
        printf("iris ovr      coefficients within %.1e of scikit-learn\n", e);
    }
    kn__linear_free(ctx, &m);
    o.multi_class = NULL;
    float *w = weights(iris.n);
    m = fit_logistic(ctx, &iris, w, o, "iris weighted");
    if (m.coef) {
        double e = check_floats("iris weighted coef", m.coef, "iris_w_coef", 12, 1e-3, 1.0);
        check_floats("iris weighted intercept", m.intercept, "iris_w_intercept", 3, 1e-3, 1.0);
        printf("iris weighted coefficients within %.1e of scikit-learn\n", e);
    }
    /* weights = duplicated rows: the same objective; the fits agree as far as the stop allows */
    table dup = duplicate(&iris, w);
    kn__linear md = fit_logistic(ctx, &dup, NULL, o, "iris duplicated");
    CHECK(m.coef && md.coef && same_model(&m, &md, 1e-3), "iris: weights differ from duplicated rows");
    kn__linear_free(ctx, &md);
    kn__linear_free(ctx, &m);
    table_free(&dup);
    free(w);

    /* the thread count changes nothing, to the bit (row chunks are fixed, summed in order) */
    o = kn__logreg_defaults();
    for (int s = 0; s < 3; s++) {
        o.threads = 1;
        kn__linear a = fit_logistic(ctx, sets[s], NULL, o, names[s]);
        o.threads = 3;
        kn__linear b = fit_logistic(ctx, sets[s], NULL, o, names[s]);
        CHECK(a.coef && b.coef && identical(&a, &b), "%s: 1 and 3 threads differ", names[s]);
        kn__linear_free(ctx, &a);
        kn__linear_free(ctx, &b);
    }

    /* l1: the objective within 1e-4 of saga's (run to tol 1e-12), zeros where saga's are */
    for (int ci = 0; ci < 2; ci++) {
        const char *ctag = ci ? "c1" : "c01";
        o = kn__logreg_defaults();
        o.penalty = "l1";
        o.C = ci ? 1.0 : 0.1;
        o.max_iter = 1000;
        char what[32], rec[64];
        snprintf(what, sizeof what, "bc l1 C=%g", o.C);
        m = fit_logistic(ctx, &bc, NULL, o, what);
        if (!m.coef) continue;
        double obj = 0, ref_obj = 0, ref_lib = 0, ref[30];
        kn__xy xy = {.x = bc.x, .n = bc.n, .d = bc.d, .y = bc.y, .n_classes = 2};
        kn__logreg_objective(ctx, &xy, &o, &m, &obj);
        snprintf(rec, sizeof rec, "bc_l1_%s_objective", ctag);
        need(rec, &ref_obj, 1);
        snprintf(rec, sizeof rec, "bc_l1_%s_liblinear_objective", ctag);
        need(rec, &ref_lib, 1);
        CHECK(close_to(obj, ref_obj, 1e-4, 0), "%s: objective %.9f, saga %.9f", what, obj, ref_obj);
        snprintf(rec, sizeof rec, "bc_l1_%s_coef", ctag);
        int zeros = 0, ref_zeros = 0, mismatch = 0;
        if (need(rec, ref, 30))
            for (int j = 0; j < 30; j++) {
                zeros += m.coef[j] == 0;
                ref_zeros += ref[j] == 0;
                /* clear cases: saga's zero, or saga's coefficient past 1e-2 */
                if ((ref[j] == 0 && m.coef[j] != 0) || (fabs(ref[j]) > 1e-2 && m.coef[j] == 0)) mismatch++;
            }
        CHECK(mismatch == 0, "%s: %d coefficients zero in one fit and not the other", what, mismatch);
        printf("%-13s %d iterations, objective %.6f (saga %.6f, liblinear %.6f), %d zeros (saga %d)\n", what,
               m.n_iter, obj, ref_obj, ref_lib, zeros, ref_zeros);
        kn__linear_free(ctx, &m);
    }

    /* predictions: proba rows sum to 1 and follow the decision; predict is the argmax */
    o = kn__logreg_defaults();
    for (int s = 0; s < 3; s++) {
        const table *tb = sets[s];
        m = fit_logistic(ctx, tb, NULL, o, names[s]);
        if (!m.coef) continue;
        int classes = tb->classes, k = (int)m.k;
        float *proba = malloc(sizeof(float) * (size_t)(tb->n * classes)), *z = malloc(sizeof(float) * (size_t)(tb->n * k));
        int32_t *pred = malloc(sizeof(int32_t) * (size_t)tb->n);
        kn__logreg_proba(&m, tb->x, tb->n, proba);
        kn__logreg_predict(&m, tb->x, tb->n, z, pred);
        int bad_sum = 0, bad_arg = 0, bad_dec = 0;
        for (int64_t i = 0; i < tb->n; i++) {
            double sum = 0;
            int best = 0;
            for (int c = 0; c < classes; c++) {
                sum += proba[i * classes + c];
                if (proba[i * classes + c] > proba[i * classes + best]) best = c;
            }
            bad_sum += fabs(sum - 1) > 1e-5;
            bad_arg += best != pred[i];
            for (int c = 0; c < k; c++) { /* the decision against a plain double loop */
                double ref = m.intercept[c];
                for (int64_t j = 0; j < tb->d; j++) ref += (double)tb->x[i * tb->d + j] * m.coef[c * tb->d + j];
                bad_dec += !close_to(z[i * k + c], ref, 1e-4, 1.0);
            }
        }
        CHECK(bad_sum == 0 && bad_arg == 0 && bad_dec == 0, "%s: %d proba rows off 1, %d argmax != predict, %d decisions off",
              names[s], bad_sum, bad_arg, bad_dec);
        free(proba);
        free(z);
        free(pred);
        kn__linear_free(ctx, &m);
    }

    /* max_iter = 0: zero coefficients, no iteration */
    o.max_iter = 0;
    m = fit_logistic(ctx, &iris, NULL, o, "max_iter 0");
    CHECK(m.coef && m.n_iter == 0 && m.coef[0] == 0 && m.intercept[0] == 0, "max_iter 0: n_iter %d", m.n_iter);
    kn__linear_free(ctx, &m);
    table_free(&bc);
    table_free(&iris);
    table_free(&wine);
}

/* ------------------------------------------------------------------ refused input */

static void expect_refused(kn_ctx *ctx, kn_status st, const char *field) {
    CHECK(st == KN_ERR_INVALID_ARGUMENT, "%s: %s, expected KN_ERR_INVALID_ARGUMENT", field, kn_status_name(st));
    CHECK(strstr(kn_last_error(ctx), field) != NULL, "message '%s' does not name %s", kn_last_error(ctx), field);
}

static void refused(kn_ctx *ctx) {
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, t[4] = {1, 2, 3, 4}, w[4] = {1, 1, -1, 1};
    int32_t y[4] = {0, 1, 0, 1};
    kn__xy xy = {.x = x, .n = 4, .d = 2, .y = y, .n_classes = 2, .t = t};
    kn__linear m;
    kn__logreg_opts lo = kn__logreg_defaults();
    lo.C = -1;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, &lo, &m), "logistic_regression.C");
    lo.C = NAN;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, &lo, &m), "logistic_regression.C");
    lo = kn__logreg_defaults();
    lo.penalty = "elasticnet";
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, &lo, &m), "logistic_regression.penalty");
    lo = kn__logreg_defaults();
    lo.max_iter = -1;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, &lo, &m), "logistic_regression.max_iter");
    lo = kn__logreg_defaults();
    lo.tol = -1e-4;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, &lo, &m), "logistic_regression.tol");
    lo = kn__logreg_defaults();
    lo.multi_class = "crammer_singer";
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, &lo, &m), "logistic_regression.multi_class");
    lo = kn__logreg_defaults();
    lo.threads = -2;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, &lo, &m), "logistic_regression.threads");
    xy.w = w;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, NULL, &m), "logistic_regression.sample_weight");
    expect_refused(ctx, kn__linreg_fit(ctx, &xy, NULL, &m), "linear_regression.sample_weight");
    xy.w = NULL;
    y[1] = 2;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, NULL, &m), "y[1]");
    y[1] = 0;
    y[3] = 0;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, NULL, &m), "one class");
    y[1] = y[3] = 1;
    x[3] = NAN;
    expect_refused(ctx, kn__logreg_fit(ctx, &xy, NULL, &m), "NaN");
    x[3] = 3;
    CHECK(kn__logreg_fit(ctx, &xy, NULL, &m) == KN_OK, "the fixed data fit: %s", kn_last_error(ctx));
    kn__linear_free(ctx, &m);

    kn__linreg_opts ro = kn__linreg_defaults();
    ro.alpha = -1;
    expect_refused(ctx, kn__linreg_fit(ctx, &xy, &ro, &m), "linear_regression.alpha");
    ro = kn__linreg_defaults();
    ro.solver = "qr";
    expect_refused(ctx, kn__linreg_fit(ctx, &xy, &ro, &m), "linear_regression.solver");
    ro.solver = "sgd";
    ro.learning_rate = 0;
    expect_refused(ctx, kn__linreg_fit(ctx, &xy, &ro, &m), "linear_regression.learning_rate");
    ro = kn__linreg_defaults();
    ro.solver = "sgd";
    ro.batch_size = 0;
    expect_refused(ctx, kn__linreg_fit(ctx, &xy, &ro, &m), "linear_regression.batch_size");
    ro = kn__linreg_defaults();
    ro.solver = "sgd";
    ro.max_iter = 0;
    expect_refused(ctx, kn__linreg_fit(ctx, &xy, &ro, &m), "linear_regression.max_iter");
    xy.t = NULL;
    expect_refused(ctx, kn__linreg_fit(ctx, &xy, NULL, &m), "t is NULL");
    CHECK(m.coef == NULL, "a refused fit leaves the model zeroed");
}

/* In a child (LAPACK loads once per process): without LAPACK the direct solvers say so with
 * KN_ERR_UNSUPPORTED, while SGD and logistic regression, which do not need it, still fit. */
static void no_lapack(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("KILN_LAPACK", "/nonexistent/liblapack-kiln-test.so", 1);
        kn_ctx *ctx;
        if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .log_level = KN_LOG_ERROR}, &ctx) != KN_OK) _exit(2);
        float x[8] = {0, 1, 2, 3, 4, 5, 6, 8}, t[4] = {1, 2, 3, 5};
        int32_t y[4] = {0, 1, 0, 1};
        kn__xy xy = {.x = x, .n = 4, .d = 2, .t = t, .y = y, .n_classes = 2};
        kn__linear m;
        int bad = 0;
        if (kn__linreg_fit(ctx, &xy, NULL, &m) != KN_ERR_UNSUPPORTED) bad |= 1;
        if (!strstr(kn_last_error(ctx), "linear_regression needs LAPACK")) bad |= 2;
        kn__linreg_opts o = kn__linreg_defaults();
        o.solver = "sgd";
        o.max_iter = 2;
        if (kn__linreg_fit(ctx, &xy, &o, &m) != KN_OK) bad |= 4;
        kn__linear_free(ctx, &m);
        if (kn__logreg_fit(ctx, &xy, NULL, &m) != KN_OK) bad |= 8;
        kn__linear_free(ctx, &m);
        if (bad) printf("no-LAPACK child: %d, last error \"%s\"\n", bad, kn_last_error(ctx));
        fflush(stdout);
        kn_ctx_free(ctx);
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "without LAPACK: not KN_ERR_UNSUPPORTED, or sgd/logistic failed");
}

int main(void) {
    no_lapack(); /* first: before anything here starts threads */
    kn_ctx *ctx;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 2, .log_level = KN_LOG_ERROR}, &ctx) != KN_OK) return 1;
    golden = read_all("tests/golden/linear.txt");
    CHECK(golden != NULL, "tests/golden/linear.txt missing (run from the repository root)");
    if (!golden) return 1;
    /* R2 of a constant target: sklearn's force_finite values */
    float tc[3] = {2, 2, 2}, pc[3] = {2, 2, 3};
    CHECK(kn__r2_score(tc, tc, NULL, 3) == 1.0 && kn__r2_score(tc, pc, NULL, 3) == 0.0, "R2 of a constant target");
    refused(ctx);
    logistic(ctx);
    if (kn__lapack_available())
        regression(ctx);
    else
        printf("note: no LAPACK on this machine: the linear regression cases were skipped\n");
    free(golden);
    kn_ctx_free(ctx);
    if (failures) printf("%d failures\n", failures);
    return failures != 0;
}
