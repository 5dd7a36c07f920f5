/* kernels_permute.cu — KN_OP_PERMUTE on the GPU (graph/ops_permute.c), what
 * backend/cpu/permute.c computes: a thread an element of y, read from x through the strides
 * of the axes it permutes. f32; a copy, so the CPU's bits. */
#include "launch.h"

#define THREADS 256
#define MAX_BLOCKS 65535

__global__ void permute_kernel(const float *x, float *y, int64_t total, int64_t o1, int64_t o2, int64_t f0, int64_t f1,
                               int64_t f2, int64_t per) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t i2 = i % o2, r = i / o2, i1 = r % o1, s = r / o1;
        int64_t n = s / (per / (o1 * o2)), i0 = s % (per / (o1 * o2));
        y[i] = x[n * per + i0 * f0 + i1 * f1 + i2 * f2];
    }
}

extern "C" cudaError_t kn__cu_permute(cudaStream_t s, const float *x, float *y, int64_t n, const int64_t out[3],
                                      const int64_t from[3]) {
    int64_t per = out[0] * out[1] * out[2], total = n * per;
    if (total <= 0) return cudaGetLastError();
    int64_t blocks = (total + THREADS - 1) / THREADS;
    permute_kernel<<<(unsigned)(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS), THREADS, 0, s>>>(
        x, y, total, out[1], out[2], from[0], from[1], from[2], per);
    return cudaGetLastError();
}
