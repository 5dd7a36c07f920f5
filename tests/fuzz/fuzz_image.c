/* fuzz_image.c — libFuzzer target for the image reader (PNG through libpng, PGM P5/P2): any
 * bytes must give a status, never a crash, an out-of-bounds read or a leak.
 * Seeds: tests/fuzz/corpus/image/ (fuzz a copy: libFuzzer adds to the folder it is given). */
// Build: the KILN_FUZZ build (README, Testing) defines FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION;
//        by hand: clang -g -O1 -fsanitize=fuzzer,address,undefined -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
//        -Iinclude -Isrc tests/fuzz/fuzz_image.c src/data/image.c src/core/*.c -lpng -lz -lm -o fuzz_image
// Run:   ./fuzz_image -max_total_time=180 CORPUS_COPY
// FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION makes image.c ignore PNG CRCs and Adler-32
// checksums, so that mutations reach libpng's decoding instead of stopping at its checksums
// (without it nearly every mutated PNG is refused at the first chunk's CRC).
#include "data/image.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(NULL, &ctx) != KN_OK) return 0;
    kn__image img;
    kn_status st = kn__image_parse(ctx, data, size, "fuzz", &img);
    /* A result is either a complete image within the limits or nothing at all. */
    if ((st == KN_OK) != (img.data != NULL)) __builtin_trap();
    if (st == KN_OK && (img.rows < 1 || img.cols < 1 || img.rows > KN__IMAGE_MAX_SIDE ||
                        img.cols > KN__IMAGE_MAX_SIDE || img.rows * img.cols > KN__IMAGE_MAX_PIXELS))
        __builtin_trap();
    /* An error is one line naming the input. */
    const char *msg = kn_last_error(ctx);
    if (st != KN_OK && (!strstr(msg, "fuzz") || strchr(msg, '\n'))) __builtin_trap();
    kn__image_free(ctx, &img);
    kn_ctx_free(ctx);
    return 0;
}
