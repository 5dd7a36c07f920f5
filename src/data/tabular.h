/* tabular.h — CSV tables for learning, in three steps:
 *
 *   csv:FILE[:key=value]...  --kn__source_parse-->  kn__source (the options)
 *   kn__source + the file    --kn__raw_load------>  a raw dataset: one value per table column
 *                                                   (numbers; category codes; dates as days),
 *                                                   its labels encoded, sharing a kn__raw schema
 *   raw training rows        --kn_preprocessor_fit-> kn_preprocessor (imputers, one-hot
 *                                                   vocabularies, scalers, polynomial, PCA)
 *   any raw rows or CSV text --transform-------->  the model's input features
 *
 * A raw dataset is never trained on directly: its categorical values are codes. Everything
 * fitted is fitted on the training rows only and saved with the model (preprocess_json.c),
 * and prediction reads a CSV's text through the same transform (preprocess.c). */
#ifndef KN_DATA_TABULAR_H
#define KN_DATA_TABULAR_H

#include "core/core.h"
#include "data/csv.h"

/* SEQUENCE: a text column as token ids (sequence=COL), Keras's TextVectorization(output_mode="int"). */
typedef enum { KN__COL_NUMERIC, KN__COL_CATEGORICAL, KN__COL_DATE, KN__COL_TEXT, KN__COL_SEQUENCE } kn__col_kind;
typedef enum { KN__TASK_AUTO, KN__TASK_CLASSIFICATION, KN__TASK_REGRESSION } kn__task;
typedef enum { KN__IMPUTE_MEAN, KN__IMPUTE_MEDIAN, KN__IMPUTE_MOST_FREQUENT, KN__IMPUTE_CONSTANT,
               KN__IMPUTE_DROP } kn__impute;
typedef enum { KN__SCALE_STANDARD, KN__SCALE_MINMAX, KN__SCALE_NONE } kn__scale;

/* A list of names from a key's value ("a,b,c"): one block, NUL-separated. */
typedef struct kn__names {
    int n;
    char **names; /* (n) into the same allocation */
} kn__names;

/* What `csv:FILE[:key=value]...` says (INTERFACE.md's keys plus poly, pca, dates, fill, text,
 * text_features, sequence, sequence_length, max_tokens). */
typedef struct kn__source {
    char *path;
    char *target;          /* target=NAME, or NULL */
    int64_t target_index;  /* target=#N (0-based), or -1; neither: the last column */
    kn__names drop, na, categorical, numeric, text, sequence;
    bool na_given;         /* na= replaces the default tokens "", NA, NaN, ? */
    char sep;              /* 0: detected */
    kn__task task;
    kn__impute impute;
    double fill_value;     /* impute=constant (fill=X) */
    kn__scale scale;
    bool onehot;           /* default on; off: categories as ordinal codes */
    bool dates;            /* default on: date columns expanded; off: dropped */
    bool keep_constant;    /* constant=keep: features constant on the training rows stay (default: dropped) */
    int poly;              /* 1 (default) or 2: degree-2 polynomial features of the numeric ones */
    int64_t text_features; /* text_features=N: the most frequent terms a text= column keeps (1000) */
    int64_t sequence_length; /* sequence_length=L: ids per row (Keras's output_sequence_length); 0: the longest training row */
    int64_t max_tokens;      /* max_tokens=V: ids 0 (padding), 1 (out of vocabulary) and V - 2 words; 0: 20000 */
    int64_t pca_k;         /* pca=K components, or 0 */
    double pca_share;      /* pca=F in (0, 1): components for that share of variance, or 0 */
} kn__source;

/* Parses "csv:FILE[:key=value]..." (spec starts after "csv:"); errors name the key. A value
 * may hold ':' only in FILE (the last ':' before a known key=... starts the options). */
kn_status kn__source_parse(kn_ctx *ctx, const char *spec, kn__source *out);
void kn__source_free(kn_ctx *ctx, kn__source *s);

/* The columns of a raw table (the target and dropped columns left out), shared by every
 * dataset split from it; freed with its last dataset. */
typedef struct kn__raw {
    int refs;
    kn_ctx *ctx;
    kn__source src;
    int64_t cols;
    char **names;           /* (cols) */
    kn__col_kind *kinds;    /* (cols) */
    int64_t *n_codes;       /* (cols) categorical and text: distinct texts in the file */
    char ***codes;          /* (cols) categorical and text: code -> text, else NULL */
    char *target;           /* the target column's name */
    kn__task task;          /* classification or regression, decided */
    int64_t rows_read, rows_without_target;
    char report[1024];      /* what loading did, one paragraph */
} kn__raw;

void kn__raw_release(kn__raw *raw);
static inline kn__raw *kn__raw_retain(kn__raw *raw) {
    if (raw) raw->refs++;
    return raw;
}

/* Loads a CSV source into a raw dataset: each kept column's values (numbers, category codes,
 * days since 1970-01-01 for dates; NaN where missing), labels encoded (sorted names) or
 * regression targets, rows without a target dropped. */
kn_status kn__raw_load(kn_ctx *ctx, const char *spec, kn_dataset **out);

/* A table's cells as raw values for a given list of columns: `names`/`kinds` (n) are looked
 * up in csv by name (a missing one is an error naming it); categorical cells become codes
 * into *codes[j] (n_codes[j] texts, allocated here, freed with kn__raw_codes_free), dates
 * days; a numeric or date cell that does not parse is an error naming its line and column.
 * values: (csv->rows, n). */
kn_status kn__raw_from_csv(kn_ctx *ctx, const kn__csv *csv, const char *path, char *const *names,
                           const kn__col_kind *kinds, int64_t n, float *values, int64_t *n_codes, char ***codes);
void kn__raw_codes_free(kn_ctx *ctx, int64_t n, int64_t *n_codes, char ***codes);

const char *kn__col_kind_name(kn__col_kind k); /* "numeric", "categorical", "date", "text", "sequence" */

/* Dates: "YYYY-MM-DD" or "YYYY/MM/DD", optionally followed by 'T' or ' ' and a time (not
 * used). Days since 1970-01-01 (proleptic Gregorian); false if s is not a valid date. */
bool kn__date_parse(const char *s, int64_t *days);
/* year, month (1-12), day of the year (1-366), weekday (Monday 0 .. Sunday 6, as Python). */
void kn__date_parts(int64_t days, float out[4]);

#endif
