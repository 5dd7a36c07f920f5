/* permute.c — KN_OP_PERMUTE on the CPU (graph/ops_permute.c): each sample's axes reordered, a
 * strided gather into y's order, a sample's rows at a time. f32 (half_support.c does not
 * list it). */
#include "cpu.h"

typedef struct {
    const float *x;
    float *y;
    int64_t out[3], from[3], per; /* y's sample axes, the strides in x they read; a sample's size */
} permute_args;

/* y's rows [lo, hi) (a row: its last axis), each row's values read out[2] apart in x */
static void permute_rows(void *p, int64_t lo, int64_t hi) {
    const permute_args *a = p;
    const int64_t rows = a->out[0] * a->out[1];
    for (int64_t r = lo; r < hi; r++) {
        int64_t n = r / rows, q = r % rows, i0 = q / a->out[1], i1 = q % a->out[1];
        const float *src = a->x + n * a->per + i0 * a->from[0] + i1 * a->from[1];
        float *dst = a->y + r * a->out[2];
        for (int64_t i2 = 0; i2 < a->out[2]; i2++) dst[i2] = src[i2 * a->from[2]];
    }
}

void kn__cpu_permute(kn_graph *g, kn_tensor *t) {
    permute_args a = {.x = t->src[0]->data, .y = t->data};
    kn__permute_axes(t, a.out, a.from);
    a.per = a.out[0] * a.out[1] * a.out[2];
    int64_t rows = t->ne[0] * a.out[0] * a.out[1];
    if (rows > 0 && a.out[2] > 0)
        kn__parallel_for(g, rows, a.out[2] < KN_GRAIN ? KN_GRAIN / a.out[2] : 1, permute_rows, &a);
}
