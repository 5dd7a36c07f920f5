/* model_depthwise.c — Keras's DepthwiseConv2D and SeparableConv2D as model layers over
 * images (height, width, channels).
 *
 * depthwise_conv2d convolves each input channel with its own depth_multiplier (M) filters:
 * output channel c M + m reads input channel c only (graph.c's kn_depthwise_conv2d). Its
 * kernel "depthwise_conv2d_<i>/depthwise_kernel" is Keras's (KH, KW, C, M) stored as
 * (KH KW, C, M) (the same floats in the same order), so the initializers take Keras's
 * fans (fan_in KH KW C, fan_out KH KW M); then a bias (C M) and the activation.
 * separable_conv2d follows the depthwise product with a pointwise one, a 1x1 convolution
 * to `filters` channels: "separable_conv2d_<i>/depthwise_kernel", "/pointwise_kernel" (C M,
 * filters) (Keras's (1, 1, C M, filters)) and "/bias" (filters), as Keras's SeparableConv2D.
 * MobileNet's blocks are these.
 *
 * depthwise_conv1d and separable_conv1d (Keras's DepthwiseConv1D, SeparableConv1D) are the
 * same over a sequence (steps, channels): a 1 x K window over its (1, steps, C) view, as
 * conv1d is conv2d's; their kernels are Keras's (K, C, M) and (1, C M, filters), stored as
 * the 2-D layers store theirs. */
#include "model.h"

#include <math.h>
#include <string.h>

/* Layer i's input as an image: an image's (H, W, C), a sequence's (1, steps, C). */
static void input_image(const kn_model *m, int i, bool seq, int64_t hwc[3]) {
    int64_t in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    hwc[0] = seq ? 1 : in[0], hwc[1] = seq ? in[0] : in[1], hwc[2] = seq ? in[1] : in[2];
}

static kn_status add_depthwise(kn_model *m, const kn_depthwise_opts *opts, bool separable, bool seq) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    const char *type = seq ? (separable ? "separable_conv1d" : "depthwise_conv1d")
                           : (separable ? "separable_conv2d" : "depthwise_conv2d");
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    kn_depthwise_opts o = *opts;
    if (!o.stride_h) o.stride_h = 1;
    if (!o.stride_w) o.stride_w = 1;
    if (!o.dilation_h) o.dilation_h = 1;
    if (!o.dilation_w) o.dilation_w = 1;
    if (!o.depth_multiplier) o.depth_multiplier = 1;
    if (seq && (o.kernel_h > 1 || o.stride_h > 1 || o.dilation_h > 1))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: a sequence's window is kernel_w, stride_w and "
                         "dilation_w (kernel_h %d, stride_h %d, dilation_h %d: each must be 0 or 1)", m->n_layers, type,
                         o.kernel_h, o.stride_h, o.dilation_h);
    if (seq) o.kernel_h = 1;
    if (o.bias_init == KN_INIT_GLOROT_UNIFORM) o.bias_init = KN_INIT_ZEROS; /* as dense: 0 means zeros */
    if (!separable) o.filters = 0;
    else if (o.filters <= 0 || o.filters > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: filters is %lld (must be in [1, 2^24])", i, type,
                         (long long)o.filters);
    int v[6] = {o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w};
    for (int k = 0; k < 6; k++)
        if (v[k] < 1 || v[k] > 255)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: kernel %dx%d, strides %dx%d, dilation "
                             "%dx%d: each must be in [1, 255]", i, type, o.kernel_h, o.kernel_w, o.stride_h,
                             o.stride_w, o.dilation_h, o.dilation_w);
    if (o.depth_multiplier < 1 || o.depth_multiplier > 4096)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: depth_multiplier %d (must be in [1, 4096])",
                         i, type, o.depth_multiplier);
    if ((st = kn__model_check_init(m, type, o.activation, o.l2, o.depthwise_init, o.bias_init, o.no_bias,
                                   o.init_value)))
        return st;
    if ((unsigned)o.pointwise_init >= KN_INIT_COUNT || !(o.pointwise_l2 >= 0) || !isfinite(o.pointwise_l2))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: pointwise initializer %d, l2 %g", i, type,
                         (int)o.pointwise_init, (double)o.pointwise_l2);
    int64_t shape[KN_MAX_DIMS], in[3];
    if ((st = seq ? kn__model_sequence_input(m, type, shape) : kn__model_image_input(m, type, shape))) return st;
    input_image(m, i, seq, in);
    kn__layer L = {.kind = seq ? KN__LAYER_DEPTHWISE1D : KN__LAYER_DEPTHWISE, .u.depthwise = o, .ndim = 3};
    for (int k = 0; k < m->n_layers; k++) L.index += strcmp(kn__layer_type(&m->layers[k]), type) == 0;
    if (!kn__model_out_dim(in[0], o.kernel_h, o.stride_h, o.dilation_h, o.same, &L.shape[0]) ||
        !kn__model_out_dim(in[1], o.kernel_w, o.stride_w, o.dilation_w, o.same, &L.shape[1])) {
        if (seq)
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: kernel %d (dilation %d) is longer than its input "
                             "(%lld, %lld) under 'valid' padding", i, type, o.kernel_w, o.dilation_w, (long long)in[1],
                             (long long)in[2]);
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: kernel %dx%d (dilation %dx%d) is larger than its input "
                         "(%lld, %lld, %lld) under 'valid' padding", i, type, o.kernel_h, o.kernel_w, o.dilation_h,
                         o.dilation_w, (long long)in[0], (long long)in[1], (long long)in[2]);
    }
    int64_t cm = in[2] * o.depth_multiplier;
    if (cm > (1LL << 24) || (int64_t)o.kernel_h * o.kernel_w * cm > (1LL << 26))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: %lld channels x depth_multiplier %d is too large", i,
                         type, (long long)in[2], o.depth_multiplier);
    L.shape[2] = separable ? o.filters : cm;
    if (seq) L.ndim = 2, L.shape[0] = L.shape[1], L.shape[1] = L.shape[2]; /* (steps, channels) */
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_depthwise_conv2d(kn_model *m, const kn_depthwise_opts *opts) {
    return add_depthwise(m, opts, false, false);
}
kn_status kn_model_add_separable_conv2d(kn_model *m, const kn_depthwise_opts *opts) {
    return add_depthwise(m, opts, true, false);
}
kn_status kn_model_add_depthwise_conv1d(kn_model *m, const kn_depthwise_opts *opts) {
    return add_depthwise(m, opts, false, true);
}
kn_status kn_model_add_separable_conv1d(kn_model *m, const kn_depthwise_opts *opts) {
    return add_depthwise(m, opts, true, true);
}

int kn__depthwise_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    if (L->kind != KN__LAYER_DEPTHWISE && L->kind != KN__LAYER_DEPTHWISE1D) return 0;
    const kn_depthwise_opts *o = &L->u.depthwise;
    int64_t in[3];
    input_image(m, i, L->kind == KN__LAYER_DEPTHWISE1D, in);
    int64_t rf = (int64_t)o->kernel_h * o->kernel_w, M = o->depth_multiplier, cm = in[2] * M;
    int n = 0;
    out[n++] = (kn__rnn_param){"depthwise_kernel", {rf, in[2], M}, 3, o->depthwise_init, 0, 0};
    if (o->filters) out[n++] = (kn__rnn_param){"pointwise_kernel", {cm, o->filters, 0}, 2, o->pointwise_init, 0, 0};
    if (!o->no_bias) out[n++] = (kn__rnn_param){"bias", {o->filters ? o->filters : cm, 0, 0}, 1, o->bias_init, 0, 0};
    return n;
}

kn_tensor *kn__model_depthwise(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg) {
    kn__layer *L = &m->layers[i];
    const kn_depthwise_opts *o = &L->u.depthwise;
    int64_t in[3];
    input_image(m, i, L->kind == KN__LAYER_DEPTHWISE1D, in); /* (a sequence's (1, steps, C) view) */
    kn_tensor *p[KN__LAYER_MAX_PARAMS] = {NULL};
    int np = kn__model_make_params(m, g, i, o->init_value, p);
    if (np < 0) return NULL;
    kn_tensor *dk = p[0], *pk = o->filters ? p[1] : NULL, *b = o->no_bias ? NULL : p[np - 1];
    L->kernel = dk;
    L->bias = b;
    h = kn__model_view_as(g, h, in, 3);
    int64_t cm = in[2] * o->depth_multiplier;
    kn_tensor *k2 = kn_reshape(g, dk, (int64_t[]){(int64_t)o->kernel_h * o->kernel_w, cm}, 2);
    h = kn_depthwise_conv2d(g, h, k2, o->kernel_h, o->kernel_w, o->stride_h, o->stride_w, o->dilation_h, o->dilation_w,
                            o->same);
    if (pk) h = kn_conv2d(g, h, pk, 1, 1, 1, 1, 1, 1, false); /* the pointwise product */
    if (b) h = kn_add(g, h, b);
    float l2[2] = {o->l2, o->pointwise_l2};
    kn_tensor *kernels[2] = {dk, pk};
    for (int k = 0; k < 2; k++) {
        if (!(l2[k] > 0) || !kernels[k]) continue;
        g->build_phase = KN_PHASE_LOSS;
        kn_tensor *r = kn_scale(g, kn_sum_squares(g, kernels[k]), l2[k]);
        *reg = *reg ? kn_add(g, *reg, r) : r;
        g->build_phase = KN_PHASE_FORWARD;
    }
    return h;
}
