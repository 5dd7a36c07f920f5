/* conv_direct_lanes.h — conv_direct.c's tiles at one vector width: included once per
 * KN_LANES (8: AVX2 + FMA, 16: AVX-512F) between vlanes.h and vlanes_end.h.
 *
 * A tile is P output pixels of one row times FV vectors of filters: P x FV accumulators in
 * registers, and per tap FV kernel vectors loaded once and P inputs broadcast. Pixel p's
 * input for tap t is x[off[t] + p * step]; tap t's kernel row is kern + t * f (kern at the
 * tile's first filter). y points at pixel 0's first filter; pixels are f floats apart.
 * bias (at the tile's first filter, or NULL) starts the sums; relu clamps them as they are
 * stored, so a layer's bias and relu cost no pass of their own over y. */

static inline __attribute__((always_inline)) LANES_TARGET void
LANES_FN(direct_tile_body)(const int P, const int FV, const float *x, const int64_t step, const int64_t *off,
                           const float *kern, int ntaps, int64_t f, const float *bias, bool relu, float *y) {
    /* S partial sums a (pixel, vector) over taps t % S: a tile of fewer than 8 accumulators
     * would wait on each FMA's latency (4 cycles, 2 a cycle) with S = 1 */
    enum { CHAINS = 8 };
    const int S = P * FV >= CHAINS ? 1 : (CHAINS + P * FV - 1) / (P * FV);
    VF acc[16 * 4];
#pragma GCC unroll 64
    for (int i = 0; i < P * FV * S; i++) acc[i] = V_ZERO();
    if (bias)
#pragma GCC unroll 16
        for (int p = 0; p < P; p++)
#pragma GCC unroll 4
            for (int j = 0; j < FV; j++) acc[p * FV + j] = V_LOAD(bias + j * KN_LANES);
    int t = 0;
    for (; t + S <= ntaps; t += S)
#pragma GCC unroll 8
        for (int s = 0; s < S; s++) {
            const float *xt = x + off[t + s], *kt = kern + (int64_t)(t + s) * f;
            VF w[4];
#pragma GCC unroll 4
            for (int j = 0; j < FV; j++) w[j] = V_LOAD(kt + j * KN_LANES);
#pragma GCC unroll 16
            for (int p = 0; p < P; p++) {
                VF xv = V_SET1(xt[p * step]);
#pragma GCC unroll 4
                for (int j = 0; j < FV; j++) acc[(s * P + p) * FV + j] = V_FMADD(xv, w[j], acc[(s * P + p) * FV + j]);
            }
        }
    for (; t < ntaps; t++) { /* the last taps, into the first sums */
        const float *xt = x + off[t], *kt = kern + (int64_t)t * f;
#pragma GCC unroll 16
        for (int p = 0; p < P; p++) {
            VF xv = V_SET1(xt[p * step]);
#pragma GCC unroll 4
            for (int j = 0; j < FV; j++) acc[p * FV + j] = V_FMADD(xv, V_LOAD(kt + j * KN_LANES), acc[p * FV + j]);
        }
    }
#pragma GCC unroll 8
    for (int s = 1; s < S; s++) /* (sums 1..S-1 into sum 0, in order) */
#pragma GCC unroll 16
        for (int i = 0; i < P * FV; i++) acc[i] = V_ADD(acc[i], acc[s * P * FV + i]);
    if (relu)
#pragma GCC unroll 64
        for (int i = 0; i < P * FV; i++) acc[i] = V_MAX(acc[i], V_ZERO());
#pragma GCC unroll 16
    for (int p = 0; p < P; p++)
#pragma GCC unroll 4
        for (int j = 0; j < FV; j++) V_STORE(y + p * f + j * KN_LANES, acc[p * FV + j]);
}

/* Pixels a tile takes for FV filter vectors: as many accumulators as the registers hold
 * beside the FV kernel vectors and the broadcast (16 registers at 8 lanes, 32 at 16). */
#if KN_LANES == 8
#define DIRECT_WIDE(fv) ((fv) == 1 ? 12 : (fv) == 2 ? 6 : (fv) == 3 ? 4 : 2)
#else
#define DIRECT_WIDE(fv) ((fv) == 1 ? 16 : (fv) == 2 ? 10 : (fv) == 3 ? 7 : 5)
#endif

/* Pixels [0, n) of one output row at this width: wide tiles, then tiles of 4, then single
 * pixels, every tile over the same taps: fv vectors of filters. With
 * STEP (the pixels' distance in x: stride x channels) a constant, each pixel's input is
 * its tap's address plus a constant displacement; a step known only at run time costs a
 * register per pixel, more than the registers hold (the 3-D CNN's first layer: 1.5x
 * slower). */
static inline __attribute__((always_inline)) LANES_TARGET void
LANES_FN(direct_steps)(const int64_t STEP, int fv, int64_t n, const float *x, const int64_t *off,
                       const float *kern, int ntaps, int64_t f, const float *bias, bool relu, float *y) {
    int64_t p = 0;
#define DIRECT_CASE(FVC, PC)                                                                               \
    for (; p + (PC) <= n; p += (PC))                                                                       \
        LANES_FN(direct_tile_body)((PC), (FVC), x + p * STEP, STEP, off, kern, ntaps, f, bias, relu, y + p * f)
    switch (fv) {
    case 1: DIRECT_CASE(1, DIRECT_WIDE(1)); DIRECT_CASE(1, 4); DIRECT_CASE(1, 1); break;
    case 2: DIRECT_CASE(2, DIRECT_WIDE(2)); DIRECT_CASE(2, 4); DIRECT_CASE(2, 1); break;
    case 3: DIRECT_CASE(3, DIRECT_WIDE(3)); DIRECT_CASE(3, 1); break;
    default: DIRECT_CASE(4, DIRECT_WIDE(4)); DIRECT_CASE(4, 1); break;
    }
#undef DIRECT_CASE
}

static LANES_TARGET void LANES_FN(direct_run)(int fv, int64_t n, const float *x, int64_t step, const int64_t *off,
                                               const float *kern, int ntaps, int64_t f, const float *bias, bool relu,
                                               float *y) {
    switch (step) { /* (stride 1 or 2 over 1 to 4 channels) */
    case 1: LANES_FN(direct_steps)(1, fv, n, x, off, kern, ntaps, f, bias, relu, y); break;
    case 2: LANES_FN(direct_steps)(2, fv, n, x, off, kern, ntaps, f, bias, relu, y); break;
    case 3: LANES_FN(direct_steps)(3, fv, n, x, off, kern, ntaps, f, bias, relu, y); break;
    case 4: LANES_FN(direct_steps)(4, fv, n, x, off, kern, ntaps, f, bias, relu, y); break;
    case 6: LANES_FN(direct_steps)(6, fv, n, x, off, kern, ntaps, f, bias, relu, y); break;
    default: LANES_FN(direct_steps)(step, fv, n, x, off, kern, ntaps, f, bias, relu, y); break;
    }
}

#undef DIRECT_WIDE

/* The kernel gradient's tile: TT taps that are consecutive floats of the padded rows (one
 * run: a window row's KW*C taps, or one column's C at a dilation) times one vector of
 * filters, summed over `rows` output rows of n pixels. Pixel p of row r reads tap i at
 * x + r * xrow + p * step + i and its gradient at dy + r * dyrow + p * f; the TT sums are
 * added to dk's rows (f apart). A tile of fewer than 8 taps keeps S chains of sums, pixel
 * p in chain p % S (each sum's order fixed by the pixels' places, not by the threads). */
static inline __attribute__((always_inline)) LANES_TARGET void
LANES_FN(dk_tile_body)(const int TT, const float *x, int64_t xrow, int64_t step, const float *dy, int64_t dyrow,
                       int64_t f, int64_t rows, int64_t n, float *dk) {
    enum { CHAINS = 8 };
    const int S = TT >= CHAINS ? 1 : (CHAINS + TT - 1) / TT;
    VF acc[32];
#pragma GCC unroll 32
    for (int i = 0; i < TT * S; i++) acc[i] = V_ZERO();
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * xrow, *dr = dy + r * dyrow;
        int64_t p = 0;
        for (; p + S <= n; p += S)
#pragma GCC unroll 8
            for (int s = 0; s < S; s++) {
                const float *xp = xr + (p + s) * step;
                VF d = V_LOAD(dr + (p + s) * f);
#pragma GCC unroll 24
                for (int i = 0; i < TT; i++) acc[s * TT + i] = V_FMADD(V_SET1(xp[i]), d, acc[s * TT + i]);
            }
        for (; p < n; p++) { /* the row's last pixels, into chain 0 */
            const float *xp = xr + p * step;
            VF d = V_LOAD(dr + p * f);
#pragma GCC unroll 24
            for (int i = 0; i < TT; i++) acc[i] = V_FMADD(V_SET1(xp[i]), d, acc[i]);
        }
    }
#pragma GCC unroll 8
    for (int s = 1; s < S; s++)
#pragma GCC unroll 24
        for (int i = 0; i < TT; i++) acc[i] = V_ADD(acc[i], acc[s * TT + i]);
#pragma GCC unroll 24
    for (int i = 0; i < TT; i++) V_STORE(dk + i * f, V_ADD(V_LOAD(dk + i * f), acc[i]));
}

/* Taps a kernel-gradient tile holds at most: its sums, the gradient vector and the
 * broadcast within the registers (16 at 8 lanes, 32 at 16). */
#if KN_LANES == 8
#define DK_MAX_TAPS_VAL 12
#else
#define DK_MAX_TAPS_VAL 24
#endif

static LANES_TARGET void LANES_FN(dk_run)(int tt, const float *x, int64_t xrow, int64_t step, const float *dy,
                                           int64_t dyrow, int64_t f, int64_t rows, int64_t n, float *dk) {
    switch (tt) {
#define DK_CASE(T)                                                                                 \
    case T: LANES_FN(dk_tile_body)(T, x, xrow, step, dy, dyrow, f, rows, n, dk); break;
        DK_CASE(1) DK_CASE(2) DK_CASE(3) DK_CASE(4) DK_CASE(5) DK_CASE(6) DK_CASE(7) DK_CASE(8)
        DK_CASE(9) DK_CASE(10) DK_CASE(11) DK_CASE(12)
#if KN_LANES == 16
        DK_CASE(13) DK_CASE(14) DK_CASE(15) DK_CASE(16) DK_CASE(17) DK_CASE(18) DK_CASE(19) DK_CASE(20)
        DK_CASE(21) DK_CASE(22) DK_CASE(23) DK_CASE(24)
#endif
#undef DK_CASE
    default: break; /* (tiles are cut to at most DK_MAX_TAPS_VAL) */
    }
}

static inline int LANES_FN(dk_max_taps)(void) { return DK_MAX_TAPS_VAL; }
#undef DK_MAX_TAPS_VAL
