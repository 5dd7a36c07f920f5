/* int8_predict.c — the reference MLP served in f32 and in int8 (kn_model_set_quantization),
 * as bench/torch_int8.py serves PyTorch's f32 model and its quantize_dynamic copy: trained
 * EPOCHS epochs on the 60,000 Fashion-MNIST images (batch 32, Adam), saved, loaded twice
 * (one copy set to int8); for each copy the accuracy on the 10,000 test images, the
 * single-sample predict latency (INTERFACE.md's way: one call per sample over N distinct
 * test images, u8 pixels scaled and the softmax inside the timed region; median and p99),
 * and the time to predict the whole test set in batches of BATCH (median of 3 passes after a warm-up pass).
 * SPEC=models/cnn.json: the CNN instead (its own batch size); N_FIT=K in the environment
 * trains on the first K images only (PyTorch's side takes the same).
 * usage: [N_FIT=60000] int8_predict [EPOCHS=2] [THREADS=1] [N=2000] [BATCH=1000] [SPEC=models/mlp.json] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"

static double test_accuracy(kn_model *m, const kn_dataset *test, float *probs) {
    int64_t n = kn_dataset_size(test), right = 0;
    kn_model_predict(m, kn_dataset_x(test), n, probs);
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < 10; c++) best = probs[i * 10 + c] > probs[i * 10 + best] ? c : best;
        right += best == kn_dataset_labels(test)[i];
    }
    return (double)right / (double)n;
}

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 2, threads = argc > 2 ? atoi(argv[2]) : 1;
    int n = argc > 3 ? atoi(argv[3]) : 2000, batch = argc > 4 ? atoi(argv[4]) : 1000;
    const char *spec_path = argc > 5 ? argv[5] : "models/mlp.json";
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx);
    kn_dataset *train, *test;
    char *json = slurp(spec_path);
    kn_model *m;
    kn_spec spec;
    kn_dataset *fit = NULL;
    int64_t n_fit = getenv("N_FIT") ? atoll(getenv("N_FIT")) : 60000;
    if (kn_dataset_load(ctx, "fashion-mnist", &train, &test) || !test || !json ||
        kn_dataset_slice(train, 0, n_fit < kn_dataset_size(train) ? n_fit : kn_dataset_size(train), &fit) ||
        kn_model_from_json(ctx, json, train, &m, &spec) || kn_model_compile(m, &spec.compile) ||
        kn_model_fit(m, fit, &(kn_fit_opts){.epochs = epochs, .batch_size = spec.batch_size, .verbose = 0}, NULL)) {
        fprintf(stderr, "int8_predict: %s\n", json ? kn_last_error(ctx) : "cannot read the description");
        return 1;
    }
    char path[] = "/tmp/kiln_int8_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || kn_model_save(m, path)) {
        fprintf(stderr, "int8_predict: %s\n", kn_last_error(ctx));
        return 1;
    }
    close(fd);
    kn_model_free(m);
    int64_t nt = kn_dataset_size(test);
    if (n > nt) n = (int)nt;
    float *probs = malloc(sizeof(float) * (size_t)nt * 10);
    unsigned char *raw = malloc((size_t)n * 784);
    for (long i = 0; i < (long)n * 784; i++) raw[i] = (unsigned char)(kn_dataset_x(test)[i] * 255.0f + 0.5f);
    double *t = malloc((size_t)(n > 3 ? n : 3) * sizeof *t);
    for (int q = 0; q < 2; q++) {
        if (kn_model_load(ctx, path, NULL, &m) || (q && kn_model_set_quantization(m, KN_QUANT_INT8))) {
            fprintf(stderr, "int8_predict: %s\n", kn_last_error(ctx));
            return 1;
        }
        double acc = test_accuracy(m, test, probs);
        float x[784], p[10];
        for (int rep = 0; rep < 2; rep++) /* the first pass warms caches and branch predictors */
            for (int i = 0; i < n; i++) {
                double t0 = now();
                for (int j = 0; j < 784; j++) x[j] = raw[(long)i * 784 + j] * (1.0f / 255.0f);
                kn_model_predict(m, x, 1, p);
                t[i] = now() - t0;
            }
        qsort(t, (size_t)n, sizeof *t, cmp);
        double med = t[n / 2] * 1e6, p99 = t[(int)(n * 0.99)] * 1e6;
        for (int rep = 0; rep < 4; rep++) { /* the whole test set in batches; the first pass warms */
            double t0 = now();
            for (int64_t i = 0; i < nt; i += batch)
                kn_model_predict(m, kn_dataset_x(test) + i * 784, nt - i < batch ? nt - i : batch, probs + i * 10);
            if (rep) t[rep - 1] = now() - t0;
        }
        qsort(t, 3, sizeof *t, cmp);
        printf("RESULT kiln %s model=%s epochs=%d threads=%d accuracy=%.4f predict1_median_us=%.2f predict1_p99_us=%.2f "
               "testset_batch%d_ms=%.3f int8_layers=%d\n",
               q ? "int8" : "f32", strstr(spec_path, "cnn") ? "cnn" : "mlp", epochs, threads, acc, med, p99, batch, t[1] * 1e3, kn_model_quantized_layers(m));
        fflush(stdout);
        kn_model_free(m);
    }
    unlink(path);
    free(raw), free(t), free(probs), free(json);
    kn_dataset_free(fit), kn_dataset_free(train), kn_dataset_free(test);
    kn_ctx_free(ctx);
    return 0;
}
