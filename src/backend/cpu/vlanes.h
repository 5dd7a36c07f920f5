/* vlanes.h — one vector width's operations under common names, so the activations' math
 * (vact_lanes.h) is written once and compiled for 8 lanes (AVX2 + FMA, the build's baseline)
 * and for 16 (AVX-512F, chosen at run time where the CPU has it). Include after defining
 * KN_LANES as 8 or 16; vlanes_end.h undefines everything again.
 *
 *   VF, VI, VM          float vector, int32 vector, a comparison's mask
 *   LANES_FN(name)      name8 or name16 (a function's name for this width)
 *   LANES_TARGET        the target attribute its functions carry (none at 8)
 *   V_LOAD_PART(p, n, fill), V_STORE_PART(p, n, v)   the first n (< lanes) values
 *   V_BLEND(m, f, t)    t where m is set, else f
 *   V_BLEND_SIGN(v, f, t)  t where v's sign bit is set, else f
 *   V_ZERO_WHERE(m, x)  0 where m is set, else x
 *
 * The two widths give the same values but for the reciprocal's estimate (rcp's 12 bits, rcp14's
 * 14), which the Newton steps after it make the same within an ulp; V_RCP is 0 where the
 * reciprocal would be denormal at both widths. */
#include <immintrin.h>
#include <stdint.h>

#if KN_LANES == 8

#define VF __m256
#define VI __m256i
#define VM __m256
#define LANES_FN(name) name##8
#define LANES_TARGET
#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_FMADD _mm256_fmadd_ps
#define V_FNMADD _mm256_fnmadd_ps
#define V_FMSUB _mm256_fmsub_ps
#define V_MIN _mm256_min_ps
#define V_MAX _mm256_max_ps
#define V_AND _mm256_and_ps
#define V_OR _mm256_or_ps
#define V_ANDNOT _mm256_andnot_ps
#define V_RCP _mm256_rcp_ps
#define V_ROUND(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_CVT_I _mm256_cvtps_epi32
#define VI_SET1 _mm256_set1_epi32
#define VI_ADD _mm256_add_epi32
#define VI_SHL _mm256_slli_epi32
#define VI_AS_F _mm256_castsi256_ps
#define V_CMP_LT(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define V_BLEND(m, f, t) _mm256_blendv_ps(f, t, m)
#define V_BLEND_SIGN(v, f, t) _mm256_blendv_ps(f, t, v)
#define V_ZERO_WHERE(m, x) _mm256_andnot_ps(m, x)

/* Lanes below n (< 8) set. */
static inline __m256i kn__lanes_below8(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define V_LOAD_PART(p, n, fill)                                                                          \
    _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, kn__lanes_below8(n)),                   \
                     _mm256_castsi256_ps(kn__lanes_below8(n)))
#define V_STORE_PART(p, n, v) _mm256_maskstore_ps(p, kn__lanes_below8(n), v)

#elif KN_LANES == 16

#define VF __m512
#define VI __m512i
#define VM __mmask16
#define LANES_FN(name) name##16
#define LANES_TARGET __attribute__((target("avx512f,avx2,fma")))
#define V_SET1 _mm512_set1_ps
#define V_ZERO _mm512_setzero_ps
#define V_LOAD _mm512_loadu_ps
#define V_STORE _mm512_storeu_ps
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_FMADD _mm512_fmadd_ps
#define V_FNMADD _mm512_fnmadd_ps
#define V_FMSUB _mm512_fmsub_ps
#define V_MIN _mm512_min_ps
#define V_MAX _mm512_max_ps
/* (the float bit operations are AVX512DQ's: the integer ones on the same bits) */
#define V_AND(a, b) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define V_OR(a, b) _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define V_ANDNOT(a, b) _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
/* rcp14 with rcp's edge: 0 where the reciprocal is below float's normal range (|d| >= 2^126;
 * rcp flushes it, rcp14 gives the denormal), NaN kept */
#define V_RCP(d)                                                                                         \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask(d, _mm512_set1_ps(0x1p126f), _CMP_GE_OQ), _mm512_rcp14_ps(d), \
                         _mm512_setzero_ps())
#define V_ROUND(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_CVT_I _mm512_cvtps_epi32
#define VI_SET1 _mm512_set1_epi32
#define VI_ADD _mm512_add_epi32
#define VI_SHL _mm512_slli_epi32
#define VI_AS_F _mm512_castsi512_ps
#define V_CMP_LT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define V_BLEND(m, f, t) _mm512_mask_blend_ps(m, f, t)
#define V_BLEND_SIGN(v, f, t)                                                                            \
    _mm512_mask_blend_ps(_mm512_test_epi32_mask(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN)), f, t)
#define V_ZERO_WHERE(m, x) _mm512_mask_blend_ps(m, x, _mm512_setzero_ps())
#define V_LOAD_PART(p, n, fill)                                                                          \
    _mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << (n)) - 1u), p)
#define V_STORE_PART(p, n, v) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1u), v)

#else
#error "vlanes.h: define KN_LANES as 8 or 16"
#endif
