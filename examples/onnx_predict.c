/* onnx_predict.c — serving a model trained elsewhere from C: import an ONNX file (PyTorch's
 * torch.onnx.export, ...), classify images with it, time one sample, and save it as a .kiln
 * file for next time (kn_model_load reads that without re-importing).
 * usage: onnx_predict MODEL.onnx [IMAGES=fashion-mnist test set] [OUT.kiln]
 *   e.g. onnx_predict tests/data/onnx/mlp.onnx (an 8x8-input test model: give it 64-pixel
 *   images) or a 28x28 model exported by bench/torch_predict_latency.py with EXPORT. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: onnx_predict MODEL.onnx [DATA=fashion-mnist] [OUT.kiln]\n");
        return 2;
    }
    const char *data = argc > 2 ? argv[2] : "fashion-mnist";
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 1}, &ctx);
    kn_model *m = NULL;
    kn_dataset *train = NULL, *test = NULL;
    int rc = 1;
    /* the import: the ONNX graph as kiln layers, its weights in kiln's layouts */
    if (kn_model_import_onnx(ctx, argv[1], NULL, &m) || kn_dataset_load(ctx, data, &train, &test)) {
        fprintf(stderr, "onnx_predict: %s\n", kn_last_error(ctx));
        goto done;
    }
    char summary[512];
    kn_model_summary(m, summary, sizeof summary);
    printf("imported %s: %s\n", argv[1], summary);
    kn_dataset *eval = test ? test : train;
    /* the whole test set, and the confusion-matrix metrics, when the model ends in classes */
    kn_eval_report rep;
    if (kn_model_evaluate(m, eval, &rep)) {
        fprintf(stderr, "onnx_predict: %s\n", kn_last_error(ctx));
        goto done;
    }
    printf("%lld samples: accuracy %.4f, macro F1 %.4f\n", (long long)kn_dataset_size(eval), rep.accuracy, rep.f1_macro);
    /* one sample at a time, as a server would (the median of 1,000) */
    int64_t in = kn_model_input_size(m), out = kn_model_output_size(m), n = kn_dataset_size(eval) < 1000 ? kn_dataset_size(eval) : 1000;
    float *y = malloc((size_t)out * sizeof *y);
    double *t = malloc((size_t)n * sizeof *t);
    for (int64_t i = 0; y && t && i < n; i++) {
        double t0 = now();
        kn_model_predict(m, kn_dataset_x(eval) + i * in, 1, y);
        t[i] = now() - t0;
    }
    for (int64_t i = 1; t && i < n; i++) /* (insertion sort: n is small) */
        for (int64_t j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double v = t[j];
            t[j] = t[j - 1], t[j - 1] = v;
        }
    if (t && n) printf("one sample: median %.2f µs over %lld\n", t[n / 2] * 1e6, (long long)n);
    free(y);
    free(t);
    if (argc > 3) {
        if (kn_model_save(m, argv[3])) {
            fprintf(stderr, "onnx_predict: %s\n", kn_last_error(ctx));
            goto done;
        }
        printf("saved %s\n", argv[3]);
    }
    rc = 0;
done:
    kn_model_free(m);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_ctx_free(ctx);
    return rc;
}
