/* masked_mean.c — KN_OP_MASKED_MEAN and its gradient on the CPU (graph/ops_mask.c): each
 * sample's mean over the steps its mask keeps, a row of C channels at a time; the gradient
 * spreads dy / kept over the kept steps and writes 0 at the others. */
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
