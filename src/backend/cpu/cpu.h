/* cpu.h — the CPU backend's kernels, one per op, each computing node t from its sources
 * at the currently resolved shapes. The op table (graph/ops.c) points at these. */
#ifndef KN_CPU_H
#define KN_CPU_H

#include "graph/graph.h"

void kn__cpu_matmul(kn_graph *g, kn_tensor *t);
void kn__cpu_add(kn_graph *g, kn_tensor *t);
void kn__cpu_sub(kn_graph *g, kn_tensor *t);
void kn__cpu_mul(kn_graph *g, kn_tensor *t);
void kn__cpu_scale(kn_graph *g, kn_tensor *t);
void kn__cpu_copy(kn_graph *g, kn_tensor *t);
void kn__cpu_act(kn_graph *g, kn_tensor *t);
void kn__cpu_act_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_sum_rows(kn_graph *g, kn_tensor *t);
void kn__cpu_sum(kn_graph *g, kn_tensor *t);
void kn__cpu_sum_squares(kn_graph *g, kn_tensor *t);
void kn__cpu_loss(kn_graph *g, kn_tensor *t);
void kn__cpu_loss_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_optimizer(kn_graph *g, kn_tensor *t);
void kn__cpu_transpose(kn_graph *g, kn_tensor *t);
void kn__cpu_concat(kn_graph *g, kn_tensor *t);
void kn__cpu_slice(kn_graph *g, kn_tensor *t);
void kn__cpu_maximum(kn_graph *g, kn_tensor *t);
void kn__cpu_maximum_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_slice_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_rnn(kn_graph *g, kn_tensor *t);
void kn__cpu_rnn_grad(kn_graph *g, kn_tensor *t);
size_t kn__cpu_rnn_grad_scratch(const kn_graph *g, const kn_tensor *t);
/* A GEMM epilogue (sgemm.h's kn_sgemm_epilogue) adding a bias row and applying an
 * activation to each finished block (fused.c). */
typedef struct {
    const float *bias;  /* (n) or NULL */
    kn_activation act;
    float alpha;
} kn__bias_act;
void kn__bias_act_epilogue(const void *p, float *c, int64_t ldc, int64_t r0, int64_t rows, int64_t c0, int64_t cols);
size_t kn__cpu_sum_rows_scratch(const kn_graph *g, const kn_tensor *t);
size_t kn__cpu_batch_norm_scratch(const kn_graph *g, const kn_tensor *t);
size_t kn__cpu_batch_norm_grad_scratch(const kn_graph *g, const kn_tensor *t);
size_t kn__cpu_layer_norm_gamma_grad_scratch(const kn_graph *g, const kn_tensor *t);
/* y (1, n) = x (1, k) B (k, n), B in half precision (dtype KN_F16 or KN_BF16; gemv_half.c). */
void kn__gemv_half(kn_dtype dtype, int64_t n, int64_t k, const float *x, const uint16_t *B, int64_t ldb, float *y,
                   int threads);
/* The same, summing in the order of kn__sgemm_isa(isa, ...)'s one-row product (tests). */
void kn__gemv_half_isa(int isa, kn_dtype dtype, int64_t n, int64_t k, const float *x, const uint16_t *B, int64_t ldb,
                       float *y, int threads);
void kn__cpu_conv2d(kn_graph *g, kn_tensor *t);
void kn__cpu_conv2d_grad_input(kn_graph *g, kn_tensor *t);
void kn__cpu_conv2d_grad_kernel(kn_graph *g, kn_tensor *t);
size_t kn__cpu_conv2d_scratch(const kn_graph *g, const kn_tensor *t);
/* conv_direct.c: the forward convolution of few channels (under 16, KH*KW*C taps up to
 * 160) or of a kernel of at most 40 KB (taps up to KN_CONV_DIRECT_MAX_TAPS); F a multiple
 * of 8, ungrouped, f32; straight from the image. Its kernel gradient likewise, to kernels
 * of 160 KB. kn__conv_direct_fits says whether a layer takes it (KILN_CONV_DIRECT=0:
 * never). */
#define KN_CONV_DIRECT_MAX_TAPS 640
bool kn__conv_direct_fits(int64_t channels, int64_t taps, int64_t filters, bool grouped, bool kernel_grad);
/* A thread's scratch (floats): a chunk's padded input rows. */
size_t kn__conv_direct_scratch_floats(const kn__win *win, int64_t c);
void kn__conv_direct(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, const float *kernel, int64_t f,
                     const kn__win *win, const kn__bias_act *ba, float *y, float *scratch, int threads);
/* Its kernel gradient: partial[k] (KH*KW*C, F) = part k's sum, the parts cutting the N*OH
 * output rows evenly (kn__conv_direct_grad_kernel_parts of them at most max_parts); the
 * caller adds them in order. Scratch as the forward's. Takes what kn__conv_direct_fits
 * takes, with dy f32. */
int64_t kn__conv_direct_grad_kernel_parts(int64_t n, const kn__win *win, int64_t max_parts);
void kn__conv_direct_grad_kernel(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, const float *dy,
                                 int64_t f, const kn__win *win, float *partial, int64_t parts, float *scratch,
                                 int threads);
size_t kn__cpu_conv2d_grad_input_scratch(const kn_graph *g, const kn_tensor *t);
size_t kn__cpu_conv2d_grad_kernel_scratch(const kn_graph *g, const kn_tensor *t);
/* Pooling: an image slot per thread for the half tensors it widens or narrows (none in f32). */
size_t kn__cpu_pool2d_scratch(const kn_graph *g, const kn_tensor *t);
size_t kn__cpu_maxpool2d_grad_scratch(const kn_graph *g, const kn_tensor *t);
size_t kn__cpu_avgpool2d_grad_scratch(const kn_graph *g, const kn_tensor *t);
void kn__cpu_maxpool2d(kn_graph *g, kn_tensor *t);
void kn__cpu_maxpool2d_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_avgpool2d(kn_graph *g, kn_tensor *t);
void kn__cpu_avgpool2d_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_dropout(kn_graph *g, kn_tensor *t);
/* Dropout's masks (dropout.c), for the kernels that drop inside (attention, recurrent
 * dropout): the element key of the mask with node key node_key at this run's step (and
 * accumulation micro-batch), its 16-bit threshold and 1 / (1 - rate); element e's factor is
 * kn__cpu_dropout_keep. */
uint64_t kn__cpu_dropout_key(const kn_graph *g, uint32_t node_key, float rate, uint32_t *threshold, float *scale);
/* Element e's keep factor: 0 or scale, from bits 16 (e % 4) .. of draw e / 4. */
static inline float kn__cpu_dropout_keep(uint64_t key, uint64_t e, uint32_t threshold, float scale) {
    uint32_t draw = (uint32_t)(kn__rng_draw(key, e >> 2) >> (16 * (e & 3))) & 0xffffu;
    return draw >= threshold ? scale : 0.0f;
}
void kn__cpu_batch_norm(kn_graph *g, kn_tensor *t);
void kn__cpu_batch_norm_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_batch_norm_fold(kn_graph *g, kn_tensor *t);
void kn__cpu_layer_norm(kn_graph *g, kn_tensor *t);
void kn__cpu_layer_norm_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_layer_norm_gamma_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_dense(kn_graph *g, kn_tensor *t);
void kn__cpu_matmul_act_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_elementwise(kn_graph *g, kn_tensor *t);
void kn__cpu_opt_update(kn_graph *g, kn_tensor *t);
void kn__cpu_grad_norm(kn_graph *g, kn_tensor *t);

/* y = exp(x) over n values (vexp.c; within 2 ulp of expf; x and y may be equal), and
 * log(sum(exp(z))) over one row, max-shifted. */
void kn__vexp(const float *x, float *y, int64_t n);
float kn__log_sum_exp(const float *z, int64_t c);
/* A row's max (-inf for n = 0); y = exp(x - shift) for shift the row's max (a difference
 * above 0 is taken as 0), returning the sum of y; a dot product: 8 lanes at a time (sums in
 * another order than a loop's: to rounding). */
float kn__vmax(const float *x, int64_t n);
float kn__vexp_sum(const float *x, float shift, float *y, int64_t n);
float kn__vdot(const float *x, const float *y, int64_t n);
/* y = sigmoid(x), or x sigmoid(x) (silu), 8 or 16 lanes at a time through the exp above (x may
 * be y; a few ulp from the expf formula). */
void kn__vsigmoid(const float *x, float *y, int64_t n, bool silu);
/* kn__vsigmoid and kn__vgelu over rows rows of n (row strides ldx, ldy; x may be y): one
 * call for a GEMM epilogue's block, whose rows are short (kn__act_apply_rows). */
void kn__vsigmoid_rows(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t rows, int64_t n, bool silu);
void kn__vgelu_rows(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t rows, int64_t n);
/* y = x Phi(x) (GELU, erf's; vexp.c says how, within a few ulp), 8 or 16 lanes at a time (x may be y). */
void kn__vgelu(const float *x, float *y, int64_t n);
/* dx = dy times gelu'(v) or silu'(v), 8 or 16 lanes at a time (dx may be dy). */
void kn__vgelu_grad(const float *dy, const float *v, float *dx, int64_t n);
void kn__vsilu_grad(const float *dy, const float *v, float *dx, int64_t n);
/* The two above over rows rows of n: dy and dx with row stride ld (dx may be dy), v ldv. */
void kn__vgelu_grad_rows(const float *dy, const float *v, int64_t ldv, float *dx, int64_t ld, int64_t rows, int64_t n);
void kn__vsilu_grad_rows(const float *dy, const float *v, int64_t ldv, float *dx, int64_t ld, int64_t rows, int64_t n);
/* The lanes the four above run on: 16 where the CPU has AVX-512F, else 8 (1: a build without
 * AVX2). kn__vact_force_lanes(8) keeps them at 8 (tests: both widths on one machine); 0 the
 * best again. */
int kn__vact_lanes(void);
void kn__vact_force_lanes(int lanes);

/* A tensor's element type as the mixed-precision GEMM (sgemm.h's kn__gemm_mixed) names it. */
#define kn__half_gemm_type(d) ((d) == KN_BF16 ? KN_GEMM_BF16 : (d) == KN_F16 ? KN_GEMM_F16 : KN_GEMM_F32)
#define kn__gemm_type(t) kn__half_gemm_type((t)->dtype)

/* Threads a product of (m,k) x (k,n) gets (gemm.c's thresholds). */
int kn__gemm_threads(const kn_graph *g, int64_t m, int64_t n, int64_t k);

/* Elementwise activation forward and gradient over n values (activation.c), shared by the
 * fused kernels: y = act(x); dx = dy * act'(v), v the output or the input as
 * kn__act_grad_uses_output says. Not softmax. Any of the pointers may be equal. */
void kn__act_apply(kn_activation a, float alpha, const float *x, float *y, int64_t n);
/* kn__act_apply in place over a block of rows rows of n, row stride ld (a GEMM epilogue's). */
void kn__act_apply_rows(kn_activation a, float alpha, float *c, int64_t ld, int64_t rows, int64_t n);
/* kn__act_grad_apply in place over a block: dx = c (rows of n, stride ld) times act'(v), v
 * f32 with row stride ldv (a GEMM epilogue's block of the incoming gradient). */
void kn__act_grad_apply_rows(kn_activation a, float alpha, float *c, int64_t ld, const float *v, int64_t ldv, int64_t rows,
                             int64_t n);
void kn__act_grad_apply(kn_activation a, float alpha, const float *dy, const float *v, float *dx, int64_t n);

/* Elementwise loops below this many elements run on one thread: at batch 32 a layer's
 * activations are ~2k floats, where waking a second thread costs more than it saves. */
#define KN_PAR_MIN 32768

/* A loop body over elements [lo, hi). */
typedef void (*kn__range_fn)(void *args, int64_t lo, int64_t hi);
/* Runs fn over [0, n): on the caller's thread below KN_PAR_MIN, else split over the
 * context's threads in chunks that are multiples of grain (16 floats keeps chunks 64-byte
 * aligned; a row length keeps rows whole). */
void kn__parallel_for(const kn_graph *g, int64_t n, int64_t grain, kn__range_fn fn, void *args);
#define KN_GRAIN 16

/* A kernel's working memory of `bytes`: node t's planned scratch when it holds that many,
 * else a block allocated for this call (a kernel run outside a compiled graph's plan); NULL,
 * the graph's error set, when out of memory. kn__cpu_scratch_done frees what was allocated. */
void *kn__cpu_scratch(kn_graph *g, const kn_tensor *t, size_t bytes);
void kn__cpu_scratch_done(kn_graph *g, const kn_tensor *t, void *scratch);

/* Int8 inference (dense_q8.c): node t's product in int8 when the graph packed its weights
 * (true: done); its scratch (the quantized rows), 0 when it runs in f32. */
bool kn__cpu_q8_product(kn_graph *g, kn_tensor *t);
/* Weights that stay constant between packings: a parameter, a folded value, a view of either. */
bool kn__q8_constant(const kn_tensor *b);
size_t kn__cpu_q8_scratch(const kn_graph *g, const kn_tensor *t);
/* A convolution's forward in int8 (conv_q8.c): whether node t qualifies (kn__q8_eligible's
 * part for convolutions), its run (true: done) and its scratch. */
bool kn__q8_conv_eligible(const kn_graph *g, const kn_tensor *t);
bool kn__cpu_conv_q8(kn_graph *g, kn_tensor *t);
size_t kn__cpu_conv_q8_scratch(const kn_graph *g, const kn_tensor *t);

/* Attention over heads and its gradient (attention.c); scratch: a thread's probabilities. */
void kn__cpu_attention(kn_graph *g, kn_tensor *t);
void kn__cpu_attention_grad(kn_graph *g, kn_tensor *t);
size_t kn__cpu_attention_scratch(const kn_graph *g, const kn_tensor *t);
size_t kn__cpu_attention_grad_scratch(const kn_graph *g, const kn_tensor *t);
/* Each sample's axes permuted (permute.c; graph/ops_permute.c). */
void kn__cpu_permute(kn_graph *g, kn_tensor *t);
/* A 3-D convolution's depth taps as channels, and their gradient (depth_taps.c;
 * graph/ops_depth_taps.c). */
void kn__cpu_depth_taps(kn_graph *g, kn_tensor *t);
/* Group normalization and its gradients (groupnorm.c; graph/ops_group_norm.c); scratch: the
 * per-channel sums of each sample's parts and the per-channel coefficients. */
void kn__cpu_group_norm(kn_graph *g, kn_tensor *t);
void kn__cpu_group_norm_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_group_norm_gamma_grad(kn_graph *g, kn_tensor *t);
size_t kn__cpu_group_norm_scratch(const kn_graph *g, const kn_tensor *t);
/* The per-sample broadcasts and their reduction (bcast.c; graph/ops_bcast.c). */
void kn__cpu_bcast_binary(kn_graph *g, kn_tensor *t);
void kn__cpu_bcast_reduce(kn_graph *g, kn_tensor *t);
/* The mean over the steps a mask keeps and its gradient (masked_mean.c). */
void kn__cpu_masked_mean(kn_graph *g, kn_tensor *t);
void kn__cpu_masked_mean_grad(kn_graph *g, kn_tensor *t);
/* Keras's Masking's mask of x rows (N, T*C) -> (N, T) (masked_mean.c). */
void kn__cpu_mask_values(kn_graph *g, kn_tensor *t);
/* Each row over its L2 norm, and the gradient (unitnorm.c). */
void kn__cpu_unit_norm(kn_graph *g, kn_tensor *t);
void kn__cpu_unit_norm_grad(kn_graph *g, kn_tensor *t);
/* Gaussian noise, Gaussian and alpha dropout (KN_OP_NOISE, noise.c). */
void kn__cpu_noise(kn_graph *g, kn_tensor *t);

/* An embedding lookup (gather) and its scatter-add gradient (embedding.c). */
void kn__cpu_gather(kn_graph *g, kn_tensor *t);
void kn__cpu_gather_grad(kn_graph *g, kn_tensor *t);

/* The depthwise convolution and its gradients (depthwise.c); the kernel gradient's scratch:
 * the partial sums of its parts (none when one part does). */
void kn__cpu_depthwise_conv2d(kn_graph *g, kn_tensor *t);
void kn__cpu_depthwise_conv2d_grad_input(kn_graph *g, kn_tensor *t);
void kn__cpu_depthwise_conv2d_grad_kernel(kn_graph *g, kn_tensor *t);
size_t kn__cpu_depthwise_conv2d_grad_kernel_scratch(const kn_graph *g, const kn_tensor *t);

/* Padding and cropping, upsampling and its gradient (resize.c). */
void kn__cpu_pad2d(kn_graph *g, kn_tensor *t);
void kn__cpu_upsample2d(kn_graph *g, kn_tensor *t);
void kn__cpu_upsample2d_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_resize2d(kn_graph *g, kn_tensor *t);
void kn__cpu_resize2d_grad(kn_graph *g, kn_tensor *t);
/* Keras 3's random image augmentation (random_aug.c): the key sample n's draw is taken under
 * (dropout's, with the layer's seed when it has one), and the four kernels. */
uint64_t kn__cpu_random_image_key(const kn_graph *g, const kn_tensor *t);
void kn__cpu_random_affine(kn_graph *g, kn_tensor *t);
void kn__cpu_random_affine_grad(kn_graph *g, kn_tensor *t);
void kn__cpu_random_color(kn_graph *g, kn_tensor *t);
void kn__cpu_random_color_grad(kn_graph *g, kn_tensor *t);

#endif
