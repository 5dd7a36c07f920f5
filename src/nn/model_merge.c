/* model_merge.c — non-sequential models, as Keras's functional API builds them but kept to
 * a list in graph order: layer names, the inputs a layer takes (earlier layers only, so the
 * list is its own topological order), and the merge layers (add, subtract, multiply,
 * average, maximum, minimum, concatenate on the last axis) with their shape checks and graph. */
#include "model.h"

#include <string.h>

/* The index of the layer called name among the first n, -1 for "input", or -2: none. */
static int find_layer(const kn_model *m, int n, const char *name) {
    if (strcmp(name, "input") == 0) return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(m->layers[i].name, name) == 0) return i;
    return -2;
}

kn_status kn_model_next_layer(kn_model *m, const char *name, const char *const *inputs, int n_inputs) {
    if (!m || n_inputs < 0 || (n_inputs && !inputs)) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "layer");
    if (st) return st;
    int i = m->n_layers;
    if (name) {
        size_t len = strlen(name);
        if (len == 0 || len >= KN__NAME_MAX)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d].name: '%.60s' must have 1 to %d characters", i,
                             name, KN__NAME_MAX - 1);
        int at = find_layer(m, m->n_layers, name);
        if (at == -1)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d].name: 'input' names the model's input", i);
        if (at >= 0)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d].name: '%s' is used twice (layers[%d] has it)", i,
                             name, at);
    }
    if (n_inputs > KN__MAX_INPUTS)
        return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "layers[%d].inputs: %d inputs (%d at most)", i, n_inputs,
                         KN__MAX_INPUTS);
    int idx[KN__MAX_INPUTS];
    for (int k = 0; k < n_inputs; k++) {
        if (!inputs[k]) return KN_ERR_INVALID_ARGUMENT;
        idx[k] = find_layer(m, m->n_layers, inputs[k]);
        if (idx[k] == -2)
            return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT,
                             "layers[%d].inputs: no earlier layer is named '%.60s' (a layer takes earlier layers, or "
                             "\"input\")", i, inputs[k]);
    }
    snprintf(m->next_name, sizeof m->next_name, "%s", name ? name : "");
    memcpy(m->next_inputs, idx, (size_t)n_inputs * sizeof *idx);
    m->n_next = n_inputs;
    return KN_OK;
}

/* "(8, 8, 16)" */
static void shape_text(const int64_t *shape, int ndim, char *buf, size_t size) {
    int used = snprintf(buf, size, "(");
    for (int d = 0; d < ndim && (size_t)used < size; d++)
        used += snprintf(buf + used, size - (size_t)used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if ((size_t)used < size) snprintf(buf + used, size - (size_t)used, "%s)", ndim == 1 ? "," : "");
}

/* Whether an input of shape s broadcasts over the shape full as Keras's merges do for the
 * per-sample broadcasts the graph runs (graph/ops_bcast.c): the same rank, the axes before
 * the last all full's or all 1, the last full's or 1. */
static bool broadcasts_over(const int64_t *s, int nd, const int64_t *full, int ndim) {
    if (nd != ndim || ndim < 1) return false;
    bool ones = true, same = true;
    for (int d = 0; d < ndim - 1; d++) {
        ones = ones && s[d] == 1;
        same = same && s[d] == full[d];
    }
    return (ones || same) && (s[ndim - 1] == full[ndim - 1] || s[ndim - 1] == 1);
}

static int64_t elements(const int64_t *s, int nd) {
    int64_t e = 1;
    for (int d = 0; d < nd; d++) e *= s[d];
    return e;
}

kn_status kn_model_add_merge(kn_model *m, kn_merge kind) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    if ((unsigned)kind >= KN_MERGE_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "layers[%d] merge: unknown kind %d", m->n_layers, (int)kind);
    kn__layer L = {.kind = KN__LAYER_MERGE, .u.merge = kind};
    const char *type = kn__layer_type(&L);
    kn_status st = kn__model_can_add(m, type);
    if (st) return st;
    int i = m->n_layers, n = m->n_next;
    if (n < 2 || (kind == KN_MERGE_SUBTRACT && n != 2))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: takes %s inputs, %d given (name them in inputs)", i, type,
                         kind == KN_MERGE_SUBTRACT ? "exactly 2" : "2 or more", n ? n : 1);
    /* the inputs' shape: the largest input's (the others equal or, for the elementwise
     * merges but maximum, broadcast over it: (1, 1, C) gates or an (H, W, 1) map of an image) */
    int widest = 0;
    for (int k = 1; k < n; k++) {
        int a = m->next_inputs[k], b = m->next_inputs[widest];
        if (elements(a >= 0 ? m->layers[a].shape : m->input_shape, a >= 0 ? m->layers[a].ndim : m->input_ndim) >
            elements(b >= 0 ? m->layers[b].shape : m->input_shape, b >= 0 ? m->layers[b].ndim : m->input_ndim))
            widest = k;
    }
    bool concat = kind == KN_MERGE_CONCATENATE,
         may_broadcast = !concat && kind != KN_MERGE_MAXIMUM && kind != KN_MERGE_MINIMUM;
    if (!may_broadcast) widest = 0;
    const kn__layer *first = m->next_inputs[widest] >= 0 ? &m->layers[m->next_inputs[widest]] : NULL;
    int ndim = first ? first->ndim : m->input_ndim;
    const int64_t *s0 = first ? first->shape : m->input_shape;
    L.ndim = ndim;
    memcpy(L.shape, s0, (size_t)ndim * sizeof *s0);
    for (int k = 0; k < n; k++) {
        if (k == widest) continue;
        int j = m->next_inputs[k];
        const int64_t *s = j >= 0 ? m->layers[j].shape : m->input_shape;
        int nd = j >= 0 ? m->layers[j].ndim : m->input_ndim;
        bool ok = nd == ndim;
        for (int d = 0; ok && d < ndim - concat; d++) ok = s[d] == s0[d];
        if (!ok && may_broadcast) ok = broadcasts_over(s, nd, s0, ndim);
        if (!ok) { /* the two named in the order given */
            int j0 = k < widest ? j : m->next_inputs[widest], j1 = k < widest ? m->next_inputs[widest] : j;
            char a[96], b[96];
            shape_text(j0 >= 0 ? m->layers[j0].shape : m->input_shape, j0 >= 0 ? m->layers[j0].ndim : m->input_ndim, a,
                       sizeof a);
            shape_text(j1 >= 0 ? m->layers[j1].shape : m->input_shape, j1 >= 0 ? m->layers[j1].ndim : m->input_ndim, b,
                       sizeof b);
            return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: inputs '%s' %s and '%s' %s %s", i, type,
                             j0 >= 0 ? m->layers[j0].name : "input", a, j1 >= 0 ? m->layers[j1].name : "input", b,
                             concat           ? "differ before the last axis (concatenate joins the last axis)"
                             : may_broadcast ? "differ in shape (it needs equal shapes, or one broadcast over the other: "
                                               "(1, 1, C) gates or an (H, W, 1) map of an (H, W, C) image)"
                                             : "differ in shape (it needs equal shapes)");
        }
        if (concat) L.shape[ndim - 1] += s[ndim - 1];
    }
    if (concat && L.shape[ndim - 1] > (1LL << 31))
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] %s: %lld channels is too many", i, type,
                         (long long)L.shape[ndim - 1]);
    return kn__model_push_layer(m, &L);
}

kn_tensor *kn__model_merge(kn_model *m, kn_graph *g, int i, kn_tensor *const *outs) {
    const kn__layer *L = &m->layers[i];
    kn_tensor *acc = NULL;
    /* a sum or product starts from an input of the layer's own shape, so a broadcast input
     * meets a whole one (a subtraction takes its two in order: kn_sub broadcasts either) */
    int start = 0;
    if (L->u.merge != KN_MERGE_SUBTRACT)
        for (int k = 0; k < L->n_inputs; k++) {
            int j = L->inputs[k];
            const int64_t *s = j >= 0 ? m->layers[j].shape : m->input_shape;
            if (elements(s, L->ndim) == elements(L->shape, L->ndim)) {
                start = k;
                break;
            }
        }
    for (int q = 0; q < L->n_inputs; q++) {
        int k = q == 0 ? start : q <= start ? q - 1 : q; /* start first, then the others in order */
        int j = L->inputs[k];
        /* each input in its declared shape (a flatten's, a sequence layer's (batch, 1, steps, C)) */
        kn_tensor *x = j >= 0 ? kn__model_view_as(g, outs[j], m->layers[j].shape, m->layers[j].ndim)
                              : kn__model_view_as(g, m->x, m->input_shape, m->input_ndim);
        if (!acc) {
            acc = x;
            continue;
        }
        switch (L->u.merge) {
        case KN_MERGE_ADD:
        case KN_MERGE_AVERAGE: acc = kn_add(g, acc, x); break;
        case KN_MERGE_SUBTRACT: acc = kn_sub(g, acc, x); break;
        case KN_MERGE_MULTIPLY: acc = kn_mul(g, acc, x); break;
        case KN_MERGE_MAXIMUM: acc = kn_maximum(g, acc, x); break;
        case KN_MERGE_MINIMUM: /* min(a, b) = -max(-a, -b): negation is exact */
            acc = kn_scale(g, kn_maximum(g, kn_scale(g, acc, -1.0f), kn_scale(g, x, -1.0f)), -1.0f);
            break;
        case KN_MERGE_CONCATENATE: acc = kn_concat(g, acc, x); break;
        default: kn__graph_fail(g, KN_ERR_UNSUPPORTED, "%s: merge kind %d", L->name, (int)L->u.merge); return NULL;
        }
    }
    if (L->u.merge == KN_MERGE_AVERAGE) acc = kn_scale(g, acc, 1.0f / (float)L->n_inputs);
    return acc;
}

/* Keras's Dot(axes=-1) of two feature vectors of the same size -> (1): their inner product, or
 * with normalize their cosine (each L2-normalized first, as Keras's l2_normalize). */
kn_status kn_model_add_dot(kn_model *m, bool normalize) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    kn_status st = kn__model_can_add(m, "dot");
    if (st) return st;
    int i = m->n_layers, n = m->n_next;
    if (n != 2)
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] dot: takes exactly 2 inputs, %d given (name them in inputs)", i,
                         n ? n : 1);
    const int64_t *s[2];
    int nd[2];
    for (int k = 0; k < 2; k++) {
        int j = m->next_inputs[k];
        s[k] = j >= 0 ? m->layers[j].shape : m->input_shape;
        nd[k] = j >= 0 ? m->layers[j].ndim : m->input_ndim;
    }
    if (nd[0] != 1 || nd[1] != 1 || s[0][0] != s[1][0]) {
        char a[96], b[96];
        shape_text(s[0], nd[0], a, sizeof a);
        shape_text(s[1], nd[1], b, sizeof b);
        return kn__error(m->ctx, KN_ERR_SHAPE, "layers[%d] dot: inputs %s and %s must be feature vectors of the same "
                         "size (kiln's dot takes Keras's axes -1 over (batch, features))", i, a, b);
    }
    kn__layer L = {.kind = KN__LAYER_DOT, .u.dot_normalize = normalize, .ndim = 1, .shape = {1}};
    return kn__model_push_layer(m, &L);
}

kn_tensor *kn__model_dot(kn_model *m, kn_graph *g, int i, kn_tensor *const *outs) {
    const kn__layer *L = &m->layers[i];
    kn_tensor *x[2];
    int64_t f = 0;
    for (int k = 0; k < 2; k++) {
        int j = L->inputs[k];
        f = j >= 0 ? m->layers[j].shape[0] : m->input_shape[0];
        x[k] = kn__model_view_as(g, j >= 0 ? outs[j] : m->x, &f, 1);
        if (L->u.dot_normalize) x[k] = kn_unit_norm(g, x[k], 1e-12f);
    }
    /* the products' row sums: times a column of ones (F, 1) */
    return kn_matmul(g, kn_mul(g, x[0], x[1]), kn__const_filled(g, (int64_t[]){f, 1}, 2, 1.0f));
}

bool kn__model_is_sequential(const kn_model *m) {
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].named || m->layers[i].n_inputs != 1 || m->layers[i].inputs[0] != i - 1) return false;
    return true;
}

kn_status kn__model_check_used(kn_model *m, kn_status code) {
    for (int i = 0; i + 1 < m->n_layers; i++) {
        bool used = false;
        for (int j = i + 1; j < m->n_layers && !used; j++)
            for (int k = 0; k < m->layers[j].n_inputs; k++) used = used || m->layers[j].inputs[k] == i;
        if (!used)
            return kn__error(m->ctx, code, "layers[%d] %s '%s': its output goes to no later layer (every layer but the "
                             "last, the model's output, must be an input of another)", i, kn__layer_type(&m->layers[i]),
                             m->layers[i].name);
    }
    return KN_OK;
}
