/* gemv_half.c — one row times a weight matrix stored in half precision (bf16 or IEEE f16):
 * the single-sample product of an inference graph whose model file is half (kiln convert),
 * when the graph keeps a half copy of its weights (graph.h, param_half). One sample's
 * dense layer streams its whole weight matrix for two flops a weight, so it runs at memory
 * speed: half the bytes, up to twice as fast. Weights are widened in registers (bf16: a
 * shift; f16: F16C) and every product accumulates in f32, in the same order and with the
 * same fused multiply-adds as the f32 kernel (sgemm.c's row strips), so the result is
 * bit for bit the f32 product of the widened weights. */
#include "cpu.h"
#include "core/half.h"
#include "core/pool.h"
#include "sgemm.h"

#include <math.h>

/* One column's sum, in the order the strips take it (for the columns past a multiple of 8). */
static float column(bool two, bool bf16, int64_t k, const float *x, const uint16_t *B, int64_t ldb) {
    float s = 0, t = 0;
    int64_t p = 0;
    for (; two && p + 2 <= k; p += 2) {
        float w0, w1;
        if (bf16) kn__bf16_to_f32(B + p * ldb, &w0, 1), kn__bf16_to_f32(B + (p + 1) * ldb, &w1, 1);
        else kn__f16_to_f32(B + p * ldb, &w0, 1), kn__f16_to_f32(B + (p + 1) * ldb, &w1, 1);
        s = fmaf(x[p], w0, s);
        t = fmaf(x[p + 1], w1, t);
    }
    for (; p < k; p++) {
        float w;
        if (bf16) kn__bf16_to_f32(B + p * ldb, &w, 1);
        else kn__f16_to_f32(B + p * ldb, &w, 1);
        s = fmaf(x[p], w, s);
    }
    return two ? s + t : s;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HALF_X86 1
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* Eight weights widened to f32. */
AVX2 static inline __m256 widen8(const uint16_t *p, bool bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* y[0 .. 8 nv) = x B over a strip of 8 nv columns, accumulators in registers. two: the
 * sums over even and odd k apart, added at the end, as sgemm.c's AVX-512 row strips take
 * them (one chain: its AVX2 strips), so each column's result is the f32 kernel's bit for bit
 * on either CPU (nv <= 4 with two chains: 16 registers). */
AVX2 static inline void strip(const int nv, const bool two, bool bf16, int64_t k, const float *x, const uint16_t *b,
                              int64_t ldb, float *y) {
    __m256 s[8], t[8];
#pragma GCC unroll 8
    for (int v = 0; v < 8; v++) s[v] = t[v] = _mm256_setzero_ps();
    int64_t p = 0;
    if (two)
        for (; p + 2 <= k; p += 2) {
            __m256 x0 = _mm256_broadcast_ss(x + p), x1 = _mm256_broadcast_ss(x + p + 1);
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                if (v < nv) {
                    s[v] = _mm256_fmadd_ps(x0, widen8(b + 8 * v, bf16), s[v]);
                    t[v] = _mm256_fmadd_ps(x1, widen8(b + ldb + 8 * v, bf16), t[v]);
                }
            b += 2 * ldb;
        }
    for (; p < k; p++) {
        __m256 xv = _mm256_broadcast_ss(x + p);
#pragma GCC unroll 8
        for (int v = 0; v < 8; v++)
            if (v < nv) s[v] = _mm256_fmadd_ps(xv, widen8(b + 8 * v, bf16), s[v]);
        b += ldb;
    }
#pragma GCC unroll 8
    for (int v = 0; v < 8; v++)
        if (v < nv) _mm256_storeu_ps(y + 8 * v, two ? _mm256_add_ps(s[v], t[v]) : s[v]);
}

AVX2 static void columns_avx2(bool two, bool bf16, int64_t j0, int64_t j1, int64_t k, const float *x,
                              const uint16_t *B, int64_t ldb, float *y) {
    const int width = two ? 4 : 8; /* vectors a strip */
    int64_t j = j0;
    while (j + 8 <= j1) {
        int nv = (int)((j1 - j) / 8 < width ? (j1 - j) / 8 : width);
#define S(NV_)                                                                                 \
    case NV_:                                                                                  \
        if (two) strip(NV_ < 4 ? NV_ : 4, true, bf16, k, x, B + j, ldb, y + j);                \
        else strip(NV_, false, bf16, k, x, B + j, ldb, y + j);                                 \
        break;
        switch (nv) { S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) }
#undef S
        j += 8 * nv;
    }
    for (; j < j1; j++) y[j] = column(two, bf16, k, x, B + j, ldb);
}
/* AVX-512: sixteen columns a vector, the two chains of sgemm.c's AVX-512 row strips. */
#define AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

AVX512 static inline __m512 widen16(const uint16_t *p, bool bf16) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

AVX512 static inline void strip512(const int nv, bool bf16, int64_t k, const float *x, const uint16_t *b, int64_t ldb,
                                   float *y) {
    __m512 s[4], t[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) s[v] = t[v] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 2 <= k; p += 2) {
        __m512 x0 = _mm512_set1_ps(x[p]), x1 = _mm512_set1_ps(x[p + 1]);
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            if (v < nv) {
                s[v] = _mm512_fmadd_ps(x0, widen16(b + 16 * v, bf16), s[v]);
                t[v] = _mm512_fmadd_ps(x1, widen16(b + ldb + 16 * v, bf16), t[v]);
            }
        b += 2 * ldb;
    }
    if (p < k) {
        __m512 x0 = _mm512_set1_ps(x[p]);
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            if (v < nv) s[v] = _mm512_fmadd_ps(x0, widen16(b + 16 * v, bf16), s[v]);
    }
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++)
        if (v < nv) _mm512_storeu_ps(y + 16 * v, _mm512_add_ps(s[v], t[v]));
}

AVX512 static void columns_avx512(bool bf16, int64_t j0, int64_t j1, int64_t k, const float *x, const uint16_t *B,
                                  int64_t ldb, float *y) {
    int64_t j = j0;
    while (j + 16 <= j1) {
        int nv = (int)((j1 - j) / 16 < 4 ? (j1 - j) / 16 : 4);
        switch (nv) {
        case 1: strip512(1, bf16, k, x, B + j, ldb, y + j); break;
        case 2: strip512(2, bf16, k, x, B + j, ldb, y + j); break;
        case 3: strip512(3, bf16, k, x, B + j, ldb, y + j); break;
        default: strip512(4, bf16, k, x, B + j, ldb, y + j); break;
        }
        j += 16 * nv;
    }
    if (j < j1) columns_avx2(true, bf16, j, j1, k, x, B, ldb, y); /* the last < 16 columns, same order */
}
#endif

/* Any CPU: the widened weights one at a time (the order of sgemm.c's plain loop: one chain). */
static void columns_portable(bool bf16, int64_t j0, int64_t j1, int64_t k, const float *x, const uint16_t *B,
                             int64_t ldb, float *y) {
    for (int64_t j = j0; j < j1; j++) y[j] = column(false, bf16, k, x, B + j, ldb);
}

typedef struct {
    bool bf16, two;
    int64_t n, k, ldb, chunk;
    const float *x;
    const uint16_t *B;
    float *y;
} gemv_job;

static void gemv_chunk(void *p, int64_t c) {
    const gemv_job *j = p;
    int64_t j0 = c * j->chunk, j1 = j0 + j->chunk < j->n ? j0 + j->chunk : j->n;
    if (j0 >= j1) return;
#ifdef HALF_X86
    /* F16C is not checked apart: every CPU with AVX2 and FMA has it (and clang 14's
     * __builtin_cpu_supports does not know the name) */
    if (j->two && __builtin_cpu_supports("avx512f")) {
        columns_avx512(j->bf16, j0, j1, j->k, j->x, j->B, j->ldb, j->y);
        return;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        columns_avx2(j->two, j->bf16, j0, j1, j->k, j->x, j->B, j->ldb, j->y);
        return;
    }
#endif
    columns_portable(j->bf16, j0, j1, j->k, j->x, j->B, j->ldb, j->y);
}

void kn__gemv_half_isa(int isa, kn_dtype dtype, int64_t n, int64_t k, const float *x, const uint16_t *B, int64_t ldb,
                       float *y, int threads) {
    /* columns in whole 64-column strips, one chunk a thread */
    int64_t strips = (n + 63) / 64, chunks = threads < strips ? threads : strips;
    if (chunks < 1) chunks = 1;
    gemv_job j = {dtype == KN_BF16, isa == KN_SGEMM_AVX512, n, k, ldb, (strips + chunks - 1) / chunks * 64, x, B, y};
    kn__pool_run(threads, chunks, gemv_chunk, &j);
}

void kn__gemv_half(kn_dtype dtype, int64_t n, int64_t k, const float *x, const uint16_t *B, int64_t ldb, float *y,
                   int threads) {
    kn__gemv_half_isa((int)kn__sgemm_isa_best(), dtype, n, k, x, B, ldb, y, threads);
}
