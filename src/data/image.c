/* image.c — decodes one PNG (libpng, read from memory) or PGM (P5/P2) picture to 8-bit grey.
 * libpng's errors come back through a longjmp into png_run, whose caller frees what was
 * taken; libpng's own memory goes through the context's allocator. Sizes are capped
 * (KN__IMAGE_MAX_SIDE, KN__IMAGE_MAX_PIXELS) before the pixels are allocated. */
#define _POSIX_C_SOURCE 200809L
#include "data/image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>
#include <sys/stat.h>

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Width and height (as the file gives them) within the limits, or an error. */
static kn_status check_size(kn_ctx *ctx, const char *name, uint64_t cols, uint64_t rows) {
    if (cols == 0 || rows == 0)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: image is %llu x %llu (width x height): a "
                         "dimension is 0", name, (unsigned long long)cols, (unsigned long long)rows);
    if (cols > KN__IMAGE_MAX_SIDE || rows > KN__IMAGE_MAX_SIDE ||
        cols * rows > (uint64_t)KN__IMAGE_MAX_PIXELS) // both <= 2^14 here: no overflow
        return kn__error(ctx, KN_ERR_FORMAT, "%s: image of %llu x %llu (width x height) is over "
                         "the limit of %d pixels a side and %lld in all", name,
                         (unsigned long long)cols, (unsigned long long)rows, KN__IMAGE_MAX_SIDE,
                         (long long)KN__IMAGE_MAX_PIXELS);
    return KN_OK;
}

/* ITU-R BT.601 luma of gamma-encoded 8-bit R'G'B', rounded: 0.299 R + 0.587 G + 0.114 B. */
static uint8_t luma(uint32_t r, uint32_t g, uint32_t b) {
    return (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
}

/* Pixels x0, x0 + dx, ... < cols of a row of 8-bit samples, `channels` a pixel (1 G, 2 GA,
 * 3 RGB, 4 RGBA), to grey; alpha composites on black. */
static void row_to_grey(const uint8_t *row, int channels, uint32_t cols, uint32_t x0,
                        uint32_t dx, uint8_t *out) {
    for (uint32_t x = x0; x < cols; x += dx) {
        const uint8_t *in = row + (size_t)x * channels;
        uint32_t y = channels >= 3 ? luma(in[0], in[1], in[2]) : in[0];
        if (channels == 2 || channels == 4) y = (y * in[channels - 1] + 127) / 255;
        out[x] = (uint8_t)y;
    }
}

/* ---------------------------------------------------------------- PNG */

/* Everything a decode takes, kept outside png_run's frame so that a longjmp leaves it
 * intact for the cleanup in png_decode. */
typedef struct png_job {
    kn_ctx *ctx;
    const char *name;
    const uint8_t *buf; // the file: a cursor over [pos, len)
    size_t len, pos;
    png_structp png;
    png_infop info;
    uint8_t *raw;  // one row as libpng gives it: (cols x channels) bytes
    uint8_t *data; // (rows, cols) grey result
    int64_t rows, cols;
    kn_status status;   // set when kiln's own check stopped the decode (message recorded)
    bool out_of_memory; // an allocation for libpng failed
    char message[160];  // libpng's error message
} png_job;

static png_voidp png_job_alloc(png_structp png, png_alloc_size_t size) {
    png_job *job = png_get_mem_ptr(png);
    void *p = kn__alloc(job->ctx, size);
    if (!p) job->out_of_memory = true;
    return p;
}

static void png_job_free(png_structp png, png_voidp ptr) {
    png_job *job = png_get_mem_ptr(png);
    kn__free(job->ctx, ptr);
}

/* libpng must not print or return from an error: keep the message, jump back to png_run. */
static void png_job_error(png_structp png, png_const_charp msg) {
    png_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_job_warning(png_structp png, png_const_charp msg) {
    png_job *job = png_get_error_ptr(png);
    kn__log(job->ctx, KN_LOG_DEBUG, "%s: PNG warning: %s", job->name, msg ? msg : "");
}

static void png_job_read(png_structp png, png_bytep out, size_t n) {
    png_job *job = png_get_io_ptr(png);
    if (n > job->len - job->pos) png_error(png, "truncated: the file ends early");
    memcpy(out, job->buf + job->pos, n);
    job->pos += n;
}

/* Runs libpng; returns 0 after an error (libpng's in job->message, or kiln's in
 * job->status). Only job is touched across the setjmp, and job lives in the caller. */
static int png_run(png_job *job) {
    png_structp png = job->png;
    png_infop info = job->info;
    if (setjmp(png_jmpbuf(png))) return 0;
    png_set_read_fn(png, job, png_job_read);
    /* Only IHDR, PLTE, tRNS, IDAT and IEND matter: skip text, ICC profiles and the rest. */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION // let a fuzzer's mutations past the checksums
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
    png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
    png_read_info(png, info);
    uint32_t cols = png_get_image_width(png, info), rows = png_get_image_height(png, info);
    if ((job->status = check_size(job->ctx, job->name, cols, rows)) != KN_OK) return 0;
    png_set_expand(png);   // palette -> RGB, grey below 8 bits -> 8 bits, tRNS -> alpha
    png_set_scale_16(png); // 16-bit samples -> 8 bits, rounded
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (png_get_bit_depth(png, info) != 8 || channels < 1 || channels > 4 ||
        rowbytes != (size_t)cols * (size_t)channels)
        png_error(png, "unexpected sample layout after conversion to 8 bits");
    job->rows = rows, job->cols = cols;
    job->data = kn__alloc(job->ctx, (size_t)rows * cols); // (rows, cols) grey
    job->raw = kn__alloc(job->ctx, rowbytes);             // (cols x channels)
    if (!job->data || !job->raw) {
        job->status = kn__error(job->ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %u x %u "
                                "pixels", job->name, (unsigned)cols, (unsigned)rows);
        return 0;
    }
    /* An interlaced image comes in seven passes over the rows; in each, libpng writes into
     * the row only the pixels of that pass, which go to grey at once: no full-size buffer. */
    for (int pass = 0; pass < passes; pass++)
        for (uint32_t y = 0; y < rows; y++) {
            png_read_row(png, job->raw, NULL);
            uint8_t *out = job->data + (size_t)y * cols;
            if (passes == 1) row_to_grey(job->raw, channels, cols, 0, 1, out);
            else if (PNG_ROW_IN_INTERLACE_PASS(y, pass))
                row_to_grey(job->raw, channels, cols, PNG_PASS_START_COL(pass),
                            PNG_PASS_COL_OFFSET(pass), out);
        }
    png_read_end(png, NULL); // the rest of the file: the last CRCs, IEND
    return 1;
}

static kn_status png_decode(kn_ctx *ctx, const uint8_t *buf, size_t len, const char *name,
                            kn__image *out) {
    png_job job = {.ctx = ctx, .name = name, .buf = buf, .len = len, .status = KN_OK};
    job.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &job, png_job_error,
                                       png_job_warning, &job, png_job_alloc, png_job_free);
    if (!job.png) // out of memory, or png.h and the linked libpng differ in version
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot start libpng (out of memory, or "
                         "a libpng version mismatch)", name);
    job.info = png_create_info_struct(job.png);
    kn_status st = KN_OK;
    if (!job.info)
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot start libpng (out of memory)", name);
    else if (!png_run(&job)) {
        if (job.status != KN_OK) st = job.status; // message already recorded
        else if (job.out_of_memory)
            st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory in libpng (%s)", name,
                           job.message);
        else
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: bad PNG: %s", name, job.message);
    }
    png_destroy_read_struct(&job.png, job.info ? &job.info : NULL, NULL);
    kn__free(ctx, job.raw);
    if (st != KN_OK) {
        kn__free(ctx, job.data);
        return st;
    }
    *out = (kn__image){.rows = job.rows, .cols = job.cols, .data = job.data};
    return KN_OK;
}

/* ---------------------------------------------------------------- PGM */

typedef struct pgm_cursor {
    const uint8_t *buf;
    size_t len, pos;
} pgm_cursor;

static bool is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Skips whitespace and '#' comments (each to the end of its line). */
static void pgm_skip(pgm_cursor *c) {
    while (c->pos < c->len) {
        if (is_space(c->buf[c->pos])) c->pos++;
        else if (c->buf[c->pos] == '#')
            while (c->pos < c->len && c->buf[c->pos] != '\n' && c->buf[c->pos] != '\r') c->pos++;
        else break;
    }
}

enum { PGM_NUMBER_OK, PGM_NUMBER_MISSING, PGM_NUMBER_BAD, PGM_NUMBER_BIG };
#define PGM_NUMBER_MAX 999999999u // 9 digits: fits in uint32 without overflow checks

/* An unsigned decimal after whitespace and comments; PGM_NUMBER_* says why there is none. */
static int pgm_number(pgm_cursor *c, uint32_t *out) {
    pgm_skip(c);
    if (c->pos >= c->len) return PGM_NUMBER_MISSING;
    if (c->buf[c->pos] < '0' || c->buf[c->pos] > '9') return PGM_NUMBER_BAD;
    uint32_t v = 0;
    for (; c->pos < c->len && c->buf[c->pos] >= '0' && c->buf[c->pos] <= '9'; c->pos++) {
        v = v * 10 + (uint32_t)(c->buf[c->pos] - '0');
        if (v > PGM_NUMBER_MAX) return PGM_NUMBER_BIG;
    }
    if (c->pos < c->len && !is_space(c->buf[c->pos]) && c->buf[c->pos] != '#')
        return PGM_NUMBER_BAD; // "12x": not a number
    *out = v;
    return PGM_NUMBER_OK;
}

/* The message for a failed pgm_number reading `what` ("width", "sample at row 3, col 4"). */
static kn_status pgm_number_error(kn_ctx *ctx, const char *name, int why, const char *what,
                                  const pgm_cursor *c) {
    if (why == PGM_NUMBER_MISSING)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: truncated PGM: the file ends before the %s",
                         name, what);
    if (why == PGM_NUMBER_BIG)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: bad PGM: %s is over %u", name, what, PGM_NUMBER_MAX);
    return kn__error(ctx, KN_ERR_FORMAT, "%s: bad PGM: %s: expected a decimal number at byte %zu, "
                     "found 0x%02x", name, what, c->pos, (unsigned)c->buf[c->pos]);
}

static kn_status pgm_decode(kn_ctx *ctx, const uint8_t *buf, size_t len, const char *name,
                            kn__image *out) {
    bool ascii = buf[1] == '2';
    pgm_cursor c = {.buf = buf, .len = len, .pos = 2};
    static const char *const fields[3] = {"width", "height", "maxval"};
    uint32_t head[3]; // width, height, maxval
    for (int i = 0; i < 3; i++) {
        int why = pgm_number(&c, &head[i]);
        if (why != PGM_NUMBER_OK) return pgm_number_error(ctx, name, why, fields[i], &c);
    }
    uint32_t cols = head[0], rows = head[1], maxval = head[2];
    kn_status st = check_size(ctx, name, cols, rows);
    if (st != KN_OK) return st;
    if (maxval < 1 || maxval > 65535)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: bad PGM: maxval %u is not in 1..65535", name, maxval);
    size_t pixels = (size_t)rows * cols, bytes = maxval < 256 ? 1 : 2;
    if (ascii && (len - c.pos) / 2 < pixels) // each sample takes a separator and a digit
        return kn__error(ctx, KN_ERR_FORMAT, "%s: truncated PGM: %u x %u samples need at least "
                         "%zu bytes, the file has %zu after the header", name, cols, rows,
                         2 * pixels, len - c.pos);
    if (!ascii) { // exactly one whitespace byte, then the raster
        if (c.pos >= len)
            return kn__error(ctx, KN_ERR_FORMAT, "%s: truncated PGM: no pixels after the header", name);
        if (!is_space(buf[c.pos]))
            return kn__error(ctx, KN_ERR_FORMAT, "%s: bad PGM: byte 0x%02x after maxval, expected "
                             "whitespace", name, (unsigned)buf[c.pos]);
        c.pos++;
        if (len - c.pos < pixels * bytes) // pixels <= 2^26: no overflow
            return kn__error(ctx, KN_ERR_FORMAT, "%s: truncated PGM: %u x %u pixels need %zu bytes, "
                             "the file has %zu", name, cols, rows, pixels * bytes, len - c.pos);
    }
    uint8_t *data = kn__alloc(ctx, pixels); // (rows, cols) grey
    if (!data)
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %u x %u pixels", name, cols, rows);
    for (size_t i = 0; i < pixels; i++) {
        uint32_t v;
        if (ascii) {
            int why = pgm_number(&c, &v);
            if (why != PGM_NUMBER_OK) {
                char what[64];
                snprintf(what, sizeof what, "sample at row %zu, col %zu", i / cols, i % cols);
                st = pgm_number_error(ctx, name, why, what, &c);
                break;
            }
        } else {
            const uint8_t *p = buf + c.pos + i * bytes;
            v = bytes == 1 ? p[0] : (uint32_t)p[0] << 8 | p[1];
        }
        if (v > maxval) {
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: bad PGM: sample %u at row %zu, col %zu is above "
                           "maxval %u", name, v, i / cols, i % cols, maxval);
            break;
        }
        data[i] = (uint8_t)((v * 255 + maxval / 2) / maxval); // rounded to 0..255
    }
    if (st != KN_OK) {
        kn__free(ctx, data);
        return st;
    }
    *out = (kn__image){.rows = rows, .cols = cols, .data = data};
    return KN_OK;
}

/* ---------------------------------------------------------------- entry points */

kn_status kn__image_parse(kn_ctx *ctx, const uint8_t *buf, size_t len, const char *name,
                          kn__image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!ctx || !out || (!buf && len))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: kn__image_parse: NULL argument", name);
    if (len >= sizeof png_magic && memcmp(buf, png_magic, sizeof png_magic) == 0)
        return png_decode(ctx, buf, len, name, out);
    if (len >= 3 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '2') &&
        (is_space(buf[2]) || buf[2] == '#'))
        return pgm_decode(ctx, buf, len, name, out);
    if (len >= 3 && buf[0] == 'P' && buf[1] >= '1' && buf[1] <= '7' && (is_space(buf[2]) || buf[2] == '#'))
        return kn__error(ctx, KN_ERR_FORMAT, "%s: Netpbm P%c images are not supported, only PGM "
                         "(P5 binary, P2 ASCII) and PNG", name, buf[1]);
    unsigned char head[4] = {0};
    memcpy(head, buf, len < 4 ? len : 4);
    return kn__error(ctx, KN_ERR_FORMAT, "%s: not a PNG or PGM image (%zu bytes, starting %02x %02x "
                     "%02x %02x)", name, len, head[0], head[1], head[2], head[3]);
}

kn_status kn__image_read(kn_ctx *ctx, const char *path, kn__image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!ctx || !path || !out)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "kn__image_read: NULL argument");
    uint8_t *buf;
    size_t got;
    kn_status st = kn__read_file(ctx, path, KN__IMAGE_MAX_FILE, &buf, &got);
    if (st != KN_OK) return st;
    st = kn__image_parse(ctx, buf, got, path, out);
    kn__free(ctx, buf);
    return st;
}

void kn__image_free(kn_ctx *ctx, kn__image *img) {
    if (!img) return;
    kn__free(ctx, img->data);
    memset(img, 0, sizeof *img);
}
