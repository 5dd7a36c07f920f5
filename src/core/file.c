/* file.c — reading a whole file for the parsers (IDX, images, CSV): opened, checked to be
 * a regular file under a size limit, read into one buffer from the context's allocator.
 * Errors name the file. */
#include "core.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

kn_status kn__read_file(kn_ctx *ctx, const char *path, uint64_t max_bytes, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return kn__error(ctx, KN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    kn_status st = KN_OK;
    if (fstat(fileno(f), &sb) != 0)
        st = kn__error(ctx, KN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = kn__error(ctx, KN_ERR_IO, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > max_bytes || (uint64_t)sb.st_size >= SIZE_MAX)
        st = kn__error(ctx, KN_ERR_FORMAT, "%s: file of %lld bytes is over the %llu-byte limit", path,
                       (long long)sb.st_size, (unsigned long long)max_bytes);
    uint8_t *buf = NULL;
    if (!st && !(buf = kn__alloc(ctx, (size_t)sb.st_size)))
        st = kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, (size_t)sb.st_size);
    size_t got = 0;
    if (!st) {
        got = fread(buf, 1, (size_t)sb.st_size, f); /* short only if the file shrank: parsed as truncated */
        if (ferror(f)) st = kn__error(ctx, KN_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    }
    fclose(f);
    if (st) {
        kn__free(ctx, buf);
        return st;
    }
    *out = buf;
    *len = got;
    return KN_OK;
}
