/* model_test.h — model-level checks shared by the layer tests (test_functional.c,
 * test_rnn.c): every parameter's gradient against central differences of the evaluated loss
 * (model_gradcheck), tests/data/digits.csv read as 64 pixels in [0, 1] (read_digits), and a
 * model's predictions against its saved-and-loaded copy's (reload_difference), and a model
 * trained on digits and checked (digits_case: test_rnn.c, test_attention.c). Include after
 * check.h, in a file that defines new_ctx() (its context: threads, seed, device), which
 * build (a compiled model from a description) and model_gradcheck use. Run from the source
 * root. */
#ifndef KN_TEST_MODEL_TEST_H
#define KN_TEST_MODEL_TEST_H

#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static kn_ctx *new_ctx(void);

/* A window's output size along one axis (k taps, stride s, dilation d, over `in` cells) and
 * the padding before the first cell: none for 'valid', TensorFlow's for 'same' (the odd
 * cell at the end), as the references of the convolution tests compute their layers. */
__attribute__((unused)) static int window_axis(int in, int k, int s, int d, bool same, int *pad_front) {
    int span = (k - 1) * d + 1, out = same ? (in + s - 1) / s : (in - span) / s + 1;
    int total = (out - 1) * s + span - in;
    *pad_front = same && total > 0 ? total / 2 : 0;
    return out;
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


/* The model's mean loss over the dataset (evaluation: no update). */
static double eval_loss(kn_model *m, const kn_dataset *ds) {
    kn_eval_report r = {0};
    kn_status st = kn_model_evaluate(m, ds, &r);
    CHECK(!st, "evaluate: %s", kn_last_error(kn_model_ctx(m)));
    return r.loss;
}

/* Every parameter's gradient (one training step's, taken before its update) against central
 * differences of the evaluated loss, on N = 6 rows of a fixed pattern of `features` values
 * (64 at most). */
__attribute__((unused)) static void model_gradcheck(const char *what, const char *text, int64_t features, int classes) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    if (!m) {
        kn_ctx_free(ctx);
        return;
    }
    enum { N = 6 };
    float x[N * 64];
    CHECK(features <= 64, "%s: features", what);
    int32_t labels[N];
    for (int64_t i = 0; i < N * features; i++) x[i] = (float)sin(0.37 * (double)i + 0.2) * 1.3f;
    for (int i = 0; i < N; i++) labels[i] = i % classes;
    kn_dataset *ds = NULL;
    kn_dataset_from_arrays(ctx, x, labels, N, features, classes, &ds);
    int np = 0;
    double *numeric = NULL;
    size_t total = 0;
    char names[16][64];
    if (kn__model_ensure_graph(m, N, true) == KN_OK) {
        np = m->graph->n_params < 16 ? m->graph->n_params : 16;
        for (int p = 0; p < np; p++) {
            total += (size_t)kn__numel(m->graph->params[p]);
            snprintf(names[p], sizeof names[p], "%s", m->graph->params[p]->name);
        }
        numeric = calloc(total, sizeof *numeric);
    }
    CHECK(numeric != NULL, "%s: no graph", what);
    size_t at = 0;
    for (int p = 0; numeric && p < np; p++) {
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
    for (int p = 0; numeric && p < np; p++) {
        int64_t n;
        const float *gr = kn_model_grad(m, names[p], &n);
        CHECK(gr != NULL, "%s: no gradient for %s", what, names[p]);
        for (int64_t k = 0; gr && k < n; k++, at++) {
            double err = fabs(numeric[at] - gr[k]) / (fabs(numeric[at]) + fabs(gr[k]) + 1e-2);
            if (err > worst) worst = err;
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

/* tests/data/digits.csv (64 pixel columns 0..16, then the digit) as 64 values in [0, 1] a
 * row; returns the rows read (0 on failure). */
static int64_t read_digits(float *x, int32_t *labels, int64_t max) {
    FILE *f = fopen("tests/data/digits.csv", "r");
    CHECK(f != NULL, "cannot read tests/data/digits.csv (run from the source root)");
    if (!f) return 0;
    char line[1024];
    int64_t n = 0;
    if (!fgets(line, sizeof line, f)) n = -1; /* the header */
    while (n >= 0 && n < max && fgets(line, sizeof line, f)) {
        char *p = line;
        for (int k = 0; k < 65; k++) {
            double v = strtod(p, &p);
            if (*p == ',') p++;
            if (k < 64) x[n * 64 + k] = (float)(v / 16.0);
            else labels[n] = (int32_t)v;
        }
        n++;
    }
    fclose(f);
    return n < 0 ? 0 : n;
}

/* Predictions of m and of its saved-and-loaded copy: the worst difference; *desc the
 * loaded model's description. */
static double reload_difference(kn_ctx *ctx, kn_model *m, const float *x, int64_t n, int64_t outs, char **desc) {
    char dir[] = "/tmp/kiln_model_XXXXXX", path[64];
    if (!mkdtemp(dir)) return INFINITY;
    snprintf(path, sizeof path, "%s/m.kiln", dir);
    float *a = malloc((size_t)(n * outs) * sizeof *a), *b = malloc((size_t)(n * outs) * sizeof *b);
    kn_model *r = NULL;
    kn_status st = a && b ? kn_model_save(m, path) : KN_ERR_OUT_OF_MEMORY;
    if (!st) st = kn_model_load(ctx, path, NULL, &r);
    if (!st) st = kn_model_predict(m, x, n, a);
    if (!st) st = kn_model_predict(r, x, n, b);
    CHECK(!st, "save and load: %s", kn_last_error(ctx));
    double worst = st ? INFINITY : 0;
    for (int64_t i = 0; !st && i < n * outs; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    if (!st && desc) st = kn_model_to_json(r, desc);
    kn_model_free(r);
    unlink(path);
    rmdir(dir);
    free(a);
    free(b);
    return worst;
}

/* A model trained on tests/data/digits.csv (1437 rows; the other 360 held out) for epochs
 * epochs at batch 32, in precision: its held-out accuracy above want, its saved-and-loaded
 * copy predicting the same (bit for bit in fp32), and its description written and read back
 * unchanged. */
__attribute__((unused)) static void digits_case(const char *what, const char *text, kn_precision precision, double want, int epochs) {
    enum { MAX = 1797, TRAIN = 1437 };
    float *x = malloc((size_t)MAX * 64 * sizeof *x);
    int32_t *labels = malloc(MAX * sizeof *labels);
    int64_t n = x && labels ? read_digits(x, labels, MAX) : 0;
    CHECK(n == MAX, "digits: %lld rows", (long long)n);
    kn_ctx *ctx = new_ctx();
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = n == MAX ? kn_model_from_json(ctx, text, NULL, &m, &spec) : KN_ERR_IO;
    spec.compile.precision = precision;
    if (!st) st = kn_model_compile(m, &spec.compile);
    CHECK(!st, "%s: %s", what, kn_last_error(ctx));
    kn_dataset *train = NULL, *test = NULL;
    if (!st) {
        kn_dataset_from_arrays(ctx, x, labels, TRAIN, 64, 10, &train);
        kn_dataset_from_arrays(ctx, x + TRAIN * 64, labels + TRAIN, MAX - TRAIN, 64, 10, &test);
        st = kn_model_fit(m, train, &(kn_fit_opts){.epochs = epochs, .batch_size = 32}, NULL);
        kn_eval_report ev = {0};
        if (!st) st = kn_model_evaluate(m, test, &ev);
        CHECK(!st, "%s: %s", what, kn_last_error(ctx));
        printf("%s on digits (8 steps of 8), %d epochs: test accuracy %.3f\n", what, epochs, ev.accuracy);
        CHECK(ev.accuracy > want, "%s: test accuracy %.3f (want > %.2f)", what, ev.accuracy, want);
        char *a = NULL, *b = NULL;
        double diff = reload_difference(ctx, m, x + TRAIN * 64, MAX - TRAIN, 10, &b);
        printf("%s saved and loaded: predictions differ by %.3g\n", what, diff);
        /* fp32: the loaded model computes as the trained one, bit for bit; bf16: the trained
         * model's graph stores activations in bf16, the loaded one's in f32 */
        CHECK(precision == KN_PRECISION_FP32 ? diff == 0 : diff < 0.05, "%s reload: predictions differ by %.3g", what,
              diff);
        CHECK(!kn_model_to_json(m, &a) && b && strcmp(a, b) == 0, "%s: descriptions differ:\n%s\n%s", what, a, b);
        /* the description read back builds the same model, and writes the same text */
        kn_model *j = a ? build(ctx, a) : NULL;
        char *again = NULL;
        CHECK(j && !kn_model_to_json(j, &again) && strcmp(a, again) == 0, "%s: read back:\n%s\n%s", what, a, again);
        kn_model_free(j);
        kn_free(ctx, again);
        kn_free(ctx, a);
        kn_free(ctx, b);
    }
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_model_free(m);
    kn_ctx_free(ctx);
    free(x);
    free(labels);
}

/* The model text describes, written back as JSON: it holds each of the fragments want (a
 * NULL-ended list), and read back it builds a model that writes the same JSON. */
__attribute__((unused)) static void description_round_trip(kn_ctx *ctx, const char *text, const char *const *want) {
    kn_model *m = build(ctx, text), *again = NULL;
    char *json = NULL, *json2 = NULL;
    bool ok = m && !kn_model_to_json(m, &json) && json;
    for (int k = 0; ok && want[k]; k++) ok = strstr(json, want[k]) != NULL;
    CHECK(ok, "the description written back: %s", json ? json : kn_last_error(ctx));
    if (json) again = build(ctx, json);
    CHECK(again && !kn_model_to_json(again, &json2) && json2 && strcmp(json, json2) == 0, "read back: %s",
          json2 ? json2 : "");
    kn_free(ctx, json2);
    kn_free(ctx, json);
    kn_model_free(again);
    kn_model_free(m);
}

/* KILN_TEST_DEVICE=NAME in the environment (a test's _cuda variant): *device set to it,
 * then, where it is usable, on_device() run there; returns the exit status (77: skipped,
 * the device is not usable here), or -1 when the variable is unset (run on the CPU). */
/* Descriptions and the one-line error each must give (a fragment of it), or NULL where it
 * must build: the model never half-made on a refusal. */
typedef struct {
    const char *text, *want;
} description_case;
__attribute__((unused)) static void check_descriptions(kn_ctx *ctx, const description_case *cases, size_t n) {
    for (size_t k = 0; k < n; k++) {
        kn_spec spec;
        kn_model *e = NULL;
        kn_status st = kn_model_from_json(ctx, cases[k].text, NULL, &e, &spec);
        const char *msg = kn_last_error(ctx);
        if (!cases[k].want) {
            CHECK(st == KN_OK, "case %zu: %s", k, msg);
        } else {
            CHECK(st != KN_OK && e == NULL && strstr(msg, cases[k].want) && !strchr(msg, '\n'),
                  "bad case %zu: status %d, '%s'", k, (int)st, msg);
        }
        kn_model_free(e);
    }
}

__attribute__((unused)) static int run_on_test_device(const char *test, kn_device *device, void (*on_device)(void)) {
    const char *dev = getenv("KILN_TEST_DEVICE");
    if (!dev || !*dev) return -1;
    if (!kn_device_parse(dev, device)) {
        printf("FAIL KILN_TEST_DEVICE=%s: not a device\n", dev);
        return 1;
    }
    kn_ctx *ctx = new_ctx();
    if (kn_device_check(ctx, *device)) {
        printf("%s: SKIP: %s\n", test, kn_last_error(ctx));
        kn_ctx_free(ctx);
        return 77;
    }
    kn_ctx_free(ctx);
    printf("%s on %s: the golden models and the finite differences\n", test, kn_device_name(*device));
    on_device();
    if (failures) printf("%d check(s) failed\n", failures);
    else printf("all %s checks passed on %s\n", test, kn_device_name(*device));
    return failures ? 1 : 0;
}

#endif
