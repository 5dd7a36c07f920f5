/* svm_kernel.c — the kernel SVM of LIBSVM (scikit-learn's SVC, C-SVC only): SMO with
 * second-order working-set selection (Fan, Chen and Lin, JMLR 2005), shrinking, an LRU cache
 * of kernel rows, one-vs-one multiclass voting, optional Platt probabilities (LIBSVM's
 * internal 5-fold CV, Lin/Lin/Weng's sigmoid fit, Wu/Lin/Weng's pairwise coupling).
 *
 * The solver is LIBSVM's Solver step for step (same selection, same tie-breaking, same
 * shrinking schedule), on dense float32 rows. Kernel values are computed with kiln's sgemm
 * (a row: a GEMV against the problem's rows; several rows at once: a GEMM) and mapped with
 * vectorized exp, and stored as float, as LIBSVM's Qfloat. The cache keeps LIBSVM's
 * semantics (partial rows [0, len), least recently used evicted first, rows and columns
 * swapped when shrinking reorders the problem) but holds rows in fixed slots of one block
 * (no allocation while solving). While the cache has free slots, a missing row is computed
 * together with up to 63 uncached rows, the most violating ones (the likeliest to be asked
 * for soon), as one GEMM: at d = 784 a row alone streams the whole problem from memory for
 * 2 flops a float (250 us for 2,000 rows here), 64 rows at once reuse it (27 us a row).
 * On Fashion-MNIST pairs, 15-45% of such rows were asked for later, which still beats one
 * GEMV a row; rows computed for nothing are the first evicted.
 * Limits: no precomputed kernels, no nu-SVC, one-class or regression. */
#include "classic/svm.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/sgemm.h"
#include "core/pool.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#define TAU 1e-12
enum { SPEC_ROWS = 64 }; /* rows computed together while the cache has room */

kn__svm_opts kn__svm_defaults(void) {
    return (kn__svm_opts){.kernel = KN_SVM_KERNEL_RBF,
                          .C = 1.0,
                          .gamma = KN_SVM_GAMMA_SCALE,
                          .degree = 3,
                          .coef0 = 0.0,
                          .tol = 1e-3,
                          .max_iter = -1,
                          .cache_size = 200.0,
                          .shrinking = true,
                          .probability = false,
                          .class_weight = NULL,
                          .seed = 0};
}

void kn__svm_free(kn_ctx *ctx, kn__svm *m) {
    if (!m) return;
    kn__free(ctx, m->sv);
    kn__free(ctx, m->support);
    kn__free(ctx, m->n_sv_class);
    kn__free(ctx, m->dual_coef);
    kn__free(ctx, m->intercept);
    kn__free(ctx, m->prob_a);
    kn__free(ctx, m->prob_b);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ kernel values */

typedef struct {
    int kernel, degree;
    float gamma, coef0;
} kparams;

/* Dot products v (n) of one row a (squared norm sa) with rows b (squared norms sb) ->
 * kernel values, in place. */
static void kernel_map(const kparams *kp, float *v, int64_t n, float sa, const float *sb) {
    switch (kp->kernel) {
    case KN_SVM_KERNEL_LINEAR:
        break;
    case KN_SVM_KERNEL_POLY:
        for (int64_t k = 0; k < n; k++) {
            float t = kp->gamma * v[k] + kp->coef0, r = 1;
            for (int e = kp->degree; e > 0; e >>= 1) { /* LIBSVM's powi */
                if (e & 1) r *= t;
                t *= t;
            }
            v[k] = r;
        }
        break;
    case KN_SVM_KERNEL_RBF:
        /* |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, kept >= 0 against rounding */
        for (int64_t k = 0; k < n; k++) {
            float dist = sa + sb[k] - 2 * v[k];
            v[k] = -kp->gamma * (dist > 0 ? dist : 0);
        }
        kn__vexp(v, v, n);
        break;
    case KN_SVM_KERNEL_SIGMOID:
        /* tanh(t) = 1 - 2 / (exp(2t) + 1): exp's inf and 0 give the limits +-1 */
        for (int64_t k = 0; k < n; k++) v[k] = 2 * (kp->gamma * v[k] + kp->coef0);
        kn__vexp(v, v, n);
        for (int64_t k = 0; k < n; k++) v[k] = 1 - 2 / (v[k] + 1);
        break;
    }
}

/* K(a, a) in double from its squared norm (LIBSVM's QD). */
static double kernel_self(const kparams *kp, double sq) {
    switch (kp->kernel) {
    case KN_SVM_KERNEL_POLY: {
        double t = kp->gamma * sq + kp->coef0, r = 1;
        for (int e = kp->degree; e > 0; e >>= 1) {
            if (e & 1) r *= t;
            t *= t;
        }
        return r;
    }
    case KN_SVM_KERNEL_RBF: return 1;
    case KN_SVM_KERNEL_SIGMOID: return tanh(kp->gamma * sq + kp->coef0);
    default: return sq;
    }
}

static float sqnorm(const float *x, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += (double)x[j] * x[j];
    return (float)s;
}

/* sum a[k] * b[k] in double (float inputs) */
static double dot_ff(const float *restrict a, const float *restrict b, int64_t n) {
    int64_t k = 0;
    double s = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (; k + 8 <= n; k += 8) {
        __m256 av = _mm256_loadu_ps(a + k), bv = _mm256_loadu_ps(b + k);
        s0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(av)), _mm256_cvtps_pd(_mm256_castps256_ps128(bv)), s0);
        s1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(av, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(bv, 1)),
                             s1);
    }
    __m256d sv = _mm256_add_pd(s0, s1);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(sv), _mm256_extractf128_pd(sv, 1));
    s = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
#endif
    for (; k < n; k++) s += (double)a[k] * b[k];
    return s;
}

/* ------------------------------------------------------------------ kernel row cache */

/* LIBSVM's Cache over fixed slots: head i holds row i's slot and the length [0, len) filled;
 * rows with len > 0 are on a circular LRU list (sentinel: head l), oldest first. */
typedef struct {
    int32_t prev, next, slot, len;
} cache_head;

typedef struct {
    int32_t l, n_slots, n_free;
    cache_head *h;  /* (l + 1) */
    int32_t *free;  /* (n_slots) free slot numbers */
    float *slab;    /* (n_slots, l) */
} cache;

static void lru_delete(cache *c, int32_t i) {
    c->h[c->h[i].prev].next = c->h[i].next;
    c->h[c->h[i].next].prev = c->h[i].prev;
}

static void lru_insert(cache *c, int32_t i, bool newest) {
    int32_t s = c->l;
    if (newest) { /* before the sentinel: most recent */
        c->h[i].next = s;
        c->h[i].prev = c->h[s].prev;
    } else { /* after it: first to go */
        c->h[i].prev = s;
        c->h[i].next = c->h[s].next;
    }
    c->h[c->h[i].prev].next = i;
    c->h[c->h[i].next].prev = i;
}

static void cache_drop(cache *c, int32_t i) {
    lru_delete(c, i);
    c->free[c->n_free++] = c->h[i].slot;
    c->h[i].slot = -1;
    c->h[i].len = 0;
}

static void cache_init(cache *c) {
    for (int32_t i = 0; i <= c->l; i++) c->h[i] = (cache_head){i, i, -1, 0};
    for (int32_t s = 0; s < c->n_slots; s++) c->free[s] = c->n_slots - 1 - s;
    c->n_free = c->n_slots;
}

static inline float *slot_data(const cache *c, int32_t i) { return c->slab + (int64_t)c->h[i].slot * c->l; }

/* Row i's data, with [*start, len) to be filled by the caller (*start >= len: nothing). */
static float *cache_get(cache *c, int32_t i, int32_t len, int32_t *start) {
    cache_head *h = &c->h[i];
    if (h->len) lru_delete(c, i);
    *start = len;
    if (len > h->len) {
        if (h->slot < 0) {
            if (c->n_free == 0) cache_drop(c, c->h[c->l].next); /* the oldest; never i (not listed) */
            h->slot = c->free[--c->n_free];
        }
        *start = h->len;
        h->len = len;
    }
    lru_insert(c, i, true);
    return slot_data(c, i);
}

static void cache_swap(cache *c, int32_t i, int32_t j) {
    if (i == j) return;
    if (c->h[i].len) lru_delete(c, i);
    if (c->h[j].len) lru_delete(c, j);
    int32_t t = c->h[i].slot;
    c->h[i].slot = c->h[j].slot, c->h[j].slot = t;
    t = c->h[i].len;
    c->h[i].len = c->h[j].len, c->h[j].len = t;
    if (c->h[i].len) lru_insert(c, i, true);
    if (c->h[j].len) lru_insert(c, j, true);
    if (i > j) t = i, i = j, j = t;
    for (int32_t p = c->h[c->l].next, next; p != c->l; p = next) {
        next = c->h[p].next;
        if (c->h[p].len > i) {
            if (c->h[p].len > j) {
                float *d = slot_data(c, p), v = d[i];
                d[i] = d[j], d[j] = v;
            } else
                cache_drop(c, p); /* LIBSVM gives these up too */
        }
    }
}

/* ------------------------------------------------------------------ the solver */

enum { LOWER_BOUND, UPPER_BOUND, FREE };

/* One binary problem in LIBSVM's form, min 0.5 a'Qa - e'a, y'a = 0, 0 <= a_i <= C_i, with
 * Q_ij = y_i y_j K(x_i, x_j). Everything is indexed by position; shrinking permutes
 * positions (swap_index), active_set maps them back to the caller's order. */
typedef struct {
    int32_t l, active_size;
    int64_t d;
    const kparams *kp;
    float *x;         /* (l, d) the rows, permuted with the positions */
    float *sq;        /* (l) their squared norms */
    int8_t *y;        /* (l) +1 / -1 */
    int8_t *status;   /* (l) LOWER_BOUND, UPPER_BOUND, FREE */
    double *alpha, *G, *G_bar, *C, *QD; /* (l) each */
    int32_t *active_set;                /* (l) */
    cache cache;
    float *tile_a;    /* (SPEC_ROWS, d) rows gathered for a GEMM */
    float *tile_c;    /* (SPEC_ROWS, l) their kernel rows */
    float *row_tmp;   /* (d) for swaps */
    double eps;
    int64_t max_iter;
    bool shrinking, unshrink;
    double m_up, m_low; /* the last selection's m(alpha) and M(alpha) */
} solver;

static void update_status(solver *s, int32_t i) {
    s->status[i] = s->alpha[i] >= s->C[i] ? UPPER_BOUND : s->alpha[i] <= 0 ? LOWER_BOUND : FREE;
}

/* Kernel values of positions rows[0..m) against positions [start, len), times y_r y_k, into
 * out (m, ld). */
static void compute_rows(solver *s, const int32_t *rows, int m, int32_t start, int32_t len, float *out, int64_t ld) {
    const int64_t d = s->d, cnt = len - start;
    const float *a = s->x + (int64_t)rows[0] * d;
    if (m > 1) {
        for (int r = 0; r < m; r++) memcpy(s->tile_a + r * d, s->x + (int64_t)rows[r] * d, (size_t)d * sizeof(float));
        a = s->tile_a;
    }
    // (m, d) x (cnt, d)^T -> (m, cnt)
    kn__sgemm(false, true, m, cnt, d, 1.0f, a, d, s->x + (int64_t)start * d, d, 0.0f, out, ld, 1);
    for (int r = 0; r < m; r++) {
        float *o = out + r * ld;
        kernel_map(s->kp, o, cnt, s->sq[rows[r]], s->sq + start);
        const int8_t *y = s->y + start;
        if (s->y[rows[r]] > 0) {
            for (int64_t k = 0; k < cnt; k++) o[k] = y[k] > 0 ? o[k] : -o[k];
        } else {
            for (int64_t k = 0; k < cnt; k++) o[k] = y[k] > 0 ? -o[k] : o[k];
        }
    }
}

/* Row i of Q over positions [0, len) (LIBSVM's get_Q). */
static const float *get_q(solver *s, int32_t i, int32_t len) {
    int32_t start;
    float *data = cache_get(&s->cache, i, len, &start);
    if (start >= len) return data;
    int32_t rows[SPEC_ROWS];
    int m = 1;
    rows[0] = i;
    /* a row missing entirely while the cache has room: compute with it the uncached rows
     * most likely to be asked for next, the most violating ones (by the last selection's
     * m = max_{I_up} -y G and M = min_{I_low} -y G) */
    if (start == 0 && s->cache.n_free > 0) {
        const int want = s->cache.n_free < SPEC_ROWS - 1 ? s->cache.n_free : SPEC_ROWS - 1;
        double best[SPEC_ROWS];
        int nb = 0;
        const double mu = s->m_up, ml = s->m_low;
        for (int32_t t = 0; t < len; t++) {
            if (t == i || s->cache.h[t].len != 0) continue;
            const double yg = s->y[t] * s->G[t];
            const bool up = s->y[t] > 0 ? s->status[t] != UPPER_BOUND : s->status[t] != LOWER_BOUND;
            const bool low = s->y[t] > 0 ? s->status[t] != LOWER_BOUND : s->status[t] != UPPER_BOUND;
            double score = -INFINITY;
            if (up) score = -yg - ml;
            if (low && mu + yg > score) score = mu + yg;
            if (!(score > 0) || (nb == want && score <= best[nb - 1])) continue;
            int q = nb < want ? nb++ : nb - 1; /* insertion into best (descending) */
            while (q > 0 && best[q - 1] < score) best[q] = best[q - 1], rows[q + 1] = rows[q], q--;
            best[q] = score;
            rows[q + 1] = t;
        }
        m = 1 + nb;
    }
    if (m == 1) {
        compute_rows(s, rows, 1, start, len, data + start, len - start);
        return data;
    }
    compute_rows(s, rows, m, 0, len, s->tile_c, len);
    memcpy(data, s->tile_c, (size_t)len * sizeof(float));
    for (int r = 1; r < m; r++) {
        cache_head *h = &s->cache.h[rows[r]];
        h->slot = s->cache.free[--s->cache.n_free];
        h->len = len;
        lru_insert(&s->cache, rows[r], false); /* unasked for: first to be evicted */
        memcpy(slot_data(&s->cache, rows[r]), s->tile_c + (int64_t)r * len, (size_t)len * sizeof(float));
    }
    return data;
}

#define SWAP(type, a, b) \
    do {                 \
        type t_ = (a);   \
        (a) = (b);       \
        (b) = t_;        \
    } while (0)

static void swap_index(solver *s, int32_t i, int32_t j) {
    cache_swap(&s->cache, i, j);
    const size_t row = (size_t)s->d * sizeof(float);
    memcpy(s->row_tmp, s->x + (int64_t)i * s->d, row);
    memcpy(s->x + (int64_t)i * s->d, s->x + (int64_t)j * s->d, row);
    memcpy(s->x + (int64_t)j * s->d, s->row_tmp, row);
    SWAP(float, s->sq[i], s->sq[j]);
    SWAP(int8_t, s->y[i], s->y[j]);
    SWAP(double, s->G[i], s->G[j]);
    SWAP(int8_t, s->status[i], s->status[j]);
    SWAP(double, s->alpha[i], s->alpha[j]);
    SWAP(int32_t, s->active_set[i], s->active_set[j]);
    SWAP(double, s->G_bar[i], s->G_bar[j]);
    SWAP(double, s->C[i], s->C[j]);
    SWAP(double, s->QD[i], s->QD[j]);
}

/* The linear term p is -1 everywhere (C-SVC). */
static void reconstruct_gradient(solver *s) {
    const int32_t l = s->l, act = s->active_size;
    if (act == l) return;
    int32_t nr_free = 0;
    for (int32_t j = act; j < l; j++) s->G[j] = s->G_bar[j] - 1;
    for (int32_t j = 0; j < act; j++)
        if (s->status[j] == FREE) nr_free++;
    if ((int64_t)nr_free * l > 2 * (int64_t)act * (l - act)) {
        for (int32_t i = act; i < l; i++) {
            const float *q = get_q(s, i, act);
            double g = 0;
            for (int32_t j = 0; j < act; j++)
                if (s->status[j] == FREE) g += s->alpha[j] * q[j];
            s->G[i] += g;
        }
    } else {
        for (int32_t i = 0; i < act; i++)
            if (s->status[i] == FREE) {
                const float *q = get_q(s, i, l);
                const double a = s->alpha[i];
                for (int32_t j = act; j < l; j++) s->G[j] += a * q[j];
            }
    }
}

/* LIBSVM's WSS 2: returns 1 when optimal within eps. */
static int select_working_set(solver *s, int32_t *out_i, int32_t *out_j) {
    double gmax = -INFINITY, gmax2 = -INFINITY, obj_diff_min = INFINITY;
    int32_t gmax_idx = -1, gmin_idx = -1;
    const int32_t act = s->active_size;
    const double *G = s->G;
    const int8_t *y = s->y, *st = s->status;
    for (int32_t t = 0; t < act; t++) {
        if (y[t] > 0) {
            if (st[t] != UPPER_BOUND && -G[t] >= gmax) gmax = -G[t], gmax_idx = t;
        } else {
            if (st[t] != LOWER_BOUND && G[t] >= gmax) gmax = G[t], gmax_idx = t;
        }
    }
    const int32_t i = gmax_idx;
    s->m_up = gmax;
    const float *qi = i != -1 ? get_q(s, i, act) : NULL;
    const double qdi = i != -1 ? s->QD[i] : 0;
    const double yi = i != -1 ? y[i] : 0;
    for (int32_t j = 0; j < act; j++) {
        if (y[j] > 0) {
            if (st[j] != LOWER_BOUND) {
                double grad_diff = gmax + G[j];
                if (G[j] >= gmax2) gmax2 = G[j];
                if (grad_diff > 0) {
                    double quad = qdi + s->QD[j] - 2.0 * yi * qi[j];
                    double obj_diff = -(grad_diff * grad_diff) / (quad > 0 ? quad : TAU);
                    if (obj_diff <= obj_diff_min) gmin_idx = j, obj_diff_min = obj_diff;
                }
            }
        } else {
            if (st[j] != UPPER_BOUND) {
                double grad_diff = gmax - G[j];
                if (-G[j] >= gmax2) gmax2 = -G[j];
                if (grad_diff > 0) {
                    double quad = qdi + s->QD[j] + 2.0 * yi * qi[j];
                    double obj_diff = -(grad_diff * grad_diff) / (quad > 0 ? quad : TAU);
                    if (obj_diff <= obj_diff_min) gmin_idx = j, obj_diff_min = obj_diff;
                }
            }
        }
    }
    s->m_low = -gmax2;
    if (gmax + gmax2 < s->eps || gmin_idx == -1) return 1;
    *out_i = gmax_idx;
    *out_j = gmin_idx;
    return 0;
}

static bool be_shrunk(const solver *s, int32_t i, double gmax1, double gmax2) {
    if (s->status[i] == UPPER_BOUND) return s->y[i] > 0 ? -s->G[i] > gmax1 : -s->G[i] > gmax2;
    if (s->status[i] == LOWER_BOUND) return s->y[i] > 0 ? s->G[i] > gmax2 : s->G[i] > gmax1;
    return false;
}

static void do_shrinking(solver *s) {
    double gmax1 = -INFINITY, gmax2 = -INFINITY; /* max -y G over I_up, max y G over I_low */
    for (int32_t i = 0; i < s->active_size; i++) {
        double g = s->G[i];
        if (s->y[i] > 0) {
            if (s->status[i] != UPPER_BOUND && -g >= gmax1) gmax1 = -g;
            if (s->status[i] != LOWER_BOUND && g >= gmax2) gmax2 = g;
        } else {
            if (s->status[i] != UPPER_BOUND && -g >= gmax2) gmax2 = -g;
            if (s->status[i] != LOWER_BOUND && g >= gmax1) gmax1 = g;
        }
    }
    if (!s->unshrink && gmax1 + gmax2 <= s->eps * 10) {
        s->unshrink = true;
        reconstruct_gradient(s);
        s->active_size = s->l;
    }
    for (int32_t i = 0; i < s->active_size; i++)
        if (be_shrunk(s, i, gmax1, gmax2)) {
            s->active_size--;
            while (s->active_size > i) {
                if (!be_shrunk(s, s->active_size, gmax1, gmax2)) {
                    swap_index(s, i, s->active_size);
                    break;
                }
                s->active_size--;
            }
        }
}

static double calculate_rho(const solver *s) {
    double ub = INFINITY, lb = -INFINITY, sum_free = 0;
    int32_t nr_free = 0;
    for (int32_t i = 0; i < s->active_size; i++) {
        double yg = s->y[i] * s->G[i];
        if (s->status[i] == UPPER_BOUND) {
            if (s->y[i] < 0) ub = fmin(ub, yg);
            else lb = fmax(lb, yg);
        } else if (s->status[i] == LOWER_BOUND) {
            if (s->y[i] > 0) ub = fmin(ub, yg);
            else lb = fmax(lb, yg);
        } else {
            nr_free++;
            sum_free += yg;
        }
    }
    return nr_free > 0 ? sum_free / nr_free : (ub + lb) / 2;
}

/* LIBSVM's Solver::Solve from alpha = 0. On return alpha (caller's order) holds y_i alpha_i;
 * *rho, *obj and *iters are set. */
static void solve(solver *s, double *alpha_out, double *rho, double *obj, int64_t *iters) {
    const int32_t l = s->l;
    for (int32_t i = 0; i < l; i++) {
        s->alpha[i] = 0;
        s->G[i] = -1;
        s->G_bar[i] = 0;
        s->active_set[i] = i;
        update_status(s, i);
    }
    s->active_size = l;
    s->unshrink = false;
    s->m_up = INFINITY, s->m_low = -INFINITY;
    int64_t iter = 0;
    int32_t counter = (l < 1000 ? l : 1000) + 1;
    for (;;) {
        if (s->max_iter != -1 && iter >= s->max_iter) break;
        if (--counter == 0) {
            counter = l < 1000 ? l : 1000;
            if (s->shrinking) do_shrinking(s);
        }
        int32_t i, j;
        if (select_working_set(s, &i, &j) != 0) {
            reconstruct_gradient(s);
            s->active_size = l;
            if (select_working_set(s, &i, &j) != 0) break;
            counter = 1; /* shrink at the next step */
        }
        ++iter;
        const float *qi = get_q(s, i, s->active_size);
        const float *qj = get_q(s, j, s->active_size);
        const double ci = s->C[i], cj = s->C[j];
        const double old_ai = s->alpha[i], old_aj = s->alpha[j];
        double *alpha = s->alpha;
        if (s->y[i] != s->y[j]) {
            double quad = s->QD[i] + s->QD[j] + 2 * qi[j];
            if (quad <= 0) quad = TAU;
            double delta = (-s->G[i] - s->G[j]) / quad, diff = alpha[i] - alpha[j];
            alpha[i] += delta;
            alpha[j] += delta;
            if (diff > 0) {
                if (alpha[j] < 0) alpha[j] = 0, alpha[i] = diff;
            } else {
                if (alpha[i] < 0) alpha[i] = 0, alpha[j] = -diff;
            }
            if (diff > ci - cj) {
                if (alpha[i] > ci) alpha[i] = ci, alpha[j] = ci - diff;
            } else {
                if (alpha[j] > cj) alpha[j] = cj, alpha[i] = cj + diff;
            }
        } else {
            double quad = s->QD[i] + s->QD[j] - 2 * qi[j];
            if (quad <= 0) quad = TAU;
            double delta = (s->G[i] - s->G[j]) / quad, sum = alpha[i] + alpha[j];
            alpha[i] -= delta;
            alpha[j] += delta;
            if (sum > ci) {
                if (alpha[i] > ci) alpha[i] = ci, alpha[j] = sum - ci;
            } else {
                if (alpha[j] < 0) alpha[j] = 0, alpha[i] = sum;
            }
            if (sum > cj) {
                if (alpha[j] > cj) alpha[j] = cj, alpha[i] = sum - cj;
            } else {
                if (alpha[i] < 0) alpha[i] = 0, alpha[j] = sum;
            }
        }
        const double dai = alpha[i] - old_ai, daj = alpha[j] - old_aj;
        double *restrict G = s->G;
        for (int32_t k = 0; k < s->active_size; k++) G[k] += qi[k] * dai + qj[k] * daj;
        const bool ui = s->status[i] == UPPER_BOUND, uj = s->status[j] == UPPER_BOUND;
        update_status(s, i);
        update_status(s, j);
        if (ui != (s->status[i] == UPPER_BOUND)) {
            qi = get_q(s, i, l);
            const double c = ui ? -ci : ci;
            for (int32_t k = 0; k < l; k++) s->G_bar[k] += c * qi[k];
        }
        if (uj != (s->status[j] == UPPER_BOUND)) {
            qj = get_q(s, j, l);
            const double c = uj ? -cj : cj;
            for (int32_t k = 0; k < l; k++) s->G_bar[k] += c * qj[k];
        }
    }
    if (s->active_size < l) { /* stopped by max_iter while shrunk: rho needs every gradient */
        reconstruct_gradient(s);
        s->active_size = l;
    }
    *rho = calculate_rho(s);
    double v = 0;
    for (int32_t i = 0; i < l; i++) v += s->alpha[i] * (s->G[i] - 1);
    *obj = v / 2;
    for (int32_t i = 0; i < l; i++) alpha_out[s->active_set[i]] = s->alpha[i] * s->y[i];
    *iters = iter;
}

/* ------------------------------------------------------------------ binary problems */

/* What every binary problem of one fit shares. Rows are indices into data->x. */
typedef struct {
    kn_ctx *ctx;
    const float *x; /* (n, d) the caller's rows */
    int64_t d;
    kparams kp;
    const kn__svm_opts *o;
    size_t cache_bytes;
    pthread_mutex_t lock; /* allocation from the pool's threads goes through ctx one at a time */
} shared;

static void *shared_alloc(shared *sh, size_t size) {
    pthread_mutex_lock(&sh->lock);
    void *p = kn__alloc(sh->ctx, size);
    pthread_mutex_unlock(&sh->lock);
    return p;
}

static void shared_free(shared *sh, void *p) {
    if (!p) return;
    pthread_mutex_lock(&sh->lock);
    kn__free(sh->ctx, p);
    pthread_mutex_unlock(&sh->lock);
}

/* Solves the problem on rows[0..l) (labels y: +1/-1, bounds C): alpha_out (l) gets
 * y_i alpha_i. Returns false when out of memory. */
static bool solve_binary(shared *sh, const int64_t *rows, const int8_t *y, const double *C, int32_t l,
                         double *alpha_out, double *rho, double *obj, int64_t *iters) {
    const int64_t d = sh->d;
    /* the cache: at least 2 rows (LIBSVM's floor), at most all l */
    int64_t slots = (int64_t)(sh->cache_bytes / ((size_t)l * sizeof(float)));
    slots = slots < 2 ? 2 : slots > l ? l : slots;
    size_t bytes = 0, off[16];
    int nb = 0;
#define PART(count, type) (off[nb++] = bytes, bytes += ((size_t)(count) * sizeof(type) + 63) / 64 * 64)
    PART((int64_t)l * d, float);            /* x */
    PART(l, float);                         /* sq */
    PART(l, int8_t);                        /* y */
    PART(l, int8_t);                        /* status */
    PART(5 * (int64_t)l, double);           /* alpha, G, G_bar, C, QD */
    PART(l, int32_t);                       /* active_set */
    PART(l + 1, cache_head);                /* cache heads */
    PART(slots, int32_t);                   /* free slots */
    PART(slots * l, float);                 /* slab */
    PART((int64_t)SPEC_ROWS * d, float);    /* tile_a */
    PART((int64_t)SPEC_ROWS * l, float);    /* tile_c */
    PART(d, float);                         /* row_tmp */
#undef PART
    char *mem = shared_alloc(sh, bytes);
    if (!mem) return false;
    solver s = {.l = l, .d = d, .kp = &sh->kp, .eps = sh->o->tol, .max_iter = sh->o->max_iter,
                .shrinking = sh->o->shrinking};
    nb = 0;
    s.x = (float *)(mem + off[nb++]);
    s.sq = (float *)(mem + off[nb++]);
    s.y = (int8_t *)(mem + off[nb++]);
    s.status = (int8_t *)(mem + off[nb++]);
    s.alpha = (double *)(mem + off[nb++]);
    s.G = s.alpha + l, s.G_bar = s.G + l, s.C = s.G_bar + l, s.QD = s.C + l;
    s.active_set = (int32_t *)(mem + off[nb++]);
    s.cache.h = (cache_head *)(mem + off[nb++]);
    s.cache.free = (int32_t *)(mem + off[nb++]);
    s.cache.slab = (float *)(mem + off[nb++]);
    s.tile_a = (float *)(mem + off[nb++]);
    s.tile_c = (float *)(mem + off[nb++]);
    s.row_tmp = (float *)(mem + off[nb++]);
    s.cache.l = l;
    s.cache.n_slots = (int32_t)slots;
    cache_init(&s.cache);
    for (int32_t i = 0; i < l; i++) {
        const float *xi = sh->x + rows[i] * d;
        memcpy(s.x + (int64_t)i * d, xi, (size_t)d * sizeof(float));
        s.sq[i] = sqnorm(xi, d);
        s.y[i] = y[i];
        s.C[i] = C[i];
        s.QD[i] = kernel_self(&sh->kp, (double)s.sq[i]);
    }
    solve(&s, alpha_out, rho, obj, iters);
    shared_free(sh, mem);
    return true;
}

/* ------------------------------------------------------------------ Platt scaling */

/* Platt's sigmoid P(y = 1 | f) = 1 / (1 + exp(A f + B)) fitted by Newton's method with
 * backtracking (Lin, Lin and Weng 2007; LIBSVM's sigmoid_train). */
static void sigmoid_train(int64_t l, const double *dec, const int8_t *labels, double *a_out, double *b_out) {
    double prior1 = 0, prior0 = 0;
    for (int64_t i = 0; i < l; i++) labels[i] > 0 ? prior1++ : prior0++;
    const int max_iter = 100;
    const double min_step = 1e-10, sigma = 1e-12, eps = 1e-5;
    const double hi = (prior1 + 1.0) / (prior1 + 2.0), lo = 1 / (prior0 + 2.0);
    double A = 0.0, B = log((prior0 + 1.0) / (prior1 + 1.0)), fval = 0.0;
#define TARGET(i) (labels[i] > 0 ? hi : lo)
    for (int64_t i = 0; i < l; i++) {
        double f = dec[i] * A + B, t = TARGET(i);
        fval += f >= 0 ? t * f + log(1 + exp(-f)) : (t - 1) * f + log(1 + exp(f));
    }
    for (int iter = 0; iter < max_iter; iter++) {
        double h11 = sigma, h22 = sigma, h21 = 0, g1 = 0, g2 = 0;
        for (int64_t i = 0; i < l; i++) {
            double f = dec[i] * A + B, p, q;
            if (f >= 0) {
                p = exp(-f) / (1.0 + exp(-f));
                q = 1.0 / (1.0 + exp(-f));
            } else {
                p = 1.0 / (1.0 + exp(f));
                q = exp(f) / (1.0 + exp(f));
            }
            double d2 = p * q, d1 = TARGET(i) - p;
            h11 += dec[i] * dec[i] * d2;
            h22 += d2;
            h21 += dec[i] * d2;
            g1 += dec[i] * d1;
            g2 += d1;
        }
        if (fabs(g1) < eps && fabs(g2) < eps) break;
        double det = h11 * h22 - h21 * h21;
        double dA = -(h22 * g1 - h21 * g2) / det, dB = -(-h21 * g1 + h11 * g2) / det;
        double gd = g1 * dA + g2 * dB, step = 1;
        while (step >= min_step) {
            double na = A + step * dA, nbv = B + step * dB, nf = 0;
            for (int64_t i = 0; i < l; i++) {
                double f = dec[i] * na + nbv, t = TARGET(i);
                nf += f >= 0 ? t * f + log(1 + exp(-f)) : (t - 1) * f + log(1 + exp(f));
            }
            if (nf < fval + 0.0001 * step * gd) {
                A = na, B = nbv, fval = nf;
                break;
            }
            step /= 2;
        }
        if (step < min_step) break; /* line search failed: keep the last point, as LIBSVM */
    }
#undef TARGET
    *a_out = A;
    *b_out = B;
}

static double sigmoid_predict(double f, double A, double B) {
    double fab = f * A + B;
    return fab >= 0 ? exp(-fab) / (1.0 + exp(-fab)) : 1.0 / (1 + exp(fab));
}

/* Decision values of rows test[0..m) under the binary solution (rows, coef = y alpha, rho):
 * dec[t] = sum_s coef_s K(x_s, x_t) - rho. Returns false when out of memory. */
static bool binary_decision(shared *sh, const int64_t *rows, const double *coef, int32_t l, double rho,
                            const int64_t *test, int64_t m, double *dec) {
    const int64_t d = sh->d;
    int32_t nsv = 0;
    for (int32_t i = 0; i < l; i++) nsv += coef[i] != 0;
    enum { R = 64 };
    size_t bytes = ((size_t)nsv * (size_t)(d + 2) + (size_t)R * (size_t)(d + nsv)) * sizeof(float);
    float *mem = shared_alloc(sh, bytes ? bytes : 1);
    if (!mem) return false;
    float *sv = mem, *sv_sq = sv + (int64_t)nsv * d, *cf = sv_sq + nsv, *xa = cf + nsv, *kb = xa + (int64_t)R * d;
    for (int32_t i = 0, q = 0; i < l; i++)
        if (coef[i] != 0) {
            memcpy(sv + (int64_t)q * d, sh->x + rows[i] * d, (size_t)d * sizeof(float));
            sv_sq[q] = sqnorm(sv + (int64_t)q * d, d);
            cf[q++] = (float)coef[i];
        }
    for (int64_t t0 = 0; t0 < m; t0 += R) {
        int64_t r = m - t0 < R ? m - t0 : R;
        for (int64_t t = 0; t < r; t++) memcpy(xa + t * d, sh->x + test[t0 + t] * d, (size_t)d * sizeof(float));
        // (r, d) x (nsv, d)^T -> (r, nsv)
        kn__sgemm(false, true, r, nsv, d, 1.0f, xa, d, sv, d, 0.0f, kb, nsv, 1);
        for (int64_t t = 0; t < r; t++) {
            kernel_map(&sh->kp, kb + t * nsv, nsv, sqnorm(xa + t * d, d), sv_sq);
            dec[t0 + t] = dot_ff(kb + t * nsv, cf, nsv) - rho;
        }
    }
    shared_free(sh, mem);
    return true;
}

/* LIBSVM's svm_binary_svc_probability: decision values from a 5-fold CV (folds from a
 * seeded permutation, stream KN_STREAM_SVM + 1, one counter range per pair), then Platt's
 * fit. Returns false when out of memory. */
static bool binary_probability(shared *sh, const int64_t *rows, const int8_t *y, const double *C, int32_t l,
                               int64_t pair, double *prob_a, double *prob_b) {
    const int folds = 5;
    size_t bytes = (size_t)l * (2 * sizeof(int64_t) + 3 * sizeof(double) + sizeof(int8_t) + sizeof(int32_t));
    char *mem = shared_alloc(sh, bytes);
    if (!mem) return false;
    int64_t *sub_rows = (int64_t *)mem, *test = sub_rows + l;
    double *dec = (double *)(test + l), *sub_c = dec + l, *sub_alpha = sub_c + l;
    int32_t *perm = (int32_t *)(sub_alpha + l);
    int8_t *sub_y = (int8_t *)(perm + l);
    bool ok = true;
    for (int32_t i = 0; i < l; i++) perm[i] = i;
    for (int32_t i = 0; i < l; i++) {
        uint64_t r = kn__rng_u64(sh->o->seed, KN_STREAM_SVM + 1, ((uint64_t)pair << 32) | (uint64_t)i);
        int32_t j = i + (int32_t)(((unsigned __int128)r * (uint64_t)(l - i)) >> 64);
        SWAP(int32_t, perm[i], perm[j]);
    }
    for (int f = 0; ok && f < folds; f++) {
        int32_t begin = (int32_t)((int64_t)f * l / folds), end = (int32_t)((int64_t)(f + 1) * l / folds);
        int32_t k = 0, pos = 0, neg = 0;
        for (int32_t t = 0; t < l; t++) {
            if (t >= begin && t < end) continue;
            int32_t i = perm[t];
            sub_rows[k] = rows[i], sub_y[k] = y[i], sub_c[k] = C[i];
            y[i] > 0 ? pos++ : neg++;
            k++;
        }
        int64_t m = end - begin;
        for (int64_t t = 0; t < m; t++) test[t] = rows[perm[begin + t]];
        if (pos > 0 && neg > 0) {
            double rho, obj;
            int64_t it;
            ok = solve_binary(sh, sub_rows, sub_y, sub_c, k, sub_alpha, &rho, &obj, &it) &&
                 binary_decision(sh, sub_rows, sub_alpha, k, rho, test, m, dec + begin);
        } else {
            for (int64_t t = 0; t < m; t++) dec[begin + t] = pos > 0 ? 1 : neg > 0 ? -1 : 0;
        }
    }
    if (ok) {
        /* dec is in fold order; the labels in the same order */
        for (int32_t t = 0; t < l; t++) sub_y[t] = y[perm[t]];
        sigmoid_train(l, dec, sub_y, prob_a, prob_b);
    }
    shared_free(sh, mem);
    return ok;
}

/* Wu, Lin and Weng's method 2 (LIBSVM's multiclass_probability): class probabilities p (k)
 * from pairwise ones r (k, k). Q: (k, k) scratch, qp: (k). */
static void multiclass_probability(int k, const double *r, double *p, double *Q, double *qp) {
    const int max_iter = k > 100 ? k : 100;
    const double eps = 0.005 / k;
    for (int t = 0; t < k; t++) {
        p[t] = 1.0 / k;
        Q[t * k + t] = 0;
        for (int j = 0; j < t; j++) {
            Q[t * k + t] += r[j * k + t] * r[j * k + t];
            Q[t * k + j] = Q[j * k + t];
        }
        for (int j = t + 1; j < k; j++) {
            Q[t * k + t] += r[j * k + t] * r[j * k + t];
            Q[t * k + j] = -r[j * k + t] * r[t * k + j];
        }
    }
    for (int iter = 0; iter < max_iter; iter++) {
        double pqp = 0, max_error = 0;
        for (int t = 0; t < k; t++) {
            qp[t] = 0;
            for (int j = 0; j < k; j++) qp[t] += Q[t * k + j] * p[j];
            pqp += p[t] * qp[t];
        }
        for (int t = 0; t < k; t++) max_error = fmax(max_error, fabs(qp[t] - pqp));
        if (max_error < eps) break;
        for (int t = 0; t < k; t++) {
            double diff = (-qp[t] + pqp) / Q[t * k + t];
            p[t] += diff;
            pqp = (pqp + diff * (diff * Q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
            for (int j = 0; j < k; j++) {
                qp[j] = (qp[j] + diff * Q[t * k + j]) / (1 + diff);
                p[j] /= (1 + diff);
            }
        }
    }
}

/* ------------------------------------------------------------------ one-vs-one fit */

typedef struct {
    shared *sh;
    const int64_t *perm;          /* kept rows grouped by class, data order within a class */
    const int64_t *start, *count; /* (k) each class's range in perm */
    const double *c_row;          /* each kept row's C, in perm's order */
    const int32_t *pair_i, *pair_j, *order; /* (pairs); order: biggest problems first */
    double **alpha;               /* (pairs) y alpha over the pair's rows */
    double *rho, *obj;            /* (pairs) */
    int64_t *iters;               /* (pairs) */
    double *prob_a, *prob_b;      /* (pairs) or NULL */
    bool *failed;                 /* (pairs) out of memory */
} pair_job;

static void solve_pair(void *args, int64_t chunk) {
    pair_job *j = args;
    shared *sh = j->sh;
    const int64_t p = j->order[chunk];
    const int a = j->pair_i[p], b = j->pair_j[p];
    const int64_t sa = j->start[a], sb = j->start[b], na = j->count[a], nb = j->count[b];
    const int32_t l = (int32_t)(na + nb);
    char *mem = shared_alloc(sh, (size_t)l * (sizeof(int64_t) + sizeof(double) + sizeof(int8_t)));
    j->alpha[p] = shared_alloc(sh, (size_t)l * sizeof(double));
    if (!mem || !j->alpha[p]) {
        j->failed[p] = true;
        shared_free(sh, mem);
        return;
    }
    int64_t *rows = (int64_t *)mem;
    double *C = (double *)(rows + l);
    int8_t *y = (int8_t *)(C + l);
    for (int64_t t = 0; t < na; t++) rows[t] = j->perm[sa + t], C[t] = j->c_row[sa + t], y[t] = 1;
    for (int64_t t = 0; t < nb; t++) rows[na + t] = j->perm[sb + t], C[na + t] = j->c_row[sb + t], y[na + t] = -1;
    bool ok = true;
    if (j->prob_a) ok = binary_probability(sh, rows, y, C, l, p, &j->prob_a[p], &j->prob_b[p]);
    ok = ok && solve_binary(sh, rows, y, C, l, j->alpha[p], &j->rho[p], &j->obj[p], &j->iters[p]);
    if (!ok) j->failed[p] = true;
    shared_free(sh, mem);
}

static kn_status check_opts(kn_ctx *ctx, const kn__svm_opts *o, int k) {
    if (o->kernel < KN_SVM_KERNEL_LINEAR || o->kernel > KN_SVM_KERNEL_SIGMOID)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "svm.kernel: %d is not linear (0), poly (1), rbf (2) or sigmoid (3)", o->kernel);
    if (!(o->C > 0) || !isfinite(o->C)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.C: %g must be > 0", o->C);
    if (!(o->gamma > 0 || o->gamma == KN_SVM_GAMMA_SCALE || o->gamma == KN_SVM_GAMMA_AUTO) || !isfinite(o->gamma))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.gamma: %g must be > 0, 'scale' or 'auto'", o->gamma);
    if (o->degree < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.degree: %d must be >= 0", o->degree);
    if (!isfinite(o->coef0)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.coef0: %g must be finite", o->coef0);
    if (!(o->tol > 0) || !isfinite(o->tol))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.tol: %g must be > 0", o->tol);
    if (o->max_iter == 0 || o->max_iter < -1)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.max_iter: %lld must be -1 (no limit) or > 0",
                         (long long)o->max_iter);
    if (!(o->cache_size > 0) || !isfinite(o->cache_size))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.cache_size: %g MB must be > 0", o->cache_size);
    if (o->class_weight)
        for (int c = 0; c < k; c++)
            if (!(o->class_weight[c] > 0) || !isfinite(o->class_weight[c]))
                return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm.class_weight[%d]: %g must be > 0", c,
                                 o->class_weight[c]);
    return KN_OK;
}

kn_status kn__svm_fit(kn_ctx *ctx, const kn__xy *data, const kn__svm_opts *opts, kn__svm *out) {
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: out is NULL");
    memset(out, 0, sizeof *out);
    if (!data || !opts) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: data or opts is NULL");
    const int k = data->n_classes;
    const int64_t n = data->n, d = data->d;
    if (k < 2) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: n_classes %d must be >= 2", k);
    kn_status st = check_opts(ctx, opts, k);
    if (st != KN_OK) return st;
    if (!data->x || !data->y || n <= 0 || d <= 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: needs x and labels y (n %lld, d %lld)", (long long)n,
                         (long long)d);
    size_t nd;
    if (!kn__mul_size((size_t)n, (size_t)d, &nd))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: %lld x %lld is too large", (long long)n, (long long)d);
    if (!kn__all_finite(data->x, nd)) return kn__error(ctx, KN_ERR_NUMERIC, "svm: x has NaN or infinity");
    const int64_t pairs = (int64_t)k * (k - 1) / 2;

    int64_t *count = kn__calloc(ctx, (size_t)k, sizeof *count), *start = kn__calloc(ctx, (size_t)k, sizeof *start);
    int64_t *perm = kn__alloc(ctx, (size_t)n * sizeof *perm);
    double *c_row = kn__alloc(ctx, (size_t)n * sizeof *c_row);
    int32_t *pair_i = kn__alloc(ctx, (size_t)pairs * sizeof *pair_i), *pair_j = kn__alloc(ctx, (size_t)pairs * sizeof *pair_j);
    int32_t *order = kn__alloc(ctx, (size_t)pairs * sizeof *order);
    double **alpha = kn__calloc(ctx, (size_t)pairs, sizeof *alpha);
    double *rho = kn__calloc(ctx, (size_t)pairs, sizeof *rho), *obj = kn__calloc(ctx, (size_t)pairs, sizeof *obj);
    int64_t *iters = kn__calloc(ctx, (size_t)pairs, sizeof *iters);
    bool *failed = kn__calloc(ctx, (size_t)pairs, sizeof *failed);
    uint8_t *nonzero = kn__calloc(ctx, (size_t)n, sizeof *nonzero);
    int64_t *nz_start = kn__calloc(ctx, (size_t)k, sizeof *nz_start);
    bool sh_lock = false;
    shared sh = {.ctx = ctx, .x = data->x, .d = d, .o = opts};
    if (!count || !start || !perm || !c_row || !pair_i || !pair_j || !order || !alpha || !rho || !obj || !iters ||
        !failed || !nonzero || !nz_start) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for %lld rows", (long long)n);
        goto done;
    }

    /* rows of positive weight, grouped by class (LIBSVM's remove_zero_weight, group_classes) */
    for (int64_t r = 0; r < n; r++) {
        int32_t c = data->y[r];
        if (c < 0 || c >= k) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: label %d of row %lld is not in [0, %d)", c, (long long)r, k);
            goto done;
        }
        if (data->w && (!(data->w[r] >= 0) || !isfinite(data->w[r]))) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: sample weight %g of row %lld must be >= 0",
                           (double)data->w[r], (long long)r);
            goto done;
        }
        if (!data->w || data->w[r] > 0) count[c]++;
    }
    for (int c = 0; c < k; c++) {
        if (count[c] == 0) {
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: class %d has no rows of positive weight", c);
            goto done;
        }
        if (c > 0) start[c] = start[c - 1] + count[c - 1];
    }
    for (int c = 0; c < k - 1; c++)
        for (int c2 = c + 1; c2 < k; c2++)
            if (count[c] + count[c2] > INT32_MAX) {
                st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: classes %d and %d have %lld rows, at most 2^31-1", c,
                               c2, (long long)(count[c] + count[c2]));
                goto done;
            }
    for (int64_t r = 0; r < n; r++) {
        if (data->w && !(data->w[r] > 0)) continue;
        int32_t c = data->y[r];
        double cw = opts->class_weight ? opts->class_weight[c] : 1.0;
        c_row[start[c]] = opts->C * cw * (data->w ? (double)data->w[r] : 1.0);
        perm[start[c]++] = r;
    }
    for (int c = 0; c < k; c++) start[c] -= count[c];

    /* gamma: sklearn's 'scale' is 1 / (d var(x)) over every value of x */
    double gamma = opts->gamma;
    if (gamma == KN_SVM_GAMMA_AUTO) gamma = 1.0 / (double)d;
    else if (gamma == KN_SVM_GAMMA_SCALE) {
        double sum = 0, ss = 0;
        for (size_t t = 0; t < nd; t++) sum += data->x[t];
        double mean = sum / (double)nd;
        for (size_t t = 0; t < nd; t++) ss += (data->x[t] - mean) * (data->x[t] - mean);
        double var = ss / (double)nd;
        gamma = var != 0 ? 1.0 / ((double)d * var) : 1.0;
    }
    sh.kp = (kparams){opts->kernel, opts->degree, (float)gamma, (float)opts->coef0};
    sh.cache_bytes = (size_t)(opts->cache_size * 1048576.0);
    if (pthread_mutex_init(&sh.lock, NULL) != 0) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no mutex");
        goto done;
    }
    sh_lock = true;

    int64_t p = 0;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) pair_i[p] = a, pair_j[p] = b, order[p] = (int32_t)p, p++;
    /* biggest problems first, so the last one to start is a small one (insertion sort: few pairs) */
    for (int64_t t = 1; t < pairs; t++) {
        int32_t v = order[t];
        int64_t size = count[pair_i[v]] + count[pair_j[v]], u = t - 1;
        while (u >= 0 && count[pair_i[order[u]]] + count[pair_j[order[u]]] < size) order[u + 1] = order[u], u--;
        order[u + 1] = v;
    }
    if (opts->probability) {
        out->prob_a = kn__alloc(ctx, (size_t)pairs * sizeof *out->prob_a);
        out->prob_b = kn__alloc(ctx, (size_t)pairs * sizeof *out->prob_b);
    }
    double *prob_a = opts->probability ? kn__alloc(ctx, (size_t)pairs * sizeof *prob_a) : NULL;
    double *prob_b = opts->probability ? kn__alloc(ctx, (size_t)pairs * sizeof *prob_b) : NULL;
    if (opts->probability && (!out->prob_a || !out->prob_b || !prob_a || !prob_b)) {
        kn__free(ctx, prob_a);
        kn__free(ctx, prob_b);
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for %lld pairs", (long long)pairs);
        goto done;
    }
    pair_job job = {&sh, perm, start, count, c_row, pair_i, pair_j, order, alpha, rho, obj, iters, prob_a, prob_b, failed};
    kn__pool_run(kn_ctx_threads(ctx), pairs, solve_pair, &job);
    if (prob_a)
        for (p = 0; p < pairs; p++) out->prob_a[p] = (float)prob_a[p], out->prob_b[p] = (float)prob_b[p];
    kn__free(ctx, prob_a);
    kn__free(ctx, prob_b);
    for (p = 0; p < pairs; p++)
        if (failed[p]) {
            st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory to solve classes %d vs %d (%lld rows, cache %g MB)",
                           pair_i[p], pair_j[p], (long long)(count[pair_i[p]] + count[pair_j[p]]), opts->cache_size);
            goto done;
        }

    /* the model, as LIBSVM's svm_train builds it */
    for (p = 0; p < pairs; p++) {
        const int a = pair_i[p], b = pair_j[p];
        for (int64_t t = 0; t < count[a]; t++) nonzero[start[a] + t] |= alpha[p][t] != 0;
        for (int64_t t = 0; t < count[b]; t++) nonzero[start[b] + t] |= alpha[p][count[a] + t] != 0;
        out->n_iter += iters[p];
    }
    out->n_sv_class = kn__calloc(ctx, (size_t)k, sizeof *out->n_sv_class);
    out->intercept = kn__alloc(ctx, (size_t)pairs * sizeof *out->intercept);
    if (!out->n_sv_class || !out->intercept) goto oom;
    int64_t n_sv = 0;
    for (int c = 0; c < k; c++) {
        nz_start[c] = n_sv;
        for (int64_t t = 0; t < count[c]; t++) out->n_sv_class[c] += nonzero[start[c] + t];
        n_sv += out->n_sv_class[c];
    }
    out->sv = kn__alloc(ctx, (size_t)(n_sv > 0 ? n_sv : 1) * (size_t)d * sizeof *out->sv);
    out->support = kn__alloc(ctx, (size_t)(n_sv > 0 ? n_sv : 1) * sizeof *out->support);
    out->dual_coef = kn__calloc(ctx, (size_t)(k - 1) * (size_t)(n_sv > 0 ? n_sv : 1), sizeof *out->dual_coef);
    if (!out->sv || !out->support || !out->dual_coef) goto oom;
    for (int64_t t = 0, q = 0; t < start[k - 1] + count[k - 1]; t++)
        if (nonzero[t]) {
            memcpy(out->sv + q * d, data->x + perm[t] * d, (size_t)d * sizeof *out->sv);
            out->support[q++] = perm[t];
        }
    for (p = 0; p < pairs; p++) {
        const int a = pair_i[p], b = pair_j[p];
        int64_t q = nz_start[a];
        for (int64_t t = 0; t < count[a]; t++)
            if (nonzero[start[a] + t]) out->dual_coef[(int64_t)(b - 1) * n_sv + q++] = (float)alpha[p][t];
        q = nz_start[b];
        for (int64_t t = 0; t < count[b]; t++)
            if (nonzero[start[b] + t]) out->dual_coef[(int64_t)a * n_sv + q++] = (float)alpha[p][count[a] + t];
        out->intercept[p] = (float)-rho[p];
    }
    out->n_classes = k;
    out->n_sv = n_sv;
    out->d = d;
    out->kernel = opts->kernel;
    out->gamma = gamma;
    out->degree = opts->degree;
    out->coef0 = opts->coef0;
    if (opts->max_iter != -1)
        for (p = 0; p < pairs; p++)
            if (iters[p] >= opts->max_iter) {
                kn__log(ctx, KN_LOG_WARN, "svm: classes %d vs %d stopped at max_iter %lld before tol %g", pair_i[p],
                        pair_j[p], (long long)opts->max_iter, opts->tol);
                break;
            }
    goto done;
oom:
    st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for the model");
done:
    if (sh_lock) pthread_mutex_destroy(&sh.lock);
    if (alpha)
        for (p = 0; p < pairs; p++) kn__free(ctx, alpha[p]);
    kn__free(ctx, alpha);
    kn__free(ctx, count);
    kn__free(ctx, start);
    kn__free(ctx, perm);
    kn__free(ctx, c_row);
    kn__free(ctx, pair_i);
    kn__free(ctx, pair_j);
    kn__free(ctx, order);
    kn__free(ctx, rho);
    kn__free(ctx, obj);
    kn__free(ctx, iters);
    kn__free(ctx, failed);
    kn__free(ctx, nonzero);
    kn__free(ctx, nz_start);
    if (st != KN_OK) kn__svm_free(ctx, out);
    return st;
}

/* ------------------------------------------------------------------ predict */

enum { PRED_ROWS = 128 }; /* test rows a kernel block: (128, n_sv) floats */

static size_t align64(size_t b) { return (b + 63) / 64 * 64; }

/* The workspace: shared part (SV norms, class starts), then one slice per thread:
 * kernel block (PRED_ROWS, n_sv), row norms, decisions (PRED_ROWS, pairs), votes (k),
 * pairwise probabilities (k, k), coupling scratch (k, k) + 2 k. */
static size_t shared_bytes(const kn__svm *m) {
    return align64((size_t)m->n_sv * sizeof(float)) + align64((size_t)m->n_classes * sizeof(int64_t));
}

static size_t slice_bytes(const kn__svm *m) {
    const size_t k = (size_t)m->n_classes, pairs = k * (k - 1) / 2;
    return align64((size_t)PRED_ROWS * (size_t)m->n_sv * sizeof(float)) + align64(PRED_ROWS * sizeof(float)) +
           align64(PRED_ROWS * pairs * sizeof(float)) + align64(k * sizeof(int32_t)) + align64(2 * k * k * sizeof(double)) +
           align64(2 * k * sizeof(double));
}

static int64_t pred_slices(int64_t n, int threads) {
    int64_t blocks = (n + PRED_ROWS - 1) / PRED_ROWS;
    return threads < 1 ? 1 : blocks < threads ? (blocks > 0 ? blocks : 1) : threads;
}

size_t kn__svm_workspace_size(const kn__svm *m, int64_t n, int threads) {
    return shared_bytes(m) + (size_t)pred_slices(n, threads) * slice_bytes(m);
}

typedef struct {
    const kn__svm *m;
    kparams kp;
    const float *x;
    int64_t n, blocks, slices;
    float *dec;      /* (n, pairs) or NULL */
    int32_t *labels; /* (n) or NULL */
    float *proba;    /* (n, k) or NULL */
    const float *sv_sq;
    const int64_t *sv_start;
    char *slices_mem;
    size_t slice;
} pred_job;

static void pred_chunk(void *args, int64_t s) {
    const pred_job *j = args;
    const kn__svm *m = j->m;
    const int k = m->n_classes;
    const int64_t n_sv = m->n_sv, d = m->d, pairs = (int64_t)k * (k - 1) / 2;
    char *mem = j->slices_mem + (size_t)s * j->slice;
    float *kb = (float *)mem;
    mem += align64((size_t)PRED_ROWS * (size_t)n_sv * sizeof(float));
    float *xsq = (float *)mem;
    mem += align64(PRED_ROWS * sizeof(float));
    float *dec_tmp = (float *)mem;
    mem += align64(PRED_ROWS * (size_t)pairs * sizeof(float));
    int32_t *votes = (int32_t *)mem;
    mem += align64((size_t)k * sizeof(int32_t));
    double *pw = (double *)mem, *Q = pw + k * k, *pk = Q + k * k, *qp = pk + k;
    for (int64_t b = s; b < j->blocks; b += j->slices) {
        const int64_t r0 = b * PRED_ROWS, rows = j->n - r0 < PRED_ROWS ? j->n - r0 : PRED_ROWS;
        const float *xb = j->x + r0 * d;
        // (rows, d) x (n_sv, d)^T -> (rows, n_sv)
        kn__sgemm(false, true, rows, n_sv, d, 1.0f, xb, d, m->sv, d, 0.0f, kb, n_sv, 1);
        float *dec = j->dec ? j->dec + r0 * pairs : dec_tmp;
        for (int64_t r = 0; r < rows; r++) {
            float *kr = kb + r * n_sv;
            xsq[r] = sqnorm(xb + r * d, d);
            kernel_map(&j->kp, kr, n_sv, xsq[r], j->sv_sq);
            int64_t p = 0;
            for (int a = 0; a < k; a++)
                for (int c = a + 1; c < k; c++, p++) {
                    const int64_t sa = j->sv_start[a], sc = j->sv_start[c];
                    double v = dot_ff(m->dual_coef + (int64_t)(c - 1) * n_sv + sa, kr + sa, m->n_sv_class[a]) +
                               dot_ff(m->dual_coef + (int64_t)a * n_sv + sc, kr + sc, m->n_sv_class[c]);
                    dec[r * pairs + p] = (float)(v + m->intercept[p]);
                }
        }
        if (j->labels)
            for (int64_t r = 0; r < rows; r++) {
                memset(votes, 0, (size_t)k * sizeof *votes);
                int64_t p = 0;
                for (int a = 0; a < k; a++)
                    for (int c = a + 1; c < k; c++, p++) votes[dec[r * pairs + p] > 0 ? a : c]++;
                int best = 0;
                for (int c = 1; c < k; c++)
                    if (votes[c] > votes[best]) best = c;
                j->labels[r0 + r] = best;
            }
        if (j->proba)
            for (int64_t r = 0; r < rows; r++) {
                const double min_prob = 1e-7;
                int64_t p = 0;
                for (int a = 0; a < k; a++)
                    for (int c = a + 1; c < k; c++, p++) {
                        double v = sigmoid_predict(dec[r * pairs + p], m->prob_a[p], m->prob_b[p]);
                        v = fmin(fmax(v, min_prob), 1 - min_prob);
                        pw[a * k + c] = v;
                        pw[c * k + a] = 1 - v;
                    }
                multiclass_probability(k, pw, pk, Q, qp);
                for (int c = 0; c < k; c++) j->proba[(r0 + r) * k + c] = (float)pk[c];
            }
    }
}

static kn_status run_predict(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, float *dec, int32_t *labels,
                             float *proba, void *workspace) {
    if (!m || !m->sv || m->n_classes < 2) return kn__error(ctx, KN_ERR_STATE, "svm: the model is not fitted");
    if (n <= 0) return KN_OK;
    if (!x) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: x is NULL");
    const int threads = kn_ctx_threads(ctx);
    const size_t need = kn__svm_workspace_size(m, n, threads);
    char *ws = workspace;
    if (!ws && !(ws = kn__alloc(ctx, need)))
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "svm: no memory for %zu bytes of prediction scratch", need);
    float *sv_sq = (float *)ws;
    int64_t *sv_start = (int64_t *)(ws + align64((size_t)m->n_sv * sizeof(float)));
    for (int64_t s = 0; s < m->n_sv; s++) sv_sq[s] = sqnorm(m->sv + s * m->d, m->d);
    sv_start[0] = 0;
    for (int c = 1; c < m->n_classes; c++) sv_start[c] = sv_start[c - 1] + m->n_sv_class[c - 1];
    pred_job j = {.m = m,
                  .kp = {m->kernel, m->degree, (float)m->gamma, (float)m->coef0},
                  .x = x,
                  .n = n,
                  .blocks = (n + PRED_ROWS - 1) / PRED_ROWS,
                  .slices = pred_slices(n, threads),
                  .dec = dec,
                  .labels = labels,
                  .proba = proba,
                  .sv_sq = sv_sq,
                  .sv_start = sv_start,
                  .slices_mem = ws + shared_bytes(m),
                  .slice = slice_bytes(m)};
    kn__pool_run(threads, j.slices, pred_chunk, &j);
    if (!workspace) kn__free(ctx, ws);
    return KN_OK;
}

kn_status kn__svm_decision(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, float *dec, void *workspace) {
    if (!dec) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: dec is NULL");
    return run_predict(ctx, m, x, n, dec, NULL, NULL, workspace);
}

kn_status kn__svm_predict(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, int32_t *labels, void *workspace) {
    if (!labels) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: labels is NULL");
    return run_predict(ctx, m, x, n, NULL, labels, NULL, workspace);
}

kn_status kn__svm_predict_proba(kn_ctx *ctx, const kn__svm *m, const float *x, int64_t n, float *proba,
                                void *workspace) {
    if (!proba) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "svm: proba is NULL");
    if (m && (!m->prob_a || !m->prob_b))
        return kn__error(ctx, KN_ERR_STATE, "svm: the model was fitted without probability");
    return run_predict(ctx, m, x, n, NULL, NULL, proba, workspace);
}
