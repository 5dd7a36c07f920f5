/* graph.c — building a graph: node creation, the public builders (kn_matmul, kn_add, ...),
 * sticky errors and tensor accessors. Shape checks live in ops.c's infer functions. */
#include "graph.h"
#include "backend/backend.h"

#include <math.h>
#include <string.h>

kn_status kn_graph_new(kn_ctx *ctx, kn_graph **out) {
    if (!ctx || !out) return KN_ERR_INVALID_ARGUMENT;
    kn_graph *g = kn__calloc(ctx, 1, sizeof *g);
    if (!g) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "graph: out of memory");
    g->ctx = ctx;
    g->passes = KN_PASS_ALL;
    g->loss_scale = g->grad_unscale = 1.0f;
    g->device = ctx->device;
    *out = g;
    return KN_OK;
}

void kn_graph_free(kn_graph *g) {
    if (!g) return;
    kn_ctx *ctx = g->ctx;
    if (g->prof_seconds) {
        kn__profile_print(g);
        kn__free(ctx, g->prof_seconds);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        kn__free(ctx, g->nodes[i]->aux);
        kn__free(ctx, g->nodes[i]);
    }
    for (int i = 0; i < g->n_dead; i++) {
        kn__free(ctx, g->dead[i]->aux);
        kn__free(ctx, g->dead[i]);
    }
    kn__free(ctx, g->nodes);
    kn__free(ctx, g->dead);
    kn__free(ctx, g->params);
    kn__backend_release(g);
    if (!g->shared_params) kn__free(ctx, g->param_buf);
    kn__free(ctx, g->param_half);
    kn__free(ctx, g->grad_buf);
    kn__free(ctx, g->state_buf);
    kn__free(ctx, g->arena);
    kn__free(ctx, g);
}

kn_status kn_graph_status(const kn_graph *g) { return g ? g->status : KN_ERR_INVALID_ARGUMENT; }

bool kn__graph_fail(kn_graph *g, kn_status status, const char *fmt, ...) {
    if (g->status == KN_OK) {
        char msg[KN_ERROR_CAP];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        g->status = kn__error(g->ctx, status, "%s", msg);
    }
    return false;
}

static bool push(kn_graph *g, kn_tensor ***arr, int *n, int *cap, kn_tensor *t) {
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 64;
        kn_tensor **na = kn__alloc(g->ctx, (size_t)ncap * sizeof *na);
        if (!na) return kn__graph_fail(g, KN_ERR_OUT_OF_MEMORY, "graph: out of memory");
        if (*n) memcpy(na, *arr, (size_t)*n * sizeof *na);
        kn__free(g->ctx, *arr);
        *arr = na;
        *cap = ncap;
    }
    (*arr)[(*n)++] = t;
    return true;
}

static kn_tensor *new_tensor(kn_graph *g, kn_op op) {
    if (g->status != KN_OK) return NULL;
    if (g->compiled) {
        kn__graph_fail(g, KN_ERR_STATE, "graph: cannot add nodes after kn_graph_compile");
        return NULL;
    }
    kn_tensor *t = kn__calloc(g->ctx, 1, sizeof *t);
    if (!t) {
        kn__graph_fail(g, KN_ERR_OUT_OF_MEMORY, "graph: out of memory");
        return NULL;
    }
    t->op = op;
    t->dtype = KN_F32;
    t->phase = g->build_phase ? g->build_phase : KN_PHASE_FORWARD;
    t->id = g->n_nodes;
    if (!push(g, &g->nodes, &g->n_nodes, &g->cap_nodes, t)) {
        kn__free(g->ctx, t);
        return NULL;
    }
    return t;
}

kn_tensor *kn__node(kn_graph *g, kn_op op, kn_tensor *a, kn_tensor *b, kn_tensor *c) {
    if (!g || g->status != KN_OK) return NULL;
    const kn_op_info *info = kn__op_info(op);
    kn_tensor *srcs[KN_MAX_SRC] = {a, b, c};
    for (int i = 0; i < info->arity; i++)
        if (!srcs[i]) {
            kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: input %d is missing", info->name, i);
            return NULL;
        }
    kn_tensor *t = new_tensor(g, op);
    if (!t) return NULL;
    for (int i = 0; i < KN_MAX_SRC; i++) {
        t->src[i] = srcs[i];
        if (srcs[i] && (srcs[i]->flags & KN_FLAG_NEEDS_GRAD)) t->flags |= KN_FLAG_NEEDS_GRAD;
    }
    snprintf(t->name, sizeof t->name, "%s_%d", info->name, t->id);
    return t;
}

/* Runs shape inference for a freshly built node; on failure the node stays in the graph
 * (it is freed with it) but the builder returns NULL. */
static kn_tensor *finish(kn_graph *g, kn_tensor *t) {
    if (!t) return NULL;
    if (!kn__op_info(t->op)->infer(g, t)) return NULL;
    /* a batched output's rows per batch element come from its first batched source,
     * unless inference set them (a reshape's are its own: 1 unless set) */
    if (t->ndim > 0 && t->shape[0] == KN_BATCH && t->batch_rows == 0 && t->op != KN_OP_RESHAPE)
        for (int s = 0; s < KN_MAX_SRC; s++)
            if (t->src[s] && t->src[s]->ndim > 0 && t->src[s]->shape[0] == KN_BATCH) {
                t->batch_rows = t->src[s]->batch_rows;
                break;
            }
    memcpy(t->ne, t->shape, sizeof t->ne);
    return t;
}

kn_tensor *kn__finish(kn_graph *g, kn_tensor *t) { return finish(g, t); }

static bool check_shape(kn_graph *g, const char *what, const char *name, const int64_t *shape, int ndim) {
    if (ndim < 0 || ndim > KN_MAX_DIMS || (ndim > 0 && !shape))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s '%s': %d dimensions (1 to %d allowed)", what,
                              name ? name : "", ndim, KN_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0 && !(i == 0 && shape[i] == KN_BATCH && (strcmp(what, "input") == 0 || strcmp(what, "reshape") == 0)))
            return kn__graph_fail(g, KN_ERR_SHAPE, "%s '%s': dimension %d is %lld (must be positive)",
                                  what, name ? name : "", i, (long long)shape[i]);
    return true;
}

static kn_tensor *leaf(kn_graph *g, kn_op op, kn_dtype dtype, const int64_t *shape, int ndim,
                       const char *name, const char *what) {
    if (!g || g->status != KN_OK) return NULL;
    if ((unsigned)dtype >= KN_DTYPE_COUNT) {
        kn__graph_fail(g, KN_ERR_DTYPE, "%s '%s': unknown dtype %d", what, name ? name : "", (int)dtype);
        return NULL;
    }
    if (dtype != KN_F32 && dtype != KN_I32) {
        kn__graph_fail(g, KN_ERR_DTYPE, "%s '%s': dtype %s is not supported by the CPU kernels yet",
                       what, name ? name : "", kn_dtype_name(dtype));
        return NULL;
    }
    if (!check_shape(g, what, name, shape, ndim)) return NULL;
    kn_tensor *t = new_tensor(g, op);
    if (!t) return NULL;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = t->ne[i] = shape[i];
    snprintf(t->name, sizeof t->name, "%s", name ? name : what);
    return t;
}

kn_tensor *kn_input(kn_graph *g, kn_dtype dtype, const int64_t *shape, int ndim, const char *name) {
    return leaf(g, KN_OP_INPUT, dtype, shape, ndim, name, "input");
}

kn_tensor *kn_param(kn_graph *g, const int64_t *shape, int ndim, kn_init init, const char *name) {
    if ((unsigned)init >= KN_INIT_COUNT) {
        if (g) kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "param '%s': unknown initializer", name ? name : "");
        return NULL;
    }
    kn_tensor *t = leaf(g, KN_OP_PARAM, KN_F32, shape, ndim, name, "param");
    if (!t) return NULL;
    t->init = init;
    t->flags |= KN_FLAG_NEEDS_GRAD | KN_FLAG_EXTERNAL;
    if (!push(g, &g->params, &g->n_params, &g->cap_params, t)) return NULL;
    return t;
}

kn_tensor *kn__const_filled(kn_graph *g, const int64_t *shape, int ndim, float value) {
    kn_tensor *t = leaf(g, KN_OP_CONST, KN_F32, shape, ndim, "const", "const");
    if (t) t->fparam[0] = value;
    return t;
}

kn_tensor *kn__const_scalar(kn_graph *g, float value) { return kn__const_filled(g, NULL, 0, value); }

kn_tensor *kn_matmul_t(kn_graph *g, kn_tensor *a, kn_tensor *b, bool ta, bool tb) {
    kn_tensor *t = kn__node(g, KN_OP_MATMUL, a, b, NULL);
    if (t) { t->iparam[0] = ta; t->iparam[1] = tb; }
    return finish(g, t);
}
kn_tensor *kn_matmul(kn_graph *g, kn_tensor *a, kn_tensor *b) { return kn_matmul_t(g, a, b, false, false); }
/* a op b: a per-sample broadcast of either (ops_bcast.c), else ADD, SUB or MUL's own (b the
 * same shape, a row, a scalar) */
static kn_tensor *binary(kn_graph *g, kn_op op, kn__bcast_op bop, kn_tensor *a, kn_tensor *b) {
    if (g && g->status == KN_OK && (kn__is_sample_bcast(a, b) || kn__is_sample_bcast(b, a)))
        return kn__sample_bcast(g, bop, a, b);
    return finish(g, kn__node(g, op, a, b, NULL));
}
kn_tensor *kn_add(kn_graph *g, kn_tensor *a, kn_tensor *b) { return binary(g, KN_OP_ADD, KN__BCAST_ADD, a, b); }
kn_tensor *kn_sub(kn_graph *g, kn_tensor *a, kn_tensor *b) { return binary(g, KN_OP_SUB, KN__BCAST_SUB, a, b); }
kn_tensor *kn_mul(kn_graph *g, kn_tensor *a, kn_tensor *b) { return binary(g, KN_OP_MUL, KN__BCAST_MUL, a, b); }
kn_tensor *kn__copy(kn_graph *g, kn_tensor *a) { return finish(g, kn__node(g, KN_OP_COPY, a, NULL, NULL)); }
kn_tensor *kn_sum_rows(kn_graph *g, kn_tensor *x) { return finish(g, kn__node(g, KN_OP_SUM_ROWS, x, NULL, NULL)); }
kn_tensor *kn__sum(kn_graph *g, kn_tensor *x) { return finish(g, kn__node(g, KN_OP_SUM, x, NULL, NULL)); }
kn_tensor *kn_sum_squares(kn_graph *g, kn_tensor *x) { return finish(g, kn__node(g, KN_OP_SUM_SQUARES, x, NULL, NULL)); }

kn_tensor *kn_concat(kn_graph *g, kn_tensor *a, kn_tensor *b) { return finish(g, kn__node(g, KN_OP_CONCAT, a, b, NULL)); }
kn_tensor *kn_maximum(kn_graph *g, kn_tensor *a, kn_tensor *b) { return finish(g, kn__node(g, KN_OP_MAXIMUM, a, b, NULL)); }
kn_tensor *kn__slice_last(kn_graph *g, kn_tensor *x, int64_t offset, int64_t width) {
    kn_tensor *t = kn__node(g, KN_OP_SLICE, x, NULL, NULL);
    if (t) { t->iparam[0] = (int32_t)offset; t->iparam[1] = (int32_t)width; }
    return finish(g, t);
}
kn_tensor *kn__maximum_grad(kn_graph *g, kn_tensor *dy, kn_tensor *a, kn_tensor *b, int side) {
    kn_tensor *t = kn__node(g, KN_OP_MAXIMUM_GRAD, dy, a, b);
    if (t) t->iparam[0] = side;
    return finish(g, t);
}

kn_tensor *kn_transpose(kn_graph *g, kn_tensor *x) { return finish(g, kn__node(g, KN_OP_TRANSPOSE, x, NULL, NULL)); }

kn_tensor *kn__reshape_rows(kn_graph *g, kn_tensor *x, const int64_t *shape, int ndim, int64_t batch_rows) {
    if (!g || g->status != KN_OK) return NULL;
    if (!check_shape(g, "reshape", x ? x->name : "", shape, ndim)) return NULL;
    kn_tensor *t = kn__node(g, KN_OP_RESHAPE, x, NULL, NULL);
    if (!t) return NULL;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->batch_rows = batch_rows;
    t->alias = x; /* a view: x's memory */
    return finish(g, t);
}
kn_tensor *kn_reshape(kn_graph *g, kn_tensor *x, const int64_t *shape, int ndim) {
    return kn__reshape_rows(g, x, shape, ndim, 0);
}

kn_tensor *kn_scale(kn_graph *g, kn_tensor *a, float s) {
    kn_tensor *t = kn__node(g, KN_OP_SCALE, a, NULL, NULL);
    if (t) t->fparam[0] = s;
    return finish(g, t);
}

kn_tensor *kn__dropout_keyed(kn_graph *g, kn_tensor *x, float rate, int32_t key, int64_t steps, int64_t features) {
    if (g && g->status == KN_OK && !(rate >= 0.0f && rate < 1.0f)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "dropout: rate %g outside [0, 1)", (double)rate);
        return NULL;
    }
    kn_tensor *t = kn__node(g, KN_OP_DROPOUT, x, NULL, NULL);
    if (t) {
        t->fparam[0] = rate;
        t->iparam[0] = key < 0 ? t->id : key;
        t->iparam[1] = (int32_t)steps;
        t->iparam[2] = (int32_t)features;
    }
    return finish(g, t);
}

/* The mask key is the node's index as built: the same in every graph built the same way
 * (a model's graph rebuilt for another batch size), whatever the passes do later. */
kn_tensor *kn_dropout(kn_graph *g, kn_tensor *x, float rate) { return kn__dropout_keyed(g, x, rate, -1, 0, 0); }

/* Keras's SpatialDropout1D/2D/3D: one draw per (sample, channel), shared by every step or
 * position between the batch and the channels. */
kn_tensor *kn_spatial_dropout(kn_graph *g, kn_tensor *x, float rate) {
    if (!g || g->status != KN_OK) return NULL;
    char s[64];
    if (!x || x->ndim < 3 || kn__batch_rows(x) != 1) {
        kn__graph_fail(g, KN_ERR_SHAPE, "spatial_dropout: input '%s' %s must be (batch, steps..., channels)",
                       x ? x->name : "(null)", x ? kn__shape_str(x, s, sizeof s) : "");
        return NULL;
    }
    int64_t steps = 1;
    for (int d = 1; d < x->ndim - 1; d++) {
        if (x->shape[d] == KN_BATCH) {
            kn__graph_fail(g, KN_ERR_SHAPE, "spatial_dropout: input '%s' %s has the batch inside", x->name,
                           kn__shape_str(x, s, sizeof s));
            return NULL;
        }
        steps *= x->shape[d];
    }
    int64_t f = x->shape[x->ndim - 1];
    if (steps * f > INT32_MAX) {
        kn__graph_fail(g, KN_ERR_SHAPE, "spatial_dropout: input '%s' %s: a sample is too large", x->name,
                       kn__shape_str(x, s, sizeof s));
        return NULL;
    }
    return kn__dropout_keyed(g, x, rate, -1, steps, f);
}

kn_tensor *kn_batch_norm(kn_graph *g, kn_tensor *x, kn_tensor *gamma, kn_tensor *beta, kn_tensor *moving_mean,
                         kn_tensor *moving_var, float momentum, float epsilon) {
    if (g && g->status == KN_OK && !(momentum >= 0.0f && momentum <= 1.0f)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "batch_norm: momentum %g outside [0, 1]", (double)momentum);
        return NULL;
    }
    if (g && g->status == KN_OK && !(epsilon > 0.0f && isfinite(epsilon))) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "batch_norm: epsilon %g must be positive", (double)epsilon);
        return NULL;
    }
    if (g && g->status == KN_OK && (!moving_mean || !moving_var)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "batch_norm: the moving statistics are missing");
        return NULL;
    }
    kn_tensor *t = kn__node(g, KN_OP_BATCH_NORM, x, moving_mean, moving_var);
    if (t) {
        t->fparam[0] = momentum;
        t->fparam[1] = epsilon;
    }
    t = finish(g, t);
    if (t && gamma) t = kn_mul(g, t, gamma);
    if (t && beta) t = kn_add(g, t, beta);
    return t;
}

kn_tensor *kn__batch_norm_grad(kn_graph *g, kn_tensor *dy, kn_tensor *t) {
    kn_tensor *d = kn__node(g, KN_OP_BATCH_NORM_GRAD, dy, t->src[0], NULL);
    if (d) d->fparam[1] = t->fparam[1];
    return finish(g, d);
}

kn_tensor *kn__batch_norm_fold(kn_graph *g, kn_tensor *t, bool shift) {
    kn_tensor *d = kn__node(g, KN_OP_BATCH_NORM_FOLD, t->src[1], t->src[2], NULL);
    if (d) {
        d->iparam[0] = shift;
        d->fparam[1] = t->fparam[1];
    }
    return finish(g, d);
}

kn_tensor *kn_layer_norm(kn_graph *g, kn_tensor *x, kn_tensor *gamma, kn_tensor *beta, float epsilon) {
    if (g && g->status == KN_OK && !(epsilon > 0.0f && isfinite(epsilon))) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "layer_norm: epsilon %g must be positive", (double)epsilon);
        return NULL;
    }
    kn_tensor *t = kn__node(g, KN_OP_LAYER_NORM, x, gamma, beta);
    if (t) t->fparam[0] = epsilon;
    return finish(g, t);
}

/* dx = rstd * (d - mean(d) - xhat * mean(d * xhat)) per row, d = dy * gamma (dy without). */
kn_tensor *kn__layer_norm_grad(kn_graph *g, kn_tensor *dy, kn_tensor *t) {
    kn_tensor *d = kn__node(g, KN_OP_LAYER_NORM_GRAD, dy, t->src[0], t->src[1]);
    if (d) d->fparam[0] = t->fparam[0];
    return finish(g, d);
}

kn_tensor *kn__layer_norm_gamma_grad(kn_graph *g, kn_tensor *dy, kn_tensor *t) {
    kn_tensor *d = kn__node(g, KN_OP_LAYER_NORM_GAMMA_GRAD, dy, t->src[0], NULL);
    if (d) d->fparam[0] = t->fparam[0];
    return finish(g, d);
}

static kn_tensor *act(kn_graph *g, kn_tensor *x, kn_activation a, float alpha) {
    if ((unsigned)a >= KN_ACTIVATION_COUNT) {
        if (g) kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "activation: unknown kind %d", (int)a);
        return NULL;
    }
    if (a == KN_LINEAR) return x;
    kn_tensor *t = kn__node(g, KN_OP_ACT, x, NULL, NULL);
    if (t) {
        t->iparam[0] = (int32_t)a;
        t->fparam[0] = alpha;
        snprintf(t->name, sizeof t->name, "%s_%d", kn_activation_name(a), t->id);
    }
    return finish(g, t);
}
kn_tensor *kn_act(kn_graph *g, kn_tensor *x, kn_activation a) {
    return act(g, x, a, a == KN_LEAKY_RELU ? 0.2f : a == KN_ELU ? 1.0f : 0.0f);
}
kn_tensor *kn_leaky_relu(kn_graph *g, kn_tensor *x, float alpha) { return act(g, x, KN_LEAKY_RELU, alpha); }
kn_tensor *kn__act_alpha(kn_graph *g, kn_tensor *x, kn_activation a, float alpha) { return act(g, x, a, alpha); }
kn_tensor *kn_relu(kn_graph *g, kn_tensor *x) { return act(g, x, KN_RELU, 0); }

kn_tensor *kn__act_grad(kn_graph *g, kn_tensor *dy, kn_tensor *fwd) {
    kn_activation a = (kn_activation)fwd->iparam[0];
    kn_tensor *t = kn__node(g, KN_OP_ACT_GRAD, dy, kn__act_grad_uses_output(a) ? fwd : fwd->src[0], NULL);
    if (t) { t->iparam[0] = fwd->iparam[0]; t->fparam[0] = fwd->fparam[0]; }
    return finish(g, t);
}

kn_tensor *kn_loss_op_with(kn_graph *g, kn_loss loss, kn_tensor *pred, kn_tensor *target, kn_tensor *weights,
                           const kn_loss_options *o) {
    if ((unsigned)loss >= KN_LOSS_COUNT) {
        if (g) kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "loss: unknown kind %d", (int)loss);
        return NULL;
    }
    kn_tensor *t = kn__node(g, KN_OP_LOSS, pred, target, weights);
    if (t) {
        t->iparam[0] = (int32_t)loss;
        t->iparam[1] = o && o->from_logits;
        if (o) {
            t->fparam[0] = o->label_smoothing;
            t->fparam[1] = o->focal_gamma;
            t->fparam[2] = o->focal_alpha;
            t->iparam[2] = o->apply_class_balancing;
            t->fparam[3] = o->huber_delta;
        }
        snprintf(t->name, sizeof t->name, "%s", kn_loss_name(loss));
    }
    return finish(g, t);
}

kn_tensor *kn_loss_op_smoothed(kn_graph *g, kn_loss loss, kn_tensor *pred, kn_tensor *target, kn_tensor *weights,
                               bool from_logits, float label_smoothing) {
    return kn_loss_op_with(g, loss, pred, target, weights,
                           &(kn_loss_options){.from_logits = from_logits, .label_smoothing = label_smoothing});
}

kn_loss_params kn__loss_node_params(const kn_tensor *t) {
    return (kn_loss_params){.ls = t->fparam[0], .gamma = t->fparam[1], .alpha = t->fparam[2], .balance = t->iparam[2],
                            .delta = t->fparam[3] > 0 ? t->fparam[3] : KN_HUBER_DELTA_DEFAULT};
}

bool kn__loss_nodes_agree(const kn_tensor *a, const kn_tensor *b) {
    return a->iparam[0] == b->iparam[0] && a->fparam[0] == b->fparam[0] && a->fparam[1] == b->fparam[1] &&
           a->fparam[2] == b->fparam[2] && a->fparam[3] == b->fparam[3] && a->iparam[2] == b->iparam[2];
}

kn_tensor *kn_loss_op_weighted(kn_graph *g, kn_loss loss, kn_tensor *pred, kn_tensor *target, kn_tensor *weights,
                                bool from_logits) {
    return kn_loss_op_smoothed(g, loss, pred, target, weights, from_logits, 0.0f);
}

kn_tensor *kn_loss_op(kn_graph *g, kn_loss loss, kn_tensor *pred, kn_tensor *target, bool from_logits) {
    return kn_loss_op_weighted(g, loss, pred, target, NULL, from_logits);
}

/* src: pred, target, dloss, and the loss's sample weights (or NULL). */
kn_tensor *kn__loss_grad(kn_graph *g, kn_tensor *loss, kn_tensor *dloss) {
    kn_tensor *t = kn__node(g, KN_OP_LOSS_GRAD, loss->src[0], loss->src[1], dloss);
    if (t) {
        t->iparam[0] = loss->iparam[0];
        t->iparam[1] = loss->iparam[1];
        t->iparam[2] = loss->iparam[2]; /* the settings: kn__loss_node_params */
        memcpy(t->fparam, loss->fparam, sizeof t->fparam);
        t->src[3] = loss->src[2];
    }
    return finish(g, t);
}

/* ------------------------------------------------------------- convolution, pooling (NHWC) */

/* One spatial dimension of a window: output size and leading padding, as Keras and
 * TensorFlow define them ('same': out = ceil(in / s), padding split with the smaller half
 * first; 'causal': all of span - 1 before, out = ceil(in / s), each window ending at or
 * before its output's own step; 'valid': only windows wholly inside). False when 'valid'
 * has no window. The kernels read any leading padding (cells outside the input are zeros,
 * or left out of a pooling), so causal needs nothing of its own there. */
static bool win_dim(int64_t in, int k, int s, int d, kn_padding padding, int64_t *out, int64_t *pad) {
    int64_t span = (int64_t)(k - 1) * d + 1;
    if (padding == KN_PADDING_SAME) {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + span - in;
        *pad = total > 0 ? total / 2 : 0;
        return true;
    }
    if (padding == KN_PADDING_CAUSAL) {
        *out = (in + s - 1) / s;
        *pad = span - 1;
        return true;
    }
    *pad = 0;
    if (span > in) return false;
    *out = (in - span) / s + 1;
    return true;
}

/* Checks x (N, H, W, C) and the window, and computes its geometry (padding on both axes). */
static bool window_pad(kn_graph *g, const char *what, kn_tensor *x, int kh, int kw, int sh, int sw, int dh, int dw,
                       kn_padding padding, kn__win *w) {
    char sx[64];
    if (!x) return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: input is NULL", what);
    if (x->dtype != KN_F32 || x->ndim != 4 || x->shape[1] == KN_BATCH || x->shape[2] == KN_BATCH ||
        x->shape[3] == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: input '%s' must be F32 (batch, height, width, channels), got %s %s",
                              what, x->name, kn_dtype_name(x->dtype), kn__shape_str(x, sx, sizeof sx));
    int v[6] = {kh, kw, sh, sw, dh, dw};
    for (int i = 0; i < 6; i++)
        if (v[i] < 1 || v[i] > 255)
            return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT,
                                  "%s: window %dx%d, strides %dx%d, dilation %dx%d: each must be in [1, 255]", what,
                                  kh, kw, sh, sw, dh, dw);
    int64_t oh, ow, pt, pl;
    if ((unsigned)padding > KN_PADDING_CAUSAL)
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: unknown padding %d", what, (int)padding);
    if (!win_dim(x->shape[1], kh, sh, dh, padding, &oh, &pt) || !win_dim(x->shape[2], kw, sw, dw, padding, &ow, &pl))
        return kn__graph_fail(g, KN_ERR_SHAPE,
                              "%s: window %dx%d (dilation %dx%d) is larger than input '%s' %s under 'valid' padding",
                              what, kh, kw, dh, dw, x->name, kn__shape_str(x, sx, sizeof sx));
    if (pt > 255 || pl > 255 || oh > INT32_MAX || ow > INT32_MAX)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: padding %lldx%lld over input %s is too large (255 at most)", what,
                              (long long)pt, (long long)pl, kn__shape_str(x, sx, sizeof sx));
    *w = (kn__win){kh, kw, sh, sw, dh, dw, (int)pt, (int)pl, (int)oh, (int)ow};
    return true;
}

static bool window(kn_graph *g, const char *what, kn_tensor *x, int kh, int kw, int sh, int sw, int dh, int dw,
                   bool same, kn__win *w) {
    return window_pad(g, what, x, kh, kw, sh, sw, dh, dw, same ? KN_PADDING_SAME : KN_PADDING_VALID, w);
}

static kn_tensor *window_node(kn_graph *g, kn_op op, kn_tensor *x, const kn__win *w) {
    kn_tensor *t = kn__node(g, op, x, NULL, NULL);
    if (t) kn__win_pack(t, w);
    return finish(g, t);
}

kn_tensor *kn__maxpool2d_grad(kn_graph *g, kn_tensor *dy, kn_tensor *x, const kn__win *w) {
    kn_tensor *t = kn__node(g, KN_OP_MAXPOOL2D_GRAD, dy, x, NULL);
    if (t) kn__win_pack(t, w);
    return finish(g, t);
}

kn_tensor *kn__avgpool2d_grad(kn_graph *g, kn_tensor *dy, const kn__win *w, const int64_t *x_shape) {
    kn_tensor *t = kn__node(g, KN_OP_AVGPOOL2D_GRAD, dy, NULL, NULL);
    if (!t) return NULL;
    kn__win_pack(t, w);
    t->ndim = 4;
    for (int i = 0; i < 4; i++) t->shape[i] = x_shape[i];
    t->batch_rows = 0; /* (dy's: a volume's images keep their rows) */
    return finish(g, t);
}

kn_tensor *kn_conv2d(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int kh, int kw, int sh, int sw, int dh, int dw,
                     bool same) {
    return kn__conv2d_padded(g, x, kernel, kh, kw, sh, sw, dh, dw, same ? KN_PADDING_SAME : KN_PADDING_VALID, 1);
}

kn_tensor *kn_grouped_conv2d(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int kh, int kw, int sh, int sw, int dh,
                             int dw, bool same, int groups) {
    return kn__conv2d_padded(g, x, kernel, kh, kw, sh, sw, dh, dw, same ? KN_PADDING_SAME : KN_PADDING_VALID, groups);
}

kn_tensor *kn__conv2d_padded(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int kh, int kw, int sh, int sw, int dh,
                             int dw, kn_padding padding, int groups) {
    if (!g || g->status != KN_OK) return NULL;
    kn__win w = {0};
    if (!window_pad(g, "conv2d", x, kh, kw, sh, sw, dh, dw, padding, &w)) return NULL;
    char sx[64], sk[64];
    int64_t c = x->shape[3];
    if (groups < 1 || c % groups != 0) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "conv2d: %d groups do not divide input '%s' %s's %lld channels",
                       groups, x->name, kn__shape_str(x, sx, sizeof sx), (long long)c);
        return NULL;
    }
    int64_t rows = (int64_t)kh * kw * (c / groups);
    if (!kernel || kernel->dtype != KN_F32 || kernel->ndim != 2 || kernel->shape[0] != rows ||
        kernel->shape[1] == KN_BATCH || kernel->shape[1] % groups != 0) {
        char cols[48] = "filters", in[32] = "";
        if (groups > 1) {
            snprintf(cols, sizeof cols, "a multiple of %d", groups);
            snprintf(in, sizeof in, " in %d groups", groups);
        }
        kn__graph_fail(g, KN_ERR_SHAPE,
                       "conv2d: kernel '%s' %s must be (KH*KW*C%s, filters) = (%lld, %s) for a %dx%d window%s over "
                       "input '%s' %s",
                       kernel ? kernel->name : "(null)", kernel ? kn__shape_str(kernel, sk, sizeof sk) : "",
                       groups > 1 ? "/groups" : "", (long long)rows, cols, kh, kw, in, x->name,
                       kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    kn_tensor *t = kn__node(g, KN_OP_CONV2D, x, kernel, NULL);
    if (!t) return NULL;
    kn__win_pack(t, &w);
    t->iparam[4] = KN_LINEAR;
    t->iparam[5] = groups;
    return finish(g, t);
}

kn_tensor *kn__conv2d_grad_input(kn_graph *g, kn_tensor *dy, kn_tensor *kernel, const kn__win *w, const int64_t *x_shape,
                                 int groups) {
    kn_tensor *t = kn__node(g, KN_OP_CONV2D_GRAD_INPUT, dy, kernel, NULL);
    if (!t) return NULL;
    kn__win_pack(t, w);
    t->iparam[4] = KN_LINEAR;
    t->iparam[5] = groups;
    t->ndim = 4;
    for (int i = 0; i < 4; i++) t->shape[i] = x_shape[i];
    t->batch_rows = 0; /* (dy's: a volume's images keep their rows) */
    return finish(g, t);
}

kn_tensor *kn__conv2d_grad_kernel(kn_graph *g, kn_tensor *x, kn_tensor *dy, const kn__win *w, const kn_tensor *kernel,
                                  int groups) {
    kn_tensor *t = kn__node(g, KN_OP_CONV2D_GRAD_KERNEL, x, dy, NULL);
    if (!t) return NULL;
    kn__win_pack(t, w);
    t->iparam[5] = groups;
    t->ndim = 2;
    t->shape[0] = kernel->shape[0];
    t->shape[1] = kernel->shape[1];
    return finish(g, t);
}

/* The node's shape checks and its gradients are graph/ops_depthwise.c's; here the window
 * (shared with conv2d) and the one-line refusal of a kernel that does not fit x. */
kn_tensor *kn_depthwise_conv2d(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int kh, int kw, int sh, int sw, int dh,
                               int dw, bool same) {
    if (!g || g->status != KN_OK) return NULL;
    kn__win w = {0};
    if (!window(g, "depthwise_conv2d", x, kh, kw, sh, sw, dh, dw, same, &w)) return NULL;
    char sx[64], sk[64];
    int64_t taps = (int64_t)kh * kw, c = x->shape[3];
    if (!kernel || kernel->dtype != KN_F32 || kernel->ndim != 2 || kernel->shape[0] != taps ||
        kernel->shape[1] == KN_BATCH || kernel->shape[1] < c || kernel->shape[1] % c != 0) {
        kn__graph_fail(g, KN_ERR_SHAPE,
                       "depthwise_conv2d: kernel '%s' %s must be (KH*KW, C*M) = (%lld, a multiple of %lld) for a "
                       "%dx%d window over input '%s' %s", kernel ? kernel->name : "(null)",
                       kernel ? kn__shape_str(kernel, sk, sizeof sk) : "", (long long)taps, (long long)c, kh, kw,
                       x->name, kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    kn_tensor *t = kn__node(g, KN_OP_DEPTHWISE_CONV2D, x, kernel, NULL);
    if (t) kn__win_pack(t, &w);
    return finish(g, t);
}

kn_tensor *kn_max_pool2d(kn_graph *g, kn_tensor *x, int ph, int pw, int sh, int sw, bool same) {
    if (!g || g->status != KN_OK) return NULL;
    kn__win w = {0};
    if (!window(g, "max_pool2d", x, ph, pw, sh, sw, 1, 1, same, &w)) return NULL;
    return window_node(g, KN_OP_MAXPOOL2D, x, &w);
}

kn_tensor *kn_avg_pool2d(kn_graph *g, kn_tensor *x, int ph, int pw, int sh, int sw, bool same) {
    if (!g || g->status != KN_OK) return NULL;
    kn__win w = {0};
    if (!window(g, "avg_pool2d", x, ph, pw, sh, sw, 1, 1, same, &w)) return NULL;
    return window_node(g, KN_OP_AVGPOOL2D, x, &w);
}

kn_tensor *kn_global_avg_pool2d(kn_graph *g, kn_tensor *x) {
    if (!g || g->status != KN_OK) return NULL;
    if (x && x->ndim == 4 && (x->shape[1] > 255 || x->shape[2] > 255)) {
        char sx[64];
        kn__graph_fail(g, KN_ERR_SHAPE, "global_avg_pool2d: input '%s' %s is larger than 255x255", x->name,
                       kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    kn__win w = {0};
    if (!window(g, "global_avg_pool2d", x, x && x->ndim == 4 ? (int)x->shape[1] : 1,
                x && x->ndim == 4 ? (int)x->shape[2] : 1, 1, 1, 1, 1, false, &w))
        return NULL;
    kn_tensor *p = window_node(g, KN_OP_AVGPOOL2D, x, &w); /* (N, 1, 1, C) */
    if (!p) return NULL;
    return kn__reshape_rows(g, p, (int64_t[]){x->shape[0], x->shape[3]}, 2, 1);
}

kn_tensor *kn_global_max_pool2d(kn_graph *g, kn_tensor *x) {
    if (!g || g->status != KN_OK) return NULL;
    if (x && x->ndim == 4 && (x->shape[1] > 255 || x->shape[2] > 255)) {
        char sx[64];
        kn__graph_fail(g, KN_ERR_SHAPE, "global_max_pool2d: input '%s' %s is larger than 255x255", x->name,
                       kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    kn__win w = {0};
    if (!window(g, "global_max_pool2d", x, x && x->ndim == 4 ? (int)x->shape[1] : 1,
                x && x->ndim == 4 ? (int)x->shape[2] : 1, 1, 1, 1, 1, false, &w))
        return NULL;
    kn_tensor *p = window_node(g, KN_OP_MAXPOOL2D, x, &w); /* (N, 1, 1, C) */
    if (!p) return NULL;
    return kn__reshape_rows(g, p, (int64_t[]){x->shape[0], x->shape[3]}, 2, 1);
}

/* ------------------------------------------------------------- sequences: the 2-D ops over (N, 1, L, C) */

/* (graph.h) */
kn_tensor *kn__seq_view(kn_graph *g, const char *what, kn_tensor *x) {
    char sx[64];
    if (!x) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: input is NULL", what);
        return NULL;
    }
    if (x->dtype != KN_F32 || x->ndim != 3 || kn__batch_rows(x) != 1 || x->shape[1] == KN_BATCH ||
        x->shape[2] == KN_BATCH) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: input '%s' must be F32 (batch, steps, channels), got %s %s", what, x->name,
                       kn_dtype_name(x->dtype), kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    return kn__reshape_rows(g, x, (int64_t[]){x->shape[0], 1, x->shape[1], x->shape[2]}, 4, 1);
}

/* (graph.h) */
kn_tensor *kn__seq_unview(kn_graph *g, kn_tensor *y) {
    if (!y) return NULL;
    return kn__reshape_rows(g, y, (int64_t[]){y->shape[0], y->shape[2], y->shape[3]}, 3, 1);
}

/* A 1 x k window over x4 (N, 1, L, C), errors phrased for sequences (x the caller's (N, L, C)). */
static bool seq_window(kn_graph *g, const char *what, const kn_tensor *x, kn_tensor *x4, int k, int s, int d,
                       kn_padding padding, kn__win *w) {
    char sx[64];
    int64_t steps = x->shape[1], span = (int64_t)(k - 1) * d + 1;
    if (k < 1 || k > 255 || s < 1 || s > 255 || d < 1 || d > 255)
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: window %d, stride %d, dilation %d: each must be in [1, 255]",
                              what, k, s, d);
    if (padding == KN_PADDING_VALID && span > steps)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: window %d (dilation %d, span %lld) is longer than input '%s' %s "
                              "under 'valid' padding", what, k, d, (long long)span, x->name, kn__shape_str(x, sx, sizeof sx));
    if (padding == KN_PADDING_CAUSAL && span - 1 > 255)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: causal padding dilation * (window - 1) = %lld is larger than 255", what,
                              (long long)(span - 1));
    return window_pad(g, what, x4, 1, k, 1, s, 1, d, padding, w);
}

kn_tensor *kn_conv1d(kn_graph *g, kn_tensor *x, kn_tensor *kernel, int k, int stride, int dilation, kn_padding padding) {
    if (!g || g->status != KN_OK) return NULL;
    kn_tensor *x4 = kn__seq_view(g, "conv1d", x);
    kn__win w = {0};
    if (!x4 || !seq_window(g, "conv1d", x, x4, k, stride, dilation, padding, &w)) return NULL;
    char sx[64], sk[64];
    int64_t rows = (int64_t)k * x->shape[2];
    if (!kernel || kernel->dtype != KN_F32 || kernel->ndim != 2 || kernel->shape[0] != rows ||
        kernel->shape[1] == KN_BATCH) {
        kn__graph_fail(g, KN_ERR_SHAPE, "conv1d: kernel '%s' %s must be (K*C, filters) = (%lld, filters) for a window "
                       "of %d over input '%s' %s", kernel ? kernel->name : "(null)",
                       kernel ? kn__shape_str(kernel, sk, sizeof sk) : "", (long long)rows, k, x->name,
                       kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    return kn__seq_unview(g, kn__conv2d_padded(g, x4, kernel, 1, k, 1, stride, 1, dilation, padding, 1));
}

static kn_tensor *pool1d(kn_graph *g, const char *what, kn_op op, kn_tensor *x, int pool, int stride, bool same) {
    if (!g || g->status != KN_OK) return NULL;
    kn_tensor *x4 = kn__seq_view(g, what, x);
    kn__win w = {0};
    if (!x4 || !seq_window(g, what, x, x4, pool, stride, 1, same ? KN_PADDING_SAME : KN_PADDING_VALID, &w)) return NULL;
    return kn__seq_unview(g, window_node(g, op, x4, &w));
}

kn_tensor *kn_max_pool1d(kn_graph *g, kn_tensor *x, int pool, int stride, bool same) {
    return pool1d(g, "max_pool1d", KN_OP_MAXPOOL2D, x, pool, stride, same);
}

kn_tensor *kn_avg_pool1d(kn_graph *g, kn_tensor *x, int pool, int stride, bool same) {
    return pool1d(g, "avg_pool1d", KN_OP_AVGPOOL2D, x, pool, stride, same);
}

kn_tensor *kn__global_pool_steps(kn_graph *g, kn_tensor *x, bool max) {
    if (!g || g->status != KN_OK) return NULL;
    const char *what = max ? "global_max_pool1d" : "global_avg_pool1d";
    char sx[64];
    if (!x || x->ndim != 4 || x->shape[1] != 1) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: input '%s' %s must be (batch, 1, steps, channels)", what,
                       x ? x->name : "(null)", x ? kn__shape_str(x, sx, sizeof sx) : "");
        return NULL;
    }
    for (int64_t n = x->shape[2]; n > 1;) {
        int k = kn__step_window(n, max);
        if (!k) {
            kn__graph_fail(g, KN_ERR_SHAPE, "%s: %lld steps are more than 255 with a prime factor above 255 (pool or "
                           "stride the sequence first)", what, (long long)x->shape[2]);
            return NULL;
        }
        n = (n + k - 1) / k;
    }
    kn_tensor *h = x;
    int64_t steps = x->shape[2];
    while (h && steps > 1) {
        int k = kn__step_window(steps, max);
        kn__win w = {0};
        if (!window_pad(g, what, h, 1, k, 1, k, 1, 1, max ? KN_PADDING_SAME : KN_PADDING_VALID, &w)) return NULL;
        h = window_node(g, max ? KN_OP_MAXPOOL2D : KN_OP_AVGPOOL2D, h, &w);
        steps = w.ow;
    }
    if (!h) return NULL;
    return kn__reshape_rows(g, h, (int64_t[]){x->shape[0], x->shape[3]}, 2, 1); /* (N, C) */
}

kn_tensor *kn_global_avg_pool1d(kn_graph *g, kn_tensor *x) {
    if (!g || g->status != KN_OK) return NULL;
    return kn__global_pool_steps(g, kn__seq_view(g, "global_avg_pool1d", x), false);
}

kn_tensor *kn_global_max_pool1d(kn_graph *g, kn_tensor *x) {
    if (!g || g->status != KN_OK) return NULL;
    return kn__global_pool_steps(g, kn__seq_view(g, "global_max_pool1d", x), true);
}

/* ------------------------------------------------------------- shape helpers */

int64_t kn__numel(const kn_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->ne[i];
    return n;
}

size_t kn__nbytes(const kn_tensor *t) { return (size_t)kn__numel(t) * kn_dtype_size(t->dtype); }

bool kn__same_shape(const kn_tensor *a, const kn_tensor *b) {
    if (a->ndim != b->ndim || kn__batch_rows(a) != kn__batch_rows(b)) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

const char *kn__shape_str(const kn_tensor *t, char *buf, size_t size) {
    size_t used = 0;
    used += (size_t)snprintf(buf + used, size - used, "(");
    for (int i = 0; i < t->ndim && used < size; i++) {
        if (t->shape[i] == KN_BATCH && kn__batch_rows(t) > 1)
            used += (size_t)snprintf(buf + used, size - used, "batch*%lld", (long long)kn__batch_rows(t));
        else if (t->shape[i] == KN_BATCH) used += (size_t)snprintf(buf + used, size - used, "%sbatch", i ? ", " : "");
        else used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    }
    if (used < size) snprintf(buf + used, size - used, ")");
    return buf;
}

/* ------------------------------------------------------------- accessors */

void *kn_tensor_data(kn_tensor *t) { return t ? t->data : NULL; }
int kn_tensor_ndim(const kn_tensor *t) { return t->ndim; }
int64_t kn_tensor_dim(const kn_tensor *t, int i) { return (i >= 0 && i < t->ndim) ? t->ne[i] : 0; }
int64_t kn_tensor_numel(const kn_tensor *t) { return kn__numel(t); }
kn_dtype kn_tensor_dtype(const kn_tensor *t) { return t->dtype; }
const char *kn_tensor_name(const kn_tensor *t) { return t->name; }
kn_tensor *kn_tensor_grad(const kn_tensor *t) { return t ? t->grad : NULL; }
size_t kn_graph_node_count(const kn_graph *g) { return (size_t)g->n_nodes; }
int64_t kn_graph_step(const kn_graph *g) { return g->step; }

size_t kn_graph_param_count(const kn_graph *g) {
    size_t n = 0;
    for (int i = 0; i < g->n_params; i++) n += (size_t)kn__numel(g->params[i]);
    return n;
}
