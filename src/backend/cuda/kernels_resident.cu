/* kernels_resident.cu — the resident training step's own kernels (backend.h's
 * KN_RUN_RESIDENT; run.c enqueues them around the graph's nodes): the batch gathered
 * from the tables on the device, the step's figures counted after the loss, and the guard
 * that stops every update once the loss or a gradient is non-finite. The host version of
 * the same three steps is backend/resident_host.c; the figures are summed in step order in
 * one thread (double for the loss, as fit sums them), so they equal the host loop's. */
#include "launch.h"
#include "device.cuh"
#include "resident.cuh"
#include "augment.cuh"

#define THREADS KN_CU_GUARD_THREADS


/* ------------------------------------------------------------- the run's start: the batch */

/* The run's first kernel, one launch for every table: block (i, part, k) copies batch row i
 * of table k, table row order[first + i] (row_bytes[k]) to the input's row i, its words
 * part, part + gridDim.y, ... in blockDim-sized runs (one part for rows of a few KB, more
 * for a long row, as a whole input bound as one row); in 16-byte words when every row
 * starts 16-byte aligned (the tables and the arena's tensors are 64-byte aligned, so
 * row_bytes % 16 == 0 says it), else 4-byte words, else bytes. With set.draws, a training
 * run's table 0 rows are images augmented element by element (augment.cuh) from the stored
 * row and its draws.
 * Thread 0 of block (0, 0, 0) also starts the step (resident.cuh's start_step; nothing
 * else reads what it writes before this kernel ends). */
__global__ void resident_start_kernel(kn__cuda_step *stp, kn__cuda_resident *r, float *seed, kn__cuda_gather_set set,
                                      const int32_t *order, const kn__cuda_step *ring) {
    /* the run's values: its ring slot (mapped host memory, which the host filled before the
     * launch and fills again only after the stream synchronized) or the copy in stp */
    kn__pdl_trigger(); /* (the chain after it, with KILN_CUDA_PDL=1, may start launching) */
    __shared__ int64_t row; /* the table row: one read of the step's values a block, not one a warp */
    __shared__ bool augment; /* a training run's image rows: augmented (an evaluation's stay as stored) */
    int k = blockIdx.z;
    int64_t i = blockIdx.x, row_bytes = set.row_bytes[k];
    if (threadIdx.x == 0) {
        const kn__cuda_step *src = ring ? ring + r->ring_pos : stp;
        row = order[src->first + i]; /* (first: which start_step never changes) */
        augment = k == 0 && set.draws && src->training;
        if (blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0)
            start_step(stp, src, r, seed); /* (with the ring, no other block reads stp) */
    }
    __syncthreads();
    const uint8_t *from = set.table[k] + row * row_bytes;
    const bool narrow = k == 0 && set.dst0_dtype != KN_F32; /* (f32 rows to a half input) */
    uint8_t *to = set.dst[k] + i * (k == 0 ? set.dst0_row_bytes : row_bytes);
    int64_t start = (int64_t)blockIdx.y * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.y * blockDim.x;
    if (augment) {
        const kn__cu_augment_draw d = set.draws[row];
        for (int64_t e = start; e < row_bytes / 4; e += stride)
            kn__st(to, set.dst0_dtype, e, kn__aug_element((const float *)from, d, set.aug_h, set.aug_w, set.aug_c, e, set.aug_sigma));
    } else if (narrow) {
        for (int64_t e = start; e < row_bytes / 4; e += stride) kn__st(to, set.dst0_dtype, e, ((const float *)from)[e]);
    } else if (row_bytes % 16 == 0) {
        for (int64_t w = start; w < row_bytes / 16; w += stride) ((uint4 *)to)[w] = ((const uint4 *)from)[w];
    } else if (row_bytes % 4 == 0) {
        for (int64_t w = start; w < row_bytes / 4; w += stride) ((uint32_t *)to)[w] = ((const uint32_t *)from)[w];
    } else {
        for (int64_t w = start; w < row_bytes; w += stride) to[w] = from[w];
    }
}

extern "C" cudaError_t kn__cu_resident_start(cudaStream_t s, kn__cuda_step *step, kn__cuda_resident *r, float *seed,
                                             const kn__cuda_gather_set *set, int n_tables, const int32_t *order,
                                             int64_t rows, const kn__cuda_step *ring) {
    if (rows < 1 || n_tables < 1 || n_tables > 4) return cudaErrorInvalidValue;
    int64_t parts = 1;
    for (int k = 0; k < n_tables; k++) { /* the longest row's: 16 words a thread */
        int64_t b = set->row_bytes[k], words = b % 16 == 0 ? b / 16 : b % 4 == 0 ? b / 4 : b;
        int64_t p = (words + 16 * THREADS - 1) / (16 * THREADS);
        parts = p > parts ? p : parts;
    }
    dim3 grid((unsigned)rows, (unsigned)(parts > 65535 ? 65535 : parts), (unsigned)n_tables);
    resident_start_kernel<<<grid, THREADS, 0, s>>>(step, r, seed, *set, order, ring);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- the step's figures */

/* An evaluation's figures (a training step counts in its guard_kernel). */
__global__ void resident_count_kernel(const kn__cuda_step *stp, kn__cuda_resident *r, kn__cuda_count q, bool training) {
    __shared__ double part[THREADS];
    __shared__ int failed;
    count_step(stp, r, &q, training, part, &failed);
}

extern "C" cudaError_t kn__cu_resident_count(cudaStream_t s, const kn__cuda_step *step, kn__cuda_resident *r,
                                             const kn__cuda_count *q, bool training) {
    resident_count_kernel<<<1, THREADS, 0, s>>>(step, r, *q, training);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- the guard */

/* The guard in one launch: every block checks its share of the gradients (any non-finite
 * one sets r->grad_bad; nothing to find once a step failed), then guard_finish. */
/* This thread's share of grad[0..n) (a grid-stride loop): whether any is not finite; eight
 * at a time (16-byte loads, no early exit to wait on), the rest one by one. */
__device__ static bool thread_finds_nonfinite(const float *grad, int64_t n) {
    bool bad = false;
    int64_t chunks = kn__aligned16(grad) ? n / 8 : 0, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < chunks; c += stride) {
        float v[8];
        kn__ld8(grad, KN_F32, c, v);
        for (int k = 0; k < 8; k++) bad |= !isfinite(v[k]);
    }
    for (int64_t i = chunks * 8 + blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += stride)
        bad |= !isfinite(grad[i]);
    return bad;
}

__global__ void guard_kernel(kn__cuda_step *stp, kn__cuda_resident *r, const float *grad, int64_t n, kn__cuda_count q) {
    bool bad = r->failed_step < 0 && thread_finds_nonfinite(grad, n); /* (nothing to find once a step failed) */
    guard_finish(stp, r, &q, bad);
}

extern "C" cudaError_t kn__cu_resident_guard(cudaStream_t s, kn__cuda_step *step, kn__cuda_resident *r,
                                             const float *grad, int64_t n, const kn__cuda_count *q) {
    int64_t b = (n / 8 + THREADS - 1) / THREADS;
    guard_kernel<<<(unsigned)(b < 1 ? 1 : b > 1024 ? 1024 : b), THREADS, 0, s>>>(step, r, grad, n, *q);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- gradient accumulation */

/* The batch's gradient into the group's sum, as fit's host loop and the host resident step
 * (resident_host.c) compute it: fmaf(rows, grad, acc); the group's last batch then takes
 * the sum times 1 / the group's rows as its gradient. */
__global__ void grad_accumulate_kernel(const kn__cuda_step *stp, float *grad, float *acc, int64_t n, float rows,
                                       bool update) {
    if (stp->skip) return; /* (a failed step: nothing changes any more) */
    float scale = stp->acc_scale;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float sum = fmaf(rows, grad[i], acc[i]);
        if (update) grad[i] = sum * scale, acc[i] = 0.0f;
        else acc[i] = sum;
    }
}

extern "C" cudaError_t kn__cu_grad_accumulate(cudaStream_t s, const kn__cuda_step *step, float *grad, float *acc,
                                              int64_t n, float rows, bool update) {
    int64_t b = (n + THREADS - 1) / THREADS;
    grad_accumulate_kernel<<<(unsigned)(b < 1 ? 1 : b > 1024 ? 1024 : b), THREADS, 0, s>>>(step, grad, acc, n, rows, update);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- the gradients' check alone */

/* fit's non-finite check of a non-resident step (its NCCL path): guard_kernel's scan, the
 * answer one word. */
__global__ void find_nonfinite_kernel(const float *grad, int64_t n, int32_t *flag) {
    if (thread_finds_nonfinite(grad, n)) *flag = 1; /* (every writer writes 1) */
}

extern "C" cudaError_t kn__cu_find_nonfinite(cudaStream_t s, const float *grad, int64_t n, int32_t *flag) {
    int64_t b = (n / 8 + THREADS - 1) / THREADS;
    find_nonfinite_kernel<<<(unsigned)(b < 1 ? 1 : b > 1024 ? 1024 : b), THREADS, 0, s>>>(grad, n, flag);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- data parallel inside the step */

/* This rank's share of the step's rows, as fit's host path scales it (kn__cu_scale's x * f):
 * the gradients and the verdict after them. */
__global__ void grad_share_kernel(const kn__cuda_step *stp, float *grad, int64_t n) {
    float f = stp->grad_share;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        grad[i] = grad[i] * f;
}

static_assert(sizeof(kn__cuda_step) % sizeof(uint32_t) == 0, "ring_take_kernel moves a slot as 32-bit words");

/* launch.h's kn__cu_ring_take: one block, the slots' 32-bit words a thread each in turn. */
__global__ void ring_take_kernel(kn__cuda_step *copy, const kn__cuda_step *ring, const kn__cuda_resident *r, int steps) {
    const int words = (int)(sizeof(kn__cuda_step) / sizeof(uint32_t));
    int first = r->ring_pos;
    for (int i = (int)threadIdx.x; i < steps * words; i += (int)blockDim.x) {
        int slot = (first + i / words) % KN_CUDA_STEP_RING;
        ((uint32_t *)(copy + slot))[i % words] = kn__ld_fresh((const uint32_t *)(ring + slot) + i % words);
    }
}

extern "C" cudaError_t kn__cu_ring_take(cudaStream_t s, kn__cuda_step *copy, const kn__cuda_step *ring,
                                        const kn__cuda_resident *r, int steps) {
    ring_take_kernel<<<1, THREADS, 0, s>>>(copy, ring, r, steps < KN_CUDA_STEP_RING ? steps : KN_CUDA_STEP_RING);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_grad_share(cudaStream_t s, const kn__cuda_step *step, float *grad, int64_t n) {
    int64_t b = (n + THREADS - 1) / THREADS;
    grad_share_kernel<<<(unsigned)(b < 1 ? 1 : b > 1024 ? 1024 : b), THREADS, 0, s>>>(step, grad, n);
    return cudaGetLastError();
}

/* The decision after the all-reduce, the same on every rank (the sum is): the blocks scan
 * it as guard_kernel does, the last to finish (guard_done, after a fence) records the
 * failure once (its kind this rank's local_what: a rank whose own loss was not finite says
 * so, the others that a gradient was not) and sets step->skip for good. */
__global__ void sum_guard_kernel(kn__cuda_step *stp, kn__cuda_resident *r, const float *grad, int64_t n, const float *loss) {
    __shared__ bool last;
    bool bad = r->failed_step < 0 && thread_finds_nonfinite(grad, n);
    if (bad) kn__flag_raise(&r->grad_bad);
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&r->guard_done, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last || threadIdx.x != 0) return;
    r->guard_done = 0;
    if (r->failed_step < 0 && *(volatile int32_t *)&r->grad_bad) {
        r->failed_step = stp->step;
        r->failed_first = stp->first;
        r->failed_what = r->local_what == 1 ? 1 : 2;
        r->failed_loss = *loss;
    }
    r->grad_bad = 0;
    if (r->failed_step >= 0) stp->skip = 1;
}

extern "C" cudaError_t kn__cu_sum_guard(cudaStream_t s, kn__cuda_step *step, kn__cuda_resident *r, const float *grad,
                                        int64_t n, const float *loss) {
    int64_t b = (n / 8 + THREADS - 1) / THREADS;
    sum_guard_kernel<<<(unsigned)(b < 1 ? 1 : b > 1024 ? 1024 : b), THREADS, 0, s>>>(step, r, grad, n, loss);
    return cudaGetLastError();
}
