/* attention.c — the CUDA backend's attention op and its gradient (ops.c's table points
 * here): the node's parameters read as cpu/attention.c reads them, kernels_attention.cu's
 * launchers. f32 only (half_support.c lists neither op, so their tensors stay f32). The
 * dropout's mask is drawn in the kernels from the step values on the device, so a captured
 * CUDA graph's replays draw each step's own. */
#include "node_launch.h"

/* iparam: [0] H, [1] Tq, [2] Tk, [3] Dk, [4] Dv, [5] flags; fparam[0] the scale; N the
 * resolved batch (a run below the compiled batch has fewer rows); the masks' device rows. */
static kn__cu_attention dims_of(kn_graph *g, const kn_tensor *t) {
    kn__cu_attention d = {t->ne[0], t->iparam[0], t->iparam[1], t->iparam[2], t->iparam[3], t->iparam[4],
                          (t->iparam[5] & KN_ATTENTION_CAUSAL) != 0, t->fparam[0],
                          /* dropout: the device's step values say whether this run trains */
                          t->fparam[1], (int32_t)((uint32_t)t->iparam[5] >> KN__ATTENTION_KEY_SHIFT), g->ctx->seed, CTX->d_step,
                          NULL, NULL, 0};
    /* the masks (N, Tq if a query mask + Tk if a key mask): src[3], the gradient's src[4] */
    const kn_tensor *masks = t->src[t->op == KN_OP_ATTENTION_GRAD ? 4 : 3];
    if (masks) {
        const float *m = kn__cuda_tensor(g, masks);
        bool qm = (t->iparam[5] & KN__ATTENTION_QUERY_MASK) != 0, km = (t->iparam[5] & KN__ATTENTION_KEY_MASK) != 0;
        d.mask_w = masks->ne[1];
        d.qmask = qm ? m : NULL;
        d.kmask = km ? m + (qm ? d.Tq : 0) : NULL;
    }
    return d;
}

size_t kn__cuda_attention_workspace(const kn_tensor *t) {
    if (t->op != KN_OP_ATTENTION_GRAD) return 0;
    return (size_t)t->ne[0] * (size_t)t->iparam[0] * (size_t)t->iparam[1] * 3 * sizeof(float);
}

kn_status kn__cuda_k_attention(kn_graph *g, kn_tensor *t) {
    kn__cu_attention d = dims_of(g, t);
    LAUNCH(kn__cu_attention_forward(STREAM, &d, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t->src[1]),
                                    kn__cuda_tensor(g, t->src[2]), kn__cuda_tensor(g, t)));
    return KN_OK;
}

kn_status kn__cuda_k_attention_grad(kn_graph *g, kn_tensor *t) {
    kn__cu_attention d = dims_of(g, t);
    size_t need = kn__cuda_attention_workspace(t);
    if (need > CTX->ws_bytes) /* an invariant: a run's batch is at most the compiled one */
        return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: node '%s': %zu bytes of workspace exceed the %zu compiled",
                         t->name, need, CTX->ws_bytes);
    LAUNCH(kn__cu_attention_backward(STREAM, &d, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t->src[1]),
                                     kn__cuda_tensor(g, t->src[2]), kn__cuda_tensor(g, t->src[3]),
                                     kn__cuda_tensor(g, t), CTX->ws));
    return KN_OK;
}
