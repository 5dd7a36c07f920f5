/* groupnorm.c — group normalization (graph/ops_group_norm.c) and its gradients on the CPU.
 *
 * x (N, P positions, C channels), channels-last: a (sample, group)'s values are strided (C
 * apart), so a group's statistics come from per-channel sums. Each sample's positions are cut
 * into parts (a count fixed by the shape, never by the threads); a task sums one part's rows
 * into its own per-channel double sums (x and x^2; the gradients add dy and dy x), a row at a
 * time, so the loads are contiguous and the adds vectorize across channels. Then, for each
 * sample, the parts' sums are added in order, channel by channel, and a group's from its
 * channels in order: the same bits on any thread count. The statistics come from those
 * double sums in one pass (var = E[x^2] - mean^2 in double: float inputs leave it exact to
 * well under a float's rounding unless |mean| / std passes ~1e4).
 *
 * The per-sample, per-channel coefficients that follow (mean, scale, ...) then turn the
 * output into one elementwise pass over rows, split over the threads by whole rows:
 *   y  = (x - mean) * a + beta,                       a = rstd * gamma
 *   dx = a * dy + (x - mean) * b + k,                 b = -rstd^3 (D2 - mean D1) / M,
 *                                                     k = -rstd D1 / M
 * with M = P * C / G values in a group, D1 = sum of gamma dy and D2 = sum of gamma dy x over
 * the group (from the per-channel sums). gamma's gradient is sum over samples of
 * rstd (sum dy x - mean sum dy) per channel, in sample order. f32 only (the precision pass
 * keeps this op's tensors f32). */
#include "cpu.h"
#include "core/pool.h"

#include <math.h>
#include <string.h>

/* A part is about GN_PART values of a sample (at most GN_MAX_PARTS, at least a row each). */
#define GN_PART 32768
#define GN_MAX_PARTS 16

typedef struct {
    const float *x, *dy; /* dy: NULL forward */
    float *out;
    const float *gamma, *beta; /* (c) each, or NULL */
    int64_t n, p, c, groups, parts;
    int k;        /* sums a channel: 2 (x, x^2) or 4 (and dy, dy x) */
    float eps;
    double *sums; /* (n, parts, k, c) */
    double *tot;  /* (k, c): a sample's totals */
    double *acc;  /* (c): gamma's gradient */
    float *coef;  /* (n, 4, c): mean, a, b, k (forward: mean, a) */
} gn_args;

static void shape_of(const kn_tensor *x, int64_t *n, int64_t *p, int64_t *c) {
    *c = x->ne[x->ndim - 1];
    *n = kn__group_norm_samples(x);
    *p = *n && *c ? kn__numel(x) / (*n * *c) : 0;
}

static int64_t parts_of(int64_t p, int64_t c) {
    int64_t parts = p * c / GN_PART, cap = p < GN_MAX_PARTS ? p : GN_MAX_PARTS;
    return parts < 1 ? 1 : parts > cap ? cap : parts;
}

size_t kn__cpu_group_norm_scratch(const kn_graph *g, const kn_tensor *t) {
    (void)g;
    const kn_tensor *x = t->op == KN_OP_GROUP_NORM ? t->src[0] : t->src[1];
    int64_t n, p, c;
    shape_of(x, &n, &p, &c);
    int k = t->op == KN_OP_GROUP_NORM ? 2 : 4;
    return (size_t)((n * parts_of(p, c) + 1) * k * c + c) * sizeof(double) + (size_t)(n * 4 * c) * sizeof(float);
}

/* Task j: part j % parts of sample j / parts, its rows' per-channel sums. */
static void sum_part(void *arg, int64_t j) {
    const gn_args *a = arg;
    int64_t s = j / a->parts, part = j % a->parts, c = a->c;
    int64_t r0 = a->p * part / a->parts, r1 = a->p * (part + 1) / a->parts;
    double *sx = a->sums + j * a->k * c, *sq = sx + c, *sd = sq + c, *sdx = sd + c;
    memset(sx, 0, (size_t)(a->k * c) * sizeof *sx);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + (s * a->p + r) * c;
        for (int64_t i = 0; i < c; i++) sx[i] += x[i], sq[i] += (double)x[i] * x[i];
        if (!a->dy) continue;
        const float *dy = a->dy + (s * a->p + r) * c;
        for (int64_t i = 0; i < c; i++) sd[i] += dy[i], sdx[i] += (double)dy[i] * x[i];
    }
}

static void sum_parts(kn_graph *g, gn_args *a) {
    kn__pool_run(a->n * a->parts > 1 ? kn_ctx_threads(g->ctx) : 1, a->n * a->parts, sum_part, a);
}

/* Sample s's per-channel totals (k of them, t (k, c)), the parts added in order. */
static void sample_totals(const gn_args *a, int64_t s, double *t) {
    int64_t kc = a->k * a->c;
    const double *part = a->sums + s * a->parts * kc;
    memcpy(t, part, (size_t)kc * sizeof *t);
    for (int64_t j = 1; j < a->parts; j++)
        for (int64_t i = 0; i < kc; i++) t[i] += part[j * kc + i];
}

/* Group g's mean and rstd from per-channel totals t (x, x^2 rows). */
static void group_stats(const gn_args *a, const double *t, int64_t g, double *mean, double *rstd) {
    int64_t cg = a->c / a->groups;
    double s = 0, q = 0, m = (double)(a->p * cg);
    for (int64_t i = g * cg; i < (g + 1) * cg; i++) s += t[i], q += t[a->c + i];
    double mu = s / m, var = q / m - mu * mu;
    *mean = mu;
    *rstd = 1.0 / sqrt((var > 0 ? var : 0) + (double)a->eps);
}

/* Rows [lo, hi) of all samples' (as elements, whole rows): y = (x - mean) * a + beta. */
static void forward_rows(void *arg, int64_t lo, int64_t hi) {
    const gn_args *a = arg;
    int64_t c = a->c;
    for (int64_t off = lo; off < hi; off += c) {
        const float *co = a->coef + off / c / a->p * 4 * c, *mean = co, *sc = co + c;
        const float *x = a->x + off;
        float *y = a->out + off;
        if (a->beta)
            for (int64_t i = 0; i < c; i++) y[i] = (x[i] - mean[i]) * sc[i] + a->beta[i];
        else
            for (int64_t i = 0; i < c; i++) y[i] = (x[i] - mean[i]) * sc[i];
    }
}

/* dx = a dy + (x - mean) b + k over rows [lo, hi). */
static void grad_rows(void *arg, int64_t lo, int64_t hi) {
    const gn_args *a = arg;
    int64_t c = a->c;
    for (int64_t off = lo; off < hi; off += c) {
        const float *co = a->coef + off / c / a->p * 4 * c, *mean = co, *sc = co + c, *b = co + 2 * c, *k = co + 3 * c;
        const float *x = a->x + off, *dy = a->dy + off;
        float *dx = a->out + off;
        for (int64_t i = 0; i < c; i++) dx[i] = sc[i] * dy[i] + (x[i] - mean[i]) * b[i] + k[i];
    }
}

/* The node's arguments and scratch; false (the graph's error set) when out of memory. */
static bool setup(kn_graph *g, kn_tensor *t, gn_args *a, const kn_tensor *x, const kn_tensor *dy,
                  const kn_tensor *gamma, const kn_tensor *beta) {
    int64_t n, p, c;
    shape_of(x, &n, &p, &c);
    *a = (gn_args){x->data, dy ? dy->data : NULL, t->data, gamma ? gamma->data : NULL, beta ? beta->data : NULL,
                   n, p, c, t->iparam[0], parts_of(p, c), dy ? 4 : 2, t->fparam[0], NULL, NULL, NULL, NULL};
    double *scratch = kn__cpu_scratch(g, t, kn__cpu_group_norm_scratch(g, t));
    if (!scratch) return false;
    a->sums = scratch;
    a->tot = a->sums + n * a->parts * a->k * c;
    a->acc = a->tot + a->k * c;
    a->coef = (float *)(a->acc + c);
    return true;
}

/* Each sample's per-channel coefficients from its parts' sums: mean and a = rstd gamma, and
 * for the gradient (a->dy) b and k (the header's formulas). */
static void coefficients(gn_args *a) {
    int64_t cg = a->c / a->groups;
    double m = (double)(a->p * cg);
    for (int64_t s = 0; s < a->n; s++) {
        sample_totals(a, s, a->tot);
        const double *sd = a->tot + 2 * a->c, *sdx = a->tot + 3 * a->c;
        float *mean = a->coef + s * 4 * a->c, *sc = mean + a->c, *b = sc + a->c, *k = b + a->c;
        for (int64_t gi = 0; gi < a->groups; gi++) {
            double mu, rstd, d1 = 0, d2 = 0;
            group_stats(a, a->tot, gi, &mu, &rstd);
            for (int64_t i = gi * cg; a->dy && i < (gi + 1) * cg; i++) {
                double gm = a->gamma ? a->gamma[i] : 1.0;
                d1 += gm * sd[i], d2 += gm * sdx[i];
            }
            float bg = (float)(-rstd * rstd * rstd * (d2 - mu * d1) / m), kg = (float)(-rstd * d1 / m);
            for (int64_t i = gi * cg; i < (gi + 1) * cg; i++) {
                mean[i] = (float)mu, sc[i] = (float)(a->gamma ? rstd * a->gamma[i] : rstd);
                if (a->dy) b[i] = bg, k[i] = kg;
            }
        }
    }
}

/* The node's sums, coefficients and rows pass (forward_rows or grad_rows). */
static void run(kn_graph *g, kn_tensor *t, gn_args *a, kn__range_fn rows) {
    if (a->n * a->p * a->c > 0) {
        sum_parts(g, a);
        coefficients(a);
        kn__parallel_for(g, a->n * a->p * a->c, a->c, rows, a);
    }
    kn__cpu_scratch_done(g, t, a->sums);
}

void kn__cpu_group_norm(kn_graph *g, kn_tensor *t) {
    gn_args a;
    if (setup(g, t, &a, t->src[0], NULL, t->src[1], t->src[2])) run(g, t, &a, forward_rows);
}

void kn__cpu_group_norm_grad(kn_graph *g, kn_tensor *t) {
    gn_args a;
    if (setup(g, t, &a, t->src[1], t->src[0], t->src[2], NULL)) run(g, t, &a, grad_rows);
}

void kn__cpu_group_norm_gamma_grad(kn_graph *g, kn_tensor *t) {
    gn_args a;
    if (!setup(g, t, &a, t->src[1], t->src[0], NULL, NULL)) return;
    int64_t c = a.c, cg = a.groups ? c / a.groups : 0;
    double *acc = a.acc, *tot = a.tot;
    memset(acc, 0, (size_t)c * sizeof *acc);
    if (a.n * a.p * c > 0) {
        sum_parts(g, &a);
        for (int64_t s = 0; s < a.n; s++) {
            sample_totals(&a, s, tot);
            for (int64_t gi = 0; gi < a.groups; gi++) {
                double mu, rstd;
                group_stats(&a, tot, gi, &mu, &rstd);
                for (int64_t i = gi * cg; i < (gi + 1) * cg; i++)
                    acc[i] += rstd * (tot[3 * c + i] - mu * tot[2 * c + i]);
            }
        }
    }
    for (int64_t i = 0; i < c; i++) a.out[i] = (float)acc[i];
    kn__cpu_scratch_done(g, t, a.sums);
}
