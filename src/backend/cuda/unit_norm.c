/* unit_norm.c — the CUDA backend's KN_OP_UNIT_NORM and its gradient (ops.c's table points here;
 * graph/ops_unit_norm.c says what they compute): rows of the last axis, kernels_unit_norm.cu's
 * launcher. */
#include "node_launch.h"

kn_status kn__cuda_k_unit_norm(kn_graph *g, kn_tensor *t) {
    bool grad = t->op == KN_OP_UNIT_NORM_GRAD;
    const kn_tensor *x = grad ? t->src[1] : t->src[0];
    int64_t c = x->ne[x->ndim - 1], rows = c ? kn__numel(x) / c : 0;
    LAUNCH(kn__cu_unit_norm(STREAM, kn__cuda_tensor(g, x), grad ? kn__cuda_tensor(g, t->src[0]) : NULL,
                            kn__cuda_tensor(g, t), rows, c, t->fparam[0]));
    return KN_OK;
}
