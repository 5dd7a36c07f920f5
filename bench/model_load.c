/* model_load.c — model-file figures, measured as INTERFACE.md says: a 784-3584-3584-3584-10
 * MLP (28.5 M parameters, 114 MB) saved, then (page cache warm) the load without the
 * checksum pass — open, structure checks, mapping and the first prediction — and the
 * checksum pass on its own in GB/s; and batch-1000 predict against the GEMM-only time of
 * the same three products (kn__sgemm), the machine's rate for that shape.
 * usage: model_load [DIR=/tmp] [THREADS=2] */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>
#include "backend/cpu/sgemm.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    char path[512];
    snprintf(path, sizeof path, "%s/kiln_bench_big.kiln", dir);
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = threads, .seed = 1, .log_level = KN_LOG_WARN}, &ctx);
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){784}, 1, &m);
    for (int i = 0; i < 3; i++) kn_model_add_dense(m, 3584, KN_RELU);
    kn_model_add_dense(m, 10, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    if (kn_model_save(m, path)) { fprintf(stderr, "%s\n", kn_last_error(ctx)); return 1; }
    kn_model_free(m);

    float x[784], y[10];
    for (int i = 0; i < 784; i++) x[i] = (float)(i % 255) / 255.0f;
    enum { R = 15 };
    double t_load[R], t_sum[R];
    kn_model *l = NULL;
    for (int r = 0; r < R; r++) { /* the first round warms the page cache */
        double t0 = now();
        kn_model_load(ctx, path, &(kn_load_opts){.skip_checksum = true}, &l);
        kn_model_predict(l, x, 1, y);
        t_load[r] = now() - t0;
        kn_model_free(l);
        double t1 = now();
        kn_model_load(ctx, path, NULL, &l); /* with the checksum: the difference is its pass */
        t_sum[r] = now() - t1;
        kn_model_free(l);
    }
    /* the checksum pass alone over the mapped data */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)bytes);
    if (fread(buf, 1, (size_t)bytes, f) != (size_t)bytes) return 1;
    fclose(f);
    double t_hash[R];
    volatile unsigned long long sink = 0;
    for (int r = 0; r < R; r++) {
        double t0 = now();
        sink += kn__checksum(buf, (size_t)bytes);
        t_hash[r] = now() - t0;
    }
    free(buf);
    qsort(t_load + 1, R - 1, sizeof(double), cmp);
    qsort(t_sum + 1, R - 1, sizeof(double), cmp);
    qsort(t_hash, R, sizeof(double), cmp);
    printf("RESULT load file_mb=%.1f load_no_checksum_ms=%.2f load_with_checksum_ms=%.2f checksum_gbps=%.2f\n",
           bytes / 1e6, t_load[R / 2] * 1e3, t_sum[R / 2] * 1e3, bytes / t_hash[R / 2] / 1e9);

    /* batch-1000 predict of the reference MLP vs its three GEMMs alone */
    kn_model *ref;
    kn_model_new_sequential(ctx, (int64_t[]){784}, 1, &ref);
    kn_model_add_dense(ref, 64, KN_RELU);
    kn_model_add_dense(ref, 64, KN_RELU);
    kn_model_add_dense(ref, 10, KN_SOFTMAX);
    kn_model_compile(ref, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    snprintf(path, sizeof path, "%s/kiln_bench_ref.kiln", dir);
    kn_model_save(ref, path);
    kn_model_free(ref);
    kn_model_load(ctx, path, NULL, &ref);
    enum { B = 1000 };
    float *xb = malloc(sizeof(float) * B * 784), *yb = malloc(sizeof(float) * B * 10);
    float *w = malloc(sizeof(float) * 784 * 64), *h1 = malloc(sizeof(float) * B * 64), *h2 = malloc(sizeof(float) * B * 64);
    for (long i = 0; i < (long)B * 784; i++) xb[i] = (float)(i % 251) / 251.0f;
    for (long i = 0; i < 784 * 64; i++) w[i] = 0.01f;
    double tp[R], tg[R];
    for (int r = 0; r < R; r++) {
        double t0 = now();
        kn_model_predict(ref, xb, B, yb);
        tp[r] = now() - t0;
        t0 = now();
        kn__sgemm(false, false, B, 64, 784, 1, xb, 784, w, 64, 0, h1, 64, threads);
        kn__sgemm(false, false, B, 64, 64, 1, h1, 64, w, 64, 0, h2, 64, threads);
        kn__sgemm(false, false, B, 10, 64, 1, h2, 64, w, 10, 0, h1, 10, threads);
        tg[r] = now() - t0;
    }
    qsort(tp, R, sizeof(double), cmp);
    qsort(tg, R, sizeof(double), cmp);
    double flops = 2.0 * B * (784 * 64 + 64 * 64 + 64 * 10);
    printf("RESULT predict batch=%d threads=%d predict_ms=%.3f gemm_only_ms=%.3f predict_gflops=%.1f gemm_gflops=%.1f share=%.0f%%\n",
           B, threads, tp[R / 2] * 1e3, tg[R / 2] * 1e3, flops / tp[R / 2] / 1e9, flops / tg[R / 2] / 1e9,
           100 * tg[R / 2] / tp[R / 2]);
    kn_model_free(ref);
    free(xb); free(yb); free(w); free(h1); free(h2);
    remove(path);
    snprintf(path, sizeof path, "%s/kiln_bench_big.kiln", dir);
    remove(path);
    kn_ctx_free(ctx);
    return (int)(sink & 0);
}
