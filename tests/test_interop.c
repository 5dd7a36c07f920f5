/* test_interop.c — a .kiln file read by a plain numpy safetensors reader
 * (tests/safetensors_reader.py) gives kiln's weights exactly. Skips (77) when Debian's
 * python3-numpy is absent. */
#define _GNU_SOURCE
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *script = argc > 1 ? argv[1] : "tests/safetensors_reader.py";
    if (system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        printf("SKIP: /usr/bin/python3 with numpy is not installed\n");
        return 77;
    }
    char dir[] = "/tmp/kiln_interop_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    kn_ctx *ctx;
    kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 4}, &ctx);
    kn_model *m;
    kn_model_new_sequential(ctx, (int64_t[]){13}, 1, &m);
    kn_model_add_dense(m, 9, KN_TANH);
    kn_model_add_dense_ex(m, &(kn_dense_opts){.units = 5, .activation = KN_RELU, .no_bias = true});
    kn_model_add_dense(m, 3, KN_SOFTMAX);
    kn_model_compile(m, &(kn_compile_opts){.loss = KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .optimizer = kn_adam(1e-3f)});
    const char *names[] = {"dense_0/kernel", "dense_0/bias", "dense_1/kernel", "dense_2/kernel", "dense_2/bias"};
    char path[256];
    for (int i = 0; i < 5; i++) {
        int64_t n;
        const float *w = kn_model_param(m, names[i], &n);
        char fname[64];
        snprintf(fname, sizeof fname, "%s", names[i]);
        char *slash = strchr(fname, '/');
        memmove(slash + 2, slash + 1, strlen(slash + 1) + 1);
        slash[0] = slash[1] = '_';
        snprintf(path, sizeof path, "%s/%s.f32", dir, fname);
        FILE *f = fopen(path, "wb");
        fwrite(w, sizeof(float), (size_t)n, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/model.kiln", dir);
    if (kn_model_save(m, path)) {
        printf("FAIL save: %s\n", kn_last_error(ctx));
        return 1;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", script, path, dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) rc = 1;
    kn_model_free(m);
    kn_ctx_free(ctx);
    return rc == 0 ? 0 : 1;
}
