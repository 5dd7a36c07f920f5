/* csv.c — reads a CSV table in two steps over the text held in memory: the header, then the
 * rows, parsing each cell into the float table and typing the columns as it goes. Cell text
 * is only kept (a second pass into one exactly-sized block) when the caller asks for it, so
 * a numeric file costs no allocation per cell. Limits: see csv.h. */
#define _POSIX_C_SOURCE 200809L
#include "data/csv.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const default_na[] = {"", "NA", "NaN", "?", NULL};

typedef struct csv_parser {
    kn_ctx *ctx;
    const char *name;
    const char *p, *end;   /* cursor over the text still to read */
    int64_t line;          /* physical line (1-based) of the cursor */
    char sep;
    const char *const *na; /* missing-value tokens */
    bool na_empty;         /* a token is empty after trimming */
    uint8_t na_first[32];  /* bitmap of the first bytes of the other tokens, after trimming */
    char *scratch;         /* min(text length, KN__CSV_MAX_CELL) + 1 bytes: a cell not kept */
} csv_parser;

/* The spaces trimmed around unquoted fields and before comparisons: a tab only when it is
 * not the separator. */
static inline bool is_space(const csv_parser *ps, char c) {
    return (uint8_t)c <= ' ' && (c == ' ' || (c == '\t' && ps->sep != '\t'));
}

static void trim(const csv_parser *ps, const char **s, size_t *n) {
    while (*n && is_space(ps, (*s)[0])) (*s)++, (*n)--;
    while (*n && is_space(ps, (*s)[*n - 1])) (*n)--;
}

/* Whether s[0..n) (trimmed) is a missing-value token. */
static inline bool is_missing(const csv_parser *ps, const char *s, size_t n) {
    if (n == 0) return ps->na_empty;
    uint8_t c = (uint8_t)s[0];
    if (!(ps->na_first[c >> 3] & (1u << (c & 7)))) return false; // most cells stop here
    for (const char *const *t = ps->na; *t; t++) {
        const char *tok = *t;
        size_t k = strlen(tok);
        trim(ps, &tok, &k);
        if (k == n && memcmp(tok, s, n) == 0) return true;
    }
    return false;
}

/* Parses s[0..n) (trimmed) as a finite float. Plain decimals with at most 15 significant
 * digits and a power of ten within 10^±22 take Clinger's exact fast path (both factors are
 * exact doubles, so one correctly rounded operation gives strtod's double); the rest go
 * through strtod on a NUL-terminated copy. */
static bool parse_number(csv_parser *ps, const char *s, size_t n, float *out) {
    static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (n == 0) return false;
    const char *p = s, *e = s + n;
    bool neg = false, any = false;
    uint64_t m = 0;
    int digits = 0, exp10 = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    for (; p < e && (unsigned)(*p - '0') < 10; p++, any = true) {
        if (m == 0 && *p == '0') continue;
        if (++digits > 15) goto slow;
        m = m * 10 + (uint64_t)(*p - '0');
    }
    if (p < e && *p == '.')
        for (p++; p < e && (unsigned)(*p - '0') < 10; p++, any = true, exp10--) {
            if (m == 0 && *p == '0') continue;
            if (++digits > 15) goto slow;
            m = m * 10 + (uint64_t)(*p - '0');
        }
    if (!any) goto slow; // "inf", "nan", "0x..." with no digit first: strtod decides
    if (p < e && (*p == 'e' || *p == 'E')) {
        bool eneg = false;
        int x = 0;
        if (++p < e && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p == e) goto slow;
        for (; p < e && (unsigned)(*p - '0') < 10; p++)
            if (x < 10000) x = x * 10 + (*p - '0');
        exp10 += eneg ? -x : x;
    }
    if (p != e || exp10 < -22 || exp10 > 22) goto slow;
    double d = (double)(int64_t)m; // m < 10^15: exact, and a signed convert is one instruction
    d = exp10 < 0 ? d / pow10[-exp10] : d * pow10[exp10];
    *out = (float)(neg ? -d : d);
    return true;
slow:;
    char small[128], *buf = n < sizeof small ? small : ps->scratch; // scratch holds >= n + 1
    memmove(buf, s, n); // s may lie in scratch already
    buf[n] = '\0';
    char *endp = NULL;
    double v = strtod(buf, &endp);
    while (endp > buf && endp < buf + n && (*endp == ' ' || *endp == '\t' || *endp == '\r')) endp++;
    if (endp != buf + n || !(fabs(v) <= FLT_MAX)) return false; // also NaN; no float overflow
    *out = (float)v;
    return true;
}

/* A field read: its text (quotes removed, "" undoubled, unquoted text trimmed), and the same
 * trimmed (differs for a quoted field) to compare and parse. */
typedef struct csv_field {
    const char *text, *trimmed;
    size_t n, trimmed_n;
} csv_field;

/* The quoted field whose opening quote is at p (see scan_field). */
static kn_status scan_quoted(csv_parser *ps, int64_t column, const char *p, char *dest,
                             csv_field *f) {
    const char *end = ps->end;
    int64_t open_line = ps->line;
    size_t w = 0;
    for (p++;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q)
            return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: line %lld: column %lld: the quote "
                             "opened on this line is never closed", ps->name,
                             (long long)open_line, (long long)column);
        size_t seg = (size_t)(q - p);
        if (seg > KN__CSV_MAX_CELL - w || (q + 1 < end && q[1] == '"' && seg == KN__CSV_MAX_CELL - w))
            return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: line %lld: column %lld: a quoted cell "
                             "is over the %zu-byte limit", ps->name, (long long)open_line,
                             (long long)column, KN__CSV_MAX_CELL);
        memcpy(dest + w, p, seg);
        w += seg;
        for (const char *nl = p; (nl = memchr(nl, '\n', (size_t)(q - nl))) != NULL; nl++) ps->line++;
        p = q + 1;
        if (p < end && *p == '"') {
            dest[w++] = '"';
            p++;
            continue;
        }
        break;
    }
    dest[w] = '\0';
    while (p < end && (is_space(ps, *p) || *p == '\r')) p++;
    if (p < end && *p != ps->sep && *p != '\n')
        return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: line %lld: column %lld: '%c' after a "
                         "closing quote (a quote inside a quoted field is written \"\")",
                         ps->name, (long long)ps->line, (long long)column,
                         *p >= ' ' && *p < 127 ? *p : '?');
    f->text = f->trimmed = dest;
    f->n = f->trimmed_n = w;
    trim(ps, &f->trimmed, &f->trimmed_n);
    ps->p = p;
    return KN_OK;
}

/* Reads one field at ps->p (`column`, 1-based, for messages) into *f, leaving ps->p on the
 * separator, the '\n' or the end. The text is copied to dest and NUL-terminated when `copy`
 * or the field is quoted, else points into the input. dest holds min(the field's bytes,
 * KN__CSV_MAX_CELL) + 1. Inline: the unquoted path is the whole cost of a numeric file. */
static inline kn_status scan_field(csv_parser *ps, int64_t column, char *dest, bool copy,
                                   csv_field *f) {
    const char *p = ps->p, *end = ps->end;
    const char sep = ps->sep;
    while (p < end && is_space(ps, *p)) p++;
    if (p < end && *p == '"') return scan_quoted(ps, column, p, dest, f);
    const char *s = p;
    while (p < end && *p != sep && *p != '\n') p++;
    const char *e = p;
    while (e > s && (is_space(ps, e[-1]) || e[-1] == '\r')) e--;
    if ((size_t)(e - s) > KN__CSV_MAX_CELL)
        return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: line %lld: column %lld: a cell of %zu "
                         "bytes is over the %zu-byte limit", ps->name, (long long)ps->line,
                         (long long)column, (size_t)(e - s), KN__CSV_MAX_CELL);
    f->n = f->trimmed_n = (size_t)(e - s);
    f->text = f->trimmed = s;
    if (copy) {
        memcpy(dest, s, f->n);
        dest[f->n] = '\0';
        f->text = f->trimmed = dest;
    }
    ps->p = p;
    return KN_OK;
}

/* Moves past the separator after a field (true: another field follows) or past the end of
 * the record (false). */
static bool next_field(csv_parser *ps) {
    if (ps->p < ps->end && *ps->p == ps->sep) {
        ps->p++;
        return true;
    }
    if (ps->p < ps->end) { // the '\n'
        ps->p++;
        ps->line++;
    }
    return false;
}

/* The header: counts and checks the names, then copies them into the columns block. */
static kn_status read_header(csv_parser *ps, kn__csv *out) {
    const char *start = ps->p;
    const int64_t first_line = ps->line;
    int64_t cols = 0;
    size_t bytes = 0;
    csv_field f;
    do {
        kn_status st = scan_field(ps, cols + 1, ps->scratch, false, &f);
        if (st != KN_OK) return st;
        if (++cols > KN__CSV_MAX_COLUMNS)
            return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: the header has more than the %lld "
                             "columns allowed", ps->name, (long long)KN__CSV_MAX_COLUMNS);
        if (f.n == 0)
            return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: line %lld: column %lld of the header "
                             "has an empty name", ps->name, (long long)first_line, (long long)cols);
        bytes += f.n + 1; // <= the header's length + 1: no overflow
    } while (next_field(ps));
    size_t size;
    if (!kn__mul_size((size_t)cols, sizeof(kn__csv_column), &size) || !kn__add_size(size, bytes, &size))
        return kn__error(ps->ctx, KN_ERR_OUT_OF_MEMORY, "%s: %lld columns are too many",
                         ps->name, (long long)cols);
    out->columns = kn__alloc(ps->ctx, size); // (cols) columns, then their names' text
    if (!out->columns)
        return kn__error(ps->ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes for "
                         "the header", ps->name, size);
    out->cols = cols;
    char *names = (char *)(out->columns + cols);
    ps->p = start;
    ps->line = first_line;
    for (int64_t j = 0; j < cols; j++) { // the same fields again: no error possible
        scan_field(ps, j + 1, names, true, &f);
        out->columns[j] = (kn__csv_column){.name = names, .numeric = true, .missing = 0};
        names += f.n + 1;
        next_field(ps);
    }
    /* Duplicates: an open-addressing table of column indices, 2 x cols slots or more. */
    size_t cap = 16;
    while (cap < 2 * (size_t)cols) cap *= 2;
    int32_t *slot = kn__alloc(ps->ctx, cap * sizeof *slot);
    if (!slot)
        return kn__error(ps->ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes",
                         ps->name, cap * sizeof *slot);
    memset(slot, 0xff, cap * sizeof *slot); // -1: empty
    kn_status st = KN_OK;
    for (int32_t j = 0; j < cols && st == KN_OK; j++) {
        uint64_t h = 1469598103934665603u; // FNV-1a
        for (const char *c = out->columns[j].name; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211u;
        size_t i = (size_t)h & (cap - 1);
        for (; slot[i] >= 0; i = (i + 1) & (cap - 1))
            if (strcmp(out->columns[slot[i]].name, out->columns[j].name) == 0) {
                st = kn__error(ps->ctx, KN_ERR_FORMAT, "%s: line %lld: column %lld of the header, "
                               "\"%.64s\", repeats the name of column %lld", ps->name,
                               (long long)first_line, (long long)j + 1, out->columns[j].name,
                               (long long)slot[i] + 1);
                break;
            }
        slot[i] = j;
    }
    kn__free(ps->ctx, slot);
    return st;
}

/* Reads data rows at ps->p, at most `limit` of them, into out->rows. Pass 1 (cells NULL)
 * parses each cell into out->values (room for `limit` rows), types the columns and adds to
 * *text the bytes that keeping the text will take; pass 2 copies the texts of the rows pass
 * 1 read into the arena after cells. */
static kn_status read_rows(csv_parser *ps, kn__csv *out, int64_t limit, char **cells, size_t *text) {
    const int64_t cols = out->cols;
    char *arena = cells ? (char *)(cells + limit * cols) : NULL;
    int64_t row = 0;
    while (row < limit && ps->p < ps->end) {
        int64_t line = ps->line, j = 0;
        float *values = out->values + row * cols; // (cols) of this row
        if (!arena) out->lines[row] = line;
        do {
            csv_field f;
            bool keep = arena && j < cols;
            kn_status st = scan_field(ps, j + 1, keep ? arena : ps->scratch, keep, &f);
            if (st != KN_OK) return st;
            if (j >= cols) continue; // a ragged row: counted, reported below
            kn__csv_column *col = &out->columns[j];
            if (arena) { // pass 1 counted f.n + 1 bytes, written before knowing it is missing
                if (is_missing(ps, f.trimmed, f.trimmed_n)) arena[0] = '\0';
                cells[row * cols + j] = arena;
                arena += f.n + 1;
                continue;
            }
            *text += f.n + 1;
            if (is_missing(ps, f.trimmed, f.trimmed_n)) {
                values[j] = NAN;
                col->missing++;
            } else if (!col->numeric || !parse_number(ps, f.trimmed, f.trimmed_n, &values[j])) {
                values[j] = NAN;
                col->numeric = false;
            }
        } while (j++, next_field(ps));
        if (j != cols)
            return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: line %lld: %lld field%s, the header "
                             "has %lld", ps->name, (long long)line, (long long)j,
                             j == 1 ? "" : "s", (long long)cols);
        row++;
    }
    out->rows = row;
    return KN_OK;
}

static kn_status csv_parse(csv_parser *ps, const char *text, size_t len, const kn__csv_opts *opts,
                           kn__csv *out) {
    const char *p = text, *end = text + len;
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int64_t line = 1;
        for (const char *c = text; (c = memchr(c, '\n', (size_t)(nul - c))) != NULL; c++) line++;
        return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: line %lld: a NUL byte (byte %zu): not a "
                         "text file", ps->name, (long long)line, (size_t)(nul - text));
    }
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; // UTF-8 BOM
    ps->line = 1;
    for (const char *q = p; q < end && (*q == ' ' || *q == '\r' || *q == '\n'); q++)
        if (*q == '\n') p = q + 1, ps->line++; // blank lines before the header
    if (!ps->sep) { // the most frequent of , ; tab outside quotes on the header line
        int64_t count[3] = {0, 0, 0};
        bool quoted = false;
        for (const char *q = p; q < end && (quoted || *q != '\n'); q++) {
            if (*q == '"') quoted = !quoted;
            else if (!quoted) count[0] += *q == ',', count[1] += *q == ';', count[2] += *q == '\t';
        }
        ps->sep = count[1] > count[0] && count[1] > count[2] ? ';'
                : count[2] > count[0] && count[2] > count[1] ? '\t' : ',';
    }
    out->sep = ps->sep;
    for (const char *const *t = ps->na; *t; t++) { // trimmed as cells are, by the separator
        const char *tok = *t;
        size_t k = strlen(tok);
        trim(ps, &tok, &k);
        if (k == 0) ps->na_empty = true;
        else ps->na_first[(uint8_t)tok[0] >> 3] |= (uint8_t)(1u << ((uint8_t)tok[0] & 7));
    }
    while (end > p && (end[-1] == '\n' || end[-1] == '\r' || is_space(ps, end[-1]))) end--;
    if (p == end)
        return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: empty file: a header line is needed",
                         ps->name);
    ps->p = p;
    ps->end = end;
    kn_status st = read_header(ps, out);
    if (st != KN_OK) return st;
    const char *body = ps->p;
    int64_t body_line = ps->line;
    if (body == end)
        return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: no data rows after the header", ps->name);
    /* Room for the rows: each but the last ends with a '\n' and holds cols - 1 separators,
     * so there are at most newlines + 1 of them and at most body bytes / cols + 1. */
    size_t body_len = (size_t)(end - body), newlines = 0;
    for (const char *c = body; (c = memchr(c, '\n', (size_t)(end - c))) != NULL; c++) newlines++;
    size_t by_width = body_len / (size_t)out->cols;
    int64_t cap = (int64_t)(newlines < by_width ? newlines : by_width) + 1;
    if (opts->max_rows > 0 && opts->max_rows < cap) cap = opts->max_rows;
    size_t size;
    if (!kn__mul_size((size_t)cap, (size_t)out->cols, &size) || !kn__mul_size(size, sizeof(float), &size))
        return kn__error(ps->ctx, KN_ERR_OUT_OF_MEMORY, "%s: the table is too large", ps->name);
    out->values = kn__alloc(ps->ctx, size); // (cap, cols)
    out->lines = kn__alloc(ps->ctx, (size_t)cap * sizeof *out->lines);
    if (!out->values || !out->lines)
        return kn__error(ps->ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes for "
                         "%lld x %lld cells", ps->name, size, (long long)cap, (long long)out->cols);
    size_t text_bytes = 0;
    st = read_rows(ps, out, cap, NULL, &text_bytes);
    if (st != KN_OK) return st;
    if (out->rows == cap && ps->p < end && cap != opts->max_rows) // cannot happen: see above
        return kn__error(ps->ctx, KN_ERR_FORMAT, "%s: more rows than the text can hold", ps->name);
    for (int64_t j = 0; j < out->cols; j++) // categorical: no cell has a value
        if (!out->columns[j].numeric)
            for (int64_t i = 0; i < out->rows; i++) out->values[i * out->cols + j] = NAN;
    if (!opts->keep_text) return KN_OK;
    /* Pass 2 over the rows read: the texts, in one block after the (rows, cols) pointers. */
    if (!kn__mul_size((size_t)out->rows * (size_t)out->cols, sizeof(char *), &size) ||
        !kn__add_size(size, text_bytes, &size))
        return kn__error(ps->ctx, KN_ERR_OUT_OF_MEMORY, "%s: the table is too large", ps->name);
    out->cells = kn__alloc(ps->ctx, size);
    if (!out->cells)
        return kn__error(ps->ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes for "
                         "the cells' text", ps->name, size);
    ps->end = ps->p;
    ps->p = body;
    ps->line = body_line;
    return read_rows(ps, out, out->rows, out->cells, &text_bytes);
}

kn_status kn__csv_parse(kn_ctx *ctx, const char *text, size_t len, const char *name,
                        const kn__csv_opts *opts, kn__csv *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!ctx || !out || (!text && len))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: kn__csv_parse: NULL argument", name);
    kn__csv_opts defaults = {0};
    if (!opts) opts = &defaults;
    char sep = opts->sep;
    if (sep == '"' || sep == ' ' || sep == '\r' || sep == '\n' || opts->max_rows < 0)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: kn__csv_parse: bad option (sep "
                         "0x%02x, max_rows %lld)", name, (unsigned)(uint8_t)sep,
                         (long long)opts->max_rows);
    if ((uint64_t)len > KN__CSV_MAX_FILE)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: %zu bytes of text are over the 4 GiB limit",
                         name, len);
    csv_parser ps = {.ctx = ctx, .name = name, .sep = sep, .na = opts->na ? opts->na : default_na};
    size_t scratch = (len < KN__CSV_MAX_CELL ? len : KN__CSV_MAX_CELL) + 1;
    ps.scratch = kn__alloc(ctx, scratch);
    if (!ps.scratch)
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", name, scratch);
    kn_status st = csv_parse(&ps, text ? text : "", len, opts, out);
    kn__free(ctx, ps.scratch);
    if (st != KN_OK) kn__csv_free(ctx, out);
    return st;
}

kn_status kn__csv_read(kn_ctx *ctx, const char *path, const kn__csv_opts *opts, kn__csv *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!ctx || !path || !out)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "kn__csv_read: NULL argument");
    uint8_t *buf;
    size_t got;
    kn_status st = kn__read_file(ctx, path, KN__CSV_MAX_FILE, &buf, &got);
    if (st != KN_OK) return st;
    st = kn__csv_parse(ctx, (const char *)buf, got, path, opts, out);
    kn__free(ctx, buf);
    return st;
}

void kn__csv_free(kn_ctx *ctx, kn__csv *csv) {
    if (!csv) return;
    kn__free(ctx, csv->columns);
    kn__free(ctx, csv->values);
    kn__free(ctx, csv->lines);
    kn__free(ctx, csv->cells);
    memset(csv, 0, sizeof *csv);
}

int64_t kn__csv_column_index(const kn__csv *csv, const char *name) {
    if (!csv || !name) return -1;
    for (int64_t j = 0; j < csv->cols; j++)
        if (strcmp(csv->columns[j].name, name) == 0) return j;
    return -1;
}
