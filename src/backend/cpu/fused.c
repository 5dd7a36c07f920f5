/* fused.c — the kernels of the ops the fuse pass makes (graph/passes/fuse.c), and
 * transpose: a dense layer (matmul, bias and activation in one GEMM whose epilogue adds the
 * bias and applies the activation to each block of the output while it is in cache), the
 * backward matmul with the activation's gradient in its epilogue, and a chain of
 * elementwise ops evaluated block by block in one loop. */
#include "cpu.h"
#include "graph/ew_program.h"
#include "sgemm.h"

#include <string.h>

/* ------------------------------------------------------------- dense */

void kn__bias_act_epilogue(const void *p, float *c, int64_t ldc, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
    (void)r0;
    const kn__bias_act *e = p;
    if (e->bias)
        for (int64_t i = 0; i < rows; i++) {
            float *row = c + i * ldc; // (cols)
            const float *b = e->bias + c0;
            for (int64_t j = 0; j < cols; j++) row[j] += b[j];
        }
    if (e->act != KN_LINEAR) kn__act_apply_rows(e->act, e->alpha, c, ldc, rows, cols); /* (the block at once) */
}

void kn__cpu_dense(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1], *bias = t->src[2];
    bool ta = t->iparam[0], tb = t->iparam[1];
    int64_t m = t->ne[0], n = t->ne[1], k = ta ? a->ne[0] : a->ne[1];
    if (kn__cpu_q8_product(g, t)) return; /* int8 inference (dense_q8.c) */
    kn__bias_act e = {bias ? bias->data : NULL, (kn_activation)t->iparam[2], t->fparam[0]};
    const uint16_t *bh = kn__param_half(g, b); /* a half model file's weights, or NULL */
    if (bh && m == 1 && !ta && !tb && !kn__is_half(a) && !kn__is_half(t)) {
        /* one sample against half weights, then bias and activation */
        kn__gemv_half(g->param_half_dtype, n, k, a->data, bh, b->ne[1], t->data, kn__gemm_threads(g, m, n, k));
        kn__bias_act_epilogue(&e, t->data, n, 0, 1, 0, n);
        return;
    }
    kn_sgemm_epilogue ep = {kn__bias_act_epilogue, &e};
    kn__gemm_mixed(ta, tb, m, n, k, a->data, kn__gemm_type(a), a->ne[1], bh ? (const void *)bh : b->data,
                   bh ? kn__half_gemm_type(g->param_half_dtype) : KN_GEMM_F32, b->ne[1], 0.0f, t->data,
                   kn__gemm_type(t), n, kn__gemm_threads(g, m, n, k), &ep);
}

/* ------------------------------------------------------------- matmul + activation gradient */

typedef struct {
    const kn_tensor *v; /* (m, n): the activation's output or input */
    kn_activation act;
    float alpha;
} grad_ep;

/* c is a block of the f32 product (ldc its own stride); v is read at the block's place in
 * the whole (m, n) output, widened a piece at a time when half. */
static void grad_epilogue(const void *p, float *c, int64_t ldc, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
    const grad_ep *e = p;
    int64_t n = e->v->ne[e->v->ndim - 1];
    if (!kn__is_half(e->v)) { /* the block at once (its rows are short: a strip of the product) */
        kn__act_grad_apply_rows(e->act, e->alpha, c, ldc, (const float *)e->v->data + r0 * n + c0, n, rows, cols);
        return;
    }
    float vb[KN_HALF_BLOCK];
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j += KN_HALF_BLOCK) {
            int64_t w = cols - j < KN_HALF_BLOCK ? cols - j : KN_HALF_BLOCK;
            float *ci = c + i * ldc + j;
            kn__act_grad_apply(e->act, e->alpha, ci, kn__read_f32(e->v, (r0 + i) * n + c0 + j, w, vb), ci, w);
        }
}

void kn__cpu_matmul_act_grad(kn_graph *g, kn_tensor *t) {
    kn_tensor *a = t->src[0], *b = t->src[1], *v = t->src[2];
    bool ta = t->iparam[0], tb = t->iparam[1];
    int64_t m = t->ne[0], n = t->ne[1], k = ta ? a->ne[0] : a->ne[1];
    grad_ep e = {v, (kn_activation)t->iparam[2], t->fparam[0]};
    kn_sgemm_epilogue ep = {grad_epilogue, &e};
    kn__gemm_mixed(ta, tb, m, n, k, a->data, kn__gemm_type(a), a->ne[1], b->data, kn__gemm_type(b), b->ne[1], 0.0f,
                   t->data, kn__gemm_type(t), n, kn__gemm_threads(g, m, n, k), &ep);
}

/* ------------------------------------------------------------- transpose */

void kn__cpu_transpose(kn_graph *g, kn_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data;
    float *y = t->data;
    int64_t rows = t->src[0]->ne[0], cols = t->src[0]->ne[1];
    enum { TB = 32 }; /* tiles keep both sides' lines in cache */
    for (int64_t i0 = 0; i0 < rows; i0 += TB)
        for (int64_t j0 = 0; j0 < cols; j0 += TB)
            for (int64_t i = i0; i < i0 + TB && i < rows; i++)
                for (int64_t j = j0; j < j0 + TB && j < cols; j++) y[j * rows + i] = x[i * cols + j];
}

/* ------------------------------------------------------------- elementwise chains */

enum { EW_BLOCK = 256 };

typedef struct {
    const kn_ew_program *prog;
    const kn_tensor *in[KN_MAX_SRC];
    kn_tensor *out;
    int64_t cols;       /* length of a row: row-broadcast inputs repeat every cols */
} ew_args;

/* Evaluates the program over n outputs at out, inputs at in (a block's worth each, or NULL
 * for a scalar, whose value is in scalar). Intermediate results live in registers of
 * EW_BLOCK floats. */
static void ew_block(const kn_ew_program *p, const float *const *in, const float *scalar, float *out, int64_t n,
                     float *regs) {
    for (int i = 0; i < p->n_instr; i++) {
        const kn_ew_instr *ins = &p->instr[i];
        float *dst = i == p->n_instr - 1 ? out : regs + i * EW_BLOCK;
        const float *x = NULL, *y = NULL;
        float xs = 0, ys = 0;
        bool x_scalar = false, y_scalar = false;
        for (int o = 0; o < 2; o++) {
            int operand = o ? ins->b : ins->a;
            if (operand < 0) continue;
            const float *ptr;
            bool sc = false;
            float sv = 0;
            if (operand >= KN_EW_REG0) ptr = regs + (operand - KN_EW_REG0) * EW_BLOCK;
            else if (in[operand]) ptr = in[operand];
            else ptr = NULL, sc = true, sv = scalar[operand];
            if (o) y = ptr, y_scalar = sc, ys = sv;
            else x = ptr, x_scalar = sc, xs = sv;
        }
        /* a scalar first operand happens only for mul/add by a scalar constant: swap */
        if (x_scalar && !y_scalar && (ins->op == KN_EW_ADD || ins->op == KN_EW_MUL)) {
            x = y, x_scalar = false, y_scalar = true, ys = xs;
        }
        switch (ins->op) {
        case KN_EW_ADD:
            if (y_scalar) for (int64_t j = 0; j < n; j++) dst[j] = x[j] + ys;
            else for (int64_t j = 0; j < n; j++) dst[j] = x[j] + y[j];
            break;
        case KN_EW_SUB:
            if (x_scalar) for (int64_t j = 0; j < n; j++) dst[j] = xs - y[j];
            else if (y_scalar) for (int64_t j = 0; j < n; j++) dst[j] = x[j] - ys;
            else for (int64_t j = 0; j < n; j++) dst[j] = x[j] - y[j];
            break;
        case KN_EW_MUL:
            if (y_scalar) for (int64_t j = 0; j < n; j++) dst[j] = x[j] * ys;
            else for (int64_t j = 0; j < n; j++) dst[j] = x[j] * y[j];
            break;
        case KN_EW_SCALE: {
            float s = ins->f;
            for (int64_t j = 0; j < n; j++) dst[j] = x[j] * s;
            break;
        }
        case KN_EW_ACT: kn__act_apply((kn_activation)ins->act, ins->f, x, dst, n); break;
        case KN_EW_ACT_GRAD: kn__act_grad_apply((kn_activation)ins->act, ins->f, x, y, dst, n); break;
        default: memmove(dst, x, (size_t)n * sizeof *dst); break;
        }
    }
}

/* Outputs [lo, hi) in blocks (within one row when an input is row-broadcast); each block's
 * inputs read in place when f32, widened into a buffer when half, and the output computed
 * in place or narrowed from a buffer. */
static void ew_range(void *p, int64_t lo, int64_t hi) {
    const ew_args *a = p;
    const kn_ew_program *prog = a->prog;
    float regs[(KN_EW_MAX_INSTR - 1) * EW_BLOCK], inb[KN_MAX_SRC][EW_BLOCK], outb[EW_BLOCK];
    bool rows = false;
    for (int s = 0; s < prog->n_inputs; s++) rows |= prog->bcast[s] == BCAST_ROW;
    for (int64_t i = lo; i < hi;) {
        int64_t end = i + EW_BLOCK < hi ? i + EW_BLOCK : hi;
        if (rows) { /* stay within the row, so a broadcast row is read contiguously */
            int64_t row_end = (i / a->cols + 1) * a->cols;
            if (end > row_end) end = row_end;
        }
        int64_t n = end - i;
        const float *in[KN_MAX_SRC] = {0};
        float scalar[KN_MAX_SRC] = {0};
        for (int s = 0; s < prog->n_inputs; s++) {
            switch (prog->bcast[s]) {
            case BCAST_SAME: in[s] = kn__read_f32(a->in[s], i, n, inb[s]); break;
            case BCAST_ROW: in[s] = kn__read_f32(a->in[s], i % a->cols, n, inb[s]); break;
            default: scalar[s] = kn__tensor_get_f32(a->in[s], 0); break;
            }
        }
        float *out = kn__write_f32(a->out, i, outb);
        ew_block(prog, in, scalar, out, n, regs);
        kn__write_done(a->out, i, n, out);
        i = end;
    }
}

void kn__cpu_elementwise(kn_graph *g, kn_tensor *t) {
    const kn_ew_program *p = t->aux;
    ew_args a = {.prog = p, .out = t, .cols = t->ndim ? t->ne[t->ndim - 1] : 1};
    for (int s = 0; s < p->n_inputs; s++) a.in[s] = t->src[s];
    bool rows = false;
    for (int s = 0; s < p->n_inputs; s++) rows |= p->bcast[s] == BCAST_ROW;
    kn__parallel_for(g, kn__numel(t), rows ? a.cols : KN_GRAIN, ew_range, &a);
}
