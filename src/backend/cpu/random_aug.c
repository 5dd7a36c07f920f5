/* random_aug.c — KN_OP_RANDOM_AFFINE, KN_OP_RANDOM_COLOR and their gradients (graph.h; Keras
 * 3's random_flip, random_translation, random_rotation, random_zoom, random_contrast and
 * random_brightness). In a training run sample n's transform comes from one draw,
 * kn__rng_draw(key, n), under dropout's key with the layer's seed (kn__cpu_random_image_key), so
 * it is a pure function of (seed, step, node key, n) and the backward node (same key, same
 * step) draws the forward's again. Each value's float operations are random_aug_formulas.h's;
 * work is split by rows (forward resampling) or whole samples (the rest), and every value is
 * computed by one thread in a fixed order, so 1 and N threads (and the GPU) give the same
 * bits. Outside training a copy. f32 only (half_support.c lists none of them). */
#include "cpu.h"
#include "backend/random_aug_formulas.h"

#include <string.h>

uint64_t kn__cpu_random_image_key(const kn_graph *g, const kn_tensor *t) {
    uint64_t seed = t->iparam[3] >= 0 ? (uint64_t)t->iparam[3] : g->ctx->seed;
    uint64_t node = ((uint64_t)g->rng_step << 32) ^ (uint64_t)(uint32_t)t->iparam[0];
    uint64_t key = kn__rng_u64(seed, KN_STREAM_DROPOUT, node); /* as kn__cpu_dropout_key */
    if (g->rng_micro) key = kn__rng_u64(key, KN_STREAM_DROPOUT + 2, (uint64_t)g->rng_micro);
    return kn__rng_key(key, KN_STREAM_DROPOUT + 1);
}

typedef struct {
    const float *x; /* x, or dy (the affine gradient), (N, H, W, C) */
    const float *dy; /* the color gradient's dy */
    float *y;
    int64_t h, w, c;
    uint64_t key;
    int kind;
    unsigned flags;
    float fill;
    const float *f; /* the node's fparam */
} ra_args;

static kn__raug_map map_of(const ra_args *a, int64_t n) {
    return kn__raug_map_of(a->kind, a->f, a->flags, a->h, a->w, kn__rng_draw(a->key, (uint64_t)n));
}

/* Output rows (n, oy) of elements [lo, hi) (whole rows: the grain is W C). */
static void affine_rows(void *p, int64_t lo, int64_t hi) {
    const ra_args *a = p;
    const int64_t h = a->h, w = a->w, c = a->c, row = w * c;
    for (int64_t r = lo / row; r < hi / row; r++) {
        int64_t n = r / h, oy = r % h;
        kn__raug_map m = map_of(a, n);
        const float *img = a->x + n * h * row;
        float *out = a->y + r * row;
        for (int64_t ox = 0; ox < w; ox++) {
            float sx, sy;
            kn__raug_source(&m, ox, oy, &sx, &sy);
            kn__raug_taps t = kn__raug_taps_of(sx, sy, h, w, a->flags);
            for (int64_t k = 0; k < c; k++) out[ox * c + k] = kn__raug_value(&t, img + k, c, a->fill);
        }
    }
}

/* dx of whole samples [lo, hi) / (H W C): per channel, zeros, then each output cell's dy times
 * its taps' weights added to the cells they read, in output order. */
static void affine_grad_samples(void *p, int64_t lo, int64_t hi) {
    const ra_args *a = p;
    const int64_t h = a->h, w = a->w, c = a->c, size = h * w * c;
    for (int64_t n = lo / size; n < hi / size; n++) {
        kn__raug_map m = map_of(a, n);
        const float *dy = a->x + n * size;
        float *dx = a->y + n * size;
        memset(dx, 0, (size_t)size * sizeof *dx);
        for (int64_t k = 0; k < c; k++)
            for (int64_t oy = 0; oy < h; oy++)
                for (int64_t ox = 0; ox < w; ox++) {
                    float sx, sy;
                    kn__raug_source(&m, ox, oy, &sx, &sy);
                    kn__raug_taps t = kn__raug_taps_of(sx, sy, h, w, a->flags);
                    float d = dy[(oy * w + ox) * c + k];
                    for (int j = 0; j < t.n; j++)
                        if (t.cell[j] >= 0) dx[t.cell[j] * c + k] += t.n == 1 ? d : kn__raug_mul(t.weight[j], d);
                }
    }
}

/* Channel k of sample img's mean over its h w cells: a double sum in cell order. */
static float plane_mean(const float *img, int64_t cells, int64_t c, int64_t k) {
    double s = 0;
    for (int64_t i = 0; i < cells; i++) s += img[i * c + k];
    return (float)(s / (double)cells);
}

static void color_samples(void *p, int64_t lo, int64_t hi) {
    const ra_args *a = p;
    const int64_t cells = a->h * a->w, c = a->c, size = cells * c;
    const float vlo = a->f[2], vhi = a->f[3];
    for (int64_t n = lo / size; n < hi / size; n++) {
        float factor = kn__raug_color_factor(a->kind, a->f, kn__rng_draw(a->key, (uint64_t)n));
        const float *img = a->x + n * size;
        float *out = a->y + n * size;
        for (int64_t k = 0; k < c; k++) {
            float mean = a->kind == KN_RAUG_CONTRAST ? plane_mean(img, cells, c, k) : 0.0f;
            for (int64_t i = 0; i < cells; i++)
                out[i * c + k] = kn__raug_clip(kn__raug_color_raw(a->kind, img[i * c + k], mean, factor), vlo, vhi);
        }
    }
}

/* dx = mask dy (brightness); contrast: mask dy f + (1 - f) / cells * sum(mask dy) (the mean's
 * share), the sum in double in cell order. */
static void color_grad_samples(void *p, int64_t lo, int64_t hi) {
    const ra_args *a = p;
    const int64_t cells = a->h * a->w, c = a->c, size = cells * c;
    const float vlo = a->f[2], vhi = a->f[3];
    for (int64_t n = lo / size; n < hi / size; n++) {
        float factor = kn__raug_color_factor(a->kind, a->f, kn__rng_draw(a->key, (uint64_t)n));
        const float *img = a->x + n * size, *dy = a->dy + n * size;
        float *dx = a->y + n * size;
        for (int64_t k = 0; k < c; k++) {
            bool contrast = a->kind == KN_RAUG_CONTRAST;
            float mean = contrast ? plane_mean(img, cells, c, k) : 0.0f, share = 0.0f;
            if (contrast) {
                double s = 0;
                for (int64_t i = 0; i < cells; i++)
                    if (kn__raug_inside(kn__raug_color_raw(a->kind, img[i * c + k], mean, factor), vlo, vhi))
                        s += dy[i * c + k];
                share = (float)((double)(1.0f - factor) * s / (double)cells);
            }
            for (int64_t i = 0; i < cells; i++) {
                bool in = kn__raug_inside(kn__raug_color_raw(a->kind, img[i * c + k], mean, factor), vlo, vhi);
                float d = in ? dy[i * c + k] : 0.0f;
                dx[i * c + k] = contrast ? kn__raug_mul(d, factor) + share : d;
            }
        }
    }
}

static ra_args args_of(const kn_graph *g, const kn_tensor *t, const kn_tensor *img) {
    ra_args a = {.x = t->src[0]->data, .y = t->data, .h = img->ne[1], .w = img->ne[2], .c = img->ne[3],
                 .kind = t->iparam[1], .flags = (unsigned)t->iparam[2], .f = t->fparam};
    memcpy(&a.fill, &t->iparam[5], sizeof a.fill);
    a.key = kn__cpu_random_image_key(g, t);
    return a;
}

/* A random op's pass in a training run, over samples split at sample rows of `grain` values
 * (fn from the node's args, dy its gradient input when given); outside training the node is
 * its input (src[copy_src]) copied, as every random op is then the identity. */
static void run_training(kn_graph *g, kn_tensor *t, int copy_src, const float *dy, kn__range_fn fn, bool whole_samples) {
    if (!g->training) {
        if (t->data != t->src[copy_src]->data) memcpy(t->data, t->src[copy_src]->data, kn__nbytes(t)); /* (f32 only) */
        return;
    }
    ra_args a = args_of(g, t, t);
    a.dy = dy;
    kn__parallel_for(g, kn__numel(t), whole_samples ? a.h * a.w * a.c : a.w * a.c, fn, &a);
}

void kn__cpu_random_affine(kn_graph *g, kn_tensor *t) { run_training(g, t, 0, NULL, affine_rows, false); }
/* (its transpose: the forward copied outside training, so does this) */
void kn__cpu_random_affine_grad(kn_graph *g, kn_tensor *t) { run_training(g, t, 0, NULL, affine_grad_samples, true); }
void kn__cpu_random_color(kn_graph *g, kn_tensor *t) { run_training(g, t, 0, NULL, color_samples, true); }
/* (x, dy) -> dx */
void kn__cpu_random_color_grad(kn_graph *g, kn_tensor *t) {
    run_training(g, t, 1, t->src[1]->data, color_grad_samples, true);
}
