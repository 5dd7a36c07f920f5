/* gemm_mixed_tmp.c — TEMPORARY kn__gemm_mixed: widens whole half operands into malloc'd
 * f32 copies and calls kn__sgemm. Correct but allocates on every call; to be replaced by
 * the version that widens while packing (same session). */
#include "sgemm.h"
#include "core/half.h"
#include <stdlib.h>
#include <string.h>

static float *widen(const void *p, kn_gemm_type t, int64_t rows, int64_t ld) {
    float *f = malloc((size_t)(rows * ld) * sizeof(float) + 4);
    if (t == KN_GEMM_BF16) kn__bf16_to_f32(p, f, (size_t)(rows * ld));
    else if (t == KN_GEMM_F16) kn__f16_to_f32(p, f, (size_t)(rows * ld));
    else memcpy(f, p, (size_t)(rows * ld) * sizeof(float));
    return f;
}

void kn__gemm_mixed(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *A, kn_gemm_type at, int64_t lda,
                    const void *B, kn_gemm_type bt, int64_t ldb, float beta, void *C, kn_gemm_type ct, int64_t ldc,
                    int threads, const kn_sgemm_epilogue *ep) {
    if (at == KN_GEMM_F32 && bt == KN_GEMM_F32 && ct == KN_GEMM_F32 && beta == 0) {
        kn__sgemm_ep(ta, tb, m, n, k, A, lda, B, ldb, C, ldc, threads, ep);
        return;
    }
    float *a = widen(A, at, ta ? k : m, lda), *b = widen(B, bt, tb ? n : k, ldb), *c = beta != 0 ? widen(C, ct, m, ldc) : malloc((size_t)(m * ldc) * sizeof(float) + 4);
    kn__sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc, threads);
    if (ep) ep->fn(ep->args, c, ldc, 0, m, 0, n);
    if (ct == KN_GEMM_BF16) kn__f32_to_bf16(c, C, (size_t)(m * ldc));
    else if (ct == KN_GEMM_F16) kn__f32_to_f16(c, C, (size_t)(m * ldc));
    else memcpy(C, c, (size_t)(m * ldc) * sizeof(float));
    free(a), free(b), free(c);
}
