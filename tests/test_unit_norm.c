/* test_unit_norm.c — Keras's UnitNormalization layer (unit_normalization; kn_model_add_unit_norm,
 * the graph op kn_unit_norm): each row of the last axis divided by its L2 norm; and Keras's
 * Dot layer (dot; kn_model_add_dot) of two feature vectors, their inner product or (normalize)
 * their cosine.
 *
 * - predictions against a reference computed here: after a dense layer (features), after a
 *   convolution (each position's channels), and rows of zeros (the 1e-12 floor: zeros out);
 * - every parameter's gradient through it by finite differences (model_gradcheck);
 * - dot against a reference, both ways, and by finite differences;
 * - digits trained through it; the description read back; refusals.
 * (The op's own finite differences are test_gradcheck's, its CUDA kernels test_cuda_ops'.)
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
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 13, .device = device}, &ctx);
    return ctx;
}

/* input (F) -> dense U -> unit_normalization -> the output: against the dense layer's rows
 * over their norms; a row of zeros in (the bias zeros) stays zeros. */
static void dense_case(void) {
    enum { N = 4, F = 5, U = 6 };
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [5], \"layers\": [{\"type\": \"dense\", \"units\": 6}, "
                             "{\"type\": \"UnitNormalization\"}], \"loss\": \"mse\"}");
    float x[N * F], y[N * U];
    for (int i = 0; i < N * F; i++) x[i] = i < F ? 0.0f : (float)sin(1.3 * i);
    kn_status st = m ? kn_model_predict(m, x, N, y) : KN_ERR_INVALID_ARGUMENT;
    const float *k = m ? kn_model_param(m, "dense_0/kernel", NULL) : NULL;
    CHECK(!st && k, "unit_normalization after dense: %s", kn_last_error(ctx));
    double worst = 0;
    for (int n = 0; !st && k && n < N; n++) {
        double z[U], s = 0;
        for (int u = 0; u < U; u++) {
            z[u] = 0;
            for (int f = 0; f < F; f++) z[u] += (double)x[n * F + f] * k[f * U + u];
            s += z[u] * z[u];
        }
        double r = 1 / sqrt(fmax(s, 1e-12));
        for (int u = 0; u < U; u++) worst = fmax(worst, fabs(z[u] * r - y[n * U + u]));
    }
    printf("dense -> unit_normalization (a row of zeros among them) within %.2g of the reference\n", worst);
    CHECK(!st && worst < 1e-6, "unit_normalization: %.3g from the reference", worst);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* input (3, 3, 2) -> conv2d 4 (1x1) -> unit_normalization -> flatten -> the output: each
 * position's 4 channels over their norm. */
static void image_case(void) {
    enum { N = 2, P = 9, C = 2, F = 4 };
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [3, 3, 2], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, "
                             "\"kernel_size\": 1, \"bias_initializer\": \"ones\"}, {\"type\": \"unit_normalization\"}, "
                             "{\"type\": \"flatten\"}], \"loss\": \"mse\"}");
    float x[N * P * C], y[N * P * F];
    for (int i = 0; i < N * P * C; i++) x[i] = (float)cos(0.7 * i);
    kn_status st = m ? kn_model_predict(m, x, N, y) : KN_ERR_INVALID_ARGUMENT;
    const float *k = m ? kn_model_param(m, "conv2d_0/kernel", NULL) : NULL, *b = m ? kn_model_param(m, "conv2d_0/bias", NULL) : NULL;
    CHECK(!st && k && b, "unit_normalization after conv2d: %s", kn_last_error(ctx));
    double worst = 0;
    for (int q = 0; !st && k && b && q < N * P; q++) {
        double z[F], s = 0;
        for (int f = 0; f < F; f++) {
            z[f] = b[f];
            for (int c = 0; c < C; c++) z[f] += (double)x[q * C + c] * k[c * F + f];
            s += z[f] * z[f];
        }
        for (int f = 0; f < F; f++) worst = fmax(worst, fabs(z[f] / sqrt(s) - y[q * F + f]));
    }
    printf("conv2d -> unit_normalization (each position's channels) within %.2g of the reference\n", worst);
    CHECK(!st && worst < 1e-6, "unit_normalization over channels: %.3g from the reference", worst);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* two dense branches of the input -> dot (normalize or not) -> dense 2: against the branches'
 * inner product (cosine) computed here. */
static void dot_case(bool normalize) {
    enum { N = 4, F = 5, U = 3 };
    char text[512];
    snprintf(text, sizeof text, "{\"input_shape\": [5], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 3}, "
             "{\"name\": \"b\", \"type\": \"dense\", \"units\": 3, \"activation\": \"tanh\", \"inputs\": \"input\"}, "
             "{\"type\": \"Dot\", \"axes\": 1, \"normalize\": %s, \"inputs\": [\"a\", \"b\"]}], \"loss\": \"mse\"}",
             normalize ? "true" : "false");
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    float x[N * F], y[N];
    for (int i = 0; i < N * F; i++) x[i] = (float)sin(0.9 * i + 0.4);
    kn_status st = m ? kn_model_predict(m, x, N, y) : KN_ERR_INVALID_ARGUMENT;
    const float *ka = m ? kn_model_param(m, "dense_0/kernel", NULL) : NULL, *kb = m ? kn_model_param(m, "dense_1/kernel", NULL) : NULL;
    CHECK(!st && ka && kb, "dot: %s", kn_last_error(ctx));
    double worst = 0;
    for (int n = 0; !st && ka && kb && n < N; n++) {
        double a[U], b[U], ab = 0, aa = 0, bb = 0;
        for (int u = 0; u < U; u++) {
            a[u] = b[u] = 0;
            for (int f = 0; f < F; f++) a[u] += (double)x[n * F + f] * ka[f * U + u], b[u] += (double)x[n * F + f] * kb[f * U + u];
            b[u] = tanh(b[u]);
            ab += a[u] * b[u], aa += a[u] * a[u], bb += b[u] * b[u];
        }
        double want = normalize ? ab / sqrt(fmax(aa, 1e-12)) / sqrt(fmax(bb, 1e-12)) : ab;
        worst = fmax(worst, fabs(want - y[n]));
    }
    printf("dot%s of two dense branches within %.2g of the reference\n", normalize ? " (normalize: the cosine)" : "", worst);
    CHECK(!st && worst < 1e-6, "dot: %.3g from the reference", worst);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void on_device(void) {
    dot_case(false);
    dot_case(true);
    model_gradcheck("dense branches -> dot normalize -> dense", "{\"input_shape\": [6], \"layers\": [{\"name\": \"a\", "
                    "\"type\": \"dense\", \"units\": 4, \"activation\": \"tanh\"}, {\"name\": \"b\", \"type\": \"dense\", "
                    "\"units\": 4, \"inputs\": \"input\"}, {\"type\": \"dot\", \"normalize\": true, \"inputs\": [\"a\", \"b\"]}, "
                    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    6, 2);
    dense_case();
    image_case();
    model_gradcheck("dense -> unit_normalization -> dense", "{\"input_shape\": [6], \"layers\": [{\"type\": \"dense\", "
                    "\"units\": 4, \"activation\": \"tanh\"}, {\"type\": \"unit_normalization\"}, {\"type\": \"dense\", "
                    "\"units\": 3, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    6, 3);
}

int main(void) {
    int rc = run_on_test_device("test_unit_norm", &device, on_device);
    if (rc >= 0) return rc;
    on_device();
    digits_case("dense 32 -> unit_normalization -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"dense\", \"units\": 32}, {\"type\": "
                "\"unit_normalization\"}, {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], "
                "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
                KN_PRECISION_FP32, 0.85, 10);
    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}, {\"type\": \"unit_normalization\", "
         "\"axis\": 0}, {\"type\": \"dense\"}]}",
         "layers[1].axis: only the last axis (-1, or 1 here) is supported"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}, {\"type\": \"unit_normalization\", "
         "\"epsilon\": 0.1}, {\"type\": \"dense\"}]}",
         "layers[1]: unknown key 'epsilon'"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}, {\"type\": \"unit_normalization\", "
         "\"axis\": -1}, {\"type\": \"dense\", \"units\": 2}]}",
         NULL},
        {"{\"input_shape\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 3}, {\"name\": \"b\", "
         "\"type\": \"dense\", \"units\": 2, \"inputs\": \"input\"}, {\"type\": \"dot\", \"inputs\": [\"a\", \"b\"]}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[2] dot: inputs (3,) and (2,) must be feature vectors of the same size"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}, {\"type\": \"dot\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[1] dot: takes exactly 2 inputs, 1 given"},
        {"{\"input_shape\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 3}, {\"type\": \"dot\", "
         "\"axes\": [1, 2], \"inputs\": [\"a\", \"a\"]}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[1].axes: only the features' axis"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    description_round_trip(ctx, "{\"input_shape\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 3}, "
                                "{\"name\": \"b\", \"type\": \"dense\", \"units\": 3, \"inputs\": \"input\"}, "
                                "{\"type\": \"dot\", \"normalize\": true, \"inputs\": [\"a\", \"b\"]}, "
                                "{\"type\": \"dense\", \"units\": 2}]}",
                           (const char *const[]){"\"type\":\"dot\"", "\"normalize\":true", NULL});
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 3}, 2, "x");
    CHECK(kn_unit_norm(g, x, 0.0f) == NULL && strstr(kn_last_error(ctx), "unit_norm: epsilon 0 must be positive"),
          "kn_unit_norm epsilon 0: %s", kn_last_error(ctx));
    kn_graph_free(g);
    kn_ctx_free(ctx);
    return checks_done("unit_norm");
}
