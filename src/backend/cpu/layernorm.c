/* layernorm.c — layer normalization over the last dimension (Keras's LayerNormalization,
 * PyTorch's nn.LayerNorm over one dimension): each row normalized by its own mean and
 * biased variance. Rows are independent, so the forward and the input gradient give each
 * task whole rows on the worker pool, and any thread count gives the same bits; the
 * backward recomputes each row's statistics from x with the forward's own code (the same
 * floats) rather than keeping them from the forward. gamma's gradient sums over rows in
 * parts fixed by the shape, each part into the node's planned scratch on whichever thread,
 * then the parts in order: the same bits whatever the thread count too.
 *
 * A row's sums run in 16 float lanes in an order the code fixes (lanes, below).
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

/* A row's sums are taken in 16 float lanes, its value i into lane i % 16 in order, then
 * the lanes added in order: an order the code fixes (two 8-float vectors, GCC's vector
 * extension: so -O0 and -O3 builds, and any thread count, give the same bits), each lane
 * summing a sixteenth of the row. One float sum in order put the golden test's rows of
 * 1100 values near 40 off by 3e-5 of a sigma in their mean (row_stats corrects what the
 * lanes leave). Sums in double took twice the time of these (a (256, 512) forward), and
 * 16 scalar lanes left to the compiler's vectorizer three times (it vectorized across
 * them, strided). */
typedef float v8f __attribute__((vector_size(32)));
typedef struct { v8f lo, hi; } lanes; /* lanes 0-7, 8-15 */

static inline v8f load8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static float lanes_total(lanes l) {
    float t[16], s = 0;
    memcpy(t, &l.lo, sizeof l.lo);
    memcpy(t + 8, &l.hi, sizeof l.hi);
    for (int k = 0; k < 16; k++) s += t[k];
    return s;
}

/* The last n % 16 values of a block (f(v[i]) each; zeros in the other lanes, which leave
 * a sum as it is) as lanes, and where they start. */
static int64_t tail(const float *v, int64_t n, float mu, bool deviations, float t[16]) {
    int64_t i = n / 16 * 16;
    memset(t, 0, 16 * sizeof *t);
    for (int64_t k = 0; i + k < n; k++) t[k] = deviations ? v[i + k] - mu : v[i + k];
    return i;
}

/* acc += v[0..n) lane by lane (a block: it starts at a multiple of 16). */
static void add_lanes(lanes *acc, const float *v, int64_t n) {
    float t[16];
    int64_t end = tail(v, n, 0, false, t);
    for (int64_t i = 0; i < end; i += 16) acc->lo += load8(v + i), acc->hi += load8(v + i + 8);
    acc->lo += load8(t), acc->hi += load8(t + 8);
}

/* e += v - mu and q += (v - mu)^2 lane by lane, likewise. */
static void add_deviation_lanes(lanes *e, lanes *q, const float *v, int64_t n, float mu) {
    float t[16];
    int64_t end = tail(v, n, mu, true, t);
    for (int64_t i = 0; i <= end; i += 16) {
        v8f lo = i < end ? load8(v + i) - mu : load8(t), hi = i < end ? load8(v + i + 8) - mu : load8(t + 8);
        e->lo += lo, e->hi += hi;
        q->lo += lo * lo, q->hi += hi * hi;
    }
}

/* Mean and 1 / sqrt(var + eps) of the row of c values at element off of x, by the
 * corrected two-pass algorithm: a first mean mu, then the deviations from it, whose mean
 * e corrects it (mean = mu + e, var = mean((x - mu)^2) - e^2), so that neither keeps the
 * first sum's rounding when the values are large against their spread. Every kernel here
 * takes a row's statistics from this function. */
static void row_stats(const kn_tensor *x, int64_t off, int64_t c, float eps, float *mean, float *rstd) {
    float buf[KN_HALF_BLOCK];
    lanes s = {{0}, {0}}, e = s, q = s;
    for (int64_t b = 0; b < c; b += KN_HALF_BLOCK) {
        int64_t n = block_len(c, b);
        add_lanes(&s, kn__read_f32(x, off + b, n, buf), n);
    }
    float mu = lanes_total(s) / (float)c;
    for (int64_t b = 0; b < c; b += KN_HALF_BLOCK) {
        int64_t n = block_len(c, b);
        add_deviation_lanes(&e, &q, kn__read_f32(x, off + b, n, buf), n, mu);
    }
    float em = lanes_total(e) / (float)c, var = lanes_total(q) / (float)c - em * em;
    *mean = mu + em;
    *rstd = 1.0f / sqrtf((var > 0 ? var : 0) + eps); /* biased: Keras's and PyTorch's */
}

/* y = (x - mean) * rstd * gamma + beta over n values, gamma and beta (either may be NULL)
 * from their block's start; y may be x. */
static void normalize(const float *x, float *y, int64_t n, float mean, float rstd, const float *g, const float *bt) {
    if (g && bt)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * g[i] + bt[i];
    else if (g)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * g[i];
    else if (bt)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd + bt[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd;
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
            normalize(x, y, n, mean, rstd, a->gamma ? a->gamma + b : NULL, a->beta ? a->beta + b : NULL);
            kn__write_done(a->out, off + b, n, y);
        }
    }
}

/* sd += d and sdx += d * xhat lane by lane, d = dy * g (dy without g: g NULL) and
 * xhat = (x - mean) * rstd (the tail's lanes past n zeros in dy, so adding nothing). */
static void add_grad_lanes(lanes *sd, lanes *sdx, const float *dy, const float *g, const float *x, int64_t n, float mean,
                           float rstd) {
    float tdy[16], tg[16], tx[16];
    int64_t end = tail(dy, n, 0, false, tdy);
    tail(x, n, 0, false, tx);
    if (g) tail(g, n, 0, false, tg);
    for (int64_t i = 0; i <= end; i += 16) {
        bool body = i < end;
        v8f dlo = load8(body ? dy + i : tdy), dhi = load8(body ? dy + i + 8 : tdy + 8);
        if (g) dlo *= load8(body ? g + i : tg), dhi *= load8(body ? g + i + 8 : tg + 8);
        v8f hlo = (load8(body ? x + i : tx) - mean) * rstd, hhi = (load8(body ? x + i + 8 : tx + 8) - mean) * rstd;
        sd->lo += dlo, sd->hi += dhi;
        sdx->lo += dlo * hlo, sdx->hi += dhi * hhi;
    }
}

/* Rows of elements [lo, hi): dx = rstd * (d - mean(d) - xhat * mean(d * xhat)) with
 * d = dy * gamma (dy without gamma), the means over the row (sums in lanes). */
static void grad_rows(void *p, int64_t lo, int64_t hi) {
    const ln_args *a = p;
    float xb[KN_HALF_BLOCK], db[KN_HALF_BLOCK], ob[KN_HALF_BLOCK];
    for (int64_t off = lo; off < hi; off += a->c) {
        float mean, rstd;
        lanes sd = {{0}, {0}}, sdx = sd;
        row_stats(a->x, off, a->c, a->eps, &mean, &rstd);
        for (int64_t b = 0; b < a->c; b += KN_HALF_BLOCK) {
            int64_t n = block_len(a->c, b);
            const float *x = kn__read_f32(a->x, off + b, n, xb), *dy = kn__read_f32(a->dy, off + b, n, db);
            add_grad_lanes(&sd, &sdx, dy, a->gamma ? a->gamma + b : NULL, x, n, mean, rstd);
        }
        float md = lanes_total(sd) / (float)a->c, mdx = lanes_total(sdx) / (float)a->c;
        for (int64_t b = 0; b < a->c; b += KN_HALF_BLOCK) {
            int64_t n = block_len(a->c, b);
            const float *x = kn__read_f32(a->x, off + b, n, xb), *dy = kn__read_f32(a->dy, off + b, n, db);
            const float *g = a->gamma ? a->gamma + b : NULL;
            float *dx = kn__write_f32(a->out, off + b, ob);
            if (g)
                for (int64_t i = 0; i < n; i++) dx[i] = rstd * (dy[i] * g[i] - md - (x[i] - mean) * rstd * mdx);
            else
                for (int64_t i = 0; i < n; i++) dx[i] = rstd * (dy[i] - md - (x[i] - mean) * rstd * mdx);
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
