/* csv.h — reader for CSV tables (RFC 4180 plus what real files do): a header of column names,
 * rows of cells, quoted fields, CRLF, a UTF-8 BOM, a detected separator. Each column is typed
 * after reading (numeric or categorical). Cleaning, encoding and splitting build on it
 * elsewhere. A bad file gives a status and a one-line message naming the file and the line. */
#ifndef KN_DATA_CSV_H
#define KN_DATA_CSV_H

#include "core/core.h"

/* Limits, checked before anything is allocated for them. */
#define KN__CSV_MAX_COLUMNS ((int64_t)1 << 20)
#define KN__CSV_MAX_FILE ((uint64_t)4 << 30) /* 4 GiB of text */
#define KN__CSV_MAX_CELL ((size_t)1 << 20)   /* 1 MiB of text in one cell (quotes removed) */

/* One column: its name and its type. A column is numeric when every non-missing cell parses
 * fully as a finite number (strtod's syntax, surrounding spaces allowed, finite as a float),
 * else categorical. A column whose cells are all missing counts as numeric. */
typedef struct kn__csv_column {
    char *name;      /* NUL-terminated, non-empty, unique; points into the columns block */
    bool numeric;
    int64_t missing; /* missing cells in this column */
} kn__csv_column;

/* A CSV table in memory. Everything is owned and freed by kn__csv_free. */
typedef struct kn__csv {
    int64_t rows, cols;      /* rows >= 1, cols in [1, KN__CSV_MAX_COLUMNS] */
    kn__csv_column *columns; /* (cols); one block that also holds the names' text */
    float *values;           /* (rows, cols) row-major; NaN where missing and in every cell of a
                                categorical column */
    char **cells;            /* (rows, cols) row-major, NUL-terminated text (quotes removed,
                                unquoted text trimmed; "" for a missing cell), or NULL unless
                                opts.keep_text; one block that also holds the text */
    int64_t *lines;          /* (rows) the physical line (1-based) each row starts on, for messages */
    char sep;                /* the separator used */
} kn__csv;

typedef struct kn__csv_opts {
    char sep;              /* 0: detect from the header line among ',', ';', '\t' (the most
                              frequent outside quotes; ties and none -> ','). Not '"', ' ',
                              '\r' or '\n'. */
    const char *const *na; /* missing-value tokens, NULL-terminated; NULL: "", "NA", "NaN",
                              "?". Compared after trimming spaces, case-sensitive. */
    bool keep_text;        /* keep every cell's text in cells (needed for categorical columns) */
    int64_t max_rows;      /* 0: no limit; otherwise stop after this many data rows (the rest of
                              the file is not read, nor checked) */
} kn__csv_opts;

/* Reads a CSV file (opts may be NULL: all defaults). On success *out owns the table (free
 * with kn__csv_free); on failure *out is zeroed and kn_last_error(ctx) names the file, the
 * line (physical, 1-based: a newline inside quotes counts) and the fault.
 * Syntax: fields separated by sep; a field may be quoted with '"' (holding separators,
 * newlines and doubled quotes ""), with only spaces between the closing quote and the next
 * separator; a quote inside an unquoted field is kept as text. Spaces (and tabs, unless the
 * separator is a tab) around unquoted fields are trimmed. LF or CRLF line endings; a UTF-8
 * BOM and blank lines before the header and after the last row are skipped.
 * Errors (KN_ERR_FORMAT unless said): an empty file; a header with no data rows; a row whose
 * field count differs from the header's; an unterminated quote (the line where it opened);
 * text after a closing quote; an empty or duplicate column name; a NUL byte; a limit
 * exceeded. KN_ERR_IO: open/read. KN_ERR_INVALID_ARGUMENT: a NULL argument, a bad sep or a
 * negative max_rows. KN_ERR_OUT_OF_MEMORY.
 * Plain decimals are read without strtod, in any locale; the rest (hex, over 15 significant
 * digits, exponents past 10^±22) go through strtod, so follow LC_NUMERIC (kiln never sets it). */
kn_status kn__csv_read(kn_ctx *ctx, const char *path, const kn__csv_opts *opts, kn__csv *out);

/* The same from text in memory (len bytes, need not be NUL-terminated; the caller keeps
 * it). name (may be NULL: "<memory>") stands for the file in messages. */
kn_status kn__csv_parse(kn_ctx *ctx, const char *text, size_t len, const char *name,
                        const kn__csv_opts *opts, kn__csv *out);

/* Frees everything csv owns and zeroes it; csv may be NULL, zeroed or already freed. */
void kn__csv_free(kn_ctx *ctx, kn__csv *csv);

/* The index of the column named `name` (exact match), or -1. A linear search. */
int64_t kn__csv_column_index(const kn__csv *csv, const char *name);

#endif
