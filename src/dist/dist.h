/* dist.h — data-parallel training's collectives (dist.c): the ranks of MPI_COMM_WORLD
 * agreeing on each step (and on failures), rank 0's parameters broadcast, the gradient
 * all-reduce (fp32 or fp16 on the wire). Built without MPI, every function is the one-rank
 * case (world 1, nothing to exchange). Internal to libkiln; fit.c is the caller.
 *
 * The protocol every rank follows in kn_model_fit (all collectives on MPI_COMM_WORLD):
 *   kn__dist_agree (setup) -> kn__dist_broadcast (params, optimizer state) -> kn__dist_same
 *   per step, an update in fp32: kn__dist_reduce_step (the gradient all-reduce carrying
 *             the agreement: one collective a step; on a failure it falls back to
 *             kn__dist_agree for the message)
 *   per step, otherwise: kn__dist_agree (status, loss, rows) -> on an update
 *             kn__dist_reduce_grad
 *   then kn__dist_reduce_state (parameters the forward pass changes: batch norm's)
 *   kn__dist_agree (end)
 * On GPUs (cuda graphs), after the setup: kn__dist_open_device (a device communicator,
 * NCCL), then per step kn__dist_agree -> on an update kn__dist_reduce_grad_device (the
 * device gradients summed in place, no host copy), kn__dist_close frees it.
 * A rank that fails anywhere meets the others at their next kn__dist_agree, which is then
 * the last collective of the fit on every rank: no rank waits for one that left. */
#ifndef KN_DIST_H
#define KN_DIST_H

#include "core/core.h"

/* What kn__dist_agree adds up across ranks (a step's figures): at most this many. */
#define KN_DIST_SUMS 6

typedef struct kn__dist {
    kn_ctx *ctx;
    int rank, world;            /* world 1: every call below returns at once */
    kn_grad_compression compression;
    bool done;                  /* an agreement ended the fit (a failure, or the end) */
    uint16_t *half;             /* (floats) fp16 staging for compressed reduces */
    size_t half_floats;
    float *state;               /* (state_floats) packed parameters without gradients */
    size_t state_floats;
    double reduce_seconds;      /* wall time in gradient and state all-reduces */
    double agree_seconds;       /* wall time in agreements (mostly waiting for the slowest rank) */
    int64_t reduces;            /* gradient all-reduces run */
    struct kn__dist_mpi *mpi;   /* the communicator and ops (dist.c), NULL alone */
    void *nccl;                 /* the device communicator (kn__dist_open_device), or NULL */
    bool failed;                /* an agreement reported a failure (some rank's, or MPI's) */
} kn__dist;

/* Joins the ranks of MPI_COMM_WORLD when distributed is set and MPI runs with more than
 * one rank; otherwise d is the one-rank case. Collective (no exchange yet, though). */
kn_status kn__dist_open(kn__dist *d, kn_ctx *ctx, bool distributed, kn_grad_compression compression);
void kn__dist_close(kn__dist *d);

/* The one collective through which failures travel. Every rank passes its own status and
 * sums[0..n) (n <= KN_DIST_SUMS; summed across ranks into sums) and a tag naming the
 * point it is at. When any rank failed, each rank returns the lowest failing rank's
 * status with its message ("rank 1 of 2: ..."), the context marked error_shared, and
 * d->done set. Tags that differ (ranks at different points) are a failure too. */
kn_status kn__dist_agree(kn__dist *d, kn_status st, int tag, double *sums, int n);
enum { KN_DIST_TAG_SETUP = 1, KN_DIST_TAG_STEP = 2, KN_DIST_TAG_END = 3, KN_DIST_TAG_LEFT = 4 };

/* x[0..n) from rank 0 to every rank. */
kn_status kn__dist_broadcast(kn__dist *d, float *x, size_t n);
/* Every rank holds the same values v[0..n) (n <= 8), else an error naming what differs. */
kn_status kn__dist_same(kn__dist *d, const int64_t *v, const char *const *names, int n);
/* grad[0..n) summed across ranks (each rank has already weighted its share), in fp32 or,
 * compressed, in fp16 on the wire. The result is identical on every rank. */
kn_status kn__dist_reduce_grad(kn__dist *d, float *grad, size_t n);
/* kn__dist_agree and kn__dist_reduce_grad (fp32) in one MPI_Allreduce: grad[0..n) and,
 * after them in grad's slack (KN_GRAD_SLACK floats), the step's status, tag and sums
 * (n_sums <= 4, summed in fp32: a batch's loss sum and counts). When any rank failed,
 * every rank then meets in kn__dist_agree for the failing rank's message, and grad is
 * not to be used. (One collective a step instead of two: ~50 us of a ~450 us step here.) */
kn_status kn__dist_reduce_step(kn__dist *d, kn_status st, float *grad, size_t n, double *sums, int n_sums);
/* The parameters the forward pass itself changes (batch normalization's moving
 * statistics, which have no gradient): their mean across ranks, so every rank keeps the
 * same parameters. g: the training graph. */
kn_status kn__dist_reduce_state(kn__dist *d, kn_graph *g);

/* Data-parallel training on GPUs: when g is compiled for cuda, the build has NCCL
 * (KILN_HAVE_NCCL), the run has more than one rank and no rank sets KILN_NCCL=0, opens a
 * device communicator in d->nccl: rank 0 makes its id, MPI_Bcast shares it, every rank
 * joins on its GPU. KILN_NCCL=force opens one even alone (a one-rank communicator: the
 * path testable on one GPU). Otherwise nothing: d->nccl stays NULL and the gradients go
 * through the host. Collective: every rank calls it at the same point, after the setup
 * agreement; a failure anywhere (libnccl missing: one line naming it) is every rank's
 * (kn__dist_agree), and ends the fit. fp16 compression applies to the host path only. */
kn_status kn__dist_open_device(kn__dist *d, kn_graph *g);
/* g's gradients times pre_scale (this rank's share of the global batch), summed across the
 * ranks, identical on every rank. With d->nccl: on the device, in place (ncclAllReduce on
 * g's stream); the host gradient buffer is left stale (kn__graph_pull(g, KN_SYNC_GRADS) if
 * the host must read the sum). Without it (the host path, or alone): pulled, scaled,
 * kn__dist_reduce_grad, pushed. Either way the device holds the sum for the update run. */
kn_status kn__dist_reduce_grad_device(kn__dist *d, kn_graph *g, float pre_scale);
/* With d->nccl: rank 0's device parameters and optimizer state to every rank, device to
 * device, then pulled so the host buffers agree (the caller pushes host writes first, and
 * marks g->fold_stale). Without it nothing (KN_OK): kn__dist_broadcast of the host
 * buffers is the host path's. */
kn_status kn__dist_broadcast_device(kn__dist *d, kn_graph *g);

#endif
