/* random_aug_formulas.h — the arithmetic of Keras's random image-augmentation layers as kiln's
 * two ops (graph.h: KN_OP_RANDOM_AFFINE for random_flip, random_translation, random_rotation
 * and random_zoom; KN_OP_RANDOM_COLOR for random_contrast and random_brightness), shared by the
 * CPU kernels (cpu/random_aug.c) and the CUDA ones (cuda/kernels_random_aug.cu), so both
 * compute each value with the same float operations in the same order: the same bits.
 *
 * Draws: sample n of a node takes one 64-bit draw, kn__rng_draw(key, n) with dropout's element
 * key (seed, step, node key); its top 24 bits of each 32-bit half give two uniforms in [0, 1)
 * exact in float (kn__raug_uniforms). The rotation's sine and cosine are this header's own
 * polynomials (augment_noise.h's coefficients, fmaf: one rounding on both sides), never a
 * math library's, so no backend rounds them differently. Products that feed a sum are rounded
 * alone on the device (__fmul_rn), as C11 never contracts them. */
#ifndef KN_RANDOM_AUG_FORMULAS_H
#define KN_RANDOM_AUG_FORMULAS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "data/augment_noise.h" /* SIN_P*, COS_Q*: sin(pi s), cos(pi s) for |s| <= 1/2 */

#ifdef __CUDACC__
#define KN_RAUG_FN __host__ __device__ static inline
#else
#define KN_RAUG_FN static inline
#endif

/* KN_OP_RANDOM_AFFINE's iparam[1]: the layer. */
enum { KN_RAUG_FLIP = 0, KN_RAUG_TRANSLATION = 1, KN_RAUG_ROTATION = 2, KN_RAUG_ZOOM = 3, KN_RAUG_GEOMETRIC_KINDS };
/* KN_OP_RANDOM_COLOR's iparam[1]. */
enum { KN_RAUG_CONTRAST = 0, KN_RAUG_BRIGHTNESS = 1, KN_RAUG_COLOR_KINDS };
/* Fill modes (iparam[2] bits 0-1): where a tap falls outside the image. */
enum { KN_RAUG_FILL_REFLECT = 0, KN_RAUG_FILL_WRAP = 1, KN_RAUG_FILL_CONSTANT = 2, KN_RAUG_FILL_NEAREST = 3 };
/* iparam[2]'s other bits. */
#define KN_RAUG_NEAREST 4u      /* nearest interpolation (else bilinear) */
#define KN_RAUG_FLIP_H 8u       /* random_flip: flips left-right */
#define KN_RAUG_FLIP_V 16u      /* random_flip: flips top-bottom */
#define KN_RAUG_ZOOM_SAME 32u   /* random_zoom without width_factor: the width's zoom is the height's */

KN_RAUG_FN float kn__raug_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
KN_RAUG_FN float kn__raug_fma(float a, float b, float c) { return fmaf(a, b, c); }

/* Sample n's two uniforms in [0, 1) from its draw r: the top 24 bits of each half, exact. */
KN_RAUG_FN void kn__raug_uniforms(uint64_t r, float *ua, float *ub) {
    *ua = (float)(uint32_t)(r >> 40) * (1.0f / 16777216.0f);
    *ub = (float)((uint32_t)r >> 8) * (1.0f / 16777216.0f);
}

/* lo + (hi - lo) u: uniform in [lo, hi) (lo itself when they are equal). */
KN_RAUG_FN float kn__raug_between(float lo, float hi, float u) { return lo + kn__raug_mul(hi - lo, u); }

/* sin and cos of 2 pi t for t in [-1, 1]: t reduced to [-1/2, 1/2] (t - rint(t), exact), then
 * s = 2 t in [-1, 1] folded into |s| <= 1/2 (1 - s and -1 - s exact by Sterbenz), the
 * polynomials there. Absolute error about 5e-8. */
KN_RAUG_FN void kn__raug_sincos_turn(float t, float *sn, float *cs) {
    float s = 2.0f * (t - rintf(t)), sign = 1.0f;
    if (s > 0.5f) s = 1.0f - s, sign = -1.0f;       /* sin(pi s) = sin(pi (1 - s)), cos negated */
    else if (s < -0.5f) s = -1.0f - s, sign = -1.0f; /* sin(pi s) = sin(pi (-1 - s)), cos negated */
    float s2 = kn__raug_mul(s, s);
    float p = kn__raug_fma(kn__raug_fma(kn__raug_fma(kn__raug_fma(SIN_P4, s2, SIN_P3), s2, SIN_P2), s2, SIN_P1), s2,
                           SIN_P0);
    float q = kn__raug_fma(kn__raug_fma(kn__raug_fma(kn__raug_fma(COS_Q4, s2, COS_Q3), s2, COS_Q2), s2, COS_Q1), s2,
                           COS_Q0);
    *sn = kn__raug_mul(s, p);
    *cs = kn__raug_mul(sign, q);
}

/* The output-to-input map of one sample: output cell (x, y) (column, row) reads the input at
 * (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]); nearest: the flip's reads are whole cells. */
typedef struct {
    float m[6];
} kn__raug_map;

/* Sample n's map for layer kind over an h x w image, from its draw r; f the node's factors
 * (fparam: the height's lower and upper bound, the width's; rotation: f[0], f[1] in turns;
 * translation: fractions of the side; zoom: 1 + a draw is the side's zoom, > 1 zooming out),
 * flags iparam[2]. Keras's maps: translation reads (x - dx, y - dy) with dx = w x-draw, so a
 * positive factor moves the image right and down; rotation by the angle a = 2 pi draw about the
 * image's centre ((w - 1) / 2, (h - 1) / 2) reads (cos a (x - cx) - sin a (y - cy) + cx, sin a
 * (x - cx) + cos a (y - cy) + cy): a positive angle turns the picture counter-clockwise; zoom
 * reads (zx (x - cx) + cx, zy (y - cy) + cy); random_flip flips with one coin (u < 1/2) the
 * axes of its mode (both or neither for horizontal_and_vertical, as Keras 3). */
KN_RAUG_FN kn__raug_map kn__raug_map_of(int kind, const float *f, unsigned flags, int64_t h, int64_t w, uint64_t r) {
    kn__raug_map a = {{1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f}};
    float ua, ub;
    kn__raug_uniforms(r, &ua, &ub);
    float wm1 = (float)(w - 1), hm1 = (float)(h - 1), cx = 0.5f * wm1, cy = 0.5f * hm1;
    if (kind == KN_RAUG_FLIP) {
        if (ua < 0.5f) {
            if (flags & KN_RAUG_FLIP_H) a.m[0] = -1.0f, a.m[2] = wm1;
            if (flags & KN_RAUG_FLIP_V) a.m[4] = -1.0f, a.m[5] = hm1;
        }
    } else if (kind == KN_RAUG_TRANSLATION) {
        a.m[5] = -kn__raug_mul(kn__raug_between(f[0], f[1], ua), (float)h);
        a.m[2] = -kn__raug_mul(kn__raug_between(f[2], f[3], ub), (float)w);
    } else if (kind == KN_RAUG_ROTATION) {
        float sn, cs;
        kn__raug_sincos_turn(kn__raug_between(f[0], f[1], ua), &sn, &cs);
        a.m[0] = cs, a.m[1] = -sn, a.m[3] = sn, a.m[4] = cs;
        a.m[2] = cx - kn__raug_mul(cs, cx) + kn__raug_mul(sn, cy);
        a.m[5] = cy - kn__raug_mul(sn, cx) - kn__raug_mul(cs, cy);
    } else if (kind == KN_RAUG_ZOOM) {
        float zy = 1.0f + kn__raug_between(f[0], f[1], ua);
        float zx = (flags & KN_RAUG_ZOOM_SAME) ? zy : 1.0f + kn__raug_between(f[2], f[3], ub);
        a.m[0] = zx, a.m[2] = cx - kn__raug_mul(zx, cx);
        a.m[4] = zy, a.m[5] = cy - kn__raug_mul(zy, cy);
    }
    return a;
}

/* Input coordinate of output cell (x, y) under map a: column (*sx) and row (*sy). */
KN_RAUG_FN void kn__raug_source(const kn__raug_map *a, int64_t x, int64_t y, float *sx, float *sy) {
    float fx = (float)x, fy = (float)y;
    *sx = kn__raug_mul(a->m[0], fx) + kn__raug_mul(a->m[1], fy) + a->m[2];
    *sy = kn__raug_mul(a->m[3], fx) + kn__raug_mul(a->m[4], fy) + a->m[5];
}

/* A tap's cell i on an axis of n cells through the fill mode, or -1 (constant: the fill value):
 * reflect d c b a | a b c d | d c b a (period 2n), wrap a b c d | a b c d, nearest a a | a b c d
 * | d d, each tap on its own as keras.ops.image.map_coordinates does. */
KN_RAUG_FN int64_t kn__raug_fill_index(int64_t i, int64_t n, int mode) {
    if (i >= 0 && i < n) return i;
    if (mode == KN_RAUG_FILL_CONSTANT) return -1;
    if (mode == KN_RAUG_FILL_NEAREST) return i < 0 ? 0 : n - 1;
    if (mode == KN_RAUG_FILL_WRAP) {
        int64_t k = i % n;
        return k < 0 ? k + n : k;
    }
    int64_t p = 2 * n, k = i % p; /* reflect */
    if (k < 0) k += p;
    return k < n ? k : p - 1 - k;
}

/* The taps of one output cell: up to four cells (flat y * w + x indices, -1 for the fill value)
 * and their weights; nearest: one tap of weight 1 (floor(s + 1/2)). Coordinates are kept well
 * inside int64 by the factors' bounds (|s| < 3 sides). */
typedef struct {
    int64_t cell[4];
    float weight[4];
    int n;
} kn__raug_taps;

KN_RAUG_FN kn__raug_taps kn__raug_taps_of(float sx, float sy, int64_t h, int64_t w, unsigned flags) {
    kn__raug_taps t;
    int mode = (int)(flags & 3u);
    if (flags & KN_RAUG_NEAREST) {
        int64_t ix = kn__raug_fill_index((int64_t)floorf(sx + 0.5f), w, mode);
        int64_t iy = kn__raug_fill_index((int64_t)floorf(sy + 0.5f), h, mode);
        t.cell[0] = ix < 0 || iy < 0 ? -1 : iy * w + ix;
        t.weight[0] = 1.0f;
        t.n = 1;
        return t;
    }
    float x0f = floorf(sx), y0f = floorf(sy), fx = sx - x0f, fy = sy - y0f;
    int64_t x0 = (int64_t)x0f, y0 = (int64_t)y0f;
    int64_t ix0 = kn__raug_fill_index(x0, w, mode), ix1 = kn__raug_fill_index(x0 + 1, w, mode);
    int64_t iy0 = kn__raug_fill_index(y0, h, mode), iy1 = kn__raug_fill_index(y0 + 1, h, mode);
    float gx = 1.0f - fx, gy = 1.0f - fy;
    t.cell[0] = ix0 < 0 || iy0 < 0 ? -1 : iy0 * w + ix0, t.weight[0] = kn__raug_mul(gy, gx);
    t.cell[1] = ix1 < 0 || iy0 < 0 ? -1 : iy0 * w + ix1, t.weight[1] = kn__raug_mul(gy, fx);
    t.cell[2] = ix0 < 0 || iy1 < 0 ? -1 : iy1 * w + ix0, t.weight[2] = kn__raug_mul(fy, gx);
    t.cell[3] = ix1 < 0 || iy1 < 0 ? -1 : iy1 * w + ix1, t.weight[3] = kn__raug_mul(fy, fx);
    t.n = 4;
    return t;
}

/* One output value: the taps' values (the fill value where a tap is -1) times their weights,
 * summed in tap order. A single tap of weight 1 is the value itself (nearest, and the flip). */
KN_RAUG_FN float kn__raug_value(const kn__raug_taps *t, const float *plane, int64_t stride, float fill) {
    if (t->n == 1) return t->cell[0] < 0 ? fill : plane[t->cell[0] * stride];
    float acc = 0.0f;
    for (int k = 0; k < 4; k++) {
        float v = t->cell[k] < 0 ? fill : plane[t->cell[k] * stride];
        acc += kn__raug_mul(t->weight[k], v);
    }
    return acc;
}

/* KN_OP_RANDOM_COLOR: sample n's factor from its draw: contrast a factor in [1 - f[0], 1 +
 * f[1]], brightness a delta f-draw * (value_range's high - low) (f[2], f[3] the range). */
KN_RAUG_FN float kn__raug_color_factor(int kind, const float *f, uint64_t r) {
    float ua, ub;
    kn__raug_uniforms(r, &ua, &ub);
    if (kind == KN_RAUG_CONTRAST) return kn__raug_between(1.0f - f[0], 1.0f + f[1], ua);
    return kn__raug_mul(kn__raug_between(f[0], f[1], ua), f[3] - f[2]);
}

/* The value before the clip: contrast (x - mean) factor + mean, brightness x + delta. */
KN_RAUG_FN float kn__raug_color_raw(int kind, float x, float mean, float factor) {
    if (kind == KN_RAUG_CONTRAST) return kn__raug_mul(x - mean, factor) + mean;
    return x + factor;
}

/* Whether the clip to [lo, hi] passes v (its gradient: 1 inside, ends included, 0 outside). */
KN_RAUG_FN bool kn__raug_inside(float v, float lo, float hi) { return v >= lo && v <= hi; }
KN_RAUG_FN float kn__raug_clip(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

#endif
