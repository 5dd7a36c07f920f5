/* tensor_io.c — reading and writing tensors whatever their element type. Mixed-precision
 * training (graph/passes/precision.c) stores activations and gradients in f16 or bf16;
 * kernels compute in f32, taking a block of elements at a time through a small f32 buffer
 * (kn__read_f32 / kn__write_f32 / kn__write_done), so no tensor is ever copied whole. */
#include "graph.h"
#include "core/half.h"

#include <string.h>

void kn__widen(kn_dtype dtype, const void *src, float *dst, int64_t n) {
    if (n <= 0) return;
    if (dtype == KN_BF16) kn__bf16_to_f32(src, dst, (size_t)n);
    else if (dtype == KN_F16) kn__f16_to_f32(src, dst, (size_t)n);
    else memcpy(dst, src, (size_t)n * sizeof(float));
}

void kn__narrow(kn_dtype dtype, const float *src, void *dst, int64_t n) {
    if (n <= 0) return;
    if (dtype == KN_BF16) kn__f32_to_bf16(src, dst, (size_t)n);
    else if (dtype == KN_F16) kn__f32_to_f16(src, dst, (size_t)n);
    else if (dst != src) memcpy(dst, src, (size_t)n * sizeof(float));
}

const float *kn__read_f32(const kn_tensor *t, int64_t lo, int64_t n, float *buf) {
    if (!kn__is_half(t)) return (const float *)t->data + lo;
    kn__widen(t->dtype, (const uint16_t *)t->data + lo, buf, n);
    return buf;
}

void kn__write_done(kn_tensor *t, int64_t lo, int64_t n, const float *buf) {
    if (kn__is_half(t)) kn__narrow(t->dtype, buf, (uint16_t *)t->data + lo, n);
}

void kn__tensor_store_f32(kn_tensor *t, int64_t lo, const float *src, int64_t n) {
    if (kn__is_half(t)) kn__narrow(t->dtype, src, (uint16_t *)t->data + lo, n);
    else memcpy((float *)t->data + lo, src, (size_t)n * sizeof(float));
}

float kn__tensor_get_f32(const kn_tensor *t, int64_t i) {
    float v;
    return *kn__read_f32(t, i, 1, &v);
}
