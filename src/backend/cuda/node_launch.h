/* node_launch.h — the shorthands of the functions that enqueue a node's work (ops.c's kernel
 * table, small_batch.c's fused launches): g is the graph, t the node. */
#ifndef KN_CUDA_NODE_LAUNCH_H
#define KN_CUDA_NODE_LAUNCH_H

#include "cuda_internal.h"

#define STREAM (((kn__cuda_graph *)g->backend.context)->stream)
#define CTX ((kn__cuda_graph *)g->backend.context)
/* A launcher's status, reported naming the node. */
#define LAUNCH(call)                                                                                     \
    do {                                                                                                 \
        cudaError_t e_ = (call);                                                                         \
        if (e_ != cudaSuccess) return kn__cuda_fail(g, t, #call, e_);                                    \
    } while (0)

#endif
