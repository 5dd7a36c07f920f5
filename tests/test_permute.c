/* test_permute.c — Keras's Permute layer (kn_model_add_permute; the graph's KN_OP_PERMUTE):
 *
 * - predictions against a reference computed here from the input and the dense layer's
 *   parameters, for every reordering of a (4, 3, 2) sample's axes and a sequence's swap;
 * - every parameter's gradient by finite differences (model_gradcheck) through Keras's
 *   "attention over the steps" block (permute, a softmax dense per feature, permute back,
 *   multiply);
 * - an image CNN with its rows and columns swapped trained on digits, saved and loaded;
 * - the description written and read back; the errors.
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
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 9, .device = device}, &ctx);
    return ctx;
}

enum { N = 3, OUT = 2 };

/* input (a0, a1[, a2]) -> permute dims -> flatten -> dense 2: against the permuted input's
 * product with the dense kernel. */
static void reference_case(const int64_t *a, int rank, const int *dims) {
    char text[512], what[96], shape[48] = "", ds[32] = "";
    int used = 0, used2 = 0;
    for (int k = 0; k < rank; k++) {
        used += snprintf(shape + used, sizeof shape - (size_t)used, "%s%lld", k ? ", " : "", (long long)a[k]);
        used2 += snprintf(ds + used2, sizeof ds - (size_t)used2, "%s%d", k ? ", " : "", dims[k]);
    }
    snprintf(text, sizeof text,
             "{\"input_shape\": [%s], \"layers\": [{\"type\": \"permute\", \"dims\": [%s]}, {\"type\": \"flatten\"}, "
             "{\"type\": \"dense\", \"units\": %d, \"bias_initializer\": \"ones\"}], \"loss\": \"mse\"}",
             shape, ds, OUT);
    snprintf(what, sizeof what, "permute (%s) of (%s)", ds, shape);
    int64_t in[3] = {a[0], a[1], rank > 2 ? a[2] : 1}, per = in[0] * in[1] * in[2];
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, text);
    float x[N * 24], y[N * OUT];
    for (int i = 0; i < N * per; i++) x[i] = (float)sin(0.53 * i + 0.1);
    kn_status st = m ? kn_model_predict(m, x, N, y) : KN_ERR_INVALID_ARGUMENT;
    CHECK(!st, "%s: predict: %s", what, kn_last_error(ctx));
    const float *k = m ? kn_model_param(m, "dense_0/kernel", NULL) : NULL, *b = m ? kn_model_param(m, "dense_0/bias", NULL) : NULL;
    if (!st && k && b) {
        /* output axis j of the permuted sample reads input axis dims[j] - 1 */
        int64_t out[3] = {1, 1, 1}, stride[3] = {in[1] * in[2], in[2], 1}, from[3] = {0, 0, 0};
        for (int j = 0; j < rank; j++) out[j] = in[dims[j] - 1], from[j] = stride[dims[j] - 1];
        double worst = 0;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++) {
                double s = b[o];
                int64_t f = 0;
                for (int64_t i0 = 0; i0 < out[0]; i0++)
                    for (int64_t i1 = 0; i1 < out[1]; i1++)
                        for (int64_t i2 = 0; i2 < out[2]; i2++, f++)
                            s += (double)x[n * per + i0 * from[0] + i1 * from[1] + i2 * from[2]] * k[f * OUT + o];
                worst = fmax(worst, fabs(s - y[n * OUT + o]));
            }
        printf("%-40s within %.2g of the reference\n", what, worst);
        CHECK(worst < 1e-5, "%s: differs from the reference by %.3g", what, worst);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* Keras's attention over the steps: the (steps, features) input permuted to (features,
 * steps), a softmax over the steps for each feature, permuted back, times the input. */
static const char *attention_block =
    "{\"input_shape\": [5, 3], \"layers\": ["
    "{\"type\": \"permute\", \"dims\": [2, 1]},"
    "{\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 5, \"activation\": \"softmax\"}},"
    "{\"name\": \"weights\", \"type\": \"permute\", \"dims\": [2, 1]},"
    "{\"type\": \"multiply\", \"inputs\": [\"input\", \"weights\"]},"
    "{\"type\": \"flatten\"},"
    "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": \"sparse_categorical_crossentropy\"}";

static void test_models(void) {
    static const int perms[6][3] = {{1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {2, 3, 1}, {3, 1, 2}, {3, 2, 1}};
    for (int p = 0; p < 6; p++) reference_case((int64_t[]){4, 3, 2}, 3, perms[p]);
    reference_case((int64_t[]){5, 3}, 2, (int[]){2, 1});
    model_gradcheck("attention over the steps (permute, dense, permute, multiply)", attention_block, 15, 2);
}

int main(void) {
    int rc = run_on_test_device("test_permute", &device, test_models);
    if (rc >= 0) return rc;
    test_models();
    /* the digits as 8x8 images, their rows and columns swapped before a small CNN */
    digits_case("reshape (8, 8, 1) -> permute (2, 1, 3) -> conv2d 8 -> flatten -> softmax",
                "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
                "{\"type\": \"permute\", \"dims\": [2, 1, 3]}, "
                "{\"type\": \"conv2d\", \"filters\": 8, \"kernel_size\": 3, \"activation\": \"relu\"}, "
                "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], "
                "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}",
                KN_PRECISION_FP32, 0.85, 10);
    kn_ctx *ctx = new_ctx();
    description_round_trip(ctx, attention_block, (const char *const[]){"\"dims\":[2,1]", NULL});
    static const description_case bad[] = {
        {"{\"input_shape\": [4, 3], \"layers\": [{\"type\": \"permute\", \"dims\": [1, 1]}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] permute: dims must reorder the input's 2 axes, each of 1 .. 2 once"},
        {"{\"input_shape\": [4, 3], \"layers\": [{\"type\": \"permute\", \"dims\": [2, 1, 3]}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0] permute: dims must reorder the input's 2 axes"},
        {"{\"input_shape\": [4, 3], \"layers\": [{\"type\": \"permute\", \"dims\": [0, 1]}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].dims: axes must be whole numbers from 1 (the batch is not one)"},
        {"{\"input_shape\": [4, 3], \"layers\": [{\"type\": \"permute\"}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}",
         "layers[0].dims: expected a list of 1 to 3 axes"},
    };
    check_descriptions(ctx, bad, sizeof bad / sizeof bad[0]);
    kn_ctx_free(ctx);
    return checks_done("permute");
}
