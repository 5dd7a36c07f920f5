/* passes.c — runs the optimizer's passes in order and holds what they share: use counts,
 * rewiring, removal, insertion, and the --passes syntax. */
#include "passes.h"

#include <string.h>

static const struct {
    unsigned bit;
    const char *name;
    kn_status (*run)(kn_graph *g);
} passes[KN_PASS_COUNT] = {
    {KN_PASS_DCE, "dce", kn__pass_dce},
    {KN_PASS_FOLD, "fold", kn__pass_fold},
    {KN_PASS_CSE, "cse", kn__pass_cse},
    {KN_PASS_SIMPLIFY, "simplify", kn__pass_simplify},
    {KN_PASS_FUSE, "fuse", kn__pass_fuse},
    {KN_PASS_INPLACE, "inplace", kn__pass_inplace},
};

const char *kn_pass_name(unsigned pass) {
    for (int i = 0; i < KN_PASS_COUNT; i++)
        if (passes[i].bit == pass) return passes[i].name;
    return NULL;
}

kn_status kn__run_passes(kn_graph *g) {
    g->n_pass_runs = 0;
    for (int i = 0; i < KN_PASS_COUNT; i++) {
        if (!(g->passes & passes[i].bit)) continue;
        kn_status st = passes[i].run(g);
        if (st) return st;
        if (!kn__sweep(g)) return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "graph optimizer: out of memory");
        g->pass_runs[g->n_pass_runs].pass = passes[i].bit;
        g->pass_runs[g->n_pass_runs++].nodes_after = g->n_nodes;
    }
    return KN_OK;
}

kn_status kn_passes_parse(kn_ctx *ctx, const char *text, unsigned *out) {
    if (!text || !out) return KN_ERR_INVALID_ARGUMENT;
    if (strcmp(text, "all") == 0) return *out = KN_PASS_ALL, KN_OK;
    if (strcmp(text, "none") == 0) return *out = KN_PASS_NONE, KN_OK;
    unsigned on = 0, off = 0;
    const char *p = text;
    while (*p) {
        bool exclude = *p == '-';
        if (exclude) p++;
        size_t len = strcspn(p, ",");
        unsigned bit = 0;
        for (int i = 0; i < KN_PASS_COUNT; i++)
            if (strlen(passes[i].name) == len && strncmp(p, passes[i].name, len) == 0) bit = passes[i].bit;
        if (!bit)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                             "passes: unknown pass '%.*s' (expected all, none, or a list of dce, fold, cse, "
                             "simplify, fuse, inplace, each optionally prefixed with - to exclude it)",
                             (int)len, p);
        if (exclude) off |= bit;
        else on |= bit;
        p += len;
        if (*p == ',') p++;
    }
    if (on && off)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "passes: '%s' mixes passes to run and passes to exclude", text);
    if (!on && !off) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "passes: empty list");
    *out = on ? on : KN_PASS_ALL & ~off;
    return KN_OK;
}

kn_status kn_graph_set_passes(kn_graph *g, unsigned p) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (g->compiled) return kn__error(g->ctx, KN_ERR_STATE, "set_passes: the graph is already compiled");
    if (p & ~KN_PASS_ALL) return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "set_passes: unknown pass bits 0x%x", p);
    g->passes = p;
    return KN_OK;
}

kn_status kn_graph_freeze_params(kn_graph *g) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    if (g->compiled) return kn__error(g->ctx, KN_ERR_STATE, "freeze_params: the graph is already compiled");
    if (g->has_backward) return kn__error(g->ctx, KN_ERR_STATE, "freeze_params: a training graph's parameters change");
    g->frozen_params = true;
    return KN_OK;
}

kn_status kn_graph_refold(kn_graph *g) {
    if (!g) return KN_ERR_INVALID_ARGUMENT;
    g->fold_stale = true;
    return KN_OK;
}

/* ------------------------------------------------------------- helpers */

bool kn__phase_covers(uint8_t writer, uint8_t reader) {
    static const unsigned modes[] = KN_PHASE_MODES;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if ((modes[i] & reader) && !(modes[i] & writer)) return false;
    return true;
}

kn_tensor *kn__alias_root(kn_tensor *t) {
    while (t->alias) t = t->alias;
    return t;
}

bool kn__is_output(const kn_tensor *t) {
    return (t->flags & (KN_FLAG_KEEP | KN_FLAG_PARAM_GRAD | KN_FLAG_EXTERNAL)) || t->op == KN_OP_INPUT ||
           t->op == KN_OP_PARAM || t->op == KN_OP_OPTIMIZER || t->op == KN_OP_OPT_UPDATE;
}

void kn__count_uses(kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i]->n_uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        if (t->flags & KN_FLAG_DEAD) continue;
        for (int s = 0; s < KN_MAX_SRC; s++)
            if (t->src[s]) t->src[s]->n_uses++;
    }
}

void kn__replace_uses(kn_graph *g, kn_tensor *old, kn_tensor *repl) {
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (t->flags & KN_FLAG_DEAD) continue;
        for (int s = 0; s < KN_MAX_SRC; s++)
            if (t->src[s] == old) {
                t->src[s] = repl;
                old->n_uses--;
                repl->n_uses++;
            }
        if (t->alias == old) t->alias = repl;
    }
}

void kn__kill(kn_graph *g, kn_tensor *t) {
    if ((t->flags & KN_FLAG_DEAD) || kn__is_output(t)) return;
    t->flags |= KN_FLAG_DEAD;
    for (int s = 0; s < KN_MAX_SRC; s++) {
        kn_tensor *src = t->src[s];
        if (src && --src->n_uses == 0) kn__kill(g, src);
    }
}

void kn__rewire(kn_graph *g, kn_tensor *t, kn_tensor *a, kn_tensor *b, kn_tensor *c, kn_tensor *d) {
    kn_tensor *old[KN_MAX_SRC], *src[KN_MAX_SRC] = {a, b, c, d};
    for (int s = 0; s < KN_MAX_SRC; s++) { /* count the new readers first: nothing still read dies */
        old[s] = t->src[s];
        t->src[s] = src[s];
        if (src[s]) src[s]->n_uses++;
    }
    for (int s = 0; s < KN_MAX_SRC; s++)
        if (old[s] && --old[s]->n_uses == 0) kn__kill(g, old[s]);
}

bool kn__sweep(kn_graph *g) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (!(t->flags & KN_FLAG_DEAD)) {
            t->id = n;
            g->nodes[n++] = t;
            continue;
        }
        if (g->n_dead == g->cap_dead) {
            int cap = g->cap_dead ? 2 * g->cap_dead : 64;
            kn_tensor **d = kn__alloc(g->ctx, (size_t)cap * sizeof *d);
            if (!d) return false;
            if (g->n_dead) memcpy(d, g->dead, (size_t)g->n_dead * sizeof *d);
            kn__free(g->ctx, g->dead);
            g->dead = d;
            g->cap_dead = cap;
        }
        g->dead[g->n_dead++] = t;
    }
    g->n_nodes = n;
    return true;
}

void kn__move_before(kn_graph *g, kn_tensor *t, kn_tensor *before) {
    int from = t->id, to = before->id;
    if (from <= to) return;
    memmove(&g->nodes[to + 1], &g->nodes[to], (size_t)(from - to) * sizeof *g->nodes);
    g->nodes[to] = t;
    for (int i = to; i <= from; i++) g->nodes[i]->id = i;
}

bool kn__is_const_value(const kn_tensor *t, float v) { return t->op == KN_OP_CONST && t->fparam[0] == v; }

bool kn__is_elementwise(const kn_tensor *t) {
    switch (t->op) {
    case KN_OP_ADD: case KN_OP_SUB: case KN_OP_MUL: case KN_OP_SCALE: case KN_OP_COPY: case KN_OP_ELEMENTWISE:
        return true;
    case KN_OP_ACT: case KN_OP_ACT_GRAD:
        return t->iparam[0] != KN_SOFTMAX;
    default:
        return false;
    }
}
