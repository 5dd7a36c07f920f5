/* preprocess.h — the preprocessing fitted on a CSV table's training rows, saved with the
 * model and applied to every row the model sees afterwards. Per row:
 *
 *   raw columns ──impute──► base features: a number; a date's year, month, day of the
 *                           year, weekday; a category's one-hot block (or ordinal code)
 *               ──drop the base features constant on the training rows──►
 *   numeric block (numbers, dates, codes) ──poly=2: + x_i x_j, i <= j──► ──scale──►
 *   [numeric block | one-hot block] ──pca──► model inputs
 *
 * A text column becomes a block of TF-IDF features as scikit-learn's TfidfVectorizer makes
 * them (defaults; text.h's tokens): its text_features most frequent terms of the training
 * rows, each term's count in the cell times ln((1 + documents) / (1 + documents with the
 * term)) + 1, the block scaled to unit length; it joins the one-hot block (never scaled).
 * A sequence column (sequence=COL, one, and the only feature column) becomes seq_len token ids
 * as Keras's TextVectorization(output_mode="int", output_sequence_length=seq_len,
 * max_tokens=max_tokens) makes them, with text.h's tokens: the words of the training rows by
 * descending count (ties: the greater string first, as Keras's np.lexsort reversed), the first
 * max_tokens - 2 of them numbered 2, 3, ...; 0 pads a row at its end, 1 is a word outside the
 * vocabulary, a longer row is cut at its end. The ids come first among the model inputs and
 * are never dropped, scaled or projected.
 * Unseen categories become all-zero one-hot blocks (counted), unseen words count nothing;
 * missing values take the fitted fill (a missing text is an empty one; impute=drop: the row
 * is dropped from labelled data, an error at prediction). */
#ifndef KN_DATA_PREPROCESS_H
#define KN_DATA_PREPROCESS_H

#include "data/pca.h"
#include "data/tabular.h"

typedef struct kn__prep_col {
    char *name;
    kn__col_kind kind;
    double fill;           /* the imputed value (numbers, days) or category index; NaN: none (drop) */
    int64_t n_cats;        /* categorical: the sorted vocabulary of the training rows; text: */
    char **cats;           /* its kept terms, sorted; sequence: its words in id order (cats[i] is id i + 2) */
    double *idf;           /* text: (n_cats) the terms' inverse document frequencies */
    int64_t first;         /* its first base feature */
    int64_t width;         /* base features: 1, 4 (date), n_cats (one-hot, text), 0 (sequence: not a base feature) */
} kn__prep_col;

struct kn_preprocessor {
    kn_ctx *ctx;
    kn__impute impute;
    kn__scale scale;
    bool onehot;
    bool keep_constant;           /* constant=keep: constant features kept (counted in dropped_constant's place) */
    int poly;
    char *target;                 /* the target column's name */
    kn__task task;
    int n_labels;                 /* classification: label names in code order */
    char **labels;
    int64_t n_cols;
    kn__prep_col *cols;           /* (n_cols) the raw columns it reads, in order */
    int64_t n_base;               /* base features */
    int64_t n_num, n_hot;         /* numeric block (after poly), one-hot block */
    int64_t n_num1;               /* numeric base features kept (before poly) */
    int64_t *num_base;            /* (n_num1) their base indices */
    int64_t *hot_base;            /* (n_hot) the kept one-hot base features */
    double *shift, *mul;          /* (n_num) scaling: (x - shift) * mul */
    kn__pca pca;                  /* k > 0 when on */
    int64_t seq_col;              /* the sequence column, or -1 */
    int64_t n_seq;                /* its ids per row (the first n_seq model inputs), or 0 */
    int64_t max_tokens;           /* its vocabulary's limit, ids 0 and 1 included */
    int64_t seq_truncated, seq_oov; /* training rows cut to n_seq ids; ids 1 in the training rows */
    int64_t n_out;                /* model inputs: n_seq + (n_num + n_hot, or pca.k) */
    char **out_names;             /* (n_out) */
    int64_t dropped_constant;     /* base features dropped */
    int64_t rows_fitted, values_imputed, rows_dropped;
    char report[2048];            /* loading and fitting, for people */
};

/* What a transform met that training did not fit: values of categories not seen in training;
 * rows of a sequence column cut to its length, and its ids 1 (words outside the vocabulary). */
typedef struct kn__prep_counts {
    int64_t unseen, truncated, oov;
} kn__prep_counts;

/* Transforms raw rows (n, p->n_cols), whose categorical values are codes into codes[j]
 * (n_codes[j] texts), into out (n, n_out). keep (n, may be NULL when drop_missing is false):
 * false for rows dropped by impute=drop. Errors (prediction with impute=drop and a missing
 * value) name the row through `where` and lines (NULL: row numbers). *counts: see above. */
kn_status kn__prep_transform(const kn_preprocessor *p, const float *raw, int64_t n, const int64_t *n_codes,
                             char **const *codes, bool drop_missing, const char *where, const int64_t *lines,
                             float *out, bool *keep, kn__prep_counts *counts);

/* The model inputs' names (p->out_names) from the fitted columns: "age", "color=red",
 * "date.month", "a*b", "a^2", "pc1". */
kn_status kn__prep_names(kn_preprocessor *p);

/* Saving and loading with a model (preprocess_json.c): a cJSON object under the model's
 * kiln.preprocessing key "tabular". */
struct cJSON;
struct cJSON *kn__prep_to_json(const kn_preprocessor *p);
kn_status kn__prep_from_json(kn_ctx *ctx, const struct cJSON *j, const char *path, kn_preprocessor **out);
/* A deep copy (through JSON: the saved form is the one truth). */
kn_status kn__prep_copy(const kn_preprocessor *p, kn_ctx *ctx, kn_preprocessor **out);

/* Reads a CSV's rows as the model's inputs through p (kn_model_load_inputs); with labelled,
 * the target column too (labels by p's names, or regression values). */
kn_status kn__prep_load_csv(const kn_preprocessor *p, kn_ctx *ctx, const char *path, char sep,
                            const char *const *na, bool labelled, kn_dataset **out);

#endif
