/* test_precision.c — mixed-precision training (graph/passes/precision.c and the kernels
 * that read and write half tensors, backend/cpu/half_support.c):
 *  - the precision pass stores every activation and activation gradient of an MLP in the
 *    half type, and parameters, their gradients, losses and kept outputs in f32; the
 *    planned arena of the reference MLP's training step is at most 55% of fp32's;
 *  - one training step in bf16 and fp16 gives the loss and parameter gradients of the f32
 *    step within what half storage explains, for every activation and loss kind the
 *    half kernels cover, and the same bits on 1 and 3 threads;
 *  - the same for small convolutional networks (conv2d, max and average pooling, dropout,
 *    batch norm, layer norm, 'same' padding, stride 2, a 1x1 convolution), and cnn.json's network's
 *    planned arena at batch 128 in bf16 is at most 55% of fp32's;
 *  - the reference MLP (784-64-64-10, Adam, batch 32, 10 epochs) trained on Fashion-MNIST
 *    in bf16 and in fp16 reaches the f32 model's test accuracy within 1 point (argument
 *    `fmnist`: ctest's test_precision_fmnist, labelled slow; skipped, exit 77, when the
 *    dataset is not installed). */
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/model.h"

enum { IN = 24, HID = 16, CLASSES = 5, ROWS = 48 };

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

typedef struct {
    kn_activation hidden, head;
    kn_loss loss;
    bool from_logits;
} config;

static kn_model *build(kn_ctx *ctx, const config *c, kn_precision p, int64_t in, int64_t hid, int64_t classes) {
    kn_model *m;
    if (kn_model_new_sequential(ctx, (int64_t[]){in}, 1, &m)) return NULL;
    kn_model_add_dense(m, hid, c->hidden);
    kn_model_add_dense(m, hid, c->hidden);
    kn_model_add_dense(m, classes, c->head);
    kn_optimizer opt = kn_adam(1e-3f);
    if (kn_model_compile(m, &(kn_compile_opts){.loss = c->loss, .optimizer = opt, .from_logits = c->from_logits,
                                                .precision = p})) {
        kn_model_free(m);
        return NULL;
    }
    return m;
}

/* ||a - b|| / ||b|| */
static double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), s += (double)b[i] * b[i];
    return sqrt(d / (s > 0 ? s : 1));
}

/* A model under test: an MLP's config, or a small CNN's variant (cnn non-zero). */
typedef struct {
    config c;
    int cnn;
    double bf16_tol; /* bf16's gradient tolerance when not the usual 3e-2 */
} spec;

static kn_model *build_cnn(kn_ctx *ctx, int variant, kn_precision p);

/* Features a sample of the model under test has. */
static int64_t features(const spec *sp);

/* One train step of a model in precision p on fixed data; its loss and a copy of the
 * gradients (the caller frees). */
static float *step_spec(const spec *sp, kn_precision p, int threads, float *loss, kn_model **keep) {
    const config *c = &sp->c;
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 7}, &ctx);
    kn_model *m = sp->cnn ? build_cnn(ctx, sp->cnn, p) : build(ctx, c, p, IN, HID, CLASSES);
    if (!m) {
        printf("build: %s\n", kn_last_error(ctx));
        return NULL;
    }
    int64_t in = features(sp);
    float *x = malloc((size_t)(ROWS * in) * sizeof(float));
    static float yf[ROWS * CLASSES];
    static int32_t lab[ROWS];
    uint64_t s = 11;
    for (int i = 0; i < ROWS * in; i++) x[i] = 2.0f * frand(&s);
    for (int r = 0; r < ROWS; r++) {
        lab[r] = (int32_t)((frand(&s) + 1) * 0.5f * CLASSES) % CLASSES;
        for (int k = 0; k < CLASSES; k++) yf[r * CLASSES + k] = c->loss == KN_LOSS_MSE ? frand(&s) : k == lab[r];
    }
    const void *y = c->loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? (const void *)lab : (const void *)yf;
    kn_status st = kn_model_train_step(m, x, y, ROWS, loss);
    free(x);
    CHECK(!st, "train_step %s: %s", kn_precision_name(p), kn_last_error(ctx));
    if (st) return NULL;
    kn_graph *g = m->graph;
    float *grads = malloc(g->param_floats * sizeof(float));
    memcpy(grads, g->grad_buf, g->param_floats * sizeof(float));
    if (keep) *keep = m;
    else {
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
    return grads;
}


/* What the pass made half in a training graph: every planned, non-scalar tensor the caller
 * does not read but the targets; the rest f32. */
static void check_placement(const kn_model *m, kn_dtype half, const char *what) {
    const kn_graph *g = m->graph;
    int n_half = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        /* targets and sample weights are read exactly (the loss's slots 1 and 3) */
        bool f32_only = t->op == KN_OP_PARAM || (t->flags & (KN_FLAG_EXTERNAL | KN_FLAG_KEEP)) || t->ndim == 0 ||
                        t->dtype == KN_I32 || t->op == KN_OP_OPTIMIZER || (t->op == KN_OP_INPUT && t != m->x);
        if (f32_only) {
            CHECK(t->dtype == KN_F32 || t->dtype == KN_I32, "%s: %s (%s) should stay f32", what, t->name, t->fused);
        } else {
            CHECK(t->dtype == half, "%s: %s (%s%s%s) is %s, not %s", what, t->name, kn__op_info(t->op)->name,
                  t->fused[0] ? " " : "", t->fused, kn_dtype_name(t->dtype), kn_dtype_name(half));
            n_half += t->dtype == half;
        }
    }
    CHECK(n_half >= 5, "%s: only %d half tensors", what, n_half);
}

static void check_spec(const spec *sp, const char *name) {
    float loss32, loss_h;
    float *g32 = step_spec(sp, KN_PRECISION_FP32, 2, &loss32, NULL);
    for (kn_precision p = KN_PRECISION_BF16; p <= KN_PRECISION_FP16; p++) {
        kn_model *m = NULL;
        float *gh = step_spec(sp, p, 2, &loss_h, &m);
        float *gh1 = step_spec(sp, p, 1, &(float){0}, NULL), *gh3 = step_spec(sp, p, 3, &(float){0}, NULL);
        if (!g32 || !gh || !gh1 || !gh3 || !m) {
            CHECK(false, "%s %s: no result", name, kn_precision_name(p));
            continue;
        }
        size_t n = m->graph->param_floats;
        /* half storage rounds each activation to 8 (bf16) or 11 (fp16) significant bits;
         * a regression's pred - y cancels, which magnifies that rounding (MSE: 4.4e-3 fp16) */
        double tol = p == KN_PRECISION_BF16 ? (sp->bf16_tol > 0 ? sp->bf16_tol : 3e-2) : 1e-2;
        double e = rel_err(gh, g32, n), el = fabs((double)loss_h - loss32) / fabs((double)loss32);
        printf("%-28s %s: loss %.6f vs %.6f (rel %.1e), gradients rel %.1e\n", name, kn_precision_name(p), loss_h,
               loss32, el, e);
        CHECK(e < tol, "%s %s: gradients differ from f32 by %.2e (tolerance %.0e)", name, kn_precision_name(p), e, tol);
        CHECK(el < (p == KN_PRECISION_BF16 ? 3e-2 : 1e-2), "%s %s: loss %g vs f32 %g", name, kn_precision_name(p), loss_h, loss32);
        CHECK(memcmp(gh1, gh3, n * sizeof(float)) == 0 && memcmp(gh1, gh, n * sizeof(float)) == 0,
              "%s %s: gradients differ between 1, 2 and 3 threads", name, kn_precision_name(p));
        char what[64];
        snprintf(what, sizeof what, "%s %s", name, kn_precision_name(p));
        check_placement(m, p == KN_PRECISION_BF16 ? KN_BF16 : KN_F16, what);
        kn_ctx *ctx = m->ctx;
        kn_model_free(m);
        kn_ctx_free(ctx);
        free(gh), free(gh1), free(gh3);
    }
    free(g32);
}

static void check_config(const config *c, const char *name) { check_spec(&(spec){*c, 0, 0}, name); }

/* ------------------------------------------------------------- convolutional networks */

enum { CNN_H = 12, CNN_W = 12 };

static int64_t features(const spec *sp) { return sp->cnn ? CNN_H * CNN_W : IN; }

/* Variant 1, models/cnn.json's layers, small: conv2d relu, conv2d relu, max_pool2d (its
 * windows tile the image: the fused relu gradient at the maximum), dropout, flatten, dense
 * relu, dense softmax. Variant 2: a 'same' conv2d, batch norm, relu, a stride-2 'same'
 * conv2d, average pooling, a 1x1 conv2d, an overlapping max_pool2d (stride 1), dropout,
 * dense relu, dense softmax. Variant 3: cnn.json's network itself (28x28x1). Variant 4:
 * variant 1 with tanh and average pooling, smooth throughout (see check_cnns). Variant 5:
 * variant 4 with a layer norm after the first convolution (each position's channels) and
 * after the hidden dense layer (its features), without dropout. */
static kn_model *build_cnn(kn_ctx *ctx, int variant, kn_precision p) {
    kn_model *m;
    int64_t side = variant == 3 ? 28 : CNN_H;
    if (kn_model_new_sequential(ctx, (int64_t[]){side, side, 1}, 3, &m)) return NULL;
    kn_status st = KN_OK;
    if (variant == 2) {
        st = st ? st : kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 4, .kernel_h = 3, .kernel_w = 3, .same = true});
        st = st ? st : kn_model_add_batch_norm(m, 0.99f, 1e-3f);
        st = st ? st : kn_model_add_activation(m, KN_RELU);
        st = st ? st : kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 8, .kernel_h = 3, .kernel_w = 3, .stride_h = 2,
                                                                .stride_w = 2, .same = true, .activation = KN_RELU});
        st = st ? st : kn_model_add_pool2d(m, KN_POOL_AVG, 2, 2, 0, 0, false);
        st = st ? st : kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 6, .kernel_h = 1, .kernel_w = 1,
                                                                .activation = KN_RELU});
        st = st ? st : kn_model_add_pool2d(m, KN_POOL_MAX, 2, 2, 1, 1, false);
        st = st ? st : kn_model_add_dropout(m, 0.25f);
    } else if (variant == 5) {
        st = st ? st : kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 4, .kernel_h = 3, .kernel_w = 3});
        st = st ? st : kn_model_add_layer_norm(m, 1e-3f, true, true);
        st = st ? st : kn_model_add_activation(m, KN_TANH);
        st = st ? st : kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 8, .kernel_h = 3, .kernel_w = 3,
                                                                .activation = KN_TANH});
        st = st ? st : kn_model_add_pool2d(m, KN_POOL_AVG, 2, 2, 0, 0, false);
        st = st ? st : kn_model_add_flatten(m);
        st = st ? st : kn_model_add_dense(m, 16, KN_LINEAR);
        st = st ? st : kn_model_add_layer_norm(m, 1e-3f, true, true);
    } else {
        int64_t f = variant == 3 ? 32 : 4;
        kn_activation A = variant == 4 ? KN_TANH : KN_RELU;
        st = st ? st : kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = f, .kernel_h = 3, .kernel_w = 3,
                                                                .activation = A});
        st = st ? st : kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 2 * f, .kernel_h = 3, .kernel_w = 3,
                                                                .activation = A});
        st = st ? st : kn_model_add_pool2d(m, variant == 4 ? KN_POOL_AVG : KN_POOL_MAX, 2, 2, 0, 0, false);
        st = st ? st : kn_model_add_dropout(m, 0.25f);
    }
    kn_activation A = variant >= 4 ? KN_TANH : KN_RELU;
    if (variant == 5) { /* (its hidden dense layer and layer norm are above) */
        st = st ? st : kn_model_add_activation(m, A);
    } else {
        st = st ? st : kn_model_add_flatten(m);
        st = st ? st : kn_model_add_dense(m, variant == 3 ? 128 : 16, A);
    }
    if (variant == 3) st = st ? st : kn_model_add_dropout(m, 0.5f);
    st = st ? st : kn_model_add_dense(m, variant == 3 ? 10 : CLASSES, KN_SOFTMAX);
    st = st ? st : kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                                                          .optimizer = kn_adam(1e-3f), .precision = p});
    if (st) {
        kn_model_free(m);
        return NULL;
    }
    return m;
}

/* cnn.json's network's planned training arena at batch 128 in each precision. */
static void check_cnn_memory(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 1}, &ctx);
    size_t bytes[KN_PRECISION_COUNT] = {0};
    for (kn_precision p = 0; p < KN_PRECISION_COUNT; p++) {
        kn_model *m = build_cnn(ctx, 3, p);
        kn_graph_report r;
        CHECK(m && !kn_model_graph_report(m, 128, true, &r, NULL), "cnn report: %s", kn_last_error(ctx));
        bytes[p] = r.arena_bytes;
        kn_model_free(m);
    }
    for (kn_precision p = KN_PRECISION_BF16; p <= KN_PRECISION_FP16; p++) {
        double ratio = (double)bytes[p] / (double)bytes[KN_PRECISION_FP32];
        printf("cnn.json network, batch 128: %s arena %zu bytes, fp32 %zu: %.1f%%\n", kn_precision_name(p), bytes[p],
               bytes[KN_PRECISION_FP32], 100 * ratio);
        CHECK(ratio <= 0.55, "cnn %s: arena %.1f%% of fp32's (at most 55%%)", kn_precision_name(p), 100 * ratio);
    }
    kn_ctx_free(ctx);
}

/* bf16 keeps 8 significant bits, and a relu or a max pooling turns a rounding into a
 * discrete change: a pre-activation near 0 changes sign, or two near-equal window values
 * change which one is the maximum, and a whole gradient term moves. The smooth variant
 * (tanh, average pooling) shows the kernels themselves within the usual tolerance (bf16
 * 4.9e-3 against fp16's 6.1e-4: about the 8x of three fewer bits); cnn.json's
 * relu and max pooling in bf16 get 6e-2 (4.4e-2 measured; fp16 5.6e-4). */
static void check_cnns(void) {
    const kn_loss sce = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    check_spec(&(spec){{.loss = sce}, 4, 0}, "cnn tanh/avgpool/dropout");
    check_spec(&(spec){{.loss = sce}, 1, 6e-2}, "cnn relu/maxpool/dropout");
    check_spec(&(spec){{.loss = sce}, 2, 0}, "cnn bn/same/stride2/avg/1x1");
    check_spec(&(spec){{.loss = sce}, 5, 0}, "cnn layer norms, tanh/avgpool");
    check_cnn_memory();
}

/* The reference MLP's planned training arena in each precision, at batch 32 and 256. */
static void check_memory(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 1}, &ctx);
    config c = {KN_RELU, KN_SOFTMAX, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false};
    for (int64_t batch = 32; batch <= 256; batch *= 8) {
        size_t bytes[KN_PRECISION_COUNT] = {0};
        for (kn_precision p = 0; p < KN_PRECISION_COUNT; p++) {
            kn_model *m = build(ctx, &c, p, 784, 64, 10);
            kn_graph_report r;
            CHECK(m && !kn_model_graph_report(m, batch, true, &r, NULL), "report: %s", kn_last_error(ctx));
            bytes[p] = r.arena_bytes;
            kn_model_free(m);
        }
        for (kn_precision p = KN_PRECISION_BF16; p <= KN_PRECISION_FP16; p++) {
            double ratio = (double)bytes[p] / (double)bytes[KN_PRECISION_FP32];
            printf("reference MLP, batch %lld: %s arena %zu bytes, fp32 %zu: %.1f%%\n", (long long)batch,
                   kn_precision_name(p), bytes[p], bytes[KN_PRECISION_FP32], 100 * ratio);
            CHECK(ratio <= 0.55, "batch %lld %s: arena %.1f%% of fp32's (at most 55%%)", (long long)batch,
                  kn_precision_name(p), 100 * ratio);
        }
    }
    kn_ctx_free(ctx);
}

/* The reference recipe on Fashion-MNIST in each precision: test accuracy within 1 point. */
static int check_reference_mlp(void) {
    double acc[KN_PRECISION_COUNT] = {0};
    for (kn_precision p = 0; p < KN_PRECISION_COUNT; p++) {
        kn_ctx *ctx;
        kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 42}, &ctx);
        kn_dataset *train, *test;
        kn_status st = kn_dataset_load(ctx, "fashion-mnist", &train, &test);
        if (st == KN_ERR_IO) {
            printf("SKIP the Fashion-MNIST part: %s\n", kn_last_error(ctx));
            kn_ctx_free(ctx);
            return 77;
        }
        config c = {KN_RELU, KN_SOFTMAX, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false};
        kn_model *m = build(ctx, &c, p, 784, 64, 10);
        const kn_history *h;
        kn_eval_report e;
        st = kn_model_fit(m, train, &(kn_fit_opts){.epochs = 10, .batch_size = 32, .verbose = 0}, &h);
        if (!st) st = kn_model_evaluate(m, test, &e);
        CHECK(!st, "%s: %s", kn_precision_name(p), kn_last_error(ctx));
        if (!st) {
            acc[p] = e.accuracy;
            printf("reference MLP %s: test accuracy %.4f, %.3f s/epoch, %lld skipped steps\n", kn_precision_name(p),
                   e.accuracy, h->seconds_per_epoch, (long long)h->skipped_steps);
        }
        kn_model_free(m);
        kn_dataset_free(train);
        kn_dataset_free(test);
        kn_ctx_free(ctx);
    }
    for (kn_precision p = KN_PRECISION_BF16; p <= KN_PRECISION_FP16; p++)
        CHECK(fabs(acc[p] - acc[KN_PRECISION_FP32]) <= 0.01, "%s accuracy %.4f vs fp32 %.4f: more than 1 point apart",
              kn_precision_name(p), acc[p], acc[KN_PRECISION_FP32]);
    return 0;
}


/* The graph API: kn_graph_set_precision on a hand-built graph keeps its inputs f32 (the
 * caller writes them as floats) and makes the hidden activations half; fp16's loss scale
 * multiplies the gradients exactly (a power of two); misuse is refused. */
static float *raw_graph_grads(kn_precision p, float scale, bool *ok) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 3}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_status st = kn_graph_set_precision(g, p);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 6}, 2, "x");
    kn_tensor *y = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 3}, 2, "y");
    kn_tensor *w1 = kn_param(g, (int64_t[]){6, 8}, 2, KN_INIT_GLOROT_UNIFORM, "w1");
    kn_tensor *w2 = kn_param(g, (int64_t[]){8, 3}, 2, KN_INIT_GLOROT_UNIFORM, "w2");
    kn_tensor *h = kn_act(g, kn_matmul(g, x, w1), KN_TANH);
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_MSE, kn_matmul(g, h, w2), y, false);
    kn_graph_keep(g, loss);
    if (!st) st = kn_graph_backward(g, loss);
    CHECK(kn_graph_set_precision(g, KN_PRECISION_BF16) == KN_ERR_STATE, "set_precision after backward accepted");
    if (!st) st = kn_graph_compile(g, 4, true);
    if (!st) st = kn_graph_set_loss_scale(g, scale);
    CHECK(kn_graph_set_loss_scale(g, 0) == KN_ERR_INVALID_ARGUMENT, "loss scale 0 accepted");
    float *xd = kn_tensor_data(x), *yd = kn_tensor_data(y);
    for (int i = 0; i < 24; i++) xd[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    for (int i = 0; i < 12; i++) yd[i] = (float)((i * 5) % 7) / 3.0f - 1.0f;
    if (!st) st = kn_graph_run(g);
    CHECK(!st, "raw graph %s: %s", kn_precision_name(p), kn_last_error(ctx));
    *ok = !st;
    float *grads = malloc(g->param_floats * sizeof(float));
    memcpy(grads, g->grad_buf, g->param_floats * sizeof(float));
    CHECK(x->dtype == KN_F32 && y->dtype == KN_F32, "raw graph: inputs must stay f32");
    if (p != KN_PRECISION_FP32)
        CHECK(kn__is_half(h), "raw graph %s: the hidden activation is %s", kn_precision_name(p), kn_dtype_name(h->dtype));
    kn_graph_free(g);
    kn_ctx_free(ctx);
    return grads;
}

static void check_graph_api(void) {
    bool ok1, ok2, ok3;
    float *f32 = raw_graph_grads(KN_PRECISION_FP32, 1, &ok1), *h1 = raw_graph_grads(KN_PRECISION_FP16, 1, &ok2),
          *h1024 = raw_graph_grads(KN_PRECISION_FP16, 1024, &ok3);
    if (ok1 && ok2 && ok3) {
        double e = rel_err(h1, f32, 6 * 8 + 8 * 3);
        bool exact = true;
        for (int i = 0; i < 6 * 8 + 8 * 3; i++) exact &= h1024[i] == h1[i] * 1024;
        printf("graph API fp16: gradients rel %.1e from f32; loss scale 1024 multiplies them exactly: %s\n", e,
               exact ? "yes" : "no");
        CHECK(e < 1e-2, "raw graph fp16: gradients differ from f32 by %.2e", e);
        CHECK(exact, "raw graph fp16: loss scale 1024 did not multiply the gradients exactly");
    }
    free(f32), free(h1), free(h1024);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "fmnist") == 0) { /* ctest's test_precision_fmnist (label slow) */
        int skip = check_reference_mlp();
        if (failures) printf("%d failure(s)\n", failures);
        return failures ? 1 : skip;
    }
    const struct { config c; const char *name; } configs[] = {
        {{KN_RELU, KN_SOFTMAX, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false}, "relu/softmax sparse CE"},
        {{KN_GELU, KN_LINEAR, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, true}, "gelu/logits sparse CE"},
        {{KN_TANH, KN_SOFTMAX, KN_LOSS_CATEGORICAL_CROSSENTROPY, false}, "tanh/softmax CE"},
        {{KN_ELU, KN_SIGMOID, KN_LOSS_BINARY_CROSSENTROPY, false}, "elu/sigmoid BCE"},
        {{KN_LEAKY_RELU, KN_LINEAR, KN_LOSS_MSE, false}, "leaky_relu/linear MSE"},
        {{KN_SIGMOID, KN_LINEAR, KN_LOSS_MAE, false}, "sigmoid/linear MAE"},
    };
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) check_config(&configs[i].c, configs[i].name);
    check_memory();
    check_cnns();
    check_graph_api();
    if (failures) printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
