/* batchnorm.c — batch normalization over the last dimension (channels), as Keras's
 * BatchNormalization. The batch statistics are sums in double, one channel per task, each
 * in row order, so any thread count gives the same values; the backward recomputes them
 * from x (the same code, so the same floats) instead of storing them. */
#include "cpu.h"

#include <math.h>
#include <string.h>

typedef struct {
    const float *x, *dy;
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

/* Per-channel statistics live in the node's planned scratch (3 floats a channel forward,
 * 5 backward); a kernel run outside a compiled graph's plan allocates its own. */
static size_t bn_scratch(const kn_tensor *t, int per_channel) {
    int64_t c = t->ndim ? t->ne[t->ndim - 1] : 1;
    return (size_t)(c ? c : 1) * (size_t)per_channel * sizeof(float);
}

size_t kn__cpu_batch_norm_scratch(const kn_graph *g, const kn_tensor *t) { (void)g; return bn_scratch(t, 3); }
size_t kn__cpu_batch_norm_grad_scratch(const kn_graph *g, const kn_tensor *t) { (void)g; return bn_scratch(t, 5); }

static float *scratch(kn_graph *g, const kn_tensor *t, int per_channel) {
    if (t->scratch && t->scratch_bytes >= bn_scratch(t, per_channel)) return t->scratch;
    float *s = kn__alloc(g->ctx, bn_scratch(t, per_channel));
    if (!s) kn__graph_fail(g, KN_ERR_OUT_OF_MEMORY, "batch_norm: out of memory for %lld channels", (long long)t->ne[t->ndim - 1]);
    return s;
}

static void scratch_done(kn_graph *g, const kn_tensor *t, float *s) {
    if (s != t->scratch) kn__free(g->ctx, s);
}

void kn__cpu_batch_norm(kn_graph *g, kn_tensor *t) {
    const float *x = t->src[0]->data;
    float *y = t->data, *mm = t->src[1]->data, *mv = t->src[2]->data;
    int64_t n = kn__numel(t), c = t->ne[t->ndim - 1], rows = c ? n / c : 0;
    float momentum = t->fparam[0], eps = t->fparam[1];
    float *s = scratch(g, t, 3);
    if (!s) return;
    bn_args a = {x, NULL, rows, c, eps, s, s + c, s + 2 * c, NULL, NULL};
    if (g->training && rows > 0) {
        kn__parallel_for(g, c, channel_grain(rows), stats_range, &a);
        if (!g->shared_params) /* Keras: moving = moving * momentum + batch * (1 - momentum) */
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
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < c; k++) y[r * c + k] = (x[r * c + k] - a.mean[k]) * a.inv[k];
    scratch_done(g, t, s);
}

/* dx = inv * (dy - mean(dy) - xhat * mean(dy * xhat)), per channel over the batch. */
void kn__cpu_batch_norm_grad(kn_graph *g, kn_tensor *t) {
    const float *dy = t->src[0]->data, *x = t->src[1]->data;
    float *dx = t->data;
    int64_t n = kn__numel(t), c = t->ne[t->ndim - 1], rows = c ? n / c : 0;
    float *s = scratch(g, t, 5);
    if (!s) return;
    bn_args a = {x, dy, rows, c, t->fparam[1], s, s + c, s + 2 * c, s + 3 * c, s + 4 * c};
    if (rows > 0) kn__parallel_for(g, c, channel_grain(rows), stats_range, &a);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < c; k++) {
            float xh = (x[r * c + k] - a.mean[k]) * a.inv[k];
            dx[r * c + k] = a.inv[k] * (dy[r * c + k] - a.sdy[k] - xh * a.sdyx[k]);
        }
    scratch_done(g, t, s);
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
