/* test_layernorm.c — layer normalization as Keras's LayerNormalization (PyTorch's
 * F.layer_norm over the last dimension, eps 1e-3): each row of the last axis normalized by
 * its own mean and biased variance, the same in training and inference. Golden forward and
 * gradients from PyTorch (tests/golden/layernorm.txt from tests/golden/make_layernorm.py)
 * for dense rows, an image's channels, no gamma and beta, and long rows far from zero; 1 and
 * 3 threads bit-identical (the kernels' rows split over threads, gamma's sums over parts
 * fixed by the shape); the graph optimizer leaves it alone (no folding into the dense layer
 * before it, in place when evaluating); the layer in models: after a dense layer and after
 * a convolution, trained, saved and loaded, described in JSON and read back, 1 and 3 threads
 * training alike; center and scale off; bad arguments and descriptions refused naming the
 * layer and key; an MLP with it on 2000 Fashion-MNIST images (where the data is present). */
#define _GNU_SOURCE
#include "graph/graph.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "golden.h"
#include "layer_test.h"

enum { MAXV = 4096 };

static double want_buf[MAXV];

static const double *load(const char *cs, const char *what, int n) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", cs, what);
    int got = get(name, want_buf, MAXV);
    CHECK(got == n, "golden %s: %d values, expected %d", name, got, n);
    return got == n ? want_buf : NULL;
}

static void fill(float *dst, const char *cs, const char *what, int n) {
    const double *v = load(cs, what, n);
    for (int i = 0; v && i < n; i++) dst[i] = (float)v[i];
}

/* x a parameter (for its gradient), gamma and beta when affine; loss = sum(layer_norm(x) * dy). */
static void golden_case(const char *cs, const int64_t *shape, int ndim, bool affine) {
    kn_tensor *x;
    int64_t c, n;
    kn_graph *g = lt_golden_graph(shape, ndim, &x, &c, &n);
    kn_ctx *ctx = g->ctx;
    kn_tensor *gamma = affine ? kn_param(g, &c, 1, KN_INIT_ONES, "gamma") : NULL;
    kn_tensor *beta = affine ? kn_param(g, &c, 1, KN_INIT_ZEROS, "beta") : NULL;
    kn_tensor *dy = kn_input(g, KN_F32, shape, ndim, "dy");
    kn_tensor *y = kn_layer_norm(g, x, gamma, beta, 1e-3f);
    if (!lt_compile_projected(g, y, dy, cs)) goto done;
    fill(x->data, cs, "x", (int)n);
    fill(dy->data, cs, "dy", (int)n);
    if (affine) {
        fill(gamma->data, cs, "gamma", (int)c);
        fill(beta->data, cs, "beta", (int)c);
    }
    kn_graph_upload(g);
    CHECK(!kn_graph_run(g), "%s: run: %s", cs, kn_last_error(ctx));
    kn_graph_sync(g);
    static const char *what[4] = {"y", "dx", "dgamma", "dbeta"};
    const float *got[4] = {y->data, x->grad->data, affine ? gamma->grad->data : NULL, affine ? beta->grad->data : NULL};
    for (int k = 0; k < (affine ? 4 : 2); k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s", cs, what[k]);
        const double *want = load(cs, what[k], k < 2 ? (int)n : (int)c);
        /* 5e-6: float32 sums in lanes (corrected two-pass statistics) against float64 on
         * the same float32 inputs; the long rows' x - mean of values near 40 rounds to
         * ulp(40) / 2, 6e-7 of their sigma of 3 (1.1e-6 measured, -O0 and -O3 alike) */
        if (want) compare_golden(name, got[k], want, k < 2 ? (int)n : (int)c, 5e-6);
    }
    /* evaluating computes the same (no batch statistics, no state) */
    static float keep[MAXV];
    memcpy(keep, y->data, (size_t)n * sizeof(float));
    CHECK(!kn__graph_run_phases(g, KN_PHASE_FORWARD), "%s: evaluate: %s", cs, kn_last_error(ctx));
    CHECK(memcmp(keep, y->data, (size_t)n * sizeof(float)) == 0, "%s: evaluating differs from training", cs);
done:
    lt_golden_free(g);
}

static void test_golden(void) {
    if (!lt_golden_open("tests/golden/layernorm.txt")) return;
    golden_case("dense", (int64_t[]){5, 8}, 2, true);
    golden_case("img", (int64_t[]){2, 3, 4, 6}, 4, true);
    golden_case("plain", (int64_t[]){5, 8}, 2, false);
    golden_case("wide", (int64_t[]){2, 1100}, 2, true);
    free(golden);
    golden = NULL;
}

/* ------------------------------------------------------------- threads */

/* Large enough that the rows split over threads and gamma's gradient over parts (3 parts
 * of 37 rows at (111, 900); 3 of 266 or 267 at (8, 10, 10, 128), an image's channels). */
static void run_threads(const int64_t *shape, int ndim, int threads, float *out, size_t *n_out) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 5}, &ctx);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    int64_t c = shape[ndim - 1];
    kn_tensor *x = kn_param(g, shape, ndim, KN_INIT_GLOROT_UNIFORM, "x");
    kn_tensor *gamma = kn_param(g, &c, 1, KN_INIT_GLOROT_UNIFORM, "gamma");
    kn_tensor *beta = kn_param(g, &c, 1, KN_INIT_GLOROT_UNIFORM, "beta");
    kn_tensor *y = kn_layer_norm(g, x, gamma, beta, 1e-3f);
    kn_tensor *r = kn_input(g, KN_F32, shape, ndim, "r");
    kn_tensor *loss = kn__sum(g, kn_mul(g, kn_act(g, y, KN_TANH), r));
    kn_graph_keep(g, y);
    kn_graph_keep(g, loss);
    kn_status st = kn_graph_backward(g, loss);
    if (!st) st = kn_graph_compile(g, 1, true);
    CHECK(!st, "threads %d: %s", threads, kn_last_error(ctx));
    *n_out = 0;
    if (!st) {
        float *rv = r->data;
        for (int64_t i = 0; i < kn__numel(r); i++) rv[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        float *xv = x->data; /* rows far from zero, of different spreads */
        for (int64_t i = 0; i < kn__numel(x); i++) xv[i] = xv[i] * (float)(1 + (i / c) % 5) + 3.0f;
        kn_graph_upload(g); /* x is a parameter (a no-op on the cpu) */
        CHECK(!kn_graph_run(g), "threads %d: run: %s", threads, kn_last_error(ctx));
        kn_graph_sync(g);
        const kn_tensor *parts[4] = {y, x->grad, gamma->grad, beta->grad};
        for (int k = 0; k < 4; k++) {
            memcpy(out + *n_out, parts[k]->data, kn__nbytes(parts[k]));
            *n_out += (size_t)kn__numel(parts[k]);
        }
    }
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

static void test_threads(void) {
    static const struct { int64_t shape[4]; int ndim; } cases[] = {{{111, 900}, 2}, {{8, 10, 10, 128}, 4}};
    enum { CAP = 2 * 8 * 10 * 10 * 128 + 2 * 900 };
    static float a[CAP], b[CAP];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t na, nb;
        run_threads(cases[i].shape, cases[i].ndim, 1, a, &na);
        run_threads(cases[i].shape, cases[i].ndim, 3, b, &nb);
        bool same = na > 0 && na == nb && memcmp(a, b, na * sizeof(float)) == 0;
        printf("%s 1 and 3 threads: y, dx, dgamma, dbeta of (%lld, ..., %lld) bit-identical\n", same ? "ok  " : "FAIL",
               (long long)cases[i].shape[0], (long long)cases[i].shape[cases[i].ndim - 1]);
        CHECK(same, "layer norm case %zu: 1 and 3 threads differ", i);
    }
}

/* ------------------------------------------------------------- the graph optimizer */

/* x (batch, 5) -> dense 4 (+ bias) -> layer_norm, evaluating with frozen parameters. */
static kn_graph *eval_graph(kn_ctx *ctx, unsigned passes, kn_tensor **x, kn_tensor **y) {
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_graph_set_passes(g, passes);
    *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 5}, 2, "x");
    kn_tensor *h = kn_add(g, kn_matmul(g, *x, kn_param(g, (int64_t[]){5, 4}, 2, KN_INIT_GLOROT_UNIFORM, "W")),
                          kn_param(g, (int64_t[]){4}, 1, KN_INIT_GLOROT_UNIFORM, "b"));
    h = kn_layer_norm(g, h, kn_param(g, (int64_t[]){4}, 1, KN_INIT_GLOROT_UNIFORM, "gamma"),
                      kn_param(g, (int64_t[]){4}, 1, KN_INIT_GLOROT_UNIFORM, "beta"), 1e-3f);
    *y = kn_act(g, h, KN_RELU);
    kn_graph_keep(g, *y);
    kn_graph_freeze_params(g);
    kn_status st = kn_graph_compile(g, 8, true);
    if (!st) st = kn_graph_set_batch(g, 8);
    CHECK(!st, "eval graph: %s", kn_last_error(ctx));
    if (st) {
        kn_graph_free(g);
        return NULL;
    }
    float *xd = (*x)->data;
    for (int64_t k = 0; k < kn__numel(*x); k++) xd[k] = (float)((k * 13) % 17) / 4.0f - 2.0f;
    kn_graph_refold(g);
    return g;
}

static void test_passes(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 3}, &ctx);
    kn_tensor *x0, *y0, *x1, *y1;
    kn_graph *ref = eval_graph(ctx, KN_PASS_NONE, &x0, &y0), *all = eval_graph(ctx, KN_PASS_ALL, &x1, &y1);
    if (ref && all) {
        int ln = 0, inplace = 0;
        for (int i = 0; i < all->n_nodes; i++) {
            const kn_tensor *t = all->nodes[i];
            ln += t->op == KN_OP_LAYER_NORM;
            inplace += t->op == KN_OP_LAYER_NORM && t->alias == t->src[0];
        }
        CHECK(ln == 1, "every pass: %d layer norms left (it normalizes each row: nothing folds it)", ln);
        CHECK(inplace == 1, "every pass: the layer norm does not run in place over the dense layer's output");
        CHECK(!kn_graph_run(ref) && !kn_graph_run(all), "runs: %s", kn_last_error(ctx));
        double worst = 0;
        for (int k = 0; k < 8 * 4; k++)
            worst = fmax(worst, fabs(((float *)y0->data)[k] - ((float *)y1->data)[k]));
        printf("dense -> layer_norm -> relu evaluating, every pass (fused dense, in place) against none: worst %.2e\n",
               worst);
        /* the fused dense kernel may sum its products in another order (float rounding) */
        CHECK(worst < 1e-5, "the optimized graph computes differently (%.3g)", worst);
    }
    kn_graph_free(ref);
    kn_graph_free(all);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- the layer in models */

enum { BATCH = 16 };

/* lt_model's normalizations: layer norms, epsilon 1e-3 after the dense layer, 1e-2 after
 * the convolution; arg: {center, scale}. */
static void add_norm(kn_model *m, int which, const void *arg) {
    const bool *cs = arg;
    kn_model_add_layer_norm(m, which ? 1e-2f : 1e-3f, cs[0], cs[1]);
}

static kn_model *new_model(kn_ctx *ctx, bool center, bool scale) {
    return lt_model(ctx, add_norm, lt_center_scale(center, scale));
}

static const char *const PARAMS[] = {"dense_0/kernel", "dense_0/bias", "layer_normalization_0/gamma",
                                     "layer_normalization_0/beta", "conv2d_0/kernel", "conv2d_0/bias",
                                     "layer_normalization_1/gamma", "layer_normalization_1/beta", "dense_1/kernel",
                                     "dense_1/bias"};
enum { NP = sizeof PARAMS / sizeof *PARAMS };

static void test_model(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 77}, &ctx);
    kn_dataset *ds = lt_dataset(ctx);
    kn_model *m = new_model(ctx, true, true);
    /* dense 6*12+12, ln 2*12, conv 2*2*2*4+4, ln 2*4, dense 24*3+3 */
    CHECK(kn_model_param_count(m) == 84 + 24 + 36 + 8 + 75, "parameter count %lld", (long long)kn_model_param_count(m));
    char summary[512];
    kn_model_summary(m, summary, sizeof summary);
    CHECK(strstr(summary, "-> layer_normalization ->") != NULL, "summary: %s", summary);
    int64_t k;
    const float *g0 = kn_model_param(m, "layer_normalization_0/gamma", &k);
    const float *b1 = kn_model_param(m, "layer_normalization_1/beta", NULL);
    CHECK(g0 && b1 && k == 12 && g0[0] == 1 && g0[11] == 1 && b1[0] == 0, "initial gamma (ones) and beta (zeros)");
    CHECK(!kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 5, .batch_size = BATCH}, NULL), "fit: %s", kn_last_error(ctx));
    kn_eval_report ev;
    CHECK(!kn_model_evaluate(m, ds, &ev), "evaluate: %s", kn_last_error(ctx));
    printf("trained with layer normalization (dense and conv): loss %.4f accuracy %.3f\n", ev.loss, ev.accuracy);
    CHECK(ev.accuracy > 0.6, "accuracy %.3f", ev.accuracy);
    const float *g1 = kn_model_param(m, "layer_normalization_1/gamma", NULL);
    CHECK(g1 && g1[0] != 1.0f, "gamma did not train");
    CHECK(kn_model_grad(m, "layer_normalization_0/gamma", NULL) != NULL &&
              kn_model_grad(m, "layer_normalization_1/beta", NULL) != NULL,
          "gamma and beta have no gradients");
    /* saved and loaded: a loaded model's weights are constants to the fold pass, but nothing
     * folds across a layer norm: the same predictions (1e-6: its graph may fuse differently) */
    lt_save_load(ctx, m, PARAMS, NP, 1e-6,
                 "{\"type\":\"layer_normalization\",\"epsilon\":0.01,\"center\":true,\"scale\":true}");
    kn_model_free(m);

    lt_norm_variants(ds, new_model, "layer_normalization", PARAMS, NP, BATCH);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- bad arguments */

static kn_status add_layer_norm(kn_model *m, float epsilon) { return kn_model_add_layer_norm(m, epsilon, true, true); }

static void test_bad(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    lt_bad_epsilon(ctx, add_layer_norm, "layer_normalization");
    /* one line each, naming the layer and the key */
    lt_bad_layer(ctx, "{\"type\": \"layer_normalization\", \"epsilon\": 0}", "layers[1].epsilon: expected a positive number");
    lt_bad_layer(ctx, "{\"type\": \"layer_normalization\", \"epsilon\": -1}", "layers[1].epsilon: expected a positive number");
    lt_bad_layer(ctx, "{\"type\": \"layer_normalization\", \"epsilon\": \"small\"}", "layers[1].epsilon: expected a positive number");
    lt_bad_layer(ctx, "{\"type\": \"layer_normalization\", \"momentum\": 0.9}", "layers[1]: unknown key 'momentum'");
    lt_bad_layer(ctx, "{\"type\": \"layer_normalization\", \"center\": 1}", "layers[1].center: expected true or false");
    lt_bad_layer(ctx, "{\"type\": \"layer_normalization\", \"scale\": \"no\"}", "layers[1].scale: expected true or false");
    lt_bad_layer(ctx, "{\"type\": \"layer_normalization\", \"axis\": 0}", "layers[1].axis: only -1");
    /* Keras's own keys are accepted: name, and axis -1 */
    kn_spec spec;
    kn_model *ok = NULL;
    CHECK(!kn_model_from_json(ctx, "{\"input_shape\": [6], \"layers\": [{\"type\": \"dense\", \"units\": 4}, "
                              "{\"type\": \"layer_normalization\", \"name\": \"ln\", \"axis\": -1, \"epsilon\": 1e-5, "
                              "\"center\": false}, {\"type\": \"dense\", \"units\": 3}]}", NULL, &ok, &spec) &&
              ok && kn_model_param_count(ok) == 6 * 4 + 4 + 4 + 4 * 3 + 3,
          "a Keras description: %s", kn_last_error(ctx));
    kn_model_free(ok);
    /* the graph builder refuses them too */
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 3}, 2, "x");
    CHECK(kn_layer_norm(g, x, NULL, NULL, 0.0f) == NULL && strstr(kn_last_error(ctx), "layer_norm: epsilon"),
          "kn_layer_norm epsilon 0: %s", kn_last_error(ctx));
    kn_graph_free(g);
    kn_graph_new(ctx, &g);
    x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 3}, 2, "x");
    kn_tensor *p = kn_param(g, (int64_t[]){4}, 1, KN_INIT_ONES, "gamma4");
    CHECK(kn_layer_norm(g, x, p, NULL, 1e-3f) == NULL && kn_graph_status(g) == KN_ERR_SHAPE &&
              strstr(kn_last_error(ctx), "gamma 'gamma4'"),
          "gamma of 4 over 3 channels: %s", kn_last_error(ctx));
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- Fashion-MNIST */

/* 784 -> dense 64 -> layer_normalization -> relu -> dense 10, 2 epochs on 2000 images. */
static void test_fmnist(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 42}, &ctx);
    kn_dataset *train, *test, *small = NULL, *eval = NULL;
    kn_status st = kn_dataset_load(ctx, "fashion-mnist", &train, &test);
    if (st) {
        printf("fashion-mnist part skipped: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return;
    }
    kn_dataset_slice(train, 0, 2000, &small); /* (copies) */
    kn_dataset_slice(test, 0, 1000, &eval);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_spec spec;
    kn_model *m = NULL;
    st = kn_model_from_json(ctx, "{\"layers\": [{\"type\": \"dense\", \"units\": 64}, {\"type\": \"layer_normalization\"},"
                            "{\"type\": \"activation\", \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 10}]}",
                            small, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    CHECK(!st, "fashion-mnist model: %s", kn_last_error(ctx));
    if (!st) {
        kn_eval_report ev;
        st = kn_model_fit(m, small, &(kn_fit_opts){.epochs = 2, .batch_size = 32}, NULL);
        if (!st) st = kn_model_evaluate(m, eval, &ev);
        CHECK(!st, "fashion-mnist fit: %s", kn_last_error(ctx));
        if (!st) {
            printf("784-64-layer_norm-relu-10, 2 epochs on 2000 Fashion-MNIST images: test accuracy %.3f\n", ev.accuracy);
            CHECK(ev.accuracy > 0.72, "accuracy %.3f", ev.accuracy);
        }
    }
    kn_model_free(m);
    kn_dataset_free(small);
    kn_dataset_free(eval);
    kn_ctx_free(ctx);
}

int main(void) {
    test_golden();
    test_threads();
    test_passes();
    test_model();
    test_bad();
    test_fmnist();
    if (!failures) printf("test_layernorm: all passed\n");
    return failures ? 1 : 0;
}
