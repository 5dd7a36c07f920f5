/* ops_unit_norm.c — Keras's UnitNormalization: each row of x's last axis (C values) divided by
 * its L2 norm, y = x / sqrt(max(sum x^2, eps)) (Keras's ops.normalize, eps 1e-12 on the
 * squared norm). Its gradient, through the norm (recomputed from x):
 *   dx = (dy - y (y . dy)) / sqrt(s)   where s = sum x^2 > eps,
 *   dx = dy / sqrt(eps)                where the floor holds.
 * The kernels are backend/cpu/unitnorm.c's and the CUDA backend's (kernels_unit_norm.cu). */
#include "graph.h"

#include <math.h>

static bool fits(kn_graph *g, const char *what, const kn_tensor *x) {
    char sx[64];
    if (x->dtype != KN_F32 || x->ndim < 1 || x->shape[x->ndim - 1] == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: input %s must be F32 with a last axis to normalize", what,
                              kn__shape_str(x, sx, sizeof sx));
    return true;
}

kn_tensor *kn_unit_norm(kn_graph *g, kn_tensor *x, float epsilon) {
    if (!g || g->status != KN_OK) return NULL;
    if (!x) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "unit_norm: input is NULL");
        return NULL;
    }
    if (!(epsilon > 0.0f && isfinite(epsilon))) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "unit_norm: epsilon %g must be positive", (double)epsilon);
        return NULL;
    }
    if (!fits(g, "unit_norm", x)) return NULL;
    kn_tensor *t = kn__node(g, KN_OP_UNIT_NORM, x, NULL, NULL);
    if (t) t->fparam[0] = epsilon;
    return kn__finish(g, t);
}

bool kn__infer_unit_norm(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->op == KN_OP_UNIT_NORM ? t->src[0] : t->src[1];
    char sa[64], sb[64];
    if (!fits(g, t->name, x)) return false;
    if (t->op == KN_OP_UNIT_NORM_GRAD && (t->src[0]->dtype != KN_F32 || !kn__same_shape(t->src[0], x)))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s and value %s differ", t->name,
                              kn__shape_str(t->src[0], sa, sizeof sa), kn__shape_str(x, sb, sizeof sb));
    t->dtype = KN_F32;
    t->ndim = x->ndim;
    for (int k = 0; k < x->ndim; k++) t->shape[k] = x->shape[k];
    return true;
}

void kn__backward_unit_norm(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0];
    if (!(x->flags & KN_FLAG_NEEDS_GRAD)) return;
    kn_tensor *d = kn__node(g, KN_OP_UNIT_NORM_GRAD, dy, x, NULL);
    if (d) d->fparam[0] = t->fparam[0];
    kn__grad_accumulate(g, x, kn__finish(g, d));
}
