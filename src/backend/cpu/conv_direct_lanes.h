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
