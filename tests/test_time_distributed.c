/* test_time_distributed.c — Keras's TimeDistributed(Dense) (type time_distributed,
 * kn_model_add_time_distributed): the product at every step of a sequence (or position of
 * an image) with one kernel, where a plain dense layer flattens the sample:
 *
 * - predictions against a reference computed here from the model's own parameters, for a
 *   sequence and for an image's positions;
 * - every parameter's gradient against finite differences (model_gradcheck);
 * - a model trained on digits (8 steps of 8), saved and loaded, its description written and
 *   read back; the mask of an embedding passed on through it;
 * - the errors: a flat input, another layer inside, the last layer. Run from the source root. */
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
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 11, .device = device}, &ctx);
    return ctx;
}

/* input (S, C) (or an image's S positions of C channels) -> time_distributed dense U
 * (tanh) -> flatten -> dense 3: predictions against the same computed here. */
static void reference_case(const char *what, const char *input_shape, int64_t S, int64_t C, int64_t U) {
    enum { N = 5, OUT = 3 };
    char text[768];
    snprintf(text, sizeof text,
             "{\"input_shape\": %s, \"layers\": [{\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", "
             "\"units\": %lld, \"activation\": \"tanh\", \"bias_initializer\": \"ones\"}}, {\"type\": \"flatten\"}, "
             "{\"type\": \"dense\", \"units\": %d}], \"loss\": \"mse\"}",
             input_shape, (long long)U, OUT);
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    if (!m) {
        kn_ctx_free(ctx);
        return;
    }
    int64_t nk = 0, nb = 0, nk2 = 0, nb2 = 0;
    const float *k = kn_model_param(m, "time_distributed_0/kernel", &nk), *b = kn_model_param(m, "time_distributed_0/bias", &nb);
    const float *k2 = kn_model_param(m, "dense_0/kernel", &nk2), *b2 = kn_model_param(m, "dense_0/bias", &nb2);
    CHECK(k && b && k2 && b2 && nk == C * U && nb == U && nk2 == S * U * OUT && nb2 == OUT,
          "%s: parameters %lld %lld %lld %lld", what, (long long)nk, (long long)nb, (long long)nk2, (long long)nb2);
    CHECK(kn_model_param_count(m) == C * U + U + S * U * OUT + OUT, "%s: %lld parameters", what,
          (long long)kn_model_param_count(m));
    float x[N * 64], y[N * OUT];
    for (int64_t i = 0; i < N * S * C; i++) x[i] = (float)sin(0.41 * (double)i + 0.7);
    kn_status st = k && b && k2 && b2 ? kn_model_predict(m, x, N, y) : KN_ERR_STATE;
    CHECK(!st, "%s: predict: %s", what, kn_last_error(ctx));
    double worst = 0;
    for (int64_t n = 0; !st && n < N; n++) {
        double hidden[64 * 8];
        for (int64_t s = 0; s < S; s++) /* each step on its own, one kernel */
            for (int64_t u = 0; u < U; u++) {
                double v = b[u];
                for (int64_t c = 0; c < C; c++) v += (double)x[(n * S + s) * C + c] * k[c * U + u];
                hidden[s * U + u] = tanh(v);
            }
        for (int o = 0; o < OUT; o++) {
            double v = b2[o];
            for (int64_t i = 0; i < S * U; i++) v += hidden[i] * k2[i * OUT + o];
            worst = fmax(worst, fabs(v - y[n * OUT + o]));
        }
    }
    printf("%s: predictions within %.2g of the reference\n", what, worst);
    CHECK(!st && worst < 1e-5, "%s: predictions differ from the reference by %.3g", what, worst);
    char summary[256] = "";
    kn_model_summary(m, summary, sizeof summary);
    CHECK(strstr(summary, "-> time_distributed dense ") != NULL, "%s: summary %s", what, summary);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

#define DIGITS_TAIL "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}"

static void test_graphs(void) {
    reference_case("(6 steps, 4) -> time_distributed dense 5", "[6, 4]", 6, 4, 5);
    reference_case("(3, 2, 3) image -> time_distributed dense 4 at each position", "[3, 2, 3]", 6, 3, 4);
    model_gradcheck("lstm (sequences) -> time_distributed dense relu -> mean",
                    "{\"input_shape\": [4, 3], \"layers\": [{\"type\": \"lstm\", \"units\": 3, \"return_sequences\": "
                    "true}, {\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 4, "
                    "\"activation\": \"tanh\"}}, {\"type\": \"global_average_pool1d\"}, {\"type\": \"dense\", "
                    "\"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}",
                    12, 2);
    model_gradcheck("time_distributed dense (no bias, l2) -> flatten -> dense",
                    "{\"input_shape\": [3, 4], \"layers\": [{\"type\": \"time_distributed\", \"layer\": {\"type\": "
                    "\"dense\", \"units\": 2, \"use_bias\": false, \"kernel_regularizer\": {\"l2\": 0.01}}}, "
                    "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}], "
                    "\"loss\": \"sparse_categorical_crossentropy\"}",
                    12, 3);
}

int main(void) {
    int rc = run_on_test_device("test_time_distributed", &device, test_graphs);
    if (rc >= 0) return rc;
    test_graphs();
    digits_case("lstm 32 (sequences) -> time_distributed dense 16 relu -> mean",
                "{\"input_shape\": [8, 8], \"layers\": [{\"type\": \"lstm\", \"units\": 32, \"return_sequences\": true}, "
                "{\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 16, \"activation\": "
                "\"relu\"}}, {\"type\": \"global_average_pool1d\"}, {\"type\": \"dense\", \"units\": 10, "
                "\"activation\": \"softmax\"}], " DIGITS_TAIL,
                KN_PRECISION_FP32, 0.85, 25);

    kn_ctx *ctx = new_ctx();
    /* an embedding's mask passes through to the mean over the kept steps */
    kn_model *m = build(ctx, "{\"input_shape\": [6], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 10, "
                             "\"output_dim\": 4, \"mask_zero\": true}, {\"type\": \"time_distributed\", \"layer\": "
                             "{\"type\": \"dense\", \"units\": 3}}, {\"type\": \"global_average_pool1d\"}, "
                             "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], "
                             "\"loss\": \"sparse_categorical_crossentropy\"}");
    CHECK(m && m->layers[1].masked && m->layers[1].per_step, "time_distributed passes the embedding's mask on");
    if (m) { /* padding moved: the same prediction */
        float a[6] = {3, 5, 0, 0, 7, 0}, b[6] = {0, 3, 5, 0, 7, 0}, pa[2], pb[2];
        kn_status st = kn_model_predict(m, a, 1, pa);
        if (!st) st = kn_model_predict(m, b, 1, pb);
        CHECK(!st && pa[0] == pb[0] && pa[1] == pb[1], "masked padding moved: %g %g against %g %g", pa[0], pa[1],
              pb[0], pb[1]);
    }
    kn_model_free(m);

    static const description_case bad[] = {
        {"{\"input_shape\": [8], \"layers\": [{\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", "
         "\"units\": 2}}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] time_distributed: needs an input of steps (steps, features), got 1 dimension"},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"time_distributed\", \"layer\": {\"type\": \"lstm\", "
         "\"units\": 2}}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].layer.type: expected \"dense\""},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"time_distributed\"}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].layer: missing"},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", "
         "\"units\": 2, \"filters\": 3}}, {\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].layer: unknown key 'filters'"},
        {"{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\"}}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].layer.units: missing"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_spec spec;
    kn_model *last = NULL;
    kn_status st = kn_model_from_json(ctx, "{\"input_shape\": [8, 2], \"layers\": [{\"type\": \"time_distributed\", "
                                           "\"layer\": {\"type\": \"dense\", \"units\": 2}}]}", NULL, &last, &spec);
    if (!st) st = kn_model_compile(last, &spec.compile);
    CHECK(st == KN_ERR_SPEC && strstr(kn_last_error(ctx), "the last layer is time_distributed"),
          "time_distributed last: %d '%s'", (int)st, kn_last_error(ctx));
    kn_model_free(last);
    kn_ctx_free(ctx);
    return checks_done("time_distributed");
}
