/* test_q8_model.c — int8 inference end to end (kn_model_set_quantization):
 *   - the reference MLP (models/mlp.json) trained briefly on 6,000 Fashion-MNIST images,
 *     saved, loaded and served in int8: its two hidden dense layers run in int8 (the
 *     10-class output layer stays f32), the predicted
 *     class matches the f32 model's on >= 99% of the 10,000 test images and the accuracy is
 *     within 0.5 point;
 *   - each row is quantized on its own, so a batch's predictions equal the same samples'
 *     one at a time (to the f32 output layer's rounding), and a session
 *     (kn_session_predict) gives the model's own, bit for bit;
 *   - back to KN_QUANT_NONE, the f32 predictions again, bit for bit;
 *   - a dense layer followed by batch normalization (folded into it: the weights are
 *     computed, not parameters) runs in int8 too, and agrees with f32;
 *   - convolutions: exact cases (integer inputs and weights on the quantization grid: 'same'
 *     padding, strides, dilation) equal f32 bit for bit; models/cnn.json and
 *     models/transformer_fashion.json (attention's projections, 1-D convolutions) agree
 *     with f32;
 *   - refused: a model that trained in this process, a classical model, an unknown value.
 * Skips (exit 77) when the dataset is not installed. */
#define _GNU_SOURCE
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

static char *slurp(const char *p) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc((size_t)n + 1, 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) b[0] = 0;
    fclose(f);
    return b;
}

static int argmax(const float *p, int64_t k) {
    int best = 0;
    for (int c = 1; c < k; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

/* Trains spec on the first n_fit images for epochs, saves it to path. */
static kn_model *trained(kn_ctx *ctx, const char *spec_text, kn_dataset *train, int64_t n_fit, int epochs,
                         const char *path) {
    kn_model *m = NULL;
    kn_spec spec;
    kn_dataset *part = NULL;
    CHECK(kn_model_from_json(ctx, spec_text, train, &m, &spec) == KN_OK, "spec: %s", kn_last_error(ctx));
    CHECK(m && kn_model_compile(m, &spec.compile) == KN_OK, "compile: %s", kn_last_error(ctx));
    kn_dataset_slice(train, 0, n_fit, &part);
    CHECK(kn_model_fit(m, part, &(kn_fit_opts){.epochs = epochs, .batch_size = 32, .verbose = 0}, NULL) == KN_OK,
          "fit: %s", kn_last_error(ctx));
    CHECK(kn_model_save(m, path) == KN_OK, "save: %s", kn_last_error(ctx));
    kn_dataset_free(part);
    return m;
}

/* Class agreement of two (n, k) probability tables, and the accuracy of each. */
static double agreement(const float *a, const float *b, int64_t n, int64_t k, const int32_t *labels, double *acc_a,
                        double *acc_b, double *maxdiff) {
    int64_t same = 0, ra = 0, rb = 0;
    *maxdiff = 0;
    for (int64_t i = 0; i < n; i++) {
        int ca = argmax(a + i * k, k), cb = argmax(b + i * k, k);
        same += ca == cb, ra += ca == labels[i], rb += cb == labels[i];
        for (int64_t c = 0; c < k; c++) *maxdiff = fmax(*maxdiff, fabs((double)a[i * k + c] - b[i * k + c]));
    }
    *acc_a = (double)ra / (double)n, *acc_b = (double)rb / (double)n;
    return (double)same / (double)n;
}

/* A convolution whose int8 run is exact: integer pixels spanning 255 steps from -100 (scale
 * 1, zero point 100, so the padding's zero point is tested), weights multiples of 0.5 with
 * each filter's largest 63.5 (scale 0.5), integer biases: every sum is exact in f32 too, so
 * int8 and f32 must agree bit for bit. spec: a conv2d layer's JSON, then a flatten. */
static void exact_conv(kn_ctx *ctx, const char *layer, const char *dir, int64_t h, int64_t w, int64_t c) {
    char spec[512], path[128];
    snprintf(spec, sizeof spec,
             "{\"type\": \"sequential\", \"input_shape\": [%lld, %lld, %lld], \"layers\": [%s, "
             "{\"type\": \"flatten\"}], \"loss\": \"mse\", \"optimizer\": \"sgd\"}",
             (long long)h, (long long)w, (long long)c, layer);
    snprintf(path, sizeof path, "%s/conv.kiln", dir);
    kn_model *m = NULL, *f32 = NULL, *i8 = NULL;
    kn_spec sp;
    CHECK(kn_model_from_json(ctx, spec, NULL, &m, &sp) == KN_OK && kn_model_compile(m, &sp.compile) == KN_OK,
          "conv spec %s: %s", layer, kn_last_error(ctx));
    if (!m) return;
    int64_t nk = 0, nb = 0;
    float *k = kn_model_param(m, "conv2d_0/kernel", &nk), *b = kn_model_param(m, "conv2d_0/bias", &nb);
    CHECK(k && b && nb > 0 && nk % nb == 0, "conv parameters");
    if (!k || !b) return;
    uint64_t r = 12345;
    for (int64_t i = 0; i < nk; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        k[i] = (float)((int)(r >> 33) % 127) * 0.5f;
        if ((r >> 20) & 1) k[i] = -k[i];
    }
    for (int64_t f = 0; f < nb; f++) k[f] = 63.5f, b[f] = (float)(f % 5);
    CHECK(kn_model_save(m, path) == KN_OK, "save conv: %s", kn_last_error(ctx));
    int64_t n = 3, in = h * w * c, out = kn_model_output_size(m);
    float *x = malloc(sizeof(float) * (size_t)(n * in)), *y0 = malloc(sizeof(float) * (size_t)(n * out));
    float *y1 = malloc(sizeof(float) * (size_t)(n * out));
    for (int64_t i = 0; i < n * in; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int)(r >> 33) % 256 - 100);
    }
    for (int64_t s = 0; s < n; s++) x[s * in] = -100, x[s * in + 1] = 155;
    CHECK(kn_model_load(ctx, path, NULL, &f32) == KN_OK && kn_model_load(ctx, path, NULL, &i8) == KN_OK, "load conv");
    if (f32 && i8 && x && y0 && y1) {
        kn_model_set_quantization(i8, KN_QUANT_INT8);
        kn_model_predict(f32, x, n, y0);
        kn_model_predict(i8, x, n, y1);
        int64_t diff = 0;
        for (int64_t i = 0; i < n * out; i++) diff += y0[i] != y1[i];
        printf("exact convolution %s: int8 layers %d, %lld/%lld outputs differ from f32\n", layer,
               kn_model_quantized_layers(i8), (long long)diff, (long long)(n * out));
        CHECK(kn_model_quantized_layers(i8) == 1 && diff == 0, "%s: int8 layers %d, %lld outputs differ", layer,
              kn_model_quantized_layers(i8), (long long)diff);
    }
    kn_model_free(m), kn_model_free(f32), kn_model_free(i8);
    free(x), free(y0), free(y1);
    unlink(path);
}

/* A description trained briefly, saved, loaded twice and served in f32 and in int8 on the
 * first n_eval test images: the int8 layers (exactly `layers`, or at least with
 * at_least), the class agreement and the accuracy difference; with singles, that many
 * images one at a time give the batch's classes (rows are quantized on their own). */
typedef struct {
    const char *what;
    int64_t n_fit, n_eval;
    int layers;
    bool at_least;
    double min_share, max_acc_diff;
    int singles;
} served_case;

static void served_alike(kn_ctx *ctx, const served_case *c, const char *spec_text, kn_dataset *train, const char *path,
                         const kn_dataset *test, float *ref, float *q) {
    const float *x = kn_dataset_x(test);
    const int32_t *labels = kn_dataset_labels(test);
    const int64_t k = 10;
    kn_model *f32 = NULL, *i8 = NULL;
    kn_model_free(trained(ctx, spec_text, train, c->n_fit, 1, path));
    CHECK(kn_model_load(ctx, path, NULL, &f32) == KN_OK && kn_model_load(ctx, path, NULL, &i8) == KN_OK, "load %s: %s",
          c->what, kn_last_error(ctx));
    if (f32 && i8) {
        double acc_f, acc_q, maxdiff;
        kn_model_set_quantization(i8, KN_QUANT_INT8);
        kn_model_predict(f32, x, c->n_eval, ref);
        kn_model_predict(i8, x, c->n_eval, q);
        double share = agreement(ref, q, c->n_eval, k, labels, &acc_f, &acc_q, &maxdiff);
        int layers = kn_model_quantized_layers(i8);
        printf("%s (1 epoch on %lld images): int8 layers %d, agreement %.4f on %lld test images, accuracy f32 %.4f, "
               "int8 %.4f, largest probability difference %.3g\n",
               c->what, (long long)c->n_fit, layers, share, (long long)c->n_eval, acc_f, acc_q, maxdiff);
        CHECK(c->at_least ? layers >= c->layers : layers == c->layers, "%s: %d int8 layers", c->what, layers);
        CHECK(share >= c->min_share && fabs(acc_f - acc_q) <= c->max_acc_diff, "%s: agreement %.4f, accuracy %.4f vs %.4f",
              c->what, share, acc_q, acc_f);
        int64_t ok = 0;
        double sd = 0;
        for (int64_t i = 0; i < c->singles; i++) {
            float p[10];
            kn_model_predict(i8, x + i * 784, 1, p);
            ok += argmax(p, k) == argmax(q + i * k, k);
            for (int64_t j = 0; j < k; j++) sd = fmax(sd, fabs((double)p[j] - q[i * k + j]));
        }
        CHECK(ok == c->singles && sd <= 1e-5, "%s single images: %lld/%d classes as the batch's, difference %.3g", c->what,
              (long long)ok, c->singles, sd);
    }
    kn_model_free(f32), kn_model_free(i8);
}

/* The file at path with every occurrence of from replaced by to (same length), written to out. */
static bool rewrite(const char *path, const char *out, const char *from, const char *to) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n);
    bool ok = b && fread(b, 1, (size_t)n, f) == (size_t)n, hit = false;
    fclose(f);
    size_t len = strlen(from);
    for (long i = 0; ok && i + (long)len <= n; i++)
        if (memcmp(b + i, from, len) == 0) memcpy(b + i, to, len), hit = true;
    f = ok && hit ? fopen(out, "wb") : NULL;
    ok = f && fwrite(b, 1, (size_t)n, f) == (size_t)n;
    if (f) fclose(f);
    free(b);
    return ok;
}

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 3}, &ctx);
    kn_dataset *train, *test;
    kn_status st = kn_dataset_load(ctx, "fashion-mnist", &train, &test);
    if (st == KN_ERR_IO) {
        printf("SKIP: %s\n", kn_last_error(ctx));
        kn_ctx_free(ctx);
        return 77;
    }
    if (st || !test) { printf("FAIL load: %s\n", kn_last_error(ctx)); return 1; }
    char *mlp = slurp("models/mlp.json");
    if (!mlp) { printf("FAIL: models/mlp.json (run from the source folder)\n"); return 1; }
    char dir[] = "/tmp/kiln_q8_XXXXXX", path[64], path_bn[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/mlp.kiln", dir);
    snprintf(path_bn, sizeof path_bn, "%s/bn.kiln", dir);

    /* the reference MLP */
    kn_model *m = trained(ctx, mlp, train, 6000, 2, path);
    CHECK(kn_model_set_quantization(m, KN_QUANT_INT8) == KN_ERR_STATE, "a model that trained here is refused");
    CHECK(kn_model_quantization(m) == KN_QUANT_NONE, "refusal changed nothing");
    kn_model_free(m);
    int64_t n = kn_dataset_size(test), k = 10;
    const float *x = kn_dataset_x(test);
    const int32_t *labels = kn_dataset_labels(test);
    float *ref = malloc(sizeof(float) * (size_t)(n * k)), *q = malloc(sizeof(float) * (size_t)(n * k));
    float *again = malloc(sizeof(float) * (size_t)(n * k));
    kn_model *f32 = NULL, *i8 = NULL;
    CHECK(kn_model_load(ctx, path, NULL, &f32) == KN_OK && kn_model_load(ctx, path, NULL, &i8) == KN_OK, "load: %s",
          kn_last_error(ctx));
    if (!f32 || !i8) return 1;
    CHECK(kn_model_set_quantization(i8, (kn_quant)7) == KN_ERR_INVALID_ARGUMENT, "unknown value refused");
    CHECK(kn_model_set_quantization(i8, KN_QUANT_INT8) == KN_OK, "set int8: %s", kn_last_error(ctx));
    CHECK(kn_model_quantization(i8) == KN_QUANT_INT8, "reads back");
    CHECK(kn_model_predict(f32, x, n, ref) == KN_OK, "predict f32: %s", kn_last_error(ctx));
    CHECK(kn_model_predict(i8, x, n, q) == KN_OK, "predict int8: %s", kn_last_error(ctx));
    CHECK(kn_model_quantized_layers(i8) == 2 && kn_model_quantized_layers(f32) == 0, "int8 layers: %d (f32 model: %d)",
          kn_model_quantized_layers(i8), kn_model_quantized_layers(f32));
    double acc_f, acc_q, maxdiff;
    double share = agreement(ref, q, n, k, labels, &acc_f, &acc_q, &maxdiff);
    printf("reference MLP: int8 agrees with f32 on %.4f of %lld test images; accuracy f32 %.4f, int8 %.4f; largest "
           "probability difference %.3g\n",
           share, (long long)n, acc_f, acc_q, maxdiff);
    CHECK(share >= 0.99, "class agreement %.4f", share);
    CHECK(fabs(acc_f - acc_q) <= 0.005, "accuracy %.4f against %.4f", acc_q, acc_f);
    CHECK(maxdiff > 0, "int8 predictions equal the f32 ones: nothing was quantized");

    /* one sample at a time: each row is quantized on its own, so only the f32 output
     * layer's summation order (one row against a batch) separates the two */
    int64_t tried = 300, same = 0;
    double single_diff = 0;
    for (int64_t i = 0; i < tried; i++) {
        float p[10];
        kn_model_predict(i8, x + i * 784, 1, p);
        same += argmax(p, k) == argmax(q + i * k, k);
        for (int64_t c = 0; c < k; c++) single_diff = fmax(single_diff, fabs((double)p[c] - q[i * k + c]));
    }
    CHECK(same == tried && single_diff <= 1e-5, "single-sample int8 predictions: %lld/%lld classes as the batch's, "
          "largest difference %.3g", (long long)same, (long long)tried, single_diff);
    /* a session builds its own int8 graph: the model's predictions, bit for bit */
    kn_session *s = NULL;
    CHECK(kn_session_new(i8, 256, &s) == KN_OK, "session: %s", kn_last_error(ctx));
    if (s) {
        CHECK(kn_session_predict(s, x, 256, again) == KN_OK, "session predict: %s", kn_last_error(ctx));
        CHECK(memcmp(again, q, sizeof(float) * 256 * (size_t)k) == 0, "the session's int8 predictions differ");
        kn_session_free(s);
    }
    /* an int8 file (kn_model_save_as KN_I8): about a quarter of the f32 file, served in int8
     * when loaded, with the same predictions as the f32 file served in int8 */
    char p8[80], bad[80];
    snprintf(p8, sizeof p8, "%s/mlp8.kiln", dir);
    snprintf(bad, sizeof bad, "%s/bad.kiln", dir);
    CHECK(kn_model_save_as(i8, p8, KN_I8) == KN_OK, "save int8: %s", kn_last_error(ctx));
    kn_model *l8 = NULL;
    CHECK(kn_model_load(ctx, p8, NULL, &l8) == KN_OK, "load int8 file: %s", kn_last_error(ctx));
    if (l8) {
        FILE *a = fopen(path, "rb"), *b = fopen(p8, "rb");
        long sa = 0, sb = 0;
        if (a) fseek(a, 0, SEEK_END), sa = ftell(a), fclose(a);
        if (b) fseek(b, 0, SEEK_END), sb = ftell(b), fclose(b);
        CHECK(kn_model_param_dtype(l8) == KN_I8 && kn_model_quantization(l8) == KN_QUANT_INT8, "int8 file: dtype %s",
              kn_dtype_name(kn_model_param_dtype(l8)));
        kn_model_predict(l8, x, n, again);
        int64_t bits = 0, cls = 0;
        double d8 = 0;
        for (int64_t i = 0; i < n * k; i++) bits += again[i] == q[i], d8 = fmax(d8, fabs((double)again[i] - q[i]));
        for (int64_t i = 0; i < n; i++) cls += argmax(again + i * k, k) == argmax(q + i * k, k);
        printf("int8 file: %ld bytes (f32 %ld, %.1f%%), %d int8 layers; against the f32 file served in int8: %lld/%lld "
               "outputs equal, classes equal on %lld/%lld, largest difference %.3g\n",
               sb, sa, 100.0 * (double)sb / (double)sa, kn_model_quantized_layers(l8), (long long)bits,
               (long long)(n * k), (long long)cls, (long long)n, d8);
        CHECK(sb <= sa * 0.30, "int8 file is %.1f%% of the f32 one", 100.0 * (double)sb / (double)sa);
        CHECK(kn_model_quantized_layers(l8) == 2 && cls == n && d8 <= 1e-5, "int8 file's predictions");
        /* the dequantized weights in f32 */
        CHECK(kn_model_set_quantization(l8, KN_QUANT_NONE) == KN_OK, "int8 file to f32");
        kn_model_predict(l8, x, n, again);
        share = agreement(ref, again, n, k, labels, &acc_f, &acc_q, &maxdiff);
        CHECK(share >= 0.99, "int8 file's weights in f32 agree with f32 on %.4f", share);
        kn_model_free(l8);
    }
    /* damaged int8 files: a weight without its scales, a scale that is NaN */
    kn_model *broken = NULL;
    CHECK(rewrite(p8, bad, "kiln.scale.dense_0", "kiln.scalX.dense_0") &&
              kn_model_load(ctx, bad, NULL, &broken) == KN_ERR_FORMAT && !broken,
          "a renamed scale tensor is refused: %s", kn_last_error(ctx));
    printf("renamed scale: %s\n", kn_last_error(ctx));
    CHECK(rewrite(p8, bad, "kiln.scale.dense_0/kernel", "kiln.pad.0000000000000000") &&
              kn_model_load(ctx, bad, NULL, &broken) == KN_ERR_FORMAT && !broken &&
              strstr(kn_last_error(ctx), "no kiln.scale.dense_0/kernel"),
          "an I8 weight without scales is refused: %s", kn_last_error(ctx));
    printf("scale gone: %s\n", kn_last_error(ctx));
    CHECK(rewrite(p8, bad, "\"kiln.scale.dense_1/kernel\":{\"dtype\":\"F32\"", "\"kiln.scale.dense_1/kernel\":{\"dtype\":\"I32\"") &&
              kn_model_load(ctx, bad, NULL, &broken) == KN_ERR_FORMAT && !broken,
          "a scale tensor of another dtype is refused: %s", kn_last_error(ctx));
    printf("scale of dtype I32: %s\n", kn_last_error(ctx));
    unlink(p8), unlink(bad);

    /* back to f32 */
    CHECK(kn_model_set_quantization(i8, KN_QUANT_NONE) == KN_OK, "set none: %s", kn_last_error(ctx));
    kn_model_predict(i8, x, n, again);
    CHECK(memcmp(again, ref, sizeof(float) * (size_t)(n * k)) == 0, "f32 again after int8");
    CHECK(kn_model_quantized_layers(i8) == 0, "no int8 layers after KN_QUANT_NONE");
    kn_model_free(f32), kn_model_free(i8);

    /* a dense layer with batch normalization folded into it */
    const char *bn = "{\"type\": \"sequential\", \"input_shape\": [784], \"layers\": ["
                     "{\"type\": \"dense\", \"units\": 48}, {\"type\": \"batch_normalization\"},"
                     "{\"type\": \"activation\", \"activation\": \"relu\"},"
                     "{\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],"
                     "\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": \"adam\"}";
    /* (the dense layer's weights are computed by the fold pass, not parameters) */
    served_alike(ctx, &(served_case){"dense + batch norm (folded)", 3000, n, 1, false, 0.98, 0.01, 0}, bn, train, path_bn,
                 test, ref, q);

    /* convolutions: exact cases (padding, strides, dilation), then the CNN of models/cnn.json */
    exact_conv(ctx, "{\"type\": \"conv2d\", \"filters\": 16, \"kernel_size\": 3, \"padding\": \"same\"}", dir, 7, 9, 5);
    exact_conv(ctx, "{\"type\": \"conv2d\", \"filters\": 20, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\"}",
               dir, 8, 8, 6);
    exact_conv(ctx, "{\"type\": \"conv2d\", \"filters\": 32, \"kernel_size\": 3, \"dilation_rate\": 2, \"padding\": \"same\", "
               "\"activation\": \"relu\"}", dir, 9, 7, 4);
    /* cnn.json: its second convolution (3x3x32 -> 64) and its 9216 -> 128 dense layer; the
     * first convolution (9 inputs a window) and the 10-class layer stay f32 */
    char *cnn = slurp("models/cnn.json");
    served_alike(ctx, &(served_case){"cnn.json", 2000, 2000, 2, false, 0.98, 0.01, 50}, cnn, train, path, test, ref, q);
    free(cnn);
    /* a transformer (models/transformer_fashion.json): attention's projections (matmuls by
     * views of the kernels) and the 1-D convolutions of its feed-forward block in int8 */
    char *tf = slurp("models/transformer_fashion.json");
    served_alike(ctx, &(served_case){"transformer_fashion.json", 2000, 1000, 5, true, 0.97, 0.015, 0}, tf, train, path,
                 test, ref, q);
    free(tf);

    /* a classical model has no dense layers to quantize */
    kn_model *lr = NULL;
    kn_spec lspec;
    CHECK(kn_model_from_json(ctx, "{\"type\": \"logistic_regression\"}", train, &lr, &lspec) == KN_OK, "logreg: %s",
          kn_last_error(ctx));
    if (lr) CHECK(kn_model_set_quantization(lr, KN_QUANT_INT8) == KN_ERR_UNSUPPORTED, "a classical model is refused");
    kn_model_free(lr);

    unlink(path), unlink(path_bn), rmdir(dir);
    free(ref), free(q), free(again), free(mlp);
    kn_dataset_free(train), kn_dataset_free(test);
    kn_ctx_free(ctx);
    return checks_done("int8 model");
}
