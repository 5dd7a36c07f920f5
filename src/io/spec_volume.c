/* spec_volume.c — the JSON description's volume layers (depth, height, width, channels), with
 * Keras's options and defaults: conv3d {filters, kernel_size (required), strides, padding,
 * dilation_rate, and dense's activation, use_bias, initializers, kernel_regularizer, alpha},
 * max_pool3d and average_pool3d {pool_size (2), strides (the pool size), padding},
 * global_max_pool3d and global_average_pool3d {keepdims: false only}, zero_padding3d
 * {padding: n | [d, h, w] | [[front, back], [top, bottom], [left, right]] (1)}, cropping3d
 * {cropping: the same forms (0)}, up_sampling3d {size: n | [d, h, w] (2)}, conv3d_transpose
 * {conv3d's options and output_padding: null (Keras's sizes) | n | [d, h, w]}. A window's three
 * values are one number for all or a list [depth, height, width]. Every layer takes Keras's
 * data_format when it is "channels_last" (kiln's layout); conv3d's groups 1 only. Errors
 * name the field. */
#include "spec.h"
#include "nn/model.h"

#include <math.h>
#include <string.h>

bool kn__spec_is_volume(const char *t) {
    static const char *const types[] = {"conv3d", "max_pool3d", "average_pool3d", "global_max_pool3d",
                                        "global_average_pool3d", "zero_padding3d", "cropping3d", "up_sampling3d",
                                        "conv3d_transpose"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(t, types[i]) == 0) return true;
    return false;
}

/* A whole number in [lo, hi] into *out; false when v is none. */
static bool whole(const cJSON *v, double lo, double hi, int *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

/* Three window values under key: n (all three) or [depth, height, width], each whole in [lo,
 * hi]; left as they are when the key is missing or null. */
static kn_status triple(kn_ctx *ctx, const cJSON *L, const char *key, const char *where, int lo, int hi, int out[3]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, key);
    if (!v || cJSON_IsNull(v)) return KN_OK;
    int a;
    if (whole(v, lo, hi, &a)) {
        out[0] = out[1] = out[2] = a;
        return KN_OK;
    }
    int got[3];
    bool ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 3;
    for (int k = 0; k < 3 && ok; k++) ok = whole(cJSON_GetArrayItem(v, k), lo, hi, &got[k]);
    char field[96];
    snprintf(field, sizeof field, "%s%s", where, key);
    if (!ok)
        return kn__spec_error(ctx, field, "expected a whole number or a list [depth, height, width], each in [%d, %d]",
                              lo, hi);
    memcpy(out, got, sizeof got);
    return KN_OK;
}

/* Padding or cropping amounts: n (every side), [d, h, w] (both sides of each axis) or
 * [[front, back], [top, bottom], [left, right]], each whole in [0, 2^24], into out. */
static bool amounts3d(const cJSON *v, int out[6]) {
    int a;
    if (whole(v, 0, 1 << 24, &a)) {
        for (int k = 0; k < 6; k++) out[k] = a;
        return true;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3) return false;
    for (int k = 0; k < 3; k++) {
        const cJSON *item = cJSON_GetArrayItem(v, k);
        if (whole(item, 0, 1 << 24, &a)) {
            out[2 * k] = out[2 * k + 1] = a;
            continue;
        }
        if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2 || !whole(cJSON_GetArrayItem(item, 0), 0, 1 << 24, &out[2 * k]) ||
            !whole(cJSON_GetArrayItem(item, 1), 0, 1 << 24, &out[2 * k + 1]))
            return false;
    }
    return true;
}

/* data_format: missing, null or "channels_last". */
static kn_status channels_last(kn_ctx *ctx, const cJSON *L, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, "data_format");
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && strcmp(v->valuestring, "channels_last") == 0)) return KN_OK;
    char field[96];
    snprintf(field, sizeof field, "%sdata_format", where);
    return kn__spec_error(ctx, field, "only \"channels_last\" is supported (kiln's layout: depth, height, width, channels)");
}

static kn_status parse_conv3d(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, bool *activation_given) {
    kn_dense_opts dense;
    kn_status st = kn__spec_conv_common(ctx, L, where, "conv3d", &dense, activation_given);
    if (st) return st;
    kn_conv3d_opts c = {.filters = dense.units, .kernel = {1, 1, 1}, .strides = {1, 1, 1}, .dilation = {1, 1, 1},
                        .activation = dense.activation, .no_bias = dense.no_bias, .kernel_init = dense.kernel_init,
                        .bias_init = dense.bias_init, .init_value = dense.init_value, .l2 = dense.l2, .alpha = dense.alpha};
    if ((st = triple(ctx, L, "kernel_size", where, 1, 255, c.kernel)) || (st = triple(ctx, L, "strides", where, 1, 255, c.strides)) ||
        (st = triple(ctx, L, "dilation_rate", where, 1, 255, c.dilation)) || (st = kn__spec_padding(ctx, L, where, &c.same)))
        return st;
    int64_t groups = 1;
    if ((st = kn__spec_int(ctx, L, "groups", where, 1, 1 << 24, &groups))) return st;
    if (groups != 1) {
        char field[96];
        snprintf(field, sizeof field, "%sgroups", where);
        return kn__spec_error(ctx, field, "only 1 (kiln's conv3d has no groups), got %lld", (long long)groups);
    }
    if ((st = channels_last(ctx, L, where))) return st;
    return kn_model_add_conv3d(m, &c);
}

/* Keras's Conv3DTranspose: conv3d's options and output_padding (null: Keras's sizes). */
static kn_status parse_conv3d_transpose(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where,
                                        bool *activation_given) {
    kn_dense_opts dense;
    kn_status st = kn__spec_conv_common(ctx, L, where, "conv3d", &dense, activation_given);
    if (st) return st;
    kn_conv3d_transpose_opts c = {.filters = dense.units, .kernel = {1, 1, 1}, .strides = {1, 1, 1},
                                  .dilation = {1, 1, 1}, .activation = dense.activation, .no_bias = dense.no_bias,
                                  .kernel_init = dense.kernel_init, .bias_init = dense.bias_init,
                                  .init_value = dense.init_value, .l2 = dense.l2, .alpha = dense.alpha};
    if ((st = triple(ctx, L, "kernel_size", where, 1, 255, c.kernel)) || (st = triple(ctx, L, "strides", where, 1, 255, c.strides)) ||
        (st = triple(ctx, L, "dilation_rate", where, 1, 255, c.dilation)) || (st = kn__spec_padding(ctx, L, where, &c.same)))
        return st;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(L, "output_padding");
    if (op && !cJSON_IsNull(op)) {
        c.has_output_padding = true;
        if ((st = triple(ctx, L, "output_padding", where, 0, 254, c.output_padding))) return st;
    }
    if ((st = channels_last(ctx, L, where))) return st;
    return kn_model_add_conv3d_transpose(m, &c);
}

kn_status kn__spec_volume(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t,
                          bool *activation_given) {
    char field[96];
    kn_status st;
    if (strcmp(t, "conv3d") == 0) return parse_conv3d(ctx, m, L, where, activation_given);
    if (strcmp(t, "conv3d_transpose") == 0) return parse_conv3d_transpose(ctx, m, L, where, activation_given);
    if ((st = channels_last(ctx, L, where))) return st;
    if (strcmp(t, "max_pool3d") == 0 || strcmp(t, "average_pool3d") == 0) {
        int p[3] = {2, 2, 2}, s[3] = {0, 0, 0}; /* Keras's pool_size 2; strides null or missing: the pool size */
        bool same;
        if ((st = triple(ctx, L, "pool_size", where, 1, 255, p)) || (st = triple(ctx, L, "strides", where, 1, 255, s)) ||
            (st = kn__spec_padding(ctx, L, where, &same)))
            return st;
        return kn_model_add_pool3d(m, t[0] == 'm' ? KN_POOL_MAX : KN_POOL_AVG, p, s, same);
    }
    if (strcmp(t, "global_max_pool3d") == 0 || strcmp(t, "global_average_pool3d") == 0) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(L, "keepdims");
        if (k && !cJSON_IsNull(k) && !cJSON_IsFalse(k)) {
            snprintf(field, sizeof field, "%skeepdims", where);
            return kn__spec_error(ctx, field, "only false is supported (the output is (channels))");
        }
        return kn_model_add_global_pool3d(m, strstr(t, "max") ? KN_POOL_MAX : KN_POOL_AVG);
    }
    if (strcmp(t, "zero_padding3d") == 0 || strcmp(t, "cropping3d") == 0) {
        bool crop = t[0] == 'c';
        const char *key = crop ? "cropping" : "padding";
        int a[6];
        for (int k = 0; k < 6; k++) a[k] = crop ? 0 : 1; /* Keras's defaults */
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, key);
        if (v && !cJSON_IsNull(v) && !amounts3d(v, a)) {
            snprintf(field, sizeof field, "%s%s", where, key);
            return kn__spec_error(ctx, field, "expected a whole number, a list [depth, height, width] or [[front, back], "
                                  "[top, bottom], [left, right]], each in [0, 2^24]");
        }
        return crop ? kn_model_add_cropping3d(m, a) : kn_model_add_zero_padding3d(m, a);
    }
    int size[3] = {2, 2, 2}; /* up_sampling3d: Keras's default */
    if ((st = triple(ctx, L, "size", where, 1, 4096, size))) return st;
    return kn_model_add_up_sampling3d(m, size[0], size[1], size[2]);
}
