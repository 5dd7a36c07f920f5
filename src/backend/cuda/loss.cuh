/* loss.cuh — the losses' per-row device functions (loss.c's formulas), shared by
 * kernels.cu (the loss and gradient kernels) and kernels_chain.cu (a dense chain that ends
 * in its loss). */
#ifndef KN_CUDA_LOSS_CUH
#define KN_CUDA_LOSS_CUH

#include "device.cuh"
#include "backend/loss_formulas.h"

#define PROB_EPS 1e-7f
__device__ static float clipp(float p) { return p < PROB_EPS ? PROB_EPS : p > 1 - PROB_EPS ? 1 - PROB_EPS : p; }

/* log(sum(exp(z))) of one row, max-shifted. */
template <typename P> __device__ static float row_lse(P z, int64_t c) {
    float mx = z[0], s = 0;
    for (int64_t j = 1; j < c; j++) mx = fmaxf(mx, z[j]);
    for (int64_t j = 0; j < c; j++) s += expf(z[j] - mx);
    return mx + logf(s);
}

template <typename P> __device__ static float row_sum(P p, int64_t c) {
    float s = 0;
    for (int64_t j = 0; j < c; j++) s += p[j];
    return s;
}

/* A row of a half-stored tensor, read as floats: pr[j] (mixed precision). */
struct RowX {
    const void *p;
    int dt;
    int64_t off;
    __device__ float operator[](int64_t j) const { return kn__ld(p, dt, off + j); }
};

/* Row r's weighted loss (row_loss in loss.c) into ws[r]; pr: its predictions (a float
 * pointer, or a RowX); its target is target's row tr (r, but for a chain reading a resident
 * step's table through the order); ls the cross-entropies' label smoothing (0: none). */
template <typename P>
__device__ static void loss_row(int kind, bool logits, kn_loss_params lp, P pr, const void *target, const float *w,
                                double *ws, int64_t r, int64_t tr, int64_t c) {
    {
        double total = 0;
        float ls = lp.ls;
        if (kn__loss_by_row(kind)) {
            total = kn__loss_row_stats(kind, logits, lp, pr, (const float *)target + tr * c, c).loss;
        } else if (kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
            int32_t l = ((const int32_t *)target)[tr];
            if (l >= 0 && l < c && ls == 0) {
                total = logits ? (double)(row_lse(pr, c) - pr[l]) : -logf(clipp(pr[l] / row_sum(pr, c)));
            } else if (l >= 0 && l < c && logits) { /* lse - (1 - ls) z[l] - ls / c sum(z), as loss.c */
                double zsum = 0;
                for (int64_t j = 0; j < c; j++) zsum += pr[j];
                total = row_lse(pr, c) - ((1.0 - ls) * pr[l] + ls / (double)c * zsum);
            } else if (l >= 0 && l < c) {
                float sp = row_sum(pr, c);
                for (int64_t j = 0; j < c; j++) total -= kn__smooth_label(j, l, ls, (float)c) * logf(clipp(pr[j] / sp));
            }
        } else {
            const float *yr = (const float *)target + tr * c;
            switch (kind) {
            case KN_LOSS_MSE:
                for (int64_t j = 0; j < c; j++) total += (double)(pr[j] - yr[j]) * (pr[j] - yr[j]);
                total /= (double)c;
                break;
            case KN_LOSS_MAE:
                for (int64_t j = 0; j < c; j++) total += fabs((double)pr[j] - yr[j]);
                total /= (double)c;
                break;
            case KN_LOSS_BINARY_CROSSENTROPY:
                for (int64_t j = 0; j < c; j++) {
                    float y = kn__smooth(yr[j], ls, 2.0f);
                    if (logits) {
                        float z = pr[j];
                        total += (z > 0 ? z : 0) - z * y + log1pf(expf(-fabsf(z)));
                    } else {
                        float q = clipp(pr[j]);
                        total -= y * logf(q) + (1 - y) * logf(1 - q);
                    }
                }
                total /= (double)c;
                break;
            case KN_LOSS_CATEGORICAL_CROSSENTROPY:
                if (logits) {
                    float lse = row_lse(pr, c);
                    for (int64_t j = 0; j < c; j++) total -= kn__smooth(yr[j], ls, (float)c) * (pr[j] - lse);
                } else {
                    float sp = row_sum(pr, c);
                    for (int64_t j = 0; j < c; j++) total -= kn__smooth(yr[j], ls, (float)c) * logf(clipp(pr[j] / sp));
                }
                break;
            default:
                if (!kn__loss_elementwise(kind)) break;
                for (int64_t j = 0; j < c; j++) total += kn__loss_term(kind, pr[j], yr[j], lp.delta);
                if (!kn__loss_sums_row(kind)) total /= (double)c;
                break;
            }
        }
        ws[r] = (w ? w[r] : 1.0) * total;
    }
}

/* Row r's loss gradient (loss_grad in loss.c) into dr, from its predictions pr (f32), its
 * target target's row tr; inv_b = dloss / rows, inv_n = dloss / (rows c). */
__device__ static void loss_grad_row(int kind, bool logits, kn_loss_params lp, const float *pr, const void *target,
                                     const float *w, float *dr, int64_t r, int64_t tr, int64_t c, float inv_b, float inv_n) {
    float ls = lp.ls;
    if (kn__loss_by_row(kind)) { /* the row's statistics, then each element's slope */
        const float *yr = (const float *)target + tr * c;
        kn_loss_row st = kn__loss_row_stats(kind, logits, lp, pr, yr, c);
        for (int64_t j = 0; j < c; j++) dr[j] = kn__loss_row_slope(kind, logits, lp, &st, pr[j], yr[j], j, c) * inv_b;
    } else if (kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
        int32_t l = ((const int32_t *)target)[tr];
        if (l < 0 || l >= c) {
            for (int64_t j = 0; j < c; j++) dr[j] = 0;
        } else if (logits) { /* softmax(z) - onehot(label) (smoothed: the smoothed row) */
            float mx = pr[0], sum = 0;
            for (int64_t j = 1; j < c; j++) mx = fmaxf(mx, pr[j]);
            for (int64_t j = 0; j < c; j++) sum += (dr[j] = expf(pr[j] - mx));
            float scale = inv_b / sum;
            for (int64_t j = 0; j < c; j++) dr[j] *= scale;
            if (ls == 0) {
                dr[l] -= inv_b;
            } else {
                float off = inv_b * ls / (float)c;
                for (int64_t j = 0; j < c; j++) dr[j] -= off;
                dr[l] -= inv_b * (1.0f - ls);
            }
        } else if (ls != 0) { /* categorical's formula over the smoothed one-hot row (its sum 1) */
            float sp = row_sum(pr, c);
            for (int64_t j = 0; j < c; j++) {
                float qj = pr[j] / sp;
                bool clipped = qj < PROB_EPS || qj > 1 - PROB_EPS;
                dr[j] = (1.0f - (clipped ? 0.0f : kn__smooth_label(j, l, ls, (float)c) / qj)) / sp * inv_b;
            }
        } else {
            float sp = row_sum(pr, c), q = pr[l] / sp;
            bool clipped = q < PROB_EPS || q > 1 - PROB_EPS;
            for (int64_t j = 0; j < c; j++) dr[j] = inv_b / sp;
            if (!clipped) dr[l] -= inv_b / (q * sp);
        }
    } else {
        const float *yr = (const float *)target + tr * c;
        switch (kind) {
        case KN_LOSS_MSE:
            for (int64_t j = 0; j < c; j++) dr[j] = 2.0f * (pr[j] - yr[j]) * inv_n;
            break;
        case KN_LOSS_MAE:
            for (int64_t j = 0; j < c; j++)
                dr[j] = (pr[j] > yr[j] ? 1.0f : pr[j] < yr[j] ? -1.0f : 0.0f) * inv_n;
            break;
        case KN_LOSS_BINARY_CROSSENTROPY:
            for (int64_t j = 0; j < c; j++) {
                float y = kn__smooth(yr[j], ls, 2.0f);
                if (logits) {
                    dr[j] = (1.0f / (1.0f + expf(-pr[j])) - y) * inv_n;
                } else {
                    float q = pr[j];
                    bool clipped = q < PROB_EPS || q > 1 - PROB_EPS;
                    dr[j] = clipped ? 0.0f : (q - y) / (q * (1 - q)) * inv_n;
                }
            }
            break;
        case KN_LOSS_CATEGORICAL_CROSSENTROPY: {
            float ysum = row_sum(yr, c);
            if (ls != 0) ysum = ysum * (1.0f - ls) + ls; /* the smoothed targets' sum */
            if (logits) {
                float lse = row_lse(pr, c);
                for (int64_t j = 0; j < c; j++) dr[j] = (expf(pr[j] - lse) * ysum - kn__smooth(yr[j], ls, (float)c)) * inv_b;
            } else {
                float sp = row_sum(pr, c);
                for (int64_t j = 0; j < c; j++) {
                    float q = pr[j] / sp;
                    bool clipped = q < PROB_EPS || q > 1 - PROB_EPS;
                    dr[j] = (ysum - (clipped ? 0.0f : kn__smooth(yr[j], ls, (float)c) / q)) / sp * inv_b;
                }
            }
            break;
        }
        default: {
            if (!kn__loss_elementwise(kind)) break;
            float per = kn__loss_sums_row(kind) ? inv_b : inv_n;
            for (int64_t j = 0; j < c; j++) dr[j] = kn__loss_slope(kind, pr[j], yr[j], lp.delta) * per;
            break;
        }
        }
    }
    if (w)
        for (int64_t j = 0; j < c; j++) dr[j] *= w[r];
}

#endif
