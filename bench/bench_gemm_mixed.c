/* bench_gemm_mixed.c — kn__gemm_mixed on the widening path (KN_SGEMM_AVX512), the bf16
 * dot-product path (KN_SGEMM_AVX512_BF16) and the AMX-BF16 path (KN_SGEMM_AMX_BF16) against
 * the f32 kn__sgemm_ep
 * on the same shapes, on 1 and 2 threads: medians of repeated calls, in GFLOP/s (2mnk).
 * Usage: bench_gemm_mixed [samples]. */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "bench_util.h"
#include "core/half.h"

typedef struct {
    const char *name;
    bool ta, tb;
    int64_t m, n, k;
    kn_gemm_type at, bt, ct;
} shape;

static const shape SHAPES[] = {
    /* the reference MLP's small products, where AMX's per-call cost decides (AMX_MIN_FLOPS) */
    {"fwd b32 64x64 (layer 2)", false, false, 32, 64, 64, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"fwd b32 64x10 (head)", false, false, 32, 10, 64, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"dW 64x64 ta (layer 2)", true, false, 64, 64, 32, KN_GEMM_BF16, KN_GEMM_BF16, KN_GEMM_F32},
    {"dy W^T 10->64 tb", false, true, 32, 64, 10, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"fwd b128 64x64", false, false, 128, 64, 64, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"fwd b256 64x64", false, false, 256, 64, 64, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"fwd b32 256x128", false, false, 32, 128, 256, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"fwd b32  A bf16 B f32 C bf16", false, false, 32, 64, 784, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"fwd b256 A bf16 B f32 C bf16", false, false, 256, 64, 784, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"x^T dy ta A bf16 B bf16 C f32", true, false, 784, 64, 256, KN_GEMM_BF16, KN_GEMM_BF16, KN_GEMM_F32},
    {"dy W^T tb A bf16 B f32 C bf16", false, true, 32, 784, 64, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
    {"1024^3   A bf16 B f32 C bf16", false, false, 1024, 1024, 1024, KN_GEMM_BF16, KN_GEMM_F32, KN_GEMM_BF16},
};

/* A buffer of n elements of type t, values in [-1, 1). */
static void *filled(int64_t n, kn_gemm_type t) {
    float *f = malloc((size_t)n * sizeof *f);
    for (int64_t i = 0; i < n; i++) f[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    if (t == KN_GEMM_F32) return f;
    uint16_t *h = malloc((size_t)n * sizeof *h);
    if (t == KN_GEMM_BF16)
        kn__f32_to_bf16(f, h, (size_t)n);
    else
        kn__f32_to_f16(f, h, (size_t)n);
    free(f);
    return h;
}

/* Median seconds of one call of variant v (0: f32 sgemm_ep, 1: widening, 2: bf16 dot,
 * 3: AMX). */
static double time_one(const shape *s, int v, int threads, int samples, const void *A, const void *B,
                       const float *Af, const float *Bf, void *C, float *Cf) {
    const int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    const double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
    const int reps = flops > 1e9 ? 1 : (int)(2e7 / flops) + 1; /* ~a few ms a sample */
    double *t = malloc((size_t)samples * sizeof *t);
    for (int i = -1; i < samples; i++) { /* i = -1: warm-up */
        const double t0 = now();
        for (int r = 0; r < reps; r++) {
            if (v == 0)
                kn__sgemm_ep(s->ta, s->tb, s->m, s->n, s->k, Af, lda, Bf, ldb, Cf, s->n, threads, NULL);
            else
                kn__gemm_mixed_isa(v == 3 ? KN_SGEMM_AMX_BF16 : v == 2 ? KN_SGEMM_AVX512_BF16 : KN_SGEMM_AVX512, s->ta, s->tb, s->m, s->n,
                                   s->k, A, s->at, lda, B, s->bt, ldb, 0.0f, C, s->ct, s->n, threads, NULL);
        }
        if (i >= 0) t[i] = (now() - t0) / reps;
    }
    qsort(t, (size_t)samples, sizeof *t, cmp);
    const double med = t[samples / 2];
    free(t);
    return med;
}

int main(int argc, char **argv) {
    const int samples = argc > 1 ? atoi(argv[1]) : 15;
    printf("bf16 dot path %s, AMX path %s; medians of %d samples, GFLOP/s (speed-ups of AMX)\n",
           kn__gemm_bf16_dot_supported() ? "available" : "NOT available (runs widening)",
           kn__gemm_amx_supported() ? "available" : "NOT available (runs widening)", samples);
    printf("%-32s %3s %9s %9s %9s %9s %8s %8s\n", "shape", "thr", "f32", "widen", "bf16dot", "amx", "amx/f32",
           "amx/wid");
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        const shape *s = &SHAPES[i];
        const int64_t asz = s->m * s->k, bsz = s->k * s->n, csz = s->m * s->n;
        void *A = filled(asz, s->at), *B = filled(bsz, s->bt), *C = filled(csz, s->ct);
        float *Af = filled(asz, KN_GEMM_F32), *Bf = filled(bsz, KN_GEMM_F32), *Cf = filled(csz, KN_GEMM_F32);
        const int smp = s->m * s->n * s->k > 100000000 ? (samples + 2) / 3 : samples;
        for (int threads = 1; threads <= 2; threads++) {
            double t[4];
            for (int v = 0; v < 4; v++) t[v] = time_one(s, v, threads, smp, A, B, Af, Bf, C, Cf);
            const double gf = 2.0 * (double)csz * (double)s->k * 1e-9;
            printf("%-32s %3d %9.1f %9.1f %9.1f %9.1f %7.2fx %7.2fx\n", s->name, threads, gf / t[0], gf / t[1],
                   gf / t[2], gf / t[3], t[0] / t[3], t[1] / t[3]);
        }
        free(A), free(B), free(C), free(Af), free(Bf), free(Cf);
    }
    return 0;
}
