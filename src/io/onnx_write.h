/* onnx_write.h — writing ONNX (protobuf wire format) for kn_model_export_onnx: a growable
 * buffer and its fields, and the exporter's node builder (nodes and initializers named
 * fresh, one attribute kind each), shared by onnx_export.c (networks, CSV preprocessing)
 * and onnx_export_classic.c (classical models). Small helpers, inline: nothing here is
 * part of kiln's API. */
#ifndef KILN_IO_ONNX_WRITE_H
#define KILN_IO_ONNX_WRITE_H

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- protobuf writing */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} pbw;

static inline void put(pbw *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + n) nc *= 2;
        uint8_t *p = realloc(b->p, nc);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static inline void varint(pbw *b, uint64_t v) {
    uint8_t tmp[10];
    int n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    put(b, tmp, (size_t)n);
}

static inline void key(pbw *b, int field, int wire) { varint(b, (uint64_t)field << 3 | (uint64_t)wire); }
static inline void field_int(pbw *b, int field, int64_t v) { key(b, field, 0), varint(b, (uint64_t)v); }
static inline void field_bytes(pbw *b, int field, const void *data, size_t n) {
    key(b, field, 2);
    varint(b, n);
    put(b, data, n);
}
static inline void field_str(pbw *b, int field, const char *s) { field_bytes(b, field, s, strlen(s)); }
static inline void field_msg(pbw *b, int field, pbw *sub) {
    if (sub->oom) b->oom = true;
    field_bytes(b, field, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}
static inline void field_float(pbw *b, int field, float f) {
    key(b, field, 5);
    put(b, &f, 4); /* little-endian, as x86 and ARM are */
}

/* ------------------------------------------------------------- the exporter */

enum { NAME = 48 };

/* A value of the graph as its layers make it: kiln's order (flat, an image (H, W, C) in
 * NHWC, a volume (D, H, W, C) in NDHWC) and, once made, its channels-first transpose (NCHW,
 * a volume's NCDHW: named nchw too). */
typedef struct {
    char nhwc[NAME], nchw[NAME];
    bool image, seq; /* seq: a sequence (N, L, C) in nhwc (kiln's order), never transposed */
    bool vol;        /* a volume: depth, h, w, c */
    int64_t h, w, c, f, l, depth;
} exp_value;

typedef struct {
    kn_ctx *ctx;
    kn_model *m;
    pbw nodes, inits;
    int counter;
    exp_value *v; /* v[0] the input, v[i + 1] layer i's output */
    kn_status st;
    bool ml; /* a node of the ai.onnx.ml domain was written (its opset is imported) */
} exporter;

static inline kn_status fail(exporter *e, kn_status st, const char *fmt, const char *a, const char *b) {
    if (e->st == KN_OK) e->st = kn__error(e->ctx, st, fmt, a, b);
    return e->st;
}

static inline void fresh(exporter *e, char *name, const char *stem) { snprintf(name, NAME, "%s_%d", stem, e->counter++); }

/* A node under construction. */
typedef struct {
    pbw b;
} node;

static inline void node_begin(exporter *e, node *n, const char *op) {
    memset(n, 0, sizeof *n);
    char name[NAME];
    fresh(e, name, op);
    field_str(&n->b, 3, name);
    field_str(&n->b, 4, op);
}
static inline void node_in(node *n, const char *v) { field_str(&n->b, 1, v); }
static inline void node_out(node *n, const char *v) { field_str(&n->b, 2, v); }
static inline void attr_int(node *n, const char *name, int64_t v) {
    pbw a = {0};
    field_str(&a, 1, name);
    field_int(&a, 3, v);
    field_int(&a, 20, 2); /* INT */
    field_msg(&n->b, 5, &a);
}
static inline void attr_float(node *n, const char *name, float v) {
    pbw a = {0};
    field_str(&a, 1, name);
    field_float(&a, 2, v);
    field_int(&a, 20, 1); /* FLOAT */
    field_msg(&n->b, 5, &a);
}
static inline void attr_str(node *n, const char *name, const char *v) {
    pbw a = {0};
    field_str(&a, 1, name);
    field_str(&a, 4, v);
    field_int(&a, 20, 3); /* STRING */
    field_msg(&n->b, 5, &a);
}
static inline void attr_ints(node *n, const char *name, const int64_t *v, int count) {
    pbw a = {0};
    field_str(&a, 1, name);
    for (int k = 0; k < count; k++) field_int(&a, 8, v[k]);
    field_int(&a, 20, 7); /* INTS */
    field_msg(&n->b, 5, &a);
}
static inline void attr_floats(node *n, const char *name, const float *v, int64_t count) {
    pbw a = {0};
    field_str(&a, 1, name);
    for (int64_t k = 0; k < count; k++) field_float(&a, 7, v[k]);
    field_int(&a, 20, 6); /* FLOATS */
    field_msg(&n->b, 5, &a);
}
static inline void node_end(exporter *e, node *n) { field_msg(&e->nodes, 1, &n->b); }

/* An initializer: f32 (data) or int64 (idata). */
static inline void init_tensor(exporter *e, const char *name, const int64_t *dims, int nd, const float *data,
                        const int64_t *idata) {
    pbw t = {0};
    int64_t n = 1;
    for (int k = 0; k < nd; k++) field_int(&t, 1, dims[k]), n *= dims[k];
    field_int(&t, 2, data ? 1 : 7);
    field_str(&t, 8, name);
    field_bytes(&t, 9, data ? (const void *)data : (const void *)idata, (size_t)n * (data ? 4 : 8));
    field_msg(&e->inits, 5, &t);
}

static inline void scalar(exporter *e, char *name, float v) {
    fresh(e, name, "c");
    init_tensor(e, name, NULL, 0, &v, NULL);
}

/* A 1-D int64 initializer of n values, named from stem into name. */
static inline void int_const(exporter *e, char *name, const char *stem, const int64_t *v, int64_t n) {
    fresh(e, name, stem);
    init_tensor(e, name, &n, 1, NULL, v);
}

/* A node's weight input W (dims) and, when b is given, its bias (nb values), as initializers. */
static inline void weights_in(exporter *e, node *n, const float *W, const int64_t *dims, int nd, const float *b, int64_t nb) {
    char wn[NAME], bn[NAME];
    fresh(e, wn, "W");
    init_tensor(e, wn, dims, nd, W, NULL);
    node_in(n, wn);
    if (b) {
        fresh(e, bn, "B");
        init_tensor(e, bn, &nb, 1, b, NULL);
        node_in(n, bn);
    }
}

/* out = in sliced from starts to ends along axes (n of each). */
static inline void slice(exporter *e, const char *in, const int64_t *starts, const int64_t *ends, const int64_t *axes, int64_t n,
                  char *out) {
    char names[3][NAME];
    int_const(e, names[0], "starts", starts, n);
    int_const(e, names[1], "ends", ends, n);
    int_const(e, names[2], "axes", axes, n);
    node nd;
    node_begin(e, &nd, "Slice");
    node_in(&nd, in);
    for (int k = 0; k < 3; k++) node_in(&nd, names[k]);
    fresh(e, out, "t");
    node_out(&nd, out);
    node_end(e, &nd);
}

/* out = op(in) with no attributes. */
static inline void unary(exporter *e, const char *op, const char *in, char *out) {
    node n;
    node_begin(e, &n, op);
    node_in(&n, in);
    fresh(e, out, "t");
    node_out(&n, out);
    node_end(e, &n);
}

static inline void binary(exporter *e, const char *op, const char *a, const char *b, char *out) {
    node n;
    node_begin(e, &n, op);
    node_in(&n, a);
    node_in(&n, b);
    fresh(e, out, "t");
    node_out(&n, out);
    node_end(e, &n);
}

/* out = op(a, b) with one int attribute (Concat's or Gather's axis, Cast's to: b NULL). */
static inline void op_with(exporter *e, const char *op, const char *a, const char *b, const char *attr, int64_t v, char *out) {
    node n;
    node_begin(e, &n, op);
    node_in(&n, a);
    if (b) node_in(&n, b);
    fresh(e, out, "t");
    node_out(&n, out);
    attr_int(&n, attr, v);
    node_end(e, &n);
}

/* out = Concat(a, b) along axis. */
static inline void concat2(exporter *e, const char *a, const char *b, int64_t axis, char *out) {
    op_with(e, "Concat", a, b, "axis", axis, out);
}

/* out = Where(cond, a, b). */
static inline void where(exporter *e, const char *cond, const char *a, const char *b, char *out) {
    node n;
    node_begin(e, &n, "Where");
    node_in(&n, cond);
    node_in(&n, a);
    node_in(&n, b);
    fresh(e, out, "t");
    node_out(&n, out);
    node_end(e, &n);
}

/* out = in (a bool or integer tensor) as float. */
static inline void to_float(exporter *e, const char *in, char *out) { op_with(e, "Cast", in, NULL, "to", 1, out); }

/* out = op(in) over axes (opset 13's ReduceMean, ReduceMax, ReduceProd take them as an
 * attribute, ReduceSum as an input), the reduced axes kept as 1s when keep. */
static inline void reduce(exporter *e, const char *op, const char *in, const int64_t *axes, int n_axes, bool keep, char *out) {
    node n;
    node_begin(e, &n, op);
    node_in(&n, in);
    if (strcmp(op, "ReduceSum") == 0) {
        char an[NAME];
        int_const(e, an, "axes", axes, n_axes);
        node_in(&n, an);
    } else {
        attr_ints(&n, "axes", axes, n_axes);
    }
    fresh(e, out, "t");
    node_out(&n, out);
    attr_int(&n, "keepdims", keep);
    node_end(e, &n);
}

/* out = in reshaped to shape (0 copies the input's dimension). */
static inline void reshape_to(exporter *e, const char *in, const int64_t *shape, int nd, char *out) {
    char sn[NAME];
    int_const(e, sn, "shape", shape, nd);
    binary(e, "Reshape", in, sn, out);
}

/* onnx_export_classic.c: a fitted classical model's nodes from x (its input features) to
 * out (its predictions, kn_model_predict's). */
kn_status kn__onnx_export_classic(exporter *e, kn_model *m, const char *x, char *out);

#endif
