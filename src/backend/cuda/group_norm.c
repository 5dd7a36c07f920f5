/* group_norm.c — the CUDA backend's group normalization nodes (ops.c's table points here;
 * graph/ops_group_norm.c says what they compute): the shape read as the CPU reads it,
 * kernels_group_norm.cu's launchers, the shared workspace for the group statistics. */
#include "node_launch.h"

/* x's samples n, positions p a sample and channels c. */
static void shape_of(const kn_tensor *x, int64_t *n, int64_t *p, int64_t *c) {
    *c = x->ne[x->ndim - 1];
    *n = kn__group_norm_samples(x);
    *p = *n && *c ? kn__numel(x) / (*n * *c) : 0;
}

size_t kn__cuda_group_norm_workspace(const kn_tensor *t) {
    int64_t n, p, c;
    shape_of(t->op == KN_OP_GROUP_NORM ? t->src[0] : t->src[1], &n, &p, &c);
    return kn__cu_group_norm_ws(n, c, t->iparam[0]);
}

kn_status kn__cuda_k_group_norm(kn_graph *g, kn_tensor *t) {
    int64_t n, p, c;
    const kn_tensor *x = t->op == KN_OP_GROUP_NORM ? t->src[0] : t->src[1];
    shape_of(x, &n, &p, &c);
    const float *xd = kn__cuda_tensor(g, x), *gamma = NULL;
    double *ws = (double *)CTX->ws;
    float *out = kn__cuda_tensor(g, t);
    switch (t->op) {
    case KN_OP_GROUP_NORM:
        gamma = t->src[1] ? kn__cuda_tensor(g, t->src[1]) : NULL;
        LAUNCH(kn__cu_group_norm(STREAM, xd, gamma, t->src[2] ? kn__cuda_tensor(g, t->src[2]) : NULL, out, ws, n, p, c,
                                 t->iparam[0], t->fparam[0]));
        break;
    case KN_OP_GROUP_NORM_GRAD:
        gamma = t->src[2] ? kn__cuda_tensor(g, t->src[2]) : NULL;
        LAUNCH(kn__cu_group_norm_grad(STREAM, kn__cuda_tensor(g, t->src[0]), xd, gamma, out, ws, n, p, c, t->iparam[0],
                                      t->fparam[0]));
        break;
    default:
        LAUNCH(kn__cu_group_norm_gamma_grad(STREAM, kn__cuda_tensor(g, t->src[0]), xd, out, ws, n, p, c, t->iparam[0],
                                            t->fparam[0]));
    }
    return KN_OK;
}
