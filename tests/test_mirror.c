#define _POSIX_C_SOURCE 200809L /* setenv */
/* test_mirror.c — the mirror backend (src/backend/mirror.c), which the model layer's
 * host/device sync tests rely on, behaves as a device would: after a training run the host
 * parameter, gradient and state buffers still hold what they held before it, until
 * kn_graph_sync pulls them, and then they equal a CPU graph's bit for bit; a host write
 * reaches the kernels only through kn_graph_upload. */
#include <kiln.h>

#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "backend/backend.h"

enum { N = 4, IN = 3, OUT = 2 };

typedef struct {
    kn_graph *g;
    kn_tensor *x, *w, *loss;
} net;

/* loss = sum((x w)^2), trained by Adam (two state slots) */
static kn_status build(kn_ctx *ctx, net *n) {
    kn_status st = kn_graph_new(ctx, &n->g);
    if (st) return st;
    n->x = kn_input(n->g, KN_F32, (int64_t[]){N, IN}, 2, "x");
    n->w = kn_param(n->g, (int64_t[]){IN, OUT}, 2, KN_INIT_GLOROT_UNIFORM, "w");
    n->loss = kn_sum_squares(n->g, kn_matmul(n->g, n->x, n->w));
    kn_graph_keep(n->g, n->loss);
    kn_optimizer opt = kn_adam(0.1f);
    if ((st = kn_graph_backward(n->g, n->loss)) || (st = kn_graph_add_optimizer(n->g, &opt))) return st;
    if ((st = kn_graph_compile(n->g, N, true))) return st;
    float *x = kn_tensor_data(n->x);
    for (int i = 0; i < N * IN; i++) x[i] = (float)(i % 5) - 2.0f;
    return KN_OK;
}

int main(void) {
    kn_ctx *ctx;
    if (kn_ctx_new(&(kn_ctx_opts){.threads = 1, .seed = 7}, &ctx)) return 1;
    net cpu = {0}, mir = {0};
    unsetenv("KILN_TEST_MIRROR");
    CHECK(build(ctx, &cpu) == KN_OK, "cpu graph: %s", kn_last_error(ctx));
    setenv("KILN_TEST_MIRROR", "1", 1);
    CHECK(build(ctx, &mir) == KN_OK, "mirror graph: %s", kn_last_error(ctx));
    unsetenv("KILN_TEST_MIRROR");
    if (failures) return 1;
    kn_graph *g = mir.g;
    CHECK(cpu.g->backend.iface == &kn__cpu_backend && g->backend.iface == &kn__mirror_backend,
          "KILN_TEST_MIRROR=1 at compile chooses the mirror");
    CHECK(memcmp(cpu.g->param_buf, g->param_buf, g->param_floats * sizeof(float)) == 0, "the same initial weights");

    size_t pf = g->param_floats, sf = g->state_floats;
    float *w0 = malloc(pf * sizeof(float)), *zero = calloc(sf > pf ? sf : pf, sizeof(float));
    memcpy(w0, g->param_buf, pf * sizeof(float));
    for (int step = 0; step < 3; step++) {
        CHECK(kn_graph_run(cpu.g) == KN_OK && kn_graph_run(g) == KN_OK, "run: %s", kn_last_error(ctx));
        /* the kept loss is host-visible on every backend */
        CHECK(*(float *)kn_tensor_data(cpu.loss) == *(float *)kn_tensor_data(mir.loss), "step %d: the same loss", step);
    }
    /* stale until pulled: weights as initialized, gradients and Adam's moments still zero */
    CHECK(memcmp(g->param_buf, w0, pf * sizeof(float)) == 0, "host weights changed before a pull");
    CHECK(memcmp(g->grad_buf, zero, pf * sizeof(float)) == 0, "host gradients changed before a pull");
    CHECK(memcmp(g->state_buf, zero, sf * sizeof(float)) == 0, "host optimizer state changed before a pull");
    CHECK(memcmp(cpu.g->param_buf, w0, pf * sizeof(float)) != 0, "the cpu graph trained (else this test cannot fail)");
    CHECK(kn_tensor_data(mir.w) == (void *)g->param_buf, "tensors keep their host addresses between runs");

    CHECK(kn_graph_sync(g) == KN_OK, "sync");
    CHECK(memcmp(g->param_buf, cpu.g->param_buf, pf * sizeof(float)) == 0, "pulled weights equal the cpu's");
    CHECK(memcmp(g->grad_buf, cpu.g->grad_buf, pf * sizeof(float)) == 0, "pulled gradients equal the cpu's");
    CHECK(memcmp(g->state_buf, cpu.g->state_buf, sf * sizeof(float)) == 0, "pulled state equals the cpu's");

    /* a host write reaches the kernels only when uploaded */
    float *w = kn_tensor_data(mir.w), *wc = kn_tensor_data(cpu.w);
    for (int i = 0; i < IN * OUT; i++) w[i] = wc[i] = 0.0f;
    CHECK(kn_graph_run(g) == KN_OK && kn_graph_run(cpu.g) == KN_OK, "run");
    CHECK(*(float *)kn_tensor_data(mir.loss) != 0.0f, "a host write reached the kernels without an upload");
    CHECK(*(float *)kn_tensor_data(cpu.loss) == 0.0f, "zero weights give zero loss on the cpu");
    CHECK(kn_graph_sync(g) == KN_OK, "sync");
    for (int i = 0; i < IN * OUT; i++) w[i] = 0.0f;
    CHECK(kn_graph_upload(g) == KN_OK, "upload");
    CHECK(kn_graph_run(g) == KN_OK, "run");
    CHECK(*(float *)kn_tensor_data(mir.loss) == 0.0f, "uploaded zero weights give zero loss");

    free(w0);
    free(zero);
    kn_graph_free(cpu.g);
    kn_graph_free(mir.g);
    kn_ctx_free(ctx);
    printf("test_mirror: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
