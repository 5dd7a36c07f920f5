/* hparams.c — see hparams.h. */
#include "classic/hparams.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

kn_status kn__hp_known(kn_ctx *ctx, const cJSON *spec, const char *type, const char *const *keys) {
    const cJSON *it;
    cJSON_ArrayForEach(it, spec) {
        bool ok = false;
        for (const char *const *k = keys; *k && !ok; k++) ok = strcmp(it->string, *k) == 0;
        if (!ok) {
            char list[512];
            size_t w = 0;
            for (const char *const *k = keys; *k && w < sizeof list; k++)
                w += (size_t)snprintf(list + w, sizeof list - w, "%s%s", w ? ", " : "", *k);
            return kn__error(ctx, KN_ERR_SPEC, "%s.%s: unknown hyperparameter (%s has %s)", type, it->string, type, list);
        }
    }
    return KN_OK;
}

kn_status kn__hp_number(kn_ctx *ctx, const cJSON *spec, const char *type, const char *key, double lo, bool lo_open, double hi,
                        double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!v) return KN_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return kn__error(ctx, KN_ERR_SPEC, "%s.%s: expected a number", type, key);
    double x = v->valuedouble;
    if ((lo_open ? !(x > lo) : !(x >= lo)) || x > hi)
        return kn__error(ctx, KN_ERR_SPEC, "%s.%s: %g must be %s %g%s", type, key, x, lo_open ? ">" : ">=", lo,
                         isinf(hi) ? "" : hi == 1 ? " and <= 1" : " and within range");
    *out = x;
    return KN_OK;
}

kn_status kn__hp_int(kn_ctx *ctx, const cJSON *spec, const char *type, const char *key, int64_t lo, int64_t hi, bool allow_null,
                     int64_t null_value, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!v) return KN_OK;
    if (allow_null && cJSON_IsNull(v)) {
        *out = null_value;
        return KN_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return kn__error(ctx, KN_ERR_SPEC, "%s.%s: expected a whole number%s", type, key, allow_null ? " or null" : "");
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return kn__error(ctx, KN_ERR_SPEC, "%s.%s: %g must be in [%lld, %lld]", type, key, v->valuedouble, (long long)lo,
                         (long long)hi);
    *out = (int64_t)v->valuedouble;
    return KN_OK;
}

kn_status kn__hp_bool(kn_ctx *ctx, const cJSON *spec, const char *type, const char *key, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!v) return KN_OK;
    if (!cJSON_IsBool(v)) return kn__error(ctx, KN_ERR_SPEC, "%s.%s: expected true or false", type, key);
    *out = cJSON_IsTrue(v);
    return KN_OK;
}

kn_status kn__hp_choice(kn_ctx *ctx, const cJSON *spec, const char *type, const char *key, const char *const *choices, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!v) return KN_OK;
    for (int i = 0; cJSON_IsString(v) && choices[i]; i++)
        if (strcmp(v->valuestring, choices[i]) == 0) {
            *out = i;
            return KN_OK;
        }
    char list[256];
    size_t w = 0;
    for (int i = 0; choices[i] && w < sizeof list; i++) w += (size_t)snprintf(list + w, sizeof list - w, "%s%s", i ? ", " : "", choices[i]);
    return kn__error(ctx, KN_ERR_SPEC, "%s.%s: expected one of %s", type, key, list);
}
