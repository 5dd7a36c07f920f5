/* bcast.c — the per-sample broadcasts on the CPU (graph/ops_bcast.c says what they compute):
 * x (N, P, C) op v (N, Pb, Cb) a row of C at a time, and v's gradient summed over the axes it
 * broadcasts, each output in a fixed order (positions, then channels), so the same bits on
 * any thread count. f32 only (half_support.c lists neither op). */
#include "cpu.h"

typedef struct {
    const float *x, *v;      /* (N, P, C), (N, Pb, Cb) */
    float *y;
    int64_t P, C;
    bool pb1, cb1;
    kn__bcast_op op;
    const float *w;          /* the reduction's weights (x's shape) or NULL */
} bcast_args;

static void axes_of(const kn_tensor *x, const kn_tensor *t, bcast_args *a) {
    int64_t N = x->ne[0];
    a->C = x->ne[x->ndim - 1];
    a->P = N > 0 && a->C > 0 ? kn__numel(x) / (N * a->C) : 0;
    a->pb1 = t->iparam[1] != 0;
    a->cb1 = t->iparam[2] != 0;
}

/* Rows [lo, hi) of x (a row: C channels of one position). */
static void binary_rows(void *p, int64_t lo, int64_t hi) {
    const bcast_args *a = p;
    const int64_t C = a->C, Pb = a->pb1 ? 1 : a->P, Cb = a->cb1 ? 1 : C;
    for (int64_t r = lo; r < hi; r++) {
        int64_t n = r / a->P, q = r % a->P;
        const float *x = a->x + r * C, *v = a->v + (n * Pb + (a->pb1 ? 0 : q)) * Cb;
        float *y = a->y + r * C;
        if (a->cb1) {
            const float s = v[0];
            switch (a->op) {
            case KN__BCAST_ADD: for (int64_t c = 0; c < C; c++) y[c] = x[c] + s; break;
            case KN__BCAST_SUB: for (int64_t c = 0; c < C; c++) y[c] = x[c] - s; break;
            case KN__BCAST_RSUB: for (int64_t c = 0; c < C; c++) y[c] = s - x[c]; break;
            default: for (int64_t c = 0; c < C; c++) y[c] = x[c] * s; break;
            }
            continue;
        }
        switch (a->op) {
        case KN__BCAST_ADD: for (int64_t c = 0; c < C; c++) y[c] = x[c] + v[c]; break;
        case KN__BCAST_SUB: for (int64_t c = 0; c < C; c++) y[c] = x[c] - v[c]; break;
        case KN__BCAST_RSUB: for (int64_t c = 0; c < C; c++) y[c] = v[c] - x[c]; break;
        default: for (int64_t c = 0; c < C; c++) y[c] = x[c] * v[c]; break;
        }
    }
}

void kn__cpu_bcast_binary(kn_graph *g, kn_tensor *t) {
    const kn_tensor *x = t->src[0];
    bcast_args a = {.x = x->data, .v = t->src[1]->data, .y = t->data, .op = (kn__bcast_op)t->iparam[0]};
    axes_of(x, t, &a);
    int64_t rows = x->ne[0] * a.P;
    if (rows > 0 && a.C > 0) kn__parallel_for(g, rows, a.C < KN_GRAIN ? KN_GRAIN / a.C : 1, binary_rows, &a);
}

/* Samples [lo, hi): out[n] = the sample's d (times w) summed over the broadcast axes. */
static void reduce_samples(void *p, int64_t lo, int64_t hi) {
    const bcast_args *a = p;
    const int64_t P = a->P, C = a->C, Pb = a->pb1 ? 1 : P, Cb = a->cb1 ? 1 : C;
    for (int64_t n = lo; n < hi; n++) {
        const float *d = a->x + n * P * C, *w = a->w ? a->w + n * P * C : NULL;
        float *out = a->y + n * Pb * Cb;
        for (int64_t i = 0; i < Pb * Cb; i++) out[i] = 0.0f;
        for (int64_t q = 0; q < P; q++)
            for (int64_t c = 0; c < C; c++) {
                float e = w ? d[q * C + c] * w[q * C + c] : d[q * C + c];
                out[(a->pb1 ? 0 : q) * Cb + (a->cb1 ? 0 : c)] += e;
            }
    }
}

void kn__cpu_bcast_reduce(kn_graph *g, kn_tensor *t) {
    const kn_tensor *d = t->src[0];
    bcast_args a = {.x = d->data, .w = t->src[1] ? t->src[1]->data : NULL, .y = t->data};
    axes_of(d, t, &a);
    int64_t N = d->ne[0], per = a.P * a.C;
    if (N > 0) kn__parallel_for(g, N, per < KN_GRAIN ? KN_GRAIN / (per > 0 ? per : 1) : 1, reduce_samples, &a);
}
