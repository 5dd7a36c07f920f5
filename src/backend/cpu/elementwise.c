/* elementwise.c — add, sub, mul (with row and scalar broadcast), scale, copy, and the
 * reductions sum_rows, sum, sum_squares. Loops vectorize (-O2 -ftree-vectorize / omp simd)
 * and thread with OpenMP above KN_PAR_MIN elements. */
#include "cpu.h"

#include <string.h>

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL } bin_op;

static inline float apply(bin_op op, float x, float y) {
    return op == BIN_ADD ? x + y : op == BIN_SUB ? x - y : x * y;
}

static void binary(kn_graph *g, kn_tensor *t, bin_op op) {
    const float *a = t->src[0]->data, *b = t->src[1]->data;
    float *y = t->data;
    int64_t n = kn__numel(t);
    int th = kn__threads_for(g, n);
    switch (kn__bcast(t->src[0], t->src[1])) {
    case BCAST_SAME:
#pragma omp parallel for simd num_threads(th) if (th > 1) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = apply(op, a[i], b[i]);
        break;
    case BCAST_SCALAR: {
        float s = b[0];
#pragma omp parallel for simd num_threads(th) if (th > 1) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = apply(op, a[i], s);
        break;
    }
    case BCAST_ROW: {
        int64_t cols = t->src[1]->ne[0], rows = n / cols;
#pragma omp parallel for num_threads(th) if (th > 1) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *ar = a + r * cols;
            float *yr = y + r * cols;
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) yr[c] = apply(op, ar[c], b[c]);
        }
        break;
    }
    }
}

void kn__cpu_add(kn_graph *g, kn_tensor *t) { binary(g, t, BIN_ADD); }
void kn__cpu_sub(kn_graph *g, kn_tensor *t) { binary(g, t, BIN_SUB); }
void kn__cpu_mul(kn_graph *g, kn_tensor *t) { binary(g, t, BIN_MUL); }

void kn__cpu_scale(kn_graph *g, kn_tensor *t) {
    const float *a = t->src[0]->data;
    float *y = t->data, s = t->fparam[0];
    int64_t n = kn__numel(t);
    int th = kn__threads_for(g, n);
#pragma omp parallel for simd num_threads(th) if (th > 1) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * s;
}

void kn__cpu_copy(kn_graph *g, kn_tensor *t) {
    (void)g;
    if (t->data != t->src[0]->data) memcpy(t->data, t->src[0]->data, kn__nbytes(t));
}

/* (rows, cols) -> (cols): column sums, accumulated row by row so the inner loop vectorizes. */
void kn__cpu_sum_rows(kn_graph *g, kn_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data;
    float *y = t->data;
    int64_t cols = t->ne[0], rows = kn__numel(t->src[0]) / cols;
    memset(y, 0, (size_t)cols * sizeof *y);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) y[c] += xr[c];
    }
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
