/* kernels_noise.cu — KN_OP_NOISE on the GPU (Gaussian noise, Gaussian and alpha dropout):
 * cpu/noise.c's computation, one thread per element, with the same element formulas
 * (backend/noise_formulas.h), the same constants (computed on the host by ops.c) and the same
 * draws (dropout's element key, dropout.cuh, from the device's step values, so a captured
 * CUDA graph's replays draw each step's values and an evaluation run copies). Alpha dropout
 * keeps exactly the CPU's elements; the normals differ from the CPU's by CUDA's logf and cosf
 * against glibc's (1-2 ulp). f32 only. */
#include "launch.h"
#include "device.cuh"
#include "dropout.cuh"
#include "backend/noise_formulas.h"

#define THREADS 256

#define blocks_for(n) kn__cu_blocks_for((n), THREADS) /* (device.cuh) */
#define GRID_STRIDE(i, n) KN_CU_GRID_STRIDE(i, n)

__global__ void noise_kernel(const kn__cuda_step *stp, uint64_t seed, int32_t node_key, int mode, float param, float p,
                             float b, float alpha_p, uint32_t threshold, const float *x, float *y, int64_t n) {
    const bool on = stp->training && param != 0.0f; /* else the identity, as the CPU's copy */
    const uint64_t key = on ? kn__dev_dropout_key(stp, seed, node_key) : 0;
    const kn__noise_consts c = {p, b, alpha_p, threshold};
    GRID_STRIDE(i, n) {
        const float v = x[i];
        if (!on) y[i] = v;
        else if (mode == KN_NOISE_GAUSSIAN || mode == KN_NOISE_GAUSSIAN_DROPOUT)
            y[i] = kn__noise_gaussian(mode, p, v, kn__dev_rng_draw(key, (uint64_t)i));
        else /* dropout's 16-bit draw of element i: bits 16 (i % 4) .. of draw i / 4 */
            y[i] = kn__noise_alpha(mode, &c, v,
                                   (uint32_t)(kn__dev_rng_draw(key, (uint64_t)i >> 2) >> (16 * (i & 3))) & 0xffffu);
    }
}

extern "C" cudaError_t kn__cu_noise(cudaStream_t s, const kn__cuda_step *step, uint64_t seed, int32_t key, int mode,
                                    float param, float p, float b, float alpha_p, uint32_t threshold, const float *x,
                                    float *y, int64_t n) {
    if (n > 0)
        noise_kernel<<<blocks_for(n), THREADS, 0, s>>>(step, seed, key, mode, param, p, b, alpha_p, threshold, x, y, n);
    return cudaGetLastError();
}
