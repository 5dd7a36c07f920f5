/* test_naive_bayes.c — gaussian_nb and multinomial_nb (classic/naive_bayes.c) through the model
 * API against scikit-learn 1.2.1's GaussianNB and MultinomialNB on wine (tests/golden/nb.txt,
 * made by tests/golden/make_nb.py, which writes the data too): the fitted means, variances,
 * log-probabilities and priors, and the predicted probabilities, with and without sample
 * weights, with given priors; a save and load predicting the same bits; negative features
 * refused by multinomial_nb. Run from the repository root. */
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
static float *X;
static int32_t *Y;
static float *W;
static char dir[64];


/* float32 values against scikit-learn's doubles: relative 1e-5 (and absolute 1e-6) covers
 * rounding the fitted state and the probabilities to float32 */
static void compare(const char *tag, const char *what, const float *got, int64_t n) {
    char key[64];
    snprintf(key, sizeof key, "%s_%s", tag, what);
    double *want = golden_record(key, n);
    int bad = 0;
    int64_t first = -1;
    for (int64_t i = 0; want && got && i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-6 + 1e-5 * fabs(want[i]) || (isinf(want[i]) && got[i] == want[i]))) {
            bad++;
            if (first < 0) first = i;
        }
    CHECK(got && !bad, "%s: %d of %lld differ from scikit-learn's (first [%lld]: %.9g vs %.9g)", key, bad, (long long)n, (long long)first,
          first >= 0 && got ? got[first] : 0.0, first >= 0 && want ? want[first] : 0.0);
    free(want);
}

static void one_case(kn_ctx *ctx, const char *tag, const char *spec_text, bool weighted, const char *const *params) {
    kn_dataset *ds = NULL;
    kn_model *m = NULL, *back = NULL;
    kn_spec spec;
    kn_status st = kn_dataset_from_arrays(ctx, X, Y, N, D, 3, &ds);
    if (!st) st = kn_model_from_json(ctx, spec_text, ds, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.verbose = 0, .sample_weight = weighted ? W : NULL}, NULL);
    CHECK(st == KN_OK, "%s: %s", tag, kn_last_error(ctx));
    if (st) goto done;
    for (int i = 0; params[i]; i++) { /* (classes, features) tensors, then the (classes) priors */
        const int64_t want_n = params[i + 1] ? 3 * D : 3;
        int64_t n = 0;
        const float *v = kn_model_param(m, params[i] + strlen(params[i]) + 1, &n);
        CHECK(v && n == want_n, "%s: parameter %s: %s", tag, params[i] + strlen(params[i]) + 1, kn_last_error(ctx));
        if (v) compare(tag, params[i], v, n);
    }
    float *p = malloc(sizeof(float) * (size_t)(N * 3)), *q = malloc(sizeof(float) * (size_t)(N * 3));
    st = kn_model_predict(m, X, N, p);
    CHECK(st == KN_OK, "%s: predict: %s", tag, kn_last_error(ctx));
    if (!st) compare(tag, "proba", p, N * 3);
    /* saved and loaded: the same bits */
    char path[128];
    snprintf(path, sizeof path, "%s/%s.kiln", dir, tag);
    st = kn_model_save(m, path);
    if (!st) st = kn_model_load(ctx, path, NULL, &back);
    if (!st) st = kn_model_predict(back, X, N, q);
    CHECK(st == KN_OK && memcmp(p, q, sizeof(float) * (size_t)(N * 3)) == 0, "%s: save and load: %s", tag, st ? kn_last_error(ctx) : "predictions differ");
    free(p);
    free(q);
done:
    kn_model_free(m);
    kn_model_free(back);
    kn_dataset_free(ds);
}

int main(void) {
    golden = read_all("tests/golden/nb.txt");
    if (!golden) {
        printf("FAIL cannot read tests/golden/nb.txt (run from the repository root)\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "/tmp/kiln_nb_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    double shape[2];
    if (get("wine_shape", shape, 2) != 2) return 1;
    N = (int64_t)shape[0], D = (int64_t)shape[1];
    double *x = golden_record("wine_x", N * D), *y = golden_record("wine_y", N);
    X = malloc(sizeof(float) * (size_t)(N * D));
    Y = malloc(sizeof(int32_t) * (size_t)N);
    W = malloc(sizeof(float) * (size_t)N);
    if (!x || !y || !X || !Y || !W) return 1;
    for (int64_t i = 0; i < N * D; i++) X[i] = (float)x[i];
    for (int64_t i = 0; i < N; i++) Y[i] = (int32_t)y[i], W[i] = (float)(i % 3 + 1);
    free(x);
    free(y);
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 2, .log_level = KN_LOG_ERROR}, &ctx)) return 1;
    /* "golden suffix\0tensor name" */
    static const char *const gaussian[] = {"theta\0theta", "var\0var", "prior\0class_prior", NULL};
    static const char *const multinomial[] = {"flp\0feature_log_prob", "clp\0class_log_prior", NULL};
    one_case(ctx, "gnb", "{\"type\": \"gaussian_nb\"}", false, gaussian);
    one_case(ctx, "gnb_weighted", "{\"type\": \"gaussian_nb\"}", true, gaussian);
    one_case(ctx, "gnb_priors", "{\"type\": \"gaussian_nb\", \"priors\": [0.2, 0.3, 0.5], \"var_smoothing\": 1e-3}", false, gaussian);
    one_case(ctx, "mnb", "{\"type\": \"multinomial_nb\"}", false, multinomial);
    one_case(ctx, "mnb_weighted", "{\"type\": \"multinomial_nb\", \"alpha\": 0.5}", true, multinomial);
    one_case(ctx, "mnb_uniform", "{\"type\": \"multinomial_nb\", \"fit_prior\": false}", false, multinomial);
    one_case(ctx, "mnb_class_prior", "{\"type\": \"multinomial_nb\", \"class_prior\": [0.5, 0.25, 0.25], \"alpha\": 2}", false,
             multinomial);
    /* a negative feature: refused, naming the row and feature */
    X[5 * D + 2] = -1;
    kn_dataset *ds = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    kn_status st = kn_dataset_from_arrays(ctx, X, Y, N, D, 3, &ds);
    if (!st) st = kn_model_from_json(ctx, "{\"type\": \"multinomial_nb\"}", ds, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.verbose = 0}, NULL);
    CHECK(st != KN_OK && strstr(kn_last_error(ctx), "row 5, feature 2"), "a negative feature: status %d, '%s'", st, kn_last_error(ctx));
    kn_model_free(m);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
    free(X);
    free(Y);
    free(W);
    free(golden);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
