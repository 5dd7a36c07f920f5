/* fuzz_csv.c — libFuzzer target for the CSV reader: any bytes must give a table or a status
 * with a one-line message, never a crash, an out-of-bounds read or a leak; a table must be
 * self-consistent. Seeds: tests/fuzz/corpus/csv/. A first byte in 0x80..0xBF (a UTF-8
 * continuation byte, which cannot start text) picks the options from its low 6 bits (sep,
 * keep_text, max_rows, a custom NA list); other inputs are parsed whole with the defaults
 * and keep_text. Build: clang -g -O1
 * -fsanitize=fuzzer,address,undefined -Iinclude -Isrc tests/fuzz/fuzz_csv.c src/data/csv.c
 * src/core/ *.c -lm -o fuzz_csv; run on a copy of the corpus: fuzz_csv CORPUS_COPY */
#include "data/csv.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const na[] = {"-", " x ", "", NULL};
    static const char seps[4] = {0, ',', ';', '\t'};
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(NULL, &ctx) != KN_OK) return 0;
    kn__csv_opts opts = {0};
    if (size > 0 && (data[0] & 0xC0) == 0x80) {
        uint8_t o = data[0];
        opts = (kn__csv_opts){.sep = seps[o & 3], .keep_text = o & 4, .max_rows = (o >> 3) & 3,
                              .na = o & 0x20 ? na : NULL};
        data++, size--;
    } else {
        opts.keep_text = true;
    }
    kn__csv csv;
    kn_status st = kn__csv_parse(ctx, (const char *)data, size, "fuzz.csv", &opts, &csv);
    const char *msg = kn_last_error(ctx);
    if (st != KN_OK && (!strstr(msg, "fuzz.csv") || strchr(msg, '\n'))) __builtin_trap();
    if ((st == KN_OK) != (csv.values != NULL)) __builtin_trap();
    if (st == KN_OK) {
        if (csv.rows < 1 || csv.cols < 1 || (opts.max_rows && csv.rows > opts.max_rows)) __builtin_trap();
        if (opts.keep_text != (csv.cells != NULL)) __builtin_trap();
        for (int64_t j = 0; j < csv.cols; j++) {
            const kn__csv_column *c = &csv.columns[j];
            if (!c->name[0] || kn__csv_column_index(&csv, c->name) != j) __builtin_trap();
            if (c->missing < 0 || c->missing > csv.rows) __builtin_trap();
            int64_t nan = 0;
            for (int64_t i = 0; i < csv.rows; i++) {
                float v = csv.values[i * csv.cols + j];
                nan += isnan(v);
                if (isinf(v)) __builtin_trap();
                if (csv.cells && strlen(csv.cells[i * csv.cols + j]) > KN__CSV_MAX_CELL) __builtin_trap();
            }
            if (c->numeric ? nan != c->missing : nan != csv.rows) __builtin_trap();
        }
    }
    kn__csv_free(ctx, &csv);
    kn_ctx_free(ctx);
    return 0;
}
