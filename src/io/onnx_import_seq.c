/* onnx_import_seq.c — the sequence half of kn_model_import_onnx (onnx_import.c walks the
 * graph and calls kn__imp_read_seq for each node first). What PyTorch's torch.onnx.export
 * and kiln export write for text and time-series models:
 *
 *   integer input (N, L), or a    token ids (no layer)
 *   Cast of features to int
 *   Gather(table, ids)            embedding (the table is kiln's embeddings, (input_dim, output_dim))
 *   RNN, LSTM, GRU                simple_rnn, lstm, gru, or bidirectional: the kernels transposed
 *                                 and their gates in Keras's order (LSTM i f c o from ONNX's
 *                                 i o f c), an LSTM's or RNN's two biases summed, a GRU's kept
 *                                 as (input, recurrent) (linear_before_reset = 1 only). Y read:
 *                                 return_sequences; Y_h read: the final state. The initial
 *                                 states must be zeros (PyTorch's ConstantOfShape of them).
 *   Gather of one step            the last step of a forward layer's Y: return_sequences false;
 *                                 another step: cropping1d and flatten
 *   Squeeze of a single direction nothing; a Reshape merging directions with the units:
 *   or step, Transpose            concat; ReduceSum / ReduceMean / ReduceProd over them: the
 *                                 bidirectional merge_mode sum / ave / mul
 *   Conv, W (F, C, K)             conv1d over (N, C, L): kernel (K*C, F); 'same', 'causal'
 *                                 (pads [span - 1, 0]) or zero_padding1d then 'valid'
 *   ConvTranspose, W (C, F, K)    conv1d_transpose 'valid' (kernel (K*F, C)), a cropping1d of its pads
 *   MaxPool, AveragePool 1-D      max_pool1d, average_pool1d
 *   GlobalAveragePool/MaxPool,    global_average_pool1d, global_max_pool1d
 *   ReduceMean/Max over the steps
 *   MatMul of (.., C) by (C, U)   time_distributed dense (its Add: the bias)
 *   Pad, Slice, Resize of steps   zero_padding1d, cropping1d, up_sampling1d (nearest)
 *   Flatten, Reshape to (N, n)    flatten (features after a 1-D convolution's (C, L) order
 *                                 reordered for the dense layer after, as for images)
 *   Reshape, Unsqueeze of         reshape to (L, C)
 *   features to 3-D
 *
 * Shape, Size and every node computing from them alone (Gather, Unsqueeze, Concat, ... of the
 * shape) are skipped: they size the zeros of a recurrent op's initial state. */
#include "io/onnx_import.h"
#include "nn/model.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- shape arithmetic */

static const imp_shape_value *find_shape(const imp *s, const char *name) {
    for (int i = 0; i < s->n_shapes; i++)
        if (strcmp(s->shapes[i].name, name) == 0) return &s->shapes[i];
    return NULL;
}

static kn_status add_shape(imp *s, const char *name, bool zeros) {
    if (s->n_shapes == s->cap_shapes) {
        int nc = s->cap_shapes ? s->cap_shapes * 2 : 16;
        imp_shape_value *p = realloc(s->shapes, (size_t)nc * sizeof *p);
        if (!p) return kn__imp_oom(s);
        s->shapes = p;
        s->cap_shapes = nc;
    }
    imp_shape_value *v = &s->shapes[s->n_shapes++];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->zeros = zeros;
    return KN_OK;
}

static bool all_zero(const kn__onnx_tensor *t) {
    for (int64_t k = 0; k < t->numel; k++)
        if ((t->f && t->f[k] != 0) || (t->i && t->i[k] != 0)) return false;
    return true;
}

/* Whether the optional input `name` is absent or zeros. */
static bool zeros_or_none(const imp *s, const char *name) {
    if (!name[0]) return true;
    const imp_shape_value *v = find_shape(s, name);
    if (v) return v->zeros;
    const kn__onnx_tensor *t = kn__imp_constant(s, name);
    return t && all_zero(t);
}

/* Shape or Size of a value, or a node computing from such values (and constants) only. */
kn_status kn__imp_shape_node(imp *s, bool *skipped) {
    const kn__onnx_node *nd = s->node;
    *skipped = false;
    if (strcmp(nd->op, "Shape") == 0 || strcmp(nd->op, "Size") == 0) {
        if (nd->n_inputs != 1 || !(kn__imp_find_value(s, nd->inputs[0]) || kn__imp_attn_internal(s, nd->inputs[0]) ||
                                   find_shape(s, nd->inputs[0])))
            return KN_OK; /* (refused as reading no value) */
    } else {
        int from_shapes = 0;
        for (int k = 0; k < nd->n_inputs; k++) {
            const char *in = nd->inputs[k];
            if (!in[0]) continue;
            if (find_shape(s, in)) from_shapes++;
            else if (!kn__imp_constant(s, in)) return KN_OK; /* it reads data */
        }
        if (!from_shapes) return KN_OK;
    }
    bool zeros = false;
    static const char *const keep_zeros[] = {"Expand", "Tile", "Reshape", "Unsqueeze", "Squeeze", "Transpose", "Cast", "Identity"};
    if (strcmp(nd->op, "ConstantOfShape") == 0) {
        const kn__onnx_attr *a = kn__onnx_attr_get(nd, "value");
        zeros = !a || (a->kind == KN__ONNX_ATTR_TENSOR && all_zero(a->t));
    }
    for (size_t k = 0; k < sizeof keep_zeros / sizeof *keep_zeros; k++)
        if (strcmp(nd->op, keep_zeros[k]) == 0 && nd->n_inputs >= 1) zeros = zeros_or_none(s, nd->inputs[0]) && nd->inputs[0][0];
    for (int k = 0; k < nd->n_outputs; k++) {
        kn_status st = nd->outputs[k][0] ? add_shape(s, nd->outputs[k], zeros) : KN_OK;
        if (st) return st;
    }
    *skipped = true;
    return KN_OK;
}

/* ------------------------------------------------------------- the order of a sequence */

static int rank(const imp *s) { return (int)strlen(s->ord); }

static void drop_axis(imp *s, int a) { memmove(&s->ord[a], &s->ord[a + 1], strlen(s->ord) - (size_t)a); }

/* An axis attribute or input (negative from the end) as an index of ord, or -1. */
static int axis_index(const imp *s, int64_t a) {
    int r = rank(s);
    if (a < 0) a += r;
    return a >= 0 && a < r ? (int)a : -1;
}

static int64_t dim_of(const imp *s, char letter) {
    return letter == 'L' ? s->l : letter == 'D' ? s->d : letter == 'C' ? s->c : -1;
}

/* A value down to (N, C) is features again. */
static void settle(imp *s) {
    if (!s->seq || strcmp(s->ord, "NC") != 0) return;
    s->seq = false;
    s->f = s->c;
    s->l = 0, s->d = 1, s->units = 0;
}

/* The directions of the bidirectional layer that made the value are concatenated (kiln's
 * layout already): its merge_mode stays concat. */
static void directions_concatenated(imp *s) {
    if (s->d > 1 && s->src_layer >= 0) s->L[s->src_layer].merge_open = false;
    s->c *= s->d;
    s->d = 1;
}

/* An ints attribute `name` or the node's input k (a constant), into axes (up to 8); -1 when
 * neither is given, -2 when it is not constant ints. */
static int axes_of(imp *s, const char *name, int k, int64_t axes[8]) {
    const kn__onnx_attr *a = kn__onnx_attr_get(s->node, name);
    if (a && a->kind == KN__ONNX_ATTR_INTS && a->n <= 8) {
        memcpy(axes, a->ints, (size_t)a->n * sizeof *axes);
        return a->n;
    }
    if (a) return -2;
    if (k >= s->node->n_inputs || !s->node->inputs[k][0]) return -1;
    const kn__onnx_tensor *t = kn__imp_constant(s, s->node->inputs[k]);
    if (!t || !t->i || t->numel > 8) return -2;
    memcpy(axes, t->i, (size_t)t->numel * sizeof *axes);
    return (int)t->numel;
}

/* ------------------------------------------------------------- the input */

/* A float input (N, d1, d2): (N, L, C) unless the graph reads it channels first (resolve). */
kn_status kn__imp_seq_input(imp *s, const kn__onnx_value *in) {
    s->seq = s->ambiguous = true;
    s->in_dims[0] = in->dims[1], s->in_dims[1] = in->dims[2];
    snprintf(s->ord, sizeof s->ord, "NLC");
    s->l = in->dims[1], s->c = in->dims[2], s->d = 1;
    return KN_OK;
}

/* The input read by a convolution, pooling or batch norm is (N, C, L); by anything else (a
 * recurrent op's Transpose, a MatMul) (N, L, C). */
kn_status kn__imp_resolve_seq(imp *s, const char *op) {
    static const char *const channels_first[] = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
                                                 "GlobalMaxPool", "BatchNormalization"};
    bool first = false;
    for (size_t k = 0; k < sizeof channels_first / sizeof *channels_first; k++) first |= strcmp(op, channels_first[k]) == 0;
    if (strcmp(s->m->producer, "kiln") == 0) first = false; /* (kiln export's sequences are (N, L, C)) */
    int want = first ? 1 : 2;
    if (s->input_layout && s->input_layout != want)
        return kn__imp_unsupported(s, "the graph reads its input both as (N, C, L) and as (N, L, C)");
    s->input_layout = want;
    if (first) {
        snprintf(s->ord, sizeof s->ord, "NCL");
        s->c = s->in_dims[0], s->l = s->in_dims[1];
    }
    s->ambiguous = false;
    return KN_OK;
}

/* ------------------------------------------------------------- token ids */

/* Cast of features to integers: token ids; of ids back to float, or floats to float: nothing. */
static kn_status read_cast(imp *s) {
    int64_t to = kn__imp_attr_int(s->node, "to", 0);
    bool to_int = to == KN__ONNX_INT64 || to == KN__ONNX_INT32;
    /* (a half-precision model's Casts to and from float16 or bfloat16: kiln computes in f32) */
    bool to_float = to == KN__ONNX_FLOAT || to == KN__ONNX_FLOAT16 || to == KN__ONNX_BFLOAT16 || to == KN__ONNX_DOUBLE;
    if (to_float) {
        s->ids = false;
        return KN_OK;
    }
    if (!to_int || s->image || s->seq)
        return kn__imp_unsupported(s, "a Cast other than of features to integers (token ids) or to a float type");
    if (s->perm) return kn__imp_unsupported(s, "token ids from a Flatten of channels");
    s->ids = true;
    return KN_OK;
}

/* Gather of a constant (input_dim, output_dim) table by the ids: embedding, (N, L, output_dim). */
static kn_status read_embedding(imp *s, const kn__onnx_tensor *T) {
    if (!s->ids)
        return kn__imp_unsupported(s, "an embedding (a Gather of a constant table) reads token ids: the model's integer "
                                      "input, or a Cast of features to integers");
    if (!T->f || T->ndim != 2 || kn__imp_attr_int(s->node, "axis", 0) != 0)
        return kn__imp_unsupported(s, "an embedding table must be a 2-D float constant, gathered along axis 0");
    imp_layer *L = kn__imp_add_layer(s, "embedding");
    float *e = L ? kn__imp_add_param(L, "embeddings", T->numel) : NULL;
    if (!e || !cJSON_AddNumberToObject(L->json, "input_dim", (double)T->dims[0]) ||
        !cJSON_AddNumberToObject(L->json, "output_dim", (double)T->dims[1]))
        return kn__imp_oom(s);
    memcpy(e, T->f, (size_t)T->numel * sizeof *e);
    s->ids = false;
    s->seq = true;
    snprintf(s->ord, sizeof s->ord, "NLC");
    s->l = s->f, s->c = T->dims[1], s->d = 1;
    return KN_OK;
}

/* ------------------------------------------------------------- steps and directions */

/* Step i of the sequence, dropping its axis a: the last step of a forward recurrent layer
 * that returns sequences makes it return that step alone; any other step is a cropping1d of
 * the others and a flatten. */
static kn_status take_step(imp *s, int a, int64_t i) {
    imp_layer *P = kn__imp_producer(s);
    if (P && P->rnn && P->rnn == P->json && i == s->l - 1) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(P->rnn, "return_sequences", cJSON_CreateFalse())) return kn__imp_oom(s);
    } else {
        imp_layer *C = s->l > 1 ? kn__imp_add_layer(s, "cropping1d") : NULL;
        if (s->l > 1 && (!C || !kn__imp_add_pair(C->json, "cropping", i, s->l - 1 - i))) return kn__imp_oom(s);
        if (!kn__imp_add_layer(s, "flatten")) return kn__imp_oom(s);
    }
    drop_axis(s, a);
    s->l = 0;
    settle(s);
    return KN_OK;
}

/* Gather of one step (or of a single direction) of a sequence by a constant scalar index; or
 * of an embedding table by the ids. */
static kn_status read_gather(imp *s) {
    const kn__onnx_node *nd = s->node;
    if (nd->n_inputs != 2) return kn__imp_fail(s, KN_ERR_FORMAT, "a Gather of other than 2 inputs", NULL);
    const kn__onnx_tensor *T = kn__imp_constant(s, nd->inputs[0]);
    if (T && strcmp(nd->inputs[1], s->cur) == 0) return read_embedding(s, T);
    const kn__onnx_tensor *ix = kn__imp_constant(s, nd->inputs[1]);
    if (!s->seq || strcmp(nd->inputs[0], s->cur) != 0 || !ix || !ix->i || ix->numel != 1 || ix->ndim != 0)
        return kn__imp_unsupported(s, "kiln reads a Gather of an embedding table by token ids, or of one step or "
                                      "direction (a constant scalar index) of a sequence");
    int a = axis_index(s, kn__imp_attr_int(nd, "axis", 0));
    char letter = a < 0 ? 0 : s->ord[a];
    if (letter != 'L' && letter != 'D') return kn__imp_unsupported(s, "a Gather along other than the steps or directions");
    int64_t size = dim_of(s, letter), i = ix->i[0] < 0 ? ix->i[0] + size : ix->i[0];
    if (i < 0 || i >= size) return kn__imp_fail(s, KN_ERR_SHAPE, "index out of range", NULL);
    if (letter == 'L') return take_step(s, a, i);
    if (s->d != 1) { /* one direction: read only by a Concat of both (read_merge) */
        imp_layer *P = s->src_layer >= 0 ? &s->L[s->src_layer] : NULL;
        if (!P || !P->merge_open || s->half)
            return kn__imp_unsupported(s, "a Gather of one direction of other than a bidirectional layer's own output");
        s->half = (int)i + 1;
        s->d = 1;
    }
    drop_axis(s, a);
    settle(s);
    return KN_OK;
}

/* Squeeze of dimensions of 1: a single direction, a single step, a global pool's 1s. */
static kn_status read_squeeze(imp *s) {
    int64_t axes[8];
    int n = axes_of(s, "axes", 1, axes);
    if (n == -2) return kn__imp_unsupported(s, "axes must be constant ints");
    if (!s->seq) {
        int r = 2 + s->units;
        bool ok = !s->image && !s->ids && s->units > 0;
        for (int k = 0; ok && k < n; k++) ok = (axes[k] < 0 ? axes[k] + r : axes[k]) >= 2;
        if (!ok) return kn__imp_unsupported(s, "a Squeeze of other than a global pool's 1s, a recurrent op's single "
                                               "direction or a single step");
        s->units = n < 0 ? 0 : s->units - n;
        if (s->units < 0) return kn__imp_fail(s, KN_ERR_SHAPE, "axes out of range", NULL);
        return KN_OK;
    }
    bool drop[IMP_ORD] = {false};
    int r = rank(s);
    for (int k = 0; k < (n < 0 ? r : n); k++) {
        int a = n < 0 ? k : axis_index(s, axes[k]);
        char letter = a < 0 ? 0 : s->ord[a];
        bool one = (letter == 'D' || letter == 'L') && dim_of(s, letter) == 1;
        if (n < 0 && !one) continue;
        if (!one) return kn__imp_unsupported(s, "a Squeeze of other than a single direction or step");
        drop[a] = true;
    }
    for (int a = r - 1; a >= 0; a--) {
        if (!drop[a]) continue;
        if (s->ord[a] == 'L' && !kn__imp_add_layer(s, "flatten")) return kn__imp_oom(s);
        if (s->ord[a] == 'L') s->l = 0;
        drop_axis(s, a);
    }
    settle(s);
    return KN_OK;
}

/* ReduceMean / ReduceMax over the steps (keepdims 0) or an image's height and width: global
 * pooling; ReduceSum / ReduceMean / ReduceProd over a bidirectional layer's directions: its
 * merge_mode. */
static kn_status read_reduce(imp *s, const char *kind) {
    int64_t axes[8];
    int n = axes_of(s, "axes", 1, axes);
    if (s->image) { /* over both spatial axes: global pooling (torchvision's x.mean([2, 3])) */
        int64_t h = s->nhwc ? 1 : 2, sum = 0;
        bool two = n == 2;
        for (int k = 0; two && k < 2; k++) {
            int64_t ax = axes[k] < 0 ? axes[k] + 4 : axes[k];
            two = ax == h || ax == h + 1;
            sum += ax;
        }
        bool mean = strcmp(kind, "Mean") == 0, max = strcmp(kind, "Max") == 0, keep = kn__imp_attr_int(s->node, "keepdims", 1);
        if (!two || sum != 2 * h + 1 || (!mean && !max))
            return kn__imp_unsupported(s, "a Reduce of an image other than the mean or maximum over its height and width");
        if (keep && s->nhwc) return kn__imp_unsupported(s, "keepdims = 1 over an (N, H, W, C) image");
        if (!kn__imp_add_layer(s, max ? "global_max_pool2d" : "global_average_pool2d")) return kn__imp_oom(s);
        s->image = s->nhwc = false;
        s->f = s->c;
        s->units = keep ? 2 : 0; /* ((batch, C, 1, 1) kept) */
        return KN_OK;
    }
    int a = s->seq && n == 1 ? axis_index(s, axes[0]) : -1;
    char letter = a < 0 ? 0 : s->ord[a];
    if (letter != 'L' && letter != 'D')
        return kn__imp_unsupported(s, "a Reduce over other than a sequence's steps or a recurrent layer's directions "
                                      "(one axis)");
    if (kn__imp_attr_int(s->node, "keepdims", 1))
        return kn__imp_unsupported(s, "keepdims = 1 (kiln's pooling drops the axis; GlobalAveragePool keeps it)");
    if (letter == 'L') {
        bool mean = strcmp(kind, "Mean") == 0, max = strcmp(kind, "Max") == 0;
        if (!mean && !max) return kn__imp_unsupported(s, "a Reduce of the steps other than their mean or maximum");
        if (!kn__imp_add_layer(s, max ? "global_max_pool1d" : "global_average_pool1d")) return kn__imp_oom(s);
        drop_axis(s, a);
        s->l = 0;
        settle(s);
        return KN_OK;
    }
    imp_layer *P = kn__imp_producer(s);
    const char *merge = strcmp(kind, "Sum") == 0 ? "sum" : strcmp(kind, "Mean") == 0 ? "ave" : strcmp(kind, "Prod") == 0 ? "mul" : NULL;
    if (!P || !P->merge_open || s->d != 2 || !merge)
        return kn__imp_unsupported(s, "a Reduce of directions other than the sum, mean or product of a bidirectional "
                                      "layer's two, read from the layer alone");
    if (!cJSON_AddStringToObject(P->json, "merge_mode", merge)) return kn__imp_oom(s);
    P->merge_open = false;
    s->d = 1;
    drop_axis(s, a);
    settle(s);
    return KN_OK;
}

/* ------------------------------------------------------------- reshaping */

static kn_status seq_transpose(imp *s) {
    const kn__onnx_attr *p = kn__onnx_attr_get(s->node, "perm");
    int r = rank(s);
    char ord[IMP_ORD] = {0};
    bool seen[IMP_ORD] = {false}, ok = p && p->kind == KN__ONNX_ATTR_INTS && p->n == r;
    for (int k = 0; ok && k < r; k++) {
        ok = p->ints[k] >= 0 && p->ints[k] < r && !seen[p->ints[k]];
        if (ok) seen[p->ints[k]] = true, ord[k] = s->ord[p->ints[k]];
    }
    if (!ok) return kn__imp_unsupported(s, "perm must be a permutation of the sequence's dimensions");
    memcpy(s->ord, ord, sizeof ord);
    return KN_OK;
}

/* Flatten to (N, n): kiln's flatten of (L, D*C), or of (C, L) with the next dense layer's
 * rows reordered. */
static kn_status seq_flatten(imp *s) {
    const char *rest = s->ord + 1;
    bool kiln_order = s->ord[0] == 'N' && (strcmp(rest, "LC") == 0 || strcmp(rest, "LDC") == 0 || strcmp(rest, "DC") == 0);
    bool cl = strcmp(s->ord, "NCL") == 0 && s->d == 1;
    if (!kiln_order && !cl)
        return kn__imp_unsupported(s, "a Flatten of a sequence other than (N, L, C), (N, C, L) or (N, [L,] D, C)");
    if (s->l && !kn__imp_add_layer(s, "flatten")) return kn__imp_oom(s);
    directions_concatenated(s);
    s->perm = cl && s->c > 1 && s->l > 1;
    s->pc = s->c, s->ph = s->l ? s->l : 1, s->pw = 1;
    s->f = s->c * (s->l ? s->l : 1);
    s->seq = false;
    s->l = 0, s->units = 0;
    return KN_OK;
}

/* Reshape of a sequence: to (N, n) a flatten; dropping D by merging it with the channels
 * after it (PyTorch's and kiln's bidirectional outputs) the concatenation kiln holds. */
static kn_status seq_reshape(imp *s, const kn__onnx_tensor *shape) {
    int r = rank(s);
    int64_t total = (s->l ? s->l : 1) * s->d * s->c;
    const int64_t *t = shape->i;
    if (shape->numel == 2 && (t[0] == 0 || t[0] == -1 || t[0] > 0) && (t[1] == -1 || t[1] == total) && !(t[0] == -1 && t[1] == -1))
        return seq_flatten(s);
    bool dc = r >= 3 && s->ord[r - 2] == 'D' && s->ord[r - 1] == 'C' && shape->numel == r - 1;
    int unknown = 0;
    for (int k = 0; dc && k < r - 2; k++) {
        int64_t have = dim_of(s, s->ord[k]);
        unknown += t[k] == -1;
        dc = t[k] == 0 || (t[k] == -1 && s->ord[k] == 'N') || (have > 0 && t[k] == have);
    }
    if (dc && (t[r - 2] == s->d * s->c || (t[r - 2] == -1 && !unknown))) {
        directions_concatenated(s);
        drop_axis(s, r - 2);
        settle(s);
        return KN_OK;
    }
    return kn__imp_unsupported(s, "a Reshape of a sequence other than a Flatten to (N, n) or merging a recurrent "
                                  "layer's directions with its units");
}

/* Features (N, f) as steps: to (N, L, C) (Reshape) or (N, f, 1), (N, 1, f) (Unsqueeze):
 * kiln's reshape to (L, C). */
static kn_status features_to_seq(imp *s, int64_t l, int64_t c, const char *ord) {
    if (s->perm) return kn__imp_unsupported(s, "a sequence from a Flatten of channels (kiln orders them differently)");
    if (l < 1 || c < 1 || l * c != s->f) return kn__imp_fail(s, KN_ERR_SHAPE, "the shape does not hold the features", NULL);
    imp_layer *L = kn__imp_add_layer(s, "reshape");
    if (!L || !kn__imp_add_pair(L->json, "target_shape", l, c)) return kn__imp_oom(s);
    s->seq = true;
    snprintf(s->ord, sizeof s->ord, "%s", ord);
    s->l = l, s->c = c, s->d = 1, s->units = 0;
    return KN_OK;
}

static kn_status read_reshape3(imp *s, const kn__onnx_tensor *shape) {
    const int64_t *t = shape->i;
    if (!(t[0] == 0 || t[0] == -1 || t[0] > 0) || (t[1] == -1 && t[2] == -1) || t[1] == 0 || t[2] == 0)
        return kn__imp_unsupported(s, "a Reshape to (N, L, C) must give L or C");
    int64_t l = t[1] == -1 ? s->f / (t[2] > 0 ? t[2] : 1) : t[1], c = t[2] == -1 ? s->f / (t[1] > 0 ? t[1] : 1) : t[2];
    return features_to_seq(s, l, c, "NLC");
}

static kn_status read_unsqueeze(imp *s) {
    int64_t axes[8];
    int n = axes_of(s, "axes", 1, axes);
    if (n != 1 || s->image || s->seq || s->ids || s->units)
        return kn__imp_unsupported(s, "kiln reads an Unsqueeze of one axis of features (N, f), making a sequence");
    int64_t a = axes[0] < 0 ? axes[0] + 3 : axes[0];
    if (a == 2) return features_to_seq(s, s->f, 1, "NLC"); /* (N, f, 1): f steps of 1 */
    if (a == 1) return features_to_seq(s, s->f, 1, "NCL"); /* (N, 1, f): 1 channel of f steps */
    return kn__imp_unsupported(s, "an Unsqueeze of the batch");
}

/* ------------------------------------------------------------- 1-D windows */

/* Pads (begin, end) of a window over the steps, from auto_pad or pads. */
static kn_status window_pads1(imp *s, int64_t k, int64_t st, int64_t d, int64_t pads[2]) {
    const kn__onnx_attr *ap = kn__onnx_attr_get(s->node, "auto_pad");
    const char *mode = ap && ap->kind == KN__ONNX_ATTR_STRING ? ap->s : "NOTSET";
    if (!kn__imp_attr_ints(s->node, "pads", 2, 0, pads)) return kn__imp_unsupported(s, "pads must be 2 values");
    int64_t out = (s->l + st - 1) / st, total = (out - 1) * st + (k - 1) * d + 1 - s->l;
    if (total < 0) total = 0;
    if (strcmp(mode, "SAME_UPPER") == 0) pads[0] = total / 2, pads[1] = total - total / 2;
    else if (strcmp(mode, "SAME_LOWER") == 0) pads[1] = total / 2, pads[0] = total - total / 2;
    else if (strcmp(mode, "VALID") == 0) pads[0] = pads[1] = 0;
    else if (strcmp(mode, "NOTSET") != 0 && mode[0])
        return kn__imp_unsupported(s, "auto_pad is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
    if (pads[0] < 0 || pads[1] < 0 || pads[0] > 255 || pads[1] > 255) return kn__imp_unsupported(s, "pads out of range");
    return KN_OK;
}

/* kiln's padding for pads: "same" (the smaller half first), "causal" (span - 1 before), or
 * "valid" after a zero_padding1d of them (NULL when the caller may not pad). */
static const char *padding_of(imp *s, int64_t k, int64_t st, int64_t d, const int64_t pads[2], bool causal_ok) {
    int64_t out = (s->l + st - 1) / st, span = (k - 1) * d + 1, total = (out - 1) * st + span - s->l;
    if (total < 0) total = 0;
    if (!pads[0] && !pads[1]) return "valid";
    if (pads[0] == total / 2 && pads[1] == total - total / 2) return "same";
    if (causal_ok && pads[0] == span - 1 && !pads[1]) return "causal";
    return NULL;
}

static kn_status zero_padding1d(imp *s, int64_t begin, int64_t end) {
    imp_layer *P = kn__imp_add_layer(s, "zero_padding1d");
    if (!P || !kn__imp_add_pair(P->json, "padding", begin, end)) return kn__imp_oom(s);
    s->l += begin + end;
    return KN_OK;
}

/* A constant, or an Expand of one over the batch (PyTorch's class_token.expand(n, -1, -1)). */
static const kn__onnx_tensor *expanded_constant(const imp *s, const char *name) {
    const kn__onnx_tensor *t = kn__imp_constant(s, name);
    if (t) return t;
    for (int i = 0; i < s->m->n_nodes; i++) {
        const kn__onnx_node *nd = &s->m->nodes[i];
        if (nd->n_outputs >= 1 && strcmp(nd->outputs[0], name) == 0)
            return strcmp(nd->op, "Expand") == 0 && nd->n_inputs == 2 ? kn__imp_constant(s, nd->inputs[0]) : NULL;
    }
    return NULL;
}

/* Concat along the steps of a sequence and constant tokens (a ViT's class token, prepended):
 * zero_padding1d by the tokens' steps, then a position_embedding whose table holds the tokens
 * on those steps and zeros elsewhere (the same sums, exactly). *handled false when the node
 * is not that. */
kn_status kn__imp_read_token_concat(imp *s, bool *handled) {
    const kn__onnx_node *nd = s->node;
    *handled = false;
    if (nd->n_inputs != 2) return KN_OK;
    const imp_value *v[2] = {kn__imp_find_value(s, nd->inputs[0]), kn__imp_find_value(s, nd->inputs[1])};
    int tok = v[0] ? 1 : 0; /* the input that is tokens */
    const imp_value *x = v[1 - tok];
    const kn__onnx_tensor *t = v[tok] ? NULL : expanded_constant(s, nd->inputs[tok]);
    if (!x || !t || !t->f || !x->seq || x->d != 1 || strchr(x->ord, 'D')) return KN_OK;
    int r = (int)strlen(x->ord);
    int64_t axis = kn__imp_attr_int(nd, "axis", 0);
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r || x->ord[axis] != 'L') return KN_OK;
    int64_t steps = t->ndim == 3 && t->dims[0] == 1 ? t->dims[1] : t->ndim == 2 ? t->dims[0] : 0, C = x->c;
    if (steps < 1 || t->numel != steps * C || (t->ndim == 3 && t->dims[2] != C)) return KN_OK;
    if (strcmp(x->ord, "NLC") != 0)
        return kn__imp_unsupported(s, "constant tokens joined to a sequence in other than (N, L, C) order");
    *handled = true;
    kn__imp_load_value(s, x);
    int64_t L = x->l + steps, first = tok == 0 ? 0 : x->l;
    kn_status st = tok == 0 ? zero_padding1d(s, steps, 0) : zero_padding1d(s, 0, steps);
    if (st) return st;
    imp_layer *P = kn__imp_add_layer(s, "position_embedding");
    float *e = P ? kn__imp_add_param(P, "embeddings", L * C) : NULL; /* (zeroed) */
    if (!e) return kn__imp_oom(s);
    memcpy(e + first * C, t->f, (size_t)(steps * C) * sizeof *e);
    return KN_OK;
}

static kn_status need_ncl(imp *s) {
    if (strcmp(s->ord, "NCL") != 0 || s->d != 1)
        return kn__imp_unsupported(s, "a 1-D convolution or pooling reads (batch, C, L)");
    return KN_OK;
}

/* Conv of W (F, C / G, K), group G dividing C and F: conv1d (groups G), kernel (K*C/G, F); of
 * group C with W (C M, 1, K): depthwise_conv1d, depthwise_kernel (K, C, M). */
static kn_status read_conv1d(imp *s) {
    kn_status st = need_ncl(s);
    if (st) return st;
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1), *B = kn__imp_const_input(s, 2, -1);
    if (!W || W->ndim != 3) return kn__imp_unsupported(s, "W must be a 3-D constant (F, C, K) over a sequence");
    int64_t F = W->dims[0], C = s->c, K = W->dims[2], str, dil, ks, pads[2], group = kn__imp_attr_int(s->node, "group", 1);
    bool depthwise = group == C && C > 1 && W->dims[1] == 1 && F % C == 0;
    if (!depthwise && (group < 1 || group > 4096 || C % group || F % group || W->dims[1] != C / group))
        return kn__imp_unsupported(s, "kiln reads 1-D convolutions whose group divides the channels and the filters and "
                                      "whose W (F, C / group, K) fits them");
    int64_t cg = depthwise ? 1 : C / group; /* a group's channels */
    if (!kn__imp_attr_ints(s->node, "strides", 1, 1, &str) || !kn__imp_attr_ints(s->node, "dilations", 1, 1, &dil) ||
        !kn__imp_attr_ints(s->node, "kernel_shape", 1, K, &ks) || ks != K)
        return kn__imp_unsupported(s, "strides, dilations and kernel_shape must have 1 value, the kernel W's");
    if (str < 1 || str > 255 || dil < 1 || dil > 255 || K < 1 || K > 255) return kn__imp_unsupported(s, "a window out of range");
    if (B && B->numel != F) return kn__imp_fail(s, KN_ERR_SHAPE, "B does not have one value per filter", NULL);
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && !B) return kn__imp_unsupported(s, "B must be a constant");
    if ((st = window_pads1(s, K, str, dil, pads))) return st;
    const char *padding = padding_of(s, K, str, dil, pads, true);
    if (!padding && (st = zero_padding1d(s, pads[0], pads[1]))) return st;
    if (!padding) padding = "valid", pads[0] = pads[1] = 0;
    int64_t span = (K - 1) * dil + 1, out = strcmp(padding, "valid") == 0 ? (s->l - span) / str + 1 : (s->l + str - 1) / str;
    if (strcmp(padding, "valid") == 0 && s->l < span) return kn__imp_unsupported(s, "the window is longer than the sequence");
    imp_layer *L = kn__imp_add_layer(s, depthwise ? "depthwise_conv1d" : "conv1d");
    float *kern = L ? kn__imp_add_param(L, depthwise ? "depthwise_kernel" : "kernel", K * (depthwise ? F : cg * F)) : NULL;
    float *bias = kern ? kn__imp_add_param(L, "bias", F) : NULL;
    if (bias && depthwise) { /* kernel (K, C, M) from W (C M, 1, K): the same channel order, c M + m */
        if (!cJSON_AddNumberToObject(L->json, "depth_multiplier", (double)(F / C)) ||
            !cJSON_AddNumberToObject(L->json, "kernel_size", (double)K) ||
            !cJSON_AddNumberToObject(L->json, "strides", (double)str) ||
            !cJSON_AddNumberToObject(L->json, "dilation_rate", (double)dil) ||
            !cJSON_AddStringToObject(L->json, "padding", padding))
            return kn__imp_oom(s);
        L->weighted = true;
        for (int64_t j = 0; j < F; j++)
            for (int64_t k = 0; k < K; k++) kern[k * F + j] = W->f[j * K + k];
        if (B) memcpy(bias, B->f, (size_t)F * sizeof *bias);
        L->has_bias = B != NULL;
        s->c = F, s->l = out;
        return KN_OK;
    }
    if (!bias || !cJSON_AddNumberToObject(L->json, "filters", (double)F) ||
        !cJSON_AddNumberToObject(L->json, "kernel_size", (double)K) || !cJSON_AddNumberToObject(L->json, "strides", (double)str) ||
        !cJSON_AddNumberToObject(L->json, "dilation_rate", (double)dil) || !cJSON_AddStringToObject(L->json, "padding", padding) ||
        (group > 1 && !cJSON_AddNumberToObject(L->json, "groups", (double)group)))
        return kn__imp_oom(s);
    L->weighted = true;
    for (int64_t f = 0; f < F; f++) /* Keras's (K, C / G, F) from W (F, C / G, K) */
        for (int64_t c = 0; c < cg; c++)
            for (int64_t k = 0; k < K; k++) kern[(k * cg + c) * F + f] = W->f[(f * cg + c) * K + k];
    if (B) memcpy(bias, B->f, (size_t)F * sizeof *bias);
    L->has_bias = B != NULL;
    s->c = F, s->l = out;
    return KN_OK;
}

/* ConvTranspose of W (C, F, K), group 1: conv1d_transpose 'valid' with its output_padding,
 * kernel (K*F, C), then a cropping1d of its pads (as read_conv_transpose for images). */
static kn_status read_conv_transpose1d(imp *s) {
    kn_status st = need_ncl(s);
    if (st) return st;
    const kn__onnx_tensor *W = kn__imp_conv_transpose_weights(s, 1, &st), *B = kn__imp_const_input(s, 2, -1);
    if (!W) return st;
    int64_t C = s->c, F = W->dims[1], K = W->dims[2], str, dil, pads[2], opad;
    if (!kn__imp_attr_ints(s->node, "strides", 1, 1, &str) || !kn__imp_attr_ints(s->node, "dilations", 1, 1, &dil) ||
        !kn__imp_attr_ints(s->node, "pads", 2, 0, pads) || !kn__imp_attr_ints(s->node, "output_padding", 1, 0, &opad))
        return kn__imp_unsupported(s, "strides, dilations, pads and output_padding must have 1, 1, 2 and 1 values");
    if (str < 1 || str > 255 || dil < 1 || dil > 255 || K < 1 || K > 255 || opad < 0 || opad >= (str > dil ? str : dil))
        return kn__imp_unsupported(s, "strides, dilations, kernel or output_padding out of range");
    if (B && B->numel != F) return kn__imp_fail(s, KN_ERR_SHAPE, "B does not have one value per filter", NULL);
    if (s->node->n_inputs > 2 && s->node->inputs[2][0] && !B) return kn__imp_unsupported(s, "B must be a constant");
    int64_t full = (s->l - 1) * str + (K - 1) * dil + 1 + opad;
    if (pads[0] < 0 || pads[1] < 0 || pads[0] + pads[1] >= full) return kn__imp_unsupported(s, "pads that leave no output");
    imp_layer *L = kn__imp_add_layer(s, "conv1d_transpose");
    float *kern = L ? kn__imp_add_param(L, "kernel", K * F * C) : NULL, *bias = kern ? kn__imp_add_param(L, "bias", F) : NULL;
    if (!bias || !cJSON_AddNumberToObject(L->json, "filters", (double)F) ||
        !cJSON_AddNumberToObject(L->json, "kernel_size", (double)K) || !cJSON_AddNumberToObject(L->json, "strides", (double)str) ||
        !cJSON_AddNumberToObject(L->json, "dilation_rate", (double)dil) ||
        !cJSON_AddNumberToObject(L->json, "output_padding", (double)opad) || !cJSON_AddStringToObject(L->json, "padding", "valid"))
        return kn__imp_oom(s);
    L->weighted = true;
    for (int64_t c = 0; c < C; c++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t k = 0; k < K; k++) kern[(k * F + f) * C + c] = W->f[(c * F + f) * K + k];
    if (B) memcpy(bias, B->f, (size_t)F * sizeof *bias);
    L->has_bias = B != NULL;
    s->c = F, s->l = full;
    if (pads[0] || pads[1]) {
        L->has_act = true; /* (an activation after the crop is its own layer) */
        imp_layer *Cr = kn__imp_add_layer(s, "cropping1d");
        if (!Cr || !kn__imp_add_pair(Cr->json, "cropping", pads[0], pads[1])) return kn__imp_oom(s);
        s->l -= pads[0] + pads[1];
    }
    return KN_OK;
}

/* MaxPool / AveragePool of a 1-D window: max_pool1d, average_pool1d. */
static kn_status read_pool1d(imp *s, bool max) {
    kn_status st = need_ncl(s);
    if (st) return st;
    int64_t k, str, dil, pads[2];
    if (!kn__imp_attr_ints(s->node, "kernel_shape", 1, 0, &k) || !kn__imp_attr_ints(s->node, "strides", 1, 1, &str) ||
        !kn__imp_attr_ints(s->node, "dilations", 1, 1, &dil))
        return kn__imp_unsupported(s, "kernel_shape, strides and dilations must have 1 value");
    if (dil != 1) return kn__imp_unsupported(s, "dilated pooling");
    if (k < 1 || k > 255 || str < 1 || str > 255) return kn__imp_unsupported(s, "a window out of range");
    if (kn__imp_attr_int(s->node, "ceil_mode", 0)) return kn__imp_unsupported(s, "ceil_mode = 1");
    if (s->node->n_outputs > 1 && s->node->outputs[1][0]) return kn__imp_unsupported(s, "the indices output");
    if ((st = window_pads1(s, k, str, 1, pads))) return st;
    const char *padding = padding_of(s, k, str, 1, pads, false);
    if (!padding && max && s->nonneg) { /* zeros pad as -inf does over values of no sign */
        if ((st = zero_padding1d(s, pads[0], pads[1]))) return st;
        padding = "valid";
    }
    if (!padding)
        return kn__imp_unsupported(s, "pads that are neither none ('valid') nor Keras's 'same' (max pooling takes them as "
                                      "zero padding only over values of no sign, after a relu)");
    bool same = strcmp(padding, "same") == 0;
    if (same && !max && kn__imp_attr_int(s->node, "count_include_pad", 0))
        return kn__imp_unsupported(s, "count_include_pad = 1 with pads (kiln's 'same' averages the steps inside)");
    if (!same && s->l < k) return kn__imp_unsupported(s, "the window is longer than the sequence");
    imp_layer *L = kn__imp_add_layer(s, max ? "max_pool1d" : "average_pool1d");
    if (!L || !cJSON_AddNumberToObject(L->json, "pool_size", (double)k) || !cJSON_AddNumberToObject(L->json, "strides", (double)str) ||
        !cJSON_AddStringToObject(L->json, "padding", padding))
        return kn__imp_oom(s);
    s->l = same ? (s->l + str - 1) / str : (s->l - k) / str + 1;
    return KN_OK;
}

/* GlobalAveragePool / GlobalMaxPool of (N, C, L): (N, C, 1), kiln's (C) features. */
static kn_status read_global_pool1d(imp *s, bool max) {
    kn_status st = need_ncl(s);
    if (st) return st;
    if (!kn__imp_add_layer(s, max ? "global_max_pool1d" : "global_average_pool1d")) return kn__imp_oom(s);
    s->seq = false;
    s->f = s->c;
    s->l = 0, s->units = 1;
    return KN_OK;
}

/* MatMul of (..., C) by a constant (C, U) at every step: time_distributed dense. */
static kn_status read_step_matmul(imp *s) {
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1);
    int r = rank(s);
    if (!W || W->ndim != 2 || strcmp(s->node->inputs[0], s->cur) != 0)
        return kn__imp_unsupported(s, "the second input must be a 2-D constant (the weights)");
    if (s->ord[r - 1] != 'C' || s->d != 1 || !strchr(s->ord, 'L'))
        return kn__imp_unsupported(s, "a MatMul of a sequence other than over its channels, the last dimension");
    if (W->dims[0] != s->c) return kn__imp_fail(s, KN_ERR_SHAPE, "weights do not fit the channels", NULL);
    int64_t U = W->dims[1];
    imp_layer *L = kn__imp_add_layer(s, "time_distributed");
    cJSON *inner = L ? cJSON_AddObjectToObject(L->json, "layer") : NULL;
    float *kern = inner ? kn__imp_add_param(L, "kernel", W->numel) : NULL, *bias = kern ? kn__imp_add_param(L, "bias", U) : NULL;
    if (!bias || !cJSON_AddStringToObject(inner, "type", "dense") || !cJSON_AddNumberToObject(inner, "units", (double)U))
        return kn__imp_oom(s);
    memcpy(kern, W->f, (size_t)W->numel * sizeof *kern);
    L->opts = inner;
    L->weighted = true;
    s->c = U;
    return KN_OK;
}

/* The position of the steps in a Pad's, Slice's or Resize's per-axis values, or -1 when the
 * sequence has none or other axes change. */
static int steps_axis(const imp *s) {
    const char *p = strchr(s->ord, 'L');
    return p && s->d == 1 ? (int)(p - s->ord) : -1;
}

/* Pad with zeros of the steps: zero_padding1d. */
static kn_status read_pad1d(imp *s) {
    const kn__onnx_attr *mode = kn__onnx_attr_get(s->node, "mode");
    int r = rank(s), a = steps_axis(s);
    int64_t p[2 * IMP_ORD];
    const kn__onnx_tensor *pt = s->node->n_inputs > 1 && s->node->inputs[1][0] ? kn__imp_constant(s, s->node->inputs[1]) : NULL;
    const kn__onnx_tensor *v = s->node->n_inputs > 2 && s->node->inputs[2][0] ? kn__imp_const_input(s, 2, 1) : NULL;
    bool ok = a >= 0 && !(mode && mode->kind == KN__ONNX_ATTR_STRING && strcmp(mode->s, "constant") != 0) &&
              !(s->node->n_inputs > 3 && s->node->inputs[3][0]);
    if (ok && pt) ok = pt->i && pt->numel == 2 * r && (memcpy(p, pt->i, (size_t)(2 * r) * sizeof *p), true);
    else if (ok) ok = !(s->node->n_inputs > 1 && s->node->inputs[1][0]) && kn__imp_attr_ints(s->node, "pads", 2 * r, 0, p);
    if (ok) ok = (v ? v->f[0] : kn__imp_attr_float(s->node, "value", 0.0f)) == 0 && !(s->node->n_inputs > 2 && s->node->inputs[2][0] && !v);
    for (int k = 0; ok && k < 2 * r; k++) ok = (k % r == a) ? p[k] >= 0 && p[k] <= 255 : p[k] == 0;
    if (!ok) return kn__imp_unsupported(s, "kiln pads a sequence with zeros along its steps only (constant pads)");
    return p[a] || p[a + r] ? zero_padding1d(s, p[a], p[a + r]) : KN_OK;
}

/* Slice of the steps (step 1): cropping1d. */
static kn_status read_slice1d(imp *s) {
    const kn__onnx_tensor *t[4] = {NULL};
    int a = steps_axis(s), r = rank(s);
    for (int k = 1; k < 5 && k < s->node->n_inputs; k++)
        if (s->node->inputs[k][0] && !(t[k - 1] = kn__imp_constant(s, s->node->inputs[k])))
            return kn__imp_unsupported(s, "starts, ends, axes and steps must be constants");
    bool ok = a >= 0 && t[0] && t[1] && t[0]->i && t[1]->i && t[0]->numel == 1 && t[1]->numel == 1 &&
              (!t[2] || (t[2]->i && t[2]->numel == 1 && axis_index(s, t[2]->i[0]) == a)) &&
              (!t[3] || (t[3]->i && t[3]->numel == 1 && t[3]->i[0] == 1)) && (t[2] || a == 0);
    if (!ok) return kn__imp_unsupported(s, "kiln slices a sequence along its steps only, step 1");
    (void)r;
    int64_t n = s->l, b = t[0]->i[0], e = t[1]->i[0];
    if (b < 0) b += n;
    if (e < 0) e += n;
    b = b < 0 ? 0 : b > n ? n : b;
    e = e < 0 ? 0 : e > n ? n : e;
    if (e <= b) return kn__imp_unsupported(s, "a Slice that keeps nothing");
    imp_layer *C = kn__imp_add_layer(s, "cropping1d");
    if (!C || !kn__imp_add_pair(C->json, "cropping", b, n - e)) return kn__imp_oom(s);
    s->l = e - b;
    return KN_OK;
}

/* Resize of the steps by a whole factor, nearest (asymmetric, floor): up_sampling1d. */
static kn_status read_resize1d(imp *s) {
    int a = steps_axis(s), r = rank(s);
    const kn__onnx_tensor *sc = s->node->n_inputs > 2 && s->node->inputs[2][0] ? kn__imp_constant(s, s->node->inputs[2]) : NULL;
    const kn__onnx_attr *mode = kn__onnx_attr_get(s->node, "mode"), *ct = kn__onnx_attr_get(s->node, "coordinate_transformation_mode"),
                        *nm = kn__onnx_attr_get(s->node, "nearest_mode");
    bool ok = a >= 0 && sc && sc->f && sc->numel == r && mode && strcmp(mode->s, "nearest") == 0 && ct &&
              strcmp(ct->s, "asymmetric") == 0 && nm && strcmp(nm->s, "floor") == 0;
    for (int k = 0; ok && k < r; k++) ok = k == a ? sc->f[k] >= 1 && sc->f[k] <= 255 && sc->f[k] == (float)(int)sc->f[k] : sc->f[k] == 1;
    if (!ok)
        return kn__imp_unsupported(s, "kiln upsamples a sequence along its steps by a whole factor, nearest (asymmetric, floor)");
    imp_layer *L = kn__imp_add_layer(s, "up_sampling1d");
    if (!L || !cJSON_AddNumberToObject(L->json, "size", sc->f[a])) return kn__imp_oom(s);
    s->l *= (int64_t)sc->f[a];
    return KN_OK;
}

/* Tile of a one-step sequence along its steps (PyTorch's x.unsqueeze(1).repeat(1, n, 1),
 * kiln's own repeat_vector): its step n times, an up_sampling1d of size n. A longer sequence's
 * Tile repeats the whole of it, which no kiln layer does. */
static kn_status read_tile1d(imp *s) {
    int a = steps_axis(s), r = rank(s);
    const kn__onnx_tensor *reps = s->node->n_inputs > 1 ? kn__imp_constant(s, s->node->inputs[1]) : NULL;
    bool ok = a >= 0 && reps && reps->i && reps->numel == r && s->l == 1;
    for (int k = 0; ok && k < r; k++) ok = k == a ? reps->i[k] >= 1 && reps->i[k] <= 65536 : reps->i[k] == 1;
    if (!ok) return kn__imp_unsupported(s, "kiln tiles a sequence of one step along its steps alone (repeats constant)");
    imp_layer *L = kn__imp_add_layer(s, "up_sampling1d");
    if (!L || !cJSON_AddNumberToObject(L->json, "size", (double)reps->i[a])) return kn__imp_oom(s);
    s->l = reps->i[a];
    return KN_OK;
}

/* ------------------------------------------------------------- recurrent ops */

/* kiln's name of an ONNX recurrent activation, or NULL. */
static const char *recurrent_act(const char *name, size_t n) {
    static const char *const names[][2] = {{"Tanh", "tanh"}, {"Sigmoid", "sigmoid"}, {"Relu", "relu"}, {"Softsign", "softsign"}};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (strlen(names[k][0]) == n && strncmp(name, names[k][0], n) == 0) return names[k][1];
    return NULL;
}

/* The activations attribute as kiln's (f: the gates', g: the cell's; an LSTM's h must be g),
 * the same for both directions. */
static kn_status recurrent_acts(imp *s, int per_dir, int dirs, const char **f, const char **g) {
    const kn__onnx_attr *a = kn__onnx_attr_get(s->node, "activations");
    *f = per_dir == 1 ? NULL : "sigmoid";
    *g = "tanh";
    if (!a) return KN_OK;
    const char *list[6] = {NULL};
    const char *p = a->s;
    bool ok = a->kind == KN__ONNX_ATTR_STRINGS && (a->n == per_dir * dirs || a->n == per_dir);
    for (int k = 0; ok && k < a->n; k++) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        ok = (list[k] = recurrent_act(p, n)) != NULL;
        p += n + (end != NULL);
    }
    for (int k = per_dir; ok && k < a->n; k++) ok = list[k] == list[k - per_dir];
    if (ok && per_dir == 3) ok = list[1] == list[2];
    if (!ok)
        return kn__imp_unsupported(s, "activations other than Tanh, Sigmoid, Relu or Softsign, the same both ways (an "
                                      "LSTM's cell and output ones equal)");
    if (per_dir == 1) *g = list[0];
    else *f = list[0], *g = list[1];
    return KN_OK;
}

/* Whether the node's output `name` is read (by a node, or as the graph's output). */
static bool used(const imp *s, const char *name) {
    if (!name[0]) return false;
    if (kn__imp_readers(s->m, name)) return true;
    for (int k = 0; k < s->m->n_outputs; k++)
        if (strcmp(s->m->outputs[k].name, name) == 0) return true;
    return false;
}

/* RNN, LSTM, GRU over (L, N, C) (layout 0) or (N, L, C) (layout 1). */
static kn_status read_recurrent(imp *s, const char *op) {
    const kn__onnx_node *nd = s->node;
    int cell = op[0] == 'R' ? 0 : op[0] == 'L' ? 1 : 2, G = cell == 1 ? 4 : cell == 2 ? 3 : 1;
    static const char *const cells[3] = {"simple_rnn", "lstm", "gru"};
    int64_t layout = kn__imp_attr_int(nd, "layout", 0);
    if (!s->seq || s->d != 1 || (layout != 0 && layout != 1) || strcmp(s->ord, layout ? "NLC" : "LNC") != 0)
        return kn__imp_unsupported(s, "expects a sequence (L, N, C) (layout 0: PyTorch transposes its (N, L, C) to it) or "
                                      "(N, L, C) (layout 1)");
    const kn__onnx_attr *da = kn__onnx_attr_get(nd, "direction");
    const char *dir = da && da->kind == KN__ONNX_ATTR_STRING ? da->s : "forward";
    bool bidi = strcmp(dir, "bidirectional") == 0, reverse = strcmp(dir, "reverse") == 0;
    if (!bidi && !reverse && strcmp(dir, "forward") != 0) return kn__imp_unsupported(s, "an unknown direction");
    int dirs = bidi ? 2 : 1;
    const kn__onnx_tensor *W = kn__imp_const_input(s, 1, -1), *R = kn__imp_const_input(s, 2, -1);
    const kn__onnx_tensor *B = nd->n_inputs > 3 && nd->inputs[3][0] ? kn__imp_const_input(s, 3, -1) : NULL;
    int64_t H = kn__imp_attr_int(nd, "hidden_size", R && R->ndim == 3 ? R->dims[2] : 0), I = s->c, GH = G * H;
    if (!W || !R || W->ndim != 3 || R->ndim != 3 || W->dims[0] != dirs || W->dims[1] != GH || W->dims[2] != I ||
        R->dims[0] != dirs || R->dims[1] != GH || R->dims[2] != H || H < 1)
        return kn__imp_fail(s, KN_ERR_SHAPE, "W and R must be constants (directions, gates x hidden_size, inputs or "
                            "hidden_size) fitting the input", NULL);
    if (nd->n_inputs > 3 && nd->inputs[3][0] && (!B || B->numel != dirs * 2 * GH))
        return kn__imp_fail(s, KN_ERR_SHAPE, "B must be a constant (directions, 2 x gates x hidden_size)", NULL);
    if (nd->n_inputs > 4 && nd->inputs[4][0]) return kn__imp_unsupported(s, "sequence_lens (kiln runs every step of every sequence)");
    for (int k = 5; k < 7 && k < nd->n_inputs; k++)
        if (!zeros_or_none(s, nd->inputs[k])) return kn__imp_unsupported(s, "an initial state other than zeros");
    if (nd->n_inputs > 7 && nd->inputs[7][0]) return kn__imp_unsupported(s, "peepholes (P)");
    if (kn__onnx_attr_get(nd, "clip") || kn__imp_attr_int(nd, "input_forget", 0) ||
        kn__onnx_attr_get(nd, "activation_alpha") || kn__onnx_attr_get(nd, "activation_beta"))
        return kn__imp_unsupported(s, "clip, input_forget or activation_alpha/beta");
    if (cell == 2 && kn__imp_attr_int(nd, "linear_before_reset", 0) != 1)
        return kn__imp_unsupported(s, "linear_before_reset = 0 (kiln's GRU is Keras's reset_after, PyTorch's: 1)");
    const char *f, *g;
    kn_status st = recurrent_acts(s, cell == 1 ? 3 : cell == 2 ? 2 : 1, dirs, &f, &g);
    if (st) return st;
    bool y = used(s, nd->outputs[0]), yh = nd->n_outputs > 1 && used(s, nd->outputs[1]);
    if (nd->n_outputs > 2 && used(s, nd->outputs[2]))
        return kn__imp_unsupported(s, "reads the final cell state Y_c (kiln's lstm gives its output)");
    if (y == yh)
        return kn__imp_unsupported(s, y ? "reads both Y and Y_h (kiln's recurrent layer gives every step or the last)"
                                        : "none of its outputs is read");
    if (reverse && y)
        return kn__imp_unsupported(s, "Y of a reverse recurrent op (Keras's go_backwards returns the steps reversed; kiln "
                                      "reads its final state Y_h)");
    imp_layer *L = kn__imp_add_layer(s, bidi ? "bidirectional" : cells[cell]);
    cJSON *o = !L ? NULL : bidi ? cJSON_AddObjectToObject(L->json, "layer") : L->json;
    if (!o || (bidi && !cJSON_AddStringToObject(o, "type", cells[cell])) || !cJSON_AddNumberToObject(o, "units", (double)H) ||
        !cJSON_AddBoolToObject(o, "return_sequences", y) || !cJSON_AddBoolToObject(o, "use_bias", B != NULL) ||
        !cJSON_AddStringToObject(o, "activation", g) || (f && !cJSON_AddStringToObject(o, "recurrent_activation", f)) ||
        (reverse && !cJSON_AddBoolToObject(o, "go_backwards", true)))
        return kn__imp_oom(s);
    L->rnn = o;
    L->merge_open = bidi;
    static const kn_rnn_cell kinds[3] = {KN_RNN_SIMPLE, KN_RNN_LSTM, KN_RNN_GRU};
    static const int lstm_gate[4] = {0, 3, 1, 2}; /* ONNX's gate g (i o f c) is Keras's lstm_gate[g] (i f c o) */
    for (int d = 0; d < dirs; d++) {
        const char *const *what = kn__rnn_param_names(kinds[cell], bidi, d); /* "kernel", or "forward_lstm/kernel" ... */
        float *K = kn__imp_add_param(L, what[0], I * GH), *Rk = K ? kn__imp_add_param(L, what[1], H * GH) : NULL;
        float *b = Rk && B ? kn__imp_add_param(L, what[2], cell == 2 ? 2 * GH : GH) : NULL;
        if (!Rk || (B && !b)) return kn__imp_oom(s);
        const float *Wd = W->f + (int64_t)d * GH * I, *Rd = R->f + (int64_t)d * GH * H, *Bd = B ? B->f + (int64_t)d * 2 * GH : NULL;
        for (int gi = 0; gi < G; gi++)
            for (int64_t u = 0; u < H; u++) {
                int64_t row = gi * H + u, col = (cell == 1 ? lstm_gate[gi] : gi) * H + u;
                for (int64_t j = 0; j < I; j++) K[j * GH + col] = Wd[row * I + j];
                for (int64_t j = 0; j < H; j++) Rk[j * GH + col] = Rd[row * H + j];
                if (b && cell == 2) b[col] = Bd[row], b[GH + col] = Bd[GH + row]; /* (input, recurrent) */
                else if (b) b[col] = Bd[row] + Bd[GH + row];
            }
    }
    snprintf(s->ord, sizeof s->ord, "%s", y ? (layout ? "NLDC" : "LDNC") : (layout ? "NDC" : "DNC"));
    s->c = H, s->d = dirs;
    if (!y) s->l = 0;
    s->out_slot = y ? 0 : 1;
    return KN_OK;
}

/* ------------------------------------------------------------- dispatch */

kn_status kn__imp_read_seq(imp *s, const char *op, bool *handled) {
    *handled = true;
    if (s->ids && strcmp(op, "Gather") != 0 && strcmp(op, "Cast") != 0 && strcmp(op, "Identity") != 0 && strcmp(op, "Dropout") != 0)
        return kn__imp_unsupported(s, "token ids are read by an embedding (a Gather of a constant table)");
    if (strcmp(op, "RNN") == 0 || strcmp(op, "LSTM") == 0 || strcmp(op, "GRU") == 0) return read_recurrent(s, op);
    if (strcmp(op, "Gather") == 0) return read_gather(s);
    if (strcmp(op, "Cast") == 0) return read_cast(s);
    if (strcmp(op, "Squeeze") == 0) return read_squeeze(s);
    if (strcmp(op, "Unsqueeze") == 0) return read_unsqueeze(s);
    if (strncmp(op, "Reduce", 6) == 0) return read_reduce(s, op + 6);
    if (strcmp(op, "Reshape") == 0 && !s->image && !s->ids) {
        const kn__onnx_tensor *shape = s->node->n_inputs > 1 ? kn__imp_constant(s, s->node->inputs[1]) : NULL;
        if (s->seq && (!shape || !shape->i)) return kn__imp_unsupported(s, "the shape must be a constant");
        if (s->seq) return seq_reshape(s, shape);
        if (shape && shape->i && shape->numel == 3) return read_reshape3(s, shape);
    }
    if (s->seq) {
        const kn__onnx_tensor *W = s->node->n_inputs > 1 ? kn__imp_constant(s, s->node->inputs[1]) : NULL;
        if (strcmp(op, "Conv") == 0 && W && W->ndim != 3) return kn__imp_unsupported(s, "a 2-D Conv of a sequence");
        if (strcmp(op, "Conv") == 0) return read_conv1d(s);
        if (strcmp(op, "ConvTranspose") == 0) return read_conv_transpose1d(s);
        if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0) return read_pool1d(s, op[0] == 'M');
        if (strcmp(op, "GlobalAveragePool") == 0 || strcmp(op, "GlobalMaxPool") == 0) return read_global_pool1d(s, op[6] == 'M');
        if (strcmp(op, "Flatten") == 0) {
            if (kn__imp_attr_int(s->node, "axis", 1) != 1) return kn__imp_unsupported(s, "axis other than 1");
            return seq_flatten(s);
        }
        if (strcmp(op, "Transpose") == 0) return seq_transpose(s);
        if (strcmp(op, "MatMul") == 0) return read_step_matmul(s);
        if (strcmp(op, "Pad") == 0) return read_pad1d(s);
        if (strcmp(op, "Slice") == 0) return read_slice1d(s);
        if (strcmp(op, "Resize") == 0) return read_resize1d(s);
        if (strcmp(op, "Tile") == 0) return read_tile1d(s);
    }
    *handled = false;
    return KN_OK;
}
