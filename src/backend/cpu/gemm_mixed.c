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
 * With a bf16 operand (no f16 one) the products can be bf16 x bf16 instead (an f32 operand
 * rounded to bf16 while packed): by AMX-BF16 tiles (KN_SGEMM_AMX_BF16, amx_mixed below;
 * kn__gemm_mixed's default where the CPU and OS allow it, KILN_AMX=0 to turn off), or by
 * AVX512-BF16's vdpbf16ps on bf16 pairs (KN_SGEMM_AVX512_BF16, bf16_mixed; opt-in with
 * KILN_BF16_DOT=1): same loops, f32 block of C, epilogue and thread split. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "backend/cpu/sgemm_internal.h"
#include "core/half.h"
#include "core/pool.h"

#if defined(__x86_64__) || defined(__i386__)
#define KN_MIXED_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define ALWAYS_INLINE __attribute__((always_inline)) inline

enum { KC = KN__SGEMM_KC, MC = KN__SGEMM_MC, NC = KN__SGEMM_NC };

/* The f32 block of a half C being summed: (MC, NC), row stride nc. */
static _Thread_local float c_block[MC * NC] __attribute__((aligned(64)));

/* One product: the arguments of kn__gemm_mixed. */
typedef struct {
    kn_sgemm_isa isa; /* never KN_SGEMM_AVX512_BF16 or KN_SGEMM_AMX_BF16: `dot`, `amx` */
    bool dot;         /* the bf16 dot-product path */
    bool amx;         /* the AMX-BF16 path */
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


/* --- The AMX-BF16 path ----------------------------------------------------------------------
 * AMX's tdpbf16ps multiplies a tile of A (16 rows x 16 bf16 pairs) by a tile of B (16 pairs x
 * 16 columns) into a 16 x 16 f32 tile of C: 8192 multiply-adds an instruction, measured at
 * ~410 GFLOP/s a core on this project's Sapphire Rapids VM (4-5x its f32 AVX-512 FMA rate).
 * Operands are packed as bf16 tiles (an f32 operand rounded to bf16, nearest even, while
 * packed, as the bf16 dot path and PyTorch's autocast do), each tile 1 KB and contiguous:
 *  - A: a 16-row group x one 32-k chunk, row-major: tile (g, s) at pa + (g*nks + s)*512
 *    bf16, row r's 32 bf16 (k = s*32 .. s*32+31) at + r*32;
 *  - B: a 16-column group x one 32-k chunk in the VNNI pair layout: tile (h, s) at
 *    pb + (h*nks + s)*512 bf16, row q (pair k = s*32+2q, +1) holding 16 columns' pairs, the
 *    even k in each pair's low half;
 * k past the block, rows past m and columns past n packed as zeros (so garbage, NaN
 * included, never enters a product). Micro-tile 32 x 32: tiles 0-3 the 2 x 2 C tiles,
 * 4-5 A's two row groups, 6-7 B's two column groups; each 32-k step is 4 tile loads for 4
 * tdpbf16ps. Smaller edge micro-tiles use 1 x 2, 2 x 1 or 1 x 1 C tiles; C tiles are loaded
 * from and stored to the f32 block of C (C itself when f32), or, for a micro-tile that does
 * not fill whole tiles, a 32 x 32 f32 buffer (amx_edge) whose valid part is copied.
 * k blocks: as sgemm.c's count (ceil(k / KC)), each rounded up to a multiple of 32 (784 =
 * 3 x 224 + 112, 800 computed, not 4 x 196 = 4 x 224) since a tile step is 32 k; the same
 * for every thread, and every element is summed by one tdpbf16ps sequence in k order from
 * C's f32 value, so results do not depend on the thread count. Buffers: sgemm.c's packing
 * buffers (A: 9 groups x 8 chunks x 1 KB = 72 KB of its 147 KB; B: 32 x 8 x 1 KB = 256 KB
 * of its 512 KB), c_block, amx_edge (4 KB a thread); nothing allocated.
 * Numerics: as the bf16 dot path (tdpbf16ps takes bf16 denormals as zero, rounds its f32 sums
 * to nearest even and flushes denormal results); results differ from it and the widening
 * path in the last bits.
 * The OS must first grant the process the tile state (Linux: arch_prctl ARCH_REQ_XCOMP_PERM,
 * once, amx_permitted); each call loads the tile configuration on its own thread
 * (ldtilecfg: per thread state) and releases it at the end (tilerelease: no 8 KB of tile
 * state to save on a context switch between products). */

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512bf16,avx512f,avx512bw,avx512vl,avx2,fma")))

/* The f32 C of a micro-tile that does not fill whole tiles: (32, 32), row stride 32. */
static _Thread_local float amx_edge[32 * 32] __attribute__((aligned(64)));

/* ldtilecfg's 64-byte operand, palette 1. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16]; /* bytes a row, per tile */
    uint8_t rows[16];
} __attribute__((packed, aligned(64))) amx_tilecfg;

/* The first n (0..32) elements of type t (f32 or bf16) at x as 32 bf16 (f32 rounded to
 * nearest even), zero past n; nothing past x + n read. */
AMX static ALWAYS_INLINE __m512i load32_bf16(const void *x, kn_gemm_type t, int n) {
    const __mmask32 k = n >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << n) - 1);
    if (t == KN_GEMM_BF16) return _mm512_maskz_loadu_epi16(k, x);
    const __mmask16 lo = (__mmask16)k, hi = (__mmask16)(k >> 16);
    const float *f = x;
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, f + 16), _mm512_maskz_loadu_ps(lo, f));
}

/* In-place transpose of a 16 x 16 block of 32-bit words held as 16 rows. */
AMX static ALWAYS_INLINE void transpose16(__m512i r[16]) {
    __m512i t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* r[4a + b]'s 128-bit lane l now holds column 4l + b of rows 4a..4a+3: gather the lanes */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);      /* lanes 0, 2 of each */
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);  /* lanes 1, 3 */
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

/* 16 pairs (32-bit words) from 16 values of an even k (lo) and 16 of the next k (hi). */
AMX static ALWAYS_INLINE __m512i amx_pair16(__m256i lo, __m256i hi) {
    return _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
}

/* The first n (0..16) elements of type t at x as 16 bf16, zero past n (n <= 0: all zero,
 * nothing read). */
AMX static ALWAYS_INLINE __m256i amx_load16(const void *x, kn_gemm_type t, int n) {
    if (n <= 0) return _mm256_setzero_si256();
    const __mmask16 k = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    if (t == KN_GEMM_BF16) return _mm256_maskz_loadu_epi16(k, x);
    return (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, x));
}

/* Rows [i, i+mr) (mr <= 16) x columns [p0, p0+kc) of op(A) as nks = ceil(kc/32) A tiles,
 * out[s*512 + r*32 + kk] = bf16 of a(i+r, p0+s*32+kk); rows past mr and k past kc zero. */
AMX static void pack_a_amx(bool ta, const void *A, kn_gemm_type t, int64_t lda, int64_t i, int64_t p0,
                           int mr, int64_t kc, uint16_t *out) {
    const int64_t nks = (kc + 31) / 32;
    if (!ta) { /* A (m, k): a tile row is 32 contiguous k of one row */
        for (int r = 0; r < 16; r++)
            for (int64_t s = 0; s < nks; s++) {
                const int n = r < mr ? (kc - s * 32 < 32 ? (int)(kc - s * 32) : 32) : 0;
                const __m512i v = n ? load32_bf16(elem(A, t, (i + r) * lda + p0 + s * 32), t, n) : _mm512_setzero_si512();
                _mm512_store_si512(out + s * 512 + r * 32, v);
            }
        return;
    }
    /* A (k, m): k rows of contiguous m; pair rows 2q and 2q+1 (16 words indexed by row r of
     * op(A)), then transpose so each word row is one op(A) row */
    for (int64_t s = 0; s < nks; s++) {
        __m512i w[16];
#pragma GCC unroll 16
        for (int q = 0; q < 16; q++) {
            const int64_t p = s * 32 + 2 * q;
            const __m256i lo = p < kc ? amx_load16(elem(A, t, (p0 + p) * lda + i), t, mr) : _mm256_setzero_si256();
            const __m256i hi = p + 1 < kc ? amx_load16(elem(A, t, (p0 + p + 1) * lda + i), t, mr) : _mm256_setzero_si256();
            w[q] = amx_pair16(lo, hi);
        }
        transpose16(w);
#pragma GCC unroll 16
        for (int r = 0; r < 16; r++) _mm512_store_si512(out + s * 512 + r * 32, w[r]);
    }
}

/* Rows [p0, p0+kc) x columns [j, j+ncols) (ncols <= 16) of op(B) as nks B tiles in the pair
 * layout, out[s*512 + q*32 + 2c + h] = bf16 of b(p0+s*32+2q+h, j+c); zeros past. */
AMX static void pack_b_amx(bool tb, const void *B, kn_gemm_type t, int64_t ldb, int64_t p0, int64_t j,
                           int ncols, int64_t kc, uint16_t *out) {
    const int64_t nks = (kc + 31) / 32;
    if (!tb) { /* B (k, n): interleave rows 2q and 2q+1 */
        for (int64_t s = 0; s < nks; s++)
            for (int q = 0; q < 16; q++) {
                const int64_t p = s * 32 + 2 * q;
                const __m256i lo = p < kc ? amx_load16(elem(B, t, (p0 + p) * ldb + j), t, ncols) : _mm256_setzero_si256();
                const __m256i hi = p + 1 < kc ? amx_load16(elem(B, t, (p0 + p + 1) * ldb + j), t, ncols) : _mm256_setzero_si256();
                _mm512_store_si512(out + s * 512 + q * 32, amx_pair16(lo, hi));
            }
        return;
    }
    /* B (n, k): op(B)'s column c is B's row j+c, its pairs 16 contiguous words; transpose */
    for (int64_t s = 0; s < nks; s++) {
        const int n = kc - s * 32 < 32 ? (int)(kc - s * 32) : 32;
        __m512i w[16];
#pragma GCC unroll 16
        for (int c = 0; c < 16; c++)
            w[c] = c < ncols ? load32_bf16(elem(B, t, (j + c) * ldb + p0 + s * 32), t, n) : _mm512_setzero_si512();
        transpose16(w);
#pragma GCC unroll 16
        for (int q = 0; q < 16; q++) _mm512_store_si512(out + s * 512 + q * 32, w[q]);
    }
}

/* C (NRT*16 x NCT*16 f32 at c, row stride ldc floats) += a * b over nks 32-k steps, a0/a1
 * the A tiles of the two row groups, b0/b1 of the two column groups; C read first unless
 * `zero` (then not read). Tile numbers are immediates, hence the constant NRT, NCT. */
AMX static ALWAYS_INLINE void amx_kernel(const int NRT, const int NCT, int64_t nks, const uint16_t *a0,
                                         const uint16_t *a1, const uint16_t *b0, const uint16_t *b1,
                                         float *c, int64_t ldc, bool zero) {
    const int64_t ldcb = ldc * (int64_t)sizeof(float);
    if (zero) {
        _tile_zero(0);
        if (NCT > 1) _tile_zero(1);
        if (NRT > 1) _tile_zero(2);
        if (NRT > 1 && NCT > 1) _tile_zero(3);
    } else {
        _tile_loadd(0, c, ldcb);
        if (NCT > 1) _tile_loadd(1, c + 16, ldcb);
        if (NRT > 1) _tile_loadd(2, c + 16 * ldc, ldcb);
        if (NRT > 1 && NCT > 1) _tile_loadd(3, c + 16 * ldc + 16, ldcb);
    }
    for (int64_t s = 0; s < nks; s++) {
        _tile_loadd(4, a0 + s * 512, 64);
        _tile_loadd(6, b0 + s * 512, 64);
        if (NRT > 1) _tile_loadd(5, a1 + s * 512, 64);
        if (NCT > 1) _tile_loadd(7, b1 + s * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        if (NCT > 1) _tile_dpbf16ps(1, 4, 7);
        if (NRT > 1) _tile_dpbf16ps(2, 5, 6);
        if (NRT > 1 && NCT > 1) _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, ldcb);
    if (NCT > 1) _tile_stored(1, c + 16, ldcb);
    if (NRT > 1) _tile_stored(2, c + 16 * ldc, ldcb);
    if (NRT > 1 && NCT > 1) _tile_stored(3, c + 16 * ldc + 16, ldcb);
}

AMX static void amx_kernel_any(int nrt, int nct, int64_t nks, const uint16_t *a0, const uint16_t *a1,
                               const uint16_t *b0, const uint16_t *b1, float *c, int64_t ldc, bool zero) {
    if (nrt == 2 && nct == 2)
        amx_kernel(2, 2, nks, a0, a1, b0, b1, c, ldc, zero);
    else if (nrt == 2)
        amx_kernel(2, 1, nks, a0, a1, b0, b1, c, ldc, zero);
    else if (nct == 2)
        amx_kernel(1, 2, nks, a0, a1, b0, b1, c, ldc, zero);
    else
        amx_kernel(1, 1, nks, a0, a1, b0, b1, c, ldc, zero);
}

/* C micro-tile (rows x cols, each 1..32) at c (row stride ldc) += a * b, or = a * b when
 * beta == 0; a/b the packed tiles of its first row/column group (the second one tile set
 * further: nks tiles). Whole tiles straight in c; else through amx_edge. */
AMX static void amx_tile(int rows, int cols, int64_t nks, const uint16_t *a, const uint16_t *b, float *c,
                         int64_t ldc, float beta) {
    const int nrt = rows > 16 ? 2 : 1, nct = cols > 16 ? 2 : 1;
    const uint16_t *a1 = a + nks * 512, *b1 = b + nks * 512;
    if (rows == nrt * 16 && cols == nct * 16) {
        amx_kernel_any(nrt, nct, nks, a, a1, b, b1, c, ldc, beta == 0);
        return;
    }
    if (beta != 0)
        for (int r = 0; r < rows; r++) memcpy(amx_edge + r * 32, c + r * ldc, (size_t)cols * sizeof *c);
    amx_kernel_any(nrt, nct, nks, a, a1, b, b1, amx_edge, 32, beta == 0);
    for (int r = 0; r < rows; r++) memcpy(c + r * ldc, amx_edge + r * 32, (size_t)cols * sizeof *c);
}

/* blocked_mixed on AMX tiles: the same loops and f32 block of C, k blocks rounded up to 32,
 * both operands always packed (as bf16 tiles). */
AMX static void amx_mixed(const mixed_gemm *g, int64_t r0, int64_t m, int64_t c0, int64_t n) {
    float *pa_f, *pb_f;
    kn__sgemm_pack_bufs(&pa_f, &pb_f); /* 64-byte aligned; hold bf16 tiles here */
    uint16_t *pa = (uint16_t *)pa_f, *pb = (uint16_t *)pb_f;
    amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
    const int64_t k = g->k, nkb = (k + KC - 1) / KC;
    const int64_t kcb = nkb ? ((k + nkb - 1) / nkb + 31) / 32 * 32 : 32; /* <= KC */
    for (int64_t jc = c0; jc < c0 + n; jc += NC) {
        const int64_t nc = c0 + n - jc < NC ? c0 + n - jc : NC;
        for (int64_t ic = r0; ic < r0 + m; ic += MC) {
            const int64_t mc = r0 + m - ic < MC ? r0 + m - ic : MC;
            int64_t ldcb;
            float *cb = c_block_start(g, ic, mc, jc, nc, k == 0, &ldcb); /* (mc, nc) */
            for (int64_t pc = 0; pc < k; pc += kcb) {
                const int64_t kc = k - pc < kcb ? k - pc : kcb, nks = (kc + 31) / 32;
                const float bet = pc == 0 ? g->beta : 1.0f; /* later k blocks accumulate */
                /* 16-row / 16-column groups; a lone last group of 16 makes a 16-row or 16-column
                 * micro-tile (amx_tile's nrt/nct), never read past */
                for (int64_t jr = 0; jr < nc; jr += 16)
                    pack_b_amx(g->tb, g->B, g->bt, g->ldb, pc, jc + jr, (int)(nc - jr < 16 ? nc - jr : 16), kc,
                               pb + jr / 16 * nks * 512);
                for (int64_t ir = 0; ir < mc; ir += 16)
                    pack_a_amx(g->ta, g->A, g->at, g->lda, ic + ir, pc, (int)(mc - ir < 16 ? mc - ir : 16), kc,
                               pa + ir / 16 * nks * 512);
                for (int64_t jr = 0; jr < nc; jr += 32)
                    for (int64_t ir = 0; ir < mc; ir += 32)
                        amx_tile((int)(mc - ir < 32 ? mc - ir : 32), (int)(nc - jr < 32 ? nc - jr : 32), nks,
                                 pa + ir / 16 * nks * 512, pb + jr / 16 * nks * 512, cb + ir * ldcb + jr, ldcb, bet);
            }
            c_block_finish(g, cb, ldcb, ic, mc, jc, nc);
        }
    }
    _tile_release();
}

#endif /* KN_MIXED_X86 */

/* Rows [r0, r0+m) x columns [c0, c0+n) of C on the calling thread. */
static void mixed_one(const mixed_gemm *g, int64_t r0, int64_t m, int64_t c0, int64_t n) {
#ifdef KN_MIXED_X86
    if (g->amx) {
        amx_mixed(g, r0, m, c0, n);
        return;
    }
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
    const bool bf16 = (at == KN_GEMM_BF16 || bt == KN_GEMM_BF16) && at != KN_GEMM_F16 && bt != KN_GEMM_F16;
    const bool dot = isa == KN_SGEMM_AVX512_BF16 && bf16 && kn__gemm_bf16_dot_supported();
    const bool amx = isa == KN_SGEMM_AMX_BF16 && bf16 && kn__gemm_amx_supported();
    const kn_sgemm_isa best = kn__sgemm_isa_best();
    if (isa > best || isa < KN_SGEMM_PORTABLE) isa = best;
    const mixed_gemm g = {isa, dot, amx, ta, tb, m, n, k, A, at, lda, B, bt, ldb, beta, C, ct, ldc, ep};
    if (threads > 1 && 2.0 * (double)m * (double)n * (double)k >= KN__SGEMM_PAR_MIN_FLOPS) {
        /* As sgemm.c splits: one chunk a thread, in whole micro-tiles, sharing the smaller
         * operand. Any split gives the same bits (each element is summed whole by one thread). */
        const int64_t mr = amx ? 32 : isa == KN_SGEMM_AVX512 ? 8 : 6, nr = amx || isa == KN_SGEMM_AVX512 ? 32 : 16;
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

/* Whether the OS lets this process use AMX tile data: Linux keeps it off until asked for
 * (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, granted to the whole process, so
 * once is enough); any failure (old kernel, other OS, a seccomp filter) means no AMX. The
 * request is idempotent, so a race only repeats it. */
static bool amx_permitted(void) {
#if defined(__linux__) && defined(SYS_arch_prctl) && defined(__x86_64__)
    static _Atomic int granted = -1;
    int ok = granted;
    if (ok < 0) {
        enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
        ok = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
        granted = ok;
    }
    return ok;
#else
    return false;
#endif
}

bool kn__gemm_amx_supported(void) {
#ifdef KN_MIXED_X86
    /* CPUID leaf 7 EDX bit 22 AMX-BF16, bit 24 AMX-TILE (clang 14's __builtin_cpu_supports
     * does not know "amx-bf16"); the packers need AVX512-BF16's conversions too */
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d >> 22 & 1) || !(d >> 24 & 1)) return false;
    return kn__gemm_bf16_dot_supported() && amx_permitted();
#else
    return false;
#endif
}

/* The set kn__gemm_mixed runs (the environment read once; a race only repeats the answer):
 *  - KILN_BF16_DOT=1 and the CPU has it: the bf16 dot-product path. Off by default: on this
 *    project's Sapphire Rapids VM vdpbf16ps issues at under a third of an FMA's rate, so it
 *    gives ~0.55x the f32 path's multiply-adds a second (bench/bench_gemm_mixed); it is for
 *    CPUs that issue it as fast as an FMA;
 *  - else the AMX-BF16 path where kn__gemm_amx_supported(), unless KILN_AMX=0: faster than
 *    the widening path from ~1 MFLOP (the MLP's 32x64x784 products 1.7x, 1024^3 3x), slower
 *    below (kn__gemm_mixed keeps those on the widening path: AMX_MIN_FLOPS), see
 *    bench/RESULTS.md; it applies only to products with a bf16 operand and no f16 one;
 *  - else the widening path on the best f32 set. */
#define AMX_MIN_FLOPS 1e6

static kn_sgemm_isa mixed_isa_default(void) {
    static _Atomic int chosen = -1;
    int isa = chosen;
    if (isa < 0) {
        const char *dot_env = getenv("KILN_BF16_DOT"), *amx_env = getenv("KILN_AMX");
        const bool dot = dot_env && strcmp(dot_env, "1") == 0, amx_off = amx_env && strcmp(amx_env, "0") == 0;
        if (dot && kn__gemm_bf16_dot_supported())
            isa = KN_SGEMM_AVX512_BF16;
        else if (!amx_off && kn__gemm_amx_supported())
            isa = KN_SGEMM_AMX_BF16;
        else
            isa = (int)kn__sgemm_isa_best();
        chosen = isa;
    }
    return (kn_sgemm_isa)isa;
}

bool kn__gemm_mixed_amx(void) { return mixed_isa_default() == KN_SGEMM_AMX_BF16; }

void kn__gemm_mixed(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    const void *A, kn_gemm_type at, int64_t lda,
                    const void *B, kn_gemm_type bt, int64_t ldb,
                    float beta, void *C, kn_gemm_type ct, int64_t ldc,
                    int threads, const kn_sgemm_epilogue *ep) {
    /* all f32: sgemm's own path, without asking the OS for AMX state (an fp32 program never
     * makes the arch_prctl call, which valgrind does not know) */
    bool f32 = at == KN_GEMM_F32 && bt == KN_GEMM_F32 && ct == KN_GEMM_F32;
    kn_sgemm_isa isa = f32 ? kn__sgemm_isa_best() : mixed_isa_default();
    /* AMX's fixed cost per call (tile configuration, packing whole 16x32 tiles) loses below
     * ~1 MFLOP: the reference MLP's 32x64x64 products ran at 0.66x the widening path's rate,
     * 128x64x64 at 1.56x (bench/bench_gemm_mixed, bench/RESULTS.md) */
    if (isa == KN_SGEMM_AMX_BF16 && 2.0 * (double)m * (double)n * (double)k < AMX_MIN_FLOPS) isa = kn__sgemm_isa_best();
    kn__gemm_mixed_isa(isa, ta, tb, m, n, k, A, at, lda, B, bt, ldb, beta, C, ct, ldc, threads, ep);
}
