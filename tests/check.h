/* check.h — the tests' one assertion: CHECK(cond, "fmt", ...) prints "FAIL file:line: why"
 * and counts the failure in `failures` (a test's main returns failures != 0), instead of
 * stopping, so one run reports every broken case. */
#ifndef KN_TEST_CHECK_H
#define KN_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);           \
            printf(__VA_ARGS__);                                  \
            printf("\n");                                         \
            failures++;                                           \
        }                                                         \
    } while (0)

/* A test's last line and its exit status: "all <what> checks passed", or how many failed. */
static inline int checks_done(const char *what) {
    if (failures) printf("%d check(s) failed\n", failures);
    else printf("all %s checks passed\n", what);
    return failures ? 1 : 0;
}

#endif
