/* onnx_import_shuffle.c — ShuffleNet's channel shuffle and channel split of images (N, C, H,
 * W), in kiln's reshape, permute and cropping2d layers (kiln holds an image (H, W, C): the
 * channels are its last axis, so both move runs of channels within each pixel):
 *
 *   channel shuffle, as PyTorch exports x.view(N, G, K, H, W).transpose(1, 2).reshape(N, C,
 *   H, W) (K = C / G): Reshape to (N, G, K, H, W) -> Transpose perm (0, 2, 1, 3, 4) -> Reshape
 *   back to (N, C, H, W), each read by the next alone, the shapes constants or worked out from
 *   the input's (onnx_import_shape.c). Output channel k G + g is input channel g K + k (input
 *   channel c goes to (c % K) G + c / K): kiln's reshape to (H*W, G, K), permute of the last two
 *   axes (dims [1, 3, 2]) and reshape back to (H, W, C) move the same values. Read whole at the
 *   first Reshape; the Transpose and the Reshape back are marked read (s->read_ahead).
 *
 *   channel split (torch.chunk / torch.split along dim 1): a Slice of axis 1 (its bounds
 *   constants or computed from the input's shape, as torch.chunk's are) or a Split of axis 1:
 *   channels [b, e) as a reshape to (H*W, C/k, k), a cropping2d of columns [b/k, e/k) and a
 *   reshape to (H, W, e - b), k the largest count dividing b, e and C (runs of k copied).
 *
 * Anything else of these shapes (another perm, G not dividing C, a split of other axes) is
 * refused in one line naming the node. */
#include "io/onnx_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The nodes reading value `name`, a Shape too (a shuffle's inner values may have no other
 * reader); the last one's index in *at. */
static int readers_at(const kn__onnx_model *m, const char *name, int *at) {
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_inputs; k++)
            if (strcmp(m->nodes[i].inputs[k], name) == 0) n++, *at = i;
    return n;
}

/* A reshape layer to (a, b, c) per sample. */
static kn_status add_reshape3(imp *s, int64_t a, int64_t b, int64_t c) {
    imp_layer *L = kn__imp_add_layer(s, "reshape");
    cJSON *t = L ? cJSON_CreateArray() : NULL;
    if (!t) return kn__imp_oom(s);
    cJSON_AddItemToObject(L->json, "target_shape", t);
    const int64_t d[3] = {a, b, c};
    for (int k = 0; k < 3; k++) cJSON_AddItemToArray(t, cJSON_CreateNumber((double)d[k]));
    return KN_OK;
}

/* A Reshape's n dimensions k (batched: times the batch) resolved against its input's
 * dimensions in[0..n_in) (in[0] the batch): ONNX's 0 copies in[j], one -1 takes what the
 * others leave of total; the batch axis must be the batch (times 1, 0 or -1). False when
 * they do not resolve. */
static bool resolve(const int64_t *k, const bool *batched, int n, const int64_t *in, int n_in, int64_t total, int64_t *d) {
    if (!((batched[0] && k[0] == 1) || (!batched[0] && (k[0] == 0 || k[0] == -1)))) return false;
    int unknown = k[0] == -1 ? 0 : -1;
    int64_t known = 1;
    d[0] = 1;
    for (int j = 1; j < n; j++) {
        if (batched[j]) return false;
        if (k[j] == -1 && unknown >= 0) return false;
        if (k[j] == -1) {
            unknown = j;
            continue;
        }
        d[j] = k[j] == 0 && j < n_in ? in[j] : k[j];
        if (d[j] < 1 || __builtin_mul_overflow(known, d[j], &known) || known > total) return false;
    }
    if (unknown > 0) {
        if (total % known) return false;
        d[unknown] = total / known;
    }
    return unknown > 0 || known == total;
}

kn_status kn__imp_read_shuffle(imp *s, bool *done) {
    const kn__onnx_model *m = s->m;
    const kn__onnx_node *view = s->node;
    int view_at = s->node_index;
    int64_t k[8];
    bool batched[8];
    int n = 0;
    *done = false;
    if (!s->image || s->nhwc || s->perm || view->n_inputs < 2 || kn__imp_eval_shape(s, view->inputs[1], k, batched, &n) ||
        n != 5)
        return KN_OK;
    *done = true; /* an image viewed in 5 dimensions: a channel shuffle, or refused here */
    int64_t C = s->c, H = s->h, W = s->w, total = C * H * W, in[4] = {1, C, H, W}, d[5];
    char why[320];
    /* (N, G, K, H, W), G K = C (a -1 for G or K that leaves no whole count: G does not divide C) */
    int unknown = k[1] == -1 ? 1 : k[2] == -1 ? 2 : 0;
    if (unknown && !batched[3 - unknown] && k[3 - unknown] > 0 && C % k[3 - unknown]) {
        snprintf(why, sizeof why, "a channel shuffle's view of the image's %lld channels as %lld x -1 (C / G must be whole)",
                 (long long)C, (long long)k[3 - unknown]);
        return kn__imp_unsupported(s, why);
    }
    if (!resolve(k, batched, 5, in, 4, total, d) || d[3] != H || d[4] != W || d[1] * d[2] != C) {
        snprintf(why, sizeof why, "kiln reads a Reshape of an image (N, %lld, %lld, %lld) to 5 dimensions only as a channel "
                 "shuffle's view (N, G, C/G, H, W), G dividing C", (long long)C, (long long)H, (long long)W);
        return kn__imp_unsupported(s, why);
    }
    int64_t G = d[1], K = d[2];
    /* its only reader: Transpose perm (0, 2, 1, 3, 4), read by a Reshape back alone */
    int t_at = -1, r_at = -1;
    static const char *const shape_why = "kiln reads an image viewed as (N, G, C/G, H, W) only as a channel shuffle: "
                                         "Transpose perm (0, 2, 1, 3, 4), then Reshape back to (N, C, H, W), each its "
                                         "input's only reader";
    if (readers_at(m, view->outputs[0], &t_at) != 1 || strcmp(m->nodes[t_at].op, "Transpose") != 0)
        return kn__imp_unsupported(s, shape_why);
    const kn__onnx_node *tr = &m->nodes[t_at];
    const kn__onnx_attr *p = kn__onnx_attr_get(tr, "perm");
    static const int64_t shuffle[5] = {0, 2, 1, 3, 4};
    bool perm_ok = p && p->kind == KN__ONNX_ATTR_INTS && p->n == 5;
    for (int j = 0; perm_ok && j < 5; j++) perm_ok = p->ints[j] == shuffle[j];
    s->node = tr, s->node_index = t_at; /* (refusals below name the node at fault) */
    if (!perm_ok)
        return kn__imp_unsupported(s, "a Transpose of a channel shuffle's view (N, G, C/G, H, W) other than perm (0, 2, 1, "
                                      "3, 4) (kiln reads 5-D image views only as a channel shuffle)");
    if (tr->n_outputs < 1 || readers_at(m, tr->outputs[0], &r_at) != 1 || strcmp(m->nodes[r_at].op, "Reshape") != 0)
        return kn__imp_unsupported(s, shape_why);
    const kn__onnx_node *back = &m->nodes[r_at];
    s->node = back, s->node_index = r_at;
    int64_t t_dims[5] = {1, K, G, H, W}, e[4];
    if (back->n_inputs < 2 || kn__imp_eval_shape(s, back->inputs[1], k, batched, &n) || n != 4 ||
        !resolve(k, batched, 4, t_dims, 5, total, e) || e[1] != C || e[2] != H || e[3] != W) {
        snprintf(why, sizeof why, "a channel shuffle's Reshape back to other than the image's (N, %lld, %lld, %lld) (its "
                 "shape a constant, or worked out from the input's)", (long long)C, (long long)H, (long long)W);
        return kn__imp_unsupported(s, why);
    }
    s->node = view, s->node_index = view_at;
    if (!s->read_ahead && !(s->read_ahead = calloc((size_t)m->n_nodes, 1))) return kn__imp_oom(s);
    s->read_ahead[t_at] = s->read_ahead[r_at] = 1;
    /* (H, W, C) -> (H*W, G, K) -> (H*W, K, G) -> (H, W, C) */
    kn_status st = add_reshape3(s, H * W, G, K);
    imp_layer *L = st ? NULL : kn__imp_add_layer(s, "permute");
    cJSON *dims = L ? cJSON_CreateArray() : NULL;
    if (!st && !dims) st = kn__imp_oom(s);
    if (st) return st;
    cJSON_AddItemToObject(L->json, "dims", dims);
    for (int j = 0; j < 3; j++) cJSON_AddItemToArray(dims, cJSON_CreateNumber(j == 0 ? 1 : j == 1 ? 3 : 2));
    if ((st = add_reshape3(s, H, W, C))) return st;
    /* the Reshape back's output is this image (the walk records the view's output too, read
     * by the Transpose alone, which it skips) */
    s->excl = true;
    return kn__imp_add_value(s, back->outputs[0]);
}

static int64_t gcd(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

kn_status kn__imp_channel_crop(imp *s, int64_t b, int64_t e) {
    int64_t C = s->c, H = s->h, W = s->w;
    if (b == 0 && e == C) return KN_OK;
    int64_t run = gcd(gcd(b, e), C); /* (b = 0: gcd(e, C)) */
    kn_status st = add_reshape3(s, H * W, C / run, run);
    if (st) return st;
    if ((st = kn__imp_add_edges(s, "cropping2d", "cropping", 0, 0, b / run, (C - e) / run))) return st;
    if ((st = add_reshape3(s, H, W, e - b))) return st;
    s->c = e - b;
    return KN_OK;
}

/* Split of an image's channels (axis 1): sizes from input 1 (opset 13 on) or the split
 * attribute, else equal parts (opset 18's num_outputs: the last one smaller). Each output read
 * becomes a channel crop of the input; the last one read is left as the walk's value
 * (s->out_slot), the others recorded here. */
kn_status kn__imp_read_split(imp *s) {
    const kn__onnx_node *nd = s->node;
    kn_status st = kn__imp_need_image(s);
    if (st) return st;
    int64_t axis = kn__imp_attr_int(nd, "axis", 0);
    if (axis != 1 && axis != -3) return kn__imp_unsupported(s, "a Split of an image other than of its channels (axis 1)");
    int n = nd->n_outputs;
    int64_t size[8], C = s->c;
    if (n < 1 || n > 8) return kn__imp_unsupported(s, "a Split into more than 8 parts");
    const kn__onnx_tensor *t = nd->n_inputs > 1 && nd->inputs[1][0] ? kn__imp_constant(s, nd->inputs[1]) : NULL;
    if (nd->n_inputs > 1 && nd->inputs[1][0] && (!t || !t->i || t->numel != n))
        return kn__imp_unsupported(s, "split must be an int constant of one size an output");
    bool attr = !t && kn__onnx_attr_get(nd, "split");
    if (attr && !kn__imp_attr_ints(nd, "split", n, 0, size)) return kn__imp_unsupported(s, "split must be one size an output");
    int64_t sum = 0;
    for (int j = 0; j < n; j++) {
        if (t) size[j] = t->i[j];
        else if (!attr) size[j] = j < n - 1 ? (C + n - 1) / n : C - (C + n - 1) / n * (n - 1);
        if (size[j] < 1 || size[j] > C) return kn__imp_unsupported(s, "a Split into parts of no channels");
        sum += size[j];
    }
    if (sum != C) {
        char why[160];
        snprintf(why, sizeof why, "a Split whose sizes add up to %lld, not the image's %lld channels", (long long)sum,
                 (long long)C);
        return kn__imp_unsupported(s, why);
    }
    const imp_value *v = kn__imp_find_value(s, s->cur);
    if (!v) return kn__imp_unsupported(s, "it reads no value of the graph");
    imp_value in = *v; /* (a copy: recording values may move the table) */
    int last = -1, at = 0;
    for (int j = 0; j < n; j++)
        if (nd->outputs[j][0] && readers_at(s->m, nd->outputs[j], &at)) last = j;
    int64_t b = 0;
    for (int j = 0; j < n && j <= last; b += size[j], j++) {
        if (!nd->outputs[j][0] || !readers_at(s->m, nd->outputs[j], &at)) continue;
        kn__imp_load_value(s, &in);
        if ((st = kn__imp_channel_crop(s, b, b + size[j]))) return st;
        s->out_slot = j;
        if (j == last) break; /* (the walk records it) */
        s->excl = s->src_layer != in.layer || (in.excl && kn__imp_readers(s->m, in.name) == 1);
        if ((st = kn__imp_add_value(s, nd->outputs[j]))) return st;
    }
    return KN_OK;
}
