/* test_conv1d.c — the sequence layers (Keras's Conv1D with valid, same and causal padding,
 * MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D) and
 * GlobalMaxPooling2D, all views of the 2-D ops. The graph builders against PyTorch
 * (tests/golden/conv1d.txt from tests/golden/make_conv1d.py: forward values and the
 * gradients of x and the kernel, every pass on and off); a small 1-D CNN's predictions
 * against PyTorch's with the same weights; finite differences of every parameter of small
 * models holding each new layer; a 1-D CNN trained on sequences (fp32 and bf16), saved and
 * loaded (same predictions, parameters and description; its batch norm folded into the
 * convolution when loaded); a reshape between layers viewed as declared; and bad layers,
 * descriptions and graph calls refused, each with one line naming the layer and field. */
#define _GNU_SOURCE
#include "graph/graph.h"
#include "io/spec.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "golden.h"
#include "layer_test.h"

/* ------------------------------------------------------------- builders against PyTorch */

typedef enum { G_CONV, G_MAX, G_AVG, G_GAVG, G_GMAX } gkind;
typedef struct {
    const char *name; /* the records' prefix in conv1d.txt */
    gkind kind;
    int n, steps, c;
    int k, f, s, d;   /* window (pool size), filters, stride, dilation */
    kn_padding padding;
} gcase;

/* make_conv1d.py's cases, in its order */
static const gcase GCASES[] = {
    {"valid", G_CONV, 2, 11, 3, 3, 4, 1, 1, KN_PADDING_VALID},
    {"same_k4", G_CONV, 2, 10, 3, 4, 4, 1, 1, KN_PADDING_SAME},
    {"same_s2", G_CONV, 2, 11, 3, 3, 4, 2, 1, KN_PADDING_SAME},
    {"valid_s2", G_CONV, 2, 11, 3, 3, 4, 2, 1, KN_PADDING_VALID},
    {"valid_d2", G_CONV, 2, 12, 2, 3, 3, 1, 2, KN_PADDING_VALID},
    {"same_d2", G_CONV, 2, 9, 2, 3, 3, 1, 2, KN_PADDING_SAME},
    {"causal", G_CONV, 2, 9, 3, 3, 4, 1, 1, KN_PADDING_CAUSAL},
    {"causal_d2", G_CONV, 2, 9, 2, 3, 3, 1, 2, KN_PADDING_CAUSAL},
    {"causal_s3", G_CONV, 2, 10, 2, 4, 3, 3, 1, KN_PADDING_CAUSAL},
    {"causal_k5", G_CONV, 3, 3, 1, 5, 2, 1, 1, KN_PADDING_CAUSAL},
    {"max_valid", G_MAX, 2, 9, 3, 2, 0, 2, 1, KN_PADDING_VALID},
    {"max_same", G_MAX, 2, 9, 3, 3, 0, 2, 1, KN_PADDING_SAME},
    {"avg_valid", G_AVG, 2, 9, 3, 2, 0, 2, 1, KN_PADDING_VALID},
    {"avg_same", G_AVG, 2, 9, 3, 3, 0, 2, 1, KN_PADDING_SAME},
    {"avg_same_s1", G_AVG, 2, 8, 2, 3, 0, 1, 1, KN_PADDING_SAME},
    {"gavg", G_GAVG, 2, 7, 3, 0, 0, 0, 0, KN_PADDING_VALID},
    {"gmax", G_GMAX, 2, 7, 3, 0, 0, 0, 0, KN_PADDING_VALID},
    {"gavg_long", G_GAVG, 2, 510, 2, 0, 0, 0, 0, KN_PADDING_VALID},
    {"gmax_long", G_GMAX, 2, 300, 2, 0, 0, 0, 0, KN_PADDING_VALID},
};

/* Record <case>.<what> of n numbers into dst as floats; false (a failure counted) if absent. */
static bool fill_record(float *dst, const char *cs, const char *what, int64_t n) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", cs, what);
    double *v = golden_record(name, n);
    for (int64_t i = 0; v && i < n; i++) dst[i] = (float)v[i];
    free(v);
    return v != NULL;
}

static void compare_record(const char *cs, const char *what, const float *got, int64_t n, unsigned passes) {
    char name[64], label[80];
    snprintf(name, sizeof name, "%s.%s", cs, what);
    snprintf(label, sizeof label, "%s%s", name, passes ? "" : " (no passes)");
    double *want = golden_record(name, n);
    /* 1e-5 of 1 + |value|: float32 sums of at most a few hundred terms against float64 */
    if (want) compare_golden(label, got, want, (int)n, 1e-5);
    free(want);
}

/* x a parameter (for its gradient), a conv's kernel too; loss = sum(op(x) * dy). */
static void golden_case(const gcase *gc, unsigned passes) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 1}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_graph_set_passes(g, passes);
    int64_t nx = (int64_t)gc->n * gc->steps * gc->c, nk = (int64_t)gc->k * gc->c * gc->f;
    kn_tensor *x = kn_param(g, (int64_t[]){gc->n, gc->steps, gc->c}, 3, KN_INIT_ZEROS, "x");
    kn_tensor *k = NULL;
    if (gc->kind == G_CONV) k = kn_param(g, (int64_t[]){(int64_t)gc->k * gc->c, gc->f}, 2, KN_INIT_ZEROS, "k");
    bool same = gc->padding == KN_PADDING_SAME;
    kn_tensor *y = gc->kind == G_CONV ? kn_conv1d(g, x, k, gc->k, gc->s, gc->d, gc->padding)
                   : gc->kind == G_MAX ? kn_max_pool1d(g, x, gc->k, gc->s, same)
                   : gc->kind == G_AVG ? kn_avg_pool1d(g, x, gc->k, gc->s, same)
                   : gc->kind == G_GAVG ? kn_global_avg_pool1d(g, x)
                                        : kn_global_max_pool1d(g, x);
    kn_tensor *dy = y ? kn_input(g, KN_F32, y->shape, y->ndim, "dy") : NULL;
    if (!y || !lt_compile_projected(g, y, dy, gc->name)) {
        CHECK(y != NULL, "%s: build: %s", gc->name, kn_last_error(ctx));
        goto done;
    }
    int64_t ny = kn__numel(y); /* golden_record checks it against PyTorch's output size */
    bool ok = fill_record(x->data, gc->name, "x", nx) && fill_record(dy->data, gc->name, "dy", ny);
    if (k) ok = ok && fill_record(k->data, gc->name, "kernel", nk);
    if (!ok) goto done;
    kn_graph_upload(g);
    CHECK(!kn_graph_run(g), "%s: run: %s", gc->name, kn_last_error(ctx));
    kn_graph_sync(g);
    compare_record(gc->name, "y", y->data, ny, passes);
    compare_record(gc->name, "dx", x->grad->data, nx, passes);
    if (k) compare_record(gc->name, "dkernel", k->grad->data, nk, passes);
done:
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* The CNN of make_conv1d.py's model_case, built from C with PyTorch's weights. */
static kn_model *golden_model(kn_ctx *ctx) {
    kn_model *m = NULL;
    kn_model_new_sequential(ctx, (int64_t[]){12, 2}, 2, &m);
    kn_status st = kn_model_add_conv1d(m, &(kn_conv1d_opts){.filters = 6, .kernel_size = 3, .padding = KN_PADDING_CAUSAL,
                                                            .activation = KN_RELU});
    if (!st) st = kn_model_add_pool1d(m, KN_POOL_MAX, 2, 0, false);
    if (!st) st = kn_model_add_conv1d(m, &(kn_conv1d_opts){.filters = 5, .kernel_size = 2, .dilation = 2,
                                                           .padding = KN_PADDING_SAME, .activation = KN_TANH});
    if (!st) st = kn_model_add_pool1d(m, KN_POOL_AVG, 2, 1, true);
    if (!st) st = kn_model_add_global_pool1d(m, KN_POOL_AVG);
    if (!st) st = kn_model_add_dense(m, 3, KN_SOFTMAX);
    if (!st) st = kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                                                        .optimizer = kn_adam(1e-3f)});
    CHECK(!st, "golden model: %s", kn_last_error(ctx));
    if (st) {
        kn_model_free(m);
        return NULL;
    }
    return m;
}

static void test_model_golden(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 3}, &ctx);
    kn_model *m = golden_model(ctx);
    if (!m) goto done;
    char summary[512];
    kn_model_summary(m, summary, sizeof summary);
    printf("%s\n", summary);
    CHECK(strstr(summary, "-> conv1d 6 kernel 3 causal relu -> max_pool1d 2 -> conv1d 5 kernel 2 dilation 2 same tanh "
                          "-> average_pool1d 2 stride 1 same -> global_average_pool1d -> dense 3 softmax (125 parameters)"),
          "summary: %s", summary);
    static const char *const names[] = {"conv1d_0/kernel", "conv1d_0/bias", "conv1d_1/kernel", "conv1d_1/bias",
                                        "dense_0/kernel", "dense_0/bias"};
    for (int i = 0; i < 6; i++) {
        int64_t n = 0;
        float *w = kn_model_param(m, names[i], &n);
        CHECK(w != NULL, "no parameter %s", names[i]);
        if (!w || !fill_record(w, "model", names[i], n)) goto done;
    }
    static float x[4 * 12 * 2], y[4 * 3];
    if (!fill_record(x, "model", "x", 4 * 12 * 2)) goto done;
    CHECK(!kn_model_predict(m, x, 4, y), "predict: %s", kn_last_error(ctx));
    compare_record("model", "y", y, 4 * 3, 1);
    /* saved and loaded (its weights then constants of an inference graph): the same bits */
    char dir[] = "/tmp/kiln_conv1d_XXXXXX", path[128];
    if (!mkdtemp(dir)) goto done;
    snprintf(path, sizeof path, "%s/golden.kiln", dir);
    kn_model *r = NULL;
    CHECK(!kn_model_save(m, path) && !kn_model_load(ctx, path, NULL, &r), "save and load: %s", kn_last_error(ctx));
    static float yr[4 * 3];
    CHECK(r && !kn_model_predict(r, x, 4, yr) && memcmp(y, yr, sizeof y) == 0,
          "the loaded model predicts other values (%g against %g)", (double)yr[0], (double)y[0]);
    kn_model_free(r);
    unlink(path);
    rmdir(dir);
done:
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void test_golden(void) {
    if (!lt_golden_open("tests/golden/conv1d.txt")) return;
    for (size_t i = 0; i < sizeof GCASES / sizeof *GCASES; i++) {
        golden_case(&GCASES[i], KN_PASS_ALL);
        golden_case(&GCASES[i], KN_PASS_NONE);
    }
    test_model_golden();
    free(golden);
    golden = NULL;
}

/* kn_global_max_pool2d: each image's channel maximum, as a loop over the cells finds it. */
static void test_global_max_pool2d(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 9}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    enum { N = 3, H = 5, W = 7, C = 4 };
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, H, W, C}, 4, "x");
    kn_tensor *y = kn_global_max_pool2d(g, x);
    kn_graph_keep(g, y);
    kn_status st = kn_graph_compile(g, N, true);
    if (!st) st = kn_graph_set_batch(g, N);
    CHECK(!st && y && y->ndim == 2 && y->shape[1] == C, "global_max_pool2d: %s", kn_last_error(ctx));
    if (!st) {
        float *xv = x->data;
        for (int i = 0; i < N * H * W * C; i++) xv[i] = (float)((i * 7919) % 211) / 17.0f - 6.0f;
        CHECK(!kn_graph_run(g), "run: %s", kn_last_error(ctx));
        int bad = 0;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                float want = -INFINITY;
                for (int p = 0; p < H * W; p++) want = fmaxf(want, xv[(n * H * W + p) * C + c]);
                bad += ((float *)y->data)[n * C + c] != want;
            }
        CHECK(bad == 0, "global_max_pool2d: %d of %d maxima wrong", bad, N * C);
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- models: finite differences */

static uint64_t rng = 2024;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* Every parameter of m (compiled, sparse cross-entropy over 3 classes) against central
 * differences of its loss on n random rows: the analytic gradient of a training step
 * (kn_model_grad, taken before its update, which is then undone) against the loss
 * kn_model_evaluate reports (the same rows, l2 included) at each element +- eps. */
static void model_gradcheck(const char *label, kn_model *m, int n) {
    kn_ctx *ctx = kn_model_ctx(m);
    int64_t features = kn_model_input_size(m);
    float *x = malloc((size_t)(n * features) * sizeof *x);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    for (int64_t i = 0; i < n * features; i++) x[i] = frand();
    for (int i = 0; i < n; i++) labels[i] = i % 3;
    kn_dataset *ds = NULL;
    CHECK(!kn_dataset_from_arrays(ctx, x, labels, n, features, 3, &ds), "%s: dataset: %s", label, kn_last_error(ctx));
    kn__param_spec specs[16];
    size_t total;
    int np = kn__model_param_specs(m, specs, 16, &total);
    float *saved = malloc(total * sizeof *saved), *grads = malloc(total * sizeof *grads);
    for (int p = 0; p < np; p++) {
        const float *w = kn_model_param(m, specs[p].name, NULL);
        CHECK(w != NULL, "%s: no parameter %s", label, specs[p].name);
        if (w) memcpy(saved + specs[p].offset, w, specs[p].numel * sizeof *w);
    }
    float loss;
    CHECK(!kn_model_train_step(m, x, labels, n, &loss), "%s: step: %s", label, kn_last_error(ctx));
    for (int p = 0; p < np; p++) {
        const float *gr = kn_model_grad(m, specs[p].name, NULL);
        CHECK(gr != NULL, "%s: no gradient of %s", label, specs[p].name);
        if (gr) memcpy(grads + specs[p].offset, gr, specs[p].numel * sizeof *gr);
    }
    for (int p = 0; p < np; p++) { /* undo the step's update */
        float *w = kn_model_param(m, specs[p].name, NULL);
        if (w) memcpy(w, saved + specs[p].offset, specs[p].numel * sizeof *w);
    }
    kn_eval_report base;
    CHECK(!kn_model_evaluate(m, ds, &base), "%s: evaluate: %s", label, kn_last_error(ctx));
    double worst = 0;
    int checked = 0, kinks = 0, total_elems = 0;
    for (int p = 0; p < np; p++) {
        double largest = 0;
        for (size_t k = 0; k < specs[p].numel; k++) {
            const float eps = 1e-3f;
            kn_eval_report plus, minus;
            float *w = kn_model_param(m, specs[p].name, NULL);
            float keep = w[k];
            w[k] = keep + eps;
            CHECK(!kn_model_evaluate(m, ds, &plus), "%s: evaluate: %s", label, kn_last_error(ctx));
            w = kn_model_param(m, specs[p].name, NULL);
            w[k] = keep - eps;
            CHECK(!kn_model_evaluate(m, ds, &minus), "%s: evaluate: %s", label, kn_last_error(ctx));
            w = kn_model_param(m, specs[p].name, NULL);
            w[k] = keep;
            double analytic = grads[specs[p].offset + k];
            largest = fmax(largest, fabs(analytic));
            total_elems++;
            /* a maximum whose winner changes within +- eps puts a kink in the loss there: the
             * one-sided slopes disagree, and a difference quotient means nothing; such
             * elements are counted and left out (a few, below) */
            double right = (plus.loss - base.loss) / eps, left = (base.loss - minus.loss) / eps;
            if (fabs(right - left) > 0.1 * (fabs(right) + fabs(left)) + 2e-3) {
                kinks++;
                continue;
            }
            double numeric = (plus.loss - minus.loss) / (2.0 * eps);
            double err = fabs(numeric - analytic) / (fabs(numeric) + fabs(analytic) + 1e-2);
            worst = fmax(worst, err);
            checked++;
            /* float32 losses (about 1.1, rounding 1e-7) over 2 eps = 2e-3: about 1e-4 absolute
             * in the quotient, 1e-2 relative at the floor of 1e-2; 2e-2 leaves room for curvature */
            CHECK(err < 2e-2, "%s: d loss / d %s[%zu]: autodiff %.6g, numeric %.6g", label, specs[p].name, k, analytic,
                  numeric);
        }
        /* every layer is on the loss's path: a parameter without gradient would pass above */
        CHECK(largest > 1e-4, "%s: %s's gradient is zero", label, specs[p].name);
    }
    printf("%-58s %3d parameters, max relative error %.2e (%d at a kink left out)\n", label, checked, worst, kinks);
    CHECK(kinks * 10 <= total_elems, "%s: %d of %d elements at a kink", label, kinks, total_elems);
    free(saved);
    free(grads);
    free(x);
    free(labels);
    kn_dataset_free(ds);
}

static void compile_sgd(kn_model *m) {
    kn_status st = kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                                                          .optimizer = kn_sgd(0.1f)});
    CHECK(!st, "compile: %s", kn_last_error(kn_model_ctx(m)));
}

static void test_model_gradients(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 5}, &ctx);
    kn_model *m;
    /* causal convolution (l2), max pooling, a dilated 'same' convolution, average pooling, the mean */
    kn_model_new_sequential(ctx, (int64_t[]){10, 2}, 2, &m);
    kn_model_add_conv1d(m, &(kn_conv1d_opts){.filters = 3, .kernel_size = 3, .padding = KN_PADDING_CAUSAL,
                                             .activation = KN_TANH, .l2 = 0.01f});
    kn_model_add_pool1d(m, KN_POOL_MAX, 2, 0, false);
    kn_model_add_conv1d(m, &(kn_conv1d_opts){.filters = 4, .kernel_size = 2, .dilation = 2, .padding = KN_PADDING_SAME,
                                             .activation = KN_TANH});
    kn_model_add_pool1d(m, KN_POOL_AVG, 3, 1, true);
    kn_model_add_global_pool1d(m, KN_POOL_AVG);
    kn_model_add_dense(m, 3, KN_SOFTMAX);
    compile_sgd(m);
    model_gradcheck("conv1d causal, max_pool1d, conv1d same d2, avg_pool1d, gap1d", m, 12);
    kn_model_free(m);
    /* strided 'valid' convolution (no bias), 'same' max pooling, the maximum */
    kn_model_new_sequential(ctx, (int64_t[]){9, 2}, 2, &m);
    kn_model_add_conv1d(m, &(kn_conv1d_opts){.filters = 4, .kernel_size = 3, .stride = 2, .activation = KN_SIGMOID,
                                             .no_bias = true});
    kn_model_add_pool1d(m, KN_POOL_MAX, 2, 1, true);
    kn_model_add_global_pool1d(m, KN_POOL_MAX);
    kn_model_add_dense(m, 3, KN_SOFTMAX);
    compile_sgd(m);
    model_gradcheck("conv1d stride 2 valid, max_pool1d same, gmp1d", m, 12);
    kn_model_free(m);
    /* images: the maximum over each image */
    kn_model_new_sequential(ctx, (int64_t[]){4, 5, 2}, 3, &m);
    kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 3, .kernel_h = 2, .kernel_w = 2, .same = true,
                                             .activation = KN_TANH});
    kn_model_add_global_pool2d(m, KN_POOL_MAX);
    kn_model_add_dense(m, 3, KN_SOFTMAX);
    compile_sgd(m);
    model_gradcheck("conv2d same, global_max_pool2d", m, 12);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- a trained 1-D CNN */

/* Sequences of 32 steps, one channel: noise, and at a random place a motif of 3 steps
 * giving the class: +++ (0), +-+ (1), --- (2). */
enum { ROWS = 600, STEPS = 32 };
static float seq_x[ROWS * STEPS];
static int32_t seq_y[ROWS];

static kn_dataset *sequences(kn_ctx *ctx) {
    static const float motif[3][3] = {{1, 1, 1}, {1, -1, 1}, {-1, -1, -1}};
    rng = 77;
    for (int i = 0; i < ROWS; i++) {
        seq_y[i] = i % 3;
        for (int t = 0; t < STEPS; t++) seq_x[i * STEPS + t] = 0.3f * frand();
        int at = (int)((frand() + 1.0f) * 0.5f * (STEPS - 3));
        for (int t = 0; t < 3; t++) seq_x[i * STEPS + at + t] += 1.5f * motif[seq_y[i]][t];
    }
    kn_dataset *ds = NULL;
    CHECK(!kn_dataset_from_arrays(ctx, seq_x, seq_y, ROWS, STEPS, 3, &ds), "dataset: %s", kn_last_error(ctx));
    return ds;
}

static const char *const CNN =
    "{\"input_shape\": [32, 1], \"layers\": ["
    "{\"type\": \"conv1d\", \"filters\": 8, \"kernel_size\": 3, \"padding\": \"causal\", \"activation\": \"relu\"},"
    "{\"type\": \"max_pool1d\"},"
    "{\"type\": \"conv1d\", \"filters\": 8, \"kernel_size\": [3], \"padding\": \"same\", \"use_bias\": false},"
    "{\"type\": \"batch_normalization\"}, {\"type\": \"activation\", \"activation\": \"relu\"},"
    "{\"type\": \"average_pool1d\", \"pool_size\": 2, \"strides\": 1, \"padding\": \"same\"},"
    "{\"type\": \"global_max_pool1d\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
    "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}%s}";

static kn_model *trained_cnn(kn_ctx *ctx, kn_dataset *ds, const char *precision, double *accuracy) {
    char text[2048];
    snprintf(text, sizeof text, CNN, precision);
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 8, .batch_size = 32}, NULL);
    kn_eval_report ev = {0};
    if (!st) st = kn_model_evaluate(m, ds, &ev);
    CHECK(!st, "cnn%s: %s", precision, kn_last_error(ctx));
    *accuracy = ev.accuracy;
    if (st) {
        kn_model_free(m);
        return NULL;
    }
    return m;
}

static int count_op(const kn_graph *g, kn_op op) {
    int n = 0;
    for (int i = 0; g && i < g->n_nodes; i++) n += g->nodes[i]->op == op;
    return n;
}

static void test_trained(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 21}, &ctx);
    kn_dataset *ds = sequences(ctx);
    double acc = 0, acc16 = 0;
    kn_model *m = trained_cnn(ctx, ds, "", &acc);
    kn_model *h = trained_cnn(ctx, ds, ", \"precision\": \"bf16\"", &acc16);
    printf("1-D CNN on motif sequences, 8 epochs: accuracy %.3f (fp32), %.3f (bf16 mixed precision)\n", acc, acc16);
    /* chance is 1/3; a motif detector with a global maximum separates them (0.99 measured) */
    CHECK(acc > 0.9 && acc16 > 0.9, "accuracy %.3f (fp32), %.3f (bf16)", acc, acc16);
    kn_model_free(h);
    if (!m) goto done;
    /* the first convolution's bias and relu run in its epilogue (the fuse pass meets them
     * right after it: the layer's output stays in the view it was computed in) */
    int fused = 0;
    for (int i = 0; m->graph && i < m->graph->n_nodes; i++) {
        const kn_tensor *t = m->graph->nodes[i];
        fused += t->op == KN_OP_CONV2D && t->src[2] && t->iparam[4] == KN_RELU;
    }
    CHECK(fused == 1, "%d convolutions with a fused bias and relu in the training graph, expected 1", fused);
    static float pa[ROWS * 3], pb[ROWS * 3];
    CHECK(!kn_model_predict(m, seq_x, ROWS, pa), "predict: %s", kn_last_error(ctx));
    char dir[] = "/tmp/kiln_conv1d_XXXXXX", path[128];
    if (!mkdtemp(dir)) goto done;
    snprintf(path, sizeof path, "%s/model.kiln", dir);
    CHECK(!kn_model_save(m, path), "save: %s", kn_last_error(ctx));
    kn_model *r = NULL;
    CHECK(!kn_model_load(ctx, path, NULL, &r), "load: %s", kn_last_error(ctx));
    if (r) {
        CHECK(!kn_model_predict(r, seq_x, ROWS, pb), "predict loaded: %s", kn_last_error(ctx));
        double worst = 0;
        for (int i = 0; i < ROWS * 3; i++) worst = fmax(worst, fabs(pa[i] - pb[i]));
        printf("saved and loaded: predictions differ by at most %.2e; the loaded graph holds %d batch norms\n", worst,
               count_op(r->graph, KN_OP_BATCH_NORM));
        /* the loaded model folds its batch norm into the convolution's weights (float
         * rounding of the scaled kernel: 1e-7 measured) */
        CHECK(worst < 1e-5, "the loaded model predicts differently (%.3g)", worst);
        CHECK(count_op(r->graph, KN_OP_BATCH_NORM) == 0, "the loaded model's batch norm was not folded");
        static const char *const names[] = {"conv1d_0/kernel", "conv1d_0/bias", "conv1d_1/kernel",
                                            "batch_normalization_0/moving_variance", "dense_0/kernel"};
        for (int i = 0; i < 5; i++) {
            int64_t na = 0, nb = 0;
            const float *wa = kn_model_param(m, names[i], &na), *wb = kn_model_param(r, names[i], &nb);
            CHECK(wa && wb && na == nb && memcmp(wa, wb, (size_t)na * sizeof *wa) == 0, "%s changed through the file",
                  names[i]);
        }
        char sa[512], sb[512], *ja = NULL, *jb = NULL;
        kn_model_summary(m, sa, sizeof sa);
        kn_model_summary(r, sb, sizeof sb);
        CHECK(strcmp(sa, sb) == 0, "summaries differ:\n%s\n%s", sa, sb);
        CHECK(!kn_model_to_json(m, &ja) && !kn_model_to_json(r, &jb) && strcmp(ja, jb) == 0, "descriptions differ");
        CHECK(ja && strstr(ja, "{\"type\":\"conv1d\",\"filters\":8,\"kernel_size\":[3],\"strides\":[1],\"padding\":"
                               "\"causal\",\"dilation_rate\":[1],\"activation\":\"relu\"") &&
                  strstr(ja, "{\"type\":\"max_pool1d\",\"pool_size\":[2],\"strides\":[2],\"padding\":\"valid\"}") &&
                  strstr(ja, "{\"type\":\"average_pool1d\",\"pool_size\":[2],\"strides\":[1],\"padding\":\"same\"}") &&
                  strstr(ja, "{\"type\":\"global_max_pool1d\"}"),
              "description: %s", ja ? ja : "(none)");
        /* read back and written again: the same text */
        kn_spec spec;
        kn_model *j = NULL;
        char *jc = NULL;
        kn_status st = ja ? kn_model_from_json(ctx, ja, NULL, &j, &spec) : KN_ERR_STATE;
        if (!st) st = kn_model_compile(j, &spec.compile);
        if (!st) st = kn_model_to_json(j, &jc);
        CHECK(!st && strcmp(ja, jc) == 0 && kn_model_param_count(j) == kn_model_param_count(m),
              "description read back: %s", st ? kn_last_error(ctx) : jc);
        kn_free(ctx, ja);
        kn_free(ctx, jb);
        kn_free(ctx, jc);
        kn_model_free(j);
        kn_model_free(r);
    }
    unlink(path);
    rmdir(dir);
done:
    kn_model_free(m);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- a reshape between layers */

/* A reshape layer is a view the next layer makes: after a layer whose output has the same
 * rank (a pooling of size 1, the identity), the convolution still sees the reshaped shape,
 * so the model computes what a model given that shape as its input computes. */
static void reshaped_pair(kn_ctx *ctx, bool seq) {
    kn_model *a, *b;
    int64_t orig[3] = {4, 4, 2}, shaped[3] = {2, 8, 2}, orig1[2] = {8, 2}, shaped1[2] = {4, 4};
    kn_model_new_sequential(ctx, seq ? orig1 : orig, seq ? 2 : 3, &a);
    kn_model_new_sequential(ctx, seq ? shaped1 : shaped, seq ? 2 : 3, &b);
    if (seq) kn_model_add_pool1d(a, KN_POOL_MAX, 1, 1, false);
    else kn_model_add_pool2d(a, KN_POOL_MAX, 1, 1, 1, 1, false);
    kn_model_add_reshape(a, seq ? shaped1 : shaped, seq ? 2 : 3);
    for (int i = 0; i < 2; i++) {
        kn_model *m = i ? b : a;
        kn_status st =
            seq ? kn_model_add_conv1d(m, &(kn_conv1d_opts){.filters = 3, .kernel_size = 2, .padding = KN_PADDING_SAME})
                : kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 3, .kernel_h = 2, .kernel_w = 2, .same = true});
        if (!st) st = kn_model_add_dense(m, 2, KN_LINEAR);
        if (!st) st = kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_MSE, .optimizer = kn_sgd(0.1f)});
        CHECK(!st, "reshaped %s: %s", seq ? "conv1d" : "conv2d", kn_last_error(ctx));
    }
    const char *k = seq ? "conv1d_0/kernel" : "conv2d_0/kernel";
    int64_t n = 0;
    const float *wa = kn_model_param(a, k, &n);
    float *wb = kn_model_param(b, k, NULL);
    if (wa && wb) memcpy(wb, wa, (size_t)n * sizeof *wa);
    wa = kn_model_param(a, "dense_0/kernel", &n);
    wb = kn_model_param(b, "dense_0/kernel", NULL);
    if (wa && wb) memcpy(wb, wa, (size_t)n * sizeof *wa);
    float x[3 * 32], ya[3 * 2], yb[3 * 2];
    for (int i = 0; i < 3 * 32; i++) x[i] = frand();
    CHECK(!kn_model_predict(a, x, 3, ya) && !kn_model_predict(b, x, 3, yb), "predict: %s", kn_last_error(ctx));
    CHECK(memcmp(ya, yb, sizeof ya) == 0, "%s after a reshape computes over the shape before it (%g vs %g)",
          seq ? "conv1d" : "conv2d", (double)ya[0], (double)yb[0]);
    kn_model_free(a);
    kn_model_free(b);
}

static void test_reshaped(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 8}, &ctx);
    reshaped_pair(ctx, false);
    reshaped_pair(ctx, true);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- bad input */

/* {"input_shape": shape, "layers": [layer, dense 2]} is refused with status want_st and one
 * line holding want. */
static void bad_spec(kn_ctx *ctx, const char *shape, const char *layer, kn_status want_st, const char *want) {
    char text[512];
    snprintf(text, sizeof text, "{\"input_shape\": %s, \"layers\": [%s, {\"type\": \"dense\", \"units\": 2}]}", shape, layer);
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
    const char *e = kn_last_error(ctx);
    CHECK(st == want_st && m == NULL && strstr(e, want) && !strchr(e, '\n'), "%s over %s: status %d, '%s'", layer, shape,
          (int)st, e);
    kn_model_free(m);
}

/* Every type the unknown-layer message lists is one a description may name: each, alone in
 * a layer over a (6, 4) sequence, is refused for anything but being unknown (a missing
 * key, a shape) or taken. */
static void test_listed_layer_types(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    kn_spec spec;
    kn_model *m = NULL;
    kn_model_from_json(ctx, "{\"input_shape\": [6, 4], \"layers\": [{\"type\": \"no_such_layer\"}]}", NULL, &m, &spec);
    char list[2048];
    snprintf(list, sizeof list, "%s", kn_last_error(ctx));
    const char *p = strstr(list, "kiln's layers are ");
    CHECK(p != NULL, "the unknown-layer message lists no types: %s", list);
    int n = 0;
    for (p = p ? p + strlen("kiln's layers are ") : ""; *p && strncmp(p, "and Keras", 9) != 0;) {
        const char *colon = strchr(p, ':'), *semi = strchr(p, ';');
        if (!colon || !semi) break;
        for (const char *q = colon + 1; q < semi;) { /* ", name" after the kind */
            while (q < semi && (*q == ' ' || *q == ',')) q++;
            const char *e = q;
            while (e < semi && *e != ',') e++;
            char type[64], text[256];
            snprintf(type, sizeof type, "%.*s", (int)(e - q), q);
            snprintf(text, sizeof text, "{\"input_shape\": [6, 4], \"layers\": [{\"type\": \"%s\"}]}", type);
            kn_model_from_json(ctx, text, NULL, &m, &spec);
            CHECK(!strstr(kn_last_error(ctx), "unknown layer"), "listed type '%s' is unknown to the parser", type);
            kn_model_free(m);
            m = NULL;
            n++;
            q = e;
        }
        p = semi + 2;
    }
    CHECK(n == 77, "%d types listed, not 77", n);
    /* ... and the other way: every type the parser knows is listed, by kind or among the
     * Keras activation layers the message names at its end */
    static const char *const keras_acts[] = {"re_lu", "leaky_re_lu", "elu", "softmax"};
    const char *listed = strstr(list, "kiln's layers are ");
    int known = 0;
    for (const char *t; listed && (t = kn__spec_layer_type((size_t)known)) != NULL; known++) {
        bool keras = false;
        for (size_t k = 0; k < sizeof keras_acts / sizeof *keras_acts; k++) keras |= strcmp(t, keras_acts[k]) == 0;
        char as_listed[80]; /* " name," or " name;" inside the list: a whole word */
        bool found = false;
        for (const char *end = ",;"; *end && !found; end++) {
            snprintf(as_listed, sizeof as_listed, " %s%c", t, *end);
            found = strstr(listed, as_listed) != NULL;
        }
        CHECK(keras || found, "the parser's layer type '%s' is not in the unknown-layer message's list", t);
    }
    CHECK(known == 81, "the parser knows %d layer types, not 81 (77 listed and Keras's 4)", known);
    kn_ctx_free(ctx);
}

static void test_bad_specs(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    const kn_status SH = KN_ERR_SHAPE, SP = KN_ERR_SPEC;
    bad_spec(ctx, "[4, 4, 1]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 3}", SH,
             "layers[0] conv1d: needs a sequence input (steps, channels), got (4, 4, 1)");
    bad_spec(ctx, "[12]", "{\"type\": \"max_pool1d\"}", SH,
             "layers[0] max_pool1d: needs a sequence input (steps, channels), got (12,) (give the model an input_shape "
             "such as [12, 1], or reshape to [12, 1])");
    bad_spec(ctx, "[4, 4, 1]", "{\"type\": \"global_max_pool1d\"}", SH, "layers[0] global_max_pool1d: needs a sequence input");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"global_max_pool2d\"}", SH, "layers[0] global_max_pool2d: needs an image input");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 6}", SH,
             "layers[0] conv1d: kernel_size 6 (dilation_rate 1: a span of 6 steps) is longer than its input (5, 2) "
             "under 'valid' padding");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 3, \"dilation_rate\": 3}", SH,
             "a span of 7 steps) is longer than its input (5, 2)");
    bad_spec(ctx, "[50, 1]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 200, \"dilation_rate\": 2, "
             "\"padding\": \"causal\"}", SH, "layers[0] conv1d: kernel_size 200 with dilation_rate 2 needs 398 steps of "
             "causal padding (255 at most)");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"max_pool1d\", \"pool_size\": 6}", SH,
             "layers[0] max_pool1d: pool_size 6 is longer than its input (5, 2)");
    bad_spec(ctx, "[514, 1]", "{\"type\": \"global_average_pool1d\"}", SH,
             "layers[0] global_average_pool1d: 514 steps: a mean over more than 255 steps needs a length without a "
             "prime factor above 255");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": [3, 3]}", SP,
             "layers[0].kernel_size: expected a whole number or a list of one [n]");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 0}", SP,
             "layers[0].kernel_size: 0 is out of range [1, 255]");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 3, \"strides\": 256}", SP,
             "layers[0].strides: 256 is out of range [1, 255]");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2}", SP, "layers[0].kernel_size: missing (e.g. 3)");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"kernel_size\": 2}", SP, "layers[0].filters: missing");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 2, \"padding\": \"full\"}", SP,
             "layers[0].padding: expected \"valid\", \"same\" or \"causal\"");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 2, \"use_bias\": 1}", SP,
             "layers[0].use_bias: expected true or false");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 2, \"activation\": \"relux\"}", SP,
             "layers[0].activation: unknown activation 'relux'");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 2, \"kernel_size\": 2, \"grops\": 2}", SP,
             "layers[0]: unknown key 'grops' (expected one of type, name, inputs, filters, kernel_size");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 2, \"groups\": 2}", KN_ERR_SHAPE,
             "layers[0] conv1d: groups 2 must divide both the input's 2 channels and the 3 filters");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"max_pool1d\", \"padding\": \"causal\"}", SP,
             "layers[0].padding: expected \"valid\" or \"same\"");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"average_pool1d\", \"strides\": \"2\"}", SP,
             "layers[0].strides: expected a whole number or a list of one [n]");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"Conv4D\", \"filters\": 2, \"kernel_size\": 2}", SP,
             "layers[0].type: unknown layer 'Conv4D' (did you mean conv1d or conv2d or conv3d? kiln's layers are core: dense,");
    /* the whole list, to its last type (it was once cut at 400 characters) */
    bad_spec(ctx, "[5, 2]", "{\"type\": \"Conv4D\", \"filters\": 2, \"kernel_size\": 2}", SP,
             "; attention: multi_head_attention, attention; augmentation: random_flip, random_translation, random_rotation, "
             "random_zoom, random_contrast, random_brightness; and Keras's ReLU, LeakyReLU, ELU and Softmax)");
    /* misspelt names, Keras's class names among them, point to kiln's types; a name far from
     * every type gets the list alone */
    bad_spec(ctx, "[5, 2]", "{\"type\": \"MaxPoolng1D\"}", SP, "unknown layer 'MaxPoolng1D' (did you mean max_pool1d? ");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"BatchNormalisation\"}", SP,
             "unknown layer 'BatchNormalisation' (did you mean batch_normalization? ");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"lstn\"}", SP, "unknown layer 'lstn' (did you mean lstm? ");
    bad_spec(ctx, "[5, 2]", "{\"type\": \"transformer_block\"}", SP, "unknown layer 'transformer_block' (kiln's layers are core:");
    /* a description of pooling layers alone has no trained layer */
    kn_spec spec;
    kn_model *m = NULL;
    kn_status st = kn_model_from_json(ctx, "{\"input_shape\": [6, 1], \"layers\": [{\"type\": \"max_pool1d\"}, "
                                           "{\"type\": \"global_average_pool1d\"}]}", NULL, &m, &spec);
    CHECK(st == SP && strstr(kn_last_error(ctx), "layers: the model needs at least one dense, conv2d, conv1d or recurrent layer"),
          "pooling alone: %s", kn_last_error(ctx));
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* Keras's class names and aliases as layer types: the layers kiln's own names give. */
static void test_keras_names(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    static const struct { const char *shape, *json, *want; } cases[] = {
        {"[8, 8, 1]",
         "{\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": 3}, {\"type\": \"MaxPooling2D\"}, "
         "{\"type\": \"ZeroPadding2D\"}, {\"type\": \"DepthwiseConv2D\", \"kernel_size\": 3}, "
         "{\"type\": \"Conv2DTranspose\", \"filters\": 2, \"kernel_size\": 2}, {\"type\": \"avg_pool2d\"}, "
         "{\"type\": \"BatchNormalization\"}, {\"type\": \"PReLU\"}, {\"type\": \"GlobalAveragePooling2D\"}",
         "conv2d max_pool2d zero_padding2d depthwise_conv2d conv2d_transpose average_pool2d batch_normalization prelu "
         "global_average_pool2d dense"},
        {"[6, 2]",
         "{\"type\": \"Convolution1D\", \"filters\": 2, \"kernel_size\": 2}, {\"type\": \"SimpleRNN\", \"units\": 2, "
         "\"return_sequences\": true}, {\"type\": \"Bidirectional\", \"layer\": {\"type\": \"LSTM\", \"units\": 2, "
         "\"return_sequences\": true}}, {\"type\": \"TimeDistributed\", \"layer\": {\"type\": \"Dense\", \"units\": 3}}, "
         "{\"type\": \"GlobalMaxPooling1D\"}",
         "conv1d simple_rnn bidirectional time_distributed global_max_pool1d dense"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[1024], got[256] = "";
        snprintf(text, sizeof text, "{\"input_shape\": %s, \"layers\": [%s, {\"type\": \"Dense\", \"units\": 2}]}",
                 cases[i].shape, cases[i].json);
        kn_spec spec;
        kn_model *m = NULL;
        kn_status st = kn_model_from_json(ctx, text, NULL, &m, &spec);
        for (int k = 0; !st && k < m->n_layers; k++) {
            size_t len = strlen(got);
            snprintf(got + len, sizeof got - len, "%s%s", k ? " " : "", kn__layer_type(&m->layers[k]));
        }
        CHECK(!st && strcmp(got, cases[i].want) == 0, "Keras names, case %zu: %s: layers '%s', expected '%s'", i,
              st ? kn_last_error(ctx) : "", got, cases[i].want);
        kn_model_free(m);
    }
    kn_ctx_free(ctx);
}

/* The C API's own checks (values a description cannot give), and the graph builders'. */
static void test_bad_calls(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){8, 2}, 2, &m);
    struct { kn_conv1d_opts o; kn_status st; const char *want; } convs[] = {
        {{.filters = 2, .kernel_size = 3, .padding = (kn_padding)7}, KN_ERR_INVALID_ARGUMENT,
         "layers[0] conv1d: unknown padding 7"},
        {{.filters = 2, .kernel_size = 0}, KN_ERR_INVALID_ARGUMENT,
         "layers[0] conv1d: kernel_size 0, strides 1, dilation_rate 1"},
        {{.filters = 2, .kernel_size = 3, .stride = 300}, KN_ERR_INVALID_ARGUMENT, "strides 300"},
        {{.filters = 0, .kernel_size = 3}, KN_ERR_SHAPE, "layers[0] conv1d: filters is 0"},
        {{.filters = 2, .kernel_size = 3, .l2 = -1}, KN_ERR_INVALID_ARGUMENT, "layers[0] conv1d: l2 is -1"},
        {{.filters = 2, .kernel_size = 4, .padding = KN_PADDING_SAME, .dilation = 200}, KN_ERR_SHAPE,
         "layers[0] conv1d: kernel_size 4 with dilation_rate 200 needs 300 steps of 'same' padding (255 at most)"},
    };
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) {
        kn_status st = kn_model_add_conv1d(m, &convs[i].o);
        CHECK(st == convs[i].st && strstr(kn_last_error(ctx), convs[i].want), "conv1d case %zu: status %d, '%s'", i,
              (int)st, kn_last_error(ctx));
    }
    CHECK(kn_model_add_pool1d(m, (kn_pool_kind)5, 2, 0, false) == KN_ERR_INVALID_ARGUMENT, "pool1d kind 5 accepted");
    CHECK(kn_model_add_pool1d(m, KN_POOL_AVG, 256, 0, false) == KN_ERR_INVALID_ARGUMENT &&
              strstr(kn_last_error(ctx), "layers[0] average_pool1d: pool_size 256, strides 256"),
          "pool_size 256: %s", kn_last_error(ctx));
    CHECK(kn_model_add_global_pool1d(m, (kn_pool_kind)9) == KN_ERR_INVALID_ARGUMENT, "global_pool1d kind 9 accepted");
    CHECK(kn_model_add_global_pool2d(m, KN_POOL_MAX) == KN_ERR_SHAPE, "global_max_pool2d over a sequence accepted");
    CHECK(m->n_layers == 0, "a refused layer was added");
    CHECK(kn_model_add_conv1d(NULL, &convs[0].o) == KN_ERR_INVALID_ARGUMENT &&
              kn_model_add_conv1d(m, NULL) == KN_ERR_INVALID_ARGUMENT,
          "NULL arguments");
    kn_model_free(m);

    /* graph builders: the first error is kept and names the input */
    struct { int what; const char *want; } graphs[] = {
        {0, "conv1d: input 'img' must be F32 (batch, steps, channels), got F32 (2, 4, 4, 1)"},
        {1, "conv1d: kernel 'k' (7, 2) must be (K*C, filters) = (6, filters) for a window of 3 over input 'seq' (2, 5, 2)"},
        {2, "conv1d: causal padding dilation * (window - 1) = 256 is larger than 255"},
        {3, "max_pool1d: window 6 (dilation 1, span 6) is longer than input 'seq' (2, 5, 2) under 'valid' padding"},
        {4, "global_avg_pool1d: 514 steps are more than 255 with a prime factor above 255"},
        {5, "global_max_pool2d: input 'seq' must be F32 (batch, height, width, channels)"},
    };
    for (size_t i = 0; i < sizeof graphs / sizeof *graphs; i++) {
        kn_graph *g;
        kn_graph_new(ctx, &g);
        kn_tensor *seq = kn_input(g, KN_F32, (int64_t[]){2, 5, 2}, 3, "seq");
        kn_tensor *img = kn_input(g, KN_F32, (int64_t[]){2, 4, 4, 1}, 4, "img");
        kn_tensor *k = kn_param(g, (int64_t[]){7, 2}, 2, KN_INIT_ZEROS, "k");
        kn_tensor *y = NULL;
        switch (graphs[i].what) {
        case 0: y = kn_conv1d(g, img, k, 3, 1, 1, KN_PADDING_VALID); break;
        case 1: y = kn_conv1d(g, seq, k, 3, 1, 1, KN_PADDING_VALID); break;
        case 2:
            y = kn_conv1d(g, seq, kn_param(g, (int64_t[]){6, 2}, 2, KN_INIT_ZEROS, "k3"), 3, 1, 128, KN_PADDING_CAUSAL);
            break;
        case 3: y = kn_max_pool1d(g, seq, 6, 1, false); break;
        case 4: y = kn_global_avg_pool1d(g, kn_input(g, KN_F32, (int64_t[]){2, 514, 1}, 3, "long")); break;
        default: y = kn_global_max_pool2d(g, seq); break;
        }
        kn_status st = kn_graph_status(g);
        CHECK(y == NULL && st != KN_OK && strstr(kn_last_error(ctx), graphs[i].want), "graph case %zu: '%s'", i,
              kn_last_error(ctx));
        kn_graph_free(g);
    }
    kn_ctx_free(ctx);
}

int main(void) {
    test_golden();
    test_global_max_pool2d();
    test_model_gradients();
    test_trained();
    test_reshaped();
    test_bad_specs();
    test_listed_layer_types();
    test_keras_names();
    test_bad_calls();
    return checks_done("conv1d");
}
