/* test_enet.c — lasso and elastic_net (classic/enet.c) through the model API against
 * scikit-learn 1.2.1's Lasso and ElasticNet on diabetes (tests/golden/enet.txt, made by
 * tests/golden/make_enet.py, which writes the data too): the same coefficients, intercept,
 * number of coordinate-descent sweeps and predictions, for several penalties, with sample
 * weights (some 0), positive coefficients and no intercept; random selection reaching the
 * same optimum; a save and load predicting the same bits; bad hyperparameters refused. Run
 * from the repository root. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"

static int64_t N, D;
static float *X, *T, *W;
static char dir[64];


/* A fitted model of spec on the data (weighted or not), or NULL; *sweeps: its iterations. */
static kn_model *fit(kn_ctx *ctx, const char *spec_text, bool weighted, int64_t *sweeps) {
    kn_dataset *ds = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    kn_status st = kn_dataset_from_arrays_regression(ctx, X, T, N, D, 1, &ds);
    if (!st) st = kn_model_from_json(ctx, spec_text, ds, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    const kn_history *h = NULL;
    if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.verbose = 0, .sample_weight = weighted ? W : NULL}, &h);
    CHECK(st == KN_OK, "%s: %s", spec_text, kn_last_error(ctx));
    if (sweeps) *sweeps = h ? h->steps : -1;
    kn_dataset_free(ds);
    if (st) {
        kn_model_free(m);
        return NULL;
    }
    return m;
}

/* got (float32) against scikit-learn's doubles: relative 1e-5, absolute 1e-4 (coefficients
 * of size ~10-500 rounded to float32, and the solvers' sums in different orders) */
static int differ(const float *got, const double *want, int64_t n) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += !(fabs(got[i] - want[i]) <= 1e-4 + 1e-5 * fabs(want[i]));
    return bad;
}

static void one_case(kn_ctx *ctx, const char *tag, const char *spec_text, bool weighted) {
    int64_t sweeps = -1;
    kn_model *m = fit(ctx, spec_text, weighted, &sweeps), *back = NULL;
    if (!m) return;
    char key[64];
    int64_t n = 0;
    const float *coef = kn_model_param(m, "coef", &n), *b = kn_model_param(m, "intercept", NULL);
    snprintf(key, sizeof key, "%s_coef", tag);
    double *want_coef = golden_record(key, D);
    snprintf(key, sizeof key, "%s_intercept", tag);
    double *want_b = golden_record(key, 1);
    snprintf(key, sizeof key, "%s_n_iter", tag);
    double *want_iter = golden_record(key, 1);
    snprintf(key, sizeof key, "%s_pred", tag);
    double *want_pred = golden_record(key, 20);
    if (coef && b && n == D && want_coef && want_b && want_iter && want_pred) {
        int bad = differ(coef, want_coef, D);
        CHECK(!bad, "%s: %d of %lld coefficients differ from scikit-learn's (first: %.9g vs %.9g)", tag, bad, (long long)D, coef[0], want_coef[0]);
        CHECK(!differ(b, want_b, 1), "%s: intercept %.9g, scikit-learn %.9g", tag, b[0], want_b[0]);
        CHECK(sweeps == (int64_t)want_iter[0], "%s: %lld sweeps, scikit-learn %g", tag, (long long)sweeps, want_iter[0]);
        float pred[20], again[20];
        CHECK(kn_model_predict(m, X, 20, pred) == KN_OK && !differ(pred, want_pred, 20), "%s: predictions differ", tag);
        char path[128];
        snprintf(path, sizeof path, "%s/%s.kiln", dir, tag);
        kn_status st = kn_model_save(m, path);
        if (!st) st = kn_model_load(ctx, path, NULL, &back);
        if (!st) st = kn_model_predict(back, X, 20, again);
        CHECK(st == KN_OK && memcmp(pred, again, sizeof pred) == 0, "%s: save and load: %s", tag, st ? kn_last_error(ctx) : "predictions differ");
    } else {
        CHECK(0, "%s: missing parameters (%s) or golden records", tag, kn_last_error(ctx));
    }
    free(want_coef), free(want_b), free(want_iter), free(want_pred);
    kn_model_free(m);
    kn_model_free(back);
}

int main(void) {
    golden = read_all("tests/golden/enet.txt");
    if (!golden) {
        printf("FAIL cannot read tests/golden/enet.txt (run from the repository root)\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "/tmp/kiln_enet_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    double shape[2];
    if (get("data_shape", shape, 2) != 2) return 1;
    N = (int64_t)shape[0], D = (int64_t)shape[1];
    double *x = golden_record("data_x", N * D), *t = golden_record("data_t", N);
    X = malloc(sizeof(float) * (size_t)(N * D)), T = malloc(sizeof(float) * (size_t)N), W = malloc(sizeof(float) * (size_t)N);
    if (!x || !t || !X || !T || !W) return 1;
    for (int64_t i = 0; i < N * D; i++) X[i] = (float)x[i];
    for (int64_t i = 0; i < N; i++) T[i] = (float)t[i], W[i] = i % 7 ? (float)(i % 4 + 1) : 0.0f;
    free(x), free(t);
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 2, .log_level = KN_LOG_ERROR}, &ctx)) return 1;
    one_case(ctx, "lasso", "{\"type\": \"lasso\", \"alpha\": 0.1}", false);
    one_case(ctx, "lasso_default", "{\"type\": \"lasso\"}", false);
    one_case(ctx, "lasso_strong", "{\"type\": \"lasso\", \"alpha\": 30}", false);
    one_case(ctx, "enet", "{\"type\": \"elastic_net\"}", false);
    one_case(ctx, "enet_l1_0.2", "{\"type\": \"elastic_net\", \"alpha\": 0.05, \"l1_ratio\": 0.2}", false);
    one_case(ctx, "enet_weighted", "{\"type\": \"elastic_net\", \"alpha\": 0.1, \"l1_ratio\": 0.7}", true);
    one_case(ctx, "lasso_positive", "{\"type\": \"lasso\", \"alpha\": 0.5, \"positive\": true}", false);
    one_case(ctx, "lasso_no_intercept", "{\"type\": \"lasso\", \"alpha\": 0.2, \"fit_intercept\": false}", false);
    one_case(ctx, "lasso_tight", "{\"type\": \"lasso\", \"alpha\": 0.01, \"tol\": 1e-8, \"max_iter\": 100000}", false);
    /* random selection: other iterates, the same optimum (tight tolerance) */
    kn_model *r = fit(ctx, "{\"type\": \"lasso\", \"alpha\": 0.01, \"tol\": 1e-8, \"max_iter\": 100000, \"selection\": \"random\", \"random_state\": 3}", false, NULL);
    double *want = golden_record("lasso_tight_coef", D);
    const float *coef = r ? kn_model_param(r, "coef", NULL) : NULL;
    CHECK(coef && want && differ(coef, want, D) == 0, "random selection: another optimum");
    free(want);
    kn_model_free(r);
    /* refusals, naming the field */
    static const struct {
        const char *spec, *needle;
    } bad[] = {
        {"{\"type\": \"lasso\", \"alpha\": -1}", "lasso.alpha"},
        {"{\"type\": \"lasso\", \"l1_ratio\": 0.5}", "lasso.l1_ratio"},
        {"{\"type\": \"elastic_net\", \"l1_ratio\": 1.5}", "elastic_net.l1_ratio"},
        {"{\"type\": \"elastic_net\", \"selection\": \"greedy\"}", "elastic_net.selection"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kn_model *m = NULL;
        kn_spec spec;
        kn_status st = kn_model_from_json(ctx, bad[i].spec, NULL, &m, &spec);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), bad[i].needle), "%s: status %d, '%s'", bad[i].spec, st, kn_last_error(ctx));
        kn_model_free(m);
    }
    kn_ctx_free(ctx);
    free(X), free(T), free(W);
    free(golden);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
