/* gemm.c — matrix products through OpenBLAS's cblas_sgemm (row-major). Small products run
 * OpenBLAS on one thread: at the reference MLP's sizes its thread wake-up costs more than
 * the product (measured in bench/, see RESULTS.md). */
#include "cpu.h"

#include <cblas.h>

/* OpenBLAS's thread count is process-wide; we set it only when it must change. */
static void blas_threads(kn_graph *g, int n) {
    if (g->ctx->blas_threads != n) {
        openblas_set_num_threads(n);
        g->ctx->blas_threads = n;
    }
}

void kn__cpu_matmul(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    bool ta = t->iparam[0], tb = t->iparam[1];
    int m = (int)t->ne[0], n = (int)t->ne[1];
    int k = (int)(ta ? a->ne[0] : a->ne[1]);
    double flops = 2.0 * m * n * k;
    blas_threads(g, flops >= 4e7 ? kn_ctx_threads(g->ctx) : 1);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                a->data, (int)a->ne[1], b->data, (int)b->ne[1], 0.0f, t->data, n);
}
