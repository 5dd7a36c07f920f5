/* kernels_group_norm.cu — group normalization and its gradients on the GPU
 * (graph/ops_group_norm.c), backend/cpu/groupnorm.c's formulas: x (n, p positions, c
 * channels), groups of c / G consecutive channels.
 *
 *   gn_group_kernel   a block a (sample, group): its sums in double (x, x^2; the gradient
 *                     adds gamma dy and gamma dy x) by a fixed tree, then its mean and rstd
 *                     (and the gradient's b, k) into ws (n, G, 4) doubles
 *   gn_apply_kernel   a thread an element: y = (x - mean) rstd gamma + beta, or
 *                     dx = rstd gamma dy + (x - mean) b + k
 *   gn_gamma_*        gamma's gradient: a thread a (sample, channel) sums rstd dy (x - mean)
 *                     over the positions in double, then a thread a channel over the samples
 *                     in order
 * Every sum in a fixed order: the same bits every run (not the CPU's: its sums split the
 * positions otherwise; test_cuda_ops compares within a tolerance). f32. */
#include "launch.h"
#include "device.cuh"

#define THREADS 256
#define MAX_BLOCKS 65535

static unsigned blocks_for(int64_t n) {
    int64_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > MAX_BLOCKS ? MAX_BLOCKS : b);
}

/* The statistics of (sample blockIdx.y, group blockIdx.x); with dy, the gradient's b and k. */
__global__ void gn_group_kernel(const float *x, const float *dy, const float *gamma, double *ws, int64_t p, int64_t c,
                                int64_t groups, float eps) {
    __shared__ double part[33];
    int64_t s = blockIdx.y, g = blockIdx.x, cg = c / groups, m = p * cg;
    const float *xs = x + s * p * c + g * cg, *ds = dy ? dy + s * p * c + g * cg : NULL;
    double sx = 0, sq = 0, d1 = 0, d2 = 0;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
        int64_t at = i / cg * c + i % cg;
        double v = xs[at];
        sx += v, sq += v * v;
        if (ds) {
            double d = (double)ds[at] * (gamma ? gamma[g * cg + i % cg] : 1.0f);
            d1 += d, d2 += d * v;
        }
    }
    sx = kn__block_sum_double(sx, part);
    sq = kn__block_sum_double(sq, part);
    if (ds) {
        d1 = kn__block_sum_double(d1, part);
        d2 = kn__block_sum_double(d2, part);
    }
    if (threadIdx.x != 0) return;
    double mu = sx / (double)m, var = sq / (double)m - mu * mu, rstd = 1.0 / sqrt((var > 0 ? var : 0) + (double)eps);
    double *w = ws + (s * groups + g) * 4;
    w[0] = mu, w[1] = rstd;
    w[2] = -rstd * rstd * rstd * (d2 - mu * d1) / (double)m;
    w[3] = -rstd * d1 / (double)m;
}

__global__ void gn_apply_kernel(const float *x, const float *dy, const float *gamma, const float *beta,
                                const double *ws, float *out, int64_t total, int64_t p, int64_t c, int64_t groups) {
    int64_t cg = c / groups;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ch = i % c, s = i / (p * c);
        const double *w = ws + (s * groups + ch / cg) * 4;
        /* (the CPU's float roundings of the double statistics and coefficients) */
        float sc = (float)(gamma ? w[1] * gamma[ch] : w[1]), d = x[i] - (float)w[0];
        out[i] = dy ? sc * dy[i] + d * (float)w[2] + (float)w[3] : d * sc + (beta ? beta[ch] : 0.0f);
    }
}

/* partial[s, ch] = rstd sum over positions of dy (x - mean), in position order. */
__global__ void gn_gamma_part_kernel(const float *dy, const float *x, const double *ws, double *partial, int64_t n,
                                     int64_t p, int64_t c, int64_t groups) {
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i >= n * c) return;
    int64_t s = i / c, ch = i % c;
    const double *w = ws + (s * groups + ch / (c / groups)) * 4;
    double acc = 0, mean = w[0];
    for (int64_t r = 0; r < p; r++) acc += (double)dy[(s * p + r) * c + ch] * (x[(s * p + r) * c + ch] - mean);
    partial[i] = acc * w[1];
}

__global__ void gn_gamma_sum_kernel(const double *partial, float *out, int64_t n, int64_t c) {
    int64_t ch = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double acc = 0;
    for (int64_t s = 0; s < n; s++) acc += partial[s * c + ch];
    out[ch] = (float)acc;
}

extern "C" size_t kn__cu_group_norm_ws(int64_t n, int64_t c, int64_t groups) {
    if (n <= 0 || c <= 0 || groups <= 0) return 0;
    return (size_t)(n * groups * 4 + n * c) * sizeof(double);
}

/* The statistics into ws; false when there is nothing to do. */
static bool group_stats(cudaStream_t st, const float *x, const float *dy, const float *gamma, double *ws, int64_t n,
                        int64_t p, int64_t c, int64_t groups, float eps) {
    if (n <= 0 || p <= 0 || c <= 0) return false;
    gn_group_kernel<<<dim3((unsigned)groups, (unsigned)n), THREADS, 0, st>>>(x, dy, gamma, ws, p, c, groups, eps);
    return true;
}

extern "C" cudaError_t kn__cu_group_norm(cudaStream_t st, const float *x, const float *gamma, const float *beta,
                                         float *y, double *ws, int64_t n, int64_t p, int64_t c, int64_t groups,
                                         float eps) {
    if (group_stats(st, x, NULL, NULL, ws, n, p, c, groups, eps))
        gn_apply_kernel<<<blocks_for(n * p * c), THREADS, 0, st>>>(x, NULL, gamma, beta, ws, y, n * p * c, p, c, groups);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_group_norm_grad(cudaStream_t st, const float *dy, const float *x, const float *gamma,
                                              float *dx, double *ws, int64_t n, int64_t p, int64_t c, int64_t groups,
                                              float eps) {
    if (group_stats(st, x, dy, gamma, ws, n, p, c, groups, eps))
        gn_apply_kernel<<<blocks_for(n * p * c), THREADS, 0, st>>>(x, dy, gamma, NULL, ws, dx, n * p * c, p, c, groups);
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_group_norm_gamma_grad(cudaStream_t st, const float *dy, const float *x, float *out,
                                                    double *ws, int64_t n, int64_t p, int64_t c, int64_t groups,
                                                    float eps) {
    if (c <= 0) return cudaGetLastError();
    if (!group_stats(st, x, NULL, NULL, ws, n, p, c, groups, eps))
        return cudaMemsetAsync(out, 0, (size_t)c * sizeof(float), st);
    double *partial = ws + n * groups * 4;
    gn_gamma_part_kernel<<<blocks_for(n * c), THREADS, 0, st>>>(dy, x, ws, partial, n, p, c, groups);
    gn_gamma_sum_kernel<<<blocks_for(c), THREADS, 0, st>>>(partial, out, n, c);
    return cudaGetLastError();
}
