/* image.h — reader for single pictures (`kiln predict MODEL image.png`): PNG through libpng
 * and PGM (P5 binary, P2 ASCII), decoded to 8-bit grey. The format is found from the
 * content's magic bytes, not the name. A bad file gives a status and a message. */
#ifndef KN_DATA_IMAGE_H
#define KN_DATA_IMAGE_H

#include "core/core.h"

/* Largest image accepted, checked before the pixels are allocated. */
#define KN__IMAGE_MAX_SIDE 16384
#define KN__IMAGE_MAX_PIXELS ((int64_t)64 << 20) /* 64 Mpixels */
/* Largest file read by kn__image_read (a P2 file spends several bytes per pixel). */
#define KN__IMAGE_MAX_FILE ((uint64_t)1 << 30)

/* A decoded image: rows x cols pixels, 8-bit grey, row-major, owned (kn__alloc). */
typedef struct kn__image {
    int64_t rows, cols; /* each in [1, KN__IMAGE_MAX_SIDE], rows x cols <= KN__IMAGE_MAX_PIXELS */
    uint8_t *data;      /* (rows, cols) bytes; owned, free with kn__image_free */
} kn__image;

/* Reads a PNG or PGM file into *out (free with kn__image_free); on failure *out is zeroed
 * and kn_last_error(ctx) names the file and the fault, on one line.
 * PNG: any bit depth and colour type, interlaced or not. 16-bit samples are scaled to 8 bits
 * (rounded); RGB becomes grey by the ITU-R BT.601 luma weights
 * (0.299 R + 0.587 G + 0.114 B, rounded) on the stored values, without gamma correction;
 * alpha (an alpha channel or a tRNS chunk) is composited on black: grey * alpha / 255,
 * rounded, so a fully transparent pixel is 0.
 * PGM: P5 (binary, 1 byte per sample when maxval < 256, else 2 bytes big-endian) and P2
 * (ASCII), maxval 1..65535, '#' comments in the header; samples are scaled to 0..255
 * (rounded) and a sample above maxval is an error. Only the first image of a file is read.
 * Statuses: KN_ERR_IO (open/read), KN_ERR_FORMAT (unknown, bad, truncated or unsupported
 * content, a zero or oversized dimension), KN_ERR_OUT_OF_MEMORY. */
kn_status kn__image_read(kn_ctx *ctx, const char *path, kn__image *out);

/* The same from a buffer in memory; the buffer stays the caller's. name (may be NULL)
 * stands for the file in messages. */
kn_status kn__image_parse(kn_ctx *ctx, const uint8_t *buf, size_t len, const char *name,
                          kn__image *out);

/* Frees img's data and zeroes it; img may be NULL or already freed. */
void kn__image_free(kn_ctx *ctx, kn__image *img);

#endif
