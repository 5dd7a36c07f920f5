/* batchnorm.c — batch normalization over the last dimension (channels), as Keras's
 * BatchNormalization. The batch statistics are sums in double, one channel per task, each
 * in row order, so any thread count gives the same values; the backward recomputes them
 * from x (the same code, so the same floats) instead of storing them.
 *
 * Mixed precision: x, dy and the output may be stored half (the moving statistics, slots 1
 * and 2, are f32 state). The statistics then take a row's piece of up to BN_CHANNELS
 * channels at a time, widened on the stack, each channel still summed in row order in
 * double; the elementwise passes go by KN_HALF_BLOCK elements. */
#include "cpu.h"

#include <math.h>
#include <string.h>

typedef struct {
    const float *x, *dy;
    const kn_tensor *tx, *tdy; /* the same, whatever their type (the half path reads these) */
    int64_t rows, c;
    float eps;
    float *mean, *var, *inv;   /* per channel */
    float *sdy, *sdyx;         /* backward: sum dy, sum dy * xhat per channel */
} bn_args;

static void stats_range(void *p, int64_t lo, int64_t hi) {
    bn_args *a = p;
    for (int64_t c = lo; c < hi; c++) {
        double s = 0;
        for (int64_t r = 0; r < a->rows; r++) s += a->x[r * a->c + c];
        double mean = s / (double)a->rows, q = 0;
        for (int64_t r = 0; r < a->rows; r++) {
            double d = a->x[r * a->c + c] - mean;
            q += d * d;
        }
        double var = q / (double)a->rows; /* biased, as Keras normalizes and updates with */
        a->mean[c] = (float)mean;
        a->var[c] = (float)var;
        a->inv[c] = (float)(1.0 / sqrt(var + (double)a->eps));
        if (a->dy) {
            double sd = 0, sdx = 0;
            for (int64_t r = 0; r < a->rows; r++) {
                float xh = (a->x[r * a->c + c] - a->mean[c]) * a->inv[c];
                sd += a->dy[r * a->c + c];
                sdx += (double)a->dy[r * a->c + c] * xh;
            }
            a->sdy[c] = (float)(sd / (double)a->rows);
            a->sdyx[c] = (float)(sdx / (double)a->rows);
        }
    }
}

/* Channel grain: enough rows per task to be worth a thread. */
static int64_t channel_grain(int64_t rows) { return rows >= 65536 ? 1 : 65536 / rows + 1; }

/* Channels the half path sums at once: a row's piece widened on the stack. */
#define BN_CHANNELS 128

/* stats_range for half x or dy: channels [lo, hi) in pieces of BN_CHANNELS, each row's
 * piece widened; per channel the same sums, in the same (row) order, as stats_range. */
static void stats_range_half(void *p, int64_t lo, int64_t hi) {
    bn_args *a = p;
    for (int64_t c0 = lo; c0 < hi; c0 += BN_CHANNELS) {
        int64_t m = hi - c0 < BN_CHANNELS ? hi - c0 : BN_CHANNELS;
        double s[BN_CHANNELS] = {0}, q[BN_CHANNELS] = {0};
        float xb[BN_CHANNELS], db[BN_CHANNELS];
        for (int64_t r = 0; r < a->rows; r++) {
            const float *x = kn__read_f32(a->tx, r * a->c + c0, m, xb);
            for (int64_t j = 0; j < m; j++) s[j] += x[j];
        }
        for (int64_t j = 0; j < m; j++) s[j] /= (double)a->rows; /* the mean */
        for (int64_t r = 0; r < a->rows; r++) {
            const float *x = kn__read_f32(a->tx, r * a->c + c0, m, xb);
            for (int64_t j = 0; j < m; j++) {
                double d = x[j] - s[j];
                q[j] += d * d;
            }
        }
        for (int64_t j = 0; j < m; j++) {
            double var = q[j] / (double)a->rows;
            a->mean[c0 + j] = (float)s[j];
            a->var[c0 + j] = (float)var;
            a->inv[c0 + j] = (float)(1.0 / sqrt(var + (double)a->eps));
        }
        if (!a->tdy) continue;
        double sd[BN_CHANNELS] = {0}, sdx[BN_CHANNELS] = {0};
        for (int64_t r = 0; r < a->rows; r++) {
            const float *x = kn__read_f32(a->tx, r * a->c + c0, m, xb), *dy = kn__read_f32(a->tdy, r * a->c + c0, m, db);
            for (int64_t j = 0; j < m; j++) {
                float xh = (x[j] - a->mean[c0 + j]) * a->inv[c0 + j];
                sd[j] += dy[j];
                sdx[j] += (double)dy[j] * xh;
            }
        }
        for (int64_t j = 0; j < m; j++) {
            a->sdy[c0 + j] = (float)(sd[j] / (double)a->rows);
            a->sdyx[c0 + j] = (float)(sdx[j] / (double)a->rows);
        }
    }
}

/* The statistics of channels [0, c), in parallel by channel. */
static void stats(kn_graph *g, bn_args *a) {
    bool half = kn__is_half(a->tx) || (a->tdy && kn__is_half(a->tdy));
    kn__parallel_for(g, a->c, channel_grain(a->rows), half ? stats_range_half : stats_range, a);
}

typedef struct {
    const bn_args *bn;
    kn_tensor *out;
} bn_apply;

/* Elements [lo, hi) of y = (x - mean) * inv, KN_HALF_BLOCK at a time (half tensors). */
static void normalize_range(void *p, int64_t lo, int64_t hi) {
    const bn_apply *ap = p;
    const bn_args *a = ap->bn;
    float xb[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
    for (int64_t b = lo; b < hi; b += KN_HALF_BLOCK) {
        int64_t n = hi - b < KN_HALF_BLOCK ? hi - b : KN_HALF_BLOCK;
        const float *x = kn__read_f32(a->tx, b, n, xb);
        float *y = kn__write_f32(ap->out, b, yb);
        for (int64_t i = 0; i < n; i++) {
            int64_t k = (b + i) % a->c;
            y[i] = (x[i] - a->mean[k]) * a->inv[k];
        }
        kn__write_done(ap->out, b, n, y);
    }
}

/* Elements [lo, hi) of dx (batch_norm_grad's formula), KN_HALF_BLOCK at a time. */
static void grad_range(void *p, int64_t lo, int64_t hi) {
    const bn_apply *ap = p;
    const bn_args *a = ap->bn;
    float xb[KN_HALF_BLOCK], db[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
    for (int64_t b = lo; b < hi; b += KN_HALF_BLOCK) {
        int64_t n = hi - b < KN_HALF_BLOCK ? hi - b : KN_HALF_BLOCK;
        const float *x = kn__read_f32(a->tx, b, n, xb), *dy = kn__read_f32(a->tdy, b, n, db);
        float *dx = kn__write_f32(ap->out, b, yb);
        for (int64_t i = 0; i < n; i++) {
            int64_t k = (b + i) % a->c;
            float xh = (x[i] - a->mean[k]) * a->inv[k];
            dx[i] = a->inv[k] * (dy[i] - a->sdy[k] - xh * a->sdyx[k]);
        }
        kn__write_done(ap->out, b, n, dx);
    }
}

/* Per-channel statistics live in the node's planned scratch (3 floats a channel forward,
 * 5 backward); a kernel run outside a compiled graph's plan allocates its own. */
static size_t bn_scratch(const kn_tensor *t, int per_channel) {
    int64_t c = t->ndim ? t->ne[t->ndim - 1] : 1;
    return (size_t)(c ? c : 1) * (size_t)per_channel * sizeof(float);
}

size_t kn__cpu_batch_norm_scratch(const kn_graph *g, const kn_tensor *t) { (void)g; return bn_scratch(t, 3); }
size_t kn__cpu_batch_norm_grad_scratch(const kn_graph *g, const kn_tensor *t) { (void)g; return bn_scratch(t, 5); }

static float *scratch(kn_graph *g, const kn_tensor *t, int per_channel) {
    return kn__cpu_scratch(g, t, bn_scratch(t, per_channel));
}

void kn__cpu_batch_norm(kn_graph *g, kn_tensor *t) {
    const float *x = t->src[0]->data;
    float *y = t->data, *mm = t->src[1]->data, *mv = t->src[2]->data;
    int64_t n = kn__numel(t), c = t->ne[t->ndim - 1], rows = c ? n / c : 0;
    float momentum = t->fparam[0], eps = t->fparam[1];
    float *s = scratch(g, t, 3);
    if (!s) return;
    bn_args a = {x, NULL, t->src[0], NULL, rows, c, eps, s, s + c, s + 2 * c, NULL, NULL};
    if (g->training && rows > 0) {
        stats(g, &a);
        if (!g->shared_params && !g->state_frozen) /* Keras: moving = moving * momentum + batch * (1 - momentum) */
            for (int64_t k = 0; k < c; k++) {
                mm[k] = mm[k] * momentum + a.mean[k] * (1.0f - momentum);
                mv[k] = mv[k] * momentum + a.var[k] * (1.0f - momentum);
            }
    } else {
        for (int64_t k = 0; k < c; k++) {
            a.mean[k] = mm[k];
            a.inv[k] = 1.0f / sqrtf(mv[k] + eps);
        }
    }
    if (kn__is_half(t->src[0]) || kn__is_half(t)) {
        if (rows > 0) kn__parallel_for(g, n, KN_GRAIN, normalize_range, &(bn_apply){&a, t});
    } else {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < c; k++) y[r * c + k] = (x[r * c + k] - a.mean[k]) * a.inv[k];
    }
    kn__cpu_scratch_done(g, t, s);
}

/* dx = inv * (dy - mean(dy) - xhat * mean(dy * xhat)), per channel over the batch. */
void kn__cpu_batch_norm_grad(kn_graph *g, kn_tensor *t) {
    const float *dy = t->src[0]->data, *x = t->src[1]->data;
    float *dx = t->data;
    int64_t n = kn__numel(t), c = t->ne[t->ndim - 1], rows = c ? n / c : 0;
    float *s = scratch(g, t, 5);
    if (!s) return;
    bn_args a = {x, dy, t->src[1], t->src[0], rows, c, t->fparam[1], s, s + c, s + 2 * c, s + 3 * c, s + 4 * c};
    if (rows > 0) stats(g, &a);
    if (kn__is_half(t->src[0]) || kn__is_half(t->src[1]) || kn__is_half(t)) {
        if (rows > 0) kn__parallel_for(g, n, KN_GRAIN, grad_range, &(bn_apply){&a, t});
        kn__cpu_scratch_done(g, t, s);
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < c; k++) {
            float xh = (x[r * c + k] - a.mean[k]) * a.inv[k];
            dx[r * c + k] = a.inv[k] * (dy[r * c + k] - a.sdy[k] - xh * a.sdyx[k]);
        }
    kn__cpu_scratch_done(g, t, s);
}

/* An evaluating batch norm as x * scale + shift (the fold pass's constants): scale is
 * 1 / sqrt(var + eps), as the kernel above computes it, shift -mean * scale. */
void kn__cpu_batch_norm_fold(kn_graph *g, kn_tensor *t) {
    (void)g;
    const float *mm = t->src[0]->data, *mv = t->src[1]->data;
    float *out = t->data, eps = t->fparam[1];
    for (int64_t k = 0; k < kn__numel(t); k++) {
        float inv = 1.0f / sqrtf(mv[k] + eps);
        out[k] = t->iparam[0] ? -mm[k] * inv : inv;
    }
}
