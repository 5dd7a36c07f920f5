/* preprocess.c — fitting the CSV preprocessing on a raw table's training rows and applying
 * it, the same code for training data, evaluation data and prediction inputs (see
 * preprocess.h for the steps). Statistics are accumulated in double; a row is transformed in
 * double and stored as float. */
#define _POSIX_C_SOURCE 200809L
#include "data/preprocess.h"
#include "data/dataset.h"
#include "data/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define POLY_MAX_INPUTS 1000 /* poly=2 over more numeric features would pass 500k outputs */

void kn_preprocessor_free(kn_preprocessor *p) {
    if (!p) return;
    kn_ctx *ctx = p->ctx;
    for (int64_t j = 0; p->cols && j < p->n_cols; j++) {
        kn__free(ctx, p->cols[j].name);
        for (int64_t k = 0; p->cols[j].cats && k < p->cols[j].n_cats; k++) kn__free(ctx, p->cols[j].cats[k]);
        kn__free(ctx, p->cols[j].cats);
        kn__free(ctx, p->cols[j].idf);
    }
    kn__free(ctx, p->cols);
    for (int i = 0; p->labels && i < p->n_labels; i++) kn__free(ctx, p->labels[i]);
    kn__free(ctx, p->labels);
    for (int64_t i = 0; p->out_names && i < p->n_out; i++) kn__free(ctx, p->out_names[i]);
    kn__free(ctx, p->out_names);
    kn__free(ctx, p->target);
    kn__free(ctx, p->num_base);
    kn__free(ctx, p->hot_base);
    kn__free(ctx, p->shift);
    kn__free(ctx, p->mul);
    kn__pca_free(ctx, &p->pca);
    kn__free(ctx, p);
}

const char *kn_preprocessor_report(const kn_preprocessor *p) { return p ? p->report : ""; }
int64_t kn_preprocessor_output_size(const kn_preprocessor *p) { return p ? p->n_out : 0; }
const char *kn_preprocessor_feature_name(const kn_preprocessor *p, int64_t i) {
    return p && i >= 0 && i < p->n_out ? p->out_names[i] : NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* How one column's codes become base features: categorical, the vocabulary index of each
 * code (-1 when unseen); text, each code's TF-IDF entries, entries start[code] to
 * start[code + 1] of term and weight; sequence, each code's token ids (at most n_seq, entries
 * start[code] to start[code + 1] of term) and whether it was cut (cut[code]). */
typedef struct col_map {
    int32_t *cat;    /* (n_codes) */
    int64_t *start;  /* (n_codes + 1) */
    int32_t *term;   /* (entries) */
    double *weight;  /* (entries) */
    bool *cut;       /* (n_codes) */
} col_map;

/* A growing list of term indices (one text's known words). */
typedef struct term_list {
    const kn__prep_col *col;
    kn_ctx *ctx;
    int32_t *v;
    int64_t n, cap;
    bool oom;
} term_list;

static bool list_push(term_list *l, int32_t x) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        int32_t *v = kn__alloc(l->ctx, (size_t)cap * sizeof *v);
        if (!v) return l->oom = true, false;
        if (l->n) memcpy(v, l->v, (size_t)l->n * sizeof *v);
        kn__free(l->ctx, l->v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return true;
}

static void known_term(void *arg, const char *token) {
    term_list *l = arg;
    const kn__prep_col *c = l->col;
    char **hit = c->n_cats ? bsearch(&token, c->cats, (size_t)c->n_cats, sizeof *c->cats, cmp_str) : NULL;
    if (hit && !l->oom) list_push(l, (int32_t)(hit - c->cats));
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* A text column's codes as TF-IDF entries (col_map's start, term, weight). */
static kn_status text_map(const kn_preprocessor *p, const kn__prep_col *c, int64_t n_codes, char *const *codes, col_map *m) {
    kn_ctx *ctx = p->ctx;
    term_list words = {.col = c, .ctx = ctx}, all = {.ctx = ctx};
    double *w = NULL;
    int64_t w_cap = 0;
    size_t buf_cap = 0;
    char *buf = NULL;
    bool oom = !(m->start = kn__alloc(ctx, (size_t)(n_codes + 1) * sizeof *m->start));
    for (int64_t k = 0; k < n_codes && !oom; k++) {
        m->start[k] = all.n;
        size_t len = strlen(codes[k]) + 1;
        if (len > buf_cap) {
            kn__free(ctx, buf);
            buf_cap = len * 2;
            if (!(buf = kn__alloc(ctx, buf_cap))) oom = true;
        }
        words.n = 0;
        if (!oom) kn__text_tokens(codes[k], buf, known_term, &words);
        oom |= words.oom;
        if (!oom && words.n > 1) qsort(words.v, (size_t)words.n, sizeof *words.v, cmp_i32);
        const int64_t first = all.n;
        for (int64_t i = 0; i < words.n && !oom;) { /* each run of one term: the term and its count */
            int64_t j = i;
            while (j < words.n && words.v[j] == words.v[i]) j++;
            oom = !list_push(&all, words.v[i]);
            if (!oom && all.n > w_cap) {
                double *nw = kn__alloc(ctx, (size_t)(2 * all.n) * sizeof *nw);
                if (nw && all.n > 1) memcpy(nw, w, (size_t)(all.n - 1) * sizeof *nw);
                kn__free(ctx, w);
                w = nw, w_cap = 2 * all.n, oom = !nw;
            }
            if (!oom) w[all.n - 1] = (double)(j - i) * c->idf[words.v[i]];
            i = j;
        }
        double norm = 0;
        for (int64_t e = first; e < all.n && !oom; e++) norm += w[e] * w[e];
        norm = sqrt(norm);
        for (int64_t e = first; e < all.n && !oom && norm > 0; e++) w[e] /= norm;
    }
    if (!oom) m->start[n_codes] = all.n;
    m->term = all.v;
    m->weight = w;
    kn__free(ctx, words.v);
    kn__free(ctx, buf);
    return oom ? kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory for the words of '%s'", c->name) : KN_OK;
}

/* A sequence column's ids for one text, as the tokens come: up to n_seq of them. */
typedef struct id_list {
    term_list ids;
    const kn__terms *vocab;
    int64_t n_seq, tokens; /* tokens: all of the text's, kept or not */
} id_list;

static void token_id(void *arg, const char *token) {
    id_list *l = arg;
    if (l->tokens++ >= l->n_seq || l->ids.oom) return;
    int64_t i = kn__terms_index(l->ids.ctx, (kn__terms *)l->vocab, token, false);
    list_push(&l->ids, i >= 0 ? (int32_t)i + 2 : 1); /* 0: padding, 1: out of the vocabulary */
}

/* A sequence column's codes as token ids (col_map's start, term, cut). */
static kn_status sequence_map(const kn_preprocessor *p, const kn__prep_col *c, int64_t n_codes, char *const *codes, col_map *m) {
    kn_ctx *ctx = p->ctx;
    kn__terms vocab = {0};
    id_list l = {.ids = {.ctx = ctx}, .vocab = &vocab, .n_seq = p->n_seq};
    size_t buf_cap = 0;
    char *buf = NULL;
    bool oom = !(m->start = kn__alloc(ctx, (size_t)(n_codes + 1) * sizeof *m->start)) ||
               !(m->cut = kn__alloc(ctx, (size_t)(n_codes ? n_codes : 1) * sizeof *m->cut));
    for (int64_t i = 0; i < c->n_cats && !oom; i++) oom = kn__terms_index(ctx, &vocab, c->cats[i], true) < 0; /* distinct: checked when read */
    for (int64_t k = 0; k < n_codes && !oom; k++) {
        m->start[k] = l.ids.n;
        size_t len = strlen(codes[k]) + 1;
        if (len > buf_cap) {
            kn__free(ctx, buf);
            buf_cap = len * 2;
            if (!(buf = kn__alloc(ctx, buf_cap))) oom = true;
        }
        l.tokens = 0;
        if (!oom) kn__text_tokens(codes[k], buf, token_id, &l);
        oom |= l.ids.oom;
        if (!oom) m->cut[k] = l.tokens > p->n_seq;
    }
    if (!oom) m->start[n_codes] = l.ids.n;
    m->term = l.ids.v;
    kn__free(ctx, buf);
    kn__terms_free(ctx, &vocab);
    return oom ? kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory for the words of '%s'", c->name) : KN_OK;
}

static kn_status code_maps(const kn_preprocessor *p, const int64_t *n_codes, char **const *codes, col_map *maps) {
    for (int64_t j = 0; j < p->n_cols; j++) {
        memset(&maps[j], 0, sizeof maps[j]);
        const kn__prep_col *c = &p->cols[j];
        if (c->kind == KN__COL_SEQUENCE) {
            kn_status st = sequence_map(p, c, n_codes[j], codes[j], &maps[j]);
            if (st) return st;
            continue;
        }
        if (c->kind == KN__COL_TEXT) {
            kn_status st = text_map(p, c, n_codes[j], codes[j], &maps[j]);
            if (st) return st;
            continue;
        }
        if (c->kind != KN__COL_CATEGORICAL) continue;
        maps[j].cat = kn__alloc(p->ctx, (size_t)(n_codes[j] ? n_codes[j] : 1) * sizeof *maps[j].cat);
        if (!maps[j].cat) return kn__error(p->ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
        for (int64_t k = 0; k < n_codes[j]; k++) {
            char **hit = c->n_cats ? bsearch(&codes[j][k], c->cats, (size_t)c->n_cats, sizeof *c->cats, cmp_str) : NULL;
            maps[j].cat[k] = hit ? (int32_t)(hit - c->cats) : -1;
        }
    }
    return KN_OK;
}

static void free_maps(kn_ctx *ctx, int64_t n, col_map *maps) {
    for (int64_t j = 0; j < n; j++) {
        kn__free(ctx, maps[j].cat);
        kn__free(ctx, maps[j].start);
        kn__free(ctx, maps[j].term);
        kn__free(ctx, maps[j].weight);
        kn__free(ctx, maps[j].cut);
    }
}

/* One raw row's base features. False when a missing value has no fill (impute=drop);
 * *missing_col then names its column. */
static bool base_row(const kn_preprocessor *p, const float *raw, const col_map *maps, double *base, int64_t *unseen,
                     int64_t *missing_col, int64_t *imputed) {
    for (int64_t j = 0; j < p->n_cols; j++) {
        const kn__prep_col *c = &p->cols[j];
        double *b = base + c->first;
        float v = raw[j];
        if (isnan(v)) {
            if (isnan(c->fill)) {
                *missing_col = j;
                return false;
            }
            (*imputed)++;
        }
        switch (c->kind) {
        case KN__COL_NUMERIC:
            b[0] = isnan(v) ? c->fill : (double)v;
            break;
        case KN__COL_DATE: {
            float parts[4];
            kn__date_parts(isnan(v) ? (int64_t)c->fill : (int64_t)v, parts);
            for (int k = 0; k < 4; k++) b[k] = parts[k];
            break;
        }
        case KN__COL_CATEGORICAL: {
            int64_t cat = isnan(v) ? (int64_t)c->fill : maps[j].cat[(int64_t)v];
            if (cat < 0 && !isnan(v)) (*unseen)++;
            if (p->onehot) {
                for (int64_t k = 0; k < c->width; k++) b[k] = 0;
                if (cat >= 0) b[cat] = 1;
            } else {
                b[0] = cat >= 0 ? (double)cat : c->fill; /* ordinal: unseen takes the fill */
            }
            break;
        }
        case KN__COL_TEXT: /* missing: an empty text */
            for (int64_t k = 0; k < c->width; k++) b[k] = 0;
            if (!isnan(v))
                for (int64_t e = maps[j].start[(int64_t)v]; e < maps[j].start[(int64_t)v + 1]; e++) b[maps[j].term[e]] = maps[j].weight[e];
            break;
        case KN__COL_SEQUENCE: /* not a base feature: seq_row */
            break;
        }
    }
    return true;
}

/* A raw row's sequence ids into o (n_seq): the text's first ids, then 0s (a missing text: all
 * 0s). Counts the row when cut and its ids 1. */
static void seq_row(const kn_preprocessor *p, const float *raw, const col_map *maps, float *o, kn__prep_counts *counts) {
    const col_map *m = &maps[p->seq_col];
    float v = raw[p->seq_col];
    int64_t k = 0;
    if (!isnan(v)) {
        const int64_t code = (int64_t)v;
        for (int64_t e = m->start[code]; e < m->start[code + 1]; e++) {
            counts->oov += m->term[e] == 1;
            o[k++] = (float)m->term[e];
        }
        counts->truncated += m->cut[code];
    }
    for (; k < p->n_seq; k++) o[k] = 0;
}

/* [numeric block (with products) | one-hot block], unscaled. */
static void assemble_row(const kn_preprocessor *p, const double *base, double *vec) {
    int64_t k = 0;
    for (int64_t i = 0; i < p->n_num1; i++) vec[k++] = base[p->num_base[i]];
    if (p->poly == 2)
        for (int64_t i = 0; i < p->n_num1; i++)
            for (int64_t j = i; j < p->n_num1; j++) vec[k++] = base[p->num_base[i]] * base[p->num_base[j]];
    for (int64_t i = 0; i < p->n_hot; i++) vec[k++] = base[p->hot_base[i]];
}

/* A transformed row must hold float32 numbers: a raw value near float's limit, or a stored
 * scaling far from the data it meets (a model file's shift and scale are only checked to be
 * finite), could overflow to inf and make every prediction NaN; say which feature. */
static kn_status check_finite_row(kn_ctx *ctx, const kn_preprocessor *p, const float *o, const char *where, int64_t at,
                                  bool is_line) {
    for (int64_t i = 0; i < p->n_out; i++) {
        if (isfinite(o[i])) continue;
        char name[48];
        if (p->pca.k > 0 || !p->out_names) snprintf(name, sizeof name, "%s %lld", p->pca.k > 0 ? "pca component" : "feature", (long long)i);
        return kn__error(ctx, KN_ERR_FORMAT, "%s: %s %lld: %s%s%s is %g after preprocessing (a value too large for float32?)", where,
                         is_line ? "line" : "row", (long long)at, p->pca.k > 0 || !p->out_names ? "" : "feature '",
                         p->pca.k > 0 || !p->out_names ? name : p->out_names[i], p->pca.k > 0 || !p->out_names ? "" : "'", (double)o[i]);
    }
    return KN_OK;
}


kn_status kn__prep_transform(const kn_preprocessor *p, const float *raw, int64_t n, const int64_t *n_codes,
                             char **const *codes, bool drop_missing, const char *where, const int64_t *lines,
                             float *out, bool *keep, kn__prep_counts *counts) {
    kn_ctx *ctx = p->ctx;
    int64_t width = p->n_num + p->n_hot;
    col_map *maps = kn__calloc(ctx, (size_t)p->n_cols, sizeof *maps);
    double *base = kn__alloc(ctx, (size_t)(p->n_base + width) * sizeof *base), *vec = base ? base + p->n_base : NULL;
    kn_status st = maps && base ? code_maps(p, n_codes, codes, maps)
                                : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    int64_t imputed = 0;
    *counts = (kn__prep_counts){0};
    for (int64_t r = 0; r < n && !st; r++) {
        int64_t missing = -1;
        float *o = out + r * p->n_out;
        if (!base_row(p, raw + r * p->n_cols, maps, base, &counts->unseen, &missing, &imputed)) {
            if (drop_missing) {
                keep[r] = false;
                for (int64_t i = 0; i < p->n_out; i++) o[i] = 0;
                continue;
            }
            if (lines)
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: line %lld: column '%s': missing value (the model was trained with impute=drop)",
                               where, (long long)lines[r], p->cols[missing].name);
            else
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: row %lld: column '%s': missing value (the model was trained with impute=drop)",
                               where, (long long)r + 1, p->cols[missing].name);
            break;
        }
        if (keep) keep[r] = true;
        if (p->n_seq) seq_row(p, raw + r * p->n_cols, maps, o, counts);
        float *rest = o + p->n_seq; /* after the token ids */
        assemble_row(p, base, vec);
        for (int64_t i = 0; i < p->n_num; i++) vec[i] = (vec[i] - p->shift[i]) * p->mul[i];
        if (p->pca.k > 0) {
            for (int64_t c = 0; c < p->pca.k; c++) {
                const double *comp = p->pca.components + c * p->pca.d;
                double s = 0;
                for (int64_t i = 0; i < width; i++) s += (vec[i] - p->pca.mean[i]) * comp[i];
                rest[c] = (float)s;
            }
        } else {
            for (int64_t i = 0; i < width; i++) rest[i] = (float)vec[i];
        }
        st = check_finite_row(ctx, p, o, where, lines ? lines[r] : r + 1, lines != NULL);
    }
    if (maps) free_maps(ctx, p->n_cols, maps);
    kn__free(ctx, maps);
    kn__free(ctx, base);
    return st;
}

/* ---------------------------------------------------------------- fitting */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The fill of a numeric or date column over the fitting rows' values (n of them). */
static double numeric_fill(kn__impute how, double constant, double *v, int64_t n, bool date) {
    if (how == KN__IMPUTE_DROP) return NAN;
    if (how == KN__IMPUTE_CONSTANT) return constant;
    if (n == 0) return 0; /* all missing: a constant column, dropped later */
    double fill = 0;
    if (how == KN__IMPUTE_MEAN) {
        for (int64_t i = 0; i < n; i++) fill += v[i];
        fill /= (double)n;
    } else {
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        if (how == KN__IMPUTE_MEDIAN) {
            fill = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        } else { /* most frequent; the smallest among ties, as scikit-learn */
            int64_t best = 0, run = 0;
            for (int64_t i = 0; i < n; i++) {
                run = i > 0 && v[i] == v[i - 1] ? run + 1 : 1;
                if (run > best) best = run, fill = v[i];
            }
        }
    }
    return date ? floor(fill + 0.5) : fill;
}

static kn_status set_name(kn_ctx *ctx, char **slot, const char *a, const char *sep, const char *b) {
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    *slot = kn__alloc(ctx, n);
    if (!*slot) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    snprintf(*slot, n, "%s%s%s", a, sep, b);
    return KN_OK;
}

/* The name of base feature b. */
static kn_status base_name(const kn_preprocessor *p, int64_t b, char **out) {
    static const char *const date_parts[4] = {"year", "month", "yday", "weekday"};
    for (int64_t j = 0; j < p->n_cols; j++) {
        const kn__prep_col *c = &p->cols[j];
        if (b < c->first || b >= c->first + c->width) continue;
        if (c->kind == KN__COL_DATE) return set_name(p->ctx, out, c->name, ".", date_parts[b - c->first]);
        if (c->kind == KN__COL_CATEGORICAL && p->onehot) return set_name(p->ctx, out, c->name, "=", c->cats[b - c->first]);
        if (c->kind == KN__COL_TEXT) return set_name(p->ctx, out, c->name, ":", c->cats[b - c->first]);
        return set_name(p->ctx, out, c->name, "", "");
    }
    return kn__error(p->ctx, KN_ERR_STATE, "preprocessing: base feature %lld out of range", (long long)b);
}

kn_status kn__prep_names(kn_preprocessor *p) {
    kn_ctx *ctx = p->ctx;
    p->out_names = kn__calloc(ctx, (size_t)p->n_out, sizeof *p->out_names);
    if (!p->out_names) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    kn_status st = KN_OK;
    int64_t k = 0;
    for (; k < p->n_seq && !st; k++) { /* review[0], review[1], ... */
        char buf[32];
        snprintf(buf, sizeof buf, "[%lld]", (long long)k);
        st = set_name(ctx, &p->out_names[k], p->cols[p->seq_col].name, buf, "");
    }
    if (p->pca.k > 0) {
        for (int64_t i = 0; k < p->n_out && !st; i++) {
            char buf[32];
            snprintf(buf, sizeof buf, "pc%lld", (long long)i + 1);
            st = set_name(ctx, &p->out_names[k++], buf, "", "");
        }
        return st;
    }
    for (int64_t i = 0; i < p->n_num1 && !st; i++) st = base_name(p, p->num_base[i], &p->out_names[k++]);
    if (p->poly == 2)
        for (int64_t i = 0; i < p->n_num1 && !st; i++)
            for (int64_t j = i; j < p->n_num1 && !st; j++) {
                char *a = NULL, *b = NULL;
                st = base_name(p, p->num_base[i], &a);
                if (!st) st = base_name(p, p->num_base[j], &b);
                if (!st) st = i == j ? set_name(ctx, &p->out_names[k++], a, "", "^2") : set_name(ctx, &p->out_names[k++], a, "*", b);
                kn__free(ctx, a);
                kn__free(ctx, b);
            }
    for (int64_t i = 0; i < p->n_hot && !st; i++) st = base_name(p, p->hot_base[i], &p->out_names[k++]);
    return st;
}

/* Counting a text column's words over the fitting rows' distinct texts. */
typedef struct word_counts {
    kn_ctx *ctx;
    kn__terms terms;
    double *tf, *df;  /* (cap) occurrences in the fitting rows; rows that have the term */
    int64_t *last;    /* (cap) the last text (code) that counted the term's row */
    int64_t cap, code, rows; /* the text being read and how many fitting rows hold it */
    int64_t tokens;   /* the text's tokens (sequence columns) */
    bool oom;
} word_counts;

static void count_word(void *arg, const char *token) {
    word_counts *wc = arg;
    int64_t i = wc->oom ? -2 : kn__terms_index(wc->ctx, &wc->terms, token, true);
    if (i >= 0 && i >= wc->cap) {
        int64_t cap = wc->cap ? 2 * wc->cap : 1024;
        double *tf = kn__calloc(wc->ctx, (size_t)cap, sizeof *tf), *df = kn__calloc(wc->ctx, (size_t)cap, sizeof *df);
        int64_t *last = kn__alloc(wc->ctx, (size_t)cap * sizeof *last);
        if (tf && df && last) {
            if (wc->cap) {
                memcpy(tf, wc->tf, (size_t)wc->cap * sizeof *tf);
                memcpy(df, wc->df, (size_t)wc->cap * sizeof *df);
                memcpy(last, wc->last, (size_t)wc->cap * sizeof *last);
            }
            for (int64_t k = wc->cap; k < cap; k++) last[k] = -1;
            kn__free(wc->ctx, wc->tf), kn__free(wc->ctx, wc->df), kn__free(wc->ctx, wc->last);
            wc->tf = tf, wc->df = df, wc->last = last, wc->cap = cap;
        } else {
            kn__free(wc->ctx, tf), kn__free(wc->ctx, df), kn__free(wc->ctx, last);
            i = -2;
        }
    }
    if (i < 0) {
        wc->oom = true;
        return;
    }
    wc->tf[i] += (double)wc->rows;
    if (wc->last[i] != wc->code) wc->last[i] = wc->code, wc->df[i] += (double)wc->rows;
}

static void count_sequence_word(void *arg, const char *token) {
    ((word_counts *)arg)->tokens++;
    count_word(arg, token);
}

typedef struct ranked_term {
    double tf;
    const char *text;
    int64_t index;
} ranked_term;

static int cmp_rank(const void *a, const void *b) { /* most frequent first, then by text */
    const ranked_term *x = a, *y = b;
    return x->tf != y->tf ? (x->tf < y->tf) - (x->tf > y->tf) : strcmp(x->text, y->text);
}

static int cmp_rank_keras(const void *a, const void *b) { /* most frequent first, then the greater text (np.lexsort reversed) */
    const ranked_term *x = a, *y = b;
    return x->tf != y->tf ? (x->tf < y->tf) - (x->tf > y->tf) : strcmp(y->text, x->text);
}

static int cmp_rank_text(const void *a, const void *b) { return strcmp(((const ranked_term *)a)->text, ((const ranked_term *)b)->text); }

/* Feeds every token of the fitting rows' distinct texts (count[code] rows hold text code;
 * codes no fitting row holds skipped) to fn with wc; *longest (when not NULL): the most
 * tokens in one text. A failed allocation sets wc->oom. */
static void count_texts(word_counts *wc, char *const *codes, const int64_t *count, int64_t n_codes,
                        void (*fn)(void *arg, const char *token), int64_t *longest) {
    char *buf = NULL;
    size_t buf_cap = 0;
    if (longest) *longest = 0;
    for (int64_t k = 0; k < n_codes && !wc->oom; k++) {
        if (!count[k]) continue;
        size_t len = strlen(codes[k]) + 1;
        if (len > buf_cap) {
            kn__free(wc->ctx, buf);
            buf_cap = 2 * len;
            if (!(buf = kn__alloc(wc->ctx, buf_cap))) wc->oom = true;
        }
        wc->code = k, wc->rows = count[k], wc->tokens = 0;
        if (!wc->oom) kn__text_tokens(codes[k], buf, fn, wc);
        if (longest && wc->tokens > *longest) *longest = wc->tokens;
    }
    kn__free(wc->ctx, buf);
}

/* A text column's kept terms (c->cats, sorted) and their idf (c->idf), as TfidfVectorizer
 * fits them with max_features = keep: count[code] fitting rows hold text code; docs is the
 * number of fitting rows (a missing text is an empty document). */
static kn_status fit_text(kn_ctx *ctx, kn__prep_col *c, char *const *codes, const int64_t *count, int64_t n_codes, int64_t docs,
                          int64_t keep) {
    word_counts wc = {.ctx = ctx};
    count_texts(&wc, codes, count, n_codes, count_word, NULL);
    const int64_t T = wc.terms.n, kept = T < keep ? T : keep;
    ranked_term *r = wc.oom ? NULL : kn__alloc(ctx, (size_t)(T ? T : 1) * sizeof *r);
    c->n_cats = kept;
    c->cats = kn__calloc(ctx, (size_t)(kept ? kept : 1), sizeof *c->cats);
    c->idf = kn__alloc(ctx, (size_t)(kept ? kept : 1) * sizeof *c->idf);
    bool oom = !r || !c->cats || !c->idf;
    if (!oom) {
        for (int64_t i = 0; i < T; i++) r[i] = (ranked_term){.tf = wc.tf[i], .text = wc.terms.text[i], .index = i};
        qsort(r, (size_t)T, sizeof *r, cmp_rank);
        qsort(r, (size_t)kept, sizeof *r, cmp_rank_text);
        for (int64_t i = 0; i < kept && !oom; i++) {
            oom = !(c->cats[i] = kn__strdup(ctx, r[i].text));
            c->idf[i] = log((1.0 + (double)docs) / (1.0 + wc.df[r[i].index])) + 1.0; /* smooth_idf */
        }
    }
    kn__free(ctx, r);
    kn__free(ctx, wc.tf), kn__free(ctx, wc.df), kn__free(ctx, wc.last);
    kn__terms_free(ctx, &wc.terms);
    return oom ? kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory for the words of '%s'", c->name) : KN_OK;
}

/* A sequence column's vocabulary (c->cats in id order from 2) as Keras's TextVectorization
 * adapts it: every token of the fitting rows counted (count[code] rows hold text code), the
 * words by descending count, ties by descending text, the first max_tokens - 2 kept. *longest:
 * the most tokens in one fitting row's text. */
static kn_status fit_sequence(kn_ctx *ctx, kn__prep_col *c, char *const *codes, const int64_t *count, int64_t n_codes,
                              int64_t max_tokens, int64_t *longest) {
    word_counts wc = {.ctx = ctx};
    count_texts(&wc, codes, count, n_codes, count_sequence_word, longest);
    const int64_t T = wc.terms.n, kept = T < max_tokens - 2 ? T : max_tokens - 2;
    ranked_term *r = wc.oom ? NULL : kn__alloc(ctx, (size_t)(T ? T : 1) * sizeof *r);
    c->n_cats = kept;
    c->cats = kn__calloc(ctx, (size_t)(kept ? kept : 1), sizeof *c->cats);
    bool oom = !r || !c->cats;
    if (!oom) {
        for (int64_t i = 0; i < T; i++) r[i] = (ranked_term){.tf = wc.tf[i], .text = wc.terms.text[i], .index = i};
        qsort(r, (size_t)T, sizeof *r, cmp_rank_keras);
        for (int64_t i = 0; i < kept && !oom; i++) oom = !(c->cats[i] = kn__strdup(ctx, r[i].text));
    }
    kn__free(ctx, r);
    kn__free(ctx, wc.tf), kn__free(ctx, wc.df), kn__free(ctx, wc.last);
    kn__terms_free(ctx, &wc.terms);
    return oom ? kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory for the words of '%s'", c->name) : KN_OK;
}

/* Columns, vocabularies and fills from the fitting rows. */
static kn_status fit_columns(kn_preprocessor *p, const kn_dataset *ds, const bool *fit_row) {
    kn_ctx *ctx = p->ctx;
    const kn__raw *raw = ds->raw;
    int64_t n = ds->n, cols = raw->cols;
    double *v = kn__alloc(ctx, (size_t)(n ? n : 1) * sizeof *v);
    int64_t *count = NULL;
    kn_status st = v ? KN_OK : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    int64_t base = 0;
    for (int64_t j = 0; j < cols && !st; j++) {
        kn__prep_col *c = &p->cols[j];
        c->kind = raw->kinds[j];
        if (!(c->name = kn__strdup(ctx, raw->names[j]))) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
        int64_t m = 0;
        for (int64_t r = 0; r < n && !st; r++) {
            float x = ds->x[r * cols + j];
            if (fit_row[r] && !isnan(x)) v[m++] = x;
        }
        if (st) break;
        const int64_t nc = raw->n_codes[j];
        if (c->kind == KN__COL_TEXT || c->kind == KN__COL_CATEGORICAL || c->kind == KN__COL_SEQUENCE) { /* the fitting rows holding each code */
            kn__free(ctx, count);
            count = kn__calloc(ctx, (size_t)(nc ? nc : 1), sizeof *count);
            if (!count) {
                st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
                break;
            }
            for (int64_t i = 0; i < m; i++) count[(int64_t)v[i]]++;
        }
        if (c->kind == KN__COL_SEQUENCE) {
            int64_t longest = 0;
            p->seq_col = j;
            p->max_tokens = raw->src.max_tokens ? raw->src.max_tokens : 20000;
            st = fit_sequence(ctx, c, raw->codes[j], count, nc, p->max_tokens, &longest);
            p->n_seq = raw->src.sequence_length ? raw->src.sequence_length : longest > 0 ? longest : 1;
            c->fill = p->impute == KN__IMPUTE_DROP ? NAN : 0; /* 0: an empty text, all padding */
            c->width = 0;
        } else if (c->kind == KN__COL_TEXT) {
            int64_t docs = 0;
            for (int64_t r = 0; r < n; r++) docs += fit_row[r];
            st = fit_text(ctx, c, raw->codes[j], count, nc, docs, raw->src.text_features);
            c->fill = p->impute == KN__IMPUTE_DROP ? NAN : 0; /* 0: an empty text */
            c->width = c->n_cats ? c->n_cats : 1;
        } else if (c->kind != KN__COL_CATEGORICAL) {
            c->fill = numeric_fill(p->impute, raw->src.fill_value, v, m, c->kind == KN__COL_DATE);
            c->width = c->kind == KN__COL_DATE ? 4 : 1;
        } else {
            /* the vocabulary: codes seen in the fitting rows, by text */
            for (int64_t k = 0; k < nc; k++) c->n_cats += count[k] > 0;
            c->cats = kn__calloc(ctx, (size_t)(c->n_cats ? c->n_cats : 1), sizeof *c->cats);
            if (!c->cats) {
                st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
                break;
            }
            int64_t w = 0;
            for (int64_t k = 0; k < nc && !st; k++)
                if (count[k] && !(c->cats[w++] = kn__strdup(ctx, raw->codes[j][k])))
                    st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
            if (st) break;
            qsort(c->cats, (size_t)c->n_cats, sizeof *c->cats, cmp_str);
            /* most frequent category (the first in sorted order among ties); drop: none */
            c->fill = p->impute == KN__IMPUTE_DROP ? NAN : c->n_cats ? 0 : -1;
            int64_t best = -1;
            for (int64_t k = 0; k < nc && p->impute != KN__IMPUTE_DROP; k++) {
                if (!count[k]) continue;
                int64_t idx = (char **)bsearch(&raw->codes[j][k], c->cats, (size_t)c->n_cats, sizeof *c->cats, cmp_str) - c->cats;
                if (count[k] > best || (count[k] == best && idx < (int64_t)c->fill)) best = count[k], c->fill = (double)idx;
            }
            c->width = p->onehot ? (c->n_cats ? c->n_cats : 1) : 1;
        }
        c->first = base;
        base += c->width;
    }
    p->n_base = base;
    kn__free(ctx, v);
    kn__free(ctx, count);
    return st;
}

kn_status kn_preprocessor_fit(const kn_dataset *ds, kn_preprocessor **out) {
    if (!ds || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    kn_ctx *ctx = ds->ctx;
    const kn__raw *raw = ds->raw;
    if (!raw)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                         "preprocessing: the data is not a raw CSV table (load it with kn_dataset_load(\"csv:FILE\"))");
    kn_preprocessor *p = kn__calloc(ctx, 1, sizeof *p);
    if (!p) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    p->ctx = ctx;
    p->impute = raw->src.impute;
    p->scale = raw->src.scale;
    p->onehot = raw->src.onehot;
    p->keep_constant = raw->src.keep_constant;
    p->poly = raw->src.poly;
    p->task = raw->task;
    p->n_cols = raw->cols;
    p->seq_col = -1;
    int64_t n = ds->n;
    p->target = kn__strdup(ctx, raw->target);
    p->cols = kn__calloc(ctx, (size_t)raw->cols, sizeof *p->cols);
    bool *fit_row = kn__alloc(ctx, (size_t)(n ? n : 1) * sizeof *fit_row);
    float *x = NULL;
    double *base = NULL, *vec = NULL;
    col_map *maps = NULL;
    kn_status st = p->target && p->cols && fit_row ? KN_OK : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    if (!st && ds->label_names) {
        p->n_labels = ds->n_classes;
        p->labels = kn__calloc(ctx, (size_t)ds->n_classes, sizeof *p->labels);
        if (!p->labels) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
        for (int i = 0; !st && i < ds->n_classes; i++)
            if (!(p->labels[i] = kn__strdup(ctx, ds->label_names[i]))) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    }
    /* impute=drop: fit on the complete rows only */
    int64_t n_fit = 0;
    for (int64_t r = 0; r < n && !st; r++) {
        fit_row[r] = true;
        for (int64_t j = 0; p->impute == KN__IMPUTE_DROP && j < raw->cols; j++) fit_row[r] &= !isnan(ds->x[r * raw->cols + j]);
        n_fit += fit_row[r];
    }
    p->rows_fitted = n_fit;
    p->rows_dropped = n - n_fit;
    if (!st && n_fit < 2)
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "preprocessing: %lld complete training rows; at least 2 are needed",
                       (long long)n_fit);
    if (!st) st = fit_columns(p, ds, fit_row);

    /* base features of the fitting rows: which are constant */
    if (!st) {
        base = kn__alloc(ctx, (size_t)p->n_base * 3 * sizeof *base); /* row, min, max */
        maps = kn__calloc(ctx, (size_t)p->n_cols, sizeof *maps);
        p->num_base = kn__alloc(ctx, (size_t)p->n_base * sizeof *p->num_base);
        p->hot_base = kn__alloc(ctx, (size_t)p->n_base * sizeof *p->hot_base);
        st = base && maps && p->num_base && p->hot_base ? code_maps(p, raw->n_codes, raw->codes, maps)
                                                         : kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    }
    if (!st) {
        double *lo = base + p->n_base, *hi = lo + p->n_base;
        int64_t unseen = 0, missing = 0, imputed = 0;
        bool first = true;
        for (int64_t r = 0; r < n; r++) {
            if (!fit_row[r]) continue;
            base_row(p, ds->x + r * raw->cols, maps, base, &unseen, &missing, &imputed);
            for (int64_t b = 0; b < p->n_base; b++) {
                lo[b] = first || base[b] < lo[b] ? base[b] : lo[b];
                hi[b] = first || base[b] > hi[b] ? base[b] : hi[b];
            }
            first = false;
        }
        p->values_imputed = imputed;
        for (int64_t r = 0; r < n && p->n_seq; r++) { /* the training rows' cut texts and unknown words */
            if (!fit_row[r]) continue;
            const float v = ds->x[r * raw->cols + p->seq_col];
            const col_map *m = &maps[p->seq_col];
            if (isnan(v)) continue;
            p->seq_truncated += m->cut[(int64_t)v];
            for (int64_t e = m->start[(int64_t)v]; e < m->start[(int64_t)v + 1]; e++) p->seq_oov += m->term[e] == 1;
        }
        for (int64_t j = 0; j < p->n_cols; j++) {
            const kn__prep_col *c = &p->cols[j];
            bool hot = (c->kind == KN__COL_CATEGORICAL && p->onehot) || c->kind == KN__COL_TEXT;
            for (int64_t b = c->first; b < c->first + c->width; b++) {
                if (lo[b] == hi[b]) {
                    p->dropped_constant++; /* (constant=keep: counted, and kept) */
                    if (!p->keep_constant) continue;
                }
                if (hot) p->hot_base[p->n_hot++] = b;
                else p->num_base[p->n_num1++] = b;
            }
        }
        if (p->n_num1 + p->n_hot + p->n_seq == 0)
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "preprocessing: every feature is constant on the %lld training rows",
                           (long long)n_fit);
        if (!st && p->poly == 2 && p->n_num1 > POLY_MAX_INPUTS)
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "preprocessing: poly=2 over %lld numeric features is over the %d limit",
                           (long long)p->n_num1, POLY_MAX_INPUTS);
    }

    /* the unscaled numeric and one-hot blocks of the fitting rows: scaling statistics */
    int64_t width = 0;
    if (!st) {
        p->n_num = p->n_num1 + (p->poly == 2 ? p->n_num1 * (p->n_num1 + 1) / 2 : 0);
        width = p->n_num + p->n_hot;
        p->shift = kn__alloc(ctx, (size_t)(p->n_num ? p->n_num : 1) * sizeof *p->shift);
        p->mul = kn__alloc(ctx, (size_t)(p->n_num ? p->n_num : 1) * sizeof *p->mul);
        vec = kn__alloc(ctx, (size_t)width * 3 * sizeof *vec);
        if (!p->shift || !p->mul || !vec) st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory");
    }
    if (!st) {
        double *a = vec + width, *b = a + width; /* sum and sum of squares, or min and max */
        bool minmax = p->scale == KN__SCALE_MINMAX, first = true;
        int64_t unseen = 0, missing = 0, imputed = 0;
        for (int64_t i = 0; i < 2 * width; i++) a[i] = 0;
        for (int64_t r = 0; r < n; r++) {
            if (!fit_row[r]) continue;
            base_row(p, ds->x + r * raw->cols, maps, base, &unseen, &missing, &imputed);
            assemble_row(p, base, vec);
            for (int64_t i = 0; i < p->n_num; i++) {
                if (minmax) {
                    a[i] = first || vec[i] < a[i] ? vec[i] : a[i];
                    b[i] = first || vec[i] > b[i] ? vec[i] : b[i];
                } else {
                    a[i] += vec[i];
                }
            }
            first = false;
        }
        if (p->scale == KN__SCALE_STANDARD) { /* second pass: the variance about the mean */
            for (int64_t i = 0; i < p->n_num; i++) a[i] /= (double)n_fit;
            for (int64_t r = 0; r < n; r++) {
                if (!fit_row[r]) continue;
                base_row(p, ds->x + r * raw->cols, maps, base, &unseen, &missing, &imputed);
                assemble_row(p, base, vec);
                for (int64_t i = 0; i < p->n_num; i++) b[i] += (vec[i] - a[i]) * (vec[i] - a[i]);
            }
        }
        for (int64_t i = 0; i < p->n_num; i++) {
            if (p->scale == KN__SCALE_STANDARD) { /* population std, as StandardScaler; 0 -> 1 */
                double sd = sqrt(b[i] / (double)n_fit);
                p->shift[i] = a[i];
                p->mul[i] = sd > 0 ? 1.0 / sd : 1.0;
            } else if (minmax) { /* to [0, 1]; a zero range -> 1 */
                p->shift[i] = a[i];
                p->mul[i] = b[i] > a[i] ? 1.0 / (b[i] - a[i]) : 1.0;
            } else {
                p->shift[i] = 0;
                p->mul[i] = 1;
            }
        }
        p->n_out = p->n_seq + width;
    }
    /* PCA on the scaled features of the fitting rows */
    if (!st && (raw->src.pca_k > 0 || raw->src.pca_share > 0) && p->n_seq)
        st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca= with a sequence column: token ids are never projected"); /* (the source refuses it) */
    if (!st && (raw->src.pca_k > 0 || raw->src.pca_share > 0)) {
        size_t size;
        if (!kn__mul_size((size_t)n_fit, (size_t)width, &size) || !kn__mul_size(size, sizeof(float), &size) ||
            !(x = kn__alloc(ctx, size))) {
            st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory for PCA over %lld x %lld", (long long)n_fit,
                           (long long)width);
        }
        int64_t i = 0;
        kn__prep_counts counts;
        for (int64_t r = 0; r < n && !st; r++) {
            if (!fit_row[r]) continue;
            st = kn__prep_transform(p, ds->x + r * raw->cols, 1, raw->n_codes, raw->codes, false, "pca", NULL,
                                    x + i++ * width, NULL, &counts);
        }
        if (!st && raw->src.pca_k > width)
            st = kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "pca=%lld: only %lld features after preprocessing",
                           (long long)raw->src.pca_k, (long long)width);
        if (!st) st = kn__pca_fit(ctx, x, n_fit, width, raw->src.pca_k, raw->src.pca_share, &p->pca);
        if (!st) p->n_out = p->n_seq + p->pca.k;
    }
    if (!st) st = kn__prep_names(p);
    if (!st) {
        double explained = 0;
        for (int64_t k = 0; k < p->pca.k; k++) explained += p->pca.explained_variance_ratio[k];
        static const char *const impute_names[] = {"mean", "median", "most_frequent", "constant", "drop"};
        static const char *const scale_names[] = {"standard", "minmax", "none"};
        int w = snprintf(p->report, sizeof p->report, "%s\npreprocessing fitted on %lld rows: impute=%s (%lld values)",
                         raw->report, (long long)n_fit, impute_names[p->impute], (long long)p->values_imputed);
        if (p->rows_dropped)
            w += snprintf(p->report + w, sizeof p->report - (size_t)w, ", %lld incomplete rows dropped", (long long)p->rows_dropped);
        w += snprintf(p->report + w, sizeof p->report - (size_t)w, "; %lld constant feature%s %s; onehot=%s; scale=%s",
                      (long long)p->dropped_constant, p->dropped_constant == 1 ? "" : "s", p->keep_constant ? "kept" : "dropped",
                      p->onehot ? "on" : "off",
                      scale_names[p->scale]);
        if (p->poly == 2) w += snprintf(p->report + w, sizeof p->report - (size_t)w, "; poly=2");
        if (p->pca.k)
            w += snprintf(p->report + w, sizeof p->report - (size_t)w, "; pca: %lld components, %.1f%% of the variance",
                          (long long)p->pca.k, 100 * explained);
        if (p->n_seq)
            w += snprintf(p->report + w, sizeof p->report - (size_t)w,
                          "; sequence '%s': %lld token ids per row, vocabulary %lld (ids 0 padding, 1 unknown, %lld words; "
                          "max_tokens=%lld), %lld training rows truncated, %lld unknown-word ids",
                          p->cols[p->seq_col].name, (long long)p->n_seq, (long long)p->cols[p->seq_col].n_cats + 2,
                          (long long)p->cols[p->seq_col].n_cats, (long long)p->max_tokens, (long long)p->seq_truncated,
                          (long long)p->seq_oov);
        snprintf(p->report + w, sizeof p->report - (size_t)w, "; %lld model inputs", (long long)p->n_out);
    }
    if (maps) free_maps(ctx, p->n_cols, maps);
    kn__free(ctx, maps);
    kn__free(ctx, base);
    kn__free(ctx, vec);
    kn__free(ctx, x);
    kn__free(ctx, fit_row);
    if (st) kn_preprocessor_free(p);
    else *out = p;
    return st;
}

/* Rows kept (keep[r]) of raw rows transformed in out (n, p->n_out), with their labels or
 * targets, as a model-ready dataset. */
static kn_status gather_dataset(const kn_preprocessor *p, kn_ctx *ctx, const float *out, const bool *keep, int64_t n,
                                const int32_t *labels, const float *targets, int n_classes, char *const *label_names,
                                kn_dataset **result) {
    int64_t kept = 0;
    for (int64_t r = 0; r < n; r++) kept += keep[r];
    kn_dataset *d = NULL;
    kn_status st = kn__dataset_alloc(ctx, kept, p->n_out, labels ? n_classes : 0, labels ? 0 : 1, &d);
    if (st) return st;
    int64_t i = 0;
    for (int64_t r = 0; r < n; r++) {
        if (!keep[r]) continue;
        memcpy(d->x + i * p->n_out, out + r * p->n_out, (size_t)p->n_out * sizeof(float));
        if (labels) d->labels[i] = labels[r];
        else d->targets[i] = targets ? targets[r] : NAN;
        i++;
    }
    if (labels && label_names && (st = kn__dataset_set_names(d, (const char *const *)label_names))) {
        kn_dataset_free(d);
        return st;
    }
    *result = d;
    return KN_OK;
}

/* What a transform met that training did not fit: unseen categories (a warning), and a
 * sequence's cut rows and unknown words (information only: Keras's TextVectorization says nothing). */
static void log_counts(const kn_preprocessor *p, kn_ctx *ctx, const char *where, const kn__prep_counts *c) {
    if (c->unseen)
        kn__log(ctx, KN_LOG_WARN, "%s: %lld categorical value%s not seen in training: encoded as all zeros", where,
                (long long)c->unseen, c->unseen == 1 ? "" : "s");
    if (p->n_seq && (c->truncated || c->oov))
        kn__log(ctx, KN_LOG_INFO, "%s: sequence '%s': %lld row%s cut to %lld token ids, %lld word%s outside the vocabulary (id 1)",
                where, p->cols[p->seq_col].name, (long long)c->truncated, c->truncated == 1 ? "" : "s", (long long)p->n_seq,
                (long long)c->oov, c->oov == 1 ? "" : "s");
}

kn_status kn_preprocessor_transform(const kn_preprocessor *p, const kn_dataset *ds, kn_dataset **out) {
    if (!p || !ds || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    kn_ctx *ctx = ds->ctx;
    const kn__raw *raw = ds->raw;
    if (!raw) return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "preprocessing: the data is not a raw CSV table");
    if (raw->cols != p->n_cols)
        return kn__error(ctx, KN_ERR_SHAPE, "preprocessing: the table has %lld feature columns, the preprocessing %lld",
                         (long long)raw->cols, (long long)p->n_cols);
    for (int64_t j = 0; j < p->n_cols; j++)
        if (strcmp(raw->names[j], p->cols[j].name) != 0 || raw->kinds[j] != p->cols[j].kind)
            return kn__error(ctx, KN_ERR_SHAPE, "preprocessing: column %lld is '%s' (%s) in the table, '%s' (%s) when fitted",
                             (long long)j + 1, raw->names[j], kn__col_kind_name(raw->kinds[j]), p->cols[j].name,
                             kn__col_kind_name(p->cols[j].kind));
    size_t size;
    float *x = NULL;
    bool *keep = kn__alloc(ctx, (size_t)(ds->n ? ds->n : 1) * sizeof *keep);
    if (!kn__mul_size((size_t)ds->n, (size_t)p->n_out, &size) || !kn__mul_size(size, sizeof(float), &size) || !keep ||
        !(x = kn__alloc(ctx, size ? size : 1))) {
        kn__free(ctx, keep);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "preprocessing: out of memory for %lld rows", (long long)ds->n);
    }
    kn__prep_counts counts;
    kn_status st = kn__prep_transform(p, ds->x, ds->n, raw->n_codes, raw->codes, true, raw->src.path, NULL, x, keep, &counts);
    if (!st) st = gather_dataset(p, ctx, x, keep, ds->n, ds->labels, ds->targets, ds->n_classes, ds->label_names, out);
    if (!st) log_counts(p, ctx, raw->src.path, &counts);
    kn__free(ctx, x);
    kn__free(ctx, keep);
    return st;
}

/* ---------------------------------------------------------------- CSV text through a fitted preprocessing */

kn_status kn__prep_load_csv(const kn_preprocessor *p, kn_ctx *ctx, const char *path, char sep, const char *const *na,
                            bool labelled, kn_dataset **result) {
    *result = NULL;
    kn__csv csv = {0};
    kn_status st = kn__csv_read(ctx, path, &(kn__csv_opts){.sep = sep, .na = na, .keep_text = true}, &csv);
    if (st) return st;
    char **names = kn__alloc(ctx, (size_t)p->n_cols * sizeof *names);
    kn__col_kind *kinds = kn__alloc(ctx, (size_t)p->n_cols * sizeof *kinds);
    int64_t *n_codes = kn__calloc(ctx, (size_t)p->n_cols, sizeof *n_codes);
    char ***codes = kn__calloc(ctx, (size_t)p->n_cols, sizeof *codes);
    bool *keep = kn__alloc(ctx, (size_t)csv.rows * sizeof *keep);
    int32_t *labels = kn__alloc(ctx, (size_t)csv.rows * sizeof *labels);
    float *targets = kn__alloc(ctx, (size_t)csv.rows * sizeof *targets);
    float *raw = NULL, *x = NULL;
    size_t size = 0;
    if (!names || !kinds || !n_codes || !codes || !keep || !labels || !targets ||
        !kn__mul_size((size_t)csv.rows, (size_t)(p->n_cols > p->n_out ? p->n_cols : p->n_out), &size) ||
        !kn__mul_size(size, sizeof(float), &size) || !(raw = kn__alloc(ctx, size)) || !(x = kn__alloc(ctx, size)))
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int64_t j = 0; !st && j < p->n_cols; j++) names[j] = p->cols[j].name, kinds[j] = p->cols[j].kind;
    if (!st) st = kn__raw_from_csv(ctx, &csv, path, names, kinds, p->n_cols, raw, n_codes, codes);
    int64_t no_target = 0;
    kn__prep_counts counts = {0};
    if (!st) st = kn__prep_transform(p, raw, csv.rows, n_codes, codes, labelled, path, csv.lines, x, keep, &counts);
    if (!st && labelled) { /* the target: by the fitted names, or a number */
        int64_t tc = kn__csv_column_index(&csv, p->target);
        if (tc < 0) st = kn__error(ctx, KN_ERR_SHAPE, "%s: no target column '%s' (the model was trained with it)", path, p->target);
        for (int64_t r = 0; !st && r < csv.rows; r++) {
            const char *text = csv.cells[r * csv.cols + tc];
            float v = csv.values[r * csv.cols + tc];
            if (!text[0]) {
                no_target += keep[r];
                keep[r] = false;
                continue;
            }
            if (p->task == KN__TASK_REGRESSION) {
                if (isnan(v))
                    st = kn__error(ctx, KN_ERR_FORMAT, "%s: line %lld: target '%s': '%.40s' is not a number", path,
                                   (long long)csv.lines[r], p->target, text);
                targets[r] = v;
                continue;
            }
            char buf[32];
            if (!isnan(v)) snprintf(buf, sizeof buf, "%g", (double)v), text = buf; /* numbers as label-encoded */
            int k = 0;
            while (k < p->n_labels && strcmp(p->labels[k], text) != 0) k++;
            if (k == p->n_labels)
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: line %lld: target '%s': class '%.40s' was not seen in training", path,
                               (long long)csv.lines[r], p->target, text);
            labels[r] = k;
        }
    } else if (!st) {
        for (int64_t r = 0; r < csv.rows; r++) keep[r] = true;
    }
    if (!st)
        st = gather_dataset(p, ctx, x, keep, csv.rows, labelled && p->task == KN__TASK_CLASSIFICATION ? labels : NULL,
                            labelled ? targets : NULL, p->n_labels, p->labels, result);
    if (!st && !labelled) { /* inputs only: no targets */
        kn__free(ctx, (*result)->targets);
        (*result)->targets = NULL;
        (*result)->outputs = 0;
    }
    if (!st) log_counts(p, ctx, path, &counts);
    if (!st && no_target) kn__log(ctx, KN_LOG_WARN, "%s: %lld rows without a target left out", path, (long long)no_target);
    if (codes) kn__raw_codes_free(ctx, p->n_cols, n_codes, codes);
    kn__free(ctx, names);
    kn__free(ctx, kinds);
    kn__free(ctx, n_codes);
    kn__free(ctx, codes);
    kn__free(ctx, keep);
    kn__free(ctx, labels);
    kn__free(ctx, targets);
    kn__free(ctx, raw);
    kn__free(ctx, x);
    kn__csv_free(ctx, &csv);
    return st;
}
