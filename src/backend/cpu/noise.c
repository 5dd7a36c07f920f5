/* noise.c — KN_OP_NOISE (graph.h): Gaussian noise, Gaussian dropout and alpha dropout. In a
 * training run element i's draws come from dropout's element key (kn__cpu_dropout_key: seed,
 * step, node key, accumulation micro-batch), so they are a pure function of (seed, step, key,
 * i) whatever the split over threads, and the backward node (same key, same step) draws the
 * forward's values again: the normal z_i from draw i (noise_formulas.h's Box-Muller), alpha
 * dropout's keep decision from dropout's 16-bit draw of element i (bits 16 (i % 4) .. of draw
 * i / 4), so it drops what a dropout of that rate and key would. Outside training, or with
 * a parameter of 0, a copy (or nothing, in place). f32 only: half_support.c lists no noise,
 * so the precision pass keeps its input and output f32. */
#include "cpu.h"
#include "backend/noise_formulas.h"

typedef struct {
    const float *x;
    float *y; /* may be x (the in-place pass): each element is read before it is written */
    uint64_t key;
    int mode;
    kn__noise_consts c;
} noise_args;

static void noise_range(void *p, int64_t lo, int64_t hi) {
    const noise_args *a = p;
    const float *x = a->x;
    float *y = a->y;
    if (a->mode == KN_NOISE_GAUSSIAN || a->mode == KN_NOISE_GAUSSIAN_DROPOUT) {
        for (int64_t i = lo; i < hi; i++)
            y[i] = kn__noise_gaussian(a->mode, a->c.p, x[i], kn__rng_draw(a->key, (uint64_t)i));
        return;
    }
    for (int64_t i = lo; i < hi; i++) {
        uint32_t draw16 = (uint32_t)(kn__rng_draw(a->key, (uint64_t)i >> 2) >> (16 * (i & 3))) & 0xffffu;
        y[i] = kn__noise_alpha(a->mode, &a->c, x[i], draw16);
    }
}

void kn__cpu_noise(kn_graph *g, kn_tensor *t) {
    float param = t->fparam[0];
    if (!g->training || param == 0.0f) { /* the identity (every mode at 0 is: simplify drops it) */
        kn__cpu_copy(g, t);
        return;
    }
    noise_args a = {t->src[0]->data, t->data, 0, t->iparam[1], kn__noise_consts_of(t->iparam[1], param)};
    uint32_t threshold; /* (dropout's, unused: the constants carry alpha dropout's) */
    float scale;
    a.key = kn__cpu_dropout_key(g, (uint32_t)t->iparam[0], 0.0f, &threshold, &scale);
    kn__parallel_for(g, kn__numel(t), KN_GRAIN, noise_range, &a);
}
