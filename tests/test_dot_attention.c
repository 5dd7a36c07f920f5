/* test_dot_attention.c — Keras's Attention layer (attention; kn_model_add_dot_attention):
 * dot-product attention without projections, softmax(q k^T [* scale]) v.
 *
 * - predictions against a reference computed here from the layers before it (query and
 *   value, or query, value and key, made by 1x1 conv1d projections), with and without
 *   use_scale (the scale set to 0.7), causal or not;
 * - masks: an embedding's mask_zero carried through it, so the padding's embedding row
 *   changes nothing;
 * - every parameter's gradient by finite differences (model_gradcheck), scale included;
 * - digits as 8 steps of 8 trained through it; descriptions read back; refusals.
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
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 21, .device = device}, &ctx);
    return ctx;
}

enum { N = 3, T = 5, F = 4, D = 3, DV = 2, OUT = 2 };

/* y (T, cols) = x (T, F) kernel (F, cols) + bias (a 1x1 conv1d's parameters), in double. */
static void project(const float *x, const float *k, const float *b, int cols, double *y) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < cols; c++) {
            double s = b[c];
            for (int f = 0; f < F; f++) s += (double)x[t * F + f] * k[f * cols + c];
            y[t * cols + c] = s;
        }
}

/* input (T, F) -> q = conv1d D (k 1), v = conv1d DV, [key = conv1d D] -> attention -> flatten
 * -> dense OUT: against the reference. */
static void reference_case(bool use_scale, bool causal, bool key) {
    char text[1024], what[96], key_layer[160] = "";
    snprintf(what, sizeof what, "attention%s%s%s", use_scale ? " use_scale" : "", causal ? " causal" : "",
             key ? " (query, value, key)" : " (query, value)");
    if (key)
        snprintf(key_layer, sizeof key_layer,
                 "{\"name\": \"k\", \"type\": \"conv1d\", \"filters\": %d, \"kernel_size\": 1, \"inputs\": \"input\"},", D);
    snprintf(text, sizeof text,
             "{\"input_shape\": [%d, %d], \"layers\": ["
             "{\"name\": \"q\", \"type\": \"conv1d\", \"filters\": %d, \"kernel_size\": 1, \"bias_initializer\": \"ones\"},"
             "{\"name\": \"v\", \"type\": \"conv1d\", \"filters\": %d, \"kernel_size\": 1, \"inputs\": \"input\"},%s"
             "{\"type\": \"attention\", \"use_scale\": %s, \"use_causal_mask\": %s, \"inputs\": [\"q\", \"v\"%s]},"
             "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": %d}], \"loss\": \"mse\"}",
             T, F, D, key ? DV : D, key_layer, use_scale ? "true" : "false", causal ? "true" : "false",
             key ? ", \"k\"" : "", OUT);
    int dv = key ? DV : D; /* (without a key the value is the key: the query's channels) */
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    if (!m) {
        kn_ctx_free(ctx);
        return;
    }
    float *scale = use_scale ? kn_model_param(m, "attention_0/scale", NULL) : NULL;
    CHECK(!use_scale || (scale && scale[0] == 1.0f), "%s: the scale starts at 1", what);
    if (scale) scale[0] = 0.7f;
    float x[N * T * F], y[N * OUT];
    for (int i = 0; i < N * T * F; i++) x[i] = (float)sin(0.77 * i + 0.1);
    kn_status st = kn_model_predict(m, x, N, y);
    CHECK(!st, "%s: predict: %s", what, kn_last_error(ctx));
    const float *qk = kn_model_param(m, "conv1d_0/kernel", NULL), *qb = kn_model_param(m, "conv1d_0/bias", NULL);
    const float *vk = kn_model_param(m, "conv1d_1/kernel", NULL), *vb = kn_model_param(m, "conv1d_1/bias", NULL);
    const float *kk = key ? kn_model_param(m, "conv1d_2/kernel", NULL) : NULL;
    const float *kb = key ? kn_model_param(m, "conv1d_2/bias", NULL) : NULL;
    const float *dk = kn_model_param(m, "dense_0/kernel", NULL), *db = kn_model_param(m, "dense_0/bias", NULL);
    CHECK(qk && qb && vk && vb && dk && db && (!key || (kk && kb)), "%s: a parameter is missing", what);
    double worst = 0;
    for (int n = 0; !st && n < N && qk && qb && vk && vb && dk && db && (!key || (kk && kb)); n++) {
        double q[T * D], v[T * D], kr[T * D], a[T * D];
        project(x + n * T * F, qk, qb, D, q);
        project(x + n * T * F, vk, vb, dv, v);
        if (key) project(x + n * T * F, kk, kb, D, kr);
        else memcpy(kr, v, sizeof kr);
        for (int i = 0; i < T; i++) {
            double sc[T], mx = -INFINITY, z = 0;
            int last = causal ? i : T - 1;
            for (int j = 0; j <= last; j++) {
                sc[j] = 0;
                for (int c = 0; c < D; c++) sc[j] += q[i * D + c] * kr[j * D + c];
                if (scale) sc[j] *= 0.7;
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j <= last; j++) z += exp(sc[j] - mx);
            for (int c = 0; c < dv; c++) {
                double acc = 0;
                for (int j = 0; j <= last; j++) acc += exp(sc[j] - mx) / z * v[j * dv + c];
                a[i * dv + c] = acc;
            }
        }
        for (int o = 0; o < OUT; o++) {
            double out = db[o];
            for (int e = 0; e < T * dv; e++) out += a[e] * dk[e * OUT + o];
            worst = fmax(worst, fabs(out - y[n * OUT + o]));
        }
    }
    printf("%-48s within %.2g of the reference\n", what, worst);
    CHECK(!st && worst < 2e-5, "%s: differs from the reference by %.3g", what, worst);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* tokens (T) -> embedding with mask_zero -> attention to itself -> masked mean -> dense: the
 * padding's row of the table (token 0) changes no prediction, the mask keeping it out of the
 * keys and the mean. */
static void mask_case(void) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [6], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 7, "
                             "\"output_dim\": 4, \"mask_zero\": true}, {\"type\": \"attention\", \"use_scale\": true}, "
                             "{\"type\": \"global_average_pool1d\"}, {\"type\": \"dense\", \"units\": 2}], "
                             "\"loss\": \"mse\"}");
    float tok[2 * 6] = {3, 1, 4, 0, 0, 0, 2, 6, 5, 5, 1, 0}, a[4], b[4];
    int64_t n = 0;
    float *table = m ? kn_model_param(m, "embedding_0/embeddings", &n) : NULL;
    kn_status st = table && n == 28 ? kn_model_predict(m, tok, 2, a) : KN_ERR_INVALID_ARGUMENT;
    if (!st) {
        for (int c = 0; c < 4; c++) table[c] = 5.0f + (float)c; /* token 0's row */
        st = kn_model_predict(m, tok, 2, b);
    }
    CHECK(!st, "mask: %s", kn_last_error(ctx));
    double diff = 0;
    for (int k = 0; k < 4; k++) diff = fmax(diff, fabs(a[k] - b[k]));
    printf("attention under mask_zero: the padding's embedding moves the predictions by %.2g\n", diff);
    CHECK(!st && diff < 1e-6, "the padding changed the predictions by %.3g", diff);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void on_device(void) {
    for (int v = 0; v < 8; v++) reference_case(v & 1, v & 2, v & 4);
    mask_case();
    model_gradcheck("conv1d q, v -> attention use_scale causal -> flatten",
                    "{\"input_shape\": [4, 3], \"layers\": ["
                    "{\"name\": \"q\", \"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 1, \"activation\": \"tanh\"},"
                    "{\"name\": \"v\", \"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 1, \"inputs\": \"input\"},"
                    "{\"name\": \"k\", \"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 1, \"inputs\": \"input\"},"
                    "{\"type\": \"attention\", \"use_scale\": true, \"use_causal_mask\": true, \"inputs\": [\"q\", \"v\", \"k\"]},"
                    "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}],"
                    "\"loss\": \"sparse_categorical_crossentropy\"}",
                    12, 2);
}

int main(void) {
    int rc = run_on_test_device("test_dot_attention", &device, on_device);
    if (rc >= 0) return rc;
    on_device();
    digits_case("8 steps of 8 -> conv1d 16 -> Attention (self, use_scale) -> flatten -> softmax",
                "{\"input_shape\": [8, 8], \"layers\": [{\"name\": \"h\", \"type\": \"conv1d\", \"filters\": 16, "
                "\"kernel_size\": 1, \"activation\": \"relu\"}, {\"type\": \"Attention\", \"use_scale\": true, "
                "\"inputs\": [\"h\", \"h\"]}, {\"type\": \"flatten\"}, "
                "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], "
                "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
                KN_PRECISION_FP32, 0.8, 15);
    kn_ctx *ctx = new_ctx();
    static const description_case bad[] = {
        {"{\"input_shape\": [5, 4], \"layers\": [{\"type\": \"attention\", \"score_mode\": \"concat\"}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\"}]}",
         "layers[0].score_mode: only \"dot\" is supported"},
        {"{\"input_shape\": [5, 4], \"layers\": [{\"type\": \"attention\", \"dropout\": 1}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\"}]}",
         "layers[0].dropout: expected a number in [0, 1)"},
        {"{\"input_shape\": [5, 4], \"layers\": [{\"type\": \"attention\", \"use_scale\": 1}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\"}]}",
         "layers[0].use_scale: expected true or false"},
        {"{\"input_shape\": [20], \"layers\": [{\"type\": \"attention\"}, {\"type\": \"dense\"}]}",
         "layers[0] attention: its query must be a sequence (steps, channels), got 1 dimension"},
        {"{\"input_shape\": [5, 4], \"layers\": [{\"name\": \"a\", \"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 1}, "
         "{\"type\": \"attention\", \"inputs\": [\"a\", \"input\", \"input\"]}, {\"type\": \"flatten\"}, {\"type\": \"dense\"}]}",
         "layers[1] attention: query (5, 3), value (5, 4) and key (5, 4): the key needs the value's steps and the query's "
         "channels"},
        {"{\"input_shape\": [5, 4], \"layers\": [{\"type\": \"attention\", \"num_heads\": 2}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\"}]}",
         "layers[0]: unknown key 'num_heads'"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    static const char *const want[] = {"{\"type\":\"attention\",\"use_scale\":true,\"score_mode\":\"dot\","
                                       "\"use_causal_mask\":true,\"dropout\":0.25}", NULL};
    static const char *const text = "{\"input_shape\": [5, 4], \"layers\": [{\"type\": \"attention\", \"use_scale\": "
                                    "true, \"dropout\": 0.25, \"use_causal_mask\": true, \"seed\": 3}, {\"type\": "
                                    "\"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}";
    description_round_trip(ctx, text, want);
    kn_model *m = build(ctx, text);
    CHECK(m && kn_model_param_count(m) == 1 + 20 * 2 + 2, "parameters: the scale, then the dense layer's");
    kn_model_free(m);
    kn_ctx_free(ctx);
    return checks_done("dot attention");
}
