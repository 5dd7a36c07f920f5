/* init.c — parameter initialization, each initializer as Keras defines it (keras/
 * initializers: VarianceScaling, Orthogonal, Constant, RandomUniform). Every value is a pure function of
 * (ctx seed, parameter index, element index) through the counter RNG, so a model starts
 * from the same weights whatever the thread count or the order parameters are visited in. */
#include "graph.h"

#include <math.h>
#include <string.h>

/* The standard deviation of a unit normal truncated to [-2, 2]. Keras divides by it so the
 * truncated draw has the variance asked for (VarianceScaling, "truncated_normal"). */
#define TRUNCATED_NORMAL_STDDEV 0.87962566103423978

/* Uniform in (0, 1) with 53 random bits: never 0, so Box-Muller's log is finite. */
static double open_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
    return ((double)(kn__rng_u64(seed, stream, counter) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* A standard normal from draw pair `pair` (counters 2 pair and 2 pair + 1) by Box-Muller;
 * only the cosine half is used, so each pair maps to one value and nothing is carried over. */
static double normal_draw(uint64_t seed, uint64_t stream, uint64_t pair) {
    double u1 = open_uniform(seed, stream, 2 * pair), u2 = open_uniform(seed, stream, 2 * pair + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* A standard normal redrawn while beyond 2 (Keras's truncated normal). Element i of n tries
 * pairs i, i + n, i + 2n, ...: moving its counter forward by whole tensors keeps every
 * element's draws its own. A try is redrawn with probability 0.0455, so 64 tries all
 * failing (p ~ 1e-86) means a broken generator; the last one is clamped rather than loop. */
static double truncated_normal_draw(uint64_t seed, uint64_t stream, uint64_t i, uint64_t n) {
    double z = 0;
    for (uint64_t k = 0; k < 64; k++) {
        z = normal_draw(seed, stream, i + k * n);
        if (fabs(z) <= 2.0) return z;
    }
    return z < 0 ? -2.0 : 2.0;
}

/* Keras's _compute_fans: a matrix (in, out); a conv kernel (h, w, in, out) counts its
 * receptive field h w on both sides; a vector (or scalar) has fan_in = fan_out = size. */
static void compute_fans(const kn_tensor *p, int64_t n, double *fan_in, double *fan_out) {
    *fan_in = p->ndim >= 2 ? (double)p->ne[0] : (double)n;
    *fan_out = p->ndim >= 2 ? (double)p->ne[p->ndim - 1] : (double)n;
    if (p->ndim > 2) { /* conv kernels (h, w, in, out): receptive field times channels */
        double rf = (double)n / ((double)p->ne[p->ndim - 2] * (double)p->ne[p->ndim - 1]);
        *fan_in = rf * (double)p->ne[p->ndim - 2];
        *fan_out = rf * (double)p->ne[p->ndim - 1];
    }
    if (p->ndim == 2 && p->init_rf > 1) /* a conv kernel flattened to (KH*KW*C, F) */
        *fan_out = (double)p->init_rf * (double)p->ne[1];
}

/* H = I - tau v v' (v[k] = 1, v[k+1..m) below it) applied to column x[k..m). */
static void apply_reflector(const double *v, double *x, int64_t k, int64_t m, double tau) {
    double dot = 0;
    for (int64_t i = k; i < m; i++) dot += v[i] * x[i];
    dot *= tau;
    for (int64_t i = k; i < m; i++) x[i] -= dot * v[i];
}

/* In place, a (m, n) column-major with m >= n becomes Q (m, n), the orthonormal factor of
 * a = QR whose R has a positive diagonal: Householder QR (LAPACK's dgeqr2), Q formed from
 * the reflectors (dorg2r), then each column times sign(R_kk) as Keras does. That fixes the
 * otherwise arbitrary signs, which is what makes Q uniformly (Haar) distributed.
 * tau and sign: n doubles of scratch each. */
static void orthonormalize(double *a, int64_t m, int64_t n, double *tau, double *sign) {
    for (int64_t k = 0; k < n; k++) {
        double *v = a + k * m;
        double alpha = v[k], tail = 0;
        for (int64_t i = k + 1; i < m; i++) tail += v[i] * v[i];
        double beta = alpha; /* R_kk */
        tau[k] = 0;          /* nothing below the diagonal: H = I */
        if (tail > 0) {
            beta = -copysign(sqrt(alpha * alpha + tail), alpha);
            tau[k] = (beta - alpha) / beta;
            for (int64_t i = k + 1; i < m; i++) v[i] /= alpha - beta;
        }
        sign[k] = beta < 0 ? -1.0 : 1.0; /* sign(0) taken as 1: Keras's would zero a column */
        v[k] = 1.0;
        for (int64_t j = k + 1; j < n; j++) apply_reflector(v, a + j * m, k, m, tau[k]);
    }
    for (int64_t k = n - 1; k >= 0; k--) { /* Q = H_0 ... H_{n-1} [I; 0], last reflector first */
        double *v = a + k * m;
        v[k] = 1.0;
        for (int64_t j = k + 1; j < n; j++) apply_reflector(v, a + j * m, k, m, tau[k]);
        for (int64_t i = k + 1; i < m; i++) v[i] *= -tau[k];
        v[k] = 1.0 - tau[k];
        for (int64_t i = 0; i < k; i++) v[i] = 0;
    }
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < m; i++) a[k * m + i] *= sign[k];
}

/* Keras's Orthogonal (gain 1): the shape flattened to (rows, cols) = (all but the last
 * dimension, the last); a normal matrix (max, min) of those, row-major draws; its Q with
 * the sign fix; transposed when rows < cols. Columns (rows >= cols) or rows come out
 * orthonormal. Computed in double and rounded to float once, at the end. */
static kn_status init_orthogonal(kn_graph *g, kn_tensor *p, float *w, int64_t numel, uint64_t seed,
                                 uint64_t stream) {
    if (p->ndim < 2)
        return kn__error(g->ctx, KN_ERR_SHAPE, "param '%s': the orthogonal initializer needs at least 2 dimensions",
                         p->name);
    int64_t cols = p->ne[p->ndim - 1], rows = numel / cols;
    int64_t m = rows > cols ? rows : cols, n = rows > cols ? cols : rows;
    size_t count, bytes;
    if (!kn__mul_size((size_t)m, (size_t)n, &count) || !kn__add_size(count, 2 * (size_t)n, &count) ||
        !kn__mul_size(count, sizeof(double), &bytes))
        return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "param '%s': too large for the orthogonal initializer", p->name);
    double *a = kn__alloc(g->ctx, bytes);
    if (!a)
        return kn__error(g->ctx, KN_ERR_OUT_OF_MEMORY, "param '%s': out of memory for the orthogonal initializer (%zu bytes)",
                         p->name, bytes);
    double *tau = a + (size_t)m * (size_t)n, *sign = tau + n;
    for (int64_t r = 0; r < m; r++) /* element (r, c) of the (m, n) draw, stored column-major */
        for (int64_t c = 0; c < n; c++) a[c * m + r] = normal_draw(seed, stream, (uint64_t)(r * n + c));
    orthonormalize(a, m, n, tau, sign);
    if (rows >= cols) { /* W = Q: w[r][c] is Q's (r, c) */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) w[r * cols + c] = (float)a[c * m + r];
    } else { /* W = Q' (rows, cols) = (n, m): w[r][c] is Q's (c, r), a[r m + c] as stored */
        for (int64_t i = 0; i < numel; i++) w[i] = (float)a[i];
    }
    kn__free(g->ctx, a);
    return KN_OK;
}

static kn_status init_values(kn_graph *g, kn_tensor *p, int index) {
    float *w = p->data;
    int64_t n = kn__numel(p);
    uint64_t seed = kn_ctx_seed(g->ctx), stream = KN_STREAM_INIT + (uint64_t)index;
    double fan_in, fan_out;
    compute_fans(p, n, &fan_in, &fan_out);
    /* Keras's VarianceScaling takes max(1, fan); shapes here are positive, so this only
     * guards the division. */
    fan_in = fan_in > 1 ? fan_in : 1;
    fan_out = fan_out > 1 ? fan_out : 1;
    double limit = 0, variance = 0; /* uniform in (-limit, limit), or truncated normal */
    switch (p->init) {
    case KN_INIT_ZEROS: memset(w, 0, (size_t)n * sizeof *w); return KN_OK;
    case KN_INIT_ONES: for (int64_t i = 0; i < n; i++) w[i] = 1.0f; return KN_OK;
    case KN_INIT_CONSTANT: for (int64_t i = 0; i < n; i++) w[i] = p->init_value; return KN_OK;
    case KN_INIT_ORTHOGONAL: return init_orthogonal(g, p, w, n, seed, stream);
    /* uniform: limit sqrt(3 scale / fan), the expressions kept as first written so the
     * default (glorot_uniform) gives the same bits as it always has */
    case KN_INIT_GLOROT_UNIFORM: limit = sqrt(6.0 / (fan_in + fan_out)); break;
    case KN_INIT_HE_UNIFORM: limit = sqrt(6.0 / fan_in); break;
    case KN_INIT_LECUN_UNIFORM: limit = sqrt(3.0 / fan_in); break;
    case KN_INIT_UNIFORM: limit = 0.05; break; /* Keras's RandomUniform(-0.05, 0.05): no fans */
    /* normal: variance scale / fan; glorot averages the fans, he doubles lecun's */
    case KN_INIT_GLOROT_NORMAL: variance = 1.0 / ((fan_in + fan_out) / 2.0); break;
    case KN_INIT_HE_NORMAL: variance = 2.0 / fan_in; break;
    case KN_INIT_LECUN_NORMAL: variance = 1.0 / fan_in; break;
    default: return kn__error(g->ctx, KN_ERR_INVALID_ARGUMENT, "param '%s': unknown initializer %d", p->name, (int)p->init);
    }
    if (variance > 0) {
        double stddev = sqrt(variance) / TRUNCATED_NORMAL_STDDEV;
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)(truncated_normal_draw(seed, stream, (uint64_t)i, (uint64_t)n) * stddev);
        return KN_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        float u = kn__rng_uniform(seed, stream, (uint64_t)i);
        w[i] = (float)((2.0 * u - 1.0) * limit);
    }
    return KN_OK;
}

kn_status kn__init_param(kn_graph *g, kn_tensor *p, int index) {
    kn_status st = init_values(g, p, index);
    float *w = p->data;
    if (!st && p->init_ones_len > 0 && p->init_ones_at + p->init_ones_len <= kn__numel(p)) /* unit_forget_bias */
        for (int64_t i = 0; i < p->init_ones_len; i++) w[p->init_ones_at + i] = 1.0f;
    return st;
}
