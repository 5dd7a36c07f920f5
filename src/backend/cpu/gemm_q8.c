/* gemm_q8.c — the int8 product of q8.h: weights packed once, rows quantized as they come.
 *
 * The products sum four byte pairs into each int32 lane: AVX-512 VNNI's vpdpbusd (16
 * columns a register, a tile of 6 rows x 64 columns in 24 registers), AVX-VNNI's 256-bit
 * form, and on AVX2 alone the same sums from vpmaddubsw on the two nibbles of each
 * activation byte (each product then fits int16 without saturating: 15 * 128 * 2) widened
 * by vpmaddwd (the low nibble's pairs times 1, the high's times 16). The packed panel is
 * the same for all: step s of panel p holds, for each of its 16 columns, the four weights
 * of rows 4s .. 4s+3, so a row's four bytes broadcast to every lane meet their four weights.
 *
 * Work is cut into chunks of rows x panels, fixed by the shape and the thread count; every
 * output element is computed whole by one chunk, exactly, so the result never depends on
 * how the chunks fall. */
#include "q8.h"
#include "core/pool.h"
#include "cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t up64(size_t b) { return (b + 63) & ~(size_t)63; }

size_t kn__q8_weights_bytes(int64_t k, int64_t n) {
    size_t k4 = (size_t)(k + 3) / 4, cols = (size_t)(n + KN_Q8_PANEL - 1) / KN_Q8_PANEL * KN_Q8_PANEL;
    return up64(sizeof(kn__q8_weights)) + 2 * up64(cols * 4) + cols * k4 * 4;
}

kn__q8_weights *kn__q8_pack(void *mem, const float *W, int64_t k, int64_t n, int64_t ldb) {
    kn__q8_weights *w = mem;
    uint8_t *p = (uint8_t *)mem + up64(sizeof *w);
    w->k = k, w->n = n, w->k4 = (k + 3) / 4, w->panels = (n + KN_Q8_PANEL - 1) / KN_Q8_PANEL;
    size_t cols = (size_t)w->panels * KN_Q8_PANEL;
    w->scale = (float *)p;
    w->colsum = (int32_t *)(p + up64(cols * 4));
    w->packed = (int8_t *)(p + 2 * up64(cols * 4));
    memset(w->scale, 0, cols * 4);
    memset(w->colsum, 0, cols * 4);
    memset(w->packed, 0, cols * (size_t)w->k4 * 4);
    for (int64_t j = 0; j < n; j++) {
        float mx = 0;
        for (int64_t r = 0; r < k; r++) {
            float a = fabsf(W[r * ldb + j]);
            mx = a > mx ? a : mx;
        }
        float s = mx / 127.0f;
        w->scale[j] = s;
        int8_t *col = w->packed + (j / KN_Q8_PANEL) * w->k4 * 64 + (j % KN_Q8_PANEL) * 4;
        int32_t sum = 0;
        for (int64_t r = 0; s > 0 && r < k; r++) {
            float q = nearbyintf(W[r * ldb + j] / s);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            col[(r / 4) * 64 + r % 4] = (int8_t)q;
            sum += (int32_t)q;
        }
        w->colsum[j] = sum;
    }
    return w;
}

size_t kn__q8_scratch_bytes(int64_t m, int64_t k) {
    return up64((size_t)m * (size_t)((k + 3) / 4 * 4)) + 2 * up64((size_t)m * 4);
}

/* ------------------------------------------------------------- the rows */

/* A row's scale and zero point from its range, widened to hold 0; a row holding NaN or
 * infinity gets scale NaN (its outputs are NaN, as the f32 product's would be). */
static void row_params(float mn, float mx, bool finite, float *scale, float *inv, int32_t *zp) {
    if (!finite) {
        *scale = NAN, *inv = 0, *zp = 0;
        return;
    }
    float s = (mx - mn) / 255.0f;
    if (!(s > 0)) s = 1; /* all zeros */
    *scale = s, *inv = 1.0f / s;
    float z = nearbyintf(-mn * *inv);
    *zp = z > 255 ? 255 : z < 0 ? 0 : (int32_t)z;
}

static inline uint8_t quantize1(float x, float inv, int32_t zp) {
    float q = nearbyintf(x * inv) + (float)zp;
    return (uint8_t)(q > 255 ? 255 : q >= 0 ? q : 0);
}

static void quantize_row_portable(const float *x, int64_t k, uint8_t *q, float *scale, int32_t *zp) {
    float mn = 0, mx = 0, chk = 0, inv;
    for (int64_t p = 0; p < k; p++) {
        mn = x[p] < mn ? x[p] : mn;
        mx = x[p] > mx ? x[p] : mx;
        chk += x[p] * 0.0f;
    }
    row_params(mn, mx, chk == 0, scale, &inv, zp);
    for (int64_t p = 0; p < k; p++) q[p] = inv == 0 ? 0 : quantize1(x[p], inv, *zp);
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define Q8_X86 1
#define T_AVX2 __attribute__((target("avx2,fma")))
#define T_AVXVNNI __attribute__((target("avx2,fma,avxvnni")))
#define T_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE inline __attribute__((always_inline))

/* The same bytes as quantize_row_portable: the range in lanes (min and max are exact in
 * any order; NaN flagged by an unordered compare, infinity by the range), then x * inv
 * rounded to nearest even by vcvtps2dq, as nearbyintf, plus the zero point, clamped. Two
 * accumulators a pass hide the min/max latency. */
T_AVX2 static void quantize_row_avx2(const float *x, int64_t k, uint8_t *q, float *scale, int32_t *zp) {
    __m256 mn0 = _mm256_setzero_ps(), mn1 = mn0, mx0 = mn0, mx1 = mn0, bad = mn0;
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m256 a = _mm256_loadu_ps(x + p), b = _mm256_loadu_ps(x + p + 8);
        mn0 = _mm256_min_ps(a, mn0), mx0 = _mm256_max_ps(a, mx0);
        mn1 = _mm256_min_ps(b, mn1), mx1 = _mm256_max_ps(b, mx1);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
    }
    float l[8], h[8], mn = 0, mx = 0;
    _mm256_storeu_ps(l, _mm256_min_ps(mn0, mn1)), _mm256_storeu_ps(h, _mm256_max_ps(mx0, mx1));
    bool nan = _mm256_movemask_ps(bad) != 0;
    for (int i = 0; i < 8; i++) mn = l[i] < mn ? l[i] : mn, mx = h[i] > mx ? h[i] : mx;
    for (int64_t r = p; r < k; r++) mn = x[r] < mn ? x[r] : mn, mx = x[r] > mx ? x[r] : mx, nan |= x[r] != x[r];
    float inv;
    row_params(mn, mx, !nan && isfinite(mn) && isfinite(mx), scale, &inv, zp);
    if (inv == 0) {
        memset(q, 0, (size_t)k);
        return;
    }
    __m256 vinv = _mm256_set1_ps(inv);
    __m256i vz = _mm256_set1_epi32(*zp), lo = _mm256_setzero_si256(), hi = _mm256_set1_epi32(255);
    for (p = 0; p + 8 <= k; p += 8) {
        __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + p), vinv)), vz);
        i = _mm256_min_epi32(_mm256_max_epi32(i, lo), hi);
        __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
        _mm_storel_epi64((__m128i *)(q + p), _mm_packus_epi16(w16, w16));
    }
    for (; p < k; p++) q[p] = quantize1(x[p], inv, *zp);
}

/* The same with 16 lanes; the tail through masks (zeros: inside every row's range). */
T_AVX512 static void quantize_row_avx512(const float *x, int64_t k, uint8_t *q, float *scale, int32_t *zp) {
    __m512 mn0 = _mm512_setzero_ps(), mn1 = mn0, mx0 = mn0, mx1 = mn0;
    __mmask16 bad = 0;
    int64_t p = 0;
    for (; p + 32 <= k; p += 32) {
        __m512 a = _mm512_loadu_ps(x + p), b = _mm512_loadu_ps(x + p + 16);
        mn0 = _mm512_min_ps(a, mn0), mx0 = _mm512_max_ps(a, mx0);
        mn1 = _mm512_min_ps(b, mn1), mx1 = _mm512_max_ps(b, mx1);
        bad |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
    }
    for (; p < k; p += 16) {
        __mmask16 m = k - p >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - p)) - 1);
        __m512 a = _mm512_maskz_loadu_ps(m, x + p);
        mn0 = _mm512_min_ps(a, mn0), mx0 = _mm512_max_ps(a, mx0);
        bad |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    }
    float mn = _mm512_reduce_min_ps(_mm512_min_ps(mn0, mn1)), mx = _mm512_reduce_max_ps(_mm512_max_ps(mx0, mx1)), inv;
    row_params(mn, mx, !bad && isfinite(mn) && isfinite(mx), scale, &inv, zp);
    if (inv == 0) {
        memset(q, 0, (size_t)k);
        return;
    }
    __m512 vinv = _mm512_set1_ps(inv);
    __m512i vz = _mm512_set1_epi32(*zp), lo = _mm512_setzero_si512();
    for (p = 0; p < k; p += 16) {
        __mmask16 m = k - p >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - p)) - 1);
        __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + p), vinv)), vz);
        _mm512_mask_cvtusepi32_storeu_epi8(q + p, m, _mm512_max_epi32(i, lo)); /* (saturates at 255) */
    }
}
#endif

/* ------------------------------------------------------------- the products */

typedef struct {
    const uint8_t *qa; /* (m, lda) quantized rows */
    int64_t lda;
    const float *sx;   /* (m) the rows' scales */
    const int32_t *zp; /* (m) their zero points */
} q8_rows;

/* One output element, as every path computes it. The difference is exact: the true sum
 * (q_x - z) q_w fits int32 (KN_Q8_MAX_K) even where acc and z colsum apart wrap, as the
 * vector lanes do; unsigned arithmetic wraps the same way in C. */
static inline float finish(int32_t acc, int32_t zp, int32_t colsum, float sx, float sw, float bias) {
    int32_t d = (int32_t)((uint32_t)acc - (uint32_t)zp * (uint32_t)colsum);
    return fmaf((float)d, sx * sw, bias);
}

/* Rows [r0, r1) x panels [p0, p1), any CPU. */
static void block_portable(const q8_rows *a, const kn__q8_weights *w, const float *bias, float *C, int64_t ldc,
                           int64_t r0, int64_t r1, int64_t p0, int64_t p1) {
    int64_t j1 = p1 * KN_Q8_PANEL < w->n ? p1 * KN_Q8_PANEL : w->n;
    for (int64_t i = r0; i < r1; i++) {
        const uint8_t *x = a->qa + i * a->lda;
        for (int64_t j = p0 * KN_Q8_PANEL; j < j1; j++) {
            const int8_t *col = w->packed + (j / KN_Q8_PANEL) * w->k4 * 64 + (j % KN_Q8_PANEL) * 4;
            int32_t acc = 0;
            for (int64_t s = 0; s < w->k4; s++)
                for (int r = 0; r < 4; r++) acc += (int32_t)x[4 * s + r] * (int32_t)col[s * 64 + r];
            C[i * ldc + j] = finish(acc, a->zp[i], w->colsum[j], a->sx[i], w->scale[j], bias ? bias[j] : 0.0f);
        }
    }
}

#ifdef Q8_X86
/* acc += the four byte products of each lane (x unsigned, w signed). In assembly: GCC 12
 * given the intrinsic copies each accumulator out and back around every vpdpbusd (its
 * tied operand), which ran the tile at half speed. */
T_AVX512 static INLINE __m512i dpbusd512(__m512i acc, __m512i x, __m512i w) {
    __asm__("vpdpbusd %[w], %[x], %[acc]" : [acc] "+v"(acc) : [x] "v"(x), [w] "v"(w));
    return acc;
}

/* An AVX-512 tile: mr rows x np panels (at most 6 x 4: 24 accumulators, 4 weight vectors
 * and a broadcast row step in 32 registers). */
T_AVX512 static INLINE void tile512(const int mr, const int np, const q8_rows *a, int64_t r, const kn__q8_weights *w,
                                    int64_t p, const float *bias, float *C, int64_t ldc) {
    __m512i acc[6][4];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < np; v++) acc[i][v] = _mm512_setzero_si512();
    const int8_t *b = w->packed + p * w->k4 * 64;
    const uint8_t *x = a->qa + r * a->lda;
    for (int64_t s = 0; s < w->k4; s++) {
        __m512i wv[4];
#pragma GCC unroll 4
        for (int v = 0; v < np; v++) wv[v] = _mm512_load_si512((const void *)(b + v * w->k4 * 64 + s * 64));
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            int32_t four;
            memcpy(&four, x + i * a->lda + 4 * s, 4);
            __m512i xv = _mm512_set1_epi32(four);
#pragma GCC unroll 4
            for (int v = 0; v < np; v++) acc[i][v] = dpbusd512(acc[i][v], xv, wv[v]);
        }
    }
#pragma GCC unroll 4
    for (int v = 0; v < np; v++) {
        int64_t j = (p + v) * KN_Q8_PANEL, left = w->n - j;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512i cs = _mm512_load_si512((const void *)(w->colsum + j));
        __m512 sw = _mm512_load_ps(w->scale + j);
        __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias + j) : _mm512_setzero_ps();
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m512i d = _mm512_sub_epi32(acc[i][v], _mm512_mullo_epi32(_mm512_set1_epi32(a->zp[r + i]), cs));
            __m512 o = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(_mm512_set1_ps(a->sx[r + i]), sw), bv);
            _mm512_mask_storeu_ps(C + (r + i) * ldc + j, mask, o);
        }
    }
}

#define TILE512_CASE(MR)                                                                                               \
    case MR:                                                                                                           \
        if (np == 4) tile512(MR, 4, a, r, w, p, bias, C, ldc);                                                         \
        else if (np == 3) tile512(MR, 3, a, r, w, p, bias, C, ldc);                                                    \
        else if (np == 2) tile512(MR, 2, a, r, w, p, bias, C, ldc);                                                    \
        else tile512(MR, 1, a, r, w, p, bias, C, ldc);                                                                 \
        break;

T_AVX512 static void block_avx512(const q8_rows *a, const kn__q8_weights *w, const float *bias, float *C, int64_t ldc,
                                  int64_t r0, int64_t r1, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p += 4) {
        int np = p1 - p < 4 ? (int)(p1 - p) : 4;
        for (int64_t r = r0; r < r1; r += 6) {
            switch (r1 - r < 6 ? (int)(r1 - r) : 6) {
                TILE512_CASE(1)
                TILE512_CASE(2)
                TILE512_CASE(3)
                TILE512_CASE(4)
                TILE512_CASE(5)
                TILE512_CASE(6)
            }
        }
    }
}

/* The epilogue of a 256-bit tile's panel: 16 columns as two halves, a partial panel
 * through a local copy. */
T_AVX2 static INLINE void store256(const q8_rows *a, int64_t i, const kn__q8_weights *w, int64_t j, const float *bias,
                                   float *c, __m256i acc0, __m256i acc1) {
    int64_t left = w->n - j;
    float bb[16] = {0}, out[16];
    if (bias) memcpy(bb, bias + j, (size_t)(left < 16 ? left : 16) * sizeof(float));
    __m256i z = _mm256_set1_epi32(a->zp[i]);
    __m256 sx = _mm256_set1_ps(a->sx[i]);
    __m256 o0 = _mm256_fmadd_ps(
        _mm256_cvtepi32_ps(_mm256_sub_epi32(acc0, _mm256_mullo_epi32(z, _mm256_load_si256((const void *)(w->colsum + j))))),
        _mm256_mul_ps(sx, _mm256_load_ps(w->scale + j)), _mm256_loadu_ps(bb));
    __m256 o1 = _mm256_fmadd_ps(
        _mm256_cvtepi32_ps(
            _mm256_sub_epi32(acc1, _mm256_mullo_epi32(z, _mm256_load_si256((const void *)(w->colsum + j + 8))))),
        _mm256_mul_ps(sx, _mm256_load_ps(w->scale + j + 8)), _mm256_loadu_ps(bb + 8));
    if (left >= 16) {
        _mm256_storeu_ps(c + j, o0), _mm256_storeu_ps(c + j + 8, o1);
        return;
    }
    _mm256_storeu_ps(out, o0), _mm256_storeu_ps(out + 8, o1);
    memcpy(c + j, out, (size_t)left * sizeof(float));
}

/* A 256-bit tile: mr rows (at most 4) x one panel, two accumulators a row. STEP sums the
 * four byte pairs of each lane of w into acc (x: the row's four bytes in every lane). */
#define TILE256(NAME, TARGET, STEP)                                                                                    \
    TARGET static INLINE void NAME(const int mr, const q8_rows *a, int64_t r, const kn__q8_weights *w, int64_t p,     \
                                   const float *bias, float *C, int64_t ldc) {                                         \
        __m256i acc[4][2];                                                                                             \
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();          \
        const int8_t *b = w->packed + p * w->k4 * 64;                                                                  \
        const uint8_t *xr = a->qa + r * a->lda;                                                                        \
        for (int64_t s = 0; s < w->k4; s++) {                                                                          \
            __m256i w0 = _mm256_load_si256((const void *)(b + s * 64));                                                \
            __m256i w1 = _mm256_load_si256((const void *)(b + s * 64 + 32));                                           \
            _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {                                                     \
                int32_t four;                                                                                          \
                memcpy(&four, xr + i * a->lda + 4 * s, 4);                                                             \
                __m256i x = _mm256_set1_epi32(four);                                                                   \
                STEP(acc[i][0], x, w0);                                                                                \
                STEP(acc[i][1], x, w1);                                                                                \
            }                                                                                                          \
        }                                                                                                              \
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)                                                           \
            store256(a, r + i, w, p * KN_Q8_PANEL, bias, C + (r + i) * ldc, acc[i][0], acc[i][1]);                     \
    }

/* (in assembly for the reason dpbusd512 is; {vex}: the AVX-VNNI encoding, not AVX512-VL's) */
#define STEP_VNNI(acc, x, w) __asm__("%{vex%} vpdpbusd %[w_], %[x_], %[a_]" : [a_] "+x"(acc) : [x_] "x"(x), [w_] "x"(w))
/* the low nibbles' pairs (at most 2 * 15 * 128 in magnitude) and the high nibbles' pairs,
 * each widened to int32 by vpmaddwd against 1 and 16 */
#define STEP_NIBBLES(acc, x, w)                                                                                        \
    do {                                                                                                               \
        __m256i nib = _mm256_set1_epi8(0x0F);                                                                          \
        __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256((x), nib), (w));                                            \
        __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16((x), 4), nib), (w));                      \
        (acc) = _mm256_add_epi32((acc), _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_set1_epi16(1)),                  \
                                                         _mm256_madd_epi16(hi, _mm256_set1_epi16(16))));               \
    } while (0)

TILE256(tile_avxvnni, T_AVXVNNI, STEP_VNNI)
TILE256(tile_avx2, T_AVX2, STEP_NIBBLES)

#define BLOCK256(NAME, TARGET, TILE)                                                                                   \
    TARGET static void NAME(const q8_rows *a, const kn__q8_weights *w, const float *bias, float *C, int64_t ldc,       \
                            int64_t r0, int64_t r1, int64_t p0, int64_t p1) {                                          \
        for (int64_t p = p0; p < p1; p++)                                                                              \
            for (int64_t r = r0; r < r1; r += 4) switch (r1 - r < 4 ? (int)(r1 - r) : 4) {                             \
                case 1: TILE(1, a, r, w, p, bias, C, ldc); break;                                                      \
                case 2: TILE(2, a, r, w, p, bias, C, ldc); break;                                                      \
                case 3: TILE(3, a, r, w, p, bias, C, ldc); break;                                                      \
                default: TILE(4, a, r, w, p, bias, C, ldc); break;                                                     \
                }                                                                                                      \
    }

BLOCK256(block_avxvnni, T_AVXVNNI, tile_avxvnni)
BLOCK256(block_avx2, T_AVX2, tile_avx2)
#endif

/* ------------------------------------------------------------- dispatch */

int kn__q8_isa_best(void) {
    static int isa = -1;
    if (isa >= 0) return isa;
    bool runs[KN_Q8_AVX512 + 1] = {true, false, false, false};
#ifdef Q8_X86
    unsigned a, b, c, d;
    bool avx512vnni = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c >> 11 & 1);
    bool avxvnni = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
    __builtin_cpu_init();
    /* (__builtin_cpu_supports also checks that the OS saves the registers; cpuid's bits do not) */
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    runs[KN_Q8_AVX2] = avx2;
    runs[KN_Q8_AVXVNNI] = avx2 && avxvnni;
    runs[KN_Q8_AVX512] = avx2 && avx512vnni && __builtin_cpu_supports("avx512f") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
    int cap = KN_Q8_AVX512;
    const char *e = getenv("KILN_Q8_ISA");
    for (int i = KN_Q8_PORTABLE; e && i <= KN_Q8_AVX512; i++)
        if (strcmp(e, kn__q8_isa_name(i)) == 0) cap = i;
    /* the widest the CPU runs at or below the cap (Zen 4 has AVX-512 VNNI but not AVX-VNNI) */
    int best = KN_Q8_PORTABLE;
    for (int i = KN_Q8_PORTABLE; i <= cap; i++)
        if (runs[i]) best = i;
    isa = best;
    return isa;
}

const char *kn__q8_isa_name(int isa) {
    static const char *names[] = {"portable", "avx2", "avxvnni", "avx512"};
    return isa >= 0 && isa <= KN_Q8_AVX512 ? names[isa] : "?";
}

typedef struct {
    int isa;
    int64_t m, k;
    const float *x;
    int64_t lda;
    q8_rows rows;
    const kn__q8_weights *w;
    const float *bias;
    int act;
    float alpha;
    float *C;
    int64_t ldc;
    int64_t row_block, panel_block, col_chunks; /* a chunk: row_block rows x panel_block panels */
} q8_job;

/* Rows in a quantizing chunk and in a product chunk (8 AVX-512 tiles, 12 AVX2 tiles). */
#define Q8_ROW_BLOCK 48

/* Row x (k) quantized into q (then zeros to pad, up to q's length ldq). */
static void quantize_one(int isa, const float *x, int64_t k, uint8_t *q, int64_t ldq, float *sx, int32_t *zp) {
#ifdef Q8_X86
    if (isa == KN_Q8_AVX512) quantize_row_avx512(x, k, q, sx, zp);
    else if (isa != KN_Q8_PORTABLE) quantize_row_avx2(x, k, q, sx, zp);
    else
#endif
        quantize_row_portable(x, k, q, sx, zp);
    memset(q + k, 0, (size_t)(ldq - k)); /* the last step's missing rows */
}

static void quantize_chunk(void *p, int64_t c) {
    const q8_job *j = p;
    int64_t r0 = c * Q8_ROW_BLOCK, r1 = r0 + Q8_ROW_BLOCK < j->m ? r0 + Q8_ROW_BLOCK : j->m;
    for (int64_t i = r0; i < r1; i++)
        quantize_one(j->isa, j->x + i * j->lda, j->k, (uint8_t *)j->rows.qa + i * j->rows.lda, j->rows.lda,
                     (float *)j->rows.sx + i, (int32_t *)j->rows.zp + i);
}

/* Rows [r0, r1) x panels [p0, p1) of the product on the isa's path, then the activation. */
static void product_block(int isa, const q8_rows *a, const kn__q8_weights *w, const float *bias, int act, float alpha,
                          float *C, int64_t ldc, int64_t r0, int64_t r1, int64_t p0, int64_t p1) {
    switch (isa) {
#ifdef Q8_X86
    case KN_Q8_AVX512: block_avx512(a, w, bias, C, ldc, r0, r1, p0, p1); break;
    case KN_Q8_AVXVNNI: block_avxvnni(a, w, bias, C, ldc, r0, r1, p0, p1); break;
    case KN_Q8_AVX2: block_avx2(a, w, bias, C, ldc, r0, r1, p0, p1); break;
#endif
    default: block_portable(a, w, bias, C, ldc, r0, r1, p0, p1); break;
    }
    if (act != KN_LINEAR) {
        int64_t c0 = p0 * KN_Q8_PANEL, c1 = p1 * KN_Q8_PANEL < w->n ? p1 * KN_Q8_PANEL : w->n;
        kn__act_apply_rows((kn_activation)act, alpha, C + r0 * ldc + c0, ldc, r1 - r0, c1 - c0);
    }
}

static void product_chunk(void *p, int64_t c) {
    const q8_job *j = p;
    int64_t rc = c / j->col_chunks, pc = c % j->col_chunks;
    int64_t r0 = rc * j->row_block, r1 = r0 + j->row_block < j->m ? r0 + j->row_block : j->m;
    int64_t p0 = pc * j->panel_block, p1 = p0 + j->panel_block < j->w->panels ? p0 + j->panel_block : j->w->panels;
    if (r0 >= r1 || p0 >= p1) return;
    product_block(j->isa, &j->rows, j->w, j->bias, j->act, j->alpha, j->C, j->ldc, r0, r1, p0, p1);
}

void kn__q8_quantize(int isa, const float *x, int64_t k, uint8_t *q, float *scale, int32_t *zp) {
    quantize_one(isa, x, k, q, k, scale, zp);
}

void kn__q8_product(int isa, int64_t m, const uint8_t *qa, int64_t ldq, const float *sx, const int32_t *zp,
                    const kn__q8_weights *w, const float *bias, int act, float alpha, float *C, int64_t ldc) {
    q8_rows rows = {qa, ldq, sx, zp};
    product_block(isa, &rows, w, bias, act, alpha, C, ldc, 0, m, 0, w->panels);
}

void kn__q8_gemm(int isa, int64_t m, const float *x, int64_t lda, const kn__q8_weights *w, const float *bias, int act,
                 float alpha, float *C, int64_t ldc, void *scratch, int threads) {
    int64_t k = w->k, ldq = w->k4 * 4;
    uint8_t *s = scratch;
    q8_job j = {isa, m, k, x, lda, {s, ldq, NULL, NULL}, w, bias, act, alpha, C, ldc, 0, 0, 0};
    j.rows.sx = (const float *)(s + up64((size_t)m * (size_t)ldq));
    j.rows.zp = (const int32_t *)(s + up64((size_t)m * (size_t)ldq) + up64((size_t)m * 4));
    if (threads < 1) threads = 1;
    int64_t row_chunks = (m + Q8_ROW_BLOCK - 1) / Q8_ROW_BLOCK;
    kn__pool_run(row_chunks < threads ? (int)row_chunks : threads, row_chunks, quantize_chunk, &j);
    /* a chunk per row block; with fewer row blocks than threads, the panels are cut too, in
     * groups of four (an AVX-512 tile's width) */
    j.row_block = Q8_ROW_BLOCK;
    j.panel_block = w->panels;
    j.col_chunks = 1;
    if (row_chunks < threads) {
        int64_t want = (threads + row_chunks - 1) / row_chunks;
        int64_t groups = (w->panels + 3) / 4;
        if (want > groups) want = groups;
        j.panel_block = (groups + want - 1) / want * 4;
        j.col_chunks = (w->panels + j.panel_block - 1) / j.panel_block;
    }
    int64_t chunks = row_chunks * j.col_chunks;
    kn__pool_run(chunks < threads ? (int)chunks : threads, chunks, product_chunk, &j);
}
