/* cuda_bf16.h for the CUDA emulator (emu_device.h): __nv_bfloat16 as its 16 bits (the top
 * half of a float) and the two conversions kiln's kernels use, round-to-nearest-even with
 * NaN kept quiet. */
#ifndef KN_CUDA_EMU_BF16_H
#define KN_CUDA_EMU_BF16_H

#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
    uint16_t bits;
};
#ifndef __cplusplus
typedef struct __nv_bfloat16 __nv_bfloat16;
#endif

static inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t f = (uint32_t)h.bits << 16;
    float r;
    memcpy(&r, &f, 4);
    return r;
}

static inline __nv_bfloat16 __float2bfloat16_rn(float v) {
    uint32_t x;
    memcpy(&x, &v, 4);
    __nv_bfloat16 h;
    if ((x & 0x7fffffffu) > 0x7f800000u) h.bits = (uint16_t)((x >> 16) | 0x40u); /* NaN, quiet */
    else h.bits = (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);           /* nearest, ties to even */
    return h;
}

#endif
