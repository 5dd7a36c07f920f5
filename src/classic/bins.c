/* bins.c — features binned once for the histogram split search of trees and forests. A
 * column of at most max_bins distinct values (found with a small hash set) gets a bin per
 * value; any other is sorted (an LSD radix sort of the float bits with row indices), edges
 * placed at quantiles, and each row's bin read off the sorted order. Also the smallest and
 * largest value of each bin, between which tree.c places thresholds as scikit-learn does.
 * Columns are read a block of features at a time, row by row, and the codes written back
 * row-major (n, d). */
#include "classic/tree.h"
#include "core/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* float -> unsigned key with the same order (-0 folded onto +0 first). */
static inline uint32_t float_key(float v) {
    uint32_t u;
    if (v == 0.0f) v = 0.0f;
    memcpy(&u, &v, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float key_float(uint32_t k) {
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* The largest float <= the midpoint of a < b (scikit-learn's threshold a/2 + b/2, taken in
 * double, rounded down so that float x <= result exactly when x <= the double midpoint). */
float kn__tree_midpoint(float a, float b) {
    double m = (double)a / 2.0 + (double)b / 2.0;
    float f = (float)m;
    if ((double)f > m) f = nextafterf(f, -INFINITY);
    if (f < a) f = a; /* cannot happen for finite a < b; kept as a guard */
    return f;
}

#define MAX_BLOCK 64 /* features transposed together: four 64-byte lines of a row of x */
#define BLOCK_BYTES ((size_t)32 << 20) /* a chunk's key columns stay within this when n is large */

typedef struct {
    const float *x;
    const int64_t *rows; /* (n) the rows of x to bin, or NULL: all */
    int64_t n, d;
    int max_bins;
    int n_chunks, block;
    size_t per_chunk;   /* bytes of scratch per chunk */
    uint8_t *scratch;   /* (n_chunks, per_chunk) */
    kn__bins *out;
} bin_job;

/* Sorts keys (with rows) ascending; returns the buffer that holds the result (a or b). */
static uint32_t *radix_sort(uint32_t *ka, int32_t *ra, uint32_t *kb, int32_t *rb, int64_t n, int32_t **rows_out) {
    enum { BITS = 11, B = 1 << BITS };
    uint32_t count[3][B] = {{0}};
    for (int64_t i = 0; i < n; i++) {
        uint32_t k = ka[i];
        count[0][k & (B - 1)]++;
        count[1][(k >> BITS) & (B - 1)]++;
        count[2][k >> (2 * BITS)]++;
    }
    for (int pass = 0; pass < 3; pass++) {
        uint32_t *c = count[pass];
        int shift = pass * BITS;
        /* a pass where every key falls in one bucket changes nothing */
        uint32_t first = (uint32_t)((ka[0] >> shift) & (B - 1));
        if (c[first] == (uint32_t)n) continue;
        uint32_t sum = 0;
        for (int b = 0; b < B; b++) {
            uint32_t t = c[b];
            c[b] = sum;
            sum += t;
        }
        for (int64_t i = 0; i < n; i++) {
            uint32_t k = ka[i];
            uint32_t pos = c[(k >> shift) & (B - 1)]++;
            kb[pos] = k;
            rb[pos] = ra[i];
        }
        uint32_t *tk = ka;
        ka = kb;
        kb = tk;
        int32_t *tr = ra;
        ra = rb;
        rb = tr;
    }
    *rows_out = ra;
    return ka;
}

static int cmp_key(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The common case of few distinct values (pixels, counts, categories), without a sort: the
 * values go into an open-addressing set (key 0 marks an empty slot: no finite float has it);
 * false, with nothing written, as soon as there are more than max_bins. */
static bool bin_few(bin_job *job, int64_t j, const uint32_t *keys, uint8_t *codes, int stride) {
    enum { SLOTS = 4096, SHIFT = 20 }; /* mostly one probe */
    uint32_t slot_key[SLOTS] = {0};
    uint8_t slot_code[SLOTS];
    uint32_t distinct[256];
    int nd = 0;
    const int64_t n = job->n;
    for (int64_t i = 0; i < n; i++) {
        uint32_t k = keys[i];
        uint32_t h = (k * 0x9e3779b1u) >> SHIFT;
        while (slot_key[h] && slot_key[h] != k) h = (h + 1) & (SLOTS - 1);
        if (slot_key[h]) continue;
        if (nd == job->max_bins) return false;
        slot_key[h] = k;
        distinct[nd++] = k;
    }
    qsort(distinct, (size_t)nd, sizeof *distinct, cmp_key);
    kn__bins *o = job->out;
    float *edges = o->edges + j * 255, *lower = o->lower + j * 256, *upper = o->upper + j * 256;
    for (int b = 0; b < nd; b++) {
        uint32_t h = (distinct[b] * 0x9e3779b1u) >> SHIFT;
        while (slot_key[h] != distinct[b]) h = (h + 1) & (SLOTS - 1);
        slot_code[h] = (uint8_t)b;
        lower[b] = upper[b] = key_float(distinct[b]);
        if (b > 0) edges[b - 1] = kn__tree_midpoint(key_float(distinct[b - 1]), key_float(distinct[b]));
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t k = keys[i];
        uint32_t h = (k * 0x9e3779b1u) >> SHIFT;
        while (slot_key[h] != k) h = (h + 1) & (SLOTS - 1);
        codes[(size_t)i * stride] = slot_code[h];
    }
    o->n_bins[j] = nd;
    return true;
}

/* Bins feature j from its keys ka (n, unsorted); writes its codes to codes[i * stride]. */
static void bin_feature(bin_job *job, int64_t j, uint32_t *ka, int32_t *ra, uint32_t *kb, int32_t *rb, uint8_t *codes,
                        int stride) {
    const int64_t n = job->n;
    kn__bins *o = job->out;
    float *edges = o->edges + j * 255, *lower = o->lower + j * 256, *upper = o->upper + j * 256;
    for (int b = 0; b < 255; b++) edges[b] = INFINITY;
    for (int b = 0; b < 256; b++) lower[b] = upper[b] = 0.0f;
    if (bin_few(job, j, ka, codes, stride)) return;
    for (int64_t i = 0; i < n; i++) ra[i] = (int32_t)i;
    int32_t *rows;
    uint32_t *keys = radix_sort(ka, ra, kb, rb, n, &rows);
    /* more than max_bins distinct values: quantile edges: numpy.percentile(col, linspace(0, 100, max_bins + 1)[1:-1], method="midpoint") */
    float q[256];
    int nq = 0;
    for (int i = 1; i < job->max_bins; i++) {
        double p = (100.0 * i / job->max_bins) / 100.0;
        double vi = p * (double)(n - 1);
        int64_t lo = (int64_t)floor(vi);
        if (lo > n - 1) lo = n - 1;
        double v = key_float(keys[lo]);
        if (vi != (double)lo && lo + 1 < n) v = ((double)key_float(keys[lo]) + (double)key_float(keys[lo + 1])) * 0.5;
        float e = (float)v;
        if (nq == 0 || e > q[nq - 1]) q[nq++] = e; /* duplicates merged */
    }
    /* walk the sorted values through the edges: a value's raw bin is the count of edges
     * below it; raw bins that get no value are dropped, and the edge kept between two kept
     * bins is the one just above the lower bin: scikit-learn's threshold for a split between
     * them (its scan passes over the empty bins and keeps the first of equal gains) */
    int b = -1, raw_prev = -1, e = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = key_float(keys[i]);
        while (e < nq && v > q[e]) e++;
        if (e != raw_prev) {
            if (b >= 0) edges[b] = q[raw_prev];
            lower[++b] = v;
            raw_prev = e;
        }
        upper[b] = v;
        codes[(size_t)rows[i] * stride] = (uint8_t)b;
    }
    o->n_bins[j] = b + 1;
}

/* Chunk c bins the blocks of `block` features c, c + n_chunks, ...: the block's keys are read
 * row by row (x's lines in order), each feature sorted and binned, and the codes written back
 * row by row. */
static void bin_chunk(void *args, int64_t chunk) {
    bin_job *job = args;
    const int64_t n = job->n, d = job->d;
    uint8_t *s = job->scratch + (size_t)chunk * job->per_chunk;
    const int block = job->block;
    uint32_t *keys = (uint32_t *)s, *kb = keys + (size_t)block * n;
    int32_t *ra = (int32_t *)(kb + n), *rb = ra + n;
    uint8_t *codes = (uint8_t *)(rb + n); /* (n, block) */
    for (int64_t j0 = chunk * block; j0 < d; j0 += (int64_t)job->n_chunks * block) {
        int nb = d - j0 < block ? (int)(d - j0) : block;
        /* rows of x are far apart: fetch ahead, the hardware will not cross the pages */
        const int64_t *rows = job->rows;
        for (int64_t i = 0; i < n; i++) {
            const float *row = job->x + (rows ? rows[i] : i) * d + j0;
            if (i + 8 < n)
                for (int b = 0; b < nb; b += 16) __builtin_prefetch(job->x + (rows ? rows[i + 8] : i + 8) * d + j0 + b);
            for (int b = 0; b < nb; b++) keys[(size_t)b * n + i] = float_key(row[b]);
        }
        for (int b = 0; b < nb; b++) bin_feature(job, j0 + b, keys + (size_t)b * n, ra, kb, rb, codes + b, block);
        for (int64_t i = 0; i < n; i++) memcpy(job->out->codes + i * d + j0, codes + i * block, (size_t)nb);
    }
}

kn_status kn__bins_build(kn_ctx *ctx, const float *x, int64_t n, int64_t d, int max_bins, kn__bins *out) {
    return kn__bins_build_rows(ctx, x, NULL, n, d, max_bins, out);
}

kn_status kn__bins_build_rows(kn_ctx *ctx, const float *x, const int64_t *rows, int64_t n, int64_t d, int max_bins, kn__bins *out) {
    if (!ctx) return KN_ERR_INVALID_ARGUMENT;
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "bins: NULL output");
    memset(out, 0, sizeof *out);
    if (!x) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "bins: NULL x");
    if (n < 1 || d < 1 || n >= INT32_MAX)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "bins: %lld rows x %lld features (need 1 <= rows < 2^31, features >= 1)",
                         (long long)n, (long long)d);
    if (max_bins < 2 || max_bins > 256)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "bins: max_bins %d must be in [2, 256]", max_bins);
    size_t nd;
    if (!kn__mul_size((size_t)n, (size_t)d, &nd))
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "bins: %lld x %lld too large", (long long)n, (long long)d);
    for (int64_t i = 0; i < (rows ? n : 1); i++) { /* the rows given, or x whole */
        const float *r = rows ? x + rows[i] * d : x;
        size_t len = rows ? (size_t)d : nd;
        if (kn__all_finite(r, len)) continue;
        for (size_t k = 0; k < len; k++)
            if (!isfinite(r[k]))
                return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "bins: x[%lld][%lld] is %g (values must be finite)",
                                 (long long)(rows ? rows[i] : (int64_t)(k / (size_t)d)), (long long)(k % (size_t)d), (double)r[k]);
    }
    int threads = kn_ctx_threads(ctx);
    int block = (int)(BLOCK_BYTES / ((size_t)n * sizeof(uint32_t)));
    block = block > MAX_BLOCK ? MAX_BLOCK : block < 1 ? 1 : block;
    int64_t blocks = (d + block - 1) / block;
    int n_chunks = threads < 1 ? 1 : threads;
    if (n_chunks > blocks) n_chunks = (int)blocks;
    if (n * d < 50000) n_chunks = 1; /* not worth waking workers */
    out->n = n;
    out->d = d;
    out->codes = kn__alloc(ctx, nd);
    out->edges = kn__alloc(ctx, (size_t)d * 255 * sizeof(float));
    out->lower = kn__alloc(ctx, (size_t)d * 256 * sizeof(float));
    out->upper = kn__alloc(ctx, (size_t)d * 256 * sizeof(float));
    out->n_bins = kn__alloc(ctx, (size_t)d * sizeof(int));
    bin_job job = {.x = x, .rows = rows, .n = n, .d = d, .max_bins = max_bins, .n_chunks = n_chunks, .block = block, .out = out};
    /* per chunk: block + 1 key columns, 2 row columns, (n, block) codes */
    job.per_chunk = (size_t)n * ((size_t)(block + 1) * sizeof(uint32_t) + 2 * sizeof(int32_t) + (size_t)block);
    job.per_chunk = (job.per_chunk + 63) & ~(size_t)63;
    size_t total;
    job.scratch = kn__mul_size(job.per_chunk, (size_t)n_chunks, &total) ? kn__alloc(ctx, total) : NULL;
    if (!out->codes || !out->edges || !out->lower || !out->upper || !out->n_bins || !job.scratch) {
        kn__free(ctx, job.scratch);
        kn__bins_free(ctx, out);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "bins: out of memory for %lld x %lld values", (long long)n, (long long)d);
    }
    kn__pool_run(n_chunks > 1 ? threads : 1, n_chunks, bin_chunk, &job);
    kn__free(ctx, job.scratch);
    return KN_OK;
}

void kn__bins_free(kn_ctx *ctx, kn__bins *bins) {
    if (!bins) return;
    if (ctx) {
        kn__free(ctx, bins->codes);
        kn__free(ctx, bins->edges);
        kn__free(ctx, bins->lower);
        kn__free(ctx, bins->upper);
        kn__free(ctx, bins->n_bins);
    }
    memset(bins, 0, sizeof *bins);
}
