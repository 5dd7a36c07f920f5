/* hparams.h — reading a classical model's hyperparameters from its JSON description, with
 * scikit-learn's names: each getter leaves *out alone when the key is absent (so the caller
 * sets the default first) and refuses a wrong type or range with a message naming
 * "TYPE.KEY"; kn__hp_known refuses keys the type does not have. */
#ifndef KN_CLASSIC_HPARAMS_H
#define KN_CLASSIC_HPARAMS_H

#include "core/core.h"

struct cJSON;

/* Every key of spec is one of keys (NULL-terminated). */
kn_status kn__hp_known(kn_ctx *ctx, const struct cJSON *spec, const char *type, const char *const *keys);
/* A number in [lo, hi] (open at lo when lo_open). */
kn_status kn__hp_number(kn_ctx *ctx, const struct cJSON *spec, const char *type, const char *key, double lo, bool lo_open,
                        double hi, double *out);
/* A whole number in [lo, hi]; null is accepted as `null_value` when allow_null. */
kn_status kn__hp_int(kn_ctx *ctx, const struct cJSON *spec, const char *type, const char *key, int64_t lo, int64_t hi,
                     bool allow_null, int64_t null_value, int64_t *out);
kn_status kn__hp_bool(kn_ctx *ctx, const struct cJSON *spec, const char *type, const char *key, bool *out);
/* One of choices (NULL-terminated); *out is its index. */
kn_status kn__hp_choice(kn_ctx *ctx, const struct cJSON *spec, const char *type, const char *key, const char *const *choices,
                        int *out);

#endif
