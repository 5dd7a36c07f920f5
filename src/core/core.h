/* core.h — internal helpers shared by every part of libkiln: the context's contents,
 * error reporting, allocation through the context's allocator, logging, the counter RNG.
 * Not installed; callers outside src/ use kiln.h. */
#ifndef KN_CORE_H
#define KN_CORE_H

#include "kiln.h"

#include <stdarg.h>
#include <stdio.h>

#define KN_ALIGN 64
#define KN_ERROR_CAP 2048 /* the longest: an unknown layer type, with every type kiln knows */

struct kn_ctx {
    int threads;
    uint64_t seed;
    kn_log_fn log;
    void *log_user;
    kn_log_level log_level;
    bool log_to_stderr;       /* default logger: INFO/PROGRESS to stderr instead of stdout */
    bool progress_open;       /* default logger: a PROGRESS line is on screen, unterminated */
    kn_allocator allocator;
    bool has_allocator;
    void (*test_hook)(void *user, const char *point);
    void *test_hook_user;
    kn_device device;         /* graphs' default device (kn_ctx_opts.device) */
    bool profile;             /* KILN_PROFILE set: graphs time their nodes (graph/profile.c) */
    char error[KN_ERROR_CAP];
    bool error_shared;        /* every rank of a distributed fit returned this error (dist.c) */
};

/* Records a formatted message as the context's last error and returns status.
 * Usage: return kn__error(ctx, KN_ERR_FORMAT, "%s: bad magic %u", path, magic); */
kn_status kn__error(kn_ctx *ctx, kn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs one line through the context's logger. */
void kn__log(kn_ctx *ctx, kn_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocation through the context's allocator: 64-byte aligned; NULL on failure (the caller
 * reports KN_ERR_OUT_OF_MEMORY). kn__calloc zeroes. kn__free(ctx, NULL) is a no-op. */
void *kn__alloc(kn_ctx *ctx, size_t size);
void *kn__calloc(kn_ctx *ctx, size_t count, size_t size);
/* Asks the kernel to back the 2 MB-aligned interior of [p, p + bytes) with huge pages (Linux's
 * madvise(MADV_HUGEPAGE), for transparent huge pages in "madvise" mode; nothing elsewhere or
 * for blocks under 4 MB): one fault a 2 MB page instead of 512 on a large block filled
 * piecewise (the SVM's kernel-row cache). Only a hint: nothing changes if it is refused. */
void kn__advise_huge(void *p, size_t bytes);
void kn__free(kn_ctx *ctx, void *ptr);
/* Duplicates a string through the allocator (NULL in, NULL out). */
char *kn__strdup(kn_ctx *ctx, const char *s);

/* Overflow-checked size arithmetic: false when a*b (or a+b) does not fit. */
static inline bool kn__mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool kn__add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* Counter-based RNG: a pure function of (seed, stream, counter), so results do not depend
 * on thread count or call order. The mixer is splitmix64's finalizer: once over
 * (seed, stream) to give a key, twice per draw. Inline so that loops drawing many numbers
 * under one key (dropout) hoist the key and overlap the draws. */
static inline uint64_t kn__mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline uint64_t kn__rng_key(uint64_t seed, uint64_t stream) {
    return kn__mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
}
/* Draw `counter` under a key from kn__rng_key: kn__rng_u64(seed, stream, counter) ==
 * kn__rng_draw(kn__rng_key(seed, stream), counter). */
static inline uint64_t kn__rng_draw(uint64_t key, uint64_t counter) {
    return kn__mix64(key ^ kn__mix64(counter + 0x632be59bd9b4e019ULL));
}
static inline uint64_t kn__rng_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
    return kn__rng_draw(kn__rng_key(seed, stream), counter);
}
/* Uniform in [0, 1) with 24 random bits. */
static inline float kn__rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
    return (float)(kn__rng_u64(seed, stream, counter) >> 40) * (1.0f / 16777216.0f);
}
/* Fisher-Yates shuffle of idx[0..n) keyed by (seed, stream). */
void kn__rng_shuffle(int64_t *idx, int64_t n, uint64_t seed, uint64_t stream);

/* Sets the activation of a model's last layer (nn/model.c; for descriptions that leave it
 * to the loss). */
void kn__model_set_last_activation(kn_model *m, kn_activation a);
/* "a, b, c": n names (n < 0: up to a NULL), comma-separated, into buf, cut short where it
 * is full (vocab.c; for error messages). */
void kn__join_names(const char *const *names, int n, char *buf, size_t size);
/* Every activation's (loss's, optimizer's) name, comma-separated, into buf (vocab.c; for error messages). */
void kn__activation_list(char *buf, size_t size);
void kn__loss_list(char *buf, size_t size);
void kn__optimizer_list(char *buf, size_t size);

/* A named point where a test may stop the process (kn_ctx_opts.test_hook): crash-safety
 * tests kill kiln at each one and check what is left on disk. */
static inline void kn__test_point(kn_ctx *ctx, const char *point) {
    if (ctx && ctx->test_hook) ctx->test_hook(ctx->test_hook_user, point);
}

/* Reads a whole regular file of at most max_bytes into *out (kn__alloc'd; the caller
 * frees it); errors name the file (core/file.c). */
kn_status kn__read_file(kn_ctx *ctx, const char *path, uint64_t max_bytes, uint8_t **out, size_t *len);

/* XXH3-64 of n bytes: the model file's checksum (io/checksum.c). */
uint64_t kn__checksum(const void *data, size_t n);
/* The same over several buffers taken as one. */
uint64_t kn__checksum_parts(const void *const *parts, const size_t *sizes, int n);

/* Monotonic wall clock in seconds. */
double kn__now(void);
/* No NaN or infinity among x[0..n) (checks the exponent bits, so it vectorizes). */
bool kn__all_finite(const float *x, size_t n);

/* RNG streams: distinct purposes never share a stream. */
enum { KN_STREAM_INIT = 1, KN_STREAM_SHUFFLE = 1000, KN_STREAM_SPLIT = 2000,
       KN_STREAM_DROPOUT = 1 << 21 /* and + 1: above augmentation's 1 << 20 + epoch */ };

#endif
