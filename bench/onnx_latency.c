/* onnx_latency.c — an ONNX image model (torchvision's, exported by bench/torchvision_onnx.py)
 * imported by kiln and run one image at a time, as a server would: the median and p99 of
 * N calls of kn_model_predict on N distinct images (host in, host out), and the largest
 * difference from PyTorch's outputs for the same images. The images come NCHW as PyTorch
 * holds them (X.raw, float32) and are reordered to kiln's (H, W, C) outside the timing.
 * DTYPE=int8 in the environment: served with int8 dense layers and convolutions
 * (kn_model_set_quantization); then top1_agree says on how many images the largest output
 * is PyTorch's.
 * usage: [DTYPE=int8] onnx_latency MODEL.onnx X.raw Y.raw N C H W OUTPUTS [THREADS=1]
 * prints: RESULT kiln onnx_latency model=... median_us=... p99_us=... max_abs_diff=... top1_agree=... */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static float *read_raw(const char *path, size_t n) {
    float *v = malloc(n * sizeof *v);
    FILE *f = fopen(path, "rb");
    size_t got = v && f ? fread(v, sizeof *v, n, f) : 0;
    if (f) fclose(f);
    if (got != n) {
        free(v);
        return NULL;
    }
    return v;
}

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: onnx_latency MODEL.onnx X.raw Y.raw N C H W OUTPUTS [THREADS=1]\n");
        return 2;
    }
    int n = atoi(argv[4]), c = atoi(argv[5]), h = atoi(argv[6]), w = atoi(argv[7]), k = atoi(argv[8]);
    int threads = argc > 9 ? atoi(argv[9]) : 1;
    size_t per = (size_t)c * h * w;
    float *x = read_raw(argv[2], (size_t)n * per), *y = read_raw(argv[3], (size_t)n * k);
    float *xh = malloc((size_t)n * per * sizeof *xh), *p = malloc((size_t)k * sizeof *p);
    double *t = malloc((size_t)n * sizeof *t);
    if (!x || !y || !xh || !p || !t) {
        fprintf(stderr, "onnx_latency: cannot read %s or %s (%d images of %dx%dx%d, %d outputs)\n", argv[2], argv[3], n, c, h, w, k);
        return 1;
    }
    for (int i = 0; i < n; i++) /* NCHW -> NHWC */
        for (int ch = 0; ch < c; ch++)
            for (size_t q = 0; q < (size_t)h * w; q++) xh[(size_t)i * per + q * c + ch] = x[(size_t)i * per + ch * (size_t)h * w + q];
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1}, &ctx);
    kn_model *m;
    double t0 = now();
    if (kn_model_import_onnx(ctx, argv[1], NULL, &m)) {
        fprintf(stderr, "onnx_latency: %s\n", kn_last_error(ctx));
        return 1;
    }
    double import_s = now() - t0, diff = 0;
    const char *dt = getenv("DTYPE");
    bool int8 = dt && strcmp(dt, "int8") == 0;
    if (int8 && kn_model_set_quantization(m, KN_QUANT_INT8)) {
        fprintf(stderr, "onnx_latency: %s\n", kn_last_error(ctx));
        return 1;
    }
    int agree = 0;
    if (kn_model_input_size(m) != (int64_t)per || kn_model_output_size(m) != k) {
        fprintf(stderr, "onnx_latency: the model takes %lld values and gives %lld\n", (long long)kn_model_input_size(m),
                (long long)kn_model_output_size(m));
        return 1;
    }
    for (int rep = 0; rep < 2; rep++) /* the first pass warms up */
        for (int i = 0; i < n; i++) {
            double s = now();
            kn_model_predict(m, xh + (size_t)i * per, 1, p);
            t[i] = now() - s;
            for (int j = 0; rep && j < k; j++) diff = fmax(diff, fabs((double)p[j] - y[(size_t)i * k + j]));
            int bk = 0, bt = 0;
            for (int j = 1; j < k; j++) bk = p[j] > p[bk] ? j : bk, bt = y[(size_t)i * k + j] > y[(size_t)i * k + bt] ? j : bt;
            agree += rep && bk == bt;
        }
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("RESULT kiln onnx_latency model=%s dtype=%s images=%d threads=%d import_s=%.3f median_us=%.1f p99_us=%.1f "
           "max_abs_diff=%.3g top1_agree=%d/%d int8_layers=%d\n",
           argv[1], int8 ? "int8" : "fp32", n, threads, import_s, t[n / 2] * 1e6, t[(int)(n * 0.99)] * 1e6, diff, agree, n,
           kn_model_quantized_layers(m));
    kn_model_free(m);
    kn_ctx_free(ctx);
    free(x), free(y), free(xh), free(p), free(t);
    return 0;
}
