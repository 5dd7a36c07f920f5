/* test_classic.c — classical models through kiln's one model API: each registered type builds
 * from a JSON description, fits on a small real dataset (iris or wine for classifiers,
 * diabetes for regressors, standardized through the CSV preprocessing), reaches a stated
 * accuracy or R², saves to a .kiln file that loads back and predicts bit-identically (the
 * type and hyperparameters in the metadata, the fitted state as tensors), serves a session,
 * and refuses bad hyperparameters, a task it does not do and a damaged file with messages
 * naming the field. */
#define _GNU_SOURCE
#include <kiln.h>

#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

/* The preprocessed (standardized) rows of a CSV in tests/data. */
static kn_dataset *load_csv(kn_ctx *ctx, const char *name) {
    char src[128];
    snprintf(src, sizeof src, "csv:tests/data/%s", name);
    kn_dataset *raw = NULL, *ds = NULL;
    kn_preprocessor *p = NULL;
    kn_status st = kn_dataset_load(ctx, src, &raw, NULL);
    if (!st) st = kn_preprocessor_fit(raw, &p);
    if (!st) st = kn_preprocessor_transform(p, raw, &ds);
    CHECK(st == KN_OK, "%s: %s", name, kn_last_error(ctx));
    kn_preprocessor_free(p);
    kn_dataset_free(raw);
    return ds;
}

typedef struct model_case {
    const char *spec;   /* a description */
    const char *data;   /* iris.csv, wine.csv, diabetes.csv */
    double at_least;    /* training accuracy, or R² */
} model_case;

static void round_trip(kn_ctx *ctx, const model_case *c) {
    kn_dataset *ds = load_csv(ctx, c->data);
    if (!ds) return;
    kn_model *m = NULL, *back = NULL;
    kn_spec spec;
    kn_session *sess = NULL;
    float *a = NULL, *b = NULL, *s = NULL;
    kn_status st = kn_model_from_json(ctx, c->spec, ds, &m, &spec);
    CHECK(st == KN_OK, "%s: %s", c->spec, kn_last_error(ctx));
    if (!st) st = kn_model_compile(m, &spec.compile);
    const kn_history *h = NULL;
    if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.verbose = 0}, &h);
    CHECK(st == KN_OK && h && h->n_epochs == 1 && h->train_seconds >= 0, "%s: fit: %s", c->spec, kn_last_error(ctx));
    kn_eval_report rep = {0};
    if (!st) st = kn_model_evaluate(m, ds, &rep);
    double score = kn_dataset_classes(ds) ? rep.accuracy : rep.r2;
    CHECK(st == KN_OK && score >= c->at_least, "%s on %s: %.4f, want >= %.4f (%s)", c->spec, c->data, score, c->at_least,
          kn_last_error(ctx));
    char path[128];
    snprintf(path, sizeof path, "%s/model.kiln", dir);
    if (!st) st = kn_model_save(m, path);
    if (!st) st = kn_model_load(ctx, path, NULL, &back);
    CHECK(st == KN_OK, "%s: save and load: %s", c->spec, kn_last_error(ctx));
    int64_t n = kn_dataset_size(ds), outs = m ? kn_model_output_size(m) : 0;
    if (!st) {
        CHECK(strcmp(kn_model_type(back), kn_model_type(m)) == 0 && kn_model_output_size(back) == outs &&
                  kn_model_input_size(back) == kn_dataset_features(ds) && kn_model_param_count(back) == kn_model_param_count(m),
              "%s: the loaded model is the same kind (%s, %lld outputs)", c->spec, kn_model_type(back), (long long)kn_model_output_size(back));
        a = malloc(sizeof(float) * (size_t)(n * outs));
        b = malloc(sizeof(float) * (size_t)(n * outs));
        s = malloc(sizeof(float) * (size_t)(n * outs));
        st = kn_model_predict(m, kn_dataset_x(ds), n, a);
        if (!st) st = kn_model_predict(back, kn_dataset_x(ds), n, b);
        if (!st) st = kn_session_new(back, 64, &sess);
        if (!st) st = kn_session_predict(sess, kn_dataset_x(ds), n, s);
        CHECK(st == KN_OK && memcmp(a, b, sizeof(float) * (size_t)(n * outs)) == 0 && memcmp(a, s, sizeof(float) * (size_t)(n * outs)) == 0,
              "%s: the loaded model and a session predict bit-identically (%s)", c->spec, kn_last_error(ctx));
        if (kn_dataset_classes(ds)) {
            bool rows_ok = true;
            for (int64_t i = 0; i < n && rows_ok; i++) {
                double sum = 0;
                for (int64_t k = 0; k < outs; k++) sum += a[i * outs + k], rows_ok &= a[i * outs + k] >= 0;
                rows_ok &= fabs(sum - 1) < 1e-4;
            }
            CHECK(rows_ok, "%s: each prediction is a distribution over the classes", c->spec);
            CHECK(kn_model_label_name(back, 0) != NULL, "%s: the class names are saved", c->spec);
        }
        char *text = NULL;
        if (kn_model_to_json(back, &text) == KN_OK) {
            CHECK(strstr(text, kn_model_type(m)) != NULL, "%s: the description names the type: %s", c->spec, text);
            kn_model *again = NULL;
            kn_spec sp2;
            kn_status st2 = kn_model_from_json(ctx, text, NULL, &again, &sp2);
            CHECK(st2 == KN_OK, "%s: its own description parses again: %s (%s)", c->spec, kn_last_error(ctx), text);
            kn_model_free(again);
            kn_free(ctx, text);
        }
    }
    kn_session_free(sess);
    free(a);
    free(b);
    free(s);
    kn_model_free(m);
    kn_model_free(back);
    kn_dataset_free(ds);
}

static void refusals(kn_ctx *ctx) {
    kn_dataset *iris = load_csv(ctx, "iris.csv"), *diab = load_csv(ctx, "diabetes.csv");
    if (!iris || !diab) return;
    struct {
        const char *spec;
        const kn_dataset *data;
        const char *want;
    } bad[] = {
        {"{\"type\": \"logistic_regression\", \"C\": -1}", NULL, "logistic_regression.C"},
        {"{\"type\": \"logistic_regression\", \"penalty\": \"l3\"}", NULL, "logistic_regression.penalty"},
        {"{\"type\": \"logistic_regression\", \"Cee\": 1}", NULL, "logistic_regression.Cee: unknown hyperparameter"},
        {"{\"type\": \"logistic_regression\", \"max_iter\": 2.5}", NULL, "logistic_regression.max_iter"},
        {"{\"type\": \"logistic_regression\", \"class_weight\": [1, -2]}", NULL, "class_weight[1]"},
        {"{\"type\": \"linear_regression\", \"alpha\": -0.5}", NULL, "linear_regression.alpha"},
        {"{\"type\": \"linear_regression\"}", NULL, NULL}, /* placeholder: the task check below */
        {"{\"type\": \"decision_tree\", \"max_depth\": 0}", NULL, "decision_tree.max_depth"},
        {"{\"type\": \"random_forest\", \"n_estimators\": 0}", NULL, "random_forest.n_estimators"},
        {"{\"type\": \"random_forest\", \"oob_score\": true, \"bootstrap\": false}", NULL, "random_forest.oob_score"},
        {"{\"type\": \"svm\", \"kernel\": \"cubic\"}", NULL, "svm.kernel"},
        {"{\"type\": \"svm\", \"gamma\": -1}", NULL, "svm.gamma"},
        {"{\"type\": \"linear_svm\", \"loss\": \"log\"}", NULL, "linear_svm.loss"},
        {"{\"type\": \"hist_gradient_boosting\", \"learning_rate\": -1}", NULL, "hist_gradient_boosting.learning_rate: -1 must be > 0"},
        {"{\"type\": \"knn\"}", NULL, "unknown model type 'knn'"},
        {"{\"type\": \"k_nearest_neighbors\", \"weights\": \"far\"}", NULL, "k_nearest_neighbors.weights"},
        {"{\"type\": \"gaussian_nb\", \"priors\": [0.5, 0.6]}", NULL, "gaussian_nb.priors"},
        {"{\"type\": \"multinomial_nb\", \"alpha\": -1}", NULL, "multinomial_nb.alpha"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (!bad[i].want) continue;
        kn_model *m = NULL;
        kn_spec spec;
        kn_status st = kn_model_from_json(ctx, bad[i].spec, bad[i].data, &m, &spec);
        CHECK(st != KN_OK && m == NULL && strstr(kn_last_error(ctx), bad[i].want), "%s: refused naming '%s': %s", bad[i].spec, bad[i].want,
              kn_last_error(ctx));
        kn_model_free(m);
    }
    /* the task: a regressor on labels, a classifier on targets */
    kn_model *m = NULL;
    kn_spec spec;
    kn_status st = kn_model_from_json(ctx, "{\"type\": \"linear_regression\"}", iris, &m, &spec);
    CHECK(st != KN_OK && strstr(kn_last_error(ctx), "class labels"), "a regressor on class labels: %s", kn_last_error(ctx));
    kn_model_free(m);
    m = NULL;
    st = kn_model_from_json(ctx, "{\"type\": \"logistic_regression\"}", diab, &m, &spec);
    CHECK(st != KN_OK && strstr(kn_last_error(ctx), "regression targets"), "a classifier on targets: %s", kn_last_error(ctx));
    kn_model_free(m);
    /* a loss or epsilon of the other task: refused when fitting, naming the field */
    const struct {
        const char *spec;
        const kn_dataset *data;
        const char *want;
    } task[] = {
        {"{\"type\": \"linear_svm\", \"loss\": \"hinge\"}", diab, "linear_svm.loss: \"hinge\" is a classification loss"},
        {"{\"type\": \"linear_svm\", \"loss\": \"epsilon_insensitive\"}", iris, "linear_svm.loss"},
        {"{\"type\": \"linear_svm\", \"epsilon\": 1}", iris, "linear_svm.epsilon: regression only"},
        {"{\"type\": \"svm\", \"epsilon\": 1}", iris, "svm.epsilon: regression only"},
        {"{\"type\": \"svm\", \"probability\": true}", diab, "svm.probability"},
        {"{\"type\": \"svm\", \"epsilon\": -1}", NULL, "svm.epsilon"},
        {"{\"type\": \"svm\", \"nu\": 0.5, \"C\": 2}", iris, "svm.C: a nu-SVC has no C"},
        {"{\"type\": \"svm\", \"nu\": 0.5, \"epsilon\": 2}", diab, "svm.epsilon: a nu-SVR finds its tube"},
        {"{\"type\": \"svm\", \"nu\": 0}", NULL, "svm.nu"},
        {"{\"type\": \"svm\", \"nu\": 0.3, \"class_weight\": \"balanced\"}", iris, "svm.class_weight: a nu-SVC has no C"},
    };
    for (size_t i = 0; i < sizeof task / sizeof *task; i++) {
        m = NULL;
        st = kn_model_from_json(ctx, task[i].spec, task[i].data, &m, &spec);
        if (!st && task[i].data) st = kn_model_fit(m, task[i].data, &(kn_fit_opts){.verbose = 0}, NULL);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), task[i].want), "%s: refused naming '%s': %s", task[i].spec, task[i].want,
              kn_last_error(ctx));
        kn_model_free(m);
    }
    /* predicting before fitting, saving before fitting, a network-only call */
    m = NULL;
    st = kn_model_from_json(ctx, "{\"type\": \"logistic_regression\"}", iris, &m, &spec);
    float out[3];
    char path[128];
    snprintf(path, sizeof path, "%s/unfitted.kiln", dir);
    CHECK(!st && kn_model_predict(m, kn_dataset_x(iris), 1, out) == KN_ERR_STATE, "predict before fit: %s", kn_last_error(ctx));
    CHECK(!st && kn_model_save(m, path) == KN_ERR_STATE && access(path, F_OK) != 0, "save before fit leaves no file");
    CHECK(!st && kn_model_train_step(m, kn_dataset_x(iris), kn_dataset_labels(iris), 1, NULL) == KN_ERR_UNSUPPORTED, "train_step");
    /* a damaged file: coef's shape edited in the header */
    if (!st && kn_model_fit(m, iris, &(kn_fit_opts){.verbose = 0}, NULL) == KN_OK && kn_model_save(m, path) == KN_OK) {
        FILE *f = fopen(path, "r+b");
        char buf[4096];
        size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
        char *at = got ? memmem(buf, got, "\"shape\":[3,4]", 13) : NULL;
        if (at) {
            memcpy(at, "\"shape\":[4,3]", 13);
            fseek(f, 0, SEEK_SET);
            fwrite(buf, 1, got, f);
        }
        if (f) fclose(f);
        kn_model *back = NULL;
        st = kn_model_load(ctx, path, &(kn_load_opts){.skip_checksum = true}, &back);
        CHECK(at && st == KN_ERR_FORMAT && strstr(kn_last_error(ctx), "coef"), "a coef of the wrong shape is refused: %s", kn_last_error(ctx));
        kn_model_free(back);
    }
    kn_model_free(m);
    /* a linear model's coefficients through kn_model_param */
    m = NULL;
    st = kn_model_from_json(ctx, "{\"type\": \"linear_regression\"}", diab, &m, &spec);
    if (!st) st = kn_model_fit(m, diab, &(kn_fit_opts){.verbose = 0}, NULL);
    int64_t nc = 0, ni = 0;
    const float *coef = st ? NULL : kn_model_param(m, "coef", &nc), *icpt = st ? NULL : kn_model_param(m, "intercept", &ni);
    CHECK(coef && icpt && nc == kn_dataset_features(diab) && ni == 1, "coef and intercept by name (%lld, %lld)", (long long)nc,
          (long long)ni);
    if (coef && icpt) { /* the first row's prediction from them */
        float p0 = 0;
        double want = icpt[0];
        for (int64_t j = 0; j < nc; j++) want += (double)coef[j] * kn_dataset_x(diab)[j];
        kn_model_predict(m, kn_dataset_x(diab), 1, &p0);
        CHECK(fabs(p0 - want) < 1e-3 * (1 + fabs(want)), "prediction = x . coef + intercept (%g vs %g)", p0, want);
    }
    CHECK(kn_model_param(m, "weights", NULL) == NULL && strstr(kn_last_error(ctx), "weights"), "an unknown name is refused");
    kn_model_free(m);
    kn_dataset_free(iris);
    kn_dataset_free(diab);
}

/* validation_split: the fit leaves the last rows out (its model equals one fitted on the
 * first rows alone) and reports their loss and accuracy, as evaluate gives them. */
static void validation(kn_ctx *ctx) {
    kn_dataset *wine = load_csv(ctx, "wine.csv"), *head = NULL, *tail = NULL;
    int64_t n = kn_dataset_size(wine), n_val = (int64_t)((double)n * 0.25);
    const char *spec = "{\"type\": \"logistic_regression\"}";
    kn_model *a = NULL, *b = NULL;
    kn_spec sa, sb;
    const kn_history *h = NULL;
    kn_status st = kn_dataset_slice(wine, 0, n - n_val, &head);
    if (!st) st = kn_dataset_slice(wine, n - n_val, n_val, &tail);
    if (!st) st = kn_model_from_json(ctx, spec, wine, &a, &sa);
    if (!st) st = kn_model_from_json(ctx, spec, wine, &b, &sb);
    if (!st) st = kn_model_fit(a, wine, &(kn_fit_opts){.validation_split = 0.25}, &h);
    if (!st) st = kn_model_fit(b, head, NULL, NULL);
    CHECK(st == KN_OK, "validation: %s", kn_last_error(ctx));
    if (!st) {
        kn_eval_report r;
        st = kn_model_evaluate(b, tail, &r);
        CHECK(!st && h->n_epochs == 1 && h->epochs[0].val_loss == r.loss && h->epochs[0].val_accuracy == r.accuracy,
              "validation: history %g %g, evaluate %g %g", h->epochs[0].val_loss, h->epochs[0].val_accuracy, r.loss,
              r.accuracy);
        /* (wine.csv is sorted by class: its last quarter is mostly a class the fit saw little of) */
        CHECK(isfinite(h->epochs[0].val_loss) && h->epochs[0].val_accuracy > 0.5, "validation: loss %g, accuracy %g",
              h->epochs[0].val_loss, h->epochs[0].val_accuracy);
    }
    kn_model_free(a);
    kn_model_free(b);
    kn_dataset_free(head);
    kn_dataset_free(tail);
    kn_dataset_free(wine);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/kiln_classic_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 5, .log_level = KN_LOG_ERROR}, &ctx)) return 1;
    static const model_case cases[] = {
        {"{\"type\": \"linear_regression\"}", "diabetes.csv", 0.50},
        {"{\"type\": \"linear_regression\", \"alpha\": 10}", "diabetes.csv", 0.50},
        {"{\"type\": \"logistic_regression\"}", "iris.csv", 0.95},
        {"{\"type\": \"logistic_regression\", \"penalty\": \"l1\", \"C\": 0.5, \"class_weight\": \"balanced\"}", "wine.csv", 0.95},
        {"{\"type\": \"decision_tree\", \"max_depth\": 3}", "iris.csv", 0.95},
        {"{\"type\": \"decision_tree\", \"max_depth\": 4}", "diabetes.csv", 0.50},
        {"{\"type\": \"random_forest\", \"n_estimators\": 20, \"oob_score\": true}", "wine.csv", 0.98},
        {"{\"type\": \"random_forest\", \"n_estimators\": 20}", "diabetes.csv", 0.80},
        {"{\"type\": \"linear_svm\"}", "iris.csv", 0.90},
        {"{\"type\": \"svm\"}", "wine.csv", 0.98},
        {"{\"type\": \"svm\", \"kernel\": \"poly\", \"probability\": true}", "iris.csv", 0.90},
        {"{\"type\": \"svm\", \"C\": 100, \"epsilon\": 5}", "diabetes.csv", 0.60},
        {"{\"type\": \"svm\", \"nu\": 0.5, \"C\": 100}", "diabetes.csv", 0.60},
        {"{\"type\": \"svm\", \"nu\": 0.2}", "wine.csv", 0.98},
        {"{\"type\": \"linear_svm\", \"C\": 10, \"epsilon\": 5, \"max_iter\": 20000}", "diabetes.csv", 0.45},
        {"{\"type\": \"k_nearest_neighbors\", \"n_neighbors\": 7}", "wine.csv", 0.95},
        {"{\"type\": \"k_nearest_neighbors\", \"weights\": \"distance\", \"metric\": \"manhattan\"}", "diabetes.csv", 0.99},
        {"{\"type\": \"gaussian_nb\"}", "wine.csv", 0.95},
        {"{\"type\": \"hist_gradient_boosting\", \"max_iter\": 30}", "wine.csv", 0.98},
        {"{\"type\": \"hist_gradient_boosting\", \"min_samples_leaf\": 5, \"class_weight\": \"balanced\"}", "iris.csv", 0.98},
        {"{\"type\": \"hist_gradient_boosting\", \"loss\": \"absolute_error\", \"max_iter\": 50}", "diabetes.csv", 0.50},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) round_trip(ctx, &cases[i]);
    refusals(ctx);
    validation(ctx);
    kn_ctx_free(ctx);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
