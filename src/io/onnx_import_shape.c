/* onnx_import_shape.c — shape arithmetic as PyTorch exports it, worked out: the values a
 * graph computes from Shape nodes and constants (Gather, Unsqueeze, Concat, Add, Mul, Div,
 * Slice of a shape, Cast) evaluated for two batch sizes (B1, B2: primes no other dimension is
 * a multiple of), which tells each dimension that is the batch, or a multiple of it, from
 * the fixed ones; and constants cut by such bounds (a Slice or Transpose of a weight, as
 * PyTorch cuts a packed projection for cross-attention). A Shape reads the dimensions of a
 * value the walk imported (images, features, sequences in their ONNX order), or of one the
 * caller tracks itself (dims_of: attention's values). Malformed files: every walk is
 * bounded, and int64 overflow or dimensions past 2^40 refuse the shape. */
#include "io/onnx_import.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { DEPTH = 64 };
static const int64_t B1 = 1009, B2 = 1013;

static bool op_is(const kn__onnx_node *nd, const char *op) { return strcmp(nd->op, op) == 0; }

static int norm_axis(int64_t ax, int n) { return ax < 0 ? (int)(ax + n) : (int)ax; }

int kn__imp_node_making(const kn__onnx_model *m, const char *name) {
    if (!name[0]) return -1;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_outputs; k++)
            if (strcmp(m->nodes[i].outputs[k], name) == 0) return i;
    return -1;
}

/* The ONNX dimensions of value v for a batch of `batch`: a sequence in its order (N, L, C, D),
 * an image (N, C, H, W) or (N, H, W, C), a volume (N, C, D, H, W) or (N, D, H, W, C),
 * features (N, f) and a global pool's trailing or leading 1s. */
static bool value_dims(const imp_value *v, int64_t batch, int64_t *dims, int *n) {
    *n = 0;
    if (!v) return false;
    if (v->seq) {
        for (const char *o = v->ord; *o; o++) dims[(*n)++] = *o == 'N' ? batch : *o == 'L' ? v->l : *o == 'C' ? v->c : v->d;
        return true;
    }
    if (v->image) {
        int64_t img[4] = {batch, v->c, v->h, v->w}, hwc[4] = {batch, v->h, v->w, v->c};
        memcpy(dims, v->nhwc ? hwc : img, sizeof img);
        *n = 4;
        return true;
    }
    if (v->vol) { /* (an ambiguous one: its dimensions as read) */
        int64_t cdhw[5] = {batch, v->c, v->dp, v->h, v->w}, dhwc[5] = {batch, v->dp, v->h, v->w, v->c};
        memcpy(dims, v->nhwc ? dhwc : cdhw, sizeof cdhw);
        *n = 5;
        return true;
    }
    if (v->ambiguous) return false;
    dims[(*n)++] = batch;
    if (v->units == -2) dims[(*n)++] = 1, dims[(*n)++] = 1; /* (N, 1, 1, f) */
    dims[(*n)++] = v->f;
    for (int k = 0; k < v->units; k++) dims[(*n)++] = 1;
    return true;
}


/* The int64 values of `name` (a constant, or computed from shapes) for a batch of `batch`:
 * at most 8 of them. */
static bool eval_ints(kn__imp_shapes *a, const char *name, int64_t batch, int64_t *out, int *n, int depth) {
    imp *s = a->s;
    if (--a->budget < 0) return false;
    const kn__onnx_tensor *t = kn__imp_constant(s, name);
    if (t) {
        if (t->numel > 8) return false;
        for (int64_t k = 0; k < t->numel; k++) {
            if (t->i) out[k] = t->i[k];
            else if (t->f && t->f[k] == floorf(t->f[k]) && fabsf(t->f[k]) < 1e15f) out[k] = (int64_t)t->f[k];
            else return false;
        }
        *n = (int)t->numel;
        return true;
    }
    int p = kn__imp_node_making(s->m, name);
    if (p < 0 || depth > DEPTH) return false;
    const kn__onnx_node *nd = &s->m->nodes[p];
    int64_t x[8], y[8];
    int nx = 0, ny = 0;
    if (nd->n_inputs < 1) return false;
    if (op_is(nd, "Shape")) {
        int64_t dims[8];
        int nd_ = 0;
        if (!(a->dims_of && a->dims_of(a->ctx, nd->inputs[0], batch, dims, &nd_)) &&
            !value_dims(kn__imp_find_value(s, nd->inputs[0]), batch, dims, &nd_))
            return false;
        int64_t start = kn__imp_attr_int(nd, "start", 0), end = kn__imp_attr_int(nd, "end", nd_);
        if (start < 0) start += nd_;
        if (end < 0) end += nd_;
        if (end > nd_) end = nd_;
        *n = 0;
        for (int64_t k = start < 0 ? 0 : start; k < end; k++) out[(*n)++] = dims[k];
        return true;
    }
    if (op_is(nd, "Identity") || op_is(nd, "Cast") || op_is(nd, "Unsqueeze") || op_is(nd, "Squeeze"))
        return eval_ints(a, nd->inputs[0], batch, out, n, depth + 1);
    if (op_is(nd, "Gather") || op_is(nd, "Concat") || op_is(nd, "Slice") || op_is(nd, "Add") || op_is(nd, "Sub") ||
        op_is(nd, "Mul") || op_is(nd, "Div")) {
        if (nd->n_inputs < 1 || !eval_ints(a, nd->inputs[0], batch, x, &nx, depth + 1)) return false;
    } else {
        return false;
    }
    if (op_is(nd, "Concat")) {
        *n = 0;
        for (int k = 0; k < nd->n_inputs; k++) {
            if (!eval_ints(a, nd->inputs[k], batch, y, &ny, depth + 1) || *n + ny > 8) return false;
            for (int j = 0; j < ny; j++) out[(*n)++] = y[j];
        }
        return true;
    }
    if (nd->n_inputs < 2 || !eval_ints(a, nd->inputs[1], batch, y, &ny, depth + 1)) return false;
    if (op_is(nd, "Gather")) {
        if (kn__imp_attr_int(nd, "axis", 0) != 0) return false;
        for (int k = 0; k < ny; k++) {
            int64_t j = y[k] < 0 ? y[k] + nx : y[k];
            if (j < 0 || j >= nx) return false;
            out[k] = x[j];
        }
        *n = ny;
        return true;
    }
    if (op_is(nd, "Slice")) { /* of a 1-D shape: starts, ends (axes 0, steps 1) */
        int64_t e[8];
        int ne = 0;
        if (nd->n_inputs < 3 || !eval_ints(a, nd->inputs[2], batch, e, &ne, depth + 1) || ny != 1 || ne != 1) return false;
        if (nd->n_inputs > 4 && nd->inputs[4][0]) return false;
        int64_t b = y[0] < 0 ? y[0] + nx : y[0], f = e[0] < 0 ? e[0] + nx : e[0];
        if (b < 0) b = 0;
        if (f > nx) f = nx;
        *n = 0;
        for (int64_t k = b; k < f; k++) out[(*n)++] = x[k];
        return true;
    }
    if (nx != ny && nx != 1 && ny != 1) return false;
    *n = nx > ny ? nx : ny;
    for (int k = 0; k < *n; k++) {
        int64_t u = x[nx == 1 ? 0 : k], w = y[ny == 1 ? 0 : k];
        bool over = false; /* (a malformed file's constants) */
        if (op_is(nd, "Add")) over = __builtin_add_overflow(u, w, &out[k]);
        else if (op_is(nd, "Sub")) over = __builtin_sub_overflow(u, w, &out[k]);
        else if (op_is(nd, "Mul")) over = __builtin_mul_overflow(u, w, &out[k]);
        else if (w == 0 || (w == -1 && u == INT64_MIN)) return false;
        else out[k] = u / w;
        if (over) return false;
    }
    return true;
}

/* A shape input for both batch sizes, each dimension as (size, whether times the batch). */
kn_status kn__imp_shape_dims(kn__imp_shapes *a, const char *name, int64_t *k, bool *batched, int *n) {
    int64_t x[8], y[8];
    int nx = 0, ny = 0;
    a->budget = 512;
    if (!eval_ints(a, name, B1, x, &nx, 0) || !eval_ints(a, name, B2, y, &ny, 0) || nx != ny)
        return kn__imp_unsupported(a->s, "a shape kiln cannot work out from the input's");
    for (int j = 0; j < nx; j++) {
        if (x[j] < -1 || y[j] < -1 || x[j] > ((int64_t)1 << 40) || y[j] > ((int64_t)1 << 40))
            return kn__imp_unsupported(a->s, "a shape kiln cannot work out from the input's");
        batched[j] = x[j] != y[j];
        k[j] = batched[j] ? x[j] / B1 : x[j];
        if (batched[j] && (x[j] % B1 || y[j] % B2 || x[j] / B1 != y[j] / B2))
            return kn__imp_unsupported(a->s, "a shape kiln cannot work out from the input's");
    }
    *n = nx;
    return KN_OK;
}

/* One constant per batch size (a Slice bound, an axis). */
kn_status kn__imp_shape_fixed(kn__imp_shapes *a, const char *name, int64_t *out, int *n) {
    int64_t k[8];
    bool batched[8];
    kn_status st = kn__imp_shape_dims(a, name, k, batched, n);
    for (int j = 0; !st && j < *n; j++) {
        if (batched[j]) return kn__imp_unsupported(a->s, "a Slice or Split whose bounds depend on the batch");
        out[j] = k[j];
    }
    return st;
}

/* A float constant, or a Slice or Transpose of one (bounds from shapes): PyTorch's packed
 * projection cut in two for cross-attention. NULL when it is none (or out of memory). */
static const kn__onnx_tensor *eval_tensor(kn__imp_shapes *a, const char *name, int depth) {
    const kn__onnx_tensor *t = kn__imp_constant(a->s, name);
    if (t) return t->f ? t : NULL;
    int p = depth > 8 ? -1 : kn__imp_node_making(a->s->m, name);
    if (p < 0) return NULL;
    const kn__onnx_node *nd = &a->s->m->nodes[p];
    if (op_is(nd, "Identity")) return eval_tensor(a, nd->inputs[0], depth + 1);
    bool slice = op_is(nd, "Slice"), transpose = op_is(nd, "Transpose");
    const kn__onnx_tensor *x = (slice || transpose) && nd->n_inputs >= 1 ? eval_tensor(a, nd->inputs[0], depth + 1) : NULL;
    if (!x || x->ndim < 1 || x->ndim > 2 || a->n_made == 16) return NULL;
    int64_t rows = x->ndim == 2 ? x->dims[0] : 1, cols = x->dims[x->ndim - 1];
    int64_t r0 = 0, r1 = rows, c0 = 0, c1 = cols; /* (a 1-D tensor: one row) */
    if (slice) {
        int64_t b[8], e[8], ax[8] = {0, 1};
        int nb = 0, ne = 0, na = 0;
        if (nd->n_inputs < 3 || (nd->n_inputs > 4 && nd->inputs[4][0]) || kn__imp_shape_fixed(a, nd->inputs[1], b, &nb) ||
            kn__imp_shape_fixed(a, nd->inputs[2], e, &ne) || nb != ne ||
            (nd->n_inputs > 3 && nd->inputs[3][0] && (kn__imp_shape_fixed(a, nd->inputs[3], ax, &na) || na != nb)))
            return NULL;
        for (int j = 0; j < nb; j++) {
            int axis = norm_axis(ax[j], x->ndim);
            bool on_rows = x->ndim == 2 && axis == 0;
            int64_t size = on_rows ? rows : cols, lo = b[j] < 0 ? b[j] + size : b[j], hi = e[j] < 0 ? e[j] + size : e[j];
            if (axis < 0 || axis >= x->ndim) return NULL;
            lo = lo < 0 ? 0 : lo > size ? size : lo, hi = hi > size ? size : hi;
            if (hi <= lo) return NULL;
            if (on_rows) r0 = lo, r1 = hi;
            else c0 = lo, c1 = hi;
        }
    } else {
        const kn__onnx_attr *pa = kn__onnx_attr_get(nd, "perm");
        if (x->ndim != 2 || (pa && (pa->kind != KN__ONNX_ATTR_INTS || pa->n != 2 || pa->ints[0] != 1))) return NULL;
    }
    kn__onnx_tensor *o = calloc(1, sizeof *o);
    int64_t nr = r1 - r0, nc = c1 - c0;
    if (o) o->f = malloc((size_t)(nr * nc) * sizeof *o->f);
    if (!o || !o->f) return free(o), NULL;
    a->made[a->n_made++] = o;
    o->data_type = KN__ONNX_FLOAT, o->numel = nr * nc, o->ndim = x->ndim;
    if (x->ndim == 1) o->dims[0] = nc;
    else if (slice) o->dims[0] = nr, o->dims[1] = nc;
    else o->dims[0] = nc, o->dims[1] = nr;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t c = 0; c < nc; c++) o->f[slice ? r * nc + c : c * nr + r] = x->f[(r0 + r) * cols + c0 + c];
    return o;
}

const kn__onnx_tensor *kn__imp_shape_tensor(kn__imp_shapes *a, const char *name) { return eval_tensor(a, name, 0); }

void kn__imp_shapes_free(kn__imp_shapes *a) {
    for (int k = 0; k < a->n_made; k++) free(a->made[k]->f), free(a->made[k]);
    a->n_made = 0;
}

kn_status kn__imp_eval_shape(imp *s, const char *name, int64_t *k, bool *batched, int *n) {
    kn__imp_shapes a = {.s = s};
    return kn__imp_shape_dims(&a, name, k, batched, n);
}
