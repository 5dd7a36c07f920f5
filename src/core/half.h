/* half.h — IEEE binary16 (f16) and bfloat16 (bf16) conversions, for half-precision model
 * files (io/model_convert.c, io/model_load.c) and gradients sent in half precision
 * (dist/dist.c). Vector code when the build targets it (F16C for f16, AVX2 for bf16: both
 * on by default), portable code otherwise and for the tails; both give the same bits:
 * round to nearest even, overflow to infinity, subnormals kept (never flushed), infinities
 * kept, a NaN stays a NaN of the same sign, quieted (f16: the payload's top bits kept). */
#ifndef KN_CORE_HALF_H
#define KN_CORE_HALF_H

#include <stddef.h>
#include <stdint.h>

void kn__f32_to_f16(const float *x, uint16_t *y, size_t n);
void kn__f16_to_f32(const uint16_t *x, float *y, size_t n);
void kn__f32_to_bf16(const float *x, uint16_t *y, size_t n);
void kn__bf16_to_f32(const uint16_t *x, float *y, size_t n);
/* inout[i] = f16(f32(inout[i]) + f32(in[i])): the sum of two fp16 vectors, added in fp32. */
void kn__f16_add(uint16_t *inout, const uint16_t *in, size_t n);

/* The portable paths alone (tests check them against the vector paths). */
void kn__f32_to_f16_portable(const float *x, uint16_t *y, size_t n);
void kn__f16_to_f32_portable(const uint16_t *x, float *y, size_t n);
void kn__f32_to_bf16_portable(const float *x, uint16_t *y, size_t n);
void kn__bf16_to_f32_portable(const uint16_t *x, float *y, size_t n);

#endif
