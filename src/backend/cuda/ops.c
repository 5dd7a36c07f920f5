/* ops.c — the CUDA backend's kernel table: for each op, the function that reads the
 * node's shapes and parameters (as the CPU kernel does) and enqueues the launchers of
 * kernels.cu / kernels_nn.cu or a cuBLASLt product (matmul.c) on the graph's stream. */
#include "node_launch.h"
#include "backend/rnn_cell.h"
#include "backend/noise_formulas.h"

#define D(t) ((float *)kn__cuda_tensor(g, (t)))
#define DS(i) ((float *)kn__cuda_tensor(g, t->src[i]))
#define DOPT(i) (t->src[i] ? DS(i) : NULL)
#define OK return KN_OK
/* Mixed precision: a tensor's storage type code for the launchers (KN_F32, KN_BF16,
 * KN_F16), and whether t or a source is half (then the _x launchers run; an fp32 graph
 * launches exactly the f32 kernels). */
#define TY(t) ((int)(t)->dtype)
#define VS(i) kn__cuda_tensor(g, t->src[i])
#define VD(t) kn__cuda_tensor(g, (t))
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
    if (kn__cuda_chained(g, t)) OK;
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
    for (int i = 0; i < CTX->n_bgrad; i++) /* summed by its paired product (k_matmul) */
        if (CTX->bgrad_sum[i] == t) OK;
    int64_t cols = t->ne[0], rows = cols ? kn__numel(t->src[0]) / cols : 0;
    if (is_half(t->src[0])) { /* the output (a bias gradient) stays f32 */
        LAUNCH(kn__cu_sum_rows_x(STREAM, VS(0), TY(t->src[0]), D(t), (float *)CTX->ws, rows, cols));
        OK;
    }
    LAUNCH(kn__cu_sum_rows(STREAM, DS(0), D(t), (float *)CTX->ws, rows, cols));
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
    if (kn__cuda_chain_loss_done(g, t)) OK; /* computed by the chain before it (small_batch.c) */
    const kn_tensor *p = t->src[0];
    if (is_half(p)) {
        LAUNCH(kn__cu_loss_x(STREAM, t->iparam[0], t->iparam[1], kn__loss_node_params(t), VS(0), TY(p), kn__cuda_tensor(g, t->src[1]), DOPT(2),
                             D(t), CTX->ws, p->ne[0], p->ne[1]));
        OK;
    }
    LAUNCH(kn__cu_loss(STREAM, t->iparam[0], t->iparam[1], kn__loss_node_params(t), DS(0), kn__cuda_tensor(g, t->src[1]), DOPT(2), D(t),
                       CTX->ws, p->ne[0], p->ne[1]));
    OK;
}

static kn_status k_loss_grad(kn_graph *g, kn_tensor *t) {
    if (kn__cuda_chain_loss_done(g, t)) OK;
    const kn_tensor *p = t->src[0];
    if (is_half(p) || is_half(t)) {
        LAUNCH(kn__cu_loss_grad_x(STREAM, t->iparam[0], t->iparam[1], kn__loss_node_params(t), VS(0), TY(p), kn__cuda_tensor(g, t->src[1]),
                                  DS(2), DOPT(3), VD(t), TY(t), p->ne[0], p->ne[1]));
        OK;
    }
    LAUNCH(kn__cu_loss_grad(STREAM, t->iparam[0], t->iparam[1], kn__loss_node_params(t), DS(0), kn__cuda_tensor(g, t->src[1]), DS(2),
                            DOPT(3), D(t), p->ne[0], p->ne[1]));
    OK;
}

void kn__cuda_opt_slots(const kn_graph *g, int64_t lo, float **s0, float **s1) {
    const kn__cuda_graph *c = g->backend.context;
    int64_t slots = g->param_floats ? g->state_floats / g->param_floats : 0;
    *s0 = c->state && slots >= 1 ? c->state + lo : NULL;
    *s1 = c->state && slots >= 2 ? c->state + g->param_floats + lo : NULL;
}

/* One update over floats [lo, lo + n) of the flat buffers. */
static kn_status update_span(kn_graph *g, kn_tensor *t, const float *cf, int64_t lo, int64_t n) {
    kn__cuda_graph *c = CTX;
    float *s0, *s1;
    kn__cuda_opt_slots(g, lo, &s0, &s1);
    /* mixed precision: the half compute copy rewritten in the same pass */
    void *wh = c->param_half ? (uint16_t *)c->param_half + lo : NULL;
    bool whole = lo == 0 && n == (int64_t)g->param_floats; /* (the late guard: small_batch.c allows one update) */
    if (whole && c->update_guard && c->update_taken) OK; /* the weight gradients took it (KILN_CUDA_WGRAD_UPDATE) */
    LAUNCH(kn__cu_opt_update(STREAM, &c->opt, c->d_step, cf, c->param + lo, c->grad + lo, s0, s1, n, wh, c->half_type,
                             kn__cuda_pdl(c), whole ? c->update_guard : NULL));
    OK;
}

/* The clip factor goes to the end of the workspace's first 64 bytes (ws is at least that). */
static kn_status k_optimizer(kn_graph *g, kn_tensor *t) {
    kn__cuda_graph *c = CTX;
    float *cf = NULL;
    if (g->opt.clip_norm > 0) {
        cf = (float *)c->ws;
        LAUNCH(kn__cu_grad_norm(STREAM, c->d_step, c->grad, (int64_t)g->param_floats, g->opt.clip_norm, cf,
                                (double *)((uint8_t *)c->ws + 64)));
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
    LAUNCH(kn__cu_grad_norm(STREAM, CTX->d_step, CTX->grad, (int64_t)g->param_floats, g->opt.clip_norm, D(t),
                            (double *)((uint8_t *)CTX->ws + 64)));
    OK;
}

static kn_status k_transpose(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_transpose(STREAM, DS(0), D(t), t->src[0]->ne[0], t->src[0]->ne[1]));
    OK;
}

/* Every dimension of t but the last, resolved. */
static int64_t lead_rows(const kn_tensor *t) {
    int64_t r = 1;
    for (int d = 0; d + 1 < t->ndim; d++) r *= t->ne[d];
    return r;
}

static kn_status k_concat(kn_graph *g, kn_tensor *t) {
    const kn_tensor *a = t->src[0], *b = t->src[1];
    LAUNCH(kn__cu_concat(STREAM, DS(0), DS(1), D(t), lead_rows(t), a->ne[a->ndim - 1], b->ne[b->ndim - 1]));
    OK;
}

static kn_status k_slice(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    LAUNCH(kn__cu_slice(STREAM, DS(0), D(t), lead_rows(t), x->ne[x->ndim - 1], t->iparam[0], t->iparam[1]));
    OK;
}

static kn_status k_slice_grad(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_slice_grad(STREAM, DS(0), D(t), lead_rows(t), t->ne[t->ndim - 1], t->iparam[0], t->iparam[1]));
    OK;
}

static kn_status k_maximum(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_maximum(STREAM, DS(0), DS(1), D(t), kn__numel(t)));
    OK;
}

static kn_status k_maximum_grad(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_maximum_grad(STREAM, DS(0), DS(1), DS(2), D(t), kn__numel(t), t->iparam[0]));
    OK;
}

/* A product's operand in slot i: its device address and storage type. With half
 * operands (mixed precision) an f32 parameter is read from the parameters' half copy,
 * since cuBLASLt multiplies two operands of one type (matmul.c); the precision pass
 * leaves no other f32 operand beside a half one. */
static void operand(kn_graph *g, const kn_tensor *t, int i, const void **p, int *dt) {
    const kn_tensor *s = t->src[i], *o = t->src[1 - i];
    void *h = !is_half(s) && is_half(o) ? kn__cuda_param_half(g, s->data) : NULL;
    *p = h ? h : kn__cuda_tensor(g, s);
    *dt = h ? ((kn__cuda_graph *)g->backend.context)->half_type : TY(s);
}

/* op(a) op(b) (+ bias, relu in the epilogue) into out, of type out_type (t's own storage,
 * or an f32 workspace of t's shape). */
static kn_status product_into(kn_graph *g, kn_tensor *t, const float *bias, bool relu, void *out, int out_type) {
    kn_tensor *a = t->src[0], *b = t->src[1];
    bool ta = t->iparam[0], tb = t->iparam[1];
    int64_t m = t->ne[0], n = t->ne[1], k = ta ? a->ne[0] : a->ne[1];
    const void *pa, *pb;
    int at, bt;
    operand(g, t, 0, &pa, &at);
    operand(g, t, 1, &pb, &bt);
    /* a half output's bias: the parameters' half copy of it (matmul.c) */
    bool half_out = out_type == KN_BF16 || out_type == KN_F16;
    const void *bias_half = bias && half_out && t->src[2] ? kn__cuda_param_half(g, t->src[2]->data) : NULL;
    return kn__cuda_gemm_bgrad(g, t, ta, tb, m, n, k, pa, at, a->ne[1], pb, bt, b->ne[1], out, out_type, bias, bias_half,
                               relu, false, NULL, NULL);
}

static kn_status product(kn_graph *g, kn_tensor *t, const float *bias, bool relu) {
    return product_into(g, t, bias, relu, VD(t), TY(t));
}

/* A half dense output whose activation cuBLASLt's epilogue has no form for (relu it has),
 * and a half matmul + activation gradient: the product goes to the f32 workspace, and one
 * kernel applies the activation (or its gradient) and narrows, so each element rounds once,
 * as on the CPU (kn__gemm_mixed's epilogues work on the f32 block); node_workspace sizes it. */
static bool wide_product(const kn_tensor *t) {
    bool half = t->dtype == KN_BF16 || t->dtype == KN_F16;
    kn_activation act = (kn_activation)t->iparam[2];
    /* (relu's gradient keeps or zeroes the narrowed product, exactly: no second rounding) */
    return half && (t->op == KN_OP_MATMUL_ACT_GRAD || t->op == KN_OP_DENSE) && act != KN_RELU && act != KN_LINEAR;
}

size_t kn__cuda_wide_product_bytes(const kn_tensor *t) {
    return wide_product(t) ? (size_t)kn__numel(t) * sizeof(float) : 0;
}

/* A weight gradient's product, with the bias gradient paired with it (runtime.c's
 * pair_bias_grads) summed in cuBLASLt's epilogue, or by the sum_rows kernel when it could
 * not be; any other product plainly. */
static kn_status k_matmul(kn_graph *g, kn_tensor *t) {
    kn__cuda_graph *c = CTX;
    bool together;
    kn_status st0 = kn__cuda_weight_grads(g, t, &together);
    if (st0 || together) return st0;
    const kn_tensor *s = NULL;
    for (int i = 0; i < c->n_bgrad && !s; i++)
        if (c->bgrad_mm[i] == t) s = c->bgrad_sum[i];
    if (!s) return product(g, t, NULL, false);
    kn_tensor *a = t->src[0], *b = t->src[1];
    int64_t m = t->ne[0], n = t->ne[1], k = a->ne[0]; /* a^T b: a (k, m), b (k, n) */
    const void *pa, *pb;
    int at, bt;
    operand(g, t, 0, &pa, &at);
    operand(g, t, 1, &pb, &bt);
    bool done = false;
    kn_status st = kn__cuda_gemm_bgrad(g, t, true, false, m, n, k, pa, at, a->ne[1], pb, bt, b->ne[1], VD(t), TY(t), NULL,
                                       NULL, false, false, (float *)kn__cuda_tensor(g, s), &done);
    if (st || done) return st;
    /* as k_sum_rows would (b is its input) */
    int64_t cols = s->ne[0], rows = cols ? kn__numel(b) / cols : 0;
    LAUNCH(kn__cu_sum_rows_x(STREAM, kn__cuda_tensor(g, b), TY(b), (float *)kn__cuda_tensor(g, s), (float *)c->ws,
                             rows, cols));
    OK;
}

/* act(op(a) op(b) + bias): bias and relu in cuBLASLt's epilogue, other activations after;
 * or, in a dense chain, the whole chain from its first node (the others then do nothing). */
static kn_status k_dense(kn_graph *g, kn_tensor *t) {
    kn__cuda_graph *c = CTX;
    for (int i = 0; i < c->n_chains; i++) {
        if (c->chain[i].node[0] == t) {
            bool fused;
            kn_status st = kn__cuda_dense_chain(g, i, &fused);
            if (st || fused) return st;
            break;
        }
    }
    if (kn__cuda_chained(g, t)) OK;
    int64_t m = t->ne[0], n = t->ne[1];
    kn_activation act = (kn_activation)t->iparam[2];
    if (wide_product(t)) { /* bias in the f32 epilogue, the activation narrowing once */
        float *wide = c->ws;
        kn_status st = product_into(g, t, DOPT(2), false, wide, KN_F32);
        if (st) return st;
        if (act == KN_SOFTMAX) LAUNCH(kn__cu_softmax_x(STREAM, wide, KN_F32, VD(t), TY(t), m, n));
        else LAUNCH(kn__cu_act_x(STREAM, (int)act, t->fparam[0], wide, KN_F32, VD(t), TY(t), m * n));
        OK;
    }
    kn_status st = product(g, t, DOPT(2), act == KN_RELU);
    if (st || act == KN_RELU || act == KN_LINEAR) return st;
    if (is_half(t)) LAUNCH(kn__cu_bias_act_x(STREAM, VD(t), TY(t), NULL, (int)act, t->fparam[0], m, n));
    else LAUNCH(kn__cu_bias_act(STREAM, D(t), NULL, (int)act, t->fparam[0], m, n));
    OK;
}

static kn_status k_matmul_act_grad(kn_graph *g, kn_tensor *t) {
    kn__cuda_graph *c = CTX;
    for (int i = 0; i < c->n_chains; i++)
        if (c->chain[i].node[0] == t) { /* a backward chain's head: the chain, if the rows allow */
            bool fused;
            kn_status st = kn__cuda_dense_chain(g, i, &fused);
            if (st || fused) return st;
            break;
        }
    if (kn__cuda_chained(g, t)) OK;
    int64_t m = t->ne[0], n = t->ne[1];
    kn_activation act = (kn_activation)t->iparam[2];
    bool wide = wide_product(t); /* a half output: the product in f32 first, rounded once at the end */
    void *prod = wide ? c->ws : VD(t);
    int prod_type = wide ? KN_F32 : TY(t);
    kn_status st = product_into(g, t, NULL, false, prod, prod_type);
    if (st) return st;
    if (any_half(t)) {
        if (act == KN_SOFTMAX)
            LAUNCH(kn__cu_softmax_grad_x(STREAM, prod, prod_type, VS(2), TY(t->src[2]), VD(t), TY(t), m, n));
        else
            LAUNCH(kn__cu_act_grad_x(STREAM, (int)act, t->fparam[0], prod, prod_type, VS(2), TY(t->src[2]), VD(t), TY(t),
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
    int64_t steps = t->iparam[1] > 0 ? t->iparam[1] : 0; /* a mask shared by steps (kn_spatial_dropout) */
    LAUNCH(kn__cu_dropout(STREAM, CTX->d_step, g->ctx->seed, t->iparam[0], t->fparam[0], steps, t->iparam[2], VS(0),
                          TY(t->src[0]), VD(t), TY(t), kn__numel(t)));
    OK;
}

static kn_status k_noise(kn_graph *g, kn_tensor *t) {
    kn__noise_consts c = kn__noise_consts_of(t->iparam[1], t->fparam[0]); /* the CPU's floats */
    LAUNCH(kn__cu_noise(STREAM, CTX->d_step, g->ctx->seed, t->iparam[0], t->iparam[1], t->fparam[0], c.p, c.b,
                        c.alpha_p, c.threshold, DS(0), D(t), kn__numel(t)));
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

/* Rows of t's last dimension: its channels c and the rows. */
static int64_t rows_of(const kn_tensor *t, int64_t *c) {
    *c = t->ndim ? t->ne[t->ndim - 1] : 1;
    return *c ? kn__numel(t) / *c : 0;
}

static kn_status k_layer_norm(kn_graph *g, kn_tensor *t) {
    int64_t c, rows = rows_of(t, &c);
    LAUNCH(kn__cu_layer_norm(STREAM, VS(0), TY(t->src[0]), DOPT(1), DOPT(2), VD(t), TY(t), t->fparam[0], rows, c));
    OK;
}

static kn_status k_layer_norm_grad(kn_graph *g, kn_tensor *t) {
    int64_t c, rows = rows_of(t, &c);
    LAUNCH(kn__cu_layer_norm_grad(STREAM, VS(0), TY(t->src[0]), VS(1), TY(t->src[1]), DOPT(2), VD(t), TY(t),
                                  t->fparam[0], rows, c));
    OK;
}

static kn_status k_layer_norm_gamma_grad(kn_graph *g, kn_tensor *t) {
    int64_t c, rows = rows_of(t->src[1], &c);
    LAUNCH(kn__cu_layer_norm_gamma_grad(STREAM, VS(0), TY(t->src[0]), VS(1), TY(t->src[1]), D(t), t->fparam[0],
                                        (float *)CTX->ws, rows, c));
    OK;
}

static kn_status k_batch_norm_fold(kn_graph *g, kn_tensor *t) {
    LAUNCH(kn__cu_batch_norm_fold(STREAM, DS(0), DS(1), D(t), t->fparam[1], t->iparam[0] != 0, kn__numel(t)));
    OK;
}

/* A window over images of img's shape with f output channels (index64: g's
 * KILN_CUDA_INDEX64, which sends it to the 64-bit kernels whatever its size; g NULL: only
 * the geometry wanted). */
static kn__cuda_win win_of(const kn_graph *g, const kn_tensor *t, const kn_tensor *img, int64_t f) {
    kn__win w = kn__win_unpack(t);
    bool index64 = g && ((const kn__cuda_graph *)g->backend.context)->index64;
    return (kn__cuda_win){img->ne[0], img->ne[1], img->ne[2], img->ne[3], f, w.kh, w.kw, w.sh, w.sw, w.dh, w.dw,
                          w.pt, w.pl, w.oh, w.ow, index64, (int)kn__conv_groups(t)};
}

static kn_status k_pool(kn_graph *g, kn_tensor *t, bool max) {
    kn__cuda_win w = win_of(g, t, t->src[0], 0);
    LAUNCH(kn__cu_pool(STREAM, &w, max, DS(0), D(t)));
    OK;
}
static kn_status k_maxpool(kn_graph *g, kn_tensor *t) { return k_pool(g, t, true); }
static kn_status k_avgpool(kn_graph *g, kn_tensor *t) { return k_pool(g, t, false); }

static kn_status k_maxpool_grad(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(g, t, t, 0);
    LAUNCH(kn__cu_pool_grad(STREAM, &w, true, DS(0), DS(1), D(t), DOPT(2), t->iparam[4], t->fparam[0]));
    OK;
}

static kn_status k_avgpool_grad(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = win_of(g, t, t, 0);
    LAUNCH(kn__cu_pool_grad(STREAM, &w, false, DS(0), NULL, D(t), DOPT(2), t->iparam[4], t->fparam[0]));
    OK;
}

/* ------------------------------------------------------------- convolutions
 *
 * im2col + cuBLASLt (the default), or the direct kernels of kernels_nn.cu
 * (KILN_CUDA_CONV=direct at compile, kept until a GPU session measures both). With
 * K = kh kw c, per = oh ow positions an image and rows = n per, the column matrix
 * cols (rows, K) has output position r's window as row r ((ky, kx, c) order, the kernel's
 * rows), so
 *
 *   forward       y (rows, F)        = cols (rows, K) kernel (K, F)  (+ bias, act)
 *   grad input    dcols (rows, K)    = dy (rows, F) kernel^T (F, K);  dx = col2im(dcols)
 *   grad kernel   dkernel (K, F)     = cols^T (K, rows) dy (rows, F)
 *
 * taken a chunk of rows at a time (kn__cuda_conv_chunk: whole images while one fits under
 * the cap), the chunk's columns in conv_cols. The forward's bias and relu run in cuBLASLt's
 * epilogue (per chunk); other activations in one kernel after the last chunk. The kernel
 * gradient sums the chunks in cuBLASLt (beta 1 after the first), in chunk order. A 1x1
 * window with stride 1 and no padding needs no columns: they are the images' own rows. */

/* Whether the node runs the direct kernels: chosen at compile (KILN_CUDA_CONV=direct), or
 * grouped (the GEMM path takes one group: a grouped convolution is direct until a GPU
 * session measures a batched-GEMM form against it). */
static bool conv_direct(const kn_graph *g, const kn__cuda_win *w) { return CTX->conv_direct || w->groups > 1; }

static bool conv_pointwise(const kn__cuda_win *w) { /* (a transposed convolution's 1x1 window may pad the image) */
    return w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && w->pt == 0 && w->pl == 0 && w->oh == w->h &&
           w->ow == w->w;
}

int64_t kn__cuda_conv_chunk(int64_t per, int64_t k, size_t cap) {
    size_t row_bytes = (size_t)(k > 0 ? k : 1) * sizeof(float);
    int64_t r = (int64_t)(cap / row_bytes);
    if (per > 0 && r >= per) return r / per * per; /* whole images: col2im writes each once */
    if (r >= 64) return r / 64 * 64;               /* a chunk's rows in y / dy stay 256-byte aligned */
    return r < 1 ? 1 : r;
}

/* A convolution node's window over its images, and its filters: the forward's and the
 * kernel gradient's images are src[0], the input gradient's its own output. */
static kn__cuda_win conv_win(const kn_graph *g, const kn_tensor *t) {
    if (t->op == KN_OP_CONV2D_GRAD_KERNEL) return win_of(g, t, t->src[0], t->ne[1]); /* d kernel (K, F) */
    return win_of(g, t, t->op == KN_OP_CONV2D_GRAD_INPUT ? t : t->src[0], t->src[1]->ne[1]); /* kernel (K, F) */
}

size_t kn__cuda_conv_workspace(const kn_tensor *t, size_t cap) {
    if (t->op != KN_OP_CONV2D && t->op != KN_OP_CONV2D_GRAD_INPUT && t->op != KN_OP_CONV2D_GRAD_KERNEL) return 0;
    kn__cuda_win w = conv_win(NULL, t);
    if (conv_pointwise(&w) || w.groups > 1) return 0; /* (grouped: the direct kernels) */
    int64_t k = (int64_t)w.kh * w.kw * w.c, per = (int64_t)w.oh * w.ow, rows = w.n * per;
    int64_t chunk = kn__cuda_conv_chunk(per, k, cap);
    return (size_t)(rows < chunk ? rows : chunk) * (size_t)k * sizeof(float);
}

/* Rows per chunk for this run, checked against the workspace compile sized (an invariant:
 * a run's batch is at most the compiled one). */
static kn_status conv_chunk_rows(kn_graph *g, kn_tensor *t, const kn__cuda_win *w, int64_t *chunk) {
    int64_t k = (int64_t)w->kh * w->kw * w->c, per = (int64_t)w->oh * w->ow, rows = w->n * per;
    int64_t c = kn__cuda_conv_chunk(per, k, CTX->conv_cap);
    *chunk = rows < c ? rows : c;
    if (*chunk > 0 && (!CTX->conv_cols || (size_t)*chunk * (size_t)k * sizeof(float) > CTX->conv_cols_bytes))
        return kn__error(g->ctx, KN_ERR_DEVICE,
                         "cuda: node '%s': %lld column rows of %lld exceed the %zu-byte workspace", t->name,
                         (long long)*chunk, (long long)k, CTX->conv_cols_bytes);
    return KN_OK;
}

static kn_status k_conv2d(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = conv_win(g, t);
    kn_activation act = (kn_activation)t->iparam[4];
    if (conv_direct(g, &w)) {
        LAUNCH(kn__cu_conv2d(STREAM, &w, DS(0), DS(1), DOPT(2), (int)act, t->fparam[0], D(t)));
        OK;
    }
    const float *x = DS(0), *kernel = DS(1), *bias = DOPT(2); /* x (n, h, w, c), kernel (K, F), bias (F) */
    float *y = D(t);                                          /* (rows, F) */
    int64_t k = (int64_t)w.kh * w.kw * w.c, rows = w.n * w.oh * w.ow, chunk;
    bool relu = act == KN_RELU;
    kn_status st;
    if (conv_pointwise(&w)) { /* cols = x itself: (rows, c) */
        if ((st = kn__cuda_gemm(g, t, false, false, rows, w.f, k, x, KN_F32, k, kernel, KN_F32, w.f, y, KN_F32, bias,
                                relu, false)))
            return st;
    } else {
        if ((st = conv_chunk_rows(g, t, &w, &chunk))) return st;
        for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
            int64_t m = rows - r0 < chunk ? rows - r0 : chunk;
            float *cols = CTX->conv_cols; /* (m, K): positions [r0, r0 + m) */
            LAUNCH(kn__cu_im2col(STREAM, &w, x, r0, m, cols));
            /* (m, K) x (K, F) -> y rows [r0, r0 + m), (m, F) */
            if ((st = kn__cuda_gemm(g, t, false, false, m, w.f, k, cols, KN_F32, k, kernel, KN_F32, w.f, y + r0 * w.f,
                                    KN_F32, bias, relu, false)))
                return st;
        }
    }
    if (act != KN_LINEAR && act != KN_RELU) LAUNCH(kn__cu_bias_act(STREAM, y, NULL, (int)act, t->fparam[0], rows, w.f));
    OK;
}

static kn_status k_conv2d_grad_input(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = conv_win(g, t);
    int act = t->iparam[4];
    const float *dy = DS(0), *kernel = DS(1), *v = DOPT(2); /* dy (rows, F), kernel (K, F), v like dx */
    float *dx = D(t);                                       /* (n, h, w, c) */
    if (conv_direct(g, &w)) {
        LAUNCH(kn__cu_conv2d_grad_input(STREAM, &w, dy, kernel, dx, v, act, t->fparam[0]));
        OK;
    }
    int64_t k = (int64_t)w.kh * w.kw * w.c, rows = w.n * w.oh * w.ow, chunk;
    kn_status st;
    if (conv_pointwise(&w)) { /* dcols are dx's own rows: (rows, F) x (F, c) -> (rows, c) */
        if ((st = kn__cuda_gemm(g, t, false, true, rows, k, w.f, dy, KN_F32, w.f, kernel, KN_F32, w.f, dx, KN_F32,
                                NULL, false, false)))
            return st;
        if (v) LAUNCH(kn__cu_act_grad(STREAM, act, t->fparam[0], dx, v, dx, rows * k));
        OK;
    }
    if (rows == 0) { /* no output position reads the images (a window larger than a padless image) */
        LAUNCH(cudaMemsetAsync(dx, 0, kn__nbytes(t), STREAM));
        OK;
    }
    if ((st = conv_chunk_rows(g, t, &w, &chunk))) return st;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t m = rows - r0 < chunk ? rows - r0 : chunk;
        float *cols = CTX->conv_cols; /* (m, K): the gradient of positions [r0, r0 + m)'s windows */
        /* dy rows [r0, r0 + m) (m, F) x kernel^T (F, K) -> (m, K) */
        if ((st = kn__cuda_gemm(g, t, false, true, m, k, w.f, dy + r0 * w.f, KN_F32, w.f, kernel, KN_F32, w.f, cols,
                                KN_F32, NULL, false, false)))
            return st;
        LAUNCH(kn__cu_col2im(STREAM, &w, cols, r0, m, dx, v, act, t->fparam[0]));
    }
    OK;
}

static kn_status k_conv2d_grad_kernel(kn_graph *g, kn_tensor *t) {
    kn__cuda_win w = conv_win(g, t);
    const float *x = DS(0), *dy = DS(1); /* x (n, h, w, c), dy (rows, F) */
    float *dk = D(t);                    /* (K, F) */
    if (conv_direct(g, &w)) {
        LAUNCH(kn__cu_conv2d_grad_kernel(STREAM, &w, x, dy, dk));
        OK;
    }
    int64_t k = (int64_t)w.kh * w.kw * w.c, rows = w.n * w.oh * w.ow, chunk;
    kn_status st;
    if (conv_pointwise(&w)) /* x^T (c, rows) x dy (rows, F) -> (c, F); no rows: zeros (matmul.c) */
        return kn__cuda_gemm(g, t, true, false, k, w.f, rows, x, KN_F32, k, dy, KN_F32, w.f, dk, KN_F32, NULL, false,
                             false);
    if (rows == 0) {
        LAUNCH(cudaMemsetAsync(dk, 0, kn__nbytes(t), STREAM));
        OK;
    }
    if ((st = conv_chunk_rows(g, t, &w, &chunk))) return st;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t m = rows - r0 < chunk ? rows - r0 : chunk;
        float *cols = CTX->conv_cols; /* (m, K): the windows of positions [r0, r0 + m) */
        LAUNCH(kn__cu_im2col(STREAM, &w, x, r0, m, cols));
        /* cols^T (K, m) x dy rows [r0, r0 + m) (m, F) -> (K, F), added to the earlier chunks' */
        if ((st = kn__cuda_gemm(g, t, true, false, k, w.f, m, cols, KN_F32, k, dy + r0 * w.f, KN_F32, w.f, dk, KN_F32,
                                NULL, false, r0 > 0)))
            return st;
    }
    OK;
}

/* ------------------------------------------------------------- recurrent layers
 *
 * A sequence runs a step at a time, as cpu/rnn.c does, with the same cell formulas
 * (backend/rnn_cell.h, in kernels_rnn.cu): per step one cuBLASLt product and one launch of
 * the cell over every (row, unit). The products' outputs go to the workspace (ws, sized by
 * kn__cuda_rnn_workspace at the compiled batch), since kn__cuda_gemm writes rows of n
 * floats and a step's recurrent term lies inside the wider states row:
 *
 *   forward   prod (N, G*H) = h_s U   (h_s: the states' columns [s*H, (s+1)*H), row stride W;
 *             none at s = 0: h_0 = 0); the step's kernel writes r_s = b_r + prod into the
 *             states row, then the cell's h_{s+1} and (lstm) c_{s+1}
 *   backward  s = T-1 .. 0: the step's kernel (d xw, a gru's d r, and the direct parts of
 *             h_s's and c_s's gradients into dh_rec and dc, (N, H) each in ws), then
 *             dh_rec = d r_s U^T, added to the direct part (beta 1) for a gru or with a
 *             mask (a dropped step's whole dh), for step s - 1
 *
 * (A mask, the RNN node's src[3] and its gradient's src[4], goes to the kernels as d.mask:
 * a dropped step's state carries over, cpu/rnn.c's masked steps.)
 *
 * (A reversed sequence, iparam[5], processes time T-1-s at step s, its states kept in time
 * order: rnn_time and rnn_h_read, and the kernels' step_of, as cpu/rnn.c places them.)
 *
 * (Recurrent dropout, fparam[0] > 0: the products read the masked states, h times the keep
 * factors, which each step's kernel also writes at d.hm in the states row; backwards the
 * product d r_s U^T goes to a third (N, H) buffer, dh_prod, with beta 0, and the next step's
 * kernel adds it times the factors to the direct part in dh_rec. The kernels draw the factors
 * from the step values on the device, as the dropout kernel does.)
 *
 * Nothing is allocated or synchronized: a captured run replays it as launched. */

size_t kn__cuda_rnn_workspace(const kn_tensor *t) {
    if (t->op == KN_OP_RNN) return (size_t)t->ne[0] * (size_t)(kn__rnn_gates(t->iparam[0]) * t->iparam[1]) * sizeof(float);
    if (t->op == KN_OP_RNN_GRAD) { /* dh_rec, dc (, dh_prod with recurrent dropout) */
        size_t buffers = t->src[3]->fparam[0] > 0.0f ? 3 : 2;
        return buffers * (size_t)t->ne[0] * (size_t)t->src[3]->iparam[1] * sizeof(float);
    }
    return 0;
}

/* The dimensions of the sequence of rnn (a KN_OP_RNN node) over rows rows; reversed where
 * iparam[5] says so (go_backwards); mask: the device rows of its mask, or NULL. Recurrent
 * dropout (fparam[0] > 0): the masked states' offset, and the mask's key (iparam[5] above
 * KN__RNN_KEY_SHIFT) with the context's seed and the device's step values, which say
 * whether the run trains. */
static kn__cu_rnn rnn_dims(kn_graph *g, const kn_tensor *rnn, int64_t rows, const float *mask) {
    kn__cu_rnn d = {rnn->iparam[0], rnn->iparam[3], rnn->iparam[4], (rnn->iparam[5] & KN__RNN_REVERSE) != 0, rows,
                    rnn->iparam[1], rnn->iparam[2], kn__rnn_gates(rnn->iparam[0]), rnn->ne[1], mask,
                    0, rnn->fparam[0], (int32_t)((uint32_t)rnn->iparam[5] >> KN__RNN_KEY_SHIFT), g->ctx->seed,
                    CTX->d_step};
    if (d.rate > 0.0f) d.hm = kn__rnn_hm_offset(d.cell, d.H, d.T);
    return d;
}

/* The time of processing step s (kernels_rnn.cu's step_of), and the index in the states
 * row of the h it reads. */
static int64_t rnn_time(const kn__cu_rnn *d, int64_t s) { return d->reverse ? d->T - 1 - s : s; }
static int64_t rnn_h_read(const kn__cu_rnn *d, int64_t s) { return d->reverse ? d->T - s : s; }

/* The workspace this run's batch needs, checked against what compile sized (an invariant:
 * a run's batch is at most the compiled one). */
static kn_status rnn_workspace_check(kn_graph *g, kn_tensor *t) {
    size_t need = kn__cuda_rnn_workspace(t);
    if (need > CTX->ws_bytes)
        return kn__error(g->ctx, KN_ERR_DEVICE, "cuda: node '%s': %zu bytes of workspace exceed the %zu compiled",
                         t->name, need, CTX->ws_bytes);
    return KN_OK;
}

static kn_status k_rnn(kn_graph *g, kn_tensor *t) {
    kn__cu_rnn d = rnn_dims(g, t, t->ne[0], DOPT(3));
    int64_t GH = d.G * d.H;
    const float *xw = DS(0), *U = DS(1), *br = DOPT(2);
    float *y = D(t), *prod = CTX->ws;
    kn_status st = rnn_workspace_check(g, t);
    if (st) return st;
    for (int64_t s = 0; s < d.T; s++) {
        /* the h it reads (N, H) (the masked copy with recurrent dropout: hm, 0 otherwise), row
         * stride W, times U (H, G*H) -> prod (N, G*H) */
        if (s > 0 && (st = kn__cuda_gemm(g, t, false, false, d.N, GH, d.H, y + d.hm + rnn_h_read(&d, s) * d.H, KN_F32,
                                         d.W, U, KN_F32, GH, prod, KN_F32, NULL, false, false)))
            return st;
        LAUNCH(kn__cu_rnn_step(STREAM, &d, s, xw, s > 0 ? prod : NULL, br, y));
    }
    OK;
}

static kn_status k_rnn_grad(kn_graph *g, kn_tensor *t) {
    const kn_tensor *rnn = t->src[3];
    kn__cu_rnn d = rnn_dims(g, rnn, t->ne[0], DOPT(4));
    int64_t GH = d.G * d.H, OW = t->ne[1];
    bool gru = d.cell == KN_RNN_GRU;
    const float *dy = DS(0), *xw = DS(1), *U = DS(2), *y = DS(3);
    float *out = D(t), *dh_rec = CTX->ws, *dc = dh_rec + d.N * d.H; /* (N, H) each */
    float *dh_prod = d.hm ? dc + d.N * d.H : NULL;                   /* (N, H): recurrent dropout's product */
    int64_t dr_off = gru ? d.T * GH : 0; /* where d r lies in an output row */
    kn_status st = rnn_workspace_check(g, t);
    if (st) return st;
    for (int64_t s = d.T - 1; s >= 0; s--) {
        LAUNCH(kn__cu_rnn_back_step(STREAM, &d, s, s == d.T - 1, dy, xw, y, out, OW, dh_rec, dc, dh_prod));
        /* d r of step s (N, G*H), row stride OW, times U^T (G*H, H) -> dh_rec (N, H) (+ the direct
         * part: a gru's, and with a mask a dropped step's whole dh); with recurrent dropout to
         * dh_prod alone, which the next step's kernel adds through the keep factors */
        bool add = !dh_prod && (gru || d.mask);
        if (s > 0 && (st = kn__cuda_gemm(g, t, false, true, d.N, d.H, GH, out + dr_off + rnn_time(&d, s) * GH, KN_F32,
                                         OW, U, KN_F32, GH, dh_prod ? dh_prod : dh_rec, KN_F32, NULL, false, add)))
            return st;
    }
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
    [KN_OP_LAYER_NORM] = k_layer_norm,
    [KN_OP_LAYER_NORM_GRAD] = k_layer_norm_grad,
    [KN_OP_LAYER_NORM_GAMMA_GRAD] = k_layer_norm_gamma_grad,
    [KN_OP_DENSE] = k_dense,
    [KN_OP_MATMUL_ACT_GRAD] = k_matmul_act_grad,
    [KN_OP_ELEMENTWISE] = k_elementwise,
    [KN_OP_OPT_UPDATE] = k_opt_update,
    [KN_OP_GRAD_NORM] = k_grad_norm,
    [KN_OP_BATCH_NORM_FOLD] = k_batch_norm_fold,
    [KN_OP_CONCAT] = k_concat,
    [KN_OP_SLICE] = k_slice,
    [KN_OP_MAXIMUM] = k_maximum,
    [KN_OP_MAXIMUM_GRAD] = k_maximum_grad,
    [KN_OP_GATHER] = kn__cuda_k_gather,
    [KN_OP_GATHER_GRAD] = kn__cuda_k_gather_grad,
    [KN_OP_ATTENTION] = kn__cuda_k_attention,
    [KN_OP_ATTENTION_GRAD] = kn__cuda_k_attention_grad,
    [KN_OP_PERMUTE] = kn__cuda_k_permute,
    [KN_OP_GROUP_NORM] = kn__cuda_k_group_norm,
    [KN_OP_GROUP_NORM_GRAD] = kn__cuda_k_group_norm,
    [KN_OP_GROUP_NORM_GAMMA_GRAD] = kn__cuda_k_group_norm,
    [KN_OP_BCAST_BINARY] = kn__cuda_k_bcast_binary,
    [KN_OP_BCAST_REDUCE] = kn__cuda_k_bcast_reduce,
    [KN_OP_MASKED_MEAN] = kn__cuda_k_masked_mean,
    [KN_OP_MASKED_MEAN_GRAD] = kn__cuda_k_masked_mean_grad,
    [KN_OP_MASK_VALUES] = kn__cuda_k_mask_values,
    [KN_OP_UNIT_NORM] = kn__cuda_k_unit_norm,
    [KN_OP_UNIT_NORM_GRAD] = kn__cuda_k_unit_norm,
    [KN_OP_SLICE_GRAD] = k_slice_grad,
    [KN_OP_RNN] = k_rnn,
    [KN_OP_RNN_GRAD] = k_rnn_grad,
    [KN_OP_NOISE] = k_noise,
    [KN_OP_DEPTHWISE_CONV2D] = kn__cuda_k_depthwise,
    [KN_OP_DEPTHWISE_CONV2D_GRAD_INPUT] = kn__cuda_k_depthwise_grad_input,
    [KN_OP_DEPTHWISE_CONV2D_GRAD_KERNEL] = kn__cuda_k_depthwise_grad_kernel,
    [KN_OP_PAD2D] = kn__cuda_k_pad2d,
    [KN_OP_UPSAMPLE2D] = kn__cuda_k_upsample2d,
    [KN_OP_UPSAMPLE2D_GRAD] = kn__cuda_k_upsample2d_grad,
    [KN_OP_RESIZE2D] = kn__cuda_k_resize2d,
    [KN_OP_RESIZE2D_GRAD] = kn__cuda_k_resize2d_grad,
    [KN_OP_RANDOM_AFFINE] = kn__cuda_k_random_affine,
    [KN_OP_RANDOM_AFFINE_GRAD] = kn__cuda_k_random_affine,
    [KN_OP_RANDOM_COLOR] = kn__cuda_k_random_color,
    [KN_OP_RANDOM_COLOR_GRAD] = kn__cuda_k_random_color,
    [KN_OP_DEPTH_TAPS] = kn__cuda_k_depth_taps,
    [KN_OP_DEPTH_TAPS_GRAD] = kn__cuda_k_depth_taps,
};

kn__cuda_kernel_fn kn__cuda_kernel(kn_op op) { return (unsigned)op < KN_OP_COUNT ? cuda_kernels[op] : NULL; }
