/* test_onnx_volume.c — ONNX export and import of volumes (kiln's conv3d, max_pool3d,
 * average_pool3d, global pooling, zero_padding3d, cropping3d, up_sampling3d over (D, H, W,
 * C); io/onnx_export.c's export_volume, io/onnx_import_volume.c):
 *
 * - kiln's own volume models (test_volume.c's two networks, one with upsampling, cropping,
 *   padding, a batch norm, a softmax over the channels and rescaling, and a functional one
 *   with a residual add and a concatenation of volumes), their parameters seeded away from
 *   kiln's zeros and ones, exported (kn_model_export_onnx: the input (N, D, H, W, C) as kiln
 *   holds it, Transposes to and from (N, C, D, H, W)) and imported back
 *   (kn_model_import_onnx, kiln's importer the only ONNX reader here): the same layers and
 *   the same predictions within 1e-5;
 * - PyTorch's 3-D models (tests/golden/make_onnx_volume.py wrote tests/data/onnx/volume_*.onnx
 *   and tests/golden/onnx_volume.txt): Conv3d 'same' and with pads kiln takes as
 *   zero_padding3d, BatchNorm3d, MaxPool3d, AvgPool3d after PyTorch's Pad, GlobalAveragePool,
 *   Upsample nearest, a crop, Flatten of (N, C, D, H, W) (the next weights reordered); and
 *   two written with onnx.helper: an (N, D, H, W, C) input transposed to channels first (as
 *   tf2onnx writes), auto_pad SAME_UPPER, an AveragePool counting its pads, Slice and Pad
 *   (negative pads too) of (N, D, H, W, C), and opset 9's Upsample with a ReduceMax over D, H,
 *   W: kiln's predictions against PyTorch's within 1e-5, and each exported and imported again;
 * - the refusals, one line each: a grouped 3-D Conv, trilinear upsampling, and the export of
 *   a layer that has no ONNX form over a volume (no file left behind).
 * Run from the source root. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"
#include "onnx_test.h"
#include "model_test.h"

enum { N = 3 };

static int checked, checker_skipped;

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 41}, &ctx);
    return ctx;
}

/* Every parameter set to a fixed pattern: biases and batch-norm statistics away from kiln's
 * zeros and ones (so their layouts show), variances positive. */
static void seed_params(kn_model *m) {
    kn__param_spec specs[64];
    size_t total = 0;
    int n = kn__model_param_specs(m, specs, 64, &total);
    for (int j = 0; j < n && j < 64; j++) {
        int64_t count = 0;
        float *p = kn_model_param(m, specs[j].name, &count);
        bool var = strstr(specs[j].name, "variance") != NULL, gamma = strstr(specs[j].name, "gamma") != NULL;
        for (int64_t k = 0; p && k < count; k++) {
            double v = sin(0.7 * (double)k + 1.3 * j);
            p[k] = (float)(var ? 0.6 + 0.3 * v * v : gamma ? 1 + 0.3 * v : strstr(specs[j].name, "kernel") ? 0.4 * v : 0.2 * v);
        }
    }
}

/* onnx.checker with full_check (strict shape inference: every node's shapes, the output's
 * declared (batch, n)) on the file: 1 it passes, 0 it fails, -1 no /usr/bin/python3 with the
 * onnx package (skipped, said once). */
static int onnx_checker(const char *path) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys\ntry:\n import onnx\nexcept ImportError:\n sys.exit(77)\n"
             "onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' '%s' >/dev/null 2>&1", path);
    int rc = system(cmd);
    rc = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc == 77 || rc == 127 || rc == -1) {
        if (!checker_skipped++) printf("SKIP onnx.checker on the exported files: /usr/bin/python3 with onnx (python3-onnx) needed\n");
        return -1;
    }
    return rc == 0;
}

/* m exported to a temporary file and imported back: the layers `types` and m's predictions
 * for x (N rows) within 1e-5. The worst difference into *worst. */
static void export_import(const char *what, kn_model *m, const float *x, const char *types, double *worst) {
    char dir[] = "/tmp/kiln_onnx_volume_XXXXXX", path[64], got_types[512];
    *worst = INFINITY;
    if (!mkdtemp(dir)) return;
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    int64_t outs = kn_model_output_size(m);
    float *want = malloc((size_t)(N * outs) * sizeof *want), *got = malloc((size_t)(N * outs) * sizeof *got);
    kn_ctx *ctx = new_ctx();
    kn_model *back = NULL;
    kn_status st = kn_model_predict(m, x, N, want);
    CHECK(!st, "%s: predict: %s", what, kn_last_error(kn_model_ctx(m)));
    if (!st) st = kn_model_export_onnx(m, path);
    CHECK(!st, "%s: export: %s", what, kn_last_error(kn_model_ctx(m)));
    int checker = st ? -1 : onnx_checker(path);
    CHECK(checker != 0, "%s: onnx.checker (full_check) refuses the exported file", what);
    checked += checker > 0;
    if (!st) st = kn_model_import_onnx(ctx, path, NULL, &back);
    CHECK(!st, "%s: exported, then imported: %s", what, kn_last_error(ctx));
    if (!st) {
        layer_types(back, got_types, sizeof got_types);
        CHECK(strcmp(got_types, types) == 0, "%s: imported back as '%s', expected '%s'", what, got_types, types);
        CHECK(kn_model_input_size(back) == kn_model_input_size(m) && kn_model_output_size(back) == outs,
              "%s: imported back with %lld inputs and %lld outputs", what, (long long)kn_model_input_size(back),
              (long long)kn_model_output_size(back));
        st = kn_model_predict(back, x, N, got);
        CHECK(!st, "%s: the imported model's predict: %s", what, kn_last_error(ctx));
    }
    if (!st) {
        *worst = 0;
        for (int64_t k = 0; k < N * outs; k++) *worst = fmax(*worst, fabs((double)want[k] - got[k]));
        CHECK(*worst < 1e-5, "%s: exported and imported back, it predicts differently (by %.3g)", what, *worst);
    }
    kn_model_free(back);
    kn_ctx_free(ctx);
    free(want);
    free(got);
    unlink(path);
    rmdir(dir);
}

#define TAIL "], \"loss\": \"sparse_categorical_crossentropy\"}"

static const struct {
    const char *what, *json, *types; /* types: the layers kiln imports the exported file as */
} native[] = {
    {"a", /* test_volume.c's model_a */
     "{\"input_shape\": [5, 6, 7, 2], \"layers\": ["
     "{\"type\": \"conv3d\", \"filters\": 4, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"relu\"},"
     "{\"type\": \"max_pool3d\", \"pool_size\": 2},"
     "{\"type\": \"conv3d\", \"filters\": 3, \"kernel_size\": [1, 2, 2], \"strides\": [1, 1, 2], \"dilation_rate\": [1, 2, 1], "
     "\"activation\": \"tanh\"},"
     "{\"type\": \"global_average_pool3d\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}" TAIL,
     "conv3d max_pool3d conv3d global_average_pool3d dense"},
    {"b", /* test_volume.c's model_b */
     "{\"input_shape\": [5, 6, 7, 2], \"layers\": ["
     "{\"type\": \"Conv3D\", \"filters\": 3, \"kernel_size\": [3, 2, 2], \"strides\": [2, 2, 1], \"padding\": \"same\", "
     "\"activation\": \"tanh\"},"
     "{\"type\": \"AveragePooling3D\", \"pool_size\": 2, \"strides\": 1, \"padding\": \"same\"},"
     "{\"type\": \"ZeroPadding3D\", \"padding\": [[1, 0], [0, 2], [1, 1]]},"
     "{\"type\": \"Cropping3D\", \"cropping\": [[0, 1], [1, 0], [0, 0]]},"
     "{\"type\": \"UpSampling3D\", \"size\": [2, 1, 2]},"
     "{\"type\": \"conv3d\", \"filters\": 3, \"kernel_size\": 1},"
     "{\"type\": \"MaxPooling3D\", \"pool_size\": [2, 3, 2], \"strides\": [2, 2, 3], \"padding\": \"same\"},"
     "{\"type\": \"GlobalMaxPooling3D\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}" TAIL,
     "conv3d average_pool3d zero_padding3d cropping3d up_sampling3d conv3d max_pool3d global_max_pool3d dense"},
    {"upsample",
     "{\"input_shape\": [4, 5, 6, 2], \"layers\": [{\"type\": \"rescaling\", \"scale\": 0.5, \"offset\": 0.1},"
     "{\"type\": \"up_sampling3d\", \"size\": [1, 2, 3]},"
     "{\"type\": \"cropping3d\", \"cropping\": [[1, 0], [0, 1], [2, 1]]},"
     "{\"type\": \"conv3d\", \"filters\": 3, \"kernel_size\": [2, 2, 3], \"strides\": [1, 2, 2], \"dilation_rate\": [2, 1, 1], "
     "\"padding\": \"same\", \"activation\": \"elu\"},"
     "{\"type\": \"batch_normalization\"}, {\"type\": \"zero_padding3d\", \"padding\": 1},"
     "{\"type\": \"average_pool3d\", \"pool_size\": [2, 3, 2], \"strides\": [2, 1, 2]},"
     "{\"type\": \"activation\", \"activation\": \"softmax\"}, {\"type\": \"spatial_dropout3d\", \"rate\": 0.3},"
     "{\"type\": \"flatten\"}, {\"type\": \"dropout\", \"rate\": 0.2}, {\"type\": \"dense\", \"units\": 4}" TAIL,
     /* (rescaling's Mul and Add are read back as two layers) */
     "rescaling rescaling up_sampling3d cropping3d conv3d batch_normalization zero_padding3d average_pool3d activation "
     "flatten dense"},
    {"residual",
     "{\"input_shape\": [3, 4, 5, 2], \"layers\": ["
     "{\"name\": \"a\", \"type\": \"conv3d\", \"filters\": 3, \"kernel_size\": 2, \"padding\": \"same\", \"activation\": \"relu\"},"
     "{\"name\": \"b\", \"type\": \"conv3d\", \"filters\": 3, \"kernel_size\": 1, \"inputs\": \"input\"},"
     "{\"name\": \"s\", \"type\": \"add\", \"inputs\": [\"a\", \"b\"]},"
     "{\"name\": \"c\", \"type\": \"concatenate\", \"inputs\": [\"s\", \"a\"]},"
     "{\"type\": \"max_pool3d\", \"pool_size\": [1, 2, 2], \"strides\": [1, 2, 1], \"padding\": \"same\"},"
     "{\"type\": \"dense\", \"units\": 2, \"activation\": \"sigmoid\"}" TAIL,
     "conv3d conv3d add concatenate max_pool3d flatten dense"},
    {"transpose", /* conv3d_transpose: 'same' (ONNX pads at the end: a crop on import), and 'valid' with
                   * output_padding and a dilation */
     "{\"input_shape\": [3, 4, 5, 2], \"layers\": ["
     "{\"type\": \"conv3d_transpose\", \"filters\": 3, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", "
     "\"activation\": \"relu\"},"
     "{\"type\": \"conv3d_transpose\", \"filters\": 2, \"kernel_size\": [2, 3, 2], \"strides\": [1, 2, 3], "
     "\"dilation_rate\": [2, 1, 1], \"output_padding\": [0, 1, 2], \"activation\": \"tanh\"},"
     "{\"type\": \"global_average_pool3d\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}" TAIL,
     "conv3d_transpose cropping3d activation conv3d_transpose global_average_pool3d dense"},
};

static void native_round_trips(void) {
    for (size_t i = 0; i < sizeof native / sizeof *native; i++) {
        kn_ctx *ctx = new_ctx();
        kn_model *m = build(ctx, native[i].json);
        int64_t in = m ? kn_model_input_size(m) : 0;
        float *x = malloc((size_t)(N * (in ? in : 1)) * sizeof *x);
        for (int64_t k = 0; k < N * in; k++) x[k] = (float)cos(0.37 * (double)k);
        double worst = 0;
        if (m) {
            seed_params(m);
            export_import(native[i].what, m, x, native[i].types, &worst);
            printf("kiln %-9s exported and imported back: %s, predictions within %.2e\n", native[i].what, native[i].types, worst);
        }
        free(x);
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
}

/* The model `name` of (c, d, h, w) volumes (ndhwc: its input is (N, D, H, W, C), kiln's
 * order): kiln's layers `types`, predictions within 1e-5 of PyTorch's for the same rows
 * (NCDHW read as kiln's NDHWC), then exported and imported again. */
static void torch_case(const char *name, bool ndhwc, int64_t c, int64_t d, int64_t h, int64_t w, int64_t outs,
                       const char *types) {
    char path[128], rec[64], got_types[512];
    int64_t in = c * d * h * w, pos = d * h * w;
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
            for (int64_t k = 0; k < in; k++) xf[r * in + (ndhwc ? k : (k % pos) * c + k / pos)] = (float)x[r * in + k];
        st = kn_model_predict(m, xf, N, out);
        CHECK(!st, "%s: predict: %s", name, kn_last_error(ctx));
        double worst = 0, again = 0;
        for (int64_t k = 0; !st && k < N * outs; k++) worst = fmax(worst, fabs(out[k] - y[k]));
        CHECK(!st && worst < 1e-5, "%s: predictions differ from PyTorch's by %.3g", name, worst);
        if (!st) export_import(name, m, xf, types, &again);
        printf("torch %-12s %s: within %.2e of PyTorch; exported and imported back within %.2e\n", name, got_types, worst, again);
        free(xf);
        free(out);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
    free(x);
    free(y);
}

/* The export of a volume model through a layer of no ONNX form over a volume: one line naming
 * it, no file. */
static void export_refused(void) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = build(ctx, "{\"input_shape\": [2, 3, 4, 2], \"layers\": [{\"type\": \"conv3d\", \"filters\": 2, "
                             "\"kernel_size\": 2}, {\"type\": \"layer_normalization\"}, {\"type\": \"flatten\"}, "
                             "{\"type\": \"dense\", \"units\": 2}]}");
    char dir[] = "/tmp/kiln_onnx_volume_XXXXXX", path[64];
    if (m && mkdtemp(dir)) {
        snprintf(path, sizeof path, "%s/m.onnx", dir);
        kn_status st = kn_model_export_onnx(m, path);
        const char *msg = kn_last_error(ctx);
        CHECK(st == KN_ERR_UNSUPPORTED && strstr(msg, "onnx export: layer 'layer_normalization_0' (layer_normalization) over "
                                                      "a volume has no ONNX form here") && !strchr(msg, '\n'),
              "export of a layer norm over a volume: %s '%s'", kn_status_name(st), msg);
        CHECK(access(path, F_OK) != 0, "the refused export left %s behind", path);
        printf("refused %s\n", msg);
        rmdir(dir);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
}

int main(void) {
    native_round_trips();
    golden = read_all("tests/golden/onnx_volume.txt");
    CHECK(golden != NULL, "cannot read tests/golden/onnx_volume.txt (run from the source root)");
    if (golden) {
        torch_case("volume_cnn", false, 2, 6, 8, 7, 3,
                   "conv3d batch_normalization max_pool3d conv3d global_average_pool3d dense");
        torch_case("volume_up", false, 3, 3, 4, 5, 5,
                   "zero_padding3d conv3d up_sampling3d cropping3d zero_padding3d max_pool3d zero_padding3d average_pool3d "
                   "activation flatten dense");
        torch_case("volume_ndhwc", true, 2, 4, 5, 6, 3,
                   "conv3d zero_padding3d average_pool3d cropping3d zero_padding3d cropping3d flatten dense");
        torch_case("volume_upsample", false, 2, 2, 3, 2, 3, "up_sampling3d global_max_pool3d dense");
        torch_case("volume_deconv", false, 2, 2, 3, 2, 3,
                   "conv3d_transpose cropping3d activation conv3d_transpose flatten dense");
    }
    free(golden);
    import_refused("tests/data/onnx/volume_refused_grouped.onnx", "node 0 '/0/Conv' (Conv): a grouped 3-D Conv");
    import_refused("tests/data/onnx/volume_refused_trilinear.onnx", "(Resize): kiln upsamples volumes nearest");
    export_refused();
    if (checked) printf("onnx.checker (full_check) passed %d exported files\n", checked);
    return checks_done("onnx volume");
}
