/* test_model_file.c — .kiln files: a save/load round trip predicts bit-identically and keeps
 * labels and metadata; a loaded model trains on; hostile files (every truncation, a bad
 * header length, flipped data, wrong shapes, overlapping or out-of-range offsets, unknown
 * dtypes) give a status and a message, never a crash; a save killed at each named point
 * leaves the old file or the new one, never a broken one. */
#define _GNU_SOURCE
#include <kiln.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

enum { N = 300, F = 5, C = 3 };
static float X[N * F];
static int32_t Y[N];
static char dir[64], path[128];

static unsigned char *read_file(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void write_file(const char *p, const void *b, size_t n) {
    FILE *f = fopen(p, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* Loads p and expects failure with a one-line message containing want (NULL: any). */
static void expect_bad(kn_ctx *ctx, const char *p, const char *want, const char *what) {
    kn_model *m = NULL;
    kn_status st = kn_model_load(ctx, p, NULL, &m);
    CHECK(st != KN_OK && m == NULL, "%s: loaded a bad file", what);
    CHECK(!strchr(kn_last_error(ctx), '\n'), "%s: message has a newline", what);
    if (want) CHECK(strstr(kn_last_error(ctx), want) != NULL, "%s: message '%s' lacks '%s'", what, kn_last_error(ctx), want);
    kn_model_free(m);
}

/* A safetensors file from a header text and data bytes. */
static void write_safetensors(const char *p, const char *header, const void *data, size_t n) {
    size_t h = strlen(header);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((unsigned long long)h >> (8 * i));
    FILE *f = fopen(p, "wb");
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, h, f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static kn_model *trained_model(kn_ctx *ctx, kn_dataset *ds) {
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){F}, 1, &m);
    kn_model_add_dense(m, 7, KN_RELU);
    kn_model_add_dense(m, C, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-2f)});
    kn_model_fit(m, ds, &(kn_fit_opts){.epochs = 2, .batch_size = 16, .verbose = 0}, NULL);
    const char *names[C] = {"alpha", "beta", "gamma"};
    kn_model_set_labels(m, names, C);
    return m;
}

static const char *kill_point;
static void kill_hook(void *user, const char *point) {
    (void)user;
    if (kill_point && strcmp(point, kill_point) == 0) kill(getpid(), SIGKILL);
}

int main(void) {
    for (int i = 0; i < N; i++) {
        Y[i] = i % C;
        for (int j = 0; j < F; j++) X[i * F + j] = (float)((i * 13 + j * 7) % 11) / 11.0f + (j == Y[i] ? 1.0f : 0.0f);
    }
    snprintf(dir, sizeof dir, "/tmp/kiln_model_file_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/model.kiln", dir);
    kn_ctx *ctx;
    /* the hook does nothing until a forked child names a kill point */
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 9, .test_hook = kill_hook}, &ctx);
    kn_dataset *ds;
    kn_dataset_from_arrays(ctx, X, Y, N, F, C, &ds);

    /* round trip */
    kn_model *m = trained_model(ctx, ds);
    CHECK(kn_model_save(m, path) == KN_OK, "save: %s", kn_last_error(ctx));
    float p1[N * C], p2[N * C];
    kn_model_predict(m, X, N, p1);
    kn_model *l = NULL;
    CHECK(kn_model_load(ctx, path, NULL, &l) == KN_OK, "load: %s", kn_last_error(ctx));
    if (!l) return 1;
    kn_model_predict(l, X, N, p2);
    CHECK(memcmp(p1, p2, sizeof p1) == 0, "loaded model predicts differently");
    CHECK(kn_model_param_count(l) == kn_model_param_count(m), "parameter count");
    CHECK(kn_model_label_name(l, 2) && strcmp(kn_model_label_name(l, 2), "gamma") == 0, "label names");
    CHECK(kn_model_training_summary(l) && strstr(kn_model_training_summary(l), "\"epochs\": 2"), "training summary");
    /* a loaded model trains on (its weights leave the read-only mapping) */
    kn_eval_report before, after;
    kn_model_evaluate(l, ds, &before);
    CHECK(kn_model_fit(l, ds, &(kn_fit_opts){.epochs = 2, .batch_size = 16, .verbose = 0}, NULL) == KN_OK,
          "fit after load: %s", kn_last_error(ctx));
    kn_model_evaluate(l, ds, &after);
    CHECK(after.loss < before.loss, "training after load: loss %.4f -> %.4f", before.loss, after.loss);
    kn_model_free(l);

    /* the file is a safetensors file with aligned data */
    size_t n = 0;
    unsigned char *good = read_file(path, &n);
    unsigned long long hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (unsigned long long)good[i] << (8 * i);
    CHECK((8 + hlen) % 64 == 0, "data section at %llu, not 64-byte aligned", 8 + hlen);
    CHECK(memmem(good, n, "\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[5,7]", 45) != NULL, "tensor entry");

    /* every truncation fails cleanly */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.kiln", dir);
    for (size_t cut = 0; cut < n; cut += (cut < 200 ? 1 : 97)) {
        write_file(bad, good, cut);
        expect_bad(ctx, bad, NULL, "truncated");
    }
    /* header length past the end */
    unsigned char *copy = malloc(n);
    memcpy(copy, good, n);
    copy[7] = 0x7f;
    write_file(bad, copy, n);
    expect_bad(ctx, bad, "header length", "huge header length");
    /* a flipped data byte: the checksum catches it; skipping the checksum loads it */
    memcpy(copy, good, n);
    copy[n - 5] ^= 0x40;
    write_file(bad, copy, n);
    expect_bad(ctx, bad, "checksum", "flipped data");
    kn_model *skip = NULL;
    CHECK(kn_model_load(ctx, bad, &(kn_load_opts){.skip_checksum = true}, &skip) == KN_OK, "skip_checksum");
    kn_model_free(skip);
    /* a broken header byte */
    memcpy(copy, good, n);
    copy[8] = '[';
    write_file(bad, copy, n);
    expect_bad(ctx, bad, NULL, "header not an object");
    free(copy);

    /* hand-made hostile headers around a valid architecture */
    const char *arch = "{\\\"input_shape\\\":[2],\\\"layers\\\":[{\\\"type\\\":\\\"dense\\\",\\\"units\\\":2,\\\"use_bias\\\":false}],"
                       "\\\"loss\\\":\\\"mse\\\"}";
    float w[4] = {1, 2, 3, 4};
    char h[1024];
    struct { const char *tensor, *want, *what; } cases[] = {
        {"\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}", NULL, "valid"},
        {"\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", "data_offsets", "past the data"},
        {"\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[0,16]}", "shape", "wrong shape"},
        {"\"dense_0/kernel\":{\"dtype\":\"Q4\",\"shape\":[2,2],\"data_offsets\":[0,16]}", "dtype", "unknown dtype"},
        {"\"dense_0/kernel\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}", "I32", "integer kernel"},
        {"\"dense_0/kernel\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,6]}", "need 8", "truncated half kernel"},
        {"\"dense_0/kernel\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,10]}", "need 8", "oversized half kernel"},
        {"\"dense_0/kernel\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[10,18]}", "data_offsets", "half kernel past the end"},
        {"\"dense_0/kernel\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]}", "shape", "half kernel, wrong shape"},
        {"\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}", "need", "short span"},
        {"\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[4,20]}", "data_offsets", "shifted past end"},
        {"\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
         "\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}", "not a parameter", "extra tensor"},
        {"\"kiln.pad.0\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]},"
         "\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}", "overlap", "overlap"},
        {"\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}", NULL, "overflow"},
        {"\"kiln.pad.0\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]}", "missing", "missing kernel"},
        {"\"dense_0/kernel\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[-1,15]}", "data_offsets", "negative"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(h, sizeof h, "{\"__metadata__\":{\"kiln.format_version\":\"1\",\"kiln.architecture\":\"%s\"},%s}", arch,
                 cases[i].tensor);
        write_safetensors(bad, h, w, sizeof w);
        if (!cases[i].want && strcmp(cases[i].what, "valid") == 0) {
            kn_model *v = NULL;
            CHECK(kn_model_load(ctx, bad, NULL, &v) == KN_OK, "valid hand-made file: %s", kn_last_error(ctx));
            float out[2], in[2] = {1, 0};
            if (v) kn_model_predict(v, in, 1, out);
            CHECK(v && out[0] == 1 && out[1] == 2, "hand-made weights read in place: %g %g", (double)out[0], (double)out[1]);
            kn_model_free(v);
        } else {
            expect_bad(ctx, bad, cases[i].want, cases[i].what);
        }
    }
    /* half kernels: read anywhere in the data (here at an odd multiple of 2), widened to f32 */
    const uint16_t hw[6] = {0, 0x3c00, 0x4000, 0x4200, 0x4400, 0}; /* f16 1, 2, 3, 4 at bytes 2..10 */
    const uint16_t bw[4] = {0x3f80, 0x4000, 0x4040, 0x4080};        /* bf16 1, 2, 3, 4 */
    struct { const char *dtype_meta, *tensor; const void *data; size_t n; const char *want, *what; } halves[] = {
        {"", "\"dense_0/kernel\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[2,10]},"
             "\"kiln.pad.0\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
             "\"kiln.pad.1\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]}", hw, sizeof hw, NULL, "f16 kernel"},
        {",\"kiln.dtype\":\"BF16\"", "\"dense_0/kernel\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}", bw,
         sizeof bw, NULL, "bf16 kernel"},
        {",\"kiln.dtype\":\"F16\"", "\"dense_0/kernel\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}", bw,
         sizeof bw, "kiln.dtype says F16", "kiln.dtype disagrees"},
        {",\"kiln.dtype\":\"F8\"", "\"dense_0/kernel\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}", bw,
         sizeof bw, "kiln.dtype", "unknown kiln.dtype"},
    };
    for (size_t i = 0; i < sizeof halves / sizeof *halves; i++) {
        snprintf(h, sizeof h, "{\"__metadata__\":{\"kiln.format_version\":\"1\",\"kiln.architecture\":\"%s\"%s},%s}", arch,
                 halves[i].dtype_meta, halves[i].tensor);
        write_safetensors(bad, h, halves[i].data, halves[i].n);
        if (halves[i].want) {
            expect_bad(ctx, bad, halves[i].want, halves[i].what);
            continue;
        }
        kn_model *v = NULL;
        CHECK(kn_model_load(ctx, bad, NULL, &v) == KN_OK, "%s: %s", halves[i].what, kn_last_error(ctx));
        float out[2] = {0, 0}, in[2] = {1, 0};
        if (v) kn_model_predict(v, in, 1, out);
        CHECK(v && out[0] == 1 && out[1] == 2, "%s: weights widened: %g %g", halves[i].what, (double)out[0], (double)out[1]);
        CHECK(v && kn_model_param_dtype(v) == (i ? KN_BF16 : KN_F16), "%s: dtype", halves[i].what);
        kn_model_free(v);
    }
    snprintf(h, sizeof h, "{\"__metadata__\":{\"kiln.format_version\":\"2\"}}");
    write_safetensors(bad, h, w, 0);
    expect_bad(ctx, bad, "version", "future version");
    snprintf(h, sizeof h, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
    write_safetensors(bad, h, w, 4);
    expect_bad(ctx, bad, "__metadata__", "plain safetensors");
    expect_bad(ctx, "/nonexistent/model.kiln", "/nonexistent/model.kiln", "missing file");

    /* kill a save at each named point: the target holds the old model or the new one */
    kn_model *m2 = trained_model(ctx, ds);
    kn_model_fit(m2, ds, &(kn_fit_opts){.epochs = 1, .batch_size = 8, .verbose = 0}, NULL); /* different weights */
    float p3[N * C];
    kn_model_predict(m2, X, N, p3);
    const char *points[] = {"save:half-written", "save:before-rename", NULL};
    for (int i = 0; i < 3; i++) {
        write_file(path, good, n); /* the old model */
        pid_t pid = fork();
        if (pid == 0) {
            kill_point = points[i];
            kn_model_save(m2, path);
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        bool killed = WIFSIGNALED(status);
        CHECK(killed == (points[i] != NULL), "point %s: killed %d", points[i] ? points[i] : "(none)", killed);
        kn_model *after_kill = NULL;
        CHECK(kn_model_load(ctx, path, NULL, &after_kill) == KN_OK, "after a kill at %s: %s", points[i] ? points[i] : "-",
              kn_last_error(ctx));
        if (after_kill) {
            float q[N * C];
            kn_model_predict(after_kill, X, N, q);
            bool old = memcmp(q, p1, sizeof q) == 0, new = memcmp(q, p3, sizeof q) == 0;
            CHECK(old != new, "after a kill at %s: neither the old model nor the new one", points[i] ? points[i] : "-");
            CHECK(points[i] ? old : new, "kill at %s: expected the %s model", points[i] ? points[i] : "-", points[i] ? "old" : "new");
        }
        kn_model_free(after_kill);
    }
    free(good);
    kn_model_free(m);
    kn_model_free(m2);
    kn_dataset_free(ds);
    kn_ctx_free(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) failures++;
    printf(failures ? "%d check(s) failed\n" : "model file checks passed\n", failures);
    return failures ? 1 : 0;
}
