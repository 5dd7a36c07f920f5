/* onnx_import_dot.c — dot products of values: ReduceSum over the features of Mul(a, b), two
 * feature vectors, as kiln's dot layer (Keras's Dot; kn__imp_dot_pattern); and dot-product
 * attention without projections, read as kiln's attention layer (Keras's Attention): kiln export's form of it, and attention written by hand over
 * values of the graph (PyTorch's torch.softmax(q @ k.transpose(1, 2) * s, -1) @ v):
 *
 *   MatMul(q, Transpose(k, perm [0, 2, 1])) -> [Mul or Div by a scalar] -> [Add of a causal
 *   mask: 0 on and below the diagonal, -1e4 or less above it] -> Softmax over the last axis
 *   -> MatMul(., v)
 *
 * q, k and v (N, T, C) sequences the walk has read; each node's output read by the next
 * alone. A scale other than 1 is the layer's use_scale with that scale. Found before the walk
 * with the other attention subgraphs (onnx_import_attn.c), read at the last MatMul. */
#include "io/onnx_import.h"

#include <math.h>
#include <string.h>

static bool op_is(const kn__onnx_node *nd, const char *op) { return strcmp(nd->op, op) == 0; }

/* The node making name, if its output is read by one node alone. */
static int sole_maker(const imp *s, const char *name) {
    int p = kn__imp_node_making(s->m, name);
    return p >= 0 && kn__imp_readers(s->m, name) == 1 ? p : -1;
}

/* A scalar float constant's value. */
static bool scalar_of(const imp *s, const char *name, float *v) {
    const kn__onnx_tensor *t = kn__imp_constant(s, name);
    if (!t || !t->f || t->numel != 1) return false;
    *v = t->f[0];
    return true;
}

/* A (Tq, Tk) (or (1, Tq, Tk)) causal mask: 0 on and below the diagonal, <= -1e4 above. */
static bool causal_mask(const imp *s, const char *name) {
    const kn__onnx_tensor *t = kn__imp_constant(s, name);
    if (!t || !t->f || t->ndim < 2 || t->ndim > 3 || (t->ndim == 3 && t->dims[0] != 1)) return false;
    int64_t tq = t->dims[t->ndim - 2], tk = t->dims[t->ndim - 1];
    for (int64_t r = 0; r < tq; r++)
        for (int64_t c = 0; c < tk; c++) {
            float v = t->f[r * tk + c];
            if (c <= r ? v != 0.0f : !(v <= -1e4f)) return false;
        }
    return true;
}

int kn__imp_dot_region(const imp *s, int i, unsigned char *mark, imp_dot *d) {
    const kn__onnx_model *m = s->m;
    const kn__onnx_node *sm = &m->nodes[i];
    *d = (imp_dot){.scale = 1.0f};
    int64_t axis = kn__imp_attr_int(sm, "axis", -1);
    if (sm->n_inputs != 1 || sm->n_outputs < 1 || (axis != -1 && axis != 2)) return -1;
    /* back: [Add causal] <- [Mul / Div scalar] <- MatMul(q, Transpose(k)) */
    int p = sole_maker(s, sm->inputs[0]), nodes[6], n = 0;
    nodes[n++] = i;
    if (p >= 0 && op_is(&m->nodes[p], "Add") && m->nodes[p].n_inputs == 2) {
        const kn__onnx_node *a = &m->nodes[p];
        int c = kn__imp_constant(s, a->inputs[1]) ? 1 : kn__imp_constant(s, a->inputs[0]) ? 0 : -1;
        if (c < 0 || !causal_mask(s, a->inputs[c])) return -1;
        d->causal = true;
        nodes[n++] = p;
        p = sole_maker(s, a->inputs[1 - c]);
    }
    if (p >= 0 && (op_is(&m->nodes[p], "Mul") || op_is(&m->nodes[p], "Div")) && m->nodes[p].n_inputs == 2) {
        const kn__onnx_node *a = &m->nodes[p];
        bool div = op_is(a, "Div");
        int c = scalar_of(s, a->inputs[1], &d->scale) ? 1 : !div && scalar_of(s, a->inputs[0], &d->scale) ? 0 : -1;
        if (c < 0 || !isfinite(d->scale) || d->scale == 0) return -1;
        if (div) d->scale = 1.0f / d->scale;
        nodes[n++] = p;
        p = sole_maker(s, a->inputs[1 - c]);
    }
    if (p < 0 || !op_is(&m->nodes[p], "MatMul") || m->nodes[p].n_inputs != 2) return -1;
    const kn__onnx_node *mm = &m->nodes[p];
    nodes[n++] = p;
    int t = sole_maker(s, mm->inputs[1]);
    if (t < 0 || !op_is(&m->nodes[t], "Transpose") || m->nodes[t].n_inputs != 1) return -1;
    int64_t perm[3];
    if (!kn__imp_attr_ints(&m->nodes[t], "perm", 3, 0, perm) || perm[0] != 0 || perm[1] != 2 || perm[2] != 1) return -1;
    nodes[n++] = t;
    /* forward: the probabilities' product with v, their only reader */
    int r = -1;
    for (int j = i + 1; j < m->n_nodes && r < 0; j++)
        if (m->nodes[j].n_inputs == 2 && strcmp(m->nodes[j].inputs[0], sm->outputs[0]) == 0) r = j;
    if (r < 0 || !op_is(&m->nodes[r], "MatMul") || kn__imp_readers(m, sm->outputs[0]) != 1) return -1;
    nodes[n++] = r;
    const char *q = mm->inputs[0], *k = m->nodes[t].inputs[0], *v = m->nodes[r].inputs[1];
    if (kn__imp_constant(s, q) || kn__imp_constant(s, k) || kn__imp_constant(s, v)) return -1;
    snprintf(d->q, sizeof d->q, "%s", q);
    snprintf(d->k, sizeof d->k, "%s", k);
    snprintf(d->v, sizeof d->v, "%s", v);
    snprintf(d->out, sizeof d->out, "%s", m->nodes[r].outputs[0]);
    d->found = true;
    for (int j = 0; j < n; j++) mark[nodes[j]] = 1;
    return r;
}

/* v a sequence the walk has read, in ONNX's (N, L, C) order. */
static const imp_value *sequence(imp *s, const char *name, const char *role) {
    const imp_value *v = kn__imp_find_value(s, name);
    if (!v) {
        kn__imp_unsupported(s, role);
        return NULL;
    }
    if (!v->seq || v->ids || v->half || strcmp(v->ord, "NLC") != 0 || v->d != 1) {
        kn__imp_unsupported(s, "attention without projections over other than (batch, steps, channels) sequences");
        return NULL;
    }
    return v;
}

kn_status kn__imp_read_dot_attention(imp *s, const imp_dot *d) {
    const imp_value *q = sequence(s, d->q, "its query is no value kiln read"), *k, *v;
    if (!q || !(k = sequence(s, d->k, "its key is no value kiln read")) ||
        !(v = sequence(s, d->v, "its value is no value kiln read")))
        return KN_ERR_UNSUPPORTED;
    if (q->c != k->c || k->l != v->l)
        return kn__imp_fail(s, KN_ERR_SHAPE, "attention whose key does not fit its query's channels and its value's steps",
                            NULL);
    int from[3] = {q->layer, v->layer, k->layer};
    bool self = q == v && v == k;
    int64_t tq = q->l, dv = v->c;
    kn__imp_load_value(s, q);
    imp_layer *L = self ? kn__imp_add_layer(s, "attention") : kn__imp_add_layer_from(s, "attention", from, v == k ? 2 : 3);
    if (!L || !cJSON_AddBoolToObject(L->json, "use_scale", d->scale != 1.0f) ||
        (d->causal && !cJSON_AddBoolToObject(L->json, "use_causal_mask", true)))
        return kn__imp_oom(s);
    if (d->scale != 1.0f) {
        float *sc = kn__imp_add_param(L, "scale", 1);
        if (!sc) return kn__imp_oom(s);
        sc[0] = d->scale;
    }
    s->seq = true, s->image = false, s->l = tq, s->c = dv, s->d = 1;
    snprintf(s->ord, sizeof s->ord, "NLC");
    return kn__imp_add_value(s, d->out);
}

kn_status kn__imp_dot_pattern(imp *s, int i, int *count) {
    const kn__onnx_model *m = s->m;
    const kn__onnx_node *mul = &m->nodes[i];
    *count = 0;
    if (mul->n_inputs != 2 || mul->n_outputs < 1 || kn__imp_readers(m, mul->outputs[0]) != 1) return KN_OK;
    const imp_value *a = kn__imp_find_value(s, mul->inputs[0]), *b = kn__imp_find_value(s, mul->inputs[1]);
    if (!a || !b || a->image || b->image || a->seq || b->seq || a->ids || b->ids || a->perm || b->perm || a->units ||
        b->units || a->half || b->half || a->f != b->f)
        return KN_OK;
    int r = -1;
    for (int j = i + 1; j < m->n_nodes && r < 0; j++)
        if (m->nodes[j].n_inputs >= 1 && strcmp(m->nodes[j].inputs[0], mul->outputs[0]) == 0) r = j;
    if (r < 0 || !op_is(&m->nodes[r], "ReduceSum")) return KN_OK;
    for (int j = i + 1; j < r; j++) /* (the walk skips the nodes between: constants alone) */
        if (!op_is(&m->nodes[j], "Constant")) return KN_OK;
    const kn__onnx_node *sum = &m->nodes[r];
    const kn__onnx_tensor *axes = sum->n_inputs > 1 && sum->inputs[1][0] ? kn__imp_constant(s, sum->inputs[1]) : NULL;
    if (kn__imp_attr_int(sum, "keepdims", 1) != 1 || !axes || !axes->i || axes->numel != 1 ||
        (axes->i[0] != -1 && axes->i[0] != 1))
        return KN_OK;
    int from[2] = {a->layer, b->layer};
    kn__imp_load_value(s, a);
    if (!kn__imp_add_layer_from(s, "dot", from, 2)) return kn__imp_oom(s);
    s->f = 1;
    *count = r - i + 1;
    return KN_OK;
}
