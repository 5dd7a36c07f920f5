/* ops_permute.c — Keras's Permute: each sample's axes reordered, x (N, a1 .. ar) -> (N, a_p1 ..
 * a_pr) for a permutation p of the r <= 3 axes after the batch (iparam[0..2], 0-based; the
 * rest of a sample's axes 1). Its gradient is the inverse permutation of dy. The kernels are
 * backend/cpu/permute.c's and the CUDA backend's. */
#include "graph.h"

/* Whether perm (n values) is a permutation of 0 .. n-1, 1 <= n <= 3. */
static bool is_permutation(const int *perm, int n) {
    if (n < 1 || n > KN_MAX_DIMS - 1) return false;
    bool seen[KN_MAX_DIMS] = {false};
    for (int k = 0; k < n; k++) {
        if (perm[k] < 0 || perm[k] >= n || seen[perm[k]]) return false;
        seen[perm[k]] = true;
    }
    return true;
}

static kn_tensor *permute_node(kn_graph *g, kn_tensor *x, const int *perm, int n) {
    kn_tensor *t = kn__node(g, KN_OP_PERMUTE, x, NULL, NULL);
    if (!t) return NULL;
    for (int k = 0; k < n; k++) t->iparam[k] = perm[k];
    t->iparam[3] = n;
    return kn__finish(g, t);
}

kn_tensor *kn_permute(kn_graph *g, kn_tensor *x, const int *perm, int n) {
    if (!g || g->status != KN_OK) return NULL;
    char sx[64];
    if (!x || !perm || x->dtype != KN_F32 || x->ndim != n + 1 || !is_permutation(perm, n) || kn__batch_rows(x) != 1) {
        kn__graph_fail(g, KN_ERR_SHAPE, "permute: input %s must be F32 (batch, ...) with %d axes after the batch, and "
                       "the axes a permutation of 0 .. %d", x ? kn__shape_str(x, sx, sizeof sx) : "(null)", n, n - 1);
        return NULL;
    }
    return permute_node(g, x, perm, n);
}

bool kn__infer_permute(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    int n = t->iparam[3], perm[KN_MAX_DIMS - 1];
    char sx[64];
    for (int k = 0; k < n && k < KN_MAX_DIMS - 1; k++) perm[k] = t->iparam[k];
    if (x->dtype != KN_F32 || x->ndim != n + 1 || !is_permutation(perm, n))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s does not fit a permutation of %d axes", t->name,
                              kn__shape_str(x, sx, sizeof sx), n);
    t->dtype = KN_F32;
    t->ndim = x->ndim;
    t->shape[0] = x->shape[0];
    for (int k = 0; k < n; k++) t->shape[k + 1] = x->shape[perm[k] + 1];
    t->batch_rows = 1;
    return true;
}

void kn__backward_permute(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    int n = t->iparam[3], inverse[KN_MAX_DIMS - 1];
    for (int k = 0; k < n; k++) inverse[t->iparam[k]] = k;
    kn__grad_accumulate(g, t->src[0], permute_node(g, dy, inverse, n));
}

void kn__permute_axes(const kn_tensor *t, int64_t out[3], int64_t from[3]) {
    const kn_tensor *x = t->src[0];
    int n = t->iparam[3];
    int64_t s[3] = {1, 1, 1}, stride[3];
    for (int k = 0; k < n; k++) s[k] = x->ne[k + 1];
    stride[2] = 1, stride[1] = s[2], stride[0] = s[1] * s[2];
    for (int k = 0; k < 3; k++) {
        out[k] = k < n ? s[t->iparam[k]] : 1;
        from[k] = k < n ? stride[t->iparam[k]] : 0;
    }
}
