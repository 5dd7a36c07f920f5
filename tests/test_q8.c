/* test_q8.c — the int8 product (backend/cpu/q8.h) against its definition:
 *   - every ISA this CPU runs gives the portable path's bits, on 1 and 3 threads;
 *   - inputs that quantize exactly (integer activations spanning 255 steps, weights that are
 *     multiples of their scale) give the f32 product exactly, with and without zero points;
 *   - on random data each output is within the quantization bound of the f32 product:
 *     |x w - x' w'| <= |x| s_w / 2 + |w| s_x / 2 + s_x s_w / 4 per term (x', w' the
 *     dequantized values), summed, plus the f32 reference's own rounding;
 *   - a row holding NaN gives NaN outputs and leaves the other rows alone; a row of zeros
 *     gives the bias; the activation is applied (relu). */
#include <kiln.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/q8.h"
#include "check.h"

static uint64_t rng = 88172645463325252ull;
static float uniform(void) { /* [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

typedef struct {
    int64_t m, k, n;
    kn__q8_weights *w;
    float *x, *W, *bias, *ref, *bound, *out, *out2;
    bool *exact; /* kinds 1 and 2: the output is exact (its terms' magnitudes sum below 2^22) */
    void *scratch;
} problem;

static void *aligned(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

static void setup(problem *p, int64_t m, int64_t k, int64_t n, int kind) {
    p->m = m, p->k = k, p->n = n;
    p->x = malloc(sizeof(float) * (size_t)(m * k));
    p->W = malloc(sizeof(float) * (size_t)(k * n));
    p->bias = malloc(sizeof(float) * (size_t)n);
    p->ref = malloc(sizeof(float) * (size_t)(m * n));
    p->bound = malloc(sizeof(float) * (size_t)(m * n));
    p->out = malloc(sizeof(float) * (size_t)(m * n));
    p->out2 = malloc(sizeof(float) * (size_t)(m * n));
    p->exact = calloc((size_t)(m * n), sizeof(bool));
    for (int64_t i = 0; i < m * k; i++) {
        if (kind == 1) p->x[i] = (float)(int)((uniform() + 1) * 127.5f);                /* integers in [0, 255] */
        else if (kind == 2) p->x[i] = (float)((int)((uniform() + 1) * 127.5f) - 100); /* [-100, 155] */
        else if (kind == 3) p->x[i] = fmaxf(uniform(), 0.0f) * 3;                       /* relu outputs */
        else p->x[i] = uniform() * 2;
    }
    if (kind == 1 || kind == 2) /* make every row span its whole range, so its scale is 1 */
        for (int64_t i = 0; i < m; i++) p->x[i * k] = kind == 1 ? 255 : -100, p->x[i * k + (k > 1)] = 155;
    for (int64_t i = 0; i < k * n; i++) p->W[i] = kind == 1 || kind == 2 ? (float)(int)(uniform() * 127) * 0.5f : uniform() * 0.2f;
    if (kind == 1 || kind == 2) /* every column's largest weight 127 steps of 0.5 */
        for (int64_t j = 0; j < n; j++) p->W[j] = 63.5f;
    for (int64_t j = 0; j < n; j++) p->bias[j] = kind == 1 || kind == 2 ? (float)(j % 7) : uniform();
    p->w = kn__q8_pack(aligned(kn__q8_weights_bytes(k, n)), p->W, k, n, n);
    p->scratch = aligned(kn__q8_scratch_bytes(m, k));
    /* the f32 product in double, and the quantization bound of each output */
    for (int64_t i = 0; i < m; i++) {
        float mn = 0, mx = 0;
        for (int64_t r = 0; r < k; r++) mn = fminf(mn, p->x[i * k + r]), mx = fmaxf(mx, p->x[i * k + r]);
        double sx = (mx - mn) / 255.0;
        for (int64_t j = 0; j < n; j++) {
            double s = p->bias[j], b = 0, mag = fabs(p->bias[j]), sw = p->w->scale[j];
            for (int64_t r = 0; r < k; r++) {
                double xv = p->x[i * k + r], wv = p->W[r * n + j];
                s += xv * wv;
                mag += fabs(xv * wv);
                b += fabs(xv) * sw / 2 + fabs(wv) * sx / 2 + sx * sw / 4;
            }
            p->ref[i * n + j] = (float)s;
            p->bound[i * n + j] = (float)(b * 1.0001 + 1e-6 * mag + 1e-6);
            p->exact[i * n + j] = (kind == 1 || kind == 2) && mag < 4194304.0;
        }
    }
}

static void release(problem *p) {
    free(p->x), free(p->W), free(p->bias), free(p->ref), free(p->bound), free(p->out), free(p->out2), free(p->exact);
    free(p->w), free(p->scratch);
}

static void run(problem *p, int isa, int act, float *out, int threads) {
    kn__q8_gemm(isa, p->m, p->x, p->k, p->w, p->bias, act, 0.0f, out, p->n, p->scratch, threads);
}

static void check_shape(int64_t m, int64_t k, int64_t n, int kind) {
    problem p;
    setup(&p, m, k, n, kind);
    run(&p, KN_Q8_PORTABLE, KN_LINEAR, p.out, 1);
    double worst = 0, mean = 0;
    int64_t over = 0;
    for (int64_t i = 0; i < m * n; i++) {
        double e = fabs((double)p.out[i] - p.ref[i]);
        mean += e / (double)(m * n);
        if (p.exact[i]) over += p.out[i] != p.ref[i];
        else over += e > p.bound[i];
        if (e / p.bound[i] > worst) worst = e / p.bound[i];
    }
    CHECK(over == 0, "m=%lld k=%lld n=%lld kind %d: %lld outputs off (worst %.3g of the bound)", (long long)m,
          (long long)k, (long long)n, kind, (long long)over, worst);
    int best = kn__q8_isa_best();
    for (int isa = KN_Q8_PORTABLE; isa <= best; isa++)
        for (int threads = 1; threads <= 3; threads += 2) {
            memset(p.out2, 0, sizeof(float) * (size_t)(m * n));
            run(&p, isa, KN_LINEAR, p.out2, threads);
            CHECK(memcmp(p.out, p.out2, sizeof(float) * (size_t)(m * n)) == 0,
                  "m=%lld k=%lld n=%lld: %s on %d threads differs from portable", (long long)m, (long long)k,
                  (long long)n, kn__q8_isa_name(isa), threads);
        }
    /* relu: the linear outputs clamped */
    run(&p, best, KN_RELU, p.out2, 2);
    int64_t bad = 0;
    for (int64_t i = 0; i < m * n; i++) bad += p.out2[i] != fmaxf(p.out[i], 0.0f);
    CHECK(bad == 0, "m=%lld k=%lld n=%lld: relu wrong on %lld outputs", (long long)m, (long long)k, (long long)n,
          (long long)bad);
    printf("m=%5lld k=%5lld n=%4lld kind %d: mean |error| %.2e, worst %.2f of the bound, %s agrees\n", (long long)m,
           (long long)k, (long long)n, kind, mean, worst, kn__q8_isa_name(best));
    release(&p);
}

int main(void) {
    printf("widest path here: %s\n", kn__q8_isa_name(kn__q8_isa_best()));
    const int64_t shapes[][3] = {{1, 784, 64}, {32, 784, 64}, {32, 64, 10}, {1, 5, 3},     {7, 13, 17},
                                 {50, 64, 10}, {3, 9216, 128}, {100, 33, 40}, {61, 200, 70}, {6, 4, 16}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int kind = 0; kind < 4; kind++) check_shape(shapes[s][0], shapes[s][1], shapes[s][2], kind);

    /* NaN in one row; a row of zeros */
    problem p;
    setup(&p, 5, 40, 20, 0);
    p.x[2 * 40 + 7] = NAN;
    for (int64_t r = 0; r < 40; r++) p.x[4 * 40 + r] = 0;
    for (int isa = KN_Q8_PORTABLE; isa <= kn__q8_isa_best(); isa++) {
        run(&p, isa, KN_LINEAR, p.out, 1);
        int nan_row = 0, clean = 0, zero_row = 0;
        for (int64_t j = 0; j < 20; j++) {
            nan_row += isnan(p.out[2 * 20 + j]);
            zero_row += p.out[4 * 20 + j] == p.bias[j];
            for (int64_t i = 0; i < 4; i++) clean += i != 2 && isfinite(p.out[i * 20 + j]);
        }
        CHECK(nan_row == 20 && clean == 60 && zero_row == 20, "%s: NaN row %d/20 NaN, others %d/60 finite, zero row %d/20 the bias",
              kn__q8_isa_name(isa), nan_row, clean, zero_row);
    }
    release(&p);
    return checks_done("int8 product");
}
