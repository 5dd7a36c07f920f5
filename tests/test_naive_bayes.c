/* test_naive_bayes.c — the naive Bayes models (classic/naive_bayes.c) through the model API
 * against scikit-learn 1.2.1 (tests/golden/nb.txt, made by tests/golden/make_nb.py, which
 * writes the data too): gaussian_nb and multinomial_nb on wine; bernoulli_nb (binarized at
 * 0, 4 and 8, and binarize null on pre-binarized pixels), complement_nb (with and without
 * norm) and multinomial_nb's force_alpha on a subset of digits. For each case: the fitted
 * tensors, the predicted probabilities and the predictions, with and without sample weights,
 * with given priors and with fit_prior false; alpha 0 raised to 1e-10 (force_alpha false or
 * "warn") or kept (true); a save and load predicting the same bits. Refusals: negative
 * features (multinomial_nb, complement_nb), bernoulli_nb's binarize null on features outside
 * [0, 1], a 0/0 complement weight, bad hyperparameters naming TYPE.KEY. Run from the
 * repository root. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"

typedef struct nb_data {
    int64_t n, d;
    int classes;
    float *x;   /* (n, d) */
    int32_t *y; /* (n) */
    float *w;   /* (n) sample weights i % 3 + 1 */
} nb_data;

static char dir[64];

/* float32 values against scikit-learn's doubles: relative 1e-5 (and absolute 1e-6) covers
 * rounding the fitted state and the probabilities to float32 (on digits, complement_nb's
 * scores sum 64 float32 weights of about 4 times counts up to 16: measured in Python, the
 * float32 weights alone move its probabilities by 0.6 of this tolerance at most) */
static bool close_enough(double got, double want) {
    return fabs(got - want) <= 1e-6 + 1e-5 * fabs(want) || (isinf(want) && got == want);
}

static void compare(const char *tag, const char *what, const float *got, int64_t n) {
    char key[96];
    snprintf(key, sizeof key, "%s_%s", tag, what);
    double *want = golden_record(key, n);
    int bad = 0;
    int64_t first = -1;
    for (int64_t i = 0; want && got && i < n; i++)
        if (!close_enough(got[i], want[i])) {
            bad++;
            if (first < 0) first = i;
        }
    CHECK(got && want && !bad, "%s: %d of %lld differ from scikit-learn's (first [%lld]: %.9g vs %.9g)", key, bad, (long long)n,
          (long long)first, first >= 0 && got ? got[first] : 0.0, first >= 0 && want ? want[first] : 0.0);
    free(want);
}

/* The predicted class (argmax of p) against scikit-learn's predict; a different class is
 * forgiven only where the two classes' reference probabilities are within the tolerance. */
static void compare_predictions(const char *tag, const float *p, int64_t n, int C) {
    char key[96], pkey[96];
    snprintf(key, sizeof key, "%s_pred", tag);
    snprintf(pkey, sizeof pkey, "%s_proba", tag);
    double *want = golden_record(key, n), *wp = golden_record(pkey, n * C);
    int bad = 0;
    for (int64_t i = 0; want && wp && i < n; i++) {
        int best = 0;
        for (int c = 1; c < C; c++) best = p[i * C + c] > p[i * C + best] ? c : best;
        const int w = (int)want[i];
        if (best != w && !close_enough(wp[i * C + best], wp[i * C + w])) bad++;
    }
    CHECK(want && wp && !bad, "%s: %d of %lld predictions differ from scikit-learn's", key, bad, (long long)n);
    free(want);
    free(wp);
}

/* Fits spec on data, compares the named tensors ("golden suffix\0tensor name": (classes,
 * features) ones, then the (classes) one last), the probabilities and (digits) the
 * predictions, and checks a saved and loaded copy predicts the same bits. */
static void one_case(kn_ctx *ctx, const nb_data *data, const char *tag, const char *spec_text, bool weighted,
                     const char *const *params, bool predictions) {
    const int64_t N = data->n, D = data->d;
    const int C = data->classes;
    kn_dataset *ds = NULL;
    kn_model *m = NULL, *back = NULL;
    kn_spec spec;
    kn_status st = kn_dataset_from_arrays(ctx, data->x, data->y, N, D, C, &ds);
    if (!st) st = kn_model_from_json(ctx, spec_text, ds, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.verbose = 0, .sample_weight = weighted ? data->w : NULL}, NULL);
    CHECK(st == KN_OK, "%s: %s", tag, kn_last_error(ctx));
    if (st) goto done;
    for (int i = 0; params[i]; i++) {
        const char *name = params[i] + strlen(params[i]) + 1;
        const int64_t want_n = params[i + 1] ? C * D : C;
        int64_t n = 0;
        const float *v = kn_model_param(m, name, &n);
        CHECK(v && n == want_n, "%s: parameter %s: %s", tag, name, kn_last_error(ctx));
        if (v && n == want_n) compare(tag, params[i], v, n);
    }
    float *p = malloc(sizeof(float) * (size_t)(N * C)), *q = malloc(sizeof(float) * (size_t)(N * C));
    if (!p || !q) abort();
    st = kn_model_predict(m, data->x, N, p);
    CHECK(st == KN_OK, "%s: predict: %s", tag, kn_last_error(ctx));
    if (!st) compare(tag, "proba", p, N * C);
    if (!st && predictions) compare_predictions(tag, p, N, C);
    /* saved and loaded: the same bits */
    char path[160];
    snprintf(path, sizeof path, "%s/%s.kiln", dir, tag);
    st = kn_model_save(m, path);
    if (!st) st = kn_model_load(ctx, path, NULL, &back);
    if (!st) st = kn_model_predict(back, data->x, N, q);
    CHECK(st == KN_OK && memcmp(p, q, sizeof(float) * (size_t)(N * C)) == 0, "%s: save and load: %s", tag,
          st ? kn_last_error(ctx) : "predictions differ");
    free(p);
    free(q);
done:
    kn_model_free(m);
    kn_model_free(back);
    kn_dataset_free(ds);
}

/* Fitting spec on data fails with a message holding want. */
static void refused(kn_ctx *ctx, const nb_data *data, const char *spec_text, const char *want) {
    kn_dataset *ds = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    kn_status st = kn_dataset_from_arrays(ctx, data->x, data->y, data->n, data->d, data->classes, &ds);
    CHECK(st == KN_OK, "dataset: %s", kn_last_error(ctx));
    if (!st) st = kn_model_from_json(ctx, spec_text, ds, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.verbose = 0}, NULL);
    CHECK(st != KN_OK && strstr(kn_last_error(ctx), want), "%s: expected a refusal naming '%s': status %d, '%s'", spec_text, want, st,
          kn_last_error(ctx));
    kn_model_free(m);
    kn_dataset_free(ds);
}

/* <name>_shape, <name>_x, <name>_y from the golden file; weights i % 3 + 1. */
static bool load_data(const char *name, nb_data *out) {
    char key[64];
    double shape[2];
    snprintf(key, sizeof key, "%s_shape", name);
    if (get(key, shape, 2) != 2) return false;
    const int64_t N = (int64_t)shape[0], D = (int64_t)shape[1];
    snprintf(key, sizeof key, "%s_x", name);
    double *x = golden_record(key, N * D);
    snprintf(key, sizeof key, "%s_y", name);
    double *y = golden_record(key, N);
    *out = (nb_data){.n = N, .d = D, .x = malloc(sizeof(float) * (size_t)(N * D)), .y = malloc(sizeof(int32_t) * (size_t)N),
                     .w = malloc(sizeof(float) * (size_t)N)};
    bool ok = x && y && out->x && out->y && out->w;
    for (int64_t i = 0; ok && i < N * D; i++) out->x[i] = (float)x[i];
    for (int64_t i = 0; ok && i < N; i++) {
        out->y[i] = (int32_t)y[i], out->w[i] = (float)(i % 3 + 1);
        if (out->y[i] + 1 > out->classes) out->classes = out->y[i] + 1;
    }
    free(x);
    free(y);
    return ok;
}

static void free_data(nb_data *d) {
    free(d->x), free(d->y), free(d->w);
}

int main(void) {
    golden = read_all("tests/golden/nb.txt");
    if (!golden) {
        printf("FAIL cannot read tests/golden/nb.txt (run from the repository root)\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "/tmp/kiln_nb_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    nb_data wine, digits, binary;
    if (!load_data("wine", &wine) || !load_data("digits", &digits) || !load_data("digits", &binary)) return 1;
    CHECK(wine.classes == 3 && digits.classes == 10, "classes: wine %d, digits %d", wine.classes, digits.classes);
    for (int64_t i = 0; i < binary.n * binary.d; i++) binary.x[i] = binary.x[i] > 8 ? 1.0f : 0.0f; /* as make_nb.py */
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 2, .log_level = KN_LOG_ERROR}, &ctx)) return 1;
    /* "golden suffix\0tensor name" */
    static const char *const gaussian[] = {"theta\0theta", "var\0var", "prior\0class_prior", NULL};
    static const char *const discrete[] = {"flp\0feature_log_prob", "clp\0class_log_prior", NULL};
    one_case(ctx, &wine, "gnb", "{\"type\": \"gaussian_nb\"}", false, gaussian, false);
    one_case(ctx, &wine, "gnb_weighted", "{\"type\": \"gaussian_nb\"}", true, gaussian, false);
    one_case(ctx, &wine, "gnb_priors", "{\"type\": \"gaussian_nb\", \"priors\": [0.2, 0.3, 0.5], \"var_smoothing\": 1e-3}", false, gaussian,
             false);
    one_case(ctx, &wine, "mnb", "{\"type\": \"multinomial_nb\"}", false, discrete, false);
    one_case(ctx, &wine, "mnb_weighted", "{\"type\": \"multinomial_nb\", \"alpha\": 0.5}", true, discrete, false);
    one_case(ctx, &wine, "mnb_uniform", "{\"type\": \"multinomial_nb\", \"fit_prior\": false}", false, discrete, false);
    one_case(ctx, &wine, "mnb_class_prior", "{\"type\": \"multinomial_nb\", \"class_prior\": [0.5, 0.25, 0.25], \"alpha\": 2}", false,
             discrete, false);
    /* alpha 0: raised to 1e-10 unless force_alpha (then some log-probabilities are -inf) */
    one_case(ctx, &digits, "mnb_small_alpha", "{\"type\": \"multinomial_nb\", \"alpha\": 0, \"force_alpha\": \"warn\"}", false, discrete,
             true);
    one_case(ctx, &digits, "mnb_forced", "{\"type\": \"multinomial_nb\", \"alpha\": 0, \"force_alpha\": true}", false, discrete, true);
    one_case(ctx, &digits, "bnb", "{\"type\": \"bernoulli_nb\"}", false, discrete, true);
    one_case(ctx, &digits, "bnb_threshold_weighted", "{\"type\": \"bernoulli_nb\", \"binarize\": 8, \"alpha\": 0.5}", true, discrete, true);
    one_case(ctx, &digits, "bnb_class_prior",
             "{\"type\": \"bernoulli_nb\", \"binarize\": 4, \"class_prior\": [0.05, 0.05, 0.05, 0.05, 0.05, 0.15, 0.15, 0.15, 0.15, 0.15]}",
             false, discrete, true);
    one_case(ctx, &digits, "bnb_uniform", "{\"type\": \"bernoulli_nb\", \"binarize\": 4, \"fit_prior\": false}", false, discrete, true);
    one_case(ctx, &binary, "bnb_prebinarized", "{\"type\": \"bernoulli_nb\", \"binarize\": null}", false, discrete, true);
    one_case(ctx, &digits, "bnb_small_alpha", "{\"type\": \"bernoulli_nb\", \"binarize\": 8, \"alpha\": 0}", false, discrete, true);
    one_case(ctx, &digits, "bnb_forced", "{\"type\": \"bernoulli_nb\", \"binarize\": 8, \"alpha\": 0, \"force_alpha\": true}", false,
             discrete, true);
    one_case(ctx, &digits, "cnb", "{\"type\": \"complement_nb\"}", false, discrete, true);
    one_case(ctx, &digits, "cnb_norm", "{\"type\": \"complement_nb\", \"norm\": true, \"fit_prior\": false}", false, discrete, true);
    one_case(ctx, &digits, "cnb_weighted", "{\"type\": \"complement_nb\", \"alpha\": 0.5}", true, discrete, true);
    one_case(ctx, &digits, "cnb_weighted_norm", "{\"type\": \"complement_nb\", \"alpha\": 2, \"norm\": true}", true, discrete, true);
    one_case(ctx, &digits, "cnb_class_prior",
             "{\"type\": \"complement_nb\", \"class_prior\": [0.05, 0.05, 0.05, 0.05, 0.05, 0.15, 0.15, 0.15, 0.15, 0.15]}", false,
             discrete, true);
    one_case(ctx, &digits, "cnb_forced", "{\"type\": \"complement_nb\", \"alpha\": 0, \"force_alpha\": true}", false, discrete, true);

    /* the description a saved bernoulli_nb carries back: binarize null, force_alpha */
    {
        kn_dataset *ds = NULL;
        kn_model *m = NULL, *back = NULL;
        kn_spec spec;
        char path[160], *text = NULL;
        snprintf(path, sizeof path, "%s/described.kiln", dir);
        kn_status st = kn_dataset_from_arrays(ctx, binary.x, binary.y, binary.n, binary.d, binary.classes, &ds);
        if (!st) st = kn_model_from_json(ctx, "{\"type\": \"bernoulli_nb\", \"binarize\": null, \"force_alpha\": true}", ds, &m, &spec);
        if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.verbose = 0}, NULL);
        if (!st) st = kn_model_save(m, path);
        if (!st) st = kn_model_load(ctx, path, NULL, &back);
        if (!st) st = kn_model_to_json(back, &text);
        CHECK(st == KN_OK && strstr(text, "\"binarize\":null") && strstr(text, "\"force_alpha\":true") && strstr(text, "\"alpha\":1"),
              "bernoulli_nb's description after a load: %s", st ? kn_last_error(ctx) : text);
        kn_free(ctx, text);
        kn_model_free(m);
        kn_model_free(back);
        kn_dataset_free(ds);
    }

    /* refusals, each naming what is wrong */
    refused(ctx, &binary, "{\"type\": \"bernoulli_nb\", \"class_prior\": [0.5, 0.5]}", "bernoulli_nb.class_prior: 2 priors for 10 classes");
    refused(ctx, &digits, "{\"type\": \"bernoulli_nb\", \"binarize\": null}",
            "row 0, feature 2 is 5: with binarize null the features must be in [0, 1]");
    refused(ctx, &digits, "{\"type\": \"complement_nb\", \"alpha\": 0, \"force_alpha\": true, \"norm\": true}",
            "is 0/0 (alpha 0 with force_alpha");
    static const struct {
        const char *spec, *want;
    } bad[] = {
        {"{\"type\": \"bernoulli_nb\", \"binarize\": -1}", "bernoulli_nb.binarize: -1 must be >= 0"},
        {"{\"type\": \"bernoulli_nb\", \"binarize\": \"yes\"}", "bernoulli_nb.binarize: expected a number"},
        {"{\"type\": \"bernoulli_nb\", \"alpha\": -0.5}", "bernoulli_nb.alpha: -0.5 must be >= 0"},
        {"{\"type\": \"bernoulli_nb\", \"force_alpha\": \"maybe\"}", "bernoulli_nb.force_alpha: expected true, false or \"warn\""},
        {"{\"type\": \"bernoulli_nb\", \"norm\": true}", "bernoulli_nb.norm: unknown hyperparameter"},
        {"{\"type\": \"bernoulli_nb\", \"fit_prior\": 1}", "bernoulli_nb.fit_prior: expected true or false"},
        {"{\"type\": \"complement_nb\", \"norm\": 1}", "complement_nb.norm: expected true or false"},
        {"{\"type\": \"complement_nb\", \"binarize\": 0.5}", "complement_nb.binarize: unknown hyperparameter"},
        {"{\"type\": \"complement_nb\", \"alpha\": \"one\"}", "complement_nb.alpha: expected a number"},
        {"{\"type\": \"complement_nb\", \"class_prior\": [0.5, 2]}", "complement_nb.class_prior[1]: expected a probability"},
        {"{\"type\": \"multinomial_nb\", \"force_alpha\": 1}", "multinomial_nb.force_alpha: expected true, false or \"warn\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) refused(ctx, &digits, bad[i].spec, bad[i].want);
    /* a negative feature: refused by the count models, naming the row and feature */
    wine.x[5 * wine.d + 2] = -1;
    refused(ctx, &wine, "{\"type\": \"multinomial_nb\"}", "row 5, feature 2");
    digits.x[7 * digits.d + 3] = -2;
    refused(ctx, &digits, "{\"type\": \"complement_nb\"}", "complement_nb: row 7, feature 3 is -2: counts or frequencies are needed");
    kn_ctx_free(ctx);
    free_data(&wine);
    free_data(&digits);
    free_data(&binary);
    free(golden);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
