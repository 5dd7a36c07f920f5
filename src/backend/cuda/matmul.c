/* matmul.c — row-major products through cuBLASLt. cuBLAS is column-major: a row-major
 * (m, n) matrix is the column-major (n, m) one in the same memory, so C = op(A) op(B)
 * is computed as C^T = op(B)^T op(A)^T, B first. The DENSE op's bias (one per output
 * column, i.e. per row of C^T) and relu run in the GEMM's epilogue (CUBLASLT_EPILOGUE_BIAS,
 * _RELU_BIAS). gelu does not: cuBLASLt's GELU epilogue is the tanh approximation, and
 * kiln's (Keras's, PyTorch's default) is the exact erf form, so gelu and the other
 * activations run as one kernel after the GEMM (on a half output, after a GEMM into an f32
 * workspace: ops.c wide_product, one rounding).
 *
 * Compute type CUBLAS_COMPUTE_32F (full fp32, no TF32), so the GPU agrees with the CPU to
 * float rounding; TF32 (CUBLAS_COMPUTE_32F_FAST_TF32, KILN_CUDA_TF32=1 at compile: f32
 * products on the tensor cores with 10-bit mantissas, as PyTorch's allow_tf32) is the speed
 * option to measure on
 * the GPU. Descriptors are made per call: a captured graph replays the GEMM without them.
 *
 * Mixed precision (bf16 / fp16 graphs, docs/mixed_precision.md): operands and output are
 * each stored f32 or in the graph's half type, and the product runs on the tensor cores
 * with fp32 accumulation. The combinations used, all in cuBLASLt's table of supported
 * cublasLtMatmul types (compute CUBLAS_COMPUTE_32F, scale type CUDA_R_32F):
 *
 *   A, B          C, D          used for
 *   CUDA_R_32F    CUDA_R_32F    fp32 graphs; any product whose operands are both f32
 *   CUDA_R_16BF   CUDA_R_16BF   bf16 forward (x W, half activations) and dx = dy W^T
 *   CUDA_R_16BF   CUDA_R_32F    bf16 weight gradients dW = x^T dy into the f32 gradient
 *                               buffer, and f32 kept outputs (logits a caller reads)
 *   CUDA_R_16F    CUDA_R_16F    as 16BF, fp16 graphs
 *   CUDA_R_16F    CUDA_R_32F    as 16BF, fp16 graphs
 *
 * A and B must have one type (cuBLASLt has no 16BF x 32F product): a half activation
 * times an f32 parameter reads the parameters' half compute copy (param_half, refreshed by
 * the optimizer kernel in the pass that updates the f32 master weights, and on every push),
 * and the precision pass (graph/passes/precision.c) keeps every other product's operands
 * of one type. A half D's bias is read from the same half copy (bias_half): cublasLt.h
 * documents the bias as D's type (CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE's default; other types
 * only for integer and fp8 kernels), as PyTorch's autocast narrows it. Without a half copy,
 * the f32 bias is asked for with BIAS_DATA_TYPE CUDA_R_32F; when cuBLASLt offers no
 * algorithm either way, the product runs without the epilogue and a kernel adds the f32
 * bias and relu to the narrowed output (rounding twice; counted in
 * kn__cuda_graph.bias_unfused so a GPU session sees which path ran). The pointers' real
 * alignment (32 bytes for the half parameter copy, 64 for the arena's tensors, 4 for a
 * convolution chunk's rows inside y or dy) is passed to the heuristic
 * (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES, whose default assumes 256), so it picks no
 * kernel that needs more.
 *
 * accumulate (c += op(a) op(b), beta 1): the convolutions' weight gradient summed over
 * chunks of the batch (ops.c), in chunk order on one stream. */
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

static cudaDataType_t lt_type(int dt) {
    return dt == KN_BF16 ? CUDA_R_16BF : dt == KN_F16 ? CUDA_R_16F : CUDA_R_32F;
}

static size_t elem_bytes(int dt) { return dt == KN_BF16 || dt == KN_F16 ? 2 : 4; }

/* The largest power of two up to 256 that divides the address. */
static uint32_t align_of(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && (a & (al - 1))) al >>= 1;
    return al;
}

kn_status kn__cuda_gemm(kn_graph *g, const kn_tensor *t, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        const void *a, int at, int64_t lda, const void *b, int bt, int64_t ldb, void *c, int ct,
                        const float *bias, bool relu, bool accumulate) {
    return kn__cuda_gemm_bgrad(g, t, ta, tb, m, n, k, a, at, lda, b, bt, ldb, c, ct, bias, NULL, relu, accumulate, NULL,
                               NULL);
}

kn_status kn__cuda_gemm_bgrad(kn_graph *g, const kn_tensor *t, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                              const void *a, int at, int64_t lda, const void *b, int bt, int64_t ldb, void *c, int ct,
                              const float *bias, const void *bias_half, bool relu, bool accumulate, float *bgrad,
                              bool *bgrad_done) {
    kn__cuda_graph *cg = g->backend.context;
    if (bgrad_done) *bgrad_done = false;
    kn_status st = KN_OK;
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t lx = NULL, ly = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    if (m == 0 || n == 0 || (k == 0 && accumulate)) return KN_OK; /* nothing, or c += 0 */
    if (k == 0 || bias || relu || accumulate || ct != KN_F32) bgrad = NULL; /* (only with a plain f32 product) */
    if (at != bt)
        return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: node '%s': a product of %s and %s operands (cuBLASLt needs one type)",
                         t->name, kn_dtype_name((kn_dtype)at), kn_dtype_name((kn_dtype)bt));
    if (k == 0) { /* an empty sum: C = epilogue(0) */
        cudaError_t e = cudaMemsetAsync(c, 0, (size_t)(m * n) * elem_bytes(ct), cg->stream);
        if (e != cudaSuccess) return kn__cuda_fail(g, t, "cudaMemsetAsync", e);
        e = ct == KN_F32 ? kn__cu_bias_act(cg->stream, c, bias, relu ? KN_RELU : KN_LINEAR, 0, m, n)
                         : kn__cu_bias_act_x(cg->stream, c, ct, bias, relu ? KN_RELU : KN_LINEAR, 0, m, n);
        st = e == cudaSuccess ? KN_OK : kn__cuda_fail(g, t, "kn__cu_bias_act", e);
        return st;
    }
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    cublasOperation_t opx = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opy = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cudaDataType_t abtype = lt_type(at), dtype = lt_type(ct);
    /* a half output's bias: its half copy (the parameters' compute copy) in the epilogue,
     * of D's type as the documentation's BIAS_DATA_TYPE default has it; without one, the f32
     * bias asked for explicitly, else unfused (below); the bias gradient: unfused, the
     * caller sums it itself (*bgrad_done false) */
    if (ct == KN_F32) bias_half = NULL;
    bool bias_f32_half = bias && ct != KN_F32 && !bias_half, fused = true;
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        const void *ebias = !fused ? NULL : bias_half && bias ? bias_half : (const void *)bias;
        bool erelu = fused ? relu : false;
        cublasLtEpilogue_t epi = ebias ? (erelu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                       : (erelu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
        /* cuBLASLt's "A" is kiln's b: its sum over k (the rows of kiln's b, untransposed) into
         * a vector of D's rows (n), as BGRADA computes it */
        float *ebgrad = fused && bgrad ? bgrad : NULL;
        if (ebgrad) epi = CUBLASLT_EPILOGUE_BGRADA, ebias = ebgrad;
        cublasComputeType_t compute = cg->tf32 && abtype == CUDA_R_32F ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
        LT(kn__lt.MatmulDescCreate(&desc, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
        LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opx, sizeof opx), "cublasLtMatmulDescSetAttribute");
        LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opy, sizeof opy), "cublasLtMatmulDescSetAttribute");
        LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "cublasLtMatmulDescSetAttribute");
        if (ebias) {
            LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ebias, sizeof ebias),
               "cublasLtMatmulDescSetAttribute (bias)");
            if (bias_f32_half) {
                int32_t bt32 = CUDA_R_32F;
                LT(kn__lt.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt32, sizeof bt32),
                   "cublasLtMatmulDescSetAttribute (bias type)");
            }
        }
        /* X = B: (n, k) after op; stored column-major as (n, k) ld ldb, or (k, n) when transposed */
        LT(kn__lt.MatrixLayoutCreate(&lx, abtype, (uint64_t)(tb ? k : n), (uint64_t)(tb ? n : k), ldb), "cublasLtMatrixLayoutCreate");
        /* Y = A: (k, m) after op */
        LT(kn__lt.MatrixLayoutCreate(&ly, abtype, (uint64_t)(ta ? m : k), (uint64_t)(ta ? k : m), lda), "cublasLtMatrixLayoutCreate");
        LT(kn__lt.MatrixLayoutCreate(&ld, dtype, (uint64_t)n, (uint64_t)m, n), "cublasLtMatrixLayoutCreate");
        LT(kn__lt.MatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
        LT(kn__lt.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &cg->lt_ws_bytes,
                                                sizeof cg->lt_ws_bytes), "cublasLtMatmulPreferenceSetAttribute");
        /* the pointers' real alignment; the cuBLASLt "A" is kiln's b, its "B" kiln's a */
        uint32_t alx = align_of(b), aly = align_of(a), ald = align_of(c);
        LT(kn__lt.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alx, sizeof alx),
           "cublasLtMatmulPreferenceSetAttribute");
        LT(kn__lt.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &aly, sizeof aly),
           "cublasLtMatmulPreferenceSetAttribute");
        LT(kn__lt.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ald, sizeof ald),
           "cublasLtMatmulPreferenceSetAttribute");
        LT(kn__lt.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ald, sizeof ald),
           "cublasLtMatmulPreferenceSetAttribute");
        found = 0;
        const char *call = "cublasLtMatmulAlgoGetHeuristic";
        cublasStatus_t hs = kn__lt.MatmulAlgoGetHeuristic(cg->lt, desc, lx, ly, ld, ld, pref, 1, &heur, &found);
        if (hs == CUBLAS_STATUS_SUCCESS && found) /* (the header documents the bias as D's type: an
                                                   * f32 one on a half D may still be refused here) */
            call = "cublasLtMatmul", hs = kn__lt.Matmul(cg->lt, desc, &one, b, lx, a, ly, &beta, c, ld, c, ld, &heur.algo, cg->lt_ws,
                               cg->lt_ws_bytes, cg->stream);
        if ((hs != CUBLAS_STATUS_SUCCESS || !found) && (bias_f32_half || (bias_half && bias) || ebgrad) && fused) {
            /* no algorithm with the bias on a half output, or with the bias gradient: again
             * without the epilogue */
            kn__lt.MatmulPreferenceDestroy(pref), pref = NULL;
            kn__lt.MatrixLayoutDestroy(ld), ld = NULL;
            kn__lt.MatrixLayoutDestroy(ly), ly = NULL;
            kn__lt.MatrixLayoutDestroy(lx), lx = NULL;
            kn__lt.MatmulDescDestroy(desc), desc = NULL;
            fused = false;
            continue;
        }
        if (!found) {
            st = kn__error(g->ctx, KN_ERR_DEVICE, "cuda: cuBLASLt has no algorithm for node '%s' (%lld x %lld x %lld, %s)",
                           t->name, (long long)m, (long long)n, (long long)k, kn_dtype_name((kn_dtype)at));
            goto done;
        }
        LT(hs, call);
        if (ebgrad && bgrad_done) *bgrad_done = true;
        break;
    }
    if (!fused && (bias || relu)) {
        cudaError_t e = kn__cu_bias_act_x(cg->stream, c, ct, bias, relu ? KN_RELU : KN_LINEAR, 0, m, n);
        if (e != cudaSuccess) st = kn__cuda_fail(g, t, "kn__cu_bias_act_x", e);
        cg->bias_unfused++;
    }
done:
    if (pref) kn__lt.MatmulPreferenceDestroy(pref);
    if (ld) kn__lt.MatrixLayoutDestroy(ld);
    if (ly) kn__lt.MatrixLayoutDestroy(ly);
    if (lx) kn__lt.MatrixLayoutDestroy(lx);
    if (desc) kn__lt.MatmulDescDestroy(desc);
    return st;
}
