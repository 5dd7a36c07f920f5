/* test_optimized_equal.c — the graph optimizer changes how a model computes, not what:
 * for several MLPs built through the model API, a model compiled with every pass, and one
 * with each pass alone, trains like the same model (same seed, same batches) with no pass
 * at all: the same losses, gradients and parameters after a few steps, the same
 * predictions and evaluation loss afterwards, to float32 rounding. */
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

/* Why 1e-4: fusion changes how sums are ordered (bias and activation in the GEMM epilogue,
 * activation gradients in the backward GEMM, elementwise chains, one optimizer loop) and
 * computes softmax/sigmoid + cross-entropy from the logits with log-sum-exp instead of
 * through probabilities clipped at 1e-7. Each op then differs by a few float32 ulps
 * (~1e-7 relative), which three layers, their gradients and three optimizer steps grow to
 * ~1e-5 at most. A gradient element is a sum over the batch whose rounding scales with its
 * terms, not with the (possibly cancelled) result, so each element is judged against its
 * own magnitude plus a tenth of the tensor's largest: |got - want| <= 1e-4 (|want| +
 * 0.1 max|want|), i.e. 1e-4 relative and 1e-5 of the largest element absolute. Measured
 * here: gradients up to ~3e-6 on that scale; parameters after Adam up to ~2e-5, because
 * Adam divides by sqrt(v) + 1e-7, which amplifies the rounding of a gradient element that
 * is itself at rounding level. A wrong rewrite gives 1e-2 and more. */
#define TOLERANCE 1e-4

enum { BATCH = 32, STEPS = 3, MAX_LAYERS = 3 };

typedef struct {
    const char *name;
    int64_t features;
    int n_layers;
    kn_dense_opts layer[MAX_LAYERS];
    kn_loss loss;
    bool from_logits;
    kn_optimizer opt;
} mlp_case;

/* What one model did: the loss of each step; every gradient (of the last step) and
 * parameter after the steps; predictions and the evaluation loss on the first batch. */
typedef struct {
    float loss[STEPS];
    int n_tensors;
    char name[2 * MAX_LAYERS][32];
    int64_t numel[2 * MAX_LAYERS];
    float *grad[2 * MAX_LAYERS], *param[2 * MAX_LAYERS];
    float *pred;
    double eval_loss;
    bool ok;
} outcome;

static uint64_t rng_state;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(rng_state >> 40) / 8388608.0) - 1.0f;
}

/* The batches every model of a case sees: x (STEPS, BATCH, features), and labels (sparse
 * cross-entropy) or targets (BATCH, outputs) per step: one-hot, 0/1 or real values. */
typedef struct {
    float *x, *targets;
    int32_t *labels;
    int64_t outputs;
} batches;

static batches make_batches(const mlp_case *c) {
    batches b = {0};
    b.outputs = c->layer[c->n_layers - 1].units;
    b.x = malloc(sizeof(float) * STEPS * BATCH * (size_t)c->features);
    b.targets = malloc(sizeof(float) * STEPS * BATCH * (size_t)b.outputs);
    b.labels = malloc(sizeof(int32_t) * STEPS * BATCH);
    rng_state = 2024;
    for (int64_t i = 0; i < STEPS * BATCH * c->features; i++) b.x[i] = frand();
    for (int64_t r = 0; r < STEPS * BATCH; r++) {
        int32_t label = (int32_t)((r * 7 + r / 5) % (b.outputs > 1 ? b.outputs : 2));
        b.labels[r] = label;
        for (int64_t j = 0; j < b.outputs; j++) {
            float *t = &b.targets[r * b.outputs + j];
            switch (c->loss) {
            case KN_LOSS_BINARY_CROSSENTROPY: *t = (float)label; break;
            case KN_LOSS_CATEGORICAL_CROSSENTROPY: *t = j == label ? 1.0f : 0.0f; break;
            default: *t = frand(); break;
            }
        }
    }
    return b;
}

static void free_batches(batches *b) {
    free(b->x);
    free(b->targets);
    free(b->labels);
}

static kn_dataset *first_batch_dataset(kn_ctx *ctx, const mlp_case *c, const batches *b) {
    kn_dataset *ds = NULL;
    if (c->loss == KN_LOSS_MSE || c->loss == KN_LOSS_MAE)
        kn_dataset_from_arrays_regression(ctx, b->x, b->targets, BATCH, c->features, b->outputs, &ds);
    else
        kn_dataset_from_arrays(ctx, b->x, b->labels, BATCH, c->features, b->outputs > 1 ? (int)b->outputs : 2, &ds);
    return ds;
}

static float *copy_floats(const float *src, int64_t n) {
    float *d = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (src) memcpy(d, src, sizeof(float) * (size_t)n);
    else memset(d, 0xff, sizeof(float) * (size_t)(n > 0 ? n : 1)); /* NaN: a missing gradient never matches */
    return d;
}

/* Builds the case's model with the given passes, trains STEPS steps and records it. */
static outcome train(const mlp_case *c, const batches *b, unsigned passes) {
    outcome o = {0};
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 42, .log_level = KN_LOG_WARN}, &ctx);
    kn_model *m = NULL;
    kn_status st = kn_model_new_sequential(ctx, &c->features, 1, &m);
    for (int l = 0; !st && l < c->n_layers; l++) st = kn_model_add_dense_ex(m, &c->layer[l]);
    if (!st) st = kn_model_set_passes(m, passes);
    if (!st) st = kn_model_compile(m, &(kn_compile_opts){.loss = c->loss, .optimizer = c->opt, .from_logits = c->from_logits});
    bool sparse = c->loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    for (int s = 0; !st && s < STEPS; s++) {
        const void *y = sparse ? (const void *)(b->labels + s * BATCH) : (const void *)(b->targets + s * BATCH * b->outputs);
        st = kn_model_train_step(m, b->x + (int64_t)s * BATCH * c->features, y, BATCH, &o.loss[s]);
    }
    CHECK(st == KN_OK, "%s: training with passes 0x%x failed: %s", c->name, passes, kn_last_error(ctx));
    if (!st) {
        for (int l = 0; l < c->n_layers; l++)
            for (int part = 0; part < 2; part++) {
                if (part && c->layer[l].no_bias) continue;
                int k = o.n_tensors++;
                snprintf(o.name[k], sizeof o.name[k], "dense_%d/%s", l, part ? "bias" : "kernel");
                const float *grad = kn_model_grad(m, o.name[k], &o.numel[k]); /* sets numel first */
                o.grad[k] = copy_floats(grad, o.numel[k]);
                o.param[k] = copy_floats(kn_model_param(m, o.name[k], NULL), o.numel[k]);
            }
        o.pred = malloc(sizeof(float) * BATCH * (size_t)b->outputs);
        st = kn_model_predict(m, b->x, BATCH, o.pred);
        kn_dataset *ds = first_batch_dataset(ctx, c, b);
        kn_eval_report r = {0};
        if (!st) st = ds ? kn_model_evaluate(m, ds, &r) : KN_ERR_INVALID_ARGUMENT;
        o.eval_loss = r.loss;
        kn_dataset_free(ds);
        CHECK(st == KN_OK, "%s: predict/evaluate with passes 0x%x failed: %s", c->name, passes, kn_last_error(ctx));
        o.ok = st == KN_OK;
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
    return o;
}

static void free_outcome(outcome *o) {
    for (int k = 0; k < o->n_tensors; k++) free(o->grad[k]), free(o->param[k]);
    free(o->pred);
}

/* The error of got against want, relative to each element with a floor of a tenth of the
 * largest |want| (see TOLERANCE); infinite on a NaN. */
static double rel_error(const float *got, const float *want, int64_t n) {
    double big = 0, worst = 0;
    for (int64_t k = 0; k < n; k++) big = fmax(big, fabs((double)want[k]));
    for (int64_t k = 0; k < n; k++) {
        if (isnan(got[k]) || isnan(want[k])) return INFINITY;
        double d = fabs((double)got[k] - (double)want[k]);
        double e = d == 0 ? 0 : d / (fabs((double)want[k]) + 0.1 * big + 1e-30);
        worst = fmax(worst, e);
    }
    return worst;
}

/* Compares a model trained with some passes against the unoptimized one; returns the worst error. */
static double compare(const mlp_case *c, const char *variant, const outcome *got, const outcome *want, int64_t outputs) {
    double worst = 0;
#define COMPARE(what, a, b, n)                                                                                   \
    do {                                                                                                         \
        double e_ = rel_error(a, b, n);                                                                          \
        CHECK(e_ <= TOLERANCE, "%s, %s: %s differs from the unoptimized model: relative error %.3g > %g", c->name, \
              variant, what, e_, TOLERANCE);                                                                     \
        worst = fmax(worst, e_);                                                                                 \
    } while (0)
    for (int s = 0; s < STEPS; s++) {
        char what[32];
        snprintf(what, sizeof what, "loss of step %d", s + 1);
        COMPARE(what, &got->loss[s], &want->loss[s], 1);
    }
    CHECK(got->n_tensors == want->n_tensors, "%s, %s: %d parameters, expected %d", c->name, variant, got->n_tensors,
          want->n_tensors);
    for (int k = 0; k < got->n_tensors && k < want->n_tensors; k++) {
        char what[48];
        snprintf(what, sizeof what, "gradient of %s", want->name[k]);
        COMPARE(what, got->grad[k], want->grad[k], want->numel[k]);
        COMPARE(want->name[k], got->param[k], want->param[k], want->numel[k]);
    }
    COMPARE("predictions", got->pred, want->pred, BATCH * outputs);
    float ge = (float)got->eval_loss, we = (float)want->eval_loss;
    COMPARE("evaluation loss", &ge, &we, 1);
#undef COMPARE
    return worst;
}

static void run_case(const mlp_case *c) {
    static const struct { const char *name; unsigned passes; } variants[] = {
        {"all passes", KN_PASS_ALL},       {"dce", KN_PASS_DCE},   {"fold", KN_PASS_FOLD},
        {"cse", KN_PASS_CSE},              {"simplify", KN_PASS_SIMPLIFY},
        {"fuse", KN_PASS_FUSE},            {"inplace", KN_PASS_INPLACE},
    };
    batches b = make_batches(c);
    outcome want = train(c, &b, KN_PASS_NONE);
    bool finite = want.ok;
    for (int s = 0; s < STEPS; s++) finite &= isfinite(want.loss[s]) && want.loss[s] > 0;
    CHECK(finite, "%s: the unoptimized model's losses are not finite and positive: %g .. %g", c->name,
          (double)want.loss[0], (double)want.loss[STEPS - 1]);
    printf("%s (loss %.4f -> %.4f)\n", c->name, (double)want.loss[0], (double)want.loss[STEPS - 1]);
    for (size_t v = 0; want.ok && v < sizeof variants / sizeof *variants; v++) {
        outcome got = train(c, &b, variants[v].passes);
        if (got.ok) printf("  %-12s max relative error %.2e\n", variants[v].name, compare(c, variants[v].name, &got, &want, b.outputs));
        free_outcome(&got);
    }
    free_outcome(&want);
    free_batches(&b);
}

int main(void) {
    kn_optimizer sgd = kn_sgd(0.05f), adagrad = kn_adagrad(0.05f), rmsprop = kn_rmsprop(1e-3f);
    sgd.momentum = 0.9f;
    adagrad.clip_norm = 0.1f; /* small enough to clip: the fused optimizer computes the norm itself */
    const mlp_case cases[] = {
        {"784-64-64-10 relu/softmax, sparse cross-entropy, Adam", 784, 3,
         {{.units = 64, .activation = KN_RELU}, {.units = 64, .activation = KN_RELU}, {.units = 10, .activation = KN_SOFTMAX}},
         KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false, kn_adam(1e-3f)},
        {"20-32-16-3 tanh/softmax, categorical cross-entropy, SGD momentum, l2", 20, 3,
         {{.units = 32, .activation = KN_TANH, .l2 = 1e-3f}, {.units = 16, .activation = KN_TANH},
          {.units = 3, .activation = KN_SOFTMAX}},
         KN_LOSS_CATEGORICAL_CROSSENTROPY, false, sgd},
        {"10-8-1 elu/sigmoid, binary cross-entropy, Adagrad clipped", 10, 2,
         {{.units = 8, .activation = KN_ELU}, {.units = 1, .activation = KN_SIGMOID}},
         KN_LOSS_BINARY_CROSSENTROPY, false, adagrad},
        {"5-16-16-2 gelu/leaky_relu/linear, MSE, RMSprop, l2", 5, 3,
         {{.units = 16, .activation = KN_GELU, .l2 = 1e-2f}, {.units = 16, .activation = KN_LEAKY_RELU, .alpha = 0.1f},
          {.units = 2, .activation = KN_LINEAR}},
         KN_LOSS_MSE, false, rmsprop},
        {"6-12-4 relu/logits, sparse cross-entropy from logits, AdamW, l2 twice, no bias", 6, 2,
         {{.units = 12, .activation = KN_RELU, .l2 = 1e-3f}, {.units = 4, .activation = KN_LINEAR, .l2 = 1e-3f, .no_bias = true}},
         KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, true, kn_adamw(1e-2f, 1e-2f)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i]);
    printf(failures ? "%d check(s) failed\n" : "optimized and unoptimized models agree\n", failures);
    return failures ? 1 : 0;
}
