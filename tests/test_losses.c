/* test_losses.c — the losses of one term per element (huber, log_cosh, hinge with 0/1 and
 * -1/1 targets, squared_hinge, poisson, kl_divergence, msle, mape) against PyTorch: the
 * batch's loss and its gradient with respect to the predictions, through a graph (pred, a
 * parameter -> kn_loss_op -> autodiff), the graph optimizer's passes on and off, with and
 * without sample weights of 1 (the weighted kernel). Reference: tests/golden/losses.txt,
 * recorded by tests/golden/make_losses.py. The same for the losses of a row at a time (the
 * focal cross-entropies with their settings, from probabilities and from logits, the latter
 * also through a sigmoid or softmax head; cosine_similarity; categorical_hinge; huber with
 * deltas 0.5 and 2.5). Also:
 * Keras's long names parse, and a model trains with each loss (finite, falling loss). */
#include "check.h"
#include "core/core.h"
#include "golden.h"
#include "graph/graph.h"

#include <math.h>

#define N 4
#define C 3

/* float against double: a few roundings of terms up to ~300 (mape) */
static bool close_to(double got, double want) { return fabs(got - want) <= 1e-5 + 2e-6 * fabs(want); }

/* head: a from-logits record reached through the loss's head (sigmoid or softmax) and the
 * loss from probabilities, which the fuse pass (passes on) turns back into the loss from the
 * logits; passes off, the loss from probabilities and the head's gradient. */
static void check_loss_head(const char *record, kn_loss kind, const kn_loss_options *lo, unsigned passes, bool weighted,
                            bool head) {
    double pred[N * C], target[N * C], want_loss, want_grad[N * C];
    char key[64];
    int ok = 1;
    snprintf(key, sizeof key, "%s_pred", record);
    ok &= get(key, pred, N * C) == N * C;
    snprintf(key, sizeof key, "%s_target", record);
    ok &= get(key, target, N * C) == N * C;
    snprintf(key, sizeof key, "%s_loss", record);
    ok &= get(key, &want_loss, 1) == 1;
    snprintf(key, sizeof key, "%s_grad", record);
    ok &= get(key, want_grad, N * C) == N * C;
    CHECK(ok, "%s: golden records missing", record);
    if (!ok) return;

    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *p = kn_param(g, (int64_t[]){N, C}, 2, KN_INIT_ZEROS, "pred");
    kn_tensor *y = kn_input(g, KN_F32, (int64_t[]){N, C}, 2, "target");
    kn_tensor *w = weighted ? kn_input(g, KN_F32, (int64_t[]){N}, 1, "weights") : NULL;
    g->build_phase = KN_PHASE_LOSS;
    kn_loss_options o = *lo;
    kn_tensor *through = p;
    if (head) {
        o.from_logits = false;
        through = kn_act(g, p, kind == KN_LOSS_BINARY_FOCAL_CROSSENTROPY ? KN_SIGMOID : KN_SOFTMAX);
    }
    kn_tensor *loss = kn_loss_op_with(g, kind, through, y, w, &o);
    g->build_phase = 0;
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_set_passes(g, passes);
    if (!st) st = kn_graph_compile(g, N, false);
    CHECK(st == KN_OK, "%s: build failed: %s", record, kn_last_error(ctx));
    if (!st) {
        float *pd = kn_tensor_data(p), *yd = kn_tensor_data(y);
        for (int i = 0; i < N * C; i++) pd[i] = (float)pred[i], yd[i] = (float)target[i];
        if (w)
            for (int i = 0; i < N; i++) ((float *)kn_tensor_data(w))[i] = 1.0f;
        st = kn_graph_run(g);
        CHECK(st == KN_OK, "%s: run failed: %s", record, kn_last_error(ctx));
    }
    if (!st) {
        float got = *(const float *)kn_tensor_data(loss);
        if (head && passes == KN_PASS_ALL) /* the fuse pass took the head into the loss */
            CHECK(loss->iparam[1] == 1, "%s: the %s head not fused into the loss", record, kn_loss_name(kind));
        CHECK(close_to(got, want_loss), "%s (passes %#x%s): loss %.9g, PyTorch %.9g", record, passes,
              weighted ? ", weighted" : "", (double)got, want_loss);
        const float *gd = p->grad ? kn_tensor_data(p->grad) : NULL;
        CHECK(gd != NULL, "%s: no gradient", record);
        for (int i = 0, bad = 0; gd && i < N * C; i++)
            if (!close_to(gd[i], want_grad[i]) && bad++ < 3)
                CHECK(0, "%s (passes %#x%s): d/dp[%d] %.9g, PyTorch %.9g", record, passes, weighted ? ", weighted" : "", i,
                      (double)gd[i], want_grad[i]);
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void check_loss_with(const char *record, kn_loss kind, const kn_loss_options *lo, unsigned passes, bool weighted) {
    check_loss_head(record, kind, lo, passes, weighted, false);
}

static void check_loss(const char *record, kn_loss kind, unsigned passes, bool weighted) {
    check_loss_with(record, kind, &(kn_loss_options){0}, passes, weighted);
}

/* A small network trained a few epochs with the loss: finite and lower at the end. The
 * data suit the loss: 0/1 classes for the hinges, one-hot classes for kl_divergence
 * (softmax head), positive counts for poisson and msle, values for the rest. */
static void check_trains(kn_loss kind) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 3}, &ctx);
    enum { ROWS = 96, F = 4 };
    float x[ROWS * F], t[ROWS * 2];
    int32_t lab[ROWS];
    bool classes = kind == KN_LOSS_HINGE || kind == KN_LOSS_SQUARED_HINGE || kind == KN_LOSS_KL_DIVERGENCE ||
                   kind == KN_LOSS_BINARY_FOCAL_CROSSENTROPY || kind == KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY ||
                   kind == KN_LOSS_CATEGORICAL_HINGE;
    /* two outputs: a softmax over two classes, two scores, or (cosine) a direction */
    int outs = kind == KN_LOSS_KL_DIVERGENCE || kind == KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY ||
                       kind == KN_LOSS_CATEGORICAL_HINGE || kind == KN_LOSS_COSINE_SIMILARITY
                   ? 2 : 1;
    for (int r = 0; r < ROWS; r++) {
        float s = 0;
        for (int f = 0; f < F; f++) s += (x[r * F + f] = (float)((r * 7 + f * 13) % 17) / 8.0f - 1.0f) * (f + 1);
        lab[r] = s > 0;
        if (kind == KN_LOSS_COSINE_SIMILARITY) t[2 * r] = s + 0.5f, t[2 * r + 1] = 1.0f - 0.3f * s;
        else t[r] = kind == KN_LOSS_POISSON || kind == KN_LOSS_MSLE ? 1.0f + 0.5f * fabsf(s) : s + 3.0f;
    }
    kn_dataset *d = NULL;
    kn_status st = classes ? kn_dataset_from_arrays(ctx, x, lab, ROWS, F, 2, &d)
                           : kn_dataset_from_arrays_regression(ctx, x, t, ROWS, F, classes ? 1 : outs, &d);
    CHECK(st == KN_OK, "%s: dataset: %s", kn_loss_name(kind), kn_last_error(ctx));
    kn_model *m = NULL;
    if (!st) st = kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_activation head = kind == KN_LOSS_KL_DIVERGENCE || kind == KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY ? KN_SOFTMAX
                         : kind == KN_LOSS_BINARY_FOCAL_CROSSENTROPY                                    ? KN_SIGMOID
                         : kind == KN_LOSS_POISSON                                                      ? KN_SOFTPLUS
                                                                                                        : KN_LINEAR;
    if (!st) st = kn_model_add_dense(m, 16, KN_TANH);
    if (!st) st = kn_model_add_dense(m, outs, head);
    kn_compile_opts co = {.loss = kind, .optimizer = kn_adam(0.01f)};
    if (!st) st = kn_model_compile(m, &co);
    const kn_history *h = NULL;
    if (!st) st = kn_model_fit(m, d, &(kn_fit_opts){.epochs = 20, .batch_size = 16, .verbose = 0}, &h);
    CHECK(st == KN_OK, "%s: training failed: %s", kn_loss_name(kind), kn_last_error(ctx));
    if (!st && h) {
        float first = (float)h->epochs[0].loss, last = (float)h->epochs[h->n_epochs - 1].loss;
        CHECK(isfinite(first) && isfinite(last) && last < 0.8f * first, "%s: loss %g -> %g over 20 epochs",
              kn_loss_name(kind), (double)first, (double)last);
    }
    kn_model_free(m);
    kn_dataset_free(d);
    kn_ctx_free(ctx);
}

int main(void) {
    golden = read_all("tests/golden/losses.txt");
    CHECK(golden != NULL, "tests/golden/losses.txt missing (run from the repository root)");
    if (!golden) return 1;
    static const struct { const char *record; kn_loss kind; } cases[] = {
        {"huber", KN_LOSS_HUBER}, {"log_cosh", KN_LOSS_LOG_COSH}, {"hinge", KN_LOSS_HINGE},
        {"hinge_pm", KN_LOSS_HINGE}, {"squared_hinge", KN_LOSS_SQUARED_HINGE}, {"poisson", KN_LOSS_POISSON},
        {"kl_divergence", KN_LOSS_KL_DIVERGENCE}, {"msle", KN_LOSS_MSLE}, {"mape", KN_LOSS_MAPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int weighted = 0; weighted < 2; weighted++) {
            check_loss(cases[i].record, cases[i].kind, KN_PASS_ALL, weighted);
            check_loss(cases[i].record, cases[i].kind, KN_PASS_NONE, weighted);
        }
    /* the losses of a row at a time, with make_losses.py's options */
    static const struct { const char *record; kn_loss kind; kn_loss_options o; } row_cases[] = {
        {"binary_focal", KN_LOSS_BINARY_FOCAL_CROSSENTROPY, {.focal_gamma = 2, .focal_alpha = 0.25f}},
        {"binary_focal_logits", KN_LOSS_BINARY_FOCAL_CROSSENTROPY, {.from_logits = true, .focal_gamma = 2, .focal_alpha = 0.25f}},
        {"binary_focal_balanced", KN_LOSS_BINARY_FOCAL_CROSSENTROPY,
         {.focal_gamma = 1.5f, .focal_alpha = 0.4f, .apply_class_balancing = true, .label_smoothing = 0.1f}},
        {"binary_focal_logits_balanced", KN_LOSS_BINARY_FOCAL_CROSSENTROPY,
         {.from_logits = true, .focal_gamma = 3, .focal_alpha = 0.7f, .apply_class_balancing = true, .label_smoothing = 0.2f}},
        {"binary_focal_gamma0", KN_LOSS_BINARY_FOCAL_CROSSENTROPY, {.focal_gamma = 0, .focal_alpha = 0.25f}},
        {"categorical_focal", KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY, {.focal_gamma = 2, .focal_alpha = 0.25f}},
        {"categorical_focal_logits", KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY,
         {.from_logits = true, .focal_gamma = 2, .focal_alpha = 0.25f}},
        {"categorical_focal_smoothed", KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY,
         {.focal_gamma = 0.5f, .focal_alpha = 0.6f, .label_smoothing = 0.1f}},
        {"categorical_focal_logits_smoothed", KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY,
         {.from_logits = true, .focal_gamma = 1, .focal_alpha = 1, .label_smoothing = 0.3f}},
        {"cosine_similarity", KN_LOSS_COSINE_SIMILARITY, {0}},
        {"categorical_hinge", KN_LOSS_CATEGORICAL_HINGE, {0}},
        {"huber_delta", KN_LOSS_HUBER, {.huber_delta = 0.5f}},
        {"huber_delta_wide", KN_LOSS_HUBER, {.huber_delta = 2.5f}},
    };
    for (size_t i = 0; i < sizeof row_cases / sizeof row_cases[0]; i++)
        for (int weighted = 0; weighted < 2; weighted++) {
            check_loss_with(row_cases[i].record, row_cases[i].kind, &row_cases[i].o, KN_PASS_ALL, weighted);
            check_loss_with(row_cases[i].record, row_cases[i].kind, &row_cases[i].o, KN_PASS_NONE, weighted);
            if (row_cases[i].o.from_logits) { /* the same records through a sigmoid or softmax head */
                check_loss_head(row_cases[i].record, row_cases[i].kind, &row_cases[i].o, KN_PASS_ALL, weighted, true);
                check_loss_head(row_cases[i].record, row_cases[i].kind, &row_cases[i].o, KN_PASS_NONE, weighted, true);
            }
        }
    static const struct { const char *name; kn_loss kind; } names[] = {
        {"huber", KN_LOSS_HUBER}, {"huber_loss", KN_LOSS_HUBER}, {"log_cosh", KN_LOSS_LOG_COSH},
        {"logcosh", KN_LOSS_LOG_COSH}, {"hinge", KN_LOSS_HINGE}, {"squared_hinge", KN_LOSS_SQUARED_HINGE},
        {"poisson", KN_LOSS_POISSON}, {"kl_divergence", KN_LOSS_KL_DIVERGENCE}, {"kld", KN_LOSS_KL_DIVERGENCE},
        {"msle", KN_LOSS_MSLE}, {"mean_squared_logarithmic_error", KN_LOSS_MSLE}, {"mape", KN_LOSS_MAPE},
        {"mean_absolute_percentage_error", KN_LOSS_MAPE}, {"mean_squared_error", KN_LOSS_MSE},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        kn_loss l;
        CHECK(kn_loss_parse(names[i].name, &l) && l == names[i].kind, "loss name %s", names[i].name);
    }
    for (int k = KN_LOSS_HUBER; k < KN_LOSS_COUNT; k++) check_trains((kn_loss)k);
    free(golden);
    printf("test_losses: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
