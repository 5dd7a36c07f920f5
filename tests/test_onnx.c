/* test_onnx.c — ONNX import (kn_model_import_onnx; io/onnx_import.c, io/onnx_proto.c):
 *
 * - PyTorch models exported by torch.onnx.export (tests/golden/make_onnx.py wrote
 *   tests/data/onnx/ and tests/golden/onnx.txt): an MLP, a CNN of three channels (zero
 *   padding kiln adds, a batch norm, a depthwise and a pointwise convolution, relu6, a
 *   flatten whose next weights kiln reorders from (c, y, x) to (y, x, c)), every activation
 *   PyTorch exports as one op or x * gate(x), and a CNN with average and global pooling
 *   (a Pad of zeros before the average pool, which kiln drops), a residual add, and a CNN
 *   of branches (concatenated channels, a residual add, x * g - max(x, g)), and a model
 *   taking (N, H, W, C) images as tf2onnx exports Keras's (transposed to NCHW around the
 *   convolution; scaled by constants), and more after (the cases table says what each holds:
 *   sequences, layer norms, attention and transformer layers):
 *   kiln's predictions against PyTorch's for the same inputs;
 * - the imported model saved and loaded predicts the same, and trains (a step);
 * - each exported again (kn_model_export_onnx), and kiln's own models of every layer and
 *   activation it exports (transposed convolutions, upsampling, cropping and PReLU too):
 *   onnx.checker (with shape inference) accepts the files and
 *   tests/onnx_eval.py, an ONNX interpreter in numpy, computes kiln's predictions from them
 *   (skipped, said, without python3-onnx);
 * - the refusals, one line naming the file and the node: two outputs, an op
 *   kiln does not import, attention whose weights are read or under a mask other than the
 *   causal one, truncated and foreign bytes, an empty file. Run from the source
 *   root. */
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

static int exported_checked, export_skipped;

/* tests/onnx_eval.py (numpy, and onnx.checker with shape inference) on `path` for n rows
 * x (kiln's order): its outputs into y (n * outs); 1 when it ran, 0 when it failed, -1
 * when python3 or its onnx package is missing (the check is skipped, said once). */
static int numpy_eval(const char *path, const float *x, int64_t n, int64_t in, double *y, int64_t outs) {
    char xin[] = "/tmp/kiln_onnx_in_XXXXXX", cmd[512];
    int fd = mkstemp(xin);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) return 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t k = 0; k < in; k++) fprintf(f, "%.9g%c", (double)x[r * in + k], k + 1 < in ? ' ' : '\n');
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/onnx_eval.py '%s' '%s' 2>/dev/null; echo \"rc $?\"", path, xin);
    FILE *p = popen(cmd, "r");
    int64_t got = 0;
    int rc = -2;
    char word[64];
    while (p && fscanf(p, "%63s", word) == 1) {
        if (strcmp(word, "rc") == 0) {
            if (fscanf(p, "%d", &rc) != 1) rc = -2;
            break;
        }
        if (got < n * outs) y[got] = strtod(word, NULL);
        got++;
    }
    if (p) pclose(p);
    unlink(xin);
    if (rc == 77 || rc == 127) return -1;
    return rc == 0 && got == n * outs;
}

/* The exported file imported back by kiln: the same predictions for x as want (n rows). */
static void check_import_back(const char *what, const char *path, const float *x, int64_t n, const float *want,
                              int64_t outs) {
    kn_ctx *ctx = NULL;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 3}, &ctx);
    kn_model *back = NULL;
    float *got = malloc((size_t)(n * outs) * sizeof *got);
    kn_status st = kn_model_import_onnx(ctx, path, NULL, &back);
    CHECK(!st, "%s: exported then imported: %s", what, kn_last_error(ctx));
    if (!st) st = kn_model_predict(back, x, n, got);
    double worst = 0;
    for (int64_t k = 0; !st && k < n * outs; k++) worst = fmax(worst, fabs(want[k] - got[k]) / (1 + fabs(want[k])));
    CHECK(!st && worst < 1e-5, "%s: exported then imported, it predicts differently (%.3g; %s)", what, worst,
          st ? kn_last_error(ctx) : "");
    if (!st) printf("%-8s imported back: predictions within %.2e\n", what, worst);
    free(got);
    kn_model_free(back);
    kn_ctx_free(ctx);
}

/* m exported as ONNX: onnx.checker accepts it, numpy computes kiln's predictions for x, and
 * kiln imports it back to the same predictions. */
static void check_export(const char *what, kn_model *m, const float *x, int64_t n) {
    char dir[] = "/tmp/kiln_export_XXXXXX", path[64];
    if (!mkdtemp(dir)) return;
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    int64_t in = kn_model_input_size(m), outs = kn_model_output_size(m);
    float *want = malloc((size_t)(n * outs) * sizeof *want);
    double *got = malloc((size_t)(n * outs) * sizeof *got);
    kn_status st = kn_model_export_onnx(m, path);
    CHECK(!st, "%s: export: %s", what, kn_last_error(kn_model_ctx(m)));
    if (!st) st = kn_model_predict(m, x, n, want);
    if (!st) check_import_back(what, path, x, n, want, outs);
    int ran = st ? 0 : numpy_eval(path, x, n, in, got, outs);
    if (ran < 0) {
        if (!export_skipped++) printf("SKIP the exported models' check: /usr/bin/python3 with numpy and onnx (python3-onnx) needed\n");
    } else if (!st) {
        double worst = 0;
        for (int64_t k = 0; ran && k < n * outs; k++) worst = fmax(worst, fabs(want[k] - got[k]) / (1 + fabs(got[k])));
        bool ok = ran && worst < 1e-5;
        CHECK(ok, "%s: exported, onnx.checker and numpy give %s (worst error %.3g; the file is kept: %s)", what,
              ran ? "other values" : "a failure (run tests/onnx_eval.py on it)", worst, path);
        if (ok) printf("%-8s exported: onnx.checker passes, numpy's outputs within %.2e\n", what, worst);
        exported_checked += ok;
        if (!ok) {
            free(want), free(got);
            return;
        }
    }
    free(want);
    free(got);
    unlink(path);
    rmdir(dir);
}

typedef struct {
    const char *name;
    int64_t c, h, w; /* image inputs (C, H, W); c = 0: features w, or h steps of w (below) */
    bool nhwc;       /* the ONNX input is (N, H, W, C) already (kiln's order) */
    int64_t outputs;
    const char *layers; /* what the description must contain, in order (type names) */
    char seq;           /* 'i': w token ids; 's': (N, L = h, C = w), kiln's order; 'c': (N, C = c, L = w) */
} onnx_case;

static const onnx_case cases[] = {
    {"mlp", 1, 8, 8, false, 10, "flatten dense dense dense", 0},
    {"cnn", 3, 12, 10, false, 5,
     "conv2d max_pool2d zero_padding2d conv2d batch_normalization depthwise_conv2d conv2d flatten dense", 0},
    {"acts", 0, 0, 6, false, 3, "dense dense dense dense dense dense dense dense dense", 0},
    /* (PyTorch's export folds this batch norm into the convolution before it) */
    {"gap", 2, 9, 9, false, 4, "conv2d average_pool2d conv2d global_average_pool2d dense", 0},
    {"residual", 0, 0, 4, false, 4, "dense add", 0},
    {"branches", 3, 8, 8, false, 4,
     "conv2d conv2d concatenate conv2d add activation conv2d multiply maximum subtract max_pool2d flatten dense", 0},
    /* (N, H, W, C) in, transposed around the convolution, scaled by constants: tf2onnx's form */
    {"nhwc", 3, 5, 6, true, 3, "rescaling rescaling conv2d flatten rescaling dense", 0},
    /* a decoder: ConvTranspose with pads and output_padding, PReLU, upsampling, slicing */
    {"generator", 4, 3, 5, false, 3,
     "conv2d_transpose cropping2d prelu up_sampling2d cropping2d cropping2d conv2d prelu up_sampling2d flatten dense", 0},
    /* torchvision's ResNet stem (its max pool's pads as zeros over the relu) and a basic block */
    {"resnet", 3, 20, 18, false, 5,
     "zero_padding2d conv2d zero_padding2d max_pool2d conv2d conv2d add activation global_average_pool2d dense", 0},
    /* sequences: the last step of a forward LSTM is its return_sequences false */
    {"lstm_tokens", 0, 0, 9, false, 4, "embedding lstm lstm dense", 'i'},
    /* a bidirectional GRU's output at the last step: the backward's first, a crop of the sequence */
    {"bigru", 0, 7, 6, false, 3, "bidirectional cropping1d flatten dense", 's'},
    {"rnn_gru_state", 0, 6, 5, false, 2, "simple_rnn gru dense", 's'},
    /* torch.cat((h[0], h[1]), 1): Keras's Bidirectional(return_sequences=False) */
    {"bilstm_state", 0, 5, 4, false, 3, "bidirectional dense", 's'},
    {"textcnn", 0, 0, 12, false, 3, "embedding conv1d max_pool1d conv1d global_max_pool1d dense", 'i'},
    {"step_dense", 0, 5, 4, false, 2, "time_distributed global_average_pool1d dense", 's'},
    {"raw_conv1d", 3, 0, 10, false, 2, "zero_padding1d conv1d average_pool1d flatten dense", 'c'},
    /* ConvTranspose1d with pads: conv1d_transpose 'valid' and a crop, the relu after it its own layer */
    {"deconv1d", 3, 0, 5, false, 2, "conv1d_transpose cropping1d activation flatten dense", 'c'},
    /* GELU and Mish as PyTorch spells them in nodes: each the dense layer's activation */
    {"gelu_mish", 0, 0, 5, false, 3, "dense dense dense", 0},
    /* a convolution read twice, once through Transposes: its relu reader is its own layer */
    {"shared_conv", 2, 6, 6, false, 2, "conv2d activation add flatten dense", 0},
    /* a learned (L, C) table added, LayerNorm spelled in nodes (opset 13) and as LayerNormalization (17) */
    {"ln_pos", 0, 6, 4, false, 2,
     "position_embedding layer_normalization time_distributed global_average_pool1d layer_normalization dense", 's'},
    {"ln_pos17", 0, 6, 4, false, 2,
     "position_embedding layer_normalization time_distributed global_average_pool1d layer_normalization dense", 's'},
    /* nn.MultiheadAttention: its packed projections sliced by shape arithmetic, read as one layer */
    {"mha", 0, 5, 4, false, 3, "time_distributed multi_head_attention global_average_pool1d dense", 's'},
    /* nn.TransformerEncoderLayer in (L, N, C) order under a causal mask */
    {"encoder", 0, 6, 4, false, 2,
     "time_distributed multi_head_attention add layer_normalization time_distributed time_distributed add "
     "layer_normalization global_average_pool1d dense", 's'},
    /* queries from 3 of the 5 steps, keys and values of other widths (kdim, vdim): three inputs */
    {"cross_attention", 0, 5, 4, false, 2, "cropping1d time_distributed time_distributed multi_head_attention flatten dense", 's'},
    /* an encoder layer (norm first, GELU) as the memory of a decoder layer: its cross-attention's
     * projection cut in two by shape arithmetic */
    {"transformer", 0, 5, 4, false, 2,
     "time_distributed layer_normalization multi_head_attention add layer_normalization time_distributed time_distributed "
     "add multi_head_attention add layer_normalization multi_head_attention add layer_normalization time_distributed "
     "time_distributed add layer_normalization global_average_pool1d dense", 's'},
    /* pools with ceil_mode (an overhang kiln's 'same' gives), a Concat of one input, a mean over H and W */
    {"ceil_pools", 3, 12, 10, false, 3,
     "conv2d max_pool2d conv2d average_pool2d max_pool2d global_average_pool2d dense", 0},
    /* a Concat of ten inputs (DenseNet's blocks): concatenate layers of 8 inputs at most, chained */
    {"wide_concat", 2, 6, 6, false, 3,
     "conv2d conv2d conv2d conv2d conv2d conv2d conv2d conv2d conv2d conv2d concatenate concatenate activation "
     "global_max_pool2d dense", 0},
    /* squeeze-and-excitation (EfficientNet's, MobileNetV3's): 1x1 Convs of (N, C, 1, 1) as dense,
     * the image times its (N, C, 1, 1) gates as a reshape, an up_sampling2d and a multiply */
    {"squeeze_excite", 3, 8, 8, false, 3,
     "conv2d global_average_pool2d dense dense reshape multiply depthwise_conv2d global_average_pool2d "
     "dense dense reshape multiply global_average_pool2d dense", 0},
    /* grouped convolutions (ResNeXt's): conv2d with groups */
    {"grouped", 4, 7, 6, false, 3, "conv2d conv2d flatten dense", 0},
    /* GroupNorm (Reshape, InstanceNormalization, Reshape, Mul, Add) and InstanceNorm: group_normalization */
    {"group_norms", 3, 8, 8, false, 3,
     "conv2d group_normalization activation group_normalization conv2d group_normalization activation flatten dense", 0},
    {"instance_seq", 3, 0, 10, false, 2, "conv1d group_normalization activation conv1d group_normalization flatten dense",
     'c'},
    /* Conv1d of groups C (depthwise), then a pointwise one: depthwise_conv1d and conv1d */
    {"depthwise_seq", 4, 0, 11, false, 2, "depthwise_conv1d conv1d depthwise_conv1d flatten dense", 'c'},
    /* Conv1d of groups 2 (ResNeXt-style over a sequence): conv1d with groups */
    {"grouped_seq", 4, 0, 9, false, 2, "conv1d conv1d flatten dense", 'c'},
    /* attention written by hand over projected steps (scaled, causal), then over itself: attention layers */
    {"hand_attention", 0, 6, 4, false, 2,
     "time_distributed time_distributed time_distributed attention attention flatten dense", 's'},
    /* F.normalize (ReduceL2, Clip, Expand, Div) over an image's channels and over features */
    {"normalize", 3, 6, 6, false, 2, "conv2d unit_normalization activation flatten dense unit_normalization dense", 0},
    /* a vision transformer (torchvision's, small): patches reshaped from the image to a sequence,
     * the class token expanded and concatenated (zero padding and a table), an encoder block, x[:, 0] */
    {"tiny_vit", 3, 8, 8, false, 3,
     "conv2d reshape zero_padding1d position_embedding position_embedding layer_normalization multi_head_attention add "
     "layer_normalization time_distributed time_distributed add layer_normalization cropping1d flatten dense", 0},
    /* ConvNeXt (small): LayerNorm2d (permute, LayerNorm, permute), Linear over an image's channels
     * as 1x1 conv2d, a layer scale folded into it, LayerNorm over the pooled (N, C, 1, 1) */
    {"convnextish", 3, 8, 8, false, 3,
     "conv2d layer_normalization depthwise_conv2d layer_normalization conv2d conv2d add global_average_pool2d "
     "layer_normalization dense", 0},
};

static kn_ctx *new_ctx(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 2, .seed = 3}, &ctx);
    return ctx;
}

static void golden_case(const onnx_case *c) {
    char path[128], rec[64], types[512];
    snprintf(path, sizeof path, "tests/data/onnx/%s.onnx", c->name);
    int64_t in = c->seq == 'c' ? c->c * c->w : c->c ? c->c * c->h * c->w : c->seq == 's' ? c->h * c->w : c->w;
    snprintf(rec, sizeof rec, "%s.x", c->name);
    double *x = golden_record(rec, N * in);
    snprintf(rec, sizeof rec, "%s.y", c->name);
    double *y = golden_record(rec, N * c->outputs);
    kn_ctx *ctx = new_ctx();
    kn_model *m = NULL;
    kn_status st = kn_model_import_onnx(ctx, path, NULL, &m);
    CHECK(!st, "%s: import: %s", c->name, kn_last_error(ctx));
    if (!st && x && y) {
        layer_types(m, types, sizeof types);
        CHECK(strcmp(types, c->layers) == 0, "%s: layers '%s', expected '%s'", c->name, types, c->layers);
        CHECK(kn_model_input_size(m) == in && kn_model_output_size(m) == c->outputs,
              "%s: %lld inputs and %lld outputs, expected %lld and %lld", c->name, (long long)kn_model_input_size(m),
              (long long)kn_model_output_size(m), (long long)in, (long long)c->outputs);
        /* PyTorch's (N, C, H, W) rows as kiln's (N, H, W, C), (N, C, L) as (N, L, C) */
        float *xf = malloc((size_t)(N * in) * sizeof *xf), *out = malloc((size_t)(N * c->outputs) * sizeof *out);
        for (int64_t r = 0; r < N; r++)
            for (int64_t k = 0; k < in; k++) {
                int64_t dst = k;
                if (c->seq == 'c') dst = (k % c->w) * c->c + k / c->w;
                else if (c->c && !c->nhwc) {
                    int64_t ch = k / (c->h * c->w), p = k % (c->h * c->w);
                    dst = p * c->c + ch;
                }
                xf[r * in + dst] = (float)x[r * in + k];
            }
        st = kn_model_predict(m, xf, N, out);
        CHECK(!st, "%s: predict: %s", c->name, kn_last_error(ctx));
        double worst = 0;
        for (int64_t k = 0; !st && k < N * c->outputs; k++) worst = fmax(worst, fabs(out[k] - y[k]) / (1 + fabs(y[k])));
        printf("%-9s %-95s worst error %.2e against PyTorch\n", c->name, types, worst);
        CHECK(!st && worst < 2e-5, "%s: predictions differ from PyTorch's by %.3g", c->name, worst);
        check_export(c->name, m, xf, N); /* and back out to ONNX */
        /* saved and loaded: the same predictions (to rounding: a loaded model's weights are
         * read-only, so its inference graph folds a batch norm into scale and shift) */
        char dir[] = "/tmp/kiln_onnx_XXXXXX", file[64];
        if (mkdtemp(dir)) {
            snprintf(file, sizeof file, "%s/m.kiln", dir);
            kn_model *back = NULL;
            float *out2 = malloc((size_t)(N * c->outputs) * sizeof *out2);
            st = kn_model_save(m, file);
            if (!st) st = kn_model_load(ctx, file, NULL, &back);
            if (!st) st = kn_model_predict(back, xf, N, out2);
            double diff = 0;
            for (int64_t k = 0; !st && k < N * c->outputs; k++) diff = fmax(diff, fabs(out[k] - out2[k]) / (1 + fabs(out[k])));
            CHECK(!st && diff < 1e-6, "%s: saved and loaded, the model predicts differently (%.3g; %s)", c->name, diff,
                  st ? kn_last_error(ctx) : "");
            kn_model_free(back);
            free(out2);
            unlink(file);
            rmdir(dir);
        }
        /* and it trains: one step towards labels 0..N-1 (or zeros) gives a finite loss */
        if (strcmp(c->name, "mlp") == 0) {
            int32_t labels[N] = {0, 1, 2, 3};
            float loss = NAN;
            st = kn_model_train_step(m, xf, labels, N, &loss);
            CHECK(!st && isfinite(loss) && loss > 0, "%s: a training step: %s (loss %g)", c->name,
                  st ? kn_last_error(ctx) : "", (double)loss);
        }
        free(xf);
        free(out);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
    free(x);
    free(y);
}

/* kiln's own models exported: every layer and activation kiln writes as ONNX, random
 * weights (and batch-norm statistics), checked by onnx.checker and numpy. */
static void native_exports(void) {
    static const struct { const char *what, *json; } models[] = {
        {"separable",
         "{\"input_shape\": [9, 8, 3], \"layers\": [{\"type\": \"rescaling\", \"scale\": 0.5, \"offset\": -0.25}, "
         "{\"type\": \"zero_padding2d\", \"padding\": [[1, 0], [0, 2]]}, "
         "{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": [3, 2], \"strides\": 2, \"padding\": \"same\", \"activation\": \"gelu\"}, "
         "{\"type\": \"batch_normalization\"}, {\"type\": \"activation\", \"activation\": \"mish\"}, "
         "{\"type\": \"separable_conv2d\", \"filters\": 6, \"kernel_size\": 3, \"depth_multiplier\": 2, \"padding\": \"same\", \"activation\": \"hard_silu\"}, "
         "{\"type\": \"depthwise_conv2d\", \"kernel_size\": 2, \"dilation_rate\": 2, \"activation\": \"relu6\"}, "
         "{\"type\": \"average_pool2d\", \"pool_size\": 2, \"padding\": \"same\"}, {\"type\": \"global_max_pool2d\"}, "
         "{\"type\": \"dense\", \"units\": 5, \"activation\": \"softmax\"}]}"},
        {"merges",
         "{\"input_shape\": [6, 6, 2], \"layers\": [{\"name\": \"a\", \"type\": \"conv2d\", \"filters\": 3, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"silu\"}, "
         "{\"name\": \"b\", \"type\": \"conv2d\", \"filters\": 3, \"kernel_size\": 1, \"activation\": \"elu\", \"inputs\": \"input\"}, "
         "{\"name\": \"s\", \"type\": \"add\", \"inputs\": [\"a\", \"b\"]}, {\"name\": \"d\", \"type\": \"subtract\", \"inputs\": [\"a\", \"b\"]}, "
         "{\"name\": \"p\", \"type\": \"multiply\", \"inputs\": [\"s\", \"d\"]}, {\"name\": \"mx\", \"type\": \"maximum\", \"inputs\": [\"s\", \"p\"]}, "
         "{\"name\": \"av\", \"type\": \"average\", \"inputs\": [\"mx\", \"d\", \"a\"]}, {\"name\": \"cat\", \"type\": \"concatenate\", \"inputs\": [\"av\", \"input\"]}, "
         "{\"type\": \"max_pool2d\", \"pool_size\": 3, \"strides\": 2}, {\"type\": \"flatten\"}, {\"type\": \"dropout\", \"rate\": 0.3}, "
         "{\"type\": \"dense\", \"units\": 7, \"activation\": \"leaky_relu\", \"alpha\": 0.1}, {\"type\": \"batch_normalization\"}, "
         "{\"type\": \"reshape\", \"target_shape\": [7, 1, 1]}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2, \"activation\": \"sigmoid\"}]}"},
        {"repeat", /* Keras's RepeatVector: an encoding to every step of a recurrent decoder */
         "{\"input_shape\": [5], \"layers\": [{\"type\": \"dense\", \"units\": 4, \"activation\": \"tanh\"}, "
         "{\"type\": \"repeat_vector\", \"n\": 3}, {\"type\": \"gru\", \"units\": 3, \"return_sequences\": true}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}"},
        {"separable1d", /* DepthwiseConv1D, SeparableConv1D and a grouped Conv1D over a sequence */
         "{\"input_shape\": [9, 3], \"layers\": [{\"type\": \"depthwise_conv1d\", \"kernel_size\": 3, \"depth_multiplier\": 2, "
         "\"strides\": 2, \"padding\": \"same\", \"activation\": \"relu\"}, {\"type\": \"separable_conv1d\", \"filters\": 4, "
         "\"kernel_size\": 2, \"dilation_rate\": 2, \"activation\": \"tanh\"}, {\"type\": \"conv1d\", \"filters\": 6, "
         "\"groups\": 2, \"kernel_size\": 2, \"padding\": \"causal\"}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}"},
        {"dot", /* Keras's Dot of two feature vectors: their product, and their cosine (normalize) */
         "{\"input_shape\": [6], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 4, \"activation\": \"tanh\"}, "
         "{\"name\": \"b\", \"type\": \"dense\", \"units\": 4, \"inputs\": \"input\"}, "
         "{\"name\": \"d\", \"type\": \"dot\", \"inputs\": [\"a\", \"b\"]}, "
         "{\"name\": \"c\", \"type\": \"dot\", \"normalize\": true, \"inputs\": [\"b\", \"a\"]}, "
         "{\"type\": \"concatenate\", \"inputs\": [\"d\", \"c\"]}, {\"type\": \"dense\", \"units\": 2}]}"},
        {"unit_norm", /* Keras's UnitNormalization over an image's channels, a sequence's and features */
         "{\"input_shape\": [4, 3, 2], \"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"kernel_size\": 2}, "
         "{\"type\": \"unit_normalization\"}, {\"type\": \"reshape\", \"target_shape\": [6, 3]}, {\"type\": \"unit_normalization\"}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 4}, {\"type\": \"unit_normalization\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}"},
        {"dot_attention", /* Keras's Attention: to itself (use_scale), then query, value and key (causal) */
         "{\"input_shape\": [5, 4], \"layers\": [{\"name\": \"h\", \"type\": \"conv1d\", \"filters\": 4, \"kernel_size\": 1, "
         "\"activation\": \"tanh\"}, {\"name\": \"a\", \"type\": \"attention\", \"use_scale\": true}, "
         "{\"name\": \"v\", \"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 1, \"inputs\": \"h\"}, "
         "{\"type\": \"attention\", \"use_causal_mask\": true, \"inputs\": [\"a\", \"v\", \"h\"]}, {\"type\": \"flatten\"}, "
         "{\"type\": \"dense\", \"units\": 2}]}"},
        {"activations", /* Keras's LeakyReLU and ELU layers with their slopes, standalone; a minimum merge */
         "{\"input_shape\": [6, 5, 2], \"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"kernel_size\": 2}, "
         "{\"type\": \"max_pool2d\", \"pool_size\": 2}, {\"type\": \"LeakyReLU\", \"negative_slope\": 0.1}, "
         "{\"type\": \"ELU\", \"alpha\": 0.5}, {\"type\": \"flatten\"}, {\"name\": \"a\", \"type\": \"dense\", \"units\": 6}, "
         "{\"name\": \"b\", \"type\": \"dense\", \"units\": 6, \"activation\": \"tanh\"}, "
         "{\"type\": \"minimum\", \"inputs\": [\"a\", \"b\"]}, {\"type\": \"ReLU\", \"max_value\": 6}, "
         "{\"type\": \"dense\", \"units\": 2}]}"},
        {"group_norm", /* GroupNormalization over an image, a sequence (a group a channel) and features */
         "{\"input_shape\": [6, 5, 2], \"layers\": [{\"type\": \"group_normalization\", \"groups\": 2}, "
         "{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 3, \"activation\": \"relu\"}, "
         "{\"type\": \"group_normalization\", \"groups\": 2, \"center\": false}, {\"type\": \"reshape\", \"target_shape\": [12, 4]}, "
         "{\"type\": \"conv1d\", \"filters\": 3, \"kernel_size\": 3}, {\"type\": \"group_normalization\", \"groups\": -1}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 6}, {\"type\": \"group_normalization\", \"groups\": 3, \"scale\": false}, "
         "{\"type\": \"dense\", \"units\": 2}]}"},
        {"permute", /* Keras's Permute of an image's axes: H and W swapped, then channels first */
         "{\"input_shape\": [5, 4, 3], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"tanh\"}, "
         "{\"type\": \"permute\", \"dims\": [2, 1, 3]}, {\"type\": \"conv2d\", \"filters\": 3, \"kernel_size\": [3, 2]}, "
         "{\"type\": \"permute\", \"dims\": [3, 1, 2]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}"},
        {"broadcast", /* merges that broadcast: squeeze-and-excitation gates, a map */
         "{\"input_shape\": [6, 5, 3], \"layers\": [{\"name\": \"f\", \"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 3, \"padding\": \"same\", \"activation\": \"relu\"}, "
         "{\"type\": \"global_average_pool2d\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 4, \"activation\": \"sigmoid\"}, "
         "{\"name\": \"g\", \"type\": \"reshape\", \"target_shape\": [1, 1, 4]}, {\"name\": \"se\", \"type\": \"multiply\", \"inputs\": [\"f\", \"g\"]}, "
         "{\"name\": \"map\", \"type\": \"conv2d\", \"filters\": 1, \"kernel_size\": 1, \"activation\": \"sigmoid\", \"inputs\": \"se\"}, "
         "{\"name\": \"att\", \"type\": \"multiply\", \"inputs\": [\"se\", \"map\"]}, {\"type\": \"subtract\", \"inputs\": [\"g\", \"att\"]}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}"},
        {"resize",
         "{\"input_shape\": [5, 4, 2], \"layers\": [{\"type\": \"conv2d_transpose\", \"filters\": 3, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", \"activation\": \"relu\"}, "
         "{\"type\": \"conv2d_transpose\", \"filters\": 2, \"kernel_size\": [2, 3], \"strides\": [1, 2], \"output_padding\": [0, 1], \"dilation_rate\": 1}, "
         "{\"type\": \"prelu\", \"alpha_initializer\": {\"class_name\": \"Constant\", \"config\": {\"value\": 0.2}}}, "
         "{\"type\": \"up_sampling2d\", \"size\": [2, 3]}, {\"type\": \"cropping2d\", \"cropping\": [[1, 2], [3, 0]]}, "
         "{\"type\": \"up_sampling2d\", \"size\": 2, \"interpolation\": \"bilinear\"}, "
         "{\"type\": \"conv2d\", \"filters\": 2, \"kernel_size\": 3, \"strides\": 3}, {\"type\": \"prelu\", \"shared_axes\": [1, 2]}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}"},
        {"resizing", /* Keras's Resizing: Resize to sizes from the input's Shape; down, up, nearest, an axis of 1 */
         "{\"input_shape\": [9, 7, 2], \"layers\": [{\"type\": \"resizing\", \"height\": 5, \"width\": 11}, "
         "{\"type\": \"conv2d\", \"filters\": 3, \"kernel_size\": 2, \"activation\": \"tanh\"}, "
         "{\"type\": \"resizing\", \"height\": 7, \"width\": 4, \"interpolation\": \"nearest\"}, "
         "{\"type\": \"resizing\", \"height\": 1, \"width\": 3}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}"},
        {"random_aug", /* Keras 3's random augmentation layers: the identity at inference, nothing exported */
         "{\"input_shape\": [6, 5, 2], \"layers\": [{\"type\": \"random_flip\"}, {\"type\": \"random_rotation\", \"factor\": 0.1}, "
         "{\"type\": \"random_translation\", \"height_factor\": 0.2, \"width_factor\": 0.1}, {\"type\": \"random_zoom\", \"height_factor\": 0.2}, "
         "{\"type\": \"conv2d\", \"filters\": 3, \"kernel_size\": 3, \"activation\": \"relu\"}, "
         "{\"type\": \"random_contrast\", \"factor\": 0.3}, {\"type\": \"random_brightness\", \"factor\": 0.2}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}"},
        {"seq_conv",
         "{\"input_shape\": [12, 3], \"layers\": [{\"type\": \"conv1d\", \"filters\": 4, \"kernel_size\": 3, \"padding\": \"causal\", \"dilation_rate\": 2, \"activation\": \"relu\"}, "
         "{\"type\": \"max_pool1d\", \"pool_size\": 2, \"padding\": \"same\"}, {\"type\": \"zero_padding1d\", \"padding\": [1, 2]}, "
         "{\"type\": \"cropping1d\", \"cropping\": [1, 0]}, {\"type\": \"up_sampling1d\", \"size\": 2}, "
         "{\"type\": \"conv1d\", \"filters\": 4, \"kernel_size\": 2, \"strides\": 2, \"padding\": \"same\"}, {\"type\": \"batch_normalization\"}, "
         "{\"type\": \"average_pool1d\", \"pool_size\": 2}, {\"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 3, \"activation\": \"tanh\"}}, "
         "{\"type\": \"prelu\"}, {\"type\": \"global_average_pool1d\"}, {\"type\": \"dense\", \"units\": 3}]}"},
        {"rnn_tokens",
         "{\"input_shape\": [7], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 20, \"output_dim\": 4}, "
         "{\"type\": \"bidirectional\", \"layer\": {\"type\": \"lstm\", \"units\": 3, \"return_sequences\": true}}, "
         "{\"type\": \"gru\", \"units\": 3, \"return_sequences\": true}, "
         "{\"type\": \"bidirectional\", \"layer\": {\"type\": \"simple_rnn\", \"units\": 2, \"return_sequences\": true}, \"merge_mode\": \"sum\"}, "
         "{\"type\": \"bidirectional\", \"layer\": {\"type\": \"gru\", \"units\": 2}, \"merge_mode\": \"ave\"}, "
         "{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}]}"},
        {"rnn_seq",
         "{\"input_shape\": [6, 3], \"layers\": [{\"type\": \"simple_rnn\", \"units\": 4, \"activation\": \"relu\", \"return_sequences\": true}, "
         "{\"type\": \"bidirectional\", \"layer\": {\"type\": \"lstm\", \"units\": 2, \"return_sequences\": true}, \"merge_mode\": \"mul\"}, "
         "{\"type\": \"lstm\", \"units\": 3, \"go_backwards\": true}, {\"type\": \"dense\", \"units\": 2}]}"},
        {"conv1d_t",
         "{\"input_shape\": [6, 2], \"layers\": [{\"type\": \"conv1d_transpose\", \"filters\": 3, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", \"activation\": \"relu\"}, "
         "{\"type\": \"conv1d_transpose\", \"filters\": 2, \"kernel_size\": 2, \"strides\": 3, \"output_padding\": 1, \"dilation_rate\": 1}, "
         "{\"type\": \"conv1d_transpose\", \"filters\": 2, \"kernel_size\": 3, \"dilation_rate\": 2, \"use_bias\": false}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}"},
        {"mlp_acts",
         "{\"input_shape\": [5], \"layers\": [{\"type\": \"dense\", \"units\": 6, \"activation\": \"selu\"}, "
         "{\"type\": \"dense\", \"units\": 6, \"activation\": \"softplus\"}, {\"type\": \"dense\", \"units\": 6, \"activation\": \"softsign\"}, "
         "{\"type\": \"dense\", \"units\": 6, \"activation\": \"hard_sigmoid\"}, {\"type\": \"dense\", \"units\": 6, \"activation\": \"tanh\"}, "
         "{\"type\": \"dense\", \"units\": 6, \"activation\": \"exponential\", \"use_bias\": false}, "
         "{\"type\": \"dense\", \"units\": 3}]}"},
        /* a transformer encoder block: positions, self-attention, residual adds, layer norms,
         * a position-wise feed-forward (the rescaling keeps the inputs small: the loop above
         * feeds token ids to any description naming an embedding) */
        {"encoder",
         "{\"input_shape\": [6, 4], \"layers\": [{\"type\": \"rescaling\", \"scale\": 0.1, \"offset\": -1}, "
         "{\"name\": \"embed\", \"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 8}}, "
         "{\"name\": \"pos\", \"type\": \"position_embedding\"}, "
         "{\"name\": \"att\", \"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 3, \"bias_initializer\": \"uniform\", \"dropout\": 0.1}, "
         "{\"name\": \"res1\", \"type\": \"add\", \"inputs\": [\"pos\", \"att\"]}, "
         "{\"name\": \"norm1\", \"type\": \"layer_normalization\", \"epsilon\": 1e-6}, "
         "{\"name\": \"ff1\", \"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 12, \"activation\": \"relu\"}}, "
         "{\"name\": \"ff2\", \"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 8}}, "
         "{\"name\": \"res2\", \"type\": \"add\", \"inputs\": [\"norm1\", \"ff2\"]}, "
         "{\"type\": \"layer_normalization\", \"center\": false}, {\"type\": \"global_average_pool1d\"}, "
         "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}"},
        /* cross-attention: a shorter query, three inputs (query, value, key) without biases,
         * value_dim and output_shape; then two (query, value); the inputs scaled up so the
         * softmax is far from uniform */
        {"cross_att",
         "{\"input_shape\": [8, 3], \"layers\": [{\"name\": \"big\", \"type\": \"rescaling\", \"scale\": 3}, "
         "{\"name\": \"kv\", \"type\": \"conv1d\", \"filters\": 5, \"kernel_size\": 1, \"activation\": \"tanh\"}, "
         "{\"name\": \"q\", \"type\": \"max_pool1d\", \"pool_size\": 2, \"inputs\": \"big\"}, "
         "{\"name\": \"k\", \"type\": \"time_distributed\", \"layer\": {\"type\": \"dense\", \"units\": 4}, \"inputs\": \"big\"}, "
         "{\"name\": \"att\", \"type\": \"multi_head_attention\", \"num_heads\": 3, \"key_dim\": 2, \"value_dim\": 4, \"output_shape\": 6, "
         "\"use_bias\": false, \"inputs\": [\"q\", \"kv\", \"k\"]}, "
         "{\"name\": \"att2\", \"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 3, \"output_shape\": [5], "
         "\"bias_initializer\": \"uniform\", \"inputs\": [\"att\", \"kv\"]}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}"},
        /* causal masks: self-attention, then a query shorter and one longer than the keys */
        {"causal",
         "{\"input_shape\": [5, 4], \"layers\": [{\"name\": \"att\", \"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 4, "
         "\"use_causal_mask\": true, \"bias_initializer\": \"uniform\"}, {\"name\": \"res\", \"type\": \"add\", \"inputs\": [\"input\", \"att\"]}, "
         "{\"name\": \"norm\", \"type\": \"layer_normalization\", \"scale\": false, \"epsilon\": 0.01}, "
         "{\"name\": \"short\", \"type\": \"cropping1d\", \"cropping\": [0, 2]}, "
         "{\"name\": \"cross\", \"type\": \"multi_head_attention\", \"num_heads\": 1, \"key_dim\": 5, \"value_dim\": 2, "
         "\"use_causal_mask\": true, \"inputs\": [\"short\", \"norm\"]}, "
         "{\"name\": \"long\", \"type\": \"up_sampling1d\", \"size\": 2}, "
         "{\"name\": \"back\", \"type\": \"multi_head_attention\", \"num_heads\": 2, \"key_dim\": 2, \"use_causal_mask\": true, "
         "\"bias_initializer\": \"uniform\", \"inputs\": [\"long\", \"norm\"]}, "
         "{\"type\": \"global_max_pool1d\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}]}"},
        /* layer norms over an image's channels (kiln's NHWC input, then a convolution's NCHW
         * output) and over a dense layer's features; without center, scale, or either */
        {"norms",
         "{\"input_shape\": [5, 4, 2], \"layers\": [{\"type\": \"layer_normalization\", \"epsilon\": 0.01}, "
         "{\"type\": \"conv2d\", \"filters\": 3, \"kernel_size\": 3, \"padding\": \"same\"}, {\"type\": \"layer_normalization\"}, "
         "{\"type\": \"max_pool2d\", \"pool_size\": 2}, {\"type\": \"layer_normalization\", \"center\": false, \"scale\": false}, "
         "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 6, \"activation\": \"relu\"}, "
         "{\"type\": \"layer_normalization\", \"epsilon\": 0.1, \"scale\": false}, {\"type\": \"dense\", \"units\": 3}]}"},
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        kn_ctx *ctx = new_ctx();
        kn_model *m = NULL;
        kn_spec spec;
        kn_status st = kn_model_from_json(ctx, models[i].json, NULL, &m, &spec);
        if (!st) st = kn_model_compile(m, &spec.compile);
        CHECK(!st, "%s: %s", models[i].what, kn_last_error(ctx));
        if (!st) {
            /* batch norms' statistics and biases away from their initial values */
            for (int l = 0; l < m->n_layers; l++) {
                const char *names[4] = {"moving_mean", "moving_variance", "beta", "bias"};
                for (int k = 0; k < 4; k++) {
                    char name[96];
                    snprintf(name, sizeof name, "%s_%d/%s", kn__layer_type(&m->layers[l]), m->layers[l].index, names[k]);
                    int64_t n = 0;
                    float *p = kn_model_param(m, name, &n);
                    for (int64_t j = 0; p && j < n; j++) p[j] = k == 1 ? 0.5f + 0.1f * (float)(j % 7) : 0.1f * (float)((j * 5) % 7) - 0.3f;
                }
            }
            int64_t in = kn_model_input_size(m);
            float *x = malloc((size_t)(N * in) * sizeof *x);
            bool tokens = strstr(models[i].json, "embedding") != NULL; /* whole token ids in [0, 20) */
            for (int64_t k = 0; k < N * in; k++) x[k] = tokens ? (float)((k * 7) % 20) : (float)((k * 37) % 23) / 11.0f - 1.0f;
            check_export(models[i].what, m, x, N); /* (and imports back) */
            free(x);
        }
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
    /* class names travel in metadata_props ("kiln.labels") and come back on import */
    {
        kn_ctx *lctx = new_ctx();
        kn_model *lm = NULL, *back = NULL;
        kn_spec lspec;
        kn_status lst = kn_model_from_json(lctx, "{\"input_shape\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3, "
                                                 "\"activation\": \"softmax\"}]}", NULL, &lm, &lspec);
        if (!lst) lst = kn_model_compile(lm, &lspec.compile);
        if (!lst) lst = kn_model_set_labels(lm, (const char *const[]){"setosa", "versicolor", "virginica"}, 3);
        char ldir[] = "/tmp/kiln_labels_XXXXXX", lpath[64];
        if (!lst && mkdtemp(ldir)) {
            snprintf(lpath, sizeof lpath, "%s/m.onnx", ldir);
            lst = kn_model_export_onnx(lm, lpath);
            if (!lst) lst = kn_model_import_onnx(lctx, lpath, NULL, &back);
            unlink(lpath);
            rmdir(ldir);
        }
        const char *name = back ? kn_model_label_name(back, 2) : NULL;
        CHECK(!lst && name && strcmp(name, "virginica") == 0, "labels through ONNX: %s (class 2: %s)",
              lst ? kn_last_error(lctx) : "ok", name ? name : "none");
        kn_model_free(back);
        kn_model_free(lm);
        kn_ctx_free(lctx);
    }
    /* what kiln does not export: named, one line, no file left */
    unlink("/tmp/kiln_never.onnx");
    kn_ctx *ctx = new_ctx();
    kn_model *m = NULL;
    kn_spec spec;
    kn_status st = kn_model_from_json(ctx, "{\"input_shape\": [6], \"layers\": [{\"type\": \"embedding\", \"input_dim\": 9, "
                                           "\"output_dim\": 3, \"mask_zero\": true}, {\"type\": \"lstm\", \"units\": 3}, "
                                           "{\"type\": \"dense\", \"units\": 2}]}", NULL, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_export_onnx(m, "/tmp/kiln_never.onnx");
    CHECK(st == KN_ERR_UNSUPPORTED && strstr(kn_last_error(ctx), "(embedding): mask_zero") && access("/tmp/kiln_never.onnx", F_OK) != 0,
          "masked embedding export: %s (%s)", kn_status_name(st), kn_last_error(ctx));
    kn_model_free(m);
    st = kn_model_from_json(ctx, "{\"input_shape\": [4, 2], \"layers\": [{\"type\": \"lstm\", \"units\": 3, "
                                 "\"go_backwards\": true}, {\"type\": \"dense\", \"units\": 2}]}", NULL, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_export_onnx(m, "/tmp/kiln_never.onnx");
    CHECK(st == KN_OK, "a go_backwards LSTM's final state exports: %s", kn_last_error(ctx));
    unlink("/tmp/kiln_never.onnx");
    kn_model_free(m);
    st = kn_model_from_json(ctx, "{\"input_shape\": [3], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 2}, "
                                 "{\"name\": \"b\", \"type\": \"dense\", \"units\": 2, \"inputs\": \"input\"}, "
                                 "{\"name\": \"c\", \"type\": \"dense\", \"units\": 2, \"inputs\": \"input\"}, "
                                 "{\"type\": \"multiply\", \"inputs\": [\"a\", \"b\", \"c\"]}]}", NULL, &m, &spec);
    if (!st) st = kn_model_compile(m, &spec.compile);
    if (!st) st = kn_model_export_onnx(m, "/tmp/kiln_never.onnx");
    CHECK(st == KN_ERR_UNSUPPORTED && strstr(kn_last_error(ctx), "a multiply of more than 2 inputs") &&
          access("/tmp/kiln_never.onnx", F_OK) != 0, "three-input multiply export: %s (%s)", kn_status_name(st), kn_last_error(ctx));
    printf("refused export: %s\n", kn_last_error(ctx));
    kn_model_free(m);
    kn_ctx_free(ctx);
}

/* The import of bytes (or of a file when path is set) fails with status want and a
 * one-line message holding `needle`. */
static void refusal(const char *what, const char *path, const void *bytes, size_t n, kn_status want, const char *needle) {
    kn_ctx *ctx = new_ctx();
    kn_model *m = NULL;
    kn_status st = path ? kn_model_import_onnx(ctx, path, NULL, &m)
                        : kn_model_import_onnx_buffer(ctx, bytes, n, "bytes.onnx", NULL, &m);
    const char *msg = kn_last_error(ctx);
    CHECK(st == want && !m && strstr(msg, needle) && !strchr(msg, '\n'),
          "%s: status %s (want %s), message '%s' (want one line with '%s')", what, kn_status_name(st),
          kn_status_name(want), msg, needle);
    printf("refused %-10s %s\n", what, msg);
    kn_model_free(m);
    kn_ctx_free(ctx);
}

static void refusals(void) {
    refusal("outputs", "tests/data/onnx/two_outputs.onnx", NULL, 0, KN_ERR_UNSUPPORTED,
            "two_outputs.onnx: kiln imports models of one output");
    refusal("op", "tests/data/onnx/abs.onnx", NULL, 0, KN_ERR_UNSUPPORTED, "node 0 '/Abs' (Abs): not an op kiln imports");
    refusal("rnn both", "tests/data/onnx/lstm_both.onnx", NULL, 0, KN_ERR_UNSUPPORTED, "(LSTM): reads both Y and Y_h");
    refusal("weights", "tests/data/onnx/attention_weights.onnx", NULL, 0, KN_ERR_UNSUPPORTED,
            "which kiln reads only whole, and its probabilities are read other than by their product with the values");
    refusal("mask", "tests/data/onnx/odd_mask.onnx", NULL, 0, KN_ERR_UNSUPPORTED, "(Add): an attention mask other than the causal one");
    refusal("missing", "tests/data/onnx/no_such.onnx", NULL, 0, KN_ERR_IO, "no_such.onnx: cannot open");
    /* mlp.onnx cut at every 97th byte: never a model, never a crash */
    FILE *f = fopen("tests/data/onnx/mlp.onnx", "rb");
    CHECK(f != NULL, "cannot open tests/data/onnx/mlp.onnx (run from the source root)");
    if (!f) return;
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int cuts = 0, refused = 0;
    for (size_t cut = 1; cut < n; cut += 97) {
        kn_ctx *ctx = new_ctx();
        kn_model *m = NULL;
        kn_status st = kn_model_import_onnx_buffer(ctx, buf, cut, "cut.onnx", NULL, &m);
        cuts++;
        refused += st != KN_OK && !m && strstr(kn_last_error(ctx), "cut.onnx") && !strchr(kn_last_error(ctx), '\n');
        kn_model_free(m);
        kn_ctx_free(ctx);
    }
    CHECK(refused == cuts, "truncated files: %d of %d refused with a one-line message", refused, cuts);
    printf("refused truncated: %d cuts of mlp.onnx\n", cuts);
    refusal("truncated", NULL, buf, n / 2, KN_ERR_FORMAT, "bytes.onnx: ");
    refusal("foreign", NULL, "PK\x03\x04 not a model at all", 25, KN_ERR_FORMAT, "bytes.onnx: ");
    refusal("empty", NULL, "", 0, KN_ERR_FORMAT, "no graph");
    /* Resizes kiln does not compute (tests/golden/make_onnx_resize.py) */
    refusal("floor", "tests/data/onnx/resize_refused_floor.onnx", NULL, 0, KN_ERR_UNSUPPORTED,
            "kiln resizes linear (half_pixel, pytorch_half_pixel) or nearest (half_pixel with round_prefer_ceil, "
            "tf_half_pixel_for_nn with floor), and by whole factors nearest (asymmetric, floor)");
    refusal("one", "tests/data/onnx/resize_refused_one.onnx", NULL, 0, KN_ERR_UNSUPPORTED,
            "pytorch_half_pixel to an output side of 1");
    refusal("scale", "tests/data/onnx/resize_refused_scale.onnx", NULL, 0, KN_ERR_UNSUPPORTED,
            "scales whose outputs in * scale are not whole (give sizes)");
    /* a node cut short inside the graph: the message names where */
    refusal("text", NULL, "ir_version: 7\ngraph { }", 23, KN_ERR_FORMAT, "bytes.onnx");
}

/* Resize to sizes that are not whole factors (tests/golden/make_onnx_resize.py wrote the files
 * and tests/golden/onnx_resize.txt): PyTorch's export of F.interpolate(size=...) (sizes from
 * Shape, Slice and Concat), and onnx.helper's nearest (half_pixel round_prefer_ceil,
 * tf_half_pixel_for_nn floor) and pytorch_half_pixel linear by scales: resizing layers. */
static const onnx_case resize_cases[] = {
    {"resize_torch", 2, 9, 7, false, 3, "conv2d resizing activation resizing flatten dense", 0},
    {"resize_nearest", 2, 8, 6, false, 3, "resizing resizing resizing flatten dense", 0},
};

int main(void) {
    golden = read_all("tests/golden/onnx.txt");
    CHECK(golden != NULL, "cannot read tests/golden/onnx.txt (run from the source root)");
    for (size_t i = 0; golden && i < sizeof cases / sizeof *cases; i++) golden_case(&cases[i]);
    free(golden);
    golden = read_all("tests/golden/onnx_resize.txt");
    CHECK(golden != NULL, "cannot read tests/golden/onnx_resize.txt (run from the source root)");
    for (size_t i = 0; golden && i < sizeof resize_cases / sizeof *resize_cases; i++) golden_case(&resize_cases[i]);
    free(golden);
    native_exports();
    refusals();
    if (failures) printf("%d check(s) failed\n", failures);
    else printf("all ONNX import and export checks passed (%d exports checked by onnx.checker and numpy)\n", exported_checked);
    return failures != 0;
}
