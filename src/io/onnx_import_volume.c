/* onnx_import_volume.c — the ONNX importer's volumes (N, C, D, H, W) as kiln's volume layers
 * over (D, H, W, C) samples (onnx_import.c walks the graph and says how values are tracked;
 * this is onnx_import_image.c's arithmetic with a depth axis):
 *
 *   Conv, 5-D W, group 1        conv3d: kernel (KH KW KD C, F) from ONNX's (F, C, KD, KH, KW)
 *                               (kiln's depth taps after the width); pads Keras's 'same' or
 *                               none, other pads a zero_padding3d before a 'valid' conv3d
 *   ConvTranspose, 5-D W,       conv3d_transpose 'valid' with its output_padding (kernel (KH KW
 *   group 1                     KD F, C) from ONNX's (C, F, KD, KH, KW)), a cropping3d of its pads
 *   MaxPool, AveragePool        max_pool3d, average_pool3d ('valid', or 'same' pads: cells
 *                               inside only, count_include_pad 0); an average counting its
 *                               pads (count_include_pad 1), or a max over values of no sign
 *                               (after a relu), with other pads: zero_padding3d, 'valid'
 *   GlobalAveragePool/MaxPool   global_average_pool3d, global_max_pool3d ((N, C, 1, 1, 1), the
 *   ReduceMean/Max over D H W   values of kiln's (C)); keepdims 0 gives (N, C)
 *   Pad (constant 0)            zero_padding3d of the positive pads, cropping3d of the negative
 *   Slice of D, H, W, steps 1   cropping3d
 *   Resize nearest (asymmetric, up_sampling3d by whole factors (kiln's nearest repeat)
 *   floor), Upsample nearest
 *   BatchNormalization          batch_normalization over C (kiln's last axis)
 *   Transpose (N, C, D, H, W)   nothing: kiln's volumes are (D, H, W, C) whatever ONNX's order
 *   <-> (N, D, H, W, C)
 *   Flatten, Reshape (batch, n) flatten; of (N, C, D, H, W) the next dense layer's rows are
 *                               reordered from (c, d, y, x) to kiln's (d, y, x, c)
 *
 * Activations, Dropout, Identity, merges and constant scalar operands (a conv3d's bias Add,
 * rescaling) are onnx_import.c's; every other op of a volume is refused naming the node. A
 * 5-D input is (N, C, D, H, W), or (N, D, H, W, C) when the graph transposes it to channels
 * first (kiln export's files, which hold kiln's order). */
#include "io/onnx_import.h"
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PAD_MAX = 4096 }; /* as onnx_import_image.c's pads */

/* The spatial index (0 depth, 1 height, 2 width) of ONNX axis a (negative from the end) of
 * the volume; -1 for the batch or the channels, -2 out of range. */
static int spatial_axis(const imp *s, int64_t a) {
    if (a < 0) a += 5;
    if (a < 0 || a > 4) return -2;
    int first = s->nhwc ? 1 : 2;
    return a >= first && a < first + 3 ? (int)(a - first) : -1;
}

/* The volume's values a sample must stay within kiln's 2^31 (so no product of its sizes
 * overflows); checked where it may grow (the input, padding, upsampling). */
static kn_status fits(imp *s) {
    double n = (double)s->c * (double)s->dp * (double)s->h * (double)s->w;
    return n > (double)(1LL << 31) ? kn__imp_unsupported(s, "a volume of more than 2^31 values a sample") : KN_OK;
}

static kn_status need_channels_first(imp *s) {
    return s->nhwc ? kn__imp_unsupported(s, "expects volumes (batch, C, D, H, W); the value here is (batch, D, H, W, C) "
                                            "(transposed)")
                   : KN_OK;
}

/* [a, b, c] under key. */
static bool add_triple(cJSON *o, const char *key, const int64_t v[3]) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return false;
    for (int k = 0; k < 3; k++) cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v[k]));
    return cJSON_AddItemToObject(o, key, arr);
}

/* A zero_padding3d (crop false) or cropping3d layer of begin[a] and end[a] cells along each
 * spatial axis a; the volume's sizes follow. A crop of a cropping3d's output (its only
 * reader: PyTorch writes a crop of three axes as three Slices) adds to that layer. */
static kn_status add_edges3d(imp *s, bool crop, const int64_t begin[3], const int64_t end[3]) {
    int64_t *dims[3] = {&s->dp, &s->h, &s->w}, sign = crop ? -1 : 1;
    imp_layer *P = crop ? kn__imp_producer(s) : NULL;
    const cJSON *ptype = P ? cJSON_GetObjectItemCaseSensitive(P->json, "type") : NULL;
    cJSON *before = ptype && strcmp(ptype->valuestring, "cropping3d") == 0 ? cJSON_GetObjectItemCaseSensitive(P->json, "cropping") : NULL;
    if (before) {
        for (int a = 0; a < 3; a++)
            for (int e = 0; e < 2; e++) {
                cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(before, a), e);
                if (!v) return kn__imp_fail(s, KN_ERR_STATE, "a cropping3d layer without its amounts", NULL);
                cJSON_SetNumberValue(v, v->valuedouble + (double)(e ? end[a] : begin[a]));
            }
        for (int a = 0; a < 3; a++) *dims[a] -= begin[a] + end[a];
        return KN_OK;
    }
    imp_layer *L = kn__imp_add_layer(s, crop ? "cropping3d" : "zero_padding3d");
    cJSON *all = L ? cJSON_AddArrayToObject(L->json, crop ? "cropping" : "padding") : NULL;
    if (!all) return kn__imp_oom(s);
    for (int a = 0; a < 3; a++) {
        cJSON *pair = cJSON_CreateArray();
        if (!pair) return kn__imp_oom(s);
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)begin[a]));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)end[a]));
        cJSON_AddItemToArray(all, pair);
    }
    for (int a = 0; a < 3; a++) *dims[a] += sign * (begin[a] + end[a]);
    return fits(s);
}

/* ------------------------------------------------------------- windows */

/* Keras's 'same' total padding of a window over in cells: what an output of ceil(in /
 * stride) needs. */
static int64_t same_total(int64_t in, int64_t k, int64_t st, int64_t d) {
    int64_t out = (in + st - 1) / st, total = (out - 1) * st + (k - 1) * d + 1 - in;
    return total > 0 ? total : 0;
}

/* The window's pads (begins of depth, height, width, then their ends) from auto_pad or pads;
 * refused out of [0, PAD_MAX], or when k, st or d is outside [1, 255] (kiln's layers' range,
 * checked first: the arithmetic then cannot overflow). */
static kn_status window_pads(imp *s, const int64_t k[3], const int64_t st[3], const int64_t d[3], int64_t pads[6]) {
    for (int a = 0; a < 3; a++)
        if (k[a] < 1 || k[a] > 255 || st[a] < 1 || st[a] > 255 || d[a] < 1 || d[a] > 255)
            return kn__imp_unsupported(s, "a kernel, stride or dilation outside [1, 255]");
    const kn__onnx_attr *ap = kn__onnx_attr_get(s->node, "auto_pad");
    const char *mode = ap && ap->kind == KN__ONNX_ATTR_STRING ? ap->s : "NOTSET";
    if (!kn__imp_attr_ints(s->node, "pads", 6, 0, pads)) return kn__imp_unsupported(s, "pads must be 6 values");
    int64_t in[3] = {s->dp, s->h, s->w};
    if (strcmp(mode, "SAME_UPPER") == 0 || strcmp(mode, "SAME_LOWER") == 0) {
        for (int a = 0; a < 3; a++) {
            int64_t total = same_total(in[a], k[a], st[a], d[a]), small = total / 2;
            pads[a] = mode[5] == 'U' ? small : total - small;
            pads[a + 3] = total - pads[a];
        }
    } else if (strcmp(mode, "VALID") == 0) {
        memset(pads, 0, 6 * sizeof *pads);
    } else if (strcmp(mode, "NOTSET") != 0 && mode[0]) {
        return kn__imp_unsupported(s, "auto_pad is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
    }
    for (int a = 0; a < 6; a++)
        if (pads[a] < 0 || pads[a] > PAD_MAX) return kn__imp_unsupported(s, "pads out of range");
    return KN_OK;
}

static bool pads_zero(const int64_t pads[6]) {
    for (int a = 0; a < 6; a++)
        if (pads[a]) return false;
    return true;
}

/* Whether pads are Keras's 'same' (the smaller half of each axis's total before). */
static bool pads_same(const imp *s, const int64_t k[3], const int64_t st[3], const int64_t d[3], const int64_t pads[6]) {
    int64_t in[3] = {s->dp, s->h, s->w};
    for (int a = 0; a < 3; a++) {
        int64_t total = same_total(in[a], k[a], st[a], d[a]);
        if (pads[a] != total / 2 || pads[a + 3] != total - total / 2) return false;
    }
    return true;
}

/* Each axis's output after pads (window_pads checked them and the window), or false when
 * the window does not fit. */
static bool window_out(const imp *s, const int64_t k[3], const int64_t st[3], const int64_t d[3], const int64_t pads[6],
                       int64_t out[3]) {
    int64_t in[3] = {s->dp + pads[0] + pads[3], s->h + pads[1] + pads[4], s->w + pads[2] + pads[5]};
    for (int a = 0; a < 3; a++) {
        int64_t eff = (k[a] - 1) * d[a] + 1;
        if (eff > in[a]) return false;
        out[a] = (in[a] - eff) / st[a] + 1;
    }
    return true;
}

/* ------------------------------------------------------------- layers */

static kn_status read_conv(imp *s) {
    kn_status st = need_channels_first(s);
    if (st) return st;
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1), *B = kn__imp_const_input(s, 2, -1);
    if (!W || W->ndim != 5) return kn__imp_unsupported(s, "W must be a 5-D constant (F, C, KD, KH, KW)");
    if (kn__imp_attr_int(s->node, "group", 1) != 1) return kn__imp_unsupported(s, "a grouped 3-D Conv (kiln's conv3d has groups 1)");
    int64_t F = W->dims[0], C = W->dims[1], k[3] = {W->dims[2], W->dims[3], W->dims[4]}, str[3], dil[3], ks[3], pads[6], out[3];
    if (C != s->c) return kn__imp_fail(s, KN_ERR_SHAPE, "W (F, C, KD, KH, KW) does not fit the input's channels", NULL);
    if (F < 1 || F > (1 << 24)) return kn__imp_unsupported(s, "filters out of range");
    if (!kn__imp_attr_ints(s->node, "strides", 3, 1, str) || !kn__imp_attr_ints(s->node, "dilations", 3, 1, dil) ||
        !kn__imp_attr_ints(s->node, "kernel_shape", 3, 0, ks))
        return kn__imp_unsupported(s, "strides, dilations and kernel_shape must have 3 values");
    for (int a = 0; a < 3; a++)
        if (ks[a] && ks[a] != k[a]) return kn__imp_fail(s, KN_ERR_SHAPE, "kernel_shape differs from W's", NULL);
    if (B && B->numel != F) return kn__imp_fail(s, KN_ERR_SHAPE, "B does not have one value per filter", NULL);
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && !B) return kn__imp_unsupported(s, "B must be a constant");
    if ((st = window_pads(s, k, str, dil, pads))) return st;
    if (!window_out(s, k, str, dil, pads, out)) return kn__imp_unsupported(s, "the window does not fit the volume");
    bool same = !pads_zero(pads) && pads_same(s, k, str, dil, pads);
    if (!pads_zero(pads) && !same && (st = add_edges3d(s, false, pads, pads + 3))) return st; /* then 'valid' */
    int64_t taps = k[0] * k[1] * k[2];
    imp_layer *L = kn__imp_add_layer(s, "conv3d");
    float *kern = L ? kn__imp_add_param(L, "kernel", taps * C * F) : NULL;
    float *bias = kern ? kn__imp_add_param(L, "bias", F) : NULL;
    if (!bias || !cJSON_AddNumberToObject(L->json, "filters", (double)F) || !add_triple(L->json, "kernel_size", k) ||
        !add_triple(L->json, "strides", str) || !add_triple(L->json, "dilation_rate", dil) ||
        !cJSON_AddStringToObject(L->json, "padding", same ? "same" : "valid"))
        return kn__imp_oom(s);
    L->weighted = true;
    /* kiln's row (ky, kx, kd, c) of column f from ONNX's (f, c, kd, ky, kx) */
    for (int64_t f = 0; f < F; f++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < k[0]; t++)
                for (int64_t y = 0; y < k[1]; y++)
                    for (int64_t x = 0; x < k[2]; x++)
                        kern[((((y * k[2] + x) * k[0] + t) * C + c) * F) + f] = W->f[(((f * C + c) * k[0] + t) * k[1] + y) * k[2] + x];
    if (B) memcpy(bias, B->f, (size_t)F * sizeof *bias);
    L->has_bias = B != NULL;
    s->c = F, s->dp = out[0], s->h = out[1], s->w = out[2];
    return KN_OK;
}

/* ConvTranspose, 5-D W (C, F, KD, KH, KW), group 1: conv3d_transpose 'valid' with its
 * output_padding, then a cropping3d of the pads (ONNX's output s (in - 1) + output_padding +
 * (k - 1) d + 1 - pads), as onnx_import_image.c reads the 2-D one; kiln's kernel (KH KW KD F,
 * C). */
static kn_status read_conv_transpose(imp *s) {
    kn_status st = need_channels_first(s);
    if (st) return st;
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1), *B = kn__imp_const_input(s, 2, -1);
    const kn__onnx_attr *ap = kn__onnx_attr_get(s->node, "auto_pad");
    if (!W || W->ndim != 5 || W->dims[0] != s->c)
        return kn__imp_unsupported(s, "W must be a 5-D constant (C, F, KD, KH, KW) over the input's channels");
    if (kn__imp_attr_int(s->node, "group", 1) != 1) return kn__imp_unsupported(s, "a grouped ConvTranspose");
    if (kn__onnx_attr_get(s->node, "output_shape")) return kn__imp_unsupported(s, "output_shape (give pads and output_padding)");
    if (ap && ap->kind == KN__ONNX_ATTR_STRING && ap->s[0] && strcmp(ap->s, "NOTSET") != 0 && strcmp(ap->s, "VALID") != 0)
        return kn__imp_unsupported(s, "auto_pad other than NOTSET or VALID");
    int64_t C = s->c, F = W->dims[1], k[3] = {W->dims[2], W->dims[3], W->dims[4]}, str[3], dil[3], pads[6], opad[3], full[3];
    if (F < 1 || F > (1 << 24)) return kn__imp_unsupported(s, "filters out of range");
    if (!kn__imp_attr_ints(s->node, "strides", 3, 1, str) || !kn__imp_attr_ints(s->node, "dilations", 3, 1, dil) ||
        !kn__imp_attr_ints(s->node, "pads", 6, 0, pads) || !kn__imp_attr_ints(s->node, "output_padding", 3, 0, opad))
        return kn__imp_unsupported(s, "strides, dilations, pads and output_padding must have 3, 3, 6 and 3 values");
    const int64_t in[3] = {s->dp, s->h, s->w};
    for (int a = 0; a < 3; a++) {
        if (str[a] < 1 || str[a] > 255 || dil[a] < 1 || dil[a] > 255 || k[a] < 1 || k[a] > 255 || opad[a] < 0 ||
            opad[a] >= str[a])
            return kn__imp_unsupported(s, "strides, dilations or kernel out of [1, 255], or an output_padding not below "
                                          "its stride");
        if (pads[a] < 0 || pads[a + 3] < 0) return kn__imp_unsupported(s, "negative pads");
        full[a] = (in[a] - 1) * str[a] + (k[a] - 1) * dil[a] + 1 + opad[a];
        if (pads[a] + pads[a + 3] >= full[a]) return kn__imp_unsupported(s, "pads that leave no output");
    }
    if (B && B->numel != F) return kn__imp_fail(s, KN_ERR_SHAPE, "B does not have one value per filter", NULL);
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && !B) return kn__imp_unsupported(s, "B must be a constant");
    int64_t taps = k[0] * k[1] * k[2];
    imp_layer *L = kn__imp_add_layer(s, "conv3d_transpose");
    float *kern = L ? kn__imp_add_param(L, "kernel", taps * F * C) : NULL;
    float *bias = kern ? kn__imp_add_param(L, "bias", F) : NULL;
    if (!bias || !cJSON_AddNumberToObject(L->json, "filters", (double)F) || !add_triple(L->json, "kernel_size", k) ||
        !add_triple(L->json, "strides", str) || !add_triple(L->json, "dilation_rate", dil) ||
        !add_triple(L->json, "output_padding", opad) || !cJSON_AddStringToObject(L->json, "padding", "valid"))
        return kn__imp_oom(s);
    L->weighted = true;
    /* kiln's row (ky, kx, kd, f) of column c from ONNX's (c, f, kd, ky, kx) */
    for (int64_t c = 0; c < C; c++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t t = 0; t < k[0]; t++)
                for (int64_t y = 0; y < k[1]; y++)
                    for (int64_t x = 0; x < k[2]; x++)
                        kern[(((y * k[2] + x) * k[0] + t) * F + f) * C + c] = W->f[(((c * F + f) * k[0] + t) * k[1] + y) * k[2] + x];
    if (B) memcpy(bias, B->f, (size_t)F * sizeof *bias);
    L->has_bias = B != NULL;
    s->c = F, s->dp = full[0], s->h = full[1], s->w = full[2];
    if ((st = fits(s))) return st;
    if (!pads_zero(pads)) {
        L->has_act = true; /* (an activation after the crop is its own layer) */
        return add_edges3d(s, true, pads, pads + 3);
    }
    return KN_OK;
}

static kn_status read_pool(imp *s, bool max) {
    kn_status st = need_channels_first(s);
    if (st) return st;
    int64_t k[3], str[3], dil[3], pads[6], out[3];
    if (!kn__imp_attr_ints(s->node, "kernel_shape", 3, 0, k) || !kn__imp_attr_ints(s->node, "strides", 3, 1, str) ||
        !kn__imp_attr_ints(s->node, "dilations", 3, 1, dil))
        return kn__imp_unsupported(s, "kernel_shape, strides and dilations must have 3 values");
    if (dil[0] != 1 || dil[1] != 1 || dil[2] != 1) return kn__imp_unsupported(s, "dilated pooling");
    if (kn__imp_attr_int(s->node, "ceil_mode", 0)) return kn__imp_unsupported(s, "ceil_mode = 1 over a volume");
    if (s->node->n_outputs > 1 && s->node->outputs[1][0]) return kn__imp_unsupported(s, "the indices output");
    if ((st = window_pads(s, k, str, dil, pads))) return st;
    bool padded = !pads_zero(pads), same = padded && pads_same(s, k, str, dil, pads);
    bool counted = !max && kn__imp_attr_int(s->node, "count_include_pad", 0); /* (the pads' zeros in each mean) */
    if (padded && (counted || (!same && max && s->nonneg))) {
        /* zeros padded, then a 'valid' pool: an average counting them, or a max over values of
         * no sign (where zero padding is -inf padding) */
        if ((st = add_edges3d(s, false, pads, pads + 3))) return st;
        memset(pads, 0, sizeof pads);
        padded = same = false;
    } else if (padded && !same) {
        return kn__imp_unsupported(s, "pads that are neither none ('valid') nor Keras's 'same' (taken as zero padding only "
                                      "by an average counting them or a max over values of no sign)");
    }
    if (!window_out(s, k, str, dil, pads, out)) return kn__imp_unsupported(s, "the window does not fit the volume");
    imp_layer *L = kn__imp_add_layer(s, max ? "max_pool3d" : "average_pool3d");
    if (!L || !add_triple(L->json, "pool_size", k) || !add_triple(L->json, "strides", str) ||
        !cJSON_AddStringToObject(L->json, "padding", same ? "same" : "valid"))
        return kn__imp_oom(s);
    s->dp = out[0], s->h = out[1], s->w = out[2];
    return KN_OK;
}

/* Global pooling: kiln's (batch, C), ONNX's (batch, C, 1, 1, 1) when keep (the same values). */
static kn_status global_pool(imp *s, bool max, bool keep) {
    if (!kn__imp_add_layer(s, max ? "global_max_pool3d" : "global_average_pool3d")) return kn__imp_oom(s);
    s->vol = s->nhwc = false;
    s->f = s->c;
    s->units = keep ? 3 : 0;
    return KN_OK;
}

/* ReduceMean or ReduceMax over the depth, height and width (axes an attribute, or an input
 * since opset 18): global pooling. */
static kn_status read_reduce(imp *s, bool max) {
    const kn__onnx_attr *a = kn__onnx_attr_get(s->node, "axes");
    const kn__onnx_tensor *t = s->node->n_inputs > 1 && s->node->inputs[1][0] ? kn__imp_constant(s, s->node->inputs[1]) : NULL;
    const int64_t *axes = a && a->kind == KN__ONNX_ATTR_INTS ? a->ints : t && t->i ? t->i : NULL;
    int n = a && a->kind == KN__ONNX_ATTR_INTS ? a->n : t && t->i ? (int)t->numel : 0;
    bool seen[3] = {false, false, false}, ok = axes && n == 3;
    for (int k = 0; ok && k < 3; k++) {
        int sp = spatial_axis(s, axes[k]);
        ok = sp >= 0 && !seen[sp];
        if (ok) seen[sp] = true;
    }
    if (!ok) return kn__imp_unsupported(s, "a Reduce of a volume other than over its depth, height and width");
    bool keep = kn__imp_attr_int(s->node, "keepdims", 1) != 0;
    if (keep && s->nhwc) return kn__imp_unsupported(s, "keepdims = 1 over an (N, D, H, W, C) volume");
    return global_pool(s, max, keep);
}

/* The pads of a Pad node (input 1 since opset 11, else the attribute) into p (begins, then
 * ends, of the 5 axes), checked: the value 0, mode constant, no axes input. */
static kn_status pad_amounts(imp *s, int64_t p[10]) {
    const kn__onnx_attr *mode = kn__onnx_attr_get(s->node, "mode");
    if (mode && mode->kind == KN__ONNX_ATTR_STRING && strcmp(mode->s, "constant") != 0)
        return kn__imp_unsupported(s, "a mode other than constant");
    if (s->node->n_inputs > 1 && s->node->inputs[1][0]) {
        const kn__onnx_tensor *pt = kn__imp_constant(s, s->node->inputs[1]);
        if (!pt || !pt->i || pt->numel != 10) return kn__imp_unsupported(s, "pads must be a constant of 10 values");
        memcpy(p, pt->i, 10 * sizeof *p);
    } else if (!kn__imp_attr_ints(s->node, "pads", 10, 0, p)) {
        return kn__imp_unsupported(s, "pads must be 10 values");
    }
    const kn__onnx_tensor *v = s->node->n_inputs > 2 && s->node->inputs[2][0] ? kn__imp_const_input(s, 2, 1) : NULL;
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && !v) return kn__imp_unsupported(s, "the value must be a constant");
    if ((v ? v->f[0] : kn__imp_attr_float(s->node, "value", 0.0f)) != 0) return kn__imp_unsupported(s, "a value other than 0");
    if (s->node->n_inputs > 3 && s->node->inputs[3][0]) return kn__imp_unsupported(s, "axes");
    return KN_OK;
}

/* Pad with zeros along D, H and W: zero_padding3d of the positive pads, then cropping3d of the
 * negative ones (ONNX's crop), each only when it has any. */
static kn_status read_pad(imp *s) {
    int64_t p[10], pad[2][3] = {{0}}, crop[2][3] = {{0}}, in[3] = {s->dp, s->h, s->w};
    kn_status st = pad_amounts(s, p);
    if (st) return st;
    bool any_pad = false, any_crop = false;
    for (int a = 0; a < 5; a++) {
        int sp = spatial_axis(s, a);
        if (sp < 0 && (p[a] || p[a + 5])) return kn__imp_unsupported(s, "padding along the batch or the channels");
        for (int e = 0; sp >= 0 && e < 2; e++) {
            int64_t v = p[a + 5 * e];
            if (v < -PAD_MAX || v > PAD_MAX) return kn__imp_unsupported(s, "pads out of range");
            if (v > 0) pad[e][sp] = v, any_pad = true;
            if (v < 0) crop[e][sp] = -v, any_crop = true;
        }
        if (sp >= 0 && crop[0][sp] + crop[1][sp] >= in[sp]) return kn__imp_unsupported(s, "negative pads that leave nothing");
    }
    if (any_pad && (st = add_edges3d(s, false, pad[0], pad[1]))) return st;
    if (any_crop && (st = add_edges3d(s, true, crop[0], crop[1]))) return st;
    return KN_OK;
}

/* Slice of D, H and W (steps 1): cropping3d. */
static kn_status read_slice(imp *s) {
    const kn__onnx_tensor *t[4] = {NULL};
    for (int k = 1; k < 5 && k < s->node->n_inputs; k++)
        if (s->node->inputs[k][0] && !(t[k - 1] = kn__imp_constant(s, s->node->inputs[k])))
            return kn__imp_unsupported(s, "starts, ends, axes and steps must be constants");
    if (!t[0] || !t[1] || !t[0]->i || !t[1]->i || t[0]->numel != t[1]->numel || t[0]->numel > 5 ||
        (t[2] && (!t[2]->i || t[2]->numel != t[0]->numel)) || (t[3] && (!t[3]->i || t[3]->numel != t[0]->numel)))
        return kn__imp_unsupported(s, "starts and ends must be int constants of one value an axis");
    int64_t crop[2][3] = {{0}}, size[3] = {s->dp, s->h, s->w};
    bool seen[3] = {false, false, false};
    for (int64_t k = 0; k < t[0]->numel; k++) {
        int sp = spatial_axis(s, t[2] ? t[2]->i[k] : k);
        if ((t[3] && t[3]->i[k] != 1) || sp < 0 || seen[sp])
            return kn__imp_unsupported(s, "a Slice of a volume other than of D, H and W (each once), steps 1");
        seen[sp] = true;
        int64_t n = size[sp], b = t[0]->i[k], e = t[1]->i[k];
        if (b < 0) b += n;
        if (e < 0) e += n;
        b = b < 0 ? 0 : b > n ? n : b;
        e = e < 0 ? 0 : e > n ? n : e;
        if (e <= b) return kn__imp_unsupported(s, "a Slice that keeps nothing");
        crop[0][sp] = b, crop[1][sp] = n - e;
    }
    return add_edges3d(s, true, crop[0], crop[1]);
}

/* Resize (nearest, asymmetric, floor) or Upsample (nearest) by whole factors of D, H and W:
 * up_sampling3d. Scales (Upsample's input 1 or, opset 7, attribute; Resize's input 2) or
 * Resize's sizes (a constant, or computed from the input's shape: the batch, then fixed). */
static kn_status read_resize(imp *s, bool upsample) {
    const kn__onnx_node *nd = s->node;
    int si = upsample ? 1 : 2;
    const kn__onnx_tensor *sc = nd->n_inputs > si && nd->inputs[si][0] ? kn__imp_constant(s, nd->inputs[si]) : NULL;
    const kn__onnx_attr *sa = upsample ? kn__onnx_attr_get(nd, "scales") : NULL;
    double f[5] = {0};
    int64_t in[5] = {1, s->c, s->dp, s->h, s->w}; /* (in ONNX's order below) */
    if (s->nhwc) in[1] = s->dp, in[2] = s->h, in[3] = s->w, in[4] = s->c;
    if (sc && sc->numel == 0) sc = NULL; /* an empty scales beside sizes */
    if (sc && sc->f && sc->numel == 5) {
        for (int k = 0; k < 5; k++) f[k] = sc->f[k];
    } else if (sa && sa->kind == KN__ONNX_ATTR_FLOATS && sa->n == 5) {
        for (int k = 0; k < 5; k++) f[k] = sa->floats[k];
    } else if (!upsample && !sc && nd->n_inputs > 3 && nd->inputs[3][0]) {
        int64_t k[8];
        bool batched[8];
        int n = 0;
        kn_status st = kn__imp_eval_shape(s, nd->inputs[3], k, batched, &n);
        if (st) return st;
        if (n != 5 || !batched[0] || k[0] != 1) return kn__imp_unsupported(s, "sizes must be the batch, then 4 fixed sizes");
        f[0] = 1;
        for (int j = 1; j < 5; j++) {
            if (batched[j]) return kn__imp_unsupported(s, "sizes must be the batch, then 4 fixed sizes");
            f[j] = (double)k[j] / (double)in[j];
        }
    } else {
        return kn__imp_unsupported(s, "scales (or sizes) must be a constant of 5 values");
    }
    const kn__onnx_attr *mode = kn__onnx_attr_get(nd, "mode"), *ct = kn__onnx_attr_get(nd, "coordinate_transformation_mode"),
                        *nm = kn__onnx_attr_get(nd, "nearest_mode");
    const char *mo = mode && mode->kind == KN__ONNX_ATTR_STRING ? mode->s : "nearest";
    const char *co = ct && ct->kind == KN__ONNX_ATTR_STRING ? ct->s : "half_pixel";
    const char *ne = nm && nm->kind == KN__ONNX_ATTR_STRING ? nm->s : "round_prefer_floor";
    if (strcmp(mo, "nearest") != 0 || (!upsample && (strcmp(co, "asymmetric") != 0 || strcmp(ne, "floor") != 0)))
        return kn__imp_unsupported(s, "kiln upsamples volumes nearest (asymmetric, floor: each cell repeated), by whole factors");
    int64_t size[3];
    for (int a = 0; a < 5; a++) {
        int sp = spatial_axis(s, a);
        if (sp < 0 && f[a] != 1) return kn__imp_unsupported(s, "kiln resizes D, H and W only (N and C keep their size)");
        if (sp >= 0 && !(f[a] >= 1 && f[a] <= 4096 && f[a] == floor(f[a])))
            return kn__imp_unsupported(s, "factors other than whole numbers in [1, 4096]");
        if (sp >= 0) size[sp] = (int64_t)f[a];
    }
    imp_layer *L = kn__imp_add_layer(s, "up_sampling3d");
    if (!L || !add_triple(L->json, "size", size)) return kn__imp_oom(s);
    s->dp *= size[0], s->h *= size[1], s->w *= size[2];
    return fits(s);
}

/* Flatten (axis 1) or Reshape to (batch, n): flatten; after (N, C, D, H, W) of C > 1 channels
 * the next dense layer's rows are reordered (perm: (c, p) to (p, c), p = (d H + y) W + x). */
static kn_status read_flatten(imp *s) {
    int64_t total = s->c * s->dp * s->h * s->w;
    if (strcmp(s->node->op, "Flatten") == 0 && kn__imp_attr_int(s->node, "axis", 1) != 1)
        return kn__imp_unsupported(s, "axis other than 1");
    if (strcmp(s->node->op, "Reshape") == 0) {
        int64_t k[8];
        bool batched[8];
        int n = 0;
        bool ok = s->node->n_inputs > 1 && !kn__imp_eval_shape(s, s->node->inputs[1], k, batched, &n) && n == 2;
        ok = ok && ((batched[0] && k[0] == 1) || (!batched[0] && (k[0] == 0 || k[0] == -1))) && !batched[1] &&
             (k[1] == total || k[1] == -1) && !(k[0] == -1 && k[1] == -1);
        if (!ok) return kn__imp_unsupported(s, "kiln reads a Reshape of a volume only to (batch, n) (a flatten)");
    }
    if (!kn__imp_add_layer(s, "flatten")) return kn__imp_oom(s);
    s->perm = !s->nhwc && s->c > 1 && s->dp * s->h * s->w > 1; /* ((D, H, W, C) is kiln's order already) */
    s->pc = s->c, s->ph = s->dp * s->h, s->pw = s->w;
    s->vol = s->nhwc = false;
    s->f = total;
    s->units = 0;
    return KN_OK;
}

static kn_status read_transpose(imp *s) {
    const kn__onnx_attr *p = kn__onnx_attr_get(s->node, "perm");
    static const int64_t first[5] = {0, 4, 1, 2, 3}, last[5] = {0, 2, 3, 4, 1};
    bool ints = p && p->kind == KN__ONNX_ATTR_INTS && p->n == 5;
    if (ints && s->nhwc && memcmp(p->ints, first, sizeof first) == 0) s->nhwc = false;
    else if (ints && !s->nhwc && memcmp(p->ints, last, sizeof last) == 0) s->nhwc = true;
    else return kn__imp_unsupported(s, "kiln reads a Transpose of a volume only between (N, C, D, H, W) and (N, D, H, W, C)");
    return KN_OK;
}

/* ------------------------------------------------------------- the input and dispatch */

kn_status kn__imp_volume_input(imp *s, const kn__onnx_value *in) {
    s->vol = s->ambiguous = true; /* (N, C, D, H, W) as read until a node says otherwise */
    s->c = s->in_dims[0] = in->dims[1], s->dp = s->in_dims[1] = in->dims[2];
    s->h = s->in_dims[2] = in->dims[3], s->w = s->in_dims[3] = in->dims[4];
    return fits(s);
}

/* The input's order, from the first node that reads it other than elementwise: a Transpose
 * to (N, C, D, H, W), or any node of kiln export's file (kiln's order), says (N, D, H, W, C). */
kn_status kn__imp_resolve_volume(imp *s, const char *op) {
    static const int64_t first[5] = {0, 4, 1, 2, 3};
    const kn__onnx_attr *p = kn__onnx_attr_get(s->node, "perm");
    bool to_first = strcmp(op, "Transpose") == 0 && p && p->kind == KN__ONNX_ATTR_INTS && p->n == 5 &&
                    memcmp(p->ints, first, sizeof first) == 0;
    int want = to_first || strcmp(s->m->producer, "kiln") == 0 ? 2 : 1;
    if (s->input_layout && s->input_layout != want)
        return kn__imp_unsupported(s, "the graph reads its input both as (N, C, D, H, W) and as (N, D, H, W, C)");
    s->input_layout = want;
    if (want == 2) { /* dimensions 1 to 4 are D, H, W, C */
        int64_t d1 = s->c, d2 = s->dp, d3 = s->h, d4 = s->w;
        s->dp = d1, s->h = d2, s->w = d3, s->c = d4;
        s->nhwc = true;
    }
    s->ambiguous = false;
    return KN_OK;
}

kn_status kn__imp_read_volume(imp *s, const char *op, bool merge, bool *handled) {
    static const char *const elementwise[] = {"Relu", "Sigmoid", "Tanh", "Softplus", "Softsign", "Mish", "HardSwish",
                                              "Exp", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Gelu", "Clip",
                                              "Dropout", "Identity", "Add", "Sub", "Mul", "Div"};
    *handled = false;
    if (merge) return KN_OK; /* onnx_import.c's read_merge */
    for (size_t k = 0; k < sizeof elementwise / sizeof *elementwise; k++)
        if (strcmp(op, elementwise[k]) == 0) return KN_OK;
    if (strcmp(op, "Softmax") == 0) { /* over the channels only: axis 1 of (N, C, D, H, W), -1 of (N, D, H, W, C) */
        int64_t axis = kn__imp_attr_int(s->node, "axis", s->m->opset && s->m->opset < 13 ? 1 : -1);
        if ((s->m->opset && s->m->opset < 13) || axis != (s->nhwc ? -1 : 1))
            return kn__imp_unsupported(s, "kiln's softmax over a volume is over its channels (axis 1 of (N, C, D, H, W), "
                                          "opset 13 on)");
        return KN_OK; /* an activation, read there */
    }
    *handled = true;
    if (strcmp(op, "Conv") == 0) return read_conv(s);
    if (strcmp(op, "ConvTranspose") == 0) return read_conv_transpose(s);
    if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0) return read_pool(s, op[0] == 'M');
    if (strcmp(op, "GlobalAveragePool") == 0 || strcmp(op, "GlobalMaxPool") == 0) {
        kn_status st = need_channels_first(s);
        return st ? st : global_pool(s, op[6] == 'M', true);
    }
    if (strcmp(op, "ReduceMean") == 0 || strcmp(op, "ReduceMax") == 0) return read_reduce(s, op[6] == 'M' && op[7] == 'a');
    if (strcmp(op, "Pad") == 0) return read_pad(s);
    if (strcmp(op, "Slice") == 0) return read_slice(s);
    if (strcmp(op, "Resize") == 0 || strcmp(op, "Upsample") == 0) return read_resize(s, op[0] == 'U');
    if (strcmp(op, "BatchNormalization") == 0) return kn__imp_read_batch_norm(s);
    if (strcmp(op, "Transpose") == 0) return read_transpose(s);
    if (strcmp(op, "Flatten") == 0 || strcmp(op, "Reshape") == 0) return read_flatten(s);
    return kn__imp_unsupported(s, "not an op kiln reads over a volume (Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool, "
                                  "GlobalMaxPool, ReduceMean, ReduceMax, Pad, Slice, Resize, Upsample, BatchNormalization, "
                                  "Transpose, Flatten, Reshape, merges and elementwise ops)");
}
