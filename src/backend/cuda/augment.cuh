/* augment.cuh — image augmentation on the device: one element of a training row as
 * data/augment.c's kn__augment_apply leaves it, from the row as stored and the sample's
 * draws (kn__cu_augment_draw, made on the host by kn__augment_draw_one). The same
 * operations in the same order as augment.c's scalar code (which its AVX2 code matches):
 * fused multiply-adds where it has them (fmaf: one rounding on both), every other product
 * and sum rounded alone (kn__mul_rn, kn__add_rn: nvcc would otherwise fuse a product into
 * the sum after it), sqrt rounded correctly; so a GPU gives the CPU's bits, and the
 * resident step with augmentation trains as the host loop does (test_resident's augment
 * case). What needs the host's libm (the angle's sine and cosine, the erased rectangle's
 * size) comes in the draws. Elements are independent: any thread may compute any. */
#ifndef KN_CUDA_AUGMENT_CUH
#define KN_CUDA_AUGMENT_CUH

#include "launch.h"
#include "device.cuh" /* kn__mul_rn, kn__add_rn */
#include "data/augment_noise.h" /* the noise's constants, augment.c's */

__device__ static inline float kn__sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
    return __fsqrt_rn(a);
#else
    return sqrtf(a);
#endif
}
/* The Gaussian noise augment.c's add_noise adds to element e of a sample: pairs in blocks
 * of 64, a block's cosines on its first 64 elements and its sines on the next 64. */
__device__ static inline float kn__aug_noise(uint64_t key, int64_t e, float sigma) {
    const int64_t blk = e / (2 * NOISE_BLOCK), q = e % (2 * NOISE_BLOCK);
    const uint64_t pair = (uint64_t)(blk * NOISE_BLOCK + (q < NOISE_BLOCK ? q : q - NOISE_BLOCK));
    uint64_t z = key + (pair + 1) * SPLITMIX_GAMMA;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const float u1 = kn__mul_rn((float)((int32_t)(z >> 40) + 1), TWO_M24);
    const float s = fmaf((float)(int32_t)(z & 0xffffff), TWO_M24, -0.5f), y = kn__mul_rn(s, s);
    const float r = kn__aug_float(kn__aug_bits(kn__mul_rn(sigma, kn__sqrt_rn(kn__mul_rn(-2.0f, kn__aug_log_unit(u1))))) ^
                                  ((uint32_t)z & 0x80000000u));
    if (q < NOISE_BLOCK) {
        const float cs = fmaf(fmaf(fmaf(fmaf(COS_Q4, y, COS_Q3), y, COS_Q2), y, COS_Q1), y, COS_Q0);
        return kn__mul_rn(r, cs);
    }
    const float sn = kn__mul_rn(fmaf(fmaf(fmaf(fmaf(SIN_P4, y, SIN_P3), y, SIN_P2), y, SIN_P1), y, SIN_P0), s);
    return kn__mul_rn(r, sn);
}

/* Channel ch of the bilinear sample at (sx, sy) of src (h, w, c): augment.c's sample_px. */
__device__ static inline float kn__aug_sample(const float *src, int h, int w, int c, float sx, float sy, int ch) {
    const float wf = (float)w, hf = (float)h;
    sx = sx > -1.0f ? sx : -1.0f; /* (NaN goes to -1, as there) */
    sx = sx < wf ? sx : wf;
    sy = sy > -1.0f ? sy : -1.0f;
    sy = sy < hf ? sy : hf;
    const float lx = floorf(sx), ly = floorf(sy), fx = sx - lx, fy = sy - ly;
    const int ix = (int)lx, iy = (int)ly;
    const bool x0 = ix >= 0 && ix < w, x1 = ix + 1 >= 0 && ix < w - 1, y0 = iy >= 0 && iy < h, y1 = iy + 1 >= 0 && iy < h - 1;
    const int64_t at = ((int64_t)iy * w + ix) * c + ch, cw = (int64_t)w * c;
    const float a = y0 && x0 ? src[at] : 0.0f, b = y0 && x1 ? src[at + c] : 0.0f;
    const float e = y1 && x0 ? src[at + cw] : 0.0f, f = y1 && x1 ? src[at + cw + c] : 0.0f;
    const float h0 = fmaf(fx, b - a, a), h1 = fmaf(fx, f - e, e);
    return fmaf(fy, h1 - h0, h0);
}

/* Element e = (y w + x) c + ch of the augmented sample whose stored row is src (h, w, c). */
__device__ static inline float kn__aug_element(const float *src, const kn__cu_augment_draw &d, int h, int w, int c,
                                               int64_t e, float sigma) {
    const int ch = (int)(e % c);
    const int64_t px = e / c;
    const int x = (int)(px % w), y = (int)(px / w);
    float v = 0.0f;
    if (d.rotate) { /* turned, shifted and mirrored in one inverse-mapped pass (augment.c's warp) */
        int xa = d.dx > 0 ? d.dx : 0, xb = d.dx < 0 ? w + d.dx : w;
        if (xb < xa) xb = xa;
        const int oa = d.flip ? w - xb : xa, ob = d.flip ? w - xa : xb, ry = y - d.dy;
        if (ry >= 0 && ry < h && x >= oa && x < ob) {
            const float cx = 0.5f * (float)(w - 1), cy = 0.5f * (float)(h - 1);
            const float vy = (float)ry - cy, bx = fmaf(-vy, d.sn, cx), by = fmaf(vy, d.cs, cy);
            const float u = (float)((d.flip ? w - 1 - x : x) - d.dx) - cx;
            v = kn__aug_sample(src, h, w, c, fmaf(u, d.cs, bx), fmaf(u, d.sn, by), ch);
        }
    } else { /* shifted, then mirrored: moves only */
        const int sx = (d.flip ? w - 1 - x : x) - d.dx, sy = y - d.dy;
        if (sx >= 0 && sx < w && sy >= 0 && sy < h) v = src[((int64_t)sy * w + sx) * c + ch];
    }
    if (d.erase && y >= d.top && y < d.top + d.eh && x >= d.left && x < d.left + d.ew) v = 0.0f;
    if (d.noise) v = kn__add_rn(v, kn__aug_noise(d.noise_key, e, sigma));
    return v;
}

#endif
