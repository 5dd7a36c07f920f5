/* gemm_mixed.c — kn__gemm_mixed: the matrix products of mixed-precision training, whose
 * operands (activations, their gradients) are stored in f16 or bf16 while every sum is f32.
 * It runs sgemm.c's micro-kernels; only the packing and the handling of C differ:
 *  - half A or B is widened while it is packed (the packers read uint16_t), so no f32 copy
 *    of a whole matrix is ever made; a half operand is always packed (no in-place reads, no
 *    GEMV: those would need it in f32 in memory), an f32 one is read in place where sgemm.c
 *    would;
 *  - C is accumulated, over the whole k loop, in an f32 block: C itself when C is f32, else
 *    a thread-local (MC, NC) buffer that is narrowed into C once finished. The loops run
 *    (column panel, row block, k block) rather than sgemm.c's (column panel, k block, row
 *    block) so that block stays put; B's panel is re-packed for each row block, a pass over
 *    kc x nc per mc x nc x kc multiply-adds (1/144 of the work at MC = 144);
 *  - the epilogue runs on the f32 block, before narrowing.
 * Each element of C is one thread's, summed over the same k blocks (sgemm.c's) in the same
 * order whatever the split, so results do not depend on the thread count. All-f32 calls go
 * to sgemm.c untouched. Buffers: sgemm.c's packing buffers (656 KB a thread) and c_block
 * below (288 KB a thread, touched only when C is a half type); nothing is allocated.
 * With AVX512-BF16 (KN_SGEMM_AVX512_BF16, kn__gemm_mixed's default where the CPU has it,
 * KILN_BF16_DOT=0 to turn off) and a bf16 operand (no f16 one), the products are bf16 x bf16
 * by vdpbf16ps instead, on operands packed as bf16 pairs (bf16_mixed below): same loops,
 * k blocks, f32 block of C, epilogue and thread split. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "backend/cpu/sgemm_internal.h"
#include "core/half.h"
#include "core/pool.h"

#if defined(__x86_64__) || defined(__i386__)
#define KN_MIXED_X86 1
#include <immintrin.h>
#endif

#define ALWAYS_INLINE __attribute__((always_inline)) inline

enum { KC = KN__SGEMM_KC, MC = KN__SGEMM_MC, NC = KN__SGEMM_NC };

/* The f32 block of a half C being summed: (MC, NC), row stride nc. */
static _Thread_local float c_block[MC * NC] __attribute__((aligned(64)));

/* One product: the arguments of kn__gemm_mixed. */
typedef struct {
    kn_sgemm_isa isa; /* never KN_SGEMM_AVX512_BF16: that is `dot` */
    bool dot;         /* the bf16 dot-product path */
    bool ta, tb;
    int64_t m, n, k;
    const void *A;
    kn_gemm_type at;
    int64_t lda;
    const void *B;
    kn_gemm_type bt;
    int64_t ldb;
    float beta;
    void *C;
    kn_gemm_type ct;
    int64_t ldc;
    const kn_sgemm_epilogue *ep;
} mixed_gemm;

static size_t type_size(kn_gemm_type t) { return t == KN_GEMM_F32 ? sizeof(float) : sizeof(uint16_t); }

/* Address of element i of x (of type t). */
static ALWAYS_INLINE const void *elem(const void *x, kn_gemm_type t, int64_t i) {
    return (const char *)x + (size_t)i * type_size(t);
}

/* y[0..n) = x[0..n) widened (exact: every f16 and bf16 value is an f32). */
static void widen(const void *x, kn_gemm_type t, float *y, int64_t n) {
    if (t == KN_GEMM_F16)
        kn__f16_to_f32(x, y, (size_t)n);
    else if (t == KN_GEMM_BF16)
        kn__bf16_to_f32(x, y, (size_t)n);
    else
        memcpy(y, x, (size_t)n * sizeof *y);
}

/* y[0..n) = x[0..n) rounded to nearest even in type t. */
static void narrow(const float *x, kn_gemm_type t, void *y, int64_t n) {
    if (t == KN_GEMM_F16)
        kn__f32_to_f16(x, y, (size_t)n);
    else if (t == KN_GEMM_BF16)
        kn__f32_to_bf16(x, y, (size_t)n);
    else
        memcpy(y, x, (size_t)n * sizeof *x);
}

/* y[i] = x[i * stride] widened, i < n. */
static void widen_strided(const void *x, kn_gemm_type t, int64_t stride, float *y, int64_t n) {
    if (stride == 1) {
        widen(x, t, y, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) widen(elem(x, t, i * stride), t, y + i, 1);
}

/* Where the block of C at (r0, c0) is summed: C itself when f32 (*ldcb = ldc), else c_block
 * (*ldcb = cols), holding C widened when beta == 1. With beta == 0 it is zeroed only when
 * `zero` (a caller that sums its first k block with beta 0 need not). */
static float *c_block_start(const mixed_gemm *g, int64_t r0, int64_t rows, int64_t c0,
                            int64_t cols, bool zero, int64_t *ldcb) {
    const bool f32 = g->ct == KN_GEMM_F32;
    float *cb = f32 ? (float *)g->C + r0 * g->ldc + c0 : c_block;
    *ldcb = f32 ? g->ldc : cols;
    for (int64_t i = 0; i < rows; i++) {
        if (g->beta == 0 && zero)
            memset(cb + i * *ldcb, 0, (size_t)cols * sizeof *cb);
        else if (g->beta != 0 && !f32)
            widen(elem(g->C, g->ct, (r0 + i) * g->ldc + c0), g->ct, cb + i * cols, cols);
    }
    return cb;
}

/* The block is summed: epilogue in f32, then narrowed into C when C is a half type. */
static void c_block_finish(const mixed_gemm *g, float *cb, int64_t ldcb, int64_t r0, int64_t rows,
                           int64_t c0, int64_t cols) {
    if (g->ep) g->ep->fn(g->ep->args, cb, ldcb, r0, rows, c0, cols);
    if (g->ct != KN_GEMM_F32)
        for (int64_t i = 0; i < rows; i++)
            narrow(cb + i * ldcb, g->ct, (uint16_t *)g->C + (r0 + i) * g->ldc + c0, cols);
}

/* Any CPU: rows [r0, r0+m) x columns [c0, c0+n) of C, in (MC, NC) blocks, each summed by
 * rank-1 updates in k order from op(A)'s column p and op(B)'s row p, widened once per block
 * into the packing buffers ((MC) and (NC) floats). */
static void portable_mixed(const mixed_gemm *g, int64_t r0, int64_t m, int64_t c0, int64_t n) {
    float *acol, *brow;
    kn__sgemm_pack_bufs(&acol, &brow);
    for (int64_t jc = c0; jc < c0 + n; jc += NC) {
        const int64_t nc = c0 + n - jc < NC ? c0 + n - jc : NC;
        for (int64_t ic = r0; ic < r0 + m; ic += MC) {
            const int64_t mc = r0 + m - ic < MC ? r0 + m - ic : MC;
            int64_t ldcb;
            float *cb = c_block_start(g, ic, mc, jc, nc, true, &ldcb);
            for (int64_t p = 0; p < g->k; p++) {
                if (g->ta) /* A (k, m): op(A) column p is A's row p */
                    widen_strided(elem(g->A, g->at, p * g->lda + ic), g->at, 1, acol, mc);
                else
                    widen_strided(elem(g->A, g->at, ic * g->lda + p), g->at, g->lda, acol, mc);
                if (g->tb) /* B (n, k): op(B) row p is B's column p */
                    widen_strided(elem(g->B, g->bt, jc * g->ldb + p), g->bt, g->ldb, brow, nc);
                else
                    widen_strided(elem(g->B, g->bt, p * g->ldb + jc), g->bt, 1, brow, nc);
                for (int64_t i = 0; i < mc; i++) {
                    float *restrict c = cb + i * ldcb; // (nc)
                    const float a = acol[i];
                    for (int64_t j = 0; j < nc; j++) c[j] += a * brow[j];
                }
            }
            c_block_finish(g, cb, ldcb, ic, mc, jc, nc);
        }
    }
}

#ifdef KN_MIXED_X86

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* 8 elements of type t at x, widened. The branches on t are predicted for a whole panel. */
AVX2 static ALWAYS_INLINE __m256 load8(const void *x, kn_gemm_type t) {
    if (t == KN_GEMM_F32) return _mm256_loadu_ps(x);
    __m128i h = _mm_loadu_si128((const __m128i *)x);
    if (t == KN_GEMM_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); /* bf16: f32's top half */
}

/* The first n (1..8) elements at x, widened, lanes past n zero. Reads nothing past x + n
 * (a masked load has no 16-bit form before AVX-512BW, so a short group is copied first). */
AVX2 static ALWAYS_INLINE __m256 load_n(const void *x, kn_gemm_type t, int n) {
    if (n == 8) return load8(x, t);
    uint32_t tmp[8] = {0}; /* 8 f32 or 16 halves */
    memcpy(tmp, x, (size_t)n * type_size(t));
    return load8(tmp, t);
}

/* Element i of x (type t), widened. */
AVX2 static ALWAYS_INLINE float load1(const void *x, kn_gemm_type t, int64_t i) {
    if (t == KN_GEMM_F32) return ((const float *)x)[i];
    const uint16_t h = ((const uint16_t *)x)[i];
    if (t == KN_GEMM_F16) return _cvtsh_ss(h);
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* sgemm.c's pack_a_panel reading type t: rows [i, i+mr) x columns [p0, p0+kc) of op(A) as
 * one (kc, MR) panel, out[p*MR + r], widened. Rows mr..MR-1 are left unset. */
AVX2 static ALWAYS_INLINE void pack_a_typed(const int MR, bool ta, const void *A, kn_gemm_type t,
                                            int64_t lda, int64_t i, int64_t p0, int mr, int64_t kc,
                                            float *out) {
    if (ta) { /* A (k, m): the mr values of op(A)'s column p are contiguous; 8-float stores,
               * lanes >= MR overwritten by the next p (the buffer has slack for the last) */
        for (int64_t p = 0; p < kc; p++)
            _mm256_storeu_ps(out + p * MR, load_n(elem(A, t, (p0 + p) * lda + i), t, mr));
        return;
    }
    /* A (m, k): 8 x 8 transposes; rows past mr repeat row 0 and are overwritten */
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) r[q] = load8(elem(A, t, (i + (q < mr ? q : 0)) * lda + p0 + p), t);
        kn__avx2_transpose8(r);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + (p + q) * MR, r[q]);
    }
    for (; p < kc; p++)
        for (int r = 0; r < mr; r++) out[p * MR + r] = load1(A, t, (i + r) * lda + p0 + p);
}

/* sgemm.c's pack_b_panel reading type t: rows [p0, p0+kc) x columns [j, j+ncols) of op(B)
 * as one (kc, NR) panel, out[p*NR + c], widened. Columns ncols..NR-1 may be left unset: the
 * kernels mask them out of loads. */
AVX2 static ALWAYS_INLINE void pack_b_typed(const int NR, bool tb, const void *B, kn_gemm_type t,
                                            int64_t ldb, int64_t p0, int64_t j, int ncols, int64_t kc,
                                            float *out) {
    if (!tb) { /* B (k, n): rows copied, 8 columns at a time */
        for (int64_t p = 0; p < kc; p++)
            for (int c8 = 0; c8 < ncols; c8 += 8)
                _mm256_storeu_ps(out + p * NR + c8,
                                 load_n(elem(B, t, (p0 + p) * ldb + j + c8), t, ncols - c8 < 8 ? ncols - c8 : 8));
        return;
    }
    /* B (n, k): op(B)'s row p is B's column p; 8 x 8 transposes, 8 columns at a time, rows
     * past ncols repeating the group's first */
    for (int c8 = 0; c8 < ncols; c8 += 8) {
        const int nc8 = ncols - c8;
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++)
                r[q] = load8(elem(B, t, (j + c8 + (q < nc8 ? q : 0)) * ldb + p0 + p), t);
            kn__avx2_transpose8(r);
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + (p + q) * NR + c8, r[q]);
        }
        for (; p < kc; p++)
            for (int q = 0; q < 8 && q < nc8; q++) out[p * NR + c8 + q] = load1(B, t, (j + c8 + q) * ldb + p0 + p);
    }
}

/* Rows [r0, r0+m) x columns [c0, c0+n) of C on the calling thread with a micro-kernel of
 * MR x NR: for each (column panel, row block), all k blocks into the f32 block, then the
 * epilogue and the narrowing. k blocks as sgemm.c's (784 = 4 x 196, not 3 x 256 + 16). */
AVX2 static ALWAYS_INLINE void blocked_mixed(const int MR, const int NR, kn__sgemm_tile_fn *tile,
                                             const mixed_gemm *g, int64_t r0, int64_t m, int64_t c0,
                                             int64_t n) {
    float *pa, *pb;
    kn__sgemm_pack_bufs(&pa, &pb);
    const int64_t k = g->k, nkb = (k + KC - 1) / KC, kcb = nkb ? (k + nkb - 1) / nkb : 1;
    /* An f32 operand is read in place where sgemm.c would (its rule, same reasons): the MLP's
     * batch of 32 then never packs its f32 weights. A half one is always packed (widened). */
    const bool pack_b = g->bt != KN_GEMM_F32 || g->tb || m > 16 * MR;
    const bool pack_a = g->at != KN_GEMM_F32 || (m > 8 * MR && n > 8 * NR) || (g->ta && k > 8 * KC);
    const float *A = g->A, *B = g->B; /* read only when f32 and not packed */
    for (int64_t jc = c0; jc < c0 + n; jc += NC) {
        const int64_t nc = c0 + n - jc < NC ? c0 + n - jc : NC;
        for (int64_t ic = r0; ic < r0 + m; ic += MC) {
            const int64_t mc = r0 + m - ic < MC ? r0 + m - ic : MC;
            int64_t ldcb;
            /* (mc, nc); zeroed only for k == 0, else the first k block is summed with beta 0 */
            float *cb = c_block_start(g, ic, mc, jc, nc, k == 0, &ldcb);
            for (int64_t pc = 0; pc < k; pc += kcb) {
                const int64_t kc = k - pc < kcb ? k - pc : kcb;
                const float bet = pc == 0 ? g->beta : 1.0f; /* later k blocks accumulate */
                if (pack_b)
                    for (int64_t jr = 0; jr < nc; jr += NR)
                        pack_b_typed(NR, g->tb, g->B, g->bt, g->ldb, pc, jc + jr,
                                     (int)(nc - jr < NR ? nc - jr : NR), kc, pb + jr * kc);
                if (pack_a)
                    for (int64_t ir = 0; ir < mc; ir += MR)
                        pack_a_typed(MR, g->ta, g->A, g->at, g->lda, ic + ir, pc,
                                     (int)(mc - ir < MR ? mc - ir : MR), kc, pa + ir * kc);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int ncols = (int)(nc - jr < NR ? nc - jr : NR);
                    const float *b = pack_b ? pb + jr * kc : B + pc * g->ldb + jc + jr;
                    const int64_t rsb = pack_b ? NR : g->ldb;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const float *a;
                        int64_t rsa, csa;
                        if (pack_a)
                            a = pa + ir * kc, rsa = 1, csa = MR;
                        else if (g->ta)
                            a = A + pc * g->lda + ic + ir, rsa = 1, csa = g->lda;
                        else
                            a = A + (ic + ir) * g->lda + pc, rsa = g->lda, csa = 1;
                        tile((int)(mc - ir < MR ? mc - ir : MR), ncols, kc, a, rsa, csa, b, rsb,
                             cb + ir * ldcb + jr, ldcb, 1.0f, bet);
                    }
                }
            }
            c_block_finish(g, cb, ldcb, ic, mc, jc, nc);
        }
    }
}

AVX2 static void avx2_mixed(const mixed_gemm *g, int64_t r0, int64_t m, int64_t c0, int64_t n) {
    blocked_mixed(6, 16, kn__sgemm_tile(KN_SGEMM_AVX2), g, r0, m, c0, n);
}

AVX2 static void avx512_mixed(const mixed_gemm *g, int64_t r0, int64_t m, int64_t c0, int64_t n) {
    blocked_mixed(8, 32, kn__sgemm_tile(KN_SGEMM_AVX512), g, r0, m, c0, n);
}

/* --- The bf16 dot-product path (AVX512-BF16) ---------------------------------------------
 * vdpbf16ps sums, in each of 16 f32 lanes, acc + a.lo*b.lo + a.hi*b.hi over 32-bit pairs of
 * bf16: twice the multiply-adds of an f32 FMA per instruction. So op(A) and op(B) are packed
 * as bf16 pairs along k (an f32 operand rounded to bf16, nearest even, while packed; an odd
 * k block padded with a zero), a pair being one 32-bit word, low half the even k:
 *  - A's panel: (kp, 8) words, word [q*8 + r] = (a(r, 2q), a(r, 2q+1)), broadcast per row;
 *  - B's panel: (kp, 32) words, word [q*32 + c] = (b(2q, c), b(2q+1, c)), two vectors a pair.
 * Register tile 8 x 32: 16 accumulators (of 32 zmm) hide vdpbf16ps' latency on two ports,
 * each pair step is 2 loads of B + 8 broadcasts for 16 vdpbf16ps; and it is the f32 AVX-512
 * tile, so the thread split, MC = 144 and NC = 512 stay as they are. (12 x 32 would load less
 * a multiply-add but split rows in 12s; not measured: see below.) Packed words are stored in sgemm.c's
 * float buffers, as bit patterns (moved, never computed on): A's (kp <= KC/2 words a row of
 * MC) and B's (NC x KC/2 words) fill half of them.
 * Numerics, documented in sgemm.h: vdpbf16ps and vcvtneps2bf16 take bf16/f32 denormal inputs
 * as zero and flush denormal outputs; the two products of a pair are added to the lane with
 * the instruction's own rounding (not two FMAs'), so results differ from the widening path
 * in the last bits; sums are still f32, in a fixed order: each element's k blocks, pairs in k
 * order within each.
 * Speed, measured on this project's 2-core Sapphire Rapids VM: vdpbf16ps zmm issues at about
 * 1.2 G/s (39 G multiply-adds/s) where f32 vfmadd zmm issues at 4.4 G/s (70 G/s): twice the
 * work an instruction but under a third of the rate, so this path runs 0.5-0.8x the widening
 * one (its inner loop is all vdpbf16ps, packing < 5% of the time) and no register tile can
 * change that; it pays only on CPUs whose vdpbf16ps issues as fast as an FMA (AMD Zen 4). */

#define BF16DOT __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl,avx2,fma")))

/* The first n (0..16) elements of type t (f32 or bf16) at x as bf16 (f32 rounded to nearest
 * even), zero past n; nothing past x + n read (masked loads). */
BF16DOT static ALWAYS_INLINE __m256i load16_bf16(const void *x, kn_gemm_type t, int n) {
    const __mmask16 k = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    if (t == KN_GEMM_BF16) return _mm256_maskz_loadu_epi16(k, x);
    return (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, x));
}

/* The same for n (0..8) elements, as 8 bf16. */
BF16DOT static ALWAYS_INLINE __m128i load8_bf16(const void *x, kn_gemm_type t, int n) {
    const __mmask8 k = n >= 8 ? (__mmask8)0xff : (__mmask8)((1u << n) - 1);
    if (t == KN_GEMM_BF16) return _mm_maskz_loadu_epi16(k, x);
    return (__m128i)_mm256_cvtneps_pbh(_mm256_maskz_loadu_ps(k, x));
}

/* 16 pairs from 16 bf16 of even k (lo) and 16 of the next k (hi). */
BF16DOT static ALWAYS_INLINE __m512i pair16(__m256i lo, __m256i hi) {
    return _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
}

/* Pairs along k from 8 lines of k-contiguous elements: line q (q < 8) at x + off(q) holds
 * k values [p, p+n) (n <= 16, zero past n); after kn__avx2_transpose8 r[s] holds pair s
 * (k = p+2s, p+2s+1) of the 8 lines, stored at out + s * stride for s < (n+1)/2. */
BF16DOT static ALWAYS_INLINE void pairs_transposed(__m256 r[8], float *out, int64_t stride, int n) {
    kn__avx2_transpose8(r);
    const int np = (n + 1) / 2;
#pragma GCC unroll 8
    for (int s = 0; s < 8; s++)
        if (s < np) _mm256_storeu_ps(out + s * stride, r[s]);
}

/* Rows [i, i+mr) x columns [p0, p0+kc) of op(A) as one (ceil(kc/2), 8) panel of pairs.
 * Rows mr..7 hold zeros (ta) or repeat row 0 (not ta): computed, never stored. */
BF16DOT static void pack_a_bf16(bool ta, const void *A, kn_gemm_type t, int64_t lda, int64_t i,
                                int64_t p0, int mr, int64_t kc, float *out) {
    if (ta) { /* A (k, m): op(A)'s column p is contiguous; interleave columns p and p+1 */
        const __m128i zero = _mm_setzero_si128();
        for (int64_t p = 0; p < kc; p += 2) {
            const __m128i lo = load8_bf16(elem(A, t, (p0 + p) * lda + i), t, mr);
            const __m128i hi = p + 1 < kc ? load8_bf16(elem(A, t, (p0 + p + 1) * lda + i), t, mr) : zero;
            _mm256_storeu_si256((__m256i *)(out + p / 2 * 8),
                                _mm256_set_m128i(_mm_unpackhi_epi16(lo, hi), _mm_unpacklo_epi16(lo, hi)));
        }
        return;
    }
    /* A (m, k): a row's pairs are contiguous words; 8 rows x 8 pairs transposed at a time */
    for (int64_t p = 0; p < kc; p += 16) {
        const int n = kc - p < 16 ? (int)(kc - p) : 16;
        __m256 r[8];
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            r[q] = _mm256_castsi256_ps(load16_bf16(elem(A, t, (i + (q < mr ? q : 0)) * lda + p0 + p), t, n));
        pairs_transposed(r, out + p / 2 * 8, 8, n);
    }
}

/* Rows [p0, p0+kc) x columns [j, j+ncols) of op(B) as one (ceil(kc/2), 32) panel of pairs.
 * Columns past ncols (to the next 16, tb: 8) hold zeros or repeat a column; later ones are
 * left unset: computed, never stored. */
BF16DOT static void pack_b_bf16(bool tb, const void *B, kn_gemm_type t, int64_t ldb, int64_t p0,
                                int64_t j, int ncols, int64_t kc, float *out) {
    if (!tb) { /* B (k, n): interleave rows p and p+1, 16 columns at a time */
        const __m256i zero = _mm256_setzero_si256();
        for (int64_t p = 0; p < kc; p += 2)
            for (int c16 = 0; c16 < ncols; c16 += 16) {
                const int nc = ncols - c16 < 16 ? ncols - c16 : 16;
                const __m256i lo = load16_bf16(elem(B, t, (p0 + p) * ldb + j + c16), t, nc);
                const __m256i hi = p + 1 < kc ? load16_bf16(elem(B, t, (p0 + p + 1) * ldb + j + c16), t, nc) : zero;
                _mm512_storeu_si512(out + p / 2 * 32 + c16, pair16(lo, hi));
            }
        return;
    }
    /* B (n, k): op(B)'s column c is B's row c, its pairs contiguous words; 8 columns x 8
     * pairs transposed at a time, columns past ncols repeating the group's first */
    for (int c8 = 0; c8 < ncols; c8 += 8) {
        const int nc8 = ncols - c8;
        for (int64_t p = 0; p < kc; p += 16) {
            const int n = kc - p < 16 ? (int)(kc - p) : 16;
            __m256 r[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++)
                r[q] = _mm256_castsi256_ps(load16_bf16(elem(B, t, (j + c8 + (q < nc8 ? q : 0)) * ldb + p0 + p), t, n));
            pairs_transposed(r, out + p / 2 * 32 + c8, 32, n);
        }
    }
}

/* C tile (mr x ncols, mr <= 8, ncols <= 32) = a * b + beta * C over kp pairs: a the A panel
 * (kp, 8), b the B panel (kp, 32), both of pairs. beta == 0: C is not read. */
BF16DOT static void bf16_tile(int mr, int ncols, int64_t kp, const float *a, const float *b, float *c,
                              int64_t ldc, float beta) {
    __m512 acc[8][2];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t q = 0; q < kp; q++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + q * 32);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + q * 32 + 16);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) { /* a pair broadcast: its two bf16 against each column's */
            const __m512bh ar = (__m512bh)_mm512_set1_ps(a[q * 8 + r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
        }
    }
    const __mmask16 m0 = ncols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << ncols) - 1);
    const __mmask16 m1 = ncols >= 32 ? (__mmask16)0xffff : ncols <= 16 ? 0 : (__mmask16)((1u << (ncols - 16)) - 1);
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
        if (r >= mr) break;
        float *cr = c + r * ldc;
        if (beta != 0) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(m0, cr));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, acc[r][0]);
        _mm512_mask_storeu_ps(cr + 16, m1, acc[r][1]);
    }
}

/* blocked_mixed with bf16 pairs: the same loops, k blocks and f32 block of C; both operands
 * always packed (a pair is two k steps, never in memory as such). */
BF16DOT static void bf16_mixed(const mixed_gemm *g, int64_t r0, int64_t m, int64_t c0, int64_t n) {
    enum { MR = 8, NR = 32 };
    float *pa, *pb;
    kn__sgemm_pack_bufs(&pa, &pb);
    const int64_t k = g->k, nkb = (k + KC - 1) / KC, kcb = nkb ? (k + nkb - 1) / nkb : 1;
    for (int64_t jc = c0; jc < c0 + n; jc += NC) {
        const int64_t nc = c0 + n - jc < NC ? c0 + n - jc : NC;
        for (int64_t ic = r0; ic < r0 + m; ic += MC) {
            const int64_t mc = r0 + m - ic < MC ? r0 + m - ic : MC;
            int64_t ldcb;
            float *cb = c_block_start(g, ic, mc, jc, nc, k == 0, &ldcb); /* (mc, nc) */
            for (int64_t pc = 0; pc < k; pc += kcb) {
                const int64_t kc = k - pc < kcb ? k - pc : kcb, kp = (kc + 1) / 2;
                const float bet = pc == 0 ? g->beta : 1.0f; /* later k blocks accumulate */
                for (int64_t jr = 0; jr < nc; jr += NR)
                    pack_b_bf16(g->tb, g->B, g->bt, g->ldb, pc, jc + jr, (int)(nc - jr < NR ? nc - jr : NR), kc,
                                pb + jr * kp);
                for (int64_t ir = 0; ir < mc; ir += MR)
                    pack_a_bf16(g->ta, g->A, g->at, g->lda, ic + ir, pc, (int)(mc - ir < MR ? mc - ir : MR), kc,
                                pa + ir * kp);
                for (int64_t jr = 0; jr < nc; jr += NR)
                    for (int64_t ir = 0; ir < mc; ir += MR)
                        bf16_tile((int)(mc - ir < MR ? mc - ir : MR), (int)(nc - jr < NR ? nc - jr : NR), kp,
                                  pa + ir * kp, pb + jr * kp, cb + ir * ldcb + jr, ldcb, bet);
            }
            c_block_finish(g, cb, ldcb, ic, mc, jc, nc);
        }
    }
}

#endif /* KN_MIXED_X86 */

/* Rows [r0, r0+m) x columns [c0, c0+n) of C on the calling thread. */
static void mixed_one(const mixed_gemm *g, int64_t r0, int64_t m, int64_t c0, int64_t n) {
#ifdef KN_MIXED_X86
    if (g->dot) {
        bf16_mixed(g, r0, m, c0, n);
        return;
    }
    if (g->isa == KN_SGEMM_AVX512) {
        avx512_mixed(g, r0, m, c0, n);
        return;
    }
    if (g->isa == KN_SGEMM_AVX2) {
        avx2_mixed(g, r0, m, c0, n);
        return;
    }
#endif
    portable_mixed(g, r0, m, c0, n);
}

/* A product split in chunks of rows or of columns (whole micro-tiles) for the worker pool. */
typedef struct {
    const mixed_gemm *g;
    bool rows;
    int64_t chunk, len;
} mixed_job;

static void mixed_chunk(void *p, int64_t c) {
    const mixed_job *j = p;
    const int64_t lo = c * j->chunk, hi = lo + j->chunk < j->len ? lo + j->chunk : j->len;
    if (lo >= hi) return;
    if (j->rows)
        mixed_one(j->g, lo, hi - lo, 0, j->g->n);
    else
        mixed_one(j->g, 0, j->g->m, lo, hi - lo);
}

void kn__gemm_mixed_isa(kn_sgemm_isa isa, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        const void *A, kn_gemm_type at, int64_t lda,
                        const void *B, kn_gemm_type bt, int64_t ldb,
                        float beta, void *C, kn_gemm_type ct, int64_t ldc,
                        int threads, const kn_sgemm_epilogue *ep) {
    if (at == KN_GEMM_F32 && bt == KN_GEMM_F32 && ct == KN_GEMM_F32) { /* sgemm.c's own path */
        kn__sgemm_run(isa, ta, tb, m, n, k, 1.0f, A, lda, B, ldb, beta, C, ldc, threads, ep);
        return;
    }
    if (m <= 0 || n <= 0) return;
    /* bf16 products where asked for, an operand is bf16 and none f16 (f16's 10-bit mantissa
     * would lose 3 bits); the rest as KN_SGEMM_AVX512 */
    const bool dot = isa == KN_SGEMM_AVX512_BF16 && (at == KN_GEMM_BF16 || bt == KN_GEMM_BF16) &&
                     at != KN_GEMM_F16 && bt != KN_GEMM_F16 && kn__gemm_bf16_dot_supported();
    const kn_sgemm_isa best = kn__sgemm_isa_best();
    if (isa > best || isa < KN_SGEMM_PORTABLE) isa = best;
    const mixed_gemm g = {isa, dot, ta, tb, m, n, k, A, at, lda, B, bt, ldb, beta, C, ct, ldc, ep};
    if (threads > 1 && 2.0 * (double)m * (double)n * (double)k >= KN__SGEMM_PAR_MIN_FLOPS) {
        /* As sgemm.c splits: one chunk a thread, in whole micro-tiles, sharing the smaller
         * operand. Any split gives the same bits (each element is summed whole by one thread). */
        const int64_t mr = isa == KN_SGEMM_AVX512 ? 8 : 6, nr = isa == KN_SGEMM_AVX512 ? 32 : 16;
        bool rows = m >= n;
        if (rows ? m / mr < threads : n / nr < threads) rows = !rows; /* too few tiles that way */
        const int64_t unit = rows ? mr : nr, len = rows ? m : n, units = (len + unit - 1) / unit;
        const int64_t chunks = (int64_t)threads < units ? (int64_t)threads : units;
        mixed_job j = {&g, rows, (units + chunks - 1) / chunks * unit, len};
        kn__pool_run(threads, (len + j.chunk - 1) / j.chunk, mixed_chunk, &j);
        return;
    }
    mixed_one(&g, 0, m, 0, n);
}

bool kn__gemm_bf16_dot_supported(void) {
#ifdef KN_MIXED_X86
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

/* The set kn__gemm_mixed runs: the widening path, or with KILN_BF16_DOT=1 in the
 * environment (read once) the bf16 dot-product path where the CPU has it. Off by default:
 * on this project's Sapphire Rapids VM vdpbf16ps issues at under a third of an FMA's rate,
 * so the path gives ~0.55x the f32 path's multiply-adds a second (bench/bench_gemm_mixed);
 * it is for CPUs that issue it as fast as an FMA. A race only repeats the same answer. */
static kn_sgemm_isa mixed_isa_default(void) {
    static _Atomic int chosen = -1;
    int isa = chosen;
    if (isa < 0) {
        const char *env = getenv("KILN_BF16_DOT");
        const bool on = env && strcmp(env, "1") == 0;
        isa = kn__gemm_bf16_dot_supported() && on ? KN_SGEMM_AVX512_BF16 : (int)kn__sgemm_isa_best();
        chosen = isa;
    }
    return (kn_sgemm_isa)isa;
}

void kn__gemm_mixed(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    const void *A, kn_gemm_type at, int64_t lda,
                    const void *B, kn_gemm_type bt, int64_t ldb,
                    float beta, void *C, kn_gemm_type ct, int64_t ldc,
                    int threads, const kn_sgemm_epilogue *ep) {
    kn__gemm_mixed_isa(mixed_isa_default(), ta, tb, m, n, k, A, at, lda, B, bt, ldb, beta, C, ct,
                       ldc, threads, ep);
}
