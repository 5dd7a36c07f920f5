/* sgemm.h — kiln's own float32 matrix product for the CPU backend (sgemm.c says why it
 * exists and how it is built), and the same product on f16/bf16 operands for mixed-precision
 * training (gemm_mixed.c). sgemm.c depends on nothing else in kiln. */
#ifndef KN_SGEMM_H
#define KN_SGEMM_H

#include <stdbool.h>
#include <stdint.h>

/* C (m x n) = alpha * op(A) * op(B) + beta * C, row-major; op(A) is m x k (A stored k x m
 * when ta), op(B) is k x n (B stored n x k when tb). lda/ldb/ldc are row strides in floats.
 * beta == 0 means C is not read (may hold NaN); alpha == 0 or k == 0 means A and B are not
 * read (C = beta * C). threads: how many OpenMP threads it may use (1 = run on the caller's
 * thread with no OpenMP region at all). Never allocates. */
void kn__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
               int threads);

/* Work applied to each finished block of C while it is still in cache (bias, activation,
 * an activation's gradient): fn gets the block at rows [r0, r0+rows), columns
 * [c0, c0+cols) of the whole C, c pointing at C(r0, c0). Blocks are disjoint and together
 * cover C; with threads, blocks are finished on the thread that computed them. */
typedef struct kn_sgemm_epilogue {
    void (*fn)(const void *args, float *c, int64_t ldc, int64_t r0, int64_t rows, int64_t c0, int64_t cols);
    const void *args;
} kn_sgemm_epilogue;

/* C = op(A) op(B), then the epilogue over C. */
void kn__sgemm_ep(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float *C, int64_t ldc, int threads,
                  const kn_sgemm_epilogue *ep);

/* Instruction sets kn__sgemm can run on, slowest first. */
typedef enum {
    KN_SGEMM_PORTABLE = 0, /* plain C, any CPU */
    KN_SGEMM_AVX2 = 1,     /* AVX2 + FMA: 6x16 micro-kernel */
    KN_SGEMM_AVX512 = 2,   /* AVX-512F: 8x32 micro-kernel and one-row GEMV */
    /* kn__gemm_mixed only: AVX-512F plus AVX512-BF16's vdpbf16ps when A or B is bf16 (and
     * neither f16), see gemm_mixed.c. kn__sgemm_isa_best never returns it: f32 products
     * (kn__sgemm*, kn__gemm_mixed on all-f32 operands) clamp it to the best f32 set, and
     * KN_SGEMM_AVX512 passed to kn__gemm_mixed_isa keeps the widening path. */
    KN_SGEMM_AVX512_BF16 = 3,
    /* kn__gemm_mixed only, likewise clamped elsewhere: AMX-BF16 tiles (tdpbf16ps) when A or
     * B is bf16 and neither f16, see gemm_mixed.c. */
    KN_SGEMM_AMX_BF16 = 4,
} kn_sgemm_isa;

/* The best set this CPU runs (checked at run time, whatever -march built the file). */
kn_sgemm_isa kn__sgemm_isa_best(void);

/* kn__sgemm on a chosen set (clamped to kn__sgemm_isa_best()): for tests and benchmarks. */
void kn__sgemm_isa(kn_sgemm_isa isa, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                   float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                   float beta, float *C, int64_t ldc, int threads);


/* Element type of a kn__gemm_mixed operand: f16 and bf16 are stored as uint16_t. */
typedef enum { KN_GEMM_F32, KN_GEMM_F16, KN_GEMM_BF16 } kn_gemm_type;

/* C (m x n) = op(A) op(B) + beta * C, then the epilogue (if any) over each finished block of
 * C while it is still f32, then C stored in its type. A, B, C each f32, f16 or bf16; shapes
 * and transposes as kn__sgemm, lda/ldb/ldc in elements. beta is 0 (C not read) or 1 (C read,
 * widened). Sums in f32 always, each element by one thread in a fixed k order, so the result
 * does not depend on threads. All-f32 operands run kn__sgemm's own path, bit for bit. Never
 * allocates. Where A or B is bf16 (neither f16), the product is 1 MFLOP or more and
 * kn__gemm_amx_supported() (unless KILN_AMX=0 in the environment, read once; smaller
 * products lose to AMX's fixed cost), the products are bf16 x bf16 (an f32 operand
 * rounded to bf16 first, as PyTorch's autocast does; bf16 denormals count as zero) summed in
 * f32 by AMX tiles; with KILN_BF16_DOT=1 (off by default: slower on this project's CPU),
 * where kn__gemm_bf16_dot_supported(), the same by vdpbf16ps instead. */
/* Whether this CPU runs kn__gemm_mixed's bf16 dot-product path (AVX-512F and AVX512-BF16,
 * checked at run time). */
bool kn__gemm_bf16_dot_supported(void);

/* Whether kn__gemm_mixed can run its AMX-BF16 path here: AMX-TILE, AMX-BF16, AVX512-BF16
 * and the OS's permission for tile data (asked for once, on the first call). */
bool kn__gemm_amx_supported(void);

/* Whether kn__gemm_mixed itself runs products with a bf16 operand (no f16 one) on AMX:
 * kn__gemm_amx_supported() and not turned off by KILN_AMX=0 (nor KILN_BF16_DOT=1). */
bool kn__gemm_mixed_amx(void);

void kn__gemm_mixed(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    const void *A, kn_gemm_type at, int64_t lda,
                    const void *B, kn_gemm_type bt, int64_t ldb,
                    float beta, void *C, kn_gemm_type ct, int64_t ldc,
                    int threads, const kn_sgemm_epilogue *ep);

/* kn__gemm_mixed on a chosen set (clamped to kn__sgemm_isa_best(), except that
 * KN_SGEMM_AVX512_BF16 forces the bf16 dot-product path where kn__gemm_bf16_dot_supported()
 * and KN_SGEMM_AMX_BF16 the AMX path where kn__gemm_amx_supported(), when an operand is bf16
 * and none f16; the widening path on the best set otherwise): for tests and benchmarks. */
void kn__gemm_mixed_isa(kn_sgemm_isa isa, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        const void *A, kn_gemm_type at, int64_t lda,
                        const void *B, kn_gemm_type bt, int64_t ldb,
                        float beta, void *C, kn_gemm_type ct, int64_t ldc,
                        int threads, const kn_sgemm_epilogue *ep);

#endif
