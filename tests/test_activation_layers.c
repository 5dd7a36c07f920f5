/* test_activation_layers.c — Keras's activation layers and the minimum merge:
 *
 * - ReLU {max_value, negative_slope, threshold}, LeakyReLU {negative_slope, alpha}, ELU
 *   {alpha}, Softmax {axis}, Identity and an activation layer's alpha, each after a dense
 *   layer, against a reference computed here from the dense layer's parameters (the slopes
 *   Keras's layers default to: LeakyReLU 0.3, ELU 1);
 * - minimum (Keras's Minimum merge) against a reference, its gradients by finite differences
 *   (model_gradcheck), trained on digits (the activations' own gradients, alpha included, are
 *   test_gradcheck's: these layers build the same graph op as a dense layer's activation);
 * - descriptions written and read back (the alpha kept), and the refusals: one line naming
 *   the layer and key.
 * KILN_TEST_DEVICE=cuda runs the references and finite differences on the GPU. Run from the
 * source root. */
#define _DEFAULT_SOURCE /* mkdtemp (model_test.h) */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_test.h"

static kn_device device = KN_DEVICE_CPU;

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 3, .device = device}, &ctx);
    return ctx;
}

enum { N = 5, F = 4, U = 6 };

typedef double (*act_fn)(double x, const double *z, int k, double p); /* z: the row's pre-activations */

static double relu(double x, const double *z, int k, double p) { (void)z, (void)k, (void)p; return x > 0 ? x : 0; }
static double relu6(double x, const double *z, int k, double p) { (void)z, (void)k, (void)p; return fmin(fmax(x, 0), 6); }
static double leaky(double x, const double *z, int k, double p) { (void)z, (void)k; return x > 0 ? x : p * x; }
static double elu(double x, const double *z, int k, double p) { (void)z, (void)k; return x > 0 ? x : p * expm1(x); }
static double ident(double x, const double *z, int k, double p) { (void)z, (void)k, (void)p; return x; }
static double softmax(double x, const double *z, int k, double p) {
    (void)x, (void)p;
    double mx = z[0], s = 0;
    for (int j = 1; j < U; j++) mx = fmax(mx, z[j]);
    for (int j = 0; j < U; j++) s += exp(z[j] - mx);
    return exp(z[k] - mx) / s;
}

/* input (F) -> dense U (linear, scaled up so the activations' both sides are reached) ->
 * layer -> the model's output: against fn(dense) with parameter p. */
static void reference_case(const char *layer, act_fn fn, double p) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"input_shape\": [%d], \"layers\": [{\"type\": \"dense\", \"units\": %d, \"bias_initializer\": \"ones\"}, "
             "{\"type\": \"rescaling\", \"scale\": 3}, %s], \"loss\": \"mse\"}", F, U, layer);
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    float x[N * F], y[N * U];
    for (int i = 0; i < N * F; i++) x[i] = (float)sin(0.9 * i + 0.3);
    kn_status st = m ? kn_model_predict(m, x, N, y) : KN_ERR_INVALID_ARGUMENT;
    CHECK(!st, "%s: predict: %s", layer, kn_last_error(ctx));
    const float *w = m ? kn_model_param(m, "dense_0/kernel", NULL) : NULL, *b = m ? kn_model_param(m, "dense_0/bias", NULL) : NULL;
    if (!st && w && b) {
        double worst = 0;
        for (int n = 0; n < N; n++) {
            double z[U];
            for (int k = 0; k < U; k++) {
                z[k] = b[k];
                for (int i = 0; i < F; i++) z[k] += (double)x[n * F + i] * w[i * U + k];
                z[k] *= 3;
            }
            for (int k = 0; k < U; k++) worst = fmax(worst, fabs(fn(z[k], z, k, p) - y[n * U + k]));
        }
        printf("%-62s within %.2g of the reference\n", layer, worst);
        CHECK(worst < 2e-5, "%s: differs from the reference by %.3g", layer, worst);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* minimum of three dense branches against a reference: min(relu(a), b, tanh(c)) elementwise. */
static const char *minimum_text =
    "{\"input_shape\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 5, \"activation\": \"relu\"},"
    "{\"name\": \"b\", \"type\": \"dense\", \"units\": 5, \"inputs\": \"input\"},"
    "{\"name\": \"c\", \"type\": \"dense\", \"units\": 5, \"activation\": \"tanh\", \"inputs\": \"input\"},"
    "{\"type\": \"minimum\", \"inputs\": [\"a\", \"b\", \"c\"]},"
    "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}";

static void minimum_reference(void) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, minimum_text);
    float x[N * 4], y[N * 3];
    for (int i = 0; i < N * 4; i++) x[i] = (float)cos(1.1 * i);
    kn_status st = m ? kn_model_predict(m, x, N, y) : KN_ERR_INVALID_ARGUMENT;
    CHECK(!st, "minimum: predict: %s", kn_last_error(ctx));
    const char *names[4] = {"dense_0", "dense_1", "dense_2", "dense_3"};
    const float *w[4] = {0}, *b[4] = {0};
    for (int k = 0; m && k < 4; k++) {
        char kn[32], bn[32];
        snprintf(kn, sizeof kn, "%s/kernel", names[k]), snprintf(bn, sizeof bn, "%s/bias", names[k]);
        w[k] = kn_model_param(m, kn, NULL), b[k] = kn_model_param(m, bn, NULL);
        CHECK(w[k] && b[k], "minimum: no %s", kn);
    }
    if (!st && w[3] && b[3] && w[0] && w[1] && w[2]) {
        double worst = 0;
        for (int n = 0; n < N; n++) {
            double h[5], o[3], mx = -INFINITY, s = 0;
            for (int j = 0; j < 5; j++) {
                double v[3];
                for (int k = 0; k < 3; k++) {
                    v[k] = b[k][j];
                    for (int i = 0; i < 4; i++) v[k] += (double)x[n * 4 + i] * w[k][i * 5 + j];
                }
                v[0] = fmax(v[0], 0), v[2] = tanh(v[2]);
                h[j] = fmin(v[0], fmin(v[1], v[2]));
            }
            for (int k = 0; k < 3; k++) {
                o[k] = b[3][k];
                for (int j = 0; j < 5; j++) o[k] += h[j] * w[3][j * 3 + k];
                mx = fmax(mx, o[k]);
            }
            for (int k = 0; k < 3; k++) s += exp(o[k] - mx);
            for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(exp(o[k] - mx) / s - y[n * 3 + k]));
        }
        printf("%-62s within %.2g of the reference\n", "minimum of relu, linear and tanh branches", worst);
        CHECK(worst < 1e-5, "minimum: differs from the reference by %.3g", worst);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void test_models(void) {
    reference_case("{\"type\": \"ReLU\"}", relu, 0);
    reference_case("{\"type\": \"ReLU\", \"max_value\": 6}", relu6, 0);
    reference_case("{\"type\": \"ReLU\", \"negative_slope\": 0.1}", leaky, 0.1);
    reference_case("{\"type\": \"LeakyReLU\"}", leaky, 0.3);
    reference_case("{\"type\": \"LeakyReLU\", \"negative_slope\": 0.05}", leaky, 0.05);
    reference_case("{\"type\": \"LeakyReLU\", \"alpha\": 0.2}", leaky, 0.2);
    reference_case("{\"type\": \"ELU\"}", elu, 1.0);
    reference_case("{\"type\": \"ELU\", \"alpha\": 0.5}", elu, 0.5);
    reference_case("{\"type\": \"Softmax\"}", softmax, 0);
    reference_case("{\"type\": \"Softmax\", \"axis\": 1}", softmax, 0);
    reference_case("{\"type\": \"Identity\"}", ident, 0);
    reference_case("{\"type\": \"activation\", \"activation\": \"leaky_relu\", \"alpha\": 0.01}", leaky, 0.01);
    reference_case("{\"type\": \"activation\", \"activation\": \"elu\", \"alpha\": 2}", elu, 2.0);
    minimum_reference();
    model_gradcheck("minimum of three branches", minimum_text, 4, 3);
}

int main(void) {
    int rc = run_on_test_device("test_activation_layers", &device, test_models);
    if (rc >= 0) return rc;
    test_models();
    /* a GAN-style discriminator's LeakyReLU layers, and a minimum of two branches, on digits */
    digits_case("dense 64 -> LeakyReLU 0.2 -> min(dense 32, dense 32) -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"dense\", \"units\": 64},"
                "{\"name\": \"h\", \"type\": \"LeakyReLU\", \"negative_slope\": 0.2},"
                "{\"name\": \"a\", \"type\": \"dense\", \"units\": 32, \"activation\": \"relu\"},"
                "{\"name\": \"b\", \"type\": \"dense\", \"units\": 32, \"activation\": \"elu\", \"inputs\": \"h\"},"
                "{\"type\": \"minimum\", \"inputs\": [\"a\", \"b\"]},"
                "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],"
                "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.005}}",
                KN_PRECISION_FP32, 0.85, 10);
    kn_ctx *ctx = new_ctx();
    /* the layers are written back as kiln's activation layers, their alpha kept */
    static const char *const want[] = {"{\"type\":\"activation\",\"activation\":\"leaky_relu\",\"alpha\":0.125}",
                                       "\"activation\":\"elu\",\"alpha\":1}", "\"activation\":\"relu6\"", NULL};
    description_round_trip(ctx, "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 5},"
                                "{\"type\": \"LeakyReLU\", \"negative_slope\": 0.125}, {\"type\": \"ELU\"},"
                                "{\"type\": \"ReLU\", \"max_value\": 6}, {\"type\": \"dense\", \"units\": 2}]}",
                           want);
    static const description_case bad[] = {
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"ReLU\", \"max_value\": 3}, {\"type\": \"dense\"}]}",
         "layers[0].max_value: only null or 6 (relu6)"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"ReLU\", \"max_value\": 6, \"negative_slope\": 0.1}, "
         "{\"type\": \"dense\"}]}",
         "layers[0].max_value: only null or 6 (relu6) is supported, with negative_slope 0"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"ReLU\", \"threshold\": 0.5}, {\"type\": \"dense\"}]}",
         "layers[0].threshold: only 0 is supported"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"ReLU\", \"negative_slope\": -1}, {\"type\": \"dense\"}]}",
         "layers[0].negative_slope: -1 is out of range"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"LeakyReLU\", \"negative_slope\": \"x\"}, {\"type\": \"dense\"}]}",
         "layers[0].negative_slope: expected a number"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"ELU\", \"alpha\": -2}, {\"type\": \"dense\"}]}",
         "layers[0].alpha: -2 is out of range"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"Softmax\", \"axis\": 0}, {\"type\": \"dense\"}]}",
         "layers[0].axis: only the last axis (-1, or 1 here)"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"ELU\", \"max_value\": 1}, {\"type\": \"dense\"}]}",
         "layers[0]: unknown key 'max_value'"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"activation\", \"activation\": \"relu\", \"alpha\": -1}, "
         "{\"type\": \"dense\"}]}",
         "layers[0].alpha: -1 is out of range"},
        {"{\"input_shape\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 3}, "
         "{\"name\": \"b\", \"type\": \"dense\", \"units\": 2, \"inputs\": \"input\"}, "
         "{\"type\": \"minimum\", \"inputs\": [\"a\", \"b\"]}, {\"type\": \"dense\"}]}",
         "layers[2] minimum: inputs 'a' (3,) and 'b' (2,) differ in shape (it needs equal shapes)"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}, {\"type\": \"minimum\"}, "
         "{\"type\": \"dense\"}]}",
         "layers[1] minimum: takes 2 or more inputs, 1 given"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    /* the C API */
    kn_model *c = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){4}, 1, &c);
    kn_model_add_dense(c, 3, KN_LINEAR);
    CHECK(kn_model_add_activation_alpha(c, KN_LEAKY_RELU, -0.5f) == KN_ERR_INVALID_ARGUMENT &&
              strstr(kn_last_error(ctx), "layers[1] activation: alpha -0.5"),
          "a negative alpha: %s", kn_last_error(ctx));
    CHECK(kn_model_add_activation_alpha(c, KN_LEAKY_RELU, 0.25f) == KN_OK, "alpha 0.25: %s", kn_last_error(ctx));
    kn_model_free(c);
    kn_ctx_free(ctx);
    return checks_done("activation layer");
}
