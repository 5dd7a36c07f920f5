/* onnx_import_image.c — the ONNX importer's image nodes (onnx_import.c walks the graph and
 * says how values are tracked): Conv (and a 1x1 Conv of (N, C, 1, 1) features: dense),
 * MaxPool and AveragePool, ConvTranspose, Resize, Slice and Pad along H and W, PRelu,
 * GlobalAveragePool and GlobalMaxPool, BatchNormalization; with the window arithmetic that
 * turns ONNX's explicit pads into 'same' or a zero_padding2d / cropping2d beside the layer. */
#include "io/onnx_import.h"
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pads (top, left, bottom, right) of a window over h x w: from auto_pad or pads. */
static kn_status window_pads(imp *s, const int64_t k[2], const int64_t st[2], const int64_t d[2], int64_t pads[4]) {
    const kn__onnx_attr *ap = kn__onnx_attr_get(s->node, "auto_pad");
    const char *mode = ap && ap->kind == KN__ONNX_ATTR_STRING ? ap->s : "NOTSET";
    if (!kn__imp_attr_ints(s->node, "pads", 4, 0, pads)) return kn__imp_unsupported(s, "pads must be 4 values");
    if (strcmp(mode, "SAME_UPPER") == 0 || strcmp(mode, "SAME_LOWER") == 0) {
        int64_t in[2] = {s->h, s->w};
        for (int a = 0; a < 2; a++) {
            int64_t out = (in[a] + st[a] - 1) / st[a], eff = (k[a] - 1) * d[a] + 1;
            int64_t total = (out - 1) * st[a] + eff - in[a];
            if (total < 0) total = 0;
            int64_t small = total / 2, big = total - small;
            pads[a] = mode[5] == 'U' ? small : big;
            pads[a + 2] = mode[5] == 'U' ? big : small;
        }
    } else if (strcmp(mode, "VALID") == 0) {
        memset(pads, 0, 4 * sizeof *pads);
    } else if (strcmp(mode, "NOTSET") != 0 && mode[0]) {
        return kn__imp_unsupported(s, "auto_pad is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
    }
    for (int a = 0; a < 4; a++)
        if (pads[a] < 0 || pads[a] > 4096) return kn__imp_unsupported(s, "pads out of range");
    return KN_OK;
}

/* Whether pads are kiln's (Keras's) 'same' for the window: the total an output of ceil(in /
 * stride) needs, its smaller half before. */
static bool pads_same(const imp *s, const int64_t k[2], const int64_t st[2], const int64_t d[2], const int64_t pads[4]) {
    int64_t in[2] = {s->h, s->w};
    for (int a = 0; a < 2; a++) {
        int64_t out = (in[a] + st[a] - 1) / st[a], eff = (k[a] - 1) * d[a] + 1;
        int64_t total = (out - 1) * st[a] + eff - in[a];
        if (total < 0) total = 0;
        if (pads[a] != total / 2 || pads[a + 2] != total - total / 2) return false;
    }
    return true;
}

static bool pads_zero(const int64_t pads[4]) { return !pads[0] && !pads[1] && !pads[2] && !pads[3]; }

/* The output size of a window (after pads) along each axis, or false when it has none. */
static bool window_out(imp *s, const int64_t k[2], const int64_t st[2], const int64_t d[2], const int64_t pads[4],
                       int64_t out[2]) {
    int64_t in[2] = {s->h + pads[0] + pads[2], s->w + pads[1] + pads[3]};
    for (int a = 0; a < 2; a++) {
        int64_t eff = (k[a] - 1) * d[a] + 1;
        if (k[a] < 1 || k[a] > 255 || st[a] < 1 || st[a] > 255 || d[a] < 1 || d[a] > 255 || eff > in[a]) return false;
        out[a] = (in[a] - eff) / st[a] + 1;
    }
    return true;
}

/* A layer of `type` whose `key` is [[top, bottom], [left, right]] (zero_padding2d's padding,
 * cropping2d's cropping). */
kn_status kn__imp_add_edges(imp *s, const char *type, const char *key, int64_t top, int64_t bottom, int64_t left,
                            int64_t right) {
    imp_layer *P = kn__imp_add_layer(s, type);
    cJSON *pad = cJSON_CreateArray(), *a = cJSON_CreateArray(), *b = cJSON_CreateArray();
    if (!P || !pad || !a || !b) {
        cJSON_Delete(pad), cJSON_Delete(a), cJSON_Delete(b);
        return kn__imp_oom(s);
    }
    cJSON_AddItemToArray(a, cJSON_CreateNumber((double)top));
    cJSON_AddItemToArray(a, cJSON_CreateNumber((double)bottom));
    cJSON_AddItemToArray(b, cJSON_CreateNumber((double)left));
    cJSON_AddItemToArray(b, cJSON_CreateNumber((double)right));
    cJSON_AddItemToArray(pad, a);
    cJSON_AddItemToArray(pad, b);
    cJSON_AddItemToObject(P->json, key, pad);
    return KN_OK;
}

/* A zero_padding2d layer of (top, bottom) rows and (left, right) columns. */
static kn_status add_zero_padding(imp *s, int64_t top, int64_t bottom, int64_t left, int64_t right) {
    return kn__imp_add_edges(s, "zero_padding2d", "padding", top, bottom, left, right);
}

/* A 1x1 Conv of (batch, C, 1, 1) features (a global pool's, as squeeze-and-excitation's
 * fc1 and fc2): dense, its output (batch, F, 1, 1) still. */
static kn_status read_conv_of_features(imp *s) {
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1), *B = kn__imp_const_input(s, 2, -1);
    if (!W || W->ndim != 4 || W->dims[2] != 1 || W->dims[3] != 1 || kn__imp_attr_int(s->node, "group", 1) != 1)
        return kn__imp_unsupported(s, "a Conv of (batch, C, 1, 1) features other than 1x1 of group 1");
    int64_t pads[4];
    if (!kn__imp_attr_ints(s->node, "pads", 4, 0, pads) || !pads_zero(pads)) return kn__imp_unsupported(s, "a padded 1x1 Conv");
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && (!B || B->numel != W->dims[0]))
        return kn__imp_unsupported(s, "B must be a constant of one value per filter");
    kn__onnx_tensor w2 = *W; /* (F, C) */
    w2.ndim = 2;
    kn_status st = kn__imp_dense_from(s, &w2, true, 1.0f);
    if (st || !B) return st;
    imp_layer *L = &s->L[s->src_layer];
    memcpy(kn__imp_param_of(L, "bias"), B->f, (size_t)B->numel * sizeof(float));
    L->has_bias = true;
    return KN_OK;
}

kn_status kn__imp_read_conv(imp *s) {
    if (!s->image && !s->seq && !s->ids && s->units == 2) return read_conv_of_features(s);
    kn_status st = kn__imp_need_image(s);
    if (st) return st;
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1), *B = kn__imp_const_input(s, 2, -1);
    if (!W || W->ndim != 4) return kn__imp_unsupported(s, "W must be a 4-D constant (F, C / group, KH, KW): kiln reads 2-D convolutions");
    int64_t F = W->dims[0], cg = W->dims[1], kh = W->dims[2], kw = W->dims[3], group = kn__imp_attr_int(s->node, "group", 1);
    int64_t k[2] = {kh, kw}, str[2], dil[2], pads[4], ks[2];
    if (!kn__imp_attr_ints(s->node, "strides", 2, 1, str) || !kn__imp_attr_ints(s->node, "dilations", 2, 1, dil) ||
        !kn__imp_attr_ints(s->node, "kernel_shape", 2, 0, ks))
        return kn__imp_unsupported(s, "strides, dilations and kernel_shape must have 2 values");
    if ((ks[0] && ks[0] != kh) || (ks[1] && ks[1] != kw)) return kn__imp_fail(s, KN_ERR_SHAPE, "kernel_shape differs from W's", NULL);
    bool depthwise = group > 1 && group == s->c && cg == 1; /* (else grouped: conv2d's groups) */
    if (group < 1 || group > 4096 || cg * group != s->c || F % group)
        return kn__imp_unsupported(s, "W (F, C / group, KH, KW) does not fit the input's channels and the group");
    if (B && B->numel != F) return kn__imp_fail(s, KN_ERR_SHAPE, "B does not have one value per filter", NULL);
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && !B) return kn__imp_unsupported(s, "B must be a constant");
    if ((st = window_pads(s, k, str, dil, pads))) return st;
    int64_t out[2];
    if (!window_out(s, k, str, dil, pads, out)) return kn__imp_unsupported(s, "the window does not fit the image");
    bool same = !pads_zero(pads) && pads_same(s, k, str, dil, pads);
    /* explicit padding first, then a 'valid' convolution */
    if (!pads_zero(pads) && !same && (st = add_zero_padding(s, pads[0], pads[2], pads[1], pads[3]))) return st;
    imp_layer *L = kn__imp_add_layer(s, depthwise ? "depthwise_conv2d" : "conv2d");
    if (!L) return kn__imp_oom(s);
    L->weighted = true;
    int64_t M = F / s->c, taps = kh * kw;
    float *kern = kn__imp_add_param(L, depthwise ? "depthwise_kernel" : "kernel", taps * (depthwise ? F : cg * F));
    float *bias = kern ? kn__imp_add_param(L, "bias", F) : NULL;
    bool ok = bias && kn__imp_add_pair(L->json, "kernel_size", kh, kw) && kn__imp_add_pair(L->json, "strides", str[0], str[1]) &&
              kn__imp_add_pair(L->json, "dilation_rate", dil[0], dil[1]) &&
              cJSON_AddStringToObject(L->json, "padding", same ? "same" : "valid") &&
              (depthwise ? cJSON_AddNumberToObject(L->json, "depth_multiplier", (double)M) != NULL
                         : cJSON_AddNumberToObject(L->json, "filters", (double)F) != NULL) &&
              (depthwise || group == 1 || cJSON_AddNumberToObject(L->json, "groups", (double)group));
    if (!ok) return kn__imp_oom(s);
    for (int64_t f = 0; f < F; f++)
        for (int64_t c = 0; c < cg; c++)
            for (int64_t t = 0; t < taps; t++) {
                float v = W->f[(f * cg + c) * taps + t];
                if (depthwise) kern[t * F + f] = v;            /* (KH*KW, C*M): output f = c M + m */
                else kern[(t * cg + c) * F + f] = v;           /* (KH*KW*C/group, F) */
            }
    if (B) memcpy(bias, B->f, (size_t)F * sizeof *bias);
    L->has_bias = B != NULL;
    s->c = F, s->h = out[0], s->w = out[1];
    return KN_OK;
}

kn_status kn__imp_read_pool(imp *s, bool max) {
    kn_status st = kn__imp_need_image(s);
    if (st) return st;
    int64_t k[2], str[2], dil[2], pads[4], out[2];
    if (!kn__imp_attr_ints(s->node, "kernel_shape", 2, 0, k) || !kn__imp_attr_ints(s->node, "strides", 2, 1, str) ||
        !kn__imp_attr_ints(s->node, "dilations", 2, 1, dil))
        return kn__imp_unsupported(s, "kernel_shape, strides and dilations must have 2 values");
    if (dil[0] != 1 || dil[1] != 1) return kn__imp_unsupported(s, "dilated pooling");
    if (s->node->n_outputs > 1 && s->node->outputs[1][0]) return kn__imp_unsupported(s, "the indices output");
    if ((st = window_pads(s, k, str, dil, pads))) return st;
    bool explicit_pads = !pads_zero(pads);
    if (kn__imp_attr_int(s->node, "ceil_mode", 0)) { /* the last window may hang over the bottom and right edges */
        int64_t size[2] = {s->h, s->w};
        for (int d = 0; d < 2; d++) {
            int64_t in = size[d] + pads[d] + pads[d + 2], o = (in - k[d] + str[d] - 1) / str[d] + 1;
            if (in < k[d]) return kn__imp_unsupported(s, "the window does not fit the image");
            if ((o - 1) * str[d] >= size[d] + pads[d]) o--; /* (a window must begin inside the image or its top/left pad) */
            pads[d + 2] += (o - 1) * str[d] + k[d] - in;  /* the overhang, as pads the pool does not count */
        }
    }
    bool same = !pads_zero(pads);
    if (same && !pads_same(s, k, str, dil, pads) && max && s->nonneg) {
        /* over values of no sign (a relu's, as in ResNet's stem: 3x3, stride 2, pads 1), zeros
         * pad as -inf does: zero_padding2d, then a 'valid' pool */
        if ((st = add_zero_padding(s, pads[0], pads[2], pads[1], pads[3]))) return st;
        s->h += pads[0] + pads[2], s->w += pads[1] + pads[3];
        memset(pads, 0, sizeof pads);
        same = false;
    } else if (same && !pads_same(s, k, str, dil, pads)) {
        return kn__imp_unsupported(s, "pads that are neither none ('valid') nor Keras's 'same' (max pooling takes them as "
                              "zero padding only over values of no sign, after a relu)");
    }
    if (explicit_pads && !max && kn__imp_attr_int(s->node, "count_include_pad", 0))
        return kn__imp_unsupported(s, "count_include_pad = 1 with pads (kiln's 'same' averages the cells inside)");
    if (!window_out(s, k, str, dil, pads, out)) return kn__imp_unsupported(s, "the window does not fit the image");
    imp_layer *L = kn__imp_add_layer(s, max ? "max_pool2d" : "average_pool2d");
    if (!L || !kn__imp_add_pair(L->json, "pool_size", k[0], k[1]) || !kn__imp_add_pair(L->json, "strides", str[0], str[1]) ||
        !cJSON_AddStringToObject(L->json, "padding", same ? "same" : "valid"))
        return kn__imp_oom(s);
    s->h = out[0], s->w = out[1];
    return KN_OK;
}

/* A cropping2d layer removing (top, bottom) rows and (left, right) columns. */
static kn_status add_cropping(imp *s, int64_t top, int64_t bottom, int64_t left, int64_t right) {
    kn_status st = kn__imp_add_edges(s, "cropping2d", "cropping", top, bottom, left, right);
    if (!st) s->h -= top + bottom, s->w -= left + right;
    return st;
}

/* A ConvTranspose's W, a constant of 2 + spatial dimensions (C, F, ...) over the input's C
 * channels, when the node is one kiln reads (group 1, no output_shape, auto_pad NOTSET or
 * VALID); else NULL, refused (*st). Shared by the 2-D reader below and the 1-D one. */
const kn__onnx_tensor *kn__imp_conv_transpose_weights(imp *s, int spatial, kn_status *st) {
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1);
    const kn__onnx_attr *ap = kn__onnx_attr_get(s->node, "auto_pad");
    if (!W || W->ndim != 2 + spatial || W->dims[0] != s->c)
        *st = kn__imp_unsupported(s, spatial == 2 ? "W must be a 4-D constant (C, F, KH, KW) over the input's channels"
                                                  : "W must be a 3-D constant (C, F, K) over the input's channels");
    else if (kn__imp_attr_int(s->node, "group", 1) != 1) *st = kn__imp_unsupported(s, "a grouped ConvTranspose");
    else if (kn__onnx_attr_get(s->node, "output_shape"))
        *st = kn__imp_unsupported(s, "output_shape (give pads and output_padding)");
    else if (ap && ap->kind == KN__ONNX_ATTR_STRING && ap->s[0] && strcmp(ap->s, "NOTSET") != 0 && strcmp(ap->s, "VALID") != 0)
        *st = kn__imp_unsupported(s, "auto_pad other than NOTSET or VALID");
    else return W;
    return NULL;
}

/* ConvTranspose (group 1): conv2d_transpose 'valid' with its output_padding, then a
 * cropping2d of the pads (ONNX's output s (in - 1) + output_padding + (k - 1) d + 1 - pads);
 * W (C, F, KH, KW) as kiln's (KH*KW*F, C). */
kn_status kn__imp_read_conv_transpose(imp *s) {
    kn_status st = kn__imp_need_image(s);
    if (st) return st;
    const kn__onnx_tensor *W = kn__imp_conv_transpose_weights(s, 2, &st), *B = kn__imp_const_input(s, 2, -1);
    if (!W) return st;
    int64_t C = s->c, F = W->dims[1], kh = W->dims[2], kw = W->dims[3], taps = kh * kw;
    int64_t str[2], dil[2], pads[4], opad[2];
    if (!kn__imp_attr_ints(s->node, "strides", 2, 1, str) || !kn__imp_attr_ints(s->node, "dilations", 2, 1, dil) ||
        !kn__imp_attr_ints(s->node, "pads", 4, 0, pads) || !kn__imp_attr_ints(s->node, "output_padding", 2, 0, opad))
        return kn__imp_unsupported(s, "strides, dilations, pads and output_padding must have 2, 2, 4 and 2 values");
    for (int a = 0; a < 2; a++)
        if (str[a] < 1 || str[a] > 255 || dil[a] < 1 || dil[a] > 255 || opad[a] < 0 || opad[a] >= (str[a] > dil[a] ? str[a] : dil[a]) ||
            kh < 1 || kh > 255 || kw < 1 || kw > 255)
            return kn__imp_unsupported(s, "strides, dilations, kernel or output_padding out of range");
    if (B && B->numel != F) return kn__imp_fail(s, KN_ERR_SHAPE, "B does not have one value per filter", NULL);
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && !B) return kn__imp_unsupported(s, "B must be a constant");
    int64_t fh = (s->h - 1) * str[0] + (kh - 1) * dil[0] + 1 + opad[0], fw = (s->w - 1) * str[1] + (kw - 1) * dil[1] + 1 + opad[1];
    for (int a = 0; a < 4; a++)
        if (pads[a] < 0) return kn__imp_unsupported(s, "negative pads");
    if (pads[0] + pads[2] >= fh || pads[1] + pads[3] >= fw) return kn__imp_unsupported(s, "pads that leave no output");
    imp_layer *L = kn__imp_add_layer(s, "conv2d_transpose");
    if (!L) return kn__imp_oom(s);
    L->weighted = true;
    float *kern = kn__imp_add_param(L, "kernel", taps * F * C), *bias = kern ? kn__imp_add_param(L, "bias", F) : NULL;
    if (!bias || !cJSON_AddNumberToObject(L->json, "filters", (double)F) || !kn__imp_add_pair(L->json, "kernel_size", kh, kw) ||
        !kn__imp_add_pair(L->json, "strides", str[0], str[1]) || !kn__imp_add_pair(L->json, "dilation_rate", dil[0], dil[1]) ||
        !kn__imp_add_pair(L->json, "output_padding", opad[0], opad[1]) || !cJSON_AddStringToObject(L->json, "padding", "valid"))
        return kn__imp_oom(s);
    for (int64_t c = 0; c < C; c++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t t = 0; t < taps; t++) kern[(t * F + f) * C + c] = W->f[(c * F + f) * taps + t];
    if (B) memcpy(bias, B->f, (size_t)F * sizeof *bias);
    L->has_bias = B != NULL;
    s->c = F, s->h = fh, s->w = fw;
    if (pads[0] || pads[1] || pads[2] || pads[3]) {
        L->has_act = true; /* (an activation after the crop is its own layer) */
        if ((st = add_cropping(s, pads[0], pads[2], pads[1], pads[3]))) return st;
    }
    return KN_OK;
}

/* Resize along H and W. By whole scales, nearest (asymmetric, floor: Keras's repeat; PyTorch's
 * nn.Upsample) or linear (half-pixel, PyTorch's pytorch_half_pixel): up_sampling2d. To any
 * other size, or by whole scales in another mode kiln computes: resizing, half-pixel with the
 * scale in / out (Keras's Resizing, PyTorch's F.interpolate(size=...)): linear with half_pixel
 * or pytorch_half_pixel (which reads cell 0 where an output side is 1: kiln's only when its
 * input side is 1 too), nearest whose source is floor((o + 0.5) in / out): half_pixel (or
 * pytorch_half_pixel, as above) rounding round_prefer_ceil, or tf_half_pixel_for_nn flooring.
 * Scales must give a whole output (in * scale), so that ONNX's 1 / scale is in / out. */
kn_status kn__imp_read_resize(imp *s) {
    kn_status st = kn__imp_need_image(s);
    if (st) return st;
    const kn__onnx_tensor *sc = s->node->n_inputs > 2 && s->node->inputs[2][0] ? kn__imp_constant(s, s->node->inputs[2]) : NULL;
    const kn__onnx_tensor *sz = s->node->n_inputs > 3 && s->node->inputs[3][0] ? kn__imp_constant(s, s->node->inputs[3]) : NULL;
    if (sc && sc->numel == 0) sc = NULL; /* an empty scales beside sizes (opset 13 allows it) */
    double f[4] = {0};
    int64_t in[4] = {1, s->c, s->h, s->w}, out[2];
    bool exact = true; /* the output sizes are in * scale exactly (sizes: always) */
    if (sc && sc->f && sc->numel == 4) {
        for (int k = 0; k < 4; k++) f[k] = sc->f[k];
        for (int a = 0; a < 2; a++) {
            double o = (double)in[a + 2] * f[a + 2]; /* ONNX's output: floor(in * scale) */
            out[a] = o >= 0 && o < 1e9 ? (int64_t)floor(o) : -1;
            if (fabs(o - (double)out[a]) > 1e-6 * o) exact = false;
        }
    } else if (sz && sz->i && sz->numel == 4) {
        for (int k = 1; k < 4; k++) f[k] = (double)sz->i[k] / (double)in[k];
        f[0] = 1;
        out[0] = sz->i[2], out[1] = sz->i[3];
    } else if (!sc && !sz && s->node->n_inputs > 3 && s->node->inputs[3][0]) {
        /* sizes computed from the input's shape (kiln's export, PyTorch's of size=...): the batch, then fixed */
        int64_t k[8];
        bool batched[8];
        int n = 0;
        if ((st = kn__imp_eval_shape(s, s->node->inputs[3], k, batched, &n))) return st;
        if (n != 4 || !batched[0] || k[0] != 1 || batched[1] || batched[2] || batched[3])
            return kn__imp_unsupported(s, "sizes must be the batch, then fixed channels, height and width");
        for (int j = 1; j < 4; j++) f[j] = (double)k[j] / (double)in[j];
        f[0] = 1;
        out[0] = k[2], out[1] = k[3];
    } else {
        return kn__imp_unsupported(s, "scales (or sizes) must be a constant of 4 values");
    }
    if (f[0] != 1 || f[1] != 1) return kn__imp_unsupported(s, "kiln resizes H and W only (N and C keep their size)");
    const kn__onnx_attr *mode = kn__onnx_attr_get(s->node, "mode"), *ct = kn__onnx_attr_get(s->node, "coordinate_transformation_mode"),
                        *nm = kn__onnx_attr_get(s->node, "nearest_mode"), *kar = kn__onnx_attr_get(s->node, "keep_aspect_ratio_policy");
    const char *mo = mode && mode->kind == KN__ONNX_ATTR_STRING ? mode->s : "nearest";
    const char *co = ct && ct->kind == KN__ONNX_ATTR_STRING ? ct->s : "half_pixel";
    const char *ne = nm && nm->kind == KN__ONNX_ATTR_STRING ? nm->s : "round_prefer_floor";
    if (kn__imp_attr_int(s->node, "antialias", 0) != 0) return kn__imp_unsupported(s, "antialias (kiln's resizing has none)");
    if (kar && kar->kind == KN__ONNX_ATTR_STRING && kar->s[0] && strcmp(kar->s, "stretch") != 0)
        return kn__imp_unsupported(s, "keep_aspect_ratio_policy other than stretch");
    bool whole = f[2] >= 1 && f[3] >= 1 && f[2] <= 4096 && f[3] <= 4096 && f[2] == floor(f[2]) && f[3] == floor(f[3]);
    bool nearest = strcmp(mo, "nearest") == 0 && strcmp(co, "asymmetric") == 0 && strcmp(ne, "floor") == 0;
    bool half = strcmp(co, "half_pixel") == 0, torch_half = strcmp(co, "pytorch_half_pixel") == 0;
    bool linear = strcmp(mo, "linear") == 0 && (half || torch_half);
    if (whole && (nearest || linear)) {
        imp_layer *L = kn__imp_add_layer(s, "up_sampling2d");
        if (!L || !kn__imp_add_pair(L->json, "size", (int64_t)f[2], (int64_t)f[3]) ||
            !cJSON_AddStringToObject(L->json, "interpolation", nearest ? "nearest" : "bilinear"))
            return kn__imp_oom(s);
        s->h *= (int64_t)f[2], s->w *= (int64_t)f[3];
        return KN_OK;
    }
    bool exact_nearest = strcmp(mo, "nearest") == 0 &&
                         (((half || torch_half) && strcmp(ne, "round_prefer_ceil") == 0) ||
                          (strcmp(co, "tf_half_pixel_for_nn") == 0 && strcmp(ne, "floor") == 0));
    if (!linear && !exact_nearest)
        return kn__imp_unsupported(s, "kiln resizes linear (half_pixel, pytorch_half_pixel) or nearest (half_pixel with "
                                   "round_prefer_ceil, tf_half_pixel_for_nn with floor), and by whole factors nearest "
                                   "(asymmetric, floor)");
    if (out[0] < 1 || out[1] < 1 || out[0] > (1 << 23) || out[1] > (1 << 23))
        return kn__imp_unsupported(s, "an output side outside [1, 2^23]");
    if (torch_half && ((out[0] == 1 && s->h > 1) || (out[1] == 1 && s->w > 1)))
        return kn__imp_unsupported(s, "pytorch_half_pixel to an output side of 1 (it reads cell 0; kiln's half-pixel "
                                   "reads the middle)");
    if (!exact) return kn__imp_unsupported(s, "scales whose outputs in * scale are not whole (give sizes)");
    imp_layer *L = kn__imp_add_layer(s, "resizing");
    if (!L || !cJSON_AddNumberToObject(L->json, "height", (double)out[0]) ||
        !cJSON_AddNumberToObject(L->json, "width", (double)out[1]) ||
        !cJSON_AddStringToObject(L->json, "interpolation", linear ? "bilinear" : "nearest"))
        return kn__imp_oom(s);
    s->h = out[0], s->w = out[1];
    return KN_OK;
}

/* Input k of a Slice (starts, ends, axes, steps): an int constant (INT64_MAX for "to the
 * end" allowed), or worked out from the input's shape (torch.chunk computes its bounds from
 * the channels); *n 0 when it is absent. */
static kn_status slice_input(imp *s, int k, int64_t *out, int *n) {
    *n = 0;
    if (k >= s->node->n_inputs || !s->node->inputs[k][0]) return KN_OK;
    const kn__onnx_tensor *t = kn__imp_constant(s, s->node->inputs[k]);
    if (t && (!t->i || t->numel < 1 || t->numel > 4))
        return kn__imp_unsupported(s, "starts, ends, axes and steps must be int constants of one value an axis");
    if (t) {
        memcpy(out, t->i, (size_t)t->numel * sizeof *out);
        *n = (int)t->numel;
        return KN_OK;
    }
    kn__imp_shapes e = {.s = s};
    kn_status st = kn__imp_shape_fixed(&e, s->node->inputs[k], out, n);
    kn__imp_shapes_free(&e);
    if (!st && (*n < 1 || *n > 4)) st = kn__imp_unsupported(s, "starts, ends, axes and steps must have one value an axis");
    return st;
}

/* Slice of an image along H and W (steps 1): cropping2d; of its channels: a channel crop
 * (onnx_import_shuffle.c), after the cropping2d when both. */
kn_status kn__imp_read_slice(imp *s) {
    kn_status st = kn__imp_need_image(s);
    if (st) return st;
    int64_t t[4][8];
    int nt[4];
    for (int k = 0; k < 4; k++)
        if ((st = slice_input(s, k + 1, t[k], &nt[k]))) return st;
    if (!nt[0] || nt[0] != nt[1] || (nt[2] && nt[2] != nt[0]) || (nt[3] && nt[3] != nt[0]))
        return kn__imp_unsupported(s, "starts and ends must be int constants of one value an axis");
    int64_t crop[4] = {0, 0, 0, 0}, size[3] = {s->c, s->h, s->w}; /* top, left, bottom, right */
    int64_t cb = 0, ce = s->c;                                   /* the channels kept: [cb, ce) */
    bool grid = false;
    for (int k = 0; k < nt[0]; k++) {
        int64_t axis = nt[2] ? t[2][k] : k, step = nt[3] ? t[3][k] : 1;
        if (axis < 0) axis += 4;
        if (step != 1 || axis < 1 || axis > 3) return kn__imp_unsupported(s, "a Slice other than of C, H and W, steps 1");
        int64_t n = size[axis - 1], b = t[0][k], e = t[1][k];
        if (b < 0) b += n;
        if (e < 0) e += n;
        b = b < 0 ? 0 : b > n ? n : b;
        e = e < 0 ? 0 : e > n ? n : e;
        if (e <= b) return kn__imp_unsupported(s, "a Slice that keeps nothing");
        if (axis == 1) cb = b, ce = e;
        else crop[axis - 2] = b, crop[axis] = n - e, grid = true;
    }
    if ((grid || (cb == 0 && ce == s->c)) && (st = add_cropping(s, crop[0], crop[2], crop[1], crop[3]))) return st;
    return kn__imp_channel_crop(s, cb, ce);
}

/* PRelu of a constant slope: prelu, per channel ((C, 1, 1), or one value) or per element. */
kn_status kn__imp_read_prelu(imp *s) {
    const kn__onnx_tensor *sl = kn__imp_const_input(s, 1, -1);
    bool ncl = s->seq && strcmp(s->ord, "NCL") == 0, grid = s->image || s->seq; /* channels along a grid */
    int64_t n = s->image ? s->c * s->h * s->w : s->seq ? s->l * s->c : s->f, ch = grid ? s->c : s->f;
    if (!sl) return kn__imp_unsupported(s, "the slope must be a constant");
    if (s->ids || (s->seq && ((!ncl && strcmp(s->ord, "NLC") != 0) || s->d != 1)))
        return kn__imp_unsupported(s, "a PRelu of a sequence other than (batch, C, L) or (batch, L, C)");
    bool per_channel = grid && (sl->numel == ch || sl->numel == 1) && !(sl->numel == n && sl->ndim == (s->seq ? 2 : 3));
    if (!per_channel && sl->numel != n && sl->numel != 1)
        return kn__imp_unsupported(s, "a slope of one value, one per channel or one per element");
    imp_layer *L = kn__imp_add_layer(s, "prelu");
    if (!L) return kn__imp_oom(s);
    if (per_channel) {
        cJSON *axes = cJSON_CreateArray();
        if (!axes) return kn__imp_oom(s);
        cJSON_AddItemToArray(axes, cJSON_CreateNumber(1));
        if (s->image) cJSON_AddItemToArray(axes, cJSON_CreateNumber(2));
        cJSON_AddItemToObject(L->json, "shared_axes", axes);
    }
    int64_t count = per_channel ? ch : n;
    float *a = kn__imp_add_param(L, "alpha", count);
    if (!a) return kn__imp_oom(s);
    for (int64_t k = 0; k < count; k++) {
        int64_t src = k; /* kiln's (y, x, c) order from ONNX's (c, y, x) */
        if (!per_channel && s->image && !s->nhwc) src = (k % s->c) * s->h * s->w + k / s->c; /* (H, W, C): kiln's */
        if (!per_channel && ncl) src = (k % s->c) * s->l + k / s->c; /* (l, c) from (c, l) */
        a[k] = sl->f[sl->numel == 1 ? 0 : src];
    }
    return KN_OK;
}

/* Pad with zeros along H and W (nothing when the pads are all 0): zero_padding2d. The pads
 * are input 1 (opset 11 on) or the pads attribute: begins then ends of (N, C, H, W). */
kn_status kn__imp_read_pad(imp *s) {
    kn_status st = kn__imp_need_image(s);
    if (st) return st;
    const kn__onnx_attr *mode = kn__onnx_attr_get(s->node, "mode");
    if (mode && mode->kind == KN__ONNX_ATTR_STRING && strcmp(mode->s, "constant") != 0)
        return kn__imp_unsupported(s, "a mode other than constant");
    int64_t p[8];
    const kn__onnx_tensor *pt = s->node->n_inputs > 1 ? kn__imp_constant(s, s->node->inputs[1]) : NULL;
    if (s->node->n_inputs > 1 && s->node->inputs[1][0]) {
        if (!pt || !pt->i || pt->numel != 8) return kn__imp_unsupported(s, "pads must be a constant of 8 values");
        memcpy(p, pt->i, sizeof p);
    } else if (!kn__imp_attr_ints(s->node, "pads", 8, 0, p)) {
        return kn__imp_unsupported(s, "pads must be 8 values");
    }
    const kn__onnx_tensor *v = s->node->n_inputs > 2 && s->node->inputs[2][0] ? kn__imp_const_input(s, 2, 1) : NULL;
    float value = v ? v->f[0] : kn__imp_attr_float(s->node, "value", 0.0f);
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && !v) return kn__imp_unsupported(s, "the value must be a constant");
    if (s->node->n_inputs > 3 && s->node->inputs[3][0]) return kn__imp_unsupported(s, "axes");
    if (p[0] || p[1] || p[4] || p[5]) return kn__imp_unsupported(s, "padding along the batch or the channels");
    for (int k = 0; k < 8; k++)
        if (p[k] < 0 || p[k] > 4096) return kn__imp_unsupported(s, "pads out of range (cropping)");
    if (!p[2] && !p[3] && !p[6] && !p[7]) return KN_OK;
    if (value != 0) return kn__imp_unsupported(s, "a value other than 0");
    if ((st = add_zero_padding(s, p[2], p[6], p[3], p[7]))) return st;
    s->h += p[2] + p[6], s->w += p[3] + p[7];
    return KN_OK;
}

/* Global pooling: kiln's layer gives (batch, C), the ONNX value (batch, C, 1, 1): the same
 * values in the same order, which the Flatten after it keeps. */
kn_status kn__imp_read_global_pool(imp *s, bool max) {
    kn_status st = kn__imp_need_image(s);
    if (st) return st;
    if (!kn__imp_add_layer(s, max ? "global_max_pool2d" : "global_average_pool2d")) return kn__imp_oom(s);
    s->image = false;
    s->f = s->c;
    s->units = 2; /* (batch, C, 1, 1) */
    return KN_OK;
}

kn_status kn__imp_read_batch_norm(imp *s) {
    if (s->image && s->nhwc) return kn__imp_need_image(s);
    if (s->vol && s->nhwc) return kn__imp_unsupported(s, "a batch norm of an (N, D, H, W, C) volume (its channels must be axis 1)");
    if (s->ids || (s->seq && (strcmp(s->ord, "NCL") != 0 || s->d != 1)))
        return kn__imp_unsupported(s, "a batch norm of a sequence other than over the channels of (batch, C, L)");
    int64_t n = s->image || s->seq || s->vol ? s->c : s->f; /* (a volume (N, C, D, H, W): over C, kiln's last axis) */
    const kn__onnx_tensor *p[4];
    for (int k = 0; k < 4; k++)
        if (!(p[k] = kn__imp_const_input(s, k + 1, n))) return kn__imp_unsupported(s, "scale, B, mean and var must be constants of one value per channel");
    if (kn__imp_attr_int(s->node, "training_mode", 0)) return kn__imp_unsupported(s, "training_mode = 1");
    if (!s->image && s->perm) return kn__imp_unsupported(s, "a batch norm after a Flatten of channels");
    if (s->node->n_outputs > 1) return kn__imp_unsupported(s, "running statistics outputs (a training graph)");
    imp_layer *L = kn__imp_add_layer(s, "batch_normalization");
    if (!L || !cJSON_AddNumberToObject(L->json, "epsilon", kn__imp_attr_float(s->node, "epsilon", 1e-5f))) return kn__imp_oom(s);
    static const char *const what[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (int k = 0; k < 4; k++) {
        float *d = kn__imp_add_param(L, what[k], n);
        if (!d) return kn__imp_oom(s);
        memcpy(d, p[k]->f, (size_t)n * sizeof *d);
    }
    return KN_OK;
}
