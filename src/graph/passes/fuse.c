/* fuse.c — operator fusion: fewer kernels, fewer trips through memory.
 *   - softmax (sigmoid) + cross-entropy: the loss reads the logits (log-sum-exp), and the
 *     loss gradient through the softmax becomes softmax(z) - y in one kernel;
 *   - dense: matmul + bias row + activation in one GEMM whose epilogue adds the bias and
 *     applies the activation while each block of the output is in cache;
 *   - convolution: bias and activation in the epilogue of each block's GEMM (conv_gemm.c);
 *     a depthwise convolution's applied to each output row as its kernel finishes it; a
 *     zero padding before either (or before a max pool over values of no sign) into its
 *     window (inference);
 *   - an activation's gradient into the matmul that makes the incoming gradient;
 *   - the optimizer: one update pass over every parameter instead of one per parameter;
 *   - chains of elementwise ops into one loop (ew_program.h).
 * A producer is absorbed only when its consumer is its only reader and the caller does not
 * hold it. */
#include "passes.h"
#include "graph/ew_program.h"

#include <stdio.h>
#include <string.h>

static bool private_to(const kn_tensor *x, kn_op op) {
    return x->op == op && x->n_uses == 1 && !kn__is_output(x) && !(x->flags & KN_FLAG_FOLDED) && !x->alias;
}

/* ------------------------------------------------------------- softmax + cross-entropy */

static kn_activation fused_activation(kn_loss loss) {
    switch (loss) {
    case KN_LOSS_CATEGORICAL_CROSSENTROPY: case KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
    case KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY: return KN_SOFTMAX;
    case KN_LOSS_BINARY_CROSSENTROPY: case KN_LOSS_BINARY_FOCAL_CROSSENTROPY: return KN_SIGMOID;
    default: return KN_LINEAR;
    }
}

static void fuse_loss(kn_graph *g, kn_tensor *loss) {
    kn_tensor *a = loss->src[0];
    kn_activation act = fused_activation((kn_loss)loss->iparam[0]);
    if (loss->iparam[1] || act == KN_LINEAR || a->op != KN_OP_ACT || a->iparam[0] != (int32_t)act) return;
    kn_tensor *z = a->src[0], *y = loss->src[1];
    /* the gradient: act_grad(loss_grad(a, y, dl), a) -> loss_grad from logits (z, y, dl) */
    for (int i = loss->id + 1; i < g->n_nodes; i++) {
        kn_tensor *ag = g->nodes[i], *lg = ag->src[0];
        if (ag->op != KN_OP_ACT_GRAD || ag->iparam[0] != (int32_t)act || ag->src[1] != a || (ag->flags & KN_FLAG_DEAD))
            continue;
        if (!private_to(lg, KN_OP_LOSS_GRAD) || lg->src[0] != a || lg->src[1] != y || !kn__loss_nodes_agree(lg, loss))
            continue;
        ag->op = KN_OP_LOSS_GRAD;
        ag->iparam[0] = loss->iparam[0];
        ag->iparam[1] = 1;
        ag->iparam[2] = loss->iparam[2]; /* the settings (kn__loss_node_params) */
        memcpy(ag->fparam, loss->fparam, sizeof ag->fparam);
        kn__rewire(g, ag, z, y, lg->src[2], lg->src[3]);
        snprintf(ag->fused, sizeof ag->fused, "%s+%s_grad", kn_activation_name(act), kn_loss_name((kn_loss)loss->iparam[0]));
    }
    loss->iparam[1] = 1;
    kn__rewire(g, loss, z, y, loss->src[2], NULL);
    snprintf(loss->fused, sizeof loss->fused, "%s+%s", kn_activation_name(act), kn_loss_name((kn_loss)loss->iparam[0]));
}

/* ------------------------------------------------------------- dense, matmul + act grad */

static void dense_label(kn_tensor *t) {
    kn_activation act = (kn_activation)t->iparam[2];
    snprintf(t->fused, sizeof t->fused, "matmul%s%s%s", t->src[2] ? "+add" : "", act != KN_LINEAR ? "+" : "",
             act != KN_LINEAR ? kn_activation_name(act) : "");
}

static bool is_bias_row(const kn_tensor *t, const kn_tensor *b) {
    return t->ndim == 2 && b->ndim == 1 && b->shape[0] == t->shape[1] && b->dtype == KN_F32;
}

static void fuse_dense(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    if (t->op == KN_OP_ADD && private_to(x, KN_OP_MATMUL) && is_bias_row(t, t->src[1])) {
        t->op = KN_OP_DENSE; /* matmul + bias */
        t->iparam[0] = x->iparam[0];
        t->iparam[1] = x->iparam[1];
        t->iparam[2] = KN_LINEAR;
        kn__rewire(g, t, x->src[0], x->src[1], t->src[1], NULL);
        dense_label(t);
    } else if (t->op == KN_OP_ACT && t->iparam[0] != KN_SOFTMAX && t->ndim == 2 &&
               (private_to(x, KN_OP_MATMUL) || (private_to(x, KN_OP_DENSE) && x->iparam[2] == KN_LINEAR))) {
        t->iparam[2] = t->iparam[0]; /* + activation */
        t->iparam[0] = x->iparam[0];
        t->iparam[1] = x->iparam[1];
        t->op = KN_OP_DENSE;
        kn__rewire(g, t, x->src[0], x->src[1], x->op == KN_OP_DENSE ? x->src[2] : NULL, NULL);
        dense_label(t);
    } else if (t->op == KN_OP_ACT_GRAD && t->iparam[0] != KN_SOFTMAX && t->ndim == 2 && private_to(x, KN_OP_MATMUL)) {
        t->op = KN_OP_MATMUL_ACT_GRAD;
        t->iparam[2] = t->iparam[0];
        t->iparam[0] = x->iparam[0];
        t->iparam[1] = x->iparam[1];
        kn__rewire(g, t, x->src[0], x->src[1], t->src[1], NULL);
        snprintf(t->fused, sizeof t->fused, "matmul+%s_grad", kn_activation_name((kn_activation)t->iparam[2]));
    }
}

/* ------------------------------------------------------------- convolution + bias + act */

/* "pad2d+" when fuse_pad gave the convolution x its padding, else "". */
static const char *padded(const kn_tensor *x) { return strncmp(x->fused, "pad2d+", 6) == 0 ? "pad2d+" : ""; }

static void conv_label(kn_tensor *t, const kn_tensor *x) {
    kn_activation act = (kn_activation)t->iparam[4];
    snprintf(t->fused, sizeof t->fused, "%sconv2d%s%s%s", padded(x), t->src[2] ? "+add" : "", act != KN_LINEAR ? "+" : "",
             act != KN_LINEAR ? kn_activation_name(act) : "");
}

/* Whether activation a never gives a value below 0. */
static bool nonneg_act(int32_t a) {
    return a == KN_RELU || a == KN_RELU6 || a == KN_SIGMOID || a == KN_SOFTMAX || a == KN_SOFTPLUS || a == KN_EXPONENTIAL ||
           a == KN_HARD_SIGMOID;
}

/* Whether x has no value below 0: an activation's output, or a layer's with one fused. */
static bool nonneg(const kn_tensor *x) {
    switch (x->op) {
    case KN_OP_ACT: return nonneg_act(x->iparam[0]);
    case KN_OP_DENSE: return nonneg_act(x->iparam[2]);
    case KN_OP_CONV2D: case KN_OP_DEPTHWISE_CONV2D: return nonneg_act(x->iparam[4]);
    case KN_OP_MAXPOOL2D: case KN_OP_PAD2D: return nonneg(x->src[0]);
    default: return false;
    }
}

/* A zero padding before a convolution (a depthwise one's too) becomes the convolution's own:
 * its window starts `top` rows and `left` columns earlier and reads zeros past the image's
 * edges, as its 'same' padding does, so the padded copy of the image is never made
 * (imported models' explicit pads: ResNet's stem, MobileNet's stride-2 layers). A max pool's
 * window skips the cells past the edges, which is the same over values of no sign (ResNet's
 * pool after a relu) when every window keeps a cell of the image: pads under the window.
 * Inference graphs only: a training graph's backward reads the padded image. */
static void fuse_pad(kn_graph *g, kn_tensor *t) {
    kn_tensor *p = t->src[0];
    bool pool = t->op == KN_OP_MAXPOOL2D;
    if ((t->op != KN_OP_CONV2D && t->op != KN_OP_DEPTHWISE_CONV2D && !pool) || g->has_backward || !p ||
        !private_to(p, KN_OP_PAD2D))
        return;
    for (int k = 0; k < 4; k++)
        if (p->iparam[k] < 0) return; /* (a crop) */
    kn__win w = kn__win_unpack(t);
    if (w.pt + p->iparam[0] > 255 || w.pl + p->iparam[2] > 255) return;
    if (pool) { /* every window keeps a cell of the image: the first starts above its last row, the last below its first */
        const kn_tensor *x = p->src[0];
        int64_t pt = w.pt + p->iparam[0], pl = w.pl + p->iparam[2];
        if (!nonneg(x) || pt > w.kh - 1 || pl > w.kw - 1 || (int64_t)(w.oh - 1) * w.sh - pt > x->shape[1] - 1 ||
            (int64_t)(w.ow - 1) * w.sw - pl > x->shape[2] - 1)
            return;
    }
    w.pt += p->iparam[0], w.pl += p->iparam[2];
    kn__win_pack(t, &w);
    kn__rewire(g, t, p->src[0], t->src[1], t->src[2], t->src[3]);
    snprintf(t->fused, sizeof t->fused, "pad2d+%s", kn__op_info(t->op)->name);
}

/* t takes over the convolution x (its window, kernel and bias) with t's own op on top. */
static void become_conv(kn_graph *g, kn_tensor *t, kn_tensor *x, kn_tensor *bias, int32_t act) {
    t->op = KN_OP_CONV2D;
    for (int i = 0; i < 4; i++) t->iparam[i] = x->iparam[i];
    t->iparam[5] = x->iparam[5]; /* groups */
    t->iparam[4] = act;
    kn__rewire(g, t, x->src[0], x->src[1], bias, NULL);
    conv_label(t, x);
}

/* An activation's gradient applied by the kernel that makes the incoming gradient, image
 * by image while each is in cache: a pooling's or a convolution's input gradient. */
static bool image_grad(const kn_tensor *x) {
    return private_to(x, KN_OP_MAXPOOL2D_GRAD) || private_to(x, KN_OP_AVGPOOL2D_GRAD) ||
           private_to(x, KN_OP_CONV2D_GRAD_INPUT);
}

static void fuse_image_act_grad(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0], *v = t->src[1];
    if (t->iparam[0] == KN_SOFTMAX || !image_grad(x) || x->iparam[4] != KN_LINEAR || x->src[2] ||
        !kn__same_shape(v, x) || v->dtype != KN_F32)
        return;
    int32_t act = t->iparam[0];
    t->op = x->op;
    for (int i = 0; i < 4; i++) t->iparam[i] = x->iparam[i];
    t->iparam[5] = x->iparam[5]; /* groups */
    t->iparam[4] = act; /* alpha stays in fparam[0] */
    kn__rewire(g, t, x->src[0], x->src[1], v, NULL);
    snprintf(t->fused, sizeof t->fused, "%s+%s_grad", kn__op_info(t->op)->name, kn_activation_name((kn_activation)act));
}

/* The bias row and the activation of a convolution go into its GEMM's epilogue. */
static void fuse_conv(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    if (t->op == KN_OP_ACT_GRAD) {
        fuse_image_act_grad(g, t);
        return;
    }
    if (!x || !private_to(x, KN_OP_CONV2D) || x->iparam[4] != KN_LINEAR) return;
    if (t->op == KN_OP_ADD && !x->src[2] && t->ndim == 4 && t->src[1]->ndim == 1 &&
        t->src[1]->shape[0] == t->shape[3] && t->src[1]->dtype == KN_F32) {
        t->fparam[0] = 0;
        become_conv(g, t, x, t->src[1], KN_LINEAR);
    } else if (t->op == KN_OP_ACT && t->iparam[0] != KN_SOFTMAX) {
        become_conv(g, t, x, x->src[2], t->iparam[0]); /* alpha stays in fparam[0] */
    }
}

/* A depthwise convolution's bias row and activation, applied by its kernel to each row of
 * the output as it is finished (cpu/depthwise.c, cuda/kernels_depthwise.cu): its bias and
 * activation as conv2d's (src[2], iparam[4], alpha in fparam[0]). After the fold pass a
 * depthwise layer with a batch norm and an activation after it becomes this one node. */
static void fuse_depthwise(kn_graph *g, kn_tensor *t) {
    kn_tensor *x = t->src[0];
    if (!x || !private_to(x, KN_OP_DEPTHWISE_CONV2D) || x->iparam[4] != KN_LINEAR || t->dtype != KN_F32) return;
    kn_tensor *bias = x->src[2];
    int32_t act = KN_LINEAR;
    if (t->op == KN_OP_ADD && !bias && t->ndim == 4 && t->src[1]->ndim == 1 && t->src[1]->shape[0] == t->shape[3] &&
        t->src[1]->dtype == KN_F32) {
        bias = t->src[1];
        t->fparam[0] = 0;
    } else if (t->op == KN_OP_ACT && t->iparam[0] != KN_SOFTMAX) {
        act = t->iparam[0]; /* alpha stays in fparam[0] */
    } else {
        return;
    }
    t->op = KN_OP_DEPTHWISE_CONV2D;
    for (int i = 0; i < 4; i++) t->iparam[i] = x->iparam[i];
    t->iparam[4] = act;
    kn__rewire(g, t, x->src[0], x->src[1], bias, NULL);
    snprintf(t->fused, sizeof t->fused, "%sdepthwise_conv2d%s%s%s", padded(x), bias ? "+add" : "", act != KN_LINEAR ? "+" : "",
             act != KN_LINEAR ? kn_activation_name((kn_activation)act) : "");
}

/* ------------------------------------------------------------- optimizer */

static void fuse_optimizer(kn_graph *g) {
    kn_tensor *last = NULL;
    int updates = 0, with_grad = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_OPT_UPDATE && !(g->nodes[i]->flags & KN_FLAG_DEAD)) last = g->nodes[i], updates++;
    for (int i = 0; i < g->n_params; i++) with_grad += g->params[i]->grad != NULL;
    if (updates < 2) return;
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->op == KN_OP_OPT_UPDATE && t != last) t->flags |= KN_FLAG_DEAD;
    }
    last->op = KN_OP_OPTIMIZER;
    last->iparam[0] = with_grad < g->n_params; /* some parameters have no gradient: skip them */
    last->src[0] = last->src[1] = last->src[2] = NULL;
    snprintf(last->name, sizeof last->name, "optimizer");
    snprintf(last->fused, sizeof last->fused, "%s(%d parameters)", kn_optimizer_name(g->opt.kind), updates);
    kn__count_uses(g);
    for (int i = 0; i < g->n_nodes; i++) /* the clip factor is computed inside now */
        if (g->nodes[i]->op == KN_OP_GRAD_NORM && g->nodes[i]->n_uses == 0) kn__kill(g, g->nodes[i]);
}

/* ------------------------------------------------------------- elementwise chains */

typedef struct {
    kn_ew_program p;
    kn_tensor *in[KN_MAX_SRC];
    const kn_tensor *out;
    bool full;             /* ran out of inputs or instructions */
} builder;

static int add_input(builder *b, kn_tensor *x) {
    for (int i = 0; i < b->p.n_inputs; i++)
        if (b->in[i] == x) return i;
    if (b->p.n_inputs == KN_EW_MAX_INPUTS) {
        b->full = true;
        return 0;
    }
    b->in[b->p.n_inputs] = x;
    b->p.bcast[b->p.n_inputs] = (uint8_t)kn__bcast(b->out, x);
    return b->p.n_inputs++;
}

static int add_instr(builder *b, kn_ew_instr ins) {
    if (b->p.n_instr == KN_EW_MAX_INSTR) {
        b->full = true;
        return KN_EW_REG0;
    }
    b->p.instr[b->p.n_instr] = ins;
    return KN_EW_REG0 + b->p.n_instr++;
}

static void label_add(builder *b, const char *name) {
    size_t len = strlen(b->p.label);
    snprintf(b->p.label + len, sizeof b->p.label - len, "%s%s", len ? "+" : "", name);
}

/* Appends node x's computation with the given operands; returns its result's operand. */
static int emit_op(builder *b, const kn_tensor *x, int a0, int a1) {
    kn_ew_instr ins = {.a = (int8_t)a0, .b = (int8_t)a1, .act = 0, .f = 0};
    switch (x->op) {
    case KN_OP_ADD: ins.op = KN_EW_ADD; label_add(b, "add"); break;
    case KN_OP_SUB: ins.op = KN_EW_SUB; label_add(b, "sub"); break;
    case KN_OP_MUL: ins.op = KN_EW_MUL; label_add(b, "mul"); break;
    case KN_OP_SCALE: ins.op = KN_EW_SCALE, ins.b = -1, ins.f = x->fparam[0]; label_add(b, "scale"); break;
    case KN_OP_ACT:
        ins.op = KN_EW_ACT, ins.b = -1, ins.act = (int8_t)x->iparam[0], ins.f = x->fparam[0];
        label_add(b, kn_activation_name((kn_activation)x->iparam[0]));
        break;
    case KN_OP_ACT_GRAD: {
        char name[32];
        ins.op = KN_EW_ACT_GRAD, ins.act = (int8_t)x->iparam[0], ins.f = x->fparam[0];
        snprintf(name, sizeof name, "%s_grad", kn_activation_name((kn_activation)x->iparam[0]));
        label_add(b, name);
        break;
    }
    default: ins.op = KN_EW_COPY, ins.b = -1; label_add(b, "copy"); break;
    }
    return add_instr(b, ins);
}

/* Appends an absorbed producer x (a plain op or a program) reading its own sources. */
static int emit_absorbed(builder *b, const kn_tensor *x) {
    if (x->op != KN_OP_ELEMENTWISE) {
        int a0 = x->src[0] ? add_input(b, x->src[0]) : -1, a1 = x->src[1] ? add_input(b, x->src[1]) : -1;
        return emit_op(b, x, a0, a1);
    }
    const kn_ew_program *q = x->aux;
    int map[KN_MAX_SRC], base = b->p.n_instr, r = -1;
    for (int i = 0; i < q->n_inputs; i++) map[i] = add_input(b, x->src[i]);
    for (int i = 0; i < q->n_instr; i++) {
        kn_ew_instr ins = q->instr[i];
        for (int o = 0; o < 2; o++) {
            int8_t *op = o ? &ins.b : &ins.a;
            if (*op < 0) continue;
            *op = (int8_t)(*op >= KN_EW_REG0 ? *op + base : map[*op]);
        }
        r = add_instr(b, ins);
    }
    label_add(b, q->label);
    return r;
}

static bool absorbable(const kn_tensor *t, const kn_tensor *x) {
    return kn__is_elementwise(x) && x->n_uses == 1 && !kn__is_output(x) && !(x->flags & KN_FLAG_FOLDED) &&
           !x->alias && x->dtype == KN_F32 && kn__same_shape(x, t);
}

/* Builds t's program absorbing the sources in mask; false when it does not fit. */
static bool build(const kn_tensor *t, unsigned mask, builder *b) {
    memset(b, 0, sizeof *b);
    b->out = t;
    int operand[2] = {-1, -1};
    for (int s = 0; s < 2; s++) {
        if (!t->src[s]) continue;
        operand[s] = (mask >> s & 1) ? emit_absorbed(b, t->src[s]) : add_input(b, t->src[s]);
    }
    emit_op(b, t, operand[0], operand[1]);
    return !b->full;
}

static kn_status fuse_chain(kn_graph *g, kn_tensor *t) {
    if (!kn__is_elementwise(t) || t->op == KN_OP_ELEMENTWISE || t->op == KN_OP_COPY || (t->flags & KN_FLAG_FOLDED) ||
        t->alias || t->dtype != KN_F32)
        return KN_OK;
    unsigned mask = 0;
    builder b;
    for (int s = 0; s < 2; s++) /* absorb what fits, first source first */
        if (t->src[s] && absorbable(t, t->src[s]) && (s == 0 || t->src[1] != t->src[0]) && build(t, mask | 1u << s, &b))
            mask |= 1u << s;
    if (!mask) return KN_OK;
    build(t, mask, &b);
    kn_ew_program *p = kn__alloc(g->ctx, sizeof *p);
    if (!p) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "fuse: out of memory");
    *p = b.p;
    t->op = KN_OP_ELEMENTWISE;
    t->aux = p;
    kn__rewire(g, t, b.in[0], b.in[1], b.in[2], b.in[3]);
    snprintf(t->fused, sizeof t->fused, "%.63s", p->label);
    return KN_OK;
}

kn_status kn__pass_fuse(kn_graph *g) {
    kn__count_uses(g);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KN_OP_LOSS && !(g->nodes[i]->flags & KN_FLAG_DEAD)) fuse_loss(g, g->nodes[i]);
    for (int i = 0; i < g->n_nodes; i++)
        if (!(g->nodes[i]->flags & (KN_FLAG_DEAD | KN_FLAG_FOLDED))) {
            fuse_pad(g, g->nodes[i]);
            fuse_dense(g, g->nodes[i]);
            fuse_conv(g, g->nodes[i]);
            fuse_depthwise(g, g->nodes[i]);
        }
    fuse_optimizer(g);
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i]->flags & KN_FLAG_DEAD) continue;
        kn_status st = fuse_chain(g, g->nodes[i]);
        if (st) return st;
    }
    return KN_OK;
}
