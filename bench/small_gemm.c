/* small_gemm.c — which small-matrix GEMM is fastest for kiln's MLP products: kiln's
 * kn__sgemm, OpenBLAS cblas_sgemm, libxsmm JIT kernels, BLIS bli_sgemm and oneDNN dnnl_sgemm,
 * in the same run on the same random data, 1 and 2 threads; medians of repeated timings.
 * Shapes: the reference MLP (784-64-64-10, batch 32) and a deeper one (784-512x4-10,
 * batch 128), each product alone and as one training step's products in order.
 * Usage: small_gemm [quick]. OPENBLAS_CORETYPE=Haswell (or SkylakeX) in the environment
 * makes OpenBLAS use its best kernels instead of the ones it picks for this CPU.
 *
 * How each library is called (row-major C = op(A) op(B), alpha 1, beta 0):
 * - OpenBLAS and BLIS both export cblas_sgemm and sgemm_. BLIS is called only through its
 *   native bli_sgemm (strides, no BLAS layer; its BLAS prototypes are switched off below)
 *   and OpenBLAS is linked first, so cblas_sgemm is OpenBLAS's: main() checks that with
 *   dladdr and stops otherwise. Every result is checked against a double-precision product.
 * - libxsmm is column-major: it computes C^T = op(B)^T op(A)^T. Its kernels are dispatched
 *   (JIT) once per shape before timing, as a caller would cache them. libxsmm 1.17 JITs NN
 *   and NT but not TN (column-major), which the dX products need (A B^T row-major), so
 *   those transpose B into a scratch buffer first (libxsmm_otrans), inside the timing.
 *   libxsmm's kernels are single-threaded; its "2 threads" is this program splitting C's
 *   rows in two halves over OpenMP, one kernel per half (what kiln would have to do).
 * - oneDNN: dnnl_sgemm (row-major, like cblas); threads by omp_set_num_threads.
 * Timing: the libraries take turns sample by sample (see time_interleaved); on 2 threads
 * only those that share a thread pool (see run). */
#define _GNU_SOURCE /* dladdr */
#include "backend/cpu/sgemm.h"

#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLIS_DISABLE_BLAS /* no BLAS/CBLAS prototypes from BLIS: they clash with OpenBLAS's */
#define BLIS_DISABLE_CBLAS
#include <blis.h>
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>

char *openblas_get_corename(void); /* OpenBLAS extensions, not in every cblas.h */
void openblas_set_num_threads(int n);

enum { L_KILN, L_OPENBLAS, L_XSMM, L_BLIS, L_DNNL, NLIB };
static const char *lib_names[NLIB] = {"kiln", "openblas", "libxsmm", "blis", "onednn"};

typedef struct {
    const char *name;
    bool ta, tb;
    int m, n, k;
} shape;

/* One product with its own data, each library's output and libxsmm's kernels. */
typedef struct {
    shape s;
    int lda, ldb;
    float *A, *B, *C[NLIB], *Bt; /* Bt: libxsmm's transposed B (dX products) */
    double *ref;
    libxsmm_smmfunction xk, xk_half[2]; /* whole product; rows [0, m0) and [m0, m) */
    int m0;
} job;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *buffer(size_t n, bool fill) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = fill ? (float)rand() / (float)RAND_MAX - 0.5f : NAN;
    return p;
}

/* libxsmm kernel for column-major C (n x rows) = X (n x k) * Y, Y = op(A)^T (k x rows). */
static libxsmm_smmfunction xsmm_kernel(const job *j, int rows) {
    const shape *s = &j->s;
    libxsmm_blasint M = s->n, N = rows, K = s->k;
    libxsmm_blasint lda = s->tb ? s->n : j->ldb, ldb = j->lda, ldc = s->n;
    int flags = LIBXSMM_GEMM_FLAG_BETA_0 | (s->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    int prefetch = LIBXSMM_PREFETCH_NONE;
    float alpha = 1.0f, beta = 0.0f;
    libxsmm_smmfunction f = libxsmm_smmdispatch(M, N, K, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
    if (!f) {
        fprintf(stderr, "libxsmm: no kernel for %s (rows %d)\n", s->name, rows);
        exit(1);
    }
    return f;
}

static job make_job(const shape *s) {
    job j = {.s = *s, .lda = s->ta ? s->m : s->k, .ldb = s->tb ? s->k : s->n};
    j.A = buffer((size_t)s->m * s->k, true);
    j.B = buffer((size_t)s->k * s->n, true);
    for (int l = 0; l < NLIB; l++) j.C[l] = buffer((size_t)s->m * s->n, false);
    j.Bt = buffer((size_t)s->k * s->n, false);
    j.ref = malloc((size_t)s->m * s->n * sizeof(double));
    if (!j.ref) exit(1);
    for (int i = 0; i < s->m; i++)
        for (int c = 0; c < s->n; c++) {
            double acc = 0;
            for (int p = 0; p < s->k; p++)
                acc += (double)(s->ta ? j.A[(size_t)p * j.lda + i] : j.A[(size_t)i * j.lda + p]) *
                       (double)(s->tb ? j.B[(size_t)c * j.ldb + p] : j.B[(size_t)p * j.ldb + c]);
            j.ref[(size_t)i * s->n + c] = acc;
        }
    j.m0 = s->m / 2;
    j.xk = xsmm_kernel(&j, s->m);
    j.xk_half[0] = xsmm_kernel(&j, j.m0);
    j.xk_half[1] = xsmm_kernel(&j, s->m - j.m0);
    return j;
}

static void free_job(job *j) {
    free(j->A), free(j->B), free(j->Bt), free(j->ref);
    for (int l = 0; l < NLIB; l++) free(j->C[l]);
}

/* libxsmm: rows [r0, r0 + rows) of row-major C, i.e. columns of column-major C^T. */
static void xsmm_rows(const job *j, libxsmm_smmfunction f, int r0) {
    const shape *s = &j->s;
    const float *X = s->tb ? j->Bt : j->B;
    const float *Y = s->ta ? j->A + r0 : j->A + (size_t)r0 * j->lda;
    f(X, Y, j->C[L_XSMM] + (size_t)r0 * s->n);
}

static void gemm(int lib, job *j, int threads) {
    const shape *s = &j->s;
    float *C = j->C[lib];
    float one = 1.0f, zero = 0.0f;
    switch (lib) {
    case L_KILN:
        kn__sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, j->A, j->lda, j->B, j->ldb, 0.0f, C, s->n, threads);
        break;
    case L_OPENBLAS:
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                    s->m, s->n, s->k, 1.0f, j->A, j->lda, j->B, j->ldb, 0.0f, C, s->n);
        break;
    case L_XSMM:
        if (threads == 1) {
            /* stored B (n x k row-major) is column-major k x n: transpose it to n x k */
            if (s->tb) libxsmm_otrans(j->Bt, j->B, sizeof(float), s->k, s->n, j->ldb, s->n);
            xsmm_rows(j, j->xk, 0);
        } else {
#pragma omp parallel num_threads(2)
            {
                int t = omp_get_thread_num();
                if (s->tb) /* libxsmm_otrans_thread divides by zero on these sizes (1.17) */
#pragma omp single
                    libxsmm_otrans(j->Bt, j->B, sizeof(float), s->k, s->n, j->ldb, s->n);
                xsmm_rows(j, j->xk_half[t], t ? j->m0 : 0);
            }
        }
        break;
    case L_BLIS:
        bli_sgemm(s->ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, s->tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                  s->m, s->n, s->k, &one, j->A, j->lda, 1, j->B, j->ldb, 1, &zero, C, s->n, 1);
        break;
    case L_DNNL:
        if (dnnl_sgemm(s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->m, s->n, s->k, 1.0f, j->A, j->lda, j->B,
                       j->ldb, 0.0f, C, s->n) != dnnl_success) {
            fprintf(stderr, "dnnl_sgemm failed on %s\n", s->name);
            exit(1);
        }
        break;
    }
}

static void set_threads(int threads) {
    openblas_set_num_threads(threads);
    bli_thread_set_num_threads(threads);
    omp_set_num_threads(threads); /* oneDNN's OpenMP runtime */
}

/* Lets the other libraries' worker threads stop spinning: idle workers busy-wait for a while
 * after a call (kiln's pool ~1 ms, libgomp's ~3 ms measured here,
 * OpenBLAS's longer), and on 2 cores they would take one from the library timed next. */
static void settle(int threads) {
    if (threads > 1) nanosleep(&(struct timespec){0, 300000000}, NULL);
}

/* max |C - ref| / max |ref| of one library's last result (C starts as NaN: beta 0 must not read it). */
static double check(int lib, job *j, int threads) {
    size_t n = (size_t)j->s.m * j->s.n;
    for (size_t i = 0; i < n; i++) j->C[lib][i] = NAN;
    gemm(lib, j, threads);
    double err = 0, big = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)j->C[lib][i] - j->ref[i]);
        if (!(d <= err)) err = d; /* NaN propagates */
        if (fabs(j->ref[i]) > big) big = fabs(j->ref[i]);
    }
    return err / big;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int samples = 21;
static double min_sample_s = 2e-3;

/* Seconds per call of `iters` rounds of the `count` products in list (one "call" runs them all). */
static double sample(int lib, job *list, int count, int threads, int iters) {
    double t = now();
    for (int r = 0; r < iters; r++)
        for (int i = 0; i < count; i++) gemm(lib, &list[i], threads);
    return (now() - t) / iters;
}

/* Warms up (and JITs) lib on list; returns the rounds per sample that fill min_sample_s. */
static int calibrate(int lib, job *list, int count, int threads) {
    sample(lib, list, count, threads, 3);
    int iters = 1;
    for (;;) {
        double t = sample(lib, list, count, threads, iters) * iters;
        if (t >= min_sample_s || iters >= (1 << 20)) return iters;
        iters *= t * 4 < min_sample_s ? 4 : 2;
    }
}

/* Median seconds per call of each library in libs[0..nl), sampled in turn (rotating which
 * goes first), so that the VM's slow spells hit them alike. */
static void time_interleaved(const int *libs, int nl, job *list, int count, int threads, double *t) {
    int iters[NLIB];
    double ts[NLIB][64];
    for (int i = 0; i < nl; i++) iters[i] = calibrate(libs[i], list, count, threads);
    for (int s = 0; s < samples; s++)
        for (int r = 0; r < nl; r++) {
            int i = (s + r) % nl;
            ts[i][s] = sample(libs[i], list, count, threads, iters[i]);
        }
    for (int i = 0; i < nl; i++) {
        qsort(ts[i], (size_t)samples, sizeof ts[i][0], cmp_double);
        t[libs[i]] = ts[i][samples / 2];
    }
}

static double worst_err[NLIB];

/* One table row: the products of list (a single product or a whole step), every library.
 * On 2 threads the libraries are timed in groups that share a thread pool, one group after
 * another with a pause between: kiln (its own pool), then libxsmm here, BLIS and oneDNN
 * (libgomp's team), then OpenBLAS (its pthreads); interleaving across pools would pit one
 * pool's spinning workers against the other's. */
static void run(const char *label, const shape *list, int count, int threads) {
    job *jobs = malloc((size_t)count * sizeof *jobs);
    if (!jobs) exit(1);
    double flops = 0;
    for (int i = 0; i < count; i++) {
        jobs[i] = make_job(&list[i]);
        flops += 2.0 * list[i].m * list[i].n * list[i].k;
    }
    set_threads(threads);
    bool bad = false;
    for (int l = 0; l < NLIB; l++)
        for (int i = 0; i < count; i++) {
            double e = check(l, &jobs[i], threads);
            if (!(e <= worst_err[l])) worst_err[l] = e;
            if (!(e <= 1e-5)) {
                fprintf(stderr, "WRONG RESULT: %s on %s, %d threads: max rel. error %.3g\n", lib_names[l],
                        list[i].name, threads, e);
                bad = true;
            }
        }
    double t[NLIB];
    if (threads == 1) {
        const int all[] = {L_KILN, L_OPENBLAS, L_XSMM, L_BLIS, L_DNNL};
        time_interleaved(all, NLIB, jobs, count, threads, t);
    } else {
        const int kiln[] = {L_KILN}, gomp[] = {L_XSMM, L_BLIS, L_DNNL}, ob[] = {L_OPENBLAS};
        settle(threads);
        time_interleaved(kiln, 1, jobs, count, threads, t);
        settle(threads);
        time_interleaved(gomp, 3, jobs, count, threads, t);
        settle(threads);
        time_interleaved(ob, 1, jobs, count, threads, t);
    }
    int best = 0;
    for (int l = 1; l < NLIB; l++)
        if (t[l] < t[best]) best = l;
    printf("%-30s %2d", label, threads);
    for (int l = 0; l < NLIB; l++) printf(" %8.2f %6.1f", t[l] * 1e6, flops / t[l] * 1e-9);
    printf("  %s%s\n", lib_names[best], bad ? "  (WRONG RESULT, see stderr)" : "");
    fflush(stdout);
    for (int i = 0; i < count; i++) free_job(&jobs[i]);
    free(jobs);
}

static const char *dnnl_isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

static const char *library_of(void *fn) {
    Dl_info info;
    return dladdr(fn, &info) && info.dli_fname ? info.dli_fname : "?";
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    if (quick) samples = 7, min_sample_s = 1e-3;
    srand(1);
    libxsmm_init();

    const char *cblas_from = library_of((void *)cblas_sgemm);
    if (!strstr(cblas_from, "openblas")) {
        fprintf(stderr, "cblas_sgemm resolves to %s, not OpenBLAS: fix the link order\n", cblas_from);
        return 1;
    }
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *isa_names[] = {"portable", "AVX2+FMA", "AVX-512"};
    const dnnl_version_t *dv = dnnl_version();
    printf("kiln kn__sgemm: %s\n", isa_names[kn__sgemm_isa_best()]);
    printf("OpenBLAS: core %s (OPENBLAS_CORETYPE=%s), cblas_sgemm from %s\n", openblas_get_corename(),
           env ? env : "unset", cblas_from);
    printf("libxsmm %s: JIT target %s (bench splits rows over 2 OpenMP threads)\n", LIBXSMM_CONFIG_VERSION,
           libxsmm_get_target_arch());
    printf("BLIS %s: kernels %s, threading %s, from %s\n", bli_info_get_version_str(),
           bli_arch_string(bli_arch_query_id()),
           bli_info_get_enable_openmp() ? "OpenMP" : bli_info_get_enable_pthreads() ? "pthreads" : "none",
           library_of((void *)bli_sgemm));
    printf("oneDNN %d.%d.%d: ISA %s, CPU runtime %s\n", dv->major, dv->minor, dv->patch,
           dnnl_isa_name(dnnl_get_effective_cpu_isa()), dv->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    printf("median of %d samples; us per call and GFLOP/s; dX = A B^T, dW = A^T B\n", samples);
    printf("%-30s %2s", "product (m x n x k)", "th");
    for (int l = 0; l < NLIB; l++) printf(" %8s %6s", lib_names[l], "GF/s");
    printf("  fastest\n");

    /* Reference MLP 784-64-64-10, batch 32. */
    const shape fwd[] = {{"fwd 32x64x784", 0, 0, 32, 64, 784},
                         {"fwd 32x64x64", 0, 0, 32, 64, 64},
                         {"fwd 32x10x64", 0, 0, 32, 10, 64}};
    const shape dx[] = {{"dX  32x64x64", 0, 1, 32, 64, 64}, {"dX  32x64x10", 0, 1, 32, 64, 10}};
    const shape dw[] = {{"dW  784x64x32", 1, 0, 784, 64, 32},
                        {"dW  64x64x32", 1, 0, 64, 64, 32},
                        {"dW  64x10x32", 1, 0, 64, 10, 32}};
    const shape step[] = {fwd[0], fwd[1], fwd[2], dw[2], dx[1], dw[1], dx[0], dw[0]};
    /* Deeper MLP 784-512-512-512-512-10, batch 128. */
    const shape Fwd[] = {{"fwd 128x512x784", 0, 0, 128, 512, 784},
                         {"fwd 128x512x512", 0, 0, 128, 512, 512},
                         {"fwd 128x10x512", 0, 0, 128, 10, 512}};
    const shape Dw[] = {{"dW  784x512x128", 1, 0, 784, 512, 128},
                        {"dW  512x512x128", 1, 0, 512, 512, 128},
                        {"dW  512x10x128", 1, 0, 512, 10, 128}};
    const shape Dx[] = {{"dX  128x512x512", 0, 1, 128, 512, 512}, {"dX  128x512x10", 0, 1, 128, 512, 10}};
    /* forward layers 1-5, then backward layer 5 down to 1 (dW, and dX except layer 1) */
    const shape Step[] = {Fwd[0], Fwd[1], Fwd[1], Fwd[1], Fwd[2], Dw[2], Dx[1], Dw[1],
                          Dx[0],  Dw[1], Dx[0],  Dw[1], Dx[0], Dw[0]};

    for (int threads = 1; threads <= 2; threads++) {
        for (int i = 0; i < 3; i++) run(fwd[i].name, &fwd[i], 1, threads);
        for (int i = 0; i < 2; i++) run(dx[i].name, &dx[i], 1, threads);
        for (int i = 0; i < 3; i++) run(dw[i].name, &dw[i], 1, threads);
        run("784-64-64-10 step, 8 products", step, 8, threads);
        for (int i = 0; i < 3; i++) run(Fwd[i].name, &Fwd[i], 1, threads);
        for (int i = 0; i < 2; i++) run(Dx[i].name, &Dx[i], 1, threads);
        for (int i = 0; i < 3; i++) run(Dw[i].name, &Dw[i], 1, threads);
        run("784-512x4-10 step, 14 products", Step, 14, threads);
    }
    printf("max rel. error vs double (max |C - ref| / max |ref|, all products):");
    for (int l = 0; l < NLIB; l++) printf(" %s %.2g%s", lib_names[l], worst_err[l], l + 1 < NLIB ? "," : "\n");

    /* libxsmm's dispatch when not cached by the caller: a registry lookup per call. */
    libxsmm_blasint M = 64, N = 32, K = 784;
    float alpha = 1.0f, beta = 0.0f;
    int flags = LIBXSMM_GEMM_FLAG_BETA_0, pf = LIBXSMM_PREFETCH_NONE, hits = 0;
    double t = now();
    for (int i = 0; i < 100000; i++)
        hits += libxsmm_smmdispatch(M, N, K, &M, &K, &M, &alpha, &beta, &flags, &pf) != NULL;
    printf("libxsmm_smmdispatch of a cached kernel: %.0f ns per lookup (%d found)\n",
           (now() - t) / 100000 * 1e9, hits);
    return 0;
}
