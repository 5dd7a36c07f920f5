/* concat.c — CPU kernels of the merge ops that move or pick values: the join of two
 * tensors along their last axis, its gradient's slices, and the elementwise maximum with
 * its gradient. f32 storage only (the precision pass keeps their tensors f32). */
#include "cpu.h"

#include <string.h>

/* Rows of t: every dimension but the last, resolved for the batch. */
static int64_t rows(const kn_tensor *t) {
    int64_t r = 1;
    for (int d = 0; d + 1 < t->ndim; d++) r *= t->ne[d];
    return r;
}

/* (rows, na) (rows, nb) -> (rows, na + nb) */
void kn__cpu_concat(kn_graph *g, kn_tensor *t) {
    (void)g;
    const kn_tensor *a = t->src[0], *b = t->src[1];
    int64_t n = rows(t), na = a->ne[a->ndim - 1], nb = b->ne[b->ndim - 1];
    const float *x = a->data, *y = b->data;
    float *out = t->data;
    for (int64_t r = 0; r < n; r++) {
        memcpy(out + r * (na + nb), x + r * na, (size_t)na * sizeof *out);
        memcpy(out + r * (na + nb) + na, y + r * nb, (size_t)nb * sizeof *out);
    }
}

/* (rows, cols) -> (rows, width): columns [offset, offset + width) */
void kn__cpu_slice(kn_graph *g, kn_tensor *t) {
    (void)g;
    const kn_tensor *x = t->src[0];
    int64_t n = rows(t), cols = x->ne[x->ndim - 1], off = t->iparam[0], w = t->iparam[1];
    const float *in = x->data;
    float *out = t->data;
    for (int64_t r = 0; r < n; r++) memcpy(out + r * w, in + r * cols + off, (size_t)w * sizeof *out);
}

/* (rows, width) -> (rows, cols): dy in columns [offset, offset + width), zeros elsewhere */
void kn__cpu_slice_grad(kn_graph *g, kn_tensor *t) {
    (void)g;
    const kn_tensor *dy = t->src[0];
    int64_t n = rows(t), cols = t->ne[t->ndim - 1], off = t->iparam[0], w = t->iparam[1];
    const float *in = dy->data;
    float *out = t->data;
    for (int64_t r = 0; r < n; r++) {
        float *o = out + r * cols;
        memset(o, 0, (size_t)off * sizeof *o);
        memcpy(o + off, in + r * w, (size_t)w * sizeof *o);
        memset(o + off + w, 0, (size_t)(cols - off - w) * sizeof *o);
    }
}

void kn__cpu_maximum(kn_graph *g, kn_tensor *t) {
    (void)g;
    const float *a = t->src[0]->data, *b = t->src[1]->data;
    float *y = t->data;
    int64_t n = kn__numel(t);
    for (int64_t i = 0; i < n; i++) y[i] = a[i] >= b[i] ? a[i] : b[i];
}

/* dy to a where a >= b (side 0), to b elsewhere (side 1): a tie's to a */
void kn__cpu_maximum_grad(kn_graph *g, kn_tensor *t) {
    (void)g;
    const float *dy = t->src[0]->data, *a = t->src[1]->data, *b = t->src[2]->data;
    float *dx = t->data;
    int64_t n = kn__numel(t);
    bool side_b = t->iparam[0] != 0;
    for (int64_t i = 0; i < n; i++) dx[i] = (a[i] >= b[i]) != side_b ? dy[i] : 0.0f;
}
