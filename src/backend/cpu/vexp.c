/* vexp.c — exp over arrays, 8 lanes at a time, for softmax and the cross-entropy losses
 * (and a row's max, its shifted exps' sum and a dot product, for attention's rows):
 * libm's expf is a call per element, which at the reference MLP's sizes (rows of 10
 * logits) costs more than the matrix products around it. Range reduction x = n ln2 + r,
 * |r| <= ln2/2, with ln2 split in two for exactness, then a degree-7 Taylor polynomial
 * (truncation < 6e-9 relative) and 2^n put into the exponent: within 2 ulp of expf.
 * Inputs below -87.3 give 0 (expf gives a denormal or 0), above 88.7 give +inf, NaN stays
 * NaN. Non-x86 builds use expf. */
#include "cpu.h"

#include <math.h>

#if defined(__AVX2__) && defined(__FMA__)
/* The activations' math for 8 lanes (the build's AVX2 + FMA) and 16 (AVX-512F, at run time) */
#define KN_LANES 8
#include "vlanes.h"
#include "vact_lanes.h"
#include "vlanes_end.h"
#define KN_LANES 16
#include "vlanes.h"
#include "vact_lanes.h"
#include "vlanes_end.h"

static inline __m256 exp8(__m256 x) {
    __m256 over = _mm256_cmp_ps(x, _mm256_set1_ps(88.7f), _CMP_GT_OQ);
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    __m256i ni;
    __m256 p = exp_poly8(xc, &ni);
    /* 2^n: n in [-126, 128]; 2^128 (x near 88.7) is built as 2^127 * 2 */
    __m256i big = _mm256_cmpgt_epi32(ni, _mm256_set1_epi32(127));
    ni = _mm256_sub_epi32(ni, _mm256_and_si256(big, _mm256_set1_epi32(1)));
    __m256 y = _mm256_mul_ps(p, pow2i8(ni));
    y = _mm256_blendv_ps(y, _mm256_add_ps(y, y), _mm256_castsi256_ps(big));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), over);
    y = _mm256_andnot_ps(under, y);
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); /* NaN in, NaN out */
}

void kn__vexp(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float in[8] = {0}, out[8];
        for (int64_t j = i; j < n; j++) in[j - i] = x[j];
        _mm256_storeu_ps(out, exp8(_mm256_loadu_ps(in)));
        for (int64_t j = i; j < n; j++) y[j] = out[j - i];
    }
}

/* The first n (< 8) values of x in lanes, `fill` in the others. */
static inline __m256 load_part(const float *x, int64_t n, float fill) {
    __m256i m = kn__lanes_below8(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(x, m), _mm256_castsi256_ps(m));
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

float kn__vmax(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    if (i < n) m = _mm256_max_ps(m, load_part(x + i, n - i, -INFINITY));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}

/* exp8 for x <= 0 (a softmax's max-shifted scores; above 0 taken as 0): below -87.3 is 0. */
static inline __m256 exp8_nonpos(__m256 x) {
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
    return _mm256_andnot_ps(under, exp_core8(clamp_keep_nan8(x, -87.3f, 0.0f)));
}

float kn__vexp_sum(const float *x, float shift, float *y, int64_t n) {
    __m256 s = _mm256_setzero_ps(), sh = _mm256_set1_ps(shift);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8_nonpos(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh));
        _mm256_storeu_ps(y + i, e);
        s = _mm256_add_ps(s, e);
    }
    if (i < n) {
        __m256 e = exp8_nonpos(_mm256_sub_ps(load_part(x + i, n - i, -INFINITY), sh)); /* (exp(-inf) = 0 in the spare lanes) */
        _mm256_maskstore_ps(y + i, kn__lanes_below8(n - i), e);
        s = _mm256_add_ps(s, e);
    }
    return hsum8(s);
}

float kn__vdot(const float *x, const float *y, int64_t n) {
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s);
    if (i < n) s = _mm256_fmadd_ps(load_part(x + i, n - i, 0.0f), load_part(y + i, n - i, 0.0f), s);
    return hsum8(s);
}

/* The activations' width: 16 lanes where the CPU runs AVX-512F, else 8; the same for every
 * call (whatever an array's length), so any split of an array gives the same values. */
static int forced_lanes; /* kn__vact_force_lanes's; 0: the best */

void kn__vact_force_lanes(int lanes) { forced_lanes = lanes; }

static bool lanes16(void) {
    return forced_lanes != 8 && __builtin_cpu_supports("avx512f");
}

void kn__vsigmoid_rows(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t rows, int64_t n, bool silu) {
    if (lanes16()) sigmoid_loop16(x, ldx, y, ldy, rows, n, silu);
    else sigmoid_loop8(x, ldx, y, ldy, rows, n, silu);
}

void kn__vsigmoid(const float *x, float *y, int64_t n, bool silu) { kn__vsigmoid_rows(x, n, y, n, 1, n, silu); }

void kn__vsilu_grad_rows(const float *dy, const float *v, int64_t ldv, float *dx, int64_t ld, int64_t rows, int64_t n) {
    if (lanes16()) silu_grad_loop16(dy, v, ldv, dx, ld, rows, n);
    else silu_grad_loop8(dy, v, ldv, dx, ld, rows, n);
}

void kn__vsilu_grad(const float *dy, const float *v, float *dx, int64_t n) { kn__vsilu_grad_rows(dy, v, n, dx, n, 1, n); }

void kn__vgelu_rows(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t rows, int64_t n) {
    if (lanes16()) gelu_loop16(x, ldx, y, ldy, rows, n);
    else gelu_loop8(x, ldx, y, ldy, rows, n);
}

void kn__vgelu(const float *x, float *y, int64_t n) { kn__vgelu_rows(x, n, y, n, 1, n); }

void kn__vgelu_grad_rows(const float *dy, const float *v, int64_t ldv, float *dx, int64_t ld, int64_t rows, int64_t n) {
    if (lanes16()) gelu_grad_loop16(dy, v, ldv, dx, ld, rows, n);
    else gelu_grad_loop8(dy, v, ldv, dx, ld, rows, n);
}

void kn__vgelu_grad(const float *dy, const float *v, float *dx, int64_t n) { kn__vgelu_grad_rows(dy, v, n, dx, n, 1, n); }

int kn__vact_lanes(void) { return lanes16() ? 16 : 8; }

#else

void kn__vact_force_lanes(int lanes) { (void)lanes; }

int kn__vact_lanes(void) { return 1; }

void kn__vgelu(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678f));
}

void kn__vgelu_rows(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) kn__vgelu(x + r * ldx, y + r * ldy, n);
}

void kn__vgelu_grad(const float *dy, const float *v, float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * (0.5f * (1.0f + erff(v[i] * 0.70710678f)) + v[i] * 0.39894228f * expf(-0.5f * v[i] * v[i]));
}

void kn__vsilu_grad(const float *dy, const float *v, float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float sg = 1.0f / (1.0f + expf(-v[i]));
        dx[i] = dy[i] * sg * (1.0f + v[i] * (1.0f - sg));
    }
}

void kn__vsilu_grad_rows(const float *dy, const float *v, int64_t ldv, float *dx, int64_t ld, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) kn__vsilu_grad(dy + r * ld, v + r * ldv, dx + r * ld, n);
}

void kn__vgelu_grad_rows(const float *dy, const float *v, int64_t ldv, float *dx, int64_t ld, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) kn__vgelu_grad(dy + r * ld, v + r * ldv, dx + r * ld, n);
}

void kn__vsigmoid(const float *x, float *y, int64_t n, bool silu) {
    for (int64_t i = 0; i < n; i++) y[i] = (silu ? x[i] : 1.0f) / (1.0f + expf(-x[i]));
}

void kn__vsigmoid_rows(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t rows, int64_t n, bool silu) {
    for (int64_t r = 0; r < rows; r++) kn__vsigmoid(x + r * ldx, y + r * ldy, n, silu);
}

void kn__vexp(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

float kn__vmax(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

float kn__vexp_sum(const float *x, float shift, float *y, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) {
        float d = x[i] - shift;
        s += y[i] = expf(d > 0 ? 0.0f : d); /* (as the lanes: above 0 taken as 0) */
    }
    return s;
}

float kn__vdot(const float *x, const float *y, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

#endif

float kn__log_sum_exp(const float *z, int64_t c) {
    float mx = z[0];
    for (int64_t j = 1; j < c; j++) mx = z[j] > mx ? z[j] : mx;
    float buf[256], s = 0;
    for (int64_t j0 = 0; j0 < c; j0 += 256) {
        int64_t len = c - j0 < 256 ? c - j0 : 256;
        for (int64_t j = 0; j < len; j++) buf[j] = z[j0 + j] - mx;
        kn__vexp(buf, buf, len);
        for (int64_t j = 0; j < len; j++) s += buf[j];
    }
    return mx + logf(s);
}
