/* model_conv3d_transpose.c — Keras's Conv3DTranspose (PyTorch's ConvTranspose3d) as a model
 * layer over volumes: the adjoint of model_volume.c's conv3d, built the same way from the
 * 2-D ops. The conv3d from this layer's output (OD, OH, OW, filters) to its input (D, H, W,
 * C) is depth taps (graph/ops_depth_taps.c) then a conv2d over (batch D) images; its
 * transpose is therefore kn_conv2d_transpose over the input's (batch D, H, W, C) images into
 * (batch D, OH, OW, KD filters), whose KD groups of channels the depth-taps sum
 * (KN_OP_DEPTH_TAPS_GRAD) adds into the output depths od = d stride + t dilation - crop.
 * Each axis is sized and cropped as Keras's Conv2DTranspose's (kn__conv_transpose_axis,
 * shared with the 2-D op); then the bias and activation.
 *
 * The kernel "conv3d_transpose_<i>/kernel" is (KH KW KD, filters, C): Keras's (KD, KH, KW,
 * filters, C) with the depth axis moved after the width, as conv3d's, so the same (KH KW KD
 * filters, C) matrix is the 2-D op's kernel with KD filters; Keras's fans (fan_in KD KH KW
 * filters, fan_out KD KH KW C). */
#include "model.h"

#include <stdio.h>

kn_status kn_model_add_conv3d_transpose(kn_model *m, const kn_conv3d_transpose_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "conv3d_transpose";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    kn_conv3d_transpose_opts o = *opts;
    for (int a = 0; a < 3 && !o.has_output_padding; a++) o.output_padding[a] = 0;
    if ((st = kn__model_conv3d_window(m, type, o.filters, o.kernel, o.strides, o.dilation, &o.bias_init))) return st;
    for (int a = 0; a < 3 && o.has_output_padding; a++)
        if (o.output_padding[a] < 0 || o.output_padding[a] >= o.strides[a])
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: output_padding (%d, %d, %d) must be below "
                             "the strides (%d, %d, %d) (as Keras requires)", m->n_layers, type, o.output_padding[0],
                             o.output_padding[1], o.output_padding[2], o.strides[0], o.strides[1], o.strides[2]);
    if ((st = kn__model_check_init(m, type, o.activation, o.l2, o.kernel_init, o.bias_init, o.no_bias, o.init_value)))
        return st;
    int64_t in[KN_MAX_DIMS], crop[3];
    if ((st = kn__model_volume_input(m, type, in))) return st;
    kn__layer L = {.kind = KN__LAYER_CONV3D_TRANSPOSE, .u.conv3d_transpose = o,
                   .index = kn__model_count_kind(m, KN__LAYER_CONV3D_TRANSPOSE)};
    for (int a = 0; a < 3; a++) {
        kn__conv_transpose_axis(in[a], o.kernel[a], o.strides[a], o.dilation[a], o.same,
                                o.has_output_padding ? o.output_padding[a] : -1, &L.shape[a], &crop[a]);
        if (L.shape[a] < 1 || L.shape[a] > (1 << 24) || crop[a] > 255)
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: input (%lld, %lld, %lld, %lld) under a %dx%dx%d kernel "
                             "gives %lld cells along axis %d, cropped %lld (want 1 to 2^24, a crop of 255 at most)",
                             m->n_layers, type, (long long)in[0], (long long)in[1], (long long)in[2], (long long)in[3],
                             o.kernel[0], o.kernel[1], o.kernel[2], (long long)L.shape[a], a, (long long)crop[a]);
    }
    if ((int64_t)o.kernel[0] * o.kernel[1] * o.kernel[2] * o.filters * in[3] > (1LL << 28))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: a %dx%dx%d kernel from %lld to %lld channels is too large",
                         m->n_layers, type, o.kernel[0], o.kernel[1], o.kernel[2], (long long)in[3], (long long)o.filters);
    L.shape[3] = o.filters;
    return kn__model_push_volume(m, &L, type);
}

kn_tensor *kn__model_conv3d_transpose(kn_model *m, kn_graph *g, int i, kn_tensor *h, kn_tensor **reg) {
    kn__layer *L = &m->layers[i];
    const kn_conv3d_transpose_opts *o = &L->u.conv3d_transpose;
    int64_t in[KN_MAX_DIMS], od_n, crop_d;
    kn__model_layer_input(m, i, in, NULL);
    kn_tensor *p[KN__LAYER_MAX_PARAMS] = {NULL};
    if (kn__model_make_params(m, g, i, o->init_value, p) < 0) return NULL;
    L->kernel = p[0];
    L->bias = o->no_bias ? NULL : p[1];
    kn__conv_transpose_axis(in[0], o->kernel[0], o->strides[0], o->dilation[0], o->same,
                            o->has_output_padding ? o->output_padding[0] : -1, &od_n, &crop_d);
    /* height and width: the 2-D transpose over the (batch D, H, W, C) images, KD filters a tap */
    int64_t kf = (int64_t)o->kernel[0] * o->filters;
    kn_tensor *images = kn__reshape_rows(g, kn__model_view_as(g, h, in, 4), (int64_t[]){KN_BATCH, in[1], in[2], in[3]},
                                         4, in[0]);
    kn_conv2d_transpose_opts o2 = {.filters = kf, .kernel_h = o->kernel[1], .kernel_w = o->kernel[2],
                                   .stride_h = o->strides[1], .stride_w = o->strides[2], .dilation_h = o->dilation[1],
                                   .dilation_w = o->dilation[2], .same = o->same,
                                   .has_output_padding = o->has_output_padding,
                                   .output_padding_h = o->output_padding[1], .output_padding_w = o->output_padding[2]};
    kn_tensor *k2 = kn_reshape(g, L->kernel, (int64_t[]){(int64_t)o->kernel[1] * o->kernel[2] * kf, in[3]}, 2);
    kn_tensor *planes = kn_conv2d_transpose(g, images, k2, &o2); /* (batch D, OH, OW, KD filters) */
    /* the depth: each input slice's KD taps added into their output depths */
    planes = kn_reshape(g, planes, (int64_t[]){KN_BATCH, in[0] * L->shape[1], L->shape[2], kf}, 4);
    kn_tensor *y = kn__depth_taps_sum(g, planes, (int)od_n, o->kernel[0], o->strides[0], o->dilation[0], (int)crop_d,
                                      (int)in[0]);
    if (L->bias) y = kn_add(g, y, L->bias);
    if (o->l2 > 0) {
        g->build_phase = KN_PHASE_LOSS;
        kn_tensor *r = kn_scale(g, kn_sum_squares(g, L->kernel), o->l2);
        *reg = *reg ? kn_add(g, *reg, r) : r;
        g->build_phase = KN_PHASE_FORWARD;
    }
    return y; /* (batch, OD OH, OW, filters): a volume's view */
}

int kn__conv3d_transpose_summary(const kn__layer *L, char *buf, size_t size) {
    const kn_conv3d_transpose_opts *o = &L->u.conv3d_transpose;
    char s[48] = "", d[48] = "", op[48] = "";
    const int *st = o->strides, *dl = o->dilation, *pd = o->output_padding;
    if (st[0] > 1 || st[1] > 1 || st[2] > 1) snprintf(s, sizeof s, " stride %dx%dx%d", st[0], st[1], st[2]);
    if (dl[0] > 1 || dl[1] > 1 || dl[2] > 1) snprintf(d, sizeof d, " dilation %dx%dx%d", dl[0], dl[1], dl[2]);
    if (o->has_output_padding) snprintf(op, sizeof op, " output_padding %dx%dx%d", pd[0], pd[1], pd[2]);
    return snprintf(buf, size, " -> %s %lld %dx%dx%d%s%s%s%s %s", kn__layer_type(L), (long long)o->filters, o->kernel[0],
                    o->kernel[1], o->kernel[2], s, d, o->same ? " same" : "", op, kn_activation_name(o->activation));
}
