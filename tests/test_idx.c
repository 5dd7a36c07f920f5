/* test_idx.c — the IDX reader on small files written to a temporary directory: valid
 * images and labels (plain, gzip, multi-member gzip), and every kind of bad file, each of
 * which must give the right status and a one-line message. Also checks that nothing leaks
 * and that an allocation failure at any point is reported, not crashed on. */
#define _POSIX_C_SOURCE 200809L
#include "data/idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "file_test.h"


static void write_file(const char *name, const void *bytes, size_t len) {
    FILE *f = fopen(path_of(name), "wb");
    CHECK(f && fwrite(bytes, 1, len, f) == len);
    if (f) fclose(f);
}

static void write_gz(const char *name, const void *bytes, size_t len) {
    gzFile g = gzopen(path_of(name), "wb");
    CHECK(g && gzwrite(g, bytes, (unsigned)len) == (int)len);
    if (g) gzclose(g);
}

static size_t read_whole(const char *name, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path_of(name), "rb");
    size_t n = f ? fread(buf, 1, cap, f) : 0;
    if (f) fclose(f);
    return n;
}

/* An images file (2 x 3 x 4, bytes 1, 8, 15, ...) or a labels file (5: 0..4). */
static size_t make_images(uint8_t *b) {
    static const uint8_t head[16] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    memcpy(b, head, 16);
    for (int i = 0; i < 24; i++) b[16 + i] = (uint8_t)(1 + 7 * i);
    return 40;
}
static size_t make_labels(uint8_t *b) {
    static const uint8_t lab[13] = {0, 0, 8, 1, 0, 0, 0, 5, 0, 1, 2, 3, 4};
    memcpy(b, lab, sizeof lab);
    return sizeof lab;
}

static void check_images(kn_ctx *ctx, const char *name) {
    kn__idx idx;
    kn_status st = kn__idx_read(ctx, path_of(name), &idx);
    if (st != KN_OK) fprintf(stderr, "%s: %s\n", name, kn_last_error(ctx));
    CHECK(st == KN_OK);
    CHECK(idx.ndim == 3 && idx.dims[0] == 2 && idx.dims[1] == 3 && idx.dims[2] == 4);
    int same = idx.data != NULL;
    for (int i = 0; same && i < 24; i++) same = idx.data[i] == (uint8_t)(1 + 7 * i);
    CHECK(same);
    kn__idx_free(ctx, &idx);
    CHECK(idx.data == NULL && idx.ndim == 0);
}

/* Reads a file that must fail with `want`, a one-line message containing `needle`. */
static void check_bad(kn_ctx *ctx, const char *name, kn_status want, const char *needle) {
    kn__idx idx = {.ndim = 7};
    kn_status st = kn__idx_read(ctx, path_of(name), &idx);
    const char *msg = kn_last_error(ctx);
    if (st != want || !strstr(msg, needle))
        fprintf(stderr, "%s: got %s \"%s\", want %s containing \"%s\"\n", name,
                kn_status_name(st), msg, kn_status_name(want), needle);
    CHECK(st == want);
    CHECK(strstr(msg, needle) != NULL);
    CHECK(strstr(msg, path_of(name)) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    CHECK(idx.data == NULL && idx.ndim == 0);
    kn__idx_free(ctx, &idx); /* freeing a failed result is harmless */
}

int main(void) {
    strcpy(dir, "/tmp/kiln_test_idx_XXXXXX");
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

    uint8_t img[64], lab[16], buf[512];
    size_t img_len = make_images(img), lab_len = make_labels(lab);

    /* Valid files: plain, gzip, gzip with trailing bytes, two gzip members, labels. */
    write_file("images", img, img_len);
    check_images(ctx, "images");
    write_gz("images.gz", img, img_len);
    check_images(ctx, "images.gz");
    memcpy(buf, img, img_len);
    memcpy(buf + img_len, "trailing", 8); /* documented: ignored */
    write_file("images_trailing", buf, img_len + 8);
    check_images(ctx, "images_trailing");
    write_gz("part1.gz", img, 20);
    write_gz("part2.gz", img + 20, img_len - 20);
    size_t n1 = read_whole("part1.gz", buf, sizeof buf);
    size_t n2 = read_whole("part2.gz", buf + n1, sizeof buf - n1);
    write_file("images_two_members.gz", buf, n1 + n2);
    check_images(ctx, "images_two_members.gz");

    write_gz("labels.gz", lab, lab_len);
    kn__idx idx;
    CHECK(kn__idx_read(ctx, path_of("labels.gz"), &idx) == KN_OK);
    CHECK(idx.ndim == 1 && idx.dims[0] == 5 && idx.data && idx.data[4] == 4);
    kn__idx_free(ctx, &idx);

    /* Parsing from memory, with no name: the message says "<memory>". */
    CHECK(kn__idx_parse(ctx, lab, lab_len, NULL, &idx) == KN_OK && idx.dims[0] == 5);
    kn__idx_free(ctx, &idx);
    CHECK(kn__idx_parse(ctx, lab, 3, NULL, &idx) == KN_ERR_FORMAT);
    CHECK(strstr(kn_last_error(ctx), "<memory>") != NULL);

    /* Missing file and a directory: i/o errors naming the path. */
    check_bad(ctx, "no_such_file", KN_ERR_IO, "No such file");
    CHECK(kn__idx_read(ctx, dir, &idx) == KN_ERR_IO && strstr(kn_last_error(ctx), dir));

    /* Truncated data, plain and gzip: 4 of the 24 bytes missing. */
    write_file("truncated", img, img_len - 4);
    check_bad(ctx, "truncated", KN_ERR_FORMAT, "truncated: header says 24 bytes of data, file has 20");
    write_gz("truncated.gz", img, img_len - 4);
    check_bad(ctx, "truncated.gz", KN_ERR_FORMAT, "truncated");

    /* Header faults. */
    write_file("short_header", img, 5);
    check_bad(ctx, "short_header", KN_ERR_FORMAT, "truncated");
    write_file("empty", img, 0);
    check_bad(ctx, "empty", KN_ERR_FORMAT, "truncated");
    memcpy(buf, img, img_len);
    memcpy(buf, (uint8_t[]){0x12, 0x34, 0x56, 0x78}, 4);
    write_file("bad_magic", buf, img_len);
    check_bad(ctx, "bad_magic", KN_ERR_FORMAT, "bad IDX magic 0x12345678 (expected 0x00000803");
    buf[0] = 0, buf[1] = 0, buf[2] = 8, buf[3] = 2; /* u8 but 2 dimensions */
    write_file("two_dims", buf, img_len);
    check_bad(ctx, "two_dims", KN_ERR_FORMAT, "magic 0x00000802");
    buf[2] = 0x0D, buf[3] = 3; /* f32 images */
    write_file("float_images", buf, img_len);
    check_bad(ctx, "float_images", KN_ERR_DTYPE, "f32");
    memcpy(buf, img, img_len);
    buf[11] = 0; /* rows = 0 */
    write_file("zero_dim", buf, img_len);
    check_bad(ctx, "zero_dim", KN_ERR_FORMAT, "is 0");
    memset(buf + 4, 0xff, 12); /* 3 x (2^32 - 1): overflows 64 bits; must not allocate */
    write_file("huge_dims", buf, img_len);
    check_bad(ctx, "huge_dims", KN_ERR_FORMAT, "limit");

    /* Damaged gzip: cut short, flipped bits in the deflate data, a wrong CRC. */
    size_t gz_len = read_whole("images.gz", buf, sizeof buf);
    CHECK(gz_len > 30);
    write_file("gz_cut", buf, gz_len / 2);
    check_bad(ctx, "gz_cut", KN_ERR_FORMAT, "truncated gzip");
    write_file("gz_cut_trailer", buf, gz_len - 3);
    check_bad(ctx, "gz_cut_trailer", KN_ERR_FORMAT, "gzip");
    buf[gz_len - 8] ^= 0x01; /* the CRC32 in the trailer */
    write_file("gz_bad_crc", buf, gz_len);
    check_bad(ctx, "gz_bad_crc", KN_ERR_FORMAT, "corrupt gzip");
    buf[gz_len - 8] ^= 0x01;
    buf[3] = 0xe0; /* reserved FLG bits set: zlib rejects the header */
    write_file("gz_bad_header", buf, gz_len);
    check_bad(ctx, "gz_bad_header", KN_ERR_FORMAT, "corrupt gzip");
    write_file("gz_magic_only", buf, 2);
    check_bad(ctx, "gz_magic_only", KN_ERR_FORMAT, "gzip");

    CHECK(count.live == live_at_start); /* every error path freed what it took */

    /* Allocation failure at each point in turn: an out-of-memory status, no leak, until
     * enough allocations succeed. */
    int reached_ok = 0;
    for (long n = 1; n < 64 && !reached_ok; n++) {
        count.count = 0;
        count.fail_at = n;
        kn_status st = kn__idx_read(ctx, path_of("images.gz"), &idx);
        CHECK(st == KN_OK || st == KN_ERR_OUT_OF_MEMORY);
        CHECK(st == KN_OK || idx.data == NULL);
        reached_ok = st == KN_OK;
        kn__idx_free(ctx, &idx);
        CHECK(count.live == live_at_start);
    }
    CHECK(reached_ok);
    count.fail_at = 0;

    kn_ctx_free(ctx);
    const char *names[] = {"images", "images.gz", "images_trailing", "part1.gz", "part2.gz",
                           "images_two_members.gz", "labels.gz", "truncated", "truncated.gz",
                           "short_header", "empty", "bad_magic", "two_dims", "float_images",
                           "zero_dim", "huge_dims", "gz_cut", "gz_cut_trailer", "gz_bad_crc",
                           "gz_bad_header", "gz_magic_only"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) remove(path_of(names[i]));
    rmdir(dir);
    if (failures) {
        fprintf(stderr, "test_idx: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_idx: all checks passed\n");
    return 0;
}
