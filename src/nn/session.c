/* session.c — inference sessions: each has its own forward-only graph and activation
 * arena over the model's weights, shared read-only, so several threads predict at once
 * (one session per thread). A session is valid until its model trains, is compiled again
 * or is freed. */
#include "model.h"
#include "classic/model.h"

#include <string.h>

struct kn_session {
    kn_model *model;
    kn_graph *graph;
    kn_tensor *x, *pred;
    int64_t max_batch;
};

kn_status kn_session_new(kn_model *m, int64_t max_batch, kn_session **out) {
    if (!m || !out || max_batch < 1) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (m->classic) { /* predicting reads the fitted state only: a session is the model itself */
        kn_session *c = kn__calloc(m->ctx, 1, sizeof *c);
        if (!c) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "session: out of memory");
        c->model = m;
        c->max_batch = max_batch;
        *out = c;
        return KN_OK;
    }
    /* the weights: the model's current graph (initialized if it has none) or its file */
    kn_status st = m->mapped_params && !m->graph ? KN_OK : kn__model_ensure_graph(m, 1, false);
    if (!st) st = kn__model_pull(m); /* the session shares the host parameters */
    if (st) return st;
    const float *weights = m->graph ? m->graph->param_buf : m->mapped_params;
    kn_session *s = kn__calloc(m->ctx, 1, sizeof *s);
    if (!s) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "session: out of memory");
    graph_refs saved;
    kn__model_save_refs(m, &saved);
    st = kn__model_build_graph(m, &s->graph, false);
    if (!st) {
        s->x = m->x;
        s->pred = m->pred;
        s->graph->shared_params = weights;
        st = kn_graph_compile(s->graph, max_batch, false);
    }
    kn__model_restore_refs(m, &saved);
    if (st) {
        kn_graph_free(s->graph);
        kn__free(m->ctx, s);
        return st;
    }
    s->model = m;
    s->max_batch = max_batch;
    *out = s;
    return KN_OK;
}

void kn_session_free(kn_session *s) {
    if (!s) return;
    kn_graph_free(s->graph);
    kn__free(s->model->ctx, s);
}

kn_status kn_session_predict(kn_session *s, const float *x, int64_t n, float *out) {
    if (!s || n < 0 || (n && (!x || !out))) return KN_ERR_INVALID_ARGUMENT;
    if (s->model->classic) return kn__classic_predict(s->model, x, n, out);
    int64_t in = s->model->in_features, outs = kn_model_output_size(s->model);
    kn_status cst = kn__model_check_indices(s->model, x, n, 0, "predict");
    if (cst) return cst;
    for (int64_t i = 0; i < n; i += s->max_batch) {
        int64_t b = n - i < s->max_batch ? n - i : s->max_batch;
        kn_status st = kn_graph_set_batch(s->graph, b);
        if (st) return st;
        memcpy(s->x->data, x + i * in, (size_t)(b * in) * sizeof(float));
        if ((st = kn__graph_run_phases(s->graph, KN_PHASE_FORWARD | KN_PHASE_PREDICT))) return st;
        memcpy(out + i * outs, s->pred->data, (size_t)(b * outs) * sizeof(float));
    }
    return KN_OK;
}
