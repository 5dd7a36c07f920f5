/* test_broadcast_merge.c — merge layers over inputs that broadcast (Keras's Multiply of an
 * image (H, W, C) by squeeze-and-excitation gates (1, 1, C), or by a map (H, W, 1); the
 * graph's per-sample broadcasts, graph/ops_bcast.c):
 *
 * - predictions against a reference computed here from the inputs and the layer's
 *   parameters: multiply by the channels' means, by a map, add, subtract either way round,
 *   average of three;
 * - every parameter's gradient by finite differences (model_gradcheck), for the gates and
 *   for the map;
 * - a squeeze-and-excitation CNN trained on digits, saved and loaded;
 * - the errors: maximum of unequal shapes, inputs that do not broadcast.
 * KILN_TEST_DEVICE=cuda runs the first two on the GPU. Run from the source root. */
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
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 5, .device = device}, &ctx);
    return ctx;
}

enum { N = 3, H = 2, W = 3, C = 4, HWC = H * W * C };

/* The model's flattened output for N inputs x (N, H, W, C); false when it fails. */
static bool predict(const char *what, const char *text, const float *x, float *y, kn_ctx **ctx_out, kn_model **m_out) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    kn_status st = m ? kn_model_predict(m, x, N, y) : KN_ERR_INVALID_ARGUMENT;
    CHECK(!st, "%s: predict: %s", what, kn_last_error(ctx));
    *ctx_out = ctx;
    *m_out = m;
    return !st;
}

static void compare(const char *what, const float *got, const double *want, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - want[i]));
    printf("%-56s within %.2g of the reference\n", what, worst);
    CHECK(worst < 1e-5, "%s: differs from the reference by %.3g", what, worst);
}

/* The merge cases: f = a 1x1 convolution of the input (C filters, the model's parameters
 * need a layer that has some), its gates g (1, 1, C) = the mean of f over (H, W), a map
 * m (H, W, 1) = a 1x1 convolution of f to one channel; then f * g, f - g, g - f, m * f,
 * m + f and the average of m, f and g. */
enum { TIMES_GATES, MINUS_GATES, GATES_MINUS, MAP_TIMES, MAP_PLUS, AVERAGE3, CASES };

static const char *case_text(int v, char *text, size_t size) {
    static const char *const merges[CASES] = {"[\"features\", \"gates\"]", "[\"features\", \"gates\"]",
                                              "[\"gates\", \"features\"]", "[\"map\", \"features\"]",
                                              "[\"map\", \"features\"]", "[\"map\", \"features\", \"gates\"]"};
    static const char *const kinds[CASES] = {"multiply", "subtract", "subtract", "multiply", "add", "average"};
    bool gates = v != MAP_TIMES && v != MAP_PLUS, map = v >= MAP_TIMES;
    snprintf(text, size,
             "{\"input_shape\": [%d, %d, %d], \"layers\": ["
             "{\"name\": \"features\", \"type\": \"conv2d\", \"filters\": %d, \"kernel_size\": 1, "
             "\"bias_initializer\": \"ones\"},"
             "%s%s"
             "{\"type\": \"%s\", \"inputs\": %s},"
             "{\"type\": \"flatten\"}], \"loss\": \"mse\"}",
             H, W, C, C,
             gates ? "{\"type\": \"global_average_pool2d\", \"inputs\": \"features\"},"
                     "{\"name\": \"gates\", \"type\": \"reshape\", \"target_shape\": [1, 1, 4]}," : "",
             map ? "{\"name\": \"map\", \"type\": \"conv2d\", \"filters\": 1, \"kernel_size\": 1, "
                   "\"bias_initializer\": \"ones\", \"inputs\": \"features\"}," : "",
             kinds[v], merges[v]);
    return text;
}

static void merge_cases(const float *x) {
    static const char *const names[CASES] = {
        "image (H, W, C) times (1, 1, C) gates", "image minus (1, 1, C) gates", "(1, 1, C) gates minus the image",
        "(H, W, 1) map times the image",         "(H, W, 1) map plus the image",
        "average of a map, the image and (1, 1, C) gates"};
    for (int v = 0; v < CASES; v++) {
        char text[1536];
        kn_ctx *ctx;
        kn_model *m;
        float y[N * HWC];
        double want[N * HWC], f[HWC];
        if (!predict(names[v], case_text(v, text, sizeof text), x, y, &ctx, &m)) goto done;
        const float *k = kn_model_param(m, "conv2d_0/kernel", NULL), *b = kn_model_param(m, "conv2d_0/bias", NULL);
        const float *k1 = kn_model_param(m, "conv2d_1/kernel", NULL), *b1 = kn_model_param(m, "conv2d_1/bias", NULL);
        bool map = v >= MAP_TIMES;
        CHECK(k && b && (!map || (k1 && b1)), "%s: the parameters", names[v]);
        if (!k || !b || (map && (!k1 || !b1))) goto done;
        for (int n = 0; n < N; n++) {
            for (int p = 0; p < H * W; p++) /* f = the features of sample n */
                for (int o = 0; o < C; o++) {
                    double s = b[o];
                    for (int c = 0; c < C; c++) s += (double)x[n * HWC + p * C + c] * k[c * C + o];
                    f[p * C + o] = s;
                }
            for (int p = 0; p < H * W; p++) {
                double mp = map ? b1[0] : 0;
                for (int c = 0; map && c < C; c++) mp += f[p * C + c] * k1[c];
                for (int c = 0; c < C; c++) {
                    double g = 0, a = f[p * C + c], *out = &want[n * HWC + p * C + c];
                    for (int q = 0; q < H * W; q++) g += f[q * C + c];
                    g /= H * W;
                    switch (v) {
                    case TIMES_GATES: *out = a * g; break;
                    case MINUS_GATES: *out = a - g; break;
                    case GATES_MINUS: *out = g - a; break;
                    case MAP_TIMES: *out = mp * a; break;
                    case MAP_PLUS: *out = mp + a; break;
                    default: *out = (mp + a + g) / 3; break;
                    }
                }
            }
        }
        compare(names[v], y, want, N * HWC);
    done:
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
}

/* image -> conv2d 4 (tanh) -> squeeze-and-excitation (pool, dense 2 relu, dense 4 sigmoid,
 * reshape (1, 1, 4), multiply) -> flatten -> dense 2 softmax; and a map's multiply */
static const char *se_model(int classes, int hw, int channels, int filters) {
    static char text[1536];
    snprintf(text, sizeof text,
             "{\"input_shape\": [%d, %d, %d], \"layers\": ["
             "{\"name\": \"features\", \"type\": \"conv2d\", \"filters\": %d, \"kernel_size\": 3, \"padding\": \"same\", "
             "\"activation\": \"tanh\"},"
             "{\"type\": \"global_average_pool2d\"},"
             "{\"type\": \"dense\", \"units\": 2, \"activation\": \"relu\", \"bias_initializer\": \"ones\"},"
             "{\"type\": \"dense\", \"units\": %d, \"activation\": \"sigmoid\"},"
             "{\"name\": \"gates\", \"type\": \"reshape\", \"target_shape\": [1, 1, %d]},"
             "{\"name\": \"excited\", \"type\": \"multiply\", \"inputs\": [\"features\", \"gates\"]},"
             "{\"name\": \"map\", \"type\": \"conv2d\", \"filters\": 1, \"kernel_size\": 1, \"activation\": \"sigmoid\"},"
             "{\"type\": \"multiply\", \"inputs\": [\"map\", \"excited\"]},"
             "{\"type\": \"flatten\"},"
             "{\"type\": \"dense\", \"units\": %d, \"activation\": \"softmax\"}], "
             "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
             hw, hw, channels, filters, filters, filters, classes);
    return text;
}

static void test_models(void) {
    float x[N * HWC];
    for (int i = 0; i < N * HWC; i++) x[i] = (float)sin(0.37 * i + 0.2);
    merge_cases(x);
    model_gradcheck("squeeze-and-excitation and a map", se_model(2, 4, 3, 4), 4 * 4 * 3, 2);
}

int main(void) {
    int rc = run_on_test_device("test_broadcast_merge", &device, test_models);
    if (rc >= 0) return rc;
    test_models();
    /* the digits are 64 values: a reshape to 8x8x1 in front */
    char digits[2048];
    const char *se = se_model(10, 8, 1, 16), *at = strstr(se, "\"layers\": [");
    snprintf(digits, sizeof digits, "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": "
             "[8, 8, 1]}, %s", at ? at + strlen("\"layers\": [") : "");
    digits_case("squeeze-and-excitation CNN", digits, KN_PRECISION_FP32, 0.85, 10);
    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [4, 4, 3], \"layers\": [{\"type\": \"global_average_pool2d\", \"inputs\": \"input\"}, "
         "{\"name\": \"g\", \"type\": \"reshape\", \"target_shape\": [1, 1, 3]}, {\"type\": \"maximum\", \"inputs\": "
         "[\"input\", \"g\"]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[2] maximum: inputs 'input' (4, 4, 3) and 'g' (1, 1, 3) differ in shape (it needs equal shapes)"},
        {"{\"input_shape\": [4, 4, 3], \"layers\": [{\"type\": \"global_average_pool2d\", \"inputs\": \"input\"}, "
         "{\"name\": \"g\", \"type\": \"reshape\", \"target_shape\": [1, 3, 1]}, {\"type\": \"multiply\", \"inputs\": "
         "[\"input\", \"g\"]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[2] multiply: inputs 'input' (4, 4, 3) and 'g' (1, 3, 1) differ in shape (it needs equal shapes, or one "
         "broadcast over the other"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_ctx_free(ctx);
    return checks_done("broadcast merge");
}
