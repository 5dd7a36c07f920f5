/* kernels_resize.cu — padding and cropping (graph.h's KN_OP_PAD2D), upsampling
 * (KN_OP_UPSAMPLE2D, nearest or bilinear, and its gradient) and resizing to any size
 * (KN_OP_RESIZE2D and its gradient) on the GPU, what backend/cpu/resize.c computes, a thread
 * per output element:
 *
 *   pad2d           y (n, oy, ox, c) = x (n, oy - top, ox - left, c) inside x, else 0
 *   upsample2d      y (n, oy, ox, c): nearest x's cell (oy / sh, ox / sw); bilinear the mix of
 *                   four cells (backend/resize_formulas.h, the CPU's float operations)
 *   upsample2d_grad dx (n, iy, ix, c): a gather over the outputs that read the cell, in the
 *                   CPU's order (nearest: the block in row order; bilinear: each output row's
 *                   weighted sum, times the row's weight, rows in order)
 *   resize2d        y (n, oy, ox, c): as upsample2d from the float scale H / OH
 *                   (kn__nearest_at, kn__linear_at)
 *   resize2d_grad   dx (n, iy, ix, c): as upsample2d_grad over kn__resize_readers' outputs
 *                   (nearest: sums alone, row by row of outputs, as the CPU)
 *
 * No atomics, the CPU's order of operations, products rounded alone (__fmul_rn): the CPU's
 * bits. Each kernel has a 32-bit instance (int indices) taken when every index it forms fits,
 * and a 64-bit one otherwise or under KILN_CUDA_INDEX64=1 (r->index64). f32 only. */
#include "launch.h"
#include "device.cuh"
#include "backend/resize_formulas.h"

#define THREADS 256

#define blocks_for(n) kn__cu_blocks_for((n), THREADS) /* (device.cuh) */

static bool fits32(int64_t v) { return v >= 0 && v <= INT32_MAX; }

/* Every element index of both sides, one grid past them (the grid-stride loop's last step),
 * and the rows and columns an index is formed from (pad2d's amounts reach 2^24 at most). */
static bool rs_fits32(const kn__cuda_resize *r) {
    int64_t grid = (int64_t)65535 * 4 * THREADS;
    return !r->index64 && fits32(r->n * r->h * r->w * r->c + grid) && fits32(r->n * r->oh * r->ow * r->c + grid) &&
           fits32(r->oh + r->h + (1LL << 25)) && fits32(r->ow + r->w + (1LL << 25));
}

/* ------------------------------------------------------------- padding and cropping */

template <typename I> __device__ static inline void pad_body(kn__cuda_resize r, const float *x, float *y) {
    const I H = (I)r.h, W = (I)r.w, C = (I)r.c, OH = (I)r.oh, OW = (I)r.ow;
    const I total = (I)r.n * OH * OW * C, step = (I)gridDim.x * (I)blockDim.x;
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < total; i += step) {
        I c = i % C, p = i / C, ox = p % OW, q = p / OW, oy = q % OH, n = q / OH;
        I iy = oy - (I)r.top, ix = ox - (I)r.left;
        y[i] = iy >= 0 && iy < H && ix >= 0 && ix < W ? x[((n * H + iy) * W + ix) * C + c] : 0.0f;
    }
}
__global__ void rs_pad32_kernel(kn__cuda_resize r, const float *x, float *y) { pad_body<int>(r, x, y); }
__global__ void rs_pad64_kernel(kn__cuda_resize r, const float *x, float *y) { pad_body<int64_t>(r, x, y); }

extern "C" cudaError_t kn__cu_pad2d(cudaStream_t s, const kn__cuda_resize *r, const float *x, float *y) {
    int64_t total = r->n * r->oh * r->ow * r->c;
    if (total <= 0) return cudaGetLastError();
    if (rs_fits32(r)) rs_pad32_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, x, y);
    else rs_pad64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, x, y);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- upsampling */

template <typename I> __device__ static inline void upsample_body(kn__cuda_resize r, const float *x, float *y) {
    const I H = (I)r.h, W = (I)r.w, C = (I)r.c, OH = (I)r.oh, OW = (I)r.ow;
    const I total = (I)r.n * OH * OW * C, step = (I)gridDim.x * (I)blockDim.x;
    const float inv_h = kn__resize_inv(r.sh), inv_w = kn__resize_inv(r.sw);
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < total; i += step) {
        I c = i % C, p = i / C, ox = p % OW, q = p / OW, oy = q % OH, n = q / OH;
        const float *xn = x + n * H * W * C + c; /* image n, channel c */
        if (!r.bilinear) {
            y[i] = xn[(oy / (I)r.sh * W + ox / (I)r.sw) * C];
            continue;
        }
        kn__lerp ly = kn__bilinear_at(oy, r.h, r.sh, inv_h), lx = kn__bilinear_at(ox, r.w, r.sw, inv_w);
        I y0 = (I)ly.i0 * W, y1 = (I)ly.i1 * W, x0 = (I)lx.i0, x1 = (I)lx.i1;
        y[i] = kn__bilinear_mix(ly, lx, xn[(y0 + x0) * C], xn[(y0 + x1) * C], xn[(y1 + x0) * C], xn[(y1 + x1) * C]);
    }
}
__global__ void rs_up32_kernel(kn__cuda_resize r, const float *x, float *y) { upsample_body<int>(r, x, y); }
__global__ void rs_up64_kernel(kn__cuda_resize r, const float *x, float *y) { upsample_body<int64_t>(r, x, y); }

extern "C" cudaError_t kn__cu_upsample2d(cudaStream_t s, const kn__cuda_resize *r, const float *x, float *y) {
    int64_t total = r->n * r->oh * r->ow * r->c;
    if (total <= 0) return cudaGetLastError();
    if (rs_fits32(r)) rs_up32_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, x, y);
    else rs_up64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, x, y);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- upsampling's gradient */

template <typename I> __device__ static inline void grad_body(kn__cuda_resize r, const float *dy, float *dx) {
    const I H = (I)r.h, W = (I)r.w, C = (I)r.c, OH = (I)r.oh, OW = (I)r.ow, SH = (I)r.sh, SW = (I)r.sw;
    const I total = (I)r.n * H * W * C, step = (I)gridDim.x * (I)blockDim.x;
    const float inv_h = kn__resize_inv(r.sh), inv_w = kn__resize_inv(r.sw);
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < total; i += step) {
        I c = i % C, p = i / C, ix = p % W, q = p / W, iy = q % H, n = q / H;
        const float *dn = dy + n * OH * OW * C + c; /* image n, channel c */
        float acc = 0.0f;
        if (!r.bilinear) {
            for (I oy = iy * SH; oy < (iy + 1) * SH; oy++)
                for (I ox = ix * SW; ox < (ix + 1) * SW; ox++) acc += dn[(oy * OW + ox) * C];
            dx[i] = acc;
            continue;
        }
        int64_t y0, y1, x0, x1;
        kn__bilinear_readers(iy, r.sh, r.oh, &y0, &y1);
        kn__bilinear_readers(ix, r.sw, r.ow, &x0, &x1);
        for (I oy = (I)y0; oy < (I)y1; oy++) {
            kn__lerp ly = kn__bilinear_at(oy, r.h, r.sh, inv_h);
            if (!kn__lerp_reads(ly, iy)) continue;
            float wy = kn__lerp_weight(ly, iy), row = 0.0f;
            for (I ox = (I)x0; ox < (I)x1; ox++) {
                kn__lerp lx = kn__bilinear_at(ox, r.w, r.sw, inv_w);
                if (!kn__lerp_reads(lx, ix)) continue;
                row += kn__resize_mul(kn__lerp_weight(lx, ix), dn[(oy * OW + ox) * C]);
            }
            acc += kn__resize_mul(wy, row);
        }
        dx[i] = acc;
    }
}
__global__ void rs_grad32_kernel(kn__cuda_resize r, const float *dy, float *dx) { grad_body<int>(r, dy, dx); }
__global__ void rs_grad64_kernel(kn__cuda_resize r, const float *dy, float *dx) { grad_body<int64_t>(r, dy, dx); }

extern "C" cudaError_t kn__cu_upsample2d_grad(cudaStream_t s, const kn__cuda_resize *r, const float *dy, float *dx) {
    int64_t total = r->n * r->h * r->w * r->c;
    if (total <= 0) return cudaGetLastError();
    if (rs_fits32(r)) rs_grad32_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, dy, dx);
    else rs_grad64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, dy, dx);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- resizing to any size */

template <typename I> __device__ static inline void resize_body(kn__cuda_resize r, const float *x, float *y) {
    const I H = (I)r.h, W = (I)r.w, C = (I)r.c, OH = (I)r.oh, OW = (I)r.ow;
    const I total = (I)r.n * OH * OW * C, step = (I)gridDim.x * (I)blockDim.x;
    const float scale_h = kn__resize_scale(r.h, r.oh), scale_w = kn__resize_scale(r.w, r.ow);
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < total; i += step) {
        I c = i % C, p = i / C, ox = p % OW, q = p / OW, oy = q % OH, n = q / OH;
        const float *xn = x + n * H * W * C + c; /* image n, channel c */
        if (!r.bilinear) {
            y[i] = xn[((I)kn__nearest_at(oy, r.h, scale_h) * W + (I)kn__nearest_at(ox, r.w, scale_w)) * C];
            continue;
        }
        kn__lerp ly = kn__linear_at(oy, r.h, scale_h), lx = kn__linear_at(ox, r.w, scale_w);
        I y0 = (I)ly.i0 * W, y1 = (I)ly.i1 * W, x0 = (I)lx.i0, x1 = (I)lx.i1;
        y[i] = kn__bilinear_mix(ly, lx, xn[(y0 + x0) * C], xn[(y0 + x1) * C], xn[(y1 + x0) * C], xn[(y1 + x1) * C]);
    }
}
__global__ void rs_resize32_kernel(kn__cuda_resize r, const float *x, float *y) { resize_body<int>(r, x, y); }
__global__ void rs_resize64_kernel(kn__cuda_resize r, const float *x, float *y) { resize_body<int64_t>(r, x, y); }

extern "C" cudaError_t kn__cu_resize2d(cudaStream_t s, const kn__cuda_resize *r, const float *x, float *y) {
    int64_t total = r->n * r->oh * r->ow * r->c;
    if (total <= 0) return cudaGetLastError();
    if (rs_fits32(r)) rs_resize32_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, x, y);
    else rs_resize64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, x, y);
    return cudaGetLastError();
}

/* The weight output cell o gives input cell i on a resized axis (cpu/resize.c's resize_weight). */
__device__ static inline float resize_weight(bool bilinear, int64_t o, int64_t i, int64_t n, float scale, bool *reads) {
    if (!bilinear) {
        *reads = kn__nearest_at(o, n, scale) == i;
        return 1.0f;
    }
    kn__lerp L = kn__linear_at(o, n, scale);
    *reads = kn__lerp_reads(L, i);
    return kn__lerp_weight(L, i);
}

template <typename I> __device__ static inline void resize_grad_body(kn__cuda_resize r, const float *dy, float *dx) {
    const I H = (I)r.h, W = (I)r.w, C = (I)r.c, OH = (I)r.oh, OW = (I)r.ow;
    const I total = (I)r.n * H * W * C, step = (I)gridDim.x * (I)blockDim.x;
    const float scale_h = kn__resize_scale(r.h, r.oh), scale_w = kn__resize_scale(r.w, r.ow);
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < total; i += step) {
        I c = i % C, p = i / C, ix = p % W, q = p / W, iy = q % H, n = q / H;
        const float *dn = dy + n * OH * OW * C + c; /* image n, channel c */
        int64_t y0, y1, x0, x1;
        kn__resize_readers(iy, r.h, r.oh, &y0, &y1);
        kn__resize_readers(ix, r.w, r.ow, &x0, &x1);
        float acc = 0.0f;
        for (I oy = (I)y0; oy < (I)y1; oy++) {
            bool reads;
            float wy = resize_weight(r.bilinear, oy, iy, r.h, scale_h, &reads), row = 0.0f;
            if (!reads) continue;
            for (I ox = (I)x0; ox < (I)x1; ox++) {
                float wx = resize_weight(r.bilinear, ox, ix, r.w, scale_w, &reads);
                if (!reads) continue;
                float d = dn[(oy * OW + ox) * C];
                row += r.bilinear ? kn__resize_mul(wx, d) : d;
            }
            acc += r.bilinear ? kn__resize_mul(wy, row) : row;
        }
        dx[i] = acc;
    }
}
__global__ void rs_resize_grad32_kernel(kn__cuda_resize r, const float *dy, float *dx) {
    resize_grad_body<int>(r, dy, dx);
}
__global__ void rs_resize_grad64_kernel(kn__cuda_resize r, const float *dy, float *dx) {
    resize_grad_body<int64_t>(r, dy, dx);
}

extern "C" cudaError_t kn__cu_resize2d_grad(cudaStream_t s, const kn__cuda_resize *r, const float *dy, float *dx) {
    int64_t total = r->n * r->h * r->w * r->c;
    if (total <= 0) return cudaGetLastError();
    if (rs_fits32(r)) rs_resize_grad32_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, dy, dx);
    else rs_resize_grad64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*r, dy, dx);
    return cudaGetLastError();
}
