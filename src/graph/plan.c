/* plan.c — the memory planner: every tensor that is not a parameter or a gradient gets an
 * offset in one 64-byte-aligned arena, from liveness over the node order. A tensor lives
 * from the node that writes it to its last reader (inputs and constants for the whole run,
 * tensors the caller reads after a run to the end); its block is freed after
 * its last reader and reused best-fit, adjacent free blocks merged. A run of a subset of
 * the nodes (a phase) only shortens lifetimes, so the plan holds for every phase. Sizes
 * are for the largest batch; a smaller batch uses a prefix of each block. A node whose
 * kernel needs working memory (kn_op_info.cpu_scratch) gets a block live for its own step. */
#include "graph.h"

#include <string.h>

typedef struct { size_t offset, size; } block;

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

bool kn__planned(const kn_tensor *t) {
    return !(t->flags & KN_FLAG_EXTERNAL) && !t->alias && t->op != KN_OP_OPTIMIZER && t->op != KN_OP_OPT_UPDATE;
}

void kn__liveness(const kn_graph *g, int *first, int *last) {
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        /* the caller writes inputs before runs and may run again without rewriting them;
         * folded values are computed once for many runs */
        bool leaf = t->op == KN_OP_INPUT || t->op == KN_OP_CONST || (t->flags & KN_FLAG_FOLDED);
        first[i] = leaf ? 0 : i;
        last[i] = leaf || (t->flags & KN_FLAG_KEEP) ? g->n_nodes - 1 : i;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int s = 0; s < KN_MAX_SRC; s++) {
            const kn_tensor *src = g->nodes[i]->src[s];
            if (src && last[src->id] < i) last[src->id] = i;
        }
    /* a view or an in-place output shares its root's block: the root lives while any does */
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (!t->alias) continue;
        kn_tensor *r = kn__alias_root(t);
        if (last[r->id] < last[i]) last[r->id] = last[i];
    }
}

/* Returns a block to the free list, merged with its neighbours; the arena's top comes down
 * when the block was the last one. */
static void release(block *list, int *n, size_t *top, size_t offset, size_t size) {
    for (int b = 0; b < *n; b++) { /* merge with a block just before or just after */
        if (list[b].offset + list[b].size == offset) {
            offset = list[b].offset;
            size += list[b].size;
            list[b--] = list[--*n];
        } else if (offset + size == list[b].offset) {
            size += list[b].size;
            list[b--] = list[--*n];
        }
    }
    if (offset + size == *top) *top = offset;
    else list[(*n)++] = (block){offset, size};
}

static size_t place(block *list, int *n, size_t *top, size_t size) {
    int best = -1;
    for (int b = 0; b < *n; b++)
        if (list[b].size >= size && (best < 0 || list[b].size < list[best].size)) best = b;
    if (best < 0) {
        size_t at = *top;
        *top += size;
        return at;
    }
    size_t at = list[best].offset;
    list[best].offset += size;
    list[best].size -= size;
    if (list[best].size == 0) list[best] = list[--*n];
    return at;
}

kn_status kn__plan_memory(kn_graph *g, size_t *arena_bytes, size_t *naive_bytes) {
    kn_ctx *ctx = g->ctx;
    int n = g->n_nodes;
    size_t cells = (size_t)(n > 0 ? n : 1);
    int *first = kn__alloc(ctx, cells * sizeof(int)), *last = kn__alloc(ctx, cells * sizeof(int));
    int *by_last = kn__alloc(ctx, cells * sizeof(int)), *start = kn__calloc(ctx, cells + 1, sizeof(int));
    block *list = kn__alloc(ctx, (cells + 1) * sizeof(block));
    kn_status st = KN_OK;
    if (!first || !last || !by_last || !start || !list) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "plan: out of memory");
        goto done;
    }
    kn__liveness(g, first, last);
    /* tensors grouped by the step that frees them (a counting sort) */
    for (int j = 0; j < n; j++) start[last[j] + 1]++;
    for (int i = 0; i < n; i++) start[i + 1] += start[i];
    for (int j = 0; j < n; j++) by_last[start[last[j]]++] = j;
    for (int i = n; i > 0; i--) start[i] = start[i - 1];
    start[0] = 0;
    int n_free = 0;
    size_t top = 0, peak = 0, naive = 0;
    for (int i = 0; i < n; i++) {
        /* place what becomes live here (at step 0: every input and constant too) */
        for (int j = i == 0 ? 0 : i; j < (i == 0 ? n : i + 1); j++) {
            kn_tensor *t = g->nodes[j];
            if (!kn__planned(t) || first[j] != i) continue;
            size_t size = round_up(kn__nbytes(t) ? kn__nbytes(t) : 1, KN_ALIGN);
            if (size > ((size_t)1 << 46)) {
                st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "plan: tensor '%s' needs %zu bytes", t->name, size);
                goto done;
            }
            naive += size;
            t->arena_offset = place(list, &n_free, &top, size);
            if (top > peak) peak = top;
        }
        /* the node's scratch: beside its inputs and its output, for this step alone */
        kn_tensor *node = g->nodes[i];
        const kn_op_info *info = kn__op_info(node->op);
        node->scratch_bytes = info->cpu_scratch ? info->cpu_scratch(g, node) : 0;
        if (node->scratch_bytes) {
            size_t size = round_up(node->scratch_bytes, KN_ALIGN);
            naive += size;
            node->scratch_offset = place(list, &n_free, &top, size);
            if (top > peak) peak = top;
            release(list, &n_free, &top, node->scratch_offset, size);
        }
        /* then release what is read for the last time here: never before placing, so an
         * output never shares memory with its own input */
        for (int k = start[i]; k < start[i + 1]; k++) {
            kn_tensor *t = g->nodes[by_last[k]];
            if (!kn__planned(t)) continue;
            release(list, &n_free, &top, t->arena_offset, round_up(kn__nbytes(t) ? kn__nbytes(t) : 1, KN_ALIGN));
        }
    }
    *arena_bytes = peak;
    *naive_bytes = naive;
done:
    kn__free(ctx, first);
    kn__free(ctx, last);
    kn__free(ctx, by_last);
    kn__free(ctx, start);
    kn__free(ctx, list);
    return st;
}
