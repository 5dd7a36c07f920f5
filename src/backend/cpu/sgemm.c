/* sgemm.c — kiln's own float32 GEMM: Debian's OpenBLAS 0.3.21 misdetects this CPU and runs
 * its SSE3 kernels at a third of the speed (bench/bench_sgemm.c). AVX2 6x16 and AVX-512 8x32
 * micro-kernels chosen at run time (whatever -march built the file), cache blocking, in-place
 * reads for small products, GEMV for one-row products. Limits: float32, row-major; non-x86
 * CPUs get a plain C loop. (f16/bf16 operands: gemm_mixed.c, on these micro-kernels through
 * sgemm_internal.h.) Packing buffers are fixed thread-local arrays (656 KB a thread): a
 * training step must not allocate, and kn__sgemm has no context to allocate from. */
#include "sgemm.h"
#include "sgemm_internal.h"

#include <stddef.h>
#include <string.h>

#include "core/pool.h"

#if defined(__x86_64__) || defined(__i386__)
#define KN_SGEMM_X86 1
#include <immintrin.h>
#endif

#define ALWAYS_INLINE __attribute__((always_inline)) inline

/* Cache blocks and the threading threshold: sgemm_internal.h says why these values. */
enum { KC = KN__SGEMM_KC, MC = KN__SGEMM_MC, NC = KN__SGEMM_NC };
#define PAR_MIN_FLOPS KN__SGEMM_PAR_MIN_FLOPS

/* Thread-local packing buffers (see the opening comment). pack_a: ceil(MC/MR) panels of
 * (KC, MR), + slack for the 6-row packer's overlapping 8-float stores. pack_b: NC/NR panels
 * of (KC, NR). */
static _Thread_local float pack_a_buf[MC * KC + 64] __attribute__((aligned(64)));
static _Thread_local float pack_b_buf[KC * NC] __attribute__((aligned(64)));

/* C = beta * C for the products that read neither A nor B (k == 0, alpha == 0). */
static void scale_c(int64_t m, int64_t n, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        float *c = C + i * ldc; // (n)
        if (beta == 0)
            memset(c, 0, (size_t)n * sizeof *c);
        else if (beta != 1)
            for (int64_t j = 0; j < n; j++) c[j] *= beta;
    }
}

/* Any CPU: C = beta*C, then rank-1 updates row by row (i, p, j keeps B's row contiguous). */
static void portable_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                          float *C, int64_t ldc) {
    scale_c(m, n, beta, C, ldc);
    for (int64_t i = 0; i < m; i++) {
        float *restrict c = C + i * ldc; // (n)
        for (int64_t p = 0; p < k; p++) {
            float a = alpha * (ta ? A[p * lda + i] : A[i * lda + p]);
            if (tb)
                for (int64_t j = 0; j < n; j++) c[j] += a * B[j * ldb + p];
            else {
                const float *restrict b = B + p * ldb; // (n)
                for (int64_t j = 0; j < n; j++) c[j] += a * b[j];
            }
        }
    }
}

#ifdef KN_SGEMM_X86

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

/* A micro-kernel (sgemm_internal.h). */
typedef kn__sgemm_tile_fn tile_fn;

/* ---------------------------------------------------------------- AVX2 + FMA */

/* Lanes [0, n) set. */
AVX2 static ALWAYS_INLINE __m256i avx2_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* c[0..8) (masked lanes only when masked) = alpha * acc + beta * c; beta == 0: c not read. */
AVX2 static ALWAYS_INLINE void avx2_put(float *c, __m256 acc, float alpha, float beta,
                                        bool masked, __m256i mask) {
    __m256 r = _mm256_mul_ps(acc, _mm256_set1_ps(alpha));
    if (beta != 0) {
        __m256 old = masked ? _mm256_maskload_ps(c, mask) : _mm256_loadu_ps(c);
        r = _mm256_fmadd_ps(old, _mm256_set1_ps(beta), r);
    }
    if (masked)
        _mm256_maskstore_ps(c, mask, r);
    else
        _mm256_storeu_ps(c, r);
}

/* 6x16 tile: 12 accumulators, 2 loads of b and 6 broadcasts of a per k step. mr, nv
 * (vectors of 8 columns) and part (the last vector is `last` < 8 wide, and b is read masked
 * there) are constants after inlining, so each combination is its own loop. */
AVX2 static ALWAYS_INLINE void avx2_tile(const int mr, const int nv, const bool part, int64_t kc,
                                         const float *a, int64_t rsa, int64_t csa, const float *b,
                                         int64_t rsb, float *c, int64_t ldc, float alpha,
                                         float beta, int last) {
    const __m256i mask = avx2_mask(last);
    __m256 c0[6], c1[6];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        c0[i] = c1[i] = _mm256_setzero_ps();
        if (i < mr) { /* C is touched only after the k loop: fetch it meanwhile */
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + 8 * nv - 1), _MM_HINT_T0);
        }
    }
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = nv == 1 && part ? _mm256_maskload_ps(b, mask) : _mm256_loadu_ps(b);
        __m256 b1 = nv == 1 ? b0 : part ? _mm256_maskload_ps(b + 8, mask) : _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            if (i < mr) {
                __m256 ai = _mm256_broadcast_ss(a + i * rsa);
                c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
                if (nv > 1) c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
            }
        }
        a += csa;
        b += rsb;
    }
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        if (i < mr) {
            float *ci = c + i * ldc;
            if (nv > 1) {
                avx2_put(ci, c0[i], alpha, beta, false, mask);
                avx2_put(ci + 8, c1[i], alpha, beta, part, mask);
            } else {
                avx2_put(ci, c0[i], alpha, beta, part, mask);
            }
        }
    }
}

AVX2 static void avx2_tile_any(int mr, int ncols, int64_t kc, const float *a, int64_t rsa,
                               int64_t csa, const float *b, int64_t rsb, float *c, int64_t ldc,
                               float alpha, float beta) {
    const int nv = ncols > 8 ? 2 : 1, last = ncols - 8 * (nv - 1), part = last < 8;
#define T(MR_, NV_)                                                                          \
    case ((MR_ - 1) * 2 + NV_ - 1) * 2:                                                      \
        avx2_tile(MR_, NV_, false, kc, a, rsa, csa, b, rsb, c, ldc, alpha, beta, last);      \
        break;                                                                               \
    case ((MR_ - 1) * 2 + NV_ - 1) * 2 + 1:                                                  \
        avx2_tile(MR_, NV_, true, kc, a, rsa, csa, b, rsb, c, ldc, alpha, beta, last);       \
        break;
    switch (((mr - 1) * 2 + nv - 1) * 2 + part) {
        T(1, 1) T(1, 2) T(2, 1) T(2, 2) T(3, 1) T(3, 2)
        T(4, 1) T(4, 2) T(5, 1) T(5, 2) T(6, 1) T(6, 2)
    }
#undef T
}

/* Packs rows [i, i+mr) x columns [p0, p0+kc) of op(A) as one (kc, MR) panel: out[p*MR + r].
 * Rows mr..MR-1 are left unset (the kernel for mr rows never reads them). */
AVX2 static ALWAYS_INLINE void pack_a_panel(const int MR, bool ta, const float *A, int64_t lda,
                                            int64_t i, int64_t p0, int mr, int64_t kc,
                                            float *out) {
    if (ta) { /* A stored (k, m): op(A) column p is A's row p, the mr values contiguous */
        const float *src = A + p0 * lda + i;
        if (MR <= 8) { /* 8-float stores: lanes >= MR are overwritten by the next p */
            const __m256i mask = avx2_mask(mr);
            for (int64_t p = 0; p < kc; p++)
                _mm256_storeu_ps(out + p * MR, _mm256_maskload_ps(src + p * lda, mask));
        } else {
            for (int64_t p = 0; p < kc; p++)
                for (int r = 0; r < mr; r++) out[p * MR + r] = src[p * lda + r];
        }
        return;
    }
    const float *src = A + i * lda + p0; /* (mr, kc) rows of A */
    int64_t p = 0;
    if (MR <= 8) { /* 8 x 8 transposes; rows past mr repeat row 0 and are overwritten */
        for (; p + 8 <= kc; p += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(src + (q < mr ? q : 0) * lda + p);
            kn__avx2_transpose8(r);
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + (p + q) * MR, r[q]);
        }
    }
    for (; p < kc; p++)
        for (int r = 0; r < mr; r++) out[p * MR + r] = src[r * lda + p];
}

/* Packs rows [p0, p0+kc) x columns [j, j+ncols) of op(B) as one (kc, NR) panel,
 * out[p*NR + c]. Columns ncols..NR-1 are left unset: the kernels mask them out of loads. */
AVX2 static ALWAYS_INLINE void pack_b_panel(const int NR, bool tb, const float *B, int64_t ldb,
                                            int64_t p0, int64_t j, int ncols, int64_t kc,
                                            float *out) {
    if (!tb) { /* B stored (k, n): rows copied */
        const float *src = B + p0 * ldb + j; /* (kc, ncols) */
        __m256i mask[NR / 8];
#pragma GCC unroll 4
        for (int v = 0; v < NR / 8; v++) mask[v] = avx2_mask(ncols - 8 * v);
        for (int64_t p = 0; p < kc; p++)
#pragma GCC unroll 4
            for (int v = 0; v < NR / 8; v++)
                _mm256_storeu_ps(out + p * NR + 8 * v,
                                 ncols == NR ? _mm256_loadu_ps(src + p * ldb + 8 * v)
                                             : _mm256_maskload_ps(src + p * ldb + 8 * v, mask[v]));
        return;
    }
    /* B stored (n, k): op(B) row p is B's column p; transpose 8 x 8 blocks, 8 columns at a
     * time, rows past ncols repeating the group's first. */
    for (int c8 = 0; c8 < ncols; c8 += 8) {
        const int nc8 = ncols - c8; /* real columns in this group */
        const float *src = B + (j + c8) * ldb + p0; /* (min(8, nc8), kc) */
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(src + (q < nc8 ? q : 0) * ldb + p);
            kn__avx2_transpose8(r);
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + (p + q) * NR + c8, r[q]);
        }
        for (; p < kc; p++)
            for (int q = 0; q < 8 && q < nc8; q++) out[p * NR + c8 + q] = src[q * ldb + p];
    }
}

/* The blocked product on one thread for a micro-kernel of MR x NR. Packing costs a pass
 * over the block and pays back only through reuse: B's panel is reused by every MR rows of
 * A, A's block by every NR columns of B. Products that stay in cache (the MLP's batch of 32,
 * up to ~256 square) run as fast or faster reading A and B in place (measured, both
 * kernels), so only bigger ones pack; op(B) transposed is always packed (the kernel wants
 * B's rows). */
AVX2 static ALWAYS_INLINE void blocked(const int MR, const int NR, tile_fn *tile, bool ta, bool tb,
                                       int64_t m, int64_t n, int64_t k, float alpha,
                                       const float *A, int64_t lda, const float *B, int64_t ldb,
                                       float beta, float *C, int64_t ldc, const kn_sgemm_epilogue *ep,
                                       int64_t row0, int64_t col0) {
    float *pa = pack_a_buf, *pb = pack_b_buf;
    /* Even k blocks: 784 = 4 x 196, not 3 x 256 + 16. */
    const int64_t nkb = (k + KC - 1) / KC, kcb = (k + nkb - 1) / nkb;
    const bool pack_b = tb || m > 16 * MR;
    const bool pack_a = (m > 8 * MR && n > 8 * NR) || (ta && k > 8 * KC);
    for (int64_t jc = 0; jc < n; jc += NC) {
        const int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += kcb) {
            const int64_t kc = k - pc < kcb ? k - pc : kcb;
            const float bet = pc == 0 ? beta : 1.0f; /* later k blocks accumulate */
            if (pack_b)
                for (int64_t jr = 0; jr < nc; jr += NR)
                    pack_b_panel(NR, tb, B, ldb, pc, jc + jr, (int)(nc - jr < NR ? nc - jr : NR), kc,
                                 pb + jr * kc);
            for (int64_t ic = 0; ic < m; ic += MC) {
                const int64_t mc = m - ic < MC ? m - ic : MC;
                if (pack_a)
                    for (int64_t ir = 0; ir < mc; ir += MR)
                        pack_a_panel(MR, ta, A, lda, ic + ir, pc, (int)(mc - ir < MR ? mc - ir : MR),
                                     kc, pa + ir * kc);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int ncols = (int)(nc - jr < NR ? nc - jr : NR);
                    const float *b = pack_b ? pb + jr * kc : B + pc * ldb + jc + jr;
                    const int64_t rsb = pack_b ? NR : ldb;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int mr = (int)(mc - ir < MR ? mc - ir : MR);
                        const float *a;
                        int64_t rsa, csa;
                        if (pack_a)
                            a = pa + ir * kc, rsa = 1, csa = MR;
                        else if (ta)
                            a = A + pc * lda + ic + ir, rsa = 1, csa = lda;
                        else
                            a = A + (ic + ir) * lda + pc, rsa = lda, csa = 1;
                        tile(mr, ncols, kc, a, rsa, csa, b, rsb, C + (ic + ir) * ldc + jc + jr, ldc,
                             alpha, bet);
                    }
                    /* the strip is final after the last k block: finish it while in cache */
                    if (ep && pc + kc >= k)
                        ep->fn(ep->args, C + ic * ldc + jc + jr, ldc, row0 + ic, mc, col0 + jc + jr, ncols);
                }
            }
        }
    }
}

AVX2 static void avx2_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                           const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc, const kn_sgemm_epilogue *ep, int64_t row0, int64_t col0) {
    blocked(6, 16, avx2_tile_any, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, row0, col0);
}

/* One row times a matrix: y (nv*8 columns, the last `last` wide) = alpha * x * b + beta * y,
 * x(p) = x[p*incx], b (k, n) with row stride ldb. Accumulates in nv registers, streams b. */
AVX2 static ALWAYS_INLINE void avx2_row_strip(const int nv, int64_t k, const float *x, int64_t incx,
                                              const float *b, int64_t ldb, float *y, float alpha,
                                              float beta, int last) {
    __m256 acc[8];
    const __m256i mask = avx2_mask(last);
    const bool part = last < 8;
#pragma GCC unroll 8
    for (int v = 0; v < 8; v++) acc[v] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int64_t p = 0; p < k; p++) {
        __m256 xv = _mm256_broadcast_ss(x + p * incx);
#pragma GCC unroll 8
        for (int v = 0; v < 8; v++) {
            if (v < nv) {
                __m256 bv = v == nv - 1 && part ? _mm256_maskload_ps(b + 8 * v, mask)
                                                : _mm256_loadu_ps(b + 8 * v);
                acc[v] = _mm256_fmadd_ps(xv, bv, acc[v]);
            }
        }
        b += ldb;
    }
#pragma GCC unroll 8
    for (int v = 0; v < 8; v++)
        if (v < nv) avx2_put(y + 8 * v, acc[v], alpha, beta, v == nv - 1 && part, mask);
}

/* y (1, n) = alpha * x (1, k) * B (k, n) + beta * y, in strips of 64 columns. */
AVX2 static void avx2_gemv_rows(int64_t n, int64_t k, const float *x, int64_t incx, const float *B,
                                int64_t ldb, float *y, float alpha, float beta) {
    for (int64_t j = 0; j < n; j += 64) {
        int w = (int)(n - j < 64 ? n - j : 64), nv = (w + 7) / 8, last = w - 8 * (nv - 1);
        const float *b = B + j;
        float *yj = y + j;
#define S(NV_)                                                                               \
    case NV_:                                                                                \
        avx2_row_strip(NV_, k, x, incx, b, ldb, yj, alpha, beta, last);                      \
        break;
        switch (nv) { S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) }
#undef S
    }
}

/* Sum of each vector's 8 lanes: (a0, a1, a2, a3) -> 4 floats. */
AVX2 static ALWAYS_INLINE __m128 avx2_hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* out[r*inco] = alpha * dot(R row r, x) + beta * out[r*inco] for r < nrows; R (nrows, k)
 * with row stride ldr, x (k) contiguous. Four rows at a time, two accumulators each. */
AVX2 static void avx2_dots(int64_t nrows, int64_t k, const float *R, int64_t ldr, const float *x,
                           float *out, int64_t inco, float alpha, float beta) {
    const int64_t k8 = k & ~(int64_t)7;
    const __m256i mask = avx2_mask((int)(k & 7));
    for (int64_t r = 0; r < nrows; r += 4) {
        const int nr = (int)(nrows - r < 4 ? nrows - r : 4);
        const float *row[4];
        __m256 s[4], t[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            row[q] = R + (r + (q < nr ? q : 0)) * ldr; /* past nrows: repeat row r */
            s[q] = t[q] = _mm256_setzero_ps();
        }
        int64_t p = 0;
        for (; p + 16 <= k; p += 16) {
            __m256 x0 = _mm256_loadu_ps(x + p), x1 = _mm256_loadu_ps(x + p + 8);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                s[q] = _mm256_fmadd_ps(_mm256_loadu_ps(row[q] + p), x0, s[q]);
                t[q] = _mm256_fmadd_ps(_mm256_loadu_ps(row[q] + p + 8), x1, t[q]);
            }
        }
        for (; p < k8; p += 8) {
            __m256 x0 = _mm256_loadu_ps(x + p);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) s[q] = _mm256_fmadd_ps(_mm256_loadu_ps(row[q] + p), x0, s[q]);
        }
        if (k8 < k) {
            __m256 x0 = _mm256_maskload_ps(x + k8, mask);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                t[q] = _mm256_fmadd_ps(_mm256_maskload_ps(row[q] + k8, mask), x0, t[q]);
        }
        float d[4];
        _mm_storeu_ps(d, avx2_hsum4(_mm256_add_ps(s[0], t[0]), _mm256_add_ps(s[1], t[1]),
                                    _mm256_add_ps(s[2], t[2]), _mm256_add_ps(s[3], t[3])));
        for (int q = 0; q < nr; q++) {
            float *o = out + (r + q) * inco;
            *o = beta == 0 ? alpha * d[q] : alpha * d[q] + beta * *o;
        }
    }
}

/* ---------------------------------------------------------------- AVX-512F */

/* c[0..16) (lanes in mask) = alpha * acc + beta * c; beta == 0: c not read. */
AVX512 static ALWAYS_INLINE void avx512_put(float *c, __m512 acc, float alpha, float beta,
                                            __mmask16 mask) {
    __m512 r = _mm512_mul_ps(acc, _mm512_set1_ps(alpha));
    if (beta != 0) r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, c), _mm512_set1_ps(beta), r);
    _mm512_mask_storeu_ps(c, mask, r);
}

/* 8x32 tile: 16 accumulators of the 32 zmm registers, 2 loads of b and 8 broadcasts per k;
 * MR = 8 tiles the MLP's batch of 32 exactly. */
AVX512 static ALWAYS_INLINE void avx512_tile(const int mr, const int nv, const bool part,
                                             int64_t kc, const float *a, int64_t rsa, int64_t csa,
                                             const float *b, int64_t rsb, float *c, int64_t ldc,
                                             float alpha, float beta, int last) {
    const __mmask16 mask = (__mmask16)((1u << last) - 1u); /* last in 1..16 */
    __m512 c0[8], c1[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        c0[i] = c1[i] = _mm512_setzero_ps();
        if (i < mr) { /* C is touched only after the k loop: fetch it meanwhile */
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + 16 * nv - 1), _MM_HINT_T0);
        }
    }
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = nv == 1 && part ? _mm512_maskz_loadu_ps(mask, b) : _mm512_loadu_ps(b);
        __m512 b1 = nv == 1 ? b0 : part ? _mm512_maskz_loadu_ps(mask, b + 16) : _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            if (i < mr) {
                __m512 ai = _mm512_set1_ps(a[i * rsa]);
                c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
                if (nv > 1) c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
            }
        }
        a += csa;
        b += rsb;
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        if (i < mr) {
            float *ci = c + i * ldc;
            if (nv > 1) {
                avx512_put(ci, c0[i], alpha, beta, 0xFFFF);
                avx512_put(ci + 16, c1[i], alpha, beta, mask);
            } else {
                avx512_put(ci, c0[i], alpha, beta, mask);
            }
        }
    }
}

AVX512 static void avx512_tile_any(int mr, int ncols, int64_t kc, const float *a, int64_t rsa,
                                   int64_t csa, const float *b, int64_t rsb, float *c, int64_t ldc,
                                   float alpha, float beta) {
    const int nv = ncols > 16 ? 2 : 1, last = ncols - 16 * (nv - 1), part = last < 16;
#define T(MR_, NV_)                                                                          \
    case ((MR_ - 1) * 2 + NV_ - 1) * 2:                                                      \
        avx512_tile(MR_, NV_, false, kc, a, rsa, csa, b, rsb, c, ldc, alpha, beta, last);    \
        break;                                                                               \
    case ((MR_ - 1) * 2 + NV_ - 1) * 2 + 1:                                                  \
        avx512_tile(MR_, NV_, true, kc, a, rsa, csa, b, rsb, c, ldc, alpha, beta, last);     \
        break;
    switch (((mr - 1) * 2 + nv - 1) * 2 + part) {
        T(1, 1) T(1, 2) T(2, 1) T(2, 2) T(3, 1) T(3, 2) T(4, 1) T(4, 2)
        T(5, 1) T(5, 2) T(6, 1) T(6, 2) T(7, 1) T(7, 2) T(8, 1) T(8, 2)
    }
#undef T
}

AVX512 static void avx512_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                               const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                               float *C, int64_t ldc, const kn_sgemm_epilogue *ep, int64_t row0,
                               int64_t col0) {
    blocked(8, 32, avx512_tile_any, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, row0, col0);
}

/* avx2_row_strip with 16-wide vectors: y (nv*16 columns, lanes of the last in mask) =
 * alpha * x * b + beta * y. Two k steps per iteration into two sets of accumulators: one
 * set of 4 would wait on the FMA latency rather than on L2, which feeds b. */
AVX512 static ALWAYS_INLINE void avx512_row_strip(const int nv, int64_t k, const float *x,
                                                  int64_t incx, const float *b, int64_t ldb,
                                                  float *y, float alpha, float beta,
                                                  __mmask16 mask) {
    __m512 s[4], t[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) s[v] = t[v] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 2 <= k; p += 2) {
        __m512 x0 = _mm512_set1_ps(x[p * incx]), x1 = _mm512_set1_ps(x[(p + 1) * incx]);
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            if (v < nv) {
                __mmask16 mv = v == nv - 1 ? mask : 0xFFFF;
                s[v] = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(mv, b + 16 * v), s[v]);
                t[v] = _mm512_fmadd_ps(x1, _mm512_maskz_loadu_ps(mv, b + ldb + 16 * v), t[v]);
            }
        }
        b += 2 * ldb;
    }
    if (p < k) {
        __m512 x0 = _mm512_set1_ps(x[p * incx]);
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            if (v < nv)
                s[v] = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(v == nv - 1 ? mask : 0xFFFF, b + 16 * v), s[v]);
    }
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++)
        if (v < nv)
            avx512_put(y + 16 * v, _mm512_add_ps(s[v], t[v]), alpha, beta, v == nv - 1 ? mask : 0xFFFF);
}

/* y (1, n) = alpha * x (1, k) * B (k, n) + beta * y, in strips of 64 columns. */
AVX512 static void avx512_gemv_rows(int64_t n, int64_t k, const float *x, int64_t incx,
                                    const float *B, int64_t ldb, float *y, float alpha, float beta) {
    for (int64_t j = 0; j < n; j += 64) {
        int w = (int)(n - j < 64 ? n - j : 64), nv = (w + 15) / 16, last = w - 16 * (nv - 1);
        const __mmask16 mask = (__mmask16)((1u << last) - 1u);
        const float *b = B + j;
        float *yj = y + j;
#define S(NV_)                                                                               \
    case NV_:                                                                                \
        avx512_row_strip(NV_, k, x, incx, b, ldb, yj, alpha, beta, mask);                    \
        break;
        switch (nv) { S(1) S(2) S(3) S(4) }
#undef S
    }
}

#endif /* KN_SGEMM_X86 */

kn__sgemm_tile_fn *kn__sgemm_tile(kn_sgemm_isa isa) {
#ifdef KN_SGEMM_X86
    if (isa == KN_SGEMM_AVX512) return avx512_tile_any;
    if (isa == KN_SGEMM_AVX2) return avx2_tile_any;
#endif
    (void)isa;
    return NULL;
}

void kn__sgemm_pack_bufs(float **pa, float **pb) {
    *pa = pack_a_buf;
    *pb = pack_b_buf;
}

kn_sgemm_isa kn__sgemm_isa_best(void) {
#ifdef KN_SGEMM_X86
    if (__builtin_cpu_supports("avx512f")) return KN_SGEMM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return KN_SGEMM_AVX2;
#endif
    return KN_SGEMM_PORTABLE;
}

/* The whole product on the calling thread; C is the block at (row0, col0) of the caller's
 * C, which the epilogue (may be NULL) is told. */
static void sgemm_one(kn_sgemm_isa isa, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float beta, float *C, int64_t ldc, const kn_sgemm_epilogue *ep, int64_t row0,
                      int64_t col0) {
#ifdef KN_SGEMM_X86
    if (isa != KN_SGEMM_PORTABLE) {
        if (m == 1 && !tb && isa == KN_SGEMM_AVX512) /* x (1, k) * B (k, n): stream B's rows */
            avx512_gemv_rows(n, k, A, ta ? lda : 1, B, ldb, C, alpha, beta);
        else if (m == 1 && !tb)
            avx2_gemv_rows(n, k, A, ta ? lda : 1, B, ldb, C, alpha, beta);
        else if (m == 1 && !ta) /* x (1, k) * B^T, B (n, k): n dot products */
            avx2_dots(n, k, B, ldb, A, C, 1, alpha, beta);
        else if (n == 1 && !ta && (tb || ldb == 1)) /* A (m, k) * y (k, 1): m dot products */
            avx2_dots(m, k, A, lda, B, C, ldc, alpha, beta);
        else if (isa == KN_SGEMM_AVX512) {
            avx512_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, row0, col0);
            return;
        } else {
            avx2_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, row0, col0);
            return;
        }
        if (ep) ep->fn(ep->args, C, ldc, row0, m, col0, n);
        return;
    }
#endif
    (void)isa;
    portable_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    if (ep) ep->fn(ep->args, C, ldc, row0, m, col0, n);
}

/* A product split in chunks of rows or of columns for the worker pool. */
typedef struct {
    kn_sgemm_isa isa;
    bool ta, tb;
    int64_t m, n, k;
    float alpha;
    const float *A;
    int64_t lda;
    const float *B;
    int64_t ldb;
    float beta;
    float *C;
    int64_t ldc;
    const kn_sgemm_epilogue *ep;
    bool rows;
    int64_t chunk, len; /* chunk: rows or columns a chunk, whole micro-tiles */
} gemm_job;

static void gemm_chunk(void *p, int64_t c) {
    const gemm_job *j = p;
    int64_t lo = c * j->chunk, hi = lo + j->chunk < j->len ? lo + j->chunk : j->len;
    if (lo >= hi) return;
    if (j->rows)
        sgemm_one(j->isa, j->ta, j->tb, hi - lo, j->n, j->k, j->alpha, j->A + (j->ta ? lo : lo * j->lda), j->lda, j->B,
                  j->ldb, j->beta, j->C + lo * j->ldc, j->ldc, j->ep, lo, 0);
    else
        sgemm_one(j->isa, j->ta, j->tb, j->m, hi - lo, j->k, j->alpha, j->A, j->lda, j->B + (j->tb ? lo * j->ldb : lo),
                  j->ldb, j->beta, j->C + lo, j->ldc, j->ep, 0, lo);
}

void kn__sgemm_run(kn_sgemm_isa isa, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float beta, float *C, int64_t ldc, int threads, const kn_sgemm_epilogue *ep) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        scale_c(m, n, beta, C, ldc);
        if (ep) ep->fn(ep->args, C, ldc, 0, m, 0, n);
        return;
    }
    kn_sgemm_isa best = kn__sgemm_isa_best();
    if (isa > best || isa < KN_SGEMM_PORTABLE) isa = best;
    if (threads > 1 && 2.0 * (double)m * (double)n * (double)k >= PAR_MIN_FLOPS) {
        /* One chunk a thread, in whole micro-tiles. Splitting rows makes every chunk read all
         * of B, splitting columns all of A: split so the smaller one is shared (32x64x784:
         * columns, each chunk reading the 100 KB of A and half of B's 200 KB; in rows, four
         * chunks read B four times and 2 threads ran no faster than 1). More chunks than
         * threads only repeat that sharing and the packing. A late worker costs at most
         * the chunk it takes, so a job is never much slower than on one thread. */
        const int64_t mr = isa == KN_SGEMM_AVX512 ? 8 : 6, nr = isa == KN_SGEMM_AVX512 ? 32 : 16;
        bool rows = m >= n;
        if (rows ? m / mr < threads : n / nr < threads) rows = !rows; /* too few tiles that way */
        const int64_t unit = rows ? mr : nr, len = rows ? m : n, units = (len + unit - 1) / unit;
        int64_t chunks = (int64_t)threads < units ? (int64_t)threads : units;
        gemm_job j = {isa, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, rows,
                      (units + chunks - 1) / chunks * unit, len};
        kn__pool_run(threads, (len + j.chunk - 1) / j.chunk, gemm_chunk, &j);
        return;
    }
    sgemm_one(isa, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, 0, 0);
}

void kn__sgemm_isa(kn_sgemm_isa isa, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                   float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                   float beta, float *C, int64_t ldc, int threads) {
    kn__sgemm_run(isa, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, threads, NULL);
}

void kn__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
               int threads) {
    kn__sgemm_run(kn__sgemm_isa_best(), ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, threads, NULL);
}

void kn__sgemm_ep(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float *C, int64_t ldc, int threads,
                  const kn_sgemm_epilogue *ep) {
    kn__sgemm_run(kn__sgemm_isa_best(), ta, tb, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, threads, ep);
}
