/* split.c — holding out a test split: a seeded shuffle, stratified by class for
 * classification (each class contributes its share, rounded, so a rare class is not left
 * out of either side by chance), the rows' order kept within each side. */
#include "dataset.h"

#include <string.h>

/* Copies rows idx[0..n) of ds into a new dataset with ds's names, shape and scale. */
static kn_status take_rows(const kn_dataset *ds, const int64_t *idx, int64_t n, kn_dataset **out) {
    kn_status st = kn__dataset_alloc(ds->ctx, n, ds->features, ds->n_classes, ds->outputs, out);
    if (st) return st;
    kn_dataset *d = *out;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = idx[i];
        memcpy(d->x + i * ds->features, ds->x + r * ds->features, (size_t)ds->features * sizeof(float));
        if (ds->labels) d->labels[i] = ds->labels[r];
        if (ds->targets) memcpy(d->targets + i * ds->outputs, ds->targets + r * ds->outputs, (size_t)ds->outputs * sizeof(float));
    }
    if ((st = kn__dataset_copy_meta(d, ds))) {
        kn_dataset_free(d);
        *out = NULL;
    }
    return st;
}

kn_status kn_dataset_split(const kn_dataset *ds, double test_fraction, uint64_t seed, kn_dataset **train,
                           kn_dataset **test) {
    if (!ds || !train || !test) return KN_ERR_INVALID_ARGUMENT;
    *train = *test = NULL;
    kn_ctx *ctx = ds->ctx;
    if (!(test_fraction > 0 && test_fraction < 1))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "split: test fraction %g must be in (0, 1)", test_fraction);
    int64_t n = ds->n;
    int64_t *perm = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *perm);
    bool *is_test = kn__calloc(ctx, (size_t)(n > 0 ? n : 1), sizeof *is_test);
    int64_t *tr = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *tr), *te = kn__alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *te);
    kn_status st = KN_OK;
    if (!perm || !is_test || !tr || !te) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "split: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    kn__rng_shuffle(perm, n, seed, KN_STREAM_SPLIT);
    int groups = ds->labels ? ds->n_classes : 1;
    for (int c = 0; c < groups; c++) { /* each class (or the whole set) gives its share, rounded */
        int64_t members = 0, taken = 0;
        for (int64_t i = 0; i < n; i++) members += !ds->labels || ds->labels[perm[i]] == c;
        int64_t want = (int64_t)((double)members * test_fraction + 0.5);
        for (int64_t i = 0; i < n && taken < want; i++)
            if (!ds->labels || ds->labels[perm[i]] == c) is_test[perm[i]] = true, taken++;
    }
    int64_t n_tr = 0, n_te = 0;
    for (int64_t i = 0; i < n; i++) { /* original order kept */
        if (is_test[i]) te[n_te++] = i;
        else tr[n_tr++] = i;
    }
    if (n_tr == 0 || n_te == 0) {
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "split: a test fraction of %g of %lld rows leaves a side empty",
                       test_fraction, (long long)n);
        goto done;
    }
    if (!(st = take_rows(ds, tr, n_tr, train)) && (st = take_rows(ds, te, n_te, test))) {
        kn_dataset_free(*train);
        *train = NULL;
    }
done:
    kn__free(ctx, perm);
    kn__free(ctx, is_test);
    kn__free(ctx, tr);
    kn__free(ctx, te);
    return st;
}

kn_status kn_dataset_fold(const kn_dataset *ds, int folds, int fold, uint64_t seed, kn_dataset **train, kn_dataset **test) {
    if (!ds || !train || !test) return KN_ERR_INVALID_ARGUMENT;
    *train = *test = NULL;
    kn_ctx *ctx = ds->ctx;
    if (folds < 2 || fold < 0 || fold >= folds || folds > ds->n)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fold: fold %d of %d is not possible with %lld rows", fold, folds,
                         (long long)ds->n);
    int64_t n = ds->n;
    int64_t *perm = kn__alloc(ctx, (size_t)n * sizeof *perm), *tr = kn__alloc(ctx, (size_t)n * sizeof *tr);
    int64_t *te = kn__alloc(ctx, (size_t)n * sizeof *te);
    int *which = kn__alloc(ctx, (size_t)n * sizeof *which);
    kn_status st = KN_OK;
    if (!perm || !tr || !te || !which) {
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "fold: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    kn__rng_shuffle(perm, n, seed, KN_STREAM_SPLIT + 1);
    /* stratified: each class dealt round-robin over the folds, after the shuffle */
    int groups = ds->labels ? ds->n_classes : 1;
    for (int c = 0; c < groups; c++) {
        int64_t dealt = 0;
        for (int64_t i = 0; i < n; i++)
            if (!ds->labels || ds->labels[perm[i]] == c) which[perm[i]] = (int)(dealt++ % folds);
    }
    int64_t n_tr = 0, n_te = 0;
    for (int64_t i = 0; i < n; i++) {
        if (which[i] == fold) te[n_te++] = i;
        else tr[n_tr++] = i;
    }
    if (n_tr == 0 || n_te == 0) {
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "fold: fold %d of %d leaves a side empty", fold, folds);
        goto done;
    }
    if (!(st = take_rows(ds, tr, n_tr, train)) && (st = take_rows(ds, te, n_te, test))) {
        kn_dataset_free(*train);
        *train = NULL;
    }
done:
    kn__free(ctx, perm);
    kn__free(ctx, tr);
    kn__free(ctx, te);
    kn__free(ctx, which);
    return st;
}
