/* export.c — `kiln export MODEL OUT.onnx`: a kiln network as an ONNX model
 * (kn_model_export_onnx), for ONNX Runtime, TensorRT and the other runtimes. OUT is written
 * atomically, so a failure leaves no part of it. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <string.h>
#include <sys/stat.h>

static const char export_help[] =
    "usage: kiln export MODEL OUT.onnx [options]\n"
    "\n"
    "Writes MODEL (a .kiln file, or an .onnx file imported) as an ONNX model (opset 13) that\n"
    "computes what kiln does: dense, conv2d (groups too), depthwise and separable convolutions\n"
    "(2-D and 1-D), conv2d_transpose and conv1d_transpose, pooling, flatten, reshape, permute,\n"
    "repeat_vector, batch norm, zero\n"
    "padding, cropping, up_sampling2d, resizing, prelu, rescaling, layer norm, group norm (as PyTorch's\n"
    "GroupNorm), unit normalization, dot, dropout and the random augmentation layers (nothing at\n"
    "inference), sequences\n"
    "(conv1d, 1-D pooling, embeddings, simple_rnn, lstm, gru, bidirectional,\n"
    "time_distributed, position_embedding, multi_head_attention, attention), activations, and merges\n"
    "(residual and branching networks; broadcast gates and maps too). Its input is kiln's: (batch,\n"
    "features), or images (batch, height, width, channels); Transposes to and from ONNX's\n"
    "(batch, channels, height, width) go around the convolutions and pooling inside. A CSV\n"
    "preprocessing the model keeps begins the graph when its columns are all numbers (the\n"
    "input is then the raw columns, as kiln predict reads them: imputing, constant columns\n"
    "dropped, poly=2, scaling, PCA); one with other columns is refused, naming the column.\n"
    "Other layers are refused, named. Classical models export as what they predict: linear\n"
    "and logistic regression, lasso, elastic_net and linear_svm (Gemm), decision_tree,\n"
    "random_forest and hist_gradient_boosting (ai.onnx.ml TreeEnsembleRegressor), naive\n"
    "Bayes, k_nearest_neighbors (TopK), svm (its kernel and one-vs-one votes, or an SVR's\n"
    "one decision; with probability: true refused).\n"
    "\n"
    "options:\n"
    "  --network-only     leave the CSV preprocessing out: the input is the model's own\n"
    "                     (the preprocessed features)\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: model, out, params, bytes.\n";

typedef struct export_args {
    const char *model, *out;
    bool network_only;
} export_args;

#define AT(field) offsetof(export_args, field)
static const cli_option export_options[] = {CLI_FLAG("--network-only", AT(network_only)), {0}};
static const cli_positional export_positionals[] = {{AT(model), "MODEL (a .kiln or .onnx file)"}, {AT(out), NULL}};
static const cli_command export_command = {"export", export_help, export_options, export_positionals,
                                           CLI_COUNT(export_positionals)};

int cmd_export(int argc, char **argv, cli_global *g) {
    export_args args = {0};
    int parsed = cli_parse_args(&export_command, argc, argv, g, &args);
    if (parsed != CLI_PARSED) return parsed;
    if (!args.out) return cli_usage_error("export", "missing OUT (the .onnx file to write)");
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    kn_ctx *ctx = cli_ctx(g);
    if (!ctx) return CLI_RUNTIME;
    kn_model *m = NULL;
    kn_status st = cli_load_model(ctx, args.model, &m);
    if (!st) st = kn_model_export_onnx_ex(m, args.out, &(kn_onnx_export_opts){.network_only = args.network_only});
    int rc = st ? cli_fail(ctx, st) : CLI_OK;
    struct stat sb;
    long long bytes = !rc && stat(args.out, &sb) == 0 ? (long long)sb.st_size : 0;
    if (!rc && g->json) {
        printf("{\"model\": ");
        cli_json_string(stdout, args.model);
        printf(", \"out\": ");
        cli_json_string(stdout, args.out);
        printf(", \"params\": %lld, \"bytes\": %lld}\n", (long long)kn_model_param_count(m), bytes);
    } else if (!rc && !g->quiet) {
        printf("%s -> %s: %lld parameters, %lld bytes\n", args.model, args.out, (long long)kn_model_param_count(m), bytes);
    }
    kn_model_free(m);
    kn_ctx_free(ctx);
    return rc;
}
