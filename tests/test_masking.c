/* test_masking.c — Keras's Masking layer (masking; kn_model_add_masking): a step of a
 * sequence whose features all equal mask_value is masked for the layers after it, and its
 * output zeroed.
 *
 * - an LSTM after it: sequences padded before or after with mask_value predict what a model
 *   of the same weights predicts from the unpadded steps alone (Keras's LSTM skips masked
 *   steps);
 * - the masked mean (global_average_pool1d) over the kept steps, and the zeroed output
 *   (flatten -> dense), against references;
 * - a model trained through it on digits (8 steps of 8, the blank rows masked);
 * - descriptions read back; refusals.
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

enum { F = 3, REAL = 4, PAD = 3, T = REAL + PAD };

/* masking (mask_value -1) -> lstm 5 -> dense 2 over T steps, and the same layers over the REAL
 * steps alone with the first model's weights: the padded sequences (padding before and after)
 * predict as their real steps do. */
static void lstm_case(const char *cell) {
    char a[512], b[512];
    snprintf(a, sizeof a, "{\"input_shape\": [%d, %d], \"layers\": [{\"type\": \"masking\", \"mask_value\": -1}, "
             "{\"type\": \"%s\", \"units\": 5}, {\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}", T, F, cell);
    snprintf(b, sizeof b, "{\"input_shape\": [%d, %d], \"layers\": [{\"type\": \"%s\", \"units\": 5}, "
             "{\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}", REAL, F, cell);
    kn_ctx *ctx = new_ctx();
    kn_model *padded = build(ctx, a), *plain = build(ctx, b);
    if (!padded || !plain) goto done;
    char pa[64], pb[64];
    static const char *const what[5] = {"kernel", "recurrent_kernel", "bias", "kernel", "bias"};
    for (int k = 0; k < 5; k++) {
        snprintf(pa, sizeof pa, "%s_0/%s", k < 3 ? cell : "dense", what[k]);
        snprintf(pb, sizeof pb, "%s_0/%s", k < 3 ? cell : "dense", what[k]);
        int64_t na = 0, nb = 0;
        const float *src = kn_model_param(padded, pa, &na);
        float *dst = kn_model_param(plain, pb, &nb);
        CHECK(src && dst && na == nb, "%s: parameter %s", cell, pa);
        if (src && dst && na == nb) memcpy(dst, src, (size_t)na * sizeof *dst);
    }
    float real[2 * REAL * F], x[2 * T * F], ya[4], yb[4];
    for (int i = 0; i < 2 * REAL * F; i++) real[i] = (float)sin(0.9 * i + 0.2);
    for (int n = 0; n < 2; n++) /* sample 0 padded after its steps, sample 1 before (Keras's pad_sequences) */
        for (int t = 0; t < T; t++) {
            int r = n == 0 ? t : t - PAD;
            for (int f = 0; f < F; f++)
                x[(n * T + t) * F + f] = r >= 0 && r < REAL ? real[(n * REAL + r) * F + f] : -1.0f;
        }
    kn_status st = kn_model_predict(padded, x, 2, ya);
    if (!st) st = kn_model_predict(plain, real, 2, yb);
    CHECK(!st, "%s: predict: %s", cell, kn_last_error(ctx));
    double worst = 0;
    for (int k = 0; k < 4; k++) worst = fmax(worst, fabs(ya[k] - yb[k]));
    printf("masking -> %-4s: padded after and before, within %.2g of the unpadded steps\n", cell, worst);
    CHECK(!st && worst < 1e-6, "%s: the padded sequences predict %.3g away", cell, worst);
done:
    kn_model_free(padded);
    kn_model_free(plain);
    kn_ctx_free(ctx);
}

/* masking (mask_value 2.5) -> global_average_pool1d -> dense, and -> flatten -> dense: the
 * mean over kept steps, and masked steps zeroed, against references. */
static void reference_case(bool pool) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"input_shape\": [%d, %d], \"layers\": [{\"type\": \"masking\", \"mask_value\": 2.5}, "
             "{\"type\": \"%s\"}, {\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}",
             T, F, pool ? "global_average_pool1d" : "flatten");
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    float x[3 * T * F], y[3 * 2];
    for (int i = 0; i < 3 * T * F; i++) x[i] = (float)cos(0.6 * i);
    for (int f = 0; f < F; f++) x[(0 * T + 2) * F + f] = x[(1 * T + 0) * F + f] = x[(1 * T + 6) * F + f] = 2.5f;
    x[(2 * T + 3) * F + 1] = 2.5f; /* one feature alone at the value: the step is kept */
    for (int t = 0; t < T; t++) /* sample 2 (all but step 3) ... */
        if (t != 3)
            for (int f = 0; f < F; f++) x[(2 * T + t) * F + f] = 2.5f; /* ... masked: a mean of one step */
    kn_status st = m ? kn_model_predict(m, x, 3, y) : KN_ERR_INVALID_ARGUMENT;
    CHECK(!st, "masking reference: %s", kn_last_error(ctx));
    const float *k = m ? kn_model_param(m, "dense_0/kernel", NULL) : NULL, *b = m ? kn_model_param(m, "dense_0/bias", NULL) : NULL;
    double worst = 0;
    for (int n = 0; !st && k && b && n < 3; n++) {
        double h[T * F], mean[F] = {0}, kept = 0;
        for (int t = 0; t < T; t++) {
            bool all = true;
            for (int f = 0; f < F; f++) all = all && x[(n * T + t) * F + f] == 2.5f;
            kept += !all;
            for (int f = 0; f < F; f++) {
                h[t * F + f] = all ? 0.0 : x[(n * T + t) * F + f];
                mean[f] += h[t * F + f];
            }
        }
        for (int o = 0; o < 2; o++) {
            double s = b[o];
            if (pool)
                for (int f = 0; f < F; f++) s += mean[f] / kept * k[f * 2 + o];
            else
                for (int e = 0; e < T * F; e++) s += h[e] * k[e * 2 + o];
            worst = fmax(worst, fabs(s - y[n * 2 + o]));
        }
    }
    printf("masking -> %-22s within %.2g of the reference\n", pool ? "global_average_pool1d" : "flatten", worst);
    CHECK(!st && worst < 1e-5, "masking -> %s: %.3g from the reference", pool ? "pool" : "flatten", worst);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void on_device(void) {
    lstm_case("lstm");
    lstm_case("gru");
    reference_case(true);
    reference_case(false);
}

int main(void) {
    int rc = run_on_test_device("test_masking", &device, on_device);
    if (rc >= 0) return rc;
    on_device();
    /* digits as 8 rows of 8 pixels: all-blank rows (value 0) are masked out of the LSTM */
    digits_case("8 rows of 8 -> masking 0 -> lstm 32 -> softmax",
                "{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"masking\", \"mask_value\": 0}, "
                "{\"type\": \"lstm\", \"units\": 32}, {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], "
                "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
                KN_PRECISION_FP32, 0.85, 10);
    kn_ctx *ctx = new_ctx();
    static const char *const want[] = {"{\"type\":\"masking\",\"mask_value\":0.5}", NULL};
    description_round_trip(ctx, "{\"input_shape\": [5, 2], \"layers\": [{\"type\": \"Masking\", \"mask_value\": 0.5}, "
                                "{\"type\": \"simple_rnn\", \"units\": 3}, {\"type\": \"dense\", \"units\": 2}]}",
                           want);
    static const description_case bad[] = {
        {"{\"input_shape\": [20], \"layers\": [{\"type\": \"masking\"}, {\"type\": \"dense\"}]}",
         "layers[0] masking: needs a sequence"},
        {"{\"input_shape\": [5, 2], \"layers\": [{\"type\": \"masking\", \"mask_value\": \"x\"}, {\"type\": \"lstm\", "
         "\"units\": 2}, {\"type\": \"dense\"}]}",
         "layers[0].mask_value: expected a number"},
        {"{\"input_shape\": [5, 2], \"layers\": [{\"type\": \"masking\", \"value\": 0}, {\"type\": \"lstm\", "
         "\"units\": 2}, {\"type\": \"dense\"}]}",
         "layers[0]: unknown key 'value'"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_model *c = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){4, 2}, 2, &c);
    CHECK(kn_model_add_masking(c, NAN) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "layers[0] masking: "
                                                                                               "mask_value nan"),
          "mask_value NaN: %s", kn_last_error(ctx));
    kn_model_free(c);
    kn_ctx_free(ctx);
    return checks_done("masking");
}
