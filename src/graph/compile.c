/* compile.c — makes a built graph runnable: lays out the flat parameter, gradient and
 * optimizer-state buffers, gives every other tensor its place in one arena sized for the
 * largest batch (the planner, plan.c), initializes parameters, and runs the nodes in order.
 * After compile, kn_graph_run allocates nothing. */
#include "graph.h"
#include "core/half.h"
#include "passes/passes.h"
#include "backend/backend.h"

#include <math.h>
#include <string.h>
#include <xmmintrin.h>

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

kn_status kn_graph_keep(kn_graph *g, kn_tensor *t) {
    if (!g || !t) return KN_ERR_INVALID_ARGUMENT;
    t->flags |= KN_FLAG_KEEP;
    return KN_OK;
}

static int state_slots(const kn_optimizer *o) {
    switch (o->kind) {
    case KN_OPT_SGD: return o->momentum > 0 ? 1 : 0;
    case KN_OPT_ADAM: case KN_OPT_ADAMW: return o->amsgrad ? 3 : 2; /* (AMSGrad's largest second moments third) */
    case KN_OPT_ADAMAX: case KN_OPT_ADADELTA: case KN_OPT_NADAM: case KN_OPT_RADAM:
    case KN_OPT_FTRL: /* (its accumulator, then its linear term) */
        return 2;
    case KN_OPT_LION: return 1;
    case KN_OPT_RMSPROP: return o->momentum > 0 ? 2 : 1;
    case KN_OPT_ADAGRAD: return 1;
    default: return 0;
    }
}

/* Resolves every node's shape for a batch size. */
static void resolve(kn_graph *g, int64_t batch) {
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        for (int d = 0; d < t->ndim; d++) t->ne[d] = t->shape[d] == KN_BATCH ? batch : t->shape[d];
        if (t->ndim > 0 && t->shape[0] == KN_BATCH) t->ne[0] = batch * kn__batch_rows(t);
    }
    g->batch = batch;
}

kn_status kn_graph_compile(kn_graph *g, int64_t max_batch, bool init_params) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (g->status != KN_OK) return g->status;
    kn_ctx *ctx = g->ctx;
    if (g->compiled) return kn__error(ctx, KN_ERR_STATE, "compile: graph already compiled");
    if (max_batch < 1 || max_batch > (1LL << 31))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "compile: max batch %lld out of range [1, 2^31]",
                         (long long)max_batch);
    g->max_batch = max_batch;
    resolve(g, max_batch);

    /* The optimizer's passes (graph/passes/), measured against the graph as built: every
     * tensor, and every kernel's scratch, in its own block. */
    g->nodes_before = g->n_nodes;
    g->naive_bytes = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        const kn_op_info *info = kn__op_info(t->op);
        if (kn__planned(t)) g->naive_bytes += round_up(kn__nbytes(t) ? kn__nbytes(t) : 1, KN_ALIGN);
        if (info->cpu_scratch) g->naive_bytes += round_up(info->cpu_scratch(g, t), KN_ALIGN);
    }
    kn_status pass_st = kn__run_passes(g);
    if (!pass_st) pass_st = kn__pass_precision(g); /* mixed precision: half activations */
    if (pass_st) return pass_st;
    if (g->status != KN_OK) return g->status;
    resolve(g, max_batch); /* nodes the passes made */

    /* Flat parameter and gradient buffers share one layout; each tensor 64-byte aligned. */
    size_t floats = 0;
    for (int i = 0; i < g->n_params; i++) {
        kn_tensor *p = g->params[i];
        p->param_offset = floats;
        floats += round_up((size_t)kn__numel(p), KN_ALIGN / sizeof(float));
    }
    g->param_floats = floats;
    int slots = g->has_optimizer ? state_slots(&g->opt) : 0;
    g->state_floats = floats * (size_t)slots;
    if (g->shared_params && (g->has_backward || init_params))
        return kn__error(ctx, KN_ERR_STATE, "compile: shared (read-only) parameters allow no training or init");
    /* A forward-only graph may read its parameters from a buffer it does not own (a loaded,
     * memory-mapped model shared by several sessions); it never writes them. */
    g->param_buf = g->shared_params ? (float *)g->shared_params : kn__calloc(ctx, floats ? floats : 1, sizeof(float));
    g->grad_buf = g->has_backward ? kn__calloc(ctx, floats + KN_GRAD_SLACK, sizeof(float)) : NULL;
    g->state_buf = g->state_floats ? kn__calloc(ctx, g->state_floats, sizeof(float)) : NULL;
    if (!g->param_buf || (g->has_backward && !g->grad_buf) || (g->state_floats && !g->state_buf))
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "compile: out of memory for %zu parameters", floats);
    if ((g->opt.kind == KN_OPT_ADAGRAD || g->opt.kind == KN_OPT_FTRL) && g->has_optimizer && g->state_buf)
        for (size_t i = 0; i < g->param_floats; i++) g->state_buf[i] = g->opt.initial_accumulator; /* (slot 0) */
    for (int i = 0; i < g->n_params; i++) {
        kn_tensor *p = g->params[i];
        p->data = g->param_buf + p->param_offset;
        if (p->grad) p->grad->data = g->grad_buf + p->param_offset;
    }
    if (g->param_half_dtype == KN_F16 || g->param_half_dtype == KN_BF16) { /* an inference graph's half weights */
        if (g->has_backward)
            return kn__error(ctx, KN_ERR_STATE, "compile: half-precision weights are for inference graphs");
        if (!(g->param_half = kn__alloc(ctx, (floats ? floats : 1) * sizeof(uint16_t))))
            return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "compile: out of memory for the half weights");
        if (g->param_half_dtype == KN_BF16) kn__f32_to_bf16(g->param_buf, g->param_half, floats);
        else kn__f32_to_f16(g->param_buf, g->param_half, floats);
    }

    /* Every other tensor: an offset in one arena, planned from liveness (plan.c). */
    size_t bytes = 0, planned_naive = 0;
    kn_status pst = kn__plan_memory(g, &bytes, &planned_naive);
    if (pst) return pst;
    g->arena_bytes = bytes;
    g->arena = kn__alloc(ctx, bytes ? bytes : 1); /* not zeroed: every node writes its output before any read */
    if (!g->arena) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "compile: out of memory for a %zu-byte arena", bytes);
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        t->scratch = t->scratch_bytes ? g->arena + t->scratch_offset : NULL;
        if (t->alias) { /* views and in-place outputs: their root's memory (an earlier node) */
            t->data = kn__alias_root(t)->data;
            continue;
        }
        if (!kn__planned(t)) continue;
        t->data = g->arena + t->arena_offset;
        if (t->op == KN_OP_CONST) {
            float *d = t->data;
            for (int64_t k = 0; k < kn__numel(t); k++) d[k] = t->fparam[0];
        }
    }
    if (init_params)
        for (int i = 0; i < g->n_params; i++) {
            kn_status ist = kn__init_param(g, g->params[i], i); /* init.c */
            if (ist) return ist;
        }
    /* folded values are computed before the first run, from the parameters then set */
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->flags & KN_FLAG_FOLDED) g->fold_stale = true;
    kn_status qst = kn__q8_graph_alloc(g); /* int8 products' weights, packed before the first run */
    if (qst) return qst;
    if (ctx->profile) g->prof_seconds = kn__calloc(ctx, (size_t)g->n_nodes + 1, sizeof(double));
    kn_status bst = kn__backend_compile(g); /* the device's copy of the buffers (backend/) */
    if (bst) return bst;
    g->compiled = true;
    return KN_OK;
}

kn_status kn_graph_set_batch(kn_graph *g, int64_t batch) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (!g->compiled) return kn__error(g->ctx, KN_ERR_STATE, "set_batch: compile the graph first");
    if (batch < 1 || batch > g->max_batch)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "set_batch: batch %lld outside [1, %lld]",
                         (long long)batch, (long long)g->max_batch);
    if (batch != g->batch) resolve(g, batch);
    return KN_OK;
}

kn_status kn__graph_run_phases(kn_graph *g, unsigned mask) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (!g->compiled) return kn__error(g->ctx, KN_ERR_STATE, "run: compile the graph first");
    /* Flush denormals to zero while kiln computes (restored after): Adam's second moments
     * of inactive units decay into the denormal range, where every operation on them costs
     * ~100 cycles. The caller's floating-point mode is left as it was. */
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ | DAZ */
    if (g->fold_stale) {
        kn__graph_refold_now(g);
        g->refolded = true;
        g->q8_stale = g->quant == KN_QUANT_INT8; /* (folded weights may have changed) */
    }
    if (g->q8_stale) kn__q8_graph_pack(g);
    /* Training (only a graph with a backward pass trains, so an inference graph's dropout
     * is the identity, which simplify removes): dropout draws its masks, keyed by the step
     * the forward ran at (before this run's update) and its place in a gradient
     * accumulation, which the backward run of the same batch reads again. */
    g->training = g->has_backward && (mask & (KN_RUN_TRAINING | KN_PHASE_BACKWARD));
    if (mask & KN_PHASE_FORWARD) {
        g->rng_step = g->step;
        g->rng_micro = g->rng_micro_next;
        g->rng_micro_next = 0;
    }
    if ((mask & KN_PHASE_UPDATE) && g->has_optimizer) g->step++; /* the step the update takes */
    if (g->loss_seed && g->loss_seed->data) *(float *)g->loss_seed->data = g->loss_scale;
    if (g->prof_seconds) g->prof_runs++;
    kn_status st = g->backend.iface->run(g, mask);
    _mm_setcsr(csr);
    return st;
}

kn_status kn_graph_run(kn_graph *g) { return kn__graph_run_phases(g, KN_PHASE_ALL); }

/* The CPU backend's run: each node's kernel from the op table, in order. */
kn_status kn__cpu_run(kn_graph *g, unsigned mask) {
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (!(t->phase & mask) || (t->flags & KN_FLAG_FOLDED)) continue;
        const kn_op_info *info = kn__op_info(t->op);
        if (!info->cpu) continue;
        if (!g->prof_seconds) {
            info->cpu(g, t);
            continue;
        }
        double t0 = kn__now();
        info->cpu(g, t);
        g->prof_seconds[i] += kn__now() - t0;
    }
    g->refolded = false;
    return KN_OK;
}
