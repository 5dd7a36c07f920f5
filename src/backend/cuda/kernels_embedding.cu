/* kernels_embedding.cu — the gather op (an embedding lookup) and its gradient on the GPU,
 * as backend/cpu/embedding.c computes them: an index value that names no row (negative,
 * too large, a fraction, NaN) gives a row of zeros and adds nothing, so no kernel reads or
 * writes outside the table. The scatter-add is deterministic, without atomics: each
 * (row, column) of the gradient has one owner thread, which zeroes it and adds every dy
 * element aimed at it in index order, exactly the CPU's sums (the same bits). A block
 * owns a range of rows; it reads the indices a chunk at a time, keeps (in order) those
 * that fall in its range, and its threads add their rows'/columns' parts. f32 only. */
#include "launch.h"
#include "device.cuh"

#define THREADS 256
#define CHUNK THREADS /* indices a block reads at a time: one a thread */

#define blocks_for(n) kn__cu_blocks_for((n), THREADS) /* (device.cuh) */
#define GRID_STRIDE(i, n) KN_CU_GRID_STRIDE(i, n)

/* graph.h's kn__gather_row: f when a whole number in [0, rows), else -1. */
__device__ __forceinline__ int64_t gather_row(float f, int64_t rows) {
    return f >= 0.0f && f < (float)rows && f == (float)(int32_t)f ? (int64_t)f : -1;
}

/* y (n, D): row idx[i] of table (V, D), or zeros */
__global__ void gather_kernel(const float *idx, const float *table, float *y, int64_t n, int64_t rows, int64_t cols) {
    GRID_STRIDE(e, n * cols) {
        int64_t i = e / cols, c = e - i * cols, v = gather_row(idx[i], rows);
        y[e] = v >= 0 ? table[v * cols + c] : 0.0f;
    }
}

extern "C" cudaError_t kn__cu_gather(cudaStream_t s, const float *idx, const float *table, float *y, int64_t n,
                                     int64_t rows, int64_t cols) {
    if (n > 0 && cols > 0) gather_kernel<<<blocks_for(n * cols), THREADS, 0, s>>>(idx, table, y, n, rows, cols);
    return cudaGetLastError();
}

/* out (V, D) = the sum over i of dy row i into row idx[i]. Block b owns rows [v0, v1) =
 * [b per, (b + 1) per); its threads are `lanes` groups of `width` columns (width =
 * min(D, THREADS)): thread (lane, c) owns the elements (v, c + k width) of the rows v with
 * (v - v0) % lanes == lane. Per chunk of CHUNK indices: each thread checks one index, a
 * warp prefix sum and the warps' offsets place the block's matches in index order in
 * shared memory, then every thread walks that list adding to what it owns. */
__global__ void gather_grad_kernel(const float *dy, const float *idx, float *out, int64_t n, int64_t rows, int64_t cols,
                                   int64_t per) {
    __shared__ int64_t pos[CHUNK];          /* the chunk's matches: index positions, in order */
    __shared__ int warp_base[THREADS / 32 + 1]; /* each warp's first slot in pos; [last] the count */
    int64_t v0 = (int64_t)blockIdx.x * per, v1 = v0 + per < rows ? v0 + per : rows;
    int width = cols < THREADS ? (int)cols : THREADS, lanes = THREADS / width;
    int lane = (int)threadIdx.x / width, c0 = (int)threadIdx.x - lane * width;
    bool owner = lane < lanes;
    if (owner)
        for (int64_t v = v0 + lane; v < v1; v += lanes)
            for (int64_t c = c0; c < cols; c += width) out[v * cols + c] = 0.0f;
    int wl = (int)threadIdx.x & 31, warp = (int)threadIdx.x >> 5;
    for (int64_t base = 0; base < n; base += CHUNK) {
        int64_t i = base + threadIdx.x, v = i < n ? gather_row(idx[i], rows) : -1;
        int hit = v >= v0 && v < v1, before = hit; /* inclusive prefix of hits within the warp */
        for (int d = 1; d < 32; d <<= 1) {
            int o = __shfl_sync(0xffffffffu, before, wl >= d ? wl - d : wl);
            if (wl >= d) before += o;
        }
        __syncthreads(); /* the last chunk's readers of pos and warp_base are done */
        if (wl == 31) warp_base[warp] = before; /* the warp's count */
        __syncthreads();
        if (threadIdx.x == 0) { /* counts to offsets, in warp order */
            int sum = 0;
            for (int w = 0; w < THREADS / 32; w++) {
                int k = warp_base[w];
                warp_base[w] = sum;
                sum += k;
            }
            warp_base[THREADS / 32] = sum;
        }
        __syncthreads();
        if (hit) pos[warp_base[warp] + before - 1] = i;
        __syncthreads();
        int m = warp_base[THREADS / 32];
        if (!owner) continue;
        for (int k = 0; k < m; k++) {
            int64_t p = pos[k], r = gather_row(idx[p], rows);
            if ((r - v0) % lanes != lane) continue;
            for (int64_t c = c0; c < cols; c += width) out[r * cols + c] += dy[p * cols + c];
        }
    }
}

extern "C" cudaError_t kn__cu_gather_grad(cudaStream_t s, const float *dy, const float *idx, float *out, int64_t n,
                                          int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return cudaGetLastError();
    /* blocks: enough to fill the GPU (each reads every index once), at most a row each
     * lane group; every block gets at least `lanes` rows unless the table is smaller */
    int64_t width = cols < THREADS ? cols : THREADS, lanes = THREADS / width;
    int64_t per = (rows + 511) / 512;
    if (per < lanes) per = lanes;
    int64_t blocks = (rows + per - 1) / per;
    gather_grad_kernel<<<(unsigned)blocks, THREADS, 0, s>>>(dy, idx, out, n, rows, cols, per);
    return cudaGetLastError();
}
