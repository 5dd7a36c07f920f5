/* ops.c — the op table: for every op, its name, arity, shape inference and backward
 * builder, and (from backend/cpu) its CPU kernel. One place to read an op whole. */
#include "graph.h"
#include "backend/cpu/cpu.h"

#include <string.h>

static void set_shape(kn_tensor *t, int ndim, const int64_t *shape) {
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
}

static bool need_f32(kn_graph *g, kn_tensor *t, kn_tensor *x, const char *role) {
    if (x->dtype == KN_F32) return true;
    return kn__graph_fail(g, KN_ERR_DTYPE, "%s: %s '%s' is %s, expected F32", t->name, role, x->name,
                          kn_dtype_name(x->dtype));
}

/* ------------------------------------------------------------- leaves */

static bool infer_leaf(kn_graph *g, kn_tensor *t) { (void)g; (void)t; return true; }

/* ------------------------------------------------------------- matmul */

static bool infer_matmul(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    char sa[64], sb[64];
    if (!need_f32(g, t, a, "input") || !need_f32(g, t, b, "input")) return false;
    if (a->ndim != 2 || b->ndim != 2)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: expects matrices, got %s x %s", t->name,
                              kn__shape_str(a, sa, sizeof sa), kn__shape_str(b, sb, sizeof sb));
    bool ta = t->iparam[0], tb = t->iparam[1];
    int64_t m = ta ? a->shape[1] : a->shape[0], ka = ta ? a->shape[0] : a->shape[1];
    int64_t kb = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
    if (ka != kb)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: inner dimensions differ: %s%s x %s%s", t->name,
                              kn__shape_str(a, sa, sizeof sa), ta ? "^T" : "",
                              kn__shape_str(b, sb, sizeof sb), tb ? "^T" : "");
    if (n == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: the batch dimension can only lead", t->name);
    set_shape(t, 2, (int64_t[]){m, n});
    return true;
}

/* C = op(A) op(B). The four transpose cases of the gradient:
 *   C = A B     : dA = dC B^T,   dB = A^T dC
 *   C = A B^T   : dA = dC B,     dB = dC^T A
 *   C = A^T B   : dA = B dC^T,   dB = A dC
 *   C = A^T B^T : dA = B^T dC^T, dB = dC^T A^T */
static void backward_matmul(kn_graph *g, kn_tensor *t, kn_tensor *dc) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    bool ta = t->iparam[0], tb = t->iparam[1];
    if (a->flags & KN_FLAG_NEEDS_GRAD) {
        kn_tensor *da = !ta ? kn_matmul_t(g, dc, b, false, !tb) : kn_matmul_t(g, b, dc, tb, true);
        kn__grad_accumulate(g, a, da);
    }
    if (b->flags & KN_FLAG_NEEDS_GRAD) {
        kn_tensor *db = !tb ? kn_matmul_t(g, a, dc, !ta, false) : kn_matmul_t(g, dc, a, true, ta);
        kn__grad_accumulate(g, b, db);
    }
}

/* ------------------------------------------------------------- binary elementwise */

kn_bcast kn__bcast(const kn_tensor *a, const kn_tensor *b) {
    if (kn__same_shape(a, b)) return BCAST_SAME;
    /* a one-element operand is a scalar, whatever a's rank (a row of one would unbroadcast
     * a 1-D gradient wrongly) */
    if (b->ndim == 0 || (b->ndim == 1 && b->shape[0] == 1)) return BCAST_SCALAR;
    return BCAST_ROW;
}

static bool infer_binary(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    char sa[64], sb[64];
    if (!need_f32(g, t, a, "input") || !need_f32(g, t, b, "input")) return false;
    bool ok = kn__same_shape(a, b) || b->ndim == 0 || (b->ndim == 1 && b->shape[0] == 1) ||
              (b->ndim == 1 && a->ndim >= 1 && b->shape[0] == a->shape[a->ndim - 1] && b->shape[0] != KN_BATCH);
    if (!ok)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", t->name,
                              kn__shape_str(a, sa, sizeof sa), kn__shape_str(b, sb, sizeof sb));
    set_shape(t, a->ndim, a->shape);
    return true;
}

/* Reduces a gradient of a's shape to b's shape, undoing the broadcast. */
static kn_tensor *unbroadcast(kn_graph *g, kn_tensor *d, kn_tensor *a, kn_tensor *b) {
    switch (kn__bcast(a, b)) {
    case BCAST_SAME: return d;
    case BCAST_ROW: return kn_sum_rows(g, d); /* any rank: rows of the last dimension */
    case BCAST_SCALAR: return kn__sum(g, d);
    }
    return NULL;
}

static void backward_add(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    if (a->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, a, dy);
    if (b->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, b, unbroadcast(g, dy, a, b));
}

static void backward_sub(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    if (a->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, a, dy);
    if (b->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, b, kn_scale(g, unbroadcast(g, dy, a, b), -1.0f));
}

static void backward_mul(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    if (a->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, a, kn_mul(g, dy, b));
    if (b->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, b, unbroadcast(g, kn_mul(g, dy, a), a, b));
}

/* ------------------------------------------------------------- unary */

static bool infer_same(kn_graph *g, kn_tensor *t) {
    if (!need_f32(g, t, t->src[0], "input")) return false;
    set_shape(t, t->src[0]->ndim, t->src[0]->shape);
    return true;
}

static void backward_scale(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], kn_scale(g, dy, t->fparam[0]));
}

static void backward_copy(kn_graph *g, kn_tensor *t, kn_tensor *dy) { kn__grad_accumulate(g, t->src[0], dy); }

static bool infer_act(kn_graph *g, kn_tensor *t) {
    if (!infer_same(g, t)) return false;
    if (t->iparam[0] == KN_SOFTMAX && t->ndim < 1)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: softmax needs at least one dimension", t->name);
    return true;
}

static void backward_act(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], kn__act_grad(g, dy, t));
}

static bool infer_act_grad(kn_graph *g, kn_tensor *t) {
    char sa[64], sb[64];
    if (!kn__same_shape(t->src[0], t->src[1]))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s and value %s differ", t->name,
                              kn__shape_str(t->src[0], sa, sizeof sa), kn__shape_str(t->src[1], sb, sizeof sb));
    return infer_same(g, t);
}

/* ------------------------------------------------------------- reductions */

static bool infer_sum_rows(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    char sx[64];
    if (!need_f32(g, t, x, "input")) return false;
    if (x->ndim < 1 || x->shape[x->ndim - 1] == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: cannot sum rows of %s", t->name, kn__shape_str(x, sx, sizeof sx));
    set_shape(t, 1, &x->shape[x->ndim - 1]);
    return true;
}

/* d sum_rows: every row of dx is dy (an ADD of dy onto zeros of x's shape). */
static void backward_sum_rows(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0];
    kn__grad_accumulate(g, x, kn_add(g, kn_scale(g, x, 0.0f), dy));
}

static bool infer_scalar(kn_graph *g, kn_tensor *t) {
    if (!need_f32(g, t, t->src[0], "input")) return false;
    t->ndim = 0;
    return true;
}

static void backward_sum(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0];
    kn__grad_accumulate(g, x, kn_add(g, kn_scale(g, x, 0.0f), dy));
}

static void backward_sum_squares(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0];
    kn__grad_accumulate(g, x, kn_mul(g, x, kn_scale(g, dy, 2.0f)));
}

/* ------------------------------------------------------------- losses */

static bool infer_loss(kn_graph *g, kn_tensor *t) {
    kn_tensor *p = t->src[0], *y = t->src[1];
    char sp[64], sy[64];
    kn_loss loss = (kn_loss)t->iparam[0];
    if (!need_f32(g, t, p, "prediction")) return false;
    if (p->ndim != 2)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: predictions must be (batch, outputs), got %s", t->name,
                              kn__shape_str(p, sp, sizeof sp));
    kn_loss_params lp = kn__loss_node_params(t);
    if (lp.ls != 0 && !kn__loss_is_cross_entropy(loss))
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: label smoothing applies to the cross-entropy losses only",
                              t->name);
    if (!(lp.ls >= 0 && lp.ls <= 1))
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: label smoothing must be in [0, 1], got %g", t->name, lp.ls);
    if (!kn__loss_is_focal(loss) && (lp.gamma != 0 || lp.alpha != 0 || lp.balance))
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: focal_gamma, focal_alpha and apply_class_balancing apply "
                              "to the focal losses only", t->name);
    if (!(lp.gamma >= 0 && lp.gamma <= 1e3f))
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: focal_gamma must be in [0, 1000], got %g", t->name, lp.gamma);
    if (t->fparam[3] != 0 && loss != KN_LOSS_HUBER)
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: huber_delta applies to the huber loss only", t->name);
    if (!(t->fparam[3] >= 0 && t->fparam[3] <= 1e6f))
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: huber_delta must be in (0, 1e6], got %g", t->name,
                              t->fparam[3]);
    if (!(lp.alpha >= 0 && lp.alpha <= 1))
        return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: focal_alpha must be in [0, 1], got %g", t->name, lp.alpha);
    if (loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
        if (y->dtype != KN_I32 || y->ndim != 1 || y->shape[0] != p->shape[0])
            return kn__graph_fail(g, KN_ERR_SHAPE,
                                  "%s: labels must be I32 of shape (batch) for predictions %s, got %s %s",
                                  t->name, kn__shape_str(p, sp, sizeof sp), kn_dtype_name(y->dtype),
                                  kn__shape_str(y, sy, sizeof sy));
    } else if (y->dtype != KN_F32 || !kn__same_shape(p, y)) {
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: targets must be F32 of the predictions' shape %s, got %s %s",
                              t->name, kn__shape_str(p, sp, sizeof sp), kn_dtype_name(y->dtype),
                              kn__shape_str(y, sy, sizeof sy));
    }
    kn_tensor *w = t->src[2];
    if (w && (w->dtype != KN_F32 || w->ndim != 1 || w->shape[0] != p->shape[0]))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: sample weights must be F32 of shape (batch) for predictions %s, got %s %s",
                              t->name, kn__shape_str(p, sp, sizeof sp), kn_dtype_name(w->dtype),
                              kn__shape_str(w, sy, sizeof sy));
    t->ndim = 0;
    return true;
}

static void backward_loss(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], kn__loss_grad(g, t, dy));
}

static bool infer_loss_grad(kn_graph *g, kn_tensor *t) {
    (void)g;
    set_shape(t, t->src[0]->ndim, t->src[0]->shape);
    return true;
}

static bool infer_optimizer(kn_graph *g, kn_tensor *t) { (void)g; t->ndim = 0; return true; }

/* ------------------------------------------------------------- transpose, reshape */

static bool infer_transpose(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    char sx[64];
    if (!need_f32(g, t, x, "input")) return false;
    if (x->ndim != 2 || x->shape[1] == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: transposes matrices, got %s", t->name, kn__shape_str(x, sx, sizeof sx));
    if (x->shape[0] == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: the batch dimension can only lead", t->name);
    set_shape(t, 2, (int64_t[]){x->shape[1], x->shape[0]});
    return true;
}

static void backward_transpose(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], kn_transpose(g, dy));
}

/* Element count of a shape with the batch dimension as 1 (and whether it has one). */
static int64_t fixed_count(const kn_tensor *t, bool *batched) {
    int64_t n = kn__batch_rows(t);
    *batched = false;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == KN_BATCH) *batched = true;
        else n *= t->shape[i];
    }
    return n;
}

static bool infer_reshape(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    char sx[64], st[64];
    bool bx, bt;
    int64_t nx = fixed_count(x, &bx), nt = fixed_count(t, &bt);
    if (bx != bt || nx != nt || (bt && (t->shape[0] != KN_BATCH || x->shape[0] != KN_BATCH)))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: cannot view %s as %s", t->name, kn__shape_str(x, sx, sizeof sx),
                              kn__shape_str(t, st, sizeof st));
    t->dtype = x->dtype;
    return true;
}

static void backward_reshape(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0];
    kn__grad_accumulate(g, x, kn__reshape_rows(g, dy, x->shape, x->ndim, x->batch_rows));
}

/* ------------------------------------------------------------- convolution, pooling (NHWC) */

/* Images (batch, H, W, C); their batch may be batch * rows (a volume's (batch * D, H, W, C):
 * nn/model_volume.c), the windows then over each of those images, and the output's batch
 * as the input's. */
static bool need_image(kn_graph *g, kn_tensor *t, kn_tensor *x) {
    char sx[64];
    if (!need_f32(g, t, x, "input")) return false;
    if (x->ndim != 4)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: expects images (batch, height, width, channels), got %s", t->name,
                              kn__shape_str(x, sx, sizeof sx));
    return true;
}

/* kernel (KH*KW*C/G, F) for a window over c channels in G groups (t's), G dividing c and F. */
static bool check_conv_kernel(kn_graph *g, kn_tensor *t, const kn_tensor *k, int64_t c) {
    char sk[64];
    kn__win w = kn__win_unpack(t);
    int64_t G = kn__conv_groups(t), cg = c / G;
    if (k->dtype != KN_F32 || k->ndim != 2 || c % G != 0 || k->shape[0] != (int64_t)w.kh * w.kw * cg ||
        k->shape[1] == KN_BATCH || k->shape[1] % G != 0)
        return kn__graph_fail(g, KN_ERR_SHAPE,
                              "%s: kernel '%s' %s must be (%lld, a multiple of %lld) for a %dx%d window over %lld "
                              "channels in %lld groups",
                              t->name, k->name, kn__shape_str(k, sk, sizeof sk), (long long)w.kh * w.kw * cg,
                              (long long)G, w.kh, w.kw, (long long)c, (long long)G);
    return true;
}

static bool infer_conv2d(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0], *k = t->src[1];
    if (!need_image(g, t, x) || !check_conv_kernel(g, t, k, x->shape[3])) return false;
    kn__win w = kn__win_unpack(t);
    set_shape(t, 4, (int64_t[]){x->shape[0], w.oh, w.ow, k->shape[1]});
    t->batch_rows = kn__batch_rows(x);
    return true;
}

/* Built before the passes, so with neither bias nor activation in the node yet. */
static void backward_conv2d(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0], *k = t->src[1];
    kn__win w = kn__win_unpack(t);
    int G = (int)kn__conv_groups(t);
    if (x->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, x, kn__conv2d_grad_input(g, dy, k, &w, x->shape, G));
    if (k->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, k, kn__conv2d_grad_kernel(g, x, dy, &w, k, G));
}

/* dy (N, OH, OW, F) of a convolution over images of t's shape (dx: its rows dy's) or x's (d
 * kernel: rows x's rows, which dy's must match; -1 for dx). */
static bool check_conv_dy(kn_graph *g, kn_tensor *t, const kn_tensor *dy, const int64_t *image, int64_t rows,
                          int64_t filters) {
    char sd[64];
    kn__win w = kn__win_unpack(t);
    if (!need_f32(g, t, (kn_tensor *)dy, "gradient")) return false;
    if (dy->ndim != 4 || dy->shape[0] != image[0] || (rows >= 0 && kn__batch_rows(dy) != rows) || dy->shape[1] != w.oh ||
        dy->shape[2] != w.ow || dy->shape[3] != filters)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s does not fit a %dx%d convolution to (%d, %d, %lld)",
                              t->name, kn__shape_str(dy, sd, sizeof sd), w.kh, w.kw, w.oh, w.ow, (long long)filters);
    return true;
}

/* The shape is the builder's (the image's). */
static bool infer_conv2d_grad_input(kn_graph *g, kn_tensor *t) {
    kn_tensor *dy = t->src[0], *k = t->src[1];
    return check_conv_kernel(g, t, k, t->shape[3]) && check_conv_dy(g, t, dy, t->shape, -1, k->shape[1]);
}

/* The shape is the builder's (the kernel's). */
static bool infer_conv2d_grad_kernel(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0], *dy = t->src[1];
    if (!need_image(g, t, x) || !check_conv_kernel(g, t, t, x->shape[3])) return false;
    return check_conv_dy(g, t, dy, x->shape, kn__batch_rows(x), t->shape[1]);
}

static bool infer_pool(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    if (!need_image(g, t, x)) return false;
    kn__win w = kn__win_unpack(t);
    set_shape(t, 4, (int64_t[]){x->shape[0], w.oh, w.ow, x->shape[3]});
    return true;
}

/* A pooling gradient: dy (N, OH, OW, C) against the image shape dx has (its rows: rows, or
 * dy's when -1). */
static bool check_pool_dy(kn_graph *g, kn_tensor *t, kn_tensor *dy, int64_t rows) {
    char sd[64], st[64];
    kn__win w = kn__win_unpack(t);
    if (!need_f32(g, t, dy, "gradient")) return false;
    if (dy->ndim != 4 || dy->shape[0] != t->shape[0] || (rows >= 0 && kn__batch_rows(dy) != rows) || dy->shape[1] != w.oh ||
        dy->shape[2] != w.ow || dy->shape[3] != t->shape[3])
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s does not fit a pooling of %s", t->name,
                              kn__shape_str(dy, sd, sizeof sd), kn__shape_str(t, st, sizeof st));
    return true;
}

static bool infer_maxpool_grad(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[1];
    if (!need_image(g, t, x)) return false;
    set_shape(t, 4, x->shape);
    t->batch_rows = kn__batch_rows(x);
    return check_pool_dy(g, t, t->src[0], t->batch_rows);
}

static void backward_maxpool(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__win w = kn__win_unpack(t);
    kn__grad_accumulate(g, t->src[0], kn__maxpool2d_grad(g, dy, t->src[0], &w));
}

static bool infer_avgpool_grad(kn_graph *g, kn_tensor *t) { return check_pool_dy(g, t, t->src[0], -1); }

static void backward_avgpool(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__win w = kn__win_unpack(t);
    kn__grad_accumulate(g, t->src[0], kn__avgpool2d_grad(g, dy, &w, t->src[0]->shape));
}

/* ------------------------------------------------------------- dropout */

/* dx = dy * mask / (1 - rate): a dropout of dy with the forward's key (the mask is drawn
 * again, not stored; backward runs in the same training step as its forward). */
static void backward_dropout(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], kn__dropout_keyed(g, dy, t->fparam[0], t->iparam[0], t->iparam[1], t->iparam[2]));
}

/* ------------------------------------------------------------- batch normalization */

static bool infer_batch_norm(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    char sx[64], sm[64];
    if (!need_f32(g, t, x, "input")) return false;
    if (x->ndim < 1 || x->shape[x->ndim - 1] == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: needs a channel (last) dimension, got %s", t->name,
                              kn__shape_str(x, sx, sizeof sx));
    for (int s = 1; s < 3; s++) {
        kn_tensor *m = t->src[s];
        if (m->dtype != KN_F32 || m->ndim != 1 || m->shape[0] != x->shape[x->ndim - 1])
            return kn__graph_fail(g, KN_ERR_SHAPE, "%s: moving %s %s does not match the channels of %s", t->name,
                                  s == 1 ? "mean" : "variance", kn__shape_str(m, sm, sizeof sm),
                                  kn__shape_str(x, sx, sizeof sx));
    }
    set_shape(t, x->ndim, x->shape);
    return true;
}

/* Only x gets a gradient: the moving statistics are state, not trained. */
static void backward_batch_norm(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn__grad_accumulate(g, t->src[0], kn__batch_norm_grad(g, dy, t));
}

static bool infer_batch_norm_grad(kn_graph *g, kn_tensor *t) {
    char sa[64], sb[64];
    if (!kn__same_shape(t->src[0], t->src[1]))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s and value %s differ", t->name,
                              kn__shape_str(t->src[0], sa, sizeof sa), kn__shape_str(t->src[1], sb, sizeof sb));
    return infer_same(g, t);
}

/* ------------------------------------------------------------- layer normalization */

/* x's last dimension (the channels), not the batch; gamma and beta (when given) of it. */
static bool check_channels(kn_graph *g, kn_tensor *t, kn_tensor *x, int first_param) {
    char sx[64], sp[64];
    if (!need_f32(g, t, x, "input")) return false;
    if (x->ndim < 1 || x->shape[x->ndim - 1] == KN_BATCH)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: needs a channel (last) dimension, got %s", t->name,
                              kn__shape_str(x, sx, sizeof sx));
    for (int s = first_param; s < 3; s++) {
        kn_tensor *p = t->src[s];
        if (p && (p->dtype != KN_F32 || p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1]))
            return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s '%s' %s does not match the channels of %s", t->name,
                                  s == first_param ? "gamma" : "beta", p->name, kn__shape_str(p, sp, sizeof sp),
                                  kn__shape_str(x, sx, sizeof sx));
    }
    return true;
}

static bool infer_layer_norm(kn_graph *g, kn_tensor *t) {
    if (!check_channels(g, t, t->src[0], 1)) return false;
    set_shape(t, t->src[0]->ndim, t->src[0]->shape);
    return true;
}

/* x's gradient through the row statistics, gamma's from dy * xhat, beta's the column sums
 * of dy (as a bias's); each only where it is wanted. */
static void backward_layer_norm(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *x = t->src[0], *gamma = t->src[1], *beta = t->src[2];
    if (x->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, x, kn__layer_norm_grad(g, dy, t));
    if (gamma && (gamma->flags & KN_FLAG_NEEDS_GRAD)) kn__grad_accumulate(g, gamma, kn__layer_norm_gamma_grad(g, dy, t));
    if (beta && (beta->flags & KN_FLAG_NEEDS_GRAD)) kn__grad_accumulate(g, beta, kn_sum_rows(g, dy));
}

/* (dy, x[, gamma]) -> dx of x's shape, or (dy, x) -> gamma's (channels). */
static bool infer_layer_norm_grads(kn_graph *g, kn_tensor *t) {
    kn_tensor *dy = t->src[0], *x = t->src[1];
    char sa[64], sb[64];
    if (!need_f32(g, t, dy, "gradient") || !check_channels(g, t, x, 2)) return false;
    if (!kn__same_shape(dy, x))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s and value %s differ", t->name,
                              kn__shape_str(dy, sa, sizeof sa), kn__shape_str(x, sb, sizeof sb));
    if (t->op == KN_OP_LAYER_NORM_GRAD) set_shape(t, x->ndim, x->shape);
    else set_shape(t, 1, &x->shape[x->ndim - 1]);
    return true;
}

/* ------------------------------------------------------------- concat, slice, maximum */

static int64_t rows_of(const kn_tensor *t) { return t->batch_rows ? t->batch_rows : 1; }

/* (..., n) (..., m) -> (..., n + m): every dimension but the last equal (the batch's rows too). */
static bool infer_concat(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    char sa[64], sb[64];
    if (!need_f32(g, t, a, "input") || !need_f32(g, t, b, "input")) return false;
    bool ok = a->ndim == b->ndim && a->ndim >= 1 && a->shape[a->ndim - 1] != KN_BATCH && b->shape[b->ndim - 1] != KN_BATCH;
    for (int d = 0; ok && d < a->ndim - 1; d++) ok = a->shape[d] == b->shape[d];
    if (ok && a->ndim && a->shape[0] == KN_BATCH) ok = rows_of(a) == rows_of(b);
    if (!ok)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: cannot join %s and %s along the last axis", t->name,
                              kn__shape_str(a, sa, sizeof sa), kn__shape_str(b, sb, sizeof sb));
    set_shape(t, a->ndim, a->shape);
    t->shape[t->ndim - 1] = a->shape[a->ndim - 1] + b->shape[b->ndim - 1];
    return true;
}

/* The gradient of a join: dy's columns each side took. */
static void backward_concat(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    int64_t na = a->shape[a->ndim - 1], nb = b->shape[b->ndim - 1];
    if (a->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, a, kn__slice_last(g, dy, 0, na));
    if (b->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, b, kn__slice_last(g, dy, na, nb));
}

static bool infer_slice(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    char sx[64];
    if (!need_f32(g, t, x, "input")) return false;
    int64_t off = t->iparam[0], w = t->iparam[1], n = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (x->ndim < 1 || n == KN_BATCH || off < 0 || w < 1 || off + w > n)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: columns [%lld, %lld) of %s", t->name, (long long)off,
                              (long long)(off + w), kn__shape_str(x, sx, sizeof sx));
    set_shape(t, x->ndim, x->shape);
    t->shape[t->ndim - 1] = w;
    return true;
}

static bool infer_maximum(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    char sa[64], sb[64];
    if (!need_f32(g, t, a, "input") || !need_f32(g, t, b, "input")) return false;
    if (!kn__same_shape(a, b) || (a->ndim && a->shape[0] == KN_BATCH && rows_of(a) != rows_of(b)))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: shapes %s and %s differ", t->name, kn__shape_str(a, sa, sizeof sa),
                              kn__shape_str(b, sb, sizeof sb));
    set_shape(t, a->ndim, a->shape);
    return true;
}

static void backward_maximum(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    if (a->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, a, kn__maximum_grad(g, dy, a, b, 0));
    if (b->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, b, kn__maximum_grad(g, dy, a, b, 1));
}

static bool infer_maximum_grad(kn_graph *g, kn_tensor *t) {
    kn_tensor *dy = t->src[0], *a = t->src[1], *b = t->src[2];
    char sa[64], sb[64];
    if (!need_f32(g, t, dy, "gradient")) return false;
    if (!kn__same_shape(dy, a) || !kn__same_shape(a, b))
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s and values %s differ", t->name,
                              kn__shape_str(dy, sa, sizeof sa), kn__shape_str(a, sb, sizeof sb));
    set_shape(t, a->ndim, a->shape);
    return true;
}

/* Fused ops get their shapes from the pass that makes them. */
static bool infer_fused(kn_graph *g, kn_tensor *t) { (void)g; (void)t; return true; }

/* ------------------------------------------------------------- the table */

static const kn_op_info op_table[] = {
    [KN_OP_INPUT] = {"input", 0, infer_leaf, NULL, NULL, NULL},
    [KN_OP_PARAM] = {"param", 0, infer_leaf, NULL, NULL, NULL},
    [KN_OP_CONST] = {"const", 0, infer_leaf, NULL, NULL, NULL},
    [KN_OP_MATMUL] = {"matmul", 2, infer_matmul, backward_matmul, kn__cpu_matmul, kn__cpu_q8_scratch},
    [KN_OP_ADD] = {"add", 2, infer_binary, backward_add, kn__cpu_add, NULL},
    [KN_OP_SUB] = {"sub", 2, infer_binary, backward_sub, kn__cpu_sub, NULL},
    [KN_OP_MUL] = {"mul", 2, infer_binary, backward_mul, kn__cpu_mul, NULL},
    [KN_OP_SCALE] = {"scale", 1, infer_same, backward_scale, kn__cpu_scale, NULL},
    [KN_OP_COPY] = {"copy", 1, infer_same, backward_copy, kn__cpu_copy, NULL},
    [KN_OP_ACT] = {"act", 1, infer_act, backward_act, kn__cpu_act, NULL},
    [KN_OP_ACT_GRAD] = {"act_grad", 2, infer_act_grad, NULL, kn__cpu_act_grad, NULL},
    [KN_OP_SUM_ROWS] = {"sum_rows", 1, infer_sum_rows, backward_sum_rows, kn__cpu_sum_rows, kn__cpu_sum_rows_scratch},
    [KN_OP_SUM] = {"sum", 1, infer_scalar, backward_sum, kn__cpu_sum, NULL},
    [KN_OP_SUM_SQUARES] = {"sum_squares", 1, infer_scalar, backward_sum_squares, kn__cpu_sum_squares, NULL},
    [KN_OP_LOSS] = {"loss", 2, infer_loss, backward_loss, kn__cpu_loss, NULL},
    [KN_OP_LOSS_GRAD] = {"loss_grad", 3, infer_loss_grad, NULL, kn__cpu_loss_grad, NULL},
    [KN_OP_OPTIMIZER] = {"optimizer", 0, infer_optimizer, NULL, kn__cpu_optimizer, NULL},
    [KN_OP_TRANSPOSE] = {"transpose", 1, infer_transpose, backward_transpose, kn__cpu_transpose, NULL},
    [KN_OP_RESHAPE] = {"reshape", 1, infer_reshape, backward_reshape, NULL, NULL},
    [KN_OP_CONV2D] = {"conv2d", 2, infer_conv2d, backward_conv2d, kn__cpu_conv2d, kn__cpu_conv2d_scratch},
    [KN_OP_CONV2D_GRAD_INPUT] = {"conv2d_grad_input", 2, infer_conv2d_grad_input, kn__backward_conv2d_grad_input,
                                 kn__cpu_conv2d_grad_input, kn__cpu_conv2d_grad_input_scratch},
    [KN_OP_CONV2D_GRAD_KERNEL] = {"conv2d_grad_kernel", 2, infer_conv2d_grad_kernel, NULL, kn__cpu_conv2d_grad_kernel,
                                  kn__cpu_conv2d_grad_kernel_scratch},
    [KN_OP_MAXPOOL2D] = {"max_pool2d", 1, infer_pool, backward_maxpool, kn__cpu_maxpool2d, kn__cpu_pool2d_scratch},
    [KN_OP_MAXPOOL2D_GRAD] = {"max_pool2d_grad", 2, infer_maxpool_grad, NULL, kn__cpu_maxpool2d_grad,
                             kn__cpu_maxpool2d_grad_scratch},
    [KN_OP_AVGPOOL2D] = {"avg_pool2d", 1, infer_pool, backward_avgpool, kn__cpu_avgpool2d, kn__cpu_pool2d_scratch},
    [KN_OP_AVGPOOL2D_GRAD] = {"avg_pool2d_grad", 1, infer_avgpool_grad, NULL, kn__cpu_avgpool2d_grad,
                             kn__cpu_avgpool2d_grad_scratch},
    [KN_OP_DROPOUT] = {"dropout", 1, infer_same, backward_dropout, kn__cpu_dropout, NULL},
    [KN_OP_BATCH_NORM] = {"batch_norm", 3, infer_batch_norm, backward_batch_norm, kn__cpu_batch_norm,
                          kn__cpu_batch_norm_scratch},
    [KN_OP_BATCH_NORM_GRAD] = {"batch_norm_grad", 2, infer_batch_norm_grad, NULL, kn__cpu_batch_norm_grad,
                               kn__cpu_batch_norm_grad_scratch},
    [KN_OP_LAYER_NORM] = {"layer_norm", 1, infer_layer_norm, backward_layer_norm, kn__cpu_layer_norm, NULL},
    [KN_OP_LAYER_NORM_GRAD] = {"layer_norm_grad", 2, infer_layer_norm_grads, NULL, kn__cpu_layer_norm_grad, NULL},
    [KN_OP_LAYER_NORM_GAMMA_GRAD] = {"layer_norm_gamma_grad", 2, infer_layer_norm_grads, NULL,
                                     kn__cpu_layer_norm_gamma_grad, kn__cpu_layer_norm_gamma_grad_scratch},
    [KN_OP_DENSE] = {"dense", 2, infer_fused, NULL, kn__cpu_dense, kn__cpu_q8_scratch},
    [KN_OP_MATMUL_ACT_GRAD] = {"matmul_act_grad", 3, infer_fused, NULL, kn__cpu_matmul_act_grad, NULL},
    [KN_OP_ELEMENTWISE] = {"elementwise", 1, infer_fused, NULL, kn__cpu_elementwise, NULL},
    [KN_OP_OPT_UPDATE] = {"update", 2, infer_optimizer, NULL, kn__cpu_opt_update, NULL},
    [KN_OP_GRAD_NORM] = {"grad_norm", 0, infer_optimizer, NULL, kn__cpu_grad_norm, NULL},
    [KN_OP_BATCH_NORM_FOLD] = {"batch_norm_fold", 2, infer_same, NULL, kn__cpu_batch_norm_fold, NULL},
    [KN_OP_CONCAT] = {"concat", 2, infer_concat, backward_concat, kn__cpu_concat, NULL},
    [KN_OP_SLICE] = {"slice", 1, infer_slice, kn__backward_slice, kn__cpu_slice, NULL},
    [KN_OP_MAXIMUM] = {"maximum", 2, infer_maximum, backward_maximum, kn__cpu_maximum, NULL},
    [KN_OP_MAXIMUM_GRAD] = {"maximum_grad", 3, infer_maximum_grad, NULL, kn__cpu_maximum_grad, NULL},
    [KN_OP_SLICE_GRAD] = {"slice_grad", 1, kn__infer_slice_grad, NULL, kn__cpu_slice_grad, NULL},
    [KN_OP_RNN] = {"rnn", 2, kn__infer_rnn, kn__backward_rnn, kn__cpu_rnn, NULL}, /* src[2]: optional */
    /* src[3], the RNN node, is set by its builder (kn__node takes three) */
    [KN_OP_RNN_GRAD] = {"rnn_grad", 3, kn__infer_rnn_grad, NULL, kn__cpu_rnn_grad, kn__cpu_rnn_grad_scratch},
    /* an embedding lookup and its scatter-add gradient (graph/embedding.c, backend/cpu/embedding.c) */
    [KN_OP_GATHER] = {"gather", 2, kn__infer_gather, kn__backward_gather, kn__cpu_gather, NULL},
    [KN_OP_GATHER_GRAD] = {"gather_grad", 2, kn__infer_gather_grad, NULL, kn__cpu_gather_grad, NULL},
    /* attention over heads (graph/ops_attention.c, backend/cpu/attention.c) */
    [KN_OP_ATTENTION] = {"attention", 3, kn__infer_attention, kn__backward_attention, kn__cpu_attention,
                         kn__cpu_attention_scratch},
    /* src[3], V, is set by the backward builder (kn__node takes three) */
    [KN_OP_ATTENTION_GRAD] = {"attention_grad", 3, kn__infer_attention_grad, NULL, kn__cpu_attention_grad,
                              kn__cpu_attention_grad_scratch},
    /* a mean over the steps a mask keeps (graph/ops_mask.c, backend/cpu/masked_mean.c) */
    [KN_OP_PERMUTE] = {"permute", 1, kn__infer_permute, kn__backward_permute, kn__cpu_permute, NULL},
    [KN_OP_GROUP_NORM] = {"group_norm", 1, kn__infer_group_norm, kn__backward_group_norm, kn__cpu_group_norm,
                          kn__cpu_group_norm_scratch},
    [KN_OP_GROUP_NORM_GRAD] = {"group_norm_grad", 2, kn__infer_group_norm_grads, NULL, kn__cpu_group_norm_grad,
                               kn__cpu_group_norm_scratch},
    [KN_OP_GROUP_NORM_GAMMA_GRAD] = {"group_norm_gamma_grad", 2, kn__infer_group_norm_grads, NULL,
                                     kn__cpu_group_norm_gamma_grad, kn__cpu_group_norm_scratch},
    [KN_OP_BCAST_BINARY] = {"bcast_binary", 2, kn__infer_bcast_binary, kn__backward_bcast_binary, kn__cpu_bcast_binary,
                            NULL},
    [KN_OP_BCAST_REDUCE] = {"bcast_reduce", 1, kn__infer_bcast_reduce, NULL, kn__cpu_bcast_reduce, NULL},
    [KN_OP_MASKED_MEAN] = {"masked_mean", 2, kn__infer_masked_mean, kn__backward_masked_mean, kn__cpu_masked_mean, NULL},
    [KN_OP_MASKED_MEAN_GRAD] = {"masked_mean_grad", 2, kn__infer_masked_mean_grad, NULL, kn__cpu_masked_mean_grad, NULL},
    [KN_OP_MASK_VALUES] = {"mask_values", 1, kn__infer_mask_values, NULL, kn__cpu_mask_values, NULL},
    [KN_OP_UNIT_NORM] = {"unit_norm", 1, kn__infer_unit_norm, kn__backward_unit_norm, kn__cpu_unit_norm, NULL},
    [KN_OP_UNIT_NORM_GRAD] = {"unit_norm_grad", 2, kn__infer_unit_norm, NULL, kn__cpu_unit_norm_grad, NULL},
    /* Gaussian noise, Gaussian and alpha dropout (graph/ops_noise.c, backend/cpu/noise.c) */
    [KN_OP_NOISE] = {"noise", 1, kn__infer_noise, kn__backward_noise, kn__cpu_noise, NULL},
    /* depthwise convolution (graph/ops_depthwise.c, backend/cpu/depthwise.c) */
    [KN_OP_DEPTHWISE_CONV2D] = {"depthwise_conv2d", 2, kn__infer_depthwise, kn__backward_depthwise,
                                kn__cpu_depthwise_conv2d, NULL},
    [KN_OP_DEPTHWISE_CONV2D_GRAD_INPUT] = {"depthwise_conv2d_grad_input", 2, kn__infer_depthwise_grad_input, NULL,
                                           kn__cpu_depthwise_conv2d_grad_input, NULL},
    [KN_OP_DEPTHWISE_CONV2D_GRAD_KERNEL] = {"depthwise_conv2d_grad_kernel", 2, kn__infer_depthwise_grad_kernel, NULL,
                                            kn__cpu_depthwise_conv2d_grad_kernel,
                                            kn__cpu_depthwise_conv2d_grad_kernel_scratch},
    /* padding and cropping, upsampling (graph/ops_resize.c, backend/cpu/resize.c) */
    [KN_OP_PAD2D] = {"pad2d", 1, kn__infer_pad2d, kn__backward_pad2d, kn__cpu_pad2d, NULL},
    [KN_OP_UPSAMPLE2D] = {"upsample2d", 1, kn__infer_upsample2d, kn__backward_upsample2d, kn__cpu_upsample2d, NULL},
    [KN_OP_UPSAMPLE2D_GRAD] = {"upsample2d_grad", 1, kn__infer_upsample2d_grad, NULL, kn__cpu_upsample2d_grad, NULL},
    [KN_OP_RESIZE2D] = {"resize2d", 1, kn__infer_resize2d, kn__backward_resize2d, kn__cpu_resize2d, NULL},
    [KN_OP_RESIZE2D_GRAD] = {"resize2d_grad", 1, kn__infer_resize2d_grad, NULL, kn__cpu_resize2d_grad, NULL},
    /* Keras 3's random image augmentation (graph/ops_random_aug.c, backend/cpu/random_aug.c) */
    [KN_OP_RANDOM_AFFINE] = {"random_affine", 1, kn__infer_random_image, kn__backward_random_affine,
                             kn__cpu_random_affine, NULL},
    [KN_OP_RANDOM_AFFINE_GRAD] = {"random_affine_grad", 1, kn__infer_random_image, NULL, kn__cpu_random_affine_grad,
                                  NULL},
    [KN_OP_RANDOM_COLOR] = {"random_color", 1, kn__infer_random_image, kn__backward_random_color, kn__cpu_random_color,
                            NULL},
    [KN_OP_RANDOM_COLOR_GRAD] = {"random_color_grad", 2, kn__infer_random_image, NULL, kn__cpu_random_color_grad,
                                 NULL},
    [KN_OP_DEPTH_TAPS] = {"depth_taps", 1, kn__infer_depth_taps, kn__backward_depth_taps, kn__cpu_depth_taps, NULL},
    [KN_OP_DEPTH_TAPS_GRAD] = {"depth_taps_grad", 1, kn__infer_depth_taps_grad, kn__backward_depth_taps_sum,
                               kn__cpu_depth_taps, NULL},
};
_Static_assert(sizeof op_table / sizeof op_table[0] == KN_OP_COUNT, "op table out of step with kn_op");

const kn_op_info *kn__op_info(kn_op op) { return &op_table[op]; }
