/* unitnorm.c — KN_OP_UNIT_NORM and its gradient on the CPU (graph/ops_unit_norm.c): each row
 * of the last axis divided by its L2 norm (floored at sqrt(eps)). A row's sums in double, in
 * order; rows split over the threads whole, so any thread count gives the same bits. */
#include "cpu.h"

#include <math.h>

typedef struct {
    const float *x, *dy;
    float *out;
    int64_t c;
    float eps;
} un_args;

/* 1 / max(||row||, sqrt(eps)) of the row at x, and whether the floor holds. */
static double inv_norm(const float *x, int64_t c, float eps, bool *floored) {
    double s = 0;
    for (int64_t i = 0; i < c; i++) s += (double)x[i] * x[i];
    *floored = !(s > (double)eps);
    return 1.0 / sqrt(*floored ? (double)eps : s);
}

static void forward_rows(void *p, int64_t lo, int64_t hi) {
    const un_args *a = p;
    for (int64_t off = lo; off < hi; off += a->c) {
        bool floored;
        float r = (float)inv_norm(a->x + off, a->c, a->eps, &floored);
        for (int64_t i = 0; i < a->c; i++) a->out[off + i] = a->x[off + i] * r;
    }
}

static void grad_rows(void *p, int64_t lo, int64_t hi) {
    const un_args *a = p;
    for (int64_t off = lo; off < hi; off += a->c) {
        bool floored;
        double r = inv_norm(a->x + off, a->c, a->eps, &floored), yd = 0;
        const float *x = a->x + off, *dy = a->dy + off;
        if (!floored)
            for (int64_t i = 0; i < a->c; i++) yd += x[i] * r * dy[i];
        for (int64_t i = 0; i < a->c; i++) a->out[off + i] = (float)(r * (dy[i] - x[i] * r * yd));
    }
}

static void run(kn_graph *g, kn_tensor *t, const kn_tensor *x, const kn_tensor *dy, kn__range_fn fn) {
    int64_t c = x->ne[x->ndim - 1], n = kn__numel(x);
    un_args a = {x->data, dy ? dy->data : NULL, t->data, c, t->fparam[0]};
    if (n > 0 && c > 0) kn__parallel_for(g, n, c, fn, &a);
}

void kn__cpu_unit_norm(kn_graph *g, kn_tensor *t) { run(g, t, t->src[0], NULL, forward_rows); }
void kn__cpu_unit_norm_grad(kn_graph *g, kn_tensor *t) { run(g, t, t->src[1], t->src[0], grad_rows); }
