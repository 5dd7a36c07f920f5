/* inplace.c — in-place execution: an elementwise node writes its output over an input of
 * the same size that nothing reads after it (its last reader is this node), so the two
 * share one block of the arena. The planner (plan.c) then gives the pair one block that
 * lives from the input's first write to the output's last read. Not for inputs the caller
 * feeds or reads (inputs, kept tensors), constants, folded values, parameters and their
 * gradients, or tensors other views already share. Kernels of these ops read element i
 * (or a row) before writing it, so the overlap is safe (they use no restrict pointers).
 * The "elementwise" ops here include layer normalization: a row in, the same row out. */
#include "passes.h"

static bool allows_inplace(const kn_tensor *t) {
    switch (t->op) {
    case KN_OP_ADD: case KN_OP_SUB: case KN_OP_MUL: case KN_OP_SCALE: case KN_OP_ACT: case KN_OP_ACT_GRAD:
    case KN_OP_ELEMENTWISE: case KN_OP_DROPOUT: /* dropout evaluating: nothing to do in place */
    case KN_OP_NOISE: /* element i read before it is written; evaluating, nothing to do */
    case KN_OP_LAYER_NORM: /* a row's statistics are read before any of it is written */
        return true;
    default:
        return false;
    }
}

/* The root of the block an output would share: a tensor the graph alone reads and writes. */
static bool reusable(const kn_tensor *r) {
    return r->op != KN_OP_INPUT && r->op != KN_OP_CONST && r->op != KN_OP_PARAM &&
           !(r->flags & (KN_FLAG_KEEP | KN_FLAG_EXTERNAL | KN_FLAG_FOLDED));
}

kn_status kn__pass_inplace(kn_graph *g) {
    kn_ctx *ctx = g->ctx;
    int n = g->n_nodes;
    int *first = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *first);
    int *last = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *last);
    if (!first || !last) {
        kn__free(ctx, first);
        kn__free(ctx, last);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "inplace: out of memory");
    }
    kn__liveness(g, first, last); /* a root's life covers every tensor sharing its block */
    for (int i = 0; i < n; i++) {
        kn_tensor *t = g->nodes[i];
        if (!allows_inplace(t) || t->alias || (t->flags & (KN_FLAG_EXTERNAL | KN_FLAG_FOLDED))) continue;
        for (int s = 0; s < KN_MAX_SRC; s++) {
            kn_tensor *x = t->src[s];
            if (!x) continue;
            bool held = false; /* nothing on the chain of tensors sharing x's block may be kept */
            for (const kn_tensor *y = x; y; y = y->alias) held |= (y->flags & (KN_FLAG_KEEP | KN_FLAG_EXTERNAL)) != 0;
            if (held) continue;
            kn_tensor *r = kn__alias_root(x);
            /* same shape, and nothing reads x's block after t (nor reads x twice here) */
            if (!reusable(r) || last[r->id] != i || !kn__same_shape(x, t) || x->dtype != t->dtype) continue;
            bool twice = false;
            for (int o = 0; o < KN_MAX_SRC; o++) twice |= o != s && t->src[o] == x;
            if (twice) continue;
            t->alias = x;
            last[r->id] = last[i]; /* the block now lives as long as t */
            break;
        }
    }
    kn__free(ctx, first);
    kn__free(ctx, last);
    return KN_OK;
}
