/* resize_formulas.h — the float arithmetic of bilinear upsampling (graph.h's KN_OP_UPSAMPLE2D
 * and its gradient), shared by the CPU kernels (cpu/resize.c) and the CUDA ones
 * (cuda/kernels_resize.cu), so both compute every weight and every output with the same
 * float operations in the same order: the same bits. Products that feed a sum are rounded
 * alone on the device (__fmul_rn: nvcc would otherwise fuse them into an fma; C11 here never
 * contracts, and the CUDA emulator's C++ is built without FMA instructions), as
 * noise_formulas.h does.
 *
 * Bilinear with half-pixel centers, as PyTorch 1.13's F.interpolate(mode="bilinear",
 * align_corners=False) computes it for an integer scale s (and Keras 3's resize without
 * antialias, TensorFlow's half_pixel_centers): output cell o of an axis reads the input at
 * src = (o + 0.5) / s - 0.5, clamped at 0, between cells i0 = floor(src) and i1 = i0 + 1
 * (i0 at the last cell), weights l0 = 1 - l1 and l1 = src - i0; src in float from the float
 * of 1 / s as PyTorch's CPU kernel computes it. Exact for powers of two.
 *
 * Resizing to any size (KN_OP_RESIZE2D, Keras's Resizing, tf.image.resize without antialias,
 * PyTorch's F.interpolate(size=..., align_corners=False)): an axis of n cells to out cells
 * has the float scale n / out (kn__resize_scale); bilinear reads src = scale (o + 0.5) - 0.5,
 * as above (kn__linear_at); nearest reads min(floor(scale (o + 0.5)), n - 1) (PyTorch's
 * "nearest-exact", TensorFlow's half-pixel nearest: kn__nearest_at). For a whole upsampling
 * factor these are upsampling's bits. */
#ifndef KN_RESIZE_FORMULAS_H
#define KN_RESIZE_FORMULAS_H

#include <stdint.h>

#ifdef __CUDACC__
#define KN_RESIZE_FN __host__ __device__ static inline
#else
#define KN_RESIZE_FN static inline
#endif

KN_RESIZE_FN float kn__resize_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

/* 1 / s rounded to float (from the double, as PyTorch rounds it). */
KN_RESIZE_FN float kn__resize_inv(int s) { return (float)(1.0 / (double)s); }

/* One output cell's two input cells on an axis of n cells and their weights. */
typedef struct {
    int64_t i0, i1;
    float l0, l1;
} kn__lerp;

/* The weight output cell o (its lerp L) gives input cell i: l0 and / or l1 where it reads i. */
KN_RESIZE_FN float kn__lerp_weight(kn__lerp L, int64_t i) {
    return (L.i0 == i ? L.l0 : 0.0f) + (L.i1 == i ? L.l1 : 0.0f);
}
KN_RESIZE_FN int kn__lerp_reads(kn__lerp L, int64_t i) { return L.i0 == i || L.i1 == i; }

/* The outputs on an axis of `out` cells (factor s) that may read input cell i: [*lo, *hi).
 * Mathematically those in [s (i - 1/2) - 1/2, s (i + 3/2) - 1/2); one s more each side covers
 * the float rounding of src (below 1 while the axis has under 2^23 cells). */
KN_RESIZE_FN void kn__bilinear_readers(int64_t i, int s, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t a = (i - 2) * s, b = (i + 3) * s;
    *lo = a < 0 ? 0 : a;
    *hi = b > out ? out : b;
}

/* The float scale of an axis of n cells resized to out: n / out rounded once (PyTorch's and
 * TensorFlow's (float)in / out; __fdiv_rn so that no flag can make nvcc's division approximate). */
KN_RESIZE_FN float kn__resize_scale(int64_t n, int64_t out) {
#if defined(__CUDA_ARCH__)
    return __fdiv_rn((float)n, (float)out);
#else
    return (float)n / (float)out;
#endif
}

/* Output cell o of a resized axis of n input cells (scale kn__resize_scale): bilinear's two
 * input cells and weights, src = scale (o + 0.5) - 0.5 clamped at 0 (the product rounded alone,
 * then the subtraction). */
KN_RESIZE_FN kn__lerp kn__linear_at(int64_t o, int64_t n, float scale) {
    kn__lerp r;
    float src = kn__resize_mul(scale, (float)o + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int64_t i0 = (int64_t)src; /* floor: src >= 0 */
    if (i0 > n - 1) i0 = n - 1;
    r.i0 = i0;
    r.i1 = i0 < n - 1 ? i0 + 1 : i0;
    float l1 = src - (float)i0;
    r.l1 = l1 < 0.0f ? 0.0f : l1 > 1.0f ? 1.0f : l1;
    r.l0 = 1.0f - r.l1;
    return r;
}

/* Output cell o of an axis of n input cells upsampled by s (inv = kn__resize_inv(s)): a
 * resize by the scale 1 / s (kn__linear_at). A factor of 1 reads its own cell alone (i1 =
 * i0, l1 = 0). */
KN_RESIZE_FN kn__lerp kn__bilinear_at(int64_t o, int64_t n, int s, float inv) {
    if (s != 1) return kn__linear_at(o, n, inv);
    kn__lerp r;
    r.i0 = r.i1 = o;
    r.l0 = 1.0f, r.l1 = 0.0f;
    return r;
}

/* Output cell o's input cell for nearest: min(floor(scale (o + 0.5)), n - 1). */
KN_RESIZE_FN int64_t kn__nearest_at(int64_t o, int64_t n, float scale) {
    int64_t i = (int64_t)kn__resize_mul((float)o + 0.5f, scale); /* floor: >= 0 */
    return i < n - 1 ? i : n - 1;
}

/* The outputs on a resized axis (n cells to out) that may read input cell i, either mode:
 * [*lo, *hi). Mathematically bilinear's within (i - 1/2) out / n - 1/2 and (i + 3/2) out / n
 * - 1/2, nearest's within i out / n - 1/2 and (i + 1) out / n - 1/2, the clamped ends reading
 * the first and last cells; two cells more each side cover the float rounding of the source
 * positions (far below a cell while an axis has under 2^23 cells). */
KN_RESIZE_FN void kn__resize_readers(int64_t i, int64_t n, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t a = i < 1 ? -2 : (i - 1) * out / n - 2, b = (i + 2) * out / n + 3;
    *lo = a < 0 ? 0 : a;
    *hi = b > out ? out : b;
}

/* y = ly0 (lx0 a + lx1 b) + ly1 (lx0 c + lx1 d): a, b the row i0y's cells i0x, i1x; c, d
 * the row i1y's (PyTorch's order of the four products). */
KN_RESIZE_FN float kn__bilinear_mix(kn__lerp ly, kn__lerp lx, float a, float b, float c, float d) {
    float top = kn__resize_mul(lx.l0, a) + kn__resize_mul(lx.l1, b);
    float bottom = kn__resize_mul(lx.l0, c) + kn__resize_mul(lx.l1, d);
    return kn__resize_mul(ly.l0, top) + kn__resize_mul(ly.l1, bottom);
}

#endif
