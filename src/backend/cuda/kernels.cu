/* kernels.cu — elementwise ops, activations, reductions, transpose, losses, the fused
 * optimizer update and dropout on the GPU: the CPU backend's formulas (elementwise.c,
 * activation.c, loss.c, optimizer.c, dropout.c), one thread per element or row.
 * Reductions run in one block in a fixed order, so a run gives the same bits every time
 * (a captured graph's replay equals step-by-step launches); they are small in kiln's
 * graphs (a loss over a batch, a norm over the parameters). */
#include "launch.h"
#include "device.cuh"
#include "loss.cuh"
#include "resident.cuh"
#include "optimizer.cuh"
#include "dropout.cuh"

#define THREADS 256

#define blocks_for(n) kn__cu_blocks_for((n), THREADS) /* (device.cuh) */
#define GRID_STRIDE(i, n) KN_CU_GRID_STRIDE(i, n)

/* ------------------------------------------------------------- elementwise */

__global__ void binary_kernel(int op, int bcast, const float *a, const float *b, float *y, int64_t n, int64_t cols) {
    GRID_STRIDE(i, n) {
        float x = a[i], v = bcast == 0 ? b[i] : bcast == 1 ? b[i % cols] : b[0];
        y[i] = op == 0 ? x + v : op == 1 ? x - v : x * v;
    }
}

extern "C" cudaError_t kn__cu_binary(cudaStream_t s, int op, int bcast, const float *a, const float *b, float *y,
                                     int64_t n, int64_t cols) {
    if (n > 0) binary_kernel<<<blocks_for(n), THREADS, 0, s>>>(op, bcast, a, b, y, n, cols > 0 ? cols : 1);
    return cudaGetLastError();
}

__global__ void scale_kernel(const float *x, float *y, float f, int64_t n) {
    GRID_STRIDE(i, n) y[i] = x[i] * f;
}

extern "C" cudaError_t kn__cu_scale(cudaStream_t s, const float *x, float *y, float f, int64_t n) {
    if (n > 0) scale_kernel<<<blocks_for(n), THREADS, 0, s>>>(x, y, f, n);
    return cudaGetLastError();
}

__global__ void act_kernel(int act, float alpha, const float *x, float *y, int64_t n) {
    GRID_STRIDE(i, n) y[i] = kn__dev_act(act, alpha, x[i]);
}

__global__ void act_grad_kernel(int act, float alpha, const float *dy, const float *v, float *dx, int64_t n) {
    GRID_STRIDE(i, n) dx[i] = kn__dev_act_grad(act, alpha, dy[i], v[i]);
}

extern "C" cudaError_t kn__cu_act(cudaStream_t s, int act, float alpha, const float *x, float *y, int64_t n) {
    if (n > 0) act_kernel<<<blocks_for(n), THREADS, 0, s>>>(act, alpha, x, y, n);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_act_grad(cudaStream_t s, int act, float alpha, const float *dy, const float *v,
                                       float *dx, int64_t n) {
    if (n > 0) act_grad_kernel<<<blocks_for(n), THREADS, 0, s>>>(act, alpha, dy, v, dx, n);
    return cudaGetLastError();
}

/* One warp per row: max, exp, sum, normalize (y may be x). */
__global__ void softmax_kernel(const float *x, float *y, int64_t rows, int64_t cols) {
    int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    float mx = -INFINITY;
    for (int64_t c = lane; c < cols; c += 32) mx = fmaxf(mx, xr[c]);
    mx = kn__warp_max(mx);
    float sum = 0;
    for (int64_t c = lane; c < cols; c += 32) {
        float e = expf(xr[c] - mx);
        yr[c] = e;
        sum += e;
    }
    float inv = 1.0f / kn__warp_sum(sum);
    for (int64_t c = lane; c < cols; c += 32) yr[c] *= inv;
}

__global__ void softmax_grad_kernel(const float *dy, const float *y, float *dx, int64_t rows, int64_t cols) {
    int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    float dot = 0;
    for (int64_t c = lane; c < cols; c += 32) dot += dy[r * cols + c] * y[r * cols + c];
    dot = kn__warp_sum(dot);
    for (int64_t c = lane; c < cols; c += 32) dx[r * cols + c] = y[r * cols + c] * (dy[r * cols + c] - dot);
}

static unsigned warp_blocks(int64_t rows) { return (unsigned)((rows * 32 + THREADS - 1) / THREADS); }

extern "C" cudaError_t kn__cu_softmax(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols) {
    if (rows > 0 && cols > 0) softmax_kernel<<<warp_blocks(rows), THREADS, 0, s>>>(x, y, rows, cols);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_softmax_grad(cudaStream_t s, const float *dy, const float *y, float *dx, int64_t rows,
                                           int64_t cols) {
    if (rows > 0 && cols > 0) softmax_grad_kernel<<<warp_blocks(rows), THREADS, 0, s>>>(dy, y, dx, rows, cols);
    return cudaGetLastError();
}

__global__ void bias_act_kernel(float *c, const float *bias, int act, float alpha, int64_t n, int64_t cols) {
    GRID_STRIDE(i, n) {
        float v = c[i];
        if (bias) v += bias[i % cols];
        c[i] = kn__dev_act(act, alpha, v);
    }
}

extern "C" cudaError_t kn__cu_bias_act(cudaStream_t s, float *c, const float *bias, int act, float alpha,
                                       int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    if (n <= 0) return cudaGetLastError();
    if (act == KN_SOFTMAX) {
        if (bias) bias_act_kernel<<<blocks_for(n), THREADS, 0, s>>>(c, bias, KN_LINEAR, 0, n, cols);
        softmax_kernel<<<warp_blocks(rows), THREADS, 0, s>>>(c, c, rows, cols);
    } else if (bias || act != KN_LINEAR) {
        bias_act_kernel<<<blocks_for(n), THREADS, 0, s>>>(c, bias, act, alpha, n, cols);
    }
    return cudaGetLastError();
}

/* ------------------------------------------------------------- reductions */

/* Column sums in row order, one thread per column (as the CPU's single part). */
/* Column sums of x (rows, cols) stored as tx, in a fixed order. Up to KN_CU_SUM_ROWS_CHUNK
 * rows: a thread per column sums them in order. More (a bias gradient over a large batch:
 * one thread per column would leave most of the GPU idle, each thread a long chain of
 * loads): grid (column blocks, chunks), each thread the sum of its column over one chunk of
 * rows into ws (chunks x cols floats), then a thread per column the chunks in order. */
__global__ void sum_rows_part_kernel(const void *x, int tx, float *out, int64_t rows, int64_t cols, int64_t chunk) {
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, r0 = (int64_t)blockIdx.y * chunk;
    if (c >= cols) return;
    int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
    float s = 0;
    for (int64_t r = r0; r < r1; r++) s += kn__ld(x, tx, r * cols + c);
    out[(int64_t)blockIdx.y * cols + c] = s;
}

extern "C" size_t kn__cu_sum_rows_ws(int64_t rows, int64_t cols) {
    if (rows <= KN_CU_SUM_ROWS_CHUNK || cols <= 0) return 0;
    return (size_t)((rows + KN_CU_SUM_ROWS_CHUNK - 1) / KN_CU_SUM_ROWS_CHUNK) * (size_t)cols * sizeof(float);
}

extern "C" cudaError_t kn__cu_sum_rows_x(cudaStream_t s, const void *x, int tx, float *y, float *ws, int64_t rows,
                                         int64_t cols) {
    if (cols <= 0) return cudaGetLastError();
    unsigned col_blocks = (unsigned)((cols + THREADS - 1) / THREADS);
    if (rows <= KN_CU_SUM_ROWS_CHUNK) {
        sum_rows_part_kernel<<<dim3(col_blocks, 1), THREADS, 0, s>>>(x, tx, y, rows, cols, rows > 0 ? rows : 1);
        return cudaGetLastError();
    }
    int64_t chunks = (rows + KN_CU_SUM_ROWS_CHUNK - 1) / KN_CU_SUM_ROWS_CHUNK;
    if (chunks > 65535) return cudaErrorInvalidConfiguration; /* 8.4M rows: past any batch kiln compiles */
    sum_rows_part_kernel<<<dim3(col_blocks, (unsigned)chunks), THREADS, 0, s>>>(x, tx, ws, rows, cols,
                                                                              KN_CU_SUM_ROWS_CHUNK);
    sum_rows_part_kernel<<<dim3(col_blocks, 1), THREADS, 0, s>>>(ws, KN_F32, y, chunks, cols, chunks);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_sum_rows(cudaStream_t s, const float *x, float *y, float *ws, int64_t rows, int64_t cols) {
    return kn__cu_sum_rows_x(s, x, KN_F32, y, ws, rows, cols);
}

/* One block of 1024 threads, doubles, a fixed tree: the same bits every run. */
__global__ void sum_kernel(const float *x, float *y, int64_t n, bool squares) {
    __shared__ double part[1024];
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += squares ? (double)x[i] * x[i] : (double)x[i];
    s = kn__block_sum_double(s, part);
    if (threadIdx.x == 0) *y = (float)s;
}

extern "C" cudaError_t kn__cu_sum(cudaStream_t s, const float *x, float *y, int64_t n, bool squares) {
    sum_kernel<<<1, 1024, 0, s>>>(x, y, n, squares);
    return cudaGetLastError();
}

/* 32x32 tiles through shared memory; row tiles past gridDim.y (at most 65535) in a loop. */
__global__ void transpose_kernel(const float *x, float *y, int64_t rows, int64_t cols) {
    __shared__ float tile[32][33];
    int64_t bx = (int64_t)blockIdx.x * 32;
    for (int64_t by = (int64_t)blockIdx.y * 32; by < rows; by += (int64_t)gridDim.y * 32) {
        __syncthreads(); /* the tile's last readers are done (uniform: by is the block's) */
        for (int j = threadIdx.y; j < 32; j += 8) {
            int64_t r = by + j, c = bx + threadIdx.x;
            if (r < rows && c < cols) tile[j][threadIdx.x] = x[r * cols + c];
        }
        __syncthreads();
        for (int j = threadIdx.y; j < 32; j += 8) {
            int64_t c = bx + j, r = by + threadIdx.x;
            if (r < rows && c < cols) y[c * rows + r] = tile[threadIdx.x][j];
        }
    }
}

extern "C" cudaError_t kn__cu_transpose(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols) {
    if (rows > 0 && cols > 0) {
        int64_t row_tiles = (rows + 31) / 32;
        dim3 grid((unsigned)((cols + 31) / 32), (unsigned)(row_tiles < 65535 ? row_tiles : 65535)), block(32, 8);
        transpose_kernel<<<grid, block, 0, s>>>(x, y, rows, cols);
    }
    return cudaGetLastError();
}

/* ------------------------------------------------------------- merges: concat, slice, maximum */

/* (rows, na) (rows, nb) -> (rows, na + nb) */
__global__ void concat_kernel(const float *a, const float *b, float *y, int64_t rows, int64_t na, int64_t nb) {
    int64_t c = na + nb;
    GRID_STRIDE(i, rows * c) {
        int64_t r = i / c, j = i - r * c;
        y[i] = j < na ? a[r * na + j] : b[r * nb + (j - na)];
    }
}

extern "C" cudaError_t kn__cu_concat(cudaStream_t s, const float *a, const float *b, float *y, int64_t rows, int64_t na,
                                     int64_t nb) {
    if (rows > 0 && na + nb > 0) concat_kernel<<<blocks_for(rows * (na + nb)), THREADS, 0, s>>>(a, b, y, rows, na, nb);
    return cudaGetLastError();
}

/* (rows, cols) -> (rows, w): columns [off, off + w) */
__global__ void slice_kernel(const float *x, float *y, int64_t rows, int64_t cols, int64_t off, int64_t w) {
    GRID_STRIDE(i, rows * w) {
        int64_t r = i / w;
        y[i] = x[r * cols + off + (i - r * w)];
    }
}

extern "C" cudaError_t kn__cu_slice(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols, int64_t off,
                                    int64_t w) {
    if (rows > 0 && w > 0) slice_kernel<<<blocks_for(rows * w), THREADS, 0, s>>>(x, y, rows, cols, off, w);
    return cudaGetLastError();
}

__global__ void maximum_kernel(const float *a, const float *b, float *y, int64_t n) {
    GRID_STRIDE(i, n) y[i] = a[i] >= b[i] ? a[i] : b[i];
}

/* dy where a >= b (side 0) or where a < b (side 1), as the CPU's */
__global__ void maximum_grad_kernel(const float *dy, const float *a, const float *b, float *dx, int64_t n, int side) {
    GRID_STRIDE(i, n) dx[i] = (a[i] >= b[i]) != (side != 0) ? dy[i] : 0.0f;
}

extern "C" cudaError_t kn__cu_maximum(cudaStream_t s, const float *a, const float *b, float *y, int64_t n) {
    if (n > 0) maximum_kernel<<<blocks_for(n), THREADS, 0, s>>>(a, b, y, n);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_maximum_grad(cudaStream_t s, const float *dy, const float *a, const float *b, float *dx,
                                           int64_t n, int side) {
    if (n > 0) maximum_grad_kernel<<<blocks_for(n), THREADS, 0, s>>>(dy, a, b, dx, n, side);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- losses (loss.c) */

__global__ void loss_rows_kernel(int kind, bool logits, kn_loss_params lp, const float *p, const void *target, const float *w,
                                 double *ws, int64_t rows, int64_t c) {
    GRID_STRIDE(r, rows) loss_row(kind, logits, lp, p + r * c, target, w, ws, r, r, c);
}

__global__ void loss_rows_x_kernel(int kind, bool logits, kn_loss_params lp, const void *p, int tp, const void *target, const float *w,
                                   double *ws, int64_t rows, int64_t c) {
    GRID_STRIDE(r, rows) loss_row(kind, logits, lp, RowX{p, tp, r * c}, target, w, ws, r, r, c);
}

__global__ void mean_kernel(const double *ws, float *out, int64_t rows) {
    __shared__ double part[1024];
    double s = 0;
    for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) s += ws[i];
    s = kn__block_sum_double(s, part);
    if (threadIdx.x == 0) *out = (float)(s / (double)rows);
}

/* Both at once for a batch one block takes in a few rows a thread: each thread's rows are
 * mean_kernel's (r = thread, thread + 1024, ...) and summed in its order, so the mean has
 * the same bits as the two kernels give, in one launch instead of two (a training step's
 * launches are what a small batch's time is made of). p: f32 (tp KN_F32) or a half type. */
#define LOSS_ONE_BLOCK_ROWS 16384
__global__ void loss_mean_kernel(int kind, bool logits, kn_loss_params lp, const void *p, int tp, const void *target, const float *w,
                                 float *out, double *ws, int64_t rows, int64_t c) {
    __shared__ double part[1024];
    double s = 0;
    for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
        if (tp == KN_F32) loss_row(kind, logits, lp, (const float *)p + r * c, target, w, ws, r, r, c);
        else loss_row(kind, logits, lp, RowX{p, tp, r * c}, target, w, ws, r, r, c);
        s += ws[r];
    }
    s = kn__block_sum_double(s, part);
    if (threadIdx.x == 0) *out = (float)(s / (double)rows);
}

extern "C" cudaError_t kn__cu_loss(cudaStream_t s, int kind, bool logits, kn_loss_params lp, const float *p, const void *target,
                                   const float *w, float *out, double *ws, int64_t rows, int64_t c) {
    if (rows <= LOSS_ONE_BLOCK_ROWS) {
        loss_mean_kernel<<<1, 1024, 0, s>>>(kind, logits, lp, p, KN_F32, target, w, out, ws, rows, c);
        return cudaGetLastError();
    }
    loss_rows_kernel<<<blocks_for(rows), THREADS, 0, s>>>(kind, logits, lp, p, target, w, ws, rows, c);
    mean_kernel<<<1, 1024, 0, s>>>(ws, out, rows);
    return cudaGetLastError();
}

/* One thread per row: the fused softmax + cross-entropy gradient among them. */
__global__ void loss_grad_kernel(int kind, bool logits, kn_loss_params lp, const float *p, const void *target, const float *dloss,
                                 const float *w, float *dx, int64_t rows, int64_t c) {
    float dl = *dloss, inv_b = dl / (float)rows, inv_n = dl / (float)(rows * c);
    GRID_STRIDE(r, rows) loss_grad_row(kind, logits, lp, p + r * c, target, w, dx + r * c, r, r, c, inv_b, inv_n);
}

extern "C" cudaError_t kn__cu_loss_grad(cudaStream_t s, int kind, bool logits, kn_loss_params lp, const float *p, const void *target,
                                        const float *dloss, const float *w, float *dx, int64_t rows, int64_t c) {
    if (rows > 0) loss_grad_kernel<<<blocks_for(rows), THREADS, 0, s>>>(kind, logits, lp, p, target, dloss, w, dx, rows, c);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- optimizer (optimizer.c) */

/* The squared norm in two fixed-order passes: block b of KN_CU_NORM_BLOCKS sums the squares
 * of its contiguous slice in double (a tree) into part[b]; then one block sums the parts
 * (a tree) and, as the CPU's clip_factor, gives the loss-scale undo times the clip factor
 * of the unscaled norm. (One block over all the parameters took one SM for the whole
 * gradient: milliseconds for issue 11's wide MLP.) */
__global__ void grad_norm_part_kernel(const float *d, int64_t n, double *part) {
    __shared__ double tree[THREADS];
    int64_t slice = (n + gridDim.x - 1) / gridDim.x, lo = (int64_t)blockIdx.x * slice;
    int64_t hi = lo + slice < n ? lo + slice : n;
    double s = 0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) s += (double)d[i] * d[i];
    s = kn__block_sum_double(s, tree);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void grad_norm_kernel(const kn__cuda_step *stp, const double *part, float clip_norm, float *out) {
    __shared__ double tree[KN_CU_NORM_BLOCKS];
    double s = kn__block_sum_double(part[threadIdx.x], tree);
    if (threadIdx.x == 0) {
        float u = stp->grad_unscale;
        double norm = sqrt(s) * (double)u;
        *out = clip_norm > 0 && norm > clip_norm ? (float)((double)u * (clip_norm / norm)) : u;
    }
}

extern "C" cudaError_t kn__cu_grad_norm(cudaStream_t s, const kn__cuda_step *step, const float *grad, int64_t n,
                                        float clip_norm, float *out, double *part) {
    grad_norm_part_kernel<<<KN_CU_NORM_BLOCKS, THREADS, 0, s>>>(grad, n, part);
    grad_norm_kernel<<<1, KN_CU_NORM_BLOCKS, 0, s>>>(step, part, clip_norm, out);
    return cudaGetLastError();
}

/* The bias corrections come from the step in device memory (so a replayed graph takes
 * the current step), in double as the CPU computes them, once per block: the grid is capped
 * (KN_CU_UPDATE_BLOCKS) and each thread takes eight parameters at a time in 16-byte
 * accesses when vec (every array 16-byte aligned), the rest one by one. With wh, the
 * products' half copy of the weights is refreshed in the same pass. */
#define KN_CU_UPDATE_BLOCKS 4096
#define KN_CU_UPDATE_VEC_MIN (1 << 20)
__global__ void opt_update_kernel(kn__cuda_opt o, const kn__cuda_step *stp, const float *cfp, float *w,
                                  const float *d, float *s0, float *s1, int64_t n, void *wh, int wt, bool vec,
                                  kn__cu_wgrad_guard late, bool has_late) {
    kn__pdl_wait();
    bool late_skip = has_late && guard_late(late.step, late.r, &late.q); /* (every thread: barriers inside) */
    const opt_factors f = opt_step_factors(o, stp);
    float cv = o.clip_value > 0 ? o.clip_value : INFINITY, cf = cfp ? *cfp : stp->grad_unscale;
    if (has_late ? late_skip : stp->skip) return; /* a resident run's guard found a non-finite loss or gradient */
    bool u0 = opt_uses_s0(o), u1 = opt_uses_s1(o);
    int64_t chunks = vec ? n / 8 : 0;
    GRID_STRIDE(c, chunks) {
        float wv[8], dv[8], av[8] = {0}, bv[8] = {0};
        kn__ld8(w, KN_F32, c, wv);
        kn__ld8(d, KN_F32, c, dv);
        if (u0) kn__ld8(s0, KN_F32, c, av);
        if (u1) kn__ld8(s1, KN_F32, c, bv);
        float vm = 0.0f; /* (no AMSGrad here: kn__cu_opt_update keeps it to the loop below) */
        for (int k = 0; k < 8; k++) opt_one(o, f, clipv(dv[k] * cf, cv), wv[k], av[k], bv[k], vm);
        kn__st8(w, KN_F32, c, wv);
        if (u0) kn__st8(s0, KN_F32, c, av);
        if (u1) kn__st8(s1, KN_F32, c, bv);
        if (wh) kn__st8(wh, wt, c, wv);
    }
    for (int64_t i = chunks * 8 + blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float wi = w[i], a = u0 ? s0[i] : 0.0f, b = u1 ? s1[i] : 0.0f, vm = o.amsgrad ? s1[i + o.slot_stride] : 0.0f;
        opt_one(o, f, clipv(d[i] * cf, cv), wi, a, b, vm);
        w[i] = wi;
        if (u0) s0[i] = a;
        if (u1) s1[i] = b;
        if (o.amsgrad) s1[i + o.slot_stride] = vm;
        if (wh) kn__st(wh, wt, i, wi);
    }
}

extern "C" cudaError_t kn__cu_opt_update(cudaStream_t s, const kn__cuda_opt *o, const kn__cuda_step *step,
                                         const float *cf, float *w, const float *d, float *s0, float *s1, int64_t n,
                                         void *wh, int wt, bool pdl, const kn__cu_wgrad_guard *late) {
    kn__cu_wgrad_guard none;
    memset(&none, 0, sizeof none);
    bool uses_s1 = opt_uses_s1(*o);
    /* eight a thread only when there are many: a small update is latency-bound, and one
     * element a thread over more blocks finishes sooner (the reference MLP's 55,050) */
    bool vec = n >= KN_CU_UPDATE_VEC_MIN && kn__aligned16(w) && kn__aligned16(d) && kn__aligned16(s0) &&
               (!uses_s1 || kn__aligned16(s1)) && kn__aligned16(wh) && !o->amsgrad;
    unsigned b = blocks_for(vec ? n / 8 : n);
    if (n > 0)
        KN_LAUNCH(pdl, opt_update_kernel, vec && b > KN_CU_UPDATE_BLOCKS ? KN_CU_UPDATE_BLOCKS : b, THREADS, 0, s, *o, step, cf, w,
                  d, s0, s1, n, wh, wt, vec, late ? *late : none, late != NULL);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- staging copies (runtime.c) */

/* Every segment's bytes, 16 at a time where both ends and the length allow, else one by one;
 * thread t of the grid takes units t, t + stride, ... of each segment in turn. */
__global__ void copy_segments_kernel(kn__cu_copies cp) {
    int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    for (int k = 0; k < cp.n; k++) {
        const uint8_t *src = cp.src[k];
        uint8_t *dst = cp.dst[k];
        int64_t bytes = cp.bytes[k];
        if (kn__aligned16(src) && kn__aligned16(dst)) {
            int64_t units = bytes / 16;
            for (int64_t u = t; u < units; u += stride) ((uint4 *)dst)[u] = ((const uint4 *)src)[u];
            for (int64_t b = units * 16 + t; b < bytes; b += stride) dst[b] = src[b];
        } else {
            for (int64_t b = t; b < bytes; b += stride) dst[b] = src[b];
        }
    }
}

extern "C" cudaError_t kn__cu_copy_segments(cudaStream_t s, const kn__cu_copies *cp) {
    int64_t most = 0;
    for (int k = 0; k < cp->n; k++) most = cp->bytes[k] > most ? cp->bytes[k] : most;
    if (cp->n > 0 && most > 0) copy_segments_kernel<<<blocks_for((most + 15) / 16), THREADS, 0, s>>>(*cp);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- dropout (dropout.c) */

/* Element i keeps x[i] * scale when bits 16 (i % 4) .. +15 of draw i / 4 under the node's
 * key are at least the threshold: the CPU's masks, bit for bit. One thread per group of 4.
 * x and y stored as tx and ty (f32 or the graph's half type; rounded once, as the CPU). */
__device__ static inline void dropout_group(const kn__dev_drop &m, int64_t g, const void *x, int tx, void *y, int ty,
                                           int64_t n) {
    uint64_t r = m.on ? kn__dev_rng_draw(m.key, (uint64_t)g) : 0;
    for (int j = 0; j < 4 && g * 4 + j < n; j++) {
        int64_t i = g * 4 + j;
        if (!m.on) {
            kn__st(y, ty, i, kn__ld(x, tx, i));
            continue;
        }
        uint32_t draw = (uint32_t)(r >> (16 * j)) & 0xffffu;
        kn__st(y, ty, i, draw >= m.threshold ? kn__ld(x, tx, i) * m.scale : 0.0f);
    }
}

/* A mask shared by steps (KN_OP_DROPOUT's iparam[1] S > 0, F = iparam[2]): element i of x
 * viewed as (rows, S, F) takes mask element e = (i / (S F)) F + i % F's factor, as
 * cpu/dropout.c's shared_block: x times the factor (a multiply, as the CPU's, so a dropped
 * negative gives -0 there and here). Four consecutive mask elements share a 64-bit draw, and
 * the group's elements mostly take consecutive ones: the last draw is reused while it serves. */
__device__ static inline void shared_group(const kn__dev_drop &m, int64_t g, int64_t sf, int64_t f, const void *x,
                                           int tx, void *y, int ty, int64_t n) {
    uint64_t drawn = UINT64_MAX, r = 0;
    for (int j = 0; j < 4 && g * 4 + j < n; j++) {
        int64_t i = g * 4 + j;
        if (!m.on) {
            kn__st(y, ty, i, kn__ld(x, tx, i));
            continue;
        }
        uint64_t e = (uint64_t)((i / sf) * f + i % f);
        if (e >> 2 != drawn) drawn = e >> 2, r = kn__dev_rng_draw(m.key, drawn);
        uint32_t draw = (uint32_t)(r >> (16 * (e & 3))) & 0xffffu;
        kn__st(y, ty, i, kn__ld(x, tx, i) * (draw >= m.threshold ? m.scale : 0.0f));
    }
}

__global__ void dropout_kernel(const kn__cuda_step *stp, uint64_t seed, int32_t node_key, float rate, int64_t steps,
                               int64_t features, const void *x, int tx, void *y, int ty, int64_t n) {
    kn__dev_drop m = kn__dev_dropout(stp, seed, node_key, rate);
    GRID_STRIDE(g, (n + 3) / 4) {
        if (steps > 0) shared_group(m, g, steps * features, features, x, tx, y, ty, n);
        else dropout_group(m, g, x, tx, y, ty, n);
    }
}

extern "C" cudaError_t kn__cu_dropout(cudaStream_t s, const kn__cuda_step *step, uint64_t seed, int32_t key,
                                      float rate, int64_t steps, int64_t features, const void *x, int tx, void *y,
                                      int ty, int64_t n) {
    if (n > 0)
        dropout_kernel<<<blocks_for((n + 3) / 4), THREADS, 0, s>>>(step, seed, key, rate, steps, features, x, tx, y,
                                                                   ty, n);
    return cudaGetLastError();
}

/* ------------------------------------------------------------- half storage (mixed precision) */

/* The kernels above with each operand's storage type (kn__ld / kn__st, device.cuh): used
 * only when some operand is bf16 or f16, so an fp32 graph runs exactly the kernels above.
 * Math in float as above; every result narrowed once, from the float the f32 kernel would
 * store. */

__global__ void binary_x_kernel(int op, int bcast, const void *a, int ta, const void *b, int tb, void *y, int ty,
                                int64_t n, int64_t cols) {
    GRID_STRIDE(i, n) {
        float x = kn__ld(a, ta, i), v = kn__ld(b, tb, bcast == 0 ? i : bcast == 1 ? i % cols : 0);
        kn__st(y, ty, i, op == 0 ? x + v : op == 1 ? x - v : x * v);
    }
}

extern "C" cudaError_t kn__cu_binary_x(cudaStream_t s, int op, int bcast, const void *a, int ta, const void *b, int tb,
                                       void *y, int ty, int64_t n, int64_t cols) {
    if (n > 0) binary_x_kernel<<<blocks_for(n), THREADS, 0, s>>>(op, bcast, a, ta, b, tb, y, ty, n, cols > 0 ? cols : 1);
    return cudaGetLastError();
}

__global__ void scale_x_kernel(const void *x, int tx, void *y, int ty, float f, int64_t n) {
    GRID_STRIDE(i, n) kn__st(y, ty, i, kn__ld(x, tx, i) * f);
}

extern "C" cudaError_t kn__cu_scale_x(cudaStream_t s, const void *x, int tx, void *y, int ty, float f, int64_t n) {
    if (n > 0) scale_x_kernel<<<blocks_for(n), THREADS, 0, s>>>(x, tx, y, ty, f, n);
    return cudaGetLastError();
}

__global__ void act_x_kernel(int act, float alpha, const void *x, int tx, void *y, int ty, int64_t n) {
    GRID_STRIDE(i, n) kn__st(y, ty, i, kn__dev_act(act, alpha, kn__ld(x, tx, i)));
}

/* Eight elements a thread at a time when vec (the three arrays 16-byte aligned), the rest
 * one by one. */
__global__ void act_grad_x_kernel(int act, float alpha, const void *dy, int tdy, const void *v, int tv, void *dx,
                                  int tdx, int64_t n, bool vec) {
    int64_t chunks = vec ? n / 8 : 0;
    GRID_STRIDE(c, chunks) {
        float a[8], b[8];
        kn__ld8(dy, tdy, c, a);
        kn__ld8(v, tv, c, b);
        for (int k = 0; k < 8; k++) a[k] = kn__dev_act_grad(act, alpha, a[k], b[k]);
        kn__st8(dx, tdx, c, a);
    }
    for (int64_t i = chunks * 8 + blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        kn__st(dx, tdx, i, kn__dev_act_grad(act, alpha, kn__ld(dy, tdy, i), kn__ld(v, tv, i)));
}

extern "C" cudaError_t kn__cu_act_x(cudaStream_t s, int act, float alpha, const void *x, int tx, void *y, int ty,
                                    int64_t n) {
    if (n > 0) act_x_kernel<<<blocks_for(n), THREADS, 0, s>>>(act, alpha, x, tx, y, ty, n);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_act_grad_x(cudaStream_t s, int act, float alpha, const void *dy, int tdy, const void *v,
                                         int tv, void *dx, int tdx, int64_t n) {
    bool vec = kn__aligned16(dy) && kn__aligned16(v) && kn__aligned16(dx);
    if (n > 0) act_grad_x_kernel<<<blocks_for(vec ? n / 8 : n), THREADS, 0, s>>>(act, alpha, dy, tdy, v, tv, dx, tdx, n, vec);
    return cudaGetLastError();
}

/* One warp per row (y may be x): the max, the sum of exponentials, then each element
 * computed and narrowed once (the f32 kernel's stored exponentials would round twice). */
__global__ void softmax_x_kernel(const void *x, int tx, void *y, int ty, int64_t rows, int64_t cols) {
    int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    int64_t o = r * cols;
    float mx = -INFINITY;
    for (int64_t c = lane; c < cols; c += 32) mx = fmaxf(mx, kn__ld(x, tx, o + c));
    mx = kn__warp_max(mx);
    float sum = 0;
    for (int64_t c = lane; c < cols; c += 32) sum += expf(kn__ld(x, tx, o + c) - mx);
    float inv = 1.0f / kn__warp_sum(sum);
    for (int64_t c = lane; c < cols; c += 32) kn__st(y, ty, o + c, expf(kn__ld(x, tx, o + c) - mx) * inv);
}

__global__ void softmax_grad_x_kernel(const void *dy, int tdy, const void *y, int ty, void *dx, int tdx, int64_t rows,
                                      int64_t cols) {
    int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    int64_t o = r * cols;
    float dot = 0;
    for (int64_t c = lane; c < cols; c += 32) dot += kn__ld(dy, tdy, o + c) * kn__ld(y, ty, o + c);
    dot = kn__warp_sum(dot);
    for (int64_t c = lane; c < cols; c += 32) {
        float yc = kn__ld(y, ty, o + c), dyc = kn__ld(dy, tdy, o + c);
        kn__st(dx, tdx, o + c, yc * (dyc - dot));
    }
}

extern "C" cudaError_t kn__cu_softmax_x(cudaStream_t s, const void *x, int tx, void *y, int ty, int64_t rows,
                                        int64_t cols) {
    if (rows > 0 && cols > 0) softmax_x_kernel<<<warp_blocks(rows), THREADS, 0, s>>>(x, tx, y, ty, rows, cols);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_softmax_grad_x(cudaStream_t s, const void *dy, int tdy, const void *y, int ty, void *dx,
                                             int tdx, int64_t rows, int64_t cols) {
    if (rows > 0 && cols > 0)
        softmax_grad_x_kernel<<<warp_blocks(rows), THREADS, 0, s>>>(dy, tdy, y, ty, dx, tdx, rows, cols);
    return cudaGetLastError();
}

__global__ void bias_act_x_kernel(void *c, int tc, const float *bias, int act, float alpha, int64_t n, int64_t cols) {
    GRID_STRIDE(i, n) {
        float v = kn__ld(c, tc, i);
        if (bias) v += bias[i % cols];
        kn__st(c, tc, i, kn__dev_act(act, alpha, v));
    }
}

/* In place on c (rows, cols): a half c rounds twice (the product's output, then this);
 * the bias and relu normally run in cuBLASLt's epilogue, on the float accumulator. */
extern "C" cudaError_t kn__cu_bias_act_x(cudaStream_t s, void *c, int tc, const float *bias, int act, float alpha,
                                         int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    if (n <= 0) return cudaGetLastError();
    if (act == KN_SOFTMAX) {
        if (bias) bias_act_x_kernel<<<blocks_for(n), THREADS, 0, s>>>(c, tc, bias, KN_LINEAR, 0, n, cols);
        softmax_x_kernel<<<warp_blocks(rows), THREADS, 0, s>>>(c, tc, c, tc, rows, cols);
    } else if (bias || act != KN_LINEAR) {
        bias_act_x_kernel<<<blocks_for(n), THREADS, 0, s>>>(c, tc, bias, act, alpha, n, cols);
    }
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_loss_x(cudaStream_t s, int kind, bool logits, kn_loss_params lp, const void *p, int tp, const void *target,
                                     const float *w, float *out, double *ws, int64_t rows, int64_t c) {
    if (rows <= LOSS_ONE_BLOCK_ROWS) {
        loss_mean_kernel<<<1, 1024, 0, s>>>(kind, logits, lp, p, tp, target, w, out, ws, rows, c);
        return cudaGetLastError();
    }
    loss_rows_x_kernel<<<blocks_for(rows), THREADS, 0, s>>>(kind, logits, lp, p, tp, target, w, ws, rows, c);
    mean_kernel<<<1, 1024, 0, s>>>(ws, out, rows);
    return cudaGetLastError();
}

/* loss_grad_kernel's values, each element computed in float from the row's statistics
 * and narrowed once: the f32 kernel stores partial values in dx and updates them, which
 * in half storage would round two or three times (and softmax - onehot cancels). */
__global__ void loss_grad_x_kernel(int kind, bool logits, kn_loss_params lp, const void *p, int tp, const void *target,
                                   const float *dloss, const float *w, void *dx, int tdx, int64_t rows, int64_t c) {
    float dl = *dloss, inv_b = dl / (float)rows, inv_n = dl / (float)(rows * c), ls = lp.ls;
    GRID_STRIDE(r, rows) {
        RowX pr{p, tp, r * c};
        int64_t o = r * c;
        const float *yr = kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? NULL : (const float *)target + r * c;
        int32_t l = kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? ((const int32_t *)target)[r] : 0;
        bool valid = kind != KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || (l >= 0 && l < c);
        /* the row's statistics */
        float mx = 0, scale = 0, sp = 0, lse = 0, ysum = 0, q = 0;
        bool clipped = false;
        if (kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY && valid) {
            if (logits) {
                float sum = 0;
                mx = pr[0];
                for (int64_t j = 1; j < c; j++) mx = fmaxf(mx, pr[j]);
                for (int64_t j = 0; j < c; j++) sum += expf(pr[j] - mx);
                scale = inv_b / sum;
            } else {
                sp = row_sum(pr, c);
                q = pr[l] / sp;
                clipped = q < PROB_EPS || q > 1 - PROB_EPS;
            }
        } else if (kind == KN_LOSS_CATEGORICAL_CROSSENTROPY) {
            ysum = row_sum(yr, c);
            if (ls != 0) ysum = ysum * (1.0f - ls) + ls; /* the smoothed targets' sum */
            if (logits) lse = row_lse(pr, c);
            else sp = row_sum(pr, c);
        }
        kn_loss_row st = {};
        if (kn__loss_by_row(kind)) st = kn__loss_row_stats(kind, logits, lp, pr, yr, c);
        for (int64_t j = 0; j < c; j++) {
            float v = 0;
            switch (kind) {
            case KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
                if (!valid) v = 0;
                else if (logits) { /* as loss.cuh's loss_grad_row, in its order */
                    v = expf(pr[j] - mx) * scale;
                    if (ls == 0) {
                        if (j == l) v -= inv_b;
                    } else {
                        v -= inv_b * ls / (float)c;
                        if (j == l) v -= inv_b * (1.0f - ls);
                    }
                } else if (ls != 0) {
                    float qj = pr[j] / sp;
                    bool cl = qj < PROB_EPS || qj > 1 - PROB_EPS;
                    v = (1.0f - (cl ? 0.0f : kn__smooth_label(j, l, ls, (float)c) / qj)) / sp * inv_b;
                } else {
                    v = inv_b / sp;
                    if (j == l && !clipped) v -= inv_b / (q * sp);
                }
                break;
            case KN_LOSS_MSE: v = 2.0f * (pr[j] - yr[j]) * inv_n; break;
            case KN_LOSS_MAE: v = (pr[j] > yr[j] ? 1.0f : pr[j] < yr[j] ? -1.0f : 0.0f) * inv_n; break;
            case KN_LOSS_BINARY_CROSSENTROPY:
                if (logits) {
                    v = (1.0f / (1.0f + expf(-pr[j])) - kn__smooth(yr[j], ls, 2.0f)) * inv_n;
                } else {
                    float qj = pr[j], yj = kn__smooth(yr[j], ls, 2.0f);
                    bool cl = qj < PROB_EPS || qj > 1 - PROB_EPS;
                    v = cl ? 0.0f : (qj - yj) / (qj * (1 - qj)) * inv_n;
                }
                break;
            case KN_LOSS_CATEGORICAL_CROSSENTROPY:
                if (logits) {
                    v = (expf(pr[j] - lse) * ysum - kn__smooth(yr[j], ls, (float)c)) * inv_b;
                } else {
                    float qj = pr[j] / sp;
                    bool cl = qj < PROB_EPS || qj > 1 - PROB_EPS;
                    v = (ysum - (cl ? 0.0f : kn__smooth(yr[j], ls, (float)c) / qj)) / sp * inv_b;
                }
                break;
            default:
                if (kn__loss_by_row(kind))
                    v = kn__loss_row_slope(kind, logits, lp, &st, pr[j], yr[j], j, c) * inv_b;
                else if (kn__loss_elementwise(kind))
                    v = kn__loss_slope(kind, pr[j], yr[j], lp.delta) * (kn__loss_sums_row(kind) ? inv_b : inv_n);
                break;
            }
            if (w) v *= w[r];
            kn__st(dx, tdx, o + j, v);
        }
    }
}

extern "C" cudaError_t kn__cu_loss_grad_x(cudaStream_t s, int kind, bool logits, kn_loss_params lp, const void *p, int tp,
                                          const void *target, const float *dloss, const float *w, void *dx, int tdx,
                                          int64_t rows, int64_t c) {
    if (rows > 0)
        loss_grad_x_kernel<<<blocks_for(rows), THREADS, 0, s>>>(kind, logits, lp, p, tp, target, dloss, w, dx, tdx, rows, c);
    return cudaGetLastError();
}
