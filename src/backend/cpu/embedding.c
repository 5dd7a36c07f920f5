/* embedding.c — the gather op (an embedding lookup) and its gradient on the CPU. Indices
 * are f32 whole numbers; a value that names no row (kn__gather_row: negative, too large, a
 * fraction, NaN) gives a row of zeros forward and adds nothing backward, so no index ever
 * reads or writes outside the table. In mixed precision the gathered rows (and the
 * gradient dy) may be half; the indices and the table stay f32 (the precision pass keeps
 * a tensor f32 when a reader cannot take half, and these kernels never take half indices:
 * fp16 holds whole numbers only up to 2048, bf16 up to 256). */
#include "cpu.h"
#include "core/pool.h"

#include <string.h>

typedef struct {
    const float *idx, *table;
    kn_tensor *y;
    int64_t rows, cols;
} gather_args;

/* Output elements [lo, hi): whole rows (the grain is a row). */
static void gather_range(void *p, int64_t lo, int64_t hi) {
    const gather_args *a = p;
    float buf[KN_HALF_BLOCK];
    for (int64_t r = lo / a->cols; r < hi / a->cols; r++) {
        int64_t v = kn__gather_row(a->idx[r], a->rows);
        for (int64_t c0 = 0; c0 < a->cols; c0 += KN_HALF_BLOCK) {
            int64_t m = a->cols - c0 < KN_HALF_BLOCK ? a->cols - c0 : KN_HALF_BLOCK, at = r * a->cols + c0;
            float *o = kn__write_f32(a->y, at, buf);
            if (v >= 0) memcpy(o, a->table + v * a->cols + c0, (size_t)m * sizeof *o);
            else memset(o, 0, (size_t)m * sizeof *o);
            kn__write_done(a->y, at, m, buf);
        }
    }
}

/* (indices (n), table (V, D)) -> (n, D) */
void kn__cpu_gather(kn_graph *g, kn_tensor *t) {
    const kn_tensor *idx = t->src[0], *table = t->src[1];
    gather_args a = {idx->data, table->data, t, table->ne[0], table->ne[1]};
    int64_t n = kn__numel(idx);
    if (n > 0) kn__parallel_for(g, n * a.cols, a.cols, gather_range, &a);
}

typedef struct {
    const kn_tensor *dy;
    const float *idx;
    float *out;
    int64_t n, rows, cols;
    int64_t row_part, col_part; /* a chunk's rows and columns (its range of each, the last shorter) */
    int64_t col_chunks;
} scatter_args;

/* Chunk k: rows [v0, v1) x columns [c0, c1) of the output, zeroed, then every index's dy
 * row added in index order, so each element is 0 + dy_i1 + dy_i2 + ... in the same order
 * whatever the split (and on the GPU: kernels_embedding.cu). */
static void scatter_chunk(void *p, int64_t k) {
    const scatter_args *a = p;
    int64_t v0 = k / a->col_chunks * a->row_part, c0 = k % a->col_chunks * a->col_part;
    int64_t v1 = v0 + a->row_part < a->rows ? v0 + a->row_part : a->rows;
    int64_t c1 = c0 + a->col_part < a->cols ? c0 + a->col_part : a->cols;
    if (v0 >= v1 || c0 >= c1) return;
    for (int64_t v = v0; v < v1; v++) memset(a->out + v * a->cols + c0, 0, (size_t)(c1 - c0) * sizeof *a->out);
    float buf[KN_HALF_BLOCK];
    for (int64_t i = 0; i < a->n; i++) {
        int64_t v = kn__gather_row(a->idx[i], a->rows);
        if (v < v0 || v >= v1) continue;
        float *o = a->out + v * a->cols;
        for (int64_t b = c0; b < c1; b += KN_HALF_BLOCK) {
            int64_t m = c1 - b < KN_HALF_BLOCK ? c1 - b : KN_HALF_BLOCK;
            const float *d = kn__read_f32(a->dy, i * a->cols + b, m, buf);
            for (int64_t c = 0; c < m; c++) o[b + c] += d[c];
        }
    }
}

/* (dy (n, D), indices (n)) -> (V, D). Threads split the output: columns in blocks of 16
 * or more (each chunk a balanced share of every index's work), and rows when the columns
 * are too few to share; every chunk reads the indices in order. */
void kn__cpu_gather_grad(kn_graph *g, kn_tensor *t) {
    const kn_tensor *dy = t->src[0], *idx = t->src[1];
    scatter_args a = {dy, idx->data, t->data, kn__numel(idx), t->ne[0], t->ne[1], t->ne[0], t->ne[1], 1};
    int threads = (a.n + a.rows) * a.cols >= KN_PAR_MIN ? kn_ctx_threads(g->ctx) : 1;
    if (threads <= 1) {
        scatter_chunk(&a, 0);
        return;
    }
    int64_t parts = 4 * (int64_t)threads, col_blocks = (a.cols + KN_GRAIN - 1) / KN_GRAIN;
    a.col_chunks = col_blocks < parts ? col_blocks : parts;
    a.col_part = (col_blocks + a.col_chunks - 1) / a.col_chunks * KN_GRAIN;
    a.col_chunks = (a.cols + a.col_part - 1) / a.col_part;
    int64_t row_chunks = (parts + a.col_chunks - 1) / a.col_chunks;
    if (row_chunks > a.rows) row_chunks = a.rows;
    a.row_part = (a.rows + row_chunks - 1) / row_chunks;
    row_chunks = (a.rows + a.row_part - 1) / a.row_part;
    kn__pool_run(threads, row_chunks * a.col_chunks, scatter_chunk, &a);
}
