/* autodiff.c — reverse-mode differentiation as graph construction: walks the graph
 * backwards from the loss and appends gradient nodes (as ggml does), so the backward pass
 * is planned, optimized and run like the forward pass. */
#include "graph.h"

#include <string.h>

void kn__grad_accumulate(kn_graph *g, kn_tensor *src, kn_tensor *dx) {
    if (!dx || g->status != KN_OK) return;
    if (!(src->flags & KN_FLAG_NEEDS_GRAD)) return;
    src->grad = src->grad ? kn_add(g, src->grad, dx) : dx;
}

kn_status kn_graph_backward(kn_graph *g, kn_tensor *loss) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (g->status != KN_OK) return g->status;
    if (!loss) return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "backward: loss is NULL");
    if (loss->ndim != 0)
        return kn__error(g->ctx, KN_ERR_SHAPE, "backward: '%s' is not a scalar", loss->name);
    if (g->has_backward) return kn__error(g->ctx, KN_ERR_STATE, "backward: already built");
    if (!(loss->flags & KN_FLAG_NEEDS_GRAD))
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "backward: '%s' depends on no parameter", loss->name);

    int n_forward = loss->id + 1;
    uint8_t saved_phase = g->build_phase;
    g->build_phase = KN_PHASE_BACKWARD;
    /* d loss / d loss: 1, a constant the passes may simplify away; under fp16's dynamic loss
     * scaling the scale instead, an input every backward run sets from g->loss_scale, so
     * every gradient (the loss's and a regularizer's alike) comes out scaled */
    if (g->precision == KN_PRECISION_FP16) {
        loss->grad = g->loss_seed = kn_input(g, KN_F32, NULL, 0, "loss_scale");
    } else {
        loss->grad = kn__const_scalar(g, 1.0f);
    }
    /* Reverse graph order is a reverse topological order: nodes only point to earlier ones. */
    for (int i = n_forward - 1; i >= 0 && g->status == KN_OK; i--) {
        kn_tensor *t = g->nodes[i];
        if (!t->grad || !(t->flags & KN_FLAG_NEEDS_GRAD)) continue;
        const kn_op_info *info = kn__op_info(t->op);
        if (!info->backward) continue; /* leaves */
        info->backward(g, t, t->grad);
    }
    if (g->status != KN_OK) return g->status;

    /* Each parameter's gradient must be a node of its own, so it can live in the flat
     * gradient buffer: copy when it is a leaf or already another parameter's. */
    for (int i = 0; i < g->n_params; i++) {
        kn_tensor *p = g->params[i];
        kn_tensor *d = p->grad;
        if (!d) continue;
        if (d->op == KN_OP_INPUT || d->op == KN_OP_PARAM || d->op == KN_OP_CONST || d->alias ||
            (d->flags & KN_FLAG_PARAM_GRAD))
            d = p->grad = kn__copy(g, d);
        if (!d) break;
        d->flags |= KN_FLAG_PARAM_GRAD | KN_FLAG_EXTERNAL | KN_FLAG_KEEP;
        snprintf(d->name, sizeof d->name, "grad:%.40s", p->name);
    }
    g->build_phase = saved_phase;
    g->has_backward = g->status == KN_OK;
    return g->status;
}

kn_status kn_graph_add_optimizer(kn_graph *g, const kn_optimizer *opt) {
    if (!g || !opt) return KN_ERR_INVALID_ARGUMENT;
    if (g->status != KN_OK) return g->status;
    if (!g->has_backward) return kn__error(g->ctx, KN_ERR_STATE, "optimizer: call kn_graph_backward first");
    if (g->has_optimizer) return kn__error(g->ctx, KN_ERR_STATE, "optimizer: already added");
    if ((unsigned)opt->kind >= KN_OPT_COUNT)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "optimizer: unknown kind %d", (int)opt->kind);
    if (!(opt->learning_rate > 0) || !(opt->epsilon >= 0) || opt->momentum < 0 || opt->momentum >= 1 ||
        opt->beta_1 < 0 || opt->beta_1 >= 1 || opt->beta_2 < 0 || opt->beta_2 >= 1 || opt->rho < 0 ||
        opt->rho >= 1 || opt->weight_decay < 0 || opt->clip_norm < 0 || !(opt->clip_value >= 0) ||
        !(opt->momentum_decay >= 0 && opt->momentum_decay <= 1e3f))
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT,
                         "optimizer %s: a hyperparameter is out of range (learning_rate %g must be > 0; "
                         "momentum, beta_1, beta_2, rho in [0, 1); epsilon, weight_decay, clip_norm, clip_value >= 0; "
                         "momentum_decay in [0, 1000])",
                         kn_optimizer_name(opt->kind), (double)opt->learning_rate);
    uint8_t saved_phase = g->build_phase;
    g->build_phase = KN_PHASE_UPDATE;
    /* One update per parameter, reading the clip factor when clipping by global norm; the
     * fuse pass makes them one pass over the flat buffers. */
    kn_tensor *norm = NULL;
    if (opt->clip_norm > 0) {
        norm = kn__node(g, KN_OP_GRAD_NORM, NULL, NULL, NULL);
        if (norm) norm->ndim = 0;
    }
    for (int i = 0; i < g->n_params && g->status == KN_OK; i++) {
        kn_tensor *p = g->params[i];
        if (!p->grad) continue;
        kn_tensor *t = kn__node(g, KN_OP_OPT_UPDATE, p, p->grad, norm);
        if (!t) break;
        t->ndim = 0;
        snprintf(t->name, sizeof t->name, "update:%.40s", p->name);
    }
    g->build_phase = saved_phase;
    if (g->status != KN_OK) return g->status;
    g->opt = *opt;
    g->has_optimizer = true;
    return KN_OK;
}
