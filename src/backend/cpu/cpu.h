/* cpu.h — the CPU backend's kernels, one per op, each computing node t from its sources
 * at the currently resolved shapes. The op table (graph/ops.c) points at these. */
#ifndef KN_CPU_H
#define KN_CPU_H

#include "graph/graph.h"

void kn__cpu_matmul(kn_graph *g, kn_tensor *t);
void kn__cpu_add(kn_graph *g, kn_tensor *t);
void kn__cpu_sub(kn_graph *g, kn_tensor *t);
void kn__cpu_mul(kn_graph *g, kn_tensor *t);
void kn__cpu_scale(kn_graph *g, kn_tensor *t);
void kn__cpu_copy(kn_graph *g, kn_tensor *t);
void kn__cpu_act(kn_graph *g, kn_tensor *t);
void kn__cpu_act_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_sum_rows(kn_graph *g, kn_tensor *t);
void kn__cpu_sum(kn_graph *g, kn_tensor *t);
void kn__cpu_sum_squares(kn_graph *g, kn_tensor *t);
void kn__cpu_loss(kn_graph *g, kn_tensor *t);
void kn__cpu_loss_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_optimizer(kn_graph *g, kn_tensor *t);

/* Elementwise loops below this many elements run on one thread: at batch 32 a layer's
 * activations are ~2k floats, where waking a second thread costs more than it saves. */
#define KN_PAR_MIN 32768

/* Threads for a loop of n elements. */
static inline int kn__threads_for(const kn_graph *g, int64_t n) {
    return n >= KN_PAR_MIN ? kn_ctx_threads(g->ctx) : 1;
}

#endif
