/* onnx_import.c — kn_model_import_onnx: an ONNX model (PyTorch's torch.onnx.export, Keras's
 * tf2onnx, ...) as a kiln model. Each node becomes a layer of a JSON description (the one the
 * model file then keeps), or folds into the layer that makes its input when it is that
 * value's only reader (a bias Add, an activation); the initializers become the parameters, in
 * kiln's layouts:
 *
 *   Gemm, MatMul (+ Add)        dense: kernel (in, out), W transposed when transB = 1
 *   Conv, group 1               conv2d: kernel (KH*KW*C, F) from ONNX's (F, C, KH, KW)
 *   Conv, group C               depthwise_conv2d: (KH*KW, C*M) from (C*M, 1, KH, KW)
 *   Conv, other groups          conv2d with groups: (KH*KW*C/G, F) from (F, C/G, KH, KW)
 *   MaxPool, AveragePool        max_pool2d, average_pool2d ('valid', or 'same' pads)
 *   GlobalAveragePool/MaxPool   global_average_pool2d, global_max_pool2d
 *   BatchNormalization          batch_normalization (gamma, beta, moving mean and variance)
 *   LayerNormalization, and     layer_normalization over the channels (gamma, beta)
 *   PyTorch's nodes for it
 *   Add of an (L, C) table      position_embedding
 *   image ops                   onnx_import_image.c (Conv ... BatchNormalization, below)
 *   sequence ops                onnx_import_seq.c (embeddings, RNN, LSTM, GRU, 1-D windows)
 *   volume ops                  onnx_import_volume.c: Conv, MaxPool, AveragePool, global
 *                               pooling, Pad, Slice, Resize / Upsample (nearest),
 *                               BatchNormalization, Flatten of (N, C, D, H, W): conv3d,
 *                               max_pool3d, average_pool3d, global_*_pool3d, zero_padding3d,
 *                               cropping3d, up_sampling3d, batch_normalization, flatten
 *   attention subgraphs         multi_head_attention (onnx_import_attn.c: found before the
 *                               walk, read whole at their last node)
 *   Flatten, Reshape to 2-D     flatten (Reshape of features to (N, 1, H, W): reshape)
 *   Pad (zeros along H, W)      zero_padding2d; Slice of H, W: cropping2d
 *   Slice, Split of channels    reshape, cropping2d, reshape (onnx_import_shuffle.c)
 *   channel shuffle             reshape, permute, reshape (onnx_import_shuffle.c)
 *   ConvTranspose (group 1)     conv2d_transpose 'valid' (W (C, F, KH, KW) as (KH*KW*F, C))
 *                               and a cropping2d of its pads
 *   Resize by whole factors     up_sampling2d (nearest asymmetric floor; linear half-pixel)
 *   Resize to other sizes       resizing (half-pixel: linear, or nearest of floor((o + 0.5) in / out))
 *   PRelu                       prelu (per channel or per element)
 *   Mul, Div, Add, Sub by a     rescaling (x scale + offset)
 *   constant scalar
 *   Transpose NCHW <-> NHWC     nothing (kiln's images are NHWC whatever ONNX's order)
 *   Add, Sub, Mul, Max, Mean,   add, subtract, multiply, maximum, average, add, concatenate
 *   Sum, Concat of values       (the channels or features), naming their inputs as Keras's
 *                               functional models do: residual and branching networks
 *   Relu, Sigmoid, Tanh, ...    the activation of the dense or convolution before, or an
 *                               activation layer; Sigmoid (HardSigmoid) then Mul by its
 *                               input: silu (hard_silu); x tanh(softplus(x)): mish; 0.5 x
 *                               (1 + erf(x / sqrt 2)): gelu
 *   Dropout, Identity           nothing (inference)
 *
 * Pads a convolution's 'same' does not give become a zero_padding2d before it. Images are
 * NCHW in ONNX and NHWC in kiln: the input (N, C, H, W) becomes input_shape [H, W, C] (the
 * same bytes when C = 1), and the dense layer after a Flatten of C > 1 channels gets its
 * kernel's rows reordered from (c, y, x) to (y, x, c), so it computes what the ONNX model
 * does; volumes (N, C, D, H, W) likewise become input_shape [D, H, W, C] (rows reordered from
 * (c, d, y, x) to (d, y, x, c)). An input the graph transposes to NCHW first (tf2onnx's
 * Keras models) is (N, H, W, C): kiln's order, and a Flatten after a Transpose back to NHWC
 * needs no reordering. The graph must have one input and one output, made by its last
 * layer. Anything else is refused in one line naming the node and its op. */
#include "io/onnx_import.h"
#include "nn/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

kn_status kn__imp_fail(imp *s, kn_status st, const char *fmt, const char *detail) {
    if (s->node)
        return kn__error(s->ctx, st, "%s: node %d '%s' (%s): %s%s%s", s->what, s->node_index, s->node->name, s->node->op, fmt,
                         detail ? detail : "", s->attn_near && s->attn_near[s->node_index] ? s->attn_why : "");
    return kn__error(s->ctx, st, "%s: %s%s", s->what, fmt, detail ? detail : "");
}

kn_status kn__imp_unsupported(imp *s, const char *why) { return kn__imp_fail(s, KN_ERR_UNSUPPORTED, why, NULL); }
kn_status kn__imp_oom(imp *s) { return kn__imp_fail(s, KN_ERR_OUT_OF_MEMORY, "out of memory", NULL); }

/* ------------------------------------------------------------- constants */

/* The initializer, Constant node output, or Identity of one (torchvision's exports name
 * shared weights so), named `name`; NULL when it is none. depth bounds the Identity chain. */
static const kn__onnx_tensor *constant_at(const imp *s, const char *name, int depth) {
    if (!name[0] || depth > 8) return NULL;
    for (int i = 0; i < s->m->n_inits; i++)
        if (strcmp(s->m->inits[i].name, name) == 0) return &s->m->inits[i];
    for (int i = 0; i < s->m->n_nodes; i++) {
        const kn__onnx_node *nd = &s->m->nodes[i];
        if (nd->n_outputs < 1 || strcmp(nd->outputs[0], name) != 0) continue;
        if (strcmp(nd->op, "Constant") == 0 && nd->n_outputs == 1) {
            const kn__onnx_attr *a = kn__onnx_attr_get(nd, "value");
            return a && a->kind == KN__ONNX_ATTR_TENSOR ? a->t : NULL;
        }
        if (strcmp(nd->op, "Identity") == 0 && nd->n_inputs == 1) return constant_at(s, nd->inputs[0], depth + 1);
        int64_t to = strcmp(nd->op, "Cast") == 0 && nd->n_inputs == 1 ? kn__imp_attr_int(nd, "to", 0) : 0;
        if (to == KN__ONNX_FLOAT || to == KN__ONNX_FLOAT16 || to == KN__ONNX_BFLOAT16 || to == KN__ONNX_DOUBLE) {
            const kn__onnx_tensor *t = constant_at(s, nd->inputs[0], depth + 1); /* a float constant, cast to a float type */
            return t && t->f ? t : NULL;
        }
    }
    return NULL;
}

const kn__onnx_tensor *kn__imp_constant(const imp *s, const char *name) { return constant_at(s, name, 0); }

/* Input k of the node as a float constant of n elements (n < 0: any), or NULL. */
const kn__onnx_tensor *kn__imp_const_input(imp *s, int k, int64_t n) {
    if (k >= s->node->n_inputs) return NULL;
    const kn__onnx_tensor *t = kn__imp_constant(s, s->node->inputs[k]);
    if (!t || !t->f || (n >= 0 && t->numel != n)) return NULL;
    return t;
}

int64_t kn__imp_attr_int(const kn__onnx_node *nd, const char *name, int64_t dflt) {
    const kn__onnx_attr *a = kn__onnx_attr_get(nd, name);
    return a && a->kind == KN__ONNX_ATTR_INT ? a->i : dflt;
}

float kn__imp_attr_float(const kn__onnx_node *nd, const char *name, float dflt) {
    const kn__onnx_attr *a = kn__onnx_attr_get(nd, name);
    return a && a->kind == KN__ONNX_ATTR_FLOAT ? a->f : dflt;
}

/* An ints attribute of n values into out (dflt when absent); false when it has another count. */
bool kn__imp_attr_ints(const kn__onnx_node *nd, const char *name, int n, int64_t dflt, int64_t *out) {
    const kn__onnx_attr *a = kn__onnx_attr_get(nd, name);
    for (int k = 0; k < n; k++) out[k] = dflt;
    if (!a) return true;
    if (a->kind != KN__ONNX_ATTR_INTS || a->n != n) return false;
    for (int k = 0; k < n; k++) out[k] = a->ints[k];
    return true;
}

/* ------------------------------------------------------------- layers */

/* A new layer of the description, taking the value the node reads (inputs named when that
 * is not the layer before), which its output then is. */
imp_layer *kn__imp_add_layer(imp *s, const char *type) {
    if (s->n >= KN__MAX_LAYERS) return NULL;
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 16;
        imp_layer *p = realloc(s->L, (size_t)nc * sizeof *p);
        if (!p) return NULL;
        s->L = p;
        s->cap = nc;
    }
    imp_layer *L = &s->L[s->n];
    memset(L, 0, sizeof *L);
    L->json = cJSON_CreateObject();
    if (!L->json || !cJSON_AddStringToObject(L->json, "type", type)) {
        cJSON_Delete(L->json);
        return NULL;
    }
    cJSON_AddItemToArray(s->layers, L->json);
    s->n++;
    if (s->src_layer != s->n - 2) {
        const char *from = kn__imp_layer_name(s, s->src_layer);
        if (!from || !cJSON_AddStringToObject(L->json, "inputs", from)) return NULL;
    }
    s->src_layer = s->n - 1;
    return L;
}

/* A new layer taking layers from[0..n) (-1: the input), named in its "inputs" in that order. */
imp_layer *kn__imp_add_layer_from(imp *s, const char *type, const int *from, int n) {
    imp_layer *L = kn__imp_add_layer(s, type);
    cJSON *ins = L ? cJSON_CreateArray() : NULL;
    if (!ins) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(L->json, "inputs");
    cJSON_AddItemToObject(L->json, "inputs", ins);
    for (int k = 0; k < n; k++) {
        const char *name = kn__imp_layer_name(s, from[k]);
        if (!name || !cJSON_AddItemToArray(ins, cJSON_CreateString(name))) return NULL;
    }
    return L;
}

/* Layer i's name ("input" for -1), given to it (Keras's "<type>_<k>", k counted per type)
 * the first time another layer names it as an input. */
const char *kn__imp_layer_name(imp *s, int layer) {
    if (layer < 0) return "input";
    cJSON *json = s->L[layer].json;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(json, "name");
    if (cJSON_IsString(name)) return name->valuestring;
    const char *type = cJSON_GetObjectItemCaseSensitive(json, "type")->valuestring;
    int k = 0;
    for (int i = 0; i < layer; i++) k += strcmp(cJSON_GetObjectItemCaseSensitive(s->L[i].json, "type")->valuestring, type) == 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s_%d", type, k);
    name = cJSON_AddStringToObject(json, "name", buf);
    return name ? name->valuestring : NULL;
}

/* A parameter of n floats for L (zeroed), which the caller fills. */
float *kn__imp_add_param(imp_layer *L, const char *what, int64_t n) {
    if (L->n_params == MAX_PARAMS) return NULL;
    float *d = calloc((size_t)(n > 0 ? n : 1), sizeof *d);
    if (!d) return NULL;
    L->what[L->n_params] = what;
    L->data[L->n_params] = d;
    L->n[L->n_params++] = n;
    return d;
}

float *kn__imp_param_of(imp_layer *L, const char *what) {
    for (int k = 0; k < L->n_params; k++)
        if (strcmp(L->what[k], what) == 0) return L->data[k];
    return NULL;
}

bool kn__imp_add_pair(cJSON *o, const char *key, int64_t a, int64_t b) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return false;
    cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)a));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)b));
    return cJSON_AddItemToObject(o, key, arr);
}

/* The layer that made the node's input, when the node is its only reader (it may fold into
 * that layer), else NULL. */
imp_layer *kn__imp_producer(imp *s) { return s->sole && s->src_layer >= 0 ? &s->L[s->src_layer] : NULL; }

/* ------------------------------------------------------------- node readers */

static kn_status need_flat(imp *s) {
    if (s->vol) return kn__imp_unsupported(s, "expects features (batch, n); the value here is a volume (flatten it first)");
    if (s->seq) return kn__imp_unsupported(s, "expects features (batch, n); the value here is a sequence (flatten it first)");
    if (s->ids) return kn__imp_unsupported(s, "expects features (batch, n); the value here is token ids (an embedding reads them)");
    return s->image ? kn__imp_unsupported(s, "expects features (batch, n); the value here is an image (flatten it first)") : KN_OK;
}
kn_status kn__imp_need_image(imp *s) {
    if (s->vol) return kn__imp_unsupported(s, "expects images (batch, C, H, W); the value here is a volume (batch, C, D, H, W)");
    if (s->seq) return kn__imp_unsupported(s, "expects images (batch, C, H, W); the value here is a sequence");
    if (!s->image) return kn__imp_unsupported(s, "expects images (batch, C, H, W); the value here is (batch, n)");
    if (s->nhwc) return kn__imp_unsupported(s, "expects images (batch, C, H, W); the value here is (batch, H, W, C) (transposed)");
    return KN_OK;
}

/* A dense layer of `out` units from W (k, out) read as w(row, col); the rows permuted after
 * a Flatten of channels. */
kn_status kn__imp_dense_from(imp *s, const kn__onnx_tensor *W, bool trans, float scale) {
    int64_t k = trans ? W->dims[1] : W->dims[0], out = trans ? W->dims[0] : W->dims[1];
    if (k != s->f) {
        char d[96];
        snprintf(d, sizeof d, " (weights of %lld inputs; the value here has %lld features)", (long long)k, (long long)s->f);
        return kn__imp_fail(s, KN_ERR_SHAPE, "weights do not fit", d);
    }
    imp_layer *L = kn__imp_add_layer(s, "dense");
    float *kern = L ? kn__imp_add_param(L, "kernel", k * out) : NULL;
    float *bias = kern ? kn__imp_add_param(L, "bias", out) : NULL;
    if (!bias || !cJSON_AddNumberToObject(L->json, "units", (double)out)) return kn__imp_oom(s);
    L->weighted = true;
    for (int64_t r = 0; r < k; r++) {
        /* kiln's row r of (y, x, c) order reads ONNX's row src of (c, y, x) order */
        int64_t src = r;
        if (s->perm) {
            int64_t c = r % s->pc, p = r / s->pc;
            src = c * s->ph * s->pw + p;
        }
        for (int64_t j = 0; j < out; j++)
            kern[r * out + j] = scale * (trans ? W->f[j * k + src] : W->f[src * out + j]);
    }
    s->perm = false;
    s->f = out;
    return KN_OK;
}

static kn_status read_gemm(imp *s) {
    kn_status st = need_flat(s);
    if (st) return st;
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1), *C = kn__imp_const_input(s, 2, -1);
    if (!W || W->ndim != 2) return kn__imp_unsupported(s, "B must be a 2-D constant (the weights)");
    if (kn__imp_attr_int(s->node, "transA", 0)) return kn__imp_unsupported(s, "transA = 1");
    float alpha = kn__imp_attr_float(s->node, "alpha", 1.0f), beta = kn__imp_attr_float(s->node, "beta", 1.0f);
    if ((st = kn__imp_dense_from(s, W, kn__imp_attr_int(s->node, "transB", 0) != 0, alpha))) return st;
    imp_layer *L = &s->L[s->src_layer];
    if (s->node->n_inputs > 2 && s->node->inputs[2][0]) {
        int64_t units = s->f;
        if (!C || !(C->numel == units || C->numel == 1)) return kn__imp_unsupported(s, "C must be a constant of 1 or N values");
        float *b = kn__imp_param_of(L, "bias");
        for (int64_t j = 0; j < units; j++) b[j] = beta * C->f[C->numel == 1 ? 0 : j];
        L->has_bias = true;
    }
    return KN_OK;
}

/* MatMul of an (N, H, W, C) image by W (C, F) (ConvNeXt's Linear over the channels, after
 * a permute): a 1x1 conv2d, its kernel W as it is (kiln's (KH*KW*C, F)). */
static kn_status read_pixel_matmul(imp *s, const kn__onnx_tensor *W) {
    if (W->dims[0] != s->c) return kn__imp_fail(s, KN_ERR_SHAPE, "weights do not fit the image's channels", NULL);
    imp_layer *L = kn__imp_add_layer(s, "conv2d");
    float *kern = L ? kn__imp_add_param(L, "kernel", W->numel) : NULL;
    float *bias = kern ? kn__imp_add_param(L, "bias", W->dims[1]) : NULL;
    if (!bias || !kn__imp_add_pair(L->json, "kernel_size", 1, 1) ||
        !cJSON_AddNumberToObject(L->json, "filters", (double)W->dims[1]))
        return kn__imp_oom(s);
    memcpy(kern, W->f, (size_t)W->numel * sizeof *kern);
    L->weighted = true;
    s->c = W->dims[1];
    return KN_OK;
}

static kn_status read_matmul(imp *s) {
    if (s->image && s->nhwc && !s->ambiguous) {
        const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1);
        if (W && W->ndim == 2) return read_pixel_matmul(s, W);
    }
    kn_status st = need_flat(s);
    if (st) return st;
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1);
    if (!W || W->ndim != 2) return kn__imp_unsupported(s, "the second input must be a 2-D constant (the weights)");
    return kn__imp_dense_from(s, W, false, 1.0f);
}

/* Add of a constant row: into the bias of the dense or convolution layer that made its
 * input (the merges of two values are read_merge's). */
static kn_status read_add(imp *s) {
    imp_layer *L = kn__imp_producer(s);
    int other = strcmp(s->node->inputs[0], s->cur) == 0 ? 1 : 0;
    const kn__onnx_tensor *b = kn__imp_const_input(s, other, -1);
    int64_t n = s->image || s->seq || s->vol ? s->c : s->f;
    if (!L || !L->weighted || L->has_act || L->has_bias || !b || !(b->numel == n || b->numel == 1))
        return kn__imp_unsupported(s, "kiln takes an Add of a constant only as the bias (one value per unit or channel) of "
                              "the dense or convolution layer that makes its input");
    float *bias = kn__imp_param_of(L, "bias");
    for (int64_t j = 0; j < n; j++) bias[j] = b->f[b->numel == 1 ? 0 : j];
    L->has_bias = true;
    return KN_OK;
}

static kn_status flatten(imp *s) {
    s->units = 0;
    if (!s->image) return KN_OK;
    if (!kn__imp_add_layer(s, "flatten")) return kn__imp_oom(s);
    s->perm = !s->nhwc && s->c > 1 && s->h * s->w > 1; /* (H, W, C) is kiln's order already */
    s->nhwc = false;
    s->pc = s->c, s->ph = s->h, s->pw = s->w;
    s->image = false;
    s->f = s->c * s->h * s->w;
    return KN_OK;
}

static kn_status read_flatten(imp *s) {
    if (kn__imp_attr_int(s->node, "axis", 1) != 1) return kn__imp_unsupported(s, "axis other than 1");
    return flatten(s);
}

/* Reshape to (batch, n): a Flatten; or features to images: (batch, 1, H, W) as kiln's
 * reshape to (H, W, 1), the same order; (batch, H, W, C) with C > 1 (or any from kiln export,
 * whose images are (N, H, W, C)) as kiln's reshape to (H, W, C), an image in that order, which
 * a Transpose to (N, C, H, W) then takes to a convolution; an image in kiln's order (N, H, W,
 * C) (kiln export's reshape of one, as a channel shuffle's) likewise to another (N, H', W', C'). */
/* Reshape of an image (N, C, H, W) to (N, C, H*W) (a ViT's patches, then transposed to (N,
 * H*W, C)), or of an (N, H, W, C) one (kiln export's) to (N, H*W, C): kiln's reshape to (H*W,
 * C), the same bytes, a sequence in ONNX's (N, C, L) or (N, L, C) order. *done false when the
 * node is not that. */
static kn_status image_to_sequence(imp *s, bool *done) {
    int64_t k[8];
    bool batched[8];
    int n = 0;
    *done = false;
    if (!s->image || s->perm || s->node->n_inputs < 2) return KN_OK;
    if (kn__imp_eval_shape(s, s->node->inputs[1], k, batched, &n) || n != 3) return KN_OK;
    int ca = s->nhwc ? 2 : 1, la = 3 - ca; /* the channels' and the steps' axes */
    bool batch = (batched[0] && k[0] == 1) || (!batched[0] && (k[0] == 0 || k[0] == -1));
    bool chans = !batched[ca] && (k[ca] == s->c || (k[ca] == 0 && ca == 1));
    bool steps = !batched[la] && (k[la] == s->h * s->w || k[la] == -1);
    if (!batch || !chans || !steps || (k[0] == -1 && k[la] == -1)) return KN_OK;
    imp_layer *L = kn__imp_add_layer(s, "reshape");
    if (!L || !kn__imp_add_pair(L->json, "target_shape", s->h * s->w, s->c)) return kn__imp_oom(s);
    s->image = false, s->seq = true, s->ambiguous = false;
    snprintf(s->ord, sizeof s->ord, "%s", s->nhwc ? "NLC" : "NCL");
    s->nhwc = false;
    s->l = s->h * s->w, s->d = 1;
    s->h = s->w = 0;
    *done = true;
    return KN_OK;
}

static kn_status read_reshape(imp *s) {
    bool done = false;
    kn_status st = image_to_sequence(s, &done);
    if (st || done || (st = kn__imp_read_shuffle(s, &done)) || done) return st;
    const kn__onnx_tensor *shape = s->node->n_inputs > 1 ? kn__imp_constant(s, s->node->inputs[1]) : NULL;
    int64_t total = s->image ? s->c * s->h * s->w : s->f;
    const int64_t *t = shape && shape->i && shape->numel == 4 ? shape->i : NULL;
    if (t && (!s->image || s->nhwc) && !s->perm && (t[0] == 0 || t[0] == -1 || t[0] > 0) && t[1] > 0 && t[2] > 0 &&
        t[3] > 0 && t[1] * t[2] * t[3] == total) {
        bool nhwc = s->image || t[1] > 1 || strcmp(s->m->producer, "kiln") == 0;
        int64_t h = nhwc ? t[1] : t[2], w = nhwc ? t[2] : t[3], c = nhwc ? t[3] : 1;
        imp_layer *L = kn__imp_add_layer(s, "reshape");
        cJSON *target = cJSON_CreateArray();
        if (!L || !target) {
            cJSON_Delete(target);
            return kn__imp_oom(s);
        }
        cJSON_AddItemToArray(target, cJSON_CreateNumber((double)h));
        cJSON_AddItemToArray(target, cJSON_CreateNumber((double)w));
        cJSON_AddItemToArray(target, cJSON_CreateNumber((double)c));
        cJSON_AddItemToObject(L->json, "target_shape", target);
        s->image = true;
        s->nhwc = nhwc;
        s->c = c, s->h = h, s->w = w;
        return KN_OK;
    }
    if (!shape || !shape->i || shape->numel != 2 || !(shape->i[0] == 0 || shape->i[0] == -1 || shape->i[0] > 0) ||
        !(shape->i[1] == -1 || shape->i[1] == total) || (shape->i[0] == -1 && shape->i[1] == -1))
        return kn__imp_unsupported(s, "kiln reads a Reshape only to (batch, n) (a flatten), from features to images "
                                      "(batch, 1, H, W) or (batch, H, W, C), or to and from sequences, its shape a constant");
    return flatten(s);
}

/* The activation of the weighted layer before (when it has none yet), else an activation layer. */
static kn_status activation(imp *s, const char *name, float alpha) {
    imp_layer *L = kn__imp_producer(s);
    if (L && L->weighted && !L->has_act) {
        cJSON *o = L->opts ? L->opts : L->json;
        if (!cJSON_AddStringToObject(o, "activation", name) || (alpha != 0 && !cJSON_AddNumberToObject(o, "alpha", alpha)))
            return kn__imp_oom(s);
        L->has_act = true;
        return KN_OK;
    }
    L = kn__imp_add_layer(s, "activation"); /* (with its alpha: a leaky_relu's slope, an elu's) */
    if (!L || !cJSON_AddStringToObject(L->json, "activation", name) ||
        (alpha != 0 && !cJSON_AddNumberToObject(L->json, "alpha", alpha)))
        return kn__imp_oom(s);
    return KN_OK;
}

static bool near(float a, float b) { return fabsf(a - b) <= 1e-5f * (1 + fabsf(b)); }

static kn_status read_activation(imp *s, const char *op, bool *handled) {
    *handled = true;
    const kn__onnx_node *nd = s->node;
    if (strcmp(op, "Relu") == 0) return activation(s, "relu", 0);
    if (strcmp(op, "Sigmoid") == 0) return activation(s, "sigmoid", 0);
    if (strcmp(op, "Tanh") == 0) return activation(s, "tanh", 0);
    if (strcmp(op, "Softplus") == 0) return activation(s, "softplus", 0);
    if (strcmp(op, "Softsign") == 0) return activation(s, "softsign", 0);
    if (strcmp(op, "Mish") == 0) return activation(s, "mish", 0);
    if (strcmp(op, "HardSwish") == 0) return activation(s, "hard_silu", 0);
    if (strcmp(op, "Exp") == 0) return activation(s, "exponential", 0);
    if (strcmp(op, "LeakyRelu") == 0) return activation(s, "leaky_relu", kn__imp_attr_float(nd, "alpha", 0.01f));
    if (strcmp(op, "Elu") == 0) return activation(s, "elu", kn__imp_attr_float(nd, "alpha", 1.0f));
    if (strcmp(op, "Selu") == 0) {
        if (!near(kn__imp_attr_float(nd, "alpha", 1.67326319217681884765625f), 1.67326319217681884765625f) ||
            !near(kn__imp_attr_float(nd, "gamma", 1.05070102214813232421875f), 1.05070102214813232421875f))
            return kn__imp_unsupported(s, "alpha and gamma other than selu's");
        return activation(s, "selu", 0);
    }
    if (strcmp(op, "HardSigmoid") == 0) {
        if (!near(kn__imp_attr_float(nd, "alpha", 0.2f), 1.0f / 6) || !near(kn__imp_attr_float(nd, "beta", 0.5f), 0.5f))
            return kn__imp_unsupported(s, "kiln's hard_sigmoid is relu6(x + 3) / 6: alpha 1/6, beta 0.5");
        return activation(s, "hard_sigmoid", 0);
    }
    if (strcmp(op, "Gelu") == 0) {
        const kn__onnx_attr *a = kn__onnx_attr_get(nd, "approximate");
        if (a && a->kind == KN__ONNX_ATTR_STRING && strcmp(a->s, "none") != 0) return kn__imp_unsupported(s, "the tanh approximation");
        return activation(s, "gelu", 0);
    }
    if (strcmp(op, "Softmax") == 0) {
        int64_t axis = kn__imp_attr_int(nd, "axis", s->m->opset && s->m->opset < 13 ? 1 : -1);
        int rank = s->seq ? (int)strlen(s->ord) : 2;
        bool last = axis == -1 || axis == rank - 1;
        if (s->image || s->ids || !last || (s->seq && (s->ord[rank - 1] != 'C' || s->d != 1)))
            return kn__imp_unsupported(s, "kiln's softmax is over the features of (batch, n) or the channels of (batch, steps, channels)");
        return activation(s, "softmax", 0);
    }
    if (strcmp(op, "Clip") == 0) { /* relu6: min 0, max 6 (attributes before opset 11, inputs since) */
        float lo = kn__imp_attr_float(nd, "min", -INFINITY), hi = kn__imp_attr_float(nd, "max", INFINITY);
        const kn__onnx_tensor *a = kn__imp_const_input(s, 1, 1), *b = kn__imp_const_input(s, 2, 1);
        if (a) lo = a->f[0];
        if (b) hi = b->f[0];
        if (lo != 0 || hi != 6) return kn__imp_unsupported(s, "a Clip other than to [0, 6] (relu6)");
        return activation(s, "relu6", 0);
    }
    *handled = false;
    return KN_OK;
}

/* ------------------------------------------------------------- the graph */

/* How many nodes read value `name` (its data: a Shape of it does not count). */
int kn__imp_readers(const kn__onnx_model *m, const char *name) {
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        if (strcmp(m->nodes[i].op, "Shape") == 0 || strcmp(m->nodes[i].op, "Size") == 0) continue; /* (not the data) */
        for (int k = 0; k < m->nodes[i].n_inputs; k++) n += strcmp(m->nodes[i].inputs[k], name) == 0;
    }
    return n;
}

const imp_value *kn__imp_find_value(const imp *s, const char *name) {
    for (int i = s->n_vals - 1; i >= 0; i--)
        if (strcmp(s->vals[i].name, name) == 0) return &s->vals[i];
    return NULL;
}

/* Records value `name` as the working state (s->image ... s->pw) made by s->src_layer. */
kn_status kn__imp_add_value(imp *s, const char *name) {
    if (s->n_vals == s->cap_vals) {
        int nc = s->cap_vals ? s->cap_vals * 2 : 32;
        imp_value *p = realloc(s->vals, (size_t)nc * sizeof *p);
        if (!p) return kn__imp_oom(s);
        s->vals = p;
        s->cap_vals = nc;
    }
    imp_value *v = &s->vals[s->n_vals++];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->layer = s->src_layer;
    v->image = s->image, v->perm = s->perm, v->nhwc = s->nhwc, v->ambiguous = s->ambiguous, v->nonneg = s->nonneg;
    v->excl = s->excl, v->seq = s->seq, v->ids = s->ids, v->units = s->units, v->half = s->half, v->vol = s->vol;
    memcpy(v->ord, s->ord, sizeof v->ord);
    v->c = s->c, v->h = s->h, v->w = s->w, v->f = s->f, v->pc = s->pc, v->ph = s->ph, v->pw = s->pw, v->l = s->l, v->d = s->d;
    v->dp = s->dp;
    return KN_OK;
}

/* The working state from value v, read by the current node. */
void kn__imp_load_value(imp *s, const imp_value *v) {
    snprintf(s->cur, sizeof s->cur, "%s", v->name);
    s->src_layer = v->layer;
    s->sole = v->excl && kn__imp_readers(s->m, v->name) == 1;
    s->image = v->image, s->perm = v->perm, s->nhwc = v->nhwc, s->ambiguous = v->ambiguous, s->nonneg = v->nonneg;
    s->excl = v->excl, s->seq = v->seq, s->ids = v->ids, s->units = v->units, s->half = v->half, s->vol = v->vol;
    memcpy(s->ord, v->ord, sizeof s->ord);
    s->c = v->c, s->h = v->h, s->w = v->w, s->f = v->f, s->pc = v->pc, s->ph = v->ph, s->pw = v->pw, s->l = v->l, s->d = v->d;
    s->dp = v->dp;
}

static kn_status read_input(imp *s) {
    const kn__onnx_value *in = NULL;
    int count = 0;
    for (int i = 0; i < s->m->n_inputs; i++)
        if (!kn__imp_constant(s, s->m->inputs[i].name)) in = &s->m->inputs[i], count++;
    if (count != 1) {
        char d[64];
        snprintf(d, sizeof d, " (this one has %d)", count);
        return kn__imp_fail(s, KN_ERR_UNSUPPORTED, "kiln imports models of one input", d);
    }
    bool ints = in->elem_type == KN__ONNX_INT64 || in->elem_type == KN__ONNX_INT32;
    bool real = in->elem_type == KN__ONNX_FLOAT || in->elem_type == KN__ONNX_FLOAT16 || in->elem_type == KN__ONNX_BFLOAT16 ||
                in->elem_type == KN__ONNX_DOUBLE; /* (kiln takes f32 rows whatever the float type) */
    if (in->elem_type && !real && !(ints && in->ndim == 2))
        return kn__imp_unsupported(s, "the input is neither float nor (batch, steps) integer token ids");
    for (int k = 1; k < in->ndim; k++)
        if (in->dims[k] < 1 || in->dims[k] > (1 << 24))
            return kn__imp_fail(s, KN_ERR_UNSUPPORTED, "the input's dimensions after the batch must be fixed sizes", NULL);
    s->in_ndim = in->ndim;
    s->excl = true;
    if (in->ndim == 3) {
        kn_status st = kn__imp_seq_input(s, in);
        if (st) return st;
    } else if (in->ndim == 2) {
        s->ids = ints;
        s->f = s->in_dims[0] = in->dims[1];
    } else if (in->ndim == 5) { /* (N, C, D, H, W) unless the graph transposes it first */
        kn_status st = kn__imp_volume_input(s, in);
        if (st) return st;
    } else if (in->ndim == 4) { /* (N, C, H, W) unless the graph transposes it first (resolve_layout) */
        s->image = s->ambiguous = true;
        s->c = s->in_dims[0] = in->dims[1], s->h = s->in_dims[1] = in->dims[2], s->w = s->in_dims[2] = in->dims[3];
    } else {
        return kn__imp_fail(s, KN_ERR_UNSUPPORTED, "kiln imports inputs of (batch, n) features or token ids, (batch, C, L) or "
                            "(batch, L, C) sequences, (batch, C, H, W) images or (batch, C, D, H, W) volumes", NULL);
    }
    s->src_layer = -1;
    return kn__imp_add_value(s, in->name);
}

/* Mul, Add or Sub of an image (batch, C, H, W) and (batch, C, 1, 1) features, ONNX's
 * broadcast (squeeze-and-excitation's channel gates): the features as a (1, 1, C) image
 * (reshape), then the merge, which broadcasts them over the image's H x W. */
static kn_status read_channel_broadcast(imp *s, const char *type, const imp_value *img, const imp_value *vec, bool vec_first) {
    int img_layer = img->layer;
    int64_t C = vec->f, H = img->h, W = img->w;
    kn__imp_load_value(s, vec);
    imp_layer *R = kn__imp_add_layer(s, "reshape");
    cJSON *target = R ? cJSON_CreateArray() : NULL;
    if (!target) return kn__imp_oom(s);
    cJSON_AddItemToObject(R->json, "target_shape", target);
    for (int k = 0; k < 3; k++) cJSON_AddItemToArray(target, cJSON_CreateNumber(k < 2 ? 1.0 : (double)C));
    int gates = s->src_layer, from[2] = {vec_first ? gates : img_layer, vec_first ? img_layer : gates};
    if (!kn__imp_add_layer_from(s, type, from, 2)) return kn__imp_oom(s);
    s->image = true, s->nhwc = false, s->perm = false, s->units = 0;
    s->c = C, s->h = H, s->w = W, s->f = 0;
    s->nonneg = img->nonneg && vec->nonneg && strcmp(type, "multiply") == 0;
    return KN_OK;
}

/* Whether image b broadcasts over image a as kiln's merges do (per sample, ONNX's rule for
 * two images in the same order): (1, 1) positions and a's channels, or a's positions and
 * one channel. */
static bool image_broadcasts(const imp_value *a, const imp_value *b) {
    if (!a->image || !b->image || a->nhwc != b->nhwc || a->perm || b->perm || a->ambiguous || b->ambiguous) return false;
    return (b->h == 1 && b->w == 1 && b->c == a->c && (a->h > 1 || a->w > 1)) ||
           (b->h == a->h && b->w == a->w && b->c == 1 && a->c > 1);
}

/* A merge of the node's inputs, all values of the graph: Add, Sub, Mul, Max, Mean, Sum of
 * equal shapes (kiln's add, subtract, multiply, maximum, average; but Max, an image and
 * another broadcast over it: (1, 1) positions or one channel), Concat along the channels
 * (axis 1 of NCHW, kiln's last) or the features. */
static kn_status read_merge(imp *s, const char *type) {
    const kn__onnx_node *nd = s->node;
    const imp_value *v[64] = {NULL};
    int n = nd->n_inputs;
    bool concat = strcmp(type, "concatenate") == 0, tokens = false;
    kn_status tst = concat ? kn__imp_read_token_concat(s, &tokens) : KN_OK;
    if (tst || tokens) return tst;
    if (n == 1 && strcmp(type, "concatenate") == 0) { /* torch.cat of one tensor: that tensor */
        const imp_value *v0 = kn__imp_find_value(s, nd->inputs[0]);
        if (!v0) return kn__imp_unsupported(s, "kiln merges values of the graph (an input of the model or of a layer), not constants");
        kn__imp_load_value(s, v0);
        return KN_OK;
    }
    if (n < 2 || n > (concat ? 64 : KN__MAX_INPUTS)) {
        char d[64];
        snprintf(d, sizeof d, " (%d; at most %d, a Concat 64)", n, KN__MAX_INPUTS);
        return kn__imp_fail(s, KN_ERR_UNSUPPORTED, "a merge of other than 2 to 8 inputs", d);
    }
    if (strcmp(type, "subtract") == 0 && n != 2) return kn__imp_unsupported(s, "Sub of other than 2 inputs");
    if (n == 2 && (strcmp(type, "multiply") == 0 || strcmp(type, "add") == 0 || strcmp(type, "subtract") == 0)) {
        /* an image times per-channel gates */
        const imp_value *a = kn__imp_find_value(s, nd->inputs[0]), *b = kn__imp_find_value(s, nd->inputs[1]);
        for (int k = 0; a && b && k < 2; k++) {
            const imp_value *img = k ? b : a, *vec = k ? a : b;
            if (img->image && !img->nhwc && !img->ambiguous && !vec->image && !vec->seq && !vec->ids && !vec->perm &&
                vec->units == 2 && vec->f == img->c && (img->h > 1 || img->w > 1))
                return read_channel_broadcast(s, type, img, vec, k == 1);
        }
    }
    for (int k = 0; k < n; k++) {
        if (!(v[k] = kn__imp_find_value(s, nd->inputs[k])))
            return kn__imp_unsupported(s, "kiln merges values of the graph (an input of the model or of a layer), not constants");
        if (v[k]->ambiguous && v[k]->seq)
            return kn__imp_unsupported(s, "a merge with the (N, ., .) input before the graph says which of its dimensions are the steps");
        if (v[k]->ambiguous && s->input_layout == 2)
            return kn__imp_unsupported(s, "a merge with the (N, H, W, C) input before its Transpose");
        if (v[k]->ambiguous) s->input_layout = 1;
    }
    if (concat) {
        int64_t axis = kn__imp_attr_int(nd, "axis", 1);
        int rank = (int)strlen(v[0]->ord);
        bool channels = v[0]->seq ? v[0]->d == 1 && (axis == -1 || axis == rank - 1 || (axis >= 0 && axis < rank)) &&
                                        v[0]->ord[axis < 0 ? rank - 1 : axis] == 'C'
                        : v[0]->vol   ? (v[0]->nhwc ? axis == 4 || axis == -1 : axis == 1 || axis == -4)
                        : v[0]->image && v[0]->nhwc ? axis == 3 || axis == -1
                                                    : axis == 1 || (axis == -1 && !v[0]->image);
        if (!channels) return kn__imp_unsupported(s, "Concat along other than the channels or features");
    }
    if (concat && (v[0]->half || v[1]->half)) { /* [forward, backward] of one bidirectional layer: what it holds */
        if (n != 2 || v[0]->half != 1 || v[1]->half != 2 || v[0]->layer != v[1]->layer)
            return kn__imp_unsupported(s, "a Concat of a bidirectional layer's directions other than forward then backward");
        kn__imp_load_value(s, v[0]);
        s->half = 0;
        if (s->seq) s->c *= 2;
        else s->f *= 2;
        s->L[s->src_layer].merge_open = false;
        return KN_OK;
    }
    int64_t total = 0;
    int widest = 0; /* the value whose shape the merge has: the others equal, or broadcast over it */
    bool may_broadcast = !concat && strcmp(type, "maximum") != 0 && strcmp(type, "minimum") != 0;
    for (int k = 1; k < n && may_broadcast; k++)
        if (image_broadcasts(v[k], v[widest])) widest = k;
    for (int k = 0; k < n; k++) {
        if (v[k]->ids) return kn__imp_unsupported(s, "a merge of token ids");
        if (may_broadcast && k != widest && image_broadcasts(v[widest], v[k])) continue;
        bool seq_same = v[k]->seq == v[widest]->seq &&
                        (!v[widest]->seq || (strcmp(v[k]->ord, v[widest]->ord) == 0 && v[k]->l == v[widest]->l && v[k]->d == v[widest]->d));
        bool grid = v[widest]->image || v[widest]->vol; /* (a volume's positions: its depth too) */
        bool same = seq_same && v[k]->image == v[widest]->image && v[k]->vol == v[widest]->vol && v[k]->nhwc == v[widest]->nhwc &&
                    (grid ? v[k]->h == v[widest]->h && v[k]->w == v[widest]->w && v[k]->dp == v[widest]->dp : true) &&
                    (concat || (grid || v[widest]->seq ? v[k]->c == v[widest]->c : v[k]->f == v[widest]->f));
        if (!same) return kn__imp_fail(s, KN_ERR_SHAPE, "inputs of different shapes (kiln broadcasts only (1, 1, C) gates or a one-channel map over an image)", NULL);
        if (v[k]->perm && (concat || !v[widest]->perm || v[k]->pc != v[widest]->pc || v[k]->ph != v[widest]->ph))
            return kn__imp_unsupported(s, "a merge of flattened images (kiln orders their features differently)");
        total += v[0]->image || v[0]->seq || v[0]->vol ? v[k]->c : v[k]->f;
    }
    kn__imp_load_value(s, v[widest]);
    /* a layer of at most KN__MAX_INPUTS inputs; a longer Concat (DenseNet's) as a chain of them,
     * each after the first taking the one before and the next inputs */
    for (int k = 0; k < n;) {
        int from[KN__MAX_INPUTS], taken = 0;
        if (k > 0) from[taken++] = s->src_layer;
        while (k < n && taken < KN__MAX_INPUTS) from[taken++] = v[k++]->layer;
        if (!kn__imp_add_layer_from(s, type, from, taken)) return kn__imp_oom(s);
    }
    if (concat && (s->image || s->seq || s->vol)) s->c = total;
    else if (concat) s->f = total;
    return KN_OK;
}

/* Whether op reads a value elementwise (its layout does not matter). */
static bool elementwise(const char *op, bool merge) {
    static const char *const ops[] = {"Relu", "Sigmoid", "Tanh", "Softplus", "Softsign", "Mish", "HardSwish", "Exp",
                                      "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Gelu", "Clip", "Dropout", "Identity", "Cast"};
    if (!merge && (strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0 || strcmp(op, "Div") == 0))
        return true;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (strcmp(op, ops[i]) == 0) return true;
    return false;
}

/* The node reads the input (or an elementwise function of it) whose order is not yet known:
 * a Transpose to (N, C, H, W) says it is (N, H, W, C), any other op that it is (N, C, H, W);
 * the graph must read it one way. */
static kn_status resolve_layout(imp *s, const char *op) {
    if (s->seq) return kn__imp_resolve_seq(s, op);
    if (s->vol) return kn__imp_resolve_volume(s, op);
    const kn__onnx_attr *p = kn__onnx_attr_get(s->node, "perm");
    bool to_nchw = strcmp(op, "Transpose") == 0 && p && p->kind == KN__ONNX_ATTR_INTS && p->n == 4 && p->ints[0] == 0 &&
                   p->ints[1] == 3 && p->ints[2] == 1 && p->ints[3] == 2;
    int want = to_nchw || strcmp(s->m->producer, "kiln") == 0 ? 2 : 1; /* (kiln export's images are (N, H, W, C)) */
    if (s->input_layout && s->input_layout != want)
        return kn__imp_unsupported(s, "the graph reads its input both as (N, C, H, W) and as (N, H, W, C)");
    s->input_layout = want;
    if (want == 2) { /* dimensions 1, 2, 3 are H, W, C */
        int64_t d1 = s->c, d2 = s->h, d3 = s->w;
        s->h = d1, s->w = d2, s->c = d3;
        s->nhwc = true;
    }
    s->ambiguous = false;
    return KN_OK;
}

/* input_shape: [n], [L, C], [H, W, C] or [D, H, W, C] as the graph reads the sequences,
 * images or volumes. */
static kn_status write_input_shape(imp *s) {
    cJSON *shape = cJSON_AddArrayToObject(s->desc, "input_shape");
    if (!shape) return kn__imp_oom(s);
    const int64_t *d = s->in_dims;
    int64_t v[4] = {d[0], 0, 0, 0};
    if (s->in_ndim == 5 && s->input_layout == 2) v[0] = d[0], v[1] = d[1], v[2] = d[2], v[3] = d[3];
    else if (s->in_ndim == 5) v[0] = d[1], v[1] = d[2], v[2] = d[3], v[3] = d[0]; /* (C, D, H, W) read as (D, H, W, C) */
    else if (s->in_ndim == 4 && s->input_layout == 2) v[0] = d[0], v[1] = d[1], v[2] = d[2];
    else if (s->in_ndim == 4) v[0] = d[1], v[1] = d[2], v[2] = d[0];
    else if (s->in_ndim == 3 && s->input_layout == 1) v[0] = d[1], v[1] = d[0]; /* (C, L) read as (L, C) */
    else if (s->in_ndim == 3) v[0] = d[0], v[1] = d[1];
    for (int k = 0; k < s->in_ndim - 1; k++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)v[k]));
    return KN_OK;
}

/* An Add of a constant (L, C) table to a sequence (N, L, C) (or (L, N, C), the table (L, 1,
 * C)), a learned position embedding: position_embedding, its table kiln's embeddings. */
static kn_status read_position_table(imp *s, const kn__onnx_tensor *t) {
    int64_t dims[KN__ONNX_MAX_DIMS], n = 0; /* the table's dimensions other than 1 */
    for (int k = 0; k < t->ndim; k++)
        if (t->dims[k] != 1) dims[n++] = t->dims[k];
    bool nlc = strcmp(s->ord, "NLC") == 0 && t->ndim <= 3, lnc = strcmp(s->ord, "LNC") == 0 && t->ndim == 3 && t->dims[1] == 1;
    if (s->d != 1 || !(nlc || lnc) || (n == 2 && (dims[0] != s->l || dims[1] != s->c)) || n < 1 || n > 2 ||
        (n == 1 && s->l != 1 && s->c != 1))
        return kn__imp_unsupported(s, "kiln adds a constant to a sequence (batch, L, C) only as an (L, C) table (a "
                                      "position embedding)");
    imp_layer *L = kn__imp_add_layer(s, "position_embedding");
    float *e = L ? kn__imp_add_param(L, "embeddings", t->numel) : NULL;
    if (!e) return kn__imp_oom(s);
    memcpy(e, t->f, (size_t)t->numel * sizeof *e);
    return KN_OK;
}

/* x * c, x / c, x + c, x - c, c - x for a constant scalar c: Keras's rescaling (x scale +
 * offset); an Add into the bias of the layer before when it can take it. */
static kn_status read_scalar_op(imp *s) {
    const kn__onnx_node *nd = s->node;
    const char *op = nd->op;
    int ci = nd->n_inputs == 2 && strcmp(nd->inputs[0], s->cur) == 0 ? 1 : 0;
    const kn__onnx_tensor *c = nd->n_inputs == 2 ? kn__imp_const_input(s, ci, -1) : NULL;
    imp_layer *P = kn__imp_producer(s);
    if (strcmp(op, "Add") == 0 && P && P->weighted && !P->has_act && !P->has_bias) return read_add(s);
    if (strcmp(op, "Add") == 0 && c && s->seq && c->numel == s->l * s->c && c->numel > 1) return read_position_table(s, c);
    int64_t chans = s->image || s->seq || s->vol ? s->c : s->f;
    const char *ptype = P ? cJSON_GetObjectItemCaseSensitive(P->json, "type")->valuestring : "";
    bool columns = strcmp(ptype, "dense") == 0 || strcmp(ptype, "conv2d") == 0 || strcmp(ptype, "conv1d") == 0 ||
                   strcmp(ptype, "conv3d") == 0 || strcmp(ptype, "time_distributed") == 0; /* (kernels whose columns are the output channels) */
    bool last = (!s->image && !s->seq && !s->vol && s->units <= 0) || ((s->image || s->vol) && s->nhwc) ||
                (s->seq && s->ord[strlen(s->ord) - 1] == 'C');
    /* (C, 1, 1) over (N, C, H, W); (C, 1, 1, 1) over (N, C, D, H, W); (C, 1) over (N, C, L) */
    int first_rank = s->image || s->units == 2 ? 3 : s->vol || s->units == 3 ? 4 : 2;
    bool per_channel = c && c->f && c->numel == chans && chans > 1 && c->ndim >= 1 &&
                       (last ? c->dims[c->ndim - 1] == chans : c->ndim == first_rank && c->dims[0] == chans);
    if (strcmp(op, "Mul") == 0 && per_channel && P && P->weighted && !P->has_act && !P->rnn && columns &&
        kn__imp_param_of(P, "kernel")) {
        /* a per-channel scale (ConvNeXt's layer scale) into the weighted layer before: its kernel's
         * columns and bias times the scale */
        float *kern = kn__imp_param_of(P, "kernel"), *bias = kn__imp_param_of(P, "bias");
        for (int k = 0; k < P->n_params; k++)
            if (P->data[k] == kern)
                for (int64_t j = 0; j < P->n[k]; j++) kern[j] *= c->f[j % chans];
        for (int64_t j = 0; bias && j < chans; j++) bias[j] *= c->f[j];
        return KN_OK;
    }
    if (!c || c->numel != 1)
        return kn__imp_unsupported(s, "kiln takes a constant operand as a scalar (rescaling) or, for Add, as the bias of the "
                              "dense or convolution layer making the other");
    double v = c->f[0], scale = 1, offset = 0;
    if (strcmp(op, "Mul") == 0) scale = v;
    else if (strcmp(op, "Div") == 0 && ci == 1 && v != 0) scale = 1.0 / v;
    else if (strcmp(op, "Add") == 0) offset = v;
    else if (strcmp(op, "Sub") == 0) scale = ci == 1 ? 1 : -1, offset = ci == 1 ? -v : v;
    else return kn__imp_unsupported(s, "a division by the value (or by 0)");
    imp_layer *L = kn__imp_add_layer(s, "rescaling");
    if (!L || !cJSON_AddNumberToObject(L->json, "scale", scale) || !cJSON_AddNumberToObject(L->json, "offset", offset))
        return kn__imp_oom(s);
    return KN_OK;
}

/* Transpose between (N, C, H, W) and (N, H, W, C), as tf2onnx wraps a Keras model's
 * convolutions: no layer (kiln's images are (H, W, C) whichever order ONNX sees). */
/* A Transpose of an image in kiln's order (N, H, W, C) by perm (its 3 axes after the batch,
 * 1-based): Keras's permute, the value still in kiln's order, its axes reordered. */
static kn_status read_permute(imp *s, const int64_t *perm) {
    int64_t dims[3] = {s->h, s->w, s->c};
    bool seen[4] = {false};
    for (int k = 0; k < 3; k++) {
        if (perm[k] < 1 || perm[k] > 3 || seen[perm[k]]) return kn__imp_unsupported(s, "a Transpose whose perm is no permutation");
        seen[perm[k]] = true;
    }
    imp_layer *L = kn__imp_add_layer(s, "permute");
    cJSON *d = L ? cJSON_CreateArray() : NULL;
    if (!d) return kn__imp_oom(s);
    cJSON_AddItemToObject(L->json, "dims", d);
    for (int k = 0; k < 3; k++) cJSON_AddItemToArray(d, cJSON_CreateNumber((double)perm[k]));
    s->h = dims[perm[0] - 1], s->w = dims[perm[1] - 1], s->c = dims[perm[2] - 1];
    return KN_OK;
}

static kn_status read_transpose(imp *s) {
    const kn__onnx_attr *p = kn__onnx_attr_get(s->node, "perm");
    bool to_nchw = p && p->kind == KN__ONNX_ATTR_INTS && p->n == 4 && p->ints[0] == 0 && p->ints[1] == 3 &&
                   p->ints[2] == 1 && p->ints[3] == 2;
    bool to_nhwc = p && p->kind == KN__ONNX_ATTR_INTS && p->n == 4 && p->ints[0] == 0 && p->ints[1] == 2 &&
                   p->ints[2] == 3 && p->ints[3] == 1;
    if (s->image && s->nhwc && to_nchw) s->nhwc = false;
    else if (s->image && !s->nhwc && to_nhwc) s->nhwc = true;
    else if (!s->image && !s->seq && s->units == 2 && to_nhwc) s->units = -2; /* a global pool's (N, C, 1, 1) as (N, 1, 1, C) */
    else if (!s->image && !s->seq && s->units == -2 && to_nchw) s->units = 2;
    else if (s->image && s->nhwc && p && p->kind == KN__ONNX_ATTR_INTS && p->n == 4 && p->ints[0] == 0)
        return read_permute(s, p->ints + 1); /* another order of an image held in kiln's: a permute layer */
    else return kn__imp_unsupported(s, "kiln reads a Transpose only between (N, C, H, W) and (N, H, W, C), or of "
                                       "an (N, H, W, C) image's axes after the batch");
    return KN_OK;
}

/* The node's merge layer type, or NULL when it is not a merge of values (an Add of a
 * constant is a bias). */
static const char *merge_type(const imp *s, const kn__onnx_node *nd) {
    static const char *const ops[][2] = {{"Add", "add"},         {"Sub", "subtract"}, {"Mul", "multiply"},
                                         {"Max", "maximum"},     {"Min", "minimum"},      {"Mean", "average"},
                                         {"Sum", "add"},         {"Concat", "concatenate"}};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (strcmp(nd->op, ops[i][0]) != 0) continue;
        int values = 0;
        for (int k = 0; k < nd->n_inputs; k++) values += kn__imp_find_value(s, nd->inputs[k]) != NULL;
        return values >= 2 || strcmp(nd->op, "Concat") == 0 ? ops[i][1] : NULL;
    }
    return NULL;
}

/* ------------------------------------------------------------- layer normalization */

/* Whether axis is the channels of the value (features, a sequence's C, an image's C): the
 * axis kiln's layer_normalization normalizes. */
bool kn__imp_channel_axis(const imp *s, int64_t axis) {
    if (s->ids || s->perm) return false;
    if (s->seq) {
        int r = (int)strlen(s->ord);
        if (axis < 0) axis += r;
        return s->d == 1 && axis >= 0 && axis < r && s->ord[axis] == 'C';
    }
    if (s->image) return s->nhwc ? axis == 3 || axis == -1 : axis == 1 || axis == -3;
    if (s->units == -2) return axis == 3 || axis == -1; /* (N, 1, 1, f) */
    return !s->units && (axis == 1 || axis == -1);
}

/* A layer_normalization layer over the channels: epsilon, gamma and beta (C values, or NULL). */
static kn_status add_layer_norm(imp *s, float eps, const kn__onnx_tensor *gamma, const kn__onnx_tensor *beta) {
    int64_t C = s->image || s->seq ? s->c : s->f;
    imp_layer *L = kn__imp_add_layer(s, "layer_normalization");
    if (!L || !cJSON_AddNumberToObject(L->json, "epsilon", eps) || !cJSON_AddBoolToObject(L->json, "center", beta != NULL) ||
        !cJSON_AddBoolToObject(L->json, "scale", gamma != NULL))
        return kn__imp_oom(s);
    const kn__onnx_tensor *p[2] = {gamma, beta};
    static const char *const what[2] = {"gamma", "beta"};
    for (int k = 0; k < 2; k++) {
        float *d = p[k] ? kn__imp_add_param(L, what[k], C) : NULL;
        if (p[k] && !d) return kn__imp_oom(s);
        for (int64_t j = 0; d && j < C; j++) d[j] = p[k]->f[p[k]->numel == 1 ? 0 : j];
    }
    return KN_OK;
}

/* LayerNormalization (opset 17): over the channels, its scale and bias constants. */
static kn_status read_layer_norm(imp *s) {
    int64_t C = s->image || s->seq ? s->c : s->f;
    const kn__onnx_tensor *g = kn__imp_const_input(s, 1, -1), *b = kn__imp_const_input(s, 2, -1);
    if (!kn__imp_channel_axis(s, kn__imp_attr_int(s->node, "axis", -1)))
        return kn__imp_unsupported(s, "a layer norm over other than the channels (kiln's is over the last axis)");
    if (!g || (g->numel != C && g->numel != 1) || (s->node->n_inputs > 2 && s->node->inputs[2][0] && (!b || (b->numel != C && b->numel != 1))))
        return kn__imp_unsupported(s, "Scale and B must be constants of one value per channel");
    for (int k = 1; k < s->node->n_outputs; k++)
        if (s->node->outputs[k][0] && kn__imp_readers(s->m, s->node->outputs[k]))
            return kn__imp_unsupported(s, "the mean and inverse deviation outputs");
    return add_layer_norm(s, kn__imp_attr_float(s->node, "epsilon", 1e-5f), g, b);
}

/* Node nd is `op` reading a and b in that order (b = NULL: a only), whatever other inputs. */
static bool node_is(const kn__onnx_node *nd, const char *op, const char *a, const char *b) {
    return strcmp(nd->op, op) == 0 && nd->n_inputs >= (b ? 2 : 1) && strcmp(nd->inputs[0], a) == 0 &&
           (!b || strcmp(nd->inputs[1], b) == 0);
}

/* ReduceMean over one axis keeping it: that axis, or INT64_MIN. */
int64_t kn__imp_reduce_axis(const imp *s, const kn__onnx_node *nd) {
    const kn__onnx_attr *a = kn__onnx_attr_get(nd, "axes");
    const kn__onnx_tensor *t = nd->n_inputs > 1 && nd->inputs[1][0] ? kn__imp_constant(s, nd->inputs[1]) : NULL;
    if (kn__imp_attr_int(nd, "keepdims", 1) != 1) return INT64_MIN;
    if (a && a->kind == KN__ONNX_ATTR_INTS && a->n == 1) return a->ints[0];
    if (!a && t && t->i && t->numel == 1) return t->i[0];
    return INT64_MIN;
}

/* Layer normalization as PyTorch (opset < 17) and kiln export spell it, from node i over x:
 * m = ReduceMean(x), d = x - m, v = ReduceMean(d d or d^2), y = d / Sqrt(v + eps), then
 * optionally Mul gamma and Add beta (one value per channel). The layer, and the nodes it
 * spans in *count; *count = 0 when node i does not begin one. */
static kn_status layer_norm_pattern(imp *s, int i, int *count) {
    const kn__onnx_model *m = s->m;
    const kn__onnx_node *nd[9] = {NULL};
    int n = 0, at[9] = {0};
    *count = 0;
    for (int j = i; n < 9 && j < m->n_nodes; j++)
        if (strcmp(m->nodes[j].op, "Constant") != 0 && m->nodes[j].n_outputs >= 1) nd[n] = &m->nodes[j], at[n++] = j;
    const char *x = s->cur;
    if (n < 7 || strcmp(nd[0]->op, "ReduceMean") != 0 || !kn__imp_channel_axis(s, kn__imp_reduce_axis(s, nd[0]))) return KN_OK;
    const char *mean = nd[0]->outputs[0], *d = nd[1]->outputs[0];
    const kn__onnx_tensor *two = nd[2]->n_inputs == 2 ? kn__imp_constant(s, nd[2]->inputs[1]) : NULL;
    bool sq = node_is(nd[2], "Mul", d, d) || (node_is(nd[2], "Pow", d, NULL) && two && two->numel == 1 &&
                                              ((two->f && two->f[0] == 2) || (two->i && two->i[0] == 2)));
    const kn__onnx_tensor *eps = nd[4]->n_inputs == 2 ? kn__imp_constant(s, nd[4]->inputs[1]) : NULL;
    bool ok = node_is(nd[1], "Sub", x, mean) && sq && node_is(nd[3], "ReduceMean", nd[2]->outputs[0], NULL) &&
              kn__imp_reduce_axis(s, nd[3]) == kn__imp_reduce_axis(s, nd[0]) && node_is(nd[4], "Add", nd[3]->outputs[0], NULL) && eps &&
              eps->f && eps->numel == 1 && eps->f[0] > 0 && node_is(nd[5], "Sqrt", nd[4]->outputs[0], NULL) &&
              node_is(nd[6], "Div", d, nd[5]->outputs[0]) && kn__imp_readers(m, x) >= 2 && kn__imp_readers(m, mean) == 1 &&
              kn__imp_readers(m, d) == (strcmp(nd[2]->op, "Mul") == 0 ? 3 : 2);
    for (int k = 2; ok && k < 6; k++) ok = kn__imp_readers(m, nd[k]->outputs[0]) == 1;
    if (!ok) return KN_OK;
    /* Mul by gamma, Add of beta: constants of one value per channel (C, or (C, 1, 1) over NCHW) */
    int64_t C = s->image || s->seq ? s->c : s->f;
    const kn__onnx_tensor *p[2] = {NULL, NULL};
    int last = 6;
    static const char *const ops[2] = {"Mul", "Add"};
    for (int k = 0; k < 2 && last + 1 < n; k++) {
        const kn__onnx_node *q = nd[last + 1];
        const char *prev = nd[last]->outputs[0];
        if (strcmp(q->op, ops[k]) != 0 || q->n_inputs != 2 || kn__imp_readers(m, prev) != 1) continue;
        int other = strcmp(q->inputs[0], prev) == 0 ? 1 : strcmp(q->inputs[1], prev) == 0 ? 0 : -1;
        const kn__onnx_tensor *t = other < 0 ? NULL : kn__imp_constant(s, q->inputs[other]);
        if (!t || !t->f || t->numel != C) continue;
        p[k] = t;
        last++;
    }
    kn_status st = add_layer_norm(s, eps->f[0], p[0], p[1]);
    if (!st) *count = at[last] - i + 1;
    return st;
}

/* Whether node j reads `a` and `b` (in either order), two inputs. */
static bool reads_pair(const kn__onnx_node *nd, const char *a, const char *b) {
    return nd->n_inputs == 2 && ((strcmp(nd->inputs[0], a) == 0 && strcmp(nd->inputs[1], b) == 0) ||
                                 (strcmp(nd->inputs[1], a) == 0 && strcmp(nd->inputs[0], b) == 0));
}

/* Whether node nd is `op` of value `in` and a constant scalar near v (either order). */
static bool op_by(const imp *s, const kn__onnx_node *nd, const char *op, const char *in, double v) {
    if (strcmp(nd->op, op) != 0 || nd->n_inputs != 2) return false;
    int k = strcmp(nd->inputs[0], in) == 0 ? 1 : strcmp(nd->inputs[1], in) == 0 ? 0 : -1;
    const kn__onnx_tensor *c = k < 0 ? NULL : kn__imp_constant(s, nd->inputs[k]);
    return c && c->f && c->numel == 1 && near(c->f[0], (float)v) && (strcmp(op, "Div") != 0 || k == 1);
}

/* An activation ONNX spells in several nodes from node i over its input x: silu x sigmoid(x)
 * (PyTorch's SiLU), hard_silu x hard_sigmoid(x) (Hardswish before opset 14), mish x
 * tanh(softplus(x)), gelu 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's GELU, kiln export's). Its
 * kiln name and the nodes it spans, or NULL. The nodes follow each other (Constant nodes
 * aside), each read by the next only, and x by the first and the multiplication only. */
static const char *activation_pattern(const imp *s, int i, int *count) {
    const kn__onnx_model *m = s->m;
    const kn__onnx_node *nd[5] = {NULL};
    int n = 0, at[5] = {0}; /* at[k]: node k's index */
    for (int j = i; n < 5 && j < m->n_nodes; j++) {
        if (strcmp(m->nodes[j].op, "Constant") == 0) continue;
        nd[n] = &m->nodes[j], at[n] = j;
        if (nd[n]->n_outputs < 1 || !nd[n]->outputs[0][0]) break;
        if (n && (kn__imp_readers(m, nd[n - 1]->outputs[0]) != 1 || !(nd[n]->n_inputs >= 1 &&
                  (strcmp(nd[n]->inputs[0], nd[n - 1]->outputs[0]) == 0 ||
                   (nd[n]->n_inputs == 2 && strcmp(nd[n]->inputs[1], nd[n - 1]->outputs[0]) == 0)))))
            break;
        n++;
    }
    const char *x = s->cur, *op = n ? nd[0]->op : "";
    if (kn__imp_readers(m, x) != 2 || n < 2) return NULL;
    if (strcmp(op, "Sigmoid") == 0 && reads_pair(nd[1], x, nd[0]->outputs[0]) && strcmp(nd[1]->op, "Mul") == 0)
        return *count = at[1] - i + 1, "silu";
    if (strcmp(op, "HardSigmoid") == 0 && strcmp(nd[1]->op, "Mul") == 0 && reads_pair(nd[1], x, nd[0]->outputs[0]) &&
        near(kn__imp_attr_float(nd[0], "alpha", 0.2f), 1.0f / 6) && near(kn__imp_attr_float(nd[0], "beta", 0.5f), 0.5f))
        return *count = at[1] - i + 1, "hard_silu";
    if (strcmp(op, "Softplus") == 0 && n >= 3 && strcmp(nd[1]->op, "Tanh") == 0 && strcmp(nd[2]->op, "Mul") == 0 &&
        reads_pair(nd[2], x, nd[1]->outputs[0]))
        return *count = at[2] - i + 1, "mish";
    if (n == 5 && (op_by(s, nd[0], "Mul", x, M_SQRT1_2) || op_by(s, nd[0], "Div", x, M_SQRT2)) &&
        strcmp(nd[1]->op, "Erf") == 0 && op_by(s, nd[2], "Add", nd[1]->outputs[0], 1.0) && strcmp(nd[3]->op, "Mul") == 0 &&
        reads_pair(nd[3], x, nd[2]->outputs[0]) && op_by(s, nd[4], "Mul", nd[3]->outputs[0], 0.5))
        return *count = at[4] - i + 1, "gelu";
    return NULL;
}

static kn_status read_nodes(imp *s) {
    const kn__onnx_model *m = s->m;
    for (int i = 0; i < m->n_nodes; i++) {
        const kn__onnx_node *nd = &m->nodes[i];
        s->node = nd, s->node_index = i;
        const char *op = nd->op;
        if (strcmp(op, "Constant") == 0) continue;
        if ((strcmp(op, "Identity") == 0 || strcmp(op, "Cast") == 0) && nd->n_inputs == 1 && kn__imp_constant(s, nd->outputs[0]))
            continue; /* a constant's alias, or one cast to another float type */
        if (s->read_ahead && s->read_ahead[i]) continue; /* (read with an earlier node) */
        int region = s->attn_region ? s->attn_region[i] : -1;
        if (region >= 0) { /* attention, read whole at its last node */
            kn_status ast = i == s->attn_end[region] ? kn__imp_read_attention(s, region) : KN_OK;
            if (ast) return ast;
            continue;
        }
        if (nd->domain[0] && strcmp(nd->domain, "ai.onnx") != 0) return kn__imp_unsupported(s, "an op outside ONNX's default domain");
        if (nd->n_outputs < 1 || !nd->outputs[0][0]) return kn__imp_fail(s, KN_ERR_FORMAT, "no output", NULL);
        bool skipped = false;
        kn_status sst = kn__imp_shape_node(s, &skipped); /* shape arithmetic, not data */
        if (sst) return sst;
        if (skipped) continue;
        /* the value it reads: its first input that is one (an Add's bias may come first) */
        const imp_value *in = NULL;
        for (int k = 0; k < nd->n_inputs && !in; k++) in = kn__imp_find_value(s, nd->inputs[k]);
        if (!in) return kn__imp_unsupported(s, "it reads no value of the graph (only constants, or values kiln did not import)");
        kn__imp_load_value(s, in);
        int in_layer = s->src_layer;
        bool in_sole = s->sole;
        s->out_slot = 0;
        const char *merge = merge_type(s, nd);
        if (in->half && !(merge && strcmp(op, "Concat") == 0))
            return kn__imp_unsupported(s, "one direction of a bidirectional layer's states, read other than concatenated "
                                          "with the other (kiln's layer gives them side by side)");
        kn_status lst = s->ambiguous && !elementwise(op, merge != NULL) ? resolve_layout(s, op) : KN_OK;
        if (lst) return lst;
        /* an activation spelled in several nodes (x * sigmoid(x), ...) */
        int pattern_nodes = 0;
        const char *pattern = activation_pattern(s, i, &pattern_nodes);
        if (pattern) s->sole = in->excl && kn__imp_readers(m, s->cur) == 2; /* the pattern is the only reader */
        kn_status st = KN_OK;
        /* a volume: onnx_import_volume.c reads the node, or leaves it to the elementwise and
         * merge readers here (vol_node false), or refuses it */
        bool vol_node = false, plain = !pattern && !s->vol; /* (no pattern below reads a volume) */
        if (!pattern && s->vol && (st = kn__imp_read_volume(s, op, merge != NULL, &vol_node))) return st;
        int ln_nodes = 0; /* a layer or group norm spelled in nodes */
        if (plain && strcmp(op, "ReduceMean") == 0 && (st = layer_norm_pattern(s, i, &ln_nodes))) return st;
        if (plain && strcmp(op, "Reshape") == 0 && (st = kn__imp_group_norm_pattern(s, i, &ln_nodes))) return st;
        if (plain && !ln_nodes && strcmp(op, "Mul") == 0 && (st = kn__imp_dot_pattern(s, i, &ln_nodes))) return st;
        if (plain && (strcmp(op, "ReduceSumSquare") == 0 || strcmp(op, "ReduceL2") == 0) &&
            (st = kn__imp_unit_norm_pattern(s, i, &ln_nodes)))
            return st;
        bool handled = true, in_nonneg = s->nonneg, seq_node = false;
        if (plain && !ln_nodes && !merge && (st = kn__imp_read_seq(s, op, &seq_node))) return st;
        if (vol_node) {
            /* read by onnx_import_volume.c */
        } else if (ln_nodes) {
            i += ln_nodes - 1; /* the pattern's last node makes its output */
            nd = &m->nodes[i];
        } else if (seq_node) {
            /* read by onnx_import_seq.c */
        } else if (pattern) {
            st = activation(s, pattern, 0);
            i += pattern_nodes - 1; /* the pattern's last node makes its output */
            nd = &m->nodes[i];
        } else if (merge) {
            st = read_merge(s, merge);
        } else if (strcmp(op, "Gemm") == 0) {
            st = read_gemm(s);
        } else if (strcmp(op, "MatMul") == 0) {
            st = read_matmul(s);
        } else if (strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0 || strcmp(op, "Div") == 0) {
            st = read_scalar_op(s);
        } else if (strcmp(op, "Transpose") == 0) {
            st = read_transpose(s);
        } else if (strcmp(op, "Conv") == 0) {
            st = kn__imp_read_conv(s);
        } else if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0) {
            st = kn__imp_read_pool(s, op[0] == 'M');
        } else if (strcmp(op, "GlobalAveragePool") == 0 || strcmp(op, "GlobalMaxPool") == 0) {
            st = kn__imp_read_global_pool(s, op[6] == 'M');
        } else if (strcmp(op, "BatchNormalization") == 0) {
            st = kn__imp_read_batch_norm(s);
        } else if (strcmp(op, "LayerNormalization") == 0) {
            st = read_layer_norm(s);
        } else if (strcmp(op, "InstanceNormalization") == 0) {
            st = kn__imp_read_instance_norm(s);
        } else if (strcmp(op, "ConvTranspose") == 0) {
            st = kn__imp_read_conv_transpose(s);
        } else if (strcmp(op, "Resize") == 0 || strcmp(op, "Upsample") == 0) {
            st = kn__imp_read_resize(s);
        } else if (strcmp(op, "Slice") == 0) {
            st = kn__imp_read_slice(s);
        } else if (strcmp(op, "Split") == 0) {
            st = kn__imp_read_split(s);
        } else if (strcmp(op, "PRelu") == 0) {
            st = kn__imp_read_prelu(s);
        } else if (strcmp(op, "Pad") == 0) {
            st = kn__imp_read_pad(s);
        } else if (strcmp(op, "Flatten") == 0) {
            st = read_flatten(s);
        } else if (strcmp(op, "Reshape") == 0) {
            st = read_reshape(s);
        } else if (strcmp(op, "Dropout") == 0 || strcmp(op, "Identity") == 0) {
            const kn__onnx_tensor *mode = nd->n_inputs > 2 ? kn__imp_constant(s, nd->inputs[2]) : NULL;
            if (mode && ((mode->i && mode->i[0]) || (mode->f && mode->f[0]))) st = kn__imp_unsupported(s, "training_mode = true");
            if (nd->n_outputs > 1 && nd->outputs[1][0] && kn__imp_readers(m, nd->outputs[1])) st = kn__imp_unsupported(s, "the mask output");
        } else {
            st = read_activation(s, op, &handled);
        }
        if (st) return st;
        if (!handled)
            return kn__imp_unsupported(s, "not an op kiln imports (Gemm, MatMul, Add, Sub, Mul, Div, Max, Mean, Sum, Concat, Conv, "
                                  "ConvTranspose, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, BatchNormalization, "
                                  "Flatten, Reshape, Transpose, Pad, Slice, Split, Resize, Tile, PRelu, Dropout, Identity, Constant, Gather, Cast, "
                                  "LayerNormalization, RNN, LSTM, GRU, Squeeze, Unsqueeze, ReduceMean, ReduceMax, ReduceSum, ReduceProd, Relu, LeakyRelu, Elu, Selu, Sigmoid, Tanh, "
                                  "Softmax, Softplus, Softsign, HardSigmoid, HardSwish, Mish, Gelu, Exp, Clip to [0, 6])");
        /* whether the output has no value below 0 */
        static const char *const nonneg_ops[] = {"Relu", "Sigmoid", "Softmax", "HardSigmoid", "Softplus", "Exp"};
        static const char *const keep_ops[] = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Pad", "Flatten",
                                               "Reshape", "Dropout", "Identity", "Transpose", "Slice", "Split", "Resize"};
        bool nonneg = false;
        for (size_t k = 0; k < sizeof nonneg_ops / sizeof *nonneg_ops; k++) nonneg |= !pattern && strcmp(op, nonneg_ops[k]) == 0;
        for (size_t k = 0; k < sizeof keep_ops / sizeof *keep_ops; k++) nonneg |= in_nonneg && strcmp(op, keep_ops[k]) == 0;
        nonneg |= strcmp(op, "Clip") == 0; /* (read_activation took only [0, 6]) */
        s->nonneg = nonneg;
        s->excl = s->src_layer != in_layer || in_sole; /* a new layer's output, or the old one's only path */
        if (s->out_slot >= nd->n_outputs || !nd->outputs[s->out_slot][0]) return kn__imp_fail(s, KN_ERR_FORMAT, "no output", NULL);
        if ((st = kn__imp_add_value(s, nd->outputs[s->out_slot]))) return st;
    }
    s->node = NULL;
    const imp_value *out = s->m->n_outputs == 1 ? kn__imp_find_value(s, s->m->outputs[0].name) : NULL;
    if (!out) return kn__imp_fail(s, KN_ERR_UNSUPPORTED, "kiln imports models of one output, made by the graph's nodes", NULL);
    if (!s->n) return kn__imp_fail(s, KN_ERR_UNSUPPORTED, "no layers", NULL);
    if (out->layer != s->n - 1)
        return kn__imp_fail(s, KN_ERR_UNSUPPORTED, "the output is not made by the graph's last layer (kiln's last layer is the "
                                           "model's output)", NULL);
    if (out->image || out->vol)
        return kn__imp_fail(s, KN_ERR_UNSUPPORTED, out->vol ? "the output is a volume; kiln's models end in (batch, n)"
                                                            : "the output is an image; kiln's models end in (batch, n)", NULL);
    if (out->seq || out->ids)
        return kn__imp_fail(s, KN_ERR_UNSUPPORTED, "the output is a sequence; kiln's models end in (batch, n) (pool the "
                            "steps or take one first)", NULL);
    s->f = out->f;
    return write_input_shape(s);
}

/* The loss: opts' (a cross-entropy from logits when the last layer has no softmax or
 * sigmoid), else from the last layer: softmax -> sparse categorical cross-entropy, one
 * sigmoid output -> binary cross-entropy, else mse. */
static kn_status set_loss(imp *s, const kn_onnx_opts *opts) {
    const char *act = NULL;
    for (int i = s->n - 1; i >= 0 && !act; i--) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(s->L[i].json, "activation");
        if (a && cJSON_IsString(a)) act = a->valuestring;
        else if (s->L[i].weighted) break;
    }
    bool softmax = act && strcmp(act, "softmax") == 0, sigmoid = act && strcmp(act, "sigmoid") == 0;
    const char *loss = opts && opts->loss ? opts->loss
                       : softmax           ? "sparse_categorical_crossentropy"
                       : sigmoid && s->f == 1 ? "binary_crossentropy"
                                             : "mse";
    if (!cJSON_AddStringToObject(s->desc, "loss", loss)) return kn__imp_oom(s);
    bool ce = strstr(loss, "crossentropy") != NULL;
    if (ce && !softmax && !sigmoid && !cJSON_AddTrueToObject(s->desc, "from_logits")) return kn__imp_oom(s);
    return KN_OK;
}

/* The parameters into the compiled model's flat buffer (kn__model_param_specs' layout), by
 * the names its layers give them, as kn_model_load puts a file's: no graph is built yet, so
 * the first prediction builds an inference graph over read-only weights (batch norms folded,
 * activations fused), and training, if it comes, a training graph from the same buffer. */
static kn_status set_params(imp *s, kn_model *model) {
    if (model->n_layers != s->n || model->graph)
        return kn__error(s->ctx, KN_ERR_STATE, "%s: %d layers built from %d", s->what, model->n_layers, s->n);
    int max = s->n * KN__LAYER_MAX_PARAMS + 16, used = 0;
    kn__param_spec *specs = malloc((size_t)max * sizeof *specs);
    size_t total = 0;
    int n = specs ? kn__model_param_specs(model, specs, max, &total) : 0;
    float *buf = specs && n <= max ? kn__calloc(s->ctx, total ? total : 1, sizeof(float)) : NULL;
    kn_status st = buf ? KN_OK : kn__error(s->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory for the parameters", s->what);
    for (int i = 0; !st && i < s->n; i++) {
        const kn__layer *L = &model->layers[i];
        for (int k = 0; !st && k < s->L[i].n_params; k++) {
            char name[128];
            snprintf(name, sizeof name, "%s_%d/%s", kn__layer_type(L), L->index, s->L[i].what[k]);
            int j = 0;
            while (j < n && strncmp(specs[j].name, name, sizeof specs[j].name - 1) != 0) j++;
            if (j == n || specs[j].numel != (size_t)s->L[i].n[k]) {
                st = kn__error(s->ctx, KN_ERR_STATE, "%s: parameter %s: %lld values in the model, %lld in the file", s->what,
                               name, j == n ? 0LL : (long long)specs[j].numel, (long long)s->L[i].n[k]);
                break;
            }
            memcpy(buf + specs[j].offset, s->L[i].data[k], specs[j].numel * sizeof(float));
            used++;
        }
    }
    if (!st && used != n)
        st = kn__error(s->ctx, KN_ERR_STATE, "%s: %d of the model's %d parameters came from the file", s->what, used, n);
    if (!st) {
        model->owned_params = buf;
        model->mapped_params = buf;
        model->mapped_floats = total;
    } else {
        kn__free(s->ctx, buf);
    }
    free(specs);
    return st;
}

kn_status kn_model_import_onnx_buffer(kn_ctx *ctx, const void *data, size_t size, const char *name,
                                      const kn_onnx_opts *opts, kn_model **out) {
    if (!ctx || !out || (!data && size)) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    const char *what = name ? name : "onnx";
    kn__onnx_model m;
    kn_status st = kn__onnx_parse(ctx, what, data, size, &m);
    imp s = {.ctx = ctx, .what = what, .m = &m};
    s.desc = st ? NULL : cJSON_CreateObject();
    if (!st && (!s.desc || !cJSON_AddStringToObject(s.desc, "type", "sequential") ||
                !(s.layers = cJSON_CreateArray())))
        st = kn__imp_oom(&s);
    if (!st) cJSON_AddItemToObject(s.desc, "layers", s.layers);
    if (!st && m.raw_inputs)
        st = kn__imp_fail(&s, KN_ERR_UNSUPPORTED, "the graph begins with a kiln model's CSV preprocessing (raw columns "
                          "in), which kiln import does not read: use the .kiln file, or kiln export --network-only", NULL);
    if (!st) st = kn__imp_dequantize(&s, &m);
    if (!st) st = read_input(&s);
    if (!st) st = kn__imp_find_attention(&s);
    if (!st) st = read_nodes(&s);
    if (!st) st = set_loss(&s, opts);
    char *json = st ? NULL : cJSON_PrintUnformatted(s.desc);
    if (!st && !json) st = kn__imp_oom(&s);
    kn_model *model = NULL;
    kn_spec spec;
    if (!st) st = kn_model_from_json(ctx, json, NULL, &model, &spec);
    if (!st) st = kn_model_compile(model, &spec.compile);
    if (!st) st = set_params(&s, model);
    if (!st && m.labels) { /* the class names kiln export kept (a list of strings as many as the outputs) */
        cJSON *list = cJSON_Parse(m.labels);
        int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
        const char *names[4096];
        bool ok = n > 0 && n <= 4096 && n == (int)kn_model_output_size(model);
        for (int k = 0; ok && k < n; k++) {
            const cJSON *it = cJSON_GetArrayItem(list, k);
            ok = cJSON_IsString(it);
            if (ok) names[k] = it->valuestring;
        }
        if (ok) st = kn_model_set_labels(model, names, n);
        cJSON_Delete(list);
    }
    if (st) kn_model_free(model);
    else *out = model;
    free(json);
    for (int i = 0; i < s.n; i++)
        for (int k = 0; k < s.L[i].n_params; k++) free(s.L[i].data[k]);
    free(s.L);
    free(s.vals);
    free(s.shapes);
    free(s.attn_region);
    free(s.attn_end);
    free(s.attn_near);
    free(s.attn_dot);
    free(s.read_ahead);
    cJSON_Delete(s.desc);
    kn__onnx_free(&m);
    return st;
}

kn_status kn_model_import_onnx(kn_ctx *ctx, const char *path, const kn_onnx_opts *opts, kn_model **out) {
    if (!ctx || !path || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    kn_status st = kn__read_file(ctx, path, (uint64_t)1 << 32, &buf, &n);
    if (st) return st;
    st = kn_model_import_onnx_buffer(ctx, buf, n, path, opts, out);
    kn__free(ctx, buf);
    return st;
}
