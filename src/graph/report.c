/* report.c — what the optimizer and planner did to a compiled graph (kn_graph_get_report,
 * the figures `kiln graph` prints) and the graph as a Graphviz DOT file. */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync */
#include "graph.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

kn_status kn_graph_get_report(const kn_graph *g, kn_graph_report *out) {
    if (!g || !out) return KN_ERR_INVALID_ARGUMENT;
    if (!g->compiled) return kn__error(g->ctx, KN_ERR_STATE, "report: compile the graph first");
    memset(out, 0, sizeof *out);
    out->nodes_before = g->nodes_before;
    out->nodes_after = g->n_nodes;
    for (int i = 0; i < g->n_pass_runs && i < KN_PASS_COUNT; i++) {
        out->passes[i].name = kn_pass_name(g->pass_runs[i].pass);
        out->passes[i].nodes_after = g->pass_runs[i].nodes_after;
        out->n_passes++;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        if (!t->fused[0]) continue;
        if (out->n_fused < (int)(sizeof out->fused / sizeof out->fused[0])) out->fused[out->n_fused] = t->fused;
        out->n_fused++;
    }
    if (out->n_fused > (int)(sizeof out->fused / sizeof out->fused[0]))
        out->n_fused = (int)(sizeof out->fused / sizeof out->fused[0]);
    out->arena_bytes = g->arena_bytes;
    out->naive_bytes = g->naive_bytes;
    out->param_bytes = g->param_floats * sizeof(float);
    out->grad_bytes = g->grad_buf ? g->param_floats * sizeof(float) : 0;
    out->optimizer_bytes = g->state_floats * sizeof(float);
    return KN_OK;
}

/* A DOT string: quotes and backslashes escaped. */
static void dot_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_dot(const kn_graph *g, FILE *f) {
    static const char *phase_color[] = {"white", "lightyellow", "lightblue", "white", "mistyrose"};
    fprintf(f, "digraph kiln {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n");
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        char shape[64], label[256];
        kn__shape_str(t, shape, sizeof shape);
        const char *op = t->fused[0] ? t->fused : kn__op_info(t->op)->name;
        snprintf(label, sizeof label, "%s\n%s %s%s%s", t->name, op, t->ndim ? shape : "scalar",
                 t->alias ? (t->op == KN_OP_RESHAPE ? "\n(view)" : "\n(in place)") : "",
                 (t->flags & KN_FLAG_FOLDED) ? "\n(folded)" : "");
        int phase = t->phase & KN_PHASE_FORWARD ? 1 : t->phase & KN_PHASE_PREDICT ? 2 : t->phase & KN_PHASE_LOSS ? 4 : 0;
        const char *fill = t->fused[0] ? "palegreen" : (t->op == KN_OP_PARAM || t->op == KN_OP_INPUT) ? "lightgrey" : phase_color[phase];
        fprintf(f, "  n%d [label=", i);
        dot_string(f, label);
        fprintf(f, ", fillcolor=%s%s];\n", fill, t->fused[0] ? ", penwidth=2" : "");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const kn_tensor *t = g->nodes[i];
        for (int s = 0; s < KN_MAX_SRC; s++)
            if (t->src[s]) fprintf(f, "  n%d -> n%d;\n", t->src[s]->id, i);
        if (t->op == KN_OP_OPTIMIZER) /* reads every gradient, writes every parameter */
            for (int p = 0; p < g->n_params; p++)
                if (g->params[p]->grad) fprintf(f, "  n%d -> n%d [style=dashed];\n", g->params[p]->grad->id, i);
    }
    fprintf(f, "}\n");
}

kn_status kn_graph_write_dot(const kn_graph *g, const char *path) {
    if (!g || !path) return KN_ERR_INVALID_ARGUMENT;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return kn__error(g->ctx, KN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    write_dot(g, f);
    bool ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return kn__error(g->ctx, KN_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return KN_OK;
}
