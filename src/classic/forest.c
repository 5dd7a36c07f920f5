/* forest.c — random forests as scikit-learn's RandomForestClassifier / RandomForestRegressor:
 * trees grown in parallel on one shared binning (one pool chunk per tree, each tree on one
 * thread, its randomness keyed by the forest's seed and its index), bootstrap samples kept as
 * integer row weights, predictions averaged, importances averaged, and the out-of-bag score
 * computed as scikit-learn computes it (rows never out of bag count with a zero prediction). */
#include "classic/tree.h"
#include "core/pool.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

typedef struct {
    kn_ctx *ctx;
    const kn__xy *xy;
    const kn__bins *bins;
    const kn__tree_opts *o;
    bool bootstrap;
    pthread_mutex_t lock;   /* serializes the ctx allocator between trees */
    kn__tree *trees;        /* (n_trees) */
    kn_status *status;      /* (n_trees) */
    uint64_t *inbag;        /* (n_trees, words) rows drawn into each tree's bootstrap, or NULL */
    int64_t words;
} forest_job;

/* Tree t's seed; its bootstrap draws use (seed, KN_STREAM_FOREST + 1, draw). */
static uint64_t tree_seed(uint64_t seed, int64_t t) { return kn__rng_u64(seed, KN_STREAM_FOREST, (uint64_t)t); }

static void tree_chunk(void *args, int64_t t) {
    forest_job *job = args;
    const kn__xy *xy = job->xy;
    const int64_t n = xy->n;
    uint64_t seed = tree_seed(job->o->seed, t);
    float *w = NULL;
    if (job->bootstrap) {
        pthread_mutex_lock(&job->lock);
        w = kn__calloc(job->ctx, (size_t)n, sizeof(float));
        pthread_mutex_unlock(&job->lock);
        if (!w) {
            job->status[t] = KN_ERR_OUT_OF_MEMORY;
            return;
        }
        /* n draws with replacement (scikit-learn: randint(0, n, n) and bincount) */
        for (int64_t i = 0; i < n; i++) {
            uint64_t r = kn__rng_u64(seed, KN_STREAM_FOREST + 1, (uint64_t)i) >> 32;
            w[(r * (uint64_t)n) >> 32] += 1.0f;
        }
        uint64_t *bag = job->inbag ? job->inbag + (size_t)t * (size_t)job->words : NULL;
        for (int64_t i = 0; i < n; i++) {
            if (bag && w[i] > 0.0f) bag[i >> 6] |= UINT64_C(1) << (i & 63);
            if (xy->w) w[i] *= xy->w[i];
        }
    }
    job->status[t] = kn__tree_grow(job->ctx, xy, job->bins, job->o, w, seed, 1, &job->lock, &job->trees[t]);
    pthread_mutex_lock(&job->lock);
    kn__free(job->ctx, w);
    pthread_mutex_unlock(&job->lock);
}

typedef struct {
    const kn__forest *f;
    const kn__xy *xy;
    const uint64_t *inbag;
    int64_t words;
    double *sum;            /* (n, n_outputs) */
    int32_t *count;         /* (n) */
} oob_job;

enum { OOB_ROWS = 256 };

static void oob_chunk(void *args, int64_t chunk) {
    oob_job *job = args;
    const kn__forest *f = job->f;
    const int no = f->n_outputs;
    int64_t lo = chunk * OOB_ROWS, hi = lo + OOB_ROWS < job->xy->n ? lo + OOB_ROWS : job->xy->n;
    for (int t = 0; t < f->n_trees; t++) {
        const kn__tree *tr = f->trees + t;
        const uint64_t *bag = job->inbag + (size_t)t * (size_t)job->words;
        for (int64_t i = lo; i < hi; i++) {
            if ((bag[i >> 6] >> (i & 63)) & 1) continue;
            const float *v = tr->value + (size_t)kn__tree_leaf(tr, job->xy->x + (size_t)i * (size_t)f->d) * no;
            for (int c = 0; c < no; c++) job->sum[(size_t)i * no + c] += v[c];
            job->count[i]++;
        }
    }
}

/* scikit-learn's oob_score_: accuracy of the argmax of the summed out-of-bag probabilities,
 * or R² of the mean out-of-bag prediction, over every row (a row never out of bag counts
 * with a zero prediction, after scikit-learn's warning). */
static kn_status oob_score(kn_ctx *ctx, const kn__xy *xy, const uint64_t *inbag, int64_t words, kn__forest *f) {
    const int no = f->n_outputs;
    const int64_t n = xy->n;
    oob_job job = {.f = f, .xy = xy, .inbag = inbag, .words = words};
    job.sum = kn__calloc(ctx, (size_t)n * (size_t)no, sizeof(double));
    job.count = kn__calloc(ctx, (size_t)n, sizeof(int32_t));
    if (!job.sum || !job.count) {
        kn__free(ctx, job.sum);
        kn__free(ctx, job.count);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "random_forest: out of memory for the out-of-bag score");
    }
    kn__pool_run(kn_ctx_threads(ctx), (n + OOB_ROWS - 1) / OOB_ROWS, oob_chunk, &job);
    if (xy->y) {
        int64_t right = 0;
        for (int64_t i = 0; i < n; i++) {
            const double *s = job.sum + (size_t)i * no;
            int best = 0;
            for (int c = 1; c < no; c++)
                if (s[c] > s[best]) best = c;
            right += best == xy->y[i];
        }
        f->oob_score = (double)right / (double)n;
    } else {
        double mean = 0.0, res = 0.0, tot = 0.0;
        for (int64_t i = 0; i < n; i++) mean += xy->t[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double p = job.sum[i] / (job.count[i] > 0 ? job.count[i] : 1), r = xy->t[i] - p, m = xy->t[i] - mean;
            res += r * r;
            tot += m * m;
        }
        f->oob_score = tot > 0.0 ? 1.0 - res / tot : res == 0.0 ? 1.0 : 0.0;
    }
    kn__free(ctx, job.sum);
    kn__free(ctx, job.count);
    return KN_OK;
}

kn_status kn__forest_fit(kn_ctx *ctx, const kn__xy *xy, const kn__forest_opts *opts, kn__forest *out) {
    if (!ctx) return KN_ERR_INVALID_ARGUMENT;
    if (!out) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "random_forest: NULL output");
    memset(out, 0, sizeof *out);
    out->oob_score = NAN;
    if (!opts) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "random_forest: NULL options");
    kn_status st = kn__tree_check(ctx, "random_forest", xy, &opts->tree);
    if (st) return st;
    if (opts->n_estimators < 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "random_forest.n_estimators: %d must be >= 1", opts->n_estimators);
    if (opts->oob_score && opts->no_bootstrap)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "random_forest.oob_score: out-of-bag estimation needs the bootstrap (no_bootstrap is set)");
    kn__tree_opts o = kn__tree_defaults(&opts->tree, xy, true);
    int n_trees = opts->n_estimators ? opts->n_estimators : 100;
    kn__bins bins;
    if ((st = kn__bins_build(ctx, xy->x, xy->n, xy->d, o.max_bins, &bins))) return st;
    forest_job job = {.ctx = ctx, .xy = xy, .bins = &bins, .o = &o, .bootstrap = !opts->no_bootstrap,
                      .words = (xy->n + 63) / 64};
    pthread_mutex_init(&job.lock, NULL);
    out->n_trees = n_trees;
    out->d = xy->d;
    out->n_outputs = xy->y ? xy->n_classes : 1;
    out->trees = kn__calloc(ctx, (size_t)n_trees, sizeof(kn__tree));
    out->importance = kn__calloc(ctx, (size_t)xy->d, sizeof(double));
    job.status = kn__calloc(ctx, (size_t)n_trees, sizeof(kn_status));
    if (opts->oob_score) job.inbag = kn__calloc(ctx, (size_t)n_trees * (size_t)job.words, sizeof(uint64_t));
    if (!out->trees || !out->importance || !job.status || (opts->oob_score && !job.inbag)) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "random_forest: out of memory for %d trees", n_trees);
        goto done;
    }
    job.trees = out->trees;
    kn__pool_run(kn_ctx_threads(ctx), n_trees, tree_chunk, &job);
    for (int t = 0; t < n_trees; t++)
        if (job.status[t]) {
            if (job.status[t] == KN_ERR_OUT_OF_MEMORY)
                st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "random_forest: out of memory growing tree %d", t);
            else
                st = kn__error(ctx, job.status[t], "random_forest: tree %d's bootstrap sample has no weight", t);
            goto done;
        }
    /* scikit-learn: the mean of the trees' normalized importances (trees of one node left
     * out), normalized again */
    int used = 0;
    for (int t = 0; t < n_trees; t++) {
        if (out->trees[t].n_nodes <= 1) continue;
        used++;
        for (int64_t j = 0; j < xy->d; j++) out->importance[j] += out->trees[t].importance[j];
    }
    double sum = 0.0;
    for (int64_t j = 0; j < xy->d; j++) sum += out->importance[j] /= (used ? used : 1);
    if (sum > 0.0)
        for (int64_t j = 0; j < xy->d; j++) out->importance[j] /= sum;
    if (opts->oob_score) st = oob_score(ctx, xy, job.inbag, job.words, out);
done:
    pthread_mutex_destroy(&job.lock);
    kn__free(ctx, job.status);
    kn__free(ctx, job.inbag);
    kn__bins_free(ctx, &bins);
    if (st) kn__forest_free(ctx, out);
    return st;
}

void kn__forest_predict(const kn__forest *f, const float *x, int64_t n, float *out) {
    enum { BLOCK = 64, MAX_ACC = 64 };
    const int no = f->n_outputs;
    const size_t d = (size_t)f->d;
    if (no <= MAX_ACC) {
        /* a block of rows through one tree after another, so the tree's upper nodes stay in
         * cache; double sums as scikit-learn's */
        double acc[BLOCK * MAX_ACC];
        for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
            int nb = n - i0 < BLOCK ? (int)(n - i0) : BLOCK;
            memset(acc, 0, sizeof(double) * (size_t)nb * no);
            for (int t = 0; t < f->n_trees; t++) {
                const kn__tree *tr = f->trees + t;
                for (int i = 0; i < nb; i++) {
                    const float *v = tr->value + (size_t)kn__tree_leaf(tr, x + (size_t)(i0 + i) * d) * no;
                    for (int c = 0; c < no; c++) acc[i * no + c] += v[c];
                }
            }
            for (int i = 0; i < nb * no; i++) out[(size_t)i0 * no + i] = (float)(acc[i] / f->n_trees);
        }
        return;
    }
    const float scale = 1.0f / (float)f->n_trees;
    for (int64_t i = 0; i < n; i++) {
        float *o = out + (size_t)i * no;
        memset(o, 0, sizeof(float) * (size_t)no);
        for (int t = 0; t < f->n_trees; t++) {
            const float *v = f->trees[t].value + (size_t)kn__tree_leaf(f->trees + t, x + (size_t)i * d) * no;
            for (int c = 0; c < no; c++) o[c] += v[c];
        }
        for (int c = 0; c < no; c++) o[c] *= scale;
    }
}

void kn__forest_free(kn_ctx *ctx, kn__forest *f) {
    if (!f) return;
    if (ctx) {
        if (f->trees)
            for (int t = 0; t < f->n_trees; t++) kn__tree_free(ctx, f->trees + t);
        kn__free(ctx, f->trees);
        kn__free(ctx, f->importance);
    }
    memset(f, 0, sizeof *f);
    f->oob_score = NAN;
}
