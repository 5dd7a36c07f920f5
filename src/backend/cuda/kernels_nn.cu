/* kernels_nn.cu — batch norm, layer norm, pooling, convolution and the fused elementwise
 * chain on the GPU, with the CPU backend's formulas (batchnorm.c, layernorm.c, conv.c,
 * conv_gemm.c, fused.c).
 *
 * Convolutions run as im2col + cuBLASLt (ops.c): this file has the im2col and col2im
 * kernels they use, and the older direct kernels (one thread per output element, sums in
 * the CPU's (ky, kx, c) order), kept selectable (KILN_CUDA_CONV=direct): on an H200 the
 * CNN of models/cnn.json took 0.305 s an epoch the first way, 10.5 s the second
 * (bench/RESULTS.md, session 8). The gradients gather (each thread
 * sums what reaches its element), never scatter with atomics (max pooling's scatter, for
 * windows apart, has each cell written by one thread), so results are the same bits every
 * run. */
#include "launch.h"
#include "device.cuh"

#define THREADS 256

#define blocks_for(n) kn__cu_blocks_for((n), THREADS) /* (device.cuh) */
#define GRID_STRIDE(i, n) KN_CU_GRID_STRIDE(i, n)

/* ------------------------------------------------------------- batch norm */

/* One block per channel: batch mean and biased variance in double (the CPU's formulas),
 * or the moving statistics when not training; ws = mean | var | inv | sdy | sdyx. With dy
 * (backward), the means of dy and dy * xhat too. */
__global__ void bn_stats_kernel(const kn__cuda_step *stp, const float *x, const float *dy, float *mm, float *mv,
                                float momentum, float eps, bool update_moving, float *ws, int64_t rows, int64_t c,
                                bool force_train) {
    __shared__ double part[THREADS];
    int64_t k = blockIdx.x;
    float *mean = ws, *var = ws + c, *inv = ws + 2 * c, *sdy = ws + 3 * c, *sdyx = ws + 4 * c;
    bool train = (force_train || stp->training) && rows > 0;
    if (!train) {
        if (threadIdx.x == 0) {
            mean[k] = mm[k];
            inv[k] = 1.0f / sqrtf(mv[k] + eps);
        }
        return;
    }
    double s = 0;
    for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) s += x[r * c + k];
    double mu = kn__block_sum_double(s, part) / (double)rows;
    __syncthreads();
    double q = 0;
    for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
        double d = x[r * c + k] - mu;
        q += d * d;
    }
    double v = kn__block_sum_double(q, part) / (double)rows;
    float fmean = (float)mu, finv = (float)(1.0 / sqrt(v + (double)eps));
    if (dy) {
        __syncthreads();
        double sd = 0, sdx = 0;
        for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
            float xh = (x[r * c + k] - fmean) * finv;
            sd += dy[r * c + k];
            sdx += (double)dy[r * c + k] * xh;
        }
        double tsd = kn__block_sum_double(sd, part);
        __syncthreads();
        double tsdx = kn__block_sum_double(sdx, part);
        if (threadIdx.x == 0) {
            sdy[k] = (float)(tsd / (double)rows);
            sdyx[k] = (float)(tsdx / (double)rows);
        }
    }
    if (threadIdx.x == 0) {
        mean[k] = fmean;
        var[k] = (float)v;
        inv[k] = finv;
        if (update_moving && !dy && !stp->skip) { /* Keras: moving = moving * momentum + batch * (1 - momentum);
                                                    * skip: a resident run after a failed step */
            mm[k] = mm[k] * momentum + fmean * (1.0f - momentum);
            mv[k] = mv[k] * momentum + (float)v * (1.0f - momentum);
        }
    }
}

__global__ void bn_apply_kernel(const float *x, float *y, const float *ws, int64_t n, int64_t c) {
    GRID_STRIDE(i, n) {
        int64_t k = i % c;
        y[i] = (x[i] - ws[k]) * ws[2 * c + k];
    }
}

__global__ void bn_grad_kernel(const float *dy, const float *x, float *dx, const float *ws, int64_t n, int64_t c) {
    GRID_STRIDE(i, n) {
        int64_t k = i % c;
        float inv = ws[2 * c + k], xh = (x[i] - ws[k]) * inv;
        dx[i] = inv * (dy[i] - ws[3 * c + k] - xh * ws[4 * c + k]);
    }
}

extern "C" cudaError_t kn__cu_batch_norm(cudaStream_t s, const kn__cuda_step *step, const float *x, float *y,
                                         float *mm, float *mv, float momentum, float eps, bool update_moving,
                                         float *ws, int64_t rows, int64_t c) {
    if (c <= 0) return cudaGetLastError();
    bn_stats_kernel<<<(unsigned)c, THREADS, 0, s>>>(step, x, NULL, mm, mv, momentum, eps, update_moving, ws, rows, c,
                                                    false);
    if (rows > 0) bn_apply_kernel<<<blocks_for(rows * c), THREADS, 0, s>>>(x, y, ws, rows * c, c);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_batch_norm_grad(cudaStream_t s, const float *dy, const float *x, float *dx, float eps,
                                              float *ws, int64_t rows, int64_t c) {
    if (c <= 0 || rows <= 0) return cudaGetLastError();
    bn_stats_kernel<<<(unsigned)c, THREADS, 0, s>>>(NULL, x, dy, NULL, NULL, 0, eps, false, ws, rows, c, true);
    bn_grad_kernel<<<blocks_for(rows * c), THREADS, 0, s>>>(dy, x, dx, ws, rows * c, c);
    return cudaGetLastError();
}

__global__ void bn_fold_kernel(const float *mm, const float *mv, float *out, float eps, bool shift, int64_t c) {
    GRID_STRIDE(k, c) {
        float inv = 1.0f / sqrtf(mv[k] + eps);
        out[k] = shift ? -mm[k] * inv : inv;
    }
}

extern "C" cudaError_t kn__cu_batch_norm_fold(cudaStream_t s, const float *mm, const float *mv, float *out, float eps,
                                              bool shift, int64_t c) {
    if (c > 0) bn_fold_kernel<<<blocks_for(c), THREADS, 0, s>>>(mm, mv, out, eps, shift, c);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- layer norm
 *
 * layernorm.c's formulas, a warp per row (rows are independent: no block barrier, each
 * row's sums by shuffles); x, dy and the outputs stored as their type codes say (mixed
 * precision), gamma, beta and gamma's gradient f32. Like the CPU, every kernel takes a
 * row's statistics from ln_row_stats, and the backward recomputes them. */

static unsigned row_warp_blocks(int64_t rows) { return (unsigned)((rows * 32 + THREADS - 1) / THREADS); }

/* Row r's mean and 1 / sqrt(var + eps) (biased) by the CPU's row_stats' corrected two
 * passes (the deviations from a first mean correct it), the lanes' sums by shuffles; every
 * lane of the warp gets them. */
__device__ static inline void ln_row_stats(const void *x, int tx, int64_t off, int64_t c, float eps, int lane,
                                           float *mean, float *rstd) {
    float s = 0, e = 0, q = 0;
    for (int64_t k = lane; k < c; k += 32) s += kn__ld(x, tx, off + k);
    float mu = kn__warp_sum(s) / (float)c;
    for (int64_t k = lane; k < c; k += 32) {
        float d = kn__ld(x, tx, off + k) - mu;
        e += d;
        q += d * d;
    }
    float em = kn__warp_sum(e) / (float)c, var = kn__warp_sum(q) / (float)c - em * em;
    *mean = mu + em;
    *rstd = 1.0f / sqrtf((var > 0 ? var : 0) + eps);
}

/* y = (x - mean) * rstd * gamma + beta; y may be x (each lane reads its elements before
 * writing them, and the warp's sums were all taken before). */
__global__ void ln_forward_kernel(const void *x, int tx, const float *gamma, const float *beta, void *y, int ty,
                                  int64_t rows, int64_t c, float eps) {
    int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return; /* (the whole warp: r is the warp's) */
    float mean, rstd;
    ln_row_stats(x, tx, r * c, c, eps, lane, &mean, &rstd);
    for (int64_t k = lane; k < c; k += 32) {
        float v = (kn__ld(x, tx, r * c + k) - mean) * rstd;
        if (gamma) v *= gamma[k];
        if (beta) v += beta[k];
        kn__st(y, ty, r * c + k, v);
    }
}

/* dx = rstd * (d - mean(d) - xhat * mean(d * xhat)), d = dy * gamma (dy without). */
__global__ void ln_grad_kernel(const void *dy, int tdy, const void *x, int tx, const float *gamma, void *dx, int tdx,
                               int64_t rows, int64_t c, float eps) {
    int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    float mean, rstd, sd = 0, sdx = 0;
    ln_row_stats(x, tx, r * c, c, eps, lane, &mean, &rstd);
    for (int64_t k = lane; k < c; k += 32) {
        float d = kn__ld(dy, tdy, r * c + k) * (gamma ? gamma[k] : 1.0f);
        sd += d;
        sdx += d * ((kn__ld(x, tx, r * c + k) - mean) * rstd);
    }
    float md = kn__warp_sum(sd) / (float)c, mdx = kn__warp_sum(sdx) / (float)c;
    for (int64_t k = lane; k < c; k += 32) {
        float d = kn__ld(dy, tdy, r * c + k) * (gamma ? gamma[k] : 1.0f);
        kn__st(dx, tdx, r * c + k, rstd * (d - md - (kn__ld(x, tx, r * c + k) - mean) * rstd * mdx));
    }
}

/* Each row's mean and rstd into stats (rows, 2), for gamma's gradient. */
__global__ void ln_stats_kernel(const void *x, int tx, float *stats, int64_t rows, int64_t c, float eps) {
    int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    float mean, rstd;
    ln_row_stats(x, tx, r * c, c, eps, lane, &mean, &rstd);
    if (lane == 0) stats[2 * r] = mean, stats[2 * r + 1] = rstd;
}

/* A thread per column: the sum of dy * xhat over rows [chunk * blockIdx.y, + chunk), in
 * row order, into out's row blockIdx.y. */
__global__ void ln_gamma_part_kernel(const void *dy, int tdy, const void *x, int tx, const float *stats, float *out,
                                     int64_t rows, int64_t c, int64_t chunk) {
    int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, r0 = (int64_t)blockIdx.y * chunk;
    if (k >= c) return;
    int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
    float s = 0;
    for (int64_t r = r0; r < r1; r++)
        s += kn__ld(dy, tdy, r * c + k) * ((kn__ld(x, tx, r * c + k) - stats[2 * r]) * stats[2 * r + 1]);
    out[(int64_t)blockIdx.y * c + k] = s;
}

extern "C" cudaError_t kn__cu_layer_norm(cudaStream_t s, const void *x, int tx, const float *gamma, const float *beta,
                                         void *y, int ty, float eps, int64_t rows, int64_t c) {
    if (rows > 0 && c > 0)
        ln_forward_kernel<<<row_warp_blocks(rows), THREADS, 0, s>>>(x, tx, gamma, beta, y, ty, rows, c, eps);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_layer_norm_grad(cudaStream_t s, const void *dy, int tdy, const void *x, int tx,
                                              const float *gamma, void *dx, int tdx, float eps, int64_t rows,
                                              int64_t c) {
    if (rows > 0 && c > 0)
        ln_grad_kernel<<<row_warp_blocks(rows), THREADS, 0, s>>>(dy, tdy, x, tx, gamma, dx, tdx, rows, c, eps);
    return cudaGetLastError();
}

/* gamma's gradient sums rows in chunks of at least KN_CU_SUM_ROWS_CHUNK, at most that many
 * chunks (a count fixed by the shape), then the chunks in order. */
static int64_t ln_chunk(int64_t rows) {
    int64_t spread = (rows + KN_CU_SUM_ROWS_CHUNK - 1) / KN_CU_SUM_ROWS_CHUNK;
    return spread > KN_CU_SUM_ROWS_CHUNK ? spread : KN_CU_SUM_ROWS_CHUNK;
}

extern "C" size_t kn__cu_layer_norm_gamma_grad_ws(int64_t rows, int64_t c) {
    if (rows <= 0 || c <= 0) return 0;
    int64_t chunks = (rows + ln_chunk(rows) - 1) / ln_chunk(rows);
    return (size_t)(2 * rows + (chunks > 1 ? chunks * c : 0)) * sizeof(float);
}

extern "C" cudaError_t kn__cu_layer_norm_gamma_grad(cudaStream_t s, const void *dy, int tdy, const void *x, int tx,
                                                    float *out, float eps, float *ws, int64_t rows, int64_t c) {
    if (c <= 0) return cudaGetLastError();
    if (rows <= 0) return cudaMemsetAsync(out, 0, (size_t)c * sizeof(float), s);
    int64_t chunk = ln_chunk(rows), chunks = (rows + chunk - 1) / chunk;
    unsigned col_blocks = (unsigned)((c + THREADS - 1) / THREADS);
    float *stats = ws, *partial = ws + 2 * rows;
    ln_stats_kernel<<<row_warp_blocks(rows), THREADS, 0, s>>>(x, tx, stats, rows, c, eps);
    ln_gamma_part_kernel<<<dim3(col_blocks, (unsigned)chunks), THREADS, 0, s>>>(dy, tdy, x, tx, stats,
                                                                              chunks > 1 ? partial : out, rows, c, chunk);
    if (chunks > 1) return kn__cu_sum_rows(s, partial, out, NULL, chunks, c); /* (chunks <= its chunk: no ws) */
    return cudaGetLastError();
}

/* ------------------------------------------------------------- 32-bit indices (pooling, im2col, col2im)
 *
 * The pooling, im2col and col2im kernels decompose a flat index into (image, row, column,
 * channel) and window taps. With int64_t each term is a 64-bit division or modulo: the GPU
 * has no integer divider, and nvcc makes each a test of the operands' high words, then a
 * 32-bit division in floating point (some 20 instructions) or a 64-bit subroutine (some
 * 70); im2col has 10 of them an element, col2im 5 and up to 4 a tap. With 32-bit indices and
 * divisors fixed for the launch, each is a multiply-high, an add and a shift (fastdiv: the
 * magic number computed once by the host), and a multiply-subtract for the remainder. The
 * fast kernels below also give each thread V neighbouring channels (NHWC: contiguous), so
 * that the index splits once per V elements: V = 4, one 16-byte load or store, when c is a
 * multiple of 4 and every pointer is 16-byte aligned; V = 1 otherwise. Each keeps its
 * 64-bit kernel's order of operations per output element, so the results are the same bits.
 *
 * The launchers take the 32-bit kernels when every index they form stays below 2^31
 * (win_fits32 and the launch's own element count) and fall back to the 64-bit kernels
 * (pool64, pool_grad64, im2col64, col2im64: the former kernels, unchanged) otherwise, or
 * when KILN_CUDA_INDEX64=1 asks for them (test_cuda_ops compares the two, bit for bit). */

static bool fits32(int64_t v) { return v >= 0 && v <= INT32_MAX; }

/* Every index and coordinate the 32-bit kernels form for w stays below 2^31: the images'
 * elements (n h w c), the outputs' (n oh ow c: pools' y and dy, whose positions n oh ow
 * are also the convolutions' rows), and a window's reach in rows and columns (at most
 * (o + 1) s + k d + pad + the image). Padding is never negative (graph.c); checked here
 * because the kernels' divisions by the stride assume it. */
static bool win_fits32(const kn__cuda_win *w) {
    return !w->index64 && w->pt >= 0 && w->pl >= 0 && fits32(w->n * w->h * w->w * w->c) &&
           fits32(w->n * w->oh * w->ow * (w->c > 1 ? w->c : 1)) &&
           fits32(((int64_t)w->oh + 1) * w->sh + (int64_t)w->kh * w->dh + w->pt + w->h) &&
           fits32(((int64_t)w->ow + 1) * w->sw + (int64_t)w->kw * w->dw + w->pl + w->w);
}

/* The window with 32-bit fields (the kernels' arithmetic stays 32-bit). */
typedef struct {
    int n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow;
} win32;

static win32 win32_of(const kn__cuda_win *w) {
    win32 r = {(int)w->n, (int)w->h, (int)w->w, (int)w->c, w->kh, w->kw, w->sh, w->sw, w->dh, w->dw, w->pt, w->pl,
               w->oh, w->ow};
    return r;
}

/* n / d for 0 <= n < 2^31 and 1 <= d < 2^31: q = (mulhi(n, m) + n) >> s, with s = ceil(log2 d)
 * and m = floor(2^32 (2^s - d) / d) + 1 (the round-up method of Granlund and Montgomery, as
 * CUTLASS's FastDivmod; mulhi(n, m) < n, so the sum fits in 32 bits). d kept for remainders. */
typedef struct {
    uint32_t d, m, s;
} fastdiv;

static fastdiv fdiv_of(int64_t d) {
    fastdiv f = {(uint32_t)(d < 1 ? 1 : d), 0, 0}; /* d < 1: a divisor the launch never uses */
    while ((1ull << f.s) < f.d) f.s++;
    f.m = (uint32_t)(((1ull << 32) * ((1ull << f.s) - f.d)) / f.d + 1);
    return f;
}

__device__ static inline int fdiv_q(fastdiv f, int n) {
    uint32_t u = (uint32_t)n;
    return (int)((__umulhi(u, f.m) + u) >> f.s);
}

/* n = q d + *r; returns q. */
__device__ static inline int fdiv_qr(fastdiv f, int n, int *r) {
    int q = fdiv_q(f, n);
    *r = n - q * (int)f.d;
    return q;
}

/* The divisors of a launch with V channels a thread: c / V, K / V (K = kh kw c, a column
 * row), the image's w and h, the output's ow and oh, per = oh ow positions an image, the
 * window's kw, the strides. */
typedef struct {
    fastdiv cv, kv, w, h, ow, oh, per, kw, sh, sw;
} win_divs;

static win_divs win_divs_of(const kn__cuda_win *w, int v) {
    win_divs d = {fdiv_of(w->c / v), fdiv_of((int64_t)w->kh * w->kw * w->c / v), fdiv_of(w->w), fdiv_of(w->h),
                  fdiv_of(w->ow), fdiv_of(w->oh), fdiv_of((int64_t)w->oh * w->ow), fdiv_of(w->kw),
                  fdiv_of(w->sh), fdiv_of(w->sw)};
    return d;
}

/* Channels a thread: 4 when c allows it and every pointer (NULL: none) is 16-byte aligned. */
static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }
static int vec_of(int64_t c, const void *a, const void *b, const void *d, const void *e) {
    return c % 4 == 0 && aligned16(a) && aligned16(b) && aligned16(d) && aligned16(e) ? 4 : 1;
}

/* A grid-stride loop over [0, n), n < 2^31 (the next index summed in 32 bits unsigned:
 * below 2^32, no overflow). */
__device__ static inline int grid_next(int i, int n) {
    uint32_t j = (uint32_t)i + gridDim.x * blockDim.x;
    return j < (uint32_t)n ? (int)j : n;
}
#define GRID_STRIDE32(i, n) for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < (n); i = grid_next(i, n))

/* V consecutive floats at p (V = 4: one 16-byte access, the launcher checked the alignment). */
template <int V> __device__ static inline void ldv(const float *p, float *v) {
    if (V == 4) {
        float4 t = *(const float4 *)p;
        v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
    } else {
        for (int l = 0; l < V; l++) v[l] = p[l];
    }
}
template <int V> __device__ static inline void stv(float *p, const float *v) {
    if (V == 4) {
        float4 t;
        t.x = v[0], t.y = v[1], t.z = v[2], t.w = v[3];
        *(float4 *)p = t;
    } else {
        for (int l = 0; l < V; l++) p[l] = v[l];
    }
}

/* ------------------------------------------------------------- pooling (conv.c) */

/* The valid taps [lo, hi) of output position o (cell o*s - p + k*d in [0, n)). */
__device__ static void taps(int64_t o, int s, int p, int d, int kn, int64_t n, int *lo, int *hi) {
    int64_t base = o * s - p;
    int a = 0, b = kn;
    while (a < b && base + (int64_t)a * d < 0) a++;
    while (b > a && base + (int64_t)(b - 1) * d >= n) b--;
    *lo = a, *hi = b;
}

/* taps() of a pooling window (d = 1) whose tap 0 is cell base: [clamp(-base), clamp(n - base))
 * within [0, kn), the same range without the loops. */
__device__ static inline void taps32(int base, int kn, int n, int *lo, int *hi) {
    int a = -base < 0 ? 0 : -base > kn ? kn : -base;
    *lo = a, *hi = n - base < a ? a : n - base > kn ? kn : n - base;
}

/* y[n, oy, ox, ch .. ch + V) (thread t: element t V of y), each channel in the CPU's (ky, kx)
 * order: the first maximum (strict >, from -inf), or the mean. */
template <int V>
__device__ static inline void pool_body(win32 w, win_divs dv, bool max, const float *x, float *y, int groups) {
    GRID_STRIDE32(t, groups) {
        int cg, p = fdiv_qr(dv.cv, t, &cg), ox, q = fdiv_qr(dv.ow, p, &ox), oy, n = fdiv_qr(dv.oh, q, &oy);
        int by = oy * w.sh - w.pt, bx = ox * w.sw - w.pl, y0, y1, x0, x1;
        taps32(by, w.kh, w.h, &y0, &y1);
        taps32(bx, w.kw, w.w, &x0, &x1);
        float acc[V], v[V];
        for (int l = 0; l < V; l++) acc[l] = max ? -INFINITY : 0.0f;
        for (int ky = y0; ky < y1; ky++)
            for (int kx = x0; kx < x1; kx++) {
                ldv<V>(x + ((n * w.h + by + ky) * w.w + bx + kx) * w.c + cg * V, v);
                for (int l = 0; l < V; l++) acc[l] = max ? (v[l] > acc[l] ? v[l] : acc[l]) : acc[l] + v[l];
            }
        if (!max)
            for (int l = 0; l < V; l++) acc[l] *= 1.0f / (float)((y1 - y0) * (x1 - x0));
        stv<V>(y + t * V, acc);
    }
}
__global__ void pool1_kernel(win32 w, win_divs dv, bool max, const float *x, float *y, int groups) {
    pool_body<1>(w, dv, max, x, y, groups);
}
__global__ void pool4_kernel(win32 w, win_divs dv, bool max, const float *x, float *y, int groups) {
    pool_body<4>(w, dv, max, x, y, groups);
}

/* The 64-bit fallback (one thread an element). */
__global__ void pool64_kernel(kn__cuda_win w, bool max, const float *x, float *y) {
    int64_t total = w.n * w.oh * w.ow * w.c;
    GRID_STRIDE(i, total) {
        int64_t ch = i % w.c, p = i / w.c, ox = p % w.ow, oy = (p / w.ow) % w.oh, n = p / ((int64_t)w.ow * w.oh);
        int y0, y1, x0, x1;
        taps(oy, w.sh, w.pt, 1, w.kh, w.h, &y0, &y1);
        taps(ox, w.sw, w.pl, 1, w.kw, w.w, &x0, &x1);
        float acc = max ? -INFINITY : 0.0f;
        for (int ky = y0; ky < y1; ky++)
            for (int kx = x0; kx < x1; kx++) {
                float v = x[((n * w.h + oy * w.sh - w.pt + ky) * w.w + ox * w.sw - w.pl + kx) * w.c + ch];
                acc = max ? (v > acc ? v : acc) : acc + v;
            }
        if (!max) acc *= 1.0f / (float)((y1 - y0) * (x1 - x0));
        y[i] = acc;
    }
}

extern "C" cudaError_t kn__cu_pool(cudaStream_t s, const kn__cuda_win *w, bool max, const float *x, float *y) {
    int64_t total = w->n * w->oh * w->ow * w->c;
    if (total <= 0) return cudaGetLastError();
    if (!win_fits32(w)) {
        pool64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, max, x, y);
        return cudaGetLastError();
    }
    int v = vec_of(w->c, x, y, NULL, NULL);
    int groups = (int)(total / v);
    if (v == 4) pool4_kernel<<<blocks_for(groups), THREADS, 0, s>>>(win32_of(w), win_divs_of(w, 4), max, x, y, groups);
    else pool1_kernel<<<blocks_for(groups), THREADS, 0, s>>>(win32_of(w), win_divs_of(w, 1), max, x, y, groups);
    return cudaGetLastError();
}

/* The pooling gradient, two ways. Both give dx[n, yy, xx, ch] the sum, in the CPU's
 * (oy, ox) order from 0, of what each window holding the cell gives it: an average window
 * dy / its taps, a max window its dy to its first maximum only (strict >, in (ky, kx)
 * order from -inf; the window's first cell when none is greater), then the fused
 * activation's gradient at act_v.
 *
 * Gather (any windows): a thread per V channels of a dx cell visits the windows that hold
 * the cell, and for a max window finds its maximum again. Overlapping windows (stride <
 * size) give a cell several windows, and each is scanned once per cell of it.
 *
 * Scatter (max pooling whose windows do not overlap: stride >= size in both directions):
 * a cell lies in one window at most, so its sum is 0 + dy (the maximum) or 0. A thread per
 * V channels of a window scans it once and writes its block of dx: the cells from its
 * first row and column up to the next window's (the first block from 0, the last to the
 * image's end), which tile the image and hold the window, so every cell is written once
 * (the cells between windows and past the last get 0). */
template <int V>
__device__ static inline void pool_grad_gather_body(win32 w, win_divs dv, bool max, const float *dy, const float *x,
                                                    float *dx, const float *act_v, int act, float alpha, int groups) {
    GRID_STRIDE32(e, groups) {
        int cg, p = fdiv_qr(dv.cv, e, &cg), xx, q = fdiv_qr(dv.w, p, &xx), yy, n = fdiv_qr(dv.h, q, &yy);
        int ch = cg * V, cell = yy * w.w + xx;
        float acc[V], d[V], v[V], best[V], av[V];
        int arg[V];
        for (int l = 0; l < V; l++) acc[l] = 0;
        /* only the windows that can hold (yy, xx): oy sh - pt <= yy < oy sh - pt + kh, in
         * ascending order */
        int ly = yy + w.pt - w.kh + 1, lx = xx + w.pl - w.kw + 1;
        int oy0 = ly <= 0 ? 0 : fdiv_q(dv.sh, ly + w.sh - 1), oy1 = fdiv_q(dv.sh, yy + w.pt);
        int ox0 = lx <= 0 ? 0 : fdiv_q(dv.sw, lx + w.sw - 1), ox1 = fdiv_q(dv.sw, xx + w.pl);
        for (int oy = oy0; oy <= oy1 && oy < w.oh; oy++) {
            int by = oy * w.sh - w.pt, ky = yy - by, y0, y1;
            if (ky < 0 || ky >= w.kh) continue;
            taps32(by, w.kh, w.h, &y0, &y1);
            for (int ox = ox0; ox <= ox1 && ox < w.ow; ox++) {
                int bx = ox * w.sw - w.pl, kx = xx - bx, x0, x1;
                if (kx < 0 || kx >= w.kw) continue;
                taps32(bx, w.kw, w.w, &x0, &x1);
                ldv<V>(dy + ((n * w.oh + oy) * w.ow + ox) * w.c + ch, d);
                if (!max) {
                    for (int l = 0; l < V; l++) acc[l] += d[l] * (1.0f / (float)((y1 - y0) * (x1 - x0)));
                    continue;
                }
                for (int l = 0; l < V; l++) best[l] = -INFINITY, arg[l] = (by + y0) * w.w + bx + x0;
                for (int a = y0; a < y1; a++)
                    for (int b = x0; b < x1; b++) {
                        int c2 = (by + a) * w.w + bx + b;
                        ldv<V>(x + (n * w.h * w.w + c2) * w.c + ch, v);
                        for (int l = 0; l < V; l++)
                            if (v[l] > best[l]) best[l] = v[l], arg[l] = c2;
                    }
                for (int l = 0; l < V; l++)
                    if (arg[l] == cell) acc[l] += d[l];
            }
        }
        int i = e * V;
        if (act_v) {
            ldv<V>(act_v + i, av);
            for (int l = 0; l < V; l++) acc[l] = kn__dev_act_grad(act, alpha, acc[l], av[l]);
        }
        stv<V>(dx + i, acc);
    }
}
__global__ void pool_grad_gather1_kernel(win32 w, win_divs dv, bool max, const float *dy, const float *x, float *dx,
                                         const float *act_v, int act, float alpha, int groups) {
    pool_grad_gather_body<1>(w, dv, max, dy, x, dx, act_v, act, alpha, groups);
}
__global__ void pool_grad_gather4_kernel(win32 w, win_divs dv, bool max, const float *dy, const float *x, float *dx,
                                         const float *act_v, int act, float alpha, int groups) {
    pool_grad_gather_body<4>(w, dv, max, dy, x, dx, act_v, act, alpha, groups);
}

/* Thread t: V channels of window t / (c / V) (dy's element t V), scatter as above. */
template <int V>
__device__ static inline void maxpool_grad_scatter_body(win32 w, win_divs dv, const float *dy, const float *x,
                                                        float *dx, const float *act_v, int act, float alpha,
                                                        int groups) {
    GRID_STRIDE32(t, groups) {
        int cg, p = fdiv_qr(dv.cv, t, &cg), ox, q = fdiv_qr(dv.ow, p, &ox), oy, n = fdiv_qr(dv.oh, q, &oy);
        int ch = cg * V, by = oy * w.sh - w.pt, bx = ox * w.sw - w.pl, y0, y1, x0, x1;
        taps32(by, w.kh, w.h, &y0, &y1);
        taps32(bx, w.kw, w.w, &x0, &x1);
        const float *img = x + n * w.h * w.w * w.c + ch;
        float best[V], v[V], d[V], o[V], av[V];
        int arg[V];
        for (int l = 0; l < V; l++) best[l] = -INFINITY, arg[l] = (by + y0) * w.w + bx + x0;
        for (int a = y0; a < y1; a++)
            for (int b = x0; b < x1; b++) {
                int cell = (by + a) * w.w + bx + b;
                ldv<V>(img + cell * w.c, v);
                for (int l = 0; l < V; l++)
                    if (v[l] > best[l]) best[l] = v[l], arg[l] = cell;
            }
        /* an empty window (all padding) holds no cell: its first cell is no maximum */
        if (y0 == y1 || x0 == x1)
            for (int l = 0; l < V; l++) arg[l] = -1;
        ldv<V>(dy + t * V, d);
        /* this window's block of cells: [its row, the next window's row), clamped to the
         * image, the first from row 0, the last to row h; columns alike */
        int ylo = oy == 0 ? 0 : by < 0 ? 0 : by > w.h ? w.h : by;
        int yhi = oy == w.oh - 1 ? w.h : by + w.sh < 0 ? 0 : by + w.sh > w.h ? w.h : by + w.sh;
        int xlo = ox == 0 ? 0 : bx < 0 ? 0 : bx > w.w ? w.w : bx;
        int xhi = ox == w.ow - 1 ? w.w : bx + w.sw < 0 ? 0 : bx + w.sw > w.w ? w.w : bx + w.sw;
        for (int yy = ylo; yy < yhi; yy++)
            for (int xx = xlo; xx < xhi; xx++) {
                int cell = yy * w.w + xx, i = (n * w.h * w.w + cell) * w.c + ch;
                for (int l = 0; l < V; l++) o[l] = arg[l] == cell ? 0.0f + d[l] : 0.0f; /* the gather's sum: 0 + dy */
                if (act_v) {
                    ldv<V>(act_v + i, av);
                    for (int l = 0; l < V; l++) o[l] = kn__dev_act_grad(act, alpha, o[l], av[l]);
                }
                stv<V>(dx + i, o);
            }
    }
}
__global__ void maxpool_grad_scatter1_kernel(win32 w, win_divs dv, const float *dy, const float *x, float *dx,
                                             const float *act_v, int act, float alpha, int groups) {
    maxpool_grad_scatter_body<1>(w, dv, dy, x, dx, act_v, act, alpha, groups);
}
__global__ void maxpool_grad_scatter4_kernel(win32 w, win_divs dv, const float *dy, const float *x, float *dx,
                                             const float *act_v, int act, float alpha, int groups) {
    maxpool_grad_scatter_body<4>(w, dv, dy, x, dx, act_v, act, alpha, groups);
}

/* The 64-bit fallback: the gather, one thread an element. */
__global__ void pool_grad64_kernel(kn__cuda_win w, bool max, const float *dy, const float *x, float *dx,
                                   const float *act_v, int act, float alpha) {
    int64_t total = w.n * w.h * w.w * w.c;
    GRID_STRIDE(i, total) {
        int64_t ch = i % w.c, p = i / w.c, xx = p % w.w, yy = (p / w.w) % w.h, n = p / (w.w * w.h);
        float acc = 0;
        /* only the windows that can hold (yy, xx): oy sh - pt <= yy < oy sh - pt + kh, in
         * ascending order as before (the same sums) */
        int64_t ly = yy + w.pt - w.kh + 1, lx = xx + w.pl - w.kw + 1;
        int64_t oy0 = ly <= 0 ? 0 : (ly + w.sh - 1) / w.sh, oy1 = (yy + w.pt) / w.sh;
        int64_t ox0 = lx <= 0 ? 0 : (lx + w.sw - 1) / w.sw, ox1 = (xx + w.pl) / w.sw;
        for (int64_t oy = oy0; oy <= oy1 && oy < w.oh; oy++) {
            int64_t ky = yy - (oy * w.sh - w.pt);
            if (ky < 0 || ky >= w.kh) continue;
            for (int64_t ox = ox0; ox <= ox1 && ox < w.ow; ox++) {
                int64_t kx = xx - (ox * w.sw - w.pl);
                if (kx < 0 || kx >= w.kw) continue;
                int y0, y1, x0, x1;
                taps(oy, w.sh, w.pt, 1, w.kh, w.h, &y0, &y1);
                taps(ox, w.sw, w.pl, 1, w.kw, w.w, &x0, &x1);
                float d = dy[((n * w.oh + oy) * w.ow + ox) * w.c + ch];
                if (!max) {
                    acc += d * (1.0f / (float)((y1 - y0) * (x1 - x0)));
                    continue;
                }
                float best = -INFINITY;
                int64_t arg = (oy * w.sh - w.pt + y0) * w.w + ox * w.sw - w.pl + x0;
                for (int a = y0; a < y1; a++)
                    for (int b = x0; b < x1; b++) {
                        int64_t cell = (oy * w.sh - w.pt + a) * w.w + ox * w.sw - w.pl + b;
                        float v = x[(n * w.h * w.w + cell) * w.c + ch];
                        if (v > best) best = v, arg = cell;
                    }
                if (arg == yy * w.w + xx) acc += d;
            }
        }
        dx[i] = act_v ? kn__dev_act_grad(act, alpha, acc, act_v[i]) : acc;
    }
}

extern "C" cudaError_t kn__cu_pool_grad(cudaStream_t s, const kn__cuda_win *w, bool max, const float *dy,
                                        const float *x, float *dx, const float *act_v, int act, float alpha) {
    int64_t total = w->n * w->h * w->w * w->c;
    if (total <= 0) return cudaGetLastError();
    if (!win_fits32(w)) {
        pool_grad64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, max, dy, x, dx, act_v, act, alpha);
        return cudaGetLastError();
    }
    int v = vec_of(w->c, dy, max ? x : NULL, dx, act_v);
    win32 w32 = win32_of(w);
    win_divs dv = win_divs_of(w, v);
    if (max && w->sh >= w->kh && w->sw >= w->kw && w->oh > 0 && w->ow > 0) { /* windows apart: scatter */
        int groups = (int)(w->n * w->oh * w->ow * w->c / v);
        if (v == 4)
            maxpool_grad_scatter4_kernel<<<blocks_for(groups), THREADS, 0, s>>>(w32, dv, dy, x, dx, act_v, act, alpha,
                                                                                groups);
        else
            maxpool_grad_scatter1_kernel<<<blocks_for(groups), THREADS, 0, s>>>(w32, dv, dy, x, dx, act_v, act, alpha,
                                                                                groups);
        return cudaGetLastError();
    }
    int groups = (int)(total / v);
    if (v == 4)
        pool_grad_gather4_kernel<<<blocks_for(groups), THREADS, 0, s>>>(w32, dv, max, dy, x, dx, act_v, act, alpha,
                                                                        groups);
    else
        pool_grad_gather1_kernel<<<blocks_for(groups), THREADS, 0, s>>>(w32, dv, max, dy, x, dx, act_v, act, alpha,
                                                                        groups);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- convolution (conv_gemm.c) */

/* y[n, oy, ox, f] = act(sum over (ky, kx, c') of x[window, c0 + c'] * kernel[(ky kw + kx) cg + c', f] + bias[f]),
 * cg = C / groups channels from c0, the first of f's group (c0 = 0, cg = C ungrouped). */
__global__ void conv_kernel(kn__cuda_win w, const float *x, const float *k, const float *bias, int act, float alpha,
                            float *y) {
    int64_t total = w.n * w.oh * w.ow * w.f, cg = w.c / w.groups, fg = w.f / w.groups;
    GRID_STRIDE(i, total) {
        int64_t f = i % w.f, p = i / w.f, ox = p % w.ow, oy = (p / w.ow) % w.oh, n = p / ((int64_t)w.ow * w.oh);
        int64_t c0 = f / fg * cg;
        float acc = 0;
        for (int ky = 0; ky < w.kh; ky++) {
            int64_t yy = oy * w.sh - w.pt + (int64_t)ky * w.dh;
            if (yy < 0 || yy >= w.h) continue;
            for (int kx = 0; kx < w.kw; kx++) {
                int64_t xx = ox * w.sw - w.pl + (int64_t)kx * w.dw;
                if (xx < 0 || xx >= w.w) continue;
                const float *xv = x + ((n * w.h + yy) * w.w + xx) * w.c + c0;
                const float *kv = k + ((int64_t)(ky * w.kw + kx) * cg) * w.f + f;
                for (int64_t c = 0; c < cg; c++) acc += xv[c] * kv[c * w.f];
            }
        }
        if (bias) acc += bias[f];
        y[i] = kn__dev_act(act, alpha, acc);
    }
}

extern "C" cudaError_t kn__cu_conv2d(cudaStream_t s, const kn__cuda_win *w, const float *x, const float *k,
                                     const float *bias, int act, float alpha, float *y) {
    int64_t total = w->n * w->oh * w->ow * w->f;
    if (total > 0) conv_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, x, k, bias, act, alpha, y);
    return cudaGetLastError();
}

/* dx[n, yy, xx, c] = sum over the taps that read it of dy[n, oy, ox, f0 ..] . kernel[tap, c', f0 ..]: the
 * fg = F / groups filters from f0 of c's group, c' = c's place in it (ungrouped: all F, c' = c). */
__global__ void conv_grad_input_kernel(kn__cuda_win w, const float *dy, const float *k, float *dx,
                                       const float *act_v, int act, float alpha) {
    int64_t total = w.n * w.h * w.w * w.c, cg = w.c / w.groups, fg = w.f / w.groups;
    GRID_STRIDE(i, total) {
        int64_t c = i % w.c, p = i / w.c, xx = p % w.w, yy = (p / w.w) % w.h, n = p / (w.w * w.h);
        int64_t f0 = c / cg * fg, cl = c % cg;
        float acc = 0;
        for (int ky = 0; ky < w.kh; ky++) {
            int64_t ty = yy + w.pt - (int64_t)ky * w.dh;
            if (ty < 0 || ty % w.sh) continue;
            int64_t oy = ty / w.sh;
            if (oy >= w.oh) continue;
            for (int kx = 0; kx < w.kw; kx++) {
                int64_t tx = xx + w.pl - (int64_t)kx * w.dw;
                if (tx < 0 || tx % w.sw) continue;
                int64_t ox = tx / w.sw;
                if (ox >= w.ow) continue;
                const float *d = dy + ((n * w.oh + oy) * w.ow + ox) * w.f + f0;
                const float *kv = k + ((int64_t)(ky * w.kw + kx) * cg + cl) * w.f + f0;
                for (int64_t f = 0; f < fg; f++) acc += d[f] * kv[f];
            }
        }
        dx[i] = act_v ? kn__dev_act_grad(act, alpha, acc, act_v[i]) : acc;
    }
}

extern "C" cudaError_t kn__cu_conv2d_grad_input(cudaStream_t s, const kn__cuda_win *w, const float *dy,
                                                const float *k, float *dx, const float *act_v, int act, float alpha) {
    int64_t total = w->n * w->h * w->w * w->c;
    if (total > 0) conv_grad_input_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, dy, k, dx, act_v, act, alpha);
    return cudaGetLastError();
}

/* dk[(ky kw + kx) cg + c', f] = sum over (n, oy, ox) of x[window cell, c0 + c'] dy[n, oy, ox, f], c0
 * the first channel of f's group (cg = C / groups): one block per kernel element, a fixed tree
 * over the output positions. */
__global__ void conv_grad_kernel_kernel(kn__cuda_win w, const float *x, const float *dy, float *dk) {
    __shared__ double part[THREADS];
    int64_t cg = w.c / w.groups, fg = w.f / w.groups;
    int64_t e = blockIdx.x, f = e % w.f, row = e / w.f, c = f / fg * cg + row % cg, tap = row / cg;
    int ky = (int)(tap / w.kw), kx = (int)(tap % w.kw);
    int64_t positions = w.n * w.oh * w.ow;
    double acc = 0;
    for (int64_t p = threadIdx.x; p < positions; p += blockDim.x) {
        int64_t ox = p % w.ow, oy = (p / w.ow) % w.oh, n = p / ((int64_t)w.ow * w.oh);
        int64_t yy = oy * w.sh - w.pt + (int64_t)ky * w.dh, xx = ox * w.sw - w.pl + (int64_t)kx * w.dw;
        if (yy < 0 || yy >= w.h || xx < 0 || xx >= w.w) continue;
        acc += (double)x[((n * w.h + yy) * w.w + xx) * w.c + c] * dy[p * w.f + f];
    }
    acc = kn__block_sum_double(acc, part);
    if (threadIdx.x == 0) dk[e] = (float)acc;
}

extern "C" cudaError_t kn__cu_conv2d_grad_kernel(cudaStream_t s, const kn__cuda_win *w, const float *x,
                                                 const float *dy, float *dk) {
    int64_t elems = (int64_t)w->kh * w->kw * (w->c / w->groups) * w->f;
    if (elems > 0) conv_grad_kernel_kernel<<<(unsigned)elems, THREADS, 0, s>>>(*w, x, dy, dk);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- im2col, col2im (ops.c's GEMM convolutions) */

/* cols (rows, K), element i = (r - r0) K + j for output position r in [r0, r0 + rows) and
 * window entry j = (ky kw + kx) c + ch (the kernel's row order):
 *   r = (n oh + oy) ow + ox, cell (yy, xx) = (oy sh - pt + ky dh, ox sw - pl + kx dw),
 *   cols[i] = x[((n h + yy) w + xx) c + ch] (x: (n, h, w, c)), 0 outside the image.
 * Thread t writes entries [t V, t V + V) (V divides c, so they share a tap): neighbouring
 * threads read neighbouring channels and write neighbouring entries, a 16-byte access each
 * when V = 4; the index splits into (row, tap, channel) and the row into (n, oy, ox) once
 * per V entries. */
template <int V>
__device__ static inline void im2col_body(win32 w, win_divs dv, const float *x, int r0, int groups, float *cols) {
    GRID_STRIDE32(t, groups) {
        int jg, rl = fdiv_qr(dv.kv, t, &jg), cg, tap = fdiv_qr(dv.cv, jg, &cg), kx, ky = fdiv_qr(dv.kw, tap, &kx);
        int q, n = fdiv_qr(dv.per, r0 + rl, &q), ox, oy = fdiv_qr(dv.ow, q, &ox);
        int yy = oy * w.sh - w.pt + ky * w.dh, xx = ox * w.sw - w.pl + kx * w.dw;
        float v[V];
        if (yy >= 0 && yy < w.h && xx >= 0 && xx < w.w) ldv<V>(x + ((n * w.h + yy) * w.w + xx) * w.c + cg * V, v);
        else
            for (int l = 0; l < V; l++) v[l] = 0.0f;
        stv<V>(cols + t * V, v);
    }
}
__global__ void im2col1_kernel(win32 w, win_divs dv, const float *x, int r0, int groups, float *cols) {
    im2col_body<1>(w, dv, x, r0, groups, cols);
}
__global__ void im2col4_kernel(win32 w, win_divs dv, const float *x, int r0, int groups, float *cols) {
    im2col_body<4>(w, dv, x, r0, groups, cols);
}

/* The 64-bit fallback (one thread an entry). */
__global__ void im2col64_kernel(kn__cuda_win w, const float *x, int64_t r0, int64_t total, float *cols) {
    const int64_t k = (int64_t)w.kh * w.kw * w.c, per = (int64_t)w.oh * w.ow;
    GRID_STRIDE(i, total) {
        int64_t r = r0 + i / k, j = i % k;
        int64_t ch = j % w.c, tap = j / w.c, kx = tap % w.kw, ky = tap / w.kw;
        int64_t n = r / per, q = r % per, oy = q / w.ow, ox = q % w.ow;
        int64_t yy = oy * w.sh - w.pt + ky * w.dh, xx = ox * w.sw - w.pl + kx * w.dw;
        cols[i] = yy >= 0 && yy < w.h && xx >= 0 && xx < w.w ? x[((n * w.h + yy) * w.w + xx) * w.c + ch] : 0.0f;
    }
}

extern "C" cudaError_t kn__cu_im2col(cudaStream_t s, const kn__cuda_win *w, const float *x, int64_t r0, int64_t rows,
                                     float *cols) {
    int64_t total = rows * w->kh * w->kw * w->c;
    if (total <= 0) return cudaGetLastError();
    if (!win_fits32(w) || !fits32(total) || !fits32(r0 + rows)) {
        im2col64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, x, r0, total, cols);
        return cudaGetLastError();
    }
    int v = vec_of(w->c, x, cols, NULL, NULL), groups = (int)(total / v);
    if (v == 4)
        im2col4_kernel<<<blocks_for(groups), THREADS, 0, s>>>(win32_of(w), win_divs_of(w, 4), x, (int)r0, groups, cols);
    else
        im2col1_kernel<<<blocks_for(groups), THREADS, 0, s>>>(win32_of(w), win_divs_of(w, 1), x, (int)r0, groups, cols);
    return cudaGetLastError();
}

/* Thread e covers dx element i = n0 img + e (img = h w c floats an image; dx (n, h, w, c)),
 * i = ((n h + yy) w + xx) c + ch. Tap (ky, kx) reads it from output position (oy, ox) when
 *   yy + pt - ky dh = oy sh  and  xx + pl - kx dw = ox sw  (exact multiples, in [0, oh), [0, ow)),
 * at cols[(r - r0) K + (ky kw + kx) c + ch], r = (n oh + oy) ow + ox, counted only for r
 * in this chunk's [r0, r1). Image n began before the chunk when n per < r0 (add to dx),
 * and ends in it when (n + 1) per <= r1 (apply the activation's gradient).
 * The 32-bit kernels give a thread V channels of the cell (elements e V .. e V + V of the
 * images, neighbours in each tap's entries of a cols row too: one 16-byte load a tap when
 * V = 4), split the index once per V, and find a tap's output position with comparisons
 * alone for stride 1 (a multiply-high for others): tap_out. The taps' sums run in the same
 * (ky, kx) order, and the chunk's add and activation gradient are the same tests. */
__device__ static inline int tap_out(int t, fastdiv s, int on) {
    if (t < 0) return -1;
    int o = s.d == 1 ? t : fdiv_q(s, t);
    return o < on && o * (int)s.d == t ? o : -1;
}

template <int V>
__device__ static inline void col2im_body(win32 w, win_divs dv, const float *cols, int r0, int r1, int n0, int groups,
                                          float *dx, const float *act_v, int act, float alpha) {
    const int k = w.kh * w.kw * w.c, per = w.oh * w.ow, img = w.h * w.w * w.c;
    GRID_STRIDE32(e, groups) {
        int cg, p = fdiv_qr(dv.cv, e, &cg), xx, q = fdiv_qr(dv.w, p, &xx), yy, nl = fdiv_qr(dv.h, q, &yy);
        int n = n0 + nl, ch = cg * V, i = n0 * img + e * V;
        float acc[V], v[V];
        for (int l = 0; l < V; l++) acc[l] = 0;
        for (int ky = 0; ky < w.kh; ky++) {
            int oy = tap_out(yy + w.pt - ky * w.dh, dv.sh, w.oh);
            if (oy < 0) continue;
            for (int kx = 0; kx < w.kw; kx++) {
                int ox = tap_out(xx + w.pl - kx * w.dw, dv.sw, w.ow);
                if (ox < 0) continue;
                int r = (n * w.oh + oy) * w.ow + ox;
                if (r < r0 || r >= r1) continue;
                ldv<V>(cols + (r - r0) * k + (ky * w.kw + kx) * w.c + ch, v);
                for (int l = 0; l < V; l++) acc[l] += v[l];
            }
        }
        if (n * per < r0) {
            ldv<V>(dx + i, v);
            for (int l = 0; l < V; l++) acc[l] = v[l] + acc[l];
        }
        if (act_v && (n + 1) * per <= r1) {
            ldv<V>(act_v + i, v);
            for (int l = 0; l < V; l++) acc[l] = kn__dev_act_grad(act, alpha, acc[l], v[l]);
        }
        stv<V>(dx + i, acc);
    }
}
__global__ void col2im1_kernel(win32 w, win_divs dv, const float *cols, int r0, int r1, int n0, int groups, float *dx,
                               const float *act_v, int act, float alpha) {
    col2im_body<1>(w, dv, cols, r0, r1, n0, groups, dx, act_v, act, alpha);
}
__global__ void col2im4_kernel(win32 w, win_divs dv, const float *cols, int r0, int r1, int n0, int groups, float *dx,
                               const float *act_v, int act, float alpha) {
    col2im_body<4>(w, dv, cols, r0, r1, n0, groups, dx, act_v, act, alpha);
}

/* The 64-bit fallback (one thread an element). */
__global__ void col2im64_kernel(kn__cuda_win w, const float *cols, int64_t r0, int64_t r1, int64_t n0, int64_t total,
                                float *dx, const float *act_v, int act, float alpha) {
    const int64_t k = (int64_t)w.kh * w.kw * w.c, per = (int64_t)w.oh * w.ow, img = w.h * w.w * w.c;
    GRID_STRIDE(e, total) {
        int64_t i = n0 * img + e;
        int64_t ch = i % w.c, p = i / w.c, xx = p % w.w, yy = (p / w.w) % w.h, n = p / (w.w * w.h);
        float acc = 0;
        for (int ky = 0; ky < w.kh; ky++) {
            int64_t ty = yy + w.pt - (int64_t)ky * w.dh;
            if (ty < 0 || ty % w.sh) continue;
            int64_t oy = ty / w.sh;
            if (oy >= w.oh) continue;
            for (int kx = 0; kx < w.kw; kx++) {
                int64_t tx = xx + w.pl - (int64_t)kx * w.dw;
                if (tx < 0 || tx % w.sw) continue;
                int64_t ox = tx / w.sw;
                if (ox >= w.ow) continue;
                int64_t r = (n * w.oh + oy) * w.ow + ox;
                if (r < r0 || r >= r1) continue;
                acc += cols[(r - r0) * k + (int64_t)(ky * w.kw + kx) * w.c + ch];
            }
        }
        float v = n * per < r0 ? dx[i] + acc : acc;
        if (act_v && (n + 1) * per <= r1) v = kn__dev_act_grad(act, alpha, v, act_v[i]);
        dx[i] = v;
    }
}

extern "C" cudaError_t kn__cu_col2im(cudaStream_t s, const kn__cuda_win *w, const float *cols, int64_t r0,
                                     int64_t rows, float *dx, const float *act_v, int act, float alpha) {
    int64_t per = (int64_t)w->oh * w->ow, img = w->h * w->w * w->c;
    if (rows <= 0 || per <= 0 || img <= 0) return cudaGetLastError();
    /* the images [n0, n1] holding output positions [r0, r0 + rows) */
    int64_t n0 = r0 / per, n1 = (r0 + rows - 1) / per, total = (n1 - n0 + 1) * img;
    if (!win_fits32(w) || !fits32(rows * w->kh * w->kw * w->c) || !fits32(r0 + rows)) {
        col2im64_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, cols, r0, r0 + rows, n0, total, dx, act_v, act,
                                                              alpha);
        return cudaGetLastError();
    }
    int v = vec_of(w->c, cols, dx, act_v, NULL), groups = (int)(total / v);
    win32 w32 = win32_of(w);
    win_divs dv = win_divs_of(w, v);
    if (v == 4)
        col2im4_kernel<<<blocks_for(groups), THREADS, 0, s>>>(w32, dv, cols, (int)r0, (int)(r0 + rows), (int)n0, groups,
                                                              dx, act_v, act, alpha);
    else
        col2im1_kernel<<<blocks_for(groups), THREADS, 0, s>>>(w32, dv, cols, (int)r0, (int)(r0 + rows), (int)n0, groups,
                                                              dx, act_v, act, alpha);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- elementwise chains (fused.c) */

/* The program's inputs as pointers, passed by value with it. */
typedef struct {
    const float *in[KN_MAX_SRC];
} ew_inputs;

/* The program over one element's inputs src (the CPU's instruction loop). */
__device__ static inline float ew_eval(const kn_ew_program &p, const float *src) {
    float regs[KN_EW_MAX_INSTR];
    float r = 0;
    for (int k = 0; k < p.n_instr; k++) {
        const kn_ew_instr ins = p.instr[k];
        float x = ins.a < 0 ? 0 : ins.a >= KN_EW_REG0 ? regs[ins.a - KN_EW_REG0] : src[ins.a];
        float y = ins.b < 0 ? 0 : ins.b >= KN_EW_REG0 ? regs[ins.b - KN_EW_REG0] : src[ins.b];
        switch (ins.op) {
        case KN_EW_ADD: r = x + y; break;
        case KN_EW_SUB: r = x - y; break;
        case KN_EW_MUL: r = x * y; break;
        case KN_EW_SCALE: r = x * ins.f; break;
        case KN_EW_ACT: r = kn__dev_act(ins.act, ins.f, x); break;
        case KN_EW_ACT_GRAD: r = kn__dev_act_grad(ins.act, ins.f, x, y); break;
        default: r = x; break;
        }
        regs[k] = r;
    }
    return r;
}

__global__ void elementwise_kernel(kn_ew_program p, ew_inputs in, float *out, int64_t n, int64_t cols) {
    GRID_STRIDE(i, n) {
        float src[KN_MAX_SRC];
        for (int s = 0; s < p.n_inputs; s++)
            src[s] = p.bcast[s] == BCAST_SAME ? in.in[s][i] : p.bcast[s] == BCAST_ROW ? in.in[s][i % cols] : in.in[s][0];
        out[i] = ew_eval(p, src);
    }
}

extern "C" cudaError_t kn__cu_elementwise(cudaStream_t s, const kn_ew_program *p, const float *const *in, float *out,
                                          int64_t n, int64_t cols) {
    ew_inputs ins = {{NULL}};
    for (int k = 0; k < p->n_inputs && k < KN_MAX_SRC; k++) ins.in[k] = in[k];
    if (n > 0) elementwise_kernel<<<blocks_for(n), THREADS, 0, s>>>(*p, ins, out, n, cols > 0 ? cols : 1);
    return cudaGetLastError();
}

/* Mixed precision: inputs and output each in its storage type (device.cuh's kn__ld / kn__st). */
typedef struct {
    const void *in[KN_MAX_SRC];
    int dt[KN_MAX_SRC];
} ew_inputs_x;

__global__ void elementwise_x_kernel(kn_ew_program p, ew_inputs_x in, void *out, int tout, int64_t n, int64_t cols) {
    GRID_STRIDE(i, n) {
        float src[KN_MAX_SRC];
        for (int s = 0; s < p.n_inputs; s++)
            src[s] = kn__ld(in.in[s], in.dt[s], p.bcast[s] == BCAST_SAME ? i : p.bcast[s] == BCAST_ROW ? i % cols : 0);
        kn__st(out, tout, i, ew_eval(p, src));
    }
}

extern "C" cudaError_t kn__cu_elementwise_x(cudaStream_t s, const kn_ew_program *p, const void *const *in,
                                            const int *tin, void *out, int tout, int64_t n, int64_t cols) {
    ew_inputs_x ins = {{NULL}, {0}};
    for (int k = 0; k < p->n_inputs && k < KN_MAX_SRC; k++) ins.in[k] = in[k], ins.dt[k] = tin[k];
    if (n > 0) elementwise_x_kernel<<<blocks_for(n), THREADS, 0, s>>>(*p, ins, out, tout, n, cols > 0 ? cols : 1);
    return cudaGetLastError();
}
