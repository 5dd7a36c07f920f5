/* dropout.cuh — dropout's mask on the device, shared by the kernels that draw it: the dropout
 * op (kernels.cu), the attention's probabilities (kernels_attention.cu) and the recurrent
 * layers' states (kernels_rnn.cu). The CPU's key and keep factor (cpu/dropout.c's
 * kn__cpu_dropout_key, cpu.h's kn__cpu_dropout_keep) in the same 64-bit arithmetic, so both
 * backends drop the same elements. The step comes from the device's step values (kn__cuda_step,
 * not a kernel argument), so a captured CUDA graph's replays draw each step's own mask. */
#ifndef KN_CUDA_DROPOUT_CUH
#define KN_CUDA_DROPOUT_CUH

#include "launch.h"
#include "device.cuh"

/* A node's mask at a step: the element key, the 16-bit threshold, 1 / (1 - rate); on: the run
 * trains and the rate is not 0 (else nothing is dropped and nothing scaled). */
typedef struct {
    uint64_t key;
    uint32_t threshold;
    float scale;
    bool on;
} kn__dev_drop;

/* The element key of node key node_key, the step's values at stp, under the context's seed:
 * (seed, rng_step, node key) and, accumulating, the micro-batch, as kn__cpu_dropout_key's.
 * Also the noise op's (kernels_noise.cu). */
__device__ static inline uint64_t kn__dev_dropout_key(const kn__cuda_step *stp, uint64_t seed, int32_t node_key) {
    uint64_t node = ((uint64_t)stp->rng_step << 32) ^ (uint64_t)(uint32_t)node_key;
    uint64_t key = kn__dev_rng_u64(seed, KN_STREAM_DROPOUT, node);
    if (stp->rng_micro) key = kn__dev_rng_u64(key, KN_STREAM_DROPOUT + 2, (uint64_t)stp->rng_micro);
    return kn__dev_rng_key(key, KN_STREAM_DROPOUT + 1);
}

/* The mask of node key node_key at rate (kn__dev_dropout_key's key). */
__device__ static inline kn__dev_drop kn__dev_dropout(const kn__cuda_step *stp, uint64_t seed, int32_t node_key,
                                                      float rate) {
    kn__dev_drop m = {0, 0, 1.0f / (1.0f - rate), false};
    if (!stp->training || rate == 0.0f) return m;
    double t = (double)rate * 65536.0 + 0.5;
    m.key = kn__dev_dropout_key(stp, seed, node_key);
    m.threshold = t >= 65536.0 ? 65536u : (uint32_t)t;
    m.on = true;
    return m;
}

/* Element e's 16-bit draw: bits 16 (e % 4) .. +15 of draw e / 4 under the mask's key. */
__device__ static inline uint32_t kn__dev_drop_draw(const kn__dev_drop &m, uint64_t e) {
    return (uint32_t)(kn__dev_rng_draw(m.key, e >> 2) >> (16 * (e & 3))) & 0xffffu;
}

/* Element e's keep factor, 0 or scale (a mask that is on). */
__device__ static inline float kn__dev_drop_keep(const kn__dev_drop &m, uint64_t e) {
    return kn__dev_drop_draw(m, e) >= m.threshold ? m.scale : 0.0f;
}

#endif
