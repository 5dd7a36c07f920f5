/* dense_q8.c — int8 inference in a graph (kn_model_set_quantization): which products run
 * on 8-bit integers (dense layers and matmuls here, convolutions in conv_q8.c), their
 * packed weights (each node's aux: a convolution's (KH*KW*C, F) kernel as a dense layer's
 * (k, n) weights), and the dense kernel (q8.h).
 *
 * A product qualifies when its weights are constant for the graph's life between packings:
 * an inference graph's parameter (or a reshaped view of one: attention's projections), or a
 * value the fold pass computes from parameters (a batch norm folded into the dense layer
 * before it). Its input and output are f32 rows,
 * (m, k) x (k, n) with neither transposed, n at least 16. The packing happens before the first run and
 * again after the folded values were recomputed (graph.h's q8_stale), so a run reads
 * weights packed from the values it would otherwise multiply by. */
#include "cpu.h"
#include "q8.h"

bool kn__q8_constant(const kn_tensor *b) {
    if (b->op == KN_OP_RESHAPE) b = b->src[0]; /* a view of the parameter (attention's projections) */
    return b->op == KN_OP_PARAM || (b->flags & KN_FLAG_FOLDED);
}

bool kn__q8_eligible(const kn_graph *g, const kn_tensor *t) {
    if (g->quant != KN_QUANT_INT8 || g->has_backward) return false;
    if (t->op == KN_OP_CONV2D) return kn__q8_conv_eligible(g, t); /* (conv_q8.c) */
    if (t->op != KN_OP_MATMUL && t->op != KN_OP_DENSE) return false;
    if (t->iparam[0] || t->iparam[1]) return false; /* transposes */
    const kn_tensor *a = t->src[0], *b = t->src[1];
    if (a->dtype != KN_F32 || b->dtype != KN_F32 || t->dtype != KN_F32 || a->ndim != 2 || b->ndim != 2) return false;
    /* Fewer than 16 outputs (a classifier's last layer) stay f32: quantizing each row costs
     * about what its product does there, and int8 lost to f32 at batches (0.3-0.8x,
     * bench/bench_q8.c); at one row the layer is too small to matter either way. The rule
     * reads the shape alone, so a sample's result never depends on its batch. */
    if (b->ne[0] > KN_Q8_MAX_K || b->ne[0] < 1 || b->ne[1] < KN_Q8_PANEL) return false;
    return kn__q8_constant(b);
}

size_t kn__cpu_q8_scratch(const kn_graph *g, const kn_tensor *t) {
    return kn__q8_eligible(g, t) ? kn__q8_scratch_bytes(t->ne[0], t->src[1]->ne[0]) : 0;
}

kn_status kn__q8_graph_alloc(kn_graph *g) {
    if (g->quant != KN_QUANT_INT8) return KN_OK;
    if (g->device != KN_DEVICE_CPU)
        return kn__error(g->ctx, KN_ERR_UNSUPPORTED, "compile: int8 inference runs on the CPU only");
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (!kn__q8_eligible(g, t) || t->aux) continue;
        const kn_tensor *b = t->src[1];
        if (!(t->aux = kn__alloc(g->ctx, kn__q8_weights_bytes(b->ne[0], b->ne[1]))))
            return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "compile: out of memory for %s's int8 weights", t->name);
        g->q8_stale = true;
    }
    return KN_OK;
}

void kn__q8_graph_pack(kn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        kn_tensor *t = g->nodes[i];
        if (!kn__q8_node(g, t)) continue;
        const kn_tensor *b = t->src[1];
        kn__q8_pack(t->aux, b->data, b->ne[0], b->ne[1], b->ne[1]);
    }
    g->q8_stale = false;
}

bool kn__cpu_q8_product(kn_graph *g, kn_tensor *t) {
    const kn__q8_weights *w = kn__q8_node(g, t);
    if (!w) return false;
    kn_tensor *a = t->src[0];
    bool dense = t->op == KN_OP_DENSE;
    const kn_tensor *bias = dense ? t->src[2] : NULL;
    int64_t m = t->ne[0];
    void *scratch = kn__cpu_scratch(g, t, kn__q8_scratch_bytes(m, w->k));
    if (!scratch) return true; /* (the graph's error is set) */
    kn__q8_gemm(kn__q8_isa_best(), m, a->data, a->ne[1], w, bias ? bias->data : NULL, dense ? t->iparam[2] : KN_LINEAR,
                dense ? t->fparam[0] : 0.0f, t->data, w->n, scratch, kn__gemm_threads(g, m, w->n, w->k));
    kn__cpu_scratch_done(g, t, scratch);
    return true;
}
