/* kernels_mask.cu — the masked mean (KN_OP_MASKED_MEAN, GlobalAveragePooling1D given a mask)
 * and its gradient on the GPU, what backend/cpu/masked_mean.c computes, the same bits: a
 * block a sample counts the steps its mask keeps (> 0.5), then its threads take the
 * channels (the mean: each channel's sum over the kept steps in step order, times 1 / kept)
 * or the elements (the gradient: dy / kept at kept steps, 0 at the others). A sample whose
 * mask keeps nothing gets zeros in both. f32 only (half_support.c lists neither op). */
#include "launch.h"
#include "device.cuh"

#define THREADS 256
#define MAX_BLOCKS 65535 /* samples past this many blocks: each block takes more (a stride) */

static unsigned blocks_for(int64_t n) { return (unsigned)(n < MAX_BLOCKS ? n : MAX_BLOCKS); }

/* 1 / the steps mask (T) keeps, 0 when none (the CPU's inv_kept), by the whole block: the
 * count summed exactly as doubles through part (33 doubles of shared memory). */
__device__ static inline float inv_kept(const float *mask, int64_t T, double *part) {
    double kept = 0.0;
    for (int64_t s = threadIdx.x; s < T; s += blockDim.x) kept += mask[s] > 0.5f ? 1.0 : 0.0;
    kept = kn__block_sum_double(kept, part);
    return kept > 0.0 ? 1.0f / (float)(int64_t)kept : 0.0f;
}

/* y (N, C): channel c of sample n the sum of x (N, T*C)'s kept steps, in step order, times 1 / kept */
__global__ void masked_mean_kernel(const float *x, const float *mask, float *y, int64_t N, int64_t T, int64_t C) {
    __shared__ double part[33];
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const float *m = mask + n * T, *xs = x + n * T * C;
        float inv = inv_kept(m, T, part);
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
            float sum = 0.0f;
            for (int64_t s = 0; s < T; s++)
                if (m[s] > 0.5f) sum += xs[s * C + c];
            y[n * C + c] = sum * inv;
        }
    }
}

/* dx (N, T*C): dy (N, C) times 1 / kept at the kept steps, 0 at the others */
__global__ void masked_mean_grad_kernel(const float *dy, const float *mask, float *dx, int64_t N, int64_t T,
                                        int64_t C) {
    __shared__ double part[33];
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const float *m = mask + n * T, *d = dy + n * C;
        float inv = inv_kept(m, T, part), *out = dx + n * T * C;
        for (int64_t e = threadIdx.x; e < T * C; e += blockDim.x) {
            int64_t s = e / C, c = e - s * C;
            out[e] = m[s] > 0.5f ? d[c] * inv : 0.0f;
        }
    }
}

extern "C" cudaError_t kn__cu_masked_mean(cudaStream_t s, const float *x, const float *mask, float *y, int64_t N,
                                          int64_t T, int64_t C) {
    if (N > 0 && C > 0) masked_mean_kernel<<<blocks_for(N), THREADS, 0, s>>>(x, mask, y, N, T, C);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_masked_mean_grad(cudaStream_t s, const float *dy, const float *mask, float *dx, int64_t N,
                                               int64_t T, int64_t C) {
    if (N > 0 && T > 0 && C > 0) masked_mean_grad_kernel<<<blocks_for(N), THREADS, 0, s>>>(dy, mask, dx, N, T, C);
    return cudaGetLastError();
}

/* Keras's Masking's mask (KN_OP_MASK_VALUES): y (N*T) 1 where step s of x (N*T, C) has a
 * value other than v (NaN: kept), a thread a step; the CPU's bits. */
__global__ void mask_values_kernel(const float *x, float *y, int64_t steps, int64_t C, float v) {
    for (int64_t s = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; s < steps; s += (int64_t)gridDim.x * blockDim.x) {
        bool kept = false;
        for (int64_t c = 0; c < C && !kept; c++) kept = !(x[s * C + c] == v);
        y[s] = kept ? 1.0f : 0.0f;
    }
}

extern "C" cudaError_t kn__cu_mask_values(cudaStream_t s, const float *x, float *y, int64_t steps, int64_t C, float v) {
    if (steps > 0) mask_values_kernel<<<blocks_for((steps + THREADS - 1) / THREADS), THREADS, 0, s>>>(x, y, steps, C, v);
    return cudaGetLastError();
}
