/* layer_test.h — what the normalization layers' tests share (test_batchnorm.c,
 * test_layernorm.c): golden graphs built and their values compared; a small
 * classification set and the models trained on it, a model's parameters by name, its
 * predictions checked through save and load and its description read back; bad epsilons,
 * and a description with one bad layer. Include after check.h; the
 * includer defines _GNU_SOURCE (mkdtemp). Each helper is marked unused, so a test may take
 * only the ones it needs (test_conv1d.c). */
#ifndef KN_TEST_LAYER_TEST_H
#define KN_TEST_LAYER_TEST_H

#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* got against golden want, each error relative to 1 + |want| (a NaN counts as the worst). */
__attribute__((unused)) static void compare_golden(const char *what, const float *got, const double *want, int n, double tol) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(err <= worst)) worst = err;
    }
    printf("%-28s %4d values, worst error %.2e\n", what, n, worst);
    CHECK(worst < tol, "%s: worst error %.3g", what, worst);
}

/* Reads the golden values at path (from the source root) into golden.h's `golden`; false,
 * a failure counted, when it cannot. Include golden.h first. */
__attribute__((unused)) static bool lt_golden_open(const char *path) {
    golden = read_all(path);
    CHECK(golden != NULL, "cannot read %s (run from the source root)", path);
    return golden != NULL;
}

/* A golden case's graph in a context of its own (2 threads) and its x (*x), a parameter of
 * the given shape so that it gets a gradient; *c is x's last dimension, *n its size.
 * lt_golden_free frees both. */
__attribute__((unused)) static kn_graph *lt_golden_graph(const int64_t *shape, int ndim, kn_tensor **x, int64_t *c, int64_t *n) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 1}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    *c = shape[ndim - 1], *n = 1;
    for (int d = 0; d < ndim; d++) *n *= shape[d];
    *x = kn_param(g, shape, ndim, KN_INIT_ZEROS, "x");
    return g;
}

__attribute__((unused)) static void lt_golden_free(kn_graph *g) {
    kn_ctx *ctx = g->ctx;
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* The golden graphs' loss sum(y * dy) (dy an input the test fills), y and the loss kept,
 * the backward pass built and the graph compiled; false, a failure counted, on error. */
__attribute__((unused)) static bool lt_compile_projected(kn_graph *g, kn_tensor *y, kn_tensor *dy, const char *what) {
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *loss = kn__sum(g, kn_mul(g, y, dy));
    g->build_phase = KN_PHASE_FORWARD;
    kn_graph_keep(g, y);
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, 1, true);
    CHECK(!st, "%s: build: %s", what, kn_last_error(g->ctx));
    return !st;
}

/* 330 rows of 6 features in 3 classes, class k's feature k raised above the noise. */
enum { LT_ROWS = 330, LT_FEATURES = 6, LT_CLASSES = 3 };
static float lt_x[LT_ROWS * LT_FEATURES];
static int32_t lt_y[LT_ROWS];

__attribute__((unused)) static kn_dataset *lt_dataset(kn_ctx *ctx) {
    for (int i = 0; i < LT_ROWS; i++) {
        lt_y[i] = i % LT_CLASSES;
        for (int j = 0; j < LT_FEATURES; j++)
            lt_x[i * LT_FEATURES + j] = 3.0f * (float)((i * 31 + j * 7) % 19) / 19.0f + (j == lt_y[i] ? 2.4f : 1.0f);
    }
    kn_dataset *ds = NULL;
    CHECK(!kn_dataset_from_arrays(ctx, lt_x, lt_y, LT_ROWS, LT_FEATURES, LT_CLASSES, &ds), "dataset: %s",
          kn_last_error(ctx));
    return ds;
}

/* {center, scale} as lt_model's arg for an add_norm that reads them (the pointer lives as
 * long as the program). */
__attribute__((unused)) static const bool *lt_center_scale(bool center, bool scale) {
    static const bool flags[2][2][2] = {{{false, false}, {false, true}}, {{true, false}, {true, true}}};
    return flags[center][scale];
}

/* The models' layers: dense 12 -> norm -> relu -> reshape (2, 3, 2) -> conv2d 4 (2x2,
 * 'same') -> norm -> relu -> flatten -> dense 3 softmax, Adam 5e-3: add_norm(m, 0, arg)
 * adds the normalization after the dense layer (its features), add_norm(m, 1, arg) after
 * the convolution (each position's channels). */
__attribute__((unused)) static kn_model *lt_model(kn_ctx *ctx, void (*add_norm)(kn_model *m, int which, const void *arg), const void *arg) {
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){LT_FEATURES}, 1, &m);
    kn_model_add_dense(m, 12, KN_LINEAR);
    add_norm(m, 0, arg);
    kn_model_add_activation(m, KN_RELU);
    kn_model_add_reshape(m, (int64_t[]){2, 3, 2}, 3);
    kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 4, .kernel_h = 2, .kernel_w = 2, .same = true});
    add_norm(m, 1, arg);
    kn_model_add_activation(m, KN_RELU);
    kn_model_add_flatten(m);
    kn_model_add_dense(m, LT_CLASSES, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(5e-3f)});
    return m;
}

/* The named parameters' values one after another into out; their count (0: one is missing). */
__attribute__((unused)) static size_t lt_params(kn_model *m, const char *const *names, int n, float *out) {
    size_t count = 0;
    for (int i = 0; i < n; i++) {
        int64_t k;
        const float *w = kn_model_param(m, names[i], &k);
        CHECK(w != NULL, "no parameter %s", names[i]);
        if (!w) return 0;
        memcpy(out + count, w, (size_t)k * sizeof(float));
        count += (size_t)k;
    }
    return count;
}

/* m (trained on lt_dataset's rows) predicts a row alone as in a batch (the layer uses no
 * batch statistics when predicting), and saved and loaded predicts every row within tol
 * of m, with the same parameters (names); its description holds want and reads back into
 * a model of as many parameters. */
__attribute__((unused)) static void lt_save_load(kn_ctx *ctx, kn_model *m, const char *const *names, int n, double tol,
                                                 const char *want) {
    static float pa[LT_ROWS * LT_CLASSES], pb[LT_ROWS * LT_CLASSES], w[4096], w2[4096];
    CHECK(!kn_model_predict(m, lt_x, LT_ROWS, pa), "predict: %s", kn_last_error(ctx));
    float one[LT_CLASSES];
    CHECK(!kn_model_predict(m, lt_x + 7 * LT_FEATURES, 1, one), "predict one: %s", kn_last_error(ctx));
    double diff = 0; /* the same up to the products' summation order */
    for (int i = 0; i < LT_CLASSES; i++) diff = fmax(diff, fabs(one[i] - pa[7 * LT_CLASSES + i]));
    CHECK(diff < 1e-5, "predicting, a row's output depends on its batch (%.3g)", diff);
    size_t count = lt_params(m, names, n, w);
    char dir[] = "/tmp/kiln_layer_XXXXXX", path[128];
    if (!mkdtemp(dir)) return;
    snprintf(path, sizeof path, "%s/model.kiln", dir);
    CHECK(!kn_model_save(m, path), "save: %s", kn_last_error(ctx));
    kn_model *r = NULL;
    CHECK(!kn_model_load(ctx, path, NULL, &r), "load: %s", kn_last_error(ctx));
    if (r) {
        CHECK(!kn_model_predict(r, lt_x, LT_ROWS, pb), "predict loaded: %s", kn_last_error(ctx));
        double worst = 0;
        for (int i = 0; i < LT_ROWS * LT_CLASSES; i++) worst = fmax(worst, fabs(pa[i] - pb[i]));
        printf("saved and loaded: predictions differ by at most %.2e\n", worst);
        CHECK(worst < tol, "the loaded model predicts differently (%.3g)", worst);
        CHECK(lt_params(r, names, n, w2) == count && memcmp(w, w2, count * sizeof(float)) == 0,
              "save/load changed the parameters");
        kn_model_free(r);
    }
    unlink(path);
    rmdir(dir);
    char *json = NULL;
    CHECK(!kn_model_to_json(m, &json) && json && strstr(json, want), "description: %s",
          json ? json : kn_last_error(ctx));
    if (json) {
        kn_spec spec;
        kn_model *jm = NULL;
        CHECK(!kn_model_from_json(ctx, json, NULL, &jm, &spec) && jm && kn_model_param_count(jm) == kn_model_param_count(m),
              "description read back: %s", kn_last_error(ctx));
        kn_model_free(jm);
    }
    kn_free(ctx, json);
}

/* lt_model's models with a normalization of `type` after the dense layer (<type>_0, 12
 * channels) and the convolution (<type>_1, 4), made by make(ctx, center, scale) with its
 * parameters names (np of them, the normalizations' gamma and beta among them): with the same
 * seed 1 and 3 threads train the same bits; with center or scale off there is no beta or
 * gamma (12 + 4 parameters fewer each), the rest trains, and the description says so. */
__attribute__((unused)) static void lt_norm_variants(kn_dataset *ds, kn_model *(*make)(kn_ctx *ctx, bool center, bool scale),
                                                     const char *type, const char *const *names, int np, int batch) {
    static float ref[4096], got[4096];
    kn_ctx *c1, *c3;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 77}, &c1);
    kn_ctx_new(&(kn_ctx_opts){.threads = 3, .seed = 77}, &c3);
    kn_model *m1 = make(c1, true, true), *m3 = make(c3, true, true);
    kn_fit_opts fo = {.epochs = 2, .batch_size = batch, .validation_split = 0.1};
    CHECK(!kn_model_fit(m1, ds, &fo, NULL) && !kn_model_fit(m3, ds, &fo, NULL), "fit: %s", kn_last_error(c1));
    size_t n = lt_params(m1, names, np, ref);
    CHECK(n > 0 && lt_params(m3, names, np, got) == n && memcmp(ref, got, n * sizeof(float)) == 0,
          "1 and 3 threads train differently with %s", type);
    kn_model_free(m1);
    kn_model_free(m3);
    kn_ctx_free(c3);
    for (int v = 0; v < 3; v++) { /* Keras's center=False, scale=False */
        bool center = v != 1, scale = v != 0;
        kn_model *p = make(c1, center, scale);
        int64_t want = 84 + 36 + 75 + (center + scale) * (12 + 4);
        char gamma[64], beta[64], flags[96];
        snprintf(gamma, sizeof gamma, "%s_0/gamma", type);
        snprintf(beta, sizeof beta, "%s_1/beta", type);
        CHECK(kn_model_param_count(p) == want, "center %d scale %d: %lld parameters, expected %lld", center, scale,
              (long long)kn_model_param_count(p), (long long)want);
        CHECK((kn_model_param(p, gamma, NULL) != NULL) == scale && (kn_model_param(p, beta, NULL) != NULL) == center,
              "center %d scale %d: the wrong parameters", center, scale);
        CHECK(!kn_model_fit(p, ds, &(kn_fit_opts){.epochs = 1, .batch_size = batch}, NULL), "fit: %s", kn_last_error(c1));
        char *j = NULL;
        snprintf(flags, sizeof flags, "\"center\":%s,\"scale\":%s", center ? "true" : "false", scale ? "true" : "false");
        CHECK(!kn_model_to_json(p, &j) && j && strstr(j, flags), "description: %s", j ? j : "");
        kn_free(c1, j);
        kn_model_free(p);
    }
    kn_ctx_free(c1);
}

/* add(m, epsilon) after a dense layer refuses epsilon 0, < 0, NaN and infinity, naming
 * "layers[1] <type>: epsilon". */
__attribute__((unused)) static void lt_bad_epsilon(kn_ctx *ctx, kn_status (*add)(kn_model *m, float epsilon), const char *type) {
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){LT_FEATURES}, 1, &m);
    kn_model_add_dense(m, 4, KN_RELU);
    char want[96];
    snprintf(want, sizeof want, "layers[1] %s: epsilon", type);
    const float eps[] = {0.0f, -1e-3f, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        kn_status st = add(m, eps[i]);
        CHECK(st == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), want), "epsilon %g: status %d, '%s'",
              (double)eps[i], (int)st, kn_last_error(ctx));
    }
    kn_model_free(m);
}

/* A description of dense 4, the given layer, dense 3 is refused with one line holding want
 * (the layer and key at fault). */
__attribute__((unused)) static void lt_bad_layer(kn_ctx *ctx, const char *layer, const char *want) {
    char text[512];
    snprintf(text, sizeof text, "{\"input_shape\": [%d], \"layers\": [{\"type\": \"dense\", \"units\": 4}, %s, "
             "{\"type\": \"dense\", \"units\": 3}]}", LT_FEATURES, layer);
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
    const char *e = kn_last_error(ctx);
    CHECK(st == KN_ERR_SPEC && strstr(e, want) && !strchr(e, '\n'), "%s: '%s'", layer, e);
    kn_model_free(m);
}

#endif
