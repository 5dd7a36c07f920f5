/* kernels_resident.cu — the resident training step's own kernels (backend.h's
 * KN_RUN_RESIDENT; runtime.c enqueues them around the graph's nodes): the batch gathered
 * from the tables on the device, the step's figures counted after the loss, and the guard
 * that stops every update once the loss or a gradient is non-finite. The host version of
 * the same three steps is backend/resident_host.c; the figures are summed in step order in
 * one thread (double for the loss, as fit sums them), so they equal the host loop's. */
#include "launch.h"
#include "device.cuh"

#define THREADS 256

/* ------------------------------------------------------------- the run's start */

/* One thread, the run's first kernel: after a failed step nothing changes any more (the
 * optimizer and batch norm's moving statistics read step->skip). fp16: updates skipped
 * since the host last read the figures are taken out of the step counts (Adam's t and the
 * dropout key count updates taken, as in the host loop), and the scale goes to the backward
 * seed and the update's unscale (powers of two: exact). */
__global__ void resident_begin_kernel(kn__cuda_step *stp, const kn__cuda_resident *r, float *seed) {
    stp->skip = r->failed_step >= 0;
    int64_t unseen = r->skipped - stp->skipped_known;
    stp->step -= unseen;
    stp->rng_step -= unseen;
    if (r->scaling && seed) {
        *seed = r->scale;
        stp->grad_unscale = 1.0f / r->scale;
    }
}

extern "C" cudaError_t kn__cu_resident_begin(cudaStream_t s, kn__cuda_step *step, const kn__cuda_resident *r,
                                             float *seed) {
    resident_begin_kernel<<<1, 1, 0, s>>>(step, r, seed);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- gather */

/* Block (i, part): batch row i, table row order[first + i] (row_bytes) to dst row i, its
 * words part, part + gridDim.y, ... in blockDim-sized runs (one part for rows of a few KB,
 * more for a long row, as a whole input bound as one row); in 16-byte words when every row
 * starts 16-byte aligned (the tables and the arena's tensors are 64-byte aligned, so
 * row_bytes % 16 == 0 says it), else 4-byte words, else bytes. */
__global__ void gather_rows_kernel(const kn__cuda_step *stp, const uint8_t *table, const int32_t *order, uint8_t *dst,
                                   int64_t row_bytes) {
    int64_t i = blockIdx.x;
    const uint8_t *from = table + (int64_t)order[stp->first + i] * row_bytes;
    uint8_t *to = dst + i * row_bytes;
    int64_t start = (int64_t)blockIdx.y * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.y * blockDim.x;
    if (row_bytes % 16 == 0) {
        for (int64_t w = start; w < row_bytes / 16; w += stride) ((uint4 *)to)[w] = ((const uint4 *)from)[w];
    } else if (row_bytes % 4 == 0) {
        for (int64_t w = start; w < row_bytes / 4; w += stride) ((uint32_t *)to)[w] = ((const uint32_t *)from)[w];
    } else {
        for (int64_t w = start; w < row_bytes; w += stride) to[w] = from[w];
    }
}

extern "C" cudaError_t kn__cu_gather_rows(cudaStream_t s, const kn__cuda_step *step, const void *table,
                                          const int32_t *order, void *dst, int64_t rows, int64_t row_bytes) {
    if (rows > 0 && row_bytes > 0) {
        int64_t words = row_bytes % 16 == 0 ? row_bytes / 16 : row_bytes % 4 == 0 ? row_bytes / 4 : row_bytes;
        unsigned threads = words >= THREADS ? THREADS : (unsigned)((words + 31) / 32 * 32);
        int64_t parts = (words + 16 * THREADS - 1) / (16 * THREADS); /* 16 words a thread */
        dim3 grid((unsigned)rows, (unsigned)(parts < 1 ? 1 : parts > 65535 ? 65535 : parts));
        gather_rows_kernel<<<grid, threads, 0, s>>>(step, (const uint8_t *)table, order, (uint8_t *)dst, row_bytes);
    }
    return cudaGetLastError();
}

/* ------------------------------------------------------------- the step's figures */

/* One block: the loss checked by thread 0 (a failure recorded once, with the step and
 * position of the run), then, unless this or an earlier step failed, each row's prediction
 * against its label (the argmax, the first of equal maxima as the host takes it; or
 * > threshold for one output), counted per thread and summed in a fixed order. */
__global__ void resident_count_kernel(const kn__cuda_step *stp, kn__cuda_resident *r, const float *loss,
                                      const void *out, int out_t, int64_t outs, float threshold, const int32_t *labels,
                                      const int32_t *order, int64_t rows) {
    __shared__ double part[THREADS];
    __shared__ int failed;
    if (threadIdx.x == 0) {
        float l = *loss;
        if (r->failed_step < 0 && !isfinite(l)) {
            r->failed_step = stp->step;
            r->failed_first = stp->first;
            r->failed_what = 1;
            r->failed_loss = l;
        }
        failed = r->failed_step >= 0;
        if (!failed) {
            r->loss_sum += (double)l * (double)rows;
            r->rows += rows;
        }
    }
    __syncthreads();
    if (failed || !labels) return;
    double n = 0;
    for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) {
        int32_t label = labels[order[stp->first + i]], best = 0;
        if (outs == 1) {
            best = kn__ld(out, out_t, i) > threshold;
        } else {
            float v = kn__ld(out, out_t, i * outs);
            for (int64_t j = 1; j < outs; j++) {
                float u = kn__ld(out, out_t, i * outs + j);
                if (u > v) v = u, best = (int32_t)j;
            }
        }
        n += best == label;
    }
    n = kn__block_sum_double(n, part);
    if (threadIdx.x == 0) r->correct += (int64_t)n;
}

extern "C" cudaError_t kn__cu_resident_count(cudaStream_t s, const kn__cuda_step *step, kn__cuda_resident *r,
                                             const float *loss, const void *out, int out_t, int64_t outs,
                                             float threshold, const int32_t *labels, const int32_t *order,
                                             int64_t rows) {
    resident_count_kernel<<<1, THREADS, 0, s>>>(step, r, loss, out, out_t, outs, threshold, labels, order, rows);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- the guard */

/* Any non-finite gradient sets r->grad_bad (every writer stores the same 1). */
__global__ void grad_check_kernel(const kn__cuda_resident *rc, kn__cuda_resident *r, const float *grad, int64_t n) {
    if (rc->failed_step >= 0) return; /* failed already: nothing to find */
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        if (!isfinite(grad[i])) {
            r->grad_bad = 1;
            return;
        }
}

/* One thread: a failure recorded once; the update skipped from then on. With loss
 * scaling (resident_host.c's guard, loss_scale.c's rules): an overflow halves the scale and
 * skips this update, or at the smallest scale fails (3); interval clean updates in a row
 * double it, up to the largest. */
__global__ void guard_decide_kernel(kn__cuda_step *stp, kn__cuda_resident *r, const float *loss) {
    bool bad = r->grad_bad;
    r->grad_bad = 0;
    if (r->failed_step < 0 && r->scaling) {
        if (!bad) {
            if (++r->good >= r->interval) {
                r->good = 0;
                if (r->scale < 16777216.0f) r->scale *= 2.0f;
            }
        } else {
            r->good = 0;
            if (r->scale > 1.0f) {
                r->scale *= 0.5f;
                r->skipped++;
                stp->skip = 1;
                return;
            }
        }
    }
    if (r->failed_step < 0 && bad) {
        r->failed_step = stp->step;
        r->failed_first = stp->first;
        r->failed_what = r->scaling ? 3 : 2;
        r->failed_loss = *loss;
    }
    if (r->failed_step >= 0) stp->skip = 1;
}

extern "C" cudaError_t kn__cu_resident_guard(cudaStream_t s, kn__cuda_step *step, kn__cuda_resident *r,
                                             const float *grad, int64_t n, const float *loss) {
    if (n > 0) {
        int64_t b = (n + THREADS - 1) / THREADS;
        grad_check_kernel<<<(unsigned)(b > 1024 ? 1024 : b), THREADS, 0, s>>>(r, r, grad, n);
    }
    guard_decide_kernel<<<1, 1, 0, s>>>(step, r, loss);
    return cudaGetLastError();
}
