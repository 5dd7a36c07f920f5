/* nccl_comm.c — see nccl_comm.h: NCCL communicators over the cuda graphs' device buffers.
 * Every NCCL result is checked and reported naming the call and the rank (KN_ERR_DEVICE).
 * A collective is enqueued on the graph's stream, then waited for while NCCL's
 * asynchronous error is watched and a deadline runs (KILN_NCCL_TIMEOUT seconds, 300 by
 * default): a peer that failed or never joined makes this rank fail instead of hang, and
 * its communicator is then aborted by kn__nccl_close. */
#include "nccl_comm.h"
#include "backend/backend.h"
#include "cuda_internal.h"
#include "nccl_internal.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(KN_NCCL_ID_BYTES == NCCL_UNIQUE_ID_BYTES && sizeof(ncclUniqueId) == KN_NCCL_ID_BYTES,
               "nccl_comm.h's id size must be NCCL's");

typedef struct {
    kn_ctx *ctx;
    ncclComm_t comm;
    int rank, world;
    bool failed; /* an NCCL or CUDA error in a collective: close aborts the communicator */
} kn__nccl_comm;

static kn_status nccl_fail(kn_ctx *ctx, kn__nccl_comm *c, const char *call, ncclResult_t r) {
    if (c) c->failed = true;
    if (c)
        return kn__error(ctx, KN_ERR_DEVICE, "nccl: %s failed on rank %d of %d: %s", call, c->rank, c->world,
                         kn__nccl.GetErrorString(r));
    return kn__error(ctx, KN_ERR_DEVICE, "nccl: %s failed: %s", call, kn__nccl.GetErrorString(r));
}

kn_status kn__nccl_unique_id(kn_ctx *ctx, uint8_t id[KN_NCCL_ID_BYTES]) {
    kn_status st = kn__nccl_load(ctx);
    if (st) return st;
    ncclUniqueId u;
    ncclResult_t r = kn__nccl.GetUniqueId(&u);
    if (r != ncclSuccess) return nccl_fail(ctx, NULL, "ncclGetUniqueId", r);
    memcpy(id, u.internal, KN_NCCL_ID_BYTES);
    return KN_OK;
}

kn_status kn__nccl_open(kn_ctx *ctx, const uint8_t id[KN_NCCL_ID_BYTES], int rank, int world, void **comm) {
    *comm = NULL;
    if (world < 1 || rank < 0 || rank >= world)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "nccl: rank %d of %d is not a rank", rank, world);
    /* a GPU, and this rank's one, current before NCCL binds the communicator to it */
    kn_status st = kn__cuda_check(ctx);
    if (st || (st = kn__nccl_load(ctx))) return st;
    kn__nccl_comm *c = kn__calloc(ctx, 1, sizeof *c);
    if (!c) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "nccl: out of memory");
    *c = (kn__nccl_comm){.ctx = ctx, .rank = rank, .world = world};
    ncclUniqueId u;
    memcpy(u.internal, id, KN_NCCL_ID_BYTES);
    ncclResult_t r = kn__nccl.CommInitRank(&c->comm, world, u, rank);
    if (r != ncclSuccess) {
        kn__free(ctx, c);
        return kn__error(ctx, KN_ERR_DEVICE, "nccl: ncclCommInitRank (rank %d of %d) failed: %s", rank, world,
                         kn__nccl.GetErrorString(r));
    }
    *comm = c;
    return KN_OK;
}

void kn__nccl_close(void *comm, bool abort) {
    kn__nccl_comm *c = comm;
    if (!c) return;
    /* results ignored: nothing left to report to, and the communicator is gone either way */
    if (abort || c->failed)
        kn__nccl.CommAbort(c->comm);
    else
        kn__nccl.CommDestroy(c->comm);
    kn__free(c->ctx, c);
}

/* g compiled for cuda, and a communicator: else the error naming what is missing. */
static kn_status usable(kn_graph *g, const kn__nccl_comm *c, const char *what) {
    if (g->backend.iface != &kn__cuda_backend || !g->backend.context)
        return kn__error(g->ctx, KN_ERR_UNSUPPORTED, "nccl: %s needs a graph compiled for cuda (this one: %s)", what,
                         kn_device_name(g->backend.iface ? g->backend.device : g->device));
    if (!c) return kn__error(g->ctx, KN_ERR_STATE, "nccl: %s without a communicator (kn__nccl_open)", what);
    return KN_OK;
}

static double timeout_seconds(void) {
    const char *v = getenv("KILN_NCCL_TIMEOUT");
    char *end;
    double s = v && *v ? strtod(v, &end) : 0;
    return v && *v && !*end && s > 0 ? s : 300.0;
}

/* Waits for g's stream (the collective just enqueued, and what was before it) while
 * watching the communicator's asynchronous error and the deadline. */
static kn_status wait_for(kn_graph *g, kn__nccl_comm *c, const char *call) {
    kn__cuda_graph *cg = g->backend.context;
    double deadline = kn__now() + timeout_seconds();
    for (;;) {
        cudaError_t e = cudaStreamQuery(cg->stream);
        if (e == cudaSuccess) return KN_OK;
        if (e != cudaErrorNotReady) {
            c->failed = true;
            return kn__cuda_fail(g, NULL, call, e);
        }
        ncclResult_t async = ncclSuccess, r = kn__nccl.CommGetAsyncError(c->comm, &async);
        if (r != ncclSuccess) return nccl_fail(g->ctx, c, "ncclCommGetAsyncError", r);
        if (async != ncclSuccess && async != ncclInProgress) return nccl_fail(g->ctx, c, call, async);
        if (kn__now() > deadline) {
            c->failed = true;
            return kn__error(g->ctx, KN_ERR_DEVICE,
                             "nccl: %s on rank %d of %d did not complete in %g s (a rank that failed or never joined; "
                             "KILN_NCCL_TIMEOUT sets the limit)", call, c->rank, c->world, timeout_seconds());
        }
        sched_yield();
    }
}

kn_status kn__nccl_allreduce_grads(kn_graph *g, void *comm, float pre_scale) {
    kn__nccl_comm *c = comm;
    kn_status st = usable(g, c, "the gradient all-reduce");
    if (st) return st;
    kn__cuda_graph *cg = g->backend.context;
    size_t n = g->param_floats; /* the padding is zeros on every rank: summed, it stays zero */
    if (!cg->grad)
        return kn__error(g->ctx, KN_ERR_STATE, "nccl: the gradient all-reduce on a graph without gradients");
    if (n == 0) return KN_OK;
    if (pre_scale != 1.0f) { /* this rank's share, on the stream before the sum */
        cudaError_t e = kn__cu_scale(cg->stream, cg->grad, cg->grad, pre_scale, (int64_t)n);
        if (e != cudaSuccess) {
            c->failed = true; /* the peers are in the all-reduce this rank will not join */
            return kn__cuda_fail(g, NULL, "kn__cu_scale (the gradients' share)", e);
        }
    }
    ncclResult_t r = kn__nccl.AllReduce(cg->grad, cg->grad, n, ncclFloat, ncclSum, c->comm, cg->stream);
    if (r != ncclSuccess) return nccl_fail(g->ctx, c, "ncclAllReduce (gradients)", r);
    return wait_for(g, c, "ncclAllReduce (gradients)");
}

kn_status kn__nccl_enqueue_allreduce(kn_graph *g, void *comm, float *buf, size_t n) {
    kn__nccl_comm *c = comm;
    kn_status st = usable(g, c, "a resident step's all-reduce");
    if (st || n == 0) return st;
    kn__cuda_graph *cg = g->backend.context;
    ncclResult_t r = kn__nccl.AllReduce(buf, buf, n, ncclFloat, ncclSum, c->comm, cg->stream);
    return r == ncclSuccess ? KN_OK : nccl_fail(g->ctx, c, "ncclAllReduce (a resident step's gradients)", r);
}

kn_status kn__nccl_wait(kn_graph *g, void *comm, const char *call) {
    kn__nccl_comm *c = comm;
    kn_status st = usable(g, c, call);
    return st ? st : wait_for(g, c, call);
}

kn_status kn__nccl_broadcast_params(kn_graph *g, void *comm) {
    kn__nccl_comm *c = comm;
    kn_status st = usable(g, c, "the parameters' broadcast");
    if (st) return st;
    kn__cuda_graph *cg = g->backend.context;
    ncclResult_t r;
    if (g->param_floats &&
        (r = kn__nccl.Broadcast(cg->param, cg->param, g->param_floats, ncclFloat, 0, c->comm, cg->stream)) != ncclSuccess)
        return nccl_fail(g->ctx, c, "ncclBroadcast (parameters)", r);
    if (cg->state && g->state_floats &&
        (r = kn__nccl.Broadcast(cg->state, cg->state, g->state_floats, ncclFloat, 0, c->comm, cg->stream)) != ncclSuccess)
        return nccl_fail(g->ctx, c, "ncclBroadcast (optimizer state)", r);
    if (cg->param_half && g->param_floats) { /* the products' half operands, as cuda_push refreshes them */
        cudaError_t e = kn__cu_scale_x(cg->stream, cg->param, KN_F32, cg->param_half, cg->half_type, 1.0f,
                                       (int64_t)g->param_floats);
        if (e != cudaSuccess) {
            c->failed = true;
            return kn__cuda_fail(g, NULL, "kn__cu_scale_x (half parameter copy)", e);
        }
    }
    return wait_for(g, c, "ncclBroadcast (parameters)");
}
