/* tree_split.c — the split search of the CART grower (tree.c grows the tree): per node, the
 * candidate features' histograms of (weighted) class counts or target sums by bin, built (or
 * a child's subtracted from its parent's) in chunks of features run in parallel, each scanned
 * for the split of largest impurity decrease as scikit-learn computes it; the max_features
 * draws; node impurities. */
#include "classic/tree_grow.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "core/pool.h"

#define PAR_MIN_WORK 32768      /* rows x features below which a node's search stays on one thread */

/* ------------------------------------------------------------------ impurity */

static inline double xlogx(const kn__tree_grower *g, double v) {
    if (g->xlogx) return g->xlogx[(int64_t)v];
    return v > 0.0 ? v * log(v) : 0.0;
}

/* scikit-learn's node impurity from totals (Gini, entropy in bits, or the variance). */
double kn__tree_impurity_of(const kn__tree_grower *g, const double *tot) {
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
bool kn__tree_leaf_before_search(const kn__tree_grower *g, int depth, int64_t rows, double impurity) {
    return depth >= g->max_depth || rows < g->mss || rows < 2 * g->msl || impurity <= DBL_EPSILON;
}

/* ------------------------------------------------------------------ histograms and scans */

/* Gathers the codes of features feats[0, nf) for rows idx[k0, k1) into buf (nf, k1 - k0):
 * each row's codes are read once, from the few cache lines that hold them. */
static void gather(const kn__tree_grower *g, const int32_t *feats, int nf, int64_t k0, int64_t k1, uint8_t *buf) {
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
static void accumulate(const kn__tree_grower *g, const uint8_t *c, int64_t k0, int64_t k1, double *h, uint64_t *seen,
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
static void scan(const kn__tree_grower *g, int64_t j, const double *h, const uint8_t *present, int np,
                 const double *tot, double *acc, bool counted, kn__tree_feat_best *fb) {
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

/* Chunk k handles candidates [n_feats k / n_chunks, n_feats (k + 1) / n_chunks), block_f
 * features at a time: their codes gathered BLOCK_ROWS rows at a time into the chunk's buffer,
 * added into their histograms (whole-node regions, or the chunk's 256-bin ones, kept zero
 * between uses by clearing the bins a use touched), then each histogram scanned (or
 * subtracted from the parent's). */
static void feat_chunk(void *args, int64_t chunk) {
    kn__tree_feat_job *job = args;
    kn__tree_grower *g = job->g;
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
                kn__tree_feat_best *fb = job->res + i;
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

void kn__tree_run_features(kn__tree_grower *g, kn__tree_feat_job *job) {
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

/* Keeps the better of best and the results res[0, n): larger proxy; ties to the lower
 * feature index. Marks the constant ones known. Returns whether any was not constant. */
static bool merge(kn__tree_grower *g, const kn__tree_feat_best *res, int n, kn__tree_feat_best *best) {
    bool nonconstant = false;
    for (int i = 0; i < n; i++) {
        const kn__tree_feat_best *r = res + i;
        if (r->constant) {
            kn__tree_known_set(g->known, r->feature);
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
static int32_t draw(kn__tree_grower *g, uint64_t node_seed, int64_t i) {
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
void kn__tree_find_split(kn__tree_grower *g, kn__tree_pending *e, const double *tot, kn__tree_feat_best *best) {
    best->valid = false;
    best->proxy = -INFINITY;
    best->feature = INT32_MAX;
    int64_t rows = e->end - e->start;
    kn__tree_feat_job job = {.g = g, .start = e->start, .end = e->end, .tot = tot, .res = g->res,
                             .res_tot = g->res_tot, .feats = g->cand};
    if (g->max_features >= g->d) {
        int nc = 0;
        for (int64_t j = 0; j < g->d; j++)
            if (!kn__tree_known_has(g->known, j)) g->cand[nc++] = (int32_t)j;
        if (!e->hist && rows >= FULL_MIN_ROWS) {
            e->hist = kn__tree_full_get(g);
            job.build = e->hist != NULL;
        }
        job.hist = e->hist;
        job.n_feats = nc;
        kn__tree_run_features(g, &job);
        merge(g, g->res, nc, best);
        return;
    }
    uint64_t node_seed = kn__rng_u64(g->seed, KN_STREAM_TREE, (uint64_t)g->node_rank);
    int64_t drawn = 0;
    int nc = 0;
    while (drawn < g->max_features && drawn < g->d) {
        int32_t f = draw(g, node_seed, drawn++);
        if (!kn__tree_known_has(g->known, f)) g->cand[nc++] = f;
    }
    job.n_feats = nc;
    kn__tree_run_features(g, &job);
    bool nonconstant = merge(g, g->res, nc, best);
    while (!nonconstant && drawn < g->d) {
        int32_t f = draw(g, node_seed, drawn++);
        if (kn__tree_known_has(g->known, f)) continue;
        g->cand[0] = f;
        job.n_feats = 1;
        kn__tree_run_features(g, &job);
        nonconstant = merge(g, g->res, 1, best);
    }
}
