/* file_test.h — what the readers' tests (test_idx, test_image, test_csv) share: a CHECK
 * that prints the failed condition and counts it, a counting allocator to prove that
 * nothing leaks and that a failure at any allocation is reported (fail_at > 0 fails that
 * one; largest: the biggest request seen, so a huge declared size is seen to allocate
 * nothing large), and paths inside the test's temporary directory (dir, made by mkdtemp
 * in the test's main). */
#ifndef KN_TEST_FILE_TEST_H
#define KN_TEST_FILE_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int failures;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

typedef struct { long count, live, fail_at; size_t largest; } counting;

static void *counting_alloc(void *user, size_t size, size_t align) {
    counting *c = user;
    if (size > c->largest) c->largest = size;
    if (c->fail_at > 0 && ++c->count == c->fail_at) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1) != 0) return NULL;
    c->live++;
    return p;
}

static void counting_free(void *user, void *ptr) {
    ((counting *)user)->live--;
    free(ptr);
}

static char dir[64];

/* name inside dir (a static buffer: valid until the next call) */
static char *path_of(const char *name) {
    static char buf[160];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

#endif
