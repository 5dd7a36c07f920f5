/* cuda_fp16.h for the CUDA emulator (emu_device.h): __half as its 16 bits and the two
 * conversions kiln's kernels use, round-to-nearest-even with NaN, infinity and
 * subnormals kept, by integer arithmetic (the GPU's rounding, not the host FPU's). Plain C
 * too: the fake cuBLASLt (cublaslt_emu.c) rounds its products' outputs with them. */
#ifndef KN_CUDA_EMU_FP16_H
#define KN_CUDA_EMU_FP16_H

#include <stdint.h>
#include <string.h>

struct __half {
    uint16_t bits;
};
#ifndef __cplusplus
typedef struct __half __half; /* (cublaslt_emu.c, C, shares these conversions) */
#endif

static inline float __half2float(__half h) {
    uint32_t s = (uint32_t)(h.bits & 0x8000u) << 16, e = (h.bits >> 10) & 0x1f, m = h.bits & 0x3ffu, f;
    if (e == 0x1f) f = s | 0x7f800000u | (m << 13);          /* infinity, NaN (payload kept) */
    else if (e) f = s | ((e + 112) << 23) | (m << 13);       /* normal: rebias 15 -> 127 */
    else if (!m) f = s;                                      /* zero */
    else {                                                   /* subnormal: normalize */
        int k = 0;
        while (!(m & 0x400u)) m <<= 1, k++;
        f = s | ((uint32_t)(113 - k) << 23) | ((m & 0x3ffu) << 13);
    }
    float r;
    memcpy(&r, &f, 4);
    return r;
}

static inline __half __float2half_rn(float v) {
    uint32_t x;
    memcpy(&x, &v, 4);
    uint16_t s = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    __half h;
    if (a >= 0x7f800000u) { /* infinity or NaN (quiet, the top payload bits kept) */
        h.bits = (uint16_t)(s | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0));
        return h;
    }
    if (a >= 0x477ff000u) { /* rounds to 65520 or more: infinity */
        h.bits = (uint16_t)(s | 0x7c00u);
        return h;
    }
    if (a < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
        if (a < 0x33000000u) { /* at most 2^-25: rounds to zero (a tie goes to even, 0) */
            h.bits = s;
            return h;
        }
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e;                 /* 14 - (e - 127) + 13 - 1 ... the half's 2^-24 unit */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        h.bits = (uint16_t)(s | q);
        return h;
    }
    uint32_t r = a - 0x38000000u; /* rebias 127 -> 15, still 23 fraction bits */
    uint32_t q = r >> 13, rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1))) q++;
    h.bits = (uint16_t)(s | q);
    return h;
}

#endif
