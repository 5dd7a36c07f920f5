/* profile.c — KILN_PROFILE=1 in the environment: every graph times each node's kernel and,
 * when freed, prints where its time went (slowest first) to stderr. For finding the next
 * thing to optimize; the timing itself costs ~50 ns a node. */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>

static const kn_graph *sort_graph;
static int by_time(const void *a, const void *b) {
    double x = sort_graph->prof_seconds[*(const int *)a], y = sort_graph->prof_seconds[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : 0;
}

void kn__profile_print(const kn_graph *g) {
    if (!g->prof_runs) return;
    int n = g->n_nodes, order[4096];
    if (n > 4096) n = 4096;
    double total = 0;
    for (int i = 0; i < n; i++) order[i] = i, total += g->prof_seconds[i];
    sort_graph = g;
    qsort(order, (size_t)n, sizeof *order, by_time);
    fprintf(stderr, "kiln profile: %lld runs of a %d-node graph, %.3f s in kernels (%.2f us a run)\n",
            (long long)g->prof_runs, g->n_nodes, total, 1e6 * total / (double)g->prof_runs);
    for (int k = 0; k < n && k < 30; k++) {
        const kn_tensor *t = g->nodes[order[k]];
        if (g->prof_seconds[order[k]] <= 0) break;
        char shape[64];
        fprintf(stderr, "  %6.2f%% %9.2f us/run  %-28s %-40s %s\n", 100 * g->prof_seconds[order[k]] / total,
                1e6 * g->prof_seconds[order[k]] / (double)g->prof_runs, t->name,
                t->fused[0] ? t->fused : kn__op_info(t->op)->name, kn__shape_str(t, shape, sizeof shape));
    }
}
