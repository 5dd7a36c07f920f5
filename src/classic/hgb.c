/* hgb.c — gradient boosting as scikit-learn 1.2's BaseHistGradientBoosting.fit runs it (hgb.h
 * says what is kept and what is left out): the early-stopping validation rows set aside
 * (stratified for classification), the training rows binned once and their codes regrouped
 * for the grower (words of 8 features, and rows); the baseline (the weighted mean, median,
 * log-odds of the prior or the centred log-priors); each iteration the loss's gradients and
 * hessians in float32 from the raw scores in double, one tree per output (hgb_grow.c),
 * absolute_error's leaves reset to the median residual, the raw scores updated through the
 * leaves' rows; the scores and scikit-learn's stopping rule. Then prediction from the flat
 * node arrays. Every sum is taken in a fixed order, so the model does not depend on the
 * thread count. */
#include "classic/hgb.h"
#include "core/pool.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define T "hist_gradient_boosting"
#define ROW_BLOCK 4096 /* rows per chunk of the row-parallel loops (gradients, losses, raw updates) */

kn__hgb_opts kn__hgb_defaults(void) {
    return (kn__hgb_opts){.loss = KN_HGB_LOSS_DEFAULT, .learning_rate = 0.1, .max_iter = 100, .max_leaf_nodes = 31,
                          .min_samples_leaf = 20, .max_bins = 255, .early_stopping = -1, .validation_fraction = 0.1,
                          .n_iter_no_change = 10, .tol = 1e-7};
}

static kn_status check_opts(kn_ctx *ctx, const kn__hgb_opts *o, bool classification) {
    const kn_status bad = KN_ERR_INVALID_ARGUMENT;
    static const char *const losses[] = {"default", "squared_error", "absolute_error", "log_loss"};
    if ((int)o->loss < 0 || o->loss > KN_HGB_LOG_LOSS) return kn__error(ctx, bad, T ".loss: %d is not a loss", (int)o->loss);
    if (classification && o->loss != KN_HGB_LOSS_DEFAULT && o->loss != KN_HGB_LOG_LOSS)
        return kn__error(ctx, bad, T ".loss: %s is for regression (classification: log_loss)", losses[o->loss]);
    if (!classification && o->loss == KN_HGB_LOG_LOSS)
        return kn__error(ctx, bad, T ".loss: log_loss is for classification (regression: squared_error, absolute_error)");
    if (!(o->learning_rate > 0) || !isfinite(o->learning_rate))
        return kn__error(ctx, bad, T ".learning_rate: %g must be > 0", o->learning_rate);
    if (o->max_iter < 1) return kn__error(ctx, bad, T ".max_iter: %d must be >= 1", o->max_iter);
    if (o->max_leaf_nodes != 0 && o->max_leaf_nodes < 2)
        return kn__error(ctx, bad, T ".max_leaf_nodes: %d must be >= 2 (0: no limit)", o->max_leaf_nodes);
    if (o->max_depth < 0) return kn__error(ctx, bad, T ".max_depth: %d must be >= 1 (0: no limit)", o->max_depth);
    if (o->min_samples_leaf < 1) return kn__error(ctx, bad, T ".min_samples_leaf: %d must be >= 1", o->min_samples_leaf);
    if (!(o->l2_regularization >= 0) || !isfinite(o->l2_regularization))
        return kn__error(ctx, bad, T ".l2_regularization: %g must be >= 0", o->l2_regularization);
    if (o->max_bins < 2 || o->max_bins > 255) return kn__error(ctx, bad, T ".max_bins: %d must be in [2, 255]", o->max_bins);
    if (o->early_stopping < -1 || o->early_stopping > 1)
        return kn__error(ctx, bad, T ".early_stopping: %d is not auto (-1), off (0) or on (1)", o->early_stopping);
    double vf = o->validation_fraction;
    if (!(vf >= 0) || !isfinite(vf) || (vf >= 1 && vf != floor(vf)))
        return kn__error(ctx, bad, T ".validation_fraction: %g must be in (0, 1), a row count >= 1, or 0 (none)", vf);
    if (o->n_iter_no_change < 1) return kn__error(ctx, bad, T ".n_iter_no_change: %d must be >= 1", o->n_iter_no_change);
    if (!(o->tol >= 0) || !isfinite(o->tol)) return kn__error(ctx, bad, T ".tol: %g must be >= 0", o->tol);
    if ((unsigned)o->scoring >= KN_HGB_SCORE_COUNT) return kn__error(ctx, bad, T ".scoring: %d is not a scorer", (int)o->scoring);
    if (classification ? o->scoring > KN_HGB_SCORE_ACCURACY : o->scoring == KN_HGB_SCORE_ACCURACY)
        return kn__error(ctx, bad, T ".scoring: %s is for %s (%s)", kn__hgb_scoring_names[o->scoring],
                         classification ? "regression" : "classification",
                         classification ? "classification: loss or accuracy"
                                        : "regression: loss, r2, neg_mean_squared_error or neg_mean_absolute_error");
    return KN_OK;
}

const char *const kn__hgb_scoring_names[KN_HGB_SCORE_COUNT] = {"loss", "accuracy", "r2", "neg_mean_squared_error",
                                                                "neg_mean_absolute_error"};

/* ------------------------------------------------------------------ losses (scikit-learn's _loss) */

/* scikit-learn's log1pexp: log(1 + exp(x)) without overflow. */
static inline double log1pexp(double x) {
    if (x <= -37) return exp(x);
    if (x <= 18) return log1p(exp(x));
    if (x <= 33.3) return x + exp(-x);
    return x;
}

/* One row's loss; raw has stride `stride` between outputs (k of them). */
static inline double row_loss(kn_hgb_loss loss, int k, const double *raw, int64_t stride, double y) {
    switch (loss) {
    case KN_HGB_SQUARED_ERROR: return 0.5 * (raw[0] - y) * (raw[0] - y);
    case KN_HGB_ABSOLUTE_ERROR: return fabs(raw[0] - y);
    default: break;
    }
    if (k == 1) return log1pexp(raw[0]) - y * raw[0];
    double mx = raw[0], sum = 0.0;
    for (int c = 1; c < k; c++)
        if (mx < raw[c * stride]) mx = raw[c * stride];
    for (int c = 0; c < k; c++) sum += exp(raw[c * stride] - mx);
    return log(sum) + mx - raw[(int64_t)y * stride];
}

/* The data of the rows being fitted (or scored), targets as scikit-learn's float64 y. */
typedef struct {
    int64_t n;
    const double *y;  /* (n) labels as numbers, or targets */
    const float *w;   /* (n) or NULL */
} rows_y;

typedef struct {
    kn_hgb_loss loss;
    int k;
    const rows_y *r;
    const double *raw;  /* (k, n) */
    double *part;       /* (chunks, 2) weighted loss and weight per chunk */
    float *g, *h;       /* (k, n) gradients and hessians (h NULL: constant) */
} row_job;

static void loss_chunk(void *args, int64_t c) {
    row_job *j = args;
    const int64_t n = j->r->n, lo = c * ROW_BLOCK, hi = lo + ROW_BLOCK < n ? lo + ROW_BLOCK : n;
    double s = 0.0, ws = 0.0;
    for (int64_t i = lo; i < hi; i++) {
        double l = row_loss(j->loss, j->k, j->raw + i, n, j->r->y[i]), wi = j->r->w ? j->r->w[i] : 1.0;
        s += wi * l;
        ws += wi;
    }
    j->part[2 * c] = s;
    j->part[2 * c + 1] = ws;
}

/* A scorer of the raw predictions raw (k, n) against r's labels or targets, weighted as
 * scikit-learn's with sample_weight (in row order, in double): accuracy (the predicted class:
 * raw > 0 for one output, else the first largest), r2 (1 - SSE / SST about the weighted
 * mean; a constant target: 1 when predicted exactly, else 0, as r2_score's force_finite),
 * minus the weighted mean squared or absolute error. */
static double prediction_score(kn_hgb_scoring scoring, int k, const rows_y *r, const double *raw) {
    const int64_t n = r->n;
    double sw = 0.0, s = 0.0, mean = 0.0;
    if (scoring == KN_HGB_SCORE_R2) {
        for (int64_t i = 0; i < n; i++) {
            double wi = r->w ? r->w[i] : 1.0;
            mean += wi * r->y[i];
            sw += wi;
        }
        mean /= sw;
        double sse = 0.0, sst = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double wi = r->w ? r->w[i] : 1.0, e = r->y[i] - raw[i], t = r->y[i] - mean;
            sse += wi * e * e;
            sst += wi * t * t;
        }
        return sst > 0 ? 1.0 - sse / sst : sse == 0 ? 1.0 : 0.0;
    }
    for (int64_t i = 0; i < n; i++) {
        double wi = r->w ? r->w[i] : 1.0, v;
        if (scoring == KN_HGB_SCORE_ACCURACY) {
            int pred = 0;
            if (k == 1) pred = raw[i] > 0.0;
            else
                for (int c = 1; c < k; c++) pred = raw[(size_t)c * n + i] > raw[(size_t)pred * n + i] ? c : pred;
            v = pred == (int)r->y[i];
        } else {
            double e = r->y[i] - raw[i];
            v = scoring == KN_HGB_SCORE_NEG_MSE ? -e * e : -fabs(e);
        }
        s += wi * v;
        sw += wi;
    }
    return s / sw;
}

/* The weighted mean loss (np.average of the per-row losses), in fixed chunks. */
static double mean_loss(kn_ctx *ctx, kn_hgb_loss loss, int k, const rows_y *r, const double *raw, double *part) {
    row_job j = {.loss = loss, .k = k, .r = r, .raw = raw, .part = part};
    int64_t chunks = (r->n + ROW_BLOCK - 1) / ROW_BLOCK;
    kn__pool_run(chunks > 1 ? kn_ctx_threads(ctx) : 1, chunks, loss_chunk, &j);
    double s = 0.0, ws = 0.0;
    for (int64_t c = 0; c < chunks; c++) s += part[2 * c], ws += part[2 * c + 1];
    return s / ws;
}

/* What early stopping watches, higher better: minus the mean loss, or the scorer's value. */
static double score(kn_ctx *ctx, const kn__hgb_opts *o, int k, const rows_y *r, const double *raw, double *part) {
    return o->scoring == KN_HGB_SCORE_LOSS ? -mean_loss(ctx, o->loss, k, r, raw, part) : prediction_score(o->scoring, k, r, raw);
}

/* Gradients and hessians as scikit-learn's CyLoss.gradient_hessian computes them (in double,
 * times the sample weight, stored as float32). */
static void grad_chunk(void *args, int64_t c) {
    row_job *j = args;
    const int64_t n = j->r->n, lo = c * ROW_BLOCK, hi = lo + ROW_BLOCK < n ? lo + ROW_BLOCK : n;
    const double *y = j->r->y, *raw = j->raw;
    const float *w = j->r->w;
    for (int64_t i = lo; i < hi; i++) {
        double wi = w ? (double)w[i] : 1.0;
        if (j->loss == KN_HGB_SQUARED_ERROR || j->loss == KN_HGB_ABSOLUTE_ERROR) {
            double g = j->loss == KN_HGB_SQUARED_ERROR ? raw[i] - y[i] : raw[i] > y[i] ? 1.0 : -1.0;
            j->g[i] = (float)(w ? wi * g : g);
            if (j->h) j->h[i] = (float)wi;
        } else if (j->k == 1) {
            double e = exp(-raw[i]), g = ((1 - y[i]) - y[i] * e) / (1 + e), h = e / ((1 + e) * (1 + e));
            j->g[i] = (float)(w ? wi * g : g);
            j->h[i] = (float)(w ? wi * h : h);
        } else {
            const int k = j->k;
            double mx = raw[i], sum = 0.0, p[64];
            for (int c2 = 1; c2 < k; c2++)
                if (mx < raw[c2 * n + i]) mx = raw[c2 * n + i];
            for (int c2 = 0; c2 < k; c2++) {
                double e = exp(raw[c2 * n + i] - mx);
                if (c2 < 64) p[c2] = e;
                sum += e;
            }
            for (int c2 = 0; c2 < k; c2++) {
                double pk = (c2 < 64 ? p[c2] : exp(raw[c2 * n + i] - mx)) / sum, g = pk - (y[i] == c2), h = pk * (1. - pk);
                j->g[(size_t)c2 * n + i] = (float)(w ? g * wi : g);
                j->h[(size_t)c2 * n + i] = (float)(w ? h * wi : h);
            }
        }
    }
}

/* ------------------------------------------------------------------ baseline */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double v;
    float w;
} vw;

static int cmp_vw(const void *a, const void *b) { return cmp_double(&((const vw *)a)->v, &((const vw *)b)->v); }

/* The median of v (n) as numpy's (the mean of the middle two of an even count), or with
 * weights scikit-learn's _weighted_percentile(v, w, 50) (the lower weighted median). Sorts v;
 * scratch (n) is used with weights. */
static double median(double *v, const float *w, vw *scratch, int64_t n) {
    if (!w) {
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
    }
    for (int64_t i = 0; i < n; i++) scratch[i] = (vw){v[i], w[i]};
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_vw);
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) total += scratch[i].w;
    double target = 0.5 * total, cdf = 0.0;
    for (int64_t i = 0; i < n; i++) {
        cdf += scratch[i].w;
        if (cdf >= target) return scratch[i].v;
    }
    return scratch[n - 1].v;
}

/* scikit-learn's loss.fit_intercept_only: out (k). */
static kn_status baseline(kn_ctx *ctx, kn_hgb_loss loss, int k, int n_classes, const rows_y *r, double *out) {
    const int64_t n = r->n;
    double ws = 0.0;
    for (int64_t i = 0; i < n; i++) ws += r->w ? r->w[i] : 1.0;
    if (loss == KN_HGB_SQUARED_ERROR) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += r->w ? r->w[i] * r->y[i] : r->y[i];
        out[0] = s / ws;
    } else if (loss == KN_HGB_ABSOLUTE_ERROR) {
        double *v = kn__alloc(ctx, sizeof(double) * (size_t)n);
        vw *scratch = r->w ? kn__alloc(ctx, sizeof(vw) * (size_t)n) : NULL;
        if (!v || (r->w && !scratch)) {
            kn__free(ctx, v);
            kn__free(ctx, scratch);
            return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, T ": out of memory");
        }
        memcpy(v, r->y, sizeof(double) * (size_t)n);
        out[0] = median(v, r->w, scratch, n);
        kn__free(ctx, v);
        kn__free(ctx, scratch);
    } else if (k == 1) { /* the log-odds of the weighted prior, clipped to [10 eps, 1 - 10 eps] */
        double s = 0.0, eps = 10 * DBL_EPSILON;
        for (int64_t i = 0; i < n; i++) s += r->w ? r->w[i] * r->y[i] : r->y[i];
        double p = s / ws;
        p = p < eps ? eps : p > 1 - eps ? 1 - eps : p;
        out[0] = log(p / (1 - p));
    } else { /* the log of the priors over their geometric mean (scikit-learn's symmetric multinomial logit) */
        double mean_log = 0.0;
        for (int c = 0; c < n_classes; c++) {
            double s = 0.0;
            for (int64_t i = 0; i < n; i++)
                if (r->y[i] == c) s += r->w ? r->w[i] : 1.0;
            double p = s / ws;
            out[c] = p < DBL_EPSILON ? DBL_EPSILON : p > 1 - DBL_EPSILON ? 1 - DBL_EPSILON : p;
            mean_log += log(out[c]);
        }
        double gm = exp(mean_log / n_classes);
        for (int c = 0; c < n_classes; c++) out[c] = log(out[c] / gm);
    }
    return KN_OK;
}

/* ------------------------------------------------------------------ the validation rows */

/* Sets aside n_val rows for early stopping, as train_test_split(test_size, stratify=y) does
 * but with kiln's RNG: for classification each class gives its share (the remainders of the
 * largest fractions rounded up), its rows drawn without replacement. is_val (n) is set. */
static kn_status draw_validation(kn_ctx *ctx, const kn__xy *xy, int64_t n_val, uint64_t seed, bool *is_val) {
    const int64_t n = xy->n;
    int C = xy->y ? xy->n_classes : 1;
    int64_t *order = kn__alloc(ctx, sizeof(int64_t) * (size_t)n), *start = kn__calloc(ctx, (size_t)C + 1, sizeof(int64_t));
    int64_t *take = kn__calloc(ctx, (size_t)C, sizeof(int64_t));
    if (!order || !start || !take) {
        kn__free(ctx, order);
        kn__free(ctx, start);
        kn__free(ctx, take);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, T ": out of memory");
    }
    /* the rows grouped by class, in order */
    for (int64_t i = 0; i < n; i++) start[(xy->y ? xy->y[i] : 0) + 1]++;
    for (int c = 0; c < C; c++) start[c + 1] += start[c];
    for (int64_t i = 0, *fill = take; i < n; i++) order[start[xy->y ? xy->y[i] : 0] + fill[xy->y ? xy->y[i] : 0]++] = i;
    /* each class's share: floor(n_val n_c / n), then one more for the largest remainders */
    int64_t given = 0;
    for (int c = 0; c < C; c++) {
        int64_t nc = start[c + 1] - start[c];
        take[c] = (int64_t)((double)n_val * (double)nc / (double)n);
        given += take[c];
    }
    while (given < n_val) {
        int best = -1;
        double best_frac = -1.0;
        for (int c = 0; c < C; c++) {
            int64_t nc = start[c + 1] - start[c];
            double frac = (double)n_val * (double)nc / (double)n - (double)take[c];
            if (take[c] < nc && frac > best_frac) best = c, best_frac = frac;
        }
        if (best < 0) break;
        take[best]++, given++;
    }
    /* a partial Fisher-Yates shuffle of each class's rows: its first take[c] are drawn */
    uint64_t draw = 0;
    for (int c = 0; c < C; c++) {
        int64_t *o = order + start[c], nc = start[c + 1] - start[c];
        for (int64_t i = 0; i < take[c]; i++) {
            uint64_t r = kn__rng_u64(seed, KN_STREAM_HGB, draw++);
            int64_t j = i + (int64_t)(r % (uint64_t)(nc - i));
            int64_t t = o[i];
            o[i] = o[j];
            o[j] = t;
            is_val[o[i]] = true;
        }
    }
    kn__free(ctx, order);
    kn__free(ctx, start);
    kn__free(ctx, take);
    return KN_OK;
}

/* ------------------------------------------------------------------ fitting */

typedef struct {
    kn_ctx *ctx;
    const kn__hgb_opts *o;
    kn_hgb_loss loss;
    int k, threads;
    bool tree_parallel;            /* the k trees of an iteration on the pool, one grower per thread */
    kn__hgb_grower **growers;      /* (threads when tree_parallel, else 1) */
    const rows_y *tr;
    double *raw;                   /* (k, n) */
    const float *g, *h;            /* (k, n); h NULL: constant */
    double *resid;                 /* (n) absolute_error's residuals of a leaf */
    float *leaf_w;                 /* (n) their weights, when weighted */
    vw *scratch;                   /* (n) the weighted median's scratch */
    /* each tree of the iteration, copied out of its grower */
    int64_t cap;                   /* nodes a tree can have */
    int64_t *n_nodes;              /* (k) */
    int32_t *feature, *left, *right, *n_samples; /* (k, cap) */
    float *threshold;              /* (k, cap) */
    double *value;                 /* (k, cap) */
    kn_status *status;             /* (k) */
} boost_job;

/* Tree c of the iteration: grown, its leaves reset for absolute_error, kept, and added to the
 * raw scores of its rows. */
static void tree_chunk(void *args, int64_t c) {
    boost_job *b = args;
    const int64_t n = b->tr->n;
    kn__hgb_grower *w = b->growers[b->tree_parallel ? kn__pool_slot() : 0];
    const kn__hgb_tree *t;
    kn_status st = kn__hgb_grow(w, b->g + (size_t)c * n, b->h ? b->h + (size_t)c * n : NULL, b->tree_parallel ? 1 : b->threads, &t);
    b->status[c] = st;
    if (st) return;
    double *raw = b->raw + (size_t)c * n, *value = b->value + (size_t)c * b->cap;
    int64_t m = t->n_nodes;
    memcpy(value, t->value, sizeof(double) * (size_t)m);
    for (int64_t i = 0; i < m; i++) {
        if (t->feature[i] >= 0) continue;
        const int32_t *rows = t->rows + t->start[i];
        int64_t len = t->stop[i] - t->start[i];
        if (b->loss == KN_HGB_ABSOLUTE_ERROR) { /* scikit-learn's _update_leaves_values */
            for (int64_t r = 0; r < len; r++) {
                b->resid[r] = b->tr->y[rows[r]] - raw[rows[r]];
                if (b->leaf_w) b->leaf_w[r] = b->tr->w[rows[r]];
            }
            value[i] = b->o->learning_rate * median(b->resid, b->leaf_w, b->scratch, len);
        }
        for (int64_t r = 0; r < len; r++) raw[rows[r]] += value[i];
    }
    b->n_nodes[c] = m;
    size_t at = (size_t)c * b->cap, bytes = sizeof(int32_t) * (size_t)m;
    memcpy(b->feature + at, t->feature, bytes);
    memcpy(b->left + at, t->left, bytes);
    memcpy(b->right + at, t->right, bytes);
    memcpy(b->n_samples + at, t->n_samples, bytes);
    memcpy(b->threshold + at, t->threshold, sizeof(float) * (size_t)m);
}

/* The validation rows' raw scores through the iteration's trees. */
typedef struct {
    const boost_job *b;
    const float *x;
    const int64_t *rows;   /* (n_val) rows of x */
    int64_t n_val, d;
    double *raw;           /* (k, n_val) */
} val_job;

static void val_chunk(void *args, int64_t ch) {
    val_job *v = args;
    const boost_job *b = v->b;
    int64_t lo = ch * ROW_BLOCK, hi = lo + ROW_BLOCK < v->n_val ? lo + ROW_BLOCK : v->n_val;
    for (int c = 0; c < b->k; c++) {
        size_t at = (size_t)c * b->cap;
        const int32_t *f = b->feature + at, *right = b->right + at;
        const float *th = b->threshold + at;
        for (int64_t i = lo; i < hi; i++) {
            const float *row = v->x + v->rows[i] * v->d;
            int32_t node = 0;
            while (f[node] >= 0) node = row[f[node]] <= th[node] ? node + 1 : right[node];
            v->raw[(size_t)c * v->n_val + i] += b->value[at + node];
        }
    }
}

/* scikit-learn's _should_stop: none of the last n_iter_no_change scores beats the one before
 * them by more than tol. */
static bool should_stop(const double *scores, int n, int n_iter_no_change, double tol) {
    int ref = n_iter_no_change + 1;
    if (n < ref) return false;
    double reference = scores[n - ref] + tol;
    for (int i = n - ref + 1; i < n; i++)
        if (scores[i] > reference) return false;
    return true;
}

/* Regroups codes (n, d) into blocks of 8 features (ceil(d / 8), n), and into rows padded to
 * 8 ceil(d / 8) bytes; 8 blocks a chunk. */
typedef struct {
    const uint8_t *codes;
    uint64_t *blocks;
    uint8_t *rows;
    int64_t n, d;
} regroup_job;

static void regroup_chunk(void *args, int64_t ch) {
    regroup_job *t = args;
    const int64_t nb = (t->d + 7) / 8, b0 = ch * 8, b1 = b0 + 8 < nb ? b0 + 8 : nb;
    for (int64_t i = 0; i < t->n; i++) {
        const uint8_t *row = t->codes + (size_t)i * (size_t)t->d;
        for (int64_t b = b0; b < b1; b++) {
            uint64_t word = 0;
            for (int64_t f = 0; f < 8 && 8 * b + f < t->d; f++) word |= (uint64_t)row[8 * b + f] << (8 * f);
            t->blocks[(size_t)b * (size_t)t->n + (size_t)i] = word;
            for (int f = 0; f < 8; f++) t->rows[(size_t)i * (size_t)nb * 8 + (size_t)(8 * b + f)] = (uint8_t)(word >> (8 * f));
        }
    }
}

kn_status kn__hgb_reserve(kn_ctx *ctx, kn__hgb *h, int64_t cap) {
    void **arrays[] = {(void **)&h->feature, (void **)&h->left, (void **)&h->right, (void **)&h->n_samples,
                       (void **)&h->threshold, (void **)&h->value}; /* 4 bytes an entry, each */
    for (int a = 0; a < 6; a++) {
        void *p = kn__alloc(ctx, 4 * (size_t)cap);
        if (!p) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, T ": out of memory for %lld nodes", (long long)cap);
        if (*arrays[a]) memcpy(p, *arrays[a], 4 * (size_t)h->n_nodes);
        kn__free(ctx, *arrays[a]);
        *arrays[a] = p;
    }
    return KN_OK;
}

/* Appends the iteration's trees to the model, growing its arrays (doubling) when needed. */
static kn_status append_trees(kn_ctx *ctx, kn__hgb *h, const boost_job *b, int64_t *cap, int it) {
    int64_t add = 0;
    for (int c = 0; c < b->k; c++) add += b->n_nodes[c];
    if (h->n_nodes + add >= INT32_MAX)
        return kn__error(ctx, KN_ERR_UNSUPPORTED, T ": more than 2^31 nodes in all (the file format's limit)");
    if (h->n_nodes + add > *cap) {
        int64_t nc = *cap * 2 > h->n_nodes + add ? *cap * 2 : h->n_nodes + add;
        kn_status st = kn__hgb_reserve(ctx, h, nc);
        if (st) return st;
        *cap = nc;
    }
    for (int c = 0; c < b->k; c++) {
        int64_t m = b->n_nodes[c], at = h->n_nodes;
        size_t from = (size_t)c * b->cap;
        h->node_offset[(int64_t)it * b->k + c] = (int32_t)at;
        memcpy(h->feature + at, b->feature + from, 4 * (size_t)m);
        memcpy(h->left + at, b->left + from, 4 * (size_t)m);
        memcpy(h->right + at, b->right + from, 4 * (size_t)m);
        memcpy(h->n_samples + at, b->n_samples + from, 4 * (size_t)m);
        memcpy(h->threshold + at, b->threshold + from, 4 * (size_t)m);
        for (int64_t i = 0; i < m; i++) h->value[at + i] = (float)b->value[from + i];
        h->n_nodes += m;
    }
    h->node_offset[(int64_t)(it + 1) * b->k] = (int32_t)h->n_nodes;
    return KN_OK;
}

kn_status kn__hgb_fit(kn_ctx *ctx, const kn__xy *xy, const kn__hgb_opts *opts, kn__hgb *out) {
    if (!ctx) return KN_ERR_INVALID_ARGUMENT;
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, T ": NULL output");
    memset(out, 0, sizeof *out);
    if (!opts) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, T ": NULL options");
    kn_status st = kn__xy_check(ctx, T, xy);
    if (!st) st = check_opts(ctx, opts, xy->y != NULL);
    if (st) return st;
    const bool classification = xy->y != NULL;
    const int64_t n_all = xy->n, d = xy->d;
    const int C = classification ? xy->n_classes : 0, K = C > 2 ? C : 1, threads = kn_ctx_threads(ctx);
    kn__hgb_opts o = *opts;
    if (o.loss == KN_HGB_LOSS_DEFAULT) o.loss = classification ? KN_HGB_LOG_LOSS : KN_HGB_SQUARED_ERROR;
    const bool early = o.early_stopping < 0 ? n_all > 10000 : o.early_stopping == 1;
    int64_t n_val = 0;
    if (early && o.validation_fraction > 0) {
        n_val = o.validation_fraction < 1 ? (int64_t)ceil(o.validation_fraction * (double)n_all) : (int64_t)o.validation_fraction;
        if (n_val >= n_all)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, T ".validation_fraction: %g leaves none of the %lld rows for training",
                             o.validation_fraction, (long long)n_all);
    }
    const int64_t n = n_all - n_val;
    *out = (kn__hgb){.d = d, .n_classes = C, .k = K, .loss = o.loss};

    /* everything the fit holds, freed at the end */
    bool *is_val = NULL;
    int64_t *train_rows = NULL, *val_rows = NULL;
    double *y_tr = NULL, *y_val = NULL, *raw = NULL, *raw_val = NULL, *part = NULL, *base = NULL;
    float *w_tr = NULL, *w_val = NULL, *g = NULL, *hs = NULL;
    uint64_t *cols = NULL;
    uint8_t *rowcodes = NULL;
    kn__bins bins = {0};
    pthread_mutex_t lock;
    pthread_mutex_init(&lock, NULL);
    boost_job b = {.ctx = ctx, .o = &o, .loss = o.loss, .k = K, .threads = threads, .tree_parallel = K > 1 && threads > 1};
    int n_growers = b.tree_parallel ? (threads < K ? threads : K) : 1;
    int64_t node_cap = 0;

    /* the rows: all, or the training ones with the validation rows apart */
    if (n_val) {
        is_val = kn__calloc(ctx, (size_t)n_all, sizeof(bool));
        train_rows = kn__alloc(ctx, sizeof(int64_t) * (size_t)n);
        val_rows = kn__alloc(ctx, sizeof(int64_t) * (size_t)n_val);
        y_val = kn__alloc(ctx, sizeof(double) * (size_t)n_val);
        w_val = xy->w ? kn__alloc(ctx, sizeof(float) * (size_t)n_val) : NULL;
        raw_val = kn__alloc(ctx, sizeof(double) * (size_t)(n_val * K));
        if (!is_val || !train_rows || !val_rows || !y_val || (xy->w && !w_val) || !raw_val) goto oom;
        if ((st = draw_validation(ctx, xy, n_val, o.seed, is_val))) goto done;
        for (int64_t i = 0, a = 0, v = 0; i < n_all; i++) {
            if (is_val[i]) {
                y_val[v] = classification ? xy->y[i] : xy->t[i];
                if (w_val) w_val[v] = xy->w[i];
                val_rows[v++] = i;
            } else {
                train_rows[a++] = i;
            }
        }
    }
    y_tr = kn__alloc(ctx, sizeof(double) * (size_t)n);
    w_tr = xy->w ? kn__alloc(ctx, sizeof(float) * (size_t)n) : NULL;
    if (!y_tr || (xy->w && !w_tr)) goto oom;
    for (int64_t a = 0; a < n; a++) {
        int64_t i = train_rows ? train_rows[a] : a;
        y_tr[a] = classification ? xy->y[i] : xy->t[i];
        if (w_tr) w_tr[a] = xy->w[i];
    }
    const rows_y tr = {.n = n, .y = y_tr, .w = w_tr}, va = {.n = n_val, .y = y_val, .w = w_val};

    /* the training rows binned, their codes regrouped for the grower */
    if ((st = kn__bins_build_rows(ctx, xy->x, train_rows, n, d, o.max_bins, &bins))) goto done;
    cols = kn__alloc(ctx, sizeof(uint64_t) * (size_t)n * (size_t)((d + 7) / 8));
    rowcodes = kn__alloc(ctx, sizeof(uint64_t) * (size_t)n * (size_t)((d + 7) / 8));
    if (!cols || !rowcodes) goto oom;
    regroup_job rj = {.codes = bins.codes, .blocks = cols, .rows = rowcodes, .n = n, .d = d};
    kn__pool_run(threads, (d + 63) / 64, regroup_chunk, &rj);
    kn__free(ctx, bins.codes);
    bins.codes = NULL;

    /* the baseline, and the raw scores from it */
    base = kn__alloc(ctx, sizeof(double) * (size_t)K);
    out->baseline = kn__alloc(ctx, sizeof(float) * (size_t)K);
    raw = kn__alloc(ctx, sizeof(double) * (size_t)(n * K));
    g = kn__alloc(ctx, sizeof(float) * (size_t)(n * K));
    bool const_hessian = o.loss != KN_HGB_LOG_LOSS && !xy->w;
    hs = const_hessian ? NULL : kn__alloc(ctx, sizeof(float) * (size_t)(n * K));
    part = kn__alloc(ctx, sizeof(double) * 2 * (size_t)((n_all + ROW_BLOCK - 1) / ROW_BLOCK));
    if (!base || !out->baseline || !raw || !g || (!const_hessian && !hs) || !part) goto oom;
    if ((st = baseline(ctx, o.loss, K, C, &tr, base))) goto done;
    for (int c = 0; c < K; c++) {
        out->baseline[c] = (float)base[c];
        for (int64_t i = 0; i < n; i++) raw[(size_t)c * n + i] = base[c];
        for (int64_t i = 0; i < n_val; i++) raw_val[(size_t)c * n_val + i] = base[c];
    }

    /* the growers and the iteration's trees */
    b.tr = &tr;
    b.raw = raw;
    b.g = g;
    b.h = hs;
    b.growers = kn__calloc(ctx, (size_t)n_growers, sizeof *b.growers);
    if (!b.growers) goto oom;
    for (int i = 0; i < n_growers; i++)
        if (kn__hgb_grower_new(ctx, cols, rowcodes, n, d, bins.n_bins, bins.edges, &o, b.tree_parallel ? 1 : threads,
                               b.tree_parallel ? &lock : NULL, &b.growers[i]))
            goto oom;
    int64_t leaves = n / o.min_samples_leaf + 1;
    if (o.max_leaf_nodes && leaves > o.max_leaf_nodes) leaves = o.max_leaf_nodes;
    b.cap = 2 * leaves + 1;
    size_t kc = (size_t)K * (size_t)b.cap;
    b.n_nodes = kn__calloc(ctx, (size_t)K, sizeof(int64_t));
    b.status = kn__calloc(ctx, (size_t)K, sizeof(kn_status));
    b.feature = kn__alloc(ctx, sizeof(int32_t) * kc);
    b.left = kn__alloc(ctx, sizeof(int32_t) * kc);
    b.right = kn__alloc(ctx, sizeof(int32_t) * kc);
    b.n_samples = kn__alloc(ctx, sizeof(int32_t) * kc);
    b.threshold = kn__alloc(ctx, sizeof(float) * kc);
    b.value = kn__alloc(ctx, sizeof(double) * kc);
    if (!b.n_nodes || !b.status || !b.feature || !b.left || !b.right || !b.n_samples || !b.threshold || !b.value) goto oom;
    if (o.loss == KN_HGB_ABSOLUTE_ERROR) {
        b.resid = kn__alloc(ctx, sizeof(double) * (size_t)n);
        b.leaf_w = xy->w ? kn__alloc(ctx, sizeof(float) * (size_t)n) : NULL;
        b.scratch = xy->w ? kn__alloc(ctx, sizeof(vw) * (size_t)n) : NULL;
        if (!b.resid || (xy->w && (!b.leaf_w || !b.scratch))) goto oom;
    }
    out->node_offset = kn__alloc(ctx, sizeof(int32_t) * ((size_t)o.max_iter * (size_t)K + 1));
    if (!out->node_offset) goto oom;
    out->node_offset[0] = 0;
    if (early) {
        out->train_score = kn__alloc(ctx, sizeof(double) * ((size_t)o.max_iter + 1));
        out->validation_score = n_val ? kn__alloc(ctx, sizeof(double) * ((size_t)o.max_iter + 1)) : NULL;
        if (!out->train_score || (n_val && !out->validation_score)) goto oom;
        out->train_score[0] = score(ctx, &o, K, &tr, raw, part);
        if (n_val) out->validation_score[0] = score(ctx, &o, K, &va, raw_val, part);
        out->n_scores = 1;
    }

    /* the iterations */
    for (int it = 0; it < o.max_iter; it++) {
        row_job gj = {.loss = o.loss, .k = K, .r = &tr, .raw = raw, .g = g, .h = hs};
        int64_t chunks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
        kn__pool_run(chunks > 1 ? threads : 1, chunks, grad_chunk, &gj);
        kn__pool_run(b.tree_parallel ? n_growers : 1, K, tree_chunk, &b);
        for (int c = 0; c < K; c++)
            if (b.status[c]) goto oom;
        if ((st = append_trees(ctx, out, &b, &node_cap, it))) goto done;
        out->n_iter = it + 1;
        if (!early) continue;
        if (n_val) {
            val_job vj = {.b = &b, .x = xy->x, .rows = val_rows, .n_val = n_val, .d = d, .raw = raw_val};
            int64_t vchunks = (n_val + ROW_BLOCK - 1) / ROW_BLOCK;
            kn__pool_run(vchunks > 1 ? threads : 1, vchunks, val_chunk, &vj);
            out->validation_score[out->n_scores] = score(ctx, &o, K, &va, raw_val, part);
        }
        out->train_score[out->n_scores++] = score(ctx, &o, K, &tr, raw, part);
        if (should_stop(n_val ? out->validation_score : out->train_score, out->n_scores, o.n_iter_no_change, o.tol)) {
            kn__log(ctx, KN_LOG_INFO, T ": stopped early after %d iterations (no gain over %d)", out->n_iter, o.n_iter_no_change);
            break;
        }
    }
    goto done;
oom:
    st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, T ": out of memory fitting %lld x %lld", (long long)n_all, (long long)d);
done:
    for (int i = 0; b.growers && i < n_growers; i++) kn__hgb_grower_free(b.growers[i]);
    void *bufs[] = {is_val, train_rows, val_rows, y_tr, y_val, raw, raw_val, part, base, w_tr, w_val, g, hs, cols, rowcodes,
                    b.growers, b.n_nodes, b.status, b.feature, b.left, b.right, b.n_samples, b.threshold, b.value,
                    b.resid, b.leaf_w, b.scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) kn__free(ctx, bufs[i]);
    kn__bins_free(ctx, &bins);
    pthread_mutex_destroy(&lock);
    if (st) kn__hgb_free(ctx, out);
    return st;
}

/* ------------------------------------------------------------------ prediction */

#define ACC 4096  /* doubles of raw scores a block of rows keeps on the stack */
#define PRED_ROWS 256

typedef struct {
    const kn__hgb *h;
    const float *x;
    int64_t n;
    double *raw;  /* (n, k), or NULL: out */
    float *out;   /* (n, outputs) */
} pred_job;

/* The value of the leaf a row reaches in the tree whose first node is `at`. */
static inline float leaf_of(const kn__hgb *h, int64_t at, const float *row) {
    const int32_t *f = h->feature + at, *right = h->right + at;
    const float *th = h->threshold + at;
    int32_t i = 0;
    while (f[i] >= 0) i = row[f[i]] <= th[i] ? i + 1 : right[i];
    return h->value[at + i];
}

/* Rows [lo, hi) (hi - lo <= ACC / k): raw scores in acc (rows, k), trees in order as
 * scikit-learn adds them. */
static void raw_block(const kn__hgb *h, const float *x, int64_t lo, int64_t hi, double *acc) {
    const int k = h->k;
    const int64_t nb = hi - lo;
    for (int64_t i = 0; i < nb; i++)
        for (int c = 0; c < k; c++) acc[i * k + c] = h->baseline[c];
    for (int64_t t = 0; t < (int64_t)h->n_iter * k; t++) {
        const int64_t at = h->node_offset[t];
        const int c = (int)(t % k);
        for (int64_t i = 0; i < nb; i++) acc[i * k + c] += leaf_of(h, at, x + (size_t)(lo + i) * (size_t)h->d);
    }
}

/* A row's outputs from its raw scores: sigmoid, softmax or the value. */
static void finish_row(const kn__hgb *h, const double *raw, float *out) {
    if (!h->n_classes) {
        out[0] = (float)raw[0];
    } else if (h->k == 1) {
        double p = 1.0 / (1.0 + exp(-raw[0]));
        out[0] = (float)(1.0 - p);
        out[1] = (float)p;
    } else {
        double mx = raw[0], sum = 0.0;
        for (int c = 1; c < h->k; c++) mx = raw[c] > mx ? raw[c] : mx;
        for (int c = 0; c < h->k; c++) sum += exp(raw[c] - mx);
        for (int c = 0; c < h->k; c++) out[c] = (float)(exp(raw[c] - mx) / sum);
    }
}

static void pred_chunk(void *args, int64_t ch) {
    pred_job *p = args;
    const kn__hgb *h = p->h;
    const int k = h->k, outs = h->n_classes ? h->n_classes : 1;
    int64_t lo = ch * PRED_ROWS, hi = lo + PRED_ROWS < p->n ? lo + PRED_ROWS : p->n;
    double acc[ACC];
    if (k <= ACC) {
        int64_t step = ACC / k < 64 ? ACC / k : 64;
        for (int64_t r0 = lo; r0 < hi; r0 += step) {
            int64_t r1 = r0 + step < hi ? r0 + step : hi;
            raw_block(h, p->x, r0, r1, acc);
            for (int64_t i = r0; i < r1; i++) {
                if (p->raw) memcpy(p->raw + (size_t)i * k, acc + (i - r0) * k, sizeof(double) * (size_t)k);
                else finish_row(h, acc + (i - r0) * k, p->out + (size_t)i * outs);
            }
        }
        return;
    }
    /* more classes than the stack holds: a row at a time, the classes in groups, the raw
     * scores passed through float (out) before the softmax */
    for (int64_t i = lo; i < hi; i++) {
        const float *row = p->x + (size_t)i * (size_t)h->d;
        for (int c0 = 0; c0 < k; c0 += ACC) {
            int c1 = c0 + ACC < k ? c0 + ACC : k;
            for (int c = c0; c < c1; c++) acc[c - c0] = h->baseline[c];
            for (int it = 0; it < h->n_iter; it++)
                for (int c = c0; c < c1; c++) acc[c - c0] += leaf_of(h, h->node_offset[(int64_t)it * k + c], row);
            for (int c = c0; c < c1; c++) {
                if (p->raw) p->raw[(size_t)i * k + c] = acc[c - c0];
                else p->out[(size_t)i * outs + c] = (float)acc[c - c0];
            }
        }
        if (p->raw) continue;
        float *o = p->out + (size_t)i * outs;
        double mx = o[0], sum = 0.0;
        for (int c = 1; c < k; c++) mx = o[c] > mx ? o[c] : mx;
        for (int c = 0; c < k; c++) sum += exp(o[c] - mx);
        for (int c = 0; c < k; c++) o[c] = (float)(exp(o[c] - mx) / sum);
    }
}

static void predict_rows(kn_ctx *ctx, const kn__hgb *h, const float *x, int64_t n, double *raw, float *out) {
    pred_job p = {.h = h, .x = x, .n = n, .raw = raw, .out = out};
    int64_t chunks = (n + PRED_ROWS - 1) / PRED_ROWS;
    int64_t work = n * (int64_t)h->n_iter * h->k;
    kn__pool_run(chunks > 1 && work >= 100000 ? kn_ctx_threads(ctx) : 1, chunks, pred_chunk, &p);
}

void kn__hgb_raw(kn_ctx *ctx, const kn__hgb *h, const float *x, int64_t n, double *raw) { predict_rows(ctx, h, x, n, raw, NULL); }

void kn__hgb_predict(kn_ctx *ctx, const kn__hgb *h, const float *x, int64_t n, float *out) { predict_rows(ctx, h, x, n, NULL, out); }

void kn__hgb_free(kn_ctx *ctx, kn__hgb *h) {
    if (!h) return;
    if (ctx) {
        void *bufs[] = {h->baseline, h->node_offset, h->feature, h->threshold, h->left, h->right, h->value, h->n_samples,
                        h->train_score, h->validation_score};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) kn__free(ctx, bufs[i]);
    }
    memset(h, 0, sizeof *h);
}
