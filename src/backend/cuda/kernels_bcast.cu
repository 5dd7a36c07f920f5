/* kernels_bcast.cu — the per-sample broadcasts (graph/ops_bcast.c) on the GPU, what
 * backend/cpu/bcast.c computes, the same bits: a thread an element of x op v; a thread an
 * element of v's gradient, summing its positions, then channels, in the CPU's order. f32. */
#include "launch.h"
#include "device.cuh"

#define THREADS 256
#define MAX_BLOCKS 65535

static unsigned grid_for(int64_t n) {
    int64_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < MAX_BLOCKS ? b : MAX_BLOCKS);
}

/* y[n, q, c] = x[n, q, c] op v[n, q or 0, c or 0] (op: 0 add, 1 sub, 2 rsub, 3 mul) */
__global__ void bcast_binary_kernel(const float *x, const float *v, float *y, int64_t N, int64_t P, int64_t C,
                                    bool pb1, bool cb1, int op) {
    int64_t total = N * P * C, Pb = pb1 ? 1 : P, Cb = cb1 ? 1 : C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % C, r = i / C, q = r % P, n = r / P;
        float a = x[i], b = v[(n * Pb + (pb1 ? 0 : q)) * Cb + (cb1 ? 0 : c)];
        y[i] = op == 0 ? a + b : op == 1 ? a - b : op == 2 ? b - a : a * b;
    }
}

/* out[n, q or 0, c or 0] = the sum over the broadcast axes of d (times w), positions outer */
__global__ void bcast_reduce_kernel(const float *d, const float *w, float *out, int64_t N, int64_t P, int64_t C,
                                    bool pb1, bool cb1) {
    int64_t Pb = pb1 ? 1 : P, Cb = cb1 ? 1 : C, total = N * Pb * Cb;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t cj = i % Cb, r = i / Cb, qj = r % Pb, n = r / Pb;
        int64_t q0 = pb1 ? 0 : qj, q1 = pb1 ? P : qj + 1, c0 = cb1 ? 0 : cj, c1 = cb1 ? C : cj + 1;
        float s = 0.0f;
        for (int64_t q = q0; q < q1; q++)
            for (int64_t c = c0; c < c1; c++) {
                int64_t e = (n * P + q) * C + c;
                s += w ? d[e] * w[e] : d[e];
            }
        out[i] = s;
    }
}

extern "C" cudaError_t kn__cu_bcast_binary(cudaStream_t s, const float *x, const float *v, float *y, int64_t N,
                                           int64_t P, int64_t C, bool pb1, bool cb1, int op) {
    int64_t total = N * P * C;
    if (total > 0) bcast_binary_kernel<<<grid_for(total), THREADS, 0, s>>>(x, v, y, N, P, C, pb1, cb1, op);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_bcast_reduce(cudaStream_t s, const float *d, const float *w, float *out, int64_t N,
                                           int64_t P, int64_t C, bool pb1, bool cb1) {
    int64_t total = N * (pb1 ? 1 : P) * (cb1 ? 1 : C);
    if (total > 0) bcast_reduce_kernel<<<grid_for(total), THREADS, 0, s>>>(d, w, out, N, P, C, pb1, cb1);
    return cudaGetLastError();
}
