/* half.c — see half.h. Eight lanes at a time with F16C; the portable path handles the tail
 * (and everything, built without F16C). */
#include "dist/half.h"

#include <string.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

static uint16_t f32_to_f16_one(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0)); /* inf, NaN */
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504: infinity */
    if (abs < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
        if (abs < 0x33000000u) return (uint16_t)sign;  /* under half the smallest subnormal */
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
        x = sign | 0x7f800000u | (mant << 13);
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

void kn__f32_to_f16(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++) y[i] = f32_to_f16_one(x[i]);
}

void kn__f16_to_f32(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
#endif
    for (; i < n; i++) y[i] = f16_to_f32_one(x[i]);
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
