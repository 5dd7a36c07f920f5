/* loss.c — losses (mean over the batch, a scalar) and their gradients. From logits,
 * softmax and sigmoid are fused into the loss (log-sum-exp, stable for any logits). From
 * probabilities, predictions are clipped to [1e-7, 1 - 1e-7] as Keras does, and the
 * gradient is zero where the clip was active. Out-of-range labels contribute nothing; the
 * caller validates labels before a run. */
#include "cpu.h"

#include <math.h>

#define KN_PROB_EPS 1e-7f

static inline float clipp(float p) { return p < KN_PROB_EPS ? KN_PROB_EPS : p > 1 - KN_PROB_EPS ? 1 - KN_PROB_EPS : p; }


static float row_sum(const float *p, int64_t c) {
    float s = 0;
    for (int64_t j = 0; j < c; j++) s += p[j];
    return s;
}

void kn__cpu_loss(kn_graph *g, kn_tensor *t) {
    (void)g;
    const kn_tensor *pt = t->src[0];
    const float *p = pt->data;
    int64_t rows = pt->ne[0], c = pt->ne[1];
    bool logits = t->iparam[1];
    double total = 0;
    switch ((kn_loss)t->iparam[0]) {
    case KN_LOSS_MSE: {
        const float *y = t->src[1]->data;
        for (int64_t i = 0; i < rows * c; i++) total += (double)(p[i] - y[i]) * (p[i] - y[i]);
        total /= (double)c;
        break;
    }
    case KN_LOSS_MAE: {
        const float *y = t->src[1]->data;
        for (int64_t i = 0; i < rows * c; i++) total += fabs((double)p[i] - y[i]);
        total /= (double)c;
        break;
    }
    case KN_LOSS_BINARY_CROSSENTROPY: {
        const float *y = t->src[1]->data;
        for (int64_t i = 0; i < rows * c; i++) {
            if (logits) { /* max(z,0) - z y + log(1 + exp(-|z|)) */
                float z = p[i];
                total += (z > 0 ? z : 0) - z * y[i] + log1pf(expf(-fabsf(z)));
            } else {
                float q = clipp(p[i]);
                total -= y[i] * logf(q) + (1 - y[i]) * logf(1 - q);
            }
        }
        total /= (double)c;
        break;
    }
    case KN_LOSS_CATEGORICAL_CROSSENTROPY: {
        const float *y = t->src[1]->data;
        for (int64_t r = 0; r < rows; r++) {
            const float *pr = p + r * c, *yr = y + r * c;
            if (logits) {
                float lse = kn__log_sum_exp(pr, c);
                for (int64_t j = 0; j < c; j++) total -= yr[j] * (pr[j] - lse);
            } else {
                float s = row_sum(pr, c);
                for (int64_t j = 0; j < c; j++) total -= yr[j] * logf(clipp(pr[j] / s));
            }
        }
        break;
    }
    case KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY: {
        const int32_t *lab = t->src[1]->data;
        for (int64_t r = 0; r < rows; r++) {
            const float *pr = p + r * c;
            int32_t l = lab[r];
            if (l < 0 || l >= c) continue;
            if (logits) total += kn__log_sum_exp(pr, c) - pr[l];
            else total -= logf(clipp(pr[l] / row_sum(pr, c)));
        }
        break;
    }
    default: break;
    }
    *(float *)t->data = (float)(total / (double)rows);
}

/* src: pred, target, dloss (scalar). */
void kn__cpu_loss_grad(kn_graph *g, kn_tensor *t) {
    (void)g;
    const kn_tensor *pt = t->src[0];
    const float *p = pt->data;
    float *dx = t->data;
    int64_t rows = pt->ne[0], c = pt->ne[1];
    bool logits = t->iparam[1];
    float dl = *(const float *)t->src[2]->data;
    float inv_b = dl / (float)rows, inv_n = dl / (float)(rows * c);
    switch ((kn_loss)t->iparam[0]) {
    case KN_LOSS_MSE: {
        const float *y = t->src[1]->data;
        for (int64_t i = 0; i < rows * c; i++) dx[i] = 2.0f * (p[i] - y[i]) * inv_n;
        break;
    }
    case KN_LOSS_MAE: {
        const float *y = t->src[1]->data;
        for (int64_t i = 0; i < rows * c; i++) dx[i] = (p[i] > y[i] ? 1.0f : p[i] < y[i] ? -1.0f : 0.0f) * inv_n;
        break;
    }
    case KN_LOSS_BINARY_CROSSENTROPY: {
        const float *y = t->src[1]->data;
        for (int64_t i = 0; i < rows * c; i++) {
            if (logits) {
                dx[i] = (1.0f / (1.0f + expf(-p[i])) - y[i]) * inv_n;
            } else {
                float q = p[i];
                bool clipped = q < KN_PROB_EPS || q > 1 - KN_PROB_EPS;
                dx[i] = clipped ? 0.0f : (q - y[i]) / (q * (1 - q)) * inv_n;
            }
        }
        break;
    }
    case KN_LOSS_CATEGORICAL_CROSSENTROPY: {
        const float *y = t->src[1]->data;
        for (int64_t r = 0; r < rows; r++) {
            const float *pr = p + r * c, *yr = y + r * c;
            float *dr = dx + r * c;
            float ysum = row_sum(yr, c);
            if (logits) { /* d/dz_j = softmax_j * sum(y) - y_j */
                float lse = kn__log_sum_exp(pr, c);
                for (int64_t j = 0; j < c; j++) dr[j] = pr[j] - lse;
                kn__vexp(dr, dr, c);
                for (int64_t j = 0; j < c; j++) dr[j] = (dr[j] * ysum - yr[j]) * inv_b;
            } else { /* q = p / sum(p): d/dp_k = (sum(y) - y_k / q_k) / sum(p) */
                float s = row_sum(pr, c);
                for (int64_t j = 0; j < c; j++) {
                    float q = pr[j] / s;
                    bool clipped = q < KN_PROB_EPS || q > 1 - KN_PROB_EPS;
                    dr[j] = (ysum - (clipped ? 0.0f : yr[j] / q)) / s * inv_b;
                }
            }
        }
        break;
    }
    case KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY: {
        const int32_t *lab = t->src[1]->data;
        for (int64_t r = 0; r < rows; r++) {
            const float *pr = p + r * c;
            float *dr = dx + r * c;
            int32_t l = lab[r];
            if (l < 0 || l >= c) {
                for (int64_t j = 0; j < c; j++) dr[j] = 0;
                continue;
            }
            if (logits) {
                float lse = kn__log_sum_exp(pr, c);
                for (int64_t j = 0; j < c; j++) dr[j] = pr[j] - lse;
                kn__vexp(dr, dr, c);
                for (int64_t j = 0; j < c; j++) dr[j] *= inv_b;
                dr[l] -= inv_b;
            } else {
                float s = row_sum(pr, c), q = pr[l] / s;
                bool clipped = q < KN_PROB_EPS || q > 1 - KN_PROB_EPS;
                for (int64_t j = 0; j < c; j++) dr[j] = inv_b / s;
                if (!clipped) dr[l] -= inv_b / (q * s);
            }
        }
        break;
    }
    default: break;
    }
}
