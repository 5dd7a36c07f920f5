/* sgemm_internal.h — what gemm_mixed.c borrows from sgemm.c: the cache blocks, the
 * micro-kernels, the thread-local packing buffers and the f32 driver. Not for other callers:
 * the public interface is sgemm.h. */
#ifndef KN_SGEMM_INTERNAL_H
#define KN_SGEMM_INTERNAL_H

#include "sgemm.h"

/* Cache blocks, shared by both micro-kernels: a KC x NR micro-panel of B (16 KB at NR=16)
 * stays in L1 while MC/MR micro-panels of A stream past it; the MC x KC block of A (144 KB)
 * and the KC x NC panel of B (512 KB) stay in L2 (2 MB per core here). MC is a multiple of
 * both MRs, NC of both NRs. NC = 1024 or 2048 measured no faster at 1024^3. */
enum { KN__SGEMM_KC = 256, KN__SGEMM_MC = 144, KN__SGEMM_NC = 512 };

/* Products below this many flops run on one thread. Measured on the 2-core VM with the
 * OpenMP team awake (as in a training loop): 2 threads win 1.3-1.9x from 64x64x64 (0.5 MFLOP)
 * up and lose at 32x64x64 (0.26 MFLOP) with AVX-512; 1 MFLOP keeps a margin for a team
 * that must first be woken. */
#define KN__SGEMM_PAR_MIN_FLOPS 1e6

/* A micro-kernel: C tile (mr x ncols, mr <= MR, ncols <= NR) = alpha * a * b + beta * C.
 * a(i, p) = a[i*rsa + p*csa] (a packed panel, or A itself); b(p, j) = b[p*rsb + j] for
 * j < ncols (a packed panel, or B itself; columns past ncols are not read). beta == 0: C is
 * not read. */
typedef void kn__sgemm_tile_fn(int mr, int ncols, int64_t kc, const float *a, int64_t rsa,
                               int64_t csa, const float *b, int64_t rsb, float *c, int64_t ldc,
                               float alpha, float beta);

/* The micro-kernel of an instruction set (AVX2: MR x NR = 6 x 16, AVX-512: 8 x 32); NULL for
 * KN_SGEMM_PORTABLE. isa must be one this CPU runs. */
kn__sgemm_tile_fn *kn__sgemm_tile(kn_sgemm_isa isa);

/* The calling thread's packing buffers: *pa (MC * KC + 64 floats: ceil(MC/MR) panels of
 * (KC, MR) + slack for 8-float stores overlapping a 6-row panel's end), *pb (KC * NC floats:
 * NC/NR panels of (KC, NR)), both 64-byte aligned. */
void kn__sgemm_pack_bufs(float **pa, float **pb);

/* kn__sgemm on a chosen set (clamped to the best) with an epilogue (may be NULL). */
void kn__sgemm_run(kn_sgemm_isa isa, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                   float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                   float beta, float *C, int64_t ldc, int threads, const kn_sgemm_epilogue *ep);

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* In-place transpose of an 8x8 block held as 8 rows. (Small loops carry unroll pragmas:
 * -O2 does not fully unroll them, and an indexed array of vectors then lives on the stack.) */
__attribute__((target("avx2,fma"), always_inline)) static inline void kn__avx2_transpose8(__m256 r[8]) {
    __m256 t[8], s[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 8; h += 4) { /* rows 0-3, then rows 4-7 */
        s[h] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
    }
}
#endif

#endif
