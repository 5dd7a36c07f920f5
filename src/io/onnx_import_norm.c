/* onnx_import_norm.c — group and instance normalization from ONNX, as kiln's
 * group_normalization layer (over kiln's last axis, the channels):
 *
 *   PyTorch's nn.GroupNorm (opsets before 18 have no GroupNormalization) and kiln's export
 *   spell it Reshape(x, [0, G, -1]) -> InstanceNormalization(scale (G), B (G)) -> Reshape
 *   back to x's shape (a Shape of x, or its dimensions as a constant) -> Mul by gamma -> Add of
 *   beta (one value per channel, broadcast over the positions; either may be left out). The
 *   per-group scale and B fold into gamma and beta: s_g (xhat gamma_c) ... = xhat (s_g gamma_c)
 *   + (b_g gamma_c + beta_c). (kn__imp_group_norm_pattern)
 *
 *   InstanceNormalization of an image (N, C, H, W) or a sequence (N, C, L), its scale and B one
 *   value per channel: each (sample, channel) normalized over its positions, a group a channel
 *   (kn__imp_read_instance_norm).
 *
 * x's channels must be ONNX's axis 1 (an image in NCHW, a sequence in (N, C, L), features).
 *
 *   Unit normalization over the channels, as kiln export writes it (ReduceSumSquare ->
 *   Max(., eps) -> Sqrt -> Div(x, .)) and as PyTorch's F.normalize does (ReduceL2 ->
 *   Clip(min eps) -> Expand -> Div(x, .)): unit_normalization (kiln's floor is Keras's, 1e-12
 *   on the squared norm; F.normalize's is its eps on the norm: they differ for rows of norm
 *   below 1e-6 alone) (kn__imp_unit_norm_pattern). */
#include "io/onnx_import.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* x's channels C when they are ONNX's axis 1 of x, and x's rank there; 0 otherwise. */
static int64_t channels_first(const imp *s, int *rank) {
    if (s->ids || s->perm || s->half) return 0;
    if (s->image) return s->nhwc ? 0 : (*rank = 4, s->c);
    if (s->seq) return strcmp(s->ord, "NCL") == 0 && s->d == 1 ? (*rank = 3, s->c) : 0;
    return s->units ? 0 : (*rank = 2, s->f);
}

/* t holds one value per channel in a shape that broadcasts along x's axis 1 (rank dims):
 * (C) over features, (C, 1) over (N, C, L), (C, 1, 1) over (N, C, H, W), 1s before allowed. */
static bool per_channel(const kn__onnx_tensor *t, int64_t c, int rank) {
    if (!t || !t->f || t->numel != c || t->ndim > rank || t->ndim < rank - 1) return false;
    int at = t->ndim - (rank - 1); /* the channels' axis in t */
    for (int k = 0; k < t->ndim; k++)
        if (t->dims[k] != (k == at ? c : 1)) return false;
    return true;
}

/* The layer: groups (-1: a group a channel), epsilon, gamma and beta (C values, either NULL). */
static kn_status add_group_norm(imp *s, int64_t groups, float eps, const float *gamma, const float *beta, int64_t c) {
    imp_layer *L = kn__imp_add_layer(s, "group_normalization");
    if (!L || !cJSON_AddNumberToObject(L->json, "groups", (double)groups) ||
        !cJSON_AddNumberToObject(L->json, "epsilon", eps) || !cJSON_AddBoolToObject(L->json, "center", beta != NULL) ||
        !cJSON_AddBoolToObject(L->json, "scale", gamma != NULL))
        return kn__imp_oom(s);
    const float *p[2] = {gamma, beta};
    static const char *const what[2] = {"gamma", "beta"};
    for (int k = 0; k < 2; k++) {
        float *d = p[k] ? kn__imp_add_param(L, what[k], c) : NULL;
        if (p[k] && !d) return kn__imp_oom(s);
        if (d) memcpy(d, p[k], (size_t)c * sizeof *d);
    }
    return KN_OK;
}

kn_status kn__imp_read_instance_norm(imp *s) {
    int rank = 0;
    int64_t c = channels_first(s, &rank);
    if (!c || rank < 3) {
        if (s->image && s->nhwc) return kn__imp_need_image(s);
        return kn__imp_unsupported(s, "an instance norm of other than an image (N, C, H, W) or a sequence (N, C, L) "
                                      "over its positions");
    }
    const kn__onnx_tensor *g = kn__imp_const_input(s, 1, c), *b = kn__imp_const_input(s, 2, c);
    if (!g || !b) return kn__imp_unsupported(s, "scale and B must be constants of one value per channel");
    return add_group_norm(s, -1, kn__imp_attr_float(s->node, "epsilon", 1e-5f), g->f, b->f, c);
}

/* The nodes from i on that are neither Constant nor Shape (shape arithmetic the pattern's
 * Reshape back reads), at most max, and their indices. */
static int data_nodes(const kn__onnx_model *m, int i, const kn__onnx_node **nd, int *at, int max) {
    int n = 0;
    for (int j = i; n < max && j < m->n_nodes; j++)
        if (strcmp(m->nodes[j].op, "Constant") != 0 && strcmp(m->nodes[j].op, "Shape") != 0 && m->nodes[j].n_outputs >= 1)
            nd[n] = &m->nodes[j], at[n++] = j;
    return n;
}

/* Node q is `op` of prev (read by q alone) and a constant: that constant, else NULL. */
static const kn__onnx_tensor *op_with_constant(const imp *s, const kn__onnx_node *q, const char *op, const char *prev) {
    if (strcmp(q->op, op) != 0 || q->n_inputs != 2 || kn__imp_readers(s->m, prev) != 1) return NULL;
    int other = strcmp(q->inputs[0], prev) == 0 ? 1 : strcmp(q->inputs[1], prev) == 0 ? 0 : -1;
    return other < 0 ? NULL : kn__imp_constant(s, q->inputs[other]);
}

kn_status kn__imp_group_norm_pattern(imp *s, int i, int *count) {
    const kn__onnx_model *m = s->m;
    const kn__onnx_node *nd[5] = {NULL};
    int at[5] = {0}, rank = 0, n = data_nodes(m, i, nd, at, 5);
    *count = 0;
    int64_t c = channels_first(s, &rank);
    if (!c || n < 3 || strcmp(nd[0]->op, "Reshape") != 0 || nd[0]->n_inputs < 2) return KN_OK;
    /* Reshape(x, [0, G, -1]) (or its count of values a group, M = C / G positions) */
    const kn__onnx_tensor *shape = kn__imp_constant(s, nd[0]->inputs[1]);
    int64_t per = s->image ? s->h * s->w : s->seq ? s->l : 1;
    if (!shape || !shape->i || shape->numel != 3 || shape->i[0] != 0 || shape->i[1] < 1 || c % shape->i[1] != 0)
        return KN_OK;
    int64_t groups = shape->i[1];
    if (shape->i[2] != -1 && shape->i[2] != c / groups * per) return KN_OK;
    /* InstanceNormalization of it, scale and B constants of G values */
    const char *r1 = nd[0]->outputs[0];
    const kn__onnx_node *in = nd[1];
    const kn__onnx_tensor *sg = in->n_inputs == 3 ? kn__imp_constant(s, in->inputs[1]) : NULL,
                          *bg = in->n_inputs == 3 ? kn__imp_constant(s, in->inputs[2]) : NULL;
    if (strcmp(in->op, "InstanceNormalization") != 0 || strcmp(in->inputs[0], r1) != 0 || kn__imp_readers(m, r1) != 1 ||
        !sg || !sg->f || sg->numel != groups || !bg || !bg->f || bg->numel != groups)
        return KN_OK;
    /* Reshape back to x's dimensions */
    const kn__onnx_node *back = nd[2];
    const char *r2 = in->outputs[0];
    int64_t k[8];
    bool batched[8];
    int nk = 0;
    if (strcmp(back->op, "Reshape") != 0 || back->n_inputs < 2 || strcmp(back->inputs[0], r2) != 0 ||
        kn__imp_readers(m, r2) != 1 || kn__imp_eval_shape(s, back->inputs[1], k, batched, &nk) || nk != rank)
        return KN_OK;
    int64_t want[4] = {0, c, s->image ? s->h : s->seq ? s->l : 0, s->image ? s->w : 0};
    bool same = (batched[0] && k[0] == 1) || (!batched[0] && k[0] == 0);
    for (int d = 1; same && d < rank; d++) same = !batched[d] && k[d] == want[d];
    if (!same) return KN_OK;
    /* then Mul by gamma, Add of beta, each optional: one value per channel along axis 1 */
    const kn__onnx_tensor *p[2] = {NULL, NULL};
    int last = 2;
    static const char *const ops[2] = {"Mul", "Add"};
    for (int q = 0; q < 2 && last + 1 < n; q++) {
        const kn__onnx_tensor *t = op_with_constant(s, nd[last + 1], ops[q], nd[last]->outputs[0]);
        if (!per_channel(t, c, rank)) continue;
        p[q] = t;
        last++;
    }
    /* gamma' = s_g gamma, beta' = b_g gamma + beta (a missing gamma is ones, beta zeros) */
    float *gamma = malloc((size_t)c * sizeof *gamma), *beta = malloc((size_t)c * sizeof *beta);
    bool scale = false, center = false;
    for (int64_t j = 0; gamma && beta && j < c; j++) {
        float gm = p[0] ? p[0]->f[j] : 1.0f, sv = sg->f[j / (c / groups)], bv = bg->f[j / (c / groups)];
        gamma[j] = sv * gm;
        beta[j] = bv * gm + (p[1] ? p[1]->f[j] : 0.0f);
        scale |= gamma[j] != 1.0f, center |= beta[j] != 0.0f;
    }
    scale |= p[0] != NULL, center |= p[1] != NULL;
    kn_status st = gamma && beta ? add_group_norm(s, groups, kn__imp_attr_float(in, "epsilon", 1e-5f),
                                                   scale ? gamma : NULL, center ? beta : NULL, c)
                                 : kn__imp_oom(s);
    free(gamma);
    free(beta);
    if (!st) *count = at[last] - i + 1;
    return st;
}

/* Node q reads `a` and a float scalar constant (in either order): its value. */
static bool with_scalar(const imp *s, const kn__onnx_node *q, const char *a, float *v) {
    if (q->n_inputs != 2) return false;
    int other = strcmp(q->inputs[0], a) == 0 ? 1 : strcmp(q->inputs[1], a) == 0 ? 0 : -1;
    const kn__onnx_tensor *t = other < 0 ? NULL : kn__imp_constant(s, q->inputs[other]);
    if (!t || !t->f || t->numel != 1) return false;
    *v = t->f[0];
    return true;
}

kn_status kn__imp_unit_norm_pattern(imp *s, int i, int *count) {
    const kn__onnx_model *m = s->m;
    const kn__onnx_node *nd[4] = {NULL};
    int at[4] = {0}, n = data_nodes(m, i, nd, at, 4);
    *count = 0;
    const char *x = s->cur;
    if (n < 4 || s->ids || s->half || strcmp(nd[0]->inputs[0], x) != 0 || !kn__imp_channel_axis(s, kn__imp_reduce_axis(s, nd[0])))
        return KN_OK;
    bool l2 = strcmp(nd[0]->op, "ReduceL2") == 0;
    float eps = 0;
    const char *r = nd[0]->outputs[0];
    if (kn__imp_readers(m, r) != 1) return KN_OK;
    if (!l2) { /* Max(r, eps) -> Sqrt */
        if (strcmp(nd[1]->op, "Max") != 0 || !with_scalar(s, nd[1], r, &eps) || strcmp(nd[2]->op, "Sqrt") != 0 ||
            strcmp(nd[2]->inputs[0], nd[1]->outputs[0]) != 0)
            return KN_OK;
    } else { /* Clip(r, min eps) -> Expand (to x's shape) */
        const kn__onnx_tensor *lo = nd[1]->n_inputs > 1 && nd[1]->inputs[1][0] ? kn__imp_constant(s, nd[1]->inputs[1]) : NULL;
        if (strcmp(nd[1]->op, "Clip") != 0 || strcmp(nd[1]->inputs[0], r) != 0 || !lo || !lo->f || lo->numel != 1 ||
            (nd[1]->n_inputs > 2 && nd[1]->inputs[2][0]) || strcmp(nd[2]->op, "Expand") != 0 ||
            strcmp(nd[2]->inputs[0], nd[1]->outputs[0]) != 0)
            return KN_OK;
        eps = lo->f[0] * lo->f[0];
    }
    const char *norm = nd[2]->outputs[0];
    if (!(eps > 0) || eps > 1e-6f || kn__imp_readers(m, nd[1]->outputs[0]) != 1 || kn__imp_readers(m, norm) != 1 ||
        strcmp(nd[3]->op, "Div") != 0 || nd[3]->n_inputs != 2 || strcmp(nd[3]->inputs[0], x) != 0 ||
        strcmp(nd[3]->inputs[1], norm) != 0)
        return KN_OK;
    if (!kn__imp_add_layer(s, "unit_normalization")) return kn__imp_oom(s);
    *count = at[3] - i + 1;
    return KN_OK;
}
