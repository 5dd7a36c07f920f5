/* ops_group_norm.c — group normalization (Keras's GroupNormalization, PyTorch's nn.GroupNorm):
 * each sample's channels (the last axis) split into G groups of C / G consecutive channels,
 * and each (sample, group) normalized by the mean and biased variance of all its values (every
 * position's channels of the group), then scaled and shifted per channel:
 * y = (x - mean) / sqrt(var + eps) * gamma + beta. G = 1 normalizes a whole sample; G = C is
 * instance normalization. The same when training, evaluating or predicting (no moving
 * statistics, so nothing depends on the batch). The kernels are backend/cpu/groupnorm.c's and
 * the CUDA backend's (kernels_group_norm.cu).
 *
 * Its gradients: KN_OP_GROUP_NORM_GRAD (x's, through the group statistics, recomputed from x),
 * KN_OP_GROUP_NORM_GAMMA_GRAD (gamma's); beta's is dy's column sums, as a bias's. */
#include "graph.h"

#include <math.h>

int64_t kn__group_norm_samples(const kn_tensor *x) {
    int64_t rows = kn__batch_rows(x);
    return x->ndim ? x->ne[0] / rows : 0;
}

/* x F32 (batch, ..., C) with C a multiple of groups; gamma and beta, when given, F32 (C). */
static bool fits(kn_graph *g, const char *what, const kn_tensor *x, const kn_tensor *gamma, const kn_tensor *beta,
                 int64_t groups) {
    char sx[64], sp[64];
    if (x->dtype != KN_F32 || x->ndim < 2 || x->shape[x->ndim - 1] == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: input %s must be F32 (batch, ..., channels)", what,
                              kn__shape_str(x, sx, sizeof sx));
    int64_t c = x->shape[x->ndim - 1];
    if (groups < 1 || c % groups != 0)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %lld groups do not divide the %lld channels of %s", what,
                              (long long)groups, (long long)c, kn__shape_str(x, sx, sizeof sx));
    const kn_tensor *p[2] = {gamma, beta};
    for (int k = 0; k < 2; k++)
        if (p[k] && (p[k]->dtype != KN_F32 || p[k]->ndim != 1 || p[k]->shape[0] != c))
            return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s '%s' %s does not match the %lld channels of %s", what,
                                  k ? "beta" : "gamma", p[k]->name, kn__shape_str(p[k], sp, sizeof sp),
                                  (long long)c, kn__shape_str(x, sx, sizeof sx));
    return true;
}

kn_tensor *kn_group_norm(kn_graph *g, kn_tensor *x, kn_tensor *gamma, kn_tensor *beta, int groups, float epsilon) {
    if (!g || g->status != KN_OK) return NULL;
    if (!x) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "group_norm: input is NULL");
        return NULL;
    }
    if (!(epsilon > 0.0f && isfinite(epsilon))) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "group_norm: epsilon %g must be positive", (double)epsilon);
        return NULL;
    }
    if (!fits(g, "group_norm", x, gamma, beta, groups)) return NULL;
    kn_tensor *t = kn__node(g, KN_OP_GROUP_NORM, x, gamma, beta);
    if (!t) return NULL;
    t->iparam[0] = groups;
    t->fparam[0] = epsilon;
    return kn__finish(g, t);
}

bool kn__infer_group_norm(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    if (!fits(g, t->name, x, t->src[1], t->src[2], t->iparam[0])) return false;
    t->dtype = KN_F32;
    t->ndim = x->ndim;
    for (int k = 0; k < x->ndim; k++) t->shape[k] = x->shape[k];
    return true;
}

/* (dy, x[, gamma]) -> dx of x's shape, or (dy, x) -> gamma's (C). */
bool kn__infer_group_norm_grads(kn_graph *g, kn_tensor *t) {
    const kn_tensor *dy = t->src[0], *x = t->src[1];
    char sa[64], sb[64];
    if (!fits(g, t->name, x, t->op == KN_OP_GROUP_NORM_GRAD ? t->src[2] : NULL, NULL, t->iparam[0])) return false;
    if (dy->dtype != KN_F32 || !kn__same_shape(dy, x))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s and value %s differ", t->name,
                              kn__shape_str(dy, sa, sizeof sa), kn__shape_str(x, sb, sizeof sb));
    t->dtype = KN_F32;
    if (t->op == KN_OP_GROUP_NORM_GRAD) {
        t->ndim = x->ndim;
        for (int k = 0; k < x->ndim; k++) t->shape[k] = x->shape[k];
    } else {
        t->ndim = 1;
        t->shape[0] = x->shape[x->ndim - 1];
    }
    return true;
}

static kn_tensor *grad_node(kn_graph *g, kn_op op, kn_tensor *dy, kn_tensor *t) {
    kn_tensor *d = kn__node(g, op, dy, t->src[0], op == KN_OP_GROUP_NORM_GRAD ? t->src[1] : NULL);
    if (!d) return NULL;
    d->iparam[0] = t->iparam[0];
    d->fparam[0] = t->fparam[0];
    return kn__finish(g, d);
}

/* x's gradient through the group statistics, gamma's from dy * xhat, beta's the column sums
 * of dy; each only where it is wanted. */
void kn__backward_group_norm(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0], *gamma = t->src[1], *beta = t->src[2];
    if (x->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, x, grad_node(g, KN_OP_GROUP_NORM_GRAD, dy, t));
    if (gamma && (gamma->flags & KN_FLAG_NEEDS_GRAD))
        kn__grad_accumulate(g, gamma, grad_node(g, KN_OP_GROUP_NORM_GAMMA_GRAD, dy, t));
    if (beta && (beta->flags & KN_FLAG_NEEDS_GRAD)) kn__grad_accumulate(g, beta, kn_sum_rows(g, dy));
}
