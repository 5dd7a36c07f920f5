/* preprocess_json.c — a fitted preprocessing as JSON, saved in a model file under
 * kiln.preprocessing's "tabular" key, and read back with every count, index and kind
 * checked against the others (a model file is untrusted input). Numbers are printed so
 * they read back to the same double. */
#define _POSIX_C_SOURCE 200809L
#include "data/preprocess.h"
#include "data/text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static const char *const impute_names[] = {"mean", "median", "most_frequent", "constant", "drop"};
static const char *const scale_names[] = {"standard", "minmax", "none"};
static const char *const kind_names[] = {"numeric", "categorical", "date", "text", "sequence"};

static cJSON *doubles(const double *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *indices(const int64_t *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

cJSON *kn__prep_to_json(const kn_preprocessor *p) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddNumberToObject(j, "version", 1);
    cJSON_AddStringToObject(j, "target", p->target);
    cJSON_AddStringToObject(j, "task", p->task == KN__TASK_REGRESSION ? "regression" : "classification");
    cJSON *labels = cJSON_AddArrayToObject(j, "labels");
    for (int i = 0; labels && i < p->n_labels; i++) cJSON_AddItemToArray(labels, cJSON_CreateString(p->labels[i]));
    cJSON_AddStringToObject(j, "impute", impute_names[p->impute]);
    cJSON_AddStringToObject(j, "scale", scale_names[p->scale]);
    cJSON_AddBoolToObject(j, "onehot", p->onehot);
    cJSON_AddNumberToObject(j, "poly", p->poly);
    cJSON *cols = cJSON_AddArrayToObject(j, "columns");
    for (int64_t c = 0; cols && c < p->n_cols; c++) {
        const kn__prep_col *col = &p->cols[c];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(cols, o);
        cJSON_AddStringToObject(o, "name", col->name);
        cJSON_AddStringToObject(o, "kind", kind_names[col->kind]);
        if (isnan(col->fill)) cJSON_AddNullToObject(o, "fill");
        else cJSON_AddNumberToObject(o, "fill", col->fill);
        if (col->kind == KN__COL_CATEGORICAL || col->kind == KN__COL_TEXT) {
            cJSON *cats = cJSON_AddArrayToObject(o, col->kind == KN__COL_TEXT ? "terms" : "categories");
            for (int64_t k = 0; cats && k < col->n_cats; k++) cJSON_AddItemToArray(cats, cJSON_CreateString(col->cats[k]));
        }
        if (col->kind == KN__COL_TEXT) cJSON_AddItemToObject(o, "idf", doubles(col->idf, col->n_cats));
        if (col->kind == KN__COL_SEQUENCE) { /* the words of ids 2, 3, ... in order */
            cJSON_AddNumberToObject(o, "sequence_length", (double)p->n_seq);
            cJSON_AddNumberToObject(o, "max_tokens", (double)p->max_tokens);
            cJSON *words = cJSON_AddArrayToObject(o, "vocabulary");
            for (int64_t k = 0; words && k < col->n_cats; k++) cJSON_AddItemToArray(words, cJSON_CreateString(col->cats[k]));
        }
    }
    cJSON_AddItemToObject(j, "numeric_features", indices(p->num_base, p->n_num1));
    cJSON_AddItemToObject(j, "onehot_features", indices(p->hot_base, p->n_hot));
    cJSON_AddItemToObject(j, "shift", doubles(p->shift, p->n_num));
    cJSON_AddItemToObject(j, "mul", doubles(p->mul, p->n_num));
    if (p->pca.k > 0) {
        cJSON *pca = cJSON_AddObjectToObject(j, "pca");
        cJSON_AddItemToObject(pca, "mean", doubles(p->pca.mean, p->pca.d));
        cJSON *comps = cJSON_AddArrayToObject(pca, "components");
        for (int64_t k = 0; comps && k < p->pca.k; k++) cJSON_AddItemToArray(comps, doubles(p->pca.components + k * p->pca.d, p->pca.d));
        cJSON_AddItemToObject(pca, "explained_variance", doubles(p->pca.explained_variance, p->pca.k));
        cJSON_AddItemToObject(pca, "explained_variance_ratio", doubles(p->pca.explained_variance_ratio, p->pca.k));
    }
    cJSON_AddStringToObject(j, "report", p->report);
    return j;
}

/* ---------------------------------------------------------------- reading */

typedef struct reader {
    kn_ctx *ctx;
    const char *path;
} reader;

static kn_status bad(const reader *r, const char *field, const char *what) {
    return kn__error(r->ctx, KN_ERR_FORMAT, "%s: kiln.preprocessing.tabular.%s: %s", r->path, field, what);
}

static int enum_of(const cJSON *v, const char *const *names, int n) {
    if (!cJSON_IsString(v)) return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(v->valuestring, names[i]) == 0) return i;
    return -1;
}

/* A JSON array of exactly n finite numbers into out (allocated). */
static kn_status read_doubles(const reader *r, const cJSON *a, const char *field, int64_t n, double **out) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected a list of %lld numbers", (long long)n);
        return bad(r, field, msg);
    }
    *out = kn__alloc(r->ctx, (size_t)(n ? n : 1) * sizeof **out);
    if (!*out) return kn__error(r->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    int64_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return bad(r, field, "a value is not a finite number");
        (*out)[i++] = v->valuedouble;
    }
    return KN_OK;
}

/* A list of base-feature indices, each in [0, n_base), increasing, of the right kind. */
static kn_status read_indices(const reader *r, const cJSON *a, const char *field, const kn_preprocessor *p, bool hot,
                              int64_t **out, int64_t *n) {
    if (!cJSON_IsArray(a)) return bad(r, field, "expected a list of feature indices");
    *n = cJSON_GetArraySize(a);
    *out = kn__alloc(r->ctx, (size_t)(*n ? *n : 1) * sizeof **out);
    if (!*out) return kn__error(r->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    int64_t i = 0, last = -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(d > (double)last) || d >= (double)p->n_base || d != floor(d)) return bad(r, field, "an index is out of range or out of order");
        int64_t b = (int64_t)d;
        for (int64_t c = 0; c < p->n_cols; c++) {
            const kn__prep_col *col = &p->cols[c];
            bool col_hot = (col->kind == KN__COL_CATEGORICAL && p->onehot) || col->kind == KN__COL_TEXT;
            if (b >= col->first && b < col->first + col->width && col_hot != hot)
                return bad(r, field, hot ? "an index is not a one-hot feature" : "an index is a one-hot feature");
        }
        (*out)[i++] = last = b;
    }
    return KN_OK;
}

static kn_status read_string(const reader *r, const cJSON *v, const char *field, char **out) {
    if (!cJSON_IsString(v) || !v->valuestring[0]) return bad(r, field, "expected a non-empty string");
    *out = kn__strdup(r->ctx, v->valuestring);
    return *out ? KN_OK : kn__error(r->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
}

/* A whole number in [lo, hi]. */
static bool whole(const cJSON *v, double lo, double hi) {
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi && v->valuedouble == floor(v->valuedouble);
}

/* Column c, a sequence: its length, max_tokens and vocabulary (distinct non-empty words, at
 * most max_tokens - 2); the only one. */
static kn_status read_sequence(const reader *r, const cJSON *o, const char *field, kn_preprocessor *p, int64_t c) {
    kn__prep_col *col = &p->cols[c];
    if (p->seq_col >= 0) return bad(r, field, "a second sequence column (one is allowed)");
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(o, "sequence_length"), *max = cJSON_GetObjectItemCaseSensitive(o, "max_tokens"),
                *words = cJSON_GetObjectItemCaseSensitive(o, "vocabulary");
    if (!whole(len, 1, 1 << 20)) return bad(r, field, "sequence_length must be a whole number from 1 to 1048576");
    if (!whole(max, 2, 1 << 24)) return bad(r, field, "max_tokens must be a whole number from 2 to 16777216");
    if (!isnan(col->fill) && col->fill != 0) return bad(r, field, "a sequence column's fill is 0 (an empty text) or null");
    p->seq_col = c;
    p->n_seq = (int64_t)len->valuedouble;
    p->max_tokens = (int64_t)max->valuedouble;
    if (!cJSON_IsArray(words) || cJSON_GetArraySize(words) > p->max_tokens - 2)
        return bad(r, field, "vocabulary must be a list of at most max_tokens - 2 words");
    col->n_cats = cJSON_GetArraySize(words);
    col->cats = kn__calloc(r->ctx, (size_t)(col->n_cats ? col->n_cats : 1), sizeof *col->cats);
    if (!col->cats) return kn__error(r->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    kn__terms seen = {0};
    kn_status st = KN_OK;
    int64_t k = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, words) {
        if (!cJSON_IsString(s) || !s->valuestring[0]) {
            st = bad(r, field, "a vocabulary word is not a non-empty string");
            break;
        }
        int64_t at = kn__terms_index(r->ctx, &seen, s->valuestring, true);
        if (at == -2 || !(col->cats[k] = kn__strdup(r->ctx, s->valuestring))) {
            st = kn__error(r->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
            break;
        }
        if (at != k++) {
            st = bad(r, field, "the vocabulary repeats a word");
            break;
        }
    }
    kn__terms_free(r->ctx, &seen);
    col->width = 0; /* not a base feature */
    return st;
}

static kn_status read_columns(const reader *r, const cJSON *cols, kn_preprocessor *p) {
    if (!cJSON_IsArray(cols) || cJSON_GetArraySize(cols) < 1 || cJSON_GetArraySize(cols) > (1 << 20))
        return bad(r, "columns", "expected a non-empty list");
    p->n_cols = cJSON_GetArraySize(cols);
    p->cols = kn__calloc(r->ctx, (size_t)p->n_cols, sizeof *p->cols);
    if (!p->cols) return kn__error(r->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    int64_t c = 0, base = 0;
    const cJSON *o;
    char field[64];
    cJSON_ArrayForEach(o, cols) {
        kn__prep_col *col = &p->cols[c];
        snprintf(field, sizeof field, "columns[%lld]", (long long)c);
        if (!cJSON_IsObject(o)) return bad(r, field, "expected an object");
        kn_status st = read_string(r, cJSON_GetObjectItemCaseSensitive(o, "name"), field, &col->name);
        if (st) return st;
        int kind = enum_of(cJSON_GetObjectItemCaseSensitive(o, "kind"), kind_names, 5);
        if (kind < 0) return bad(r, field, "kind must be numeric, categorical, date, text or sequence");
        col->kind = (kn__col_kind)kind;
        const cJSON *fill = cJSON_GetObjectItemCaseSensitive(o, "fill");
        if (cJSON_IsNull(fill)) col->fill = NAN;
        else if (cJSON_IsNumber(fill) && isfinite(fill->valuedouble)) col->fill = fill->valuedouble;
        else return bad(r, field, "fill must be a number or null");
        if ((p->impute == KN__IMPUTE_DROP) != isnan(col->fill)) return bad(r, field, "fill is null exactly when impute is drop");
        col->width = col->kind == KN__COL_DATE ? 4 : 1;
        if (col->kind == KN__COL_DATE && !isnan(col->fill) && fabs(col->fill) > 1e8) return bad(r, field, "a date fill out of range");
        if (col->kind == KN__COL_SEQUENCE) {
            kn_status seq_st = read_sequence(r, o, field, p, c);
            if (seq_st) return seq_st;
        }
        if (col->kind == KN__COL_CATEGORICAL || col->kind == KN__COL_TEXT) {
            const bool text = col->kind == KN__COL_TEXT;
            const cJSON *cats = cJSON_GetObjectItemCaseSensitive(o, text ? "terms" : "categories");
            if (!cJSON_IsArray(cats) || cJSON_GetArraySize(cats) > (1 << 24)) return bad(r, field, text ? "terms must be a list" : "categories must be a list");
            col->n_cats = cJSON_GetArraySize(cats);
            col->cats = kn__calloc(r->ctx, (size_t)(col->n_cats ? col->n_cats : 1), sizeof *col->cats);
            if (!col->cats) return kn__error(r->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
            int64_t k = 0;
            const cJSON *s;
            cJSON_ArrayForEach(s, cats) {
                if (!cJSON_IsString(s)) return bad(r, field, text ? "a term is not a string" : "a category is not a string");
                if (k > 0 && strcmp(col->cats[k - 1], s->valuestring) >= 0)
                    return bad(r, field, text ? "terms must be sorted and distinct" : "categories must be sorted and distinct");
                if (!(col->cats[k++] = kn__strdup(r->ctx, s->valuestring)))
                    return kn__error(r->ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
            }
            if (text) {
                char idf_field[80];
                snprintf(idf_field, sizeof idf_field, "%s.idf", field);
                kn_status idf_st = read_doubles(r, cJSON_GetObjectItemCaseSensitive(o, "idf"), idf_field, col->n_cats, &col->idf);
                if (idf_st) return idf_st;
                for (int64_t t = 0; t < col->n_cats; t++)
                    if (!(col->idf[t] >= 1 && col->idf[t] < 1e6)) return bad(r, field, "an idf is not in [1, 1e6)");
                if (!isnan(col->fill) && col->fill != 0) return bad(r, field, "a text column's fill is 0 (an empty text) or null");
                col->width = col->n_cats ? col->n_cats : 1;
            } else {
                if (!isnan(col->fill) && (col->fill != floor(col->fill) || col->fill < -1 || col->fill >= (double)col->n_cats))
                    return bad(r, field, "fill is not a category index");
                if (p->onehot) col->width = col->n_cats ? col->n_cats : 1;
            }
        }
        col->first = base;
        base += col->width;
        c++;
    }
    p->n_base = base;
    return KN_OK;
}

/* Sizes and names from what was read (shared with fitting through kn__prep_finish). */
static kn_status read_body(const reader *r, const cJSON *j, kn_preprocessor *p) {
    kn_ctx *ctx = r->ctx;
    if (!cJSON_IsObject(j)) return bad(r, "", "expected an object");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(j, "version");
    if (!cJSON_IsNumber(version) || version->valuedouble != 1) return bad(r, "version", "expected 1 (a newer kiln wrote this file?)");
    kn_status st = read_string(r, cJSON_GetObjectItemCaseSensitive(j, "target"), "target", &p->target);
    if (st) return st;
    int task = enum_of(cJSON_GetObjectItemCaseSensitive(j, "task"), (const char *const[]){"classification", "regression"}, 2);
    int impute = enum_of(cJSON_GetObjectItemCaseSensitive(j, "impute"), impute_names, 5);
    int scale = enum_of(cJSON_GetObjectItemCaseSensitive(j, "scale"), scale_names, 3);
    const cJSON *onehot = cJSON_GetObjectItemCaseSensitive(j, "onehot"), *poly = cJSON_GetObjectItemCaseSensitive(j, "poly");
    if (task < 0) return bad(r, "task", "expected classification or regression");
    if (impute < 0) return bad(r, "impute", "unknown");
    if (scale < 0) return bad(r, "scale", "unknown");
    if (!cJSON_IsBool(onehot)) return bad(r, "onehot", "expected true or false");
    if (!cJSON_IsNumber(poly) || (poly->valuedouble != 1 && poly->valuedouble != 2)) return bad(r, "poly", "expected 1 or 2");
    p->task = task == 0 ? KN__TASK_CLASSIFICATION : KN__TASK_REGRESSION;
    p->impute = (kn__impute)impute;
    p->scale = (kn__scale)scale;
    p->onehot = cJSON_IsTrue(onehot);
    p->poly = (int)poly->valuedouble;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(j, "labels");
    if (!cJSON_IsArray(labels) || cJSON_GetArraySize(labels) > 65536) return bad(r, "labels", "expected a list");
    p->n_labels = cJSON_GetArraySize(labels);
    if (p->task == KN__TASK_CLASSIFICATION && p->n_labels < 1) return bad(r, "labels", "a classifier needs its class names");
    p->labels = kn__calloc(ctx, (size_t)(p->n_labels ? p->n_labels : 1), sizeof *p->labels);
    if (!p->labels) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    for (int i = 0; i < p->n_labels; i++) {
        const cJSON *s = cJSON_GetArrayItem(labels, i);
        if (!cJSON_IsString(s)) return bad(r, "labels", "a label is not a string");
        if (!(p->labels[i] = kn__strdup(ctx, s->valuestring))) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    }
    if ((st = read_columns(r, cJSON_GetObjectItemCaseSensitive(j, "columns"), p))) return st;
    if ((st = read_indices(r, cJSON_GetObjectItemCaseSensitive(j, "numeric_features"), "numeric_features", p, false, &p->num_base,
                           &p->n_num1)))
        return st;
    if ((st = read_indices(r, cJSON_GetObjectItemCaseSensitive(j, "onehot_features"), "onehot_features", p, true, &p->hot_base,
                           &p->n_hot)))
        return st;
    if (p->n_num1 + p->n_hot + p->n_seq == 0) return bad(r, "numeric_features", "no features at all");
    if (p->poly == 2 && p->n_num1 > 1000) return bad(r, "numeric_features", "too many for poly=2");
    p->n_num = p->n_num1 + (p->poly == 2 ? p->n_num1 * (p->n_num1 + 1) / 2 : 0);
    if ((st = read_doubles(r, cJSON_GetObjectItemCaseSensitive(j, "shift"), "shift", p->n_num, &p->shift))) return st;
    if ((st = read_doubles(r, cJSON_GetObjectItemCaseSensitive(j, "mul"), "mul", p->n_num, &p->mul))) return st;
    int64_t width = p->n_num + p->n_hot;
    p->n_out = p->n_seq + width;
    const cJSON *pca = cJSON_GetObjectItemCaseSensitive(j, "pca");
    if (pca) {
        const cJSON *comps = cJSON_GetObjectItemCaseSensitive(pca, "components");
        if (!cJSON_IsArray(comps) || cJSON_GetArraySize(comps) < 1 || cJSON_GetArraySize(comps) > width)
            return bad(r, "pca.components", "expected 1 to (features) lists");
        p->pca.d = width;
        p->pca.k = cJSON_GetArraySize(comps);
        if ((st = read_doubles(r, cJSON_GetObjectItemCaseSensitive(pca, "mean"), "pca.mean", width, &p->pca.mean))) return st;
        if ((st = read_doubles(r, cJSON_GetObjectItemCaseSensitive(pca, "explained_variance"), "pca.explained_variance", p->pca.k,
                               &p->pca.explained_variance)))
            return st;
        if ((st = read_doubles(r, cJSON_GetObjectItemCaseSensitive(pca, "explained_variance_ratio"), "pca.explained_variance_ratio",
                               p->pca.k, &p->pca.explained_variance_ratio)))
            return st;
        size_t size;
        if (!kn__mul_size((size_t)p->pca.k, (size_t)width, &size) || !kn__mul_size(size, sizeof(double), &size) ||
            !(p->pca.components = kn__alloc(ctx, size)))
            return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
        for (int64_t k = 0; k < p->pca.k; k++) {
            double *row = NULL;
            if ((st = read_doubles(r, cJSON_GetArrayItem(comps, (int)k), "pca.components", width, &row))) {
                kn__free(ctx, row);
                return st;
            }
            memcpy(p->pca.components + k * width, row, (size_t)width * sizeof *row);
            kn__free(ctx, row);
        }
        p->n_out = p->n_seq + p->pca.k;
    }
    const cJSON *report = cJSON_GetObjectItemCaseSensitive(j, "report");
    if (cJSON_IsString(report)) snprintf(p->report, sizeof p->report, "%s", report->valuestring);
    return kn__prep_names(p);
}

kn_status kn__prep_from_json(kn_ctx *ctx, const cJSON *j, const char *path, kn_preprocessor **out) {
    *out = NULL;
    kn_preprocessor *p = kn__calloc(ctx, 1, sizeof *p);
    if (!p) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    p->ctx = ctx;
    p->seq_col = -1;
    reader r = {ctx, path};
    kn_status st = read_body(&r, j, p);
    if (st) kn_preprocessor_free(p);
    else *out = p;
    return st;
}

kn_status kn__prep_copy(const kn_preprocessor *p, kn_ctx *ctx, kn_preprocessor **out) {
    *out = NULL;
    cJSON *j = kn__prep_to_json(p);
    kn_status st = j ? kn__prep_from_json(ctx, j, "preprocessing", out) : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    cJSON_Delete(j);
    return st;
}
