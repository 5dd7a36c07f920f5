/* bench_sgemm.c — kiln's kn__sgemm against the system OpenBLAS's cblas_sgemm in the same
 * run: the reference MLP's products (batch 32 and one sample), whole-step totals, and square
 * sizes, on 1 and 2 threads; medians of repeated timings, GFLOP/s and kiln/OpenBLAS ratios.
 * Usage: bench_sgemm [quick]. OPENBLAS_CORETYPE=Haswell (or SkylakeX) in the environment
 * makes OpenBLAS use its best kernels instead of the ones it picks for this CPU. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#include "backend/cpu/sgemm.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *openblas_get_corename(void); /* OpenBLAS extension, not in every cblas.h */
void openblas_set_num_threads(int n);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *buffer(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

typedef struct {
    const char *name;
    bool ta, tb;
    int m, n, k;
} shape;

/* impl: 0 OpenBLAS, 1 kiln (best set), 2 kiln AVX2 only. */
static void gemm(int impl, const shape *s, const float *A, const float *B, float *C, int threads) {
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    if (impl == 0)
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                    s->m, s->n, s->k, 1.0f, A, lda, B, ldb, 0.0f, C, s->n);
    else
        kn__sgemm_isa(impl == 1 ? kn__sgemm_isa_best() : KN_SGEMM_AVX2, s->ta, s->tb, s->m, s->n,
                      s->k, 1.0f, A, lda, B, ldb, 0.0f, C, s->n, threads);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Lets the other library's worker threads stop spinning: OpenBLAS's and libgomp's idle
 * threads busy-wait for a while after a call, and on 2 cores they would take one from the
 * library being timed next. */
static void settle(int threads) {
    if (threads > 1) nanosleep(&(struct timespec){0, 300000000}, NULL);
}

static int samples = 21;
static double min_sample_s = 2e-3;

/* Median seconds per call of the `count` products in list (one "call" runs them all). */
static double time_calls(int impl, const shape *list, int count, float **A, float **B, float **C,
                         int threads) {
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < count; i++) gemm(impl, &list[i], A[i], B[i], C[i], threads);
    int iters = 1;
    for (;;) { /* iterations per sample: long enough for the clock */
        double t = now();
        for (int r = 0; r < iters; r++)
            for (int i = 0; i < count; i++) gemm(impl, &list[i], A[i], B[i], C[i], threads);
        t = now() - t;
        if (t >= min_sample_s || iters >= (1 << 20)) break;
        iters *= t * 4 < min_sample_s ? 4 : 2;
    }
    double ts[64];
    for (int s = 0; s < samples; s++) {
        double t = now();
        for (int r = 0; r < iters; r++)
            for (int i = 0; i < count; i++) gemm(impl, &list[i], A[i], B[i], C[i], threads);
        ts[s] = (now() - t) / iters;
    }
    qsort(ts, (size_t)samples, sizeof ts[0], cmp_double);
    return ts[samples / 2];
}

static void run(const char *label, const shape *list, int count, int threads) {
    float *A[16], *B[16], *C[16];
    double flops = 0;
    for (int i = 0; i < count; i++) {
        A[i] = buffer((size_t)list[i].m * list[i].k);
        B[i] = buffer((size_t)list[i].k * list[i].n);
        C[i] = buffer((size_t)list[i].m * list[i].n);
        flops += 2.0 * list[i].m * list[i].n * list[i].k;
    }
    openblas_set_num_threads(threads);
    settle(threads);
    double t_ob = time_calls(0, list, count, A, B, C, threads);
    settle(threads);
    double t_kn = time_calls(1, list, count, A, B, C, threads);
    double t_k2 = time_calls(2, list, count, A, B, C, threads);
    printf("%-34s %2d  %9.2f %7.1f  %9.2f %7.1f  %7.1f  %6.2fx\n", label, threads, t_ob * 1e6,
           flops / t_ob * 1e-9, t_kn * 1e6, flops / t_kn * 1e-9, flops / t_k2 * 1e-9, t_ob / t_kn);
    fflush(stdout);
    for (int i = 0; i < count; i++) free(A[i]), free(B[i]), free(C[i]);
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    if (quick) samples = 7, min_sample_s = 1e-3;
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *isa_names[] = {"portable", "AVX2+FMA", "AVX-512"};
    printf("kn__sgemm vs cblas_sgemm (OpenBLAS core: %s; OPENBLAS_CORETYPE=%s%s)\n",
           openblas_get_corename(), env ? env : "(unset)",
           env ? "" : " -- set OPENBLAS_CORETYPE=Haswell to compare with OpenBLAS's best AVX2 kernels");
    printf("kiln instruction set: %s; median of %d samples; times in us per call\n",
           isa_names[kn__sgemm_isa_best()], samples);
    printf("%-34s %2s  %9s %7s  %9s %7s  %7s  %7s\n", "product (m x n x k)", "th", "openblas", "GF/s",
           "kiln", "GF/s", "avx2", "speedup");

    const shape fwd[] = {{"fwd 32x64x784", 0, 0, 32, 64, 784},
                         {"fwd 32x64x64", 0, 0, 32, 64, 64},
                         {"fwd 32x10x64", 0, 0, 32, 10, 64}};
    const shape dx[] = {{"dX  32x64x64 (B^T)", 0, 1, 32, 64, 64}, {"dX  32x64x10 (B^T)", 0, 1, 32, 64, 10}};
    const shape dw[] = {{"dW  784x64x32 (A^T)", 1, 0, 784, 64, 32},
                        {"dW  64x64x32 (A^T)", 1, 0, 64, 64, 32},
                        {"dW  64x10x32 (A^T)", 1, 0, 64, 10, 32}};
    const shape one[] = {{"infer 1x64x784", 0, 0, 1, 64, 784},
                         {"infer 1x64x64", 0, 0, 1, 64, 64},
                         {"infer 1x10x64", 0, 0, 1, 10, 64}};
    const shape sq[] = {{"square 64", 0, 0, 64, 64, 64},
                        {"square 256", 0, 0, 256, 256, 256},
                        {"square 1024", 0, 0, 1024, 1024, 1024},
                        {"square 1024 (A^T B^T)", 1, 1, 1024, 1024, 1024}};
    /* One MLP training step's 8 products and one sample's 3-layer forward, as totals. */
    const shape step[] = {fwd[0], fwd[1], fwd[2], dw[2], dx[1], dw[1], dx[0], dw[0]};

    for (int threads = 1; threads <= 2; threads++) {
        for (int i = 0; i < 3; i++) run(fwd[i].name, &fwd[i], 1, threads);
        for (int i = 0; i < 2; i++) run(dx[i].name, &dx[i], 1, threads);
        for (int i = 0; i < 3; i++) run(dw[i].name, &dw[i], 1, threads);
        for (int i = 0; i < 3; i++) run(one[i].name, &one[i], 1, threads);
        run("MLP training step, all 8 products", step, 8, threads);
        run("one-sample forward, 3 products", one, 3, threads);
        for (int i = 0; i < 4; i++) run(sq[i].name, &sq[i], 1, threads);
    }
    return 0;
}
