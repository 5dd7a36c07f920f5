/* dropout.c — inverted dropout. Element i of node key k at step t is dropped when a uniform
 * draw from kiln's counter RNG falls below the rate: the node's own key is
 * rng(seed, KN_STREAM_DROPOUT, (t, k)) and element i's draw rng(key, KN_STREAM_DROPOUT + 1, i),
 * a pure function of (seed, t, k, i), so any split over threads gives the same mask, and
 * (when fit accumulates gradients over several batches per step) of the batch's place m
 * in the accumulation, the key then rng(key, KN_STREAM_DROPOUT + 2, m); and
 * the backward node (same key, same step) recomputes the forward's mask instead of storing
 * it. Outside training the op is a copy, or nothing when the in-place pass gave it its
 * input's memory. In mixed precision x and y may be half: a block of KN_HALF_BLOCK is
 * widened, masked in f32 and narrowed; the mask depends on the element index alone, so it
 * is the f32 mask exactly. With iparam[1] S > 0 (kn_spatial_dropout, an RNN's input
 * dropout) S steps share a mask: the draws are those of the mask's elements. The draws run eight
 * (AVX-512) or four (AVX2) to a vector where the CPU has them, the same bits (dropout_isa). */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const kn_tensor *x;
    kn_tensor *y;
    uint64_t key;       /* kn__rng_key(node key, KN_STREAM_DROPOUT + 1) */
    uint32_t threshold; /* drop when the element's 16-bit draw is below this */
    float scale;
    int64_t steps, features; /* a mask shared by steps (iparam[1], [2]); 0: one draw an element */
} dropout_args;

/* One 64-bit draw gives four elements their 16-bit draws: element i takes bits
 * 16 (i % 4) .. 16 (i % 4) + 15 of draw i / 4 under the node's key, still a pure function
 * of (key, i) whatever the split. 16 bits put the rate within 2^-17 of the one asked for.
 * Elements are kept or zeroed by a bit mask, not a branch (a quarter to a half of such
 * branches mispredict: 5 ns an element), and consecutive draws overlap in the pipeline. */
static inline float keep_or_zero(float v, uint32_t draw16, uint32_t threshold) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= 0u - (uint32_t)(draw16 >= threshold);
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Elements [lo, hi) of the tensors: y[i - lo] from x[i - lo] (f32 blocks starting at
 * element lo; the draws take the element index i). */
static void dropout_block(const dropout_args *a, const float *xb, float *yb, int64_t lo, int64_t hi) {
    const float *x = xb; /* no restrict: y may be x (in place) */
    float *y = yb;
    const uint32_t t = a->threshold;
    const float s = a->scale;
    for (int64_t i = lo; i < hi;) {
        uint64_t r = kn__rng_draw(a->key, (uint64_t)i >> 2);
        if ((i & 3) == 0 && i + 4 <= hi) { /* a whole group */
            int64_t j = i - lo;
            float v0 = x[j] * s, v1 = x[j + 1] * s, v2 = x[j + 2] * s, v3 = x[j + 3] * s;
            y[j] = keep_or_zero(v0, (uint32_t)(r & 0xffffu), t);
            y[j + 1] = keep_or_zero(v1, (uint32_t)((r >> 16) & 0xffffu), t);
            y[j + 2] = keep_or_zero(v2, (uint32_t)((r >> 32) & 0xffffu), t);
            y[j + 3] = keep_or_zero(v3, (uint32_t)(r >> 48), t);
            i += 4;
        } else { /* the ends of a range that splits a group */
            y[i - lo] = keep_or_zero(x[i - lo] * s, (uint32_t)(r >> (16 * (i & 3))) & 0xffffu, t);
            i++;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DROPOUT_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw")))

/* kn__mix64 on eight lanes (vpmullq: AVX512DQ). */
DROPOUT_AVX512 static inline __m512i mix64_x8(__m512i z) {
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64((long long)0x94d049bb133111ebULL));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

/* dropout_block, 32 elements (eight draws) at a time: the draws of groups g .. g+7 in eight
 * 64-bit lanes are, read as 32 16-bit lanes, the draws of elements 4g .. 4g+31 in order (lane
 * 4k + j holds bits 16j .. 16j+15 of draw k), so one compare gives the keep mask. The same
 * draws and the same products as dropout_block: the mask and y are bit for bit its own. The
 * scalar loop was ~5 cycles an element, two 64-bit multiply chains per four. */
DROPOUT_AVX512 static void dropout_block_avx512(const dropout_args *a, const float *xb, float *yb, int64_t lo,
                                                int64_t hi) {
    int64_t i = (lo + 3) & ~(int64_t)3; /* the first whole group */
    if (i > hi) i = hi;
    if (i > lo) dropout_block(a, xb, yb, lo, i);
    const __m512i key = _mm512_set1_epi64((long long)a->key), step = _mm512_set1_epi64(8);
    const __m512i t16 = _mm512_set1_epi16((short)(a->threshold > 0xffffu ? 0xffff : a->threshold));
    const bool none = a->threshold > 0xffffu; /* a rate of 1: nothing kept */
    const __m512 s = _mm512_set1_ps(a->scale);
    __m512i ctr = _mm512_add_epi64(_mm512_set1_epi64((long long)(((uint64_t)i >> 2) + 0x632be59bd9b4e019ULL)),
                                   _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    for (; i + 32 <= hi; i += 32, ctr = _mm512_add_epi64(ctr, step)) {
        __m512i draw = mix64_x8(_mm512_xor_si512(key, mix64_x8(ctr)));
        __mmask32 keep = none ? 0 : _mm512_cmpge_epu16_mask(draw, t16);
        const float *x = xb + (i - lo);
        float *y = yb + (i - lo);
        __m512 v0 = _mm512_mul_ps(_mm512_loadu_ps(x), s), v1 = _mm512_mul_ps(_mm512_loadu_ps(x + 16), s);
        _mm512_storeu_ps(y, _mm512_maskz_mov_ps((__mmask16)keep, v0));
        _mm512_storeu_ps(y + 16, _mm512_maskz_mov_ps((__mmask16)(keep >> 16), v1));
    }
    if (i < hi) dropout_block(a, xb + (i - lo), yb + (i - lo), i, hi);
}

#define DROPOUT_AVX2 __attribute__((target("avx2")))

/* z * m mod 2^64 on four lanes, m a constant, from three 32 x 32 -> 64-bit products (AVX2
 * has no 64-bit multiply). */
DROPOUT_AVX2 static inline __m256i mullo64_x4(__m256i z, uint64_t m) {
    const __m256i lo = _mm256_set1_epi64x((long long)(m & 0xffffffffu)), hi = _mm256_set1_epi64x((long long)(m >> 32));
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(z, 32), lo), _mm256_mul_epu32(z, hi));
    return _mm256_add_epi64(_mm256_mul_epu32(z, lo), _mm256_slli_epi64(cross, 32));
}

DROPOUT_AVX2 static inline __m256i mix64_x4(__m256i z) {
    z = mullo64_x4(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), 0xbf58476d1ce4e5b9ULL);
    z = mullo64_x4(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), 0x94d049bb133111ebULL);
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

/* dropout_block_avx512 at four draws (16 elements) a step: the 16-bit lanes compared with
 * max(draw, t) == draw (AVX2 compares only signed 16-bit lanes), each half widened to a
 * 32-bit mask for its eight floats. */
DROPOUT_AVX2 static void dropout_block_avx2(const dropout_args *a, const float *xb, float *yb, int64_t lo, int64_t hi) {
    int64_t i = (lo + 3) & ~(int64_t)3;
    if (i > hi) i = hi;
    if (i > lo) dropout_block(a, xb, yb, lo, i);
    const __m256i key = _mm256_set1_epi64x((long long)a->key), step = _mm256_set1_epi64x(4);
    const __m256i t16 = _mm256_set1_epi16((short)(a->threshold > 0xffffu ? 0xffff : a->threshold));
    const __m256i none = _mm256_set1_epi16(a->threshold > 0xffffu ? 0 : -1); /* a rate of 1: nothing kept */
    const __m256 s = _mm256_set1_ps(a->scale);
    __m256i ctr = _mm256_add_epi64(_mm256_set1_epi64x((long long)(((uint64_t)i >> 2) + 0x632be59bd9b4e019ULL)),
                                   _mm256_set_epi64x(3, 2, 1, 0));
    for (; i + 16 <= hi; i += 16, ctr = _mm256_add_epi64(ctr, step)) {
        __m256i draw = mix64_x4(_mm256_xor_si256(key, mix64_x4(ctr)));
        __m256i keep = _mm256_and_si256(_mm256_cmpeq_epi16(_mm256_max_epu16(draw, t16), draw), none);
        __m256 m0 = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(keep)));
        __m256 m1 = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(keep, 1)));
        const float *x = xb + (i - lo);
        float *y = yb + (i - lo);
        __m256 v0 = _mm256_mul_ps(_mm256_loadu_ps(x), s), v1 = _mm256_mul_ps(_mm256_loadu_ps(x + 8), s);
        _mm256_storeu_ps(y, _mm256_and_ps(v0, m0));
        _mm256_storeu_ps(y + 8, _mm256_and_ps(v1, m1));
    }
    if (i < hi) dropout_block(a, xb + (i - lo), yb + (i - lo), i, hi);
}

/* The widest the CPU runs: 2 AVX-512 (F, DQ, BW), 1 AVX2, 0 neither; KILN_DROPOUT_ISA=avx2 or
 * scalar caps it (tests run each path against the pure function). */
static int dropout_isa(void) {
    static int isa = -1;
    if (isa < 0) {
        const char *e = getenv("KILN_DROPOUT_ISA");
        int cap = e && strcmp(e, "scalar") == 0 ? 0 : e && strcmp(e, "avx2") == 0 ? 1 : 2;
        int has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512bw")
                      ? 2
                      : __builtin_cpu_supports("avx2") ? 1 : 0;
        isa = has < cap ? has : cap;
    }
    return isa;
}
#endif

/* A mask shared by steps (iparam[1] S > 0): element i draws mask element (i / (S F)) F +
 * i % F, one draw at a time. */
static void shared_block(const dropout_args *a, const float *x, float *y, int64_t lo, int64_t hi) {
    int64_t sf = a->steps * a->features;
    for (int64_t i = lo; i < hi; i++) {
        uint64_t e = (uint64_t)((i / sf) * a->features + i % a->features);
        y[i - lo] = x[i - lo] * kn__cpu_dropout_keep(a->key, e, a->threshold, a->scale);
    }
}

static void dropout_range(void *p, int64_t lo, int64_t hi) {
    const dropout_args *a = p;
    void (*block)(const dropout_args *, const float *, float *, int64_t, int64_t) = a->steps ? shared_block
                                                                                            : dropout_block;
#if defined(__x86_64__) && defined(__GNUC__)
    if (!a->steps && dropout_isa() == 2) block = dropout_block_avx512;
    else if (!a->steps && dropout_isa() == 1) block = dropout_block_avx2;
#endif
    if (!kn__is_half(a->x) && !kn__is_half(a->y)) {
        block(a, (const float *)a->x->data + lo, (float *)a->y->data + lo, lo, hi);
        return;
    }
    float xb[KN_HALF_BLOCK], yb[KN_HALF_BLOCK];
    for (int64_t b = lo; b < hi; b += KN_HALF_BLOCK) {
        int64_t n = hi - b < KN_HALF_BLOCK ? hi - b : KN_HALF_BLOCK;
        float *y = kn__write_f32(a->y, b, yb);
        block(a, kn__read_f32(a->x, b, n, xb), y, b, b + n);
        kn__write_done(a->y, b, n, y);
    }
}

uint64_t kn__cpu_dropout_key(const kn_graph *g, uint32_t node_key, float rate, uint32_t *threshold, float *scale) {
    /* (step, key) -> one 64-bit key per node and step; the build index is below 2^31 */
    uint64_t node = ((uint64_t)g->rng_step << 32) ^ (uint64_t)node_key;
    uint64_t key = kn__rng_u64(g->ctx->seed, KN_STREAM_DROPOUT, node);
    if (g->rng_micro) key = kn__rng_u64(key, KN_STREAM_DROPOUT + 2, (uint64_t)g->rng_micro);
    double thr = (double)rate * 65536.0 + 0.5;
    *threshold = thr >= 65536.0 ? 65536u : (uint32_t)thr;
    *scale = 1.0f / (1.0f - rate);
    return kn__rng_key(key, KN_STREAM_DROPOUT + 1);
}

void kn__cpu_dropout(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    float rate = t->fparam[0];
    if (!g->training || rate == 0.0f) { /* y = x, converting when stored differently */
        kn__cpu_copy(g, t);
        return;
    }
    dropout_args a = {x, t, 0, 0, 0.0f, t->iparam[1] > 0 ? t->iparam[1] : 0, t->iparam[2]};
    a.key = kn__cpu_dropout_key(g, (uint32_t)t->iparam[0], rate, &a.threshold, &a.scale);
    kn__parallel_for(g, kn__numel(t), KN_GRAIN, dropout_range, &a);
}
