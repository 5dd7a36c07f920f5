/* dropout.c — inverted dropout. Element i of node key k at step t is dropped when a uniform
 * draw from kiln's counter RNG falls below the rate: the node's own key is
 * rng(seed, KN_STREAM_DROPOUT, (t, k)) and element i's draw rng(key, KN_STREAM_DROPOUT + 1, i),
 * a pure function of (seed, t, k, i), so any split over threads gives the same mask, and
 * (when fit accumulates gradients over several batches per step) of the batch's place m
 * in the accumulation, the key then rng(key, KN_STREAM_DROPOUT + 2, m); and
 * the backward node (same key, same step) recomputes the forward's mask instead of storing
 * it. Outside training the op is a copy, or nothing when the in-place pass gave it its
 * input's memory. */
#include "cpu.h"

#include <string.h>

typedef struct {
    const float *x;
    float *y;
    uint64_t key;
    uint32_t threshold; /* drop when the draw's top 32 bits are below this */
    float scale;
} dropout_args;

static void dropout_range(void *p, int64_t lo, int64_t hi) {
    const dropout_args *a = p;
    const float *x = a->x; /* no restrict: y may be x (in place) */
    float *y = a->y;
    for (int64_t i = lo; i < hi; i++) {
        uint32_t r = (uint32_t)(kn__rng_u64(a->key, KN_STREAM_DROPOUT + 1, (uint64_t)i) >> 32);
        y[i] = r < a->threshold ? 0.0f : x[i] * a->scale;
    }
}

void kn__cpu_dropout(kn_graph *g, kn_tensor *t) {
    const float *x = t->src[0]->data;
    float *y = t->data;
    float rate = t->fparam[0];
    if (!g->training || rate == 0.0f) {
        if (y != x) memcpy(y, x, kn__nbytes(t));
        return;
    }
    /* (step, key) -> one 64-bit key per node and step; the build index is below 2^31 */
    uint64_t node = ((uint64_t)g->rng_step << 32) ^ (uint64_t)(uint32_t)t->iparam[0];
    double thr = (double)rate * 4294967296.0;
    uint64_t key = kn__rng_u64(g->ctx->seed, KN_STREAM_DROPOUT, node);
    if (g->rng_micro) key = kn__rng_u64(key, KN_STREAM_DROPOUT + 2, (uint64_t)g->rng_micro);
    dropout_args a = {x, y, key,
                      thr >= 4294967295.0 ? 4294967295u : (uint32_t)thr, 1.0f / (1.0f - rate)};
    kn__parallel_for(g, kn__numel(t), KN_GRAIN, dropout_range, &a);
}
