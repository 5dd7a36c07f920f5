/* kernels_random_aug.cu — KN_OP_RANDOM_AFFINE, KN_OP_RANDOM_COLOR and their gradients on the GPU
 * (Keras 3's random image augmentation; graph.h says what they compute): cpu/random_aug.c's
 * computation with the same formulas (backend/random_aug_formulas.h: the same float operations
 * in the same order, products rounded alone) and the same draws (dropout's key with the layer's
 * seed, read from the device's step values, so a captured CUDA graph's replays draw each
 * step's transforms and an evaluation run copies): the CPU's bits.
 *   random_affine       a thread per output element, its sample's map from one draw
 *   random_affine_grad  a thread per (sample, channel) plane: zeros, then the outputs' taps added
 *                       in output order, as the CPU's loop (no atomics)
 *   random_color(_grad) a thread per plane: the mean (a double sum in cell order), then the cells
 * The plane-serial kernels are slow for large images (unmeasured on a GPU): these layers sit at
 * the input, where no gradient is built, and an image's planes are few. f32 only. */
#include "launch.h"
#include "device.cuh"
#include "dropout.cuh"
#include "backend/random_aug_formulas.h"

#define THREADS 256

#define blocks_for(n) kn__cu_blocks_for((n), THREADS) /* (device.cuh) */
#define GRID_STRIDE(i, n) KN_CU_GRID_STRIDE(i, n)

__device__ static inline kn__raug_map dev_map(const kn__cuda_random_image *r, uint64_t key, int64_t n) {
    return kn__raug_map_of(r->kind, r->f, r->flags, r->h, r->w, kn__dev_rng_draw(key, (uint64_t)n));
}

__global__ void random_affine_kernel(const kn__cuda_step *stp, kn__cuda_random_image r, const float *x, float *y) {
    const int64_t total = r.n * r.h * r.w * r.c;
    if (!stp->training) {
        GRID_STRIDE(i, total) y[i] = x[i];
        return;
    }
    const uint64_t key = kn__dev_dropout_key(stp, r.seed, r.node_key);
    GRID_STRIDE(i, total) {
        int64_t k = i % r.c, cell = i / r.c, ox = cell % r.w, oy = (cell / r.w) % r.h, n = cell / (r.w * r.h);
        kn__raug_map m = dev_map(&r, key, n);
        float sx, sy;
        kn__raug_source(&m, ox, oy, &sx, &sy);
        kn__raug_taps t = kn__raug_taps_of(sx, sy, r.h, r.w, r.flags);
        y[i] = kn__raug_value(&t, x + n * r.h * r.w * r.c + k, r.c, r.fill);
    }
}

__global__ void random_affine_grad_kernel(const kn__cuda_step *stp, kn__cuda_random_image r, const float *dy,
                                          float *dx) {
    const int64_t total = r.n * r.h * r.w * r.c, planes = r.n * r.c, size = r.h * r.w * r.c;
    if (!stp->training) {
        GRID_STRIDE(i, total) dx[i] = dy[i];
        return;
    }
    const uint64_t key = kn__dev_dropout_key(stp, r.seed, r.node_key);
    GRID_STRIDE(p, planes) {
        int64_t n = p / r.c, k = p % r.c;
        kn__raug_map m = dev_map(&r, key, n);
        const float *d = dy + n * size + k;
        float *o = dx + n * size + k;
        for (int64_t i = 0; i < r.h * r.w; i++) o[i * r.c] = 0.0f;
        for (int64_t oy = 0; oy < r.h; oy++)
            for (int64_t ox = 0; ox < r.w; ox++) {
                float sx, sy;
                kn__raug_source(&m, ox, oy, &sx, &sy);
                kn__raug_taps t = kn__raug_taps_of(sx, sy, r.h, r.w, r.flags);
                float v = d[(oy * r.w + ox) * r.c];
                for (int j = 0; j < t.n; j++)
                    if (t.cell[j] >= 0) o[t.cell[j] * r.c] += t.n == 1 ? v : kn__raug_mul(t.weight[j], v);
            }
    }
}

__device__ static float dev_mean(const float *img, int64_t cells, int64_t c) {
    double s = 0;
    for (int64_t i = 0; i < cells; i++) s += img[i * c];
    return (float)(s / (double)cells);
}

/* dy NULL: the forward (y); else the gradient (dx) from x and dy. */
__global__ void random_color_kernel(const kn__cuda_step *stp, kn__cuda_random_image r, const float *x,
                                    const float *dy, float *y) {
    const int64_t total = r.n * r.h * r.w * r.c, planes = r.n * r.c, cells = r.h * r.w, size = cells * r.c;
    if (!stp->training) {
        GRID_STRIDE(i, total) y[i] = dy ? dy[i] : x[i];
        return;
    }
    const uint64_t key = kn__dev_dropout_key(stp, r.seed, r.node_key);
    const float vlo = r.f[2], vhi = r.f[3];
    const bool contrast = r.kind == KN_RAUG_CONTRAST;
    GRID_STRIDE(p, planes) {
        int64_t n = p / r.c, k = p % r.c;
        float factor = kn__raug_color_factor(r.kind, r.f, kn__dev_rng_draw(key, (uint64_t)n));
        const float *img = x + n * size + k;
        float *out = y + n * size + k;
        float mean = contrast ? dev_mean(img, cells, r.c) : 0.0f;
        if (!dy) {
            for (int64_t i = 0; i < cells; i++)
                out[i * r.c] = kn__raug_clip(kn__raug_color_raw(r.kind, img[i * r.c], mean, factor), vlo, vhi);
            continue;
        }
        const float *d = dy + n * size + k;
        float share = 0.0f;
        if (contrast) {
            double s = 0;
            for (int64_t i = 0; i < cells; i++)
                if (kn__raug_inside(kn__raug_color_raw(r.kind, img[i * r.c], mean, factor), vlo, vhi)) s += d[i * r.c];
            share = (float)((double)(1.0f - factor) * s / (double)cells);
        }
        for (int64_t i = 0; i < cells; i++) {
            bool in = kn__raug_inside(kn__raug_color_raw(r.kind, img[i * r.c], mean, factor), vlo, vhi);
            float v = in ? d[i * r.c] : 0.0f;
            out[i * r.c] = contrast ? kn__raug_mul(v, factor) + share : v;
        }
    }
}

extern "C" cudaError_t kn__cu_random_affine(cudaStream_t s, const kn__cuda_step *step, const kn__cuda_random_image *r,
                                            const float *x, float *y, bool grad) {
    int64_t total = r->n * r->h * r->w * r->c;
    if (total > 0) {
        if (grad) random_affine_grad_kernel<<<blocks_for(total), THREADS, 0, s>>>(step, *r, x, y);
        else random_affine_kernel<<<blocks_for(total), THREADS, 0, s>>>(step, *r, x, y);
    }
    return cudaGetLastError();
}

extern "C" cudaError_t kn__cu_random_color(cudaStream_t s, const kn__cuda_step *step, const kn__cuda_random_image *r,
                                           const float *x, const float *dy, float *y) {
    int64_t total = r->n * r->h * r->w * r->c;
    if (total > 0) random_color_kernel<<<blocks_for(total), THREADS, 0, s>>>(step, *r, x, dy, y);
    return cudaGetLastError();
}
