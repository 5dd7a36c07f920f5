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
 * rank in the growth order), and growth is sequential, so threads never change a tree.
 *
 * Files: tree.c (this one: growth, the tree's arrays), tree_split.c (histograms, scans and
 * the split search); tree_grow.h declares what they share. */
#include "classic/tree_grow.h"
#include "core/pool.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#define CHUNKS_PER_THREAD 4     /* feature chunks per thread in a node's split search */
#define XLOGX_MAX ((int64_t)1 << 22) /* largest total weight for the x log x table (32 MB) */

/* ------------------------------------------------------------------ allocation */

static void *galloc(kn__tree_grower *g, size_t size) {
    if (g->lock) pthread_mutex_lock(g->lock);
    void *p = kn__alloc(g->ctx, size);
    if (g->lock) pthread_mutex_unlock(g->lock);
    return p;
}

static void gfree(kn__tree_grower *g, void *p) {
    if (!p) return;
    if (g->lock) pthread_mutex_lock(g->lock);
    kn__free(g->ctx, p);
    if (g->lock) pthread_mutex_unlock(g->lock);
}

/* A buffer of want items of size holding old's first count items (old freed), or NULL
 * with old kept. */
static void *regrow(kn__tree_grower *g, void *old, size_t size, int64_t count, int64_t want) {
    void *p = galloc(g, size * (size_t)want);
    if (!p) return NULL;
    if (old) memcpy(p, old, size * (size_t)count);
    gfree(g, old);
    return p;
}

double *kn__tree_full_get(kn__tree_grower *g) {
    if (g->n_full_free > 0) return g->full_free[--g->n_full_free];
    if (g->n_full >= MAX_FULL_BUFFERS) return NULL;
    double *h = galloc(g, (size_t)g->hsize * sizeof(double));
    if (h) g->n_full++;
    return h; /* NULL (out of memory) only costs speed: the node builds per-feature histograms */
}

static void full_put(kn__tree_grower *g, double *h) {
    if (h) g->full_free[g->n_full_free++] = h;
}
/* ------------------------------------------------------------------ growth */

static kn_status push(kn__tree_grower *g, const kn__tree_pending *node, const double *tot) {
    if (g->sp == g->stack_cap) {
        int64_t cap = g->stack_cap ? 2 * g->stack_cap : 64, sp = g->sp;
        void *p;
        if (!(p = regrow(g, g->stack, sizeof(kn__tree_pending), sp, cap))) return KN_ERR_OUT_OF_MEMORY;
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

static kn_status add_node(kn__tree_grower *g, int32_t *id) {
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
static int64_t partition(kn__tree_grower *g, int64_t start, int64_t end, int32_t f, int bl) {
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

static kn_status grow_nodes(kn__tree_grower *g, const double *root_tot) {
    const int T = g->T;
    double *tot = g->work, *ltot = tot + T, *rtot = ltot + T, *best_left = rtot + T;
    memset(g->known, 0, sizeof(uint64_t) * (size_t)g->words);
    kn__tree_pending root = {.start = 0, .end = g->n_rows, .parent = -1, .depth = 0};
    kn_status st = push(g, &root, root_tot);
    while (!st && g->sp > 0) {
        g->sp--;
        kn__tree_pending e = g->stack[g->sp];
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
        double imp = kn__tree_impurity_of(g, tot);
        g->n_samples[id] = (int32_t)rows;
        g->impurity[id] = (float)imp;
        if (g->regression) g->value[id] = (float)(tot[2] / tot[0]);
        else
            for (int c = 0; c < g->C; c++) g->value[(size_t)id * g->C + c] = (float)(tot[2 + c] / tot[0]);
        kn__tree_feat_best best = {.left = best_left};
        if (!kn__tree_leaf_before_search(g, e.depth, rows, imp)) {
            kn__tree_find_split(g, &e, tot, &best);
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
        double imp_l = kn__tree_impurity_of(g, ltot), imp_r = kn__tree_impurity_of(g, rtot);
        g->importance[f] += tot[0] * imp - ltot[0] * imp_l - rtot[0] * imp_r;
        kn__tree_pending L = {.start = e.start, .end = mid, .parent = id, .depth = e.depth + 1, .is_left = true};
        kn__tree_pending R = {.start = mid, .end = e.end, .parent = id, .depth = e.depth + 1, .is_left = false};
        bool left_small = mid - e.start <= e.end - mid;
        kn__tree_pending *small = left_small ? &L : &R, *big = left_small ? &R : &L;
        double imp_small = left_small ? imp_l : imp_r, imp_big = left_small ? imp_r : imp_l;
        if (e.hist) {
            int64_t ns = small->end - small->start, nb = big->end - big->start;
            bool need_big = nb >= FULL_MIN_ROWS && !kn__tree_leaf_before_search(g, e.depth + 1, nb, imp_big);
            bool need_small = ns >= FULL_MIN_ROWS && !kn__tree_leaf_before_search(g, e.depth + 1, ns, imp_small);
            double *hs = need_big ? kn__tree_full_get(g) : NULL;
            if (hs) {
                int nc = 0;
                for (int64_t j = 0; j < g->d; j++)
                    if (!kn__tree_known_has(g->known, j) && g->n_bins[j] > 1) g->cand[nc++] = (int32_t)j;
                kn__tree_feat_job job = {.g = g, .subtract = true, .start = small->start, .end = small->end,
                                         .hist = e.hist, .child = hs, .feats = g->cand, .n_feats = nc};
                kn__tree_run_features(g, &job);
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
static kn_status finish(kn__tree_grower *g, kn__tree *out) {
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

static void grower_free(kn__tree_grower *g) {
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
    kn__tree_grower gr = {.ctx = ctx, .lock = lock, .n = xy->n, .d = xy->d, .regression = xy->y == NULL,
                 .codes = bins->codes, .n_bins = bins->n_bins, .lower = bins->lower, .upper = bins->upper,
                 .max_depth = o->max_depth > 0 ? o->max_depth : INT_MAX,
                 .max_features = o->max_features > 0 && o->max_features < xy->d ? o->max_features : (int)xy->d,
                 .threads = threads < 1 ? 1 : threads, .mss = o->min_samples_split > 2 ? o->min_samples_split : 2,
                 .msl = o->min_samples_leaf > 1 ? o->min_samples_leaf : 1,
                 .seed = seed};
    kn__tree_grower *g = &gr;
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
    g->res = galloc(g, sizeof(kn__tree_feat_best) * (size_t)d);
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
