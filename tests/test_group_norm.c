/* test_group_norm.c — group normalization as Keras's GroupNormalization (PyTorch's
 * F.group_norm on the channels-first view, eps 1e-3): each sample's channels in groups of
 * consecutive channels, each (sample, group) normalized by the mean and biased variance of
 * all its values, then scaled and shifted per channel.
 *
 * - golden forward and gradients from PyTorch (tests/golden/group_norm.txt from
 *   tests/golden/make_group_norm.py): an image in groups, dense rows, instance
 *   normalization of a sequence without gamma and beta, a whole sample, values far from zero;
 * - large samples, whose sums the CPU splits into parts, against a double reference computed
 *   here, and 1 and 3 threads bit-identical;
 * - every parameter's gradient by finite differences through a CNN (model_gradcheck);
 * - the layer in models: after a dense layer and a convolution, trained, saved and loaded,
 *   described and read back, 1 and 3 threads training alike; a CNN on digits in fp32 and
 *   bf16; center and scale off; groups -1;
 * - bad groups, epsilons and descriptions refused, one line naming the layer and key.
 * KILN_TEST_DEVICE=cuda runs the first three on the GPU. Run from the source root. */
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
#include "model_test.h"

static kn_device device = KN_DEVICE_CPU;

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 9, .device = device}, &ctx);
    return ctx;
}

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

/* A graph of x (a parameter, for its gradient) -> group_norm, gamma and beta when affine;
 * loss = sum(y * dy). */
typedef struct {
    kn_ctx *ctx;
    kn_graph *g;
    kn_tensor *x, *gamma, *beta, *dy, *y;
    int64_t n, c;
} gn_graph;

static bool gn_build(gn_graph *s, const int64_t *shape, int ndim, int groups, bool affine, int threads) {
    memset(s, 0, sizeof *s);
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1, .device = device}, &s->ctx);
    kn_graph_new(s->ctx, &s->g);
    s->c = shape[ndim - 1], s->n = 1;
    for (int d = 0; d < ndim; d++) s->n *= shape[d];
    s->x = kn_param(s->g, shape, ndim, KN_INIT_ZEROS, "x");
    s->gamma = affine ? kn_param(s->g, &s->c, 1, KN_INIT_ONES, "gamma") : NULL;
    s->beta = affine ? kn_param(s->g, &s->c, 1, KN_INIT_ZEROS, "beta") : NULL;
    s->dy = kn_input(s->g, KN_F32, shape, ndim, "dy");
    s->y = kn_group_norm(s->g, s->x, s->gamma, s->beta, groups, 1e-3f);
    return lt_compile_projected(s->g, s->y, s->dy, "group_norm");
}

static void gn_free(gn_graph *s) {
    kn_graph_free(s->g);
    kn_ctx_free(s->ctx);
}

/* Uploads what the test wrote, runs a training pass, and brings the results back. */
static bool gn_run(gn_graph *s, const char *what) {
    kn_graph_upload(s->g);
    kn_status st = kn_graph_run(s->g);
    if (!st) st = kn_graph_sync(s->g);
    CHECK(!st, "%s: run: %s", what, kn_last_error(s->ctx));
    return !st;
}

/* ------------------------------------------------------------- golden values */

static void golden_case(const char *cs, const int64_t *shape, int ndim, int groups, bool affine) {
    gn_graph s;
    if (!gn_build(&s, shape, ndim, groups, affine, 2)) goto done;
    int n = (int)s.n, c = (int)s.c;
    fill(s.x->data, cs, "x", n);
    fill(s.dy->data, cs, "dy", n);
    if (affine) {
        fill(s.gamma->data, cs, "gamma", c);
        fill(s.beta->data, cs, "beta", c);
    }
    if (!gn_run(&s, cs)) goto done;
    static const char *what[4] = {"y", "dx", "dgamma", "dbeta"};
    const float *got[4] = {s.y->data, s.x->grad->data, affine ? s.gamma->grad->data : NULL,
                           affine ? s.beta->grad->data : NULL};
    for (int k = 0; k < (affine ? 4 : 2); k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s", cs, what[k]);
        const double *want = load(cs, what[k], k < 2 ? n : c);
        /* 5e-6: double sums of the float32 inputs, rounded once to float32 for the mean and
         * rstd and again for y = (x - mean) rstd gamma + beta; the values near 40 with a
         * spread of 0.5 round x - mean to ulp(40) / 2, 4e-6 of their sigma */
        if (want) compare_golden(name, got[k], want, k < 2 ? n : c, 5e-6);
    }
    /* evaluating computes the same (no batch statistics, no state) */
    static float keep[MAXV];
    memcpy(keep, s.y->data, (size_t)n * sizeof(float));
    kn_status st = kn__graph_run_phases(s.g, KN_PHASE_FORWARD);
    if (!st) st = kn_graph_sync(s.g);
    CHECK(!st && memcmp(keep, s.y->data, (size_t)n * sizeof(float)) == 0, "%s: evaluating differs from training", cs);
done:
    gn_free(&s);
}

static void test_golden(void) {
    if (!lt_golden_open("tests/golden/group_norm.txt")) return;
    golden_case("img", (int64_t[]){2, 3, 4, 6}, 4, 3, true);
    golden_case("dense", (int64_t[]){5, 8}, 2, 2, true);
    golden_case("inst", (int64_t[]){3, 7, 4}, 3, 4, false);
    golden_case("whole", (int64_t[]){2, 2, 3, 6}, 4, 1, true);
    golden_case("far", (int64_t[]){2, 5, 5, 8}, 4, 2, true);
    free(golden);
    golden = NULL;
}

/* ------------------------------------------------------------- large samples */

/* x (n, p, c) in groups: y, dx and gamma's gradient in double from the definition. */
static void reference(const float *x, const float *dy, const float *gamma, const float *beta, int64_t n, int64_t p,
                      int64_t c, int64_t groups, double *y, double *dx, double *dgamma) {
    int64_t cg = c / groups;
    double m = (double)(p * cg);
    for (int64_t i = 0; i < c; i++) dgamma[i] = 0;
    for (int64_t s = 0; s < n; s++)
        for (int64_t g = 0; g < groups; g++) {
            double sum = 0, q = 0, sd = 0, sdx = 0;
            for (int64_t r = 0; r < p; r++)
                for (int64_t i = g * cg; i < (g + 1) * cg; i++) sum += x[(s * p + r) * c + i];
            double mean = sum / m;
            for (int64_t r = 0; r < p; r++)
                for (int64_t i = g * cg; i < (g + 1) * cg; i++) q += pow(x[(s * p + r) * c + i] - mean, 2);
            double rstd = 1 / sqrt(q / m + 1e-3);
            for (int64_t r = 0; r < p; r++)
                for (int64_t i = g * cg; i < (g + 1) * cg; i++) {
                    int64_t at = (s * p + r) * c + i;
                    double xh = (x[at] - mean) * rstd, d = dy[at] * (double)gamma[i];
                    y[at] = xh * gamma[i] + beta[i];
                    sd += d, sdx += d * xh;
                    dgamma[i] += dy[at] * xh;
                }
            for (int64_t r = 0; r < p; r++)
                for (int64_t i = g * cg; i < (g + 1) * cg; i++) {
                    int64_t at = (s * p + r) * c + i;
                    double xh = (x[at] - mean) * rstd;
                    dx[at] = rstd * (dy[at] * (double)gamma[i] - sd / m - xh * sdx / m);
                }
        }
}

/* The worst of |got - want| / (1 + |want|) over n values. */
static double worst_error(const float *got, const double *want, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / (1 + fabs(want[i]));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* A sample of (h, w, c) values: on the CPU its sums split into parts of ~32768 values (2 at
 * 48x48x32, 16 at 128x128x32); against the reference, and 1 and 3 threads bit-identical
 * (on the CPU). */
static void large_case(int64_t n, int64_t h, int64_t w, int64_t c, int groups) {
    int64_t shape[4] = {n, h, w, c}, total = n * h * w * c;
    char what[64];
    snprintf(what, sizeof what, "(%lld, %lld, %lld, %lld) in %d groups", (long long)n, (long long)h, (long long)w,
             (long long)c, groups);
    float *keep = malloc((size_t)(2 * total + c) * sizeof *keep);
    double *y = malloc((size_t)(2 * total + c) * sizeof *y), *dx = y + total, *dgamma = dx + total;
    for (int threads = 1; threads <= 3 && keep && y; threads += 2) {
        if (threads == 3 && device != KN_DEVICE_CPU) break;
        gn_graph s;
        if (gn_build(&s, shape, 4, groups, true, threads)) {
            float *x = s.x->data, *dy = s.dy->data, *gm = s.gamma->data, *bt = s.beta->data;
            for (int64_t i = 0; i < total; i++) {
                x[i] = (float)(sin(0.7 * (double)i) * (1 + (i / c) % 3) + 0.25 * (double)(i % c)) + 3.0f;
                dy[i] = (float)cos(0.31 * (double)i);
            }
            for (int64_t i = 0; i < c; i++) gm[i] = 1.0f + 0.01f * (float)i, bt[i] = 0.1f * (float)(i % 5);
            if (gn_run(&s, what)) {
                const float *got[3] = {s.y->data, s.x->grad->data, s.gamma->grad->data};
                if (threads == 1) {
                    reference(x, dy, gm, bt, n, h * w, c, groups, y, dx, dgamma);
                    /* y and dx: float roundings of double statistics; gamma's gradient sums
                     * h w n products ~1 in double, rounded once */
                    double e[3] = {worst_error(got[0], y, total), worst_error(got[1], dx, total),
                                   worst_error(got[2], dgamma, c)};
                    printf("%-36s y %.1e, dx %.1e, dgamma %.1e from the reference\n", what, e[0], e[1], e[2]);
                    CHECK(e[0] < 2e-6 && e[1] < 2e-6 && e[2] < 2e-6, "%s: y %.3g dx %.3g dgamma %.3g from the reference",
                          what, e[0], e[1], e[2]);
                    memcpy(keep, got[0], (size_t)total * sizeof *keep);
                    memcpy(keep + total, got[1], (size_t)total * sizeof *keep);
                    memcpy(keep + 2 * total, got[2], (size_t)c * sizeof *keep);
                } else {
                    bool same = memcmp(keep, got[0], (size_t)total * sizeof *keep) == 0 &&
                                memcmp(keep + total, got[1], (size_t)total * sizeof *keep) == 0 &&
                                memcmp(keep + 2 * total, got[2], (size_t)c * sizeof *keep) == 0;
                    printf("%s %s: 1 and 3 threads bit-identical\n", same ? "ok  " : "FAIL", what);
                    CHECK(same, "%s: 1 and 3 threads differ", what);
                }
            }
        }
        gn_free(&s);
    }
    free(keep);
    free(y);
}

/* ------------------------------------------------------------- models */

/* A small CNN: conv2d 4 -> group_normalization (2 groups) -> relu -> flatten -> dense. */
static const char *cnn_text =
    "{\"input_shape\": [4, 4, 2], \"layers\": ["
    "{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 2},"
    "{\"type\": \"group_normalization\", \"groups\": 2},"
    "{\"type\": \"activation\", \"activation\": \"tanh\"},"
    "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
    "\"loss\": \"sparse_categorical_crossentropy\"}";

static void test_on_device(void) {
    test_golden();
    large_case(2, 48, 48, 32, 4);
    large_case(1, 128, 128, 32, 8);
    model_gradcheck("conv2d -> group_normalization -> tanh -> dense", cnn_text, 32, 3);
}

enum { BATCH = 16 };

/* lt_model's normalizations: 3 groups of the dense layer's 12 features, 2 of the
 * convolution's 4 channels; arg: {center, scale}. */
static void add_norm(kn_model *m, int which, const void *arg) {
    const bool *cs = arg;
    kn_model_add_group_norm(m, which ? 2 : 3, which ? 1e-2f : 1e-3f, cs[0], cs[1]);
}

static kn_model *new_model(kn_ctx *ctx, bool center, bool scale) {
    return lt_model(ctx, add_norm, lt_center_scale(center, scale));
}

static const char *const PARAMS[] = {"dense_0/kernel", "dense_0/bias", "group_normalization_0/gamma",
                                     "group_normalization_0/beta", "conv2d_0/kernel", "conv2d_0/bias",
                                     "group_normalization_1/gamma", "group_normalization_1/beta", "dense_1/kernel",
                                     "dense_1/bias"};
enum { NP = sizeof PARAMS / sizeof *PARAMS };

static void test_model(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 77}, &ctx);
    kn_dataset *ds = lt_dataset(ctx);
    kn_model *m = new_model(ctx, true, true);
    /* dense 6*12+12, gn 2*12, conv 2*2*2*4+4, gn 2*4, dense 24*3+3 */
    CHECK(kn_model_param_count(m) == 84 + 24 + 36 + 8 + 75, "parameter count %lld", (long long)kn_model_param_count(m));
    char summary[512];
    kn_model_summary(m, summary, sizeof summary);
    CHECK(strstr(summary, "-> group_normalization ->") != NULL, "summary: %s", summary);
    CHECK(!kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 5, .batch_size = BATCH}, NULL), "fit: %s", kn_last_error(ctx));
    kn_eval_report ev;
    CHECK(!kn_model_evaluate(m, ds, &ev), "evaluate: %s", kn_last_error(ctx));
    printf("trained with group normalization (dense and conv): loss %.4f accuracy %.3f\n", ev.loss, ev.accuracy);
    CHECK(ev.accuracy > 0.6, "accuracy %.3f", ev.accuracy);
    const float *g1 = kn_model_param(m, "group_normalization_1/gamma", NULL);
    CHECK(g1 && g1[0] != 1.0f, "gamma did not train");
    lt_save_load(ctx, m, PARAMS, NP, 1e-6,
                 "{\"type\":\"group_normalization\",\"groups\":2,\"epsilon\":0.01,\"center\":true,\"scale\":true}");
    kn_model_free(m);

    lt_norm_variants(ds, new_model, "group_normalization", PARAMS, NP, BATCH);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
}

/* ------------------------------------------------------------- bad arguments */

static kn_status add_group_norm(kn_model *m, float epsilon) { return kn_model_add_group_norm(m, 2, epsilon, true, true); }

static void test_bad(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    lt_bad_epsilon(ctx, add_group_norm, "group_normalization");
    /* one line each, naming the layer and the key (the dense layer before has 4 features) */
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\"}", "layers[1].groups: 32 groups do not divide the input's 4");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": 3}",
                 "layers[1].groups: 3 groups do not divide the input's 4 channels");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": 0}", "layers[1].groups: expected a positive integer");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": 1.5}", "layers[1].groups: expected a positive integer");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": -2}", "layers[1].groups: expected a positive integer");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": \"all\"}", "layers[1].groups: expected a positive integer");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": 1e52}", "layers[1].groups: expected a positive integer");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": 2, \"epsilon\": 0}",
                 "layers[1].epsilon: expected a positive number");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": 2, \"momentum\": 0.9}",
                 "layers[1]: unknown key 'momentum'");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": 2, \"center\": 1}",
                 "layers[1].center: expected true or false");
    lt_bad_layer(ctx, "{\"type\": \"group_normalization\", \"groups\": 2, \"axis\": 1}", "layers[1].axis: only -1");
    /* Keras's own spellings build: GroupNormalization, groups -1 (one a channel), name, axis -1 */
    kn_spec spec;
    kn_model *ok = NULL;
    CHECK(!kn_model_from_json(ctx, "{\"input_shape\": [6], \"layers\": [{\"type\": \"dense\", \"units\": 4}, "
                              "{\"type\": \"GroupNormalization\", \"name\": \"gn\", \"groups\": -1, \"axis\": -1, "
                              "\"epsilon\": 1e-5, \"center\": false}, {\"type\": \"dense\", \"units\": 3}]}",
                              NULL, &ok, &spec) &&
              ok && kn_model_param_count(ok) == 6 * 4 + 4 + 4 + 4 * 3 + 3,
          "a Keras description: %s", kn_last_error(ctx));
    kn_model_free(ok);
    /* the C API and the graph builder refuse them too */
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){6}, 1, &m);
    kn_model_add_dense(m, 4, KN_RELU);
    CHECK(kn_model_add_group_norm(m, 0, 1e-3f, true, true) == KN_ERR_SHAPE &&
              strstr(kn_last_error(ctx), "layers[1] group_normalization: groups 0"),
          "groups 0: %s", kn_last_error(ctx));
    kn_model_free(m);
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 6}, 2, "x");
    CHECK(kn_group_norm(g, x, NULL, NULL, 4, 1e-3f) == NULL && kn_graph_status(g) == KN_ERR_SHAPE &&
              strstr(kn_last_error(ctx), "group_norm: 4 groups do not divide the 6 channels"),
          "kn_group_norm 4 groups of 6: %s", kn_last_error(ctx));
    kn_graph_free(g);
    kn_graph_new(ctx, &g);
    x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 6}, 2, "x");
    CHECK(kn_group_norm(g, x, NULL, NULL, 2, 0.0f) == NULL && strstr(kn_last_error(ctx), "group_norm: epsilon"),
          "kn_group_norm epsilon 0: %s", kn_last_error(ctx));
    kn_graph_free(g);
    kn_graph_new(ctx, &g);
    x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 6}, 2, "x");
    kn_tensor *p = kn_param(g, (int64_t[]){4}, 1, KN_INIT_ONES, "gamma4");
    CHECK(kn_group_norm(g, x, p, NULL, 2, 1e-3f) == NULL && kn_graph_status(g) == KN_ERR_SHAPE &&
              strstr(kn_last_error(ctx), "gamma 'gamma4'"),
          "gamma of 4 over 6 channels: %s", kn_last_error(ctx));
    kn_graph_free(g);
    kn_ctx_free(ctx);
}

int main(void) {
    int rc = run_on_test_device("test_group_norm", &device, test_on_device);
    if (rc >= 0) return rc;
    test_on_device();
    test_model();
    /* digits as 8x8 images: conv2d 16 -> group_normalization (4 groups) -> relu -> pool -> dense */
    static const char *digits_cnn =
        "{\"input_shape\": [64], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [8, 8, 1]}, "
        "{\"type\": \"conv2d\", \"filters\": 16, \"kernel_size\": 3, \"padding\": \"same\"}, "
        "{\"type\": \"group_normalization\", \"groups\": 4}, {\"type\": \"activation\", \"activation\": \"relu\"}, "
        "{\"type\": \"max_pool2d\", \"pool_size\": 2}, {\"type\": \"flatten\"}, "
        "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}], "
        "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}";
    digits_case("conv2d 16 -> group_normalization 4 -> relu -> pool -> softmax", digits_cnn, KN_PRECISION_FP32, 0.9, 8);
    digits_case("the same in bf16", digits_cnn, KN_PRECISION_BF16, 0.9, 8);
    test_bad();
    return checks_done("group_norm");
}
