/* convert.c — `kiln convert MODEL --to fp16|bf16|int8 OUT`: a network's parameters stored in
 * half precision, or its int8 inference's weights as int8 (kn_model_save_as), for inference. The model is fully
 * loaded first (structure and checksum verified); OUT is written atomically, so a failure
 * leaves no part of it behind. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char convert_help[] =
    "usage: kiln convert MODEL --to fp16|bf16|int8 OUT [options]\n"
    "\n"
    "Writes MODEL (a .kiln file, or an .onnx file imported) to OUT with its parameters stored\n"
    "as IEEE half (fp16) or bfloat16 (bf16), rounded to nearest even: about half the file.\n"
    "Architecture,\n"
    "preprocessing, labels and training summary are kept; the dtype is recorded in the file\n"
    "(kiln info shows it). eval, predict and info read OUT like any model file; the weights are\n"
    "widened to f32 at load and computed in f32. A converted file is for inference: it holds\n"
    "no optimizer state or checkpoint, so train --resume cannot continue from it. Networks\n"
    "only so far.\n"
    "\n"
    "int8: the weights that int8 inference (predict/eval --int8) runs with are stored as\n"
    "int8 with a scale per column, the rest f32 (the reference MLP's file: 28%); such a file\n"
    "is served in int8 when loaded.\n"
    "\n"
    "options:\n"
    "  --to TYPE        fp16 (also f16, float16), bf16 (also bfloat16), int8 (also i8), or\n"
    "                   fp32 (a plain f32 file again) (required; no default)\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: model, out, dtype, params, bytes_in, bytes_out, ratio (bytes_out / bytes_in).\n";

typedef struct convert_args {
    const char *model, *out, *to;
} convert_args;

#define AT(field) offsetof(convert_args, field)
static const cli_option convert_options[] = {
    {.name = "--to", .kind = CLI_OPT_STRING, .offset = AT(to), .no_value = "--to expects fp16, bf16 or int8"}, {0}};
/* OUT is checked after --to, as it always was */
static const cli_positional convert_positionals[] = {{AT(model), "MODEL (a .kiln or .onnx file)"}, {AT(out), NULL}};
static const cli_command convert_command = {"convert", convert_help, convert_options, convert_positionals,
                                            CLI_COUNT(convert_positionals)};

static bool parse_dtype(const char *s, kn_dtype *out) {
    static const struct { const char *name; kn_dtype dtype; } names[] = {
        {"fp16", KN_F16}, {"f16", KN_F16}, {"float16", KN_F16}, {"bf16", KN_BF16}, {"bfloat16", KN_BF16},
        {"fp32", KN_F32}, {"f32", KN_F32}, {"float32", KN_F32}, {"int8", KN_I8}, {"i8", KN_I8}};
    for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].dtype;
            return true;
        }
    return false;
}

static const char *file_dtype_name(kn_dtype t) { return kn_dtype_name(t); }

int cmd_convert(int argc, char **argv, cli_global *g) {
    convert_args args = {0};
    int parsed = cli_parse_args(&convert_command, argc, argv, g, &args);
    if (parsed != CLI_PARSED) return parsed;
    const char *model = args.model, *out = args.out, *to = args.to;
    kn_dtype dtype = KN_F32;
    if (!to) return cli_usage_error("convert", "missing --to fp16|bf16|int8");
    if (!parse_dtype(to, &dtype)) return cli_usage_error("convert", "--to expects fp16, bf16 or int8 (or fp32), got '%s'", to);
    if (!out) return cli_usage_error("convert", "missing OUT (the converted file's path)");
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    kn_ctx *ctx = cli_ctx(g);
    if (!ctx) return CLI_RUNTIME;
    int rc = CLI_OK;
    kn_model *m = NULL;
    kn_status st = cli_is_onnx(model) ? kn_model_import_onnx(ctx, model, NULL, &m) : kn_model_load(ctx, model, NULL, &m);
    if (!st) st = kn_model_save_as(m, out, dtype);
    if (st) {
        rc = cli_fail(ctx, st);
        goto done;
    }
    struct stat a, b;
    if (stat(model, &a) != 0 || stat(out, &b) != 0) {
        fprintf(stderr, "kiln: %s: %s\n", out, strerror(errno));
        rc = CLI_RUNTIME;
        goto done;
    }
    double ratio = a.st_size ? (double)b.st_size / (double)a.st_size : 0;
    if (g->json) {
        printf("{\"model\": ");
        cli_json_string(stdout, model);
        printf(", \"out\": ");
        cli_json_string(stdout, out);
        printf(", \"dtype\": \"%s\", \"params\": %lld, \"bytes_in\": %lld, \"bytes_out\": %lld, \"ratio\": %.4f}\n",
               file_dtype_name(dtype), (long long)kn_model_param_count(m), (long long)a.st_size, (long long)b.st_size, ratio);
    } else if (!g->quiet) {
        printf("%s (%s, %lld bytes) -> %s (%s, %lld bytes): %.1f%% of the size\n", model,
               file_dtype_name(kn_model_param_dtype(m)), (long long)a.st_size, out, file_dtype_name(dtype),
               (long long)b.st_size, 100 * ratio);
    }
done:
    kn_model_free(m);
    kn_ctx_free(ctx);
    return rc;
}
