/* model.c — the sequential model: layers, compile, building its graph, predict and
 * parameter access. Training and evaluation loops are in train/. */
#include "model.h"
#include "classic/model.h"
#include "data/dataset.h"

#include <math.h>
#include <string.h>

#define KN_DEFAULT_EVAL_BATCH 256

kn_status kn_model_new_sequential(kn_ctx *ctx, const int64_t *input_shape, int ndim, kn_model **out) {
    if (!ctx || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (ndim < 1 || ndim > KN_MAX_DIMS || !input_shape)
        return kn__error(ctx, KN_ERR_SHAPE, "model: input_shape has %d dimensions (1 to %d allowed)", ndim, KN_MAX_DIMS);
    int64_t features = 1;
    for (int i = 0; i < ndim; i++) {
        if (input_shape[i] <= 0 || input_shape[i] > (1LL << 31))
            return kn__error(ctx, KN_ERR_SHAPE, "model: input_shape[%d] is %lld (must be positive)", i,
                             (long long)input_shape[i]);
        features *= input_shape[i];
        if (features > (1LL << 31)) return kn__error(ctx, KN_ERR_SHAPE, "model: input_shape too large");
    }
    kn_model *m = kn__calloc(ctx, 1, sizeof *m);
    if (!m) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory");
    m->ctx = ctx;
    m->passes = KN_PASS_ALL;
    m->input_ndim = ndim;
    memcpy(m->input_shape, input_shape, (size_t)ndim * sizeof *input_shape);
    m->in_features = features;
    *out = m;
    return KN_OK;
}

void kn_model_free(kn_model *m) {
    if (!m) return;
    if (m->classic) kn__classic_free(m);
    kn_graph_free(m->graph);
    kn_graph_free(m->report_graph);
    kn__model_unmap(m);
    kn__free(m->ctx, m->resume_state);
    kn__free(m->ctx, m->resume_best);
    kn__free(m->ctx, m->resume_history);
    kn__free(m->ctx, m->layers);
    kn__free(m->ctx, m->records);
    kn__free(m->ctx, m);
}

const char *kn__layer_type(const kn__layer *L) {
    static const char *const names[] = {"dense", "conv2d", "max_pool2d", "average_pool2d", "global_average_pool2d",
                                        "flatten", "reshape", "activation", "dropout",
                                        "batch_normalization", "layer_normalization",
                                        "conv1d", "max_pool1d", "average_pool1d", "global_average_pool1d",
                                        "global_max_pool1d", "global_max_pool2d", "merge", "rnn", "embedding",
                                        "multi_head_attention", "position_embedding", "prelu", "rescaling",
                                        "depthwise_conv2d", "zero_padding2d", "up_sampling2d",
                                        "conv2d_transpose", "conv1d_transpose", "permute", "repeat_vector",
                                        "group_normalization", "depthwise_conv1d", "attention", "masking",
                                        "unit_normalization", "dot", "resizing", "random_image", "conv3d",
                                        "max_pool3d", "global_max_pool3d", "zero_padding3d", "up_sampling3d",
                                        "conv3d_transpose"};
    _Static_assert(sizeof names / sizeof *names == KN__LAYER_LAST + 1, "a name for every layer kind");
    if (L->kind == KN__LAYER_POOL3D) return L->u.pool3d.kind == KN_POOL_AVG ? "average_pool3d" : "max_pool3d";
    if (L->kind == KN__LAYER_GLOBAL_POOL3D)
        return L->u.pool3d.kind == KN_POOL_AVG ? "global_average_pool3d" : "global_max_pool3d";
    if (L->kind == KN__LAYER_PAD3D) return L->u.pad3d.crop ? "cropping3d" : "zero_padding3d";
    if (L->kind == KN__LAYER_RANDOM_IMAGE) return kn__random_image_name((int)L->u.random_image.kind);
    if (L->kind == KN__LAYER_PAD) /* by its crop flag and its (steps, channels) or (h, w, channels) */
        return L->u.pad.crop ? (L->ndim == 2 ? "cropping1d" : "cropping2d")
                             : (L->ndim == 2 ? "zero_padding1d" : "zero_padding2d");
    if (L->kind == KN__LAYER_UPSAMPLE) return L->ndim == 2 ? "up_sampling1d" : "up_sampling2d";
    if (L->kind == KN__LAYER_DEPTHWISE && L->u.depthwise.filters) return "separable_conv2d";
    if (L->kind == KN__LAYER_DEPTHWISE1D && L->u.depthwise.filters) return "separable_conv1d";
    static const char *const cells[] = {"simple_rnn", "lstm", "gru"};
    _Static_assert(sizeof cells / sizeof *cells == KN_RNN_CELL_COUNT, "a name for every cell");
    if (L->kind == KN__LAYER_RNN && L->u.rnn.bidirectional) return "bidirectional";
    if (L->kind == KN__LAYER_RNN) return (unsigned)L->u.rnn.cell < KN_RNN_CELL_COUNT ? cells[L->u.rnn.cell] : "rnn";
    static const char *const merges[] = {"add", "subtract", "multiply", "average", "maximum", "concatenate", "minimum"};
    _Static_assert(sizeof merges / sizeof *merges == KN_MERGE_COUNT, "a name for every merge");
    if (L->kind == KN__LAYER_MERGE) return (unsigned)L->u.merge < KN_MERGE_COUNT ? merges[L->u.merge] : "merge";
    if (L->kind == KN__LAYER_DENSE && L->per_step) return "time_distributed";
    static const char *const noises[] = {"dropout", "gaussian_noise", "gaussian_dropout", "alpha_dropout"};
    if (L->kind == KN__LAYER_DROPOUT && L->u.dropout.noise) return noises[L->u.dropout.noise & 3];
    if (L->kind == KN__LAYER_DROPOUT && L->u.dropout.spatial) /* by its (steps..., channels) */
        return L->ndim == 2 ? "spatial_dropout1d" : L->ndim == 3 ? "spatial_dropout2d" : "spatial_dropout3d";
    return names[L->kind];
}

/* The per-sample shape going into layer i: its first input's output (-1: the model's input). */
int kn__model_layer_input(const kn_model *m, int i, int64_t shape[KN_MAX_DIMS], int64_t *features) {
    int src = i < m->n_layers ? m->layers[i].inputs[0] : m->n_next ? m->next_inputs[0] : i - 1;
    const int64_t *s = src >= 0 ? m->layers[src].shape : m->input_shape;
    int ndim = src >= 0 ? m->layers[src].ndim : m->input_ndim;
    memcpy(shape, s, (size_t)ndim * sizeof *s);
    if (features) *features = src >= 0 ? m->layers[src].features : m->in_features;
    return ndim;
}

int kn__model_count_kind(const kn_model *m, kn__layer_kind kind) {
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) n += m->layers[i].kind == kind;
    return n;
}

/* Checks a layer may be added now (errors name it as layers[i] type). */
kn_status kn__model_can_add(kn_model *m, const char *type) {
    if (m->classic) return kn__error(m->ctx, KN_ERR_STATE, "model: a %s has no layers", m->classic->name);
    if (m->compiled)
        return kn__error(m->ctx, KN_ERR_STATE, "layers[%d] %s: cannot add layers after compile", m->n_layers, type);
    if (m->n_layers >= KN__MAX_LAYERS)
        return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "layers[%d] %s: more than %d layers", m->n_layers, type,
                         KN__MAX_LAYERS);
    return KN_OK;
}

/* Keras's mask propagation (kn_embedding_opts's mask_zero): whether input k of layer L (its
 * inputs set) carries a mask, whether L's kind passes one on, and so whether L's output
 * does. A merge passes on what its masked inputs keep in common; attention its query's. */
static bool input_masked(const kn_model *m, const kn__layer *L, int k) {
    return k < L->n_inputs && L->inputs[k] >= 0 && m->layers[L->inputs[k]].masked;
}
static bool passes_mask(const kn__layer *L) {
    switch (L->kind) {
    case KN__LAYER_DROPOUT:
    case KN__LAYER_ACTIVATION:
    case KN__LAYER_LAYER_NORM:
    case KN__LAYER_UNIT_NORM:
    case KN__LAYER_BATCH_NORM:
    case KN__LAYER_POSITION_EMBEDDING:
    case KN__LAYER_ATTENTION:
    case KN__LAYER_DOT_ATTENTION:
    case KN__LAYER_MERGE: return true;
    case KN__LAYER_RNN: return L->u.rnn.return_sequences; /* (the last state is no sequence) */
    case KN__LAYER_DENSE: return L->per_step; /* (time_distributed: each step on its own) */
    case KN__LAYER_PRELU: return true;
    case KN__LAYER_CONV1D: /* position-wise only: each output step is its input step */
        return L->u.conv1d.kernel_size == 1 && L->u.conv1d.stride == 1;
    default: return false;
    }
}
static bool output_masked(const kn_model *m, const kn__layer *L) {
    if (L->kind == KN__LAYER_EMBEDDING) return L->u.embedding.mask_zero;
    if (L->kind == KN__LAYER_MASKING) return true; /* (its own mask, whatever its input's) */
    if (!passes_mask(L)) return false;
    int n = L->kind == KN__LAYER_MERGE ? L->n_inputs : 1;
    for (int k = 0; k < n; k++)
        if (input_masked(m, L, k)) return true;
    return false;
}

/* Appends L, its shape set (ndim dims in L->shape); computes its feature count and gives
 * it its name and inputs. */
kn_status kn__model_push_layer(kn_model *m, kn__layer *L) {
    if (L->kind != KN__LAYER_MERGE && L->kind != KN__LAYER_ATTENTION && L->kind != KN__LAYER_DOT_ATTENTION &&
        L->kind != KN__LAYER_DOT && m->n_next > 1)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: takes one input, %d given (only merge layers such as "
                         "add and concatenate, attention and multi_head_attention, take more)", m->n_layers, kn__layer_type(L),
                         m->n_next);
    if (m->n_next) {
        L->n_inputs = m->n_next;
        memcpy(L->inputs, m->next_inputs, sizeof L->inputs);
    } else {
        L->n_inputs = 1;
        L->inputs[0] = m->n_layers - 1;
    }
    L->named = m->next_name[0] != 0;
    if (L->named) {
        snprintf(L->name, sizeof L->name, "%s", m->next_name);
    } else { /* Keras's "<type>_<n>", counting from 0 as the parameters do, past taken names */
        const char *type = kn__layer_type(L);
        int n = 0;
        for (int i = 0; i < m->n_layers; i++) n += strcmp(kn__layer_type(&m->layers[i]), type) == 0;
        for (;; n++) {
            snprintf(L->name, sizeof L->name, "%s_%d", type, n);
            int i = 0;
            while (i < m->n_layers && strcmp(m->layers[i].name, L->name) != 0) i++;
            if (i == m->n_layers) break;
        }
    }
    L->masked = output_masked(m, L);
    int64_t f = 1;
    for (int d = 0; d < L->ndim; d++) f *= L->shape[d];
    L->features = f;
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? m->cap_layers * 2 : 8;
        kn__layer *nl = kn__calloc(m->ctx, (size_t)cap, sizeof *nl);
        if (!nl) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory");
        if (m->n_layers) memcpy(nl, m->layers, (size_t)m->n_layers * sizeof *nl);
        kn__free(m->ctx, m->layers);
        m->layers = nl;
        m->cap_layers = cap;
    }
    m->layers[m->n_layers++] = *L;
    m->n_next = 0;
    m->next_name[0] = 0;
    return KN_OK;
}

/* An image layer's input: (height, width, channels). */
kn_status kn__model_image_input(kn_model *m, const char *type, int64_t shape[KN_MAX_DIMS]) {
    int64_t f;
    int ndim = kn__model_layer_input(m, m->n_layers, shape, &f);
    if (ndim != 3) {
        char s[96];
        int used = snprintf(s, sizeof s, "(");
        for (int d = 0; d < ndim; d++) used += snprintf(s + used, sizeof s - (size_t)used, "%s%lld", d ? ", " : "", (long long)shape[d]);
        snprintf(s + used, sizeof s - (size_t)used, "%s)", ndim == 1 ? "," : "");
        return kn__error(m->ctx, KN_ERR_SHAPE,
                         "layers[%d] %s: needs an image input (height, width, channels), got %s%s", m->n_layers, type, s,
                         ndim == 1 ? " (give the model an input_shape such as [28, 28, 1], or reshape)" : "");
    }
    return KN_OK;
}

/* One spatial dimension of a window's output, as the graph computes it; false when a
 * 'valid' window does not fit. */
bool kn__model_out_dim(int64_t in, int k, int s, int d, bool same, int64_t *out) {
    int64_t span = (int64_t)(k - 1) * d + 1;
    if (same) {
        *out = (in + s - 1) / s;
        return true;
    }
    if (span > in) return false;
    *out = (in - span) / s + 1;
    return true;
}

kn_status kn__model_check_init(kn_model *m, const char *type, kn_activation act, float l2, kn_init ki, kn_init bi,
                               bool no_bias, float init_value) {
    int i = m->n_layers;
    if ((unsigned)act >= KN_ACTIVATION_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: unknown activation %d", i, type, (int)act);
    if (!(l2 >= 0) || !isfinite(l2))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: l2 is %g (must be >= 0)", i, type, (double)l2);
    if ((unsigned)ki >= KN_INIT_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: unknown kernel initializer", i, type);
    if ((unsigned)bi >= KN_INIT_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: unknown bias initializer %d", i, type, (int)bi);
    if (bi == KN_INIT_ORTHOGONAL && !no_bias)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT,
                         "layers[%d] %s: bias_init orthogonal needs a matrix (a bias is a vector)", i, type);
    if (!isfinite(init_value))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: init_value is %g (must be finite)", i, type,
                         (double)init_value);
    return KN_OK;
}

/* A dense layer, or (per_step) a time_distributed one: index among the layers of its type. */
static kn_status add_dense(kn_model *m, const kn_dense_opts *opts, bool per_step) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    if (m->classic) return kn__error(m->ctx, KN_ERR_STATE, "model: a %s has no layers", m->classic->name);
    int index = 0;
    for (int k = 0; k < m->n_layers; k++) index += m->layers[k].kind == KN__LAYER_DENSE && m->layers[k].per_step == per_step;
    const char *type = per_step ? "time_distributed" : "dense";
    if (m->compiled) return kn__error(m->ctx, KN_ERR_STATE, "%s_%d: cannot add layers after compile", type, index);
    if (opts->units <= 0 || opts->units > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "%s_%d: units is %lld (must be in [1, 2^24])", type, index,
                         (long long)opts->units);
    if ((unsigned)opts->activation >= KN_ACTIVATION_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "%s_%d: unknown activation %d", type, index, (int)opts->activation);
    if (!(opts->l2 >= 0) || !isfinite(opts->l2))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "%s_%d: l2 is %g (must be >= 0)", type, index, (double)opts->l2);
    if ((unsigned)opts->kernel_init >= KN_INIT_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "%s_%d: unknown kernel initializer", type, index);
    if ((unsigned)opts->bias_init >= KN_INIT_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "%s_%d: unknown bias initializer %d", type, index,
                         (int)opts->bias_init);
    if (opts->bias_init == KN_INIT_ORTHOGONAL && !opts->no_bias)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "%s_%d: bias_init orthogonal needs a matrix (a bias is a "
                         "vector)", type, index);
    if (!isfinite(opts->init_value))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "%s_%d: init_value is %g (must be finite)", type, index,
                         (double)opts->init_value);
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    kn__layer layer = {.kind = KN__LAYER_DENSE, .u.dense = *opts, .shape = {opts->units}, .ndim = 1, .index = index,
                       .per_step = per_step};
    if (per_step) { /* the product over the last axis: (steps..., C) -> (steps..., units) */
        layer.ndim = kn__model_layer_input(m, m->n_layers, layer.shape, NULL);
        if (layer.ndim < 2)
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] time_distributed: needs an input of steps (steps, "
                             "features), got 1 dimension (a plain dense layer takes it)", m->n_layers);
        layer.shape[layer.ndim - 1] = opts->units;
    }
    /* bias_init's zero value means the default, zeros (kiln.h): stored as what it means, so
     * the graph and the written description need no rule of their own */
    if (layer.u.dense.bias_init == KN_INIT_GLOROT_UNIFORM) layer.u.dense.bias_init = KN_INIT_ZEROS;
    return kn__model_push_layer(m, &layer);
}

kn_status kn_model_add_dense_ex(kn_model *m, const kn_dense_opts *opts) { return add_dense(m, opts, false); }
kn_status kn_model_add_time_distributed(kn_model *m, const kn_dense_opts *opts) { return add_dense(m, opts, true); }

kn_status kn_model_add_conv2d(kn_model *m, const kn_conv2d_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "conv2d");
    if (st) return st;
    int i = m->n_layers;
    kn_conv2d_opts o = *opts;
    if (!o.stride_h) o.stride_h = 1;
    if (!o.stride_w) o.stride_w = 1;
    if (!o.dilation_h) o.dilation_h = 1;
    if (!o.dilation_w) o.dilation_w = 1;
    if (o.bias_init == KN_INIT_GLOROT_UNIFORM) o.bias_init = KN_INIT_ZEROS; /* as dense: 0 means zeros */
    if (o.filters <= 0 || o.filters > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] conv2d: filters is %lld (must be in [1, 2^24])", i,
                         (long long)o.filters);
    int v[6] = {o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w};
    for (int k = 0; k < 6; k++)
        if (v[k] < 1 || v[k] > 255)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT,
                             "layers[%d] conv2d: kernel %dx%d, strides %dx%d, dilation %dx%d: each must be in [1, 255]",
                             i, o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w);
    if ((st = kn__model_check_init(m, "conv2d", o.activation, o.l2, o.kernel_init, o.bias_init, o.no_bias, o.init_value)))
        return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_image_input(m, "conv2d", in))) return st;
    kn__layer L = {.kind = KN__LAYER_CONV2D, .u.conv = o, .ndim = 3, .index = kn__model_count_kind(m, KN__LAYER_CONV2D)};
    if (!kn__model_out_dim(in[0], o.kernel_h, o.stride_h, o.dilation_h, o.same, &L.shape[0]) ||
        !kn__model_out_dim(in[1], o.kernel_w, o.stride_w, o.dilation_w, o.same, &L.shape[1]))
        return kn__error(m->ctx, KN_ERR_SHAPE,
                         "layers[%d] conv2d: kernel %dx%d (dilation %dx%d) is larger than its input (%lld, %lld, %lld) "
                         "under 'valid' padding", i, o.kernel_h, o.kernel_w, o.dilation_h, o.dilation_w,
                         (long long)in[0], (long long)in[1], (long long)in[2]);
    if ((int64_t)o.kernel_h * o.kernel_w * in[2] > (1LL << 24))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] conv2d: kernel %dx%d over %lld channels is too large", i,
                         o.kernel_h, o.kernel_w, (long long)in[2]);
    if (o.groups <= 1) o.groups = 1;
    if (o.groups > 4096 || in[2] % o.groups || o.filters % o.groups)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] conv2d: groups %d must divide both the input's %lld channels "
                         "and the %lld filters", i, o.groups, (long long)in[2], (long long)o.filters);
    L.u.conv.groups = o.groups;
    L.shape[2] = o.filters;
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_pool2d(kn_model *m, kn_pool_kind kind, int pool_h, int pool_w, int stride_h, int stride_w,
                              bool same) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = kind == KN_POOL_AVG ? "average_pool2d" : "max_pool2d";
    if (kind != KN_POOL_MAX && kind != KN_POOL_AVG)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] pool2d: unknown kind %d", m->n_layers, (int)kind);
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers;
    kn__pool_opts p = {pool_h, pool_w, stride_h ? stride_h : pool_h, stride_w ? stride_w : pool_w, same};
    int v[4] = {p.pool_h, p.pool_w, p.stride_h, p.stride_w};
    for (int k = 0; k < 4; k++)
        if (v[k] < 1 || v[k] > 255)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: pool %dx%d, strides %dx%d: each must be in [1, 255]",
                             i, type, p.pool_h, p.pool_w, p.stride_h, p.stride_w);
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_image_input(m, type, in))) return st;
    kn__layer L = {.kind = kind == KN_POOL_AVG ? KN__LAYER_AVG_POOL2D : KN__LAYER_MAX_POOL2D, .u.pool = p, .ndim = 3};
    if (!kn__model_out_dim(in[0], p.pool_h, p.stride_h, 1, same, &L.shape[0]) ||
        !kn__model_out_dim(in[1], p.pool_w, p.stride_w, 1, same, &L.shape[1]))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: pool %dx%d is larger than its input (%lld, %lld, %lld) under "
                         "'valid' padding", i, type, p.pool_h, p.pool_w, (long long)in[0], (long long)in[1], (long long)in[2]);
    L.shape[2] = in[2];
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_global_pool2d(kn_model *m, kn_pool_kind kind) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    if (kind != KN_POOL_MAX && kind != KN_POOL_AVG)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] global_pool2d: unknown kind %d", m->n_layers,
                         (int)kind);
    const char *type = kind == KN_POOL_AVG ? "global_average_pool2d" : "global_max_pool2d";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_image_input(m, type, in))) return st;
    if (in[0] > 255 || in[1] > 255)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: input %lldx%lld is larger than 255x255", m->n_layers, type,
                         (long long)in[0], (long long)in[1]);
    kn__layer L = {.kind = kind == KN_POOL_AVG ? KN__LAYER_GLOBAL_AVG_POOL2D : KN__LAYER_GLOBAL_MAX_POOL2D,
                   .shape = {in[2]}, .ndim = 1};
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_global_avg_pool2d(kn_model *m) { return kn_model_add_global_pool2d(m, KN_POOL_AVG); }

kn_status kn_model_add_flatten(kn_model *m) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "flatten");
    if (st) return st;
    int64_t in[KN_MAX_DIMS], f;
    kn__model_layer_input(m, m->n_layers, in, &f);
    kn__layer L = {.kind = KN__LAYER_FLATTEN, .shape = {f}, .ndim = 1};
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_reshape(kn_model *m, const int64_t *shape, int ndim) {
    if (!m || (!shape && ndim)) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "reshape");
    if (st) return st;
    int i = m->n_layers;
    if (ndim < 1 || ndim > KN_MAX_DIMS) /* (4: a volume's, viewed as model_volume.c's layers read it) */
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] reshape: target_shape has %d dimensions (1 to %d allowed)", i,
                         ndim, KN_MAX_DIMS);
    int64_t in[KN_MAX_DIMS], f, n = 1;
    kn__model_layer_input(m, i, in, &f);
    kn__layer L = {.kind = KN__LAYER_RESHAPE, .ndim = ndim};
    int unknown = -1; /* Keras's -1: the size the others leave */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == -1 && unknown < 0) {
            unknown = d;
            continue;
        }
        if (shape[d] < 1 || shape[d] > (1LL << 31))
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] reshape: target_shape[%d] is %lld (must be positive, or "
                             "one -1)", i, d, (long long)shape[d]);
        n *= shape[d];
        if (n > (1LL << 40)) break;
        L.shape[d] = shape[d];
    }
    if (unknown >= 0) {
        if (n > f || f % n != 0)
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] reshape: target_shape's other sizes (%lld values) do not "
                             "divide its input's %lld", i, (long long)n, (long long)f);
        L.shape[unknown] = f / n;
        n = f;
    }
    if (n != f)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] reshape: target_shape has %lld values, its input %lld", i,
                         (long long)n, (long long)f);
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_unit_norm(kn_model *m) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "unit_normalization");
    if (st) return st;
    kn__layer L = {.kind = KN__LAYER_UNIT_NORM};
    L.ndim = kn__model_layer_input(m, m->n_layers, L.shape, NULL);
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_masking(kn_model *m, float mask_value) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "masking");
    if (st) return st;
    if (!isfinite(mask_value))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] masking: mask_value %g must be a finite number",
                         m->n_layers, (double)mask_value);
    int64_t in[KN_MAX_DIMS];
    if ((st = kn__model_sequence_input(m, "masking", in))) return st;
    kn__layer L = {.kind = KN__LAYER_MASKING, .u.mask_value = mask_value, .ndim = 2, .shape = {in[0], in[1]}};
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_activation(kn_model *m, kn_activation activation) {
    return kn_model_add_activation_alpha(m, activation, 0.0f);
}

kn_status kn_model_add_activation_alpha(kn_model *m, kn_activation activation, float alpha) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "activation");
    if (st) return st;
    if ((unsigned)activation >= KN_ACTIVATION_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] activation: unknown activation %d", m->n_layers,
                         (int)activation);
    if (!(alpha >= 0.0f && alpha <= 1e6f))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] activation: alpha %g outside [0, 1e6]",
                         m->n_layers, (double)alpha);
    kn__layer L = {.kind = KN__LAYER_ACTIVATION, .u.activation = {activation, alpha}};
    L.ndim = kn__model_layer_input(m, m->n_layers, L.shape, NULL);
    return kn__model_push_layer(m, &L);
}

static kn_status add_dropout(kn_model *m, float rate, bool spatial) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    const char *type = spatial ? "spatial_dropout" : "dropout";
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    if (!(rate >= 0.0f && rate < 1.0f))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: rate %g outside [0, 1)", m->n_layers, type,
                         (double)rate);
    kn__layer L = {.kind = KN__LAYER_DROPOUT, .u.dropout = {rate, spatial}};
    L.ndim = kn__model_layer_input(m, m->n_layers, L.shape, NULL);
    if (spatial && (L.ndim < 2 || L.ndim > 4))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] spatial_dropout: needs (steps, channels), (height, width, "
                         "channels) or (depth, height, width, channels) inputs, got %d dimension%s", m->n_layers,
                         L.ndim, L.ndim == 1 ? "" : "s");
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_permute(kn_model *m, const int *dims, int n) {
    if (!m || (!dims && n)) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "permute");
    if (st) return st;
    int i = m->n_layers;
    kn__layer L = {.kind = KN__LAYER_PERMUTE};
    int64_t in[KN_MAX_DIMS];
    int rank = kn__model_layer_input(m, i, in, NULL);
    bool seen[KN_MAX_DIMS] = {false}, ok = n == rank && n >= 1 && n <= KN_MAX_DIMS - 1;
    for (int k = 0; ok && k < n; k++) {
        ok = dims[k] >= 1 && dims[k] <= n && !seen[dims[k] - 1];
        if (ok) seen[dims[k] - 1] = true;
    }
    if (!ok)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] permute: dims must reorder the input's %d axes, each of 1 .. %d "
                         "once (Keras's Permute; the batch is not one)", i, rank, rank);
    L.ndim = n;
    for (int k = 0; k < n; k++) {
        L.u.permute[k] = dims[k] - 1;
        L.shape[k] = in[dims[k] - 1];
    }
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_repeat_vector(kn_model *m, int n) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "repeat_vector");
    if (st) return st;
    int i = m->n_layers;
    int64_t in[KN_MAX_DIMS];
    int rank = kn__model_layer_input(m, i, in, NULL);
    if (n < 1 || n > 65536)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] repeat_vector: n %d is out of range [1, 65536]", i, n);
    if (rank != 1)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] repeat_vector: takes features (batch, n), its input has %d axes "
                         "after the batch (flatten it first)", i, rank);
    kn__layer L = {.kind = KN__LAYER_REPEAT_VECTOR, .u.repeat = n, .ndim = 2, .shape = {n, in[0]}};
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_rescaling(kn_model *m, float scale, float offset) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "rescaling");
    if (st) return st;
    if (!isfinite(scale) || !isfinite(offset))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] rescaling: scale %g, offset %g (must be finite)",
                         m->n_layers, (double)scale, (double)offset);
    kn__layer L = {.kind = KN__LAYER_RESCALING, .u.rescaling = {scale, offset}};
    L.ndim = kn__model_layer_input(m, m->n_layers, L.shape, NULL);
    return kn__model_push_layer(m, &L);
}

kn_status kn_model_add_dropout(kn_model *m, float rate) { return add_dropout(m, rate, false); }

/* Keras's GaussianNoise(stddev), GaussianDropout(rate), AlphaDropout(rate): dropout layers
 * drawing noise instead (the identity outside training). */
static kn_status add_noise(kn_model *m, kn__noise_kind kind, float value) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    static const char *const types[] = {"", "gaussian_noise", "gaussian_dropout", "alpha_dropout"};
    kn_status st = kn__model_can_add(m, types[kind]);
    if (st) return st;
    bool ok = kind == KN__NOISE_GAUSSIAN ? value >= 0.0f && isfinite(value) : value >= 0.0f && value < 1.0f;
    if (!ok)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: %s %g (must be %s)", m->n_layers, types[kind],
                         kind == KN__NOISE_GAUSSIAN ? "stddev" : "rate", (double)value,
                         kind == KN__NOISE_GAUSSIAN ? "finite and >= 0" : "in [0, 1)");
    kn__layer L = {.kind = KN__LAYER_DROPOUT, .u.dropout = {value, false, kind}};
    L.ndim = kn__model_layer_input(m, m->n_layers, L.shape, NULL);
    return kn__model_push_layer(m, &L);
}
kn_status kn_model_add_gaussian_noise(kn_model *m, float stddev) { return add_noise(m, KN__NOISE_GAUSSIAN, stddev); }
kn_status kn_model_add_gaussian_dropout(kn_model *m, float rate) {
    return add_noise(m, KN__NOISE_GAUSSIAN_DROPOUT, rate);
}
kn_status kn_model_add_alpha_dropout(kn_model *m, float rate) { return add_noise(m, KN__NOISE_ALPHA_DROPOUT, rate); }
kn_status kn_model_add_spatial_dropout(kn_model *m, float rate) { return add_dropout(m, rate, true); }

/* A normalization layer of the given type may be added now, with this epsilon. */
static kn_status can_add_norm(kn_model *m, const char *type, float epsilon) {
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    if (!(epsilon > 0.0f && isfinite(epsilon)))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] %s: epsilon %g must be positive", m->n_layers, type,
                         (double)epsilon);
    return KN_OK;
}

/* Appends normalization layer L (kind, options) with its index among its kind; its
 * output has its input's shape. */
static kn_status push_norm(kn_model *m, kn__layer *L) {
    L->index = kn__model_count_kind(m, L->kind);
    L->ndim = kn__model_layer_input(m, m->n_layers, L->shape, NULL);
    return kn__model_push_layer(m, L);
}

kn_status kn_model_add_batch_norm(kn_model *m, float momentum, float epsilon) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = can_add_norm(m, "batch_normalization", epsilon);
    if (st) return st;
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] batch_normalization: momentum %g outside [0, 1]",
                         m->n_layers, (double)momentum);
    return push_norm(m, &(kn__layer){.kind = KN__LAYER_BATCH_NORM, .u.bn = {momentum, epsilon}});
}

kn_status kn_model_add_layer_norm(kn_model *m, float epsilon, bool center, bool scale) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = can_add_norm(m, "layer_normalization", epsilon);
    if (st) return st;
    return push_norm(m, &(kn__layer){.kind = KN__LAYER_LAYER_NORM, .u.ln = {epsilon, center, scale, 0}});
}

kn_status kn_model_add_group_norm(kn_model *m, int groups, float epsilon, bool center, bool scale) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = can_add_norm(m, "group_normalization", epsilon);
    if (st) return st;
    int64_t in[KN_MAX_DIMS];
    int nd = kn__model_layer_input(m, m->n_layers, in, NULL);
    int64_t c = in[nd - 1];
    if (groups != -1 && (groups < 1 || c % groups != 0)) /* (-1: one a channel, Keras's groups=-1) */
        return kn__error(m->ctx, KN_ERR_SHAPE,
                         "layers[%d] group_normalization: groups %d must divide the input's %lld channels (or be -1, "
                         "one a channel)", m->n_layers, groups, (long long)c);
    return push_norm(m, &(kn__layer){.kind = KN__LAYER_GROUP_NORM, .u.ln = {epsilon, center, scale, groups}});
}

/* The per-channel parameters of layer i when it is a normalization, in graph order: their
 * count (0 for other layers), names and initializers, and their length, the channels
 * (the input's last dimension). Batch normalization's gamma, beta, moving_mean and
 * moving_variance; layer normalization's gamma (scale) and beta (center). */
static int norm_params(const kn_model *m, int i, const char *names[4], kn_init inits[4], int64_t *channels) {
    static const char *const bn_names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    static const kn_init bn_inits[4] = {KN_INIT_ONES, KN_INIT_ZEROS, KN_INIT_ZEROS, KN_INIT_ONES};
    const kn__layer *L = &m->layers[i];
    int n = 0;
    if (L->kind == KN__LAYER_BATCH_NORM) {
        for (; n < 4; n++) names[n] = bn_names[n], inits[n] = bn_inits[n];
    } else if (L->kind == KN__LAYER_LAYER_NORM || L->kind == KN__LAYER_GROUP_NORM) {
        if (L->u.ln.scale) names[n] = "gamma", inits[n++] = KN_INIT_ONES;
        if (L->u.ln.center) names[n] = "beta", inits[n++] = KN_INIT_ZEROS;
    }
    int64_t in[KN_MAX_DIMS];
    *channels = n ? in[kn__model_layer_input(m, i, in, NULL) - 1] : 0;
    return n;
}

/* The activation of layer L, or NULL when it has none. */
static kn_activation *layer_activation(kn__layer *L) {
    switch (L->kind) {
    case KN__LAYER_DENSE: return &L->u.dense.activation;
    case KN__LAYER_DEPTHWISE:
    case KN__LAYER_DEPTHWISE1D: return &L->u.depthwise.activation;
    case KN__LAYER_CONV_TRANSPOSE:
    case KN__LAYER_CONV1D_TRANSPOSE: return &L->u.conv_transpose.activation;
    case KN__LAYER_CONV2D: return &L->u.conv.activation;
    case KN__LAYER_CONV1D: return &L->u.conv1d.activation;
    case KN__LAYER_CONV3D: return &L->u.conv3d.activation;
    case KN__LAYER_CONV3D_TRANSPOSE: return &L->u.conv3d_transpose.activation;
    case KN__LAYER_ACTIVATION: return &L->u.activation.act;
    default: return NULL;
    }
}

/* Floats of layer i's kernel and bias (0 for layers without). */
static void layer_param_sizes(const kn_model *m, int i, int64_t kshape[2], int64_t *bias) {
    const kn__layer *L = &m->layers[i];
    int64_t in[KN_MAX_DIMS], f;
    int ndim = kn__model_layer_input(m, i, in, &f);
    kshape[0] = kshape[1] = 0;
    *bias = 0;
    if (L->kind == KN__LAYER_DENSE) {
        kshape[0] = L->per_step ? in[ndim - 1] : f;
        kshape[1] = L->u.dense.units;
        *bias = L->u.dense.no_bias ? 0 : L->u.dense.units;
    } else if (L->kind == KN__LAYER_CONV2D && ndim == 3) {
        kshape[0] = (int64_t)L->u.conv.kernel_h * L->u.conv.kernel_w * in[2] / (L->u.conv.groups > 1 ? L->u.conv.groups : 1);
        kshape[1] = L->u.conv.filters;
        *bias = L->u.conv.no_bias ? 0 : L->u.conv.filters;
    } else if (L->kind == KN__LAYER_CONV1D && ndim == 2) {
        kshape[0] = (int64_t)L->u.conv1d.kernel_size * in[1] / (L->u.conv1d.groups > 1 ? L->u.conv1d.groups : 1);
        kshape[1] = L->u.conv1d.filters;
        *bias = L->u.conv1d.no_bias ? 0 : L->u.conv1d.filters;
    } else if (L->kind == KN__LAYER_EMBEDDING) { /* its table, named "embeddings" (kn__model_param_specs) */
        kshape[0] = L->u.embedding.input_dim;
        kshape[1] = L->u.embedding.output_dim;
    } else if (L->kind == KN__LAYER_POSITION_EMBEDDING) { /* (steps, channels), named "embeddings" too */
        kshape[0] = L->shape[0];
        kshape[1] = L->shape[1];
    }
}

kn_status kn_model_add_dense(kn_model *m, int64_t units, kn_activation activation) {
    return kn_model_add_dense_ex(m, &(kn_dense_opts){.units = units, .activation = activation});
}

bool kn_model_checkpoint_run(const kn_model *m, int64_t *batch_size, double *validation_split) {
    if (!m || !m->pos.valid) return false;
    if (batch_size) *batch_size = m->pos.batch_size;
    if (validation_split) *validation_split = m->pos.validation_split;
    return true;
}

bool kn_model_checkpoint_augment(const kn_model *m, kn_augment *augment) {
    if (!m || !m->pos.valid) return false;
    if (augment) *augment = m->pos.augment;
    return true;
}

bool kn_model_checkpoint_schedule(const kn_model *m, kn_schedule *schedule) {
    if (!m || !m->pos.valid || !m->pos.has_schedule) return false;
    if (schedule) *schedule = m->pos.schedule;
    return true;
}

bool kn_model_checkpoint_position(const kn_model *m, int *epoch, int64_t *batch, int *epochs) {
    if (!m || !m->pos.valid) return false;
    if (epoch) *epoch = m->pos.epoch;
    if (batch) *batch = m->pos.batch;
    if (epochs) *epochs = m->pos.epochs;
    return true;
}

void kn__model_set_last_activation(kn_model *m, kn_activation a) {
    kn_activation *act = m->n_layers ? layer_activation(&m->layers[m->n_layers - 1]) : NULL;
    if (act) *act = a;
}

int64_t kn_model_output_size(const kn_model *m) {
    if (m->classic) return m->c_outputs;
    return m->n_layers ? m->layers[m->n_layers - 1].features : m->in_features;
}
int64_t kn_model_input_size(const kn_model *m) { return m->in_features; }

kn_ctx *kn_model_ctx(const kn_model *m) { return m ? m->ctx : NULL; }

const char *kn_model_type(const kn_model *m) { return m && m->classic ? m->classic->name : "sequential"; }

int64_t kn_model_param_count(const kn_model *m) {
    if (m->classic) return kn__classic_param_count(m);
    int64_t n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        int64_t k[2], b;
        layer_param_sizes(m, i, k, &b);
        const char *names[4];
        kn_init inits[4];
        int64_t ch;
        n += k[0] * k[1] + b + norm_params(m, i, names, inits, &ch) * ch;
        kn__rnn_param rp[KN__LAYER_MAX_PARAMS];
        for (int r = 0, nr = kn__layer_params(m, i, rp); r < nr; r++) n += kn__layer_param_numel(&rp[r]);
    }
    return n;
}

kn_status kn_model_compile(kn_model *m, const kn_compile_opts *opts) {
    if (!m || !opts) return KN_ERR_INVALID_ARGUMENT;
    if (m->classic) return KN_OK; /* its description is its whole configuration */
    if (m->n_layers == 0) return kn__error(m->ctx, KN_ERR_STATE, "compile: the model has no layers");
    kn_status ust = kn__model_check_used(m, KN_ERR_INVALID_ARGUMENT); /* a branch that goes nowhere */
    if (ust) return ust;
    if ((unsigned)opts->loss >= KN_LOSS_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "compile: unknown loss %d", (int)opts->loss);
    if ((unsigned)opts->optimizer.kind >= KN_OPT_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "compile: unknown optimizer %d", (int)opts->optimizer.kind);
    if (!(opts->optimizer.learning_rate > 0) || !isfinite(opts->optimizer.learning_rate))
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "compile: learning_rate %g must be positive",
                         (double)opts->optimizer.learning_rate);
    if (opts->optimizer.amsgrad && opts->optimizer.kind != KN_OPT_ADAM && opts->optimizer.kind != KN_OPT_ADAMW)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "compile: amsgrad applies to adam and adamw, not %s",
                         kn_optimizer_name(opts->optimizer.kind));
    kn_status pst = kn__compile_check_precision(m->ctx, opts); /* precision, loss scaling */
    if (pst) return pst;
    if (m->layers[m->n_layers - 1].per_step)
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: the last layer is time_distributed, which gives an output per "
                         "step; kiln's losses take one row a sample (pool or flatten, then a dense layer)");
    kn_activation *lastp = layer_activation(&m->layers[m->n_layers - 1]);
    kn_activation last = lastp ? *lastp : KN_LINEAR;
    int64_t outputs = kn_model_output_size(m);
    if (opts->from_logits && !kn__loss_is_cross_entropy(opts->loss))
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: from_logits applies to the cross-entropy losses, not %s",
                         kn_loss_name(opts->loss));
    if (!(opts->label_smoothing >= 0 && opts->label_smoothing <= 1))
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: label_smoothing must be in [0, 1], got %g",
                         (double)opts->label_smoothing);
    if (opts->label_smoothing > 0 && !kn__loss_is_cross_entropy(opts->loss))
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: label_smoothing applies to the cross-entropy losses, not %s",
                         kn_loss_name(opts->loss));
    if ((opts->focal_gamma != 0 || opts->focal_alpha != 0 || opts->apply_class_balancing) && !kn__loss_is_focal(opts->loss))
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: focal_gamma, focal_alpha and apply_class_balancing apply to the "
                         "focal losses, not %s", kn_loss_name(opts->loss));
    if (!(opts->focal_gamma >= 0 && opts->focal_gamma <= 1000))
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: focal_gamma must be in [0, 1000], got %g", (double)opts->focal_gamma);
    if (!(opts->focal_alpha >= 0 && opts->focal_alpha <= 1))
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: focal_alpha must be in [0, 1], got %g", (double)opts->focal_alpha);
    if (opts->huber_delta != 0 && opts->loss != KN_LOSS_HUBER)
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: huber_delta applies to the huber loss, not %s",
                         kn_loss_name(opts->loss));
    if (!(opts->huber_delta >= 0 && opts->huber_delta <= 1e6f))
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: huber_delta must be in (0, 1e6], got %g", (double)opts->huber_delta);
    if ((opts->loss == KN_LOSS_BINARY_CROSSENTROPY || opts->loss == KN_LOSS_BINARY_FOCAL_CROSSENTROPY) &&
        !opts->from_logits && last == KN_SOFTMAX && outputs == 1)
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: softmax over one output is always 1; use sigmoid");
    if ((opts->loss == KN_LOSS_COSINE_SIMILARITY || opts->loss == KN_LOSS_CATEGORICAL_HINGE) && outputs < 2)
        return kn__error(m->ctx, KN_ERR_SPEC, "compile: %s compares rows of outputs, but the last layer has %lld unit",
                         kn_loss_name(opts->loss), (long long)outputs);
    m->copts = *opts;
    m->loss_scale = 0; /* a new optimizer: fp16's loss scaler starts afresh too */
    m->loss_scale_good = 0;
    /* A softmax (sigmoid) head under a cross-entropy loss is trained from its logits, as
     * Keras does (exact, and stable): the graph optimizer's fuse pass does it. */
    /* The graph is rebuilt on next use; trained parameters carry over (as in Keras),
     * optimizer state starts afresh. */
    m->graph_stale = m->graph != NULL;
    m->compiled = true;
    return KN_OK;
}

/* h viewed as (batch, shape...) unless it is that already: a reshape or flatten layer is
 * a view made where a layer needs it, and a layer's output may be another view of the
 * shape it declares (a sequence layer's (batch, 1, steps, channels)). */
kn_tensor *kn__model_view_as(kn_graph *g, kn_tensor *h, const int64_t *shape, int ndim) {
    if (!h) return NULL;
    if (ndim == 4) /* a volume (D, H, W, C): as (batch, D H, W, C), the graph's tensors having at most 4 axes */
        return kn__model_view_as(g, h, (int64_t[]){shape[0] * shape[1], shape[2], shape[3]}, 3);
    bool same = h->ndim == ndim + 1;
    for (int d = 0; same && d < ndim; d++) same = h->shape[d + 1] == shape[d];
    if (same) return h;
    int64_t s[KN_MAX_DIMS + 1] = {-1}; /* (a 4-D sample shape: refused by kn_reshape, not written past) */
    memcpy(s + 1, shape, (size_t)ndim * sizeof *shape);
    return kn_reshape(g, h, s, ndim + 1);
}

int kn__model_make_params(kn_model *m, kn_graph *g, int i, float init_value, kn_tensor *p[KN__LAYER_MAX_PARAMS]) {
    const kn__layer *L = &m->layers[i];
    kn__rnn_param ps[KN__LAYER_MAX_PARAMS];
    int np = kn__layer_params(m, i, ps);
    for (int k = 0; k < np; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s_%d/%s", kn__layer_type(L), L->index, ps[k].what);
        p[k] = kn_param(g, ps[k].shape, ps[k].ndim, ps[k].init, name);
        if (!p[k]) return -1;
        p[k]->init_value = init_value;
        p[k]->init_ones_at = ps[k].ones_at;
        p[k]->init_ones_len = ps[k].ones_len;
    }
    return np;
}

/* Layer L's parameter "<type>_<index>/<what>" (dense_0/kernel): its initializer's value
 * (Constant's) and, for a convolution kernel flattened to (KH*KW*C, F), its receptive field
 * rf (0: not a convolution), which its fans are computed from as Keras's. */
static kn_tensor *layer_param(kn_graph *g, const kn__layer *L, const char *what, const int64_t *shape, int ndim,
                              kn_init init, float init_value, int64_t rf) {
    char name[64];
    snprintf(name, sizeof name, "%s_%d/%s", kn__layer_type(L), L->index, what);
    kn_tensor *p = kn_param(g, shape, ndim, init, name);
    if (p) p->init_value = init_value;
    if (p && rf) p->init_rf = rf;
    return p;
}

/* h plus layer L's bias of n values (L->bias). */
static kn_tensor *add_bias(kn_graph *g, kn__layer *L, kn_tensor *h, int64_t n, kn_init init, float init_value) {
    L->bias = layer_param(g, L, "bias", (int64_t[]){n}, 1, init, init_value, 0);
    return kn_add(g, h, L->bias);
}

/* Layer i's mask (it is masked): its embedding's, from the input's indices; else its
 * inputs' (a merge: what its masked inputs keep in common). */
static kn_tensor *layer_mask(kn_model *m, kn_graph *g, int i, kn_tensor *const *masks) {
    const kn__layer *L = &m->layers[i];
    if (L->kind == KN__LAYER_EMBEDDING) return kn__mask_nonzero(g, m->x);
    kn_tensor *mask = NULL;
    for (int k = 0; k < (L->kind == KN__LAYER_MERGE ? L->n_inputs : 1); k++)
        mask = kn__mask_and(g, mask, L->inputs[k] >= 0 ? masks[L->inputs[k]] : NULL);
    return mask;
}

/* Builds the graph: x -> dense layers -> out [-> head] ; loss(out, y) + l2 ; and when
 * training, backward and the update. */
kn_status kn__model_build_graph(kn_model *m, kn_graph **out_graph, bool training) {
    /* on the ctx's device (kn_graph_new); the model layer pulls and pushes the flat buffers
     * around its host reads and writes (kn__model_pull, kn__model_push; docs/cuda.md) */
    kn_graph *g;
    kn_status st = kn_graph_new(m->ctx, &g);
    if (st) return st;
    kn_graph_set_passes(g, m->passes);
    /* mixed precision stores a training graph's activations half (graph/passes/precision.c);
     * inference graphs stay f32: at inference half storage saves little and costs time
     * (the reference MLP's single-sample predict 2.9 -> 4.3 us) */
    g->precision = training ? m->copts.precision : KN_PRECISION_FP32;
    g->quant = training ? KN_QUANT_NONE : m->quant; /* int8 inference (kn_model_set_quantization) */
    g->half_inputs = true; /* batches go in through kn__tensor_store_f32 */
    bool sparse = m->copts.loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    int64_t outputs = kn_model_output_size(m);
    m->x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, m->in_features}, 2, "x");
    m->y = sparse ? kn_input(g, KN_I32, (int64_t[]){KN_BATCH}, 1, "labels")
                  : kn_input(g, KN_F32, (int64_t[]){KN_BATCH, outputs}, 2, "targets");
    kn_tensor *h = m->x, *reg = NULL;
    /* each layer's output, for the layers that take it (a sequential model's layer i takes
     * layer i-1's, so h carries on as before) */
    kn_tensor *outs[KN__MAX_LAYERS] = {NULL};
    /* each masked layer's mask (batch, steps) (kn__layer.masked), made once from the input
     * by its embedding and passed on as Keras does */
    kn_tensor *masks[KN__MAX_LAYERS] = {NULL};
    if (m->n_layers > KN__MAX_LAYERS) {
        kn_graph_free(g);
        return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "model: more than %d layers", KN__MAX_LAYERS);
    }
    for (int i = 0; i < m->n_layers; i++) {
        kn__layer *L = &m->layers[i];
        int64_t in[KN_MAX_DIMS], f;
        kn__model_layer_input(m, i, in, &f);
        h = L->inputs[0] >= 0 ? outs[L->inputs[0]] : m->x;
        char name[64];
        L->kernel = L->bias = NULL;
        kn_activation act = KN_LINEAR;
        float alpha = 0, l2 = 0;
        int64_t per_step_rows = 0; /* a time_distributed layer's batch (KN_BATCH or a size) */
        kn_tensor *made_mask = NULL;  /* a masking layer's own mask */
        switch (L->kind) {
        case KN__LAYER_DENSE: {
            const kn_dense_opts *o = &L->u.dense;
            int64_t kin = f;
            if (L->per_step && h) { /* every step a row: (N, steps..., C) -> (N * steps, C) */
                kin = in[L->ndim - 1];
                h = kn__model_view_as(g, h, in, L->ndim);
                per_step_rows = h ? h->shape[0] : 0;
                bool batched = per_step_rows == KN_BATCH;
                h = kn__reshape_rows(g, h, (int64_t[]){batched ? KN_BATCH : per_step_rows * (f / kin), kin}, 2,
                                     batched ? f / kin : 0);
            } else if (h && h->ndim != 2) {
                h = kn_reshape(g, h, (int64_t[]){-1, f}, 2); /* Dense flattens its input */
            }
            L->kernel = layer_param(g, L, "kernel", (int64_t[]){kin, o->units}, 2, o->kernel_init, o->init_value, 0);
            h = kn_matmul(g, h, L->kernel); /* (batch, in) x (in, units) -> (batch, units) */
            if (!o->no_bias) h = add_bias(g, L, h, o->units, o->bias_init, o->init_value);
            act = o->activation;
            alpha = o->alpha;
            l2 = o->l2;
            break;
        }
        case KN__LAYER_CONV2D: {
            const kn_conv2d_opts *o = &L->u.conv;
            h = kn__model_view_as(g, h, in, 3);
            int64_t rf = (int64_t)o->kernel_h * o->kernel_w, G = o->groups > 1 ? o->groups : 1;
            L->kernel = layer_param(g, L, "kernel", (int64_t[]){rf * in[2] / G, o->filters}, 2, o->kernel_init,
                                    o->init_value, rf);
            h = kn_grouped_conv2d(g, h, L->kernel, o->kernel_h, o->kernel_w, o->stride_h, o->stride_w, o->dilation_h,
                                  o->dilation_w, o->same, (int)G);
            if (!o->no_bias) h = add_bias(g, L, h, o->filters, o->bias_init, o->init_value);
            act = o->activation;
            alpha = o->alpha;
            l2 = o->l2;
            break;
        }
        case KN__LAYER_MAX_POOL2D:
        case KN__LAYER_AVG_POOL2D: {
            const kn__pool_opts *p = &L->u.pool;
            h = kn__model_view_as(g, h, in, 3);
            h = L->kind == KN__LAYER_MAX_POOL2D ? kn_max_pool2d(g, h, p->pool_h, p->pool_w, p->stride_h, p->stride_w, p->same)
                                                : kn_avg_pool2d(g, h, p->pool_h, p->pool_w, p->stride_h, p->stride_w, p->same);
            break;
        }
        case KN__LAYER_GLOBAL_AVG_POOL2D:
        case KN__LAYER_GLOBAL_MAX_POOL2D:
            h = kn__model_view_as(g, h, in, 3);
            h = L->kind == KN__LAYER_GLOBAL_MAX_POOL2D ? kn_global_max_pool2d(g, h) : kn_global_avg_pool2d(g, h);
            break;
        /* Sequence layers run on the (batch, 1, steps, channels) view of their input with
         * 1 x K windows, and leave their output in it: the next sequence layer needs no
         * reshape, and a bias, activation or batch norm after a convolution meets it as
         * after conv2d (the fuse and fold passes' patterns). */
        case KN__LAYER_CONV1D: {
            const kn_conv1d_opts *o = &L->u.conv1d;
            h = kn__model_view_as(g, h, (int64_t[]){1, in[0], in[1]}, 3);
            int G = o->groups > 1 ? o->groups : 1; /* Keras's (K, C / G, F) kernel */
            L->kernel = layer_param(g, L, "kernel", (int64_t[]){(int64_t)o->kernel_size * in[1] / G, o->filters}, 2,
                                    o->kernel_init, o->init_value, o->kernel_size);
            h = kn__conv2d_padded(g, h, L->kernel, 1, o->kernel_size, 1, o->stride, 1, o->dilation, o->padding, G);
            if (!o->no_bias) h = add_bias(g, L, h, o->filters, o->bias_init, o->init_value);
            act = o->activation;
            alpha = o->alpha;
            l2 = o->l2;
            break;
        }
        case KN__LAYER_MAX_POOL1D:
        case KN__LAYER_AVG_POOL1D: {
            const kn__pool_opts *p = &L->u.pool;
            h = kn__model_view_as(g, h, (int64_t[]){1, in[0], in[1]}, 3);
            h = L->kind == KN__LAYER_MAX_POOL1D ? kn_max_pool2d(g, h, 1, p->pool_w, 1, p->stride_w, p->same)
                                                : kn_avg_pool2d(g, h, 1, p->pool_w, 1, p->stride_w, p->same);
            break;
        }
        case KN__LAYER_GLOBAL_AVG_POOL1D:
        case KN__LAYER_GLOBAL_MAX_POOL1D:
            if (L->kind == KN__LAYER_GLOBAL_AVG_POOL1D && L->inputs[0] >= 0 && masks[L->inputs[0]]) {
                h = kn_masked_mean(g, kn__model_view_as(g, h, in, 2), masks[L->inputs[0]]); /* the kept steps' mean */
                break;
            }
            h = kn__model_view_as(g, h, (int64_t[]){1, in[0], in[1]}, 3);
            h = kn__global_pool_steps(g, h, L->kind == KN__LAYER_GLOBAL_MAX_POOL1D);
            break;
        case KN__LAYER_ACTIVATION: act = L->u.activation.act, alpha = L->u.activation.alpha; break;
        case KN__LAYER_DROPOUT: /* the identity unless training */
            if (L->u.dropout.noise == KN__NOISE_GAUSSIAN)
                h = kn_gaussian_noise(g, h, L->u.dropout.rate);
            else if (L->u.dropout.noise == KN__NOISE_GAUSSIAN_DROPOUT)
                h = kn_gaussian_dropout(g, h, L->u.dropout.rate);
            else if (L->u.dropout.noise == KN__NOISE_ALPHA_DROPOUT)
                h = kn_alpha_dropout(g, h, L->u.dropout.rate);
            else if (L->u.dropout.spatial)
                h = kn_spatial_dropout(g, kn__model_view_as(g, h, L->shape, L->ndim), L->u.dropout.rate);
            else
                h = kn_dropout(g, h, L->u.dropout.rate);
            break;
        case KN__LAYER_BATCH_NORM:
        case KN__LAYER_LAYER_NORM:
        case KN__LAYER_GROUP_NORM: {
            int nd = kn__model_layer_input(m, i, in, &f);
            /* per channel, the last axis: any view whose last axis is the channels holds each
             * element at the same channel (row-major), so only another last axis (a flatten's,
             * a reshape's) takes a view of the layer's input shape; a convolution's output
             * stays as it is, so the fold pass finds it (a sequence's (batch, 1, steps, C)) */
            if (h && h->shape[h->ndim - 1] != in[nd - 1]) h = kn__model_view_as(g, h, in, nd);
            const char *names[4];
            kn_init inits[4];
            int64_t ch;
            kn_tensor *p[4] = {NULL};
            int np = norm_params(m, i, names, inits, &ch);
            for (int k = 0; k < np; k++) {
                snprintf(name, sizeof name, "%s_%d/%s", kn__layer_type(L), L->index, names[k]);
                p[k] = kn_param(g, (int64_t[]){ch}, 1, inits[k], name);
            }
            /* (layer and group normalization: gamma when it scales, then beta) */
            bool sc = L->kind != KN__LAYER_BATCH_NORM && L->u.ln.scale;
            if (L->kind == KN__LAYER_BATCH_NORM)
                h = kn_batch_norm(g, h, p[0], p[1], p[2], p[3], L->u.bn.momentum, L->u.bn.epsilon);
            else if (L->kind == KN__LAYER_LAYER_NORM)
                h = kn_layer_norm(g, h, sc ? p[0] : NULL, L->u.ln.center ? p[sc] : NULL, L->u.ln.epsilon);
            else /* (any view of a sample, batch first, holds its positions in the same order) */
                h = kn_group_norm(g, h, sc ? p[0] : NULL, L->u.ln.center ? p[sc] : NULL,
                                  L->u.ln.groups > 0 ? L->u.ln.groups : (int)in[nd - 1], L->u.ln.epsilon);
            break;
        }
        case KN__LAYER_FLATTEN:
        case KN__LAYER_RESHAPE: break; /* a view, made where a layer needs it */
        case KN__LAYER_MERGE: h = kn__model_merge(m, g, i, outs); break;
        case KN__LAYER_RNN: h = kn__model_rnn(m, g, i, h, L->inputs[0] >= 0 ? masks[L->inputs[0]] : NULL, &reg); break;
        case KN__LAYER_EMBEDDING: /* (batch, features) indices -> (batch, features, output_dim) */
            h = kn__model_embedding(m, g, i);
            l2 = L->u.embedding.l2;
            break;
        case KN__LAYER_ATTENTION: h = kn__model_attention(m, g, i, outs, masks, &reg); break;
        case KN__LAYER_DOT_ATTENTION: h = kn__model_dot_attention(m, g, i, outs, masks); break;
        case KN__LAYER_DOT: h = kn__model_dot(m, g, i, outs); break;
        case KN__LAYER_UNIT_NORM: /* each row of the last axis (a flatten's view keeps it) over its norm */
            if (h && h->shape[h->ndim - 1] != in[L->ndim - 1]) h = kn__model_view_as(g, h, in, L->ndim);
            h = kn_unit_norm(g, h, 1e-12f);
            break;
        case KN__LAYER_MASKING: { /* the mask of the steps not all mask_value, and those steps zeroed */
            h = kn__model_view_as(g, h, in, 2);
            made_mask = kn__mask_values(g, h, L->u.mask_value);
            h = kn_mul(g, h, kn__model_view_as(g, made_mask, (int64_t[]){in[0], 1}, 2));
            break;
        }
        case KN__LAYER_POSITION_EMBEDDING: h = kn__model_position_embedding(m, g, i, h); break;
        case KN__LAYER_PRELU: h = kn__model_prelu(m, g, i, h); break;
        case KN__LAYER_DEPTHWISE:
        case KN__LAYER_DEPTHWISE1D:
            h = kn__model_depthwise(m, g, i, h, &reg);
            act = L->u.depthwise.activation;
            alpha = L->u.depthwise.alpha;
            break;
        case KN__LAYER_PAD:
        case KN__LAYER_UPSAMPLE:
        case KN__LAYER_RESIZE: h = kn__model_resize(m, g, i, h); break;
        case KN__LAYER_RANDOM_IMAGE: h = kn__model_random_image(m, g, i, h); break;
        case KN__LAYER_CONV3D:
            h = kn__model_volume(m, g, i, h, &reg);
            act = L->u.conv3d.activation;
            alpha = L->u.conv3d.alpha;
            break;
        case KN__LAYER_POOL3D:
        case KN__LAYER_GLOBAL_POOL3D:
        case KN__LAYER_PAD3D:
        case KN__LAYER_UPSAMPLE3D: h = kn__model_volume(m, g, i, h, &reg); break;
        case KN__LAYER_CONV3D_TRANSPOSE:
            h = kn__model_conv3d_transpose(m, g, i, h, &reg);
            act = L->u.conv3d_transpose.activation;
            alpha = L->u.conv3d_transpose.alpha;
            break;
        case KN__LAYER_CONV_TRANSPOSE:
        case KN__LAYER_CONV1D_TRANSPOSE:
            h = kn__model_conv_transpose(m, g, i, h, &reg);
            act = L->u.conv_transpose.activation;
            alpha = L->u.conv_transpose.alpha;
            break;
        case KN__LAYER_REPEAT_VECTOR: /* (batch, F) as one step (batch, 1, F), each sample's step repeated */
            h = kn_upsample1d(g, kn__model_view_as(g, h, (int64_t[]){1, in[0]}, 2), L->u.repeat);
            break;
        case KN__LAYER_PERMUTE: /* (in: this layer's input shape, read above) */
            h = kn_permute(g, kn__model_view_as(g, h, in, L->ndim), L->u.permute, L->ndim);
            break;
        case KN__LAYER_RESCALING: /* (the scale folds into the product after it, when the fuse pass can) */
            if (L->u.rescaling.scale != 1.0f) h = kn_scale(g, h, L->u.rescaling.scale);
            if (L->u.rescaling.offset != 0.0f) h = kn_add(g, h, kn__const_scalar(g, L->u.rescaling.offset));
            break;
        }
        if (act != KN_LINEAR) {
            if (!alpha) alpha = act == KN_LEAKY_RELU ? 0.2f : 1.0f;
            h = kn__act_alpha(g, h, act, alpha);
        }
        if (per_step_rows) { /* back to (N, steps..., units) */
            int64_t s[KN_MAX_DIMS + 1] = {per_step_rows};
            memcpy(s + 1, L->shape, (size_t)L->ndim * sizeof *s);
            h = kn__reshape_rows(g, h, s, L->ndim + 1, per_step_rows == KN_BATCH ? 1 : 0);
        }
        if (l2 > 0) {
            g->build_phase = KN_PHASE_LOSS;
            kn_tensor *r = kn_scale(g, kn_sum_squares(g, L->kernel), l2);
            reg = reg ? kn_add(g, reg, r) : r;
            g->build_phase = KN_PHASE_FORWARD;
        }
        outs[i] = h;
        if (L->masked) masks[i] = made_mask ? made_mask : layer_mask(m, g, i, masks);
    }
    if (h && h->ndim != 2) h = kn_reshape(g, h, (int64_t[]){-1, outputs}, 2); /* (batch, outputs) */
    m->out = h;
    m->pred = h;
    g->build_phase = KN_PHASE_LOSS;
    m->sw = m->weighted ? kn_input(g, KN_F32, (int64_t[]){KN_BATCH}, 1, "sample_weights") : NULL;
    m->loss = kn_loss_op_with(g, m->copts.loss, m->out, m->y, m->sw, &(kn_loss_options){
        .from_logits = m->copts.from_logits, .label_smoothing = m->copts.label_smoothing,
        .focal_gamma = !kn__loss_is_focal(m->copts.loss) ? 0 : m->copts.focal_gamma > 0 ? m->copts.focal_gamma : KN_FOCAL_GAMMA_DEFAULT,
        .focal_alpha = !kn__loss_is_focal(m->copts.loss) ? 0 : m->copts.focal_alpha > 0 ? m->copts.focal_alpha : KN_FOCAL_ALPHA_DEFAULT,
        .apply_class_balancing = m->copts.apply_class_balancing, .huber_delta = m->copts.huber_delta});
    if (reg) m->loss = kn_add(g, m->loss, reg);
    g->build_phase = KN_PHASE_FORWARD;
    if (m->out) kn_graph_keep(g, m->out);
    if (m->pred) kn_graph_keep(g, m->pred);
    if (m->loss) kn_graph_keep(g, m->loss);
    st = kn_graph_status(g);
    if (!st && training) st = kn_graph_backward(g, m->loss);
    if (!st && training) st = kn_graph_add_optimizer(g, &m->copts.optimizer);
    if (st) {
        kn_graph_free(g);
        return st;
    }
    *out_graph = g;
    return KN_OK;
}

void kn__model_save_refs(const kn_model *m, graph_refs *r) {
    *r = (graph_refs){m->x, m->y, m->out, m->pred, m->loss, m->sw, {0}, {0}};
    for (int i = 0; i < m->n_layers && i < KN__MAX_LAYERS; i++) {
        r->kernels[i] = m->layers[i].kernel;
        r->biases[i] = m->layers[i].bias;
    }
}

void kn__model_restore_refs(kn_model *m, const graph_refs *r) {
    m->x = r->x; m->y = r->y; m->out = r->out; m->pred = r->pred; m->loss = r->loss; m->sw = r->sw;
    for (int i = 0; i < m->n_layers && i < KN__MAX_LAYERS; i++) {
        m->layers[i].kernel = r->kernels[i];
        m->layers[i].bias = r->biases[i];
    }
}

kn_status kn__model_ensure_graph(kn_model *m, int64_t max_batch, bool training) {
    if (!m->compiled) return kn__error(m->ctx, KN_ERR_STATE, "model: call kn_model_compile first");
    if (m->n_layers > KN__MAX_LAYERS) return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "model: more than %d layers", KN__MAX_LAYERS);
    kn_graph *old = m->graph;
    if (old && !m->graph_stale && m->max_batch >= max_batch && (old->has_backward || !training))
        return kn__model_push(m); /* what the caller may have written through kn_model_param */
    kn_status st = kn__model_pull(m); /* the old graph's parameters and state, copied below */
    if (st) return st;
    /* once a model trains, it keeps its training graph */
    training = training || (old && old->has_backward);
    int64_t want = max_batch > KN_DEFAULT_EVAL_BATCH ? max_batch : KN_DEFAULT_EVAL_BATCH;
    if (old && old->max_batch > want) want = old->max_batch;
    /* where the parameters come from: the old graph, the loaded file, or initialization */
    const float *source = old ? old->param_buf : m->mapped_params;
    graph_refs saved;
    kn__model_save_refs(m, &saved);
    kn_graph *g = NULL;
    st = kn__model_build_graph(m, &g, training);
    if (!st && !training && source && (!old || old->shared_params)) {
        g->shared_params = source; /* zero-copy */
        /* a half model file: single-sample products read half weights (half the bytes) */
        g->param_half_dtype = m->file_dtype == KN_F16 || m->file_dtype == KN_BF16 ? m->file_dtype : KN_F32;
        /* read-only weights (writes go through a training graph: kn_model_param) are
         * constants to the fold pass: batch norms fold into the layer before them */
        st = kn_graph_freeze_params(g);
    }
    if (!st) st = kn_graph_compile(g, want, source == NULL);
    size_t floats = old ? old->param_floats : m->mapped_floats;
    if (!st && source && floats != g->param_floats) /* a loaded file was checked against this layout */
        st = kn__error(m->ctx, KN_ERR_STATE, "model: parameter layout changed on rebuild");
    if (st) {
        kn_graph_free(g);
        kn__model_restore_refs(m, &saved);
        return st;
    }
    if (source && !g->shared_params) memcpy(g->param_buf, source, g->param_floats * sizeof(float));
    /* optimizer state carries over unless a compile changed the optimizer */
    if (old && !m->graph_stale && old->state_buf && g->state_buf && old->state_floats == g->state_floats) {
        memcpy(g->state_buf, old->state_buf, g->state_floats * sizeof(float));
        g->step = old->step;
    }
    /* a checkpoint's optimizer state goes to the first training graph */
    if (training && m->resume_state) {
        if (g->state_buf && m->resume_state_floats == g->state_floats) {
            memcpy(g->state_buf, m->resume_state, g->state_floats * sizeof(float));
            g->step = m->resume_step;
        }
        kn__free(m->ctx, m->resume_state);
        m->resume_state = NULL;
        m->resume_step_pending = false;
    }
    if (training && m->resume_step_pending) { /* an optimizer without state (plain SGD): its step alone,
                                               * which a schedule reads */
        if (!g->state_buf) g->step = m->resume_step;
        m->resume_step_pending = false;
    }
    kn_graph_free(old);
    m->graph_stale = false;
    m->graph = g;
    m->max_batch = want;
    /* the parameters and state just copied in (compile pushed the initialized ones) */
    m->host_ahead = true;
    return kn__model_push(m);
}

kn_status kn__model_pull(kn_model *m) {
    return m->graph && !m->host_ahead ? kn__graph_pull(m->graph, KN_SYNC_PARAMS | KN_SYNC_STATE) : KN_OK;
}

kn_status kn__model_push(kn_model *m) {
    if (!m->host_ahead) return KN_OK;
    m->host_ahead = false;
    return kn__graph_push(m->graph, KN_SYNC_PARAMS | KN_SYNC_STATE);
}

int kn__model_param_specs(const kn_model *m, kn__param_spec *out, int max, size_t *total_floats) {
    int n = 0;
    size_t off = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const kn__layer *L = &m->layers[i];
        int64_t k[2], b;
        layer_param_sizes(m, i, k, &b);
        const char *names[4];
        kn_init inits[4];
        int64_t ch;
        int np = norm_params(m, i, names, inits, &ch);
        for (int part = 0; part < np; part++) {
            if (n < max) {
                kn__param_spec *p = &out[n];
                snprintf(p->name, sizeof p->name, "%s_%d/%s", kn__layer_type(L), L->index, names[part]);
                p->ndim = 1;
                p->shape[0] = ch;
                p->shape[1] = 0;
                p->numel = (size_t)ch;
                p->offset = off;
            }
            off += ((size_t)ch + 15) / 16 * 16; /* as compile.c */
            n++;
        }
        kn__rnn_param rp[KN__LAYER_MAX_PARAMS];
        for (int r = 0, nr = kn__layer_params(m, i, rp); r < nr; r++) {
            size_t numel = (size_t)kn__layer_param_numel(&rp[r]);
            if (n < max) {
                kn__param_spec *p = &out[n];
                snprintf(p->name, sizeof p->name, "%s_%d/%s", kn__layer_type(L), L->index, rp[r].what);
                p->ndim = rp[r].ndim;
                for (int d = 0; d < 3; d++) p->shape[d] = d < rp[r].ndim ? rp[r].shape[d] : 0;
                p->numel = numel;
                p->offset = off;
            }
            off += (numel + 15) / 16 * 16; /* as compile.c */
            n++;
        }
        if (!k[0]) continue;
        for (int part = 0; part < 2; part++) {
            if (part == 1 && !b) continue;
            size_t numel = (size_t)(part ? b : k[0] * k[1]);
            if (n < max) {
                kn__param_spec *p = &out[n];
                snprintf(p->name, sizeof p->name, "%s_%d/%s", kn__layer_type(L), L->index,
                         part ? "bias"
                         : L->kind == KN__LAYER_EMBEDDING || L->kind == KN__LAYER_POSITION_EMBEDDING ? "embeddings"
                                                                                                   : "kernel");
                p->ndim = part ? 1 : 2;
                p->shape[0] = part ? b : k[0];
                p->shape[1] = part ? 0 : k[1];
                p->numel = numel;
                p->offset = off;
            }
            off += (numel + 15) / 16 * 16; /* as compile.c */
            n++;
        }
    }
    if (total_floats) *total_floats = off;
    return n;
}

static kn_tensor *find_param(kn_model *m, const char *name) {
    if (!m->graph || !name) return NULL;
    for (int i = 0; i < m->graph->n_params; i++)
        if (strcmp(m->graph->params[i]->name, name) == 0) return m->graph->params[i];
    return NULL;
}

float *kn_model_param(kn_model *m, const char *name, int64_t *n) {
    if (m && m->classic) return kn__classic_param(m, name, n);
    /* a writable copy: a training graph owns its parameters (a loaded model's mapping is read-only) */
    if (!m || kn__model_ensure_graph(m, 1, true)) return NULL;
    kn_tensor *p = find_param(m, name);
    if (!p) {
        kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "model: no parameter named '%s'", name ? name : "(null)");
        return NULL;
    }
    /* the current values on the host; the caller may write them, so the next use of the
     * graph pushes them (a device graph: valid until the model next runs) */
    if (kn__model_pull(m)) return NULL;
    m->host_ahead = true;
    if (n) *n = kn__numel(p);
    return p->data;
}

const float *kn_model_grad(kn_model *m, const char *name, int64_t *n) {
    if (m && m->classic) return NULL; /* fitted in one call: no gradients */
    if (!m || kn__model_ensure_graph(m, 1, true)) return NULL;
    float *w = kn_model_param(m, name, n);
    if (!w) return NULL;
    kn_tensor *p = find_param(m, name);
    if (p->grad && kn__graph_pull(m->graph, KN_SYNC_GRADS)) return NULL;
    return p->grad ? p->grad->data : NULL;
}

kn_status kn_model_predict(kn_model *m, const float *x, int64_t n, float *out) {
    if (!m || (!x && n) || (!out && n) || n < 0) return KN_ERR_INVALID_ARGUMENT;
    if (m->classic) return kn__classic_predict(m, x, n, out);
    /* large batches run in chunks as large as 64 MB of activations allow (up to 4096 rows),
     * so their products are large enough to thread */
    double row_bytes = (double)m->in_features;
    for (int i = 0; i < m->n_layers; i++) /* (convolutions' windows live in a fixed scratch) */
        row_bytes += 4.0 * (double)m->layers[i].features;
    int64_t cap = (int64_t)(64e6 / (row_bytes * sizeof(float)));
    cap = cap < KN_DEFAULT_EVAL_BATCH ? KN_DEFAULT_EVAL_BATCH : cap > 4096 ? 4096 : cap;
    kn_status st = kn__model_check_indices(m, x, n, 0, "predict");
    if (!st) st = kn__model_ensure_graph(m, n < cap ? (n > 1 ? n : 1) : cap, false);
    if (st) return st;
    int64_t in = m->in_features, outs = kn_model_output_size(m);
    for (int64_t i = 0; i < n; i += m->max_batch) {
        int64_t b = n - i < m->max_batch ? n - i : m->max_batch;
        if ((st = kn_graph_set_batch(m->graph, b))) return st;
        kn__tensor_store_f32(m->x, 0, x + i * in, b * in);
        if ((st = kn__graph_run_phases(m->graph, KN_PHASE_FORWARD | KN_PHASE_PREDICT))) return st;
        memcpy(out + i * outs, m->pred->data, (size_t)(b * outs) * sizeof(float));
    }
    return KN_OK;
}

kn_status kn_model_train_step(kn_model *m, const float *x, const void *y, int64_t n, float *loss) {
    if (!m || !x || !y || n < 1) return KN_ERR_INVALID_ARGUMENT;
    if (m->classic) return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "train_step: a %s fits in one call (kn_model_fit)", m->classic->name);
    kn_status st = kn__model_check_indices(m, x, n, 0, "train_step");
    if (!st) st = kn__model_ensure_graph(m, n, true);
    if (st) return st;
    if ((st = kn_graph_set_batch(m->graph, n))) return st;
    int64_t outs = kn_model_output_size(m);
    kn__tensor_store_f32(m->x, 0, x, n * m->in_features);
    if (m->sw)
        for (int64_t i = 0; i < n; i++) ((float *)m->sw->data)[i] = 1.0f;
    if (m->y->dtype == KN_I32) {
        const int32_t *lab = y;
        for (int64_t i = 0; i < n; i++)
            if (lab[i] < 0 || lab[i] >= outs)
                return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "train_step: label %d of row %lld outside [0, %lld)",
                                 lab[i], (long long)i, (long long)outs);
        memcpy(m->y->data, y, (size_t)n * sizeof(int32_t));
    } else {
        memcpy(m->y->data, y, (size_t)(n * outs) * sizeof(float));
    }
    if ((st = kn__graph_run_phases(m->graph, KN_PHASE_TRAIN))) return st;
    if (loss) *loss = *(float *)m->loss->data;
    return KN_OK;
}

void kn_model_summary(const kn_model *m, char *buf, size_t size) {
    if (m->classic) {
        kn__classic_summary(m, buf, size);
        return;
    }
    size_t used;
    if (m->input_ndim == 1) {
        used = (size_t)snprintf(buf, size, "sequential: input %lld", (long long)m->in_features);
    } else {
        used = (size_t)snprintf(buf, size, "sequential: input (");
        for (int d = 0; d < m->input_ndim && used < size; d++)
            used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)m->input_shape[d]);
        if (used < size) used += (size_t)snprintf(buf + used, size - used, ")");
    }
    for (int i = 0; i < m->n_layers && used < size; i++) {
        const kn__layer *L = &m->layers[i];
        switch (L->kind) {
        case KN__LAYER_DENSE:
            used += (size_t)snprintf(buf + used, size - used, " -> %s %lld %s",
                                     L->per_step ? "time_distributed dense" : "dense", (long long)L->u.dense.units,
                                     kn_activation_name(L->u.dense.activation));
            break;
        case KN__LAYER_CONV2D: {
            const kn_conv2d_opts *o = &L->u.conv;
            used += (size_t)snprintf(buf + used, size - used, " -> conv2d %lld %dx%d", (long long)o->filters, o->kernel_h,
                                     o->kernel_w);
            if (used < size && (o->stride_h > 1 || o->stride_w > 1))
                used += (size_t)snprintf(buf + used, size - used, " stride %dx%d", o->stride_h, o->stride_w);
            if (used < size && (o->dilation_h > 1 || o->dilation_w > 1))
                used += (size_t)snprintf(buf + used, size - used, " dilation %dx%d", o->dilation_h, o->dilation_w);
            if (used < size && o->groups > 1) used += (size_t)snprintf(buf + used, size - used, " groups %d", o->groups);
            if (used < size)
                used += (size_t)snprintf(buf + used, size - used, "%s %s", o->same ? " same" : "",
                                         kn_activation_name(o->activation));
            break;
        }
        case KN__LAYER_MAX_POOL2D:
        case KN__LAYER_AVG_POOL2D: {
            const kn__pool_opts *p = &L->u.pool;
            used += (size_t)snprintf(buf + used, size - used, " -> %s %dx%d", kn__layer_type(L), p->pool_h, p->pool_w);
            if (used < size && (p->stride_h != p->pool_h || p->stride_w != p->pool_w))
                used += (size_t)snprintf(buf + used, size - used, " stride %dx%d", p->stride_h, p->stride_w);
            if (used < size && p->same) used += (size_t)snprintf(buf + used, size - used, " same");
            break;
        }
        case KN__LAYER_CONV1D: {
            const kn_conv1d_opts *o = &L->u.conv1d;
            static const char *const pads[] = {"", " same", " causal"};
            used += (size_t)snprintf(buf + used, size - used, " -> conv1d %lld kernel %d", (long long)o->filters,
                                     o->kernel_size);
            if (used < size && o->stride > 1) used += (size_t)snprintf(buf + used, size - used, " stride %d", o->stride);
            if (used < size && o->dilation > 1)
                used += (size_t)snprintf(buf + used, size - used, " dilation %d", o->dilation);
            if (used < size && o->groups > 1) used += (size_t)snprintf(buf + used, size - used, " groups %d", o->groups);
            if (used < size)
                used += (size_t)snprintf(buf + used, size - used, "%s %s", pads[o->padding],
                                         kn_activation_name(o->activation));
            break;
        }
        case KN__LAYER_MAX_POOL1D:
        case KN__LAYER_AVG_POOL1D: {
            const kn__pool_opts *p = &L->u.pool;
            used += (size_t)snprintf(buf + used, size - used, " -> %s %d", kn__layer_type(L), p->pool_w);
            if (used < size && p->stride_w != p->pool_w)
                used += (size_t)snprintf(buf + used, size - used, " stride %d", p->stride_w);
            if (used < size && p->same) used += (size_t)snprintf(buf + used, size - used, " same");
            break;
        }
        case KN__LAYER_ACTIVATION:
            used += (size_t)snprintf(buf + used, size - used, " -> activation %s", kn_activation_name(L->u.activation.act));
            break;
        case KN__LAYER_RNN: {
            const kn_rnn_opts *o = &L->u.rnn;
            static const char *const cells[] = {"simple_rnn", "lstm", "gru"}, *const merges[] = {"", "concat", "sum", "mul", "ave"};
            if (o->bidirectional)
                used += (size_t)snprintf(buf + used, size - used, " -> bidirectional %s %s %lld", merges[o->bidirectional],
                                         cells[o->cell], (long long)o->units);
            else
                used += (size_t)snprintf(buf + used, size - used, " -> %s %lld", kn__layer_type(L), (long long)o->units);
            if (used < size && o->go_backwards) used += (size_t)snprintf(buf + used, size - used, " backwards");
            if (used < size && o->activation != KN_TANH)
                used += (size_t)snprintf(buf + used, size - used, " %s", kn_activation_name(o->activation));
            if (used < size && o->return_sequences)
                used += (size_t)snprintf(buf + used, size - used, " sequences");
            break;
        }
        case KN__LAYER_DROPOUT:
            used += (size_t)snprintf(buf + used, size - used, " -> %s %g", kn__layer_type(L), (double)L->u.dropout.rate);
            break;
        case KN__LAYER_BATCH_NORM:
            used += (size_t)snprintf(buf + used, size - used, " -> batch_normalization");
            break;
        case KN__LAYER_EMBEDDING:
            used += (size_t)snprintf(buf + used, size - used, " -> embedding %lldx%lld",
                                     (long long)L->u.embedding.input_dim, (long long)L->u.embedding.output_dim);
            break;
        case KN__LAYER_ATTENTION: {
            const kn_attention_opts *o = &L->u.attention;
            used += (size_t)snprintf(buf + used, size - used, " -> multi_head_attention %dx%lld", o->num_heads,
                                     (long long)o->key_dim);
            if (used < size && o->causal) used += (size_t)snprintf(buf + used, size - used, " causal");
            break;
        }
        case KN__LAYER_CONV_TRANSPOSE:
        case KN__LAYER_CONV1D_TRANSPOSE:
            used += (size_t)kn__conv_transpose_summary(L, buf + used, size - used);
            break;
        case KN__LAYER_REPEAT_VECTOR:
            used += (size_t)snprintf(buf + used, size - used, " -> repeat_vector %d", L->u.repeat);
            break;
        case KN__LAYER_PERMUTE:
            used += (size_t)snprintf(buf + used, size - used, " -> permute (");
            for (int d = 0; d < L->ndim && used < size; d++)
                used += (size_t)snprintf(buf + used, size - used, "%s%d", d ? ", " : "", L->u.permute[d] + 1);
            if (used < size) used += (size_t)snprintf(buf + used, size - used, ")");
            break;
        case KN__LAYER_RESHAPE:
            used += (size_t)snprintf(buf + used, size - used, " -> reshape (");
            for (int d = 0; d < L->ndim && used < size; d++)
                used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)L->shape[d]);
            if (used < size) used += (size_t)snprintf(buf + used, size - used, ")");
            break;
        case KN__LAYER_PAD:
        case KN__LAYER_UPSAMPLE:
        case KN__LAYER_RESIZE: used += (size_t)kn__resize_summary(L, buf + used, size - used); break;
        case KN__LAYER_RANDOM_IMAGE: used += (size_t)kn__random_image_summary(L, buf + used, size - used); break;
        case KN__LAYER_CONV3D:
        case KN__LAYER_POOL3D:
        case KN__LAYER_PAD3D:
        case KN__LAYER_UPSAMPLE3D: used += (size_t)kn__volume_summary(L, buf + used, size - used); break;
        case KN__LAYER_CONV3D_TRANSPOSE: used += (size_t)kn__conv3d_transpose_summary(L, buf + used, size - used); break;
        default: used += (size_t)snprintf(buf + used, size - used, " -> %s", kn__layer_type(L)); break;
        }
        /* a layer off the chain: where it reads from (a merge: every input) */
        if (L->n_inputs > 1 || (L->n_inputs == 1 && L->inputs[0] != i - 1)) {
            for (int k = 0; k < L->n_inputs && used < size; k++) {
                int from = L->inputs[k];
                used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? ", " : " (from ",
                                         from < 0 ? "input" : m->layers[from].name);
            }
            if (used < size) used += (size_t)snprintf(buf + used, size - used, ")");
        }
    }
    if (used < size)
        snprintf(buf + used, size - used, " (%lld parameters)", (long long)kn_model_param_count(m));
}
