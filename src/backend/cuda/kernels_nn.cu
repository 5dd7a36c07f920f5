/* kernels_nn.cu — batch norm, pooling, convolution and the fused elementwise chain on the
 * GPU, with the CPU backend's formulas (batchnorm.c, conv.c, conv_gemm.c, fused.c).
 *
 * Convolutions run as im2col + cuBLASLt (ops.c): this file has the im2col and col2im
 * kernels they use, and the older direct kernels (one thread per output element, sums in
 * the CPU's (ky, kx, c) order), kept selectable (KILN_CUDA_CONV=direct) until a GPU
 * session measures both. Neither has run on a GPU yet. The gradients gather (each thread
 * sums what reaches its element), never scatter with atomics, so results are the same
 * bits every run. */
#include "launch.h"
#include "device.cuh"

#define THREADS 256

static unsigned blocks_for(int64_t n) {
    int64_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 4 ? 65535 * 4 : b);
}
#define GRID_STRIDE(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

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

/* ------------------------------------------------------------- pooling (conv.c) */

/* The valid taps [lo, hi) of output position o (cell o*s - p + k*d in [0, n)). */
__device__ static void taps(int64_t o, int s, int p, int d, int kn, int64_t n, int *lo, int *hi) {
    int64_t base = o * s - p;
    int a = 0, b = kn;
    while (a < b && base + (int64_t)a * d < 0) a++;
    while (b > a && base + (int64_t)(b - 1) * d >= n) b--;
    *lo = a, *hi = b;
}

__global__ void pool_kernel(kn__cuda_win w, bool max, const float *x, float *y) {
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
    if (total > 0) pool_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, max, x, y);
    return cudaGetLastError();
}

/* dx[n, yy, xx, ch] gathers from every window holding the cell, in the CPU's (oy, ox)
 * order: a max window gives its dy to its first maximum only (found again, strict >). */
__global__ void pool_grad_kernel(kn__cuda_win w, bool max, const float *dy, const float *x, float *dx,
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
    if (total > 0) pool_grad_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, max, dy, x, dx, act_v, act, alpha);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- convolution (conv_gemm.c) */

/* y[n, oy, ox, f] = act(sum over (ky, kx, c) of x[window] * kernel[(ky kw + kx) c + c', f] + bias[f]). */
__global__ void conv_kernel(kn__cuda_win w, const float *x, const float *k, const float *bias, int act, float alpha,
                            float *y) {
    int64_t total = w.n * w.oh * w.ow * w.f;
    GRID_STRIDE(i, total) {
        int64_t f = i % w.f, p = i / w.f, ox = p % w.ow, oy = (p / w.ow) % w.oh, n = p / ((int64_t)w.ow * w.oh);
        float acc = 0;
        for (int ky = 0; ky < w.kh; ky++) {
            int64_t yy = oy * w.sh - w.pt + (int64_t)ky * w.dh;
            if (yy < 0 || yy >= w.h) continue;
            for (int kx = 0; kx < w.kw; kx++) {
                int64_t xx = ox * w.sw - w.pl + (int64_t)kx * w.dw;
                if (xx < 0 || xx >= w.w) continue;
                const float *xv = x + ((n * w.h + yy) * w.w + xx) * w.c;
                const float *kv = k + ((int64_t)(ky * w.kw + kx) * w.c) * w.f + f;
                for (int64_t c = 0; c < w.c; c++) acc += xv[c] * kv[c * w.f];
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

/* dx[n, yy, xx, c] = sum over the taps that read it of dy[n, oy, ox, :] . kernel[tap, c, :]. */
__global__ void conv_grad_input_kernel(kn__cuda_win w, const float *dy, const float *k, float *dx,
                                       const float *act_v, int act, float alpha) {
    int64_t total = w.n * w.h * w.w * w.c;
    GRID_STRIDE(i, total) {
        int64_t c = i % w.c, p = i / w.c, xx = p % w.w, yy = (p / w.w) % w.h, n = p / (w.w * w.h);
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
                const float *d = dy + ((n * w.oh + oy) * w.ow + ox) * w.f;
                const float *kv = k + ((int64_t)(ky * w.kw + kx) * w.c + c) * w.f;
                for (int64_t f = 0; f < w.f; f++) acc += d[f] * kv[f];
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

/* dk[(ky kw + kx) c + c', f] = sum over (n, oy, ox) of x[window cell] dy[n, oy, ox, f]:
 * one block per kernel element, a fixed tree over the output positions. */
__global__ void conv_grad_kernel_kernel(kn__cuda_win w, const float *x, const float *dy, float *dk) {
    __shared__ double part[THREADS];
    int64_t e = blockIdx.x, f = e % w.f, row = e / w.f, c = row % w.c, tap = row / w.c;
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
    int64_t elems = (int64_t)w->kh * w->kw * w->c * w->f;
    if (elems > 0) conv_grad_kernel_kernel<<<(unsigned)elems, THREADS, 0, s>>>(*w, x, dy, dk);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- im2col, col2im (ops.c's GEMM convolutions) */

/* cols (rows, K), element i = (r - r0) K + j for output position r in [r0, r0 + rows) and
 * window entry j = (ky kw + kx) c + ch (the kernel's row order):
 *   r = (n oh + oy) ow + ox, cell (yy, xx) = (oy sh - pt + ky dh, ox sw - pl + kx dw),
 *   cols[i] = x[((n h + yy) w + xx) c + ch] (x: (n, h, w, c)), 0 outside the image.
 * One thread per entry: neighbouring threads read neighbouring channels and write
 * neighbouring entries. */
__global__ void im2col_kernel(kn__cuda_win w, const float *x, int64_t r0, int64_t total, float *cols) {
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
    if (total > 0) im2col_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, x, r0, total, cols);
    return cudaGetLastError();
}

/* Thread e covers dx element i = n0 img + e (img = h w c floats an image; dx (n, h, w, c)),
 * i = ((n h + yy) w + xx) c + ch. Tap (ky, kx) reads it from output position (oy, ox) when
 *   yy + pt - ky dh = oy sh  and  xx + pl - kx dw = ox sw  (exact multiples, in [0, oh), [0, ow)),
 * at cols[(r - r0) K + (ky kw + kx) c + ch], r = (n oh + oy) ow + ox, counted only for r
 * in this chunk's [r0, r1). Image n began before the chunk when n per < r0 (add to dx),
 * and ends in it when (n + 1) per <= r1 (apply the activation's gradient). */
__global__ void col2im_kernel(kn__cuda_win w, const float *cols, int64_t r0, int64_t r1, int64_t n0, int64_t total,
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
    col2im_kernel<<<blocks_for(total), THREADS, 0, s>>>(*w, cols, r0, r0 + rows, n0, total, dx, act_v, act, alpha);
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
