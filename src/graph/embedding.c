/* embedding.c — the gather op (an embedding lookup: rows of a (V, D) table picked by
 * float indices) and its gradient, a scatter-add into (V, D): the builders, shape
 * inference and the backward builder that graph/ops.c's table points at. The indices get
 * no gradient (whole numbers: not differentiable); the kernels are backend/cpu/embedding.c
 * and backend/cuda/kernels_embedding.cu. */
#include "graph.h"

#include <string.h>

/* A table: an f32 matrix (V, D) of a fixed size, V rows an f32 index can name. */
static bool check_table(kn_graph *g, kn_tensor *t, const kn_tensor *table, int64_t rows, int64_t cols) {
    char st[64];
    if (table->dtype != KN_F32 || table->ndim != 2 || rows < 1 || cols < 1 || rows > KN_GATHER_MAX_ROWS)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: table '%s' %s must be an F32 matrix (rows, columns) of 1 to %lld rows",
                              t->name, table->name, kn__shape_str(table, st, sizeof st), (long long)KN_GATHER_MAX_ROWS);
    return true;
}

/* Indices: f32 of any rank up to one below the most (the output appends a dimension). */
static bool check_indices(kn_graph *g, kn_tensor *t, const kn_tensor *idx) {
    char si[64];
    if (idx->dtype != KN_F32)
        return kn__graph_fail(g, KN_ERR_DTYPE, "%s: indices '%s' are %s, expected F32 (whole numbers stored as floats)",
                              t->name, idx->name, kn_dtype_name(idx->dtype));
    if (idx->ndim >= KN_MAX_DIMS)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: indices %s have %d dimensions (at most %d: the rows add one)", t->name,
                              kn__shape_str(idx, si, sizeof si), idx->ndim, KN_MAX_DIMS - 1);
    for (int d = 1; d < idx->ndim; d++)
        if (idx->shape[d] == KN_BATCH)
            return kn__graph_fail(g, KN_ERR_SHAPE, "%s: the batch dimension can only lead", t->name);
    return true;
}

/* (indices (...), table (V, D)) -> (..., D) */
bool kn__infer_gather(kn_graph *g, kn_tensor *t) {
    kn_tensor *idx = t->src[0], *table = t->src[1];
    if (!check_indices(g, t, idx)) return false;
    if (!check_table(g, t, table, table->ndim == 2 ? table->shape[0] : 0, table->ndim == 2 ? table->shape[1] : 0))
        return false;
    t->ndim = idx->ndim + 1;
    memcpy(t->shape, idx->shape, (size_t)idx->ndim * sizeof *t->shape);
    t->shape[idx->ndim] = table->shape[1];
    t->batch_rows = idx->batch_rows;
    return true;
}

/* The shape (V, D) is the builder's (the table's); dy (..., D) against indices (...). */
bool kn__infer_gather_grad(kn_graph *g, kn_tensor *t) {
    kn_tensor *dy = t->src[0], *idx = t->src[1];
    char sd[64], si[64];
    if (!check_indices(g, t, idx) || !check_table(g, t, t, t->shape[0], t->shape[1])) return false;
    if (dy->dtype != KN_F32)
        return kn__graph_fail(g, KN_ERR_DTYPE, "%s: gradient '%s' is %s, expected F32", t->name, dy->name,
                              kn_dtype_name(dy->dtype));
    bool ok = dy->ndim == idx->ndim + 1 && dy->shape[idx->ndim] == t->shape[1];
    for (int d = 0; ok && d < idx->ndim; d++) ok = dy->shape[d] == idx->shape[d];
    if (ok && idx->ndim && idx->shape[0] == KN_BATCH) ok = kn__batch_rows(dy) == kn__batch_rows(idx);
    if (!ok)
        return kn__graph_fail(g, KN_ERR_SHAPE, "%s: gradient %s does not fit indices %s and rows of %lld", t->name,
                              kn__shape_str(dy, sd, sizeof sd), kn__shape_str(idx, si, sizeof si), (long long)t->shape[1]);
    return true;
}

/* The table's gradient only: each output row's gradient added to the row it came from. */
void kn__backward_gather(kn_graph *g, kn_tensor *t, kn_tensor *dy) {
    kn_tensor *table = t->src[1];
    if (table->flags & KN_FLAG_NEEDS_GRAD) kn__grad_accumulate(g, table, kn__gather_grad(g, dy, t->src[0], table));
}

kn_tensor *kn_gather(kn_graph *g, kn_tensor *indices, kn_tensor *table) {
    return kn__finish(g, kn__node(g, KN_OP_GATHER, indices, table, NULL));
}

kn_tensor *kn__gather_grad(kn_graph *g, kn_tensor *dy, kn_tensor *indices, const kn_tensor *table) {
    kn_tensor *t = kn__node(g, KN_OP_GATHER_GRAD, dy, indices, NULL);
    if (!t) return NULL;
    t->ndim = 2;
    t->shape[0] = table->shape[0];
    t->shape[1] = table->shape[1];
    t->batch_rows = 0;
    return kn__finish(g, t);
}
