/* cublaslt_emu.c — a fake cuBLASLt for the CUDA emulator: built as a shared library that
 * kiln dlopen()s in place of libcublasLt.so (src/backend/cuda/cublaslt_load.c), so the
 * backend's real matmul.c runs on a machine without a GPU.
 *
 * It implements the 13 functions kiln calls, with the semantics of NVIDIA's cuBLASLt
 * documentation (the cuBLAS guide's cuBLASLt API chapter and the declarations' comments in
 * cublasLt.h), not with what matmul.c assumes: the point is to catch a wrong assumption.
 * Where the documentation leaves a case open this file says so beside the code.
 *
 *   D = epilogue(alpha * op(A) op(B) + beta * C [+ bias]), column-major, one matrix (no
 *   batches), compute CUBLAS_COMPUTE_32F with scale type CUDA_R_32F and the f32 / f16 / bf16
 *   rows of cublasLtMatmul()'s table of supported data types.
 *
 * cublasLtMatmul() validates and copies everything it needs (descriptors may be destroyed as
 * soon as it returns) into a parameter block queued with kn_emu_enqueue_host (emu_api.h):
 * the product is computed when the emulator runs the stream, which is how stream order and
 * CUDA-graph capture work there. Each dot product accumulates in float, half inputs widened
 * exactly; outputs are rounded to nearest even once.
 *
 * Refusals are silent, as the real library's are, unless CUBLASLT_LOG_LEVEL (the real
 * library's logging variable) is 1 or more; a pointer that is not device memory or is less
 * aligned than the algorithm was promised is always reported on stderr ("cublaslt-emu:"). */
#include <cublasLt.h>

#include "emu_api.h"
#include "include/cuda_bf16.h"
#include "include/cuda_fp16.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------ */
/* Half-precision conversions (round to nearest even; NaN, Inf and subnormals kept)      */
/* ------------------------------------------------------------------------------------ */

/* The emulator's conversions (include/: the kernels use the same ones) */
static uint16_t f32_to_f16(float f) { return __float2half_rn(f).bits; }
static float f16_to_f32(uint16_t h) { return __half2float((__half){h}); }
static uint16_t f32_to_bf16(float f) { return __float2bfloat16_rn(f).bits; }
static float bf16_to_f32(uint16_t h) { return __bfloat162float((__nv_bfloat16){h}); }

/* ------------------------------------------------------------------------------------ */
/* Element access by cudaDataType                                                         */
/* ------------------------------------------------------------------------------------ */

static int is_emu_type(int32_t t) { return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF; }

static size_t type_size(int32_t t) { return t == CUDA_R_32F ? 4 : 2; }

static float load_elem(int32_t t, const void *p, size_t i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == CUDA_R_16F ? f16_to_f32(h) : bf16_to_f32(h);
}

static void store_elem(int32_t t, void *p, size_t i, float v) {
    if (t == CUDA_R_32F) ((float *)p)[i] = v;
    else ((uint16_t *)p)[i] = t == CUDA_R_16F ? f32_to_f16(v) : f32_to_bf16(v);
}

static const char *type_name(int32_t t) {
    return t == CUDA_R_32F ? "CUDA_R_32F" : t == CUDA_R_16F ? "CUDA_R_16F" : t == CUDA_R_16BF ? "CUDA_R_16BF" : "(other)";
}

/* ------------------------------------------------------------------------------------ */
/* Logging                                                                                */
/* ------------------------------------------------------------------------------------ */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void vsay(const char *fmt, va_list ap) {
    fputs("cublaslt-emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* Always printed: a call that kiln should never make (a bad pointer, a broken promise). */
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

/* A refusal the real library makes silently: printed only with CUBLASLT_LOG_LEVEL >= 1. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
    const char *lv = getenv("CUBLASLT_LOG_LEVEL");
    if (!lv || atoi(lv) < 1) return;
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------ */
/* Handle, layouts                                                                        */
/* ------------------------------------------------------------------------------------ */

#define MAGIC_HANDLE 0x4b4e4c5448414e44ull /* "KNLTHAND" */
#define MAGIC_LAYOUT 0x4b4e4c544c41594full /* "KNLTLAYO" */
#define MAGIC_DESC 0x4b4e4c5444455343ull   /* "KNLTDESC" */
#define MAGIC_PREF 0x4b4e4c5450524546ull   /* "KNLTPREF" */
#define MAGIC_ALGO 0x4b4e4c54414c474full   /* "KNLTALGO" */

struct cublasLtContext {
    uint64_t magic;
};

typedef struct {
    uint64_t magic;
    int32_t type;
    uint64_t rows, cols;
    int64_t ld;
} emu_layout;

static int handle_ok(cublasLtHandle_t h) { return h && h->magic == MAGIC_HANDLE; }

cublasStatus_t cublasLtCreate(cublasLtHandle_t *lightHandle) {
    if (!lightHandle) return CUBLAS_STATUS_INVALID_VALUE;
    struct cublasLtContext *h = malloc(sizeof *h);
    if (!h) return CUBLAS_STATUS_ALLOC_FAILED;
    h->magic = MAGIC_HANDLE;
    *lightHandle = h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle) {
    if (!handle_ok(lightHandle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    lightHandle->magic = 0;
    free(lightHandle);
    return CUBLAS_STATUS_SUCCESS;
}

static const emu_layout *as_layout(cublasLtMatrixLayout_t l) {
    const emu_layout *e = (const emu_layout *)(const void *)l;
    return e && e->magic == MAGIC_LAYOUT ? e : NULL;
}

/* The header documents only ALLOC_FAILED and SUCCESS here: the leading dimension and the
 * type are checked when the layout is used (cublasLtMatmulAlgoGetHeuristic, cublasLtMatmul). */
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
    if (!matLayout) return CUBLAS_STATUS_INVALID_VALUE;
    emu_layout *l = malloc(sizeof *l);
    if (!l) return CUBLAS_STATUS_ALLOC_FAILED;
    *l = (emu_layout){MAGIC_LAYOUT, (int32_t)type, rows, cols, ld};
    *matLayout = (cublasLtMatrixLayout_t)(void *)l;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout) {
    emu_layout *l = (emu_layout *)(void *)matLayout;
    if (l) l->magic = 0;
    free(l);
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------ */
/* Attribute tables: the value types of cublasLtMatmulDescAttributes_t and               */
/* cublasLtMatmulPreferenceAttributes_t as cublasLt.h documents them                     */
/* ------------------------------------------------------------------------------------ */

#define N_DESC_ATTR 39
#define N_PREF_ATTR 13

/* 0: no such attribute (9, 16, 27..30 are unassigned in this header) */
static size_t desc_attr_size(int attr) {
    switch (attr) {
    case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE: /* int32_t */
    case CUBLASLT_MATMUL_DESC_SCALE_TYPE:
    case CUBLASLT_MATMUL_DESC_POINTER_MODE:
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB:
    case CUBLASLT_MATMUL_DESC_TRANSC:
    case CUBLASLT_MATMUL_DESC_FILL_MODE:
    case CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE:
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
    case CUBLASLT_MATMUL_DESC_A_SCALE_MODE:
    case CUBLASLT_MATMUL_DESC_B_SCALE_MODE:
    case CUBLASLT_MATMUL_DESC_C_SCALE_MODE:
    case CUBLASLT_MATMUL_DESC_D_SCALE_MODE:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_MODE:
    case CUBLASLT_MATMUL_DESC_D_OUT_SCALE_MODE:
        return sizeof(int32_t);
    case CUBLASLT_MATMUL_DESC_EPILOGUE: /* uint32_t */
        return sizeof(uint32_t);
    case CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE: /* int64_t */
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE:
    case CUBLASLT_MATMUL_DESC_ALPHA_VECTOR_BATCH_STRIDE:
        return sizeof(int64_t);
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: /* pointers */
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
    case CUBLASLT_MATMUL_DESC_A_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_B_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_C_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_D_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_AMAX_D_POINTER:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_AMAX_POINTER:
    case CUBLASLT_MATMUL_DESC_D_OUT_SCALE_POINTER:
        return sizeof(void *);
    case CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR:
        return sizeof(cublasLtEmulationDesc_t);
    case CUBLASLT_MATMUL_DESC_FAST_ACCUM: /* int8_t */
        return sizeof(int8_t);
    default:
        return 0;
    }
}

static size_t pref_attr_size(int attr) {
    switch (attr) {
    case CUBLASLT_MATMUL_PREF_SEARCH_MODE: /* uint32_t */
    case CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
        return sizeof(uint32_t);
    case CUBLASLT_MATMUL_PREF_MAX_WAVES_COUNT: /* float */
        return sizeof(float);
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: /* uint64_t */
    case CUBLASLT_MATMUL_PREF_IMPL_MASK:
        return sizeof(uint64_t);
    default:
        return 0;
    }
}

/* Values are kept as raw bytes, one 8-byte slot per attribute, read back by type. */
typedef struct {
    uint64_t magic;
    unsigned char v[N_DESC_ATTR][8];
} emu_desc;

typedef struct {
    uint64_t magic;
    unsigned char v[N_PREF_ATTR][8];
} emu_pref;

static void put_raw(unsigned char slot[8], const void *buf, size_t n) {
    memset(slot, 0, 8);
    memcpy(slot, buf, n);
}

static int32_t get_i32(const unsigned char slot[8]) {
    int32_t v;
    memcpy(&v, slot, sizeof v);
    return v;
}

static uint32_t get_u32(const unsigned char slot[8]) {
    uint32_t v;
    memcpy(&v, slot, sizeof v);
    return v;
}

static uint64_t get_u64(const unsigned char slot[8]) {
    uint64_t v;
    memcpy(&v, slot, sizeof v);
    return v;
}

static float get_f32(const unsigned char slot[8]) {
    float v;
    memcpy(&v, slot, sizeof v);
    return v;
}

static const void *get_ptr(const unsigned char slot[8]) {
    const void *v;
    memcpy(&v, slot, sizeof v);
    return v;
}

static void put_i32(unsigned char slot[8], int32_t v) { put_raw(slot, &v, sizeof v); }
static void put_u32(unsigned char slot[8], uint32_t v) { put_raw(slot, &v, sizeof v); }
static void put_u64(unsigned char slot[8], uint64_t v) { put_raw(slot, &v, sizeof v); }

/* ------------------------------------------------------------------------------------ */
/* Matmul descriptor                                                                      */
/* ------------------------------------------------------------------------------------ */

static emu_desc *as_desc(cublasLtMatmulDesc_t d) {
    emu_desc *e = (emu_desc *)(void *)d;
    return e && e->magic == MAGIC_DESC ? e : NULL;
}

/* Defaults from cublasLtMatmulDescAttributes_t: scale type from the create call, pointer
 * mode HOST, ops N, fill FULL, epilogue DEFAULT, bias and aux data types -1 ("not set":
 * the output's type), every pointer NULL. */
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc, cublasComputeType_t computeType,
                                        cudaDataType_t scaleType) {
    if (!matmulDesc) return CUBLAS_STATUS_INVALID_VALUE;
    emu_desc *d = calloc(1, sizeof *d);
    if (!d) return CUBLAS_STATUS_ALLOC_FAILED;
    d->magic = MAGIC_DESC;
    put_i32(d->v[CUBLASLT_MATMUL_DESC_COMPUTE_TYPE], (int32_t)computeType);
    put_i32(d->v[CUBLASLT_MATMUL_DESC_SCALE_TYPE], (int32_t)scaleType);
    put_i32(d->v[CUBLASLT_MATMUL_DESC_POINTER_MODE], CUBLASLT_POINTER_MODE_HOST);
    put_i32(d->v[CUBLASLT_MATMUL_DESC_TRANSA], CUBLAS_OP_N);
    put_i32(d->v[CUBLASLT_MATMUL_DESC_TRANSB], CUBLAS_OP_N);
    put_i32(d->v[CUBLASLT_MATMUL_DESC_TRANSC], CUBLAS_OP_N);
    put_i32(d->v[CUBLASLT_MATMUL_DESC_FILL_MODE], CUBLAS_FILL_MODE_FULL);
    put_u32(d->v[CUBLASLT_MATMUL_DESC_EPILOGUE], CUBLASLT_EPILOGUE_DEFAULT);
    put_i32(d->v[CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE], -1);
    put_i32(d->v[CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE], -1);
    *matmulDesc = (cublasLtMatmulDesc_t)(void *)d;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc) {
    emu_desc *d = (emu_desc *)(void *)matmulDesc;
    if (d) d->magic = 0;
    free(d);
    return CUBLAS_STATUS_SUCCESS;
}

/* "CUBLAS_STATUS_INVALID_VALUE if buf is NULL or sizeInBytes doesn't match size of internal
 * storage for selected attribute"; an attribute the header does not define has no storage. */
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc, cublasLtMatmulDescAttributes_t attr,
                                              const void *buf, size_t sizeInBytes) {
    emu_desc *d = as_desc(matmulDesc);
    size_t want = desc_attr_size((int)attr);
    if (!d || !buf || (int)attr < 0 || (int)attr >= N_DESC_ATTR || !want || sizeInBytes != want) {
        note("cublasLtMatmulDescSetAttribute: attribute %d with %zu bytes refused (wants %zu)", (int)attr, sizeInBytes,
             want);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    put_raw(d->v[attr], buf, sizeInBytes);
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------ */
/* Preference                                                                             */
/* ------------------------------------------------------------------------------------ */

static const emu_pref *as_pref(cublasLtMatmulPreference_t p) {
    const emu_pref *e = (const emu_pref *)(const void *)p;
    return e && e->magic == MAGIC_PREF ? e : NULL;
}

/* Defaults from cublasLtMatmulPreferenceAttributes_t: search BEST_FIT, no workspace,
 * every reduction scheme, 256-byte alignment for A, B, C, D, no wave limit, every
 * implementation. */
static void pref_defaults(emu_pref *p) {
    put_u32(p->v[CUBLASLT_MATMUL_PREF_SEARCH_MODE], CUBLASLT_SEARCH_BEST_FIT);
    put_u64(p->v[CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES], 0);
    put_u32(p->v[CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK], CUBLASLT_REDUCTION_SCHEME_MASK);
    put_u32(p->v[CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES], 256);
    put_u32(p->v[CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES], 256);
    put_u32(p->v[CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES], 256);
    put_u32(p->v[CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES], 256);
    put_u64(p->v[CUBLASLT_MATMUL_PREF_IMPL_MASK], UINT64_MAX);
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref) {
    if (!pref) return CUBLAS_STATUS_INVALID_VALUE;
    emu_pref *p = calloc(1, sizeof *p);
    if (!p) return CUBLAS_STATUS_ALLOC_FAILED;
    p->magic = MAGIC_PREF;
    pref_defaults(p);
    *pref = (cublasLtMatmulPreference_t)(void *)p;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
    emu_pref *p = (emu_pref *)(void *)pref;
    if (p) p->magic = 0;
    free(p);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void *buf,
                                                    size_t sizeInBytes) {
    emu_pref *p = (emu_pref *)as_pref(pref);
    size_t want = pref_attr_size((int)attr);
    if (!p || !buf || (int)attr < 0 || (int)attr >= N_PREF_ATTR || !want || sizeInBytes != want) {
        note("cublasLtMatmulPreferenceSetAttribute: attribute %d with %zu bytes refused (wants %zu)", (int)attr,
             sizeInBytes, want);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    put_raw(p->v[attr], buf, sizeInBytes);
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------ */
/* The problem: what a descriptor and four layouts describe, checked                     */
/* ------------------------------------------------------------------------------------ */

enum { BIAS_NONE, BIAS_ADD, BIAS_GRAD_A, BIAS_GRAD_B };
enum { ACT_NONE, ACT_RELU, ACT_GELU };

typedef struct {
    uint64_t m, n, k;
    int32_t ta, tb; /* 1: transposed */
    int32_t atype, ctype, btype_bias;
    emu_layout a, b, c, d;
    uint32_t epilogue;
    int bias_kind, act;
    const void *bias;
} emu_problem;

static int op_transposes(int32_t op, int *t) {
    /* CUBLAS_OP_C on real data is the transpose: reference BLAS SGEMM documents
     * TRANSA = 'C' as op(A) = A**T, and the types here are all real. CUBLAS_OP_CONJG is
     * "not supported in the current release" (cublas_api.h). */
    if (op == CUBLAS_OP_N) return *t = 0, 1;
    if (op == CUBLAS_OP_T || op == CUBLAS_OP_C) return *t = 1, 1;
    return 0;
}

/* cublasLtEpilogue_t: which of the eight supported epilogues, split in bias and act. */
static int split_epilogue(uint32_t e, int *bias_kind, int *act) {
    switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT: *bias_kind = BIAS_NONE, *act = ACT_NONE; return 1;
    case CUBLASLT_EPILOGUE_RELU: *bias_kind = BIAS_NONE, *act = ACT_RELU; return 1;
    case CUBLASLT_EPILOGUE_GELU: *bias_kind = BIAS_NONE, *act = ACT_GELU; return 1;
    case CUBLASLT_EPILOGUE_BIAS: *bias_kind = BIAS_ADD, *act = ACT_NONE; return 1;
    case CUBLASLT_EPILOGUE_RELU_BIAS: *bias_kind = BIAS_ADD, *act = ACT_RELU; return 1;
    case CUBLASLT_EPILOGUE_GELU_BIAS: *bias_kind = BIAS_ADD, *act = ACT_GELU; return 1;
    case CUBLASLT_EPILOGUE_BGRADA: *bias_kind = BIAS_GRAD_A, *act = ACT_NONE; return 1;
    case CUBLASLT_EPILOGUE_BGRADB: *bias_kind = BIAS_GRAD_B, *act = ACT_NONE; return 1;
    default: return 0;
    }
}

/* The rows of cublasLtMatmul()'s "Datatypes Supported" table for compute type
 * CUBLAS_COMPUTE_32F (and _PEDANTIC), scale type CUDA_R_32F, that this emulator covers:
 *   Atype = Btype     Ctype = Dtype
 *   CUDA_R_32F        CUDA_R_32F
 *   CUDA_R_16F        CUDA_R_16F or CUDA_R_32F
 *   CUDA_R_16BF       CUDA_R_16BF or CUDA_R_32F
 * and for CUBLAS_COMPUTE_32F_FAST_TF32 only CUDA_R_32F throughout (computed here in full
 * f32, which is one of the results TF32 allows). Every other combination: NOT_SUPPORTED. */
static int types_supported(int32_t compute, int32_t scale, int32_t at, int32_t bt, int32_t ct, int32_t dt) {
    if (scale != CUDA_R_32F || at != bt || ct != dt || !is_emu_type(at)) return 0;
    if (compute == CUBLAS_COMPUTE_32F_FAST_TF32) return at == CUDA_R_32F && dt == CUDA_R_32F;
    if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_PEDANTIC) return 0;
    return dt == CUDA_R_32F || dt == at;
}

/* CUBLASLT_MATRIX_LAYOUT_LD: "Currently only non-negative values are supported, must be
 * large enough so that matrix memory locations are not overlapping (e.g. greater or equal
 * to CUBLASLT_MATRIX_LAYOUT_ROWS in case of CUBLASLT_ORDER_COL)". */
static int ld_ok(const emu_layout *l) {
    return l->ld >= 0 && (uint64_t)l->ld >= l->rows && (l->cols <= 1 || l->ld >= 1);
}

/* Shapes: op(A) is m x k, op(B) k x n, C and D m x n (cublasLtMatmul: D = alpha op(A)
 * op(B) + beta C). Any mismatch is a conflict between parameters: INVALID_VALUE. */
static cublasStatus_t check_shapes(emu_problem *p) {
    uint64_t am = p->ta ? p->a.cols : p->a.rows, ak = p->ta ? p->a.rows : p->a.cols;
    uint64_t bk = p->tb ? p->b.cols : p->b.rows, bn = p->tb ? p->b.rows : p->b.cols;
    p->m = p->d.rows, p->n = p->d.cols, p->k = ak;
    if (am != p->m || bn != p->n || bk != ak || p->c.rows != p->m || p->c.cols != p->n) {
        note("shapes: op(A) %llu x %llu, op(B) %llu x %llu, C %llu x %llu, D %llu x %llu do not agree",
             (unsigned long long)am, (unsigned long long)ak, (unsigned long long)bk, (unsigned long long)bn,
             (unsigned long long)p->c.rows, (unsigned long long)p->c.cols, (unsigned long long)p->d.rows,
             (unsigned long long)p->d.cols);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (!ld_ok(&p->a) || !ld_ok(&p->b) || !ld_ok(&p->c) || !ld_ok(&p->d)) {
        note("a leading dimension is negative or below its matrix's rows");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* Everything but the shapes: types, ops, epilogue, attributes this emulator implements. */
static cublasStatus_t check_support(const emu_desc *d, emu_problem *p) {
    int32_t compute = get_i32(d->v[CUBLASLT_MATMUL_DESC_COMPUTE_TYPE]);
    int32_t scale = get_i32(d->v[CUBLASLT_MATMUL_DESC_SCALE_TYPE]);
    int32_t bias_type = get_i32(d->v[CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE]);
    int ta, tb, tc;
    if (!types_supported(compute, scale, p->a.type, p->b.type, p->c.type, p->d.type)) {
        note("types: compute %d, scale %d, A %s, B %s, C %s, D %s: not in cublasLtMatmul's table (as emulated)",
             (int)compute, (int)scale, type_name(p->a.type), type_name(p->b.type), type_name(p->c.type),
             type_name(p->d.type));
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (!op_transposes(get_i32(d->v[CUBLASLT_MATMUL_DESC_TRANSA]), &ta) ||
        !op_transposes(get_i32(d->v[CUBLASLT_MATMUL_DESC_TRANSB]), &tb) ||
        !op_transposes(get_i32(d->v[CUBLASLT_MATMUL_DESC_TRANSC]), &tc) || tc) {
        /* TRANSC: "Currently only CUBLAS_OP_N is supported." */
        note("an unsupported operation in TRANSA / TRANSB / TRANSC");
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    p->ta = ta, p->tb = tb;
    if (get_i32(d->v[CUBLASLT_MATMUL_DESC_POINTER_MODE]) != CUBLASLT_POINTER_MODE_HOST ||
        get_i32(d->v[CUBLASLT_MATMUL_DESC_FILL_MODE]) != CUBLAS_FILL_MODE_FULL) {
        note("only host alpha / beta and a full fill mode are emulated");
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    p->epilogue = get_u32(d->v[CUBLASLT_MATMUL_DESC_EPILOGUE]);
    if (!split_epilogue(p->epilogue, &p->bias_kind, &p->act)) {
        note("epilogue %u is not emulated", p->epilogue);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    /* CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: "Bias vector elements are the same type as the
     * elements of output matrix (Dtype)", the only exceptions being IMMA and fp8 kernels;
     * CUBLASLT_MATMUL_DESC_BIAS_POINTER: "Bias gradient vector elements are the same type as
     * the output elements (Ctype)". Default -1: D's type. No other type is documented for
     * these data types, so an f32 bias on a half D is refused. */
    p->btype_bias = bias_type == -1 ? p->d.type : bias_type;
    if (p->bias_kind != BIAS_NONE && p->btype_bias != p->d.type) {
        note("bias type %s with D %s: the documentation gives the bias D's type for these kernels",
             type_name(p->btype_bias), type_name(p->d.type));
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    p->bias = get_ptr(d->v[CUBLASLT_MATMUL_DESC_BIAS_POINTER]);
    p->atype = p->a.type, p->ctype = p->d.type;
    return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t build_problem(const emu_desc *d, const emu_layout *a, const emu_layout *b,
                                    const emu_layout *c, const emu_layout *dl, emu_problem *p) {
    memset(p, 0, sizeof *p);
    p->a = *a, p->b = *b, p->c = *c, p->d = *dl;
    cublasStatus_t s = check_support(d, p);
    return s != CUBLAS_STATUS_SUCCESS ? s : check_shapes(p);
}

/* ------------------------------------------------------------------------------------ */
/* The algorithm: one "kernel" whose alignment needs are what the preference allowed     */
/* ------------------------------------------------------------------------------------ */

/* data[] of cublasLtMatmulAlgo_t:
 *   0 magic, 1..4 the alignment promised for A, B, C, D (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*),
 *   5 the bias pointer's alignment when the heuristic ran (the header: routines that do not
 *   dereference the bias pointer "depend on its value to determine expected pointer
 *   alignment"), 6 a fingerprint of the problem's types and epilogue. */

static uint32_t align_of(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && (a & (al - 1))) al >>= 1;
    return al;
}

static uint64_t fingerprint(const emu_problem *p) {
    return ((uint64_t)(uint32_t)p->a.type << 48) ^ ((uint64_t)(uint32_t)p->d.type << 32) ^
           ((uint64_t)(uint32_t)p->btype_bias << 20) ^ p->epilogue;
}

/* An algorithm needs at least its elements' natural alignment: a preference promising
 * less excludes it ("Selecting a smaller value will exclude algorithms that can not work
 * with matrix A that is not as strictly aligned as they need"). */
static int alignments_allow(const emu_pref *pr, const emu_problem *p) {
    const int attr[4] = {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                         CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    const int32_t type[4] = {p->a.type, p->b.type, p->c.type, p->d.type};
    for (int i = 0; i < 4; i++)
        if (get_u32(pr->v[attr[i]]) < type_size(type[i])) return 0;
    return 1;
}

static void fill_algo(cublasLtMatmulAlgo_t *algo, const emu_pref *pr, const emu_problem *p) {
    memset(algo, 0, sizeof *algo);
    algo->data[0] = MAGIC_ALGO;
    algo->data[1] = get_u32(pr->v[CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES]);
    algo->data[2] = get_u32(pr->v[CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES]);
    algo->data[3] = get_u32(pr->v[CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES]);
    algo->data[4] = get_u32(pr->v[CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES]);
    algo->data[5] = p->bias_kind != BIAS_NONE ? align_of(p->bias) : 1;
    algo->data[6] = fingerprint(p);
}

/* Whether this (CPU) algorithm passes the preference's filters: search mode BEST_FIT only
 * (LIMITED_BY_ALGO_ID needs cublasLtMatmulAlgoInit, not emulated), no workspace needed,
 * one wave (excluded by a MAX_WAVES_COUNT below 1), element alignment. */
static int pref_allows(const emu_pref *pr, const emu_problem *p) {
    float waves = get_f32(pr->v[CUBLASLT_MATMUL_PREF_MAX_WAVES_COUNT]);
    if (get_u32(pr->v[CUBLASLT_MATMUL_PREF_SEARCH_MODE]) != CUBLASLT_SEARCH_BEST_FIT) return 0;
    if (waves != 0.0f && waves < 1.0f) return 0;
    return alignments_allow(pr, p);
}

/* "CUBLAS_STATUS_INVALID_VALUE if requestedAlgoCount is less or equal to zero;
 * CUBLAS_STATUS_NOT_SUPPORTED if no heuristic function available for current
 * configuration" — the real library answers NOT_SUPPORTED with *returnAlgoCount 0 when no
 * algorithm fits, which is what this one does for every refused problem. */
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc,
                                              cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                              cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                                              cublasLtMatmulPreference_t preference, int requestedAlgoCount,
                                              cublasLtMatmulHeuristicResult_t heuristicResultsArray[],
                                              int *returnAlgoCount) {
    if (!handle_ok(lightHandle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    const emu_desc *d = as_desc(operationDesc);
    const emu_layout *a = as_layout(Adesc), *b = as_layout(Bdesc), *c = as_layout(Cdesc), *dl = as_layout(Ddesc);
    const emu_pref *pr = as_pref(preference);
    if (!d || !a || !b || !c || !dl || !pr || requestedAlgoCount <= 0 || !heuristicResultsArray || !returnAlgoCount)
        return CUBLAS_STATUS_INVALID_VALUE;
    *returnAlgoCount = 0;
    emu_problem p;
    cublasStatus_t s = build_problem(d, a, b, c, dl, &p);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    if (!pref_allows(pr, &p)) {
        note("cublasLtMatmulAlgoGetHeuristic: the preference excludes every algorithm");
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    cublasLtMatmulHeuristicResult_t *r = &heuristicResultsArray[0];
    memset(r, 0, sizeof *r);
    fill_algo(&r->algo, pr, &p);
    r->workspaceSize = 0;
    r->state = CUBLAS_STATUS_SUCCESS;
    r->wavesCount = 1.0f;
    *returnAlgoCount = 1;
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------ */
/* The queued product                                                                     */
/* ------------------------------------------------------------------------------------ */

/* Everything the product needs, by value: nothing points into a descriptor. */
typedef struct {
    uint64_t m, n, k;
    int32_t ta, tb, abtype, dtype, bias_type;
    int bias_kind, act;
    const void *A, *B, *C;
    void *D;
    void *bias; /* the bias (read) or the bias gradient (written) */
    int64_t lda, ldb, ldc, ldd;
    size_t a_bytes, b_bytes, c_bytes, d_bytes, bias_bytes;
    float alpha, beta;
} emu_params;

static float op_a(const emu_params *q, uint64_t i, uint64_t p) {
    size_t idx = q->ta ? (size_t)(p + i * (uint64_t)q->lda) : (size_t)(i + p * (uint64_t)q->lda);
    return load_elem(q->abtype, q->A, idx);
}

static float op_b(const emu_params *q, uint64_t p, uint64_t j) {
    size_t idx = q->tb ? (size_t)(j + p * (uint64_t)q->ldb) : (size_t)(p + j * (uint64_t)q->ldb);
    return load_elem(q->abtype, q->B, idx);
}

/* cuBLASLt's GELU is the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * (NVIDIA's nvmath-python checks its GELU epilogues against exactly this form). */
static float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

/* CUBLASLT_EPILOGUE_RELU: "x:=max(x, 0)" (fmaxf: a NaN becomes 0, as the GPU's does). */
static float activate(int act, float x) { return act == ACT_RELU ? fmaxf(x, 0.0f) : act == ACT_GELU ? gelu_tanh(x) : x; }

/* op(A)'s row i and op(B)'s column j, each widened to floats and packed contiguous (pa: m
 * rows of k, pb: n columns of k), so the dot products stream through memory; the sum runs
 * over p in order either way, so packing changes no bit. */
static float dot(const float *arow, const float *bcol, uint64_t k) {
    float acc = 0.0f;
    for (uint64_t p = 0; p < k; p++) acc += arow[p] * bcol[p];
    return acc;
}

/* One element of D: alpha * acc + beta * C (C not read when beta is 0), then the bias
 * ("added before applying final postprocessing", CUBLASLT_EPILOGUE_BIAS) and activation. */
static void one_element(const emu_params *q, const float *pa, const float *pb, uint64_t i, uint64_t j) {
    float v = q->alpha * dot(pa + i * q->k, pb + j * q->k, q->k);
    if (q->beta != 0.0f) v += q->beta * load_elem(q->dtype, q->C, (size_t)(i + j * (uint64_t)q->ldc));
    if (q->bias_kind == BIAS_ADD) v += load_elem(q->bias_type, q->bias, (size_t)i);
    store_elem(q->dtype, q->D, (size_t)(i + j * (uint64_t)q->ldd), activate(q->act, v));
}

/* CUBLASLT_EPILOGUE_BGRADA: "Bias gradient based on the input matrix A. The bias size
 * corresponds to the number of rows of the matrix D. The reduction happens over the GEMM's
 * "k" dimension": g[i] = sum_p op(A)(i, p), i < m. BGRADB: "... input matrix B. The bias
 * size corresponds to the number of columns of the matrix D. The reduction happens over the
 * GEMM's "k" dimension": g[j] = sum_p op(B)(p, j), j < n. Neither scaled by alpha (the
 * documentation names no scaling). */
static void bias_gradient(const emu_params *q) {
    uint64_t len = q->bias_kind == BIAS_GRAD_A ? q->m : q->n;
    for (uint64_t i = 0; i < len; i++) {
        float s = 0.0f;
        for (uint64_t p = 0; p < q->k; p++) s += q->bias_kind == BIAS_GRAD_A ? op_a(q, i, p) : op_b(q, p, i);
        store_elem(q->bias_type, q->bias, (size_t)i, s);
    }
}

/* The memory may have been freed between the call and the run (a graph replayed late). */
static int still_live(const emu_params *q) {
    struct {
        const char *what;
        const void *p;
        size_t bytes;
    } r[5] = {{"A", q->A, q->a_bytes}, {"B", q->B, q->b_bytes}, {"C", q->C, q->c_bytes},
              {"D", q->D, q->d_bytes}, {"bias", q->bias, q->bias_bytes}};
    for (int i = 0; i < 5; i++)
        if (r[i].bytes && !kn_emu_device_range(r[i].p, r[i].bytes)) {
            kn_emu_fault("cublasLtMatmul: %s (%p, %zu bytes) is no longer device memory when the product runs",
                         r[i].what, r[i].p, r[i].bytes);
            return 0;
        }
    return 1;
}

static void run_matmul(void *args) {
    const emu_params *q = args;
    if (!still_live(q)) return;
    float *pa = malloc(sizeof(float) * (q->m * q->k + 1)), *pb = malloc(sizeof(float) * (q->n * q->k + 1));
    if (!pa || !pb) {
        free(pa), free(pb);
        kn_emu_fault("cublasLtMatmul: out of host memory packing a %llu x %llu x %llu product",
                     (unsigned long long)q->m, (unsigned long long)q->n, (unsigned long long)q->k);
        return;
    }
    for (uint64_t i = 0; i < q->m; i++)
        for (uint64_t p = 0; p < q->k; p++) pa[i * q->k + p] = op_a(q, i, p);
    for (uint64_t j = 0; j < q->n; j++)
        for (uint64_t p = 0; p < q->k; p++) pb[j * q->k + p] = op_b(q, p, j);
    for (uint64_t j = 0; j < q->n; j++)
        for (uint64_t i = 0; i < q->m; i++) one_element(q, pa, pb, i, j);
    free(pa), free(pb);
    if (q->bias_kind == BIAS_GRAD_A || q->bias_kind == BIAS_GRAD_B) bias_gradient(q);
}

/* ------------------------------------------------------------------------------------ */
/* cublasLtMatmul                                                                         */
/* ------------------------------------------------------------------------------------ */

/* Bytes a column-major layout spans: (cols - 1) * ld + rows elements. */
static size_t span_bytes(const emu_layout *l) {
    if (!l->rows || !l->cols) return 0;
    return (size_t)((l->cols - 1) * (uint64_t)l->ld + l->rows) * type_size(l->type);
}

/* The fp8-only attributes: "If set for an unsupported matrix data, scale, and compute type
 * combination, calling cublasLtMatmul() will return CUBLAS_INVALID_VALUE." */
static int fp8_only_attrs_unset(const emu_desc *d) {
    const int ptrs[] = {CUBLASLT_MATMUL_DESC_A_SCALE_POINTER,           CUBLASLT_MATMUL_DESC_B_SCALE_POINTER,
                        CUBLASLT_MATMUL_DESC_C_SCALE_POINTER,           CUBLASLT_MATMUL_DESC_D_SCALE_POINTER,
                        CUBLASLT_MATMUL_DESC_AMAX_D_POINTER,            CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_POINTER,
                        CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_AMAX_POINTER, CUBLASLT_MATMUL_DESC_D_OUT_SCALE_POINTER};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        if (get_ptr(d->v[ptrs[i]])) return 0;
    return get_i32(d->v[CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE]) == -1;
}

/* Each pointer the product reads or writes must lie in one live cudaMalloc allocation over
 * all the bytes its layout spans. */
static int device_ok(const char *what, const void *p, size_t bytes) {
    if (!bytes || kn_emu_device_range(p, bytes)) return 1;
    say("cublasLtMatmul: %s (%p, %zu bytes as its layout spans) is not inside one live device allocation", what, p,
        bytes);
    return 0;
}

/* The alignment the algorithm was chosen for (its data[]) against the actual pointer. */
static int aligned_as_promised(const char *what, const void *p, uint64_t promised) {
    if (!p || align_of(p) >= promised || align_of(p) == 256) return 1;
    say("cublasLtMatmul: %s at %p is %u-byte aligned, but the algorithm was chosen for %llu-byte alignment "
        "(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_* / the bias pointer given to the heuristic)",
        what, p, align_of(p), (unsigned long long)promised);
    return 0;
}

static cublasStatus_t check_algo(const cublasLtMatmulAlgo_t *algo, const emu_problem *p, const void *A,
                                 const void *B, const void *C, const void *D) {
    if (!algo) return CUBLAS_STATUS_SUCCESS; /* NULL: "an implicit heuristics query" for these pointers */
    if (algo->data[0] != MAGIC_ALGO || algo->data[6] != fingerprint(p)) {
        say("cublasLtMatmul: the algorithm was not returned by the heuristic for this problem's types and epilogue");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    int ok = aligned_as_promised("A", A, algo->data[1]) && aligned_as_promised("B", B, algo->data[2]) &&
             aligned_as_promised("C", C, algo->data[3]) && aligned_as_promised("D", D, algo->data[4]) &&
             (p->bias_kind == BIAS_NONE || aligned_as_promised("bias", p->bias, algo->data[5]));
    return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

/* In place (C == D) the two must be one layout (same ld and type: the product reads C
 * where it writes D). */
static int in_place_ok(const emu_problem *p, const void *C, const void *D) {
    if (C != D) return 1;
    return p->c.ld == p->d.ld && p->c.type == p->d.type;
}

static void fill_params(emu_params *q, const emu_problem *p, float alpha, float beta, const void *A, const void *B,
                        const void *C, void *D) {
    memset(q, 0, sizeof *q);
    q->m = p->m, q->n = p->n, q->k = p->k, q->ta = p->ta, q->tb = p->tb;
    q->abtype = p->a.type, q->dtype = p->d.type, q->bias_type = p->btype_bias;
    q->bias_kind = p->bias_kind, q->act = p->act;
    q->A = A, q->B = B, q->C = beta != 0.0f ? C : NULL, q->D = D, q->bias = (void *)(uintptr_t)p->bias;
    q->lda = p->a.ld, q->ldb = p->b.ld, q->ldc = p->c.ld, q->ldd = p->d.ld;
    q->a_bytes = p->k ? span_bytes(&p->a) : 0, q->b_bytes = p->k ? span_bytes(&p->b) : 0;
    q->c_bytes = beta != 0.0f ? span_bytes(&p->c) : 0, q->d_bytes = span_bytes(&p->d);
    uint64_t blen = p->bias_kind == BIAS_NONE ? 0 : p->bias_kind == BIAS_GRAD_B ? p->n : p->m;
    q->bias_bytes = (size_t)blen * type_size(p->btype_bias);
    q->alpha = alpha, q->beta = beta;
}

static int pointers_present(const emu_params *q, const void *C) {
    if ((q->a_bytes && !q->A) || (q->b_bytes && !q->B) || (q->d_bytes && !q->D) || (q->beta != 0.0f && !C) ||
        (q->bias_bytes && !q->bias)) {
        say("cublasLtMatmul: a NULL pointer where the product needs memory (A %p, B %p, C %p, D %p, bias %p)", q->A,
            q->B, C, q->D, q->bias);
        return 0;
    }
    return 1;
}

static int params_in_device_memory(const emu_params *q) {
    return device_ok("A", q->A, q->a_bytes) && device_ok("B", q->B, q->b_bytes) && device_ok("C", q->C, q->c_bytes) &&
           device_ok("D", q->D, q->d_bytes) && device_ok("bias", q->bias, q->bias_bytes);
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void *alpha,
                              const void *A, cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc,
                              const void *beta, const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo, void *workspace,
                              size_t workspaceSizeInBytes, cudaStream_t stream) {
    (void)workspace, (void)workspaceSizeInBytes; /* the algorithm needs no workspace (workspaceSize 0) */
    if (!handle_ok(lightHandle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    const emu_desc *d = as_desc(computeDesc);
    const emu_layout *a = as_layout(Adesc), *b = as_layout(Bdesc), *c = as_layout(Cdesc), *dl = as_layout(Ddesc);
    if (!d || !a || !b || !c || !dl || !alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    emu_problem p;
    cublasStatus_t s = build_problem(d, a, b, c, dl, &p);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    if (!fp8_only_attrs_unset(d)) {
        say("cublasLtMatmul: an fp8-only attribute (a scale / amax pointer, the aux data type) is set");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (!in_place_ok(&p, C, D)) {
        say("cublasLtMatmul: C == D (in place) with different C and D layouts");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    float al, be; /* scale type CUDA_R_32F, pointer mode HOST: read now */
    memcpy(&al, alpha, sizeof al);
    memcpy(&be, beta, sizeof be);
    emu_params q;
    fill_params(&q, &p, al, be, A, B, C, D);
    if (!pointers_present(&q, C)) return CUBLAS_STATUS_INVALID_VALUE;
    s = check_algo(algo, &p, A, B, be != 0.0f ? C : NULL, D);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    if (!params_in_device_memory(&q)) return CUBLAS_STATUS_INVALID_VALUE;
    if (!q.m || !q.n) return CUBLAS_STATUS_SUCCESS; /* nothing to write */
    if (kn_emu_enqueue_host(stream, "cublasLtMatmul", run_matmul, &q, sizeof q) != cudaSuccess)
        return CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------ */
/* Status strings                                                                         */
/* ------------------------------------------------------------------------------------ */

const char *cublasLtGetStatusString(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS (the operation completed successfully)";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED (the library was not initialized)";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED (the resource allocation failed)";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE (an invalid numeric value was used as an argument)";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH (an absent device architectural feature is required)";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR (an access to GPU memory space failed)";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED (the GPU program failed to execute)";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR (an internal operation failed)";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED (the functionality requested is not supported)";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR (the functionality requested requires some license)";
    default: return "CUBLAS_STATUS_UNKNOWN (an unknown status)";
    }
}
