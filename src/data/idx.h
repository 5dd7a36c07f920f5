/* idx.h — reader for IDX files (the MNIST / Fashion-MNIST format): u8 images (idx3) and
 * u8 labels (idx1), plain or gzip-compressed. Other IDX dtypes and ranks are rejected.
 * Every length read from a file is checked; a bad file gives a status and a message. */
#ifndef KN_DATA_IDX_H
#define KN_DATA_IDX_H

#include "core/core.h"

/* Largest data section accepted (images x rows x cols bytes); MNIST train is 47 MB. */
#define KN__IDX_MAX_DATA ((uint64_t)4 << 30)

/* An IDX file in memory: images (ndim 3: n x rows x cols) or labels (ndim 1: n), u8. */
typedef struct kn__idx {
    int ndim;          /* 1 (labels) or 3 (images) */
    int64_t dims[3];   /* dims[0..ndim), each >= 1; unused ones are 0 */
    uint8_t *data;     /* (dims[0] x ... x dims[ndim-1]) bytes, row-major; owned, kn__alloc'd */
} kn__idx;

/* Reads an IDX file, plain or gzip (detected from the content's magic bytes 1f 8b, not
 * from the name). On success *out owns its data (free with kn__idx_free); on failure *out
 * is zeroed and kn_last_error(ctx) names the file and the fault. Bytes after the data
 * section (or after the last gzip member) are ignored; a gzip stream is decompressed to its
 * end, so a bad CRC is still reported; a file, or gzip content, over KN__IDX_MAX_DATA + 16
 * bytes is rejected. Statuses: KN_ERR_IO (open/read), KN_ERR_FORMAT
 * (magic, rank, zero or oversized dimension, truncation, corrupt gzip), KN_ERR_DTYPE (an
 * IDX dtype other than u8), KN_ERR_OUT_OF_MEMORY. */
kn_status kn__idx_read(kn_ctx *ctx, const char *path, kn__idx *out);

/* The same from a buffer in memory (plain bytes or gzip); the buffer stays the caller's.
 * name (may be NULL) stands for the file in messages. */
kn_status kn__idx_parse(kn_ctx *ctx, const uint8_t *buf, size_t len, const char *name,
                        kn__idx *out);

/* Frees idx's data and zeroes it; idx may be NULL or already freed. */
void kn__idx_free(kn_ctx *ctx, kn__idx *idx);

#endif
