/* fuzz_tabular.c — libFuzzer target for the csv: data source and its preprocessing: any
 * bytes, read as a CSV file with one of a few option strings (the first byte picks it), must
 * give a raw table or a status with a one-line message naming the file; a table must fit a
 * preprocessing (or be refused with a message), transform to finite values of the announced
 * width, survive a save/load of that preprocessing as JSON with identical results, and read
 * its own file back as prediction input. Seeds: tests/fuzz/corpus/tabular/. Build with
 * -DKILN_FUZZ=ON (see tests/CMakeLists.txt); the inputs go through a file in /tmp. */
#define _POSIX_C_SOURCE 200809L
#include "data/dataset.h"
#include "data/preprocess.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const options[] = {
    "",
    ":target=#0:impute=median:scale=minmax",
    ":onehot=off:impute=most_frequent:dates=off",
    ":impute=drop:poly=2",
    ":impute=constant:fill=-1:scale=none:task=classification",
    ":pca=2:task=regression",
    ":sep=;:na=x,-",
    ":categorical=a,b:drop=c",
    ":text=a:text_features=3",
    ":text=a,b:impute=drop:pca=1",
    ":sequence=a:drop=b:sequence_length=3:max_tokens=4",
    ":sequence=b:drop=a:impute=drop",
};

static void check_width(const kn_preprocessor *p, const kn_dataset *d) {
    if (kn_dataset_features(d) != kn_preprocessor_output_size(p)) __builtin_trap();
    const float *x = kn_dataset_x(d);
    for (int64_t i = 0; i < kn_dataset_size(d) * kn_dataset_features(d); i++)
        if (!isfinite(x[i])) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char path[64], source[160];
    snprintf(path, sizeof path, "/tmp/kiln_fuzz_tabular_%d.csv", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    snprintf(source, sizeof source, "csv:%s%s", path, options[data[0] % (sizeof options / sizeof *options)]);
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .log_level = KN_LOG_ERROR + 1}, &ctx) != KN_OK) return 0;
    kn_dataset *raw = NULL, *d = NULL, *d2 = NULL, *in = NULL;
    kn_preprocessor *p = NULL, *q = NULL;
    kn_status st = kn_dataset_load(ctx, source, &raw, NULL);
    const char *msg = kn_last_error(ctx);
    if (st != KN_OK && (!strstr(msg, "kiln_fuzz_tabular") || strchr(msg, '\n'))) __builtin_trap();
    if (st == KN_OK && !kn_dataset_is_raw(raw)) __builtin_trap();
    if (st == KN_OK && kn_preprocessor_fit(raw, &p) == KN_OK) {
        if (strchr(kn_last_error(ctx), '\n')) __builtin_trap();
        if (kn_preprocessor_transform(p, raw, &d) == KN_OK) check_width(p, d);
        cJSON *j = kn__prep_to_json(p);
        if (!j || kn__prep_from_json(ctx, j, "fuzz", &q) != KN_OK) __builtin_trap(); /* its own output must load */
        cJSON_Delete(j);
        if (d && kn_preprocessor_transform(q, raw, &d2) == KN_OK) {
            if (kn_dataset_size(d2) != kn_dataset_size(d) ||
                memcmp(kn_dataset_x(d), kn_dataset_x(d2), sizeof(float) * (size_t)(kn_dataset_size(d) * kn_dataset_features(d))))
                __builtin_trap();
        }
        if (kn__prep_load_csv(p, ctx, path, raw->raw->src.sep, NULL, false, &in) == KN_OK) check_width(p, in);
    }
    kn_dataset_free(in);
    kn_dataset_free(d);
    kn_dataset_free(d2);
    kn_preprocessor_free(p);
    kn_preprocessor_free(q);
    kn_dataset_free(raw);
    kn_ctx_free(ctx);
    unlink(path);
    return 0;
}
