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
#include <immintrin.h>

/* exp(xc) = p 2^n for xc in [-87.3, 88.7]: n = round(xc log2 e) (returned in *n), p the
 * Taylor polynomial of the remainder r = xc - n ln2 (ln2 in two parts, r exact). */
static inline __m256 exp_poly(__m256 xc, __m256i *n_out) {
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f), ln2_hi = _mm256_set1_ps(0.693359375f),
                 ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, ln2_hi, xc);
    r = _mm256_fnmadd_ps(n, ln2_lo, r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    *n_out = _mm256_cvtps_epi32(n);
    return _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
}

/* 2^n for n in [-126, 127]. */
static inline __m256 pow2i(__m256i n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

static inline __m256 exp8(__m256 x) {
    __m256 over = _mm256_cmp_ps(x, _mm256_set1_ps(88.7f), _CMP_GT_OQ);
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    __m256i ni;
    __m256 p = exp_poly(xc, &ni);
    /* 2^n: n in [-126, 128]; 2^128 (x near 88.7) is built as 2^127 * 2 */
    __m256i big = _mm256_cmpgt_epi32(ni, _mm256_set1_epi32(127));
    ni = _mm256_sub_epi32(ni, _mm256_and_si256(big, _mm256_set1_epi32(1)));
    __m256 y = _mm256_mul_ps(p, pow2i(ni));
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

/* Lanes below n (< 8) set, for the masked loads and stores of a row's tail. */
static inline __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The first n (< 8) values of x in lanes, `fill` in the others. */
static inline __m256 load_part(const float *x, int64_t n, float fill) {
    __m256i m = tail_mask(n);
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

/* exp of xc in [-87.3, 88] (clamped by the caller; NaN stays NaN): exp8 without its edges. */
static inline __m256 exp_core(__m256 xc) {
    __m256i ni;
    __m256 p = exp_poly(xc, &ni); /* (n in [-126, 127]) */
    return _mm256_mul_ps(p, pow2i(ni));
}

/* max(lo, min(hi, x)), NaN kept (max and min return their second operand for NaN). */
static inline __m256 clamp_keep_nan(__m256 x, float lo, float hi) {
    return _mm256_max_ps(_mm256_set1_ps(lo), _mm256_min_ps(_mm256_set1_ps(hi), x));
}

/* exp8 for x <= 0 (a softmax's max-shifted scores; above 0 taken as 0): below -87.3 is 0. */
static inline __m256 exp8_nonpos(__m256 x) {
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
    return _mm256_andnot_ps(under, exp_core(clamp_keep_nan(x, -87.3f, 0.0f)));
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
        _mm256_maskstore_ps(y + i, tail_mask(n - i), e);
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

/* 1 / (1 + exp(-v)): exp(-v) with -v clamped to [-87.3, 88] (beyond, the gate is 1 or below
 * 1e-38), the reciprocal by rcp and two Newton steps (a division's throughput is the loop's
 * bottleneck otherwise; 1 / 1 and 1 / 2 come out exact). */
static inline __m256 sigmoid8(__m256 v) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 d = _mm256_add_ps(one, exp_core(clamp_keep_nan(_mm256_sub_ps(_mm256_setzero_ps(), v), -87.3f, 88.0f)));
    __m256 r = _mm256_rcp_ps(d);
    r = _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, one), r); /* r + r (1 - d r): the residual exact by FMA */
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, one), r);
}

void kn__vsigmoid(const float *x, float *y, int64_t n, bool silu) {
    for (int64_t i = 0; i < n; i += 8) {
        bool tail = i + 8 > n;
        __m256 v = tail ? load_part(x + i, n - i, 0.0f) : _mm256_loadu_ps(x + i);
        __m256 r = sigmoid8(v);
        if (silu) r = _mm256_mul_ps(v, r);
        if (tail) _mm256_maskstore_ps(y + i, tail_mask(n - i), r);
        else _mm256_storeu_ps(y + i, r);
    }
}

/* dx = dy times silu'(v) = s (1 + v (1 - s)), s = sigmoid(v) (dx may be dy). */
void kn__vsilu_grad(const float *dy, const float *v, float *dx, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 8) {
        bool tail = i + 8 > n;
        __m256 x = tail ? load_part(v + i, n - i, 0.0f) : _mm256_loadu_ps(v + i);
        __m256 g = tail ? load_part(dy + i, n - i, 0.0f) : _mm256_loadu_ps(dy + i);
        __m256 sg = sigmoid8(x);
        __m256 r = _mm256_mul_ps(g, _mm256_mul_ps(sg, _mm256_fmadd_ps(x, _mm256_sub_ps(one, sg), one)));
        if (tail) _mm256_maskstore_ps(dx + i, tail_mask(n - i), r);
        else _mm256_storeu_ps(dx + i, r);
    }
}

/* y = x Phi(x) (GELU; Phi the normal distribution, 0.5 erfc(-x / sqrt 2)). With z = |x| /
 * sqrt 2: below 1, Phi = 0.5 + 0.5 erf(z) signed, erf(z) = z P(z^2) its Taylor series to
 * z^19 (error < 2e-8); from 1, erfc(z) = exp(-z^2) g(t), t = 1 / (1 + z / 2), g a degree-7
 * polynomial fitted to erfc(z) exp(z^2) on [1, 4] (relative error 1.4e-9; past 4 erfc is
 * below float's resolution of 1 - Phi), Phi = 0.5 erfc(z) for x < 0 and 1 - that above: a
 * negative x's small Phi keeps its relative precision (libm's 1 + erff(x / sqrt 2) cancels
 * there). exp(-x^2 / 2) takes x^2 as hi + lo (FMA) so the square's rounding does not grow
 * into the exponent. */
static inline __m256 gelu_phi(__m256 v, __m256 *ex_out) {
    static const float taylor[10] = {1.128379167e+00f, -3.761263890e-01f, 1.128379167e-01f, -2.686617065e-02f,
                                     5.223977625e-03f, -8.548327023e-04f, 1.205533298e-04f, -1.492565036e-05f,
                                     1.646211437e-06f, -1.636584469e-07f}; /* 2/sqrt(pi) (-1)^k / (k! (2k+1)) */
    static const float fit[8] = {-1.604518344e-04f, 2.850039021e-01f, 2.591243834e-01f,  3.497059256e-01f,
                                 -1.074178142e-01f, 5.677753020e-01f, -4.741258481e-01f, 1.201525839e-01f};
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_min_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(10.0f)); /* |x|, capped (Phi is 0 or 1 there) */
    __m256 z = _mm256_mul_ps(a, _mm256_set1_ps(0.7071067812f)), z2 = _mm256_mul_ps(z, z);
    __m256 p = _mm256_set1_ps(taylor[9]);
    for (int k = 8; k >= 0; k--) p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(taylor[k]));
    __m256 erf_signed = _mm256_or_ps(_mm256_mul_ps(z, p), _mm256_and_ps(sign, v));
    __m256 phi_small = _mm256_fmadd_ps(half, erf_signed, half);
    __m256 hi = _mm256_mul_ps(a, a), lo = _mm256_fmsub_ps(a, a, hi); /* a^2 = hi + lo */
    __m256 ex = _mm256_mul_ps(exp8(_mm256_mul_ps(_mm256_set1_ps(-0.5f), hi)), _mm256_fnmadd_ps(half, lo, one));
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(half, z, one));
    __m256 g = _mm256_set1_ps(fit[7]);
    for (int k = 6; k >= 0; k--) g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(fit[k]));
    __m256 e = _mm256_mul_ps(_mm256_mul_ps(half, ex), g); /* 0.5 erfc(z) */
    __m256 phi_large = _mm256_blendv_ps(_mm256_sub_ps(one, e), e, v); /* (v's sign bit picks e) */
    *ex_out = ex;
    return _mm256_blendv_ps(phi_large, phi_small, _mm256_cmp_ps(z, one, _CMP_LT_OQ));
}

void kn__vgelu(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        bool tail = i + 8 > n;
        __m256 v = tail ? load_part(x + i, n - i, 0.0f) : _mm256_loadu_ps(x + i), ex;
        __m256 phi = gelu_phi(v, &ex);
        __m256 r = _mm256_andnot_ps(_mm256_cmp_ps(v, _mm256_set1_ps(-10.0f), _CMP_LT_OQ), _mm256_mul_ps(v, phi)); /* (0 below -10) */
        if (tail) _mm256_maskstore_ps(y + i, tail_mask(n - i), r);
        else _mm256_storeu_ps(y + i, r);
    }
}

/* dx = dy times gelu'(v) = Phi(v) + v exp(-v^2 / 2) / sqrt(2 pi) (dx may be dy). */
void kn__vgelu_grad(const float *dy, const float *v, float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        bool tail = i + 8 > n;
        __m256 x = tail ? load_part(v + i, n - i, 0.0f) : _mm256_loadu_ps(v + i), ex;
        __m256 g = tail ? load_part(dy + i, n - i, 0.0f) : _mm256_loadu_ps(dy + i);
        __m256 phi = gelu_phi(x, &ex);
        __m256 slope = _mm256_fmadd_ps(_mm256_mul_ps(x, ex), _mm256_set1_ps(0.3989422804f), phi);
        slope = _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-10.0f), _CMP_LT_OQ), slope); /* (0 below -10) */
        __m256 r = _mm256_mul_ps(g, slope);
        if (tail) _mm256_maskstore_ps(dx + i, tail_mask(n - i), r);
        else _mm256_storeu_ps(dx + i, r);
    }
}

#else

void kn__vgelu(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678f));
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

void kn__vsigmoid(const float *x, float *y, int64_t n, bool silu) {
    for (int64_t i = 0; i < n; i++) y[i] = (silu ? x[i] : 1.0f) / (1.0f + expf(-x[i]));
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
