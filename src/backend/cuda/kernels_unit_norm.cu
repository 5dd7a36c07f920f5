/* kernels_unit_norm.cu — KN_OP_UNIT_NORM and its gradient on the GPU (graph/ops_unit_norm.c),
 * cpu/unitnorm.c's arithmetic: a thread a row, its sums in double in order (the CPU's bits).
 * f32. */
#include "launch.h"

#define THREADS 256
#define MAX_BLOCKS 65535

__global__ void unit_norm_kernel(const float *x, const float *dy, float *out, int64_t rows, int64_t c, float eps) {
    for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x) {
        const float *xr = x + r * c;
        double s = 0;
        for (int64_t i = 0; i < c; i++) s += (double)xr[i] * xr[i];
        bool floored = !(s > (double)eps);
        double inv = 1.0 / sqrt(floored ? (double)eps : s);
        if (!dy) {
            float f = (float)inv;
            for (int64_t i = 0; i < c; i++) out[r * c + i] = xr[i] * f;
            continue;
        }
        const float *d = dy + r * c;
        double yd = 0;
        if (!floored)
            for (int64_t i = 0; i < c; i++) yd += xr[i] * inv * d[i];
        for (int64_t i = 0; i < c; i++) out[r * c + i] = (float)(inv * (d[i] - xr[i] * inv * yd));
    }
}

extern "C" cudaError_t kn__cu_unit_norm(cudaStream_t s, const float *x, const float *dy, float *out, int64_t rows,
                                        int64_t c, float eps) {
    if (rows > 0 && c > 0) {
        int64_t blocks = (rows + THREADS - 1) / THREADS;
        unit_norm_kernel<<<(unsigned)(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS), THREADS, 0, s>>>(x, dy, out, rows, c, eps);
    }
    return cudaGetLastError();
}
