/* activation.c — activations and their gradients. Gradients of relu, sigmoid, tanh,
 * softmax and exponential are computed from the output y (the input can then be freed
 * early); the others' from the input x. gelu is the exact (erf) form, as Keras and PyTorch
 * default to. softmax is over the last dimension, max-subtracted for stability. The scalar
 * formulas of selu ... mish are in act_formulas.h, shared with the CUDA kernels. */
#include "cpu.h"

#include "backend/act_formulas.h"

#include <math.h>

bool kn__act_grad_uses_output(kn_activation a) {
    return a == KN_RELU || a == KN_SIGMOID || a == KN_TANH || a == KN_SOFTMAX || a == KN_EXPONENTIAL;
}

typedef struct {
    kn_activation kind;
    float alpha;
    kn_tensor *x;   /* forward: input; backward: dy */
    kn_tensor *v;   /* backward: y or x (see kn__act_grad_uses_output) */
    kn_tensor *y;   /* output */
} act_args;

/* Max-subtracted, then one vectorized exp over all rows (rows of 10 classes are too short
 * to vectorize one at a time), then each row normalized. y may be x. */
static void softmax_rows(const float *x, float *y, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = xr[0];
        for (int64_t c = 1; c < cols; c++) mx = xr[c] > mx ? xr[c] : mx;
        for (int64_t c = 0; c < cols; c++) yr[c] = xr[c] - mx;
    }
    kn__vexp(y, y, rows * cols);
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * cols, s = 0;
        for (int64_t c = 0; c < cols; c++) s += yr[c];
        float inv = 1.0f / s;
        for (int64_t c = 0; c < cols; c++) yr[c] *= inv;
    }
}

/* No restrict: the in-place pass may give y the memory of x (GCC still vectorizes, its
 * overlap check lets equal pointers through). */
void kn__act_apply(kn_activation kind, float alpha, const float *x, float *y, int64_t n) {
    switch (kind) {
    case KN_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f; break;
    case KN_LEAKY_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : alpha * x[i]; break;
    case KN_ELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : alpha * expm1f(x[i]); break;
    case KN_SIGMOID: kn__vsigmoid(x, y, n, false); break; /* (8 lanes: expf's call per element cost more than a conv) */
    case KN_SILU: kn__vsigmoid(x, y, n, true); break;
    case KN_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
    case KN_GELU: kn__vgelu(x, y, n); break;
/* a loop per kind, the kind a constant in it, so each inlines to its own formula */
#define VALUE_LOOP(K) case K: for (int64_t i = 0; i < n; i++) y[i] = kn__act_value(K, x[i]); break;
    VALUE_LOOP(KN_SELU) VALUE_LOOP(KN_SOFTPLUS) VALUE_LOOP(KN_SOFTSIGN)
    VALUE_LOOP(KN_HARD_SIGMOID) VALUE_LOOP(KN_HARD_SILU) VALUE_LOOP(KN_RELU6) VALUE_LOOP(KN_MISH)
    VALUE_LOOP(KN_EXPONENTIAL)
#undef VALUE_LOOP
    default: for (int64_t i = 0; i < n; i++) y[i] = x[i]; break;
    }
}

void kn__act_apply_rows(kn_activation kind, float alpha, float *c, int64_t ld, int64_t rows, int64_t n) {
    switch (kind) { /* the lanes' kinds in one call (vexp.c), the others a row at a time */
    case KN_SIGMOID: kn__vsigmoid_rows(c, ld, c, ld, rows, n, false); break;
    case KN_SILU: kn__vsigmoid_rows(c, ld, c, ld, rows, n, true); break;
    case KN_GELU: kn__vgelu_rows(c, ld, c, ld, rows, n); break;
    default:
        for (int64_t r = 0; r < rows; r++) kn__act_apply(kind, alpha, c + r * ld, c + r * ld, n);
    }
}

void kn__act_grad_apply_rows(kn_activation kind, float alpha, float *c, int64_t ld, const float *v, int64_t ldv, int64_t rows,
                             int64_t n) {
    switch (kind) { /* the lanes' kinds in one call (vexp.c), the others a row at a time */
    case KN_GELU: kn__vgelu_grad_rows(c, v, ldv, c, ld, rows, n); break;
    case KN_SILU: kn__vsilu_grad_rows(c, v, ldv, c, ld, rows, n); break;
    default:
        for (int64_t r = 0; r < rows; r++) kn__act_grad_apply(kind, alpha, c + r * ld, v + r * ldv, c + r * ld, n);
    }
}

void kn__act_grad_apply(kn_activation kind, float alpha, const float *dy, const float *v, float *dx, int64_t n) {
    switch (kind) {
    case KN_RELU: for (int64_t i = 0; i < n; i++) dx[i] = v[i] > 0 ? dy[i] : 0.0f; break;
    case KN_LEAKY_RELU: for (int64_t i = 0; i < n; i++) dx[i] = v[i] > 0 ? dy[i] : alpha * dy[i]; break;
    case KN_ELU: for (int64_t i = 0; i < n; i++) dx[i] = v[i] > 0 ? dy[i] : dy[i] * alpha * expf(v[i]); break;
    case KN_SIGMOID: for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * v[i] * (1.0f - v[i]); break;
    case KN_TANH: for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - v[i] * v[i]); break;
    case KN_GELU: kn__vgelu_grad(dy, v, dx, n); break; /* (8 lanes, vexp.c) */
    case KN_SILU: kn__vsilu_grad(dy, v, dx, n); break;
    case KN_EXPONENTIAL: for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * v[i]; break;
    case KN_SELU: case KN_SOFTPLUS: case KN_SOFTSIGN: case KN_HARD_SIGMOID: case KN_HARD_SILU:
    case KN_RELU6: case KN_MISH:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * kn__act_slope(kind, v[i]);
        break;
    default: for (int64_t i = 0; i < n; i++) dx[i] = dy[i]; break;
    }
}

/* Elements [lo, hi): in place on f32 tensors, or a block at a time through f32 buffers
 * when any of them is stored in half precision. */
static void act_range(void *p, int64_t lo, int64_t hi) {
    const act_args *a = p;
    if (!kn__is_half(a->x) && !kn__is_half(a->y)) {
        kn__act_apply(a->kind, a->alpha, (const float *)a->x->data + lo, (float *)a->y->data + lo, hi - lo);
        return;
    }
    float xb[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
    for (int64_t i = lo; i < hi; i += KN_HALF_BLOCK) {
        int64_t n = hi - i < KN_HALF_BLOCK ? hi - i : KN_HALF_BLOCK;
        float *y = kn__write_f32(a->y, i, yb);
        kn__act_apply(a->kind, a->alpha, kn__read_f32(a->x, i, n, xb), y, n);
        kn__write_done(a->y, i, n, y);
    }
}

static void act_grad_range(void *p, int64_t lo, int64_t hi) {
    const act_args *a = p;
    if (!kn__is_half(a->x) && !kn__is_half(a->v) && !kn__is_half(a->y)) {
        kn__act_grad_apply(a->kind, a->alpha, (const float *)a->x->data + lo, (const float *)a->v->data + lo,
                           (float *)a->y->data + lo, hi - lo);
        return;
    }
    float xb[KN_HALF_BLOCK], vb[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
    for (int64_t i = lo; i < hi; i += KN_HALF_BLOCK) {
        int64_t n = hi - i < KN_HALF_BLOCK ? hi - i : KN_HALF_BLOCK;
        float *y = kn__write_f32(a->y, i, yb);
        kn__act_grad_apply(a->kind, a->alpha, kn__read_f32(a->x, i, n, xb), kn__read_f32(a->v, i, n, vb), y, n);
        kn__write_done(a->y, i, n, y);
    }
}

/* Softmax and its gradient by rows: rows of a half tensor in blocks of whole rows
 * (the precision pass keeps rows longer than a block in f32). */
static void softmax_grad_rows(const float *dy, const float *y, float *dx, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * cols, *yr = y + r * cols;
        float *dxr = dx + r * cols;
        float dot = 0;
        for (int64_t c = 0; c < cols; c++) dot += dyr[c] * yr[c];
        for (int64_t c = 0; c < cols; c++) dxr[c] = yr[c] * (dyr[c] - dot);
    }
}

static void softmax_blocks(const act_args *a, int64_t rows, int64_t cols, bool grad) {
    bool half = kn__is_half(a->x) || kn__is_half(a->y) || (grad && kn__is_half(a->v));
    if (!half) {
        if (grad) softmax_grad_rows(a->x->data, a->v->data, a->y->data, rows, cols);
        else softmax_rows(a->x->data, a->y->data, rows, cols);
        return;
    }
    float xb[KN_HALF_BLOCK], vb[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
    int64_t per = KN_HALF_BLOCK / cols; /* >= 1: the pass checked cols */
    for (int64_t r = 0; r < rows; r += per) {
        int64_t nr = rows - r < per ? rows - r : per, lo = r * cols, n = nr * cols;
        float *y = kn__write_f32(a->y, lo, yb);
        if (grad) softmax_grad_rows(kn__read_f32(a->x, lo, n, xb), kn__read_f32(a->v, lo, n, vb), y, nr, cols);
        else softmax_rows(kn__read_f32(a->x, lo, n, xb), y, nr, cols);
        kn__write_done(a->y, lo, n, y);
    }
}

void kn__cpu_act(kn_graph *g, kn_tensor *t) {
    act_args a = {(kn_activation)t->iparam[0], t->fparam[0], t->src[0], NULL, t};
    int64_t n = kn__numel(t);
    if (a.kind == KN_SOFTMAX) {
        int64_t cols = t->ne[t->ndim - 1];
        softmax_blocks(&a, n / cols, cols, false);
        return;
    }
    kn__parallel_for(g, n, KN_GRAIN, act_range, &a);
}

/* src[0] = dy; src[1] = y (relu, sigmoid, tanh, softmax) or x (the others). */
void kn__cpu_act_grad(kn_graph *g, kn_tensor *t) {
    act_args a = {(kn_activation)t->iparam[0], t->fparam[0], t->src[0], t->src[1], t};
    int64_t n = kn__numel(t);
    if (a.kind == KN_SOFTMAX) {
        int64_t cols = t->ne[t->ndim - 1];
        softmax_blocks(&a, n / cols, cols, true);
        return;
    }
    kn__parallel_for(g, n, KN_GRAIN, act_grad_range, &a);
}
