/* test_augment.c — the augmentation kernels (data/augment.c): shift, rotation, flip and
 * erasing against hand-worked images, determinism per (seed, stream, key) whatever the
 * batch, the rates of the random ops, the noise's spread, and the config checks.
 * Prints the time of one 32 x 28 x 28 batch with every op on, and with the loader's config
 * (not asserted). */
#include "data/augment.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "check.h"

static bool same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static void test_shift(void) {
    /* 3x4, value = 10 row + col + 1 (no zeros, so a 0 means "uncovered"). */
    float src[12], dst[12];
    for (int i = 0; i < 12; i++) src[i] = (float)(10 * (i / 4) + i % 4 + 1);
    kn__augment_shift_one(src, dst, 3, 4, 1, 1, 0); /* one row down */
    const float down[12] = {0, 0, 0, 0, 1, 2, 3, 4, 11, 12, 13, 14};
    CHECK(same(dst, down, 12), "shift (+1, 0) moves rows down, top row 0");
    kn__augment_shift_one(src, dst, 3, 4, 1, 0, -1); /* one column left */
    const float leftward[12] = {2, 3, 4, 0, 12, 13, 14, 0, 22, 23, 24, 0};
    CHECK(same(dst, leftward, 12), "shift (0, -1) moves columns left, last column 0");
    kn__augment_shift_one(src, dst, 3, 4, 1, -2, 3);
    const float corner[12] = {0, 0, 0, 21, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(same(dst, corner, 12), "shift (-2, +3) keeps only the bottom-left pixel, at top right");
    kn__augment_shift_one(src, dst, 3, 4, 1, 0, 5);
    int nonzero = 0;
    for (int i = 0; i < 12; i++) nonzero += dst[i] != 0;
    CHECK(nonzero == 0, "a shift wider than the image leaves zeros");

    /* c = 3: a pixel's channels move together. 2x2 RGB, pixel p has (p, 10 + p, 20 + p). */
    float rgb[12], out[12];
    for (int p = 0; p < 4; p++)
        for (int ch = 0; ch < 3; ch++) rgb[p * 3 + ch] = (float)(10 * ch + p + 1);
    kn__augment_shift_one(rgb, out, 2, 2, 3, 0, 1);
    const float want[12] = {0, 0, 0, 1, 11, 21, 0, 0, 0, 3, 13, 23};
    CHECK(same(out, want, 12), "shift (0, +1) on RGB moves whole pixels");
}

static void test_flip(void) {
    float x[6] = {1, 2, 3, 4, 5, 6};
    kn__augment_flip_one(x, 2, 3, 1);
    const float want[6] = {3, 2, 1, 6, 5, 4};
    CHECK(same(x, want, 6), "flip reverses each row");
    float rgb[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}; /* one row, 3 pixels of 3 channels */
    kn__augment_flip_one(rgb, 1, 3, 3);
    const float want_rgb[9] = {7, 8, 9, 4, 5, 6, 1, 2, 3};
    CHECK(same(rgb, want_rgb, 9), "flip on RGB keeps channels together");
}

static void test_rotate(void) {
    float src[9], dst[9];
    for (int i = 0; i < 9; i++) src[i] = (float)(i + 1); /* 1 2 3 / 4 5 6 / 7 8 9 */
    kn__augment_rotate_one(src, dst, 3, 3, 1, 0.0f);
    CHECK(same(src, dst, 9), "rotate 0 is the identity");
    kn__augment_rotate_one(src, dst, 3, 3, 1, 90.0f);
    /* Counter-clockwise as displayed: the right column becomes the top row (numpy rot90). */
    const float ccw[9] = {3, 6, 9, 2, 5, 8, 1, 4, 7};
    CHECK(same(dst, ccw, 9), "rotate 90 = rot90: %g %g %g / %g %g %g / %g %g %g", dst[0], dst[1], dst[2],
          dst[3], dst[4], dst[5], dst[6], dst[7], dst[8]);
    kn__augment_rotate_one(src, dst, 3, 3, 1, -90.0f);
    const float cw[9] = {7, 4, 1, 8, 5, 2, 9, 6, 3};
    CHECK(same(dst, cw, 9), "rotate -90 turns clockwise");
    kn__augment_rotate_one(src, dst, 3, 3, 1, 180.0f);
    const float half[9] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
    CHECK(same(dst, half, 9), "rotate 180 reverses the image");

    /* 45 degrees on 3x3: the corner (0, 0) comes from centre + (u cos - v sin, u sin + v cos)
     * with u = v = -1: (1, 1 - sqrt 2) -> x = 1, y = -0.414: row -1 is 0, so
     * 0.586 * src[0][1] = 0.586 * 2. Tolerance: float sin/cos and one bilinear blend. */
    kn__augment_rotate_one(src, dst, 3, 3, 1, 45.0f);
    float want = (2.0f - sqrtf(2.0f)) * 2.0f;
    CHECK(fabsf(dst[0] - want) < 1e-5f, "rotate 45 corner: %g, want %g", dst[0], want);
    CHECK(dst[4] == 5.0f, "the centre stays put: %g", dst[4]);
    /* Middle of the top edge: u = 0, v = -1 -> (1 + sin45, 1 - cos45) = (1.707, 0.293):
     * bilinear of 2, 3 (row 0) and 5, 6 (row 1). */
    float fx = 0.70710678f, fy = 1.0f - 0.70710678f;
    float top = 2 + fx * (3 - 2), bot = 5 + fx * (6 - 5);
    CHECK(fabsf(dst[1] - (top + fy * (bot - top))) < 1e-5f, "rotate 45 top middle: %g", dst[1]);

    /* Non-square, RGB: 90 degrees of 2x4 about (1.5, 0.5) sends half the pixels outside;
     * channels stay together. Each pixel (p, 10 + p, 20 + p). */
    float rgb[24], out[24];
    for (int p = 0; p < 8; p++)
        for (int ch = 0; ch < 3; ch++) rgb[p * 3 + ch] = (float)(10 * ch + p + 1);
    kn__augment_rotate_one(rgb, out, 2, 4, 3, 90.0f);
    /* out (y, x): u = x - 1.5, v = y - 0.5; source (1.5 - v, 0.5 + u) = (2 - y, x - 1):
     * only x in {1, 2} and y in {0, 1} land on the grid. */
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++) {
            int sx = 2 - y, sy = x - 1;
            bool in = sy >= 0 && sy < 2;
            for (int ch = 0; ch < 3; ch++) {
                float v = out[(y * 4 + x) * 3 + ch];
                float expect = in ? rgb[(sy * 4 + sx) * 3 + ch] : 0.0f;
                CHECK(v == expect, "rgb rot90 (%d, %d, %d): %g, want %g", y, x, ch, v, expect);
            }
        }
}

static void test_rotate_channels(void) {
    /* A c-channel rotation equals rotating each channel alone, bit for bit, at any angle,
     * shape and row width (the one- and many-channel code, the short path for points
     * inside and the one for the border, and rows narrower than 8 all agree). */
    enum { MAXP = 1500 * 5 };
    static float rgb[MAXP * 3], out[MAXP * 3], plane[MAXP], turned[MAXP];
    /* 70x60, 1500x5 and 20x300 are too big for the zero-bordered copy the one-channel code
     * samples small images from, so they read the image itself (1500x5 also has rows under
     * 8); rows over 256 wide are done in slices (3x300, 20x300); 20x37 has 5 groups of 8 a
     * row, so the code's chunks of 64 groups end mid-row. */
    const int shapes[][2] = {{19, 23}, {3, 5}, {8, 8}, {1, 9}, {12, 2}, {70, 60}, {1500, 5}, {3, 300}, {20, 300}, {20, 37}};
    int bad = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        int h = shapes[sh][0], w = shapes[sh][1];
        for (int i = 0; i < h * w * 3; i++) rgb[i] = (float)((i * 7919) % 1009) / 17.0f;
        for (int k = 0; k < 25; k++) {
            float deg = -180.0f + 14.7f * (float)k;
            kn__augment_rotate_one(rgb, out, h, w, 3, deg);
            for (int ch = 0; ch < 3; ch++) {
                for (int p = 0; p < h * w; p++) plane[p] = rgb[p * 3 + ch];
                kn__augment_rotate_one(plane, turned, h, w, 1, deg);
                for (int p = 0; p < h * w; p++) bad += memcmp(&turned[p], &out[p * 3 + ch], sizeof(float)) != 0;
            }
        }
    }
    CHECK(bad == 0, "rotating 3 channels together differs from one at a time in %d values", bad);
}

/* The draws the batch makes for a sample, with augment.c's fixed numbering (draw j of key k
 * is counter k * KN__AUGMENT_DRAWS + j: 1 the angle, 3 and 4 the shift, 8 the noise key). */
static uint64_t draw(uint64_t seed, uint64_t stream, int64_t key, int j) {
    return kn__rng_u64(seed, stream, (uint64_t)key * KN__AUGMENT_DRAWS + (uint64_t)j);
}
static float drawn_angle(const kn__augment *a, uint64_t seed, uint64_t stream, int64_t key) {
    return (2.0f * kn__rng_uniform(seed, stream, (uint64_t)key * KN__AUGMENT_DRAWS + 1) - 1.0f) * a->rotate;
}
static int drawn_shift(const kn__augment *a, uint64_t seed, uint64_t stream, int64_t key, int j) {
    uint64_t span = 2 * (uint64_t)a->shift + 1;
    return (int)(((draw(seed, stream, key, j) >> 32) * span) >> 32) - a->shift;
}

static void test_fused(void) {
    /* The batch turns, shifts and mirrors a sample in one pass (and shifts in place when it
     * does not turn): bit for bit what the single-image kernels give one after the other,
     * for every code path (small one-channel images, big ones, narrow ones, RGB). */
    enum { N = 6, MAXS = 70 * 60 };
    static float x[N * MAXS], orig[N * MAXS], want[MAXS], tmp[MAXS], scratch[MAXS];
    const int shapes[][3] = {{28, 28, 1}, {9, 10, 3}, {5, 7, 1}, {12, 2, 1}, {70, 60, 1}, {3, 40, 2}};
    int64_t key[N] = {5, 0, 77, 1234567, 3, 42};
    for (int rot = 0; rot < 2; rot++)
        for (int fl = 0; fl < 2; fl++)
            for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
                const int h = shapes[sh][0], w = shapes[sh][1], c = shapes[sh][2];
                const size_t S = (size_t)h * w * c;
                kn__augment a;
                kn__augment_defaults(&a);
                a.shift = sh == 2 ? 9 : 3; /* 9: wider than 5x7, whole images shift out */
                a.rotate = rot ? 40.0f : 0.0f;
                a.flip = (float)fl;
                for (size_t i = 0; i < N * S; i++) x[i] = orig[i] = (float)((i * 7919) % 1009) / 17.0f - 20.0f;
                kn__augment_batch(&a, x, N, h, w, c, 11, 4, key, scratch);
                int bad = 0;
                for (int i = 0; i < N; i++) {
                    const float *src = orig + i * S;
                    if (rot) {
                        kn__augment_rotate_one(src, tmp, h, w, c, drawn_angle(&a, 11, 4, key[i]));
                        src = tmp;
                    }
                    kn__augment_shift_one(src, want, h, w, c, drawn_shift(&a, 11, 4, key[i], 3),
                                          drawn_shift(&a, 11, 4, key[i], 4));
                    if (fl) kn__augment_flip_one(want, h, w, c);
                    bad += !same(x + i * S, want, S);
                }
                CHECK(bad == 0, "%dx%dx%d, rotate %d, flip %d: %d of %d samples differ from the kernels one by one",
                      h, w, c, rot, fl, bad, N);
            }
}

static void test_noise_values(void) {
    /* Each value against the generator worked in double: pair p of a sample is output p of
     * splitmix64 seeded by its noise key; u1 = (top 24 bits + 1) / 2^24, s = (low 24 bits)
     * / 2^24 - 1/2, bit 31 a sign; cos and sin values r cos(pi s), r sin(pi s) (times the
     * sign), r = sigma sqrt(-2 ln u1), laid out in blocks of 128: 64 cos values, then their
     * sin values. Sizes whose last block is short or odd, and guards past the batch. */
    enum { N = 3, GUARD = 40 };
    const int shapes[][3] = {{28, 28, 1}, {5, 7, 1}, {9, 10, 3}, {1, 1, 1}};
    const float sigma = 0.25f;
    static float x[N * 28 * 28 + GUARD];
    float scratch[28 * 28];
    int64_t key[N] = {9, 1000, 31};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const size_t S = (size_t)shapes[sh][0] * shapes[sh][1] * shapes[sh][2];
        kn__augment a;
        kn__augment_defaults(&a);
        a.noise = sigma;
        memset(x, 0, sizeof x);
        for (int g = 0; g < GUARD; g++) x[N * S + g] = 123.0f;
        kn__augment_batch(&a, x, N, shapes[sh][0], shapes[sh][1], shapes[sh][2], 3, 8, key, scratch);
        double worst = 0;
        int guards = 0;
        for (int i = 0; i < N; i++) {
            const uint64_t nkey = draw(3, 8, key[i], 8);
            for (size_t e = 0; e < S; e++) {
                const size_t block = e / 128, within = e % 128, p = block * 64 + within % 64;
                uint64_t z = nkey + (p + 1) * 0x9e3779b97f4a7c15ULL;
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                z ^= z >> 31;
                const double u1 = (double)((z >> 40) + 1) / 16777216.0, s = (double)(z & 0xffffff) / 16777216.0 - 0.5;
                const double r = (z >> 31 & 1 ? -1.0 : 1.0) * sigma * sqrt(-2.0 * log(u1));
                const double want = within < 64 ? r * cos(3.14159265358979323846 * s) : r * sin(3.14159265358979323846 * s);
                /* float log, sqrt and polynomials: a few 1e-7 of r */
                const double err = fabs(x[i * S + e] - want) / (sigma * (1.0 + fabs(r) / sigma));
                if (err > worst) worst = err;
            }
        }
        for (int g = 0; g < GUARD; g++) guards += x[N * S + g] != 123.0f;
        CHECK(worst < 2e-6, "%zu values: noise off the generator worked in double by %.3g sd", S, worst);
        CHECK(guards == 0, "%zu values: noise wrote past the batch (%d guards)", S, guards);
    }
}

static void test_erase(void) {
    kn__augment a;
    kn__augment_defaults(&a);
    a.erase = 1;
    enum { H = 28, W = 20, C = 2, N = 200 };
    static float x[N * H * W * C], scratch[H * W * C];
    int64_t key[N];
    for (int i = 0; i < N * H * W * C; i++) x[i] = 1.0f;
    for (int i = 0; i < N; i++) key[i] = i;
    kn__augment_batch(&a, x, N, H, W, C, 5, 6, key, scratch);
    int erased = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        int top, left, eh, ew;
        bool got = kn__augment_erase_rect(&a, H, W, 5, 6, key[i], &top, &left, &eh, &ew);
        if (!got) continue;
        erased++;
        double share = (double)eh * ew / (H * W), ratio = (double)eh / ew;
        /* Rounding the sides to whole pixels moves the share and ratio a little past the
         * drawn ranges: allow a pixel of slack on each side. */
        double share_lo = (sqrt(0.02 * H * W) - 1) * (sqrt(0.02 * H * W) - 1) / (H * W);
        if (share < share_lo || share > 0.33 * 1.25 || ratio < 0.3 / 1.5 || ratio > 3.3 * 1.5 ||
            top < 0 || left < 0 || top + eh > H || left + ew > W || eh >= H || ew >= W)
            bad++;
        const float *img = x + (size_t)i * H * W * C;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++)
                for (int ch = 0; ch < C; ch++) {
                    bool inside = y >= top && y < top + eh && xx >= left && xx < left + ew;
                    if (img[(y * W + xx) * C + ch] != (inside ? 0.0f : 1.0f)) bad++;
                }
    }
    /* With these ranges almost every first try fits (only hi shares with extreme ratios miss). */
    CHECK(erased > N * 9 / 10, "most samples find a rectangle: %d of %d", erased, N);
    CHECK(bad == 0, "erase zeroes exactly the drawn rectangle, of the drawn size: %d bad", bad);

    a.erase = 0.25f;
    for (int i = 0; i < N * H * W * C; i++) x[i] = 1.0f;
    kn__augment_batch(&a, x, N, H, W, C, 5, 6, key, scratch);
    int touched = 0;
    for (int i = 0; i < N; i++) {
        bool any = false;
        for (int j = 0; j < H * W * C; j++) any |= x[(size_t)i * H * W * C + j] == 0.0f;
        touched += any;
    }
    /* 200 samples at 0.25: 50 +- 6 (1 sigma); 25..75 is 4 sigma. */
    CHECK(touched > 25 && touched < 75, "erase 0.25 erases about a quarter: %d of %d", touched, N);
}

static void fill_pattern(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 37) % 101) / 101.0f;
}

static void all_on(kn__augment *a) {
    kn__augment_defaults(a);
    a->shift = 2;
    a->flip = 0.5f;
    a->rotate = 15;
    a->noise = 0.1f;
    a->erase = 0.5f;
}

static void test_determinism(void) {
    enum { H = 28, W = 28, C = 1, S = H * W * C, MAXS = 32 * 32 * 3 /* the largest image below */ };
    kn__augment a;
    all_on(&a);
    static float x1[4 * MAXS], x2[4 * MAXS], x3[4 * MAXS], scratch[MAXS];
    int64_t key[4] = {17, 3, 1000000, 42};
    fill_pattern(x1, 4 * S);
    memcpy(x2, x1, 4 * S * sizeof *x1);
    memcpy(x3, x1, 4 * S * sizeof *x1);
    kn__augment_batch(&a, x1, 4, H, W, C, 9, 2, key, scratch);
    kn__augment_batch(&a, x2, 4, H, W, C, 9, 2, key, scratch);
    CHECK(same(x1, x2, 4 * S), "same seed, stream, keys: identical bytes");
    for (int i = 0; i < 4; i++) kn__augment_batch(&a, x3 + i * S, 1, H, W, C, 9, 2, &key[i], scratch);
    CHECK(same(x1, x3, 4 * S), "a batch of 4 equals 4 batches of 1 with the same keys");
    /* Reversed order within the batch: each sample still gets its own result. */
    fill_pattern(x3, 4 * S);
    int64_t rkey[4] = {key[3], key[2], key[1], key[0]};
    float *rev = x2;
    for (int i = 0; i < 4; i++) memcpy(rev + i * S, x3 + (3 - i) * S, S * sizeof *rev);
    kn__augment_batch(&a, rev, 4, H, W, C, 9, 2, rkey, scratch);
    for (int i = 0; i < 4; i++)
        CHECK(same(rev + i * S, x1 + (3 - i) * S, S), "sample %d does not depend on its place in the batch", i);

    /* The same for narrow and multi-channel images (other code paths). */
    const int shapes[][3] = {{5, 7, 1}, {9, 10, 3}, {32, 32, 3}};
    for (int sh = 0; sh < 3; sh++) {
        int s = shapes[sh][0] * shapes[sh][1] * shapes[sh][2];
        fill_pattern(x1, 4 * (size_t)s);
        memcpy(x3, x1, 4 * (size_t)s * sizeof *x1);
        kn__augment_batch(&a, x1, 4, shapes[sh][0], shapes[sh][1], shapes[sh][2], 9, 2, key, scratch);
        for (int i = 0; i < 4; i++)
            kn__augment_batch(&a, x3 + i * s, 1, shapes[sh][0], shapes[sh][1], shapes[sh][2], 9, 2, &key[i], scratch);
        bool finite = true;
        for (int i = 0; i < 4 * s; i++) finite &= isfinite(x1[i]) != 0;
        CHECK(same(x1, x3, 4 * (size_t)s) && finite, "%dx%dx%d: a batch of 4 equals 4 batches of 1, finite",
              shapes[sh][0], shapes[sh][1], shapes[sh][2]);
    }

    /* Another key, stream or seed on the same picture gives another result. */
    static float y[4 * S];
    for (int i = 0; i < 4; i++) fill_pattern(y + i * S, S);
    int64_t k4[4] = {1, 2, 1, 1};
    kn__augment_batch(&a, y, 2, H, W, C, 9, 2, k4, scratch);
    kn__augment_batch(&a, y + 2 * S, 1, H, W, C, 9, 3, k4 + 2, scratch);
    kn__augment_batch(&a, y + 3 * S, 1, H, W, C, 10, 2, k4 + 3, scratch);
    CHECK(!same(y, y + S, S), "different keys differ");
    CHECK(!same(y, y + 2 * S, S), "different streams differ");
    CHECK(!same(y, y + 3 * S, S), "different seeds differ");
}

static void test_off(void) {
    enum { H = 5, W = 7, C = 3, N = 6, S = H * W * C };
    kn__augment a;
    kn__augment_defaults(&a);
    CHECK(!kn__augment_active(&a), "defaults are all off");
    a.rotate = 10;
    a.rotate_p = 0;
    a.shift_p = 0.5f; /* no shift size: still off */
    CHECK(!kn__augment_active(&a), "a zero probability or a zero size keeps an op off");
    float x[N * S], orig[N * S], scratch[S];
    fill_pattern(x, N * S);
    x[5] = -0.0f; /* signed zero and a NaN must pass through bit for bit */
    x[6] = NAN;
    memcpy(orig, x, sizeof x);
    int64_t key[N] = {0, 1, 2, 3, 4, 5};
    kn__augment_batch(&a, x, N, H, W, C, 1, 1, key, scratch);
    CHECK(memcmp(x, orig, sizeof x) == 0, "all-off leaves the data untouched, bitwise");
    a.rotate = 0;
    a.rotate_p = 1;
    a.flip = 1;
    CHECK(kn__augment_active(&a), "flip 1 is active");
}

static void test_rates(void) {
    /* Flip 0.5 over 10000 one-row samples (0, 1): binomial sd 0.5%, tolerance 2% = 4 sd. */
    enum { N = 10000 };
    static float x[N * 2];
    static int64_t key[N];
    float scratch[2];
    for (int i = 0; i < N; i++) {
        x[2 * i] = 0;
        x[2 * i + 1] = 1;
        key[i] = i;
    }
    kn__augment a;
    kn__augment_defaults(&a);
    a.flip = 0.5f;
    kn__augment_batch(&a, x, N, 1, 2, 1, 123, 7, key, scratch);
    int flipped = 0;
    for (int i = 0; i < N; i++) flipped += x[2 * i] == 1;
    CHECK(fabs(flipped / (double)N - 0.5) < 0.02, "flip 0.5 flips %.2f%%", 100.0 * flipped / N);

    /* Shift by at most 1 with shift_p 0.3: a single bright pixel in a 3x3 ends up at each of
     * the 9 places; the centre gets 0.7 + 0.3/9, every other place 0.3/9. */
    static float img[N * 9];
    memset(img, 0, sizeof img);
    for (int i = 0; i < N; i++) img[9 * i + 4] = 1;
    kn__augment_defaults(&a);
    a.shift = 1;
    a.shift_p = 0.3f;
    float scratch9[9];
    kn__augment_batch(&a, img, N, 3, 3, 1, 123, 7, key, scratch9);
    int where[9] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 9; j++) where[j] += img[9 * i + j] == 1;
    for (int j = 0; j < 9; j++) {
        double want = (j == 4 ? 0.7 : 0.0) + 0.3 / 9;
        /* 4.5 binomial sd (0.8% off centre, 2% at it): chance alone stays inside, while a
         * shift range off by one (places at 0 or 0.075) or a wrong shift_p does not. */
        double tol = 4.5 * sqrt(want * (1 - want) / N);
        CHECK(fabs(where[j] / (double)N - want) < tol, "shift place %d: %.4f, want %.4f +- %.4f", j,
              where[j] / (double)N, want, tol);
    }
}

static void test_noise(void) {
    enum { H = 28, W = 28, N = 100, S = H * W };
    static float x[N * S], scratch[S];
    int64_t key[N];
    for (int i = 0; i < N; i++) key[i] = 1000 + i;
    kn__augment a;
    kn__augment_defaults(&a);
    a.noise = 0.5f;
    memset(x, 0, sizeof x);
    kn__augment_batch(&a, x, N, H, W, 1, 77, 3, key, scratch);
    double sum = 0, sq = 0, quart = 0;
    int within1 = 0, within2 = 0;
    for (int i = 0; i < N * S; i++) {
        double v = x[i] / 0.5;
        sum += v;
        sq += v * v;
        quart += v * v * v * v;
        within1 += fabs(v) < 1;
        within2 += fabs(v) < 2;
    }
    double n = N * S, mean = sum / n, sd = sqrt(sq / n - mean * mean);
    /* 78400 values: the sd's standard error is 0.25%, the mean's 0.0036; 1.5% and 0.02 are
     * 6 standard errors, while a log off by a few percent moves the sd more. */
    CHECK(fabs(sd - 1) < 0.015, "noise sd %.4f x requested", sd);
    CHECK(fabs(mean) < 0.02, "noise mean %.4f sd", mean);
    /* Shape, not just spread: Gaussian shares within 1 and 2 sd, and the 4th moment 3. */
    CHECK(fabs(within1 / n - 0.6827) < 0.01, "share within 1 sd: %.4f", within1 / n);
    CHECK(fabs(within2 / n - 0.9545) < 0.005, "share within 2 sd: %.4f", within2 / n);
    CHECK(fabs(quart / n - 3) < 0.15, "fourth moment %.3f", quart / n);
    /* Neighbouring values are independent (the cos and sin halves of a block, too). */
    double lag1 = 0, lag64 = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j + 64 < S; j++) {
            lag1 += (double)x[i * S + j] * x[i * S + j + 1];
            lag64 += (double)x[i * S + j] * x[i * S + j + 64];
        }
    double pairs = N * (S - 64.0);
    CHECK(fabs(lag1 / pairs / 0.25) < 0.02 && fabs(lag64 / pairs / 0.25) < 0.02,
          "noise correlations %.4f (lag 1), %.4f (lag 64)", lag1 / pairs / 0.25, lag64 / pairs / 0.25);

    /* The two values of a Box-Muller pair are independent: at any distance under 128 (the
     * pairs lie within that), neither value of two is the larger in magnitude more often.
     * 78400 comparisons a distance: sd 0.18%, tolerance 1% (5.5 sd, over 127 distances). */
    double worst = 0;
    int worst_lag = 0;
    for (int lag = 1; lag < 128; lag++) {
        int larger = 0, count = 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j + lag < S; j++, count++) larger += fabsf(x[i * S + j]) > fabsf(x[i * S + j + lag]);
        double dev = fabs(larger / (double)count - 0.5);
        if (dev > worst) worst = dev, worst_lag = lag;
    }
    CHECK(worst < 0.01, "noise values %d apart: one is the larger %.1f%% of the time", worst_lag, 100 * (0.5 + worst));

    /* noise_p 0.5: about half the samples get noise at all. */
    a.noise_p = 0.5f;
    memset(x, 0, sizeof x);
    kn__augment_batch(&a, x, N, H, W, 1, 77, 3, key, scratch);
    int noisy = 0;
    for (int i = 0; i < N; i++) noisy += x[(size_t)i * S] != 0;
    /* 100 samples: 50 +- 5 (1 sd); 30..70 is 4 sd. */
    CHECK(noisy > 30 && noisy < 70, "noise_p 0.5: %d of %d samples noisy", noisy, N);
}

static void test_check(void) {
    kn_ctx *ctx;
    kn_ctx_new(NULL, &ctx);
    kn__augment a;
    kn__augment_defaults(&a);
    CHECK(kn__augment_check(ctx, &a) == KN_OK, "defaults pass: %s", kn_last_error(ctx));
    all_on(&a);
    CHECK(kn__augment_check(ctx, &a) == KN_OK, "a full config passes: %s", kn_last_error(ctx));
    kn__augment bad;
    const char *want;
#define TRY(field_text, stmt)                                                                  \
    do {                                                                                       \
        bad = a;                                                                               \
        stmt;                                                                                  \
        want = field_text;                                                                     \
        kn_status st = kn__augment_check(ctx, &bad);                                           \
        CHECK(st == KN_ERR_SPEC, "%s: status %s", #stmt, kn_status_name(st));                  \
        CHECK(strstr(kn_last_error(ctx), want) != NULL, "%s: message '%s' names %s", #stmt,    \
              kn_last_error(ctx), want);                                                       \
    } while (0)
    TRY("augment.flip: 1.5 is not a probability in [0, 1]", bad.flip = 1.5f);
    TRY("augment.flip:", bad.flip = NAN);
    TRY("augment.shift:", bad.shift = -1);
    TRY("augment.shift:", bad.shift = 65);
    TRY("augment.shift_p:", bad.shift_p = -0.1f);
    TRY("augment.rotate:", bad.rotate = 181);
    TRY("augment.rotate:", bad.rotate = -1);
    TRY("augment.rotate_p:", bad.rotate_p = 2);
    TRY("augment.noise:", bad.noise = -0.5f);
    TRY("augment.noise:", bad.noise = INFINITY);
    TRY("augment.noise_p:", bad.noise_p = 1.01f);
    TRY("augment.erase:", bad.erase = -1);
    TRY("augment.erase_scale:", bad.erase_scale[0] = 0);
    TRY("augment.erase_scale:", (bad.erase_scale[0] = 0.5f, bad.erase_scale[1] = 0.4f));
    TRY("augment.erase_scale:", bad.erase_scale[1] = 1.5f);
    TRY("augment.erase_ratio:", bad.erase_ratio[0] = 0);
    TRY("augment.erase_ratio:", (bad.erase_ratio[0] = 2, bad.erase_ratio[1] = 1));
    TRY("augment.erase_ratio:", bad.erase_ratio[1] = INFINITY);
    /* The edges of every range are allowed. */
    bad = a;
    bad.shift = 64;
    bad.rotate = 180;
    bad.flip = 1;
    bad.erase = 0;
    bad.erase_scale[0] = bad.erase_scale[1] = 1;
    bad.erase_ratio[0] = bad.erase_ratio[1] = 1;
    CHECK(kn__augment_check(ctx, &bad) == KN_OK, "range edges pass: %s", kn_last_error(ctx));
    kn_ctx_free(ctx);
}

/* Best and mean time of one augment call on 32 28x28 images, over at most 0.1 s (so that
 * sanitizer builds stay quick). */
static void time_batch(const kn__augment *a, const char *what) {
    enum { N = 32, H = 28, W = 28, S = H * W, REPS = 300 };
    static float x[N * S], scratch[S];
    int64_t key[N];
    for (int i = 0; i < N; i++) key[i] = i;
    fill_pattern(x, N * S);
    double best = 1e9, total = 0;
    int reps = 0;
    for (; reps < REPS && total < 0.1; reps++) {
        double t0 = kn__now();
        kn__augment_batch(a, x, N, H, W, 1, 1, (uint64_t)reps, key, scratch);
        double dt = kn__now() - t0;
        total += dt;
        if (dt < best) best = dt;
        if (reps % 16 == 15) fill_pattern(x, N * S); /* keep values from drifting under noise */
    }
    printf("augment 32x28x28, %s: best %.1f us, mean %.1f us per batch (%d runs)\n", what, best * 1e6,
           total / reps * 1e6, reps);
}

static void report_time(void) {
    kn__augment a;
    all_on(&a);
    time_batch(&a, "all ops on (flip, erase 0.5)");
    a.flip = a.erase = 1;
    time_batch(&a, "every op on every sample");
    /* What the background loader hides behind a training step of ~90 us: wants <= 60 us. */
    kn__augment_defaults(&a);
    a.shift = 2;
    a.flip = 0.5f;
    a.rotate = 10;
    a.noise = 0.05f;
    a.erase = 0.1f;
    time_batch(&a, "shift 2, flip 0.5, rotate 10, noise 0.05, erase 0.1");
}

int main(void) {
    test_shift();
    test_flip();
    test_rotate();
    test_rotate_channels();
    test_fused();
    test_erase();
    test_determinism();
    test_off();
    test_rates();
    test_noise();
    test_noise_values();
    test_check();
    report_time();
    if (!failures) printf("test_augment: all passed\n");
    return failures != 0;
}
