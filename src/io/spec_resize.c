/* spec_resize.c — the JSON description's resizing layers, with Keras's options and defaults:
 * zero_padding2d {padding: n | [h, w] | [[top, bottom], [left, right]] (1)}, cropping2d
 * {cropping: the same forms (0)}, zero_padding1d {padding: n | [left, right] (1)},
 * cropping1d {cropping: the same (1)}, up_sampling2d {size: n | [h, w] (2), interpolation:
 * "nearest" (the default) | "bilinear"}, up_sampling1d {size: n (2)}, and Keras's CenterCrop
 * {height, width} as the cropping2d that keeps the centre (Keras's (H - height) // 2 rows
 * above), and Keras's Resizing {height, width (required), interpolation: "bilinear" (the
 * default) | "nearest", crop_to_aspect_ratio, pad_to_aspect_ratio, antialias: false only};
 * the 2-D layers take Keras's data_format when it is "channels_last" (kiln's layout).
 * Errors name the field. */
#include "spec.h"
#include "nn/model.h"

#include <math.h>
#include <string.h>

/* A whole number in [lo, hi] into *out; false when v is none. */
static bool whole(const cJSON *v, double lo, double hi, int *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

/* A list of exactly n items, or NULL. */
static const cJSON *list_of(const cJSON *v, int n) { return cJSON_IsArray(v) && cJSON_GetArraySize(v) == n ? v : NULL; }

/* 2-D amounts: n (every side), [h, w] (top = bottom = h, left = right = w) or [[top, bottom],
 * [left, right]], each whole in [lo, hi], into out (top, bottom, left, right). */
static bool amounts2d(const cJSON *v, double lo, double hi, int out[4]) {
    int a;
    if (whole(v, lo, hi, &a)) {
        out[0] = out[1] = out[2] = out[3] = a;
        return true;
    }
    if (!list_of(v, 2)) return false;
    for (int k = 0; k < 2; k++) {
        const cJSON *item = cJSON_GetArrayItem(v, k), *pair = list_of(item, 2);
        if (whole(item, lo, hi, &a)) out[2 * k] = out[2 * k + 1] = a;
        else if (!pair || !whole(cJSON_GetArrayItem(pair, 0), lo, hi, &out[2 * k]) ||
                 !whole(cJSON_GetArrayItem(pair, 1), lo, hi, &out[2 * k + 1]))
            return false;
    }
    return true;
}

/* 1-D amounts: n (both sides) or [left, right]. */
static bool amounts1d(const cJSON *v, double lo, double hi, int out[2]) {
    if (whole(v, lo, hi, &out[0])) {
        out[1] = out[0];
        return true;
    }
    return list_of(v, 2) && whole(cJSON_GetArrayItem(v, 0), lo, hi, &out[0]) &&
           whole(cJSON_GetArrayItem(v, 1), lo, hi, &out[1]);
}

/* data_format: missing, null or "channels_last". */
static kn_status channels_last(kn_ctx *ctx, const cJSON *L, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, "data_format");
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && strcmp(v->valuestring, "channels_last") == 0)) return KN_OK;
    char field[96];
    snprintf(field, sizeof field, "%sdata_format", where);
    return kn__spec_error(ctx, field, "only \"channels_last\" is supported (kiln's layout: height, width, channels)");
}

static kn_status add_pad(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t) {
    bool crop = strncmp(t, "cropping", 8) == 0, seq = t[strlen(t) - 2] == '1';
    const char *key = crop ? "cropping" : "padding";
    char field[96];
    snprintf(field, sizeof field, "%s%s", where, key);
    int a[4] = {0, 0, 0, 0};
    if (!crop || seq) a[0] = a[1] = a[2] = a[3] = 1; /* Keras's defaults; Cropping2D's is none */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, key);
    bool ok = !v || cJSON_IsNull(v) || (seq ? amounts1d(v, 0, 1 << 24, a + 2) : amounts2d(v, 0, 1 << 24, a));
    if (!ok)
        return kn__spec_error(ctx, field, seq ? "expected a whole number or a list [left, right], each in [0, 2^24]"
                                              : "expected a whole number, a list [height, width] or [[top, bottom], "
                                                "[left, right]], each in [0, 2^24]");
    kn_status st = seq ? KN_OK : channels_last(ctx, L, where);
    if (st) return st;
    if (seq) return crop ? kn_model_add_cropping1d(m, a[2], a[3]) : kn_model_add_zero_padding1d(m, a[2], a[3]);
    return crop ? kn_model_add_cropping2d(m, a[0], a[1], a[2], a[3]) : kn_model_add_zero_padding2d(m, a[0], a[1], a[2], a[3]);
}

static kn_status add_upsample(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, bool seq) {
    char field[96];
    snprintf(field, sizeof field, "%ssize", where);
    int size[2] = {2, 2}; /* Keras's default */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, "size");
    if (v && !cJSON_IsNull(v)) {
        bool ok = whole(v, 1, 4096, &size[0]);
        if (ok) size[1] = size[0];
        else if (!seq)
            ok = list_of(v, 2) && whole(cJSON_GetArrayItem(v, 0), 1, 4096, &size[0]) &&
                 whole(cJSON_GetArrayItem(v, 1), 1, 4096, &size[1]);
        if (!ok)
            return kn__spec_error(ctx, field, seq ? "expected a whole number in [1, 4096]"
                                                  : "expected a whole number or a list [height, width], each in [1, 4096]");
    }
    if (seq) return kn_model_add_up_sampling1d(m, size[0]);
    kn_interpolation interp = KN_INTERP_NEAREST;
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(L, "interpolation");
    if (i && !cJSON_IsNull(i)) {
        snprintf(field, sizeof field, "%sinterpolation", where);
        if (cJSON_IsString(i) && strcmp(i->valuestring, "bilinear") == 0) interp = KN_INTERP_BILINEAR;
        else if (!cJSON_IsString(i) || strcmp(i->valuestring, "nearest") != 0)
            return kn__spec_error(ctx, field, "expected \"nearest\" or \"bilinear\" (kiln has no bicubic, lanczos or "
                                  "area)");
    }
    kn_status st = channels_last(ctx, L, where);
    return st ? st : kn_model_add_up_sampling2d(m, size[0], size[1], interp);
}

/* Keras's CenterCrop(height, width) over an image no smaller than that. */
static kn_status add_center_crop(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where) {
    char field[96];
    static const char *const keys[2] = {"height", "width"};
    int want[2];
    for (int k = 0; k < 2; k++) {
        snprintf(field, sizeof field, "%s%s", where, keys[k]);
        if (!whole(cJSON_GetObjectItemCaseSensitive(L, keys[k]), 1, 1 << 24, &want[k]))
            return kn__spec_error(ctx, field, "expected a whole number of pixels in [1, 2^24] (required)");
    }
    kn_status st = channels_last(ctx, L, where);
    if (st) return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_image_input(m, "center_crop", in))) return st;
    for (int k = 0; k < 2; k++)
        if (want[k] > in[k]) {
            snprintf(field, sizeof field, "%s%s", where, keys[k]);
            return kn__spec_error(ctx, field, "%d is more than the input's %lld (kiln's center_crop only crops; Keras "
                                  "would resize)", want[k], (long long)in[k]);
        }
    int top = (int)(in[0] - want[0]) / 2, left = (int)(in[1] - want[1]) / 2;
    return kn_model_add_cropping2d(m, top, (int)in[0] - want[0] - top, left, (int)in[1] - want[1] - left);
}

/* Keras's Resizing(height, width, interpolation="bilinear", crop_to_aspect_ratio=False). */
static kn_status add_resizing(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where) {
    char field[96];
    static const char *const keys[2] = {"height", "width"};
    int want[2];
    for (int k = 0; k < 2; k++) {
        snprintf(field, sizeof field, "%s%s", where, keys[k]);
        if (!whole(cJSON_GetObjectItemCaseSensitive(L, keys[k]), 1, 1 << 23, &want[k]))
            return kn__spec_error(ctx, field, "expected a whole number of pixels in [1, 2^23] (required)");
    }
    kn_interpolation interp = KN_INTERP_BILINEAR; /* Keras's default */
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(L, "interpolation");
    if (i && !cJSON_IsNull(i)) {
        snprintf(field, sizeof field, "%sinterpolation", where);
        if (cJSON_IsString(i) && strcmp(i->valuestring, "nearest") == 0) interp = KN_INTERP_NEAREST;
        else if (!cJSON_IsString(i) || strcmp(i->valuestring, "bilinear") != 0)
            return kn__spec_error(ctx, field, "expected \"bilinear\" or \"nearest\" (kiln has no bicubic, lanczos3, "
                                  "lanczos5 or area)");
    }
    /* Keras's options that would crop, pad or blur: false (their default) only */
    static const char *const offs[3] = {"crop_to_aspect_ratio", "pad_to_aspect_ratio", "antialias"};
    for (int k = 0; k < 3; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, offs[k]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v)) {
            snprintf(field, sizeof field, "%s%s", where, offs[k]);
            return kn__spec_error(ctx, field, "only false is supported (kiln stretches the image to height x width, "
                                  "without antialiasing)");
        }
    }
    kn_status st = channels_last(ctx, L, where);
    return st ? st : kn_model_add_resizing(m, want[0], want[1], interp);
}

kn_status kn__spec_resize(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t) {
    if (strcmp(t, "resizing") == 0) return add_resizing(ctx, m, L, where);
    if (strcmp(t, "center_crop") == 0) return add_center_crop(ctx, m, L, where);
    if (strncmp(t, "up_sampling", 11) == 0) return add_upsample(ctx, m, L, where, strcmp(t, "up_sampling1d") == 0);
    return add_pad(ctx, m, L, where, t);
}

bool kn__spec_is_resize(const char *t) {
    static const char *const types[] = {"zero_padding1d", "zero_padding2d", "cropping1d", "cropping2d",
                                        "up_sampling1d", "up_sampling2d", "center_crop", "resizing"};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        if (strcmp(t, types[k]) == 0) return true;
    return false;
}
