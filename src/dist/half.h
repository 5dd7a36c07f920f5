/* half.h — IEEE binary16 conversion for gradients sent in half precision (half.c): F16C
 * when the build targets it (-mf16c, the default), else portable code with the same
 * results (round to nearest even; overflow to infinity; subnormals kept). */
#ifndef KN_DIST_HALF_H
#define KN_DIST_HALF_H

#include <stddef.h>
#include <stdint.h>

void kn__f32_to_f16(const float *x, uint16_t *y, size_t n);
void kn__f16_to_f32(const uint16_t *x, float *y, size_t n);
/* inout[i] = f16(f32(inout[i]) + f32(in[i])): the sum of two fp16 vectors, added in fp32. */
void kn__f16_add(uint16_t *inout, const uint16_t *in, size_t n);

#endif
