/* ctx.c — the context: thread count, seed, logger, allocator hook and the last error.
 * Everything kiln would otherwise keep in globals lives here. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

static void *default_alloc(void *user, size_t size, size_t align) {
    (void)user;
    void *p = NULL;
    if (size == 0) size = align;
    if (posix_memalign(&p, align, size) != 0) return NULL;
    return p;
}

static void default_free(void *user, void *ptr) {
    (void)user;
    free(ptr);
}

static int online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

kn_status kn_ctx_new(const kn_ctx_opts *opts, kn_ctx **out) {
    if (!out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    kn_ctx_opts o = opts ? *opts : (kn_ctx_opts){0};
    if (o.threads < 0 || (unsigned)o.device >= KN_DEVICE_COUNT) return KN_ERR_INVALID_ARGUMENT;
    kn_allocator a = {default_alloc, default_free, NULL};
    if (o.allocator) {
        if (!o.allocator->alloc || !o.allocator->free) return KN_ERR_INVALID_ARGUMENT;
        a = *o.allocator;
    }
    kn_ctx *ctx = a.alloc(a.user, sizeof *ctx, KN_ALIGN);
    if (!ctx) return KN_ERR_OUT_OF_MEMORY;
    memset(ctx, 0, sizeof *ctx);
    ctx->allocator = a;
    ctx->threads = o.threads ? o.threads : online_cores();
    ctx->seed = o.seed;
    ctx->device = o.device;
    const char *prof = getenv("KILN_PROFILE");
    ctx->profile = prof && *prof && strcmp(prof, "0") != 0;
    ctx->log = o.log;
    ctx->log_user = o.log_user;
    ctx->log_level = o.log_level ? o.log_level : KN_LOG_INFO;
    ctx->test_hook = o.test_hook;
    ctx->test_hook_user = o.test_hook_user;
    *out = ctx;
    return KN_OK;
}

void kn_ctx_free(kn_ctx *ctx) {
    if (!ctx) return;
    kn_allocator a = ctx->allocator;
    a.free(a.user, ctx);
}

const char *kn_last_error(const kn_ctx *ctx) { return ctx ? ctx->error : ""; }
int kn_ctx_threads(const kn_ctx *ctx) { return ctx->threads; }
uint64_t kn_ctx_seed(const kn_ctx *ctx) { return ctx->seed; }
void kn_ctx_set_log_stream_stderr(kn_ctx *ctx, bool to_stderr) { ctx->log_to_stderr = to_stderr; }

kn_status kn__error(kn_ctx *ctx, kn_status status, const char *fmt, ...) {
    if (!ctx) return status;
    ctx->error_shared = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
    /* One line, always: a message is printed as-is by the CLI. */
    for (char *c = ctx->error; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    return status;
}

/* The default logger: finished lines and progress to stdout (or stderr in --json mode);
 * progress is redrawn in place on a terminal and dropped otherwise. */
static void default_log(kn_ctx *ctx, kn_log_level level, const char *msg) {
    FILE *f = (level >= KN_LOG_WARN || ctx->log_to_stderr) ? stderr : stdout;
    bool tty = isatty(fileno(f));
    if (level == KN_LOG_PROGRESS) {
        if (!tty) return;
        fprintf(f, "\r%s\033[K", msg);
        fflush(f);
        ctx->progress_open = true;
        return;
    }
    if (ctx->progress_open && tty) fputs("\r\033[K", f);
    ctx->progress_open = false;
    fprintf(f, "%s%s\n", level == KN_LOG_WARN ? "warning: " : "", msg);
    fflush(f);
}

void kn__log(kn_ctx *ctx, kn_log_level level, const char *fmt, ...) {
    if (!ctx || level < ctx->log_level) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ctx->log) ctx->log(ctx->log_user, level, buf);
    else default_log(ctx, level, buf);
}

void *kn__alloc(kn_ctx *ctx, size_t size) {
    return ctx->allocator.alloc(ctx->allocator.user, size ? size : 1, KN_ALIGN);
}

void *kn__calloc(kn_ctx *ctx, size_t count, size_t size) {
    size_t total;
    if (!kn__mul_size(count, size, &total)) return NULL;
    void *p = kn__alloc(ctx, total);
    if (p) memset(p, 0, total ? total : 1);
    return p;
}

void kn__advise_huge(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20, a = ((uintptr_t)p + huge - 1) & ~(huge - 1),
                    b = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (bytes >= 2 * huge && b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

void kn__free(kn_ctx *ctx, void *ptr) {
    if (ptr) ctx->allocator.free(ctx->allocator.user, ptr);
}

void kn_free(kn_ctx *ctx, void *ptr) {
    if (ctx) kn__free(ctx, ptr);
}

char *kn__strdup(kn_ctx *ctx, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = kn__alloc(ctx, n);
    if (p) memcpy(p, s, n);
    return p;
}

bool kn__all_finite(const float *x, size_t n) {
    size_t i = 0;
#if defined(__AVX2__)
    /* 32 floats a step: the exponent bits all ones (an infinity or a NaN) compare equal */
    const __m256i exp_mask = _mm256_set1_epi32(0x7f800000);
    __m256i bad = _mm256_setzero_si256();
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i + 8 * k)), exp_mask);
            bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(v, exp_mask));
        }
    if (!_mm256_testz_si256(bad, bad)) return false;
#endif
    uint32_t tail = 0;
    for (; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        tail |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return !tail;
}

double kn__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
