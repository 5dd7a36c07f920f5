/* embedding.c — the CUDA backend's gather op and its gradient (ops.c's table points here):
 * the node's shapes read as the CPU kernels read them, kernels_embedding.cu's launchers.
 * f32 only (half_support.c lists neither op, so their tensors stay f32). */
#include "node_launch.h"

kn_status kn__cuda_k_gather(kn_graph *g, kn_tensor *t) {
    const kn_tensor *idx = t->src[0], *table = t->src[1];
    LAUNCH(kn__cu_gather(STREAM, kn__cuda_tensor(g, idx), kn__cuda_tensor(g, table), kn__cuda_tensor(g, t),
                         kn__numel(idx), table->ne[0], table->ne[1]));
    return KN_OK;
}

kn_status kn__cuda_k_gather_grad(kn_graph *g, kn_tensor *t) {
    const kn_tensor *dy = t->src[0], *idx = t->src[1];
    LAUNCH(kn__cu_gather_grad(STREAM, kn__cuda_tensor(g, dy), kn__cuda_tensor(g, idx), kn__cuda_tensor(g, t),
                              kn__numel(idx), t->ne[0], t->ne[1]));
    return KN_OK;
}
