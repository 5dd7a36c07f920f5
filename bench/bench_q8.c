/* bench_q8.c — the int8 product (backend/cpu/q8.h) against kiln's f32 sgemm on the same
 * shapes (the reference MLP's layers at one row and at batches, the CNN's 9216x128 layer),
 * on each int8 path this CPU runs: medians of repeated calls in microseconds, quantizing
 * the rows included (it is part of every int8 call), and the int8 path's share of that.
 * Usage: bench_q8 [threads=1] [samples=31]. */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <string.h>

#include "backend/cpu/q8.h"
#include "backend/cpu/sgemm.h"
#include "bench_util.h"
#include <kiln.h>

static const int64_t SHAPES[][3] = {{1, 784, 64},   {32, 784, 64}, {256, 784, 64}, {1000, 784, 64},
                                    {1, 64, 64}, {32, 64, 64}, {1000, 64, 64}, {1, 64, 10}, {32, 64, 10}, {1000, 64, 10}, {1, 9216, 128}, {128, 9216, 128},
                                    {256, 512, 512}};

static double median_us(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp);
    return t[n / 2] * 1e6;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, samples = argc > 2 ? atoi(argv[2]) : 31;
    double *t = malloc(sizeof(double) * (size_t)samples);
    printf("| m x k x n | f32 sgemm us |");
    for (int isa = KN_Q8_PORTABLE + 1; isa <= kn__q8_isa_best(); isa++) printf(" int8 %s us | f32/int8 |", kn__q8_isa_name(isa));
    printf("\n");
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        int64_t m = SHAPES[s][0], k = SHAPES[s][1], n = SHAPES[s][2];
        float *x = malloc(sizeof(float) * (size_t)(m * k)), *W = malloc(sizeof(float) * (size_t)(k * n));
        float *y = malloc(sizeof(float) * (size_t)(m * n)), *bias = calloc((size_t)n, sizeof(float));
        for (int64_t i = 0; i < m * k; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f;
        for (int64_t i = 0; i < k * n; i++) W[i] = (float)((i * 104729) % 2001 - 1000) / 20000.0f;
        void *wm = aligned_alloc(64, (kn__q8_weights_bytes(k, n) + 63) / 64 * 64);
        void *scratch = aligned_alloc(64, (kn__q8_scratch_bytes(m, k) + 63) / 64 * 64);
        kn__q8_weights *w = kn__q8_pack(wm, W, k, n, n);
        int reps = (int)(2e7 / (double)(m * k * n)) + 1;
        for (int r = 0; r < samples; r++) {
            double t0 = now();
            for (int i = 0; i < reps; i++) kn__sgemm(false, false, m, n, k, 1.0f, x, k, W, n, 0.0f, y, n, threads);
            t[r] = (now() - t0) / reps;
        }
        double f32 = median_us(t, samples);
        printf("| %lld x %lld x %lld | %.2f |", (long long)m, (long long)k, (long long)n, f32);
        for (int isa = KN_Q8_PORTABLE + 1; isa <= kn__q8_isa_best(); isa++) {
            for (int r = 0; r < samples; r++) {
                double t0 = now();
                for (int i = 0; i < reps; i++) kn__q8_gemm(isa, m, x, k, w, bias, KN_LINEAR, 0, y, n, scratch, threads);
                t[r] = (now() - t0) / reps;
            }
            double q = median_us(t, samples);
            printf(" %.2f | %.2fx |", q, f32 / q);
        }
        printf("\n");
        free(x), free(W), free(y), free(bias), free(wm), free(scratch);
    }
    free(t);
    return 0;
}
