/* onnx_proto.c — a protobuf wire-format reader for the part of ONNX's ModelProto the
 * importer needs (onnx_proto.h lists the fields). Every length is checked against the bytes
 * left before it is used, every count against what the bytes can hold, so a truncated or
 * hostile file gives a one-line KN_ERR_FORMAT naming the part at fault (tests/fuzz/
 * fuzz_onnx.c). Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32; groups
 * (3, 4) are refused. Repeated scalars are read packed or one by one, as protobuf allows. */
#include "io/onnx_proto.h"
#include "core/half.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p, *end;
} pb;

typedef struct {
    kn_ctx *ctx;
    const char *what;
    kn_status st;
} parser;

static bool fail(parser *s, kn_status st, const char *where, const char *why) {
    if (s->st == KN_OK) s->st = kn__error(s->ctx, st, "%s: %s: %s", s->what, where, why);
    return false;
}

static bool malformed(parser *s, const char *where) {
    return fail(s, KN_ERR_FORMAT, where, "truncated or malformed (not an ONNX model?)");
}

static bool out_of_memory(parser *s, const char *where) { return fail(s, KN_ERR_OUT_OF_MEMORY, where, "out of memory"); }

static bool varint(pb *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

static bool key(pb *r, uint32_t *field, int *wire) {
    uint64_t k;
    if (!varint(r, &k) || (k >> 3) == 0 || (k >> 3) > 0x1fffffff) return false;
    *field = (uint32_t)(k >> 3);
    *wire = (int)(k & 7);
    return true;
}

static bool bytes(pb *r, pb *sub) {
    uint64_t n;
    if (!varint(r, &n) || n > (uint64_t)(r->end - r->p)) return false;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return true;
}

static bool fixed(pb *r, void *out, size_t n) {
    if ((size_t)(r->end - r->p) < n) return false;
    memcpy(out, r->p, n); /* little-endian, as x86 and ARM are */
    r->p += n;
    return true;
}

static bool skip(pb *r, int wire) {
    uint64_t v;
    pb sub;
    unsigned char tmp[8];
    switch (wire) {
    case 0: return varint(r, &v);
    case 1: return fixed(r, tmp, 8);
    case 2: return bytes(r, &sub);
    case 5: return fixed(r, tmp, 4);
    default: return false; /* groups, and wire types that do not exist */
    }
}

/* A length-delimited string into dst[cap] (NUL-terminated). */
static bool string(parser *s, pb *r, int wire, char *dst, size_t cap, const char *where) {
    pb sub;
    if (wire != 2 || !bytes(r, &sub)) return malformed(s, where);
    size_t n = (size_t)(sub.end - sub.p);
    if (n >= cap) return fail(s, KN_ERR_FORMAT, where, "a name longer than kiln reads");
    memcpy(dst, sub.p, n);
    dst[n] = 0;
    if (memchr(dst, 0, n)) return fail(s, KN_ERR_FORMAT, where, "a name with a NUL byte");
    return true;
}

/* Room for one more element in *arr of *n (capacity *cap), zeroed. */
static bool grow(void **arr, int64_t *cap, int64_t n, size_t elem) {
    if (n < *cap) return true;
    int64_t nc = *cap ? *cap * 2 : 8;
    if (nc > (int64_t)(SIZE_MAX / 2 / elem)) return false;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return false;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return true;
}

/* Repeated int64 values (wire 0, or 2 packed) appended to *v (count *n, capacity *cap);
 * int32: read as protobuf's int32 (sign-extended varints). */
static bool ints(parser *s, pb *r, int wire, int64_t **v, int64_t *n, int64_t *cap, bool int32, const char *where) {
    pb sub = *r;
    if (wire == 2) {
        if (!bytes(r, &sub)) return malformed(s, where);
    } else if (wire != 0) {
        return malformed(s, where);
    }
    /* one value (wire 0), or as many as the packed bytes hold (none is allowed) */
    for (bool first = true; wire == 2 ? sub.p < sub.end : first; first = false) {
        uint64_t x;
        if (!varint(&sub, &x)) return malformed(s, where);
        if (!grow((void **)v, cap, *n, sizeof **v)) return out_of_memory(s, where);
        (*v)[(*n)++] = int32 ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x;
    }
    if (wire == 0) *r = sub;
    return true;
}

/* Repeated floats (wire 5, or 2 packed) or doubles (wire 1, or 2 packed) appended as float. */
static bool reals(parser *s, pb *r, int wire, bool dbl, float **v, int64_t *n, int64_t *cap, const char *where) {
    size_t size = dbl ? 8 : 4;
    pb sub = *r;
    if (wire == 2) {
        if (!bytes(r, &sub) || (size_t)(sub.end - sub.p) % size) return malformed(s, where);
    } else if (wire != (dbl ? 1 : 5)) {
        return malformed(s, where);
    }
    for (bool first = true; wire == 2 ? sub.p < sub.end : first; first = false) {
        float f;
        if (dbl) {
            double d;
            if (!fixed(&sub, &d, 8)) return malformed(s, where);
            f = (float)d;
        } else if (!fixed(&sub, &f, 4)) {
            return malformed(s, where);
        }
        if (!grow((void **)v, cap, *n, sizeof **v)) return out_of_memory(s, where);
        (*v)[(*n)++] = f;
    }
    if (wire != 2) *r = sub;
    return true;
}

static bool parse_tensor(parser *s, pb r, kn__onnx_tensor *t, const char *where) {
    int64_t *dims = NULL, nd = 0, capd = 0, ni = 0, capi = 0, nf = 0, capf = 0;
    float *fv = NULL;
    int64_t *iv = NULL;
    pb raw = {0};
    bool has_raw = false, external = false, ok = true;
    while (ok && r.p < r.end) {
        uint32_t field;
        int wire;
        uint64_t v;
        if (!key(&r, &field, &wire)) {
            ok = malformed(s, where);
            break;
        }
        switch (field) {
        case 1: ok = ints(s, &r, wire, &dims, &nd, &capd, false, where); break;
        case 2: ok = wire == 0 && varint(&r, &v) ? (t->data_type = (int)v, true) : malformed(s, where); break;
        case 4: ok = reals(s, &r, wire, false, &fv, &nf, &capf, where); break;
        case 5: ok = ints(s, &r, wire, &iv, &ni, &capi, true, where); break;
        case 7: ok = ints(s, &r, wire, &iv, &ni, &capi, false, where); break;
        case 8: ok = string(s, &r, wire, t->name, sizeof t->name, where); break;
        case 9: ok = wire == 2 && bytes(&r, &raw) ? (has_raw = true) : malformed(s, where); break;
        case 10: ok = reals(s, &r, wire, true, &fv, &nf, &capf, where); break;
        case 13: external = true; ok = skip(&r, wire) || malformed(s, where); break;
        case 14: ok = wire == 0 && varint(&r, &v) ? (external |= v == 1, true) : malformed(s, where); break;
        default: ok = skip(&r, wire) || malformed(s, where); break;
        }
    }
    char at[KN__ONNX_NAME + 128];
    snprintf(at, sizeof at, "%.80s '%s'", where, t->name);
    if (ok && external)
        ok = fail(s, KN_ERR_UNSUPPORTED, at, "its data is in an external file (save the model with its weights inside)");
    if (ok && nd > KN__ONNX_MAX_DIMS) ok = fail(s, KN_ERR_UNSUPPORTED, at, "more than 8 dimensions");
    int64_t numel = 1;
    for (int64_t k = 0; ok && k < nd; k++) {
        if (dims[k] < 0 || dims[k] > ((int64_t)1 << 31) || (dims[k] && numel > ((int64_t)1 << 31) / dims[k]))
            ok = fail(s, KN_ERR_FORMAT, at, "dimensions out of range");
        else numel *= dims[k];
        t->dims[k] = dims[k];
    }
    t->ndim = (int)nd;
    t->numel = numel;
    bool half = t->data_type == KN__ONNX_FLOAT16 || t->data_type == KN__ONNX_BFLOAT16; /* (bits in raw or int32_data) */
    bool real = t->data_type == KN__ONNX_FLOAT || t->data_type == KN__ONNX_DOUBLE || half;
    bool narrow = t->data_type == KN__ONNX_INT8 || t->data_type == KN__ONNX_UINT8 || t->data_type == KN__ONNX_INT16 ||
                  t->data_type == KN__ONNX_UINT16; /* (a quantized model's weights and zero points) */
    bool integer = t->data_type == KN__ONNX_INT64 || t->data_type == KN__ONNX_INT32 || narrow;
    if (ok && !real && !integer) {
        char why[128];
        snprintf(why, sizeof why, "element type %d (kiln reads float, double, float16, bfloat16 and 8- to 64-bit integer tensors)",
                 t->data_type);
        ok = fail(s, KN_ERR_UNSUPPORTED, at, why);
    }
    size_t esize = t->data_type == KN__ONNX_DOUBLE || t->data_type == KN__ONNX_INT64 ? 8
                   : t->data_type == KN__ONNX_INT8 || t->data_type == KN__ONNX_UINT8 ? 1
                   : t->data_type == KN__ONNX_INT16 || t->data_type == KN__ONNX_UINT16 || half ? 2
                                                                                                  : 4;
    int64_t have = has_raw ? (int64_t)((size_t)(raw.end - raw.p) / esize) : real && !half ? nf : ni;
    if (ok && (have != numel || (has_raw && (size_t)(raw.end - raw.p) % esize)))
        ok = fail(s, KN_ERR_FORMAT, at, "its data does not hold the elements its dimensions give");
    if (ok && numel > 0) {
        if (real) t->f = malloc((size_t)numel * sizeof(float));
        else t->i = malloc((size_t)numel * sizeof(int64_t));
        if (!t->f && !t->i) ok = out_of_memory(s, at);
    }
    for (int64_t k = 0; ok && k < numel; k++) {
        const uint8_t *e = has_raw ? raw.p + (size_t)k * esize : NULL;
        if (half) { /* IEEE half or bfloat16 bits, widened exactly */
            uint16_t bits = e ? (uint16_t)(e[0] | e[1] << 8) : (uint16_t)iv[k];
            if (t->data_type == KN__ONNX_FLOAT16) kn__f16_to_f32(&bits, &t->f[k], 1);
            else kn__bf16_to_f32(&bits, &t->f[k], 1);
        } else if (real && e && esize == 8) {
            double d;
            memcpy(&d, e, 8);
            t->f[k] = (float)d;
        } else if (real && e) {
            memcpy(&t->f[k], e, 4);
        } else if (real) {
            t->f[k] = fv[k];
        } else if (e && esize == 8) {
            memcpy(&t->i[k], e, 8);
        } else if (e && esize == 1) {
            t->i[k] = t->data_type == KN__ONNX_INT8 ? (int64_t)(int8_t)e[0] : (int64_t)e[0];
        } else if (e && esize == 2) {
            uint16_t x;
            memcpy(&x, e, 2);
            t->i[k] = t->data_type == KN__ONNX_INT16 ? (int64_t)(int16_t)x : (int64_t)x;
        } else if (e) {
            int32_t x;
            memcpy(&x, e, 4);
            t->i[k] = x;
        } else {
            t->i[k] = iv[k];
        }
    }
    free(dims);
    free(fv);
    free(iv);
    return ok;
}

static void tensor_free(kn__onnx_tensor *t) {
    if (!t) return;
    free(t->f);
    free(t->i);
}

static bool parse_attr(parser *s, pb r, kn__onnx_attr *a, const char *where) {
    int64_t nf = 0, capf = 0, ni = 0, capi = 0;
    bool ok = true;
    while (ok && r.p < r.end) {
        uint32_t field;
        int wire;
        uint64_t v;
        pb sub;
        if (!key(&r, &field, &wire)) return malformed(s, where);
        switch (field) {
        case 1: ok = string(s, &r, wire, a->name, sizeof a->name, where); break;
        case 2:
            ok = wire == 5 && fixed(&r, &a->f, 4) ? (a->kind = KN__ONNX_ATTR_FLOAT, true) : malformed(s, where);
            break;
        case 3: ok = wire == 0 && varint(&r, &v) ? (a->i = (int64_t)v, a->kind = KN__ONNX_ATTR_INT, true) : malformed(s, where); break;
        case 4:
            if (wire != 2 || !bytes(&r, &sub)) return malformed(s, where);
            {
                size_t n = (size_t)(sub.end - sub.p);
                if (n >= sizeof a->s) n = sizeof a->s - 1;
                memcpy(a->s, sub.p, n);
                a->s[n] = 0;
            }
            a->kind = KN__ONNX_ATTR_STRING;
            break;
        case 5:
            if (wire != 2 || !bytes(&r, &sub)) return malformed(s, where);
            if (a->t) return fail(s, KN_ERR_FORMAT, where, "two tensors in one attribute");
            if (!(a->t = calloc(1, sizeof *a->t))) return out_of_memory(s, where);
            ok = parse_tensor(s, sub, a->t, where);
            a->kind = KN__ONNX_ATTR_TENSOR;
            break;
        case 7: ok = reals(s, &r, wire, false, &a->floats, &nf, &capf, where); a->kind = KN__ONNX_ATTR_FLOATS; break;
        case 8: ok = ints(s, &r, wire, &a->ints, &ni, &capi, false, where); a->kind = KN__ONNX_ATTR_INTS; break;
        case 9: /* strings (a recurrent op's activations): joined by ',' in s while they fit */
            if (wire != 2 || !bytes(&r, &sub)) return malformed(s, where);
            if (a->kind == KN__ONNX_ATTR_NONE || a->kind == KN__ONNX_ATTR_STRINGS) {
                size_t used = strlen(a->s), n = (size_t)(sub.end - sub.p);
                if (used + n + 2 > sizeof a->s || memchr(sub.p, ',', n)) {
                    a->kind = KN__ONNX_ATTR_OTHER;
                } else {
                    if (a->n) a->s[used++] = ',';
                    memcpy(a->s + used, sub.p, n);
                    a->s[used + n] = 0;
                    a->kind = KN__ONNX_ATTR_STRINGS;
                    a->n++;
                }
            }
            break;
        case 6: case 10: case 11: case 22: case 23:
            a->kind = KN__ONNX_ATTR_OTHER; /* graphs, strings, tensors, sparse tensors, type protos */
            ok = skip(&r, wire) || malformed(s, where);
            break;
        default: ok = skip(&r, wire) || malformed(s, where); break;
        }
    }
    if (ni > INT32_MAX || nf > INT32_MAX) return fail(s, KN_ERR_FORMAT, where, "too many values");
    if (a->kind != KN__ONNX_ATTR_STRINGS) a->n = (int)(a->kind == KN__ONNX_ATTR_INTS ? ni : nf);
    return ok;
}

static bool parse_node(parser *s, pb r, kn__onnx_node *nd, const char *where) {
    int64_t ni = 0, capi = 0, no = 0, capo = 0, na = 0, capa = 0;
    bool ok = true;
    char at[KN__ONNX_NAME + 128];
    snprintf(at, sizeof at, "%.80s", where);
    while (ok && r.p < r.end) {
        uint32_t field;
        int wire;
        pb sub;
        if (!key(&r, &field, &wire)) return malformed(s, at);
        switch (field) {
        case 1:
            if (!grow((void **)&nd->inputs, &capi, ni, sizeof *nd->inputs)) return out_of_memory(s, at);
            ok = string(s, &r, wire, nd->inputs[ni++], KN__ONNX_NAME, at);
            break;
        case 2:
            if (!grow((void **)&nd->outputs, &capo, no, sizeof *nd->outputs)) return out_of_memory(s, at);
            ok = string(s, &r, wire, nd->outputs[no++], KN__ONNX_NAME, at);
            break;
        case 3:
            ok = string(s, &r, wire, nd->name, sizeof nd->name, at);
            snprintf(at, sizeof at, "%.80s '%s'", where, nd->name);
            break;
        case 4: ok = string(s, &r, wire, nd->op, sizeof nd->op, at); break;
        case 5:
            if (wire != 2 || !bytes(&r, &sub)) return malformed(s, at);
            if (!grow((void **)&nd->attrs, &capa, na, sizeof *nd->attrs)) return out_of_memory(s, at);
            nd->n_attrs = (int)++na;
            ok = parse_attr(s, sub, &nd->attrs[na - 1], at);
            break;
        case 7: ok = string(s, &r, wire, nd->domain, sizeof nd->domain, at); break;
        default: ok = skip(&r, wire) || malformed(s, at); break;
        }
        nd->n_inputs = (int)ni;
        nd->n_outputs = (int)no;
        if (ni > 1000 || no > 1000 || na > 1000) return fail(s, KN_ERR_FORMAT, at, "over 1000 inputs, outputs or attributes");
    }
    return ok;
}

/* TensorShapeProto.Dimension: dim_value, or -1 (dim_param, or nothing). */
static bool parse_dim(parser *s, pb r, int64_t *d, const char *where) {
    *d = -1;
    while (r.p < r.end) {
        uint32_t field;
        int wire;
        uint64_t v;
        if (!key(&r, &field, &wire)) return malformed(s, where);
        if (field == 1 && wire == 0) {
            if (!varint(&r, &v)) return malformed(s, where);
            *d = (int64_t)v < 0 ? -1 : (int64_t)v;
        } else if (!skip(&r, wire)) {
            return malformed(s, where);
        }
    }
    return true;
}

/* ValueInfoProto: its name, and its tensor type's element type and shape. */
static bool parse_value(parser *s, pb r, kn__onnx_value *v, const char *where) {
    v->ndim = -1;
    while (r.p < r.end) {
        uint32_t field;
        int wire;
        pb type, tensor, shape, dim;
        if (!key(&r, &field, &wire)) return malformed(s, where);
        if (field == 1) {
            if (!string(s, &r, wire, v->name, sizeof v->name, where)) return false;
        } else if (field == 2 && wire == 2) {
            if (!bytes(&r, &type)) return malformed(s, where);
            while (type.p < type.end) { /* TypeProto: tensor_type 1 */
                uint32_t f2;
                int w2;
                if (!key(&type, &f2, &w2)) return malformed(s, where);
                if (f2 != 1 || w2 != 2) {
                    if (!skip(&type, w2)) return malformed(s, where);
                    continue;
                }
                if (!bytes(&type, &tensor)) return malformed(s, where);
                while (tensor.p < tensor.end) { /* TypeProto.Tensor: elem_type 1, shape 2 */
                    uint32_t f3;
                    int w3;
                    uint64_t x;
                    if (!key(&tensor, &f3, &w3)) return malformed(s, where);
                    if (f3 == 1 && w3 == 0) {
                        if (!varint(&tensor, &x)) return malformed(s, where);
                        v->elem_type = (int)x;
                    } else if (f3 == 2 && w3 == 2) {
                        if (!bytes(&tensor, &shape)) return malformed(s, where);
                        v->ndim = 0;
                        while (shape.p < shape.end) { /* TensorShapeProto: dim 1 */
                            uint32_t f4;
                            int w4;
                            if (!key(&shape, &f4, &w4)) return malformed(s, where);
                            if (f4 != 1 || w4 != 2) {
                                if (!skip(&shape, w4)) return malformed(s, where);
                                continue;
                            }
                            if (!bytes(&shape, &dim)) return malformed(s, where);
                            if (v->ndim == KN__ONNX_MAX_DIMS) return fail(s, KN_ERR_UNSUPPORTED, where, "more than 8 dimensions");
                            if (!parse_dim(s, dim, &v->dims[v->ndim++], where)) return false;
                        }
                    } else if (!skip(&tensor, w3)) {
                        return malformed(s, where);
                    }
                }
            }
        } else if (!skip(&r, wire)) {
            return malformed(s, where);
        }
    }
    return true;
}

static bool parse_graph(parser *s, pb r, kn__onnx_model *m) {
    int64_t capn = 0, capt = 0, capin = 0, capout = 0, nn = 0, nt = 0, nin = 0, nout = 0;
    while (r.p < r.end) {
        uint32_t field;
        int wire;
        pb sub;
        char where[96];
        if (!key(&r, &field, &wire)) return malformed(s, "graph");
        if (field != 1 && field != 5 && field != 11 && field != 12) {
            if (field == 15) return fail(s, KN_ERR_UNSUPPORTED, "graph", "sparse initializers");
            if (!skip(&r, wire)) return malformed(s, "graph");
            continue;
        }
        if (wire != 2 || !bytes(&r, &sub)) return malformed(s, "graph");
        bool ok;
        if (field == 1) {
            snprintf(where, sizeof where, "node %lld", (long long)nn);
            if (nn >= 100000) return fail(s, KN_ERR_UNSUPPORTED, where, "over 100000 nodes");
            if (!grow((void **)&m->nodes, &capn, nn, sizeof *m->nodes)) return out_of_memory(s, where);
            m->n_nodes = (int)++nn;
            ok = parse_node(s, sub, &m->nodes[nn - 1], where);
        } else if (field == 5) {
            snprintf(where, sizeof where, "initializer %lld", (long long)nt);
            if (nt >= 100000) return fail(s, KN_ERR_UNSUPPORTED, where, "over 100000 initializers");
            if (!grow((void **)&m->inits, &capt, nt, sizeof *m->inits)) return out_of_memory(s, where);
            m->n_inits = (int)++nt;
            ok = parse_tensor(s, sub, &m->inits[nt - 1], where);
        } else {
            bool in = field == 11;
            int64_t *n = in ? &nin : &nout;
            snprintf(where, sizeof where, "graph %s %lld", in ? "input" : "output", (long long)*n);
            if (*n >= 100000) return fail(s, KN_ERR_UNSUPPORTED, where, "over 100000 inputs or outputs");
            kn__onnx_value **arr = in ? &m->inputs : &m->outputs;
            if (!grow((void **)arr, in ? &capin : &capout, *n, sizeof **arr)) return out_of_memory(s, where);
            ++*n;
            if (in) m->n_inputs = (int)nin;
            else m->n_outputs = (int)nout;
            ok = parse_value(s, sub, &(*arr)[*n - 1], where);
        }
        if (!ok) return false;
    }
    return true;
}

static bool parse_opset(parser *s, pb r, kn__onnx_model *m) {
    char domain[64] = "";
    uint64_t version = 0;
    while (r.p < r.end) {
        uint32_t field;
        int wire;
        if (!key(&r, &field, &wire)) return malformed(s, "opset_import");
        if (field == 1) {
            if (!string(s, &r, wire, domain, sizeof domain, "opset_import")) return false;
        } else if (field == 2 && wire == 0) {
            if (!varint(&r, &version)) return malformed(s, "opset_import");
        } else if (!skip(&r, wire)) {
            return malformed(s, "opset_import");
        }
    }
    if (!domain[0] || strcmp(domain, "ai.onnx") == 0) m->opset = (int64_t)version;
    return true;
}

/* A metadata_props entry: "kiln.labels" kept (at most 64 KB), "kiln.inputs" noted, the rest
 * skipped. */
static bool parse_metadata(parser *s, pb r, kn__onnx_model *m) {
    pb key_b = {0}, value_b = {0};
    while (r.p < r.end) {
        uint32_t field;
        int wire;
        pb sub;
        if (!key(&r, &field, &wire)) return malformed(s, "metadata_props");
        if ((field == 1 || field == 2) && wire == 2) {
            if (!bytes(&r, &sub)) return malformed(s, "metadata_props");
            if (field == 1) key_b = sub;
            else value_b = sub;
        } else if (!skip(&r, wire)) {
            return malformed(s, "metadata_props");
        }
    }
    size_t kl = (size_t)(key_b.end - key_b.p), vl = (size_t)(value_b.end - value_b.p);
    if (kl == 11 && memcmp(key_b.p, "kiln.inputs", 11) == 0) m->raw_inputs = true;
    if (kl != 11 || memcmp(key_b.p, "kiln.labels", 11) != 0 || vl > 65536 || m->labels) return true;
    if (!(m->labels = malloc(vl + 1))) return out_of_memory(s, "metadata_props");
    if (vl) memcpy(m->labels, value_b.p, vl);
    m->labels[vl] = 0;
    return true;
}

kn_status kn__onnx_parse(kn_ctx *ctx, const char *what, const uint8_t *buf, size_t n, kn__onnx_model *m) {
    memset(m, 0, sizeof *m);
    parser s = {ctx, what, KN_OK};
    pb r = {buf, buf + n};
    bool graph = false;
    while (r.p < r.end && s.st == KN_OK) {
        uint32_t field;
        int wire;
        uint64_t v = 0;
        pb sub;
        if (!key(&r, &field, &wire)) {
            malformed(&s, "model");
            break;
        }
        if (field == 1 && wire == 0) {
            if (!varint(&r, &v)) malformed(&s, "ir_version");
            m->ir_version = (int64_t)v;
        } else if (field == 2) {
            string(&s, &r, wire, m->producer, sizeof m->producer, "producer_name");
        } else if (field == 7 && wire == 2) {
            if (graph) fail(&s, KN_ERR_FORMAT, "model", "two graphs");
            else if (!bytes(&r, &sub)) malformed(&s, "graph");
            else parse_graph(&s, sub, m);
            graph = true;
        } else if (field == 8 && wire == 2) {
            if (!bytes(&r, &sub)) malformed(&s, "opset_import");
            else parse_opset(&s, sub, m);
        } else if (field == 14 && wire == 2) {
            if (!bytes(&r, &sub)) malformed(&s, "metadata_props");
            else parse_metadata(&s, sub, m);
        } else if (!skip(&r, wire)) {
            malformed(&s, "model");
        }
    }
    if (s.st == KN_OK && !graph) fail(&s, KN_ERR_FORMAT, "model", "no graph (not an ONNX model?)");
    if (s.st == KN_OK && m->ir_version <= 0) fail(&s, KN_ERR_FORMAT, "model", "no ir_version (not an ONNX model?)");
    return s.st;
}

void kn__onnx_node_free(kn__onnx_node *nd) {
    for (int a = 0; a < nd->n_attrs; a++) {
        tensor_free(nd->attrs[a].t);
        free(nd->attrs[a].t);
        free(nd->attrs[a].floats);
        free(nd->attrs[a].ints);
    }
    free(nd->attrs);
    free(nd->inputs);
    free(nd->outputs);
}

void kn__onnx_free(kn__onnx_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_nodes; i++) kn__onnx_node_free(&m->nodes[i]);
    free(m->nodes);
    for (int i = 0; i < m->n_inits; i++) tensor_free(&m->inits[i]);
    free(m->inits);
    free(m->inputs);
    free(m->outputs);
    free(m->labels);
    memset(m, 0, sizeof *m);
}

const kn__onnx_attr *kn__onnx_attr_get(const kn__onnx_node *node, const char *name) {
    for (int i = 0; i < node->n_attrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0) return &node->attrs[i];
    return NULL;
}
