/* info.c — `kiln info MODEL`: what a .kiln file holds, after a full load (structure and
 * checksum verified): type, architecture, parameter count, bytes, dtypes, preprocessing,
 * labels, training summary and format version. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What kn_model_load accepts: it refuses every other version, so a loaded model is this one. */
#define INFO_FORMAT_VERSION 1

static const char info_help[] =
    "usage: kiln info MODEL [options]\n"
    "\n"
    "Loads a saved model (a .kiln file, verifying its structure and checksum; or an .onnx\n"
    "file, imported as kiln import would) and describes\n"
    "it: type, architecture, parameters, bytes, dtypes, preprocessing, labels, training\n"
    "summary and format version.\n"
    "\n" CLI_GLOBAL_HELP
    "\n"
    "JSON keys: model_type, params, bytes, dtypes, input_size, outputs, labels, input_scale,\n"
    "architecture (the JSON description), training (the training summary, or null),\n"
    "format_version, format (kiln, or onnx: the file was imported).\n";

static const cli_positional info_positionals[] = {{0, "MODEL (a .kiln or .onnx file)"}}; /* the path itself */
static const cli_command info_command = {"info", info_help, NULL, info_positionals, CLI_COUNT(info_positionals)};

/* A parameter dtype as safetensors names it (what the file holds). */
static const char *file_dtype(kn_dtype t) { return kn_dtype_name(t); }

/* The labels saved with the model: kn_model_label_name answers NULL past the last one. */
static cJSON *labels_json(const kn_model *m) {
    cJSON *list = cJSON_CreateArray();
    const char *name;
    for (int k = 0; list && k < (1 << 20) && (name = kn_model_label_name(m, k)); k++)
        cJSON_AddItemToArray(list, cJSON_CreateString(name));
    return list;
}

static void print_human(const char *path, const kn_model *m, long long bytes, const cJSON *arch, const cJSON *labels,
                        const char *training) {
    printf("model          %s\n", path);
    printf("type           %s\n", kn_model_type(m));
    if (cli_is_onnx(path)) printf("format         ONNX (imported: what kiln import would write)\n");
    else printf("format         kiln model file version %d (safetensors)\n", INFO_FORMAT_VERSION);
    printf("bytes          %lld (%.2f MB)\n", bytes, (double)bytes / 1e6);
    printf("parameters     %lld\n", (long long)kn_model_param_count(m));
    kn_dtype pdt = kn_model_param_dtype(m);
    if (pdt == KN_F32) printf("dtypes         F32\n");
    else if (pdt == KN_I8)
        printf("dtypes         I8 and F32 (int8 weights with column scales, the rest F32; served in int8; a converted "
               "file, for inference)\n");
    else printf("dtypes         %s (parameters, widened to F32 at load; a converted file, for inference)\n", file_dtype(pdt));
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(arch, "input_shape"), *v;
    printf("input          [");
    cJSON_ArrayForEach(v, shape) printf("%s%g", v == shape->child ? "" : ", ", v->valuedouble);
    double scale = kn_model_input_scale(m);
    printf("] (%lld values), input scale %.8g%s\n", (long long)kn_model_input_size(m), scale,
           fabs(scale * 255 - 1) < 1e-9 ? " (1/255: 8-bit pixels)" : "");
    printf("outputs        %lld\n", (long long)kn_model_output_size(m));
    printf("labels         ");
    if (!cJSON_GetArraySize(labels)) printf("(none)");
    cJSON_ArrayForEach(v, labels) printf("%s%s", v == labels->child ? "" : ", ", v->valuestring);
    putchar('\n');
    if (strcmp(kn_model_type(m), "sequential") != 0) { /* a classical model: its hyperparameters */
        printf("hyperparameters");
        const cJSON *hp;
        cJSON_ArrayForEach(hp, arch) {
            if (!strcmp(hp->string, "type") || !strcmp(hp->string, "input_shape") || !strcmp(hp->string, "n_classes")) continue;
            char *t = cJSON_PrintUnformatted(hp);
            printf(" %s=%s", hp->string, t ? t : "?");
            cJSON_free(t);
        }
        putchar('\n');
    } else {
    printf("layers        ");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(arch, "layers"), *L;
    cJSON_ArrayForEach(L, layers) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(L, "type"), *units = cJSON_GetObjectItemCaseSensitive(L, "units"),
                    *act = cJSON_GetObjectItemCaseSensitive(L, "activation");
        const char *t = cJSON_IsString(type) ? type->valuestring : "?";
        printf(" %s%s", L == layers->child ? "" : "-> ", t);
        if (strcmp(t, "dense") == 0) {
            printf("(%g, %s", cJSON_IsNumber(units) ? units->valuedouble : 0, cJSON_IsString(act) ? act->valuestring : "?");
            static const char *const links[] = {"name", "inputs"}; /* a non-sequential model's */
            for (int k = 0; k < 2; k++) {
                const cJSON *lv = cJSON_GetObjectItemCaseSensitive(L, links[k]);
                char *text = lv && !cJSON_IsString(lv) ? cJSON_PrintUnformatted(lv) : NULL;
                if (lv) printf(", %s=%s", links[k], cJSON_IsString(lv) ? lv->valuestring : text ? text : "?");
                cJSON_free(text);
            }
            putchar(')');
        } else if (strcmp(t, "flatten") != 0 && strcmp(t, "global_average_pool2d") != 0) {
            /* conv2d(32, kernel_size=[3,3], strides=[1,1], padding=valid, ...): its settings as written */
            const cJSON *item;
            bool first = true;
            putchar('(');
            cJSON_ArrayForEach(item, L) {
                if (strcmp(item->string, "type") == 0 || strcmp(item->string, "use_bias") == 0 ||
                    strstr(item->string, "initializer"))
                    continue;
                char *text = cJSON_IsString(item) ? NULL : cJSON_PrintUnformatted(item);
                printf("%s%s=%s", first ? "" : ", ", item->string, cJSON_IsString(item) ? item->valuestring : text ? text : "?");
                cJSON_free(text);
                first = false;
            }
            putchar(')');
        }
    }
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(arch, "loss"), *opt = cJSON_GetObjectItemCaseSensitive(arch, "optimizer");
    const cJSON *otype = cJSON_GetObjectItemCaseSensitive(opt, "type"), *lr = cJSON_GetObjectItemCaseSensitive(opt, "learning_rate");
    printf("\nloss           %s\n", cJSON_IsString(loss) ? loss->valuestring : "(none)");
    if (cJSON_IsString(otype)) printf("optimizer      %s, learning_rate %g\n", otype->valuestring, cJSON_IsNumber(lr) ? lr->valuedouble : 0);
    }
    const kn_preprocessor *prep = kn_model_preprocessor(m);
    if (prep) {
        printf("preprocessing  %s\n", kn_preprocessor_report(prep));
        printf("features       ");
        int64_t nf = kn_preprocessor_output_size(prep);
        for (int64_t i = 0; i < nf && i < 24; i++) printf("%s%s", i ? ", " : "", kn_preprocessor_feature_name(prep, i));
        if (nf > 24) printf(", ... (%lld in all)", (long long)nf);
        putchar('\n');
    }
    int64_t d = kn_model_input_size(m);
    double *imp = d > 0 ? malloc(sizeof *imp * (size_t)d) : NULL;
    if (imp && kn_model_feature_importances((kn_model *)m, imp) == KN_OK) { /* trees and forests: the top ten */
        printf("importances   ");
        for (int r = 0; r < 10 && r < d; r++) {
            int64_t best = -1;
            for (int64_t j = 0; j < d; j++)
                if (imp[j] >= 0 && (best < 0 || imp[j] > imp[best])) best = j;
            if (best < 0 || imp[best] <= 0) break;
            const char *name = kn_model_feature_name(m, best);
            if (name) printf(" %s %.4f", name, imp[best]);
            else printf(" #%lld %.4f", (long long)best, imp[best]);
            imp[best] = -1;
        }
        putchar('\n');
    }
    free(imp);
    char *tree = NULL;
    if (kn_model_export_text((kn_model *)m, &tree) == KN_OK) { /* a decision tree, as scikit-learn's export_text */
        printf("tree\n%s", tree);
        kn_free(kn_model_ctx(m), tree);
    }
    printf("training       %s\n", training ? training : "(none: never trained)");
    char *text = cJSON_PrintUnformatted(arch);
    printf("architecture   %s\n", text ? text : "?");
    cJSON_free(text);
}

int cmd_info(int argc, char **argv, cli_global *g) {
    const char *path = NULL;
    int parsed = cli_parse_args(&info_command, argc, argv, g, &path);
    if (parsed != CLI_PARSED) return parsed;
    int rc = CLI_OK;
    if (!cli_device_ok(g)) return CLI_RUNTIME;
    kn_ctx *ctx = cli_ctx(g);
    if (!ctx) return CLI_RUNTIME;
    kn_model *m = NULL;
    char *arch_text = NULL;
    cJSON *arch = NULL, *labels = NULL, *out = NULL;
    kn_status st = cli_load_model(ctx, path, &m);
    if (st) { rc = cli_fail(ctx, st); goto done; }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "kiln: %s: %s\n", path, strerror(errno));
        rc = CLI_RUNTIME;
        goto done;
    }
    if ((st = kn_model_to_json(m, &arch_text))) { rc = cli_fail(ctx, st); goto done; }
    arch = cJSON_Parse(arch_text);
    labels = labels_json(m);
    if (!arch || !labels) {
        fprintf(stderr, "kiln: %s: cannot describe the architecture (out of memory?)\n", path);
        rc = CLI_RUNTIME;
        goto done;
    }
    /* the summary comes from the file: embedded as an object only when it parses as one */
    const char *training = kn_model_training_summary(m);
    cJSON *train_obj = training ? cJSON_Parse(training) : NULL;
    if (train_obj && !cJSON_IsObject(train_obj)) {
        cJSON_Delete(train_obj);
        train_obj = NULL;
    }
    if (!g->json) {
        print_human(path, m, (long long)sb.st_size, arch, labels, training);
        cJSON_Delete(train_obj);
        goto done;
    }
    out = cJSON_CreateObject();
    cJSON *dtypes = cJSON_CreateArray();
    cJSON_AddItemToArray(dtypes, cJSON_CreateString(file_dtype(kn_model_param_dtype(m))));
    cJSON_AddStringToObject(out, "model_type", kn_model_type(m));
    cJSON_AddNumberToObject(out, "params", (double)kn_model_param_count(m));
    cJSON_AddNumberToObject(out, "bytes", (double)sb.st_size);
    cJSON_AddItemToObject(out, "dtypes", dtypes);
    cJSON_AddNumberToObject(out, "input_size", (double)kn_model_input_size(m));
    cJSON_AddNumberToObject(out, "outputs", (double)kn_model_output_size(m));
    cJSON_AddItemToObject(out, "labels", labels);
    labels = NULL;
    cJSON_AddNumberToObject(out, "input_scale", kn_model_input_scale(m));
    double *imp = malloc(sizeof *imp * (size_t)(kn_model_input_size(m) > 0 ? kn_model_input_size(m) : 1));
    if (imp && kn_model_feature_importances(m, imp) == KN_OK) {
        cJSON *a = cJSON_AddArrayToObject(out, "feature_importances");
        for (int64_t j = 0; j < kn_model_input_size(m); j++) cJSON_AddItemToArray(a, cJSON_CreateNumber(imp[j]));
    }
    free(imp);
    char *tree_text = NULL;
    if (kn_model_export_text(m, &tree_text) == KN_OK) {
        cJSON_AddStringToObject(out, "tree", tree_text);
        kn_free(ctx, tree_text);
    }
    const kn_preprocessor *prep = kn_model_preprocessor(m);
    if (prep) { /* what the model applies to CSV rows: its report and input names */
        cJSON *pre = cJSON_AddObjectToObject(out, "preprocessing");
        cJSON_AddStringToObject(pre, "report", kn_preprocessor_report(prep));
        cJSON *names = cJSON_AddArrayToObject(pre, "features");
        for (int64_t i = 0; i < kn_preprocessor_output_size(prep); i++)
            cJSON_AddItemToArray(names, cJSON_CreateString(kn_preprocessor_feature_name(prep, i)));
    }
    cJSON_AddItemToObject(out, "architecture", arch);
    arch = NULL;
    cJSON_AddItemToObject(out, "training", train_obj ? train_obj : cJSON_CreateNull());
    cJSON_AddNumberToObject(out, "format_version", INFO_FORMAT_VERSION);
    cJSON_AddStringToObject(out, "format", cli_is_onnx(path) ? "onnx" : "kiln");
    char *text = cJSON_PrintUnformatted(out);
    if (!text) {
        fprintf(stderr, "kiln: %s: out of memory\n", path);
        rc = CLI_RUNTIME;
        goto done;
    }
    printf("%s\n", text);
    cJSON_free(text);
done:
    cJSON_Delete(out);
    cJSON_Delete(arch);
    cJSON_Delete(labels);
    kn_free(ctx, arch_text);
    kn_model_free(m);
    kn_ctx_free(ctx);
    return rc;
}
