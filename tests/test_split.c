/* test_split.c — kn_dataset_fold (k-fold: a partition, stratified) and kn_dataset_split:
 * each class gives its share (rounded) to the test side, the same seed gives the same split
 * and another seed another, rows keep their order and their names, and fractions that leave
 * a side empty are refused. */
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "check.h"

enum { N = 103, F = 2 };

int main(void) {
    kn_ctx *ctx;
    kn_ctx_new(NULL, &ctx);
    float x[N * F];
    int32_t y[N];
    for (int i = 0; i < N; i++) { /* class 2 is rare: 10 rows */
        y[i] = i < 10 ? 2 : i % 2;
        x[i * F] = (float)i; /* the row's number, to follow it */
        x[i * F + 1] = (float)y[i];
    }
    kn_dataset *ds, *tr, *te, *tr2, *te2;
    kn_dataset_from_arrays(ctx, x, y, N, F, 3, &ds);
    kn_status st = kn_dataset_split(ds, 0.2, 7, &tr, &te);
    CHECK(st == KN_OK, "split: %s", kn_last_error(ctx));
    if (!st) {
        int count[2][3] = {{0}};
        for (int s = 0; s < 2; s++) {
            const kn_dataset *d = s ? te : tr;
            const int32_t *l = kn_dataset_labels(d);
            const float *dx = kn_dataset_x(d);
            for (int64_t i = 0; i < kn_dataset_size(d); i++) {
                count[s][l[i]]++;
                CHECK((int32_t)dx[i * F + 1] == l[i], "row %lld's label travels with it", (long long)i);
                if (i) CHECK(dx[i * F] > dx[(i - 1) * F], "rows keep their order");
            }
        }
        /* class 0: 47 rows -> 9 test (9.4 rounds down); class 1: 46 -> 9; class 2: 10 -> 2 */
        CHECK(count[1][0] == 9 && count[1][1] == 9 && count[1][2] == 2, "test counts %d %d %d (9 9 2)", count[1][0],
              count[1][1], count[1][2]);
        CHECK(count[0][0] + count[1][0] == 47 && count[0][2] + count[1][2] == 10, "every row on one side");
        CHECK((kn_dataset_label_name(te, 2) == NULL) == (kn_dataset_label_name(ds, 2) == NULL), "names as the source's");
        kn_dataset_split(ds, 0.2, 7, &tr2, &te2);
        CHECK(kn_dataset_size(te2) == kn_dataset_size(te) &&
                  memcmp(kn_dataset_x(te2), kn_dataset_x(te), sizeof(float) * (size_t)(kn_dataset_size(te) * F)) == 0,
              "same seed, same split");
        kn_dataset_free(tr2);
        kn_dataset_free(te2);
        kn_dataset_split(ds, 0.2, 8, &tr2, &te2);
        CHECK(memcmp(kn_dataset_x(te2), kn_dataset_x(te), sizeof(float) * (size_t)(kn_dataset_size(te) * F)) != 0,
              "another seed, another split");
        kn_dataset_free(tr2);
        kn_dataset_free(te2);
        kn_dataset_free(tr);
        kn_dataset_free(te);
    }
    /* k-fold: the 5 test folds partition the rows; each holds 2 of the rare class's 10 */
    int seen_rows[N] = {0};
    for (int k = 0; k < 5; k++) {
        st = kn_dataset_fold(ds, 5, k, 3, &tr, &te);
        CHECK(st == KN_OK && kn_dataset_size(tr) + kn_dataset_size(te) == N, "fold %d: %s", k, kn_last_error(ctx));
        if (st) continue;
        int rare = 0;
        for (int64_t i = 0; i < kn_dataset_size(te); i++) {
            seen_rows[(int)kn_dataset_x(te)[i * F]]++;
            rare += kn_dataset_labels(te)[i] == 2;
        }
        CHECK(rare == 2, "fold %d holds %d rare rows (2)", k, rare);
        kn_dataset_free(tr);
        kn_dataset_free(te);
    }
    bool partition = true;
    for (int i = 0; i < N; i++) partition &= seen_rows[i] == 1;
    CHECK(partition, "the test folds partition the rows");
    CHECK(kn_dataset_fold(ds, 5, 5, 3, &tr, &te) == KN_ERR_INVALID_ARGUMENT && kn_dataset_fold(ds, 1, 0, 3, &tr, &te) ==
              KN_ERR_INVALID_ARGUMENT,
          "fold out of range refused");
    CHECK(kn_dataset_split(ds, 1.0, 7, &tr, &te) == KN_ERR_INVALID_ARGUMENT && !tr && !te, "fraction 1 refused");
    CHECK(kn_dataset_split(ds, 0.001, 7, &tr, &te) == KN_ERR_INVALID_ARGUMENT && strstr(kn_last_error(ctx), "empty"),
          "a split leaving the test side empty refused: %s", kn_last_error(ctx));
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
    printf(failures ? "%d check(s) failed\n" : "split checks passed\n", failures);
    return failures ? 1 : 0;
}
