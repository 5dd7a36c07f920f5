/* ops_rnn.c — the recurrent layers in the graph (kn_rnn) and their op table entries: a
 * sequence runs as one KN_OP_RNN node after one product for every step's input term, and
 * its backward is one KN_OP_RNN_GRAD node (the walk back through the steps) plus products
 * the graph already has: the kernels' gradients over all steps at once. Also the slice's
 * gradient, which the layer's outputs (slices of the states row) need. */
#include "graph.h"
#include "backend/rnn_cell.h"

#include <string.h>

static void set_shape(kn_tensor *t, int ndim, const int64_t *shape) {
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
}

static const char *const cell_names[] = {"simple_rnn", "lstm", "gru"};

/* ------------------------------------------------------------- slice's gradient */

kn_tensor *kn__slice_grad(kn_graph *g, kn_tensor *dy, int64_t offset, int64_t width, int64_t cols) {
    kn_tensor *t = kn__node(g, KN_OP_SLICE_GRAD, dy, NULL, NULL);
    if (t) {
        t->iparam[0] = (int32_t)offset;
        t->iparam[1] = (int32_t)width;
        t->iparam[2] = (int32_t)cols;
    }
    return kn__finish(g, t);
}

bool kn__infer_slice_grad(kn_graph *g, kn_tensor *t) {
    kn_tensor *dy = t->src[0];
    char s[64];
    int64_t off = t->iparam[0], w = t->iparam[1], cols = t->iparam[2];
    if (dy->dtype != KN_F32 || dy->ndim < 1 || dy->shape[dy->ndim - 1] != w || off < 0 || off + w > cols)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s placed at columns [%lld, %lld) of %lld", t->name,
                              kn__shape_str(dy, s, sizeof s), (long long)off, (long long)(off + w), (long long)cols);
    set_shape(t, dy->ndim, dy->shape);
    t->shape[t->ndim - 1] = cols;
    return true;
}

void kn__backward_slice(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0];
    if (x->flags & KN_FLAG_NEEDS_GRAD)
        kn__grad_accumulate(g, x, kn__slice_grad(g, dy, t->iparam[0], t->iparam[1], x->shape[x->ndim - 1]));
}

/* ------------------------------------------------------------- the recurrent ops */

/* The width of node t's (a KN_OP_RNN's) states row, and its gradient node's output width. */
static int64_t states_width(const kn_tensor *t) {
    return kn__rnn_width(t->iparam[0], t->iparam[1], t->iparam[2], t->fparam[0] > 0.0f);
}
static int64_t grad_width(const kn_tensor *rnn) {
    int64_t gh = (int64_t)kn__rnn_gates(rnn->iparam[0]) * rnn->iparam[1];
    return (rnn->iparam[0] == KN_RNN_GRU ? 2 : 1) * rnn->iparam[2] * gh;
}

bool kn__infer_rnn(kn_graph *g, kn_tensor *t) {
    kn_tensor *xw = t->src[0], *u = t->src[1], *br = t->src[2], *mask = t->src[3];
    char s1[64], s2[64];
    int64_t H = t->iparam[1], T = t->iparam[2], GH = kn__rnn_gates(t->iparam[0]) * H;
    if (mask && (mask->dtype != KN_F32 || mask->ndim != 2 || mask->shape[1] != T || mask->shape[0] != xw->shape[0] ||
                 kn__batch_rows(mask) != 1))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: mask %s is not F32 (batch, %lld steps)", t->name,
                              kn__shape_str(mask, s1, sizeof s1), (long long)T);
    if (xw->dtype != KN_F32 || u->dtype != KN_F32 || (br && br->dtype != KN_F32))
        return kn__graph_fail(g, KN_ERR_DTYPE, "%s: needs F32 inputs", t->name);
    if (xw->ndim != 2 || xw->shape[1] != T * GH || kn__batch_rows(xw) != 1)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: input term %s is not (batch, %lld steps x %lld)", t->name,
                              kn__shape_str(xw, s1, sizeof s1), (long long)T, (long long)GH);
    if (u->ndim != 2 || u->shape[0] != H || u->shape[1] != GH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: recurrent kernel %s is not (%lld, %lld)", t->name,
                              kn__shape_str(u, s2, sizeof s2), (long long)H, (long long)GH);
    if (br && (br->ndim != 1 || br->shape[0] != GH))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: recurrent bias %s is not (%lld)", t->name,
                              kn__shape_str(br, s2, sizeof s2), (long long)GH);
    set_shape(t, 2, (int64_t[]){xw->shape[0], states_width(t)});
    return true;
}

bool kn__infer_rnn_grad(kn_graph *g, kn_tensor *t) {
    kn_tensor *dy = t->src[0], *rnn = t->src[3];
    char s[64];
    if (!rnn || rnn->op != KN_OP_RNN || !kn__same_shape(dy, rnn))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s does not match the states", t->name,
                              kn__shape_str(dy, s, sizeof s));
    set_shape(t, 2, (int64_t[]){rnn->shape[0], grad_width(rnn)});
    return true;
}

/* d states -> the input term's gradient (into xw) and, over all steps at once, the
 * recurrent kernel's (h_{t-1}^T d r_t summed: one product of the states h_0 .. h_{T-1} with
 * d r) and the recurrent bias's (d r's column sums). For simple and lstm d r is d xw. */
void kn__backward_rnn(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *xw = t->src[0], *u = t->src[1], *br = t->src[2];
    int64_t H = t->iparam[1], T = t->iparam[2], GH = kn__rnn_gates(t->iparam[0]) * H;
    bool gru = t->iparam[0] == KN_RNN_GRU;
    kn_tensor *d = kn__node(g, KN_OP_RNN_GRAD, dy, xw, u);
    if (d) d->src[3] = t, d->src[4] = t->src[3]; /* (the mask, or NULL) */
    d = kn__finish(g, d);
    if (!d) return;
    if (xw->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, xw, gru ? kn__slice_last(g, d, 0, T * GH) : d);
    bool want_u = u->flags & KN_FLAG_NEEDS_GRAD, want_br = br && (br->flags & KN_FLAG_NEEDS_GRAD);
    if (!want_u && !want_br) return;
    kn_tensor *dr = gru ? kn__slice_last(g, d, T * GH, T * GH) : d;
    bool batched = t->shape[0] == KN_BATCH;
    int64_t lead = batched ? KN_BATCH : t->shape[0] * T;
    dr = kn__reshape_rows(g, dr, (int64_t[]){lead, GH}, 2, batched ? T : 0); /* (N*T, GH): one row a step */
    if (want_u) {
        /* each time's previous state (in processing order): the h before it, or after it
         * reversed; with recurrent dropout the masked copy the products read */
        int64_t hoff = t->fparam[0] > 0.0f ? kn__rnn_hm_offset(t->iparam[0], H, T) : 0;
        kn_tensor *h = kn__slice_last(g, t, hoff + (t->iparam[5] & KN__RNN_REVERSE ? H : 0), T * H);
        h = kn__reshape_rows(g, h, (int64_t[]){lead, H}, 2, batched ? T : 0);
        kn__grad_accumulate(g, u, kn_matmul_t(g, h, dr, true, false));
    }
    if (want_br) kn__grad_accumulate(g, br, kn_sum_rows(g, dr));
}

/* ------------------------------------------------------------- the builder */

static kn_tensor *rnn_fail(kn_graph *g, const char *fmt, const char *what, const kn_tensor *x) {
    char s[64];
    kn__graph_fail(g, KN_ERR_SHAPE, fmt, what, x ? x->name : "(null)", x ? kn__shape_str(x, s, sizeof s) : "");
    return NULL;
}

kn_tensor *kn_rnn(kn_graph *g, kn_rnn_cell cell, kn_tensor *x, kn_tensor *kernel, kn_tensor *recurrent_kernel,
                  kn_tensor *bias, kn_activation activation, kn_activation recurrent_activation, unsigned flags) {
    return kn_rnn_masked(g, cell, x, kernel, recurrent_kernel, bias, activation, recurrent_activation, flags, NULL);
}

kn_tensor *kn_rnn_masked(kn_graph *g, kn_rnn_cell cell, kn_tensor *x, kn_tensor *kernel, kn_tensor *recurrent_kernel,
                         kn_tensor *bias, kn_activation activation, kn_activation recurrent_activation, unsigned flags,
                         kn_tensor *mask) {
    return kn_rnn_dropout(g, cell, x, kernel, recurrent_kernel, bias, activation, recurrent_activation, flags, mask, 0.0f,
                          0.0f);
}

kn_tensor *kn_rnn_dropout(kn_graph *g, kn_rnn_cell cell, kn_tensor *x, kn_tensor *kernel, kn_tensor *recurrent_kernel,
                          kn_tensor *bias, kn_activation activation, kn_activation recurrent_activation, unsigned flags,
                          kn_tensor *mask, float dropout, float recurrent_dropout) {
    if (!g || g->status != KN_OK) return NULL;
    if ((unsigned)cell >= KN_RNN_CELL_COUNT) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "rnn: unknown cell %d", (int)cell);
        return NULL;
    }
    const char *what = cell_names[cell];
    if (!kn__rnn_act_ok(activation) || !kn__rnn_act_ok(recurrent_activation)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: activation %s, recurrent_activation %s: softmax and gelu are "
                       "not cell activations", what, kn_activation_name(activation),
                       kn_activation_name(recurrent_activation));
        return NULL;
    }
    if (!x || x->dtype != KN_F32 || x->ndim != 3 || kn__batch_rows(x) != 1 || x->shape[1] == KN_BATCH)
        return rnn_fail(g, "%s: input '%s' must be F32 (batch, steps, features), got %s", what, x);
    int64_t T = x->shape[1], F = x->shape[2];
    if (!kernel || !recurrent_kernel || kernel->ndim != 2 || recurrent_kernel->ndim != 2)
        return rnn_fail(g, "%s: kernel '%s' %s and the recurrent kernel must be matrices", what, kernel);
    int64_t H = recurrent_kernel->shape[0], G = kn__rnn_gates(cell), GH = G * H;
    char s1[64], s2[64];
    if (kernel->shape[0] != F || kernel->shape[1] != GH || recurrent_kernel->shape[1] != GH) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: kernel %s and recurrent kernel %s do not fit %lld features and %lld "
                       "gates of %lld units", what, kn__shape_str(kernel, s1, sizeof s1),
                       kn__shape_str(recurrent_kernel, s2, sizeof s2), (long long)F, (long long)G, (long long)H);
        return NULL;
    }
    bool gru = cell == KN_RNN_GRU;
    if (bias && !(gru ? bias->ndim == 2 && bias->shape[0] == 2 && bias->shape[1] == GH
                      : bias->ndim == 1 && bias->shape[0] == GH)) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: bias %s is not (%s%lld)", what, kn__shape_str(bias, s1, sizeof s1),
                       gru ? "2, " : "", (long long)GH);
        return NULL;
    }
    if (!(dropout >= 0.0f && dropout < 1.0f) || !(recurrent_dropout >= 0.0f && recurrent_dropout < 1.0f)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: dropout %g, recurrent_dropout %g: each must be in [0, 1)", what,
                       (double)dropout, (double)recurrent_dropout);
        return NULL;
    }
    if (kn__rnn_width(cell, H, T, recurrent_dropout > 0.0f) > INT32_MAX / 2) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: %lld steps of %lld units is too long a sequence", what, (long long)T,
                       (long long)H);
        return NULL;
    }
    bool batched = x->shape[0] == KN_BATCH;
    int64_t n = x->shape[0];
    if (dropout > 0.0f) x = kn_spatial_dropout(g, x, dropout); /* one draw per (sample, feature) */
    /* every step's input term at once: (N*T, F) x (F, GH) + b, one row a step */
    kn_tensor *x2 = kn__reshape_rows(g, x, (int64_t[]){batched ? KN_BATCH : n * T, F}, 2, batched ? T : 0);
    kn_tensor *xw = kn_matmul(g, x2, kernel), *br = NULL;
    if (bias && gru) { /* (2, GH): the input bias, then the recurrent one */
        kn_tensor *flat = kn_reshape(g, bias, (int64_t[]){2 * GH}, 1);
        xw = kn_add(g, xw, kn__slice_last(g, flat, 0, GH));
        br = kn__slice_last(g, flat, GH, GH);
    } else if (bias) {
        xw = kn_add(g, xw, bias);
    }
    xw = kn__reshape_rows(g, xw, (int64_t[]){n, T * GH}, 2, batched ? 1 : 0);
    if (!xw) return NULL;
    kn_tensor *t = kn__node(g, KN_OP_RNN, xw, recurrent_kernel, br);
    if (t) {
        t->src[3] = mask; /* (never differentiated) */
        t->iparam[0] = cell;
        t->iparam[1] = (int32_t)H;
        t->iparam[2] = (int32_t)T;
        t->iparam[3] = activation;
        t->iparam[4] = recurrent_activation;
        t->iparam[5] = (flags & KN_RNN_GO_BACKWARDS) ? KN__RNN_REVERSE : 0;
        /* the recurrent mask's key: the node's index as built, as kn_dropout's (graph.c) */
        if (recurrent_dropout > 0.0f) t->iparam[5] |= (int32_t)((uint32_t)t->id << KN__RNN_KEY_SHIFT);
        t->fparam[0] = recurrent_dropout;
    }
    t = kn__finish(g, t);
    if (!t) return NULL;
    /* the states row's h: the zero state, then times 0 .. T-1; reversed, times 0 .. T-1, then the zero state */
    bool rev = flags & KN_RNN_GO_BACKWARDS;
    if (!(flags & KN_RNN_RETURN_SEQUENCES)) return kn__slice_last(g, t, rev ? 0 : T * H, H); /* the last step's (N, H) */
    kn_tensor *seq = kn__slice_last(g, t, rev ? 0 : H, T * H);
    return kn__reshape_rows(g, seq, (int64_t[]){n, T, H}, 3, batched ? 1 : 0);
}
