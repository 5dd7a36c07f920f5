/* test_gemm_mixed.c — kn__gemm_mixed against a double-precision reference computed from the
 * widened inputs: every type combination of A, B, C in {f32, f16, bf16}, all four transpose
 * combinations, beta 0 (over a NaN-filled C) and 1, with and without an epilogue that
 * depends on the position (so wrong block coordinates, a missed or a repeated block show),
 * padded strides (C's padding must survive), edge and MLP shapes, every instruction set this
 * CPU runs, 1 and 3 threads (which must agree bit for bit). All-f32 calls must match
 * kn__sgemm_ep / kn__sgemm_isa bit for bit. A case with a bf16 operand also runs with the
 * bf16 dot-product path forced (KN_SGEMM_AVX512_BF16; SKIP without AVX512-BF16): with no f16
 * operand, against the reference from A and B rounded to bf16 (same tolerance: the
 * instruction's own rounding of a pair's sum stays within it), else it must fall back to
 * widening; and an f32 operand must really be rounded (check_rounding). The same again with
 * the AMX-BF16 path forced (KN_SGEMM_AMX_BF16; SKIP without AMX-BF16 or the OS's permission),
 * plus shapes aimed at its 16/32 tiles (amx_edges). Under valgrind (which does not know AMX
 * instructions) this test must not run with AMX present; ASan handles them. Exit 0: all pass. */
#include "backend/cpu/sgemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void) { /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}
static int64_t rand_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); }
static float rand_f(void) { return (float)((double)(rng() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static int failures, checks, dot_checks, amx_checks;
static bool bf16_dot; /* this CPU runs the bf16 dot-product path */
static bool amx;      /* and the AMX-BF16 path */
static const char *TYPE_NAME[] = {"f32", "f16", "bf16"};

static size_t tsize(kn_gemm_type t) { return t == KN_GEMM_F32 ? 4 : 2; }

/* x[i] = v rounded to type t. */
static void put(void *x, kn_gemm_type t, int64_t i, float v) {
    if (t == KN_GEMM_F32)
        ((float *)x)[i] = v;
    else if (t == KN_GEMM_F16)
        kn__f32_to_f16(&v, (uint16_t *)x + i, 1);
    else
        kn__f32_to_bf16(&v, (uint16_t *)x + i, 1);
}

/* x[i] widened. */
static float get(const void *x, kn_gemm_type t, int64_t i) {
    float v;
    if (t == KN_GEMM_F32)
        v = ((const float *)x)[i];
    else if (t == KN_GEMM_F16)
        kn__f16_to_f32((const uint16_t *)x + i, &v, 1);
    else
        kn__bf16_to_f32((const uint16_t *)x + i, &v, 1);
    return v;
}

/* A half value's bits as an integer that counts ulps across zero. */
/* v rounded to bf16 (nearest even) and widened back. */
static float to_bf16(float v) {
    uint16_t h;
    kn__f32_to_bf16(&v, &h, 1);
    kn__bf16_to_f32(&h, &v, 1);
    return v;
}

static int32_t half_order(uint16_t h) { return h & 0x8000u ? -(int32_t)(h & 0x7fffu) : (int32_t)h; }

/* The epilogue: c = 2c + (row % 13) / 2 - (col % 11) / 4, row and col in the whole C. A
 * block given the wrong coordinates, finished twice or never gets a wrong value. */
static void pos_epilogue(const void *args, float *c, int64_t ldc, int64_t r0, int64_t rows,
                         int64_t c0, int64_t cols) {
    (void)args;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            c[i * ldc + j] = 2.0f * c[i * ldc + j] + (float)((r0 + i) % 13) * 0.5f - (float)((c0 + j) % 11) * 0.25f;
}
static double pos_epilogue_ref(double v, int64_t i, int64_t j) { return 2.0 * v + (double)(i % 13) * 0.5 - (double)(j % 11) * 0.25; }

typedef struct {
    bool ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    kn_gemm_type at, bt, ct;
    float beta;
    bool ep;
} mixed_case;

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void report(const mixed_case *g, int isa, int threads, const char *what, int64_t i, int64_t j,
                   double got, double want) {
    if (failures < 20)
        fprintf(stderr,
                "FAIL isa=%d threads=%d ta=%d tb=%d m=%lld n=%lld k=%lld A=%s B=%s C=%s beta=%g ep=%d "
                "lda=%lld ldb=%lld ldc=%lld: %s at C[%lld][%lld]: %.9g, want %.9g\n",
                isa, threads, g->ta, g->tb, (long long)g->m, (long long)g->n, (long long)g->k,
                TYPE_NAME[g->at], TYPE_NAME[g->bt], TYPE_NAME[g->ct], g->beta, g->ep,
                (long long)g->lda, (long long)g->ldb, (long long)g->ldc, what, (long long)i,
                (long long)j, got, want);
}

/* The double reference of case g: ref (m, n) = op(A) op(B) + beta C0 (then the epilogue),
 * mag the sum of the terms' magnitudes, rnd the epilogue's f32 roundings. bf16: A and B
 * rounded to bf16 first (the bf16 dot-product path's operands). Aw, Bw: scratch (asz, bsz). */
static void reference(const mixed_case *g, const void *A, size_t asz, const void *B, size_t bsz,
                      const void *C0, bool bf16, double *Aw, double *Bw, double *ref, double *mag,
                      double *rnd) {
    const int64_t m = g->m, n = g->n, k = g->k;
    for (size_t i = 0; i < asz; i++) Aw[i] = bf16 ? to_bf16(get(A, g->at, (int64_t)i)) : get(A, g->at, (int64_t)i);
    for (size_t i = 0; i < bsz; i++) Bw[i] = bf16 ? to_bf16(get(B, g->bt, (int64_t)i)) : get(B, g->bt, (int64_t)i);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, a = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = Aw[g->ta ? p * g->lda + i : i * g->lda + p];
                double y = Bw[g->tb ? j * g->ldb + p : p * g->ldb + j];
                s += x * y;
                a += fabs(x * y);
            }
            if (g->beta != 0) {
                double c = get(C0, g->ct, i * g->ldc + j);
                s += c;
                a += fabs(c);
            }
            ref[i * n + j] = g->ep ? pos_epilogue_ref(s, i, j) : s;
            mag[i * n + j] = (g->ep ? 2 : 1) * a; /* the epilogue doubles the sum's error */
            /* and rounds 2s + row term, then that - col term: ulps of those magnitudes */
            rnd[i * n + j] = fabs(ref[i * n + j]) + (g->ep ? 2 * fabs(s) + 6.5 : 0);
        }
}

/* Runs one case on every instruction set and on 1 and 3 threads; with a bf16 operand also
 * with the bf16 dot-product path forced (KN_SGEMM_AVX512_BF16), where this CPU has it. */
static void run_case(const mixed_case *g) {
    const int64_t m = g->m, n = g->n, k = g->k;
    const int64_t arows = g->ta ? k : m, brows = g->tb ? n : k; /* stored rows */
    const size_t asz = (size_t)(arows * g->lda), bsz = (size_t)(brows * g->ldb), csz = (size_t)(m * g->ldc);
    void *A = xmalloc(asz * tsize(g->at)), *B = xmalloc(bsz * tsize(g->bt));
    void *C0 = xmalloc(csz * tsize(g->ct)), *C = xmalloc(csz * tsize(g->ct)), *C1 = xmalloc(csz * tsize(g->ct));
    double *ref = xmalloc(sizeof(double) * (size_t)(m * n)), *mag = xmalloc(sizeof(double) * (size_t)(m * n));
    double *rnd = xmalloc(sizeof(double) * (size_t)(m * n)); /* the epilogue's f32 roundings */
    double *Aw = xmalloc(sizeof(double) * asz), *Bw = xmalloc(sizeof(double) * bsz); /* widened */
    for (size_t i = 0; i < asz; i++) put(A, g->at, (int64_t)i, rand_f());
    for (size_t i = 0; i < bsz; i++) put(B, g->bt, (int64_t)i, rand_f());
    for (int64_t i = 0; i < m; i++) /* beta 0: C holds NaN, which must not be read */
        for (int64_t j = 0; j < g->ldc; j++)
            put(C0, g->ct, i * g->ldc + j, j >= n ? 12345.0f : g->beta == 0 ? NAN : rand_f());
    reference(g, A, asz, B, bsz, C0, false, Aw, Bw, ref, mag, rnd);
    const kn_sgemm_epilogue ep = {pos_epilogue, NULL};
    const bool all_f32 = g->at == KN_GEMM_F32 && g->bt == KN_GEMM_F32 && g->ct == KN_GEMM_F32;
    const bool has_bf16 = g->at == KN_GEMM_BF16 || g->bt == KN_GEMM_BF16;
    const bool dot = has_bf16 && g->at != KN_GEMM_F16 && g->bt != KN_GEMM_F16; /* else widened */
    bool ref_bf16 = false; /* ref is from bf16-rounded operands */
    for (int isa = 0; isa <= KN_SGEMM_AMX_BF16; isa++) {
        const bool forced_dot = isa == KN_SGEMM_AVX512_BF16, forced_amx = isa == KN_SGEMM_AMX_BF16;
        if (isa > (int)kn__sgemm_isa_best() && !(forced_dot && has_bf16 && bf16_dot) && !(forced_amx && has_bf16 && amx))
            continue;
        if ((forced_dot || forced_amx) && dot) { /* against bf16-rounded operands */
            if (!ref_bf16) reference(g, A, asz, B, bsz, C0, true, Aw, Bw, ref, mag, rnd);
            ref_bf16 = true;
            forced_dot ? dot_checks++ : amx_checks++;
        }
        for (int threads = 1; threads <= 3; threads += 2) {
            memcpy(C, C0, csz * tsize(g->ct));
            kn__gemm_mixed_isa((kn_sgemm_isa)isa, g->ta, g->tb, m, n, k, A, g->at, g->lda, B, g->bt,
                               g->ldb, g->beta, C, g->ct, g->ldc, threads, g->ep ? &ep : NULL);
            int bad = 0;
            for (int64_t i = 0; i < m && !bad; i++)
                for (int64_t j = 0; j < g->ldc && !bad; j++) {
                    const int64_t e = i * g->ldc + j;
                    if (j >= n) { /* padding: untouched */
                        if (memcmp((char *)C + e * tsize(g->ct), (char *)C0 + e * tsize(g->ct), tsize(g->ct)))
                            bad = 1, report(g, isa, threads, "padding written", i, j, get(C, g->ct, e), 12345);
                        continue;
                    }
                    const double want = ref[i * n + j], got = get(C, g->ct, e);
                    /* f32 sums: 1e-5 of the terms' magnitudes; the epilogue's f32 rounding */
                    const double tol = 1e-5 * mag[i * n + j] + ldexp(rnd[i * n + j], -22) + 1e-30;
                    bool ok = fabs(got - want) <= tol;
                    if (!ok && g->ct != KN_GEMM_F32) { /* then narrowed: 1 ulp of the half type */
                        const float wf = (float)want;
                        uint16_t w;
                        if (g->ct == KN_GEMM_F16)
                            kn__f32_to_f16(&wf, &w, 1);
                        else
                            kn__f32_to_bf16(&wf, &w, 1);
                        ok = abs(half_order(((uint16_t *)C)[e]) - half_order(w)) <= 1;
                    }
                    if (!ok) bad = 1, report(g, isa, threads, "wrong value", i, j, got, want);
                }
            failures += bad;
            checks++;
            if (threads == 1) {
                memcpy(C1, C, csz * tsize(g->ct));
            } else if (memcmp(C1, C, csz * tsize(g->ct))) {
                report(g, isa, threads, "1 and 3 threads differ", 0, 0, 0, 0);
                failures++;
            }
            if (all_f32 && !g->ep) { /* f32: sgemm.c's own path, bit for bit */
                memcpy(C1, C0, csz * sizeof(float));
                kn__sgemm_isa((kn_sgemm_isa)isa, g->ta, g->tb, m, n, k, 1.0f, A, g->lda, B, g->ldb,
                              g->beta, C1, g->ldc, threads);
                if (memcmp(C1, C, csz * sizeof(float))) {
                    report(g, isa, threads, "differs from kn__sgemm_isa", 0, 0, 0, 0);
                    failures++;
                }
                memcpy(C1, C, csz * sizeof(float)); /* for the 1/3-thread comparison */
            }
        }
    }
    if (all_f32 && g->beta == 0) { /* kn__gemm_mixed itself against kn__sgemm_ep */
        memcpy(C, C0, csz * sizeof(float)), memcpy(C1, C0, csz * sizeof(float));
        kn__gemm_mixed(g->ta, g->tb, m, n, k, A, g->at, g->lda, B, g->bt, g->ldb, 0.0f, C, g->ct,
                       g->ldc, 3, g->ep ? &ep : NULL);
        kn__sgemm_ep(g->ta, g->tb, m, n, k, A, g->lda, B, g->ldb, C1, g->ldc, 3, g->ep ? &ep : NULL);
        if (memcmp(C1, C, csz * sizeof(float))) {
            report(g, -1, 3, "differs from kn__sgemm_ep", 0, 0, 0, 0);
            failures++;
        }
        checks++;
    }
    free(A), free(B), free(C0), free(C), free(C1), free(ref), free(mag), free(rnd), free(Aw), free(Bw);
}

/* A case with minimal or padded strides (0..pad extra elements a row). */
static mixed_case make(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int types, bool beta1,
                       bool ep, int pad) {
    mixed_case g = {ta, tb, m, n, k, 0, 0, 0, (kn_gemm_type)(types % 3), (kn_gemm_type)(types / 3 % 3),
                    (kn_gemm_type)(types / 9), beta1 ? 1.0f : 0.0f, ep};
    g.lda = (ta ? m : k) + (pad ? rand_in(0, pad) : 0);
    g.ldb = (tb ? k : n) + (pad ? rand_in(0, pad) : 0);
    g.ldc = n + (pad ? rand_in(0, pad) : 0);
    if (g.lda < 1) g.lda = 1; /* k == 0 */
    if (g.ldb < 1) g.ldb = 1;
    return g;
}

static const int64_t SIZES[] = {1, 2, 5, 6, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257, 300, 785};
enum { NSIZES = sizeof SIZES / sizeof SIZES[0], NTYPES = 27 };

static int64_t rand_size(void) { return SIZES[rand_in(0, NSIZES - 1)]; }

/* The bf16 path really rounds an f32 operand to bf16 (nearest even): 1 + 2^-10 -> 1,
 * 1 + 2^-8 (a tie) -> 1, 1 + 3 * 2^-8 (a tie) -> 1 + 2^-6, against bf16 ones (k = 3: odd, so
 * padded), as A and as B, every transpose: exactly 3 + 2^-6, where widening gives
 * 3 + 2^-6 + 2^-10. */
static void check_rounding(void) {
    const float f[3] = {1 + 0x1p-10f, 1 + 0x1p-8f, 1 + 0x3p-8f};
    uint16_t one[3];
    const float ones[3] = {1, 1, 1};
    kn__f32_to_bf16(ones, one, 3);
    for (int v = 0; v < 8; v++) {
        const bool ta = v & 1, tb = v >> 1 & 1, f32_a = v >> 2 & 1;
        /* m = n = 1, k = 3: A (1, 3) or (3, 1), B (3, 1) or (1, 3) */
        const int64_t lda = ta ? 1 : 3, ldb = tb ? 3 : 1;
        float c[2] = {NAN, 7};
        for (int isa = KN_SGEMM_AVX512; isa <= KN_SGEMM_AMX_BF16; isa++) {
            if (isa == KN_SGEMM_AMX_BF16 && !amx) continue;
            if (f32_a)
                kn__gemm_mixed_isa((kn_sgemm_isa)isa, ta, tb, 1, 1, 3, f, KN_GEMM_F32, lda, one, KN_GEMM_BF16,
                                   ldb, 0.0f, c, KN_GEMM_F32, 1, 1, NULL);
            else
                kn__gemm_mixed_isa((kn_sgemm_isa)isa, ta, tb, 1, 1, 3, one, KN_GEMM_BF16, lda, f, KN_GEMM_F32,
                                   ldb, 0.0f, c, KN_GEMM_F32, 1, 1, NULL);
            const float want = isa != KN_SGEMM_AVX512 ? 3 + 0x1p-6f : 3 + 0x1p-6f + 0x1p-10f;
            checks++;
            if (c[0] != want || c[1] != 7) {
                fprintf(stderr, "FAIL rounding isa=%d ta=%d tb=%d f32 %s: %.9g, want %.9g (c[1] %g)\n", isa, ta,
                        tb, f32_a ? "A" : "B", c[0], want, c[1]);
                failures++;
            }
        }
    }
}

/* Shapes aimed at the AMX path's tiles: m and n not multiples of 16 or 32, one lone 16-row
 * or 16-column group, MC = 144 row blocks, n > NC = 512; k = 1, 31, 33 (a partial 32-k step),
 * 224/225 (its k blocks round to 32), 784 (the MLP's). A bf16 operand each, every transpose,
 * beta and epilogue; they run every path (the others are checked too). */
static void amx_edges(void) {
    static const int64_t MS[] = {1, 16, 17, 33, 48, 177}, NS[] = {15, 32, 48, 530}, KS[] = {1, 31, 33, 225, 784};
    /* A bf16 B f32 C bf16; A f32 B bf16 C f32; A, B bf16 C f32; A bf16 B f16 (widening) */
    static const int TYPES[] = {KN_GEMM_BF16 + 3 * KN_GEMM_F32 + 9 * KN_GEMM_BF16,
                                KN_GEMM_F32 + 3 * KN_GEMM_BF16 + 9 * KN_GEMM_F32,
                                KN_GEMM_BF16 + 3 * KN_GEMM_BF16 + 9 * KN_GEMM_F32,
                                KN_GEMM_BF16 + 3 * KN_GEMM_F16 + 9 * KN_GEMM_BF16};
    int v = 0;
    for (size_t a = 0; a < sizeof MS / sizeof *MS; a++)
        for (size_t b = 0; b < sizeof NS / sizeof *NS; b++)
            for (size_t c = 0; c < sizeof KS / sizeof *KS; c++, v++) {
                if (MS[a] * NS[b] * KS[c] > 1500000) continue;
                mixed_case g = make(v & 1, v >> 1 & 1, MS[a], NS[b], KS[c], TYPES[v % 4], v >> 2 & 1, v % 3 == 0,
                                    (int)rand_in(0, 1) * 3);
                run_case(&g);
            }
}

int main(void) {
    amx = kn__gemm_amx_supported();
    if (!amx) printf("test_gemm_mixed: SKIP the AMX-BF16 path (no AMX-BF16 or no OS permission)\n");
    bf16_dot = kn__gemm_bf16_dot_supported();
    if (bf16_dot)
        check_rounding();
    else
        printf("test_gemm_mixed: SKIP the bf16 dot-product path (no AVX512-BF16 on this CPU)\n");
    /* Every type combination x transposes x beta x epilogue, on edge shapes drawn from
     * SIZES (kept under 1.5 M multiply-adds so the double reference stays quick). */
    for (int round = 0; round < 2; round++)
        for (int types = 0; types < NTYPES; types++)
            for (int v = 0; v < 16; v++) {
                int64_t m, n, k;
                do m = rand_size(), n = rand_size(), k = rand_size();
                while (m * n * k > 1500000);
                mixed_case g = make(v & 1, v >> 1 & 1, m, n, k, types, v >> 2 & 1, v >> 3 & 1,
                                    (int)rand_in(0, 1) * 5);
                run_case(&g);
            }
    int edge_checks = checks;

    /* Uniformly random shapes up to 300 (crossing the k block, MC = 144, the thread
     * threshold), random types and flags; and k == 0. */
    for (int r = 0; r < 120; r++) {
        mixed_case g = make(rand_in(0, 1), rand_in(0, 1), rand_in(1, 300), rand_in(1, 300), rand_in(1, 300),
                            (int)rand_in(0, NTYPES - 1), rand_in(0, 1), rand_in(0, 1), (int)rand_in(0, 1) * 7);
        run_case(&g);
    }
    for (int types = 0; types < NTYPES; types += 4) {
        mixed_case g = make(types & 1, types & 2, 7, 9, 0, types, types & 4, true, 3);
        run_case(&g);
    }
    int random_checks = checks - edge_checks;

    /* The MLP's training products, every type combination: forward 256x784 . 784x64, x^T dy
     * (A transposed) 784x256 . 256x64, dy W^T (B transposed); and n > NC. */
    for (int types = 0; types < NTYPES; types++) {
        mixed_case f = make(false, false, 256, 64, 784, types, types & 1, types & 2, 0);
        mixed_case w = make(true, false, 784, 64, 256, types, types & 2, types & 1, 0);
        mixed_case d = make(false, true, 32, 784, 64, types, types & 1, !(types & 1), 2);
        run_case(&f), run_case(&w), run_case(&d);
    }
    for (int types = 1; types < NTYPES; types += 5) {
        mixed_case g = make(types & 1, types & 2, 20, 1100, 40, types, true, true, 3);
        run_case(&g);
    }
    amx_edges();
    printf("test_gemm_mixed: %d checks (%d edge, %d random, %d MLP/big) on instruction sets 0..%d, "
           "%d cases also on the bf16 dot-product path%s, %d on the AMX-BF16 path%s, %d failed\n",
           checks, edge_checks, random_checks, checks - edge_checks - random_checks,
           (int)kn__sgemm_isa_best(), dot_checks, bf16_dot ? "" : " (SKIP: not on this CPU)", amx_checks,
           amx ? "" : " (SKIP: not on this CPU)", failures);
    return failures ? 1 : 0;
}
