/* tabular.c — the csv: data source: its options, the raw table a CSV loads into (columns
 * typed, categories coded, dates parsed, the target label-encoded) and dates. What is
 * fitted on the training rows afterwards is in preprocess.c. */
#define _POSIX_C_SOURCE 200809L
#include "data/tabular.h"
#include "data/dataset.h"
#include "data/text.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- dates */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar: count in 400-year eras
 * starting on March 1st, so the leap day is the last day of its year. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  /* [0, 365] from March 1st */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool kn__date_parse(const char *s, int64_t *days) {
    int y = 0, m = 0, d = 0, k = 0;
    for (; k < 4; k++) {
        if (!isdigit((unsigned char)s[k])) return false;
        y = y * 10 + (s[k] - '0');
    }
    char sep = s[4];
    if (sep != '-' && sep != '/') return false;
    const char *p = s + 5;
    for (k = 0; k < 2 && isdigit((unsigned char)*p); k++) m = m * 10 + (*p++ - '0');
    if (k == 0 || *p++ != sep) return false;
    for (k = 0; k < 2 && isdigit((unsigned char)*p); k++) d = d * 10 + (*p++ - '0');
    if (k == 0 || (*p && *p != 'T' && *p != ' ')) return false;
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > month_days[m - 1] + (m == 2 && leap(y))) return false;
    *days = days_from_civil(y, m, d);
    return true;
}

void kn__date_parts(int64_t days, float out[4]) {
    /* the inverse of days_from_civil */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    out[0] = (float)y;
    out[1] = (float)m;
    out[2] = (float)(days - days_from_civil(y, 1, 1) + 1);
    int64_t wd = (days + 3) % 7; /* 1970-01-01 was a Thursday (3) */
    out[3] = (float)(wd < 0 ? wd + 7 : wd);
    (void)d;
}

/* ---------------------------------------------------------------- csv:FILE[:key=value]... */

static const char *const source_keys[] = {"target", "drop", "sep", "na", "categorical", "numeric", "task", "impute",
                                          "fill", "scale", "onehot", "dates", "poly", "pca", "text", "text_features",
                                          "constant", "sequence", "sequence_length", "max_tokens", NULL};

/* Whether s starts with "KEY=" for a known key. */
static bool at_key(const char *s) {
    for (const char *const *k = source_keys; *k; k++) {
        size_t n = strlen(*k);
        if (strncmp(s, *k, n) == 0 && s[n] == '=') return true;
    }
    return false;
}

static kn_status names_parse(kn_ctx *ctx, const char *key, const char *v, size_t n, kn__names *out) {
    if (out->names) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "csv source: %s= is given twice", key);
    int count = 1;
    for (size_t i = 0; i < n; i++) count += v[i] == ',';
    char **block = kn__alloc(ctx, (size_t)count * sizeof(char *) + n + 1);
    if (!block) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "csv source: out of memory");
    char *text = (char *)(block + count);
    memcpy(text, v, n);
    text[n] = '\0';
    out->names = block;
    out->n = count;
    int k = 0;
    block[k++] = text;
    for (char *c = text; *c; c++)
        if (*c == ',') *c = '\0', block[k++] = c + 1;
    return KN_OK;
}

static bool value_is(const char *v, size_t n, const char *word) { return strlen(word) == n && strncmp(v, word, n) == 0; }

static kn_status bad_value(kn_ctx *ctx, const char *key, const char *v, size_t n, const char *expected) {
    return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "csv source: %s=%.*s: expected %s", key, (int)n, v, expected);
}

static kn_status parse_option(kn_ctx *ctx, const char *key, const char *v, size_t n, kn__source *s) {
    char num[64];
    snprintf(num, sizeof num, "%.*s", (int)(n < 63 ? n : 63), v);
    char *end = NULL;
    if (strcmp(key, "target") == 0) {
        if (s->target || s->target_index >= 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "csv source: target= is given twice");
        if (n > 1 && v[0] == '#') {
            long long i = strtoll(num + 1, &end, 10);
            if (*end || i < 0) return bad_value(ctx, key, v, n, "a column name or #INDEX (0-based)");
            s->target_index = i;
            return KN_OK;
        }
        if (n == 0) return bad_value(ctx, key, v, n, "a column name or #INDEX (0-based)");
        s->target = kn__alloc(ctx, n + 1);
        if (!s->target) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "csv source: out of memory");
        memcpy(s->target, v, n);
        s->target[n] = '\0';
        return KN_OK;
    }
    if (strcmp(key, "drop") == 0) return names_parse(ctx, key, v, n, &s->drop);
    if (strcmp(key, "categorical") == 0) return names_parse(ctx, key, v, n, &s->categorical);
    if (strcmp(key, "numeric") == 0) return names_parse(ctx, key, v, n, &s->numeric);
    if (strcmp(key, "text") == 0) return names_parse(ctx, key, v, n, &s->text);
    if (strcmp(key, "sequence") == 0) {
        kn_status st = names_parse(ctx, key, v, n, &s->sequence);
        if (!st && (s->sequence.n != 1 || !s->sequence.names[0][0]))
            return bad_value(ctx, key, v, n, "one column (one sequence of token ids per row)");
        return st;
    }
    if (strcmp(key, "sequence_length") == 0 || strcmp(key, "max_tokens") == 0) { /* whole numbers, digits only */
        const bool len = key[0] == 's';
        long long k = strtoll(num, &end, 10);
        const long long lo = len ? 1 : 2, hi = len ? (1 << 20) : (1 << 24); /* max_tokens: an embedding's input_dim limit */
        if (n == 0 || n > 12 || *end || num[0] == '-' || num[0] == '+' || num[0] == ' ' || k < lo || k > hi)
            return bad_value(ctx, key, v, n,
                             len ? "a whole number of token ids per row, from 1 to 1048576"
                                 : "a whole number of ids from 2 to 16777216 (the words, with 0 for padding and 1 for unknown words)");
        if (len) s->sequence_length = k;
        else s->max_tokens = k;
        return KN_OK;
    }
    if (strcmp(key, "text_features") == 0) {
        long long k = strtoll(num, &end, 10);
        if (n == 0 || *end || k < 1 || k > (1 << 24)) return bad_value(ctx, key, v, n, "a number of terms from 1 to 2^24");
        s->text_features = k;
        return KN_OK;
    }
    if (strcmp(key, "na") == 0) {
        s->na_given = true;
        return names_parse(ctx, key, v, n, &s->na);
    }
    if (strcmp(key, "sep") == 0) {
        if (value_is(v, n, ",") || value_is(v, n, "comma")) s->sep = ',';
        else if (value_is(v, n, ";") || value_is(v, n, "semicolon")) s->sep = ';';
        else if (value_is(v, n, "tab") || value_is(v, n, "\t")) s->sep = '\t';
        else return bad_value(ctx, key, v, n, ", ; or tab");
        return KN_OK;
    }
    if (strcmp(key, "task") == 0) {
        if (value_is(v, n, "classification")) s->task = KN__TASK_CLASSIFICATION;
        else if (value_is(v, n, "regression")) s->task = KN__TASK_REGRESSION;
        else return bad_value(ctx, key, v, n, "classification or regression");
        return KN_OK;
    }
    if (strcmp(key, "impute") == 0) {
        static const char *const names[] = {"mean", "median", "most_frequent", "constant", "drop"};
        for (int i = 0; i < 5; i++)
            if (value_is(v, n, names[i])) {
                s->impute = (kn__impute)i;
                return KN_OK;
            }
        return bad_value(ctx, key, v, n, "mean, median, most_frequent, constant or drop");
    }
    if (strcmp(key, "fill") == 0) {
        double f = strtod(num, &end);
        if (n == 0 || *end || !isfinite(f)) return bad_value(ctx, key, v, n, "a number (the value impute=constant fills in)");
        s->fill_value = f;
        return KN_OK;
    }
    if (strcmp(key, "scale") == 0) {
        if (value_is(v, n, "standard")) s->scale = KN__SCALE_STANDARD;
        else if (value_is(v, n, "minmax")) s->scale = KN__SCALE_MINMAX;
        else if (value_is(v, n, "none")) s->scale = KN__SCALE_NONE;
        else return bad_value(ctx, key, v, n, "standard, minmax or none");
        return KN_OK;
    }
    if (strcmp(key, "constant") == 0) { /* images as CSV pixels: a border always 0 must stay for a reshape */
        if (value_is(v, n, "drop")) s->keep_constant = false;
        else if (value_is(v, n, "keep")) s->keep_constant = true;
        else return bad_value(ctx, key, v, n, "drop or keep");
        return KN_OK;
    }
    if (strcmp(key, "onehot") == 0 || strcmp(key, "dates") == 0) {
        bool *flag = key[0] == 'o' ? &s->onehot : &s->dates;
        if (value_is(v, n, "on") || value_is(v, n, "true") || value_is(v, n, "1")) *flag = true;
        else if (value_is(v, n, "off") || value_is(v, n, "false") || value_is(v, n, "0")) *flag = false;
        else return bad_value(ctx, key, v, n, "on or off");
        return KN_OK;
    }
    if (strcmp(key, "poly") == 0) {
        if (value_is(v, n, "1") || value_is(v, n, "off")) s->poly = 1;
        else if (value_is(v, n, "2")) s->poly = 2;
        else return bad_value(ctx, key, v, n, "1 (off) or 2 (degree-2 polynomial features)");
        return KN_OK;
    }
    if (strcmp(key, "pca") == 0) {
        double f = strtod(num, &end);
        if (n == 0 || *end || !(f > 0)) return bad_value(ctx, key, v, n, "a number of components, or a share of variance in (0, 1)");
        if (f < 1) s->pca_share = f, s->pca_k = 0;
        else if (f == floor(f) && f <= 1e6) s->pca_k = (int64_t)f, s->pca_share = 0;
        else return bad_value(ctx, key, v, n, "a number of components, or a share of variance in (0, 1)");
        return KN_OK;
    }
    return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "csv source: unknown key '%s'", key);
}

/* ":word=" in text [0, n) (a path that does not exist, or an option's value): a misspelt
 * key rather than a colon of a file or column name, so the error names the key and the
 * known ones instead of a file or column nobody meant. what: "no file is named" / "in". */
static kn_status unknown_key_in(kn_ctx *ctx, const char *text, size_t n, const char *what) {
    for (const char *c = memchr(text, ':', n); c; c = memchr(c + 1, ':', n - (size_t)(c + 1 - text))) {
        const char *k = c + 1, *end = text + n;
        while (k < end && (*k == '_' || islower((unsigned char)*k))) k++;
        if (k == c + 1 || k == end || *k != '=') continue;
        char keys[256];
        kn__join_names(source_keys, -1, keys, sizeof keys);
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "csv source: '%.*s' is not a key (the keys are %s); %s %.*s",
                         (int)(k - c - 1), c + 1, keys, what, (int)n, text);
    }
    return KN_OK;
}

kn_status kn__source_parse(kn_ctx *ctx, const char *spec, kn__source *s) {
    memset(s, 0, sizeof *s);
    s->target_index = -1;
    s->onehot = s->dates = true;
    s->poly = 1;
    s->text_features = 1000;
    /* FILE runs to the first ':' that starts a known key */
    const char *opt = NULL;
    for (const char *c = strchr(spec, ':'); c; c = strchr(c + 1, ':'))
        if (at_key(c + 1)) {
            opt = c;
            break;
        }
    size_t plen = opt ? (size_t)(opt - spec) : strlen(spec);
    if (plen == 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "csv source: no file (expected csv:FILE[:key=value]...)");
    s->path = kn__alloc(ctx, plen + 1);
    if (!s->path) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "csv source: out of memory");
    memcpy(s->path, spec, plen);
    s->path[plen] = '\0';
    struct stat sb;
    kn_status st = stat(s->path, &sb) == 0 ? KN_OK : unknown_key_in(ctx, s->path, plen, "no file is named");
    while (opt && !st) {
        const char *key = opt + 1, *eq = strchr(key, '=');
        const char *next = NULL;
        for (const char *c = strchr(eq, ':'); c; c = strchr(c + 1, ':'))
            if (at_key(c + 1)) {
                next = c;
                break;
            }
        const char *vend = next ? next : key + strlen(key);
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(eq - key), key);
        st = unknown_key_in(ctx, key, (size_t)(vend - key), "in");
        if (!st) st = parse_option(ctx, name, eq + 1, (size_t)(vend - eq - 1), s);
        opt = next;
    }
    if (!st && !s->sequence.n && (s->sequence_length || s->max_tokens))
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "csv source: %s= applies to a sequence=COL column, and none is given",
                       s->sequence_length ? "sequence_length" : "max_tokens");
    if (!st && s->sequence.n && (s->pca_k || s->pca_share))
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "csv source: pca= with sequence=%s: token ids are never projected (leave pca= out)",
                       s->sequence.names[0]);
    if (st) kn__source_free(ctx, s);
    return st;
}

void kn__source_free(kn_ctx *ctx, kn__source *s) {
    if (!s) return;
    kn__free(ctx, s->path);
    kn__free(ctx, s->target);
    kn__free(ctx, s->drop.names);
    kn__free(ctx, s->na.names);
    kn__free(ctx, s->categorical.names);
    kn__free(ctx, s->numeric.names);
    kn__free(ctx, s->text.names);
    kn__free(ctx, s->sequence.names);
    memset(s, 0, sizeof *s);
}

static bool in_names(const kn__names *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return true;
    return false;
}

/* ---------------------------------------------------------------- raw values of a table */

void kn__raw_codes_free(kn_ctx *ctx, int64_t n, int64_t *n_codes, char ***codes) {
    for (int64_t j = 0; codes && j < n; j++) {
        for (int64_t k = 0; codes[j] && k < n_codes[j]; k++) kn__free(ctx, codes[j][k]);
        kn__free(ctx, codes[j]);
        codes[j] = NULL;
    }
}

/* A cell's text as a finite float, else NaN. */
static float parse_float(const char *text) {
    char *end = NULL;
    double d = strtod(text, &end);
    while (end && (*end == ' ' || *end == '\t')) end++;
    return end != text && end && !*end && fabs(d) <= 3.4028234663852886e38 ? (float)d : NAN;
}

kn_status kn__raw_from_csv(kn_ctx *ctx, const kn__csv *csv, const char *path, char *const *names,
                           const kn__col_kind *kinds, int64_t n, float *values, int64_t *n_codes, char ***codes) {
    kn_status st = KN_OK;
    for (int64_t j = 0; j < n; j++) n_codes[j] = 0, codes[j] = NULL;
    for (int64_t j = 0; j < n && !st; j++) {
        int64_t c = kn__csv_column_index(csv, names[j]);
        if (c < 0) {
            st = kn__error(ctx, KN_ERR_SHAPE, "%s: no column '%s' (the model was trained with it)", path, names[j]);
            break;
        }
        kn__terms t = {0}; /* the column's categories, numbered as first seen */
        for (int64_t r = 0; r < csv->rows && !st; r++) {
            const char *text = csv->cells ? csv->cells[r * csv->cols + c] : NULL;
            float v = csv->values[r * csv->cols + c];
            float *out = &values[r * n + j];
            bool missing = text ? text[0] == '\0' : isnan(v);
            if (missing) {
                *out = NAN;
            } else if (kinds[j] == KN__COL_NUMERIC) {
                if (isnan(v) && text && !csv->columns[c].numeric) v = parse_float(text); /* typed as text by the reader */
                if (isnan(v))
                    st = kn__error(ctx, KN_ERR_FORMAT, "%s: line %lld: column '%s': '%.40s' is not a number", path,
                                   (long long)csv->lines[r], names[j], text ? text : "");
                *out = v;
            } else if (kinds[j] == KN__COL_DATE) {
                int64_t days = 0;
                if (!kn__date_parse(text, &days))
                    st = kn__error(ctx, KN_ERR_FORMAT, "%s: line %lld: column '%s': '%.40s' is not a date (YYYY-MM-DD or YYYY/MM/DD)",
                                   path, (long long)csv->lines[r], names[j], text);
                *out = (float)days;
            } else {
                int64_t code = kn__terms_index(ctx, &t, text, true);
                if (code < 0) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory for the categories of '%s'", path, names[j]);
                *out = (float)code;
            }
        }
        if (t.n > (1 << 24) && !st)
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: column '%s' has over 2^24 categories", path, names[j]);
        kn__free(ctx, t.slot); /* the texts pass to codes[j] */
        n_codes[j] = t.n;
        codes[j] = t.text;
    }
    if (st) kn__raw_codes_free(ctx, n, n_codes, codes);
    return st;
}

/* ---------------------------------------------------------------- the raw table */

void kn__raw_release(kn__raw *raw) {
    if (!raw || --raw->refs > 0) return;
    kn_ctx *ctx = raw->ctx;
    kn__raw_codes_free(ctx, raw->cols, raw->n_codes, raw->codes);
    for (int64_t j = 0; raw->names && j < raw->cols; j++) kn__free(ctx, raw->names[j]);
    kn__free(ctx, raw->names);
    kn__free(ctx, raw->kinds);
    kn__free(ctx, raw->n_codes);
    kn__free(ctx, raw->codes);
    kn__free(ctx, raw->target);
    kn__source_free(ctx, &raw->src);
    kn__free(ctx, raw);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Whether every non-missing cell of text column c is a date (and there is one). */
static bool column_is_date(const kn__csv *csv, int64_t c) {
    int64_t seen = 0, days;
    for (int64_t r = 0; r < csv->rows; r++) {
        const char *t = csv->cells[r * csv->cols + c];
        if (!t[0]) continue;
        if (!kn__date_parse(t, &days)) return false;
        seen++;
    }
    return seen > 0;
}

/* A column read as categorical whose cells are numbers but for a few (at most 5%): most
 * likely a typo or an undeclared missing-value token, which one-hot encoding would hide, so
 * a warning names the first such cell and what to do. Behaviour is unchanged. */
static void warn_mostly_numbers(kn_ctx *ctx, const kn__csv *csv, int64_t c, const char *path) {
    int64_t present = 0, texts = 0, first = -1;
    for (int64_t r = 0; r < csv->rows; r++) {
        const char *t = csv->cells[r * csv->cols + c];
        if (!t[0]) continue;
        present++;
        if (isnan(parse_float(t))) {
            texts++;
            if (first < 0) first = r;
        }
    }
    if (first < 0 || texts == present || texts * 20 > present) return;
    const char *name = csv->columns[c].name;
    kn__log(ctx, KN_LOG_WARN,
            "%s: column '%s' is read as categorical: %lld of its %lld cells are numbers, but line %lld has '%.40s' "
            "(numeric=%s makes such a cell an error, na=... a missing value)",
            path, name, (long long)(present - texts), (long long)present, (long long)csv->lines[first],
            csv->cells[first * csv->cols + c], name);
}

/* The target: label-encoded classes (sorted names: numbers in numeric order, texts in byte
 * order, as scikit-learn's LabelEncoder) or regression values; keep[r] false where missing. */
static kn_status encode_target(kn_ctx *ctx, const kn__csv *csv, int64_t tc, kn__raw *raw, bool *keep, int32_t *labels,
                               float *targets, char ***names_out, int *n_classes) {
    const char *path = raw->src.path, *name = csv->columns[tc].name;
    bool numeric = csv->columns[tc].numeric;
    int64_t rows = csv->rows;
    for (int64_t r = 0; r < rows; r++) keep[r] = csv->cells[r * csv->cols + tc][0] != '\0';
    if (raw->task == KN__TASK_AUTO) { /* classification: text, or a few distinct integers */
        raw->task = KN__TASK_CLASSIFICATION;
        if (numeric) {
            float *v = kn__alloc(ctx, (size_t)(rows ? rows : 1) * sizeof *v);
            if (!v) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            int64_t k = 0, distinct = 0;
            bool integers = true;
            for (int64_t r = 0; r < rows; r++) {
                if (!keep[r]) continue;
                float x = csv->values[r * csv->cols + tc];
                integers = integers && x == floorf(x);
                v[k++] = x;
            }
            qsort(v, (size_t)k, sizeof *v, cmp_float);
            for (int64_t i = 0; i < k; i++) distinct += i == 0 || v[i] != v[i - 1];
            kn__free(ctx, v);
            if (!integers || distinct > 20) raw->task = KN__TASK_REGRESSION;
        }
    }
    if (raw->task == KN__TASK_REGRESSION) {
        for (int64_t r = 0; r < rows; r++) {
            if (!keep[r]) continue;
            float v = csv->values[r * csv->cols + tc];
            if (isnan(v))
                return kn__error(ctx, KN_ERR_FORMAT, "%s: line %lld: target '%s': '%.40s' is not a number (task=regression)",
                                 path, (long long)csv->lines[r], name, csv->cells[r * csv->cols + tc]);
            targets[r] = v;
        }
        return KN_OK;
    }
    /* classes: the distinct target texts, sorted */
    kn__terms t = {0};
    kn_status st = KN_OK;
    int32_t *code = kn__alloc(ctx, (size_t)(rows ? rows : 1) * sizeof *code);
    if (!code) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int64_t r = 0; r < rows && !st; r++) {
        if (!keep[r]) continue;
        /* numbers by value ("1" and "1.0" are one class), named as %g prints them */
        char buf[32];
        const char *text = csv->cells[r * csv->cols + tc];
        if (numeric) snprintf(buf, sizeof buf, "%g", (double)csv->values[r * csv->cols + tc]), text = buf;
        int64_t c = kn__terms_index(ctx, &t, text, true);
        if (c < 0) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        if (t.n > 65536 && !st)
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: target '%s' has over 65536 classes (for a numeric target, say task=regression)",
                           path, name);
        code[r] = (int32_t)c;
    }
    int64_t nc = t.n;
    int64_t *order = st ? NULL : kn__alloc(ctx, (size_t)(nc ? nc : 1) * sizeof *order);
    int32_t *rank = st ? NULL : kn__alloc(ctx, (size_t)(nc ? nc : 1) * sizeof *rank);
    char **sorted = st ? NULL : kn__alloc(ctx, (size_t)(nc ? nc : 1) * sizeof *sorted);
    if (!st && (!order || !rank || !sorted)) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (!st && nc == 0) st = kn__error(ctx, KN_ERR_FORMAT, "%s: target '%s' has no values", path, name);
    if (!st) {
        memcpy(sorted, t.text, (size_t)nc * sizeof *sorted);
        if (numeric) { /* numeric order: sort the codes by value */
            float *val = kn__alloc(ctx, (size_t)nc * sizeof *val);
            if (!val) {
                st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            } else {
                for (int64_t i = 0; i < nc; i++) val[i] = strtof(t.text[i], NULL), order[i] = i;
                for (int64_t i = 1; i < nc; i++) /* insertion sort: few classes */
                    for (int64_t j = i; j > 0 && val[order[j - 1]] > val[order[j]]; j--) {
                        int64_t x = order[j];
                        order[j] = order[j - 1], order[j - 1] = x;
                    }
                for (int64_t i = 0; i < nc; i++) sorted[i] = t.text[order[i]];
                kn__free(ctx, val);
            }
        } else {
            qsort(sorted, (size_t)nc, sizeof *sorted, cmp_str);
        }
    }
    if (!st) {
        for (int64_t i = 0; i < nc; i++) /* code -> sorted position */
            for (int64_t k = 0; k < nc; k++)
                if (sorted[k] == t.text[i]) rank[i] = (int32_t)k;
        for (int64_t r = 0; r < rows; r++)
            if (keep[r]) labels[r] = rank[code[r]];
        *names_out = kn__calloc(ctx, (size_t)nc, sizeof **names_out);
        if (!*names_out) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        for (int64_t i = 0; !st && i < nc; i++) (*names_out)[i] = sorted[i];
        if (!st) *n_classes = (int)nc;
    }
    if (st || !*names_out) {
        kn__terms_free(ctx, &t);
    } else { /* the texts pass to *names_out */
        kn__free(ctx, t.text);
        kn__free(ctx, t.slot);
    }
    kn__free(ctx, order);
    kn__free(ctx, rank);
    kn__free(ctx, sorted);
    kn__free(ctx, code);
    return st;
}

static const char *kind_name(kn__col_kind k) {
    return k == KN__COL_NUMERIC ? "numeric" : k == KN__COL_DATE ? "date" : k == KN__COL_TEXT ? "text"
           : k == KN__COL_SEQUENCE ? "sequence" : "categorical";
}

/* Decides the target column, the kept columns and their kinds. */
static kn_status choose_columns(kn_ctx *ctx, const kn__csv *csv, kn__raw *raw, int64_t *tc, int64_t *col_of) {
    const kn__source *s = &raw->src;
    const char *path = s->path;
    if (s->target) {
        *tc = kn__csv_column_index(csv, s->target);
        if (*tc < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: target=%s: no such column", path, s->target);
    } else if (s->target_index >= 0) {
        if (s->target_index >= csv->cols)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: target=#%lld: the file has %lld columns (0-based index)", path,
                             (long long)s->target_index, (long long)csv->cols);
        *tc = s->target_index;
    } else {
        *tc = csv->cols - 1;
    }
    const kn__names *lists[5] = {&s->drop, &s->categorical, &s->numeric, &s->text, &s->sequence};
    const char *keys[5] = {"drop", "categorical", "numeric", "text", "sequence"};
    for (int l = 0; l < 5; l++)
        for (int i = 0; i < lists[l]->n; i++) {
            int64_t c = kn__csv_column_index(csv, lists[l]->names[i]);
            if (c < 0) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: %s=%s: no such column", path, keys[l], lists[l]->names[i]);
            if (c == *tc) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: %s=%s: that is the target", path, keys[l], lists[l]->names[i]);
            for (int e = 1; e < l; e++) /* a column of two kinds */
                if (in_names(lists[e], lists[l]->names[i]))
                    return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: column '%s' is both %s= and %s=", path, lists[l]->names[i],
                                     keys[e], keys[l]);
        }
    if (s->sequence.n && in_names(&s->drop, s->sequence.names[0]))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: column '%s' is both drop= and sequence=", path, s->sequence.names[0]);
    if (csv->cols < 2) return kn__error(ctx, KN_ERR_FORMAT, "%s: one column: a target and at least one feature are needed", path);
    raw->target = kn__strdup(ctx, csv->columns[*tc].name);
    raw->names = kn__calloc(ctx, (size_t)csv->cols, sizeof *raw->names);
    raw->kinds = kn__calloc(ctx, (size_t)csv->cols, sizeof *raw->kinds);
    raw->n_codes = kn__calloc(ctx, (size_t)csv->cols, sizeof *raw->n_codes);
    raw->codes = kn__calloc(ctx, (size_t)csv->cols, sizeof *raw->codes);
    if (!raw->target || !raw->names || !raw->kinds || !raw->n_codes || !raw->codes)
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    int64_t k = 0;
    for (int64_t c = 0; c < csv->cols; c++) {
        const char *name = csv->columns[c].name;
        if (c == *tc || in_names(&s->drop, name)) continue;
        kn__col_kind kind = csv->columns[c].numeric ? KN__COL_NUMERIC : KN__COL_CATEGORICAL;
        if (in_names(&s->sequence, name)) {
            kind = KN__COL_SEQUENCE;
        } else if (in_names(&s->text, name)) {
            kind = KN__COL_TEXT;
        } else if (in_names(&s->categorical, name)) {
            kind = KN__COL_CATEGORICAL;
        } else if (in_names(&s->numeric, name)) {
            kind = KN__COL_NUMERIC;
        } else if (kind == KN__COL_CATEGORICAL && csv->columns[c].missing < csv->rows && column_is_date(csv, c)) {
            if (!s->dates) continue; /* dates=off: date columns are dropped */
            kind = KN__COL_DATE;
        } else if (kind == KN__COL_CATEGORICAL) {
            warn_mostly_numbers(ctx, csv, c, path);
        }
        raw->names[k] = kn__strdup(ctx, name);
        if (!raw->names[k]) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        raw->kinds[k] = kind;
        col_of[k++] = c;
    }
    raw->cols = k;
    if (k == 0) return kn__error(ctx, KN_ERR_FORMAT, "%s: no feature columns left (all dropped)", path);
    if (s->sequence.n && k > 1) { /* the ids alone: an embedding reads every model input as a token id */
        char others[160] = "";
        int w = 0;
        for (int64_t j = 0, shown = 0; j < k && w < (int)sizeof others; j++) {
            if (raw->kinds[j] == KN__COL_SEQUENCE) continue;
            w += snprintf(others + w, sizeof others - (size_t)w, "%s%s", shown++ ? "," : "", raw->names[j]);
        }
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "%s: sequence=%s: the model's inputs are its token ids alone, and the file has %lld other feature "
                         "column%s (add drop=%s)", path, s->sequence.names[0], (long long)(k - 1), k == 2 ? "" : "s", others);
    }
    return KN_OK;
}

kn_status kn__raw_load(kn_ctx *ctx, const char *spec, kn_dataset **out) {
    *out = NULL;
    kn__raw *raw = kn__calloc(ctx, 1, sizeof *raw);
    if (!raw) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "csv source: out of memory");
    raw->refs = 1;
    raw->ctx = ctx;
    kn_status st = kn__source_parse(ctx, spec, &raw->src);
    if (st) {
        kn__free(ctx, raw);
        return st;
    }
    const kn__source *s = &raw->src;
    raw->task = s->task;
    const char **na = NULL;
    if (s->na_given) {
        na = kn__calloc(ctx, (size_t)s->na.n + 1, sizeof *na);
        if (!na) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "csv source: out of memory");
        for (int i = 0; na && i < s->na.n; i++) na[i] = s->na.names[i];
    }
    kn__csv csv = {0};
    if (!st) st = kn__csv_read(ctx, s->path, &(kn__csv_opts){.sep = s->sep, .na = na, .keep_text = true}, &csv);
    kn__free(ctx, na);
    int64_t *col_of = st ? NULL : kn__alloc(ctx, (size_t)csv.cols * sizeof *col_of);
    bool *keep = st ? NULL : kn__alloc(ctx, (size_t)csv.rows * sizeof *keep);
    int32_t *labels = st ? NULL : kn__alloc(ctx, (size_t)csv.rows * sizeof *labels);
    float *targets = st ? NULL : kn__alloc(ctx, (size_t)csv.rows * sizeof *targets);
    float *values = NULL;
    char **label_names = NULL;
    int n_classes = 0;
    int64_t tc = -1;
    if (!st && (!col_of || !keep || !labels || !targets)) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", s->path);
    if (!st) st = choose_columns(ctx, &csv, raw, &tc, col_of);
    if (!st) st = encode_target(ctx, &csv, tc, raw, keep, labels, targets, &label_names, &n_classes);
    size_t size = 0;
    if (!st && (!kn__mul_size((size_t)csv.rows, (size_t)raw->cols, &size) || !kn__mul_size(size, sizeof(float), &size)))
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: the table is too large", s->path);
    if (!st && !(values = kn__alloc(ctx, size ? size : 1))) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", s->path);
    if (!st) st = kn__raw_from_csv(ctx, &csv, s->path, raw->names, raw->kinds, raw->cols, values, raw->n_codes, raw->codes);
    int64_t kept = 0;
    for (int64_t r = 0; !st && r < csv.rows; r++) kept += keep[r];
    if (!st && kept == 0) st = kn__error(ctx, KN_ERR_FORMAT, "%s: no row has a value in the target column '%s'", s->path, raw->target);
    kn_dataset *ds = NULL;
    if (!st) st = kn__dataset_alloc(ctx, kept, raw->cols, n_classes, raw->task == KN__TASK_REGRESSION ? 1 : 0, &ds);
    if (!st) {
        int64_t i = 0;
        for (int64_t r = 0; r < csv.rows; r++) {
            if (!keep[r]) continue;
            memcpy(ds->x + i * raw->cols, values + r * raw->cols, (size_t)raw->cols * sizeof(float));
            if (ds->labels) ds->labels[i] = labels[r];
            else ds->targets[i] = targets[r];
            i++;
        }
        if (n_classes) st = kn__dataset_set_names(ds, (const char *const *)label_names);
    }
    if (!st) {
        raw->rows_read = csv.rows;
        raw->rows_without_target = csv.rows - kept;
        int64_t counts[5] = {0, 0, 0, 0, 0}, missing = 0;
        for (int64_t j = 0; j < raw->cols; j++) counts[raw->kinds[j]]++;
        for (int64_t i = 0; i < ds->n * raw->cols; i++) missing += isnan(ds->x[i]);
        int w = snprintf(raw->report, sizeof raw->report,
                         "%s: %lld rows; target '%s' (%s", s->path, (long long)csv.rows, raw->target,
                         raw->task == KN__TASK_REGRESSION ? "regression" : "classification");
        if (n_classes) w += snprintf(raw->report + w, sizeof raw->report - (size_t)w, ", %d classes", n_classes);
        w += snprintf(raw->report + w, sizeof raw->report - (size_t)w,
                      "); %lld feature columns (%lld numeric, %lld categorical, %lld date", (long long)raw->cols,
                      (long long)counts[KN__COL_NUMERIC], (long long)counts[KN__COL_CATEGORICAL], (long long)counts[KN__COL_DATE]);
        if (counts[KN__COL_TEXT]) w += snprintf(raw->report + w, sizeof raw->report - (size_t)w, ", %lld text", (long long)counts[KN__COL_TEXT]);
        if (counts[KN__COL_SEQUENCE]) w += snprintf(raw->report + w, sizeof raw->report - (size_t)w, ", 1 token sequence");
        w += snprintf(raw->report + w, sizeof raw->report - (size_t)w, "); %lld missing values", (long long)missing);
        if (raw->rows_without_target)
            snprintf(raw->report + w, sizeof raw->report - (size_t)w, "; %lld rows without a target dropped",
                     (long long)raw->rows_without_target);
        ds->raw = raw;
        raw = NULL;
        *out = ds;
        ds = NULL;
    }
    for (int i = 0; label_names && i < n_classes; i++) kn__free(ctx, label_names[i]);
    kn__free(ctx, label_names);
    kn_dataset_free(ds);
    kn__raw_release(raw);
    kn__free(ctx, values);
    kn__free(ctx, col_of);
    kn__free(ctx, keep);
    kn__free(ctx, labels);
    kn__free(ctx, targets);
    kn__csv_free(ctx, &csv);
    return st;
}

const char *kn__col_kind_name(kn__col_kind k) { return kind_name(k); }
