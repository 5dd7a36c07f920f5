/* test_row_losses.c — Keras 3's losses of a row at a time in models: the two focal
 * cross-entropies (with focal_gamma, focal_alpha, apply_class_balancing), cosine_similarity
 * and categorical_hinge. Their values and gradients against Keras's formulas are
 * test_losses.c's (tests/golden/losses.txt); here:
 * - a digits network trained under each learns (held-out accuracy), saves and loads to the
 *   same predictions, and its description, focal settings included, reads back unchanged;
 * - a description's focal settings are written with Keras's defaults resolved;
 * - huber's delta read and written back;
 * - the errors: focal settings on another loss or out of range, a description's focal_gamma
 *   of 0, cosine or categorical hinge over one output, from_logits on cosine, huber_delta on
 *   another loss or out of range. */
#define _DEFAULT_SOURCE /* mkdtemp (model_test.h) */
#include "check.h"
#include "model_test.h"

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx = NULL;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7}, &ctx);
    return ctx;
}

#define DIGITS(extra)                                                                                                \
    "{\"input_shape\": [64], \"layers\": [{\"type\": \"dense\", \"units\": 32, \"activation\": \"relu\"}, "      \
    "{\"type\": \"dense\", \"units\": 10}], \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}, " extra "}"

static void digits_models(void) {
    /* the same network under sparse categorical cross-entropy reaches about 0.91 here */
    /* a softmax head (the loss's default head) trained from its logits by the fuse pass */
    digits_case("categorical_focal_crossentropy", DIGITS("\"loss\": \"categorical_focal_crossentropy\""), KN_PRECISION_FP32,
                0.88, 20);
    /* ten sigmoid outputs, one-hot targets (a multi-label head), class 1 weighed 0.6 */
    digits_case("binary_focal_crossentropy, gamma 1.5, balanced",
                DIGITS("\"loss\": \"binary_focal_crossentropy\", \"focal_gamma\": 1.5, \"focal_alpha\": 0.6, "
                       "\"apply_class_balancing\": true"),
                KN_PRECISION_FP32, 0.88, 20);
    digits_case("sparse_categorical_crossentropy (for comparison)", DIGITS("\"loss\": \"sparse_categorical_crossentropy\""), KN_PRECISION_FP32, 0.88, 20);
    digits_case("cosine_similarity (linear head)", DIGITS("\"loss\": \"cosine_similarity\""), KN_PRECISION_FP32, 0.88, 20);
    digits_case("categorical_hinge (linear head)", DIGITS("\"loss\": \"categorical_hinge\""), KN_PRECISION_FP32, 0.88, 20);
}

static void descriptions(void) {
    kn_ctx *ctx = new_ctx();
    /* Keras's defaults written out: the file says what trained */
    description_round_trip(ctx, DIGITS("\"loss\": \"categorical_focal_crossentropy\""),
                           (const char *const[]){"\"loss\":\"categorical_focal_crossentropy\"", "\"focal_gamma\":2",
                                                 "\"focal_alpha\":0.25", NULL});
    description_round_trip(ctx, DIGITS("\"loss\": \"binary_focal_crossentropy\", \"focal_gamma\": 0.5, "
                                       "\"apply_class_balancing\": true, \"label_smoothing\": 0.1, \"from_logits\": true"),
                           (const char *const[]){"\"focal_gamma\":0.5", "\"focal_alpha\":0.25",
                                                 "\"apply_class_balancing\":true", "\"label_smoothing\":0.1",
                                                 "\"from_logits\":true", NULL});
    description_round_trip(ctx, DIGITS("\"loss\": \"huber\", \"huber_delta\": 0.25"),
                           (const char *const[]){"\"loss\":\"huber\"", "\"huber_delta\":0.25", NULL});
    /* the settings reach the compiled model */
    kn_model *m = build(ctx, DIGITS("\"loss\": \"binary_focal_crossentropy\", \"focal_gamma\": 3, \"focal_alpha\": 0.1"));
    CHECK(m && m->copts.focal_gamma == 3.0f && m->copts.focal_alpha == 0.1f && !m->copts.apply_class_balancing,
          "binary focal: gamma %g alpha %g", m ? (double)m->copts.focal_gamma : -1.0,
          m ? (double)m->copts.focal_alpha : -1.0);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* compile refuses co in one line holding want, and the model compiles again after */
static void check_compile_refused(kn_loss loss, kn_activation head, int64_t units, kn_compile_opts co, const char *want) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = NULL;
    kn_status st = kn_model_new_sequential(ctx, (int64_t[]){4}, 1, &m);
    if (!st) st = kn_model_add_dense(m, units, head);
    co.loss = loss;
    co.optimizer = kn_adam(0.01f);
    if (!st) st = kn_model_compile(m, &co);
    const char *msg = kn_last_error(ctx);
    CHECK(st == KN_ERR_SPEC && strstr(msg, want) && !strchr(msg, '\n'), "%s: status %d, '%s' (want '%s')",
          kn_loss_name(loss), (int)st, msg, want);
    CHECK(m && kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_MSE, .optimizer = kn_adam(0.01f)}) == KN_OK,
          "%s: the model did not compile again: %s", kn_loss_name(loss), kn_last_error(ctx));
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void errors(void) {
    check_compile_refused(KN_LOSS_CATEGORICAL_CROSSENTROPY, KN_SOFTMAX, 3, (kn_compile_opts){.focal_gamma = 2},
                          "focal_gamma, focal_alpha and apply_class_balancing apply to the focal losses, not "
                          "categorical_crossentropy");
    check_compile_refused(KN_LOSS_MSE, KN_LINEAR, 3, (kn_compile_opts){.apply_class_balancing = true},
                          "apply to the focal losses, not mse");
    check_compile_refused(KN_LOSS_BINARY_FOCAL_CROSSENTROPY, KN_SIGMOID, 3, (kn_compile_opts){.focal_gamma = -1},
                          "focal_gamma must be in [0, 1000], got -1");
    check_compile_refused(KN_LOSS_BINARY_FOCAL_CROSSENTROPY, KN_SIGMOID, 3, (kn_compile_opts){.focal_gamma = NAN},
                          "focal_gamma must be in [0, 1000]");
    check_compile_refused(KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY, KN_SOFTMAX, 3, (kn_compile_opts){.focal_alpha = 1.5f},
                          "focal_alpha must be in [0, 1], got 1.5");
    check_compile_refused(KN_LOSS_BINARY_FOCAL_CROSSENTROPY, KN_SOFTMAX, 1, (kn_compile_opts){0},
                          "softmax over one output is always 1");
    check_compile_refused(KN_LOSS_COSINE_SIMILARITY, KN_LINEAR, 1, (kn_compile_opts){0},
                          "cosine_similarity compares rows of outputs, but the last layer has 1 unit");
    check_compile_refused(KN_LOSS_CATEGORICAL_HINGE, KN_LINEAR, 1, (kn_compile_opts){0},
                          "categorical_hinge compares rows of outputs");
    check_compile_refused(KN_LOSS_COSINE_SIMILARITY, KN_LINEAR, 3, (kn_compile_opts){.from_logits = true},
                          "from_logits applies to the cross-entropy losses, not cosine_similarity");
    check_compile_refused(KN_LOSS_CATEGORICAL_HINGE, KN_LINEAR, 3, (kn_compile_opts){.label_smoothing = 0.1f},
                          "label_smoothing applies to the cross-entropy losses, not categorical_hinge");
    check_compile_refused(KN_LOSS_MSE, KN_LINEAR, 3, (kn_compile_opts){.huber_delta = 2},
                          "huber_delta applies to the huber loss, not mse");
    check_compile_refused(KN_LOSS_HUBER, KN_LINEAR, 3, (kn_compile_opts){.huber_delta = -1},
                          "huber_delta must be in (0, 1e6], got -1");
    kn_ctx *ctx = new_ctx();
#define SMALL(extra) "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}], " extra "}"
    static const description_case cases[] = {
        {SMALL("\"loss\": \"binary_focal_crossentropy\", \"focal_gamma\": 0"), "focal_gamma 0 is the plain cross-entropy"},
        {SMALL("\"loss\": \"binary_focal_crossentropy\", \"focal_alpha\": 0"), "focal_alpha 0 weighs every term 0"},
        {SMALL("\"loss\": \"binary_focal_crossentropy\", \"focal_alpha\": 2"), "focal_alpha"},
        {SMALL("\"loss\": \"binary_focal_crossentropy\", \"focal_gamma\": \"two\""), "focal_gamma"},
        {SMALL("\"loss\": \"binary_focal_crossentropy\", \"apply_class_balancing\": 1"), "apply_class_balancing: must be true or false"},
        {SMALL("\"loss\": \"focal\""), "unknown loss 'focal'"},
        {SMALL("\"loss\": \"binary_focal_crossentropy\", \"focal_gamma\": 0.5, \"apply_class_balancing\": false"), NULL},
        {SMALL("\"loss\": \"cosine_similarity\""), NULL},
        {SMALL("\"loss\": \"huber\", \"huber_delta\": 0"), "huber_delta"},
        {SMALL("\"loss\": \"huber\", \"huber_delta\": 0.25"), NULL},
    };
    check_descriptions(ctx, cases, sizeof cases / sizeof cases[0]);
    kn_ctx_free(ctx);
}

int main(void) {
    digits_models();
    descriptions();
    errors();
    printf("test_row_losses: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
