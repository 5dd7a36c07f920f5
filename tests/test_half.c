/* test_half.c — f16 and bf16 conversions (core/half.c): the exhaustive f16 -> f32 -> f16
 * round trip, rounding ties, overflow, subnormals, NaN and infinity for both types, and the
 * vector paths (F16C, AVX2) against the portable ones on every f16/bf16 pattern and a large
 * random sweep of f32 patterns with the special values mixed in, at every tail length. */
#include "core/half.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/sgemm.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

static float f32_of(uint32_t x) { float f; memcpy(&f, &x, sizeof f); return f; }
static uint32_t bits_of(float f) { uint32_t x; memcpy(&x, &f, sizeof x); return x; }

static uint16_t to_f16(float f) { uint16_t h, hp; kn__f32_to_f16(&f, &h, 1); kn__f32_to_f16_portable(&f, &hp, 1); CHECK(h == hp, "f16 one: %a", (double)f); return h; }
static uint16_t to_bf16(float f) { uint16_t h, hp; kn__f32_to_bf16(&f, &h, 1); kn__f32_to_bf16_portable(&f, &hp, 1); CHECK(h == hp, "bf16 one: %a", (double)f); return h; }

/* Both paths over a whole buffer (n >= 16 exercises the vector loops, n % 16 the tails). */
static void compare_paths(const float *x, size_t n) {
    uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
    float *fa = malloc(n * 4), *fb = malloc(n * 4);
    kn__f32_to_f16(x, a, n);
    kn__f32_to_f16_portable(x, b, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += a[i] != b[i];
    CHECK(bad == 0, "f32->f16: %zu of %zu differ between the vector and portable paths", bad, n);
    kn__f32_to_bf16(x, a, n);
    kn__f32_to_bf16_portable(x, b, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += a[i] != b[i];
    CHECK(bad == 0, "f32->bf16: %zu of %zu differ", bad, n);
    for (size_t i = 0; i < n; i++) a[i] = (uint16_t)bits_of(x[i]);
    kn__f16_to_f32(a, fa, n);
    kn__f16_to_f32_portable(a, fb, n);
    CHECK(memcmp(fa, fb, n * 4) == 0, "f16->f32 paths differ");
    kn__bf16_to_f32(a, fa, n);
    kn__bf16_to_f32_portable(a, fb, n);
    CHECK(memcmp(fa, fb, n * 4) == 0, "bf16->f32 paths differ");
    free(a), free(b), free(fa), free(fb);
}

/* One row times half weights (gemv_half.c) against the f32 product of the widened weights
 * (sgemm.c), for each instruction set this CPU runs: the same bits, column counts around
 * the 8- and 64-column strips, odd and even k, 1 and 3 threads. */
static void half_gemv(void) {
    static const int64_t ns[] = {1, 7, 8, 9, 63, 64, 65, 130}, ks[] = {1, 2, 5, 784};
    int checked = 0, equal = 0;
    for (int isa = KN_SGEMM_PORTABLE; isa <= (int)kn__sgemm_isa_best(); isa++)
        for (int d = 0; d < 2; d++)
            for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
                for (size_t b = 0; b < sizeof ks / sizeof *ks; b++) {
                    int64_t n = ns[a], k = ks[b];
                    float *x = malloc(sizeof(float) * (size_t)k), *w = malloc(sizeof(float) * (size_t)(n * k));
                    float *y1 = malloc(sizeof(float) * (size_t)n), *y2 = malloc(sizeof(float) * (size_t)n);
                    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(n * k));
                    for (int64_t i = 0; i < k; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
                    for (int64_t i = 0; i < n * k; i++) w[i] = (float)((i * 53) % 211) / 100.0f - 1.05f;
                    if (d) kn__f32_to_bf16(w, h, (size_t)(n * k)), kn__bf16_to_f32(h, w, (size_t)(n * k));
                    else kn__f32_to_f16(w, h, (size_t)(n * k)), kn__f16_to_f32(h, w, (size_t)(n * k));
                    for (int threads = 1; threads <= 3; threads += 2) {
                        kn__sgemm_isa((kn_sgemm_isa)isa, false, false, 1, n, k, 1.0f, x, k, w, n, 0.0f, y1, n, 1);
                        kn__gemv_half_isa(isa, d ? KN_BF16 : KN_F16, n, k, x, h, n, y2, threads);
                        checked++;
                        equal += memcmp(y1, y2, sizeof(float) * (size_t)n) == 0;
                        if (isa == KN_SGEMM_PORTABLE) { /* a plain loop: not FMA, so close, not equal */
                            double e = 0;
                            for (int64_t j = 0; j < n; j++) e = fmax(e, fabs((double)y1[j] - y2[j]));
                            equal += e < 1e-4 * (double)k && memcmp(y1, y2, sizeof(float) * (size_t)n) != 0;
                        }
                    }
                    free(x), free(w), free(y1), free(y2), free(h);
                }
    printf("half-weight row products equal to the widened f32 ones: %d/%d\n", equal, checked);
    CHECK(equal == checked, "half-weight row products differ from the f32 product of the widened weights (%d/%d)", equal,
          checked);
}

int main(void) {
    /* every f16 pattern: to f32 and back is exact; NaNs stay NaNs of the same sign */
    static uint16_t h[65536], back[65536];
    static float f[65536], fp[65536];
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    kn__f16_to_f32(h, f, 65536);
    kn__f16_to_f32_portable(h, fp, 65536);
    CHECK(memcmp(f, fp, sizeof f) == 0, "f16->f32: vector and portable differ");
    kn__f32_to_f16(f, back, 65536);
    int bad = 0;
    for (int i = 0; i < 65536; i++) {
        bool nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
        if (nan) bad += !isnan(f[i]) || (back[i] & 0x7c00) != 0x7c00 || !(back[i] & 0x3ff) || (back[i] ^ i) & 0x8000;
        else bad += back[i] != i;
    }
    CHECK(bad == 0, "f16 round trip: %d patterns changed", bad);
    CHECK(f[0x3c00] == 1.0f && f[0x0001] == 0x1p-24f && f[0x7bff] == 65504.0f && isinf(f[0x7c00]) && f[0x8000] == 0 &&
              signbit(f[0x8000]), "f16 values");
    /* every bf16 pattern: exact, and back */
    kn__bf16_to_f32(h, f, 65536);
    kn__f32_to_bf16(f, back, 65536);
    bad = 0;
    for (int i = 0; i < 65536; i++) {
        bool nan = (i & 0x7f80) == 0x7f80 && (i & 0x7f);
        bad += bits_of(f[i]) != (uint32_t)i << 16;
        bad += nan ? back[i] != (i | 0x40) : back[i] != i; /* a signalling NaN comes back quiet */
    }
    CHECK(bad == 0, "bf16 round trip: %d patterns changed", bad);

    /* f16 rounding: ties to even, overflow, subnormals */
    CHECK(to_f16(1.0f + 0x1p-11f) == 0x3c00, "1 + 2^-11 ties down to 1");
    CHECK(to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02, "1 + 3*2^-11 ties up to 1 + 2^-9");
    CHECK(to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01, "just past the tie rounds up");
    CHECK(to_f16(65519.0f) == 0x7bff, "65519 -> 65504");
    CHECK(to_f16(65520.0f) == 0x7c00, "65520 -> inf");
    CHECK(to_f16(-65520.0f) == 0xfc00, "-65520 -> -inf");
    CHECK(to_f16(1e30f) == 0x7c00 && to_f16(INFINITY) == 0x7c00 && to_f16(-INFINITY) == 0xfc00, "inf");
    CHECK(to_f16(0x1p-24f) == 0x0001, "2^-24 is the smallest subnormal");
    CHECK(to_f16(0x1p-25f) == 0x0000, "2^-25 ties to 0");
    CHECK(to_f16(-0x1p-25f) == 0x8000, "-2^-25 ties to -0");
    CHECK(to_f16(3 * 0x1p-25f) == 0x0002, "3*2^-25 ties up to 2^-23");
    CHECK(to_f16(0x1p-25f + 0x1p-40f) == 0x0001, "past half the smallest subnormal rounds up");
    CHECK(to_f16(0x1p-14f - 0x1p-25f) == 0x0400, "the largest subnormal's tie carries into the normals");
    CHECK(to_f16(0x1p-149f) == 0 && to_f16(-0.0f) == 0x8000, "f32 subnormal and -0");
    CHECK(to_f16(NAN) == 0x7e00 && to_f16(-NAN) == 0xfe00, "quiet NaN keeps its sign");
    uint16_t q = to_f16(f32_of(0x7f800001u)); /* a signalling NaN with a payload too low for f16 */
    CHECK((q & 0x7c00) == 0x7c00 && (q & 0x3ff), "signalling NaN stays NaN: %04x", q);
    q = to_f16(f32_of(0xffa00000u));
    CHECK(q == 0xff00, "NaN payload (bit 21 -> bit 8) quieted with its sign: %04x", q);

    /* bf16 rounding: ties at bit 16, overflow, subnormals, NaN */
    CHECK(to_bf16(f32_of(0x3f808000u)) == 0x3f80, "1 + 2^-8 ties down to 1");
    CHECK(to_bf16(f32_of(0x3f818000u)) == 0x3f82, "tie with an odd last bit rounds up");
    CHECK(to_bf16(f32_of(0x3f808001u)) == 0x3f81, "just past the tie rounds up");
    CHECK(to_bf16(f32_of(0x3f807fffu)) == 0x3f80, "just below the tie rounds down");
    CHECK(to_bf16(f32_of(0x3fff8000u)) == 0x4000, "carry into the exponent");
    CHECK(to_bf16(f32_of(0x7f7fffffu)) == 0x7f80, "FLT_MAX rounds up to inf");
    CHECK(to_bf16(f32_of(0x7f7f7fffu)) == 0x7f7f, "below the overflow tie stays finite");
    CHECK(to_bf16(f32_of(0xff7fffffu)) == 0xff80, "-FLT_MAX rounds to -inf");
    CHECK(to_bf16(INFINITY) == 0x7f80 && to_bf16(-INFINITY) == 0xff80, "inf");
    CHECK(to_bf16(f32_of(0x00008000u)) == 0x0000, "subnormal tie to 0");
    CHECK(to_bf16(f32_of(0x00018000u)) == 0x0002, "subnormal tie up");
    CHECK(to_bf16(f32_of(0x007fffffu)) == 0x0080, "largest subnormal rounds to the smallest normal");
    CHECK(to_bf16(f32_of(0x80008000u)) == 0x8000, "negative subnormal tie to -0");
    CHECK(to_bf16(NAN) == 0x7fc0 && to_bf16(-NAN) == 0xffc0, "quiet NaN keeps its sign");
    CHECK(to_bf16(f32_of(0x7f800001u)) == 0x7fc0, "signalling NaN, low payload: quiet, not inf");
    CHECK(to_bf16(f32_of(0xffffffffu)) == 0xffff, "all-ones NaN stays (no carry into the sign)");
    CHECK(to_bf16(f32_of(0x7fa10000u)) == 0x7fe1, "payload kept, quieted");

    /* vector vs portable: a random sweep of f32 patterns with specials mixed in, odd lengths */
    size_t n = (size_t)1 << 22;
    float *x = malloc(n * sizeof *x);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    static const uint32_t special[] = {0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u,
                                       0xff800001u, 0x7fffffffu, 0xffffffffu, 0x00000001u, 0x807fffffu, 0x7f7fffffu,
                                       0x477fe000u, 0x477ff000u, 0x477fefffu, 0x33000000u, 0x33000001u, 0x387fe000u,
                                       0x3f808000u, 0x3f818000u, 0x3f801000u, 0x3f803000u};
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t r = (uint32_t)(s >> 32);
        if (i % 7 == 0) r = special[(s >> 8) % (sizeof special / sizeof *special)];
        else if (i % 7 == 1) r = (r & 0x8000ffffu) | (uint32_t)(0x30 + (s >> 4) % 0x20) << 23; /* near f16's range, low bits set */
        else if (i % 7 == 2) r = (r & 0xffff0000u) | (((uint32_t)s & 1) ? 0x8000u : 0x7fffu);  /* bf16 ties and near-ties */
        x[i] = f32_of(r);
    }
    compare_paths(x, n);
    for (size_t len = 0; len < 40; len++) compare_paths(x + 3, len); /* every tail, unaligned */
    free(x);
    half_gemv();
    if (!failures) printf("test_half: ok\n");
    return failures != 0;
}
