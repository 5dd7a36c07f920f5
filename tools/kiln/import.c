/* import.c — `kiln import MODEL.onnx OUT`: an ONNX model (PyTorch's torch.onnx.export, ...)
 * as a .kiln file (kn_model_import_onnx), which eval, predict, info and train --resume then
 * read like any other. OUT is written atomically, so a failure leaves no part of it. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <string.h>

static const char import_help[] =
    "usage: kiln import MODEL.onnx OUT [options]\n"
    "\n"
    "Reads an ONNX model and writes it as a kiln model file OUT. Its nodes may be Gemm,\n"
    "MatMul (+ Add), Conv (any group count: conv2d groups, or depthwise), MaxPool,\n"
    "AveragePool, GlobalAveragePool, GlobalMaxPool, BatchNormalization, Flatten, Reshape,\n"
    "Pad, Slice, Split (of an image's channels), ConvTranspose, Resize, Tile (of a one-step\n"
    "sequence), PRelu, Transpose (NCHW <-> NHWC, or an (N, H, W, C) image's axes: permute),\n"
    "ShuffleNet's channel shuffle (Reshape to (N, G, C/G, H, W), Transpose, Reshape back),\n"
    "LayerNormalization (or its nodes),\n"
    "InstanceNormalization and PyTorch's GroupNorm (Reshape, InstanceNormalization, Reshape),\n"
    "F.normalize (ReduceL2, Clip, Expand, Div: unit_normalization), ReduceSum of a product\n"
    "of two feature vectors (dot),\n"
    "attention (PyTorch's nn.MultiheadAttention, in transformer layers too; attention written\n"
    "by hand without projections: Keras's Attention), RNN, LSTM, GRU,\n"
    "Gather of an embedding table, Conv (group 1 or depthwise) and pools over sequences,\n"
    "Dropout, Identity, scaling by constants (rescaling), merges of two or more values (Add,\n"
    "Sub, Mul, Max, Min, Mean, Sum, Concat: residual and branching networks; an image with\n"
    "(N, C, 1, 1) gates or a one-channel map broadcast) and the activations (Relu, Sigmoid,\n"
    "Tanh, Softmax, LeakyRelu, Elu, Selu, Softplus, Softsign, HardSigmoid, HardSwish, Mish,\n"
    "Gelu, Clip to [0, 6], x * Sigmoid(x)), over one input to one output; anything else is\n"
    "refused naming the node. Image inputs (N, C, H, W) become kiln's (H, W, C) (the same\n"
    "bytes for one channel); an input the graph transposes to NCHW first (tf2onnx's Keras\n"
    "models) is (H, W, C) already.\n"
    "\n"
    "options:\n"
    "  --loss NAME      the loss the model is compiled with, for eval and further training\n"
    "                   (default: from the last layer: softmax -> sparse_categorical_crossentropy,\n"
    "                   one sigmoid output -> binary_crossentropy, else mse); a cross-entropy\n"
    "                   over a last layer of logits is taken from them (from_logits)\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: model, out, params, inputs, outputs, description (the kiln description written).\n";

typedef struct import_args {
    const char *model, *out, *loss;
} import_args;

#define AT(field) offsetof(import_args, field)
static const cli_option import_options[] = {CLI_NON_EMPTY("--loss", AT(loss)), {0}};
static const cli_positional import_positionals[] = {{AT(model), "MODEL (an .onnx file)"}, {AT(out), NULL}};
static const cli_command import_command = {"import", import_help, import_options, import_positionals,
                                           CLI_COUNT(import_positionals)};

bool cli_is_onnx(const char *path) {
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".onnx") == 0;
}

kn_status cli_load_model(kn_ctx *ctx, const char *path, kn_model **m) {
    if (cli_is_onnx(path)) return kn_model_import_onnx(ctx, path, NULL, m);
    return kn_model_load(ctx, path, &(kn_load_opts){.skip_checksum = false}, m);
}

int cmd_import(int argc, char **argv, cli_global *g) {
    import_args args = {0};
    int parsed = cli_parse_args(&import_command, argc, argv, g, &args);
    if (parsed != CLI_PARSED) return parsed;
    if (!args.out) return cli_usage_error("import", "missing OUT (the .kiln file to write)");
    kn_loss loss;
    if (args.loss && !kn_loss_parse(args.loss, &loss)) return cli_usage_error("import", "--loss: unknown loss '%s'", args.loss);
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    kn_ctx *ctx = cli_ctx(g);
    if (!ctx) return CLI_RUNTIME;
    kn_model *m = NULL;
    kn_status st = kn_model_import_onnx(ctx, args.model, &(kn_onnx_opts){.loss = args.loss}, &m);
    if (!st) st = kn_model_save(m, args.out);
    int rc = st ? cli_fail(ctx, st) : CLI_OK;
    char *desc = NULL;
    if (!rc && (st = kn_model_to_json(m, &desc))) rc = cli_fail(ctx, st);
    if (!rc && g->json) {
        printf("{\"model\": ");
        cli_json_string(stdout, args.model);
        printf(", \"out\": ");
        cli_json_string(stdout, args.out);
        printf(", \"params\": %lld, \"inputs\": %lld, \"outputs\": %lld, \"description\": %s}\n",
               (long long)kn_model_param_count(m), (long long)kn_model_input_size(m), (long long)kn_model_output_size(m),
               desc);
    } else if (!rc && !g->quiet) {
        char summary[512];
        kn_model_summary(m, summary, sizeof summary);
        printf("%s -> %s: %s\n%s\n", args.model, args.out, summary, desc);
    }
    kn_free(ctx, desc);
    kn_model_free(m);
    kn_ctx_free(ctx);
    return rc;
}
