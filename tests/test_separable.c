/* test_separable.c — Keras's DepthwiseConv2D and SeparableConv2D as model layers
 * (depthwise_conv2d, separable_conv2d; kn_model_add_depthwise_conv2d, _separable_conv2d),
 * and their 1-D forms over sequences (DepthwiseConv1D, SeparableConv1D: depthwise_conv1d,
 * separable_conv1d):
 *
 * - predictions against a direct convolution computed here from the model's own
 *   parameters (depth_multiplier 1 and 2, 'same' and 'valid', strides, dilation), with the
 *   parameters' Keras names and shapes;
 * - every parameter's gradient against finite differences (model_gradcheck);
 * - models trained on digits as 8x8x1 images, saved and loaded bit for bit, their
 *   descriptions written and read back;
 * - the errors. The op itself is tested in test_depthwise.c. KILN_TEST_DEVICE=cuda runs the
 *   references and gradients there. Run from the source root. */
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
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 17, .device = device}, &ctx);
    return ctx;
}

/* The window geometry of a case. */
typedef struct {
    int H, W, C, K, M, stride, dilation;
    bool same;
    int filters; /* separable: the pointwise outputs; 0: depthwise only */
    bool seq;    /* the 1-D layer over a sequence (W, C) (H 1) */
} geom;

/* input (H, W, C) -> the layer (tanh) -> flatten -> dense 2: predictions against a direct
 * convolution of the layer's parameters, in double. */
static void reference_case(const char *what, geom c) {
    enum { N = 3, OUT = 2 };
    char filters[32] = "", text[768], shape[32];
    if (c.filters) snprintf(filters, sizeof filters, "\"filters\": %d, ", c.filters);
    if (c.seq) c.H = 1, snprintf(shape, sizeof shape, "%d, %d", c.W, c.C);
    else snprintf(shape, sizeof shape, "%d, %d, %d", c.H, c.W, c.C);
    const char *type = c.seq ? (c.filters ? "separable_conv1d" : "depthwise_conv1d")
                             : (c.filters ? "separable_conv2d" : "depthwise_conv2d");
    snprintf(text, sizeof text,
             "{\"input_shape\": [%s], \"layers\": [{\"type\": \"%s\", %s\"kernel_size\": %d, \"strides\": "
             "%d, \"dilation_rate\": %d, \"padding\": \"%s\", \"depth_multiplier\": %d, \"activation\": \"tanh\", "
             "\"bias_initializer\": \"ones\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": %d}], "
             "\"loss\": \"mse\"}",
             shape, type, filters, c.K, c.stride, c.dilation, c.same ? "same" : "valid", c.M, OUT);
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    if (!m) {
        kn_ctx_free(ctx);
        return;
    }
    char name[64];
    int64_t ndk = 0, npk = 0, nb = 0, nk2 = 0;
    snprintf(name, sizeof name, "%s_0/depthwise_kernel", type);
    const float *dk = kn_model_param(m, name, &ndk);
    snprintf(name, sizeof name, "%s_0/pointwise_kernel", type);
    const float *pk = c.filters ? kn_model_param(m, name, &npk) : NULL;
    snprintf(name, sizeof name, "%s_0/bias", type);
    const float *b = kn_model_param(m, name, &nb);
    const float *k2 = kn_model_param(m, "dense_0/kernel", &nk2), *b2 = kn_model_param(m, "dense_0/bias", NULL);
    int CM = c.C * c.M, F = c.filters ? c.filters : CM;
    int pad_t = 0, pad_l, KH = c.seq ? 1 : c.K; /* (TensorFlow's 'same': the odd row and column at the bottom and right) */
    int OH = c.seq ? 1 : window_axis(c.H, c.K, c.stride, c.dilation, c.same, &pad_t);
    int OW = window_axis(c.W, c.K, c.stride, c.dilation, c.same, &pad_l);
    CHECK(dk && b && k2 && b2 && ndk == KH * c.K * CM && nb == F && (!c.filters || npk == CM * F) &&
          nk2 == (int64_t)OH * OW * F * OUT, "%s: parameters %lld %lld %lld %lld", what, (long long)ndk,
          (long long)npk, (long long)nb, (long long)nk2);
    if (!dk || !b || !k2 || !b2 || (c.filters && !pk)) goto done;
    float x[N * 8 * 8 * 6], y[N * OUT];
    for (int i = 0; i < N * c.H * c.W * c.C; i++) x[i] = (float)sin(0.61 * i + 0.3);
    kn_status st = kn_model_predict(m, x, N, y);
    CHECK(!st, "%s: predict: %s", what, kn_last_error(ctx));
    double worst = 0;
    for (int n = 0; !st && n < N; n++) {
        double out[OUT] = {b2[0], b2[1]};
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double dw[64], v[64];
                for (int q = 0; q < CM; q++) { /* the depthwise product: channel q reads input channel q / M */
                    double s = 0;
                    for (int ky = 0; ky < KH; ky++)
                        for (int kx = 0; kx < c.K; kx++) {
                            int iy = oy * c.stride + ky * c.dilation - pad_t, ix = ox * c.stride + kx * c.dilation - pad_l;
                            if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                            s += x[((n * c.H + iy) * c.W + ix) * c.C + q / c.M] * dk[(ky * c.K + kx) * CM + q];
                        }
                    dw[q] = s;
                }
                for (int f = 0; f < F; f++) {
                    double s = b[f];
                    if (c.filters)
                        for (int q = 0; q < CM; q++) s += dw[q] * pk[q * F + f];
                    else
                        s += dw[f];
                    v[f] = tanh(s);
                }
                for (int f = 0; f < F; f++)
                    for (int o = 0; o < OUT; o++) out[o] += v[f] * k2[((oy * OW + ox) * F + f) * OUT + o];
            }
        for (int o = 0; o < OUT; o++) worst = fmax(worst, fabs(out[o] - y[n * OUT + o]));
    }
    printf("%s: predictions within %.2g of the reference\n", what, worst);
    CHECK(!st && worst < 2e-5, "%s: predictions differ from the reference by %.3g", what, worst);
done:
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void test_graphs(void) {
    reference_case("depthwise 3x3 valid, (6, 5, 3)", (geom){6, 5, 3, 3, 1, 1, 1, false, 0, false});
    reference_case("depthwise 3x3 same stride 2, multiplier 2, (7, 6, 2)", (geom){7, 6, 2, 3, 2, 2, 1, true, 0, false});
    reference_case("depthwise 2x2 same dilation 2, (5, 5, 3)", (geom){5, 5, 3, 2, 1, 1, 2, true, 0, false});
    reference_case("separable 3x3 same, multiplier 2, 4 filters, (6, 6, 3)", (geom){6, 6, 3, 3, 2, 1, 1, true, 4, false});
    reference_case("separable 3x3 valid stride 2, 5 filters, (8, 7, 2)", (geom){8, 7, 2, 3, 1, 2, 1, false, 5, false});
    reference_case("depthwise_conv1d 3 valid, (9, 3)", (geom){1, 9, 3, 3, 1, 1, 1, false, 0, true});
    reference_case("depthwise_conv1d 3 same stride 2, multiplier 2, (8, 2)", (geom){1, 8, 2, 3, 2, 2, 1, true, 0, true});
    reference_case("depthwise_conv1d 2 same dilation 3, (7, 3)", (geom){1, 7, 3, 2, 1, 1, 3, true, 0, true});
    reference_case("separable_conv1d 3 same, multiplier 2, 4 filters, (6, 3)", (geom){1, 6, 3, 3, 2, 1, 1, true, 4, true});
    reference_case("separable_conv1d 5 valid stride 2, 5 filters, (12, 2)", (geom){1, 12, 2, 5, 1, 2, 1, false, 5, true});
    model_gradcheck("depthwise_conv2d (multiplier 2) -> flatten -> dense",
                    "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"depthwise_conv2d\", \"kernel_size\": 3, "
                    "\"depth_multiplier\": 2, \"padding\": \"same\", \"activation\": \"tanh\"}, {\"type\": "
                    "\"flatten\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": "
                    "\"sparse_categorical_crossentropy\"}", 32, 2);
    model_gradcheck("separable_conv2d (l2 both) -> flatten -> dense",
                    "{\"input_shape\": [5, 4, 2], \"layers\": [{\"type\": \"separable_conv2d\", \"filters\": 3, "
                    "\"kernel_size\": 2, \"activation\": \"tanh\", \"depthwise_regularizer\": {\"l2\": 0.01}, "
                    "\"pointwise_regularizer\": {\"l2\": 0.02}}, {\"type\": \"flatten\"}, {\"type\": \"dense\", "
                    "\"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    40, 2);
    model_gradcheck("separable_conv1d (multiplier 2) -> flatten -> dense",
                    "{\"input_shape\": [6, 3], \"layers\": [{\"type\": \"separable_conv1d\", \"filters\": 3, "
                    "\"kernel_size\": 3, \"depth_multiplier\": 2, \"padding\": \"same\", \"activation\": \"tanh\"}, "
                    "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], "
                    "\"loss\": \"sparse_categorical_crossentropy\"}", 18, 2);
}

#define DIGITS_TAIL "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}"

int main(void) {
    int rc = run_on_test_device("test_separable", &device, test_graphs);
    if (rc >= 0) return rc;
    test_graphs();
    digits_case("reshape (8, 8, 1) -> conv2d 8 -> separable_conv2d 16 -> flatten -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
                "{\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3, \"activation\": \"relu\"}, "
                "{\"type\": \"separable_conv2d\", \"filters\": 16, \"kernel_size\": 3, \"padding\": \"same\", "
                "\"activation\": \"relu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10, "
                "\"activation\": \"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.9, 10);
    digits_case("reshape (8, 8, 1) -> depthwise_conv2d x4 -> relu -> flatten -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
                "{\"type\": \"depthwise_conv2d\", \"kernel_size\": 3, \"depth_multiplier\": 4, \"activation\": "
                "\"relu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10, \"activation\": "
                "\"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.85, 10);
    digits_case("8 steps of 8 -> depthwise_conv1d x2 -> separable_conv1d 16 -> flatten -> softmax",
                "{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"DepthwiseConv1D\", \"kernel_size\": 3, "
                "\"depth_multiplier\": 2, \"activation\": \"relu\"}, {\"type\": \"SeparableConv1D\", \"filters\": 16, "
                "\"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"relu\"}, {\"type\": \"flatten\"}, "
                "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.85, 10);

    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"depthwise_conv2d\", \"kernel_size\": 3}, {\"type\": "
         "\"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] depthwise_conv2d: needs an image input (height, width, channels), got (8, 8)"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"separable_conv2d\", \"kernel_size\": 3}, {\"type\": "
         "\"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].filters: missing"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"depthwise_conv2d\"}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].kernel_size: missing"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"depthwise_conv2d\", \"kernel_size\": 3, "
         "\"depth_multiplier\": 0}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].depth_multiplier: 0 is out of range [1, 4096]"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"depthwise_conv2d\", \"kernel_size\": 9}, {\"type\": "
         "\"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] depthwise_conv2d: kernel 9x9 (dilation 1x1) is larger than its input (8, 8, 1)"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"depthwise_conv2d\", \"kernel_size\": 3, "
         "\"filters\": 4}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0]: unknown key 'filters'"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"separable_conv2d\", \"filters\": 2, \"kernel_size\": "
         "3, \"pointwise_initializer\": \"nope\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].pointwise_initializer: unknown initializer 'nope'"},
        {"{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"depthwise_conv1d\", \"kernel_size\": 3}, {\"type\": "
         "\"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] depthwise_conv1d: needs a sequence"},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"separable_conv1d\", \"filters\": 2, \"kernel_size\": "
         "[3, 3]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].kernel_size: expected a whole number or a list of one [n]"},
        {"{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"depthwise_conv1d\", \"kernel_size\": 5}, {\"type\": "
         "\"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] depthwise_conv1d: kernel 5 (dilation 1) is longer than its input (4, 2)"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_ctx_free(ctx);
    return checks_done("separable");
}
