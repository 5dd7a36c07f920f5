/* mask.c — the CUDA backend's masked mean and its gradient (ops.c's table points here,
 * graph/ops_mask.c says what they compute): the node's shapes read as cpu/masked_mean.c
 * reads them, kernels_mask.cu's launchers. f32 only (half_support.c lists neither op, so
 * their tensors stay f32). */
#include "node_launch.h"

/* x rows (N, T*C), mask (N, T) -> (N, C); iparam [0] T, [1] C; N the resolved batch */
kn_status kn__cuda_k_masked_mean(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_masked_mean(STREAM, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t->src[1]), kn__cuda_tensor(g, t),
                              t->ne[0], t->iparam[0], t->iparam[1]));
    return KN_OK;
}

/* Keras's Masking's mask: x rows (N, T*C) -> (N, T); iparam [0] T, [1] C, fparam[0] the mask value */
kn_status kn__cuda_k_mask_values(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_mask_values(STREAM, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t), t->ne[0] * t->iparam[0],
                              t->iparam[1], t->fparam[0]));
    return KN_OK;
}

/* (dy (N, C), mask (N, T)) -> (N, T*C) */
kn_status kn__cuda_k_masked_mean_grad(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_masked_mean_grad(STREAM, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t->src[1]),
                                   kn__cuda_tensor(g, t), t->ne[0], t->iparam[0], t->iparam[1]));
    return KN_OK;
}
