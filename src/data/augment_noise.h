/* augment_noise.h — the constants of augment.c's Gaussian noise (its comment there says
 * how they are used), shared with the CUDA backend's augment.cuh, which computes the same
 * noise on the device and must use the same numbers; and the log both evaluate. C, C++ and CUDA. */
#ifndef KN_DATA_AUGMENT_NOISE_H
#define KN_DATA_AUGMENT_NOISE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define NOISE_BLOCK 64
#define SPLITMIX_GAMMA 0x9e3779b97f4a7c15ULL

/* The coefficients. ln u = ln m + e ln 2 (u = m 2^e, m in [sqrt(1/2), sqrt(2)), x = m - 1,
 * ln 2 = LOG_HI + LOG_LO); sin pi s = s P(s^2), cos pi s = Q(s^2) for |s| <= 1/2 (fitted
 * with Remez, absolute errors 1.4e-8 and 4.7e-8 before rounding). */
#define LOG_C0 7.0376836292e-2f
#define LOG_C1 -1.1514610310e-1f
#define LOG_C2 1.1676998740e-1f
#define LOG_C3 -1.2420140846e-1f
#define LOG_C4 1.4249322787e-1f
#define LOG_C5 -1.6668057665e-1f
#define LOG_C6 2.0000714765e-1f
#define LOG_C7 -2.4999993993e-1f
#define LOG_C8 3.3333331174e-1f
#define LOG_LO -2.12194440e-4f
#define LOG_HI 0.693359375f
#define SIN_P0 3.141592741e+00f
#define SIN_P1 -5.167710304e+00f
#define SIN_P2 2.550077677e+00f
#define SIN_P3 -5.982921720e-01f
#define SIN_P4 7.765940577e-02f
#define COS_Q0 9.999999404e-01f
#define COS_Q1 -4.934792995e+00f
#define COS_Q2 4.058412075e+00f
#define COS_Q3 -1.331880212e+00f
#define COS_Q4 2.196968049e-01f
#define TWO_M24 (1.0f / 16777216.0f)

/* The scalar natural log of u in (0, 1] (normal floats): u = m 2^e with m in [sqrt(1/2),
 * sqrt(2)) found by offsetting the bits by those of sqrt(1/2), as musl's logf; the
 * coefficients above, fused multiply-adds (fmaf, one rounding) where augment.c's vector
 * code has them, so it gives that code's bits. One definition for augment.c's scalar path
 * and the CUDA backend's augment.cuh (no product here feeds a plain sum, so nvcc fuses
 * nothing more). */
#if defined(__CUDACC__)
#define KN_AUG_FN __host__ __device__ static inline
#else
#define KN_AUG_FN static inline
#endif
KN_AUG_FN uint32_t kn__aug_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
KN_AUG_FN float kn__aug_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
KN_AUG_FN float kn__aug_log_unit(float u) {
    const uint32_t sqrt_half = 0x3f3504f3u;
    uint32_t ix = kn__aug_bits(u) - sqrt_half;
    float fe = (float)((int32_t)ix >> 23);
    float x = kn__aug_float((ix & 0x007fffffu) + sqrt_half) - 1.0f, z = x * x;
    float y = LOG_C0;
    y = fmaf(y, x, LOG_C1);
    y = fmaf(y, x, LOG_C2);
    y = fmaf(y, x, LOG_C3);
    y = fmaf(y, x, LOG_C4);
    y = fmaf(y, x, LOG_C5);
    y = fmaf(y, x, LOG_C6);
    y = fmaf(y, x, LOG_C7);
    y = fmaf(y, x, LOG_C8);
    y = y * x * z;
    y = fmaf(fe, LOG_LO, y);
    y = fmaf(z, -0.5f, y);
    return fmaf(fe, LOG_HI, x + y);
}

#endif
