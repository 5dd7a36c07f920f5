/* depth_taps.c — KN_OP_DEPTH_TAPS and its gradient on the CPU (graph/ops_depth_taps.c): a
 * 3-D convolution's depth taps as channels, copied a cell (its C channels) at a time, rows of
 * the output in parallel; the gradient gathers, for each input cell, the taps that copied it
 * in tap order (the same bits on any thread count). f32. */
#include "cpu.h"

#include <string.h>

typedef struct {
    const float *src;
    float *dst;
    kn__depth_geom q;
} taps_args;

/* Output cells [lo, hi) of the taps: cell (n, od, p) with p over H W, KD C values. */
static void taps_range(void *p, int64_t lo, int64_t hi) {
    const taps_args *a = p;
    const kn__depth_geom q = a->q;
    for (int64_t cell = lo; cell < hi; cell++) {
        int64_t pos = cell % q.hw, od = cell / q.hw % q.od, n = cell / (q.hw * q.od);
        float *out = a->dst + cell * q.taps * q.c;
        for (int64_t t = 0; t < q.taps; t++) {
            int64_t d = od * q.stride + t * q.dilation - q.front;
            if (d < 0 || d >= q.d) memset(out + t * q.c, 0, (size_t)q.c * sizeof *out);
            else memcpy(out + t * q.c, a->src + ((n * q.d + d) * q.hw + pos) * q.c, (size_t)q.c * sizeof *out);
        }
    }
}

/* Input cells [lo, hi) of the gradient: cell (n, d, p) sums tap t of output depth od where
 * od stride + t dilation - front = d. */
static void taps_grad_range(void *p, int64_t lo, int64_t hi) {
    const taps_args *a = p;
    const kn__depth_geom q = a->q;
    for (int64_t cell = lo; cell < hi; cell++) {
        int64_t pos = cell % q.hw, d = cell / q.hw % q.d, n = cell / (q.hw * q.d);
        float *out = a->dst + cell * q.c;
        memset(out, 0, (size_t)q.c * sizeof *out);
        for (int64_t t = 0; t < q.taps; t++) {
            int64_t at = d + q.front - t * q.dilation;
            if (at < 0 || at % q.stride) continue;
            int64_t od = at / q.stride;
            if (od >= q.od) continue;
            const float *in = a->src + (((n * q.od + od) * q.hw + pos) * q.taps + t) * q.c;
            for (int64_t c = 0; c < q.c; c++) out[c] += in[c];
        }
    }
}

void kn__cpu_depth_taps(kn_graph *g, kn_tensor *t) {
    taps_args a = {.src = t->src[0]->data, .dst = t->data, .q = kn__depth_taps_geom(t)};
    bool grad = t->op == KN_OP_DEPTH_TAPS_GRAD;
    int64_t cells = a.q.n * (grad ? a.q.d : a.q.od) * a.q.hw, per = grad ? a.q.c : a.q.taps * a.q.c;
    if (cells > 0 && per > 0)
        kn__parallel_for(g, cells, per < KN_GRAIN ? KN_GRAIN / per : 1, grad ? taps_grad_range : taps_range, &a);
}
