/* model_volume.c — Keras's 3-D layers over volumes (depth, height, width, channels): Conv3D,
 * MaxPooling3D, AveragePooling3D, GlobalMaxPooling3D, GlobalAveragePooling3D, ZeroPadding3D,
 * Cropping3D and UpSampling3D, built from the 2-D graph ops (no op of their own, so every
 * backend, the gradients and the fuse pass take them as they are).
 *
 * The graph's tensors have at most four axes, so a volume travels as the (batch, D H, W, C)
 * view (kn__model_view_as of a 4-D sample): the same floats in the same order.
 *
 * - conv3d: the depth taps become channels. Tap t of the KD reads input depth
 *   od sd + t dd - pad_front for output depth od (zeros outside): one KN_OP_DEPTH_TAPS node
 *   (graph/ops_depth_taps.c) gathers them side by side, (batch, OD H, W, KD C). Read as
 *   (batch OD, H, W, KD C) images (graph.h's batch_rows), one conv2d with the
 *   (KH KW KD C, F) kernel computes every output depth: its windows' rows are (ky, kx, t, c),
 *   which is why the kernel parameter is (KH KW KD, C, F), Keras's (KD, KH, KW, C, F) with
 *   the depth axis moved after the width. The bias and activation follow as after conv2d
 *   (the fuse pass puts them in its epilogue).
 * - Pooling is separable: a window's maximum (mean) over its valid cells is the maximum (mean)
 *   over width of the maxima (means) over depth and height, whose valid-cell counts are the
 *   same for every column; pool2d over the (batch, D, H, W C) view, then (1, KW) windows over
 *   the (batch, OD OH, W, C) view. Global pooling: kn__global_pool_steps over (batch, 1,
 *   D H W, C).
 * - Padding, cropping and nearest upsampling the same way: depth and height over the
 *   (batch, D, H, W C) view, then width over (batch, D' H', W, C). */
#include "model.h"

#include <stdio.h>

#define KN_VOLUME_AMOUNT_MAX (1 << 24) /* kn_pad2d's */
#define KN_VOLUME_FACTOR_MAX 4096      /* kn_upsample2d's */
#define KN_VOLUME_FEATURES_MAX (1LL << 31)

static const char *const axis_names[3] = {"depth", "height", "width"};

/* "3x3x3" */
static const char *triple(char *buf, size_t size, const int v[3]) {
    snprintf(buf, size, "%dx%dx%d", v[0], v[1], v[2]);
    return buf;
}

/* (model.h: the checks model_conv3d_transpose.c shares) */
kn_status kn__model_volume_input(kn_model *m, const char *type, int64_t in[KN_MAX_DIMS]) {
    int ndim = kn__model_layer_input(m, m->n_layers, in, NULL);
    if (ndim == 4) return KN_OK;
    char s[96];
    int used = snprintf(s, sizeof s, "(");
    for (int d = 0; d < ndim; d++) used += snprintf(s + used, sizeof s - (size_t)used, "%s%lld", d ? ", " : "", (long long)in[d]);
    snprintf(s + used, sizeof s - (size_t)used, "%s)", ndim == 1 ? "," : "");
    return kn__error(m->ctx, KN_ERR_SHAPE,
                     "layers[%d] %s: needs a volume input (depth, height, width, channels), got %s (give the model an "
                     "input_shape such as [16, 32, 32, 1], or reshape)", m->n_layers, type, s);
}

kn_status kn__model_push_volume(kn_model *m, kn__layer *L, const char *type) {
    L->ndim = 4;
    double f = 1;
    for (int d = 0; d < 4; d++) f *= (double)L->shape[d];
    if (f > (double)KN_VOLUME_FEATURES_MAX)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: its output of %.0f values a sample exceeds 2^31",
                         m->n_layers, type, f);
    return kn__model_push_layer(m, L);
}

/* The three window axes' outputs into L->shape[0..2]; else the error (what: "kernel" or "pool"). */
static kn_status window_dims(kn_model *m, const char *type, const char *what, const int64_t *in, const int k[3],
                             const int s[3], const int d[3], bool same, kn__layer *L) {
    for (int a = 0; a < 3; a++)
        if (!kn__model_out_dim(in[a], k[a], s[a], d[a], same, &L->shape[a])) {
            char kb[40];
            return kn__error(m->ctx, KN_ERR_SHAPE,
                             "layers[%d] %s: %s %s (dilation %dx%dx%d) is larger than its input (%lld, %lld, %lld, %lld) "
                             "along the %s under 'valid' padding", m->n_layers, type, what, triple(kb, sizeof kb, k),
                             d[0], d[1], d[2], (long long)in[0], (long long)in[1], (long long)in[2], (long long)in[3],
                             axis_names[a]);
        }
    return KN_OK;
}

kn_status kn__model_check_range(kn_model *m, const char *type, const char *what, const int *v, int n, int lo, int hi) {
    for (int k = 0; k < n; k++)
        if (v[k] < lo || v[k] > hi) {
            char list[96];
            int used = 0;
            for (int j = 0; j < n; j++) used += snprintf(list + used, sizeof list - (size_t)used, "%s%d", j ? ", " : "", v[j]);
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: %s (%s): each must be in [%d, %d]",
                             m->n_layers, type, what, list, lo, hi);
        }
    return KN_OK;
}

kn_status kn__model_conv3d_window(kn_model *m, const char *type, int64_t filters, const int kernel[3], int strides[3],
                                  int dilation[3], kn_init *bias_init) {
    for (int a = 0; a < 3; a++) {
        if (!strides[a]) strides[a] = 1;
        if (!dilation[a]) dilation[a] = 1;
    }
    if (*bias_init == KN_INIT_GLOROT_UNIFORM) *bias_init = KN_INIT_ZEROS; /* as dense: 0 means zeros */
    if (filters <= 0 || filters > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: filters is %lld (must be in [1, 2^24])", m->n_layers, type,
                         (long long)filters);
    kn_status st;
    if ((st = kn__model_check_range(m, type, "kernel_size", kernel, 3, 1, 255)) ||
        (st = kn__model_check_range(m, type, "strides", strides, 3, 1, 255)) ||
        (st = kn__model_check_range(m, type, "dilation_rate", dilation, 3, 1, 255)))
        return st;
    return KN_OK;
}

kn_status kn_model_add_conv3d(kn_model *m, const kn_conv3d_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "conv3d";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    kn_conv3d_opts o = *opts;
    if ((st = kn__model_conv3d_window(m, type, o.filters, o.kernel, o.strides, o.dilation, &o.bias_init))) return st;
    if ((st = kn__model_check_init(m, type, o.activation, o.l2, o.kernel_init, o.bias_init, o.no_bias, o.init_value)))
        return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_volume_input(m, type, in))) return st;
    kn__layer L = {.kind = KN__LAYER_CONV3D, .u.conv3d = o, .index = kn__model_count_kind(m, KN__LAYER_CONV3D)};
    if ((st = window_dims(m, type, "kernel", in, o.kernel, o.strides, o.dilation, o.same, &L)))
        return st;
    if ((int64_t)o.kernel[0] * o.kernel[1] * o.kernel[2] * in[3] > (1LL << 24)) {
        char kb[40];
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: kernel %s over %lld channels is too large", m->n_layers,
                         type, triple(kb, sizeof kb, o.kernel), (long long)in[3]);
    }
    L.shape[3] = o.filters;
    return kn__model_push_volume(m, &L, type);
}

kn_status kn_model_add_pool3d(kn_model *m, kn_pool_kind kind, const int pool[3], const int strides[3], bool same) {
    if (!m || !pool) return KN_ERR_INVALID_ARGUMENT;
    const char *type = kind == KN_POOL_AVG ? "average_pool3d" : "max_pool3d";
    if (kind != KN_POOL_MAX && kind != KN_POOL_AVG)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] pool3d: unknown kind %d", m->n_layers, (int)kind);
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    kn__layer L = {.kind = KN__LAYER_POOL3D, .u.pool3d = {.kind = kind, .same = same}};
    for (int a = 0; a < 3; a++) {
        L.u.pool3d.pool[a] = pool[a];
        L.u.pool3d.strides[a] = strides && strides[a] ? strides[a] : pool[a];
    }
    if ((st = kn__model_check_range(m, type, "pool_size", L.u.pool3d.pool, 3, 1, 255)) ||
        (st = kn__model_check_range(m, type, "strides", L.u.pool3d.strides, 3, 1, 255)))
        return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_volume_input(m, type, in))) return st;
    if ((st = window_dims(m, type, "pool", in, L.u.pool3d.pool, L.u.pool3d.strides, (const int[3]){1, 1, 1}, same, &L)))
        return st;
    L.shape[3] = in[3];
    return kn__model_push_volume(m, &L, type);
}

kn_status kn_model_add_global_pool3d(kn_model *m, kn_pool_kind kind) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = kind == KN_POOL_AVG ? "global_average_pool3d" : "global_max_pool3d";
    if (kind != KN_POOL_MAX && kind != KN_POOL_AVG)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] global_pool3d: unknown kind %d", m->n_layers,
                         (int)kind);
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_volume_input(m, type, in))) return st;
    kn__layer L = {.kind = KN__LAYER_GLOBAL_POOL3D, .u.pool3d = {.kind = kind}, .ndim = 1};
    L.shape[0] = in[3];
    return kn__model_push_layer(m, &L);
}

static kn_status add_pad3d(kn_model *m, const int amounts[6], bool crop) {
    if (!m || !amounts) return KN_ERR_INVALID_ARGUMENT;
    const char *type = crop ? "cropping3d" : "zero_padding3d";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    if ((st = kn__model_check_range(m, type, crop ? "cropping" : "padding", amounts, 6, 0, KN_VOLUME_AMOUNT_MAX))) return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_volume_input(m, type, in))) return st;
    kn__layer L = {.kind = KN__LAYER_PAD3D, .u.pad3d.crop = crop};
    for (int k = 0; k < 6; k++) L.u.pad3d.amount[k] = amounts[k];
    for (int a = 0; a < 3; a++) {
        int64_t p = (int64_t)amounts[2 * a] + amounts[2 * a + 1];
        L.shape[a] = crop ? in[a] - p : in[a] + p;
        if (L.shape[a] < 1)
            return kn__error(m->ctx, KN_ERR_SHAPE,
                             "layers[%d] %s: cropping %d + %d of the %s %lld leaves none (input (%lld, %lld, %lld, %lld))",
                             m->n_layers, type, amounts[2 * a], amounts[2 * a + 1], axis_names[a], (long long)in[a],
                             (long long)in[0], (long long)in[1], (long long)in[2], (long long)in[3]);
    }
    L.shape[3] = in[3];
    return kn__model_push_volume(m, &L, type);
}

kn_status kn_model_add_zero_padding3d(kn_model *m, const int amounts[6]) { return add_pad3d(m, amounts, false); }
kn_status kn_model_add_cropping3d(kn_model *m, const int amounts[6]) { return add_pad3d(m, amounts, true); }

kn_status kn_model_add_up_sampling3d(kn_model *m, int size_d, int size_h, int size_w) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "up_sampling3d";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    const int size[3] = {size_d, size_h, size_w};
    if ((st = kn__model_check_range(m, type, "size", size, 3, 1, KN_VOLUME_FACTOR_MAX))) return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_volume_input(m, type, in))) return st;
    kn__layer L = {.kind = KN__LAYER_UPSAMPLE3D};
    for (int a = 0; a < 3; a++) L.u.upsample3d[a] = size[a], L.shape[a] = in[a] * size[a];
    L.shape[3] = in[3];
    return kn__model_push_volume(m, &L, type);
}

/* conv3d's kernel (KH KW KD, C, F) and conv3d_transpose's (KH KW KD, F, C), each's bias (F):
 * the middle axis is the one Keras's fans count as the input. */
int kn__volume_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    bool t = L->kind == KN__LAYER_CONV3D_TRANSPOSE;
    if (L->kind != KN__LAYER_CONV3D && !t) return 0;
    const int *k = t ? L->u.conv3d_transpose.kernel : L->u.conv3d.kernel;
    int64_t f = t ? L->u.conv3d_transpose.filters : L->u.conv3d.filters, in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    int n = 0;
    out[n++] = (kn__rnn_param){"kernel", {(int64_t)k[1] * k[2] * k[0], t ? f : in[3], t ? in[3] : f}, 3,
                               t ? L->u.conv3d_transpose.kernel_init : L->u.conv3d.kernel_init, 0, 0};
    if (!(t ? L->u.conv3d_transpose.no_bias : L->u.conv3d.no_bias))
        out[n++] = (kn__rnn_param){"bias", {f, 0, 0}, 1, t ? L->u.conv3d_transpose.bias_init : L->u.conv3d.bias_init, 0, 0};
    return n;
}

/* A view of h: (batch, a, b, c), its batch rows 1. */
static kn_tensor *view4(kn_graph *g, kn_tensor *h, int64_t a, int64_t b, int64_t c) {
    return kn_reshape(g, h, (int64_t[]){KN_BATCH, a, b, c}, 4);
}

static kn_tensor *conv3d(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg) {
    kn__layer *L = &m->layers[i];
    const kn_conv3d_opts *o = &L->u.conv3d;
    int64_t in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    kn_tensor *p[KN__LAYER_MAX_PARAMS] = {NULL};
    if (kn__model_make_params(m, g, i, o->init_value, p) < 0) return NULL;
    L->kernel = p[0];
    L->bias = o->no_bias ? NULL : p[1];
    /* the depth: Keras's 'same' (the smaller half of the padding in front) or 'valid' */
    int64_t od_n = L->shape[0], span = (int64_t)(o->kernel[0] - 1) * o->dilation[0] + 1;
    int64_t total = (od_n - 1) * o->strides[0] + span - in[0], front = o->same && total > 0 ? total / 2 : 0;
    kn_tensor *taps = kn__depth_taps(g, h, (int)in[0], o->kernel[0], o->strides[0], o->dilation[0], (int)front, (int)od_n);
    int64_t kc = (int64_t)o->kernel[0] * in[3];
    kn_tensor *images = kn__reshape_rows(g, taps, (int64_t[]){KN_BATCH, in[1], in[2], kc}, 4, od_n);
    kn_tensor *k2 = kn_reshape(g, L->kernel, (int64_t[]){(int64_t)o->kernel[1] * o->kernel[2] * kc, o->filters}, 2);
    kn_tensor *y = kn_conv2d(g, images, k2, o->kernel[1], o->kernel[2], o->strides[1], o->strides[2], o->dilation[1],
                             o->dilation[2], o->same);
    if (L->bias) y = kn_add(g, y, L->bias);
    if (o->l2 > 0) {
        g->build_phase = KN_PHASE_LOSS;
        kn_tensor *r = kn_scale(g, kn_sum_squares(g, L->kernel), o->l2);
        *reg = *reg ? kn_add(g, *reg, r) : r;
        g->build_phase = KN_PHASE_FORWARD;
    }
    return y; /* (batch OD, OH, OW, F): model.c's activation, then views as a volume */
}

kn_tensor *kn__model_volume(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg) {
    const kn__layer *L = &m->layers[i];
    int64_t in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    h = kn__model_view_as(g, h, in, 4); /* (batch, D H, W, C) */
    switch (L->kind) {
    case KN__LAYER_CONV3D: return conv3d(m, g, i, h, reg);
    case KN__LAYER_GLOBAL_POOL3D:
        return kn__global_pool_steps(g, view4(g, h, 1, in[0] * in[1] * in[2], in[3]), L->u.pool3d.kind == KN_POOL_MAX);
    case KN__LAYER_POOL3D: {
        const int *k = L->u.pool3d.pool, *s = L->u.pool3d.strides;
        bool max = L->u.pool3d.kind == KN_POOL_MAX, same = L->u.pool3d.same;
        kn_tensor *v = view4(g, h, in[0], in[1], in[2] * in[3]);
        v = max ? kn_max_pool2d(g, v, k[0], k[1], s[0], s[1], same) : kn_avg_pool2d(g, v, k[0], k[1], s[0], s[1], same);
        v = view4(g, v, L->shape[0] * L->shape[1], in[2], in[3]);
        return max ? kn_max_pool2d(g, v, 1, k[2], 1, s[2], same) : kn_avg_pool2d(g, v, 1, k[2], 1, s[2], same);
    }
    case KN__LAYER_PAD3D: {
        const int *a = L->u.pad3d.amount, sg = L->u.pad3d.crop ? -1 : 1;
        kn_tensor *v = kn_pad2d(g, view4(g, h, in[0], in[1], in[2] * in[3]), sg * a[0], sg * a[1], sg * a[2], sg * a[3]);
        return kn_pad2d(g, view4(g, v, L->shape[0] * L->shape[1], in[2], in[3]), 0, 0, sg * a[4], sg * a[5]);
    }
    case KN__LAYER_UPSAMPLE3D: {
        const int *f = L->u.upsample3d;
        kn_tensor *v = kn_upsample2d(g, view4(g, h, in[0], in[1], in[2] * in[3]), f[0], f[1], KN_INTERP_NEAREST);
        return kn_upsample2d(g, view4(g, v, L->shape[0] * L->shape[1], in[2], in[3]), 1, f[2], KN_INTERP_NEAREST);
    }
    default: return NULL;
    }
}

int kn__volume_summary(const kn__layer *L, char *buf, size_t size) {
    const char *type = kn__layer_type(L);
    char k[40], s[56] = "", d[56] = "", v[40];
    switch (L->kind) {
    case KN__LAYER_CONV3D: {
        const kn_conv3d_opts *o = &L->u.conv3d;
        if (o->strides[0] > 1 || o->strides[1] > 1 || o->strides[2] > 1)
            snprintf(s, sizeof s, " stride %s", triple(v, sizeof v, o->strides));
        if (o->dilation[0] > 1 || o->dilation[1] > 1 || o->dilation[2] > 1)
            snprintf(d, sizeof d, " dilation %s", triple(v, sizeof v, o->dilation));
        return snprintf(buf, size, " -> %s %lld %s%s%s%s %s", type, (long long)o->filters, triple(k, sizeof k, o->kernel),
                        s, d, o->same ? " same" : "", kn_activation_name(o->activation));
    }
    case KN__LAYER_POOL3D: {
        const int *p = L->u.pool3d.pool, *st = L->u.pool3d.strides;
        if (st[0] != p[0] || st[1] != p[1] || st[2] != p[2]) snprintf(s, sizeof s, " stride %s", triple(v, sizeof v, st));
        return snprintf(buf, size, " -> %s %s%s%s", type, triple(k, sizeof k, p), s, L->u.pool3d.same ? " same" : "");
    }
    case KN__LAYER_PAD3D: {
        const int *a = L->u.pad3d.amount;
        return snprintf(buf, size, " -> %s ((%d, %d), (%d, %d), (%d, %d))", type, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    case KN__LAYER_UPSAMPLE3D: return snprintf(buf, size, " -> %s %s", type, triple(k, sizeof k, L->u.upsample3d));
    default: return snprintf(buf, size, " -> %s", type);
    }
}
