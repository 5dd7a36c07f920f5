/* ops_mask.c — Keras's masks in the graph: the mask of an embedding's padding (mask_zero)
 * and of Keras's Masking (a step whose values all equal mask_value), and the mean over the
 * steps a mask keeps (GlobalAveragePooling1D given a mask), with its gradient. A mask is (batch, T) of 1 (the step counts) and 0 (padding); kernels read a step
 * as kept where its value is above 0.5. Masked attention is ops_attention.c's; the kernels
 * are backend/cpu/masked_mean.c's (and the CUDA backend's). */
#include "graph.h"

#include <string.h>

kn_tensor *kn__mask_nonzero(kn_graph *g, kn_tensor *x) {
    /* indices are whole numbers >= 0 (the model checks its data): relu6(6 x) is 0 at 0 and 6
     * from 1 on, so relu6(6 x) / 6 is the mask, by ops every backend and the fuse pass have */
    return kn_scale(g, kn_act(g, kn_scale(g, x, 6.0f), KN_RELU6), 1.0f / 6.0f);
}

kn_tensor *kn__mask_and(kn_graph *g, kn_tensor *a, kn_tensor *b) {
    if (!a || !b || a == b) return a ? a : b;
    return kn_mul(g, a, b);
}

kn_tensor *kn__mask_values(kn_graph *g, kn_tensor *x, float value) {
    if (!g || g->status != KN_OK) return NULL;
    char s1[64];
    if (!x || x->dtype != KN_F32 || x->ndim != 3 || kn__batch_rows(x) != 1 || x->shape[1] == KN_BATCH ||
        x->shape[2] == KN_BATCH || x->shape[1] * x->shape[2] > INT32_MAX) {
        kn__graph_fail(g, KN_ERR_SHAPE, "mask_values: %s must be F32 (batch, steps, channels)",
                       x ? kn__shape_str(x, s1, sizeof s1) : "(missing)");
        return NULL;
    }
    int64_t T = x->shape[1], C = x->shape[2];
    bool batched = x->shape[0] == KN_BATCH;
    kn_tensor *rows = kn__reshape_rows(g, x, (int64_t[]){x->shape[0], T * C}, 2, batched ? 1 : 0);
    kn_tensor *t = kn__node(g, KN_OP_MASK_VALUES, rows, NULL, NULL);
    if (!t) return NULL;
    t->iparam[0] = (int32_t)T, t->iparam[1] = (int32_t)C;
    t->fparam[0] = value;
    t->flags &= ~KN_FLAG_NEEDS_GRAD; /* a mask: the gradient stops here */
    return kn__finish(g, t);
}

bool kn__infer_mask_values(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    int64_t T = t->iparam[0], C = t->iparam[1];
    char s1[64];
    if (x->dtype != KN_F32 || x->ndim != 2 || x->shape[1] != T * C || kn__batch_rows(x) != 1)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: steps %s do not fit T*C = %lld a row", t->name,
                              kn__shape_str(x, s1, sizeof s1), (long long)(T * C));
    t->dtype = KN_F32;
    t->ndim = 2;
    t->shape[0] = x->shape[0];
    t->shape[1] = T;
    return true;
}

/* (x rows (N, T*C), mask (N, T)) -> (N, C) */
bool kn__infer_masked_mean(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0], *m = t->src[1];
    int64_t T = t->iparam[0], C = t->iparam[1];
    char s1[64], s2[64];
    if (x->dtype != KN_F32 || x->ndim != 2 || x->shape[1] != T * C || m->ndim != 2 || m->shape[1] != T ||
        m->shape[0] != x->shape[0] || kn__batch_rows(x) != 1 || kn__batch_rows(m) != 1)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: steps %s (F32, T*C = %lld a row) and mask %s (T = %lld) do not fit",
                              t->name, kn__shape_str(x, s1, sizeof s1), (long long)(T * C), kn__shape_str(m, s2, sizeof s2),
                              (long long)T);
    t->dtype = KN_F32;
    t->ndim = 2;
    t->shape[0] = x->shape[0];
    t->shape[1] = C;
    return true;
}

/* (dy (N, C), mask (N, T)) -> (N, T*C) */
bool kn__infer_masked_mean_grad(kn_graph *g, kn_tensor *t) {
    const kn_tensor *dy = t->src[0], *m = t->src[1];
    int64_t T = t->iparam[0], C = t->iparam[1];
    char s1[64], s2[64];
    if (dy->dtype != KN_F32 || dy->ndim != 2 || dy->shape[1] != C || m->ndim != 2 || m->shape[1] != T ||
        m->shape[0] != dy->shape[0])
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s (C = %lld) and mask %s (T = %lld) do not fit", t->name,
                              kn__shape_str(dy, s1, sizeof s1), (long long)C, kn__shape_str(m, s2, sizeof s2), (long long)T);
    t->dtype = KN_F32;
    t->ndim = 2;
    t->shape[0] = dy->shape[0];
    t->shape[1] = T * C;
    return true;
}

void kn__backward_masked_mean(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *d = kn__node(g, KN_OP_MASKED_MEAN_GRAD, dy, t->src[1], NULL);
    if (!d) return;
    d->iparam[0] = t->iparam[0];
    d->iparam[1] = t->iparam[1];
    d = kn__finish(g, d);
    if (d && (t->src[0]->flags & KN_FLAG_NEEDS_GRAD)) kn__grad_accumulate(g, t->src[0], d);
}

kn_tensor *kn_masked_mean(kn_graph *g, kn_tensor *x, kn_tensor *mask) {
    if (!g || g->status != KN_OK) return NULL;
    char s1[64], s2[64];
    if (!x || !mask || x->dtype != KN_F32 || x->ndim != 3 || kn__batch_rows(x) != 1 || mask->ndim != 2 ||
        mask->shape[0] != x->shape[0] || mask->shape[1] != x->shape[1] || kn__batch_rows(mask) != 1 ||
        mask->dtype != KN_F32 || x->shape[1] == KN_BATCH) {
        kn__graph_fail(g, KN_ERR_SHAPE, "masked_mean: steps %s must be F32 (batch, steps, channels) and its mask %s "
                       "(batch, steps)", x ? kn__shape_str(x, s1, sizeof s1) : "(missing)",
                       mask ? kn__shape_str(mask, s2, sizeof s2) : "(missing)");
        return NULL;
    }
    int64_t T = x->shape[1], C = x->shape[2];
    if (T * C > INT32_MAX) {
        kn__graph_fail(g, KN_ERR_SHAPE, "masked_mean: %lld steps of %lld channels is too large", (long long)T, (long long)C);
        return NULL;
    }
    bool batched = x->shape[0] == KN_BATCH;
    kn_tensor *rows = kn__reshape_rows(g, x, (int64_t[]){x->shape[0], T * C}, 2, batched ? 1 : 0);
    kn_tensor *t = kn__node(g, KN_OP_MASKED_MEAN, rows, mask, NULL);
    if (t) {
        t->iparam[0] = (int32_t)T;
        t->iparam[1] = (int32_t)C;
    }
    return kn__finish(g, t);
}
