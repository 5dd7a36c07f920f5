/* backend.h — the small interface every backend implements, { iface; device; context }:
 * allocate and free device memory, copy in and out, run a compiled graph's nodes,
 * synchronize. A graph holds one (kn_graph.backend), chosen by its device at compile.
 *
 * The host buffers are the graph's interface on every backend: the planner's offsets, the
 * flat parameter / gradient / state buffers and kn_tensor_data are the same whatever the
 * device. A device backend mirrors them (one device allocation each, the same offsets) and
 * translates a tensor's host address into its device address; the CPU backend is the
 * host buffers themselves, its run the loop over the op table's cpu kernels, unchanged. */
#ifndef KN_BACKEND_H
#define KN_BACKEND_H

#include "graph/graph.h"

typedef struct kn_backend_iface {
    const char *name;
    /* After the planner: device memory for g's buffers and whatever else the backend keeps
     * per graph (in g->backend.context); refuses ops it has no kernel for, naming them. */
    kn_status (*compile)(kn_graph *g);
    void (*release)(kn_graph *g);
    kn_status (*alloc)(kn_graph *g, size_t bytes, void **out);
    void (*free)(kn_graph *g, void *ptr);
    kn_status (*copy_in)(kn_graph *g, void *device_dst, const void *host_src, size_t bytes);
    kn_status (*copy_out)(kn_graph *g, void *host_dst, const void *device_src, size_t bytes);
    /* Runs the nodes whose phase is in mask (kn__graph_run_phases has done the step and
     * RNG bookkeeping); a device backend copies inputs in and kept outputs out. */
    kn_status (*run)(kn_graph *g, unsigned mask);
    kn_status (*synchronize)(kn_graph *g);
    /* The flat buffers named by parts (KN_SYNC_* bits, graph.h): device -> host, host -> device. */
    kn_status (*pull)(kn_graph *g, unsigned parts);
    kn_status (*push)(kn_graph *g, unsigned parts);
} kn_backend_iface;

extern const kn_backend_iface kn__cpu_backend;
/* Tests only (KILN_TEST_MIRROR=1 at compile): the CPU kernels on private host copies of the
 * flat buffers, so the host buffers behave as a device's would (backend/mirror.c). */
extern const kn_backend_iface kn__mirror_backend;
#ifdef KILN_HAVE_CUDA
extern const kn_backend_iface kn__cuda_backend;
/* KN_OK when a CUDA device is usable here, else KN_ERR_UNSUPPORTED naming the cause. */
kn_status kn__cuda_check(kn_ctx *ctx);
#endif

/* Picks g's backend from g->device and runs its compile (compile.c calls it last). */
kn_status kn__backend_compile(kn_graph *g);
void kn__backend_release(kn_graph *g);

#endif
