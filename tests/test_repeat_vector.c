/* test_repeat_vector.c — Keras's RepeatVector layer (kn_model_add_repeat_vector: features
 * (F) -> (n, F), built as the graph's one-step view and up_sampling1d):
 *
 * - predictions against a reference computed here from the dense layers' parameters;
 * - every parameter's gradient by finite differences (model_gradcheck) through an encoder,
 *   repeat_vector and a recurrent decoder (Keras's sequence-to-sequence shape);
 * - such a model trained on digits, saved and loaded; the description read back; the errors.
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
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 13, .device = device}, &ctx);
    return ctx;
}

/* input (5) -> dense 3 (tanh) -> repeat_vector 4 -> flatten -> dense 2: the second dense
 * reads the first's 3 outputs at each of the 4 steps. */
static void reference_case(void) {
    enum { N = 3, IN = 5, H = 3, R = 4, OUT = 2 };
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [5], \"layers\": [{\"type\": \"dense\", \"units\": 3, \"activation\": "
                             "\"tanh\"}, {\"type\": \"repeat_vector\", \"n\": 4}, {\"type\": \"flatten\"}, "
                             "{\"type\": \"dense\", \"units\": 2, \"bias_initializer\": \"ones\"}], \"loss\": \"mse\"}");
    float x[N * IN], y[N * OUT];
    for (int i = 0; i < N * IN; i++) x[i] = (float)sin(0.71 * i + 0.4);
    kn_status st = m ? kn_model_predict(m, x, N, y) : KN_ERR_INVALID_ARGUMENT;
    CHECK(!st, "repeat_vector: predict: %s", kn_last_error(ctx));
    const float *k0 = m ? kn_model_param(m, "dense_0/kernel", NULL) : NULL, *b0 = m ? kn_model_param(m, "dense_0/bias", NULL) : NULL;
    const float *k1 = m ? kn_model_param(m, "dense_1/kernel", NULL) : NULL, *b1 = m ? kn_model_param(m, "dense_1/bias", NULL) : NULL;
    if (!st && k0 && b0 && k1 && b1) {
        double worst = 0;
        for (int n = 0; n < N; n++) {
            double h[H];
            for (int j = 0; j < H; j++) {
                double s = b0[j];
                for (int i = 0; i < IN; i++) s += (double)x[n * IN + i] * k0[i * H + j];
                h[j] = tanh(s);
            }
            for (int o = 0; o < OUT; o++) {
                double s = b1[o];
                for (int r = 0; r < R; r++)
                    for (int j = 0; j < H; j++) s += h[j] * k1[(r * H + j) * OUT + o];
                worst = fmax(worst, fabs(s - y[n * OUT + o]));
            }
        }
        printf("%-56s within %.2g of the reference\n", "dense 3 -> repeat_vector 4 -> flatten -> dense 2", worst);
        CHECK(worst < 1e-5, "repeat_vector: differs from the reference by %.3g", worst);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static const char *seq2seq =
    "{\"input_shape\": [6], \"layers\": [{\"type\": \"dense\", \"units\": 4, \"activation\": \"tanh\"},"
    "{\"type\": \"repeat_vector\", \"n\": 3},"
    "{\"type\": \"simple_rnn\", \"units\": 3, \"return_sequences\": true},"
    "{\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 2}},"
    "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], "
    "\"loss\": \"sparse_categorical_crossentropy\"}";

static void test_models(void) {
    reference_case();
    model_gradcheck("dense -> repeat_vector -> simple_rnn -> time_distributed dense", seq2seq, 6, 2);
}

int main(void) {
    int rc = run_on_test_device("test_repeat_vector", &device, test_models);
    if (rc >= 0) return rc;
    test_models();
    digits_case("dense 32 -> repeat_vector 4 -> gru 16 -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"dense\", \"units\": 32, \"activation\": \"relu\"}, "
                "{\"type\": \"repeat_vector\", \"n\": 4}, {\"type\": \"gru\", \"units\": 16}, "
                "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], "
                "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
                KN_PRECISION_FP32, 0.85, 10);
    kn_ctx *ctx = new_ctx();
    description_round_trip(ctx, seq2seq, (const char *const[]){"\"type\":\"repeat_vector\",\"n\":3", NULL});
    static const description_case bad[] = {
        {"{\"input_shape\": [4, 3], \"layers\": [{\"type\": \"repeat_vector\", \"n\": 2}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] repeat_vector: takes features (batch, n), its input has 2 axes after the batch (flatten it first)"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"repeat_vector\", \"n\": 0}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].n: expected a whole number of repeats in [1, 65536]"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_ctx_free(ctx);
    return checks_done("repeat_vector");
}
