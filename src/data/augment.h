/* augment.h — random image augmentation for training batches: rotation, shift, horizontal
 * flip, random erasing and Gaussian noise, applied in place to (n, h, w, c) float images.
 * Every draw is keyed by (seed, stream, key of the sample), so a sample's result never
 * depends on the batch it sits in or on threads. No allocation; one thread per call. */
#ifndef KN_DATA_AUGMENT_H
#define KN_DATA_AUGMENT_H

#include "core/core.h"

/* What to do to each sample. Each op has a probability of being applied to a given
 * sample, drawn independently per sample and per op; an op whose size or probability is
 * 0 is off. Start from kn__augment_defaults (all off) and set the fields wanted. */
typedef struct kn__augment {
    int shift;            /* max shift in pixels, 0 = off: dy and dx each uniform integer
                           * in [-shift, shift]; uncovered pixels become 0 */
    float shift_p;        /* probability of shifting a sample (default 1) */
    float flip;           /* probability of a horizontal (left-right) flip, 0 = off */
    float rotate;         /* max rotation in degrees, 0 = off: angle uniform in
                           * [-rotate, rotate], about the image centre, bilinear; pixels
                           * that come from outside the image become 0 */
    float rotate_p;       /* probability of rotating a sample (default 1) */
    float noise;          /* Gaussian noise standard deviation added to every value, 0 = off */
    float noise_p;        /* probability of adding noise to a sample (default 1) */
    float erase;          /* probability of random erasing (torchvision RandomErasing):
                           * a rectangle of area share in erase_scale and aspect ratio
                           * (height / width) log-uniform in erase_ratio, up to 10 tries
                           * to fit one, filled with 0 in every channel; 0 = off */
    float erase_scale[2]; /* area share range {lo, hi} (default {0.02, 0.33}) */
    float erase_ratio[2]; /* aspect ratio range {lo, hi} (default {0.3, 3.3}) */
} kn__augment;

/* All ops off; shift_p = rotate_p = noise_p = 1; erase_scale {0.02, 0.33};
 * erase_ratio {0.3, 3.3}. */
void kn__augment_defaults(kn__augment *a);

/* True when at least one op can change a sample. */
bool kn__augment_active(const kn__augment *a);

/* Checks every field: shift in [0, 64], rotate in [0, 180], noise finite and >= 0,
 * probabilities in [0, 1], 0 < erase_scale[0] <= erase_scale[1] <= 1,
 * 0 < erase_ratio[0] <= erase_ratio[1] (finite). On a bad value returns KN_ERR_SPEC with
 * a message naming the field ("augment.flip: 1.5 is not a probability in [0, 1]"). */
kn_status kn__augment_check(kn_ctx *ctx, const kn__augment *a);

/* Counters reserved per sample key: draw j of sample i is counter key[i] * 64 + j, j < 64. */
#define KN__AUGMENT_DRAWS 64

/* Augments n samples in place. x: (n, h, w, c) floats, row-major, channels last (a 28x28
 * grey image stored as 784 floats is h = 28, w = 28, c = 1). key: (n) one key per sample,
 * e.g. the row's position in the epoch or its dataset index; stream: e.g. one per epoch.
 * Every draw for sample i is kn__rng_u64(seed, stream, key[i] * KN__AUGMENT_DRAWS + j) for
 * a fixed j per draw (the noise values come from a splitmix64 sequence seeded by one such
 * draw), so a sample's result depends only on (seed, stream, key[i]) and its pixels.
 * scratch: at least h * w * c floats, caller-owned (nothing is allocated).
 * Per sample, in this order: rotate, shift (done as one pass when both apply), flip,
 * erase, noise. a must have passed kn__augment_check; h, w, c >= 1 and h * w * c < 2^31.
 * Thread-safe (no shared state): callers may run batches on several threads. */
void kn__augment_batch(const kn__augment *a, float *x, int64_t n, int h, int w, int c,
                       uint64_t seed, uint64_t stream, const int64_t *key, float *scratch);

/* What kn__augment_batch does to one sample: its draws, made once (kn__augment_draw_one),
 * then applied (kn__augment_apply). A device that augments its own copy of the data
 * (the CUDA backend's resident training) takes these draws from the host, made by the same
 * code, so that it gives the host's bits without the host's libm (the angle's sine and
 * cosine, the erased rectangle's exp, log and sqrt). */
typedef struct kn__augment_draw {
    float sn, cs;               /* rotate: the turn's sine and cosine (sincos of the angle) */
    int32_t dy, dx;             /* the shift (0, 0: none) */
    int32_t top, left, eh, ew;  /* erase: the rectangle set to 0, rows [top, top + eh), columns [left, left + ew) */
    uint64_t noise_key;         /* noise: the splitmix64 key of the sample's pairs */
    uint8_t rotate, flip, erase, noise; /* which steps apply (in this order: rotate, shift and flip as one pass, then erase, then noise) */
    uint8_t pad[4];
} kn__augment_draw;
_Static_assert(sizeof(kn__augment_draw) == 48, "the draw's layout is the CUDA kernel's too (launch.h)");

/* Sample `key`'s draws under (seed, stream), as kn__augment_batch makes them. */
void kn__augment_draw_one(const kn__augment *a, int h, int w, uint64_t seed, uint64_t stream, int64_t key,
                          kn__augment_draw *d);
/* Applies d to img (h, w, c) in place; sigma: the noise's standard deviation (a->noise).
 * scratch: h * w * c floats (used for a rotation the in-place path cannot take). */
void kn__augment_apply(const kn__augment_draw *d, float *img, int h, int w, int c, float sigma, float *scratch);

/* The single-image kernels, exposed for tests. src, dst: (h, w, c), distinct. */

/* dst = src moved by dy rows down and dx columns right; uncovered pixels 0. */
void kn__augment_shift_one(const float *src, float *dst, int h, int w, int c, int dy, int dx);
/* dst = src rotated by degrees about ((w - 1) / 2, (h - 1) / 2), inverse-mapped with
 * bilinear interpolation; samples from outside the image are 0. A positive angle turns the
 * picture counter-clockwise as displayed with row 0 at the top (90 degrees moves the right
 * edge to the top: dst[y][x] = src[x][w - 1 - y] on a square image, numpy's rot90).
 * Multiples of 90 degrees are exact. */
void kn__augment_rotate_one(const float *src, float *dst, int h, int w, int c, float degrees);
/* Mirrors each row of x (h, w, c) in place, channels kept together. */
void kn__augment_flip_one(float *x, int h, int w, int c);
/* The erasing rectangle sample `key` would get: true and *top, *left, *height, *width
 * when one of the 10 tries fits (height < h and width < w, as torchvision), else false.
 * Does not draw the erase probability. */
bool kn__augment_erase_rect(const kn__augment *a, int h, int w, uint64_t seed, uint64_t stream,
                            int64_t key, int *top, int *left, int *height, int *width);

#endif
