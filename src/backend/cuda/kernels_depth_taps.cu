/* kernels_depth_taps.cu — KN_OP_DEPTH_TAPS and its gradient on the GPU (graph/ops_depth_taps.c),
 * what backend/cpu/depth_taps.c computes: a thread an element of the output; the gradient's
 * thread sums its taps in tap order, as the CPU does, so the CPU's bits. f32. */
#include "launch.h"

#define THREADS 256
#define MAX_BLOCKS 65535

/* (n, d, taps, stride, dilation, front, od, hw, c) */
struct depth_geom {
    int64_t n, d, taps, stride, dilation, front, od, hw, c;
};

__global__ void depth_taps_kernel(const float *x, float *y, depth_geom q, int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % q.c, t = i / q.c % q.taps, cell = i / (q.c * q.taps);
        int64_t pos = cell % q.hw, od = cell / q.hw % q.od, n = cell / (q.hw * q.od);
        int64_t d = od * q.stride + t * q.dilation - q.front;
        y[i] = d >= 0 && d < q.d ? x[((n * q.d + d) * q.hw + pos) * q.c + c] : 0.0f;
    }
}

__global__ void depth_taps_grad_kernel(const float *dy, float *dx, depth_geom q, int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % q.c, cell = i / q.c;
        int64_t pos = cell % q.hw, d = cell / q.hw % q.d, n = cell / (q.hw * q.d);
        float s = 0.0f;
        for (int64_t t = 0; t < q.taps; t++) {
            int64_t at = d + q.front - t * q.dilation;
            if (at < 0 || at % q.stride) continue;
            int64_t od = at / q.stride;
            if (od < q.od) s += dy[(((n * q.od + od) * q.hw + pos) * q.taps + t) * q.c + c];
        }
        dx[i] = s;
    }
}

extern "C" cudaError_t kn__cu_depth_taps(cudaStream_t s, const float *src, float *dst, const int64_t g[9], bool grad) {
    depth_geom q = {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8]};
    int64_t total = grad ? q.n * q.d * q.hw * q.c : q.n * q.od * q.hw * q.taps * q.c;
    if (total <= 0) return cudaGetLastError();
    int64_t blocks = (total + THREADS - 1) / THREADS;
    unsigned grid = (unsigned)(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS);
    if (grad) depth_taps_grad_kernel<<<grid, THREADS, 0, s>>>(src, dst, q, total);
    else depth_taps_kernel<<<grid, THREADS, 0, s>>>(src, dst, q, total);
    return cudaGetLastError();
}
