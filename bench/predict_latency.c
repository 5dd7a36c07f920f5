/* predict_latency.c — single-sample predict latency of the reference MLP (or of the model a
 * JSON description gives, trained on fewer images: the CNN) through the C API,
 * measured as INTERFACE.md says: a trained model, saved, loaded back and warmed; one call per sample over N
 * distinct test images in turn; the input scaling (u8 pixels to [0, 1]) and the output
 * softmax inside the timed region; median and p99 in microseconds.
 * DEVICE=cuda: trained, loaded and run on the GPU (host in, host out: each call copies the
 * sample in and the probabilities out, bench/gpu/run.sh).
 * A MODEL.kiln or MODEL.onnx (imported: kn_model_import_onnx) instead of a description is
 * measured as it is, untrained here.
 * DTYPE=int8: the f32 file loaded and served with int8 dense layers (kn_model_set_quantization).
 * usage: [DTYPE=fp16|bf16|int8] [DEVICE=cpu|cuda] predict_latency [N=2000] [THREADS=1] [SPEC.json|MODEL.kiln|MODEL.onnx] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000, threads = argc > 2 ? atoi(argv[2]) : 1;
    kn_ctx *ctx;
    kn_device device = KN_DEVICE_CPU;
    if (getenv("DEVICE") && !kn_device_parse(getenv("DEVICE"), &device)) {
        fprintf(stderr, "predict_latency: DEVICE=%s: expected cpu or cuda\n", getenv("DEVICE"));
        return 2;
    }
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1, .device = device}, &ctx);
    if (kn_device_check(ctx, device)) {
        fprintf(stderr, "predict_latency: %s\n", kn_last_error(ctx));
        return 77;
    }
    kn_dataset *train, *test, *part;
    if (kn_dataset_load(ctx, "fashion-mnist", &train, &test) || !test) {
        fprintf(stderr, "predict_latency: %s\n", kn_last_error(ctx));
        return 1;
    }
    if (n > kn_dataset_size(test)) n = (int)kn_dataset_size(test);
    kn_model *m;
    int64_t n_fit = 10000, batch = 32;
    size_t alen = argc > 3 ? strlen(argv[3]) : 0;
    bool ready = alen > 5 && (strcmp(argv[3] + alen - 5, ".kiln") == 0 || strcmp(argv[3] + alen - 5, ".onnx") == 0);
    if (ready) { /* a trained model: a .kiln file, or an ONNX model imported (kiln import) */
        kn_status st = strcmp(argv[3] + alen - 5, ".onnx") == 0 ? kn_model_import_onnx(ctx, argv[3], NULL, &m)
                                                                : kn_model_load(ctx, argv[3], NULL, &m);
        if (st) {
            fprintf(stderr, "predict_latency: %s\n", kn_last_error(ctx));
            return 1;
        }
        n_fit = 0;
    } else if (argc > 3) { /* a description: trained on 2,000 images at its own batch size */
        char *json = slurp(argv[3]);
        kn_spec spec;
        if (!json || kn_model_from_json(ctx, json, NULL, &m, &spec) || kn_model_compile(m, &spec.compile)) {
            fprintf(stderr, "predict_latency: %s: %s\n", argv[3], json ? kn_last_error(ctx) : "cannot read");
            return 1;
        }
        free(json);
        n_fit = 2000;
        if (spec.batch_size) batch = spec.batch_size;
    } else {
        kn_model_new_sequential(ctx, (int64_t[]){784}, 1, &m);
        kn_model_add_dense(m, 64, KN_RELU);
        kn_model_add_dense(m, 64, KN_RELU);
        kn_model_add_dense(m, 10, KN_SOFTMAX);
        kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    }
    if (n_fit > kn_dataset_size(train)) n_fit = kn_dataset_size(train); /* (a smaller data set: all of it) */
    part = NULL;
    if (n_fit && (kn_dataset_slice(train, 0, n_fit, &part) ||
                  kn_model_fit(m, part, &(kn_fit_opts){.epochs = 1, .batch_size = batch, .verbose = 0}, NULL))) {
        fprintf(stderr, "predict_latency: training: %s\n", kn_last_error(ctx));
        return 1;
    }
    /* measured through a saved and loaded model (weights used in place from the mapping) */
    char path[] = "/tmp/kiln_latency_XXXXXX";
    int fd = mkstemp(path);
    /* DTYPE=fp16|bf16 in the environment: the model file in that type (kiln convert), whose
     * single-sample products read half weights */
    const char *dt = getenv("DTYPE");
    kn_dtype file_dtype = dt && !strcmp(dt, "fp16") ? KN_F16 : dt && !strcmp(dt, "bf16") ? KN_BF16 : KN_F32;
    if (fd < 0 || kn_model_save_as(m, path, file_dtype)) {
        fprintf(stderr, "predict_latency: %s\n", kn_last_error(ctx));
        return 1;
    }
    close(fd);
    kn_model_free(m);
    if (kn_model_load(ctx, path, NULL, &m) ||
        (dt && !strcmp(dt, "int8") && kn_model_set_quantization(m, KN_QUANT_INT8))) {
        fprintf(stderr, "predict_latency: %s\n", kn_last_error(ctx));
        return 1;
    }
    unlink(path);
    /* the raw pixels, as a caller would hold them */
    const float *xs = kn_dataset_x(test);
    unsigned char *raw = malloc((size_t)n * 784);
    for (long i = 0; i < (long)n * 784; i++) raw[i] = (unsigned char)(xs[i] * 255.0f + 0.5f);
    double *t = malloc((size_t)n * sizeof *t);
    float x[784], p[10];
    long correct = 0;
    for (int rep = 0; rep < 2; rep++) /* the first pass warms caches and branch predictors */
        for (int i = 0; i < n; i++) {
            double t0 = now();
            for (int j = 0; j < 784; j++) x[j] = raw[(long)i * 784 + j] * (1.0f / 255.0f);
            kn_model_predict(m, x, 1, p);
            t[i] = now() - t0;
            int best = 0;
            for (int c = 1; c < 10; c++) best = p[c] > p[best] ? c : best;
            correct += rep == 1 && best == kn_dataset_labels(test)[i];
        }
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("RESULT kiln predict1 device=%s dtype=%s samples=%d threads=%d median_us=%.2f p99_us=%.2f accuracy_on_them=%.4f\n", kn_device_name(device), dt ? dt : "fp32", n, threads,
           t[n / 2] * 1e6, t[(int)(n * 0.99)] * 1e6, (double)correct / n);
    free(raw);
    free(t);
    kn_model_free(m);
    kn_dataset_free(part);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return 0;
}
