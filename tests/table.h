/* table.h — the classical-model tests' data (test_tree.c, test_hgb.c): a CSV of tests/data
 * as float32 features with class labels or targets, and make_tree.py's synthetic set; get1
 * reads one number of the golden file loaded into `golden` (golden.h). */
#ifndef KN_TEST_TABLE_H
#define KN_TEST_TABLE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "classic/classic.h"
#include "data/csv.h"
#include "golden.h"

static double get1(const char *name) {
    double v = NAN;
    CHECK(get(name, &v, 1) == 1, "golden record %s missing", name);
    return v;
}

typedef struct {
    int64_t n, d;
    float *x;        /* (n, d) */
    int32_t *y;      /* (n) or NULL */
    float *t;        /* (n) or NULL */
    int n_classes;
    char *names[64]; /* feature names */
} table;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A CSV of tests/data: the last column is the label (classes numbered in sorted order of
 * their text, as numpy's unique) or, for regression, the target. */
static table load(kn_ctx *ctx, const char *name, bool regression) {
    table tb = {0};
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s.csv", name);
    kn__csv csv;
    if (kn__csv_read(ctx, path, &(kn__csv_opts){.keep_text = true}, &csv)) {
        printf("FAIL cannot read %s: %s\n", path, kn_last_error(ctx));
        failures++;
        return tb;
    }
    tb.n = csv.rows;
    tb.d = csv.cols - 1;
    tb.x = malloc(sizeof(float) * (size_t)(tb.n * tb.d));
    for (int64_t i = 0; i < tb.n; i++)
        for (int64_t j = 0; j < tb.d; j++) tb.x[i * tb.d + j] = csv.values[i * csv.cols + j];
    for (int64_t j = 0; j < tb.d && j < 64; j++) tb.names[j] = strdup(csv.columns[j].name);
    if (regression) {
        tb.t = malloc(sizeof(float) * (size_t)tb.n);
        for (int64_t i = 0; i < tb.n; i++) tb.t[i] = csv.values[i * csv.cols + tb.d];
    } else {
        char **labels = malloc(sizeof(char *) * (size_t)tb.n);
        for (int64_t i = 0; i < tb.n; i++) labels[i] = csv.cells[i * csv.cols + tb.d];
        char **sorted = malloc(sizeof(char *) * (size_t)tb.n);
        memcpy(sorted, labels, sizeof(char *) * (size_t)tb.n);
        qsort(sorted, (size_t)tb.n, sizeof(char *), cmp_str);
        int k = 0;
        for (int64_t i = 0; i < tb.n; i++)
            if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0) sorted[k++] = sorted[i];
        tb.n_classes = k;
        tb.y = malloc(sizeof(int32_t) * (size_t)tb.n);
        for (int64_t i = 0; i < tb.n; i++)
            for (int c = 0; c < k; c++)
                if (strcmp(labels[i], sorted[c]) == 0) tb.y[i] = c;
        free(labels);
        free(sorted);
    }
    kn__csv_free(ctx, &csv);
    return tb;
}

static uint64_t lcg_state;
static uint64_t lcg(void) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lcg_state >> 33;
}

/* make_tree.py's synth(): 5000 x 20 features of 200 levels, a class and an integer target. */
static table synth(void) {
    table tb = {.n = 5000, .d = 20, .n_classes = 3};
    tb.x = malloc(sizeof(float) * 5000 * 20);
    tb.y = malloc(sizeof(int32_t) * 5000);
    tb.t = malloc(sizeof(float) * 5000);
    lcg_state = 12345;
    for (int i = 0; i < 5000; i++) {
        int64_t v[20];
        for (int j = 0; j < 20; j++) {
            v[j] = (int64_t)(lcg() % 200);
            tb.x[i * 20 + j] = (float)v[j] / 8.0f;
        }
        int64_t s = v[0] + v[1] - v[2] + (int64_t)(lcg() % 120);
        tb.y[i] = (s > 170) + (s > 250);
        tb.t[i] = (float)(2 * v[0] + v[3] - v[4] + (int64_t)(lcg() % 50));
    }
    for (int j = 0; j < 20; j++) {
        char nm[8];
        snprintf(nm, sizeof nm, "f%d", j);
        tb.names[j] = strdup(nm);
    }
    return tb;
}

static void table_free(table *tb) {
    free(tb->x);
    free(tb->y);
    free(tb->t);
    for (int j = 0; j < 64; j++) free(tb->names[j]);
}

static kn__xy xy_of(const table *tb, bool regression) {
    return (kn__xy){.x = tb->x, .n = tb->n, .d = tb->d, .y = regression ? NULL : tb->y,
                    .n_classes = regression ? 0 : tb->n_classes, .t = regression ? tb->t : NULL};
}

#endif
