/* test_cnn_model.c — the sequential model with image layers, end to end: a small CNN built
 * from its JSON description trains one epoch on 2,000 Fashion-MNIST images (loss falls,
 * accuracy well above chance), saves and loads predicting bit-identically, predicts the
 * same through a session, writes its description back (round trip); the C API builds the
 * same model; shape errors name the layer; conv kernels draw with Keras's conv fans; the
 * other image layers (average/global pooling, reshape, activation, strides, 'same')
 * train, save and load. Skips (exit 77) when Fashion-MNIST is not installed. */
#include <kiln.h>

#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cnn_json =
    "{\"type\": \"sequential\", \"input_shape\": [28, 28, 1], \"layers\": ["
    "{\"type\": \"conv2d\", \"filters\": 16, \"kernel_size\": 3, \"activation\": \"relu\"},"
    "{\"type\": \"conv2d\", \"filters\": 32, \"kernel_size\": [3, 3], \"strides\": 1, \"activation\": \"relu\"},"
    "{\"type\": \"max_pool2d\", \"pool_size\": 2},"
    "{\"type\": \"flatten\"},"
    "{\"type\": \"dense\", \"units\": 64, \"activation\": \"relu\"},"
    "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],"
    "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.001},"
    "\"batch_size\": 32, \"epochs\": 1}";

static kn_model *from_json(kn_ctx *ctx, const char *json, kn_spec *spec) {
    kn_model *m = NULL;
    kn_spec s;
    if (kn_model_from_json(ctx, json, NULL, &m, spec ? spec : &s)) return NULL;
    if (kn_model_compile(m, spec ? &spec->compile : &s.compile)) {
        kn_model_free(m);
        return NULL;
    }
    return m;
}

/* The description must fail naming want (and "layers[i] type"). */
static void expect_error(kn_ctx *ctx, const char *json, const char *want) {
    kn_model *m = NULL;
    kn_spec s;
    kn_status st = kn_model_from_json(ctx, json, NULL, &m, &s);
    CHECK(st != KN_OK && strstr(kn_last_error(ctx), want), "%s: status %d, error '%s' (want '%s')", json, (int)st,
          kn_last_error(ctx), want);
    kn_model_free(m);
}

static void test_shape_errors(kn_ctx *ctx) {
    expect_error(ctx, "{\"input_shape\": [784], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 3}]}",
                 "layers[0] conv2d: needs an image input");
    expect_error(ctx,
                 "{\"input_shape\": [8, 8, 1], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 3},"
                 "{\"type\": \"max_pool2d\"}, {\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 5}]}",
                 "layers[2] conv2d: kernel 5x5 (dilation 1x1) is larger than its input (3, 3, 4)");
    expect_error(ctx,
                 "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"max_pool2d\"}]}",
                 "layers[1] max_pool2d: needs an image input");
    expect_error(ctx, "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [5, 5]}]}",
                 "layers[0] reshape: target_shape has 25 values, its input 32");
    expect_error(ctx, "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [-1, 5]}]}",
                 "layers[0] reshape: target_shape's other sizes (5 values) do not divide its input's 32");
    expect_error(ctx, "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"reshape\", \"target_shape\": [-1, -1]}]}",
                 "layers[0].target_shape: only one size may be -1");
    { /* Keras's -1: the size the others leave, written back resolved */
        kn_model *r = NULL;
        kn_spec rs;
        char *json = NULL;
        kn_status rst = kn_model_from_json(ctx, "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"reshape\", "
                                                "\"target_shape\": [2, -1]}, {\"type\": \"lstm\", \"units\": 3}, "
                                                "{\"type\": \"dense\", \"units\": 2}]}", NULL, &r, &rs);
        if (!rst) rst = kn_model_to_json(r, &json);
        CHECK(!rst && json && strstr(json, "\"target_shape\":[2,16]"), "reshape [2, -1]: %s",
              json ? json : kn_last_error(ctx));
        kn_free(ctx, json);
        kn_model_free(r);
    }
    expect_error(ctx, "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"conv2d\", \"kernel_size\": 3}]}",
                 "layers[0].filters");
    expect_error(ctx, "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": [3]}]}",
                 "layers[0].kernel_size");
    expect_error(ctx,
                 "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": 3, "
                 "\"padding\": \"full\"}]}",
                 "layers[0].padding");
    expect_error(ctx, "{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"batch_normalization\", \"momentum\": 1.5}]}",
                 "layers[0].momentum");
    expect_error(ctx, "{\"input_shape\": [4], \"layers\": [{\"type\": \"dropout\", \"rate\": 1}, {\"type\": \"dense\", \"units\": 2}]}",
                 "layers[0].rate");
    /* the C API names the layer the same way */
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){784}, 1, &m);
    kn_status st = kn_model_add_conv2d(m, &(kn_conv2d_opts){.filters = 4, .kernel_h = 3, .kernel_w = 3});
    CHECK(st == KN_ERR_SHAPE && strstr(kn_last_error(ctx), "layers[0] conv2d"), "C API: %d %s", (int)st, kn_last_error(ctx));
    CHECK(!kn_model_add_reshape(m, (int64_t[]){28, 28, 1}, 3), "reshape: %s", kn_last_error(ctx));
    st = kn_model_add_pool2d(m, KN_POOL_AVG, 29, 2, 0, 0, false);
    CHECK(st == KN_ERR_SHAPE && strstr(kn_last_error(ctx), "layers[1] average_pool2d"), "C API pool: %d %s", (int)st,
          kn_last_error(ctx));
    kn_model_free(m);
}

/* Keras's conv fans: glorot_uniform over a 3x3x1 -> 16 kernel draws in +-sqrt(6 / (9 + 144)). */
static void test_conv_init(kn_ctx *ctx) {
    kn_model *m = from_json(ctx, cnn_json, NULL);
    CHECK(m, "build: %s", kn_last_error(ctx));
    if (!m) return;
    int64_t n = 0;
    const float *k = kn_model_param(m, "conv2d_0/kernel", &n);
    const float *b = kn_model_param(m, "conv2d_1/bias", NULL);
    CHECK(k && n == 9 * 16 && b, "conv2d_0/kernel: %lld values", (long long)n);
    double limit = sqrt(6.0 / (9 + 9 * 16)), mx = 0;
    for (int64_t i = 0; k && i < n; i++) mx = fabs(k[i]) > mx ? fabs(k[i]) : mx;
    CHECK(mx <= limit && mx > 0.9 * limit, "conv2d_0 kernel max |w| %g, limit %g", mx, limit);
    for (int i = 0; b && i < 32; i++) CHECK(b[i] == 0, "conv2d_1/bias[%d] = %g", i, (double)b[i]);
    CHECK(kn_model_param_count(m) == 160 + 4640 + 4608 * 64 + 64 + 650, "param count %lld",
          (long long)kn_model_param_count(m));
    kn_model_free(m);
}

/* The C API builds the model the JSON describes: same parameters (same seed), same output. */
static void test_c_api_matches(kn_ctx *ctx, const float *x) {
    kn_model *a = from_json(ctx, cnn_json, NULL), *b;
    kn_model_new_sequential(ctx, (int64_t[]){28, 28, 1}, 3, &b);
    kn_status st = kn_model_add_conv2d(b, &(kn_conv2d_opts){.filters = 16, .kernel_h = 3, .kernel_w = 3, .activation = KN_RELU});
    if (!st) st = kn_model_add_conv2d(b, &(kn_conv2d_opts){.filters = 32, .kernel_h = 3, .kernel_w = 3, .activation = KN_RELU});
    if (!st) st = kn_model_add_pool2d(b, KN_POOL_MAX, 2, 2, 0, 0, false);
    if (!st) st = kn_model_add_flatten(b);
    if (!st) st = kn_model_add_dense(b, 64, KN_RELU);
    if (!st) st = kn_model_add_dense(b, 10, KN_SOFTMAX);
    if (!st) st = kn_model_compile(b, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    CHECK(a && !st, "build: %s", kn_last_error(ctx));
    float pa[50], pb[50];
    if (a && !st) {
        CHECK(!kn_model_predict(a, x, 5, pa) && !kn_model_predict(b, x, 5, pb), "predict: %s", kn_last_error(ctx));
        CHECK(memcmp(pa, pb, sizeof pa) == 0, "the C API's model predicts differently from the JSON's");
        char sa[512], sb[512];
        kn_model_summary(a, sa, sizeof sa);
        kn_model_summary(b, sb, sizeof sb);
        CHECK(strcmp(sa, sb) == 0 && strstr(sa, "conv2d 16 3x3 relu -> conv2d 32 3x3 relu -> max_pool2d 2x2 -> flatten"),
              "summaries: '%s' / '%s'", sa, sb);
    }
    kn_model_free(a);
    kn_model_free(b);
}

/* Description round trip: written, read back, written again the same. */
static void test_round_trip(kn_ctx *ctx, kn_model *m) {
    char *text = NULL, *text2 = NULL;
    CHECK(!kn_model_to_json(m, &text), "to_json: %s", kn_last_error(ctx));
    if (!text) return;
    CHECK(strstr(text, "{\"type\":\"conv2d\",\"filters\":16,\"kernel_size\":[3,3],\"strides\":[1,1],\"padding\":\"valid\","
                       "\"dilation_rate\":[1,1],\"activation\":\"relu\",\"use_bias\":true,\"kernel_initializer\":"
                       "\"glorot_uniform\",\"bias_initializer\":\"zeros\"}") &&
              strstr(text, "{\"type\":\"max_pool2d\",\"pool_size\":[2,2],\"strides\":[2,2],\"padding\":\"valid\"}") &&
              strstr(text, "{\"type\":\"flatten\"}"),
          "written: %s", text);
    kn_model *m2 = from_json(ctx, text, NULL);
    CHECK(m2 && !kn_model_to_json(m2, &text2) && strcmp(text, text2) == 0, "written again: %s", text2 ? text2 : kn_last_error(ctx));
    kn_model_free(m2);
    kn_free(ctx, text);
    kn_free(ctx, text2);
}

/* The other image layers: strides, 'same', dilation, average and global pooling, reshape,
 * an activation layer, a conv with no bias; one training step, save, load, predict. */
static void test_other_layers(kn_ctx *ctx, const float *x, const int32_t *y) {
    const char *json =
        "{\"input_shape\": [784], \"layers\": ["
        "{\"type\": \"reshape\", \"target_shape\": [28, 28, 1]},"
        "{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": [3, 5], \"strides\": [2, 1], \"padding\": \"same\","
        " \"dilation_rate\": 1, \"use_bias\": false, \"kernel_initializer\": \"he_uniform\"},"
        "{\"type\": \"activation\", \"activation\": \"tanh\"},"
        "{\"type\": \"average_pool2d\", \"pool_size\": [3, 3], \"strides\": 2, \"padding\": \"same\"},"
        "{\"type\": \"conv2d\", \"filters\": 6, \"kernel_size\": 2, \"dilation_rate\": [2, 2], \"activation\": \"relu\"},"
        "{\"type\": \"global_average_pool2d\"},"
        "{\"type\": \"dense\", \"units\": 10}],"
        "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": \"adam\"}";
    kn_model *m = from_json(ctx, json, NULL);
    CHECK(m, "build: %s", kn_last_error(ctx));
    if (!m) return;
    char s[512];
    kn_model_summary(m, s, sizeof s);
    CHECK(strstr(s, "reshape (28, 28, 1) -> conv2d 4 3x5 stride 2x1 same linear -> activation tanh -> average_pool2d 3x3 "
                    "stride 2x2 same -> conv2d 6 2x2 dilation 2x2 relu -> global_average_pool2d -> dense 10 softmax"),
          "summary: %s", s);
    float loss0 = 0, loss1 = 0;
    for (int i = 0; i < 20; i++) CHECK(!kn_model_train_step(m, x, y, 64, i ? &loss1 : &loss0), "step: %s", kn_last_error(ctx));
    CHECK(loss1 < loss0, "loss %g -> %g", (double)loss0, (double)loss1);
    const char *path = "test_cnn_other.kiln";
    CHECK(!kn_model_save(m, path), "save: %s", kn_last_error(ctx));
    kn_model *l = NULL;
    CHECK(!kn_model_load(ctx, path, NULL, &l), "load: %s", kn_last_error(ctx));
    float pa[100], pb[100];
    if (l) {
        CHECK(!kn_model_predict(m, x, 10, pa) && !kn_model_predict(l, x, 10, pb), "predict: %s", kn_last_error(ctx));
        CHECK(memcmp(pa, pb, sizeof pa) == 0, "loaded model predicts differently");
    }
    kn_model_free(l);
    kn_model_free(m);
    remove(path);
}

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 5}, &ctx);
    test_shape_errors(ctx);
    test_conv_init(ctx);

    /* models/cnn.json (the tests run in the source tree) parses to Keras's parameter count */
    FILE *f = fopen("models/cnn.json", "rb");
    CHECK(f, "models/cnn.json: cannot open");
    if (f) {
        static char buf[4096];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        kn_spec spec;
        kn_model *m = from_json(ctx, buf, &spec);
        CHECK(m && kn_model_param_count(m) == 1199882 && spec.batch_size == 128 && spec.epochs == 10,
              "models/cnn.json: %s", m ? "wrong parameters or settings" : kn_last_error(ctx));
        kn_model_free(m);
    }

    kn_dataset *train, *test, *small, *eval;
    kn_status st = kn_dataset_load(ctx, "fashion-mnist", &train, &test);
    if (st == KN_ERR_IO) {
        printf("SKIP: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return 77;
    }
    if (st || !test) { printf("FAIL load: %s\n", kn_last_error(ctx)); return 1; }
    const float *x = kn_dataset_x(train);
    test_c_api_matches(ctx, x);
    test_other_layers(ctx, x, kn_dataset_labels(train));

    kn_dataset_slice(train, 0, 2000, &small);
    kn_dataset_slice(test, 0, 1000, &eval);
    kn_spec spec;
    kn_model *m = NULL;
    st = kn_model_from_json(ctx, cnn_json, small, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    CHECK(!st, "build: %s", kn_last_error(ctx));
    if (st) return 1;
    kn_eval_report before, after;
    CHECK(!kn_model_evaluate(m, eval, &before), "evaluate: %s", kn_last_error(ctx));
    const kn_history *h;
    st = kn_model_fit(m, small, &(kn_fit_opts){.epochs = 1, .batch_size = (int)spec.batch_size}, &h);
    CHECK(!st, "fit: %s", kn_last_error(ctx));
    CHECK(!kn_model_evaluate(m, eval, &after), "evaluate: %s", kn_last_error(ctx));
    printf("1 epoch on 2000 images: test loss %.4f -> %.4f, accuracy %.4f -> %.4f (train loss %.4f)\n", before.loss,
           after.loss, before.accuracy, after.accuracy, h->epochs[0].loss);
    CHECK(after.loss < before.loss - 0.5, "loss %g -> %g", before.loss, after.loss);
    CHECK(after.accuracy > 0.5, "accuracy %g after one epoch", after.accuracy);

    /* save / load: bit-identical predictions; a session predicts the same */
    enum { N = 300 };
    static float p[N * 10], q[N * 10], r[N * 10];
    const float *tx = kn_dataset_x(test);
    CHECK(!kn_model_predict(m, tx, N, p), "predict: %s", kn_last_error(ctx));
    const char *path = "test_cnn_model.kiln";
    CHECK(!kn_model_save(m, path), "save: %s", kn_last_error(ctx));
    kn_model *l = NULL;
    CHECK(!kn_model_load(ctx, path, NULL, &l), "load: %s", kn_last_error(ctx));
    if (l) {
        CHECK(!kn_model_predict(l, tx, N, q), "predict loaded: %s", kn_last_error(ctx));
        CHECK(memcmp(p, q, sizeof p) == 0, "the loaded model predicts differently");
        int64_t n = 0;
        CHECK(kn_model_param(l, "conv2d_1/kernel", &n) && n == 9 * 16 * 32, "loaded conv2d_1/kernel: %lld", (long long)n);
        kn_session *s = NULL;
        CHECK(!kn_session_new(l, 64, &s), "session: %s", kn_last_error(ctx));
        if (s) {
            CHECK(!kn_session_predict(s, tx, N, r), "session predict: %s", kn_last_error(ctx));
            CHECK(memcmp(p, r, sizeof p) == 0, "the session predicts differently");
        }
        kn_session_free(s);
    }
    kn_session *s = NULL;
    CHECK(!kn_session_new(m, 100, &s), "session: %s", kn_last_error(ctx));
    if (s) {
        memset(r, 0, sizeof r);
        CHECK(!kn_session_predict(s, tx, N, r), "session predict: %s", kn_last_error(ctx));
        CHECK(memcmp(p, r, sizeof p) == 0, "the trained model's session predicts differently");
    }
    kn_session_free(s);
    test_round_trip(ctx, l ? l : m);
    kn_graph_report gr;
    CHECK(!kn_model_graph_report(m, 32, true, &gr, NULL), "graph report: %s", kn_last_error(ctx));
    kn_model_free(l);
    remove(path);
    kn_model_free(m);
    kn_dataset_free(small);
    kn_dataset_free(eval);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    if (!failures) printf("OK\n");
    return failures != 0;
}
