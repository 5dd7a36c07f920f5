/* gemm.c — the matmul op's kernel: kiln's own sgemm (sgemm.c), not OpenBLAS. Debian's
 * OpenBLAS 0.3.21 misdetects these CPUs as "Prescott" and runs SSE3 kernels at a third of
 * the machine's speed (a library cannot override that: OpenBLAS reads OPENBLAS_CORETYPE in
 * its load-time constructor), and at the reference MLP's sizes its per-call overhead is
 * larger than the product itself; bench/bench_sgemm.c measures both. */
#include "cpu.h"
#include "sgemm.h"

/* Products under this many flops run on one thread. Measured on the 2-core VM, one process
 * timing a 1-thread and a 2-thread model in alternating blocks: with the reference MLP's
 * 3.2-MFLOP first-layer products split over 2 threads its training step took 154 us
 * against 125 on one (the batch the main thread just gathered has to cross to the other
 * core, and the result back); the deep MLP's 128x512 products (67 MFLOP) run 1.75x faster
 * on 2 threads (a step 10.9 -> 6.2 ms). */
#define KN_GEMM_PAR_FLOPS 3e7
#define KN_GEMM_PAR_BYTES 2e6

int kn__gemm_threads(const kn_graph *g, int64_t m, int64_t n, int64_t k) {
    double flops = 2.0 * (double)m * (double)n * (double)k;
    /* a few rows against a large matrix is bound by memory bandwidth, which grows with cores */
    bool streaming = m <= 4 && (double)k * (double)n * sizeof(float) >= KN_GEMM_PAR_BYTES;
    return flops >= KN_GEMM_PAR_FLOPS || streaming ? kn_ctx_threads(g->ctx) : 1;
}

void kn__cpu_matmul(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    bool ta = t->iparam[0], tb = t->iparam[1];
    int64_t m = t->ne[0], n = t->ne[1], k = ta ? a->ne[0] : a->ne[1];
    if (kn__cpu_q8_product(g, t)) return; /* int8 inference (dense_q8.c) */
    const uint16_t *bh = kn__param_half(g, b); /* a half model file's weights, or NULL */
    if (bh && m == 1 && !ta && !tb && !kn__is_half(a) && !kn__is_half(t)) { /* one sample against half weights */
        kn__gemv_half(g->param_half_dtype, n, k, a->data, bh, b->ne[1], t->data, kn__gemm_threads(g, m, n, k));
        return;
    }
    /* (m,k) x (k,n) -> (m,n); stored shapes give the row strides; a batch against a half
     * model file's weights reads them half, widened while packed */
    kn__gemm_mixed(ta, tb, m, n, k, a->data, kn__gemm_type(a), a->ne[1], bh ? (const void *)bh : b->data,
                   bh ? kn__half_gemm_type(g->param_half_dtype) : kn__gemm_type(b), b->ne[1], 0.0f, t->data,
                   kn__gemm_type(t), n, kn__gemm_threads(g, m, n, k), NULL);
}
