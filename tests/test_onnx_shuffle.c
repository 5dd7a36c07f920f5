/* test_onnx_shuffle.c — ONNX import of ShuffleNet's channel shuffle and channel split
 * (io/onnx_import_shuffle.c: kiln's reshape, permute and cropping2d over (H, W, C)):
 *
 * - a ShuffleNet v2 in miniature exported by PyTorch (tests/golden/make_onnx_shuffle.py wrote
 *   tests/data/onnx/shufflenet.onnx and tests/golden/onnx_shuffle.txt): units of stride 2 and
 *   1, torch.chunk's Slices of the channels (bounds computed from the shape) and
 *   torch.split's Split, torchvision's channel shuffle (shapes computed) and one of constant
 *   shapes: kiln's layers and its predictions against PyTorch's within 1e-5;
 * - a shuffle of 3 groups of 4 (G != C / G) and a Slice of channels 2 .. 10 written with
 *   onnx.helper, against numpy's outputs;
 * - each exported by kiln and imported again, the same predictions;
 * - the refusals, one line naming the node: a 5-D view transposed other than (0, 2, 1, 3, 4),
 *   a view whose group count does not divide the channels.
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

enum { N = 3 };

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 41}, &ctx);
    return ctx;
}

/* m exported to a temporary file and imported back: its predictions for x (N rows); the
 * largest difference from want, or INFINITY when a step fails (said). */
static double export_import(const char *what, kn_model *m, const float *x, const float *want) {
    char dir[] = "/tmp/kiln_onnx_shuffle_XXXXXX", path[64];
    if (!mkdtemp(dir)) return INFINITY;
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    int64_t outs = kn_model_output_size(m);
    float *got = malloc((size_t)(N * outs) * sizeof *got);
    kn_ctx *ctx = new_ctx();
    kn_model *back = NULL;
    double worst = INFINITY;
    kn_status st = kn_model_export_onnx(m, path);
    CHECK(!st, "%s: export: %s", what, kn_last_error(kn_model_ctx(m)));
    if (!st) st = kn_model_import_onnx(ctx, path, NULL, &back);
    CHECK(!st, "%s: exported, then imported: %s", what, kn_last_error(ctx));
    if (!st) st = kn_model_predict(back, x, N, got);
    CHECK(!st, "%s: the imported model's predict: %s", what, kn_last_error(ctx));
    if (!st) worst = 0;
    for (int64_t k = 0; !st && k < N * outs; k++) worst = fmax(worst, fabs((double)want[k] - got[k]));
    CHECK(!st && worst < 1e-5, "%s: exported and imported back, it predicts differently (by %.3g)", what, worst);
    kn_model_free(back);
    kn_ctx_free(ctx);
    free(got);
    unlink(path);
    rmdir(dir);
    return worst;
}

/* The model `name` of (c, h, w) images: kiln's layers `types`, predictions within 1e-5 of
 * the golden ones for the same rows (NCHW read as kiln's NHWC): float32 sums of a few dozen
 * terms, in another order than PyTorch's; then exported and imported again. */
static void torch_case(const char *name, int64_t c, int64_t h, int64_t w, int64_t outs, const char *types) {
    char path[128], rec[64], got_types[2048];
    int64_t in = c * h * w, pos = h * w;
    snprintf(path, sizeof path, "tests/data/onnx/%s.onnx", name);
    snprintf(rec, sizeof rec, "%s.x", name);
    double *x = golden_record(rec, N * in);
    snprintf(rec, sizeof rec, "%s.y", name);
    double *y = golden_record(rec, N * outs);
    kn_ctx *ctx = new_ctx();
    kn_model *m = NULL;
    kn_status st = kn_model_import_onnx(ctx, path, NULL, &m);
    CHECK(!st, "%s: import: %s", name, kn_last_error(ctx));
    if (!st && x && y) {
        layer_types(m, got_types, sizeof got_types);
        CHECK(strcmp(got_types, types) == 0, "%s: layers '%s', expected '%s'", name, got_types, types);
        CHECK(kn_model_input_size(m) == in && kn_model_output_size(m) == outs, "%s: %lld inputs and %lld outputs", name,
              (long long)kn_model_input_size(m), (long long)kn_model_output_size(m));
        float *xf = malloc((size_t)(N * in) * sizeof *xf), *out = malloc((size_t)(N * outs) * sizeof *out);
        for (int64_t r = 0; r < N; r++)
            for (int64_t k = 0; k < in; k++) xf[r * in + (k % pos) * c + k / pos] = (float)x[r * in + k];
        st = kn_model_predict(m, xf, N, out);
        CHECK(!st, "%s: predict: %s", name, kn_last_error(ctx));
        double worst = 0, again = INFINITY;
        for (int64_t k = 0; !st && k < N * outs; k++) worst = fmax(worst, fabs(out[k] - y[k]));
        CHECK(!st && worst < 1e-5, "%s: predictions differ from PyTorch's by %.3g", name, worst);
        if (!st) again = export_import(name, m, xf, out);
        printf("%-11s %s\n            within %.2e of the reference; exported and imported back within %.2e\n", name,
               got_types, worst, again);
        free(xf);
        free(out);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
    free(x);
    free(y);
}

#define SHUFFLE "reshape permute reshape"
#define CROP "reshape cropping2d reshape"
/* a unit of stride 1: the two halves (chunk's Slices or split's Split), branch 2 on the
 * second, concatenated with the first, shuffled */
#define UNIT1 CROP " " CROP " conv2d depthwise_conv2d conv2d concatenate " SHUFFLE

int main(void) {
    golden = read_all("tests/golden/onnx_shuffle.txt");
    CHECK(golden != NULL, "cannot read tests/golden/onnx_shuffle.txt (run from the source root)");
    if (golden) {
        torch_case("shufflenet", 3, 16, 16, 5,
                   /* stem; the unit of stride 2 (PyTorch's padding 1 at stride 2: zero padding, then 'valid') */
                   "zero_padding2d conv2d zero_padding2d max_pool2d "
                   "zero_padding2d depthwise_conv2d conv2d conv2d zero_padding2d depthwise_conv2d conv2d concatenate " SHUFFLE
                   " " UNIT1 " " UNIT1 " conv2d global_average_pool2d dense");
        torch_case("shuffle_g3", 12, 2, 3, 3, SHUFFLE " " CROP " activation flatten dense");
    }
    free(golden);
    import_refused("tests/data/onnx/shuffle_refused_perm.onnx",
                   "node 1 'shuffle' (Transpose): a Transpose of a channel shuffle's view (N, G, C/G, H, W) other than perm "
                   "(0, 2, 1, 3, 4)");
    import_refused("tests/data/onnx/shuffle_refused_groups.onnx",
                   "node 0 'view' (Reshape): a channel shuffle's view of the image's 6 channels as 4 x -1");
    return checks_done("onnx shuffle");
}
