/* random_aug.c — the CUDA backend's random image augmentation (ops.c's table points here;
 * graph/ops_random_aug.c says what the ops compute): the node's shape and parameters read as
 * cpu/random_aug.c reads them, kernels_random_aug.cu's launchers. The seed is the layer's when
 * it has one, else the context's, as kn__cpu_random_image_key. f32 only. */
#include "node_launch.h"

#include <string.h>

static kn__cuda_random_image image_of(const kn_graph *g, const kn_tensor *t) {
    kn__cuda_random_image r = {.n = t->ne[0], .h = t->ne[1], .w = t->ne[2], .c = t->ne[3], .kind = t->iparam[1],
                               .flags = (unsigned)t->iparam[2], .node_key = t->iparam[0]};
    r.seed = t->iparam[3] >= 0 ? (uint64_t)t->iparam[3] : g->ctx->seed;
    memcpy(&r.fill, &t->iparam[5], sizeof r.fill);
    memcpy(r.f, t->fparam, sizeof r.f);
    return r;
}

kn_status kn__cuda_k_random_affine(kn_graph *g, kn_tensor *t) {
    kn__cuda_random_image r = image_of(g, t);
    LAUNCH(kn__cu_random_affine(STREAM, CTX->d_step, &r, kn__cuda_tensor(g, t->src[0]), kn__cuda_tensor(g, t),
                                t->op == KN_OP_RANDOM_AFFINE_GRAD));
    return KN_OK;
}

kn_status kn__cuda_k_random_color(kn_graph *g, kn_tensor *t) {
    kn__cuda_random_image r = image_of(g, t);
    const float *dy = t->op == KN_OP_RANDOM_COLOR_GRAD ? kn__cuda_tensor(g, t->src[1]) : NULL;
    LAUNCH(kn__cu_random_color(STREAM, CTX->d_step, &r, kn__cuda_tensor(g, t->src[0]), dy, kn__cuda_tensor(g, t)));
    return KN_OK;
}
