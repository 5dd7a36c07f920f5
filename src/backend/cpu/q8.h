/* q8.h — dense layers in int8: dynamic quantization (gemm_q8.c).
 *
 * A product y (m, n) = x (m, k) W (k, n) [+ bias] runs on 8-bit integers:
 *   W per column j: q_w = round(W / s_w[j]) in [-127, 127], s_w[j] = max |W[:, j]| / 127,
 *                   packed once (when the weights are set) with their column sums;
 *   x per row i, at each run: q_x = round(x / s_x[i]) + z[i] in [0, 255], the row's range
 *                   [min(x, 0), max(x, 0)] mapped onto [0, 255] (zero exact: z[i]);
 *   y[i, j] = (sum_k q_x q_w - z[i] colsum[j]) (s_x[i] s_w[j]) + bias[j],
 * the sum exact in int32 (k <= KN_Q8_MAX_K), then one conversion to f32 and one fused
 * multiply-add. Every path (AVX-512 VNNI, AVX-VNNI, AVX2, portable C) computes the same
 * integers and the same float operations, so they give the same bits (test_q8).
 * PyTorch's quantize_dynamic does the same with one scale per tensor for x (and 7 bits of
 * it on x86); a scale per row is as cheap and keeps each sample's own range. */
#ifndef KN_Q8_H
#define KN_Q8_H

#include <stddef.h>
#include <stdint.h>

/* Largest k: 255 * 127 * k must stay below 2^31 (the int32 sums). */
#define KN_Q8_MAX_K 65536
/* Columns in a packed panel: 16 int32 lanes of an AVX-512 register. */
#define KN_Q8_PANEL 16

typedef struct {
    int64_t k, n;      /* W (k, n) */
    int64_t k4;        /* k in steps of 4 (the products sum 4 bytes a lane): ceil(k / 4) */
    int64_t panels;    /* ceil(n / 16) */
    float *scale;      /* (panels * 16) s_w; 0 past n */
    int32_t *colsum;   /* (panels * 16) sum over k of column j's q_w; 0 past n */
    int8_t *packed;    /* (panels, k4, 16, 4): panel p, step s, column c, byte r = q_w[4 s + r, 16 p + c] */
} kn__q8_weights;

/* Bytes of one allocation holding a kn__q8_weights and its arrays (64-byte aligned inside). */
size_t kn__q8_weights_bytes(int64_t k, int64_t n);
/* Quantizes W (k, n), row stride ldb, into mem (kn__q8_weights_bytes, 64-byte aligned);
 * returns the header at its start. */
kn__q8_weights *kn__q8_pack(void *mem, const float *W, int64_t k, int64_t n, int64_t ldb);

/* Bytes of working memory a product of m rows needs (the quantized rows and their scales). */
size_t kn__q8_scratch_bytes(int64_t m, int64_t k);

/* The ISAs, widest last; kn__q8_isa_best is the widest this CPU runs, capped by
 * KILN_Q8_ISA=avx512|avxvnni|avx2|portable (tests run each path). */
enum { KN_Q8_PORTABLE, KN_Q8_AVX2, KN_Q8_AVXVNNI, KN_Q8_AVX512 };
int kn__q8_isa_best(void);
const char *kn__q8_isa_name(int isa);

/* C (m, n), row stride ldc = act((quantized x) W + bias) as above; x (m, k) row stride lda;
 * bias (n) or NULL; act as kn__act_apply_rows (kiln.h's kn_activation; alpha its
 * parameter); scratch kn__q8_scratch_bytes(m, k) bytes, 64-byte aligned. Independent of
 * the thread count, bit for bit. */
void kn__q8_gemm(int isa, int64_t m, const float *x, int64_t lda, const kn__q8_weights *w, const float *bias, int act,
                 float alpha, float *C, int64_t ldc, void *scratch, int threads);

/* The two halves of kn__q8_gemm for callers that make their own rows (conv_q8.c: a
 * convolution's windows from an image quantized once): x (k) quantized to q (k bytes) with
 * its scale and zero point; and the product of m rows already quantized (qa row stride ldq
 * bytes, a multiple of 4 holding at least w->k4 * 4, the bytes past k zero; sx and zp a
 * row), on the calling thread. */
void kn__q8_quantize(int isa, const float *x, int64_t k, uint8_t *q, float *scale, int32_t *zp);
void kn__q8_product(int isa, int64_t m, const uint8_t *qa, int64_t ldq, const float *sx, const int32_t *zp,
                    const kn__q8_weights *w, const float *bias, int act, float alpha, float *C, int64_t ldc);

#endif
