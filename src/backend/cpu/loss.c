/* loss.c — losses (mean over the batch, a scalar) and their gradients. From logits,
 * softmax and sigmoid are fused into the loss (log-sum-exp, stable for any logits). From
 * probabilities, predictions are clipped to [1e-7, 1 - 1e-7] as Keras does, and the
 * gradient is zero where the clip was active. Out-of-range labels contribute nothing; the
 * caller validates labels before a run. The losses of one term per element (huber, hinge,
 * ...) take their terms from loss_formulas.h. The cross-entropies take a label smoothing ls
 * (the node's fparam[0]; loss_formulas.h's kn__smooth): 0 runs the unsmoothed code as it
 * was, so those bits do not change. The losses a row's statistics decide (the focal ones,
 * cosine_similarity, categorical_hinge) are loss_formulas.h's kn__loss_row_stats and
 * kn__loss_row_slope, as on CUDA. */
#include "cpu.h"
#include "backend/loss_formulas.h"

#include <math.h>

#define KN_PROB_EPS 1e-7f

static inline float clipp(float p) { return p < KN_PROB_EPS ? KN_PROB_EPS : p > 1 - KN_PROB_EPS ? 1 - KN_PROB_EPS : p; }


static float row_sum(const float *p, int64_t c) {
    float s = 0;
    for (int64_t j = 0; j < c; j++) s += p[j];
    return s;
}

/* e = exp(z - rowmax) for rows of c logits, in one vectorized pass over all of them (rows
 * of 10 are too short to vectorize one at a time); lse[r] = log(sum(exp(z_r))) when lse is
 * not NULL, sums[r] = sum of row r of e. e may be the caller's output. */
static void exp_rows(const float *z, float *e, float *sums, float *lse, int64_t rows, int64_t c) {
    for (int64_t r = 0; r < rows; r++) {
        const float *zr = z + r * c;
        float mx = zr[0];
        for (int64_t j = 1; j < c; j++) mx = zr[j] > mx ? zr[j] : mx;
        for (int64_t j = 0; j < c; j++) e[r * c + j] = zr[j] - mx;
        if (lse) lse[r] = mx;
    }
    kn__vexp(e, e, rows * c);
    for (int64_t r = 0; r < rows; r++) {
        sums[r] = row_sum(e + r * c, c);
        if (lse) lse[r] += logf(sums[r]);
    }
}

/* Row r's smoothed target dotted with its logits: (1 - ls) z[l] + ls / c sum(z) (the
 * smoothed targets sum to 1, so the row's loss is lse minus this). */
static double smoothed_logit(const float *z, int32_t l, float ls, int64_t c) {
    double zsum = 0;
    for (int64_t j = 0; j < c; j++) zsum += z[j];
    return (1.0 - ls) * z[l] + ls / (double)c * zsum;
}

/* Sum over rows of log(sum(exp(z_r))) - z_r[label] (smoothed: minus smoothed_logit), in
 * chunks through a stack buffer. */
static double sparse_ce_logits(const float *p, const int32_t *lab, const float *w, int64_t rows, int64_t c, float ls) {
    enum { BUF = 2048 };
    float e[BUF], sums[BUF], lse[BUF];
    double total = 0;
    if (c > BUF) {
        for (int64_t r = 0; r < rows; r++)
            if (lab[r] >= 0 && lab[r] < c)
                total += (w ? w[r] : 1.0) * (kn__log_sum_exp(p + r * c, c) -
                                             (ls == 0 ? p[r * c + lab[r]] : smoothed_logit(p + r * c, lab[r], ls, c)));
        return total;
    }
    int64_t chunk = BUF / c;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t n = rows - r0 < chunk ? rows - r0 : chunk;
        exp_rows(p + r0 * c, e, sums, lse, n, c);
        for (int64_t r = 0; r < n; r++) {
            int32_t l = lab[r0 + r];
            if (l >= 0 && l < c)
                total += (w ? w[r0 + r] : 1.0) *
                         (lse[r] - (ls == 0 ? p[(r0 + r) * c + l] : smoothed_logit(p + (r0 + r) * c, l, ls, c)));
        }
    }
    return total;
}

/* The loss of row r (before the mean over the batch). */
static double row_loss(kn_loss kind, bool logits, const float *pr, const void *target, int64_t r, int64_t c,
                       kn_loss_params lp) {
    double total = 0;
    float ls = lp.ls;
    if (kn__loss_by_row(kind)) return kn__loss_row_stats(kind, logits, lp, pr, (const float *)target + r * c, c).loss;
    switch (kind) {
    case KN_LOSS_MSE: {
        const float *yr = (const float *)target + r * c;
        for (int64_t j = 0; j < c; j++) total += (double)(pr[j] - yr[j]) * (pr[j] - yr[j]);
        return total / (double)c;
    }
    case KN_LOSS_MAE: {
        const float *yr = (const float *)target + r * c;
        for (int64_t j = 0; j < c; j++) total += fabs((double)pr[j] - yr[j]);
        return total / (double)c;
    }
    case KN_LOSS_BINARY_CROSSENTROPY: {
        const float *yr = (const float *)target + r * c;
        for (int64_t j = 0; j < c; j++) {
            float y = kn__smooth(yr[j], ls, 2.0f);
            if (logits) { /* max(z,0) - z y + log(1 + exp(-|z|)) */
                float z = pr[j];
                total += (z > 0 ? z : 0) - z * y + log1pf(expf(-fabsf(z)));
            } else {
                float q = clipp(pr[j]);
                total -= y * logf(q) + (1 - y) * logf(1 - q);
            }
        }
        return total / (double)c;
    }
    case KN_LOSS_CATEGORICAL_CROSSENTROPY: {
        const float *yr = (const float *)target + r * c;
        if (logits) {
            float lse = kn__log_sum_exp(pr, c);
            for (int64_t j = 0; j < c; j++) total -= kn__smooth(yr[j], ls, (float)c) * (pr[j] - lse);
        } else {
            float s = row_sum(pr, c);
            for (int64_t j = 0; j < c; j++) total -= kn__smooth(yr[j], ls, (float)c) * logf(clipp(pr[j] / s));
        }
        return total;
    }
    case KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY: { /* from probabilities (logits: batched below) */
        int32_t l = ((const int32_t *)target)[r];
        if (l < 0 || l >= c) return 0;
        float s = row_sum(pr, c);
        if (ls == 0) return -logf(clipp(pr[l] / s));
        for (int64_t j = 0; j < c; j++) total -= kn__smooth_label(j, l, ls, (float)c) * logf(clipp(pr[j] / s));
        return total;
    }
    default: {
        if (!kn__loss_elementwise(kind)) return 0;
        const float *yr = (const float *)target + r * c;
        for (int64_t j = 0; j < c; j++) total += kn__loss_term(kind, pr[j], yr[j], lp.delta);
        return kn__loss_sums_row(kind) ? total : total / (double)c;
    }
    }
}

/* Sum over rows [r0, r0+rows) of weight x row loss; p points at row r0's predictions (a
 * block of them), target and w are the whole batch's. */
static double loss_rows(kn_loss kind, bool logits, const float *p, const void *target, const float *w, int64_t r0,
                        int64_t rows, int64_t c, kn_loss_params lp) {
    if (kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY && logits)
        return sparse_ce_logits(p, (const int32_t *)target + r0, w ? w + r0 : NULL, rows, c, lp.ls);
    double total = 0;
    for (int64_t r = 0; r < rows; r++)
        total += (w ? w[r0 + r] : 1.0) * row_loss(kind, logits, p + r * c, target, r0 + r, c, lp);
    return total;
}

/* Mean over the batch of weight x row loss; half predictions widened a block of rows at a
 * time (the precision pass keeps rows longer than a block in f32). */
void kn__cpu_loss(kn_graph *g, kn_tensor *t) {
    (void)g;
    const kn_tensor *pt = t->src[0];
    const float *w = t->src[2] ? t->src[2]->data : NULL;
    const void *target = t->src[1]->data;
    int64_t rows = pt->ne[0], c = pt->ne[1];
    kn_loss kind = (kn_loss)t->iparam[0];
    bool logits = t->iparam[1];
    kn_loss_params lp = kn__loss_node_params(t);
    double total = 0;
    if (!kn__is_half(pt)) {
        total = loss_rows(kind, logits, pt->data, target, w, 0, rows, c, lp);
    } else {
        float pb[KN_HALF_BLOCK];
        int64_t per = KN_HALF_BLOCK / c;
        for (int64_t r0 = 0; r0 < rows; r0 += per) {
            int64_t nr = rows - r0 < per ? rows - r0 : per;
            total += loss_rows(kind, logits, kn__read_f32(pt, r0 * c, nr * c, pb), target, w, r0, nr, c, lp);
        }
    }
    *(float *)t->data = (float)(total / (double)rows);
}

/* The gradient of rows [r0, r0+rows): p and dx point at row r0 (a block of rows), target
 * and w are the whole batch's; inv_b = dloss / batch, inv_n = dloss / (batch x c). */
static void loss_grad_rows(kn_loss kind, bool logits, const float *p, const void *target, const float *w, float *dx,
                           int64_t r0, int64_t rows, int64_t c, float inv_b, float inv_n, kn_loss_params lp) {
    float ls = lp.ls;
    switch (kind) {
    case KN_LOSS_MSE: {
        const float *y = (const float *)target + r0 * c;
        for (int64_t i = 0; i < rows * c; i++) dx[i] = 2.0f * (p[i] - y[i]) * inv_n;
        break;
    }
    case KN_LOSS_MAE: {
        const float *y = (const float *)target + r0 * c;
        for (int64_t i = 0; i < rows * c; i++) dx[i] = (p[i] > y[i] ? 1.0f : p[i] < y[i] ? -1.0f : 0.0f) * inv_n;
        break;
    }
    case KN_LOSS_BINARY_CROSSENTROPY: {
        const float *y = (const float *)target + r0 * c;
        for (int64_t i = 0; i < rows * c; i++) {
            float yi = kn__smooth(y[i], ls, 2.0f);
            if (logits) {
                dx[i] = (1.0f / (1.0f + expf(-p[i])) - yi) * inv_n;
            } else {
                float q = p[i];
                bool clipped = q < KN_PROB_EPS || q > 1 - KN_PROB_EPS;
                dx[i] = clipped ? 0.0f : (q - yi) / (q * (1 - q)) * inv_n;
            }
        }
        break;
    }
    case KN_LOSS_CATEGORICAL_CROSSENTROPY: {
        const float *y = (const float *)target + r0 * c;
        for (int64_t r = 0; r < rows; r++) {
            const float *pr = p + r * c, *yr = y + r * c;
            float *dr = dx + r * c;
            float ysum = row_sum(yr, c);
            if (ls != 0) ysum = ysum * (1.0f - ls) + ls; /* the smoothed targets' sum */
            if (logits) { /* d/dz_j = softmax_j * sum(y) - y_j */
                float lse = kn__log_sum_exp(pr, c);
                for (int64_t j = 0; j < c; j++) dr[j] = pr[j] - lse;
                kn__vexp(dr, dr, c);
                for (int64_t j = 0; j < c; j++) dr[j] = (dr[j] * ysum - kn__smooth(yr[j], ls, (float)c)) * inv_b;
            } else { /* q = p / sum(p): d/dp_k = (sum(y) - y_k / q_k) / sum(p) */
                float s = row_sum(pr, c);
                for (int64_t j = 0; j < c; j++) {
                    float q = pr[j] / s;
                    bool clipped = q < KN_PROB_EPS || q > 1 - KN_PROB_EPS;
                    dr[j] = (ysum - (clipped ? 0.0f : kn__smooth(yr[j], ls, (float)c) / q)) / s * inv_b;
                }
            }
        }
        break;
    }
    case KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY: {
        const int32_t *lab = (const int32_t *)target + r0;
        if (logits) { /* softmax(z) - onehot(label), over the batch */
            float sums[1024];
            for (int64_t b0 = 0; b0 < rows; b0 += 1024) {
                int64_t n = rows - b0 < 1024 ? rows - b0 : 1024;
                exp_rows(p + b0 * c, dx + b0 * c, sums, NULL, n, c);
                for (int64_t r = 0; r < n; r++) {
                    float *dr = dx + (b0 + r) * c, scale = inv_b / sums[r];
                    int32_t l = lab[b0 + r];
                    if (l < 0 || l >= c) {
                        for (int64_t j = 0; j < c; j++) dr[j] = 0;
                        continue;
                    }
                    for (int64_t j = 0; j < c; j++) dr[j] *= scale;
                    if (ls == 0) {
                        dr[l] -= inv_b;
                        continue;
                    } /* softmax - the smoothed one-hot row */
                    float off = inv_b * ls / (float)c;
                    for (int64_t j = 0; j < c; j++) dr[j] -= off;
                    dr[l] -= inv_b * (1.0f - ls);
                }
            }
            break;
        }
        for (int64_t r = 0; r < rows; r++) {
            const float *pr = p + r * c;
            float *dr = dx + r * c;
            int32_t l = lab[r];
            if (l < 0 || l >= c) {
                for (int64_t j = 0; j < c; j++) dr[j] = 0;
                continue;
            }
            float sp = row_sum(pr, c), q = pr[l] / sp;
            if (ls != 0) { /* categorical's formula over the smoothed one-hot row (its sum 1) */
                for (int64_t j = 0; j < c; j++) {
                    float qj = pr[j] / sp;
                    bool clipped = qj < KN_PROB_EPS || qj > 1 - KN_PROB_EPS;
                    dr[j] = (1.0f - (clipped ? 0.0f : kn__smooth_label(j, l, ls, (float)c) / qj)) / sp * inv_b;
                }
                continue;
            }
            bool clipped = q < KN_PROB_EPS || q > 1 - KN_PROB_EPS;
            for (int64_t j = 0; j < c; j++) dr[j] = inv_b / sp;
            if (!clipped) dr[l] -= inv_b / (q * sp);
        }
        break;
    }
    case KN_LOSS_BINARY_FOCAL_CROSSENTROPY: case KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY:
    case KN_LOSS_COSINE_SIMILARITY: case KN_LOSS_CATEGORICAL_HINGE:
        for (int64_t r = 0; r < rows; r++) { /* the row's statistics, then each element's slope */
            const float *pr = p + r * c, *yr = (const float *)target + (r0 + r) * c;
            kn_loss_row st = kn__loss_row_stats(kind, logits, lp, pr, yr, c);
            for (int64_t j = 0; j < c; j++)
                dx[r * c + j] = kn__loss_row_slope(kind, logits, lp, &st, pr[j], yr[j], j, c) * inv_b;
        }
        break;
    default: {
        if (!kn__loss_elementwise(kind)) break;
        const float *y = (const float *)target + r0 * c;
        float per = kn__loss_sums_row(kind) ? inv_b : inv_n;
        for (int64_t i = 0; i < rows * c; i++) dx[i] = kn__loss_slope(kind, p[i], y[i], lp.delta) * per;
        break;
    }
    }
    if (w) /* sample weights: each row's gradient times its weight */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < c; j++) dx[r * c + j] *= w[r0 + r];
}

/* src: pred, target, dloss (scalar: 1, or fp16's loss scale), sample weights (batch) or
 * NULL. Half predictions and output go a block of rows at a time through f32 buffers. */
void kn__cpu_loss_grad(kn_graph *g, kn_tensor *t) {
    const kn_tensor *pt = t->src[0];
    const float *w = t->src[3] ? t->src[3]->data : NULL;
    const void *target = t->src[1]->data;
    int64_t rows = pt->ne[0], c = pt->ne[1];
    kn_loss kind = (kn_loss)t->iparam[0];
    bool logits = t->iparam[1];
    kn_loss_params lp = kn__loss_node_params(t);
    (void)g;
    float dl = *(const float *)t->src[2]->data;
    float inv_b = dl / (float)rows, inv_n = dl / (float)(rows * c);
    if (!kn__is_half(pt) && !kn__is_half(t)) {
        loss_grad_rows(kind, logits, pt->data, target, w, t->data, 0, rows, c, inv_b, inv_n, lp);
        return;
    }
    float pb[KN_HALF_BLOCK], db[KN_HALF_BLOCK];
    int64_t per = KN_HALF_BLOCK / c;
    for (int64_t r0 = 0; r0 < rows; r0 += per) {
        int64_t nr = rows - r0 < per ? rows - r0 : per;
        float *dx = kn__write_f32(t, r0 * c, db);
        loss_grad_rows(kind, logits, kn__read_f32(pt, r0 * c, nr * c, pb), target, w, dx, r0, nr, c, inv_b, inv_n, lp);
        kn__write_done(t, r0 * c, nr * c, dx);
    }
}
