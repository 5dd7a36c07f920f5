/* layernorm.c — layer normalization over the last dimension (Keras's LayerNormalization,
 * PyTorch's nn.LayerNorm over one dimension): each row normalized by its own mean and
 * biased variance. Rows are independent, so the forward and the input gradient give each
 * task whole rows on the worker pool, and any thread count gives the same bits; the
 * backward recomputes each row's statistics from x with the forward's own code (the same
 * floats) rather than keeping them from the forward. gamma's gradient sums over rows in
 * parts fixed by the shape, each part into the node's planned scratch on whichever thread,
 * then the parts in order: the same bits whatever the thread count too.
 *
 * Mixed precision: x, dy and the outputs may be stored half (gamma, beta and gamma's
 * gradient are f32 parameters). A row is read a KN_HALF_BLOCK at a time, widened on the
 * stack (f32 tensors are read in place), so a row of any length needs no buffer of its own. */
#include "cpu.h"
#include "core/pool.h"

#include <math.h>
#include <string.h>

typedef struct {
    const kn_tensor *x, *dy;   /* dy: the incoming gradient (backward) */
    kn_tensor *out;            /* y, dx, or gamma's gradient */
    const float *gamma, *beta; /* (c) each, or NULL */
    int64_t rows, c;
    float eps;
    float *partial;            /* gamma's gradient: (parts, c) sums, parts > 1 */
    int64_t parts;
} ln_args;

static inline int64_t block_len(int64_t c, int64_t b) { return c - b < KN_HALF_BLOCK ? c - b : KN_HALF_BLOCK; }

/* Mean and 1 / sqrt(var + eps) of the row of c values at element off of x: two passes
 * (the variance about the mean, which keeps its digits when the mean is large), float sums
 * in blocks. Every kernel here takes a row's statistics from this function. */
static void row_stats(const kn_tensor *x, int64_t off, int64_t c, float eps, float *mean, float *rstd) {
    float buf[KN_HALF_BLOCK], s = 0, q = 0;
    for (int64_t b = 0; b < c; b += KN_HALF_BLOCK) {
        int64_t n = block_len(c, b);
        const float *v = kn__read_f32(x, off + b, n, buf);
        float bs = 0;
#pragma omp simd reduction(+ : bs)
        for (int64_t i = 0; i < n; i++) bs += v[i];
        s += bs;
    }
    float mu = s / (float)c;
    for (int64_t b = 0; b < c; b += KN_HALF_BLOCK) {
        int64_t n = block_len(c, b);
        const float *v = kn__read_f32(x, off + b, n, buf);
        float bq = 0;
#pragma omp simd reduction(+ : bq)
        for (int64_t i = 0; i < n; i++) bq += (v[i] - mu) * (v[i] - mu);
        q += bq;
    }
    *mean = mu;
    *rstd = 1.0f / sqrtf(q / (float)c + eps); /* biased: Keras's and PyTorch's */
}

/* Rows of elements [lo, hi) (whole rows): y = (x - mean) * rstd * gamma + beta. y may be
 * x (in place): each element is read before it is written. */
static void forward_rows(void *p, int64_t lo, int64_t hi) {
    const ln_args *a = p;
    float xb[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
    for (int64_t off = lo; off < hi; off += a->c) {
        float mean, rstd;
        row_stats(a->x, off, a->c, a->eps, &mean, &rstd);
        for (int64_t b = 0; b < a->c; b += KN_HALF_BLOCK) {
            int64_t n = block_len(a->c, b);
            const float *x = kn__read_f32(a->x, off + b, n, xb);
            float *y = kn__write_f32(a->out, off + b, yb);
            for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd;
            if (a->gamma)
                for (int64_t i = 0; i < n; i++) y[i] *= a->gamma[b + i];
            if (a->beta)
                for (int64_t i = 0; i < n; i++) y[i] += a->beta[b + i];
            kn__write_done(a->out, off + b, n, y);
        }
    }
}

/* Rows of elements [lo, hi): dx = rstd * (d - mean(d) - xhat * mean(d * xhat)) with
 * d = dy * gamma (dy without gamma), the means over the row. */
static void grad_rows(void *p, int64_t lo, int64_t hi) {
    const ln_args *a = p;
    const float *gm = a->gamma;
    float xb[KN_HALF_BLOCK], db[KN_HALF_BLOCK], ob[KN_HALF_BLOCK];
    for (int64_t off = lo; off < hi; off += a->c) {
        float mean, rstd, sd = 0, sdx = 0;
        row_stats(a->x, off, a->c, a->eps, &mean, &rstd);
        for (int64_t b = 0; b < a->c; b += KN_HALF_BLOCK) {
            int64_t n = block_len(a->c, b);
            const float *x = kn__read_f32(a->x, off + b, n, xb), *dy = kn__read_f32(a->dy, off + b, n, db);
            float bd = 0, bdx = 0;
#pragma omp simd reduction(+ : bd, bdx)
            for (int64_t i = 0; i < n; i++) {
                float d = gm ? dy[i] * gm[b + i] : dy[i];
                bd += d;
                bdx += d * ((x[i] - mean) * rstd);
            }
            sd += bd;
            sdx += bdx;
        }
        float md = sd / (float)a->c, mdx = sdx / (float)a->c;
        for (int64_t b = 0; b < a->c; b += KN_HALF_BLOCK) {
            int64_t n = block_len(a->c, b);
            const float *x = kn__read_f32(a->x, off + b, n, xb), *dy = kn__read_f32(a->dy, off + b, n, db);
            float *dx = kn__write_f32(a->out, off + b, ob);
            for (int64_t i = 0; i < n; i++) {
                float d = gm ? dy[i] * gm[b + i] : dy[i];
                dx[i] = rstd * (d - md - (x[i] - mean) * rstd * mdx);
            }
            kn__write_done(a->out, off + b, n, dx);
        }
    }
}

static void rows_of(const kn_tensor *t, int64_t *rows, int64_t *c) {
    *c = t->ndim ? t->ne[t->ndim - 1] : 1;
    *rows = *c ? kn__numel(t) / *c : 0;
}

void kn__cpu_layer_norm(kn_graph *g, kn_tensor *t) {
    int64_t rows, c;
    rows_of(t, &rows, &c);
    const kn_tensor *gamma = t->src[1], *beta = t->src[2];
    ln_args a = {t->src[0], NULL, t, gamma ? gamma->data : NULL, beta ? beta->data : NULL, rows, c, t->fparam[0], NULL, 1};
    if (rows > 0) kn__parallel_for(g, rows * c, c, forward_rows, &a); /* grain c: tasks of whole rows */
}

void kn__cpu_layer_norm_grad(kn_graph *g, kn_tensor *t) {
    int64_t rows, c;
    rows_of(t, &rows, &c);
    const kn_tensor *gamma = t->src[2];
    ln_args a = {t->src[1], t->src[0], t, gamma ? gamma->data : NULL, NULL, rows, c, t->fparam[0], NULL, 1};
    if (rows > 0) kn__parallel_for(g, rows * c, c, grad_rows, &a);
}

/* gamma's gradient sums rows in parts of about LN_PART elements (at most LN_MAX_PARTS and
 * one row each), a number fixed by the shape: below 2 * LN_PART elements one part, summed
 * straight into the gradient. */
#define LN_PART 32768
#define LN_MAX_PARTS 16

static int64_t gamma_parts(int64_t rows, int64_t c) {
    int64_t n = rows * c / LN_PART, cap = rows < LN_MAX_PARTS ? rows : LN_MAX_PARTS;
    return n < 1 ? 1 : n > cap ? cap : n;
}

/* Part k of the rows: sum dy * xhat into its own (c) sums (the gradient itself when one part). */
static void gamma_part(void *p, int64_t k) {
    const ln_args *a = p;
    int64_t c = a->c, r0 = a->rows * k / a->parts, r1 = a->rows * (k + 1) / a->parts;
    float *sum = a->parts > 1 ? a->partial + k * c : a->out->data;
    float xb[KN_HALF_BLOCK], db[KN_HALF_BLOCK];
    memset(sum, 0, (size_t)c * sizeof *sum);
    for (int64_t r = r0; r < r1; r++) {
        float mean, rstd;
        row_stats(a->x, r * c, c, a->eps, &mean, &rstd);
        for (int64_t b = 0; b < c; b += KN_HALF_BLOCK) {
            int64_t n = block_len(c, b);
            const float *x = kn__read_f32(a->x, r * c + b, n, xb), *dy = kn__read_f32(a->dy, r * c + b, n, db);
            for (int64_t i = 0; i < n; i++) sum[b + i] += dy[i] * ((x[i] - mean) * rstd);
        }
    }
}

size_t kn__cpu_layer_norm_gamma_grad_scratch(const kn_graph *g, const kn_tensor *t) {
    (void)g;
    int64_t c = t->ne[0], rows = c ? kn__numel(t->src[0]) / c : 0, parts = gamma_parts(rows, c);
    return parts > 1 ? (size_t)(parts * c) * sizeof(float) : 0;
}

void kn__cpu_layer_norm_gamma_grad(kn_graph *g, kn_tensor *t) {
    int64_t c = t->ne[0], rows = c ? kn__numel(t->src[0]) / c : 0, parts = gamma_parts(rows, c);
    ln_args a = {t->src[1], t->src[0], t, NULL, NULL, rows, c, t->fparam[0], NULL, parts};
    if (parts == 1) {
        gamma_part(&a, 0);
        return;
    }
    size_t bytes = kn__cpu_layer_norm_gamma_grad_scratch(g, t);
    if (!(a.partial = kn__cpu_scratch(g, t, bytes))) return;
    kn__pool_run(kn_ctx_threads(g->ctx), parts, gamma_part, &a);
    float *y = t->data;
    memcpy(y, a.partial, (size_t)c * sizeof *y);
    for (int64_t k = 1; k < parts; k++)
        for (int64_t i = 0; i < c; i++) y[i] += a.partial[k * c + i];
    kn__cpu_scratch_done(g, t, a.partial);
}
