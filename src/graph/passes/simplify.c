/* simplify.c — algebraic simplification, each rule exact in float arithmetic:
 *     x * 1, 1 * x, x + 0, 0 + x, x - 0, scale(x, 1), copy(x)   ->  x
 *     scale(scale(x, a), b)                                   ->  scale(x, a * b) when a * b is exact
 *     transpose(transpose(x))                                 ->  x
 *     reshape(reshape(x)), reshape of x to its own shape      ->  one reshape, or x
 *     matmul(transpose(a), b), matmul(a, transpose(b))        ->  matmul with the transpose flag
 *     dropout(x) of rate 0, or in a graph without backward      ->  x  (it never trains there)
 *     noise(x) of parameter 0, or in a graph without backward   ->  x  (likewise)
 *     random_affine(x), random_color(x) in a graph without backward ->  x  (likewise)
 * A node is replaced by x only when the caller does not hold it (kn__is_output); a broadcast
 * operand (x + 0 with 0 a row) is dropped only when x alone has the result's shape. */
#include "passes.h"

#include <math.h>

/* The operand t reduces to, or NULL. */
static kn_tensor *identity_of(const kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    switch (t->op) {
    case KN_OP_DROPOUT: return t->fparam[0] == 0.0f || !g->has_backward ? a : NULL;
    case KN_OP_NOISE: /* every mode at parameter 0 is the identity (alpha dropout's a 1, b 0) */
        return t->fparam[0] == 0.0f || !g->has_backward ? a : NULL;
    case KN_OP_RANDOM_AFFINE: /* random augmentation: it never trains there */
    case KN_OP_RANDOM_COLOR:
        return !g->has_backward ? a : NULL;
    case KN_OP_COPY: return a;
    case KN_OP_SCALE: return t->fparam[0] == 1.0f ? a : NULL;
    case KN_OP_MUL:
        if (kn__is_const_value(b, 1.0f) && kn__same_shape(a, t)) return a;
        if (kn__is_const_value(a, 1.0f) && kn__same_shape(b, t)) return b;
        return NULL;
    case KN_OP_ADD:
        if (kn__is_const_value(b, 0.0f) && kn__same_shape(a, t)) return a;
        if (kn__is_const_value(a, 0.0f) && kn__same_shape(b, t)) return b;
        return NULL;
    case KN_OP_SUB: return kn__is_const_value(b, 0.0f) && kn__same_shape(a, t) ? a : NULL;
    case KN_OP_TRANSPOSE: return a->op == KN_OP_TRANSPOSE ? a->src[0] : NULL;
    case KN_OP_RESHAPE: return kn__same_shape(a, t) ? a : NULL;
    default: return NULL;
    }
}

/* True when a * b in float equals the two scalings done one after the other for every x
 * short of overflow and underflow: one of them a power of two (1 and -1 included). */
static bool exact_product(float a, float b) {
    int e;
    float ma = frexpf(a, &e), mb = frexpf(b, &e);
    return fabsf(ma) == 0.5f || fabsf(mb) == 0.5f;
}

/* Rewrites t in place; true when it changed. */
static bool rewrite(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0];
    switch (t->op) {
    case KN_OP_SCALE:
        if (a->op == KN_OP_SCALE && exact_product(a->fparam[0], t->fparam[0])) {
            t->fparam[0] *= a->fparam[0];
            kn__rewire(g, t, a->src[0], NULL, NULL, NULL);
            return true;
        }
        return false;
    case KN_OP_RESHAPE:
        if (a->op == KN_OP_RESHAPE) {
            kn__rewire(g, t, a->src[0], NULL, NULL, NULL);
            t->alias = t->src[0];
            return true;
        }
        return false;
    case KN_OP_MATMUL:
        for (int s = 0; s < 2; s++) {
            kn_tensor *x = t->src[s];
            if (x->op != KN_OP_TRANSPOSE) continue;
            t->iparam[s] = !t->iparam[s];
            kn__rewire(g, t, s == 0 ? x->src[0] : t->src[0], s == 1 ? x->src[0] : t->src[1], NULL, NULL);
            return true;
        }
        return false;
    default:
        return false;
    }
}

kn_status kn__pass_simplify(kn_graph *g) {
    kn__count_uses(g);
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->flags & (KN_FLAG_DEAD | KN_FLAG_FOLDED)) continue;
        while (rewrite(g, t)) {}
        kn_tensor *x = identity_of(g, t);
        if (!x || kn__is_output(t)) continue;
        kn__replace_uses(g, t, x);
        kn__kill(g, t);
    }
    return KN_OK;
}
