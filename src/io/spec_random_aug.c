/* spec_random_aug.c — the JSON description's random augmentation layers (Keras 3's names and
 * defaults): random_flip {mode: "horizontal" | "vertical" | "horizontal_and_vertical" (the
 * default), seed}, random_translation {height_factor, width_factor (both required),
 * fill_mode, interpolation, fill_value, seed}, random_rotation {factor (required), fill_mode,
 * interpolation, fill_value, seed}, random_zoom {height_factor (required), width_factor (null:
 * the height's zoom, keeping the aspect ratio), fill_mode, interpolation, fill_value, seed},
 * random_contrast {factor (required), value_range, seed} and random_brightness {factor
 * (required), value_range, seed}. A factor is a number f (the range [-|f|, |f|]; contrast's
 * [1 - f, 1 + f]) or a pair [lower, upper] (sorted, as Keras sorts it), each in [-1, 1]
 * (contrast [0, 1]). fill_mode "reflect" (the default) | "wrap" | "constant" | "nearest";
 * interpolation "bilinear" (the default) | "nearest"; fill_value 0; value_range [0, 255];
 * data_format "channels_last" only. Errors name the field. */
#include "spec.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const types[] = {"random_flip",     "random_translation", "random_rotation",
                                    "random_zoom",     "random_contrast",    "random_brightness"};
_Static_assert(sizeof types / sizeof *types == KN_RANDOM_IMAGE_KINDS, "a type for every kind");

bool kn__spec_is_random_image(const char *t) {
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(t, types[i]) == 0) return true;
    return false;
}

/* A factor at key: a number f (contrast: [f, f], f >= 0; else [-|f|, |f|]) or [lower, upper]
 * sorted, each within [lo, hi]. Absent: required's error, else *out as it was. */
static kn_status factor_of(kn_ctx *ctx, const cJSON *L, const char *key, const char *where, bool contrast,
                           bool required, float out[2]) {
    char field[96];
    snprintf(field, sizeof field, "%s%s", where, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, key);
    double lo = contrast ? 0 : -1, hi = 1, a, b;
    if (!v || cJSON_IsNull(v)) {
        if (required) return kn__spec_error(ctx, field, "required: a number or [lower, upper] in [%g, %g]", lo, hi);
        return KN_OK;
    }
    if (cJSON_IsNumber(v)) {
        a = contrast ? v->valuedouble : -fabs(v->valuedouble), b = contrast ? v->valuedouble : fabs(v->valuedouble);
        if (contrast && v->valuedouble < 0) a = b = -1; /* refused below */
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) &&
               cJSON_IsNumber(cJSON_GetArrayItem(v, 1))) {
        a = cJSON_GetArrayItem(v, 0)->valuedouble, b = cJSON_GetArrayItem(v, 1)->valuedouble;
        if (a > b) {
            double t = a;
            a = b, b = t;
        }
    } else {
        return kn__spec_error(ctx, field, "expected a number or [lower, upper]");
    }
    if (!(a >= lo && b <= hi))
        return kn__spec_error(ctx, field, "[%g, %g] is outside [%g, %g]%s", contrast && a == -1 && b == -1 ? v->valuedouble : a,
                              contrast && a == -1 && b == -1 ? v->valuedouble : b, lo, hi,
                              contrast ? " (contrast's factor f draws from [1 - lower, 1 + upper])" : "");
    out[0] = (float)a, out[1] = (float)b;
    return KN_OK;
}

/* A string key among names (index into *out); absent or null leaves *out. */
static kn_status choice(kn_ctx *ctx, const cJSON *L, const char *key, const char *where, const char *const *names,
                        int n, const char *expected, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, key);
    if (!v || cJSON_IsNull(v)) return KN_OK;
    for (int k = 0; cJSON_IsString(v) && k < n; k++)
        if (strcmp(v->valuestring, names[k]) == 0) {
            *out = k;
            return KN_OK;
        }
    char field[96];
    snprintf(field, sizeof field, "%s%s", where, key);
    return kn__spec_error(ctx, field, "expected %s", expected);
}

kn_status kn__spec_random_image(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t) {
    kn_random_image_opts o = {.fill_mode = KN_FILL_REFLECT, .interpolation = KN_INTERP_BILINEAR,
                              .value_range = {0.0f, 255.0f}, .horizontal = true, .vertical = true};
    int kind = 0;
    while (strcmp(t, types[kind]) != 0) kind++;
    o.kind = (kn_random_image_kind)kind;
    char field[96];
    kn_status st = KN_OK;
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(L, "data_format");
    if (df && !cJSON_IsNull(df) && !(cJSON_IsString(df) && strcmp(df->valuestring, "channels_last") == 0)) {
        snprintf(field, sizeof field, "%sdata_format", where);
        return kn__spec_error(ctx, field, "only \"channels_last\" (kiln's images are (height, width, channels))");
    }
    if (o.kind == KN_RANDOM_FLIP) {
        static const char *const modes[] = {"horizontal", "vertical", "horizontal_and_vertical"};
        int mode = 2;
        st = choice(ctx, L, "mode", where, modes, 3, "\"horizontal\", \"vertical\" or \"horizontal_and_vertical\"", &mode);
        o.horizontal = mode != 1, o.vertical = mode != 0;
    } else if (o.kind == KN_RANDOM_TRANSLATION || o.kind == KN_RANDOM_ZOOM) {
        st = factor_of(ctx, L, "height_factor", where, false, true, o.factor);
        o.width_same = o.kind == KN_RANDOM_ZOOM;
        const cJSON *wf = cJSON_GetObjectItemCaseSensitive(L, "width_factor");
        if (!st && (o.kind == KN_RANDOM_TRANSLATION || (wf && !cJSON_IsNull(wf)))) {
            o.width_same = false;
            st = factor_of(ctx, L, "width_factor", where, false, true, o.width_factor);
        }
    } else {
        st = factor_of(ctx, L, "factor", where, o.kind == KN_RANDOM_CONTRAST, true, o.factor);
    }
    if (!st && o.kind <= KN_RANDOM_ZOOM && o.kind != KN_RANDOM_FLIP) {
        static const char *const fills[] = {"reflect", "wrap", "constant", "nearest"};
        static const char *const interps[] = {"nearest", "bilinear"}; /* kn_interpolation's order */
        int fill = KN_FILL_REFLECT, interp = KN_INTERP_BILINEAR;
        st = choice(ctx, L, "fill_mode", where, fills, 4, "\"reflect\", \"wrap\", \"constant\" or \"nearest\"", &fill);
        if (!st) st = choice(ctx, L, "interpolation", where, interps, 2, "\"bilinear\" or \"nearest\"", &interp);
        double fv = 0;
        if (!st) st = kn__spec_number(ctx, L, "fill_value", where, -3.4e38, 3.4e38, &fv);
        o.fill_mode = (kn_fill_mode)fill, o.interpolation = (kn_interpolation)interp, o.fill_value = (float)fv;
    }
    if (!st && (o.kind == KN_RANDOM_CONTRAST || o.kind == KN_RANDOM_BRIGHTNESS)) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(L, "value_range");
        if (v && !cJSON_IsNull(v)) {
            snprintf(field, sizeof field, "%svalue_range", where);
            const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
            if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
                !(a->valuedouble < b->valuedouble) || fabs(a->valuedouble) > 3.4e38 || fabs(b->valuedouble) > 3.4e38)
                return kn__spec_error(ctx, field, "expected [low, high] with low < high (Keras's [0, 255] or [0, 1])");
            o.value_range[0] = (float)a->valuedouble, o.value_range[1] = (float)b->valuedouble;
        }
    }
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(L, "seed");
    if (!st && seed && !cJSON_IsNull(seed)) {
        int64_t s = -1;
        st = kn__spec_int(ctx, L, "seed", where, 0, 2147483647.0, &s);
        o.seed = (int32_t)s, o.seeded = true;
    }
    return st ? st : kn_model_add_random_image(m, &o);
}
