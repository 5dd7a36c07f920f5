/* classic_csv.c — one classical model on a CSV train/test pair through kiln's model API: the
 * CSV preprocessing (kiln's defaults: features standardized) fitted on the training file and
 * applied to both, the model built from a JSON description and fitted, the test rows
 * predicted; prints one JSON line: fit_seconds (the whole kn_model_fit), predict_seconds, and
 * r2 and rmse (regression) or accuracy (classification), params.
 * usage: classic_csv SPEC_JSON TRAIN.csv TEST.csv [THREADS]   (bench/svr_vs_sklearn.sh runs it) */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <kiln.h>

#include <math.h>

#include "bench_util.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: classic_csv SPEC_JSON TRAIN.csv TEST.csv [THREADS]\n");
        return 2;
    }
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    char src_train[1024], src_test[1024];
    snprintf(src_train, sizeof src_train, "csv:%s", argv[2]);
    snprintf(src_test, sizeof src_test, "csv:%s", argv[3]);
    kn_ctx *ctx = NULL;
    kn_dataset *raw_train = NULL, *raw_test = NULL, *train = NULL, *test = NULL;
    kn_preprocessor *prep = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    float *p = NULL;
    kn_status st = kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 42}, &ctx);
    if (!st) st = kn_dataset_load(ctx, src_train, &raw_train, NULL);
    if (!st) st = kn_dataset_load(ctx, src_test, &raw_test, NULL);
    if (!st) st = kn_preprocessor_fit(raw_train, &prep);
    if (!st) st = kn_preprocessor_transform(prep, raw_train, &train);
    if (!st) st = kn_preprocessor_transform(prep, raw_test, &test);
    if (!st) st = kn_model_from_json(ctx, argv[1], train, &m, &spec);
    double t0 = now(), t1 = 0, t2 = 0;
    if (!st) st = kn_model_fit(m, train, &(kn_fit_opts){.verbose = 0}, NULL);
    t1 = now();
    int64_t n = test ? kn_dataset_size(test) : 0, outs = m ? kn_model_output_size(m) : 0;
    if (!st && !(p = malloc(sizeof(float) * (size_t)(n * outs)))) st = KN_ERR_OUT_OF_MEMORY;
    if (!st) st = kn_model_predict(m, kn_dataset_x(test), n, p);
    t2 = now();
    if (st) {
        fprintf(stderr, "classic_csv: %s\n", ctx ? kn_last_error(ctx) : kn_status_text(st));
        return 1;
    }
    printf("{\"model_type\": \"%s\", \"n_train\": %lld, \"threads\": %d, \"fit_seconds\": %.3f, \"predict_seconds\": %.3f, ",
           kn_model_type(m), (long long)kn_dataset_size(train), threads, t1 - t0, t2 - t1);
    const float *t = kn_dataset_targets(test);
    if (t) {
        double mean = 0, sse = 0, sst = 0;
        for (int64_t i = 0; i < n; i++) mean += t[i] / (double)n;
        for (int64_t i = 0; i < n; i++) sse += (p[i] - t[i]) * (p[i] - t[i]), sst += (t[i] - mean) * (t[i] - mean);
        printf("\"r2\": %.4f, \"rmse\": %.4f, ", 1 - sse / sst, sqrt(sse / (double)n));
    } else {
        const int32_t *y = kn_dataset_labels(test);
        int64_t correct = 0;
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < outs; c++) best = p[i * outs + c] > p[i * outs + best] ? c : best;
            correct += best == y[i];
        }
        printf("\"accuracy\": %.4f, ", (double)correct / (double)n);
    }
    printf("\"params\": %lld}\n", (long long)kn_model_param_count(m));
    free(p);
    kn_model_free(m);
    kn_preprocessor_free(prep);
    kn_dataset_free(raw_train);
    kn_dataset_free(raw_test);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return 0;
}
