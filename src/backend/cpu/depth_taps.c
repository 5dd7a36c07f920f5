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

/* Output cells [lo, hi) of the taps: cell (n, od, p) with p over H W, KD C values; each
 * tap's C values copied as a block (memcpy; value by value under 16, so that no call copies
 * a few bytes). */
static void taps_range(void *p, int64_t lo, int64_t hi) {
    const taps_args *a = p;
    const kn__depth_geom q = a->q;
    int64_t pos = lo % q.hw, od = lo / q.hw % q.od, n = lo / (q.hw * q.od); /* (then stepped: no divisions a cell) */
    for (int64_t cell = lo; cell < hi; cell++, pos = pos + 1 < q.hw ? pos + 1 : 0) {
        if (cell > lo && pos == 0 && ++od == q.od) od = 0, n++;
        float *restrict out = a->dst + cell * q.taps * q.c;
        for (int64_t t = 0; t < q.taps; t++) {
            int64_t d = od * q.stride + t * q.dilation - q.front;
            float *restrict o = out + t * q.c;
            const float *restrict in = a->src + ((n * q.d + d) * q.hw + pos) * q.c;
            if (d < 0 || d >= q.d) memset(o, 0, (size_t)q.c * sizeof *o);
            else if (q.c >= 16) memcpy(o, in, (size_t)q.c * sizeof *o);
            else
                for (int64_t c = 0; c < q.c; c++) o[c] = in[c];
        }
    }
}

/* The same for a few channels (a first layer's 1 to 3), a plane (n, od) of H W cells at a
 * time: each tap a strided copy over the plane's cells, with no per-cell bookkeeping. */
static void taps_planes(void *p, int64_t lo, int64_t hi) {
    const taps_args *a = p;
    const kn__depth_geom q = a->q;
    const int64_t step = q.taps * q.c;
    for (int64_t plane = lo; plane < hi; plane++) {
        int64_t od = plane % q.od, n = plane / q.od;
        float *restrict out = a->dst + plane * q.hw * step;
        for (int64_t t = 0; t < q.taps; t++) {
            int64_t d = od * q.stride + t * q.dilation - q.front;
            float *restrict o = out + t * q.c;
            if (d < 0 || d >= q.d) {
                for (int64_t pos = 0; pos < q.hw; pos++)
                    for (int64_t c = 0; c < q.c; c++) o[pos * step + c] = 0.0f;
                continue;
            }
            const float *restrict in = a->src + (n * q.d + d) * q.hw * q.c;
            if (q.c == 1)
                for (int64_t pos = 0; pos < q.hw; pos++) o[pos * step] = in[pos];
            else
                for (int64_t pos = 0; pos < q.hw; pos++)
                    for (int64_t c = 0; c < q.c; c++) o[pos * step + c] = in[pos * q.c + c];
        }
    }
}

/* Input cells [lo, hi) of the gradient: cell (n, d, p) sums tap t of output depth od where
 * od stride + t dilation - front = d. */
static void taps_grad_range(void *p, int64_t lo, int64_t hi) {
    const taps_args *a = p;
    const kn__depth_geom q = a->q;
    int64_t pos = lo % q.hw, d = lo / q.hw % q.d, n = lo / (q.hw * q.d); /* (then stepped: no divisions a cell) */
    for (int64_t cell = lo; cell < hi; cell++, pos = pos + 1 < q.hw ? pos + 1 : 0) {
        if (cell > lo && pos == 0 && ++d == q.d) d = 0, n++;
        float *out = a->dst + cell * q.c;
        memset(out, 0, (size_t)q.c * sizeof *out);
        for (int64_t t = 0; t < q.taps; t++) {
            int64_t at = d + q.front - t * q.dilation;
            if (at < 0 || (q.stride > 1 && at % q.stride)) continue;
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
    if (cells <= 0 || per <= 0) return;
    if (!grad && a.q.c < 16) { /* (planes of H W cells) */
        int64_t plane = a.q.hw * per;
        kn__parallel_for(g, a.q.n * a.q.od, plane < KN_GRAIN ? KN_GRAIN / plane : 1, taps_planes, &a);
        return;
    }
    kn__parallel_for(g, cells, per < KN_GRAIN ? KN_GRAIN / per : 1, grad ? taps_grad_range : taps_range, &a);
}
