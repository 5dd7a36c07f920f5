/* model_graph.c — the graph optimizer from the model level: which passes a model's graphs
 * get, and a report (and DOT file) of the graph a model trains or predicts with. */
#include "model.h"

#include "graph/graph.h"
#include "classic/model.h"

kn_status kn_model_set_passes(kn_model *m, unsigned passes) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    if (passes & ~KN_PASS_ALL) return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "set_passes: unknown pass bits 0x%x", passes);
    if (passes != m->passes) m->graph_stale = m->graph != NULL; /* rebuilt on next use */
    m->passes = passes;
    return KN_OK;
}

kn_status kn_model_set_quantization(kn_model *m, kn_quant quant) {
    if (!m) return KN_ERR_INVALID_ARGUMENT;
    if ((unsigned)quant >= KN_QUANT_COUNT)
        return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "set_quantization: unknown quantization %d", (int)quant);
    if (quant == m->quant) return KN_OK;
    if (m->classic) return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "quantization: a %s is not a network", m->classic->name);
    if (m->graph && m->graph->has_backward)
        return kn__error(m->ctx, KN_ERR_STATE,
                         "quantization: the model trained in this process and keeps its training graph; save it "
                         "and load the file to serve it in int8");
    if (quant != KN_QUANT_NONE && m->ctx->device != KN_DEVICE_CPU)
        return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "quantization: int8 inference runs on the CPU only");
    m->quant = quant;
    m->graph_stale = m->graph != NULL; /* rebuilt on next use */
    return KN_OK;
}

kn_quant kn_model_quantization(const kn_model *m) { return m ? m->quant : KN_QUANT_NONE; }

int kn_model_quantized_layers(const kn_model *m) {
    if (!m || !m->graph || m->graph->has_backward) return 0;
    int n = 0;
    for (int i = 0; i < m->graph->n_nodes; i++) n += kn__q8_node(m->graph, m->graph->nodes[i]) != NULL;
    return n;
}

kn_status kn_model_graph_report(kn_model *m, int64_t batch, bool training, kn_graph_report *report,
                                const char *dot_path) {
    if (!m || !report) return KN_ERR_INVALID_ARGUMENT;
    if (m->classic) return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "graph: a %s is not a graph model", m->classic->name);
    if (!m->compiled) return kn__error(m->ctx, KN_ERR_STATE, "graph: call kn_model_compile first");
    if (m->n_layers > KN__MAX_LAYERS) return kn__error(m->ctx, KN_ERR_UNSUPPORTED, "model: more than %d layers", KN__MAX_LAYERS);
    if (batch < 1) return kn__error(m->ctx, KN_ERR_INVALID_ARGUMENT, "graph: batch size %lld must be positive", (long long)batch);
    /* a graph of its own, planned for exactly this batch; the model's handles are restored */
    graph_refs saved;
    kn__model_save_refs(m, &saved);
    kn_graph *g = NULL;
    kn_status st = kn__model_build_graph(m, &g, training);
    if (!st) st = kn_graph_compile(g, batch, true);
    if (!st) st = kn_graph_get_report(g, report);
    if (!st && dot_path) st = kn_graph_write_dot(g, dot_path);
    kn__model_restore_refs(m, &saved);
    if (st) {
        kn_graph_free(g);
        return st;
    }
    /* the report's strings point into the graph: keep it until the model goes */
    kn_graph_free(m->report_graph);
    m->report_graph = g;
    return KN_OK;
}
