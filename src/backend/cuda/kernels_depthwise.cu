/* kernels_depthwise.cu — the depthwise convolution (graph.h's KN_OP_DEPTHWISE_CONV2D,
 * Keras's DepthwiseConv2D) and its gradients on the GPU, what backend/cpu/depthwise.c
 * computes; w->c input channels, w->f = C*M output channels, M = f / c:
 *
 *   forward      a thread per y element (n, oy, ox, c*M + m): its taps in (ky, kx) order,
 *                then the fused bias and activation (the fuse pass's) when there are any
 *   grad input   a thread per dx element (n, iy, ix, c): a gather over the output positions
 *                whose windows read the cell, taps in (ky, kx) order, each tap's M products
 *                summed before it is added (the CPU's order)
 *   grad kernel  a block per (tap, chunk of 32 columns, part of the output positions): its
 *                8 lanes of 32 threads sum every 8th position of the part in order, then lane
 *                0 adds the 8 sums in lane order; with more than one part, a second kernel
 *                adds the parts' sums in part order (ws). Parts are fixed by the shape alone
 *
 * No atomics: every element is summed by one thread in a fixed order, so a replay gives the
 * same bits as the launches. Each kernel has a 32-bit instance (int indices, the cheaper
 * divisions) taken when every index it forms fits, and a 64-bit one otherwise or under
 * KILN_CUDA_INDEX64=1 (w->index64), with the same order of operations: the same bits.
 * f32 only (half_support.c lists none of the three). */
#include "launch.h"
#include "device.cuh"

#define THREADS 256
#define DW_LANES (THREADS / 32) /* the kernel gradient's position lanes a block */
/* Output positions a part of the kernel gradient sums at least, and the most parts. */
#define DW_PART_POSITIONS 1024
#define DW_MAX_PARTS 64

#define blocks_for(n) kn__cu_blocks_for((n), THREADS) /* (device.cuh) */

static bool fits32(int64_t v) { return v >= 0 && v <= INT32_MAX; }

/* Every index the 32-bit kernels form for w stays below 2^31: x's and dx's elements, y's and
 * dy's (the launch's grid-stride index one grid past them), the kernel's, and a window's
 * reach in rows and columns ((o + 1) s + k d + pad + the image: kernels_nn.cu's win_fits32). */
static bool dw_fits32(const kn__cuda_win *w) {
    int64_t grid = (int64_t)65535 * 4 * THREADS;
    return !w->index64 && w->pt >= 0 && w->pl >= 0 && fits32(w->n * w->h * w->w * w->c + grid) &&
           fits32(w->n * w->oh * w->ow * w->f + grid) && fits32((int64_t)w->kh * w->kw * w->f) &&
           fits32(((int64_t)w->oh + 1) * w->sh + (int64_t)w->kh * w->dh + w->pt + w->h) &&
           fits32(((int64_t)w->ow + 1) * w->sw + (int64_t)w->kw * w->dw + w->pl + w->w);
}

/* ------------------------------------------------------------- forward */

/* y (n, oy, ox, j), j = c M + m: sum over taps of x[n, iy, ix, c] k[tap, j], zeros outside;
 * then + bias[j] and the activation when fused (the CPU's order: the sum, the bias, act). */
template <typename I>
__device__ static inline void forward_body(kn__cuda_win w, const float *x, const float *k, const float *bias, int act,
                                           float alpha, float *y) {
    const I H = (I)w.h, W = (I)w.w, C = (I)w.c, CM = (I)w.f, M = CM / C, OH = w.oh, OW = w.ow;
    const I total = (I)w.n * OH * OW * CM, step = (I)gridDim.x * (I)blockDim.x;
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < total; i += step) {
        I j = i % CM, p = i / CM, ox = p % OW, q = p / OW, oy = q % OH, n = q / OH, c = j / M;
        float acc = 0.0f;
        for (int ky = 0; ky < w.kh; ky++) {
            I iy = oy * w.sh - w.pt + (I)ky * w.dh;
            if (iy < 0 || iy >= H) continue;
            for (int kx = 0; kx < w.kw; kx++) {
                I ix = ox * w.sw - w.pl + (I)kx * w.dw;
                if (ix < 0 || ix >= W) continue;
                acc += x[((n * H + iy) * W + ix) * C + c] * k[(I)(ky * w.kw + kx) * CM + j];
            }
        }
        if (bias) acc += bias[j];
        y[i] = act != KN_LINEAR ? kn__dev_act(act, alpha, acc) : acc;
    }
}
__global__ void dw_forward32_kernel(kn__cuda_win w, const float *x, const float *k, const float *bias, int act,
                                    float alpha, float *y) {
    forward_body<int>(w, x, k, bias, act, alpha, y);
}
__global__ void dw_forward64_kernel(kn__cuda_win w, const float *x, const float *k, const float *bias, int act,
                                    float alpha, float *y) {
    forward_body<int64_t>(w, x, k, bias, act, alpha, y);
}

extern "C" cudaError_t kn__cu_depthwise(cudaStream_t s, const kn__cuda_win *w, const float *x, const float *k,
                                        const float *bias, int act, float alpha, float *y) {
    int64_t total = w->n * w->oh * w->ow * w->f;
    if (total <= 0 || w->c <= 0) return cudaGetLastError();
    if (dw_fits32(w)) dw_forward32_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, x, k, bias, act, alpha, y);
    else dw_forward64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, x, k, bias, act, alpha, y);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- input gradient */

/* The output position on one axis whose tap at offset t = i + pad - k d reads cell i: t a
 * multiple of the stride, t / s below on; -1 when there is none. */
template <typename I> __device__ static inline I tap_out(I t, int s, I on) {
    if (t < 0 || t % s) return -1;
    I o = t / s;
    return o < on ? o : -1;
}

/* dx (n, iy, ix, c) = sum over the taps (ky, kx) that read it from an output (oy, ox) of
 * sum over m of dy[n, oy, ox, c M + m] k[tap, c M + m]. */
template <typename I>
__device__ static inline void grad_input_body(kn__cuda_win w, const float *dy, const float *k, float *dx) {
    const I H = (I)w.h, W = (I)w.w, C = (I)w.c, CM = (I)w.f, M = CM / C, OH = w.oh, OW = w.ow;
    const I total = (I)w.n * H * W * C, step = (I)gridDim.x * (I)blockDim.x;
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < total; i += step) {
        I c = i % C, p = i / C, ix = p % W, q = p / W, iy = q % H, n = q / H;
        float acc = 0.0f;
        for (int ky = 0; ky < w.kh; ky++) {
            I oy = tap_out<I>(iy + w.pt - (I)ky * w.dh, w.sh, OH);
            if (oy < 0) continue;
            for (int kx = 0; kx < w.kw; kx++) {
                I ox = tap_out<I>(ix + w.pl - (I)kx * w.dw, w.sw, OW);
                if (ox < 0) continue;
                const float *d = dy + ((n * OH + oy) * OW + ox) * CM + c * M; /* (M) */
                const float *kv = k + (I)(ky * w.kw + kx) * CM + c * M;       /* (M) */
                if (M == 1) {
                    acc += d[0] * kv[0];
                    continue;
                }
                float sum = 0.0f;
                for (I m = 0; m < M; m++) sum += d[m] * kv[m];
                acc += sum;
            }
        }
        dx[i] = acc;
    }
}
__global__ void dw_grad_input32_kernel(kn__cuda_win w, const float *dy, const float *k, float *dx) {
    grad_input_body<int>(w, dy, k, dx);
}
__global__ void dw_grad_input64_kernel(kn__cuda_win w, const float *dy, const float *k, float *dx) {
    grad_input_body<int64_t>(w, dy, k, dx);
}

extern "C" cudaError_t kn__cu_depthwise_grad_input(cudaStream_t s, const kn__cuda_win *w, const float *dy,
                                                   const float *k, float *dx) {
    int64_t total = w->n * w->h * w->w * w->c;
    if (total <= 0) return cudaGetLastError();
    if (dw_fits32(w)) dw_grad_input32_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, dy, k, dx);
    else dw_grad_input64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, dy, k, dx);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- kernel gradient */

/* Parts of the output positions summed apart: a function of the positions alone (never of
 * the device), at least DW_PART_POSITIONS each, DW_MAX_PARTS at most. */
static int64_t dw_parts(const kn__cuda_win *w) {
    int64_t positions = w->n * w->oh * w->ow, parts = positions / DW_PART_POSITIONS;
    return parts < 1 ? 1 : parts > DW_MAX_PARTS ? DW_MAX_PARTS : parts;
}

extern "C" size_t kn__cu_depthwise_grad_kernel_ws(const kn__cuda_win *w) {
    int64_t parts = dw_parts(w);
    return parts > 1 ? (size_t)parts * (size_t)w->kh * (size_t)w->kw * (size_t)w->f * sizeof(float) : 0;
}

/* Block b = (tap, chunk) of blockIdx.x's range, part blockIdx.y: column j = chunk 32 + the
 * thread's lane column; its lane sums positions p0 + lane, p0 + lane + 8, ... below p1 of
 * x[cell of p under tap, c] dy[p, j]; lane 0 adds the lanes' sums in lane order into
 * out[part][tap, j] (out (parts, KH*KW, C*M)). */
template <typename I>
__device__ static inline void grad_kernel_body(kn__cuda_win w, const float *x, const float *dy, float *out,
                                               int64_t parts) {
    __shared__ float sums[THREADS];
    const I H = (I)w.h, W = (I)w.w, C = (I)w.c, CM = (I)w.f, M = CM / C, OH = w.oh, OW = w.ow;
    const I positions = (I)w.n * OH * OW, taps = (I)w.kh * w.kw, chunks = (CM + 31) / 32;
    const int64_t part = blockIdx.y;
    const I p0 = (I)(positions * part / parts), p1 = (I)(positions * (part + 1) / parts);
    const int col = (int)threadIdx.x % 32, lane = (int)threadIdx.x / 32;
    for (I b = blockIdx.x; b < taps * chunks; b += (I)gridDim.x) { /* (the same trip count in every thread) */
        I tap = b / chunks, j = (b % chunks) * 32 + col, c = j / M;
        int ky = (int)(tap / w.kw), kx = (int)(tap % w.kw);
        float acc = 0.0f;
        if (j < CM)
            for (I p = p0 + lane; p < p1; p += DW_LANES) {
                I ox = p % OW, q = p / OW, oy = q % OH, n = q / OH;
                I iy = oy * w.sh - w.pt + (I)ky * w.dh, ix = ox * w.sw - w.pl + (I)kx * w.dw;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += x[((n * H + iy) * W + ix) * C + c] * dy[p * CM + j];
            }
        sums[threadIdx.x] = acc;
        __syncthreads();
        if (lane == 0 && j < CM) {
            float total = sums[col];
            for (int l = 1; l < DW_LANES; l++) total += sums[l * 32 + col];
            out[(I)part * taps * CM + tap * CM + j] = total;
        }
        __syncthreads(); /* (sums is written again for the next b) */
    }
}
__global__ void dw_grad_kernel32_kernel(kn__cuda_win w, const float *x, const float *dy, float *out, int64_t parts) {
    grad_kernel_body<int>(w, x, dy, out, parts);
}
__global__ void dw_grad_kernel64_kernel(kn__cuda_win w, const float *x, const float *dy, float *out, int64_t parts) {
    grad_kernel_body<int64_t>(w, x, dy, out, parts);
}

/* dk[e] = the parts' sums ws[part][e] added in part order. */
__global__ void dw_sum_parts_kernel(const float *ws, float *dk, int64_t size, int64_t parts) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < size; e += (int64_t)gridDim.x * blockDim.x) {
        float total = ws[e];
        for (int64_t k = 1; k < parts; k++) total += ws[k * size + e];
        dk[e] = total;
    }
}

extern "C" cudaError_t kn__cu_depthwise_grad_kernel(cudaStream_t s, const kn__cuda_win *w, const float *x,
                                                    const float *dy, float *dk, float *ws) {
    int64_t size = (int64_t)w->kh * w->kw * w->f, parts = dw_parts(w);
    int64_t blocks = (int64_t)w->kh * w->kw * ((w->f + 31) / 32);
    if (size <= 0 || w->c <= 0) return cudaGetLastError();
    dim3 grid((unsigned)(blocks < 65535 * 4 ? blocks : 65535 * 4), (unsigned)parts);
    float *out = parts > 1 ? ws : dk;
    if (dw_fits32(w) && fits32(parts * size)) dw_grad_kernel32_kernel<<<grid, THREADS, 0, s>>>(*w, x, dy, out, parts);
    else dw_grad_kernel64_kernel<<<grid, THREADS, 0, s>>>(*w, x, dy, out, parts);
    if (parts > 1) dw_sum_parts_kernel<<<blocks_for(size), THREADS, 0, s>>>(ws, dk, size, parts);
    return cudaGetLastError();
}
