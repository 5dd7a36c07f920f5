/* test_cublaslt_emu.c — unit test of the fake cuBLASLt (cublaslt_emu.c) against naive
 * references, standalone: it links cublaslt_emu.c with its own tiny definitions of the
 * three emu_api.h functions (queued work runs at once; every pointer is device memory
 * unless a test narrows it; faults are counted), so it needs neither the runtime emulator
 * nor a GPU.
 *
 *   gcc -std=c11 -O1 -g -Wall -Wextra -I/usr/local/cuda/include -Itests/cuda_emu \
 *       tests/cuda_emu/test_cublaslt_emu.c tests/cuda_emu/cublaslt_emu.c -lm -o /tmp/t && /tmp/t
 *
 * Covered: matmul.c's row-major trick (C = op(a) op(b) as C^T = op(b)^T op(a)^T, b first)
 * for all four transpose pairs, non-square shapes, padded leading dimensions, the f32 /
 * bf16 / f16 type rows, each emulated epilogue, BGRADA / BGRADB (and the bias gradient
 * kiln's one caller expects), beta 1 accumulation, C == D in place, beta 0 not reading C,
 * round-to-nearest-even half outputs over every half input, and the refusals. */
#include <cublasLt.h>

#include "emu_api.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

#define CHECK(cond, ...)                                                                                      \
    do {                                                                                                      \
        checks++;                                                                                             \
        if (!(cond)) {                                                                                        \
            failures++;                                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                              \
            fprintf(stderr, __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                              \
        }                                                                                                     \
    } while (0)

/* ------------------------------------------------------------------------------------ */
/* The emulator's API as test doubles: work runs at once, calls are counted, failures on demand */
/* ------------------------------------------------------------------------------------ */

static int enqueue_fails, enqueued, faults;
static const char *range_lo; /* when set, the only "device memory" is [range_lo, +range_len) */
static size_t range_len;

cudaError_t kn_emu_enqueue_host(cudaStream_t s, const char *name, void (*fn)(void *args), const void *args,
                                size_t bytes) {
    (void)s, (void)name;
    if (!fn) return cudaErrorInvalidValue;
    if (enqueue_fails) return cudaErrorInvalidResourceHandle;
    void *copy = malloc(bytes);
    memcpy(copy, args, bytes);
    fn(copy);
    free(copy);
    enqueued++;
    return cudaSuccess;
}

int kn_emu_device_range(const void *p, size_t bytes) {
    if (!range_lo) return 1;
    const char *c = p;
    return c >= range_lo && bytes <= range_len && (size_t)(c - range_lo) <= range_len - bytes;
}

void kn_emu_fault(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cuda-emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    faults++;
}

/* ------------------------------------------------------------------------------------ */
/* Element types, written independently of the emulator's                                */
/* ------------------------------------------------------------------------------------ */

static size_t tsize(int t) { return t == CUDA_R_32F ? 4 : 2; }

static float dec16(uint16_t h) { /* IEEE binary16 by its definition */
    int e = (h >> 10) & 31, f = h & 1023;
    double v = e == 31 ? (f ? NAN : INFINITY) : e == 0 ? ldexp(f, -24) : ldexp(1024 + f, e - 25);
    return (float)((h & 0x8000) ? -v : v);
}

static float decbf(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float get(int t, const void *buf, size_t i) {
    if (t == CUDA_R_32F) return ((const float *)buf)[i];
    uint16_t h = ((const uint16_t *)buf)[i];
    return t == CUDA_R_16F ? dec16(h) : decbf(h);
}

/* Only for values the type holds exactly (the inputs below: multiples of 1/8 up to 4). */
static void put_exact(int t, void *buf, size_t i, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    if (t == CUDA_R_32F) ((float *)buf)[i] = v;
    else if (t == CUDA_R_16BF) ((uint16_t *)buf)[i] = (uint16_t)(u >> 16);
    else if (v == 0.0f) ((uint16_t *)buf)[i] = (uint16_t)((u >> 16) & 0x8000);
    else ((uint16_t *)buf)[i] = (uint16_t)(((u >> 16) & 0x8000) | ((((u >> 23) & 255) - 112) << 10) | ((u >> 13) & 1023));
}

/* Whether h is x rounded to nearest, ties to even, in the 16-bit type t: no neighbour of h
 * is nearer, a tie has an even h, and the overflow threshold is max + ulp(max) / 2. */
static bool is_rne(int t, float x, uint16_t h) {
    float (*dec)(uint16_t) = t == CUDA_R_16F ? dec16 : decbf;
    uint16_t inf = t == CUDA_R_16F ? 0x7c00 : 0x7f80, mag = h & 0x7fff, sign = h & 0x8000;
    float v = dec(h);
    if (isnan(x)) return isnan(v);
    if (isnan(v) || (x != 0.0f && ((signbit(x) != 0) != (sign != 0)))) return false;
    double ax = fabs((double)x), max = dec((uint16_t)(inf - 1)), ulp = max - dec((uint16_t)(inf - 2));
    if (mag == inf) return ax >= max + ulp / 2;
    double av = fabs((double)v), d = fabs(ax - av);
    double up = mag + 1 == inf ? max + ulp : fabs((double)dec((uint16_t)(mag + 1)));
    if (fabs(ax - up) < d || (fabs(ax - up) == d && (mag & 1))) return false;
    if (mag > 0) {
        double down = fabs((double)dec((uint16_t)(mag - 1)));
        if (fabs(ax - down) < d || (fabs(ax - down) == d && (mag & 1))) return false;
    }
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* Buffers                                                                                */
/* ------------------------------------------------------------------------------------ */

static unsigned rng = 12345u;

static unsigned next_rand(void) {
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) & 0xffffff;
}

/* A multiple of 1/8 in [-2, 2]: products and sums of up to 16 stay exact in float. */
static float small_value(void) { return (float)((int)(next_rand() % 33) - 16) / 8.0f; }

static void *dev_alloc(size_t bytes) {
    void *p = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    memset(p, 0xff, (bytes + 255) / 256 * 256 + 256); /* NaN in every type */
    return p;
}

static void fill(int t, void *buf, size_t count) {
    for (size_t i = 0; i < count; i++) put_exact(t, buf, i, small_value());
}

static uint32_t align_of(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && (a & (al - 1))) al >>= 1;
    return al;
}

static cublasLtHandle_t lt;
static const char *epi_name(uint32_t e) {
    switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT: return "DEFAULT";
    case CUBLASLT_EPILOGUE_RELU: return "RELU";
    case CUBLASLT_EPILOGUE_BIAS: return "BIAS";
    case CUBLASLT_EPILOGUE_RELU_BIAS: return "RELU_BIAS";
    case CUBLASLT_EPILOGUE_GELU: return "GELU";
    case CUBLASLT_EPILOGUE_GELU_BIAS: return "GELU_BIAS";
    case CUBLASLT_EPILOGUE_BGRADA: return "BGRADA";
    case CUBLASLT_EPILOGUE_BGRADB: return "BGRADB";
    default: return "?";
    }
}

/* ------------------------------------------------------------------------------------ */
/* One column-major call, as a cuBLASLt user makes it                                     */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    int32_t compute, scale;
    int32_t opa, opb;
    int abt, dt;
    uint64_t a_rows, a_cols, b_rows, b_cols, d_rows, d_cols;
    int64_t lda, ldb, ldc, ldd;
    const void *A, *B, *C;
    void *D;
    uint32_t epi;
    const void *bias;
    int32_t bias_type; /* -1: not set */
    float alpha, beta;
    bool c_layout_differs; /* C's layout: a separate descriptor with ldc */
    uint32_t promise_a;    /* 0: the pointers' own alignment, as matmul.c passes it */
} call_t;

typedef struct {
    cublasStatus_t heur, mm;
    int found;
} result_t;

static result_t run_call(const call_t *c) {
    result_t r = {CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_NOT_SUPPORTED, 0};
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc, ld;
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulDescCreate(&desc, (cublasComputeType_t)c->compute, (cudaDataType_t)c->scale);
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &c->opa, sizeof c->opa);
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &c->opb, sizeof c->opb);
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &c->epi, sizeof c->epi);
    if (c->bias) cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c->bias, sizeof c->bias);
    if (c->bias_type != -1)
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &c->bias_type, sizeof c->bias_type);
    cublasLtMatrixLayoutCreate(&la, (cudaDataType)c->abt, c->a_rows, c->a_cols, c->lda);
    cublasLtMatrixLayoutCreate(&lb, (cudaDataType)c->abt, c->b_rows, c->b_cols, c->ldb);
    cublasLtMatrixLayoutCreate(&ld, (cudaDataType)c->dt, c->d_rows, c->d_cols, c->ldd);
    lc = ld;
    if (c->c_layout_differs) cublasLtMatrixLayoutCreate(&lc, (cudaDataType)c->dt, c->d_rows, c->d_cols, c->ldc);
    cublasLtMatmulPreferenceCreate(&pref);
    uint64_t ws = 1 << 20;
    uint32_t al[4] = {c->promise_a ? c->promise_a : align_of(c->A), align_of(c->B), align_of(c->C), align_of(c->D)};
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    for (int i = 0; i < 4; i++)
        cublasLtMatmulPreferenceSetAttribute(
            pref, (cublasLtMatmulPreferenceAttributes_t)(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + i), &al[i], 4);
    cublasLtMatmulHeuristicResult_t heur;
    r.heur = cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, ld, pref, 1, &heur, &r.found);
    if (r.heur == CUBLAS_STATUS_SUCCESS && r.found)
        r.mm = cublasLtMatmul(lt, desc, &c->alpha, c->A, la, c->B, lb, &c->beta, c->C, lc, c->D, ld, &heur.algo, NULL,
                              0, NULL);
    cublasLtMatmulPreferenceDestroy(pref);
    if (c->c_layout_differs) cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatrixLayoutDestroy(ld);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatmulDescDestroy(desc);
    return r;
}

static call_t base_call(int abt, int dt) {
    call_t c;
    memset(&c, 0, sizeof c);
    c.compute = CUBLAS_COMPUTE_32F, c.scale = CUDA_R_32F, c.opa = CUBLAS_OP_N, c.opb = CUBLAS_OP_N;
    c.abt = abt, c.dt = dt, c.epi = CUBLASLT_EPILOGUE_DEFAULT, c.bias_type = -1, c.alpha = 1.0f;
    return c;
}

/* ------------------------------------------------------------------------------------ */
/* References                                                                             */
/* ------------------------------------------------------------------------------------ */

static double gelu_ref(double x) { return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x))); }

static double act_ref(uint32_t epi, double x) {
    if (epi == CUBLASLT_EPILOGUE_RELU || epi == CUBLASLT_EPILOGUE_RELU_BIAS) return x > 0 ? x : 0;
    if (epi == CUBLASLT_EPILOGUE_GELU || epi == CUBLASLT_EPILOGUE_GELU_BIAS) return gelu_ref(x);
    return x;
}

static bool has_bias(uint32_t epi) {
    return epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_RELU_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS;
}

static bool is_gelu(uint32_t epi) { return epi == CUBLASLT_EPILOGUE_GELU || epi == CUBLASLT_EPILOGUE_GELU_BIAS; }

/* got (an element of type t) against the exact pre-rounding value: exact for f32, the
 * nearest-even rounding for halves; GELU (tanhf) within a float tolerance. */
static bool close_to(int t, const void *buf, size_t i, double want, bool approx) {
    float got = get(t, buf, i);
    if (approx) {
        double tol = 2e-6 * (1 + fabs(want)) + (t == CUDA_R_32F ? 0 : fabs(want) * (t == CUDA_R_16F ? 1.0 / 1024 : 1.0 / 128));
        return fabs(got - want) <= tol;
    }
    if (t == CUDA_R_32F) return got == (float)want;
    return is_rne(t, (float)want, ((const uint16_t *)buf)[i]);
}

/* ------------------------------------------------------------------------------------ */
/* matmul.c's row-major trick                                                             */
/* ------------------------------------------------------------------------------------ */

/* c (m x n, row-major, row stride n) = epi(op(a) op(b) [+ bias per column] ) [+ c], called
 * exactly as kn__cuda_gemm_bgrad builds it: cuBLASLt's A is kiln's b, its B kiln's a, D is
 * (n x m) ld n, C == D. */
static result_t kiln_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *a, int abt, int64_t lda,
                          const void *b, int64_t ldb, void *c, int ct, const void *bias, int32_t bias_type, uint32_t epi,
                          float beta) {
    call_t x = base_call(abt, ct);
    x.opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, x.opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    x.a_rows = (uint64_t)(tb ? k : n), x.a_cols = (uint64_t)(tb ? n : k), x.lda = ldb, x.A = b;
    x.b_rows = (uint64_t)(ta ? m : k), x.b_cols = (uint64_t)(ta ? k : m), x.ldb = lda, x.B = a;
    x.d_rows = (uint64_t)n, x.d_cols = (uint64_t)m, x.ldd = n, x.C = c, x.D = c;
    x.epi = epi, x.bias = bias, x.bias_type = bias_type, x.beta = beta;
    return run_call(&x);
}

typedef struct {
    int abt, dt;
} combo_t;

static const combo_t combos[] = {{CUDA_R_32F, CUDA_R_32F},
                                 {CUDA_R_16BF, CUDA_R_16BF},
                                 {CUDA_R_16BF, CUDA_R_32F},
                                 {CUDA_R_16F, CUDA_R_16F},
                                 {CUDA_R_16F, CUDA_R_32F}};

static double row_major_ref(bool ta, bool tb, int64_t k, const void *a, int abt, int64_t lda, const void *b,
                            int64_t ldb, int64_t i, int64_t j) {
    double s = 0;
    for (int64_t p = 0; p < k; p++) {
        double av = get(abt, a, (size_t)(ta ? p * lda + i : i * lda + p));
        double bv = get(abt, b, (size_t)(tb ? j * ldb + p : p * ldb + j));
        s += av * bv;
    }
    return s;
}

static void one_kiln_case(combo_t cb, bool ta, bool tb, int64_t m, int64_t n, int64_t k, uint32_t epi, float beta) {
    int64_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 3;
    size_t asz = (size_t)((ta ? k : m) * lda), bsz = (size_t)((tb ? n : k) * ldb);
    void *a = dev_alloc(asz * tsize(cb.abt)), *b = dev_alloc(bsz * tsize(cb.abt));
    void *c = dev_alloc((size_t)(m * n) * tsize(cb.dt)), *bias = dev_alloc((size_t)n * tsize(cb.dt));
    void *c0 = malloc((size_t)(m * n) * tsize(cb.dt));
    fill(cb.abt, a, asz), fill(cb.abt, b, bsz), fill(cb.dt, bias, (size_t)n);
    if (beta != 0.0f) fill(cb.dt, c, (size_t)(m * n)); /* else left NaN: must not be read */
    memcpy(c0, c, (size_t)(m * n) * tsize(cb.dt));
    result_t r = kiln_gemm(ta, tb, m, n, k, a, cb.abt, lda, b, ldb, c, cb.dt, has_bias(epi) ? bias : NULL, -1, epi, beta);
    CHECK(r.heur == CUBLAS_STATUS_SUCCESS && r.found == 1 && r.mm == CUBLAS_STATUS_SUCCESS,
          "kiln gemm %d->%d ta %d tb %d %s: heur %d found %d mm %d", cb.abt, cb.dt, ta, tb, epi_name(epi), r.heur,
          r.found, r.mm);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = row_major_ref(ta, tb, k, a, cb.abt, lda, b, ldb, i, j);
            if (beta != 0.0f) v += beta * get(cb.dt, c0, (size_t)(i * n + j));
            if (has_bias(epi)) v += get(cb.dt, bias, (size_t)j);
            v = act_ref(epi, v);
            if (!close_to(cb.dt, c, (size_t)(i * n + j), v, is_gelu(epi)) && bad++ < 3)
                CHECK(0, "kiln gemm %d->%d ta %d tb %d %lldx%lldx%lld %s beta %g: c[%lld][%lld] = %g, want %g", cb.abt,
                      cb.dt, ta, tb, (long long)m, (long long)n, (long long)k, epi_name(epi), beta, (long long)i,
                      (long long)j, get(cb.dt, c, (size_t)(i * n + j)), v);
        }
    checks++;
    free(a), free(b), free(c), free(bias), free(c0);
}

static void test_kiln_trick(void) {
    const int64_t shapes[][3] = {{3, 5, 7}, {1, 4, 2}, {6, 1, 3}, {4, 4, 16}};
    const uint32_t epis[] = {CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_RELU, CUBLASLT_EPILOGUE_BIAS,
                             CUBLASLT_EPILOGUE_RELU_BIAS, CUBLASLT_EPILOGUE_GELU, CUBLASLT_EPILOGUE_GELU_BIAS};
    for (size_t ci = 0; ci < sizeof combos / sizeof combos[0]; ci++)
        for (int t = 0; t < 4; t++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                for (size_t e = 0; e < sizeof epis / sizeof epis[0]; e++)
                    for (int acc = 0; acc < 2; acc++)
                        one_kiln_case(combos[ci], t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], epis[e],
                                      acc ? 1.0f : 0.0f);
}

/* ------------------------------------------------------------------------------------ */
/* Column-major calls: padded D, out-of-place C, bias gradients                          */
/* ------------------------------------------------------------------------------------ */

static double col_op(int t, const void *X, int64_t ld, bool trans, int64_t r, int64_t c) {
    return get(t, X, (size_t)(trans ? c + r * ld : r + c * ld));
}

/* D (m x n, ldd m + 3, padding must stay untouched), C separate (NaN when beta 0), and
 * for BGRADA / BGRADB the bias gradient against sums of op(A)'s rows / op(B)'s columns. */
static void one_col_case(combo_t cb, bool ta, bool tb, int64_t m, int64_t n, int64_t k, uint32_t epi, float beta) {
    call_t x = base_call(cb.abt, cb.dt);
    int64_t lda = (ta ? k : m) + 1, ldb = (tb ? n : k) + 2, ldc = m + 1, ldd = m + 3;
    x.opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, x.opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    x.a_rows = (uint64_t)(ta ? k : m), x.a_cols = (uint64_t)(ta ? m : k), x.lda = lda;
    x.b_rows = (uint64_t)(tb ? n : k), x.b_cols = (uint64_t)(tb ? k : n), x.ldb = ldb;
    x.d_rows = (uint64_t)m, x.d_cols = (uint64_t)n, x.ldc = ldc, x.ldd = ldd, x.c_layout_differs = true;
    size_t asz = (size_t)(x.a_cols * (uint64_t)lda), bsz = (size_t)(x.b_cols * (uint64_t)ldb);
    void *A = dev_alloc(asz * tsize(cb.abt)), *B = dev_alloc(bsz * tsize(cb.abt));
    void *C = dev_alloc((size_t)(n * ldc) * tsize(cb.dt)), *D = dev_alloc((size_t)(n * ldd) * tsize(cb.dt));
    int64_t glen = epi == CUBLASLT_EPILOGUE_BGRADB ? n : m;
    void *G = dev_alloc((size_t)glen * tsize(cb.dt) + 16);
    fill(cb.abt, A, asz), fill(cb.abt, B, bsz);
    if (beta != 0.0f) fill(cb.dt, C, (size_t)(n * ldc));
    x.A = A, x.B = B, x.C = C, x.D = D, x.beta = beta, x.epi = epi;
    if (epi == CUBLASLT_EPILOGUE_BGRADA || epi == CUBLASLT_EPILOGUE_BGRADB) x.bias = G;
    result_t r = run_call(&x);
    CHECK(r.heur == CUBLAS_STATUS_SUCCESS && r.found == 1 && r.mm == CUBLAS_STATUS_SUCCESS,
          "col gemm %d->%d ta %d tb %d %s: heur %d found %d mm %d", cb.abt, cb.dt, ta, tb, epi_name(epi), r.heur,
          r.found, r.mm);
    int bad = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < ldd; i++) {
            size_t at = (size_t)(i + j * ldd);
            if (i >= m) { /* padding: write-only output, never touched */
                if (!isnan(get(cb.dt, D, at)) && bad++ < 3) CHECK(0, "D padding (%lld, %lld) written", (long long)i, (long long)j);
                continue;
            }
            double v = 0;
            for (int64_t p = 0; p < k; p++) v += col_op(cb.abt, A, lda, ta, i, p) * col_op(cb.abt, B, ldb, tb, p, j);
            if (beta != 0.0f) v += beta * get(cb.dt, C, (size_t)(i + j * ldc));
            if (!close_to(cb.dt, D, at, v, false) && bad++ < 3)
                CHECK(0, "col gemm %d->%d ta %d tb %d %s: D(%lld,%lld) = %g, want %g", cb.abt, cb.dt, ta, tb,
                      epi_name(epi), (long long)i, (long long)j, get(cb.dt, D, at), v);
        }
    if (x.bias) {
        for (int64_t i = 0; i < glen; i++) {
            double g = 0;
            for (int64_t p = 0; p < k; p++)
                g += epi == CUBLASLT_EPILOGUE_BGRADA ? col_op(cb.abt, A, lda, ta, i, p) : col_op(cb.abt, B, ldb, tb, p, i);
            CHECK(close_to(cb.dt, G, (size_t)i, g, false), "%s ta %d tb %d %d->%d: g[%lld] = %g, want %g", epi_name(epi),
                  ta, tb, cb.abt, cb.dt, (long long)i, get(cb.dt, G, (size_t)i), g);
        }
        CHECK(isnan(get(cb.dt, G, (size_t)glen)), "%s wrote past its %lld elements", epi_name(epi), (long long)glen);
    }
    free(A), free(B), free(C), free(D), free(G);
}

static void test_column_major(void) {
    const uint32_t epis[] = {CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_BGRADA, CUBLASLT_EPILOGUE_BGRADB};
    for (size_t ci = 0; ci < sizeof combos / sizeof combos[0]; ci++)
        for (int t = 0; t < 4; t++)
            for (size_t e = 0; e < 3; e++)
                for (int acc = 0; acc < 2; acc++) {
                    one_col_case(combos[ci], t & 1, t >> 1, 5, 3, 4, epis[e], acc ? 1.0f : 0.0f);
                    one_col_case(combos[ci], t & 1, t >> 1, 2, 7, 9, epis[e], acc ? 1.0f : 0.0f);
                }
}

/* kiln's one bias-gradient caller (ops.c k_matmul): dW = a^T b with ta, !tb, f32 out, and
 * BGRADA on cuBLASLt's A = kiln's b, wanting the column sums of b (its k rows summed into n
 * floats). With tb the documented BGRADA sums op(b)'s columns instead: b's stored rows. */
static void test_kiln_bgrada(void) {
    for (int tb = 0; tb < 2; tb++) {
        int64_t m = 3, n = 5, k = 6, lda = m + 1, ldb = (tb ? k : n) + 2;
        void *a = dev_alloc((size_t)(k * lda) * 4), *b = dev_alloc((size_t)((tb ? n : k) * ldb) * 4);
        void *c = dev_alloc((size_t)(m * n) * 4), *g = dev_alloc((size_t)n * 4 + 4);
        fill(CUDA_R_32F, a, (size_t)(k * lda)), fill(CUDA_R_32F, b, (size_t)((tb ? n : k) * ldb));
        result_t r = kiln_gemm(true, tb, m, n, k, a, CUDA_R_32F, lda, b, ldb, c, CUDA_R_32F, g, -1,
                               CUBLASLT_EPILOGUE_BGRADA, 0.0f);
        CHECK(r.heur == 0 && r.found == 1 && r.mm == 0, "kiln BGRADA tb %d: %d %d %d", tb, r.heur, r.found, r.mm);
        for (int64_t j = 0; j < n; j++) {
            float s = 0;
            for (int64_t p = 0; p < k; p++) s += ((float *)b)[tb ? j * ldb + p : p * ldb + j];
            CHECK(((float *)g)[j] == s, "kiln BGRADA tb %d: g[%lld] = %g, want %g (sum over k of op(b)[:, j])", tb,
                  (long long)j, ((float *)g)[j], s);
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                CHECK(((float *)c)[i * n + j] == (float)row_major_ref(true, tb, k, a, CUDA_R_32F, lda, b, ldb, i, j),
                      "kiln BGRADA tb %d: c[%lld][%lld]", tb, (long long)i, (long long)j);
        free(a), free(b), free(c), free(g);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Half outputs: every half input scaled by a float alpha, rounded once, to nearest even */
/* ------------------------------------------------------------------------------------ */

static void test_half_rounding(int t, int n_alpha) {
    const int64_t m = 65536;
    uint16_t *A = dev_alloc((size_t)m * 2), *B = dev_alloc(2), *D = dev_alloc((size_t)m * 2);
    for (int64_t i = 0; i < m; i++) A[i] = (uint16_t)i;
    put_exact(t, B, 0, 1.0f);
    for (int s = 0; s < n_alpha; s++) {
        call_t x = base_call(t, t);
        float alpha;
        uint32_t u = (uint32_t)next_rand() << 8 ^ next_rand();
        u = (u & 0x807fffffu) | ((uint32_t)(112 + next_rand() % 32) << 23); /* 2^-15 .. 2^16 */
        memcpy(&alpha, &u, 4);
        /* first exact halfway cases (ties to even, both ways) for either type, then random */
        const float fixed[] = {1.0f, 1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 1.0f + 0x1p-8f, 1.0f + 0x3p-8f, 0x1.0018p0f};
        if (s < (int)(sizeof fixed / sizeof fixed[0])) alpha = fixed[s];
        x.alpha = alpha, x.A = A, x.B = B, x.C = D, x.D = D;
        x.a_rows = (uint64_t)m, x.a_cols = 1, x.lda = m, x.b_rows = 1, x.b_cols = 1, x.ldb = 1;
        x.d_rows = (uint64_t)m, x.d_cols = 1, x.ldd = m;
        result_t r = run_call(&x);
        CHECK(r.mm == 0, "half rounding call: %d %d %d", r.heur, r.found, r.mm);
        int bad = 0;
        for (int64_t i = 0; i < m; i++) {
            float acc = 0.0f;
            acc += get(t, A, (size_t)i) * 1.0f;
            float want = alpha * acc; /* as the product forms it: one float multiply */
            if (!is_rne(t, want, D[i]) && bad++ < 3)
                CHECK(0, "type %d: alpha %a * %a = %a rounded to 0x%04x", t, alpha, get(t, A, (size_t)i), want, D[i]);
        }
        checks++;
    }
    free(A), free(B), free(D);
}

/* ------------------------------------------------------------------------------------ */
/* Refusals                                                                               */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    void *A, *B, *D, *bias;
} bufs_t;

/* A plain 4 x 3 x 2 f32 problem the refusal tests each spoil in one way. */
static call_t plain(bufs_t *b) {
    call_t x = base_call(CUDA_R_32F, CUDA_R_32F);
    b->A = dev_alloc(64 * 4), b->B = dev_alloc(64 * 4), b->D = dev_alloc(64 * 4), b->bias = dev_alloc(64 * 4);
    fill(CUDA_R_32F, b->A, 64), fill(CUDA_R_32F, b->B, 64), fill(CUDA_R_32F, b->bias, 64);
    x.a_rows = 4, x.a_cols = 2, x.lda = 4, x.b_rows = 2, x.b_cols = 3, x.ldb = 2, x.d_rows = 4, x.d_cols = 3, x.ldd = 4;
    x.A = b->A, x.B = b->B, x.C = b->D, x.D = b->D;
    return x;
}

static void unplain(bufs_t *b) { free(b->A), free(b->B), free(b->D), free(b->bias); }

#define EXPECT(x, heur_status, mm_status)                                                                     \
    do {                                                                                                      \
        result_t r_ = run_call(&(x));                                                                         \
        CHECK(r_.heur == (heur_status) && (r_.heur != 0 || r_.found == 1) && (r_.heur == 0 || r_.found == 0) && \
                  (r_.heur != 0 || r_.mm == (mm_status)),                                                     \
              "%s: heuristic %d (found %d), matmul %d; want %d, %d", #x, r_.heur, r_.found, r_.mm,            \
              (int)(heur_status), (int)(mm_status));                                                          \
    } while (0)

static void test_type_refusals(void) {
    bufs_t b;
    call_t ok = plain(&b), x;
    EXPECT(ok, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_SUCCESS);
    x = ok, x.dt = CUDA_R_16F; /* f32 A/B into a half D: not in the table */
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    x = ok, x.abt = CUDA_R_64F, x.dt = CUDA_R_64F;
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    x = ok, x.compute = CUBLAS_COMPUTE_64F;
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    x = ok, x.scale = CUDA_R_16F;
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    x = ok, x.compute = CUBLAS_COMPUTE_32F_FAST_TF32; /* f32 with TF32 allowed: computed in f32 */
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_SUCCESS);
    x = ok, x.compute = CUBLAS_COMPUTE_32F_FAST_TF32, x.abt = CUDA_R_16BF, x.dt = CUDA_R_16BF;
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    x = ok, x.opa = CUBLAS_OP_C, x.a_rows = 2, x.a_cols = 4, x.lda = 2; /* real data: C is T */
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_SUCCESS);
    x = ok, x.opa = CUBLAS_OP_CONJG;
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    /* A and B of different types: no row of the table (built by hand: one layout type) */
    cublasLtMatmulDesc_t d;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulPreference_t p;
    cublasLtMatmulHeuristicResult_t h;
    int found = 7;
    cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, 4, 2, 4);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, 2, 3, 2);
    cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, 4, 3, 4);
    cublasLtMatmulPreferenceCreate(&p);
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, d, la, lb, ld, ld, p, 1, &h, &found) == CUBLAS_STATUS_NOT_SUPPORTED &&
              found == 0,
          "f32 x bf16 accepted");
    int32_t tc = CUBLAS_OP_T; /* TRANSC: "Currently only CUBLAS_OP_N is supported." */
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSC, &tc, sizeof tc);
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, d, la, la, ld, ld, p, 1, &h, &found) == CUBLAS_STATUS_NOT_SUPPORTED,
          "TRANSC T accepted");
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, d, la, la, ld, ld, p, 0, &h, &found) == CUBLAS_STATUS_INVALID_VALUE,
          "requestedAlgoCount 0 accepted");
    CHECK(cublasLtMatmulAlgoGetHeuristic(NULL, d, la, la, ld, ld, p, 1, &h, &found) == CUBLAS_STATUS_NOT_INITIALIZED,
          "a NULL handle accepted");
    cublasLtMatmulPreferenceDestroy(p);
    cublasLtMatrixLayoutDestroy(ld), cublasLtMatrixLayoutDestroy(lb), cublasLtMatrixLayoutDestroy(la);
    cublasLtMatmulDescDestroy(d);
    unplain(&b);
}

static void test_shape_refusals(void) {
    bufs_t b;
    call_t ok = plain(&b), x;
    x = ok, x.b_rows = 3, x.ldb = 3; /* op(B) k 3 against op(A) k 2 */
    EXPECT(x, CUBLAS_STATUS_INVALID_VALUE, 0);
    x = ok, x.d_cols = 2; /* D 4 x 2 against op(B) n 3 */
    EXPECT(x, CUBLAS_STATUS_INVALID_VALUE, 0);
    x = ok, x.lda = 3; /* ld below rows */
    EXPECT(x, CUBLAS_STATUS_INVALID_VALUE, 0);
    x = ok, x.ldd = -4;
    EXPECT(x, CUBLAS_STATUS_INVALID_VALUE, 0);
    x = ok, x.opa = CUBLAS_OP_T; /* A 4 x 2 transposed is 2 x 4: against D's 4 rows */
    EXPECT(x, CUBLAS_STATUS_INVALID_VALUE, 0);
    x = ok, x.c_layout_differs = true, x.ldc = 5; /* in place with two layouts */
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_INVALID_VALUE);
    unplain(&b);
}

static void test_epilogue_refusals(void) {
    bufs_t b;
    call_t ok = plain(&b), x;
    const uint32_t unsupported[] = {CUBLASLT_EPILOGUE_RELU_AUX, CUBLASLT_EPILOGUE_RELU_AUX_BIAS, CUBLASLT_EPILOGUE_DRELU,
                                    CUBLASLT_EPILOGUE_DRELU_BGRAD, CUBLASLT_EPILOGUE_GELU_AUX, CUBLASLT_EPILOGUE_DGELU,
                                    CUBLASLT_EPILOGUE_DGELU_BGRAD, 3, 0};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        x = ok, x.epi = unsupported[i], x.bias = b.bias;
        EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    }
    x = ok, x.epi = CUBLASLT_EPILOGUE_BIAS; /* no bias pointer */
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_INVALID_VALUE);
    x = ok, x.epi = CUBLASLT_EPILOGUE_BGRADB;
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_INVALID_VALUE);
    /* matmul.c's bias_f32_half: an f32 bias on a bf16 D — documented as D's type: refused,
     * 0 results, so matmul.c takes its unfused path */
    void *h = dev_alloc(64 * 2);
    fill(CUDA_R_16BF, h, 64);
    x = ok, x.abt = CUDA_R_16BF, x.dt = CUDA_R_16BF, x.A = h, x.B = h, x.C = x.D = b.D;
    x.epi = CUBLASLT_EPILOGUE_RELU_BIAS, x.bias = b.bias, x.bias_type = CUDA_R_32F;
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    x.bias_type = CUDA_R_16BF; /* D's own type, set explicitly */
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_SUCCESS);
    x = ok, x.epi = CUBLASLT_EPILOGUE_BGRADA, x.bias = b.bias, x.bias_type = CUDA_R_16F;
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    free(h);
    unplain(&b);
}

static void test_attribute_refusals(void) {
    cublasLtMatmulDesc_t d;
    cublasLtMatmulPreference_t p;
    int32_t i32 = CUBLAS_OP_T;
    int64_t i64 = 0;
    uint32_t u32 = 16;
    uint64_t u64 = 0;
    void *ptr = NULL;
    cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasLtMatmulPreferenceCreate(&p);
    CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &i32, 4) == 0, "TRANSA int32");
    CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &i64, 8) == CUBLAS_STATUS_INVALID_VALUE,
          "TRANSA with 8 bytes");
    CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, NULL, 4) == CUBLAS_STATUS_INVALID_VALUE,
          "NULL buf");
    CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptr, sizeof ptr) == 0, "bias ptr");
    CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &i32, 4) == CUBLAS_STATUS_INVALID_VALUE,
          "bias ptr with 4 bytes");
    CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &i64, 8) == 0, "aux ld (ignored)");
    int8_t fa = 1;
    CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fa, 1) == 0, "fast accum int8");
    const int unknown[] = {9, 16, 27, 30, 39, 1000, -1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECK(cublasLtMatmulDescSetAttribute(d, (cublasLtMatmulDescAttributes_t)unknown[i], &i32, 4) ==
                  CUBLAS_STATUS_INVALID_VALUE,
              "unknown desc attribute %d accepted", unknown[i]);
    CHECK(cublasLtMatmulPreferenceSetAttribute(p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &u64, 8) == 0, "ws");
    CHECK(cublasLtMatmulPreferenceSetAttribute(p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &u32, 4) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "ws with 4 bytes");
    CHECK(cublasLtMatmulPreferenceSetAttribute(p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &u32, 4) == 0, "align");
    CHECK(cublasLtMatmulPreferenceSetAttribute(p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &u64, 8) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "align with 8 bytes");
    const int unknown_pref[] = {2, 4, 10, 11, 13, -1}; /* unassigned in this header */
    for (size_t i = 0; i < sizeof unknown_pref / sizeof unknown_pref[0]; i++)
        CHECK(cublasLtMatmulPreferenceSetAttribute(p, (cublasLtMatmulPreferenceAttributes_t)unknown_pref[i], &u32, 4) ==
                  CUBLAS_STATUS_INVALID_VALUE,
              "unknown pref attribute %d accepted", unknown_pref[i]);
    cublasLtMatmulPreferenceDestroy(p);
    cublasLtMatmulDescDestroy(d);
}

static void test_pointer_refusals(void) {
    bufs_t b;
    call_t ok = plain(&b), x;
    /* alignment: promised 256 (the default matmul.c overrides) but A is 4-byte aligned */
    x = ok, x.A = (char *)b.A + 4, x.promise_a = 256;
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_INVALID_VALUE);
    x = ok, x.A = (char *)b.A + 4; /* promised what it is */
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_SUCCESS);
    x = ok, x.promise_a = 2; /* below an f32's own alignment: no algorithm */
    EXPECT(x, CUBLAS_STATUS_NOT_SUPPORTED, 0);
    x = ok, x.A = NULL;
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_INVALID_VALUE);
    x = ok, x.beta = 1.0f, x.C = NULL, x.c_layout_differs = true, x.ldc = 4;
    EXPECT(x, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_INVALID_VALUE);
    /* device memory: only [A, A + 32 bytes): A spans 4 x 2 floats = 32 bytes, fine; B and D
     * lie outside */
    range_lo = b.A, range_len = 32;
    EXPECT(ok, CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_INVALID_VALUE);
    range_len = 4096 * 4; /* everything */
    range_lo = NULL;
    /* an fp8-only attribute: "calling cublasLtMatmul() will return CUBLAS_INVALID_VALUE" */
    cublasLtMatmulDesc_t d;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulPreference_t p;
    cublasLtMatmulHeuristicResult_t h;
    int found = 0;
    float one = 1, zero = 0;
    void *sp = b.bias;
    cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sp, sizeof sp);
    cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, 4, 2, 4);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, 2, 3, 2);
    cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, 4, 3, 4);
    cublasLtMatmulPreferenceCreate(&p);
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, d, la, lb, ld, ld, p, 1, &h, &found) == 0 && found == 1, "heuristic");
    CHECK(cublasLtMatmul(lt, d, &one, b.A, la, b.B, lb, &zero, b.D, ld, b.D, ld, &h.algo, NULL, 0, NULL) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "A_SCALE_POINTER on f32 accepted");
    sp = NULL;
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sp, sizeof sp);
    CHECK(cublasLtMatmul(lt, d, &one, b.A, la, b.B, lb, &zero, b.D, ld, b.D, ld, &h.algo, NULL, 0, NULL) == 0,
          "plain call");
    CHECK(cublasLtMatmul(lt, d, &one, b.A, la, b.B, lb, &zero, b.D, ld, b.D, ld, NULL, NULL, 0, NULL) == 0,
          "NULL algo: an implicit heuristic query");
    CHECK(cublasLtMatmul(lt, d, NULL, b.A, la, b.B, lb, &zero, b.D, ld, b.D, ld, &h.algo, NULL, 0, NULL) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "NULL alpha");
    enqueue_fails = 1;
    CHECK(cublasLtMatmul(lt, d, &one, b.A, la, b.B, lb, &zero, b.D, ld, b.D, ld, &h.algo, NULL, 0, NULL) ==
              CUBLAS_STATUS_EXECUTION_FAILED,
          "an enqueue failure");
    enqueue_fails = 0;
    /* an algorithm from another problem (a BIAS epilogue) */
    cublasLtMatmulHeuristicResult_t h2;
    uint32_t e = CUBLASLT_EPILOGUE_RELU;
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e);
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, d, la, lb, ld, ld, p, 1, &h2, &found) == 0, "heuristic relu");
    e = CUBLASLT_EPILOGUE_DEFAULT;
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e);
    CHECK(cublasLtMatmul(lt, d, &one, b.A, la, b.B, lb, &zero, b.D, ld, b.D, ld, &h2.algo, NULL, 0, NULL) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "another problem's algorithm");
    cublasLtMatmulPreferenceDestroy(p);
    cublasLtMatrixLayoutDestroy(ld), cublasLtMatrixLayoutDestroy(lb), cublasLtMatrixLayoutDestroy(la);
    cublasLtMatmulDescDestroy(d);
    unplain(&b);
}

/* Descriptors destroyed right after cublasLtMatmul (as kiln does) while the product is
 * still queued: the queued copy must not point into them. */
static void test_deferred_run(void) {
    bufs_t b;
    call_t x = plain(&b);
    int before = enqueued;
    result_t r = run_call(&x); /* run_call destroys everything after the call */
    CHECK(r.mm == 0 && enqueued == before + 1, "one product queued");
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            double v = 0;
            for (int p = 0; p < 2; p++) v += ((float *)b.A)[i + p * 4] * ((float *)b.B)[p + j * 2];
            CHECK(((float *)b.D)[i + j * 4] == (float)v, "D(%d,%d)", i, j);
        }
    unplain(&b);
}

static void test_misc(void) {
    CHECK(strstr(cublasLtGetStatusString(CUBLAS_STATUS_NOT_SUPPORTED), "CUBLAS_STATUS_NOT_SUPPORTED") != NULL,
          "status string");
    CHECK(strstr(cublasLtGetStatusString(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE") != NULL,
          "status string");
    CHECK(cublasLtCreate(NULL) == CUBLAS_STATUS_INVALID_VALUE, "create NULL");
    CHECK(cublasLtDestroy(NULL) == CUBLAS_STATUS_NOT_INITIALIZED, "destroy NULL");
}

int main(void) {
    CHECK(cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS, "create");
    test_misc();
    test_attribute_refusals();
    test_type_refusals();
    test_shape_refusals();
    test_epilogue_refusals();
    test_pointer_refusals();
    test_deferred_run();
    test_kiln_trick();
    test_column_major();
    test_kiln_bgrada();
    const char *quick = getenv("KN_TEST_QUICK");
    test_half_rounding(CUDA_R_16F, quick ? 8 : 40);
    test_half_rounding(CUDA_R_16BF, quick ? 8 : 40);
    CHECK(faults == 0, "%d faults", faults);
    CHECK(cublasLtDestroy(lt) == CUBLAS_STATUS_SUCCESS, "destroy");
    printf("test_cublaslt_emu: %d checks, %d failures\n", checks, failures);
    return failures != 0;
}
