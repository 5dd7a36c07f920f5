/* vact_lanes.h — exp, sigmoid/SiLU and GELU and their gradients over arrays, written once in
 * vlanes.h's names and included by vexp.c once per vector width (its header says why and
 * how exp is computed). Include after vlanes.h. */

/* exp(xc) = p 2^n for xc in [-87.3, 88.7]: n = round(xc log2 e) (returned in *n), p the
 * Taylor polynomial of the remainder r = xc - n ln2 (ln2 in two parts, r exact). */
LANES_TARGET static inline VF LANES_FN(exp_poly)(VF xc, VI *n_out) {
    const VF log2e = V_SET1(1.44269504088896341f), ln2_hi = V_SET1(0.693359375f), ln2_lo = V_SET1(-2.12194440e-4f);
    VF n = V_ROUND(V_MUL(xc, log2e));
    VF r = V_FNMADD(n, ln2_hi, xc);
    r = V_FNMADD(n, ln2_lo, r);
    VF p = V_SET1(1.0f / 5040);
    p = V_FMADD(p, r, V_SET1(1.0f / 720));
    p = V_FMADD(p, r, V_SET1(1.0f / 120));
    p = V_FMADD(p, r, V_SET1(1.0f / 24));
    p = V_FMADD(p, r, V_SET1(1.0f / 6));
    p = V_FMADD(p, r, V_SET1(0.5f));
    p = V_FMADD(p, r, V_SET1(1.0f));
    *n_out = V_CVT_I(n);
    return V_FMADD(p, r, V_SET1(1.0f));
}

/* 2^n for n in [-126, 127]. */
LANES_TARGET static inline VF LANES_FN(pow2i)(VI n) { return VI_AS_F(VI_SHL(VI_ADD(n, VI_SET1(127)), 23)); }

/* exp of xc in [-87.3, 88] (clamped by the caller; NaN stays NaN), without exp's edges. */
LANES_TARGET static inline VF LANES_FN(exp_core)(VF xc) {
    VI ni;
    VF p = LANES_FN(exp_poly)(xc, &ni); /* (n in [-126, 127]) */
    return V_MUL(p, LANES_FN(pow2i)(ni));
}

/* max(lo, min(hi, x)), NaN kept (max and min return their second operand for NaN). */
LANES_TARGET static inline VF LANES_FN(clamp_keep_nan)(VF x, float lo, float hi) {
    return V_MAX(V_SET1(lo), V_MIN(V_SET1(hi), x));
}

/* 1 / (1 + exp(-v)): exp(-v) with -v clamped to [-87.3, 88] (beyond, the gate is 1 or below
 * 1e-38), the reciprocal by its estimate and two Newton steps (a division's throughput is the
 * loop's bottleneck otherwise; 1 / 1 and 1 / 2 come out exact). */
LANES_TARGET static inline VF LANES_FN(sigmoid)(VF v) {
    const VF one = V_SET1(1.0f);
    VF d = V_ADD(one, LANES_FN(exp_core)(LANES_FN(clamp_keep_nan)(V_SUB(V_ZERO(), v), -87.3f, 88.0f)));
    VF r = V_RCP(d);
    r = V_FMADD(r, V_FNMADD(d, r, one), r); /* r + r (1 - d r): the residual exact by FMA */
    return V_FMADD(r, V_FNMADD(d, r, one), r);
}

/* Phi(x) for GELU, and exp(-x^2 / 2) in *ex_out (the gradient's). With z = |x| / sqrt 2:
 * below 1, Phi = 0.5 + 0.5 erf(z) signed, erf(z) = z P(z^2) its Taylor series to z^19
 * (error < 2e-8); from 1, erfc(z) = exp(-z^2) g(t), t = 1 / (1 + z / 2), g a degree-7
 * polynomial fitted to erfc(z) exp(z^2) on [1, 4] (relative error 1.4e-9; past 4 erfc is
 * below float's resolution of 1 - Phi), Phi = 0.5 erfc(z) for x < 0 and 1 - that above: a
 * negative x's small Phi keeps its relative precision (libm's 1 + erff(x / sqrt 2) cancels
 * there). exp(-x^2 / 2) takes x^2 as hi + lo (FMA) so the square's rounding does not grow
 * into the exponent; |x| is capped at 10 (a NaN's too), so its argument is in [-50, 0]. */
LANES_TARGET static inline VF LANES_FN(gelu_phi)(VF v, VF *ex_out) {
    static const float taylor[10] = {1.128379167e+00f, -3.761263890e-01f, 1.128379167e-01f, -2.686617065e-02f,
                                     5.223977625e-03f, -8.548327023e-04f, 1.205533298e-04f, -1.492565036e-05f,
                                     1.646211437e-06f, -1.636584469e-07f}; /* 2/sqrt(pi) (-1)^k / (k! (2k+1)) */
    static const float fit[8] = {-1.604518344e-04f, 2.850039021e-01f, 2.591243834e-01f,  3.497059256e-01f,
                                 -1.074178142e-01f, 5.677753020e-01f, -4.741258481e-01f, 1.201525839e-01f};
    const VF half = V_SET1(0.5f), one = V_SET1(1.0f), sign = V_SET1(-0.0f);
    VF a = V_MIN(V_ANDNOT(sign, v), V_SET1(10.0f)); /* |x|, capped (Phi is 0 or 1 there) */
    VF z = V_MUL(a, V_SET1(0.7071067812f)), z2 = V_MUL(z, z);
    VF p = V_SET1(taylor[9]);
    for (int k = 8; k >= 0; k--) p = V_FMADD(p, z2, V_SET1(taylor[k]));
    VF erf_signed = V_OR(V_MUL(z, p), V_AND(sign, v));
    VF phi_small = V_FMADD(half, erf_signed, half);
    VF hi = V_MUL(a, a), lo = V_FMSUB(a, a, hi); /* a^2 = hi + lo */
    VF ex = V_MUL(LANES_FN(exp_core)(V_MUL(V_SET1(-0.5f), hi)), V_FNMADD(half, lo, one));
    VF t = V_DIV(one, V_FMADD(half, z, one));
    VF g = V_SET1(fit[7]);
    for (int k = 6; k >= 0; k--) g = V_FMADD(g, t, V_SET1(fit[k]));
    VF e = V_MUL(V_MUL(half, ex), g); /* 0.5 erfc(z) */
    VF phi_large = V_BLEND_SIGN(v, V_SUB(one, e), e); /* (v's sign bit picks e) */
    *ex_out = ex;
    return V_BLEND(V_CMP_LT(z, one), phi_large, phi_small);
}

/* The loops: whole vectors, then the last n < lanes values masked (a lane's value does not
 * depend on where the array's vectors begin, so any split of an array gives the same). The
 * forward ones take `rows` rows of n (row strides ldx, ldy): a GEMM's epilogue finishes a
 * strip of 32 columns at a time, and rows of 32 one call each would leave a vector's long
 * chain of dependent steps without the next rows' to overlap it. */
#define KN_LANES_N ((int64_t)sizeof(VF) / 4)

LANES_TARGET static void LANES_FN(sigmoid_loop)(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t rows,
                                                int64_t n, bool silu) {
    for (int64_t row = 0; row < rows; row++, x += ldx, y += ldy)
        for (int64_t i = 0; i < n; i += KN_LANES_N) {
            bool tail = i + KN_LANES_N > n;
            VF v = tail ? V_LOAD_PART(x + i, n - i, 0.0f) : V_LOAD(x + i);
            VF r = LANES_FN(sigmoid)(v);
            if (silu) r = V_MUL(v, r);
            if (tail) V_STORE_PART(y + i, n - i, r);
            else V_STORE(y + i, r);
        }
}

/* The gradients' rows: dy, v and dx rows of n, row strides ld (dy's and dx's the same: dx
 * may be dy), v's ldv. */

/* dx = dy times silu'(v) = s (1 + v (1 - s)), s = sigmoid(v). */
LANES_TARGET static void LANES_FN(silu_grad_loop)(const float *dy, const float *v, int64_t ldv, float *dx, int64_t ld,
                                                  int64_t rows, int64_t n) {
    const VF one = V_SET1(1.0f);
    for (int64_t row = 0; row < rows; row++, dy += ld, v += ldv, dx += ld)
        for (int64_t i = 0; i < n; i += KN_LANES_N) {
            bool tail = i + KN_LANES_N > n;
            VF x = tail ? V_LOAD_PART(v + i, n - i, 0.0f) : V_LOAD(v + i);
            VF g = tail ? V_LOAD_PART(dy + i, n - i, 0.0f) : V_LOAD(dy + i);
            VF sg = LANES_FN(sigmoid)(x);
            VF r = V_MUL(g, V_MUL(sg, V_FMADD(x, V_SUB(one, sg), one)));
            if (tail) V_STORE_PART(dx + i, n - i, r);
            else V_STORE(dx + i, r);
        }
}

/* y = x Phi(x) (0 below -10). */
LANES_TARGET static void LANES_FN(gelu_loop)(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t rows,
                                             int64_t n) {
    for (int64_t row = 0; row < rows; row++, x += ldx, y += ldy)
        for (int64_t i = 0; i < n; i += KN_LANES_N) {
            bool tail = i + KN_LANES_N > n;
            VF v = tail ? V_LOAD_PART(x + i, n - i, 0.0f) : V_LOAD(x + i), ex;
            VF phi = LANES_FN(gelu_phi)(v, &ex);
            VF r = V_ZERO_WHERE(V_CMP_LT(v, V_SET1(-10.0f)), V_MUL(v, phi));
            if (tail) V_STORE_PART(y + i, n - i, r);
            else V_STORE(y + i, r);
        }
}

/* dx = dy times gelu'(v) = Phi(v) + v exp(-v^2 / 2) / sqrt(2 pi) (0 below -10). */
LANES_TARGET static void LANES_FN(gelu_grad_loop)(const float *dy, const float *v, int64_t ldv, float *dx, int64_t ld,
                                                  int64_t rows, int64_t n) {
    for (int64_t row = 0; row < rows; row++, dy += ld, v += ldv, dx += ld)
        for (int64_t i = 0; i < n; i += KN_LANES_N) {
            bool tail = i + KN_LANES_N > n;
            VF x = tail ? V_LOAD_PART(v + i, n - i, 0.0f) : V_LOAD(v + i), ex;
            VF g = tail ? V_LOAD_PART(dy + i, n - i, 0.0f) : V_LOAD(dy + i);
            VF phi = LANES_FN(gelu_phi)(x, &ex);
            VF slope = V_FMADD(V_MUL(x, ex), V_SET1(0.3989422804f), phi);
            slope = V_ZERO_WHERE(V_CMP_LT(x, V_SET1(-10.0f)), slope);
            VF r = V_MUL(g, slope);
            if (tail) V_STORE_PART(dx + i, n - i, r);
            else V_STORE(dx + i, r);
        }
}

#undef KN_LANES_N
