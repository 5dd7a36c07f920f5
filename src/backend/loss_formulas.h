/* loss_formulas.h — the losses that are a sum of one term per element (huber, log_cosh,
 * hinge, squared_hinge, poisson, kl_divergence, msle, mape): each element's term and its
 * slope d/dp, shared by the CPU (cpu/loss.c) and the CUDA kernels (cuda/loss.cuh), so both
 * backends compute the same float operations. A row's loss is the mean of its terms
 * (kl_divergence: their sum, as Keras), the batch's the mean of its rows'.
 *
 * Keras 3's formulas, p the prediction and y the target:
 *   huber          e = p - y: 0.5 e^2 where |e| <= delta, delta |e| - 0.5 delta^2 elsewhere
 *                  (delta 1 by default; kn_loss_params.delta)
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

#include "loss_params.h"

#ifdef __CUDACC__
#define KN_LOSS_FN __host__ __device__ static inline
#else
#define KN_LOSS_FN static inline
#endif
/* a row of predictions: a float pointer, or in the CUDA kernels (C++, nvcc's or the
 * emulator's) also the half-reading row (loss.cuh's RowX) */
#ifdef __cplusplus
#define KN_LOSS_ROW_TEMPLATE template <typename KN_ROW>
#else
#define KN_LOSS_ROW_TEMPLATE
typedef const float *KN_ROW;
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

/* One element's term of loss `kind` (delta: huber's). */
KN_LOSS_FN float kn__loss_term(int kind, float p, float y, float delta) {
    switch (kind) {
    case KN_LOSS_HUBER: {
        float a = fabsf(p - y);
        return a <= delta ? 0.5f * a * a : delta * a - 0.5f * delta * delta;
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
KN_LOSS_FN float kn__loss_slope(int kind, float p, float y, float delta) {
    switch (kind) {
    case KN_LOSS_HUBER: return fminf(fmaxf(p - y, -delta), delta);
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

/* ------------------------------------------------------------------------------------
 * The losses a row's statistics decide (Keras 3's formulas; the row's loss is one value,
 * the batch's the mean of its rows'):
 *   binary_focal_crossentropy       the mean over the row of w F bce, with y smoothed as
 *       binary cross-entropy's (y (1 - ls) + ls / 2), p the probability (sigmoid(z) from
 *       logits), bce binary cross-entropy (from logits: max(z, 0) - z y + log(1 + e^-|z|);
 *       else with p clipped to [1e-7, 1 - 1e-7]), F = (1 - p_t)^gamma with
 *       1 - p_t = y (1 - p) + (1 - y) p, and w = y alpha + (1 - y)(1 - alpha) when balance
 *       is set, else 1
 *   categorical_focal_crossentropy  the sum over the row of -alpha y (1 - q)^gamma log q,
 *       y smoothed (y (1 - ls) + ls / c), q = softmax(z) from logits, else p / sum(p), q
 *       clipped to [1e-7, 1 - 1e-7] (a clipped q passes no gradient)
 *   cosine_similarity               -sum(y p) / (|y| |p|), each norm sqrt(max(sum x^2, 1e-12))
 *                                   (Keras's l2_normalize)
 *   categorical_hinge               max(max_j (1 - y_j) p_j - sum(y p) + 1, 0)
 * kn__loss_row_stats passes over the row once or twice for its loss and what the gradient
 * needs; kn__loss_row_slope is then d(row loss)/d(p_j) (or z_j from logits) from them. */

KN_LOSS_FN bool kn__loss_by_row(int kind) {
    return kind == KN_LOSS_BINARY_FOCAL_CROSSENTROPY || kind == KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY ||
           kind == KN_LOSS_COSINE_SIMILARITY || kind == KN_LOSS_CATEGORICAL_HINGE;
}

typedef struct kn_loss_row {
    double loss;     /* the row's loss */
    float a, b, d, s; /* cosine: sum p^2, sum y^2, sum y p; hinge: neg, -, pos; focal: the row's max
                       * logit, its exp sum (or sum p), -, and S = sum_j g_j q_j */
    int64_t k;       /* categorical_hinge: the first j of the largest (1 - y_j) p_j */
} kn_loss_row;

#define KN_COSINE_EPS 1e-12f

KN_LOSS_FN float kn__clip_prob(float p) { return fminf(fmaxf(p, KN_LOSS_EPS), 1.0f - KN_LOSS_EPS); }
KN_LOSS_FN bool kn__prob_clipped(float p) { return p < KN_LOSS_EPS || p > 1.0f - KN_LOSS_EPS; }

/* binary focal: one element's term, and its slope d/dp (d/dz from logits) */
KN_LOSS_FN float kn__binary_focal_term(bool logits, kn_loss_params lp, float v, float y0) {
    float y = kn__smooth(y0, lp.ls, 2.0f), p, bce;
    if (logits) {
        p = 1.0f / (1.0f + expf(-v));
        bce = fmaxf(v, 0.0f) - v * y + log1pf(expf(-fabsf(v)));
    } else {
        float q = kn__clip_prob(v);
        p = v;
        bce = -(y * logf(q) + (1.0f - y) * logf(1.0f - q));
    }
    float m = y + p - 2.0f * y * p, w = lp.balance ? y * lp.alpha + (1.0f - y) * (1.0f - lp.alpha) : 1.0f;
    return w * powf(m, lp.gamma) * bce;
}
KN_LOSS_FN float kn__binary_focal_slope(bool logits, kn_loss_params lp, float v, float y0) {
    float y = kn__smooth(y0, lp.ls, 2.0f), p, bce, dbce, dp; /* dp: dp/dv */
    if (logits) {
        p = 1.0f / (1.0f + expf(-v));
        bce = fmaxf(v, 0.0f) - v * y + log1pf(expf(-fabsf(v)));
        dbce = p - y;
        dp = p * (1.0f - p);
    } else {
        float q = kn__clip_prob(v);
        p = v;
        bce = -(y * logf(q) + (1.0f - y) * logf(1.0f - q));
        dbce = kn__prob_clipped(v) ? 0.0f : (p - y) / (p * (1.0f - p));
        dp = 1.0f;
    }
    float m = y + p - 2.0f * y * p, w = lp.balance ? y * lp.alpha + (1.0f - y) * (1.0f - lp.alpha) : 1.0f;
    /* dF/dm = gamma m^(gamma-1): 0 for gamma 0, and at m = 0 unless gamma is 1 */
    float dfm = lp.gamma == 0.0f ? 0.0f : m > 0.0f ? lp.gamma * powf(m, lp.gamma - 1.0f) : lp.gamma == 1.0f ? 1.0f : 0.0f;
    return w * (dfm * (1.0f - 2.0f * y) * dp * bce + powf(m, lp.gamma) * dbce);
}

/* categorical focal: element j's term from its (unclipped) q and smoothed target, and
 * g_j = d(term)/dq_j (0 where q is clipped) */
KN_LOSS_FN float kn__cat_focal_term(kn_loss_params lp, float q, float y) {
    float qc = kn__clip_prob(q);
    return -lp.alpha * y * powf(1.0f - qc, lp.gamma) * logf(qc);
}
KN_LOSS_FN float kn__cat_focal_g(kn_loss_params lp, float q, float y) {
    if (kn__prob_clipped(q) || y == 0.0f) return 0.0f;
    float r = 1.0f - q, t = powf(r, lp.gamma) / q;
    if (lp.gamma != 0.0f) t -= lp.gamma * powf(r, lp.gamma - 1.0f) * logf(q);
    return -lp.alpha * y * t;
}
/* q_j from the row's statistics: softmax from logits (a the max, b the exp sum), else p / b */
KN_LOSS_FN float kn__cat_focal_q(bool logits, const kn_loss_row *s, float v) {
    return logits ? expf(v - s->a) / s->b : v / s->b;
}

KN_LOSS_ROW_TEMPLATE
KN_LOSS_FN kn_loss_row kn__loss_row_stats(int kind, bool logits, kn_loss_params lp, KN_ROW pr, const float *yr, int64_t c) {
    kn_loss_row s = {0, 0, 0, 0, 0, 0};
    switch (kind) {
    case KN_LOSS_BINARY_FOCAL_CROSSENTROPY: {
        double t = 0;
        for (int64_t j = 0; j < c; j++) t += kn__binary_focal_term(logits, lp, pr[j], yr[j]);
        s.loss = t / (double)c;
        break;
    }
    case KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY: {
        if (logits) {
            s.a = pr[0];
            for (int64_t j = 1; j < c; j++) s.a = fmaxf(s.a, pr[j]);
            for (int64_t j = 0; j < c; j++) s.b += expf(pr[j] - s.a);
        } else {
            for (int64_t j = 0; j < c; j++) s.b += pr[j];
        }
        double t = 0;
        for (int64_t j = 0; j < c; j++) {
            float q = kn__cat_focal_q(logits, &s, pr[j]), y = kn__smooth(yr[j], lp.ls, (float)c);
            t += kn__cat_focal_term(lp, q, y);
            s.s += kn__cat_focal_g(lp, q, y) * q;
        }
        s.loss = t;
        break;
    }
    case KN_LOSS_COSINE_SIMILARITY: {
        for (int64_t j = 0; j < c; j++) {
            float p = pr[j], y = yr[j];
            s.a += p * p;
            s.b += y * y;
            s.d += y * p;
        }
        s.loss = -(double)s.d / ((double)sqrtf(fmaxf(s.a, KN_COSINE_EPS)) * sqrtf(fmaxf(s.b, KN_COSINE_EPS)));
        break;
    }
    case KN_LOSS_CATEGORICAL_HINGE: {
        s.a = (1.0f - yr[0]) * pr[0];
        for (int64_t j = 0; j < c; j++) {
            float p = pr[j], n = (1.0f - yr[j]) * p;
            s.d += yr[j] * p;
            if (n > s.a) s.a = n, s.k = j;
        }
        s.loss = fmaxf(s.a - s.d + 1.0f, 0.0f);
        break;
    }
    default: break;
    }
    return s;
}

/* d(row loss)/d(v_j): v_j the row's prediction j (a logit from logits), y_j its target. */
KN_LOSS_FN float kn__loss_row_slope(int kind, bool logits, kn_loss_params lp, const kn_loss_row *s, float v, float y,
                                    int64_t j, int64_t c) {
    switch (kind) {
    case KN_LOSS_BINARY_FOCAL_CROSSENTROPY: return kn__binary_focal_slope(logits, lp, v, y) / (float)c;
    case KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY: {
        float q = kn__cat_focal_q(logits, s, v), g = kn__cat_focal_g(lp, q, kn__smooth(y, lp.ls, (float)c));
        /* dq_i/dz_j = q_i ([i == j] - q_j); dq_i/dp_j = ([i == j] - q_i) / sum(p) */
        return logits ? q * (g - s->s) : (g - s->s) / s->b;
    }
    case KN_LOSS_COSINE_SIMILARITY: {
        float na = sqrtf(fmaxf(s->a, KN_COSINE_EPS)), nb = sqrtf(fmaxf(s->b, KN_COSINE_EPS));
        float g = -y / (na * nb);
        if (s->a > KN_COSINE_EPS) g += s->d * v / (na * na * na * nb);
        return g;
    }
    case KN_LOSS_CATEGORICAL_HINGE:
        if (!(s->a - s->d + 1.0f > 0.0f)) return 0.0f;
        return -y + (j == s->k ? 1.0f - y : 0.0f);
    default: return 0.0f;
    }
}

#endif
