/* test_onnx_quant.c — quantized ONNX models imported (io/onnx_import_quant.c: each quantized op
 * read as the float op over dequantized weights, a Relu where a zero point floors a value at
 * 0), in onnxruntime.quantization's three forms (tests/golden/make_onnx_quant.py wrote
 * tests/data/onnx/q_*.onnx and tests/golden/onnx_quant.txt):
 *
 * - QDQ (QuantizeLinear / DequantizeLinear around activations, DequantizeLinear of int8
 *   weights per channel and per tensor, of uint8 weights with a zero point, of int32 biases),
 *   QOperator (QLinearConv, QLinearMatMul, QLinearAdd, QLinearGlobalAveragePool; QGemm,
 *   QLinearLeakyRelu, QLinearSigmoid, QLinearConcat) and quantize_dynamic (MatMulInteger,
 *   ConvInteger, MatMulIntegerToFloat after DynamicQuantizeLinear), and QDQ between the nodes
 *   of a GELU PyTorch spells in nodes (dropped, kiln reads the pattern: a dense layer's gelu,
 *   and no relu for the quantization of 1 + erf, which holds nothing below 0): kiln's layers, and its
 *   predictions against the float model the quantized one stands for within 1e-4 (float32
 *   sums of a few dozen terms against float64), and against the quantized model as ONNX's
 *   ops define it (onnxruntime's results, to its rounding) within 0.05: the rounding of the
 *   activations to their 8-bit grids, which kiln does not do (numpy measured 0.003 to 0.025
 *   between the two references; kiln must not add more than rounding to that);
 * - a half-precision model as onnxconverter-common's float16 conversion writes one (a float
 *   input Cast to float16, float16 weights and Constant, a bfloat16 weight Cast to float16, a
 *   Cast back to float): kiln computes it in f32 from the widened weights (within 1e-4 of
 *   that float64 reference, and within 0.05 of the model run with float16 activations);
 * - the imported models served in int8 (KN_QUANT_INT8): their convolutions and dense layers
 *   run in int8, within 0.1 of the quantized model's results (kiln's own activation
 *   quantization, per row, instead of ORT's calibrated one);
 * - saved and loaded, the same predictions;
 * - the refusal of a quantized op kiln does not read (QLinearSoftmax), one line naming the
 *   node, and of bytes cut short inside an int8 tensor.
 * Run from the source root. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"
#include "onnx_test.h"

enum { N = 4 };

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 43}, &ctx);
    return ctx;
}

typedef struct {
    const char *name;
    int64_t c, h, w; /* images (c, h, w), or w features (c 0) */
    int64_t outputs;
    const char *layers;
} quant_case;

static const quant_case cases[] = {
    {"qdq_cnn", 3, 8, 8, 5, "conv2d max_pool2d conv2d conv2d global_average_pool2d dense"},
    {"qop_cnn", 3, 8, 8, 5, "conv2d max_pool2d conv2d add activation global_average_pool2d dense"},
    {"qgemm_mlp", 0, 0, 6, 3, "dense dense concatenate dense"},
    {"dynamic_mlp", 0, 0, 16, 4, "dense dense"},
    {"dynamic_conv", 4, 6, 6, 3, "conv2d flatten dense"},
    {"qdq_gelu_mlp", 0, 0, 16, 4, "dense dense"},
    {"half_cnn", 3, 8, 8, 5, "conv2d max_pool2d conv2d batch_normalization activation rescaling global_average_pool2d dense"},
};

/* The largest difference of got from want (n values), relative to 1 + |want|. */
static double worst_rel(const float *got, const double *want, int64_t n) {
    double worst = 0;
    for (int64_t k = 0; k < n; k++) worst = fmax(worst, fabs(got[k] - want[k]) / (1 + fabs(want[k])));
    return worst;
}

static double worst_abs(const float *got, const double *want, int64_t n) {
    double worst = 0;
    for (int64_t k = 0; k < n; k++) worst = fmax(worst, fabs(got[k] - want[k]));
    return worst;
}

/* m saved to a temporary file and loaded: its predictions for x equal want. */
static void saved_alike(const quant_case *c, kn_model *m, const float *x, const float *want) {
    char dir[] = "/tmp/kiln_onnx_quant_XXXXXX", path[64];
    if (!mkdtemp(dir)) return;
    snprintf(path, sizeof path, "%s/m.kiln", dir);
    kn_ctx *ctx = new_ctx();
    kn_model *back = NULL;
    float *got = malloc((size_t)(N * c->outputs) * sizeof *got);
    kn_status st = kn_model_save(m, path);
    CHECK(!st, "%s: save: %s", c->name, kn_last_error(kn_model_ctx(m)));
    if (!st) st = kn_model_load(ctx, path, NULL, &back);
    CHECK(!st, "%s: load: %s", c->name, kn_last_error(ctx));
    if (!st) st = kn_model_predict(back, x, N, got);
    CHECK(!st, "%s: the loaded model's predict: %s", c->name, kn_last_error(ctx));
    double worst = 0;
    for (int64_t k = 0; !st && k < N * c->outputs; k++) worst = fmax(worst, fabs((double)got[k] - want[k]));
    CHECK(!st && worst < 1e-5, "%s: saved and loaded, it predicts differently (by %.3g)", c->name, worst);
    kn_model_free(back);
    kn_ctx_free(ctx);
    free(got);
    unlink(path);
    rmdir(dir);
}

static void quant_golden(const quant_case *c) {
    char path[128], rec[64], types[512];
    snprintf(path, sizeof path, "tests/data/onnx/q_%s.onnx", c->name);
    int64_t in = c->c ? c->c * c->h * c->w : c->w;
    snprintf(rec, sizeof rec, "%s.x", c->name);
    double *x = golden_record(rec, N * in);
    snprintf(rec, sizeof rec, "%s.y", c->name);
    double *y = golden_record(rec, N * c->outputs);
    snprintf(rec, sizeof rec, "%s.ort", c->name);
    double *ort = golden_record(rec, N * c->outputs);
    kn_ctx *ctx = new_ctx();
    kn_model *m = NULL;
    kn_status st = kn_model_import_onnx(ctx, path, NULL, &m);
    CHECK(!st, "%s: import: %s", c->name, kn_last_error(ctx));
    if (!st && x && y && ort) {
        layer_types(m, types, sizeof types);
        CHECK(strcmp(types, c->layers) == 0, "%s: layers '%s', expected '%s'", c->name, types, c->layers);
        float *xf = malloc((size_t)(N * in) * sizeof *xf), *out = malloc((size_t)(N * c->outputs) * sizeof *out);
        float *out8 = malloc((size_t)(N * c->outputs) * sizeof *out8);
        for (int64_t r = 0; r < N; r++) /* (N, C, H, W) rows as kiln's (N, H, W, C) */
            for (int64_t k = 0; k < in; k++) {
                int64_t ch = c->c ? k / (c->h * c->w) : 0, p = c->c ? k % (c->h * c->w) : k;
                xf[r * in + (c->c ? p * c->c + ch : k)] = (float)x[r * in + k];
            }
        st = kn_model_predict(m, xf, N, out);
        CHECK(!st, "%s: predict: %s", c->name, kn_last_error(ctx));
        double to_float = st ? INFINITY : worst_rel(out, y, N * c->outputs);
        double to_ort = st ? INFINITY : worst_abs(out, ort, N * c->outputs);
        CHECK(to_float < 1e-4, "%s: predictions differ from the float model's by %.3g", c->name, to_float);
        CHECK(to_ort < 0.05, "%s: predictions differ from the quantized model's by %.3g", c->name, to_ort);
        if (!st) saved_alike(c, m, xf, out);
        /* served in int8 */
        st = kn_model_set_quantization(m, KN_QUANT_INT8);
        if (!st) st = kn_model_predict(m, xf, N, out8);
        CHECK(!st, "%s: int8 predict: %s", c->name, kn_last_error(ctx));
        int q8 = kn_model_quantized_layers(m);
        double int8_ort = st ? INFINITY : worst_abs(out8, ort, N * c->outputs);
        CHECK(q8 > 0, "%s: no layer served in int8", c->name);
        CHECK(int8_ort < 0.1, "%s: int8 predictions differ from the quantized model's by %.3g", c->name, int8_ort);
        printf("%-12s %-62s float model %.1e, ORT's ops %.2g, kiln int8 (%d layers) %.2g\n", c->name, types, to_float,
               to_ort, q8, int8_ort);
        free(xf);
        free(out);
        free(out8);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
    free(x);
    free(y);
    free(ort);
}

/* The file cut inside its last initializer (an int8 weight or int32 bias): a format error
 * naming the file, nothing imported. */
static void cut_short(void) {
    char *bytes = NULL;
    FILE *f = fopen("tests/data/onnx/q_qdq_cnn.onnx", "rb");
    long size = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (f && size > 64 && fseek(f, 0, SEEK_SET) == 0 && (bytes = malloc((size_t)size)) &&
        fread(bytes, 1, (size_t)size, f) == (size_t)size) {
        int refused = 0;
        for (long cut = size - 1; cut > size - 48; cut -= 7) {
            kn_ctx *ctx = new_ctx();
            kn_model *m = NULL;
            kn_status st = kn_model_import_onnx_buffer(ctx, bytes, (size_t)cut, "cut.onnx", NULL, &m);
            const char *msg = kn_last_error(ctx);
            CHECK(st != KN_OK && !m && strstr(msg, "cut.onnx") && !strchr(msg, '\n'), "cut at %ld of %ld: %s '%s'", cut, size,
                  kn_status_name(st), msg);
            refused += st != KN_OK;
            kn_model_free(m);
            kn_ctx_free(ctx);
        }
        printf("cut short: %d cuts refused\n", refused);
    } else {
        CHECK(0, "cannot read tests/data/onnx/q_qdq_cnn.onnx");
    }
    if (f) fclose(f);
    free(bytes);
}

int main(void) {
    golden = read_all("tests/golden/onnx_quant.txt");
    CHECK(golden != NULL, "cannot read tests/golden/onnx_quant.txt (run from the source root)");
    for (size_t i = 0; golden && i < sizeof cases / sizeof *cases; i++) quant_golden(&cases[i]);
    free(golden);
    import_refused("tests/data/onnx/q_refused_softmax.onnx", "'QLinearSoftmax_8' (QLinearSoftmax): a quantized op kiln does not read");
    cut_short();
    if (failures) printf("%d check(s) failed\n", failures);
    else printf("all quantized ONNX import checks passed\n");
    return failures != 0;
}
