/* spec.h — helpers the JSON model description's readers share (spec.c, spec_training.c). */
#ifndef KN_SPEC_H
#define KN_SPEC_H

#include "core/core.h"

#include <cjson/cJSON.h>

/* "model description: FIELD: message" as the context's error; returns KN_ERR_SPEC. */
kn_status kn__spec_error(kn_ctx *ctx, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "FIELD: unknown layer 'TYPE' (did you mean ...? kiln's layers are ...)": the nearest types
 * kiln knows (a misspelling, a Keras class name), then all of them by kind
 * (spec_layer_names.c); returns KN_ERR_SPEC. */
kn_status kn__spec_unknown_layer(kn_ctx *ctx, const char *field, const char *type);
/* The i-th layer type the parser knows (spec.c's table of types and their keys), NULL past
 * the last: test_conv1d checks that the unknown-layer message lists every one. */
const char *kn__spec_layer_type(size_t i);
/* A number field: absent leaves *out; present must be a finite number in [lo, hi].
 * where prefixes the key in messages ("optimizer."). */
kn_status kn__spec_number(kn_ctx *ctx, const cJSON *obj, const char *key, const char *where, double lo, double hi,
                          double *out);
/* An integer field, as kn__spec_number but whole. */
kn_status kn__spec_int(kn_ctx *ctx, const cJSON *obj, const char *key, const char *where, double lo, double hi,
                       int64_t *out);
/* Refuses a key of obj not in keys (NULL-terminated): "WHERE: unknown key 'k' (expected
 * one of ...)". where names obj ("layers[2]", "optimizer"; a trailing '.' is dropped). */
kn_status kn__spec_check_keys(kn_ctx *ctx, const cJSON *obj, const char *where, const char *const *keys);
/* A boolean key: true or false into *out, left as it is when missing or null. */
kn_status kn__spec_bool(kn_ctx *ctx, const cJSON *obj, const char *key, const char *where, bool *out);
/* A Keras regularizer under key (kernel_regularizer, embeddings_regularizer): {"l2": f} with
 * f in [0, 1e6] into *l2; left as it is when the key is missing or null. */
kn_status kn__spec_l2(kn_ctx *ctx, const cJSON *obj, const char *key, const char *where, float *l2);
/* An initializer as Keras writes it (a name, or {"class_name": ..., "config": {...}}) into
 * *kind and Constant's *value; field names it in messages (spec.c). */
kn_status kn__spec_initializer(kn_ctx *ctx, const cJSON *v, const char *field, kn_init *kind, float *value);
/* layers[i] of type "embedding" (where: "layers[i].") added to m (spec_embedding.c). */
kn_status kn__spec_embedding(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where);
/* layers[i] of type "multi_head_attention" or "position_embedding" added to m (spec_attention.c). */
kn_status kn__spec_attention(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where);
kn_status kn__spec_dot_attention(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where); /* Keras's Attention */
kn_status kn__spec_position_embedding(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where);
/* layers[i] of a resizing type (kn__spec_is_resize: zero_padding1d/2d, cropping1d/2d,
 * up_sampling1d/2d, center_crop, resizing) added to m (spec_resize.c). */
bool kn__spec_is_resize(const char *t);
kn_status kn__spec_resize(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t);
/* layers[i] of a random augmentation type (kn__spec_is_random_image: random_flip,
 * random_translation, random_rotation, random_zoom, random_contrast, random_brightness) added
 * to m (spec_random_aug.c). */
bool kn__spec_is_random_image(const char *t);
kn_status kn__spec_random_image(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t);
/* layers[i] of a volume type (kn__spec_is_volume: conv3d, max_pool3d, average_pool3d,
 * global_max_pool3d, global_average_pool3d, zero_padding3d, cropping3d, up_sampling3d)
 * added to m (spec_volume.c); *activation_given as spec.c's layers set it. */
bool kn__spec_is_volume(const char *t);
kn_status kn__spec_volume(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where, const char *t,
                          bool *activation_given);
/* spec.c's readers the volume layers share: a convolution's filters (required) and its
 * dense-like options (activation, use_bias, initializers, regularizer, alpha) into *dense,
 * and Keras's padding "valid" | "same" into *same. */
kn_status kn__spec_conv_common(kn_ctx *ctx, const cJSON *L, const char *where, const char *type, kn_dense_opts *dense,
                               bool *activation_given);
kn_status kn__spec_padding(kn_ctx *ctx, const cJSON *L, const char *where, bool *same);
/* The description's training control: "schedule" and "callbacks" (spec_training.c). */
kn_status kn__spec_training(kn_ctx *ctx, const cJSON *root, kn_spec *spec);

#endif
