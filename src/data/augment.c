/* augment.c — image augmentation kernels (see augment.h): rotation, shift and flip as one
 * inverse-mapped bilinear pass, random erasing and Gaussian noise, per sample, in place.
 * Single-threaded and allocation-free; callers parallelize over batches if needed.
 *
 * Built to hide behind a training step: a 32x28x28 batch with shift 2, flip 0.5, rotate
 * 10, noise 0.05 and erase 0.1 takes ~50 us on one core of the 2-core dev VM (130-180 us
 * before; test_augment prints it). The scalar code defines every value; the AVX2 code
 * (one-channel rotation: 8 pixels at a time, taps from a row-interleaved zero-bordered
 * copy; noise: 8 Box-Muller pairs at a time with our own log, sin and cos) and, where the
 * CPU has it, the AVX-512 noise do the same operations in the same order, so all give the
 * same bits. The notes by each part say what the machine rewarded (it does about one store
 * a cycle; its gathers are fast but loads plus shuffles are faster). */
#include "data/augment.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define AUGMENT_AVX2 1
#else
#define AUGMENT_AVX2 0
#endif

/* a b + c in the scalar code. With a hardware fma (every AVX2 build) it is fmaf, one
 * rounding, as the vector code's FMAs, so scalar and vector paths give the same bits;
 * without one, fmaf is a slow library emulation, so two roundings instead (such a build
 * differs from an FMA one in the last bits, and agrees with itself). */
#ifdef FP_FAST_FMAF
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
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

/* kn__augment_shift_one in place. In the flat (h, w, c) layout the move is one memmove by
 * (dy w + dx) c elements; what that carries across a row's edge lands exactly in the
 * uncovered columns, and what it leaves behind in the uncovered rows, both zeroed after. */
static void shift_in_place(float *x, int h, int w, int c, int dy, int dx) {
    const size_t row = (size_t)w * (size_t)c, size = (size_t)h * row;
    if (dy >= h || -dy >= h || dx >= w || -dx >= w) {
        memset(x, 0, size * sizeof *x);
        return;
    }
    const int64_t d = ((int64_t)dy * w + dx) * c;
    const size_t ad = (size_t)(d < 0 ? -d : d);
    if (d > 0) memmove(x + ad, x, (size - ad) * sizeof *x);
    if (d < 0) memmove(x, x + ad, (size - ad) * sizeof *x);
    if (dy > 0) memset(x, 0, (size_t)dy * row * sizeof *x);
    if (dy < 0) memset(x + (size_t)(h + dy) * row, 0, (size_t)-dy * row * sizeof *x);
    if (dx != 0) {
        const size_t first = dx > 0 ? 0 : (size_t)(w + dx) * (size_t)c, n = (size_t)(dx > 0 ? dx : -dx) * (size_t)c;
        for (int y = 0; y < h; y++)
            for (size_t i = 0; i < n; i++) x[(size_t)y * row + first + i] = 0.0f;
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
    double r = degrees;
    if (!(r > -360.0 && r < 360.0)) r = fmod(r, 360.0); /* fmod costs more than the rest */
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

/* How a pixel's value is computed, in every path (scalar, AVX2, one channel or many), so
 * they all give the same bits. Output pixel (y, x) of a turn by (sn, cs), then a shift by
 * (dy, dx), then a mirror when flip, comes from the point u = xs - dx - cx, v = y - dy - cy
 * of the turned picture (xs = w - 1 - x when mirrored, else x; u, v exact small integers or
 * half-integers), whose source is sx = u cs + bx, sy = u sn + by, with bx = cx - v sn,
 * by = cy + v cs (each one MADD). The point is clamped to [-1, w] x [-1, h] (a point beyond
 * then reads taps off the image, 0, with weight 1, and taps on it with weight 0), and the
 * value is the bilinear blend of the 4 taps around (floor sx, floor sy), each 0 off the
 * image: h0 = a + fx (b - a), h1 = e + fx (f - e), value = h0 + fy (h1 - h0), each a MADD.
 * Rows are affine in x, so a row needs no trig, and integer points give exact values. */
static inline void sample_px(const float *src, int h, int w, int c, float sx, float sy, float *o) {
    const float wf = (float)w, hf = (float)h;
    sx = sx > -1.0f ? sx : -1.0f; /* as _mm256_max_ps: NaN goes to -1 */
    sx = sx < wf ? sx : wf;
    sy = sy > -1.0f ? sy : -1.0f;
    sy = sy < hf ? sy : hf;
    const float lx = floorf(sx), ly = floorf(sy), fx = sx - lx, fy = sy - ly;
    const int ix = (int)lx, iy = (int)ly; /* in [-1, w] and [-1, h] */
    const size_t cc = (size_t)c, cw = (size_t)w * cc;
    if (ix >= 0 && ix < w - 1 && iy >= 0 && iy < h - 1) { /* every tap on the image */
        const float *s = src + ((size_t)iy * (size_t)w + (size_t)ix) * cc;
        for (size_t ch = 0; ch < cc; ch++) {
            const float a = s[ch], b = s[cc + ch], e = s[cw + ch], f = s[cw + cc + ch];
            const float h0 = MADD(fx, b - a, a), h1 = MADD(fx, f - e, e);
            o[ch] = MADD(fy, h1 - h0, h0);
        }
        return;
    }
    /* The left tap is on the image for 0 <= ix < w, the right one for ix < w - 1; the same
     * for rows. i: element index of tap (iy + 1, ix + 1), never negative; the others are
     * offsets back from it, formed (wrapping) only for taps that are read. */
    const bool x0 = ix >= 0 && ix < w, x1 = ix < w - 1, y0 = iy >= 0 && iy < h, y1 = iy < h - 1;
    const size_t i = ((size_t)(iy + 1) * (size_t)w + (size_t)(ix + 1)) * cc;
    for (size_t ch = 0; ch < cc; ch++) {
        const float a = y0 && x0 ? src[i - cw - cc + ch] : 0.0f, b = y0 && x1 ? src[i - cw + ch] : 0.0f;
        const float e = y1 && x0 ? src[i - cc + ch] : 0.0f, f = y1 && x1 ? src[i + ch] : 0.0f;
        const float h0 = MADD(fx, b - a, a), h1 = MADD(fx, f - e, e);
        o[ch] = MADD(fy, h1 - h0, h0);
    }
}

/* The geometry shared by the warps: columns [oa, ob) of an output row receive the picture
 * (the others are uncovered by the shift), cx, cy the centre. */
typedef struct warp_geom {
    float sn, cs, cx, cy;
    int dy, dx, oa, ob;
    bool flip;
} warp_geom;

static warp_geom geometry(int h, int w, float sn, float cs, int dy, int dx, bool flip) {
    warp_geom g = {sn, cs, 0.5f * (float)(w - 1), 0.5f * (float)(h - 1), dy, dx, 0, 0, flip};
    int xa = dx > 0 ? dx : 0, xb = dx < 0 ? w + dx : w; /* columns inside the shifted grid */
    if (xb < xa) xb = xa;
    g.oa = flip ? w - xb : xa;
    g.ob = flip ? w - xa : xb;
    return g;
}

/* Any c, one pixel at a time (every pixel when c > 1 or without AVX2). src, dst distinct. */
static void warp_scalar(const float *src, float *dst, int h, int w, int c, const warp_geom *g) {
    const size_t cc = (size_t)c, row = (size_t)w * cc;
    for (int y = 0; y < h; y++) {
        float *d = dst + (size_t)y * row; /* (w, c) */
        const int ry = y - g->dy;
        if (ry < 0 || ry >= h || g->ob <= g->oa) {
            memset(d, 0, row * sizeof *d);
            continue;
        }
        memset(d, 0, (size_t)g->oa * cc * sizeof *d);
        memset(d + (size_t)g->ob * cc, 0, (size_t)(w - g->ob) * cc * sizeof *d);
        const float v = (float)ry - g->cy, bx = MADD(-v, g->sn, g->cx), by = MADD(v, g->cs, g->cy);
        for (int x = g->oa; x < g->ob; x++) {
            const float u = (float)((g->flip ? w - 1 - x : x) - g->dx) - g->cx;
            sample_px(src, h, w, c, MADD(u, g->cs, bx), MADD(u, g->sn, by), d + (size_t)x * cc);
        }
    }
}

#if AUGMENT_AVX2
/* The zero-bordered copy of a c = 1 image that the AVX2 warp reads when it fits on the
 * stack, with rows interleaved in pairs: row r of the copy, r in [-1, h], holds for
 * x in [-1, w + 1] the pixels (r, x) and (r + 1, x) side by side, pixels off the image 0.
 * So the 4 taps of a point, (r, x), (r + 1, x), (r, x + 1), (r + 1, x + 1), are one 4-float
 * load, for every clamped point (floor sx in [-1, w], floor sy in [-1, h]), and the zeros
 * stand for the outside. x = 0 sits at float 8 of a row and rows are a multiple of 8
 * floats, so the copy is made with aligned 32-byte stores (this machine does about one
 * store a cycle, fewer when they cross cache lines). 32 KiB: 28x28 (2160 floats) and up
 * to about 58x58 fit; bigger images sample src directly. */
enum { PAD_MAX = 8192, PAD_X0 = 8 };
static size_t pad_pitch(int w) { return ((size_t)w * 2 + PAD_X0 + 4 + 7) / 8 * 8; }
static size_t pad_floats(int h, int w) { return ((size_t)h + 2) * pad_pitch(w); }

/* d[0..n) = 0 with vector stores (not memset: a libc call per short run costs more than
 * the run, and GCC turns plain zeroing loops into such calls). */
static inline void zero_floats(float *d, int n) {
    const __m256 z = _mm256_setzero_ps();
    for (; n >= 8; n -= 8, d += 8) _mm256_storeu_ps(d, z);
    if (n >= 4) {
        _mm_storeu_ps(d, _mm256_castps256_ps128(z));
        d += 4;
        n -= 4;
    }
    for (; n > 0; n--, d++) _mm_store_ss(d, _mm256_castps256_ps128(z));
}

/* 8 pixels of a row of the interleaved copy: (lo[0], hi[0], .., lo[7], hi[7]). */
static inline void interleave8(float *d, const float *lo, const float *hi) {
    const __m256 l = _mm256_loadu_ps(lo), u = _mm256_loadu_ps(hi);
    const __m256 a = _mm256_unpacklo_ps(l, u), b = _mm256_unpackhi_ps(l, u); /* l0 u0 l1 u1 | l4 u4 l5 u5 */
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(a, b, 0x20));
    _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(a, b, 0x31));
}

static void pad_copy(const float *src, float *pad, int h, int w) {
    const size_t pitch = pad_pitch(w);
    const float zeros[8] = {0};
    for (int r = -1; r <= h; r++) {
        /* The rows' pixels, or zeros (a stride of 0 over 8 zeros) off the image. */
        const bool lo_in = r >= 0 && r < h, hi_in = r + 1 < h;
        const float *lo = lo_in ? src + (size_t)r * (size_t)w : zeros, *hi = hi_in ? src + (size_t)(r + 1) * (size_t)w : zeros;
        const int ls = lo_in, hs = hi_in;
        float *d = pad + (size_t)(r + 1) * pitch + PAD_X0; /* (w + 3, 2) from x = -1 at d - 2 */
        _mm_storel_pi((__m64 *)(d - 2), _mm_setzero_ps()); /* x = -1 */
        if (!lo_in && !hi_in) {
            zero_floats(d, 2 * w);
        } else if (w >= 8) { /* the tail overlapping */
            for (int x = 0;; x += 8) {
                if (x > w - 8) x = w - 8;
                interleave8(d + 2 * x, lo + ls * x, hi + hs * x);
                if (x == w - 8) break;
            }
        } else {
            for (int x = 0; x < w; x++) {
                d[2 * x] = lo[ls * x];
                d[2 * x + 1] = hi[hs * x];
            }
        }
        _mm_storeu_ps(d + 2 * w, _mm_setzero_ps()); /* x = w, w + 1 */
    }
}

/* The bilinear values of 8 points whose 4 taps each are one 4-float load at 2 ti[k] in
 * the row-interleaved copy s (a, e, b, f: top left, bottom left, top right, bottom right),
 * from 4 loads, 4 inserts and a 4x4 transpose per 128-bit half; no gathers. */
static inline __attribute__((always_inline)) __m256 blend_quads(const float *s, const int32_t *t, const float *fxi,
                                                                const float *fyi) {
#define TWO(i, j) \
    _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + 2 * (ptrdiff_t)t[i])), _mm_loadu_ps(s + 2 * (ptrdiff_t)t[j]), 1)
    const __m256 v0 = TWO(0, 4), v1 = TWO(1, 5), v2 = TWO(2, 6), v3 = TWO(3, 7);
#undef TWO
    const __m256 t0 = _mm256_unpacklo_ps(v0, v1), t1 = _mm256_unpackhi_ps(v0, v1); /* a0 a1 e0 e1, b0 b1 f0 f1 */
    const __m256 t2 = _mm256_unpacklo_ps(v2, v3), t3 = _mm256_unpackhi_ps(v2, v3);
#define LO(x, y) _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(x), _mm256_castps_pd(y)))
#define HI(x, y) _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(x), _mm256_castps_pd(y)))
    const __m256 a = LO(t0, t2), e = HI(t0, t2), b = LO(t1, t3), f = HI(t1, t3);
#undef LO
#undef HI
    const __m256 fx = _mm256_loadu_ps(fxi), fy = _mm256_loadu_ps(fyi);
    const __m256 h0 = _mm256_fmadd_ps(fx, _mm256_sub_ps(b, a), a), h1 = _mm256_fmadd_ps(fx, _mm256_sub_ps(f, e), e);
    return _mm256_fmadd_ps(fy, _mm256_sub_ps(h1, h0), h0);
}

/* Element pairs (s[t[k]], s[t[k] + 1]), k = 0..7, as the vectors of the 8 first and the 8
 * second elements, from 8 unaligned 4-float loads (2 elements past each pair are read). */
static inline __attribute__((always_inline)) void pairs8(const float *s, const int32_t *t, __m256 *l, __m256 *r) {
#define TWO(i, j) _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + t[i])), _mm_loadu_ps(s + t[j]), 1)
    const __m256d v0 = _mm256_castps_pd(TWO(0, 4)), v1 = _mm256_castps_pd(TWO(1, 5));
    const __m256d v2 = _mm256_castps_pd(TWO(2, 6)), v3 = _mm256_castps_pd(TWO(3, 7));
#undef TWO
    const __m256 p01 = _mm256_castpd_ps(_mm256_unpacklo_pd(v0, v1)); /* l0 r0 l1 r1 | l4 r4 l5 r5 */
    const __m256 p23 = _mm256_castpd_ps(_mm256_unpacklo_pd(v2, v3)); /* l2 r2 l3 r3 | l6 r6 l7 r7 */
    *l = _mm256_shuffle_ps(p01, p23, 0x88);
    *r = _mm256_shuffle_ps(p01, p23, 0xdd);
}

/* The same from the image itself (pixel (y, x) at p[y pitch + x]; 2 elements readable past
 * each right tap): 8 loads a row. */
static inline __attribute__((always_inline)) __m256 blend_pairs(const float *p, int pitch, const int32_t *ti,
                                                                const float *fxi, const float *fyi) {
    __m256 a, b, e, f;
    pairs8(p, ti, &a, &b);
    pairs8(p + pitch, ti, &e, &f);
    const __m256 fx = _mm256_loadu_ps(fxi), fy = _mm256_loadu_ps(fyi);
    const __m256 h0 = _mm256_fmadd_ps(fx, _mm256_sub_ps(b, a), a), h1 = _mm256_fmadd_ps(fx, _mm256_sub_ps(f, e), e);
    return _mm256_fmadd_ps(fy, _mm256_sub_ps(h1, h0), h0);
}

/* c = 1, 8 output pixels at a time. padded: p is the row-interleaved copy (p at its
 * pixel (0, 0), pitch in floats) and dst may be the image it was copied from. Else p is
 * the image (pitch w, distinct from dst) and a group of 8 whose points are not all well
 * inside it (taps on the image, and the 4-float loads within it) goes pixel by pixel
 * through sample_px.
 *
 * The chain from a point to its value is long (floor, index, loads, shuffles, blends), so
 * the work is done in two passes over up to CHUNK groups, many rows at once: the groups'
 * taps first (stored: 3 vectors a group), then one tight loop of loads and blends whose
 * iterations overlap. A row's groups are the same in every row: they start at oa, oa + 8,
 * ..., a last short one moved back to end at ob when the row allows (redoing a few pixels,
 * to the same values, rather than sampling past the row), else (a row under 8 wide) with
 * lanes < 8, the rest sampling clamped points, unstored. Their u vectors are made once, for
 * up to GROUPS groups at a time (a wider row is done in slices of columns). */
enum { CHUNK = 64, GROUPS = 32 };
typedef struct group_list {
    int32_t ti[CHUNK * 8];              /* the index of each point's top left tap (halved when padded) */
    float fx[CHUNK * 8], fy[CHUNK * 8]; /* its fractions; for slow groups, the points */
    bool slow[CHUNK];                   /* through sample_px (unpadded, not well inside) */
    __m256 u[GROUPS];                   /* the groups' u, and where they start */
    int x0[GROUPS];
} group_list;

/* Pass 2 over the ng groups from row y, group j of the slice, on in row order. */
static inline __attribute__((always_inline)) void flush_groups(group_list *gl, int ng, int y, int j, int gn,
                                                               const float *p, int pitch, bool padded, float *dst,
                                                               int h, int w, int lanes) {
    float *d = dst + (size_t)y * (size_t)w;
    for (int k = 0; k < ng; k++) {
        __m256 r;
        if (padded) {
            r = blend_quads(p, gl->ti + 8 * k, gl->fx + 8 * k, gl->fy + 8 * k);
        } else if (!gl->slow[k]) {
            r = blend_pairs(p, pitch, gl->ti + 8 * k, gl->fx + 8 * k, gl->fy + 8 * k);
        } else {
            float t[8] = {0};
            for (int i = 0; i < lanes; i++) sample_px(p, h, w, 1, gl->fx[8 * k + i], gl->fy[8 * k + i], &t[i]);
            r = _mm256_loadu_ps(t);
        }
        if (lanes == 8) {
            _mm256_storeu_ps(d + gl->x0[j], r);
        } else {
            float t[8];
            _mm256_storeu_ps(t, r);
            memcpy(d + gl->x0[j], t, (size_t)lanes * sizeof *t);
        }
        if (++j == gn) {
            j = 0;
            d += w;
        }
    }
}

static inline __attribute__((always_inline)) void warp_c1(const float *p, int pitch, bool padded, float *dst, int h,
                                                          int w, const warp_geom *g, group_list *gl) {
    const __m256 vcs = _mm256_set1_ps(g->cs), vsn = _mm256_set1_ps(g->sn);
    const __m256 m1 = _mm256_set1_ps(-1.0f), wf = _mm256_set1_ps((float)w), hf = _mm256_set1_ps((float)h);
    const __m256 zero = _mm256_setzero_ps(), wl = _mm256_set1_ps((float)(w - 1)), hl = _mm256_set1_ps((float)(h - 2));
    const __m256 half_pitch = _mm256_set1_ps((float)(pitch / 2));
    const int oa = g->oa, ob = g->ob;
    /* The rows that receive the picture, [ya, yb); the others are uncovered by the shift. */
    const int ya = g->dy > 0 ? g->dy : 0, yb = g->dy < 0 ? h + g->dy : h;
    if (ob <= oa || yb <= ya) {
        zero_floats(dst, h * w);
        return;
    }
    zero_floats(dst, ya * w);
    zero_floats(dst + (size_t)yb * (size_t)w, (h - yb) * w);
    for (int y = ya; y < yb; y++) {
        zero_floats(dst + (size_t)y * (size_t)w, oa);
        zero_floats(dst + (size_t)y * (size_t)w + ob, w - ob);
    }
    const int lanes = ob - oa < 8 ? ob - oa : 8, groups = (ob - oa + 7) / 8;
    const __m256 lane = g->flip ? _mm256_setr_ps(0, -1, -2, -3, -4, -5, -6, -7) : _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
    for (int g0 = 0; g0 < groups; g0 += GROUPS) {
        const int gn = groups - g0 < GROUPS ? groups - g0 : GROUPS;
        for (int j = 0; j < gn; j++) {
            const int x = oa + 8 * (g0 + j), x0 = ob - x < 8 && lanes == 8 ? ob - 8 : x;
            const int xs0 = g->flip ? w - 1 - x0 : x0;
            gl->x0[j] = x0;
            gl->u[j] = _mm256_add_ps(_mm256_set1_ps((float)(xs0 - g->dx) - g->cx), lane);
        }
        int ng = 0, fy0 = ya, fj0 = 0; /* the chunk's first group */
        for (int y = ya; y < yb; y++) {
            const float v = (float)(y - g->dy) - g->cy, bx = MADD(-v, g->sn, g->cx), by = MADD(v, g->cs, g->cy);
            const __m256 vbx = _mm256_set1_ps(bx), vby = _mm256_set1_ps(by);
            for (int j = 0; j < gn; j++) {
                __m256 sx = _mm256_fmadd_ps(gl->u[j], vcs, vbx), sy = _mm256_fmadd_ps(gl->u[j], vsn, vby);
                float *fx = gl->fx + 8 * ng, *fy = gl->fy + 8 * ng;
                if (padded) {
                    sx = _mm256_min_ps(_mm256_max_ps(sx, m1), wf);
                    sy = _mm256_min_ps(_mm256_max_ps(sy, m1), hf);
                } else {
                    const __m256 in = _mm256_and_ps(
                        _mm256_and_ps(_mm256_cmp_ps(sx, zero, _CMP_GE_OQ), _mm256_cmp_ps(sx, wl, _CMP_LT_OQ)),
                        _mm256_and_ps(_mm256_cmp_ps(sy, zero, _CMP_GE_OQ), _mm256_cmp_ps(sy, hl, _CMP_LT_OQ)));
                    gl->slow[ng] = _mm256_movemask_ps(in) != 0xff;
                }
                if (!padded && gl->slow[ng]) { /* keep the points themselves */
                    _mm256_storeu_ps(fx, sx);
                    _mm256_storeu_ps(fy, sy);
                } else {
                    const __m256 lx = _mm256_floor_ps(sx), ly = _mm256_floor_ps(sy);
                    __m256i t;
                    if (padded) /* exact in float: the copy is small; the loads double it */
                        t = _mm256_cvttps_epi32(_mm256_fmadd_ps(ly, half_pitch, lx));
                    else
                        t = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_cvttps_epi32(ly), _mm256_set1_epi32(pitch)),
                                             _mm256_cvttps_epi32(lx));
                    _mm256_storeu_si256((__m256i *)(gl->ti + 8 * ng), t);
                    _mm256_storeu_ps(fx, _mm256_sub_ps(sx, lx));
                    _mm256_storeu_ps(fy, _mm256_sub_ps(sy, ly));
                }
                if (++ng == CHUNK) {
                    flush_groups(gl, ng, fy0, fj0, gn, p, pitch, padded, dst, h, w, lanes);
                    ng = 0;
                    fy0 = j + 1 == gn ? y + 1 : y;
                    fj0 = j + 1 == gn ? 0 : j + 1;
                }
            }
        }
        flush_groups(gl, ng, fy0, fj0, gn, p, pitch, padded, dst, h, w, lanes);
    }
}
#endif

/* dst (h, w, c) = src turned by (sn, cs) = (sin, cos) of the angle about the centre, then
 * shifted by (dy, dx) (pixels the shift uncovers are 0, as a separate shift would give),
 * then mirrored left-right when flip: one inverse-mapped pass (see sample_px). dst may be
 * src when warp_in_place says so; else they must be distinct. Assumes h w c < 2^31. */
static bool warp_in_place(int h, int w, int c) {
#if AUGMENT_AVX2
    return c == 1 && pad_floats(h, w) <= PAD_MAX;
#else
    (void)h, (void)w, (void)c;
    return false;
#endif
}

static void warp(const float *src, float *dst, int h, int w, int c, float sn, float cs, int dy, int dx, bool flip) {
    const warp_geom g = geometry(h, w, sn, cs, dy, dx, flip);
#if AUGMENT_AVX2
    if (c == 1) {
        if (pad_floats(h, w) <= PAD_MAX) {
            _Alignas(32) float pad[PAD_MAX];
            group_list gl;
            const size_t pitch = pad_pitch(w);
            pad_copy(src, pad, h, w);
            warp_c1(pad + pitch + PAD_X0, (int)pitch, true, dst, h, w, &g, &gl); /* pixel (0, 0) */
        } else {
            group_list gl;
            warp_c1(src, w, false, dst, h, w, &g, &gl);
        }
        return;
    }
#endif
    warp_scalar(src, dst, h, w, c, &g);
}

void kn__augment_rotate_one(const float *src, float *dst, int h, int w, int c, float degrees) {
    float sn, cs;
    sincos_degrees(degrees, &sn, &cs);
    warp(src, dst, h, w, c, sn, cs, 0, 0, false);
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

/* Gaussian noise, Box-Muller. Pair p of a sample uses output p of the splitmix64 sequence
 * seeded by the sample's noise key, z: 24 bits give u1 in (0, 1] (never 0, so the log is
 * finite), 24 more s in [-1/2, 1/2) and one more a sign; the pair is
 * +-r (cos pi s, sin pi s), r = sigma sqrt(-2 ln u1): the angle pi s (+ pi) is uniform on
 * the circle. Elements are laid out in blocks of 2 NOISE_BLOCK: the cos values of a
 * block's pairs, then their sin values. log, sin and cos are our own polynomials (log:
 * Cephes logf, ~1 ulp; sin, cos on [-pi/2, pi/2]: minimax, within 2e-7 absolute), evaluated
 * with the same fused multiply-adds by the scalar, AVX2 and AVX-512 code. (The angle once
 * came from a quarter-turn reduction on [-pi/4, pi/4]; the spare sign bit makes that
 * unneeded, at half the cost.) */
#include "data/augment_noise.h" /* NOISE_BLOCK, SPLITMIX_GAMMA and the polynomials' coefficients */

#if !AUGMENT_AVX2
static void add_noise(float *x, size_t count, uint64_t key, float sigma) {
    uint64_t pair = 0;
    for (size_t base = 0; base < count; base += 2 * NOISE_BLOCK, pair += NOISE_BLOCK) {
        const size_t m = count - base;
        const int ncos = m < NOISE_BLOCK ? (int)m : NOISE_BLOCK;
        const int nsin = m <= NOISE_BLOCK ? 0 : m < 2 * NOISE_BLOCK ? (int)(m - NOISE_BLOCK) : NOISE_BLOCK;
        for (int p = 0; p < ncos; p++) {
            uint64_t z = key + (pair + (uint64_t)p + 1) * SPLITMIX_GAMMA;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
            const float u1 = (float)((int32_t)(z >> 40) + 1) * TWO_M24;
            const float s = MADD((float)(int32_t)(z & 0xffffff), TWO_M24, -0.5f), y = s * s;
            const float r = kn__aug_float(kn__aug_bits(sigma * sqrtf(-2.0f * kn__aug_log_unit(u1))) ^ ((uint32_t)z & 0x80000000u));
            const float sn = MADD(MADD(MADD(MADD(SIN_P4, y, SIN_P3), y, SIN_P2), y, SIN_P1), y, SIN_P0) * s;
            const float cs = MADD(MADD(MADD(MADD(COS_Q4, y, COS_Q3), y, COS_Q2), y, COS_Q1), y, COS_Q0);
            x[base + (size_t)p] += r * cs;
            if (p < nsin) x[base + NOISE_BLOCK + (size_t)p] += r * sn;
        }
    }
}
#else
/* z * k mod 2^64 in each 64-bit lane: AVX2 has no 64-bit multiply, so from 32-bit halves. */
static inline __m256i mul64(__m256i z, uint64_t k) {
    const __m256i lo = _mm256_set1_epi64x((int64_t)(k & 0xffffffffu)), hi = _mm256_set1_epi64x((int64_t)(k >> 32));
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(z, 32), lo), _mm256_mul_epu32(z, hi));
    return _mm256_add_epi64(_mm256_mul_epu32(z, lo), _mm256_slli_epi64(cross, 32));
}
static inline __m256i splitmix_mix(__m256i z) {
    z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), 0xbf58476d1ce4e5b9ULL);
    z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), 0x94d049bb133111ebULL);
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
static inline __m256 log_unit8(__m256 u) {
    const __m256i sqrt_half = _mm256_set1_epi32(0x3f3504f3);
    const __m256i ix = _mm256_sub_epi32(_mm256_castps_si256(u), sqrt_half);
    const __m256 fe = _mm256_cvtepi32_ps(_mm256_srai_epi32(ix, 23));
    const __m256 x = _mm256_sub_ps(
        _mm256_castsi256_ps(_mm256_add_epi32(_mm256_and_si256(ix, _mm256_set1_epi32(0x007fffff)), sqrt_half)), SET1(1.0f));
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 y = SET1(LOG_C0);
    y = FMA(y, x, SET1(LOG_C1));
    y = FMA(y, x, SET1(LOG_C2));
    y = FMA(y, x, SET1(LOG_C3));
    y = FMA(y, x, SET1(LOG_C4));
    y = FMA(y, x, SET1(LOG_C5));
    y = FMA(y, x, SET1(LOG_C6));
    y = FMA(y, x, SET1(LOG_C7));
    y = FMA(y, x, SET1(LOG_C8));
    y = _mm256_mul_ps(_mm256_mul_ps(y, x), z);
    y = FMA(fe, SET1(LOG_LO), y);
    y = FMA(z, SET1(-0.5f), y);
    return FMA(fe, SET1(LOG_HI), _mm256_add_ps(x, y));
}

/* x[0..n) += v[0..n), n <= 8. */
static inline void add_to(float *x, int n, __m256 v) {
    if (n >= 8) {
        _mm256_storeu_ps(x, _mm256_add_ps(_mm256_loadu_ps(x), v));
        return;
    }
    float t[8];
    memcpy(t, x, (size_t)n * sizeof *t);
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_loadu_ps(t), v)); /* lanes past n: unused garbage */
    memcpy(x, t, (size_t)n * sizeof *t);
}

/* A block at a time, in two passes over its pairs, 8 at a time: the 64-bit mixes, then
 * the rest. One pass over everything would make a chain of some 100 cycles per 8 pairs
 * (two 64-bit mixes, the log, the sqrt, the polynomials), too long for the out-of-order
 * window to overlap enough of them. The splitmix64 states of pairs p .. p + 7 sit in two
 * vectors of 4 lanes, pairs (0 1 4 5) and (2 3 6 7), so that the low or high 32 bits of
 * each lane of both, taken with one shuffle, are in pair order. */
static void add_noise_avx2(float *x, size_t count, uint64_t key, float sigma) {
    const uint64_t g = SPLITMIX_GAMMA;
    __m256i za = _mm256_setr_epi64x((int64_t)(key + 1 * g), (int64_t)(key + 2 * g), (int64_t)(key + 5 * g),
                                    (int64_t)(key + 6 * g));
    __m256i zb = _mm256_setr_epi64x((int64_t)(key + 3 * g), (int64_t)(key + 4 * g), (int64_t)(key + 7 * g),
                                    (int64_t)(key + 8 * g));
    const __m256i step = _mm256_set1_epi64x((int64_t)(8 * g));
    const __m256 vsigma = SET1(sigma);
    __m256i his[NOISE_BLOCK / 8], los[NOISE_BLOCK / 8]; /* the high and low 32 bits of z */
    /* Only the last block can be short, so the states just advance 8 pairs a step. */
    for (size_t base = 0; base < count; base += 2 * NOISE_BLOCK) {
        const size_t m = count - base;
        const int ncos = m < NOISE_BLOCK ? (int)m : NOISE_BLOCK;
        const int nsin = m <= NOISE_BLOCK ? 0 : m < 2 * NOISE_BLOCK ? (int)(m - NOISE_BLOCK) : NOISE_BLOCK;
        for (int p = 0; p < ncos; p += 8) {
            const __m256 a = _mm256_castsi256_ps(splitmix_mix(za)), b = _mm256_castsi256_ps(splitmix_mix(zb));
            za = _mm256_add_epi64(za, step);
            zb = _mm256_add_epi64(zb, step);
            his[p / 8] = _mm256_castps_si256(_mm256_shuffle_ps(a, b, 0xdd));
            los[p / 8] = _mm256_castps_si256(_mm256_shuffle_ps(a, b, 0x88));
        }
        for (int p = 0; p < ncos; p += 8) {
            const __m256i hi = his[p / 8], lo = los[p / 8];
            const __m256 u1 =
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_srli_epi32(hi, 8), _mm256_set1_epi32(1))),
                              SET1(TWO_M24));
            const __m256 s = FMA(_mm256_cvtepi32_ps(_mm256_and_si256(lo, _mm256_set1_epi32(0xffffff))), SET1(TWO_M24),
                                 SET1(-0.5f));
            const __m256 y = _mm256_mul_ps(s, s);
            const __m256 sign = _mm256_castsi256_ps(_mm256_and_si256(lo, _mm256_set1_epi32((int)0x80000000u)));
            const __m256 r = _mm256_xor_ps(
                _mm256_mul_ps(vsigma, _mm256_sqrt_ps(_mm256_mul_ps(SET1(-2.0f), log_unit8(u1)))), sign);
            const __m256 sn = _mm256_mul_ps(
                FMA(FMA(FMA(FMA(SET1(SIN_P4), y, SET1(SIN_P3)), y, SET1(SIN_P2)), y, SET1(SIN_P1)), y, SET1(SIN_P0)), s);
            const __m256 cs =
                FMA(FMA(FMA(FMA(SET1(COS_Q4), y, SET1(COS_Q3)), y, SET1(COS_Q2)), y, SET1(COS_Q1)), y, SET1(COS_Q0));
            add_to(x + base + p, ncos - p, _mm256_mul_ps(r, cs));
            if (p < nsin) add_to(x + base + NOISE_BLOCK + p, nsin - p, _mm256_mul_ps(r, sn));
        }
    }
}
#undef FMA
#undef SET1

/* The same with AVX-512 where the CPU has it (chosen at run time; the build assumes only
 * AVX2): 16 pairs a step, and a 64-bit multiply instruction instead of three 32-bit ones,
 * some 1.5x faster. Same operations, so the same bits. The 16 states are pairs 0..7 and
 * 8..15 of a step; a two-source permute takes the low or high 32 bits of each in order. */
#define AVX512 __attribute__((target("avx512f,avx512dq")))
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
AVX512 static inline __m512i splitmix_mix16(__m512i z) {
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                           _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                           _mm512_set1_epi64((long long)0x94d049bb133111ebULL));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

AVX512 static inline __m512 log_unit16(__m512 u) {
    const __m512i sqrt_half = _mm512_set1_epi32(0x3f3504f3);
    const __m512i ix = _mm512_sub_epi32(_mm512_castps_si512(u), sqrt_half);
    const __m512 fe = _mm512_cvtepi32_ps(_mm512_srai_epi32(ix, 23));
    const __m512 x = _mm512_sub_ps(
        _mm512_castsi512_ps(_mm512_add_epi32(_mm512_and_si512(ix, _mm512_set1_epi32(0x007fffff)), sqrt_half)), SET1(1.0f));
    const __m512 z = _mm512_mul_ps(x, x);
    __m512 y = SET1(LOG_C0);
    y = FMA(y, x, SET1(LOG_C1));
    y = FMA(y, x, SET1(LOG_C2));
    y = FMA(y, x, SET1(LOG_C3));
    y = FMA(y, x, SET1(LOG_C4));
    y = FMA(y, x, SET1(LOG_C5));
    y = FMA(y, x, SET1(LOG_C6));
    y = FMA(y, x, SET1(LOG_C7));
    y = FMA(y, x, SET1(LOG_C8));
    y = _mm512_mul_ps(_mm512_mul_ps(y, x), z);
    y = FMA(fe, SET1(LOG_LO), y);
    y = FMA(z, SET1(-0.5f), y);
    return FMA(fe, SET1(LOG_HI), _mm512_add_ps(x, y));
}

AVX512 static void add_noise_avx512(float *x, size_t count, uint64_t key, float sigma) {
    const __m512i g = _mm512_set1_epi64((long long)SPLITMIX_GAMMA);
    __m512i za = _mm512_add_epi64(_mm512_set1_epi64((long long)key),
                                  _mm512_mullo_epi64(_mm512_setr_epi64(1, 2, 3, 4, 5, 6, 7, 8), g));
    __m512i zb = _mm512_add_epi64(za, _mm512_slli_epi64(g, 3));
    const __m512i step = _mm512_slli_epi64(g, 4);
    const __m512i take_lo = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i take_hi = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 vsigma = SET1(sigma);
    __m512i his[NOISE_BLOCK / 16], los[NOISE_BLOCK / 16];
    for (size_t base = 0; base < count; base += 2 * NOISE_BLOCK) {
        const size_t m = count - base;
        const int ncos = m < NOISE_BLOCK ? (int)m : NOISE_BLOCK;
        const int nsin = m <= NOISE_BLOCK ? 0 : m < 2 * NOISE_BLOCK ? (int)(m - NOISE_BLOCK) : NOISE_BLOCK;
        for (int p = 0; p < ncos; p += 16) {
            const __m512i a = splitmix_mix16(za), b = splitmix_mix16(zb);
            za = _mm512_add_epi64(za, step);
            zb = _mm512_add_epi64(zb, step);
            his[p / 16] = _mm512_permutex2var_epi32(a, take_hi, b);
            los[p / 16] = _mm512_permutex2var_epi32(a, take_lo, b);
        }
        for (int p = 0; p < ncos; p += 16) {
            const __m512i hi = his[p / 16], lo = los[p / 16];
            const __m512 u1 = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_srli_epi32(hi, 8), _mm512_set1_epi32(1))), SET1(TWO_M24));
            const __m512 s = FMA(_mm512_cvtepi32_ps(_mm512_and_si512(lo, _mm512_set1_epi32(0xffffff))), SET1(TWO_M24),
                                 SET1(-0.5f));
            const __m512 y = _mm512_mul_ps(s, s);
            const __m512i sign = _mm512_and_si512(lo, _mm512_set1_epi32((int)0x80000000u));
            const __m512 r = _mm512_castsi512_ps(_mm512_xor_si512(
                _mm512_castps_si512(_mm512_mul_ps(vsigma, _mm512_sqrt_ps(_mm512_mul_ps(SET1(-2.0f), log_unit16(u1))))),
                sign));
            const __m512 sn = _mm512_mul_ps(
                FMA(FMA(FMA(FMA(SET1(SIN_P4), y, SET1(SIN_P3)), y, SET1(SIN_P2)), y, SET1(SIN_P1)), y, SET1(SIN_P0)), s);
            const __m512 cs =
                FMA(FMA(FMA(FMA(SET1(COS_Q4), y, SET1(COS_Q3)), y, SET1(COS_Q2)), y, SET1(COS_Q1)), y, SET1(COS_Q0));
            /* Masked at the end of a short block (masked lanes are neither read nor written). */
            const int nc = ncos - p < 16 ? ncos - p : 16, ns = nsin - p <= 0 ? 0 : nsin - p < 16 ? nsin - p : 16;
            const __mmask16 mc = (__mmask16)((1u << nc) - 1), ms = (__mmask16)((1u << ns) - 1);
            float *xc = x + base + p, *xs = x + base + NOISE_BLOCK + p;
            _mm512_mask_storeu_ps(xc, mc, _mm512_add_ps(_mm512_maskz_loadu_ps(mc, xc), _mm512_mul_ps(r, cs)));
            if (ns) _mm512_mask_storeu_ps(xs, ms, _mm512_add_ps(_mm512_maskz_loadu_ps(ms, xs), _mm512_mul_ps(r, sn)));
        }
    }
}
#undef FMA
#undef SET1
#undef AVX512

static void add_noise(float *x, size_t count, uint64_t key, float sigma) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
        add_noise_avx512(x, count, key, sigma);
    else
        add_noise_avx2(x, count, key, sigma);
}
#endif

/* ------------------------------------------------------------------ batch */

static bool chance(uint64_t seed, uint64_t stream, uint64_t counter, float p) {
    return p >= 1.0f || kn__rng_uniform(seed, stream, counter) < p;
}

void kn__augment_draw_one(const kn__augment *a, int h, int w, uint64_t seed, uint64_t stream, int64_t key,
                          kn__augment_draw *d) {
    memset(d, 0, sizeof *d);
    const uint64_t k = (uint64_t)key * KN__AUGMENT_DRAWS;
    d->rotate = rotate_on(a) && chance(seed, stream, k + J_ROTATE_P, a->rotate_p);
    if (shift_on(a) && chance(seed, stream, k + J_SHIFT_P, a->shift_p)) {
        uint64_t span = 2 * (uint64_t)a->shift + 1;
        d->dy = (int32_t)draw_below(seed, stream, k + J_SHIFT_Y, span) - a->shift;
        d->dx = (int32_t)draw_below(seed, stream, k + J_SHIFT_X, span) - a->shift;
    }
    d->flip = a->flip > 0 && chance(seed, stream, k + J_FLIP, a->flip);
    if (d->rotate) {
        float deg = (2.0f * kn__rng_uniform(seed, stream, k + J_ROTATE_ANGLE) - 1.0f) * a->rotate;
        sincos_degrees(deg, &d->sn, &d->cs);
    }
    int top, left, eh, ew;
    if (a->erase > 0 && chance(seed, stream, k + J_ERASE_P, a->erase) &&
        kn__augment_erase_rect(a, h, w, seed, stream, key, &top, &left, &eh, &ew)) {
        d->erase = 1;
        d->top = top, d->left = left, d->eh = eh, d->ew = ew;
    }
    if (noise_on(a) && chance(seed, stream, k + J_NOISE_P, a->noise_p)) {
        d->noise = 1;
        d->noise_key = kn__rng_u64(seed, stream, k + J_NOISE_KEY);
    }
}

void kn__augment_apply(const kn__augment_draw *d, float *img, int h, int w, int c, float sigma, float *scratch) {
    const size_t size = (size_t)h * (size_t)w * (size_t)c;
    if (d->rotate) { /* rotate, shift and flip in one pass */
        if (warp_in_place(h, w, c)) {
            warp(img, img, h, w, c, d->sn, d->cs, d->dy, d->dx, d->flip);
        } else {
            warp(img, scratch, h, w, c, d->sn, d->cs, d->dy, d->dx, d->flip);
            memcpy(img, scratch, size * sizeof *img);
        }
    } else {
        if (d->dy || d->dx) shift_in_place(img, h, w, c, d->dy, d->dx);
        if (d->flip) kn__augment_flip_one(img, h, w, c);
    }
    if (d->erase)
        for (int y = d->top; y < d->top + d->eh; y++)
            memset(img + ((size_t)y * w + d->left) * c, 0, (size_t)d->ew * c * sizeof *img);
    if (d->noise) add_noise(img, size, d->noise_key, sigma);
}

void kn__augment_batch(const kn__augment *a, float *x, int64_t n, int h, int w, int c,
                       uint64_t seed, uint64_t stream, const int64_t *key, float *scratch) {
    const size_t size = (size_t)h * (size_t)w * (size_t)c;
    for (int64_t i = 0; i < n; i++) {
        kn__augment_draw d;
        kn__augment_draw_one(a, h, w, seed, stream, key[i], &d);
        kn__augment_apply(&d, x + (size_t)i * size, h, w, c, a->noise, scratch);
    }
}
