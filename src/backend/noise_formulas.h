/* noise_formulas.h — KN_OP_NOISE's arithmetic (graph.h says what each mode computes), shared
 * by the CPU kernel (cpu/noise.c) and the CUDA one (cuda/kernels_noise.cu): one definition of
 * each element's float operations, so the backends differ only where their math libraries do
 * (logf, cosf: CUDA's are within 1-2 ulp of glibc's, not equal). The node's constants are
 * computed once on the host, in double, and rounded to float (kn__noise_consts_of), so both
 * backends multiply by the same floats. Products that feed a sum are rounded alone on the
 * device (nvcc would fuse them into one fma; C11 here never contracts: -ffp-contract=off by
 * the ISO standard mode, and the CUDA emulator's C++ is built without FMA instructions). */
#ifndef KN_NOISE_FORMULAS_H
#define KN_NOISE_FORMULAS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __CUDACC__
#define KN_NOISE_FN __host__ __device__ static inline
#else
#define KN_NOISE_FN static inline
#endif

/* KN_OP_NOISE's iparam[1]. */
enum {
    KN_NOISE_GAUSSIAN = 0,           /* x + stddev z */
    KN_NOISE_GAUSSIAN_DROPOUT = 1,   /* x (1 + s z), s = sqrt(rate / (1 - rate)); its own gradient */
    KN_NOISE_ALPHA_DROPOUT = 2,      /* a (kept ? x : alpha_p) + b */
    KN_NOISE_ALPHA_DROPOUT_GRAD = 3, /* kept ? dy a : 0, alpha dropout's gradient */
    KN_NOISE_MODES
};

/* A node's constants: p the factor (mode 0 stddev, 1 s, 2 and 3 a), b and alpha_p (mode 2),
 * threshold (modes 2, 3): an element is kept when its 16-bit draw is at least this, dropout's
 * round(rate 65536) (cpu/dropout.c), so alpha dropout drops what dropout of that rate would. */
typedef struct {
    float p, b, alpha_p;
    uint32_t threshold;
} kn__noise_consts;

/* Keras 3's AlphaDropout: SELU's alpha and scale (act_formulas.h's, in double). */
#define KN_NOISE_SELU_ALPHA 1.6732632423543772848170429916717
#define KN_NOISE_SELU_SCALE 1.0507009873554804934193349852946
#define KN_NOISE_TWO_PI 6.28318530717958647692f

static inline kn__noise_consts kn__noise_consts_of(int mode, float param) {
    kn__noise_consts c = {param, 0.0f, 0.0f, 0u};
    double r = param;
    if (mode == KN_NOISE_GAUSSIAN_DROPOUT) c.p = (float)sqrt(r / (1.0 - r));
    if (mode == KN_NOISE_ALPHA_DROPOUT || mode == KN_NOISE_ALPHA_DROPOUT_GRAD) {
        double alpha_p = -KN_NOISE_SELU_ALPHA * KN_NOISE_SELU_SCALE;
        double a = 1.0 / sqrt((1.0 - r) * (1.0 + r * alpha_p * alpha_p));
        double t = r * 65536.0 + 0.5; /* as kn__cpu_dropout_key */
        c.p = (float)a;
        c.b = (float)(-a * alpha_p * r);
        c.alpha_p = (float)alpha_p;
        c.threshold = t >= 65536.0 ? 65536u : (uint32_t)t;
    }
    return c;
}

KN_NOISE_FN float kn__noise_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

/* A standard normal from element i's 64-bit draw r (Box-Muller's cosine half): u1 in (0, 1]
 * from the top 24 bits of r's high half plus one (never 0: ln u1 finite, |z| <= 5.8), u2 in
 * [0, 1) from the top 24 bits of its low half; both exact in float. */
KN_NOISE_FN float kn__noise_normal(uint64_t r) {
    float u1 = (float)((uint32_t)(r >> 40) + 1u) * (1.0f / 16777216.0f);
    float u2 = (float)((uint32_t)r >> 8) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(KN_NOISE_TWO_PI * u2);
}

/* Modes 0 and 1: element x with its draw r. */
KN_NOISE_FN float kn__noise_gaussian(int mode, float p, float x, uint64_t r) {
    float pz = kn__noise_mul(p, kn__noise_normal(r));
    return mode == KN_NOISE_GAUSSIAN ? x + pz : x * (1.0f + pz);
}

/* Modes 2 and 3: element x with its 16-bit draw (dropout's layout). */
KN_NOISE_FN float kn__noise_alpha(int mode, const kn__noise_consts *c, float x, uint32_t draw16) {
    bool kept = draw16 >= c->threshold;
    if (mode == KN_NOISE_ALPHA_DROPOUT_GRAD) return kept ? x * c->p : 0.0f;
    return kn__noise_mul(c->p, kept ? x : c->alpha_p) + c->b;
}

#endif
