/* precision.c — mixed precision's storage policy: with g->precision bf16 or fp16, every
 * activation and activation gradient that kernels pass to each other is stored in that
 * half type, halving the arena; parameters, their gradients (the flat buffers), the
 * optimizer state, scalars (losses) and the tensors the caller reads (kept) stay f32.
 *
 * A tensor goes half only where the kernel writing it and every kernel reading it handle
 * half storage on the graph's device (kn__cpu_half_writes/reads, backend/cpu/half_support.c;
 * kn__cuda_half_writes/reads, backend/cuda/half_support.c): elsewhere it stays
 * f32, so an op without half support costs memory, never correctness. Views and in-place
 * outputs share their root's memory, so a root and its aliases go half together or not at
 * all. Not an optional pass of --passes: the precision is part of what the model computes. */
#include "passes.h"

#include <math.h>

typedef struct {
    bool (*writes)(const kn_tensor *t);
    bool (*reads)(const kn_tensor *t, int slot);
} half_support;

/* Whether the memory group rooted at r (r and the tensors aliasing it) may be half. */
static bool group_may_be_half(kn_graph *g, kn_tensor *r, const half_support *hs) {
    if (!kn__planned(r) || r->dtype != KN_F32 || r->ndim == 0 || (r->flags & (KN_FLAG_KEEP | KN_FLAG_FOLDED)) ||
        r->op == KN_OP_CONST || r->op == KN_OP_PARAM || (r->op == KN_OP_INPUT && !g->half_inputs))
        return false;
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        bool member = t == r || (t->alias && kn__alias_root(t) == r);
        if (member) {
            if (t->flags & KN_FLAG_KEEP) return false;
            /* a view (reshape) writes nothing; the root and in-place writers must write half */
            if (t->op != KN_OP_RESHAPE && !hs->writes(t)) return false;
        }
        for (int s = 0; s < KN_MAX_SRC; s++) {
            kn_tensor *src = t->src[s];
            if (!src || !(src == r || (src->alias && kn__alias_root(src) == r))) continue;
            if (!hs->reads(t, s)) return false;
        }
    }
    return true;
}

kn_status kn_graph_set_precision(kn_graph *g, kn_precision precision) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if ((unsigned)precision >= KN_PRECISION_COUNT)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "set_precision: unknown precision %d", (int)precision);
    if (g->compiled || g->has_backward)
        return kn__error(g->ctx, KN_ERR_STATE, "set_precision: call it before kn_graph_backward and kn_graph_compile");
    g->precision = precision;
    return KN_OK;
}

kn_status kn_graph_set_loss_scale(kn_graph *g, float scale) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (!(scale > 0) || !isfinite(scale))
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "set_loss_scale: %g must be positive and finite", (double)scale);
    g->loss_scale = scale;
    g->grad_unscale = 1.0f / scale;
    return KN_OK;
}

/* cuda: cuBLASLt multiplies two operands of one type (backend/cuda/matmul.c), and an f32
 * parameter beside a half operand is read from the parameters' half copy. Any other f32
 * operand beside a half one turns the half one's group back to f32, and a product of two
 * f32 operands keeps an f32 output (cuBLASLt has no 32F x 32F -> 16BF), until every
 * product is one of matmul.c's combinations (f32 is always allowed, so this ends, and only
 * ever removes half storage). */
static void one_type_products(kn_graph *g, bool *go) {
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = 0; i < g->n_nodes; i++) {
            kn_tensor *t = g->nodes[i];
            if (t->op != KN_OP_MATMUL && t->op != KN_OP_DENSE && t->op != KN_OP_MATMUL_ACT_GRAD) continue;
            kn_tensor *ra = kn__alias_root(t->src[0]), *rb = kn__alias_root(t->src[1]);
            bool ha = go[ra->id], hb = go[rb->id];
            if (ha && !hb && rb->op != KN_OP_PARAM) go[ra->id] = false, changed = true;
            if (hb && !ha && ra->op != KN_OP_PARAM) go[rb->id] = false, changed = true;
            /* f32 x f32 has only an f32 D in cuBLASLt's table: then the output stays f32 */
            kn_tensor *rt = kn__alias_root(t);
            if (!go[ra->id] && !go[rb->id] && go[rt->id]) go[rt->id] = false, changed = true;
        }
    }
}

kn_status kn__pass_precision(kn_graph *g) {
    if (g->precision == KN_PRECISION_FP32) return KN_OK;
    if (g->precision != KN_PRECISION_BF16 && g->precision != KN_PRECISION_FP16)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "compile: unknown precision %d", (int)g->precision);
    half_support hs;
    if (g->device == KN_DEVICE_CPU) hs = (half_support){kn__cpu_half_writes, kn__cpu_half_reads};
    else if (g->device == KN_DEVICE_CUDA) hs = (half_support){kn__cuda_half_writes, kn__cuda_half_reads};
    else
        return kn__error(g->ctx, KN_ERR_UNSUPPORTED, "compile: %s precision runs on the cpu and cuda only (device %s)",
                         kn_precision_name(g->precision), kn_device_name(g->device));
    kn_dtype half = g->precision == KN_PRECISION_BF16 ? KN_BF16 : KN_F16;
    /* decide every group against the f32 graph first, then switch: a decision never
     * depends on the order groups are visited in */
    bool *go = kn__calloc(g->ctx, (size_t)g->n_nodes + 1, sizeof(bool));
    if (!go) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "compile: out of memory");
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->alias) go[i] = group_may_be_half(g, g->nodes[i], &hs);
    if (g->device == KN_DEVICE_CUDA) one_type_products(g, go);
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (go[kn__alias_root(t)->id]) t->dtype = half;
    }
    kn__free(g->ctx, go);
    return KN_OK;
}
