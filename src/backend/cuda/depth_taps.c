/* depth_taps.c — the CUDA backend's KN_OP_DEPTH_TAPS and its gradient (ops.c's table points
 * here; graph/ops_depth_taps.c says what they compute): the geometry as cpu/depth_taps.c
 * reads it, kernels_depth_taps.cu's launcher. */
#include "node_launch.h"

kn_status kn__cuda_k_depth_taps(kn_graph *g, kn_tensor *t) {
    kn__depth_geom q = kn__depth_taps_geom(t);
    const int64_t geom[9] = {q.n, q.d, q.taps, q.stride, q.dilation, q.front, q.od, q.hw, q.c};
    LAUNCH(kn__cu_depth_taps(STREAM, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t), geom,
                             t->op == KN_OP_DEPTH_TAPS_GRAD));
    return KN_OK;
}
