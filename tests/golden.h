/* golden.h — reading the reference values the tests/golden/ scripts recorded: a text file of records
 * "name v v v ..." (one a line). read_all loads the whole file (NULL if it cannot); get finds
 * a record of the file loaded into `golden` and reads its numbers. */
#ifndef KN_TEST_GOLDEN_H
#define KN_TEST_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static char *golden;

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

/* Reads record "name v v v" into out (at most max); returns the count (0: missing). */
static int get(const char *name, double *out, int max) {
    size_t len = strlen(name);
    for (const char *line = golden; line && *line;) {
        if (strncmp(line, name, len) == 0 && line[len] == ' ') {
            const char *p = line + len;
            int n = 0;
            while (n < max && *p && *p != '\n') {
                char *end;
                double v = strtod(p, &end);
                if (end == p) break;
                out[n++] = v;
                p = end;
            }
            return n;
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    return 0;
}

#ifdef KN_TEST_CHECK_H /* with check.h included first */
/* Record name's numbers as a malloc'd array of exactly n, or NULL with a failure counted. */
__attribute__((unused)) static double *golden_record(const char *name, int64_t n) {
    double *v = malloc((size_t)(n + 1) * sizeof *v);
    int got = v ? get(name, v, (int)n + 1) : 0;
    CHECK(got == n, "%s: %d numbers in the golden file, expected %lld", name, got, (long long)n);
    if (got != n) {
        free(v);
        return NULL;
    }
    return v;
}
#endif

#endif
