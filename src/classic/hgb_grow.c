/* hgb_grow.c — one tree of gradient boosting, grown as scikit-learn 1.2's TreeGrower grows it
 * (hgb.h says what is kept and what is left out): leaf-wise, the splittable node of largest
 * gain first (a binary heap ordered exactly as Python's heapq orders its nodes, so equal gains
 * are taken in the same order); per node, a histogram of (sum of gradients, sum of hessians,
 * rows) by bin for every feature, summed in the node's row order as scikit-learn's (its
 * partition is stable, so are the sums); the larger child's histogram its parent's minus the
 * smaller's; each feature's bins scanned left to right for the largest gain with scikit-learn's
 * arithmetic, min_samples_leaf and min_hessian_to_split 1e-3; the first feature of equal gains
 * wins. Per split, one pool job over blocks of 8 features builds the smaller child's
 * histograms, subtracts them from the parent's and scans both children; a row's 8 codes of a
 * block are one 64-bit word, and each bin is one 32-byte vector (g, h, rows), so a row adds
 * into a bin with one vector add. */
#include "classic/hgb.h"
#include "core/pool.h"

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#define MIN_HESSIAN_TO_SPLIT 1e-3 /* scikit-learn's TreeGrower default, not a parameter there either */
#define PAR_MIN_WORK 65536        /* rows x features below which a node stays on one thread */
#define GROUP 8                   /* blocks of 8 features gathered together: 64 bytes, a row's cache line */
#define TILE 2048                 /* rows gathered at a time */

/* One bin of a feature's histogram (scikit-learn's hist_struct), one 32-byte vector. */
typedef struct {
    double g, h, n; /* sums of the gradients, the hessians (1 each when constant) and rows */
    double unused;
} hbin;

/* The best split of one feature (or of a node). */
typedef struct {
    double gain;   /* -1: none valid */
    double gl, hl; /* the left child's sums */
    uint32_t nl;   /* the left child's rows */
    int32_t feature, bin;
} split;

/* A node while the tree grows. */
typedef struct {
    int64_t start, stop;        /* its rows: rows[start, stop) */
    int depth;
    double sum_g, sum_h, value; /* value: -G / (H + l2) before the learning rate (0 at the root, as scikit-learn's) */
    int32_t hist;               /* its histogram buffer, or -1 */
    int32_t left, right;        /* children, or -1 */
    bool leaf;
    split best;
} gnode;

struct kn__hgb_grower {
    kn_ctx *ctx;
    pthread_mutex_t *lock;
    const uint64_t *codes; /* (ceil(d / 8), n): a block of 8 features' codes per row, feature j in byte j % 8 */
    const uint8_t *rowcodes; /* (n, 8 ceil(d / 8)) the same codes row by row */
    uint64_t *tiles;      /* (threads, GROUP, TILE) gathered codes, one region per pool slot */
    int tile_slots;
    int64_t n, d;
    const int *n_bins;
    const float *edges;   /* (d, 255) */
    int64_t n_hbins;      /* bins in a histogram: 256 for each feature of the blocks (feature j's at j 256) */
    int max_leaf_nodes, max_depth;
    uint32_t msl;
    double l2, shrinkage;
    const float *g, *h;   /* the current tree's gradients and hessians (h NULL: constant) */
    int threads;
    int32_t *rows, *tmp;  /* (n) the partition; scratch */
    float *og, *oh;       /* (n) a node's gradients and hessians in its row order */
    hbin **hists;         /* (cap_hists) histogram buffers, allocated as needed */
    int32_t *free_hists;  /* (cap_hists) the unused ones */
    int n_hists, n_free, cap_hists;
    gnode *nodes;         /* (cap_nodes) */
    int64_t n_nodes, cap_nodes;
    int32_t *heap;        /* (cap_nodes) splittable nodes */
    int64_t n_heap, n_final;
    split *best_a, *best_b; /* (d) per-feature bests of the two nodes scanned */
    int32_t *stack, *parent_of; /* (cap_nodes) for the preorder walk */
    kn__hgb_tree tree;    /* (cap_nodes) the output */
};

/* ------------------------------------------------------------------ allocation */

static void *grower_alloc(kn__hgb_grower *w, size_t bytes) {
    if (w->lock) pthread_mutex_lock(w->lock);
    void *p = kn__alloc(w->ctx, bytes);
    if (w->lock) pthread_mutex_unlock(w->lock);
    return p;
}

/* A histogram buffer (contents undefined), or -1 when out of memory. */
static int32_t hist_get(kn__hgb_grower *w) {
    if (w->n_free) return w->free_hists[--w->n_free];
    if (w->n_hists == w->cap_hists) return -1; /* cannot happen: cap bounds the live ones */
    hbin *b = grower_alloc(w, (size_t)w->n_hbins * sizeof(hbin));
    if (!b) return -1;
    w->hists[w->n_hists] = b;
    return w->n_hists++;
}

static void hist_put(kn__hgb_grower *w, int32_t *id) {
    if (*id >= 0) w->free_hists[w->n_free++] = *id;
    *id = -1;
}

/* ------------------------------------------------------------------ the heap (Python's heapq) */

/* heapq's item < other: a larger gain first. */
static inline bool before(const kn__hgb_grower *w, int32_t a, int32_t b) { return w->nodes[a].best.gain > w->nodes[b].best.gain; }

static void sift_down(kn__hgb_grower *w, int64_t start, int64_t pos) { /* heapq._siftdown */
    int32_t item = w->heap[pos];
    while (pos > start) {
        int64_t parent = (pos - 1) >> 1;
        if (!before(w, item, w->heap[parent])) break;
        w->heap[pos] = w->heap[parent];
        pos = parent;
    }
    w->heap[pos] = item;
}

static void heap_push(kn__hgb_grower *w, int32_t id) {
    w->heap[w->n_heap++] = id;
    sift_down(w, 0, w->n_heap - 1);
}

static int32_t heap_pop(kn__hgb_grower *w) { /* heapq.heappop with _siftup */
    int32_t last = w->heap[--w->n_heap];
    if (!w->n_heap) return last;
    int32_t top = w->heap[0];
    int64_t pos = 0, end = w->n_heap, child = 1;
    while (child < end) {
        if (child + 1 < end && !before(w, w->heap[child], w->heap[child + 1])) child++;
        w->heap[pos] = w->heap[child];
        pos = child;
        child = 2 * pos + 1;
    }
    w->heap[pos] = last;
    sift_down(w, 0, pos);
    return top;
}

/* ------------------------------------------------------------------ histograms and the scan */

/* scikit-learn's compute_node_value (no bounds: no monotonic constraints). */
static inline double node_value(double g, double h, double l2) { return -g / (h + l2 + 1e-15); }

/* Feature j's best split of node nd from its histogram H: scikit-learn's
 * _find_best_bin_to_split_left_to_right, its loop in three passes: the running sums and where
 * the scan would stop (a side below min_samples_leaf or min_hessian_to_split on the right),
 * then every gain, four bins at a time in the same arithmetic (no fused multiply-add), then
 * the first largest. A bin with no rows repeats the last bin's sums and gain, which never
 * wins a strict comparison, as in scikit-learn's loop. s: (4, 256) scratch. */
static void scan(const kn__hgb_grower *w, const gnode *nd, const hbin *H, int32_t j, split *out, double *s) {
    const int m = w->n_bins[j] - 1; /* the last bin never goes left */
    const double N = (double)(nd->stop - nd->start), msl = (double)w->msl, mh = MIN_HESSIAN_TO_SPLIT;
    const double G = nd->sum_g, HS = nd->sum_h, l2 = w->l2, loss_node = G * nd->value;
    double *GL = s, *HL = s + 256, *NL = s + 512, *GA = s + 768;
    *out = (split){.gain = -1.0, .feature = j, .bin = -1};
    double gl = 0.0, hl = 0.0, nl = 0.0;
    int stop = m;
    for (int b = 0; b < m; b++) {
        gl += H[b].g, hl += H[b].h, nl += H[b].n;
        GL[b] = gl, HL[b] = hl, NL[b] = nl;
        if (nl >= msl && (N - nl < msl || (hl >= mh && HS - hl < mh))) { /* scikit-learn's break */
            stop = b;
            break;
        }
    }
    if (stop == 0) return;
    for (int b = stop; b < ((stop + 3) & ~3); b++) GL[b] = HL[b] = NL[b] = 0.0;
    const __m256d sign = _mm256_set1_pd(-0.0), vl2 = _mm256_set1_pd(l2), eps = _mm256_set1_pd(1e-15), vg = _mm256_set1_pd(G),
                  vh = _mm256_set1_pd(HS), vloss = _mm256_set1_pd(loss_node), vmsl = _mm256_set1_pd(msl),
                  vmh = _mm256_set1_pd(mh), none = _mm256_set1_pd(-1.0), lane = _mm256_set_pd(3, 2, 1, 0);
    for (int b = 0; b < stop; b += 4) {
        __m256d L = _mm256_loadu_pd(GL + b), Lh = _mm256_loadu_pd(HL + b), Ln = _mm256_loadu_pd(NL + b);
        __m256d R = _mm256_sub_pd(vg, L), Rh = _mm256_sub_pd(vh, Lh);
        __m256d vl = _mm256_div_pd(_mm256_xor_pd(L, sign), _mm256_add_pd(_mm256_add_pd(Lh, vl2), eps));
        __m256d vr = _mm256_div_pd(_mm256_xor_pd(R, sign), _mm256_add_pd(_mm256_add_pd(Rh, vl2), eps));
        __m256d gain = _mm256_sub_pd(_mm256_sub_pd(vloss, _mm256_mul_pd(L, vl)), _mm256_mul_pd(R, vr));
        __m256d ok = _mm256_and_pd(_mm256_cmp_pd(Ln, vmsl, _CMP_GE_OQ), _mm256_cmp_pd(Lh, vmh, _CMP_GE_OQ));
        ok = _mm256_and_pd(ok, _mm256_cmp_pd(_mm256_add_pd(_mm256_set1_pd((double)b), lane), _mm256_set1_pd((double)stop), _CMP_LT_OQ));
        _mm256_storeu_pd(GA + b, _mm256_blendv_pd(none, gain, ok));
    }
    double best = -1.0;
    int bb = -1;
    for (int b = 0; b < stop; b++)
        if (GA[b] > best && GA[b] > 0.0) best = GA[b], bb = b;
    if (bb >= 0) *out = (split){.gain = best, .gl = GL[bb], .hl = HL[bb], .nl = (uint32_t)NL[bb], .feature = j, .bin = bb};
}

/* One parallel pass over blocks of 8 features for a node: build one histogram (the root's,
 * or the smaller child's), optionally subtract it from the parent's (which becomes the larger
 * child's), and scan up to two nodes. */
typedef struct {
    kn__hgb_grower *w;
    hbin *build;                /* the histogram to build, of rows[start, stop) */
    int64_t start, stop;
    bool root;                  /* rows are 0..n-1 in order: codes and gradients read directly */
    hbin *parent;               /* or NULL: parent -= build */
    const gnode *scan_a, *scan_b; /* or NULL, with their histograms */
    const hbin *hist_a, *hist_b;
    int n_chunks;
} node_job;

/* Adds rows k of [0, m) (codes[k]) to the 8 histograms of a block: one 8-byte word holds the
 * row's 8 codes, and each bin takes (g, h, 1) in one vector add; the 8 features' sums are
 * independent chains, each bin's summed in row order as scikit-learn's. A constant hessian
 * adds 1 (the count, which scikit-learn adds in its place). */
static inline __attribute__((always_inline)) void accumulate(double *H, const uint64_t *codes, const float *g, const float *h,
                                                             int64_t m, bool has_h) {
    for (int64_t k = 0; k < m; k++) {
        const uint64_t c = codes[k];
        const __m256d v = _mm256_set_pd(0.0, 1.0, has_h ? (double)h[k] : 1.0, (double)g[k]);
        for (int f = 0; f < 8; f++) {
            double *e = H + 4 * ((size_t)(f << 8) | (size_t)((c >> (8 * f)) & 255));
            _mm256_store_pd(e, _mm256_add_pd(_mm256_load_pd(e), v));
        }
    }
}

/* Builds the histograms of blocks [b0, b1) (at most GROUP) for the job's rows. At the root the
 * rows are all, in order: each block's codes are read straight through. Elsewhere the node's
 * rows are scattered: TILE of them at a time are gathered from the row-major codes (one cache
 * line a row for the whole group) into buf (GROUP, TILE), then added block by block while
 * the group's histograms stay in cache. */
static void build_group(const node_job *job, int64_t b0, int64_t b1, uint64_t *buf) {
    const kn__hgb_grower *w = job->w;
    const int64_t m = job->stop - job->start, d8 = (w->d + 7) / 8 * 8;
    for (int64_t j = b0 * 8; j < b1 * 8; j++)
        memset(job->build + j * 256, 0, sizeof(hbin) * (size_t)(j < w->d ? w->n_bins[j] : 1));
    const float *g = job->root ? w->g : w->og + job->start, *h = !w->h ? NULL : job->root ? w->h : w->oh + job->start;
    for (int64_t blk = b0; job->root && blk < b1; blk++) {
        double *H = (double *)(job->build + blk * 8 * 256);
        if (h) accumulate(H, w->codes + blk * w->n, g, h, m, true);
        else accumulate(H, w->codes + blk * w->n, g, h, m, false);
    }
    if (job->root) return;
    const int32_t *rows = w->rows + job->start;
    const size_t width = 8 * (size_t)(b1 - b0);
    for (int64_t k0 = 0; k0 < m; k0 += TILE) {
        const int64_t t = m - k0 < TILE ? m - k0 : TILE;
        for (int64_t k = 0; k < t; k++) {
            if (k + 16 < t) __builtin_prefetch(w->rowcodes + (size_t)rows[k0 + k + 16] * (size_t)d8 + 8 * (size_t)b0);
            const uint8_t *src = w->rowcodes + (size_t)rows[k0 + k] * (size_t)d8 + 8 * (size_t)b0;
            for (size_t b = 0; b < width / 8; b++) memcpy(buf + b * TILE + k, src + 8 * b, 8);
        }
        for (int64_t blk = b0; blk < b1; blk++) {
            double *H = (double *)(job->build + blk * 8 * 256);
            if (h) accumulate(H, buf + (blk - b0) * TILE, g + k0, h + k0, t, true);
            else accumulate(H, buf + (blk - b0) * TILE, g + k0, h + k0, t, false);
        }
    }
}

static void node_chunk(void *args, int64_t chunk) {
    node_job *job = args;
    kn__hgb_grower *w = job->w;
    const int64_t blocks = (w->d + 7) / 8, lo = blocks * chunk / job->n_chunks, hi = blocks * (chunk + 1) / job->n_chunks;
    uint64_t *buf = w->tiles + (size_t)kn__pool_slot() * GROUP * TILE;
    double scratch[4 * 256];
    for (int64_t g0 = lo; g0 < hi; g0 += GROUP) {
        const int64_t g1 = g0 + GROUP < hi ? g0 + GROUP : hi;
        if (job->build) build_group(job, g0, g1, buf);
        for (int64_t j = g0 * 8; j < g1 * 8 && j < w->d; j++) {
            if (job->parent) {
                double *p = (double *)(job->parent + j * 256);
                const double *sub = (const double *)(job->build + j * 256);
                for (int b = 0; b < w->n_bins[j]; b++)
                    _mm256_store_pd(p + 4 * b, _mm256_sub_pd(_mm256_load_pd(p + 4 * b), _mm256_load_pd(sub + 4 * b)));
            }
            if (job->scan_a) scan(w, job->scan_a, job->hist_a + j * 256, (int32_t)j, w->best_a + j, scratch);
            if (job->scan_b) scan(w, job->scan_b, job->hist_b + j * 256, (int32_t)j, w->best_b + j, scratch);
        }
    }
}

static void run_node_job(kn__hgb_grower *w, node_job *job) {
    int64_t rows = job->build ? job->stop - job->start : 0;
    int threads = w->threads < w->tile_slots ? w->threads : w->tile_slots, chunks = 1;
    if (threads > 1 && (rows + 256) * w->d >= PAR_MIN_WORK) {
        chunks = 4 * threads; /* claimed one at a time: a slow thread takes fewer */
        if (chunks > (w->d + 7) / 8) chunks = (int)((w->d + 7) / 8);
    }
    job->n_chunks = chunks < 1 ? 1 : chunks;
    kn__pool_run(job->n_chunks > 1 ? threads : 1, job->n_chunks, node_chunk, job);
}

/* The node's split: the first feature of largest gain (scikit-learn's
 * _find_best_feature_to_split_helper); a gain <= 0 makes it a leaf, else it waits in the heap. */
static void best_and_push(kn__hgb_grower *w, int32_t id, const split *per_feature) {
    int64_t best = 0;
    for (int64_t j = 1; j < w->d; j++)
        if (per_feature[j].gain > per_feature[best].gain) best = j;
    gnode *nd = w->nodes + id;
    nd->best = per_feature[best];
    if (nd->best.gain <= 0.0) {
        nd->leaf = true;
        w->n_final++;
        hist_put(w, &nd->hist);
    } else {
        heap_push(w, id);
    }
}

static void finalize(kn__hgb_grower *w, gnode *nd) {
    nd->leaf = true;
    w->n_final++;
    hist_put(w, &nd->hist);
}

/* ------------------------------------------------------------------ growing */

static int32_t new_node(kn__hgb_grower *w, int64_t start, int64_t stop, int depth, double g, double h) {
    int32_t id = (int32_t)w->n_nodes++;
    w->nodes[id] = (gnode){.start = start, .stop = stop, .depth = depth, .sum_g = g, .sum_h = h,
                           .value = node_value(g, h, w->l2), .hist = -1, .left = -1, .right = -1};
    return id;
}

/* scikit-learn's split_next. */
static kn_status split_next(kn__hgb_grower *w) {
    int32_t id = heap_pop(w);
    gnode nd = w->nodes[id];
    const split s = nd.best;
    /* the stable partition of the node's rows */
    const uint64_t *col = w->codes + (size_t)(s.feature / 8) * (size_t)w->n;
    const int shift = 8 * (s.feature % 8);
    int64_t nl = 0, nr = 0;
    for (int64_t k = nd.start; k < nd.stop; k++) {
        int32_t r = w->rows[k];
        if ((int)((col[r] >> shift) & 255) <= s.bin) w->rows[nd.start + nl++] = r;
        else w->tmp[nr++] = r;
    }
    memcpy(w->rows + nd.start + nl, w->tmp, sizeof(int32_t) * (size_t)nr);
    int depth = nd.depth + 1;
    int64_t n_leaves = w->n_final + w->n_heap + 2;
    int32_t left = new_node(w, nd.start, nd.start + nl, depth, s.gl, s.hl);
    int32_t right = new_node(w, nd.start + nl, nd.stop, depth, nd.sum_g - s.gl, nd.sum_h - s.hl);
    gnode *L = w->nodes + left, *R = w->nodes + right, *P = w->nodes + id;
    P->left = left;
    P->right = right;
    if (w->max_leaf_nodes && n_leaves == w->max_leaf_nodes) {
        finalize(w, L);
        finalize(w, R);
        while (w->n_heap) finalize(w, w->nodes + w->heap[--w->n_heap]); /* _finalize_splittable_nodes */
        hist_put(w, &P->hist);
        return KN_OK;
    }
    if (w->max_depth && depth == w->max_depth) {
        finalize(w, L);
        finalize(w, R);
        hist_put(w, &P->hist);
        return KN_OK;
    }
    if (nl < 2 * (int64_t)w->msl) finalize(w, L);
    if (nr < 2 * (int64_t)w->msl) finalize(w, R);
    if (!L->leaf || !R->leaf) {
        /* the smaller child's histograms built, the larger's by subtraction in its parent's buffer */
        gnode *small = nl < nr ? L : R, *large = nl < nr ? R : L;
        int32_t hs = hist_get(w);
        if (hs < 0) return KN_ERR_OUT_OF_MEMORY;
        small->hist = hs;
        large->hist = P->hist;
        P->hist = -1;
        for (int64_t k = small->start; k < small->stop; k++) {
            w->og[k] = w->g[w->rows[k]];
            if (w->h) w->oh[k] = w->h[w->rows[k]];
        }
        node_job job = {.w = w, .build = w->hists[hs], .start = small->start, .stop = small->stop,
                        .parent = w->hists[large->hist], .scan_a = L->leaf ? NULL : L, .scan_b = R->leaf ? NULL : R,
                        .hist_a = w->hists[L->hist], .hist_b = w->hists[R->hist]};
        run_node_job(w, &job);
        if (!L->leaf) best_and_push(w, left, w->best_a);
        if (!R->leaf) best_and_push(w, right, w->best_b);
        if (L->leaf) hist_put(w, &L->hist); /* the heap's nodes keep theirs */
        if (R->leaf) hist_put(w, &R->hist);
    }
    hist_put(w, &P->hist);
    return KN_OK;
}

/* The grown nodes in preorder (scikit-learn's _fill_predictor_arrays), values scaled by the
 * learning rate. */
static void emit(kn__hgb_grower *w) {
    kn__hgb_tree *t = &w->tree;
    int64_t sp = 0, out = 0;
    int32_t *parent_of = w->parent_of; /* output index of the parent awaiting this right child, or -1 */
    w->stack[sp++] = 0;
    parent_of[0] = -1;
    while (sp) {
        int32_t id = w->stack[--sp];
        const gnode *nd = w->nodes + id;
        int64_t i = out++;
        if (parent_of[id] >= 0) t->right[parent_of[id]] = (int32_t)i;
        t->value[i] = nd->value * w->shrinkage;
        t->n_samples[i] = (int32_t)(nd->stop - nd->start);
        t->start[i] = nd->start;
        t->stop[i] = nd->stop;
        if (nd->leaf) {
            t->feature[i] = t->left[i] = t->right[i] = -1;
            t->threshold[i] = 0.0f;
            continue;
        }
        t->feature[i] = nd->best.feature;
        t->threshold[i] = w->edges[(size_t)nd->best.feature * 255 + (size_t)nd->best.bin];
        t->left[i] = (int32_t)(i + 1);
        parent_of[nd->right] = (int32_t)i;
        parent_of[nd->left] = -1;
        w->stack[sp++] = nd->right;
        w->stack[sp++] = nd->left;
    }
    t->n_nodes = out;
}

kn_status kn__hgb_grow(kn__hgb_grower *w, const float *g, const float *h, int threads, const kn__hgb_tree **out) {
    const int64_t n = w->n;
    w->g = g;
    w->h = h;
    w->threads = threads;
    w->n_nodes = w->n_heap = w->n_final = 0;
    w->n_free = 0;
    for (int32_t i = w->n_hists - 1; i >= 0; i--) w->free_hists[w->n_free++] = i;
    for (int64_t i = 0; i < n; i++) w->rows[i] = (int32_t)i;
    /* the root: sums in row order (scikit-learn's sum_parallel on one thread); a constant
     * hessian counts rows */
    double sg = 0.0, sh = 0.0;
    for (int64_t i = 0; i < n; i++) sg += g[i];
    if (h)
        for (int64_t i = 0; i < n; i++) sh += h[i];
    else
        sh = (double)n;
    int32_t root = new_node(w, 0, n, 0, sg, sh);
    w->nodes[root].value = 0.0;
    if (n < 2 * (int64_t)w->msl || sh < MIN_HESSIAN_TO_SPLIT) {
        finalize(w, w->nodes + root);
    } else {
        int32_t hr = hist_get(w);
        if (hr < 0) return KN_ERR_OUT_OF_MEMORY;
        w->nodes[root].hist = hr;
        node_job job = {.w = w, .build = w->hists[hr], .start = 0, .stop = n, .root = true, .scan_a = w->nodes + root,
                        .hist_a = w->hists[hr]};
        run_node_job(w, &job);
        best_and_push(w, root, w->best_a);
    }
    while (w->n_heap) {
        kn_status st = split_next(w);
        if (st) return st;
    }
    emit(w);
    w->tree.rows = w->rows;
    *out = &w->tree;
    return KN_OK;
}

kn_status kn__hgb_grower_new(kn_ctx *ctx, const uint64_t *codes, const uint8_t *rowcodes, int64_t n, int64_t d, const int *n_bins,
                             const float *edges, const kn__hgb_opts *opts, int threads, void *lock, kn__hgb_grower **out) {
    *out = NULL;
    kn__hgb_grower *w = kn__calloc(ctx, 1, sizeof *w);
    if (!w) return KN_ERR_OUT_OF_MEMORY;
    *w = (kn__hgb_grower){.ctx = ctx, .lock = lock, .codes = codes, .rowcodes = rowcodes, .tile_slots = threads < 1 ? 1 : threads, .n = n, .d = d, .n_bins = n_bins, .edges = edges,
                          .max_leaf_nodes = opts->max_leaf_nodes, .max_depth = opts->max_depth,
                          .msl = (uint32_t)opts->min_samples_leaf, .l2 = opts->l2_regularization,
                          .shrinkage = opts->learning_rate};
    /* leaves: at most max_leaf_nodes, and at most n / min_samples_leaf (each holds that many
     * rows, or is the root); nodes: 2 leaves - 1; histograms alive: the heap's, a node being
     * split and its two children */
    int64_t leaves = n / opts->min_samples_leaf + 1;
    if (opts->max_leaf_nodes && leaves > opts->max_leaf_nodes) leaves = opts->max_leaf_nodes;
    w->cap_nodes = 2 * leaves + 1;
    w->cap_hists = (int)(leaves + 3);
    w->n_hbins = (d + 7) / 8 * 8 * 256;
    size_t cn = (size_t)w->cap_nodes;
    w->rows = kn__alloc(ctx, sizeof(int32_t) * (size_t)n);
    w->tmp = kn__alloc(ctx, sizeof(int32_t) * (size_t)n);
    w->og = kn__alloc(ctx, sizeof(float) * (size_t)n);
    w->oh = kn__alloc(ctx, sizeof(float) * (size_t)n);
    w->hists = kn__calloc(ctx, (size_t)w->cap_hists, sizeof(hbin *));
    w->free_hists = kn__alloc(ctx, sizeof(int32_t) * (size_t)w->cap_hists);
    w->nodes = kn__alloc(ctx, sizeof(gnode) * cn);
    w->heap = kn__alloc(ctx, sizeof(int32_t) * cn);
    w->stack = kn__alloc(ctx, sizeof(int32_t) * cn);
    w->parent_of = kn__alloc(ctx, sizeof(int32_t) * cn);
    w->best_a = kn__alloc(ctx, sizeof(split) * (size_t)d);
    w->best_b = kn__alloc(ctx, sizeof(split) * (size_t)d);
    w->tiles = kn__alloc(ctx, sizeof(uint64_t) * GROUP * TILE * (size_t)w->tile_slots);
    kn__hgb_tree *t = &w->tree;
    t->feature = kn__alloc(ctx, sizeof(int32_t) * cn);
    t->left = kn__alloc(ctx, sizeof(int32_t) * cn);
    t->right = kn__alloc(ctx, sizeof(int32_t) * cn);
    t->n_samples = kn__alloc(ctx, sizeof(int32_t) * cn);
    t->threshold = kn__alloc(ctx, sizeof(float) * cn);
    t->value = kn__alloc(ctx, sizeof(double) * cn);
    t->start = kn__alloc(ctx, sizeof(int64_t) * cn);
    t->stop = kn__alloc(ctx, sizeof(int64_t) * cn);
    if (!w->rows || !w->tmp || !w->og || !w->oh || !w->hists || !w->free_hists || !w->nodes || !w->heap ||
        !w->stack || !w->parent_of || !w->best_a || !w->best_b || !w->tiles || !t->feature || !t->left || !t->right || !t->n_samples ||
        !t->threshold || !t->value || !t->start || !t->stop) {
        kn__hgb_grower_free(w);
        return KN_ERR_OUT_OF_MEMORY;
    }
    *out = w;
    return KN_OK;
}

void kn__hgb_grower_free(kn__hgb_grower *w) {
    if (!w) return;
    kn_ctx *ctx = w->ctx;
    for (int i = 0; w->hists && i < w->n_hists; i++) kn__free(ctx, w->hists[i]);
    void *bufs[] = {w->rows, w->tmp, w->og, w->oh, w->hists, w->free_hists, w->nodes, w->heap, w->stack,
                    w->parent_of, w->best_a, w->best_b, w->tiles, w->tree.feature, w->tree.left, w->tree.right, w->tree.n_samples,
                    w->tree.threshold, w->tree.value, w->tree.start, w->tree.stop};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) kn__free(ctx, bufs[i]);
    kn__free(ctx, w);
}
