/* loss_formulas.h — the losses that are a sum of one term per element (huber, log_cosh,
 * hinge, squared_hinge, poisson, kl_divergence, msle, mape): each element's term and its
 * slope d/dp, shared by the CPU (cpu/loss.c) and the CUDA kernels (cuda/loss.cuh), so both
 * backends compute the same float operations. A row's loss is the mean of its terms
 * (kl_divergence: their sum, as Keras), the batch's the mean of its rows'.
 *
 * Keras 3's formulas, p the prediction and y the target:
 *   huber          e = p - y: 0.5 e^2 where |e| <= 1, |e| - 0.5 elsewhere (delta 1)
 *   log_cosh       log(cosh(e)), written e + softplus(-2e) - log 2 so it never overflows
 *   hinge          max(1 - y p, 0), squared_hinge its square; targets of 0 count as -1
 *                  (Keras turns 0/1 labels into -1/1), so 0/1 and -1/1 labels both work
 *   poisson        p - y log(p + 1e-7)
 *   kl_divergence  y log(y / p), y and p clipped to [1e-7, 1]
 *   msle           (log(max(p, 1e-7) + 1) - log(max(y, 1e-7) + 1))^2
 *   mape           100 |y - p| / max(|y|, 1e-7)
 * Where a clip or a kink is active the slope is 0 (p outside a clip) or the side's. */
#ifndef KN_LOSS_FORMULAS_H
#define KN_LOSS_FORMULAS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __CUDACC__
#define KN_LOSS_FN __host__ __device__ static inline
#else
#define KN_LOSS_FN static inline
#endif

#define KN_LOSS_EPS 1e-7f

KN_LOSS_FN bool kn__loss_elementwise(int kind) {
    return kind == KN_LOSS_HUBER || kind == KN_LOSS_LOG_COSH || kind == KN_LOSS_HINGE || kind == KN_LOSS_SQUARED_HINGE ||
           kind == KN_LOSS_POISSON || kind == KN_LOSS_KL_DIVERGENCE || kind == KN_LOSS_MSLE || kind == KN_LOSS_MAPE;
}

/* Whether a row's loss is the sum of its terms (else their mean). */
KN_LOSS_FN bool kn__loss_sums_row(int kind) { return kind == KN_LOSS_KL_DIVERGENCE; }

KN_LOSS_FN float kn__hinge_label(float y) { return y == 0.0f ? -1.0f : y; }
KN_LOSS_FN float kn__clip_unit(float v) { return fminf(fmaxf(v, KN_LOSS_EPS), 1.0f); }

/* Label smoothing (Keras's and PyTorch's label_smoothing, ls in [0, 1], the cross-entropy
 * losses only): a target y of a row of k classes is read as y (1 - ls) + ls / k, binary
 * cross-entropy's as y (1 - ls) + ls / 2 (its two classes). A sparse label l stands for the
 * one-hot row, so class j's smoothed target is (1 - ls) [j == l] + ls / k. ls = 0 gives y
 * itself: unsmoothed losses keep their bits. */
KN_LOSS_FN float kn__smooth(float y, float ls, float k) { return ls == 0.0f ? y : y * (1.0f - ls) + ls / k; }
KN_LOSS_FN float kn__smooth_label(int64_t j, int64_t l, float ls, float k) {
    return kn__smooth(j == l ? 1.0f : 0.0f, ls, k);
}

/* One element's term of loss `kind`. */
KN_LOSS_FN float kn__loss_term(int kind, float p, float y) {
    switch (kind) {
    case KN_LOSS_HUBER: {
        float a = fabsf(p - y);
        return a <= 1.0f ? 0.5f * a * a : a - 0.5f;
    }
    case KN_LOSS_LOG_COSH: {
        float e = p - y, z = -2.0f * e; /* e + softplus(-2e) - log 2 */
        return e + fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z))) - 0.69314718055994531f;
    }
    case KN_LOSS_HINGE: return fmaxf(1.0f - kn__hinge_label(y) * p, 0.0f);
    case KN_LOSS_SQUARED_HINGE: {
        float m = fmaxf(1.0f - kn__hinge_label(y) * p, 0.0f);
        return m * m;
    }
    case KN_LOSS_POISSON: return p - y * logf(p + KN_LOSS_EPS);
    case KN_LOSS_KL_DIVERGENCE: {
        float yc = kn__clip_unit(y);
        return yc * logf(yc / kn__clip_unit(p));
    }
    case KN_LOSS_MSLE: {
        float d = logf(fmaxf(p, KN_LOSS_EPS) + 1.0f) - logf(fmaxf(y, KN_LOSS_EPS) + 1.0f);
        return d * d;
    }
    case KN_LOSS_MAPE: return 100.0f * fabsf(y - p) / fmaxf(fabsf(y), KN_LOSS_EPS);
    default: return 0.0f;
    }
}

/* d(term)/dp of loss `kind`. */
KN_LOSS_FN float kn__loss_slope(int kind, float p, float y) {
    switch (kind) {
    case KN_LOSS_HUBER: return fminf(fmaxf(p - y, -1.0f), 1.0f);
    case KN_LOSS_LOG_COSH: return tanhf(p - y);
    case KN_LOSS_HINGE: {
        float t = kn__hinge_label(y);
        return 1.0f - t * p > 0.0f ? -t : 0.0f;
    }
    case KN_LOSS_SQUARED_HINGE: {
        float t = kn__hinge_label(y);
        return -2.0f * t * fmaxf(1.0f - t * p, 0.0f);
    }
    case KN_LOSS_POISSON: return 1.0f - y / (p + KN_LOSS_EPS);
    case KN_LOSS_KL_DIVERGENCE: return p > KN_LOSS_EPS && p < 1.0f ? -kn__clip_unit(y) / p : 0.0f;
    case KN_LOSS_MSLE: {
        if (!(p > KN_LOSS_EPS)) return 0.0f;
        float d = logf(p + 1.0f) - logf(fmaxf(y, KN_LOSS_EPS) + 1.0f);
        return 2.0f * d / (p + 1.0f);
    }
    case KN_LOSS_MAPE: {
        float s = p > y ? 1.0f : p < y ? -1.0f : 0.0f;
        return 100.0f * s / fmaxf(fabsf(y), KN_LOSS_EPS);
    }
    default: return 0.0f;
    }
}

#endif
