/* test_prelu.c — Keras's PReLU (type prelu, kn_model_add_prelu): x where x > 0, alpha x
 * elsewhere, alpha learned per element or per channel; and Keras's Rescaling (type
 * rescaling: x scale + offset):
 *
 * - predictions against a reference computed here from the model's own parameters (alpha
 *   set to distinct values), per element over a flat and a sequence input, per channel over
 *   an image's channels, with alpha's Keras shapes;
 * - every parameter's gradient (alpha's included) against finite differences;
 * - a model trained on digits, saved and loaded bit for bit, its description written and
 *   read back;
 * - the errors. KILN_TEST_DEVICE=cuda runs the references and gradients there. Run from the
 *   source root. */
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

/* input (S positions of C values) -> prelu -> flatten -> dense 2 (linear): the prelu's output
 * recomputed from alpha (set here: 0.1 + 0.07 k, distinct per alpha) and the dense layer's
 * parameters. alpha_shape: Keras's shape of alpha, as the file names it. */
static void reference_case(const char *what, const char *input_shape, const char *prelu, int64_t S, int64_t C,
                           bool per_channel, const int64_t *alpha_shape, int alpha_ndim) {
    enum { N = 4, OUT = 2 };
    char text[512];
    snprintf(text, sizeof text,
             "{\"input_shape\": %s, \"layers\": [%s, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": %d}], "
             "\"loss\": \"mse\"}",
             input_shape, prelu, OUT);
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    if (!m) {
        kn_ctx_free(ctx);
        return;
    }
    int64_t na = 0, nk = 0, nb = 0, want = per_channel ? C : S * C;
    float *alpha = kn_model_param(m, "prelu_0/alpha", &na);
    const float *k = kn_model_param(m, "dense_0/kernel", &nk), *b = kn_model_param(m, "dense_0/bias", &nb);
    CHECK(alpha && k && b && na == want && nk == S * C * OUT, "%s: alpha %lld values (want %lld)", what, (long long)na,
          (long long)want);
    kn__param_spec specs[8];
    size_t total = 0;
    int ns = kn__model_param_specs(m, specs, 8, &total);
    bool shape_ok = ns >= 1 && specs[0].ndim == alpha_ndim && strcmp(specs[0].name, "prelu_0/alpha") == 0;
    for (int d = 0; shape_ok && d < alpha_ndim; d++) shape_ok = specs[0].shape[d] == alpha_shape[d];
    CHECK(shape_ok, "%s: alpha's shape is not Keras's", what);
    if (!alpha || !k || !b || na != want) goto done;
    for (int64_t a = 0; a < na; a++) alpha[a] = 0.1f + 0.07f * (float)a;
    float x[N * 64], y[N * OUT];
    for (int64_t i = 0; i < N * S * C; i++) x[i] = (float)sin(0.53 * (double)i + 0.2) * 2.0f;
    kn_status st = kn_model_predict(m, x, N, y);
    CHECK(!st, "%s: predict: %s", what, kn_last_error(ctx));
    double worst = 0;
    for (int64_t n = 0; !st && n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double v = b[o];
            for (int64_t i = 0; i < S * C; i++) {
                double xv = x[n * S * C + i], av = alpha[per_channel ? i % C : i];
                v += (xv > 0 ? xv : av * xv) * k[i * OUT + o];
            }
            worst = fmax(worst, fabs(v - y[n * OUT + o]));
        }
    printf("%s: predictions within %.2g of the reference\n", what, worst);
    CHECK(!st && worst < 1e-5, "%s: predictions differ from the reference by %.3g", what, worst);
done:
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* rescaling(1/255, -0.5) -> dense 3 against the product computed here */
static void rescaling_case(void) {
    enum { N = 3, F = 5, OUT = 3 };
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [5], \"layers\": [{\"type\": \"rescaling\", \"scale\": "
                             "0.00392156862745098, \"offset\": -0.5}, {\"type\": \"dense\", \"units\": 3}], "
                             "\"loss\": \"mse\"}");
    int64_t nk = 0;
    const float *k = m ? kn_model_param(m, "dense_0/kernel", &nk) : NULL, *b = m ? kn_model_param(m, "dense_0/bias", NULL) : NULL;
    float x[N * F], y[N * OUT];
    for (int i = 0; i < N * F; i++) x[i] = (float)((i * 37) % 256);
    kn_status st = k && b && nk == F * OUT ? kn_model_predict(m, x, N, y) : KN_ERR_STATE;
    double worst = st ? INFINITY : 0;
    for (int n = 0; !st && n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double v = b[o];
            for (int f = 0; f < F; f++) v += ((double)x[n * F + f] / 255.0 - 0.5) * k[f * OUT + o];
            worst = fmax(worst, fabs(v - y[n * OUT + o]));
        }
    printf("rescaling 1/255, offset -0.5 -> dense: predictions within %.2g of the reference\n", worst);
    CHECK(worst < 1e-5, "rescaling: predictions differ from the reference by %.3g (%s)", worst, kn_last_error(ctx));
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void test_graphs(void) {
    rescaling_case();
    reference_case("dense input (12) -> prelu (an alpha per element)", "[12]", "{\"type\": \"prelu\"}", 1, 12, false,
                   (int64_t[]){12}, 1);
    reference_case("sequence (5, 3) -> prelu (per element)", "[5, 3]", "{\"type\": \"prelu\"}", 5, 3, false,
                   (int64_t[]){5, 3}, 2);
    reference_case("image (3, 2, 4) -> prelu shared_axes [1, 2] (per channel)", "[3, 2, 4]",
                   "{\"type\": \"prelu\", \"shared_axes\": [1, 2]}", 6, 4, true, (int64_t[]){1, 1, 4}, 3);
    reference_case("sequence (6, 2) -> prelu shared_axes [1] (per channel)", "[6, 2]",
                   "{\"type\": \"prelu\", \"shared_axes\": [1]}", 6, 2, true, (int64_t[]){1, 2}, 2);
    model_gradcheck("dense -> prelu (alpha 0.25) -> dense", "{\"input_shape\": [5], \"layers\": [{\"type\": \"dense\", "
                    "\"units\": 6}, {\"type\": \"prelu\", \"alpha_initializer\": {\"class_name\": \"Constant\", "
                    "\"config\": {\"value\": 0.25}}}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}], "
                    "\"loss\": \"sparse_categorical_crossentropy\"}", 5, 3);
    model_gradcheck("conv2d -> prelu per channel (alpha 0.3) -> flatten -> dense",
                    "{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": "
                    "3}, {\"type\": \"prelu\", \"shared_axes\": [1, 2], \"alpha_initializer\": {\"class_name\": "
                    "\"Constant\", \"config\": {\"value\": 0.3}}}, {\"type\": \"flatten\"}, {\"type\": \"dense\", "
                    "\"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}", 16, 2);
}

#define DIGITS_TAIL "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.005}}"

int main(void) {
    int rc = run_on_test_device("test_prelu", &device, test_graphs);
    if (rc >= 0) return rc;
    test_graphs();
    digits_case("dense 64 -> prelu -> dense 32 -> prelu (alpha 0.25) -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"dense\", \"units\": 64}, {\"type\": \"prelu\"}, "
                "{\"type\": \"dense\", \"units\": 32}, {\"type\": \"prelu\", \"alpha_initializer\": {\"class_name\": "
                "\"Constant\", \"config\": {\"value\": 0.25}}}, {\"type\": \"dense\", \"units\": 10, \"activation\": "
                "\"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.9, 20);
    digits_case("reshape (8, 8, 1) -> conv2d 8 -> prelu per channel -> flatten -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
                "{\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3}, {\"type\": \"prelu\", \"shared_axes\": "
                "[1, 2]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10, \"activation\": "
                "\"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.9, 10);

    digits_case("rescaling (x 2 - 1) -> dense 32 relu -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"rescaling\", \"scale\": 2, \"offset\": -1}, "
                "{\"type\": \"dense\", \"units\": 32, \"activation\": \"relu\"}, {\"type\": \"dense\", "
                "\"units\": 10, \"activation\": \"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.85, 20);

    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"rescaling\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].scale: missing"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"rescaling\", \"scale\": \"1/255\"}, {\"type\": "
         "\"dense\", \"units\": 2}]}",
         "layers[0].scale: expected a number"},
        {"{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"prelu\", \"shared_axes\": [1]}, {\"type\": "
         "\"dense\", \"units\": 2}]}",
         "layers[0].shared_axes: expected null (an alpha per element) or every axis but the channels"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"prelu\", \"shared_axes\": [1]}, {\"type\": \"dense\", "
         "\"units\": 2}]}",
         "layers[0].shared_axes: expected null"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"prelu\", \"alpha_regularizer\": {\"l2\": 0.1}}, {\"type\": "
         "\"dense\", \"units\": 2}]}",
         "layers[0].alpha_regularizer: only null is supported"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"prelu\", \"alpha_initializer\": \"orthogonal\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].alpha_initializer: orthogonal is not offered for alpha"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"prelu\", \"alpha\": 0.2}, {\"type\": \"dense\", "
         "\"units\": 2}]}",
         "layers[0]: unknown key 'alpha'"},
        {"{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"prelu\", \"shared_axes\": [1, 2], "
         "\"alpha_constraint\": null}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         NULL},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_ctx_free(ctx);
    return checks_done("prelu");
}
