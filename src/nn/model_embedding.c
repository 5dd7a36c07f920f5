/* model_embedding.c — Keras's Embedding layer: token indices in the model input (whole
 * numbers stored as floats) replaced by rows of a trained table "embedding_<n>/embeddings"
 * (input_dim, output_dim), so a sample (T) becomes (T, output_dim). Its checks, its graph
 * (a gather, graph/embedding.c), and the check of the data: an index that is not a whole
 * number in [0, input_dim) is refused before a batch reaches the graph, naming its row,
 * column and value (the kernels also make such a value a row of zeros, as a defence, and
 * never read outside the table). An embedding reads the model input only: an index has no
 * gradient, and a layer's float output is no index. */
#include "model.h"
#include "data/preprocess.h"

#include <math.h>
#include <string.h>

kn_embedding_opts kn_embedding_default(int64_t input_dim, int64_t output_dim) {
    return (kn_embedding_opts){.input_dim = input_dim, .output_dim = output_dim, .embeddings_init = KN_INIT_UNIFORM};
}

kn_status kn_model_add_embedding(kn_model *m, int64_t input_dim, int64_t output_dim) {
    kn_embedding_opts o = kn_embedding_default(input_dim, output_dim);
    return kn_model_add_embedding_ex(m, &o);
}

kn_status kn_model_add_embedding_ex(kn_model *m, const kn_embedding_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "embedding");
    if (st) return st;
    int i = m->n_layers;
    const kn_embedding_opts *o = opts;
    if (o->input_dim < 1 || o->input_dim > KN_GATHER_MAX_ROWS)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] embedding: input_dim is %lld (must be in [1, 2^24]: token "
                         "indices are whole floats, exact up to 2^24)", i, (long long)o->input_dim);
    if (o->output_dim < 1 || o->output_dim > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] embedding: output_dim is %lld (must be in [1, 2^24])", i,
                         (long long)o->output_dim);
    if (o->input_dim * o->output_dim > (1LL << 31))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] embedding: input_dim %lld x output_dim %lld is more than 2^31 "
                         "parameters", i, (long long)o->input_dim, (long long)o->output_dim);
    if ((unsigned)o->embeddings_init >= KN_INIT_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] embedding: unknown embeddings_initializer %d", i,
                         (int)o->embeddings_init);
    if ((st = kn__model_check_init(m, "embedding", KN_LINEAR, o->l2, o->embeddings_init, KN_INIT_ZEROS, true,
                                   o->init_value)))
        return st;
    /* the layer it reads: kn_model_next_layer's, else the previous one (none: the input) */
    int from = m->n_next ? m->next_inputs[0] : i - 1;
    if (from >= 0)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] embedding: reads token indices from the model input, but its "
                         "input is layers[%d] %s '%s' (a layer's float output is no index; put the embedding first, or "
                         "give it \"inputs\": \"input\")", i, from, kn__layer_type(&m->layers[from]), m->layers[from].name);
    int64_t in[KN_MAX_DIMS], features;
    int ndim = kn__model_layer_input(m, i, in, &features);
    if (o->mask_zero && ndim != 1)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] embedding: mask_zero needs a sequence of indices (an "
                         "input_shape of one dimension, [steps]), got %d dimensions", i, ndim);
    if (ndim > KN_MAX_DIMS - 2)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] embedding: input_shape has %d dimensions (at most %d: the "
                         "output adds output_dim, and a sample has at most %d)", i, ndim, KN_MAX_DIMS - 2, KN_MAX_DIMS - 1);
    if (features * o->output_dim > (1LL << 31))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] embedding: %lld indices x output_dim %lld is more than 2^31 "
                         "values a sample", i, (long long)features, (long long)o->output_dim);
    kn__layer L = {.kind = KN__LAYER_EMBEDDING, .u.embedding = *o, .ndim = ndim + 1,
                   .index = kn__model_count_kind(m, KN__LAYER_EMBEDDING)};
    memcpy(L.shape, in, (size_t)ndim * sizeof *in);
    L.shape[ndim] = o->output_dim;
    return kn__model_push_layer(m, &L);
}

kn_tensor *kn__model_embedding(kn_model *m, kn_graph *g, int i) {
    kn__layer *L = &m->layers[i];
    const kn_embedding_opts *o = &L->u.embedding;
    char name[48];
    snprintf(name, sizeof name, "embedding_%d/embeddings", L->index);
    L->kernel = kn_param(g, (int64_t[]){o->input_dim, o->output_dim}, 2, o->embeddings_init, name);
    if (L->kernel) L->kernel->init_value = o->init_value;
    /* x (batch, features) of indices -> (batch, features, output_dim) */
    return kn_gather(g, m->x, L->kernel);
}

bool kn__model_reads_indices(const kn_model *m) {
    for (int i = 0; m && !m->classic && i < m->n_layers; i++)
        if (m->layers[i].kind == KN__LAYER_EMBEDDING) return true;
    return false;
}

kn_status kn__model_check_indices(kn_model *m, const float *x, int64_t n, int64_t first_row, const char *what) {
    /* the embedding with the smallest vocabulary decides (every one reads the whole input) */
    int at = -1;
    for (int i = 0; !m->classic && i < m->n_layers; i++)
        if (m->layers[i].kind == KN__LAYER_EMBEDDING &&
            (at < 0 || m->layers[i].u.embedding.input_dim < m->layers[at].u.embedding.input_dim))
            at = i;
    if (at < 0 || n <= 0) return KN_OK;
    const kn__layer *L = &m->layers[at];
    int64_t f = m->in_features, vocab = L->u.embedding.input_dim;
    float limit = (float)vocab; /* exact: input_dim <= 2^24 */
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + r * f;
        for (int64_t c = 0; c < f; c++) {
            float v = row[c];
            if (v >= 0.0f && v < limit && v == floorf(v)) continue;
            const char *why = v != v ? "is not a number"
                              : v != floorf(v) && isfinite(v) ? "is not a whole number"
                              : v < 0 ? "is negative" : "is not below input_dim";
            /* a CSV's: the column's name, and a word on its scaling (which turns indices into fractions) */
            const struct kn_preprocessor *prep = m->prep;
            char col[96] = "", hint[96] = "";
            if (prep && c < prep->n_out && prep->out_names && prep->out_names[c])
                snprintf(col, sizeof col, " '%.60s'", prep->out_names[c]);
            if (prep && prep->scale != KN__SCALE_NONE && prep->n_num)
                snprintf(hint, sizeof hint, "; the CSV's numbers were scaled: token columns need scale=none");
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT,
                             "%s: row %lld, column %lld%s: token index %.9g %s (layers[%d] embedding '%s' takes whole "
                             "numbers in [0, %lld)%s)", what, (long long)(first_row + r), (long long)c, col, (double)v, why,
                             at, L->name, (long long)vocab, hint);
        }
    }
    return KN_OK;
}

kn_status kn_model_check_input(kn_model *m, const float *x, int64_t n) {
    if (!m || n < 0 || (n && !x)) return KN_ERR_INVALID_ARGUMENT;
    return m->classic ? KN_OK : kn__model_check_indices(m, x, n, 0, "input");
}
