/* test_grouped_conv.c — conv2d with groups (Keras's Conv2D(groups=G); kn_conv2d_opts.groups),
 * and conv1d with groups (Keras's Conv1D(groups=G); kn_conv1d_opts.groups):
 *
 * - predictions against a direct grouped convolution computed here, in double, from the
 *   model's own parameters (2, 3 and 4 groups; 'same' and 'valid', strides, dilation; the
 *   kernel Keras's (KH, KW, C/G, F));
 * - every parameter's gradient against finite differences (model_gradcheck);
 * - the description written and read back keeps groups; trained on digits, saved and loaded,
 *   the same predictions; trained on digits in bf16 and fp16 mixed precision;
 * - the errors: groups that do not divide the channels or the filters. KILN_TEST_DEVICE=cuda
 *   runs it on the GPU. Run from the source root. */
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
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 23, .device = device}, &ctx);
    return ctx;
}

typedef struct {
    int H, W, C, F, G, K, stride, dilation;
    bool same;
    bool seq; /* conv1d over a sequence (W, C) (H 1) */
} geom;

/* input (H, W, C) -> conv2d (groups G, tanh) -> flatten -> dense 2, against a direct grouped
 * convolution of the layer's parameters. */
static void reference_case(const char *what, geom c) {
    enum { N = 3, OUT = 2 };
    char text[768], shape[32];
    if (c.seq) c.H = 1, snprintf(shape, sizeof shape, "%d, %d", c.W, c.C);
    else snprintf(shape, sizeof shape, "%d, %d, %d", c.H, c.W, c.C);
    snprintf(text, sizeof text,
             "{\"input_shape\": [%s], \"layers\": [{\"type\": \"%s\", \"filters\": %d, \"groups\": %d, "
             "\"kernel_size\": %d, \"strides\": %d, \"dilation_rate\": %d, \"padding\": \"%s\", \"activation\": "
             "\"tanh\", \"bias_initializer\": \"ones\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": %d}], "
             "\"loss\": \"mse\"}",
             shape, c.seq ? "conv1d" : "conv2d", c.F, c.G, c.K, c.stride, c.dilation, c.same ? "same" : "valid", OUT);
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    if (!m) {
        kn_ctx_free(ctx);
        return;
    }
    int64_t nk = 0, nb = 0, nk2 = 0;
    const float *k = kn_model_param(m, c.seq ? "conv1d_0/kernel" : "conv2d_0/kernel", &nk);
    const float *b = kn_model_param(m, c.seq ? "conv1d_0/bias" : "conv2d_0/bias", &nb);
    const float *k2 = kn_model_param(m, "dense_0/kernel", &nk2), *b2 = kn_model_param(m, "dense_0/bias", NULL);
    int cg = c.C / c.G, fg = c.F / c.G;
    int pad_t = 0, pad_l, KH = c.seq ? 1 : c.K; /* (TensorFlow's 'same': the odd row and column at the bottom and right) */
    int OH = c.seq ? 1 : window_axis(c.H, c.K, c.stride, c.dilation, c.same, &pad_t);
    int OW = window_axis(c.W, c.K, c.stride, c.dilation, c.same, &pad_l);
    CHECK(k && b && k2 && b2 && nk == (int64_t)KH * c.K * cg * c.F && nb == c.F && nk2 == (int64_t)OH * OW * c.F * OUT,
          "%s: parameters %lld %lld %lld", what, (long long)nk, (long long)nb, (long long)nk2);
    if (!k || !b || !k2 || !b2 || nk != (int64_t)KH * c.K * cg * c.F) goto done;
    float x[N * 9 * 9 * 8], y[N * OUT];
    for (int i = 0; i < N * c.H * c.W * c.C; i++) x[i] = (float)sin(0.61 * i + 0.3);
    kn_status st = kn_model_predict(m, x, N, y);
    CHECK(!st, "%s: predict: %s", what, kn_last_error(ctx));
    double worst = 0;
    for (int n = 0; !st && n < N; n++) {
        double out[OUT] = {b2[0], b2[1]};
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int f = 0; f < c.F; f++) {
                    int grp = f / fg; /* filter f reads channels [grp cg, (grp + 1) cg) */
                    double s = b[f];
                    for (int ky = 0; ky < KH; ky++)
                        for (int kx = 0; kx < c.K; kx++) {
                            int iy = oy * c.stride + ky * c.dilation - pad_t, ix = ox * c.stride + kx * c.dilation - pad_l;
                            if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                            for (int q = 0; q < cg; q++)
                                s += x[((n * c.H + iy) * c.W + ix) * c.C + grp * cg + q] *
                                     k[((ky * c.K + kx) * cg + q) * c.F + f];
                        }
                    double v = tanh(s);
                    for (int o = 0; o < OUT; o++) out[o] += v * k2[((oy * OW + ox) * c.F + f) * OUT + o];
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
    reference_case("2 groups 3x3 valid, (6, 5, 4) -> 6", (geom){6, 5, 4, 6, 2, 3, 1, 1, false, false});
    reference_case("4 groups 3x3 same stride 2, (7, 6, 8) -> 4", (geom){7, 6, 8, 4, 4, 3, 2, 1, true, false});
    reference_case("3 groups 2x2 same dilation 2, (5, 5, 6) -> 9", (geom){5, 5, 6, 9, 3, 2, 1, 2, true, false});
    reference_case("8 groups 1x1, (4, 4, 8) -> 8", (geom){4, 4, 8, 8, 8, 1, 1, 1, false, false});
    reference_case("conv1d 2 groups 3 valid, (9, 4) -> 6", (geom){1, 9, 4, 6, 2, 3, 1, 1, false, true});
    reference_case("conv1d 4 groups 3 same stride 2, (8, 8) -> 4", (geom){1, 8, 8, 4, 4, 3, 2, 1, true, true});
    reference_case("conv1d 3 groups 2 same dilation 2, (7, 6) -> 9", (geom){1, 7, 6, 9, 3, 2, 1, 2, true, true});
    reference_case("5 groups 3x3 valid (an odd count: the concat tree's carry), (6, 6, 5) -> 10",
                   (geom){6, 6, 5, 10, 5, 3, 1, 1, false, false});
    model_gradcheck("conv2d groups 2 -> flatten -> dense",
                    "{\"input_shape\": [4, 4, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"groups\": 2, "
                    "\"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"tanh\", \"kernel_regularizer\": {\"l2\": "
                    "0.01}}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], "
                    "\"loss\": \"sparse_categorical_crossentropy\"}",
                    64, 2);
    model_gradcheck("conv2d groups 3 stride 2 -> flatten -> dense",
                    "{\"input_shape\": [5, 4, 3], \"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"groups\": 3, "
                    "\"kernel_size\": 2, \"strides\": 2, \"activation\": \"tanh\"}, {\"type\": \"flatten\"}, {\"type\": "
                    "\"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    60, 2);
    model_gradcheck("conv1d groups 2 causal -> flatten -> dense",
                    "{\"input_shape\": [6, 4], \"layers\": [{\"type\": \"conv1d\", \"filters\": 4, \"groups\": 2, "
                    "\"kernel_size\": 3, \"padding\": \"causal\", \"activation\": \"tanh\"}, {\"type\": \"flatten\"}, "
                    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    24, 2);
}

int main(void) {
    int rc = run_on_test_device("test_grouped_conv", &device, test_graphs);
    if (rc >= 0) return rc;
    test_graphs();
    digits_case("reshape (8, 8, 1) -> conv2d 8 -> conv2d 16 groups 4 -> flatten -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
                "{\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3, \"activation\": \"relu\"}, "
                "{\"type\": \"conv2d\", \"filters\": 16, \"groups\": 4, \"kernel_size\": 3, \"padding\": \"same\", "
                "\"activation\": \"relu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10, "
                "\"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": "
                "{\"type\": \"adam\", \"learning_rate\": 0.01}}",
                KN_PRECISION_FP32, 0.85, 10);
    /* mixed precision: the images between the layers stored half, widened as the windows
     * are gathered; 8 groups of 4 filters, two column blocks of 4 groups */
    static const char *mixed =
        "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
        "{\"type\": \"conv2d\", \"filters\": 16, \"kernel_size\": 3, \"activation\": \"relu\"}, "
        "{\"type\": \"conv2d\", \"filters\": 32, \"groups\": 8, \"kernel_size\": 3, \"padding\": \"same\", "
        "\"activation\": \"relu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10, "
        "\"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": "
        "{\"type\": \"adam\", \"learning_rate\": 0.01}}";
    digits_case("conv2d 16 -> conv2d 32 groups 8 (bf16)", mixed, KN_PRECISION_BF16, 0.85, 10);
    digits_case("conv2d 16 -> conv2d 32 groups 8 (fp16)", mixed, KN_PRECISION_FP16, 0.85, 10);
    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [6, 6, 6], \"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"groups\": 4, "
         "\"kernel_size\": 3}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] conv2d: groups 4 must divide both the input's 6 channels and the 8 filters"},
        {"{\"input_shape\": [6, 6, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"groups\": 4, "
         "\"kernel_size\": 3}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] conv2d: groups 4 must divide both the input's 4 channels and the 6 filters"},
        {"{\"input_shape\": [6, 6, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"groups\": 0, "
         "\"kernel_size\": 3}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].groups: 0 is out of range [1, 4096]"},
        {"{\"input_shape\": [6, 6], \"layers\": [{\"type\": \"conv1d\", \"filters\": 4, \"groups\": 4, "
         "\"kernel_size\": 3}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] conv1d: groups 4 must divide both the input's 6 channels and the 4 filters"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_ctx_free(ctx);
    return checks_done("grouped conv");
}
