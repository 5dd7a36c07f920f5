/* act_formulas.h — the scalar formulas of the activations beyond relu ... softmax (selu,
 * softplus, softsign, silu, hard_sigmoid, hard_silu, relu6, mish, exponential), and their
 * slopes dy/dx
 * from the input x, shared by the CPU loops (cpu/activation.c) and the CUDA kernels
 * (cuda/device.cuh), so that both backends compute the same float operations.
 *
 * Formulas as Keras 3 defines them (PyTorch's agree): selu = scale * elu(x, alpha) with
 * Klambauer et al.'s constants; softplus = log(1 + e^x), written max(x, 0) + log1p(e^-|x|)
 * so it never overflows; hard_sigmoid = relu6(x + 3) / 6; mish = x * tanh(softplus(x)).
 * At a kink (relu6 at 0 and 6, hard_sigmoid at +-3) the slope is 0, as PyTorch's. */
#ifndef KN_ACT_FORMULAS_H
#define KN_ACT_FORMULAS_H

#include <math.h>

#ifdef __CUDACC__
#define KN_ACT_FN __host__ __device__ static inline
#else
#define KN_ACT_FN static inline
#endif

#define KN_SELU_ALPHA 1.6732632423543772848170429916717f
#define KN_SELU_SCALE 1.0507009873554804934193349852946f

KN_ACT_FN float kn__selu(float x) { return x > 0 ? KN_SELU_SCALE * x : KN_SELU_SCALE * KN_SELU_ALPHA * expm1f(x); }
KN_ACT_FN float kn__softplus(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
/* v clamped to [0, 6] (a NaN to 0, as fmaxf gives), by comparisons, which compilers vectorize
 * (fminf and fmaxf, with their NaN rules, become a call per element: relu6 ran at ~6 ns an
 * element on the CPU) */
KN_ACT_FN float kn__clamp06(float v) {
    v = v > 0.0f ? v : 0.0f;
    return v < 6.0f ? v : 6.0f;
}
KN_ACT_FN float kn__hard_sigmoid(float x) { return kn__clamp06(x + 3.0f) * (1.0f / 6.0f); }

/* The value of activation `kind` (a kn_activation from selu to exponential) at x. */
KN_ACT_FN float kn__act_value(int kind, float x) {
    switch (kind) {
    case KN_SELU: return kn__selu(x);
    case KN_SOFTPLUS: return kn__softplus(x);
    case KN_SOFTSIGN: return x / (1.0f + fabsf(x));
    case KN_SILU: return x / (1.0f + expf(-x));
    case KN_HARD_SIGMOID: return kn__hard_sigmoid(x);
    case KN_HARD_SILU: return x * kn__hard_sigmoid(x);
    case KN_RELU6: return kn__clamp06(x);
    case KN_MISH: return x * tanhf(kn__softplus(x));
    case KN_EXPONENTIAL: return expf(x);
    default: return x;
    }
}

/* dy/dx of activation `kind` (a kn_activation from selu to mish) at input x. */
KN_ACT_FN float kn__act_slope(int kind, float x) {
    switch (kind) {
    case KN_SELU: return x > 0 ? KN_SELU_SCALE : KN_SELU_SCALE * KN_SELU_ALPHA * expf(x);
    case KN_SOFTPLUS: return 1.0f / (1.0f + expf(-x));
    case KN_SOFTSIGN: {
        float d = 1.0f + fabsf(x);
        return 1.0f / (d * d);
    }
    case KN_SILU: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    case KN_HARD_SIGMOID: return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
    case KN_HARD_SILU: return x <= -3.0f ? 0.0f : x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) * (1.0f / 6.0f);
    case KN_RELU6: return x > 0.0f && x < 6.0f ? 1.0f : 0.0f;
    case KN_MISH: {
        float t = tanhf(kn__softplus(x)), s = 1.0f / (1.0f + expf(-x));
        return t + x * s * (1.0f - t * t);
    }
    default: return 1.0f;
    }
}

#endif
