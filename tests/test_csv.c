/* test_csv.c — the CSV reader: real datasets (iris from tests/data; diabetes too when the
 * data directory has it), separator detection, quoting, CRLF and BOM, missing values, number
 * syntax, limits, and every kind of bad file, each of which must give the right status and a
 * one-line message naming the file (and line). Also: no leak on any path, and an allocation
 * failure at each point is reported, not crashed on.
 * Usage: test_csv [DATA_DIR]   (default tests/data, run from the project root) */
#define _POSIX_C_SOURCE 200809L
#include "data/csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_test.h"

static const char *written[64];
static int n_written;

static void write_file(const char *name, const char *bytes, size_t len) {
    FILE *f = fopen(path_of(name), "wb");
    CHECK(f && fwrite(bytes, 1, len, f) == len);
    if (f) fclose(f);
    if (n_written < 64) written[n_written++] = name;
}

static kn_ctx *ctx;

/* Parses text (a C string) from memory with opts; prints the error when it fails. */
static kn_status parse(const char *text, const kn__csv_opts *opts, kn__csv *csv) {
    kn_status st = kn__csv_parse(ctx, text, strlen(text), "t.csv", opts, csv);
    if (st != KN_OK) fprintf(stderr, "parse: %s\n", kn_last_error(ctx));
    return st;
}

static const kn__csv_opts text_opts = {.keep_text = true};

static const char *cell(const kn__csv *csv, int64_t r, int64_t c) {
    return csv->cells && r < csv->rows && c < csv->cols ? csv->cells[r * csv->cols + c] : "<none>";
}
static float value(const kn__csv *csv, int64_t r, int64_t c) {
    return r < csv->rows && c < csv->cols ? csv->values[r * csv->cols + c] : -12345.0f;
}

/* Writes a file that must fail to read with `want` and a one-line message containing the
 * path and `needle`. */
static void check_bad_file(const char *name, const char *bytes, size_t len, kn_status want,
                           const char *needle) {
    if (bytes) write_file(name, bytes, len);
    kn__csv csv = {.rows = 7};
    kn_status st = kn__csv_read(ctx, path_of(name), &text_opts, &csv);
    const char *msg = kn_last_error(ctx);
    if (st != want || !strstr(msg, needle))
        fprintf(stderr, "%s: got %s \"%s\", want %s containing \"%s\"\n", name,
                kn_status_name(st), msg, kn_status_name(want), needle);
    CHECK(st == want);
    CHECK(strstr(msg, needle) != NULL);
    CHECK(strstr(msg, path_of(name)) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    CHECK(csv.rows == 0 && csv.columns == NULL && csv.values == NULL && csv.cells == NULL);
    kn__csv_free(ctx, &csv); /* freeing a failed result is harmless */
}
#define BAD(name, text, want, needle) check_bad_file(name, text, sizeof text - 1, want, needle)

static void test_datasets(const char *data_dir) {
    char path[512];
    kn__csv csv;
    snprintf(path, sizeof path, "%s/iris.csv", data_dir);
    kn_status st = kn__csv_read(ctx, path, &text_opts, &csv);
    if (st != KN_OK) fprintf(stderr, "%s\n", kn_last_error(ctx));
    CHECK(st == KN_OK);
    CHECK(csv.rows == 150 && csv.cols == 5 && csv.sep == ',');
    if (st == KN_OK && csv.cols == 5) {
        for (int j = 0; j < 4; j++) CHECK(csv.columns[j].numeric && csv.columns[j].missing == 0);
        CHECK(!csv.columns[4].numeric && csv.columns[4].missing == 0);
        CHECK(strcmp(csv.columns[0].name, "sepal_length") == 0);
        CHECK(kn__csv_column_index(&csv, "species") == 4);
        CHECK(kn__csv_column_index(&csv, "Species") == -1);
        CHECK(value(&csv, 0, 0) == 5.1f && value(&csv, 0, 3) == 0.2f);
        CHECK(isnan(value(&csv, 0, 4)) && isnan(value(&csv, 149, 4)));
        CHECK(strcmp(cell(&csv, 0, 4), "setosa") == 0 && strcmp(cell(&csv, 149, 4), "virginica") == 0);
        CHECK(strcmp(cell(&csv, 0, 0), "5.1") == 0);
    }
    kn__csv_free(ctx, &csv);

    snprintf(path, sizeof path, "%s/diabetes.csv", data_dir);
    if (access(path, R_OK) != 0) {
        printf("test_csv: %s absent: diabetes checks skipped\n", path);
        return;
    }
    st = kn__csv_read(ctx, path, NULL, &csv); /* CRLF line endings */
    if (st != KN_OK) fprintf(stderr, "%s\n", kn_last_error(ctx));
    CHECK(st == KN_OK && csv.rows == 442 && csv.cols == 11 && csv.cells == NULL);
    for (int64_t j = 0; j < csv.cols; j++) CHECK(csv.columns[j].numeric);
    CHECK(kn__csv_column_index(&csv, "progression") == 10);
    CHECK(value(&csv, 0, 0) == 59.0f && value(&csv, 0, 8) == 4.8598f && value(&csv, 0, 10) == 151.0f);
    kn__csv_free(ctx, &csv);
}

static void test_syntax(void) {
    kn__csv csv;
    /* Separators: detected from the header (quoted ones do not count), or given. */
    CHECK(parse("a;b;c\n1,5;2;x\n", &text_opts, &csv) == KN_OK);
    CHECK(csv.sep == ';' && csv.cols == 3 && csv.rows == 1);
    CHECK(strcmp(cell(&csv, 0, 0), "1,5") == 0 && !csv.columns[0].numeric && csv.columns[1].numeric);
    kn__csv_free(ctx, &csv);
    CHECK(parse("a\tb\tc name\n 1 \t\t3\n", &text_opts, &csv) == KN_OK);
    CHECK(csv.sep == '\t' && csv.cols == 3 && strcmp(csv.columns[2].name, "c name") == 0);
    CHECK(value(&csv, 0, 0) == 1.0f && isnan(value(&csv, 0, 1)) && csv.columns[1].missing == 1);
    kn__csv_free(ctx, &csv);
    CHECK(parse("\"x;y;z\",b\n1,2\n", NULL, &csv) == KN_OK);
    CHECK(csv.sep == ',' && csv.cols == 2 && strcmp(csv.columns[0].name, "x;y;z") == 0);
    kn__csv_free(ctx, &csv);
    CHECK(parse("a;b,c;d\n1;2,3;4\n", &(kn__csv_opts){.sep = ','}, &csv) == KN_OK);
    CHECK(csv.sep == ',' && csv.cols == 2 && strcmp(csv.columns[1].name, "c;d") == 0);
    kn__csv_free(ctx, &csv);
    CHECK(parse("a\tb;c\n1\t2;3\n", NULL, &csv) == KN_OK); /* a tie: ',' */
    CHECK(csv.sep == ',' && csv.cols == 1);
    kn__csv_free(ctx, &csv);

    /* Quoted fields: separators, newlines, doubled quotes, spaces kept inside quotes. */
    const char *quoted = "name,text,n\n"
                         "\"Smith, J\",\"He said \"\"hi\"\"\nbye\",3\n"
                         "  \"  padded \"  , plain  text ,\" 4 \"\n"
                         "5'10\",\"\",\"\"\"\"\n";
    CHECK(parse(quoted, &text_opts, &csv) == KN_OK);
    CHECK(csv.rows == 3 && csv.cols == 3);
    CHECK(strcmp(cell(&csv, 0, 0), "Smith, J") == 0);
    CHECK(strcmp(cell(&csv, 0, 1), "He said \"hi\"\nbye") == 0);
    CHECK(strcmp(cell(&csv, 1, 0), "  padded ") == 0 && strcmp(cell(&csv, 1, 1), "plain  text") == 0);
    CHECK(strcmp(cell(&csv, 2, 0), "5'10\"") == 0 && strcmp(cell(&csv, 2, 1), "") == 0);
    CHECK(strcmp(cell(&csv, 2, 2), "\"") == 0 && !csv.columns[2].numeric);
    CHECK(csv.columns[1].missing == 1 && isnan(value(&csv, 1, 2)));
    kn__csv_free(ctx, &csv);
    CHECK(parse("n\n\" 4 \"\n\"-5e-1\"\n", NULL, &csv) == KN_OK); /* quoted numbers are numbers */
    CHECK(csv.columns[0].numeric && value(&csv, 0, 0) == 4.0f && value(&csv, 1, 0) == -0.5f);
    kn__csv_free(ctx, &csv);

    /* CRLF, a BOM, blank lines before the header and after the last row, no final newline. */
    CHECK(parse("\xEF\xBB\xBF\r\n\r\na,b\r\n1,2\r\n\"x\r\ny\",4\r\n\r\n  \r\n", &text_opts, &csv) == KN_OK);
    CHECK(csv.rows == 2 && csv.cols == 2 && strcmp(csv.columns[0].name, "a") == 0);
    CHECK(strcmp(cell(&csv, 0, 1), "2") == 0 && strcmp(cell(&csv, 1, 0), "x\r\ny") == 0);
    CHECK(value(&csv, 1, 1) == 4.0f && csv.columns[1].numeric && !csv.columns[0].numeric);
    kn__csv_free(ctx, &csv);
    CHECK(parse("a,b\n1,2", NULL, &csv) == KN_OK && csv.rows == 1 && value(&csv, 0, 1) == 2.0f);
    kn__csv_free(ctx, &csv);
    CHECK(parse("a\n1\n\n3\n", NULL, &csv) == KN_OK); /* one column: a blank row is missing */
    CHECK(csv.rows == 3 && csv.columns[0].missing == 1 && value(&csv, 2, 0) == 3.0f);
    kn__csv_free(ctx, &csv);
    CHECK(parse("a,b,\"c\"\n1,2,\n", NULL, &csv) == KN_OK); /* trailing empty field */
    CHECK(csv.rows == 1 && csv.columns[2].missing == 1);
    kn__csv_free(ctx, &csv);

    /* Missing values: default tokens (trimmed, case-sensitive); a custom list. */
    CHECK(parse("x,y\n1,NA\n?,2\n,3\n NaN ,na\n\"NA\",5\n", &text_opts, &csv) == KN_OK);
    CHECK(csv.rows == 5 && csv.columns[0].numeric && csv.columns[0].missing == 4);
    CHECK(!csv.columns[1].numeric && csv.columns[1].missing == 1); /* "na" is text */
    CHECK(strcmp(cell(&csv, 0, 1), "") == 0 && strcmp(cell(&csv, 3, 0), "") == 0);
    CHECK(strcmp(cell(&csv, 3, 1), "na") == 0 && isnan(value(&csv, 1, 1)) && isnan(value(&csv, 1, 0)));
    CHECK(value(&csv, 0, 0) == 1.0f && isnan(value(&csv, 2, 0)));
    kn__csv_free(ctx, &csv);
    const char *const na[] = {" - ", "-999", NULL};
    CHECK(parse("x,y,z\n-,NA,1\n-999,,2\n3,x,-\n", &(kn__csv_opts){.na = na, .keep_text = true},
                &csv) == KN_OK);
    CHECK(csv.columns[0].numeric && csv.columns[0].missing == 2 && value(&csv, 2, 0) == 3.0f);
    CHECK(!csv.columns[1].numeric && csv.columns[1].missing == 0 && strcmp(cell(&csv, 1, 1), "") == 0);
    CHECK(csv.columns[2].numeric && csv.columns[2].missing == 1);
    kn__csv_free(ctx, &csv);
    CHECK(parse("x\nNA\n\n", NULL, &csv) == KN_OK); /* all missing: numeric, all NaN */
    CHECK(csv.rows == 1 && csv.columns[0].numeric && csv.columns[0].missing == 1);
    kn__csv_free(ctx, &csv);

    /* Numbers: strtod's syntax, finite as a float; anything else makes the column text. */
    CHECK(parse("a,b,c,d,e,f,g,h\n1e3,-.5,0x10,+7.,1e-50,0.1234567890123456789,1e39,inf\n"
                "2,3,4,5,6,7,8,9\n", NULL, &csv) == KN_OK);
    CHECK(value(&csv, 0, 0) == 1000.0f && value(&csv, 0, 1) == -0.5f && value(&csv, 0, 2) == 16.0f);
    CHECK(value(&csv, 0, 3) == 7.0f && value(&csv, 0, 4) == 0.0f);
    CHECK(value(&csv, 0, 5) == 0.1234567890123456789f && csv.columns[5].numeric);
    CHECK(!csv.columns[6].numeric && !csv.columns[7].numeric && isnan(value(&csv, 1, 6)));
    kn__csv_free(ctx, &csv);
    CHECK(parse("a,b,c,d,e\n1.5.2,1e,-,12abc,1 2\n", NULL, &csv) == KN_OK);
    for (int j = 0; j < 5; j++) CHECK(!csv.columns[j].numeric);
    kn__csv_free(ctx, &csv);
    /* Both paths agree with strtod (rounded to float) on random decimals. */
    char text[64 * 400 + 8] = "x\n", *p = text + 2;
    float want[400];
    unsigned seed = 12345;
    for (int i = 0; i < 400; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        int len = i % 4 == 3 /* 16 to 22 significant digits: strtod's path */
                      ? snprintf(p, 64, "%u%012u.%u", r % 1000 + 1, r, r % 9999)
                      : snprintf(p, 64, "%s%u.%0*u%s%d", r & 1 ? "-" : "", r % 100000, (int)(r % 7),
                                 (r >> 3) % 1000, r & 2 ? "e" : "e-", (int)(r % 25));
        want[i] = (float)strtod(p, NULL);
        p += len;
        *p++ = '\n';
    }
    *p = '\0';
    CHECK(parse(text, NULL, &csv) == KN_OK && csv.rows == 400 && csv.columns[0].numeric);
    int same = 1;
    for (int i = 0; i < 400 && csv.rows == 400; i++) same &= value(&csv, i, 0) == want[i];
    CHECK(same);
    kn__csv_free(ctx, &csv);

    /* max_rows stops early (the rest is not read); keep_text off leaves cells NULL. */
    CHECK(parse("a,b\n1,2\n3,4\n5,6,7\n", &(kn__csv_opts){.max_rows = 2}, &csv) == KN_OK);
    CHECK(csv.rows == 2 && value(&csv, 1, 1) == 4.0f && csv.cells == NULL);
    kn__csv_free(ctx, &csv);
    CHECK(parse("a,b\n\"1\",x\n3,y\n", &(kn__csv_opts){.max_rows = 1, .keep_text = true}, &csv) == KN_OK);
    CHECK(csv.rows == 1 && strcmp(cell(&csv, 0, 1), "x") == 0 && csv.columns[0].numeric);
    kn__csv_free(ctx, &csv);

    /* Bad arguments. */
    CHECK(kn__csv_parse(ctx, "a\n1\n", 4, NULL, &(kn__csv_opts){.sep = '"'}, &csv) == KN_ERR_INVALID_ARGUMENT);
    CHECK(kn__csv_parse(ctx, "a\n1\n", 4, NULL, &(kn__csv_opts){.max_rows = -1}, &csv) == KN_ERR_INVALID_ARGUMENT);
    CHECK(kn__csv_parse(ctx, NULL, 4, NULL, NULL, &csv) == KN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(kn_last_error(ctx), "<memory>") != NULL);
    CHECK(kn__csv_parse(ctx, "a\n1\n", 4, NULL, NULL, NULL) == KN_ERR_INVALID_ARGUMENT);
    CHECK(kn__csv_read(ctx, NULL, NULL, &csv) == KN_ERR_INVALID_ARGUMENT);
    CHECK(kn__csv_column_index(NULL, "a") == -1);
    kn__csv_free(ctx, NULL);
}

static void test_bad_files(void) {
    /* A ragged row: its line counts the physical lines before it (a quoted newline too). */
    BAD("ragged.csv", "a,b,c,d\n1,2,3,4\n\"x\ny\",2,3,4\n1,2,3,4\n1,2,3,4\n1,2,3,4,5\n",
        KN_ERR_FORMAT, "ragged.csv: line 7: 5 fields, the header has 4");
    BAD("short_row.csv", "a,b\r\n1,2\r\n3\r\n", KN_ERR_FORMAT, "line 3: 1 field, the header has 2");
    BAD("blank_inside.csv", "a,b\n1,2\n\n3,4\n", KN_ERR_FORMAT, "line 3: 1 field, the header has 2");
    BAD("unterminated.csv", "a,b\n1,2\n3,\"four\n5,6\n7,8\n", KN_ERR_FORMAT,
        "line 3: column 2: the quote opened on this line is never closed");
    BAD("unterminated_header.csv", "a,\"b\n1,2\n", KN_ERR_FORMAT, "line 1: column 2: the quote");
    BAD("after_quote.csv", "a,b\n1,\"2\"x\n", KN_ERR_FORMAT, "line 2: column 2: 'x' after a closing quote");
    BAD("duplicate.csv", "a,b,c,b\n1,2,3,4\n", KN_ERR_FORMAT,
        "column 4 of the header, \"b\", repeats the name of column 2");
    BAD("empty_name.csv", "a,,c\n1,2,3\n", KN_ERR_FORMAT, "column 2 of the header has an empty name");
    BAD("empty.csv", "", KN_ERR_FORMAT, "empty file");
    BAD("blank.csv", "\xEF\xBB\xBF\r\n \n", KN_ERR_FORMAT, "empty file");
    BAD("header_only.csv", "a,b,c\n", KN_ERR_FORMAT, "no data rows");
    BAD("header_blank_lines.csv", "a,b,c\r\n\r\n\r\n", KN_ERR_FORMAT, "no data rows");
    BAD("nul.csv", "a,b\n1,2\n3,\0\n", KN_ERR_FORMAT, "line 3: a NUL byte");
    check_bad_file("no_such_file.csv", NULL, 0, KN_ERR_IO, "No such file");
    check_bad_file(".", NULL, 0, KN_ERR_IO, "not a regular file");

    /* Limits: a cell over 1 MiB (quoted and not), more than 2^20 columns. */
    const size_t max = KN__CSV_MAX_CELL;
    char *text = malloc(2 * max + 64);
    CHECK(text != NULL);
    if (!text) return;
    kn__csv csv;
    size_t n = (size_t)sprintf(text, "a,b\n1,");
    memset(text + n, 'x', max + 1); /* unquoted, one byte over */
    check_bad_file("big_cell.csv", text, n + max + 1, KN_ERR_FORMAT,
                   "line 2: column 2: a cell of 1048577 bytes is over the 1048576-byte limit");
    CHECK(kn__csv_parse(ctx, text, n + max, "x.csv", &text_opts, &csv) == KN_OK); /* at it */
    CHECK(csv.rows == 1 && strlen(cell(&csv, 0, 1)) == max);
    kn__csv_free(ctx, &csv);
    text[n] = '"'; /* quoted: "x...x" with max + 1 x's */
    memcpy(text + n + max + 1, "x\"\n", 3);
    check_bad_file("big_quoted.csv", text, n + max + 4, KN_ERR_FORMAT,
                   "line 2: column 2: a quoted cell is over the 1048576-byte limit");
    /* Doubled quotes count once: an opening quote, 2 max + 1 more is max of them, accepted;
     * 2 max + 3 is one over. */
    memset(text + n, '"', 2 * max + 3);
    text[n + 2 * max + 3] = '\n';
    check_bad_file("big_quotes.csv", text, n + 2 * max + 4, KN_ERR_FORMAT, "a quoted cell is over");
    CHECK(kn__csv_parse(ctx, text, n + 2 * max + 2, "q.csv", &text_opts, &csv) == KN_OK);
    CHECK(csv.rows == 1 && strlen(cell(&csv, 0, 1)) == max && cell(&csv, 0, 1)[max - 1] == '"');
    kn__csv_free(ctx, &csv);
    size_t cols = (size_t)KN__CSV_MAX_COLUMNS + 1;
    for (size_t i = 0; i < cols; i++) text[2 * i] = 'c', text[2 * i + 1] = ',';
    text[2 * cols - 1] = '\n';
    check_bad_file("wide.csv", text, 2 * cols, KN_ERR_FORMAT, "more than the 1048576 columns");
    free(text);
}

/* Out of memory at each allocation in turn: a status, no leak, until all succeed. */
static void test_out_of_memory(counting *count, long live_at_start) {
    const char *text = "a,b,c\n1,x,\"q\"\"\"\n2,y,NA\n";
    int reached_ok = 0;
    for (long n = 1; n < 32 && !reached_ok; n++) {
        count->count = 0;
        count->fail_at = n;
        kn__csv csv;
        kn_status st = kn__csv_parse(ctx, text, strlen(text), "oom.csv", &text_opts, &csv);
        CHECK(st == KN_OK || st == KN_ERR_OUT_OF_MEMORY);
        CHECK(st == KN_OK || (csv.values == NULL && csv.columns == NULL));
        if (st != KN_OK) CHECK(strstr(kn_last_error(ctx), "oom.csv") != NULL);
        reached_ok = st == KN_OK;
        if (reached_ok) CHECK(strcmp(cell(&csv, 0, 2), "q\"") == 0 && strcmp(cell(&csv, 1, 2), "") == 0);
        kn__csv_free(ctx, &csv);
        CHECK(count->live == live_at_start);
    }
    CHECK(reached_ok);
    count->fail_at = 0;
}

int main(int argc, char **argv) {
    const char *data_dir = argc > 1 ? argv[1] : "tests/data";
    strcpy(dir, "/tmp/kiln_test_csv_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    counting count = {0};
    kn_allocator alloc = {counting_alloc, counting_free, &count};
    CHECK(kn_ctx_new(&(kn_ctx_opts){.allocator = &alloc}, &ctx) == KN_OK && ctx);
    if (!ctx) return 1;
    long live_at_start = count.live; /* the context itself */

    test_datasets(data_dir);
    test_syntax();
    test_bad_files();
    CHECK(count.live == live_at_start); /* every path freed what it took */
    test_out_of_memory(&count, live_at_start);

    kn_ctx_free(ctx);
    for (int i = 0; i < n_written; i++) remove(path_of(written[i]));
    rmdir(dir);
    if (failures) {
        fprintf(stderr, "test_csv: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_csv: all checks passed\n");
    return 0;
}
