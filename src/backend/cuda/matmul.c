/* matmul.c — row-major products through cuBLASLt. cuBLAS is column-major: a row-major
 * (m, n) matrix is the column-major (n, m) one in the same memory, so C = op(A) op(B)
 * is computed as C^T = op(B)^T op(A)^T, B first. The DENSE op's bias (one per output
 * column, i.e. per row of C^T) and relu run in the GEMM's epilogue (CUBLASLT_EPILOGUE_BIAS,
 * _RELU_BIAS). gelu does not: cuBLASLt's GELU epilogue is the tanh approximation, and
 * kiln's (Keras's, PyTorch's default) is the exact erf form, so gelu and the other
 * activations run as one kernel after the GEMM.
 *
 * Compute type CUBLAS_COMPUTE_32F (full fp32, no TF32), so the GPU agrees with the CPU to
 * float rounding; TF32 (CUBLAS_COMPUTE_32F_FAST_TF32) is the speed option to measure on
 * the GPU. Descriptors are made per call: a captured graph replays the GEMM without them. */
#include "cuda_internal.h"

#define LT(call, what)                                                                                        \
    do {                                                                                                      \
        cublasStatus_t s_ = (call);                                                                           \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                    \
            st = kn__error(g->ctx, KN_ERR_DEVICE, "cuda: %s failed at node '%s': %s", what, t->name,         \
                           kn__lt.GetStatusString(s_));                                                        \
            goto done;                                                                                        \
        }                                                                                                     \
    } while (0)

kn_status kn__cuda_gemm(kn_graph *g, const kn_tensor *t, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float *c, const float *bias,
                        bool relu) {
    kn__cuda_graph *cg = g->backend.context;
    kn_status st = KN_OK;
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t lx = NULL, ly = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    if (m == 0 || n == 0) return KN_OK;
    if (k == 0) { /* an empty sum: C = epilogue(0) */
        cudaError_t e = cudaMemsetAsync(c, 0, (size_t)(m * n) * sizeof(float), cg->stream);
        if (e != cudaSuccess) return kn__cuda_fail(g, t, "cudaMemsetAsync", e);
        e = kn__cu_bias_act(cg->stream, c, bias, relu ? KN_RELU : KN_LINEAR, 0, m, n);
        st = e == cudaSuccess ? KN_OK : kn__cuda_fail(g, t, "kn__cu_bias_act", e);
        return st;
    }
    const float one = 1.0f, zero = 0.0f;
    cublasOperation_t opx = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opy = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasLtEpilogue_t epi = bias ? (relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                  : (relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    LT(kn__lt.MatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opx, sizeof opx), "cublasLtMatmulDescSetAttribute");
    LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opy, sizeof opy), "cublasLtMatmulDescSetAttribute");
    LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "cublasLtMatmulDescSetAttribute");
    if (bias)
        LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
           "cublasLtMatmulDescSetAttribute (bias)");
    /* X = B: (n, k) after op; stored column-major as (n, k) ld ldb, or (k, n) when transposed */
    LT(kn__lt.MatrixLayoutCreate(&lx, CUDA_R_32F, (uint64_t)(tb ? k : n), (uint64_t)(tb ? n : k), ldb), "cublasLtMatrixLayoutCreate");
    /* Y = A: (k, m) after op */
    LT(kn__lt.MatrixLayoutCreate(&ly, CUDA_R_32F, (uint64_t)(ta ? m : k), (uint64_t)(ta ? k : m), lda), "cublasLtMatrixLayoutCreate");
    LT(kn__lt.MatrixLayoutCreate(&ld, CUDA_R_32F, (uint64_t)n, (uint64_t)m, n), "cublasLtMatrixLayoutCreate");
    LT(kn__lt.MatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    LT(kn__lt.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &cg->lt_ws_bytes,
                                            sizeof cg->lt_ws_bytes), "cublasLtMatmulPreferenceSetAttribute");
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    LT(kn__lt.MatmulAlgoGetHeuristic(cg->lt, desc, lx, ly, ld, ld, pref, 1, &heur, &found), "cublasLtMatmulAlgoGetHeuristic");
    if (!found) {
        st = kn__error(g->ctx, KN_ERR_DEVICE, "cuda: cuBLASLt has no algorithm for node '%s' (%lld x %lld x %lld)",
                       t->name, (long long)m, (long long)n, (long long)k);
        goto done;
    }
    LT(kn__lt.Matmul(cg->lt, desc, &one, b, lx, a, ly, &zero, c, ld, c, ld, &heur.algo, cg->lt_ws, cg->lt_ws_bytes,
                      cg->stream), "cublasLtMatmul");
done:
    if (pref) kn__lt.MatmulPreferenceDestroy(pref);
    if (ld) kn__lt.MatrixLayoutDestroy(ld);
    if (ly) kn__lt.MatrixLayoutDestroy(ly);
    if (lx) kn__lt.MatrixLayoutDestroy(lx);
    if (desc) kn__lt.MatmulDescDestroy(desc);
    return st;
}
