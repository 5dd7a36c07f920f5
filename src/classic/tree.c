/* tree.c — CART trees grown depth-first with histograms (tree.h says what is matched with
 * scikit-learn). Per node: the candidate features' histograms of (weighted) class counts or
 * target sums by bin, each scanned for the split of largest impurity decrease; rows are
 * partitioned in place, stably, so a node's rows stay in index order and their codes (x's
 * bins, row-major) are read in address order.
 *
 * Histograms come two ways. A node of >= FULL_MIN_ROWS rows when every feature is a candidate
 * (max_features = d) gets a whole-node histogram (all features, one buffer); when it splits,
 * the smaller child's histogram is built from its rows and the larger child's is the
 * parent's minus it, in the parent's buffer. The smaller child is grown first, so each
 * buffer waiting on the stack belongs to the sibling of a smaller child on the current path,
 * and these halve in size: few are alive at once (MAX_FULL_BUFFERS caps them; past it a node
 * builds its own). Every other node builds its candidates' histograms a block at a time in
 * small per-chunk buffers. The randomness (max_features draws) is keyed by (seed, the node's
 * rank in the growth order), and growth is sequential, so threads never change a tree. */
#include "classic/tree.h"
#include "core/pool.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#define FULL_MIN_ROWS 2048      /* smaller nodes build per-feature histograms */
#define MAX_FULL_BUFFERS 6      /* whole-node histograms alive at once, per tree */
#define CHUNKS_PER_THREAD 4     /* feature chunks per thread in a node's split search */
#define PAR_MIN_WORK 32768      /* rows x features below which a node's search stays on one thread */
#define XLOGX_MAX ((int64_t)1 << 22) /* largest total weight for the x log x table (32 MB) */
#define BLOCK_ROWS 2048         /* rows gathered at a time */
#define MAX_BLOCK_F 32          /* features gathered together (fewer when classes are many) */

enum { CRIT_GINI, CRIT_ENTROPY, CRIT_MSE };

/* The best split of one feature in one node. */
typedef struct {
    int32_t feature;
    int16_t bl, br;     /* the last bin going left, the first nonempty bin going right */
    bool constant;      /* the node's rows fall in one bin of this feature */
    bool valid;         /* some split leaves >= min_samples_leaf rows on each side */
    double proxy;       /* scikit-learn's proxy impurity improvement (larger is better) */
    double *left;       /* (T) the left child's totals */
} feat_best;

/* A node waiting to be grown. */
typedef struct {
    int64_t start, end; /* its rows: idx[start, end) */
    int32_t parent;     /* node id, -1 for the root */
    int depth;
    bool is_left;
    double *hist;       /* its whole-node histogram, or NULL */
} pending;

/* Totals (T doubles): classification [W, N, w_class0 .. w_class(C-1)]; regression
 * [W, N, sum w t, sum w t^2]. A histogram bin (S doubles): classification [N, w_class...];
 * regression [N, W, sum w t, sum w t^2]. W is the weight, N the row count. */
typedef struct grower {
    kn_ctx *ctx;
    pthread_mutex_t *lock;
    int64_t n, d;
    int C, S, T, crit;
    bool regression;
    const uint8_t *codes;
    const int *n_bins;
    const float *lower, *upper;
    int64_t *hoff;              /* (d) offset of each feature in a whole-node histogram */
    int64_t hsize;              /* doubles in a whole-node histogram */
    int max_depth, max_features, threads;
    int64_t mss, msl;
    uint64_t seed;
    int32_t *idx, *tmp_idx;     /* (n) rows in the sample; partition scratch */
    int32_t *ny, *tmp_y;        /* (n) labels in idx's order, or NULL */
    float *nt, *tmp_t;          /* (n) targets in idx's order, or NULL */
    float *nw, *tmp_w;          /* (n) weights in idx's order */
    int64_t n_rows;
    double *xlogx;              /* (xlogx_n) k ln k for integer weights, or NULL */
    int64_t xlogx_n;
    int32_t *perm;              /* (d) the features, shuffled by the draws */
    int32_t *cand;              /* (d) a node's candidate features */
    feat_best *res;             /* (d) their best splits */
    double *res_tot;            /* (d, T) */
    int words;                  /* uint64 words of a feature bit set */
    uint64_t *known;            /* (words) constant features of the current node */
    int n_scratch, block_f;
    size_t scratch_stride;      /* doubles per chunk: block_f (256, S) histograms, T, then
                                   block_f * BLOCK_ROWS gathered codes */
    double *scratch;            /* (n_scratch, scratch_stride) */
    double *full_free[MAX_FULL_BUFFERS];
    int n_full_free, n_full;
    pending *stack;             /* (stack_cap) */
    double *stack_tot;          /* (stack_cap, T) */
    uint64_t *stack_known;      /* (stack_cap, words) */
    int64_t sp, stack_cap;
    int64_t n_nodes, cap, node_rank;
    int32_t *feature, *left, *right, *n_samples;
    float *threshold, *value, *impurity;
    double *importance;         /* (d) */
    double *work;               /* (5, T) totals: the node, its children, the best split, the root */
    double root_w;              /* the root's weight */
} grower;

/* ------------------------------------------------------------------ allocation */

static void *galloc(grower *g, size_t size) {
    if (g->lock) pthread_mutex_lock(g->lock);
    void *p = kn__alloc(g->ctx, size);
    if (g->lock) pthread_mutex_unlock(g->lock);
    return p;
}

static void gfree(grower *g, void *p) {
    if (!p) return;
    if (g->lock) pthread_mutex_lock(g->lock);
    kn__free(g->ctx, p);
    if (g->lock) pthread_mutex_unlock(g->lock);
}

/* A buffer of want items of size holding old's first count items (old freed), or NULL
 * with old kept. */
static void *regrow(grower *g, void *old, size_t size, int64_t count, int64_t want) {
    void *p = galloc(g, size * (size_t)want);
    if (!p) return NULL;
    if (old) memcpy(p, old, size * (size_t)count);
    gfree(g, old);
    return p;
}

static double *full_get(grower *g) {
    if (g->n_full_free > 0) return g->full_free[--g->n_full_free];
    if (g->n_full >= MAX_FULL_BUFFERS) return NULL;
    double *h = galloc(g, (size_t)g->hsize * sizeof(double));
    if (h) g->n_full++;
    return h; /* NULL (out of memory) only costs speed: the node builds per-feature histograms */
}

static void full_put(grower *g, double *h) {
    if (h) g->full_free[g->n_full_free++] = h;
}

/* ------------------------------------------------------------------ impurity */

static inline double xlogx(const grower *g, double v) {
    if (g->xlogx) return g->xlogx[(int64_t)v];
    return v > 0.0 ? v * log(v) : 0.0;
}

/* scikit-learn's node impurity from totals (Gini, entropy in bits, or the variance). */
static double impurity_of(const grower *g, const double *tot) {
    double w = tot[0];
    if (g->crit == CRIT_MSE) return tot[3] / w - (tot[2] / w) * (tot[2] / w);
    const double *c = tot + 2;
    if (g->crit == CRIT_GINI) {
        double sq = 0.0;
        for (int k = 0; k < g->C; k++) sq += c[k] * c[k];
        return 1.0 - sq / (w * w);
    }
    double e = 0.0;
    for (int k = 0; k < g->C; k++)
        if (c[k] > 0.0) {
            double p = c[k] / w;
            e -= p * (log(p) / log(2.0));
        }
    return e;
}

/* The node becomes a leaf before any split is tried (scikit-learn's DepthFirstTreeBuilder). */
static bool leaf_before_search(const grower *g, int depth, int64_t rows, double impurity) {
    return depth >= g->max_depth || rows < g->mss || rows < 2 * g->msl || impurity <= DBL_EPSILON;
}

/* ------------------------------------------------------------------ histograms and scans */

/* Gathers the codes of features feats[0, nf) for rows idx[k0, k1) into buf (nf, k1 - k0):
 * each row's codes are read once, from the few cache lines that hold them. */
static void gather(const grower *g, const int32_t *feats, int nf, int64_t k0, int64_t k1, uint8_t *buf) {
    const size_t d = (size_t)g->d, r = (size_t)(k1 - k0);
    for (int64_t k = k0; k < k1; k++) {
        const uint8_t *row = g->codes + (size_t)g->idx[k] * d;
        uint8_t *o = buf + (k - k0);
        for (int f = 0; f < nf; f++) o[(size_t)f * r] = row[feats[f]];
    }
}

/* Adds rows [k0, k1) of bins c into histogram h (bins of S doubles); marks the bins in seen
 * (256 bits) when it is not NULL, and counts rows (the bins' first double) only when asked:
 * with min_samples_leaf 1 a scan over marked bins needs no count. */
static void accumulate(const grower *g, const uint8_t *c, int64_t k0, int64_t k1, double *h, uint64_t *seen,
                       bool count) {
    const int S = g->S;
    const float *nw = g->nw + k0;
    const int64_t m = k1 - k0;
    if (seen)
        for (int64_t k = 0; k < m; k++) seen[c[k] >> 6] |= UINT64_C(1) << (c[k] & 63);
    if (!g->regression) {
        const int32_t *ny = g->ny + k0;
        if (count)
            for (int64_t k = 0; k < m; k++) {
                double *e = h + (size_t)c[k] * S;
                e[0] += 1.0;
                e[1 + ny[k]] += nw[k];
            }
        else
            for (int64_t k = 0; k < m; k++) h[(size_t)c[k] * S + 1 + ny[k]] += nw[k];
    } else {
        const float *nt = g->nt + k0;
        for (int64_t k = 0; k < m; k++) {
            double *e = h + (size_t)c[k] * 4;
            double w = nw[k], wt = w * (double)nt[k];
            e[0] += count ? 1.0 : 0.0;
            e[1] += w;
            e[2] += wt;
            e[3] += wt * (double)nt[k];
        }
    }
}

/* Scans the nonempty bins present[0, np) of histogram h for feature j's best split of a node
 * with totals tot; acc (T) is scratch. Splits between two nonempty bins only, as scikit-learn
 * splits between two distinct values, with its proxy improvement, in the same arithmetic
 * (Gini: exactly its expression; entropy: sum of k ln k over classes and sides, the same
 * quantity scaled by ln 2). The first best bin wins. Without counts (counted false:
 * min_samples_leaf is 1, every present bin holds a row) the left totals' N is left 0. */
static void scan(const grower *g, int64_t j, const double *h, const uint8_t *present, int np, const double *tot,
                 double *acc, bool counted, feat_best *fb) {
    fb->feature = (int32_t)j;
    fb->constant = np <= 1;
    fb->valid = false;
    fb->proxy = -INFINITY;
    if (np <= 1) return;
    const int S = g->S, T = g->T, C = g->C;
    const double PW = tot[0], PN = tot[1];
    const int64_t msl = g->msl;
    memset(acc, 0, sizeof(double) * (size_t)T);
    for (int i = 0; i + 1 < np; i++) {
        const double *e = h + (size_t)present[i] * S;
        double proxy, WL, WR;
        if (!g->regression) {
            double *L = acc + 2, wsum = 0.0;
            acc[1] += e[0];
            for (int c = 0; c < C; c++) {
                L[c] += e[1 + c];
                wsum += e[1 + c];
            }
            acc[0] += wsum;
            if (counted && acc[1] < (double)msl) continue;
            if (counted && PN - acc[1] < (double)msl) break;
            WL = acc[0];
            WR = PW - WL;
            if (!(WL > 0.0 && WR > 0.0)) continue;
            const double *P = tot + 2;
            if (g->crit == CRIT_GINI) {
                double sql = 0.0, sqr = 0.0;
                for (int c = 0; c < C; c++) {
                    double r = P[c] - L[c];
                    sql += L[c] * L[c];
                    sqr += r * r;
                }
                proxy = -WR * (1.0 - sqr / (WR * WR)) - WL * (1.0 - sql / (WL * WL));
            } else {
                double s = 0.0;
                for (int c = 0; c < C; c++) s += xlogx(g, L[c]) + xlogx(g, P[c] - L[c]);
                proxy = s - xlogx(g, WL) - xlogx(g, WR);
            }
        } else {
            acc[1] += e[0];
            acc[0] += e[1];
            acc[2] += e[2];
            acc[3] += e[3];
            if (counted && acc[1] < (double)msl) continue;
            if (counted && PN - acc[1] < (double)msl) break;
            WL = acc[0];
            WR = PW - WL;
            if (!(WL > 0.0 && WR > 0.0)) continue;
            double sl = acc[2], sr = tot[2] - sl;
            proxy = sl * sl / WL + sr * sr / WR;
        }
        if (proxy > fb->proxy) {
            fb->proxy = proxy;
            fb->valid = true;
            fb->bl = present[i];
            fb->br = present[i + 1];
            memcpy(fb->left, acc, sizeof(double) * (size_t)T);
        }
    }
}

/* ------------------------------------------------------------------ parallel work over features */

typedef struct {
    grower *g;
    bool subtract;        /* false: evaluate candidates; true: build child, parent -= child */
    int64_t start, end;   /* the node's rows (evaluate) or the smaller child's (subtract) */
    const double *tot;    /* the node's totals (evaluate) */
    double *hist;         /* the node's whole-node histogram (or NULL), or the parent's (subtract) */
    bool build;           /* evaluate: build hist's regions first */
    double *child;        /* subtract: the smaller child's whole-node histogram */
    const int32_t *feats; /* (n_feats) */
    int n_feats, n_chunks;
    feat_best *res;       /* (n_feats) */
    double *res_tot;      /* (n_feats, T) */
} feat_job;

/* Chunk k handles candidates [n_feats k / n_chunks, n_feats (k + 1) / n_chunks), block_f
 * features at a time: their codes gathered BLOCK_ROWS rows at a time into the chunk's buffer,
 * added into their histograms (whole-node regions, or the chunk's 256-bin ones, kept zero
 * between uses by clearing the bins a use touched), then each histogram scanned (or
 * subtracted from the parent's). */
static void feat_chunk(void *args, int64_t chunk) {
    feat_job *job = args;
    grower *g = job->g;
    const int S = g->S, bf = g->block_f;
    int lo = (int)(job->n_feats * chunk / job->n_chunks), hi = (int)(job->n_feats * (chunk + 1) / job->n_chunks);
    double *sh = g->scratch + (size_t)chunk * g->scratch_stride, *acc = sh + (size_t)bf * 256 * S;
    uint8_t *buf = (uint8_t *)(acc + g->T);
    int32_t fl[MAX_BLOCK_F];
    int slot[MAX_BLOCK_F];
    double *tgt[MAX_BLOCK_F];
    uint64_t seen[MAX_BLOCK_F][4];
    uint8_t present[256];
    const bool sparse = !job->subtract && !job->hist;
    const bool build = job->subtract || !job->hist || job->build;
    const bool counted = !sparse || g->msl > 1; /* whole-node histograms find their bins by count */
    for (int i0 = lo; i0 < hi; i0 += bf) {
        int i1 = i0 + bf < hi ? i0 + bf : hi, nf = 0;
        for (int i = i0; i < i1; i++) {
            int32_t j = job->feats[i];
            if (!job->subtract) {
                feat_best *fb = job->res + i;
                fb->left = job->res_tot + (size_t)i * g->T;
                if (g->n_bins[j] <= 1) {
                    fb->feature = j;
                    fb->constant = true;
                    fb->valid = false;
                    continue;
                }
            }
            fl[nf] = j;
            slot[nf] = i;
            tgt[nf] = job->subtract ? job->child + g->hoff[j] : job->hist ? job->hist + g->hoff[j] : sh + (size_t)nf * 256 * S;
            if (sparse) memset(seen[nf], 0, sizeof seen[nf]);
            else if (build) memset(tgt[nf], 0, sizeof(double) * (size_t)g->n_bins[j] * (size_t)S);
            nf++;
        }
        if (build)
            for (int64_t k0 = job->start; k0 < job->end; k0 += BLOCK_ROWS) {
                int64_t k1 = k0 + BLOCK_ROWS < job->end ? k0 + BLOCK_ROWS : job->end, r = k1 - k0;
                gather(g, fl, nf, k0, k1, buf);
                for (int f = 0; f < nf; f++) {
                    const uint8_t *c = buf + (size_t)f * (size_t)r;
                    accumulate(g, c, k0, k1, tgt[f], sparse ? seen[f] : NULL, counted);
                }
            }
        for (int f = 0; f < nf; f++) {
            int32_t j = fl[f];
            if (job->subtract) {
                double *p = job->hist + g->hoff[j];
                const double *c = tgt[f];
                size_t len = (size_t)g->n_bins[j] * (size_t)S;
                for (size_t k = 0; k < len; k++) p[k] -= c[k];
                continue;
            }
            int np = 0;
            if (sparse) {
                for (int w = 0; w < 4; w++)
                    for (uint64_t v = seen[f][w]; v; v &= v - 1) present[np++] = (uint8_t)(w * 64 + __builtin_ctzll(v));
            } else {
                for (int b = 0; b < g->n_bins[j]; b++)
                    if (tgt[f][(size_t)b * S] != 0.0) present[np++] = (uint8_t)b;
            }
            scan(g, j, tgt[f], present, np, job->tot, acc, counted, job->res + slot[f]);
            if (sparse) /* the chunk's histograms are left zero for the next use */
                for (int i = 0; i < np; i++) memset(tgt[f] + (size_t)present[i] * S, 0, sizeof(double) * (size_t)S);
        }
    }
}

static void run_features(grower *g, feat_job *job) {
    int64_t work = (job->end - job->start) * (int64_t)job->n_feats;
    int chunks = 1;
    if (g->threads > 1 && work >= PAR_MIN_WORK) {
        chunks = g->n_scratch;
        if (chunks > job->n_feats) chunks = job->n_feats;
    }
    if (chunks < 1) chunks = 1;
    job->n_chunks = chunks;
    kn__pool_run(chunks > 1 ? g->threads : 1, chunks, feat_chunk, job);
}

/* ------------------------------------------------------------------ split search */

static inline bool known_has(const uint64_t *k, int64_t j) { return (k[j >> 6] >> (j & 63)) & 1; }
static inline void known_set(uint64_t *k, int64_t j) { k[j >> 6] |= UINT64_C(1) << (j & 63); }

/* Keeps the better of best and the results res[0, n): larger proxy; ties to the lower
 * feature index. Marks the constant ones known. Returns whether any was not constant. */
static bool merge(grower *g, const feat_best *res, int n, feat_best *best) {
    bool nonconstant = false;
    for (int i = 0; i < n; i++) {
        const feat_best *r = res + i;
        if (r->constant) {
            known_set(g->known, r->feature);
            continue;
        }
        nonconstant = true;
        if (!r->valid) continue;
        if (!best->valid || r->proxy > best->proxy || (r->proxy == best->proxy && r->feature < best->feature)) {
            double *keep = best->left;
            *best = *r;
            best->left = keep;
            memcpy(keep, r->left, sizeof(double) * (size_t)g->T);
        }
    }
    return nonconstant;
}

/* The feature drawn i-th at this node: a Fisher-Yates step on perm. */
static int32_t draw(grower *g, uint64_t node_seed, int64_t i) {
    uint64_t r = kn__rng_u64(node_seed, KN_STREAM_TREE + 1, (uint64_t)i) >> 32;
    int64_t k = i + (int64_t)((r * (uint64_t)(g->d - i)) >> 32);
    int32_t f = g->perm[k];
    g->perm[k] = g->perm[i];
    g->perm[i] = f;
    return f;
}

/* Finds the node's best split into *best (best->left must point at T doubles). Updates the
 * node's known constants. As scikit-learn's BestSplitter: max_features features are drawn
 * without replacement (known constants count as visited), and if all drawn are constant,
 * drawing goes on until one is not. */
static void find_split(grower *g, pending *e, const double *tot, feat_best *best) {
    best->valid = false;
    best->proxy = -INFINITY;
    best->feature = INT32_MAX;
    int64_t rows = e->end - e->start;
    feat_job job = {.g = g, .start = e->start, .end = e->end, .tot = tot, .res = g->res, .res_tot = g->res_tot,
                    .feats = g->cand};
    if (g->max_features >= g->d) {
        int nc = 0;
        for (int64_t j = 0; j < g->d; j++)
            if (!known_has(g->known, j)) g->cand[nc++] = (int32_t)j;
        if (!e->hist && rows >= FULL_MIN_ROWS) {
            e->hist = full_get(g);
            job.build = e->hist != NULL;
        }
        job.hist = e->hist;
        job.n_feats = nc;
        run_features(g, &job);
        merge(g, g->res, nc, best);
        return;
    }
    uint64_t node_seed = kn__rng_u64(g->seed, KN_STREAM_TREE, (uint64_t)g->node_rank);
    int64_t drawn = 0;
    int nc = 0;
    while (drawn < g->max_features && drawn < g->d) {
        int32_t f = draw(g, node_seed, drawn++);
        if (!known_has(g->known, f)) g->cand[nc++] = f;
    }
    job.n_feats = nc;
    run_features(g, &job);
    bool nonconstant = merge(g, g->res, nc, best);
    while (!nonconstant && drawn < g->d) {
        int32_t f = draw(g, node_seed, drawn++);
        if (known_has(g->known, f)) continue;
        g->cand[0] = f;
        job.n_feats = 1;
        run_features(g, &job);
        nonconstant = merge(g, g->res, 1, best);
    }
}

/* ------------------------------------------------------------------ growth */

static kn_status push(grower *g, const pending *node, const double *tot) {
    if (g->sp == g->stack_cap) {
        int64_t cap = g->stack_cap ? 2 * g->stack_cap : 64, sp = g->sp;
        void *p;
        if (!(p = regrow(g, g->stack, sizeof(pending), sp, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->stack = p;
        if (!(p = regrow(g, g->stack_tot, sizeof(double) * (size_t)g->T, sp, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->stack_tot = p;
        if (!(p = regrow(g, g->stack_known, sizeof(uint64_t) * (size_t)g->words, sp, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->stack_known = p;
        g->stack_cap = cap; /* only once all three have grown */
    }
    g->stack[g->sp] = *node;
    memcpy(g->stack_tot + (size_t)g->sp * g->T, tot, sizeof(double) * (size_t)g->T);
    memcpy(g->stack_known + (size_t)g->sp * g->words, g->known, sizeof(uint64_t) * (size_t)g->words);
    g->sp++;
    return KN_OK;
}

static kn_status add_node(grower *g, int32_t *id) {
    if (g->n_nodes == g->cap) {
        int64_t cap = g->cap ? 2 * g->cap : 256, c = g->n_nodes;
        size_t no = g->regression ? 1 : (size_t)g->C;
        void *p;
        if (!(p = regrow(g, g->feature, sizeof(int32_t), c, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->feature = p;
        if (!(p = regrow(g, g->left, sizeof(int32_t), c, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->left = p;
        if (!(p = regrow(g, g->right, sizeof(int32_t), c, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->right = p;
        if (!(p = regrow(g, g->n_samples, sizeof(int32_t), c, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->n_samples = p;
        if (!(p = regrow(g, g->threshold, sizeof(float), c, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->threshold = p;
        if (!(p = regrow(g, g->impurity, sizeof(float), c, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->impurity = p;
        if (!(p = regrow(g, g->value, sizeof(float) * no, c, cap))) return KN_ERR_OUT_OF_MEMORY;
        g->value = p;
        g->cap = cap; /* only once all have grown */
    }
    *id = (int32_t)g->n_nodes++;
    g->feature[*id] = -1;
    g->left[*id] = g->right[*id] = -1;
    g->threshold[*id] = 0.0f;
    return KN_OK;
}

/* Moves the rows of [start, end) whose code of feature f is <= bl to the front, stably. */
static int64_t partition(grower *g, int64_t start, int64_t end, int32_t f, int bl) {
    const size_t d = (size_t)g->d;
    const uint8_t *col = g->codes + f;
    int64_t wl = start, wr = 0;
    for (int64_t k = start; k < end; k++) {
        int32_t r = g->idx[k];
        if (col[(size_t)r * d] <= bl) {
            g->idx[wl] = r;
            if (g->ny) g->ny[wl] = g->ny[k];
            if (g->nt) g->nt[wl] = g->nt[k];
            g->nw[wl] = g->nw[k];
            wl++;
        } else {
            g->tmp_idx[wr] = r;
            if (g->ny) g->tmp_y[wr] = g->ny[k];
            if (g->nt) g->tmp_t[wr] = g->nt[k];
            g->tmp_w[wr] = g->nw[k];
            wr++;
        }
    }
    memcpy(g->idx + wl, g->tmp_idx, sizeof(int32_t) * (size_t)wr);
    if (g->ny) memcpy(g->ny + wl, g->tmp_y, sizeof(int32_t) * (size_t)wr);
    if (g->nt) memcpy(g->nt + wl, g->tmp_t, sizeof(float) * (size_t)wr);
    memcpy(g->nw + wl, g->tmp_w, sizeof(float) * (size_t)wr);
    return wl;
}

static kn_status grow_nodes(grower *g, const double *root_tot) {
    const int T = g->T;
    double *tot = g->work, *ltot = tot + T, *rtot = ltot + T, *best_left = rtot + T;
    memset(g->known, 0, sizeof(uint64_t) * (size_t)g->words);
    pending root = {.start = 0, .end = g->n_rows, .parent = -1, .depth = 0};
    kn_status st = push(g, &root, root_tot);
    while (!st && g->sp > 0) {
        g->sp--;
        pending e = g->stack[g->sp];
        memcpy(tot, g->stack_tot + (size_t)g->sp * T, sizeof(double) * (size_t)T);
        memcpy(g->known, g->stack_known + (size_t)g->sp * g->words, sizeof(uint64_t) * (size_t)g->words);
        int32_t id;
        if ((st = add_node(g, &id))) {
            full_put(g, e.hist);
            break;
        }
        if (e.parent >= 0) {
            if (e.is_left) g->left[e.parent] = id;
            else g->right[e.parent] = id;
        }
        int64_t rows = e.end - e.start;
        double imp = impurity_of(g, tot);
        g->n_samples[id] = (int32_t)rows;
        g->impurity[id] = (float)imp;
        if (g->regression) g->value[id] = (float)(tot[2] / tot[0]);
        else
            for (int c = 0; c < g->C; c++) g->value[(size_t)id * g->C + c] = (float)(tot[2 + c] / tot[0]);
        feat_best best = {.left = best_left};
        if (!leaf_before_search(g, e.depth, rows, imp)) {
            find_split(g, &e, tot, &best);
            g->node_rank++;
        }
        if (!best.valid) {
            full_put(g, e.hist);
            continue;
        }
        int32_t f = best.feature;
        g->feature[id] = f;
        g->threshold[id] = kn__tree_midpoint(g->upper[(size_t)f * 256 + best.bl], g->lower[(size_t)f * 256 + best.br]);
        int64_t mid = partition(g, e.start, e.end, f, best.bl);
        memcpy(ltot, best.left, sizeof(double) * (size_t)T);
        ltot[1] = (double)(mid - e.start); /* the row counts, exactly (scans may not count) */
        for (int k = 0; k < T; k++) rtot[k] = tot[k] - ltot[k];
        rtot[1] = (double)(e.end - mid);
        double imp_l = impurity_of(g, ltot), imp_r = impurity_of(g, rtot);
        g->importance[f] += tot[0] * imp - ltot[0] * imp_l - rtot[0] * imp_r;
        pending L = {.start = e.start, .end = mid, .parent = id, .depth = e.depth + 1, .is_left = true};
        pending R = {.start = mid, .end = e.end, .parent = id, .depth = e.depth + 1, .is_left = false};
        bool left_small = mid - e.start <= e.end - mid;
        pending *small = left_small ? &L : &R, *big = left_small ? &R : &L;
        double imp_small = left_small ? imp_l : imp_r, imp_big = left_small ? imp_r : imp_l;
        if (e.hist) {
            int64_t ns = small->end - small->start, nb = big->end - big->start;
            bool need_big = nb >= FULL_MIN_ROWS && !leaf_before_search(g, e.depth + 1, nb, imp_big);
            bool need_small = ns >= FULL_MIN_ROWS && !leaf_before_search(g, e.depth + 1, ns, imp_small);
            double *hs = need_big ? full_get(g) : NULL;
            if (hs) {
                int nc = 0;
                for (int64_t j = 0; j < g->d; j++)
                    if (!known_has(g->known, j) && g->n_bins[j] > 1) g->cand[nc++] = (int32_t)j;
                feat_job job = {.g = g, .subtract = true, .start = small->start, .end = small->end, .hist = e.hist,
                                .child = hs, .feats = g->cand, .n_feats = nc};
                run_features(g, &job);
                big->hist = e.hist;
                if (need_small) small->hist = hs;
                else full_put(g, hs);
            } else {
                full_put(g, e.hist);
            }
        }
        /* the smaller child is grown first (pushed last) */
        if ((st = push(g, big, left_small ? rtot : ltot))) {
            full_put(g, big->hist);
            full_put(g, small->hist);
        } else if ((st = push(g, small, left_small ? ltot : rtot))) {
            full_put(g, small->hist);
        }
    }
    /* buffers of nodes left on the stack after an error */
    for (int64_t i = 0; i < g->sp; i++) full_put(g, g->stack[i].hist);
    return st;
}

/* Copies the grown nodes into *out in preorder, exact-size arrays. */
static kn_status finish(grower *g, kn__tree *out) {
    int64_t m = g->n_nodes;
    int no = g->regression ? 1 : g->C;
    int32_t *order = galloc(g, sizeof(int32_t) * (size_t)m), *newid = galloc(g, sizeof(int32_t) * (size_t)m);
    int32_t *stack = galloc(g, sizeof(int32_t) * (size_t)m);
    out->n_nodes = m;
    out->d = g->d;
    out->n_outputs = no;
    out->feature = galloc(g, sizeof(int32_t) * (size_t)m);
    out->threshold = galloc(g, sizeof(float) * (size_t)m);
    out->left = galloc(g, sizeof(int32_t) * (size_t)m);
    out->right = galloc(g, sizeof(int32_t) * (size_t)m);
    out->value = galloc(g, sizeof(float) * (size_t)m * (size_t)no);
    out->n_samples = galloc(g, sizeof(int32_t) * (size_t)m);
    out->impurity = galloc(g, sizeof(float) * (size_t)m);
    out->importance = galloc(g, sizeof(double) * (size_t)g->d);
    kn_status st = KN_OK;
    if (!order || !newid || !stack || !out->feature || !out->threshold || !out->left || !out->right || !out->value ||
        !out->n_samples || !out->impurity || !out->importance) {
        st = KN_ERR_OUT_OF_MEMORY;
        goto done;
    }
    int64_t top = 0, k = 0;
    stack[top++] = 0;
    while (top > 0) {
        int32_t v = stack[--top];
        newid[v] = (int32_t)k;
        order[k++] = v;
        if (g->feature[v] >= 0) {
            stack[top++] = g->right[v];
            stack[top++] = g->left[v];
        }
    }
    for (int64_t i = 0; i < m; i++) {
        int32_t v = order[i];
        out->feature[i] = g->feature[v];
        out->threshold[i] = g->threshold[v];
        out->left[i] = g->feature[v] >= 0 ? newid[g->left[v]] : -1;
        out->right[i] = g->feature[v] >= 0 ? newid[g->right[v]] : -1;
        memcpy(out->value + (size_t)i * no, g->value + (size_t)v * no, sizeof(float) * (size_t)no);
        out->n_samples[i] = g->n_samples[v];
        out->impurity[i] = g->impurity[v];
    }
    /* scikit-learn: divided by the root's weight, then normalized when the sum is > 0 */
    double sum = 0.0;
    for (int64_t j = 0; j < g->d; j++) {
        out->importance[j] = g->importance[j] / g->root_w;
        sum += out->importance[j];
    }
    if (sum > 0.0)
        for (int64_t j = 0; j < g->d; j++) out->importance[j] /= sum;
done:
    gfree(g, order);
    gfree(g, newid);
    gfree(g, stack);
    return st;
}

static void grower_free(grower *g) {
    void *bufs[] = {g->hoff, g->idx, g->tmp_idx, g->ny, g->tmp_y, g->nt, g->tmp_t, g->nw, g->tmp_w, g->xlogx,
                    g->perm, g->cand, g->res, g->res_tot, g->known, g->scratch, g->stack, g->stack_tot,
                    g->stack_known, g->feature, g->left, g->right, g->n_samples, g->threshold, g->value,
                    g->impurity, g->importance, g->work};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) gfree(g, bufs[i]);
    for (int i = 0; i < g->n_full_free; i++) gfree(g, g->full_free[i]);
}

void kn__tree_free(kn_ctx *ctx, kn__tree *t) {
    if (!t) return;
    if (ctx) {
        kn__free(ctx, t->feature);
        kn__free(ctx, t->threshold);
        kn__free(ctx, t->left);
        kn__free(ctx, t->right);
        kn__free(ctx, t->value);
        kn__free(ctx, t->n_samples);
        kn__free(ctx, t->impurity);
        kn__free(ctx, t->importance);
    }
    memset(t, 0, sizeof *t);
}

kn_status kn__tree_grow(kn_ctx *ctx, const kn__xy *xy, const kn__bins *bins, const kn__tree_opts *o,
                        const float *weights, uint64_t seed, int threads, void *lock, kn__tree *out) {
    memset(out, 0, sizeof *out);
    grower gr = {.ctx = ctx, .lock = lock, .n = xy->n, .d = xy->d, .regression = xy->y == NULL,
                 .codes = bins->codes, .n_bins = bins->n_bins, .lower = bins->lower, .upper = bins->upper,
                 .max_depth = o->max_depth > 0 ? o->max_depth : INT_MAX,
                 .max_features = o->max_features > 0 && o->max_features < xy->d ? o->max_features : (int)xy->d,
                 .threads = threads < 1 ? 1 : threads, .mss = o->min_samples_split > 2 ? o->min_samples_split : 2,
                 .msl = o->min_samples_leaf > 1 ? o->min_samples_leaf : 1,
                 .seed = seed};
    grower *g = &gr;
    const int64_t n = g->n, d = g->d;
    g->crit = o->criterion == KN_TREE_GINI ? CRIT_GINI : o->criterion == KN_TREE_ENTROPY ? CRIT_ENTROPY : CRIT_MSE;
    g->C = g->regression ? 1 : xy->n_classes;
    g->S = g->regression ? 4 : 1 + g->C;
    g->T = g->regression ? 4 : 2 + g->C;
    g->words = (int)((d + 63) / 64);
    g->n_scratch = g->threads > 1 ? g->threads * CHUNKS_PER_THREAD : 1;
    const float *w = weights ? weights : xy->w;
    const int T = g->T;
    kn_status st = KN_ERR_OUT_OF_MEMORY;
    g->hoff = galloc(g, sizeof(int64_t) * (size_t)d);
    g->idx = galloc(g, sizeof(int32_t) * (size_t)n);
    g->tmp_idx = galloc(g, sizeof(int32_t) * (size_t)n);
    g->nw = galloc(g, sizeof(float) * (size_t)n);
    g->tmp_w = galloc(g, sizeof(float) * (size_t)n);
    if (g->regression) {
        g->nt = galloc(g, sizeof(float) * (size_t)n);
        g->tmp_t = galloc(g, sizeof(float) * (size_t)n);
    } else {
        g->ny = galloc(g, sizeof(int32_t) * (size_t)n);
        g->tmp_y = galloc(g, sizeof(int32_t) * (size_t)n);
    }
    g->perm = galloc(g, sizeof(int32_t) * (size_t)d);
    g->cand = galloc(g, sizeof(int32_t) * (size_t)d);
    g->res = galloc(g, sizeof(feat_best) * (size_t)d);
    g->res_tot = galloc(g, sizeof(double) * (size_t)d * (size_t)T);
    g->known = galloc(g, sizeof(uint64_t) * (size_t)g->words);
    /* a chunk's histograms stay within about 1 MB */
    g->block_f = (int)((1 << 20) / (256 * (size_t)g->S * sizeof(double)));
    if (g->block_f > MAX_BLOCK_F) g->block_f = MAX_BLOCK_F;
    if (g->block_f < 1) g->block_f = 1;
    g->scratch_stride = (size_t)g->block_f * 256 * g->S + (size_t)T + ((size_t)g->block_f * BLOCK_ROWS + 7) / 8;
    g->scratch_stride = (g->scratch_stride + 7) & ~(size_t)7; /* 64-byte aligned chunks */
    g->scratch = galloc(g, sizeof(double) * (size_t)g->n_scratch * g->scratch_stride);
    if (g->scratch) memset(g->scratch, 0, sizeof(double) * (size_t)g->n_scratch * g->scratch_stride);
    g->importance = galloc(g, sizeof(double) * (size_t)d);
    g->work = galloc(g, sizeof(double) * 5 * (size_t)T);
    if (!g->work || !g->hoff || !g->idx || !g->tmp_idx || !g->nw || !g->tmp_w ||
        (g->regression ? !g->nt || !g->tmp_t : !g->ny || !g->tmp_y) || !g->perm || !g->cand || !g->res ||
        !g->res_tot || !g->known || !g->scratch || !g->importance)
        goto done;
    memset(g->importance, 0, sizeof(double) * (size_t)d);
    g->hsize = 0;
    for (int64_t j = 0; j < d; j++) {
        g->hoff[j] = g->hsize;
        g->hsize += (int64_t)bins->n_bins[j] * g->S;
        g->perm[j] = (int32_t)j;
    }
    /* the sample: rows of positive weight, in index order, and the root's totals */
    double *root = g->work + 4 * T;
    memset(root, 0, sizeof(double) * (size_t)T);
    bool integral = true;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        float wi = w ? w[i] : 1.0f;
        if (!(wi > 0.0f)) continue;
        g->idx[m] = (int32_t)i;
        g->nw[m] = wi;
        integral = integral && wi == floorf(wi);
        root[0] += wi;
        root[1] += 1.0;
        if (g->regression) {
            double wt = (double)wi * xy->t[i];
            g->nt[m] = xy->t[i];
            root[2] += wt;
            root[3] += wt * xy->t[i];
        } else {
            g->ny[m] = xy->y[i];
            root[2 + xy->y[i]] += wi;
        }
        m++;
    }
    g->n_rows = m;
    g->root_w = root[0];
    if (g->crit == CRIT_ENTROPY && integral && root[0] < (double)XLOGX_MAX) {
        g->xlogx_n = (int64_t)root[0] + 1;
        g->xlogx = galloc(g, sizeof(double) * (size_t)g->xlogx_n);
        if (!g->xlogx) goto done;
        g->xlogx[0] = 0.0;
        for (int64_t k = 1; k < g->xlogx_n; k++) g->xlogx[k] = (double)k * log((double)k);
    }
    if (m == 0) { /* the callers refuse this; kept safe */
        st = KN_ERR_INVALID_ARGUMENT;
        goto done;
    }
    if ((st = grow_nodes(g, root))) goto done;
    st = finish(g, out);
done:
    grower_free(g);
    if (st) { /* through the lock: other trees may be growing */
        void *parts[] = {out->feature, out->threshold, out->left, out->right, out->value, out->n_samples,
                         out->impurity, out->importance};
        for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) gfree(g, parts[i]);
        memset(out, 0, sizeof *out);
    }
    return st;
}
