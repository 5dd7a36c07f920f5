/* elementwise.c — add, sub, mul (with row and scalar broadcast), scale, copy, and the
 * reductions sum_rows, sum, sum_squares. Loops are written over ranges so they vectorize, and split over threads by kn__parallel_for.
 * In mixed precision the binary ops, scale and copy take half operands and outputs a
 * KN_HALF_BLOCK at a time through stack buffers; the f32 loops are untouched. */
#include "cpu.h"
#include "core/pool.h"

#include <string.h>

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL } bin_op;

typedef struct {
    bin_op op;
    kn_bcast bcast;
    const float *a, *b;
    float *y;
    const kn_tensor *ta, *tb; /* the same, whatever their type (the half path) */
    kn_tensor *ty;
    int64_t cols;     /* row broadcast: length of b */
    float s;          /* scale */
} ew_args;

static inline float apply(bin_op op, float x, float y) {
    return op == BIN_ADD ? x + y : op == BIN_SUB ? x - y : x * y;
}

/* One op and broadcast per instantiation, so each loop body is branch-free. */
#define BINARY_LOOPS(OP)                                                                   \
    do {                                                                                   \
        if (a->bcast == BCAST_SAME)                                                        \
            for (int64_t i = lo; i < hi; i++) y[i] = apply(OP, x[i], b[i]);                \
        else if (a->bcast == BCAST_SCALAR)                                                 \
            for (int64_t i = lo; i < hi; i++) y[i] = apply(OP, x[i], b[0]);                \
        else                                                                               \
            for (int64_t r = lo / cols; r < hi / cols; r++)                                \
                for (int64_t c = 0; c < cols; c++)                                         \
                    y[r * cols + c] = apply(OP, x[r * cols + c], b[c]);                    \
    } while (0)

/* binary_range with a half operand or output: a block at a time; a row-broadcast b that is
 * itself half is widened a row's run at a time. */
static void binary_range_half(const ew_args *a, int64_t lo, int64_t hi) {
    float xb[KN_HALF_BLOCK], bb[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
    const bool row = a->bcast == BCAST_ROW, row_half = row && kn__is_half(a->tb);
    const float b0 = a->bcast == BCAST_SCALAR ? kn__tensor_get_f32(a->tb, 0) : 0.0f;
    for (int64_t s = lo; s < hi;) {
        int64_t n = hi - s < KN_HALF_BLOCK ? hi - s : KN_HALF_BLOCK;
        if (row_half && n > a->cols - s % a->cols) n = a->cols - s % a->cols;
        const float *x = kn__read_f32(a->ta, s, n, xb), *b = NULL;
        if (a->bcast == BCAST_SAME) b = kn__read_f32(a->tb, s, n, bb);
        else if (row_half) b = kn__read_f32(a->tb, s % a->cols, n, bb);
        float *y = kn__write_f32(a->ty, s, yb);
        for (int64_t i = 0; i < n; i++)
            y[i] = apply(a->op, x[i], b ? b[i] : row ? a->b[(s + i) % a->cols] : b0);
        kn__write_done(a->ty, s, n, y);
        s += n;
    }
}

static void binary_range(void *p, int64_t lo, int64_t hi) {
    const ew_args *a = p;
    if (kn__is_half(a->ta) || kn__is_half(a->tb) || kn__is_half(a->ty)) {
        binary_range_half(a, lo, hi);
        return;
    }
    const float *x = a->a, *b = a->b; /* no restrict: y may be x (in place) */
    float *y = a->y;
    int64_t cols = a->cols;
    switch (a->op) {
    case BIN_ADD: BINARY_LOOPS(BIN_ADD); break;
    case BIN_SUB: BINARY_LOOPS(BIN_SUB); break;
    case BIN_MUL: BINARY_LOOPS(BIN_MUL); break;
    }
}

static void binary(kn_graph *g, kn_tensor *t, bin_op op) {
    ew_args a = {op, kn__bcast(t->src[0], t->src[1]), t->src[0]->data, t->src[1]->data, t->data,
                 t->src[0], t->src[1], t, 1, 0};
    int64_t n = kn__numel(t);
    if (a.bcast == BCAST_ROW) {
        /* split by whole rows: ranges are passed in elements, multiples of cols */
        a.cols = t->src[1]->ne[0];
        kn__parallel_for(g, n, a.cols, binary_range, &a); /* whole rows per thread */
        return;
    }
    kn__parallel_for(g, n, KN_GRAIN, binary_range, &a);
}

void kn__cpu_add(kn_graph *g, kn_tensor *t) { binary(g, t, BIN_ADD); }
void kn__cpu_sub(kn_graph *g, kn_tensor *t) { binary(g, t, BIN_SUB); }
void kn__cpu_mul(kn_graph *g, kn_tensor *t) { binary(g, t, BIN_MUL); }

static void scale_range(void *p, int64_t lo, int64_t hi) {
    const ew_args *a = p;
    const float s = a->s;
    if (kn__is_half(a->ta) || kn__is_half(a->ty)) { /* a block at a time */
        float xb[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
        for (int64_t b = lo; b < hi; b += KN_HALF_BLOCK) {
            int64_t n = hi - b < KN_HALF_BLOCK ? hi - b : KN_HALF_BLOCK;
            const float *x = kn__read_f32(a->ta, b, n, xb);
            float *y = kn__write_f32(a->ty, b, yb);
            for (int64_t i = 0; i < n; i++) y[i] = x[i] * s;
            kn__write_done(a->ty, b, n, y);
        }
        return;
    }
    const float *x = a->a; /* no restrict: y may be x (in place) */
    float *y = a->y;
    for (int64_t i = lo; i < hi; i++) y[i] = x[i] * s;
}

void kn__cpu_scale(kn_graph *g, kn_tensor *t) {
    ew_args a = {.a = t->src[0]->data, .y = t->data, .ta = t->src[0], .ty = t, .s = t->fparam[0]};
    kn__parallel_for(g, kn__numel(t), KN_GRAIN, scale_range, &a);
}

/* A copy between two storage types: widened, then narrowed, a block at a time. */
static void convert_range(void *p, int64_t lo, int64_t hi) {
    const ew_args *a = p;
    float buf[KN_HALF_BLOCK];
    for (int64_t b = lo; b < hi; b += KN_HALF_BLOCK) {
        int64_t n = hi - b < KN_HALF_BLOCK ? hi - b : KN_HALF_BLOCK;
        kn__tensor_store_f32(a->ty, b, kn__read_f32(a->ta, b, n, buf), n);
    }
}

void kn__cpu_copy(kn_graph *g, kn_tensor *t) {
    if (t->dtype != t->src[0]->dtype) {
        kn__parallel_for(g, kn__numel(t), KN_GRAIN, convert_range, &(ew_args){.ta = t->src[0], .ty = t});
        return;
    }
    if (t->data != t->src[0]->data) memcpy(t->data, t->src[0]->data, kn__nbytes(t));
}

/* (rows, cols) -> (cols): column sums, accumulated row by row so the inner loop vectorizes. */
/* Column sums of many rows (a convolution's bias gradient: 73,728 rows of 64) are taken in
 * parts of the rows fixed by the row count alone, each summed in row order into its own
 * partial (the node's scratch) on whichever thread, and the partials added in part order:
 * the same bits whatever the thread count. Up to SUM_ROWS_PART rows: one part, in order. */
#define SUM_ROWS_PART 4096
#define SUM_ROWS_MAX_PARTS 16

static int64_t sum_rows_parts(int64_t rows) {
    int64_t n = rows / SUM_ROWS_PART;
    return n < 1 ? 1 : n > SUM_ROWS_MAX_PARTS ? SUM_ROWS_MAX_PARTS : n;
}

static void column_sums(const float *restrict x, int64_t rows, int64_t cols, float *restrict y) {
    memset(y, 0, (size_t)cols * sizeof *y);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) y[c] += x[r * cols + c];
}

/* Rows [r0, r0+rows) of x summed into y: in place when f32, else each row widened a block
 * at a time (the same additions in the same order). */
static void column_sums_of(const kn_tensor *x, int64_t r0, int64_t rows, int64_t cols, float *restrict y) {
    if (!kn__is_half(x)) {
        column_sums((const float *)x->data + r0 * cols, rows, cols, y);
        return;
    }
    memset(y, 0, (size_t)cols * sizeof *y);
    float buf[KN_HALF_BLOCK];
    for (int64_t r = r0; r < r0 + rows; r++)
        for (int64_t c0 = 0; c0 < cols; c0 += KN_HALF_BLOCK) {
            int64_t w = cols - c0 < KN_HALF_BLOCK ? cols - c0 : KN_HALF_BLOCK;
            const float *xr = kn__read_f32(x, r * cols + c0, w, buf);
            for (int64_t c = 0; c < w; c++) y[c0 + c] += xr[c];
        }
}

typedef struct {
    const kn_tensor *x;
    float *partial;
    int64_t rows, cols, parts;
} sum_rows_job;

static void sum_rows_part(void *p, int64_t k) {
    const sum_rows_job *j = p;
    int64_t r0 = j->rows * k / j->parts, r1 = j->rows * (k + 1) / j->parts;
    column_sums_of(j->x, r0, r1 - r0, j->cols, j->partial + k * j->cols);
}

size_t kn__cpu_sum_rows_scratch(const kn_graph *g, const kn_tensor *t) {
    (void)g;
    int64_t cols = t->ne[0], rows = cols ? kn__numel(t->src[0]) / cols : 0, parts = sum_rows_parts(rows);
    return parts > 1 ? (size_t)(parts * cols) * sizeof(float) : 0;
}

void kn__cpu_sum_rows(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    float *y = t->data;
    int64_t cols = t->ne[0], rows = cols ? kn__numel(t->src[0]) / cols : 0, parts = sum_rows_parts(rows);
    if (parts == 1 || !t->scratch) {
        column_sums_of(x, 0, rows, cols, y);
        return;
    }
    sum_rows_job j = {x, t->scratch, rows, cols, parts};
    kn__pool_run(kn_ctx_threads(g->ctx), parts, sum_rows_part, &j);
    memcpy(y, j.partial, (size_t)cols * sizeof *y);
    for (int64_t k = 1; k < parts; k++)
        for (int64_t c = 0; c < cols; c++) y[c] += j.partial[k * cols + c];
}

void kn__cpu_sum(kn_graph *g, kn_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data;
    int64_t n = kn__numel(t->src[0]);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    *(float *)t->data = (float)s;
}

void kn__cpu_sum_squares(kn_graph *g, kn_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data;
    int64_t n = kn__numel(t->src[0]);
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
    *(float *)t->data = s;
}
