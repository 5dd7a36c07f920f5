/* svm_kernel_cache.c — what the kernel SVM's solver and prediction compute kernels with:
 * the kernel functions (LIBSVM's four, mapped in place from dot products) and LIBSVM's cache
 * of kernel rows, kept as fixed slots of one block (svm_kernel.c says why and how the solver
 * fills it). */
#include "classic/svm_kernel.h"

#include <math.h>

#include "backend/cpu/cpu.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------ kernel values */

/* Dot products v (n) of one row a (squared norm sa) with rows b (squared norms sb) ->
 * kernel values, in place. */
void kn__svm_kernel_map(const kn__svm_kparams *kp, float *v, int64_t n, float sa, const float *sb) {
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
double kn__svm_kernel_self(const kn__svm_kparams *kp, double sq) {
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

float kn__svm_sqnorm(const float *x, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += (double)x[j] * x[j];
    return (float)s;
}

/* sum a[k] * b[k] in double (float inputs) */
double kn__svm_dot_ff(const float *restrict a, const float *restrict b, int64_t n) {
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

static void lru_delete(kn__svm_cache *c, int32_t i) {
    c->h[c->h[i].prev].next = c->h[i].next;
    c->h[c->h[i].next].prev = c->h[i].prev;
}

void kn__svm_lru_insert(kn__svm_cache *c, int32_t i, bool newest) {
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

static void cache_drop(kn__svm_cache *c, int32_t i) {
    lru_delete(c, i);
    c->free[c->n_free++] = c->h[i].slot;
    c->h[i].slot = -1;
    c->h[i].len = 0;
}

void kn__svm_cache_init(kn__svm_cache *c) {
    for (int32_t i = 0; i <= c->l; i++) c->h[i] = (kn__svm_cache_head){i, i, -1, 0};
    for (int32_t s = 0; s < c->n_slots; s++) c->free[s] = c->n_slots - 1 - s;
    c->n_free = c->n_slots;
}

/* Row i's data, with [*start, len) to be filled by the caller (*start >= len: nothing). */
float *kn__svm_cache_get(kn__svm_cache *c, int32_t i, int32_t len, int32_t *start) {
    kn__svm_cache_head *h = &c->h[i];
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
    kn__svm_lru_insert(c, i, true);
    return kn__svm_slot_data(c, i);
}

void kn__svm_cache_swap_heads(kn__svm_cache *c, int32_t i, int32_t j) {
    if (i == j) return;
    if (c->h[i].len) lru_delete(c, i);
    if (c->h[j].len) lru_delete(c, j);
    int32_t t = c->h[i].slot;
    c->h[i].slot = c->h[j].slot, c->h[j].slot = t;
    t = c->h[i].len;
    c->h[i].len = c->h[j].len, c->h[j].len = t;
    if (c->h[i].len) kn__svm_lru_insert(c, i, true);
    if (c->h[j].len) kn__svm_lru_insert(c, j, true);
}

void kn__svm_cache_swap_columns(kn__svm_cache *c, const int32_t *pairs, int32_t n) {
    if (n == 0) return;
    for (int32_t p = c->h[c->l].next, next; p != c->l; p = next) {
        next = c->h[p].next;
        const int32_t len = c->h[p].len;
        float *d = kn__svm_slot_data(c, p);
        for (int32_t k = 0; k < n; k++) {
            int32_t i = pairs[2 * k], j = pairs[2 * k + 1];
            if (i > j) i = pairs[2 * k + 1], j = pairs[2 * k];
            if (len <= i) continue;
            if (len <= j) { /* the row holds i but not j: LIBSVM gives these up */
                cache_drop(c, p);
                break;
            }
            const float v = d[i];
            d[i] = d[j], d[j] = v;
        }
    }
}
