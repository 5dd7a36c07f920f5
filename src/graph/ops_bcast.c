/* ops_bcast.c — per-sample broadcasts: a + b, a - b and a * b where b holds, for each
 * sample of a, a row of channels shared by all its positions (Keras's Multiply of an image
 * (N, H, W, C) by squeeze-and-excitation gates (N, 1, 1, C)), a value a position shared by
 * its channels (an (N, H, W, 1) attention map), or one value (N, 1, 1, 1). kn_add, kn_sub
 * and kn_mul build these nodes when b (or a) is such a broadcast of the other; their own
 * broadcasts (a row (n) for every sample, a scalar) stay KN_OP_ADD's. The kernels are
 * backend/cpu/bcast.c's and the CUDA backend's.
 *
 * a is viewed as (N, P, C): C its last axis, P the positions between; b as (N, Pb, Cb), Pb
 * 1 or P, Cb 1 or C (iparam[1]: Pb is 1, iparam[2]: Cb is 1), the same rank as a, each of
 * its axes a's or 1, its middle axes all a's or all 1. */
#include "graph.h"

static const char *const bcast_names[KN__BCAST_OPS] = {"add", "sub", "rsub", "mul"};

/* Whether b is one of those broadcasts of a (not a's shape); *pb1, *cb1: which axes. */
static bool sample_bcast(const kn_tensor *a, const kn_tensor *b, bool *pb1, bool *cb1) {
    int nd = a->ndim;
    if (nd < 2 || b->ndim != nd || a->dtype != KN_F32 || b->dtype != KN_F32 || a->shape[0] != b->shape[0] ||
        kn__batch_rows(a) != 1 || kn__batch_rows(b) != 1 || kn__same_shape(a, b))
        return false;
    bool mid_ones = true, mid_same = true;
    for (int d = 1; d < nd - 1; d++) {
        mid_ones = mid_ones && b->shape[d] == 1;
        mid_same = mid_same && b->shape[d] == a->shape[d];
    }
    int64_t c = a->shape[nd - 1], cb = b->shape[nd - 1];
    if (!(mid_ones || mid_same) || !(cb == c || cb == 1)) return false;
    *pb1 = mid_ones; /* (no middle axes, or a's all 1: P = 1, either way) */
    *cb1 = cb == 1 && c != 1;
    return true;
}

bool kn__is_sample_bcast(const kn_tensor *a, const kn_tensor *b) {
    bool pb1, cb1;
    return a && b && sample_bcast(a, b, &pb1, &cb1);
}

static kn_tensor *bcast_node(kn_graph *g, kn__bcast_op op, kn_tensor *x, kn_tensor *v, bool pb1, bool cb1) {
    kn_tensor *t = kn__node(g, KN_OP_BCAST_BINARY, x, v, NULL);
    if (!t) return NULL;
    t->iparam[0] = op;
    t->iparam[1] = pb1;
    t->iparam[2] = cb1;
    return kn__finish(g, t);
}

kn_tensor *kn__sample_bcast(kn_graph *g, kn__bcast_op op, kn_tensor *a, kn_tensor *b) {
    bool pb1 = false, cb1 = false;
    if (sample_bcast(a, b, &pb1, &cb1)) return bcast_node(g, op, a, b, pb1, cb1);
    /* a is the broadcast one: b op a for add and mul, b - a as rsub */
    sample_bcast(b, a, &pb1, &cb1);
    kn__bcast_op swapped = op == KN__BCAST_SUB ? KN__BCAST_RSUB : op == KN__BCAST_RSUB ? KN__BCAST_SUB : op;
    return bcast_node(g, swapped, b, a, pb1, cb1);
}

/* v's shape, from x's: its axes 1 where the node broadcasts them. */
static bool check_bcast_shape(kn_graph *g, kn_tensor *t, const kn_tensor *x, const kn_tensor *v) {
    char sx[64], sv[64];
    bool pb1, cb1;
    if (!sample_bcast(x, v, &pb1, &cb1) || pb1 != (t->iparam[1] != 0) || cb1 != (t->iparam[2] != 0) ||
        (unsigned)t->iparam[0] >= KN__BCAST_OPS)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s does not broadcast over %s as a per-sample %s", t->name,
                              kn__shape_str(v, sv, sizeof sv), kn__shape_str(x, sx, sizeof sx),
                              (unsigned)t->iparam[0] < KN__BCAST_OPS ? bcast_names[t->iparam[0]] : "op");
    return true;
}

bool kn__infer_bcast_binary(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0], *v = t->src[1];
    if (!check_bcast_shape(g, t, x, v)) return false;
    t->dtype = KN_F32;
    t->ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++) t->shape[d] = x->shape[d];
    t->batch_rows = 1;
    return true;
}

/* d summed over the axes v broadcasts (times w, when not NULL): v's shape. */
static kn_tensor *reduce_to(kn_graph *g, const kn_tensor *t, kn_tensor *d, kn_tensor *w, const kn_tensor *v) {
    kn_tensor *r = kn__node(g, KN_OP_BCAST_REDUCE, d, w, NULL);
    if (!r) return NULL;
    r->iparam[1] = t->iparam[1];
    r->iparam[2] = t->iparam[2];
    r->dtype = KN_F32;
    r->ndim = v->ndim;
    for (int k = 0; k < v->ndim; k++) r->shape[k] = v->shape[k];
    r->batch_rows = 1;
    return kn__finish(g, r);
}

void kn__backward_bcast_binary(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0], *v = t->src[1];
    kn__bcast_op op = (kn__bcast_op)t->iparam[0];
    if (x->flags & KN_FLAG_NEEDS_GRAD) {
        kn_tensor *dx = op == KN__BCAST_MUL    ? bcast_node(g, KN__BCAST_MUL, dy, v, t->iparam[1], t->iparam[2])
                        : op == KN__BCAST_RSUB ? kn_scale(g, dy, -1.0f)
                                               : dy;
        kn__grad_accumulate(g, x, dx);
    }
    if (v->flags & KN_FLAG_NEEDS_GRAD) {
        kn_tensor *dv = reduce_to(g, t, dy, op == KN__BCAST_MUL ? x : NULL, v);
        kn__grad_accumulate(g, v, op == KN__BCAST_SUB ? kn_scale(g, dv, -1.0f) : dv);
    }
}

/* (x (N, P, C), w of x's shape or NULL) -> the builder's (N, Pb, Cb) */
bool kn__infer_bcast_reduce(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0], *w = t->src[1];
    char sx[64], sw[64];
    if (w && (!kn__same_shape(x, w) || w->dtype != KN_F32))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s and its weights %s differ", t->name,
                              kn__shape_str(x, sx, sizeof sx), kn__shape_str(w, sw, sizeof sw));
    return check_bcast_shape(g, t, x, t);
}
