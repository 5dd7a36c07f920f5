/* knn.c — k-nearest neighbours, brute force (knn.h says what and how). */
#include "classic/knn.h"

#include <math.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "core/pool.h"

enum {
    Q_ROWS = 64,      /* queries a block: one parallel chunk */
    T_ROWS = 1024,    /* training rows a tile: (Q_ROWS, T_ROWS) floats = 256 KB, in L2 */
    PREDICT_ROWS = 8192, /* queries whose neighbours predict holds at once */
};

kn__knn_opts kn__knn_defaults(void) { return (kn__knn_opts){.n_neighbors = 5, .weights = KN_KNN_UNIFORM, .p = 2}; }

void kn__knn_free(kn_ctx *ctx, kn__knn *m) {
    if (!m) return;
    kn__free(ctx, m->x);
    kn__free(ctx, m->y);
    kn__free(ctx, m->t);
    kn__free(ctx, m->w);
    kn__free(ctx, m->sq);
    memset(m, 0, sizeof *m);
}

static bool euclidean(const kn__knn *m) { return m->o.p == 2; }

kn_status kn__knn_prepare(kn_ctx *ctx, kn__knn *m) {
    kn__free(ctx, m->sq);
    m->sq = kn__alloc(ctx, (size_t)(m->n ? m->n : 1) * sizeof *m->sq);
    if (!m->sq) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "k_nearest_neighbors: out of memory");
    for (int64_t i = 0; i < m->n; i++) {
        const float *r = m->x + i * m->d;
        double s = 0;
        for (int64_t j = 0; j < m->d; j++) s += (double)r[j] * r[j];
        m->sq[i] = (float)s;
    }
    return KN_OK;
}

kn_status kn__knn_fit(kn_ctx *ctx, const kn__xy *xy, const kn__knn_opts *o, kn__knn *out) {
    memset(out, 0, sizeof *out);
    if (!xy || !xy->x || xy->n < 1 || xy->d < 1 || (!xy->y && !xy->t) || (xy->y && xy->n_classes < 2))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors: no training data");
    if (o->n_neighbors < 1) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors.n_neighbors: %d must be >= 1", o->n_neighbors);
    if (!(o->p >= 1)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors.p: %g must be >= 1", o->p);
    const int64_t d = xy->d;
    int64_t kept = 0;
    bool weighted = false;
    for (int64_t i = 0; i < xy->n; i++) {
        const float w = xy->w ? xy->w[i] : 1.0f;
        if (!(w >= 0) || !isfinite(w)) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors: row %lld has weight %g", (long long)i, w);
        kept += w > 0;
        weighted |= w != 1.0f;
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(xy->x[i * d + j]))
                return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors: row %lld, feature %lld is not finite", (long long)i,
                                 (long long)j);
    }
    if (kept < o->n_neighbors)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors.n_neighbors: %d neighbours, but only %lld training rows%s",
                         o->n_neighbors, (long long)kept, kept < xy->n ? " of positive weight" : "");
    out->o = *o;
    out->n = kept;
    out->d = d;
    out->n_classes = xy->y ? xy->n_classes : 0;
    out->x = kn__alloc(ctx, (size_t)kept * (size_t)d * sizeof *out->x);
    if (xy->y) out->y = kn__alloc(ctx, (size_t)kept * sizeof *out->y);
    else out->t = kn__alloc(ctx, (size_t)kept * sizeof *out->t);
    if (weighted) out->w = kn__alloc(ctx, (size_t)kept * sizeof *out->w);
    if (!out->x || (xy->y ? !out->y : !out->t) || (weighted && !out->w)) {
        kn__knn_free(ctx, out);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "k_nearest_neighbors: out of memory");
    }
    /* the copy faults in every page of a block the size of the data (188 MB for Fashion-MNIST);
     * 2 MB pages take 512x fewer faults: that fit 0.79-0.86 s -> 0.61-0.73 s on a 2-core VM */
    kn__advise_huge(out->x, (size_t)kept * (size_t)d * sizeof *out->x);
    for (int64_t i = 0, r = 0; i < xy->n; i++) {
        const float w = xy->w ? xy->w[i] : 1.0f;
        if (w == 0) continue;
        memcpy(out->x + r * d, xy->x + i * d, (size_t)d * sizeof *out->x);
        if (out->y) {
            if (xy->y[i] < 0 || xy->y[i] >= xy->n_classes) {
                kn__knn_free(ctx, out);
                return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors: row %lld has label %d of %d classes", (long long)i,
                                 xy->y[i], xy->n_classes);
            }
            out->y[r] = xy->y[i];
        } else {
            out->t[r] = xy->t[i];
        }
        if (out->w) out->w[r] = w;
        r++;
    }
    kn_status st = kn__knn_prepare(ctx, out);
    if (st) kn__knn_free(ctx, out);
    return st;
}

/* ---------------------------------------------------------------- the neighbour search */

/* The exact distance of a query to a training row, in the metric's own order: the sum of
 * squares (euclidean), of |differences| ^ p, or the largest |difference| (chebyshev). */
static double exact_key(const kn__knn *m, const float *q, const float *x) {
    const double p = m->o.p;
    double s = 0;
    if (p == 2) {
        for (int64_t j = 0; j < m->d; j++) s += ((double)q[j] - x[j]) * ((double)q[j] - x[j]);
    } else if (p == 1) {
        for (int64_t j = 0; j < m->d; j++) s += fabs((double)q[j] - x[j]);
    } else if (isinf(p)) {
        for (int64_t j = 0; j < m->d; j++) s = fmax(s, fabs((double)q[j] - x[j]));
    } else {
        for (int64_t j = 0; j < m->d; j++) s += pow(fabs((double)q[j] - x[j]), p);
    }
    return s;
}

static double key_to_distance(const kn__knn *m, double key) {
    const double p = m->o.p;
    return p == 2 ? sqrt(key) : p == 1 || isinf(p) ? key : pow(key, 1.0 / p);
}

/* A query's candidates: the `cap` best so far, ascending by (key, row). */
typedef struct {
    double *key;
    int64_t *row;
    int count, cap;
} cand_list;

/* Rows arrive in increasing order, so a later row with an equal key never displaces one
 * kept: only a strictly smaller key gets in. */
static inline void cand_offer(cand_list *c, double key, int64_t row) {
    if (c->count == c->cap && !(key < c->key[c->count - 1])) return;
    int i = c->count < c->cap ? c->count++ : c->count - 1;
    while (i > 0 && (c->key[i - 1] > key || (c->key[i - 1] == key && c->row[i - 1] > row))) {
        c->key[i] = c->key[i - 1];
        c->row[i] = c->row[i - 1];
        i--;
    }
    c->key[i] = key;
    c->row[i] = row;
}

typedef struct {
    const kn__knn *m;
    const float *x;
    int64_t n, blocks;
    int cap;             /* candidates kept per query */
    double *dist;        /* (n, k) or NULL */
    int64_t *index;      /* (n, k) or NULL */
    char *scratch;       /* one slice per thread */
    size_t slice;
} search_job;

static size_t align64(size_t b) { return (b + 63) / 64 * 64; }

static size_t slice_bytes(int cap) {
    return align64((size_t)Q_ROWS * T_ROWS * sizeof(float)) + align64((size_t)Q_ROWS * sizeof(float)) +
           align64((size_t)Q_ROWS * (size_t)cap * (sizeof(double) + sizeof(int64_t)));
}

static void search_block(void *args, int64_t b) {
    const search_job *j = args;
    const kn__knn *m = j->m;
    const int64_t d = m->d, q0 = b * Q_ROWS, rows = j->n - q0 < Q_ROWS ? j->n - q0 : Q_ROWS;
    const int k = m->o.n_neighbors, cap = j->cap;
    char *mem = j->scratch + (size_t)kn__pool_slot() * j->slice;
    float *tile = (float *)mem;
    mem += align64((size_t)Q_ROWS * T_ROWS * sizeof(float));
    float *qsq = (float *)mem;
    mem += align64((size_t)Q_ROWS * sizeof(float));
    double *keys = (double *)mem;
    int64_t *cand_rows = (int64_t *)(keys + (size_t)Q_ROWS * cap);
    cand_list c[Q_ROWS];
    for (int64_t r = 0; r < rows; r++) c[r] = (cand_list){.key = keys + r * cap, .row = cand_rows + r * cap, .cap = cap};
    const float *q = j->x + q0 * d;
    if (euclidean(m)) {
        for (int64_t r = 0; r < rows; r++) {
            double s = 0;
            for (int64_t t = 0; t < d; t++) s += (double)q[r * d + t] * q[r * d + t];
            qsq[r] = (float)s;
        }
        for (int64_t t0 = 0; t0 < m->n; t0 += T_ROWS) {
            const int64_t cols = m->n - t0 < T_ROWS ? m->n - t0 : T_ROWS;
            /* (rows, d) x (cols, d)^T -> (rows, cols) */
            kn__sgemm(false, true, rows, cols, d, -2.0f, q, d, m->x + t0 * d, d, 0.0f, tile, T_ROWS, 1);
            for (int64_t r = 0; r < rows; r++) {
                const float *tr = tile + r * T_ROWS;
                for (int64_t t = 0; t < cols; t++) cand_offer(&c[r], (double)(qsq[r] + m->sq[t0 + t] + tr[t]), t0 + t);
            }
        }
        /* the estimates chose the candidates; exact distances order them */
        for (int64_t r = 0; r < rows; r++) {
            cand_list *cr = &c[r];
            for (int i = 0; i < cr->count; i++) cr->key[i] = exact_key(m, q + r * d, m->x + cr->row[i] * d);
            for (int i = 1; i < cr->count; i++) { /* insertion sort by (key, row): a few dozen entries */
                const double key = cr->key[i];
                const int64_t row = cr->row[i];
                int at = i;
                for (; at > 0 && (cr->key[at - 1] > key || (cr->key[at - 1] == key && cr->row[at - 1] > row)); at--) {
                    cr->key[at] = cr->key[at - 1];
                    cr->row[at] = cr->row[at - 1];
                }
                cr->key[at] = key;
                cr->row[at] = row;
            }
        }
    } else {
        for (int64_t t = 0; t < m->n; t++)
            for (int64_t r = 0; r < rows; r++) cand_offer(&c[r], exact_key(m, q + r * d, m->x + t * d), t);
    }
    for (int64_t r = 0; r < rows; r++)
        for (int i = 0; i < k; i++) {
            if (j->dist) j->dist[(q0 + r) * k + i] = key_to_distance(m, c[r].key[i]);
            if (j->index) j->index[(q0 + r) * k + i] = c[r].row[i];
        }
}

kn_status kn__knn_kneighbors(kn_ctx *ctx, const kn__knn *m, const float *x, int64_t n, double *dist, int64_t *index) {
    if (!m || !m->x || !m->sq) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors: not fitted");
    if (n < 1) return KN_OK;
    const int k = m->o.n_neighbors;
    int64_t cap = euclidean(m) ? (int64_t)k + KN_KNN_SPARE : k;
    if (cap > m->n) cap = m->n;
    const int64_t blocks = (n + Q_ROWS - 1) / Q_ROWS;
    int threads = kn_ctx_threads(ctx);
    if (threads < 1) threads = 1;
    if (threads > blocks) threads = (int)blocks;
    search_job j = {.m = m, .x = x, .n = n, .blocks = blocks, .cap = (int)cap, .dist = dist, .index = index,
                    .slice = slice_bytes((int)cap)};
    j.scratch = kn__alloc(ctx, j.slice * (size_t)threads);
    if (!j.scratch) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "k_nearest_neighbors: out of memory");
    kn__pool_run(threads, blocks, search_block, &j);
    kn__free(ctx, j.scratch);
    return KN_OK;
}

/* ---------------------------------------------------------------- votes and means */

/* The k neighbours' weights: the rows' own weights, times 1 / distance for "distance" (with
 * neighbours at distance 0, those alone, as scikit-learn's _get_weights). */
static void neighbour_weights(const kn__knn *m, const double *dist, const int64_t *index, double *w) {
    const int k = m->o.n_neighbors;
    bool exact = false;
    for (int i = 0; i < k; i++) exact |= dist[i] == 0;
    for (int i = 0; i < k; i++) {
        double v = m->o.weights == KN_KNN_UNIFORM ? 1 : exact ? (dist[i] == 0) : 1 / dist[i];
        w[i] = v * (m->w ? m->w[index[i]] : 1.0);
    }
}

kn_status kn__knn_predict(kn_ctx *ctx, const kn__knn *m, const float *x, int64_t n, float *out) {
    if (!m || !m->x) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "k_nearest_neighbors: not fitted");
    const int k = m->o.n_neighbors, C = m->n_classes;
    const int64_t part = n < PREDICT_ROWS ? (n > 0 ? n : 1) : PREDICT_ROWS;
    double *dist = kn__alloc(ctx, (size_t)part * (size_t)k * sizeof *dist), w[k > 0 ? k : 1];
    int64_t *index = kn__alloc(ctx, (size_t)part * (size_t)k * sizeof *index);
    double *votes = kn__alloc(ctx, (size_t)(C > 0 ? C : 1) * sizeof *votes);
    kn_status st = dist && index && votes ? KN_OK : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "k_nearest_neighbors: out of memory");
    for (int64_t p0 = 0; p0 < n && !st; p0 += part) {
        const int64_t rows = n - p0 < part ? n - p0 : part;
        if ((st = kn__knn_kneighbors(ctx, m, x + p0 * m->d, rows, dist, index))) break;
        for (int64_t r = 0; r < rows; r++) {
            const double *dr = dist + r * k;
            const int64_t *ir = index + r * k;
            neighbour_weights(m, dr, ir, w);
            double total = 0;
            if (C > 0) {
                memset(votes, 0, (size_t)C * sizeof *votes);
                for (int i = 0; i < k; i++) votes[m->y[ir[i]]] += w[i], total += w[i];
                float *o = out + (p0 + r) * C;
                for (int c = 0; c < C; c++) o[c] = (float)(votes[c] / total);
            } else {
                double s = 0;
                for (int i = 0; i < k; i++) s += w[i] * m->t[ir[i]], total += w[i];
                out[p0 + r] = (float)(s / total);
            }
        }
    }
    kn__free(ctx, dist);
    kn__free(ctx, index);
    kn__free(ctx, votes);
    return st;
}
