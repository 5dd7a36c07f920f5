/* ops_noise.c — Keras's GaussianNoise, GaussianDropout and AlphaDropout as one op,
 * KN_OP_NOISE (graph.h; the element formulas in backend/noise_formulas.h): the public
 * builders, which check the parameter, and the op table's shape inference and backward.
 * Like dropout, the op draws in training runs only and is a copy otherwise; its gradient
 * draws the forward's values again (the same key and step) instead of storing them. */
#include "graph.h"
#include "backend/noise_formulas.h"

#include <math.h>

kn_tensor *kn__noise_keyed(kn_graph *g, kn_tensor *x, int mode, float param, int32_t key) {
    kn_tensor *t = kn__node(g, KN_OP_NOISE, x, NULL, NULL);
    if (t) {
        t->fparam[0] = param;
        t->iparam[0] = key < 0 ? t->id : key; /* the build index: the same in every graph built alike */
        t->iparam[1] = mode;
    }
    return kn__finish(g, t);
}

/* A rate in [0, 1), as kn_dropout's; else the graph fails naming the op. */
static kn_tensor *rate_node(kn_graph *g, kn_tensor *x, int mode, float rate, const char *op) {
    if (g && g->status == KN_OK && !(rate >= 0.0f && rate < 1.0f)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: rate %g outside [0, 1)", op, (double)rate);
        return NULL;
    }
    return kn__noise_keyed(g, x, mode, rate, -1);
}

kn_tensor *kn_gaussian_noise(kn_graph *g, kn_tensor *x, float stddev) {
    if (g && g->status == KN_OK && !(stddev >= 0.0f && isfinite(stddev))) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "gaussian_noise: stddev %g must be finite and >= 0", (double)stddev);
        return NULL;
    }
    return kn__noise_keyed(g, x, KN_NOISE_GAUSSIAN, stddev, -1);
}

kn_tensor *kn_gaussian_dropout(kn_graph *g, kn_tensor *x, float rate) {
    return rate_node(g, x, KN_NOISE_GAUSSIAN_DROPOUT, rate, "gaussian_dropout");
}

kn_tensor *kn_alpha_dropout(kn_graph *g, kn_tensor *x, float rate) {
    return rate_node(g, x, KN_NOISE_ALPHA_DROPOUT, rate, "alpha_dropout");
}

/* x (any shape, F32) -> the same shape. */
bool kn__infer_noise(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    if (t->iparam[1] < 0 || t->iparam[1] >= KN_NOISE_MODES)
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: mode %d unknown", t->name, (int)t->iparam[1]);
    if (x->dtype != KN_F32)
        return kn__graph_fail(g, KN_ERR_DTYPE, "%s: input '%s' is %s, expected F32", t->name, x->name,
                              kn_dtype_name(x->dtype));
    t->ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++) t->shape[d] = x->shape[d];
    return true;
}

/* Gaussian noise adds a value independent of x: dy passes as it is. Gaussian dropout
 * multiplies by 1 + s z: a mode-1 node on dy with the forward's key multiplies dy by the same
 * factors; alpha dropout's kept elements are a x + b, the others constant: dy a where kept,
 * 0 elsewhere (mode 3, likewise keyed). Mode 3 is linear in dy, its own gradient. The
 * backward runs in the forward's training step, so the draws are the forward's. */
void kn__backward_noise(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    int mode = t->iparam[1];
    if (mode == KN_NOISE_GAUSSIAN) {
        kn__grad_accumulate(g, t->src[0], dy);
        return;
    }
    int grad_mode = mode == KN_NOISE_ALPHA_DROPOUT ? KN_NOISE_ALPHA_DROPOUT_GRAD : mode;
    kn__grad_accumulate(g, t->src[0], kn__noise_keyed(g, dy, grad_mode, t->fparam[0], t->iparam[0]));
}
