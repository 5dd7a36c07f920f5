/* model_conv_transpose.c — Keras's Conv2DTranspose and Conv1DTranspose as model layers over
 * images (height, width, channels) and sequences (steps, channels): graph/
 * ops_conv_transpose.c's node (the convolution's input gradient, so no kernel of its own),
 * then a bias (filters) and the activation. A conv1d_transpose layer is the 2-D one with a
 * 1 x K window over the (1, steps, C) view of its input, as conv1d is conv2d's.
 *
 * The kernel "conv2d_transpose_<i>/kernel" is Keras's (KH, KW, filters, C) stored as (KH KW,
 * filters, C) ("conv1d_transpose_<i>/kernel": Keras's (K, filters, C) as it is), the same
 * floats in the same order, so the initializers take Keras's fans (fan_in KH KW filters,
 * fan_out KH KW C: Keras counts the kernel's second-to-last axis as its input, which for this
 * layer is the output's channels); the graph reads it as the (KH KW filters, C) matrix the
 * op takes. Output sizes and the crop are Keras's (kn__conv_transpose_axis, shared with the
 * op). */
#include "model.h"

#include <stdio.h>

static bool is_sequence(const kn__layer *L) { return L->kind == KN__LAYER_CONV1D_TRANSPOSE; }

/* "3x2", or a sequence layer's "2" (its width alone). */
static const char *pair(char *buf, size_t size, bool seq, int h, int w) {
    if (seq) snprintf(buf, size, "%d", w);
    else snprintf(buf, size, "%dx%d", h, w);
    return buf;
}

/* Layer i's input as an image: an image's (H, W, C), a sequence's (1, steps, C). */
static void input_image(const kn_model *m, int i, bool seq, int64_t hwc[3]) {
    int64_t in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    hwc[0] = seq ? 1 : in[0], hwc[1] = seq ? in[0] : in[1], hwc[2] = seq ? in[1] : in[2];
}

/* o already defaulted (strides and dilations 1 where 0); seq: a conv1d_transpose layer, its
 * window 1 x kernel_w. */
static kn_status add_layer(kn_model *m, kn_conv2d_transpose_opts o, bool seq) {
    const char *type = seq ? "conv1d_transpose" : "conv2d_transpose";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    char k[24], s[24], d[24], op[24];
    if (o.bias_init == KN_INIT_GLOROT_UNIFORM) o.bias_init = KN_INIT_ZEROS; /* as dense: 0 means zeros */
    if (!o.has_output_padding) o.output_padding_h = o.output_padding_w = 0;
    if (o.filters <= 0 || o.filters > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: filters is %lld (must be in [1, 2^24])", i, type,
                         (long long)o.filters);
    int v[6] = {o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w};
    for (int j = 0; j < 6; j++)
        if (v[j] < 1 || v[j] > 255)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: kernel %s, strides %s, dilation %s: "
                             "each must be in [1, 255]", i, type, pair(k, sizeof k, seq, o.kernel_h, o.kernel_w),
                             pair(s, sizeof s, seq, o.stride_h, o.stride_w),
                             pair(d, sizeof d, seq, o.dilation_h, o.dilation_w));
    if (o.has_output_padding && (o.output_padding_h < 0 || o.output_padding_h >= o.stride_h ||
                                 o.output_padding_w < 0 || o.output_padding_w >= o.stride_w))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: output_padding %s must be below the "
                         "strides %s (as Keras requires)", i, type,
                         pair(op, sizeof op, seq, o.output_padding_h, o.output_padding_w),
                         pair(s, sizeof s, seq, o.stride_h, o.stride_w));
    if ((st = kn__model_check_init(m, type, o.activation, o.l2, o.kernel_init, o.bias_init, o.no_bias, o.init_value)))
        return st;
    int64_t in[KN_MAX_DIMS], hwc[3], out[2], crop[2];
    if ((st = seq ? kn__model_sequence_input(m, type, in) : kn__model_image_input(m, type, in))) return st;
    input_image(m, i, seq, hwc);
    kn__conv_transpose_axis(hwc[0], o.kernel_h, o.stride_h, o.dilation_h, o.same, o.has_output_padding ?
                            o.output_padding_h : -1, &out[0], &crop[0]);
    kn__conv_transpose_axis(hwc[1], o.kernel_w, o.stride_w, o.dilation_w, o.same, o.has_output_padding ?
                            o.output_padding_w : -1, &out[1], &crop[1]);
    if (out[0] < 1 || out[1] < 1 || out[0] > (1 << 24) || out[1] > (1 << 24) || crop[0] > 255 || crop[1] > 255) {
        char shape[64], got[64];
        if (seq) snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)hwc[1], (long long)hwc[2]);
        else snprintf(shape, sizeof shape, "(%lld, %lld, %lld)", (long long)hwc[0], (long long)hwc[1], (long long)hwc[2]);
        if (seq) snprintf(got, sizeof got, "(%lld, %lld) cropped %lld", (long long)out[1], (long long)o.filters,
                          (long long)crop[1]);
        else snprintf(got, sizeof got, "(%lld, %lld, %lld) cropped %lldx%lld", (long long)out[0], (long long)out[1],
                      (long long)o.filters, (long long)crop[0], (long long)crop[1]);
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: input %s under a %s kernel (strides %s, dilation %s, "
                         "'%s') gives %s (want a non-empty output, at most 2^24 a side, a crop of 255 at most)", i, type,
                         shape, pair(k, sizeof k, seq, o.kernel_h, o.kernel_w),
                         pair(s, sizeof s, seq, o.stride_h, o.stride_w), pair(d, sizeof d, seq, o.dilation_h, o.dilation_w),
                         o.same ? "same" : "valid", got);
    }
    if ((int64_t)o.kernel_h * o.kernel_w * o.filters * hwc[2] > (1LL << 28))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: a %s kernel from %lld to %lld channels is too large", i,
                         type, pair(k, sizeof k, seq, o.kernel_h, o.kernel_w), (long long)hwc[2], (long long)o.filters);
    kn__layer L = {.kind = seq ? KN__LAYER_CONV1D_TRANSPOSE : KN__LAYER_CONV_TRANSPOSE, .u.conv_transpose = o,
                   .ndim = seq ? 2 : 3};
    L.index = kn__model_count_kind(m, L.kind);
    if (seq) L.shape[0] = out[1], L.shape[1] = o.filters;
    else L.shape[0] = out[0], L.shape[1] = out[1], L.shape[2] = o.filters;
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_conv2d_transpose(kn_model *m, const kn_conv2d_transpose_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    kn_conv2d_transpose_opts o = *opts;
    if (!o.stride_h) o.stride_h = 1;
    if (!o.stride_w) o.stride_w = 1;
    if (!o.dilation_h) o.dilation_h = 1;
    if (!o.dilation_w) o.dilation_w = 1;
    return add_layer(m, o, false);
}

kn_status kn_model_add_conv1d_transpose(kn_model *m, const kn_conv1d_transpose_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    const kn_conv1d_transpose_opts *p = opts;
    kn_conv2d_transpose_opts o = {.filters = p->filters, .kernel_h = 1, .kernel_w = p->kernel_size, .stride_h = 1,
                                  .stride_w = p->stride ? p->stride : 1, .dilation_h = 1,
                                  .dilation_w = p->dilation ? p->dilation : 1, .same = p->same,
                                  .has_output_padding = p->has_output_padding, .output_padding_w = p->output_padding,
                                  .activation = p->activation, .alpha = p->alpha, .no_bias = p->no_bias,
                                  .kernel_init = p->kernel_init, .bias_init = p->bias_init,
                                  .init_value = p->init_value, .l2 = p->l2};
    return add_layer(m, o, true);
}

int kn__conv_transpose_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    if (L->kind != KN__LAYER_CONV_TRANSPOSE && L->kind != KN__LAYER_CONV1D_TRANSPOSE) return 0;
    const kn_conv2d_transpose_opts *o = &L->u.conv_transpose;
    int64_t hwc[3];
    input_image(m, i, is_sequence(L), hwc);
    int n = 0;
    out[n++] = (kn__rnn_param){"kernel", {(int64_t)o->kernel_h * o->kernel_w, o->filters, hwc[2]}, 3, o->kernel_init,
                               0, 0};
    if (!o->no_bias) out[n++] = (kn__rnn_param){"bias", {o->filters, 0, 0}, 1, o->bias_init, 0, 0};
    return n;
}

kn_tensor *kn__model_conv_transpose(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg) {
    kn__layer *L = &m->layers[i];
    const kn_conv2d_transpose_opts *o = &L->u.conv_transpose;
    int64_t hwc[3];
    input_image(m, i, is_sequence(L), hwc);
    kn_tensor *p[KN__LAYER_MAX_PARAMS] = {NULL};
    int np = kn__model_make_params(m, g, i, o->init_value, p);
    if (np < 0) return NULL;
    L->kernel = p[0];
    L->bias = o->no_bias ? NULL : p[1];
    h = kn__model_view_as(g, h, hwc, 3);
    /* (KH KW, filters, C) read as the (KH KW filters, C) matrix: the same floats */
    kn_tensor *k2 = kn_reshape(g, L->kernel, (int64_t[]){(int64_t)o->kernel_h * o->kernel_w * o->filters, hwc[2]}, 2);
    h = kn_conv2d_transpose(g, h, k2, o);
    if (L->bias) h = kn_add(g, h, L->bias);
    if (o->l2 > 0) {
        g->build_phase = KN_PHASE_LOSS;
        kn_tensor *r = kn_scale(g, kn_sum_squares(g, L->kernel), o->l2);
        *reg = *reg ? kn_add(g, *reg, r) : r;
        g->build_phase = KN_PHASE_FORWARD;
    }
    return h;
}

int kn__conv_transpose_summary(const kn__layer *L, char *buf, size_t size) {
    const kn_conv2d_transpose_opts *o = &L->u.conv_transpose;
    bool seq = is_sequence(L);
    char k[40], s[40] = "", d[40] = "", op[48] = "", v[24];
    if (seq) snprintf(k, sizeof k, "kernel %d", o->kernel_w);
    else pair(k, sizeof k, false, o->kernel_h, o->kernel_w);
    if (o->stride_h > 1 || o->stride_w > 1)
        snprintf(s, sizeof s, " stride %s", pair(v, sizeof v, seq, o->stride_h, o->stride_w));
    if (o->dilation_h > 1 || o->dilation_w > 1)
        snprintf(d, sizeof d, " dilation %s", pair(v, sizeof v, seq, o->dilation_h, o->dilation_w));
    if (o->has_output_padding)
        snprintf(op, sizeof op, " output_padding %s", pair(v, sizeof v, seq, o->output_padding_h, o->output_padding_w));
    return snprintf(buf, size, " -> %s %lld %s%s%s%s%s %s", kn__layer_type(L), (long long)o->filters, k, s, d,
                    o->same ? " same" : "", op, kn_activation_name(o->activation));
}
