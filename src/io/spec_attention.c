/* spec_attention.c — the JSON description's "multi_head_attention" layer (Keras's
 * MultiHeadAttention) and "position_embedding" (keras_hub's position embedding, added).
 * multi_head_attention: num_heads and key_dim (required), value_dim (default key_dim),
 * output_shape (a number or a list of one: the output's channels; default the query's),
 * use_bias, kernel_initializer, bias_initializer, kernel_regularizer {"l2": x},
 * use_causal_mask (a call argument in Keras, a layer option here), dropout (on the
 * probabilities while training, in [0, 1)); attention_axes only null. position_embedding: initializer (keras_hub's default
 * glorot_uniform) and sequence_length, which must equal the input's steps when given.
 * Errors name the field. */
#include "spec.h"
#include "nn/model.h"

#include <string.h>

kn_status kn__spec_attention(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where) {
    char field[96];
    kn_attention_opts o = kn_attention_default(0, 0);
    int64_t heads = 0;
    static const char *const need[2] = {"num_heads", "key_dim"};
    static const char *const missing[2] = {"missing (how many heads attend, e.g. 2)",
                                           "missing (each head's query and key channels, e.g. 16)"};
    for (int k = 0; k < 2; k++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(L, need[k]);
        snprintf(field, sizeof field, "%s%s", where, need[k]);
        if (!d || cJSON_IsNull(d)) return kn__spec_error(ctx, field, "%s", missing[k]);
        kn_status st = kn__spec_int(ctx, L, need[k], where, 1, k ? 65536 : 1024, k ? &o.key_dim : &heads);
        if (st) return st;
    }
    o.num_heads = (int)heads;
    kn_status st = kn__spec_int(ctx, L, "value_dim", where, 1, 65536, &o.value_dim);
    if (st) return st;
    const cJSON *os = cJSON_GetObjectItemCaseSensitive(L, "output_shape");
    if (os && !cJSON_IsNull(os)) { /* a number, or Keras's tuple of one */
        snprintf(field, sizeof field, "%soutput_shape", where);
        const cJSON *v = cJSON_IsArray(os) && cJSON_GetArraySize(os) == 1 ? cJSON_GetArrayItem(os, 0) : os;
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > (1 << 24) || v->valuedouble != (double)(int64_t)v->valuedouble)
            return kn__spec_error(ctx, field, "expected a positive whole number of channels (or a list of one)");
        o.output_dim = (int64_t)v->valuedouble;
    }
    bool use_bias = true;
    if ((st = kn__spec_bool(ctx, L, "use_bias", where, &use_bias))) return st;
    o.no_bias = !use_bias;
    if ((st = kn__spec_bool(ctx, L, "use_causal_mask", where, &o.causal))) return st;
    static const char *const inits[2] = {"kernel_initializer", "bias_initializer"};
    for (int k = 0; k < 2; k++) {
        const cJSON *init = cJSON_GetObjectItemCaseSensitive(L, inits[k]);
        if (!init || cJSON_IsNull(init)) continue;
        snprintf(field, sizeof field, "%s%s", where, inits[k]);
        if ((st = kn__spec_initializer(ctx, init, field, k ? &o.bias_init : &o.kernel_init, &o.init_value))) return st;
    }
    if ((st = kn__spec_l2(ctx, L, "kernel_regularizer", where, &o.l2))) return st;
    double rate = 0;
    if ((st = kn__spec_number(ctx, L, "dropout", where, 0, 1, &rate))) return st;
    if (rate >= 1) {
        snprintf(field, sizeof field, "%sdropout", where);
        return kn__spec_error(ctx, field, "expected a number in [0, 1), e.g. 0.1");
    }
    o.dropout = (float)rate;
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(L, "attention_axes");
    if (axes && !cJSON_IsNull(axes)) {
        snprintf(field, sizeof field, "%sattention_axes", where);
        return kn__spec_error(ctx, field, "only null is supported (attention over the steps)");
    }
    return kn_model_add_attention(m, &o);
}

/* Keras's Attention (type attention): use_scale (false), score_mode ("dot" only),
 * use_causal_mask (false; a call argument in Keras), dropout (in [0, 1)), seed (unused: kiln's
 * draws come from the context's seed). */
kn_status kn__spec_dot_attention(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where) {
    char field[96];
    bool use_scale = false, causal = false;
    kn_status st;
    if ((st = kn__spec_bool(ctx, L, "use_scale", where, &use_scale))) return st;
    if ((st = kn__spec_bool(ctx, L, "use_causal_mask", where, &causal))) return st;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(L, "score_mode");
    if (mode && !cJSON_IsNull(mode) && !(cJSON_IsString(mode) && strcmp(mode->valuestring, "dot") == 0)) {
        snprintf(field, sizeof field, "%sscore_mode", where);
        return kn__spec_error(ctx, field, "only \"dot\" is supported (Luong's dot-product scores)");
    }
    double rate = 0;
    if ((st = kn__spec_number(ctx, L, "dropout", where, 0, 1, &rate))) return st;
    if (rate >= 1) {
        snprintf(field, sizeof field, "%sdropout", where);
        return kn__spec_error(ctx, field, "expected a number in [0, 1), e.g. 0.1");
    }
    return kn_model_add_dot_attention(m, use_scale, causal, (float)rate);
}

kn_status kn__spec_position_embedding(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where) {
    char field[96];
    kn_init init = KN_INIT_GLOROT_UNIFORM;
    float value = 0;
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(L, "initializer");
    if (iv && !cJSON_IsNull(iv)) {
        snprintf(field, sizeof field, "%sinitializer", where);
        kn_status st = kn__spec_initializer(ctx, iv, field, &init, &value);
        if (st) return st;
        if (init == KN_INIT_CONSTANT) return kn__spec_error(ctx, field, "a constant table gives no position; use a "
                                                                         "random initializer");
    }
    int64_t len = 0;
    kn_status st = kn__spec_int(ctx, L, "sequence_length", where, 1, (double)(1 << 30), &len);
    if (st) return st;
    int64_t in[KN_MAX_DIMS], f;
    int nd = kn__model_layer_input(m, m->n_layers, in, &f);
    if (len && nd >= 1 && in[0] != len) {
        snprintf(field, sizeof field, "%ssequence_length", where);
        return kn__spec_error(ctx, field, "%lld, but the input has %lld steps (the table covers every step)",
                              (long long)len, (long long)in[0]);
    }
    return kn_model_add_position_embedding(m, init);
}
