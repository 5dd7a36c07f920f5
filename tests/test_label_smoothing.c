/* test_label_smoothing.c — the cross-entropy losses' label smoothing (kn_loss_op_smoothed,
 * a description's "label_smoothing", kn_compile_opts.label_smoothing):
 *
 * - sparse, categorical and binary cross-entropy, from logits and from probabilities, with
 *   and without sample weights, the loss and its gradient against PyTorch's
 *   (tests/golden/label_smoothing.txt, recorded by tests/golden/make_label_smoothing.py),
 *   through a graph with the graph optimizer's passes on and off;
 * - a softmax (sigmoid) head under a smoothed loss from probabilities, which the fuse pass
 *   turns into the loss from logits: the smoothing carried into the fused loss and its
 *   gradient, against the logits' reference;
 * - a model trained on digits with label_smoothing 0.1: its training loss stays above the
 *   smoothed targets' entropy (0.500 for 10 classes; the loss cannot go below it, and the
 *   unsmoothed model's goes far below), its accuracy as the unsmoothed model's, and its
 *   description keeps the setting through writing, reading, saving and loading;
 * - the errors: a smoothing outside [0, 1], on a loss that is not a cross-entropy, in a
 *   description. KILN_TEST_DEVICE=cuda runs PyTorch's references there. Run from the source
 *   root. */
#define _DEFAULT_SOURCE /* mkdtemp (model_test.h) */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "golden.h"
#include "graph/graph.h"
#include "model_test.h"

#define N 4
#define C 5

static kn_device device = KN_DEVICE_CPU;

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 5, .device = device}, &ctx);
    return ctx;
}

/* float against double: a few roundings of terms up to ~3 */
static bool close_to(double got, double want) { return fabs(got - want) <= 2e-6 + 2e-6 * fabs(want); }

/* How the predictions reach the loss: as given (a parameter), or through a softmax/sigmoid
 * of the record's logits (head), the loss then taken from probabilities and fused. */
typedef enum { DIRECT, HEAD } feed;

/* record's loss and gradient (d/dpred; with a head, d/dlogits) against PyTorch's. */
static void check_record(const char *record, const char *golden_record, kn_loss kind, bool logits, feed how,
                         unsigned passes, bool weighted) {
    double pred[N * C], target[N * C], ls, w[N], want_loss, want_grad[N * C];
    char key[96];
    int nt = kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? N : N * C, ok = 1;
    snprintf(key, sizeof key, "%s_pred", record);
    ok &= get(key, pred, N * C) == N * C;
    snprintf(key, sizeof key, "%s_target", record);
    ok &= get(key, target, nt) == nt;
    snprintf(key, sizeof key, "%s_ls", record);
    ok &= get(key, &ls, 1) == 1;
    ok &= get("weights", w, N) == N;
    snprintf(key, sizeof key, "%s%s_loss", golden_record, weighted ? "_weighted" : "");
    ok &= get(key, &want_loss, 1) == 1;
    snprintf(key, sizeof key, "%s%s_grad", golden_record, weighted ? "_weighted" : "");
    ok &= get(key, want_grad, N * C) == N * C;
    CHECK(ok, "%s: golden records missing", record);
    if (!ok) return;

    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *p = kn_param(g, (int64_t[]){N, C}, 2, KN_INIT_ZEROS, "pred");
    kn_tensor *y = kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? kn_input(g, KN_I32, (int64_t[]){N}, 1, "labels")
                                                                   : kn_input(g, KN_F32, (int64_t[]){N, C}, 2, "target");
    kn_tensor *wt = weighted ? kn_input(g, KN_F32, (int64_t[]){N}, 1, "weights") : NULL;
    kn_tensor *in = p;
    if (how == HEAD) in = kn_act(g, p, kind == KN_LOSS_BINARY_CROSSENTROPY ? KN_SIGMOID : KN_SOFTMAX);
    g->build_phase = KN_PHASE_LOSS;
    kn_tensor *loss = kn_loss_op_smoothed(g, kind, in, y, wt, logits, (float)ls);
    g->build_phase = 0;
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_set_passes(g, passes);
    if (!st) st = kn_graph_compile(g, N, false);
    CHECK(st == KN_OK, "%s: build failed: %s", record, kn_last_error(ctx));
    const char *how_s = how == HEAD ? ", through the head" : "";
    if (!st && how == HEAD && passes == KN_PASS_ALL)
        CHECK(loss->src[0] == p && loss->iparam[1] == 1 && loss->fparam[0] == (float)ls,
              "%s: the head not fused into the smoothed loss", record);
    if (!st) {
        float *pd = kn_tensor_data(p);
        for (int i = 0; i < N * C; i++) pd[i] = (float)pred[i];
        for (int i = 0; i < nt; i++) {
            if (kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) ((int32_t *)kn_tensor_data(y))[i] = (int32_t)target[i];
            else ((float *)kn_tensor_data(y))[i] = (float)target[i];
        }
        for (int i = 0; wt && i < N; i++) ((float *)kn_tensor_data(wt))[i] = (float)w[i];
        st = kn_graph_upload(g); /* (a device's copy of the parameter) */
        if (!st) st = kn_graph_run(g);
        if (!st) st = kn_graph_sync(g);
        CHECK(st == KN_OK, "%s: run failed: %s", record, kn_last_error(ctx));
    }
    if (!st) {
        float got = *(const float *)kn_tensor_data(loss);
        CHECK(close_to(got, want_loss), "%s (passes %#x%s%s): loss %.9g, PyTorch %.9g", record, passes,
              weighted ? ", weighted" : "", how_s, (double)got, want_loss);
        const float *gd = p->grad ? kn_tensor_data(p->grad) : NULL;
        CHECK(gd != NULL, "%s: no gradient", record);
        for (int i = 0, bad = 0; gd && i < N * C; i++)
            if (!close_to(gd[i], want_grad[i]) && bad++ < 3)
                CHECK(0, "%s (passes %#x%s%s): d/dp[%d] %.9g, PyTorch %.9g", record, passes, weighted ? ", weighted" : "",
                      how_s, i, (double)gd[i], want_grad[i]);
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* A graph-level refusal: the loss node's build fails with a one-line message holding want. */
static void check_refused(kn_loss kind, float ls, const char *want) {
    kn_ctx *ctx = new_ctx();
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *p = kn_param(g, (int64_t[]){N, C}, 2, KN_INIT_ZEROS, "pred");
    kn_tensor *y = kn_input(g, KN_F32, (int64_t[]){N, C}, 2, "target");
    kn_tensor *loss = kn_loss_op_smoothed(g, kind, p, y, NULL, false, ls);
    kn_status st = kn_graph_status(g);
    const char *msg = kn_last_error(ctx);
    CHECK(st != KN_OK && loss == NULL && strstr(msg, want) && !strchr(msg, '\n'), "%s with smoothing %g: status %d, '%s'",
          kn_loss_name(kind), (double)ls, (int)st, msg);
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* The model fitted on digits' first 1437 rows, evaluated on the other 360: the last epoch's
 * training loss and the test accuracy; *m_out the model (NULL: freed). */
static void fit_digits(kn_ctx *ctx, const char *text, const float *x, const int32_t *labels, double *loss,
                       double *accuracy, kn_model **m_out) {
    enum { MAX = 1797, TRAIN = 1437 };
    kn_model *m = build(ctx, text);
    kn_dataset *train = NULL, *test = NULL;
    kn_dataset_from_arrays(ctx, x, labels, TRAIN, 64, 10, &train);
    kn_dataset_from_arrays(ctx, x + TRAIN * 64, labels + TRAIN, MAX - TRAIN, 64, 10, &test);
    const kn_history *h = NULL;
    kn_status st = m ? kn_model_fit(m, train, &(kn_fit_opts){.epochs = 30, .batch_size = 32}, &h) : KN_ERR_SPEC;
    kn_eval_report ev = {0};
    if (!st) st = kn_model_evaluate(m, test, &ev);
    CHECK(!st, "digits: %s", kn_last_error(ctx));
    *loss = !st && h ? h->epochs[h->n_epochs - 1].loss : NAN;
    *accuracy = !st ? ev.accuracy : 0;
    kn_dataset_free(train);
    kn_dataset_free(test);
    if (m_out) *m_out = m;
    else kn_model_free(m);
}

#define DIGITS_MODEL(extra)                                                                                          \
    "{\"input_shape\": [64], \"layers\": [{\"type\": \"dense\", \"units\": 32, \"activation\": \"relu\"}, "      \
    "{\"type\": \"dense\", \"units\": 10}], \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}" extra "}"

static void digits_models(void) {
    enum { MAX = 1797 };
    float *x = malloc((size_t)MAX * 64 * sizeof *x);
    int32_t *labels = malloc(MAX * sizeof *labels);
    int64_t n = x && labels ? read_digits(x, labels, MAX) : 0;
    CHECK(n == MAX, "digits: %lld rows", (long long)n);
    if (n != MAX) goto done;
    kn_ctx *ctx = new_ctx();
    double plain_loss, plain_acc, smooth_loss, smooth_acc;
    kn_model *m = NULL;
    fit_digits(ctx, DIGITS_MODEL(""), x, labels, &plain_loss, &plain_acc, NULL);
    fit_digits(ctx, DIGITS_MODEL(", \"label_smoothing\": 0.1"), x, labels, &smooth_loss, &smooth_acc, &m);
    /* the smoothed targets (0.91 for the label, 0.01 for the other 9) have entropy 0.5003:
     * no prediction's cross-entropy with them is lower */
    const double entropy = -(0.91 * log(0.91) + 9 * 0.01 * log(0.01));
    printf("digits, 30 epochs: training loss %.4f, test accuracy %.3f; with label_smoothing 0.1: %.4f (entropy "
           "bound %.4f), %.3f\n",
           plain_loss, plain_acc, smooth_loss, entropy, smooth_acc);
    CHECK(plain_loss < 0.2, "unsmoothed training loss %.4f (the bound below would then not show smoothing)",
          plain_loss);
    CHECK(smooth_loss > entropy && smooth_loss < entropy + 0.15, "smoothed training loss %.4f: not just above %.4f",
          smooth_loss, entropy);
    CHECK(plain_acc > 0.88 && smooth_acc > 0.88, "test accuracy %.3f, smoothed %.3f", plain_acc, smooth_acc);
    /* the setting kept: the description, read back, and through a saved file */
    char *a = NULL, *b = NULL;
    CHECK(m && !kn_model_to_json(m, &a) && strstr(a, "\"label_smoothing\":0.1,") != NULL,
          "the description lacks label_smoothing: %s", a ? a : "(none)");
    float xs[8 * 64];
    memcpy(xs, x, sizeof xs);
    double diff = m ? reload_difference(ctx, m, xs, 8, 10, &b) : 1;
    CHECK(diff == 0 && b && a && strcmp(a, b) == 0, "saved and loaded: predictions differ by %.3g, descriptions:\n%s\n%s",
          diff, a, b);
    kn_model *j = a ? build(ctx, a) : NULL;
    CHECK(j && j->copts.label_smoothing == 0.1f, "read back: label_smoothing %g",
          j ? (double)j->copts.label_smoothing : -1.0);
    kn_model_free(j);
    kn_free(ctx, a);
    kn_free(ctx, b);
    kn_model_free(m);
    kn_ctx_free(ctx);
done:
    free(x);
    free(labels);
}

static void errors(void) {
    check_refused(KN_LOSS_MSE, 0.1f, "label smoothing applies to the cross-entropy losses only");
    check_refused(KN_LOSS_CATEGORICAL_CROSSENTROPY, 1.5f, "label smoothing must be in [0, 1]");
    check_refused(KN_LOSS_CATEGORICAL_CROSSENTROPY, -0.1f, "label smoothing must be in [0, 1]");
    check_refused(KN_LOSS_CATEGORICAL_CROSSENTROPY, NAN, "label smoothing must be in [0, 1]");
    kn_ctx *ctx = new_ctx();
    static const description_case cases[] = {
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}], \"label_smoothing\": 1.5}",
         "label_smoothing"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}], \"label_smoothing\": \"some\"}",
         "label_smoothing"},
        {"{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}], \"label_smoothing\": 0.2}", NULL},
    };
    check_descriptions(ctx, cases, sizeof cases / sizeof cases[0]);
    /* compile: a smoothing on mse is refused, in one line, and the model keeps working */
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = kn_model_from_json(ctx,
                                      "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3}], "
                                      "\"loss\": \"mse\", \"label_smoothing\": 0.1}",
                                      NULL, &m, &spec);
    CHECK(!st, "mse description: %s", kn_last_error(ctx));
    if (!st) st = kn_model_compile(m, &spec.compile);
    const char *msg = kn_last_error(ctx);
    CHECK(st == KN_ERR_SPEC && strstr(msg, "label_smoothing applies to the cross-entropy losses, not mse") &&
              !strchr(msg, '\n'),
          "mse with label_smoothing: status %d, '%s'", (int)st, msg);
    spec.compile.label_smoothing = 0;
    CHECK(m && kn_model_compile(m, &spec.compile) == KN_OK, "recompiled without smoothing: %s", kn_last_error(ctx));
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void golden_cases(void) {
    static const struct {
        const char *record;
        kn_loss kind;
        bool logits;
    } cases[] = {
        {"sparse_logits", KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, true},
        {"sparse_logits_ls1", KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, true},
        {"sparse_probs", KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false},
        {"cce_logits", KN_LOSS_CATEGORICAL_CROSSENTROPY, true},
        {"cce_probs", KN_LOSS_CATEGORICAL_CROSSENTROPY, false},
        {"bce_logits", KN_LOSS_BINARY_CROSSENTROPY, true},
        {"bce_probs", KN_LOSS_BINARY_CROSSENTROPY, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int weighted = 0; weighted < 2; weighted++) {
            check_record(cases[i].record, cases[i].record, cases[i].kind, cases[i].logits, DIRECT, KN_PASS_ALL, weighted);
            check_record(cases[i].record, cases[i].record, cases[i].kind, cases[i].logits, DIRECT, KN_PASS_NONE, weighted);
        }
    /* the heads: the logits' records reached through softmax/sigmoid and a loss from
     * probabilities, fused (passes on) or not (off: the loss from probabilities, then the
     * activation's gradient: the same function, other roundings) */
    static const struct {
        const char *record;
        kn_loss kind;
    } heads[] = {
        {"sparse_logits", KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        {"cce_logits", KN_LOSS_CATEGORICAL_CROSSENTROPY},
        {"bce_logits", KN_LOSS_BINARY_CROSSENTROPY},
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        for (int weighted = 0; weighted < 2; weighted++) {
            check_record(heads[i].record, heads[i].record, heads[i].kind, false, HEAD, KN_PASS_ALL, weighted);
            check_record(heads[i].record, heads[i].record, heads[i].kind, false, HEAD, KN_PASS_NONE, weighted);
        }
}

/* On a device, PyTorch's values only: the digits models' training (60 epochs of a small
 * network) is the CPU's code path above the loss kernels, and takes minutes on the CUDA
 * emulator; test_cuda_ops checks the smoothed losses and a smoothed chain loss there. */
static void on_device(void) { golden_cases(); }

int main(void) {
    golden = read_all("tests/golden/label_smoothing.txt");
    CHECK(golden != NULL, "tests/golden/label_smoothing.txt missing (run from the repository root)");
    if (!golden) return 1;
    int rc = run_on_test_device("test_label_smoothing", &device, on_device);
    if (rc < 0) {
        golden_cases();
        digits_models();
        errors();
        rc = failures != 0;
        printf("test_label_smoothing: %s\n", failures ? "FAILED" : "ok");
    }
    free(golden);
    return rc;
}
