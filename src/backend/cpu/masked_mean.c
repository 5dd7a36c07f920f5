/* masked_mean.c — KN_OP_MASKED_MEAN and its gradient on the CPU (graph/ops_mask.c): each
 * sample's mean over the steps its mask keeps, a row of C channels at a time; the gradient
 * spreads dy / kept over the kept steps and writes 0 at the others. And KN_OP_MASK_VALUES,
 * Keras's Masking's mask: 1 for a step with any value other than mask_value. */
#include "cpu.h"

#include <string.h>

/* Steps sample n's mask (T floats) keeps, and 1 / that (0 when none). */
static float inv_kept(const float *m, int64_t T) {
    int64_t kept = 0;
    for (int64_t t = 0; t < T; t++) kept += m[t] > 0.5f;
    return kept ? 1.0f / (float)kept : 0.0f;
}

void kn__cpu_masked_mean(kn_graph *g, kn_tensor *t) {
    (void)g;
    int64_t N = t->ne[0], T = t->iparam[0], C = t->iparam[1];
    const float *x = t->src[0]->data, *mask = t->src[1]->data;
    float *y = t->data;
    for (int64_t n = 0; n < N; n++) {
        const float *m = mask + n * T, *xs = x + n * T * C;
        float *out = y + n * C, inv = inv_kept(m, T);
        memset(out, 0, (size_t)C * sizeof *out);
        for (int64_t s = 0; s < T; s++)
            if (m[s] > 0.5f)
                for (int64_t c = 0; c < C; c++) out[c] += xs[s * C + c];
        for (int64_t c = 0; c < C; c++) out[c] *= inv;
    }
}

void kn__cpu_masked_mean_grad(kn_graph *g, kn_tensor *t) {
    (void)g;
    int64_t N = t->ne[0], T = t->iparam[0], C = t->iparam[1];
    const float *dy = t->src[0]->data, *mask = t->src[1]->data;
    float *dx = t->data;
    for (int64_t n = 0; n < N; n++) {
        const float *m = mask + n * T, *d = dy + n * C;
        float inv = inv_kept(m, T), *out = dx + n * T * C;
        for (int64_t s = 0; s < T; s++)
            for (int64_t c = 0; c < C; c++) out[s * C + c] = m[s] > 0.5f ? d[c] * inv : 0.0f;
    }
}

/* Steps [lo, hi) of all samples (N*T of them): 1 where a value differs from the mask value. */
typedef struct {
    const float *x;
    float *y, value;
    int64_t C;
} mask_args;

static void mask_steps(void *p, int64_t lo, int64_t hi) {
    const mask_args *a = p;
    for (int64_t s = lo; s < hi; s++) {
        const float *v = a->x + s * a->C;
        bool kept = false;
        for (int64_t c = 0; c < a->C && !kept; c++) kept = !(v[c] == a->value); /* (NaN: kept) */
        a->y[s] = kept ? 1.0f : 0.0f;
    }
}

void kn__cpu_mask_values(kn_graph *g, kn_tensor *t) {
    mask_args a = {t->src[0]->data, t->data, t->fparam[0], t->iparam[1]};
    int64_t steps = t->ne[0] * t->iparam[0];
    if (steps > 0) kn__parallel_for(g, steps, 1, mask_steps, &a);
}
