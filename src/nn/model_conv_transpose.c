/* model_conv_transpose.c — Keras's Conv2DTranspose as a model layer over images (height,
 * width, channels): graph/ops_conv_transpose.c's kn_conv2d_transpose (the convolution's
 * input gradient, so no kernel of its own), then a bias (filters) and the activation.
 *
 * Its kernel "conv2d_transpose_<i>/kernel" is Keras's (KH, KW, filters, C) stored as (KH KW,
 * filters, C), the same floats in the same order, so the initializers take Keras's fans
 * (fan_in KH KW filters, fan_out KH KW C: Keras counts the kernel's second-to-last axis as
 * its input, which for this layer is the output's channels); the graph reads it as the
 * (KH KW filters, C) matrix the op takes. Output sizes and the crop are Keras's
 * (kn__conv_transpose_axis, shared with the op). */
#include "model.h"

#include <stdio.h>

/* The sizes of layer i's output from its input (H, W, C); false when an axis comes out empty
 * or cropped by more than the op allows. */
static bool out_shape(const kn_conv2d_transpose_opts *o, const int64_t in[3], int64_t out[2], int64_t crop[2]) {
    kn__conv_transpose_axis(in[0], o->kernel_h, o->stride_h, o->dilation_h, o->same,
                            o->has_output_padding ? o->output_padding_h : -1, &out[0], &crop[0]);
    kn__conv_transpose_axis(in[1], o->kernel_w, o->stride_w, o->dilation_w, o->same,
                            o->has_output_padding ? o->output_padding_w : -1, &out[1], &crop[1]);
    return out[0] >= 1 && out[1] >= 1 && out[0] <= (1 << 24) && out[1] <= (1 << 24) && crop[0] <= 255 &&
           crop[1] <= 255;
}

kn_status kn_model_add_conv2d_transpose(kn_model *m, const kn_conv2d_transpose_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "conv2d_transpose";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    kn_conv2d_transpose_opts o = *opts;
    if (!o.stride_h) o.stride_h = 1;
    if (!o.stride_w) o.stride_w = 1;
    if (!o.dilation_h) o.dilation_h = 1;
    if (!o.dilation_w) o.dilation_w = 1;
    if (o.bias_init == KN_INIT_GLOROT_UNIFORM) o.bias_init = KN_INIT_ZEROS; /* as dense: 0 means zeros */
    if (!o.has_output_padding) o.output_padding_h = o.output_padding_w = 0;
    if (o.filters <= 0 || o.filters > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: filters is %lld (must be in [1, 2^24])", i, type,
                         (long long)o.filters);
    int v[6] = {o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w};
    for (int k = 0; k < 6; k++)
        if (v[k] < 1 || v[k] > 255)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: kernel %dx%d, strides %dx%d, dilation "
                             "%dx%d: each must be in [1, 255]", i, type, o.kernel_h, o.kernel_w, o.stride_h,
                             o.stride_w, o.dilation_h, o.dilation_w);
    if (o.has_output_padding && (o.output_padding_h < 0 || o.output_padding_h >= o.stride_h ||
                                 o.output_padding_w < 0 || o.output_padding_w >= o.stride_w))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: output_padding %dx%d must be below the "
                         "strides %dx%d (as Keras requires)", i, type, o.output_padding_h, o.output_padding_w,
                         o.stride_h, o.stride_w);
    if ((st = kn__model_check_init(m, type, o.activation, o.l2, o.kernel_init, o.bias_init, o.no_bias, o.init_value)))
        return st;
    int64_t in[KN_MAX_DIMS], out[2], crop[2];
    if ((st = kn__model_image_input(m, type, in))) return st;
    if (!out_shape(&o, in, out, crop))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: input (%lld, %lld, %lld) under a %dx%d kernel "
                         "(strides %dx%d, dilation %dx%d, '%s') gives (%lld, %lld, %lld) cropped %lldx%lld (want a "
                         "non-empty output, at most 2^24 a side, a crop of 255 at most)", i, type, (long long)in[0],
                         (long long)in[1], (long long)in[2], o.kernel_h, o.kernel_w, o.stride_h, o.stride_w,
                         o.dilation_h, o.dilation_w, o.same ? "same" : "valid", (long long)out[0], (long long)out[1],
                         (long long)o.filters, (long long)crop[0], (long long)crop[1]);
    if ((int64_t)o.kernel_h * o.kernel_w * o.filters * in[2] > (1LL << 28))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: a %dx%d kernel from %lld to %lld channels is too large",
                         i, type, o.kernel_h, o.kernel_w, (long long)in[2], (long long)o.filters);
    kn__layer L = {.kind = KN__LAYER_CONV_TRANSPOSE, .u.conv_transpose = o, .ndim = 3,
                   .index = kn__model_count_kind(m, KN__LAYER_CONV_TRANSPOSE),
                   .shape = {out[0], out[1], o.filters}};
    return kn__model_push_layer(m, &L);
}

int kn__conv_transpose_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    if (L->kind != KN__LAYER_CONV_TRANSPOSE) return 0;
    const kn_conv2d_transpose_opts *o = &L->u.conv_transpose;
    int64_t in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    int n = 0;
    out[n++] = (kn__rnn_param){"kernel", {(int64_t)o->kernel_h * o->kernel_w, o->filters, in[2]}, 3, o->kernel_init,
                               0, 0};
    if (!o->no_bias) out[n++] = (kn__rnn_param){"bias", {o->filters, 0, 0}, 1, o->bias_init, 0, 0};
    return n;
}

kn_tensor *kn__model_conv_transpose(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg) {
    kn__layer *L = &m->layers[i];
    const kn_conv2d_transpose_opts *o = &L->u.conv_transpose;
    int64_t in[KN_MAX_DIMS];
    kn__model_layer_input(m, i, in, NULL);
    kn_tensor *p[KN__LAYER_MAX_PARAMS] = {NULL};
    int np = kn__model_make_params(m, g, i, o->init_value, p);
    if (np < 0) return NULL;
    L->kernel = p[0];
    L->bias = o->no_bias ? NULL : p[1];
    h = kn__model_view_as(g, h, in, 3);
    /* (KH KW, filters, C) read as the (KH KW filters, C) matrix: the same floats */
    kn_tensor *k2 = kn_reshape(g, L->kernel, (int64_t[]){(int64_t)o->kernel_h * o->kernel_w * o->filters, in[2]}, 2);
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
    char strides[32] = "", dilation[32] = "", padding[40] = "";
    if (o->stride_h > 1 || o->stride_w > 1) snprintf(strides, sizeof strides, " stride %dx%d", o->stride_h, o->stride_w);
    if (o->dilation_h > 1 || o->dilation_w > 1)
        snprintf(dilation, sizeof dilation, " dilation %dx%d", o->dilation_h, o->dilation_w);
    if (o->has_output_padding)
        snprintf(padding, sizeof padding, " output_padding %dx%d", o->output_padding_h, o->output_padding_w);
    return snprintf(buf, size, " -> conv2d_transpose %lld %dx%d%s%s%s%s %s", (long long)o->filters, o->kernel_h,
                    o->kernel_w, strides, dilation, o->same ? " same" : "", padding, kn_activation_name(o->activation));
}
