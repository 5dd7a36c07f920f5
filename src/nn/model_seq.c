/* model_seq.c — the sequence layers of a sequential model (Keras's Conv1D, MaxPooling1D,
 * AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D) over (steps, channels):
 * their checks and output shapes. The graph runs them as the 2-D ops over the
 * (batch, 1, steps, channels) view of their input (model.c's kn__model_build_graph), so
 * their limits are those ops': windows, strides and dilations up to 255, padding up to 255. */
#include "model.h"

#include <string.h>

/* A sequence layer's input: (steps, channels). */
kn_status kn__model_sequence_input(kn_model *m, const char *type, int64_t shape[KN_MAX_DIMS]) {
    int64_t f;
    int ndim = kn__model_layer_input(m, m->n_layers, shape, &f);
    if (ndim != 2) {
        char s[96];
        int used = snprintf(s, sizeof s, "(");
        for (int d = 0; d < ndim; d++)
            used += snprintf(s + used, sizeof s - (size_t)used, "%s%lld", d ? ", " : "", (long long)shape[d]);
        snprintf(s + used, sizeof s - (size_t)used, "%s)", ndim == 1 ? "," : "");
        char hint[128] = "";
        if (ndim == 1)
            snprintf(hint, sizeof hint, " (give the model an input_shape such as [%lld, 1], or reshape to [%lld, 1])",
                     (long long)f, (long long)f);
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: needs a sequence input (steps, channels), got %s%s",
                         m->n_layers, type, s, hint);
    }
    return KN_OK;
}

/* A sequence window's output steps and leading padding, as graph.c's win_dim computes them
 * (on the width of the (batch, 1, steps, channels) view); false when a 'valid' window does
 * not fit. */
static bool seq_dim(int64_t in, int k, int s, int d, kn_padding padding, int64_t *out, int64_t *pad) {
    int64_t span = (int64_t)(k - 1) * d + 1;
    *pad = 0;
    if (padding == KN_PADDING_VALID) {
        if (span > in) return false;
        *out = (in - span) / s + 1;
        return true;
    }
    *out = (in + s - 1) / s;
    int64_t total = (*out - 1) * s + span - in;
    *pad = padding == KN_PADDING_CAUSAL ? span - 1 : total > 0 ? total / 2 : 0;
    return true;
}

kn_status kn_model_add_conv1d(kn_model *m, const kn_conv1d_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "conv1d");
    if (st) return st;
    int i = m->n_layers;
    kn_conv1d_opts o = *opts;
    if (!o.stride) o.stride = 1;
    if (!o.dilation) o.dilation = 1;
    if (o.bias_init == KN_INIT_GLOROT_UNIFORM) o.bias_init = KN_INIT_ZEROS; /* as dense: 0 means zeros */
    if (o.filters <= 0 || o.filters > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] conv1d: filters is %lld (must be in [1, 2^24])", i,
                         (long long)o.filters);
    int v[3] = {o.kernel_size, o.stride, o.dilation};
    for (int k = 0; k < 3; k++)
        if (v[k] < 1 || v[k] > 255)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT,
                             "layers[%d] conv1d: kernel_size %d, strides %d, dilation_rate %d: each must be in [1, 255]", i,
                             o.kernel_size, o.stride, o.dilation);
    if ((unsigned)o.padding > KN_PADDING_CAUSAL)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] conv1d: unknown padding %d", i, (int)o.padding);
    if ((st = kn__model_check_init(m, "conv1d", o.activation, o.l2, o.kernel_init, o.bias_init, o.no_bias, o.init_value)))
        return st;
    int64_t in[KN_MAX_DIMS], pad;
    if ((st = kn__model_sequence_input(m, "conv1d", in))) return st;
    if (o.groups <= 1) o.groups = 1;
    if (o.groups > 4096 || in[1] % o.groups || o.filters % o.groups)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] conv1d: groups %d must divide both the input's %lld channels "
                         "and the %lld filters", i, o.groups, (long long)in[1], (long long)o.filters);
    kn__layer L = {.kind = KN__LAYER_CONV1D, .u.conv1d = o, .ndim = 2, .index = kn__model_count_kind(m, KN__LAYER_CONV1D)};
    if (!seq_dim(in[0], o.kernel_size, o.stride, o.dilation, o.padding, &L.shape[0], &pad))
        return kn__error(m->ctx, KN_ERR_SHAPE,
                         "layers[%d] conv1d: kernel_size %d (dilation_rate %d: a span of %lld steps) is longer than its "
                         "input (%lld, %lld) under 'valid' padding", i, o.kernel_size, o.dilation,
                         (long long)(o.kernel_size - 1) * o.dilation + 1, (long long)in[0], (long long)in[1]);
    if (pad > 255) /* the window's packed geometry holds a padding of 255 at most */
        return kn__error(m->ctx, KN_ERR_SHAPE,
                         "layers[%d] conv1d: kernel_size %d with dilation_rate %d needs %lld steps of %s padding (255 at "
                         "most)", i, o.kernel_size, o.dilation, (long long)pad,
                         o.padding == KN_PADDING_CAUSAL ? "causal" : "'same'");
    if ((int64_t)o.kernel_size * in[1] > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] conv1d: kernel_size %d over %lld channels is too large", i,
                         o.kernel_size, (long long)in[1]);
    L.shape[1] = o.filters;
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_pool1d(kn_model *m, kn_pool_kind kind, int pool_size, int stride, bool same) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = kind == KN_POOL_AVG ? "average_pool1d" : "max_pool1d";
    if (kind != KN_POOL_MAX && kind != KN_POOL_AVG)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] pool1d: unknown kind %d", m->n_layers, (int)kind);
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    kn__pool_opts p = {1, pool_size, 1, stride ? stride : pool_size, same};
    if (p.pool_w < 1 || p.pool_w > 255 || p.stride_w < 1 || p.stride_w > 255)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT,
                         "layers[%d] %s: pool_size %d, strides %d: each must be in [1, 255]", i, type, p.pool_w, p.stride_w);
    int64_t in[KN_MAX_DIMS], pad;
    if ((st = kn__model_sequence_input(m, type, in))) return st;
    kn__layer L = {.kind = kind == KN_POOL_AVG ? KN__LAYER_AVG_POOL1D : KN__LAYER_MAX_POOL1D, .u.pool = p, .ndim = 2};
    if (!seq_dim(in[0], p.pool_w, p.stride_w, 1, same ? KN_PADDING_SAME : KN_PADDING_VALID, &L.shape[0], &pad))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: pool_size %d is longer than its input (%lld, %lld) under "
                         "'valid' padding", i, type, p.pool_w, (long long)in[0], (long long)in[1]);
    L.shape[1] = in[1];
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_global_pool1d(kn_model *m, kn_pool_kind kind) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    if (kind != KN_POOL_MAX && kind != KN_POOL_AVG)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] global_pool1d: unknown kind %d", m->n_layers,
                         (int)kind);
    const char *type = kind == KN_POOL_AVG ? "global_average_pool1d" : "global_max_pool1d";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_sequence_input(m, type, in))) return st;
    /* the mean of more than 255 steps is taken in windows that divide the length */
    for (int64_t n = in[0]; n > 1;) {
        int k = kn__step_window(n, kind == KN_POOL_MAX);
        if (!k)
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: %lld steps: a mean over more than 255 steps needs a "
                             "length without a prime factor above 255 (pool or stride the sequence first)", m->n_layers,
                             type, (long long)in[0]);
        n = (n + k - 1) / k;
    }
    kn__layer L = {.kind = kind == KN_POOL_AVG ? KN__LAYER_GLOBAL_AVG_POOL1D : KN__LAYER_GLOBAL_MAX_POOL1D,
                   .shape = {in[1]}, .ndim = 1};
    return kn__model_push_layer(m, &L);
}
