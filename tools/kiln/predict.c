/* predict.c — `kiln predict MODEL INPUT [--top K] [--int8]`: a saved model's predictions for every
 * sample of INPUT (an IDX images file, a PNG/PGM image, or a CSV of feature rows: whatever
 * kn_model_load_inputs reads). Classifiers give label, class and probability (and the top K); a model with one
 * output gives its value, unless its loss is binary cross-entropy (then it is a two-class
 * classifier whose output is the probability of class 1); a network of several outputs
 * under a loss that is not a classifier's (mse, mae, ...: a multi-output regression, an
 * autoencoder) gives all its values. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char predict_help[] =
    "usage: kiln predict MODEL INPUT [--top K] [--int8] [options]\n"
    "\n"
    "Predicts every sample of INPUT with a saved model (a .kiln file, or an .onnx file\n"
    "imported as kiln import would). INPUT: an IDX images\n"
    "file (gzip or not), a PNG or PGM image, or a CSV with a header row, whose columns are\n"
    "matched to the training features by name (the target and dropped columns are ignored;\n"
    "the model's saved preprocessing is applied). Prints one line per sample: index, label,\n"
    "class, probability; a regression model prints index and value (several outputs, as an\n"
    "autoencoder's: index and every value, tab-separated).\n"
    "\n"
    "  --top K          also list the K most probable classes of each sample\n"
    "                   (default: 1; at most the model's number of classes)\n"
    "  --int8           run the network's dense layers on 8-bit integers (dynamic\n"
    "                   quantization: weights per column, each input row over its range)\n"
    "\n" CLI_GLOBAL_HELP
    "\n"
    "JSON: {\"predictions\": [{\"index\", \"label\", \"class\", \"probability\", \"top\": [{\"label\",\n"
    "\"class\", \"probability\"}, ...]}, ...]}; for regression {\"predictions\": [{\"index\", \"value\"}, ...]}\n"
    "(several outputs: {\"index\", \"values\": [...]}).\n";

typedef struct predict_args {
    const char *model, *input;
    long long top;
    bool int8;
} predict_args;

#define AT(field) offsetof(predict_args, field)
static const cli_option predict_options[] = {CLI_INT("--top", AT(top), 1, 1 << 20), CLI_FLAG("--int8", AT(int8)), {0}};
static const cli_positional predict_positionals[] = {
    {AT(model), "MODEL (a .kiln or .onnx file)"}, {AT(input), "INPUT (an IDX images file, a PNG or PGM image, or a CSV)"}};
static const cli_command predict_command = {"predict", predict_help, predict_options, predict_positionals,
                                            CLI_COUNT(predict_positionals)};

/* Moves the k most probable classes, in order, to idx[0..k); idx holds 0..n-1 on entry.
 * A partial selection sort, O(k n); ties go to the lower class. */
static void top_k(const float *p, int n, int k, int *idx) {
    for (int r = 0; r < k; r++) {
        int best = r;
        for (int j = r + 1; j < n; j++)
            if (p[idx[j]] > p[idx[best]] || (p[idx[j]] == p[idx[best]] && idx[j] < idx[best])) best = j;
        int t = idx[r];
        idx[r] = idx[best];
        idx[best] = t;
    }
}

int cmd_predict(int argc, char **argv, cli_global *g) {
    predict_args a = {.top = 1};
    int parsed = cli_parse_args(&predict_command, argc, argv, g, &a);
    if (parsed != CLI_PARSED) return parsed;
    int rc = CLI_OK;
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    kn_ctx *ctx = cli_ctx(g);
    if (!ctx) return CLI_RUNTIME;
    kn_model *m = NULL;
    kn_dataset *in = NULL;
    float *out = NULL, *probs = NULL;
    int *idx = NULL;

    kn_status st = cli_load_model(ctx, a.model, &m);
    if (!st && a.int8) st = kn_model_set_quantization(m, KN_QUANT_INT8);
    if (st) { rc = cli_fail(ctx, st); goto done; }
    /* IDX, PNG/PGM or CSV, shape-checked against the model, its input scaling applied */
    if ((st = kn_model_load_inputs(m, a.input, &in))) { rc = cli_fail(ctx, st); goto done; }
    int64_t outs = kn_model_output_size(m);
    /* one output: a binary classifier's probability under binary cross-entropy; else a
     * value (regression, or the hinge losses' score, whose sign is the class) */
    kn_loss loss;
    bool known = cli_model_loss(m, ctx, &loss);
    bool regression = outs == 1 ? !(known && (loss == KN_LOSS_BINARY_CROSSENTROPY || loss == KN_LOSS_BINARY_FOCAL_CROSSENTROPY))
                                : known && !cli_classification_loss(loss); /* several values: e.g. an autoencoder's */
    int classes = outs == 1 ? 2 : (int)outs;
    if (!regression && a.top > classes) {
        rc = cli_usage_error("predict", "--top %lld is more than the model's %d classes", a.top, classes);
        goto done;
    }
    int k = (int)a.top;
    enum { CHUNK = 1024 }; /* rows per kn_model_predict call: bounded memory for any INPUT */
    out = malloc((size_t)(CHUNK * outs) * sizeof *out);
    probs = malloc((size_t)classes * sizeof *probs);
    idx = malloc((size_t)classes * sizeof *idx);
    if (!out || !probs || !idx) {
        fprintf(stderr, "kiln: %s: out of memory\n", a.input);
        rc = CLI_RUNTIME;
        goto done;
    }
    int64_t n = kn_dataset_size(in), f = kn_dataset_features(in);
    const float *x = kn_dataset_x(in);
    if (f == kn_model_input_size(m) && (st = kn_model_check_input(m, x, n))) { /* every row before any output */
        rc = cli_fail(ctx, st);
        goto done;
    }
    char buf[CLI_LABEL_BUF];
    if (g->json) fputs("{\"predictions\": [", stdout);
    else if (regression) puts(outs == 1 ? "index\tvalue" : "index\tvalues (tab-separated)");
    else puts(k > 1 ? "index\trank\tlabel\tclass\tprobability" : "index\tlabel\tclass\tprobability");
    for (int64_t i = 0; i < n; i += CHUNK) {
        int64_t b = n - i < CHUNK ? n - i : CHUNK;
        if ((st = kn_model_predict(m, x + i * f, b, out))) {
            if (g->json) fputc('\n', stdout); /* end the unfinished line; it is no result */
            rc = cli_fail(ctx, st);
            goto done;
        }
        for (int64_t r = 0; r < b; r++) {
            long long row = (long long)(i + r);
            const float *o = out + r * outs;
            const char *sep = row ? ", " : "";
            if (regression && outs == 1) {
                if (g->json) {
                    printf("%s{\"index\": %lld, \"value\": ", sep, row);
                    cli_json_number(stdout, o[0]);
                    fputc('}', stdout);
                } else {
                    printf("%lld\t%.6g\n", row, o[0]);
                }
                continue;
            }
            if (regression) {
                if (g->json) printf("%s{\"index\": %lld, \"values\": [", sep, row);
                else printf("%lld", row);
                for (int64_t v = 0; v < outs; v++) {
                    if (g->json) {
                        if (v) fputs(", ", stdout);
                        cli_json_number(stdout, o[v]);
                    } else {
                        printf("\t%.6g", o[v]);
                    }
                }
                fputs(g->json ? "]}" : "\n", stdout);
                continue;
            }
            if (outs == 1) { probs[0] = 1 - o[0]; probs[1] = o[0]; } /* binary: o is P(class 1) */
            else memcpy(probs, o, (size_t)classes * sizeof *probs);
            for (int q = 0; q < classes; q++) idx[q] = q;
            top_k(probs, classes, k, idx);
            if (g->json) {
                printf("%s{\"index\": %lld, \"label\": ", sep, row);
                cli_json_string(stdout, cli_label(m, idx[0], buf));
                printf(", \"class\": %d, \"probability\": ", idx[0]);
                cli_json_number(stdout, probs[idx[0]]);
                fputs(", \"top\": [", stdout);
                for (int q = 0; q < k; q++) {
                    fputs(q ? ", {\"label\": " : "{\"label\": ", stdout);
                    cli_json_string(stdout, cli_label(m, idx[q], buf));
                    printf(", \"class\": %d, \"probability\": ", idx[q]);
                    cli_json_number(stdout, probs[idx[q]]);
                    fputc('}', stdout);
                }
                fputs("]}", stdout);
            } else {
                for (int q = 0; q < k; q++) {
                    if (k > 1) printf("%lld\t%d\t", row, q + 1);
                    else printf("%lld\t", row);
                    printf("%s\t%d\t%.4f\n", cli_label(m, idx[q], buf), idx[q], probs[idx[q]]);
                }
            }
        }
    }
    if (g->json) fputs("]}\n", stdout);
done:
    free(out);
    free(probs);
    free(idx);
    kn_dataset_free(in);
    kn_model_free(m);
    kn_ctx_free(ctx);
    return rc;
}
