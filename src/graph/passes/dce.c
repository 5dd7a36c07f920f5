/* dce.c — dead-code elimination: removes every node that no output depends on. Outputs are
 * the tensors the caller keeps, parameter gradients, optimizer updates, inputs and
 * parameters (kn__is_output); everything else lives only if a live node reads it. */
#include "passes.h"

kn_status kn__pass_dce(kn_graph *g) {
    kn_ctx *ctx = g->ctx;
    bool *live = kn__calloc(ctx, (size_t)(g->n_nodes > 0 ? g->n_nodes : 1), sizeof *live);
    if (!live) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "dce: out of memory");
    /* reverse order is reverse topological: a node's readers are decided before it */
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        kn_tensor *t = g->nodes[i];
        if (t->flags & KN_FLAG_DEAD) continue;
        if (kn__is_output(t)) live[i] = true;
        if (!live[i]) continue;
        for (int s = 0; s < KN_MAX_SRC; s++)
            if (t->src[s]) live[t->src[s]->id] = true;
        if (t->alias) live[t->alias->id] = true;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (!live[i]) g->nodes[i]->flags |= KN_FLAG_DEAD;
    kn__free(ctx, live);
    kn__count_uses(g);
    return KN_OK;
}
