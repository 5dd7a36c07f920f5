/* half.c — see half.h. Eight lanes at a time with F16C (f16), sixteen with AVX2 (bf16); the
 * portable code handles the tails (and everything, built without them) and is written to
 * give the instructions' bits, NaNs included, so a result never depends on n % 8. */
#include "core/half.h"

#include <string.h>
#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

static uint16_t f32_to_f16_one(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, abs = x & 0x7fffffffu;
    if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu)); /* NaN: quiet, top payload bits (as F16C) */
    if (abs == 0x7f800000u) return (uint16_t)(sign | 0x7c00u);
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504: infinity */
    if (abs < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
        if (abs <= 0x33000000u) return (uint16_t)sign;  /* at most half the smallest subnormal: ties to even 0 */
        uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        /* value = mant * 2^(e - 150); in the subnormal's units of 2^-24: mant >> (126 - e) */
        int shift = 126 - (int)(abs >> 23);
        uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = abs - 0x38000000u; /* rebias the exponent: 127 -> 15 */
    uint32_t q = r >> 13, rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1))) q++; /* may carry into the exponent: right */
    return (uint16_t)(sign | q);
}

static float f16_to_f32_one(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 31u, mant = h & 0x3ffu, x;
    if (e == 31) {
        /* infinity; a NaN keeps its payload and comes out quiet, as F16C's conversion does */
        x = sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0);
    } else if (e == 0) {
        if (!mant) {
            x = sign;
        } else { /* subnormal: normalize */
            int shift = 0;
            while (!(mant & 0x400u)) mant <<= 1, shift++;
            x = sign | (uint32_t)(113 - shift) << 23 | ((mant & 0x3ffu) << 13);
        }
    } else {
        x = sign | (e + 112) << 23 | (mant << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* bf16 is f32's top half: round the low 16 bits away to nearest even. The carry may run
 * into the exponent (right: the next binade) and up to infinity (right: overflow). A NaN
 * would carry into the sign, so it is truncated and quieted instead. */
static uint16_t f32_to_bf16_one(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

static float bf16_to_f32_one(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

void kn__f32_to_f16_portable(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = f32_to_f16_one(x[i]);
}
void kn__f16_to_f32_portable(const uint16_t *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = f16_to_f32_one(x[i]);
}
void kn__f32_to_bf16_portable(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = f32_to_bf16_one(x[i]);
}
void kn__bf16_to_f32_portable(const uint16_t *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = bf16_to_f32_one(x[i]);
}

void kn__f32_to_f16(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    kn__f32_to_f16_portable(x + i, y + i, n - i);
}

void kn__f16_to_f32(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
#endif
    kn__f16_to_f32_portable(x + i, y + i, n - i);
}

#ifdef __AVX2__
/* Eight f32 bit patterns to bf16 in the low 16 bits of each lane: f32_to_bf16_one's steps. */
static inline __m256i bf16_round8(__m256i x) {
    const __m256i abs = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
    const __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000)); /* signed compare: abs >= 0 */
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    __m256i q = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(r, q, nan);
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
/* Sixteen lanes with AVX-512 (checked at run time: the build targets AVX2): the same
 * integer steps as bf16_round8, narrowed by one vpmovdw. Twice the AVX2 path's rate, which
 * matters for the batch a bf16 model's loader narrows every step (~1 cycle a value). */
__attribute__((target("avx512f,avx512bw"))) static size_t f32_to_bf16_avx512(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x40);
    for (; i + 16 <= n; i += 16) {
        __m512i v = _mm512_loadu_si512((const void *)(x + i));
        __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(v, abs_mask), inf);
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), one);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(lsb, half)), 16);
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(v, 16), quiet);
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtepi32_epi16(r));
    }
    return i;
}
#endif

void kn__f32_to_bf16(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    static _Atomic int avx512 = -1; /* a race only repeats the same answer */
    if (avx512 < 0) avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    if (avx512) i = f32_to_bf16_avx512(x, y, n);
#endif
#ifdef __AVX2__
    for (; i + 16 <= n; i += 16) {
        __m256i a = bf16_round8(_mm256_loadu_si256((const __m256i *)(x + i)));
        __m256i b = bf16_round8(_mm256_loadu_si256((const __m256i *)(x + i + 8)));
        /* packus works per 128-bit lane: a0-3 b0-3 a4-7 b4-7; the permute puts a before b */
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
        _mm256_storeu_si256((__m256i *)(y + i), p);
    }
#endif
    kn__f32_to_bf16_portable(x + i, y + i, n - i);
}

void kn__bf16_to_f32(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
#ifdef __AVX2__
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_si256((__m256i *)(y + i), _mm256_slli_epi32(w, 16));
    }
#endif
    kn__bf16_to_f32_portable(x + i, y + i, n - i);
}

void kn__f16_add(uint16_t *inout, const uint16_t *in, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(inout + i)));
        __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i)));
        _mm_storeu_si128((__m128i *)(inout + i), _mm256_cvtps_ph(_mm256_add_ps(a, b), _MM_FROUND_TO_NEAREST_INT));
    }
#endif
    for (; i < n; i++) inout[i] = f32_to_f16_one(f16_to_f32_one(inout[i]) + f16_to_f32_one(in[i]));
}
