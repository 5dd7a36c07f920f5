/* inputs.c — what a model predicts from, read from a file: IDX images, a PNG/PGM image, or
 * a CSV of feature rows. A model trained from CSV reads them through its saved preprocessing
 * (data/preprocess.c); otherwise CSV columns are matched to the model's features by name when the
 * model knows them (trained from CSV), else taken in order when their count is the model's
 * input size; the target and other extra columns are ignored. The model's stored input
 * scaling is applied (CSV pixel values 0-255 for an image model become [0, 1]). */
#include "dataset.h"
#include "csv.h"
#include "preprocess.h"
#include "nn/model.h"

#include <math.h>
#include <string.h>

static bool is_csv(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && (strcmp(path + n - 4, ".csv") == 0 || strcmp(path + n - 4, ".CSV") == 0);
}

static kn_status load_csv(kn_model *m, const char *path, kn_dataset **out) {
    kn_ctx *ctx = m->ctx;
    if (m->prep) return kn__prep_load_csv(m->prep, ctx, path, 0, NULL, false, out); /* the stored preprocessing */
    kn__csv csv;
    kn_status st = kn__csv_read(ctx, path, &(kn__csv_opts){0}, &csv);
    if (st) return st;
    int64_t want = m->in_features;
    int64_t *col = kn__alloc(ctx, (size_t)want * sizeof *col);
    if (!col) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (!st && m->feature_names) { /* by name */
        for (int64_t j = 0; !st && j < want; j++) {
            col[j] = kn__csv_column_index(&csv, m->feature_names[j]);
            if (col[j] < 0)
                st = kn__error(ctx, KN_ERR_SHAPE, "%s: no column '%s' (feature %lld of the model's %lld)", path,
                               m->feature_names[j], (long long)j + 1, (long long)want);
        }
    } else if (!st) { /* in order: the numeric columns */
        int64_t k = 0;
        for (int64_t c = 0; c < csv.cols; c++)
            if (csv.columns[c].numeric && k < want + 1) {
                if (k < want) col[k] = c;
                k++;
            }
        if (k != want)
            st = kn__error(ctx, KN_ERR_SHAPE,
                           "%s: %lld numeric columns; the model expects %lld inputs and has no feature names to match",
                           path, (long long)k, (long long)want);
    }
    for (int64_t j = 0; !st && j < want; j++)
        if (!csv.columns[col[j]].numeric)
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: column '%s' is not numeric", path, csv.columns[col[j]].name);
    if (!st) st = kn__dataset_alloc(ctx, csv.rows, want, 0, 0, out);
    double scale = kn_model_input_scale(m);
    for (int64_t r = 0; !st && r < csv.rows; r++)
        for (int64_t j = 0; j < want; j++) {
            float v = csv.values[r * csv.cols + col[j]];
            if (isnan(v)) { /* imputation comes with the stored CSV preprocessing */
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: row %lld, column '%s': missing value", path, (long long)r + 1,
                               csv.columns[col[j]].name);
                break;
            }
            (*out)->x[r * want + j] = (float)(v * scale);
        }
    if (st) {
        kn_dataset_free(*out);
        *out = NULL;
    }
    kn__free(ctx, col);
    kn__csv_free(ctx, &csv);
    return st;
}

kn_status kn_model_load_inputs(kn_model *m, const char *path, kn_dataset **out) {
    if (!m || !path || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (is_csv(path)) return load_csv(m, path, out);
    kn_status st = kn_dataset_load_inputs(m->ctx, path, out);
    if (st) return st;
    kn_dataset *ds = *out;
    if (ds->features != m->in_features) {
        int64_t rows = ds->sample_shape[0], cols = ds->sample_ndim > 1 ? ds->sample_shape[1] : 1;
        st = kn__error(m->ctx, KN_ERR_SHAPE, "%s: images are %lldx%lld (%lld values); the model expects %lld values", path,
                       (long long)rows, (long long)cols, (long long)ds->features, (long long)m->in_features);
        kn_dataset_free(ds);
        *out = NULL;
    }
    return st;
}

bool kn_dataset_is_raw(const kn_dataset *ds) { return ds && ds->raw; }

kn_status kn_model_load_data(kn_model *m, const char *source, kn_dataset **out) {
    if (!m || !source || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    kn_ctx *ctx = m->ctx;
    if (strncmp(source, "csv:", 4) != 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: expected a csv:FILE source (image data: kn_dataset_load)", source);
    if (!m->prep)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: the model has no CSV preprocessing (it was not trained from a CSV)",
                         source);
    kn__source src;
    kn_status st = kn__source_parse(ctx, source + 4, &src);
    if (st) return st;
    const char **na = src.na_given ? kn__calloc(ctx, (size_t)src.na.n + 1, sizeof *na) : NULL;
    if (src.na_given && !na) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", source);
    for (int i = 0; na && i < src.na.n; i++) na[i] = src.na.names[i];
    if (!st) st = kn__prep_load_csv(m->prep, ctx, src.path, src.sep, na, true, out);
    kn__free(ctx, na);
    kn__source_free(ctx, &src);
    return st;
}
