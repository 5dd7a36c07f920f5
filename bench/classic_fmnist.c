/* classic_fmnist.c — one classical model on Fashion-MNIST through kiln's model API: build it
 * from a JSON description, fit on the first N training images (all by default), predict the
 * 10,000 test images; prints one JSON line: fit_seconds (the whole kn_model_fit: binning,
 * scaling and the solver), predict_seconds, accuracy, params.
 * usage: classic_fmnist SPEC_JSON [N_TRAIN] [THREADS]   (bench/classic_vs_sklearn.sh runs it) */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: classic_fmnist SPEC_JSON [N_TRAIN] [THREADS]\n");
        return 2;
    }
    int64_t limit = argc > 2 ? atoll(argv[2]) : 0;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    kn_ctx *ctx = NULL;
    kn_dataset *train = NULL, *test = NULL, *part = NULL;
    kn_model *m = NULL;
    kn_spec spec;
    float *p = NULL;
    kn_status st = kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 42}, &ctx);
    if (!st) st = kn_dataset_load(ctx, "fashion-mnist", &train, &test);
    if (!st && limit > 0 && limit < kn_dataset_size(train)) {
        st = kn_dataset_slice(train, 0, limit, &part);
        if (!st) {
            kn_dataset_free(train);
            train = part;
        }
    }
    if (!st) st = kn_model_from_json(ctx, argv[1], train, &m, &spec);
    double t0 = now(), t1 = 0, t2 = 0;
    if (!st) st = kn_model_fit(m, train, &(kn_fit_opts){.verbose = 0}, NULL);
    t1 = now();
    int64_t n = test ? kn_dataset_size(test) : 0, outs = m ? kn_model_output_size(m) : 0;
    if (!st && !(p = malloc(sizeof(float) * (size_t)(n * outs)))) st = KN_ERR_OUT_OF_MEMORY;
    if (!st) st = kn_model_predict(m, kn_dataset_x(test), n, p);
    t2 = now();
    if (st) {
        fprintf(stderr, "classic_fmnist: %s\n", ctx ? kn_last_error(ctx) : kn_status_text(st));
        return 1;
    }
    int64_t correct = 0;
    const int32_t *y = kn_dataset_labels(test);
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < outs; c++) best = p[i * outs + c] > p[i * outs + best] ? c : best;
        correct += best == y[i];
    }
    printf("{\"model_type\": \"%s\", \"n_train\": %lld, \"threads\": %d, \"fit_seconds\": %.3f, \"predict_seconds\": %.3f, "
           "\"accuracy\": %.4f, \"params\": %lld}\n",
           kn_model_type(m), (long long)kn_dataset_size(train), threads, t1 - t0, t2 - t1, (double)correct / (double)n,
           (long long)kn_model_param_count(m));
    free(p);
    kn_model_free(m);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return 0;
}
