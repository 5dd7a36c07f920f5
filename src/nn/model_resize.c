/* model_resize.c — Keras's ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D and Resizing as model
 * layers: their checks, output shapes, graphs and summary lines. An image layer works on
 * (height, width, channels), a sequence layer on (steps, channels) through the (batch, 1,
 * steps, channels) view, where its output stays (as model_seq.c's layers leave theirs), so
 * consecutive sequence layers need no reshape between them. The ops are graph/ops_resize.c's
 * (kn_pad2d: padding positive, cropping negative; kn_upsample2d; kn_resize2d). No parameters. A mask is
 * not passed on (model.c's passes_mask leaves them out): Keras's layers do not support
 * masking either, and drop it. */
#include "model.h"

#include <string.h>

#define KN_RESIZE_AMOUNT_MAX (1 << 24) /* kn_pad2d's */
#define KN_RESIZE_FACTOR_MAX 4096      /* kn_upsample2d's */
#define KN_RESIZE_AXIS_MAX (1 << 23)   /* kn_resize2d's sides, in and out */
/* A layer's output per sample: model inputs and the graph's sizes stay far inside int32. */
#define KN_RESIZE_FEATURES_MAX (1LL << 31)

/* One axis after the layer: in + a + b (crop: in - a - b), which must keep a cell; else the
 * error, naming the layer, the axis and the input (shape, ndim). */
static kn_status pad_axis(kn_model *m, const char *type, const char *axis, int64_t in, int a, int b, bool crop,
                          const int64_t *shape, int ndim, int64_t *out) {
    *out = crop ? in - a - b : in + a + b;
    if (*out >= 1) return KN_OK;
    char s[96];
    int used = snprintf(s, sizeof s, "(");
    for (int d = 0; d < ndim; d++)
        used += snprintf(s + used, sizeof s - (size_t)used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    snprintf(s + used, sizeof s - (size_t)used, ")");
    return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: cropping %d + %d %s of %lld leaves none (input %s)",
                     m->n_layers, type, a, b, axis, (long long)in, s);
}

/* Pushes L (its ndim output dims in L->shape) unless its output is too large. */
static kn_status push_sized(kn_model *m, kn__layer *L, const char *type) {
    double f = 1; /* (exact up to 2^53, far past the limit) */
    for (int d = 0; d < L->ndim; d++) f *= (double)L->shape[d];
    if (f > (double)KN_RESIZE_FEATURES_MAX)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: its output of %.0f values a sample exceeds 2^31",
                         m->n_layers, type, f);
    return kn__model_push_layer(m, L);
}

/* A padding or cropping layer over an image (seq false: amounts top, bottom, left, right) or
 * a sequence (left, right; top and bottom 0). */
static kn_status add_pad(kn_model *m, int top, int bottom, int left, int right, bool crop, bool seq) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = crop ? (seq ? "cropping1d" : "cropping2d") : (seq ? "zero_padding1d" : "zero_padding2d");
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int v[4] = {top, bottom, left, right};
    for (int k = 0; k < 4; k++)
        if (v[k] < 0 || v[k] > KN_RESIZE_AMOUNT_MAX) {
            if (seq)
                return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: %s (%d, %d): each must be in [0, 2^24]",
                                 m->n_layers, type, crop ? "cropping" : "padding", left, right);
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT,
                             "layers[%d] %s: %s ((%d, %d), (%d, %d)): each must be in [0, 2^24]", m->n_layers, type,
                             crop ? "cropping" : "padding", top, bottom, left, right);
        }
    int64_t in[KN_MAX_DIMS];
    st = seq ? kn__model_sequence_input(m, type, in) : kn__model_image_input(m, type, in);
    if (st) return st;
    kn__layer L = {.kind = KN__LAYER_PAD, .u.pad = {top, bottom, left, right, crop}, .ndim = seq ? 2 : 3};
    if (seq) {
        st = pad_axis(m, type, "steps", in[0], left, right, crop, in, 2, &L.shape[0]);
        L.shape[1] = in[1];
    } else {
        st = pad_axis(m, type, "rows", in[0], top, bottom, crop, in, 3, &L.shape[0]);
        if (!st) st = pad_axis(m, type, "columns", in[1], left, right, crop, in, 3, &L.shape[1]);
        L.shape[2] = in[2];
    }
    return st ? st : push_sized(m, &L, type);
}

kn_status kn_model_add_zero_padding2d(kn_model *m, int top, int bottom, int left, int right) {
    return add_pad(m, top, bottom, left, right, false, false);
}
kn_status kn_model_add_cropping2d(kn_model *m, int top, int bottom, int left, int right) {
    return add_pad(m, top, bottom, left, right, true, false);
}
kn_status kn_model_add_zero_padding1d(kn_model *m, int left, int right) {
    return add_pad(m, 0, 0, left, right, false, true);
}
kn_status kn_model_add_cropping1d(kn_model *m, int left, int right) { return add_pad(m, 0, 0, left, right, true, true); }

static kn_status add_upsample(kn_model *m, int size_h, int size_w, kn_interpolation interpolation, bool seq) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = seq ? "up_sampling1d" : "up_sampling2d";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    if (size_h < 1 || size_h > KN_RESIZE_FACTOR_MAX || size_w < 1 || size_w > KN_RESIZE_FACTOR_MAX) {
        if (seq)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: size %d (must be in [1, %d])", m->n_layers,
                             type, size_w, KN_RESIZE_FACTOR_MAX);
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: size (%d, %d): each must be in [1, %d]",
                         m->n_layers, type, size_h, size_w, KN_RESIZE_FACTOR_MAX);
    }
    if (interpolation != KN_INTERP_NEAREST && interpolation != KN_INTERP_BILINEAR)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: unknown interpolation %d", m->n_layers, type,
                         (int)interpolation);
    int64_t in[KN_MAX_DIMS];
    st = seq ? kn__model_sequence_input(m, type, in) : kn__model_image_input(m, type, in);
    if (st) return st;
    kn__layer L = {.kind = KN__LAYER_UPSAMPLE, .u.upsample = {size_h, size_w, interpolation}, .ndim = seq ? 2 : 3};
    if (seq) {
        L.shape[0] = in[0] * size_w, L.shape[1] = in[1];
    } else {
        L.shape[0] = in[0] * size_h, L.shape[1] = in[1] * size_w, L.shape[2] = in[2];
        /* bilinear's float source positions: kn_upsample2d's limit, named here */
        if (interpolation == KN_INTERP_BILINEAR && (L.shape[0] > (1LL << 23) || L.shape[1] > (1LL << 23)))
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: bilinear output %lld x %lld exceeds 2^23 a side",
                             m->n_layers, type, (long long)L.shape[0], (long long)L.shape[1]);
    }
    return push_sized(m, &L, type);
}

kn_status kn_model_add_up_sampling2d(kn_model *m, int size_h, int size_w, kn_interpolation interpolation) {
    return add_upsample(m, size_h, size_w, interpolation, false);
}
kn_status kn_model_add_up_sampling1d(kn_model *m, int size) { return add_upsample(m, 1, size, KN_INTERP_NEAREST, true); }

/* Keras's Resizing(height, width, interpolation) without crop_to_aspect_ratio: any size. */
kn_status kn_model_add_resizing(kn_model *m, int height, int width, kn_interpolation interpolation) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "resizing";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    if (height < 1 || height > KN_RESIZE_AXIS_MAX || width < 1 || width > KN_RESIZE_AXIS_MAX)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: size (%d, %d): each must be in [1, 2^23]",
                         m->n_layers, type, height, width);
    if (interpolation != KN_INTERP_NEAREST && interpolation != KN_INTERP_BILINEAR)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: unknown interpolation %d", m->n_layers, type,
                         (int)interpolation);
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_image_input(m, type, in))) return st;
    /* the float source positions: kn_resize2d's limit on its input, named here */
    if (in[0] > KN_RESIZE_AXIS_MAX || in[1] > KN_RESIZE_AXIS_MAX)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: input %lld x %lld exceeds 2^23 a side", m->n_layers,
                         type, (long long)in[0], (long long)in[1]);
    kn__layer L = {.kind = KN__LAYER_RESIZE, .u.resizing = {height, width, interpolation}, .ndim = 3};
    L.shape[0] = height, L.shape[1] = width, L.shape[2] = in[2];
    return push_sized(m, &L, type);
}

kn_tensor *kn__model_resize(kn_model *m, kn_graph *g, int i, kn_tensor *h) {
    const kn__layer *L = &m->layers[i];
    int64_t in[KN_MAX_DIMS];
    bool seq = kn__model_layer_input(m, i, in, NULL) == 2;
    h = seq ? kn__model_view_as(g, h, (int64_t[]){1, in[0], in[1]}, 3) : kn__model_view_as(g, h, in, 3);
    if (L->kind == KN__LAYER_RESIZE)
        return kn_resize2d(g, h, L->u.resizing.height, L->u.resizing.width, L->u.resizing.interpolation);
    if (L->kind == KN__LAYER_UPSAMPLE)
        return kn_upsample2d(g, h, L->u.upsample.size_h, L->u.upsample.size_w, L->u.upsample.interpolation);
    int s = L->u.pad.crop ? -1 : 1;
    return kn_pad2d(g, h, s * L->u.pad.top, s * L->u.pad.bottom, s * L->u.pad.left, s * L->u.pad.right);
}

int kn__resize_summary(const kn__layer *L, char *buf, size_t size) {
    const char *type = kn__layer_type(L);
    if (L->kind == KN__LAYER_RESIZE)
        return snprintf(buf, size, " -> %s %dx%d%s", type, L->u.resizing.height, L->u.resizing.width,
                        L->u.resizing.interpolation == KN_INTERP_BILINEAR ? " bilinear" : " nearest");
    if (L->kind == KN__LAYER_UPSAMPLE) {
        const int sh = L->u.upsample.size_h, sw = L->u.upsample.size_w;
        if (L->ndim == 2) return snprintf(buf, size, " -> %s %d", type, sw);
        return snprintf(buf, size, " -> %s %dx%d%s", type, sh, sw,
                        L->u.upsample.interpolation == KN_INTERP_BILINEAR ? " bilinear" : "");
    }
    if (L->ndim == 2) return snprintf(buf, size, " -> %s (%d, %d)", type, L->u.pad.left, L->u.pad.right);
    return snprintf(buf, size, " -> %s ((%d, %d), (%d, %d))", type, L->u.pad.top, L->u.pad.bottom, L->u.pad.left,
                    L->u.pad.right);
}
