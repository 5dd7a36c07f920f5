/* nccl_comm.h — device communicators for data-parallel training on GPUs (nccl_comm.c): the
 * flat gradient buffer of a cuda graph summed across ranks with NCCL on the graph's stream,
 * rank 0's parameters and optimizer state broadcast device to device. Plain C (no CUDA or
 * NCCL types), so src/dist and src/train call it in every build; in a build without them
 * (KILN_HAVE_NCCL: the CUDA backend and nccl.h at build time) every function answers
 * KN_ERR_UNSUPPORTED (close: nothing). libnccl is opened with dlopen by the first
 * kn__nccl_unique_id / kn__nccl_open (nccl_load.c), never linked.
 *
 * The protocol (src/dist/dist.c's kn__dist_open_device follows it): rank 0 calls
 * kn__nccl_unique_id and sends the bytes to every rank out of band (MPI_Bcast); every rank
 * then calls kn__nccl_open with them, its rank and the world size (collective: it returns
 * when all ranks have joined). One communicator serves any number of graphs on the
 * process's GPU; kn__nccl_close frees it. Every call below is collective over the
 * communicator's ranks: all of them, in the same order, with the same sizes. */
#ifndef KN_NCCL_COMM_H
#define KN_NCCL_COMM_H

#include "graph/graph.h"

#define KN_NCCL_ID_BYTES 128 /* NCCL_UNIQUE_ID_BYTES (nccl_comm.c checks) */

#ifdef KILN_HAVE_NCCL

/* Opens libnccl (once per process; KN_ERR_UNSUPPORTED naming the library when it cannot).
 * The functions below call it; exposed so a caller can test for NCCL before a collective. */
kn_status kn__nccl_load(kn_ctx *ctx);
/* A new communicator's id (rank 0 makes it, once per communicator). */
kn_status kn__nccl_unique_id(kn_ctx *ctx, uint8_t id[KN_NCCL_ID_BYTES]);
/* Joins the communicator id as rank of world, on this process's GPU (the launcher's local
 * rank picks it: kn__cuda_select_device). *comm: owned by the caller, freed by
 * kn__nccl_close. Blocks until every rank has joined. */
kn_status kn__nccl_open(kn_ctx *ctx, const uint8_t id[KN_NCCL_ID_BYTES], int rank, int world, void **comm);
/* g's device gradients (the flat buffer, g->param_floats floats) multiplied by pre_scale
 * (this rank's share of the global batch; no kernel when 1) and summed in place across the
 * ranks with ncclAllReduce (fp32, sum) on g's stream. Returns once the sum is complete
 * (KN_ERR_DEVICE naming the call when NCCL or CUDA fails: the communicator is then
 * aborted by close). The host gradient buffer is not touched: kn_graph_sync/kn__graph_pull
 * brings the sum back if the host needs it; the next update run reads it on the device. */
kn_status kn__nccl_allreduce_grads(kn_graph *g, void *comm, float pre_scale);
/* Rank 0's device parameters and optimizer state to every rank (ncclBroadcast), then the
 * half copy of the parameters (mixed precision) refreshed from them, as a push does. The
 * host copies are not touched (stale on ranks other than 0 until a pull). */
kn_status kn__nccl_broadcast_params(kn_graph *g, void *comm);
/* A resident step's all-reduce (run.c, inside the captured step): buf[0..n) of g's
 * device memory summed in place across the ranks on g's stream, enqueued and not waited
 * for; kn__nccl_wait then waits for g's stream while it watches the communicator. */
kn_status kn__nccl_enqueue_allreduce(kn_graph *g, void *comm, float *buf, size_t n);
kn_status kn__nccl_wait(kn_graph *g, void *comm, const char *call);
/* Frees a communicator (NULL: nothing). Aborted rather than destroyed when abort is set
 * (some rank failed: kn__dist knows) or a collective failed here, so a rank never waits on
 * peers that left. */
void kn__nccl_close(void *comm, bool abort);

#else /* no CUDA backend, or no nccl.h at build time: no device communicators */

static inline kn_status kn__nccl_load(kn_ctx *ctx) {
    return kn__error(ctx, KN_ERR_UNSUPPORTED,
                     "nccl: this build of kiln has no device communicators (no CUDA backend, or no nccl.h at build time)");
}
static inline kn_status kn__nccl_unique_id(kn_ctx *ctx, uint8_t id[KN_NCCL_ID_BYTES]) {
    (void)id;
    return kn__nccl_load(ctx);
}
static inline kn_status kn__nccl_open(kn_ctx *ctx, const uint8_t id[KN_NCCL_ID_BYTES], int rank, int world,
                                      void **comm) {
    (void)id, (void)rank, (void)world;
    *comm = NULL;
    return kn__nccl_load(ctx);
}
static inline kn_status kn__nccl_allreduce_grads(kn_graph *g, void *comm, float pre_scale) {
    (void)comm, (void)pre_scale;
    return kn__nccl_load(g->ctx);
}
static inline kn_status kn__nccl_broadcast_params(kn_graph *g, void *comm) {
    (void)comm;
    return kn__nccl_load(g->ctx);
}
static inline void kn__nccl_close(void *comm, bool abort) { (void)comm, (void)abort; }
static inline kn_status kn__nccl_enqueue_allreduce(kn_graph *g, void *comm, float *buf, size_t n) {
    (void)comm, (void)buf, (void)n;
    return kn__error(g->ctx, KN_ERR_UNSUPPORTED, "nccl: this build has no NCCL");
}
static inline kn_status kn__nccl_wait(kn_graph *g, void *comm, const char *call) {
    (void)g, (void)comm, (void)call;
    return KN_OK;
}

#endif
#endif
