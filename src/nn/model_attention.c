/* model_attention.c — Keras's MultiHeadAttention and a learned position embedding as model
 * layers over sequences (steps, channels).
 *
 * multi_head_attention takes one input (a sequence attending to itself: query, value and
 * key the same, as a sequential model gives it), two (query, value; the key is the value)
 * or three (query, value, key), in Keras's call order. Its parameters are Keras's, in
 * Keras's shapes: query/kernel (F, H, Dk) and query/bias (H, Dk), key/... the same over the
 * key's channels, value/kernel (F, H, Dv), attention_output/kernel (H, Dv, Fo) and its bias
 * (Fo), so the 3-D kernels get Keras's fans. Each projection is one product over all steps
 * ((N*T, F) x (F, H*D)); the attention itself is graph/ops_attention.c's one node.
 *
 * attention (Keras's Attention) is the same attention without projections (below).
 *
 * position_embedding adds a learned (steps, channels) table to its input, the same for every
 * sample: keras_hub's TokenAndPositionEmbedding's position half (keras_hub's
 * PositionEmbedding layer returns the table alone, which its model then adds). */
#include "model.h"

#include <math.h>
#include <string.h>

kn_attention_opts kn_attention_default(int num_heads, int64_t key_dim) {
    return (kn_attention_opts){.num_heads = num_heads, .key_dim = key_dim, .kernel_init = KN_INIT_GLOROT_UNIFORM,
                               .bias_init = KN_INIT_ZEROS};
}

/* The per-sample shape of layer i's input k (0 query, 1 value, 2 key; missing: the value,
 * then the query). */
static int input_shape(const kn_model *m, int i, int k, int64_t shape[KN_MAX_DIMS]) {
    bool added = i < m->n_layers; /* else the layer being added: kn_model_next_layer's inputs, or the last layer */
    int n = added ? m->layers[i].n_inputs : m->n_next ? m->n_next : 1;
    const int *ins = added ? m->layers[i].inputs : m->n_next ? m->next_inputs : NULL;
    if (k == 2 && n < 3) k = 1;
    if (k == 1 && n < 2) k = 0;
    int src = ins ? ins[k] : i - 1;
    const int64_t *s = src >= 0 ? m->layers[src].shape : m->input_shape;
    int ndim = src >= 0 ? m->layers[src].ndim : m->input_ndim;
    memcpy(shape, s, (size_t)ndim * sizeof *s);
    return ndim;
}

/* The shapes of the layer being added's query, value and key (s[k]: (steps, channels)), or
 * the error naming the one that is not a sequence; 1 to 3 inputs. */
static kn_status sequence_inputs(kn_model *m, const char *type, int64_t s[3][KN_MAX_DIMS]) {
    int i = m->n_layers, n_in = m->n_next ? m->n_next : 1;
    if (n_in > 3)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: takes 1 to 3 inputs (query, value, key), %d given", i,
                         type, n_in);
    static const char *const roles[3] = {"query", "value", "key"};
    for (int k = 0; k < 3; k++) {
        int nd = input_shape(m, i, k, s[k]);
        if (nd != 2)
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: its %s must be a sequence (steps, channels), got "
                             "%d dimension%s (give the model an input_shape such as [steps, channels], or reshape)",
                             i, type, roles[k], nd, nd == 1 ? "" : "s");
    }
    return KN_OK;
}

kn_status kn_model_add_attention(kn_model *m, const kn_attention_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "multi_head_attention";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    kn__layer L = {.kind = KN__LAYER_ATTENTION, .u.attention = *opts,
                   .index = kn__model_count_kind(m, KN__LAYER_ATTENTION)};
    kn_attention_opts *o = &L.u.attention;
    if (!o->value_dim) o->value_dim = o->key_dim;
    if (o->num_heads < 1 || o->num_heads > 1024 || o->key_dim < 1 || o->key_dim > 65536 || o->value_dim < 1 ||
        o->value_dim > 65536 || o->output_dim < 0 || o->output_dim > (1 << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: num_heads %d, key_dim %lld, value_dim %lld, output "
                         "size %lld (heads in [1, 1024], dims in [1, 65536])", i, type, o->num_heads,
                         (long long)o->key_dim, (long long)o->value_dim, (long long)o->output_dim);
    if (!(o->dropout >= 0.0f && o->dropout < 1.0f))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: dropout %g outside [0, 1)", i, type,
                         (double)o->dropout);
    if ((st = kn__model_check_init(m, type, KN_LINEAR, o->l2, o->kernel_init, o->bias_init, o->no_bias,
                                   o->init_value)))
        return st;
    int64_t s[3][KN_MAX_DIMS];
    if ((st = sequence_inputs(m, type, s))) return st;
    if (s[1][0] != s[2][0])
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: value of %lld steps and key of %lld steps (they must "
                         "be as long)", i, type, (long long)s[1][0], (long long)s[2][0]);
    int64_t Tq = s[0][0], Tk = s[1][0], H = o->num_heads;
    if (Tq * Tk > (1 << 26) || Tq * H * (o->key_dim > o->value_dim ? o->key_dim : o->value_dim) > (1 << 28) ||
        Tk * H * (o->key_dim + o->value_dim) > (1 << 28))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: %lld query steps, %lld key steps and %lld heads is too "
                         "large", i, type, (long long)Tq, (long long)Tk, (long long)H);
    L.ndim = 2;
    L.shape[0] = Tq;
    L.shape[1] = o->output_dim ? o->output_dim : s[0][1]; /* Keras: the query's channels */
    return kn__model_push_layer(m, &L);
}

int kn__attention_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    if (L->kind != KN__LAYER_ATTENTION) return 0;
    const kn_attention_opts *o = &L->u.attention;
    int64_t s[3][KN_MAX_DIMS], H = o->num_heads, Dk = o->key_dim, Dv = o->value_dim, Fo = L->shape[1];
    for (int k = 0; k < 3; k++) input_shape(m, i, k, s[k]);
    static const char *const names[8] = {"query/kernel", "query/bias", "key/kernel", "key/bias",
                                         "value/kernel", "value/bias", "attention_output/kernel", "attention_output/bias"};
    /* Keras's order: query, key, value, output; each kernel then its bias */
    const int64_t kin[4] = {s[0][1], s[2][1], s[1][1], H};
    int n = 0;
    for (int p = 0; p < 4; p++) {
        int64_t d = p == 2 ? Dv : Dk;
        out[n++] = p < 3 ? (kn__rnn_param){names[2 * p], {kin[p], H, d}, 3, o->kernel_init, 0, 0}
                         : (kn__rnn_param){names[6], {H, Dv, Fo}, 3, o->kernel_init, 0, 0};
        if (o->no_bias) continue;
        out[n++] = p < 3 ? (kn__rnn_param){names[2 * p + 1], {H, d, 0}, 2, o->bias_init, 0, 0}
                         : (kn__rnn_param){names[7], {Fo, 0, 0}, 1, o->bias_init, 0, 0};
    }
    return n;
}

/* x (batch, T, F) times kernel (F, ...) flattened to (F, W), plus bias (W): (batch, T, W) */
static kn_tensor *project(kn_graph *g, kn_tensor *x, kn_tensor *kernel, kn_tensor *bias, int64_t W) {
    if (!x || !kernel) return NULL;
    int64_t T = x->shape[1], F = x->shape[2];
    kn_tensor *rows = kn__reshape_rows(g, x, (int64_t[]){KN_BATCH, F}, 2, T); /* one row a step */
    kn_tensor *y = kn_matmul(g, rows, kn_reshape(g, kernel, (int64_t[]){F, W}, 2));
    if (bias) y = kn_add(g, y, kn_reshape(g, bias, (int64_t[]){W}, 1));
    return kn__reshape_rows(g, y, (int64_t[]){KN_BATCH, T, W}, 3, 1);
}

kn_tensor *kn__model_attention(kn_model *m, kn_graph *g, int i, kn_tensor *const *outs, kn_tensor *const *masks,
                               kn_tensor **reg) {
    kn__layer *L = &m->layers[i];
    const kn_attention_opts *o = &L->u.attention;
    kn_tensor *x[3], *mask[3];
    for (int k = 0; k < 3; k++) { /* query, value, key: missing ones as in input_shape */
        int at = k < L->n_inputs ? k : k == 2 && L->n_inputs == 2 ? 1 : 0;
        int64_t s[KN_MAX_DIMS];
        input_shape(m, i, k, s);
        x[k] = kn__model_view_as(g, L->inputs[at] >= 0 ? outs[L->inputs[at]] : m->x, s, 2);
        mask[k] = L->inputs[at] >= 0 ? masks[L->inputs[at]] : NULL;
    }
    /* Keras's masks: the query's; the keys' where the value's and the key's both keep them */
    kn_tensor *key_mask = kn__mask_and(g, mask[1], mask[2]);
    kn_tensor *p[KN__LAYER_MAX_PARAMS] = {NULL};
    if (kn__model_make_params(m, g, i, o->init_value, p) < 0) return NULL;
    int per = o->no_bias ? 1 : 2;
    kn_tensor *kq = p[0], *bq = o->no_bias ? NULL : p[1], *kk = p[per], *bk = o->no_bias ? NULL : p[per + 1];
    kn_tensor *kv = p[2 * per], *bv = o->no_bias ? NULL : p[2 * per + 1];
    kn_tensor *ko = p[3 * per], *bo = o->no_bias ? NULL : p[3 * per + 1];
    L->kernel = kq;
    L->bias = bo;
    int64_t H = o->num_heads, Fo = L->shape[1];
    kn_tensor *q = project(g, x[0], kq, bq, H * o->key_dim);
    kn_tensor *k = project(g, x[2], kk, bk, H * o->key_dim);
    kn_tensor *v = project(g, x[1], kv, bv, H * o->value_dim);
    kn_tensor *a = kn_attention_masked(g, q, k, v, o->num_heads, o->causal ? KN_ATTENTION_CAUSAL : 0, o->dropout, mask[0],
                                       key_mask);
    kn_tensor *y = project(g, a, ko, bo, Fo);
    if (o->l2 > 0) { /* every kernel's l2, in the loss phase */
        g->build_phase = KN_PHASE_LOSS;
        for (int j = 0; j < 4; j++) {
            kn_tensor *r = kn_scale(g, kn_sum_squares(g, p[j * per]), o->l2);
            *reg = *reg ? kn_add(g, *reg, r) : r;
        }
        g->build_phase = KN_PHASE_FORWARD;
    }
    return y;
}

kn_status kn_model_add_position_embedding(kn_model *m, kn_init init) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "position_embedding";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    if ((st = kn__model_check_init(m, type, KN_LINEAR, 0, init, KN_INIT_ZEROS, true, 0))) return st;
    int64_t in[KN_MAX_DIMS], f;
    int ndim = kn__model_layer_input(m, i, in, &f);
    if (ndim != 2)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: needs a sequence input (steps, channels), got %d "
                         "dimension%s (%lld values a sample)", i, type, ndim, ndim == 1 ? "" : "s", (long long)f);
    kn__layer L = {.kind = KN__LAYER_POSITION_EMBEDDING, .u.position_init = init, .ndim = 2, .shape = {in[0], in[1]},
                   .index = kn__model_count_kind(m, KN__LAYER_POSITION_EMBEDDING)};
    return kn__model_push_layer(m, &L);
}

kn_tensor *kn__model_position_embedding(kn_model *m, kn_graph *g, int i, kn_tensor *h) {
    kn__layer *L = &m->layers[i];
    int64_t T = L->shape[0], D = L->shape[1];
    char name[64];
    snprintf(name, sizeof name, "position_embedding_%d/embeddings", L->index);
    L->kernel = kn_param(g, (int64_t[]){T, D}, 2, L->u.position_init, name);
    L->bias = NULL;
    if (!h || !L->kernel) return NULL;
    /* (batch, T*D) + the table as one row: every sample gets the same positions */
    kn_tensor *flat = kn_reshape(g, h, (int64_t[]){-1, T * D}, 2);
    kn_tensor *y = kn_add(g, flat, kn_reshape(g, L->kernel, (int64_t[]){T * D}, 1));
    return kn__model_view_as(g, y, L->shape, 2);
}

/* ------------------------------------------------------------- Keras's Attention
 *
 * attention (Keras's Attention, score_mode "dot", Luong-style): no projections; scores
 * q k^T (times a learned scalar "attention_<i>/scale", ones, when use_scale), softmax over the
 * keys, times the values: (Tq, D) x (Tk, D) x (Tk, Dv) -> (Tq, Dv). The inputs as
 * multi_head_attention's (query, value[, key]; one input attends to itself), masks and causal
 * masking as there. It runs graph/ops_attention.c's node with one head, whose scores are
 * divided by sqrt(D): the query is scaled by sqrt(D) (times the learned scale) first. */

kn_status kn_model_add_dot_attention(kn_model *m, bool use_scale, bool causal, float dropout) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = "attention";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: dropout %g outside [0, 1)", i, type,
                         (double)dropout);
    int64_t s[3][KN_MAX_DIMS];
    if ((st = sequence_inputs(m, type, s))) return st;
    if (s[1][0] != s[2][0] || s[0][1] != s[2][1])
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: query (%lld, %lld), value (%lld, %lld) and key (%lld, "
                         "%lld): the key needs the value's steps and the query's channels", i, type,
                         (long long)s[0][0], (long long)s[0][1], (long long)s[1][0], (long long)s[1][1],
                         (long long)s[2][0], (long long)s[2][1]);
    if (s[0][0] * s[1][0] > (1 << 26))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: %lld query steps and %lld key steps is too large", i,
                         type, (long long)s[0][0], (long long)s[1][0]);
    kn__layer L = {.kind = KN__LAYER_DOT_ATTENTION, .u.dot_attention = {use_scale, causal, dropout},
                   .index = kn__model_count_kind(m, KN__LAYER_DOT_ATTENTION), .ndim = 2,
                   .shape = {s[0][0], s[1][1]}};
    return kn__model_push_layer(m, &L);
}

int kn__dot_attention_params(const kn_model *m, int i, kn__rnn_param out[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    if (L->kind != KN__LAYER_DOT_ATTENTION || !L->u.dot_attention.use_scale) return 0;
    out[0] = (kn__rnn_param){"scale", {1, 0, 0}, 1, KN_INIT_ONES, 0, 0};
    return 1;
}

kn_tensor *kn__model_dot_attention(kn_model *m, kn_graph *g, int i, kn_tensor *const *outs, kn_tensor *const *masks) {
    kn__layer *L = &m->layers[i];
    kn_tensor *x[3], *mask[3];
    int64_t s[3][KN_MAX_DIMS];
    for (int k = 0; k < 3; k++) { /* query, value, key: missing ones as in input_shape */
        int at = k < L->n_inputs ? k : k == 2 && L->n_inputs == 2 ? 1 : 0;
        input_shape(m, i, k, s[k]);
        x[k] = kn__model_view_as(g, L->inputs[at] >= 0 ? outs[L->inputs[at]] : m->x, s[k], 2);
        mask[k] = L->inputs[at] >= 0 ? masks[L->inputs[at]] : NULL;
    }
    kn_tensor *p[KN__LAYER_MAX_PARAMS] = {NULL};
    if (kn__model_make_params(m, g, i, 0, p) < 0) return NULL;
    /* the op divides the scores by sqrt(D); Keras's are q k^T (times the scale) */
    float root = sqrtf((float)s[0][1]);
    kn_tensor *q = L->u.dot_attention.use_scale ? kn_mul(g, x[0], kn_scale(g, p[0], root)) : kn_scale(g, x[0], root);
    return kn_attention_masked(g, q, x[2], x[1], 1, L->u.dot_attention.causal ? KN_ATTENTION_CAUSAL : 0,
                               L->u.dot_attention.dropout, mask[0], kn__mask_and(g, mask[1], mask[2]));
}
