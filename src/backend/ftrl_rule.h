/* ftrl_rule.h — one weight's FTRL-Proximal update (McMahan et al. 2013, "Ad Click
 * Prediction: a View from the Trenches", Algorithm 1, with Keras's online L2, beta and L2
 * shrinkage), shared by the CPU update (cpu/optimizer.c) and the CUDA one (cuda/optimizer.cuh's
 * opt_one), so both compute the same float operations. With g the (clipped, unscaled)
 * gradient, n the accumulator and z the linear term, p = -lr_power:
 *   g' = g + shrink2 w;  n' = n + g^2;  z += g' - (n'^p - n^p) / lr * w;
 *   q = n'^p / lr + l2x2;  w = (clip(z, -l1, l1) - z) / q;  n = n'
 * where shrink2 = 2 l2_shrinkage and l2x2 = 2 (l2 + beta / (2 lr)), as Keras 3's
 * keras/src/optimizers/ftrl.py. p = 0.5 (Keras's default) takes sqrt, exact on both
 * backends; other powers powf. q is 0 only while every gradient so far was 0 with a zero
 * initial accumulator and no L2 (Keras divides 0 by 0 there): the weight is then left at 0,
 * the limit of z / q as z is 0 too. On CUDA every product is rounded alone (KN_FTRL_MUL,
 * as opt_one's kn__mul_rn), so the update kernel and the weight gradients' launch give the
 * same bits; the CPU compiler may fuse a product into the sum after it (test_cuda_ops
 * compares the two backends within its tolerance). */
#ifndef KN_FTRL_RULE_H
#define KN_FTRL_RULE_H

#include <math.h>

#ifdef __CUDACC__
#define KN_FTRL_FN __host__ __device__ static inline
#else
#define KN_FTRL_FN static inline
#endif
#if defined(__CUDA_ARCH__)
#define KN_FTRL_MUL(a, b) __fmul_rn(a, b)
#else
#define KN_FTRL_MUL(a, b) ((a) * (b))
#endif

KN_FTRL_FN float kn__ftrl_pow(float x, float p) { return p == 0.5f ? sqrtf(x) : p == 0.0f ? 1.0f : powf(x, p); }

KN_FTRL_FN void kn__ftrl_one(float g, float lr, float p, float l1, float l2x2, float shrink2, float *w, float *n, float *z) {
    float wi = *w, na = *n + KN_FTRL_MUL(g, g);
    float pn = kn__ftrl_pow(na, p), po = kn__ftrl_pow(*n, p);
    float gs = g + KN_FTRL_MUL(shrink2, wi);
    *z += gs - KN_FTRL_MUL((pn - po) / lr, wi);
    float q = pn / lr + l2x2, zc = fminf(fmaxf(*z, -l1), l1);
    *w = q > 0.0f ? (zc - *z) / q : 0.0f;
    *n = na;
}

#endif
