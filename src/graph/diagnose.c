/* diagnose.c — where a non-finite value first appeared in a run: the nodes of the given
 * phases are run again one by one, each float output checked as soon as it is written
 * (the arena reuses memory, so the values of an earlier run cannot be read afterwards).
 * For the message fit gives when the loss goes NaN or infinite. */
#include "graph.h"

#include <math.h>

static bool all_finite(const kn_tensor *t) {
    if ((t->dtype != KN_F32 && !kn__is_half(t)) || !t->data) return true;
    int64_t n = kn__numel(t);
    float buf[KN_HALF_BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += KN_HALF_BLOCK) { /* half tensors widened a block at a time */
        int64_t w = n - i0 < KN_HALF_BLOCK ? n - i0 : KN_HALF_BLOCK;
        const float *x = kn__read_f32(t, i0, w, buf);
        for (int64_t i = 0; i < w; i++)
            if (!isfinite(x[i])) return false;
    }
    return true;
}

const kn_tensor *kn__first_nonfinite(kn_graph *g, unsigned mask) {
    for (int i = 0; i < g->n_nodes; i++) { /* what the caller fed and the weights first */
        const kn_tensor *t = g->nodes[i];
        if ((t->op == KN_OP_INPUT || t->op == KN_OP_PARAM) && !all_finite(t)) return t;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (!(t->phase & mask) || t->op == KN_OP_INPUT || t->op == KN_OP_PARAM) continue;
        const kn_op_info *info = kn__op_info(t->op);
        if (info->cpu && !(t->flags & KN_FLAG_FOLDED)) info->cpu(g, t);
        if (!all_finite(t)) return t;
    }
    return NULL;
}
