/* test_sgemm.c — kn__sgemm against a double-precision reference: random and edge shapes,
 * the reference MLP's products, all four transpose combinations, alpha/beta variants
 * (beta = 0 over a NaN-filled C), padded strides, 1 and 2 threads, every instruction set
 * this CPU runs. Also checks that C's padding columns are never written. Exit 0: all pass. */
#include "backend/cpu/sgemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void) { /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}
static int64_t rand_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); }
static float rand_f(void) { return (float)((double)(rng() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static const float SENTINEL = 12345.0f; /* in C's padding columns; must survive */

static int failures, checks;

typedef struct {
    bool ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
} gemm_case;

/* Runs one case on every instruction set and thread count, comparing with the reference. */
static void run_case(const gemm_case *g) {
    const int64_t m = g->m, n = g->n, k = g->k;
    const int64_t arows = g->ta ? k : m, brows = g->tb ? n : k; /* stored rows */
    float *A = malloc(sizeof(float) * (size_t)(arows * g->lda + 1));
    float *B = malloc(sizeof(float) * (size_t)(brows * g->ldb + 1));
    float *C0 = malloc(sizeof(float) * (size_t)(m * g->ldc + 1));
    float *C = malloc(sizeof(float) * (size_t)(m * g->ldc + 1));
    double *ref = malloc(sizeof(double) * (size_t)(m * n + 1)), *mag = malloc(sizeof(double) * (size_t)(m * n + 1));
    if (!A || !B || !C0 || !C || !ref || !mag) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int64_t i = 0; i < arows * g->lda; i++) A[i] = rand_f();
    for (int64_t i = 0; i < brows * g->ldb; i++) B[i] = rand_f();
    if (g->alpha == 0) /* A and B must not be read: poison them */
        for (int64_t i = 0; i < arows * g->lda; i++) A[i] = NAN;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < g->ldc; j++)
            C0[i * g->ldc + j] = j >= n ? SENTINEL : g->beta == 0 ? NAN : rand_f();
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, a = 0;
            if (g->alpha != 0)
                for (int64_t p = 0; p < k; p++) {
                    double x = g->ta ? A[p * g->lda + i] : A[i * g->lda + p];
                    double y = g->tb ? B[j * g->ldb + p] : B[p * g->ldb + j];
                    s += x * y;
                    a += fabs(x * y);
                }
            double c = g->beta == 0 ? 0 : (double)g->beta * C0[i * g->ldc + j];
            ref[i * n + j] = g->alpha * s + c;
            mag[i * n + j] = fabs((double)g->alpha) * a + fabs(c);
        }
    /* Float32 accumulation over k products, then alpha and beta: the error is bounded by
     * (k + 3) unit roundoffs of the sum of the terms' magnitudes (Higham's gamma_k). */
    const double tol = (double)(k + 3) * ldexp(1.0, -24);
    for (int isa = 0; isa <= (int)kn__sgemm_isa_best(); isa++)
        for (int threads = 1; threads <= 2; threads++) {
            memcpy(C, C0, sizeof(float) * (size_t)(m * g->ldc));
            kn__sgemm_isa((kn_sgemm_isa)isa, g->ta, g->tb, m, n, k, g->alpha, A, g->lda, B, g->ldb,
                          g->beta, C, g->ldc, threads);
            int bad = 0;
            for (int64_t i = 0; i < m && bad < 1; i++)
                for (int64_t j = 0; j < g->ldc && bad < 1; j++) {
                    float got = C[i * g->ldc + j];
                    bool ok;
                    double want;
                    if (j >= n) {
                        want = SENTINEL;
                        ok = got == SENTINEL;
                    } else {
                        want = ref[i * n + j];
                        ok = fabs(got - want) <= tol * mag[i * n + j] + 1e-30;
                    }
                    if (!ok) {
                        bad++;
                        if (failures < 20)
                            fprintf(stderr,
                                    "FAIL isa=%d threads=%d ta=%d tb=%d m=%lld n=%lld k=%lld lda=%lld "
                                    "ldb=%lld ldc=%lld alpha=%g beta=%g: C[%lld][%lld] = %.9g, want %.9g%s\n",
                                    isa, threads, g->ta, g->tb, (long long)m, (long long)n,
                                    (long long)k, (long long)g->lda, (long long)g->ldb,
                                    (long long)g->ldc, g->alpha, g->beta, (long long)i,
                                    (long long)j, got, want, j >= n ? " (padding written)" : "");
                    }
                }
            failures += bad > 0;
            checks++;
        }
    free(A), free(B), free(C0), free(C), free(ref), free(mag);
}

static const float ALPHAS[] = {1.0f, 1.0f, 0.5f, -2.0f, 1.0f, 0.0f};
static const float BETAS[] = {0.0f, 1.0f, -1.5f, 0.0f, 0.25f, 2.0f};
enum { NVARIANTS = 6 };

/* A case with minimal or padded strides (pad: extra floats per row, 0..pad). */
static gemm_case make(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int variant, int pad) {
    gemm_case g = {ta, tb, m, n, k, 0, 0, 0, ALPHAS[variant], BETAS[variant]};
    g.lda = (ta ? m : k) + (pad ? rand_in(0, pad) : 0);
    g.ldb = (tb ? k : n) + (pad ? rand_in(0, pad) : 0);
    g.ldc = n + (pad ? rand_in(0, pad) : 0);
    if (g.lda < 1) g.lda = 1; /* k == 0 */
    if (g.ldb < 1) g.ldb = 1;
    return g;
}

int main(void) {
    /* The reference MLP (784-64-64-10, batch 32): forward, backward dX (B transposed),
     * backward dW (A transposed), and one-sample inference. */
    const int64_t mlp[][5] = {
        {0, 0, 32, 64, 784}, {0, 0, 32, 64, 64}, {0, 0, 32, 10, 64},
        {0, 1, 32, 64, 64},  {0, 1, 32, 64, 10}, {1, 0, 784, 64, 32},
        {1, 0, 64, 64, 32},  {1, 0, 64, 10, 32}, {0, 0, 1, 64, 784},
        {0, 0, 1, 64, 64},   {0, 0, 1, 10, 64},
    };
    for (size_t s = 0; s < sizeof mlp / sizeof mlp[0]; s++)
        for (int v = 0; v < NVARIANTS; v++)
            for (int pad = 0; pad <= 9; pad += 9) {
                gemm_case g = make(mlp[s][0], mlp[s][1], mlp[s][2], mlp[s][3], mlp[s][4], v, pad);
                run_case(&g);
            }
    int mlp_checks = checks;

    /* Edges of the micro-tiles (6x16, 8x32), of the GEMV paths and of the 8-wide packers. */
    const int64_t ms[] = {1, 2, 3, 5, 6, 7, 8, 9, 13, 16, 17, 25, 33};
    const int64_t ns[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 65};
    const int64_t ks[] = {0, 1, 7, 8, 9, 17};
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++)
                for (int t = 0; t < 4; t++) {
                    gemm_case g = make(t & 1, t >> 1, ms[a], ns[b], ks[c], (int)rand_in(0, NVARIANTS - 1),
                                       (int)rand_in(0, 1) * 5);
                    run_case(&g);
                }
    int edge_checks = checks - mlp_checks;

    /* Random shapes up to 300: crosses the k block (256), the packing thresholds and the
     * 2-thread threshold (4 MFLOP). */
    for (int r = 0; r < 240; r++) {
        gemm_case g = make(rand_in(0, 1), rand_in(0, 1), rand_in(1, 300), rand_in(1, 300),
                           rand_in(1, 300), (int)rand_in(0, NVARIANTS - 1), (int)rand_in(0, 1) * 7);
        run_case(&g);
    }
    /* Beyond the cache blocks: n > NC (1024), m > MC (144), k > 2 KC; long GEMV rows; a
     * 2-thread split by columns. */
    const int64_t big[][3] = {{150, 1100, 300}, {300, 70, 600}, {1, 1500, 700}, {700, 1, 530},
                              {2, 1030, 40},    {1030, 3, 40},  {8, 2000, 100}};
    for (size_t s = 0; s < sizeof big / sizeof big[0]; s++)
        for (int t = 0; t < 4; t++) {
            gemm_case g = make(t & 1, t >> 1, big[s][0], big[s][1], big[s][2], t % NVARIANTS, 3);
            run_case(&g);
        }

    /* kn__sgemm itself (the best set), once, on an MLP shape. */
    {
        float A[4 * 3], B[3 * 5], C[4 * 5];
        for (int i = 0; i < 12; i++) A[i] = (float)i;
        for (int i = 0; i < 15; i++) B[i] = (float)(i % 4) - 1.0f;
        kn__sgemm(false, false, 4, 5, 3, 1.0f, A, 3, B, 5, 0.0f, C, 5, 1);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++) {
                float want = 0;
                for (int p = 0; p < 3; p++) want += A[i * 3 + p] * B[p * 5 + j];
                if (C[i * 5 + j] != want) { /* small integers: exact */
                    fprintf(stderr, "FAIL kn__sgemm 4x5x3: C[%d][%d] = %g, want %g\n", i, j, C[i * 5 + j], want);
                    failures++;
                }
            }
        checks++;
    }
    printf("test_sgemm: %d checks (%d MLP, %d edge, %d random/big) on instruction sets 0..%d, "
           "%d failed\n",
           checks, mlp_checks, edge_checks, checks - mlp_checks - edge_checks - 1,
           (int)kn__sgemm_isa_best(), failures);
    return failures ? 1 : 0;
}
