/* cse.c — common-subexpression elimination: two nodes with the same op, sources and
 * parameters compute the same value, so readers of the later one read the earlier one.
 * Leaves other than constants (inputs, parameters) are distinct by definition; optimizer
 * updates have effects; outputs the caller holds are never replaced. The earlier node must
 * run in every mode the later one runs in (a LOSS-phase value is not there at prediction). */
#include "passes.h"

#include <string.h>

static bool same_value(const kn_tensor *a, const kn_tensor *b) {
    if (a->op != b->op || a->dtype != b->dtype || a->ndim != b->ndim) return false;
    if (kn__batch_rows(a) != kn__batch_rows(b)) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    for (int s = 0; s < KN_MAX_SRC; s++)
        if (a->src[s] != b->src[s]) return false;
    if (memcmp(a->iparam, b->iparam, sizeof a->iparam) || memcmp(a->fparam, b->fparam, sizeof a->fparam))
        return false;
    if (a->alias != b->alias) return false;
    return !a->aux && !b->aux;
}

static bool candidate(const kn_tensor *t) {
    switch (t->op) {
    case KN_OP_INPUT: case KN_OP_PARAM: case KN_OP_OPTIMIZER: case KN_OP_OPT_UPDATE: case KN_OP_GRAD_NORM:
    case KN_OP_DROPOUT: /* random: two dropouts of one tensor draw different masks (keys) */
    case KN_OP_NOISE:   /* likewise: two noises of one tensor draw different values */
    case KN_OP_RANDOM_AFFINE: /* likewise: two augmentations of one tensor draw different transforms */
    case KN_OP_RANDOM_COLOR:
    case KN_OP_BATCH_NORM: /* training updates its moving statistics: an effect */
        return false;
    default:
        return !(t->flags & (KN_FLAG_DEAD | KN_FLAG_EXTERNAL));
    }
}

/* A hash of what same_value compares, so only likely matches are compared. */
static uint64_t key(const kn_tensor *t) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)t->op;
    for (int s = 0; s < KN_MAX_SRC; s++) h = (h ^ (uint64_t)(uintptr_t)t->src[s]) * 1099511628211ull;
    for (int i = 0; i < 4; i++) {
        uint32_t f;
        memcpy(&f, &t->fparam[i], sizeof f);
        h = (h ^ (uint64_t)(uint32_t)t->iparam[i] ^ ((uint64_t)f << 32)) * 1099511628211ull;
    }
    return h;
}

kn_status kn__pass_cse(kn_graph *g) {
    kn_ctx *ctx = g->ctx;
    int n = g->n_nodes, cap = 1;
    while (cap < 2 * n) cap *= 2;
    kn_tensor **table = kn__calloc(ctx, (size_t)cap, sizeof *table);
    if (!table) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "cse: out of memory");
    kn__count_uses(g);
    /* In order: a node's sources are already merged when it is looked up, so chains of
     * duplicates collapse in one sweep. Open addressing; equal keys probe on. */
    for (int i = 0; i < n; i++) {
        kn_tensor *t = g->nodes[i];
        if (!candidate(t)) continue;
        uint64_t h = key(t);
        size_t slot = (size_t)h & (size_t)(cap - 1);
        bool merged = false;
        for (; table[slot]; slot = (slot + 1) & (size_t)(cap - 1)) {
            kn_tensor *e = table[slot];
            if (key(e) != h || !same_value(e, t)) continue;
            if (kn__is_output(t) || !kn__phase_covers(e->phase, t->phase)) continue;
            kn__replace_uses(g, t, e);
            kn__kill(g, t);
            merged = true;
            break;
        }
        if (!merged && !table[slot]) table[slot] = t;
    }
    kn__free(ctx, table);
    return KN_OK;
}
