/* augment.c — image augmentation kernels (see augment.h): rotation and shift as one
 * inverse-mapped bilinear pass, flip, random erasing and Gaussian noise, per sample, in
 * place. Single-threaded and allocation-free; callers parallelize over batches if needed.
 * The bilinear sampling has an AVX2 path and a scalar one that give the same bits; the
 * noise is plain C written so the compiler vectorizes it (own log and sincos). */
#include "data/augment.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define AUGMENT_AVX2 1
#else
#define AUGMENT_AVX2 0
#endif

/* Draw numbering within a sample's KN__AUGMENT_DRAWS counters. Fixed forever: changing it
 * changes every augmented sample for a given seed. */
enum {
    J_ROTATE_P = 0,
    J_ROTATE_ANGLE = 1,
    J_SHIFT_P = 2,
    J_SHIFT_Y = 3,
    J_SHIFT_X = 4,
    J_FLIP = 5,
    J_ERASE_P = 6,
    J_NOISE_P = 7,
    J_NOISE_KEY = 8,
    J_ERASE_TRIES = 16, /* try t uses J_ERASE_TRIES + 4 t + {0 area, 1 ratio, 2 top, 3 left} */
    ERASE_TRIES = 10,
};
_Static_assert(J_ERASE_TRIES + 4 * ERASE_TRIES <= KN__AUGMENT_DRAWS, "draws fit the key's counters");

void kn__augment_defaults(kn__augment *a) {
    memset(a, 0, sizeof *a);
    a->shift_p = a->rotate_p = a->noise_p = 1.0f;
    a->erase_scale[0] = 0.02f;
    a->erase_scale[1] = 0.33f;
    a->erase_ratio[0] = 0.3f;
    a->erase_ratio[1] = 3.3f;
}

static bool shift_on(const kn__augment *a) { return a->shift > 0 && a->shift_p > 0; }
static bool rotate_on(const kn__augment *a) { return a->rotate > 0 && a->rotate_p > 0; }
static bool noise_on(const kn__augment *a) { return a->noise > 0 && a->noise_p > 0; }

bool kn__augment_active(const kn__augment *a) {
    return shift_on(a) || rotate_on(a) || noise_on(a) || a->flip > 0 || a->erase > 0;
}

static kn_status check_probability(kn_ctx *ctx, const char *field, float p) {
    if (!(p >= 0 && p <= 1)) /* NaN fails too */
        return kn__error(ctx, KN_ERR_SPEC, "augment.%s: %g is not a probability in [0, 1]", field, (double)p);
    return KN_OK;
}

kn_status kn__augment_check(kn_ctx *ctx, const kn__augment *a) {
    if (a->shift < 0 || a->shift > 64)
        return kn__error(ctx, KN_ERR_SPEC, "augment.shift: %d pixels is not in [0, 64]", a->shift);
    if (!(a->rotate >= 0 && a->rotate <= 180))
        return kn__error(ctx, KN_ERR_SPEC, "augment.rotate: %g degrees is not in [0, 180]", (double)a->rotate);
    if (!(a->noise >= 0 && isfinite(a->noise)))
        return kn__error(ctx, KN_ERR_SPEC, "augment.noise: standard deviation %g is not finite and >= 0",
                         (double)a->noise);
    const struct { const char *name; float p; } probs[] = {
        {"shift_p", a->shift_p}, {"flip", a->flip}, {"rotate_p", a->rotate_p},
        {"noise_p", a->noise_p}, {"erase", a->erase},
    };
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++) {
        kn_status st = check_probability(ctx, probs[i].name, probs[i].p);
        if (st) return st;
    }
    float lo = a->erase_scale[0], hi = a->erase_scale[1];
    if (!(lo > 0 && lo <= hi && hi <= 1))
        return kn__error(ctx, KN_ERR_SPEC, "augment.erase_scale: [%g, %g] is not a range with 0 < lo <= hi <= 1",
                         (double)lo, (double)hi);
    lo = a->erase_ratio[0], hi = a->erase_ratio[1];
    if (!(lo > 0 && lo <= hi && isfinite(hi)))
        return kn__error(ctx, KN_ERR_SPEC, "augment.erase_ratio: [%g, %g] is not a finite range with 0 < lo <= hi",
                         (double)lo, (double)hi);
    return KN_OK;
}

/* ------------------------------------------------------------------ shift, flip */

void kn__augment_shift_one(const float *src, float *dst, int h, int w, int c, int dy, int dx) {
    size_t row = (size_t)w * (size_t)c;
    /* Columns of dst that receive src: [x0, x1), from src column x0 - dx. */
    int x0 = dx > 0 ? dx : 0, x1 = dx < 0 ? w + dx : w;
    if (x1 < x0) x1 = x0;
    size_t left = (size_t)x0 * (size_t)c, mid = (size_t)(x1 - x0) * (size_t)c;
    for (int y = 0; y < h; y++) {
        float *d = dst + (size_t)y * row; /* (w, c) */
        int sy = y - dy;
        if (sy < 0 || sy >= h || mid == 0) {
            memset(d, 0, row * sizeof *d);
            continue;
        }
        memset(d, 0, left * sizeof *d);
        memcpy(d + left, src + (size_t)sy * row + (size_t)(x0 - dx) * (size_t)c, mid * sizeof *d);
        memset(d + left + mid, 0, (row - left - mid) * sizeof *d);
    }
}

void kn__augment_flip_one(float *x, int h, int w, int c) {
    if (c == 1) { /* its own loop, which the compiler vectorizes */
        for (int y = 0; y < h; y++) {
            float *r = x + (size_t)y * (size_t)w; /* (w) */
            for (int i = 0; i < w / 2; i++) {
                float t = r[i];
                r[i] = r[w - 1 - i];
                r[w - 1 - i] = t;
            }
        }
        return;
    }
    for (int y = 0; y < h; y++) {
        float *r = x + (size_t)y * (size_t)w * (size_t)c; /* (w, c) */
        for (int i = 0, j = w - 1; i < j; i++, j--)
            for (int ch = 0; ch < c; ch++) {
                float t = r[(size_t)i * c + ch];
                r[(size_t)i * c + ch] = r[(size_t)j * c + ch];
                r[(size_t)j * c + ch] = t;
            }
    }
}

/* ------------------------------------------------------------------ rotation */

/* sin and cos of an angle in degrees; exact at multiples of 90 so that quarter turns move
 * pixels without blending in a 1e-8 share of their neighbours. */
static void sincos_degrees(float degrees, float *s, float *co) {
    double r = fmod((double)degrees, 360.0);
    if (r < 0) r += 360.0;
    if (r == 0 || r == 90 || r == 180 || r == 270) {
        static const float table[4][2] = {{0, 1}, {1, 0}, {0, -1}, {-1, 0}};
        int q = (int)(r / 90);
        *s = table[q][0];
        *co = table[q][1];
        return;
    }
    double rad = r * (3.14159265358979323846 / 180.0);
    *s = (float)sin(rad);
    *co = (float)cos(rad);
}

#if !AUGMENT_AVX2
/* Bilinear sampling, with the image read as surrounded by zeros. The source point is first
 * clamped to [-1, w] x [-1, h] (a point beyond lands on a tap off the image with weight 1
 * and a tap on it with weight 0, so it reads 0, and the casts stay in range); the 4 taps
 * are then those of floor(sx), floor(sy), each read as 0 when off the image. The scalar
 * and the AVX2 code do the same operations in the same order, so give the same bits. */
static inline float sample_one(const float *src, int w, int h, int c, int ch, float sx, float sy) {
    const float wf = (float)w, hf = (float)h;
    sx = sx > -1.0f ? sx : -1.0f; /* as _mm256_max_ps: NaN goes to -1 */
    sx = sx < wf ? sx : wf;
    sy = sy > -1.0f ? sy : -1.0f;
    sy = sy < hf ? sy : hf;
    const float lx = floorf(sx), ly = floorf(sy);
    const float fx = sx - lx, fy = sy - ly, gx = 1.0f - fx, gy = 1.0f - fy;
    const int ix = (int)lx, iy = (int)ly;
    /* ix is in [-1, w]: the left tap is on the image for 0 <= ix < w, the right one for
     * ix < w - 1; the same for rows. */
    const bool x0 = ix >= 0 && ix < w, x1 = ix < w - 1, y0 = iy >= 0 && iy < h, y1 = iy < h - 1;
    /* Element index of tap (iy + 1, ix + 1), never negative; the others are offsets back. */
    const size_t i = ((size_t)(iy + 1) * (size_t)w + (size_t)(ix + 1)) * (size_t)c + (size_t)ch;
    const size_t cw = (size_t)w * (size_t)c, cc = (size_t)c;
    const float a = y0 && x0 ? src[i - cw - cc] : 0.0f, b = y0 && x1 ? src[i - cw] : 0.0f;
    const float e = y1 && x0 ? src[i - cc] : 0.0f, f = y1 && x1 ? src[i] : 0.0f;
    return gy * gx * a + gy * fx * b + fy * gx * e + fy * fx * f;
}
#endif

#if AUGMENT_AVX2
/* The pairs (s[t[i]], s[t[i] + 1]) of pixels i = 0 1 | 4 5 (p = 0) or 2 3 | 6 7 (p = 2) as
 * one vector: two such vectors shuffled give the 8 left taps in lane order, and the 8 right
 * taps. __m64 may alias floats. */
static inline __m128 two_pairs(const float *p, const float *q) {
    return _mm_loadh_pi(_mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)p), (const __m64 *)q);
}
static inline __m256 tap_pairs(const float *s, const int32_t *t, int p) {
    __m128 lo = two_pairs(s + t[p], s + t[p + 1]), hi = two_pairs(s + t[p + 4], s + t[p + 5]);
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

/* sample_one for 8 source points, every channel: o receives count (1..8) pixels of c
 * channels. When every tap of the 8 is on the image (most points, for small angles) a
 * short path loads each pixel's left and right taps as one pair (AVX2 gathers are slow on
 * recent microcode); otherwise masked gathers read only the taps on the image. */
static inline __attribute__((always_inline)) void sample8(const float *src, int w, int h, int c, __m256 sx,
                                                          __m256 sy, float *o, int count) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    if (c == 1 && count == 8) {
        const __m256 wl = _mm256_set1_ps((float)(w - 1)), hl = _mm256_set1_ps((float)(h - 1));
        const __m256 in_x = _mm256_and_ps(_mm256_cmp_ps(sx, zero, _CMP_GE_OQ), _mm256_cmp_ps(sx, wl, _CMP_LT_OQ));
        const __m256 in_y = _mm256_and_ps(_mm256_cmp_ps(sy, zero, _CMP_GE_OQ), _mm256_cmp_ps(sy, hl, _CMP_LT_OQ));
        if (_mm256_movemask_ps(_mm256_and_ps(in_x, in_y)) == 0xff) {
            const __m256 lx = _mm256_floor_ps(sx), ly = _mm256_floor_ps(sy);
            const __m256 fx = _mm256_sub_ps(sx, lx), fy = _mm256_sub_ps(sy, ly);
            const __m256 gx = _mm256_sub_ps(one, fx), gy = _mm256_sub_ps(one, fy);
            const __m256i ix = _mm256_cvttps_epi32(lx), iy = _mm256_cvttps_epi32(ly);
            int32_t t[8]; /* index of each top-left tap */
            _mm256_storeu_si256((__m256i *)t, _mm256_add_epi32(_mm256_mullo_epi32(iy, _mm256_set1_epi32(w)), ix));
            const __m256 p0 = tap_pairs(src, t, 0), p1 = tap_pairs(src, t, 2);
            const __m256 q0 = tap_pairs(src + w, t, 0), q1 = tap_pairs(src + w, t, 2);
            const __m256 a = _mm256_shuffle_ps(p0, p1, 0x88), b = _mm256_shuffle_ps(p0, p1, 0xdd);
            const __m256 e = _mm256_shuffle_ps(q0, q1, 0x88), f = _mm256_shuffle_ps(q0, q1, 0xdd);
            __m256 r = _mm256_mul_ps(_mm256_mul_ps(gy, gx), a);
            r = _mm256_add_ps(r, _mm256_mul_ps(_mm256_mul_ps(gy, fx), b));
            r = _mm256_add_ps(r, _mm256_mul_ps(_mm256_mul_ps(fy, gx), e));
            r = _mm256_add_ps(r, _mm256_mul_ps(_mm256_mul_ps(fy, fx), f));
            _mm256_storeu_ps(o, r);
            return;
        }
    }
    const __m256 m1 = _mm256_set1_ps(-1.0f);
    sx = _mm256_min_ps(_mm256_max_ps(sx, m1), _mm256_set1_ps((float)w));
    sy = _mm256_min_ps(_mm256_max_ps(sy, m1), _mm256_set1_ps((float)h));
    const __m256 lx = _mm256_floor_ps(sx), ly = _mm256_floor_ps(sy);
    const __m256 fx = _mm256_sub_ps(sx, lx), fy = _mm256_sub_ps(sy, ly);
    const __m256 gx = _mm256_sub_ps(one, fx), gy = _mm256_sub_ps(one, fy);
    const __m256i ix = _mm256_cvttps_epi32(lx), iy = _mm256_cvttps_epi32(ly), ineg = _mm256_set1_epi32(-1);
    const __m256i wl = _mm256_set1_epi32(w - 1), hl = _mm256_set1_epi32(h - 1);
    const __m256i x0 = _mm256_andnot_si256(_mm256_cmpgt_epi32(ix, wl), _mm256_cmpgt_epi32(ix, ineg));
    const __m256i y0 = _mm256_andnot_si256(_mm256_cmpgt_epi32(iy, hl), _mm256_cmpgt_epi32(iy, ineg));
    const __m256i x1 = _mm256_cmpgt_epi32(wl, ix), y1 = _mm256_cmpgt_epi32(hl, iy);
    const __m256 m00 = _mm256_castsi256_ps(_mm256_and_si256(y0, x0));
    const __m256 m01 = _mm256_castsi256_ps(_mm256_and_si256(y0, x1));
    const __m256 m10 = _mm256_castsi256_ps(_mm256_and_si256(y1, x0));
    const __m256 m11 = _mm256_castsi256_ps(_mm256_and_si256(y1, x1));
    const __m256 w00 = _mm256_mul_ps(gy, gx), w01 = _mm256_mul_ps(gy, fx);
    const __m256 w10 = _mm256_mul_ps(fy, gx), w11 = _mm256_mul_ps(fy, fx);
    /* Element index of the top-left tap; masked lanes may point off the image, unread. */
    __m256i t00 = _mm256_add_epi32(_mm256_mullo_epi32(iy, _mm256_set1_epi32(w)), ix);
    if (c != 1) t00 = _mm256_mullo_epi32(t00, _mm256_set1_epi32(c));
    const __m256i t01 = _mm256_add_epi32(t00, _mm256_set1_epi32(c));
    const __m256i t10 = _mm256_add_epi32(t00, _mm256_set1_epi32(w * c));
    const __m256i t11 = _mm256_add_epi32(t10, _mm256_set1_epi32(c));
    for (int ch = 0; ch < c; ch++) {
        const float *s = src + ch;
        __m256 r = _mm256_mul_ps(w00, _mm256_mask_i32gather_ps(zero, s, t00, m00, 4));
        r = _mm256_add_ps(r, _mm256_mul_ps(w01, _mm256_mask_i32gather_ps(zero, s, t01, m01, 4)));
        r = _mm256_add_ps(r, _mm256_mul_ps(w10, _mm256_mask_i32gather_ps(zero, s, t10, m10, 4)));
        r = _mm256_add_ps(r, _mm256_mul_ps(w11, _mm256_mask_i32gather_ps(zero, s, t11, m11, 4)));
        if (c == 1 && count == 8) {
            _mm256_storeu_ps(o, r);
        } else {
            float tmp[8];
            _mm256_storeu_ps(tmp, r);
            for (int k = 0; k < count; k++) o[(size_t)k * c + ch] = tmp[k];
        }
    }
}
#endif

/* dst (h, w, c) = src rotated by (sn, cs) = (sin, cos) of the angle then shifted by (dy, dx),
 * in one inverse-mapped pass: output (y, x) comes from the rotated image at (y - dy, x - dx)
 * (0 when that lies outside the grid, as a separate shift would give), which comes from src
 * at the inverse rotation of that point about the centre, bilinear. Assumes h w c < 2^31. */
static void warp(const float *src, float *dst, int h, int w, int c, float sn, float cs, int dy, int dx) {
    const float cx = 0.5f * (float)(w - 1), cy = 0.5f * (float)(h - 1);
    const size_t row = (size_t)w * (size_t)c;
    int xa = dx > 0 ? dx : 0, xb = dx < 0 ? w + dx : w; /* columns inside the shifted grid */
    if (xb < xa) xb = xa;
    for (int y = 0; y < h; y++) {
        float *d = dst + (size_t)y * row; /* (w, c) */
        int ry = y - dy;
        if (ry < 0 || ry >= h) {
            memset(d, 0, row * sizeof *d);
            continue;
        }
        if (xa > 0) memset(d, 0, (size_t)xa * (size_t)c * sizeof *d);
        if (xb < w) memset(d + (size_t)xb * (size_t)c, 0, (size_t)(w - xb) * (size_t)c * sizeof *d);
        const float v = (float)ry - cy;
        /* Source of output column x: (bx + u cs, by + u sn), u = x - dx - cx: the inverse
         * rotation (cx + u cs - v sn, cy + u sn + v cs). u is exact (a small integer or
         * half-integer), so the vector and scalar code see the same values. */
        const float bx = cx - v * sn, by = cy + v * cs;
#if AUGMENT_AVX2
        const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256 vcs = _mm256_set1_ps(cs), vsn = _mm256_set1_ps(sn);
        const __m256 vbx = _mm256_set1_ps(bx), vby = _mm256_set1_ps(by);
        for (int x = xa; x < xb; x += 8) {
            /* A last short group is moved back to end at xb when the row allows, redoing
             * a few columns (to the same values) rather than sampling past the row. */
            int x0 = x, count = 8;
            if (xb - x < 8) {
                if (xb - xa >= 8)
                    x0 = xb - 8;
                else
                    count = xb - x; /* lanes past xb sample clamped points, unstored */
            }
            __m256 u = _mm256_add_ps(_mm256_set1_ps((float)(x0 - dx) - cx), lane);
            __m256 sx = _mm256_add_ps(vbx, _mm256_mul_ps(u, vcs));
            __m256 sy = _mm256_add_ps(vby, _mm256_mul_ps(u, vsn));
            if (c == 1) /* its own copy, with c a constant */
                sample8(src, w, h, 1, sx, sy, d + x0, count);
            else
                sample8(src, w, h, c, sx, sy, d + (size_t)x0 * (size_t)c, count);
        }
#else
        for (int x = xa; x < xb; x++) {
            const float u = (float)(x - dx) - cx;
            for (int ch = 0; ch < c; ch++)
                d[(size_t)x * (size_t)c + ch] = sample_one(src, w, h, c, ch, bx + u * cs, by + u * sn);
        }
#endif
    }
}

void kn__augment_rotate_one(const float *src, float *dst, int h, int w, int c, float degrees) {
    float sn, cs;
    sincos_degrees(degrees, &sn, &cs);
    warp(src, dst, h, w, c, sn, cs, 0, 0);
}

/* ------------------------------------------------------------------ erasing */

/* Uniform integer in [0, m), m <= 2^32 (Lemire's multiply-shift on the top 32 bits). */
static int64_t draw_below(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t m) {
    return (int64_t)(((kn__rng_u64(seed, stream, counter) >> 32) * m) >> 32);
}

bool kn__augment_erase_rect(const kn__augment *a, int h, int w, uint64_t seed, uint64_t stream,
                            int64_t key, int *top, int *left, int *height, int *width) {
    const uint64_t base = (uint64_t)key * KN__AUGMENT_DRAWS + J_ERASE_TRIES;
    const double area = (double)h * (double)w;
    const double lr0 = log((double)a->erase_ratio[0]), lr1 = log((double)a->erase_ratio[1]);
    for (int t = 0; t < ERASE_TRIES; t++) {
        uint64_t j = base + 4 * (uint64_t)t;
        double share = a->erase_scale[0] + (a->erase_scale[1] - a->erase_scale[0]) *
                                               (double)kn__rng_uniform(seed, stream, j);
        double ratio = exp(lr0 + (lr1 - lr0) * (double)kn__rng_uniform(seed, stream, j + 1)); /* height / width */
        /* rint: ties to even, as Python's round in torchvision. */
        double eh = rint(sqrt(area * share * ratio)), ew = rint(sqrt(area * share / ratio));
        if (!(eh < h && ew < w)) continue;
        *height = (int)eh;
        *width = (int)ew;
        *top = (int)draw_below(seed, stream, j + 2, (uint64_t)(h - *height + 1));
        *left = (int)draw_below(seed, stream, j + 3, (uint64_t)(w - *width + 1));
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ noise */

enum { NOISE_BLOCK = 64 }; /* pairs per block: cos half -> elements [0, 64), sin half -> [64, 128) */

static inline uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Natural log for u in (0, 1], normal floats only (Cephes logf polynomial, ~1 ulp).
 * Branch-free, so the noise loop vectorizes: a data-dependent branch here mispredicts
 * half the time. u = m 2^e with m in [sqrt(1/2), sqrt(2)) found by offsetting the bits
 * by those of sqrt(1/2), as musl's logf. */
static inline float log_unit(float u) {
    const uint32_t sqrt_half = 0x3f3504f3u;
    uint32_t ix = float_bits(u) - sqrt_half;
    float fe = (float)((int32_t)ix >> 23);
    float x = bits_float((ix & 0x007fffffu) + sqrt_half) - 1.0f, z = x * x;
    float y = 7.0376836292e-2f;
    y = y * x - 1.1514610310e-1f;
    y = y * x + 1.1676998740e-1f;
    y = y * x - 1.2420140846e-1f;
    y = y * x + 1.4249322787e-1f;
    y = y * x - 1.6668057665e-1f;
    y = y * x + 2.0000714765e-1f;
    y = y * x - 2.4999993993e-1f;
    y = y * x + 3.3333331174e-1f;
    y = y * x * z;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return x + y + 0.693359375f * fe;
}

/* sin and cos of 2 pi t for t in [0, 1): quadrant reduction, then Cephes sinf/cosf
 * polynomials on [-pi/4, pi/4]; branch-free. */
static inline void sincos_turn(float t, float *s, float *co) {
    int q = (int)(t * 4.0f + 0.5f); /* 0..4 */
    float a = (t - 0.25f * (float)q) * 6.28318530718f, z = a * a;
    float sa = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * a + a;
    float ca = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z -
               0.5f * z + 1.0f;
    /* Turning by q quarters: (sin, cos) -> (cos, -sin) per quarter; done on the bits,
     * branch-free (swap when q is odd, negate sin when q & 2, cos when (q + 1) & 2). */
    uint32_t swap = 0u - (uint32_t)(q & 1), sb = float_bits(sa), cb = float_bits(ca);
    uint32_t s0 = (sb & ~swap) | (cb & swap), c0 = (cb & ~swap) | (sb & swap);
    *s = bits_float(s0 ^ ((uint32_t)(q & 2) << 30));
    *co = bits_float(c0 ^ ((uint32_t)((q + 1) & 2) << 30));
}

/* x[0..count) += sigma * N(0, 1), Box-Muller. Pair p uses splitmix64 output p of the
 * sample's key: 24 bits give u1 in (0, 1] (never 0, so the log is finite), 24 more give
 * u2 in [0, 1). Elements are laid out in blocks of 2 NOISE_BLOCK: the cos values of a
 * block's pairs, then their sin values. */
static void add_noise(float *x, size_t count, uint64_t key, float sigma) {
    float zc[NOISE_BLOCK], zs[NOISE_BLOCK];
    uint64_t pair = 0;
    for (size_t base = 0; base < count; base += 2 * NOISE_BLOCK, pair += NOISE_BLOCK) {
        size_t m = count - base;
        int np = m < NOISE_BLOCK ? (int)m : NOISE_BLOCK;
        for (int p = 0; p < np; p++) {
            uint64_t z = key + (pair + (uint64_t)p + 1) * 0x9e3779b97f4a7c15ULL;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
            float u1 = (float)((int32_t)(z >> 40) + 1) * (1.0f / 16777216.0f);
            float u2 = (float)((int32_t)(z & 0xffffff)) * (1.0f / 16777216.0f);
            float r = sigma * sqrtf(-2.0f * log_unit(u1));
            float sn, cs;
            sincos_turn(u2, &sn, &cs);
            zc[p] = r * cs;
            zs[p] = r * sn;
        }
        float *d = x + base;
        for (int p = 0; p < np; p++) d[p] += zc[p];
        if (m > NOISE_BLOCK) {
            int ns = m < 2 * NOISE_BLOCK ? (int)(m - NOISE_BLOCK) : NOISE_BLOCK;
            for (int p = 0; p < ns; p++) d[NOISE_BLOCK + p] += zs[p];
        }
    }
}

/* ------------------------------------------------------------------ batch */

static bool chance(uint64_t seed, uint64_t stream, uint64_t counter, float p) {
    return p >= 1.0f || kn__rng_uniform(seed, stream, counter) < p;
}

void kn__augment_batch(const kn__augment *a, float *x, int64_t n, int h, int w, int c,
                       uint64_t seed, uint64_t stream, const int64_t *key, float *scratch) {
    const size_t size = (size_t)h * (size_t)w * (size_t)c;
    const bool rot = rotate_on(a), sh = shift_on(a), noi = noise_on(a);
    for (int64_t i = 0; i < n; i++) {
        float *img = x + (size_t)i * size; /* (h, w, c) */
        const uint64_t k = (uint64_t)key[i] * KN__AUGMENT_DRAWS;
        bool do_rot = rot && chance(seed, stream, k + J_ROTATE_P, a->rotate_p);
        int dy = 0, dx = 0;
        if (sh && chance(seed, stream, k + J_SHIFT_P, a->shift_p)) {
            uint64_t span = 2 * (uint64_t)a->shift + 1;
            dy = (int)draw_below(seed, stream, k + J_SHIFT_Y, span) - a->shift;
            dx = (int)draw_below(seed, stream, k + J_SHIFT_X, span) - a->shift;
        }
        if (do_rot) {
            float deg = (2.0f * kn__rng_uniform(seed, stream, k + J_ROTATE_ANGLE) - 1.0f) * a->rotate;
            float sn, cs;
            sincos_degrees(deg, &sn, &cs);
            warp(img, scratch, h, w, c, sn, cs, dy, dx);
            memcpy(img, scratch, size * sizeof *img);
        } else if (dy || dx) {
            kn__augment_shift_one(img, scratch, h, w, c, dy, dx);
            memcpy(img, scratch, size * sizeof *img);
        }
        if (a->flip > 0 && chance(seed, stream, k + J_FLIP, a->flip)) kn__augment_flip_one(img, h, w, c);
        int top, left, eh, ew;
        if (a->erase > 0 && chance(seed, stream, k + J_ERASE_P, a->erase) &&
            kn__augment_erase_rect(a, h, w, seed, stream, key[i], &top, &left, &eh, &ew)) {
            for (int y = top; y < top + eh; y++)
                memset(img + ((size_t)y * w + left) * c, 0, (size_t)ew * c * sizeof *img);
        }
        if (noi && chance(seed, stream, k + J_NOISE_P, a->noise_p))
            add_noise(img, size, kn__rng_u64(seed, stream, k + J_NOISE_KEY), a->noise);
    }
}
