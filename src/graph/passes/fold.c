/* fold.c — constant folding. A node whose sources are all constants is computed once, when
 * the graph's constants are set (after compile, and again after kn_graph_refold), instead
 * of at every run: it is marked KN_FLAG_FOLDED, lives for the whole run like a constant,
 * and the run loop skips it. Constants are CONST leaves, folded nodes and, in a graph whose
 * parameters are frozen (inference), parameters.
 *
 * In such a graph a scale or normalization layer after a dense or convolution layer folds
 * into its weights first (a convolution's kernel (KH*KW*C, F), and a depthwise one's
 * (KH*KW, C*M), scale by columns as W):
 *     (x W + b) * s  ->  x (W * s) + b * s        (s a row of n, or a scalar)
 *     (x W + b) + o  ->  x W + (b + o)             (and - o)
 *     (x W) * s      ->  x (W * s)
 * after which W * s, b * s and b + o are all-constant and fold; the fuse pass then makes
 * the layer one dense kernel. A batch normalization evaluating with constant moving
 * statistics is such a scale and shift first:
 *     batch_norm(x)  ->  x * (1 / sqrt(var + eps)) + (-mean / sqrt(var + eps))
 * (its gamma and beta, a MUL and an ADD after it, then fold the same way). */
#include "passes.h"

#include <string.h>

static bool is_const(const kn_graph *g, const kn_tensor *t) {
    return t->op == KN_OP_CONST || (t->flags & KN_FLAG_FOLDED) || (t->op == KN_OP_PARAM && g->frozen_params);
}

static bool foldable_op(kn_op op) {
    switch (op) {
    case KN_OP_MATMUL: case KN_OP_ADD: case KN_OP_SUB: case KN_OP_MUL: case KN_OP_SCALE: case KN_OP_COPY:
    case KN_OP_ACT: case KN_OP_SUM_ROWS: case KN_OP_SUM: case KN_OP_SUM_SQUARES: case KN_OP_TRANSPOSE:
    case KN_OP_BATCH_NORM_FOLD:
        return true;
    case KN_OP_DROPOUT: /* random in training, a different mask each step: never a constant */
    case KN_OP_NOISE:   /* likewise */
    case KN_OP_RANDOM_AFFINE: /* likewise: a transform drawn per step */
    case KN_OP_RANDOM_AFFINE_GRAD:
    case KN_OP_RANDOM_COLOR:
    case KN_OP_RANDOM_COLOR_GRAD:
    case KN_OP_BATCH_NORM: /* batch statistics in training, and updates its state */
    default:
        return false;
    }
}

/* Marks t folded when all its sources are constants. */
static void try_fold(kn_graph *g, kn_tensor *t) {
    if (!foldable_op(t->op) || t->dtype != KN_F32 || (t->flags & (KN_FLAG_EXTERNAL | KN_FLAG_DEAD))) return;
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] == KN_BATCH) return;
    bool any = false;
    for (int s = 0; s < KN_MAX_SRC; s++) {
        if (!t->src[s]) continue;
        if (!is_const(g, t->src[s])) return;
        any = true;
    }
    if (any) t->flags |= KN_FLAG_FOLDED;
}

/* A node the rewrite just built (last in the list): placed before `before`, in its phase,
 * its sources' readers counted, folded if it can be. */
static kn_tensor *place(kn_graph *g, kn_tensor *t, kn_tensor *before) {
    if (!t) return NULL;
    kn__move_before(g, t, before);
    t->phase = before->phase;
    for (int s = 0; s < KN_MAX_SRC; s++)
        if (t->src[s]) t->src[s]->n_uses++;
    try_fold(g, t);
    return t;
}

/* s scaled by the factor of t (MUL by a constant row or scalar, or SCALE). */
static kn_tensor *scaled(kn_graph *g, kn_tensor *t, kn_tensor *x) {
    kn_tensor *r = t->op == KN_OP_SCALE ? kn_scale(g, x, t->fparam[0]) : kn_mul(g, x, t->src[1]);
    return place(g, r, t);
}

/* The constant operand of a MUL/ADD/SUB by a row of n values or a scalar. */
static bool const_row(const kn_graph *g, const kn_tensor *t, const kn_tensor *c, int64_t n) {
    if (!is_const(g, c)) return false;
    return c->ndim == 0 || (c->ndim == 1 && (c->shape[0] == n || c->shape[0] == 1) && kn__bcast(t->src[0], c) != BCAST_SAME);
}

static bool private_node(const kn_tensor *t, kn_op op) {
    return t->op == op && t->n_uses == 1 && !kn__is_output(t);
}

/* Returns true when t was rewritten. */
static bool rewrite(kn_graph *g, kn_tensor *t) {
    /* an evaluating batch norm (a graph without backward never trains) of constant state */
    if (t->op == KN_OP_BATCH_NORM && !g->has_backward && is_const(g, t->src[1]) && is_const(g, t->src[2])) {
        kn_tensor *scale = place(g, kn__batch_norm_fold(g, t, false), t);
        kn_tensor *shift = place(g, kn__batch_norm_fold(g, t, true), t);
        kn_tensor *mul = scale && shift ? place(g, kn_mul(g, t->src[0], scale), t) : NULL;
        if (!mul) return false;
        t->op = KN_OP_ADD;
        t->fparam[0] = t->fparam[1] = 0;
        kn__rewire(g, t, mul, shift, NULL, NULL);
        if (!(mul->flags & KN_FLAG_FOLDED)) rewrite(g, mul); /* into the weights before it, when it can */
        rewrite(g, t);
        return true;
    }
    if (t->op != KN_OP_SCALE && t->op != KN_OP_MUL && t->op != KN_OP_ADD && t->op != KN_OP_SUB) return false;
    kn_tensor *u = t->src[0];
    int64_t cols = u->ndim > 0 ? u->shape[u->ndim - 1] : 0; /* a layer's units or filters */
    bool rows_of = u->ndim == 2 || u->ndim == 4;            /* dense (N, n) or conv (N, H, W, F) */
    bool scale = t->op == KN_OP_SCALE || (t->op == KN_OP_MUL && rows_of && const_row(g, t, t->src[1], cols));
    bool shift = (t->op == KN_OP_ADD || t->op == KN_OP_SUB) && rows_of && const_row(g, t, t->src[1], cols);
    if (!scale && !shift) return false;
    /* u = x W + b (or conv(x, W) + b, a depthwise conv's too), W and b constant */
    if (private_node(u, KN_OP_ADD) && (private_node(u->src[0], KN_OP_MATMUL) || private_node(u->src[0], KN_OP_CONV2D) ||
                                     private_node(u->src[0], KN_OP_DEPTHWISE_CONV2D)) &&
        is_const(g, u->src[1]) && u->src[1]->ndim == 1 && u->src[1]->shape[0] == cols) { /* a bias row, not a scalar */
        kn_tensor *m = u->src[0], *b = u->src[1], *w = m->src[1];
        if (scale) {
            /* W stored (k, n) (a conv kernel (KH*KW*C, F)): its columns scale */
            if ((m->op == KN_OP_MATMUL && m->iparam[1]) || !is_const(g, w)) return false;
            kn_tensor *w2 = scaled(g, t, w), *b2 = scaled(g, t, b);
            if (!w2 || !b2) return false;
            kn__rewire(g, m, m->src[0], w2, NULL, NULL);
            t->op = KN_OP_ADD;
            t->fparam[0] = 0;
            kn__rewire(g, t, m, b2, NULL, NULL);
        } else {
            kn_tensor *b2 = place(g, t->op == KN_OP_ADD ? kn_add(g, b, t->src[1]) : kn_sub(g, b, t->src[1]), t);
            if (!b2) return false;
            t->op = KN_OP_ADD;
            kn__rewire(g, t, m, b2, NULL, NULL);
        }
        return true;
    }
    /* u = x W (or conv(x, W), depthwise or not), W constant */
    if (scale &&
        ((private_node(u, KN_OP_MATMUL) && !u->iparam[1]) || private_node(u, KN_OP_CONV2D) ||
         private_node(u, KN_OP_DEPTHWISE_CONV2D)) &&
        is_const(g, u->src[1])) {
        kn_tensor *w2 = scaled(g, t, u->src[1]);
        if (!w2) return false;
        t->op = u->op;
        memcpy(t->iparam, u->iparam, sizeof t->iparam); /* transposes, or the conv's window */
        t->fparam[0] = 0;
        kn__rewire(g, t, u->src[0], w2, NULL, NULL);
        return true;
    }
    return false;
}

kn_status kn__pass_fold(kn_graph *g) {
    kn__count_uses(g);
    for (int i = 0; i < g->n_nodes && g->status == KN_OK; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->flags & KN_FLAG_DEAD) continue;
        try_fold(g, t);
        if (!(t->flags & KN_FLAG_FOLDED) && rewrite(g, t)) i = t->id; /* nodes went in before t */
    }
    return g->status;
}

void kn__graph_refold_now(kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->flags & KN_FLAG_FOLDED) kn__op_info(t->op)->cpu(g, t);
    }
    g->fold_stale = false;
}
