/* ops_attention.c — scaled dot-product attention over heads (Keras's MultiHeadAttention's
 * core, PyTorch's scaled_dot_product_attention) in the graph: kn_attention and the op table
 * entries of KN_OP_ATTENTION and its gradient. Each (sample, head) is softmax(Q K^T * scale)
 * V on column blocks of the projected rows, so no transpose of the heads is ever made. The
 * probabilities are not kept: the backward recomputes them from Q and K (one more product
 * per head, as FlashAttention does), so a layer costs no (heads, Tq, Tk) buffer between its
 * forward and backward. The kernels: backend/cpu/attention.c (and the CUDA backend's). */
#include "graph.h"

#include <math.h>
#include <string.h>

/* iparam: [0] heads H, [1] query steps Tq, [2] key steps Tk, [3] key_dim Dk, [4] value_dim
 * Dv, [5] flags (KN_ATTENTION_CAUSAL, KN__ATTENTION_QUERY_MASK, KN__ATTENTION_KEY_MASK) | the
 * dropout mask's key << KN__ATTENTION_KEY_SHIFT; fparam[0] the scale (1 / sqrt(Dk)), [1] the
 * dropout rate on the probabilities (0: none).
 *
 * Masks (Keras's query and value masks, from an embedding's mask_zero): query step i sees key
 * step j where both masks keep them (> 0.5) and, causal, j <= i. A row that sees no key is
 * Keras's too: its scores all -1e9, so its probabilities are uniform over every key and no
 * gradient reaches its scores. The masks come as one (N, Tq + Tk) tensor, the parts present. */
static int64_t q_width(const kn_tensor *t) { return (int64_t)t->iparam[1] * t->iparam[0] * t->iparam[3]; }
static int64_t k_width(const kn_tensor *t) { return (int64_t)t->iparam[2] * t->iparam[0] * t->iparam[3]; }
static int64_t v_width(const kn_tensor *t) { return (int64_t)t->iparam[2] * t->iparam[0] * t->iparam[4]; }
static int64_t o_width(const kn_tensor *t) { return (int64_t)t->iparam[1] * t->iparam[0] * t->iparam[4]; }
static int64_t mask_width(const kn_tensor *t) {
    return (t->iparam[5] & KN__ATTENTION_QUERY_MASK ? t->iparam[1] : 0) + (t->iparam[5] & KN__ATTENTION_KEY_MASK ? t->iparam[2] : 0);
}

/* src[i] is F32 (rows, width) of one row a sample, rows as src[0]'s. */
static bool check_rows(kn_graph *g, kn_tensor *t, int i, const char *what, int64_t width) {
    const kn_tensor *x = t->src[i], *first = t->src[0];
    char s[64];
    if (!x || x->dtype != KN_F32 || x->ndim != 2 || x->shape[1] != width || kn__batch_rows(x) != 1 ||
        x->shape[0] != first->shape[0])
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s %s is not F32 (%s, %lld)", t->name, what,
                              x ? kn__shape_str(x, s, sizeof s) : "(missing)",
                              first->shape[0] == KN_BATCH ? "batch" : "rows", (long long)width);
    return true;
}

bool kn__infer_attention(kn_graph *g, kn_tensor *t) {
    if (!check_rows(g, t, 0, "queries", q_width(t)) || !check_rows(g, t, 1, "keys", k_width(t)) ||
        !check_rows(g, t, 2, "values", v_width(t)) || (mask_width(t) && !check_rows(g, t, 3, "masks", mask_width(t))))
        return false;
    t->ndim = 2;
    t->shape[0] = t->src[0]->shape[0];
    t->shape[1] = o_width(t);
    return true;
}

/* (dO, Q, K, V) -> (rows, dQ | dK | dV) */
bool kn__infer_attention_grad(kn_graph *g, kn_tensor *t) {
    if (!check_rows(g, t, 0, "output gradient", o_width(t)) || !check_rows(g, t, 1, "queries", q_width(t)) ||
        !check_rows(g, t, 2, "keys", k_width(t)) || !check_rows(g, t, 3, "values", v_width(t)) ||
        (mask_width(t) && !check_rows(g, t, 4, "masks", mask_width(t))))
        return false;
    t->ndim = 2;
    t->shape[0] = t->src[0]->shape[0];
    t->shape[1] = q_width(t) + k_width(t) + v_width(t);
    return true;
}

void kn__backward_attention(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2];
    kn_tensor *d = kn__node(g, KN_OP_ATTENTION_GRAD, dy, q, k);
    if (!d) return;
    d->src[3] = v;
    d->src[4] = t->src[3]; /* the masks, or NULL */
    memcpy(d->iparam, t->iparam, sizeof d->iparam);
    d->fparam[0] = t->fparam[0];
    d->fparam[1] = t->fparam[1]; /* the same mask: the same key, rate and step */
    d = kn__finish(g, d);
    if (!d) return;
    int64_t qw = q_width(t), kw = k_width(t), vw = v_width(t);
    /* q, k and v may be one tensor (attention of a sequence to itself without projections):
     * each part accumulates into it */
    if (q->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, q, kn__slice_last(g, d, 0, qw));
    if (k->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, k, kn__slice_last(g, d, qw, kw));
    if (v->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, v, kn__slice_last(g, d, qw + kw, vw));
}

static kn_tensor *att_fail(kn_graph *g, const char *fmt, const char *what, const kn_tensor *x) {
    char s[64];
    kn__graph_fail(g, KN_ERR_SHAPE, fmt, what, x ? x->name : "(null)", x ? kn__shape_str(x, s, sizeof s) : "");
    return NULL;
}

/* x (batch or n, T, C) -> (that, T*C), one row a sample */
static kn_tensor *rows_of(kn_graph *g, kn_tensor *x) {
    bool batched = x->shape[0] == KN_BATCH;
    return kn__reshape_rows(g, x, (int64_t[]){x->shape[0], x->shape[1] * x->shape[2]}, 2, batched ? 1 : 0);
}

kn_tensor *kn_attention(kn_graph *g, kn_tensor *q, kn_tensor *k, kn_tensor *v, int num_heads, unsigned flags) {
    return kn_attention_dropout(g, q, k, v, num_heads, flags, 0.0f);
}

kn_tensor *kn_attention_dropout(kn_graph *g, kn_tensor *q, kn_tensor *k, kn_tensor *v, int num_heads, unsigned flags,
                                float rate) {
    return kn_attention_masked(g, q, k, v, num_heads, flags, rate, NULL, NULL);
}

/* A mask (batch, T) F32 for steps of T (a mixed-precision graph keeps it f32: its readers
 * take no half); false after failing. */
static bool check_mask(kn_graph *g, const char *what, const char *which, const kn_tensor *m, const kn_tensor *x) {
    char s1[64], s2[64];
    if (m && (m->ndim != 2 || m->shape[0] != x->shape[0] || m->shape[1] != x->shape[1] || kn__batch_rows(m) != 1 ||
              m->dtype != KN_F32)) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: %s mask '%s' %s must be (batch, steps) of its sequence %s", what, which,
                       m->name, kn__shape_str(m, s1, sizeof s1), kn__shape_str(x, s2, sizeof s2));
        return false;
    }
    return true;
}

kn_tensor *kn_attention_masked(kn_graph *g, kn_tensor *q, kn_tensor *k, kn_tensor *v, int num_heads, unsigned flags,
                               float rate, kn_tensor *query_mask, kn_tensor *key_mask) {
    if (!g || g->status != KN_OK) return NULL;
    const char *what = "attention";
    if (!(rate >= 0.0f && rate < 1.0f)) {
        kn__graph_fail(g, KN_ERR_INVALID_ARGUMENT, "%s: dropout rate %g outside [0, 1)", what, (double)rate);
        return NULL;
    }
    kn_tensor *in[3] = {q, k, v};
    static const char *const names[3] = {"queries", "keys", "values"};
    for (int i = 0; i < 3; i++)
        if (!in[i] || in[i]->dtype != KN_F32 || in[i]->ndim != 3 || kn__batch_rows(in[i]) != 1 ||
            in[i]->shape[1] == KN_BATCH || in[i]->shape[1] < 1 || in[i]->shape[2] < 1) {
            char fmt[96];
            snprintf(fmt, sizeof fmt, "%%s: %s '%%s' must be F32 (batch, steps, channels), got %%s", names[i]);
            return att_fail(g, fmt, what, in[i]);
        }
    char s1[64], s2[64], s3[64];
    if (num_heads < 1 || q->shape[2] % num_heads || v->shape[2] % num_heads || k->shape[2] != q->shape[2] ||
        k->shape[1] != v->shape[1] || q->shape[0] != k->shape[0] || q->shape[0] != v->shape[0]) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: queries %s, keys %s and values %s do not fit %d heads (keys as long as "
                       "values, as wide as queries; widths a multiple of the heads)", what,
                       kn__shape_str(q, s1, sizeof s1), kn__shape_str(k, s2, sizeof s2),
                       kn__shape_str(v, s3, sizeof s3), num_heads);
        return NULL;
    }
    if (!check_mask(g, what, "query", query_mask, q) || !check_mask(g, what, "key", key_mask, k)) return NULL;
    int64_t Tq = q->shape[1], Tk = k->shape[1], Dk = q->shape[2] / num_heads, Dv = v->shape[2] / num_heads;
    if (Tq * q->shape[2] > INT32_MAX / 4 || Tk * (k->shape[2] + v->shape[2]) > INT32_MAX / 4 || Tq * Tk > (1 << 26)) {
        kn__graph_fail(g, KN_ERR_SHAPE, "%s: %lld query steps against %lld key steps is too large", what,
                       (long long)Tq, (long long)Tk);
        return NULL;
    }
    kn_tensor *masks = query_mask && key_mask ? kn_concat(g, query_mask, key_mask) : query_mask ? query_mask : key_mask;
    kn_tensor *t = kn__node(g, KN_OP_ATTENTION, rows_of(g, q), rows_of(g, k), rows_of(g, v));
    if (t) {
        t->src[3] = masks;
        t->iparam[0] = num_heads;
        t->iparam[1] = (int32_t)Tq;
        t->iparam[2] = (int32_t)Tk;
        t->iparam[3] = (int32_t)Dk;
        t->iparam[4] = (int32_t)Dv;
        /* the mask key: the node's index as built, as kn_dropout's (graph.c) */
        t->iparam[5] = (int32_t)((flags & KN_ATTENTION_CAUSAL) | (query_mask ? KN__ATTENTION_QUERY_MASK : 0u) |
                                 (key_mask ? KN__ATTENTION_KEY_MASK : 0u) | ((uint32_t)t->id << KN__ATTENTION_KEY_SHIFT));
        t->fparam[0] = (float)(1.0 / sqrt((double)Dk));
        t->fparam[1] = rate;
    }
    t = kn__finish(g, t);
    if (!t) return NULL;
    bool batched = q->shape[0] == KN_BATCH;
    return kn__reshape_rows(g, t, (int64_t[]){q->shape[0], Tq, num_heads * Dv}, 3, batched ? 1 : 0);
}
