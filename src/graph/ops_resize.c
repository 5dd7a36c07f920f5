/* ops_resize.c — spatial resizing of images and sequences (Keras's ZeroPadding1D/2D,
 * Cropping1D/2D, UpSampling1D/2D and Resizing): the public builders, and the op table's shape
 * inference and backward for graph.h's KN_OP_PAD2D, KN_OP_UPSAMPLE2D, KN_OP_RESIZE2D and their
 * gradients.
 *
 * Padding and cropping are one op: y[oy, ox] = x[oy - top, ox - left] inside x, zeros
 * elsewhere, each amount signed (negative crops). Its adjoint is the same op with the amounts
 * negated, so one kernel a backend serves both directions. Upsampling is nearest (each cell
 * repeated) or bilinear (backend/resize_formulas.h); its gradient is its own op, a gather.
 * Resizing to any size is its own op (half-pixel centers, the scale in / out as a float), its
 * gradient a gather likewise.
 * Sequences (batch, L, C) run as the 2-D ops over the (batch, 1, L, C) view. f32 only (no
 * half_support.c lists them, so the precision pass keeps their tensors f32); never fused.
 * The kernels are backend/cpu/resize.c's and backend/cuda/kernels_resize.cu's. */
#include "graph.h"

/* Amounts and factors the builders take (kiln.h): the sizes they make stay far inside int32
 * and bilinear's float source positions exact to well under a cell. */
#define KN_PAD_MAX (1 << 24)
#define KN_UPSAMPLE_MAX 4096
#define KN_BILINEAR_AXIS_MAX (1LL << 23)

/* x an F32 image (N, H, W, C), one row per batch element: else the graph fails naming op. */
static bool image_input(kn_graph *g, const char *op, const kn_tensor *x) {
    char sx[64];
    if (!x) return kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: input is NULL", op);
    if (x->dtype != KN_F32 || x->ndim != 4 || kn__batch_rows(x) != 1 || x->shape[1] == KN_BATCH ||
        x->shape[2] == KN_BATCH || x->shape[3] == KN_BATCH || x->shape[3] < 1)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: '%s' must be F32 (batch, height, width, channels), got %s %s", op,
                              x->name, kn_dtype_name(x->dtype), kn__shape_str(x, sx, sizeof sx));
    return true;
}

/* ------------------------------------------------------------- padding and cropping */

bool kn__infer_pad2d(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    if (!image_input(g, t->name, x)) return false;
    int64_t oh = x->shape[1] + t->iparam[0] + t->iparam[1], ow = x->shape[2] + t->iparam[2] + t->iparam[3];
    char sx[64];
    if (oh < 1 || ow < 1 || oh > INT32_MAX || ow > INT32_MAX)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: padding (%d, %d) rows and (%d, %d) columns of %s leaves %lld x %lld",
                              t->name, t->iparam[0], t->iparam[1], t->iparam[2], t->iparam[3],
                              kn__shape_str(x, sx, sizeof sx), (long long)oh, (long long)ow);
    t->ndim = 4;
    t->shape[0] = x->shape[0], t->shape[1] = oh, t->shape[2] = ow, t->shape[3] = x->shape[3];
    t->batch_rows = 1;
    return true;
}

static kn_tensor *pad_node(kn_graph *g, kn_tensor *x, int top, int bottom, int left, int right) {
    kn_tensor *t = kn__node(g, KN_OP_PAD2D, x, NULL, NULL);
    if (!t) return NULL;
    t->iparam[0] = top, t->iparam[1] = bottom, t->iparam[2] = left, t->iparam[3] = right;
    return kn__finish(g, t);
}

/* dx = pad(dy) with the amounts negated: dy's rows top .. top + H - 1 (columns likewise)
 * back in x's place, zeros where the forward cropped. */
void kn__backward_pad2d(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    if (!(t->src[0]->flags & KN_FLAG_NEEDS_GRAD)) return;
    kn__grad_accumulate(g, t->src[0], pad_node(g, dy, -t->iparam[0], -t->iparam[1], -t->iparam[2], -t->iparam[3]));
}

kn_tensor *kn_pad2d(kn_graph *g, kn_tensor *x, int top, int bottom, int left, int right) {
    if (!g || g->status != KN_OK) return NULL;
    if (!image_input(g, "pad2d", x)) return NULL;
    int v[4] = {top, bottom, left, right};
    for (int k = 0; k < 4; k++)
        if (v[k] < -KN_PAD_MAX || v[k] > KN_PAD_MAX) {
            kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "pad2d: amounts (%d, %d, %d, %d) must each be within +-%d", top,
                           bottom, left, right, KN_PAD_MAX);
            return NULL;
        }
    if (!top && !bottom && !left && !right) return x;
    return pad_node(g, x, top, bottom, left, right);
}

/* ------------------------------------------------------------- upsampling */

bool kn__infer_upsample2d(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    if (!image_input(g, t->name, x)) return false;
    t->ndim = 4;
    t->shape[0] = x->shape[0], t->shape[1] = x->shape[1] * t->iparam[0], t->shape[2] = x->shape[2] * t->iparam[1];
    t->shape[3] = x->shape[3];
    t->batch_rows = 1;
    return true;
}

/* A gradient node t (upsampling's or resizing's, its shape the builder's: x's): dy must be
 * (N, oh, ow, C) for t (N, H, W, C); how is the message's word for the forward op. */
static bool grad_input(kn_graph *g, const kn_tensor *t, int64_t oh, int64_t ow, const char *how) {
    const kn_tensor *dy = t->src[0];
    char sd[64], st[64];
    if (!image_input(g, t->name, dy) || !image_input(g, t->name, t)) return false;
    if (dy->shape[0] != t->shape[0] || dy->shape[1] != oh || dy->shape[2] != ow || dy->shape[3] != t->shape[3])
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s is not %s %s %d x %d", t->name,
                              kn__shape_str(dy, sd, sizeof sd), kn__shape_str(t, st, sizeof st), how, t->iparam[0],
                              t->iparam[1]);
    return true;
}

/* x's gradient through t (upsampling or resizing, x = its source) as the gather node op of
 * dy, with t's iparams and x's shape. */
static void gather_backward(kn_graph *g, kn_tensor *t, kn_tensor *dy, kn_op op) {
    kn_tensor *x = t->src[0];
    if (!(x->flags & KN_FLAG_NEEDS_GRAD)) return;
    kn_tensor *d = kn__node(g, op, dy, NULL, NULL);
    if (d) {
        for (int k = 0; k < 3; k++) d->iparam[k] = t->iparam[k];
        d->ndim = 4;
        for (int k = 0; k < 4; k++) d->shape[k] = x->shape[k];
        d->batch_rows = 1;
    }
    kn__grad_accumulate(g, x, kn__finish(g, d));
}

/* The shape is the builder's (x's); dy must be it upsampled. */
bool kn__infer_upsample2d_grad(kn_graph *g, kn_tensor *t) {
    return grad_input(g, t, t->shape[1] * t->iparam[0], t->shape[2] * t->iparam[1], "upsampled");
}

void kn__backward_upsample2d(kn_graph *g, kn_tensor *t, kn_tensor *dy) { gather_backward(g, t, dy, KN_OP_UPSAMPLE2D_GRAD); }

kn_tensor *kn_upsample2d(kn_graph *g, kn_tensor *x, int size_h, int size_w, kn_interpolation interpolation) {
    if (!g || g->status != KN_OK) return NULL;
    if (!image_input(g, "upsample2d", x)) return NULL;
    char sx[64];
    if (size_h < 1 || size_h > KN_UPSAMPLE_MAX || size_w < 1 || size_w > KN_UPSAMPLE_MAX) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "upsample2d: size %d x %d: each must be in [1, %d]", size_h, size_w,
                       KN_UPSAMPLE_MAX);
        return NULL;
    }
    if (interpolation != KN_INTERP_NEAREST && interpolation != KN_INTERP_BILINEAR) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "upsample2d: unknown interpolation %d", (int)interpolation);
        return NULL;
    }
    int64_t oh = x->shape[1] * size_h, ow = x->shape[2] * size_w;
    int64_t most = interpolation == KN_INTERP_BILINEAR ? KN_BILINEAR_AXIS_MAX : INT32_MAX;
    if (oh > most || ow > most) {
        kn__graph_fail(g, KN_ERR_SHAPE, "upsample2d: %s upsampled %d x %d is %lld x %lld (at most %lld a side%s)",
                       kn__shape_str(x, sx, sizeof sx), size_h, size_w, (long long)oh, (long long)ow, (long long)most,
                       interpolation == KN_INTERP_BILINEAR ? " for bilinear" : "");
        return NULL;
    }
    if (size_h == 1 && size_w == 1) return x;
    kn_tensor *t = kn__node(g, KN_OP_UPSAMPLE2D, x, NULL, NULL);
    if (!t) return NULL;
    t->iparam[0] = size_h, t->iparam[1] = size_w, t->iparam[2] = (int32_t)interpolation;
    return kn__finish(g, t);
}

/* ------------------------------------------------------------- resizing to any size */

bool kn__infer_resize2d(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    if (!image_input(g, t->name, x)) return false;
    t->ndim = 4;
    t->shape[0] = x->shape[0], t->shape[1] = t->iparam[0], t->shape[2] = t->iparam[1], t->shape[3] = x->shape[3];
    t->batch_rows = 1;
    return true;
}

/* The shape is the builder's (x's); dy must be it resized to iparam[0] x iparam[1]. */
bool kn__infer_resize2d_grad(kn_graph *g, kn_tensor *t) {
    return grad_input(g, t, t->iparam[0], t->iparam[1], "resized to");
}

void kn__backward_resize2d(kn_graph *g, kn_tensor *t, kn_tensor *dy) { gather_backward(g, t, dy, KN_OP_RESIZE2D_GRAD); }

kn_tensor *kn_resize2d(kn_graph *g, kn_tensor *x, int height, int width, kn_interpolation interpolation) {
    if (!g || g->status != KN_OK) return NULL;
    if (!image_input(g, "resize2d", x)) return NULL;
    char sx[64];
    if (height < 1 || height > KN_BILINEAR_AXIS_MAX || width < 1 || width > KN_BILINEAR_AXIS_MAX) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "resize2d: size %d x %d: each must be in [1, 2^23]", height, width);
        return NULL;
    }
    if (interpolation != KN_INTERP_NEAREST && interpolation != KN_INTERP_BILINEAR) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "resize2d: unknown interpolation %d", (int)interpolation);
        return NULL;
    }
    /* the float source positions stay exact to well under a cell on both sides */
    if (x->shape[1] > KN_BILINEAR_AXIS_MAX || x->shape[2] > KN_BILINEAR_AXIS_MAX) {
        kn__graph_fail(g, KN_ERR_SHAPE, "resize2d: %s has a side over 2^23 cells", kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    if (height == x->shape[1] && width == x->shape[2]) return x;
    kn_tensor *t = kn__node(g, KN_OP_RESIZE2D, x, NULL, NULL);
    if (!t) return NULL;
    t->iparam[0] = height, t->iparam[1] = width, t->iparam[2] = (int32_t)interpolation;
    return kn__finish(g, t);
}

/* ------------------------------------------------------------- sequences */

/* x (N, L, C) as (N, 1, L, C); NULL (the graph failed) when it is not an F32 sequence. */
static kn_tensor *sequence_view(kn_graph *g, const char *op, kn_tensor *x) {
    char sx[64];
    if (!x) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: input is NULL", op);
        return NULL;
    }
    if (x->dtype != KN_F32 || x->ndim != 3 || kn__batch_rows(x) != 1 || x->shape[1] == KN_BATCH ||
        x->shape[2] == KN_BATCH) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: '%s' must be F32 (batch, steps, channels), got %s %s", op, x->name,
                       kn_dtype_name(x->dtype), kn__shape_str(x, sx, sizeof sx));
        return NULL;
    }
    return kn__reshape_rows(g, x, (int64_t[]){x->shape[0], 1, x->shape[1], x->shape[2]}, 4, 1);
}

/* y (N, 1, L', C) back as (N, L', C); x itself when the 2-D builder returned its view. */
static kn_tensor *sequence_unview(kn_graph *g, kn_tensor *x, kn_tensor *view, kn_tensor *y) {
    if (!y) return NULL;
    if (y == view) return x;
    return kn__reshape_rows(g, y, (int64_t[]){y->shape[0], y->shape[2], y->shape[3]}, 3, 1);
}

/* (the sequence's own checks first, so that a message names the 1-D builder and x's shape) */
kn_tensor *kn_pad1d(kn_graph *g, kn_tensor *x, int left, int right) {
    if (!g || g->status != KN_OK) return NULL;
    kn_tensor *v = sequence_view(g, "pad1d", x);
    if (!v) return NULL;
    char sx[64];
    if (left < -KN_PAD_MAX || left > KN_PAD_MAX || right < -KN_PAD_MAX || right > KN_PAD_MAX ||
        x->shape[1] + left + right < 1) {
        kn__graph_fail(g, KN_ERR_SHAPE, "pad1d: padding (%d, %d) of '%s' %s: each amount within +-%d, leaving a step",
                       left, right, x->name, kn__shape_str(x, sx, sizeof sx), KN_PAD_MAX);
        return NULL;
    }
    return sequence_unview(g, x, v, kn_pad2d(g, v, 0, 0, left, right));
}

kn_tensor *kn_upsample1d(kn_graph *g, kn_tensor *x, int size) {
    if (!g || g->status != KN_OK) return NULL;
    kn_tensor *v = sequence_view(g, "upsample1d", x);
    if (!v) return NULL;
    if (size < 1 || size > KN_UPSAMPLE_MAX) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "upsample1d: size %d must be in [1, %d]", size, KN_UPSAMPLE_MAX);
        return NULL;
    }
    return sequence_unview(g, x, v, kn_upsample2d(g, v, 1, size, KN_INTERP_NEAREST));
}
