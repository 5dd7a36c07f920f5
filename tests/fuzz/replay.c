/* replay.c — runs a fuzz target once on each file named on the command line, so ctest can
 * replay a fuzz corpus with any compiler (the fuzzing itself needs clang's libFuzzer). Each
 * input is the whole file in a buffer of exactly its size, as libFuzzer passes it, so an
 * AddressSanitizer build catches a read one byte past the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file's bytes (malloc'd, *n of them; a 1-byte buffer for an empty file), or NULL. */
static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    uint8_t *exact = malloc(len ? len : 1);
    if (exact)
        for (size_t i = 0; i < len; i++) exact[i] = buf[i];
    free(buf);
    *n = len;
    return exact;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        size_t n = 0;
        uint8_t *buf = read_all(argv[i], &n);
        if (!buf) { fprintf(stderr, "replay: cannot read %s\n", argv[i]); return 1; }
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    printf("replayed %d inputs\n", argc - 1);
    return 0;
}
