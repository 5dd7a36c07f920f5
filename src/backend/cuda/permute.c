/* permute.c — the CUDA backend's KN_OP_PERMUTE (ops.c's table points here; graph/ops_permute.c
 * says what it computes): the axes read as cpu/permute.c reads them, kernels_permute.cu's
 * launcher. */
#include "node_launch.h"

kn_status kn__cuda_k_permute(kn_graph *g, kn_tensor *t) {
    int64_t out[3], from[3];
    kn__permute_axes(t, out, from);
    LAUNCH(kn__cu_permute(STREAM, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t), t->ne[0], out, from));
    return KN_OK;
}
