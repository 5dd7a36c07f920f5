/* test_plan.c — the memory planner on random graphs (forward, backward and update, under
 * random sets of the optimizer's passes): no two tensors alive at the same time share a byte
 * of the arena (a view or in-place output lives in its root's block, whose life covers it), and the planned peak never
 * exceeds the naive sum; a node's scratch overlaps nothing live at its step; the reference
 * MLP's training step is reported. */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 99;
static int pick(int n) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int)((rng >> 33) % (uint64_t)n);
}

static size_t rounded(const kn_tensor *t) { return (kn__nbytes(t) + KN_ALIGN - 1) / KN_ALIGN * KN_ALIGN; }

/* Checks the plan of a compiled graph; returns the number of overlapping pairs. */
static int check(const kn_graph *g) {
    int n = g->n_nodes, bad = 0;
    int *first = malloc(sizeof(int) * (size_t)n), *last = malloc(sizeof(int) * (size_t)n);
    kn__liveness(g, first, last);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const kn_tensor *a = g->nodes[i], *b = g->nodes[j];
            if (!kn__planned(a) || !kn__planned(b)) continue;
            bool live_together = first[i] <= last[j] && first[j] <= last[i];
            bool share = a->arena_offset < b->arena_offset + rounded(b) && b->arena_offset < a->arena_offset + rounded(a);
            if (live_together && share && bad++ < 3)
                printf("FAIL %s [%d,%d] and %s [%d,%d] overlap in the arena\n", a->name, first[i], last[i], b->name,
                       first[j], last[j]);
            if (a->arena_offset + rounded(a) > g->arena_bytes) bad += 1;
        }
    /* a node's scratch (conv windows, partial sums) is live during its own step only: it
     * must not share a byte with any tensor live then (its inputs and output included) */
    for (int i = 0; i < n; i++) {
        const kn_tensor *s = g->nodes[i];
        if (!s->scratch_bytes) continue;
        size_t s0 = s->scratch_offset, s1 = s0 + (s->scratch_bytes + KN_ALIGN - 1) / KN_ALIGN * KN_ALIGN;
        if (s1 > g->arena_bytes) bad += 1;
        for (int j = 0; j < n; j++) {
            const kn_tensor *b = g->nodes[j];
            if (!kn__planned(b) || first[j] > i || last[j] < i) continue;
            if (s0 < b->arena_offset + rounded(b) && b->arena_offset < s1 && bad++ < 3)
                printf("FAIL the scratch of %s (step %d) overlaps %s [%d,%d]\n", s->name, i, b->name, first[j], last[j]);
        }
    }
    free(first);
    free(last);
    return bad;
}

/* A random differentiable graph: a chain of dense-like layers with side branches. */
static kn_graph *random_graph(kn_ctx *ctx, int layers) {
    kn_graph *g;
    kn_graph_new(ctx, &g);
    int64_t width = 2 + pick(40);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, width}, 2, "x"), *h = x, *skip = NULL;
    for (int l = 0; l < layers; l++) {
        int64_t out = 2 + pick(40);
        char name[32];
        snprintf(name, sizeof name, "w%d", l);
        kn_tensor *w = kn_param(g, (int64_t[]){width, out}, 2, KN_INIT_GLOROT_UNIFORM, name);
        snprintf(name, sizeof name, "b%d", l);
        kn_tensor *b = kn_param(g, (int64_t[]){out}, 1, KN_INIT_ZEROS, name);
        h = kn_add(g, kn_matmul(g, h, w), b);
        switch (pick(5)) {
        case 0: h = kn_act(g, h, KN_RELU); break;
        case 1: h = kn_act(g, h, KN_TANH); break;
        case 2: h = kn_mul(g, h, kn_act(g, h, KN_SIGMOID)); break; /* two readers of h */
        case 3: h = kn_scale(g, kn_act(g, h, KN_GELU), 0.5f); break;
        default: break;
        }
        if (skip && skip->shape[1] == out) h = kn_add(g, h, skip);
        if (pick(2)) skip = h;
        width = out;
    }
    kn_tensor *y = kn_input(g, KN_I32, (int64_t[]){KN_BATCH}, 1, "y");
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, h, y, true);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_optimizer o = kn_adam(1e-3f);
    kn_graph_add_optimizer(g, &o);
    return g;
}

/* A random small convolutional network (conv layers with bias and relu or not, pooling,
 * batch norm, dropout, a dense head): convolutions and big column sums plan scratch. */
static kn_graph *random_conv_graph(kn_ctx *ctx) {
    kn_graph *g;
    kn_graph_new(ctx, &g);
    int64_t hw = 8 + pick(12), c = 1 + pick(4);
    kn_tensor *x = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, hw, hw, c}, 4, "x"), *h = x;
    for (int l = 0, n = 1 + pick(3); l < n && hw >= 3; l++) {
        int64_t f = 2 + pick(12);
        kn_tensor *k = kn_param(g, (int64_t[]){9 * c, f}, 2, KN_INIT_GLOROT_UNIFORM, "k");
        bool same = pick(2);
        h = kn_conv2d(g, h, k, 3, 3, 1, 1, 1, 1, same);
        hw = same ? hw : hw - 2;
        c = f;
        if (pick(2)) h = kn_add(g, h, kn_param(g, (int64_t[]){f}, 1, KN_INIT_ZEROS, "b"));
        if (pick(3) == 0) {
            kn_tensor *p[4];
            for (int i = 0; i < 4; i++) p[i] = kn_param(g, (int64_t[]){f}, 1, i == 3 ? KN_INIT_ONES : KN_INIT_ZEROS, "bn");
            h = kn_batch_norm(g, h, p[0], p[1], p[2], p[3], 0.99f, 1e-3f);
        }
        if (pick(2)) h = kn_act(g, h, KN_RELU);
        if (pick(2) && hw >= 4) {
            h = kn_max_pool2d(g, h, 2, 2, 2, 2, false);
            hw /= 2;
        }
        if (pick(3) == 0) h = kn_dropout(g, h, 0.25f);
    }
    h = kn_reshape(g, h, (int64_t[]){KN_BATCH, hw * hw * c}, 2);
    kn_tensor *w = kn_param(g, (int64_t[]){hw * hw * c, 5}, 2, KN_INIT_GLOROT_UNIFORM, "w");
    h = kn_matmul(g, h, w);
    kn_tensor *y = kn_input(g, KN_I32, (int64_t[]){KN_BATCH}, 1, "y");
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, h, y, true);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_optimizer o = kn_adam(1e-3f);
    kn_graph_add_optimizer(g, &o);
    return g;
}

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 3}, &ctx);
    int failures = 0;
    for (int trial = 0; trial < 260; trial++) {
        /* the last 60: convolutional networks, batches up to 64 (scratch for the windows,
         * the weight gradient's partial sums, the bias gradient's column sums) */
        kn_graph *g = trial < 200 ? random_graph(ctx, 1 + pick(6)) : random_conv_graph(ctx);
        /* every combination of the optimizer's passes (in-place outputs share blocks) */
        kn_graph_set_passes(g, trial < 2 ? (trial ? KN_PASS_ALL : KN_PASS_NONE) : (unsigned)pick(KN_PASS_ALL + 1));
        if (kn_graph_compile(g, 1 + pick(64), true)) {
            printf("FAIL trial %d: %s\n", trial, kn_last_error(ctx));
            failures++;
        } else {
            failures += check(g) > 0;
            for (int i = 0; i < g->n_nodes; i++) { /* a view or in-place output is its root's memory */
                kn_tensor *t = g->nodes[i];
                if (t->alias && t->data != kn__alias_root(t)->data) {
                    printf("FAIL trial %d: %s does not share its root's memory\n", trial, t->name);
                    failures++;
                }
            }
            if (g->arena_bytes > g->naive_bytes) {
                printf("FAIL trial %d: planned %zu > naive %zu\n", trial, g->arena_bytes, g->naive_bytes);
                failures++;
            }
            for (int i = 0; i < g->n_nodes; i++) { /* inputs: values for x, class 0 for y */
                kn_tensor *t = g->nodes[i];
                if (t->op == KN_OP_INPUT) memset(t->data, 0, kn__nbytes(t));
            }
            kn_graph_run(g); /* it runs (ASan and valgrind watch the arena) */
        }
        kn_graph_free(g);
    }
    /* the reference MLP's training step at batch 32 */
    kn_graph *g;
    kn_graph_new(ctx, &g);
    kn_tensor *h = kn_input(g, KN_F32, (int64_t[]){KN_BATCH, 784}, 2, "x");
    int64_t sizes[] = {784, 64, 64, 10};
    for (int l = 0; l < 3; l++) {
        kn_tensor *w = kn_param(g, (int64_t[]){sizes[l], sizes[l + 1]}, 2, KN_INIT_GLOROT_UNIFORM, "w");
        kn_tensor *b = kn_param(g, (int64_t[]){sizes[l + 1]}, 1, KN_INIT_ZEROS, "b");
        h = kn_add(g, kn_matmul(g, h, w), b);
        if (l < 2) h = kn_act(g, h, KN_RELU);
    }
    kn_tensor *loss = kn_loss_op(g, KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, h,
                                 kn_input(g, KN_I32, (int64_t[]){KN_BATCH}, 1, "y"), true);
    kn_graph_keep(g, loss);
    kn_graph_backward(g, loss);
    kn_optimizer o = kn_adam(1e-3f);
    kn_graph_add_optimizer(g, &o);
    kn_graph_compile(g, 32, true);
    failures += check(g) > 0;
    printf("reference MLP training step, batch 32: %d nodes, arena %zu bytes planned, %zu naive (%.0f%%)\n", g->n_nodes,
           g->arena_bytes, g->naive_bytes, 100.0 * (double)g->arena_bytes / (double)g->naive_bytes);
    kn_graph_free(g);
    kn_ctx_free(ctx);
    printf(failures ? "%d failure(s)\n" : "planner checks passed (200 random dense graphs, 60 convolutional)\n", failures);
    return failures ? 1 : 0;
}
