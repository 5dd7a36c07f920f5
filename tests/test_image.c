/* test_image.c — the PNG/PGM reader on small files written to a temporary directory: PNGs
 * written with libpng (grey 1/8/16-bit, RGB, RGBA, palette with tRNS, grey+alpha, Adam7),
 * PGM P5 (maxval 255, 65535) and P2, decoded pixel for pixel; and bad files, each of which
 * must give the right status and a one-line message naming the file. Also checks that
 * nothing leaks, that huge declared sizes allocate nothing large, and that an allocation
 * failure at any point (libpng's included) is reported, not crashed on. */
#define _POSIX_C_SOURCE 200809L
#include "data/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "file_test.h"

static const char *written[64]; // every file made, removed at the end
static int n_written;

static void write_file(const char *name, const void *bytes, size_t len) {
    FILE *f = fopen(path_of(name), "wb");
    CHECK(f && fwrite(bytes, 1, len, f) == len);
    if (f) fclose(f);
    if (n_written < 64) written[n_written++] = name;
}

static size_t read_whole(const char *name, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path_of(name), "rb");
    size_t n = f ? fread(buf, 1, cap, f) : 0;
    if (f) fclose(f);
    return n;
}

/* A PNG written by libpng; packed holds the rows as libpng lays them out (sub-byte samples
 * packed high bits first, 16-bit big-endian), rowbytes each. */
typedef struct png_spec {
    uint32_t width, height;
    int bit_depth, color_type, interlace;
    const png_color *palette;
    int n_palette;
    const uint8_t *trans; // palette alpha, n_trans entries
    int n_trans;
} png_spec;

static void write_png(const char *name, const png_spec *s, const uint8_t *packed) {
    FILE *f = fopen(path_of(name), "wb");
    CHECK(f != NULL);
    if (!f) return;
    if (n_written < 64) written[n_written++] = name;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *rows = malloc(s->height * sizeof *rows);
    CHECK(png && info && rows);
    if (png && info && rows && !setjmp(png_jmpbuf(png))) {
        png_init_io(png, f);
        png_set_IHDR(png, info, s->width, s->height, s->bit_depth, s->color_type,
                     s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        if (s->palette) png_set_PLTE(png, info, s->palette, s->n_palette);
        if (s->trans) png_set_tRNS(png, info, s->trans, s->n_trans, NULL);
        png_write_info(png, info);
        size_t rowbytes = png_get_rowbytes(png, info);
        for (uint32_t y = 0; y < s->height; y++) rows[y] = (png_bytep)packed + y * rowbytes;
        png_write_image(png, rows);
        png_write_end(png, NULL);
    } else {
        CHECK(!"libpng failed to write a test file");
    }
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

/* Reads name, which must decode to rows x cols pixels equal to want. */
static void check_image(kn_ctx *ctx, const char *name, int64_t rows, int64_t cols,
                        const uint8_t *want) {
    kn__image img;
    kn_status st = kn__image_read(ctx, path_of(name), &img);
    if (st != KN_OK) fprintf(stderr, "%s: %s\n", name, kn_last_error(ctx));
    CHECK(st == KN_OK);
    if (img.rows != rows || img.cols != cols)
        fprintf(stderr, "%s: got %lld x %lld, want %lld x %lld\n", name, (long long)img.rows,
                (long long)img.cols, (long long)rows, (long long)cols);
    CHECK(img.rows == rows && img.cols == cols && img.data != NULL);
    for (int64_t i = 0; st == KN_OK && img.data && img.rows == rows && img.cols == cols &&
                        i < rows * cols; i++)
        if (img.data[i] != want[i]) {
            fprintf(stderr, "%s: pixel %lld is %u, want %u\n", name, (long long)i,
                    img.data[i], want[i]);
            failures++;
            break;
        }
    kn__image_free(ctx, &img);
    CHECK(img.data == NULL && img.rows == 0 && img.cols == 0);
}

/* Reads a file that must fail with `want`, a one-line message naming it and holding `needle`. */
static void check_bad(kn_ctx *ctx, const char *name, kn_status want, const char *needle) {
    kn__image img = {.rows = 7, .cols = 7};
    kn_status st = kn__image_read(ctx, path_of(name), &img);
    const char *msg = kn_last_error(ctx);
    if (st != want || !strstr(msg, needle))
        fprintf(stderr, "%s: got %s \"%s\", want %s containing \"%s\"\n", name,
                kn_status_name(st), msg, kn_status_name(want), needle);
    CHECK(st == want);
    CHECK(strstr(msg, needle) != NULL);
    CHECK(strstr(msg, path_of(name)) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    CHECK(img.data == NULL && img.rows == 0 && img.cols == 0);
    kn__image_free(ctx, &img); /* freeing a failed result is harmless */
}

/* Appends a PNG chunk (length, type, data, CRC) at b; returns its size. */
static size_t put_chunk(uint8_t *b, const char *type, const uint8_t *data, uint32_t len) {
    b[0] = (uint8_t)(len >> 24), b[1] = (uint8_t)(len >> 16), b[2] = (uint8_t)(len >> 8), b[3] = (uint8_t)len;
    memcpy(b + 4, type, 4);
    if (len) memcpy(b + 8, data, len);
    uint32_t crc = (uint32_t)crc32(0, b + 4, len + 4);
    b[8 + len] = (uint8_t)(crc >> 24), b[9 + len] = (uint8_t)(crc >> 16);
    b[10 + len] = (uint8_t)(crc >> 8), b[11 + len] = (uint8_t)crc;
    return 12 + len;
}

/* Offset of the first chunk of `type` in a PNG (0 if none). */
static size_t find_chunk(const uint8_t *b, size_t len, const char *type) {
    for (size_t at = 8; at + 12 <= len;) {
        uint32_t n = (uint32_t)b[at] << 24 | (uint32_t)b[at + 1] << 16 | (uint32_t)b[at + 2] << 8 | b[at + 3];
        if (memcmp(b + at + 4, type, 4) == 0) return at;
        at += 12 + (size_t)n;
    }
    return 0;
}

static uint8_t luma(int r, int g, int b) { return (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000); }

int main(void) {
    strcpy(dir, "/tmp/kiln_test_image_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    counting count = {0};
    kn_allocator alloc = {counting_alloc, counting_free, &count};
    kn_ctx *ctx = NULL;
    CHECK(kn_ctx_new(&(kn_ctx_opts){.allocator = &alloc}, &ctx) == KN_OK && ctx);
    if (!ctx) return 1;
    long live_at_start = count.live; /* the context itself */
    static uint8_t buf[8192], want[1024], pix[1024];

    /* 8-bit grey 28x28, as MNIST: byte for byte. */
    for (int i = 0; i < 28 * 28; i++) pix[i] = (uint8_t)(i * 7);
    write_png("grey8.png", &(png_spec){28, 28, 8, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0}, pix);
    check_image(ctx, "grey8.png", 28, 28, pix);

    /* RGB 3x2 by BT.601 luma, rounded: red 76.245, green 149.685, blue 29.07, white,
     * black, (10, 200, 30) 124.31. */
    static const uint8_t rgb[] = {255, 0, 0, 0, 255, 0, 0, 0, 255,
                                  255, 255, 255, 0, 0, 0, 10, 200, 30};
    write_png("rgb.png", &(png_spec){3, 2, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0}, rgb);
    check_image(ctx, "rgb.png", 2, 3, (const uint8_t[]){76, 150, 29, 255, 0, 124});

    /* RGBA: alpha composites on black. 255 * 128 / 255 = 128; 76 * 51 / 255 = 15.2. */
    static const uint8_t rgba[] = {255, 255, 255, 128, 255, 0, 0, 51, 9, 9, 9, 0, 40, 40, 40, 255};
    write_png("rgba.png", &(png_spec){4, 1, 8, PNG_COLOR_TYPE_RGB_ALPHA, 0, NULL, 0, NULL, 0}, rgba);
    check_image(ctx, "rgba.png", 1, 4, (const uint8_t[]){128, 15, 0, 40});

    /* 16-bit grey, big-endian: rounded to V / 257 (0x8080 = 128 x 257; 0x1234 = 18.1 x 257;
     * 0x12ff = 18.9 x 257). */
    static const uint8_t grey16[] = {0x00, 0x00, 0xff, 0xff, 0x80, 0x80, 0x12, 0x34, 0x12, 0xff};
    static const uint8_t grey16_want[] = {0, 255, 128, 18, 19};
    write_png("grey16.png", &(png_spec){5, 1, 16, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0}, grey16);
    check_image(ctx, "grey16.png", 1, 5, grey16_want);

    /* 1-bit grey 9x2: 0 -> 0, 1 -> 255. */
    static const uint8_t grey1[] = {0xaa, 0x80, 0xff, 0x80};
    write_png("grey1.png", &(png_spec){9, 2, 1, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0}, grey1);
    for (int i = 0; i < 9; i++) want[i] = i % 2 ? 0 : 255, want[9 + i] = 255;
    check_image(ctx, "grey1.png", 2, 9, want);

    /* 4-bit palette 5x3 with tRNS: index 3 is white at alpha 128, index 4 white at alpha 0. */
    static const png_color palette[] = {{0, 0, 0}, {255, 0, 0}, {10, 200, 30}, {255, 255, 255},
                                        {255, 255, 255}};
    static const uint8_t trans[] = {255, 255, 255, 128, 0};
    static const uint8_t pal4[] = {0x01, 0x23, 0x40, 0x12, 0x34, 0x00, 0x02, 0x34, 0x10};
    static const uint8_t pal_want[] = {0, 76, 124, 128, 0, 76, 124, 128, 0, 0, 0, 124, 128, 0, 76};
    write_png("palette.png", &(png_spec){5, 3, 4, PNG_COLOR_TYPE_PALETTE, 0, palette, 5, trans, 5}, pal4);
    check_image(ctx, "palette.png", 3, 5, pal_want);

    /* Grey + alpha: 200 at 255, 200 at 0, 100 at 128 (50.2), 255 at 51 (51). */
    static const uint8_t ga[] = {200, 255, 200, 0, 100, 128, 255, 51};
    write_png("grey_alpha.png", &(png_spec){2, 2, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, NULL, 0, NULL, 0}, ga);
    check_image(ctx, "grey_alpha.png", 2, 2, (const uint8_t[]){200, 0, 50, 51});

    /* Adam7-interlaced RGB: the seven passes reassemble to the same picture, at sizes where
     * some passes are empty (1x1, 3x2) and where all have pixels. */
    static const uint32_t adam7_sizes[4][2] = {{9, 7}, {1, 1}, {3, 2}, {17, 13}}; // cols, rows
    static const char *const adam7_names[4] = {"adam7.png", "adam7_1x1.png", "adam7_3x2.png",
                                               "adam7_17x13.png"};
    for (int k = 0; k < 4; k++) {
        uint32_t w = adam7_sizes[k][0], h = adam7_sizes[k][1];
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                uint8_t *p = pix + 3 * (y * w + x);
                p[0] = (uint8_t)(x * 15), p[1] = (uint8_t)(y * 19), p[2] = (uint8_t)((x + y) * 8);
                want[y * w + x] = luma(p[0], p[1], p[2]);
            }
        write_png(adam7_names[k], &(png_spec){w, h, 8, PNG_COLOR_TYPE_RGB, 1, NULL, 0, NULL, 0}, pix);
        check_image(ctx, adam7_names[k], h, w, want);
    }

    /* The content decides, not the name; and parsing from memory with no name. */
    size_t grey8_len = read_whole("grey8.png", buf, sizeof buf);
    write_file("really_a_png.pgm", buf, grey8_len);
    for (int i = 0; i < 28 * 28; i++) pix[i] = (uint8_t)(i * 7);
    check_image(ctx, "really_a_png.pgm", 28, 28, pix);
    kn__image img;
    CHECK(kn__image_parse(ctx, buf, grey8_len, NULL, &img) == KN_OK && img.rows == 28);
    kn__image_free(ctx, &img);
    CHECK(kn__image_parse(ctx, buf, 40, NULL, &img) == KN_ERR_FORMAT);
    CHECK(strstr(kn_last_error(ctx), "<memory>") != NULL && img.data == NULL);

    /* PGM P5, maxval 255, comments in the header: byte for byte. */
    static const char p5_head[] = "P5\n# made by test_image\n3 # width\n2\n# maxval next\n255\n";
    static const uint8_t p5_pix[] = {0, 1, 127, 128, 254, 255};
    size_t n = strlen(p5_head);
    memcpy(buf, p5_head, n);
    memcpy(buf + n, p5_pix, sizeof p5_pix);
    write_file("p5.pgm", buf, n + sizeof p5_pix);
    check_image(ctx, "p5.pgm", 2, 3, p5_pix);

    /* P5 maxval 65535: two bytes big-endian, rounded to V / 257 as for 16-bit PNG. */
    n = (size_t)sprintf((char *)buf, "P5 5 1 65535\n");
    memcpy(buf + n, grey16, sizeof grey16);
    write_file("p5_16.pgm", buf, n + sizeof grey16);
    check_image(ctx, "p5_16.pgm", 1, 5, grey16_want);

    /* P2, maxval 100, a comment among the samples: v * 255 / 100 rounded. */
    static const char p2[] = "P2\n# ascii\n4 2\n100\n0 50 100 25\n1 99 # why not\n 10\t75\n";
    write_file("p2.pgm", p2, strlen(p2));
    check_image(ctx, "p2.pgm", 2, 4, (const uint8_t[]){0, 128, 255, 64, 3, 252, 26, 191});

    CHECK(count.live == live_at_start);

    /* ------------------------------------------------------------ bad files */
    check_bad(ctx, "no_such_file.png", KN_ERR_IO, "No such file");
    CHECK(kn__image_read(ctx, dir, &img) == KN_ERR_IO && strstr(kn_last_error(ctx), dir));

    grey8_len = read_whole("grey8.png", buf, sizeof buf);
    CHECK(grey8_len > 100);
    write_file("truncated.png", buf, grey8_len / 2);
    check_bad(ctx, "truncated.png", KN_ERR_FORMAT, "truncated");
    write_file("signature_only.png", buf, 8);
    check_bad(ctx, "signature_only.png", KN_ERR_FORMAT, "truncated");
    write_file("no_iend.png", buf, grey8_len - 12);
    check_bad(ctx, "no_iend.png", KN_ERR_FORMAT, "truncated");

    size_t idat = find_chunk(buf, grey8_len, "IDAT");
    CHECK(idat > 0);
    uint32_t idat_len = (uint32_t)buf[idat + 2] << 8 | buf[idat + 3];
    CHECK(idat_len > 20);
    buf[idat + 8 + idat_len] ^= 0x40; // a flipped bit in the IDAT's CRC
    write_file("bad_crc.png", buf, grey8_len);
    check_bad(ctx, "bad_crc.png", KN_ERR_FORMAT, "CRC");
    buf[idat + 8 + idat_len] ^= 0x40;
    /* The zlib stream broken but the CRC made right: inflate must catch it. */
    memset(buf + idat + 8 + 2, 0xff, 16);
    put_chunk(buf + idat, "IDAT", buf + idat + 8, idat_len);
    write_file("bad_idat.png", buf, grey8_len);
    check_bad(ctx, "bad_idat.png", KN_ERR_FORMAT, "bad PNG");

    /* A PNG whose IHDR declares 100000 x 100000 (also 8192 x 8193, each side within the limit
     * but over 64 Mpixels; and 1 x 0): refused before any large allocation. */
    static const uint32_t sizes[3][2] = {{100000, 100000}, {8192, 8193}, {1, 0}};
    static const char *const huge_names[3] = {"huge.png", "too_many_pixels.png", "zero_height.png"};
    static const char *const huge_needles[3] = {"over the limit", "over the limit", "IHDR"};
    for (int k = 0; k < 3; k++) {
        uint8_t ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0};
        for (int j = 0; j < 2; j++)
            for (int b = 0; b < 4; b++) ihdr[4 * j + b] = (uint8_t)(sizes[k][j] >> (24 - 8 * b));
        static const uint8_t empty_zlib[] = {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
        size_t len = 8;
        memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
        len += put_chunk(buf + len, "IHDR", ihdr, 13);
        len += put_chunk(buf + len, "IDAT", empty_zlib, sizeof empty_zlib);
        len += put_chunk(buf + len, "IEND", NULL, 0);
        write_file(huge_names[k], buf, len);
        count.largest = 0;
        check_bad(ctx, huge_names[k], KN_ERR_FORMAT, huge_needles[k]);
        CHECK(count.largest < (1u << 20));
    }

    static const char garbage[] = "this is not a picture at all";
    write_file("garbage.png", garbage, strlen(garbage));
    check_bad(ctx, "garbage.png", KN_ERR_FORMAT, "not a PNG or PGM");
    write_file("empty.png", garbage, 0);
    check_bad(ctx, "empty.png", KN_ERR_FORMAT, "not a PNG or PGM");
    write_file("ppm.ppm", "P6 1 1 255\n\0\0\0", 14);
    check_bad(ctx, "ppm.ppm", KN_ERR_FORMAT, "P6 images are not supported");

    memcpy(buf, p5_head, strlen(p5_head));
    memcpy(buf + strlen(p5_head), p5_pix, 4);
    write_file("short_pixels.pgm", buf, strlen(p5_head) + 4);
    check_bad(ctx, "short_pixels.pgm", KN_ERR_FORMAT, "truncated PGM: 3 x 2 pixels need 6 bytes, the file has 4");
    write_file("no_pixels.pgm", "P5 3 2 255", 10);
    check_bad(ctx, "no_pixels.pgm", KN_ERR_FORMAT, "truncated PGM");
    write_file("zero_width.pgm", "P5 0 2 255\n", 11);
    check_bad(ctx, "zero_width.pgm", KN_ERR_FORMAT, "a dimension is 0");
    count.largest = 0;
    write_file("huge.pgm", "P5\n100000 100000\n255\n\0\0\0\0", 25);
    check_bad(ctx, "huge.pgm", KN_ERR_FORMAT, "100000 x 100000 (width x height) is over the limit");
    CHECK(count.largest < (1u << 20));
    write_file("huge_number.pgm", "P2 12345678901234567890 1 255\n", 30);
    check_bad(ctx, "huge_number.pgm", KN_ERR_FORMAT, "width is over");
    write_file("maxval0.pgm", "P2 1 1 0\n0\n", 11);
    check_bad(ctx, "maxval0.pgm", KN_ERR_FORMAT, "maxval 0 is not in 1..65535");
    write_file("maxval_big.pgm", "P2 1 1 65536\n0\n", 15);
    check_bad(ctx, "maxval_big.pgm", KN_ERR_FORMAT, "maxval 65536");
    write_file("no_maxval.pgm", "P2 1 1", 6);
    check_bad(ctx, "no_maxval.pgm", KN_ERR_FORMAT, "ends before the maxval");
    write_file("p2_above.pgm", "P2 2 1 100\n50 101\n", 18);
    check_bad(ctx, "p2_above.pgm", KN_ERR_FORMAT, "sample 101 at row 0, col 1 is above maxval 100");
    write_file("p5_above.pgm", "P5 2 1 100\n\x10\xc8", 13);
    check_bad(ctx, "p5_above.pgm", KN_ERR_FORMAT, "sample 200 at row 0, col 1 is above maxval 100");
    write_file("p2_short.pgm", "P2 2 2 255\n1 2 3", 16); // too short for 4 samples
    check_bad(ctx, "p2_short.pgm", KN_ERR_FORMAT, "2 x 2 samples need at least 8 bytes, the file has 6");
    write_file("p2_spaces.pgm", "P2 2 2 255\n1 2 3     ", 21); // long enough, yet no 4th sample
    check_bad(ctx, "p2_spaces.pgm", KN_ERR_FORMAT, "ends before the sample at row 1, col 1");
    count.largest = 0;
    write_file("p2_huge.pgm", "P2 8192 8192 255\n0 0 0\n", 23); // 64 Mpixels declared
    check_bad(ctx, "p2_huge.pgm", KN_ERR_FORMAT, "truncated PGM");
    CHECK(count.largest < (1u << 20));
    write_file("p2_word.pgm", "P2 2 1 255\n1 two\n", 17);
    check_bad(ctx, "p2_word.pgm", KN_ERR_FORMAT, "expected a decimal number");
    write_file("p2_negative.pgm", "P2 2 1 255\n1 -2\n", 16);
    check_bad(ctx, "p2_negative.pgm", KN_ERR_FORMAT, "expected a decimal number");

    CHECK(count.live == live_at_start); /* every error path freed what it took */

    /* Allocation failure at each point in turn (libpng's own allocations included): an
     * out-of-memory status, no leak, until enough allocations succeed. */
    static const char *const oom_files[] = {"grey8.png", "adam7.png", "palette.png", "p2.pgm"};
    for (size_t f = 0; f < sizeof oom_files / sizeof *oom_files; f++) {
        int reached_ok = 0;
        for (long k = 1; k < 200 && !reached_ok; k++) {
            count.count = 0;
            count.fail_at = k;
            kn_status st = kn__image_read(ctx, path_of(oom_files[f]), &img);
            if (st != KN_OK && st != KN_ERR_OUT_OF_MEMORY)
                fprintf(stderr, "%s, allocation %ld failing: %s\n", oom_files[f], k, kn_last_error(ctx));
            CHECK(st == KN_OK || st == KN_ERR_OUT_OF_MEMORY);
            CHECK(st == KN_OK || img.data == NULL);
            reached_ok = st == KN_OK;
            kn__image_free(ctx, &img);
            CHECK(count.live == live_at_start);
        }
        CHECK(reached_ok);
    }
    count.fail_at = 0;

    kn_ctx_free(ctx);
    for (int i = 0; i < n_written; i++) remove(path_of(written[i]));
    CHECK(rmdir(dir) == 0);
    if (failures) {
        fprintf(stderr, "test_image: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_image: all checks passed\n");
    return 0;
}
