/* bcast.c — the CUDA backend's per-sample broadcasts (ops.c's table points here;
 * graph/ops_bcast.c says what they compute): the node's axes read as cpu/bcast.c reads
 * them, kernels_bcast.cu's launchers. f32 only (half_support.c lists neither op). */
#include "node_launch.h"

/* x's samples (N), positions (P) and channels (C) */
static void axes_of(const kn_tensor *x, int64_t *N, int64_t *P, int64_t *C) {
    *N = x->ne[0];
    *C = x->ne[x->ndim - 1];
    *P = *N > 0 && *C > 0 ? kn__numel(x) / (*N * *C) : 0;
}

kn_status kn__cuda_k_bcast_binary(kn_graph *g, kn_tensor *t) {
    int64_t N, P, C;
    axes_of(t->src[0], &N, &P, &C);
    LAUNCH(kn__cu_bcast_binary(STREAM, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t->src[1]),
                               kn__cuda_tensor(g, t), N, P, C, t->iparam[1] != 0, t->iparam[2] != 0, t->iparam[0]));
    return KN_OK;
}

kn_status kn__cuda_k_bcast_reduce(kn_graph *g, kn_tensor *t) {
    int64_t N, P, C;
    axes_of(t->src[0], &N, &P, &C);
    LAUNCH(kn__cu_bcast_reduce(STREAM, kn__cuda_tensor(g, t->src[0]), t->src[1] ? kn__cuda_tensor(g, t->src[1]) : NULL,
                               kn__cuda_tensor(g, t), N, P, C, t->iparam[1] != 0, t->iparam[2] != 0));
    return KN_OK;
}
