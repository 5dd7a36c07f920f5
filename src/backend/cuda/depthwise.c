/* depthwise.c — the CUDA backend's depthwise convolution and its gradients (ops.c's table
 * points here; graph/ops_depthwise.c says what they compute): the node's window read as
 * cpu/depthwise.c reads it, kernels_depthwise.cu's launchers. f32 only (half_support.c
 * lists none of them, so their tensors stay f32). The forward takes the bias and activation
 * the fuse pass puts in; the gradients are never fused. */
#include "node_launch.h"

/* The window over images of img's shape (N the resolved batch) with cm = C*M output
 * channels; index64 from KILN_CUDA_INDEX64 (g NULL: the geometry alone, at compile). */
static kn__cuda_win win_of(const kn_graph *g, const kn_tensor *t, const kn_tensor *img, int64_t cm) {
    kn__win w = kn__win_unpack(t);
    bool index64 = g && ((const kn__cuda_graph *)g->backend.context)->index64;
    return (kn__cuda_win){img->ne[0], img->ne[1], img->ne[2], img->ne[3], cm, w.kh, w.kw, w.sh, w.sw, w.dh, w.dw,
                          w.pt, w.pl, w.oh, w.ow, index64, 1};
}

/* x (N, H, W, C), kernel (KH*KW, C*M) -> y (N, OH, OW, C*M), + the bias row (src[2]) and the
 * activation (iparam[4], alpha fparam[0]) the fuse pass put in */
kn_status kn__cuda_k_depthwise(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(g, t, t->src[0], t->ne[3]);
    LAUNCH(kn__cu_depthwise(STREAM, &w, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t->src[1]),
                            t->src[2] ? kn__cuda_tensor(g, t->src[2]) : NULL, t->iparam[4], t->fparam[0],
                            kn__cuda_tensor(g, t)));
    return KN_OK;
}

/* (dy (N, OH, OW, C*M), kernel) -> dx (N, H, W, C), the node's own shape */
kn_status kn__cuda_k_depthwise_grad_input(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(g, t, t, t->src[0]->ne[3]);
    LAUNCH(kn__cu_depthwise_grad_input(STREAM, &w, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t->src[1]),
                                       kn__cuda_tensor(g, t)));
    return KN_OK;
}

size_t kn__cuda_depthwise_workspace(const kn_tensor *t) {
    if (t->op != KN_OP_DEPTHWISE_CONV2D_GRAD_KERNEL) return 0;
    kn__cuda_win w = win_of(NULL, t, t->src[0], t->ne[1]);
    return kn__cu_depthwise_grad_kernel_ws(&w);
}

/* (x (N, H, W, C), dy (N, OH, OW, C*M)) -> d kernel (KH*KW, C*M); the parts' sums in ws,
 * which compile sized at the largest batch (a run's batch is at most that: fewer parts) */
kn_status kn__cuda_k_depthwise_grad_kernel(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(g, t, t->src[0], t->ne[1]);
    size_t need = kn__cu_depthwise_grad_kernel_ws(&w);
    if (need > CTX->ws_bytes)
        return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: node '%s': %zu bytes of workspace exceed the %zu compiled",
                         t->name, need, CTX->ws_bytes);
    LAUNCH(kn__cu_depthwise_grad_kernel(STREAM, &w, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t->src[1]),
                                        kn__cuda_tensor(g, t), CTX->ws));
    return KN_OK;
}
