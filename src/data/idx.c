/* idx.c — reads IDX files (MNIST's format): big-endian header 00 00 TYPE NDIM, NDIM u32
 * dimensions, then the data. Only u8 images (idx3) and labels (idx1); gzip is inflated in
 * memory first. Bytes after the data are ignored; sizes are capped at KN__IDX_MAX_DATA. */
#define _POSIX_C_SOURCE 200809L
#define ZLIB_CONST
#include "data/idx.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_EXPECTED "(expected 0x00000803 for images or 0x00000801 for labels)"

static uint32_t read_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* IDX type codes; only 0x08 is read, the rest get a dtype error rather than "bad magic". */
static const char *idx_type_name(uint8_t type) {
    switch (type) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    default: return NULL;
    }
}

/* Parses an uncompressed IDX image in buf; copies the data into a new buffer in *out.
 * `what` names the bytes in truncation messages ("file", or "file after gunzip"). */
static kn_status idx_parse_plain(kn_ctx *ctx, const uint8_t *buf, size_t len, const char *name,
                                 const char *what, kn__idx *out) {
    if (len < 4)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: truncated: IDX header needs at least 4 bytes, "
                         "%s has %zu", name, what, len);
    uint32_t magic = read_be32(buf);
    uint8_t type = buf[2], ndim = buf[3];
    const char *type_name = idx_type_name(type);
    if (buf[0] != 0 || buf[1] != 0 || !type_name || ndim == 0)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: bad IDX magic 0x%08x " IDX_EXPECTED, name, magic);
    if (type != 0x08)
        return kn__error(ctx, KN_ERR_DTYPE, "%s: IDX dtype 0x%02x (%s) is not supported, only "
                         "unsigned bytes (0x08)", name, (unsigned)type, type_name);
    if (ndim != 1 && ndim != 3)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: IDX magic 0x%08x has %u dimensions "
                         IDX_EXPECTED, name, magic, (unsigned)ndim);
    size_t header = 4 + 4 * (size_t)ndim;
    if (len < header)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: truncated: IDX header needs %zu bytes, %s has %zu",
                         name, header, what, len);
    size_t size = 1;
    int64_t dims[3] = {0, 0, 0};
    for (int i = 0; i < ndim; i++) {
        uint32_t d = read_be32(buf + 4 + 4 * (size_t)i);
        if (d == 0)
            return kn__error(ctx, KN_ERR_FORMAT, "%s: IDX dimension %d (of %u) is 0", name, i, (unsigned)ndim);
        dims[i] = d;
        /* Each factor is < 2^32, so size stays far from overflow while under the cap. */
        if (!kn__mul_size(size, d, &size) || size > KN__IDX_MAX_DATA)
            return kn__error(ctx, KN_ERR_FORMAT, "%s: IDX dimensions %u x %u x %u need more than "
                             "the %llu-byte limit", name, read_be32(buf + 4),
                             ndim > 1 ? read_be32(buf + 8) : 1u, ndim > 2 ? read_be32(buf + 12) : 1u,
                             (unsigned long long)KN__IDX_MAX_DATA);
    }
    if (len - header < size)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: truncated: header says %zu bytes of data, %s has %zu",
                         name, size, what, len - header);
    uint8_t *data = kn__alloc(ctx, size); // (dims[0] x ... x dims[ndim-1]) bytes
    if (!data) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", name, size);
    memcpy(data, buf + header, size);
    out->ndim = ndim;
    memcpy(out->dims, dims, sizeof dims);
    out->data = data;
    return KN_OK;
}

/* zlib's own state goes through the context's allocator too. */
static voidpf idx_zalloc(voidpf opaque, uInt items, uInt size) {
    size_t n;
    return kn__mul_size(items, size, &n) ? kn__alloc(opaque, n) : Z_NULL;
}
static void idx_zfree(voidpf opaque, voidpf ptr) { kn__free(opaque, ptr); }

/* Inflates every gzip member in buf (`cat a.gz b.gz` makes several; anything else after the
 * last one is ignored) into a new buffer *out of *out_len bytes, at most the largest IDX file. */
static kn_status idx_gunzip(kn_ctx *ctx, const uint8_t *buf, size_t len, const char *name,
                            uint8_t **out, size_t *out_len) {
    const uint64_t limit64 = KN__IDX_MAX_DATA + 16;
    const size_t limit = limit64 < SIZE_MAX ? (size_t)limit64 : SIZE_MAX;
    if (len > UINT_MAX)
        return kn__error(ctx, KN_ERR_FORMAT, "%s: gzip file of %zu bytes is over the 4 GiB limit", name, len);
    /* Start at the size the gzip trailer claims (mod 2^32), clamped to deflate's best ratio
     * (~1032:1) so a lying trailer cannot force a large allocation; then grow by doubling. */
    uint64_t hint = len < 4 ? 0 : (uint64_t)buf[len - 4] | (uint64_t)buf[len - 3] << 8 |
                                   (uint64_t)buf[len - 2] << 16 | (uint64_t)buf[len - 1] << 24;
    uint64_t bound = (uint64_t)len * 1032 + 1024;
    if (hint > bound) hint = bound;
    size_t cap = hint < 4096 ? 4096 : hint > limit ? limit : (size_t)hint;
    uint8_t *dst = kn__alloc(ctx, cap);
    if (!dst) return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", name, cap);
    z_stream zs = {.next_in = buf, .avail_in = (uInt)len, .zalloc = idx_zalloc,
                   .zfree = idx_zfree, .opaque = ctx};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        kn__free(ctx, dst);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot start zlib", name);
    }
    kn_status st = KN_OK;
    size_t have = 0;
    for (;;) {
        if (have == cap) {
            if (cap >= limit) {
                st = kn__error(ctx, KN_ERR_FORMAT, "%s: gzip content is over the %zu-byte limit", name, limit);
                break;
            }
            size_t new_cap = cap > limit / 2 ? limit : cap * 2;
            uint8_t *grown = kn__alloc(ctx, new_cap);
            if (!grown) {
                st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", name, new_cap);
                break;
            }
            memcpy(grown, dst, have);
            kn__free(ctx, dst);
            dst = grown;
            cap = new_cap;
        }
        zs.next_out = dst + have;
        zs.avail_out = cap - have < UINT_MAX ? (uInt)(cap - have) : UINT_MAX;
        int rc = inflate(&zs, Z_NO_FLUSH);
        have = (size_t)(zs.next_out - dst);
        if (rc == Z_OK) continue; // progress was made; out of room or out of input next time
        if (rc == Z_STREAM_END) {
            if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b &&
                inflateReset(&zs) == Z_OK)
                continue;
            break;
        }
        if (rc == Z_MEM_ERROR)
            st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: out of memory in zlib", name);
        else if (rc == Z_BUF_ERROR) // no progress possible: the input ended mid-stream
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: truncated gzip stream (ends after %zu "
                           "decompressed bytes)", name, have);
        else
            st = kn__error(ctx, KN_ERR_FORMAT, "%s: corrupt gzip stream (%s)", name,
                           zs.msg ? zs.msg : "invalid data");
        break;
    }
    inflateEnd(&zs);
    if (st != KN_OK) {
        kn__free(ctx, dst);
        return st;
    }
    *out = dst;
    *out_len = have;
    return KN_OK;
}

kn_status kn__idx_parse(kn_ctx *ctx, const uint8_t *buf, size_t len, const char *name,
                        kn__idx *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!ctx || !out || (!buf && len))
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "%s: kn__idx_parse: NULL argument", name);
    if (len < 2 || buf[0] != 0x1f || buf[1] != 0x8b)
        return idx_parse_plain(ctx, buf, len, name, "file", out);
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    kn_status st = idx_gunzip(ctx, buf, len, name, &plain, &plain_len);
    if (st != KN_OK) return st;
    st = idx_parse_plain(ctx, plain, plain_len, name, "file after gunzip", out);
    kn__free(ctx, plain);
    return st;
}

kn_status kn__idx_read(kn_ctx *ctx, const char *path, kn__idx *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!ctx || !path || !out)
        return kn__error(ctx, KN_ERR_INVALID_ARGUMENT, "kn__idx_read: NULL argument");
    uint8_t *buf;
    size_t got;
    kn_status st = kn__read_file(ctx, path, KN__IDX_MAX_DATA + 16, &buf, &got);
    if (st != KN_OK) return st;
    st = kn__idx_parse(ctx, buf, got, path, out);
    kn__free(ctx, buf);
    return st;
}

void kn__idx_free(kn_ctx *ctx, kn__idx *idx) {
    if (!idx) return;
    kn__free(ctx, idx->data);
    memset(idx, 0, sizeof *idx);
}
