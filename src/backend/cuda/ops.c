/* ops.c — the CUDA backend's kernel table: for each op, the function that reads the
 * node's shapes and parameters (as the CPU kernel does) and enqueues the launchers of
 * kernels.cu / kernels_nn.cu or a cuBLASLt product (matmul.c) on the graph's stream. */
#include "cuda_internal.h"

#define D(t) ((float *)kn__cuda_ptr(g, (t)->data))
#define DS(i) ((float *)kn__cuda_ptr(g, t->src[i]->data))
#define DOPT(i) (t->src[i] ? DS(i) : NULL)
#define STREAM (((kn__cuda_graph *)g->backend.context)->stream)
#define CTX ((kn__cuda_graph *)g->backend.context)
/* A launcher's status, reported naming the node. */
#define LAUNCH(call)                                                                                     \
    do {                                                                                                 \
        cudaError_t e_ = (call);                                                                         \
        if (e_ != cudaSuccess) return kn__cuda_fail(g, t, #call, e_);                                    \
    } while (0)
#define OK return KN_OK
/* Mixed precision: a tensor's storage type code for the launchers (KN_F32, KN_BF16,
 * KN_F16), and whether t or a source is half (then the _x launchers run; an fp32 graph
 * launches exactly the f32 kernels). */
#define TY(t) ((int)(t)->dtype)
#define VS(i) kn__cuda_ptr(g, t->src[i]->data)
#define VD(t) kn__cuda_ptr(g, (t)->data)
static bool is_half(const kn_tensor *t) { return t && (t->dtype == KN_BF16 || t->dtype == KN_F16); }
static bool any_half(const kn_tensor *t) {
    if (is_half(t)) return true;
    for (int s = 0; s < KN_MAX_SRC; s++)
        if (is_half(t->src[s])) return true;
    return false;
}

static kn_status k_binary(kn_graph *g, kn_tensor *t, int op) {
    kn_bcast bc = kn__bcast(t->src[0], t->src[1]);
    if (any_half(t)) {
        LAUNCH(kn__cu_binary_x(STREAM, op, (int)bc, VS(0), TY(t->src[0]), VS(1), TY(t->src[1]), VD(t), TY(t),
                               kn__numel(t), bc == BCAST_ROW ? t->src[1]->ne[0] : 1));
        OK;
    }
    LAUNCH(kn__cu_binary(STREAM, op, (int)bc, DS(0), DS(1), D(t), kn__numel(t), bc == BCAST_ROW ? t->src[1]->ne[0] : 1));
    OK;
}
static kn_status k_add(kn_graph *g, kn_tensor *t) { return k_binary(g, t, 0); }
static kn_status k_sub(kn_graph *g, kn_tensor *t) { return k_binary(g, t, 1); }
static kn_status k_mul(kn_graph *g, kn_tensor *t) { return k_binary(g, t, 2); }

static kn_status k_scale(kn_graph *g, kn_tensor *t) {
    if (any_half(t)) {
        LAUNCH(kn__cu_scale_x(STREAM, VS(0), TY(t->src[0]), VD(t), TY(t), t->fparam[0], kn__numel(t)));
        OK;
    }
    LAUNCH(kn__cu_scale(STREAM, DS(0), D(t), t->fparam[0], kn__numel(t)));
    OK;
}

static kn_status k_copy(kn_graph *g, kn_tensor *t) {
    if (t->dtype != t->src[0]->dtype) { /* a conversion: x * 1 is exact */
        LAUNCH(kn__cu_scale_x(STREAM, VS(0), TY(t->src[0]), VD(t), TY(t), 1.0f, kn__numel(t)));
        OK;
    }
    if (D(t) != DS(0)) LAUNCH(cudaMemcpyAsync(D(t), DS(0), kn__nbytes(t), cudaMemcpyDeviceToDevice, STREAM));
    OK;
}

static kn_status k_act(kn_graph *g, kn_tensor *t) {
    kn_activation a = (kn_activation)t->iparam[0];
    int64_t n = kn__numel(t), cols = t->ndim ? t->ne[t->ndim - 1] : 1;
    if (any_half(t)) {
        if (a == KN_SOFTMAX) LAUNCH(kn__cu_softmax_x(STREAM, VS(0), TY(t->src[0]), VD(t), TY(t), cols ? n / cols : 0, cols));
        else LAUNCH(kn__cu_act_x(STREAM, (int)a, t->fparam[0], VS(0), TY(t->src[0]), VD(t), TY(t), n));
        OK;
    }
    if (a == KN_SOFTMAX) LAUNCH(kn__cu_softmax(STREAM, DS(0), D(t), cols ? n / cols : 0, cols));
    else LAUNCH(kn__cu_act(STREAM, (int)a, t->fparam[0], DS(0), D(t), n));
    OK;
}

static kn_status k_act_grad(kn_graph *g, kn_tensor *t) {
    kn_activation a = (kn_activation)t->iparam[0];
    int64_t n = kn__numel(t), cols = t->ndim ? t->ne[t->ndim - 1] : 1;
    if (any_half(t)) {
        if (a == KN_SOFTMAX)
            LAUNCH(kn__cu_softmax_grad_x(STREAM, VS(0), TY(t->src[0]), VS(1), TY(t->src[1]), VD(t), TY(t),
                                         cols ? n / cols : 0, cols));
        else
            LAUNCH(kn__cu_act_grad_x(STREAM, (int)a, t->fparam[0], VS(0), TY(t->src[0]), VS(1), TY(t->src[1]), VD(t),
                                     TY(t), n));
        OK;
    }
    if (a == KN_SOFTMAX) LAUNCH(kn__cu_softmax_grad(STREAM, DS(0), DS(1), D(t), cols ? n / cols : 0, cols));
    else LAUNCH(kn__cu_act_grad(STREAM, (int)a, t->fparam[0], DS(0), DS(1), D(t), n));
    OK;
}

static kn_status k_sum_rows(kn_graph *g, kn_tensor *t) {
    int64_t cols = t->ne[0], rows = cols ? kn__numel(t->src[0]) / cols : 0;
    if (is_half(t->src[0])) { /* the output (a bias gradient) stays f32 */
        LAUNCH(kn__cu_sum_rows_x(STREAM, VS(0), TY(t->src[0]), D(t), rows, cols));
        OK;
    }
    LAUNCH(kn__cu_sum_rows(STREAM, DS(0), D(t), rows, cols));
    OK;
}

static kn_status k_sum(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_sum(STREAM, DS(0), D(t), kn__numel(t->src[0]), false));
    OK;
}

static kn_status k_sum_squares(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_sum(STREAM, DS(0), D(t), kn__numel(t->src[0]), true));
    OK;
}

static kn_status k_loss(kn_graph *g, kn_tensor *t) {
    const kn_tensor *p = t->src[0];
    if (is_half(p)) {
        LAUNCH(kn__cu_loss_x(STREAM, t->iparam[0], t->iparam[1], VS(0), TY(p), kn__cuda_ptr(g, t->src[1]->data), DOPT(2),
                             D(t), CTX->ws, p->ne[0], p->ne[1]));
        OK;
    }
    LAUNCH(kn__cu_loss(STREAM, t->iparam[0], t->iparam[1], DS(0), kn__cuda_ptr(g, t->src[1]->data), DOPT(2), D(t),
                       CTX->ws, p->ne[0], p->ne[1]));
    OK;
}

static kn_status k_loss_grad(kn_graph *g, kn_tensor *t) {
    const kn_tensor *p = t->src[0];
    if (is_half(p) || is_half(t)) {
        LAUNCH(kn__cu_loss_grad_x(STREAM, t->iparam[0], t->iparam[1], VS(0), TY(p), kn__cuda_ptr(g, t->src[1]->data),
                                  DS(2), DOPT(3), VD(t), TY(t), p->ne[0], p->ne[1]));
        OK;
    }
    LAUNCH(kn__cu_loss_grad(STREAM, t->iparam[0], t->iparam[1], DS(0), kn__cuda_ptr(g, t->src[1]->data), DS(2),
                            DOPT(3), D(t), p->ne[0], p->ne[1]));
    OK;
}

/* One update over floats [lo, lo + n) of the flat buffers. */
static kn_status update_span(kn_graph *g, kn_tensor *t, const float *cf, int64_t lo, int64_t n) {
    kn__cuda_graph *c = CTX;
    float *s0 = c->state ? c->state + lo : NULL, *s1 = c->state ? c->state + g->param_floats + lo : NULL;
    /* mixed precision: the half compute copy rewritten in the same pass */
    void *wh = c->param_half ? (uint16_t *)c->param_half + lo : NULL;
    LAUNCH(kn__cu_opt_update(STREAM, &c->opt, c->d_step, cf, c->param + lo, c->grad + lo, s0, s1, n, wh, c->half_type));
    OK;
}

/* The clip factor goes to the end of the workspace's first 64 bytes (ws is at least that). */
static kn_status k_optimizer(kn_graph *g, kn_tensor *t) {
    kn__cuda_graph *c = CTX;
    float *cf = NULL;
    if (g->opt.clip_norm > 0) {
        cf = (float *)c->ws;
        LAUNCH(kn__cu_grad_norm(STREAM, c->d_step, c->grad, (int64_t)g->param_floats, g->opt.clip_norm, cf));
    }
    if (!t->iparam[0]) return update_span(g, t, cf, 0, (int64_t)g->param_floats);
    for (int i = 0; i < g->n_params; i++) {
        kn_status st = g->params[i]->grad ? update_span(g, t, cf, (int64_t)g->params[i]->param_offset, kn__numel(g->params[i])) : KN_OK;
        if (st) return st;
    }
    OK;
}

static kn_status k_opt_update(kn_graph *g, kn_tensor *t) {
    const kn_tensor *p = t->src[0];
    return update_span(g, t, DOPT(2), (int64_t)p->param_offset, kn__numel(p));
}

static kn_status k_grad_norm(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_grad_norm(STREAM, CTX->d_step, CTX->grad, (int64_t)g->param_floats, g->opt.clip_norm, D(t)));
    OK;
}

static kn_status k_transpose(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_transpose(STREAM, DS(0), D(t), t->src[0]->ne[0], t->src[0]->ne[1]));
    OK;
}

/* A product's operand in slot i: its device address and storage type. With half
 * operands (mixed precision) an f32 parameter is read from the parameters' half copy,
 * since cuBLASLt multiplies two operands of one type (matmul.c); the precision pass
 * leaves no other f32 operand beside a half one. */
static void operand(kn_graph *g, const kn_tensor *t, int i, const void **p, int *dt) {
    const kn_tensor *s = t->src[i], *o = t->src[1 - i];
    void *h = !is_half(s) && is_half(o) ? kn__cuda_param_half(g, s->data) : NULL;
    *p = h ? h : kn__cuda_ptr(g, s->data);
    *dt = h ? ((kn__cuda_graph *)g->backend.context)->half_type : TY(s);
}

/* op(a) op(b) (+ bias, relu in the epilogue) into t. */
static kn_status product(kn_graph *g, kn_tensor *t, const float *bias, bool relu) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    bool ta = t->iparam[0], tb = t->iparam[1];
    int64_t m = t->ne[0], n = t->ne[1], k = ta ? a->ne[0] : a->ne[1];
    const void *pa, *pb;
    int at, bt;
    operand(g, t, 0, &pa, &at);
    operand(g, t, 1, &pb, &bt);
    return kn__cuda_gemm(g, t, ta, tb, m, n, k, pa, at, a->ne[1], pb, bt, b->ne[1], VD(t), TY(t), bias, relu);
}

static kn_status k_matmul(kn_graph *g, kn_tensor *t) { return product(g, t, NULL, false); }

/* act(op(a) op(b) + bias): bias and relu in cuBLASLt's epilogue, other activations after. */
static kn_status k_dense(kn_graph *g, kn_tensor *t) {
    int64_t m = t->ne[0], n = t->ne[1];
    kn_activation act = (kn_activation)t->iparam[2];
    kn_status st = product(g, t, DOPT(2), act == KN_RELU);
    if (st || act == KN_RELU || act == KN_LINEAR) return st;
    if (is_half(t)) LAUNCH(kn__cu_bias_act_x(STREAM, VD(t), TY(t), NULL, (int)act, t->fparam[0], m, n));
    else LAUNCH(kn__cu_bias_act(STREAM, D(t), NULL, (int)act, t->fparam[0], m, n));
    OK;
}

static kn_status k_matmul_act_grad(kn_graph *g, kn_tensor *t) {
    int64_t m = t->ne[0], n = t->ne[1];
    kn_activation act = (kn_activation)t->iparam[2];
    kn_status st = product(g, t, NULL, false);
    if (st) return st;
    if (any_half(t)) {
        if (act == KN_SOFTMAX)
            LAUNCH(kn__cu_softmax_grad_x(STREAM, VD(t), TY(t), VS(2), TY(t->src[2]), VD(t), TY(t), m, n));
        else
            LAUNCH(kn__cu_act_grad_x(STREAM, (int)act, t->fparam[0], VD(t), TY(t), VS(2), TY(t->src[2]), VD(t), TY(t),
                                     m * n));
        OK;
    }
    if (act == KN_SOFTMAX) LAUNCH(kn__cu_softmax_grad(STREAM, D(t), DS(2), D(t), m, n));
    else LAUNCH(kn__cu_act_grad(STREAM, (int)act, t->fparam[0], D(t), DS(2), D(t), m * n));
    OK;
}

static kn_status k_elementwise(kn_graph *g, kn_tensor *t) {
    const kn_ew_program *p = t->aux;
    if (any_half(t)) {
        const void *hin[KN_MAX_SRC] = {NULL};
        int tin[KN_MAX_SRC] = {0};
        for (int s = 0; s < p->n_inputs; s++) hin[s] = VS(s), tin[s] = TY(t->src[s]);
        LAUNCH(kn__cu_elementwise_x(STREAM, p, hin, tin, VD(t), TY(t), kn__numel(t), t->ndim ? t->ne[t->ndim - 1] : 1));
        OK;
    }
    const float *in[KN_MAX_SRC] = {NULL};
    for (int s = 0; s < p->n_inputs; s++) in[s] = DS(s);
    LAUNCH(kn__cu_elementwise(STREAM, p, in, D(t), kn__numel(t), t->ndim ? t->ne[t->ndim - 1] : 1));
    OK;
}

static kn_status k_dropout(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_dropout(STREAM, CTX->d_step, g->ctx->seed, t->iparam[0], t->fparam[0], DS(0), D(t), kn__numel(t)));
    OK;
}

static kn_status k_batch_norm(kn_graph *g, kn_tensor *t) {
    int64_t n = kn__numel(t), c = t->ne[t->ndim - 1];
    LAUNCH(kn__cu_batch_norm(STREAM, CTX->d_step, DS(0), D(t), DS(1), DS(2), t->fparam[0], t->fparam[1],
                             !g->shared_params, CTX->ws, c ? n / c : 0, c));
    OK;
}

static kn_status k_batch_norm_grad(kn_graph *g, kn_tensor *t) {
    int64_t n = kn__numel(t), c = t->ne[t->ndim - 1];
    LAUNCH(kn__cu_batch_norm_grad(STREAM, DS(0), DS(1), D(t), t->fparam[1], CTX->ws, c ? n / c : 0, c));
    OK;
}

static kn_status k_batch_norm_fold(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_batch_norm_fold(STREAM, DS(0), DS(1), D(t), t->fparam[1], t->iparam[0] != 0, kn__numel(t)));
    OK;
}

/* A window over images of img's shape with f output channels. */
static kn__cuda_win win_of(const kn_tensor *t, const kn_tensor *img, int64_t f) {
    kn__win w = kn__win_unpack(t);
    return (kn__cuda_win){img->ne[0], img->ne[1], img->ne[2], img->ne[3], f, w.kh, w.kw, w.sh, w.sw, w.dh, w.dw,
                          w.pt, w.pl, w.oh, w.ow};
}

static kn_status k_pool(kn_graph *g, kn_tensor *t, bool max) {
    kn__cuda_win w = win_of(t, t->src[0], 0);
    LAUNCH(kn__cu_pool(STREAM, &w, max, DS(0), D(t)));
    OK;
}
static kn_status k_maxpool(kn_graph *g, kn_tensor *t) { return k_pool(g, t, true); }
static kn_status k_avgpool(kn_graph *g, kn_tensor *t) { return k_pool(g, t, false); }

static kn_status k_maxpool_grad(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(t, t, 0);
    LAUNCH(kn__cu_pool_grad(STREAM, &w, true, DS(0), DS(1), D(t), DOPT(2), t->iparam[4], t->fparam[0]));
    OK;
}

static kn_status k_avgpool_grad(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(t, t, 0);
    LAUNCH(kn__cu_pool_grad(STREAM, &w, false, DS(0), NULL, D(t), DOPT(2), t->iparam[4], t->fparam[0]));
    OK;
}

static kn_status k_conv2d(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(t, t->src[0], t->src[1]->ne[1]);
    LAUNCH(kn__cu_conv2d(STREAM, &w, DS(0), DS(1), DOPT(2), t->iparam[4], t->fparam[0], D(t)));
    OK;
}

static kn_status k_conv2d_grad_input(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(t, t, t->src[1]->ne[1]);
    LAUNCH(kn__cu_conv2d_grad_input(STREAM, &w, DS(0), DS(1), D(t), DOPT(2), t->iparam[4], t->fparam[0]));
    OK;
}

static kn_status k_conv2d_grad_kernel(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(t, t->src[0], t->ne[1]);
    LAUNCH(kn__cu_conv2d_grad_kernel(STREAM, &w, DS(0), DS(1), D(t)));
    OK;
}

/* Every op with a CPU kernel has one here (compile refuses a graph otherwise). */
static const kn__cuda_kernel_fn cuda_kernels[KN_OP_COUNT] = {
    [KN_OP_MATMUL] = k_matmul,
    [KN_OP_ADD] = k_add,
    [KN_OP_SUB] = k_sub,
    [KN_OP_MUL] = k_mul,
    [KN_OP_SCALE] = k_scale,
    [KN_OP_COPY] = k_copy,
    [KN_OP_ACT] = k_act,
    [KN_OP_ACT_GRAD] = k_act_grad,
    [KN_OP_SUM_ROWS] = k_sum_rows,
    [KN_OP_SUM] = k_sum,
    [KN_OP_SUM_SQUARES] = k_sum_squares,
    [KN_OP_LOSS] = k_loss,
    [KN_OP_LOSS_GRAD] = k_loss_grad,
    [KN_OP_OPTIMIZER] = k_optimizer,
    [KN_OP_TRANSPOSE] = k_transpose,
    [KN_OP_CONV2D] = k_conv2d,
    [KN_OP_CONV2D_GRAD_INPUT] = k_conv2d_grad_input,
    [KN_OP_CONV2D_GRAD_KERNEL] = k_conv2d_grad_kernel,
    [KN_OP_MAXPOOL2D] = k_maxpool,
    [KN_OP_MAXPOOL2D_GRAD] = k_maxpool_grad,
    [KN_OP_AVGPOOL2D] = k_avgpool,
    [KN_OP_AVGPOOL2D_GRAD] = k_avgpool_grad,
    [KN_OP_DROPOUT] = k_dropout,
    [KN_OP_BATCH_NORM] = k_batch_norm,
    [KN_OP_BATCH_NORM_GRAD] = k_batch_norm_grad,
    [KN_OP_DENSE] = k_dense,
    [KN_OP_MATMUL_ACT_GRAD] = k_matmul_act_grad,
    [KN_OP_ELEMENTWISE] = k_elementwise,
    [KN_OP_OPT_UPDATE] = k_opt_update,
    [KN_OP_GRAD_NORM] = k_grad_norm,
    [KN_OP_BATCH_NORM_FOLD] = k_batch_norm_fold,
};

kn__cuda_kernel_fn kn__cuda_kernel(kn_op op) { return (unsigned)op < KN_OP_COUNT ? cuda_kernels[op] : NULL; }
