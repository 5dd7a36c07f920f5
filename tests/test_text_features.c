/* test_text_features.c — text= columns of the csv: source (TF-IDF features, preprocess.c and
 * text.c) against scikit-learn 1.2.1's TfidfVectorizer (tests/golden/text.txt, made by
 * tests/golden/make_text.py from tests/data/reviews.csv): the same terms in the same order,
 * with and without a text_features limit, and the same
 * features for new texts (unseen words, an empty cell, upper case, non-ASCII words, repeated
 * words); the fitted preprocessing read back from its JSON gives the same bits; the keys'
 * errors. Run from the repository root. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include "check.h"
#include "data/dataset.h"
#include "data/preprocess.h"
#include "data/text.h"
#include "golden.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

/* The queries of make_text.py, as a CSV (the label column is not used). */
static const char *queries_csv(void) {
    static char path[128];
    snprintf(path, sizeof path, "%s/queries.csv", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    fputs("review,label\n"
          "\"GREAT battery, great SCREEN\",positive\n"
          "completely unknown words here,negative\n"
          ",negative\n"
          "\"caf\xc3\xa9 na\xc3\xafve espresso, the battery\",positive\n"
          "The the THE battery battery great,positive\n",
          f);
    fclose(f);
    return path;
}

/* The golden record "<tag>_terms t1 t2 ..." as a malloc'd line (terms separated by spaces). */
static char *terms_line(const char *tag) {
    char key[64];
    snprintf(key, sizeof key, "%s_terms ", tag);
    const char *at = strstr(golden, key);
    if (!at) return NULL;
    at += strlen(key);
    const char *end = strchr(at, '\n');
    size_t n = end ? (size_t)(end - at) : strlen(at);
    char *line = malloc(n + 1);
    memcpy(line, at, n);
    line[n] = '\0';
    return line;
}

static void against_sklearn(kn_ctx *ctx, const char *tag, const char *opts) {
    char src[256];
    snprintf(src, sizeof src, "csv:tests/data/reviews.csv:text=review%s", opts);
    kn_dataset *raw = NULL, *qraw = NULL, *x = NULL, *x2 = NULL;
    kn_preprocessor *p = NULL, *copy = NULL;
    const char *qpath = queries_csv();
    char qsrc[256];
    snprintf(qsrc, sizeof qsrc, "csv:%s:text=review", qpath ? qpath : "?");
    kn_status st = kn_dataset_load(ctx, src, &raw, NULL);
    if (!st) st = kn_preprocessor_fit(raw, &p);
    if (!st) st = kn_dataset_load(ctx, qsrc, &qraw, NULL);
    if (!st) st = kn_preprocessor_transform(p, qraw, &x);
    CHECK(st == KN_OK, "%s: %s", tag, kn_last_error(ctx));
    char *terms = terms_line(tag);
    double shape[2] = {0, 0};
    char key[64];
    snprintf(key, sizeof key, "%s_shape", tag);
    CHECK(terms && get(key, shape, 2) == 2, "%s: no terms or shape in the golden file", tag);
    if (st || !terms) goto done;
    /* the features are the terms, in scikit-learn's order, named review:TERM */
    const int64_t q = (int64_t)shape[0], T = (int64_t)shape[1];
    CHECK(kn_preprocessor_output_size(p) == T, "%s: %lld features, scikit-learn %lld", tag, (long long)kn_preprocessor_output_size(p),
          (long long)T);
    int64_t i = 0;
    int bad_names = 0;
    for (char *save = NULL, *t = strtok_r(terms, " ", &save); t && i < T; t = strtok_r(NULL, " ", &save), i++) {
        const char *name = kn_preprocessor_feature_name(p, i);
        bad_names += !name || strncmp(name, "review:", 7) != 0 || strcmp(name + 7, t) != 0;
        if (bad_names == 1 && (!name || strcmp(name + 7, t) != 0)) printf("  first difference: feature %lld is %s, scikit-learn's %s\n", (long long)i, name ? name : "(none)", t);
    }
    CHECK(!bad_names && i == T, "%s: %d feature names differ from scikit-learn's terms", tag, bad_names);
    double *want = malloc(sizeof(double) * (size_t)(q * T + 1));
    snprintf(key, sizeof key, "%s_x", tag);
    int got = want ? get(key, want, (int)(q * T) + 1) : 0;
    CHECK(got == q * T && kn_dataset_size(x) == q, "%s: %d golden values, %lld rows", tag, got, (long long)kn_dataset_size(x));
    int bad = 0;
    const float *xv = kn_dataset_x(x);
    for (int64_t k = 0; got == q * T && kn_dataset_size(x) == q && k < q * T; k++) bad += !(fabs(xv[k] - want[k]) <= 1e-6);
    CHECK(!bad, "%s: %d of %lld features differ from scikit-learn's by more than 1e-6 (float32)", tag, bad, (long long)(q * T));
    free(want);
    /* read back from its JSON (as from a model file): the same bits */
    st = kn__prep_copy(p, ctx, &copy);
    if (!st) st = kn_preprocessor_transform(copy, qraw, &x2);
    CHECK(st == KN_OK && memcmp(kn_dataset_x(x), kn_dataset_x(x2), sizeof(float) * (size_t)(q * T)) == 0,
          "%s: the preprocessing read back from JSON transforms differently (%s)", tag, st ? kn_last_error(ctx) : "");
done:
    free(terms);
    kn_dataset_free(raw);
    kn_dataset_free(qraw);
    kn_dataset_free(x);
    kn_dataset_free(x2);
    kn_preprocessor_free(p);
    kn_preprocessor_free(copy);
}

static void collect(void *arg, const char *token) {
    char *out = arg;
    strcat(out, token);
    strcat(out, "|");
}

static void tokens(void) {
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"Hello, WORLD!", "hello|world|"},
        {"a b cd e_f 10/10 x1", "cd|e_f|10|10|x1|"},
        {"caf\xc3\xa9 \xc3\xa9 \xc3\xa9\xc3\xa9", "caf\xc3\xa9|\xc3\xa9\xc3\xa9|"}, /* one non-ASCII character is one character */
        {"", ""},
        {"__ --", "__|"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[64], out[128] = "";
        kn__text_tokens(cases[i].in, buf, collect, out);
        CHECK(strcmp(out, cases[i].want) == 0, "tokens of '%s': '%s', want '%s'", cases[i].in, out, cases[i].want);
    }
}

static void errors(kn_ctx *ctx) {
    static const struct {
        const char *src, *needle;
    } cases[] = {
        {"csv:tests/data/reviews.csv:text=nope", "text=nope: no such column"},
        {"csv:tests/data/reviews.csv:text=review:categorical=review", "both"},
        {"csv:tests/data/reviews.csv:text=review:text_features=0", "text_features=0"},
        {"csv:tests/data/reviews.csv:text=label", "that is the target"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kn_dataset *raw = NULL;
        kn_status st = kn_dataset_load(ctx, cases[i].src, &raw, NULL);
        CHECK(st != KN_OK && strstr(kn_last_error(ctx), cases[i].needle), "%s: status %d, '%s'", cases[i].src, st, kn_last_error(ctx));
        kn_dataset_free(raw);
    }
}

int main(void) {
    golden = read_all("tests/golden/text.txt");
    if (!golden) {
        printf("FAIL cannot read tests/golden/text.txt (run from the repository root)\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "/tmp/kiln_text_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .log_level = KN_LOG_ERROR}, &ctx)) return 1;
    tokens();
    against_sklearn(ctx, "all", "");
    against_sklearn(ctx, "top8", ":text_features=8");
    errors(ctx);
    kn_ctx_free(ctx);
    free(golden);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
