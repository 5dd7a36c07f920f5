/* output.c — what the subcommands share for their results: JSON values written by hand
 * (stdout is streamed, one object per line), folders made as `mkdir -p` makes them, and
 * files written atomically (a temporary beside the target, fsync'd, renamed). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f); /* UTF-8 passes through: JSON text is UTF-8 */
    }
    fputc('"', f);
}

void cli_json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.10g", v);
    else fputs("null", f); /* JSON has no NaN */
}

void cli_json_key_number(FILE *f, const char *key, double v, bool *first) {
    fprintf(f, "%s\"%s\": ", *first ? "" : ", ", key);
    cli_json_number(f, v);
    *first = false;
}

bool cli_model_loss(const kn_model *m, kn_ctx *ctx, kn_loss *out) {
    char *text = NULL;
    if (kn_model_to_json(m, &text)) return false;
    cJSON *j = cJSON_Parse(text);
    kn_free(ctx, text);
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(j, "loss");
    bool ok = cJSON_IsString(loss) && kn_loss_parse(loss->valuestring, out);
    cJSON_Delete(j);
    return ok;
}

const char *cli_label(const kn_model *m, int cls, char buf[CLI_LABEL_BUF]) {
    const char *name = kn_model_label_name(m, cls);
    if (name && *name) return name;
    snprintf(buf, CLI_LABEL_BUF, "%d", cls);
    return buf;
}

/* cuda: usable, or says which is missing (a build with the CUDA backend, a GPU and its
 * driver). */
bool cli_device_ok(const cli_global *g) {
    if (strcmp(g->device, "cpu") == 0) return true;
    kn_ctx *ctx = NULL;
    if (kn_ctx_new(NULL, &ctx) != KN_OK) {
        fprintf(stderr, "kiln: --device %s: out of memory\n", g->device);
        return false;
    }
    /* models run on cuda (their graphs do, synced by the model layer): only a missing
     * CUDA (the build, the GPU, the driver) stops a command here, in one line */
    bool ok = kn_device_check(ctx, KN_DEVICE_CUDA) == KN_OK;
    if (!ok) fprintf(stderr, "kiln: %s\n", kn_last_error(ctx)); /* "device cuda: ..." */
    kn_ctx_free(ctx);
    return ok;
}

int cli_mkdir_p(const char *dir) {
    size_t len = strlen(dir);
    char *p = malloc(len + 1);
    if (!p) return CLI_RUNTIME;
    memcpy(p, dir, len + 1);
    int err = 0;
    /* each prefix that ends before a '/', then the whole path */
    for (size_t i = 1; i <= len && !err; i++) {
        if (i < len && p[i] != '/') continue;
        char saved = p[i];
        p[i] = 0;
        struct stat sb;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) err = errno;
        else if (stat(p, &sb) != 0) err = errno;
        else if (!S_ISDIR(sb.st_mode)) err = ENOTDIR;
        p[i] = saved;
    }
    free(p);
    if (!err) return CLI_OK;
    fprintf(stderr, "kiln: %s: cannot create the output folder: %s\n", dir, strerror(err));
    return CLI_RUNTIME;
}

int cli_write_atomic(const char *path, cli_writer write, const void *user) {
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) {
        fprintf(stderr, "kiln: %s: out of memory\n", path);
        return CLI_RUNTIME;
    }
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int err = f ? 0 : errno;
    if (f) {
        errno = 0;
        bool ok = write(f, user);
        if (!ok || fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) err = errno ? errno : EIO;
        if (fclose(f) != 0 && !err) err = errno;
        if (!err && rename(tmp, path) != 0) err = errno;
        if (err) unlink(tmp);
    }
    free(tmp);
    if (err) {
        fprintf(stderr, "kiln: %s: cannot write: %s\n", path, strerror(err));
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

char *cli_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", dir, *dir && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return p;
}

bool cli_classification_loss(kn_loss loss) {
    return loss == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || loss == KN_LOSS_CATEGORICAL_CROSSENTROPY ||
           loss == KN_LOSS_BINARY_CROSSENTROPY || loss == KN_LOSS_KL_DIVERGENCE || loss == KN_LOSS_HINGE ||
           loss == KN_LOSS_SQUARED_HINGE || loss == KN_LOSS_BINARY_FOCAL_CROSSENTROPY ||
           loss == KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY || loss == KN_LOSS_CATEGORICAL_HINGE;
}
