/* test_text_sequence.c — sequence= columns of the csv: source (token ids for an embedding,
 * Keras's TextVectorization(output_mode="int"), preprocess.c): ids written out by hand from
 * Keras's definition (every token of the training rows counted, words by descending count,
 * ties by descending text as np.lexsort reversed, ids 2.. with 0 padding and 1 unknown, rows
 * padded or cut at their end), with and without max_tokens and sequence_length, positions
 * that are 0 in every training row kept, missing texts, new texts (unknown words, one-letter
 * words, upper case), the report, the preprocessing read back from its JSON and a CSV read
 * through it as prediction input, tampered JSON, and the keys' errors. Run from the
 * repository root (a few cases read tests/data/reviews.csv). */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include "check.h"
#include "data/dataset.h"
#include "data/preprocess.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static const char *write_file(const char *name, const char *text) {
    static char paths[4][128];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, 128, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return "?";
    fputs(text, f);
    fclose(f);
    return path;
}

/* Training rows. Tokens (text.h: lowercased, one-letter words dropped):
 *   the cat sat on the mat | the dog ate the cat | dog dog | (missing) | zebra yak | zebra yak
 * Counts: the 4, dog 3, zebra 2, yak 2, cat 2, sat 1, on 1, mat 1, ate 1. Keras's order:
 *   the 2, dog 3, zebra 4, yak 5, cat 6, sat 7, on 8, mat 9, ate 10 (ties: descending text). */
static const char *train_csv =
    "text,label\n"
    "\"The cat sat on the mat.\",a\n"
    "the dog ate the cat,b\n"
    "a dog! A DOG?,a\n"
    ",b\n"
    "zebra yak,a\n"
    "zebra yak,b\n";

/* New rows: an unknown word; a row cut; a one-letter word only; a missing text. */
static const char *query_csv =
    "label,text\n" /* columns in another order: matched by name */
    "a,the unicorn sat\n"
    "b,CAT cat cat cat cat\n"
    "a,I\n"
    "b,\n";

static void check_ids(const char *tag, const kn_dataset *d, int64_t rows, int64_t len, const float *want) {
    CHECK(d && kn_dataset_size(d) == rows && kn_dataset_features(d) == len, "%s: %lld x %lld, want %lld x %lld", tag,
          d ? (long long)kn_dataset_size(d) : -1LL, d ? (long long)kn_dataset_features(d) : -1LL, (long long)rows, (long long)len);
    if (!d || kn_dataset_size(d) != rows || kn_dataset_features(d) != len) return;
    const float *x = kn_dataset_x(d);
    for (int64_t i = 0; i < rows * len; i++)
        if (x[i] != want[i]) {
            CHECK(0, "%s: row %lld, id %lld: %g, want %g", tag, (long long)(i / len), (long long)(i % len), (double)x[i], (double)want[i]);
            return;
        }
}

/* Fits on the training rows with opts, checks their ids and the new rows' (through the
 * fitted preprocessing, through its JSON copy, and as a CSV read for prediction). */
static void case_ids(kn_ctx *ctx, const char *tag, const char *opts, int64_t len, int64_t vocab, const float *want_train,
                     const float *want_query, const char *report_has) {
    char src[256], qsrc[256];
    snprintf(src, sizeof src, "csv:%s:sequence=text%s", write_file("train.csv", train_csv), opts);
    const char *qpath = write_file("query.csv", query_csv);
    snprintf(qsrc, sizeof qsrc, "csv:%s:sequence=text:target=label", qpath);
    kn_dataset *raw = NULL, *qraw = NULL, *x = NULL, *q = NULL, *q2 = NULL, *in = NULL;
    kn_preprocessor *p = NULL, *copy = NULL;
    kn_status st = kn_dataset_load(ctx, src, &raw, NULL);
    if (!st) st = kn_preprocessor_fit(raw, &p);
    if (!st) st = kn_preprocessor_transform(p, raw, &x);
    if (!st) st = kn_dataset_load(ctx, qsrc, &qraw, NULL);
    if (!st) st = kn_preprocessor_transform(p, qraw, &q);
    CHECK(st == KN_OK, "%s: %s", tag, kn_last_error(ctx));
    if (st) goto done;
    CHECK(kn_preprocessor_output_size(p) == len, "%s: %lld inputs, want %lld", tag, (long long)kn_preprocessor_output_size(p),
          (long long)len);
    CHECK(p->n_seq == len && p->cols[p->seq_col].n_cats + 2 == vocab, "%s: vocabulary %lld, want %lld", tag,
          (long long)p->cols[p->seq_col].n_cats + 2, (long long)vocab);
    char name[32];
    snprintf(name, sizeof name, "text[%lld]", (long long)len - 1);
    CHECK(kn_preprocessor_feature_name(p, 0) && strcmp(kn_preprocessor_feature_name(p, 0), "text[0]") == 0 &&
              kn_preprocessor_feature_name(p, len - 1) && strcmp(kn_preprocessor_feature_name(p, len - 1), name) == 0,
          "%s: inputs named '%s' ... , want text[0] ... %s", tag, kn_preprocessor_feature_name(p, 0), name);
    CHECK(strstr(kn_preprocessor_report(p), report_has), "%s: the report '%s' lacks '%s'", tag, kn_preprocessor_report(p), report_has);
    check_ids(tag, x, 6, len, want_train);
    check_ids(tag, q, 4, len, want_query);
    /* the JSON the model file keeps gives the same ids */
    cJSON *j = kn__prep_to_json(p);
    st = j ? kn__prep_from_json(ctx, j, "json", &copy) : KN_ERR_OUT_OF_MEMORY;
    cJSON_Delete(j);
    if (!st) st = kn_preprocessor_transform(copy, qraw, &q2);
    CHECK(st == KN_OK, "%s: read back: %s", tag, kn_last_error(ctx));
    if (!st) check_ids(tag, q2, 4, len, want_query);
    /* prediction input: the CSV's text through the stored preprocessing */
    st = kn__prep_load_csv(copy ? copy : p, ctx, qpath, 0, NULL, false, &in);
    CHECK(st == KN_OK, "%s: prediction input: %s", tag, kn_last_error(ctx));
    if (!st) check_ids(tag, in, 4, len, want_query);
done:
    kn_dataset_free(raw);
    kn_dataset_free(qraw);
    kn_dataset_free(x);
    kn_dataset_free(q);
    kn_dataset_free(q2);
    kn_dataset_free(in);
    kn_preprocessor_free(p);
    kn_preprocessor_free(copy);
}

static void ids(kn_ctx *ctx) {
    /* length 4: rows 1 and 2 cut at their end, the others padded at their end */
    static const float train4[] = {2, 6, 7, 8, /* the cat sat on | the mat */
                                   2, 3, 10, 2, /* the dog ate the | cat */
                                   3, 3, 0, 0, 0, 0, 0, 0, 4, 5, 0, 0, 4, 5, 0, 0};
    static const float query4[] = {2, 1, 7, 0, 6, 6, 6, 6, 0, 0, 0, 0, 0, 0, 0, 0};
    case_ids(ctx, "length4", ":sequence_length=4", 4, 11, train4, query4,
             "sequence 'text': 4 token ids per row, vocabulary 11 (ids 0 padding, 1 unknown, 9 words; max_tokens=20000), "
             "2 training rows truncated, 0 unknown-word ids");
    /* max_tokens=5: the 3 most frequent words (the, dog, zebra); the rest are 1 */
    static const float train_cut[] = {2, 1, 1, 1, 2, 3, 1, 2, 3, 3, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 4, 1, 0, 0};
    static const float query_cut[] = {2, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    case_ids(ctx, "max_tokens5", ":sequence_length=4:max_tokens=5", 4, 5, train_cut, query_cut,
             "vocabulary 5 (ids 0 padding, 1 unknown, 3 words; max_tokens=5), 2 training rows truncated, 6 unknown-word ids");
    /* no length: the longest training row (6 tokens) */
    static const float train6[] = {2, 6, 7, 8, 2, 9, 2, 3, 10, 2, 6, 0, 3, 3, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0};
    static const float query6[] = {2, 1, 7, 0, 0, 0, 6, 6, 6, 6, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    case_ids(ctx, "longest", "", 6, 11, train6, query6, "6 token ids per row");
    /* length 8: positions 6 and 7 are 0 in every training row, and stay (scale= does not touch ids) */
    float train8[6 * 8] = {0}, query8[4 * 8] = {0};
    for (int r = 0; r < 6; r++) memcpy(train8 + r * 8, train6 + r * 6, 6 * sizeof(float));
    for (int r = 0; r < 4; r++) memcpy(query8 + r * 8, query6 + r * 6, 6 * sizeof(float));
    case_ids(ctx, "length8", ":sequence_length=8:scale=minmax", 8, 11, train8, query8, "0 training rows truncated");
}

/* impute=drop: a row without text is dropped from labelled data (as a text= column's). */
static void impute_drop(kn_ctx *ctx) {
    char src[256];
    snprintf(src, sizeof src, "csv:%s:sequence=text:sequence_length=2:impute=drop", write_file("train.csv", train_csv));
    kn_dataset *raw = NULL, *x = NULL;
    kn_preprocessor *p = NULL;
    kn_status st = kn_dataset_load(ctx, src, &raw, NULL);
    if (!st) st = kn_preprocessor_fit(raw, &p);
    if (!st) st = kn_preprocessor_transform(p, raw, &x);
    static const float want[] = {2, 6, 2, 3, 3, 3, 4, 5, 4, 5};
    CHECK(st == KN_OK, "impute=drop: %s", kn_last_error(ctx));
    if (!st) check_ids("impute=drop", x, 5, 2, want);
    kn_dataset_free(raw);
    kn_dataset_free(x);
    kn_preprocessor_free(p);
}

/* reviews.csv: the most frequent word first, and a row's ids name its words in order. */
static void reviews(kn_ctx *ctx) {
    kn_dataset *raw = NULL;
    kn_preprocessor *p = NULL;
    kn_status st = kn_dataset_load(ctx, "csv:tests/data/reviews.csv:sequence=review:sequence_length=20", &raw, NULL);
    if (!st) st = kn_preprocessor_fit(raw, &p);
    CHECK(st == KN_OK, "reviews: %s", kn_last_error(ctx));
    if (st) goto done;
    const kn__prep_col *c = &p->cols[p->seq_col];
    CHECK(c->n_cats > 50 && strcmp(c->cats[0], "the") == 0, "reviews: %lld words, the first '%s'", (long long)c->n_cats,
          c->n_cats ? c->cats[0] : "");
    /* the ids read back to words of the row: row 0 is "Great phone, great price. The battery lasts two days!" */
    kn_dataset *x = NULL;
    st = kn_preprocessor_transform(p, raw, &x);
    CHECK(st == KN_OK && kn_dataset_features(x) == 20, "reviews: %s", kn_last_error(ctx));
    if (!st) {
        static const char *const row0[] = {"great", "phone", "great", "price", "the", "battery", "lasts", "two", "days"};
        const float *ids = kn_dataset_x(x);
        for (int i = 0; i < 20; i++) {
            int64_t id = (int64_t)ids[i];
            const char *word = id >= 2 && id - 2 < c->n_cats ? c->cats[id - 2] : "";
            CHECK(i < 9 ? strcmp(word, row0[i]) == 0 : id == 0, "reviews: row 0, id %d is %lld ('%s')", i, (long long)id, word);
        }
    }
    kn_dataset_free(x);
done:
    kn_dataset_free(raw);
    kn_preprocessor_free(p);
}

/* A tampered model file's sequence column is refused, naming the field. */
static void bad_json(kn_ctx *ctx) {
    char src[256];
    snprintf(src, sizeof src, "csv:%s:sequence=text:sequence_length=4", write_file("train.csv", train_csv));
    kn_dataset *raw = NULL;
    kn_preprocessor *p = NULL;
    kn_status st = kn_dataset_load(ctx, src, &raw, NULL);
    if (!st) st = kn_preprocessor_fit(raw, &p);
    CHECK(st == KN_OK, "bad_json: %s", kn_last_error(ctx));
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"sequence_length", "0", "sequence_length must be"},
        {"sequence_length", "2.5", "sequence_length must be"},
        {"max_tokens", "1", "max_tokens must be"},
        {"max_tokens", "4", "at most max_tokens - 2"},
        {"vocabulary", "[\"the\", \"dog\", \"the\"]", "repeats a word"},
        {"vocabulary", "[\"the\", 3]", "not a non-empty string"},
        {"vocabulary", "[\"the\", \"\"]", "not a non-empty string"},
        {"fill", "2", "fill is 0"},
    };
    for (size_t i = 0; p && i < sizeof cases / sizeof *cases; i++) {
        cJSON *j = kn__prep_to_json(p);
        cJSON *col = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "columns"), 0);
        cJSON_ReplaceItemInObjectCaseSensitive(col, cases[i].key, cJSON_Parse(cases[i].value));
        kn_preprocessor *q = NULL;
        st = kn__prep_from_json(ctx, j, "model.kiln", &q);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), cases[i].needle) && strstr(kn_last_error(ctx), "model.kiln") &&
                  !strchr(kn_last_error(ctx), '\n'),
              "bad_json %s=%s: status %d, '%s'", cases[i].key, cases[i].value, st, kn_last_error(ctx));
        kn_preprocessor_free(q);
        cJSON_Delete(j);
    }
    kn_dataset_free(raw);
    kn_preprocessor_free(p);
}

static void errors(kn_ctx *ctx) {
    const char *mixed = write_file("mixed.csv", "text,age,label\nhello world,3,a\nbye now,4,b\nhello again,5,a\n");
    char mixed_src[160], mixed_ok[160];
    snprintf(mixed_src, sizeof mixed_src, "csv:%s:sequence=text", mixed);
    snprintf(mixed_ok, sizeof mixed_ok, "csv:%s:sequence=text:drop=age", mixed);
    static const char *const bad_values[] = {"0", "abc", "2.5", "-1", "+3", " 4", "", "1e3", "99999999999999999"};
    for (size_t i = 0; i < sizeof bad_values / sizeof *bad_values; i++) {
        char src[160];
        snprintf(src, sizeof src, "csv:tests/data/reviews.csv:sequence=review:sequence_length=%s", bad_values[i]);
        kn_dataset *raw = NULL;
        kn_status st = kn_dataset_load(ctx, src, &raw, NULL);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), "sequence_length=") && strstr(kn_last_error(ctx), "whole number"),
              "%s: status %d, '%s'", src, st, kn_last_error(ctx));
        kn_dataset_free(raw);
        snprintf(src, sizeof src, "csv:tests/data/reviews.csv:sequence=review:max_tokens=%s", bad_values[i]);
        st = kn_dataset_load(ctx, src, &raw, NULL);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), "max_tokens="), "%s: status %d, '%s'", src, st, kn_last_error(ctx));
        kn_dataset_free(raw);
    }
    const struct {
        const char *src, *needle;
    } cases[] = {
        {"csv:tests/data/reviews.csv:sequence=nope", "sequence=nope: no such column"},
        {"csv:tests/data/reviews.csv:sequence=review:text=review", "column 'review' is both text= and sequence="},
        {"csv:tests/data/reviews.csv:sequence=review:categorical=review", "both categorical= and sequence="},
        {"csv:tests/data/reviews.csv:sequence=review:drop=review", "both drop= and sequence="},
        {"csv:tests/data/reviews.csv:sequence=review,label", "sequence=review,label: expected one column"},
        {"csv:tests/data/reviews.csv:sequence=", "sequence=: expected one column"},
        {"csv:tests/data/reviews.csv:sequence=label", "that is the target"},
        {"csv:tests/data/reviews.csv:text=review:sequence_length=20", "sequence_length= applies to a sequence=COL column"},
        {"csv:tests/data/reviews.csv:max_tokens=100", "max_tokens= applies to a sequence=COL column"},
        {"csv:tests/data/reviews.csv:sequence=review:pca=2", "pca= with sequence=review"},
        {"csv:tests/data/reviews.csv:sequence=review:max_tokens=1", "max_tokens=1: expected"},
        {"csv:tests/data/reviews.csv:sequence=review:max_tokens=16777217", "max_tokens=16777217: expected"},
        {"csv:tests/data/reviews.csv:sequence=review:sequence_length=1048577", "sequence_length=1048577: expected"},
        {"csv:tests/data/reviews.csv:sequence=review:sequence_lenght=3", "'sequence_lenght' is not a key"},
        {mixed_src, "1 other feature column (add drop=age)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kn_dataset *raw = NULL;
        kn_status st = kn_dataset_load(ctx, cases[i].src, &raw, NULL);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), cases[i].needle) && !strchr(kn_last_error(ctx), '\n'), "%s: status %d, '%s'",
              cases[i].src, st, kn_last_error(ctx));
        kn_dataset_free(raw);
    }
    kn_dataset *raw = NULL;
    kn_status st = kn_dataset_load(ctx, mixed_ok, &raw, NULL);
    CHECK(st == KN_OK, "%s: %s", mixed_ok, kn_last_error(ctx));
    kn_dataset_free(raw);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/kiln_seq_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .log_level = KN_LOG_ERROR}, &ctx)) return 1;
    ids(ctx);
    impute_drop(ctx);
    reviews(ctx);
    bad_json(ctx);
    errors(ctx);
    kn_ctx_free(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
