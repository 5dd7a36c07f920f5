/* spec_embedding.c — the JSON description's "embedding" layer, Keras's Embedding: input_dim
 * and output_dim (required), embeddings_initializer (Keras's default "uniform"),
 * embeddings_regularizer {"l2": x} (as dense's kernel_regularizer), mask_zero (index 0 is
 * padding: its mask carried on, kn_embedding_opts). Keras's other keys are taken only where
 * they ask for what kiln does: embeddings_constraint null, and Keras 2's input_length equal
 * to the input's length. Errors name the field. */
#include "spec.h"
#include "nn/model.h"

#include <string.h>

kn_status kn__spec_embedding(kn_ctx *ctx, kn_model *m, const cJSON *L, const char *where) {
    char field[96];
    kn_embedding_opts o = kn_embedding_default(0, 0);
    static const char *const dims[2] = {"input_dim", "output_dim"};
    static const char *const missing[2] = {"missing (the vocabulary size: token indices run from 0 to input_dim - 1)",
                                           "missing (the length of each token's vector, e.g. 16)"};
    for (int k = 0; k < 2; k++) {
        int64_t v = 0;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(L, dims[k]);
        snprintf(field, sizeof field, "%s%s", where, dims[k]);
        if (!d || cJSON_IsNull(d)) return kn__spec_error(ctx, field, "%s", missing[k]);
        kn_status st = kn__spec_int(ctx, L, dims[k], where, 1, (double)(1 << 24), &v);
        if (st) return st;
        if (k) o.output_dim = v;
        else o.input_dim = v;
    }
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(L, "embeddings_initializer");
    if (init && !cJSON_IsNull(init)) {
        snprintf(field, sizeof field, "%sembeddings_initializer", where);
        kn_status st = kn__spec_initializer(ctx, init, field, &o.embeddings_init, &o.init_value);
        if (st) return st;
    }
    kn_status rst = kn__spec_l2(ctx, L, "embeddings_regularizer", where, &o.l2);
    if (rst) return rst;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(L, "embeddings_constraint");
    if (c && !cJSON_IsNull(c)) {
        snprintf(field, sizeof field, "%sembeddings_constraint", where);
        return kn__spec_error(ctx, field, "constraints are not supported (null only)");
    }
    kn_status mst = kn__spec_bool(ctx, L, "mask_zero", where, &o.mask_zero);
    if (mst) return mst;
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(L, "input_length");
    if (len && !cJSON_IsNull(len)) { /* Keras 2's: the sequence length, which input_shape already says */
        int64_t n = 0;
        kn_status st = kn__spec_int(ctx, L, "input_length", where, 1, (double)(1 << 30), &n);
        if (st) return st;
        if (m->input_ndim != 1 || m->input_shape[0] != n) {
            snprintf(field, sizeof field, "%sinput_length", where);
            return kn__spec_error(ctx, field, "%lld does not match the model's input_shape (a sequence of %lld%s)",
                                  (long long)n, (long long)m->input_shape[0], m->input_ndim == 1 ? "" : ", and more dimensions");
        }
    }
    return kn_model_add_embedding_ex(m, &o);
}
