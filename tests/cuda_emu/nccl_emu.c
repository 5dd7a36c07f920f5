/* nccl_emu.c — a fake NCCL for the CUDA emulator: a shared library kiln dlopen()s in place of
 * libnccl.so.2 (src/backend/cuda/nccl_load.c; KILN_NCCL_SONAME is its path in an emulator
 * build), so the data-parallel path over device communicators (nccl_comm.c, dist's
 * kn__dist_open_device, fit's per-step all-reduce) runs on a machine without GPUs, under
 * mpirun with any number of ranks.
 *
 * The emulator's "device memory" is host memory, so a collective is the same MPI collective
 * over the device buffers, queued on the stream (kn_emu_enqueue_host) and run in stream
 * order when the stream is synchronized or queried, as NCCL's kernels run in stream order.
 * The communicator is a duplicate of MPI_COMM_WORLD; ncclCommInitRank checks that the rank
 * and size kiln passes are the MPI ones and that every rank passed the id rank 0 made (an
 * id not shared by MPI_Bcast would hang or mismatch on real NCCL: here it fails). A
 * one-rank communicator needs no MPI at all (KILN_NCCL=force in a single process).
 *
 * The 8 functions kiln loads, with NCCL's types (nccl.h): sum, max, min and prod over f32,
 * f64 and i32; broadcast of any of them. What a real NCCL would add (its own kernels,
 * NVLink, asynchronous errors from a peer's crash) has nothing to show here; a collective
 * whose MPI call fails sets the communicator's asynchronous error. KILN_NCCL_EMU_TRACE=1
 * prints each communicator's collective counts when it closes (tests/cli_cuda.sh checks the
 * device path really ran). */
#include <nccl.h>

#include "emu_api.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ID_MAGIC 0x6b6e6e63636c6964ull /* "kncclid" */

struct ncclComm {
    MPI_Comm mpi; /* MPI_COMM_NULL for a one-rank communicator */
    int rank, size;
    ncclResult_t async; /* a queued collective's failure */
    long allreduces, broadcasts; /* run so far (KILN_NCCL_EMU_TRACE=1 prints them at the close) */
};

static void trace(const struct ncclComm *c, const char *how) {
    const char *t = getenv("KILN_NCCL_EMU_TRACE");
    if (t && t[0] == '1')
        fprintf(stderr, "nccl-emu: rank %d of %d %s after %ld all-reduces and %ld broadcasts\n", c->rank, c->size, how,
                c->allreduces, c->broadcasts);
}

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error (the emulator's MPI call failed)";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
    }
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    if (!id) return ncclInvalidArgument;
    memset(id, 0, sizeof *id);
    uint64_t magic = ID_MAGIC, nonce = ((uint64_t)rand() << 32) ^ (uint64_t)(uintptr_t)id ^ (uint64_t)getpid();
    memcpy(id->internal, &magic, 8);
    memcpy(id->internal + 8, &nonce, 8);
    return ncclSuccess;
}

static int mpi_ready(void) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    if (!comm || nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
    *comm = NULL;
    uint64_t magic;
    memcpy(&magic, id.internal, 8);
    if (magic != ID_MAGIC) {
        fprintf(stderr, "nccl-emu: ncclCommInitRank: the id was not made by ncclGetUniqueId\n");
        return ncclInvalidArgument;
    }
    struct ncclComm *c = calloc(1, sizeof *c);
    if (!c) return ncclSystemError;
    c->mpi = MPI_COMM_NULL, c->rank = rank, c->size = nranks;
    if (nranks > 1) {
        int size = 0, me = -1;
        if (!mpi_ready()) {
            fprintf(stderr, "nccl-emu: ncclCommInitRank: %d ranks without MPI (the emulator's NCCL runs on MPI)\n", nranks);
            free(c);
            return ncclInvalidUsage;
        }
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        MPI_Comm_rank(MPI_COMM_WORLD, &me);
        if (size != nranks || me != rank) {
            fprintf(stderr, "nccl-emu: ncclCommInitRank: rank %d of %d, but this is MPI rank %d of %d\n", rank, nranks,
                    me, size);
            free(c);
            return ncclInvalidArgument;
        }
        /* every rank must hold rank 0's id (as NCCL's bootstrap needs), checked collectively */
        char root[NCCL_UNIQUE_ID_BYTES];
        memcpy(root, id.internal, sizeof root);
        MPI_Bcast(root, (int)sizeof root, MPI_BYTE, 0, MPI_COMM_WORLD);
        int same = memcmp(root, id.internal, sizeof root) == 0, all = 0;
        MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (!all) {
            fprintf(stderr, "nccl-emu: ncclCommInitRank: the ranks hold different ids (rank 0's was not shared)\n");
            free(c);
            return ncclInvalidUsage;
        }
        if (MPI_Comm_dup(MPI_COMM_WORLD, &c->mpi) != MPI_SUCCESS) {
            free(c);
            return ncclSystemError;
        }
    }
    *comm = c;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    if (!comm) return ncclInvalidArgument;
    trace(comm, "closed");
    if (comm->mpi != MPI_COMM_NULL && mpi_ready()) MPI_Comm_free(&comm->mpi);
    free(comm);
    return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
    if (!comm) return ncclSuccess;
    trace(comm, "aborted");
    /* no collective call: the peers may be gone (MPI's duplicate is left to MPI_Finalize) */
    free(comm);
    return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *async) {
    if (!comm || !async) return ncclInvalidArgument;
    *async = comm->async;
    return ncclSuccess;
}

/* ------------------------------------------------------------------ collectives */

static int mpi_type(ncclDataType_t t, MPI_Datatype *m, size_t *bytes) {
    switch (t) {
    case ncclFloat32: *m = MPI_FLOAT, *bytes = 4; return 1;
    case ncclFloat64: *m = MPI_DOUBLE, *bytes = 8; return 1;
    case ncclInt32: *m = MPI_INT32_T, *bytes = 4; return 1;
    default: return 0;
    }
}

static int mpi_op(ncclRedOp_t op, MPI_Op *m) {
    switch (op) {
    case ncclSum: *m = MPI_SUM; return 1;
    case ncclProd: *m = MPI_PROD; return 1;
    case ncclMax: *m = MPI_MAX; return 1;
    case ncclMin: *m = MPI_MIN; return 1;
    default: return 0;
    }
}

typedef struct {
    int broadcast;
    const void *send;
    void *recv;
    size_t count, bytes;
    MPI_Datatype type;
    MPI_Op op;
    int root;
    ncclComm_t comm;
} collective;

/* Runs in stream order (the emulator's queue): the MPI call over the device buffers. */
static void run_collective(void *args) {
    const collective *q = args;
    if (!kn_emu_device_range(q->send, q->count * q->bytes) || !kn_emu_device_range(q->recv, q->count * q->bytes)) {
        kn_emu_fault("nccl-emu: %s: a buffer is no longer device memory when it runs", q->broadcast ? "ncclBroadcast" : "ncclAllReduce");
        q->comm->async = ncclUnhandledCudaError;
        return;
    }
    q->broadcast ? q->comm->broadcasts++ : q->comm->allreduces++;
    if (q->send != q->recv && (!q->broadcast || q->comm->rank == q->root))
        memmove(q->recv, q->send, q->count * q->bytes);
    if (q->comm->mpi == MPI_COMM_NULL || !q->count) return; /* one rank: the copy was all */
    int rc = MPI_SUCCESS;
    for (size_t done = 0; done < q->count && rc == MPI_SUCCESS;) { /* MPI counts are ints */
        size_t n = q->count - done > (size_t)1 << 30 ? (size_t)1 << 30 : q->count - done;
        char *p = (char *)q->recv + done * q->bytes;
        rc = q->broadcast ? MPI_Bcast(p, (int)n, q->type, q->root, q->comm->mpi)
                          : MPI_Allreduce(MPI_IN_PLACE, p, (int)n, q->type, q->op, q->comm->mpi);
        done += n;
    }
    if (rc != MPI_SUCCESS) q->comm->async = ncclSystemError;
}

static ncclResult_t enqueue(collective *q, cudaStream_t stream) {
    const char *name = q->broadcast ? "ncclBroadcast" : "ncclAllReduce";
    if (!q->comm || (!q->send && q->count) || (!q->recv && q->count)) return ncclInvalidArgument;
    if (q->count && (!kn_emu_device_range(q->send, q->count * q->bytes) ||
                     !kn_emu_device_range(q->recv, q->count * q->bytes))) {
        fprintf(stderr, "nccl-emu: %s: a buffer (%p, %p; %zu elements) is not device memory\n", name, q->send, q->recv,
                q->count);
        return ncclInvalidArgument;
    }
    return kn_emu_enqueue_host(stream, name, run_collective, q, sizeof *q) == cudaSuccess ? ncclSuccess
                                                                                        : ncclUnhandledCudaError;
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream) {
    collective q = {.broadcast = 0, .send = sendbuff, .recv = recvbuff, .count = count, .comm = comm};
    if (!mpi_type(datatype, &q.type, &q.bytes) || !mpi_op(op, &q.op)) return ncclInvalidArgument;
    return enqueue(&q, stream);
}

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root,
                           ncclComm_t comm, cudaStream_t stream) {
    collective q = {.broadcast = 1, .send = sendbuff, .recv = recvbuff, .count = count, .root = root, .comm = comm};
    if (!mpi_type(datatype, &q.type, &q.bytes) || !comm || root < 0 || root >= comm->size) return ncclInvalidArgument;
    return enqueue(&q, stream);
}
